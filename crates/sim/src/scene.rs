//! `sim_scenes/*.toml`: a task written as data. A scene places a table, objects, target markers
//! and articulated fixtures in the *task frame* (origin at the table-top centre, x away from
//! the robots, z up), says where each supported robot stands, lists paraphrased instructions,
//! ordered stages with their completion predicates, the success predicate, the time limit and
//! the control and physics rates. See `docs/scenes.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::task::Predicate;

/// Why a scene could not be loaded.
#[derive(Debug, Error)]
pub enum SceneError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Malformed TOML, an unknown key or a value of the wrong type; the parser's message names
    /// the key, the line and what was expected.
    #[error("{}: {message}", path.display())]
    Toml {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A value that parses but makes no sense.
    #[error("{}: `{key}`: {what}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The offending key.
        key: String,
        /// What was expected.
        what: String,
    },
    /// The scene has no placement for this robot.
    #[error("{}: no placement for robot `{robot}` (the scene supports: {supported:?})", path.display())]
    UnsupportedRobot {
        /// The file.
        path: PathBuf,
        /// The robot asked for.
        robot: String,
        /// The robots the scene places.
        supported: Vec<String>,
    },
}

/// A whole scene file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SceneConfig {
    /// Short task name, e.g. `push_cube`.
    pub name: String,
    /// One sentence for people browsing scenes.
    #[serde(default)]
    pub description: String,
    /// Paraphrased instructions; each episode draws one from its seed.
    pub instructions: Vec<String>,
    /// Episode length limit (s); episodes that reach it are truncated.
    pub time_limit: f64,
    /// Control (action) rate (Hz).
    #[serde(default = "default_control_hz")]
    pub control_hz: f64,
    /// Physics rate (Hz); a whole multiple of `control_hz`.
    #[serde(default = "default_physics_hz")]
    pub physics_hz: f64,
    /// Smallest horizontal distance between the centres of objects, targets and fixtures at
    /// reset (m); randomised layouts are redrawn until it holds.
    #[serde(default)]
    pub min_separation: f64,
    /// The table.
    pub table: TableConfig,
    /// Where each supported robot stands, by robot name.
    pub robots: BTreeMap<String, PlacementConfig>,
    /// Loose rigid objects.
    #[serde(default)]
    pub objects: Vec<ObjectConfig>,
    /// Target markers (no collision): points the predicates refer to.
    #[serde(default)]
    pub targets: Vec<TargetConfig>,
    /// Articulated fixtures.
    #[serde(default)]
    pub fixtures: Vec<FixtureConfig>,
    /// Ordered stages of the task; see [`crate::task`] for the progress they define.
    pub stages: Vec<StageConfig>,
    /// When the task counts as done.
    pub success: Predicate,
    /// Which scripted expert solves the task, and with which roles.
    pub expert: ExpertConfig,
    /// Camera rig (`calibration/<rig>/`) the scene is seen through.
    #[serde(default = "default_rig")]
    pub rig: String,
    /// Cameras added to the rig, or replacing its cameras of the same name.
    #[serde(default)]
    pub cameras: Vec<crate::camera::CameraConfig>,
}

fn default_rig() -> String {
    "sim_default".to_owned()
}

fn default_control_hz() -> f64 {
    20.0
}

fn default_physics_hz() -> f64 {
    240.0
}

/// The table: a fixed box whose top face is the plane z = 0 of the task frame.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableConfig {
    /// Length (x), width (y) and thickness (z) (m).
    pub size: [f64; 3],
    /// Centre of the top face in the task frame, x and y (m).
    #[serde(default)]
    pub center: [f64; 2],
    /// Coulomb friction coefficient.
    #[serde(default = "default_friction")]
    pub friction: f64,
    /// Linear RGB in [0, 1].
    #[serde(default = "default_table_color")]
    pub color: [f64; 3],
}

fn default_friction() -> f64 {
    0.8
}

fn default_table_color() -> [f64; 3] {
    [0.55, 0.45, 0.35]
}

fn default_object_color() -> [f64; 3] {
    [0.8, 0.2, 0.2]
}

/// Where a robot's base link stands: on the table top, facing +x of the task frame.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlacementConfig {
    /// Base position in the task frame, x and y (m).
    pub base: [f64; 2],
    /// Start configuration instead of the robot's home pose.
    #[serde(default)]
    pub start: Option<Vec<f64>>,
}

/// A primitive shape.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Shape {
    /// A box with full edge lengths x, y, z (m).
    Box {
        /// Edge lengths.
        size: [f64; 3],
    },
    /// An upright cylinder.
    Cylinder {
        /// Radius (m).
        radius: f64,
        /// Height (m).
        height: f64,
    },
    /// A sphere.
    Sphere {
        /// Radius (m).
        radius: f64,
    },
}

impl Shape {
    /// Half of the shape's height: the centre's height above the table when it rests on it.
    pub fn half_height(&self) -> f64 {
        match self {
            Shape::Box { size } => size[2] / 2.0,
            Shape::Cylinder { height, .. } => height / 2.0,
            Shape::Sphere { radius } => *radius,
        }
    }

    /// Radius of the shape's horizontal footprint's bounding circle.
    pub fn footprint_radius(&self) -> f64 {
        match self {
            Shape::Box { size } => (size[0] * size[0] + size[1] * size[1]).sqrt() / 2.0,
            Shape::Cylinder { radius, .. } | Shape::Sphere { radius } => *radius,
        }
    }

    fn check(&self) -> Result<(), String> {
        let ok = match self {
            Shape::Box { size } => size.iter().all(|v| positive(*v)),
            Shape::Cylinder { radius, height } => positive(*radius) && positive(*height),
            Shape::Sphere { radius } => positive(*radius),
        };
        if ok {
            Ok(())
        } else {
            Err("every dimension must be a positive number of metres".into())
        }
    }
}

/// A loose rigid object resting on the table at reset.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectConfig {
    /// Name the predicates use.
    pub name: String,
    /// Geometry.
    pub shape: Shape,
    /// Mass (kg).
    pub mass: f64,
    /// Coulomb friction coefficient.
    #[serde(default = "default_friction")]
    pub friction: f64,
    /// Linear RGB in [0, 1].
    #[serde(default = "default_object_color")]
    pub color: [f64; 3],
    /// Nominal position in the task frame, x and y (m).
    pub position: [f64; 2],
    /// Nominal yaw (rad).
    #[serde(default)]
    pub yaw: f64,
    /// Uniform jitter added at reset: x and y within +-jitter (m).
    #[serde(default)]
    pub jitter: [f64; 2],
    /// Uniform yaw jitter within +-yaw_jitter (rad).
    #[serde(default)]
    pub yaw_jitter: f64,
}

/// A marker point (no collision, not simulated).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// Name the predicates use.
    pub name: String,
    /// Nominal position in the task frame (m; z above the table top).
    pub position: [f64; 3],
    /// Uniform jitter within +-jitter per axis (m).
    #[serde(default)]
    pub jitter: [f64; 3],
    /// Radius of the marker as drawn (m).
    #[serde(default = "default_marker_radius")]
    pub radius: f64,
    /// How the marker is drawn: a flat `disc` on the table under the point, or a `sphere` at
    /// the point.
    #[serde(default)]
    pub marker: Marker,
    /// Linear RGB in [0, 1].
    #[serde(default = "default_target_color")]
    pub color: [f64; 3],
}

/// How a target marker is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Marker {
    /// A 1 mm disc on the table top.
    #[default]
    Disc,
    /// A sphere at the point.
    Sphere,
}

fn default_marker_radius() -> f64 {
    0.02
}

fn default_target_color() -> [f64; 3] {
    [0.2, 0.8, 0.3]
}

/// An articulated fixture.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FixtureConfig {
    /// A drawer sliding on a prismatic joint out of a fixed cabinet, with a bar handle on its
    /// front face. Its joint value is how far it is open (m).
    Drawer(DrawerConfig),
}

impl FixtureConfig {
    /// The fixture's name.
    pub fn name(&self) -> &str {
        match self {
            FixtureConfig::Drawer(d) => &d.name,
        }
    }
}

/// A drawer fixture.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrawerConfig {
    /// Name the predicates use; its handle is `<name>.handle`.
    pub name: String,
    /// Centre of the closed drawer's front face in the task frame, x and y (m).
    pub position: [f64; 2],
    /// Height of the drawer's bottom above the table (m).
    #[serde(default = "default_drawer_lift")]
    pub bottom: f64,
    /// Drawer box: depth along the pull axis, width, height (m).
    pub size: [f64; 3],
    /// Pull direction in the task frame's xy plane (normalised when loaded).
    pub pull: [f64; 2],
    /// How far the drawer can open (m).
    pub travel: f64,
    /// Mass of the drawer (kg).
    #[serde(default = "default_drawer_mass")]
    pub mass: f64,
    /// Viscous damping of the slide (N s/m).
    #[serde(default = "default_drawer_damping")]
    pub damping: f64,
    /// Handle bar: length across, thickness, height (m).
    #[serde(default = "default_handle_size")]
    pub handle_size: [f64; 3],
    /// Distance of the handle bar's centre in front of the front face (m).
    #[serde(default = "default_handle_standoff")]
    pub handle_standoff: f64,
    /// Uniform jitter of the position, x and y (m).
    #[serde(default)]
    pub jitter: [f64; 2],
    /// Linear RGB in [0, 1].
    #[serde(default = "default_drawer_color")]
    pub color: [f64; 3],
}

fn default_drawer_lift() -> f64 {
    0.005
}
fn default_drawer_mass() -> f64 {
    0.5
}
fn default_drawer_damping() -> f64 {
    5.0
}
fn default_handle_size() -> [f64; 3] {
    [0.08, 0.012, 0.012]
}
fn default_handle_standoff() -> f64 {
    0.03
}
fn default_drawer_color() -> [f64; 3] {
    [0.6, 0.6, 0.7]
}

/// One stage of a task.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    /// Stage name, e.g. `grasp`.
    pub name: String,
    /// Holds once the stage is complete.
    pub done: Predicate,
    /// The predicate's residual at which the stage's own progress is 0 (m, or the unit of
    /// the predicate); progress within the stage is `1 - residual / scale`, clipped.
    pub scale: f64,
}

/// Which scripted expert solves the scene.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ExpertConfig {
    /// Move the tool centre point to a target.
    Reach {
        /// Entity to reach.
        target: String,
    },
    /// Push an object along the table until it is at a target.
    Push {
        /// The object.
        object: String,
        /// Where it should go.
        target: String,
    },
    /// Grasp an object, carry it and release it at a target (or on another object).
    PickPlace {
        /// The object to move.
        object: String,
        /// Entity whose position, plus `offset`, is where the object's centre should end up.
        target: String,
        /// Added to the target's position (m).
        #[serde(default)]
        offset: [f64; 3],
    },
    /// Grasp a drawer's handle and pull it open.
    OpenDrawer {
        /// The drawer fixture.
        fixture: String,
    },
}

/// Instruction, control and timing facts derived from a validated scene.
impl SceneConfig {
    /// Reads and validates a scene file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, SceneError> {
        let path = path.as_ref().to_path_buf();
        let text = std::fs::read_to_string(&path).map_err(|source| SceneError::Io {
            path: path.clone(),
            source,
        })?;
        Self::parse(&text, &path)
    }

    /// Parses and validates scene text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, SceneError> {
        let mut scene: SceneConfig = toml::from_str(text).map_err(|e| SceneError::Toml {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        scene.check().map_err(|(key, what)| SceneError::Invalid {
            path: path.to_path_buf(),
            key,
            what,
        })?;
        for fixture in &mut scene.fixtures {
            let FixtureConfig::Drawer(d) = fixture;
            let n = (d.pull[0] * d.pull[0] + d.pull[1] * d.pull[1]).sqrt();
            d.pull = [d.pull[0] / n, d.pull[1] / n];
        }
        Ok(scene)
    }

    /// Physics steps per control step.
    pub fn substeps(&self) -> usize {
        (self.physics_hz / self.control_hz).round() as usize
    }

    /// Control steps before an episode is truncated.
    pub fn max_steps(&self) -> usize {
        (self.time_limit * self.control_hz).round() as usize
    }

    /// The placement of `robot`, or an error listing the robots the scene supports.
    pub fn placement(&self, robot: &str, path: &Path) -> Result<&PlacementConfig, SceneError> {
        self.robots
            .get(robot)
            .ok_or_else(|| SceneError::UnsupportedRobot {
                path: path.to_path_buf(),
                robot: robot.to_owned(),
                supported: self.robots.keys().cloned().collect(),
            })
    }

    /// Every name a predicate may refer to: `ee`, objects, targets, fixtures (joint values)
    /// and drawer handles (`<drawer>.handle`).
    pub fn entity_names(&self) -> Vec<String> {
        let mut names = vec!["ee".to_owned()];
        names.extend(self.objects.iter().map(|o| o.name.clone()));
        names.extend(self.targets.iter().map(|t| t.name.clone()));
        for f in &self.fixtures {
            names.push(format!("{}.handle", f.name()));
        }
        names
    }

    fn check(&self) -> Result<(), (String, String)> {
        let bad = |key: &str, what: &str| Err((key.to_owned(), what.to_owned()));
        if self.name.trim().is_empty() {
            return bad("name", "must not be empty");
        }
        if self.instructions.is_empty() || self.instructions.iter().any(|i| i.trim().is_empty()) {
            return bad(
                "instructions",
                "expected at least one non-empty instruction",
            );
        }
        if !positive(self.time_limit) {
            return bad("time_limit", "expected a positive number of seconds");
        }
        if !positive(self.control_hz) || !positive(self.physics_hz) {
            return bad("control_hz", "rates must be positive (Hz)");
        }
        let ratio = self.physics_hz / self.control_hz;
        if ratio < 1.0 || (ratio - ratio.round()).abs() > 1e-9 {
            return bad(
                "physics_hz",
                "expected a whole multiple of control_hz (e.g. 240 with 20)",
            );
        }
        if !(self.min_separation.is_finite() && self.min_separation >= 0.0) {
            return bad("min_separation", "expected a non-negative distance (m)");
        }
        if !self.table.size.iter().all(|v| positive(*v)) {
            return bad("table.size", "expected three positive lengths (m)");
        }
        if !finite(&self.table.center) {
            return bad("table.center", "expected finite coordinates (m)");
        }
        check_friction("table.friction", self.table.friction)?;
        check_color("table.color", &self.table.color)?;
        if self.robots.is_empty() {
            return bad("robots", "expected a placement for at least one robot");
        }
        for (name, p) in &self.robots {
            if !finite(&p.base) {
                return bad(&format!("robots.{name}.base"), "expected finite x, y (m)");
            }
            if let Some(start) = &p.start
                && start.iter().any(|v| !v.is_finite())
            {
                return bad(
                    &format!("robots.{name}.start"),
                    "expected finite joint values",
                );
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, o) in self.objects.iter().enumerate() {
            let key = format!("objects[{i}] ({})", o.name);
            o.shape.check().map_err(|w| (format!("{key}.shape"), w))?;
            if !positive(o.mass) {
                return bad(&format!("{key}.mass"), "expected a positive mass (kg)");
            }
            check_friction(&format!("{key}.friction"), o.friction)?;
            check_color(&format!("{key}.color"), &o.color)?;
            if !finite(&o.position) || !o.yaw.is_finite() {
                return bad(
                    &format!("{key}.position"),
                    "expected finite x, y (m) and yaw",
                );
            }
            if !(non_negative(&o.jitter) && o.yaw_jitter.is_finite() && o.yaw_jitter >= 0.0) {
                return bad(&format!("{key}.jitter"), "jitter must be non-negative");
            }
            if !seen.insert(o.name.clone()) {
                return bad(&key, "duplicate name");
            }
        }
        for (i, t) in self.targets.iter().enumerate() {
            let key = format!("targets[{i}] ({})", t.name);
            if !finite(&t.position) {
                return bad(&format!("{key}.position"), "expected finite x, y, z (m)");
            }
            if !non_negative(&t.jitter) {
                return bad(&format!("{key}.jitter"), "jitter must be non-negative");
            }
            if !positive(t.radius) {
                return bad(&format!("{key}.radius"), "expected a positive radius (m)");
            }
            check_color(&format!("{key}.color"), &t.color)?;
            if !seen.insert(t.name.clone()) {
                return bad(&key, "duplicate name");
            }
        }
        for (i, f) in self.fixtures.iter().enumerate() {
            let FixtureConfig::Drawer(d) = f;
            let key = format!("fixtures[{i}] ({})", d.name);
            if !seen.insert(d.name.clone()) {
                return bad(&key, "duplicate name");
            }
            if !d.size.iter().all(|v| positive(*v)) || !d.handle_size.iter().all(|v| positive(*v)) {
                return bad(&format!("{key}.size"), "expected positive lengths (m)");
            }
            if !(positive(d.travel)
                && positive(d.mass)
                && d.damping.is_finite()
                && d.damping >= 0.0)
            {
                return bad(
                    &key,
                    "travel and mass must be positive and damping non-negative",
                );
            }
            if !(finite(&d.position) && d.bottom.is_finite() && d.bottom >= 0.0) {
                return bad(
                    &format!("{key}.position"),
                    "expected finite coordinates (m)",
                );
            }
            if !finite(&d.pull) || d.pull[0].hypot(d.pull[1]) < 1e-6 {
                return bad(
                    &format!("{key}.pull"),
                    "expected a non-zero direction in xy",
                );
            }
            if !non_negative(&d.jitter) || !positive(d.handle_standoff) {
                return bad(
                    &format!("{key}.jitter"),
                    "jitter and handle_standoff must be non-negative",
                );
            }
            check_color(&format!("{key}.color"), &d.color)?;
        }
        let entities = self.entity_names();
        let fixtures: Vec<String> = self.fixtures.iter().map(|f| f.name().to_owned()).collect();
        let objects: Vec<String> = self.objects.iter().map(|o| o.name.clone()).collect();
        if self.stages.is_empty() {
            return bad("stages", "expected at least one stage");
        }
        for (i, s) in self.stages.iter().enumerate() {
            let key = format!("stages[{i}] ({})", s.name);
            if !positive(s.scale) {
                return bad(
                    &format!("{key}.scale"),
                    "expected a positive residual scale",
                );
            }
            s.done
                .check(&entities, &objects, &fixtures)
                .map_err(|w| (format!("{key}.done"), w))?;
        }
        self.success
            .check(&entities, &objects, &fixtures)
            .map_err(|w| ("success".to_owned(), w))?;
        let known = |name: &str, key: &str, pool: &[String]| -> Result<(), (String, String)> {
            if pool.iter().any(|n| n == name) {
                Ok(())
            } else {
                Err((key.to_owned(), format!("`{name}` is not one of {pool:?}")))
            }
        };
        for (i, c) in self.cameras.iter().enumerate() {
            c.check()
                .map_err(|(k, w)| (format!("cameras[{i}] ({}).{k}", c.name), w))?;
        }
        if self.rig.trim().is_empty() || self.rig.contains(['/', '\\']) {
            return bad("rig", "expected the name of a folder in calibration/");
        }
        match &self.expert {
            ExpertConfig::Reach { target } => known(target, "expert.target", &entities)?,
            ExpertConfig::Push { object, target }
            | ExpertConfig::PickPlace { object, target, .. } => {
                known(object, "expert.object", &objects)?;
                known(target, "expert.target", &entities)?;
            }
            ExpertConfig::OpenDrawer { fixture } => known(fixture, "expert.fixture", &fixtures)?,
        }
        Ok(())
    }
}

fn positive(v: f64) -> bool {
    v.is_finite() && v > 0.0
}

fn finite(v: &[f64]) -> bool {
    v.iter().all(|x| x.is_finite())
}

fn non_negative(v: &[f64]) -> bool {
    v.iter().all(|x| x.is_finite() && *x >= 0.0)
}

fn check_friction(key: &str, v: f64) -> Result<(), (String, String)> {
    if v.is_finite() && (0.0..=5.0).contains(&v) {
        Ok(())
    } else {
        Err((
            key.to_owned(),
            format!("expected a friction coefficient in [0, 5], got {v}"),
        ))
    }
}

fn check_color(key: &str, c: &[f64; 3]) -> Result<(), (String, String)> {
    if c.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)) {
        Ok(())
    } else {
        Err((
            key.to_owned(),
            format!("expected linear RGB values in [0, 1], got {c:?}"),
        ))
    }
}
