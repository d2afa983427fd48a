//! Inference with per-episode state: what the reward node and the evaluator run.
//!
//! An [`EpisodeState`] holds the instruction's tokens, the reference (the first frame seen of
//! each view), the previous frame of each view, an optional goal, and the done hysteresis.
//! [`Scorer::score`] scores one frame of many episodes at once (one per robot) and advances
//! their states. With the native backend the anchors are kept as embeddings, so a step
//! encodes only the new images; a TorchScript model gets raw anchor frames.

use std::collections::BTreeMap;
use std::path::Path;

use tch::{Device, IValue, Kind, Tensor};

use crate::RewardError;
use crate::checkpoint::{self, Backend, DoneCalibration, Manifest};
use crate::metrics::Hysteresis;
use crate::model::{Anchors, Model};
use crate::tokenizer::{Tokenizer, WordTokenizer};

/// What runs the network.
#[derive(Debug)]
pub enum Engine {
    /// Our network.
    Native(Box<Model>),
    /// A TorchScript module (`docs/reward.md`, "TorchScript contract").
    Script(tch::CModule),
}

/// A loaded reward model ready to score frames.
#[derive(Debug)]
pub struct Scorer {
    /// Its manifest.
    pub manifest: Manifest,
    /// The network.
    pub engine: Engine,
    /// Its tokenizer.
    pub tokenizer: WordTokenizer,
    /// Where it runs.
    pub device: Device,
    /// Done operating point.
    pub done: DoneCalibration,
    /// Goal frames per task `[V, 3, S, S]` (from one-shot adaptation).
    pub goals: BTreeMap<String, Tensor>,
}

/// One view's estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewEstimate {
    /// View name.
    pub view: String,
    /// Progress from this view.
    pub progress: f64,
    /// Its fusion weight.
    pub confidence: f64,
}

/// The model's answer for one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// Expected progress in [0, 1].
    pub progress: f64,
    /// Entropy of the progress distribution (nats).
    pub entropy: f64,
    /// Standard deviation of the fused progress distribution.
    pub uncertainty: f64,
    /// Done probability.
    pub done_prob: f64,
    /// Done after hysteresis at the calibrated threshold.
    pub done: bool,
    /// Progress change since the previous frame.
    pub delta: f64,
    /// Views present, with their estimates.
    pub per_view: Vec<ViewEstimate>,
    /// Fusion-weighted visual embedding (native models; empty otherwise).
    pub embedding: Vec<f32>,
}

/// One robot's images for a step: per model view, uint8 `[3, H, W]` or missing.
#[derive(Debug)]
pub struct ViewImages(pub Vec<Option<Tensor>>);

/// Per-episode inference state.
#[derive(Debug)]
pub struct EpisodeState {
    tokens: Vec<i64>,
    reference: Vec<Option<Tensor>>,
    previous: Vec<Option<Tensor>>,
    goal: Option<Tensor>,
    hysteresis: Hysteresis,
    /// Frames scored in this episode.
    pub steps: u64,
}

impl Scorer {
    /// Loads a checkpoint folder (native or TorchScript) onto `device`.
    pub fn load(dir: &Path, device: Device) -> Result<Self, RewardError> {
        let manifest = checkpoint::read_manifest(dir)?;
        let engine = match manifest.backend {
            Backend::Native => {
                Engine::Native(Box::new(checkpoint::Checkpoint::load(dir, device)?.model))
            }
            Backend::Torchscript => {
                let path = dir.join(checkpoint::TORCHSCRIPT);
                if !path.is_file() {
                    return Err(RewardError::Checkpoint {
                        path,
                        what: "missing".into(),
                    });
                }
                let mut m = tch::CModule::load_on_device(&path, device).map_err(|e| {
                    RewardError::Checkpoint {
                        path: path.clone(),
                        what: e.to_string(),
                    }
                })?;
                m.set_eval();
                Engine::Script(m)
            }
        };
        let mut scorer = Self::from_parts(manifest, engine, device);
        scorer.goals = crate::adapt::load_goals(dir)?;
        Ok(scorer)
    }

    /// A scorer from a manifest and an engine.
    pub fn from_parts(manifest: Manifest, engine: Engine, device: Device) -> Self {
        Self {
            tokenizer: manifest.tokenizer.build(),
            done: manifest.done,
            goals: BTreeMap::new(),
            manifest,
            engine,
            device,
        }
    }

    /// The model's views, in order.
    pub fn views(&self) -> &[String] {
        &self.manifest.model.views
    }

    /// Side of the images the network sees.
    pub fn image_size(&self) -> i64 {
        self.manifest.model.image_size
    }

    /// A new episode for `instruction`, optionally with goal images `[V, 3, H, W]` (native
    /// models only; others ignore it).
    pub fn start_episode(&self, instruction: &str, goal: Option<&Tensor>) -> EpisodeState {
        let v = self.views().len();
        let goal = match (&self.engine, goal) {
            (Engine::Native(m), Some(g)) => Some(tch::no_grad(|| {
                m.net
                    .encode(&self.resize(g).unsqueeze(0).to_device(self.device))
                    .squeeze_dim(0)
            })),
            _ => None,
        };
        EpisodeState {
            tokens: self.tokenizer.encode(instruction),
            reference: (0..v).map(|_| None).collect(),
            previous: (0..v).map(|_| None).collect(),
            goal,
            hysteresis: Hysteresis::new(self.done.threshold, self.done.k),
            steps: 0,
        }
    }

    fn resize(&self, images: &Tensor) -> Tensor {
        let s = self.image_size();
        let size = images.size();
        let (h, w) = (size[size.len() - 2], size[size.len() - 1]);
        if h == s && w == s {
            images.shallow_clone()
        } else {
            let flat = images.reshape([-1, 3, h, w]).to_kind(Kind::Float);
            let mut out_shape = size.clone();
            let n = out_shape.len();
            out_shape[n - 2] = s;
            out_shape[n - 1] = s;
            flat.adaptive_avg_pool2d([s, s])
                .round()
                .to_kind(Kind::Uint8)
                .reshape(out_shape)
        }
    }

    /// Size of [`Scorer::embed`]'s output: views times the encoder's embedding size (native
    /// models; `None` for TorchScript models, whose encoder is not exposed).
    pub fn embedding_size(&self) -> Option<usize> {
        match self.engine {
            Engine::Native(_) => Some(self.views().len() * self.manifest.model.embed_dim as usize),
            Engine::Script(_) => None,
        }
    }

    /// The frozen encoder's embedding of one frame, view after view in the model's order
    /// (zeros for a missing view): a compact visual observation for a policy.
    pub fn embed(&self, frame: &ViewImages) -> Result<Vec<f32>, RewardError> {
        let Engine::Native(m) = &self.engine else {
            return Err(RewardError::Invalid(
                "a TorchScript reward model does not expose its encoder's embedding".into(),
            ));
        };
        let v = self.views().len();
        if frame.0.len() != v {
            return Err(RewardError::BadFrame(format!(
                "{} view slots for a model with {v} views",
                frame.0.len()
            )));
        }
        let e = m.net.config.embed_dim;
        let mut out = vec![0f32; v * e as usize];
        let present: Vec<usize> = (0..v).filter(|i| frame.0[*i].is_some()).collect();
        if present.is_empty() {
            return Ok(out);
        }
        let mut imgs = Vec::with_capacity(present.len());
        for &i in &present {
            if let Some(t) = &frame.0[i] {
                imgs.push(self.prepare(&self.views()[i], t)?);
            }
        }
        let s = self.image_size();
        let batch = Tensor::stack(&imgs, 0)
            .view([1, present.len() as i64, 3, s, s])
            .to_device(self.device);
        let emb = tch::no_grad(|| m.net.encode(&batch))
            .to_device(Device::Cpu)
            .to_kind(Kind::Float)
            .contiguous()
            .view([-1]);
        let values = Vec::<f32>::try_from(&emb)
            .map_err(|err| RewardError::Invalid(format!("embedding: {err}")))?;
        for (k, &i) in present.iter().enumerate() {
            let (src, dst) = (k * e as usize, i * e as usize);
            out[dst..dst + e as usize].copy_from_slice(&values[src..src + e as usize]);
        }
        Ok(out)
    }

    /// Checks one image and brings it to the network's size.
    fn prepare(&self, view: &str, img: &Tensor) -> Result<Tensor, RewardError> {
        let s = img.size();
        if img.kind() != Kind::Uint8 || s.len() != 3 || s[0] != 3 || s[1] < 8 || s[2] < 8 {
            return Err(RewardError::BadFrame(format!(
                "view `{view}`: expected uint8 [3, H, W] with H, W >= 8, got {:?} {:?}",
                img.kind(),
                s
            )));
        }
        Ok(self.resize(img))
    }

    /// Scores one frame of each episode in `batch` and advances their states. Every frame
    /// needs at least one view.
    pub fn score(
        &self,
        batch: &mut [(&mut EpisodeState, &ViewImages)],
    ) -> Result<Vec<Estimate>, RewardError> {
        let v = self.views().len();
        let s = self.image_size();
        let b = batch.len();
        if b == 0 {
            return Ok(Vec::new());
        }
        let zero = Tensor::zeros([3, s, s], (Kind::Uint8, Device::Cpu));
        let mut imgs = Vec::with_capacity(b * v);
        let mut mask = Vec::with_capacity(b * v);
        for (_, frame) in batch.iter() {
            if frame.0.len() != v {
                return Err(RewardError::BadFrame(format!(
                    "{} view slots for a model with {v} views",
                    frame.0.len()
                )));
            }
            if frame.0.iter().all(Option::is_none) {
                return Err(RewardError::BadFrame("no view the model knows".into()));
            }
            for (i, img) in frame.0.iter().enumerate() {
                match img {
                    Some(t) => {
                        imgs.push(self.prepare(&self.views()[i], t)?);
                        mask.push(1f32);
                    }
                    None => {
                        imgs.push(zero.shallow_clone());
                        mask.push(0f32);
                    }
                }
            }
        }
        let current = Tensor::stack(&imgs, 0)
            .view([b as i64, v as i64, 3, s, s])
            .to_device(self.device);
        let mask_t = Tensor::from_slice(&mask)
            .view([b as i64, v as i64])
            .to_device(self.device);
        let l = self.tokenizer.max_tokens() as i64;
        let tokens: Vec<i64> = batch.iter().flat_map(|(st, _)| st.tokens.clone()).collect();
        let tokens = Tensor::from_slice(&tokens)
            .view([b as i64, l])
            .to_device(self.device);
        let _guard = tch::no_grad_guard();
        // The current frame's per-view tensors (embeddings or raw images) become anchors.
        let (cur_items, out) = match &self.engine {
            Engine::Native(m) => {
                let e = m.net.encode(&current);
                let (reference, previous) = anchors(batch, &e, &mask);
                let (goal, goal_mask) = goals(batch, &e);
                let text = m.net.encode_text(&tokens);
                let out = m.net.heads(
                    &e,
                    &Anchors {
                        reference,
                        previous,
                        goal,
                        goal_mask,
                    },
                    &mask_t,
                    &text,
                );
                let o = Raw {
                    log_probs: out.log_probs,
                    done_prob: out.done_prob,
                    delta: out.delta,
                    view_progress: out.view_progress,
                    view_confidence: out.view_confidence,
                    uncertainty: Some(out.uncertainty),
                    embedding: Some(out.embedding),
                };
                (e, o)
            }
            Engine::Script(module) => {
                let (reference, previous) = anchors(batch, &current, &mask);
                let o = run_script(
                    module,
                    self.manifest.model.bins,
                    &current,
                    &reference,
                    &previous,
                    &mask_t,
                    &tokens,
                )?;
                (current.shallow_clone(), o)
            }
        };
        // Advance the states.
        for (bi, (st, _)) in batch.iter_mut().enumerate() {
            for vi in 0..v {
                if mask[bi * v + vi] > 0.0 {
                    let x = cur_items.get(bi as i64).get(vi as i64);
                    if st.reference[vi].is_none() {
                        st.reference[vi] = Some(x.shallow_clone());
                    }
                    st.previous[vi] = Some(x);
                }
            }
        }
        let bins = self.manifest.model.bins;
        let centers = Tensor::linspace(0.0, 1.0, bins, (Kind::Float, self.device));
        let probs = out.log_probs.exp();
        let progress = (&probs * &centers).sum_dim_intlist(-1, false, Kind::Float);
        let entropy = -(&probs * &out.log_probs).sum_dim_intlist(-1, false, Kind::Float);
        let uncertainty = out.uncertainty.unwrap_or_else(|| {
            (&probs * (&centers - progress.unsqueeze(-1)).square())
                .sum_dim_intlist(-1, false, Kind::Float)
                .clamp_min(0.0)
                .sqrt()
        });
        let cols = Columns::new(
            [
                &progress,
                &entropy,
                &uncertainty,
                &out.done_prob,
                &out.delta,
            ],
            &out.view_progress,
            &out.view_confidence,
            v,
        );
        let emb = out.embedding.as_ref().map(|e| {
            Vec::<f32>::try_from(e.to_kind(Kind::Float).to_device(Device::Cpu).flatten(0, -1))
                .unwrap_or_default()
        });
        let e_dim = out.embedding.as_ref().map_or(0, |e| e.size()[1] as usize);
        let mut estimates = Vec::with_capacity(b);
        for (bi, (st, _)) in batch.iter_mut().enumerate() {
            st.steps += 1;
            let done = st.hysteresis.update(cols.done_prob[bi]);
            let embedding = emb
                .as_ref()
                .map(|e| e[bi * e_dim..(bi + 1) * e_dim].to_vec())
                .unwrap_or_default();
            estimates.push(cols.estimate(
                bi,
                |vi| mask[bi * v + vi] > 0.0,
                self.views(),
                done,
                embedding,
            ));
        }
        Ok(estimates)
    }

    /// Scores a whole recorded sequence `[T, V, 3, H, W]` uint8 as if frames arrived one by
    /// one (reference = first frame, previous = the frame before), with the views in
    /// `present` only. Returns one estimate per frame (hysteresis applied in order).
    pub fn score_sequence(
        &self,
        frames: &Tensor,
        present: &[bool],
        instruction: &str,
        goal: Option<&Tensor>,
    ) -> Result<Vec<Estimate>, RewardError> {
        let t = frames.size()[0];
        let mut state = self.start_episode(instruction, goal);
        let mut out = Vec::with_capacity(t as usize);
        // Native: encode in chunks and run the heads on the whole sequence at once.
        if let Engine::Native(m) = &self.engine {
            let _guard = tch::no_grad_guard();
            let v = self.views().len() as i64;
            let mut parts = Vec::new();
            let chunk = 64;
            let mut i = 0;
            while i < t {
                let n = chunk.min(t - i);
                let x = self.resize(&frames.narrow(0, i, n)).to_device(self.device);
                parts.push(m.net.encode(&x));
                i += n;
            }
            let e = Tensor::cat(&parts, 0);
            let reference = e.get(0).unsqueeze(0).expand_as(&e);
            let previous = Tensor::cat(&[e.narrow(0, 0, 1), e.narrow(0, 0, t - 1)], 0);
            let (goal, goal_mask) = match &state.goal {
                Some(g) => (
                    g.unsqueeze(0).expand_as(&e),
                    Tensor::ones([t], (Kind::Float, self.device)),
                ),
                None => (
                    e.zeros_like(),
                    Tensor::zeros([t], (Kind::Float, self.device)),
                ),
            };
            let mask: Vec<f32> = present.iter().map(|&p| if p { 1.0 } else { 0.0 }).collect();
            let mask = Tensor::from_slice(&mask)
                .view([1, v])
                .expand([t, v], false)
                .to_device(self.device);
            let tokens = Tensor::from_slice(&state.tokens)
                .view([1, -1])
                .expand([t, -1], false)
                .to_device(self.device);
            let text = m.net.encode_text(&tokens);
            let o = m.net.heads(
                &e,
                &Anchors {
                    reference,
                    previous,
                    goal,
                    goal_mask,
                },
                &mask,
                &text,
            );
            let cols = Columns::new(
                [
                    &o.progress,
                    &o.entropy,
                    &o.uncertainty,
                    &o.done_prob,
                    &o.delta,
                ],
                &o.view_progress,
                &o.view_confidence,
                v as usize,
            );
            for k in 0..t as usize {
                let done = state.hysteresis.update(cols.done_prob[k]);
                out.push(cols.estimate(k, |vi| present[vi], self.views(), done, Vec::new()));
            }
            return Ok(out);
        }
        for k in 0..t {
            let f = frames.get(k);
            let imgs = ViewImages(
                (0..present.len())
                    .map(|vi| present[vi].then(|| f.get(vi as i64)))
                    .collect(),
            );
            let mut one = [(&mut state, &imgs)];
            out.extend(self.score(&mut one)?);
        }
        Ok(out)
    }
}

/// A tensor's values as a flat `f64` vector on the CPU.
fn column(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(
        t.to_kind(Kind::Double)
            .to_device(Device::Cpu)
            .flatten(0, -1),
    )
    .unwrap_or_default()
}

/// Fused and per-view outputs as CPU vectors, row `i` of which makes one [`Estimate`].
struct Columns {
    progress: Vec<f64>,
    entropy: Vec<f64>,
    uncertainty: Vec<f64>,
    done_prob: Vec<f64>,
    delta: Vec<f64>,
    view_progress: Vec<f64>,
    view_confidence: Vec<f64>,
    views: usize,
}

impl Columns {
    /// From `[progress, entropy, uncertainty, done_prob, delta]` `[N]` and per-view `[N, V]`.
    fn new(
        fused: [&Tensor; 5],
        view_progress: &Tensor,
        view_confidence: &Tensor,
        views: usize,
    ) -> Self {
        let [p, h, u, d, dl] = fused.map(column);
        Self {
            progress: p,
            entropy: h,
            uncertainty: u,
            done_prob: d,
            delta: dl,
            view_progress: column(view_progress),
            view_confidence: column(view_confidence),
            views,
        }
    }

    /// Row `i`, listing the views `present` says are there.
    fn estimate(
        &self,
        i: usize,
        present: impl Fn(usize) -> bool,
        names: &[String],
        done: bool,
        embedding: Vec<f32>,
    ) -> Estimate {
        let v = self.views;
        Estimate {
            progress: self.progress[i],
            entropy: self.entropy[i],
            uncertainty: self.uncertainty[i],
            done_prob: self.done_prob[i],
            done,
            delta: self.delta[i],
            per_view: (0..v)
                .filter(|&vi| present(vi))
                .map(|vi| ViewEstimate {
                    view: names[vi].clone(),
                    progress: self.view_progress[i * v + vi],
                    confidence: self.view_confidence[i * v + vi],
                })
                .collect(),
            embedding,
        }
    }
}

/// The fused outputs every engine provides.
struct Raw {
    log_probs: Tensor,
    done_prob: Tensor,
    delta: Tensor,
    view_progress: Tensor,
    view_confidence: Tensor,
    uncertainty: Option<Tensor>,
    embedding: Option<Tensor>,
}

/// Reference and previous anchors `[B, V, ...]`: the state's, or the current item where the
/// view has not been seen yet.
fn anchors(
    batch: &[(&mut EpisodeState, &ViewImages)],
    current: &Tensor,
    _mask: &[f32],
) -> (Tensor, Tensor) {
    let v = current.size()[1] as usize;
    let (mut r, mut p) = (Vec::new(), Vec::new());
    for (bi, (st, _)) in batch.iter().enumerate() {
        for vi in 0..v {
            let cur = current.get(bi as i64).get(vi as i64);
            r.push(
                st.reference[vi]
                    .as_ref()
                    .map_or_else(|| cur.shallow_clone(), |t| t.shallow_clone()),
            );
            p.push(
                st.previous[vi]
                    .as_ref()
                    .map_or_else(|| cur.shallow_clone(), |t| t.shallow_clone()),
            );
        }
    }
    let shape = current.size();
    (
        Tensor::stack(&r, 0).view(shape.as_slice()),
        Tensor::stack(&p, 0).view(shape.as_slice()),
    )
}

fn goals(batch: &[(&mut EpisodeState, &ViewImages)], e: &Tensor) -> (Tensor, Tensor) {
    let mut g = Vec::new();
    let mut m = Vec::new();
    for (bi, (st, _)) in batch.iter().enumerate() {
        match &st.goal {
            Some(x) => {
                g.push(x.shallow_clone());
                m.push(1f32);
            }
            None => {
                g.push(e.get(bi as i64).zeros_like());
                m.push(0f32);
            }
        }
    }
    (
        Tensor::stack(&g, 0),
        Tensor::from_slice(&m).to_device(e.device()),
    )
}

fn run_script(
    module: &tch::CModule,
    bins: i64,
    current: &Tensor,
    reference: &Tensor,
    previous: &Tensor,
    mask: &Tensor,
    tokens: &Tensor,
) -> Result<Raw, RewardError> {
    let args = [
        IValue::Tensor(current.shallow_clone()),
        IValue::Tensor(reference.shallow_clone()),
        IValue::Tensor(previous.shallow_clone()),
        IValue::Tensor(mask.shallow_clone()),
        IValue::Tensor(tokens.shallow_clone()),
    ];
    let bad = |what: String| RewardError::Invalid(format!("TorchScript model: {what}"));
    let out = module
        .forward_is(&args)
        .map_err(|e| bad(format!("forward failed: {e}")))?;
    let IValue::Tuple(items) = out else {
        return Err(bad("forward must return a tuple of 5 tensors".into()));
    };
    let mut ts = Vec::new();
    for it in items {
        match it {
            IValue::Tensor(t) => ts.push(t.to_kind(Kind::Float)),
            _ => return Err(bad("forward must return a tuple of 5 tensors".into())),
        }
    }
    let [log_probs, done_prob, delta, view_progress, view_confidence]: [Tensor; 5] =
        ts.try_into().map_err(|v: Vec<Tensor>| {
            bad(format!("forward returned {} tensors, expected 5", v.len()))
        })?;
    let s = current.size();
    let (b, v) = (s[0], s[1]);
    let ok = log_probs.size() == [b, bins]
        && done_prob.size() == [b]
        && delta.size() == [b]
        && view_progress.size() == [b, v]
        && view_confidence.size() == [b, v];
    if !ok {
        return Err(bad(format!(
            "output shapes {:?} {:?} {:?} {:?} {:?} do not follow the contract for batch {b}, {v} views, {bins} bins",
            log_probs.size(),
            done_prob.size(),
            delta.size(),
            view_progress.size(),
            view_confidence.size()
        )));
    }
    Ok(Raw {
        log_probs,
        done_prob,
        delta,
        view_progress,
        view_confidence,
        uncertainty: None,
        embedding: None,
    })
}
