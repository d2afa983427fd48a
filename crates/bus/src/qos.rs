//! Quality-of-service presets per kind of stream.

use striatum_msgs::topics::streams;
use zenoh::qos::{CongestionControl, Priority};

/// How a subscriber queues messages its consumer has not taken yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueuePolicy {
    /// Keep the newest `n`; a full queue drops its oldest message (sensor data: newest wins).
    Latest(usize),
    /// Keep up to `n` in order; a full queue drops the incoming message (counted).
    Fifo(usize),
}

/// Delivery presets. Each sets Zenoh's congestion control, priority and batching on the
/// publisher and a queue policy on the subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qos {
    /// Commands and setpoints: block rather than drop, real-time priority, sent at once.
    Command,
    /// Camera frames: drop under congestion (newest wins), data priority.
    Frames,
    /// Small periodic state (joints, end effector, progress rewards): drop under congestion,
    /// high data priority, sent at once.
    Telemetry,
    /// Data that must not be lost (transitions, episode events, interventions): block, in order.
    Reliable,
    /// Large blobs (policy weights): block, low priority so they never delay control.
    Bulk,
    /// Heartbeats: drop, background priority.
    Heartbeat,
}

impl Qos {
    /// The preset the stack uses for a well-known stream name (reliable for unknown ones).
    pub fn for_stream(stream: &str) -> Qos {
        match stream {
            streams::ACTION => Qos::Command,
            streams::FRAMES => Qos::Frames,
            streams::JOINT_STATE | streams::EE_STATE | streams::PROGRESS => Qos::Telemetry,
            streams::WEIGHTS => Qos::Bulk,
            streams::HEARTBEAT => Qos::Heartbeat,
            _ => Qos::Reliable,
        }
    }

    /// Congestion control on the publisher.
    pub fn congestion_control(self) -> CongestionControl {
        match self {
            Qos::Command | Qos::Reliable | Qos::Bulk => CongestionControl::Block,
            Qos::Frames | Qos::Telemetry | Qos::Heartbeat => CongestionControl::Drop,
        }
    }

    /// Priority on the publisher.
    pub fn priority(self) -> Priority {
        match self {
            Qos::Command => Priority::RealTime,
            Qos::Telemetry => Priority::DataHigh,
            Qos::Frames | Qos::Reliable => Priority::Data,
            Qos::Bulk => Priority::DataLow,
            Qos::Heartbeat => Priority::Background,
        }
    }

    /// Whether samples skip batching (lower latency, more packets).
    pub fn express(self) -> bool {
        matches!(self, Qos::Command | Qos::Telemetry)
    }

    /// Queue policy on the subscriber.
    pub fn queue(self) -> QueuePolicy {
        match self {
            Qos::Frames => QueuePolicy::Latest(2),
            Qos::Telemetry | Qos::Heartbeat => QueuePolicy::Latest(64),
            Qos::Command => QueuePolicy::Fifo(256),
            Qos::Reliable => QueuePolicy::Fifo(65_536),
            Qos::Bulk => QueuePolicy::Fifo(4_096),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_block_and_frames_drop() {
        let cmd = Qos::for_stream(streams::ACTION);
        assert_eq!(cmd.congestion_control(), CongestionControl::Block);
        assert_eq!(cmd.priority(), Priority::RealTime);
        assert!(cmd.express());
        let frames = Qos::for_stream(streams::FRAMES);
        assert_eq!(frames.congestion_control(), CongestionControl::Drop);
        assert_eq!(frames.priority(), Priority::Data);
        assert!(matches!(frames.queue(), QueuePolicy::Latest(_)));
        assert_eq!(Qos::for_stream(streams::TRANSITIONS), Qos::Reliable);
    }
}
