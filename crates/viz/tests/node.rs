//! The logger node over in-process Zenoh: a second session publishes a robot's topics, the
//! node logs them to an `.rrd` that Rerun's CLI reads back; garbage payloads are counted and
//! the node keeps logging.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on broken fixtures

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use striatum_bus::{Bus, BusConfig, Qos, free_local_endpoint};
use striatum_msgs::topics::streams;
use striatum_msgs::{
    EpisodeEvent, EpisodeEventKind, Header, Image, JointState, MultiViewFrame, NamedImage,
    PixelEncoding, ProgressReward, Topic, ViewEstimate,
};
use striatum_viz::{Logger, NodeOptions, RobotVisual, Sink, run_node};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rrd_print(args: &[&str]) -> String {
    let exe = root().join(".venv/bin/rerun");
    assert!(
        exe.is_file(),
        "{} is missing: run `make bootstrap`",
        exe.display()
    );
    let out = Command::new(exe).arg("rrd").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `verify` reports on stderr, `print` on stdout.
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn progress(episode: u64, step: u64) -> ProgressReward {
    ProgressReward {
        header: Header::new(i64::try_from(step).unwrap() * 50_000_000, "front"),
        episode_id: episode,
        step,
        progress: step as f32 / 10.0,
        progress_delta: 0.1,
        done_prob: if step == 10 { 0.9 } else { 0.01 },
        done: false,
        uncertainty: 0.05,
        per_view: vec![
            ViewEstimate {
                view: "front".into(),
                progress: step as f32 / 10.0,
                confidence: 0.8,
            },
            ViewEstimate {
                view: "wrist".into(),
                progress: step as f32 / 11.0,
                confidence: 0.6,
            },
        ],
        model_id: "test".into(),
        inference_ns: 1000,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_logs_a_robots_topics_and_survives_garbage() {
    let endpoint = free_local_endpoint().unwrap();
    let node_bus = Bus::open(&BusConfig::isolated(std::slice::from_ref(&endpoint), &[]))
        .await
        .unwrap();
    let robot_bus = Bus::open(&BusConfig::isolated(&[], std::slice::from_ref(&endpoint)))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("live.rrd");
    let mut logger =
        Logger::create(&Sink::Save(file.clone()), "live", &["front".to_owned()]).unwrap();
    logger
        .set_robot(RobotVisual::load(root().join("robots/so101")).unwrap())
        .unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let options = NodeOptions {
        robot: "so101_0".into(),
        intrinsics: [("front".to_owned(), [40.0, 40.0, 16.0, 16.0])].into(),
    };
    let node = tokio::spawn(async move {
        let stats = run_node(&node_bus, &mut logger, &options, async {
            let _ = stop_rx.await;
        })
        .await
        .unwrap();
        (stats, logger.finish().unwrap())
    });

    let progress_pub = robot_bus
        .publisher(
            &Topic::<ProgressReward>::new("so101_0", "reward", streams::PROGRESS).unwrap(),
            Qos::Reliable,
        )
        .await
        .unwrap();
    // Give the node's subscriptions time to reach this session: probe messages of episode 0
    // are logged too, and are told apart from the real ones by their episode.
    let started = Instant::now();
    loop {
        progress_pub.put(&progress(0, 0)).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        if started.elapsed() > Duration::from_millis(1500) {
            break;
        }
    }
    let events = robot_bus
        .publisher(
            &Topic::<EpisodeEvent>::new("so101_0", "sim", streams::EPISODE).unwrap(),
            Qos::Reliable,
        )
        .await
        .unwrap();
    let joints = robot_bus
        .publisher(
            &Topic::<JointState>::new("so101_0", "sim", streams::JOINT_STATE).unwrap(),
            Qos::Reliable,
        )
        .await
        .unwrap();
    let frames = robot_bus
        .publisher(
            &Topic::<MultiViewFrame>::new("so101_0", "sim", streams::FRAMES).unwrap(),
            Qos::Reliable,
        )
        .await
        .unwrap();
    events
        .put(&EpisodeEvent {
            header: Header::new(0, ""),
            robot_id: "so101_0".into(),
            episode_id: 1,
            kind: EpisodeEventKind::Start {
                task: "push_cube".into(),
                instruction: "push the red cube onto the target".into(),
                seed: 7,
            },
        })
        .unwrap();
    for step in 0..=10u64 {
        let stamp = i64::try_from(step).unwrap() * 50_000_000;
        frames
            .put(&MultiViewFrame {
                header: Header::new(stamp, ""),
                robot_id: "so101_0".into(),
                episode_id: 1,
                step,
                views: vec![NamedImage {
                    name: "front".into(),
                    image: Image::packed(
                        Header::new(stamp, "front"),
                        32,
                        32,
                        PixelEncoding::Rgb8,
                        vec![u8::try_from(step * 20).unwrap(); 32 * 32 * 3],
                    )
                    .unwrap(),
                }],
            })
            .unwrap();
        joints
            .put(&JointState {
                header: Header::new(stamp, "base_link"),
                names: vec!["shoulder_pan".into(), "elbow_flex".into()],
                positions: vec![0.1 * step as f64, 1.0],
                velocities: vec![],
                efforts: vec![],
            })
            .unwrap();
        progress_pub.put(&progress(1, step)).unwrap();
        if step == 5 {
            // Garbage on the progress topic: counted, and logging goes on.
            progress_pub.put_encoded(vec![0, 1, 0, 0, 9, 9]).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    events
        .put(&EpisodeEvent {
            header: Header::new(550_000_000, ""),
            robot_id: "so101_0".into(),
            episode_id: 1,
            kind: EpisodeEventKind::End {
                success: true,
                truncated: false,
                steps: 10,
                episode_return: 1.0,
            },
        })
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop_tx.send(()).unwrap();
    let (stats, saved) = node.await.unwrap();
    assert_eq!(saved.as_deref(), Some(file.as_path()));
    assert!(stats.progress >= 11, "{stats:?}");
    // Frames are logged newest-first when the node falls behind: every one is logged or
    // counted as dropped (a loaded machine may drop some).
    assert_eq!(stats.frames + stats.frames_dropped, 11, "{stats:?}");
    assert!(stats.frames >= 1, "{stats:?}");
    assert_eq!(stats.joint_states, 11);
    assert_eq!(stats.episode_events, 2);
    assert_eq!(stats.decode_errors, 1);
    assert_eq!(stats.rejected, 0);

    let path = file.to_str().unwrap();
    assert!(rrd_print(&["verify", path]).contains("verified without error"));
    let table = rrd_print(&["print", "-vvv", "--entity", "/reward/per_view/wrist", path]);
    let cells = |line: &str| -> Vec<String> {
        line.trim()
            .trim_matches('│')
            .trim()
            .trim_matches('│')
            .split('┆')
            .map(|c| c.trim().to_owned())
            .collect()
    };
    let header = table
        .lines()
        .find(|l| l.contains("RowId") && l.contains('┆'))
        .map(cells)
        .expect("a table header");
    let col = |name: &str| header.iter().position(|h| h == name).expect(name);
    let (episode, step, value) = (col("episode"), col("episode_step"), col("Scalars:scalars"));
    // Episode 1's eleven estimates, each at its own step, after the probes of episode 0.
    let episode_1: Vec<Vec<String>> = table
        .lines()
        .filter(|l| l.contains("row_") && l.contains('┆'))
        .map(cells)
        .filter(|c| c[episode] == "1")
        .collect();
    assert_eq!(episode_1.len(), 11, "{table}");
    for (i, c) in episode_1.iter().enumerate() {
        assert_eq!(c[step], i.to_string());
        let v: f64 = c[value]
            .trim_matches(|c| c == '[' || c == ']')
            .parse()
            .unwrap();
        assert!((v - f64::from(i as f32 / 11.0)).abs() < 1e-6, "{v}");
    }
    let summary = rrd_print(&["print", path]);
    for entity in [
        "/cameras/front",
        "/reward/progress",
        "/reward/done_prob",
        "/reward/uncertainty",
        "/reward/view_confidence/front",
        "/state/joints/shoulder_pan",
        "/world/robot/gripper_link",
        "/events",
    ] {
        assert!(
            summary.contains(&format!(" - {entity} - ")),
            "{entity} missing from\n{summary}"
        );
    }
}
