//! One-shot adaptation to a new task from a single demonstration.
//!
//! The demo's frames are labelled by time: progress `t / T` up to the frame `T` at which the
//! demo is done (its last frame, or the first frame the recording marks as done), 1 and done
//! after it. The encoder's convolutions stay frozen: the demo's frames go through them once
//! under several random shifts and colour jitters, so each update (of the encoder's
//! projection, the text embedding and the heads) costs milliseconds. Synthetic negatives
//! come from the demo itself: rewinds (the previous frame later than the current one), shuffles
//! (a previous frame from anywhere), frozen frames (the same frame twice) and every frame
//! before `T` as "not done". The model is conditioned on the demo: its done frame becomes the
//! task's goal anchor, stored with the checkpoint (`goals.safetensors`) and used by the scorer
//! whenever an episode of that task starts. New instruction words get free embedding rows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::RewardError;
use crate::checkpoint::{self, Checkpoint, TokenizerSpec};
use crate::dataset;
use crate::model::{Anchors, two_hot};
use crate::tokenizer::Tokenizer;
use crate::train::{self, AdamW, Rng, TrainConfig};

/// File of per-task goal frames in a checkpoint folder.
pub const GOALS: &str = "goals.safetensors";

/// Settings of an adaptation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdaptConfig {
    /// Updates.
    pub steps: u64,
    /// Samples per update.
    pub batch: usize,
    /// Learning rate.
    pub lr: f64,
    /// Augmented copies of the demo to encode.
    pub augmentations: usize,
    /// Seed.
    pub seed: u64,
    /// Largest gap to the previous frame.
    pub max_gap: usize,
    /// The adapted model's done operating point (none: keep the base model's). One
    /// demonstration cannot calibrate it; `scripts/reward-model.sh` measures one on a task
    /// held out of a second base model (docs/reward.md, "Done calibration").
    pub done: Option<crate::checkpoint::DoneCalibration>,
}

impl Default for AdaptConfig {
    fn default() -> Self {
        Self {
            steps: 1000,
            batch: 128,
            lr: 5e-4,
            augmentations: 8,
            seed: 0,
            max_gap: 8,
            done: None,
        }
    }
}

/// What an adaptation did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdaptReport {
    /// The new task.
    pub task: String,
    /// Its instruction.
    pub instruction: String,
    /// Demo frames.
    pub frames: usize,
    /// Frame at which the demo is done.
    pub done_at: usize,
    /// Words added to the vocabulary.
    pub new_words: usize,
    /// Loss before and after.
    pub loss_before: f64,
    /// Loss after the last update.
    pub loss_after: f64,
    /// Wall-clock seconds in all.
    pub seconds: f64,
    /// Of which encoding the demo.
    pub encode_seconds: f64,
    /// Of which the updates.
    pub train_seconds: f64,
    /// Settings.
    pub config: AdaptConfig,
}

/// Reads a checkpoint's goal frames (task -> uint8 `[V, 3, S, S]`); empty when it has none.
pub fn load_goals(dir: &Path) -> Result<BTreeMap<String, Tensor>, RewardError> {
    let path = dir.join(GOALS);
    if !path.is_file() {
        return Ok(BTreeMap::new());
    }
    let named = Tensor::read_safetensors(&path).map_err(|e| RewardError::Checkpoint {
        path: path.clone(),
        what: e.to_string(),
    })?;
    Ok(named.into_iter().collect())
}

/// Adapts the native model in `base` to the task of the demo episode folder `demo`; writes
/// the adapted checkpoint to `out`.
pub fn adapt(
    base: &Path,
    demo: &Path,
    out: &Path,
    config: &AdaptConfig,
    device: Device,
) -> Result<AdaptReport, RewardError> {
    let started = Instant::now();
    let Checkpoint {
        mut manifest,
        model,
    } = Checkpoint::load(base, device)?;
    let net = &model.net;
    let views = manifest.model.views.clone();
    let ep = dataset::load(demo, &views, manifest.model.image_size)?;
    if !ep.present.iter().any(|&p| p) {
        return Err(RewardError::Invalid(format!(
            "{}: the demo has none of the model's views ({})",
            demo.display(),
            views.join(", ")
        )));
    }
    let n = ep.len();
    if n < 4 {
        return Err(RewardError::Invalid(format!(
            "{}: a demo needs at least 4 frames, it has {n}",
            demo.display()
        )));
    }
    let done_at = ep.first_done().unwrap_or(n - 1).max(1);
    let labels: Vec<f32> = (0..n)
        .map(|t| (t as f32 / done_at as f32).min(1.0))
        .collect();
    let done: Vec<f32> = (0..n)
        .map(|t| if t >= done_at { 1.0 } else { 0.0 })
        .collect();
    let task = ep.task().to_owned();
    let instruction = ep.meta.instruction.clone();
    let mut tokenizer = manifest.tokenizer.build();
    let new_words = tokenizer.extend(&instruction);
    let tokens = tokenizer.encode(&instruction);

    // Encode augmented copies of the demo once (frozen encoder).
    tch::manual_seed(config.seed as i64);
    let tc = TrainConfig::default();
    let v = views.len() as i64;
    let present: Vec<f32> = ep
        .present
        .iter()
        .map(|&p| if p { 1.0 } else { 0.0 })
        .collect();
    let emb = tch::no_grad(|| {
        let mut copies = Vec::new();
        for a in 0..config.augmentations.max(1) {
            let frames = ep.frames.to_device(device);
            let x = if a == 0 {
                frames.to_kind(Kind::Float) / 255.0
            } else {
                // Reuse the training augmentation on (frames, frames, frames, frames).
                let b = train::Batch {
                    current: frames.shallow_clone(),
                    reference: frames.shallow_clone(),
                    previous: frames.shallow_clone(),
                    goal: frames.shallow_clone(),
                    goal_mask: Tensor::zeros([n as i64], (Kind::Float, device)),
                    view_mask: Tensor::ones([n as i64, v], (Kind::Float, device)),
                    tokens: Tensor::zeros([n as i64, 1], (Kind::Int64, device)),
                    progress: Tensor::zeros([n as i64], (Kind::Float, device)),
                    done: Tensor::zeros([n as i64], (Kind::Float, device)),
                    delta: Tensor::zeros([n as i64], (Kind::Float, device)),
                };
                train::augment(&b, &tc, device).narrow(0, 0, n as i64)
            };
            let mut parts = Vec::new();
            let mut i = 0;
            while i < n as i64 {
                let k = 64.min(n as i64 - i);
                let chunk = x.narrow(0, i, k);
                let s = chunk.size();
                let f = net
                    .encoder
                    .features(&chunk.reshape([s[0] * s[1], s[2], s[3], s[4]]));
                parts.push(f.reshape([s[0], s[1], -1]));
                i += k;
            }
            copies.push(Tensor::cat(&parts, 0));
        }
        Tensor::stack(&copies, 0) // [A, T, V, F]: convolutional features
    });
    let a_count = emb.size()[0] as usize;
    let encode_seconds = started.elapsed().as_secs_f64();

    // Grow the token table if words were added (rows are reserved, nothing to resize).
    let mut opt = AdamW::new(&model.vs, 1e-4, |name| {
        !name.starts_with("encoder.conv") && !name.starts_with("encoder.gn")
    });
    let mut rng = Rng(config.seed ^ 0xADA7);
    let b = config.batch.max(8);
    let mask = Tensor::from_slice(&present)
        .view([1, v])
        .expand([b as i64, v], false)
        .to_device(device);
    let tok = Tensor::from_slice(&tokens)
        .view([1, -1])
        .expand([b as i64, -1], false)
        .to_device(device);
    let step_loss = |rng: &mut Rng| -> Tensor {
        let (mut ci, mut ri, mut pi, mut gi) = (vec![], vec![], vec![], vec![]);
        let (mut y, mut d, mut dy, mut gm) = (vec![], vec![], vec![], vec![]);
        for _ in 0..b {
            let a = rng.below(a_count) as i64;
            // A third of the samples sit around the done frame, where done is decided.
            let t = if rng.chance(0.3) {
                (done_at + rng.below(10)).saturating_sub(6).min(n - 1)
            } else {
                rng.below(n)
            };
            let gap = 1 + rng.below(config.max_gap.max(1));
            let p = match rng.below(10) {
                0 => t,                        // frozen
                1 | 2 => (t + gap).min(n - 1), // rewind
                3 => rng.below(n),             // shuffle
                _ => t.saturating_sub(gap),    // forward
            };
            ci.push(a * n as i64 + t as i64);
            ri.push(a * n as i64);
            pi.push(a * n as i64 + p as i64);
            gi.push(rng.below(a_count) as i64 * n as i64 + done_at as i64);
            gm.push(if rng.chance(0.8) { 1f32 } else { 0.0 });
            y.push(labels[t]);
            d.push(done[t]);
            dy.push(labels[t] - labels[p]);
        }
        let flat = emb.reshape([(a_count * n) as i64, v, -1]);
        let pick = |idx: &[i64]| {
            net.encoder
                .project(&flat.index_select(0, &Tensor::from_slice(idx).to_device(device)))
        };
        let gmask = Tensor::from_slice(&gm).to_device(device);
        let anchors = Anchors {
            reference: pick(&ri),
            previous: pick(&pi),
            goal: pick(&gi) * gmask.view([-1, 1, 1]),
            goal_mask: gmask,
        };
        let text = net.encode_text(&tok);
        let out = net.heads(&pick(&ci), &anchors, &mask, &text);
        let y = Tensor::from_slice(&y).to_device(device);
        let d = Tensor::from_slice(&d).to_device(device);
        let dy = Tensor::from_slice(&dy).to_device(device);
        let target = two_hot(&y, net.config.bins);
        let l_prog = -(&target * &out.log_probs)
            .sum_dim_intlist(-1, false, Kind::Float)
            .mean(Kind::Float);
        let l_view = -(target.unsqueeze(1) * &out.view_log_probs)
            .sum_dim_intlist(-1, false, Kind::Float)
            .mean(Kind::Float);
        let l_done = out
            .done_prob
            .clamp(1e-6, 1.0 - 1e-6)
            .binary_cross_entropy::<Tensor>(&d, None, tch::Reduction::Mean);
        let l_delta = ((&out.delta - &dy) * 5.0).smooth_l1_loss(
            &Tensor::zeros_like(&dy),
            tch::Reduction::Mean,
            1.0,
        );
        l_prog + l_view * 0.5 + l_done + l_delta
    };
    let loss_before = tch::no_grad(|| step_loss(&mut Rng(7)).double_value(&[]));
    let mut loss_after = loss_before;
    for s in 0..config.steps {
        let loss = step_loss(&mut rng);
        opt.zero_grad();
        loss.backward();
        opt.clip(1.0);
        let lr = config.lr
            * (0.1
                + 0.9
                    * 0.5
                    * (1.0 + (std::f64::consts::PI * s as f64 / config.steps as f64).cos()));
        opt.update(lr);
        loss_after = loss.double_value(&[]);
    }
    let goal_frames = ep.frames.get(done_at as i64).contiguous();
    let seconds = started.elapsed().as_secs_f64();
    let report = AdaptReport {
        task: task.clone(),
        instruction: instruction.clone(),
        frames: n,
        done_at,
        new_words,
        loss_before,
        loss_after,
        seconds,
        encode_seconds,
        train_seconds: seconds - encode_seconds,
        config: config.clone(),
    };
    // Keep the goals of the base model and add this task's.
    let mut goals = load_goals(base)?;
    goals.insert(task.clone(), goal_frames);
    manifest.parent = Some(manifest.name.clone());
    manifest.name = out.file_name().map_or_else(
        || format!("{}-{task}", manifest.name),
        |n| n.to_string_lossy().into_owned(),
    );
    manifest.tokenizer = TokenizerSpec::of(&tokenizer);
    if !manifest.tasks.contains(&task) {
        manifest.tasks.push(task.clone());
    }
    manifest.training = serde_json::json!({
        "base": manifest.training,
        "adaptation": report,
        "demo": demo.display().to_string(),
    });
    manifest.metrics = serde_json::Value::Null;
    if let Some(done) = config.done {
        manifest.done = done;
    }
    manifest.created_unix = checkpoint::now_unix();
    let json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| RewardError::Invalid(format!("manifest: {e}")))?;
    let named: Vec<(String, Tensor)> = goals
        .into_iter()
        .map(|(k, t)| (k, t.contiguous()))
        .collect();
    checkpoint::write_dir(out, |tmp| {
        let w = tmp.join(checkpoint::WEIGHTS);
        model.vs.save(&w).map_err(|e| RewardError::Checkpoint {
            path: w.clone(),
            what: e.to_string(),
        })?;
        let g = tmp.join(GOALS);
        Tensor::write_safetensors(&named, &g).map_err(|e| RewardError::Checkpoint {
            path: g.clone(),
            what: e.to_string(),
        })?;
        let m = tmp.join(checkpoint::MANIFEST);
        std::fs::write(&m, &json).map_err(|e| RewardError::io(&m, e))
    })?;
    Ok(report)
}

/// The episode folder of a dataset's episode given as `DIR` or `DIR:INDEX`.
pub fn resolve_demo(spec: &str) -> Result<PathBuf, RewardError> {
    let path = PathBuf::from(spec);
    if path.join("episode.json").is_file() {
        return Ok(path);
    }
    Err(RewardError::Invalid(format!(
        "--demo {spec}: not an episode folder (it has no episode.json)"
    )))
}
