//! `robots/<name>/robot.toml`: what the controllers need to know about an arm beyond its URDF,
//! checked against the URDF when loaded.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::kinematics::{Chain, KinematicsError};
use crate::urdf::{JointKind, Urdf, UrdfError};

/// Why a robot could not be loaded.
#[derive(Debug, Error)]
pub enum RobotError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML is malformed, has an unknown key or a value of the wrong type (the message
    /// names the key and the line).
    #[error("{}: {message}", path.display())]
    Toml {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// The referenced URDF is broken.
    #[error(transparent)]
    Urdf(#[from] UrdfError),
    /// A value disagrees with the URDF or with itself.
    #[error("{}: `{key}`: {what}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The offending key.
        key: String,
        /// What is wrong.
        what: String,
    },
    /// The arm's chain could not be built.
    #[error("{}: {source}", path.display())]
    Kinematics {
        /// The file.
        path: PathBuf,
        /// The error.
        source: KinematicsError,
    },
}

/// Limits of one actuated joint as the controller enforces them (within the URDF's).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JointConfig {
    /// Joint name in the URDF.
    pub name: String,
    /// Lowest commanded position (rad or m).
    pub lower: f64,
    /// Highest commanded position (rad or m).
    pub upper: f64,
    /// Largest commanded speed (rad/s or m/s).
    pub velocity: f64,
    /// Largest motor effort (N m or N).
    pub effort: f64,
}

/// The gripper: which joints move, and their positions when open and closed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GripperConfig {
    /// Gripper joints (moved together).
    pub joints: Vec<String>,
    /// Joint position when fully open.
    pub open: f64,
    /// Joint position when fully closed.
    pub closed: f64,
    /// Largest grasp force/torque of each gripper joint (N or N m).
    pub max_effort: f64,
}

/// Position-motor gains of the joint controllers.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GainsConfig {
    /// Stiffness (N m/rad or N/m).
    pub stiffness: f64,
    /// Damping (N m s/rad or N s/m).
    pub damping: f64,
}

/// A camera mount on a robot link (the camera's intrinsics live in `calibration/`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MountConfig {
    /// Mount name, e.g. `wrist`.
    pub name: String,
    /// Link the camera is attached to.
    pub link: String,
    /// Offset of the camera's optical frame in the link frame (m).
    pub xyz: [f64; 3],
    /// Rotation of the optical frame in the link frame (URDF roll, pitch, yaw; rad).
    pub rpy: [f64; 3],
}

/// End-effector control settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndEffectorConfig {
    /// Tool link whose pose end-effector commands move.
    pub link: String,
    /// Which end-effector deltas the arm accepts: `position_yaw` (5-DoF arms: x, y, z and yaw
    /// of the tool about the base z axis) or `pose` (x, y, z, roll, pitch, yaw).
    pub control: String,
    /// Lower corner of the box end-effector targets are clipped to (base frame, m).
    pub workspace_min: [f64; 3],
    /// Upper corner of that box.
    pub workspace_max: [f64; 3],
    /// Orientation of the tool link when it points straight down with zero yaw (URDF roll,
    /// pitch, yaw in the base frame); yaw commands rotate this about the base z axis.
    pub tool_down_rpy: [f64; 3],
}

/// The contents of `robot.toml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RobotConfig {
    /// Robot name.
    pub name: String,
    /// URDF file, relative to the `robot.toml`.
    pub urdf: String,
    /// Root link of the arm.
    pub base_link: String,
    /// Actuated arm joints, base to tip.
    pub joints: Vec<JointConfig>,
    /// Home configuration, one value per arm joint.
    pub home: Vec<f64>,
    /// End-effector settings.
    pub end_effector: EndEffectorConfig,
    /// Gripper settings.
    pub gripper: GripperConfig,
    /// Joint motor gains.
    pub gains: GainsConfig,
    /// Camera mounts.
    #[serde(default)]
    pub camera_mounts: Vec<MountConfig>,
}

/// A loaded robot: its configuration, its URDF and the arm's kinematic chain.
#[derive(Debug, Clone)]
pub struct Robot {
    /// The `robot.toml` contents.
    pub config: RobotConfig,
    /// The robot description.
    pub urdf: Urdf,
    /// Chain from the base link to the end-effector link.
    pub arm: Chain,
    /// The `robot.toml` path.
    pub source: PathBuf,
}

impl Robot {
    /// Loads `robot.toml` (or the `robot.toml` inside a folder) and its URDF, and checks them
    /// against each other.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, RobotError> {
        let mut path = path.as_ref().to_path_buf();
        if path.is_dir() {
            path = path.join("robot.toml");
        }
        let text = std::fs::read_to_string(&path).map_err(|source| RobotError::Io {
            path: path.clone(),
            source,
        })?;
        let config: RobotConfig = toml::from_str(&text).map_err(|e| RobotError::Toml {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let urdf = Urdf::load(dir.join(&config.urdf))?;
        let arm =
            Chain::new(&urdf, &config.base_link, &config.end_effector.link).map_err(|source| {
                RobotError::Kinematics {
                    path: path.clone(),
                    source,
                }
            })?;
        let robot = Robot {
            config,
            urdf,
            arm,
            source: path,
        };
        robot.check()?;
        Ok(robot)
    }

    /// Values of every moving URDF joint, by name, for arm joint positions (in `joints` order)
    /// and a gripper closure in [0, 1] (0 open, 1 closed); for [`Urdf::link_poses`].
    pub fn joint_values(
        &self,
        arm: &[f64],
        gripper: f64,
    ) -> std::collections::HashMap<String, f64> {
        let g = &self.config.gripper;
        let q = g.open + gripper.clamp(0.0, 1.0) * (g.closed - g.open);
        self.config
            .joints
            .iter()
            .map(|j| j.name.clone())
            .zip(arm.iter().copied())
            .chain(g.joints.iter().map(|n| (n.clone(), q)))
            .collect()
    }

    fn invalid(&self, key: impl Into<String>, what: impl Into<String>) -> RobotError {
        RobotError::Invalid {
            path: self.source.clone(),
            key: key.into(),
            what: what.into(),
        }
    }

    fn check(&self) -> Result<(), RobotError> {
        let c = &self.config;
        let chain_names = self.arm.joint_names();
        let names: Vec<&str> = c.joints.iter().map(|j| j.name.as_str()).collect();
        if names != chain_names {
            return Err(self.invalid(
                "joints",
                format!(
                    "lists {names:?}, but the chain from `{}` to `{}` moves {chain_names:?}",
                    c.base_link, c.end_effector.link
                ),
            ));
        }
        for (i, j) in c.joints.iter().enumerate() {
            let key = format!("joints[{i}] ({})", j.name);
            let urdf_limits = self
                .urdf
                .joints
                .iter()
                .find(|u| u.name == j.name)
                .and_then(|u| u.limits);
            if !ordered(j.lower, j.upper) {
                return Err(self.invalid(
                    key,
                    format!("lower {} is not below upper {}", j.lower, j.upper),
                ));
            }
            if let Some(l) = urdf_limits
                && (j.lower < l.lower - 1e-9 || j.upper > l.upper + 1e-9)
            {
                return Err(self.invalid(
                    key,
                    format!(
                        "[{}, {}] exceeds the URDF's range [{}, {}]",
                        j.lower, j.upper, l.lower, l.upper
                    ),
                ));
            }
            if !(positive(j.velocity) && positive(j.effort)) {
                return Err(self.invalid(key, "velocity and effort must be positive"));
            }
        }
        if c.home.len() != c.joints.len() {
            return Err(self.invalid(
                "home",
                format!("has {} values for {} joints", c.home.len(), c.joints.len()),
            ));
        }
        for (i, (v, j)) in c.home.iter().zip(&c.joints).enumerate() {
            if !(j.lower..=j.upper).contains(v) {
                return Err(self.invalid(
                    format!("home[{i}]"),
                    format!(
                        "{v} is outside `{}`'s range [{}, {}]",
                        j.name, j.lower, j.upper
                    ),
                ));
            }
        }
        let ee = &c.end_effector;
        if !matches!(ee.control.as_str(), "position_yaw" | "pose") {
            return Err(self.invalid(
                "end_effector.control",
                format!("`{}` is not one of position_yaw, pose", ee.control),
            ));
        }
        if (0..3).any(|k| !ordered(ee.workspace_min[k], ee.workspace_max[k])) {
            return Err(self.invalid(
                "end_effector.workspace_min",
                "must be below workspace_max on every axis",
            ));
        }
        for (i, name) in c.gripper.joints.iter().enumerate() {
            match self.urdf.joints.iter().find(|j| &j.name == name) {
                Some(j) if j.kind != JointKind::Fixed => {
                    if let Some(l) = j.limits {
                        for (key, v) in [("open", c.gripper.open), ("closed", c.gripper.closed)] {
                            if v < l.lower - 1e-9 || v > l.upper + 1e-9 {
                                return Err(self.invalid(
                                    format!("gripper.{key}"),
                                    format!(
                                        "{v} is outside `{name}`'s range [{}, {}]",
                                        l.lower, l.upper
                                    ),
                                ));
                            }
                        }
                    }
                }
                _ => {
                    return Err(self.invalid(
                        format!("gripper.joints[{i}]"),
                        format!("`{name}` is not a moving joint of the URDF"),
                    ));
                }
            }
        }
        if !positive(c.gripper.max_effort) {
            return Err(self.invalid("gripper.max_effort", "must be positive"));
        }
        if !(positive(c.gains.stiffness) && (c.gains.damping == 0.0 || positive(c.gains.damping))) {
            return Err(self.invalid(
                "gains",
                "stiffness must be positive and damping non-negative",
            ));
        }
        for (i, m) in c.camera_mounts.iter().enumerate() {
            if self.urdf.link(&m.link).is_none() {
                return Err(self.invalid(
                    format!("camera_mounts[{i}].link"),
                    format!("`{}` is not a link of the URDF", m.link),
                ));
            }
        }
        Ok(())
    }
}

/// Finite and greater than zero (so NaN, which TOML can spell, is rejected).
fn positive(v: f64) -> bool {
    v.is_finite() && v > 0.0
}

/// Both finite and `a < b`.
fn ordered(a: f64, b: f64) -> bool {
    a.is_finite() && b.is_finite() && a < b
}
