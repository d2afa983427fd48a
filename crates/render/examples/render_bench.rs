//! Rendering throughput: a tabletop of 30 drawables through 3 cameras, at 128x128 and at
//! 224x224, for a few seconds each; prints the median of 3 runs in views/s and frames
//! (3-view sets) per second.
//!
//! ```text
//! cargo run --release -p striatum-render --example render_bench [-- SECONDS_PER_RUN]
//! ```

use std::time::{Duration, Instant};

use nalgebra::{Isometry3, Matrix3, Rotation3, Translation3, UnitQuaternion, Vector3};
use striatum_render::{CameraView, Drawable, Intrinsics, Lighting, Primitive, Renderer};

/// World from an optical frame at `eye` looking at `target` (z forward, x right, y down).
fn look_at(eye: [f64; 3], target: [f64; 3]) -> Isometry3<f64> {
    let eye = Vector3::from(eye);
    let z = (Vector3::from(target) - eye).normalize();
    let x = z.cross(&Vector3::z()).normalize();
    let y = z.cross(&x);
    let r = Rotation3::from_matrix_unchecked(Matrix3::from_columns(&[x, y, z]));
    Isometry3::from_parts(
        Translation3::from(eye),
        UnitQuaternion::from_rotation_matrix(&r),
    )
}

/// A table, a checkered mat and 28 objects of all three kinds.
fn scene() -> Vec<Drawable> {
    let mut scene = vec![
        Drawable {
            primitive: Primitive::Box {
                half_extents: [0.4, 0.5, 0.02],
            },
            pose: Isometry3::translation(0.25, 0.0, -0.02),
            color: [0.55, 0.45, 0.35],
            checker: None,
        },
        Drawable {
            primitive: Primitive::Box {
                half_extents: [0.12, 0.12, 0.002],
            },
            pose: Isometry3::translation(0.3, 0.1, 0.002),
            color: [0.2, 0.2, 0.2],
            checker: Some(0.03),
        },
    ];
    for k in 0..28 {
        let a = f64::from(k) * 0.9;
        let rho = 0.05 + 0.006 * f64::from(k);
        let pose = Isometry3::new(
            Vector3::new(0.25 + rho * a.cos(), rho * a.sin(), 0.025),
            Vector3::new(0.0, 0.0, a),
        );
        let t = k as f32 / 28.0;
        let primitive = match k % 3 {
            0 => Primitive::Box {
                half_extents: [0.02, 0.025, 0.025],
            },
            1 => Primitive::Cylinder {
                radius: 0.02,
                half_height: 0.025,
            },
            _ => Primitive::Sphere { radius: 0.025 },
        };
        scene.push(Drawable {
            primitive,
            pose,
            color: [t, 1.0 - t, 0.5],
            checker: None,
        });
    }
    scene
}

fn cameras(side: u32) -> Vec<CameraView> {
    let s = f64::from(side);
    let k = |f: f64| Intrinsics {
        fx: f * s,
        fy: f * s,
        cx: s / 2.0,
        cy: s / 2.0,
        width: side,
        height: side,
    };
    vec![
        CameraView {
            name: "front".into(),
            intrinsics: k(0.9),
            world_from_camera: look_at([-0.25, 0.0, 0.45], [0.25, 0.0, 0.0]),
        },
        CameraView {
            name: "side".into(),
            intrinsics: k(1.1),
            world_from_camera: look_at([0.25, -0.6, 0.35], [0.25, 0.0, 0.0]),
        },
        CameraView {
            name: "wrist".into(),
            intrinsics: k(0.7),
            world_from_camera: look_at([0.2, 0.02, 0.3], [0.25, 0.0, 0.0]),
        },
    ]
}

/// Renders for `duration`; returns 3-view frames per second.
fn run(
    renderer: &mut Renderer,
    scene: &[Drawable],
    cameras: &[CameraView],
    duration: Duration,
) -> Result<f64, striatum_render::RenderError> {
    let lighting = Lighting::default();
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < duration {
        let frames = renderer.render(scene, cameras, &lighting)?;
        std::hint::black_box(&frames);
        n += 1;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

fn bench() -> Result<(), striatum_render::RenderError> {
    let seconds: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let mut renderer = Renderer::new()?;
    let scene = scene();
    println!("adapter: {}", renderer.adapter_info());
    println!(
        "scene: {} drawables, 3 cameras, {seconds} s per run, median of 3 runs",
        scene.len()
    );
    for side in [128, 224] {
        let cams = cameras(side);
        // Warm-up: creates and caches the targets for this size.
        run(&mut renderer, &scene, &cams, Duration::from_millis(300))?;
        let mut rates = Vec::new();
        for _ in 0..3 {
            rates.push(run(
                &mut renderer,
                &scene,
                &cams,
                Duration::from_secs_f64(seconds),
            )?);
        }
        rates.sort_by(f64::total_cmp);
        let fps = rates[1];
        println!(
            "{side}x{side}: {:8.1} views/s, {fps:8.1} frames/s (3 views each; runs {:.1} / {:.1} / {:.1} frames/s)",
            3.0 * fps,
            rates[0],
            rates[1],
            rates[2]
        );
    }
    Ok(())
}

fn main() {
    if let Err(e) = bench() {
        eprintln!("render_bench: {e}");
        std::process::exit(1);
    }
}
