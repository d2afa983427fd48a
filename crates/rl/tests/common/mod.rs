//! A small continuous-control task for the learner's tests.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use striatum_rl::StepEnd;
use striatum_rl::actor::{ActorEnv, EnvObservation, EnvStep};

/// Steps before truncation.
pub const LIMIT: usize = 30;

/// A point in the plane that must reach a goal: obs (x, y, gx, gy), action a step of up to
/// 0.1 per axis, reward minus the distance after the step, terminal within 0.05 of the goal.
pub struct PointReach {
    pub pos: [f32; 2],
    pub goal: [f32; 2],
    pub steps: usize,
    rng: StdRng,
}

impl PointReach {
    pub fn new(seed: u64) -> Self {
        let mut p = PointReach {
            pos: [0.0; 2],
            goal: [0.0; 2],
            steps: 0,
            rng: StdRng::seed_from_u64(seed),
        };
        p.restart();
        p
    }

    pub fn restart(&mut self) {
        let mut r = || self.rng.random_range(-1.0f32..1.0);
        self.pos = [r(), r()];
        self.goal = [r(), r()];
        self.steps = 0;
    }

    pub fn obs(&self) -> Vec<f32> {
        vec![self.pos[0], self.pos[1], self.goal[0], self.goal[1]]
    }

    pub fn distance(&self) -> f32 {
        ((self.pos[0] - self.goal[0]).powi(2) + (self.pos[1] - self.goal[1]).powi(2)).sqrt()
    }

    /// Applies an action; returns the reward and how the step ended.
    pub fn apply(&mut self, a: &[f32]) -> (f32, StepEnd) {
        for (p, d) in self.pos.iter_mut().zip(a) {
            *p = (*p + 0.1 * d.clamp(-1.0, 1.0)).clamp(-1.2, 1.2);
        }
        self.steps += 1;
        let d = self.distance();
        let end = if d < 0.05 {
            StepEnd::Terminal
        } else if self.steps >= LIMIT {
            StepEnd::Truncated
        } else {
            StepEnd::Continue
        };
        (-d, end)
    }

    fn progress(&self) -> f32 {
        (1.0 - self.distance() / 2.0).clamp(0.0, 1.0)
    }
}

impl ActorEnv for PointReach {
    fn obs_dim(&self) -> usize {
        4
    }

    fn act_dim(&self) -> usize {
        2
    }

    fn reset(&mut self, _episode: u64) -> Result<EnvObservation, striatum_rl::RlError> {
        self.restart();
        Ok(EnvObservation {
            obs: self.obs(),
            progress: self.progress(),
        })
    }

    fn step(&mut self, action: &[f32]) -> Result<EnvStep, striatum_rl::RlError> {
        let (reward, end) = self.apply(action);
        Ok(EnvStep {
            next: EnvObservation {
                obs: self.obs(),
                progress: self.progress(),
            },
            reward,
            terminated: end == StepEnd::Terminal,
            truncated: end == StepEnd::Truncated,
            success: end == StepEnd::Terminal,
        })
    }

    fn expert_action(&mut self) -> Option<Vec<f32>> {
        Some(
            (0..2)
                .map(|k| ((self.goal[k] - self.pos[k]) / 0.1).clamp(-1.0, 1.0))
                .collect(),
        )
    }
}
