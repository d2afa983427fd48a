//! Camera calibration files and rigs: parsing, errors, and where the cameras are in the world.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on broken fixtures

use std::path::{Path, PathBuf};

use nalgebra::Point3;
use striatum_sim::{Action, CameraConfig, Env, load_rig, merge_cameras};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rig() -> Vec<CameraConfig> {
    load_rig(root().join("calibration/sim_default")).unwrap()
}

#[test]
fn the_default_rig_has_front_side_and_wrist_cameras() {
    let cams = rig();
    let names: Vec<&str> = cams.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["front", "side", "wrist"]);
    for c in &cams {
        assert_eq!((c.width, c.height), (128, 128));
        // A file written back parses to the same calibration.
        let again = CameraConfig::parse(&c.to_toml(), Path::new("again.toml")).unwrap();
        assert_eq!(&again, c);
    }
}

#[test]
fn fixed_cameras_look_at_the_workspace_for_every_robot() {
    for robot in ["so101", "panda"] {
        let mut env = Env::load(
            root().join("sim_scenes/push_cube.toml"),
            root().join("robots").join(robot),
        )
        .unwrap();
        env.reset(0).unwrap();
        let cams = rig();
        let poses = env.camera_poses(&cams).unwrap();
        // The point the fixed cameras aim at, (-0.05, 0, 0.03) in the task frame, lands at the
        // image centre whatever the robot's placement.
        let base = env.scene().robots[robot].base;
        let aim = Point3::new(-0.05 - base[0], -base[1], 0.03);
        for (c, pose) in cams.iter().zip(&poses).take(2) {
            let [u, v] = c.project(&(pose.inverse() * aim)).unwrap();
            assert!(
                (u - 64.0).abs() < 1e-3 && (v - 64.0).abs() < 1e-3,
                "{robot} {}: ({u}, {v})",
                c.name
            );
        }
        // The wrist camera sees the space between the fingers: the tool centre point is in
        // front of it and inside its image.
        let tool = Point3::from(nalgebra::Vector3::from(env.observe().ee_position));
        let wrist = &cams[2];
        let p = poses[2].inverse() * tool;
        let [u, v] = wrist.project(&p).unwrap_or([-1.0, -1.0]);
        assert!(p.z > 0.02, "{robot}: tool {p:?} in the wrist camera frame");
        assert!(
            (0.0..128.0).contains(&u) && (0.0..128.0).contains(&v),
            "{robot}: tool at ({u}, {v})"
        );
        if robot == "panda" {
            // Between the fingers in the lower middle of the image (robots/panda/robot.toml),
            // where a touched marker or a grasped cube shows large and unoccluded.
            assert!(
                (u - 64.0).abs() < 16.0 && v > 76.0 && v < 124.0,
                "panda: tool at ({u}, {v})"
            );
        }
    }
}

#[test]
fn the_wrist_camera_moves_with_the_arm() {
    let mut env = Env::load(
        root().join("sim_scenes/reach.toml"),
        root().join("robots/panda"),
    )
    .unwrap();
    env.reset(0).unwrap();
    let cams = rig();
    let before = env.camera_poses(&cams).unwrap();
    for _ in 0..10 {
        env.step(&Action::EeDelta {
            translation: [0.02, 0.01, -0.01],
            rotation: [0.0; 3],
            gripper: 0.0,
        })
        .unwrap();
    }
    let after = env.camera_poses(&cams).unwrap();
    assert_eq!(before[0], after[0], "the front camera is fixed");
    let moved = (after[2].translation.vector - before[2].translation.vector).norm();
    assert!(moved > 0.1, "the wrist camera moved {moved} m");
}

#[test]
fn broken_calibration_files_name_file_and_key() {
    let good = std::fs::read_to_string(root().join("calibration/sim_default/front.toml")).unwrap();
    let cases = [
        (good.replace("fx = 110.8513", "fx = -1.0"), "`fx`"),
        (good.replace("width = 128", "width = 0"), "`width`"),
        (
            good.replace("parent = \"table\"", "parent = \"ceiling\""),
            "extrinsics.parent",
        ),
        (
            good.replace("name = \"front\"", "name = \"front\"\nfocal = 3"),
            "focal",
        ),
        (
            good.replace(
                "distortion = [0.0, 0.0, 0.0, 0.0, 0.0]",
                "distortion = [0.0, 0.0]",
            ),
            "distortion",
        ),
    ];
    for (text, needle) in cases {
        let err = CameraConfig::parse(&text, Path::new("calibration/x/front.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("calibration/x/front.toml") && err.contains(needle),
            "{err}"
        );
    }
    // A mount the robot does not have.
    let mut env = Env::load(
        root().join("sim_scenes/reach.toml"),
        root().join("robots/so101"),
    )
    .unwrap();
    env.reset(0).unwrap();
    let mut cam = rig().remove(2);
    cam.extrinsics.parent = "mount:elbow".into();
    let err = env.camera_poses(&[cam]).unwrap_err().to_string();
    assert!(
        err.contains("mount:elbow") && err.contains("so101"),
        "{err}"
    );
}

#[test]
fn scene_cameras_override_the_rig_by_name() {
    let mut front = rig().remove(0);
    front.width = 224;
    let mut top = front.clone();
    top.name = "top".into();
    let merged = merge_cameras(rig(), &[front, top]);
    let names: Vec<&str> = merged.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["front", "side", "wrist", "top"]);
    assert_eq!(merged[0].width, 224);
}

#[test]
fn urdf_materials_colour_the_links() {
    let so101 = striatum_sim::Robot::load(root().join("robots/so101")).unwrap();
    let c = so101.urdf.link("shoulder_link").unwrap().color.unwrap();
    assert!(c[0] > 0.9 && c[2] < 0.3, "printed yellow: {c:?}");
    let jaw = so101.urdf.link("moving_jaw_link").unwrap().color.unwrap();
    assert!(jaw[0] < 0.2);
    let panda = striatum_sim::Robot::load(root().join("robots/panda")).unwrap();
    assert!(panda.urdf.link("panda_hand").unwrap().color.unwrap()[0] < 0.3);
}

#[test]
fn visual_shapes_carry_scene_and_urdf_colours() {
    let mut env = Env::load(
        root().join("sim_scenes/open_drawer.toml"),
        root().join("robots/panda"),
    )
    .unwrap();
    env.reset(0).unwrap();
    let shapes = env.visual_shapes();
    let color_of = |name: &str| shapes.iter().find(|s| s.name == name).map(|s| s.color);
    assert_eq!(color_of("table"), Some(env.scene().table.color));
    let striatum_sim::scene::FixtureConfig::Drawer(d) = &env.scene().fixtures[0];
    assert_eq!(color_of("drawer"), Some(d.color));
    assert!(color_of("panda_hand").unwrap()[0] < 0.3);
    assert!(color_of("panda_link3").unwrap()[0] > 0.9);
    // Every link with geometry, the table and the drawer's box, bar and posts.
    assert!(shapes.iter().filter(|s| s.name == "drawer").count() == 4);
    assert!(
        shapes.iter().all(|s| s.name != "fixed"),
        "unnamed shapes: {shapes:?}"
    );
}
