//! Malformed robot descriptions give errors that name the file, element and attribute.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on broken fixtures

use std::path::Path;

use striatum_sim::{JointKind, Urdf, UrdfError};

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
