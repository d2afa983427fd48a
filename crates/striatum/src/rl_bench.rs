//! `striatum rl bench`: learning curves of the reward modes, several seeds each, in one
//! process per run (no bus: the same simulator, cameras, reward model and learner as a
//! session, without transport), so runs are reproducible and can share the machine.
//!
//! Modes: `sparse` (task reward only), `shaped_learned` (shaping with the reward model's
//! progress on the rendered cameras), `shaped_privileged` (shaping with the simulator's
//! progress: the reference) and `direct_learned` (the model's progress paid as reward).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Context;
use rand::SeedableRng;
use rand::rngs::StdRng;
use striatum_reward::Scorer;
use striatum_rl::actor::{ActorEnv, EnvObservation, StallWatch};
use striatum_rl::learner::RewardMode;
use striatum_rl::{NStepReturns, ReplayBuffer, Sac, StepEnd, Transition};

use crate::train::{SimActorEnv, TrainConfig};

/// A benchmarked reward mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchMode {
    /// The task's success reward only.
    Sparse,
    /// Shaping with the learned model's progress.
    ShapedLearned,
    /// Shaping with privileged progress.
    ShapedPrivileged,
    /// The learned progress used directly as reward.
    DirectLearned,
}

impl BenchMode {
    /// Parses `sparse`, `shaped_learned`, `shaped_privileged` or `direct_learned`.
    pub fn parse(s: &str) -> anyhow::Result<Self> {
        Ok(match s {
            "sparse" => BenchMode::Sparse,
            "shaped_learned" => BenchMode::ShapedLearned,
            "shaped_privileged" => BenchMode::ShapedPrivileged,
            "direct_learned" => BenchMode::DirectLearned,
            other => anyhow::bail!(
                "unknown mode `{other}` (sparse, shaped_learned, shaped_privileged, direct_learned)"
            ),
        })
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            BenchMode::Sparse => "sparse",
            BenchMode::ShapedLearned => "shaped_learned",
            BenchMode::ShapedPrivileged => "shaped_privileged",
            BenchMode::DirectLearned => "direct_learned",
        }
    }

    fn reward(self) -> RewardMode {
        match self {
            BenchMode::Sparse => RewardMode::Sparse,
            BenchMode::ShapedLearned | BenchMode::ShapedPrivileged => RewardMode::Shaped,
            BenchMode::DirectLearned => RewardMode::Direct,
        }
    }

    fn learned(self) -> bool {
        matches!(self, BenchMode::ShapedLearned | BenchMode::DirectLearned)
    }

    fn color(self) -> [u8; 3] {
        match self {
            BenchMode::Sparse => [200, 40, 40],
            BenchMode::ShapedLearned => [30, 110, 220],
            BenchMode::ShapedPrivileged => [40, 160, 60],
            BenchMode::DirectLearned => [230, 150, 20],
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchArgs {
    /// Training config (task, actor, learner settings).
    pub config: PathBuf,
    /// Reward model for the learned modes.
    pub model: PathBuf,
    /// Modes to compare.
    pub modes: Vec<BenchMode>,
    /// Seeds per mode.
    pub seeds: u64,
    /// Environment steps per run (demonstrations excluded).
    pub env_steps: u64,
    /// Environment steps between evaluations.
    pub eval_every: u64,
    /// Deterministic episodes per evaluation (fixed unseen layouts, the same for every run).
    pub eval_episodes: u64,
    /// Runs at once.
    pub jobs: usize,
    /// Output folder (`curves.csv`, `curves.png`, `summary.md`).
    pub out: PathBuf,
}

/// One evaluation point.
#[derive(Debug, Clone, Copy)]
struct Point {
    env_steps: u64,
    success: f64,
    seconds: f64,
    /// Training episodes the supervisor took over so far.
    interventions: u64,
}

struct Episode {
    transitions: Vec<Transition>,
    /// Transitions (from the first) driven by the policy; the rest by the supervisor.
    policy_steps: usize,
    success: bool,
}

/// A supervisor that takes over an episode whose simulator progress has not risen by
/// `gain` for `after` steps (`[actor] intervene_after_stall`, `stall_progress`).
#[derive(Debug, Clone, Copy)]
struct Supervisor {
    after: u64,
    gain: f32,
}

fn run_episode(
    env: &mut SimActorEnv,
    episode: u64,
    mode: BenchMode,
    config: &TrainConfig,
    supervisor: Option<Supervisor>,
    mut act: impl FnMut(&mut SimActorEnv, &EnvObservation) -> anyhow::Result<Vec<f32>>,
) -> anyhow::Result<Episode> {
    let mut current = env.reset(episode)?;
    let mut out = Vec::new();
    let mut policy_steps = None;
    let mut stall = supervisor.map(|s| StallWatch::new(s.after, s.gain, env.task_progress()));
    loop {
        if stall.is_some_and(|w| w.stalled()) && policy_steps.is_none() {
            policy_steps = Some(out.len());
        }
        let action = match policy_steps.map(|_| env.expert_action()) {
            Some(Some(a)) => a,
            Some(None) => {
                // No demonstrator here: the policy carries on, unsupervised.
                policy_steps = None;
                stall = None;
                act(env, &current)?
            }
            None => act(env, &current)?,
        };
        let step = env.step(&action)?;
        if let Some(w) = &mut stall {
            w.step(env.task_progress());
        }
        let end = if step.terminated {
            StepEnd::Terminal
        } else if step.truncated {
            StepEnd::Truncated
        } else {
            StepEnd::Continue
        };
        let reward = mode.reward().reward(
            &config.learner.shaping,
            f64::from(step.reward),
            f64::from(current.progress),
            f64::from(step.next.progress),
            end,
        );
        out.push(Transition::new(
            current.obs.clone(),
            action,
            reward as f32,
            step.next.obs.clone(),
            end,
        ));
        if end != StepEnd::Continue {
            return Ok(Episode {
                policy_steps: policy_steps.unwrap_or(out.len()),
                transitions: out,
                success: step.success,
            });
        }
        current = step.next;
    }
}

/// Evaluation layouts: the same for every run, never used in training.
const EVAL_FIRST_EPISODE: u64 = 5_000_000;

fn run_one(
    args: &BenchArgs,
    config: &TrainConfig,
    mode: BenchMode,
    seed: u64,
) -> anyhow::Result<Vec<Point>> {
    let scorer = if mode.learned() {
        Some(
            Scorer::load(&args.model, tch::Device::Cpu)
                .with_context(|| format!("loading {}", args.model.display()))?,
        )
    } else {
        None
    };
    let mut settings = config.env.clone();
    // Each seed trains on its own layouts.
    settings.seed_offset = settings.seed_offset.wrapping_add(seed * 1_000_000_000);
    let mut env = SimActorEnv::local(&settings, &config.learner.shaping, scorer)?;
    let (obs_dim, act_dim) = (env.obs_dim(), env.act_dim());
    let mut sac_config = config.learner.sac.clone();
    sac_config.seed = seed;
    let mut sac = Sac::new(obs_dim, act_dim, sac_config, tch::Device::Cpu)?;
    let mut demo = ReplayBuffer::new(obs_dim, act_dim, config.learner.demo_capacity)?;
    let mut online = ReplayBuffer::new(obs_dim, act_dim, config.learner.online_capacity)?;
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let mut episode = 0u64;
    for _ in 0..config.actor.demo_episodes {
        let ep = run_episode(&mut env, episode, mode, config, None, |e, _| {
            e.expert_action()
                .context("the scene has no scripted expert for demonstrations")
        })?;
        episode += 1;
        let mut fold = nstep(config)?;
        for t in ep.transitions {
            for f in fold.push(t) {
                demo.push(&f)?;
            }
        }
    }
    let supervisor = (config.actor.intervene_after_stall > 0).then_some(Supervisor {
        after: config.actor.intervene_after_stall,
        gain: config.actor.stall_progress,
    });
    let mut interventions = 0u64;
    let mut steps = 0u64;
    let mut next_eval = 0u64;
    let mut points = Vec::new();
    let warmup = config.learner.warmup.max(1);
    while steps <= args.env_steps {
        if steps >= next_eval {
            let mut wins = 0u64;
            for k in 0..args.eval_episodes {
                // Evaluation layouts do not depend on the run's seed.
                let ep = run_episode(
                    &mut env,
                    (EVAL_FIRST_EPISODE + k)
                        .wrapping_add(config.env.seed_offset)
                        .wrapping_sub(settings.seed_offset),
                    mode,
                    config,
                    None,
                    |_, o| Ok(sac.act(&o.obs, true, &mut rng)?),
                )?;
                wins += u64::from(ep.success);
            }
            points.push(Point {
                env_steps: steps,
                success: wins as f64 / args.eval_episodes.max(1) as f64,
                seconds: started.elapsed().as_secs_f64(),
                interventions,
            });
            next_eval += args.eval_every;
            if steps == args.env_steps {
                break;
            }
        }
        let ep = {
            let sac = &sac;
            let rng = &mut rng;
            run_episode(&mut env, episode, mode, config, supervisor, |_, o| {
                Ok(sac.act(&o.obs, false, rng)?)
            })?
        };
        episode += 1;
        if ep.policy_steps < ep.transitions.len() {
            interventions += 1;
        }
        let (mut online_fold, mut demo_fold) = (nstep(config)?, nstep(config)?);
        for (i, t) in ep.transitions.into_iter().enumerate() {
            // Interventions go to both buffers, as in a session's learner (they are the
            // episode's last steps, so the demonstration folder ends with the episode).
            if i >= ep.policy_steps {
                for f in demo_fold.push(t.clone()) {
                    demo.push(&f)?;
                }
            }
            for f in online_fold.push(t) {
                online.push(&f)?;
            }
            steps += 1;
            if online.len() >= warmup {
                sac.update(Some(&demo), &online)?;
            }
            if steps >= args.env_steps {
                break;
            }
        }
    }
    Ok(points)
}

/// An `n`-step folder with the learner's settings.
fn nstep(config: &TrainConfig) -> anyhow::Result<NStepReturns> {
    Ok(NStepReturns::new(
        config.learner.sac.n_step,
        config.learner.sac.gamma,
    )?)
}

fn first_reaching(points: &[Point], level: f64) -> Option<u64> {
    points
        .iter()
        .find(|p| p.success >= level - 1e-9)
        .map(|p| p.env_steps)
}

/// Every run of mode `m`, in seed order.
fn runs_of(results: &[(BenchMode, u64, Vec<Point>)], m: BenchMode) -> Vec<&Vec<Point>> {
    results
        .iter()
        .filter(|(x, _, _)| *x == m)
        .map(|(_, _, p)| p)
        .collect()
}

/// Runs the benchmark; writes `curves.csv`, `curves.png` and `summary.md` into `out` and
/// returns the summary.
pub fn run(args: &BenchArgs) -> anyhow::Result<String> {
    let config = TrainConfig::load(&args.config)?;
    anyhow::ensure!(!args.modes.is_empty(), "no modes to run");
    anyhow::ensure!(
        args.seeds > 0 && args.eval_every > 0 && args.eval_episodes > 0,
        "--seeds, --eval-every and --eval-episodes must be > 0"
    );
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    tch::set_num_threads(1);
    let jobs: Vec<(BenchMode, u64)> = args
        .modes
        .iter()
        .flat_map(|m| (0..args.seeds).map(move |s| (*m, s)))
        .collect();
    let results: Mutex<Vec<(BenchMode, u64, Vec<Point>)>> = Mutex::new(Vec::new());
    let next = Mutex::new(0usize);
    let failure: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..args.jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let i = {
                        let Ok(mut n) = next.lock() else { return };
                        let i = *n;
                        *n += 1;
                        i
                    };
                    let Some(&(mode, seed)) = jobs.get(i) else {
                        return;
                    };
                    match run_one(args, &config, mode, seed) {
                        Ok(points) => {
                            let last = points.last().map_or(0.0, |p| p.success);
                            println!(
                                "rl bench: {} seed {seed}: final success {:.2}, 80% at {}, 90% at {} env steps ({:.0} s since start)",
                                mode.name(),
                                last,
                                first_reaching(&points, 0.8).map_or("-".into(), |s| s.to_string()),
                                first_reaching(&points, 0.9).map_or("-".into(), |s| s.to_string()),
                                started.elapsed().as_secs_f64()
                            );
                            if let Ok(mut r) = results.lock() {
                                r.push((mode, seed, points));
                            }
                        }
                        Err(e) => {
                            if let Ok(mut f) = failure.lock() {
                                *f = Some(e.context(format!("{} seed {seed}", mode.name())));
                            }
                            return;
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|(m, s, _)| (args.modes.iter().position(|x| x == m), *s));
    let mut csv = String::from("mode,seed,env_steps,eval_success,seconds,interventions\n");
    for (m, s, points) in &results {
        for p in points {
            let _ = writeln!(
                csv,
                "{},{s},{},{:.4},{:.1},{}",
                m.name(),
                p.env_steps,
                p.success,
                p.seconds,
                p.interventions
            );
        }
    }
    striatum_launch::write_atomic(&args.out.join("curves.csv"), csv.as_bytes())?;
    plot(&results, args, &args.out.join("curves.png"))?;
    let mut md = format!(
        "# rl bench: {} ({} seeds x {} env steps per mode, evaluation: {} deterministic episodes on fixed unseen layouts every {} env steps, {} demonstrations{}; {:.0} s on {} parallel runs)\n\n| mode | final success (mean) | env steps to 80% (median; runs reaching) | env steps to 90% (median; runs reaching) |\n|---|---|---|---|\n",
        config.env.scene.display(),
        args.seeds,
        args.env_steps,
        args.eval_episodes,
        args.eval_every,
        config.actor.demo_episodes,
        if config.actor.intervene_after_stall > 0 {
            format!(
                ", supervisor taking over training episodes stalled for {} steps",
                config.actor.intervene_after_stall
            )
        } else {
            String::new()
        },
        started.elapsed().as_secs_f64(),
        args.jobs.max(1)
    );
    for m in &args.modes {
        let runs = runs_of(&results, *m);
        let finals: Vec<f64> = runs
            .iter()
            .filter_map(|p| p.last().map(|x| x.success))
            .collect();
        let mean = finals.iter().sum::<f64>() / finals.len().max(1) as f64;
        let reach = |level: f64| {
            let hits: Vec<f64> = runs
                .iter()
                .filter_map(|p| first_reaching(p, level).map(|s| s as f64))
                .collect();
            if hits.is_empty() {
                format!("never (0 of {})", runs.len())
            } else {
                format!(
                    "{:.0} ({} of {})",
                    crate::sim::median(hits.clone()),
                    hits.len(),
                    runs.len()
                )
            }
        };
        let _ = writeln!(
            md,
            "| {} | {mean:.2} | {} | {} |",
            m.name(),
            reach(0.8),
            reach(0.9)
        );
    }
    md.push_str("\nCurves: `curves.csv` (one row per evaluation) and `curves.png` (mean over seeds; red sparse, blue shaped_learned, green shaped_privileged, orange direct_learned; x = env steps, y = success 0..1, grid every 10%).\n");
    striatum_launch::write_atomic(&args.out.join("summary.md"), md.as_bytes())?;
    Ok(md)
}

/// Mean success over seeds per mode as lines on a white canvas with a 10% grid.
fn plot(
    results: &[(BenchMode, u64, Vec<Point>)],
    args: &BenchArgs,
    path: &Path,
) -> anyhow::Result<()> {
    let (w, h, margin) = (800u32, 500u32, 40u32);
    let mut img = image::RgbImage::from_pixel(w, h, image::Rgb([255, 255, 255]));
    let x_of = |steps: f64| {
        margin as f64 + steps / args.env_steps.max(1) as f64 * f64::from(w - 2 * margin)
    };
    let y_of = |s: f64| f64::from(h - margin) - s * f64::from(h - 2 * margin);
    for k in 0..=10 {
        let y = y_of(f64::from(k) / 10.0).round() as u32;
        let shade = if k == 0 || k == 10 { 120 } else { 225 };
        for x in margin..=w - margin {
            img.put_pixel(x, y, image::Rgb([shade; 3]));
        }
    }
    for k in 0..=10 {
        let x = x_of(args.env_steps as f64 * f64::from(k) / 10.0).round() as u32;
        for y in margin..=h - margin {
            if k == 0 {
                img.put_pixel(x, y, image::Rgb([120; 3]));
            } else if y % 4 == 0 {
                img.put_pixel(x, y, image::Rgb([225; 3]));
            }
        }
    }
    for m in &args.modes {
        let runs = runs_of(results, *m);
        let Some(len) = runs.iter().map(|p| p.len()).min() else {
            continue;
        };
        let mean: Vec<(f64, f64)> = (0..len)
            .map(|i| {
                let s = runs.iter().map(|p| p[i].success).sum::<f64>() / runs.len() as f64;
                (runs[0][i].env_steps as f64, s)
            })
            .collect();
        let c = image::Rgb(m.color());
        for pair in mean.windows(2) {
            let (x0, y0) = (x_of(pair[0].0), y_of(pair[0].1));
            let (x1, y1) = (x_of(pair[1].0), y_of(pair[1].1));
            let n = ((x1 - x0).abs().max((y1 - y0).abs()) * 2.0).ceil().max(1.0) as usize;
            for i in 0..=n {
                let t = i as f64 / n as f64;
                let (x, y) = (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t);
                for dx in -1i32..=1 {
                    for dy in -1i32..=1 {
                        let (px, py) = (x.round() as i32 + dx, y.round() as i32 + dy);
                        if px >= 0 && py >= 0 && (px as u32) < w && (py as u32) < h {
                            img.put_pixel(px as u32, py as u32, c);
                        }
                    }
                }
            }
        }
    }
    let tmp = path.with_extension("png.partial");
    img.save_with_format(&tmp, image::ImageFormat::Png)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
