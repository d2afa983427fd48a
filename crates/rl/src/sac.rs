//! Soft actor-critic with the RLPD recipe (tch): demonstration and online buffers sampled in a
//! set proportion, LayerNorm critics in an ensemble whose target is the minimum over a random
//! subset, a configurable update-to-data ratio, automatic temperature and gradient clipping.
//!
//! Actions live in `[-1, 1]^n` (a tanh-squashed Gaussian policy); the caller maps them to the
//! robot's units. All randomness of an update comes from a generator seeded by the learner's
//! seed and update count, so a learner restored from a checkpoint continues exactly as the
//! uninterrupted one would.

use std::collections::BTreeMap;
use std::path::Path;

use rand::rngs::StdRng;
use rand::seq::index::sample as sample_indices;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use striatum_reward::train::AdamW;
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

use crate::RlError;
use crate::buffer::{Batch, ReplayBuffer, sample_mixed};

/// Learner settings (the `[sac]` table of a learner config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SacConfig {
    /// Hidden layer widths of the actor and of each critic.
    pub hidden: Vec<i64>,
    /// Critics in the ensemble.
    pub critics: usize,
    /// Critics whose minimum forms the target (drawn at random per update).
    pub critic_subset: usize,
    /// LayerNorm after every hidden layer of the critics (and the actor).
    pub layer_norm: bool,
    /// Discount.
    pub gamma: f64,
    /// Steps of reward summed before the critic's target bootstraps (`n`-step returns, see
    /// [`crate::NStepReturns`]); 1 is one-step TD. The learner folds transitions as they
    /// arrive; the critic discounts each row's bootstrap by `gamma^steps`.
    pub n_step: usize,
    /// Target network averaging rate.
    pub tau: f64,
    /// Learning rate of actor, critics and temperature.
    pub lr: f64,
    /// Rows per batch.
    pub batch: usize,
    /// Critic updates per [`Sac::update`] call (the update-to-data ratio when called once per
    /// environment step); the actor and temperature update once per call.
    pub utd: usize,
    /// Share of each batch drawn from the demonstration buffer.
    pub demo_fraction: f64,
    /// Initial entropy temperature.
    pub init_temperature: f64,
    /// Target entropy (default: minus half the action size).
    pub target_entropy: Option<f64>,
    /// Largest gradient norm of each network's update.
    pub grad_clip: f64,
    /// Include the entropy bonus in the critic's target.
    pub backup_entropy: bool,
    /// Weight of a behaviour-cloning term on the batch's demonstration rows in the actor's
    /// loss (the demonstrated actions' negative log-likelihood, scaled by the batch's mean |Q|
    /// so the weight does not depend on the reward scale); 0 turns it off.
    pub bc_weight: f64,
    /// Updates over which the behaviour-cloning weight falls linearly from `bc_weight` to
    /// `bc_weight_final` (0: it stays at `bc_weight`): demonstrations steer early learning,
    /// then the critic takes over.
    pub bc_decay_updates: u64,
    /// Behaviour-cloning weight once `bc_decay_updates` updates are done.
    pub bc_weight_final: f64,
    /// Seed of every random choice the learner makes.
    pub seed: u64,
}

impl Default for SacConfig {
    fn default() -> Self {
        SacConfig {
            hidden: vec![256, 256],
            critics: 4,
            critic_subset: 2,
            layer_norm: true,
            gamma: 0.97,
            n_step: 1,
            tau: 0.005,
            lr: 3e-4,
            batch: 256,
            utd: 2,
            demo_fraction: 0.5,
            init_temperature: 0.1,
            target_entropy: None,
            grad_clip: 40.0,
            backup_entropy: true,
            bc_weight: 0.0,
            bc_decay_updates: 0,
            bc_weight_final: 0.0,
            seed: 0,
        }
    }
}

impl SacConfig {
    /// The behaviour-cloning weight after `updates` updates (see `bc_decay_updates`).
    pub fn bc_weight_at(&self, updates: u64) -> f64 {
        if self.bc_decay_updates == 0 {
            return self.bc_weight;
        }
        let f = (updates as f64 / self.bc_decay_updates as f64).min(1.0);
        self.bc_weight + (self.bc_weight_final - self.bc_weight) * f
    }

    /// Checks ranges, naming the first setting that is out of range.
    pub fn validate(&self) -> Result<(), RlError> {
        let bad = |what: &str, why: String| Err(RlError::Config(format!("sac.{what}: {why}")));
        if self.hidden.is_empty() || self.hidden.iter().any(|h| *h <= 0) {
            return bad(
                "hidden",
                format!("{:?} needs one or more positive widths", self.hidden),
            );
        }
        if self.critics == 0 || self.critic_subset == 0 || self.critic_subset > self.critics {
            return bad(
                "critic_subset",
                format!(
                    "{} of {} critics: need 1 <= subset <= critics",
                    self.critic_subset, self.critics
                ),
            );
        }
        if !(self.gamma > 0.0 && self.gamma < 1.0) {
            return bad("gamma", format!("{} is not in (0, 1)", self.gamma));
        }
        if !(1..=100).contains(&self.n_step) {
            return bad("n_step", format!("{} is not in 1..=100", self.n_step));
        }
        if !(self.tau > 0.0 && self.tau <= 1.0) {
            return bad("tau", format!("{} is not in (0, 1]", self.tau));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad("lr", format!("{} is not a positive number", self.lr));
        }
        if self.batch == 0 || self.utd == 0 {
            return bad(
                "batch",
                format!("batch {} and utd {} must be > 0", self.batch, self.utd),
            );
        }
        if !(0.0..=1.0).contains(&self.demo_fraction) {
            return bad(
                "demo_fraction",
                format!("{} is not in [0, 1]", self.demo_fraction),
            );
        }
        if !(self.init_temperature > 0.0 && self.init_temperature.is_finite()) {
            return bad(
                "init_temperature",
                format!("{} is not > 0", self.init_temperature),
            );
        }
        if !(self.bc_weight >= 0.0 && self.bc_weight.is_finite()) {
            return bad("bc_weight", format!("{} is not >= 0", self.bc_weight));
        }
        if !(self.bc_weight_final >= 0.0 && self.bc_weight_final.is_finite()) {
            return bad(
                "bc_weight_final",
                format!("{} is not >= 0", self.bc_weight_final),
            );
        }
        if self.grad_clip.is_nan() || self.grad_clip <= 0.0 {
            return bad("grad_clip", format!("{} is not > 0", self.grad_clip));
        }
        Ok(())
    }
}

/// What one [`Sac::update`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateStats {
    /// Mean critic loss over the critic updates.
    pub critic_loss: f64,
    /// Actor loss.
    pub actor_loss: f64,
    /// Temperature after the update.
    pub temperature: f64,
    /// Mean log-probability of the policy's actions (minus the entropy).
    pub log_prob: f64,
    /// Mean Q of the batch's actions.
    pub q_mean: f64,
    /// Critic gradient norm before clipping (last critic update).
    pub critic_grad_norm: f64,
}

/// A tanh-squashed Gaussian policy: an MLP from observation to mean and log-std.
#[derive(Debug)]
pub struct Actor {
    layers: Vec<(nn::Linear, Option<nn::LayerNorm>)>,
    head: nn::Linear,
    obs_dim: i64,
    act_dim: i64,
}

const LOG_STD_MIN: f64 = -5.0;
/// Demonstrated actions are clipped to this before `atanh` (a saturated action has no finite
/// pre-squash value).
const BC_ACTION_LIMIT: f64 = 0.97;
const LOG_STD_MAX: f64 = 2.0;

impl Actor {
    /// The actor's variables under `p`.
    pub fn new(p: &nn::Path<'_>, obs_dim: i64, act_dim: i64, hidden: &[i64], ln: bool) -> Self {
        let mut layers = Vec::new();
        let mut width = obs_dim;
        for (i, &h) in hidden.iter().enumerate() {
            let lin = nn::linear(p / format!("l{i}"), width, h, Default::default());
            let norm = ln.then(|| nn::layer_norm(p / format!("n{i}"), vec![h], Default::default()));
            layers.push((lin, norm));
            width = h;
        }
        let head = nn::linear(p / "head", width, 2 * act_dim, Default::default());
        Actor {
            layers,
            head,
            obs_dim,
            act_dim,
        }
    }

    /// Mean and log-std of the pre-squash Gaussian, `[B, act_dim]` each.
    pub fn forward(&self, obs: &Tensor) -> (Tensor, Tensor) {
        let mut x = obs.shallow_clone();
        for (lin, norm) in &self.layers {
            x = lin.forward(&x);
            if let Some(n) = norm {
                x = n.forward(&x);
            }
            x = x.relu();
        }
        let out = self.head.forward(&x);
        let mean = out.narrow(1, 0, self.act_dim);
        let log_std = out.narrow(1, self.act_dim, self.act_dim).tanh();
        let log_std = (log_std + 1.0) * (0.5 * (LOG_STD_MAX - LOG_STD_MIN)) + LOG_STD_MIN;
        (mean, log_std)
    }

    /// Squashed actions and their log-probabilities for standard normal noise `eps`
    /// (`[B, act_dim]`); `eps = 0` gives the deterministic (mode) action.
    pub fn sample(&self, obs: &Tensor, eps: &Tensor) -> (Tensor, Tensor) {
        let (mean, log_std) = self.forward(obs);
        let u = &mean + log_std.exp() * eps;
        let a = u.tanh();
        let gauss = (eps.square() * -0.5 - &log_std - 0.5 * (2.0 * std::f64::consts::PI).ln())
            .sum_dim_intlist(1, false, Kind::Float);
        // log(1 - tanh(u)^2) = 2 (ln 2 - u - softplus(-2u)), stable for large |u|.
        let squash = ((-&u * 2.0).softplus() + &u - std::f64::consts::LN_2) * -2.0;
        let logp = gauss - squash.sum_dim_intlist(1, false, Kind::Float);
        (a, logp)
    }
}

/// An ensemble of MLP critics evaluated together (batched matrix products).
#[derive(Debug)]
struct Critics {
    weights: Vec<Tensor>,
    biases: Vec<Tensor>,
    norms: Vec<Option<(Tensor, Tensor)>>,
}

impl Critics {
    fn new(p: &nn::Path<'_>, input: i64, hidden: &[i64], members: i64, ln: bool) -> Self {
        let mut widths = vec![input];
        widths.extend_from_slice(hidden);
        widths.push(1);
        let (mut weights, mut biases, mut norms) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..widths.len() - 1 {
            let (fan_in, out) = (widths[i], widths[i + 1]);
            let bound = 1.0 / (fan_in as f64).sqrt();
            let init = nn::Init::Uniform {
                lo: -bound,
                up: bound,
            };
            weights.push(p.var(&format!("w{i}"), &[members, fan_in, out], init));
            biases.push(p.var(&format!("b{i}"), &[members, 1, out], init));
            let hidden_layer = i + 1 < widths.len() - 1;
            norms.push((ln && hidden_layer).then(|| {
                (
                    p.var(&format!("g{i}"), &[members, 1, out], nn::Init::Const(1.0)),
                    p.var(
                        &format!("beta{i}"),
                        &[members, 1, out],
                        nn::Init::Const(0.0),
                    ),
                )
            }));
        }
        Critics {
            weights,
            biases,
            norms,
        }
    }

    /// Q of every member, `[E, B]`.
    fn forward(&self, obs: &Tensor, act: &Tensor) -> Tensor {
        let x = Tensor::cat(&[obs, act], 1);
        let members = self.weights[0].size()[0];
        let mut x = x.unsqueeze(0).expand([members, -1, -1], false);
        let last = self.weights.len() - 1;
        for (i, (w, b)) in self.weights.iter().zip(&self.biases).enumerate() {
            x = b.baddbmm(&x, w, 1.0, 1.0);
            if i < last {
                if let Some((g, beta)) = &self.norms[i] {
                    let width = w.size()[2];
                    x = x.layer_norm([width], None::<Tensor>, None::<Tensor>, 1e-5, false) * g
                        + beta;
                }
                x = x.relu();
            }
        }
        x.squeeze_dim(2)
    }
}

/// The SAC learner: actor, critic ensemble, target critics, temperature, their optimisers and
/// the update counter.
pub struct Sac {
    config: SacConfig,
    obs_dim: usize,
    act_dim: usize,
    device: Device,
    actor_vs: nn::VarStore,
    actor: Actor,
    critic_vs: nn::VarStore,
    critics: Critics,
    target_vs: nn::VarStore,
    target: Critics,
    temp_vs: nn::VarStore,
    log_alpha: Tensor,
    actor_opt: AdamW,
    critic_opt: AdamW,
    temp_opt: AdamW,
    updates: u64,
}

/// Actor variable names and values, as broadcast to actors and stored in checkpoints.
pub type Weights = Vec<(String, Tensor)>;

impl Sac {
    /// A fresh learner for observations of `obs_dim` and actions of `act_dim` values.
    pub fn new(
        obs_dim: usize,
        act_dim: usize,
        config: SacConfig,
        device: Device,
    ) -> Result<Self, RlError> {
        config.validate()?;
        if obs_dim == 0 || act_dim == 0 {
            return Err(RlError::Config(format!(
                "observation ({obs_dim}) and action ({act_dim}) sizes must be > 0"
            )));
        }
        // Seeded initial values: drawn under the process-wide generator lock, so learners
        // built at once in one process (parallel bench runs) each get their seed's values.
        let generator = striatum_reward::torch_rng::lock(Some(config.seed as i64));
        let (o, a) = (obs_dim as i64, act_dim as i64);
        let actor_vs = nn::VarStore::new(device);
        let actor = Actor::new(&actor_vs.root(), o, a, &config.hidden, config.layer_norm);
        let critic_vs = nn::VarStore::new(device);
        let members = config.critics as i64;
        let critics = Critics::new(
            &critic_vs.root(),
            o + a,
            &config.hidden,
            members,
            config.layer_norm,
        );
        let mut target_vs = nn::VarStore::new(device);
        let target = Critics::new(
            &target_vs.root(),
            o + a,
            &config.hidden,
            members,
            config.layer_norm,
        );
        target_vs
            .copy(&critic_vs)
            .map_err(|e| RlError::Torch(e.to_string()))?;
        target_vs.freeze();
        let temp_vs = nn::VarStore::new(device);
        let log_alpha = temp_vs.root().var(
            "log_alpha",
            &[1],
            nn::Init::Const(config.init_temperature.ln()),
        );
        drop(generator);
        let actor_opt = AdamW::new(&actor_vs, 0.0, |_| true);
        let critic_opt = AdamW::new(&critic_vs, 0.0, |_| true);
        let temp_opt = AdamW::new(&temp_vs, 0.0, |_| true);
        Ok(Sac {
            config,
            obs_dim,
            act_dim,
            device,
            actor_vs,
            actor,
            critic_vs,
            critics,
            target_vs,
            target,
            temp_vs,
            log_alpha,
            actor_opt,
            critic_opt,
            temp_opt,
            updates: 0,
        })
    }

    /// The settings.
    pub fn config(&self) -> &SacConfig {
        &self.config
    }

    /// Observation size.
    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    /// Action size.
    pub fn act_dim(&self) -> usize {
        self.act_dim
    }

    /// Updates done ([`Sac::update`] calls).
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// The entropy temperature now.
    pub fn temperature(&self) -> f64 {
        self.log_alpha.exp().double_value(&[0])
    }

    fn target_entropy(&self) -> f64 {
        self.config
            .target_entropy
            .unwrap_or(-(self.act_dim as f64) / 2.0)
    }

    fn rows(&self, v: &[f32], n: usize, dim: usize) -> Tensor {
        Tensor::from_slice(v)
            .view([n as i64, dim as i64])
            .to_device(self.device)
    }

    fn normal(&self, rng: &mut StdRng, rows: usize) -> Tensor {
        let n = rows * self.act_dim;
        let mut v = Vec::with_capacity(n);
        while v.len() < n {
            // Box-Muller: two normals per pair of uniforms.
            let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
            let r = (-2.0 * u1.ln()).sqrt();
            let t = 2.0 * std::f64::consts::PI * u2;
            v.push((r * t.cos()) as f32);
            v.push((r * t.sin()) as f32);
        }
        v.truncate(n);
        self.rows(&v, rows, self.act_dim)
    }

    /// The generator for update `n`: the learner's seed and the count fix every draw.
    fn update_rng(&self) -> StdRng {
        StdRng::seed_from_u64(
            self.config
                .seed
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(self.updates),
        )
    }

    /// One update: `utd` critic steps on fresh mixed batches, then one actor and temperature
    /// step. Needs a non-empty online buffer or demonstrations.
    pub fn update(
        &mut self,
        demo: Option<&ReplayBuffer>,
        online: &ReplayBuffer,
    ) -> Result<UpdateStats, RlError> {
        for b in demo.into_iter().chain([online]) {
            if b.obs_dim() != self.obs_dim || b.act_dim() != self.act_dim {
                return Err(RlError::Config(format!(
                    "buffer holds obs {} / action {}, learner expects {} / {}",
                    b.obs_dim(),
                    b.act_dim(),
                    self.obs_dim,
                    self.act_dim
                )));
            }
        }
        let mut rng = self.update_rng();
        let mut stats = UpdateStats::default();
        let mut last: Option<Batch> = None;
        for _ in 0..self.config.utd {
            let batch = sample_mixed(
                demo,
                online,
                self.config.batch,
                self.config.demo_fraction,
                &mut rng,
            )?;
            let (loss, q, norm) = self.critic_step(&batch, &mut rng);
            stats.critic_loss += loss / self.config.utd as f64;
            stats.q_mean = q;
            stats.critic_grad_norm = norm;
            last = Some(batch);
        }
        if let Some(batch) = last {
            let (actor_loss, log_prob) = self.actor_step(&batch, &mut rng);
            stats.actor_loss = actor_loss;
            stats.log_prob = log_prob;
        }
        stats.temperature = self.temperature();
        self.updates += 1;
        if !(stats.critic_loss.is_finite() && stats.actor_loss.is_finite()) {
            return Err(RlError::Diverged(format!(
                "update {}: critic loss {}, actor loss {}",
                self.updates, stats.critic_loss, stats.actor_loss
            )));
        }
        Ok(stats)
    }

    fn critic_step(&mut self, b: &Batch, rng: &mut StdRng) -> (f64, f64, f64) {
        let n = b.size;
        let obs = self.rows(&b.obs, n, self.obs_dim);
        let next_obs = self.rows(&b.next_obs, n, self.obs_dim);
        let act = self.rows(&b.actions, n, self.act_dim);
        let reward = Tensor::from_slice(&b.rewards).to_device(self.device);
        // gamma^steps where the row bootstraps, 0 at true terminal states.
        let discount: Vec<f32> = b
            .bootstrap
            .iter()
            .zip(&b.steps)
            .map(|(boot, steps)| {
                boot * self.config.gamma.powi(steps.round().max(1.0) as i32) as f32
            })
            .collect();
        let boot = Tensor::from_slice(&discount).to_device(self.device);
        let subset: Vec<i64> = sample_indices(rng, self.config.critics, self.config.critic_subset)
            .into_iter()
            .map(|i| i as i64)
            .collect();
        let eps = self.normal(rng, n);
        let alpha = self.temperature();
        let target = tch::no_grad(|| {
            let (next_a, next_logp) = self.actor.sample(&next_obs, &eps);
            let q_all = self.target.forward(&next_obs, &next_a);
            let idx = Tensor::from_slice(&subset).to_device(self.device);
            let (q_min, _) = q_all.index_select(0, &idx).min_dim(0, false);
            let mut v = q_min;
            if self.config.backup_entropy {
                v -= next_logp * alpha;
            }
            &reward + boot * v
        });
        let q = self.critics.forward(&obs, &act);
        let loss =
            (&q - target.unsqueeze(0)).square().mean(Kind::Float) * self.config.critics as f64;
        self.critic_opt.zero_grad();
        loss.backward();
        let norm = self.critic_opt.clip(self.config.grad_clip);
        self.critic_opt.update(self.config.lr);
        self.soft_update();
        (
            loss.double_value(&[]) / self.config.critics as f64,
            q.mean(Kind::Float).double_value(&[]),
            norm,
        )
    }

    fn soft_update(&mut self) {
        let tau = self.config.tau;
        let src = self.critic_vs.variables();
        let mut dst = self.target_vs.variables();
        tch::no_grad(|| {
            for (name, t) in dst.iter_mut() {
                if let Some(s) = src.get(name) {
                    let _ = t.g_mul_scalar_(1.0 - tau).g_add_(&(s * tau));
                }
            }
        });
    }

    fn actor_step(&mut self, b: &Batch, rng: &mut StdRng) -> (f64, f64) {
        let n = b.size;
        let obs = self.rows(&b.obs, n, self.obs_dim);
        let eps = self.normal(rng, n);
        let alpha = self.temperature();
        let (a, logp) = self.actor.sample(&obs, &eps);
        let q = self
            .critics
            .forward(&obs, &a)
            .mean_dim(0, false, Kind::Float);
        let mut loss = (&logp * alpha - &q).mean(Kind::Float);
        let bc_weight = self.config.bc_weight_at(self.updates);
        if bc_weight > 0.0 && b.from_demo > 0 {
            // Behaviour cloning as the demonstrated actions' negative log-likelihood under the
            // pre-squash Gaussian: it pulls the mean to the demonstration and narrows the
            // spread where demonstrations agree (so exploration stays near them).
            let d = b.from_demo as i64;
            let demo_act = self
                .rows(
                    &b.actions[..b.from_demo * self.act_dim],
                    b.from_demo,
                    self.act_dim,
                )
                .clamp(-BC_ACTION_LIMIT, BC_ACTION_LIMIT)
                .atanh();
            let (mean, log_std) = self.actor.forward(&obs.narrow(0, 0, d));
            let z = (demo_act - mean) * (-&log_std).exp();
            let nll = (z.square() * 0.5 + &log_std).sum_dim_intlist(1, false, Kind::Float);
            let bc = nll.mean(Kind::Float);
            let scale = q.abs().mean(Kind::Float).detach().clamp_min(1e-3);
            loss += bc * scale * bc_weight;
        }
        self.actor_opt.zero_grad();
        self.critic_opt.zero_grad();
        loss.backward();
        self.actor_opt.clip(self.config.grad_clip);
        self.actor_opt.update(self.config.lr);
        self.critic_opt.zero_grad();
        // Temperature: raise it when entropy falls below the target, lower it otherwise.
        let logp_mean = logp.detach().mean(Kind::Float);
        let temp_loss = -(&self.log_alpha * (&logp_mean + self.target_entropy())).mean(Kind::Float);
        self.temp_opt.zero_grad();
        temp_loss.backward();
        self.temp_opt.update(self.config.lr);
        (loss.double_value(&[]), logp_mean.double_value(&[]))
    }

    /// The policy's action for one observation: the mode when `deterministic`, else a sample
    /// drawn with `rng`.
    pub fn act(
        &self,
        obs: &[f32],
        deterministic: bool,
        rng: &mut StdRng,
    ) -> Result<Vec<f32>, RlError> {
        self.actor.act(obs, deterministic, rng)
    }

    /// The actor's variables (copies), for broadcasting to actors.
    pub fn actor_weights(&self) -> Weights {
        named(&self.actor_vs)
    }

    /// Writes networks, optimiser moments, temperature and counter into `dir` (created),
    /// each file through a temporary name and a rename.
    pub fn save(&self, dir: &Path) -> Result<(), RlError> {
        std::fs::create_dir_all(dir).map_err(|e| RlError::Io(dir.display().to_string(), e))?;
        let mut tensors: Vec<(String, Tensor)> = Vec::new();
        for (prefix, vs) in [
            ("actor", &self.actor_vs),
            ("critic", &self.critic_vs),
            ("target", &self.target_vs),
            ("temp", &self.temp_vs),
        ] {
            for (n, t) in named(vs) {
                tensors.push((format!("{prefix}.{n}"), t));
            }
        }
        for (prefix, opt) in [
            ("opt_actor", &self.actor_opt),
            ("opt_critic", &self.critic_opt),
            ("opt_temp", &self.temp_opt),
        ] {
            for (n, t) in opt.state() {
                tensors.push((format!("{prefix}.{n}"), t));
            }
        }
        write_tensors(&dir.join("learner.safetensors"), &tensors)?;
        let state = LearnerState {
            config: self.config.clone(),
            obs_dim: self.obs_dim,
            act_dim: self.act_dim,
            updates: self.updates,
            optimiser_steps: [
                self.actor_opt.step,
                self.critic_opt.step,
                self.temp_opt.step,
            ],
        };
        let json = serde_json::to_vec_pretty(&state)
            .map_err(|e| RlError::Input(format!("learner state: {e}")))?;
        crate::write_atomic(&dir.join("learner.json"), &json)
    }

    /// A learner restored from [`Sac::save`]'s folder.
    pub fn load(dir: &Path, device: Device) -> Result<Self, RlError> {
        let path = dir.join("learner.json");
        let text = std::fs::read(&path).map_err(|e| RlError::Io(path.display().to_string(), e))?;
        let state: LearnerState = serde_json::from_slice(&text)
            .map_err(|e| RlError::Input(format!("{}: {e}", path.display())))?;
        let mut sac = Sac::new(state.obs_dim, state.act_dim, state.config, device)?;
        let tpath = dir.join("learner.safetensors");
        let saved = Tensor::read_safetensors(&tpath)
            .map_err(|e| RlError::Input(format!("{}: {e}", tpath.display())))?;
        let map: BTreeMap<String, Tensor> = saved.into_iter().collect();
        let take = |prefix: &str| -> Vec<(String, Tensor)> {
            let p = format!("{prefix}.");
            map.iter()
                .filter_map(|(n, t)| {
                    n.strip_prefix(&p)
                        .map(|s| (s.to_string(), t.shallow_clone()))
                })
                .collect()
        };
        for (prefix, vs) in [
            ("actor", &mut sac.actor_vs),
            ("critic", &mut sac.critic_vs),
            ("target", &mut sac.target_vs),
            ("temp", &mut sac.temp_vs),
        ] {
            assign(
                vs,
                &take(prefix),
                &format!("{} ({prefix})", tpath.display()),
            )?;
        }
        let [sa, sc, st] = state.optimiser_steps;
        sac.actor_opt
            .load_state(&take("opt_actor"), sa)
            .map_err(|e| RlError::Input(format!("{}: {e}", tpath.display())))?;
        sac.critic_opt
            .load_state(&take("opt_critic"), sc)
            .map_err(|e| RlError::Input(format!("{}: {e}", tpath.display())))?;
        sac.temp_opt
            .load_state(&take("opt_temp"), st)
            .map_err(|e| RlError::Input(format!("{}: {e}", tpath.display())))?;
        sac.updates = state.updates;
        Ok(sac)
    }

    /// Every variable of every network (for comparing learners in tests).
    pub fn all_variables(&self) -> BTreeMap<String, Tensor> {
        let mut out = BTreeMap::new();
        for (prefix, vs) in [
            ("actor", &self.actor_vs),
            ("critic", &self.critic_vs),
            ("target", &self.target_vs),
            ("temp", &self.temp_vs),
        ] {
            for (n, t) in named(vs) {
                out.insert(format!("{prefix}.{n}"), t);
            }
        }
        out
    }
}

/// What `learner.json` holds beside the tensors.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LearnerState {
    config: SacConfig,
    obs_dim: usize,
    act_dim: usize,
    updates: u64,
    optimiser_steps: [u64; 3],
}

fn named(vs: &nn::VarStore) -> Weights {
    let mut v: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(n, t)| (n, t.detach().copy()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Copies `values` into `vs`'s variables; every variable must be present with its shape.
fn assign(vs: &mut nn::VarStore, values: &[(String, Tensor)], what: &str) -> Result<(), RlError> {
    let map: BTreeMap<&str, &Tensor> = values.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let mut vars = vs.variables();
    // Check every variable before copying any, so bad values leave `vs` as it was.
    for (name, var) in &vars {
        let src = map
            .get(name.as_str())
            .ok_or_else(|| RlError::Input(format!("{what}: lacks `{name}`")))?;
        if src.size() != var.size() {
            return Err(RlError::Input(format!(
                "{what}: `{name}` has shape {:?}, expected {:?}",
                src.size(),
                var.size()
            )));
        }
    }
    for (name, var) in vars.iter_mut() {
        if let Some(src) = map.get(name.as_str()) {
            tch::no_grad(|| var.copy_(src));
        }
    }
    Ok(())
}

fn write_tensors(path: &Path, tensors: &[(String, Tensor)]) -> Result<(), RlError> {
    let tmp = path.with_extension("safetensors.tmp");
    Tensor::write_safetensors(tensors, &tmp)
        .map_err(|e| RlError::Input(format!("{}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(|e| RlError::Io(path.display().to_string(), e))
}

impl Actor {
    /// The action for one observation: the mode when `deterministic`, else a sample drawn
    /// with `rng`. A wrong-sized or non-finite observation is refused by name.
    pub fn act(
        &self,
        obs: &[f32],
        deterministic: bool,
        rng: &mut StdRng,
    ) -> Result<Vec<f32>, RlError> {
        let (obs_dim, act_dim) = (self.obs_dim as usize, self.act_dim as usize);
        crate::buffer::check("observation", obs, obs_dim)?;
        let device = self.head.ws.device();
        let o = Tensor::from_slice(obs)
            .view([1, self.obs_dim])
            .to_device(device);
        let eps: Vec<f32> = if deterministic {
            vec![0.0; act_dim]
        } else {
            (0..act_dim)
                .map(|_| {
                    let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
                    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
                })
                .collect()
        };
        let e = Tensor::from_slice(&eps)
            .view([1, self.act_dim])
            .to_device(device);
        let (a, _) = tch::no_grad(|| self.sample(&o, &e));
        let a = a.to_device(Device::Cpu).view([-1]);
        Vec::<f32>::try_from(&a).map_err(|e| RlError::Torch(e.to_string()))
    }
}

/// The actor side of a learner: the policy network alone, refreshed from broadcast weights.
#[derive(Debug)]
pub struct Policy {
    vs: nn::VarStore,
    actor: Actor,
}

impl Policy {
    /// A policy with the learner's architecture (random weights until [`Policy::load`]).
    pub fn new(
        obs_dim: usize,
        act_dim: usize,
        config: &SacConfig,
        device: Device,
    ) -> Result<Self, RlError> {
        config.validate()?;
        let vs = nn::VarStore::new(device);
        let actor = Actor::new(
            &vs.root(),
            obs_dim as i64,
            act_dim as i64,
            &config.hidden,
            config.layer_norm,
        );
        Ok(Policy { vs, actor })
    }

    /// Takes new weights (from [`Sac::actor_weights`]); a missing or misshapen one is an error
    /// and leaves the policy as it was.
    pub fn load(&mut self, weights: &[(String, Tensor)]) -> Result<(), RlError> {
        assign(&mut self.vs, weights, "policy weights")
    }

    /// The action for one observation (see [`Sac::act`]).
    pub fn act(
        &self,
        obs: &[f32],
        deterministic: bool,
        rng: &mut StdRng,
    ) -> Result<Vec<f32>, RlError> {
        self.actor.act(obs, deterministic, rng)
    }
}
