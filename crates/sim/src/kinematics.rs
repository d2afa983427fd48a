//! Forward kinematics, geometric Jacobians and damped least-squares inverse kinematics over
//! the joint chain between two links of a [`Urdf`].

use nalgebra::{
    DMatrix, DVector, Isometry3, Matrix6, Translation3, Unit, UnitQuaternion, Vector3, Vector6,
};
use thiserror::Error;

use crate::urdf::{JointKind, Urdf};

/// Why a chain could not be built or evaluated.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum KinematicsError {
    /// A named link is not in the description.
    #[error("link `{0}` is not in the robot description")]
    UnknownLink(String),
    /// The tip is not below the base in the tree.
    #[error("link `{tip}` is not a descendant of `{base}`")]
    NotAChain {
        /// Base link.
        base: String,
        /// Tip link.
        tip: String,
    },
    /// A configuration of the wrong length.
    #[error("expected {expected} joint values, got {found}")]
    WrongDof {
        /// Degrees of freedom of the chain.
        expected: usize,
        /// Values given.
        found: usize,
    },
    /// A configuration with NaN or infinite values.
    #[error("joint value {index} is not finite")]
    NonFinite {
        /// Index of the offending value.
        index: usize,
    },
}

#[derive(Debug, Clone)]
struct Step {
    origin: Isometry3<f64>,
    motion: Option<Motion>,
}

#[derive(Debug, Clone, Copy)]
struct Motion {
    prismatic: bool,
    axis: Unit<Vector3<f64>>,
}

/// The serial chain of joints from a base link to a tip link.
#[derive(Debug, Clone)]
pub struct Chain {
    steps: Vec<Step>,
    names: Vec<String>,
    limits: Vec<(f64, f64)>,
    base: String,
    tip: String,
}

/// What inverse kinematics should reach, in the chain's base frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IkTarget {
    /// Desired tip pose.
    pub pose: Isometry3<f64>,
    /// Weight of the orientation error relative to the position error (metres per radian);
    /// 0 solves for position only.
    pub orientation_weight: f64,
    /// Treat the orientation as a secondary task: pursue it only in the null space of the
    /// position task, so position always converges and orientation gets as close as the arm's
    /// degrees of freedom and limits allow (5-DoF arms). Convergence is then judged on position.
    pub orientation_secondary: bool,
}

impl IkTarget {
    /// Reach a position, any orientation.
    pub fn position(p: Vector3<f64>) -> Self {
        Self {
            pose: Isometry3::from_parts(Translation3::from(p), UnitQuaternion::identity()),
            orientation_weight: 0.0,
            orientation_secondary: false,
        }
    }

    /// Reach a position exactly and a preferred orientation as closely as the arm allows
    /// (orientation in the null space of the position task).
    pub fn position_preferring(pose: Isometry3<f64>) -> Self {
        Self {
            pose,
            orientation_weight: 1.0,
            orientation_secondary: true,
        }
    }

    /// Reach a full pose, weighting 1 rad of orientation error like `weight` metres.
    pub fn pose(pose: Isometry3<f64>, weight: f64) -> Self {
        Self {
            pose,
            orientation_weight: weight,
            orientation_secondary: false,
        }
    }
}

/// Solver settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IkOptions {
    /// Position error (m) at which the solve has converged.
    pub position_tolerance: f64,
    /// Orientation error (rad) at which the solve has converged (when weighted).
    pub orientation_tolerance: f64,
    /// Iterations per attempt.
    pub max_iterations: usize,
    /// Damping of the least-squares step (m).
    pub damping: f64,
    /// Largest joint change per iteration (rad or m).
    pub max_step: f64,
    /// Extra attempts from deterministic spread-out starts if the first does not converge.
    pub restarts: usize,
}

impl Default for IkOptions {
    fn default() -> Self {
        Self {
            position_tolerance: 1e-4,
            orientation_tolerance: 1e-3,
            max_iterations: 300,
            damping: 0.02,
            max_step: 0.2,
            restarts: 24,
        }
    }
}

/// The result of an inverse kinematics solve: always the best configuration found, within the
/// joint limits, and whether it meets the tolerances.
#[derive(Debug, Clone, PartialEq)]
pub struct IkSolution {
    /// Joint values.
    pub q: Vec<f64>,
    /// Remaining position error (m).
    pub position_error: f64,
    /// Remaining orientation error (rad; 0 when orientation is not weighted).
    pub orientation_error: f64,
    /// Iterations used in total.
    pub iterations: usize,
    /// Whether the tolerances were met.
    pub converged: bool,
}

impl Chain {
    /// The chain from `base` to `tip` (fixed joints become constant transforms).
    pub fn new(urdf: &Urdf, base: &str, tip: &str) -> Result<Self, KinematicsError> {
        for link in [base, tip] {
            if urdf.link(link).is_none() {
                return Err(KinematicsError::UnknownLink(link.to_owned()));
            }
        }
        let mut joints = Vec::new();
        let mut link = tip.to_owned();
        while link != base {
            let joint = urdf
                .parent_joint(&link)
                .ok_or_else(|| KinematicsError::NotAChain {
                    base: base.to_owned(),
                    tip: tip.to_owned(),
                })?;
            joints.push(joint);
            link = joint.parent.clone();
        }
        joints.reverse();
        let mut steps = Vec::new();
        let mut names = Vec::new();
        let mut limits = Vec::new();
        for j in joints {
            let motion = match j.kind {
                JointKind::Fixed => None,
                JointKind::Prismatic => Some(Motion {
                    prismatic: true,
                    axis: j.axis,
                }),
                JointKind::Revolute | JointKind::Continuous => Some(Motion {
                    prismatic: false,
                    axis: j.axis,
                }),
            };
            if motion.is_some() {
                names.push(j.name.clone());
                limits.push(match (j.kind, j.limits) {
                    (JointKind::Continuous, _) | (_, None) => (f64::NEG_INFINITY, f64::INFINITY),
                    (_, Some(l)) => (l.lower, l.upper),
                });
            }
            steps.push(Step {
                origin: j.origin,
                motion,
            });
        }
        Ok(Self {
            steps,
            names,
            limits,
            base: base.to_owned(),
            tip: tip.to_owned(),
        })
    }

    /// Number of moving joints.
    pub fn dof(&self) -> usize {
        self.names.len()
    }

    /// Names of the moving joints, base to tip.
    pub fn joint_names(&self) -> &[String] {
        &self.names
    }

    /// `(lower, upper)` of each moving joint (infinite for continuous joints).
    pub fn limits(&self) -> &[(f64, f64)] {
        &self.limits
    }

    /// Base and tip link names.
    pub fn ends(&self) -> (&str, &str) {
        (&self.base, &self.tip)
    }

    /// The middle of every joint's range (0 for unlimited joints).
    pub fn mid_configuration(&self) -> Vec<f64> {
        self.limits
            .iter()
            .map(|&(lo, hi)| {
                if lo.is_finite() && hi.is_finite() {
                    0.5 * (lo + hi)
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// `q` clamped into the joint limits.
    pub fn clamp(&self, q: &mut [f64]) {
        for (v, &(lo, hi)) in q.iter_mut().zip(&self.limits) {
            *v = v.clamp(lo, hi);
        }
    }

    fn check(&self, q: &[f64]) -> Result<(), KinematicsError> {
        if q.len() != self.dof() {
            return Err(KinematicsError::WrongDof {
                expected: self.dof(),
                found: q.len(),
            });
        }
        match q.iter().position(|v| !v.is_finite()) {
            Some(index) => Err(KinematicsError::NonFinite { index }),
            None => Ok(()),
        }
    }

    /// Pose of the tip in the base frame, and of every moving joint's frame (for Jacobians).
    fn frames(&self, q: &[f64]) -> (Isometry3<f64>, Vec<(Isometry3<f64>, Motion)>) {
        let mut pose = Isometry3::identity();
        let mut joints = Vec::with_capacity(self.dof());
        let mut i = 0;
        for step in &self.steps {
            pose *= step.origin;
            if let Some(m) = step.motion {
                joints.push((pose, m));
                let v = q[i];
                i += 1;
                pose *= if m.prismatic {
                    Isometry3::from_parts(
                        Translation3::from(m.axis.into_inner() * v),
                        UnitQuaternion::identity(),
                    )
                } else {
                    Isometry3::from_parts(
                        Translation3::identity(),
                        UnitQuaternion::from_axis_angle(&m.axis, v),
                    )
                };
            }
        }
        (pose, joints)
    }

    /// Pose of the tip link in the base link's frame.
    pub fn fk(&self, q: &[f64]) -> Result<Isometry3<f64>, KinematicsError> {
        self.check(q)?;
        Ok(self.frames(q).0)
    }

    /// The 6 x dof geometric Jacobian in the base frame: rows 0-2 linear velocity of the tip
    /// origin, rows 3-5 angular velocity.
    pub fn jacobian(&self, q: &[f64]) -> Result<DMatrix<f64>, KinematicsError> {
        self.check(q)?;
        let (tip, joints) = self.frames(q);
        Ok(self.jacobian_from(&tip, &joints))
    }

    fn jacobian_from(
        &self,
        tip: &Isometry3<f64>,
        joints: &[(Isometry3<f64>, Motion)],
    ) -> DMatrix<f64> {
        let mut j = DMatrix::zeros(6, self.dof());
        let p_tip = tip.translation.vector;
        for (c, (frame, m)) in joints.iter().enumerate() {
            let axis = frame.rotation * m.axis.into_inner();
            let (lin, ang) = if m.prismatic {
                (axis, Vector3::zeros())
            } else {
                (axis.cross(&(p_tip - frame.translation.vector)), axis)
            };
            j.fixed_view_mut::<3, 1>(0, c).copy_from(&lin);
            j.fixed_view_mut::<3, 1>(3, c).copy_from(&ang);
        }
        j
    }

    /// Solves for joint values that bring the tip to `target`, starting from `q0`, with damped
    /// least squares, joint limits enforced at every step, and deterministic restarts. Never
    /// fails: an unreachable target yields the closest configuration found, `converged: false`.
    pub fn ik(
        &self,
        target: &IkTarget,
        q0: &[f64],
        opts: &IkOptions,
    ) -> Result<IkSolution, KinematicsError> {
        self.check(q0)?;
        let mut best = self.solve_once(target, q0.to_vec(), opts);
        let mut total_iterations = best.iterations;
        for attempt in 1..=opts.restarts {
            if best.converged {
                break;
            }
            let sol = self.solve_once(target, self.spread_start(attempt), opts);
            total_iterations += sol.iterations;
            if score(&sol, target) < score(&best, target) {
                best = sol;
            }
        }
        best.iterations = total_iterations;
        Ok(best)
    }

    /// A deterministic start spread over the joint ranges (a quasi-random sequence).
    fn spread_start(&self, attempt: usize) -> Vec<f64> {
        self.limits
            .iter()
            .enumerate()
            .map(|(i, &(lo, hi))| {
                let (lo, hi) = if lo.is_finite() && hi.is_finite() {
                    (lo, hi)
                } else {
                    (-std::f64::consts::PI, std::f64::consts::PI)
                };
                // Fractional parts of multiples of a per-joint irrational step.
                let alpha = 1.0 / (1.0 + (i as f64 + 1.0) * 0.618_033_988_749_895);
                let u = (0.5 + attempt as f64 * alpha).fract();
                lo + (hi - lo) * (0.1 + 0.8 * u)
            })
            .collect()
    }

    fn solve_once(&self, target: &IkTarget, mut q: Vec<f64>, opts: &IkOptions) -> IkSolution {
        if target.orientation_secondary {
            return self.solve_prioritised(target, q, opts);
        }
        self.clamp(&mut q);
        let w = target.orientation_weight;
        let mut iterations = 0;
        loop {
            let (tip, joints) = self.frames(&q);
            let (e_pos, e_rot) = errors(&tip, &target.pose);
            let pos_err = e_pos.norm();
            let rot_err = if w > 0.0 { e_rot.norm() } else { 0.0 };
            let converged =
                pos_err <= opts.position_tolerance && rot_err <= opts.orientation_tolerance;
            if converged || iterations >= opts.max_iterations {
                return IkSolution {
                    q,
                    position_error: pos_err,
                    orientation_error: rot_err,
                    iterations,
                    converged,
                };
            }
            iterations += 1;
            let mut e = Vector6::zeros();
            e.fixed_rows_mut::<3>(0).copy_from(&e_pos);
            e.fixed_rows_mut::<3>(3).copy_from(&(e_rot * w));
            let mut jac = self.jacobian_from(&tip, &joints);
            for c in 0..self.dof() {
                for r in 3..6 {
                    jac[(r, c)] *= w;
                }
            }
            // dq = J^T (J J^T + lambda^2 I)^-1 e
            let jjt: Matrix6<f64> =
                Matrix6::from_iterator((&jac * jac.transpose()).iter().copied());
            let damped = jjt + Matrix6::identity() * opts.damping * opts.damping;
            let Some(y) = damped.cholesky().map(|c| c.solve(&e)) else {
                continue;
            };
            let dq: DVector<f64> = jac.transpose() * DVector::from_column_slice(y.as_slice());
            let largest = dq.amax();
            let scale = if largest > opts.max_step {
                opts.max_step / largest
            } else {
                1.0
            };
            for (v, d) in q.iter_mut().zip(dq.iter()) {
                *v += d * scale;
            }
            self.clamp(&mut q);
        }
    }
}

impl Chain {
    /// Damped least squares on position, with the orientation error reduced in the position
    /// task's null space: dq = Jp# ep + (I - Jp# Jp) Jo# eo.
    fn solve_prioritised(
        &self,
        target: &IkTarget,
        mut q: Vec<f64>,
        opts: &IkOptions,
    ) -> IkSolution {
        self.clamp(&mut q);
        let n = self.dof();
        let lambda2 = opts.damping * opts.damping;
        let mut iterations = 0;
        let mut previous_rot = f64::INFINITY;
        loop {
            let (tip, joints) = self.frames(&q);
            let (e_pos, e_rot) = errors(&tip, &target.pose);
            let pos_err = e_pos.norm();
            let rot_err = e_rot.norm();
            let position_ok = pos_err <= opts.position_tolerance;
            // Orientation has stopped improving (joint limits or too few joints): done.
            let stalled = position_ok && previous_rot - rot_err < 1e-5;
            previous_rot = rot_err;
            if !position_ok && iterations >= opts.max_iterations {
                // Polish the position alone from the best compromise found.
                let mut polish =
                    self.solve_once(&IkTarget::position(target.pose.translation.vector), q, opts);
                let (tip, _) = self.frames(&polish.q);
                polish.orientation_error = errors(&tip, &target.pose).1.norm();
                polish.iterations += iterations;
                return polish;
            }
            if (position_ok && rot_err <= opts.orientation_tolerance)
                || stalled
                || iterations >= opts.max_iterations
            {
                return IkSolution {
                    q,
                    position_error: pos_err,
                    orientation_error: rot_err,
                    iterations,
                    converged: position_ok,
                };
            }
            iterations += 1;
            let jac = self.jacobian_from(&tip, &joints);
            // Joints pinned at a limit and pushed further out are dropped from the step (an
            // active set), so the clamp never undoes the position task.
            let mut free = vec![true; n];
            let mut dq = DVector::zeros(n);
            for _ in 0..=n {
                let mut masked = jac.clone();
                for (c, f) in free.iter().enumerate() {
                    if !f {
                        masked.column_mut(c).fill(0.0);
                    }
                }
                let jp = masked.rows(0, 3).into_owned();
                let jo = masked.rows(3, 3).into_owned();
                let (Some(jp_pinv), Some(jo_pinv)) =
                    (damped_pinv(&jp, lambda2), damped_pinv(&jo, lambda2))
                else {
                    break;
                };
                let dq_pos = &jp_pinv * DVector::from_column_slice(e_pos.as_slice());
                // The projector uses a nearly undamped inverse so the orientation step leaks
                // as little as possible into the position task.
                let Some(jp_exact) = damped_pinv(&jp, 1e-10) else {
                    break;
                };
                let null = DMatrix::<f64>::identity(n, n) - &jp_exact * &jp;
                let dq_rot = &null * (&jo_pinv * DVector::from_column_slice(e_rot.as_slice()));
                dq = dq_pos + dq_rot * target.orientation_weight.min(1.0);
                let mut changed = false;
                for (c, &(lo, hi)) in self.limits.iter().enumerate() {
                    let pinned =
                        (q[c] <= lo + 1e-9 && dq[c] < 0.0) || (q[c] >= hi - 1e-9 && dq[c] > 0.0);
                    if free[c] && pinned {
                        free[c] = false;
                        changed = true;
                    }
                }
                if !changed {
                    break;
                }
            }
            for (c, f) in free.iter().enumerate() {
                if !f {
                    dq[c] = 0.0;
                }
            }
            if position_ok && dq.amax() < 1e-7 {
                // Orientation cannot improve without moving the tip: as good as it gets.
                return IkSolution {
                    q,
                    position_error: pos_err,
                    orientation_error: rot_err,
                    iterations,
                    converged: true,
                };
            }
            let largest = dq.amax();
            let scale = if largest > opts.max_step {
                opts.max_step / largest
            } else {
                1.0
            };
            for (v, d) in q.iter_mut().zip(dq.iter()) {
                *v += d * scale;
            }
            self.clamp(&mut q);
        }
    }
}

/// J^T (J J^T + lambda^2 I)^-1 for a 3-row Jacobian block.
fn damped_pinv(j: &DMatrix<f64>, lambda2: f64) -> Option<DMatrix<f64>> {
    let rows = j.nrows();
    let jjt = j * j.transpose() + DMatrix::<f64>::identity(rows, rows) * lambda2;
    let inv = jjt.cholesky()?.inverse();
    Some(j.transpose() * inv)
}

/// Position error and orientation error (axis times angle) from `current` to `target`.
fn errors(current: &Isometry3<f64>, target: &Isometry3<f64>) -> (Vector3<f64>, Vector3<f64>) {
    let e_pos = target.translation.vector - current.translation.vector;
    let e_rot = (target.rotation * current.rotation.inverse()).scaled_axis();
    (e_pos, e_rot)
}

fn score(sol: &IkSolution, target: &IkTarget) -> f64 {
    if target.orientation_secondary {
        return sol.position_error + 1e-3 * sol.orientation_error;
    }
    sol.position_error + target.orientation_weight * sol.orientation_error
}
