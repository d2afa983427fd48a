//! `std_msgs/Header`: a timestamp and a coordinate frame.

use crate::cdr::{CdrReader, CdrWriter};
use crate::error::{DecodeError, EncodeError, ValidationError};
use crate::message::CdrStruct;

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// Timestamp and frame of a message, with the ROS 2 `std_msgs/Header` layout on the wire:
/// `int32 sec, uint32 nanosec, string frame_id`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    /// Nanoseconds since the run's clock epoch (Unix time for wall clocks, 0 for sim time).
    pub stamp_ns: i64,
    /// Coordinate frame the data refers to (may be empty).
    pub frame_id: String,
}

impl Header {
    /// A header with the given stamp and frame.
    pub fn new(stamp_ns: i64, frame_id: impl Into<String>) -> Self {
        Self {
            stamp_ns,
            frame_id: frame_id.into(),
        }
    }

    /// A header stamped with the current wall-clock time (Unix epoch).
    pub fn now(frame_id: impl Into<String>) -> Self {
        Self::new(unix_now_ns(), frame_id)
    }

    /// The stamp as ROS 2 `builtin_interfaces/Time` (seconds floored, nanoseconds in [0, 1e9)).
    pub fn ros_time(&self) -> Result<(i32, u32), EncodeError> {
        let sec = self.stamp_ns.div_euclid(NANOS_PER_SEC);
        let nanosec = self.stamp_ns.rem_euclid(NANOS_PER_SEC);
        let sec = i32::try_from(sec).map_err(|_| EncodeError::StampOutOfRange {
            stamp_ns: self.stamp_ns,
        })?;
        // rem_euclid with a positive modulus is in [0, 1e9), which fits u32.
        Ok((sec, nanosec as u32))
    }
}

/// Current wall-clock time in nanoseconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl CdrStruct for Header {
    fn write_cdr(&self, w: &mut CdrWriter) -> Result<(), EncodeError> {
        let (sec, nanosec) = self.ros_time()?;
        w.i32(sec);
        w.u32(nanosec);
        w.string("header.frame_id", &self.frame_id)
    }

    fn read_cdr(r: &mut CdrReader<'_>) -> Result<Self, DecodeError> {
        let sec = r.i32("header.stamp.sec")?;
        let nanosec = r.u32("header.stamp.nanosec")?;
        if i64::from(nanosec) >= NANOS_PER_SEC {
            return Err(ValidationError::OutOfRange {
                field: "header.stamp.nanosec".into(),
                value: f64::from(nanosec),
                min: 0.0,
                max: 999_999_999.0,
            }
            .into());
        }
        Ok(Self {
            stamp_ns: i64::from(sec) * NANOS_PER_SEC + i64::from(nanosec),
            frame_id: r.string("header.frame_id")?,
        })
    }
}
