//! The logger as a bus node: subscribes to one robot's frames, joint states, actions,
//! progress rewards, episode events and interventions and logs each as it arrives.

use std::collections::HashMap;
use std::future::Future;

use striatum_bus::{Bus, Qos, Subscriber};
use striatum_msgs::topics::{pattern, streams};
use striatum_msgs::{
    ActionCommand, ActionKind, EpisodeEvent, EpisodeEventKind, Header, Image, Intervention,
    JointState, Message, MultiViewFrame, PixelEncoding, ProgressReward,
};

use crate::VizError;
use crate::logger::{CameraFrame, Logger, TimeSource};

/// What the node listens to.
#[derive(Debug, Clone, Default)]
pub struct NodeOptions {
    /// The robot id whose topics are logged.
    pub robot: String,
    /// Pinhole intrinsics `[fx, fy, cx, cy]` by view name, for frusta in the 3D view.
    pub intrinsics: HashMap<String, [f64; 4]>,
}

/// Messages the node logged or refused, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Multi-view frames logged.
    pub frames: u64,
    /// Joint states logged.
    pub joint_states: u64,
    /// Action commands logged.
    pub actions: u64,
    /// Progress rewards logged.
    pub progress: u64,
    /// Episode events logged.
    pub episode_events: u64,
    /// Interventions logged.
    pub interventions: u64,
    /// Messages that decoded but could not be logged (e.g. an image whose size does not match
    /// its data).
    pub rejected: u64,
    /// Payloads that did not decode (counted by the subscribers).
    pub decode_errors: u64,
    /// Frames dropped unlogged because the node fell behind (the frames queue keeps only the
    /// newest two).
    pub frames_dropped: u64,
    /// Messages of every kind dropped that way (frames included).
    pub dropped: u64,
}

/// One message taken off the node's subscriptions.
enum Incoming {
    Frame(MultiViewFrame),
    Joints(JointState),
    Action(ActionCommand),
    Progress(ProgressReward),
    Episode(EpisodeEvent),
    Intervention(Intervention),
}

/// Logs one message and counts it; one that cannot be logged is counted as rejected.
fn handle(logger: &mut Logger, options: &NodeOptions, stats: &mut NodeStats, incoming: Incoming) {
    let result = match incoming {
        Incoming::Frame(m) => {
            logger.at_step(m.episode_id, m.step, time_of(&m.header));
            stats.frames += 1;
            log_frame(logger, &m, options)
        }
        Incoming::Joints(m) => {
            let (episode, step) = logger.position();
            logger.at_step(episode, step, time_of(&m.header));
            stats.joint_states += 1;
            logger.log_joints(&m.names, &m.positions, None)
        }
        Incoming::Action(m) => {
            logger.at_step(m.episode_id, m.step, time_of(&m.header));
            stats.actions += 1;
            log_action(logger, &m)
        }
        Incoming::Progress(m) => {
            logger.at_step(m.episode_id, m.step, time_of(&m.header));
            stats.progress += 1;
            logger.log_progress(&m)
        }
        Incoming::Episode(m) => {
            stats.episode_events += 1;
            match &m.kind {
                EpisodeEventKind::Start {
                    task, instruction, ..
                } => logger.begin_episode(m.episode_id, task, instruction),
                EpisodeEventKind::End { success, steps, .. } => {
                    let (episode, step) = logger.position();
                    logger.at_step(episode, step, time_of(&m.header));
                    logger.end_episode(*success, *steps)
                }
            }
        }
        Incoming::Intervention(m) => {
            logger.at_step(m.episode_id, m.step, time_of(&m.header));
            stats.interventions += 1;
            logger.log_intervention(&m)
        }
    };
    if let Err(e) = result {
        stats.rejected += 1;
        tracing::warn!("not logged: {e}");
    }
}

async fn subscribe<M: Message>(
    bus: &Bus,
    robot: &str,
    stream: &str,
    qos: Qos,
) -> Result<Subscriber<M>, VizError> {
    let key =
        pattern(Some(robot), None, Some(stream)).map_err(|e| VizError::Invalid(e.to_string()))?;
    Ok(bus.subscriber::<M>(&key, qos).await?)
}

/// Logs the robot's topics until `stop` completes; returns the counters. A message that
/// cannot be logged is counted and skipped; the node keeps running.
pub async fn run_node(
    bus: &Bus,
    logger: &mut Logger,
    options: &NodeOptions,
    stop: impl Future<Output = ()>,
) -> Result<NodeStats, VizError> {
    let robot = options.robot.as_str();
    let frames = subscribe::<MultiViewFrame>(bus, robot, streams::FRAMES, Qos::Frames).await?;
    let joints = subscribe::<JointState>(bus, robot, streams::JOINT_STATE, Qos::Telemetry).await?;
    let actions = subscribe::<ActionCommand>(bus, robot, streams::ACTION, Qos::Telemetry).await?;
    let progress =
        subscribe::<ProgressReward>(bus, robot, streams::PROGRESS, Qos::Telemetry).await?;
    let episodes = subscribe::<EpisodeEvent>(bus, robot, streams::EPISODE, Qos::Reliable).await?;
    let interventions =
        subscribe::<Intervention>(bus, robot, streams::INTERVENTION, Qos::Reliable).await?;
    let mut stats = NodeStats::default();
    tokio::pin!(stop);
    loop {
        let incoming = tokio::select! {
            () = &mut stop => break,
            m = frames.recv() => Incoming::Frame(m?.msg),
            m = joints.recv() => Incoming::Joints(m?.msg),
            m = actions.recv() => Incoming::Action(m?.msg),
            m = progress.recv() => Incoming::Progress(m?.msg),
            m = episodes.recv() => Incoming::Episode(m?.msg),
            m = interventions.recv() => Incoming::Intervention(m?.msg),
        };
        handle(logger, options, &mut stats, incoming);
    }
    // What had already arrived when the stop came is logged too (each queue once over, so a
    // producer that keeps sending cannot hold the node up).
    let queued = frames
        .drain()
        .into_iter()
        .map(|m| Incoming::Frame(m.msg))
        .chain(joints.drain().into_iter().map(|m| Incoming::Joints(m.msg)))
        .chain(actions.drain().into_iter().map(|m| Incoming::Action(m.msg)))
        .chain(
            progress
                .drain()
                .into_iter()
                .map(|m| Incoming::Progress(m.msg)),
        )
        .chain(
            episodes
                .drain()
                .into_iter()
                .map(|m| Incoming::Episode(m.msg)),
        )
        .chain(
            interventions
                .drain()
                .into_iter()
                .map(|m| Incoming::Intervention(m.msg)),
        )
        .collect::<Vec<_>>();
    for incoming in queued {
        handle(logger, options, &mut stats, incoming);
    }
    stats.decode_errors = frames.stats().decode_errors
        + joints.stats().decode_errors
        + actions.stats().decode_errors
        + progress.stats().decode_errors
        + episodes.stats().decode_errors
        + interventions.stats().decode_errors;
    stats.frames_dropped = frames.stats().dropped;
    stats.dropped = stats.frames_dropped
        + joints.stats().dropped
        + actions.stats().dropped
        + progress.stats().dropped
        + episodes.stats().dropped
        + interventions.stats().dropped;
    Ok(stats)
}

/// Stamps before 2001 are simulated time from 0; later ones are wall-clock Unix time.
fn time_of(header: &Header) -> TimeSource {
    const YEAR_2001_NS: i64 = 978_307_200_000_000_000;
    if header.stamp_ns < YEAR_2001_NS {
        TimeSource::Sim(header.stamp_ns as f64 * 1e-9)
    } else {
        TimeSource::Wall(header.stamp_ns)
    }
}

fn log_frame(
    logger: &mut Logger,
    frame: &MultiViewFrame,
    options: &NodeOptions,
) -> Result<(), VizError> {
    for view in &frame.views {
        let intrinsics = options.intrinsics.get(&view.name).copied();
        let (rgb, depth) = pixels(&view.image).map_err(|what| {
            VizError::Invalid(format!("frame {} view `{}`: {what}", frame.step, view.name))
        })?;
        logger.log_camera(&CameraFrame {
            name: &view.name,
            width: view.image.width,
            height: view.image.height,
            rgb: &rgb,
            depth: depth.as_deref(),
            intrinsics,
            pose: None,
        })?;
    }
    Ok(())
}

/// Packed RGB, or depth in metres, from an image message of any supported encoding.
fn pixels(image: &Image) -> Result<(Vec<u8>, Option<Vec<f32>>), String> {
    let (w, h) = (image.width as usize, image.height as usize);
    let bpp = image.encoding.bytes_per_pixel() as usize;
    let row = w * bpp;
    let step = image.step as usize;
    if step < row || image.data.len() < step * h.saturating_sub(1) + row {
        return Err(format!(
            "{} bytes with step {step} for {w}x{h} {}",
            image.data.len(),
            image.encoding.as_str()
        ));
    }
    let rows = (0..h).map(|r| &image.data[r * step..r * step + row]);
    let big = image.is_bigendian;
    Ok(match image.encoding {
        PixelEncoding::Rgb8 => (rows.flatten().copied().collect(), None),
        PixelEncoding::Bgr8 => (
            rows.flat_map(|r| r.chunks_exact(3).flat_map(|p| [p[2], p[1], p[0]]))
                .collect(),
            None,
        ),
        PixelEncoding::Mono8 => (
            rows.flat_map(|r| r.iter().flat_map(|v| [*v; 3])).collect(),
            None,
        ),
        PixelEncoding::U16C1 => (
            Vec::new(),
            Some(
                rows.flat_map(|r| {
                    r.chunks_exact(2).map(move |b| {
                        let v = if big {
                            u16::from_be_bytes([b[0], b[1]])
                        } else {
                            u16::from_le_bytes([b[0], b[1]])
                        };
                        f32::from(v) * 1e-3
                    })
                })
                .collect(),
            ),
        ),
        PixelEncoding::F32C1 => (
            Vec::new(),
            Some(
                rows.flat_map(|r| {
                    r.chunks_exact(4).map(move |b| {
                        let b = [b[0], b[1], b[2], b[3]];
                        if big {
                            f32::from_be_bytes(b)
                        } else {
                            f32::from_le_bytes(b)
                        }
                    })
                })
                .collect(),
            ),
        ),
    })
}

fn log_action(logger: &mut Logger, m: &ActionCommand) -> Result<(), VizError> {
    let names: Vec<String> = match (m.kind, m.values.len()) {
        (ActionKind::EndEffectorDelta, 3) => vec!["dx".into(), "dy".into(), "dz".into()],
        (ActionKind::EndEffectorDelta, 4) => {
            vec!["dx".into(), "dy".into(), "dz".into(), "dyaw".into()]
        }
        (ActionKind::EndEffectorDelta, _) => ["dx", "dy", "dz", "droll", "dpitch", "dyaw"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
        (_, n) => (0..n).map(|i| format!("joint_{i}")).collect(),
    };
    let mut refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut values = m.values.clone();
    refs.push("gripper");
    values.push(m.gripper);
    logger.log_action(&refs, &values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixels_follow_encoding_and_row_padding() {
        let header = Header::new(0, "");
        // 2x2 BGR with 2 bytes of row padding.
        let image = Image {
            header: header.clone(),
            height: 2,
            width: 2,
            encoding: PixelEncoding::Bgr8,
            is_bigendian: false,
            step: 8,
            data: vec![1, 2, 3, 4, 5, 6, 0, 0, 7, 8, 9, 10, 11, 12, 0, 0],
        };
        let (rgb, depth) = pixels(&image).unwrap_or_default();
        assert_eq!(rgb, vec![3, 2, 1, 6, 5, 4, 9, 8, 7, 12, 11, 10]);
        assert!(depth.is_none());
        let depth = Image::packed(
            header.clone(),
            2,
            1,
            PixelEncoding::U16C1,
            vec![0xE8, 3, 0, 0],
        );
        let (_, d) = depth.ok().and_then(|i| pixels(&i).ok()).unwrap_or_default();
        assert_eq!(d, Some(vec![1.0, 0.0]));
        let short = Image {
            data: vec![0; 5],
            ..image
        };
        assert!(pixels(&short).is_err_and(|e| e.contains("5 bytes")));
    }

    #[test]
    fn stamps_pick_the_timeline() {
        assert_eq!(
            time_of(&Header::new(1_500_000_000, "")),
            TimeSource::Sim(1.5)
        );
        let wall = 1_790_000_000_000_000_000;
        assert_eq!(time_of(&Header::new(wall, "")), TimeSource::Wall(wall));
    }
}
