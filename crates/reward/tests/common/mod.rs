//! A synthetic task for the reward model's tests: a red square slides right across a grey
//! image seen by two cameras; progress is how far it got. Successful episodes reach the right
//! edge and hold there; failed ones turn back halfway.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use striatum_data::{CameraMeta, EpisodeMeta, EpisodeWriter, Image, Observation};

/// Image side.
pub const SIDE: u32 = 64;

/// An image with the square at horizontal fraction `x` (in [0, 1]); `view` 1 is mirrored.
pub fn frame(x: f64, view: usize) -> Vec<u8> {
    let s = SIDE as usize;
    let mut rgb = vec![90u8; s * s * 3];
    let travel = (s - 12) as f64;
    let mut left = 2 + (x.clamp(0.0, 1.0) * travel) as usize;
    if view == 1 {
        left = s - 10 - left;
    }
    let top = if view == 0 { 24 } else { 40 };
    for y in top..top + 10 {
        for c in left..left + 10 {
            let i = (y * s + c) * 3;
            rgb[i] = 220;
            rgb[i + 1] = 30;
            rgb[i + 2] = 30;
        }
    }
    rgb
}

fn camera(name: &str) -> CameraMeta {
    CameraMeta {
        name: name.into(),
        width: SIDE,
        height: SIDE,
        fx: 50.0,
        fy: 50.0,
        cx: 32.0,
        cy: 32.0,
        distortion: [0.0; 5],
        parent: "table".into(),
        depth: false,
    }
}

/// Positions of one episode: `success` slides to the end in `steps` and holds 3 frames; a
/// failure goes halfway and comes back.
pub fn trajectory(steps: usize, success: bool) -> Vec<f64> {
    let mut xs: Vec<f64> = (0..=steps).map(|t| t as f64 / steps as f64).collect();
    if success {
        xs.extend([1.0; 3]);
    } else {
        let half = steps / 2;
        xs.truncate(half + 1);
        let top = xs[half];
        xs.extend((1..=half).map(|k| top * (1.0 - k as f64 / half as f64)));
    }
    xs
}

/// Records `n` episodes per variant (`expert` succeeds, `fail` does not) with seeds `0..n`.
pub fn record(dir: &Path, task: &str, n: u64) {
    striatum_data::create(dir).unwrap();
    for variant in ["expert", "fail"] {
        for seed in 0..n {
            let success = variant == "expert";
            let steps = 14 + (seed as usize % 5);
            let xs = trajectory(steps, success);
            let meta = EpisodeMeta {
                scene: task.into(),
                robot: "none".into(),
                seed,
                variant: variant.into(),
                instruction: format!("slide the red square to the right ({task})"),
                success,
                control_hz: 10.0,
                stage_names: vec!["slide".into()],
                joint_names: vec![],
                object_names: vec![],
                fixture_names: vec![],
                cameras: vec![camera("front"), camera("side")],
                shapes: vec![],
            };
            let mut w = EpisodeWriter::begin(dir, meta).unwrap();
            for (t, &x) in xs.iter().enumerate() {
                w.observe(Observation {
                    joint_positions: vec![],
                    joint_velocities: vec![],
                    ee_pose: [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0],
                    gripper: 0.0,
                    progress: if x >= 1.0 { 1.0 } else { x * 0.999 },
                    stage: i32::from(x >= 1.0),
                    objects: vec![],
                    fixtures: vec![],
                    camera_poses: vec![[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]; 2],
                    images: (0..2)
                        .map(|v| Image {
                            width: SIDE,
                            height: SIDE,
                            rgb: frame(x, v),
                            depth: None,
                        })
                        .collect(),
                })
                .unwrap();
                if t + 1 < xs.len() {
                    w.act([0.0; 7], 0.0).unwrap();
                }
            }
            w.set_success(success);
            w.finish().unwrap();
        }
    }
}
