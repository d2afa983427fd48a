//! Recorded episodes into Rerun: every observation, action and reward of a dataset episode on
//! the shared timelines.

use std::path::{Path, PathBuf};

use striatum_data::{Dataset, Episode, load_episode};
use striatum_msgs::{Header, ProgressReward, ViewEstimate};

use crate::VizError;
use crate::logger::{CameraFrame, Logger, RobotVisual, TimeSource, iso};
use crate::sink::Sink;

/// Names of the components of a recorded action.
pub const ACTION_NAMES: [&str; 7] = ["dx", "dy", "dz", "droll", "dpitch", "dyaw", "gripper"];

/// How episodes are turned into a recording.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Log camera images (RGB, and depth where recorded).
    pub images: bool,
    /// Folder of robot descriptions (`<robots>/<name>/robot.toml`); the robot is not drawn
    /// when its description is absent.
    pub robots: PathBuf,
    /// Discount of the shaped reward logged from privileged progress.
    pub gamma: f64,
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self {
            images: true,
            robots: PathBuf::from("robots"),
            gamma: 0.99,
        }
    }
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportSummary {
    /// Episodes logged.
    pub episodes: usize,
    /// Control steps logged (observations, counting each episode's first).
    pub steps: usize,
    /// The file written, for a `save:` sink.
    pub file: Option<PathBuf>,
}

/// Logs one episode at the logger's next steps. Until a reward model scores it, the reward
/// curves come from the episode's privileged progress: `reward/progress` is that progress,
/// `reward/done_prob` is 1 from the step the task is done, and `reward/shaped` is the sparse
/// reward plus `gamma * progress' - progress` (0 potential after the terminal state).
pub fn log_episode(
    logger: &mut Logger,
    index: u64,
    episode: &Episode,
    gamma: f64,
) -> Result<(), VizError> {
    let meta = &episode.meta;
    let dt = 1.0 / meta.control_hz.max(1e-9);
    let t0 = logger.steps() as f64 * dt;
    logger.begin_episode(index, &meta.scene, &meta.instruction)?;
    if let Some(first) = episode.observations.first() {
        logger.set_scene(&meta.shapes, &first.objects, &first.fixtures)?;
    }
    let stages = meta.stage_names.len() as i32;
    let last = episode.observations.len().saturating_sub(1);
    for (t, obs) in episode.observations.iter().enumerate() {
        logger.next_step(TimeSource::Sim(t0 + t as f64 * dt));
        for (c, cam) in meta.cameras.iter().enumerate() {
            let image = obs.images.get(c);
            let rgb = image.map_or(&[][..], |i| i.rgb.as_slice());
            let depth = image.and_then(|i| i.depth.as_deref());
            logger.log_camera(&CameraFrame {
                name: &cam.name,
                width: cam.width,
                height: cam.height,
                rgb,
                depth,
                intrinsics: Some([cam.fx, cam.fy, cam.cx, cam.cy]),
                pose: obs.camera_poses.get(c).map(iso),
            })?;
        }
        logger.log_joints(&meta.joint_names, &obs.joint_positions, Some(obs.gripper))?;
        logger.log_objects(&obs.objects, &obs.fixtures)?;
        let stage_name = usize::try_from(obs.stage)
            .ok()
            .and_then(|s| meta.stage_names.get(s))
            .map_or("done", String::as_str);
        logger.log_task(obs.progress, obs.stage, stage_name)?;
        let done = obs.stage >= stages;
        logger.log_progress(&ProgressReward {
            header: Header {
                stamp_ns: 0,
                frame_id: String::new(),
            },
            episode_id: index,
            step: t as u64,
            progress: obs.progress as f32,
            progress_delta: if t == 0 {
                0.0
            } else {
                (obs.progress - episode.observations[t - 1].progress) as f32
            },
            uncertainty: 0.0,
            inference_ns: 0,
            done_prob: if done { 1.0 } else { 0.0 },
            done,
            per_view: meta
                .cameras
                .iter()
                .map(|c| ViewEstimate {
                    view: c.name.clone(),
                    progress: obs.progress as f32,
                    confidence: 1.0,
                })
                .collect(),
            model_id: "privileged".into(),
        })?;
        if t < last {
            let action = &episode.actions[t];
            logger.log_action(&ACTION_NAMES, action)?;
            let next = &episode.observations[t + 1];
            let terminal = t + 1 == last && meta.success;
            let phi_next = if terminal { 0.0 } else { next.progress };
            let sparse = episode.rewards[t];
            logger.log_reward("sparse", sparse)?;
            logger.log_reward("shaped", sparse + gamma * phi_next - obs.progress)?;
        }
    }
    logger.end_episode(meta.success, last as u64)
}

/// Logs episodes of a dataset (all, or those whose index is in `only`) to `sink`, one
/// recording with the default layout.
pub fn export_dataset(
    dataset: &Path,
    only: Option<&[usize]>,
    sink: &Sink,
    options: &ExportOptions,
) -> Result<ExportSummary, VizError> {
    let (dirs, name) = episode_dirs(dataset)?;
    let selected: Vec<(usize, PathBuf)> = dirs
        .into_iter()
        .enumerate()
        .filter(|(i, _)| only.is_none_or(|o| o.contains(i)))
        .collect();
    if selected.is_empty() {
        return Err(VizError::Invalid(format!(
            "{}: no episodes selected",
            dataset.display()
        )));
    }
    let first = striatum_data::read_meta(&selected[0].1)?;
    let views: Vec<String> = first.cameras.iter().map(|c| c.name.clone()).collect();
    let mut logger = Logger::create(sink, &name, &views)?;
    let robot_dir = options.robots.join(&first.robot);
    if robot_dir.join("robot.toml").is_file() {
        logger.set_robot(RobotVisual::load(&robot_dir)?)?;
    } else {
        tracing::warn!(
            "robot `{}` not drawn: {} not found (use --robots DIR)",
            first.robot,
            robot_dir.join("robot.toml").display()
        );
    }
    let mut steps = 0;
    for (i, dir) in &selected {
        let episode = load_episode(dir, options.images)?;
        steps += episode.observations.len();
        log_episode(&mut logger, *i as u64, &episode, options.gamma)?;
    }
    let file = logger.finish()?;
    Ok(ExportSummary {
        episodes: selected.len(),
        steps,
        file,
    })
}

/// The episode folders of a dataset, or the one episode folder given, and a name for the
/// recording.
fn episode_dirs(path: &Path) -> Result<(Vec<PathBuf>, String), VizError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dataset".into());
    if path.join("episode.json").is_file() {
        return Ok((vec![path.to_path_buf()], name));
    }
    let dataset = Dataset::open(path)?;
    Ok((dataset.episodes().to_vec(), name))
}
