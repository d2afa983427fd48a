//! Commands to a robot and human interventions.

use crate::cdr::{CdrReader, CdrWriter};
use crate::error::{DecodeError, EncodeError, ValidationError, all_finite, in_range};
use crate::message::{CdrStruct, Message};
use crate::types::Header;
use crate::wire_enum::wire_enum;

/// Longest action chunk (steps) a command may carry.
pub const MAX_CHUNK_HORIZON: u32 = 1024;

wire_enum! {
    /// What the values of an [`ActionCommand`] mean.
    ActionKind {
        /// Absolute joint position targets (rad or m), one per actuated arm joint.
        JointPosition = 0 => "joint_position",
        /// Joint position increments from the current targets.
        JointDelta = 1 => "joint_delta",
        /// End-effector increments in the base frame: `[dx, dy, dz]` (m), optionally followed by
        /// `dyaw` (4 values, for 5-DoF arms) or `droll, dpitch, dyaw` (6 values), in radians.
        EndEffectorDelta = 2 => "ee_delta",
    }
}

wire_enum! {
    /// Who produced an action.
    ActionSource {
        /// A learned policy.
        Policy = 0 => "policy",
        /// A human operator (teleoperation or intervention).
        Human = 1 => "human",
        /// A scripted controller or expert.
        Scripted = 2 => "scripted",
    }
}

/// Future actions predicted together with the current one (VLA-style action chunking):
/// `uint32 horizon, float64 dt, float64[] values, float64[] gripper`.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionChunk {
    /// Number of future steps.
    pub horizon: u32,
    /// Seconds between consecutive steps.
    pub dt: f64,
    /// `horizon x action_dim` values, row-major, same meaning as the command's `values`.
    pub values: Vec<f64>,
    /// `horizon` gripper targets.
    pub gripper: Vec<f64>,
}

/// One control command:
/// `Header header, uint64 episode_id, uint64 step, uint8 kind, float64[] values,
/// float64 gripper, uint8 source, ActionChunk[<=1] chunk`.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionCommand {
    /// When the command was issued; a receiver may reject stale commands.
    pub header: Header,
    /// Episode the command belongs to.
    pub episode_id: u64,
    /// Control step within the episode.
    pub step: u64,
    /// Meaning of `values`.
    pub kind: ActionKind,
    /// The action for this step.
    pub values: Vec<f64>,
    /// Gripper target opening, normalised: 0 closed, 1 open.
    pub gripper: f64,
    /// Who produced the action.
    pub source: ActionSource,
    /// Optional chunk of future actions.
    pub chunk: Option<ActionChunk>,
}

impl CdrStruct for ActionCommand {
    fn write_cdr(&self, w: &mut CdrWriter) -> Result<(), EncodeError> {
        self.header.write_cdr(w)?;
        w.u64(self.episode_id);
        w.u64(self.step);
        w.u8(self.kind.as_u8());
        w.f64_seq("values", &self.values)?;
        w.f64(self.gripper);
        w.u8(self.source.as_u8());
        w.seq_len("chunk", usize::from(self.chunk.is_some()), 1)?;
        if let Some(chunk) = &self.chunk {
            w.u32(chunk.horizon);
            w.f64(chunk.dt);
            w.f64_seq("chunk.values", &chunk.values)?;
            w.f64_seq("chunk.gripper", &chunk.gripper)?;
        }
        Ok(())
    }

    fn read_cdr(r: &mut CdrReader<'_>) -> Result<Self, DecodeError> {
        let header = Header::read_cdr(r)?;
        let episode_id = r.u64("episode_id")?;
        let step = r.u64("step")?;
        let kind = ActionKind::read(r, "kind")?;
        let values = r.f64_seq("values")?;
        let gripper = r.f64("gripper")?;
        let source = ActionSource::read(r, "source")?;
        let chunk = match r.seq_len("chunk", 16, 1)? {
            0 => None,
            _ => Some(ActionChunk {
                horizon: r.u32("chunk.horizon")?,
                dt: r.f64("chunk.dt")?,
                values: r.f64_seq("chunk.values")?,
                gripper: r.f64_seq("chunk.gripper")?,
            }),
        };
        Ok(Self {
            header,
            episode_id,
            step,
            kind,
            values,
            gripper,
            source,
            chunk,
        })
    }

    fn validate(&self) -> Result<(), ValidationError> {
        let dim = self.values.len();
        let dim_ok = match self.kind {
            ActionKind::EndEffectorDelta => matches!(dim, 3 | 4 | 6),
            ActionKind::JointPosition | ActionKind::JointDelta => (1..=256).contains(&dim),
        };
        if !dim_ok {
            return Err(ValidationError::Inconsistent {
                field: "values".into(),
                reason: format!("{dim} values do not fit action kind `{}`", self.kind),
            });
        }
        all_finite("values", &self.values)?;
        in_range("gripper", self.gripper, 0.0, 1.0)?;
        if let Some(chunk) = &self.chunk {
            if chunk.horizon == 0 || chunk.horizon > MAX_CHUNK_HORIZON {
                return Err(ValidationError::OutOfRange {
                    field: "chunk.horizon".into(),
                    value: f64::from(chunk.horizon),
                    min: 1.0,
                    max: f64::from(MAX_CHUNK_HORIZON),
                });
            }
            in_range("chunk.dt", chunk.dt, f64::MIN_POSITIVE, 60.0)?;
            let horizon = chunk.horizon as usize;
            if chunk.values.len() != horizon * dim {
                return Err(ValidationError::ShapeMismatch {
                    field: "chunk.values".into(),
                    expected: (horizon * dim) as u64,
                    found: chunk.values.len() as u64,
                });
            }
            if chunk.gripper.len() != horizon {
                return Err(ValidationError::ShapeMismatch {
                    field: "chunk.gripper".into(),
                    expected: horizon as u64,
                    found: chunk.gripper.len() as u64,
                });
            }
            all_finite("chunk.values", &chunk.values)?;
            for (i, g) in chunk.gripper.iter().enumerate() {
                in_range(format!("chunk.gripper[{i}]"), *g, 0.0, 1.0)?;
            }
        }
        Ok(())
    }
}

impl Message for ActionCommand {
    const TYPE_NAME: &'static str = "striatum_msgs/msg/ActionCommand";
}

wire_enum! {
    /// What a human did.
    InterventionKind {
        /// The human takes over: their actions replace the policy's from this step.
        Takeover = 0 => "takeover",
        /// The human hands control back to the policy.
        Release = 1 => "release",
        /// The human marks the episode a success (ends it).
        MarkSuccess = 2 => "mark_success",
        /// The human marks the episode a failure (ends it).
        MarkFailure = 3 => "mark_failure",
    }
}

/// A human-in-the-loop event:
/// `Header header, string robot_id, uint64 episode_id, uint64 step, uint8 kind, string device`.
#[derive(Debug, Clone, PartialEq)]
pub struct Intervention {
    /// When it happened.
    pub header: Header,
    /// Robot it concerns.
    pub robot_id: String,
    /// Episode it concerns.
    pub episode_id: u64,
    /// Control step at which it takes effect.
    pub step: u64,
    /// What happened.
    pub kind: InterventionKind,
    /// Input device, e.g. `keyboard`, `gamepad`, `leader_arm`, `spacemouse`.
    pub device: String,
}

impl CdrStruct for Intervention {
    fn write_cdr(&self, w: &mut CdrWriter) -> Result<(), EncodeError> {
        self.header.write_cdr(w)?;
        w.string("robot_id", &self.robot_id)?;
        w.u64(self.episode_id);
        w.u64(self.step);
        w.u8(self.kind.as_u8());
        w.string("device", &self.device)
    }

    fn read_cdr(r: &mut CdrReader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            header: Header::read_cdr(r)?,
            robot_id: r.string("robot_id")?,
            episode_id: r.u64("episode_id")?,
            step: r.u64("step")?,
            kind: InterventionKind::read(r, "kind")?,
            device: r.string("device")?,
        })
    }
}

impl Message for Intervention {
    const TYPE_NAME: &'static str = "striatum_msgs/msg/Intervention";
}
