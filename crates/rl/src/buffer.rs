//! Replay buffers: fixed-capacity rings of transitions, and batches that mix a demonstration
//! buffer with an online one in a set proportion (RLPD samples them half and half).

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::RlError;
use crate::shaping::StepEnd;

/// One environment step as the learner sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// Observation before the step.
    pub obs: Vec<f32>,
    /// Action taken (in `[-1, 1]` per dimension).
    pub action: Vec<f32>,
    /// Reward of the step, already shaped.
    pub reward: f32,
    /// Observation after the step.
    pub next_obs: Vec<f32>,
    /// How the step ended.
    pub end: StepEnd,
    /// Environment steps the transition spans: 1 for one step; `m` for an `m`-step return
    /// (`reward` sums `m` discounted rewards, `next_obs` is `m` steps on, and the learner
    /// discounts its bootstrap by `gamma^m`). See [`crate::NStepReturns`].
    #[serde(default = "one_step")]
    pub steps: u32,
}

fn one_step() -> u32 {
    1
}

impl Transition {
    /// A one-step transition.
    pub fn new(
        obs: Vec<f32>,
        action: Vec<f32>,
        reward: f32,
        next_obs: Vec<f32>,
        end: StepEnd,
    ) -> Self {
        Transition {
            obs,
            action,
            reward,
            next_obs,
            end,
            steps: 1,
        }
    }
}

/// A ring of transitions with fixed observation and action sizes; the oldest are overwritten
/// once it is full.
#[derive(Debug, Clone)]
pub struct ReplayBuffer {
    obs_dim: usize,
    act_dim: usize,
    capacity: usize,
    len: usize,
    next: usize,
    pushed: u64,
    /// Storage, `capacity` rows in ring order.
    rows: Batch,
}

/// A batch laid out row-major, ready to become tensors.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// Rows in the batch.
    pub size: usize,
    /// `[size, obs_dim]`.
    pub obs: Vec<f32>,
    /// `[size, act_dim]`.
    pub actions: Vec<f32>,
    /// `[size]`.
    pub rewards: Vec<f32>,
    /// `[size, obs_dim]`.
    pub next_obs: Vec<f32>,
    /// `[size]`: 1 where the learner bootstraps from `next_obs`, 0 at true terminal states.
    pub bootstrap: Vec<f32>,
    /// `[size]`: environment steps each row spans (its bootstrap is discounted by
    /// `gamma^steps`).
    pub steps: Vec<f32>,
    /// How many rows came from the demonstration buffer (they come first).
    pub from_demo: usize,
}

impl Batch {
    /// Row `r` as a transition, for rows of `obs_dim` observations and `act_dim` actions.
    fn row(&self, r: usize, obs_dim: usize, act_dim: usize) -> Transition {
        Transition {
            obs: self.obs[r * obs_dim..(r + 1) * obs_dim].to_vec(),
            action: self.actions[r * act_dim..(r + 1) * act_dim].to_vec(),
            reward: self.rewards[r],
            next_obs: self.next_obs[r * obs_dim..(r + 1) * obs_dim].to_vec(),
            end: if self.bootstrap[r] > 0.5 {
                StepEnd::Continue
            } else {
                StepEnd::Terminal
            },
            steps: self.steps[r].round().max(1.0) as u32,
        }
    }
}

impl ReplayBuffer {
    /// An empty buffer for `capacity` transitions.
    pub fn new(obs_dim: usize, act_dim: usize, capacity: usize) -> Result<Self, RlError> {
        if obs_dim == 0 || act_dim == 0 || capacity == 0 {
            return Err(RlError::Config(format!(
                "replay buffer needs non-zero sizes (obs {obs_dim}, action {act_dim}, capacity {capacity})"
            )));
        }
        Ok(ReplayBuffer {
            obs_dim,
            act_dim,
            capacity,
            len: 0,
            next: 0,
            pushed: 0,
            rows: Batch {
                size: capacity,
                obs: vec![0.0; capacity * obs_dim],
                actions: vec![0.0; capacity * act_dim],
                rewards: vec![0.0; capacity],
                next_obs: vec![0.0; capacity * obs_dim],
                bootstrap: vec![0.0; capacity],
                steps: vec![1.0; capacity],
                from_demo: 0,
            },
        })
    }

    /// Observation size.
    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    /// Action size.
    pub fn act_dim(&self) -> usize {
        self.act_dim
    }

    /// Most transitions held.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Transitions held now.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Transitions ever pushed (including overwritten ones).
    pub fn pushed(&self) -> u64 {
        self.pushed
    }

    /// Stores a transition. A wrong size or a non-finite number is refused with an error that
    /// says which field, and nothing is stored.
    pub fn push(&mut self, t: &Transition) -> Result<(), RlError> {
        self.validate(t)?;
        let i = self.next;
        self.rows.obs[i * self.obs_dim..(i + 1) * self.obs_dim].copy_from_slice(&t.obs);
        self.rows.next_obs[i * self.obs_dim..(i + 1) * self.obs_dim].copy_from_slice(&t.next_obs);
        self.rows.actions[i * self.act_dim..(i + 1) * self.act_dim].copy_from_slice(&t.action);
        self.rows.rewards[i] = t.reward;
        self.rows.bootstrap[i] = if t.end.bootstraps() { 1.0 } else { 0.0 };
        self.rows.steps[i] = t.steps as f32;
        self.next = (i + 1) % self.capacity;
        self.len = (self.len + 1).min(self.capacity);
        self.pushed += 1;
        Ok(())
    }

    /// Whether `t` fits this buffer (sizes, finite values, `steps >= 1`); the error names the
    /// first field that does not.
    pub fn validate(&self, t: &Transition) -> Result<(), RlError> {
        check("obs", &t.obs, self.obs_dim)?;
        check("next_obs", &t.next_obs, self.obs_dim)?;
        check("action", &t.action, self.act_dim)?;
        if !t.reward.is_finite() {
            return Err(RlError::Input(format!("reward {} is not finite", t.reward)));
        }
        if t.steps == 0 {
            return Err(RlError::Input(
                "steps is 0 (a transition spans >= 1 step)".into(),
            ));
        }
        Ok(())
    }

    /// The transition stored at `index` (0 = oldest held).
    pub fn get(&self, index: usize) -> Option<Transition> {
        if index >= self.len {
            return None;
        }
        Some(self.rows.row(self.slot(index), self.obs_dim, self.act_dim))
    }

    fn slot(&self, index: usize) -> usize {
        if self.len < self.capacity {
            index
        } else {
            (self.next + index) % self.capacity
        }
    }

    fn append_row(&self, slot: usize, b: &mut Batch) {
        let (o, a) = (self.obs_dim, self.act_dim);
        b.obs
            .extend_from_slice(&self.rows.obs[slot * o..(slot + 1) * o]);
        b.next_obs
            .extend_from_slice(&self.rows.next_obs[slot * o..(slot + 1) * o]);
        b.actions
            .extend_from_slice(&self.rows.actions[slot * a..(slot + 1) * a]);
        b.rewards.push(self.rows.rewards[slot]);
        b.bootstrap.push(self.rows.bootstrap[slot]);
        b.steps.push(self.rows.steps[slot]);
        b.size += 1;
    }

    /// `n` transitions drawn uniformly with replacement.
    pub fn sample(&self, n: usize, rng: &mut impl Rng) -> Result<Batch, RlError> {
        sample_mixed(None, self, n, 0.0, rng)
    }

    /// The buffer's contents in storage order, oldest first: (obs, actions, rewards,
    /// next_obs, bootstrap, steps), for checkpoints.
    pub fn export(&self) -> Batch {
        let mut b = Batch::default();
        for index in 0..self.len {
            self.append_row(self.slot(index), &mut b);
        }
        b
    }

    /// Refills an empty buffer from [`ReplayBuffer::export`]'s output; `pushed` restores the
    /// lifetime count.
    pub fn import(&mut self, b: &Batch, pushed: u64) -> Result<(), RlError> {
        let n = b.size;
        if b.obs.len() != n * self.obs_dim
            || b.next_obs.len() != n * self.obs_dim
            || b.actions.len() != n * self.act_dim
            || b.rewards.len() != n
            || b.bootstrap.len() != n
            || b.steps.len() != n
        {
            return Err(RlError::Input(format!(
                "buffer contents do not match {n} rows of obs {} and action {}",
                self.obs_dim, self.act_dim
            )));
        }
        self.len = 0;
        self.next = 0;
        // Keep the newest `capacity` rows.
        let skip = n.saturating_sub(self.capacity);
        for r in skip..n {
            self.push(&b.row(r, self.obs_dim, self.act_dim))?;
        }
        self.pushed = pushed.max(self.len as u64);
        Ok(())
    }
}

/// Checks that `v` holds `dim` finite values, naming `field` when it does not.
pub(crate) fn check(field: &str, v: &[f32], dim: usize) -> Result<(), RlError> {
    if v.len() != dim {
        return Err(RlError::Input(format!(
            "{field} has {} values, expected {dim}",
            v.len()
        )));
    }
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(RlError::Input(format!("{field}[{i}] is {}", v[i])));
    }
    Ok(())
}

/// A batch of `n` rows: `round(n * demo_fraction)` from `demo` (when given and not empty),
/// the rest from `online`; uniform with replacement within each. Demonstration rows come
/// first. An empty online buffer gives every row to the demonstrations and vice versa.
pub fn sample_mixed(
    demo: Option<&ReplayBuffer>,
    online: &ReplayBuffer,
    n: usize,
    demo_fraction: f64,
    rng: &mut impl Rng,
) -> Result<Batch, RlError> {
    if !(0.0..=1.0).contains(&demo_fraction) {
        return Err(RlError::Config(format!(
            "demo fraction {demo_fraction} is not in [0, 1]"
        )));
    }
    let demo = demo.filter(|d| !d.is_empty());
    if let Some(d) = demo
        && (d.obs_dim != online.obs_dim || d.act_dim != online.act_dim)
    {
        return Err(RlError::Config(format!(
            "demo buffer (obs {}, action {}) and online buffer (obs {}, action {}) differ",
            d.obs_dim, d.act_dim, online.obs_dim, online.act_dim
        )));
    }
    let from_demo = match demo {
        None => 0,
        Some(_) if online.is_empty() => n,
        Some(_) => (n as f64 * demo_fraction).round() as usize,
    };
    if from_demo < n && online.is_empty() {
        return Err(RlError::Input("sampling from an empty buffer".into()));
    }
    let mut b = Batch {
        obs: Vec::with_capacity(n * online.obs_dim),
        next_obs: Vec::with_capacity(n * online.obs_dim),
        actions: Vec::with_capacity(n * online.act_dim),
        rewards: Vec::with_capacity(n),
        bootstrap: Vec::with_capacity(n),
        steps: Vec::with_capacity(n),
        ..Batch::default()
    };
    if let Some(d) = demo {
        for _ in 0..from_demo {
            d.append_row(rng.random_range(0..d.len), &mut b);
        }
    }
    for _ in from_demo..n {
        online.append_row(rng.random_range(0..online.len), &mut b);
    }
    b.from_demo = from_demo;
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn t(x: f32, end: StepEnd) -> Transition {
        Transition {
            obs: vec![x, -x],
            action: vec![x],
            reward: x,
            next_obs: vec![x + 1.0, -x - 1.0],
            end,
            steps: 1,
        }
    }

    #[test]
    fn ring_overwrites_the_oldest_and_keeps_order() {
        let mut b = ReplayBuffer::new(2, 1, 3).unwrap();
        for i in 0..5 {
            b.push(&t(i as f32, StepEnd::Continue)).unwrap();
        }
        assert_eq!((b.len(), b.pushed()), (3, 5));
        let held: Vec<f32> = (0..3).map(|i| b.get(i).unwrap().reward).collect();
        assert_eq!(held, [2.0, 3.0, 4.0]);
        assert!(b.get(3).is_none());
    }

    #[test]
    fn bad_transitions_are_refused_and_named() {
        let mut b = ReplayBuffer::new(2, 1, 3).unwrap();
        let mut bad = t(1.0, StepEnd::Continue);
        bad.obs.push(0.0);
        assert!(b.push(&bad).unwrap_err().to_string().contains("obs has 3"));
        let mut bad = t(1.0, StepEnd::Continue);
        bad.next_obs[1] = f32::NAN;
        assert!(
            b.push(&bad)
                .unwrap_err()
                .to_string()
                .contains("next_obs[1]")
        );
        let mut bad = t(1.0, StepEnd::Continue);
        bad.reward = f32::INFINITY;
        assert!(b.push(&bad).unwrap_err().to_string().contains("reward"));
        assert!(b.is_empty());
        assert!(ReplayBuffer::new(0, 1, 1).is_err());
    }

    #[test]
    fn terminal_steps_do_not_bootstrap_and_truncated_ones_do() {
        let mut b = ReplayBuffer::new(2, 1, 4).unwrap();
        b.push(&t(0.0, StepEnd::Terminal)).unwrap();
        b.push(&t(1.0, StepEnd::Truncated)).unwrap();
        b.push(&t(2.0, StepEnd::Continue)).unwrap();
        assert_eq!(b.export().bootstrap, [0.0, 1.0, 1.0]);
    }

    #[test]
    fn mixed_batches_take_the_asked_share_from_each_buffer() {
        let mut demo = ReplayBuffer::new(2, 1, 100).unwrap();
        let mut online = ReplayBuffer::new(2, 1, 100).unwrap();
        for i in 0..50 {
            demo.push(&t(-1.0 - i as f32, StepEnd::Continue)).unwrap();
            online.push(&t(1.0 + i as f32, StepEnd::Continue)).unwrap();
        }
        let mut rng = StdRng::seed_from_u64(0);
        for (fraction, want) in [(0.5, 128), (0.25, 64), (0.0, 0), (1.0, 256)] {
            let b = sample_mixed(Some(&demo), &online, 256, fraction, &mut rng).unwrap();
            assert_eq!(b.from_demo, want);
            let demo_rows = b.rewards.iter().filter(|r| **r < 0.0).count();
            assert_eq!(demo_rows, want, "fraction {fraction}");
            assert!(b.rewards[..want].iter().all(|r| *r < 0.0));
            assert_eq!((b.obs.len(), b.actions.len()), (512, 256));
        }
        // No demonstrations: all online. No online data yet: all demonstrations.
        let b = sample_mixed(None, &online, 64, 0.5, &mut rng).unwrap();
        assert_eq!(b.from_demo, 0);
        let empty = ReplayBuffer::new(2, 1, 10).unwrap();
        let b = sample_mixed(Some(&demo), &empty, 64, 0.5, &mut rng).unwrap();
        assert_eq!(b.from_demo, 64);
        assert!(sample_mixed(None, &empty, 4, 0.5, &mut rng).is_err());
        assert!(sample_mixed(Some(&demo), &online, 4, 1.5, &mut rng).is_err());
        // Sampling is uniform: every online row turns up over many draws.
        let b = online.sample(5000, &mut rng).unwrap();
        let mut seen = [false; 50];
        for r in &b.rewards {
            seen[*r as usize - 1] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }

    #[test]
    fn export_and_import_round_trip() {
        let mut b = ReplayBuffer::new(2, 1, 3).unwrap();
        for i in 0..4 {
            b.push(&t(i as f32, StepEnd::Continue)).unwrap();
        }
        let e = b.export();
        let mut c = ReplayBuffer::new(2, 1, 3).unwrap();
        c.import(&e, b.pushed()).unwrap();
        assert_eq!(c.export(), e);
        assert_eq!(c.pushed(), 4);
        let mut small = ReplayBuffer::new(2, 1, 2).unwrap();
        small.import(&e, 4).unwrap();
        assert_eq!(small.export().rewards, [2.0, 3.0]);
        let mut wrong = ReplayBuffer::new(3, 1, 3).unwrap();
        assert!(wrong.import(&e, 4).is_err());
    }
}
