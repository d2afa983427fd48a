//! Striatum's wire protocol: message types, their CDR codec and topic keys.
//!
//! Every message is encoded as CDR little-endian with the ROS 2 encapsulation header, so
//! [`JointState`] and [`Image`] are byte-compatible with ROS 2's `sensor_msgs` and every type is
//! readable from Python with `pycdr2` using the layout documented in `docs/wire-format.md`.
//! Decoding validates lengths, shapes, enumerations and finiteness and returns a typed
//! [`DecodeError`]; it never panics on bad input.
//!
//! ```
//! use striatum_msgs::{Header, JointState, Message};
//!
//! let msg = JointState {
//!     header: Header::new(1_500_000_000, "base_link"),
//!     names: vec!["shoulder_pan".into()],
//!     positions: vec![0.25],
//!     ..Default::default()
//! };
//! let bytes = msg.encode()?;
//! assert_eq!(JointState::decode(&bytes)?, msg);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod any;
pub mod cdr;
mod error;
pub mod examples;
mod message;
pub mod topics;
mod types;
mod wire_enum;

pub use any::{AnyMessage, TYPE_NAMES};
pub use error::{DecodeError, EncodeError, ValidationError};
pub use message::{CdrStruct, Message};
pub use topics::{Topic, TopicError, TopicParts};
pub use types::*;
