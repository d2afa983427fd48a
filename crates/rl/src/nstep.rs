//! `n`-step returns: one-step transitions of an episode, fed in order, folded into transitions
//! that sum up to `n` discounted rewards before the learner bootstraps.
//!
//! A transition starting at step `t` becomes `(s_t, a_t, sum_{k<m} gamma^k r_{t+k}, s_{t+m})`
//! with `m = min(n, steps left in the episode)`; the learner discounts its bootstrap from
//! `s_{t+m}` by `gamma^m` (and does not bootstrap when the episode ended in a true terminal
//! state within those `m` steps). With shaped rewards the potentials telescope: the folded
//! reward is `sum gamma^k r_task + lambda * (gamma^m Phi(s_{t+m}) - Phi(s_t))`, so the
//! potential's step-to-step noise enters once per `m` steps rather than once per step.
//! Every folded transition is a real piece of the episode, so any `m` between 1 and `n` is a
//! valid target; `n = 1` passes transitions through unchanged.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::RlError;
use crate::buffer::Transition;
use crate::shaping::StepEnd;

/// Folds one stream of consecutive one-step transitions (one episode at a time) into
/// `n`-step transitions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NStepReturns {
    n: usize,
    gamma: f64,
    window: VecDeque<Transition>,
}

impl NStepReturns {
    /// A folder over `n` steps (`1..=100`) with discount `gamma` (`(0, 1)`).
    pub fn new(n: usize, gamma: f64) -> Result<Self, RlError> {
        if !(1..=100).contains(&n) {
            return Err(RlError::Config(format!("n_step: {n} is not in 1..=100")));
        }
        if !(gamma > 0.0 && gamma < 1.0) {
            return Err(RlError::Config(format!(
                "n_step gamma: {gamma} is not in (0, 1)"
            )));
        }
        Ok(NStepReturns {
            n,
            gamma,
            window: VecDeque::with_capacity(n),
        })
    }

    /// Steps folded together at most.
    pub fn n(&self) -> usize {
        self.n
    }

    /// One-step transitions waiting for later steps.
    pub fn pending(&self) -> usize {
        self.window.len()
    }

    /// Takes the episode's next one-step transition; returns the transitions now complete:
    /// the one starting `n - 1` steps back once `n` are held, and at the episode's end
    /// (terminal or truncated) every one still waiting, each with the steps it has.
    pub fn push(&mut self, t: Transition) -> Vec<Transition> {
        let end = t.end;
        self.window.push_back(t);
        if end != StepEnd::Continue {
            return self.flush();
        }
        let mut out = Vec::new();
        if self.window.len() >= self.n {
            out.push(self.fold());
            self.window.pop_front();
        }
        out
    }

    /// Every transition still waiting, folded over the steps it has (for an episode that
    /// stops without an end step, e.g. its actor left, or a stretch of demonstration steps
    /// that ends). Leaves the folder empty.
    pub fn flush(&mut self) -> Vec<Transition> {
        let mut out = Vec::with_capacity(self.window.len());
        while !self.window.is_empty() {
            out.push(self.fold());
            self.window.pop_front();
        }
        out
    }

    /// The transition from the window's first step to its last.
    fn fold(&self) -> Transition {
        let (Some(first), Some(last)) = (self.window.front(), self.window.back()) else {
            unreachable!("fold is only called on a non-empty window")
        };
        let mut reward = 0.0f64;
        let mut discount = 1.0f64;
        let mut steps = 0u32;
        for t in &self.window {
            reward += discount * f64::from(t.reward);
            discount *= self.gamma.powi(t.steps.max(1) as i32);
            steps += t.steps.max(1);
        }
        Transition {
            obs: first.obs.clone(),
            action: first.action.clone(),
            reward: reward as f32,
            next_obs: last.next_obs.clone(),
            end: last.end,
            steps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(i: usize, reward: f32, end: StepEnd) -> Transition {
        Transition::new(
            vec![i as f32],
            vec![0.1 * i as f32],
            reward,
            vec![i as f32 + 1.0],
            end,
        )
    }

    #[test]
    fn folds_discounted_rewards_and_flushes_at_the_end() {
        let g = 0.9;
        let mut f = NStepReturns::new(3, g).unwrap();
        let rewards = [1.0f32, 2.0, 3.0, 4.0, 5.0];
        let mut out = Vec::new();
        for (i, r) in rewards.iter().enumerate() {
            let end = if i == 4 {
                StepEnd::Terminal
            } else {
                StepEnd::Continue
            };
            let got = f.push(step(i, *r, end));
            // Nothing is complete until three steps are held; then one per step.
            assert_eq!(
                got.len(),
                if i < 2 {
                    0
                } else if i < 4 {
                    1
                } else {
                    3
                }
            );
            out.extend(got);
        }
        assert_eq!(f.pending(), 0);
        assert_eq!(out.len(), 5);
        let sum = |from: usize, m: usize| -> f64 {
            (0..m)
                .map(|k| g.powi(k as i32) * f64::from(rewards[from + k]))
                .sum()
        };
        for (t, want_steps) in out.iter().zip([3u32, 3, 3, 2, 1]) {
            let from = t.obs[0] as usize;
            assert_eq!(t.steps, want_steps);
            assert!((f64::from(t.reward) - sum(from, want_steps as usize)).abs() < 1e-5);
            assert_eq!(t.next_obs[0], (from + want_steps as usize) as f32);
            assert_eq!(t.action, vec![0.1 * from as f32]);
        }
        // Windows that reach the terminal step end there; the others continue.
        let ends: Vec<StepEnd> = out.iter().map(|t| t.end).collect();
        assert_eq!(
            ends,
            [
                StepEnd::Continue,
                StepEnd::Continue,
                StepEnd::Terminal,
                StepEnd::Terminal,
                StepEnd::Terminal
            ]
        );
    }

    #[test]
    fn one_step_passes_transitions_through() {
        let mut f = NStepReturns::new(1, 0.97).unwrap();
        let t = step(0, 0.5, StepEnd::Continue);
        assert_eq!(f.push(t.clone()), vec![t]);
        let t = step(1, 1.0, StepEnd::Truncated);
        assert_eq!(f.push(t.clone()), vec![t]);
    }

    #[test]
    fn a_truncated_episode_bootstraps_from_its_last_state() {
        let mut f = NStepReturns::new(4, 0.5).unwrap();
        assert!(f.push(step(0, 1.0, StepEnd::Continue)).is_empty());
        let out = f.push(step(1, 1.0, StepEnd::Truncated));
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].steps, out[0].end), (2, StepEnd::Truncated));
        assert!((out[0].reward - 1.5).abs() < 1e-6);
        assert_eq!(out[0].next_obs, vec![2.0]);
    }

    #[test]
    fn flush_folds_what_is_waiting() {
        let mut f = NStepReturns::new(5, 0.9).unwrap();
        for i in 0..3 {
            assert!(f.push(step(i, 1.0, StepEnd::Continue)).is_empty());
        }
        let out = f.flush();
        assert_eq!(out.iter().map(|t| t.steps).collect::<Vec<_>>(), [3, 2, 1]);
        assert!(out.iter().all(|t| t.end == StepEnd::Continue));
        assert_eq!(f.pending(), 0);
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(NStepReturns::new(0, 0.9).is_err());
        assert!(NStepReturns::new(101, 0.9).is_err());
        assert!(NStepReturns::new(3, 1.0).is_err());
        assert!(NStepReturns::new(3, f64::NAN).is_err());
    }
}
