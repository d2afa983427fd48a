//! Actors and the learner over in-process Zenoh: transitions stream in as they happen, an
//! actor that dies and restarts (and a new one that joins) carries on without restarting the
//! learner, nothing is duplicated or lost, weights reach the actors, and a restarted learner
//! resumes from its checkpoint.
#![allow(clippy::unwrap_used, clippy::expect_used)] // helper threads panic on broken fixtures

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use striatum_bus::{Bus, BusConfig, free_local_endpoint};
use striatum_rl::actor::{ActorEnv, ActorLinks, ActorOptions, ActorStats, EpisodeKind, run_actor};
use striatum_rl::learner::{Learner, LearnerConfig, LearnerLinks, RewardMode, run_learner};
use striatum_rl::{SacConfig, ShapingConfig};
use tch::Device;

mod common;
use common::PointReach;

fn sac() -> SacConfig {
    SacConfig {
        hidden: vec![32, 32],
        critics: 2,
        batch: 32,
        utd: 1,
        gamma: 0.9,
        ..SacConfig::default()
    }
}

fn learner_config() -> LearnerConfig {
    LearnerConfig {
        run: "test_run".into(),
        obs_dim: 4,
        act_dim: 2,
        reward: RewardMode::Shaped,
        shaping: ShapingConfig {
            gamma: 0.9,
            ..ShapingConfig::default()
        },
        sac: sac(),
        online_capacity: 10_000,
        demo_capacity: 100,
        warmup: 64,
        weights_period_s: 0.2,
        checkpoint_period_s: 60.0,
        ..LearnerConfig::default()
    }
}

/// Generous bound for anything that waits on another thread or the bus (a loaded machine).
const WAIT: Duration = Duration::from_secs(30);

/// Polls `done` every 20 ms until it holds or [`WAIT`] passes.
fn wait_until(done: impl Fn() -> bool) {
    let started = std::time::Instant::now();
    while !done() && started.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Two isolated in-process Zenoh peers: the learner's, listening, and an actor's, connected.
fn learner_and_actor_buses(rt: &tokio::runtime::Runtime) -> (Bus, Bus) {
    let endpoint = free_local_endpoint().unwrap();
    let learner = rt
        .block_on(Bus::open(&BusConfig::isolated(
            std::slice::from_ref(&endpoint),
            &[],
        )))
        .unwrap();
    let actor = rt
        .block_on(Bus::open(&BusConfig::isolated(
            &[],
            std::slice::from_ref(&endpoint),
        )))
        .unwrap();
    (learner, actor)
}

fn actor_options(name: &str, seed: u64) -> ActorOptions {
    ActorOptions {
        name: name.into(),
        robot: format!("robot_{name}"),
        run: "test_run".into(),
        sac: sac(),
        seed,
        ..ActorOptions::default()
    }
}

/// What one actor incarnation did: its run, then an evaluation on the same links with the
/// weights held fixed and nothing sent (`frozen_steps` steps; `None` when 0).
struct Incarnation {
    run: ActorStats,
    frozen: Option<ActorStats>,
    latest_version: Option<u64>,
}

/// Runs one actor incarnation for `steps` steps on its own thread, pacing it a little so
/// weights have time to arrive.
fn actor_run(
    bus: Bus,
    name: &str,
    seed: u64,
    steps: u64,
    frozen_steps: u64,
) -> std::thread::JoinHandle<Incarnation> {
    let options = actor_options(name, seed);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let mut links = rt.block_on(ActorLinks::connect(&bus, &options)).unwrap();
        let stop = AtomicBool::new(false);
        // The learner's first broadcast says it listens: nothing sent before then is lost.
        assert!(links.wait_for_weights(WAIT, &stop).is_some(), "no learner");
        let mut env = Paced(PointReach::new(seed));
        let run = run_actor(
            &mut env,
            &mut links,
            &options,
            &stop,
            Some(steps),
            |_, _| {},
        )
        .unwrap();
        let latest_version = links.latest_version();
        let frozen = (frozen_steps > 0).then(|| {
            let fixed = ActorOptions {
                follow_weights: false,
                send_transitions: false,
                eval_every: 1,
                first_episode: 1_000_000,
                ..options.clone()
            };
            run_actor(
                &mut env,
                &mut links,
                &fixed,
                &stop,
                Some(frozen_steps),
                |_, _| {},
            )
            .unwrap()
        });
        Incarnation {
            run,
            frozen,
            latest_version,
        }
    })
}

/// The point task, slowed to about 500 steps/s so the test looks like a real actor.
struct Paced(PointReach);

impl striatum_rl::actor::ActorEnv for Paced {
    fn obs_dim(&self) -> usize {
        4
    }
    fn act_dim(&self) -> usize {
        2
    }
    fn reset(
        &mut self,
        e: u64,
    ) -> Result<striatum_rl::actor::EnvObservation, striatum_rl::RlError> {
        self.0.reset(e)
    }
    fn step(&mut self, a: &[f32]) -> Result<striatum_rl::actor::EnvStep, striatum_rl::RlError> {
        std::thread::sleep(Duration::from_millis(2));
        self.0.step(a)
    }
}

#[test]
fn actors_restart_and_join_without_duplicates_and_the_learner_resumes() {
    tch::set_num_threads(1);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (learner_bus, actor_bus) = learner_and_actor_buses(&rt);
    let ckpt = tempfile::tempdir().unwrap();
    let ckpt_dir = ckpt.path().join("learner");

    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(AtomicU64::new(0));
    let learner_thread = {
        let (bus, stop, dir) = (learner_bus.clone(), stop.clone(), ckpt_dir.clone());
        let accepted = accepted.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            let mut links = rt
                .block_on(LearnerLinks::connect(&bus, "test_run"))
                .unwrap();
            let mut learner = Learner::new(learner_config(), Device::Cpu).unwrap();
            let status = run_learner(&mut learner, &mut links, &dir, &stop, |s| {
                accepted.store(s.transport.accepted, Ordering::Relaxed)
            })
            .unwrap();
            (status, learner.sac().updates())
        })
    };

    // Actor a runs, dies; a new incarnation of a and a new actor b then run side by side.
    // Its first incarnation ends with an evaluation on fixed weights that sends nothing.
    let a1 = actor_run(actor_bus.clone(), "a", 1, 400, 150)
        .join()
        .unwrap();
    let a2 = actor_run(actor_bus.clone(), "a", 2, 300, 0);
    let b = actor_run(actor_bus.clone(), "b", 3, 300, 0);
    let (a2, b) = (a2.join().unwrap(), b.join().unwrap());
    let frozen = a1.frozen.unwrap();
    assert_eq!(frozen.steps, 150);
    assert_eq!(
        frozen.sent, 0,
        "a fixed evaluation sends nothing: {frozen:?}"
    );
    assert_eq!(
        (frozen.random_steps, frozen.weight_updates),
        (0, 0),
        "it acts on the weights taken up before, from its first step: {frozen:?}"
    );
    assert!(a1.latest_version.is_some());
    assert_eq!(frozen.weights_version, a1.latest_version);
    let (a1, a2, b) = (a1.run, a2.run, b.run);
    wait_until(|| accepted.load(Ordering::Relaxed) >= a1.sent + a2.sent + b.sent);
    stop.store(true, Ordering::Relaxed);
    let (status, updates) = learner_thread.join().unwrap();

    let sent = a1.sent + a2.sent + b.sent;
    assert_eq!(sent, 1000);
    let t = status.transport;
    assert_eq!(t.accepted, sent, "every transition arrived once: {t:?}");
    assert_eq!((t.duplicates, t.lost, t.stale), (0, 0, 0), "{t:?}");
    assert_eq!((t.restarts, t.actors), (1, 2), "{t:?}");
    assert_eq!(status.counters.transitions, sent);
    assert_eq!(status.online_len as u64, sent);
    assert!(updates > 0, "the learner trained");
    // The actors acted on broadcast weights (the restarted and the new one too).
    for s in [&a1, &a2, &b] {
        assert!(s.weight_updates > 0 && s.weights_version.is_some(), "{s:?}");
        assert!(s.random_steps < s.steps, "{s:?}");
        assert_eq!(s.weights_rejected, 0);
    }

    // A restarted learner resumes from its checkpoint: same updates, buffers and counters.
    let resumed = Learner::resume_or_new(&ckpt_dir, learner_config(), Device::Cpu).unwrap();
    assert_eq!(resumed.sac().updates(), updates);
    assert_eq!(resumed.online().len() as u64, sent);
    assert_eq!(resumed.counters().transitions, sent);
    assert!(resumed.counters().checkpoints >= 1);
    // A checkpoint of another shape is refused by name.
    let mut other = learner_config();
    other.obs_dim = 5;
    let e = Learner::resume_or_new(&ckpt_dir, other, Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("obs 4"), "{e}");
    rt.block_on(learner_bus.close()).unwrap();
    rt.block_on(actor_bus.close()).unwrap();
}

#[test]
fn demonstrations_come_first_as_interventions_then_the_policy_with_evaluation_episodes() {
    tch::set_num_threads(1);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let endpoint = free_local_endpoint().unwrap();
    let bus = rt
        .block_on(Bus::open(&BusConfig::isolated(
            std::slice::from_ref(&endpoint),
            &[],
        )))
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(AtomicU64::new(0));
    let learner_thread = {
        let (bus, stop) = (bus.clone(), stop.clone());
        let accepted = accepted.clone();
        let dir = tempfile::tempdir().unwrap();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            let mut links = rt
                .block_on(LearnerLinks::connect(&bus, "test_run"))
                .unwrap();
            let mut learner = Learner::new(learner_config(), Device::Cpu).unwrap();
            run_learner(&mut learner, &mut links, dir.path(), &stop, |s| {
                accepted.store(s.transport.accepted, Ordering::Relaxed)
            })
            .unwrap();
            (learner.counters(), learner.demo().len())
        })
    };
    let options = ActorOptions {
        demo_episodes: 3,
        eval_every: 2,
        ..actor_options("d", 7)
    };
    let mut links = rt.block_on(ActorLinks::connect(&bus, &options)).unwrap();
    let never = AtomicBool::new(false);
    assert!(links.wait_for_weights(WAIT, &never).is_some(), "no learner");
    let mut env = PointReach::new(7);
    assert!(env.expert_action().is_some());
    let mut reports = Vec::new();
    let stats = run_actor(&mut env, &mut links, &options, &never, Some(300), |r, _| {
        reports.push(*r)
    })
    .unwrap();
    wait_until(|| accepted.load(Ordering::Relaxed) >= stats.sent);
    stop.store(true, Ordering::Relaxed);
    let (counters, demo_len) = learner_thread.join().unwrap();

    let kinds: Vec<EpisodeKind> = reports.iter().map(|r| r.kind).collect();
    assert_eq!(&kinds[..3], &[EpisodeKind::Demo; 3]);
    // After the demonstrations, every second policy episode evaluates the policy's mode.
    for (i, k) in kinds[3..].iter().enumerate() {
        let want = if (i + 1) % 2 == 0 {
            EpisodeKind::Eval
        } else {
            EpisodeKind::Train
        };
        assert_eq!(*k, want, "policy episode {i}");
    }
    // The demonstrator solves the task; its steps reach the learner as interventions and
    // fill its demonstration buffer.
    assert!(
        reports[..3]
            .iter()
            .all(|r| r.success && r.weights_version.is_none())
    );
    let demo_steps: u64 = reports[..3].iter().map(|r| r.steps).sum();
    assert_eq!(counters.interventions, demo_steps);
    assert_eq!(demo_len as u64, demo_steps);
    assert_eq!(stats.demo_episodes, 3);
    assert_eq!(
        stats.eval_episodes,
        kinds.iter().filter(|k| **k == EpisodeKind::Eval).count() as u64
    );
}

/// A point on a line that moves only on a full-scale push: the scripted expert pushes at
/// full scale, random actions (drawn from [-1, 1)) never do, so a policy without weights
/// stalls.
struct Sticky {
    x: f32,
    steps: u64,
}

impl Sticky {
    const GOAL: f32 = 1.0;
    const LIMIT: u64 = 40;

    fn progress(&self) -> f32 {
        self.x.clamp(0.0, 1.0)
    }
}

impl ActorEnv for Sticky {
    fn obs_dim(&self) -> usize {
        4
    }
    fn act_dim(&self) -> usize {
        2
    }
    fn reset(
        &mut self,
        _episode: u64,
    ) -> Result<striatum_rl::actor::EnvObservation, striatum_rl::RlError> {
        self.x = 0.0;
        self.steps = 0;
        Ok(striatum_rl::actor::EnvObservation {
            obs: vec![self.x, Self::GOAL, 0.0, 0.0],
            progress: self.progress(),
        })
    }
    fn step(&mut self, a: &[f32]) -> Result<striatum_rl::actor::EnvStep, striatum_rl::RlError> {
        if a[0] >= 1.0 {
            self.x += 0.1;
        }
        self.steps += 1;
        let success = self.x >= Self::GOAL - 1e-4;
        Ok(striatum_rl::actor::EnvStep {
            next: striatum_rl::actor::EnvObservation {
                obs: vec![self.x, Self::GOAL, 0.0, 0.0],
                progress: self.progress(),
            },
            reward: f32::from(u8::from(success)),
            terminated: success,
            truncated: self.steps >= Self::LIMIT,
            success,
        })
    }
    fn expert_action(&mut self) -> Option<Vec<f32>> {
        Some(vec![1.0, 0.0])
    }
}

#[test]
fn a_stalled_training_episode_is_taken_over_by_the_supervisor_but_evaluation_never_is() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let endpoint = free_local_endpoint().unwrap();
    let bus = rt
        .block_on(Bus::open(&BusConfig::isolated(
            std::slice::from_ref(&endpoint),
            &[],
        )))
        .unwrap();
    let options = ActorOptions {
        eval_every: 2,
        intervene_after_stall: 5,
        ..actor_options("s", 3)
    };
    let mut links = rt.block_on(ActorLinks::connect(&bus, &options)).unwrap();
    let mut env = Sticky { x: 0.0, steps: 0 };
    let mut reports = Vec::new();
    let never = AtomicBool::new(false);
    let stats = run_actor(&mut env, &mut links, &options, &never, Some(400), |r, _| {
        reports.push(*r)
    })
    .unwrap();
    assert!(reports.len() >= 6, "{} episodes", reports.len());
    for r in &reports {
        match r.kind {
            EpisodeKind::Train => {
                // Five steps without progress, then the expert's ten pushes to the goal.
                assert!(r.success, "{r:?}");
                assert_eq!(r.steps, 15, "{r:?}");
                assert_eq!(r.intervention_steps, 10, "{r:?}");
            }
            EpisodeKind::Eval => {
                assert!(!r.success, "{r:?}");
                assert_eq!(r.steps, Sticky::LIMIT, "{r:?}");
                assert_eq!(r.intervention_steps, 0, "{r:?}");
            }
            EpisodeKind::Demo => panic!("no demonstrations were asked for"),
        }
    }
    let trains: Vec<_> = reports
        .iter()
        .filter(|r| r.kind == EpisodeKind::Train)
        .collect();
    assert_eq!(stats.intervened_episodes, trains.len() as u64);
    assert_eq!(
        stats.intervention_steps,
        trains.iter().map(|r| r.intervention_steps).sum::<u64>()
    );
    // Switched off, the same stall runs to the time limit.
    let off = ActorOptions {
        intervene_after_stall: 0,
        ..options.clone()
    };
    let mut env = Sticky { x: 0.0, steps: 0 };
    let stats = run_actor(&mut env, &mut links, &off, &never, Some(80), |r, _| {
        assert_eq!(r.intervention_steps, 0);
        assert!(!r.success);
    })
    .unwrap();
    assert_eq!(stats.intervened_episodes, 0);
    rt.block_on(bus.close()).unwrap();
}

/// A stand-in learner that makes at most `rate` updates per second from the first transition
/// (one per transition that arrived) and broadcasts its version every 50 ms; past `freeze_at`
/// updates it keeps broadcasting the same version: a learner slower than the actor, then a
/// stalled one.
fn slow_learner(
    bus: Bus,
    rate: f64,
    freeze_at: u64,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        use striatum_rl::transport::{TransitionInbox, WeightsBroadcaster};
        let rt = tokio::runtime::Runtime::new().unwrap();
        let mut inbox = rt.block_on(TransitionInbox::new(&bus)).unwrap();
        let mut out = rt
            .block_on(WeightsBroadcaster::new(&bus, "test_run"))
            .unwrap();
        let weights = striatum_rl::Sac::new(4, 2, sac(), Device::Cpu)
            .unwrap()
            .actor_weights();
        let mut first: Option<std::time::Instant> = None;
        let (mut received, mut version) = (0u64, 0u64);
        while !stop.load(Ordering::Relaxed) {
            received += inbox.wait(Duration::from_millis(50)).len() as u64;
            if received > 0 && first.is_none() {
                first = Some(std::time::Instant::now());
            }
            let budget = first.map_or(0, |t| (t.elapsed().as_secs_f64() * rate) as u64);
            if version < freeze_at {
                version = received.min(budget).min(freeze_at);
            }
            out.publish(version, &weights).unwrap();
        }
        version
    })
}

#[test]
fn a_paced_actor_holds_for_a_slow_learner_and_goes_on_when_it_stalls() {
    tch::set_num_threads(1);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (learner_bus, actor_bus) = learner_and_actor_buses(&rt);
    let stop = Arc::new(AtomicBool::new(false));
    // The learner manages 500 updates/s and stalls at 1,500; the bare actor runs several
    // thousand steps a second.
    let learner = slow_learner(learner_bus.clone(), 500.0, 1_500, stop.clone());
    let options = ActorOptions {
        max_update_lag: 100,
        pace_timeout_s: 0.5,
        ..actor_options("paced", 7)
    };
    let mut links = rt
        .block_on(ActorLinks::connect(&actor_bus, &options))
        .unwrap();
    let never = AtomicBool::new(false);
    assert!(links.wait_for_weights(WAIT, &never).is_some(), "no learner");
    let mut env = PointReach::new(7);
    let mut worst_lag = 0u64;
    let mut at_1200 = None;
    let started = std::time::Instant::now();
    let stats = run_actor(
        &mut env,
        &mut links,
        &options,
        &never,
        Some(3_000),
        |_, s| {
            if s.sent < 1_400 {
                worst_lag = worst_lag.max(s.sent.saturating_sub(s.weights_version.unwrap_or(0)));
            }
            if s.sent >= 1_200 && at_1200.is_none() {
                at_1200 = Some(started.elapsed().as_secs_f64());
            }
        },
    )
    .unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    let at_1200 = at_1200.unwrap();
    stop.store(true, Ordering::Relaxed);
    let final_version = learner.join().unwrap();
    assert_eq!(
        final_version, 1_500,
        "the stand-in learner stalled as planned"
    );
    assert_eq!(stats.steps, 3_000);
    // While the learner kept its pace, the actor stayed near it: ahead by the bound plus what
    // the weights in flight (one 50 ms period) and the first broadcast's delay add, and 1,200
    // steps took about the 2.4 s the learner needs for 1,200 updates.
    assert!(worst_lag <= 400, "lag reached {worst_lag}: {stats:?}");
    assert!(at_1200 >= 1.5, "1,200 steps after {at_1200} s: {stats:?}");
    assert!(stats.paced_holds > 0 && stats.paced_s > 1.0, "{stats:?}");
    // 1,500 updates at 500/s take 3 s; then the learner stalls, one hold times out and the
    // actor runs the remaining steps unpaced.
    assert_eq!(stats.pace_timeouts, 1, "{stats:?}");
    assert!((2.5..20.0).contains(&elapsed), "{elapsed} s: {stats:?}");
    rt.block_on(learner_bus.close()).unwrap();
    rt.block_on(actor_bus.close()).unwrap();
}

#[test]
fn an_unpaced_actor_never_holds() {
    tch::set_num_threads(1);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (learner_bus, actor_bus) = learner_and_actor_buses(&rt);
    let stop = Arc::new(AtomicBool::new(false));
    let learner = slow_learner(learner_bus.clone(), 100.0, u64::MAX, stop.clone());
    let options = actor_options("free", 8);
    assert_eq!(options.max_update_lag, 0, "pacing is opt-in");
    let mut links = rt
        .block_on(ActorLinks::connect(&actor_bus, &options))
        .unwrap();
    let never = AtomicBool::new(false);
    assert!(links.wait_for_weights(WAIT, &never).is_some(), "no learner");
    let mut env = PointReach::new(8);
    let stats = run_actor(
        &mut env,
        &mut links,
        &options,
        &never,
        Some(2_000),
        |_, _| {},
    )
    .unwrap();
    stop.store(true, Ordering::Relaxed);
    let version = learner.join().unwrap();
    assert!(version < 1_500, "the learner fell behind: v{version}");
    assert_eq!(
        (stats.paced_holds, stats.pace_timeouts),
        (0, 0),
        "{stats:?}"
    );
    // A time budget ends a run that its step budget would not (about 500 steps/s here).
    let timed = ActorOptions {
        max_seconds: Some(0.3),
        ..options.clone()
    };
    let mut slow = Paced(PointReach::new(9));
    let started = std::time::Instant::now();
    let stats = run_actor(
        &mut slow,
        &mut links,
        &timed,
        &never,
        Some(100_000),
        |_, _| {},
    )
    .unwrap();
    assert!(stats.steps > 0 && stats.steps < 1_000, "{stats:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    rt.block_on(learner_bus.close()).unwrap();
    rt.block_on(actor_bus.close()).unwrap();
}
