//! Episode datasets on disk, in a format documented in `docs/datasets.md` and readable from
//! Python with numpy and Pillow:
//!
//! ```text
//! DIR/dataset.json                       {"format": "striatum-episodes", "version": 1}
//! DIR/episodes/000000/episode.json       metadata: scene, robot, seed, variant, instruction,
//!                                        success, names, cameras, per-file shapes
//! DIR/episodes/000000/<array>.npy        per-step arrays (observations T+1 rows, actions T)
//! DIR/episodes/000000/cameras/<view>/rgb/000000.png     8-bit RGB per observation
//! DIR/episodes/000000/cameras/<view>/depth/000000.png   16-bit depth, 0.1 mm units, 0 = none
//! DIR/episodes/000000/cameras/<view>/pose.npy           camera pose per observation
//! ```
//!
//! Episodes are written into a hidden temporary folder and renamed into place when complete, so
//! an interrupted recording leaves only complete episodes (and a hidden folder that readers
//! ignore and the next writer removes).

mod npy;

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::ImageEncoder;
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use npy::{Array, Dtype};

/// The format name in `dataset.json`.
pub const FORMAT: &str = "striatum-episodes";
/// The format version this crate writes and reads.
pub const VERSION: u32 = 1;
/// Depth is stored in units of this many metres (0.1 mm).
pub const DEPTH_UNIT: f64 = 1e-4;

/// Why a dataset could not be written or read.
#[derive(Debug, Error)]
pub enum DataError {
    /// A file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is not what the format says.
    #[error("{}: {what}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// A step does not match the episode's shapes.
    #[error("episode data: {0}")]
    Shape(String),
}

impl DataError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    fn format(path: &Path, what: impl Into<String>) -> Self {
        DataError::Format {
            path: path.to_path_buf(),
            what: what.into(),
        }
    }
}

/// A camera as recorded: its name, image size and pinhole intrinsics (its pose per step is in
/// `cameras/<name>/pose.npy`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraMeta {
    /// View name.
    pub name: String,
    /// Width (px).
    pub width: u32,
    /// Height (px).
    pub height: u32,
    /// Focal lengths and principal point (px).
    pub fx: f64,
    /// See `fx`.
    pub fy: f64,
    /// See `fx`.
    pub cx: f64,
    /// See `fx`.
    pub cy: f64,
    /// OpenCV distortion `[k1, k2, p1, p2, k3]`.
    pub distortion: [f64; 5],
    /// The calibration's parent frame (`table`, `base`, `link:..`, `mount:..`).
    pub parent: String,
    /// Whether depth images were recorded.
    pub depth: bool,
}

/// Everything about an episode besides its per-step arrays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpisodeMeta {
    /// Scene name.
    pub scene: String,
    /// Robot name.
    pub robot: String,
    /// Reset seed.
    pub seed: u64,
    /// Trajectory variant (`expert`, `noisy`, `partial`, `regress`, `fail`, `random`, ...).
    pub variant: String,
    /// The instruction of the episode.
    pub instruction: String,
    /// Whether it ended in success.
    pub success: bool,
    /// Control rate (Hz).
    pub control_hz: f64,
    /// Stage names in order (`stage.npy` indexes them; the number of stages means done).
    pub stage_names: Vec<String>,
    /// Arm joint names (columns of the joint arrays).
    pub joint_names: Vec<String>,
    /// Object names (second axis of `objects.npy`).
    pub object_names: Vec<String>,
    /// Fixture names (columns of `fixtures.npy`).
    pub fixture_names: Vec<String>,
    /// Cameras.
    pub cameras: Vec<CameraMeta>,
    /// The scene's visible shapes besides the robot (table, objects, fixtures, target
    /// markers) at the first observation, for viewers; absent in older recordings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shapes: Vec<ShapeMeta>,
}

/// A visible primitive of the scene and what moves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShapeMeta {
    /// Object, fixture, `table` or target name.
    pub name: String,
    /// Geometry, centred on the shape's frame.
    pub geometry: ShapeGeometry,
    /// Linear RGB in [0, 1].
    pub color: [f64; 3],
    /// World pose of the shape's frame at the first observation (x, y, z, qx, qy, qz, qw).
    pub pose: [f64; 7],
    /// What carries it from step to step.
    pub attached: Attachment,
}

/// Primitive geometry of a [`ShapeMeta`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ShapeGeometry {
    /// A box with these half extents (m).
    Box {
        /// Half extents along x, y, z.
        half_extents: [f64; 3],
    },
    /// A cylinder along local z.
    Cylinder {
        /// Radius (m).
        radius: f64,
        /// Half its length (m).
        half_height: f64,
    },
    /// A sphere.
    Sphere {
        /// Radius (m).
        radius: f64,
    },
}

/// What moves a [`ShapeMeta`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum Attachment {
    /// Nothing: it stays where it is.
    Static,
    /// Rigidly attached to the object with this index in `object_names`.
    Object {
        /// Index into `object_names` (and `objects.npy`).
        index: usize,
    },
    /// Translated along `axis` by the change of the fixture joint with this index.
    Fixture {
        /// Index into `fixture_names` (and `fixtures.npy`).
        index: usize,
        /// Unit direction of the joint (world frame).
        axis: [f64; 3],
    },
}

/// One camera image of an observation.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// Width (px).
    pub width: u32,
    /// Height (px).
    pub height: u32,
    /// `rgb8`, row-major.
    pub rgb: Vec<u8>,
    /// Depth along the optical axis (m; infinity where nothing was hit), if recorded.
    pub depth: Option<Vec<f32>>,
}

/// One observation.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Arm joint positions.
    pub joint_positions: Vec<f64>,
    /// Arm joint velocities.
    pub joint_velocities: Vec<f64>,
    /// Tool pose: x, y, z, qx, qy, qz, qw (world frame).
    pub ee_pose: [f64; 7],
    /// Gripper closure (0 open, 1 closed).
    pub gripper: f64,
    /// Privileged progress in [0, 1].
    pub progress: f64,
    /// Stage index.
    pub stage: i32,
    /// Privileged object poses (x, y, z, qx, qy, qz, qw), in `object_names` order.
    pub objects: Vec<[f64; 7]>,
    /// Fixture joint values, in `fixture_names` order.
    pub fixtures: Vec<f64>,
    /// Camera poses (world from optical frame: x, y, z, qx, qy, qz, qw), in camera order.
    pub camera_poses: Vec<[f64; 7]>,
    /// Camera images, in camera order.
    pub images: Vec<Image>,
}

/// A whole episode in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    /// Metadata.
    pub meta: EpisodeMeta,
    /// T + 1 observations: after reset and after each action.
    pub observations: Vec<Observation>,
    /// T actions `[dx, dy, dz, droll, dpitch, dyaw, gripper]`.
    pub actions: Vec<[f64; 7]>,
    /// T sparse rewards.
    pub rewards: Vec<f64>,
}

/// Creates `dir` as a dataset (or checks that it is one) and removes leftovers of interrupted
/// episodes.
pub fn create(dir: &Path) -> Result<(), DataError> {
    let episodes = dir.join("episodes");
    std::fs::create_dir_all(&episodes).map_err(|e| DataError::io(&episodes, e))?;
    let manifest = dir.join("dataset.json");
    if manifest.exists() {
        check_manifest(dir)?;
    } else {
        let text = serde_json::json!({"format": FORMAT, "version": VERSION}).to_string();
        write_atomic(&manifest, text.as_bytes())?;
    }
    for entry in std::fs::read_dir(&episodes).map_err(|e| DataError::io(&episodes, e))? {
        let path = entry.map_err(|e| DataError::io(&episodes, e))?.path();
        if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(".tmp-"))
        {
            std::fs::remove_dir_all(&path).map_err(|e| DataError::io(&path, e))?;
        }
    }
    Ok(())
}

fn check_manifest(dir: &Path) -> Result<(), DataError> {
    let path = dir.join("dataset.json");
    let text = std::fs::read_to_string(&path).map_err(|e| DataError::io(&path, e))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| DataError::format(&path, e.to_string()))?;
    if v["format"] != FORMAT {
        return Err(DataError::format(&path, format!("not a {FORMAT} dataset")));
    }
    if v["version"].as_u64() != Some(u64::from(VERSION)) {
        return Err(DataError::format(
            &path,
            format!("version {} (this build reads {VERSION})", v["version"]),
        ));
    }
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file, fsync and rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = std::fs::File::create(&tmp).map_err(|e| DataError::io(&tmp, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| DataError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| DataError::io(path, e))
}

fn pose_row(p: &[f64; 7]) -> Vec<f64> {
    p.to_vec()
}

/// Writes one episode step by step; images go to disk as they come.
pub struct EpisodeWriter {
    dataset: PathBuf,
    tmp: PathBuf,
    meta: EpisodeMeta,
    observations: Vec<Observation>,
    actions: Vec<[f64; 7]>,
    rewards: Vec<f64>,
    finished: bool,
}

impl EpisodeWriter {
    /// Starts an episode in the dataset at `dir` (created with [`create`]).
    pub fn begin(dir: &Path, meta: EpisodeMeta) -> Result<Self, DataError> {
        check_manifest(dir)?;
        let tmp = dir.join("episodes").join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        for c in &meta.cameras {
            for sub in ["rgb", "depth"] {
                if sub == "depth" && !c.depth {
                    continue;
                }
                let d = tmp.join("cameras").join(&c.name).join(sub);
                std::fs::create_dir_all(&d).map_err(|e| DataError::io(&d, e))?;
            }
        }
        std::fs::create_dir_all(&tmp).map_err(|e| DataError::io(&tmp, e))?;
        Ok(Self {
            dataset: dir.to_path_buf(),
            tmp,
            meta,
            observations: Vec::new(),
            actions: Vec::new(),
            rewards: Vec::new(),
            finished: false,
        })
    }

    /// Adds an observation (images are encoded and written now; kept in memory without them).
    pub fn observe(&mut self, mut obs: Observation) -> Result<(), DataError> {
        let m = &self.meta;
        let t = self.observations.len();
        if obs.joint_positions.len() != m.joint_names.len()
            || obs.objects.len() != m.object_names.len()
            || obs.fixtures.len() != m.fixture_names.len()
            || obs.images.len() != m.cameras.len()
            || obs.camera_poses.len() != m.cameras.len()
        {
            return Err(DataError::Shape(format!(
                "observation {t} does not match the episode's joints, objects, fixtures or cameras"
            )));
        }
        for (img, cam) in obs.images.iter().zip(&m.cameras) {
            let pixels = (cam.width * cam.height) as usize;
            if img.width != cam.width || img.height != cam.height || img.rgb.len() != pixels * 3 {
                return Err(DataError::Shape(format!(
                    "observation {t}: `{}` image is {}x{} with {} bytes, expected {}x{} rgb8",
                    cam.name,
                    img.width,
                    img.height,
                    img.rgb.len(),
                    cam.width,
                    cam.height
                )));
            }
            let dir = self.tmp.join("cameras").join(&cam.name);
            let png = encode_png(
                &img.rgb,
                img.width,
                img.height,
                image::ExtendedColorType::Rgb8,
            )?;
            let path = dir.join("rgb").join(format!("{t:06}.png"));
            std::fs::write(&path, png).map_err(|e| DataError::io(&path, e))?;
            if cam.depth {
                let depth = img.depth.as_ref().ok_or_else(|| {
                    DataError::Shape(format!("observation {t}: `{}` has no depth", cam.name))
                })?;
                if depth.len() != pixels {
                    return Err(DataError::Shape(format!(
                        "observation {t}: `{}` depth has {} values, expected {pixels}",
                        cam.name,
                        depth.len()
                    )));
                }
                let bytes: Vec<u8> = depth
                    .iter()
                    .flat_map(|d| depth_to_u16(*d).to_ne_bytes())
                    .collect();
                let png = encode_png(&bytes, img.width, img.height, image::ExtendedColorType::L16)?;
                let path = dir.join("depth").join(format!("{t:06}.png"));
                std::fs::write(&path, png).map_err(|e| DataError::io(&path, e))?;
            }
        }
        for img in &mut obs.images {
            img.rgb = Vec::new();
            img.depth = None;
        }
        self.observations.push(obs);
        Ok(())
    }

    /// Adds the action taken after the latest observation and its reward.
    pub fn act(&mut self, action: [f64; 7], reward: f64) -> Result<(), DataError> {
        if self.actions.len() + 1 != self.observations.len() {
            return Err(DataError::Shape(format!(
                "action {} must follow observation {} (have {})",
                self.actions.len(),
                self.actions.len(),
                self.observations.len()
            )));
        }
        self.actions.push(action);
        self.rewards.push(reward);
        Ok(())
    }

    /// Sets whether the episode succeeded.
    pub fn set_success(&mut self, success: bool) {
        self.meta.success = success;
    }

    /// Writes the arrays and metadata and renames the episode into place; returns its folder.
    pub fn finish(mut self) -> Result<PathBuf, DataError> {
        let t1 = self.observations.len();
        if t1 == 0 || self.actions.len() + 1 != t1 {
            return Err(DataError::Shape(format!(
                "an episode needs T + 1 observations for T actions (have {t1} and {})",
                self.actions.len()
            )));
        }
        let obs = &self.observations;
        let nj = self.meta.joint_names.len();
        let arrays: Vec<(&str, Array)> = vec![
            (
                "joint_positions",
                Array::f64_rows(
                    &obs.iter()
                        .map(|o| o.joint_positions.clone())
                        .collect::<Vec<_>>(),
                    nj,
                ),
            ),
            (
                "joint_velocities",
                Array::f64_rows(
                    &obs.iter()
                        .map(|o| o.joint_velocities.clone())
                        .collect::<Vec<_>>(),
                    nj,
                ),
            ),
            (
                "ee_pose",
                Array::f64_rows(
                    &obs.iter().map(|o| pose_row(&o.ee_pose)).collect::<Vec<_>>(),
                    7,
                ),
            ),
            (
                "gripper",
                Array::f64_vec(&obs.iter().map(|o| o.gripper).collect::<Vec<_>>()),
            ),
            (
                "progress",
                Array::f64_vec(&obs.iter().map(|o| o.progress).collect::<Vec<_>>()),
            ),
            (
                "stage",
                Array::i32_vec(&obs.iter().map(|o| o.stage).collect::<Vec<_>>()),
            ),
            ("objects", {
                let no = self.meta.object_names.len();
                let mut a = Array::f64_rows(
                    &obs.iter()
                        .map(|o| o.objects.iter().flat_map(|p| p.to_vec()).collect())
                        .collect::<Vec<_>>(),
                    no * 7,
                );
                a.shape = vec![t1, no, 7];
                a
            }),
            (
                "fixtures",
                Array::f64_rows(
                    &obs.iter().map(|o| o.fixtures.clone()).collect::<Vec<_>>(),
                    self.meta.fixture_names.len(),
                ),
            ),
            (
                "actions",
                Array::f64_rows(
                    &self.actions.iter().map(|a| a.to_vec()).collect::<Vec<_>>(),
                    7,
                ),
            ),
            ("rewards", Array::f64_vec(&self.rewards)),
        ];
        for (name, array) in arrays {
            array.write(&self.tmp.join(format!("{name}.npy")))?;
        }
        for (i, cam) in self.meta.cameras.iter().enumerate() {
            let poses: Vec<Vec<f64>> = obs.iter().map(|o| o.camera_poses[i].to_vec()).collect();
            Array::f64_rows(&poses, 7)
                .write(&self.tmp.join("cameras").join(&cam.name).join("pose.npy"))?;
        }
        let json = serde_json::to_vec_pretty(&self.meta)
            .map_err(|e| DataError::format(&self.tmp, e.to_string()))?;
        write_atomic(&self.tmp.join("episode.json"), &json)?;
        // Take the next free index; a rename onto an existing folder fails and tries the next.
        let episodes = self.dataset.join("episodes");
        let mut index = next_index(&episodes)?;
        loop {
            let dest = episodes.join(format!("{index:06}"));
            if !dest.exists() {
                match std::fs::rename(&self.tmp, &dest) {
                    Ok(()) => {
                        self.finished = true;
                        return Ok(dest);
                    }
                    Err(e) if dest.exists() => {
                        let _ = e;
                    }
                    Err(e) => return Err(DataError::io(&dest, e)),
                }
            }
            index += 1;
        }
    }
}

impl Drop for EpisodeWriter {
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

fn next_index(episodes: &Path) -> Result<u64, DataError> {
    Ok(episode_dirs(episodes)?
        .iter()
        .filter_map(|p| p.file_name()?.to_str()?.parse::<u64>().ok())
        .max()
        .map_or(0, |m| m + 1))
}

fn episode_dirs(episodes: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(episodes)
        .map_err(|e| DataError::io(episodes, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| !n.starts_with('.'))
                && p.join("episode.json").is_file()
        })
        .collect();
    dirs.sort();
    Ok(dirs)
}

fn encode_png(
    bytes: &[u8],
    width: u32,
    height: u32,
    color: image::ExtendedColorType,
) -> Result<Vec<u8>, DataError> {
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new_with_quality(
        Cursor::new(&mut out),
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::Adaptive,
    )
    .write_image(bytes, width, height, color)
    .map_err(|e| DataError::Shape(format!("PNG encoding failed: {e}")))?;
    Ok(out)
}

/// Depth in metres to the stored 16-bit value (0.1 mm units; 0 = no surface or out of range).
pub fn depth_to_u16(d: f32) -> u16 {
    let units = (f64::from(d) / DEPTH_UNIT).round();
    if d.is_finite() && units >= 1.0 && units <= f64::from(u16::MAX) {
        units as u16
    } else {
        0
    }
}

/// A stored 16-bit depth back in metres (infinity for 0).
pub fn depth_from_u16(v: u16) -> f32 {
    if v == 0 {
        f32::INFINITY
    } else {
        (f64::from(v) * DEPTH_UNIT) as f32
    }
}

/// A dataset opened for reading.
#[derive(Debug, Clone)]
pub struct Dataset {
    dir: PathBuf,
    episodes: Vec<PathBuf>,
}

impl Dataset {
    /// Opens the dataset at `dir` (its complete episodes; interrupted ones are skipped).
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, DataError> {
        let dir = dir.as_ref().to_path_buf();
        check_manifest(&dir)?;
        let episodes = episode_dirs(&dir.join("episodes"))?;
        Ok(Self { dir, episodes })
    }

    /// The dataset folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Folders of the complete episodes, in index order.
    pub fn episodes(&self) -> &[PathBuf] {
        &self.episodes
    }

    /// Metadata of every episode.
    pub fn metas(&self) -> Result<Vec<EpisodeMeta>, DataError> {
        self.episodes.iter().map(|p| read_meta(p)).collect()
    }
}

/// Reads an episode's metadata.
pub fn read_meta(dir: &Path) -> Result<EpisodeMeta, DataError> {
    let path = dir.join("episode.json");
    let text = std::fs::read(&path).map_err(|e| DataError::io(&path, e))?;
    serde_json::from_slice(&text).map_err(|e| DataError::format(&path, e.to_string()))
}

fn read_f64_rows(
    dir: &Path,
    name: &str,
    rows: usize,
    cols: usize,
) -> Result<Vec<Vec<f64>>, DataError> {
    let path = dir.join(format!("{name}.npy"));
    let a = Array::read(&path)?;
    if a.shape.len() < 2 || a.shape[0] != rows || a.shape[1..].iter().product::<usize>() != cols {
        return Err(DataError::format(
            &path,
            format!("shape {:?}, expected [{rows}, {cols}]", a.shape),
        ));
    }
    let mut a2 = a.clone();
    a2.shape = vec![rows, cols];
    a2.to_f64_rows()
        .ok_or_else(|| DataError::format(&path, "expected float64 values"))
}

fn read_vec(dir: &Path, name: &str, rows: usize) -> Result<Array, DataError> {
    let path = dir.join(format!("{name}.npy"));
    let a = Array::read(&path)?;
    if a.shape != [rows] {
        return Err(DataError::format(
            &path,
            format!("shape {:?}, expected [{rows}]", a.shape),
        ));
    }
    Ok(a)
}

fn pose7(row: &[f64]) -> [f64; 7] {
    let mut p = [0.0; 7];
    p.copy_from_slice(&row[..7]);
    p
}

/// Loads a whole episode; with `images` the PNGs are decoded too.
pub fn load_episode(dir: &Path, images: bool) -> Result<Episode, DataError> {
    let meta = read_meta(dir)?;
    let actions_a = Array::read(&dir.join("actions.npy"))?;
    let t = *actions_a.shape.first().unwrap_or(&0);
    let t1 = t + 1;
    let nj = meta.joint_names.len();
    let q = read_f64_rows(dir, "joint_positions", t1, nj)?;
    let dq = read_f64_rows(dir, "joint_velocities", t1, nj)?;
    let ee = read_f64_rows(dir, "ee_pose", t1, 7)?;
    let no = meta.object_names.len();
    let objects = read_f64_rows(dir, "objects", t1, no * 7)?;
    let fixtures = read_f64_rows(dir, "fixtures", t1, meta.fixture_names.len())?;
    let bad = |n: &str| DataError::format(&dir.join(format!("{n}.npy")), "unexpected dtype");
    let gripper = read_vec(dir, "gripper", t1)?
        .to_f64()
        .ok_or_else(|| bad("gripper"))?;
    let progress = read_vec(dir, "progress", t1)?
        .to_f64()
        .ok_or_else(|| bad("progress"))?;
    let stage = read_vec(dir, "stage", t1)?
        .to_i32()
        .ok_or_else(|| bad("stage"))?;
    let actions = read_f64_rows(dir, "actions", t, 7)?;
    let rewards = read_vec(dir, "rewards", t)?
        .to_f64()
        .ok_or_else(|| bad("rewards"))?;
    let mut cam_poses = Vec::new();
    for cam in &meta.cameras {
        let cdir = dir.join("cameras").join(&cam.name);
        cam_poses.push(read_f64_rows(&cdir, "pose", t1, 7)?);
    }
    let mut observations = Vec::with_capacity(t1);
    for i in 0..t1 {
        let mut imgs = Vec::new();
        for cam in &meta.cameras {
            let cdir = dir.join("cameras").join(&cam.name);
            imgs.push(if images {
                read_image(&cdir, cam, i)?
            } else {
                Image {
                    width: cam.width,
                    height: cam.height,
                    rgb: Vec::new(),
                    depth: None,
                }
            });
        }
        observations.push(Observation {
            joint_positions: q[i].clone(),
            joint_velocities: dq[i].clone(),
            ee_pose: pose7(&ee[i]),
            gripper: gripper[i],
            progress: progress[i],
            stage: stage[i],
            objects: objects[i].chunks(7).map(pose7).collect(),
            fixtures: fixtures[i].clone(),
            camera_poses: cam_poses.iter().map(|p| pose7(&p[i])).collect(),
            images: imgs,
        });
    }
    Ok(Episode {
        meta,
        observations,
        actions: actions.iter().map(|a| pose7(a)).collect(),
        rewards,
    })
}

/// Reads the images of observation `t` of one camera.
pub fn read_image(camera_dir: &Path, cam: &CameraMeta, t: usize) -> Result<Image, DataError> {
    let path = camera_dir.join("rgb").join(format!("{t:06}.png"));
    let bytes = std::fs::read(&path).map_err(|e| DataError::io(&path, e))?;
    let img = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png)
        .map_err(|e| DataError::format(&path, e.to_string()))?;
    if img.width() != cam.width || img.height() != cam.height {
        return Err(DataError::format(
            &path,
            format!(
                "{}x{}, expected {}x{}",
                img.width(),
                img.height(),
                cam.width,
                cam.height
            ),
        ));
    }
    let rgb = img.into_rgb8().into_raw();
    let depth = if cam.depth {
        let path = camera_dir.join("depth").join(format!("{t:06}.png"));
        let bytes = std::fs::read(&path).map_err(|e| DataError::io(&path, e))?;
        let img = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png)
            .map_err(|e| DataError::format(&path, e.to_string()))?;
        Some(
            img.into_luma16()
                .into_raw()
                .into_iter()
                .map(depth_from_u16)
                .collect(),
        )
    } else {
        None
    };
    Ok(Image {
        width: cam.width,
        height: cam.height,
        rgb,
        depth,
    })
}

/// What `striatum data info` prints: counts, success and lengths by scene/robot/variant, and
/// bytes on disk.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Complete episodes.
    pub episodes: usize,
    /// Actions in all episodes.
    pub steps: usize,
    /// Bytes on disk of the complete episodes.
    pub bytes: u64,
    /// Per `scene/robot/variant`: episodes, successes, mean length.
    pub groups: BTreeMap<String, GroupSummary>,
    /// Camera names and sizes of the first episode.
    pub cameras: Vec<String>,
}

/// Statistics of one group of episodes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupSummary {
    /// Episodes.
    pub episodes: usize,
    /// Successful ones.
    pub successes: usize,
    /// Mean number of actions.
    pub mean_steps: f64,
}

/// Summarises a dataset without decoding images.
pub fn summarize(dataset: &Dataset) -> Result<Summary, DataError> {
    let mut groups: BTreeMap<String, GroupSummary> = BTreeMap::new();
    let mut steps = 0;
    let mut bytes = 0;
    let mut cameras = Vec::new();
    for dir in dataset.episodes() {
        let meta = read_meta(dir)?;
        let a = Array::read(&dir.join("actions.npy"))?;
        let t = *a.shape.first().unwrap_or(&0);
        steps += t;
        bytes += dir_size(dir)?;
        if cameras.is_empty() {
            cameras = meta
                .cameras
                .iter()
                .map(|c| {
                    format!(
                        "{} {}x{}{}",
                        c.name,
                        c.width,
                        c.height,
                        if c.depth { " +depth" } else { "" }
                    )
                })
                .collect();
        }
        let g = groups
            .entry(format!("{}/{}/{}", meta.scene, meta.robot, meta.variant))
            .or_insert(GroupSummary {
                episodes: 0,
                successes: 0,
                mean_steps: 0.0,
            });
        g.mean_steps = (g.mean_steps * g.episodes as f64 + t as f64) / (g.episodes + 1) as f64;
        g.episodes += 1;
        g.successes += usize::from(meta.success);
    }
    Ok(Summary {
        episodes: dataset.episodes().len(),
        steps,
        bytes,
        groups,
        cameras,
    })
}

fn dir_size(dir: &Path) -> Result<u64, DataError> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        let meta = entry
            .metadata()
            .map_err(|e| DataError::io(&entry.path(), e))?;
        total += if meta.is_dir() {
            dir_size(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}
