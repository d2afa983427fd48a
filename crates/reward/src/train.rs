//! Training: samples, labels, augmentation, losses and a resumable AdamW.
//!
//! Each sample is one observation `t` of a training episode with three anchors: the
//! reference (the episode's first frame, or with `ref_random_prob` any frame of it), the
//! previous frame (`t - gap`; with `rewind_prob` a *later* frame, so the delta is negative,
//! and with `frozen_prob` the same frame), and with `goal_prob` a goal frame (the first done
//! frame of another successful episode of the same task). Labels: progress `p[t]`, done
//! `p[t] >= 1`, delta `p[t] - p[prev]`. With `mismatch_prob` the instruction is swapped for
//! another task's and every label becomes "no progress, not done". Views are dropped at
//! random (`view_dropout`) so the model works with any subset of its cameras; images are
//! shifted and colour-jittered per sample and view.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Reduction, Tensor, nn};

use crate::RewardError;
use crate::dataset::EpisodeData;
use crate::model::{RewardNet, two_hot};
use crate::tokenizer::Tokenizer;

/// Settings of a training run (stored in the manifest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Optimiser steps.
    pub steps: u64,
    /// Samples per step.
    pub batch: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// AdamW weight decay (matrices only).
    pub weight_decay: f64,
    /// Global gradient-norm clip.
    pub grad_clip: f64,
    /// Linear warm-up steps.
    pub warmup: u64,
    /// Seed of sampling and initialisation.
    pub seed: u64,
    /// Largest gap to the previous frame.
    pub max_gap: usize,
    /// Probability the previous frame is later than the current one.
    pub rewind_prob: f64,
    /// Probability the previous frame is the current one.
    pub frozen_prob: f64,
    /// Probability the reference is a random frame instead of the first.
    pub ref_random_prob: f64,
    /// Probability a goal frame is given.
    pub goal_prob: f64,
    /// Probability the instruction belongs to another task.
    pub mismatch_prob: f64,
    /// Probability some views are dropped.
    pub view_dropout: f64,
    /// Largest image shift, pixels of the encoder's input.
    pub shift: f64,
    /// Brightness jitter (multiplicative, +-).
    pub brightness: f64,
    /// Validation every this many steps (and a checkpoint).
    pub eval_every: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            steps: 2000,
            batch: 32,
            lr: 1e-3,
            weight_decay: 1e-4,
            grad_clip: 1.0,
            warmup: 100,
            seed: 0,
            max_gap: 8,
            rewind_prob: 0.2,
            frozen_prob: 0.1,
            ref_random_prob: 0.2,
            goal_prob: 0.5,
            mismatch_prob: 0.1,
            view_dropout: 0.3,
            shift: 3.0,
            brightness: 0.15,
            eval_every: 250,
        }
    }
}

/// A small deterministic generator (SplitMix64) whose state is one number, so sampling
/// resumes exactly.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rng(pub u64);

impl Rng {
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform integer in [0, n) (0 when n is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.uniform() < p
    }
}

/// One batch of samples (images uint8 `[B, V, 3, S, S]`).
#[derive(Debug)]
pub struct Batch {
    /// Current frames.
    pub current: Tensor,
    /// Reference frames.
    pub reference: Tensor,
    /// Previous frames.
    pub previous: Tensor,
    /// Goal frames (zeros where absent).
    pub goal: Tensor,
    /// 1 where a goal is given `[B]`.
    pub goal_mask: Tensor,
    /// 1 where a view is present `[B, V]`.
    pub view_mask: Tensor,
    /// Token ids `[B, L]`.
    pub tokens: Tensor,
    /// Progress label `[B]`.
    pub progress: Tensor,
    /// Done label `[B]`.
    pub done: Tensor,
    /// Delta label `[B]`.
    pub delta: Tensor,
}

/// Draws training samples from episodes.
pub struct Sampler<'a> {
    episodes: Vec<&'a EpisodeData>,
    tokens: Vec<Vec<i64>>,
    goals: HashMap<String, Vec<usize>>,
    tasks: Vec<String>,
    config: TrainConfig,
}

impl<'a> Sampler<'a> {
    /// A sampler over `episodes` (each needs at least one view the model knows).
    pub fn new(
        episodes: Vec<&'a EpisodeData>,
        tokenizer: &dyn Tokenizer,
        config: &TrainConfig,
    ) -> Result<Self, RewardError> {
        if episodes.is_empty() {
            return Err(RewardError::Invalid("no episodes to sample from".into()));
        }
        if let Some(e) = episodes.iter().find(|e| !e.present.iter().any(|&p| p)) {
            return Err(RewardError::Invalid(format!(
                "{} has none of the model's views",
                e.path.display()
            )));
        }
        let mut goals: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, e) in episodes.iter().enumerate() {
            if e.first_done().is_some() {
                goals.entry(e.task().to_owned()).or_default().push(i);
            }
        }
        let mut tasks: Vec<String> = episodes.iter().map(|e| e.task().to_owned()).collect();
        tasks.sort();
        tasks.dedup();
        Ok(Self {
            tokens: episodes
                .iter()
                .map(|e| tokenizer.encode(&e.meta.instruction))
                .collect(),
            episodes,
            goals,
            tasks,
            config: config.clone(),
        })
    }

    /// Draws `n` samples.
    pub fn sample(&self, n: usize, rng: &mut Rng) -> Batch {
        let c = &self.config;
        let v = self.episodes[0].present.len();
        let (mut cur, mut rf, mut prev, mut goal) = (vec![], vec![], vec![], vec![]);
        let (mut goal_mask, mut view_mask, mut tokens): (Vec<f32>, Vec<f32>, Vec<i64>) =
            (vec![], vec![], vec![]);
        let (mut yp, mut yd, mut ydelta): (Vec<f32>, Vec<f32>, Vec<f32>) = (vec![], vec![], vec![]);
        for _ in 0..n {
            let ei = rng.below(self.episodes.len());
            let e = self.episodes[ei];
            let len = e.len();
            let t = rng.below(len);
            let gap = 1 + rng.below(c.max_gap.max(1));
            let p = if rng.chance(c.frozen_prob) {
                t
            } else if rng.chance(c.rewind_prob) {
                (t + gap).min(len - 1)
            } else {
                t.saturating_sub(gap)
            };
            let r = if rng.chance(c.ref_random_prob) {
                rng.below(len)
            } else {
                0
            };
            cur.push(e.frames.get(t as i64));
            rf.push(e.frames.get(r as i64));
            prev.push(e.frames.get(p as i64));
            // Views: all the episode has, or a random non-empty subset of them.
            let have: Vec<usize> = (0..v).filter(|&i| e.present[i]).collect();
            let mut keep = vec![0f32; v];
            if have.len() > 1 && rng.chance(c.view_dropout) {
                let k = 1 + rng.below(have.len() - 1);
                let mut pool = have.clone();
                for _ in 0..k {
                    let j = rng.below(pool.len());
                    keep[pool.swap_remove(j)] = 1.0;
                }
            } else {
                for &i in &have {
                    keep[i] = 1.0;
                }
            }
            view_mask.extend(keep);
            let mismatch = self.tasks.len() > 1 && rng.chance(c.mismatch_prob);
            let g = (!mismatch && rng.chance(c.goal_prob))
                .then(|| self.goals.get(e.task()))
                .flatten()
                .and_then(|list| {
                    let others: Vec<usize> = list.iter().copied().filter(|&j| j != ei).collect();
                    let pick = if others.is_empty() { list } else { &others };
                    pick.get(rng.below(pick.len())).copied()
                });
            match g {
                Some(j) => {
                    let ge = self.episodes[j];
                    let at = ge.first_done().unwrap_or(ge.len() - 1);
                    goal.push(ge.frames.get(at as i64));
                    goal_mask.push(1f32);
                }
                None => {
                    goal.push(e.frames.get(0).zeros_like());
                    goal_mask.push(0f32);
                }
            }
            if mismatch {
                let own = e.task();
                let others: Vec<usize> = (0..self.episodes.len())
                    .filter(|&j| self.episodes[j].task() != own)
                    .collect();
                let j = others[rng.below(others.len())];
                tokens.extend(&self.tokens[j]);
                yp.push(0f32);
                yd.push(0f32);
                ydelta.push(0f32);
            } else {
                tokens.extend(&self.tokens[ei]);
                yp.push(e.progress[t]);
                yd.push(if e.done[t] { 1f32 } else { 0.0 });
                ydelta.push(e.progress[t] - e.progress[p]);
            }
        }
        let l = self.tokens[0].len() as i64;
        Batch {
            current: Tensor::stack(&cur, 0),
            reference: Tensor::stack(&rf, 0),
            previous: Tensor::stack(&prev, 0),
            goal: Tensor::stack(&goal, 0),
            goal_mask: Tensor::from_slice(&goal_mask),
            view_mask: Tensor::from_slice(&view_mask).view([n as i64, v as i64]),
            tokens: Tensor::from_slice(&tokens).view([n as i64, l]),
            progress: Tensor::from_slice(&yp),
            done: Tensor::from_slice(&yd),
            delta: Tensor::from_slice(&ydelta),
        }
    }

    /// Tasks seen by the sampler.
    pub fn tasks(&self) -> &[String] {
        &self.tasks
    }
}

/// Shifts and colour-jitters the four image groups of a batch the same way per sample and
/// view; returns float images in [0, 1] `[4B, V, 3, S, S]` (current, reference, previous,
/// goal).
pub fn augment(batch: &Batch, config: &TrainConfig, device: Device) -> Tensor {
    let imgs = Tensor::cat(
        &[
            &batch.current,
            &batch.reference,
            &batch.previous,
            &batch.goal,
        ],
        0,
    )
    .to_device(device)
    .to_kind(Kind::Float)
        / 255.0;
    let s = imgs.size();
    let (b, v, side) = (s[0] / 4, s[1], s[3]);
    let opts = (Kind::Float, device);
    // Per sample and view: translation in normalised coordinates.
    let max = 2.0 * config.shift / side as f64;
    let tx = (Tensor::rand([b, v], opts) * 2.0 - 1.0) * max;
    let ty = (Tensor::rand([b, v], opts) * 2.0 - 1.0) * max;
    let one = Tensor::ones([b, v], opts);
    let zero = Tensor::zeros([b, v], opts);
    let theta = Tensor::stack(&[&one, &zero, &tx, &zero, &one, &ty], -1)
        .view([1, b, v, 2, 3])
        .expand([4, b, v, 2, 3], false)
        .reshape([4 * b * v, 2, 3]);
    let flat = imgs.reshape([4 * b * v, 3, side, side]);
    let grid = Tensor::affine_grid_generator(&theta, [4 * b * v, 3, side, side], false);
    let shifted = flat.grid_sampler(&grid, 0, 1, false);
    let gain = (Tensor::rand([1, b, v, 1, 1, 1], opts) * 2.0 - 1.0) * config.brightness + 1.0;
    let bias = (Tensor::rand([1, b, v, 1, 1, 1], opts) * 2.0 - 1.0) * (config.brightness / 2.0);
    let jittered = shifted.view([4, b, v, 3, side, side]) * gain + bias;
    let noise = Tensor::randn(jittered.size(), opts) * 0.01;
    (jittered + noise)
        .clamp(0.0, 1.0)
        .view([4 * b, v, 3, side, side])
}

/// Loss terms of one batch.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct LossParts {
    /// Fused progress cross-entropy.
    pub progress: f64,
    /// Per-view progress cross-entropy.
    pub view_progress: f64,
    /// Fused done binary cross-entropy.
    pub done: f64,
    /// Per-view done binary cross-entropy.
    pub view_done: f64,
    /// Delta smooth-L1 (scaled by 5).
    pub delta: f64,
    /// Weighted sum.
    pub total: f64,
}

/// Forward pass and loss on a batch of float images from [`augment`] (or raw uint8 images
/// stacked the same way).
pub fn loss(
    net: &RewardNet,
    images: &Tensor,
    batch: &Batch,
    device: Device,
) -> (Tensor, LossParts) {
    let b = batch.progress.size()[0];
    let e = net.encode(images);
    let parts = e.split(b, 0);
    let anchors = crate::model::Anchors {
        reference: parts[1].shallow_clone(),
        previous: parts[2].shallow_clone(),
        goal: parts[3].shallow_clone(),
        goal_mask: batch.goal_mask.to_device(device),
    };
    let mask = batch.view_mask.to_device(device);
    let text = net.encode_text(&batch.tokens.to_device(device));
    let out = net.heads(&parts[0], &anchors, &mask, &text);
    let y = batch.progress.to_device(device);
    let d = batch.done.to_device(device);
    let target = two_hot(&y, net.config.bins);
    let l_prog = -(&target * &out.log_probs)
        .sum_dim_intlist(-1, false, Kind::Float)
        .mean(Kind::Float);
    let per_view =
        -(target.unsqueeze(1) * &out.view_log_probs).sum_dim_intlist(-1, false, Kind::Float);
    let n_views = mask.sum(Kind::Float).clamp_min(1.0);
    let l_view = (&per_view * &mask).sum(Kind::Float) / &n_views;
    let l_done = out
        .done_prob
        .clamp(1e-6, 1.0 - 1e-6)
        .binary_cross_entropy::<Tensor>(&d, None, Reduction::Mean);
    let dv = d.unsqueeze(1).expand_as(&out.view_done_logit);
    let l_vdone = out
        .view_done_logit
        .binary_cross_entropy_with_logits::<Tensor>(
            &dv,
            Some(mask.shallow_clone()),
            None,
            Reduction::Sum,
        )
        / &n_views;
    let dy = batch.delta.to_device(device);
    let l_delta =
        ((&out.delta - &dy) * 5.0).smooth_l1_loss(&Tensor::zeros_like(&dy), Reduction::Mean, 1.0);
    let total: Tensor = &l_prog + &l_view * 0.5 + &l_done + &l_vdone * 0.5 + &l_delta;
    let parts = LossParts {
        progress: l_prog.double_value(&[]),
        view_progress: l_view.double_value(&[]),
        done: l_done.double_value(&[]),
        view_done: l_vdone.double_value(&[]),
        delta: l_delta.double_value(&[]),
        total: total.double_value(&[]),
    };
    (total, parts)
}

/// AdamW over a `VarStore`'s trainable variables whose moments can be saved and restored.
pub struct AdamW {
    names: Vec<String>,
    params: Vec<Tensor>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    /// Steps taken.
    pub step: u64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
}

impl AdamW {
    /// Optimises every trainable variable of `vs` whose name passes `select`.
    pub fn new(vs: &nn::VarStore, weight_decay: f64, select: impl Fn(&str) -> bool) -> Self {
        let vars = vs.variables();
        let mut names: Vec<String> = vars
            .iter()
            .filter(|(n, t)| t.requires_grad() && select(n))
            .map(|(n, _)| n.clone())
            .collect();
        names.sort();
        let params: Vec<Tensor> = names.iter().map(|n| vars[n].shallow_clone()).collect();
        Self {
            m: params.iter().map(Tensor::zeros_like).collect(),
            v: params.iter().map(Tensor::zeros_like).collect(),
            names,
            params,
            step: 0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
        }
    }

    /// Clears the gradients.
    pub fn zero_grad(&mut self) {
        for p in &mut self.params {
            p.zero_grad();
        }
    }

    /// Clips the global gradient norm to `max`; returns the norm before clipping.
    pub fn clip(&mut self, max: f64) -> f64 {
        let mut sq = 0.0;
        for p in &self.params {
            let g = p.grad();
            if g.defined() {
                sq += g.square().sum(Kind::Float).double_value(&[]);
            }
        }
        let norm = sq.sqrt();
        if norm.is_finite() && norm > max {
            let s = max / (norm + 1e-6);
            tch::no_grad(|| {
                for p in &self.params {
                    let mut g = p.grad();
                    if g.defined() {
                        let _ = g.g_mul_scalar_(s);
                    }
                }
            });
        }
        norm
    }

    /// One update at learning rate `lr`.
    pub fn update(&mut self, lr: f64) {
        self.step += 1;
        let t = self.step as i32;
        let (c1, c2) = (1.0 - self.beta1.powi(t), 1.0 - self.beta2.powi(t));
        tch::no_grad(|| {
            for ((p, m), v) in self.params.iter_mut().zip(&mut self.m).zip(&mut self.v) {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                let _ = m
                    .g_mul_scalar_(self.beta1)
                    .g_add_(&(&g * (1.0 - self.beta1)));
                let _ = v
                    .g_mul_scalar_(self.beta2)
                    .g_add_(&(g.square() * (1.0 - self.beta2)));
                if self.weight_decay > 0.0 && p.dim() >= 2 {
                    let _ = p.g_mul_scalar_(1.0 - lr * self.weight_decay);
                }
                let update = (&*m / c1) / ((&*v / c2).sqrt() + self.eps) * lr;
                let _ = p.g_sub_(&update);
            }
        });
    }

    /// Moments by name (`m.<var>`, `v.<var>`) for saving.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (i, n) in self.names.iter().enumerate() {
            out.push((format!("m.{n}"), self.m[i].shallow_clone()));
            out.push((format!("v.{n}"), self.v[i].shallow_clone()));
        }
        out
    }

    /// Restores moments saved by [`AdamW::state`]; every one must be present with its shape.
    pub fn load_state(&mut self, saved: &[(String, Tensor)], step: u64) -> Result<(), RewardError> {
        let map: BTreeMap<&str, &Tensor> = saved.iter().map(|(n, t)| (n.as_str(), t)).collect();
        for (i, n) in self.names.iter().enumerate() {
            for (prefix, dst) in [("m", &mut self.m[i]), ("v", &mut self.v[i])] {
                let key = format!("{prefix}.{n}");
                let src = map.get(key.as_str()).ok_or_else(|| {
                    RewardError::Invalid(format!("optimiser state lacks `{key}`"))
                })?;
                if src.size() != dst.size() {
                    return Err(RewardError::Invalid(format!(
                        "optimiser state `{key}` has shape {:?}, expected {:?}",
                        src.size(),
                        dst.size()
                    )));
                }
                tch::no_grad(|| dst.copy_(src));
            }
        }
        self.step = step;
        Ok(())
    }
}

/// Learning rate at `step`: linear warm-up, then cosine decay to a tenth.
pub fn learning_rate(config: &TrainConfig, step: u64) -> f64 {
    if step < config.warmup {
        return config.lr * (step + 1) as f64 / config.warmup as f64;
    }
    let span = config.steps.saturating_sub(config.warmup).max(1) as f64;
    let x = ((step - config.warmup) as f64 / span).min(1.0);
    config.lr * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * x).cos()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::WordTokenizer;

    /// An episode whose frame `t` is filled with the value `offset + t` and whose progress
    /// is `t / 10`.
    fn episode(task: &str, offset: i64, len: usize, views: usize) -> EpisodeData {
        let frames = (Tensor::arange(len as i64, (Kind::Int64, Device::Cpu)) + offset)
            .to_kind(Kind::Uint8)
            .view([len as i64, 1, 1, 1, 1])
            .expand([len as i64, views as i64, 3, 4, 4], false)
            .contiguous();
        let progress: Vec<f32> = (0..len).map(|t| (t as f32 / 10.0).min(1.0)).collect();
        EpisodeData {
            path: format!("/{task}").into(),
            meta: striatum_data::EpisodeMeta {
                scene: task.into(),
                robot: "r".into(),
                seed: 0,
                variant: "expert".into(),
                instruction: format!("do {task}"),
                success: len > 10,
                control_hz: 10.0,
                stage_names: vec![],
                joint_names: vec![],
                object_names: vec![],
                fixture_names: vec![],
                cameras: vec![],
                shapes: vec![],
            },
            frames,
            present: vec![true; views],
            done: progress.iter().map(|&p| p >= 1.0).collect(),
            progress,
        }
    }

    #[test]
    fn samples_carry_the_labels_of_the_frames_they_show() {
        // Task a's frames hold 0..14, task b's 100..108.
        let eps = [episode("a", 0, 14, 2), episode("b", 100, 8, 2)];
        let tok = WordTokenizer::fit(["do a", "do b"], 4, 8);
        let config = TrainConfig {
            mismatch_prob: 0.2,
            ..TrainConfig::default()
        };
        let sampler =
            Sampler::new(eps.iter().collect(), &tok, &config).unwrap_or_else(|e| panic!("{e}"));
        let n = 400;
        let b = sampler.sample(n, &mut Rng(3));
        let first = |x: &Tensor| -> Vec<f32> {
            Vec::try_from(
                x.select(1, 0)
                    .flatten(1, -1)
                    .select(1, 0)
                    .to_kind(Kind::Float),
            )
            .unwrap_or_default()
        };
        let (cur, prev) = (first(&b.current), first(&b.previous));
        let y: Vec<f32> = Vec::try_from(&b.progress).unwrap_or_default();
        let d: Vec<f32> = Vec::try_from(&b.done).unwrap_or_default();
        let dy: Vec<f32> = Vec::try_from(&b.delta).unwrap_or_default();
        let tokens: Vec<i64> = Vec::try_from(b.tokens.flatten(0, -1)).unwrap_or_default();
        let (mut mismatched, mut rewinds, mut frozen) = (0, 0, 0);
        for i in 0..n {
            // Vocabulary: a = 2, b = 3, do = 4; instructions are "do <task>".
            let frame_is_b = cur[i] >= 100.0;
            let said_b = tokens[i * 4 + 1] == 3;
            let (t, p) = (cur[i] % 100.0, prev[i] % 100.0);
            if frame_is_b != said_b {
                mismatched += 1;
                assert_eq!((y[i], d[i], dy[i]), (0.0, 0.0, 0.0), "mismatch labels");
                continue;
            }
            assert!(
                ((t / 10.0).min(1.0) - y[i]).abs() < 1e-6,
                "label of frame {t}: {}",
                y[i]
            );
            assert_eq!(d[i] == 1.0, t >= 10.0);
            assert!((dy[i] - ((t / 10.0).min(1.0) - (p / 10.0).min(1.0))).abs() < 1e-6);
            assert!((t - p).abs() <= 8.0, "gap {t} {p}");
            rewinds += usize::from(p > t);
            frozen += usize::from(p == t);
        }
        assert!(
            mismatched > 40 && mismatched < 130,
            "{mismatched} mismatched instructions"
        );
        assert!(rewinds > 30, "{rewinds} rewinds");
        assert!(frozen > 10, "{frozen} frozen");
        let masks: Vec<f32> = Vec::try_from(b.view_mask.flatten(0, -1)).unwrap_or_default();
        assert!(
            masks.chunks(2).all(|m| m.iter().sum::<f32>() >= 1.0),
            "a view is always kept"
        );
        assert!(
            masks.chunks(2).any(|m| m.iter().sum::<f32>() == 1.0),
            "views get dropped"
        );
        let goals: Vec<f32> = Vec::try_from(&b.goal_mask).unwrap_or_default();
        assert!(goals.contains(&1.0) && goals.contains(&0.0));
    }

    #[test]
    fn learning_rate_warms_up_and_decays() {
        let c = TrainConfig {
            steps: 100,
            warmup: 10,
            lr: 1.0,
            ..TrainConfig::default()
        };
        assert!((learning_rate(&c, 0) - 0.1).abs() < 1e-12);
        assert!((learning_rate(&c, 10) - 1.0).abs() < 1e-12);
        assert!((learning_rate(&c, 100) - 0.1).abs() < 1e-12);
    }
}
