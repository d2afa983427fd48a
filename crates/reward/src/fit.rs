//! The training driver behind `striatum reward train`: loads datasets, trains, validates,
//! calibrates done, and checkpoints atomically; resumes from the last checkpoint.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

use crate::RewardError;
use crate::checkpoint::{self, Backend, DoneCalibration, Manifest, TokenizerSpec};
use crate::dataset::{self, EpisodeData, Split};
use crate::eval;
use crate::model::{Model, ModelConfig};
use crate::scorer::{Engine, Scorer};
use crate::tokenizer::WordTokenizer;
use crate::train::{self, AdamW, LossParts, Rng, Sampler, TrainConfig};

/// What `fit` needs.
#[derive(Debug, Clone)]
pub struct FitArgs {
    /// Dataset folders.
    pub data: Vec<PathBuf>,
    /// Checkpoint folder.
    pub out: PathBuf,
    /// Views to use (default: every camera in the data).
    pub views: Option<Vec<String>>,
    /// Encoder input side in pixels for a new model (default 64; a resumed run keeps its own).
    pub image_size: Option<i64>,
    /// Tasks to leave out of training (e.g. the one kept for adaptation).
    pub exclude_tasks: Vec<String>,
    /// Training settings.
    pub config: TrainConfig,
    /// Where to train.
    pub device: Device,
    /// Loader threads.
    pub threads: usize,
    /// Continue from `out/train/` when it exists.
    pub resume: bool,
    /// Done hysteresis lengths to choose from (calibrated on validation data).
    pub done_k: Vec<usize>,
    /// Done false-positive budget (fraction of never-done validation episodes, and of their
    /// frames, in which done may fire).
    pub done_budget: f64,
}

/// Reported while training.
#[derive(Debug, Clone)]
pub enum Event {
    /// Episodes are being loaded.
    Loading {
        /// Loaded so far.
        done: usize,
        /// To load.
        total: usize,
    },
    /// An optimiser step finished.
    Step {
        /// Steps done.
        step: u64,
        /// Steps in the run.
        total: u64,
        /// Losses of this step.
        loss: LossParts,
        /// Learning rate used.
        lr: f64,
    },
    /// Validation ran and a checkpoint was written.
    Checkpoint {
        /// Steps done.
        step: u64,
        /// Validation metrics (all tasks).
        metrics: eval::TaskMetrics,
        /// Done operating point.
        done: DoneCalibration,
    },
}

/// Saved between runs in `out/train/state.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TrainState {
    step: u64,
    rng: Rng,
    seconds: f64,
    config: TrainConfig,
}

/// Result of a run.
#[derive(Debug, Clone)]
pub struct FitSummary {
    /// Steps done in total.
    pub steps: u64,
    /// Training seconds in total (all runs).
    pub seconds: f64,
    /// Last validation metrics.
    pub metrics: eval::TaskMetrics,
    /// The manifest written.
    pub manifest: Manifest,
}

/// Counts of the data a model saw.
pub fn data_summary(data: &[PathBuf], episodes: &[&EpisodeData]) -> serde_json::Value {
    let mut per: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let mut steps = 0;
    for e in episodes {
        *per.entry(e.task().to_owned())
            .or_default()
            .entry(format!("{:?}", e.split()).to_lowercase())
            .or_default() += 1;
        steps += e.len();
    }
    serde_json::json!({
        "datasets": data.iter().map(|d| d.display().to_string()).collect::<Vec<_>>(),
        "episodes": per,
        "observations": steps,
        "split_rule": "seed % 10: 0-6 train, 7 val, 8-9 test",
    })
}

/// Trains (or resumes) and checkpoints to `args.out`.
pub fn fit(args: &FitArgs, on_event: &mut dyn FnMut(&Event)) -> Result<FitSummary, RewardError> {
    let listed = dataset::list(&args.data)?;
    let listed: Vec<_> = listed
        .into_iter()
        .filter(|(_, m)| !args.exclude_tasks.contains(&m.scene))
        .filter(|(_, m)| Split::of_seed(m.seed) != Split::Test)
        .collect();
    if listed.is_empty() {
        return Err(RewardError::Invalid(
            "no training or validation episodes in the given datasets".into(),
        ));
    }
    let resume_dir = args.out.join("train");
    let resuming = args.resume && resume_dir.join("state.json").is_file();
    let previous = if resuming {
        Some(checkpoint::read_manifest(&args.out)?)
    } else {
        None
    };
    let views = match (&previous, &args.views) {
        (Some(m), _) => m.model.views.clone(),
        (None, Some(v)) => v.clone(),
        (None, None) => dataset::camera_names(listed.iter().map(|(_, m)| m)),
    };
    let tokenizer = match &previous {
        Some(m) => m.tokenizer.build(),
        None => WordTokenizer::fit(
            listed
                .iter()
                .filter(|(_, m)| Split::of_seed(m.seed) == Split::Train)
                .map(|(_, m)| m.instruction.as_str()),
            16,
            0,
        ),
    };
    let tokenizer = if previous.is_none() {
        let n = tokenizer.vocab.len();
        WordTokenizer {
            capacity: n + 2 + 64,
            ..tokenizer
        }
    } else {
        tokenizer
    };
    let config = match &previous {
        Some(m) => m.model.clone(),
        None => {
            let mut c = ModelConfig::new(views.clone(), tokenizer.capacity as i64);
            if let Some(size) = args.image_size {
                c.image_size = size;
            }
            c
        }
    };
    let dirs: Vec<PathBuf> = listed.iter().map(|(p, _)| p.clone()).collect();
    let total = dirs.len();
    let counter = std::sync::atomic::AtomicUsize::new(0);
    let (tx, rx) = std::sync::mpsc::channel::<usize>();
    let tx = std::sync::Mutex::new(tx);
    let loaded = std::thread::scope(|s| {
        let h = s.spawn(|| {
            dataset::load_all(&dirs, &views, config.image_size, args.threads, &|| {
                let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if let Ok(tx) = tx.lock() {
                    let _ = tx.send(n);
                }
            })
        });
        drop(tx.lock().map(|t| t.clone()));
        while let Ok(n) = rx.recv_timeout(std::time::Duration::from_millis(200)) {
            on_event(&Event::Loading { done: n, total });
            if n >= total {
                break;
            }
        }
        h.join()
            .unwrap_or_else(|_| Err(RewardError::Invalid("the loader panicked".into())))
    })?;
    let train_eps: Vec<&EpisodeData> = loaded
        .iter()
        .filter(|e| e.split() == Split::Train)
        .collect();
    let val_eps: Vec<&EpisodeData> = loaded.iter().filter(|e| e.split() == Split::Val).collect();
    if train_eps.is_empty() || val_eps.is_empty() {
        return Err(RewardError::Invalid(format!(
            "need training and validation episodes (seed % 10 = 7 validates); have {} and {}",
            train_eps.len(),
            val_eps.len()
        )));
    }
    let tc = &args.config;
    let sampler = Sampler::new(train_eps.clone(), &tokenizer, tc)?;
    let tasks = sampler.tasks().to_vec();
    let mut model = crate::torch_rng::seeded(Some(tc.seed as i64), || {
        Model::new(config.clone(), args.device)
    })?;
    let mut opt = AdamW::new(&model.vs, tc.weight_decay, |_| true);
    let mut state = TrainState {
        step: 0,
        rng: Rng(tc.seed ^ 0x5EED),
        seconds: 0.0,
        config: tc.clone(),
    };
    if resuming {
        let w = args.out.join(checkpoint::WEIGHTS);
        model.vs.load(&w).map_err(|e| RewardError::Checkpoint {
            path: w.clone(),
            what: e.to_string(),
        })?;
        let sp = resume_dir.join("state.json");
        let text = std::fs::read_to_string(&sp).map_err(|e| RewardError::io(&sp, e))?;
        state = serde_json::from_str(&text).map_err(|e| RewardError::Checkpoint {
            path: sp.clone(),
            what: e.to_string(),
        })?;
        let op = resume_dir.join("optimizer.safetensors");
        let saved = Tensor::read_safetensors(&op).map_err(|e| RewardError::Checkpoint {
            path: op.clone(),
            what: e.to_string(),
        })?;
        opt.load_state(&saved, state.step)?;
        state.config.steps = tc.steps;
        tch::manual_seed((tc.seed ^ state.step) as i64);
    }
    let started = Instant::now();
    let base_seconds = state.seconds;
    let mut manifest = Manifest {
        format: checkpoint::FORMAT,
        name: args
            .out
            .file_name()
            .map_or_else(|| "reward".into(), |n| n.to_string_lossy().into_owned()),
        backend: Backend::Native,
        model: config.clone(),
        tokenizer: TokenizerSpec::of(&tokenizer),
        done: DoneCalibration::default(),
        tasks: tasks.clone(),
        data: data_summary(&args.data, &loaded.iter().collect::<Vec<_>>()),
        training: serde_json::Value::Null,
        metrics: serde_json::Value::Null,
        parent: None,
        created_unix: checkpoint::now_unix(),
    };
    let mut last_metrics = eval::TaskMetrics::default();
    let checkpoint_now = |model: Model,
                          step: u64,
                          state: &TrainState,
                          opt: &AdamW,
                          manifest: &mut Manifest,
                          last: &LossParts|
     -> Result<(Model, eval::TaskMetrics), RewardError> {
        let scorer = Scorer::from_parts(
            manifest.clone(),
            Engine::Native(Box::new(model)),
            args.device,
        );
        let no_goals = BTreeMap::new();
        let done = eval::calibrate(&scorer, &no_goals, &val_eps, &args.done_k, args.done_budget)?;
        let scorer = Scorer { done, ..scorer };
        let per = eval::evaluate(
            &eval::ModelPredictor {
                scorer: &scorer,
                views: None,
                goals: &no_goals,
            },
            &val_eps,
            done.threshold,
            done.k,
        )?;
        let all = eval::overall(&per);
        let Engine::Native(model) = scorer.engine else {
            return Err(RewardError::Invalid("training a non-native model".into()));
        };
        let model = *model;
        manifest.done = done;
        manifest.metrics =
            serde_json::json!({ "split": "val", "step": step, "all": all, "tasks": per });
        manifest.training = serde_json::json!({
            "config": state.config,
            "steps": step,
            "seconds": state.seconds,
            "parameters": model.parameters(),
            "last_loss": last,
            "device": format!("{:?}", args.device),
        });
        manifest.created_unix = checkpoint::now_unix();
        checkpoint::save(&args.out, manifest, &model)?;
        std::fs::create_dir_all(&resume_dir).map_err(|e| RewardError::io(&resume_dir, e))?;
        let op = resume_dir.join("optimizer.safetensors");
        let tmp = resume_dir.join(".optimizer.safetensors.tmp");
        Tensor::write_safetensors(&opt.state(), &tmp).map_err(|e| RewardError::Checkpoint {
            path: tmp.clone(),
            what: e.to_string(),
        })?;
        std::fs::rename(&tmp, &op).map_err(|e| RewardError::io(&op, e))?;
        let json = serde_json::to_vec_pretty(state)
            .map_err(|e| RewardError::Invalid(format!("training state: {e}")))?;
        checkpoint::write_atomic(&resume_dir.join("state.json"), &json)?;
        Ok((model, all))
    };
    let mut last = LossParts::default();
    while state.step < tc.steps {
        let batch = sampler.sample(tc.batch, &mut state.rng);
        let images = train::augment(&batch, tc, args.device);
        let (loss, parts) = train::loss(&model.net, &images, &batch, args.device);
        if !parts.total.is_finite() {
            return Err(RewardError::Invalid(format!(
                "the loss became {} at step {}",
                parts.total, state.step
            )));
        }
        opt.zero_grad();
        loss.backward();
        opt.clip(tc.grad_clip);
        let lr = train::learning_rate(tc, state.step);
        opt.update(lr);
        state.step += 1;
        state.seconds = base_seconds + started.elapsed().as_secs_f64();
        last = parts;
        on_event(&Event::Step {
            step: state.step,
            total: tc.steps,
            loss: parts,
            lr,
        });
        if state.step.is_multiple_of(tc.eval_every.max(1)) || state.step == tc.steps {
            let (m, all) = checkpoint_now(model, state.step, &state, &opt, &mut manifest, &last)?;
            model = m;
            last_metrics = all.clone();
            on_event(&Event::Checkpoint {
                step: state.step,
                metrics: all,
                done: manifest.done,
            });
        }
    }
    if manifest.metrics.is_null() {
        let (_, all) = checkpoint_now(model, state.step, &state, &opt, &mut manifest, &last)?;
        last_metrics = all;
    }
    Ok(FitSummary {
        steps: state.step,
        seconds: state.seconds,
        metrics: last_metrics,
        manifest,
    })
}

/// Whether `dir` holds a checkpoint.
pub fn is_checkpoint(dir: &Path) -> bool {
    dir.join(checkpoint::MANIFEST).is_file()
}
