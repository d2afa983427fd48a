//! Striatum's simulated world: robot descriptions read from URDF, forward kinematics,
//! geometric Jacobians and damped least-squares inverse kinematics over a joint chain
//! (nalgebra, REP-103 frames: Z up, metres, radians); the Rapier world with tables, objects and
//! drawers; scenes written as TOML with declarative success predicates and privileged
//! progress; the gym-style environment with end-effector control; and scripted experts.

pub mod camera;
pub mod env;
pub mod expert;
pub mod kinematics;
pub mod robot;
pub mod rollout;
pub mod scene;
pub mod task;
pub mod urdf;
pub mod world;

pub use camera::{CameraConfig, CameraError, Extrinsics, Parent, load_rig, merge_cameras};
pub use env::{Action, Env, EnvError, Observation, Rng, Step, StepInfo, VecEnv};
pub use expert::{ScriptedExpert, Variant};
pub use kinematics::{Chain, IkOptions, IkSolution, IkTarget, KinematicsError};
pub use robot::{Robot, RobotConfig, RobotError};
pub use rollout::{EpisodeSummary, Summary, run_episode, run_expert};
pub use scene::{SceneConfig, SceneError};
pub use task::{Predicate, Progress, TaskState};
pub use urdf::{Geometry, Inertial, Joint, JointKind, JointLimits, Link, Urdf, UrdfError, Visual};
pub use world::{Layout, PhysicsRobot, SimWorld, VisualGeometry, VisualShape, WorldError};
