//! A URDF reader for kinematic trees: links with inertials, joints with origins, axes and
//! limits. Errors name the file, the element and the attribute at fault.

use std::path::{Path, PathBuf};

use nalgebra::{Isometry3, Matrix3, Translation3, Unit, UnitQuaternion, Vector3};
use thiserror::Error;

/// Why a URDF could not be read.
#[derive(Debug, Error)]
pub enum UrdfError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not well-formed XML.
    #[error("{}: not valid XML: {message}", path.display())]
    Xml {
        /// The file.
        path: PathBuf,
        /// The parser's message (with line and column).
        message: String,
    },
    /// A required element or attribute is absent.
    #[error("{}: <{element}> `{name}` lacks {what}", path.display())]
    Missing {
        /// The file.
        path: PathBuf,
        /// Element kind, e.g. `joint`.
        element: &'static str,
        /// The element's name attribute (or `?`).
        name: String,
        /// What is missing, e.g. `attribute lower of <limit>`.
        what: String,
    },
    /// An attribute is not the number or list of numbers expected.
    #[error("{}: <{element}> `{name}`: attribute `{attribute}` = {value:?} is not {expected}", path.display())]
    BadValue {
        /// The file.
        path: PathBuf,
        /// Element kind.
        element: &'static str,
        /// The element's name attribute.
        name: String,
        /// The attribute.
        attribute: &'static str,
        /// Its text.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// The file parses but does not describe a valid kinematic tree.
    #[error("{}: {what}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
}

/// Mass properties of a link.
#[derive(Debug, Clone, PartialEq)]
pub struct Inertial {
    /// Centre of mass frame in the link frame.
    pub origin: Isometry3<f64>,
    /// Mass in kg (> 0).
    pub mass: f64,
    /// Inertia tensor about the centre of mass, in the `origin` frame (kg m^2).
    pub inertia: Matrix3<f64>,
}

/// A rigid body of the robot.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// Unique name.
    pub name: String,
    /// Mass properties (absent for massless frames such as a tool centre point).
    pub inertial: Option<Inertial>,
    /// Colour of its first visual's material (RGBA in [0, 1]), inline or by a named top-level
    /// `<material>`.
    pub color: Option<[f64; 4]>,
    /// Its `<visual>` elements, in file order.
    pub visuals: Vec<Visual>,
}

/// A `<visual>` element: geometry placed in its link's frame, with an optional colour.
#[derive(Debug, Clone, PartialEq)]
pub struct Visual {
    /// Pose of the geometry in the link frame.
    pub origin: Isometry3<f64>,
    /// The shape.
    pub geometry: Geometry,
    /// RGBA in [0, 1] from its material, inline or named.
    pub color: Option<[f64; 4]>,
}

/// URDF geometry, in the conventions of the format (box sizes are full lengths, cylinders run
/// along local z and are centred on their frame).
#[derive(Debug, Clone, PartialEq)]
pub enum Geometry {
    /// A box with these full side lengths (m).
    Box {
        /// Lengths along x, y, z.
        size: [f64; 3],
    },
    /// A cylinder along local z.
    Cylinder {
        /// Radius (m).
        radius: f64,
        /// Full length (m).
        length: f64,
    },
    /// A sphere.
    Sphere {
        /// Radius (m).
        radius: f64,
    },
    /// A mesh file (path as written in the URDF) with a per-axis scale.
    Mesh {
        /// The `filename` attribute.
        filename: String,
        /// Scale along x, y, z.
        scale: [f64; 3],
    },
}

/// How a joint moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JointKind {
    /// Rotation about the axis within limits.
    Revolute,
    /// Rotation about the axis without limits.
    Continuous,
    /// Translation along the axis within limits.
    Prismatic,
    /// No motion.
    Fixed,
}

/// Position, velocity and effort limits of a joint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JointLimits {
    /// Lowest position (rad or m).
    pub lower: f64,
    /// Highest position (rad or m).
    pub upper: f64,
    /// Largest effort (N m or N).
    pub effort: f64,
    /// Largest speed (rad/s or m/s).
    pub velocity: f64,
}

/// A joint between a parent and a child link.
#[derive(Debug, Clone, PartialEq)]
pub struct Joint {
    /// Unique name.
    pub name: String,
    /// Motion type.
    pub kind: JointKind,
    /// Parent link name.
    pub parent: String,
    /// Child link name.
    pub child: String,
    /// Child frame relative to the parent frame at joint position zero.
    pub origin: Isometry3<f64>,
    /// Motion axis in the joint frame (unit length).
    pub axis: Unit<Vector3<f64>>,
    /// Limits (required for revolute and prismatic joints).
    pub limits: Option<JointLimits>,
}

/// A robot description: a tree of links connected by joints.
#[derive(Debug, Clone, PartialEq)]
pub struct Urdf {
    /// Robot name.
    pub name: String,
    /// Links, in file order.
    pub links: Vec<Link>,
    /// Joints, in file order.
    pub joints: Vec<Joint>,
    /// The file it came from (for error messages).
    pub source: PathBuf,
}

impl Urdf {
    /// Reads and validates a URDF file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, UrdfError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| UrdfError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates URDF text; `source` names it in errors.
    pub fn parse(text: &str, source: &Path) -> Result<Self, UrdfError> {
        let doc = roxmltree::Document::parse(text).map_err(|e| UrdfError::Xml {
            path: source.to_owned(),
            message: e.to_string(),
        })?;
        let root = doc.root_element();
        let p = Parser { path: source };
        if root.tag_name().name() != "robot" {
            return Err(p.invalid(format!(
                "the root element is <{}>, expected <robot>",
                root.tag_name().name()
            )));
        }
        let name = root.attribute("name").unwrap_or_default().to_owned();
        let mut links = Vec::new();
        let mut joints = Vec::new();
        // Named materials declared at the top level, referenced from visuals by name.
        let mut materials = std::collections::HashMap::new();
        for node in root.children().filter(|n| n.has_tag_name("material")) {
            if let (Some(name), Some(color)) = (node.attribute("name"), child(node, "color")) {
                materials.insert(name.to_owned(), p.rgba(color, name)?);
            }
        }
        for node in root.children().filter(roxmltree::Node::is_element) {
            match node.tag_name().name() {
                "link" => links.push(p.link(node, &materials)?),
                "joint" => joints.push(p.joint(node)?),
                _ => {}
            }
        }
        let urdf = Urdf {
            name,
            links,
            joints,
            source: source.to_owned(),
        };
        urdf.check_tree()?;
        Ok(urdf)
    }

    /// The link with this name.
    pub fn link(&self, name: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.name == name)
    }

    /// The joint whose child is `link`.
    pub fn parent_joint(&self, link: &str) -> Option<&Joint> {
        self.joints.iter().find(|j| j.child == link)
    }

    /// The link no joint points to.
    pub fn root_link(&self) -> Option<&Link> {
        self.links
            .iter()
            .find(|l| self.parent_joint(&l.name).is_none())
    }

    /// Pose of every link in the root link's frame for the given joint values (by joint name;
    /// joints not given are at 0, fixed joints ignore their value), parents before children.
    pub fn link_poses(
        &self,
        values: &std::collections::HashMap<String, f64>,
    ) -> Vec<(String, Isometry3<f64>)> {
        let Some(root) = self.root_link() else {
            return Vec::new();
        };
        let mut out = vec![(root.name.clone(), Isometry3::identity())];
        let mut i = 0;
        while i < out.len() {
            let (parent, parent_pose) = out[i].clone();
            for joint in self.joints.iter().filter(|j| j.parent == parent) {
                let q = values.get(&joint.name).copied().unwrap_or(0.0);
                let motion = match joint.kind {
                    JointKind::Revolute | JointKind::Continuous => Isometry3::from_parts(
                        Translation3::identity(),
                        UnitQuaternion::from_axis_angle(&joint.axis, q),
                    ),
                    JointKind::Prismatic => {
                        Isometry3::translation(joint.axis.x * q, joint.axis.y * q, joint.axis.z * q)
                    }
                    JointKind::Fixed => Isometry3::identity(),
                };
                out.push((joint.child.clone(), parent_pose * joint.origin * motion));
            }
            i += 1;
        }
        out
    }

    fn check_tree(&self) -> Result<(), UrdfError> {
        let invalid = |what: String| UrdfError::Invalid {
            path: self.source.clone(),
            what,
        };
        for (i, l) in self.links.iter().enumerate() {
            if self.links[..i].iter().any(|o| o.name == l.name) {
                return Err(invalid(format!("link `{}` is defined twice", l.name)));
            }
        }
        for (i, j) in self.joints.iter().enumerate() {
            if self.joints[..i].iter().any(|o| o.name == j.name) {
                return Err(invalid(format!("joint `{}` is defined twice", j.name)));
            }
            for (role, link) in [("parent", &j.parent), ("child", &j.child)] {
                if self.link(link).is_none() {
                    return Err(invalid(format!(
                        "joint `{}` names {role} link `{link}`, which is not defined",
                        j.name
                    )));
                }
            }
            if self.joints[..i].iter().any(|o| o.child == j.child) {
                return Err(invalid(format!("link `{}` has two parent joints", j.child)));
            }
        }
        let roots = self
            .links
            .iter()
            .filter(|l| self.parent_joint(&l.name).is_none())
            .count();
        if roots != 1 {
            return Err(invalid(format!(
                "expected exactly one root link, found {roots} (a cycle or a disconnected link)"
            )));
        }
        Ok(())
    }
}

struct Parser<'a> {
    path: &'a Path,
}

impl Parser<'_> {
    fn invalid(&self, what: String) -> UrdfError {
        UrdfError::Invalid {
            path: self.path.to_owned(),
            what,
        }
    }

    fn missing(&self, element: &'static str, name: &str, what: String) -> UrdfError {
        UrdfError::Missing {
            path: self.path.to_owned(),
            element,
            name: name.to_owned(),
            what,
        }
    }

    fn numbers<const N: usize>(
        &self,
        element: &'static str,
        name: &str,
        attribute: &'static str,
        value: &str,
    ) -> Result<[f64; N], UrdfError> {
        let bad = || UrdfError::BadValue {
            path: self.path.to_owned(),
            element,
            name: name.to_owned(),
            attribute,
            value: value.to_owned(),
            expected: match N {
                1 => "a finite number",
                3 => "three finite numbers",
                _ => "finite numbers",
            },
        };
        let parsed: Vec<f64> = value
            .split_whitespace()
            .map(str::parse::<f64>)
            .collect::<Result<_, _>>()
            .map_err(|_| bad())?;
        if parsed.len() != N || parsed.iter().any(|v| !v.is_finite()) {
            return Err(bad());
        }
        let mut out = [0.0; N];
        out.copy_from_slice(&parsed);
        Ok(out)
    }

    fn number(
        &self,
        node: roxmltree::Node<'_, '_>,
        element: &'static str,
        name: &str,
        attribute: &'static str,
    ) -> Result<f64, UrdfError> {
        let value = node.attribute(attribute).ok_or_else(|| {
            self.missing(
                element,
                name,
                format!("attribute `{attribute}` of <{}>", node.tag_name().name()),
            )
        })?;
        Ok(self.numbers::<1>(element, name, attribute, value)?[0])
    }

    /// `<origin xyz rpy>`; absent origin or attributes mean zero.
    fn origin(
        &self,
        parent: roxmltree::Node<'_, '_>,
        element: &'static str,
        name: &str,
    ) -> Result<Isometry3<f64>, UrdfError> {
        let Some(origin) = child(parent, "origin") else {
            return Ok(Isometry3::identity());
        };
        let xyz = match origin.attribute("xyz") {
            Some(v) => self.numbers::<3>(element, name, "xyz", v)?,
            None => [0.0; 3],
        };
        let rpy = match origin.attribute("rpy") {
            Some(v) => self.numbers::<3>(element, name, "rpy", v)?,
            None => [0.0; 3],
        };
        Ok(pose_from_xyz_rpy(xyz, rpy))
    }

    fn rgba(&self, color: roxmltree::Node<'_, '_>, name: &str) -> Result<[f64; 4], UrdfError> {
        let value = color.attribute("rgba").unwrap_or("0 0 0 1");
        let rgba = self.numbers::<4>("material", name, "rgba", value)?;
        if rgba.iter().any(|v| !(0.0..=1.0).contains(v)) {
            return Err(self.invalid(format!(
                "material `{name}` has rgba {value:?}, expected four values in [0, 1]"
            )));
        }
        Ok(rgba)
    }

    fn link(
        &self,
        node: roxmltree::Node<'_, '_>,
        materials: &std::collections::HashMap<String, [f64; 4]>,
    ) -> Result<Link, UrdfError> {
        let name = node
            .attribute("name")
            .ok_or_else(|| self.missing("link", "?", "attribute `name`".into()))?
            .to_owned();
        let inertial = match child(node, "inertial") {
            None => None,
            Some(inertial) => {
                let mass_node = child(inertial, "mass")
                    .ok_or_else(|| self.missing("link", &name, "<mass> in <inertial>".into()))?;
                let mass = self.number(mass_node, "link", &name, "value")?;
                if mass <= 0.0 {
                    return Err(
                        self.invalid(format!("link `{name}` has mass {mass}, expected > 0"))
                    );
                }
                let i = child(inertial, "inertia")
                    .ok_or_else(|| self.missing("link", &name, "<inertia> in <inertial>".into()))?;
                let g = |a| self.number(i, "link", &name, a);
                let (ixx, ixy, ixz, iyy, iyz, izz) = (
                    g("ixx")?,
                    g("ixy")?,
                    g("ixz")?,
                    g("iyy")?,
                    g("iyz")?,
                    g("izz")?,
                );
                Some(Inertial {
                    origin: self.origin(inertial, "link", &name)?,
                    mass,
                    inertia: Matrix3::new(ixx, ixy, ixz, ixy, iyy, iyz, ixz, iyz, izz),
                })
            }
        };
        let mut visuals = Vec::new();
        for visual in node
            .children()
            .filter(|c| c.is_element() && c.tag_name().name() == "visual")
        {
            visuals.push(self.visual(visual, &name, materials)?);
        }
        let color = visuals.first().and_then(|v| v.color);
        Ok(Link {
            name,
            inertial,
            color,
            visuals,
        })
    }

    fn visual(
        &self,
        node: roxmltree::Node<'_, '_>,
        link: &str,
        materials: &std::collections::HashMap<String, [f64; 4]>,
    ) -> Result<Visual, UrdfError> {
        let color = match child(node, "material") {
            None => None,
            Some(m) => match child(m, "color") {
                Some(c) => Some(self.rgba(c, link)?),
                None => m.attribute("name").and_then(|n| materials.get(n).copied()),
            },
        };
        let shape = child(node, "geometry")
            .and_then(|g| g.children().find(roxmltree::Node::is_element))
            .ok_or_else(|| self.missing("link", link, "a shape in <visual><geometry>".into()))?;
        let positive = |attribute: &'static str, v: f64| {
            if v > 0.0 {
                Ok(v)
            } else {
                Err(UrdfError::BadValue {
                    path: self.path.to_owned(),
                    element: "link",
                    name: link.to_owned(),
                    attribute,
                    value: v.to_string(),
                    expected: "positive",
                })
            }
        };
        let geometry = match shape.tag_name().name() {
            "box" => {
                let value = shape.attribute("size").ok_or_else(|| {
                    self.missing("link", link, "attribute `size` of <box>".into())
                })?;
                let size = self.numbers::<3>("link", link, "size", value)?;
                for v in size {
                    positive("size", v)?;
                }
                Geometry::Box { size }
            }
            "cylinder" => Geometry::Cylinder {
                radius: positive("radius", self.number(shape, "link", link, "radius")?)?,
                length: positive("length", self.number(shape, "link", link, "length")?)?,
            },
            "sphere" => Geometry::Sphere {
                radius: positive("radius", self.number(shape, "link", link, "radius")?)?,
            },
            "mesh" => Geometry::Mesh {
                filename: shape
                    .attribute("filename")
                    .ok_or_else(|| {
                        self.missing("link", link, "attribute `filename` of <mesh>".into())
                    })?
                    .to_owned(),
                scale: match shape.attribute("scale") {
                    Some(v) => self.numbers::<3>("link", link, "scale", v)?,
                    None => [1.0; 3],
                },
            },
            other => {
                return Err(UrdfError::BadValue {
                    path: self.path.to_owned(),
                    element: "link",
                    name: link.to_owned(),
                    attribute: "geometry",
                    value: other.to_owned(),
                    expected: "box, cylinder, sphere or mesh",
                });
            }
        };
        Ok(Visual {
            origin: self.origin(node, "link", link)?,
            geometry,
            color,
        })
    }

    fn joint(&self, node: roxmltree::Node<'_, '_>) -> Result<Joint, UrdfError> {
        let name = node
            .attribute("name")
            .ok_or_else(|| self.missing("joint", "?", "attribute `name`".into()))?
            .to_owned();
        let kind = match node.attribute("type") {
            Some("revolute") => JointKind::Revolute,
            Some("continuous") => JointKind::Continuous,
            Some("prismatic") => JointKind::Prismatic,
            Some("fixed") => JointKind::Fixed,
            Some(other) => {
                return Err(UrdfError::BadValue {
                    path: self.path.to_owned(),
                    element: "joint",
                    name,
                    attribute: "type",
                    value: other.to_owned(),
                    expected: "revolute, continuous, prismatic or fixed",
                });
            }
            None => return Err(self.missing("joint", &name, "attribute `type`".into())),
        };
        let link_of = |tag: &'static str| -> Result<String, UrdfError> {
            child(node, tag)
                .and_then(|n| n.attribute("link"))
                .map(str::to_owned)
                .ok_or_else(|| self.missing("joint", &name, format!("<{tag} link=...>")))
        };
        let parent = link_of("parent")?;
        let child_link = link_of("child")?;
        let axis_vec = match child(node, "axis").and_then(|a| a.attribute("xyz")) {
            Some(v) => Vector3::from(self.numbers::<3>("joint", &name, "xyz", v)?),
            None => Vector3::x(),
        };
        let axis = if kind == JointKind::Fixed {
            Unit::try_new(axis_vec, 1e-9).unwrap_or_else(Vector3::x_axis)
        } else {
            Unit::try_new(axis_vec, 1e-9)
                .ok_or_else(|| self.invalid(format!("joint `{name}` has a zero axis")))?
        };
        let limits = match child(node, "limit") {
            Some(l) => {
                let limits = JointLimits {
                    lower: l
                        .attribute("lower")
                        .map(|_| self.number(l, "joint", &name, "lower"))
                        .transpose()?
                        .unwrap_or(0.0),
                    upper: l
                        .attribute("upper")
                        .map(|_| self.number(l, "joint", &name, "upper"))
                        .transpose()?
                        .unwrap_or(0.0),
                    effort: self.number(l, "joint", &name, "effort")?,
                    velocity: self.number(l, "joint", &name, "velocity")?,
                };
                if limits.lower > limits.upper {
                    return Err(self.invalid(format!(
                        "joint `{name}` has lower limit {} above upper limit {}",
                        limits.lower, limits.upper
                    )));
                }
                Some(limits)
            }
            None if matches!(kind, JointKind::Revolute | JointKind::Prismatic) => {
                return Err(self.missing(
                    "joint",
                    &name,
                    "<limit> (required for this type)".into(),
                ));
            }
            None => None,
        };
        Ok(Joint {
            origin: self.origin(node, "joint", &name)?,
            name,
            kind,
            parent,
            child: child_link,
            axis,
            limits,
        })
    }
}

fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, tag: &str) -> Option<roxmltree::Node<'a, 'i>> {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name() == tag)
}

/// The URDF pose convention: translate by `xyz`, rotate by fixed-axis roll (X), pitch (Y),
/// yaw (Z), i.e. `R = Rz(yaw) * Ry(pitch) * Rx(roll)`.
pub fn pose_from_xyz_rpy(xyz: [f64; 3], rpy: [f64; 3]) -> Isometry3<f64> {
    Isometry3::from_parts(
        Translation3::new(xyz[0], xyz[1], xyz[2]),
        UnitQuaternion::from_euler_angles(rpy[0], rpy[1], rpy[2]),
    )
}
