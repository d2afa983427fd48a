//! `sensor_msgs/Image` and the multi-camera frame built from it.

use std::fmt;

use crate::cdr::{CdrReader, CdrWriter};
use crate::error::{DecodeError, EncodeError, ValidationError};
use crate::message::{CdrStruct, Message};
use crate::types::Header;

/// Largest image side accepted, in pixels.
pub const MAX_IMAGE_SIDE: u32 = 16_384;
/// Largest number of views in one [`MultiViewFrame`].
pub const MAX_VIEWS: usize = 64;

/// Pixel encodings the stack produces and consumes (ROS 2 `sensor_msgs/image_encodings` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PixelEncoding {
    /// 8-bit red, green, blue.
    Rgb8,
    /// 8-bit blue, green, red (OpenCV's order).
    Bgr8,
    /// 8-bit grey.
    Mono8,
    /// 16-bit unsigned, one channel (e.g. depth in millimetres).
    U16C1,
    /// 32-bit float, one channel (e.g. depth in metres).
    F32C1,
}

impl PixelEncoding {
    /// All encodings, in a stable order.
    pub const ALL: [PixelEncoding; 5] = [
        PixelEncoding::Rgb8,
        PixelEncoding::Bgr8,
        PixelEncoding::Mono8,
        PixelEncoding::U16C1,
        PixelEncoding::F32C1,
    ];

    /// The name written in the `encoding` string field.
    pub fn as_str(self) -> &'static str {
        match self {
            PixelEncoding::Rgb8 => "rgb8",
            PixelEncoding::Bgr8 => "bgr8",
            PixelEncoding::Mono8 => "mono8",
            PixelEncoding::U16C1 => "16UC1",
            PixelEncoding::F32C1 => "32FC1",
        }
    }

    /// Parses an `encoding` string field.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// Bytes per pixel.
    pub fn bytes_per_pixel(self) -> u32 {
        match self {
            PixelEncoding::Rgb8 | PixelEncoding::Bgr8 => 3,
            PixelEncoding::Mono8 => 1,
            PixelEncoding::U16C1 => 2,
            PixelEncoding::F32C1 => 4,
        }
    }
}

impl fmt::Display for PixelEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An image with the ROS 2 `sensor_msgs/Image` layout:
/// `Header header, uint32 height, uint32 width, string encoding, uint8 is_bigendian,
/// uint32 step, uint8[] data`.
#[derive(Clone, PartialEq)]
pub struct Image {
    /// Capture time and camera optical frame.
    pub header: Header,
    /// Rows.
    pub height: u32,
    /// Columns.
    pub width: u32,
    /// Pixel layout.
    pub encoding: PixelEncoding,
    /// Whether multi-byte pixels are big-endian.
    pub is_bigendian: bool,
    /// Bytes per row (at least `width * bytes_per_pixel`).
    pub step: u32,
    /// `step * height` bytes of pixels, row-major.
    pub data: Vec<u8>,
}

impl fmt::Debug for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Image")
            .field("header", &self.header)
            .field("height", &self.height)
            .field("width", &self.width)
            .field("encoding", &self.encoding)
            .field("is_bigendian", &self.is_bigendian)
            .field("step", &self.step)
            .field("data", &format_args!("<{} bytes>", self.data.len()))
            .finish()
    }
}

impl Image {
    /// A tightly packed little-endian image; checks that `data` has the right length.
    pub fn packed(
        header: Header,
        width: u32,
        height: u32,
        encoding: PixelEncoding,
        data: Vec<u8>,
    ) -> Result<Self, ValidationError> {
        let image = Self {
            header,
            height,
            width,
            encoding,
            is_bigendian: false,
            step: width.saturating_mul(encoding.bytes_per_pixel()),
            data,
        };
        image.validate()?;
        Ok(image)
    }
}

impl CdrStruct for Image {
    fn write_cdr(&self, w: &mut CdrWriter) -> Result<(), EncodeError> {
        self.header.write_cdr(w)?;
        w.u32(self.height);
        w.u32(self.width);
        w.string("image.encoding", self.encoding.as_str())?;
        w.u8(u8::from(self.is_bigendian));
        w.u32(self.step);
        w.bytes("image.data", &self.data)
    }

    fn read_cdr(r: &mut CdrReader<'_>) -> Result<Self, DecodeError> {
        let header = Header::read_cdr(r)?;
        let height = r.u32("image.height")?;
        let width = r.u32("image.width")?;
        let encoding_name = r.string("image.encoding")?;
        let encoding =
            PixelEncoding::parse(&encoding_name).ok_or_else(|| ValidationError::UnknownValue {
                field: "image.encoding".into(),
                value: encoding_name.clone(),
            })?;
        let is_bigendian = match r.u8("image.is_bigendian")? {
            0 => false,
            1 => true,
            other => {
                return Err(ValidationError::UnknownValue {
                    field: "image.is_bigendian".into(),
                    value: other.to_string(),
                }
                .into());
            }
        };
        let step = r.u32("image.step")?;
        let data = r.bytes("image.data")?;
        Ok(Self {
            header,
            height,
            width,
            encoding,
            is_bigendian,
            step,
            data,
        })
    }

    fn validate(&self) -> Result<(), ValidationError> {
        for (field, side) in [("image.height", self.height), ("image.width", self.width)] {
            if side == 0 || side > MAX_IMAGE_SIDE {
                return Err(ValidationError::OutOfRange {
                    field: field.into(),
                    value: f64::from(side),
                    min: 1.0,
                    max: f64::from(MAX_IMAGE_SIDE),
                });
            }
        }
        let min_step = u64::from(self.width) * u64::from(self.encoding.bytes_per_pixel());
        if u64::from(self.step) < min_step {
            return Err(ValidationError::ShapeMismatch {
                field: "image.step".into(),
                expected: min_step,
                found: u64::from(self.step),
            });
        }
        let expected = u64::from(self.step) * u64::from(self.height);
        if self.data.len() as u64 != expected {
            return Err(ValidationError::ShapeMismatch {
                field: "image.data".into(),
                expected,
                found: self.data.len() as u64,
            });
        }
        Ok(())
    }
}

impl Message for Image {
    const TYPE_NAME: &'static str = "sensor_msgs/msg/Image";

    fn encoded_size_hint(&self) -> usize {
        self.data.len() + 64 + self.header.frame_id.len()
    }
}

/// One named camera view inside a [`MultiViewFrame`]: `string name, sensor_msgs/Image image`.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedImage {
    /// View name, e.g. `front`, `side`, `wrist`.
    pub name: String,
    /// The image of that view.
    pub image: Image,
}

/// Simultaneous images from any number of named cameras of one robot at one control step:
/// `Header header, string robot_id, uint64 episode_id, uint64 step, NamedImage[] views`.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiViewFrame {
    /// Time of the control step the views belong to.
    pub header: Header,
    /// Robot (or sim environment) that produced the frame.
    pub robot_id: String,
    /// Episode counter of that robot.
    pub episode_id: u64,
    /// Control step within the episode.
    pub step: u64,
    /// The views, each with a unique non-empty name.
    pub views: Vec<NamedImage>,
}

impl MultiViewFrame {
    /// The view with this name, if present.
    pub fn view(&self, name: &str) -> Option<&Image> {
        self.views.iter().find(|v| v.name == name).map(|v| &v.image)
    }
}

impl CdrStruct for MultiViewFrame {
    fn write_cdr(&self, w: &mut CdrWriter) -> Result<(), EncodeError> {
        self.header.write_cdr(w)?;
        w.string("robot_id", &self.robot_id)?;
        w.u64(self.episode_id);
        w.u64(self.step);
        w.seq_len("views", self.views.len(), MAX_VIEWS)?;
        for view in &self.views {
            w.string("views.name", &view.name)?;
            view.image.write_cdr(w)?;
        }
        Ok(())
    }

    fn read_cdr(r: &mut CdrReader<'_>) -> Result<Self, DecodeError> {
        let header = Header::read_cdr(r)?;
        let robot_id = r.string("robot_id")?;
        let episode_id = r.u64("episode_id")?;
        let step = r.u64("step")?;
        // A view takes at least 5 (name) + 12 (header) + 8 + 9 (encoding) + 1 + 4 + 4 bytes.
        let n = r.seq_len("views", 43, MAX_VIEWS)?;
        let mut views = Vec::with_capacity(n);
        for _ in 0..n {
            let name = r.string("views.name")?;
            let image = Image::read_cdr(r)?;
            views.push(NamedImage { name, image });
        }
        Ok(Self {
            header,
            robot_id,
            episode_id,
            step,
            views,
        })
    }

    fn validate(&self) -> Result<(), ValidationError> {
        for (i, view) in self.views.iter().enumerate() {
            if view.name.is_empty() {
                return Err(ValidationError::Inconsistent {
                    field: format!("views[{i}].name"),
                    reason: "view names must not be empty".into(),
                });
            }
            if self.views[..i].iter().any(|v| v.name == view.name) {
                return Err(ValidationError::Inconsistent {
                    field: format!("views[{i}].name"),
                    reason: format!("view name `{}` appears twice", view.name),
                });
            }
            view.image
                .validate()
                .map_err(|e| e.prefixed(&format!("views[{i}].")))?;
        }
        Ok(())
    }
}

impl Message for MultiViewFrame {
    const TYPE_NAME: &'static str = "striatum_msgs/msg/MultiViewFrame";

    fn encoded_size_hint(&self) -> usize {
        128 + self
            .views
            .iter()
            .map(|v| v.image.encoded_size_hint() + v.name.len() + 8)
            .sum::<usize>()
    }
}
