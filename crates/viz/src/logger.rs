//! The logger: one recording stream, the entity layout of the crate docs, and the timelines.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use nalgebra::{Isometry3, Quaternion, Translation3, UnitQuaternion};
use rerun::blueprint::{
    Blueprint, ContainerLike, Grid, Horizontal, Spatial2DView, Spatial3DView, TextLogView,
    TimeSeriesView, Vertical,
};
use rerun::{RecordingStream, RecordingStreamBuilder};
use striatum_data::{Attachment, ShapeGeometry, ShapeMeta};
use striatum_msgs::{Intervention, ProgressReward};
use striatum_sim::{Geometry, Robot};

use crate::VizError;
use crate::sink::{Sink, partial_path};

/// The application id recordings are filed under in the viewer.
pub const APPLICATION_ID: &str = "striatum";

/// What the time of a logged step is measured in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TimeSource {
    /// Simulated seconds since the recording began (`sim_time`).
    Sim(f64),
    /// Nanoseconds since the Unix epoch (`wall_time`), e.g. a message stamp.
    Wall(i64),
}

/// One camera image with its calibration and pose, ready to log.
#[derive(Debug, Clone, Copy)]
pub struct CameraFrame<'a> {
    /// View name (`cameras/<name>`).
    pub name: &'a str,
    /// Width (px).
    pub width: u32,
    /// Height (px).
    pub height: u32,
    /// `rgb8`, row-major; empty to log only the pose.
    pub rgb: &'a [u8],
    /// Depth along the optical axis (m; infinity or 0 where nothing was hit).
    pub depth: Option<&'a [f32]>,
    /// Pinhole intrinsics `[fx, fy, cx, cy]` (px), if known.
    pub intrinsics: Option<[f64; 4]>,
    /// World pose of the optical frame (x right, y down, z forward), if known.
    pub pose: Option<Isometry3<f64>>,
}

/// A robot's link visuals from its URDF, to draw it at any joint configuration.
#[derive(Debug, Clone)]
pub struct RobotVisual {
    robot: Robot,
}

impl RobotVisual {
    /// The visual model of a loaded robot.
    pub fn new(robot: Robot) -> Self {
        Self { robot }
    }

    /// Loads `robot.toml` (or a folder holding it) and its URDF.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, VizError> {
        Ok(Self::new(Robot::load(path)?))
    }

    /// The robot.
    pub fn robot(&self) -> &Robot {
        &self.robot
    }

    /// Arm joint names, in `robot.toml` order.
    pub fn joint_names(&self) -> Vec<String> {
        self.robot
            .config
            .joints
            .iter()
            .map(|j| j.name.clone())
            .collect()
    }

    /// World pose of every link (the robot's base is the world frame).
    pub fn link_poses(&self, arm: &[f64], gripper: f64) -> Vec<(String, Isometry3<f64>)> {
        self.robot
            .urdf
            .link_poses(&self.robot.joint_values(arm, gripper))
    }

    fn urdf_dir(&self) -> PathBuf {
        self.robot
            .urdf
            .source
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }
}

/// Logs Striatum data to one Rerun recording.
pub struct Logger {
    rec: RecordingStream,
    saving: Option<PathBuf>,
    step: i64,
    episode: i64,
    episode_step: i64,
    stage: Option<i32>,
    robot: Option<RobotVisual>,
    pinholes: HashSet<String>,
    shapes: Vec<ShapeMeta>,
    shape_origin: Vec<Option<Isometry3<f64>>>,
    fixture_start: Vec<f64>,
    pending_events: Vec<String>,
    outcomes: std::collections::VecDeque<bool>,
}

/// Episodes in the moving success rate (`task/success_rate`).
pub const SUCCESS_WINDOW: usize = 20;

impl Logger {
    /// Opens a recording named `recording` on `sink` with the default layout for `views`.
    pub fn create(sink: &Sink, recording: &str, views: &[String]) -> Result<Self, VizError> {
        let builder = RecordingStreamBuilder::new(APPLICATION_ID)
            .recording_name(recording)
            .with_default_blueprint(blueprint(views));
        let rec = sink.open(builder)?;
        let mut logger = Self::with_stream(rec);
        if let Sink::Save(path) = sink {
            logger.saving = Some(path.clone());
        }
        logger.log_static_frame()?;
        Ok(logger)
    }

    /// A logger on an existing stream (e.g. an in-memory one in tests).
    pub fn with_stream(rec: RecordingStream) -> Self {
        Self {
            rec,
            saving: None,
            step: -1,
            episode: -1,
            episode_step: 0,
            stage: None,
            robot: None,
            pinholes: HashSet::new(),
            shapes: Vec::new(),
            shape_origin: Vec::new(),
            fixture_start: Vec::new(),
            pending_events: Vec::new(),
            outcomes: std::collections::VecDeque::new(),
        }
    }

    /// The underlying stream.
    pub fn stream(&self) -> &RecordingStream {
        &self.rec
    }

    /// Control steps logged so far (the `step` timeline's next value).
    pub fn steps(&self) -> i64 {
        self.step + 1
    }

    fn log_static_frame(&self) -> Result<(), VizError> {
        self.rec
            .log_static("world", &rerun::ViewCoordinates::RIGHT_HAND_Z_UP())
            .map_err(VizError::rerun)
    }

    /// Sets the robot and logs its URDF visuals under `world/robot/<link>` (static).
    pub fn set_robot(&mut self, robot: RobotVisual) -> Result<(), VizError> {
        let dir = robot.urdf_dir();
        for link in &robot.robot.urdf.links {
            for (i, visual) in link.visuals.iter().enumerate() {
                let path = format!("world/robot/{}/visual_{i}", link.name);
                self.rec
                    .log_static(path.as_str(), &transform(&visual.origin))
                    .map_err(VizError::rerun)?;
                let color = visual.color.or(link.color).unwrap_or([0.7, 0.7, 0.7, 1.0]);
                let c = rgba(color);
                match &visual.geometry {
                    Geometry::Box { size } => self.rec.log_static(
                        path.as_str(),
                        &rerun::Boxes3D::from_half_sizes([(
                            size[0] as f32 / 2.0,
                            size[1] as f32 / 2.0,
                            size[2] as f32 / 2.0,
                        )])
                        .with_colors([c])
                        .with_fill_mode(rerun::FillMode::Solid),
                    ),
                    Geometry::Cylinder { radius, length } => self.rec.log_static(
                        path.as_str(),
                        &rerun::Cylinders3D::from_lengths_and_radii(
                            [*length as f32],
                            [*radius as f32],
                        )
                        .with_colors([c])
                        .with_fill_mode(rerun::FillMode::Solid),
                    ),
                    Geometry::Sphere { radius } => self.rec.log_static(
                        path.as_str(),
                        &rerun::Ellipsoids3D::from_radii([*radius as f32])
                            .with_colors([c])
                            .with_fill_mode(rerun::FillMode::Solid),
                    ),
                    Geometry::Mesh { filename, scale } => {
                        let file = filename.strip_prefix("file://").unwrap_or(filename);
                        let file = dir.join(file);
                        match rerun::Asset3D::from_file_path(&file) {
                            Ok(asset) => {
                                self.rec
                                    .log_static(
                                        format!("{path}/mesh").as_str(),
                                        &rerun::Transform3D::from_scale([
                                            scale[0] as f32,
                                            scale[1] as f32,
                                            scale[2] as f32,
                                        ]),
                                    )
                                    .map_err(VizError::rerun)?;
                                self.rec.log_static(format!("{path}/mesh").as_str(), &asset)
                            }
                            Err(e) => {
                                tracing::warn!(
                                    "link `{}`: mesh {} not drawn: {e}",
                                    link.name,
                                    file.display()
                                );
                                Ok(())
                            }
                        }
                    }
                }
                .map_err(VizError::rerun)?;
            }
        }
        self.robot = Some(robot);
        Ok(())
    }

    /// Logs the scene's shapes besides the robot (static ones as static data) and remembers
    /// how the moving ones follow objects and fixtures; `objects` and `fixtures` are their
    /// values at the first observation.
    pub fn set_scene(
        &mut self,
        shapes: &[ShapeMeta],
        objects: &[[f64; 7]],
        fixtures: &[f64],
    ) -> Result<(), VizError> {
        self.shapes = shapes.to_vec();
        self.shape_origin = shapes
            .iter()
            .map(|s| match s.attached {
                Attachment::Object { index } => {
                    objects.get(index).map(|o| iso(o).inverse() * iso(&s.pose))
                }
                _ => None,
            })
            .collect();
        self.fixture_start = fixtures.to_vec();
        for (i, s) in shapes.iter().enumerate() {
            let path = shape_path(s, i);
            let c = rgba([s.color[0], s.color[1], s.color[2], 1.0]);
            match s.geometry {
                ShapeGeometry::Box { half_extents: h } => self.rec.log_static(
                    path.as_str(),
                    &rerun::Boxes3D::from_half_sizes([(h[0] as f32, h[1] as f32, h[2] as f32)])
                        .with_colors([c])
                        .with_fill_mode(rerun::FillMode::Solid),
                ),
                ShapeGeometry::Cylinder {
                    radius,
                    half_height,
                } => self.rec.log_static(
                    path.as_str(),
                    &rerun::Cylinders3D::from_lengths_and_radii(
                        [2.0 * half_height as f32],
                        [radius as f32],
                    )
                    .with_colors([c])
                    .with_fill_mode(rerun::FillMode::Solid),
                ),
                ShapeGeometry::Sphere { radius } => self.rec.log_static(
                    path.as_str(),
                    &rerun::Ellipsoids3D::from_radii([radius as f32])
                        .with_colors([c])
                        .with_fill_mode(rerun::FillMode::Solid),
                ),
            }
            .map_err(VizError::rerun)?;
            if s.attached == Attachment::Static {
                self.rec
                    .log_static(path.as_str(), &transform(&iso(&s.pose)))
                    .map_err(VizError::rerun)?;
            }
        }
        Ok(())
    }

    /// Starts an episode: the `episode` timeline advances, `episode_step` restarts, and an
    /// event with the instruction is logged at the next step.
    pub fn begin_episode(
        &mut self,
        episode: u64,
        task: &str,
        instruction: &str,
    ) -> Result<(), VizError> {
        if self.step >= 0 {
            // Cut chunks at episode boundaries so `episode_step` stays sorted within each.
            self.rec.flush_blocking().map_err(VizError::rerun)?;
        }
        self.episode = i64::try_from(episode).unwrap_or(i64::MAX);
        self.episode_step = -1;
        self.stage = None;
        self.pending_events.push(format!(
            "episode {episode} start: {task}: \"{instruction}\""
        ));
        Ok(())
    }

    /// The current episode and step within it.
    pub fn position(&self) -> (u64, u64) {
        (
            u64::try_from(self.episode).unwrap_or(0),
            u64::try_from(self.episode_step).unwrap_or(0),
        )
    }

    /// Moves every timeline to the next control step of the current episode.
    pub fn next_step(&mut self, time: TimeSource) {
        self.step += 1;
        self.episode_step += 1;
        self.set_times(self.episode_step, time);
    }

    /// Sets the timelines for a message of the current episode at `episode_step` (e.g. from
    /// the bus, where messages of one step arrive separately) without advancing `step`
    /// beyond the largest step seen.
    pub fn at_step(&mut self, episode: u64, episode_step: u64, time: TimeSource) {
        let episode = i64::try_from(episode).unwrap_or(i64::MAX);
        let episode_step = i64::try_from(episode_step).unwrap_or(i64::MAX);
        if episode != self.episode
            && self.step >= 0
            && let Err(e) = self.rec.flush_blocking()
        {
            tracing::warn!("rerun flush: {e}");
        }
        if episode != self.episode || episode_step > self.episode_step {
            self.step += if episode != self.episode {
                1
            } else {
                episode_step - self.episode_step
            };
            self.episode = episode;
            self.episode_step = episode_step;
        }
        self.set_times(episode_step, time);
    }

    fn set_times(&self, episode_step: i64, time: TimeSource) {
        self.rec.set_time_sequence("step", self.step.max(0));
        self.rec.set_time_sequence("episode", self.episode.max(0));
        self.rec
            .set_time_sequence("episode_step", episode_step.max(0));
        match time {
            TimeSource::Sim(s) => self.rec.set_duration_secs("sim_time", s),
            TimeSource::Wall(ns) => self.rec.set_timestamp_nanos_since_epoch("wall_time", ns),
        }
    }

    /// Logs any queued events (episode starts) at the current time.
    fn flush_events(&mut self) -> Result<(), VizError> {
        for text in std::mem::take(&mut self.pending_events) {
            self.event(&text, rerun::TextLogLevel::INFO)?;
        }
        Ok(())
    }

    /// Logs a text event on `events`.
    pub fn event(&self, text: &str, level: &str) -> Result<(), VizError> {
        self.rec
            .log(
                "events",
                &rerun::TextLog::new(text.to_owned()).with_level(level.to_owned()),
            )
            .map_err(VizError::rerun)
    }

    /// Logs a camera's image, depth, intrinsics (once) and pose at the current step.
    pub fn log_camera(&mut self, frame: &CameraFrame<'_>) -> Result<(), VizError> {
        self.flush_events()?;
        let path = format!("cameras/{}", frame.name);
        if let Some([fx, fy, cx, cy]) = frame.intrinsics
            && self.pinholes.insert(frame.name.to_owned())
        {
            self.rec
                .log_static(
                    path.as_str(),
                    &rerun::Pinhole::new([
                        [fx as f32, 0.0, 0.0],
                        [0.0, fy as f32, 0.0],
                        [cx as f32, cy as f32, 1.0],
                    ])
                    .with_resolution([frame.width as f32, frame.height as f32])
                    .with_image_plane_distance(0.1),
                )
                .map_err(VizError::rerun)?;
        }
        if let Some(pose) = &frame.pose {
            self.rec
                .log(path.as_str(), &transform(pose))
                .map_err(VizError::rerun)?;
        }
        let pixels = (frame.width as usize) * (frame.height as usize);
        if !frame.rgb.is_empty() {
            if frame.rgb.len() != pixels * 3 {
                return Err(VizError::Invalid(format!(
                    "camera `{}`: {} rgb bytes for {}x{} pixels",
                    frame.name,
                    frame.rgb.len(),
                    frame.width,
                    frame.height
                )));
            }
            self.rec
                .log(
                    path.as_str(),
                    &rerun::Image::from_rgb24(frame.rgb.to_vec(), [frame.width, frame.height]),
                )
                .map_err(VizError::rerun)?;
        }
        if let Some(depth) = frame.depth {
            if depth.len() != pixels {
                return Err(VizError::Invalid(format!(
                    "camera `{}`: {} depth values for {}x{} pixels",
                    frame.name,
                    depth.len(),
                    frame.width,
                    frame.height
                )));
            }
            // Rerun reads 0 as "no depth"; infinity would stretch the colour map.
            let bytes: Vec<u8> = depth
                .iter()
                .flat_map(|d| (if d.is_finite() { *d } else { 0.0 }).to_le_bytes())
                .collect();
            self.rec
                .log(
                    format!("{path}/depth").as_str(),
                    &rerun::DepthImage::from_data_type_and_bytes(
                        bytes,
                        [frame.width, frame.height],
                        rerun::ChannelDatatype::F32,
                    )
                    .with_meter(1.0),
                )
                .map_err(VizError::rerun)?;
        }
        Ok(())
    }

    /// Logs joint positions (`state/joints/<name>`), the gripper closure (`state/gripper`)
    /// and, with a robot set, every link's pose.
    pub fn log_joints(
        &mut self,
        names: &[String],
        positions: &[f64],
        gripper: Option<f64>,
    ) -> Result<(), VizError> {
        self.flush_events()?;
        if names.len() != positions.len() {
            return Err(VizError::Invalid(format!(
                "{} joint names for {} positions",
                names.len(),
                positions.len()
            )));
        }
        for (name, q) in names.iter().zip(positions) {
            self.scalar(&format!("state/joints/{name}"), *q)?;
        }
        if let Some(g) = gripper {
            self.scalar("state/gripper", g)?;
        }
        if let Some(robot) = &self.robot {
            // Arm joints by name, in the robot's order; unknown names are ignored.
            let by_name: HashMap<&str, f64> = names
                .iter()
                .map(String::as_str)
                .zip(positions.iter().copied())
                .collect();
            let arm: Vec<f64> = robot
                .robot
                .config
                .joints
                .iter()
                .map(|j| by_name.get(j.name.as_str()).copied().unwrap_or(0.0))
                .collect();
            for (link, pose) in robot.link_poses(&arm, gripper.unwrap_or(0.0)) {
                self.rec
                    .log(format!("world/robot/{link}").as_str(), &transform(&pose))
                    .map_err(VizError::rerun)?;
            }
        }
        Ok(())
    }

    /// Moves the scene's shapes that follow objects (poses in `object_names` order) and
    /// fixtures (joint values in `fixture_names` order).
    pub fn log_objects(&mut self, objects: &[[f64; 7]], fixtures: &[f64]) -> Result<(), VizError> {
        self.flush_events()?;
        for (i, s) in self.shapes.iter().enumerate() {
            let pose = match s.attached {
                Attachment::Static => continue,
                Attachment::Object { index } => {
                    match (
                        objects.get(index),
                        self.shape_origin.get(i).copied().flatten(),
                    ) {
                        (Some(o), Some(local)) => iso(o) * local,
                        _ => continue,
                    }
                }
                Attachment::Fixture { index, axis } => {
                    let (Some(v), Some(v0)) = (fixtures.get(index), self.fixture_start.get(index))
                    else {
                        continue;
                    };
                    let d = v - v0;
                    Isometry3::translation(axis[0] * d, axis[1] * d, axis[2] * d) * iso(&s.pose)
                }
            };
            self.rec
                .log(shape_path(s, i).as_str(), &transform(&pose))
                .map_err(VizError::rerun)?;
        }
        Ok(())
    }

    /// Logs an action's components as `action/<name>`.
    pub fn log_action(&mut self, names: &[&str], values: &[f64]) -> Result<(), VizError> {
        self.flush_events()?;
        for (name, v) in names.iter().zip(values) {
            self.scalar(&format!("action/{name}"), *v)?;
        }
        Ok(())
    }

    /// Logs a reward model's output: `reward/progress`, `reward/done_prob`,
    /// `reward/uncertainty`, `reward/progress_delta`, `reward/per_view/<view>` and
    /// `reward/view_confidence/<view>`.
    pub fn log_progress(&mut self, msg: &ProgressReward) -> Result<(), VizError> {
        self.flush_events()?;
        self.scalar("reward/progress", f64::from(msg.progress))?;
        self.scalar("reward/progress_delta", f64::from(msg.progress_delta))?;
        self.scalar("reward/done_prob", f64::from(msg.done_prob))?;
        self.scalar("reward/uncertainty", f64::from(msg.uncertainty))?;
        for v in &msg.per_view {
            self.scalar(
                &format!("reward/per_view/{}", v.view),
                f64::from(v.progress),
            )?;
            self.scalar(
                &format!("reward/view_confidence/{}", v.view),
                f64::from(v.confidence),
            )?;
        }
        Ok(())
    }

    /// Logs a named reward scalar, e.g. `shaped` or `sparse` (`reward/<name>`).
    pub fn log_reward(&mut self, name: &str, value: f64) -> Result<(), VizError> {
        self.flush_events()?;
        self.scalar(&format!("reward/{name}"), value)
    }

    /// Logs privileged task progress (`task/progress`, `task/stage`) and an event when the
    /// stage changes.
    pub fn log_task(
        &mut self,
        progress: f64,
        stage: i32,
        stage_name: &str,
    ) -> Result<(), VizError> {
        self.flush_events()?;
        self.scalar("task/progress", progress)?;
        self.scalar("task/stage", f64::from(stage))?;
        if self.stage.is_some_and(|s| s != stage) {
            self.event(
                &format!("stage {stage}: {stage_name}"),
                rerun::TextLogLevel::DEBUG,
            )?;
        }
        self.stage = Some(stage);
        Ok(())
    }

    /// Logs a human intervention as an event (and `hil/active` 1 while a human has control).
    pub fn log_intervention(&mut self, msg: &Intervention) -> Result<(), VizError> {
        self.flush_events()?;
        self.event(
            &format!(
                "intervention: {} ({}) at step {}",
                msg.kind.name(),
                msg.device,
                msg.step
            ),
            rerun::TextLogLevel::WARN,
        )?;
        let active = match msg.kind {
            striatum_msgs::InterventionKind::Takeover => 1.0,
            _ => 0.0,
        };
        self.scalar("hil/active", active)
    }

    /// Ends the episode with an event naming its outcome, `task/success`, and
    /// `task/success_rate` over the last [`SUCCESS_WINDOW`] episodes.
    pub fn end_episode(&mut self, success: bool, steps: u64) -> Result<(), VizError> {
        self.flush_events()?;
        self.scalar("task/success", if success { 1.0 } else { 0.0 })?;
        if self.outcomes.len() == SUCCESS_WINDOW {
            self.outcomes.pop_front();
        }
        self.outcomes.push_back(success);
        let rate = self.outcomes.iter().filter(|s| **s).count() as f64 / self.outcomes.len() as f64;
        self.scalar("task/success_rate", rate)?;
        self.event(
            &format!(
                "episode {} end: {} after {steps} steps",
                self.episode,
                if success { "success" } else { "failure" }
            ),
            if success {
                rerun::TextLogLevel::INFO
            } else {
                rerun::TextLogLevel::WARN
            },
        )
    }

    fn scalar(&self, path: &str, value: f64) -> Result<(), VizError> {
        self.rec
            .log(path, &rerun::Scalars::single(value))
            .map_err(VizError::rerun)
    }

    /// Flushes everything to the sink and, for a saved file, moves it into place.
    pub fn finish(self) -> Result<Option<PathBuf>, VizError> {
        self.rec.flush_blocking().map_err(VizError::rerun)?;
        let saving = self.saving.clone();
        drop(self.rec);
        if let Some(path) = saving {
            let partial = partial_path(&path);
            std::fs::rename(&partial, &path).map_err(|e| {
                VizError::Rerun(format!(
                    "cannot move {} to {}: {e}",
                    partial.display(),
                    path.display()
                ))
            })?;
            return Ok(Some(path));
        }
        Ok(None)
    }
}

/// The default layout: the camera views in a grid beside the 3D scene, the reward, task,
/// action and joint curves aligned under them, and the event log.
pub fn blueprint(views: &[String]) -> Blueprint {
    let cameras: Vec<ContainerLike> = views
        .iter()
        .map(|v| {
            Spatial2DView::new(v.as_str())
                .with_origin(format!("/cameras/{v}"))
                .with_contents(["+ $origin", "- $origin/depth"])
                .into()
        })
        .collect();
    let scene = Spatial3DView::new("scene")
        .with_origin("/")
        .with_contents(["+ /world/**", "+ /cameras/**"]);
    let top: ContainerLike = if cameras.is_empty() {
        scene.into()
    } else {
        Horizontal::new([Grid::new(cameras).into(), scene.into()])
            .with_column_shares([1.0, 1.0])
            .into()
    };
    let curves = Horizontal::new([
        TimeSeriesView::new("reward")
            .with_origin("/reward")
            .with_contents(["+ $origin/**", "+ /task/progress"])
            .into(),
        TimeSeriesView::new("action").with_origin("/action").into(),
        TimeSeriesView::new("joints").with_origin("/state").into(),
    ]);
    let events = TextLogView::new("events").with_origin("/events");
    Blueprint::new(
        Vertical::new([top, curves.into(), events.into()]).with_row_shares([3.0, 2.0, 1.0]),
    )
}

fn shape_path(s: &ShapeMeta, i: usize) -> String {
    format!("world/scene/{}/{i}", s.name)
}

/// The pose `[x, y, z, qx, qy, qz, qw]` as an isometry.
pub(crate) fn iso(p: &[f64; 7]) -> Isometry3<f64> {
    Isometry3::from_parts(
        Translation3::new(p[0], p[1], p[2]),
        UnitQuaternion::from_quaternion(Quaternion::new(p[6], p[3], p[4], p[5])),
    )
}

fn transform(pose: &Isometry3<f64>) -> rerun::Transform3D {
    let t = pose.translation.vector;
    let q = pose.rotation.coords;
    rerun::Transform3D::from_translation_rotation(
        [t[0] as f32, t[1] as f32, t[2] as f32],
        rerun::Quaternion::from_xyzw([q[0] as f32, q[1] as f32, q[2] as f32, q[3] as f32]),
    )
}

fn rgba(c: [f64; 4]) -> rerun::Color {
    let u = |v: f64| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    rerun::Color::from_unmultiplied_rgba(u(c[0]), u(c[1]), u(c[2]), u(c[3]))
}
