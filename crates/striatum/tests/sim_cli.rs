//! `striatum sim run` and `striatum sim bench` as a user runs them, from the repository root.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on broken fixtures

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn striatum(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_striatum"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("cannot run striatum {args:?}: {e}"))
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn sim_run_prints_a_success_table() {
    let out = striatum(&[
        "sim",
        "run",
        "--scene",
        "sim_scenes/push_cube.toml",
        "--robot",
        "so101",
        "--policy",
        "expert",
        "--episodes",
        "5",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "push_cube",
        "so101",
        "success rate",
        "100.0 %",
        "episode length",
        "final progress",
    ] {
        assert!(text.contains(needle), "`{needle}` missing from:\n{text}");
    }
}

#[test]
fn saved_actions_replay_to_the_same_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("noisy.csv");
    let file_str = file.to_str().unwrap();
    let recorded = json(&striatum(&[
        "sim",
        "run",
        "--scene",
        "sim_scenes/pick_place.toml",
        "--robot",
        "panda",
        "--policy",
        "noisy",
        "--episodes",
        "3",
        "--seed",
        "10",
        "--save-actions",
        file_str,
        "--json",
    ]));
    let replayed = json(&striatum(&[
        "sim",
        "run",
        "--scene",
        "sim_scenes/pick_place.toml",
        "--robot",
        "panda",
        "--policy",
        "replay",
        "--actions",
        file_str,
        "--json",
    ]));
    assert_eq!(
        recorded["seeds"], replayed["seeds"],
        "replay must reproduce every episode"
    );
    assert_eq!(recorded["episodes"], 3);
}

#[test]
fn sim_run_errors_name_what_is_wrong() {
    let out = striatum(&[
        "sim",
        "run",
        "--scene",
        "sim_scenes/open_drawer.toml",
        "--robot",
        "so101",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("so101") && err.contains("panda"), "{err}");

    let out = striatum(&["sim", "run", "--scene", "sim_scenes/missing.toml"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "seed,step,dx,dy,dz,droll,dpitch,dyaw,gripper\n0,0,0.1,nan,0,0,0,0,0\n",
    )
    .unwrap();
    let out = striatum(&[
        "sim",
        "run",
        "--scene",
        "sim_scenes/reach.toml",
        "--policy",
        "replay",
        "--actions",
        bad.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2") && err.contains("nan"), "{err}");
}

#[test]
fn sim_bench_prints_rates_for_each_supported_pair() {
    let out = striatum(&[
        "sim",
        "bench",
        "--scene",
        "sim_scenes/stack.toml",
        "--steps",
        "20",
        "--repeats",
        "1",
        "--envs",
        "2",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    // stack places only the Panda: one row.
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("stack")).collect();
    assert_eq!(rows.len(), 1, "{text}");
    let numbers: Vec<f64> = rows[0]
        .split_whitespace()
        .skip(2)
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(numbers.len(), 5);
    assert!(numbers.iter().all(|v| *v > 0.0), "{text}");
}
