//! Episode boundaries and node heartbeats.

use crate::cdr::{CdrReader, CdrWriter};
use crate::error::{DecodeError, EncodeError, ValidationError, finite};
use crate::message::{CdrStruct, Message};
use crate::types::Header;
use crate::wire_enum::wire_enum;

wire_enum! {
    /// Wire code of an [`EpisodeEvent`]'s kind.
    EpisodeEventCode {
        /// An episode starts.
        Start = 0 => "start",
        /// An episode ends.
        End = 1 => "end",
    }
}

/// What happened to the episode.
#[derive(Debug, Clone, PartialEq)]
pub enum EpisodeEventKind {
    /// The episode starts.
    Start {
        /// Task name (e.g. the scene), used to pick reward model and policy.
        task: String,
        /// Natural-language instruction given for this episode.
        instruction: String,
        /// Seed of the episode's randomisation.
        seed: u64,
    },
    /// The episode ends.
    End {
        /// The task was accomplished.
        success: bool,
        /// The episode was cut by its time limit rather than reaching a terminal state.
        truncated: bool,
        /// Control steps taken.
        steps: u64,
        /// Sum of task rewards.
        episode_return: f64,
    },
}

/// The start or end of an episode. On the wire both kinds share one flat layout, the fields of
/// the other kind zero or empty:
/// `Header header, string robot_id, uint64 episode_id, uint8 kind, string task,
/// string instruction, uint64 seed, bool success, bool truncated, uint64 steps,
/// float64 episode_return`.
#[derive(Debug, Clone, PartialEq)]
pub struct EpisodeEvent {
    /// When it happened.
    pub header: Header,
    /// Robot (or sim environment) of the episode.
    pub robot_id: String,
    /// Episode counter.
    pub episode_id: u64,
    /// Start or end, with their data.
    pub kind: EpisodeEventKind,
}

impl CdrStruct for EpisodeEvent {
    fn write_cdr(&self, w: &mut CdrWriter) -> Result<(), EncodeError> {
        self.header.write_cdr(w)?;
        w.string("robot_id", &self.robot_id)?;
        w.u64(self.episode_id);
        let (code, task, instruction, seed, success, truncated, steps, ret) = match &self.kind {
            EpisodeEventKind::Start {
                task,
                instruction,
                seed,
            } => (
                EpisodeEventCode::Start,
                task.as_str(),
                instruction.as_str(),
                *seed,
                false,
                false,
                0,
                0.0,
            ),
            EpisodeEventKind::End {
                success,
                truncated,
                steps,
                episode_return,
            } => (
                EpisodeEventCode::End,
                "",
                "",
                0,
                *success,
                *truncated,
                *steps,
                *episode_return,
            ),
        };
        w.u8(code.as_u8());
        w.string("task", task)?;
        w.string("instruction", instruction)?;
        w.u64(seed);
        w.bool(success);
        w.bool(truncated);
        w.u64(steps);
        w.f64(ret);
        Ok(())
    }

    fn read_cdr(r: &mut CdrReader<'_>) -> Result<Self, DecodeError> {
        let header = Header::read_cdr(r)?;
        let robot_id = r.string("robot_id")?;
        let episode_id = r.u64("episode_id")?;
        let code = EpisodeEventCode::read(r, "kind")?;
        let task = r.string("task")?;
        let instruction = r.string("instruction")?;
        let seed = r.u64("seed")?;
        let success = r.bool("success")?;
        let truncated = r.bool("truncated")?;
        let steps = r.u64("steps")?;
        let episode_return = r.f64("episode_return")?;
        let unused = |field: &str| -> DecodeError {
            ValidationError::Inconsistent {
                field: field.into(),
                reason: format!("must be zero or empty in a `{code}` event"),
            }
            .into()
        };
        let kind = match code {
            EpisodeEventCode::Start => {
                if success || truncated || steps != 0 || episode_return != 0.0 {
                    return Err(unused("success/truncated/steps/episode_return"));
                }
                EpisodeEventKind::Start {
                    task,
                    instruction,
                    seed,
                }
            }
            EpisodeEventCode::End => {
                if !task.is_empty() || !instruction.is_empty() || seed != 0 {
                    return Err(unused("task/instruction/seed"));
                }
                EpisodeEventKind::End {
                    success,
                    truncated,
                    steps,
                    episode_return,
                }
            }
        };
        Ok(Self {
            header,
            robot_id,
            episode_id,
            kind,
        })
    }

    fn validate(&self) -> Result<(), ValidationError> {
        match &self.kind {
            EpisodeEventKind::End { episode_return, .. } => {
                finite("episode_return", *episode_return)
            }
            EpisodeEventKind::Start { .. } => Ok(()),
        }
    }
}

impl Message for EpisodeEvent {
    const TYPE_NAME: &'static str = "striatum_msgs/msg/EpisodeEvent";
}

wire_enum! {
    /// A node's self-reported condition.
    NodeState {
        /// Starting up (loading models, connecting hardware).
        Starting = 0 => "starting",
        /// Working normally.
        Running = 1 => "running",
        /// Working, but something is wrong (dropped inputs, missed deadlines).
        Degraded = 2 => "degraded",
        /// Shutting down.
        Stopping = 3 => "stopping",
    }
}

/// Periodic health report of a node (presence itself is a Zenoh liveliness token):
/// `Header header, string node, uint64 seq, uint8 state, uint64 uptime_ns, uint64 messages_in,
/// uint64 messages_out, uint64 decode_errors`.
#[derive(Debug, Clone, PartialEq)]
pub struct Heartbeat {
    /// Time of the report.
    pub header: Header,
    /// Node name.
    pub node: String,
    /// Report counter.
    pub seq: u64,
    /// Condition.
    pub state: NodeState,
    /// Time since the node started.
    pub uptime_ns: u64,
    /// Messages received.
    pub messages_in: u64,
    /// Messages sent.
    pub messages_out: u64,
    /// Payloads received that failed to decode.
    pub decode_errors: u64,
}

impl CdrStruct for Heartbeat {
    fn write_cdr(&self, w: &mut CdrWriter) -> Result<(), EncodeError> {
        self.header.write_cdr(w)?;
        w.string("node", &self.node)?;
        w.u64(self.seq);
        w.u8(self.state.as_u8());
        w.u64(self.uptime_ns);
        w.u64(self.messages_in);
        w.u64(self.messages_out);
        w.u64(self.decode_errors);
        Ok(())
    }

    fn read_cdr(r: &mut CdrReader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            header: Header::read_cdr(r)?,
            node: r.string("node")?,
            seq: r.u64("seq")?,
            state: NodeState::read(r, "state")?,
            uptime_ns: r.u64("uptime_ns")?,
            messages_in: r.u64("messages_in")?,
            messages_out: r.u64("messages_out")?,
            decode_errors: r.u64("decode_errors")?,
        })
    }
}

impl Message for Heartbeat {
    const TYPE_NAME: &'static str = "striatum_msgs/msg/Heartbeat";
}
