//! Camera calibration files, `calibration/<rig>/<camera>.toml`: pinhole intrinsics with OpenCV
//! distortion coefficients and an extrinsic pose in a parent frame. Simulated rigs and the
//! calibration tool for real cameras use the same format (see `docs/datasets.md`).
//!
//! Conventions: the camera's *optical frame* has z forward, x right, y down; a point (x, y, z)
//! in it projects to `u = fx x / z + cx`, `v = fy y / z + cy` (before distortion), with the
//! centre of pixel `i` at `u = i + 0.5`. `xyz` and `rpy` (URDF roll-pitch-yaw) place the optical
//! frame in its parent: `table` (the task frame of the scene), `base` (the robot's base frame),
//! `link:<name>` (a robot link) or `mount:<name>` (a camera mount of `robot.toml`, itself on a
//! link; the file's pose is then relative to the mount).

use std::path::{Path, PathBuf};

use nalgebra::Isometry3;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::urdf::pose_from_xyz_rpy;

/// Why a calibration file or rig could not be used.
#[derive(Debug, Error)]
pub enum CameraError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Malformed TOML, an unknown key or a wrong type (the message names key and line).
    #[error("{}: {message}", path.display())]
    Toml {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A value that parses but makes no sense.
    #[error("{}: `{key}`: {what}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The offending key.
        key: String,
        /// What was expected.
        what: String,
    },
    /// A camera refers to a frame the robot does not have.
    #[error("camera `{camera}`: parent `{parent}` is not {what}")]
    UnknownParent {
        /// The camera.
        camera: String,
        /// Its parent.
        parent: String,
        /// What was looked for.
        what: String,
    },
}

/// One camera's calibration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// View name (`front`, `side`, `wrist`, ...).
    pub name: String,
    /// Image width (px).
    pub width: u32,
    /// Image height (px).
    pub height: u32,
    /// Focal length along x (px).
    pub fx: f64,
    /// Focal length along y (px).
    pub fy: f64,
    /// Principal point x (px).
    pub cx: f64,
    /// Principal point y (px).
    pub cy: f64,
    /// OpenCV distortion coefficients `[k1, k2, p1, p2, k3]` (zeros for simulated cameras).
    #[serde(default)]
    pub distortion: [f64; 5],
    /// Where the camera is.
    pub extrinsics: Extrinsics,
    /// How the calibration was obtained (`synthetic`, `charuco`, ...).
    #[serde(default = "default_method")]
    pub method: String,
    /// When (ISO 8601 date).
    #[serde(default)]
    pub date: String,
    /// RMS reprojection error of the calibration (px), when measured.
    #[serde(default)]
    pub reprojection_error: Option<f64>,
}

fn default_method() -> String {
    "synthetic".to_owned()
}

/// The optical frame's pose in a parent frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extrinsics {
    /// `table`, `base`, `link:<name>` or `mount:<name>`.
    pub parent: String,
    /// Position of the optical frame in the parent (m).
    pub xyz: [f64; 3],
    /// Orientation of the optical frame in the parent (URDF roll, pitch, yaw; rad).
    pub rpy: [f64; 3],
}

/// A parsed parent frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parent {
    /// The scene's task frame.
    Table,
    /// The robot's base frame.
    Base,
    /// A robot link.
    Link(String),
    /// A camera mount of `robot.toml`.
    Mount(String),
}

impl Extrinsics {
    /// The parent frame, parsed.
    pub fn parent(&self) -> Option<Parent> {
        match self.parent.as_str() {
            "table" => Some(Parent::Table),
            "base" => Some(Parent::Base),
            p => p
                .strip_prefix("link:")
                .map(|l| Parent::Link(l.to_owned()))
                .or_else(|| {
                    p.strip_prefix("mount:")
                        .map(|m| Parent::Mount(m.to_owned()))
                }),
        }
    }

    /// The optical frame in the parent frame.
    pub fn pose(&self) -> Isometry3<f64> {
        pose_from_xyz_rpy(self.xyz, self.rpy)
    }
}

impl CameraConfig {
    /// Reads and checks one calibration file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, CameraError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| CameraError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and checks calibration text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, CameraError> {
        let config: CameraConfig = toml::from_str(text).map_err(|e| CameraError::Toml {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        config.check().map_err(|(key, what)| CameraError::Invalid {
            path: path.to_path_buf(),
            key,
            what,
        })?;
        Ok(config)
    }

    /// Serialises to the file format.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Checks values; the error names the key and what was expected.
    pub fn check(&self) -> Result<(), (String, String)> {
        let bad = |k: &str, w: &str| Err((k.to_owned(), w.to_owned()));
        if self.name.trim().is_empty() {
            return bad("name", "must not be empty");
        }
        if self.width == 0 || self.height == 0 || self.width > 8192 || self.height > 8192 {
            return bad("width", "image size must be 1..=8192 pixels on each side");
        }
        for (k, v) in [("fx", self.fx), ("fy", self.fy)] {
            if !(v.is_finite() && v > 0.0) {
                return bad(k, "expected a positive focal length in pixels");
            }
        }
        for (k, v) in [("cx", self.cx), ("cy", self.cy)] {
            if !v.is_finite() {
                return bad(k, "expected a finite principal point in pixels");
            }
        }
        if self.distortion.iter().any(|v| !v.is_finite()) {
            return bad(
                "distortion",
                "expected five finite coefficients [k1, k2, p1, p2, k3]",
            );
        }
        if self.extrinsics.parent().is_none() {
            return bad(
                "extrinsics.parent",
                "expected `table`, `base`, `link:<name>` or `mount:<name>`",
            );
        }
        if self
            .extrinsics
            .xyz
            .iter()
            .chain(&self.extrinsics.rpy)
            .any(|v| !v.is_finite())
        {
            return bad("extrinsics", "expected finite xyz (m) and rpy (rad)");
        }
        Ok(())
    }

    /// Projects a point in the optical frame to pixel coordinates (no distortion).
    pub fn project(&self, p: &nalgebra::Point3<f64>) -> Option<[f64; 2]> {
        (p.z > 0.0).then(|| [self.fx * p.x / p.z + self.cx, self.fy * p.y / p.z + self.cy])
    }
}

/// A set of cameras: every `*.toml` of a folder, sorted by name.
pub fn load_rig(dir: impl AsRef<Path>) -> Result<Vec<CameraConfig>, CameraError> {
    let dir = dir.as_ref();
    let entries = std::fs::read_dir(dir).map_err(|source| CameraError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    let cameras = paths
        .iter()
        .map(CameraConfig::load)
        .collect::<Result<Vec<_>, _>>()?;
    for (i, c) in cameras.iter().enumerate() {
        if cameras[..i].iter().any(|o| o.name == c.name) {
            return Err(CameraError::Invalid {
                path: dir.to_path_buf(),
                key: "name".into(),
                what: format!("two cameras are named `{}`", c.name),
            });
        }
    }
    Ok(cameras)
}

/// Replaces cameras of `rig` by name with `overrides` and appends new ones.
pub fn merge_cameras(mut rig: Vec<CameraConfig>, overrides: &[CameraConfig]) -> Vec<CameraConfig> {
    for o in overrides {
        match rig.iter_mut().find(|c| c.name == o.name) {
            Some(c) => *c = o.clone(),
            None => rig.push(o.clone()),
        }
    }
    rig
}
