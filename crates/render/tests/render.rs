//! Renders small scenes and checks them against the pinhole model: projection, depth,
//! occlusion, silhouettes, shading, determinism and input validation.
//!
//! Every test needs a Vulkan adapter (lavapipe is enough); without one it says so and passes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use nalgebra::{Isometry3, Matrix3, Point3, Rotation3, Translation3, UnitQuaternion, Vector3};
use striatum_render::{
    CameraView, Drawable, Frame, Intrinsics, Lighting, Primitive, RenderError, Renderer,
};

/// The renderer, or `None` (after saying why the test is skipped) without a Vulkan adapter.
fn renderer(test: &str) -> Option<Renderer> {
    match Renderer::new() {
        Ok(r) => {
            println!("{test}: rendering on {}", r.adapter_info());
            Some(r)
        }
        Err(RenderError::NoAdapter) => {
            println!("{test}: skipped, there is no Vulkan adapter on this machine");
            None
        }
        Err(e) => panic!("{test}: cannot create the renderer: {e}"),
    }
}

/// World from an optical frame at `eye` looking at `target` (z forward, x right, y down with
/// world z up), then rolled by `roll` radians about the optical axis.
fn look_at(eye: [f64; 3], target: [f64; 3], roll: f64) -> Isometry3<f64> {
    let eye = Vector3::from(eye);
    let z = (Vector3::from(target) - eye).normalize();
    let x = z.cross(&Vector3::z()).normalize();
    let y = z.cross(&x);
    let r = Rotation3::from_matrix_unchecked(Matrix3::from_columns(&[x, y, z]))
        * Rotation3::from_axis_angle(&Vector3::z_axis(), roll);
    Isometry3::from_parts(
        Translation3::from(eye),
        UnitQuaternion::from_rotation_matrix(&r),
    )
}

fn camera(name: &str, k: [f64; 4], size: [u32; 2], pose: Isometry3<f64>) -> CameraView {
    CameraView {
        name: name.into(),
        intrinsics: Intrinsics {
            fx: k[0],
            fy: k[1],
            cx: k[2],
            cy: k[3],
            width: size[0],
            height: size[1],
        },
        world_from_camera: pose,
    }
}

fn sphere(centre: [f64; 3], radius: f32, color: [f32; 3]) -> Drawable {
    Drawable {
        primitive: Primitive::Sphere { radius },
        pose: Isometry3::translation(centre[0], centre[1], centre[2]),
        color,
        checker: None,
    }
}

/// Camera-frame z where the ray through pixel centre (u, v) first meets the sphere, if it does.
fn ray_sphere_z(c: &CameraView, u: f64, v: f64, centre: &Point3<f64>, r: f64) -> Option<f64> {
    let k = &c.intrinsics;
    let d = Vector3::new((u - k.cx) / k.fx, (v - k.cy) / k.fy, 1.0);
    let o = c.world_from_camera.inverse_transform_point(centre).coords;
    let (a, b, cc) = (d.dot(&d), d.dot(&o), o.dot(&o) - r * r);
    let disc = b * b - a * cc;
    (disc >= 0.0).then(|| (b - disc.sqrt()) / a)
}

/// Whether a pixel's colour has the hue of `target` (shading only scales it).
fn same_hue(px: [u8; 3], target: [f32; 3]) -> bool {
    let p = px.map(f64::from);
    let t = target.map(f64::from);
    let (pn, tn) = (p.iter().sum::<f64>(), t.iter().sum::<f64>());
    pn > 10.0 && (0..3).all(|k| (p[k] / pn - t[k] / tn).abs() < 0.05)
}

fn pixels(f: &Frame) -> impl Iterator<Item = (u32, u32)> + '_ {
    (0..f.height).flat_map(move |j| (0..f.width).map(move |i| (i, j)))
}

#[test]
fn small_spheres_project_to_the_pinhole_model() {
    let Some(mut r) = renderer("projection") else {
        return;
    };
    let cameras = [
        camera(
            "front",
            [280.0, 280.0, 64.0, 64.0],
            [128, 128],
            look_at([-0.4, 0.0, 0.25], [0.0, 0.0, 0.05], 0.0),
        ),
        camera(
            "side",
            [330.0, 310.0, 108.3, 119.7],
            [224, 224],
            look_at([0.05, -0.3, 0.25], [0.0, 0.0, 0.03], 0.0),
        ),
        camera(
            "tilted",
            [250.0, 265.0, 61.2, 67.9],
            [128, 128],
            look_at([0.2, 0.2, 0.3], [0.0, 0.0, 0.02], 0.4),
        ),
    ];
    let radius = 0.005;
    let color = [0.1, 0.9, 0.2];
    let points = [
        [0.0, 0.0, 0.05],
        [0.03, 0.02, 0.02],
        [-0.03, -0.04, 0.07],
        [0.02, -0.04, 0.0],
        [-0.04, 0.03, 0.03],
        [0.011, 0.007, 0.013],
    ];
    let mut checked = 0;
    for p in points {
        let frames = r
            .render(&[sphere(p, radius, color)], &cameras, &Lighting::default())
            .unwrap();
        assert_eq!(frames.len(), cameras.len());
        let centre = Point3::from(p);
        for (c, f) in cameras.iter().zip(&frames) {
            assert_eq!(f.name, c.name);
            assert_eq!(
                (f.width, f.height),
                (c.intrinsics.width, c.intrinsics.height)
            );
            assert_eq!(f.rgb.len(), 3 * f.depth.len());
            let [pu, pv] = c.project(&centre).unwrap();
            let margin = 10.0;
            if pu < margin
                || pv < margin
                || pu > f64::from(f.width) - margin
                || pv > f64::from(f.height) - margin
            {
                continue;
            }
            let (mut n, mut su, mut sv) = (0.0, 0.0, 0.0);
            for (i, j) in pixels(f) {
                if f.depth_at(i, j).is_finite() {
                    assert!(
                        same_hue(f.rgb_at(i, j), color),
                        "{}: pixel ({i}, {j}) has depth but colour {:?}",
                        c.name,
                        f.rgb_at(i, j)
                    );
                    n += 1.0;
                    su += f64::from(i) + 0.5;
                    sv += f64::from(j) + 0.5;
                }
            }
            assert!(
                n >= 9.0,
                "{}: the sphere at {p:?} covers {n} pixels",
                c.name
            );
            let (u, v) = (su / n, sv / n);
            let err = ((u - pu).powi(2) + (v - pv).powi(2)).sqrt();
            println!(
                "{} sphere at {p:?}: {n} px, centroid ({u:.3}, {v:.3}), projection ({pu:.3}, {pv:.3}), error {err:.3} px",
                c.name
            );
            assert!(err < 0.5, "{}: centroid is {err:.3} px off", c.name);

            let (i, j) = (u.floor() as u32, v.floor() as u32);
            let expected = ray_sphere_z(
                c,
                f64::from(i) + 0.5,
                f64::from(j) + 0.5,
                &centre,
                f64::from(radius),
            )
            .expect("the centroid pixel's ray hits the sphere");
            let got = f64::from(f.depth_at(i, j));
            assert!(
                (got - expected).abs() < 1e-3,
                "{}: depth {got} at ({i}, {j}), ray-sphere z {expected}",
                c.name
            );
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} sphere views were in frame");
}

#[test]
fn a_box_hides_the_sphere_behind_it() {
    let Some(mut r) = renderer("occlusion") else {
        return;
    };
    let cam = camera(
        "front",
        [150.0, 150.0, 64.0, 64.0],
        [128, 128],
        look_at([-0.5, 0.0, 0.1], [0.0, 0.0, 0.1], 0.0),
    );
    let red = [0.9, 0.1, 0.1];
    let ball = sphere([0.15, 0.01, 0.11], 0.03, red);
    let block = Drawable {
        primitive: Primitive::Box {
            half_extents: [0.05, 0.08, 0.08],
        },
        pose: Isometry3::translation(0.0, 0.0, 0.1),
        color: [0.1, 0.2, 0.9],
        checker: None,
    };
    let lighting = Lighting::default();
    let centre = Point3::new(0.15, 0.01, 0.11);
    let [pu, pv] = cam.project(&centre).unwrap();

    // Control: alone, the sphere is seen.
    let alone = r
        .render(
            std::slice::from_ref(&ball),
            std::slice::from_ref(&cam),
            &lighting,
        )
        .unwrap();
    let seen = pixels(&alone[0])
        .filter(|&(i, j)| same_hue(alone[0].rgb_at(i, j), red))
        .count();
    assert!(seen > 50, "the sphere alone covers only {seen} pixels");

    // Both orders of the scene: the depth test, not draw order, decides.
    for scene in [
        vec![ball.clone(), block.clone()],
        vec![block.clone(), ball.clone()],
    ] {
        let f = &r
            .render(&scene, std::slice::from_ref(&cam), &lighting)
            .unwrap()[0];
        let red_pixels = pixels(f)
            .filter(|&(i, j)| same_hue(f.rgb_at(i, j), red))
            .count();
        assert_eq!(red_pixels, 0, "the sphere shows through the box");
        // The box's front face is at x = -0.05, 0.45 m in front of the camera.
        let (i0, j0) = (pu.floor() as i64, pv.floor() as i64);
        for dj in -5..=5 {
            for di in -5..=5 {
                let (i, j) = ((i0 + di) as u32, (j0 + dj) as u32);
                let z = f.depth_at(i, j);
                assert!(
                    (z - 0.45).abs() < 1e-3,
                    "depth {z} at ({i}, {j}), box face at 0.45"
                );
            }
        }
    }
}

#[test]
fn silhouettes_match_the_pinhole_model() {
    let Some(mut r) = renderer("silhouettes") else {
        return;
    };
    // A box face seen head-on: its projection is an exact rectangle, its depth constant.
    let cam = camera(
        "head-on",
        [140.0, 150.0, 63.3, 65.8],
        [128, 128],
        look_at([-0.6, 0.0, 0.2], [0.0, 0.0, 0.2], 0.0),
    );
    let block = Drawable {
        primitive: Primitive::Box {
            half_extents: [0.05, 0.113, 0.087],
        },
        pose: Isometry3::translation(0.0, 0.02, 0.21),
        color: [0.5, 0.5, 0.5],
        checker: None,
    };
    let f = &r
        .render(&[block], std::slice::from_ref(&cam), &Lighting::default())
        .unwrap()[0];
    let corners = [
        cam.project(&Point3::new(-0.05, 0.02 + 0.113, 0.21 + 0.087))
            .unwrap(),
        cam.project(&Point3::new(-0.05, 0.02 - 0.113, 0.21 - 0.087))
            .unwrap(),
    ];
    let (u0, u1) = (
        corners[0][0].min(corners[1][0]),
        corners[0][0].max(corners[1][0]),
    );
    let (v0, v1) = (
        corners[0][1].min(corners[1][1]),
        corners[0][1].max(corners[1][1]),
    );
    let tol = 0.02;
    let mut inside = 0;
    for (i, j) in pixels(f) {
        let (u, v) = (f64::from(i) + 0.5, f64::from(j) + 0.5);
        let z = f.depth_at(i, j);
        if u > u0 + tol && u < u1 - tol && v > v0 + tol && v < v1 - tol {
            assert!((z - 0.55).abs() < 1e-4, "depth {z} at ({i}, {j})");
            inside += 1;
        } else if u < u0 - tol || u > u1 + tol || v < v0 - tol || v > v1 + tol {
            assert!(
                z.is_infinite(),
                "({i}, {j}) is outside the face but has depth {z}"
            );
        }
    }
    assert!(inside > 1000);

    // A cylinder seen along its axis: an exact disc (cylinders are ray-cast, not tessellated).
    let top = camera(
        "top",
        [160.0, 160.0, 64.0, 64.0],
        [128, 128],
        Isometry3::from_parts(
            Translation3::new(0.0, 0.0, 0.5),
            UnitQuaternion::from_axis_angle(&Vector3::x_axis(), std::f64::consts::PI),
        ),
    );
    let can = Drawable {
        primitive: Primitive::Cylinder {
            radius: 0.1,
            half_height: 0.05,
        },
        pose: Isometry3::translation(0.01, -0.02, 0.05),
        color: [0.5, 0.5, 0.5],
        checker: None,
    };
    let f = &r
        .render(&[can], std::slice::from_ref(&top), &Lighting::default())
        .unwrap()[0];
    let [cu, cv] = top.project(&Point3::new(0.01, -0.02, 0.1)).unwrap();
    let radius_px = 160.0 * 0.1 / 0.4;
    for (i, j) in pixels(f) {
        let d = ((f64::from(i) + 0.5 - cu).powi(2) + (f64::from(j) + 0.5 - cv).powi(2)).sqrt();
        let z = f.depth_at(i, j);
        if d < radius_px - 0.01 {
            assert!((z - 0.4).abs() < 1e-4, "depth {z} at ({i}, {j}) on the cap");
        } else if d > radius_px + 0.01 {
            assert!(
                z.is_infinite(),
                "({i}, {j}) is off the cap but has depth {z}"
            );
        }
    }
}

/// Camera-frame z where the ray through pixel centre (u, v) first meets the side of a
/// vertical cylinder (axis along world z through `axis`), if it does.
fn ray_cylinder_side_z(c: &CameraView, u: f64, v: f64, axis: [f64; 2], r: f64) -> Option<f64> {
    let k = &c.intrinsics;
    let d_cam = Vector3::new((u - k.cx) / k.fx, (v - k.cy) / k.fy, 1.0);
    let d = c.world_from_camera.rotation * d_cam;
    let o = c.world_from_camera.translation.vector;
    let (ox, oy) = (o.x - axis[0], o.y - axis[1]);
    let a = d.x * d.x + d.y * d.y;
    let b = ox * d.x + oy * d.y;
    let cc = ox * ox + oy * oy - r * r;
    let disc = b * b - a * cc;
    // The ray parameter is camera z because d_cam.z = 1.
    (disc >= 0.0).then(|| (-b - disc.sqrt()) / a)
}

#[test]
fn curved_shapes_are_exact_up_close_and_from_inside_their_bounding_box() {
    let Some(mut r) = renderer("up close") else {
        return;
    };
    // A wide cylinder; the camera stands in a corner of its bounding box (outside the
    // cylinder itself) and looks along the diagonal towards the axis.
    let (radius, half_height) = (0.5, 0.3);
    let can = Drawable {
        primitive: Primitive::Cylinder {
            radius,
            half_height,
        },
        pose: Isometry3::translation(0.0, 0.0, 0.3),
        color: [0.3, 0.6, 0.9],
        checker: None,
    };
    let cam = camera(
        "corner",
        [90.0, 90.0, 64.0, 64.0],
        [128, 128],
        look_at([0.45, 0.45, 0.3], [0.0, 0.0, 0.35], 0.2),
    );
    let f = &r
        .render(
            std::slice::from_ref(&can),
            std::slice::from_ref(&cam),
            &Lighting::default(),
        )
        .unwrap()[0];
    let mut checked = 0;
    let mut worst: f64 = 0.0;
    for (i, j) in pixels(f) {
        let (u, v) = (f64::from(i) + 0.5, f64::from(j) + 0.5);
        let Some(z) = ray_cylinder_side_z(&cam, u, v, [0.0, 0.0], f64::from(radius)) else {
            continue;
        };
        // Only rays that meet the side within the height, clear of the rims.
        let k = &cam.intrinsics;
        let p_cam = Point3::new((u - k.cx) / k.fx * z, (v - k.cy) / k.fy * z, z);
        let p = cam.world_from_camera * p_cam;
        if z <= 0.0 || (p.z - 0.3).abs() > f64::from(half_height) - 0.01 {
            continue;
        }
        let got = f64::from(f.depth_at(i, j));
        worst = worst.max((got - z).abs());
        checked += 1;
    }
    println!("corner: {checked} side pixels, worst depth error {worst:.2e} m");
    assert!(checked > 2000, "only {checked} pixels see the side");
    assert!(worst < 1e-4, "worst depth error {worst} m");
}

/// Camera-frame z where the ray through pixel centre (u, v) first meets a box of half extents
/// `h` at `pose` (slab method, in f64), if it does.
fn ray_box_z(c: &CameraView, u: f64, v: f64, pose: &Isometry3<f64>, h: [f64; 3]) -> Option<f64> {
    let k = &c.intrinsics;
    let d_cam = Vector3::new((u - k.cx) / k.fx, (v - k.cy) / k.fy, 1.0);
    let shape_from_camera = pose.inverse() * c.world_from_camera;
    let o = shape_from_camera.translation.vector;
    let d = shape_from_camera.rotation * d_cam;
    let (mut near, mut far) = (f64::NEG_INFINITY, f64::INFINITY);
    for a in 0..3 {
        if d[a].abs() < 1e-15 {
            if o[a].abs() > h[a] {
                return None;
            }
            continue;
        }
        let (t1, t2) = ((-h[a] - o[a]) / d[a], (h[a] - o[a]) / d[a]);
        near = near.max(t1.min(t2));
        far = far.min(t1.max(t2));
    }
    (near <= far && near > 0.0).then_some(near)
}

#[test]
fn tilted_boxes_match_a_reference_ray_caster() {
    let Some(mut r) = renderer("boxes") else {
        return;
    };
    let cam = camera(
        "oblique",
        [150.0, 140.0, 61.0, 66.5],
        [128, 128],
        look_at([-0.35, -0.25, 0.3], [0.0, 0.0, 0.05], 0.1),
    );
    let h = [0.06, 0.04, 0.03];
    let pose = Isometry3::new(Vector3::new(0.01, 0.02, 0.05), Vector3::new(0.3, -0.5, 0.8));
    let block = Drawable {
        primitive: Primitive::Box {
            half_extents: h.map(|v| v as f32),
        },
        pose,
        color: [0.7, 0.7, 0.2],
        checker: None,
    };
    let f = &r
        .render(&[block], std::slice::from_ref(&cam), &Lighting::default())
        .unwrap()[0];
    let (mut hits, mut disagree, mut worst) = (0, 0, 0.0f64);
    for (i, j) in pixels(f) {
        let expected = ray_box_z(&cam, f64::from(i) + 0.5, f64::from(j) + 0.5, &pose, h);
        let got = f.depth_at(i, j);
        match expected {
            Some(z) if got.is_finite() => {
                worst = worst.max((f64::from(got) - z).abs());
                hits += 1;
            }
            None if got.is_infinite() => {}
            // A ray grazing an edge may fall either way in f32.
            _ => disagree += 1,
        }
    }
    println!("oblique box: {hits} px agree, {disagree} disagree, worst depth error {worst:.2e} m");
    assert!(hits > 500, "the box covers only {hits} pixels");
    assert!(
        disagree <= 2,
        "{disagree} pixels disagree with the reference"
    );
    assert!(worst < 1e-4, "worst depth error {worst} m");
}

#[test]
fn shading_is_linear_lambert_and_checker_alternates() {
    let Some(mut r) = renderer("shading") else {
        return;
    };
    let cam = camera(
        "down",
        [100.0, 100.0, 64.0, 64.0],
        [128, 128],
        Isometry3::from_parts(
            Translation3::new(0.0, 0.0, 1.0),
            UnitQuaternion::from_axis_angle(&Vector3::x_axis(), std::f64::consts::PI),
        ),
    );
    let lighting = Lighting {
        direction: [0.0, 0.0, -2.0],
        color: [0.5, 0.5, 0.5],
        ambient: [0.25, 0.25, 0.25],
    };
    let slab = Drawable {
        primitive: Primitive::Box {
            half_extents: [0.3, 0.3, 0.01],
        },
        pose: Isometry3::translation(0.0, 0.0, 0.0),
        color: [0.8, 0.4, 0.2],
        checker: None,
    };
    let f = &r
        .render(
            std::slice::from_ref(&slab),
            std::slice::from_ref(&cam),
            &lighting,
        )
        .unwrap()[0];
    // 0.75 * (0.8, 0.4, 0.2) * 255 = (153, 76.5, 38.25).
    let px = f.rgb_at(64, 64);
    assert_eq!(px[0], 153);
    assert!(px[1] == 76 || px[1] == 77, "{px:?}");
    assert_eq!(px[2], 38);
    assert!((f.depth_at(64, 64) - 0.99).abs() < 1e-4);

    // Checkerboard of 0.1 m squares: the square at +x+y of the origin has the colour, the
    // next ones are white (0.75 * 255 = 191.25).
    let checkered = Drawable {
        checker: Some(0.1),
        ..slab
    };
    let f = &r
        .render(&[checkered], std::slice::from_ref(&cam), &lighting)
        .unwrap()[0];
    let at = |x: f64, y: f64| {
        let [u, v] = cam.project(&Point3::new(x, y, 0.01)).unwrap();
        f.rgb_at(u as u32, v as u32)
    };
    assert_eq!(at(0.05, 0.05)[2], 38);
    assert_eq!(at(-0.05, -0.05)[2], 38);
    assert_eq!(at(0.15, 0.05), [191, 191, 191]);
    assert_eq!(at(-0.05, 0.05), [191, 191, 191]);
    assert_eq!(at(0.05, -0.05), [191, 191, 191]);
    assert_eq!(at(-0.15, -0.05), [191, 191, 191]);
}

fn tabletop() -> Vec<Drawable> {
    let mut scene = vec![Drawable {
        primitive: Primitive::Box {
            half_extents: [0.4, 0.5, 0.02],
        },
        pose: Isometry3::translation(0.2, 0.0, -0.02),
        color: [0.6, 0.5, 0.4],
        checker: Some(0.05),
    }];
    for k in 0..9 {
        let a = f64::from(k) * 0.7;
        let pose = Isometry3::new(
            Vector3::new(0.15 + 0.1 * a.cos(), 0.12 * a.sin(), 0.03),
            Vector3::new(0.0, 0.0, a),
        );
        let color = [0.2 + 0.08 * k as f32, 0.9 - 0.07 * k as f32, 0.3];
        let primitive = match k % 3 {
            0 => Primitive::Box {
                half_extents: [0.02, 0.03, 0.03],
            },
            1 => Primitive::Cylinder {
                radius: 0.025,
                half_height: 0.03,
            },
            _ => Primitive::Sphere { radius: 0.03 },
        };
        scene.push(Drawable {
            primitive,
            pose,
            color,
            checker: None,
        });
    }
    scene
}

fn three_cameras() -> Vec<CameraView> {
    vec![
        camera(
            "front",
            [110.0, 110.0, 64.0, 64.0],
            [128, 128],
            look_at([-0.3, 0.0, 0.4], [0.2, 0.0, 0.0], 0.0),
        ),
        camera(
            "side",
            [190.0, 185.0, 111.0, 113.5],
            [224, 224],
            look_at([0.2, -0.5, 0.3], [0.15, 0.0, 0.0], 0.0),
        ),
        camera(
            "wrist",
            [100.0, 100.0, 64.0, 64.0],
            [128, 128],
            look_at([0.15, 0.05, 0.35], [0.15, 0.0, 0.0], 0.3),
        ),
    ]
}

#[test]
fn the_same_scene_gives_the_same_bytes() {
    let Some(mut r) = renderer("determinism") else {
        return;
    };
    let scene = tabletop();
    let cameras = three_cameras();
    let lighting = Lighting::default();
    let a = r.render(&scene, &cameras, &lighting).unwrap();
    // Something in between, with other sizes, to disturb any cached state.
    let other = camera(
        "other",
        [50.0, 50.0, 32.0, 24.0],
        [64, 48],
        look_at([0.0, 0.0, 1.0], [0.1, 0.0, 0.0], 0.0),
    );
    r.render(&scene[..3], &[other], &lighting).unwrap();
    let b = r.render(&scene, &cameras, &lighting).unwrap();
    let fresh = renderer("determinism")
        .unwrap()
        .render(&scene, &cameras, &lighting)
        .unwrap();
    for (x, y) in a.iter().zip(&b).chain(a.iter().zip(&fresh)) {
        assert_eq!(x.name, y.name);
        assert!(x.rgb == y.rgb, "{}: colour differs", x.name);
        let (dx, dy): (Vec<u32>, Vec<u32>) = (
            x.depth.iter().map(|d| d.to_bits()).collect(),
            y.depth.iter().map(|d| d.to_bits()).collect(),
        );
        assert!(dx == dy, "{}: depth differs", x.name);
    }
    // And the scene is really there in every view.
    for f in &a {
        let hit = f.depth.iter().filter(|d| d.is_finite()).count();
        assert!(hit > f.depth.len() / 4, "{}: only {hit} pixels hit", f.name);
    }
}

#[test]
fn bad_cameras_are_named_in_the_error() {
    let Some(mut r) = renderer("bad input") else {
        return;
    };
    let scene = tabletop();
    let mut cameras = three_cameras();
    cameras[1].intrinsics.width = 0;
    let e = r
        .render(&scene, &cameras, &Lighting::default())
        .unwrap_err();
    assert!(matches!(e, RenderError::BadCamera { .. }), "{e:?}");
    assert!(e.to_string().contains("\"side\""), "{e}");

    let mut cameras = three_cameras();
    cameras[2].intrinsics.fx = f64::NAN;
    let e = r
        .render(&scene, &cameras, &Lighting::default())
        .unwrap_err();
    assert!(
        e.to_string().contains("\"wrist\"") && e.to_string().contains("fx"),
        "{e}"
    );

    // Bad drawables are reported too, and the renderer still works afterwards.
    let mut bad = scene.clone();
    bad[2].pose.translation.x = f64::INFINITY;
    let e = r
        .render(&bad, &three_cameras(), &Lighting::default())
        .unwrap_err();
    assert!(e.to_string().contains("drawable 2"), "{e}");
    assert_eq!(
        r.render(&scene, &three_cameras(), &Lighting::default())
            .unwrap()
            .len(),
        3
    );
    assert!(
        r.render(&scene, &[], &Lighting::default())
            .unwrap()
            .is_empty()
    );
}
