//! The metrics of `docs/reward.md`, defined exactly once:
//!
//! - **VOC**: Spearman rank correlation between predicted progress `v_0..v_{T-1}` and the time
//!   index on one successful trajectory (ties get their average rank); averaged over
//!   trajectories. **Reversed VOC** is the same on the time-reversed trajectory.
//! - **Done detection** with hysteresis: a detection fires at the first step where the done
//!   probability has been at or above the threshold for `k` consecutive steps. Episode level:
//!   a successful episode detected at or after its first success step is a true positive, one
//!   detected earlier is a false positive *and* a miss, one never detected is a miss; a failed
//!   episode with a detection is a false positive. Frame level (no hysteresis): every step's
//!   thresholded probability against "the task is done at this step".
//! - **Ranking**: Kendall tau-a between final predicted progress and quality grade.
//! - **Pearson r** against privileged progress (never pooled with VOC).

/// Average ranks (1-based) of `x`; ties share the mean of their ranks.
pub fn ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && x[idx[j + 1]] == x[idx[i]] {
            j += 1;
        }
        let mean = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = mean;
        }
        i = j + 1;
    }
    r
}

/// Pearson correlation; `None` when either side is constant or shorter than 2.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len().min(y.len());
    if n < 2 {
        return None;
    }
    let (mx, my) = (
        x[..n].iter().sum::<f64>() / n as f64,
        y[..n].iter().sum::<f64>() / n as f64,
    );
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (dx, dy) = (x[i] - mx, y[i] - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx <= 1e-24 || syy <= 1e-24 {
        return None;
    }
    Some(sxy / (sxx * syy).sqrt())
}

/// Spearman rank correlation; `None` when either side is constant.
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    pearson(&ranks(x), &ranks(y))
}

/// VOC of one trajectory: Spearman between `predicted` and the time index. A constant
/// prediction scores 0 (it orders nothing).
pub fn voc(predicted: &[f64]) -> f64 {
    let time: Vec<f64> = (0..predicted.len()).map(|t| t as f64).collect();
    spearman(predicted, &time).unwrap_or(0.0)
}

/// Kendall tau-a between `x` and `y`: (concordant - discordant) / (n (n - 1) / 2).
pub fn kendall_tau_a(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len().min(y.len());
    if n < 2 {
        return None;
    }
    let mut s = 0.0;
    for i in 0..n {
        for j in i + 1..n {
            s += sign(x[i] - x[j]) * sign(y[i] - y[j]);
        }
    }
    Some(s / (n * (n - 1) / 2) as f64)
}

/// -1, 0 or 1 (`f64::signum` gives 1 for 0).
fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// First step at which `probs` has been `>= threshold` for `k` consecutive steps.
pub fn detect(probs: &[f64], threshold: f64, k: usize) -> Option<usize> {
    let k = k.max(1);
    let mut run = 0;
    for (t, &p) in probs.iter().enumerate() {
        run = if p >= threshold { run + 1 } else { 0 };
        if run >= k {
            return Some(t);
        }
    }
    None
}

/// Streaming form of [`detect`]: feed one probability per step.
#[derive(Debug, Clone)]
pub struct Hysteresis {
    threshold: f64,
    k: usize,
    run: usize,
}

impl Hysteresis {
    /// Fires after `k` consecutive probabilities at or above `threshold`.
    pub fn new(threshold: f64, k: usize) -> Self {
        Self {
            threshold,
            k: k.max(1),
            run: 0,
        }
    }

    /// Feeds the next probability; true once the run is long enough (and while it lasts).
    pub fn update(&mut self, p: f64) -> bool {
        self.run = if p >= self.threshold { self.run + 1 } else { 0 };
        self.run >= self.k
    }

    /// Forgets the current run (new episode).
    pub fn reset(&mut self) {
        self.run = 0;
    }
}

/// Precision, recall and F1 from counts (0 where undefined).
pub fn f1(tp: usize, fp: usize, fn_: usize) -> (f64, f64, f64) {
    let p = if tp + fp == 0 {
        0.0
    } else {
        tp as f64 / (tp + fp) as f64
    };
    let r = if tp + fn_ == 0 {
        0.0
    } else {
        tp as f64 / (tp + fn_) as f64
    };
    let f = if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    };
    (p, r, f)
}

/// One episode as the done metrics see it.
#[derive(Debug, Clone)]
pub struct DoneTrace<'a> {
    /// Predicted done probability per step.
    pub probs: &'a [f64],
    /// Whether the task is done at each step.
    pub truth: &'a [bool],
}

/// Done-detection results over a set of episodes.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DoneMetrics {
    /// Episode-level precision (hysteresis).
    pub precision: f64,
    /// Episode-level recall.
    pub recall: f64,
    /// Episode-level F1.
    pub f1: f64,
    /// Frame-level F1 of the raw threshold.
    pub frame_f1: f64,
    /// Median steps from the first done step to the detection (detected successes).
    pub median_delay: f64,
    /// Fraction of never-done episodes in which done fired.
    pub false_done_rate: f64,
    /// Fraction of steps of never-done episodes at which done fired.
    pub false_done_frames: f64,
    /// Episodes with a done step.
    pub positives: usize,
    /// Episodes without one.
    pub negatives: usize,
}

/// Scores done detection at `threshold` with `k`-step hysteresis.
pub fn done_metrics(traces: &[DoneTrace<'_>], threshold: f64, k: usize) -> DoneMetrics {
    let (mut tp, mut fp, mut fn_) = (0, 0, 0);
    let (mut ftp, mut ffp, mut ffn) = (0, 0, 0);
    let (mut neg, mut neg_fired, mut neg_frames, mut neg_frames_fired) = (0, 0, 0, 0);
    let mut delays = Vec::new();
    for tr in traces {
        let first_done = tr.truth.iter().position(|&d| d);
        let fired = detect(tr.probs, threshold, k);
        match (first_done, fired) {
            (Some(d), Some(f)) if f >= d => {
                tp += 1;
                delays.push((f - d) as f64);
            }
            (Some(_), Some(_)) => {
                fp += 1;
                fn_ += 1;
            }
            (Some(_), None) => fn_ += 1,
            (None, f) => {
                neg += 1;
                if f.is_some() {
                    fp += 1;
                    neg_fired += 1;
                }
            }
        }
        let mut h = Hysteresis::new(threshold, k);
        for (&p, &d) in tr.probs.iter().zip(tr.truth) {
            let raw = p >= threshold;
            match (raw, d) {
                (true, true) => ftp += 1,
                (true, false) => ffp += 1,
                (false, true) => ffn += 1,
                _ => {}
            }
            if first_done.is_none() {
                neg_frames += 1;
                if h.update(p) {
                    neg_frames_fired += 1;
                }
            }
        }
    }
    let (precision, recall, f) = f1(tp, fp, fn_);
    DoneMetrics {
        precision,
        recall,
        f1: f,
        frame_f1: f1(ftp, ffp, ffn).2,
        median_delay: median(&mut delays),
        false_done_rate: if neg == 0 {
            0.0
        } else {
            neg_fired as f64 / neg as f64
        },
        false_done_frames: if neg_frames == 0 {
            0.0
        } else {
            neg_frames_fired as f64 / neg_frames as f64
        },
        positives: traces.len() - neg,
        negatives: neg,
    }
}

/// Median (NaN for none); sorts in place.
pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Quantile `q` in [0, 1] by linear interpolation (NaN for none); sorts in place.
pub fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotone_predictor_scores_one_and_reversed_minus_one() {
        let up: Vec<f64> = (0..20).map(|t| (t as f64 / 19.0).powi(3)).collect();
        assert!((voc(&up) - 1.0).abs() < 1e-12);
        let down: Vec<f64> = up.iter().rev().copied().collect();
        assert!((voc(&down) + 1.0).abs() < 1e-12);
        assert_eq!(voc(&[0.3; 5]), 0.0, "constant orders nothing");
    }

    #[test]
    fn ranks_average_ties() {
        assert_eq!(ranks(&[3.0, 1.0, 3.0, 2.0]), vec![3.5, 1.0, 3.5, 2.0]);
        let s = spearman(&[1.0, 2.0, 2.0, 4.0], &[1.0, 2.0, 3.0, 4.0]).unwrap_or(0.0);
        assert!(s > 0.9 && s < 1.0, "{s}");
    }

    #[test]
    fn pearson_and_kendall_on_known_values() {
        let r = pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.5]).unwrap_or(0.0);
        assert!(r > 0.99 && r < 1.0);
        assert_eq!(pearson(&[1.0, 1.0], &[0.0, 1.0]), None);
        // 3 pairs: (a,b) concordant, (a,c) discordant, (b,c) tie in x: (1 - 1 + 0) / 3.
        let k = kendall_tau_a(&[1.0, 2.0, 2.0], &[1.0, 3.0, 0.0]).unwrap_or(9.0);
        assert!((k - 0.0).abs() < 1e-12, "{k}");
        assert_eq!(kendall_tau_a(&[1.0, 2.0, 3.0], &[0.0, 1.0, 2.0]), Some(1.0));
    }

    #[test]
    fn hysteresis_needs_k_in_a_row() {
        let p = [0.9, 0.2, 0.9, 0.9, 0.1, 0.9, 0.9, 0.9];
        assert_eq!(detect(&p, 0.5, 1), Some(0));
        assert_eq!(detect(&p, 0.5, 2), Some(3));
        assert_eq!(detect(&p, 0.5, 3), Some(7));
        assert_eq!(detect(&p, 0.95, 1), None);
        let mut h = Hysteresis::new(0.5, 2);
        let fired: Vec<bool> = p.iter().map(|&x| h.update(x)).collect();
        assert_eq!(fired, [false, false, false, true, false, false, true, true]);
    }

    #[test]
    fn done_metrics_count_episodes_and_frames() {
        let t1 = [false, false, true, true];
        let p1 = [0.1, 0.2, 0.9, 0.95]; // detected at 3 with k = 2: delay 1
        let t2 = [false, false, false, false];
        let p2 = [0.1, 0.8, 0.9, 0.1]; // a false detection at 2
        let t3 = [false, true, true, true];
        let p3 = [0.1, 0.1, 0.2, 0.3]; // missed
        let traces = [
            DoneTrace {
                probs: &p1,
                truth: &t1,
            },
            DoneTrace {
                probs: &p2,
                truth: &t2,
            },
            DoneTrace {
                probs: &p3,
                truth: &t3,
            },
        ];
        let m = done_metrics(&traces, 0.5, 2);
        assert_eq!((m.positives, m.negatives), (2, 1));
        assert!((m.precision - 0.5).abs() < 1e-12);
        assert!((m.recall - 0.5).abs() < 1e-12);
        assert_eq!(m.median_delay, 1.0);
        assert_eq!(m.false_done_rate, 1.0);
        assert!((m.false_done_frames - 0.25).abs() < 1e-12);
        // Frames: tp 2 (p1), fp 2 (p2), fn 3 (p3): F1 = 4 / (4 + 5).
        assert!((m.frame_f1 - 4.0 / 9.0).abs() < 1e-12);
    }

    #[test]
    fn quantiles() {
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(median(&mut v), 2.5);
        assert_eq!(quantile(&mut v, 1.0), 4.0);
        assert_eq!(quantile(&mut v, 0.5), 2.5);
    }
}
