//! The simulator's tasks in the learner's terms: the policy's action space (tool translation
//! and gripper in `[-1, 1]`) and the privileged observation used as an ablation of (and a
//! reference for) learning from cameras.

use striatum_sim::{Action, Observation};

/// The policy's action size: tool translation (3) and gripper (1), each in [-1, 1].
pub const ACTION_SIZE: usize = 4;

/// How the policy's gripper value becomes a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GripperMode {
    /// Closure proportional to the value: -1 open .. 1 closed.
    #[default]
    Continuous,
    /// Open below 0, closed from 0 up.
    Discrete,
}

/// Maps a policy action in `[-1, 1]^4` to an end-effector command (translation scaled by the
/// controller's largest step; no rotation; gripper 0 open .. 1 closed).
pub fn to_action(a: &[f32], max_translation: f64, gripper: GripperMode) -> Action {
    let g = |i: usize| f64::from(a.get(i).copied().unwrap_or(0.0)).clamp(-1.0, 1.0);
    Action::EeDelta {
        translation: [
            g(0) * max_translation,
            g(1) * max_translation,
            g(2) * max_translation,
        ],
        rotation: [0.0; 3],
        gripper: match gripper {
            GripperMode::Continuous => (g(3) + 1.0) / 2.0,
            GripperMode::Discrete => {
                if g(3) >= 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
        },
    }
}

/// Maps an end-effector command back into the policy's action space (rotation dropped).
pub fn from_action(a: &Action, max_translation: f64) -> Vec<f32> {
    match a {
        Action::EeDelta {
            translation,
            gripper,
            ..
        } => vec![
            (translation[0] / max_translation).clamp(-1.0, 1.0) as f32,
            (translation[1] / max_translation).clamp(-1.0, 1.0) as f32,
            (translation[2] / max_translation).clamp(-1.0, 1.0) as f32,
            (gripper * 2.0 - 1.0).clamp(-1.0, 1.0) as f32,
        ],
        Action::Joints { .. } => vec![0.0; ACTION_SIZE],
    }
}

/// Yaw (rotation about world z) of a quaternion `x y z w`.
fn yaw(q: &[f64; 4]) -> f64 {
    let [x, y, z, w] = *q;
    (2.0 * (w * z + x * y)).atan2(1.0 - 2.0 * (y * y + z * z))
}

/// The privileged observation: tool position and gripper; per object its position, its offset
/// from the tool and its yaw modulo a quarter turn (as sine and cosine of four times the yaw:
/// a box looks the same every 90 degrees); per target its position and offset from the tool;
/// the first object's offset to the first target (x10); fixture joint values.
pub fn privileged_features(obs: &Observation) -> Vec<f32> {
    let ee = obs.ee_position;
    let mut v: Vec<f32> = ee.iter().map(|x| *x as f32).collect();
    v.push(obs.gripper as f32);
    for o in &obs.privileged.objects {
        for (p, e) in o.position.iter().zip(&ee) {
            v.push(*p as f32);
            v.push((p - e) as f32);
        }
        let y4 = 4.0 * yaw(&o.orientation);
        v.push(y4.sin() as f32);
        v.push(y4.cos() as f32);
    }
    for o in &obs.privileged.targets {
        for (p, e) in o.position.iter().zip(&ee) {
            v.push(*p as f32);
            v.push((p - e) as f32);
        }
    }
    if let (Some(a), Some(b)) = (
        obs.privileged.objects.first(),
        obs.privileged.targets.first(),
    ) {
        for (pb, pa) in b.position.iter().zip(&a.position) {
            v.push(((pb - pa) * 10.0) as f32);
        }
    }
    for (_, q) in &obs.privileged.fixtures {
        v.push(*q as f32);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_round_trip_and_clamp() {
        let a = to_action(&[0.5, -1.0, 2.0, 0.0], 0.03, GripperMode::Continuous);
        assert_eq!(from_action(&a, 0.03), vec![0.5, -1.0, 1.0, 0.0]);
        for (value, closed) in [(-0.2f32, 0.0), (0.0, 1.0), (0.7, 1.0)] {
            let Action::EeDelta { gripper, .. } =
                to_action(&[0.0, 0.0, 0.0, value], 0.03, GripperMode::Discrete)
            else {
                panic!("an end-effector action");
            };
            assert_eq!(gripper, closed);
        }
        let Action::EeDelta {
            translation,
            gripper,
            ..
        } = a
        else {
            panic!("an end-effector action");
        };
        assert!((translation[0] - 0.015).abs() < 1e-12);
        assert!((translation[2] - 0.03).abs() < 1e-12);
        assert!((gripper - 0.5).abs() < 1e-12);
    }

    #[test]
    fn yaw_of_quarter_turns_is_equivalent() {
        let q = |t: f64| [0.0, 0.0, (t / 2.0).sin(), (t / 2.0).cos()];
        for t in [0.0, 0.3, -1.2] {
            assert!((yaw(&q(t)) - t).abs() < 1e-9);
            let a = (4.0 * yaw(&q(t))).sin();
            let b = (4.0 * yaw(&q(t + std::f64::consts::FRAC_PI_2))).sin();
            assert!((a - b).abs() < 1e-9);
        }
    }
}
