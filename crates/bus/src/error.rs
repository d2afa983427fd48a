//! The bus's error type.

use std::path::PathBuf;
use std::time::Duration;

use striatum_msgs::{DecodeError, EncodeError, TopicError};
use thiserror::Error;

/// Anything that can go wrong on the bus.
#[derive(Debug, Error)]
pub enum BusError {
    /// A configuration value was rejected.
    #[error("invalid bus configuration: {0}")]
    Config(String),
    /// A Zenoh configuration file could not be read or parsed.
    #[error("cannot use Zenoh configuration file {}: {reason}", path.display())]
    ConfigFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Zenoh itself failed (opening a session, declaring an entity, sending).
    #[error("zenoh: {0}")]
    Zenoh(String),
    /// A topic or node name is not acceptable.
    #[error(transparent)]
    Topic(#[from] TopicError),
    /// A message could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// A payload could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Nothing arrived in time.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The subscription or session is closed.
    #[error("the subscription is closed")]
    Closed,
    /// A service answered with an error.
    #[error("service `{key}` replied with an error: {message}")]
    Remote {
        /// The service key.
        key: String,
        /// Its error text.
        message: String,
    },
}

impl BusError {
    pub(crate) fn zenoh(err: impl std::fmt::Display) -> Self {
        BusError::Zenoh(err.to_string())
    }
}
