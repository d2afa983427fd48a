//! `striatum reward train | eval | adapt | bench` end to end on a small recorded dataset:
//! the commands run, write what they say (checkpoint, manifest, JSON results) and name bad
//! input. How well the shipped model scores is measured in docs/benchmarks.md, not here.
//! Needs a Vulkan adapter to record (lavapipe on CPU machines); skips, saying so, without one.
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

fn ok(args: &[&str]) -> String {
    let out = striatum(args);
    assert!(out.status.success(), "striatum {} failed", args.join(" "));
    String::from_utf8_lossy(&out.stdout).into_owned()
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

#[test]
fn train_eval_adapt_and_bench_from_the_command_line() {
    if let Err(e @ RenderError::NoAdapter) = Renderer::new() {
        eprintln!("skipped: no Vulkan adapter on this machine ({e})");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = |s: &str| dir.path().join(s).display().to_string();
    // Ten seeds per variant give train (0-6), validation (7) and test (8, 9) episodes.
    for (scene, out) in [("push_cube", "push"), ("reach", "reach")] {
        ok(&[
            "sim",
            "record",
            "--scene",
            &format!("sim_scenes/{scene}.toml"),
            "--robot",
            "so101",
            "--episodes",
            "10",
            "--variants",
            "expert,fail",
            "--hold",
            "4",
            "--max-steps",
            "25",
            "--no-depth",
            "--size",
            "64",
            "--out",
            &p(out),
        ]);
    }
    // --hold records 4 more observations after the first success; --max-steps caps failures.
    let ds = striatum_data::Dataset::open(p("push")).unwrap();
    for (dir, meta) in ds.episodes().iter().zip(ds.metas().unwrap()) {
        let ep = striatum_data::load_episode(dir, false).unwrap();
        let first = ep.observations.iter().position(|o| o.progress >= 1.0);
        if meta.success {
            let first = first.expect("a successful episode has a done observation");
            assert_eq!(ep.observations.len(), first + 1 + 4, "{}", dir.display());
        } else {
            assert_eq!(ep.actions.len(), 25, "{}", dir.display());
        }
    }
    let data = format!("{},{}", p("push"), p("reach"));
    let train = ok(&[
        "reward",
        "train",
        "--data",
        &data,
        "--out",
        &p("models/base"),
        "--steps",
        "30",
        "--batch",
        "8",
        "--eval-every",
        "15",
        "--exclude-tasks",
        "reach",
        "--device",
        "cpu",
    ]);
    assert!(train.contains("step 30: val VOC"), "{train}");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p("models/base/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["tasks"], serde_json::json!(["push_cube"]));
    assert_eq!(
        manifest["model"]["views"],
        serde_json::json!(["front", "side", "wrist"])
    );
    assert_eq!(manifest["training"]["steps"], 30);
    assert!(Path::new(&p("models/base/model.safetensors")).is_file());

    // Resuming to 40 steps continues from 30.
    let more = ok(&[
        "reward",
        "train",
        "--data",
        &data,
        "--out",
        &p("models/base"),
        "--steps",
        "40",
        "--batch",
        "8",
        "--eval-every",
        "20",
        "--exclude-tasks",
        "reach",
        "--device",
        "cpu",
    ]);
    assert!(more.contains("training from step 30 of 40"), "{more}");

    let table = ok(&[
        "reward",
        "eval",
        "--model",
        &p("models/base"),
        "--data",
        &p("push"),
        "--baselines",
        "--json",
        &p("eval.json"),
        "--traces",
        &p("traces.csv"),
        "--device",
        "cpu",
    ]);
    for needle in ["base", "blind-time", "front", "wrist", "push_cube"] {
        assert!(table.contains(needle), "{needle} missing from\n{table}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p("eval.json")).unwrap()).unwrap();
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 5, "fused, three single views, blind");
    let fused = &rows[0]["tasks"]["push_cube"];
    assert_eq!(fused["episodes"], 4, "seeds 8 and 9, expert and fail");
    assert_eq!(fused["successes"], 2);
    for key in ["voc", "voc_reversed", "ranking_tau", "pearson"] {
        assert!(fused[key].is_number(), "{key}: {fused}");
    }
    assert!(fused["done"]["f1"].is_number());
    // Per-frame traces: a header and one row per observation of the 4 test episodes.
    let traces = std::fs::read_to_string(p("traces.csv")).unwrap();
    let mut lines = traces.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header[0], "task");
    assert!(header.contains(&"done_prob") && header.contains(&"true_progress"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert!(rows.len() > 4 && rows.iter().all(|r| r.len() == header.len()));
    assert_eq!(
        rows.iter()
            .map(|r| (r[1], r[2]))
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        4,
        "four episodes"
    );
    let prob = header.iter().position(|h| *h == "done_prob").unwrap();
    assert!(rows.iter().all(|r| {
        let x: f64 = r[prob].parse().unwrap();
        (0.0..=1.0).contains(&x)
    }));

    // One-shot adaptation to the task kept out of training.
    let demo = std::fs::read_dir(p("reach") + "/episodes")
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|d| {
            std::fs::read_to_string(d.join("episode.json"))
                .unwrap()
                .contains("\"expert\"")
        })
        .unwrap();
    let adapted = ok(&[
        "reward",
        "adapt",
        "--model",
        &p("models/base"),
        "--demo",
        demo.to_str().unwrap(),
        "--out",
        &p("models/reach"),
        "--steps",
        "50",
        "--done-threshold",
        "0.9",
        "--done-k",
        "5",
        "--device",
        "cpu",
    ]);
    assert!(
        adapted.contains("adapted") && adapted.contains("`reach`"),
        "{adapted}"
    );
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p("models/reach/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(m["parent"], "base");
    assert_eq!(m["tasks"], serde_json::json!(["push_cube", "reach"]));
    // The operating point given for the adapted model replaces the base model's.
    assert_eq!(m["done"]["threshold"], 0.9);
    assert_eq!(m["done"]["k"], 5);
    // Calibrating on labelled episodes chooses a point among the offered lengths and writes
    // it (a dry run writes nothing).
    let before = std::fs::read_to_string(p("models/reach/manifest.json")).unwrap();
    let (model, data) = (p("models/reach"), p("reach"));
    let calibrate = [
        "reward",
        "calibrate",
        "--model",
        &model,
        "--data",
        &data,
        "--split",
        "all",
        "--done-k",
        "2,3",
        "--device",
        "cpu",
    ];
    let dry = ok(&[&calibrate[..], &["--dry-run"]].concat());
    assert!(dry.contains("done at p >="), "{dry}");
    assert_eq!(
        std::fs::read_to_string(p("models/reach/manifest.json")).unwrap(),
        before
    );
    ok(&calibrate);
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p("models/reach/manifest.json")).unwrap())
            .unwrap();
    let k = m["done"]["k"].as_u64().unwrap();
    assert!(k == 2 || k == 3, "{}", m["done"]);
    assert!(m["done"]["episodes"].as_u64().unwrap() > 0);
    // Another adaptation takes that operating point over.
    ok(&[
        "reward",
        "adapt",
        "--model",
        &p("models/base"),
        "--demo",
        demo.to_str().unwrap(),
        "--out",
        &p("models/reach2"),
        "--steps",
        "5",
        "--done-from",
        &p("models/reach"),
        "--device",
        "cpu",
    ]);
    let m2: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p("models/reach2/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(m2["done"], m["done"]);
    let e = fails(&[
        "reward",
        "calibrate",
        "--model",
        &p("models/reach"),
        "--data",
        &p("reach"),
        "--done-budget",
        "2",
    ]);
    assert!(e.contains("--done-budget"), "{e}");
    assert!(Path::new(&p("models/reach/goals.safetensors")).is_file());
    ok(&[
        "reward",
        "eval",
        "--model",
        &p("models/reach"),
        "--data",
        &p("reach"),
        "--tasks",
        "reach",
        "--no-per-view",
        "--device",
        "cpu",
    ]);

    let bench = ok(&[
        "reward",
        "bench",
        "--queries",
        "3",
        "--batch",
        "2",
        "--device",
        "cpu",
    ]);
    assert!(
        bench.contains("p50 ms") && bench.lines().count() >= 8,
        "{bench}"
    );

    // Bad input is named.
    let e = fails(&[
        "reward",
        "eval",
        "--model",
        &p("nothing"),
        "--data",
        &p("push"),
    ]);
    assert!(e.contains("nothing") && e.contains("manifest.json"), "{e}");
    let e = fails(&[
        "reward",
        "train",
        "--data",
        &p("push"),
        "--out",
        &p("m"),
        "--steps",
        "0",
    ]);
    assert!(e.contains("--steps"), "{e}");
    let e = fails(&[
        "reward",
        "adapt",
        "--model",
        &p("models/base"),
        "--demo",
        &p("push"),
        "--out",
        &p("x"),
    ]);
    assert!(e.contains("episode.json"), "{e}");
    let e = fails(&[
        "reward",
        "eval",
        "--model",
        &p("models/base"),
        "--data",
        &p("push"),
        "--device",
        "tpu",
    ]);
    assert!(e.contains("tpu"), "{e}");
}
