//! `striatum data export-rrd` and `sim run --rerun` write recordings that Rerun's own CLI
//! (`rerun rrd verify`, `rerun rrd print`, from the project's .venv) reads back with the
//! expected entity paths, timelines, row counts and per-step values.
//! Recording needs a Vulkan adapter (lavapipe on CPU machines); skips, saying so, without one.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on broken fixtures

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use striatum_render::{RenderError, Renderer};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn striatum(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_striatum"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Rerun's CLI from the project's venv (installed by `make bootstrap`).
fn rerun_cli(args: &[&str]) -> String {
    let exe = root().join(".venv/bin/rerun");
    assert!(
        exe.is_file(),
        "{} is missing: run `make bootstrap` (scripts/bootstrap.sh installs rerun-sdk)",
        exe.display()
    );
    let out = Command::new(exe).args(args).output().unwrap();
    // `verify` reports on stderr, `print` on stdout.
    format!("{}{}", ok(&out), String::from_utf8_lossy(&out.stderr))
}

/// Rows per entity path from `rerun rrd print` summary lines
/// (`Chunk(..) with N rows (..) - /entity/path - ...`).
fn rows_per_entity(rrd: &Path) -> BTreeMap<String, usize> {
    let text = rerun_cli(&["rrd", "print", rrd.to_str().unwrap()]);
    let mut rows = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("Chunk(")) {
        let n: usize = line
            .split(" with ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected chunk line {line:?}"));
        let entity = line.split(" - ").nth(1).unwrap().trim().to_owned();
        *rows.entry(entity).or_default() += n;
    }
    rows
}

/// The data rows of one entity from `rerun rrd print -vvv`: column name to cell text.
fn table(rrd: &Path, entity: &str) -> Vec<BTreeMap<String, String>> {
    let text = rerun_cli(&[
        "rrd",
        "print",
        "-vvv",
        "--entity",
        entity,
        rrd.to_str().unwrap(),
    ]);
    let cells = |line: &str| -> Vec<String> {
        line.trim()
            .trim_start_matches('│')
            .trim_end_matches('│')
            .trim()
            .trim_start_matches('│')
            .trim_end_matches('│')
            .split('┆')
            .map(|c| c.trim().to_owned())
            .collect()
    };
    let mut header: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for line in text.lines() {
        if line.contains("RowId") && line.contains('┆') {
            header = cells(line);
        } else if line.contains("row_") && line.contains('┆') {
            rows.push(header.iter().cloned().zip(cells(line)).collect());
        }
    }
    rows
}

fn number(cell: &str) -> f64 {
    cell.trim_matches(|c| c == '[' || c == ']')
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {cell:?}"))
}

fn record(out: &Path) -> bool {
    match Renderer::new() {
        Ok(_) => {}
        Err(e @ RenderError::NoAdapter) => {
            eprintln!("skipped: no Vulkan adapter on this machine ({e})");
            return false;
        }
        Err(e) => panic!("renderer: {e}"),
    }
    ok(&striatum(&[
        "sim",
        "record",
        "--scene",
        "sim_scenes/push_cube.toml",
        "--robot",
        "so101",
        "--episodes",
        "2",
        "--size",
        "48",
        "--out",
        out.to_str().unwrap(),
    ]));
    true
}

#[test]
fn exported_episodes_read_back_through_rerun_with_their_values() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("push");
    if !record(&data) {
        return;
    }
    let ds = striatum_data::Dataset::open(&data).unwrap();
    let episodes: Vec<_> = ds
        .episodes()
        .iter()
        .map(|e| striatum_data::load_episode(e, false).unwrap())
        .collect();
    let observations: usize = episodes.iter().map(|e| e.observations.len()).sum();
    let actions: usize = episodes.iter().map(|e| e.actions.len()).sum();

    let rrd = dir.path().join("push.rrd");
    let said = ok(&striatum(&[
        "data",
        "export-rrd",
        data.to_str().unwrap(),
        "--out",
        rrd.to_str().unwrap(),
    ]));
    assert!(
        said.contains(&format!("2 episodes, {observations} steps")),
        "{said}"
    );
    let bare = dir.path().join("bare.rrd");
    ok(&striatum(&[
        "data",
        "export-rrd",
        data.to_str().unwrap(),
        "--no-images",
        "--out",
        bare.to_str().unwrap(),
    ]));
    // Written atomically: no partial file left beside it.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty());

    for file in [&rrd, &bare] {
        let verified = rerun_cli(&["rrd", "verify", file.to_str().unwrap()]);
        assert!(verified.contains("verified without error"), "{verified}");
    }

    let rows = rows_per_entity(&rrd);
    for per_step in [
        "/reward/progress",
        "/reward/done_prob",
        "/task/progress",
        "/task/stage",
        "/state/gripper",
        "/state/joints/shoulder_pan",
        "/world/robot/gripper_link",
    ] {
        assert_eq!(
            rows.get(per_step),
            Some(&observations),
            "{per_step}: {rows:?}"
        );
    }
    for per_action in [
        "/action/dx",
        "/action/gripper",
        "/reward/shaped",
        "/reward/sparse",
    ] {
        assert_eq!(rows.get(per_action), Some(&actions), "{per_action}");
    }
    for view in ["front", "side", "wrist"] {
        // Per step: the pose and the image; once: the pinhole.
        let cam = format!("/cameras/{view}");
        assert_eq!(
            rows.get(&cam),
            Some(&(2 * observations + 1)),
            "{cam}: {rows:?}"
        );
        assert_eq!(rows.get(&format!("{cam}/depth")), Some(&observations));
    }
    // The robot's URDF visuals, the scene's table and cube, one start and one end event per
    // episode (no stage changes in push_cube's expert beyond its stages).
    assert!(
        rows.keys()
            .any(|k| k.starts_with("/world/robot/base_link/visual_")),
        "{rows:?}"
    );
    assert!(
        rows.keys().any(|k| k.starts_with("/world/scene/table/")),
        "{rows:?}"
    );
    let cube_rows = rows
        .iter()
        .filter(|(k, _)| k.starts_with("/world/scene/cube/"))
        .map(|(_, n)| *n)
        .sum::<usize>();
    assert_eq!(
        cube_rows,
        observations + episodes.len(),
        "cube: its pose per step and its geometry per episode"
    );
    assert!(rows.get("/events").is_some_and(|n| *n >= 4));

    // Per-step values and timelines equal the episodes'.
    let progress = table(&rrd, "/reward/progress");
    assert_eq!(progress.len(), observations);
    for key in ["step", "episode", "episode_step", "sim_time"] {
        assert!(
            progress[0].contains_key(key),
            "timeline {key} missing: {:?}",
            progress[0]
        );
    }
    let expected: Vec<(usize, usize, f64)> = episodes
        .iter()
        .enumerate()
        .flat_map(|(e, ep)| {
            ep.observations
                .iter()
                .enumerate()
                .map(move |(t, o)| (e, t, o.progress))
        })
        .collect();
    for (i, (row, (e, t, p))) in progress.iter().zip(&expected).enumerate() {
        assert_eq!(row["step"], i.to_string());
        assert_eq!(row["episode"], e.to_string());
        assert_eq!(row["episode_step"], t.to_string());
        // Reward messages carry f32.
        let value = number(&row["Scalars:scalars"]);
        assert_eq!(value, f64::from(*p as f32), "row {i}");
    }
    let task = table(&rrd, "/task/progress");
    assert_eq!(task.len(), expected.len());
    for (row, (_, _, p)) in task.iter().zip(&expected) {
        assert_eq!(number(&row["Scalars:scalars"]), *p);
    }
    let joint = table(&rrd, "/state/joints/elbow_flex");
    let expected: Vec<f64> = episodes
        .iter()
        .flat_map(|ep| ep.observations.iter().map(|o| o.joint_positions[2]))
        .collect();
    assert_eq!(joint.len(), expected.len());
    for (row, q) in joint.iter().zip(&expected) {
        assert!((number(&row["Scalars:scalars"]) - q).abs() < 1e-12);
    }
    let dx = table(&rrd, "/action/dx");
    let expected: Vec<f64> = episodes
        .iter()
        .flat_map(|ep| ep.actions.iter().map(|a| a[0]))
        .collect();
    assert_eq!(dx.len(), expected.len());
    for (row, a) in dx.iter().zip(&expected) {
        assert!((number(&row["Scalars:scalars"]) - a).abs() < 1e-12);
    }

    // Without images: the same curves, no pixels, far fewer bytes.
    let bare_rows = rows_per_entity(&bare);
    assert_eq!(bare_rows.get("/reward/progress"), Some(&observations));
    assert_eq!(bare_rows.get("/cameras/front/depth"), None);
    let (full, small) = (
        std::fs::metadata(&rrd).unwrap().len(),
        std::fs::metadata(&bare).unwrap().len(),
    );
    assert!(small < full, "{small} vs {full} bytes");

    // `view --web` serves Rerun's web viewer for the file.
    let port = 20_000 + (std::process::id() % 20_000) as u16;
    let mut child = Command::new(env!("CARGO_BIN_EXE_striatum"))
        .args([
            "view",
            rrd.to_str().unwrap(),
            "--web",
            "--port",
            &port.to_string(),
        ])
        .current_dir(root())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let mut page = String::new();
    while started.elapsed() < std::time::Duration::from_secs(30) {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            stream
                .write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
                .unwrap();
            let _ = stream.read_to_string(&mut page);
            if page.starts_with("HTTP/1.") {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        page.contains(" 200 "),
        "no web viewer on port {port}: {page:.200}"
    );
}

#[test]
fn a_simulated_run_logs_every_step_to_an_rrd() {
    let dir = tempfile::tempdir().unwrap();
    let rrd = dir.path().join("run.rrd");
    let sink = format!("save:{}", rrd.display());
    let out = ok(&striatum(&[
        "sim",
        "run",
        "--scene",
        "sim_scenes/push_cube.toml",
        "--robot",
        "so101",
        "--episodes",
        "2",
        "--json",
        "--rerun",
        &sink,
    ]));
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let steps: usize = json["seeds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["steps"].as_u64().unwrap() as usize)
        .sum();
    let rows = rows_per_entity(&rrd);
    assert_eq!(rows.get("/state/gripper"), Some(&(steps + 2)), "{rows:?}");
    assert_eq!(rows.get("/task/progress"), Some(&(steps + 2)));
    assert_eq!(rows.get("/action/dz"), Some(&steps));
    let success = table(&rrd, "/task/success");
    assert_eq!(success.len(), 2);
    for (row, seed) in success.iter().zip(json["seeds"].as_array().unwrap()) {
        let expected = if seed["success"].as_bool().unwrap() {
            1.0
        } else {
            0.0
        };
        assert_eq!(number(&row["Scalars:scalars"]), expected);
    }
}

#[test]
fn bad_viewer_inputs_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing");
    let out = striatum(&["view", missing.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));

    let not_rrd = dir.path().join("notes.txt");
    std::fs::write(&not_rrd, "x").unwrap();
    let out = striatum(&["view", not_rrd.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected an .rrd file"));

    let out = striatum(&[
        "data",
        "export-rrd",
        dir.path().to_str().unwrap(),
        "--out",
        dir.path().join("x.rrd").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dataset.json"), "{err}");

    let out = striatum(&[
        "sim",
        "run",
        "--scene",
        "sim_scenes/reach.toml",
        "--robot",
        "so101",
        "--rerun",
        "file.rrd",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("save:FILE"));

    let out = striatum(&["view", "x", "--episodes", "3-1"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("runs backwards"));
}
