//! Small example messages of every type, used by `docs/wire-format.md` (which shows their
//! bytes) and by the test that keeps that document true.

use crate::message::Message;
use crate::types::*;

/// One example of every message type, with its encoding, in documentation order.
pub fn all() -> Vec<(&'static str, Vec<u8>)> {
    fn enc<M: Message>(m: M) -> (&'static str, Vec<u8>) {
        // Every example below is valid by construction.
        (M::TYPE_NAME, m.encode().unwrap_or_default())
    }
    let header = Header::new(1_500_000_000, "base");
    let image = Image {
        header: Header::new(1_500_000_000, "cam"),
        height: 1,
        width: 2,
        encoding: PixelEncoding::Rgb8,
        is_bigendian: false,
        step: 6,
        data: vec![255, 0, 0, 0, 255, 0],
    };
    vec![
        enc(JointState {
            header: header.clone(),
            names: vec!["j1".into(), "j2".into()],
            positions: vec![1.0, -2.5],
            velocities: vec![],
            efforts: vec![0.5, 0.25],
        }),
        enc(image.clone()),
        enc(MultiViewFrame {
            header: header.clone(),
            robot_id: "arm".into(),
            episode_id: 3,
            step: 9,
            views: vec![NamedImage {
                name: "front".into(),
                image,
            }],
        }),
        enc(EndEffectorState {
            header: header.clone(),
            robot_id: "arm".into(),
            link: "tcp".into(),
            pose: Pose {
                position: Vector3::new(0.25, 0.0, 0.125),
                orientation: Quaternion::IDENTITY,
            },
            twist: Twist::default(),
            gripper: 1.0,
        }),
        enc(ActionCommand {
            header: header.clone(),
            episode_id: 3,
            step: 9,
            kind: ActionKind::EndEffectorDelta,
            values: vec![0.01, 0.0, -0.02],
            gripper: 0.0,
            source: ActionSource::Policy,
            chunk: None,
        }),
        enc(ProgressReward {
            header: header.clone(),
            episode_id: 3,
            step: 9,
            progress: 0.5,
            progress_delta: 0.25,
            done_prob: 0.125,
            done: false,
            uncertainty: 0.0625,
            per_view: vec![ViewEstimate {
                view: "front".into(),
                progress: 0.5,
                confidence: 1.0,
            }],
            model_id: "prm".into(),
            inference_ns: 3_000_000,
        }),
        enc(Transition {
            header: header.clone(),
            actor_id: "a0".into(),
            seq: 1,
            episode_id: 3,
            step: 9,
            observation: vec![0.5, -0.5],
            action: vec![1.0],
            reward: 0.0,
            progress: 0.25,
            next_progress: 0.5,
            next_observation: vec![0.5, 0.0],
            terminated: false,
            truncated: false,
            intervention: true,
        }),
        enc(EpisodeEvent {
            header: header.clone(),
            robot_id: "arm".into(),
            episode_id: 3,
            kind: EpisodeEventKind::Start {
                task: "push_cube".into(),
                instruction: "push the cube".into(),
                seed: 7,
            },
        }),
        enc(Intervention {
            header: header.clone(),
            robot_id: "arm".into(),
            episode_id: 3,
            step: 9,
            kind: InterventionKind::Takeover,
            device: "gamepad".into(),
        }),
        enc(PolicyWeights {
            header: header.clone(),
            policy_id: "sac".into(),
            version: 2,
            chunk_index: 0,
            chunk_count: 1,
            total_bytes: 4,
            crc32: crc32fast::hash(&[1, 2, 3, 4]),
            data: vec![1, 2, 3, 4],
        }),
        enc(Heartbeat {
            header,
            node: "reward".into(),
            seq: 5,
            state: NodeState::Running,
            uptime_ns: 1_000_000_000,
            messages_in: 10,
            messages_out: 10,
            decode_errors: 0,
        }),
    ]
}

/// A hex dump, 16 bytes a line with two groups of 8, each line prefixed by its offset from
/// the start of the payload (encapsulation header included).
pub fn hex_dump(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (i, line) in bytes.chunks(16).enumerate() {
        let groups: Vec<String> = line
            .chunks(8)
            .map(|g| {
                g.iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        out.push_str(&format!("{:04x}  {}\n", i * 16, groups.join("  ")));
    }
    out
}

/// A 6-joint arm state (the SO-101's joint names), as benchmarks and demos send it.
pub fn arm_joint_state(stamp_ns: i64) -> JointState {
    JointState {
        header: Header::new(stamp_ns, "base_link"),
        names: [
            "shoulder_pan",
            "shoulder_lift",
            "elbow_flex",
            "wrist_flex",
            "wrist_roll",
            "gripper",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect(),
        positions: vec![0.1, -0.4, 0.9, 0.2, -1.1, 0.02],
        velocities: vec![0.0; 6],
        efforts: vec![0.5; 6],
    }
}

/// A frame of `front`, `side` and `wrist` views of `side` x `side` rgb8 pixels with a
/// deterministic pattern (3 x 128 x 128 is the size the reward model consumes).
pub fn camera_frame(stamp_ns: i64, side: u32) -> MultiViewFrame {
    let pixels = (side as usize) * (side as usize) * 3;
    let view = |name: &str| NamedImage {
        name: name.to_owned(),
        image: Image {
            header: Header::new(stamp_ns, format!("{name}_optical")),
            height: side,
            width: side,
            encoding: PixelEncoding::Rgb8,
            is_bigendian: false,
            step: side * 3,
            data: (0..pixels).map(|i| (i % 251) as u8).collect(),
        },
    };
    MultiViewFrame {
        header: Header::new(stamp_ns, "world"),
        robot_id: "bench".into(),
        episode_id: 0,
        step: 0,
        views: vec![view("front"), view("side"), view("wrist")],
    }
}
