//! The message types of the stack.

mod control;
mod header;
pub(crate) mod image;
mod learning;
mod lifecycle;
mod robot;

pub use control::{
    ActionChunk, ActionCommand, ActionKind, ActionSource, Intervention, InterventionKind,
    MAX_CHUNK_HORIZON,
};
pub use header::{Header, unix_now_ns};
pub use image::{Image, MAX_IMAGE_SIDE, MAX_VIEWS, MultiViewFrame, NamedImage, PixelEncoding};
pub use learning::{
    AssembledWeights, AssemblyError, PolicyWeights, ProgressReward, Transition, ViewEstimate,
    WeightsAssembler,
};
pub use lifecycle::{EpisodeEvent, EpisodeEventCode, EpisodeEventKind, Heartbeat, NodeState};
pub use robot::{EndEffectorState, JointState, MAX_JOINTS, Pose, Quaternion, Twist, Vector3};
