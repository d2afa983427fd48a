//! The physical world: a Rapier scene with a robot arm loaded from its URDF as one multibody
//! (reduced coordinates, fixed base), driven by joint position motors with the gains and
//! effort limits of its `robot.toml`, plus a table, loose objects and drawers placed by a
//! [`Layout`]. The world frame is the robot's base frame: Z up, the table top at z = 0,
//! gravity -9.81 m/s^2.

use std::collections::HashMap;

use rapier3d::prelude::*;
use rapier3d_urdf::{UrdfLoaderOptions, UrdfMultibodyOptions, UrdfRobot};
use thiserror::Error;

use crate::robot::Robot;
use crate::scene::{DrawerConfig, Shape};
use crate::urdf::JointKind;

/// Why a world could not be built or driven.
#[derive(Debug, Error)]
pub enum WorldError {
    /// Rapier's URDF loader rejected the robot.
    #[error("cannot load {} into the physics world: {message}", path.display())]
    Load {
        /// The URDF.
        path: std::path::PathBuf,
        /// The loader's message.
        message: String,
    },
    /// A joint of `robot.toml` has no counterpart in the physics multibody.
    #[error("joint `{0}` is not part of the physics multibody")]
    MissingJoint(String),
    /// A command of the wrong length or with non-finite values.
    #[error("expected {expected} finite joint targets, got {found:?}")]
    BadTargets {
        /// Arm joints.
        expected: usize,
        /// What was given.
        found: Vec<f64>,
    },
}

/// Natural frequency of contact constraints (Hz).
const CONTACT_HZ: Real = 300.0;

/// A robot parsed once for the physics engine; worlds are built from it cheaply.
#[derive(Clone)]
pub struct PhysicsRobot {
    robot: Robot,
    urdf_robot: UrdfRobot,
    joint_names: Vec<String>,
    link_names: Vec<String>,
}

impl PhysicsRobot {
    /// Loads the robot's URDF into Rapier's description.
    pub fn new(robot: &Robot) -> Result<Self, WorldError> {
        let options = UrdfLoaderOptions {
            create_colliders_from_collision_shapes: true,
            create_colliders_from_visual_shapes: false,
            apply_imported_mass_props: true,
            make_roots_fixed: true,
            ..Default::default()
        };
        let (urdf_robot, description) = UrdfRobot::from_file(&robot.urdf.source, options, None)
            .map_err(|e| WorldError::Load {
                path: robot.urdf.source.clone(),
                message: e.to_string(),
            })?;
        let joint_names = urdf_robot
            .joints
            .iter()
            .map(|j| description.joints[j.urdf_joint_index].name.clone())
            .collect();
        let link_names = urdf_robot
            .links
            .iter()
            .map(|l| description.links[l.urdf_link_index].name.clone())
            .collect();
        Ok(Self {
            robot: robot.clone(),
            urdf_robot,
            joint_names,
            link_names,
        })
    }

    /// The robot description.
    pub fn robot(&self) -> &Robot {
        &self.robot
    }
}

/// Everything besides the robot that a world holds, in the world frame.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Layout {
    /// The table, if any.
    pub table: Option<PlacedTable>,
    /// Loose objects.
    pub objects: Vec<PlacedObject>,
    /// Drawers.
    pub drawers: Vec<PlacedDrawer>,
    /// Arm joint values to start from (the motors hold them); joint zero when absent.
    pub arm_start: Option<Vec<f64>>,
}

/// A shape to draw, in the world frame.
#[derive(Debug, Clone, PartialEq)]
pub struct VisualShape {
    /// Robot link, object, drawer, `table` or target name.
    pub name: String,
    /// Geometry in the shape's own frame.
    pub geometry: VisualGeometry,
    /// World pose of the shape's frame.
    pub pose: nalgebra::Isometry3<f64>,
    /// Linear RGB in [0, 1].
    pub color: [f64; 3],
}

/// Primitive geometry, centred on its frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum VisualGeometry {
    /// A box with these half extents (m).
    Box {
        /// Half extents along x, y, z.
        half_extents: [f64; 3],
    },
    /// A cylinder along the local z axis.
    Cylinder {
        /// Radius (m).
        radius: f64,
        /// Half its length (m).
        half_height: f64,
    },
    /// A sphere.
    Sphere {
        /// Radius (m).
        radius: f64,
    },
}

/// Colour of robot links whose URDF gives none.
const DEFAULT_LINK_COLOR: [f64; 3] = [0.7, 0.7, 0.7];

/// A table whose top face is at z = 0.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedTable {
    /// Centre of the top face, x and y (m).
    pub center: [f64; 2],
    /// Length, width, thickness (m).
    pub size: [f64; 3],
    /// Friction coefficient.
    pub friction: f64,
    /// Linear RGB.
    pub color: [f64; 3],
}

/// A loose rigid object.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedObject {
    /// Name.
    pub name: String,
    /// Geometry.
    pub shape: Shape,
    /// Mass (kg).
    pub mass: f64,
    /// Friction coefficient.
    pub friction: f64,
    /// Centre position (m).
    pub position: [f64; 3],
    /// Yaw about z (rad).
    pub yaw: f64,
    /// Linear RGB.
    pub color: [f64; 3],
}

/// A drawer, closed at reset.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedDrawer {
    /// Its configuration (sizes, travel, damping).
    pub config: DrawerConfig,
    /// Centre of the closed drawer's front face (m).
    pub front: [f64; 3],
    /// Unit pull direction (horizontal).
    pub pull: [f64; 3],
}

struct DrawerBody {
    name: String,
    body: RigidBodyHandle,
    closed_center: [f64; 3],
    pull: [f64; 3],
    handle_offset: f64,
}

#[derive(Debug, Clone, Copy)]
struct ActuatedJoint {
    handle: MultibodyJointHandle,
    axis: JointAxis,
}

/// A simulated arm in a Rapier world.
pub struct SimWorld {
    physics: PhysicsWorld,
    arm: Vec<ActuatedJoint>,
    gripper: Vec<ActuatedJoint>,
    links: HashMap<String, RigidBodyHandle>,
    robot: Robot,
    targets: Vec<f64>,
    gripper_target: f64,
    objects: Vec<(String, RigidBodyHandle)>,
    drawers: Vec<DrawerBody>,
    colors: HashMap<RigidBodyHandle, [f64; 3]>,
    table: Option<RigidBodyHandle>,
}

impl SimWorld {
    /// A world holding only `robot` (starting at joint zero, motors driving towards the home
    /// pose), stepping at `dt` seconds.
    pub fn new(robot: &Robot, dt: f64) -> Result<Self, WorldError> {
        Self::build(&PhysicsRobot::new(robot)?, &Layout::default(), dt)
    }

    /// A fresh world: the robot (teleported to `layout.arm_start`, motors holding it, gripper
    /// open), the table, the objects at rest and the drawers closed. Building anew for every
    /// episode keeps episodes independent and bitwise reproducible.
    pub fn build(template: &PhysicsRobot, layout: &Layout, dt: f64) -> Result<Self, WorldError> {
        let robot = &template.robot;
        let mut physics = PhysicsWorld::new();
        physics.gravity = Vector::new(0.0, 0.0, -9.81);
        physics.integration_parameters.dt = dt as Real;
        // Contact recycling reuses a pair's contacts while the pair has moved less than 5 cm
        // (at length unit 1 m): at tabletop scale that keeps stale contacts that drag a 4 cm
        // cube along with a finger that has already left it. Every pair is updated every step.
        physics.integration_parameters.contact_recycling = false;
        // Rapier's contacts are springs whose stiffness scales with the bodies' masses (30 Hz by
        // default): a 70 N grasp sinks 4 cm into a 50 g cube. At 300 Hz the same grasp sinks
        // under 0.5 mm and the fingers stop at the cube's faces.
        physics
            .integration_parameters
            .contact_softness
            .natural_frequency = CONTACT_HZ;
        physics
            .integration_parameters
            .static_contact_softness
            .natural_frequency = 2.0 * CONTACT_HZ;

        let handles = template.urdf_robot.clone().insert_using_multibody_joints(
            &mut physics.bodies,
            &mut physics.colliders,
            &mut physics.multibody_joints,
            UrdfMultibodyOptions::DISABLE_SELF_CONTACTS,
        );
        let links: HashMap<String, RigidBodyHandle> = template
            .link_names
            .iter()
            .cloned()
            .zip(handles.links.iter().map(|l| l.body))
            .collect();
        let joint_handle = |name: &str| -> Result<ActuatedJoint, WorldError> {
            let handle = template
                .joint_names
                .iter()
                .position(|n| n == name)
                .and_then(|i| handles.joints[i].joint)
                .ok_or_else(|| WorldError::MissingJoint(name.to_owned()))?;
            let kind = robot
                .urdf
                .joints
                .iter()
                .find(|j| j.name == name)
                .map(|j| j.kind);
            let axis = if kind == Some(JointKind::Prismatic) {
                JointAxis::LinX
            } else {
                JointAxis::AngX
            };
            Ok(ActuatedJoint { handle, axis })
        };
        let arm = robot
            .config
            .joints
            .iter()
            .map(|j| joint_handle(&j.name))
            .collect::<Result<Vec<_>, _>>()?;
        let gripper = robot
            .config
            .gripper
            .joints
            .iter()
            .map(|n| joint_handle(n))
            .collect::<Result<Vec<_>, _>>()?;

        let start = match &layout.arm_start {
            Some(q) if q.len() == arm.len() && q.iter().all(|v| v.is_finite()) => Some(q.clone()),
            Some(q) => {
                return Err(WorldError::BadTargets {
                    expected: arm.len(),
                    found: q.clone(),
                });
            }
            None => None,
        };
        let mut world = Self {
            physics,
            arm,
            gripper,
            links,
            robot: robot.clone(),
            targets: start.clone().unwrap_or_else(|| robot.config.home.clone()),
            gripper_target: robot.config.gripper.open,
            objects: Vec::new(),
            drawers: Vec::new(),
            colors: HashMap::new(),
            table: None,
        };
        for (name, handle) in &world.links {
            let color = robot
                .urdf
                .link(name)
                .and_then(|l| l.color)
                .map_or(DEFAULT_LINK_COLOR, |c| [c[0], c[1], c[2]]);
            world.colors.insert(*handle, color);
        }
        if let Some(q) = start {
            let grip = world.robot.config.gripper.open;
            let plan: Vec<(ActuatedJoint, f64)> = world
                .arm
                .iter()
                .copied()
                .zip(q)
                .chain(world.gripper.iter().map(|j| (*j, grip)))
                .collect();
            world.teleport(&plan);
        }
        world.configure_motors();
        if let Some(table) = &layout.table {
            world.add_table(table);
        }
        for object in &layout.objects {
            world.add_object(object);
        }
        for drawer in &layout.drawers {
            world.add_drawer(drawer);
        }
        Ok(world)
    }

    /// Sets joint coordinates directly (from rest) and moves the links there.
    fn teleport(&mut self, plan: &[(ActuatedJoint, f64)]) {
        let mut root = None;
        for (joint, value) in plan {
            if let Some((multibody, link_id)) = self.physics.multibody_joints.get_mut(joint.handle)
                && let Some(link) = multibody.link_mut(link_id)
            {
                let current = link.joint().coords()[joint.axis as usize];
                let mut disp: [Real; 6] = [0.0; 6];
                disp[0] = *value as Real - current;
                link.joint.apply_displacement(&disp);
                root = Some(joint.handle);
            }
        }
        if let Some(handle) = root
            && let Some((multibody, _)) = self.physics.multibody_joints.get_mut(handle)
        {
            multibody.forward_kinematics(&self.physics.bodies, false);
            multibody.update_rigid_bodies(&mut self.physics.bodies, false);
        }
    }

    fn add_table(&mut self, table: &PlacedTable) {
        let [sx, sy, sz] = table.size;
        let body = RigidBodyBuilder::fixed().translation(Vector::new(
            table.center[0] as Real,
            table.center[1] as Real,
            (-sz / 2.0) as Real,
        ));
        let collider =
            ColliderBuilder::cuboid((sx / 2.0) as Real, (sy / 2.0) as Real, (sz / 2.0) as Real)
                .friction(table.friction as Real);
        let (handle, _) = self.physics.insert(body, collider);
        self.colors.insert(handle, table.color);
        self.table = Some(handle);
    }

    fn add_object(&mut self, object: &PlacedObject) {
        let [x, y, z] = object.position;
        let body = RigidBodyBuilder::dynamic()
            .translation(Vector::new(x as Real, y as Real, z as Real))
            .rotation(Vector::new(0.0, 0.0, object.yaw as Real))
            .can_sleep(false);
        let collider = match &object.shape {
            Shape::Box { size } => ColliderBuilder::cuboid(
                (size[0] / 2.0) as Real,
                (size[1] / 2.0) as Real,
                (size[2] / 2.0) as Real,
            ),
            // Rapier's cylinders stand along y: turn them upright.
            Shape::Cylinder { radius, height } => {
                ColliderBuilder::cylinder((height / 2.0) as Real, *radius as Real)
                    .rotation(Vector::new(std::f64::consts::FRAC_PI_2 as Real, 0.0, 0.0))
            }
            Shape::Sphere { radius } => ColliderBuilder::ball(*radius as Real),
        }
        .mass(object.mass as Real)
        .friction(object.friction as Real)
        .restitution(0.0);
        let (handle, _) = self.physics.insert(body, collider);
        self.colors.insert(handle, object.color);
        self.objects.push((object.name.clone(), handle));
    }

    fn add_drawer(&mut self, drawer: &PlacedDrawer) {
        let c = &drawer.config;
        let [depth, width, height] = c.size;
        let u = drawer.pull;
        let yaw = u[1].atan2(u[0]);
        let center = [
            drawer.front[0] - u[0] * depth / 2.0,
            drawer.front[1] - u[1] * depth / 2.0,
            c.bottom + height / 2.0,
        ];
        let at = Vector::new(center[0] as Real, center[1] as Real, center[2] as Real);
        let rotation = Vector::new(0.0, 0.0, yaw as Real);
        let anchor = self
            .physics
            .insert_body(RigidBodyBuilder::fixed().translation(at).rotation(rotation));
        let body = self.physics.insert_body(
            RigidBodyBuilder::dynamic()
                .translation(at)
                .rotation(rotation)
                .can_sleep(false),
        );
        let box_collider = ColliderBuilder::cuboid(
            (depth / 2.0) as Real,
            (width / 2.0) as Real,
            (height / 2.0) as Real,
        )
        .mass(c.mass as Real)
        .friction(0.8);
        self.physics
            .colliders
            .insert_with_parent(box_collider, body, &mut self.physics.bodies);
        // The bar and its two posts, in front of the front face (local +x).
        let [bar_len, bar_thick, bar_high] = c.handle_size;
        let bar_x = depth / 2.0 + c.handle_standoff;
        let pieces = [
            ([bar_x, 0.0], [bar_thick / 2.0, bar_len / 2.0]),
            (
                [depth / 2.0 + c.handle_standoff / 2.0, bar_len / 2.0 - 0.005],
                [c.handle_standoff / 2.0, 0.005],
            ),
            (
                [
                    depth / 2.0 + c.handle_standoff / 2.0,
                    -(bar_len / 2.0 - 0.005),
                ],
                [c.handle_standoff / 2.0, 0.005],
            ),
        ];
        for ([px, py], [hx, hy]) in pieces {
            let piece = ColliderBuilder::cuboid(hx as Real, hy as Real, (bar_high / 2.0) as Real)
                .translation(Vector::new(px as Real, py as Real, 0.0))
                .mass(0.01)
                .friction(1.0);
            self.physics
                .colliders
                .insert_with_parent(piece, body, &mut self.physics.bodies);
        }
        let mut slide = PrismaticJointBuilder::new(Vector::X)
            .limits([0.0, c.travel as Real])
            .motor_model(MotorModel::ForceBased)
            .motor_velocity(0.0, c.damping as Real)
            .build();
        slide.set_contacts_enabled(false);
        self.physics.insert_impulse_joint(anchor, body, slide);
        self.colors.insert(body, c.color);
        self.drawers.push(DrawerBody {
            name: c.name.clone(),
            body,
            closed_center: center,
            pull: u,
            handle_offset: bar_x,
        });
    }

    fn configure_motors(&mut self) {
        let gains = self.robot.config.gains;
        let efforts: Vec<f64> = self.robot.config.joints.iter().map(|j| j.effort).collect();
        let grip_effort = self.robot.config.gripper.max_effort;
        let plan: Vec<(ActuatedJoint, f64, f64, f64, f64)> = self
            .arm
            .iter()
            .zip(&self.targets)
            .zip(&efforts)
            .map(|((j, t), e)| (*j, *t, *e, gains.stiffness, gains.damping))
            .chain(self.gripper.iter().map(|j| {
                (
                    *j,
                    self.gripper_target,
                    grip_effort,
                    gains.stiffness,
                    gains.damping,
                )
            }))
            .collect();
        for (joint, target, effort, stiffness, damping) in plan {
            let link = self
                .physics
                .multibody_joints
                .get_mut(joint.handle)
                .and_then(|(multibody, link_id)| multibody.link_mut(link_id));
            if let Some(link) = link {
                link.joint
                    .data
                    .set_motor_model(joint.axis, MotorModel::ForceBased)
                    .set_motor_position(
                        joint.axis,
                        target as Real,
                        stiffness as Real,
                        damping as Real,
                    )
                    .set_motor_max_force(joint.axis, effort as Real);
            }
        }
        // Motor targets do not wake a sleeping island by themselves.
        self.physics.wake_up_all(true);
    }

    /// Sets the arm's joint position targets (clamped to the `robot.toml` limits).
    pub fn set_arm_targets(&mut self, q: &[f64]) -> Result<(), WorldError> {
        if q.len() != self.arm.len() || q.iter().any(|v| !v.is_finite()) {
            return Err(WorldError::BadTargets {
                expected: self.arm.len(),
                found: q.to_vec(),
            });
        }
        self.targets = q
            .iter()
            .zip(&self.robot.config.joints)
            .map(|(v, j)| v.clamp(j.lower, j.upper))
            .collect();
        self.configure_motors();
        Ok(())
    }

    /// Sets the gripper's target as a closure in [0, 1] (0 open, 1 closed); the gripper joints
    /// push with at most `gripper.max_effort`, so a grasp holds with bounded force.
    pub fn set_gripper(&mut self, closure: f64) -> Result<(), WorldError> {
        if !closure.is_finite() {
            return Err(WorldError::BadTargets {
                expected: 1,
                found: vec![closure],
            });
        }
        let g = &self.robot.config.gripper;
        self.gripper_target = g.open + closure.clamp(0.0, 1.0) * (g.closed - g.open);
        self.configure_motors();
        Ok(())
    }

    /// Current arm joint position targets.
    pub fn arm_targets(&self) -> &[f64] {
        &self.targets
    }

    /// Measured gripper closure (0 open, 1 closed), from the first gripper joint.
    pub fn gripper_closure(&self) -> f64 {
        let g = &self.robot.config.gripper;
        let q = self
            .gripper
            .first()
            .map(|j| self.coordinate(j))
            .unwrap_or(g.open);
        ((q - g.open) / (g.closed - g.open)).clamp(0.0, 1.0)
    }

    fn coordinate(&self, j: &ActuatedJoint) -> f64 {
        self.physics
            .multibody_joints
            .get(j.handle)
            .and_then(|(mb, id)| mb.link(id))
            .map(|link| f64::from(link.joint().coords()[j.axis as usize]))
            .unwrap_or(f64::NAN)
    }

    /// Current arm joint velocities (rad/s or m/s).
    pub fn arm_velocities(&self) -> Vec<f64> {
        self.arm
            .iter()
            .map(|j| {
                self.physics
                    .multibody_joints
                    .get(j.handle)
                    .and_then(|(mb, id)| mb.link(id).map(|link| mb.joint_velocity(link)))
                    .and_then(|v| v.get(0).copied())
                    .map_or(f64::NAN, f64::from)
            })
            .collect()
    }

    /// Names of the loose objects, in layout order.
    pub fn object_names(&self) -> impl Iterator<Item = &str> {
        self.objects.iter().map(|(n, _)| n.as_str())
    }

    /// World pose of a loose object as (position, quaternion x y z w).
    pub fn object_pose(&self, name: &str) -> Option<([f64; 3], [f64; 4])> {
        let (_, handle) = self.objects.iter().find(|(n, _)| n == name)?;
        self.body_pose(*handle)
    }

    /// Names of the drawers, in layout order.
    pub fn drawer_names(&self) -> impl Iterator<Item = &str> {
        self.drawers.iter().map(|d| d.name.as_str())
    }

    /// How far a drawer is open (m).
    pub fn drawer_opening(&self, name: &str) -> Option<f64> {
        let d = self.drawers.iter().find(|d| d.name == name)?;
        let (p, _) = self.body_pose(d.body)?;
        Some(
            (0..3)
                .map(|k| (p[k] - d.closed_center[k]) * d.pull[k])
                .sum(),
        )
    }

    /// Unit direction a drawer opens along (world frame).
    pub fn drawer_pull(&self, name: &str) -> Option<[f64; 3]> {
        self.drawers.iter().find(|d| d.name == name).map(|d| d.pull)
    }

    /// World position of the centre of a drawer's handle bar.
    pub fn drawer_handle(&self, name: &str) -> Option<[f64; 3]> {
        let d = self.drawers.iter().find(|d| d.name == name)?;
        let (p, _) = self.body_pose(d.body)?;
        Some([
            p[0] + d.pull[0] * d.handle_offset,
            p[1] + d.pull[1] * d.handle_offset,
            p[2],
        ])
    }

    fn body_pose(&self, handle: RigidBodyHandle) -> Option<([f64; 3], [f64; 4])> {
        let body = self.physics.bodies.get(handle)?;
        let pose = body.position();
        let t = pose.translation;
        let r = pose.rotation;
        Some((
            [f64::from(t.x), f64::from(t.y), f64::from(t.z)],
            [
                f64::from(r.x),
                f64::from(r.y),
                f64::from(r.z),
                f64::from(r.w),
            ],
        ))
    }

    /// Every collider as a shape to draw (robot links in their URDF colours, objects, drawers
    /// and the table in their scene colours).
    pub fn visual_shapes(&self) -> Vec<VisualShape> {
        let mut shapes = Vec::new();
        for (handle, collider) in self.physics.colliders.iter() {
            let Some(body) = collider.parent() else {
                continue;
            };
            let pose = collider.position();
            let t = pose.translation;
            let r = pose.rotation;
            let mut iso = nalgebra::Isometry3::from_parts(
                nalgebra::Translation3::new(f64::from(t.x), f64::from(t.y), f64::from(t.z)),
                nalgebra::UnitQuaternion::from_quaternion(nalgebra::Quaternion::new(
                    f64::from(r.w),
                    f64::from(r.x),
                    f64::from(r.y),
                    f64::from(r.z),
                )),
            );
            let shape = collider.shape();
            let geometry = if let Some(c) = shape.as_cuboid() {
                let h = c.half_extents;
                VisualGeometry::Box {
                    half_extents: [f64::from(h.x), f64::from(h.y), f64::from(h.z)],
                }
            } else if let Some(c) = shape.as_cylinder() {
                // Rapier's cylinders run along their local y axis; ours along z.
                iso *= nalgebra::UnitQuaternion::from_axis_angle(
                    &nalgebra::Vector3::x_axis(),
                    -std::f64::consts::FRAC_PI_2,
                );
                VisualGeometry::Cylinder {
                    radius: f64::from(c.radius),
                    half_height: f64::from(c.half_height),
                }
            } else if let Some(b) = shape.as_ball() {
                VisualGeometry::Sphere {
                    radius: f64::from(b.radius),
                }
            } else {
                continue;
            };
            let name = if Some(body) == self.table {
                "table".to_owned()
            } else {
                self.body_name(handle)
            };
            shapes.push(VisualShape {
                name,
                geometry,
                pose: iso,
                color: self
                    .colors
                    .get(&body)
                    .copied()
                    .unwrap_or(DEFAULT_LINK_COLOR),
            });
        }
        shapes
    }

    /// Axis-aligned bounds (min, max corners) of every collider, named like [`Self::contacts`].
    pub fn collider_bounds(&self) -> Vec<(String, [f64; 3], [f64; 3])> {
        self.physics
            .colliders
            .iter()
            .map(|(handle, collider)| {
                let aabb = collider.compute_aabb();
                let v = |p: Vector| [f64::from(p.x), f64::from(p.y), f64::from(p.z)];
                (self.body_name(handle), v(aabb.mins), v(aabb.maxs))
            })
            .collect()
    }

    fn body_name(&self, collider: ColliderHandle) -> String {
        let Some(body) = self
            .physics
            .colliders
            .get(collider)
            .and_then(|c| c.parent())
        else {
            return "fixed".to_owned();
        };
        self.links
            .iter()
            .find(|(_, h)| **h == body)
            .map(|(n, _)| n.clone())
            .or_else(|| {
                self.objects
                    .iter()
                    .find(|(_, h)| *h == body)
                    .map(|(n, _)| n.clone())
            })
            .or_else(|| {
                self.drawers
                    .iter()
                    .find(|d| d.body == body)
                    .map(|d| d.name.clone())
            })
            .unwrap_or_else(|| "fixed".to_owned())
    }

    /// Pairs of bodies in touch now, by name (robot links by link name, objects and drawers
    /// by scene name, anything else as `fixed`).
    pub fn contacts(&self) -> Vec<(String, String)> {
        let name_of = |collider: ColliderHandle| self.body_name(collider);
        let mut pairs: Vec<(String, String)> = self
            .physics
            .contact_pairs()
            .filter(|p| p.has_any_active_contact())
            .map(|p| {
                let (a, b) = (name_of(p.collider1), name_of(p.collider2));
                if a <= b { (a, b) } else { (b, a) }
            })
            .collect();
        pairs.sort();
        pairs.dedup();
        pairs
    }

    /// The robot in this world.
    pub fn robot(&self) -> &Robot {
        &self.robot
    }

    /// Advances the simulation by one step.
    pub fn step(&mut self) {
        self.physics.step();
    }

    /// Current arm joint positions (rad or m).
    pub fn arm_positions(&self) -> Vec<f64> {
        self.arm.iter().map(|j| self.coordinate(j)).collect()
    }

    /// World pose of a link as (position, quaternion x y z w).
    pub fn link_pose(&self, name: &str) -> Option<([f64; 3], [f64; 4])> {
        self.body_pose(*self.links.get(name)?)
    }

    /// Simulation step in seconds.
    pub fn dt(&self) -> f64 {
        f64::from(self.physics.integration_parameters.dt)
    }
}
