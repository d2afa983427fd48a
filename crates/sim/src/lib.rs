//! Striatum's simulated world. This first layer holds what the physics builds on: robot
//! descriptions read from URDF, forward kinematics, geometric Jacobians and damped
//! least-squares inverse kinematics over a joint chain (nalgebra, REP-103 frames: Z up,
//! metres, radians).

pub mod kinematics;
pub mod robot;
pub mod urdf;
pub mod world;

pub use kinematics::{Chain, IkOptions, IkSolution, IkTarget, KinematicsError};
pub use robot::{Robot, RobotConfig, RobotError};
pub use urdf::{Inertial, Joint, JointKind, JointLimits, Link, Urdf, UrdfError};
pub use world::{SimWorld, WorldError};
