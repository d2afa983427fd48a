//! Potential-based reward shaping from progress estimates.
//!
//! `r' = r_task + lambda * (gamma * Phi(s') - Phi(s))`, with `Phi(s') = 0` when `s'` is a true
//! terminal state and `Phi(s')` used as is when the episode is cut by a time limit (the learner
//! bootstraps there, so the state is not terminal). With a potential that is a function of the
//! state alone this leaves every optimal policy unchanged (Ng, Harada and Russell, 1999); using
//! progress itself as the reward does not (the tabular tests show both).
//!
//! [`Potential`] turns a stream of progress estimates into `Phi`: optionally clipped to a range,
//! smoothed by an exponential moving average, and gated by the reward model's uncertainty
//! (an estimate above the gate keeps the previous potential). Smoothing and gating make `Phi`
//! depend on the episode's history rather than on the state alone, trading the exact
//! invariance for robustness to a noisy model; both are off by default.

use serde::{Deserialize, Serialize};

use crate::RlError;

/// How a transition ended, as far as shaping and bootstrapping are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepEnd {
    /// The episode goes on.
    Continue,
    /// `s'` is a true terminal state (success or failure): no bootstrap, `Phi(s') = 0`.
    Terminal,
    /// The episode was cut by its time limit: the learner bootstraps, `Phi(s')` is used as is.
    Truncated,
}

impl StepEnd {
    /// Whether the learner bootstraps from `s'` (everything but a true terminal state).
    pub fn bootstraps(self) -> bool {
        self != StepEnd::Terminal
    }
}

/// Shaping settings (the `[shaping]` table of a learner config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShapingConfig {
    /// Weight of the shaping term (0 turns shaping off).
    pub lambda: f64,
    /// Discount used in the shaping term; must equal the learner's discount for invariance.
    pub gamma: f64,
    /// Clip the potential to `[lo, hi]` before use.
    pub clip: Option<[f64; 2]>,
    /// Exponential moving average factor in `[0, 1)`: `Phi = a * Phi_prev + (1 - a) * p`
    /// (0: no smoothing).
    pub smoothing: f64,
    /// Estimates whose uncertainty exceeds this keep the previous potential.
    pub max_uncertainty: Option<f64>,
}

impl Default for ShapingConfig {
    fn default() -> Self {
        ShapingConfig {
            lambda: 1.0,
            gamma: 0.99,
            clip: None,
            smoothing: 0.0,
            max_uncertainty: None,
        }
    }
}

impl ShapingConfig {
    /// Checks ranges, naming the first setting that is out of range.
    pub fn validate(&self) -> Result<(), RlError> {
        let bad = |what: &str, why: String| Err(RlError::Config(format!("shaping.{what}: {why}")));
        if !self.lambda.is_finite() || self.lambda < 0.0 {
            return bad(
                "lambda",
                format!("{} is not a finite value >= 0", self.lambda),
            );
        }
        if !(self.gamma > 0.0 && self.gamma <= 1.0) {
            return bad("gamma", format!("{} is not in (0, 1]", self.gamma));
        }
        if let Some([lo, hi]) = self.clip
            && !(lo.is_finite() && hi.is_finite() && lo < hi)
        {
            return bad(
                "clip",
                format!("[{lo}, {hi}] is not a finite range lo < hi"),
            );
        }
        if !(0.0..1.0).contains(&self.smoothing) {
            return bad("smoothing", format!("{} is not in [0, 1)", self.smoothing));
        }
        if let Some(u) = self.max_uncertainty
            && !(u.is_finite() && u >= 0.0)
        {
            return bad("max_uncertainty", format!("{u} is not a finite value >= 0"));
        }
        Ok(())
    }

    /// The shaped reward of one transition from the potentials of `s` and `s'`.
    pub fn shaped(&self, task_reward: f64, phi: f64, phi_next: f64, end: StepEnd) -> f64 {
        shaped_reward(task_reward, phi, phi_next, end, self.lambda, self.gamma)
    }
}

/// `r_task + lambda * (gamma * Phi(s') - Phi(s))`, with `Phi(s') = 0` at a true terminal state.
pub fn shaped_reward(
    task_reward: f64,
    phi: f64,
    phi_next: f64,
    end: StepEnd,
    lambda: f64,
    gamma: f64,
) -> f64 {
    let next = if end == StepEnd::Terminal {
        0.0
    } else {
        phi_next
    };
    task_reward + lambda * (gamma * next - phi)
}

/// The potential of one episode, updated with each progress estimate.
#[derive(Debug, Clone)]
pub struct Potential {
    config: ShapingConfig,
    current: Option<f64>,
    gated: u64,
}

impl Potential {
    /// A potential for a new episode.
    pub fn new(config: ShapingConfig) -> Self {
        Potential {
            config,
            current: None,
            gated: 0,
        }
    }

    /// Forgets the episode (call at every reset).
    pub fn reset(&mut self) {
        self.current = None;
    }

    /// The potential now, if an estimate has arrived this episode.
    pub fn value(&self) -> Option<f64> {
        self.current
    }

    /// How many estimates the uncertainty gate has held back so far.
    pub fn gated(&self) -> u64 {
        self.gated
    }

    /// Folds in a progress estimate and returns the potential. A non-finite progress is an
    /// error; a non-finite uncertainty counts as above any gate.
    pub fn update(&mut self, progress: f64, uncertainty: f64) -> Result<f64, RlError> {
        if !progress.is_finite() {
            return Err(RlError::Input(format!("progress {progress} is not finite")));
        }
        if let (Some(gate), Some(prev)) = (self.config.max_uncertainty, self.current)
            && (uncertainty.is_nan() || uncertainty > gate)
        {
            self.gated += 1;
            return Ok(prev);
        }
        let p = match self.config.clip {
            Some([lo, hi]) => progress.clamp(lo, hi),
            None => progress,
        };
        let a = self.config.smoothing;
        let phi = match self.current {
            Some(prev) if a > 0.0 => a * prev + (1.0 - a) * p,
            _ => p,
        };
        self.current = Some(phi);
        Ok(phi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_states_have_zero_potential_and_truncation_keeps_it() {
        let c = ShapingConfig {
            lambda: 2.0,
            gamma: 0.9,
            ..Default::default()
        };
        assert!((c.shaped(0.0, 0.2, 0.5, StepEnd::Continue) - 2.0 * (0.45 - 0.2)).abs() < 1e-12);
        assert!((c.shaped(1.0, 0.8, 1.0, StepEnd::Terminal) - (1.0 - 1.6)).abs() < 1e-12);
        assert!((c.shaped(0.0, 0.8, 0.9, StepEnd::Truncated) - 2.0 * (0.81 - 0.8)).abs() < 1e-12);
        assert!(StepEnd::Truncated.bootstraps() && !StepEnd::Terminal.bootstraps());
    }

    #[test]
    fn potential_clips_smooths_and_gates() {
        let mut p = Potential::new(ShapingConfig {
            clip: Some([0.0, 1.0]),
            smoothing: 0.5,
            max_uncertainty: Some(0.2),
            ..Default::default()
        });
        assert_eq!(p.update(1.4, 0.0).unwrap(), 1.0);
        assert_eq!(p.update(0.0, 0.1).unwrap(), 0.5);
        // Too uncertain (or NaN uncertainty): the previous potential stays.
        assert_eq!(p.update(0.9, 0.5).unwrap(), 0.5);
        assert_eq!(p.update(0.9, f64::NAN).unwrap(), 0.5);
        assert_eq!(p.gated(), 2);
        assert!(p.update(f64::NAN, 0.0).is_err());
        p.reset();
        assert_eq!(p.value(), None);
        // The first estimate of an episode is taken even when uncertain.
        assert_eq!(p.update(0.3, 9.0).unwrap(), 0.3);
    }

    #[test]
    fn bad_settings_are_named() {
        for (c, key) in [
            (
                ShapingConfig {
                    gamma: 1.5,
                    ..Default::default()
                },
                "gamma",
            ),
            (
                ShapingConfig {
                    clip: Some([1.0, 0.0]),
                    ..Default::default()
                },
                "clip",
            ),
            (
                ShapingConfig {
                    smoothing: 1.0,
                    ..Default::default()
                },
                "smoothing",
            ),
            (
                ShapingConfig {
                    lambda: f64::NAN,
                    ..Default::default()
                },
                "lambda",
            ),
        ] {
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(key), "{e}");
        }
    }
}
