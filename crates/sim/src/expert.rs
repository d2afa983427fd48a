//! Scripted experts: closed-loop waypoint controllers over privileged state, one per expert
//! kind a scene names (`reach`, `push`, `pick_place`, `open_drawer`), and the trajectory
//! variants a reward model learns from:
//! - `expert`: the controller as is;
//! - `noisy`: Gaussian noise on every translation (30% of the largest step by default);
//! - `partial`: the expert until the task's stage reaches `k` (default: half the stages; a
//!   task of one stage stops when its progress passes 0.5), then it holds still;
//! - `regress`: the expert until progress passes 0.8, then it undoes its work (carries or
//!   pushes the object back to where it started, closes the drawer, backs off the target) and
//!   returns the arm to where it started;
//! - `fail`: the expert acting on a wrong belief (grasps beside the object, hooks above the
//!   handle, pushes the object away from the goal, reaches for the wrong point), so it never
//!   succeeds by design;
//! - `random`: uniformly random actions.

use std::str::FromStr;

use nalgebra::{UnitQuaternion, Vector3};

use crate::env::{Action, ControlOptions, Observation, Rng, StepInfo};
use crate::robot::Robot;
use crate::scene::{ExpertConfig, FixtureConfig, SceneConfig, Shape};

/// Which kind of trajectory to produce.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Variant {
    /// The scripted expert.
    Expert,
    /// The expert with Gaussian translation noise of this many largest steps (std).
    Noisy(f64),
    /// The expert until this many stages are complete (a one-stage task: until progress
    /// passes 0.5), then still.
    Partial(Option<usize>),
    /// The expert, then undoing progress.
    Regress,
    /// The expert acting on a wrong estimate of the scene.
    Fail,
    /// Uniformly random actions.
    Random,
}

impl Variant {
    /// The variant's name as the CLI and datasets spell it.
    pub fn name(&self) -> &'static str {
        match self {
            Variant::Expert => "expert",
            Variant::Noisy(_) => "noisy",
            Variant::Partial(_) => "partial",
            Variant::Regress => "regress",
            Variant::Fail => "fail",
            Variant::Random => "random",
        }
    }

    /// Every variant with default settings.
    pub fn all() -> [Variant; 6] {
        [
            Variant::Expert,
            Variant::Noisy(0.3),
            Variant::Partial(None),
            Variant::Regress,
            Variant::Fail,
            Variant::Random,
        ]
    }
}

impl FromStr for Variant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "expert" => Variant::Expert,
            "noisy" => Variant::Noisy(0.3),
            "partial" => Variant::Partial(None),
            "regress" => Variant::Regress,
            "fail" => Variant::Fail,
            "random" => Variant::Random,
            other => {
                return Err(format!(
                    "unknown variant `{other}`; expected expert, noisy, partial, regress, fail or random"
                ));
            }
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Above,
    Descend,
    Close,
    Lift,
    Carry,
    Lower,
    Release,
    Retreat,
    Hold,
}

/// A scripted policy for one episode.
pub struct ScriptedExpert {
    config: ExpertConfig,
    variant: Variant,
    rng: Rng,
    control: ControlOptions,
    tool_down: UnitQuaternion<f64>,
    pose_control: bool,
    rotate: bool,
    stages: usize,
    phase: Phase,
    timer: usize,
    regressing: bool,
    stopped: bool,
    start_object: Option<[f64; 3]>,
    start_ee: Option<[f64; 3]>,
    grasp_offset: [f64; 3],
    handle_start: Option<[f64; 3]>,
    object_half: f64,
    object_radius: f64,
    travel: f64,
    pull: [f64; 3],
}

/// Progress at which the regress variant turns round.
const REGRESS_AT: f64 = 0.8;
/// Progress at which `partial` stops on a task of one stage.
const PARTIAL_SINGLE_STAGE_AT: f64 = 0.5;
/// [`REGRESS_AT`] for pushing.
const PUSH_REGRESS_AT: f64 = 0.5;
/// Lift height for carrying (m above the table).
const CARRY_Z: f64 = 0.14;
/// Height for moving around objects when pushing (m).
const SAFE_Z: f64 = 0.07;

impl ScriptedExpert {
    /// The expert for `scene` with `robot`, producing `variant`; `seed` drives its noise.
    pub fn new(scene: &SceneConfig, robot: &Robot, variant: Variant, seed: u64) -> Self {
        let [r, p, y] = robot.config.end_effector.tool_down_rpy;
        let object = match &scene.expert {
            ExpertConfig::Push { object, .. } | ExpertConfig::PickPlace { object, .. } => {
                scene.objects.iter().find(|o| &o.name == object)
            }
            _ => None,
        };
        let (object_half, object_radius) = object.map_or((0.02, 0.02), |o| {
            let radius = match &o.shape {
                Shape::Box { size } => size[0].max(size[1]) / 2.0,
                Shape::Cylinder { radius, .. } | Shape::Sphere { radius } => *radius,
            };
            (o.shape.half_height(), radius)
        });
        let (travel, pull) = match &scene.expert {
            ExpertConfig::OpenDrawer { fixture } => scene
                .fixtures
                .iter()
                .find(|f| f.name() == fixture)
                .map_or((0.0, [-1.0, 0.0, 0.0]), |f| {
                    let FixtureConfig::Drawer(d) = f;
                    (d.travel, [d.pull[0], d.pull[1], 0.0])
                }),
            _ => (0.0, [-1.0, 0.0, 0.0]),
        };
        Self {
            config: scene.expert.clone(),
            variant,
            rng: Rng::new(seed.wrapping_mul(0x9E37_79B9).wrapping_add(17)),
            control: ControlOptions::default(),
            tool_down: UnitQuaternion::from_euler_angles(r, p, y),
            pose_control: robot.config.end_effector.control == "pose",
            rotate: true,
            stages: scene.stages.len(),
            phase: Phase::Above,
            timer: 0,
            regressing: false,
            stopped: false,
            start_object: None,
            start_ee: None,
            grasp_offset: [0.0; 3],
            handle_start: None,
            object_half,
            object_radius,
            travel,
            pull,
        }
    }

    /// The expert acting through an action space without rotation (tool translation and
    /// gripper only, as the learner's): it never commands a rotation and never waits for the
    /// tool's yaw to line up with an object, grasping at whatever yaw the tool holds. Tasks
    /// whose grasp needs a yaw (the drawer's hook) may then fail.
    #[must_use]
    pub fn translation_only(mut self) -> Self {
        self.rotate = false;
        self
    }

    /// Whether the tool's yaw is within `tolerance` of `yaw`; always true for an expert that
    /// cannot rotate.
    fn yaw_ready(&self, yaw: f64, yaw_now: f64, tolerance: f64) -> bool {
        !self.rotate || wrap(yaw - yaw_now).abs() < tolerance
    }

    /// Whether the regress variant has started undoing progress.
    pub fn regressing(&self) -> bool {
        self.regressing
    }

    /// Progress at which the regress variant turns back: pushed objects keep sliding after
    /// the tool stops, so push experts turn back earlier to stop short of the target.
    fn regress_at(&self) -> f64 {
        if matches!(self.config, ExpertConfig::Push { .. }) {
            PUSH_REGRESS_AT
        } else {
            REGRESS_AT
        }
    }

    /// The next action, given the observation and the info of the step that produced it (none
    /// right after reset).
    pub fn act(&mut self, obs: &Observation, info: Option<&StepInfo>) -> Action {
        if self.start_ee.is_none() {
            self.start_ee = Some(obs.ee_position);
            if let ExpertConfig::Push { object, .. } | ExpertConfig::PickPlace { object, .. } =
                &self.config
            {
                self.start_object = obs.position(object);
            }
            if let ExpertConfig::OpenDrawer { fixture } = &self.config {
                self.handle_start = obs.position(&format!("{fixture}.handle"));
            }
        }
        match self.variant {
            Variant::Random => {
                let m = self.control.max_translation;
                let r = self.control.max_rotation;
                return Action::EeDelta {
                    translation: [
                        self.rng.symmetric(m),
                        self.rng.symmetric(m),
                        self.rng.symmetric(m),
                    ],
                    rotation: [0.0, 0.0, self.rng.symmetric(r)],
                    gripper: self.rng.uniform(),
                };
            }
            Variant::Partial(k) => {
                // A task of one stage has no stage boundary before its end: it stops halfway
                // through that stage instead, so a partial trajectory never finishes.
                let halted = info.is_some_and(|i| {
                    if self.stages > 1 {
                        let k = k.unwrap_or(self.stages.div_ceil(2)).min(self.stages - 1);
                        i.stage >= k.max(1)
                    } else {
                        i.progress >= PARTIAL_SINGLE_STAGE_AT
                    }
                });
                if halted {
                    self.stopped = true;
                }
                if self.stopped {
                    return Action::EeDelta {
                        translation: [0.0; 3],
                        rotation: [0.0; 3],
                        gripper: obs.gripper.round(),
                    };
                }
            }
            Variant::Regress
                if !self.regressing && info.is_some_and(|i| i.progress >= self.regress_at()) =>
            {
                self.regressing = true;
                self.phase = match self.phase {
                    Phase::Lower | Phase::Release => Phase::Lift,
                    Phase::Retreat | Phase::Hold => Phase::Above,
                    p => p,
                };
            }
            _ => {}
        }
        let mut action = match self.config.clone() {
            ExpertConfig::Reach { target } => self.reach(obs, &target),
            ExpertConfig::Push { object, target } => self.push(obs, &object, &target),
            ExpertConfig::PickPlace {
                object,
                target,
                offset,
            } => self.pick_place(obs, &object, &target, offset),
            ExpertConfig::OpenDrawer { fixture } => self.open_drawer(obs, &fixture),
        };
        if let (Variant::Noisy(sigma), Action::EeDelta { translation, .. }) =
            (self.variant, &mut action)
        {
            for t in translation.iter_mut() {
                *t += self.rng.normal() * sigma * self.control.max_translation;
            }
        }
        action
    }

    fn tool_yaw(&self, obs: &Observation) -> f64 {
        let [x, y, z, w] = obs.ee_orientation;
        let q = UnitQuaternion::from_quaternion(nalgebra::Quaternion::new(w, x, y, z));
        let rel = q * self.tool_down.inverse();
        let ax = rel * Vector3::x();
        ax[1].atan2(ax[0])
    }

    /// Translation towards `waypoint`, capped at `max` metres, and a yaw correction.
    fn go(
        &self,
        obs: &Observation,
        waypoint: [f64; 3],
        yaw: Option<f64>,
        gripper: f64,
        max: f64,
    ) -> Action {
        let mut d = [0.0; 3];
        for (k, v) in d.iter_mut().enumerate() {
            *v = waypoint[k] - obs.ee_position[k];
        }
        let n = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
        if n > max {
            for v in &mut d {
                *v *= max / n;
            }
        }
        let mut rotation = [0.0; 3];
        if !self.rotate {
            return Action::EeDelta {
                translation: d,
                rotation,
                gripper,
            };
        }
        if let Some(yaw) = yaw {
            rotation[2] = wrap(yaw - self.tool_yaw(obs));
        }
        if self.pose_control {
            // Hold the tool pointing down: correct roll and pitch drift.
            let [x, y, z, w] = obs.ee_orientation;
            let q = UnitQuaternion::from_quaternion(nalgebra::Quaternion::new(w, x, y, z));
            let current_yaw = self.tool_yaw(obs);
            let want =
                UnitQuaternion::from_axis_angle(&Vector3::z_axis(), current_yaw) * self.tool_down;
            let err = (want * q.inverse()).scaled_axis();
            rotation[0] = err[0];
            rotation[1] = err[1];
        }
        Action::EeDelta {
            translation: d,
            rotation,
            gripper,
        }
    }

    fn reach(&mut self, obs: &Observation, target: &str) -> Action {
        let mut goal = obs.position(target).unwrap_or(obs.ee_position);
        if self.variant == Variant::Fail {
            goal[1] += if goal[1] > 0.0 { -0.09 } else { 0.09 };
        }
        if self.regressing {
            goal = self.start_ee.unwrap_or(goal);
        }
        self.go(obs, goal, None, 0.0, self.control.max_translation)
    }

    fn push(&mut self, obs: &Observation, object: &str, target: &str) -> Action {
        let Some(cube) = obs.position(object) else {
            return self.go(obs, obs.ee_position, None, 1.0, 0.0);
        };
        let mut goal = obs.position(target).unwrap_or(cube);
        if self.regressing {
            goal = self.start_object.unwrap_or(goal);
        }
        if self.variant == Variant::Fail {
            // Pushes confidently the wrong way: away from the goal.
            let start = self.start_object.unwrap_or(cube);
            goal = [2.0 * start[0] - goal[0], 2.0 * start[1] - goal[1], goal[2]];
        }
        let to_goal = [goal[0] - cube[0], goal[1] - cube[1]];
        let dist = to_goal[0].hypot(to_goal[1]);
        if self.regressing && dist < 0.015 {
            // Back where it started: take the arm home too, around the object.
            let home = self.start_ee.unwrap_or(obs.ee_position);
            let ee = obs.ee_position;
            if ee[2] < SAFE_Z - 0.01 && (ee[0] - home[0]).hypot(ee[1] - home[1]) > 0.02 {
                return self.go(
                    obs,
                    [ee[0], ee[1], SAFE_Z],
                    None,
                    1.0,
                    self.control.max_translation,
                );
            }
            return self.go(obs, home, None, 1.0, self.control.max_translation);
        }
        if dist < 0.008 {
            return self.go(
                obs,
                [obs.ee_position[0], obs.ee_position[1], obs.ee_position[2]],
                None,
                1.0,
                0.0,
            );
        }
        let d = [to_goal[0] / dist, to_goal[1] / dist];
        let side = [-d[1], d[0]];
        let behind = self.object_radius * std::f64::consts::SQRT_2 + 0.02;
        let push_z = self.object_half.min(0.025);
        let pre = [cube[0] - d[0] * behind, cube[1] - d[1] * behind, push_z];
        let ee = obs.ee_position;
        // Where the tool is relative to the push line through the object's centre.
        let rel = [ee[0] - cube[0], ee[1] - cube[1]];
        let along = rel[0] * d[0] + rel[1] * d[1];
        let across = rel[0] * side[0] + rel[1] * side[1];
        let behind_ok = along < -(self.object_radius * 0.8) && along > -(behind + 0.03);
        let aligned = across.abs() < 0.012 && behind_ok && ee[2] < push_z + 0.015;
        if aligned {
            // Push through the object's centre towards the goal.
            let aim = [cube[0] + d[0] * 0.03, cube[1] + d[1] * 0.03, push_z];
            return self.go(obs, aim, None, 1.0, 0.012);
        }
        let pre_xy = (ee[0] - pre[0]).hypot(ee[1] - pre[1]);
        if pre_xy > 0.012 {
            if ee[2] < SAFE_Z - 0.01 && (rel[0].hypot(rel[1]) < behind + 0.04) {
                // Too close to the object to slide across: rise first.
                return self.go(
                    obs,
                    [ee[0], ee[1], SAFE_Z],
                    None,
                    1.0,
                    self.control.max_translation,
                );
            }
            return self.go(
                obs,
                [pre[0], pre[1], SAFE_Z.max(ee[2].min(SAFE_Z))],
                None,
                1.0,
                self.control.max_translation,
            );
        }
        self.go(obs, pre, None, 1.0, self.control.max_translation)
    }

    fn grasp_yaw(&self, obs: &Observation, object: &str, current: f64) -> f64 {
        let [x, y, z, w] = obs
            .privileged
            .objects
            .iter()
            .find(|o| o.name == object)
            .map_or([0.0, 0.0, 0.0, 1.0], |o| o.orientation);
        let q = UnitQuaternion::from_quaternion(nalgebra::Quaternion::new(w, x, y, z));
        let ax = q * Vector3::x();
        let object_yaw = ax[1].atan2(ax[0]);
        // A box is symmetric under quarter turns: pick the face pair nearest the current yaw.
        let quarter = std::f64::consts::FRAC_PI_2;
        let k = ((current - object_yaw) / quarter).round();
        object_yaw + k * quarter
    }

    fn pick_place(
        &mut self,
        obs: &Observation,
        object: &str,
        target: &str,
        offset: [f64; 3],
    ) -> Action {
        let Some(obj) = obs.position(object) else {
            return self.go(obs, obs.ee_position, None, 0.0, 0.0);
        };
        let mut goal = obs.position(target).map_or(obj, |t| {
            [t[0] + offset[0], t[1] + offset[1], t[2] + offset[2]]
        });
        if self.regressing {
            goal = self.start_object.unwrap_or(goal);
        }
        let ee = obs.ee_position;
        let yaw_now = self.tool_yaw(obs);
        let miss = if self.variant == Variant::Fail {
            0.05
        } else {
            0.0
        };
        let grasp_at = [obj[0], obj[1] + miss, obj[2]];
        let max = self.control.max_translation;
        loop {
            match self.phase {
                Phase::Above => {
                    let yaw = self.grasp_yaw(obs, object, yaw_now);
                    let wp = [grasp_at[0], grasp_at[1], grasp_at[2] + 0.09];
                    if near(ee, wp, 0.012) && self.yaw_ready(yaw, yaw_now, 0.06) {
                        self.phase = Phase::Descend;
                        continue;
                    }
                    return self.go(obs, wp, Some(yaw), 0.0, max);
                }
                Phase::Descend => {
                    let yaw = self.grasp_yaw(obs, object, yaw_now);
                    let wp = grasp_at;
                    if near(ee, wp, 0.006) {
                        self.phase = Phase::Close;
                        self.timer = 0;
                        continue;
                    }
                    if (ee[0] - wp[0]).hypot(ee[1] - wp[1]) > 0.03 {
                        self.phase = Phase::Above;
                        continue;
                    }
                    return self.go(obs, wp, Some(yaw), 0.0, 0.02);
                }
                Phase::Close => {
                    self.timer += 1;
                    if self.timer > 8 {
                        self.grasp_offset = [ee[0] - obj[0], ee[1] - obj[1], ee[2] - obj[2]];
                        self.phase = Phase::Lift;
                        continue;
                    }
                    return self.go(obs, grasp_at, None, 1.0, 0.005);
                }
                Phase::Lift => {
                    if ee[2] > CARRY_Z - 0.015 {
                        self.phase = Phase::Carry;
                        continue;
                    }
                    return self.go(obs, [ee[0], ee[1], CARRY_Z], None, 1.0, max);
                }
                Phase::Carry => {
                    let wp = [
                        goal[0] + self.grasp_offset[0],
                        goal[1] + self.grasp_offset[1],
                        CARRY_Z.max(goal[2] + self.grasp_offset[2] + 0.03),
                    ];
                    if near(ee, wp, 0.008) {
                        self.phase = Phase::Lower;
                        continue;
                    }
                    return self.go(obs, wp, None, 1.0, max);
                }
                Phase::Lower => {
                    let wp = [
                        goal[0] + self.grasp_offset[0],
                        goal[1] + self.grasp_offset[1],
                        goal[2] + self.grasp_offset[2] + 0.004,
                    ];
                    if near(ee, wp, 0.005) {
                        self.phase = Phase::Release;
                        self.timer = 0;
                        continue;
                    }
                    return self.go(obs, wp, None, 1.0, 0.015);
                }
                Phase::Release => {
                    self.timer += 1;
                    if self.timer > 6 {
                        self.phase = Phase::Retreat;
                        continue;
                    }
                    return self.go(obs, ee, None, 0.0, 0.0);
                }
                Phase::Retreat => {
                    if ee[2] > goal[2] + 0.08 {
                        self.phase = Phase::Hold;
                        continue;
                    }
                    return self.go(obs, [ee[0], ee[1], goal[2] + 0.1], None, 0.0, max);
                }
                Phase::Hold => {
                    let home = if self.regressing {
                        self.start_ee.unwrap_or(ee)
                    } else {
                        ee
                    };
                    return self.go(obs, home, None, 0.0, max);
                }
            }
        }
    }

    fn open_drawer(&mut self, obs: &Observation, fixture: &str) -> Action {
        let key = format!("{fixture}.handle");
        let Some(handle) = obs.position(&key) else {
            return self.go(obs, obs.ee_position, None, 1.0, 0.0);
        };
        let start = self.handle_start.unwrap_or(handle);
        let u = self.pull;
        // Closed fingers hook behind the bar (between it and the drawer's front), the hand's
        // thin side along the pull axis so it clears the drawer.
        let mut yaw = u[1].atan2(u[0]);
        while yaw > std::f64::consts::FRAC_PI_2 {
            yaw -= std::f64::consts::PI;
        }
        while yaw < -std::f64::consts::FRAC_PI_2 {
            yaw += std::f64::consts::PI;
        }
        let ee = obs.ee_position;
        let miss = if self.variant == Variant::Fail {
            0.05
        } else {
            0.0
        };
        let behind = 0.025;
        let hook = |h: [f64; 3]| {
            [
                h[0] - u[0] * behind,
                h[1] - u[1] * behind,
                h[2] + 0.006 + miss,
            ]
        };
        let hook_now = hook(handle);
        let hook_start = hook(start);
        let max = self.control.max_translation;
        loop {
            match self.phase {
                Phase::Above => {
                    let wp = [hook_now[0], hook_now[1], hook_now[2] + 0.08];
                    if near(ee, wp, 0.01) && self.yaw_ready(yaw, self.tool_yaw(obs), 0.05) {
                        self.phase = Phase::Descend;
                        continue;
                    }
                    return self.go(obs, wp, Some(yaw), 1.0, max);
                }
                Phase::Descend => {
                    if near(ee, hook_now, 0.006) {
                        self.phase = Phase::Carry;
                        continue;
                    }
                    if (ee[0] - hook_now[0]).hypot(ee[1] - hook_now[1]) > 0.02 {
                        self.phase = Phase::Above;
                        continue;
                    }
                    return self.go(obs, hook_now, Some(yaw), 1.0, 0.015);
                }
                Phase::Carry => {
                    // Pull along the slide; when regressing, push it back in.
                    let amount = if self.regressing {
                        0.0
                    } else {
                        self.travel * 0.95
                    };
                    let wp = [
                        hook_start[0] + u[0] * amount,
                        hook_start[1] + u[1] * amount,
                        hook_start[2],
                    ];
                    if near(ee, wp, 0.008) {
                        self.phase = Phase::Retreat;
                        continue;
                    }
                    return self.go(obs, wp, None, 1.0, 0.02);
                }
                Phase::Retreat => {
                    if ee[2] > hook_now[2] + 0.07 {
                        self.phase = Phase::Hold;
                        continue;
                    }
                    return self.go(obs, [ee[0], ee[1], hook_now[2] + 0.08], None, 1.0, max);
                }
                Phase::Hold => {
                    if self.regressing && obs.privileged.fixtures.iter().any(|(_, q)| *q > 0.02) {
                        self.phase = Phase::Above;
                        continue;
                    }
                    let home = if self.regressing {
                        self.start_ee.unwrap_or(ee)
                    } else {
                        ee
                    };
                    return self.go(obs, home, None, 1.0, max);
                }
                Phase::Close | Phase::Lift | Phase::Lower | Phase::Release => {
                    self.phase = Phase::Carry;
                }
            }
        }
    }
}

/// Whether two points are closer than `tol` (m).
fn near(a: [f64; 3], b: [f64; 3], tol: f64) -> bool {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt() < tol
}

fn wrap(a: f64) -> f64 {
    (a + std::f64::consts::PI).rem_euclid(std::f64::consts::TAU) - std::f64::consts::PI
}
