//! The arm in Rapier: joint motors hold and reach targets under gravity, and the physics
//! links sit where the kinematic chain says they should.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on broken fixtures

use std::path::Path;

use striatum_sim::{Chain, Robot, SimWorld};

fn so101() -> Robot {
    Robot::load(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../robots/so101")).unwrap()
}

fn settle(world: &mut SimWorld, seconds: f64) {
    for _ in 0..(seconds / world.dt()).round() as usize {
        world.step();
    }
}

/// Distance between a physics link position and a kinematic one.
fn distance(p: [f64; 3], expected: &nalgebra::Vector3<f64>) -> f64 {
    (nalgebra::Vector3::from(p) - expected).norm()
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn motors_bring_the_so101_to_home_and_to_new_targets_under_gravity() {
    let robot = so101();
    let mut world = SimWorld::new(&robot, 1.0 / 240.0).unwrap();
    settle(&mut world, 2.0);
    let q = world.arm_positions();
    let err = max_abs_diff(&q, &robot.config.home);
    eprintln!("home tracking error after 2 s: {err:.5} rad");
    assert!(err < 0.03, "home tracking error {err} rad: {q:?}");

    let target = vec![0.5, -0.6, 0.8, 0.3, -1.0];
    world.set_arm_targets(&target).unwrap();
    settle(&mut world, 2.0);
    let q = world.arm_positions();
    let err = max_abs_diff(&q, &target);
    eprintln!("target tracking error after 2 s: {err:.5} rad");
    assert!(err < 0.03, "target tracking error {err} rad: {q:?}");
}

#[test]
fn physics_link_poses_agree_with_forward_kinematics() {
    let robot = so101();
    let chain = Chain::new(&robot.urdf, "base_link", "gripper_link").unwrap();
    let mut world = SimWorld::new(&robot, 1.0 / 240.0).unwrap();
    for target in [robot.config.home.clone(), vec![-0.7, 0.4, -0.5, -0.8, 1.5]] {
        world.set_arm_targets(&target).unwrap();
        settle(&mut world, 1.5);
        let q = world.arm_positions();
        let expected = chain.fk(&q).unwrap().translation.vector;
        let (p, _) = world.link_pose("gripper_link").unwrap();
        let diff = distance(p, &expected);
        eprintln!("gripper_link physics vs kinematics: {diff:.2e} m");
        assert!(diff < 1e-3, "gripper_link differs by {diff} m at q = {q:?}");
    }
}

#[test]
fn bad_targets_are_rejected() {
    let robot = so101();
    let mut world = SimWorld::new(&robot, 1.0 / 240.0).unwrap();
    assert!(world.set_arm_targets(&[0.0; 3]).is_err());
    assert!(
        world
            .set_arm_targets(&[0.0, f64::NAN, 0.0, 0.0, 0.0])
            .is_err()
    );
}

#[test]
fn the_panda_holds_its_ready_pose_under_gravity() {
    let robot =
        Robot::load(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../robots/panda")).unwrap();
    let mut world = SimWorld::new(&robot, 1.0 / 240.0).unwrap();
    settle(&mut world, 3.0);
    let q = world.arm_positions();
    let err = max_abs_diff(&q, &robot.config.home);
    eprintln!("panda home tracking error after 3 s: {err:.5} rad");
    assert!(err < 0.03, "home tracking error {err} rad: {q:?}");
    let chain = Chain::new(&robot.urdf, "panda_link0", "panda_link7").unwrap();
    let expected = chain.fk(&q).unwrap().translation.vector;
    let (p, _) = world.link_pose("panda_link7").unwrap();
    let diff = distance(p, &expected);
    assert!(diff < 1e-3, "panda_link7 differs by {diff} m");
}
