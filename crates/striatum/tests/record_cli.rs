//! `striatum sim record` writes a dataset that reads back equal to what the environment and the
//! renderer produce, that Python reads with numpy and Pillow, and that `data info` summarises.
//! Needs a Vulkan adapter (lavapipe on CPU machines); skips, saying so, without one.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on broken fixtures

use std::path::{Path, PathBuf};
use std::process::Command;

use striatum_render::{CameraView, Intrinsics, Lighting, RenderError, Renderer};
use striatum_sim::{Env, ScriptedExpert, Variant, load_rig};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn renderer() -> Option<Renderer> {
    match Renderer::new() {
        Ok(r) => Some(r),
        Err(e @ RenderError::NoAdapter) => {
            eprintln!("skipped: no Vulkan adapter on this machine ({e})");
            None
        }
        Err(e) => panic!("renderer: {e}"),
    }
}

fn striatum(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_striatum"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

#[test]
fn a_recorded_dataset_equals_what_the_environment_produced() {
    let Some(mut renderer) = renderer() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pp");
    let run = striatum(&[
        "sim",
        "record",
        "--scene",
        "sim_scenes/pick_place.toml",
        "--robot",
        "panda",
        "--episodes",
        "1",
        "--variants",
        "expert,fail",
        "--seed",
        "3",
        "--size",
        "64",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    let ds = striatum_data::Dataset::open(&out).unwrap();
    assert_eq!(ds.episodes().len(), 2);
    let expert = striatum_data::load_episode(&ds.episodes()[0], true).unwrap();
    assert_eq!(expert.meta.variant, "expert");
    assert!(expert.meta.success);
    let fail = striatum_data::read_meta(&ds.episodes()[1]).unwrap();
    assert_eq!(fail.variant, "fail");
    assert!(!fail.success);

    // Replay the same seed and expert: every number equals the file's, and re-rendered frames
    // equal the stored images (RGB exactly, depth to its 0.1 mm unit).
    let mut env = Env::load(
        root().join("sim_scenes/pick_place.toml"),
        root().join("robots/panda"),
    )
    .unwrap();
    let mut cameras = load_rig(root().join("calibration/sim_default")).unwrap();
    for c in &mut cameras {
        let s = 64.0 / f64::from(c.width);
        c.fx *= s;
        c.fy *= s;
        c.cx *= s;
        c.cy *= s;
        c.width = 64;
        c.height = 64;
    }
    let mut policy = ScriptedExpert::new(env.scene(), env.robot(), Variant::Expert, 3);
    let mut obs = env.reset(3).unwrap();
    let mut info = None;
    for (t, stored) in expert.observations.iter().enumerate() {
        assert_eq!(stored.joint_positions, obs.joint_positions, "step {t}");
        assert_eq!(stored.gripper, obs.gripper, "step {t}");
        assert_eq!(&stored.ee_pose[..3], &obs.ee_position[..], "step {t}");
        let poses = env.camera_poses(&cameras).unwrap();
        let views: Vec<CameraView> = cameras
            .iter()
            .zip(&poses)
            .map(|(c, p)| CameraView {
                name: c.name.clone(),
                intrinsics: Intrinsics {
                    fx: c.fx,
                    fy: c.fy,
                    cx: c.cx,
                    cy: c.cy,
                    width: c.width,
                    height: c.height,
                },
                world_from_camera: *p,
            })
            .collect();
        let shapes = env.visual_shapes();
        let drawables: Vec<striatum_render::Drawable> = shapes
            .iter()
            .map(|s| striatum_render::Drawable {
                primitive: match s.geometry {
                    striatum_sim::VisualGeometry::Box { half_extents: h } => {
                        striatum_render::Primitive::Box {
                            half_extents: [h[0] as f32, h[1] as f32, h[2] as f32],
                        }
                    }
                    striatum_sim::VisualGeometry::Cylinder {
                        radius,
                        half_height,
                    } => striatum_render::Primitive::Cylinder {
                        radius: radius as f32,
                        half_height: half_height as f32,
                    },
                    striatum_sim::VisualGeometry::Sphere { radius } => {
                        striatum_render::Primitive::Sphere {
                            radius: radius as f32,
                        }
                    }
                },
                pose: s.pose,
                color: s.color.map(|v| v as f32),
                checker: None,
            })
            .collect();
        let frames = renderer
            .render(&drawables, &views, &Lighting::default())
            .unwrap();
        for (f, img) in frames.iter().zip(&stored.images) {
            assert_eq!(f.rgb, img.rgb, "step {t} view {}", f.name);
            for (a, b) in img.depth.as_ref().unwrap().iter().zip(&f.depth) {
                assert!(
                    (a.is_infinite() && (b.is_infinite() || *b > 6.5)) || (a - b).abs() <= 6e-5,
                    "step {t} view {}: depth {a} vs {b}",
                    f.name
                );
            }
        }
        if t < expert.actions.len() {
            let action = policy.act(&obs, info.as_ref());
            assert_eq!(
                action.ee_to_vec().unwrap(),
                expert.actions[t].to_vec(),
                "action {t}"
            );
            let step = env.step(&action).unwrap();
            assert_eq!(expert.observations[t + 1].progress, step.info.progress);
            assert_eq!(expert.rewards[t], step.reward);
            obs = step.obs;
            info = Some(step.info);
        }
    }

    // `data info` summarises it.
    let info_out = striatum(&["data", "info", out.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&info_out.stdout);
    assert!(text.contains("2 episodes"), "{text}");
    assert!(
        text.contains("pick_place/panda/expert") && text.contains("pick_place/panda/fail"),
        "{text}"
    );
    assert!(text.contains("kB per step"), "{text}");

    // Python reads the same numbers with numpy and Pillow.
    let python = root().join(".venv/bin/python");
    let py = Command::new(&python)
        .arg(root().join("tests/python/read_dataset.py"))
        .arg(&out)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", python.display()));
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
    let digest: serde_json::Value = serde_json::from_slice(&py.stdout).unwrap();
    let first = &digest[0];
    assert_eq!(first["instruction"], expert.meta.instruction.as_str());
    assert_eq!(first["steps"], expert.actions.len());
    // (serde_json parses decimals to within an ulp, so compare numbers, not text.)
    let progress: Vec<f64> = expert.observations.iter().map(|o| o.progress).collect();
    let py_progress: Vec<f64> = first["progress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(py_progress.len(), progress.len());
    for (a, b) in py_progress.iter().zip(&progress) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
    let sum: f64 = expert.actions.iter().flatten().sum();
    assert!((first["actions_sum"].as_f64().unwrap() - sum).abs() < 1e-9);
    let front = expert
        .meta
        .cameras
        .iter()
        .position(|c| c.name == "front")
        .unwrap();
    let sums: Vec<u64> = expert
        .observations
        .iter()
        .map(|o| o.images[front].rgb.iter().map(|v| u64::from(*v)).sum())
        .collect();
    assert_eq!(first["rgb_sums"]["front"], serde_json::json!(sums));
    assert_eq!(digest[1]["variant"], "fail");
}

#[test]
fn an_interrupted_recording_leaves_only_complete_episodes() {
    if renderer().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("d");
    // Record one episode, then kill a second recording midway.
    let ok = striatum(&[
        "sim",
        "record",
        "--scene",
        "sim_scenes/reach.toml",
        "--robot",
        "so101",
        "--episodes",
        "1",
        "--size",
        "32",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_striatum"))
        .args([
            "sim",
            "record",
            "--scene",
            "sim_scenes/pick_place.toml",
            "--robot",
            "panda",
            "--episodes",
            "50",
            "--size",
            "32",
            "--out",
            out.to_str().unwrap(),
        ])
        .current_dir(root())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until it is writing an episode, then kill it.
    let episodes = out.join("episodes");
    let start = std::time::Instant::now();
    loop {
        let writing = std::fs::read_dir(&episodes).unwrap().any(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".tmp-")
        });
        if writing || start.elapsed().as_secs() > 60 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let ds = striatum_data::Dataset::open(&out).unwrap();
    for ep in ds.episodes() {
        striatum_data::load_episode(ep, true).unwrap();
    }
    assert!(!ds.episodes().is_empty());
    let info = striatum(&["data", "info", out.to_str().unwrap()]);
    assert!(info.status.success());
}
