//! Runs one scripted-expert episode and prints the tool, the gripper and the task's stage and
//! privileged progress at every step.
//!
//! `cargo run -p striatum-sim --example expert_rollout -- sim_scenes/pick_place.toml panda 3`

use striatum_sim::{Env, ScriptedExpert, Variant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let scene = args
        .get(1)
        .map_or("sim_scenes/pick_place.toml", String::as_str);
    let robot = args.get(2).map_or("panda", String::as_str);
    let seed: u64 = args.get(3).map_or(Ok(0), |s| s.parse())?;
    let mut env = Env::load(scene, format!("robots/{robot}"))?;
    let mut expert = ScriptedExpert::new(env.scene(), env.robot(), Variant::Expert, seed);
    let mut obs = env.reset(seed)?;
    println!("instruction: {}", obs.instruction);
    let mut info = None;
    loop {
        let step = env.step(&expert.act(&obs, info.as_ref()))?;
        let [x, y, z] = step.obs.ee_position;
        println!(
            "{:3}  tool ({x:.3}, {y:.3}, {z:.3})  gripper {:.2}  stage {:<8} progress {:.3}",
            step.obs.step, step.obs.gripper, step.info.stage_name, step.info.progress
        );
        let done = step.terminated || step.truncated;
        obs = step.obs;
        info = Some(step.info);
        if done {
            break;
        }
    }
    Ok(())
}
