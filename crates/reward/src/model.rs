//! The process reward model: a shared per-view image encoder, learned view embeddings, an
//! instruction encoder, reference (episode start), optional goal and previous-frame anchors,
//! per-view heads with confidence, and a confidence-weighted fusion.
//!
//! Per view `v` the head sees `[e, e - e_ref, e - e_prev, g * (e - e_goal), g, view_v, text]`
//! where `e` is the encoder's embedding of the current image; a second layer adds the mean
//! of the first layer over the views present, so views inform each other. Each view predicts
//! progress as a distribution over `K` bins, a done logit, a progress delta and a confidence
//! logit. The fused distribution is the mixture of the views' distributions weighted by the
//! softmax of their confidences over the views present, so a missing view simply drops out.
//! `uncertainty` is the standard deviation of that mixture: it grows both when one view is
//! unsure and when views disagree.

use serde::{Deserialize, Serialize};
use tch::nn;
use tch::{Device, Kind, Tensor};

use crate::RewardError;

/// Architecture of a model (stored in the manifest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Named views, in the order of the view axis.
    pub views: Vec<String>,
    /// Side of the square image the encoder sees (inputs are average-pooled to it).
    pub image_size: i64,
    /// Output channels of the encoder's stride-2 convolutions.
    pub channels: Vec<i64>,
    /// Width of image, view and text embeddings.
    pub embed_dim: i64,
    /// Width of the per-view head.
    pub hidden_dim: i64,
    /// Progress bins `K` (bin `k` is centred on `k / (K - 1)`).
    pub bins: i64,
    /// Rows of the token embedding table.
    pub vocab_capacity: i64,
}

impl ModelConfig {
    /// The default architecture for these views.
    pub fn new(views: Vec<String>, vocab_capacity: i64) -> Self {
        Self {
            views,
            image_size: 64,
            channels: vec![16, 32, 64, 64],
            embed_dim: 128,
            hidden_dim: 256,
            bins: 21,
            vocab_capacity,
        }
    }

    /// Checks the numbers are usable.
    pub fn validate(&self) -> Result<(), RewardError> {
        let bad = |what: &str| Err(RewardError::Invalid(format!("model config: {what}")));
        if self.views.is_empty() {
            return bad("no views");
        }
        let mut seen = std::collections::HashSet::new();
        for v in &self.views {
            if v.is_empty() || !seen.insert(v) {
                return bad(&format!("view name `{v}` is empty or repeated"));
            }
        }
        let down = 1i64 << self.channels.len();
        if self.channels.is_empty()
            || self.image_size < down
            || self.image_size % down != 0
            || self.image_size > 512
        {
            return bad("image_size must be a multiple of 2^(number of conv layers), at most 512");
        }
        if self.channels.iter().any(|&c| c < 4 || c % 4 != 0) {
            return bad("channels must be positive multiples of 4");
        }
        if self.embed_dim < 4 || self.hidden_dim < 4 || self.bins < 2 || self.vocab_capacity < 2 {
            return bad("embed_dim, hidden_dim >= 4, bins >= 2, vocab_capacity >= 2");
        }
        Ok(())
    }

    /// Index of a view by name.
    pub fn view_index(&self, name: &str) -> Option<usize> {
        self.views.iter().position(|v| v == name)
    }
}

/// Shared image encoder: stride-2 3x3 convolutions with GroupNorm and SiLU, flattened into a
/// linear layer (keeping where things are in the image).
#[derive(Debug)]
pub struct Encoder {
    convs: Vec<(nn::Conv2D, nn::GroupNorm)>,
    out: nn::Linear,
    norm: nn::LayerNorm,
    size: i64,
}

impl Encoder {
    fn new(p: &nn::Path<'_>, c: &ModelConfig) -> Self {
        let mut convs = Vec::new();
        let mut inp = 3;
        for (i, &ch) in c.channels.iter().enumerate() {
            let conv = nn::conv2d(
                p / format!("conv{i}"),
                inp,
                ch,
                3,
                nn::ConvConfig {
                    stride: 2,
                    padding: 1,
                    ..Default::default()
                },
            );
            let gn = nn::group_norm(p / format!("gn{i}"), 4, ch, Default::default());
            convs.push((conv, gn));
            inp = ch;
        }
        let side = c.image_size >> c.channels.len();
        Self {
            convs,
            out: nn::linear(
                p / "out",
                inp * side * side,
                c.embed_dim,
                Default::default(),
            ),
            norm: nn::layer_norm(p / "norm", vec![c.embed_dim], Default::default()),
            size: c.image_size,
        }
    }

    /// Images `[N, 3, H, W]` (uint8 0..255 or float 0..1) to embeddings `[N, E]`.
    pub fn forward(&self, images: &Tensor) -> Tensor {
        self.project(&self.features(images))
    }

    /// The convolutional features `[N, C * s * s]` of images, before the projection.
    pub fn features(&self, images: &Tensor) -> Tensor {
        let mut x = if images.kind() == Kind::Uint8 {
            images.to_kind(Kind::Float) / 255.0
        } else {
            images.shallow_clone()
        };
        let (h, w) = (x.size()[2], x.size()[3]);
        if h != self.size || w != self.size {
            x = x.adaptive_avg_pool2d([self.size, self.size]);
        }
        x = (x - 0.5) / 0.25;
        for (conv, gn) in &self.convs {
            x = x.apply(conv).apply(gn).silu();
        }
        x.flatten(1, -1)
    }

    /// Convolutional features `[..., C * s * s]` to embeddings `[..., E]`.
    pub fn project(&self, features: &Tensor) -> Tensor {
        features.apply(&self.out).apply(&self.norm)
    }
}

/// Everything the heads need besides the current images.
#[derive(Debug)]
pub struct Anchors {
    /// Embeddings of the episode's first frame `[B, V, E]`.
    pub reference: Tensor,
    /// Embeddings of the previous frame `[B, V, E]`.
    pub previous: Tensor,
    /// Embeddings of a goal frame `[B, V, E]` (zeros where absent).
    pub goal: Tensor,
    /// 1 where a goal is given `[B]`.
    pub goal_mask: Tensor,
}

/// Structured outputs (every tensor has the batch first).
#[derive(Debug)]
pub struct Outputs {
    /// Fused log-probabilities over the progress bins `[B, K]`.
    pub log_probs: Tensor,
    /// Expected progress `[B]`.
    pub progress: Tensor,
    /// Entropy of the fused distribution, nats `[B]`.
    pub entropy: Tensor,
    /// Standard deviation of the fused mixture `[B]`.
    pub uncertainty: Tensor,
    /// Fused done probability `[B]`.
    pub done_prob: Tensor,
    /// Fused progress change since the previous frame `[B]`.
    pub delta: Tensor,
    /// Per-view log-probabilities `[B, V, K]`.
    pub view_log_probs: Tensor,
    /// Per-view expected progress `[B, V]`.
    pub view_progress: Tensor,
    /// Per-view fusion weight (0 for missing views) `[B, V]`.
    pub view_confidence: Tensor,
    /// Per-view done logits `[B, V]`.
    pub view_done_logit: Tensor,
    /// Per-view deltas `[B, V]`.
    pub view_delta: Tensor,
    /// Fusion-weighted visual embedding of the current frame `[B, E]`.
    pub embedding: Tensor,
}

/// The model's layers (weights live in the caller's `VarStore`).
#[derive(Debug)]
pub struct RewardNet {
    /// Architecture.
    pub config: ModelConfig,
    /// Shared image encoder.
    pub encoder: Encoder,
    view_embed: nn::Embedding,
    token_embed: nn::Embedding,
    text_proj: nn::Linear,
    layer1: nn::Linear,
    layer2: nn::Linear,
    norm: nn::LayerNorm,
    progress_head: nn::Linear,
    done_head: nn::Linear,
    delta_head: nn::Linear,
    confidence_head: nn::Linear,
    centers: Tensor,
}

impl RewardNet {
    /// Builds the layers under `p`.
    pub fn new(p: &nn::Path<'_>, config: ModelConfig) -> Result<Self, RewardError> {
        config.validate()?;
        let (e, h) = (config.embed_dim, config.hidden_dim);
        let centers = Tensor::linspace(0.0, 1.0, config.bins, (Kind::Float, p.device()));
        Ok(Self {
            encoder: Encoder::new(&(p / "encoder"), &config),
            view_embed: nn::embedding(
                p / "view_embed",
                config.views.len() as i64,
                e,
                Default::default(),
            ),
            token_embed: nn::embedding(
                p / "token_embed",
                config.vocab_capacity,
                e,
                Default::default(),
            ),
            text_proj: nn::linear(p / "text_proj", e, e, Default::default()),
            layer1: nn::linear(p / "layer1", 6 * e + 1, h, Default::default()),
            layer2: nn::linear(p / "layer2", 2 * h, h, Default::default()),
            norm: nn::layer_norm(p / "norm", vec![h], Default::default()),
            progress_head: nn::linear(p / "progress_head", h, config.bins, Default::default()),
            done_head: nn::linear(p / "done_head", h, 1, Default::default()),
            delta_head: nn::linear(p / "delta_head", h, 1, Default::default()),
            confidence_head: nn::linear(p / "confidence_head", h, 1, Default::default()),
            centers,
            config,
        })
    }

    /// Views on the view axis.
    pub fn num_views(&self) -> i64 {
        self.config.views.len() as i64
    }

    /// Images `[B, V, 3, H, W]` to embeddings `[B, V, E]`.
    pub fn encode(&self, images: &Tensor) -> Tensor {
        let s = images.size();
        let flat = images.reshape([s[0] * s[1], s[2], s[3], s[4]]);
        self.encoder
            .forward(&flat)
            .reshape([s[0], s[1], self.config.embed_dim])
    }

    /// Token ids `[B, L]` (0 = padding) to text embeddings `[B, E]`.
    pub fn encode_text(&self, tokens: &Tensor) -> Tensor {
        let mask = tokens.ne(0).to_kind(Kind::Float).unsqueeze(-1);
        let sum = (tokens.apply(&self.token_embed) * &mask).sum_dim_intlist(1, false, Kind::Float);
        let n = mask.sum_dim_intlist(1, false, Kind::Float).clamp_min(1.0);
        (sum / n).apply(&self.text_proj).silu()
    }

    /// The heads on current embeddings `[B, V, E]`, with `view_mask` `[B, V]` (1 = present;
    /// every row needs at least one view) and text embeddings `[B, E]`.
    pub fn heads(
        &self,
        current: &Tensor,
        anchors: &Anchors,
        view_mask: &Tensor,
        text: &Tensor,
    ) -> Outputs {
        let s = current.size();
        let (b, v) = (s[0], s[1]);
        let device = current.device();
        let mask = view_mask.to_kind(Kind::Float);
        let g = anchors.goal_mask.to_kind(Kind::Float).view([b, 1, 1]);
        let views = Tensor::arange(v, (Kind::Int64, device))
            .apply(&self.view_embed)
            .unsqueeze(0)
            .expand([b, v, -1], false);
        let text_v = text.unsqueeze(1).expand([b, v, -1], false);
        let x = Tensor::cat(
            &[
                current.shallow_clone(),
                current - &anchors.reference,
                current - &anchors.previous,
                (current - &anchors.goal) * &g,
                g.expand([b, v, 1], false),
                views,
                text_v,
            ],
            -1,
        );
        let h1 = x.apply(&self.layer1).silu();
        let m = mask.unsqueeze(-1);
        let ctx = (&h1 * &m).sum_dim_intlist(1, true, Kind::Float)
            / m.sum_dim_intlist(1, true, Kind::Float).clamp_min(1.0);
        let h = Tensor::cat(&[h1, ctx.expand([b, v, -1], false)], -1)
            .apply(&self.layer2)
            .silu()
            .apply(&self.norm);
        let view_log_probs = h.apply(&self.progress_head).log_softmax(-1, Kind::Float);
        let view_done_logit = h.apply(&self.done_head).squeeze_dim(-1);
        let view_delta = h.apply(&self.delta_head).squeeze_dim(-1);
        let conf_logit = h.apply(&self.confidence_head).squeeze_dim(-1);
        let masked = conf_logit.masked_fill(&mask.eq(0.0), -1e9);
        let log_w = masked.log_softmax(-1, Kind::Float);
        let w = log_w.exp() * &mask;
        let log_probs =
            (view_log_probs.shallow_clone() + log_w.unsqueeze(-1)).logsumexp([1], false);
        let probs = log_probs.exp();
        let progress = (&probs * &self.centers).sum_dim_intlist(-1, false, Kind::Float);
        let var = (&probs * (&self.centers - progress.unsqueeze(-1)).square()).sum_dim_intlist(
            -1,
            false,
            Kind::Float,
        );
        let entropy = -(&probs * &log_probs).sum_dim_intlist(-1, false, Kind::Float);
        let view_progress =
            (view_log_probs.exp() * &self.centers).sum_dim_intlist(-1, false, Kind::Float);
        let done_prob = (&w * view_done_logit.sigmoid()).sum_dim_intlist(-1, false, Kind::Float);
        let delta = (&w * &view_delta).sum_dim_intlist(-1, false, Kind::Float);
        let embedding = (current * w.unsqueeze(-1)).sum_dim_intlist(1, false, Kind::Float);
        Outputs {
            log_probs,
            progress,
            entropy,
            uncertainty: var.clamp_min(0.0).sqrt(),
            done_prob,
            delta,
            view_log_probs,
            view_progress,
            view_confidence: w,
            view_done_logit,
            view_delta,
            embedding,
        }
    }

    /// The whole model on raw images: `current`, `reference`, `previous` `[B, V, 3, H, W]`,
    /// optional `goal` images, `view_mask` `[B, V]`, `tokens` `[B, L]`.
    pub fn forward(
        &self,
        current: &Tensor,
        reference: &Tensor,
        previous: &Tensor,
        goal: Option<&Tensor>,
        view_mask: &Tensor,
        tokens: &Tensor,
    ) -> Outputs {
        let b = current.size()[0];
        let frames: Vec<&Tensor> = [Some(current), Some(reference), Some(previous), goal]
            .into_iter()
            .flatten()
            .collect();
        let all = self.encode(&Tensor::cat(&frames, 0));
        let parts = all.split(b, 0);
        let device = current.device();
        let (goal, goal_mask) = match goal {
            Some(_) => (
                parts[3].shallow_clone(),
                Tensor::ones([b], (Kind::Float, device)),
            ),
            None => (
                parts[0].zeros_like(),
                Tensor::zeros([b], (Kind::Float, device)),
            ),
        };
        let anchors = Anchors {
            reference: parts[1].shallow_clone(),
            previous: parts[2].shallow_clone(),
            goal,
            goal_mask,
        };
        self.heads(&parts[0], &anchors, view_mask, &self.encode_text(tokens))
    }
}

/// A model with its weights.
#[derive(Debug)]
pub struct Model {
    /// Weights.
    pub vs: nn::VarStore,
    /// Layers.
    pub net: RewardNet,
}

impl Model {
    /// A freshly initialised model on `device` (seeded by the caller via `tch::manual_seed`).
    pub fn new(config: ModelConfig, device: Device) -> Result<Self, RewardError> {
        let vs = nn::VarStore::new(device);
        let net = RewardNet::new(&vs.root(), config)?;
        Ok(Self { vs, net })
    }

    /// Number of parameters.
    pub fn parameters(&self) -> i64 {
        self.vs
            .trainable_variables()
            .iter()
            .map(Tensor::numel)
            .map(|n| n as i64)
            .sum()
    }
}

/// Soft two-hot targets `[B, K]` for progress values `[B]` in [0, 1].
pub fn two_hot(progress: &Tensor, bins: i64) -> Tensor {
    let x = progress.clamp(0.0, 1.0) * (bins - 1) as f64;
    let lo = x.floor().clamp(0.0, (bins - 1) as f64);
    let hi = (&lo + 1.0).clamp_max((bins - 1) as f64);
    let frac = &x - &lo;
    let b = progress.size()[0];
    let t = Tensor::zeros([b, bins], (Kind::Float, progress.device()));
    let t = t.scatter_add(
        1,
        &lo.to_kind(Kind::Int64).unsqueeze(1),
        &(frac.ones_like() - &frac).unsqueeze(1),
    );
    t.scatter_add(1, &hi.to_kind(Kind::Int64).unsqueeze(1), &frac.unsqueeze(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny(views: usize) -> Model {
        tch::manual_seed(0);
        let mut c = ModelConfig::new((0..views).map(|i| format!("v{i}")).collect(), 16);
        c.image_size = 32;
        c.channels = vec![8, 8];
        c.embed_dim = 16;
        c.hidden_dim = 16;
        c.bins = 5;
        Model::new(c, Device::Cpu).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn shapes_and_missing_views() {
        let m = tiny(3);
        let img = Tensor::randint(256, [2, 3, 3, 48, 40], (Kind::Uint8, Device::Cpu));
        let mask = Tensor::from_slice(&[1.0f32, 1.0, 1.0, 1.0, 0.0, 0.0]).view([2, 3]);
        let tokens = Tensor::from_slice(&[2i64, 3, 0, 4, 0, 0]).view([2, 3]);
        let out = m.net.forward(&img, &img, &img, None, &mask, &tokens);
        assert_eq!(out.log_probs.size(), [2, 5]);
        assert_eq!(out.view_log_probs.size(), [2, 3, 5]);
        assert_eq!(out.progress.size(), [2]);
        assert_eq!(out.embedding.size(), [2, 16]);
        let w: Vec<f32> = Vec::try_from(out.view_confidence.flatten(0, -1)).unwrap_or_default();
        assert!((w[0] + w[1] + w[2] - 1.0).abs() < 1e-5);
        assert_eq!(&w[4..], &[0.0, 0.0], "missing views get no weight");
        assert!(
            (w[3] - 1.0).abs() < 1e-6,
            "a lone view carries the estimate"
        );
        // With one view present the fused estimate is that view's estimate.
        let p = out.progress.double_value(&[1]);
        let pv = out.view_progress.double_value(&[1, 0]);
        assert!((p - pv).abs() < 1e-5, "{p} vs {pv}");
        let s = out.log_probs.exp().sum_dim_intlist(-1, false, Kind::Float);
        assert!((s.double_value(&[0]) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn masked_views_do_not_change_the_output() {
        let m = tiny(2);
        let a = Tensor::randint(256, [1, 2, 3, 32, 32], (Kind::Uint8, Device::Cpu));
        let b = a.copy();
        let _ = b.narrow(1, 1, 1).fill_(0);
        let mask = Tensor::from_slice(&[1.0f32, 0.0]).view([1, 2]);
        let tokens = Tensor::from_slice(&[2i64]).view([1, 1]);
        let oa = m.net.forward(&a, &a, &a, None, &mask, &tokens);
        let ob = m.net.forward(&b, &b, &b, None, &mask, &tokens);
        let d = (&oa.progress - &ob.progress).abs().double_value(&[0]);
        assert!(d < 1e-6, "the masked view's pixels leaked: {d}");
    }

    #[test]
    fn two_hot_puts_mass_on_neighbours() {
        let t = two_hot(&Tensor::from_slice(&[0.0f32, 0.3, 1.0]), 5);
        let v: Vec<f32> = Vec::try_from(t.flatten(0, -1)).unwrap_or_default();
        assert_eq!(&v[0..5], &[1.0, 0.0, 0.0, 0.0, 0.0]);
        assert!((v[5 + 1] - 0.8).abs() < 1e-5 && (v[5 + 2] - 0.2).abs() < 1e-5);
        assert_eq!(v[14], 1.0);
    }
}
