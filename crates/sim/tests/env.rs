//! The environment: bitwise determinism, vectorised and single environments agree, bad actions
//! are refused without ending the episode, end-effector control is accurate and respects joint
//! limits, grasps hold with bounded force and nothing flies off.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on broken fixtures

use std::path::{Path, PathBuf};

use striatum_sim::{
    Action, Env, EnvError, Observation, Rng, ScriptedExpert, Step, Variant, VecEnv,
};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn env(scene: &str, robot: &str) -> Env {
    Env::load(
        root().join("sim_scenes").join(format!("{scene}.toml")),
        root().join("robots").join(robot),
    )
    .unwrap()
}

fn random_action(rng: &mut Rng) -> Action {
    Action::EeDelta {
        translation: [
            rng.symmetric(0.03),
            rng.symmetric(0.03),
            rng.symmetric(0.03),
        ],
        rotation: [0.0, 0.0, rng.symmetric(0.2)],
        gripper: rng.uniform(),
    }
}

/// Every number of an observation, as bits, so comparisons are exact.
fn bits(obs: &Observation) -> Vec<u64> {
    let mut v: Vec<f64> = obs.joint_positions.clone();
    v.extend(&obs.joint_velocities);
    v.extend(obs.ee_position);
    v.extend(obs.ee_orientation);
    v.push(obs.gripper);
    for o in &obs.privileged.objects {
        v.extend(o.position);
        v.extend(o.orientation);
    }
    for (_, q) in &obs.privileged.fixtures {
        v.push(*q);
    }
    v.into_iter().map(f64::to_bits).collect()
}

fn rollout(e: &mut Env, seed: u64, steps: usize) -> Vec<Vec<u64>> {
    let mut rng = Rng::new(99);
    let mut out = vec![bits(&e.reset(seed).unwrap())];
    for _ in 0..steps {
        let s = e.step(&random_action(&mut rng)).unwrap();
        out.push(bits(&s.obs));
        if s.terminated || s.truncated {
            break;
        }
    }
    out
}

#[test]
fn same_seed_and_actions_give_a_bitwise_identical_trajectory() {
    for (scene, robot) in [
        ("pick_place", "panda"),
        ("open_drawer", "panda"),
        ("push_cube", "so101"),
    ] {
        let mut a = env(scene, robot);
        let first = rollout(&mut a, 7, 60);
        // Same environment after other episodes, and a fresh one.
        rollout(&mut a, 8, 20);
        let again = rollout(&mut a, 7, 60);
        let fresh = rollout(&mut env(scene, robot), 7, 60);
        assert_eq!(first, again, "{scene}: reset must forget earlier episodes");
        assert_eq!(first, fresh, "{scene}: fresh environment");
        let other = rollout(&mut a, 9, 60);
        assert_ne!(
            first[0], other[0],
            "{scene}: another seed lays out another scene"
        );
    }
}

#[test]
fn vectorised_environments_match_single_ones() {
    let seeds = [1u64, 2, 3, 4];
    let mut vec_env = VecEnv::new((0..4).map(|_| env("push_cube", "panda")).collect(), 2);
    let mut singles: Vec<Env> = (0..4).map(|_| env("push_cube", "panda")).collect();
    let obs = vec_env.reset(&seeds).unwrap();
    for (o, (e, s)) in obs.iter().zip(singles.iter_mut().zip(seeds)) {
        assert_eq!(bits(o), bits(&e.reset(s).unwrap()));
    }
    let mut rng = Rng::new(5);
    for _ in 0..40 {
        let actions: Vec<Action> = (0..4).map(|_| random_action(&mut rng)).collect();
        let batch = vec_env.step(&actions).unwrap();
        for ((b, e), a) in batch.iter().zip(singles.iter_mut()).zip(&actions) {
            let s: Step = e.step(a).unwrap();
            assert_eq!(bits(&b.obs), bits(&s.obs));
            assert_eq!(b.info, s.info);
        }
    }
    assert!(vec_env.step(&[]).is_err(), "wrong number of actions");
}

#[test]
fn bad_actions_are_refused_and_the_episode_goes_on() {
    let mut e = env("push_cube", "panda");
    assert!(matches!(
        e.step(&Action::ee_from_slice(&[0.0; 7]).unwrap()),
        Err(EnvError::NotRunning)
    ));
    e.reset(0).unwrap();
    let nan = Action::EeDelta {
        translation: [f64::NAN, 0.0, 0.0],
        rotation: [0.0; 3],
        gripper: 0.0,
    };
    let err = e.step(&nan).err().unwrap().to_string();
    assert!(err.contains("non-finite"), "{err}");
    let short = Action::Joints {
        positions: vec![0.0; 3],
        gripper: 0.0,
    };
    assert!(
        e.step(&short)
            .err()
            .unwrap()
            .to_string()
            .contains("expected 7 joint targets")
    );
    assert!(Action::ee_from_slice(&[0.0; 6]).is_err());
    let ok = e
        .step(&Action::ee_from_slice(&[0.01, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]).unwrap())
        .unwrap();
    assert_eq!(ok.obs.step, 1, "the refused actions did not advance time");
}

/// Drives the tool to `goal` with end-effector deltas and returns the remaining error (m).
fn drive_to(e: &mut Env, goal: [f64; 3], steps: usize) -> f64 {
    let mut obs = e.observe();
    for _ in 0..steps {
        let d: Vec<f64> = (0..3).map(|k| goal[k] - obs.ee_position[k]).collect();
        obs = e
            .step(&Action::EeDelta {
                translation: [d[0], d[1], d[2]],
                rotation: [0.0; 3],
                gripper: 0.0,
            })
            .unwrap()
            .obs;
    }
    (0..3)
        .map(|k| (goal[k] - obs.ee_position[k]).powi(2))
        .sum::<f64>()
        .sqrt()
}

#[test]
fn end_effector_control_reaches_targets_within_2_mm() {
    // The reach scene has no objects in the way; targets span each arm's tabletop workspace.
    let mut rng = Rng::new(11);
    for (robot, lo, hi) in [
        ("so101", [0.15, -0.12, 0.03], [0.28, 0.12, 0.15]),
        ("panda", [0.35, -0.25, 0.05], [0.65, 0.25, 0.4]),
    ] {
        let mut e = env("reach", robot);
        // This measures control, not the task: passing the scene's marker must not end it.
        e.set_continue_after_done(true);
        let mut worst: f64 = 0.0;
        for i in 0..15 {
            e.reset(i).unwrap();
            let goal = [0, 1, 2].map(|k| lo[k] + (hi[k] - lo[k]) * rng.uniform());
            // Stop before the scene's own success ends the episode: use a short drive.
            let steps = 40.min(e.scene().max_steps() - 1);
            let err = drive_to(&mut e, goal, steps);
            worst = worst.max(err);
        }
        assert!(worst < 0.002, "{robot}: worst tracking error {worst} m");
    }
}

#[test]
fn random_actions_keep_joints_within_limits_and_objects_on_the_table() {
    for (scene, robot) in [
        ("pick_place", "panda"),
        ("push_cube", "so101"),
        ("open_drawer", "panda"),
    ] {
        let mut e = env(scene, robot);
        let limits: Vec<(f64, f64)> = e
            .robot()
            .config
            .joints
            .iter()
            .map(|j| (j.lower, j.upper))
            .collect();
        let mut rng = Rng::new(3);
        for seed in 0..3 {
            e.reset(seed).unwrap();
            loop {
                let s = e.step(&random_action(&mut rng)).unwrap();
                for (q, (lo, hi)) in s.obs.joint_positions.iter().zip(&limits) {
                    assert!(
                        *q > lo - 0.02 && *q < hi + 0.02,
                        "{scene}/{robot}: joint {q} outside [{lo}, {hi}]"
                    );
                }
                for o in &s.obs.privileged.objects {
                    assert!(
                        o.position[2] > 0.0 && o.position[2] < 1.0,
                        "{scene}: {} at {:?}",
                        o.name,
                        o.position
                    );
                }
                if s.terminated || s.truncated {
                    break;
                }
            }
        }
    }
}

#[test]
fn a_grasped_cube_stays_put_between_the_fingers() {
    let mut e = env("pick_place", "panda");
    let mut expert = ScriptedExpert::new(e.scene(), e.robot(), Variant::Expert, 4);
    let mut obs = e.reset(4).unwrap();
    let mut info = None;
    let mut offsets = Vec::new();
    let mut closures = Vec::new();
    loop {
        let s = e.step(&expert.act(&obs, info.as_ref())).unwrap();
        let cube = s.obs.position("cube").unwrap();
        // While the cube is in the air, it is held.
        if cube[2] > 0.05 {
            offsets.push([0, 1, 2].map(|k| cube[k] - s.obs.ee_position[k]));
            closures.push(s.obs.gripper);
        }
        let done = s.terminated || s.truncated;
        obs = s.obs;
        info = Some(s.info);
        if done {
            break;
        }
    }
    assert!(offsets.len() > 10, "the cube was carried");
    let first = offsets[0];
    for o in &offsets {
        let slip = (0..3)
            .map(|k| (o[k] - first[k]).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(slip < 0.005, "the cube slipped {slip} m in the grasp");
    }
    // The fingers stop at the 4 cm cube's faces (open 0.04, closed 0: faces at closure 0.625),
    // within 1.5 mm per side: the grasp force is bounded, not crushing through the cube.
    for c in &closures {
        assert!((c - 0.625).abs() < 0.04, "closure {c} while holding");
    }
}
