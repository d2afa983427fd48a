//! `striatum reward ...`: train, evaluate, serve, adapt and benchmark the process reward
//! model (docs/reward.md).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use striatum_reward::dataset::{self, EpisodeData, Split};
use striatum_reward::eval::{self, BlindTime, ModelPredictor, TaskMetrics};
use striatum_reward::fit::{self, Event, FitArgs};
use striatum_reward::train::TrainConfig;
use striatum_reward::{Scorer, parse_device};

/// Reward model commands.
#[derive(Debug, Subcommand)]
pub enum RewardCommand {
    /// Train a reward model on recorded sim datasets (resumes from OUT's last checkpoint).
    #[command(
        after_help = "Examples:\n  striatum reward train --data data/reward/base/push_cube,data/reward/base/reach --out models/prm_base --exclude-tasks stack\n  striatum reward train --data data/push_cube --out models/push --steps 300 --views front"
    )]
    Train(TrainArgs),
    /// Evaluate a model on held-out episodes: per task and per view, as a table and JSON.
    #[command(
        after_help = "Examples:\n  striatum reward eval --model models/prm_base --data data/reward/base/push_cube\n  striatum reward eval --model models/prm_base --data data/reward/base/push_cube --baselines --json eval.json"
    )]
    Eval(EvalArgs),
    /// Score multi-view frames from the bus and publish a ProgressReward per frame, for any
    /// number of robots (Ctrl-C stops and prints the counters).
    #[command(
        after_help = "Examples:\n  striatum reward serve --model models/prm_base\n  striatum reward serve --model models/prm_base --robots arm0,arm1 --device cuda --connect tcp/10.0.0.5:7447"
    )]
    Serve(ServeArgs),
    /// Adapt a model to a new task from one demonstration episode (frozen encoder, minutes on
    /// a CPU).
    #[command(
        after_help = "Example:\n  striatum reward adapt --model models/prm_base --demo data/reward/heldout/stack/episodes/000000 --out models/prm_stack"
    )]
    Adapt(AdaptArgs),
    /// Choose a model's done operating point (threshold, consecutive frames) on labelled
    /// episodes, within a false-done budget, and write it into its manifest.
    #[command(
        after_help = "Examples:\n  striatum reward calibrate --model models/prm_base --data data/reward/base/push_cube --split val\n  striatum reward calibrate --model runs/reward/prm_drawer --data data/reward/base/open_drawer --split all --done-k 2,3,4,6,8"
    )]
    Calibrate(CalibrateArgs),
    /// Latency (p50/p99 per query) and batched throughput by view count and image size.
    #[command(
        after_help = "Examples:\n  striatum reward bench\n  striatum reward bench --model models/prm_base --device cuda"
    )]
    Bench(BenchArgs),
}

/// `reward serve` options.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Checkpoint folder (native or TorchScript).
    #[arg(long)]
    model: PathBuf,
    /// Robots to serve (default: every robot publishing frames).
    #[arg(long, value_delimiter = ',')]
    robots: Option<Vec<String>>,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Most frames scored in one batch.
    #[arg(long, default_value_t = 16)]
    max_batch: usize,
    /// Instruction for episodes whose start event was not seen.
    #[arg(long, default_value = "")]
    instruction: String,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    duration: Option<f64>,
}

/// `reward adapt` options.
#[derive(Debug, Args)]
pub struct AdaptArgs {
    /// The base checkpoint folder.
    #[arg(long)]
    model: PathBuf,
    /// The demonstration: an episode folder of a recorded dataset.
    #[arg(long)]
    demo: PathBuf,
    /// The adapted checkpoint folder.
    #[arg(long)]
    out: PathBuf,
    /// Updates.
    #[arg(long, default_value_t = 1000)]
    steps: u64,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Done threshold of the adapted model (with `--done-k`; default: the base model's
    /// operating point).
    #[arg(long, requires = "done_k")]
    done_threshold: Option<f64>,
    /// Consecutive frames of the adapted model's done hysteresis (with `--done-threshold`).
    #[arg(long, requires = "done_threshold")]
    done_k: Option<usize>,
    /// Take the adapted model's done operating point from this checkpoint's manifest (e.g. a
    /// model adapted to another held-out task and calibrated there).
    #[arg(long, conflicts_with = "done_threshold")]
    done_from: Option<PathBuf>,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: String,
}

/// `reward calibrate` options.
#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// Checkpoint folder (its manifest is rewritten).
    #[arg(long)]
    model: PathBuf,
    /// Dataset folders (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', required = true)]
    data: Vec<PathBuf>,
    /// Split to calibrate on: val (default), test, train or all.
    #[arg(long, default_value = "val")]
    split: String,
    /// Only these tasks.
    #[arg(long, value_delimiter = ',')]
    tasks: Vec<String>,
    /// Leave out these episode folders (e.g. the demo a model was adapted from).
    #[arg(long, value_delimiter = ',')]
    exclude: Vec<PathBuf>,
    /// Hysteresis lengths to choose from.
    #[arg(long, value_delimiter = ',', default_value = "2,3,4")]
    done_k: Vec<usize>,
    /// False-done budget (fraction of never-done episodes, and of their frames).
    #[arg(long, default_value_t = 0.01)]
    done_budget: f64,
    /// Print the choice without writing it.
    #[arg(long)]
    dry_run: bool,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: String,
}

/// `reward bench` options.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Architecture to time (default: the default architecture); weights do not change speed,
    /// so other view counts use the same architecture with fresh weights.
    #[arg(long)]
    model: Option<PathBuf>,
    /// auto (CPU, and the GPU when there is one), cpu or cuda.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Timed queries per configuration.
    #[arg(long, default_value_t = 200)]
    queries: usize,
    /// Batch size of the throughput column.
    #[arg(long, default_value_t = 16)]
    batch: usize,
}

/// `reward train` options.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Dataset folders (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', required = true)]
    data: Vec<PathBuf>,
    /// Checkpoint folder (created; an existing one with training state is resumed).
    #[arg(long)]
    out: PathBuf,
    /// Start over even if OUT holds training state.
    #[arg(long)]
    fresh: bool,
    /// Optimiser steps in total.
    #[arg(long, default_value_t = 2000)]
    steps: u64,
    /// Samples per step.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Views to train on (default: every camera in the data).
    #[arg(long, value_delimiter = ',')]
    views: Option<Vec<String>>,
    /// Tasks to keep out of training.
    #[arg(long, value_delimiter = ',')]
    exclude_tasks: Vec<String>,
    /// Encoder input side in pixels for a new model (a multiple of 16; frames are resized to
    /// it). A resumed run keeps its checkpoint's size.
    #[arg(long)]
    image_size: Option<i64>,
    /// Validate, calibrate and checkpoint every N steps.
    #[arg(long, default_value_t = 250)]
    eval_every: u64,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Done hysteresis lengths (consecutive frames) to calibrate over.
    #[arg(long, value_delimiter = ',', default_value = "2,3,4")]
    done_k: Vec<usize>,
    /// Done false-positive budget: fraction of failed validation episodes (and of their
    /// frames) in which done may fire.
    #[arg(long, default_value_t = 0.01)]
    done_budget: f64,
}

/// `reward eval` options.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Checkpoint folder.
    #[arg(long)]
    model: PathBuf,
    /// Dataset folders (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', required = true)]
    data: Vec<PathBuf>,
    /// Split to score: test (held-out seeds), val, train or all.
    #[arg(long, default_value = "test")]
    split: String,
    /// Only these tasks.
    #[arg(long, value_delimiter = ',')]
    tasks: Vec<String>,
    /// Leave out these episode folders (e.g. the demo a model was adapted from).
    #[arg(long, value_delimiter = ',')]
    exclude: Vec<PathBuf>,
    /// Also score the blind time regressor (fitted on the same datasets' training split).
    #[arg(long)]
    baselines: bool,
    /// Also score this model as a baseline (e.g. a single-view model).
    #[arg(long)]
    baseline_model: Option<PathBuf>,
    /// Skip the per-view rows.
    #[arg(long)]
    no_per_view: bool,
    /// Write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the model's per-frame predictions (all views) as CSV here.
    #[arg(long)]
    traces: Option<PathBuf>,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    device: String,
}

/// Runs a reward command.
pub async fn run(cmd: RewardCommand, bus: &crate::bus_args::BusArgs) -> anyhow::Result<()> {
    match cmd {
        RewardCommand::Train(a) => tokio::task::spawn_blocking(move || train(&a)).await?,
        RewardCommand::Eval(a) => tokio::task::spawn_blocking(move || evaluate(&a)).await?,
        RewardCommand::Serve(a) => serve(&a, bus).await,
        RewardCommand::Adapt(a) => tokio::task::spawn_blocking(move || adapt(&a)).await?,
        RewardCommand::Calibrate(a) => tokio::task::spawn_blocking(move || calibrate(&a)).await?,
        RewardCommand::Bench(a) => tokio::task::spawn_blocking(move || bench(&a)).await?,
    }
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

fn bar(total: u64, what: &str) -> Option<indicatif::ProgressBar> {
    std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(total);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{msg:>10} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta} {prefix}",
        ) {
            b.set_style(style.progress_chars("=> "));
        }
        b.set_message(what.to_owned());
        b
    })
}

fn train(a: &TrainArgs) -> anyhow::Result<()> {
    anyhow::ensure!(a.steps > 0, "--steps must be at least 1");
    anyhow::ensure!(a.batch > 0 && a.batch <= 4096, "--batch must be 1..=4096");
    anyhow::ensure!(
        a.lr.is_finite() && a.lr > 0.0,
        "--lr must be a positive number"
    );
    anyhow::ensure!(
        (0.0..1.0).contains(&a.done_budget),
        "--done-budget must be in [0, 1)"
    );
    if a.fresh && a.out.exists() {
        std::fs::remove_dir_all(&a.out).with_context(|| format!("removing {}", a.out.display()))?;
    }
    let device = parse_device(&a.device)?;
    let args = FitArgs {
        data: a.data.clone(),
        out: a.out.clone(),
        views: a.views.clone(),
        image_size: a.image_size,
        exclude_tasks: a.exclude_tasks.clone(),
        config: TrainConfig {
            steps: a.steps,
            batch: a.batch,
            lr: a.lr,
            seed: a.seed,
            eval_every: a.eval_every,
            ..TrainConfig::default()
        },
        device,
        threads: threads(),
        resume: true,
        done_k: a.done_k.clone(),
        done_budget: a.done_budget,
    };
    println!(
        "training a reward model on {} into {} ({device:?}, {} threads)",
        a.data
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        a.out.display(),
        tch::get_num_threads()
    );
    let loading = bar(0, "loading");
    let mut training: Option<indicatif::ProgressBar> = None;
    let mut announced = false;
    let started = std::time::Instant::now();
    let mut last_print = std::time::Instant::now();
    let mut smoothed = f64::NAN;
    let summary = fit::fit(&args, &mut |e| match e {
        Event::Loading { done, total } => {
            if let Some(b) = &loading {
                b.set_length(*total as u64);
                b.set_position(*done as u64);
            } else if done == total {
                println!("loaded {total} episodes");
            }
        }
        Event::Step {
            step,
            total,
            loss,
            lr,
        } => {
            if let Some(b) = &loading {
                b.finish_and_clear();
            }
            smoothed = if smoothed.is_nan() {
                loss.total
            } else {
                0.95 * smoothed + 0.05 * loss.total
            };
            if !announced {
                announced = true;
                training = bar(*total, "training");
                if let Some(b) = &training {
                    b.set_position(step - 1);
                } else {
                    println!("training from step {} of {total}", step - 1);
                }
            }
            match &training {
                Some(b) => {
                    b.set_position(*step);
                    b.set_prefix(format!("loss {smoothed:.3} lr {lr:.1e}"));
                }
                None => {
                    if last_print.elapsed().as_secs() >= 10 || step == total {
                        last_print = std::time::Instant::now();
                        println!(
                            "step {step}/{total}  loss {smoothed:.3} (progress {:.3} done {:.3} delta {:.3})  lr {lr:.1e}  {:.0} s",
                            loss.progress,
                            loss.done,
                            loss.delta,
                            started.elapsed().as_secs_f64()
                        );
                    }
                }
            }
        }
        Event::Checkpoint {
            step,
            metrics,
            done,
        } => {
            let line = format!(
                "step {step}: val VOC {:.3}  reversed {:.3}  done F1 {:.3} (frames {:.3})  false-done {:.3}  r {:.3}  | done at p >= {:.2} x{}  -> saved {}",
                metrics.voc,
                metrics.voc_reversed,
                metrics.done.f1,
                metrics.done.frame_f1,
                metrics.done.false_done_rate,
                metrics.pearson,
                done.threshold,
                done.k,
                a.out.display()
            );
            match &training {
                Some(b) => b.println(line),
                None => println!("{line}"),
            }
        }
    })?;
    if let Some(b) = &training {
        b.finish_and_clear();
    }
    println!(
        "trained {} steps in {:.0} s; checkpoint {} ({} parameters)",
        summary.steps,
        summary.seconds,
        a.out.display(),
        summary.manifest.training["parameters"]
    );
    Ok(())
}

/// Loads the episodes of `split` (and tasks) from `data`, in the model's views.
pub fn load_split(
    data: &[PathBuf],
    views: &[String],
    size: i64,
    split: &str,
    tasks: &[String],
    exclude: &[PathBuf],
) -> anyhow::Result<Vec<EpisodeData>> {
    let excluded: Vec<PathBuf> = exclude
        .iter()
        .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
        .collect();
    let wanted: Option<Split> = match split {
        "all" => None,
        s => Some(s.parse()?),
    };
    let listed = dataset::list(data)?;
    let dirs: Vec<PathBuf> = listed
        .into_iter()
        .filter(|(_, m)| wanted.is_none_or(|w| Split::of_seed(m.seed) == w))
        .filter(|(_, m)| tasks.is_empty() || tasks.contains(&m.scene))
        .filter(|(p, _)| {
            let c = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
            !excluded.contains(&c)
        })
        .map(|(p, _)| p)
        .collect();
    anyhow::ensure!(
        !dirs.is_empty(),
        "no {split} episodes{} in {}",
        if tasks.is_empty() {
            String::new()
        } else {
            format!(" of {}", tasks.join(", "))
        },
        data.iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let b = bar(dirs.len() as u64, "loading");
    let loaded = dataset::load_all(&dirs, views, size, threads(), &|| {
        if let Some(b) = &b {
            b.inc(1);
        }
    })?;
    if let Some(b) = b {
        b.finish_and_clear();
    }
    Ok(loaded)
}

/// One scored configuration: who, which views, per task.
#[derive(serde::Serialize)]
struct Row {
    predictor: String,
    views: String,
    tasks: BTreeMap<String, TaskMetrics>,
    all: TaskMetrics,
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<22} {:<18} {:<12} {:>4} {:>6} {:>7} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6}",
        "predictor",
        "views",
        "task",
        "eps",
        "VOC",
        "revVOC",
        "doneF1",
        "frmF1",
        "fDone",
        "tau",
        "r",
        "rFail"
    );
    for r in rows {
        let mut lines: Vec<(&str, &TaskMetrics)> =
            r.tasks.iter().map(|(k, v)| (k.as_str(), v)).collect();
        if r.tasks.len() > 1 {
            lines.push(("all", &r.all));
        }
        for (task, m) in lines {
            println!(
                "{:<22} {:<18} {:<12} {:>4} {:>6.3} {:>7.3} {:>6.3} {:>6.3} {:>6.3} {:>6.3} {:>6.3} {:>6.3}",
                r.predictor,
                r.views,
                task,
                m.episodes,
                m.voc,
                m.voc_reversed,
                m.done.f1,
                m.done.frame_f1,
                m.done.false_done_rate,
                m.ranking_tau,
                m.pearson,
                m.pearson_unsuccessful
            );
        }
    }
}

fn evaluate(a: &EvalArgs) -> anyhow::Result<()> {
    let device = parse_device(&a.device)?;
    let scorer = Scorer::load(&a.model, device)
        .with_context(|| format!("loading the model {}", a.model.display()))?;
    let views = scorer.views().to_vec();
    let episodes = load_split(
        &a.data,
        &views,
        scorer.image_size(),
        &a.split,
        &a.tasks,
        &a.exclude,
    )?;
    let refs: Vec<&EpisodeData> = episodes.iter().collect();
    let name = scorer.manifest.name.clone();
    let (thr, k) = (scorer.done.threshold, scorer.done.k);
    let goals = &scorer.goals;
    let mut rows = Vec::new();
    let model = ModelPredictor {
        scorer: &scorer,
        views: None,
        goals,
    };
    let per = eval::evaluate(&model, &refs, thr, k)?;
    rows.push(Row {
        predictor: name.clone(),
        views: views.join("+"),
        all: eval::overall(&per),
        tasks: per,
    });
    if !a.no_per_view && views.len() > 1 {
        for (i, v) in views.iter().enumerate() {
            let only: Vec<bool> = (0..views.len()).map(|j| j == i).collect();
            let refs_v: Vec<&EpisodeData> = refs.iter().copied().filter(|e| e.present[i]).collect();
            if refs_v.is_empty() {
                continue;
            }
            let p = ModelPredictor {
                scorer: &scorer,
                views: Some(only),
                goals,
            };
            let per = eval::evaluate(&p, &refs_v, thr, k)?;
            rows.push(Row {
                predictor: name.clone(),
                views: v.clone(),
                all: eval::overall(&per),
                tasks: per,
            });
        }
    }
    if a.baselines {
        let train = load_split(&a.data, &views, scorer.image_size(), "train", &a.tasks, &[])?;
        let blind = BlindTime::fit(train.iter());
        let per = eval::evaluate(&blind, &refs, 0.5, 1)?;
        rows.push(Row {
            predictor: "blind-time".into(),
            views: "none".into(),
            all: eval::overall(&per),
            tasks: per,
        });
    }
    if let Some(path) = &a.baseline_model {
        let other = Scorer::load(path, device)
            .with_context(|| format!("loading the baseline model {}", path.display()))?;
        let eps = if other.views() == views.as_slice() && other.image_size() == scorer.image_size()
        {
            None
        } else {
            Some(load_split(
                &a.data,
                other.views(),
                other.image_size(),
                &a.split,
                &a.tasks,
                &a.exclude,
            )?)
        };
        let refs_o: Vec<&EpisodeData> = eps
            .as_ref()
            .map_or_else(|| refs.clone(), |e| e.iter().collect());
        let p = ModelPredictor {
            scorer: &other,
            views: None,
            goals: &other.goals,
        };
        let per = eval::evaluate(&p, &refs_o, other.done.threshold, other.done.k)?;
        rows.push(Row {
            predictor: other.manifest.name.clone(),
            views: other.views().join("+"),
            all: eval::overall(&per),
            tasks: per,
        });
    }
    println!(
        "{} on {} {} episodes; done at p >= {thr:.2} for {k} frames (VOC: Spearman vs time on successes up to done; revVOC: reversed; doneF1: episodes with hysteresis; frmF1: frames; fDone: failed episodes where done fired; tau: Kendall final progress vs grade; r: Pearson vs privileged progress; rFail: on unsuccessful episodes)",
        name,
        refs.len(),
        a.split
    );
    print_table(&rows);
    if let Some(path) = &a.json {
        let json = serde_json::json!({
            "model": a.model.display().to_string(),
            "split": a.split,
            "done": scorer.done,
            "rows": rows,
        });
        write_json(path, &json)?;
        println!("wrote {}", path.display());
    }
    if let Some(path) = &a.traces {
        let csv = eval::traces_csv(&scorer, goals, &refs)?;
        striatum_reward::checkpoint::write_atomic(path, csv.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// Writes JSON atomically.
pub fn write_json(path: &Path, value: &serde_json::Value) -> anyhow::Result<()> {
    let bytes = serde_json::to_vec_pretty(value)?;
    striatum_reward::checkpoint::write_atomic(path, &bytes)
        .with_context(|| format!("writing {}", path.display()))
}

async fn serve(a: &ServeArgs, bus_args: &crate::bus_args::BusArgs) -> anyhow::Result<()> {
    let device = parse_device(&a.device)?;
    let scorer = Scorer::load(&a.model, device)
        .with_context(|| format!("loading the model {}", a.model.display()))?;
    let bus = crate::open(bus_args).await?;
    println!(
        "reward node: model {} ({:?} backend, views {}, done at p >= {:.2} for {} frames) on {device:?}; publishing striatum/@v1/<robot>/reward/progress; Ctrl-C to stop",
        scorer.manifest.name,
        scorer.manifest.backend,
        scorer.views().join(", "),
        scorer.done.threshold,
        scorer.done.k
    );
    let options = striatum_reward::node::NodeOptions {
        robots: a.robots.clone(),
        max_batch: a.max_batch,
        default_instruction: a.instruction.clone(),
    };
    let duration = a.duration;
    let stop = async move {
        match duration {
            Some(s) => tokio::time::sleep(std::time::Duration::from_secs_f64(s.max(0.0))).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    let stats = striatum_reward::node::run_node(&bus, scorer, &options, stop).await?;
    println!(
        "frames {}  published {}  rejected {} {:?}  undecodable {}  superseded {}  batches {}  episodes {}  robots {}",
        stats.frames,
        stats.published,
        stats.rejected_total(),
        stats.rejected,
        stats.decode_errors,
        stats.superseded,
        stats.batches,
        stats.episodes,
        stats.robots
    );
    bus.close().await?;
    Ok(())
}

fn adapt(a: &AdaptArgs) -> anyhow::Result<()> {
    let device = parse_device(&a.device)?;
    anyhow::ensure!(a.steps > 0, "--steps must be at least 1");
    let done = match (a.done_threshold, a.done_k) {
        (Some(threshold), Some(k)) => {
            anyhow::ensure!(
                (0.0..=1.0).contains(&threshold),
                "--done-threshold {threshold} is not in [0, 1]"
            );
            anyhow::ensure!(k >= 1, "--done-k must be at least 1");
            Some(striatum_reward::checkpoint::DoneCalibration {
                threshold,
                k,
                // Given, not calibrated on this model: no budget, no episodes.
                budget: 0.0,
                episodes: 0,
            })
        }
        _ => match &a.done_from {
            Some(dir) => Some(
                striatum_reward::checkpoint::read_manifest(dir)
                    .with_context(|| format!("--done-from {}", dir.display()))?
                    .done,
            ),
            None => None,
        },
    };
    let config = striatum_reward::adapt::AdaptConfig {
        steps: a.steps,
        seed: a.seed,
        done,
        ..Default::default()
    };
    let demo = striatum_reward::adapt::resolve_demo(&a.demo.display().to_string())?;
    let report = striatum_reward::adapt::adapt(&a.model, &demo, &a.out, &config, device)
        .with_context(|| format!("adapting {} to {}", a.model.display(), demo.display()))?;
    println!(
        "adapted {} to `{}` (\"{}\") from {} frames (done at frame {}, {} new words): loss {:.3} -> {:.3} in {:.1} s ({:.1} s encoding the demo); wrote {}",
        a.model.display(),
        report.task,
        report.instruction,
        report.frames,
        report.done_at,
        report.new_words,
        report.loss_before,
        report.loss_after,
        report.seconds,
        report.encode_seconds,
        a.out.display()
    );
    Ok(())
}

fn calibrate(a: &CalibrateArgs) -> anyhow::Result<()> {
    use striatum_reward::checkpoint::{MANIFEST, write_atomic};
    anyhow::ensure!(
        a.done_budget.is_finite() && (0.0..=1.0).contains(&a.done_budget),
        "--done-budget {} is not in [0, 1]",
        a.done_budget
    );
    anyhow::ensure!(
        !a.done_k.is_empty() && a.done_k.iter().all(|&k| k >= 1),
        "--done-k needs lengths of at least 1"
    );
    let device = parse_device(&a.device)?;
    let scorer = Scorer::load(&a.model, device)
        .with_context(|| format!("loading the model {}", a.model.display()))?;
    let episodes = load_split(
        &a.data,
        scorer.views(),
        scorer.image_size(),
        &a.split,
        &a.tasks,
        &a.exclude,
    )?;
    let refs: Vec<&EpisodeData> = episodes.iter().collect();
    let traces = eval::done_traces(&scorer, &scorer.goals, &refs)?;
    let (done, m) = eval::choose_operating_point(&traces, &a.done_k, a.done_budget);
    println!(
        "done at p >= {:.2} for {} frames on {} {} episodes (was p >= {:.2} for {}): done F1 {:.3}, false-done {:.3} (all episodes pooled), budget {}",
        done.threshold,
        done.k,
        refs.len(),
        a.split,
        scorer.done.threshold,
        scorer.done.k,
        m.f1,
        m.false_done_rate,
        a.done_budget
    );
    if a.dry_run {
        return Ok(());
    }
    let mut manifest = scorer.manifest.clone();
    manifest.done = done;
    let json = serde_json::to_vec_pretty(&manifest)?;
    let path = a.model.join(MANIFEST);
    write_atomic(&path, &json).with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

fn bench(a: &BenchArgs) -> anyhow::Result<()> {
    use striatum_reward::checkpoint::{Manifest, read_manifest};
    use striatum_reward::scorer::{Engine, ViewImages};
    use striatum_reward::{Model, ModelConfig};
    use tch::{Device, Kind, Tensor};
    let base = match &a.model {
        Some(dir) => read_manifest(dir)?,
        None => Manifest::untrained("bench", ModelConfig::new(vec!["front".into()], 64)),
    };
    let devices: Vec<Device> = match a.device.as_str() {
        "auto" => {
            let mut d = vec![Device::Cpu];
            if tch::Cuda::is_available() {
                d.push(Device::Cuda(0));
            }
            d
        }
        other => vec![parse_device(other)?],
    };
    println!(
        "reward model latency ({} parameters per view set; {} CPU threads); per query = one frame of all views, steady state (anchors cached)",
        Model::new(base.model.clone(), Device::Cpu)?.parameters(),
        tch::get_num_threads()
    );
    println!(
        "{:<8} {:>5} {:>5} {:>9} {:>9} {:>16}",
        "device",
        "views",
        "size",
        "p50 ms",
        "p99 ms",
        format!("batch {} fr/s", a.batch)
    );
    let mut rows = Vec::new();
    for &device in &devices {
        for views in [1usize, 3, 5] {
            for size in [128i64, 224] {
                let mut config = base.model.clone();
                config.views = (0..views).map(|i| format!("cam{i}")).collect();
                tch::manual_seed(0);
                let model = Model::new(config.clone(), device)?;
                let mut manifest = base.clone();
                manifest.model = config;
                let scorer = Scorer::from_parts(manifest, Engine::Native(Box::new(model)), device);
                let frame = || {
                    ViewImages(
                        (0..views)
                            .map(|_| {
                                Some(Tensor::randint(
                                    256,
                                    [3, size, size],
                                    (Kind::Uint8, Device::Cpu),
                                ))
                            })
                            .collect(),
                    )
                };
                let images = frame();
                let mut state = scorer.start_episode("push the cube", None);
                let mut times = Vec::with_capacity(a.queries);
                for i in 0..a.queries + 10 {
                    let t = std::time::Instant::now();
                    scorer.score(&mut [(&mut state, &images)])?;
                    if device != Device::Cpu {
                        tch::Cuda::synchronize(0);
                    }
                    if i >= 10 {
                        times.push(t.elapsed().as_secs_f64() * 1e3);
                    }
                }
                let batch_images: Vec<ViewImages> = (0..a.batch).map(|_| frame()).collect();
                let mut states: Vec<_> = (0..a.batch)
                    .map(|_| scorer.start_episode("push the cube", None))
                    .collect();
                let rounds = (a.queries / 10).max(3);
                let t = std::time::Instant::now();
                for _ in 0..rounds {
                    let mut items: Vec<_> = states.iter_mut().zip(batch_images.iter()).collect();
                    scorer.score(&mut items)?;
                }
                if device != Device::Cpu {
                    tch::Cuda::synchronize(0);
                }
                let fps = (rounds * a.batch) as f64 / t.elapsed().as_secs_f64();
                let p50 = striatum_reward::metrics::quantile(&mut times, 0.5);
                let p99 = striatum_reward::metrics::quantile(&mut times, 0.99);
                let dev = if device == Device::Cpu { "cpu" } else { "cuda" };
                println!("{dev:<8} {views:>5} {size:>5} {p50:>9.2} {p99:>9.2} {fps:>16.0}");
                rows.push(serde_json::json!({"device": dev, "views": views, "size": size, "p50_ms": p50, "p99_ms": p99, "batch": a.batch, "batched_frames_per_s": fps}));
            }
        }
    }
    Ok(())
}
