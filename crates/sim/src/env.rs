//! The environment: `reset(seed)` and `step(&Action)` over a scene and a robot, with
//! end-effector delta control through inverse kinematics, sparse success reward and privileged
//! progress in the step info. Same seed and same actions give a bitwise-identical trajectory:
//! every reset builds a fresh physics world from the seed.
//!
//! **End-effector control.** The environment keeps a commanded tool pose (tool centre point
//! position and orientation, base frame). An [`Action::EeDelta`] moves it by at most
//! `max_translation` metres and `max_rotation` radians per control step, clips the position to
//! the robot's workspace box and to `max_lead` metres from where the tool actually is (no
//! wind-up against obstacles), solves damped least-squares IK warm-started from the current
//! joint targets, limits each joint's change to its velocity limit, and sends the result to
//! the joint motors. `pose` arms (Panda) follow position and orientation; `position_yaw` arms
//! (SO-101, 5 DoF) follow position exactly and the tool's yaw about the vertical with the tool
//! pointing down as closely as their joints allow (roll and pitch deltas are ignored).

use std::path::Path;

use nalgebra::{Isometry3, Translation3, UnitQuaternion, Vector3};
use thiserror::Error;

use crate::camera::{CameraConfig, CameraError, Parent};
use crate::kinematics::{IkOptions, IkTarget};
use crate::robot::Robot;
use crate::scene::{FixtureConfig, Marker, SceneConfig, SceneError};
use crate::task::{self, TaskState};
use crate::urdf::pose_from_xyz_rpy;
use crate::world::{
    Layout, PhysicsRobot, PlacedDrawer, PlacedObject, PlacedTable, SimWorld, VisualGeometry,
    VisualShape, WorldError,
};

/// Why an environment could not be made or stepped.
#[derive(Debug, Error)]
pub enum EnvError {
    /// The scene is broken or does not support the robot.
    #[error(transparent)]
    Scene(#[from] SceneError),
    /// The robot description is broken.
    #[error(transparent)]
    Robot(#[from] crate::robot::RobotError),
    /// The physics world could not be built or driven.
    #[error(transparent)]
    World(#[from] WorldError),
    /// An action with the wrong shape or non-finite values.
    #[error("bad action: {0}")]
    BadAction(String),
    /// `step` before `reset`, or after the episode ended.
    #[error("the episode has ended (or was never started): call reset first")]
    NotRunning,
    /// The scene's layout could not be drawn with the required separation.
    #[error("scene `{0}`: no layout with the required min_separation after 1000 draws")]
    Layout(String),
}

/// An action.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Move the commanded tool pose: translation (m, base frame) and rotation (roll, pitch,
    /// yaw increments about the base axes, rad); gripper closure in [0, 1] (0 open, 1 closed).
    EeDelta {
        /// Translation (m).
        translation: [f64; 3],
        /// Rotation increments (rad).
        rotation: [f64; 3],
        /// Gripper closure.
        gripper: f64,
    },
    /// Absolute arm joint targets (clamped to the limits) and gripper closure.
    Joints {
        /// One value per arm joint (rad or m).
        positions: Vec<f64>,
        /// Gripper closure.
        gripper: f64,
    },
}

impl Action {
    /// Length of the flat end-effector action vector: dx, dy, dz, droll, dpitch, dyaw, gripper.
    pub const EE_DIM: usize = 7;

    /// An end-effector action from its flat form `[dx, dy, dz, droll, dpitch, dyaw, gripper]`.
    pub fn ee_from_slice(v: &[f64]) -> Result<Self, EnvError> {
        if v.len() != Self::EE_DIM {
            return Err(EnvError::BadAction(format!(
                "expected {} values [dx, dy, dz, droll, dpitch, dyaw, gripper], got {}",
                Self::EE_DIM,
                v.len()
            )));
        }
        Ok(Action::EeDelta {
            translation: [v[0], v[1], v[2]],
            rotation: [v[3], v[4], v[5]],
            gripper: v[6],
        })
    }

    /// The flat form of an end-effector action (`None` for joint actions).
    pub fn ee_to_vec(&self) -> Option<Vec<f64>> {
        match self {
            Action::EeDelta {
                translation,
                rotation,
                gripper,
            } => {
                let mut v = translation.to_vec();
                v.extend_from_slice(rotation);
                v.push(*gripper);
                Some(v)
            }
            Action::Joints { .. } => None,
        }
    }

    fn check(&self, dof: usize) -> Result<(), EnvError> {
        let (values, gripper): (Vec<f64>, f64) = match self {
            Action::EeDelta {
                translation,
                rotation,
                gripper,
            } => (
                translation.iter().chain(rotation).copied().collect(),
                *gripper,
            ),
            Action::Joints { positions, gripper } => {
                if positions.len() != dof {
                    return Err(EnvError::BadAction(format!(
                        "expected {dof} joint targets, got {}",
                        positions.len()
                    )));
                }
                (positions.clone(), *gripper)
            }
        };
        if values.iter().chain([&gripper]).any(|v| !v.is_finite()) {
            return Err(EnvError::BadAction(format!("non-finite value in {self:?}")));
        }
        Ok(())
    }
}

/// Settings of the end-effector controller.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ControlOptions {
    /// Largest tool translation per control step (m).
    pub max_translation: f64,
    /// Largest tool rotation per control step (rad).
    pub max_rotation: f64,
    /// Largest distance between the commanded and the measured tool position (m).
    pub max_lead: f64,
}

impl Default for ControlOptions {
    fn default() -> Self {
        Self {
            max_translation: 0.03,
            max_rotation: 0.25,
            max_lead: 0.05,
        }
    }
}

/// Pose of a named thing (privileged: not available to a real robot's policy).
#[derive(Debug, Clone, PartialEq)]
pub struct NamedPose {
    /// Name from the scene.
    pub name: String,
    /// Position (m, world frame).
    pub position: [f64; 3],
    /// Orientation, quaternion x y z w.
    pub orientation: [f64; 4],
}

/// Privileged scene state.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Privileged {
    /// Loose objects.
    pub objects: Vec<NamedPose>,
    /// Target markers (identity orientation).
    pub targets: Vec<NamedPose>,
    /// Fixture joint values, by name (m or rad).
    pub fixtures: Vec<(String, f64)>,
    /// Drawer handle centres, by `<drawer>.handle`.
    pub handles: Vec<(String, [f64; 3])>,
}

/// What the policy sees after reset and after every step.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Arm joint positions (rad or m).
    pub joint_positions: Vec<f64>,
    /// Arm joint velocities.
    pub joint_velocities: Vec<f64>,
    /// Tool centre point position (m, world = robot base frame).
    pub ee_position: [f64; 3],
    /// Tool orientation, quaternion x y z w.
    pub ee_orientation: [f64; 4],
    /// Measured gripper closure (0 open, 1 closed).
    pub gripper: f64,
    /// The episode's instruction.
    pub instruction: String,
    /// Object, target and fixture state, marked privileged.
    pub privileged: Privileged,
    /// Control steps since reset.
    pub step: usize,
}

impl Observation {
    /// Position of a named entity as the task predicates see it.
    pub fn position(&self, entity: &str) -> Option<[f64; 3]> {
        if entity == "ee" {
            return Some(self.ee_position);
        }
        let p = &self.privileged;
        p.objects
            .iter()
            .chain(&p.targets)
            .find(|o| o.name == entity)
            .map(|o| o.position)
            .or_else(|| p.handles.iter().find(|(n, _)| n == entity).map(|(_, x)| *x))
    }
}

impl TaskState for Observation {
    fn position(&self, entity: &str) -> Option<[f64; 3]> {
        Observation::position(self, entity)
    }
    fn fixture(&self, name: &str) -> Option<f64> {
        self.privileged
            .fixtures
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, q)| *q)
    }
    fn gripper_closure(&self) -> f64 {
        self.gripper
    }
}

/// Per-step facts beyond the observation.
#[derive(Debug, Clone, PartialEq)]
pub struct StepInfo {
    /// Whether the success predicate holds.
    pub success: bool,
    /// Privileged progress in [0, 1] (see [`crate::task`]).
    pub progress: f64,
    /// Index of the stage being worked on (the number of stages on success).
    pub stage: usize,
    /// Its name (`done` on success).
    pub stage_name: String,
}

/// The result of a step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The new observation.
    pub obs: Observation,
    /// Sparse task reward: 1 on the step that reaches success, else 0.
    pub reward: f64,
    /// The episode ended in success.
    pub terminated: bool,
    /// The episode hit the time limit.
    pub truncated: bool,
    /// Success, progress and stage.
    pub info: StepInfo,
}

/// A small deterministic generator (SplitMix64) for layouts and experts.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x0005_EED0_F57A_71A7_u64)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [-a, a].
    pub fn symmetric(&mut self, a: f64) -> f64 {
        (2.0 * self.uniform() - 1.0) * a
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// A scene laid out for one episode, in the world frame.
#[derive(Debug, Clone, PartialEq)]
pub struct EpisodeLayout {
    /// What the world holds.
    pub layout: Layout,
    /// Target markers.
    pub targets: Vec<NamedPose>,
    /// The instruction drawn for the episode.
    pub instruction: String,
}

/// One environment: a scene with one robot.
pub struct Env {
    scene: SceneConfig,
    template: PhysicsRobot,
    offset: [f64; 2],
    start: Vec<f64>,
    control: ControlOptions,
    world: Option<SimWorld>,
    targets: Vec<NamedPose>,
    instruction: String,
    command: Isometry3<f64>,
    yaw: f64,
    step: usize,
    done: bool,
    continue_after_done: bool,
}

impl Env {
    /// An environment for `scene` with `robot` (the scene must place it).
    pub fn new(scene: SceneConfig, robot: &Robot, scene_path: &Path) -> Result<Self, EnvError> {
        let placement = scene.placement(&robot.config.name, scene_path)?;
        let offset = placement.base;
        let start = placement
            .start
            .clone()
            .unwrap_or_else(|| robot.config.home.clone());
        if start.len() != robot.config.joints.len() {
            return Err(SceneError::Invalid {
                path: scene_path.to_path_buf(),
                key: format!("robots.{}.start", robot.config.name),
                what: format!(
                    "has {} values for {} joints",
                    start.len(),
                    robot.config.joints.len()
                ),
            }
            .into());
        }
        Ok(Self {
            template: PhysicsRobot::new(robot)?,
            scene,
            offset,
            start,
            control: ControlOptions::default(),
            world: None,
            targets: Vec::new(),
            instruction: String::new(),
            command: Isometry3::identity(),
            yaw: 0.0,
            step: 0,
            done: true,
            continue_after_done: false,
        })
    }

    /// Loads the scene file and the robot directory (or `robot.toml`) and makes an environment.
    pub fn load(scene: impl AsRef<Path>, robot: impl AsRef<Path>) -> Result<Self, EnvError> {
        let scene_path = scene.as_ref();
        let config = SceneConfig::load(scene_path)?;
        let robot = Robot::load(robot)?;
        Self::new(config, &robot, scene_path)
    }

    /// Replaces the controller settings.
    pub fn set_control(&mut self, control: ControlOptions) {
        self.control = control;
    }

    /// The controller settings.
    pub fn control(&self) -> ControlOptions {
        self.control
    }

    /// The scene.
    pub fn scene(&self) -> &SceneConfig {
        &self.scene
    }

    /// The robot.
    pub fn robot(&self) -> &Robot {
        self.template.robot()
    }

    /// The physics world of the running episode.
    pub fn world(&self) -> Option<&SimWorld> {
        self.world.as_ref()
    }

    /// Seconds per control step.
    pub fn control_dt(&self) -> f64 {
        1.0 / self.scene.control_hz
    }

    /// Draws the episode's layout from `seed` (objects, targets and drawers jittered within the
    /// scene's ranges, redrawn until `min_separation` holds; an instruction).
    pub fn layout(&self, seed: u64) -> Result<EpisodeLayout, EnvError> {
        let s = &self.scene;
        let mut rng = Rng::new(seed);
        let [ox, oy] = self.offset;
        let to_world = |p: [f64; 2]| [p[0] - ox, p[1] - oy];
        for _ in 0..1000 {
            let objects: Vec<PlacedObject> = s
                .objects
                .iter()
                .map(|o| {
                    let xy = to_world([
                        o.position[0] + rng.symmetric(o.jitter[0]),
                        o.position[1] + rng.symmetric(o.jitter[1]),
                    ]);
                    PlacedObject {
                        name: o.name.clone(),
                        shape: o.shape.clone(),
                        mass: o.mass,
                        friction: o.friction,
                        position: [xy[0], xy[1], o.shape.half_height()],
                        yaw: o.yaw + rng.symmetric(o.yaw_jitter),
                        color: o.color,
                    }
                })
                .collect();
            let targets: Vec<NamedPose> = s
                .targets
                .iter()
                .map(|t| {
                    let xy = to_world([
                        t.position[0] + rng.symmetric(t.jitter[0]),
                        t.position[1] + rng.symmetric(t.jitter[1]),
                    ]);
                    NamedPose {
                        name: t.name.clone(),
                        position: [xy[0], xy[1], t.position[2] + rng.symmetric(t.jitter[2])],
                        orientation: [0.0, 0.0, 0.0, 1.0],
                    }
                })
                .collect();
            let drawers: Vec<PlacedDrawer> = s
                .fixtures
                .iter()
                .map(|f| {
                    let FixtureConfig::Drawer(d) = f;
                    let xy = to_world([
                        d.position[0] + rng.symmetric(d.jitter[0]),
                        d.position[1] + rng.symmetric(d.jitter[1]),
                    ]);
                    PlacedDrawer {
                        config: d.clone(),
                        front: [xy[0], xy[1], d.bottom + d.size[2] / 2.0],
                        pull: [d.pull[0], d.pull[1], 0.0],
                    }
                })
                .collect();
            let mut points: Vec<[f64; 2]> = objects
                .iter()
                .map(|o| [o.position[0], o.position[1]])
                .collect();
            points.extend(targets.iter().map(|t| [t.position[0], t.position[1]]));
            points.extend(drawers.iter().map(|d| [d.front[0], d.front[1]]));
            let separated = points.iter().enumerate().all(|(i, a)| {
                points[i + 1..]
                    .iter()
                    .all(|b| (a[0] - b[0]).hypot(a[1] - b[1]) >= s.min_separation)
            });
            if !separated {
                continue;
            }
            let instruction =
                s.instructions[(rng.next_u64() % s.instructions.len() as u64) as usize].clone();
            let table = PlacedTable {
                center: to_world(s.table.center),
                size: s.table.size,
                friction: s.table.friction,
                color: s.table.color,
            };
            return Ok(EpisodeLayout {
                layout: Layout {
                    table: Some(table),
                    objects,
                    drawers,
                    arm_start: Some(self.start.clone()),
                },
                targets,
                instruction,
            });
        }
        Err(EnvError::Layout(s.name.clone()))
    }

    /// Starts an episode from `seed`.
    pub fn reset(&mut self, seed: u64) -> Result<Observation, EnvError> {
        let episode = self.layout(seed)?;
        let dt = 1.0 / self.scene.physics_hz;
        let world = SimWorld::build(&self.template, &episode.layout, dt)?;
        self.targets = episode.targets;
        self.instruction = episode.instruction;
        self.step = 0;
        self.done = false;
        let robot = self.template.robot();
        let tool = robot.arm.fk(&self.start).map_err(|e| {
            EnvError::BadAction(format!("start configuration rejected by kinematics: {e}"))
        })?;
        self.yaw = yaw_of(&tool.rotation, &self.tool_down());
        self.command = if self.position_yaw() {
            Isometry3::from_parts(tool.translation, self.oriented(self.yaw))
        } else {
            tool
        };
        self.world = Some(world);
        Ok(self.observe())
    }

    fn position_yaw(&self) -> bool {
        self.template.robot().config.end_effector.control == "position_yaw"
    }

    fn tool_down(&self) -> UnitQuaternion<f64> {
        let [r, p, y] = self.template.robot().config.end_effector.tool_down_rpy;
        UnitQuaternion::from_euler_angles(r, p, y)
    }

    fn oriented(&self, yaw: f64) -> UnitQuaternion<f64> {
        UnitQuaternion::from_axis_angle(&Vector3::z_axis(), yaw) * self.tool_down()
    }

    /// Lets [`Env::step`] continue an episode that has ended (success or time limit) until the
    /// next reset, e.g. to record what follows success. Later steps still report
    /// `terminated`/`truncated` as the state warrants.
    pub fn set_continue_after_done(&mut self, on: bool) {
        self.continue_after_done = on;
    }

    /// Advances one control step.
    pub fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        if self.done && !(self.continue_after_done && self.world.is_some()) {
            return Err(EnvError::NotRunning);
        }
        let robot = self.template.robot().clone();
        action.check(robot.config.joints.len())?;
        let world = self.world.as_mut().ok_or(EnvError::NotRunning)?;
        let current = world.arm_targets().to_vec();
        let (desired, gripper) = match action {
            Action::Joints { positions, gripper } => (positions.clone(), *gripper),
            Action::EeDelta {
                translation,
                rotation,
                gripper,
            } => {
                let c = self.control;
                let mut d = Vector3::from_column_slice(translation);
                if d.norm() > c.max_translation {
                    d *= c.max_translation / d.norm();
                }
                let ee = &robot.config.end_effector;
                let measured = robot
                    .arm
                    .fk(&world.arm_positions())
                    .map(|p| p.translation.vector)
                    .unwrap_or(self.command.translation.vector);
                let mut p = self.command.translation.vector + d;
                for k in 0..3 {
                    p[k] = p[k].clamp(ee.workspace_min[k], ee.workspace_max[k]);
                }
                let lead = p - measured;
                if lead.norm() > c.max_lead {
                    p = measured + lead * (c.max_lead / lead.norm());
                }
                let clip = |v: f64| v.clamp(-c.max_rotation, c.max_rotation);
                let target = if ee.control == "position_yaw" {
                    self.yaw = wrap(self.yaw + clip(rotation[2]));
                    let rot = UnitQuaternion::from_axis_angle(&Vector3::z_axis(), self.yaw) * {
                        let [r, pi, y] = ee.tool_down_rpy;
                        UnitQuaternion::from_euler_angles(r, pi, y)
                    };
                    self.command = Isometry3::from_parts(Translation3::from(p), rot);
                    IkTarget::position_preferring(self.command)
                } else {
                    let delta = UnitQuaternion::from_euler_angles(
                        clip(rotation[0]),
                        clip(rotation[1]),
                        clip(rotation[2]),
                    );
                    self.command =
                        Isometry3::from_parts(Translation3::from(p), delta * self.command.rotation);
                    IkTarget::pose(self.command, 0.1)
                };
                let options = IkOptions {
                    restarts: 0,
                    max_iterations: 60,
                    ..IkOptions::default()
                };
                let solution = robot
                    .arm
                    .ik(&target, &current, &options)
                    .map_err(|e| EnvError::BadAction(e.to_string()))?;
                (solution.q, *gripper)
            }
        };
        // Joint speed limits.
        let dt = 1.0 / self.scene.control_hz;
        let limited: Vec<f64> = desired
            .iter()
            .zip(&current)
            .zip(&robot.config.joints)
            .map(|((want, now), j)| now + (want - now).clamp(-j.velocity * dt, j.velocity * dt))
            .collect();
        world.set_arm_targets(&limited)?;
        world.set_gripper(gripper)?;
        for _ in 0..self.scene.substeps() {
            world.step();
        }
        self.step += 1;
        let obs = self.observe();
        let progress = task::evaluate(&self.scene.stages, &self.scene.success, &obs);
        let truncated = !progress.success && self.step >= self.scene.max_steps();
        self.done = progress.success || truncated;
        let stage_name = self
            .scene
            .stages
            .get(progress.stage)
            .map_or_else(|| "done".to_owned(), |s| s.name.clone());
        Ok(Step {
            obs,
            reward: if progress.success { 1.0 } else { 0.0 },
            terminated: progress.success,
            truncated,
            info: StepInfo {
                success: progress.success,
                progress: progress.value,
                stage: progress.stage,
                stage_name,
            },
        })
    }

    /// World poses of the cameras' optical frames now (cameras on links move with the arm).
    pub fn camera_poses(
        &self,
        cameras: &[CameraConfig],
    ) -> Result<Vec<Isometry3<f64>>, CameraError> {
        let robot = self.template.robot();
        let link_pose = |camera: &str, link: &str| -> Result<Isometry3<f64>, CameraError> {
            let (p, q) = self
                .world
                .as_ref()
                .and_then(|w| w.link_pose(link))
                .ok_or_else(|| CameraError::UnknownParent {
                    camera: camera.to_owned(),
                    parent: link.to_owned(),
                    what: format!("a physical link of `{}`", robot.config.name),
                })?;
            Ok(Isometry3::from_parts(
                Translation3::new(p[0], p[1], p[2]),
                UnitQuaternion::from_quaternion(nalgebra::Quaternion::new(q[3], q[0], q[1], q[2])),
            ))
        };
        cameras
            .iter()
            .map(|c| {
                let local = c.extrinsics.pose();
                Ok(match c.extrinsics.parent() {
                    Some(Parent::Table) => {
                        Isometry3::translation(-self.offset[0], -self.offset[1], 0.0) * local
                    }
                    Some(Parent::Base) | None => local,
                    Some(Parent::Link(link)) => link_pose(&c.name, &link)? * local,
                    Some(Parent::Mount(mount)) => {
                        let m = robot
                            .config
                            .camera_mounts
                            .iter()
                            .find(|m| m.name == mount)
                            .ok_or_else(|| CameraError::UnknownParent {
                                camera: c.name.clone(),
                                parent: format!("mount:{mount}"),
                                what: format!("a camera mount of `{}`", robot.config.name),
                            })?;
                        link_pose(&c.name, &m.link)? * pose_from_xyz_rpy(m.xyz, m.rpy) * local
                    }
                })
            })
            .collect()
    }

    /// Everything to draw now: the world's shapes and the target markers.
    pub fn visual_shapes(&self) -> Vec<VisualShape> {
        let Some(world) = &self.world else {
            return Vec::new();
        };
        let mut shapes = world.visual_shapes();
        for (t, config) in self.targets.iter().zip(&self.scene.targets) {
            let [x, y, z] = t.position;
            let (geometry, at) = match config.marker {
                Marker::Disc => (
                    VisualGeometry::Cylinder {
                        radius: config.radius,
                        half_height: 0.0005,
                    },
                    [x, y, 0.0005],
                ),
                Marker::Sphere => (
                    VisualGeometry::Sphere {
                        radius: config.radius,
                    },
                    [x, y, z],
                ),
            };
            shapes.push(VisualShape {
                name: t.name.clone(),
                geometry,
                pose: Isometry3::translation(at[0], at[1], at[2]),
                color: config.color,
            });
        }
        shapes
    }

    /// Success, progress and stage of the current state.
    pub fn evaluate(&self) -> Option<task::Progress> {
        self.world.as_ref()?;
        Some(task::evaluate(
            &self.scene.stages,
            &self.scene.success,
            &self.observe(),
        ))
    }

    /// The current observation (after `reset`).
    pub fn observe(&self) -> Observation {
        let Some(world) = &self.world else {
            return Observation {
                joint_positions: Vec::new(),
                joint_velocities: Vec::new(),
                ee_position: [0.0; 3],
                ee_orientation: [0.0, 0.0, 0.0, 1.0],
                gripper: 0.0,
                instruction: String::new(),
                privileged: Privileged::default(),
                step: 0,
            };
        };
        let robot = self.template.robot();
        // Tool frames are often empty links that the physics merges away: the tool pose comes
        // from forward kinematics of the measured joints (the base is the world frame).
        let joint_positions = world.arm_positions();
        let (ee_position, ee_orientation) =
            robot
                .arm
                .fk(&joint_positions)
                .map_or(([f64::NAN; 3], [0.0, 0.0, 0.0, 1.0]), |p| {
                    let t = p.translation.vector;
                    let q = p.rotation.coords;
                    ([t[0], t[1], t[2]], [q[0], q[1], q[2], q[3]])
                });
        let objects = world
            .object_names()
            .filter_map(|n| {
                world
                    .object_pose(n)
                    .map(|(position, orientation)| NamedPose {
                        name: n.to_owned(),
                        position,
                        orientation,
                    })
            })
            .collect();
        let fixtures = world
            .drawer_names()
            .filter_map(|n| world.drawer_opening(n).map(|q| (n.to_owned(), q)))
            .collect();
        let handles = world
            .drawer_names()
            .filter_map(|n| world.drawer_handle(n).map(|p| (format!("{n}.handle"), p)))
            .collect();
        Observation {
            joint_positions,
            joint_velocities: world.arm_velocities(),
            ee_position,
            ee_orientation,
            gripper: world.gripper_closure(),
            instruction: self.instruction.clone(),
            privileged: Privileged {
                objects,
                targets: self.targets.clone(),
                fixtures,
                handles,
            },
            step: self.step,
        }
    }
}

/// Yaw of `rotation` relative to the tool-down orientation, about the vertical.
fn yaw_of(rotation: &UnitQuaternion<f64>, down: &UnitQuaternion<f64>) -> f64 {
    let rel = rotation * down.inverse();
    let x = rel * Vector3::x();
    x[1].atan2(x[0])
}

fn wrap(a: f64) -> f64 {
    (a + std::f64::consts::PI).rem_euclid(std::f64::consts::TAU) - std::f64::consts::PI
}

/// N environments stepped together (in parallel over `threads` worker threads).
pub struct VecEnv {
    envs: Vec<Env>,
    threads: usize,
}

impl VecEnv {
    /// Wraps environments; `threads` = 1 steps them in turn on the caller's thread.
    pub fn new(envs: Vec<Env>, threads: usize) -> Self {
        Self {
            envs,
            threads: threads.max(1),
        }
    }

    /// Number of environments.
    pub fn len(&self) -> usize {
        self.envs.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.envs.is_empty()
    }

    /// The environments.
    pub fn envs(&self) -> &[Env] {
        &self.envs
    }

    /// Resets environment `i` with `seeds[i]`.
    pub fn reset(&mut self, seeds: &[u64]) -> Result<Vec<Observation>, EnvError> {
        if seeds.len() != self.envs.len() {
            return Err(EnvError::BadAction(format!(
                "expected {} seeds, got {}",
                self.envs.len(),
                seeds.len()
            )));
        }
        self.envs
            .iter_mut()
            .zip(seeds)
            .map(|(e, s)| e.reset(*s))
            .collect()
    }

    /// Resets environment `i` alone (e.g. when its episode ended).
    pub fn reset_one(&mut self, i: usize, seed: u64) -> Result<Observation, EnvError> {
        let n = self.envs.len();
        self.envs
            .get_mut(i)
            .ok_or_else(|| EnvError::BadAction(format!("environment {i} of {n}")))?
            .reset(seed)
    }

    /// Steps environment `i` with `actions[i]`.
    pub fn step(&mut self, actions: &[Action]) -> Result<Vec<Step>, EnvError> {
        if actions.len() != self.envs.len() {
            return Err(EnvError::BadAction(format!(
                "expected {} actions, got {}",
                self.envs.len(),
                actions.len()
            )));
        }
        if self.threads == 1 {
            return self
                .envs
                .iter_mut()
                .zip(actions)
                .map(|(e, a)| e.step(a))
                .collect();
        }
        let chunk = self.envs.len().div_ceil(self.threads).max(1);
        let results: Vec<Vec<Result<Step, EnvError>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = self
                .envs
                .chunks_mut(chunk)
                .zip(actions.chunks(chunk))
                .map(|(envs, acts)| {
                    scope.spawn(move || {
                        envs.iter_mut()
                            .zip(acts)
                            .map(|(e, a)| e.step(a))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        vec![Err(EnvError::BadAction("a worker thread panicked".into()))]
                    })
                })
                .collect()
        });
        results.into_iter().flatten().collect()
    }
}
