//! `n`-step returns in the learner: each actor's steps are folded on their own (actors
//! interleave on the bus), shaped rewards telescope, interventions reach the demonstration
//! buffer folded over their own stretch, a malformed step never enters a fold, and steps
//! waiting in a fold survive a checkpoint.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use striatum_msgs::{Header, Transition as Msg};
use striatum_rl::learner::{Learner, LearnerConfig, RewardMode};
use striatum_rl::{SacConfig, ShapingConfig, StepEnd};
use tch::Device;

const GAMMA: f64 = 0.9;

fn config(n_step: usize) -> LearnerConfig {
    LearnerConfig {
        obs_dim: 1,
        act_dim: 1,
        reward: RewardMode::Shaped,
        shaping: ShapingConfig {
            gamma: GAMMA,
            ..ShapingConfig::default()
        },
        sac: SacConfig {
            hidden: vec![8],
            critics: 2,
            gamma: GAMMA,
            n_step,
            ..SacConfig::default()
        },
        online_capacity: 100,
        demo_capacity: 100,
        ..LearnerConfig::default()
    }
}

/// Step `step` of `actor`'s episode `episode`: observation `step`, progress `step / 10`,
/// task reward 1 at a terminal step.
fn msg(actor: &str, episode: u64, step: u64, end: Option<StepEnd>, intervention: bool) -> Msg {
    let terminated = end == Some(StepEnd::Terminal);
    Msg {
        header: Header::new(0, "world"),
        actor_id: actor.into(),
        seq: step,
        episode_id: episode,
        step,
        observation: vec![step as f32],
        action: vec![0.0],
        reward: if terminated { 1.0 } else { 0.0 },
        progress: step as f32 / 10.0,
        next_progress: (step + 1) as f32 / 10.0,
        next_observation: vec![(step + 1) as f32],
        terminated,
        truncated: end == Some(StepEnd::Truncated),
        intervention,
    }
}

#[test]
fn interleaved_actors_are_folded_apart_and_shaping_telescopes() {
    let mut l = Learner::new(config(3), Device::Cpu).unwrap();
    // Two actors, four steps each, interleaved; actor b's episode ends terminally.
    for step in 0..4u64 {
        let last = step == 3;
        assert!(l.add(&msg(
            "a",
            1,
            step,
            last.then_some(StepEnd::Truncated),
            false
        )));
        assert!(l.add(&msg("b", 7, step, last.then_some(StepEnd::Terminal), false)));
    }
    assert_eq!(l.pending(), 0);
    assert_eq!(l.online().len(), 8);
    let rows: Vec<_> = (0..8).map(|i| l.online().get(i).unwrap()).collect();
    for t in &rows {
        let from = t.obs[0] as u64;
        // Every fold covers consecutive steps of one episode: next_obs is `steps` on.
        assert_eq!(t.next_obs[0] as u64, from + u64::from(t.steps));
        assert_eq!(t.steps, 3.min(4 - from as u32));
    }
    // A truncated fold from step 1: shaped rewards telescope to
    // lambda * (gamma^3 Phi(s_4) - Phi(s_1)).
    // (Stored rows keep only whether they bootstrap: a truncated fold reads back as
    // `Continue`.)
    let a1 = rows
        .iter()
        .find(|t| t.obs[0] == 1.0 && t.end == StepEnd::Continue)
        .unwrap();
    let want = GAMMA.powi(3) * 0.4 - 0.1;
    assert!((f64::from(a1.reward) - want).abs() < 1e-5, "{}", a1.reward);
    // A terminal fold from step 1: the task reward, discounted twice, and Phi(terminal) = 0.
    let b1 = rows
        .iter()
        .find(|t| t.obs[0] == 1.0 && t.end == StepEnd::Terminal)
        .unwrap();
    let want = GAMMA.powi(2) * 1.0 - 0.1;
    assert!((f64::from(b1.reward) - want).abs() < 1e-5, "{}", b1.reward);
}

#[test]
fn one_step_learners_store_what_arrives() {
    let mut l = Learner::new(config(1), Device::Cpu).unwrap();
    assert!(l.add(&msg("a", 1, 0, None, true)));
    assert_eq!((l.online().len(), l.demo().len(), l.pending()), (1, 1, 0));
    assert_eq!(l.online().get(0).unwrap().steps, 1);
}

#[test]
fn interventions_are_folded_over_their_own_stretch() {
    let mut l = Learner::new(config(5), Device::Cpu).unwrap();
    // Steps 0-1 by the policy, 2-3 by a human, 4-5 by the policy again.
    for step in 0..6u64 {
        let human = (2..4).contains(&step);
        let end = (step == 5).then_some(StepEnd::Truncated);
        assert!(l.add(&msg("a", 1, step, end, human)));
    }
    let demo: Vec<_> = (0..l.demo().len())
        .map(|i| l.demo().get(i).unwrap())
        .collect();
    let spans: Vec<(f32, u32)> = demo.iter().map(|t| (t.obs[0], t.steps)).collect();
    assert_eq!(spans, [(2.0, 2), (3.0, 1)]);
    assert_eq!(l.online().len(), 6);
}

#[test]
fn a_new_episode_flushes_the_last_and_bad_steps_stay_out() {
    let mut l = Learner::new(config(4), Device::Cpu).unwrap();
    for step in 0..2u64 {
        assert!(l.add(&msg("a", 1, step, None, false)));
    }
    assert_eq!((l.online().len(), l.pending()), (0, 2));
    let mut bad = msg("a", 1, 2, None, false);
    bad.observation.push(0.0);
    assert!(!l.add(&bad));
    assert_eq!(l.counters().refused, 1);
    assert_eq!(l.pending(), 2);
    // The actor moves on to another episode without ending this one: it is folded as is.
    assert!(l.add(&msg("a", 2, 0, None, false)));
    assert_eq!((l.online().len(), l.pending()), (2, 1));
    assert_eq!(l.online().get(0).unwrap().steps, 2);
}

#[test]
fn waiting_steps_survive_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("learner");
    let mut l = Learner::new(config(3), Device::Cpu).unwrap();
    for step in 0..2u64 {
        l.add(&msg("a", 1, step, None, false));
    }
    l.save(&ckpt).unwrap();
    let mut resumed = Learner::load(&ckpt, Device::Cpu).unwrap();
    assert_eq!(resumed.pending(), 2);
    for learner in [&mut l, &mut resumed] {
        learner.add(&msg("a", 1, 2, Some(StepEnd::Terminal), false));
    }
    let rows = |l: &Learner| -> Vec<_> {
        (0..l.online().len())
            .map(|i| l.online().get(i).unwrap())
            .collect()
    };
    assert_eq!(rows(&l).len(), 3);
    assert_eq!(rows(&l), rows(&resumed));
}
