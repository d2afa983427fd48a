//! The reward node: subscribes to multi-view frames of any number of robots and publishes a
//! `ProgressReward` for every frame it scores on `striatum/@v1/<robot>/reward/progress`.
//!
//! Per robot it keeps the episode's state (instruction and goal from the `EpisodeEvent`
//! start, reference and previous frames, done hysteresis). Frames that arrive together are
//! scored in one batch (the newest valid one per robot; frames are sensor data, newest wins). A frame
//! with an unknown view, an encoding other than rgb8/bgr8/mono8, or a shape that does not
//! match its bytes is rejected and counted by reason; the node keeps serving.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::Instant;

use striatum_bus::{Bus, NodeHandle, Publisher, Qos, QueuePolicy};
use striatum_msgs::topics::{Topic, pattern, streams};
use striatum_msgs::{
    EpisodeEvent, EpisodeEventKind, Image, MultiViewFrame, PixelEncoding, ProgressReward,
    ViewEstimate,
};
use tch::{Kind, Tensor};

use crate::RewardError;
use crate::scorer::{EpisodeState, Scorer, ViewImages};

/// Name of the node in keys and liveliness tokens.
pub const NODE: &str = "reward";

/// Frames (of all robots together) the node's subscription keeps while it is busy.
pub const FRAME_QUEUE: usize = 64;

/// Settings of the node.
#[derive(Debug, Clone, Default)]
pub struct NodeOptions {
    /// Robots to serve (`None`: every robot that publishes frames).
    pub robots: Option<Vec<String>>,
    /// Most frames scored in one batch.
    pub max_batch: usize,
    /// Instruction for episodes whose start event was not seen.
    pub default_instruction: String,
}

/// Counters of a node run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Frames received.
    pub frames: u64,
    /// Rewards published.
    pub published: u64,
    /// Frames rejected, by reason.
    pub rejected: BTreeMap<String, u64>,
    /// Payloads that did not decode.
    pub decode_errors: u64,
    /// Frames skipped because a newer one of the same robot was waiting.
    pub superseded: u64,
    /// Batches scored.
    pub batches: u64,
    /// Episodes started (by event or by a new episode id).
    pub episodes: u64,
    /// Robots served.
    pub robots: u64,
}

impl NodeStats {
    /// Frames rejected in total.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
}

struct Robot {
    episode_id: Option<u64>,
    task: String,
    instruction: String,
    state: Option<EpisodeState>,
    publisher: Publisher<ProgressReward>,
    _node: NodeHandle,
}

/// Converts a frame into the model's view slots, or says why it cannot be scored.
pub fn frame_images(scorer: &Scorer, frame: &MultiViewFrame) -> Result<ViewImages, RewardError> {
    let views = scorer.views();
    let mut slots: Vec<Option<Tensor>> = (0..views.len()).map(|_| None).collect();
    if frame.views.is_empty() {
        return Err(RewardError::BadFrame("no views".into()));
    }
    for v in &frame.views {
        let i = views.iter().position(|n| *n == v.name).ok_or_else(|| {
            RewardError::BadFrame(format!(
                "unknown view `{}` (the model knows {})",
                v.name,
                views.join(", ")
            ))
        })?;
        slots[i] = Some(image_tensor(&v.name, &v.image)?);
    }
    Ok(ViewImages(slots))
}

/// An 8-bit colour or grey image as uint8 `[3, H, W]` (row padding respected).
pub fn image_tensor(view: &str, img: &Image) -> Result<Tensor, RewardError> {
    let (w, h, step) = (img.width as usize, img.height as usize, img.step as usize);
    let bpp = match img.encoding {
        PixelEncoding::Rgb8 | PixelEncoding::Bgr8 => 3,
        PixelEncoding::Mono8 => 1,
        other => {
            return Err(RewardError::BadFrame(format!(
                "view `{view}`: encoding {other:?} is not a colour image (rgb8, bgr8 or mono8)"
            )));
        }
    };
    if w < 8 || h < 8 || step < w * bpp || img.data.len() != step * h {
        return Err(RewardError::BadFrame(format!(
            "view `{view}`: {w}x{h} with step {step} does not match {} bytes",
            img.data.len()
        )));
    }
    let mut packed = Vec::with_capacity(w * h * bpp);
    for row in img.data.chunks_exact(step) {
        packed.extend_from_slice(&row[..w * bpp]);
    }
    let t = Tensor::from_slice(&packed).view([h as i64, w as i64, bpp as i64]);
    let t = match img.encoding {
        PixelEncoding::Bgr8 => t.flip([2]),
        PixelEncoding::Mono8 => t.expand([h as i64, w as i64, 3], false),
        _ => t,
    };
    Ok(t.permute([2, 0, 1]).contiguous().to_kind(Kind::Uint8))
}

fn reason(e: &RewardError) -> String {
    let s = e.to_string();
    if s.contains("unknown view") {
        "unknown view".into()
    } else if s.contains("encoding") {
        "encoding".into()
    } else if s.contains("does not match") || s.contains("expected uint8") {
        "shape".into()
    } else if s.contains("no view") {
        "no views".into()
    } else {
        "other".into()
    }
}

/// Serves rewards until `stop` completes; returns the counters. The scorer is owned by the
/// node so the future can run on any runtime thread.
pub async fn run_node(
    bus: &Bus,
    scorer: Scorer,
    options: &NodeOptions,
    stop: impl Future<Output = ()>,
) -> Result<NodeStats, RewardError> {
    let key =
        |stream| pattern(None, None, Some(stream)).map_err(|e| RewardError::Invalid(e.to_string()));
    // One wildcard subscription takes every robot's frames: its queue keeps the newest
    // FRAME_QUEUE of them (the Frames preset keeps 2, which would drop one robot's frame
    // whenever two others arrive first).
    let frames = bus
        .subscriber_with_queue::<MultiViewFrame>(
            &key(streams::FRAMES)?,
            QueuePolicy::Latest(FRAME_QUEUE),
        )
        .await?;
    let events = bus
        .subscriber::<EpisodeEvent>(&key(streams::EPISODE)?, Qos::Reliable)
        .await?;
    let mut robots: HashMap<String, Robot> = HashMap::new();
    let mut stats = NodeStats::default();
    let max_batch = options.max_batch.max(1);
    let serves = |r: &str| {
        options
            .robots
            .as_ref()
            .is_none_or(|l| l.iter().any(|x| x == r))
    };
    tokio::pin!(stop);
    loop {
        let first = tokio::select! {
            () = &mut stop => break,
            m = events.recv() => {
                let m = m?.msg;
                if let EpisodeEventKind::Start { task, instruction, .. } = &m.kind
                    && serves(&m.robot_id)
                {
                    let r = ensure_robot(bus, &mut robots, &mut stats, &m.robot_id).await?;
                    r.task = task.clone();
                    r.instruction = instruction.clone();
                    r.episode_id = None;
                    r.state = None;
                }
                continue;
            }
            m = frames.recv() => m?.msg,
        };
        // Everything that is waiting joins the batch; the newest frame per robot wins.
        let mut pending: Vec<MultiViewFrame> = vec![first];
        pending.extend(frames.drain().into_iter().map(|r| r.msg));
        stats.frames += pending.len() as u64;
        // Malformed frames are counted and dropped first, so one never displaces a good frame.
        let mut newest: BTreeMap<String, (MultiViewFrame, ViewImages)> = BTreeMap::new();
        for f in pending {
            if !serves(&f.robot_id) {
                continue;
            }
            match frame_images(&scorer, &f) {
                Ok(images) => {
                    if newest.insert(f.robot_id.clone(), (f, images)).is_some() {
                        stats.superseded += 1;
                    }
                }
                Err(e) => {
                    tracing::warn!("reward node: frame of {} rejected: {e}", f.robot_id);
                    *stats.rejected.entry(reason(&e)).or_default() += 1;
                }
            }
        }
        let batch: Vec<(MultiViewFrame, ViewImages)> = newest.into_values().collect();
        // Publishers first (the only awaits); scoring below holds tensors and never awaits.
        let ids: Vec<String> = batch.iter().map(|(f, _)| f.robot_id.clone()).collect();
        for id in &ids {
            ensure_robot(bus, &mut robots, &mut stats, id).await?;
        }
        for chunk in batch.chunks(max_batch) {
            for (f, _) in chunk {
                let Some(r) = robots.get_mut(&f.robot_id) else {
                    continue;
                };
                if r.episode_id != Some(f.episode_id) || r.state.is_none() {
                    let instruction = if r.instruction.is_empty() {
                        options.default_instruction.clone()
                    } else {
                        r.instruction.clone()
                    };
                    r.state = Some(scorer.start_episode(&instruction, scorer.goals.get(&r.task)));
                    r.episode_id = Some(f.episode_id);
                    stats.episodes += 1;
                }
            }
            let started = Instant::now();
            // Take the states out, score, and put them back.
            let mut states: Vec<EpisodeState> = chunk
                .iter()
                .filter_map(|(f, _)| robots.get_mut(&f.robot_id).and_then(|r| r.state.take()))
                .collect();
            let mut items: Vec<(&mut EpisodeState, &ViewImages)> = states
                .iter_mut()
                .zip(chunk.iter().map(|(_, i)| i))
                .collect();
            let result = scorer.score(&mut items);
            let ns = started.elapsed().as_nanos() as u64;
            stats.batches += 1;
            let estimates = match result {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!("reward node: a batch failed: {e}");
                    *stats.rejected.entry(reason(&e)).or_default() += chunk.len() as u64;
                    for ((f, _), st) in chunk.iter().zip(states) {
                        if let Some(r) = robots.get_mut(&f.robot_id) {
                            r.state = Some(st);
                        }
                    }
                    continue;
                }
            };
            for (((f, _), st), est) in chunk.iter().zip(states).zip(estimates) {
                let Some(r) = robots.get_mut(&f.robot_id) else {
                    continue;
                };
                r.state = Some(st);
                let msg = ProgressReward {
                    header: f.header.clone(),
                    episode_id: f.episode_id,
                    step: f.step,
                    progress: est.progress.clamp(0.0, 1.0) as f32,
                    progress_delta: est.delta.clamp(-1.0, 1.0) as f32,
                    done_prob: est.done_prob.clamp(0.0, 1.0) as f32,
                    done: est.done,
                    uncertainty: est.uncertainty.max(0.0) as f32,
                    per_view: est
                        .per_view
                        .iter()
                        .map(|v| ViewEstimate {
                            view: v.view.clone(),
                            progress: v.progress.clamp(0.0, 1.0) as f32,
                            confidence: v.confidence.clamp(0.0, 1.0) as f32,
                        })
                        .collect(),
                    model_id: scorer.manifest.name.clone(),
                    inference_ns: ns,
                };
                match r.publisher.put(&msg) {
                    Ok(()) => stats.published += 1,
                    Err(e) => {
                        tracing::warn!("reward node: could not publish for {}: {e}", f.robot_id);
                        *stats.rejected.entry("publish".into()).or_default() += 1;
                    }
                }
            }
        }
    }
    stats.decode_errors = frames.stats().decode_errors + events.stats().decode_errors;
    Ok(stats)
}

async fn ensure_robot<'a>(
    bus: &Bus,
    robots: &'a mut HashMap<String, Robot>,
    stats: &mut NodeStats,
    robot: &str,
) -> Result<&'a mut Robot, RewardError> {
    if !robots.contains_key(robot) {
        let topic = Topic::<ProgressReward>::new(robot, NODE, streams::PROGRESS)
            .map_err(|e| RewardError::Invalid(e.to_string()))?;
        let publisher = bus.publisher(&topic, Qos::Telemetry).await?;
        let node = bus.declare_node(robot, NODE).await?;
        robots.insert(
            robot.to_owned(),
            Robot {
                episode_id: None,
                task: String::new(),
                instruction: String::new(),
                state: None,
                publisher,
                _node: node,
            },
        );
        stats.robots += 1;
    }
    robots
        .get_mut(robot)
        .ok_or_else(|| RewardError::Invalid(format!("robot {robot} vanished")))
}
