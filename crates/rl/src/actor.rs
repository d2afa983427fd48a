//! The actor loop: steps an environment with the newest policy it has, sends every transition
//! the moment it happens, and picks up new weights between steps. It waits for weights only
//! when paced ([`ActorOptions::max_update_lag`]): then it holds while the learner is too far
//! behind the data it was sent.

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
use crate::transport::{PolicyUpdate, TransitionOutbox, WeightsInbox};

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
    /// A demonstrator's action for the current state (the simulator's scripted expert), in the
    /// policy's action space; `None` where the environment has no demonstrator.
    fn expert_action(&mut self) -> Option<Vec<f32>> {
        None
    }
}

/// What drove an episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EpisodeKind {
    /// The environment's demonstrator; its transitions are marked as interventions, so the
    /// learner keeps them in its demonstration buffer too.
    Demo,
    /// The policy, sampling (or random actions before the first weights).
    Train,
    /// The policy's mode (no exploration noise): the success rate to report.
    Eval,
}

impl EpisodeKind {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            EpisodeKind::Demo => "demo",
            EpisodeKind::Train => "train",
            EpisodeKind::Eval => "eval",
        }
    }
}

/// One finished episode.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpisodeReport {
    /// Episode number.
    pub episode: u64,
    /// What drove it.
    pub kind: EpisodeKind,
    /// The task was accomplished.
    pub success: bool,
    /// Steps taken.
    pub steps: u64,
    /// Sum of task rewards.
    pub task_return: f64,
    /// Progress of the last observation.
    pub final_progress: f32,
    /// Version of the weights the policy used (none: random or demo).
    pub weights_version: Option<u64>,
    /// Steps the demonstrator drove after the policy stalled (training episodes only).
    pub intervention_steps: u64,
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
    /// Episodes driven by the environment's demonstrator before the policy takes over.
    pub demo_episodes: u64,
    /// Every this many policy episodes, one runs the policy's mode for evaluation (0: never).
    pub eval_every: u64,
    /// A supervisor in the loop: when a training episode's progress has not risen by
    /// `stall_progress` for this many steps, the environment's demonstrator takes over for the
    /// rest of the episode and its transitions are sent as interventions, as a person watching
    /// the robot would (0: never). Evaluation episodes are never touched.
    pub intervene_after_stall: u64,
    /// Progress gain that counts as moving on (see `intervene_after_stall`).
    pub stall_progress: f32,
    /// Take up newer weights as they arrive; when false the actor keeps the newest weights
    /// these links had taken up when it started (a fixed policy, e.g. for a final evaluation).
    pub follow_weights: bool,
    /// Send the transitions to the learner; when false nothing this actor does is learned from.
    pub send_transitions: bool,
    /// Pace the actor to the learner (0: never). Before each step the actor holds while the
    /// transitions it sent since it first saw the learner update outnumber the updates in its
    /// newest weights since then by more than this, so a learner slower than the environment
    /// still makes one update per transition instead of dropping the debt. Only a bound per
    /// actor: with several actors the learner's updates count everyone's data, and the hold
    /// comes later. Weights arrive every `weights_period_s`, so keep this above the updates
    /// the learner makes in one period or the actor holds every period.
    pub max_update_lag: u64,
    /// Longest hold, in seconds: past it the actor goes on unpaced until weights with a newer
    /// version show the learner is updating again (a learner that died or stalled).
    pub pace_timeout_s: f64,
    /// Wall-clock budget of one run in seconds (none, or a value that is no duration such as
    /// NaN or a negative: no limit); the run also ends here.
    pub max_seconds: Option<f64>,
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
            demo_episodes: 0,
            eval_every: 0,
            intervene_after_stall: 0,
            stall_progress: 0.01,
            follow_weights: true,
            send_transitions: true,
            max_update_lag: 0,
            pace_timeout_s: 10.0,
            max_seconds: None,
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
    /// Demonstration episodes run.
    pub demo_episodes: u64,
    /// Evaluation episodes run.
    pub eval_episodes: u64,
    /// Evaluation episodes that succeeded.
    pub eval_successes: u64,
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
    /// Training episodes in which the demonstrator took over after a stall.
    pub intervened_episodes: u64,
    /// Steps the demonstrator drove in those episodes.
    pub intervention_steps: u64,
    /// Holds for the learner (see [`ActorOptions::max_update_lag`]).
    pub paced_holds: u64,
    /// Seconds spent in those holds.
    pub paced_s: f64,
    /// Holds that ran out of `pace_timeout_s`.
    pub pace_timeouts: u64,
}

/// Decides when a paced actor holds for its learner (see [`ActorOptions::max_update_lag`]):
/// counts the transitions sent and the learner's updates from the first weights that show an
/// update, and starts counting again when the learner's version goes backwards (a learner
/// started afresh) or after a hold ran out of time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pacer {
    max_lag: u64,
    /// Transitions sent and learner version when counting started.
    base: Option<(u64, u64)>,
    /// Version the learner had when a hold ran out of time: no holds until it moves on.
    suspended_at: Option<u64>,
}

impl Pacer {
    /// A pacer allowing `max_lag` transitions ahead of the learner's updates (0: never hold).
    pub fn new(max_lag: u64) -> Self {
        Pacer {
            max_lag,
            base: None,
            suspended_at: None,
        }
    }

    /// Records that `sent` transitions have gone out and the newest weights are `version`.
    pub fn observe(&mut self, sent: u64, version: u64) {
        match self.base {
            None if version > 0 => self.base = Some((sent, version)),
            Some((_, v0)) if version < v0 => self.base = Some((sent, version)),
            _ => {}
        }
        if self.suspended_at.is_some_and(|v| version > v) {
            self.suspended_at = None;
            self.base = Some((sent, version));
        }
    }

    /// Transitions sent beyond the learner's updates since counting started.
    pub fn lag(&self, sent: u64, version: u64) -> u64 {
        self.base.map_or(0, |(s0, v0)| {
            sent.saturating_sub(s0)
                .saturating_sub(version.saturating_sub(v0))
        })
    }

    /// Whether the actor should hold before its next step.
    pub fn should_hold(&self, sent: u64, version: u64) -> bool {
        self.max_lag > 0 && self.suspended_at.is_none() && self.lag(sent, version) > self.max_lag
    }

    /// A hold ran out of time with the learner at `version`: go on unpaced until it moves.
    pub fn give_up(&mut self, version: u64) {
        self.suspended_at = Some(version);
    }
}

/// Watches an episode's progress for a stall: stalled once progress has not risen by `gain`
/// over its best for `after` steps (never when `after` is 0).
#[derive(Debug, Clone, Copy)]
pub struct StallWatch {
    after: u64,
    gain: f32,
    best: f32,
    best_at: u64,
    steps: u64,
}

impl StallWatch {
    /// Starts watching an episode whose first observation has `progress`.
    pub fn new(after: u64, gain: f32, progress: f32) -> Self {
        StallWatch {
            after,
            gain,
            best: progress,
            best_at: 0,
            steps: 0,
        }
    }

    /// Records the progress after one more step.
    pub fn step(&mut self, progress: f32) {
        self.steps += 1;
        if progress > self.best + self.gain {
            self.best = progress;
            self.best_at = self.steps;
        }
    }

    /// Whether the episode has stalled.
    pub fn stalled(&self) -> bool {
        self.after > 0 && self.steps - self.best_at >= self.after
    }
}

/// An actor's connections: transitions out, weights in.
pub struct ActorLinks {
    outbox: TransitionOutbox,
    weights: WeightsInbox,
    /// The newest weights taken up: a later run on these links starts from them.
    latest: Option<PolicyUpdate>,
}

impl ActorLinks {
    /// Declares the transitions publisher and subscribes to the run's weights.
    pub async fn connect(bus: &Bus, options: &ActorOptions) -> Result<Self, RlError> {
        Ok(ActorLinks {
            outbox: TransitionOutbox::new(bus, &options.robot, &options.name).await?,
            weights: WeightsInbox::new(bus, &options.run).await?,
            latest: None,
        })
    }

    /// Version of the newest weights taken up (none before the first arrives).
    pub fn latest_version(&self) -> Option<u64> {
        self.latest.as_ref().map(|u| u.version)
    }

    /// Waits up to `timeout` (or until `stop`) for the learner's first weights broadcast and
    /// keeps them: the next run starts from them. A learner broadcasts from its start, once its
    /// transitions subscription is declared, so an actor that waits here loses none of its
    /// first transitions to a learner still starting. Returns the version, or `None` on
    /// timeout. Returns at once when weights were already taken up.
    pub fn wait_for_weights(&mut self, timeout: Duration, stop: &AtomicBool) -> Option<u64> {
        let started = Instant::now();
        while self.latest.is_none() && started.elapsed() < timeout {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            match self.weights.poll() {
                Some(update) => self.latest = Some(update),
                None => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        self.latest_version()
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

/// Takes up the newest weights that arrived on `links`, if any (never when `follow` is false);
/// true when some did, even if they were refused.
fn take_weights(
    follow: bool,
    links: &mut ActorLinks,
    policy: &mut Policy,
    stats: &mut ActorStats,
    have_weights: &mut bool,
) -> bool {
    let Some(update) = follow.then(|| links.weights.poll()).flatten() else {
        return false;
    };
    match policy.load(&update.weights) {
        Ok(()) => {
            *have_weights = true;
            stats.weight_updates += 1;
            stats.weights_version = Some(update.version);
            stats.weights_age_s = (now_ns() - update.stamp_ns).max(0) as f64 * 1e-9;
            links.latest = Some(update);
        }
        Err(_) => stats.weights_rejected += 1,
    }
    true
}

/// Runs until `stop` is set, `max_steps` steps are done or `max_seconds` have passed: first
/// `demo_episodes` episodes of the environment's demonstrator (sent as interventions), then
/// the policy, every `eval_every`-th policy episode on its mode. The policy starts from the
/// newest weights the links have taken up (random actions until there are any).
/// `on_episode` is called after every episode.
pub fn run_actor(
    env: &mut dyn ActorEnv,
    links: &mut ActorLinks,
    options: &ActorOptions,
    stop: &AtomicBool,
    max_steps: Option<u64>,
    mut on_episode: impl FnMut(&EpisodeReport, &ActorStats),
) -> Result<ActorStats, RlError> {
    let (obs_dim, act_dim) = (env.obs_dim(), env.act_dim());
    let mut policy = Policy::new(obs_dim, act_dim, &options.sac, Device::Cpu)?;
    let mut have_weights = false;
    let mut rng = StdRng::seed_from_u64(options.seed);
    let mut stats = ActorStats::default();
    if let Some(update) = links.latest.as_ref() {
        match policy.load(&update.weights) {
            Ok(()) => {
                have_weights = true;
                stats.weights_version = Some(update.version);
            }
            Err(_) => stats.weights_rejected += 1,
        }
    }
    let mut episode = options.first_episode;
    let mut policy_episodes = 0u64;
    let kind_of = |episode: u64, policy_episodes: u64| {
        if episode - options.first_episode < options.demo_episodes {
            EpisodeKind::Demo
        } else if options.eval_every > 0 && (policy_episodes + 1).is_multiple_of(options.eval_every)
        {
            EpisodeKind::Eval
        } else {
            EpisodeKind::Train
        }
    };
    let mut kind = kind_of(episode, policy_episodes);
    let mut current = env.reset(episode)?;
    let mut step_in_episode = 0u64;
    let mut task_return = 0.0f64;
    let watch = |progress| {
        StallWatch::new(
            options.intervene_after_stall,
            options.stall_progress,
            progress,
        )
    };
    let mut stall = watch(current.progress);
    let mut intervention_steps = 0u64;
    let started = Instant::now();
    let paced = options.max_update_lag > 0 && options.follow_weights && options.send_transitions;
    let mut pacer = Pacer::new(options.max_update_lag);
    // A setting that is no duration (NaN, negative, too large) holds for the default 10 s.
    let pace_timeout = Duration::try_from_secs_f64(options.pace_timeout_s.min(3600.0))
        .unwrap_or(Duration::from_secs(10));
    let budget = options
        .max_seconds
        .and_then(|t| Duration::try_from_secs_f64(t).ok());
    while !stop.load(Ordering::Relaxed)
        && max_steps.is_none_or(|m| stats.steps < m)
        && budget.is_none_or(|b| started.elapsed() < b)
    {
        take_weights(
            options.follow_weights,
            links,
            &mut policy,
            &mut stats,
            &mut have_weights,
        );
        if let (true, Some(version)) = (paced, stats.weights_version) {
            pacer.observe(stats.sent, version);
            if pacer.should_hold(stats.sent, version) {
                let held = Instant::now();
                stats.paced_holds += 1;
                while !stop.load(Ordering::Relaxed) {
                    if take_weights(
                        options.follow_weights,
                        links,
                        &mut policy,
                        &mut stats,
                        &mut have_weights,
                    ) {
                        let version = stats.weights_version.unwrap_or(version);
                        pacer.observe(stats.sent, version);
                        if !pacer.should_hold(stats.sent, version) {
                            break;
                        }
                    } else if held.elapsed() >= pace_timeout {
                        pacer.give_up(stats.weights_version.unwrap_or(version));
                        stats.pace_timeouts += 1;
                        break;
                    } else {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                stats.paced_s += held.elapsed().as_secs_f64();
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            }
        }
        stats.weights_rejected = stats.weights_rejected.max(links.weights.rejected());
        let stalled = kind == EpisodeKind::Train && (intervention_steps > 0 || stall.stalled());
        let demo = if kind == EpisodeKind::Demo || stalled {
            env.expert_action()
        } else {
            None
        };
        if stalled && demo.is_some() {
            intervention_steps += 1;
        }
        let intervention = demo.is_some();
        let action = match demo {
            Some(a) => a,
            None if have_weights => {
                policy.act(&current.obs, kind == EpisodeKind::Eval, &mut rng)?
            }
            None => {
                stats.random_steps += 1;
                (0..act_dim)
                    .map(|_| rng.random_range(-1.0f32..1.0))
                    .collect()
            }
        };
        if action.len() != act_dim {
            return Err(RlError::Input(format!(
                "action of {} values for an environment of {act_dim}",
                action.len()
            )));
        }
        let step = env.step(&action)?;
        task_return += f64::from(step.reward);
        if options.send_transitions {
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
                intervention,
            };
            links.outbox.send(t)?;
            stats.sent = links.outbox.sent();
        }
        stats.steps += 1;
        step_in_episode += 1;
        stall.step(step.next.progress);
        if step.terminated || step.truncated {
            stats.episodes += 1;
            if step.success {
                stats.successes += 1;
            }
            match kind {
                EpisodeKind::Demo => stats.demo_episodes += 1,
                EpisodeKind::Eval => {
                    stats.eval_episodes += 1;
                    stats.eval_successes += u64::from(step.success);
                }
                EpisodeKind::Train => {}
            }
            if intervention_steps > 0 {
                stats.intervened_episodes += 1;
                stats.intervention_steps += intervention_steps;
            }
            let report = EpisodeReport {
                episode,
                kind,
                success: step.success,
                steps: step_in_episode,
                task_return,
                final_progress: step.next.progress,
                weights_version: (kind != EpisodeKind::Demo && have_weights)
                    .then_some(stats.weights_version)
                    .flatten(),
                intervention_steps,
            };
            on_episode(&report, &stats);
            if kind != EpisodeKind::Demo {
                policy_episodes += 1;
            }
            episode += 1;
            step_in_episode = 0;
            task_return = 0.0;
            intervention_steps = 0;
            kind = kind_of(episode, policy_episodes);
            current = env.reset(episode)?;
            stall = watch(current.progress);
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

#[cfg(test)]
mod tests {
    use super::Pacer;

    #[test]
    fn the_pacer_counts_from_the_first_update_and_holds_past_its_bound() {
        let mut p = Pacer::new(100);
        // Demonstrations and warm-up before the learner's first update never hold.
        p.observe(1_800, 0);
        assert!(!p.should_hold(1_800, 0));
        p.observe(1_900, 50);
        assert_eq!(p.lag(1_900, 50), 0);
        assert_eq!(p.lag(2_050, 100), 100);
        assert!(!p.should_hold(2_050, 100));
        assert!(p.should_hold(2_051, 100));
        // The learner catches up.
        p.observe(2_051, 160);
        assert!(!p.should_hold(2_051, 160));
        // A learner started afresh (version back to 0, then counting up) is counted anew.
        p.observe(2_100, 3);
        assert_eq!(p.lag(2_100, 3), 0);
        assert!(p.should_hold(2_204, 3));
    }

    #[test]
    fn a_pacer_that_gave_up_waits_for_the_learner_to_move() {
        let mut p = Pacer::new(10);
        p.observe(0, 1);
        assert!(p.should_hold(20, 1));
        p.give_up(1);
        p.observe(500, 1);
        assert!(
            !p.should_hold(500, 1),
            "no holds while the learner stands still"
        );
        p.observe(500, 2);
        assert_eq!(p.lag(500, 2), 0, "counting restarts when it moves");
        assert!(p.should_hold(511, 2));
        assert!(!Pacer::new(0).should_hold(1_000_000, 1), "0 never holds");
    }
}
