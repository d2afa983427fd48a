//! Declarative task predicates and the privileged progress function.
//!
//! Every predicate has a *residual*: a non-negative number that is 0 exactly when the
//! predicate holds and grows with how far the state is from satisfying it (metres for
//! distances and heights, the joint's unit for fixtures, a fraction for the gripper).
//!
//! **Privileged progress.** For a scene with ordered stages `s_0 .. s_{N-1}`, each with a
//! completion predicate `done_i` and a residual scale `scale_i`:
//! - if the success predicate holds, progress is 1;
//! - otherwise let `k` be one past the *last* stage whose predicate holds now (0 if none), so
//!   stages are judged on the current state only and undoing work lowers progress;
//! - if `k = N` (every stage holds but success does not), progress is `(N - 0.5) / N`;
//! - else progress is `(k + f_k) / N` with `f_k = 1 - min(1, residual_k / scale_k)`, the
//!   fraction of stage `k` already achieved.
//!
//! Progress therefore lies in [0, 1], is 1 exactly on success, and rises along the stages.

use serde::Deserialize;

use crate::scene::StageConfig;

/// Which axes a distance is measured over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Axes {
    /// Euclidean distance in 3-D.
    #[default]
    Xyz,
    /// Horizontal distance only.
    Xy,
}

/// A condition on the state of the scene.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Predicate {
    /// Entity `a` is within `distance` of entity `b` plus `offset`.
    Near {
        /// First entity (`ee`, an object, a target or `<drawer>.handle`).
        a: String,
        /// Second entity.
        b: String,
        /// Largest distance (m).
        distance: f64,
        /// Axes the distance is measured over.
        #[serde(default)]
        axes: Axes,
        /// Added to `b`'s position (m, world axes).
        #[serde(default)]
        offset: [f64; 3],
    },
    /// An object's centre is at least `height` above the table top.
    Above {
        /// The object.
        object: String,
        /// Height of its centre (m).
        height: f64,
    },
    /// A fixture's joint value is at least `at_least` (m or rad).
    Joint {
        /// The fixture.
        fixture: String,
        /// Threshold.
        at_least: f64,
    },
    /// The gripper is at least half open.
    GripperOpen,
    /// All of these hold (their residuals add up).
    All {
        /// The conjuncts.
        of: Vec<Predicate>,
    },
}

/// What the predicates look at: positions of named entities, fixture joint values and the
/// gripper's closure, in the world frame (z = 0 is the table top).
pub trait TaskState {
    /// Position of an entity (`ee`, object, target, `<drawer>.handle`).
    fn position(&self, entity: &str) -> Option<[f64; 3]>;
    /// Joint value of a fixture.
    fn fixture(&self, name: &str) -> Option<f64>;
    /// Gripper closure: 0 fully open, 1 fully closed.
    fn gripper_closure(&self) -> f64;
}

impl Predicate {
    /// How far the state is from satisfying the predicate (0 when it holds). Unknown names
    /// count as unsatisfiable (infinite residual); scenes are validated so this cannot happen
    /// for a loaded scene.
    pub fn residual(&self, state: &dyn TaskState) -> f64 {
        match self {
            Predicate::Near {
                a,
                b,
                distance,
                axes,
                offset,
            } => match (state.position(a), state.position(b)) {
                (Some(pa), Some(pb)) => {
                    let d: Vec<f64> = (0..3).map(|k| pa[k] - (pb[k] + offset[k])).collect();
                    let dist = match axes {
                        Axes::Xyz => (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt(),
                        Axes::Xy => d[0].hypot(d[1]),
                    };
                    (dist - distance).max(0.0)
                }
                _ => f64::INFINITY,
            },
            Predicate::Above { object, height } => state
                .position(object)
                .map_or(f64::INFINITY, |p| (height - p[2]).max(0.0)),
            Predicate::Joint { fixture, at_least } => state
                .fixture(fixture)
                .map_or(f64::INFINITY, |q| (at_least - q).max(0.0)),
            Predicate::GripperOpen => (state.gripper_closure() - 0.5).max(0.0),
            Predicate::All { of } => of.iter().map(|p| p.residual(state)).sum(),
        }
    }

    /// Whether the predicate holds.
    pub fn holds(&self, state: &dyn TaskState) -> bool {
        self.residual(state) <= 0.0
    }

    /// Checks names and numbers against a scene's entities.
    pub(crate) fn check(
        &self,
        entities: &[String],
        objects: &[String],
        fixtures: &[String],
    ) -> Result<(), String> {
        let known = |name: &str, pool: &[String], what: &str| {
            if pool.iter().any(|n| n == name) {
                Ok(())
            } else {
                Err(format!("`{name}` is not {what}; expected one of {pool:?}"))
            }
        };
        match self {
            Predicate::Near {
                a,
                b,
                distance,
                offset,
                ..
            } => {
                known(a, entities, "an entity")?;
                known(b, entities, "an entity")?;
                if !(distance.is_finite() && *distance >= 0.0)
                    || offset.iter().any(|v| !v.is_finite())
                {
                    return Err("distance must be non-negative and offset finite (m)".into());
                }
                Ok(())
            }
            Predicate::Above { object, height } => {
                known(object, objects, "an object")?;
                if height.is_finite() {
                    Ok(())
                } else {
                    Err("height must be finite (m)".into())
                }
            }
            Predicate::Joint { fixture, at_least } => {
                known(fixture, fixtures, "a fixture")?;
                if at_least.is_finite() {
                    Ok(())
                } else {
                    Err("at_least must be finite".into())
                }
            }
            Predicate::GripperOpen => Ok(()),
            Predicate::All { of } => {
                if of.is_empty() {
                    return Err("`all` needs at least one predicate".into());
                }
                of.iter()
                    .try_for_each(|p| p.check(entities, objects, fixtures))
            }
        }
    }
}

/// Progress and stage of a state, as defined in the module documentation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Privileged progress in [0, 1].
    pub value: f64,
    /// Index of the stage being worked on (= number of stages completed, counted from the
    /// last one that holds); equals the number of stages on success.
    pub stage: usize,
    /// Whether the success predicate holds.
    pub success: bool,
}

/// Evaluates success, stage and progress of `state`.
pub fn evaluate(stages: &[StageConfig], success: &Predicate, state: &dyn TaskState) -> Progress {
    let n = stages.len();
    if success.holds(state) {
        return Progress {
            value: 1.0,
            stage: n,
            success: true,
        };
    }
    let k = stages
        .iter()
        .rposition(|s| s.done.holds(state))
        .map_or(0, |i| i + 1);
    let value = if k >= n {
        (n as f64 - 0.5) / n as f64
    } else {
        let r = stages[k].done.residual(state);
        let f = 1.0 - (r / stages[k].scale).min(1.0);
        (k as f64 + f) / n as f64
    };
    Progress {
        value: value.clamp(0.0, 1.0),
        stage: k.min(n),
        success: false,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    struct State {
        positions: HashMap<&'static str, [f64; 3]>,
        drawer: f64,
        closure: f64,
    }

    impl TaskState for State {
        fn position(&self, entity: &str) -> Option<[f64; 3]> {
            self.positions.get(entity).copied()
        }
        fn fixture(&self, name: &str) -> Option<f64> {
            (name == "drawer").then_some(self.drawer)
        }
        fn gripper_closure(&self) -> f64 {
            self.closure
        }
    }

    fn near(a: &str, b: &str, d: f64) -> Predicate {
        Predicate::Near {
            a: a.into(),
            b: b.into(),
            distance: d,
            axes: Axes::Xyz,
            offset: [0.0; 3],
        }
    }

    #[test]
    fn residuals_measure_distance_to_satisfaction() {
        let state = State {
            positions: HashMap::from([("ee", [0.1, 0.0, 0.0]), ("cube", [0.0, 0.0, 0.02])]),
            drawer: 0.05,
            closure: 0.8,
        };
        let r = near("ee", "cube", 0.01).residual(&state);
        assert!((r - ((0.01f64 + 0.0004).sqrt() - 0.01)).abs() < 1e-12);
        let xy = Predicate::Near {
            a: "ee".into(),
            b: "cube".into(),
            distance: 0.0,
            axes: Axes::Xy,
            offset: [0.0; 3],
        };
        assert!((xy.residual(&state) - 0.1).abs() < 1e-12);
        let above = Predicate::Above {
            object: "cube".into(),
            height: 0.05,
        };
        assert!((above.residual(&state) - 0.03).abs() < 1e-12);
        let joint = Predicate::Joint {
            fixture: "drawer".into(),
            at_least: 0.15,
        };
        assert!((joint.residual(&state) - 0.1).abs() < 1e-12);
        assert!((Predicate::GripperOpen.residual(&state) - 0.3).abs() < 1e-12);
        let all = Predicate::All {
            of: vec![above.clone(), joint.clone()],
        };
        assert!((all.residual(&state) - 0.13).abs() < 1e-12);
        assert!(near("ee", "ghost", 1.0).residual(&state).is_infinite());
    }

    #[test]
    fn progress_rises_through_hand_built_pick_and_place_states() {
        use crate::scene::SceneConfig;
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../sim_scenes/pick_place.toml"
        ))
        .unwrap();
        let scene = SceneConfig::parse(&text, std::path::Path::new("pick_place.toml")).unwrap();
        let goal = [0.5, 0.1, 0.02];
        let state = |ee: [f64; 3], cube: [f64; 3], closure: f64| State {
            positions: HashMap::from([("ee", ee), ("cube", cube), ("goal", goal)]),
            drawer: 0.0,
            closure,
        };
        // The expert's path: far away, above the cube, at the cube, lifted, carried over the
        // goal, lowered onto it, released.
        let path = [
            state([0.3, 0.0, 0.45], [0.5, -0.08, 0.02], 0.0),
            state([0.5, -0.08, 0.12], [0.5, -0.08, 0.02], 0.0),
            state([0.5, -0.08, 0.02], [0.5, -0.08, 0.02], 0.6),
            state([0.5, -0.08, 0.07], [0.5, -0.08, 0.07], 0.6),
            state([0.5, 0.0, 0.14], [0.5, 0.0, 0.14], 0.6),
            state([0.5, 0.1, 0.14], [0.5, 0.1, 0.14], 0.6),
            state([0.5, 0.1, 0.06], [0.5, 0.1, 0.06], 0.6),
            state([0.5, 0.1, 0.02], [0.5, 0.1, 0.02], 0.6),
            state([0.5, 0.1, 0.02], [0.5, 0.1, 0.02], 0.0),
        ];
        let values: Vec<Progress> = path
            .iter()
            .map(|s| evaluate(&scene.stages, &scene.success, s))
            .collect();
        for w in values.windows(2) {
            assert!(w[1].value > w[0].value, "{values:?}");
            assert!(w[1].stage >= w[0].stage, "{values:?}");
        }
        assert_eq!(values[0].stage, 0);
        assert!(values[0].value < 0.05);
        let last = values[values.len() - 1];
        assert!(last.success && last.value == 1.0);
        assert!(
            values[..values.len() - 1]
                .iter()
                .all(|p| !p.success && p.value < 1.0)
        );
        // Putting the cube back where it was undoes the progress.
        let undone = evaluate(&scene.stages, &scene.success, &path[1]);
        assert!(undone.value < values[4].value);
    }
}
