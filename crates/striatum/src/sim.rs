//! `striatum sim run` and `striatum sim bench`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use striatum_sim::{
    Action, Env, EpisodeSummary, Observation, Rng, ScriptedExpert, SimWorld, StepInfo, Summary,
    Variant, VecEnv, run_episode,
};

/// Where a robot lives: a directory or `robot.toml` as given, else `robots/<name>`.
pub fn robot_path(robot: &str) -> PathBuf {
    let given = PathBuf::from(robot);
    if given.exists() {
        given
    } else {
        Path::new("robots").join(robot)
    }
}

/// What chooses the actions of `sim run`.
#[derive(Debug, Clone)]
pub enum Policy {
    /// A scripted variant.
    Scripted(Variant),
    /// Actions read from a CSV written by `--save-actions`.
    Replay(PathBuf),
}

impl Policy {
    /// Parses `expert|noisy|partial|regress|fail|random|replay`.
    pub fn parse(name: &str, actions: Option<&Path>) -> anyhow::Result<Self> {
        if name == "replay" {
            let Some(path) = actions else {
                bail!("--policy replay needs --actions FILE (as written by --save-actions)");
            };
            return Ok(Policy::Replay(path.to_path_buf()));
        }
        name.parse::<Variant>()
            .map(Policy::Scripted)
            .map_err(|e| anyhow::anyhow!("--policy: {e}, or replay"))
    }
}

/// One action row of a saved-actions CSV.
struct ActionRow {
    seed: u64,
    values: Vec<f64>,
}

const ACTION_HEADER: &str = "seed,step,dx,dy,dz,droll,dpitch,dyaw,gripper";

fn read_actions(path: &Path) -> anyhow::Result<BTreeMap<u64, Vec<Vec<f64>>>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading actions from {}", path.display()))?;
    let mut lines = text.lines();
    match lines.next() {
        Some(h) if h.trim() == ACTION_HEADER => {}
        other => bail!(
            "{}: expected the header `{ACTION_HEADER}`, found {:?}",
            path.display(),
            other.unwrap_or("")
        ),
    }
    let mut episodes: BTreeMap<u64, Vec<Vec<f64>>> = BTreeMap::new();
    let mut order = Vec::new();
    for (i, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row = parse_row(line).with_context(|| format!("{}: line {}", path.display(), i + 2))?;
        if !episodes.contains_key(&row.seed) {
            order.push(row.seed);
        }
        episodes.entry(row.seed).or_default().push(row.values);
    }
    if episodes.is_empty() {
        bail!("{}: no actions", path.display());
    }
    Ok(episodes)
}

fn parse_row(line: &str) -> anyhow::Result<ActionRow> {
    let fields: Vec<&str> = line.split(',').map(str::trim).collect();
    if fields.len() != 9 {
        bail!(
            "expected 9 comma-separated fields ({ACTION_HEADER}), found {}",
            fields.len()
        );
    }
    let seed = fields[0]
        .parse()
        .context("seed is not an unsigned integer")?;
    let values = fields[2..]
        .iter()
        .map(|f| {
            f.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .with_context(|| format!("`{f}` is not a finite number"))
        })
        .collect::<anyhow::Result<Vec<f64>>>()?;
    Ok(ActionRow { seed, values })
}

/// Writes `text` to `path` through a temporary file and a rename.
fn write_atomic(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("actions")
    ));
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}

/// Settings of `sim run`.
pub struct RunArgs {
    /// Scene file.
    pub scene: PathBuf,
    /// Robot name or path.
    pub robot: String,
    /// The policy.
    pub policy: Policy,
    /// Episodes (ignored when replaying: one per saved seed).
    pub episodes: u64,
    /// First seed.
    pub seed: u64,
    /// Where to save the actions taken.
    pub save_actions: Option<PathBuf>,
    /// Print JSON instead of a table.
    pub json: bool,
    /// Log every step to Rerun.
    pub rerun: Option<striatum_viz::Sink>,
}

/// Logs a simulated run to Rerun: robot, objects, privileged progress, actions, events.
struct RunLog {
    logger: striatum_viz::Logger,
    joint_names: Vec<String>,
    dt: f64,
    error: Option<striatum_viz::VizError>,
}

impl RunLog {
    fn open(sink: &striatum_viz::Sink, env: &Env) -> anyhow::Result<Self> {
        let mut logger = striatum_viz::Logger::create(
            sink,
            &format!("sim-{}-{}", env.scene().name, env.robot().config.name),
            &[],
        )?;
        logger.set_robot(striatum_viz::RobotVisual::new(env.robot().clone()))?;
        Ok(Self {
            logger,
            joint_names: env
                .robot()
                .config
                .joints
                .iter()
                .map(|j| j.name.clone())
                .collect(),
            dt: env.control_dt(),
            error: None,
        })
    }

    /// Logs an episode by replaying its actions from its seed.
    fn replay(
        &mut self,
        env: &mut Env,
        episode: u64,
        seed: u64,
        actions: &[Vec<f64>],
    ) -> anyhow::Result<()> {
        let mut obs = env.reset(seed)?;
        let shapes = crate::record::scene_shapes(env, &|_| [0.0; 3]);
        let (objects, fixtures) = objects_of(&obs);
        let r = self
            .logger
            .begin_episode(episode, &env.scene().name, &obs.instruction)
            .and_then(|()| self.logger.set_scene(&shapes, &objects, &fixtures));
        self.keep(r);
        let first = env.evaluate();
        let mut info = first.map(|p| StepInfo {
            success: false,
            progress: p.value,
            stage: p.stage,
            stage_name: env
                .scene()
                .stages
                .get(p.stage)
                .map_or("done".to_owned(), |s| s.name.clone()),
        });
        let mut success = false;
        for (i, v) in actions.iter().enumerate() {
            let action = Action::ee_from_slice(v)?;
            self.step(&obs, info.as_ref(), Some(&action));
            let step = env.step(&action)?;
            obs = step.obs;
            success = step.info.success;
            info = Some(step.info);
            if (step.terminated || step.truncated) && i + 1 < actions.len() {
                break;
            }
        }
        self.step(&obs, info.as_ref(), None);
        self.end(success, actions.len());
        Ok(())
    }

    /// Logs an observation (with its progress when known) and the action taken after it.
    fn step(&mut self, obs: &Observation, info: Option<&StepInfo>, action: Option<&Action>) {
        let time = striatum_viz::TimeSource::Sim(self.logger.steps() as f64 * self.dt);
        self.logger.next_step(time);
        let (objects, fixtures) = objects_of(obs);
        let mut r = self
            .logger
            .log_joints(&self.joint_names, &obs.joint_positions, Some(obs.gripper))
            .and_then(|()| self.logger.log_objects(&objects, &fixtures));
        if let (Ok(()), Some(info)) = (&r, info) {
            r = self.logger.log_task(
                info.progress,
                i32::try_from(info.stage).unwrap_or(i32::MAX),
                &info.stage_name,
            );
        }
        if let (Ok(()), Some(v)) = (&r, action.and_then(Action::ee_to_vec)) {
            r = self.logger.log_action(&striatum_viz::ACTION_NAMES, &v);
        }
        self.keep(r);
    }

    fn end(&mut self, success: bool, steps: usize) {
        let r = self.logger.end_episode(success, steps as u64);
        self.keep(r);
    }

    fn keep(&mut self, r: Result<(), striatum_viz::VizError>) {
        if let Err(e) = r {
            self.error.get_or_insert(e);
        }
    }

    fn finish(self) -> anyhow::Result<()> {
        if let Some(e) = self.error {
            return Err(e).context("logging to Rerun");
        }
        if let Some(file) = self.logger.finish()? {
            eprintln!("saved {}", file.display());
        }
        Ok(())
    }
}

/// Object poses (x, y, z, qx, qy, qz, qw) and fixture joint values of an observation.
pub fn objects_of(obs: &Observation) -> (Vec<[f64; 7]>, Vec<f64>) {
    let objects = obs
        .privileged
        .objects
        .iter()
        .map(|o| {
            let [x, y, z] = o.position;
            let [qx, qy, qz, qw] = o.orientation;
            [x, y, z, qx, qy, qz, qw]
        })
        .collect();
    let fixtures = obs.privileged.fixtures.iter().map(|(_, q)| *q).collect();
    (objects, fixtures)
}

/// Runs episodes and prints their statistics.
pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    let mut env = Env::load(&args.scene, robot_path(&args.robot))
        .with_context(|| format!("loading {} with robot {}", args.scene.display(), args.robot))?;
    let mut saved = String::from(ACTION_HEADER);
    saved.push('\n');
    let mut episodes: Vec<EpisodeSummary> = Vec::new();
    let mut stage_counts: BTreeMap<String, usize> = BTreeMap::new();
    let started = Instant::now();
    let plan: Vec<(u64, Option<Vec<Vec<f64>>>)> = match &args.policy {
        Policy::Replay(path) => read_actions(path)?
            .into_iter()
            .map(|(seed, actions)| (seed, Some(actions)))
            .collect(),
        Policy::Scripted(_) => (args.seed..args.seed + args.episodes)
            .map(|s| (s, None))
            .collect(),
    };
    let mut total_steps = 0usize;
    let mut viz = args
        .rerun
        .as_ref()
        .map(|sink| RunLog::open(sink, &env))
        .transpose()?;
    for (episode, (seed, replay)) in plan.into_iter().enumerate() {
        let mut log: Vec<Vec<f64>> = Vec::new();
        let summary = match (&args.policy, replay) {
            (Policy::Scripted(variant), _) => {
                let mut expert = ScriptedExpert::new(env.scene(), env.robot(), *variant, seed);
                run_episode(&mut env, seed, &mut |obs, info| {
                    let a = expert.act(obs, info);
                    log.push(a.ee_to_vec().unwrap_or_default());
                    a
                })?
            }
            (Policy::Replay(_), Some(actions)) => {
                let mut it = actions.into_iter();
                run_episode(&mut env, seed, &mut |_, _| {
                    // Past the end of the saved actions the arm holds still.
                    let v = it.next().unwrap_or_else(|| vec![0.0; Action::EE_DIM]);
                    log.push(v.clone());
                    Action::ee_from_slice(&v).unwrap_or(Action::EeDelta {
                        translation: [0.0; 3],
                        rotation: [0.0; 3],
                        gripper: 0.0,
                    })
                })?
            }
            (Policy::Replay(_), None) => unreachable!("replay plans carry actions"),
        };
        if let Some(v) = viz.as_mut() {
            // Episodes are deterministic: replaying the actions reproduces every state.
            v.replay(&mut env, episode as u64, seed, &log)?;
        }
        let stage = env
            .scene()
            .stages
            .get(summary.final_stage)
            .map_or("done".to_owned(), |s| s.name.clone());
        *stage_counts.entry(stage).or_default() += 1;
        total_steps += summary.steps;
        for (i, a) in log.iter().enumerate() {
            let values: Vec<String> = a.iter().map(|v| format!("{v}")).collect();
            saved.push_str(&format!("{seed},{i},{}\n", values.join(",")));
        }
        episodes.push(summary);
    }
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(path) = &args.save_actions {
        write_atomic(path, &saved)?;
    }
    if let Some(v) = viz {
        v.finish()?;
    }
    let s = Summary::of(&episodes);
    let dt = env.control_dt();
    let policy = match &args.policy {
        Policy::Scripted(v) => v.name().to_owned(),
        Policy::Replay(p) => format!("replay {}", p.display()),
    };
    let mut out = String::new();
    if args.json {
        let json = serde_json::json!({
            "scene": env.scene().name,
            "robot": env.robot().config.name,
            "policy": policy,
            "episodes": s.episodes,
            "success_rate": s.success_rate,
            "mean_steps": s.mean_steps,
            "mean_success_steps": s.mean_success_steps,
            "mean_final_progress": s.mean_final_progress,
            "mean_max_progress": s.mean_max_progress,
            "final_stages": stage_counts,
            "control_steps_per_s": total_steps as f64 / elapsed,
            "seeds": episodes.iter().map(|e| serde_json::json!({
                "seed": e.seed, "success": e.success, "steps": e.steps,
                "final_progress": e.final_progress, "max_progress": e.max_progress,
            })).collect::<Vec<_>>(),
        });
        return emit(&format!("{}\n", serde_json::to_string_pretty(&json)?));
    }
    writeln!(
        out,
        "scene {}  robot {}  policy {}  episodes {}",
        env.scene().name,
        env.robot().config.name,
        policy,
        s.episodes
    )?;
    writeln!(
        out,
        "  success rate            {:>6.1} %",
        100.0 * s.success_rate
    )?;
    writeln!(
        out,
        "  episode length          {:>6.1} steps ({:.2} s)",
        s.mean_steps,
        s.mean_steps * dt
    )?;
    writeln!(
        out,
        "  length when successful  {:>6.1} steps ({:.2} s)",
        s.mean_success_steps,
        s.mean_success_steps * dt
    )?;
    writeln!(
        out,
        "  final progress (mean)   {:>6.3}",
        s.mean_final_progress
    )?;
    writeln!(
        out,
        "  peak progress (mean)    {:>6.3}",
        s.mean_max_progress
    )?;
    let stages: Vec<String> = stage_counts
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    writeln!(out, "  final stage             {}", stages.join(", "))?;
    writeln!(
        out,
        "  speed                   {:>6.0} control steps/s",
        total_steps as f64 / elapsed
    )?;
    emit(&out)
}

/// Settings of `sim bench`.
pub struct BenchArgs {
    /// Scenes to measure.
    pub scenes: Vec<PathBuf>,
    /// Robots to measure (pairs the scene does not place are skipped).
    pub robots: Vec<String>,
    /// Control steps per measurement.
    pub steps: usize,
    /// Environments in the vectorised measurement.
    pub envs: usize,
    /// Repeats (the median is reported).
    pub repeats: usize,
}

/// The median (NaN for none).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Control steps per second of one environment driven by random end-effector actions.
fn single_rate(env: &mut Env, steps: usize) -> anyhow::Result<f64> {
    let mut rng = Rng::new(1);
    env.reset(0)?;
    let start = Instant::now();
    let mut episode = 0;
    for _ in 0..steps {
        let s = env.step(&random_action(&mut rng))?;
        if s.terminated || s.truncated {
            episode += 1;
            env.reset(episode)?;
        }
    }
    Ok(steps as f64 / start.elapsed().as_secs_f64())
}

/// A uniformly random end-effector action within the controller's usual range.
pub fn random_action(rng: &mut Rng) -> Action {
    Action::EeDelta {
        translation: [
            rng.symmetric(0.02),
            rng.symmetric(0.02),
            rng.symmetric(0.02),
        ],
        rotation: [0.0, 0.0, rng.symmetric(0.1)],
        gripper: rng.uniform(),
    }
}

fn vector_rate(envs: Vec<Env>, threads: usize, steps: usize) -> anyhow::Result<f64> {
    let n = envs.len();
    let mut venv = VecEnv::new(envs, threads);
    let mut seeds: Vec<u64> = (0..n as u64).collect();
    venv.reset(&seeds)?;
    let mut rng = Rng::new(2);
    let rounds = steps.div_ceil(n).max(1);
    let start = Instant::now();
    for _ in 0..rounds {
        let actions: Vec<Action> = (0..n).map(|_| random_action(&mut rng)).collect();
        let results = venv.step(&actions)?;
        for (i, r) in results.iter().enumerate() {
            if r.terminated || r.truncated {
                seeds[i] += n as u64;
                venv.reset_one(i, seeds[i])?;
            }
        }
    }
    Ok((rounds * n) as f64 / start.elapsed().as_secs_f64())
}

/// Physics steps per second of the world alone (no control, no IK).
fn physics_rate(env: &mut Env, steps: usize) -> anyhow::Result<f64> {
    env.reset(0)?;
    let layout = env.layout(0)?;
    let template = striatum_sim::PhysicsRobot::new(env.robot())?;
    let mut world = SimWorld::build(&template, &layout.layout, 1.0 / env.scene().physics_hz)?;
    // The arm sweeps through its home pose so the solver has motion and contacts to work on.
    let home = env.robot().config.home.clone();
    let substeps = env.scene().substeps();
    let start = Instant::now();
    for i in 0..steps {
        let phase = i as f64 * 0.05;
        let q: Vec<f64> = home
            .iter()
            .enumerate()
            .map(|(j, h)| h + 0.3 * (phase + j as f64).sin())
            .collect();
        world.set_arm_targets(&q)?;
        world.set_gripper(0.5 + 0.5 * phase.sin())?;
        for _ in 0..substeps {
            world.step();
        }
    }
    Ok((steps * substeps) as f64 / start.elapsed().as_secs_f64())
}

/// Measures and prints the table.
pub fn bench(args: &BenchArgs) -> anyhow::Result<()> {
    let mut out = String::new();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    writeln!(
        out,
        "sim bench: {} control steps per measurement, median of {} runs, {} cores; random \
         end-effector actions, no rendering",
        args.steps, args.repeats, cores
    )?;
    writeln!(
        out,
        "{:<12} {:<6} {:>12} {:>12} {:>12} {:>14} {:>14}",
        "scene",
        "robot",
        "physics/s",
        "control/s",
        "physics-eq/s",
        "vec x1 ctrl/s",
        "vec x2 ctrl/s"
    )?;
    for scene in &args.scenes {
        for robot in &args.robots {
            let mut env = match Env::load(scene, robot_path(robot)) {
                Ok(env) => env,
                Err(striatum_sim::EnvError::Scene(
                    striatum_sim::SceneError::UnsupportedRobot { .. },
                )) => continue,
                Err(e) => return Err(e).with_context(|| format!("loading {}", scene.display())),
            };
            let substeps = env.scene().substeps() as f64;
            let physics = median(
                (0..args.repeats)
                    .map(|_| physics_rate(&mut env, args.steps))
                    .collect::<anyhow::Result<_>>()?,
            );
            let control = median(
                (0..args.repeats)
                    .map(|_| single_rate(&mut env, args.steps))
                    .collect::<anyhow::Result<_>>()?,
            );
            let make = || -> anyhow::Result<Vec<Env>> {
                (0..args.envs)
                    .map(|_| Env::load(scene, robot_path(robot)).map_err(anyhow::Error::from))
                    .collect()
            };
            let vec1 = median(
                (0..args.repeats)
                    .map(|_| vector_rate(make()?, 1, args.steps))
                    .collect::<anyhow::Result<_>>()?,
            );
            let vec2 = median(
                (0..args.repeats)
                    .map(|_| vector_rate(make()?, 2, args.steps))
                    .collect::<anyhow::Result<_>>()?,
            );
            writeln!(
                out,
                "{:<12} {:<6} {:>12.0} {:>12.0} {:>12.0} {:>14.0} {:>14.0}",
                env.scene().name,
                env.robot().config.name,
                physics,
                control,
                control * substeps,
                vec1,
                vec2
            )?;
            emit(&std::mem::take(&mut out))?;
        }
    }
    writeln!(
        out,
        "physics/s: world steps alone; control/s: env steps with IK at {}x physics substeps \
         (physics-eq/s = control/s x substeps); vec: {} envs on 1 and 2 threads",
        args.scenes
            .first()
            .and_then(|s| striatum_sim::SceneConfig::load(s).ok())
            .map_or(12, |s| s.substeps()),
        args.envs
    )?;
    emit(&out)
}

/// Prints to stdout; a reader that went away (`| head`) ends the output quietly.
fn emit(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
