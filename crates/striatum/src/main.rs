//! `striatum`: the one command-line tool of the Striatum robot-learning stack.

mod bench;
mod bus_args;
mod doctor;
mod record;
mod reward;
mod rl_bench;
mod sim;
mod topic;
mod train;
mod view;
mod viz_bench;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use striatum_bus::{Bus, BusConfig, Mode};

use crate::bus_args::BusArgs;

/// Striatum: learned process rewards, RL and VLA policies for robot arms, in sim and on hardware.
#[derive(Debug, Parser)]
#[command(
    name = "striatum",
    version,
    after_help = "Examples:\n  striatum doctor\n  striatum topic echo 'striatum/@v1/*/reward/progress'\n  striatum nodes --watch"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    bus: BusArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check libtorch, CUDA, Vulkan and Zenoh, and say how to get what is missing.
    #[command(after_help = "Example:\n  striatum doctor --json")]
    Doctor {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List the nodes alive on the bus (their liveliness tokens).
    #[command(
        after_help = "Examples:\n  striatum nodes\n  striatum nodes --watch --connect tcp/10.0.0.5:7447"
    )]
    Nodes {
        /// Keep running and print nodes as they join (+) and leave (-).
        #[arg(long)]
        watch: bool,
        /// How long to wait for answers, in seconds.
        #[arg(long, default_value_t = 1.0)]
        timeout: f64,
    },
    /// Inspect topics.
    #[command(subcommand)]
    Topic(TopicCommand),
    /// Run a Zenoh router in this process (for multi-machine set-ups).
    #[command(after_help = "Example:\n  striatum router --listen tcp/0.0.0.0:7447")]
    Router,
    /// Measure the stack's speed and print a table.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Run and measure the simulator.
    #[command(subcommand)]
    Sim(SimCommand),
    /// Inspect recorded datasets.
    #[command(subcommand)]
    Data(DataCommand),
    /// Train, evaluate, serve and adapt the process reward model.
    #[command(subcommand)]
    Reward(reward::RewardCommand),
    /// Open a dataset, an episode or an `.rrd` recording in the Rerun viewer (from the
    /// project's .venv).
    #[command(
        after_help = "Examples:\n  striatum view data/push_cube\n  striatum view data/push_cube/episodes/000003\n  striatum view runs/demo/session.rrd --web"
    )]
    View {
        /// Dataset folder, episode folder or `.rrd` file.
        path: PathBuf,
        /// Serve the web viewer (http://127.0.0.1:PORT) instead of opening a window.
        #[arg(long)]
        web: bool,
        /// Web viewer port (its gRPC server uses PORT + 1).
        #[arg(long, default_value_t = 9090)]
        port: u16,
        #[command(flatten)]
        export: ExportArgs,
    },
    /// Rerun logging.
    #[command(subcommand)]
    Viz(VizCommand),
    /// Reinforcement learning nodes: the learner and sim actors of a training session.
    #[command(subcommand)]
    Rl(RlCommand),
    /// Start a session's nodes from a launch file (Ctrl-C stops them in order; each saves).
    #[command(
        after_help = "Examples:\n  striatum launch launch/sim_train.toml\n  striatum launch launch/sim_train.toml --quiet\n  striatum launch launch/sim_train.toml --resume"
    )]
    Launch {
        /// Launch file (`launch/*.toml`).
        file: PathBuf,
        /// Do not echo the nodes' output (it still goes to `<run_dir>/logs/`).
        #[arg(long)]
        quiet: bool,
        /// Carry on an earlier session in the same run folder (the learner resumes from its
        /// checkpoint); by default an earlier session's outputs are moved aside to
        /// `<run_dir>.<UTC date-time>` first.
        #[arg(long)]
        resume: bool,
    },
}

#[derive(Debug, Subcommand)]
enum RlCommand {
    /// The learner node: SAC with the RLPD recipe on every actor's transitions; broadcasts
    /// weights, checkpoints into `<run-dir>/checkpoints/learner` and resumes from it.
    #[command(
        after_help = "Example:\n  striatum rl learn --config launch/push_cube_train.toml --run-dir runs/sim_train"
    )]
    Learn {
        /// Training config (`[env]`, `[actor]`, `[learner]`).
        #[arg(long)]
        config: PathBuf,
        /// Run folder (config copy, checkpoints, `learner.csv`).
        #[arg(long)]
        run_dir: PathBuf,
    },
    /// A sim actor: steps the simulator with the newest policy, renders its cameras for the
    /// reward node and streams every transition to the learner.
    #[command(
        after_help = "Example:\n  striatum rl actor --config launch/push_cube_train.toml --run-dir runs/sim_train --name actor0 --robot-id sim0"
    )]
    Actor {
        /// Training config.
        #[arg(long)]
        config: PathBuf,
        /// Run folder (`<name>.csv`, `<name>_summary.json`).
        #[arg(long)]
        run_dir: PathBuf,
        /// Actor name (its transitions' id; a restart is a new incarnation of it).
        #[arg(long, default_value = "actor0")]
        name: String,
        /// Robot id of its topics (frames, episode events, rewards).
        #[arg(long, default_value = "sim0")]
        robot_id: String,
    },
    /// Learning curves of the reward modes over several seeds, each run in one process
    /// without the bus: success rate against env steps (CSV, PNG, and a summary table).
    #[command(
        after_help = "Examples:\n  striatum rl bench --config launch/push_cube_train.toml --out runs/rl_bench/push_cube\n  striatum rl bench --config launch/pick_place_train.toml --modes sparse,shaped_learned --out runs/rl_bench/pick_place"
    )]
    Bench {
        /// Training config (task, demonstrations, learner settings).
        #[arg(long)]
        config: PathBuf,
        /// Reward model of the learned modes.
        #[arg(long, default_value = "models/prm_base")]
        model: PathBuf,
        /// Modes, comma-separated: sparse, shaped_learned, shaped_privileged, direct_learned.
        #[arg(
            long,
            default_value = "sparse,shaped_learned,shaped_privileged,direct_learned"
        )]
        modes: String,
        /// Seeds per mode.
        #[arg(long, default_value_t = 3)]
        seeds: u64,
        /// Env steps per run (demonstrations not counted).
        #[arg(long, default_value_t = 6000)]
        env_steps: u64,
        /// Env steps between evaluations.
        #[arg(long, default_value_t = 1000)]
        eval_every: u64,
        /// Deterministic episodes per evaluation.
        #[arg(long, default_value_t = 20)]
        eval_episodes: u64,
        /// Runs at once (each uses one core).
        #[arg(long, default_value_t = 2)]
        jobs: usize,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
    },
}

/// How episodes become a recording.
#[derive(Debug, clap::Args)]
struct ExportArgs {
    /// Episode indices, e.g. `0,3,5-9` (default: all).
    #[arg(long)]
    episodes: Option<String>,
    /// Leave camera images out.
    #[arg(long)]
    no_images: bool,
    /// Folder of robot descriptions.
    #[arg(long, default_value = "robots")]
    robots: PathBuf,
    /// Discount of the shaped reward logged from privileged progress.
    #[arg(long, default_value_t = 0.99)]
    gamma: f64,
}

impl ExportArgs {
    fn split(&self) -> anyhow::Result<(Option<Vec<usize>>, striatum_viz::ExportOptions)> {
        let episodes = self
            .episodes
            .as_deref()
            .map(view::parse_episodes)
            .transpose()?;
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.gamma),
            "--gamma {} is not in [0, 1]",
            self.gamma
        );
        Ok((
            episodes,
            striatum_viz::ExportOptions {
                images: !self.no_images,
                robots: self.robots.clone(),
                gamma: self.gamma,
            },
        ))
    }
}

#[derive(Debug, Subcommand)]
enum VizCommand {
    /// Log one robot's topics (frames, joints, actions, progress rewards, episode events,
    /// interventions) from the bus to Rerun until Ctrl-C.
    #[command(
        after_help = "Examples:\n  striatum viz node --robot so101_0 --rerun spawn\n  striatum viz node --robot sim --rig calibration/sim_default --rerun save:runs/live.rrd"
    )]
    Node {
        /// Robot id whose topics are logged.
        #[arg(long, default_value = "sim")]
        robot: String,
        /// save:FILE, spawn, connect[:URL], serve[:PORT] or none.
        #[arg(long, default_value = "spawn")]
        rerun: String,
        /// Camera rig folder, for camera frusta.
        #[arg(long)]
        rig: Option<PathBuf>,
        /// Folder of robot descriptions (the robot is drawn from `<robots>/<id>`).
        #[arg(long, default_value = "robots")]
        robots: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum DataCommand {
    /// Summarise a dataset: episodes, steps, bytes per step, success by scene/robot/variant.
    #[command(after_help = "Example:\n  striatum data info data/push_cube")]
    Info {
        /// Dataset folder.
        dir: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Convert episodes into a Rerun `.rrd` recording (cameras, robot, objects, progress,
    /// actions, events) with the default layout.
    #[command(
        after_help = "Examples:\n  striatum data export-rrd data/push_cube --out push_cube.rrd\n  striatum data export-rrd data/push_cube --episodes 0-4 --no-images --out curves.rrd"
    )]
    ExportRrd {
        /// Dataset folder or episode folder.
        dir: PathBuf,
        /// The `.rrd` file to write (atomically).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        export: ExportArgs,
    },
}

#[derive(Debug, Subcommand)]
enum SimCommand {
    /// Run episodes of a scene with a scripted policy or replayed actions and print success
    /// rate, episode length and progress statistics.
    #[command(
        after_help = "Examples:\n  striatum sim run --scene sim_scenes/push_cube.toml --robot so101 --policy expert --episodes 50\n  striatum sim run --scene sim_scenes/pick_place.toml --robot panda --policy noisy --save-actions runs/pp.csv\n  striatum sim run --scene sim_scenes/pick_place.toml --robot panda --policy replay --actions runs/pp.csv"
    )]
    Run {
        /// Scene file (`sim_scenes/*.toml`).
        #[arg(long)]
        scene: PathBuf,
        /// Robot name (looked up in `robots/`) or its directory.
        #[arg(long, default_value = "panda")]
        robot: String,
        /// expert, noisy, partial, regress, fail, random or replay.
        #[arg(long, default_value = "expert")]
        policy: String,
        /// Episodes to run (seeds `seed..seed+episodes`).
        #[arg(long, default_value_t = 20)]
        episodes: u64,
        /// First seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Actions to replay (CSV written by --save-actions); one episode per seed in it.
        #[arg(long)]
        actions: Option<PathBuf>,
        /// Save every action taken as CSV (seed, step, dx, dy, dz, droll, dpitch, dyaw, gripper).
        #[arg(long)]
        save_actions: Option<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Log every step to Rerun: save:FILE, spawn, connect[:URL] or serve[:PORT].
        #[arg(long)]
        rerun: Option<String>,
    },
    /// Record episodes with multi-view camera frames into a dataset (docs/datasets.md).
    #[command(
        after_help = "Examples:\n  striatum sim record --scene sim_scenes/push_cube.toml --robot so101 --episodes 20 --variants expert,noisy,partial,regress,fail --out data/push_cube\n  striatum sim record --scene sim_scenes/pick_place.toml --robot panda --episodes 5 --size 224 --randomize all --out data/pp224"
    )]
    Record {
        /// Scene file (`sim_scenes/*.toml`).
        #[arg(long)]
        scene: PathBuf,
        /// Robot name (looked up in `robots/`) or its directory.
        #[arg(long, default_value = "panda")]
        robot: String,
        /// Episodes per variant (seeds `seed..seed+episodes`).
        #[arg(long, default_value_t = 10)]
        episodes: u64,
        /// Comma-separated variants: expert, noisy, partial, regress, fail, random.
        #[arg(long, default_value = "expert")]
        variants: String,
        /// First seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Dataset folder (created if missing; episodes are added).
        #[arg(long)]
        out: PathBuf,
        /// Camera rig folder (default: calibration/<the scene's rig>).
        #[arg(long)]
        rig: Option<PathBuf>,
        /// Square image size for every camera (intrinsics scaled); default: the rig's.
        #[arg(long)]
        size: Option<u32>,
        /// Do not record depth images.
        #[arg(long)]
        no_depth: bool,
        /// Domain randomisation: comma-separated light, colors, camera, noise, or all.
        #[arg(long, default_value = "")]
        randomize: String,
        /// Log every recorded episode to Rerun: save:FILE, spawn, connect[:URL] or serve[:PORT].
        #[arg(long)]
        rerun: Option<String>,
        /// Observations to record after the first success while the expert carries on, so
        /// datasets hold "done" frames for reward models (the episode counts as a success).
        #[arg(long, default_value_t = 0)]
        hold: usize,
        /// End unsuccessful episodes after this many steps (default: the scene's time limit).
        #[arg(long)]
        max_steps: Option<usize>,
    },
    /// Physics and control steps per second per scene and robot, single and vectorised.
    #[command(after_help = "Example:\n  striatum sim bench --steps 2000")]
    Bench {
        /// Scene files (default: every file in sim_scenes/).
        #[arg(long)]
        scene: Vec<PathBuf>,
        /// Robots (default: so101 and panda).
        #[arg(long)]
        robot: Vec<String>,
        /// Control steps per measurement.
        #[arg(long, default_value_t = 1000)]
        steps: usize,
        /// Environments in the vectorised measurements.
        #[arg(long, default_value_t = 8)]
        envs: usize,
        /// Repeats per measurement (the median is printed).
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        /// Measure rendering instead: env steps/s with every camera of the scene's rig
        /// rendered after every step, at 128x128 and 224x224.
        #[arg(long)]
        render: bool,
    },
}

#[derive(Debug, Subcommand)]
enum TopicCommand {
    /// Print every message on a key expression, decoded.
    #[command(
        after_help = "Examples:\n  striatum topic echo striatum/@v1/so101_0/sim/joint_state\n  striatum topic echo 'striatum/@v1/*/reward/progress' --count 5 --compact"
    )]
    Echo {
        /// Key or key expression (`*` matches one segment).
        key: String,
        /// Stop after this many messages.
        #[arg(long)]
        count: Option<u64>,
        /// Stop after this many seconds.
        #[arg(long)]
        duration: Option<f64>,
        /// One line per message.
        #[arg(long)]
        compact: bool,
    },
    /// Print the rate of messages on a key expression once a second.
    #[command(
        after_help = "Example:\n  striatum topic hz 'striatum/@v1/so101_0/*/frames' --window 50"
    )]
    Hz {
        /// Key or key expression.
        key: String,
        /// Number of recent messages the statistics use.
        #[arg(long, default_value_t = 100)]
        window: usize,
        /// Stop after this many seconds.
        #[arg(long)]
        duration: Option<f64>,
    },
    /// List the keys that carry messages, with type and rate.
    #[command(after_help = "Example:\n  striatum topic list --duration 3")]
    List {
        /// Seconds to listen.
        #[arg(long, default_value_t = 2.0)]
        duration: f64,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Publish-to-receive latency of a JointState and a 3-view 128x128 frame between two
    /// sessions on loopback TCP (one message in flight; includes encoding and decoding).
    #[command(after_help = "Example:\n  striatum bench bus --samples 5000")]
    Bus {
        /// Messages measured per kind.
        #[arg(long, default_value_t = 2000)]
        samples: usize,
    },
    /// Cost of logging a recorded dataset to an .rrd per step (with and without images) and
    /// .rrd bytes per step.
    #[command(after_help = "Example:\n  striatum bench viz --data data/push_cube --repeats 5")]
    Viz {
        /// Dataset to log.
        #[arg(long)]
        data: PathBuf,
        /// Folder of robot descriptions.
        #[arg(long, default_value = "robots")]
        robots: PathBuf,
        /// Repeats per configuration (the median is printed).
        #[arg(long, default_value_t = 3)]
        repeats: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn open(bus: &BusArgs) -> anyhow::Result<Bus> {
    let config = bus.config()?;
    Bus::open(&config)
        .await
        .context("opening the Zenoh session")
}

/// `striatum launch`: runs the file's nodes as child processes of this binary.
async fn launch(file: &std::path::Path, quiet: bool, resume: bool) -> anyhow::Result<ExitCode> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let spec = striatum_launch::LaunchFile::load(file)?;
    if !resume && let Some(moved) = striatum_launch::set_aside_previous_run(&spec.run_dir())? {
        println!(
            "launch: the earlier session's outputs in {} moved to {} (`--resume` carries a session on)",
            spec.run_dir().display(),
            moved.display()
        );
    }
    let program = std::env::current_exe().context("finding the striatum binary")?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        println!("launch: Ctrl-C, stopping the nodes (each saves its state)");
        flag.store(true, Ordering::Relaxed);
    });
    println!(
        "launch: session `{}` ({} nodes), outputs in {}",
        spec.name,
        spec.nodes.len(),
        spec.run_dir().display()
    );
    let echo: Option<striatum_launch::Echo> = if quiet {
        None
    } else {
        Some(Arc::new(std::sync::Mutex::new(std::io::stdout())))
    };
    let source = file.to_owned();
    let report = tokio::task::spawn_blocking(move || {
        striatum_launch::run_session(&spec, &source, &program, &stop, echo)
    })
    .await??;
    println!(
        "launch: session ended after {:.0} s ({:?}); {}",
        report.seconds,
        report.reason,
        report
            .exits
            .iter()
            .map(|e| format!(
                "{} {}{}",
                e.name,
                e.code.map_or("signal".to_owned(), |c| format!("exit {c}")),
                if e.killed { " (killed)" } else { "" }
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(if report.clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Doctor { json } => {
            let ok = doctor::run(json).await?;
            return Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        Command::Nodes { watch, timeout } => {
            let bus = open(&cli.bus).await?;
            topic::nodes(&bus, watch, Duration::from_secs_f64(timeout)).await?;
        }
        Command::Topic(cmd) => {
            let bus = open(&cli.bus).await?;
            match cmd {
                TopicCommand::Echo {
                    key,
                    count,
                    duration,
                    compact,
                } => topic::echo(&bus, &key, count, duration, compact).await?,
                TopicCommand::Hz {
                    key,
                    window,
                    duration,
                } => topic::hz(&bus, &key, window, duration).await?,
                TopicCommand::List { duration } => topic::list(&bus, duration).await?,
            }
        }
        Command::Sim(SimCommand::Run {
            scene,
            robot,
            policy,
            episodes,
            seed,
            actions,
            save_actions,
            json,
            rerun,
        }) => {
            let policy = sim::Policy::parse(&policy, actions.as_deref())?;
            let args = sim::RunArgs {
                scene,
                robot,
                policy,
                episodes,
                seed,
                save_actions,
                json,
                rerun: rerun.map(|r| r.parse()).transpose()?,
            };
            tokio::task::spawn_blocking(move || sim::run(&args)).await??;
        }
        Command::Sim(SimCommand::Record {
            scene,
            robot,
            episodes,
            variants,
            seed,
            out,
            rig,
            size,
            no_depth,
            randomize,
            rerun,
            hold,
            max_steps,
        }) => {
            let variants = variants
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| {
                    v.parse::<striatum_sim::Variant>()
                        .map_err(|e| anyhow::anyhow!("--variants: {e}"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            anyhow::ensure!(!variants.is_empty(), "--variants: give at least one");
            let args = record::RecordArgs {
                scene,
                robot,
                episodes,
                variants,
                seed,
                out,
                rig,
                size,
                depth: !no_depth,
                randomize: record::Randomize::parse(&randomize)?,
                rerun: rerun.map(|r| r.parse()).transpose()?,
                hold,
                max_steps,
            };
            tokio::task::spawn_blocking(move || record::record(&args)).await??;
        }
        Command::Reward(cmd) => reward::run(cmd, &cli.bus).await?,
        Command::Rl(RlCommand::Learn { config, run_dir }) => {
            let bus = open(&cli.bus).await?;
            train::learn(&config, &run_dir, bus).await?;
        }
        Command::Rl(RlCommand::Actor {
            config,
            run_dir,
            name,
            robot_id,
        }) => {
            let bus = open(&cli.bus).await?;
            train::act(&config, &run_dir, &name, &robot_id, bus).await?;
        }
        Command::Rl(RlCommand::Bench {
            config,
            model,
            modes,
            seeds,
            env_steps,
            eval_every,
            eval_episodes,
            jobs,
            out,
        }) => {
            let modes = modes
                .split(',')
                .map(|m| rl_bench::BenchMode::parse(m.trim()))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let args = rl_bench::BenchArgs {
                config,
                model,
                modes,
                seeds,
                env_steps,
                eval_every,
                eval_episodes,
                jobs,
                out,
            };
            let text = tokio::task::spawn_blocking(move || rl_bench::run(&args)).await??;
            print!("{text}");
        }
        Command::Launch {
            file,
            quiet,
            resume,
        } => {
            return launch(&file, quiet, resume).await;
        }
        Command::Data(DataCommand::Info { dir, json }) => {
            let text = record::info(&dir, json)?;
            print!("{text}");
        }
        Command::Data(DataCommand::ExportRrd { dir, out, export }) => {
            let (episodes, options) = export.split()?;
            tokio::task::spawn_blocking(move || {
                view::export(&dir, &out, episodes.as_deref(), &options)
            })
            .await??;
        }
        Command::View {
            path,
            web,
            port,
            export,
        } => {
            let (episodes, options) = export.split()?;
            let code = tokio::task::spawn_blocking(move || {
                view::view(&path, web, port, episodes.as_deref(), &options)
            })
            .await??;
            return Ok(code);
        }
        Command::Viz(VizCommand::Node {
            robot,
            rerun,
            rig,
            robots,
        }) => {
            let sink: striatum_viz::Sink = rerun.parse()?;
            let bus = Bus::open(&cli.bus.config()?)
                .await
                .context("opening the bus")?;
            view::node(&bus, &sink, &robot, &robots, rig.as_deref()).await?;
            bus.close().await?;
        }
        Command::Sim(SimCommand::Bench {
            scene,
            robot,
            steps,
            envs,
            repeats,
            render,
        }) => {
            let scenes = if scene.is_empty() {
                let mut found: Vec<PathBuf> = std::fs::read_dir("sim_scenes")
                    .context("listing sim_scenes/ (run from the repository root or pass --scene)")?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                    .collect();
                found.sort();
                found
            } else {
                scene
            };
            let robots = if robot.is_empty() {
                vec!["so101".to_owned(), "panda".to_owned()]
            } else {
                robot
            };
            if render {
                let text = tokio::task::spawn_blocking(move || {
                    record::bench_render(&scenes, &robots, steps, repeats.max(1))
                })
                .await??;
                print!("{text}");
                return Ok(ExitCode::SUCCESS);
            }
            let args = sim::BenchArgs {
                scenes,
                robots,
                steps,
                envs,
                repeats: repeats.max(1),
            };
            tokio::task::spawn_blocking(move || sim::bench(&args)).await??;
        }
        Command::Router => {
            let mut config: BusConfig = cli.bus.config()?;
            config.mode = Some(Mode::Router);
            let bus = Bus::open(&config).await.context("starting the router")?;
            let listen = if config.listen.is_empty() {
                vec![striatum_bus::RENDEZVOUS_ENDPOINT.to_owned()]
            } else {
                config.listen.clone()
            };
            println!(
                "zenoh router {} ({}) listening on {}; Ctrl-C to stop",
                bus.session().zid(),
                doctor::zenoh_version(),
                listen.join(", ")
            );
            tokio::signal::ctrl_c()
                .await
                .context("waiting for Ctrl-C")?;
            bus.close().await?;
        }
        Command::Bench(BenchCommand::Viz {
            data,
            robots,
            repeats,
        }) => {
            let text = tokio::task::spawn_blocking(move || {
                viz_bench::viz_overhead(&data, &robots, repeats.max(1))
            })
            .await??;
            print!("{text}");
        }
        Command::Bench(BenchCommand::Bus { samples }) => {
            let rows = bench::bus_latency(samples.max(10)).await?;
            bench::print_table(&rows);
        }
    }
    Ok(ExitCode::SUCCESS)
}
