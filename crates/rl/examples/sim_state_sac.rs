//! SAC with the RLPD recipe on a simulator task from privileged state, in one process: how
//! fast the learner alone gets there, before cameras and the reward model join the loop.
//!
//! `cargo run --release -p striatum-rl --example sim_state_sac -- sim_scenes/push_cube.toml robots/so101 20000`

use std::time::Instant;

use anyhow::{Context, Result};
use rand::SeedableRng;
use rand::rngs::StdRng;
use striatum_rl::learner::RewardMode;
use striatum_rl::simtask::{GripperMode, from_action, privileged_features as features, to_action};
use striatum_rl::{ReplayBuffer, Sac, SacConfig, ShapingConfig, StepEnd, Transition};
use striatum_sim::{Env, Observation, ScriptedExpert, Variant};
use tch::Device;

const HORIZON: usize = 100;

struct Episode {
    transitions: Vec<Transition>,
    success: bool,
}

fn run_episode(
    env: &mut Env,
    seed: u64,
    mode: RewardMode,
    shaping: &ShapingConfig,
    mut policy: impl FnMut(&Observation, Option<&striatum_sim::StepInfo>) -> Vec<f32>,
) -> Result<Episode> {
    let max_t = 0.03;
    let mut obs = env.reset(seed)?;
    let mut phi = env.evaluate().map_or(0.0, |p| p.value);
    let mut info = None;
    let mut out = Vec::new();
    for t in 0..HORIZON {
        let a = policy(&obs, info.as_ref());
        let step = env.step(&to_action(&a, max_t, GripperMode::Continuous))?;
        let end = if step.terminated {
            StepEnd::Terminal
        } else if step.truncated || t + 1 == HORIZON {
            StepEnd::Truncated
        } else {
            StepEnd::Continue
        };
        let r = mode.reward(shaping, step.reward, phi, step.info.progress, end);
        out.push(Transition {
            obs: features(&obs),
            action: a,
            reward: r as f32,
            next_obs: features(&step.obs),
            end,
            steps: 1,
        });
        phi = step.info.progress;
        obs = step.obs;
        info = Some(step.info);
        if end != StepEnd::Continue {
            return Ok(Episode {
                transitions: out,
                success: step.terminated,
            });
        }
    }
    Ok(Episode {
        transitions: out,
        success: false,
    })
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let scene = args.get(1).context("scene path")?;
    let robot = args.get(2).context("robot folder")?;
    let budget: usize = args.get(3).map_or(Ok(20_000), |s| s.parse())?;
    let mode = match args.get(4).map(String::as_str) {
        Some("sparse") => RewardMode::Sparse,
        Some("direct") => RewardMode::Direct,
        _ => RewardMode::Shaped,
    };
    tch::set_num_threads(1);
    let mut env = Env::load(scene, robot)?;
    let shaping = ShapingConfig {
        gamma: 0.97,
        lambda: 1.0,
        ..ShapingConfig::default()
    };
    let probe = env.reset(0)?;
    let obs_dim = features(&probe).len();
    // Optional fifth argument: SAC settings as JSON, e.g. '{"hidden":[128,128],"bc_weight":2.5}'.
    let config: SacConfig = match args.get(5) {
        Some(json) => serde_json::from_str(json).context("SAC settings (JSON)")?,
        None => SacConfig::default(),
    };
    let mut sac = Sac::new(obs_dim, 4, config, Device::Cpu)?;
    let mut demo = ReplayBuffer::new(obs_dim, 4, 50_000)?;
    let mut online = ReplayBuffer::new(obs_dim, 4, 200_000)?;
    let start = Instant::now();
    let mut demo_ok = 0;
    let mut demo_steps = Vec::new();
    let demos: u64 = std::env::var("DEMOS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    for seed in 0..demos {
        let mut expert =
            ScriptedExpert::new(env.scene(), env.robot(), Variant::Expert, seed).translation_only();
        let ep = run_episode(&mut env, 1_000_000 + seed, mode, &shaping, |o, i| {
            from_action(&expert.act(o, i), 0.03)
        })?;
        demo_ok += usize::from(ep.success);
        demo_steps.push(ep.transitions.len());
        for t in &ep.transitions {
            demo.push(t)?;
        }
    }
    println!(
        "obs {obs_dim}, {} demo transitions from {demos} expert episodes ({demo_ok} successes), {:.1} s",
        demo.len(),
        start.elapsed().as_secs_f64()
    );
    let mut rng = StdRng::seed_from_u64(0);
    let mut steps = 0usize;
    let mut episode = 0u64;
    let mut recent = std::collections::VecDeque::new();
    let mut last = striatum_rl::UpdateStats::default();
    while steps < budget {
        let ep = {
            let sac_ref = &sac;
            run_episode(&mut env, episode, mode, &shaping, |o, _| {
                sac_ref
                    .act(&features(o), false, &mut rng)
                    .unwrap_or_else(|_| vec![0.0; 4])
            })?
        };
        episode += 1;
        for t in &ep.transitions {
            online.push(t)?;
            steps += 1;
            if online.len() >= 256 {
                last = sac.update(Some(&demo), &online)?;
            }
        }
        recent.push_back(ep.success);
        if recent.len() > 20 {
            recent.pop_front();
        }
        if episode.is_multiple_of(20) {
            let mut wins = 0;
            for s in 0..20u64 {
                let ev = run_episode(&mut env, 5_000_000 + s, mode, &shaping, |o, _| {
                    sac.act(&features(o), true, &mut rng)
                        .unwrap_or_else(|_| vec![0.0; 4])
                })?;
                wins += usize::from(ev.success);
            }
            println!(
                "{:>7} steps {:>5} episodes  train success {:.2}  eval success {:.2}  updates {}  temp {:.3}  q {:.3} critic {:.4} logp {:.2}  {:.0} s",
                steps,
                episode,
                recent.iter().filter(|s| **s).count() as f64 / recent.len() as f64,
                wins as f64 / 20.0,
                sac.updates(),
                sac.temperature(),
                last.q_mean,
                last.critic_loss,
                last.log_prob,
                start.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}
