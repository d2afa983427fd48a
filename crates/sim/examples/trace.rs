#![allow(missing_docs, clippy::unwrap_used)]
use striatum_sim::*;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (scene, robot) = (&args[1], &args[2]);
    let variant: Variant = args[3].parse().unwrap();
    let seed: u64 = args[4].parse().unwrap();
    let mut env = Env::load(format!("sim_scenes/{scene}.toml"), format!("robots/{robot}")).unwrap();
    let mut expert = ScriptedExpert::new(env.scene(), env.robot(), variant, seed);
    let mut obs = env.reset(seed).unwrap();
    let mut info = None;
    for _ in 0..400 {
        let a = expert.act(&obs, info.as_ref());
        let s = env.step(&a).unwrap();
        let f = |v: [f64; 3]| format!("[{:.3} {:.3} {:.3}]", v[0], v[1], v[2]);
        let objs: Vec<String> = s.obs.privileged.objects.iter().map(|o| format!("{} {}", o.name, f(o.position))).collect();
        let hs: Vec<String> = s.obs.privileged.handles.iter().map(|(n, p)| format!("{n} {}", f(*p))).collect();
        let tq = env.world().unwrap().arm_targets().to_vec(); let tz = env.robot().arm.fk(&tq).unwrap().translation.vector; for (n, lo, hi) in env.world().unwrap().collider_bounds() { if true { println!("      {n} {:?} {:?}", lo.map(|v| (v*1000.0).round()/1000.0), hi.map(|v| (v*1000.0).round()/1000.0)); } } println!("    contacts {:?} L {:?} R {:?} hand {:?}", env.world().unwrap().contacts(), env.world().unwrap().link_pose("panda_finger_left"), env.world().unwrap().link_pose("panda_finger_right"), env.world().unwrap().link_pose("panda_hand")); println!("    tgt [{:.3} {:.3} {:.3}] q {:?}", tz[0], tz[1], tz[2], s.obs.joint_positions.iter().map(|v| (v * 100.0).round() / 100.0).collect::<Vec<_>>());
        println!("{:3} ee {}g {:.2} a {:?} | {} {} {:?} | prog {:.3} st {}", s.obs.step, f(s.obs.ee_position), s.obs.gripper, a.ee_to_vec().unwrap().iter().map(|v| (v * 1000.0).round() / 1000.0).collect::<Vec<_>>(), objs.join(" "), hs.join(" "), s.obs.privileged.fixtures, s.info.progress, s.info.stage_name);
        let end = s.terminated || s.truncated;
        obs = s.obs; info = Some(s.info);
        if end { break; }
    }
}
