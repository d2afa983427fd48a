//! The reward node over in-process Zenoh: two robots publish frames, the node publishes a
//! `ProgressReward` for each on the robot's own key; frames with unknown views, depth
//! encodings or broken shapes and undecodable payloads are counted and the node keeps going.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use striatum_bus::{Bus, BusConfig, Qos, free_local_endpoint};
use striatum_msgs::topics::{pattern, streams};
use striatum_msgs::{
    EpisodeEvent, EpisodeEventKind, Header, Image, MultiViewFrame, NamedImage, PixelEncoding,
    ProgressReward, Topic,
};
use striatum_reward::checkpoint::{self, Manifest};
use striatum_reward::node::{NodeOptions, run_node};
use striatum_reward::{Model, ModelConfig, Scorer};
use tch::Device;

fn image(x: f64, view: usize) -> Image {
    Image {
        header: Header::new(0, "cam"),
        height: common::SIDE,
        width: common::SIDE,
        encoding: PixelEncoding::Rgb8,
        is_bigendian: false,
        step: common::SIDE * 3,
        data: common::frame(x, view),
    }
}

fn frame(robot: &str, episode: u64, step: u64, views: Vec<NamedImage>) -> MultiViewFrame {
    MultiViewFrame {
        header: Header::new(step as i64 * 50_000_000, "base"),
        robot_id: robot.into(),
        episode_id: episode,
        step,
        views,
    }
}

fn both(x: f64) -> Vec<NamedImage> {
    vec![
        NamedImage {
            name: "front".into(),
            image: image(x, 0),
        },
        NamedImage {
            name: "side".into(),
            image: image(x, 1),
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_scores_two_robots_and_survives_bad_frames() {
    let dir = tempfile::tempdir().unwrap();
    tch::manual_seed(0);
    let config = ModelConfig::new(vec!["front".into(), "side".into()], 16);
    let model = Model::new(config.clone(), Device::Cpu).unwrap();
    checkpoint::save(dir.path(), &Manifest::untrained("prm-test", config), &model).unwrap();
    let scorer = Scorer::load(dir.path(), Device::Cpu).unwrap();

    let endpoint = free_local_endpoint().unwrap();
    let node_bus = Bus::open(&BusConfig::isolated(std::slice::from_ref(&endpoint), &[]))
        .await
        .unwrap();
    let robot_bus = Bus::open(&BusConfig::isolated(&[], std::slice::from_ref(&endpoint)))
        .await
        .unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let node = tokio::spawn(async move {
        let options = NodeOptions {
            robots: None,
            max_batch: 8,
            default_instruction: "slide the square".into(),
        };
        run_node(&node_bus, scorer, &options, async {
            let _ = stop_rx.await;
        })
        .await
        .unwrap()
    });

    let rewards = robot_bus
        .subscriber::<ProgressReward>(
            &pattern(None, Some("reward"), Some(streams::PROGRESS)).unwrap(),
            Qos::Reliable,
        )
        .await
        .unwrap();
    let pubs: Vec<_> = {
        let mut v = Vec::new();
        for robot in ["arm0", "arm1"] {
            v.push(
                robot_bus
                    .publisher(
                        &Topic::<MultiViewFrame>::new(robot, "sim", streams::FRAMES).unwrap(),
                        Qos::Reliable,
                    )
                    .await
                    .unwrap(),
            );
        }
        v
    };
    let events = robot_bus
        .publisher(
            &Topic::<EpisodeEvent>::new("arm0", "sim", streams::EPISODE).unwrap(),
            Qos::Reliable,
        )
        .await
        .unwrap();
    // Wait until the node answers a probe frame (episode 0) from each robot.
    let started = Instant::now();
    let mut seen = [false; 2];
    while seen != [true, true] {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the node never answered"
        );
        for (i, p) in pubs.iter().enumerate() {
            if !seen[i] {
                p.put(&frame(&format!("arm{i}"), 0, 0, both(0.0))).unwrap();
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        for r in rewards.drain() {
            let i = usize::from(r.key.contains("arm1"));
            seen[i] = true;
        }
    }

    events
        .put(&EpisodeEvent {
            header: Header::new(0, "base"),
            robot_id: "arm0".into(),
            episode_id: 1,
            kind: EpisodeEventKind::Start {
                task: "slide".into(),
                instruction: "slide the red square to the right".into(),
                seed: 1,
            },
        })
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let steps = 6u64;
    // Lockstep, as a sim actor runs: send both robots' frames, wait for both rewards (frames
    // that pile up while the node is busy would be superseded by newer ones, by design).
    let mut got: Vec<(String, ProgressReward)> = Vec::new();
    for step in 0..steps {
        let x = step as f64 / (steps - 1) as f64;
        pubs[0].put(&frame("arm0", 1, step, both(x))).unwrap();
        // The second robot only has its front camera: a missing view is fine.
        pubs[1]
            .put(&frame("arm1", 1, step, both(x)[..1].to_vec()))
            .unwrap();
        if step == 2 {
            // An unknown view, a depth image and a garbage payload, right behind the good
            // frames: a malformed frame must not displace a good one waiting with it.
            let mut unknown = both(x);
            unknown[1].name = "top".into();
            pubs[0].put(&frame("arm0", 1, 100, unknown)).unwrap();
            tokio::time::sleep(Duration::from_millis(60)).await;
            let mut depth = both(x);
            depth[0].image.encoding = PixelEncoding::F32C1;
            depth[0].image.step = common::SIDE * 4;
            depth[0].image.data = vec![0; (common::SIDE * common::SIDE * 4) as usize];
            pubs[1].put(&frame("arm1", 1, 101, depth)).unwrap();
            tokio::time::sleep(Duration::from_millis(60)).await;
            pubs[0].put_encoded(vec![0, 1, 0, 0, 7, 7, 7]).unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while got.iter().filter(|(_, m)| m.step == step).count() < 2 {
            assert!(
                Instant::now() < deadline,
                "no rewards for step {step}: {got:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
            for r in rewards.drain() {
                if r.msg.episode_id == 1 {
                    got.push((r.key, r.msg));
                }
            }
        }
    }
    stop_tx.send(()).unwrap();
    let stats = node.await.unwrap();

    for robot in ["arm0", "arm1"] {
        let mine: Vec<&ProgressReward> = got
            .iter()
            .filter(|(k, _)| k == &format!("striatum/@v1/{robot}/reward/progress"))
            .map(|(_, m)| m)
            .collect();
        let steps_seen: Vec<u64> = mine.iter().map(|m| m.step).collect();
        assert_eq!(steps_seen, (0..steps).collect::<Vec<_>>(), "{robot}");
        for m in &mine {
            assert_eq!(m.model_id, "prm-test");
            assert!(m.inference_ns > 0);
            assert!((0.0..=1.0).contains(&m.progress));
            assert_eq!(m.header.stamp_ns, m.step as i64 * 50_000_000);
        }
        let views: Vec<&str> = mine[0].per_view.iter().map(|v| v.view.as_str()).collect();
        assert_eq!(
            views,
            if robot == "arm0" {
                vec!["front", "side"]
            } else {
                vec!["front"]
            }
        );
    }
    assert_eq!(stats.rejected.get("unknown view"), Some(&1), "{stats:?}");
    assert_eq!(stats.rejected.get("encoding"), Some(&1), "{stats:?}");
    assert_eq!(stats.decode_errors, 1, "{stats:?}");
    assert_eq!(stats.robots, 2);
    assert!(
        stats.episodes >= 4,
        "probe and real episode per robot: {stats:?}"
    );
}
