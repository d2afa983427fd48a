//! Checkpoints: a folder with `model.safetensors` (weights) and `manifest.json`
//! (architecture, views, image size, tokenizer and vocabulary, done calibration, data summary,
//! training settings, metrics). A TorchScript model is a folder with `model.pt` and a manifest
//! whose `backend` is `torchscript` (the input/output contract is in `docs/reward.md`).
//!
//! Saving writes a complete new folder beside the old one and swaps them with renames, so a
//! reader sees the old checkpoint or the new one, never a mix; entries of the old folder the
//! new one does not have (the `train/` state) are carried over.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::Device;

use crate::RewardError;
use crate::model::{Model, ModelConfig};
use crate::tokenizer::WordTokenizer;

/// Version of the manifest format.
pub const FORMAT: u32 = 1;
/// File name of the manifest.
pub const MANIFEST: &str = "manifest.json";
/// File name of native weights.
pub const WEIGHTS: &str = "model.safetensors";
/// File name of a TorchScript module.
pub const TORCHSCRIPT: &str = "model.pt";

/// How the weights are stored and run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Our network, weights in safetensors.
    Native,
    /// A TorchScript module following the documented contract.
    Torchscript,
}

/// The instruction tokenizer and its vocabulary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum TokenizerSpec {
    /// [`WordTokenizer`].
    Word {
        /// Known words (word `i` has id `i + 2`).
        vocab: Vec<String>,
        /// Tokens per instruction.
        max_tokens: usize,
        /// Embedding rows.
        capacity: usize,
    },
}

impl TokenizerSpec {
    /// The tokenizer this describes.
    pub fn build(&self) -> WordTokenizer {
        match self {
            TokenizerSpec::Word {
                vocab,
                max_tokens,
                capacity,
            } => WordTokenizer {
                vocab: vocab.clone(),
                max_tokens: *max_tokens,
                capacity: *capacity,
            },
        }
    }

    /// The description of a tokenizer.
    pub fn of(t: &WordTokenizer) -> Self {
        TokenizerSpec::Word {
            vocab: t.vocab.clone(),
            max_tokens: t.max_tokens,
            capacity: t.capacity,
        }
    }
}

/// The done operating point: fire after `k` consecutive frames at or above `threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoneCalibration {
    /// Probability threshold.
    pub threshold: f64,
    /// Consecutive frames needed.
    pub k: usize,
    /// The false-positive budget it was calibrated to (fraction of not-done validation
    /// frames at which done may fire).
    pub budget: f64,
    /// How many validation episodes it was calibrated on.
    pub episodes: usize,
}

impl Default for DoneCalibration {
    fn default() -> Self {
        Self {
            threshold: 0.5,
            k: 3,
            budget: 0.005,
            episodes: 0,
        }
    }
}

/// Everything about a checkpoint except its weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Manifest format version.
    pub format: u32,
    /// Model name (the `model_id` it publishes).
    pub name: String,
    /// How the weights are stored.
    pub backend: Backend,
    /// Architecture (for TorchScript: views, image size and bins the module expects).
    pub model: ModelConfig,
    /// Instruction tokenizer.
    pub tokenizer: TokenizerSpec,
    /// Done operating point.
    pub done: DoneCalibration,
    /// Tasks it was trained or adapted on.
    pub tasks: Vec<String>,
    /// What it was trained on (datasets, episodes per split, steps).
    #[serde(default)]
    pub data: serde_json::Value,
    /// Training settings and record.
    #[serde(default)]
    pub training: serde_json::Value,
    /// Latest validation metrics.
    #[serde(default)]
    pub metrics: serde_json::Value,
    /// The model it was adapted from, if any.
    #[serde(default)]
    pub parent: Option<String>,
    /// Seconds since the Unix epoch when written.
    pub created_unix: u64,
}

impl Manifest {
    /// A manifest for an untrained model of `config` (benchmarks, tests).
    pub fn untrained(name: &str, config: ModelConfig) -> Self {
        let tokenizer = WordTokenizer {
            vocab: Vec::new(),
            max_tokens: 16,
            capacity: config.vocab_capacity.max(2) as usize,
        };
        Self {
            format: FORMAT,
            name: name.to_owned(),
            backend: Backend::Native,
            model: config,
            tokenizer: TokenizerSpec::of(&tokenizer),
            done: DoneCalibration::default(),
            tasks: Vec::new(),
            data: serde_json::Value::Null,
            training: serde_json::Value::Null,
            metrics: serde_json::Value::Null,
            parent: None,
            created_unix: now_unix(),
        }
    }
}

/// Seconds since the Unix epoch.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Reads and checks a manifest.
pub fn read_manifest(dir: &Path) -> Result<Manifest, RewardError> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(|e| RewardError::io(&path, e))?;
    let m: Manifest = serde_json::from_str(&text).map_err(|e| RewardError::Checkpoint {
        path: path.clone(),
        what: e.to_string(),
    })?;
    if m.format != FORMAT {
        return Err(RewardError::Checkpoint {
            path,
            what: format!("format {} (this build reads {FORMAT})", m.format),
        });
    }
    m.model.validate().map_err(|e| RewardError::Checkpoint {
        path: path.clone(),
        what: e.to_string(),
    })?;
    Ok(m)
}

/// Writes `bytes` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RewardError> {
    let tmp = temp_beside(path);
    std::fs::write(&tmp, bytes).map_err(|e| RewardError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| RewardError::io(path, e))
}

fn temp_beside(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Writes a checkpoint folder atomically: `write` fills a fresh folder, then it replaces `dir`.
pub fn write_dir(
    dir: &Path,
    write: impl FnOnce(&Path) -> Result<(), RewardError>,
) -> Result<(), RewardError> {
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| RewardError::io(parent, e))?;
    let tmp = temp_beside(dir);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| RewardError::io(&tmp, e))?;
    }
    std::fs::create_dir(&tmp).map_err(|e| RewardError::io(&tmp, e))?;
    write(&tmp)?;
    if dir.exists() {
        // Carry over what the new folder does not have (training state).
        let entries = std::fs::read_dir(dir).map_err(|e| RewardError::io(dir, e))?;
        for entry in entries.flatten() {
            let target = tmp.join(entry.file_name());
            if !target.exists() {
                std::fs::rename(entry.path(), &target).map_err(|e| RewardError::io(&target, e))?;
            }
        }
        let old = dir.with_file_name(format!(
            ".{}.old-{}",
            dir.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            std::process::id()
        ));
        std::fs::rename(dir, &old).map_err(|e| RewardError::io(dir, e))?;
        std::fs::rename(&tmp, dir).map_err(|e| RewardError::io(dir, e))?;
        std::fs::remove_dir_all(&old).map_err(|e| RewardError::io(&old, e))?;
    } else {
        std::fs::rename(&tmp, dir).map_err(|e| RewardError::io(dir, e))?;
    }
    Ok(())
}

/// A native checkpoint in memory.
#[derive(Debug)]
pub struct Checkpoint {
    /// Its manifest.
    pub manifest: Manifest,
    /// Its model.
    pub model: Model,
}

impl Checkpoint {
    /// Loads a native checkpoint onto `device`.
    pub fn load(dir: &Path, device: Device) -> Result<Self, RewardError> {
        let manifest = read_manifest(dir)?;
        if manifest.backend != Backend::Native {
            return Err(RewardError::Checkpoint {
                path: dir.join(MANIFEST),
                what: "a TorchScript model has no native weights (use the scorer)".into(),
            });
        }
        // Its initial values are replaced by the weights; draw them under the generator lock
        // so a seeded initialisation in another thread is not disturbed.
        let mut model =
            crate::torch_rng::seeded(None, || Model::new(manifest.model.clone(), device))?;
        let path = dir.join(WEIGHTS);
        if !path.is_file() {
            return Err(RewardError::Checkpoint {
                path,
                what: "missing".into(),
            });
        }
        model.vs.load(&path).map_err(|e| RewardError::Checkpoint {
            path: path.clone(),
            what: e.to_string(),
        })?;
        Ok(Self { manifest, model })
    }

    /// Saves it to `dir` atomically.
    pub fn save(&self, dir: &Path) -> Result<(), RewardError> {
        save(dir, &self.manifest, &self.model)
    }
}

/// Saves `model` with `manifest` to `dir` atomically.
pub fn save(dir: &Path, manifest: &Manifest, model: &Model) -> Result<(), RewardError> {
    let json = serde_json::to_vec_pretty(manifest)
        .map_err(|e| RewardError::Invalid(format!("manifest: {e}")))?;
    write_dir(dir, |tmp| {
        let w = tmp.join(WEIGHTS);
        model.vs.save(&w).map_err(|e| RewardError::Checkpoint {
            path: w.clone(),
            what: e.to_string(),
        })?;
        let m = tmp.join(MANIFEST);
        std::fs::write(&m, &json).map_err(|e| RewardError::io(&m, e))
    })
}
