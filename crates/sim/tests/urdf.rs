//! Malformed robot descriptions give errors that name the file, element and attribute.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on broken fixtures

use std::path::Path;

use striatum_sim::{Geometry, JointKind, Rng, Robot, Urdf, UrdfError};

fn parse(text: &str) -> Result<Urdf, UrdfError> {
    Urdf::parse(text, Path::new("robots/test/robot.urdf"))
}

const GOOD: &str = r#"<robot name="t">
  <link name="a"><inertial><mass value="1"/><inertia ixx="1" ixy="0" ixz="0" iyy="1" iyz="0" izz="1"/></inertial></link>
  <link name="b"/>
  <joint name="j" type="revolute">
    <origin xyz="0 0 0.1" rpy="0 0 1.5708"/><parent link="a"/><child link="b"/>
    <axis xyz="0 1 0"/><limit lower="-1" upper="1" effort="5" velocity="2"/>
  </joint>
</robot>"#;

#[test]
fn a_good_description_parses() {
    let u = parse(GOOD).unwrap();
    assert_eq!(u.links.len(), 2);
    assert_eq!(u.joints[0].kind, JointKind::Revolute);
    assert_eq!(u.root_link().map(|l| l.name.as_str()), Some("a"));
    assert_eq!(u.joints[0].limits.map(|l| l.upper), Some(1.0));
    assert!((u.joints[0].origin.translation.vector.z - 0.1).abs() < 1e-12);
}

#[test]
fn the_shipped_so101_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../robots/so101/so101.urdf");
    let u = Urdf::load(&path).unwrap();
    assert_eq!(
        u.joints
            .iter()
            .filter(|j| j.kind == JointKind::Revolute)
            .count(),
        6
    );
    let mass: f64 = u
        .links
        .iter()
        .filter_map(|l| l.inertial.as_ref())
        .map(|i| i.mass)
        .sum();
    assert!((mass - 0.632).abs() < 0.01, "total mass {mass}");
}

fn expect_err(text: &str, needles: &[&str]) {
    let err = parse(text).unwrap_err().to_string();
    assert!(err.contains("robots/test/robot.urdf"), "{err}");
    for n in needles {
        assert!(err.contains(n), "`{err}` does not mention `{n}`");
    }
}

#[test]
fn errors_name_what_is_wrong() {
    expect_err("<robot><link", &["not valid XML"]);
    expect_err(
        &GOOD.replace(r#"lower="-1" "#, r#"lower="minus one" "#),
        &["`j`", "lower", "minus one"],
    );
    expect_err(&GOOD.replace(r#" effort="5""#, ""), &["`j`", "effort"]);
    expect_err(
        &GOOD.replace(r#"<child link="b"/>"#, r#"<child link="c"/>"#),
        &["`j`", "`c`"],
    );
    expect_err(
        &GOOD.replace(r#"type="revolute""#, r#"type="ball""#),
        &["`j`", "type", "ball"],
    );
    expect_err(
        &GOOD.replace(r#"<axis xyz="0 1 0"/>"#, r#"<axis xyz="0 0 0"/>"#),
        &["`j`", "zero axis"],
    );
    expect_err(
        &GOOD.replace(r#"lower="-1" upper="1""#, r#"lower="1" upper="-1""#),
        &["`j`", "lower limit"],
    );
    expect_err(
        &GOOD.replace(r#"xyz="0 0 0.1""#, r#"xyz="0 0""#),
        &["`j`", "xyz"],
    );
    expect_err(
        &GOOD.replace(r#"<mass value="1"/>"#, r#"<mass value="-1"/>"#),
        &["`a`", "mass"],
    );
    expect_err(
        &GOOD.replace(
            r#"<limit lower="-1" upper="1" effort="5" velocity="2"/>"#,
            "",
        ),
        &["`j`", "<limit>"],
    );
    let err = Urdf::load("/nonexistent/robot.urdf")
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/robot.urdf"), "{err}");
}

#[test]
fn visuals_are_read_with_their_geometry_origin_and_colour() {
    let text = r#"<robot name="t">
  <material name="blue"><color rgba="0 0 1 1"/></material>
  <link name="a">
    <visual><origin xyz="0 0 0.05"/><geometry><box size="0.1 0.2 0.3"/></geometry><material name="blue"/></visual>
    <visual><geometry><cylinder radius="0.02" length="0.1"/></geometry><material name="r"><color rgba="1 0 0 1"/></material></visual>
    <visual><geometry><sphere radius="0.01"/></geometry></visual>
    <visual><geometry><mesh filename="meshes/a.stl" scale="0.001 0.001 0.001"/></geometry></visual>
  </link>
</robot>"#;
    let u = parse(text).unwrap();
    let v = &u.links[0].visuals;
    assert_eq!(v.len(), 4);
    assert_eq!(
        v[0].geometry,
        Geometry::Box {
            size: [0.1, 0.2, 0.3]
        }
    );
    assert!((v[0].origin.translation.vector.z - 0.05).abs() < 1e-12);
    assert_eq!(v[0].color, Some([0.0, 0.0, 1.0, 1.0]));
    assert_eq!(
        v[1].geometry,
        Geometry::Cylinder {
            radius: 0.02,
            length: 0.1
        }
    );
    assert_eq!(v[1].color, Some([1.0, 0.0, 0.0, 1.0]));
    assert_eq!(v[2].geometry, Geometry::Sphere { radius: 0.01 });
    assert_eq!(v[2].color, None);
    assert_eq!(
        v[3].geometry,
        Geometry::Mesh {
            filename: "meshes/a.stl".into(),
            scale: [0.001; 3]
        }
    );
    // The link's colour is its first visual's.
    assert_eq!(u.links[0].color, Some([0.0, 0.0, 1.0, 1.0]));

    let visual = |g: &str| {
        format!(
            r#"<robot name="t"><link name="a"><visual><geometry>{g}</geometry></visual></link></robot>"#
        )
    };
    expect_err(
        &visual(r#"<cone radius="1"/>"#),
        &["link", "`a`", "box, cylinder, sphere or mesh"],
    );
    expect_err(
        &visual(r#"<box size="0.1 -0.2 0.3"/>"#),
        &["`a`", "size", "positive"],
    );
    expect_err(&visual(r#"<box size="0.1 0.2"/>"#), &["`a`", "size"]);
    expect_err(&visual(r#"<cylinder radius="0.1"/>"#), &["`a`", "length"]);
    expect_err(&visual(r#"<mesh/>"#), &["`a`", "filename"]);
    expect_err(&visual(""), &["`a`", "a shape in <visual><geometry>"]);
}

#[test]
fn link_poses_follow_the_tree_and_match_the_arm_chain() {
    for name in ["so101", "panda"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../robots")
            .join(name);
        let robot = Robot::load(&dir).unwrap();
        assert!(
            robot
                .urdf
                .links
                .iter()
                .filter(|l| !l.visuals.is_empty())
                .count()
                >= 5,
            "{name}: links with visuals"
        );
        let mut rng = Rng::new(11);
        for _ in 0..20 {
            let q: Vec<f64> = robot
                .config
                .joints
                .iter()
                .map(|j| j.lower + rng.uniform() * (j.upper - j.lower))
                .collect();
            let poses = robot.urdf.link_poses(&robot.joint_values(&q, 0.5));
            assert_eq!(
                poses.len(),
                robot.urdf.links.len(),
                "{name}: every link, once"
            );
            assert_eq!(poses[0].0, robot.config.base_link);
            let tip = &robot.config.end_effector.link;
            let from_tree = poses.iter().find(|(l, _)| l == tip).unwrap().1;
            let from_chain = robot.arm.fk(&q).unwrap();
            assert!(
                (from_tree.translation.vector - from_chain.translation.vector).norm() < 1e-12
                    && from_tree.rotation.angle_to(&from_chain.rotation) < 1e-9,
                "{name}: tree and chain disagree at {q:?}"
            );
        }
        // The gripper closure moves the gripper joints between open and closed.
        let g = &robot.config.gripper;
        let values = robot.joint_values(&robot.config.home, 1.0);
        for joint in &g.joints {
            assert_eq!(values[joint], g.closed);
        }
        let open = robot.joint_values(&robot.config.home, 0.0);
        assert_eq!(open[&g.joints[0]], g.open);
    }
}
