//! The [`Message`] trait: a type with a name, a CDR layout and invariants.

use crate::cdr::{CdrReader, CdrWriter};
use crate::error::{DecodeError, EncodeError, ValidationError};

/// A struct that can be written to and read from CDR (a message or a part of one).
pub trait CdrStruct: Sized {
    /// Appends this value's fields to `w` in declaration order.
    fn write_cdr(&self, w: &mut CdrWriter) -> Result<(), EncodeError>;
    /// Reads this value's fields from `r` in declaration order.
    fn read_cdr(r: &mut CdrReader<'_>) -> Result<Self, DecodeError>;
    /// Checks the invariants documented for this type.
    fn validate(&self) -> Result<(), ValidationError> {
        Ok(())
    }
}

/// A top-level message: a [`CdrStruct`] with a fully qualified type name.
///
/// The type name travels with every sample (as the Zenoh encoding's schema), so a receiver can
/// reject a payload meant for another type before parsing it.
pub trait Message: CdrStruct + Clone + PartialEq + std::fmt::Debug + Send + Sync + 'static {
    /// ROS 2 style type name, e.g. `sensor_msgs/msg/JointState`.
    const TYPE_NAME: &'static str;

    /// Validates and encodes the message (encapsulation header included).
    fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        self.validate()?;
        let mut w = CdrWriter::with_capacity(self.encoded_size_hint());
        self.write_cdr(&mut w)?;
        Ok(w.into_bytes())
    }

    /// Decodes and validates a payload produced by [`Message::encode`] or any CDR peer.
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = CdrReader::new(bytes)?;
        let msg = Self::read_cdr(&mut r)?;
        r.finish()?;
        msg.validate()?;
        Ok(msg)
    }

    /// A guess of the encoded size, used to size the buffer once.
    fn encoded_size_hint(&self) -> usize {
        256
    }
}
