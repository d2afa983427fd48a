//! `robot.toml` files: the shipped robots load, broken ones give errors naming file and key.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on broken fixtures

use std::path::{Path, PathBuf};

use striatum_sim::Robot;

fn robots() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../robots")
}

#[test]
fn the_shipped_robots_load_and_their_home_poses_are_reachable() {
    for (name, dof) in [("so101", 5), ("panda", 7)] {
        let robot = Robot::load(robots().join(name)).unwrap();
        assert_eq!(robot.arm.dof(), dof, "{name}");
        let tool = robot.arm.fk(&robot.config.home).unwrap().translation.vector;
        // Home holds the tool above the table and in front of the base.
        assert!(
            tool.z > 0.0 && tool.x > 0.0,
            "{name} home tool position {tool:?}"
        );
    }
}

/// Writes `robot.toml` with one substitution applied and loads it.
fn load_variant(from: &str, to: &str) -> String {
    let original = std::fs::read_to_string(robots().join("so101/robot.toml")).unwrap();
    assert!(original.contains(from), "fixture lacks {from:?}");
    let urdf = robots().join("so101/so101.urdf");
    let text = original.replacen(from, to, 1).replace(
        "urdf = \"so101.urdf\"",
        &format!("urdf = {:?}", urdf.display().to_string()),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("robot.toml");
    std::fs::write(&path, text).unwrap();
    let err = Robot::load(&path).unwrap_err().to_string();
    assert!(
        err.contains(&path.display().to_string()),
        "error does not name the file: {err}"
    );
    err
}

#[test]
fn broken_files_name_the_key_at_fault() {
    let cases: [(&str, &str, &[&str]); 9] = [
        (
            "name = \"so101\"",
            "name = \"so101\"\ncolour = \"red\"",
            &["colour"],
        ),
        ("velocity = 6.0", "velocity = \"fast\"", &["velocity"]),
        (
            "home = [0.0, -0.3, 0.15, 1.6, 0.0]",
            "home = [0.0, -0.3, 0.15, 1.6]",
            &["home", "4 values"],
        ),
        (
            "home = [0.0, -0.3, 0.15, 1.6, 0.0]",
            "home = [0.0, -1.2, 1.2, 3.0, 0.0]",
            &["home[3]", "wrist_flex"],
        ),
        ("name = \"elbow_flex\"", "name = \"elbow\"", &["joints"]),
        ("upper = 1.69", "upper = 2.5", &["joints[2]", "URDF"]),
        (
            "joints = [\"gripper\"]",
            "joints = [\"jaw\"]",
            &["gripper.joints[0]", "jaw"],
        ),
        (
            "control = \"position_yaw\"",
            "control = \"joint\"",
            &["end_effector.control"],
        ),
        (
            "link = \"gripper_link\"",
            "link = \"camera_link\"",
            &["camera_mounts[0].link"],
        ),
    ];
    for (from, to, needles) in cases {
        let err = load_variant(from, to);
        for n in needles {
            assert!(
                err.contains(n),
                "`{err}` does not mention `{n}` (replacing {from:?})"
            );
        }
    }
    let err = Robot::load("/nonexistent/robot.toml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/robot.toml"), "{err}");
}
