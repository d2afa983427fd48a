//! What the reward model and the learner exchange: progress rewards, transitions, weights.

use crate::cdr::{CdrReader, CdrWriter, MAX_BYTES_LEN};
use crate::error::{DecodeError, EncodeError, ValidationError, all_finite, in_range};
use crate::message::{CdrStruct, Message};
use crate::types::Header;
use crate::types::image::MAX_VIEWS;

/// One camera view's own progress estimate: `string view, float32 progress, float32 confidence`.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewEstimate {
    /// View name, as in the frame.
    pub view: String,
    /// Progress in [0, 1] seen from this view alone.
    pub progress: f32,
    /// Confidence in [0, 1] of this view's estimate.
    pub confidence: f32,
}

/// The process reward model's verdict on one multi-view frame:
/// `Header header, uint64 episode_id, uint64 step, float32 progress, float32 progress_delta,
/// float32 done_prob, bool done, float32 uncertainty, ViewEstimate[] per_view, string model_id,
/// uint64 inference_ns`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgressReward {
    /// Stamp of the frame that was scored (so receivers can measure end-to-end latency).
    pub header: Header,
    /// Episode of the frame.
    pub episode_id: u64,
    /// Control step of the frame.
    pub step: u64,
    /// Fused task progress in [0, 1] (the shaping potential Phi).
    pub progress: f32,
    /// Progress change since the previous scored frame, in [-1, 1].
    pub progress_delta: f32,
    /// Probability in [0, 1] that the task is done.
    pub done_prob: f32,
    /// The model's done decision (the probability held above its calibrated threshold for
    /// the required number of consecutive frames).
    pub done: bool,
    /// Non-negative uncertainty score (e.g. disagreement between views or anchors).
    pub uncertainty: f32,
    /// Per-view estimates.
    pub per_view: Vec<ViewEstimate>,
    /// Identifier of the model (name and version) that produced the verdict.
    pub model_id: String,
    /// Time the model spent on this frame, in nanoseconds.
    pub inference_ns: u64,
}

impl CdrStruct for ProgressReward {
    fn write_cdr(&self, w: &mut CdrWriter) -> Result<(), EncodeError> {
        self.header.write_cdr(w)?;
        w.u64(self.episode_id);
        w.u64(self.step);
        w.f32(self.progress);
        w.f32(self.progress_delta);
        w.f32(self.done_prob);
        w.bool(self.done);
        w.f32(self.uncertainty);
        w.seq_len("per_view", self.per_view.len(), MAX_VIEWS)?;
        for v in &self.per_view {
            w.string("per_view.view", &v.view)?;
            w.f32(v.progress);
            w.f32(v.confidence);
        }
        w.string("model_id", &self.model_id)?;
        w.u64(self.inference_ns);
        Ok(())
    }

    fn read_cdr(r: &mut CdrReader<'_>) -> Result<Self, DecodeError> {
        let header = Header::read_cdr(r)?;
        let episode_id = r.u64("episode_id")?;
        let step = r.u64("step")?;
        let progress = r.f32("progress")?;
        let progress_delta = r.f32("progress_delta")?;
        let done_prob = r.f32("done_prob")?;
        let done = r.bool("done")?;
        let uncertainty = r.f32("uncertainty")?;
        let n = r.seq_len("per_view", 13, MAX_VIEWS)?;
        let mut per_view = Vec::with_capacity(n);
        for _ in 0..n {
            per_view.push(ViewEstimate {
                view: r.string("per_view.view")?,
                progress: r.f32("per_view.progress")?,
                confidence: r.f32("per_view.confidence")?,
            });
        }
        Ok(Self {
            header,
            episode_id,
            step,
            progress,
            progress_delta,
            done_prob,
            done,
            uncertainty,
            per_view,
            model_id: r.string("model_id")?,
            inference_ns: r.u64("inference_ns")?,
        })
    }

    fn validate(&self) -> Result<(), ValidationError> {
        in_range("progress", self.progress.into(), 0.0, 1.0)?;
        in_range("progress_delta", self.progress_delta.into(), -1.0, 1.0)?;
        in_range("done_prob", self.done_prob.into(), 0.0, 1.0)?;
        in_range("uncertainty", self.uncertainty.into(), 0.0, f64::MAX)?;
        for (i, v) in self.per_view.iter().enumerate() {
            in_range(
                format!("per_view[{i}].progress"),
                v.progress.into(),
                0.0,
                1.0,
            )?;
            in_range(
                format!("per_view[{i}].confidence"),
                v.confidence.into(),
                0.0,
                1.0,
            )?;
        }
        Ok(())
    }
}

impl Message for ProgressReward {
    const TYPE_NAME: &'static str = "striatum_msgs/msg/ProgressReward";
}

/// One environment step as the learner stores it:
/// `Header header, string actor_id, uint64 seq, uint64 episode_id, uint64 step,
/// float32[] observation, float32[] action, float32 reward, float32 progress,
/// float32 next_progress, float32[] next_observation, bool terminated, bool truncated,
/// bool intervention`.
///
/// `reward` is the task reward; shaping is applied by the learner from `progress` (Phi(s)) and
/// `next_progress` (Phi(s')), so the shaping coefficient can change without re-collecting data.
/// `seq` counts every transition an actor sends, so gaps and duplicates are detectable.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// Time of the step.
    pub header: Header,
    /// Actor that collected the step.
    pub actor_id: String,
    /// Per-actor sequence number, +1 per transition sent.
    pub seq: u64,
    /// Episode of the step.
    pub episode_id: u64,
    /// Step within the episode.
    pub step: u64,
    /// Observation vector before the action.
    pub observation: Vec<f32>,
    /// Action taken (normalised to the policy's action space).
    pub action: Vec<f32>,
    /// Task reward.
    pub reward: f32,
    /// Progress (potential) of the observation, in [0, 1].
    pub progress: f32,
    /// Progress (potential) of the next observation, in [0, 1].
    pub next_progress: f32,
    /// Observation vector after the action.
    pub next_observation: Vec<f32>,
    /// The episode ended in a true terminal state.
    pub terminated: bool,
    /// The episode was cut by a time limit (the learner bootstraps).
    pub truncated: bool,
    /// A human produced the action.
    pub intervention: bool,
}

impl CdrStruct for Transition {
    fn write_cdr(&self, w: &mut CdrWriter) -> Result<(), EncodeError> {
        self.header.write_cdr(w)?;
        w.string("actor_id", &self.actor_id)?;
        w.u64(self.seq);
        w.u64(self.episode_id);
        w.u64(self.step);
        w.f32_seq("observation", &self.observation)?;
        w.f32_seq("action", &self.action)?;
        w.f32(self.reward);
        w.f32(self.progress);
        w.f32(self.next_progress);
        w.f32_seq("next_observation", &self.next_observation)?;
        w.bool(self.terminated);
        w.bool(self.truncated);
        w.bool(self.intervention);
        Ok(())
    }

    fn read_cdr(r: &mut CdrReader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            header: Header::read_cdr(r)?,
            actor_id: r.string("actor_id")?,
            seq: r.u64("seq")?,
            episode_id: r.u64("episode_id")?,
            step: r.u64("step")?,
            observation: r.f32_seq("observation")?,
            action: r.f32_seq("action")?,
            reward: r.f32("reward")?,
            progress: r.f32("progress")?,
            next_progress: r.f32("next_progress")?,
            next_observation: r.f32_seq("next_observation")?,
            terminated: r.bool("terminated")?,
            truncated: r.bool("truncated")?,
            intervention: r.bool("intervention")?,
        })
    }

    fn validate(&self) -> Result<(), ValidationError> {
        if self.observation.len() != self.next_observation.len() {
            return Err(ValidationError::ShapeMismatch {
                field: "next_observation".into(),
                expected: self.observation.len() as u64,
                found: self.next_observation.len() as u64,
            });
        }
        all_finite("observation", &self.observation)?;
        all_finite("next_observation", &self.next_observation)?;
        all_finite("action", &self.action)?;
        all_finite("reward", &[self.reward])?;
        in_range("progress", self.progress.into(), 0.0, 1.0)?;
        in_range("next_progress", self.next_progress.into(), 0.0, 1.0)
    }
}

impl Message for Transition {
    const TYPE_NAME: &'static str = "striatum_msgs/msg/Transition";

    fn encoded_size_hint(&self) -> usize {
        128 + 4 * (self.observation.len() * 2 + self.action.len()) + self.actor_id.len()
    }
}

/// Policy parameters broadcast by the learner, split into chunks that fit a sample:
/// `Header header, string policy_id, uint64 version, uint32 chunk_index, uint32 chunk_count,
/// uint64 total_bytes, uint32 crc32, uint8[] data`.
///
/// `crc32` (IEEE) covers the whole reassembled blob, so a receiver detects a corrupt or mixed
/// reassembly. Use [`PolicyWeights::split`] and [`WeightsAssembler`].
#[derive(Clone, PartialEq)]
pub struct PolicyWeights {
    /// Time the learner published this version.
    pub header: Header,
    /// Which policy the weights belong to.
    pub policy_id: String,
    /// Monotonic version (learner update count).
    pub version: u64,
    /// Index of this chunk, `0..chunk_count`.
    pub chunk_index: u32,
    /// Number of chunks in this version.
    pub chunk_count: u32,
    /// Size of the whole reassembled blob.
    pub total_bytes: u64,
    /// CRC-32 of the whole blob.
    pub crc32: u32,
    /// This chunk's bytes.
    pub data: Vec<u8>,
}

impl std::fmt::Debug for PolicyWeights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyWeights")
            .field("header", &self.header)
            .field("policy_id", &self.policy_id)
            .field("version", &self.version)
            .field("chunk_index", &self.chunk_index)
            .field("chunk_count", &self.chunk_count)
            .field("total_bytes", &self.total_bytes)
            .field("crc32", &format_args!("{:08x}", self.crc32))
            .field("data", &format_args!("<{} bytes>", self.data.len()))
            .finish()
    }
}

impl PolicyWeights {
    /// Splits a serialised policy into chunks of at most `max_chunk` bytes (at least one chunk,
    /// even for an empty blob).
    pub fn split(
        header: Header,
        policy_id: &str,
        version: u64,
        blob: &[u8],
        max_chunk: usize,
    ) -> Result<Vec<PolicyWeights>, ValidationError> {
        if max_chunk == 0 || max_chunk > MAX_BYTES_LEN {
            return Err(ValidationError::OutOfRange {
                field: "max_chunk".into(),
                value: max_chunk as f64,
                min: 1.0,
                max: MAX_BYTES_LEN as f64,
            });
        }
        let crc32 = crc32fast::hash(blob);
        let chunks: Vec<&[u8]> = if blob.is_empty() {
            vec![&[]]
        } else {
            blob.chunks(max_chunk).collect()
        };
        let chunk_count = u32::try_from(chunks.len()).map_err(|_| ValidationError::OutOfRange {
            field: "chunk_count".into(),
            value: chunks.len() as f64,
            min: 1.0,
            max: f64::from(u32::MAX),
        })?;
        Ok(chunks
            .into_iter()
            .enumerate()
            .map(|(i, data)| PolicyWeights {
                header: header.clone(),
                policy_id: policy_id.to_owned(),
                version,
                chunk_index: i as u32,
                chunk_count,
                total_bytes: blob.len() as u64,
                crc32,
                data: data.to_vec(),
            })
            .collect())
    }
}

impl CdrStruct for PolicyWeights {
    fn write_cdr(&self, w: &mut CdrWriter) -> Result<(), EncodeError> {
        self.header.write_cdr(w)?;
        w.string("policy_id", &self.policy_id)?;
        w.u64(self.version);
        w.u32(self.chunk_index);
        w.u32(self.chunk_count);
        w.u64(self.total_bytes);
        w.u32(self.crc32);
        w.bytes("data", &self.data)
    }

    fn read_cdr(r: &mut CdrReader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            header: Header::read_cdr(r)?,
            policy_id: r.string("policy_id")?,
            version: r.u64("version")?,
            chunk_index: r.u32("chunk_index")?,
            chunk_count: r.u32("chunk_count")?,
            total_bytes: r.u64("total_bytes")?,
            crc32: r.u32("crc32")?,
            data: r.bytes("data")?,
        })
    }

    fn validate(&self) -> Result<(), ValidationError> {
        if self.chunk_count == 0 || self.chunk_index >= self.chunk_count {
            return Err(ValidationError::Inconsistent {
                field: "chunk_index".into(),
                reason: format!(
                    "chunk {} of {} does not exist",
                    self.chunk_index, self.chunk_count
                ),
            });
        }
        if self.data.len() as u64 > self.total_bytes {
            return Err(ValidationError::ShapeMismatch {
                field: "data".into(),
                expected: self.total_bytes,
                found: self.data.len() as u64,
            });
        }
        Ok(())
    }
}

impl Message for PolicyWeights {
    const TYPE_NAME: &'static str = "striatum_msgs/msg/PolicyWeights";

    fn encoded_size_hint(&self) -> usize {
        96 + self.data.len() + self.policy_id.len()
    }
}

/// A complete, checksum-verified policy blob.
#[derive(Debug, Clone, PartialEq)]
pub struct AssembledWeights {
    /// Which policy.
    pub policy_id: String,
    /// Its version.
    pub version: u64,
    /// The serialised parameters.
    pub blob: Vec<u8>,
}

/// Why chunks could not be reassembled.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AssemblyError {
    /// A chunk disagrees with earlier chunks of the same version.
    #[error("chunk {chunk_index} of version {version} disagrees with earlier chunks ({what})")]
    Inconsistent {
        /// Version being assembled.
        version: u64,
        /// Offending chunk.
        chunk_index: u32,
        /// Which field disagreed.
        what: &'static str,
    },
    /// The reassembled bytes fail the checksum.
    #[error("version {version} failed its checksum (expected {expected:08x}, got {got:08x})")]
    Checksum {
        /// Version assembled.
        version: u64,
        /// CRC announced by the sender.
        expected: u32,
        /// CRC of what arrived.
        got: u32,
    },
}

/// Reassembles [`PolicyWeights`] chunks into blobs. Keeps only the newest version in progress:
/// chunks of older versions are ignored, a newer version replaces an incomplete older one.
#[derive(Debug, Default)]
pub struct WeightsAssembler {
    pending: Option<Pending>,
    newest_complete: Option<u64>,
}

#[derive(Debug)]
struct Pending {
    first: PolicyWeights,
    chunks: Vec<Option<Vec<u8>>>,
    received: u32,
}

impl WeightsAssembler {
    /// An empty assembler.
    pub fn new() -> Self {
        Self::default()
    }

    /// Newest version fully assembled so far.
    pub fn newest_complete(&self) -> Option<u64> {
        self.newest_complete
    }

    /// Adds a chunk; returns the blob once every chunk of its version has arrived.
    pub fn push(
        &mut self,
        chunk: PolicyWeights,
    ) -> Result<Option<AssembledWeights>, AssemblyError> {
        if self.newest_complete.is_some_and(|v| chunk.version <= v) {
            return Ok(None);
        }
        let restart = match &self.pending {
            None => true,
            Some(p) if chunk.version > p.first.version => true,
            Some(p) if chunk.version < p.first.version => return Ok(None),
            Some(_) => false,
        };
        if restart {
            self.pending = Some(Pending {
                chunks: vec![None; chunk.chunk_count as usize],
                received: 0,
                first: PolicyWeights {
                    data: Vec::new(),
                    ..chunk.clone()
                },
            });
        }
        let Some(pending) = self.pending.as_mut() else {
            return Ok(None);
        };
        let first = &pending.first;
        let what = if chunk.chunk_count != first.chunk_count {
            Some("chunk_count")
        } else if chunk.total_bytes != first.total_bytes {
            Some("total_bytes")
        } else if chunk.crc32 != first.crc32 {
            Some("crc32")
        } else if chunk.policy_id != first.policy_id {
            Some("policy_id")
        } else {
            None
        };
        if let Some(what) = what {
            let err = AssemblyError::Inconsistent {
                version: chunk.version,
                chunk_index: chunk.chunk_index,
                what,
            };
            self.pending = None;
            return Err(err);
        }
        let slot = &mut pending.chunks[chunk.chunk_index as usize];
        if slot.is_none() {
            *slot = Some(chunk.data);
            pending.received += 1;
        }
        if pending.received < first.chunk_count {
            return Ok(None);
        }
        let Some(done) = self.pending.take() else {
            return Ok(None);
        };
        let blob: Vec<u8> = done.chunks.into_iter().flatten().flatten().collect();
        let got = crc32fast::hash(&blob);
        if got != done.first.crc32 || blob.len() as u64 != done.first.total_bytes {
            return Err(AssemblyError::Checksum {
                version: done.first.version,
                expected: done.first.crc32,
                got,
            });
        }
        self.newest_complete = Some(done.first.version);
        Ok(Some(AssembledWeights {
            policy_id: done.first.policy_id,
            version: done.first.version,
            blob,
        }))
    }
}
