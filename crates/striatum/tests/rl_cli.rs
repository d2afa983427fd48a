//! `striatum launch` with `rl learn`, `rl actor`, `reward serve` and `viz node`: a short sim
//! training session over its own Zenoh endpoint writes what it says (config copy, metrics,
//! checkpoint, summary, recording, logs) with no transition lost; bad configs and launch
//! files are refused by name. How well policies learn is measured by `striatum rl bench`
//! (docs/rl.md), not here. Needs a Vulkan adapter (lavapipe on CPU machines) for the cameras;
//! that part skips, saying so, without one.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on broken fixtures

use std::path::{Path, PathBuf};
use std::process::Command;

use striatum_render::{RenderError, Renderer};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn striatum(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_striatum"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    eprintln!(
        "$ striatum {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn fails(args: &[&str]) -> String {
    let out = striatum(args);
    assert!(
        !out.status.success(),
        "striatum {} should fail",
        args.join(" ")
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const SMALL: &str = r#"
run = "cli_test"
[env]
scene = "sim_scenes/push_cube.toml"
robot = "so101"
horizon = 30
progress = "reward_node"
[actor]
demo_episodes = 2
eval_every = 2
max_env_steps = 120
max_train_s = 600.0
max_update_lag = 40
final_eval_episodes = 2
[learner]
warmup = 32
weights_period_s = 0.2
[learner.shaping]
gamma = 0.97
[learner.sac]
hidden = [32, 32]
batch = 32
gamma = 0.97
bc_weight = 0.5
"#;

#[test]
fn bad_training_configs_and_launch_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    let p = config.display().to_string();
    let run = dir.path().join("run").display().to_string();

    std::fs::write(
        &config,
        SMALL.replace("hidden = [32, 32]", "hiden = [32, 32]"),
    )
    .unwrap();
    let err = fails(&["rl", "learn", "--config", &p, "--run-dir", &run]);
    assert!(err.contains("hiden") && err.contains("bad.toml"), "{err}");

    std::fs::write(&config, SMALL.replace("horizon = 30", "horizon = 0")).unwrap();
    let err = fails(&["rl", "actor", "--config", &p, "--run-dir", &run]);
    assert!(err.contains("env.horizon"), "{err}");

    std::fs::write(
        &config,
        SMALL.replace(
            "[learner.shaping]\ngamma = 0.97",
            "[learner.shaping]\ngamma = 0.9",
        ),
    )
    .unwrap();
    let err = fails(&["rl", "learn", "--config", &p, "--run-dir", &run]);
    assert!(err.contains("shaping.gamma"), "{err}");

    std::fs::write(
        &config,
        SMALL.replace("max_train_s = 600.0", "max_train_s = -5.0"),
    )
    .unwrap();
    let err = fails(&["rl", "actor", "--config", &p, "--run-dir", &run]);
    assert!(err.contains("actor.max_train_s"), "{err}");

    std::fs::write(
        &config,
        SMALL.replace(
            "max_env_steps = 120",
            "max_env_steps = 120\npace_timeout_s = 0.0",
        ),
    )
    .unwrap();
    let err = fails(&["rl", "actor", "--config", &p, "--run-dir", &run]);
    assert!(err.contains("actor.pace_timeout_s"), "{err}");

    let missing = dir.path().join("nope.toml").display().to_string();
    let err = fails(&["rl", "learn", "--config", &missing, "--run-dir", &run]);
    assert!(err.contains("nope.toml"), "{err}");

    let launch = dir.path().join("launch.toml");
    std::fs::write(
        &launch,
        "name = \"x\"\nrun_dir = \"r\"\n[[nodes]]\nname = \"a\"\n",
    )
    .unwrap();
    let err = fails(&["launch", &launch.display().to_string()]);
    assert!(err.contains("args") || err.contains("program"), "{err}");
}

#[test]
fn a_short_training_session_runs_end_to_end_and_saves_everything() {
    if let Err(e @ RenderError::NoAdapter) = Renderer::new() {
        eprintln!("skipped: no Vulkan adapter on this machine ({e})");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("train.toml");
    std::fs::write(&config, SMALL).unwrap();
    let run_dir = dir.path().join("run");
    let endpoint = striatum_bus::free_local_endpoint().unwrap();
    // Every node on this test's own endpoint, so other sessions on the machine never join.
    let first = format!("\"--listen\", \"{endpoint}\", \"--connect\", \"{endpoint}\"");
    let other = format!("\"--listen\", \"tcp/127.0.0.1:0\", \"--connect\", \"{endpoint}\"");
    let c = config.display();
    let launch = format!(
        r#"
name = "cli_test"
run_dir = "{run}"
max_duration_s = 240.0
grace_s = 20.0
[env]
OMP_NUM_THREADS = "1"
[[nodes]]
name = "reward"
args = [{first}, "reward", "serve", "--model", "models/prm_base", "--device", "cpu"]
start_delay_s = 1.0
[[nodes]]
name = "viz"
args = [{other}, "viz", "node", "--robot", "sim9", "--rerun", "save:${{run_dir}}/session.rrd"]
required = false
[[nodes]]
name = "learner"
args = [{other}, "rl", "learn", "--config", "{c}", "--run-dir", "${{run_dir}}"]
start_delay_s = 1.0
[[nodes]]
name = "actor0"
args = [{other}, "rl", "actor", "--config", "{c}", "--run-dir", "${{run_dir}}", "--robot-id", "sim9"]
ends_session = true
"#,
        run = run_dir.display()
    );
    let launch_path = dir.path().join("session.toml");
    std::fs::write(&launch_path, launch).unwrap();
    let out = striatum(&["launch", &launch_path.display().to_string()]);
    assert!(out.status.success(), "the session failed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("NodeFinished(\"actor0\")"), "{stdout}");

    for f in [
        "launch.toml",
        "config.toml",
        "learner.csv",
        "actor0.csv",
        "actor0_summary.json",
        "checkpoints/learner/state.json",
        "session.rrd",
        "logs/actor0.log",
        "logs/learner.log",
        "logs/reward.log",
    ] {
        assert!(run_dir.join(f).is_file(), "{f} missing");
    }
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run_dir.join("actor0_summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["env_steps"], 120);
    // Pacing is on (`max_update_lag = 40`) and reported; the learner never stalled for 10 s.
    assert!(summary["paced_holds"].is_u64(), "{summary}");
    assert_eq!(summary["pace_timeouts"], 0, "{summary}");
    assert!(summary["unpaced_hz"].as_f64().unwrap() >= summary["control_hz"].as_f64().unwrap());
    assert_eq!(summary["final_eval_episodes"], 2);
    // The frames got their rewards from the node: the first waits for the node to come up, and
    // later ones time out only when this machine is too loaded to answer within 2 s.
    let timeouts = summary["reward_timeouts"].as_u64().unwrap();
    assert!(timeouts <= 3, "{timeouts} reward timeouts");
    assert!(summary["reward_latency_p50_ms"].as_f64().unwrap() > 0.0);
    // The actor's CSV: the demonstrations first, then policy episodes with evaluations.
    let csv = std::fs::read_to_string(run_dir.join("actor0.csv")).unwrap();
    let kinds: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(3).unwrap())
        .collect();
    assert_eq!(&kinds[..2], &["demo", "demo"]);
    assert!(kinds[2..].contains(&"train"));
    // The learner got every transition the actor sent (the final evaluation sends none): none
    // lost, none twice.
    let log = std::fs::read_to_string(run_dir.join("logs/learner.log")).unwrap();
    let last = log
        .lines()
        .rev()
        .find(|l| l.contains("learner: stopped after"))
        .unwrap();
    assert!(last.contains("0 lost, 0 duplicates"), "{last}");
}

#[test]
fn the_learning_benchmark_writes_curves_and_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("train.toml");
    // Privileged progress needs no cameras: a quick run of two modes, with a supervisor that
    // takes over training episodes stalled for 3 steps.
    std::fs::write(
        &config,
        SMALL.replace(
            "demo_episodes = 2",
            "demo_episodes = 1\nintervene_after_stall = 3",
        ),
    )
    .unwrap();
    let out = dir.path().join("bench");
    let o = out.display().to_string();
    let c = config.display().to_string();
    let run = striatum(&[
        "rl",
        "bench",
        "--config",
        &c,
        "--modes",
        "sparse,shaped_privileged",
        "--seeds",
        "2",
        "--env-steps",
        "60",
        "--eval-every",
        "30",
        "--eval-episodes",
        "1",
        "--out",
        &o,
    ]);
    assert!(run.status.success());
    let csv = std::fs::read_to_string(out.join("curves.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    // Two modes x two seeds, evaluated at 0 steps and at least at the end.
    for mode in ["sparse", "shaped_privileged"] {
        for seed in ["0", "1"] {
            let n = rows
                .iter()
                .filter(|r| r.starts_with(&format!("{mode},{seed},")))
                .count();
            assert!(n >= 2, "{mode} seed {seed}: {n} evaluations");
        }
    }
    assert!(rows.iter().any(|r| r.split(',').nth(2) == Some("60")));
    // The untrained policy stalls: the supervisor took over some training episodes.
    assert!(
        rows.iter()
            .any(|r| r.split(',').nth(5).and_then(|n| n.parse::<u64>().ok()) > Some(0)),
        "{csv}"
    );
    let png = std::fs::read(out.join("curves.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("| sparse |") && summary.contains("| shaped_privileged |"));
    assert!(summary.contains("stalled for 3 steps"), "{summary}");
    let err = fails(&[
        "rl",
        "bench",
        "--config",
        &c,
        "--modes",
        "sparse,dense",
        "--out",
        &o,
    ]);
    assert!(err.contains("unknown mode `dense`"), "{err}");
}
