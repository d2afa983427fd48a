//! The metric harness: scores held-out episodes with a predictor and reports, per task (and
//! per view set), the metrics of [`crate::metrics`]. Predictors: the reward model (all views
//! or a subset) and the blind time regressor baseline.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::RewardError;
use crate::dataset::{EpisodeData, grade};
use crate::metrics::{self, DoneMetrics, DoneTrace};
use crate::scorer::Scorer;

/// Something that predicts progress and done probability for every frame of an episode.
pub trait Predictor {
    /// Progress and done probability per frame of `frames` (a prefix or reversal of
    /// `episode`'s frames).
    fn predict(
        &self,
        episode: &EpisodeData,
        frames: &Tensor,
    ) -> Result<(Vec<f64>, Vec<f64>), RewardError>;
}

/// The reward model with a chosen set of views.
pub struct ModelPredictor<'a> {
    /// The model.
    pub scorer: &'a Scorer,
    /// Views to use (`None`: every view the episode has).
    pub views: Option<Vec<bool>>,
    /// Goal frames per task `[V, 3, S, S]` (conditioning, e.g. a demo's last frame).
    pub goals: &'a BTreeMap<String, Tensor>,
}

impl Predictor for ModelPredictor<'_> {
    fn predict(
        &self,
        episode: &EpisodeData,
        frames: &Tensor,
    ) -> Result<(Vec<f64>, Vec<f64>), RewardError> {
        let present: Vec<bool> = match &self.views {
            Some(v) => v
                .iter()
                .zip(&episode.present)
                .map(|(a, b)| *a && *b)
                .collect(),
            None => episode.present.clone(),
        };
        if !present.iter().any(|&p| p) {
            return Err(RewardError::Invalid(format!(
                "{}: none of the selected views",
                episode.path.display()
            )));
        }
        let est = self.scorer.score_sequence(
            frames,
            &present,
            &episode.meta.instruction,
            self.goals.get(episode.task()),
        )?;
        Ok((
            est.iter().map(|e| e.progress).collect(),
            est.iter().map(|e| e.done_prob).collect(),
        ))
    }
}

/// Baseline that never looks at images: progress is the elapsed fraction of the median
/// successful episode length of the task (from training data), done once that length is
/// reached. It exposes label leakage: it scores well wherever progress tracks time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlindTime {
    /// Median steps to success per task.
    pub length: BTreeMap<String, f64>,
}

impl BlindTime {
    /// Fits the lengths on successful training episodes.
    pub fn fit<'a>(episodes: impl IntoIterator<Item = &'a EpisodeData>) -> Self {
        let mut per: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for e in episodes {
            if let Some(d) = e.first_done() {
                per.entry(e.task().to_owned()).or_default().push(d as f64);
            }
        }
        Self {
            length: per
                .into_iter()
                .map(|(k, mut v)| (k, metrics::median(&mut v).max(1.0)))
                .collect(),
        }
    }
}

impl Predictor for BlindTime {
    fn predict(
        &self,
        episode: &EpisodeData,
        frames: &Tensor,
    ) -> Result<(Vec<f64>, Vec<f64>), RewardError> {
        let n = frames.size()[0] as usize;
        let l = self.length.get(episode.task()).copied().unwrap_or(50.0);
        let p: Vec<f64> = (0..n).map(|t| (t as f64 / l).min(1.0)).collect();
        let d = (0..n)
            .map(|t| if t as f64 >= l { 1.0 } else { 0.0 })
            .collect();
        Ok((p, d))
    }
}

/// Metrics of one predictor on one task.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TaskMetrics {
    /// Episodes scored.
    pub episodes: usize,
    /// Successful episodes (VOC is over these, up to their first done frame).
    pub successes: usize,
    /// Mean VOC.
    pub voc: f64,
    /// Mean VOC on the time-reversed successful trajectories.
    pub voc_reversed: f64,
    /// Done detection at the operating point.
    pub done: DoneMetrics,
    /// Kendall tau-a of final progress against quality grade.
    pub ranking_tau: f64,
    /// Pearson r of predicted against privileged progress over every frame.
    pub pearson: f64,
    /// Mean per-episode Pearson r on failed, partial and regressing episodes (frames where
    /// the privileged progress varies).
    pub pearson_unsuccessful: f64,
}

/// Scores `episodes` with `predictor` at the done operating point `(threshold, k)`.
pub fn evaluate(
    predictor: &dyn Predictor,
    episodes: &[&EpisodeData],
    threshold: f64,
    k: usize,
) -> Result<BTreeMap<String, TaskMetrics>, RewardError> {
    #[derive(Default)]
    struct Acc {
        n: usize,
        vocs: Vec<f64>,
        rev: Vec<f64>,
        probs: Vec<Vec<f64>>,
        truth: Vec<Vec<bool>>,
        finals: Vec<f64>,
        grades: Vec<f64>,
        pred_all: Vec<f64>,
        true_all: Vec<f64>,
        unsuccessful: Vec<f64>,
    }
    let mut per: BTreeMap<String, Acc> = BTreeMap::new();
    for e in episodes {
        let acc = per.entry(e.task().to_owned()).or_default();
        acc.n += 1;
        let (p, d) = predictor.predict(e, &e.frames)?;
        if let Some(first) = e.first_done() {
            let upto = e.frames.narrow(0, 0, first as i64 + 1);
            acc.vocs.push(metrics::voc(&p[..=first]));
            let rev = upto.flip([0]);
            let (pr, _) = predictor.predict(e, &rev)?;
            acc.rev.push(metrics::voc(&pr));
        } else if let Some(r) = metrics::pearson(
            &p,
            &e.progress.iter().map(|&x| f64::from(x)).collect::<Vec<_>>(),
        ) {
            acc.unsuccessful.push(r);
        } else {
            acc.unsuccessful.push(0.0);
        }
        acc.finals.push(p.last().copied().unwrap_or(0.0));
        acc.grades.push(grade(&e.meta));
        acc.pred_all.extend(&p);
        acc.true_all
            .extend(e.progress.iter().map(|&x| f64::from(x)));
        acc.probs.push(d);
        acc.truth.push(e.done.clone());
    }
    let mean = |v: &[f64]| {
        if v.is_empty() {
            f64::NAN
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    Ok(per
        .into_iter()
        .map(|(task, a)| {
            let traces: Vec<DoneTrace<'_>> = a
                .probs
                .iter()
                .zip(&a.truth)
                .map(|(p, t)| DoneTrace { probs: p, truth: t })
                .collect();
            let m = TaskMetrics {
                episodes: a.n,
                successes: a.vocs.len(),
                voc: mean(&a.vocs),
                voc_reversed: mean(&a.rev),
                done: metrics::done_metrics(&traces, threshold, k),
                ranking_tau: metrics::kendall_tau_a(&a.finals, &a.grades).unwrap_or(f64::NAN),
                pearson: metrics::pearson(&a.pred_all, &a.true_all).unwrap_or(0.0),
                pearson_unsuccessful: mean(&a.unsuccessful),
            };
            (task, m)
        })
        .collect())
}

/// Mean of each metric over tasks (the "all" row).
pub fn overall(per_task: &BTreeMap<String, TaskMetrics>) -> TaskMetrics {
    let n = per_task.len().max(1) as f64;
    let sum = |f: &dyn Fn(&TaskMetrics) -> f64| {
        per_task
            .values()
            .map(f)
            .filter(|x| !x.is_nan())
            .sum::<f64>()
            / n
    };
    TaskMetrics {
        episodes: per_task.values().map(|m| m.episodes).sum(),
        successes: per_task.values().map(|m| m.successes).sum(),
        voc: sum(&|m| m.voc),
        voc_reversed: sum(&|m| m.voc_reversed),
        done: DoneMetrics {
            precision: sum(&|m| m.done.precision),
            recall: sum(&|m| m.done.recall),
            f1: sum(&|m| m.done.f1),
            frame_f1: sum(&|m| m.done.frame_f1),
            median_delay: sum(&|m| m.done.median_delay),
            false_done_rate: sum(&|m| m.done.false_done_rate),
            false_done_frames: sum(&|m| m.done.false_done_frames),
            positives: per_task.values().map(|m| m.done.positives).sum(),
            negatives: per_task.values().map(|m| m.done.negatives).sum(),
        },
        ranking_tau: sum(&|m| m.ranking_tau),
        pearson: sum(&|m| m.pearson),
        pearson_unsuccessful: sum(&|m| m.pearson_unsuccessful),
    }
}

/// Per-frame done probabilities and truth of one episode.
pub type DoneSeries = (Vec<f64>, Vec<bool>);

/// Done probabilities of validation episodes, for calibration (conditioned on `goals`, the
/// goal frames per task, as in serving).
pub fn done_traces(
    scorer: &Scorer,
    goals: &BTreeMap<String, Tensor>,
    episodes: &[&EpisodeData],
) -> Result<Vec<DoneSeries>, RewardError> {
    let p = ModelPredictor {
        scorer,
        views: None,
        goals,
    };
    episodes
        .iter()
        .map(|e| Ok((p.predict(e, &e.frames)?.1, e.done.clone())))
        .collect()
}

/// Calibrates the done operating point on validation episodes: among thresholds in
/// [0.3, 0.99] and hysteresis lengths `ks`, the one with the best episode-level F1 whose
/// false-done rate is within `budget` both per never-done episode and per never-done frame
/// (ties: shorter hysteresis, then the higher threshold). If none is, the strictest one.
pub fn calibrate(
    scorer: &Scorer,
    goals: &BTreeMap<String, Tensor>,
    episodes: &[&EpisodeData],
    ks: &[usize],
    budget: f64,
) -> Result<crate::checkpoint::DoneCalibration, RewardError> {
    let traces = done_traces(scorer, goals, episodes)?;
    Ok(choose_operating_point(&traces, ks, budget).0)
}

/// The choice [`calibrate`] makes, on done probabilities already computed, with the done
/// metrics of the chosen point over all the traces.
pub fn choose_operating_point(
    traces: &[DoneSeries],
    ks: &[usize],
    budget: f64,
) -> (crate::checkpoint::DoneCalibration, DoneMetrics) {
    let t: Vec<DoneTrace<'_>> = traces
        .iter()
        .map(|(p, d)| DoneTrace { probs: p, truth: d })
        .collect();
    let ks: Vec<usize> = if ks.is_empty() { vec![3] } else { ks.to_vec() };
    let grid: Vec<f64> = (0..=69).map(|i| 0.3 + 0.01 * f64::from(i)).collect();
    let mut best: Option<(f64, usize, f64)> = None;
    for &k in &ks {
        for &th in &grid {
            let m = metrics::done_metrics(&t, th, k);
            if m.false_done_rate > budget || m.false_done_frames > budget {
                continue;
            }
            let better = match best {
                None => true,
                Some((f, bk, bt)) => {
                    m.f1 > f + 1e-9
                        || ((m.f1 - f).abs() <= 1e-9 && (k < bk || (k == bk && th > bt)))
                }
            };
            if better {
                best = Some((m.f1, k, th));
            }
        }
    }
    let (_, k, threshold) = best.unwrap_or((
        0.0,
        ks.iter().copied().max().unwrap_or(3),
        grid.last().copied().unwrap_or(0.99),
    ));
    (
        crate::checkpoint::DoneCalibration {
            threshold,
            k,
            budget,
            episodes: traces.len(),
        },
        metrics::done_metrics(&t, threshold, k),
    )
}

/// Per-frame predictions of `scorer` on `episodes` as CSV (one row per frame: task, seed,
/// variant, episode folder, frame, privileged progress and done, then the model's expected
/// progress, entropy, uncertainty, done probability, delta and hysteresis done), for
/// inspecting where a model goes wrong.
pub fn traces_csv(
    scorer: &Scorer,
    goals: &BTreeMap<String, Tensor>,
    episodes: &[&EpisodeData],
) -> Result<String, RewardError> {
    use std::fmt::Write as _;
    let mut out = String::from(
        "task,seed,variant,episode,frame,true_progress,true_done,progress,entropy,uncertainty,done_prob,delta,done\n",
    );
    for e in episodes {
        let est = scorer.score_sequence(
            &e.frames,
            &e.present,
            &e.meta.instruction,
            goals.get(e.task()),
        )?;
        let folder = e
            .path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        for (t, s) in est.iter().enumerate() {
            let _ = writeln!(
                out,
                "{},{},{},{},{t},{:.4},{},{:.4},{:.4},{:.4},{:.4},{:.4},{}",
                e.task(),
                e.meta.seed,
                e.meta.variant,
                folder,
                e.progress.get(t).copied().unwrap_or(f32::NAN),
                u8::from(e.done.get(t).copied().unwrap_or(false)),
                s.progress,
                s.entropy,
                s.uncertainty,
                s.done_prob,
                s.delta,
                u8::from(s.done),
            );
        }
    }
    Ok(out)
}
