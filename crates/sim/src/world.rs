//! The physical world: a Rapier scene with a robot arm loaded from its URDF as one multibody
//! (reduced coordinates, fixed base), driven by joint position motors with the gains and
//! effort limits of its `robot.toml`. Z up, gravity -9.81 m/s^2.

use std::collections::HashMap;

use rapier3d::prelude::*;
use rapier3d_urdf::{UrdfLoaderOptions, UrdfMultibodyOptions, UrdfRobot};
use thiserror::Error;

use crate::robot::Robot;
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
}

impl SimWorld {
    /// A world holding `robot` (starting at joint zero, motors driving towards the home pose),
    /// stepping at `dt` seconds.
    pub fn new(robot: &Robot, dt: f64) -> Result<Self, WorldError> {
        let mut physics = PhysicsWorld::new();
        physics.gravity = Vector::new(0.0, 0.0, -9.81);
        physics.integration_parameters.dt = dt as Real;

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
        let joint_names: Vec<String> = urdf_robot
            .joints
            .iter()
            .map(|j| description.joints[j.urdf_joint_index].name.clone())
            .collect();
        let link_names: Vec<String> = urdf_robot
            .links
            .iter()
            .map(|l| description.links[l.urdf_link_index].name.clone())
            .collect();
        let handles = urdf_robot.insert_using_multibody_joints(
            &mut physics.bodies,
            &mut physics.colliders,
            &mut physics.multibody_joints,
            UrdfMultibodyOptions::DISABLE_SELF_CONTACTS,
        );
        let links: HashMap<String, RigidBodyHandle> = link_names
            .into_iter()
            .zip(handles.links.iter().map(|l| l.body))
            .collect();
        let joint_handle = |name: &str| -> Result<ActuatedJoint, WorldError> {
            let handle = joint_names
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

        let mut world = Self {
            physics,
            arm,
            gripper,
            links,
            robot: robot.clone(),
            targets: robot.config.home.clone(),
            gripper_target: robot.config.gripper.open,
        };
        world.configure_motors();
        Ok(world)
    }

    fn configure_motors(&mut self) {
        let gains = self.robot.config.gains;
        let efforts: Vec<f64> = self.robot.config.joints.iter().map(|j| j.effort).collect();
        let grip_effort = self.robot.config.gripper.max_effort;
        let plan: Vec<(ActuatedJoint, f64, f64)> = self
            .arm
            .iter()
            .zip(&self.targets)
            .zip(&efforts)
            .map(|((j, t), e)| (*j, *t, *e))
            .chain(
                self.gripper
                    .iter()
                    .map(|j| (*j, self.gripper_target, grip_effort)),
            )
            .collect();
        for (joint, target, effort) in plan {
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
                        gains.stiffness as Real,
                        gains.damping as Real,
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

    /// Advances the simulation by one step.
    pub fn step(&mut self) {
        self.physics.step();
    }

    /// Current arm joint positions (rad or m).
    pub fn arm_positions(&self) -> Vec<f64> {
        self.arm
            .iter()
            .map(|j| {
                self.physics
                    .multibody_joints
                    .get(j.handle)
                    .and_then(|(mb, id)| mb.link(id))
                    .map(|link| f64::from(link.joint().coords()[j.axis as usize]))
                    .unwrap_or(f64::NAN)
            })
            .collect()
    }

    /// World pose of a link as (position, quaternion x y z w).
    pub fn link_pose(&self, name: &str) -> Option<([f64; 3], [f64; 4])> {
        let body = self.physics.bodies.get(*self.links.get(name)?)?;
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

    /// Simulation step in seconds.
    pub fn dt(&self) -> f64 {
        f64::from(self.physics.integration_parameters.dt)
    }
}
