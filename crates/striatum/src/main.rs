//! `striatum`: the one command-line tool of the Striatum robot-learning stack.

mod bench;
mod bus_args;
mod doctor;
mod topic;

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
        Command::Bench(BenchCommand::Bus { samples }) => {
            let rows = bench::bus_latency(samples.max(10)).await?;
            bench::print_table(&rows);
        }
    }
    Ok(ExitCode::SUCCESS)
}
