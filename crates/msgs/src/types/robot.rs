//! Robot state: `sensor_msgs/JointState`, geometry and the end-effector state.

use crate::cdr::{CdrReader, CdrWriter};
use crate::error::{DecodeError, EncodeError, ValidationError, all_finite, finite, in_range};
use crate::message::{CdrStruct, Message};
use crate::types::Header;

/// Most joints one [`JointState`] may name.
pub const MAX_JOINTS: usize = 256;

/// Joint positions, velocities and efforts, with the ROS 2 `sensor_msgs/JointState` layout:
/// `Header header, string[] name, float64[] position, float64[] velocity, float64[] effort`.
///
/// As in ROS 2, `positions`, `velocities` and `efforts` are each either empty or as long as
/// `names`; every value present must be finite. Units: radians or metres, per second, N·m or N.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JointState {
    /// Time of measurement.
    pub header: Header,
    /// Joint names.
    pub names: Vec<String>,
    /// Positions, one per name (or empty).
    pub positions: Vec<f64>,
    /// Velocities, one per name (or empty).
    pub velocities: Vec<f64>,
    /// Efforts, one per name (or empty).
    pub efforts: Vec<f64>,
}

impl CdrStruct for JointState {
    fn write_cdr(&self, w: &mut CdrWriter) -> Result<(), EncodeError> {
        self.header.write_cdr(w)?;
        w.string_seq("name", &self.names)?;
        w.f64_seq("position", &self.positions)?;
        w.f64_seq("velocity", &self.velocities)?;
        w.f64_seq("effort", &self.efforts)
    }

    fn read_cdr(r: &mut CdrReader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            header: Header::read_cdr(r)?,
            names: r.string_seq("name")?,
            positions: r.f64_seq("position")?,
            velocities: r.f64_seq("velocity")?,
            efforts: r.f64_seq("effort")?,
        })
    }

    fn validate(&self) -> Result<(), ValidationError> {
        if self.names.len() > MAX_JOINTS {
            return Err(ValidationError::OutOfRange {
                field: "name".into(),
                value: self.names.len() as f64,
                min: 0.0,
                max: MAX_JOINTS as f64,
            });
        }
        for (field, values) in [
            ("position", &self.positions),
            ("velocity", &self.velocities),
            ("effort", &self.efforts),
        ] {
            if !values.is_empty() && values.len() != self.names.len() {
                return Err(ValidationError::ShapeMismatch {
                    field: field.into(),
                    expected: self.names.len() as u64,
                    found: values.len() as u64,
                });
            }
            all_finite(field, values)?;
        }
        Ok(())
    }
}

impl Message for JointState {
    const TYPE_NAME: &'static str = "sensor_msgs/msg/JointState";

    fn encoded_size_hint(&self) -> usize {
        64 + self.names.iter().map(|n| n.len() + 8).sum::<usize>() + 24 * self.names.len()
    }
}

/// A 3-vector with the `geometry_msgs/Vector3` (and `Point`) layout: `float64 x, y, z`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Vector3 {
    /// X.
    pub x: f64,
    /// Y.
    pub y: f64,
    /// Z.
    pub z: f64,
}

impl Vector3 {
    /// A vector from its components.
    pub fn new(x: f64, y: f64, z: f64) -> Self {
        Self { x, y, z }
    }

    fn write(&self, w: &mut CdrWriter) {
        w.f64(self.x);
        w.f64(self.y);
        w.f64(self.z);
    }

    fn read(r: &mut CdrReader<'_>, field: &'static str) -> Result<Self, DecodeError> {
        Ok(Self {
            x: r.f64(field)?,
            y: r.f64(field)?,
            z: r.f64(field)?,
        })
    }

    fn check(&self, field: &str) -> Result<(), ValidationError> {
        all_finite(field, &[self.x, self.y, self.z])
    }
}

/// A unit quaternion with the `geometry_msgs/Quaternion` layout: `float64 x, y, z, w`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quaternion {
    /// X (vector part).
    pub x: f64,
    /// Y (vector part).
    pub y: f64,
    /// Z (vector part).
    pub z: f64,
    /// W (scalar part).
    pub w: f64,
}

impl Default for Quaternion {
    fn default() -> Self {
        Self::IDENTITY
    }
}

impl Quaternion {
    /// No rotation.
    pub const IDENTITY: Quaternion = Quaternion {
        x: 0.0,
        y: 0.0,
        z: 0.0,
        w: 1.0,
    };

    fn write(&self, w: &mut CdrWriter) {
        w.f64(self.x);
        w.f64(self.y);
        w.f64(self.z);
        w.f64(self.w);
    }

    fn read(r: &mut CdrReader<'_>, field: &'static str) -> Result<Self, DecodeError> {
        Ok(Self {
            x: r.f64(field)?,
            y: r.f64(field)?,
            z: r.f64(field)?,
            w: r.f64(field)?,
        })
    }

    /// Finite and of unit norm within 1e-3.
    fn check(&self, field: &str) -> Result<(), ValidationError> {
        all_finite(field, &[self.x, self.y, self.z, self.w])?;
        let norm = (self.x * self.x + self.y * self.y + self.z * self.z + self.w * self.w).sqrt();
        if (norm - 1.0).abs() > 1e-3 {
            return Err(ValidationError::Inconsistent {
                field: field.into(),
                reason: format!("quaternion norm is {norm}, expected 1"),
            });
        }
        Ok(())
    }
}

/// A pose with the `geometry_msgs/Pose` layout: `Point position, Quaternion orientation`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Pose {
    /// Position in metres.
    pub position: Vector3,
    /// Orientation (unit quaternion, x y z w).
    pub orientation: Quaternion,
}

/// A velocity with the `geometry_msgs/Twist` layout: `Vector3 linear, Vector3 angular`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Twist {
    /// Linear velocity, m/s.
    pub linear: Vector3,
    /// Angular velocity, rad/s.
    pub angular: Vector3,
}

/// The end effector's pose and velocity in the robot's base frame:
/// `Header header, string robot_id, string link, geometry_msgs/Pose pose,
/// geometry_msgs/Twist twist, float64 gripper`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EndEffectorState {
    /// Time of measurement; `frame_id` names the base frame the pose is expressed in.
    pub header: Header,
    /// Robot the state belongs to.
    pub robot_id: String,
    /// Name of the end-effector link.
    pub link: String,
    /// Pose of `link` in the header's frame.
    pub pose: Pose,
    /// Velocity of `link` in the header's frame.
    pub twist: Twist,
    /// Gripper opening, normalised: 0 closed, 1 fully open.
    pub gripper: f64,
}

impl CdrStruct for EndEffectorState {
    fn write_cdr(&self, w: &mut CdrWriter) -> Result<(), EncodeError> {
        self.header.write_cdr(w)?;
        w.string("robot_id", &self.robot_id)?;
        w.string("link", &self.link)?;
        self.pose.position.write(w);
        self.pose.orientation.write(w);
        self.twist.linear.write(w);
        self.twist.angular.write(w);
        w.f64(self.gripper);
        Ok(())
    }

    fn read_cdr(r: &mut CdrReader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            header: Header::read_cdr(r)?,
            robot_id: r.string("robot_id")?,
            link: r.string("link")?,
            pose: Pose {
                position: Vector3::read(r, "pose.position")?,
                orientation: Quaternion::read(r, "pose.orientation")?,
            },
            twist: Twist {
                linear: Vector3::read(r, "twist.linear")?,
                angular: Vector3::read(r, "twist.angular")?,
            },
            gripper: r.f64("gripper")?,
        })
    }

    fn validate(&self) -> Result<(), ValidationError> {
        self.pose.position.check("pose.position")?;
        self.pose.orientation.check("pose.orientation")?;
        self.twist.linear.check("twist.linear")?;
        self.twist.angular.check("twist.angular")?;
        finite("gripper", self.gripper)?;
        in_range("gripper", self.gripper, 0.0, 1.0)
    }
}

impl Message for EndEffectorState {
    const TYPE_NAME: &'static str = "striatum_msgs/msg/EndEffectorState";
}
