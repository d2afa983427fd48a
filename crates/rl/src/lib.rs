//! Reinforcement learning from progress rewards: potential-based shaping ([`shaping`]),
//! replay buffers that mix demonstrations with online data ([`buffer`]), `n`-step returns
//! ([`nstep`]), a SAC learner
//! with the RLPD recipe ([`sac`]), actors and learner over the bus ([`transport`]) and the
//! learner and actor loops ([`learner`], [`actor`]), and the simulator's tasks in the
//! learner's terms ([`simtask`]).

pub mod actor;
pub mod buffer;
pub mod learner;
pub mod nstep;
pub mod sac;
pub mod shaping;
pub mod simtask;
pub mod transport;

use std::path::Path;

use thiserror::Error;

pub use buffer::{Batch, ReplayBuffer, Transition};
pub use nstep::NStepReturns;
pub use sac::{Policy, Sac, SacConfig, UpdateStats};
pub use shaping::{Potential, ShapingConfig, StepEnd};

/// What can go wrong in the learning stack.
#[derive(Debug, Error)]
pub enum RlError {
    /// A setting is out of range; the message names it.
    #[error("bad config: {0}")]
    Config(String),
    /// An input (a transition, an observation, a file's contents) is unusable; the message
    /// says which and why.
    #[error("bad input: {0}")]
    Input(String),
    /// Training produced non-finite numbers.
    #[error("learner diverged: {0}")]
    Diverged(String),
    /// libtorch refused an operation.
    #[error("torch: {0}")]
    Torch(String),
    /// The bus refused an operation.
    #[error("transport: {0}")]
    Transport(String),
    /// A file could not be read or written.
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so a
/// reader never sees a half-written file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RlError> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    std::fs::write(&tmp, bytes).map_err(|e| RlError::Io(tmp.display().to_string(), e))?;
    std::fs::rename(&tmp, path).map_err(|e| RlError::Io(path.display().to_string(), e))
}
