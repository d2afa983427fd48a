//! The `striatum` binary, driven as a user would, across processes.

use std::io::Read;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use striatum_bus::{Bus, BusConfig, Qos, free_local_endpoint};
use striatum_msgs::topics::streams;
use striatum_msgs::{Header, JointState, Topic};

fn striatum() -> Command {
    Command::new(env!("CARGO_BIN_EXE_striatum"))
}

fn run(args: &[&str]) -> Output {
    striatum()
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run striatum {args:?}: {e}"))
}

/// Kills the child if the test fails before it exits.
struct Reaper(Option<Child>);

impl Reaper {
    /// Whether the child is still running.
    fn running(&mut self) -> bool {
        self.0
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    fn wait_output(mut self, timeout: Duration) -> anyhow::Result<(bool, String)> {
        let mut child = self.0.take().ok_or_else(|| anyhow::anyhow!("no child"))?;
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if start.elapsed() > timeout {
                let _ = child.kill();
                anyhow::bail!("striatum did not exit within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut out = String::new();
        if let Some(mut stdout) = child.stdout.take() {
            stdout.read_to_string(&mut out)?;
        }
        Ok((status.success(), out))
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn help_lists_the_commands() {
    let out = run(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in ["doctor", "nodes", "topic", "router", "bench"] {
        assert!(text.contains(cmd), "--help does not list `{cmd}`:\n{text}");
    }
    let topic = String::from_utf8_lossy(&run(&["topic", "--help"]).stdout).into_owned();
    for cmd in ["echo", "hz", "list"] {
        assert!(
            topic.contains(cmd),
            "topic --help does not list `{cmd}`:\n{topic}"
        );
    }
}

#[test]
fn doctor_reports_libtorch_2_13_and_the_rest() {
    let out = run(&["doctor"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("libtorch  2.13.0"), "doctor output:\n{text}");
    assert!(
        text.contains("tensor check passed"),
        "doctor output:\n{text}"
    );
    assert!(text.contains("zenoh     v1.10"), "doctor output:\n{text}");
    assert!(text.contains("vulkan"), "doctor output:\n{text}");
    let json = run(&["doctor", "--json"]);
    let v: serde_json::Value =
        serde_json::from_slice(&json.stdout).expect("doctor --json prints JSON");
    let libtorch = v
        .as_array()
        .and_then(|a| a.iter().find(|c| c["check"] == "libtorch"))
        .expect("a libtorch entry");
    assert_eq!(libtorch["status"], "ok", "{libtorch}");
}

#[test]
fn bad_bus_options_are_named_in_the_error() {
    let out = run(&["nodes", "--connect", "not-an-endpoint"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not-an-endpoint"), "stderr:\n{err}");
    let out = run(&["nodes", "--zenoh-config", "/nonexistent/zenoh.json5"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/zenoh.json5"));
}

fn joint_state(i: i64) -> JointState {
    JointState {
        header: Header::new(i, "base"),
        names: vec!["shoulder_pan".into()],
        positions: vec![0.5],
        velocities: vec![],
        efforts: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_echo_in_another_process_decodes_our_messages() -> anyhow::Result<()> {
    let endpoint = free_local_endpoint()?;
    let bus = Bus::open(&BusConfig::isolated(std::slice::from_ref(&endpoint), &[])).await?;
    let topic = Topic::<JointState>::new("cli_arm", "driver", streams::JOINT_STATE)?;
    let publisher = bus.publisher(&topic, Qos::Telemetry).await?;
    let child = striatum()
        .args([
            "topic",
            "echo",
            "striatum/@v1/cli_arm/*/joint_state",
            "--count",
            "2",
            "--compact",
        ])
        .args(["--connect", &endpoint, "--listen", "tcp/127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut reaper = Reaper(Some(child));
    let start = Instant::now();
    let mut i = 0;
    while reaper
        .0
        .as_mut()
        .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    {
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(30),
            "echo never printed 2 messages"
        );
        i += 1;
        publisher.put(&joint_state(i))?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (ok, out) = reaper.wait_output(Duration::from_secs(5))?;
    assert!(ok, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    for line in lines {
        assert!(
            line.starts_with(
                "striatum/@v1/cli_arm/driver/joint_state sensor_msgs/msg/JointState JointState("
            ),
            "{line}"
        );
        assert!(line.contains("shoulder_pan"), "{line}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_in_another_process_sees_ours_and_hz_measures_the_rate() -> anyhow::Result<()> {
    let endpoint = free_local_endpoint()?;
    let bus = Bus::open(&BusConfig::isolated(std::slice::from_ref(&endpoint), &[])).await?;
    let _node = bus.declare_node("cli_arm", "reward").await?;
    let out = tokio::task::spawn_blocking({
        let endpoint = endpoint.clone();
        move || {
            run(&[
                "nodes",
                "--connect",
                &endpoint,
                "--listen",
                "tcp/127.0.0.1:0",
                "--timeout",
                "10",
            ])
        }
    })
    .await?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["cli_arm", "reward"]),
        "nodes output:\n{text}"
    );

    // About 50 Hz for as long as `topic hz` runs (its clock starts once it is up, which takes
    // a while on a loaded machine).
    let topic = Topic::<JointState>::new("cli_arm", "driver", streams::JOINT_STATE)?;
    let publisher = bus.publisher(&topic, Qos::Telemetry).await?;
    let child = striatum()
        .args(["topic", "hz", topic.key(), "--duration", "3.5"])
        .args(["--connect", &endpoint, "--listen", "tcp/127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut reaper = Reaper(Some(child));
    let start = Instant::now();
    let mut i = 0;
    while reaper.running() && start.elapsed() < Duration::from_secs(60) {
        i += 1;
        publisher.put(&joint_state(i))?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sent_hz = i as f64 / start.elapsed().as_secs_f64();
    let (ok, out) = reaper.wait_output(Duration::from_secs(5))?;
    assert!(ok, "{out}");
    let last = out
        .lines()
        .rev()
        .find(|l| l.starts_with("rate"))
        .unwrap_or_default();
    let hz: f64 = last
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no rate line in:\n{out}"))?;
    // The publisher sleeps 20 ms per message: at most 50 Hz, and a loaded machine slows it
    // (and may bunch arrivals up): the measured rate follows what was sent.
    assert!(
        hz > 0.5 * sent_hz && hz < 1.5 * sent_hz.max(1.0) && hz < 60.0,
        "measured {hz} Hz, sent {sent_hz:.1} Hz:\n{out}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_talk_through_the_router_and_topic_list_sees_them() -> anyhow::Result<()> {
    use striatum_bus::Mode;
    let endpoint = free_local_endpoint()?;
    let router = striatum()
        .args(["router", "--listen", &endpoint])
        .stdout(Stdio::piped())
        .spawn()?;
    let _router = Reaper(Some(router));
    let client = |endpoint: &str| BusConfig {
        mode: Some(Mode::Client),
        connect: vec![endpoint.to_owned()],
        listen: vec![],
        config_file: None,
        rendezvous: false,
    };
    // The router takes a moment to listen; clients fail to open until it does.
    let start = Instant::now();
    let (a, b) = loop {
        match (
            Bus::open(&client(&endpoint)).await,
            Bus::open(&client(&endpoint)).await,
        ) {
            (Ok(a), Ok(b)) => break (a, b),
            _ if start.elapsed() < Duration::from_secs(20) => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            (Err(e), _) | (_, Err(e)) => return Err(e.into()),
        }
    };
    let topic = Topic::<JointState>::new("routed", "driver", streams::JOINT_STATE)?;
    let publisher = a.publisher(&topic, Qos::Telemetry).await?;
    let subscriber = b
        .subscriber::<JointState>(topic.key(), Qos::Telemetry)
        .await?;
    let start = Instant::now();
    let got = loop {
        publisher.put(&joint_state(3))?;
        if let Some(got) = subscriber.try_recv() {
            break got;
        }
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(10),
            "nothing came through the router"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(got.msg, joint_state(3));

    let lister = striatum()
        .args([
            "topic",
            "list",
            "--duration",
            "2",
            "--connect",
            &endpoint,
            "--mode",
            "client",
        ])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut lister = Reaper(Some(lister));
    let start = Instant::now();
    while lister.running() && start.elapsed() < Duration::from_secs(60) {
        publisher.put(&joint_state(4))?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (ok, out) = lister.wait_output(Duration::from_secs(10))?;
    assert!(ok, "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with(topic.key()) && l.contains("sensor_msgs/msg/JointState")),
        "topic list output:\n{out}"
    );
    Ok(())
}
