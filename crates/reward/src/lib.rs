//! Striatum's process reward model (`docs/reward.md`).
//!
//! A vision-language model that watches a task through any number of named cameras and says
//! how far along it is (a distribution over progress bins), how much that changed since the
//! previous frame, whether the task is done, how sure it is, and what each view thinks.
//!
//! - [`model`]: the network (tch) and its structured outputs.
//! - [`tokenizer`]: instruction tokenizers (pluggable; the manifest names the one used).
//! - [`dataset`]: recorded episodes in memory, labels and splits by seed.
//! - [`train`]: sampling, augmentation, losses, AdamW with resumable state.
//! - [`fit`]: the training driver (validation, done calibration, checkpoints, resume).
//! - [`checkpoint`]: safetensors weights + JSON manifest, written atomically; TorchScript.
//! - [`scorer`]: per-episode inference state (what the node and the evaluator run).
//! - [`eval`]: the metric harness and the baselines.
//! - [`adapt`]: one-shot adaptation from a single demonstration.
//! - [`node`]: the reward node on the bus.
//! - [`metrics`]: VOC, done detection, ranking, correlations.

pub mod adapt;
pub mod checkpoint;
pub mod dataset;
pub mod eval;
pub mod fit;
pub mod metrics;
pub mod model;
pub mod node;
pub mod scorer;
pub mod tokenizer;
pub mod torch_rng;
pub mod train;

use std::path::PathBuf;

pub use checkpoint::{Checkpoint, Manifest};
pub use model::{Model, ModelConfig, Outputs, RewardNet};
pub use scorer::{Estimate, Scorer};

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum RewardError {
    /// libtorch refused an operation.
    #[error("torch: {0}")]
    Torch(#[from] tch::TchError),
    /// A dataset could not be read.
    #[error(transparent)]
    Data(#[from] striatum_data::DataError),
    /// A file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A checkpoint file is missing something or holds something unexpected.
    #[error("{}: {what}", path.display())]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// Arguments or data that cannot be used.
    #[error("{0}")]
    Invalid(String),
    /// A frame the model cannot score (wrong shape, encoding or view).
    #[error("frame rejected: {0}")]
    BadFrame(String),
    /// The bus failed.
    #[error(transparent)]
    Bus(#[from] striatum_bus::BusError),
}

impl RewardError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// Parses `auto`, `cpu`, `cuda` or `cuda:N` (`auto` = the first GPU when there is one).
pub fn parse_device(s: &str) -> Result<tch::Device, RewardError> {
    match s {
        "auto" => Ok(tch::Device::cuda_if_available()),
        "cpu" => Ok(tch::Device::Cpu),
        "cuda" | "gpu" => {
            if tch::Cuda::is_available() {
                Ok(tch::Device::Cuda(0))
            } else {
                Err(RewardError::Invalid(
                    "--device cuda: no CUDA device is available".into(),
                ))
            }
        }
        other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(i)) if (i as i64) < tch::Cuda::device_count() => Ok(tch::Device::Cuda(i)),
            Some(Ok(i)) => Err(RewardError::Invalid(format!(
                "--device cuda:{i}: only {} CUDA devices",
                tch::Cuda::device_count()
            ))),
            _ => Err(RewardError::Invalid(format!(
                "--device `{other}`: expected auto, cpu, cuda or cuda:N"
            ))),
        },
    }
}
