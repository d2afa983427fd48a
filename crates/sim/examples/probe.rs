#![allow(missing_docs, clippy::unwrap_used)]
use striatum_sim::*;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let scene = &args[1];
    let robot = &args[2];
    let variant: Variant = args.get(3).map(|s| s.parse().unwrap()).unwrap_or(Variant::Expert);
    let n: u64 = args.get(4).map(|s| s.parse().unwrap()).unwrap_or(10);
    let mut env = Env::load(format!("sim_scenes/{scene}.toml"), format!("robots/{robot}")).unwrap();
    let t = std::time::Instant::now();
    let mut eps = Vec::new();
    for seed in 0..n {
        let e = run_expert(&mut env, variant, seed).unwrap();
        if !e.success && variant == Variant::Expert { println!("fail seed {seed}: {e:?}"); }
        eps.push(e);
    }
    let s = Summary::of(&eps);
    let steps: usize = eps.iter().map(|e| e.steps).sum();
    println!("{scene} {robot} {}: {s:?}  {:.0} steps/s", variant.name(), steps as f64 / t.elapsed().as_secs_f64());
}
