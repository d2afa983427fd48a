//! An independent Python peer (eclipse-zenoh + pycdr2, layouts written from
//! docs/wire-format.md) reads what Rust publishes, and Rust reads what it publishes.

use std::process::Command;
use std::time::{Duration, Instant};

use striatum_bus::{Bus, BusConfig, Qos, free_local_endpoint};
use striatum_e2e::{ChildLines, venv_python, workspace_root};
use striatum_msgs::topics::streams;
use striatum_msgs::{Header, JointState, ProgressReward, Topic, ViewEstimate};

fn peer(args: &[&str]) -> anyhow::Result<ChildLines> {
    let mut cmd = Command::new(venv_python()?);
    cmd.arg(workspace_root().join("tests/python/peer.py"))
        .args(args);
    ChildLines::spawn(cmd)
}

fn rust_joint_state() -> JointState {
    JointState {
        header: Header::new(1_234_567_890_123, "rust_base"),
        names: vec!["shoulder_pan".into(), "elbow_flex".into()],
        positions: vec![0.25, -1.5],
        velocities: vec![2.0, 0.0],
        efforts: vec![],
    }
}

fn rust_reward() -> ProgressReward {
    ProgressReward {
        header: Header::new(42_000_000_007, "rust"),
        episode_id: 17,
        step: 250,
        progress: 0.625,
        progress_delta: 0.03125,
        done_prob: 0.875,
        done: true,
        uncertainty: 0.5,
        per_view: vec![
            ViewEstimate {
                view: "front".into(),
                progress: 0.5,
                confidence: 0.75,
            },
            ViewEstimate {
                view: "wrist".into(),
                progress: 0.75,
                confidence: 0.25,
            },
        ],
        model_id: "prm-v1".into(),
        inference_ns: 3_200_000,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_decodes_what_rust_publishes() -> anyhow::Result<()> {
    let endpoint = free_local_endpoint()?;
    let bus = Bus::open(&BusConfig::isolated(std::slice::from_ref(&endpoint), &[])).await?;
    let js_topic = Topic::<JointState>::new("interop", "rust", streams::JOINT_STATE)?;
    let pr_topic = Topic::<ProgressReward>::new("interop", "rust", streams::PROGRESS)?;
    let js_pub = bus.publisher(&js_topic, Qos::Telemetry).await?;
    let pr_pub = bus.publisher(&pr_topic, Qos::Telemetry).await?;

    let mut python = peer(&[
        "sub",
        "--connect",
        &endpoint,
        "--key",
        "striatum/@v1/interop/rust/*",
        "--count",
        "1000",
    ])?;
    assert_eq!(python.next_line(Duration::from_secs(30))?, "ready");

    let (mut js_json, mut pr_json) = (None, None);
    let start = Instant::now();
    while js_json.is_none() || pr_json.is_none() {
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(20),
            "python received nothing"
        );
        js_pub.put(&rust_joint_state())?;
        pr_pub.put(&rust_reward())?;
        tokio::time::sleep(Duration::from_millis(20)).await;
        while let Some(line) = python.try_line() {
            let v: serde_json::Value = serde_json::from_str(&line)?;
            anyhow::ensure!(v.get("error").is_none(), "python peer: {line}");
            match v["type"].as_str() {
                Some("sensor_msgs/msg/JointState") => js_json = Some(v),
                Some("striatum_msgs/msg/ProgressReward") => pr_json = Some(v),
                other => anyhow::bail!("unexpected type {other:?}"),
            }
        }
    }
    let js = js_json.unwrap_or_default();
    let expected = rust_joint_state();
    assert_eq!(js["key"], js_topic.key());
    assert_eq!(js["stamp_ns"], expected.header.stamp_ns);
    assert_eq!(js["frame_id"], "rust_base");
    assert_eq!(
        js["name"],
        serde_json::json!(["shoulder_pan", "elbow_flex"])
    );
    assert_eq!(js["position"], serde_json::json!([0.25, -1.5]));
    assert_eq!(js["velocity"], serde_json::json!([2.0, 0.0]));
    assert_eq!(js["effort"], serde_json::json!([]));

    let pr = pr_json.unwrap_or_default();
    let expected = rust_reward();
    assert_eq!(pr["stamp_ns"], expected.header.stamp_ns);
    assert_eq!(pr["episode_id"], 17);
    assert_eq!(pr["step"], 250);
    assert_eq!(pr["progress"], 0.625);
    assert_eq!(pr["progress_delta"], 0.03125);
    assert_eq!(pr["done_prob"], 0.875);
    assert_eq!(pr["done"], true);
    assert_eq!(pr["uncertainty"], 0.5);
    assert_eq!(
        pr["per_view"],
        serde_json::json!([["front", 0.5, 0.75], ["wrist", 0.75, 0.25]])
    );
    assert_eq!(pr["model_id"], "prm-v1");
    assert_eq!(pr["inference_ns"], 3_200_000);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_decodes_what_python_publishes() -> anyhow::Result<()> {
    let endpoint = free_local_endpoint()?;
    let bus = Bus::open(&BusConfig::isolated(std::slice::from_ref(&endpoint), &[])).await?;
    let js_topic = Topic::<JointState>::new("interop", "python", streams::JOINT_STATE)?;
    let pr_topic = Topic::<ProgressReward>::new("interop", "python", streams::PROGRESS)?;
    let js_sub = bus
        .subscriber::<JointState>(js_topic.key(), Qos::Telemetry)
        .await?;
    let pr_sub = bus
        .subscriber::<ProgressReward>(pr_topic.key(), Qos::Telemetry)
        .await?;

    let mut js_peer = peer(&[
        "pub",
        "--connect",
        &endpoint,
        "--key",
        js_topic.key(),
        "--type",
        "sensor_msgs/msg/JointState",
    ])?;
    let mut pr_peer = peer(&[
        "pub",
        "--connect",
        &endpoint,
        "--key",
        pr_topic.key(),
        "--type",
        "striatum_msgs/msg/ProgressReward",
    ])?;
    assert_eq!(js_peer.next_line(Duration::from_secs(30))?, "ready");
    assert_eq!(pr_peer.next_line(Duration::from_secs(30))?, "ready");

    let js = tokio::task::spawn_blocking(move || {
        js_sub
            .recv_timeout(Duration::from_secs(20))
            .map(|r| (r, js_sub))
    })
    .await??
    .0;
    let pr = tokio::task::spawn_blocking(move || {
        pr_sub
            .recv_timeout(Duration::from_secs(20))
            .map(|r| (r, pr_sub))
    })
    .await??;
    let (pr, pr_sub) = pr;

    assert_eq!(
        js.msg,
        JointState {
            header: Header::new(12_345_678_901, "python_base"),
            names: vec!["pan".into(), "lift".into(), "elbow".into()],
            positions: vec![0.5, -1.25, 2.0],
            velocities: vec![],
            efforts: vec![0.125, 0.25, -0.5],
        }
    );
    assert_eq!(
        pr.msg,
        ProgressReward {
            header: Header::new(7_000_000_005, "python"),
            episode_id: 41,
            step: 99,
            progress: 0.75,
            progress_delta: -0.125,
            done_prob: 0.5,
            done: true,
            uncertainty: 0.0625,
            per_view: vec![
                ViewEstimate {
                    view: "front".into(),
                    progress: 0.5,
                    confidence: 1.0
                },
                ViewEstimate {
                    view: "wrist".into(),
                    progress: 1.0,
                    confidence: 0.25
                },
            ],
            model_id: "python-peer".into(),
            inference_ns: 123_456_789_012,
        }
    );
    assert_eq!(pr_sub.stats().decode_errors, 0);
    assert!(js_peer.finish(Duration::from_secs(10))?.success());
    assert!(pr_peer.finish(Duration::from_secs(10))?.success());
    Ok(())
}
