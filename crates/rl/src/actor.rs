//! The actor loop: steps an environment with the newest policy it has, sends every transition
//! the moment it happens, and picks up new weights between steps without ever waiting for them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use striatum_bus::Bus;
use striatum_msgs as msgs;
use striatum_msgs::Header;
use tch::Device;

use crate::RlError;
use crate::sac::{Policy, SacConfig};
use crate::transport::{TransitionOutbox, WeightsInbox};

/// An observation and its potential.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvObservation {
    /// Observation vector for the policy.
    pub obs: Vec<f32>,
    /// Progress of this state in [0, 1] (from the reward model or privileged state).
    pub progress: f32,
}

/// What one environment step produced.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvStep {
    /// The next observation and its progress.
    pub next: EnvObservation,
    /// Task reward of the step.
    pub reward: f32,
    /// The episode reached a true terminal state.
    pub terminated: bool,
    /// The episode hit its time limit.
    pub truncated: bool,
    /// The task was accomplished.
    pub success: bool,
}

/// An environment an actor can drive: the simulator, a real arm, or a test stand-in.
pub trait ActorEnv {
    /// Observation size.
    fn obs_dim(&self) -> usize;
    /// Action size (actions are in `[-1, 1]`).
    fn act_dim(&self) -> usize;
    /// Starts episode `episode`.
    fn reset(&mut self, episode: u64) -> Result<EnvObservation, RlError>;
    /// Applies an action.
    fn step(&mut self, action: &[f32]) -> Result<EnvStep, RlError>;
}

/// Actor settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActorOptions {
    /// Actor name (its id adds a fresh incarnation number per start).
    pub name: String,
    /// Robot (or sim environment) id: the transitions key's robot segment.
    pub robot: String,
    /// Run whose learner's weights to follow.
    pub run: String,
    /// Network shape (must match the learner's).
    pub sac: SacConfig,
    /// Act on the policy's mean instead of sampling (evaluation).
    pub deterministic: bool,
    /// Seed of exploration noise and random actions.
    pub seed: u64,
    /// First episode number (episodes count up from it).
    pub first_episode: u64,
}

impl Default for ActorOptions {
    fn default() -> Self {
        ActorOptions {
            name: "actor".into(),
            robot: "sim0".into(),
            run: "sim_train".into(),
            sac: SacConfig::default(),
            deterministic: false,
            seed: 0,
            first_episode: 0,
        }
    }
}

/// What an actor has done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ActorStats {
    /// Environment steps.
    pub steps: u64,
    /// Episodes finished.
    pub episodes: u64,
    /// Episodes that succeeded.
    pub successes: u64,
    /// Transitions sent.
    pub sent: u64,
    /// Steps taken with uniform random actions (before any weights arrived).
    pub random_steps: u64,
    /// Policy versions taken.
    pub weight_updates: u64,
    /// Version of the weights in use (learner update count).
    pub weights_version: Option<u64>,
    /// Age of the weights in use when they were taken (publish to use), in seconds.
    pub weights_age_s: f64,
    /// Weight blobs refused (corrupt, wrong shape).
    pub weights_rejected: u64,
}

/// An actor's connections: transitions out, weights in.
pub struct ActorLinks {
    outbox: TransitionOutbox,
    weights: WeightsInbox,
}

impl ActorLinks {
    /// Declares the transitions publisher and subscribes to the run's weights.
    pub async fn connect(bus: &Bus, options: &ActorOptions) -> Result<Self, RlError> {
        Ok(ActorLinks {
            outbox: TransitionOutbox::new(bus, &options.robot, &options.name).await?,
            weights: WeightsInbox::new(bus, &options.run).await?,
        })
    }

    /// This actor incarnation's id.
    pub fn actor_id(&self) -> &str {
        self.outbox.actor_id()
    }
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Runs until `stop` is set or `max_steps` steps are done. `on_episode` is called with the
/// stats after every episode.
pub fn run_actor(
    env: &mut dyn ActorEnv,
    links: &mut ActorLinks,
    options: &ActorOptions,
    stop: &AtomicBool,
    max_steps: Option<u64>,
    mut on_episode: impl FnMut(&ActorStats),
) -> Result<ActorStats, RlError> {
    let (obs_dim, act_dim) = (env.obs_dim(), env.act_dim());
    let mut policy = Policy::new(obs_dim, act_dim, &options.sac, Device::Cpu)?;
    let mut have_weights = false;
    let mut rng = StdRng::seed_from_u64(options.seed);
    let mut stats = ActorStats::default();
    let mut episode = options.first_episode;
    let mut current = env.reset(episode)?;
    let mut step_in_episode = 0u64;
    let started = Instant::now();
    while !stop.load(Ordering::Relaxed) && max_steps.is_none_or(|m| stats.steps < m) {
        if let Some(update) = links.weights.poll() {
            match policy.load(&update.weights) {
                Ok(()) => {
                    have_weights = true;
                    stats.weight_updates += 1;
                    stats.weights_version = Some(update.version);
                    stats.weights_age_s = (now_ns() - update.stamp_ns).max(0) as f64 * 1e-9;
                }
                Err(_) => stats.weights_rejected += 1,
            }
        }
        stats.weights_rejected = stats.weights_rejected.max(links.weights.rejected());
        let action = if have_weights {
            policy.act(&current.obs, options.deterministic, &mut rng)?
        } else {
            stats.random_steps += 1;
            (0..act_dim)
                .map(|_| rng.random_range(-1.0f32..1.0))
                .collect()
        };
        let step = env.step(&action)?;
        let t = msgs::Transition {
            header: Header::new(now_ns(), ""),
            actor_id: String::new(),
            seq: 0,
            episode_id: episode,
            step: step_in_episode,
            observation: current.obs.clone(),
            action,
            reward: step.reward,
            progress: current.progress.clamp(0.0, 1.0),
            next_progress: step.next.progress.clamp(0.0, 1.0),
            next_observation: step.next.obs.clone(),
            terminated: step.terminated,
            truncated: step.truncated && !step.terminated,
            intervention: false,
        };
        links.outbox.send(t)?;
        stats.sent = links.outbox.sent();
        stats.steps += 1;
        step_in_episode += 1;
        if step.terminated || step.truncated {
            stats.episodes += 1;
            if step.success {
                stats.successes += 1;
            }
            on_episode(&stats);
            episode += 1;
            step_in_episode = 0;
            current = env.reset(episode)?;
        } else {
            current = step.next;
        }
    }
    // Give the last transitions a moment on the wire before the publisher goes away.
    if started.elapsed() < Duration::from_millis(50) {
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(stats)
}
