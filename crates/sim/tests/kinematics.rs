//! Forward kinematics against an independent computation from the maker's published
//! parameters, Jacobians against finite differences, and inverse kinematics on random
//! reachable and unreachable targets.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on broken fixtures

use std::path::{Path, PathBuf};

use nalgebra::{Matrix4, Vector3};
use striatum_sim::{Chain, IkOptions, IkTarget, Urdf};

const ARM_JOINTS: [&str; 5] = [
    "shoulder_pan",
    "shoulder_lift",
    "elbow_flex",
    "wrist_flex",
    "wrist_roll",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn so101() -> Chain {
    let urdf = Urdf::load(repo().join("robots/so101/so101.urdf")).unwrap();
    Chain::new(&urdf, "base_link", "gripper_frame_link").unwrap()
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn within(&mut self, chain: &Chain) -> Vec<f64> {
        chain
            .limits()
            .iter()
            .map(|&(lo, hi)| lo + (hi - lo) * self.uniform())
            .collect()
    }
}

/// Homogeneous transform of URDF `xyz`/`rpy`, written out with explicit trigonometry
/// (R = Rz(yaw) Ry(pitch) Rx(roll)), independent of the crate's own conversion.
fn transform(xyz: [f64; 3], rpy: [f64; 3]) -> Matrix4<f64> {
    let (sr, cr) = rpy[0].sin_cos();
    let (sp, cp) = rpy[1].sin_cos();
    let (sy, cy) = rpy[2].sin_cos();
    Matrix4::new(
        cy * cp,
        cy * sp * sr - sy * cr,
        cy * sp * cr + sy * sr,
        xyz[0],
        sy * cp,
        sy * sp * sr + cy * cr,
        sy * sp * cr - cy * sr,
        xyz[1],
        -sp,
        cp * sr,
        cp * cr,
        xyz[2],
        0.0,
        0.0,
        0.0,
        1.0,
    )
}

/// Rotation by `angle` about the joint's local z axis (every SO-101 arm joint turns about z).
fn rot_z(angle: f64) -> Matrix4<f64> {
    let (s, c) = angle.sin_cos();
    Matrix4::new(
        c, -s, 0.0, 0.0, s, c, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0,
    )
}

fn floats(s: &str) -> [f64; 3] {
    let v: Vec<f64> = s.split_whitespace().map(|x| x.parse().unwrap()).collect();
    [v[0], v[1], v[2]]
}

/// Tool-frame position from the maker's URDF text, by matrix products.
fn reference_tool_position(reference: &str, q: &[f64]) -> Vector3<f64> {
    let doc = roxmltree::Document::parse(reference).unwrap();
    let joint = |name: &str| {
        doc.descendants()
            .find(|n| n.has_tag_name("joint") && n.attribute("name") == Some(name))
            .unwrap_or_else(|| panic!("the reference lacks joint {name}"))
    };
    let origin = |name: &str| {
        let o = joint(name)
            .children()
            .find(|c| c.has_tag_name("origin"))
            .unwrap();
        transform(
            floats(o.attribute("xyz").unwrap()),
            floats(o.attribute("rpy").unwrap()),
        )
    };
    let mut t = Matrix4::identity();
    for (name, angle) in ARM_JOINTS.iter().zip(q) {
        let axis = joint(name)
            .children()
            .find(|c| c.has_tag_name("axis"))
            .unwrap();
        assert_eq!(floats(axis.attribute("xyz").unwrap()), [0.0, 0.0, 1.0]);
        t = t * origin(name) * rot_z(*angle);
    }
    t *= origin("gripper_frame_joint");
    Vector3::new(t[(0, 3)], t[(1, 3)], t[(2, 3)])
}

#[test]
fn so101_forward_kinematics_match_the_makers_description() {
    let reference_path = repo().join("../shared/reference/robots/so101/so101_new_calib.urdf");
    let Ok(reference) = std::fs::read_to_string(&reference_path) else {
        eprintln!(
            "SKIPPED: {} is absent (../shared is not beside the checkout)",
            reference_path.display()
        );
        return;
    };
    let chain = so101();
    assert_eq!(chain.joint_names(), ARM_JOINTS);
    let mut rng = Rng(0x5eed_1234);
    let mut worst = 0.0f64;
    for _ in 0..500 {
        let q = rng.within(&chain);
        let ours = chain.fk(&q).unwrap().translation.vector;
        let theirs = reference_tool_position(&reference, &q);
        worst = worst.max((ours - theirs).norm());
    }
    assert!(worst < 1e-4, "worst tool position difference {worst} m");
}

#[test]
fn jacobian_matches_finite_differences() {
    let chain = so101();
    let mut rng = Rng(77);
    for _ in 0..50 {
        let q = rng.within(&chain);
        let j = chain.jacobian(&q).unwrap();
        let p0 = chain.fk(&q).unwrap();
        for c in 0..chain.dof() {
            let mut q1 = q.clone();
            let h = 1e-6;
            q1[c] += h;
            let p1 = chain.fk(&q1).unwrap();
            let lin = (p1.translation.vector - p0.translation.vector) / h;
            let ang = (p1.rotation * p0.rotation.inverse()).scaled_axis() / h;
            for r in 0..3 {
                assert!((j[(r, c)] - lin[r]).abs() < 1e-4, "linear row {r} col {c}");
                assert!(
                    (j[(r + 3, c)] - ang[r]).abs() < 1e-4,
                    "angular row {r} col {c}"
                );
            }
        }
    }
}

#[test]
fn ik_reaches_random_reachable_positions_to_under_2_mm() {
    let chain = so101();
    let mut rng = Rng(2024);
    let opts = IkOptions::default();
    let home = chain.mid_configuration();
    let mut worst = 0.0f64;
    let mut failures = Vec::new();
    let n = 300;
    for i in 0..n {
        let q_true = rng.within(&chain);
        let target = chain.fk(&q_true).unwrap().translation.vector;
        let sol = chain.ik(&IkTarget::position(target), &home, &opts).unwrap();
        // The answer respects the limits and really reaches the point.
        for (v, &(lo, hi)) in sol.q.iter().zip(chain.limits()) {
            assert!(
                (lo..=hi).contains(v),
                "target {i}: joint value {v} outside [{lo}, {hi}]"
            );
        }
        let reached = chain.fk(&sol.q).unwrap().translation.vector;
        let err = (reached - target).norm();
        assert!((err - sol.position_error).abs() < 1e-9);
        worst = worst.max(err);
        if !sol.converged || err > 2e-3 {
            failures.push((i, err));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n} targets missed: {failures:?}",
        failures.len()
    );
    assert!(worst < 2e-3, "worst error {worst} m");
}

#[test]
fn ik_reaches_full_poses_of_reachable_configurations() {
    let chain = so101();
    let mut rng = Rng(99);
    let home = chain.mid_configuration();
    let mut reached = 0;
    let n = 100;
    for _ in 0..n {
        let q_true = rng.within(&chain);
        let pose = chain.fk(&q_true).unwrap();
        let sol = chain
            .ik(&IkTarget::pose(pose, 0.1), &home, &IkOptions::default())
            .unwrap();
        if sol.converged {
            reached += 1;
            assert!(sol.position_error < 1e-4 && sol.orientation_error < 1e-3);
        }
    }
    // A 5-DoF arm reaches every pose it produced itself; allow a little for limit-bound starts.
    assert!(reached >= 95, "{reached} of {n} poses reached");
}

#[test]
fn ik_reports_unreachable_targets_instead_of_flailing() {
    let chain = so101();
    let home = chain.mid_configuration();
    for target in [
        Vector3::new(1.0, 0.0, 0.2),
        Vector3::new(0.0, 0.0, 2.0),
        Vector3::new(-0.5, 0.5, -0.5),
    ] {
        let sol = chain
            .ik(&IkTarget::position(target), &home, &IkOptions::default())
            .unwrap();
        assert!(!sol.converged, "claimed to reach {target:?}");
        assert!(
            sol.position_error > 0.3,
            "error {} for {target:?}",
            sol.position_error
        );
        assert!(sol.q.iter().all(|v| v.is_finite()));
        for (v, &(lo, hi)) in sol.q.iter().zip(chain.limits()) {
            assert!((lo..=hi).contains(v));
        }
        // The best effort points at the target: closer than the home pose.
        let home_err = (chain.fk(&home).unwrap().translation.vector - target).norm();
        assert!(sol.position_error < home_err);
    }
}

#[test]
fn bad_configurations_are_errors() {
    let chain = so101();
    assert!(chain.fk(&[0.0; 4]).is_err());
    assert!(chain.fk(&[0.0, f64::NAN, 0.0, 0.0, 0.0]).is_err());
    let urdf = Urdf::load(repo().join("robots/so101/so101.urdf")).unwrap();
    assert!(Chain::new(&urdf, "base_link", "no_such_link").is_err());
    assert!(Chain::new(&urdf, "gripper_link", "base_link").is_err());
}

fn panda() -> Chain {
    let urdf = Urdf::load(repo().join("robots/panda/panda.urdf")).unwrap();
    Chain::new(&urdf, "panda_link0", "panda_hand_tcp").unwrap()
}

/// Franka's published modified-DH table (Craig): per joint `a`, `d`, `alpha`, with
/// T_i = RotX(alpha_i) TransX(a_i) RotZ(theta_i) TransZ(d_i); then the flange (d 0.107),
/// the hand (-45 deg about z) and the tool centre point (0.1034 m along z).
fn panda_dh_tool(q: &[f64]) -> Matrix4<f64> {
    use std::f64::consts::FRAC_PI_2;
    let table = [
        (0.0, 0.333, 0.0),
        (0.0, 0.0, -FRAC_PI_2),
        (0.0, 0.316, FRAC_PI_2),
        (0.0825, 0.0, FRAC_PI_2),
        (-0.0825, 0.384, -FRAC_PI_2),
        (0.0, 0.0, FRAC_PI_2),
        (0.088, 0.0, FRAC_PI_2),
    ];
    let rot_x = |a: f64| {
        let (s, c) = a.sin_cos();
        Matrix4::new(
            1.0, 0.0, 0.0, 0.0, 0.0, c, -s, 0.0, 0.0, s, c, 0.0, 0.0, 0.0, 0.0, 1.0,
        )
    };
    let trans = |x: f64, z: f64| {
        Matrix4::new(
            1.0, 0.0, 0.0, x, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, z, 0.0, 0.0, 0.0, 1.0,
        )
    };
    let mut t: Matrix4<f64> = Matrix4::identity();
    for ((a, d, alpha), theta) in table.iter().zip(q) {
        t = t * rot_x(*alpha) * trans(*a, 0.0) * rot_z(*theta) * trans(0.0, *d);
    }
    t * trans(0.0, 0.107) * rot_z(-std::f64::consts::FRAC_PI_4) * trans(0.0, 0.1034)
}

#[test]
fn panda_forward_kinematics_match_the_published_dh_parameters() {
    let chain = panda();
    assert_eq!(chain.dof(), 7);
    let mut rng = Rng(31337);
    for _ in 0..500 {
        let q = rng.within(&chain);
        let ours = chain.fk(&q).unwrap().to_homogeneous();
        let theirs = panda_dh_tool(&q);
        let diff = (ours - theirs).abs().max();
        assert!(diff < 1e-4, "difference {diff} at {q:?}");
    }
}

#[test]
fn panda_ik_reaches_random_reachable_poses() {
    let chain = panda();
    let mut rng = Rng(4242);
    let home = chain.mid_configuration();
    let n = 200;
    let mut missed = Vec::new();
    for i in 0..n {
        let pose = chain.fk(&rng.within(&chain)).unwrap();
        let sol = chain
            .ik(&IkTarget::pose(pose, 0.1), &home, &IkOptions::default())
            .unwrap();
        if !sol.converged || sol.position_error > 2e-3 {
            missed.push((i, sol.position_error, sol.orientation_error));
        }
    }
    assert!(
        missed.is_empty(),
        "{} of {n} poses missed: {missed:?}",
        missed.len()
    );
}

#[test]
fn five_dof_ik_reaches_positions_exactly_and_prefers_a_downward_tool() {
    use nalgebra::{Isometry3, Translation3, UnitQuaternion};
    let robot = striatum_sim::Robot::load(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../robots/so101"),
    )
    .unwrap();
    let chain = &robot.arm;
    let down = UnitQuaternion::from_euler_angles(0.0, std::f64::consts::PI, 0.0);
    let mut worst: f64 = 0.0;
    let mut down_errors = Vec::new();
    for i in 0..60 {
        let t = i as f64 / 60.0;
        let x = 0.14 + 0.16 * ((t * 7.3).sin() * 0.5 + 0.5);
        let y = 0.12 * (t * 11.1).cos();
        let z = 0.02 + 0.12 * ((t * 5.7).sin() * 0.5 + 0.5);
        let target = Isometry3::from_parts(Translation3::new(x, y, z), down);
        let sol = chain
            .ik(
                &IkTarget::position_preferring(target),
                &robot.config.home,
                &IkOptions::default(),
            )
            .unwrap();
        assert!(
            sol.converged,
            "({x:.3}, {y:.3}, {z:.3}) not reached: {sol:?}"
        );
        worst = worst.max(sol.position_error);
        down_errors.push(sol.orientation_error);
    }
    assert!(worst < 2e-4, "worst position error {worst}");
    // Low targets close to the base can be met pointing straight down.
    down_errors.sort_by(f64::total_cmp);
    assert!(down_errors[down_errors.len() / 4] < 0.05, "{down_errors:?}");
}
