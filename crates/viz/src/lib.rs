//! Rerun logging for Striatum: camera views, the robot from its URDF, scene objects, progress
//! rewards, actions, joint states and episode events on shared timelines, with a default
//! layout. Used in-process (the simulator, the dataset exporter) or as a bus node that
//! subscribes to a robot's topics.
//!
//! Entity paths (see `docs/visualization.md`):
//!
//! ```text
//! cameras/<view>                  Image (rgb8), Pinhole, Transform3D (world from optical frame)
//! cameras/<view>/depth            DepthImage (metres)
//! world/robot/<link>              Transform3D per step; its URDF visuals below it
//! world/scene/<name>/<i>          table, objects, fixtures, target markers
//! reward/progress, reward/done_prob, reward/shaped, reward/sparse, reward/uncertainty,
//! reward/per_view/<view>          Scalars
//! task/progress, task/stage       Scalars (privileged, simulator or dataset)
//! action/<component>              Scalars
//! state/joints/<joint>, state/gripper                 Scalars
//! events                          TextLog: episode start/end, stage changes, interventions
//! ```
//!
//! Timelines: `step` (control steps since the recording began, across episodes), `episode`,
//! `episode_step`, and `sim_time` (simulated seconds) or `wall_time` (message stamps).

mod episode;
mod logger;
mod node;
mod sink;

pub use episode::{ACTION_NAMES, ExportOptions, ExportSummary, export_dataset, log_episode};
pub use logger::{CameraFrame, Logger, RobotVisual, TimeSource, blueprint};
pub use node::{NodeOptions, NodeStats, run_node};
pub use sink::{Sink, viewer_executable};

use thiserror::Error;

/// Why logging failed.
#[derive(Debug, Error)]
pub enum VizError {
    /// The Rerun SDK refused (a sink could not be opened, a viewer not spawned, ...).
    #[error("rerun: {0}")]
    Rerun(String),
    /// A `--rerun` value is not one of the accepted forms.
    #[error(
        "bad --rerun value {0:?}: expected save:FILE, spawn, connect, connect:URL, serve or none"
    )]
    BadSink(String),
    /// A dataset or episode could not be read.
    #[error(transparent)]
    Data(#[from] striatum_data::DataError),
    /// A robot description could not be read.
    #[error(transparent)]
    Robot(#[from] striatum_sim::RobotError),
    /// A bus operation failed.
    #[error(transparent)]
    Bus(#[from] striatum_bus::BusError),
    /// Input that cannot be logged (wrong sizes, unknown names).
    #[error("{0}")]
    Invalid(String),
}

impl VizError {
    pub(crate) fn rerun(e: impl std::fmt::Display) -> Self {
        VizError::Rerun(e.to_string())
    }
}
