//! Typed errors for encoding, decoding and validating messages.

use thiserror::Error;

/// A message broke one of its documented invariants (shared by encoder and decoder).
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ValidationError {
    /// A float that must be finite was NaN or infinite.
    #[error("field `{field}` is not finite ({value})")]
    NonFinite {
        /// Dotted path of the offending field.
        field: String,
        /// The value found.
        value: f64,
    },
    /// A number lies outside its documented range.
    #[error("field `{field}` = {value} is outside [{min}, {max}]")]
    OutOfRange {
        /// Dotted path of the offending field.
        field: String,
        /// The value found.
        value: f64,
        /// Smallest allowed value.
        min: f64,
        /// Largest allowed value.
        max: f64,
    },
    /// Declared dimensions disagree with the number of bytes or elements present.
    #[error("shape mismatch in `{field}`: expected {expected} elements/bytes, found {found}")]
    ShapeMismatch {
        /// Dotted path of the offending field.
        field: String,
        /// What the declared shape implies.
        expected: u64,
        /// What is actually there.
        found: u64,
    },
    /// An enumeration field holds a value with no meaning.
    #[error("field `{field}` holds unknown value {value:?}")]
    UnknownValue {
        /// Dotted path of the offending field.
        field: String,
        /// The value found, as text.
        value: String,
    },
    /// Any other broken invariant, with a sentence saying which.
    #[error("field `{field}`: {reason}")]
    Inconsistent {
        /// Dotted path of the offending field.
        field: String,
        /// What is wrong.
        reason: String,
    },
}

impl ValidationError {
    /// The dotted path of the offending field.
    pub fn field(&self) -> &str {
        match self {
            Self::NonFinite { field, .. }
            | Self::OutOfRange { field, .. }
            | Self::ShapeMismatch { field, .. }
            | Self::UnknownValue { field, .. }
            | Self::Inconsistent { field, .. } => field,
        }
    }

    /// The same error with `path` put in front of its field (for nested structs).
    pub fn prefixed(mut self, path: &str) -> Self {
        let field = match &mut self {
            Self::NonFinite { field, .. }
            | Self::OutOfRange { field, .. }
            | Self::ShapeMismatch { field, .. }
            | Self::UnknownValue { field, .. }
            | Self::Inconsistent { field, .. } => field,
        };
        *field = format!("{path}{field}");
        self
    }
}

/// Why a value could not be encoded.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum EncodeError {
    /// The value breaks an invariant of its type.
    #[error("invalid message: {0}")]
    Invalid(#[from] ValidationError),
    /// A string, sequence or byte array is larger than this codec allows.
    #[error("field `{field}` has {len} elements, more than the limit of {max}")]
    TooLarge {
        /// Name of the field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// CDR strings are NUL-terminated, so they cannot hold a NUL byte.
    #[error("string field `{field}` contains a NUL byte")]
    NulInString {
        /// Name of the field.
        field: &'static str,
    },
    /// A timestamp does not fit the ROS 2 `builtin_interfaces/Time` range (i32 seconds).
    #[error("timestamp {stamp_ns} ns does not fit builtin_interfaces/Time (int32 seconds)")]
    StampOutOfRange {
        /// The offending timestamp.
        stamp_ns: i64,
    },
}

/// Why bytes could not be decoded into a message.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum DecodeError {
    /// The input ended before the message did.
    #[error(
        "truncated input: field `{field}` needs {needed} bytes at offset {offset}, only {available} left"
    )]
    Truncated {
        /// Field being read.
        field: &'static str,
        /// Bytes needed.
        needed: usize,
        /// Absolute offset in the payload.
        offset: usize,
        /// Bytes that remained.
        available: usize,
    },
    /// The 4-byte encapsulation header is missing or names an encoding we do not speak.
    #[error(
        "unsupported encapsulation header {found:02x?}: expected CDR little-endian [00, 01, 00, 00]"
    )]
    BadEncapsulation {
        /// The header bytes found (fewer than 4 if the input was shorter).
        found: Vec<u8>,
    },
    /// The payload was produced for another message type.
    #[error("wrong message type: expected `{expected}`, the payload is `{found}`")]
    WrongType {
        /// The type the receiver expected.
        expected: &'static str,
        /// The type announced by the sender.
        found: String,
    },
    /// A length prefix is beyond what this codec accepts or what the input could hold.
    #[error("field `{field}` declares {len} elements, more than the limit of {max}")]
    TooLarge {
        /// Field being read.
        field: &'static str,
        /// Declared length.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// A string is not valid UTF-8 or lacks its terminating NUL.
    #[error("field `{field}` is not a valid CDR string: {reason}")]
    BadString {
        /// Field being read.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A boolean byte was neither 0 nor 1.
    #[error("field `{field}` is not a boolean (byte {value})")]
    BadBool {
        /// Field being read.
        field: &'static str,
        /// The byte found.
        value: u8,
    },
    /// Bytes remained after the message ended (beyond CDR's final alignment padding).
    #[error("{count} unexpected bytes after the end of the message")]
    TrailingBytes {
        /// How many bytes remained.
        count: usize,
    },
    /// The bytes parsed, but the message breaks an invariant of its type.
    #[error("invalid message: {0}")]
    Invalid(#[from] ValidationError),
}

/// Returns an error unless `value` is finite.
pub(crate) fn finite(field: impl Into<String>, value: f64) -> Result<(), ValidationError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(ValidationError::NonFinite {
            field: field.into(),
            value,
        })
    }
}

/// Returns an error unless every value is finite.
pub(crate) fn all_finite<T: Into<f64> + Copy>(
    field: &str,
    values: &[T],
) -> Result<(), ValidationError> {
    for (i, v) in values.iter().enumerate() {
        let v: f64 = (*v).into();
        if !v.is_finite() {
            return Err(ValidationError::NonFinite {
                field: format!("{field}[{i}]"),
                value: v,
            });
        }
    }
    Ok(())
}

/// Returns an error unless `value` is finite and within `[min, max]`.
pub(crate) fn in_range(
    field: impl Into<String>,
    value: f64,
    min: f64,
    max: f64,
) -> Result<(), ValidationError> {
    let field = field.into();
    finite(field.clone(), value)?;
    if value < min || value > max {
        return Err(ValidationError::OutOfRange {
            field,
            value,
            min,
            max,
        });
    }
    Ok(())
}
