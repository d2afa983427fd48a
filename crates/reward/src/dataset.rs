//! Recorded episodes held in memory for training and evaluation, with their labels.
//!
//! Labels come from the privileged progress the simulator recorded: `progress[t]` in [0, 1]
//! and `done[t] = progress[t] >= 1` (the success predicate holds). Splits are by seed:
//! `seed % 10` in 0..=6 trains, 7 validates, 8 and 9 are held out for evaluation, so every
//! variant and task is split the same way and no seed is in two splits.

use std::path::{Path, PathBuf};

use striatum_data::{Dataset, EpisodeMeta};
use tch::{Kind, Tensor};

use crate::RewardError;

/// Which split a seed belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Training.
    Train,
    /// Validation (checkpoint selection, done-threshold calibration).
    Val,
    /// Held out for evaluation.
    Test,
}

impl Split {
    /// The split of an episode seed.
    pub fn of_seed(seed: u64) -> Self {
        match seed % 10 {
            7 => Split::Val,
            8 | 9 => Split::Test,
            _ => Split::Train,
        }
    }
}

impl std::str::FromStr for Split {
    type Err = RewardError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "train" => Ok(Split::Train),
            "val" => Ok(Split::Val),
            "test" => Ok(Split::Test),
            other => Err(RewardError::Invalid(format!(
                "split `{other}`: expected train, val or test"
            ))),
        }
    }
}

/// Quality grade used by the ranking metric: failed < partial < success.
pub fn grade(meta: &EpisodeMeta) -> f64 {
    if meta.success {
        2.0
    } else if meta.variant == "partial" {
        1.0
    } else {
        0.0
    }
}

/// One episode in memory.
#[derive(Debug)]
pub struct EpisodeData {
    /// Its folder.
    pub path: PathBuf,
    /// Its metadata.
    pub meta: EpisodeMeta,
    /// Frames `[T + 1, V, 3, S, S]` uint8, views in the model's order (zeros where absent).
    pub frames: Tensor,
    /// Which of the model's views the episode has.
    pub present: Vec<bool>,
    /// Privileged progress per observation.
    pub progress: Vec<f32>,
    /// Whether the task is done at each observation.
    pub done: Vec<bool>,
}

impl EpisodeData {
    /// Observations.
    pub fn len(&self) -> usize {
        self.progress.len()
    }

    /// Whether it has no observations.
    pub fn is_empty(&self) -> bool {
        self.progress.is_empty()
    }

    /// Task name (the scene).
    pub fn task(&self) -> &str {
        &self.meta.scene
    }

    /// First observation at which the task is done.
    pub fn first_done(&self) -> Option<usize> {
        self.done.iter().position(|&d| d)
    }

    /// Split by seed.
    pub fn split(&self) -> Split {
        Split::of_seed(self.meta.seed)
    }
}

/// Lists episode folders of several datasets with their metadata.
pub fn list(dirs: &[PathBuf]) -> Result<Vec<(PathBuf, EpisodeMeta)>, RewardError> {
    let mut out = Vec::new();
    for d in dirs {
        let ds = Dataset::open(d)?;
        for (p, m) in ds.episodes().iter().zip(ds.metas()?) {
            out.push((p.clone(), m));
        }
    }
    Ok(out)
}

/// Camera names across `metas`, in first-seen order.
pub fn camera_names<'a>(metas: impl IntoIterator<Item = &'a EpisodeMeta>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for m in metas {
        for c in &m.cameras {
            if !names.contains(&c.name) {
                names.push(c.name.clone());
            }
        }
    }
    names
}

/// Loads one episode, resampling its images to `size` and ordering them as `views`.
pub fn load(dir: &Path, views: &[String], size: i64) -> Result<EpisodeData, RewardError> {
    let ep = striatum_data::load_episode(dir, true)?;
    let t1 = ep.observations.len();
    let v = views.len();
    let mut slots: Vec<Option<usize>> = vec![None; v];
    for (ci, cam) in ep.meta.cameras.iter().enumerate() {
        if let Some(vi) = views.iter().position(|n| *n == cam.name) {
            slots[vi] = Some(ci);
        }
    }
    let mut per_view = Vec::with_capacity(v);
    for slot in &slots {
        let t = match slot {
            Some(ci) => {
                let cam = &ep.meta.cameras[*ci];
                let (w, h) = (cam.width as i64, cam.height as i64);
                let mut bytes = Vec::with_capacity(t1 * (w * h * 3) as usize);
                for o in &ep.observations {
                    bytes.extend_from_slice(&o.images[*ci].rgb);
                }
                let x = Tensor::from_slice(&bytes)
                    .view([t1 as i64, h, w, 3])
                    .permute([0, 3, 1, 2]);
                if h == size && w == size {
                    x.contiguous()
                } else {
                    x.to_kind(Kind::Float)
                        .adaptive_avg_pool2d([size, size])
                        .round()
                        .to_kind(Kind::Uint8)
                }
            }
            None => Tensor::zeros([t1 as i64, 3, size, size], (Kind::Uint8, tch::Device::Cpu)),
        };
        per_view.push(t);
    }
    let frames = Tensor::stack(&per_view, 1);
    let progress: Vec<f32> = ep.observations.iter().map(|o| o.progress as f32).collect();
    if progress.iter().any(|p| !p.is_finite()) {
        return Err(RewardError::Invalid(format!(
            "{}: progress holds a non-finite value",
            dir.display()
        )));
    }
    let done = progress.iter().map(|&p| p >= 0.999).collect();
    Ok(EpisodeData {
        path: dir.to_path_buf(),
        meta: ep.meta,
        frames,
        present: slots.iter().map(Option::is_some).collect(),
        progress,
        done,
    })
}

/// Loads many episodes on up to `threads` threads, calling `tick` after each.
pub fn load_all(
    dirs: &[PathBuf],
    views: &[String],
    size: i64,
    threads: usize,
    tick: &(dyn Fn() + Sync),
) -> Result<Vec<EpisodeData>, RewardError> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Result<Vec<(usize, EpisodeData)>, RewardError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.max(1))
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(d) = dirs.get(i) else { break };
                        mine.push((i, load(d, views, size)?));
                        tick();
                    }
                    Ok(mine)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(RewardError::Invalid("a loader thread panicked".into()))
                })
            })
            .collect()
    });
    let mut all = Vec::new();
    for r in results {
        all.extend(r?);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, e)| e).collect())
}
