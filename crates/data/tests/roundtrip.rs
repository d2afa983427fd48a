//! Episodes round-trip exactly (depth to its 0.1 mm storage unit), interrupted episodes leave
//! nothing behind, and broken files are reported with their path.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on broken fixtures

use striatum_data::{
    Attachment, CameraMeta, DataError, Dataset, EpisodeMeta, EpisodeWriter, Image, Observation,
    ShapeGeometry, ShapeMeta, create, load_episode, summarize,
};

fn meta(depth: bool) -> EpisodeMeta {
    EpisodeMeta {
        scene: "push_cube".into(),
        robot: "panda".into(),
        seed: 7,
        variant: "expert".into(),
        instruction: "push the red cube onto the green target".into(),
        success: false,
        control_hz: 20.0,
        stage_names: vec!["approach".into(), "push".into()],
        joint_names: (1..=3).map(|i| format!("j{i}")).collect(),
        object_names: vec!["cube".into()],
        fixture_names: vec![],
        cameras: vec![
            CameraMeta {
                name: "front".into(),
                width: 8,
                height: 6,
                fx: 10.0,
                fy: 10.0,
                cx: 4.0,
                cy: 3.0,
                distortion: [0.0; 5],
                parent: "table".into(),
                depth,
            },
            CameraMeta {
                name: "wrist".into(),
                width: 4,
                height: 4,
                fx: 5.0,
                fy: 5.0,
                cx: 2.0,
                cy: 2.0,
                distortion: [0.1, 0.0, 0.0, 0.0, 0.0],
                parent: "mount:wrist".into(),
                depth,
            },
        ],
        shapes: vec![
            ShapeMeta {
                name: "cube".into(),
                geometry: ShapeGeometry::Box {
                    half_extents: [0.02; 3],
                },
                color: [0.8, 0.1, 0.1],
                pose: [0.3, 0.0, 0.02, 0.0, 0.0, 0.0, 1.0],
                attached: Attachment::Object { index: 0 },
            },
            ShapeMeta {
                name: "table".into(),
                geometry: ShapeGeometry::Box {
                    half_extents: [0.4, 0.3, 0.01],
                },
                color: [0.5, 0.5, 0.5],
                pose: [0.2, 0.0, -0.01, 0.0, 0.0, 0.0, 1.0],
                attached: Attachment::Static,
            },
        ],
    }
}

fn observation(t: usize, m: &EpisodeMeta) -> Observation {
    let f = t as f64;
    Observation {
        joint_positions: vec![f * 0.1, -f, 0.5],
        joint_velocities: vec![0.01 * f, 0.0, -0.2],
        ee_pose: [0.3 + f * 0.01, 0.0, 0.2, 0.0, 0.0, 0.0, 1.0],
        gripper: 0.25 * f,
        progress: f / 10.0,
        stage: (t / 2) as i32,
        objects: vec![[0.5, 0.01 * f, 0.02, 0.0, 0.0, 0.1, 0.995]],
        fixtures: vec![],
        camera_poses: vec![
            [1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 1.0],
            [f, 0.0, 0.1, 0.5, 0.5, 0.5, 0.5],
        ],
        images: m
            .cameras
            .iter()
            .map(|c| {
                let n = (c.width * c.height) as usize;
                Image {
                    width: c.width,
                    height: c.height,
                    rgb: (0..n * 3).map(|i| ((i * 7 + t * 13) % 256) as u8).collect(),
                    depth: c.depth.then(|| {
                        (0..n)
                            .map(|i| {
                                if i % 5 == 0 {
                                    f32::INFINITY
                                } else {
                                    0.3 + i as f32 * 0.01234
                                }
                            })
                            .collect()
                    }),
                }
            })
            .collect(),
    }
}

fn write_episode(dir: &std::path::Path, steps: usize, depth: bool) -> std::path::PathBuf {
    let m = meta(depth);
    let mut w = EpisodeWriter::begin(dir, m.clone()).unwrap();
    for t in 0..=steps {
        w.observe(observation(t, &m)).unwrap();
        if t < steps {
            w.act(
                [0.01, 0.0, -0.01, 0.0, 0.0, 0.1 * t as f64, 1.0],
                if t + 1 == steps { 1.0 } else { 0.0 },
            )
            .unwrap();
        }
    }
    w.set_success(true);
    w.finish().unwrap()
}

#[test]
fn an_episode_reads_back_as_written() {
    let dir = tempfile::tempdir().unwrap();
    create(dir.path()).unwrap();
    let path = write_episode(dir.path(), 5, true);
    assert!(path.ends_with("episodes/000000"));
    let ep = load_episode(&path, true).unwrap();
    let m = meta(true);
    assert!(ep.meta.success);
    assert_eq!(ep.meta.instruction, m.instruction);
    assert_eq!(ep.observations.len(), 6);
    assert_eq!(ep.actions.len(), 5);
    assert_eq!(ep.rewards, vec![0.0, 0.0, 0.0, 0.0, 1.0]);
    for (t, got) in ep.observations.iter().enumerate() {
        let want = observation(t, &m);
        assert_eq!(got.joint_positions, want.joint_positions);
        assert_eq!(got.joint_velocities, want.joint_velocities);
        assert_eq!(got.ee_pose, want.ee_pose);
        assert_eq!(got.gripper, want.gripper);
        assert_eq!(got.progress, want.progress);
        assert_eq!(got.stage, want.stage);
        assert_eq!(got.objects, want.objects);
        assert_eq!(got.camera_poses, want.camera_poses);
        for (g, w) in got.images.iter().zip(&want.images) {
            assert_eq!(g.rgb, w.rgb, "rgb is lossless");
            for (a, b) in g
                .depth
                .as_ref()
                .unwrap()
                .iter()
                .zip(w.depth.as_ref().unwrap())
            {
                if b.is_finite() {
                    assert!((a - b).abs() <= 0.5e-4 + 1e-6, "depth {a} vs {b}");
                } else {
                    assert!(a.is_infinite());
                }
            }
        }
    }
    // A second episode takes the next index; the summary counts both.
    write_episode(dir.path(), 3, false);
    let ds = Dataset::open(dir.path()).unwrap();
    assert_eq!(ds.episodes().len(), 2);
    let s = summarize(&ds).unwrap();
    assert_eq!(s.episodes, 2);
    assert_eq!(s.steps, 8);
    assert_eq!(s.groups["push_cube/panda/expert"].successes, 2);
    assert!(s.bytes > 0);
}

#[test]
fn an_unfinished_episode_leaves_no_trace() {
    let dir = tempfile::tempdir().unwrap();
    create(dir.path()).unwrap();
    write_episode(dir.path(), 2, false);
    let m = meta(false);
    {
        let mut w = EpisodeWriter::begin(dir.path(), m.clone()).unwrap();
        w.observe(observation(0, &m)).unwrap();
        // Dropped without finish, as when recording stops with an error.
    }
    // A writer killed mid-episode leaves a hidden folder: readers skip it...
    let stale = dir.path().join("episodes/.tmp-1-2");
    std::fs::create_dir_all(stale.join("cameras")).unwrap();
    assert_eq!(Dataset::open(dir.path()).unwrap().episodes().len(), 1);
    // ...and the next recording removes it.
    create(dir.path()).unwrap();
    assert!(!stale.exists());
    let names: Vec<_> = std::fs::read_dir(dir.path().join("episodes"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec!["000000"]);
}

#[test]
fn mismatched_steps_and_broken_files_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    create(dir.path()).unwrap();
    let m = meta(true);
    let mut w = EpisodeWriter::begin(dir.path(), m.clone()).unwrap();
    let mut bad = observation(0, &m);
    bad.images[0].rgb.pop();
    let err = w.observe(bad).unwrap_err().to_string();
    assert!(err.contains("front") && err.contains("8x6"), "{err}");
    assert!(
        w.act([0.0; 7], 0.0).is_err(),
        "an action needs an observation first"
    );
    drop(w);

    let path = write_episode(dir.path(), 2, true);
    let npy = path.join("progress.npy");
    let bytes = std::fs::read(&npy).unwrap();
    std::fs::write(&npy, &bytes[..bytes.len() - 3]).unwrap();
    let err = load_episode(&path, false).unwrap_err();
    assert!(matches!(err, DataError::Format { .. }));
    assert!(err.to_string().contains("progress.npy"), "{err}");

    std::fs::write(dir.path().join("dataset.json"), "{\"format\": \"other\"}").unwrap();
    let err = Dataset::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("dataset.json"), "{err}");
}
