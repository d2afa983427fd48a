//! The learner node: takes every actor's transitions off the bus, shapes their rewards, keeps
//! the demonstration and online buffers, runs SAC updates at the configured update-to-data
//! ratio, broadcasts the policy at a set period and checkpoints everything (networks,
//! optimisers, buffers, counters) so a restarted learner resumes where it stopped.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use striatum_bus::Bus;
use striatum_msgs as msgs;
use tch::{Device, Tensor};

use crate::RlError;
use crate::buffer::{Batch, ReplayBuffer, Transition};
use crate::nstep::NStepReturns;
use crate::sac::{Sac, SacConfig, UpdateStats};
use crate::shaping::{ShapingConfig, StepEnd};
use crate::transport::{TransitionInbox, TransportCounters, WeightsBroadcaster};

/// What the learner optimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RewardMode {
    /// The task reward alone (sparse success).
    Sparse,
    /// The task reward plus potential-based shaping with the transitions' progress.
    Shaped,
    /// Progress of the next state used directly as the reward (plus the task reward): the
    /// variant that can change the optimal policy, kept for comparison.
    Direct,
}

impl RewardMode {
    /// The reward the learner stores for a transition.
    pub fn reward(
        self,
        shaping: &ShapingConfig,
        task: f64,
        progress: f64,
        next_progress: f64,
        end: StepEnd,
    ) -> f64 {
        match self {
            RewardMode::Sparse => task,
            RewardMode::Shaped => shaping.shaped(task, progress, next_progress, end),
            RewardMode::Direct => task + shaping.lambda * next_progress,
        }
    }
}

/// Learner settings (a learner config file's tables).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LearnerConfig {
    /// Run name: the weights key's robot segment and the policy id's prefix.
    pub run: String,
    /// Observation size.
    pub obs_dim: usize,
    /// Action size.
    pub act_dim: usize,
    /// What to optimise.
    pub reward: RewardMode,
    /// Shaping settings (used by `shaped` and `direct`).
    pub shaping: ShapingConfig,
    /// SAC settings.
    pub sac: SacConfig,
    /// Online buffer capacity.
    pub online_capacity: usize,
    /// Demonstration buffer capacity.
    pub demo_capacity: usize,
    /// Online transitions to collect before the first update.
    pub warmup: usize,
    /// Seconds between weight broadcasts.
    pub weights_period_s: f64,
    /// Seconds between checkpoints (also written at shutdown).
    pub checkpoint_period_s: f64,
    /// Largest backlog of updates owed to arrived data; beyond it the learner drops the debt
    /// rather than fall ever further behind.
    pub max_update_backlog: u64,
}

impl Default for LearnerConfig {
    fn default() -> Self {
        LearnerConfig {
            run: "sim_train".into(),
            obs_dim: 0,
            act_dim: 0,
            reward: RewardMode::Shaped,
            shaping: ShapingConfig::default(),
            sac: SacConfig::default(),
            online_capacity: 200_000,
            demo_capacity: 100_000,
            warmup: 256,
            weights_period_s: 1.0,
            checkpoint_period_s: 60.0,
            max_update_backlog: 2_000,
        }
    }
}

impl LearnerConfig {
    /// Checks ranges, naming the first setting that is out of range.
    pub fn validate(&self) -> Result<(), RlError> {
        self.sac.validate()?;
        self.shaping.validate()?;
        let bad = |what: &str, why: String| Err(RlError::Config(format!("{what}: {why}")));
        if self.obs_dim == 0 || self.act_dim == 0 {
            return bad(
                "obs_dim/act_dim",
                format!("{} / {} must be > 0", self.obs_dim, self.act_dim),
            );
        }
        if !(self.weights_period_s > 0.0 && self.weights_period_s <= 60.0) {
            return bad(
                "weights_period_s",
                format!("{} is not in (0, 60]", self.weights_period_s),
            );
        }
        if self.checkpoint_period_s.is_nan() || self.checkpoint_period_s <= 0.0 {
            return bad(
                "checkpoint_period_s",
                format!("{} is not > 0", self.checkpoint_period_s),
            );
        }
        if self.online_capacity == 0 || self.demo_capacity == 0 {
            return bad("online_capacity/demo_capacity", "must be > 0".into());
        }
        if (self.shaping.gamma - self.sac.gamma).abs() > 1e-12 && self.reward == RewardMode::Shaped
        {
            return bad(
                "shaping.gamma",
                format!(
                    "{} differs from sac.gamma {}: shaping keeps the optimal policy only with the learner's discount",
                    self.shaping.gamma, self.sac.gamma
                ),
            );
        }
        Ok(())
    }
}

/// Counters a learner keeps across restarts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LearnerCounters {
    /// Transitions stored (online).
    pub transitions: u64,
    /// Transitions that were human interventions (also stored as demonstrations).
    pub interventions: u64,
    /// Transitions refused (wrong size, non-finite values).
    pub refused: u64,
    /// Episodes ended (terminal or truncated transitions).
    pub episodes: u64,
    /// Episodes that ended in success (task reward > 0 on a terminal step).
    pub successes: u64,
    /// Weight versions broadcast.
    pub broadcasts: u64,
    /// Checkpoints written.
    pub checkpoints: u64,
    /// Updates skipped because the backlog overflowed.
    pub skipped_updates: u64,
}

/// What [`Learner::status`] reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LearnerStatus {
    /// SAC updates so far.
    pub updates: u64,
    /// Learner counters.
    pub counters: LearnerCounters,
    /// Transport counters (this incarnation of the learner).
    pub transport: TransportCounters,
    /// Malformed transition payloads refused by the decoder.
    pub decode_errors: u64,
    /// Latest update's statistics.
    pub last_update: UpdateStats,
    /// Demonstration transitions held.
    pub demo_len: usize,
    /// Online transitions held.
    pub online_len: usize,
    /// Transition delivery latency (actor stamp to learner arrival) over the last 10,000
    /// arrivals: median, in milliseconds (clocks of one machine; across machines it includes
    /// their offset).
    pub latency_p50_ms: f64,
    /// The same, 99th percentile.
    pub latency_p99_ms: f64,
}

/// The learner's state: networks, buffers and counters.
pub struct Learner {
    config: LearnerConfig,
    sac: Sac,
    demo: ReplayBuffer,
    online: ReplayBuffer,
    counters: LearnerCounters,
    last_update: UpdateStats,
    /// Per actor, the `n`-step folders of its current episode.
    folds: BTreeMap<String, ActorFolds>,
    /// An empty folder with the learner's `n_step` and `gamma`, copied for each new episode.
    empty_fold: NStepReturns,
}

/// One actor's episode in progress, for `n`-step returns: every step goes through `online`,
/// intervention steps also through `demo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ActorFolds {
    episode: u64,
    online: NStepReturns,
    demo: NStepReturns,
}

const STATE: &str = "state.json";
const BUFFERS: &str = "buffers.safetensors";
const SAC_DIR: &str = "sac";

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedState {
    config: LearnerConfig,
    counters: LearnerCounters,
    demo_pushed: u64,
    online_pushed: u64,
    /// Steps waiting in the `n`-step folders (absent in checkpoints of one-step learners).
    #[serde(default)]
    folds: BTreeMap<String, ActorFolds>,
}

impl Learner {
    /// A fresh learner.
    pub fn new(config: LearnerConfig, device: Device) -> Result<Self, RlError> {
        config.validate()?;
        let sac = Sac::new(config.obs_dim, config.act_dim, config.sac.clone(), device)?;
        let empty_fold = NStepReturns::new(config.sac.n_step, config.sac.gamma)?;
        Ok(Learner {
            demo: ReplayBuffer::new(config.obs_dim, config.act_dim, config.demo_capacity)?,
            online: ReplayBuffer::new(config.obs_dim, config.act_dim, config.online_capacity)?,
            sac,
            config,
            counters: LearnerCounters::default(),
            last_update: UpdateStats::default(),
            folds: BTreeMap::new(),
            empty_fold,
        })
    }

    /// Resumes from `dir` when it holds a checkpoint, else starts fresh with `config`. A
    /// checkpoint whose sizes differ from `config` is refused (naming both).
    pub fn resume_or_new(
        dir: &Path,
        config: LearnerConfig,
        device: Device,
    ) -> Result<Self, RlError> {
        if dir.join(STATE).is_file() {
            let l = Learner::load(dir, device)?;
            if (l.config.obs_dim, l.config.act_dim) != (config.obs_dim, config.act_dim) {
                return Err(RlError::Config(format!(
                    "{}: checkpoint has obs {} / action {}, config asks for {} / {}",
                    dir.display(),
                    l.config.obs_dim,
                    l.config.act_dim,
                    config.obs_dim,
                    config.act_dim
                )));
            }
            Ok(l)
        } else {
            Learner::new(config, device)
        }
    }

    /// The settings.
    pub fn config(&self) -> &LearnerConfig {
        &self.config
    }

    /// The SAC learner.
    pub fn sac(&self) -> &Sac {
        &self.sac
    }

    /// The demonstration buffer.
    pub fn demo(&self) -> &ReplayBuffer {
        &self.demo
    }

    /// The online buffer.
    pub fn online(&self) -> &ReplayBuffer {
        &self.online
    }

    /// Counters.
    pub fn counters(&self) -> LearnerCounters {
        self.counters
    }

    /// Stores a demonstration transition (offline data, e.g. recorded expert episodes) as
    /// given: with `n_step > 1` fold each episode with [`NStepReturns`] first.
    pub fn add_demo(&mut self, t: &Transition) -> Result<(), RlError> {
        self.demo.push(t)
    }

    /// Converts and stores one transition from an actor; returns whether it was accepted.
    /// With `n_step > 1` it goes through the actor's folder and reaches the buffers as the
    /// `n`-step transitions it completes (all of them at the episode's end; an actor's
    /// unfinished episode is folded as it stands when the actor starts another).
    pub fn add(&mut self, m: &msgs::Transition) -> bool {
        let end = if m.terminated {
            StepEnd::Terminal
        } else if m.truncated {
            StepEnd::Truncated
        } else {
            StepEnd::Continue
        };
        let reward = self.config.reward.reward(
            &self.config.shaping,
            f64::from(m.reward),
            f64::from(m.progress),
            f64::from(m.next_progress),
            end,
        );
        let t = Transition::new(
            m.observation.clone(),
            m.action.clone(),
            reward as f32,
            m.next_observation.clone(),
            end,
        );
        if self.online.validate(&t).is_err() {
            self.counters.refused += 1;
            return false;
        }
        let (online, demo) = self.fold(m, t);
        // Both buffers share sizes and `t` passed the check, so these pushes cannot fail.
        for t in &online {
            let _ = self.online.push(t);
        }
        for t in &demo {
            let _ = self.demo.push(t);
        }
        if m.intervention {
            self.counters.interventions += 1;
        }
        self.counters.transitions += 1;
        if end != StepEnd::Continue {
            self.counters.episodes += 1;
            if m.terminated && m.reward > 0.0 {
                self.counters.successes += 1;
            }
        }
        true
    }

    /// The transitions `t` completes for the online and the demonstration buffer.
    /// With `n_step = 1` every step passes straight through (interventions to both buffers).
    fn fold(&mut self, m: &msgs::Transition, t: Transition) -> (Vec<Transition>, Vec<Transition>) {
        let mut online = Vec::new();
        let mut demo = Vec::new();
        let empty = &self.empty_fold;
        let folds = self
            .folds
            .entry(m.actor_id.clone())
            .or_insert_with(|| ActorFolds {
                episode: m.episode_id,
                online: empty.clone(),
                demo: empty.clone(),
            });
        if folds.episode != m.episode_id {
            online.extend(folds.online.flush());
            demo.extend(folds.demo.flush());
            folds.episode = m.episode_id;
        }
        let ends = t.end != StepEnd::Continue;
        if m.intervention {
            demo.extend(folds.demo.push(t.clone()));
        } else {
            // A stretch of intervention steps ended: it is folded as it stands.
            demo.extend(folds.demo.flush());
        }
        online.extend(folds.online.push(t));
        if ends {
            self.folds.remove(&m.actor_id);
        }
        (online, demo)
    }

    /// One-step transitions waiting in the `n`-step folders.
    pub fn pending(&self) -> usize {
        self.folds.values().map(|f| f.online.pending()).sum()
    }

    /// Whether enough online data has arrived for updates.
    pub fn ready(&self) -> bool {
        self.online.len() >= self.config.warmup.max(1)
    }

    /// One SAC update.
    pub fn update(&mut self) -> Result<UpdateStats, RlError> {
        let demo = (!self.demo.is_empty()).then_some(&self.demo);
        let s = self.sac.update(demo, &self.online)?;
        self.last_update = s;
        Ok(s)
    }

    /// Writes the checkpoint folder `dir` atomically (a new folder replaces the old one).
    pub fn save(&mut self, dir: &Path) -> Result<(), RlError> {
        self.counters.checkpoints += 1;
        let state = SavedState {
            config: self.config.clone(),
            counters: self.counters,
            demo_pushed: self.demo.pushed(),
            online_pushed: self.online.pushed(),
            folds: self.folds.clone(),
        };
        let result = striatum_reward::checkpoint::write_dir(dir, |tmp| {
            let inner = || -> Result<(), RlError> {
                self.sac.save(&tmp.join(SAC_DIR))?;
                let mut tensors = Vec::new();
                for (name, b) in [("demo", &self.demo), ("online", &self.online)] {
                    tensors.extend(batch_tensors(name, &b.export(), b.obs_dim(), b.act_dim()));
                }
                Tensor::write_safetensors(&tensors, tmp.join(BUFFERS))
                    .map_err(|e| RlError::Torch(e.to_string()))?;
                let json = serde_json::to_vec_pretty(&state)
                    .map_err(|e| RlError::Input(format!("learner state: {e}")))?;
                crate::write_atomic(&tmp.join(STATE), &json)
            };
            inner().map_err(|e| striatum_reward::RewardError::Invalid(e.to_string()))
        });
        result.map_err(|e| RlError::Input(format!("checkpoint {}: {e}", dir.display())))
    }

    /// A learner restored from [`Learner::save`]'s folder.
    pub fn load(dir: &Path, device: Device) -> Result<Self, RlError> {
        let path = dir.join(STATE);
        let text = std::fs::read(&path).map_err(|e| RlError::Io(path.display().to_string(), e))?;
        let state: SavedState = serde_json::from_slice(&text)
            .map_err(|e| RlError::Input(format!("{}: {e}", path.display())))?;
        let mut l = Learner::new(state.config, device)?;
        l.sac = Sac::load(&dir.join(SAC_DIR), device)?;
        let bpath = dir.join(BUFFERS);
        let saved = Tensor::read_safetensors(&bpath)
            .map_err(|e| RlError::Input(format!("{}: {e}", bpath.display())))?;
        let what = bpath.display().to_string();
        l.demo
            .import(&tensors_batch("demo", &saved, &what)?, state.demo_pushed)?;
        l.online.import(
            &tensors_batch("online", &saved, &what)?,
            state.online_pushed,
        )?;
        l.counters = state.counters;
        l.folds = state.folds;
        Ok(l)
    }

    /// A snapshot of the learner's numbers.
    pub fn status(&self) -> LearnerStatus {
        LearnerStatus {
            updates: self.sac.updates(),
            counters: self.counters,
            last_update: self.last_update,
            demo_len: self.demo.len(),
            online_len: self.online.len(),
            ..LearnerStatus::default()
        }
    }
}

fn batch_tensors(prefix: &str, b: &Batch, obs: usize, act: usize) -> Vec<(String, Tensor)> {
    let (rows, obs, act) = (b.size as i64, obs as i64, act as i64);
    vec![
        (
            format!("{prefix}.obs"),
            Tensor::from_slice(&b.obs).view([rows, obs]),
        ),
        (
            format!("{prefix}.actions"),
            Tensor::from_slice(&b.actions).view([rows, act]),
        ),
        (format!("{prefix}.rewards"), Tensor::from_slice(&b.rewards)),
        (
            format!("{prefix}.next_obs"),
            Tensor::from_slice(&b.next_obs).view([rows, obs]),
        ),
        (
            format!("{prefix}.bootstrap"),
            Tensor::from_slice(&b.bootstrap),
        ),
        (format!("{prefix}.steps"), Tensor::from_slice(&b.steps)),
    ]
}

fn tensors_batch(prefix: &str, saved: &[(String, Tensor)], what: &str) -> Result<Batch, RlError> {
    let get = |field: &str| -> Result<Vec<f32>, RlError> {
        let name = format!("{prefix}.{field}");
        let t = saved
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| t)
            .ok_or_else(|| RlError::Input(format!("{what}: lacks `{name}`")))?;
        Vec::<f32>::try_from(&t.flatten(0, -1))
            .map_err(|e| RlError::Input(format!("{what}: `{name}`: {e}")))
    };
    let rewards = get("rewards")?;
    let size = rewards.len();
    Ok(Batch {
        size,
        obs: get("obs")?,
        actions: get("actions")?,
        rewards,
        next_obs: get("next_obs")?,
        bootstrap: get("bootstrap")?,
        // Checkpoints of one-step learners have no `steps`: every row spans one step.
        steps: if saved.iter().any(|(n, _)| *n == format!("{prefix}.steps")) {
            get("steps")?
        } else {
            vec![1.0; size]
        },
        from_demo: 0,
    })
}

/// The learner's connections: every actor's transitions in, the policy out.
pub struct LearnerLinks {
    inbox: TransitionInbox,
    broadcaster: WeightsBroadcaster,
}

impl LearnerLinks {
    /// Subscribes to the actors' transitions and declares the weights publisher of `run`.
    pub async fn connect(bus: &Bus, run: &str) -> Result<Self, RlError> {
        Ok(LearnerLinks {
            inbox: TransitionInbox::new(bus).await?,
            broadcaster: WeightsBroadcaster::new(bus, run).await?,
        })
    }
}

/// Runs the learner node until `stop` is set: takes transitions as they arrive, owes one
/// update per stored transition (each update runs `sac.utd` critic steps), broadcasts weights
/// every `weights_period_s` (also before any data, so a joining actor gets a policy),
/// checkpoints into `checkpoint` every `checkpoint_period_s` and once more on the way out.
/// `report` is called about once a second with the status.
pub fn run_learner(
    learner: &mut Learner,
    links: &mut LearnerLinks,
    checkpoint: &Path,
    stop: &AtomicBool,
    mut report: impl FnMut(&LearnerStatus),
) -> Result<LearnerStatus, RlError> {
    let config = learner.config.clone();
    let weights_period = Duration::from_secs_f64(config.weights_period_s);
    let ckpt_period = Duration::from_secs_f64(config.checkpoint_period_s);
    let mut last_weights: Option<Instant> = None;
    let mut last_ckpt = Instant::now();
    let mut last_report = Instant::now();
    let mut owed: u64 = 0;
    let mut latency = LatencyWindow::default();
    while !stop.load(Ordering::Relaxed) {
        let arrived = if owed > 0 && learner.ready() {
            links.inbox.drain()
        } else {
            links.inbox.wait(Duration::from_millis(20))
        };
        let now = now_ns();
        for m in &arrived {
            latency.push((now - m.header.stamp_ns).max(0) as f64 * 1e-6);
            if learner.add(m) {
                owed += 1;
            }
        }
        if owed > config.max_update_backlog {
            learner.counters.skipped_updates += owed - config.max_update_backlog;
            owed = config.max_update_backlog;
        }
        if owed > 0 && learner.ready() {
            learner.update()?;
            owed -= 1;
        }
        if last_weights.is_none_or(|t| t.elapsed() >= weights_period) {
            links
                .broadcaster
                .publish(learner.sac.updates(), &learner.sac.actor_weights())?;
            learner.counters.broadcasts += 1;
            last_weights = Some(Instant::now());
        }
        if last_ckpt.elapsed() >= ckpt_period {
            learner.save(checkpoint)?;
            last_ckpt = Instant::now();
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            report(&status_of(learner, &links.inbox, &latency));
            last_report = Instant::now();
        }
    }
    // Transitions that arrived since the last pass are kept (and counted) in the checkpoint.
    let now = now_ns();
    for m in &links.inbox.drain() {
        latency.push((now - m.header.stamp_ns).max(0) as f64 * 1e-6);
        learner.add(m);
    }
    learner.save(checkpoint)?;
    Ok(status_of(learner, &links.inbox, &latency))
}

/// The most recent delivery latencies, for percentiles.
#[derive(Default)]
struct LatencyWindow {
    samples: std::collections::VecDeque<f64>,
}

impl LatencyWindow {
    const SIZE: usize = 10_000;

    fn push(&mut self, ms: f64) {
        if self.samples.len() == Self::SIZE {
            self.samples.pop_front();
        }
        self.samples.push_back(ms);
    }

    fn percentile(&self, q: f64) -> f64 {
        if self.samples.is_empty() {
            return 0.0;
        }
        let mut v: Vec<f64> = self.samples.iter().copied().collect();
        v.sort_by(f64::total_cmp);
        v[((v.len() - 1) as f64 * q).round() as usize]
    }
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

fn status_of(learner: &Learner, inbox: &TransitionInbox, latency: &LatencyWindow) -> LearnerStatus {
    LearnerStatus {
        transport: inbox.counters(),
        decode_errors: inbox.decode_errors(),
        latency_p50_ms: latency.percentile(0.5),
        latency_p99_ms: latency.percentile(0.99),
        ..learner.status()
    }
}
