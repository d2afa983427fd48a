//! Training on a synthetic task: the loss falls, validation metrics are computed, the
//! checkpoint round-trips bit for bit, training resumes where it stopped, and the evaluation
//! harness scores the model above the blind baseline where progress does not follow time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use striatum_reward::Scorer;
use striatum_reward::checkpoint::{self, Checkpoint};
use striatum_reward::dataset::{self, EpisodeData, Split};
use striatum_reward::eval::{self, BlindTime, ModelPredictor};
use striatum_reward::fit::{Event, FitArgs, fit};
use striatum_reward::train::TrainConfig;
use tch::Device;

fn args(data: &std::path::Path, out: &std::path::Path, steps: u64) -> FitArgs {
    FitArgs {
        data: vec![data.to_path_buf()],
        out: out.to_path_buf(),
        views: None,
        image_size: None,
        exclude_tasks: vec![],
        config: TrainConfig {
            steps,
            batch: 16,
            lr: 2e-3,
            warmup: 10,
            eval_every: 40,
            ..TrainConfig::default()
        },
        device: Device::Cpu,
        threads: 2,
        resume: true,
        done_k: vec![2],
        done_budget: 0.01,
    }
}

/// The episodes of one split, in the model's views.
fn load_split(data: &std::path::Path, split: Split, views: &[String]) -> Vec<EpisodeData> {
    dataset::list(&[data.to_path_buf()])
        .unwrap()
        .into_iter()
        .filter(|(_, m)| Split::of_seed(m.seed) == split)
        .map(|(p, _)| dataset::load(&p, views, 64).unwrap())
        .collect()
}

#[test]
fn a_short_run_learns_checkpoints_and_resumes() {
    tch::set_num_threads(2);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    common::record(&data, "slide", 10);
    let out = dir.path().join("models/slide");

    let mut losses = Vec::new();
    let mut checkpoints = 0;
    let summary = fit(&args(&data, &out, 120), &mut |e| match e {
        Event::Step { loss, .. } => losses.push(loss.total),
        Event::Checkpoint { .. } => checkpoints += 1,
        Event::Loading { .. } => {}
    })
    .unwrap();
    assert_eq!(summary.steps, 120);
    assert_eq!(checkpoints, 3, "at 40, 80 and 120");
    let first: f64 = losses[..10].iter().sum::<f64>() / 10.0;
    let last: f64 = losses[losses.len() - 10..].iter().sum::<f64>() / 10.0;
    assert!(last < 0.7 * first, "loss {first:.3} -> {last:.3}");

    // The manifest says what the model is and what it saw.
    let manifest = checkpoint::read_manifest(&out).unwrap();
    assert_eq!(manifest.model.views, ["front", "side"]);
    assert_eq!(manifest.tasks, ["slide"]);
    assert_eq!(manifest.training["steps"], 120);
    assert!(manifest.metrics["all"]["voc"].as_f64().unwrap() > 0.5);
    assert!(out.join("train/state.json").is_file());
    assert!(
        !std::fs::read_dir(dir.path().join("models"))
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().starts_with('.'))
    );

    // Save and load give identical outputs.
    let loaded = Checkpoint::load(&out, Device::Cpu).unwrap();
    let copy = dir.path().join("models/copy");
    loaded.save(&copy).unwrap();
    let a = Scorer::load(&out, Device::Cpu).unwrap();
    let b = Scorer::load(&copy, Device::Cpu).unwrap();
    let views = a.views().to_vec();
    let eps = load_split(&data, Split::Test, &views);
    assert_eq!(eps.len(), 4, "seeds 8 and 9 of two variants");
    for e in &eps {
        let ea = a
            .score_sequence(&e.frames, &e.present, &e.meta.instruction, None)
            .unwrap();
        let eb = b
            .score_sequence(&e.frames, &e.present, &e.meta.instruction, None)
            .unwrap();
        assert_eq!(ea, eb, "a reloaded checkpoint scores identically");
    }

    // Stepping frame by frame gives what the sequence scorer gives.
    let e = &eps[0];
    let seq = a
        .score_sequence(&e.frames, &e.present, &e.meta.instruction, None)
        .unwrap();
    let mut state = a.start_episode(&e.meta.instruction, None);
    for (t, want) in seq.iter().enumerate() {
        let f = e.frames.get(t as i64);
        let imgs = striatum_reward::scorer::ViewImages(vec![Some(f.get(0)), Some(f.get(1))]);
        let got = a.score(&mut [(&mut state, &imgs)]).unwrap().remove(0);
        assert!((got.progress - want.progress).abs() < 1e-4, "step {t}");
        assert!((got.done_prob - want.done_prob).abs() < 1e-4, "step {t}");
        assert_eq!(got.done, want.done, "step {t}");
    }

    // The harness: ours tracks failures, the blind regressor cannot.
    let refs: Vec<&EpisodeData> = eps.iter().collect();
    let ours = eval::evaluate(
        &ModelPredictor {
            scorer: &a,
            views: None,
            goals: &a.goals,
        },
        &refs,
        a.done.threshold,
        a.done.k,
    )
    .unwrap();
    let train = load_split(&data, Split::Train, &views);
    let blind = eval::evaluate(&BlindTime::fit(train.iter()), &refs, 0.5, 1).unwrap();
    let (o, b) = (&ours["slide"], &blind["slide"]);
    assert!(o.voc > 0.8, "ours VOC {}", o.voc);
    assert!(
        o.voc_reversed < -0.5,
        "ours reversed VOC {}",
        o.voc_reversed
    );
    assert!(
        b.voc_reversed > 0.9,
        "time only goes up: {}",
        b.voc_reversed
    );
    assert!(
        o.pearson_unsuccessful > b.pearson_unsuccessful + 0.3,
        "ours {} blind {}",
        o.pearson_unsuccessful,
        b.pearson_unsuccessful
    );

    // Resuming continues from step 120.
    let mut first_step = None;
    let summary = fit(&args(&data, &out, 140), &mut |e| {
        if let Event::Step { step, .. } = e {
            first_step.get_or_insert(*step);
        }
    })
    .unwrap();
    assert_eq!(first_step, Some(121));
    assert_eq!(summary.steps, 140);
}

#[test]
fn bad_inputs_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let err = Scorer::load(dir.path(), Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(err.contains("manifest.json"), "{err}");
    std::fs::write(dir.path().join("manifest.json"), "{\"format\": 1}").unwrap();
    let err = Scorer::load(dir.path(), Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("manifest.json") && err.contains("missing field"),
        "{err}"
    );
    let m = checkpoint::Manifest::untrained(
        "x",
        striatum_reward::ModelConfig::new(vec!["front".into()], 8),
    );
    std::fs::write(
        dir.path().join("manifest.json"),
        serde_json::to_vec(&m).unwrap(),
    )
    .unwrap();
    let err = Scorer::load(dir.path(), Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("model.safetensors") && err.contains("missing"),
        "{err}"
    );
    std::fs::write(dir.path().join("model.safetensors"), b"not weights").unwrap();
    let err = Scorer::load(dir.path(), Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(err.contains("model.safetensors"), "{err}");
    let err = fit(
        &args(&dir.path().join("nope"), &dir.path().join("m"), 1),
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("nope"), "{err}");
}
