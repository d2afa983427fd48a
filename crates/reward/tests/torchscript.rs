//! A model written in PyTorch, exported with TorchScript and following the documented
//! contract (docs/reward.md) is served by the same scorer: its outputs arrive as estimates.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use striatum_reward::checkpoint::{Backend, Manifest};
use striatum_reward::scorer::ViewImages;
use striatum_reward::{ModelConfig, Scorer};
use tch::{Device, Kind, Tensor};

/// Progress is the mean brightness of the views present (weighted by the view mask), as a
/// two-bin distribution; done when it passes 0.8.
const MODULE: &str = r#"
import sys, torch

class Brightness(torch.nn.Module):
    def forward(self, current, reference, previous, view_mask, tokens):
        x = current.float().mean(dim=(2, 3, 4)) / 255.0
        w = view_mask / view_mask.sum(dim=1, keepdim=True).clamp(min=1.0)
        p = (x * w).sum(dim=1)
        before = (previous.float().mean(dim=(2, 3, 4)) / 255.0 * w).sum(dim=1)
        probs = torch.stack([1.0 - p, p], dim=1).clamp(min=1e-6)
        return probs.log(), (p > 0.8).float(), p - before, x, w

torch.jit.script(Brightness()).save(sys.argv[1])
"#;

fn python() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python")
}

/// Runs a module script (TorchScript needs the source in a file) that saves to `out`.
fn export(source: &str, dir: &Path) {
    let py = python();
    assert!(
        py.is_file(),
        "{} is missing: run `make bootstrap`",
        py.display()
    );
    let script = dir.join("export.py");
    std::fs::write(&script, source).unwrap();
    let out = Command::new(&py)
        .arg(&script)
        .arg(dir.join("model.pt"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_torchscript_model_follows_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    export(MODULE, dir.path());
    let mut config = ModelConfig::new(vec!["front".into(), "side".into()], 8);
    config.bins = 2;
    let mut manifest = Manifest::untrained("brightness", config);
    manifest.backend = Backend::Torchscript;
    std::fs::write(
        dir.path().join("manifest.json"),
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();

    let scorer = Scorer::load(dir.path(), Device::Cpu).unwrap();
    let mut state = scorer.start_episode("anything", None);
    let grey = |v: i64, size: i64| Tensor::full([3, size, size], v, (Kind::Uint8, Device::Cpu));
    let mut fired = Vec::new();
    let mut before = 51i64;
    for level in [51i64, 102, 230, 230, 230, 240] {
        // Different sizes per view: the scorer resizes to the manifest's image size.
        let imgs = ViewImages(vec![Some(grey(level, 96)), Some(grey(level, 128))]);
        let est = scorer.score(&mut [(&mut state, &imgs)]).unwrap().remove(0);
        let want = level as f64 / 255.0;
        assert!(
            (est.progress - want).abs() < 1e-3,
            "{} vs {want}",
            est.progress
        );
        assert_eq!(est.per_view.len(), 2);
        assert!((est.per_view[1].confidence - 0.5).abs() < 1e-6);
        // The previous frame is handed back as the anchor (the first frame is its own).
        let delta = (level - before) as f64 / 255.0;
        assert!(
            (est.delta - delta).abs() < 1e-3,
            "delta {} vs {delta}",
            est.delta
        );
        before = level;
        fired.push(est.done);
    }
    // Done needs 3 frames above the default threshold 0.5.
    assert_eq!(fired, [false, false, false, false, true, true]);
    // A missing view gets no weight.
    let imgs = ViewImages(vec![Some(grey(25, 64)), None]);
    let est = scorer.score(&mut [(&mut state, &imgs)]).unwrap().remove(0);
    assert!((est.progress - 25.0 / 255.0).abs() < 1e-3);
    assert_eq!(est.per_view.len(), 1);
    // Frames the model cannot take are refused with a reason.
    let bad = ViewImages(vec![
        Some(Tensor::zeros([4, 64, 64], (Kind::Uint8, Device::Cpu))),
        None,
    ]);
    let err = scorer
        .score(&mut [(&mut state, &bad)])
        .unwrap_err()
        .to_string();
    assert!(err.contains("front") && err.contains("[3, H, W]"), "{err}");
    let none = ViewImages(vec![None, None]);
    assert!(scorer.score(&mut [(&mut state, &none)]).is_err());
}

#[test]
fn a_module_that_breaks_the_contract_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let module = "import sys, torch\nclass Bad(torch.nn.Module):\n    def forward(self, a, b, c, d, e):\n        return a.float().mean()\ntorch.jit.script(Bad()).save(sys.argv[1])\n";
    export(module, dir.path());
    let mut manifest = Manifest::untrained("bad", ModelConfig::new(vec!["front".into()], 8));
    manifest.backend = Backend::Torchscript;
    std::fs::write(
        dir.path().join("manifest.json"),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
    let scorer = Scorer::load(dir.path(), Device::Cpu).unwrap();
    let mut state = scorer.start_episode("x", None);
    let imgs = ViewImages(vec![Some(Tensor::zeros(
        [3, 64, 64],
        (Kind::Uint8, Device::Cpu),
    ))]);
    let err = scorer
        .score(&mut [(&mut state, &imgs)])
        .unwrap_err()
        .to_string();
    assert!(err.contains("tuple of 5 tensors"), "{err}");
}
