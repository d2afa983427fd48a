//! `striatum rl learn` and `striatum rl actor`: the nodes of a sim training session and the
//! training config they share (`launch/*.toml`, documented in `docs/rl.md`).
//!
//! The sim actor steps the simulator, renders the rig's cameras, publishes each multi-view
//! frame for the reward node and waits for that frame's `ProgressReward` (the potential the
//! learner shapes with), then streams the transition to the learner.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use striatum_bus::{Bus, Publisher, Qos, Subscriber};
use striatum_msgs::topics::{Topic, streams};
use striatum_msgs::{
    EpisodeEvent, EpisodeEventKind, Header, Image, MultiViewFrame, NamedImage, PixelEncoding,
    ProgressReward,
};
use striatum_render::{Lighting, Renderer};
use striatum_reward::Scorer;
use striatum_reward::scorer::EpisodeState;
use striatum_rl::actor::{
    ActorEnv, ActorLinks, ActorOptions, ActorStats, EnvObservation, EnvStep, EpisodeKind,
    EpisodeReport, run_actor,
};
use striatum_rl::learner::{Learner, LearnerConfig, LearnerLinks, LearnerStatus, run_learner};
use striatum_rl::simtask::{ACTION_SIZE, GripperMode, from_action, privileged_features, to_action};
use striatum_rl::{RlError, ShapingConfig};
use striatum_sim::{CameraConfig, Env, Observation, ScriptedExpert, StepInfo, Variant};

use crate::record::{camera_views, drawables, scene_cameras};
use crate::sim::robot_path;

/// What the policy observes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObservationKind {
    /// Tool position and gripper plus object and target positions (simulator ground truth).
    Privileged,
    /// Proprioception (tool position, gripper, joint positions) plus the reward model's frozen
    /// encoder embedding of every camera view.
    Embedding,
}

/// Where the shaping potential comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProgressSource {
    /// The reward node's `ProgressReward` for each rendered frame.
    RewardNode,
    /// The simulator's privileged progress (the reference).
    Privileged,
}

/// The `[env]` table: the simulated task and how the actor sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnvSettings {
    /// Scene file.
    pub scene: PathBuf,
    /// Robot name (in `robots/`) or folder.
    pub robot: String,
    /// Control steps before an episode is cut (a truncation: the learner bootstraps).
    pub horizon: usize,
    /// What the policy observes.
    pub observation: ObservationKind,
    /// Where the potential comes from.
    pub progress: ProgressSource,
    /// Render the cameras and publish frames (needed by the reward node and the Rerun view).
    pub render: bool,
    /// Camera rig folder (default: the scene's).
    pub rig: Option<PathBuf>,
    /// Side of the square camera images.
    pub image_size: u32,
    /// Seconds to wait for a frame's reward before reusing the previous potential.
    pub reward_timeout_s: f64,
    /// Seconds to wait for the reward node's first answer of a session (it may still be
    /// starting; the frame is re-sent every `reward_timeout_s` meanwhile).
    pub reward_startup_timeout_s: f64,
    /// Reward model whose encoder embeds the cameras for `observation = "embedding"`.
    pub embedding_model: PathBuf,
    /// The policy's gripper value: `continuous` closure or `discrete` open/closed.
    pub gripper: GripperMode,
    /// Episode `e` uses layout seed `seed_offset + e`.
    pub seed_offset: u64,
}

impl Default for EnvSettings {
    fn default() -> Self {
        EnvSettings {
            scene: PathBuf::from("sim_scenes/push_cube.toml"),
            robot: "so101".into(),
            horizon: 100,
            observation: ObservationKind::Privileged,
            progress: ProgressSource::RewardNode,
            render: true,
            rig: None,
            image_size: 128,
            reward_timeout_s: 2.0,
            reward_startup_timeout_s: 60.0,
            embedding_model: PathBuf::from("models/prm_base"),
            gripper: GripperMode::Continuous,
            seed_offset: 0,
        }
    }
}

/// The `[actor]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActorSettings {
    /// Scripted-expert episodes sent first, as demonstrations.
    pub demo_episodes: u64,
    /// Every this many policy episodes, one evaluates the policy's mode.
    pub eval_every: u64,
    /// Environment steps before the actor stops (none: until stopped).
    pub max_env_steps: Option<u64>,
    /// Wall-clock budget of training in seconds (none: no limit): training ends at
    /// `max_env_steps` or here, whichever comes first, and the final evaluation still runs, so a
    /// session on a slower machine ends on time with fewer env steps.
    pub max_train_s: Option<f64>,
    /// Evaluation episodes of the final policy on unseen layouts after `max_env_steps`.
    pub final_eval_episodes: u64,
    /// Seed of exploration noise.
    pub seed: u64,
    /// Evaluation episodes in the moving success rate printed and logged.
    pub success_window: usize,
    /// Simulated supervisor: the scripted expert takes over a training episode whose progress
    /// has not risen by `stall_progress` for this many steps (0: never; evaluation episodes
    /// are never touched).
    pub intervene_after_stall: u64,
    /// Progress gain that counts as moving on.
    pub stall_progress: f32,
    /// Hold the actor while the learner's updates trail the transitions it sent by more than
    /// this (0: never), so a learner slower than real time keeps its update-to-data ratio.
    pub max_update_lag: u64,
    /// Longest hold for the learner (s); past it the actor goes on unpaced until the
    /// learner's version moves again.
    pub pace_timeout_s: f64,
}

impl Default for ActorSettings {
    fn default() -> Self {
        ActorSettings {
            demo_episodes: 20,
            eval_every: 4,
            max_env_steps: None,
            max_train_s: None,
            final_eval_episodes: 50,
            seed: 0,
            success_window: 10,
            intervene_after_stall: 0,
            stall_progress: 0.01,
            max_update_lag: 0,
            pace_timeout_s: 10.0,
        }
    }
}

/// A training config: the task, the actor and the learner (`obs_dim`/`act_dim` of the learner
/// table are filled in from the task).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Run name: the learner's weights key and the policy id prefix.
    pub run: String,
    /// The task.
    #[serde(default)]
    pub env: EnvSettings,
    /// The actor.
    #[serde(default)]
    pub actor: ActorSettings,
    /// The learner.
    #[serde(default)]
    pub learner: LearnerConfig,
}

impl TrainConfig {
    /// Reads a config file; errors name the file and the key.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the training config {}", path.display()))?;
        let mut c: TrainConfig =
            toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
        anyhow::ensure!(
            c.actor.max_train_s.is_none_or(|t| t > 0.0 && t <= 1e9),
            "{}: actor.max_train_s must be in (0, 1e9] seconds, not {:?}",
            path.display(),
            c.actor.max_train_s
        );
        anyhow::ensure!(
            c.actor.pace_timeout_s > 0.0 && c.actor.pace_timeout_s <= 3600.0,
            "{}: actor.pace_timeout_s must be in (0, 3600], not {}",
            path.display(),
            c.actor.pace_timeout_s
        );
        anyhow::ensure!(
            c.env.horizon > 0,
            "{}: env.horizon must be > 0",
            path.display()
        );
        anyhow::ensure!(
            c.env.reward_timeout_s > 0.0 && c.env.reward_timeout_s.is_finite(),
            "{}: env.reward_timeout_s must be > 0",
            path.display()
        );
        anyhow::ensure!(
            c.env.reward_startup_timeout_s >= c.env.reward_timeout_s
                && c.env.reward_startup_timeout_s.is_finite(),
            "{}: env.reward_startup_timeout_s must be >= env.reward_timeout_s",
            path.display()
        );
        anyhow::ensure!(
            c.env.image_size >= 8 && c.env.image_size <= 1024,
            "{}: env.image_size must be 8..=1024",
            path.display()
        );
        anyhow::ensure!(
            c.env.render || c.env.observation != ObservationKind::Embedding,
            "{}: env.observation = \"embedding\" needs env.render = true",
            path.display()
        );
        anyhow::ensure!(
            c.env.render || c.env.progress == ProgressSource::Privileged,
            "{}: env.progress = \"reward_node\" needs env.render = true (the reward node scores rendered frames)",
            path.display()
        );
        c.learner.run = c.run.clone();
        Ok(c)
    }
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Observation size of a config's task (loads the scene).
pub fn observation_size(env: &EnvSettings) -> anyhow::Result<usize> {
    let mut sim = Env::load(&env.scene, robot_path(&env.robot))
        .with_context(|| format!("loading {} with {}", env.scene.display(), env.robot))?;
    let obs = sim.reset(env.seed_offset)?;
    Ok(match env.observation {
        ObservationKind::Privileged => privileged_features(&obs).len(),
        ObservationKind::Embedding => {
            let scorer = load_embedder(env)?;
            proprio_features(&obs).len() + scorer.embedding_size().unwrap_or(0)
        }
    })
}

fn load_embedder(env: &EnvSettings) -> anyhow::Result<Scorer> {
    let scorer = Scorer::load(&env.embedding_model, tch::Device::Cpu)
        .with_context(|| format!("loading {}", env.embedding_model.display()))?;
    anyhow::ensure!(
        scorer.embedding_size().is_some(),
        "{}: a TorchScript model does not expose its encoder; use a native model for observation = \"embedding\"",
        env.embedding_model.display()
    );
    Ok(scorer)
}

/// Proprioception: tool position, gripper closure and arm joint positions.
pub fn proprio_features(obs: &Observation) -> Vec<f32> {
    let mut v: Vec<f32> = obs.ee_position.iter().map(|x| *x as f32).collect();
    v.push(obs.gripper as f32);
    v.extend(obs.joint_positions.iter().map(|x| *x as f32));
    v
}

/// Cameras, renderer and the frames publisher.
struct Vision {
    renderer: Renderer,
    cameras: Vec<CameraConfig>,
    frames: Option<Publisher<MultiViewFrame>>,
    render_s: f64,
}

/// Where an actor's potential comes from.
enum PotentialSource {
    /// The simulator's progress.
    Privileged,
    /// The reward node's answers over the bus.
    Node(Subscriber<ProgressReward>),
    /// A reward model run in this process (benchmarks).
    Local {
        scorer: Box<Scorer>,
        state: Option<EpisodeState>,
    },
}

/// Timing and reward-delivery counters of a sim actor.
#[derive(Debug, Clone, Default)]
pub struct SimActorCounters {
    /// Frames rendered and published.
    pub frames: u64,
    /// Rewards received for our frames.
    pub rewards: u64,
    /// Frames whose reward did not come within the timeout (the previous potential was used).
    pub reward_timeouts: u64,
    /// Frame-to-reward round trips, in milliseconds.
    pub reward_latency_ms: Vec<f64>,
    /// Seconds spent rendering.
    pub render_s: f64,
    /// Seconds spent waiting for rewards.
    pub reward_wait_s: f64,
    /// Seconds spent in physics and control.
    pub physics_s: f64,
}

/// The simulator as an [`ActorEnv`], with the cameras and the reward node in the loop.
pub struct SimActorEnv {
    env: Env,
    settings: EnvSettings,
    robot_id: String,
    obs: Observation,
    info: Option<StepInfo>,
    expert: Option<ScriptedExpert>,
    episode: u64,
    step: u64,
    progress: f32,
    max_translation: f64,
    vision: Option<Vision>,
    embedder: Option<Box<Scorer>>,
    embedding: Vec<f32>,
    potential: PotentialSource,
    /// Clips, smooths and gates the learned estimates (`[learner.shaping]`).
    filter: striatum_rl::Potential,
    events: Option<Publisher<EpisodeEvent>>,
    instruction: String,
    /// Counters.
    pub counters: SimActorCounters,
}

impl SimActorEnv {
    /// Loads the scene, starts the renderer (when rendering) and declares the actor's topics
    /// under `robot_id`.
    pub async fn on_bus(
        bus: &Bus,
        settings: &EnvSettings,
        shaping: &ShapingConfig,
        robot_id: &str,
    ) -> anyhow::Result<Self> {
        let bad_id = |e: striatum_msgs::topics::TopicError| anyhow::anyhow!("robot id: {e}");
        let mut me = Self::build(settings, robot_id, PotentialSource::Privileged)?;
        me.filter = striatum_rl::Potential::new(shaping.clone());
        if let Some(v) = me.vision.as_mut() {
            let topic =
                Topic::<MultiViewFrame>::new(robot_id, "sim", streams::FRAMES).map_err(bad_id)?;
            v.frames = Some(bus.publisher(&topic, Qos::Frames).await?);
        }
        if settings.progress == ProgressSource::RewardNode {
            let key = Topic::<ProgressReward>::new(
                robot_id,
                striatum_reward::node::NODE,
                streams::PROGRESS,
            )
            .map_err(bad_id)?;
            me.potential = PotentialSource::Node(bus.subscriber(key.key(), Qos::Reliable).await?);
        }
        let topic =
            Topic::<EpisodeEvent>::new(robot_id, "sim", streams::EPISODE).map_err(bad_id)?;
        me.events = Some(bus.publisher(&topic, Qos::Reliable).await?);
        Ok(me)
    }

    /// An actor environment without the bus: the potential is privileged, or from `scorer`
    /// run in this process on the rendered cameras.
    pub fn local(
        settings: &EnvSettings,
        shaping: &ShapingConfig,
        scorer: Option<Scorer>,
    ) -> anyhow::Result<Self> {
        let mut settings = settings.clone();
        let potential = match scorer {
            Some(s) => {
                settings.render = true;
                PotentialSource::Local {
                    scorer: Box::new(s),
                    state: None,
                }
            }
            None => {
                settings.progress = ProgressSource::Privileged;
                settings.render = settings.observation == ObservationKind::Embedding;
                PotentialSource::Privileged
            }
        };
        let mut me = Self::build(&settings, "local", potential)?;
        me.filter = striatum_rl::Potential::new(shaping.clone());
        Ok(me)
    }

    fn build(
        settings: &EnvSettings,
        robot_id: &str,
        potential: PotentialSource,
    ) -> anyhow::Result<Self> {
        let mut env =
            Env::load(&settings.scene, robot_path(&settings.robot)).with_context(|| {
                format!(
                    "loading {} with {}",
                    settings.scene.display(),
                    settings.robot
                )
            })?;
        let obs = env.reset(settings.seed_offset)?;
        let embedder = match settings.observation {
            ObservationKind::Embedding => Some(Box::new(load_embedder(settings)?)),
            ObservationKind::Privileged => None,
        };
        let embedding = vec![
            0.0;
            embedder
                .as_ref()
                .and_then(|e| e.embedding_size())
                .unwrap_or(0)
        ];
        let vision = if settings.render {
            let renderer = Renderer::new().context("starting the renderer")?;
            let cameras = scene_cameras(&env, settings.rig.as_deref(), Some(settings.image_size))?;
            Some(Vision {
                renderer,
                cameras,
                frames: None,
                render_s: 0.0,
            })
        } else {
            None
        };
        Ok(SimActorEnv {
            max_translation: env.control().max_translation,
            env,
            settings: settings.clone(),
            robot_id: robot_id.to_owned(),
            obs,
            info: None,
            expert: None,
            episode: 0,
            step: 0,
            progress: 0.0,
            vision,
            embedder,
            embedding,
            potential,
            filter: striatum_rl::Potential::new(ShapingConfig::default()),
            events: None,
            instruction: String::new(),
            counters: SimActorCounters::default(),
        })
    }

    /// The simulator's own (privileged) task progress of the current state: 0 right after a
    /// reset, whatever potential the policy is trained with.
    pub fn task_progress(&self) -> f32 {
        self.info.as_ref().map_or(0.0, |i| i.progress as f32)
    }

    fn features(&self) -> Vec<f32> {
        match self.settings.observation {
            ObservationKind::Privileged => privileged_features(&self.obs),
            ObservationKind::Embedding => {
                let mut v = proprio_features(&self.obs);
                v.extend_from_slice(&self.embedding);
                v
            }
        }
    }

    /// Renders the current frame and publishes it (on the bus); returns its stamp and the
    /// frame (none without cameras).
    fn publish_frame(&mut self) -> Result<(i64, Option<MultiViewFrame>), RlError> {
        let stamp = now_ns();
        let Some(v) = self.vision.as_mut() else {
            return Ok((stamp, None));
        };
        let started = Instant::now();
        let views = camera_views(&self.env, &v.cameras, &[])
            .map_err(|e| RlError::Input(format!("camera poses: {e}")))?;
        let shapes = drawables(&self.env.visual_shapes(), &|_| [0.0; 3]);
        let frames = v
            .renderer
            .render(&shapes, &views, &Lighting::default())
            .map_err(|e| RlError::Input(format!("rendering: {e}")))?;
        let msg = MultiViewFrame {
            header: Header::new(stamp, "world"),
            robot_id: self.robot_id.clone(),
            episode_id: self.episode,
            step: self.step,
            views: frames
                .into_iter()
                .map(|f| NamedImage {
                    image: Image {
                        header: Header::new(stamp, format!("{}_optical", f.name)),
                        height: f.height,
                        width: f.width,
                        encoding: PixelEncoding::Rgb8,
                        is_bigendian: false,
                        step: f.width * 3,
                        data: f.rgb,
                    },
                    name: f.name,
                })
                .collect(),
        };
        v.render_s += started.elapsed().as_secs_f64();
        self.counters.render_s = v.render_s;
        if let Some(frames) = &v.frames {
            frames
                .put(&msg)
                .map_err(|e| RlError::Transport(format!("publishing a frame: {e}")))?;
        }
        self.counters.frames += 1;
        Ok((stamp, Some(msg)))
    }

    /// The potential of the current state: privileged, or the reward model's answer for the
    /// frame just rendered (over the bus: the previous potential if it does not come in time).
    fn potential(&mut self) -> Result<f32, RlError> {
        let (stamp, frame) = self.publish_frame()?;
        if let (Some(embedder), Some(f)) = (self.embedder.as_ref(), frame.as_ref()) {
            let images = striatum_reward::node::frame_images(embedder, f)
                .map_err(|e| RlError::Input(format!("embedding a frame: {e}")))?;
            self.embedding = embedder
                .embed(&images)
                .map_err(|e| RlError::Input(format!("embedding a frame: {e}")))?;
        }
        let started = Instant::now();
        let found = match &mut self.potential {
            PotentialSource::Privileged => {
                return Ok(self.env.evaluate().map_or(0.0, |p| p.value as f32));
            }
            PotentialSource::Local { scorer, state } => {
                let frame = frame.ok_or_else(|| RlError::Input("no cameras to score".into()))?;
                let images = striatum_reward::node::frame_images(scorer, &frame)
                    .map_err(|e| RlError::Input(format!("scoring a frame: {e}")))?;
                let st = state.get_or_insert_with(|| {
                    scorer
                        .start_episode(&self.instruction, scorer.goals.get(&self.env.scene().name))
                });
                let est = scorer
                    .score(&mut [(st, &images)])
                    .map_err(|e| RlError::Input(format!("scoring a frame: {e}")))?;
                est.first()
                    .map(|e| (e.progress.clamp(0.0, 1.0), e.uncertainty))
            }
            PotentialSource::Node(rewards) => {
                let timeout = Duration::from_secs_f64(self.settings.reward_timeout_s);
                // Until the node has answered once it may still be starting (its subscription
                // not yet matched, its model loading): the frame is sent again each period and
                // waited for up to the startup limit instead of counting a timeout.
                let starting = self.counters.rewards == 0;
                let limit = if starting {
                    Duration::from_secs_f64(self.settings.reward_startup_timeout_s)
                } else {
                    timeout
                };
                let mut period_start = Instant::now();
                loop {
                    let left = limit.saturating_sub(started.elapsed());
                    if left.is_zero() {
                        break None;
                    }
                    if starting && period_start.elapsed() >= timeout {
                        period_start = Instant::now();
                        if let (Some(v), Some(f)) = (self.vision.as_ref(), frame.as_ref())
                            && let Some(frames) = &v.frames
                        {
                            frames.put(f).map_err(|e| {
                                RlError::Transport(format!("publishing a frame: {e}"))
                            })?;
                        }
                    }
                    let wait = if starting {
                        left.min(timeout.saturating_sub(period_start.elapsed()))
                    } else {
                        left
                    };
                    match rewards.recv_timeout(wait) {
                        Ok(r) if r.msg.episode_id == self.episode && r.msg.step == self.step => {
                            break Some((f64::from(r.msg.progress), f64::from(r.msg.uncertainty)));
                        }
                        // An answer to an earlier frame (or another episode): skip it.
                        Ok(_) => {}
                        Err(_) if starting => {}
                        Err(_) => break None,
                    }
                }
            }
        };
        self.counters.reward_wait_s += started.elapsed().as_secs_f64();
        match found {
            Some((p, uncertainty)) => {
                self.counters.rewards += 1;
                self.counters
                    .reward_latency_ms
                    .push((now_ns() - stamp).max(0) as f64 * 1e-6);
                Ok(self.filter.update(p, uncertainty)? as f32)
            }
            None => {
                self.counters.reward_timeouts += 1;
                Ok(self.progress)
            }
        }
    }

    fn publish_event(&self, kind: EpisodeEventKind) {
        if let Some(events) = &self.events {
            let _ = events.put(&EpisodeEvent {
                header: Header::new(now_ns(), "world"),
                robot_id: self.robot_id.clone(),
                episode_id: self.episode,
                kind,
            });
        }
    }
}

impl ActorEnv for SimActorEnv {
    fn obs_dim(&self) -> usize {
        self.features().len()
    }

    fn act_dim(&self) -> usize {
        ACTION_SIZE
    }

    fn reset(&mut self, episode: u64) -> Result<EnvObservation, RlError> {
        let seed = self.settings.seed_offset.wrapping_add(episode);
        self.obs = self
            .env
            .reset(seed)
            .map_err(|e| RlError::Input(format!("reset: {e}")))?;
        self.info = None;
        // The demonstrator acts through the policy's action space, which has no rotation: an
        // expert that waited for a yaw it cannot command would hover above the object.
        self.expert = Some(
            ScriptedExpert::new(self.env.scene(), self.env.robot(), Variant::Expert, seed)
                .translation_only(),
        );
        self.episode = episode;
        self.step = 0;
        self.instruction = self.obs.instruction.clone();
        if let PotentialSource::Local { state, .. } = &mut self.potential {
            *state = None;
        }
        self.filter.reset();
        self.publish_event(EpisodeEventKind::Start {
            task: self.env.scene().name.clone(),
            instruction: self.instruction.clone(),
            seed,
        });
        self.progress = 0.0;
        self.progress = self.potential()?;
        Ok(EnvObservation {
            obs: self.features(),
            progress: self.progress,
        })
    }

    fn step(&mut self, action: &[f32]) -> Result<EnvStep, RlError> {
        let started = Instant::now();
        let step = self
            .env
            .step(&to_action(
                action,
                self.max_translation,
                self.settings.gripper,
            ))
            .map_err(|e| RlError::Input(format!("step: {e}")))?;
        self.counters.physics_s += started.elapsed().as_secs_f64();
        self.step += 1;
        self.obs = step.obs;
        let success = step.info.success;
        self.info = Some(step.info);
        let truncated =
            !step.terminated && (step.truncated || self.step as usize >= self.settings.horizon);
        self.progress = self.potential()?;
        if step.terminated || truncated {
            self.publish_event(EpisodeEventKind::End {
                success,
                truncated,
                steps: self.step,
                episode_return: step.reward,
            });
        }
        Ok(EnvStep {
            next: EnvObservation {
                obs: self.features(),
                progress: self.progress,
            },
            reward: step.reward as f32,
            terminated: step.terminated,
            truncated,
            success,
        })
    }

    fn expert_action(&mut self) -> Option<Vec<f32>> {
        let expert = self.expert.as_mut()?;
        let a = expert.act(&self.obs, self.info.as_ref());
        Some(from_action(&a, self.max_translation))
    }
}

/// Appends CSV rows to a file (header first when new), flushing each row.
struct Csv(std::fs::File);

impl Csv {
    fn open(path: &Path, header: &str) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let new = !path.exists();
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        if new {
            writeln!(f, "{header}")?;
        }
        Ok(Csv(f))
    }

    fn row(&mut self, line: &str) {
        let _ = writeln!(self.0, "{line}");
        let _ = self.0.flush();
    }
}

/// How long an actor waits for the learner's first weights before it starts anyway.
const LEARNER_STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

fn stop_on_ctrl_c() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        flag.store(true, Ordering::Relaxed);
    });
    stop
}

/// `striatum rl learn`: the learner node; resumes from `<run_dir>/checkpoints/learner`.
pub async fn learn(config_path: &Path, run_dir: &Path, bus: Bus) -> anyhow::Result<()> {
    let config = TrainConfig::load(config_path)?;
    tch::set_num_threads(1);
    std::fs::create_dir_all(run_dir).with_context(|| format!("creating {}", run_dir.display()))?;
    std::fs::copy(config_path, run_dir.join("config.toml"))
        .with_context(|| format!("copying the config into {}", run_dir.display()))?;
    let mut lc = config.learner.clone();
    lc.obs_dim = observation_size(&config.env)?;
    lc.act_dim = ACTION_SIZE;
    let ckpt = run_dir.join("checkpoints").join("learner");
    let mut learner = Learner::resume_or_new(&ckpt, lc, tch::Device::Cpu)
        .with_context(|| format!("starting the learner from {}", ckpt.display()))?;
    let mut links = LearnerLinks::connect(&bus, &config.run).await?;
    let _node = bus.declare_node(&config.run, "learner").await?;
    println!(
        "learner: run {}, obs {} / action {}, reward {:?}, {} updates so far; checkpoints in {}",
        config.run,
        learner.config().obs_dim,
        learner.config().act_dim,
        learner.config().reward,
        learner.sac().updates(),
        ckpt.display()
    );
    let mut csv = Csv::open(
        &run_dir.join("learner.csv"),
        "wall_s,updates,updates_per_s,transitions,episodes,successes,interventions,online,demo,critic_loss,actor_loss,q_mean,temperature,accepted,duplicates,lost,restarts,latency_p50_ms,latency_p99_ms",
    )?;
    let stop = stop_on_ctrl_c();
    let started = Instant::now();
    let status = tokio::task::spawn_blocking(move || {
        let mut last = (0.0f64, learner.sac().updates());
        let mut printed = Instant::now();
        let result = run_learner(
            &mut learner,
            &mut links,
            &ckpt,
            &stop,
            |s: &LearnerStatus| {
                let t = started.elapsed().as_secs_f64();
                let rate = (s.updates - last.1) as f64 / (t - last.0).max(1e-9);
                last = (t, s.updates);
                csv.row(&format!(
                    "{t:.1},{},{rate:.1},{},{},{},{},{},{},{:.5},{:.5},{:.4},{:.5},{},{},{},{},{:.2},{:.2}",
                    s.updates,
                    s.counters.transitions,
                    s.counters.episodes,
                    s.counters.successes,
                    s.counters.interventions,
                    s.online_len,
                    s.demo_len,
                    s.last_update.critic_loss,
                    s.last_update.actor_loss,
                    s.last_update.q_mean,
                    s.last_update.temperature,
                    s.transport.accepted,
                    s.transport.duplicates,
                    s.transport.lost,
                    s.transport.restarts,
                    s.latency_p50_ms,
                    s.latency_p99_ms,
                ));
                if printed.elapsed() >= Duration::from_secs(10) {
                    printed = Instant::now();
                    println!(
                        "learner: {} updates ({rate:.0}/s), {} transitions, {} episodes, buffers {} online / {} demo, q {:.3}, temperature {:.4}, lost {} dup {}, delivery p99 {:.1} ms",
                        s.updates,
                        s.counters.transitions,
                        s.counters.episodes,
                        s.online_len,
                        s.demo_len,
                        s.last_update.q_mean,
                        s.last_update.temperature,
                        s.transport.lost,
                        s.transport.duplicates,
                        s.latency_p99_ms
                    );
                }
            },
        );
        result.map(|s| (s, learner.sac().updates()))
    })
    .await??;
    println!(
        "learner: stopped after {} updates; checkpoint saved ({} transitions, {} lost, {} duplicates)",
        status.1,
        status.0.counters.transitions,
        status.0.transport.lost,
        status.0.transport.duplicates
    );
    bus.close().await?;
    Ok(())
}

/// Rolling success rate of the last `n` outcomes.
struct Window {
    n: usize,
    v: std::collections::VecDeque<bool>,
}

impl Window {
    fn push(&mut self, x: bool) {
        self.v.push_back(x);
        while self.v.len() > self.n {
            self.v.pop_front();
        }
    }

    fn rate(&self) -> f64 {
        if self.v.is_empty() {
            return 0.0;
        }
        self.v.iter().filter(|x| **x).count() as f64 / self.v.len() as f64
    }
}

fn percentile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[((s.len() - 1) as f64 * q).round() as usize]
}

/// What an actor run measured, written to `<run_dir>/<name>_summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct ActorSummary {
    /// Environment steps of training (demonstrations included).
    pub env_steps: u64,
    /// Episodes of training.
    pub episodes: u64,
    /// Wall seconds of training.
    pub train_seconds: f64,
    /// Control steps per second sustained during training (holds for the learner included).
    pub control_hz: f64,
    /// Control steps per second outside the holds for the learner: what the actor, renderer
    /// and reward node sustain on their own.
    pub unpaced_hz: f64,
    /// Holds for the learner (`[actor] max_update_lag`).
    pub paced_holds: u64,
    /// Seconds spent holding.
    pub paced_s: f64,
    /// Holds that ran out of `pace_timeout_s`.
    pub pace_timeouts: u64,
    /// Success rate of the last evaluation episodes during training.
    pub recent_eval_success: f64,
    /// Final evaluation: episodes and success rate of the policy's mode on unseen layouts.
    pub final_eval_episodes: u64,
    /// Its success rate.
    pub final_eval_success: f64,
    /// Version (learner updates) of the fixed weights the final evaluation ran; none when no
    /// weights had arrived and it ran on random actions.
    pub final_weights_version: Option<u64>,
    /// Frame-to-reward round trip p50 / p99 (ms).
    pub reward_latency_p50_ms: f64,
    /// p99 of the same.
    pub reward_latency_p99_ms: f64,
    /// Frames whose reward timed out.
    pub reward_timeouts: u64,
    /// Milliseconds per step spent rendering, waiting for rewards, and in physics.
    pub render_ms_per_step: f64,
    /// Waiting for the reward node.
    pub reward_wait_ms_per_step: f64,
    /// Physics and control.
    pub physics_ms_per_step: f64,
    /// Age of the weights in use when last taken (s).
    pub weights_age_s: f64,
    /// Weight versions taken.
    pub weight_updates: u64,
    /// Training episodes the simulated supervisor took over after a stall.
    pub intervened_episodes: u64,
    /// Steps it drove in them.
    pub intervention_steps: u64,
}

/// One row of the actor's episode CSV (`kind` names the episode's kind; `rate` is the success
/// rate the row reports).
fn episode_row(wall_s: f64, env_steps: u64, r: &EpisodeReport, kind: &str, rate: f64) -> String {
    format!(
        "{wall_s:.2},{env_steps},{},{kind},{},{},{:.4},{},{rate:.3},{}",
        r.episode,
        u8::from(r.success),
        r.steps,
        r.final_progress,
        r.weights_version.map_or(String::new(), |v| v.to_string()),
        r.intervention_steps
    )
}

/// `striatum rl actor`: a sim actor; after `max_env_steps` it evaluates the final policy.
pub async fn act(
    config_path: &Path,
    run_dir: &Path,
    name: &str,
    robot_id: &str,
    bus: Bus,
) -> anyhow::Result<()> {
    let config = TrainConfig::load(config_path)?;
    tch::set_num_threads(1);
    let mut env = SimActorEnv::on_bus(&bus, &config.env, &config.learner.shaping, robot_id).await?;
    let options = ActorOptions {
        name: name.to_owned(),
        robot: robot_id.to_owned(),
        run: config.run.clone(),
        sac: config.learner.sac.clone(),
        deterministic: false,
        seed: config.actor.seed,
        first_episode: 0,
        demo_episodes: config.actor.demo_episodes,
        eval_every: config.actor.eval_every,
        intervene_after_stall: config.actor.intervene_after_stall,
        stall_progress: config.actor.stall_progress,
        follow_weights: true,
        send_transitions: true,
        max_update_lag: config.actor.max_update_lag,
        pace_timeout_s: config.actor.pace_timeout_s,
        max_seconds: config.actor.max_train_s,
    };
    let links = ActorLinks::connect(&bus, &options).await?;
    let _node = bus.declare_node(robot_id, "actor").await?;
    println!(
        "actor {}: {} with {} as `{robot_id}`, observation {:?}, progress from {:?}, {} demonstrations first, {}",
        links.actor_id(),
        config.env.scene.display(),
        config.env.robot,
        config.env.observation,
        config.env.progress,
        config.actor.demo_episodes,
        config
            .actor
            .max_env_steps
            .map_or("until stopped".to_owned(), |s| format!("{s} env steps"))
            + &config
                .actor
                .max_train_s
                .map_or(String::new(), |t| format!(" or {t:.0} s of training"))
    );
    // Let subscriptions meet (the reward node, the learner) before the first frame.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stop = stop_on_ctrl_c();
    // Nothing is sent before the learner is listening: its first weights broadcast says so.
    let waited = Instant::now();
    let mut links = {
        let stop = stop.clone();
        tokio::task::spawn_blocking(move || {
            let mut links = links;
            links.wait_for_weights(LEARNER_STARTUP_TIMEOUT, &stop);
            links
        })
        .await?
    };
    match links.latest_version() {
        Some(v) => println!(
            "actor: learner found (weights v{v} after {:.1} s)",
            waited.elapsed().as_secs_f64()
        ),
        None if !stop.load(Ordering::Relaxed) => println!(
            "actor: no learner weights within {} s; starting anyway with random actions (transitions sent before the learner listens are lost)",
            LEARNER_STARTUP_TIMEOUT.as_secs()
        ),
        None => {}
    }
    let summary_path = config_summary_path(run_dir, name);
    let run_dir = run_dir.to_owned();
    let name = name.to_owned();
    let settings = config.actor.clone();
    let summary = tokio::task::spawn_blocking(move || -> anyhow::Result<ActorSummary> {
        let mut csv = Csv::open(
            &run_dir.join(format!("{name}.csv")),
            "wall_s,env_steps,episode,kind,success,steps,final_progress,weights_version,eval_success_rate,intervention_steps",
        )?;
        let started = Instant::now();
        let mut evals = Window {
            n: settings.success_window.max(1),
            v: Default::default(),
        };
        let mut trains = Window {
            n: 20,
            v: Default::default(),
        };
        let mut rescued = Window {
            n: 20,
            v: Default::default(),
        };
        let mut on_episode = |r: &EpisodeReport, s: &ActorStats| {
            match r.kind {
                EpisodeKind::Eval => evals.push(r.success),
                EpisodeKind::Train => {
                    // Success of the policy alone; a supervisor's rescue does not count.
                    trains.push(r.success && r.intervention_steps == 0);
                    rescued.push(r.intervention_steps > 0);
                }
                EpisodeKind::Demo => {}
            }
            csv.row(&episode_row(
                started.elapsed().as_secs_f64(),
                s.steps,
                r,
                r.kind.as_str(),
                evals.rate(),
            ));
            if r.kind == EpisodeKind::Eval {
                println!(
                    "actor: {:>6} env steps, episode {:>4}: eval success {:.2} (last {}), train success {:.2} (last {}){}, {:.0} steps/s, weights v{}",
                    s.steps,
                    r.episode,
                    evals.rate(),
                    evals.v.len(),
                    trains.rate(),
                    trains.v.len(),
                    if settings.intervene_after_stall > 0 {
                        format!(", interventions {:.2}", rescued.rate())
                    } else {
                        String::new()
                    },
                    s.steps as f64 / started.elapsed().as_secs_f64().max(1e-9),
                    s.weights_version.unwrap_or(0)
                );
            } else if r.kind == EpisodeKind::Demo && s.demo_episodes == settings.demo_episodes {
                println!(
                    "actor: {} demonstrations sent ({} steps)",
                    s.demo_episodes, s.steps
                );
            }
        };
        let stats = run_actor(
            &mut env,
            &mut links,
            &options,
            &stop,
            settings.max_env_steps,
            &mut on_episode,
        )?;
        let train_seconds = started.elapsed().as_secs_f64();
        if settings
            .max_env_steps
            .is_some_and(|m| stats.steps < m && !stop.load(Ordering::Relaxed))
        {
            println!(
                "actor: training time budget of {:.0} s reached after {} env steps",
                settings.max_train_s.unwrap_or(0.0),
                stats.steps
            );
        }
        let counters = env.counters.clone();
        let steps = stats.steps.max(1) as f64;
        let mut final_success = f64::NAN;
        let mut final_n = 0;
        let mut final_version = None;
        if !stop.load(Ordering::Relaxed) && settings.final_eval_episodes > 0 {
            // The final policy on layouts never used in training: the newest weights taken
            // up during training, held fixed, and nothing sent, so the learner does not learn
            // from the evaluation while it runs.
            let eval_options = ActorOptions {
                first_episode: 1_000_000,
                demo_episodes: 0,
                eval_every: 1,
                intervene_after_stall: 0,
                follow_weights: false,
                send_transitions: false,
                max_seconds: None,
                ..options.clone()
            };
            let wins = std::cell::Cell::new(0u64);
            let done = AtomicBool::new(false);
            let count = std::cell::Cell::new(0u64);
            let want = settings.final_eval_episodes;
            let evaluated = run_actor(&mut env, &mut links, &eval_options, &done, None, |r, _| {
                count.set(count.get() + 1);
                wins.set(wins.get() + u64::from(r.success));
                csv.row(&episode_row(
                    started.elapsed().as_secs_f64(),
                    stats.steps,
                    r,
                    "final",
                    wins.get() as f64 / count.get() as f64,
                ));
                if count.get() >= want || stop.load(Ordering::Relaxed) {
                    done.store(true, Ordering::Relaxed);
                }
            })?;
            final_version = evaluated.weights_version;
            final_n = count.get();
            final_success = wins.get() as f64 / final_n.max(1) as f64;
            println!(
                "actor: final evaluation: {} of {final_n} episodes succeeded ({:.0}%) on unseen layouts, weights v{}",
                wins.get(),
                100.0 * final_success,
                final_version.map_or("-".to_owned(), |v| v.to_string())
            );
        }
        Ok(ActorSummary {
            env_steps: stats.steps,
            episodes: stats.episodes,
            train_seconds,
            control_hz: stats.steps as f64 / train_seconds.max(1e-9),
            unpaced_hz: stats.steps as f64 / (train_seconds - stats.paced_s).max(1e-9),
            paced_holds: stats.paced_holds,
            paced_s: stats.paced_s,
            pace_timeouts: stats.pace_timeouts,
            recent_eval_success: evals.rate(),
            final_eval_episodes: final_n,
            final_eval_success: final_success,
            final_weights_version: final_version,
            reward_latency_p50_ms: percentile(&counters.reward_latency_ms, 0.5),
            reward_latency_p99_ms: percentile(&counters.reward_latency_ms, 0.99),
            reward_timeouts: counters.reward_timeouts,
            render_ms_per_step: counters.render_s * 1e3 / steps,
            reward_wait_ms_per_step: counters.reward_wait_s * 1e3 / steps,
            physics_ms_per_step: counters.physics_s * 1e3 / steps,
            weights_age_s: stats.weights_age_s,
            weight_updates: stats.weight_updates,
            intervened_episodes: stats.intervened_episodes,
            intervention_steps: stats.intervention_steps,
        })
    })
    .await??;
    let path = summary_path;
    let json = serde_json::to_string_pretty(&summary)?;
    striatum_launch::write_atomic(&path, json.as_bytes())?;
    println!(
        "actor: {} env steps in {:.0} s ({:.1} steps/s: render {:.1} ms, reward wait {:.1} ms, physics {:.1} ms per step), reward round trip p50 {:.1} / p99 {:.1} ms, {} timeouts; summary in {}",
        summary.env_steps,
        summary.train_seconds,
        summary.control_hz,
        summary.render_ms_per_step,
        summary.reward_wait_ms_per_step,
        summary.physics_ms_per_step,
        summary.reward_latency_p50_ms,
        summary.reward_latency_p99_ms,
        summary.reward_timeouts,
        path.display()
    );
    if summary.paced_holds > 0 {
        println!(
            "actor: held {} times for the learner ({:.0} s, {} timed out); {:.1} steps/s outside the holds",
            summary.paced_holds, summary.paced_s, summary.pace_timeouts, summary.unpaced_hz
        );
    }
    bus.close().await?;
    Ok(())
}

fn config_summary_path(run_dir: &Path, name: &str) -> PathBuf {
    run_dir.join(format!("{name}_summary.json"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn repo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    fn settings(observation: ObservationKind) -> EnvSettings {
        EnvSettings {
            scene: repo().join("sim_scenes/push_cube.toml"),
            robot: repo().join("robots/so101").display().to_string(),
            rig: Some(repo().join("calibration/sim_default")),
            embedding_model: repo().join("models/prm_base"),
            observation,
            horizon: 5,
            ..EnvSettings::default()
        }
    }

    /// Every training and bench config shipped in `launch/` parses, passes the loader's
    /// checks and holds a learner config the learner accepts; its scene and robot exist.
    #[test]
    fn shipped_training_configs_load_and_validate() {
        let names = [
            "push_cube_train.toml",
            "push_cube_bench.toml",
            "pick_place_train.toml",
            "pick_place_bench.toml",
        ];
        for name in names {
            let path = repo().join("launch").join(name);
            let c = TrainConfig::load(&path).unwrap_or_else(|e| panic!("{name}: {e:#}"));
            assert_eq!(c.learner.run, c.run, "{name}");
            // The sizes come from the task at start-up; any positive ones do for the ranges.
            let mut learner = c.learner.clone();
            (learner.obs_dim, learner.act_dim) = (1, 1);
            learner
                .validate()
                .unwrap_or_else(|e| panic!("{name}: learner: {e}"));
            assert!(repo().join(&c.env.scene).is_file(), "{name}: scene");
            assert!(
                repo().join("robots").join(&c.env.robot).is_dir(),
                "{name}: robot"
            );
        }
        let bench = TrainConfig::load(&repo().join("launch/push_cube_bench.toml")).unwrap();
        assert_eq!((bench.learner.sac.utd, bench.learner.sac.n_step), (4, 3));
    }

    #[test]
    fn embedding_observations_are_proprioception_plus_every_view() {
        if let Err(e @ striatum_render::RenderError::NoAdapter) = Renderer::new() {
            eprintln!("skipped: no Vulkan adapter on this machine ({e})");
            return;
        }
        let s = settings(ObservationKind::Embedding);
        let size = observation_size(&s).unwrap();
        let mut env = SimActorEnv::local(&s, &ShapingConfig::default(), None).unwrap();
        assert_eq!(env.obs_dim(), size);
        let first = env.reset(0).unwrap();
        // Tool (3), gripper (1), six SO-101 joints... plus three views of 128 values.
        assert_eq!(first.obs.len(), size);
        assert!(size > 3 * 128);
        assert!(first.obs.iter().all(|x| x.is_finite()));
        let embedding = &first.obs[size - 3 * 128..];
        assert!(
            embedding.iter().any(|x| *x != 0.0),
            "the cameras were embedded"
        );
        // Moving the arm changes what the cameras see.
        let mut moved = first.clone();
        for _ in 0..3 {
            moved = env.step(&[1.0, 0.0, 1.0, 0.0]).unwrap().next;
        }
        let after = &moved.obs[size - 3 * 128..];
        let change: f32 = embedding
            .iter()
            .zip(after)
            .map(|(a, b)| (a - b).abs())
            .sum();
        assert!(change > 1e-3, "embedding unchanged after moving the arm");
        // The episode is cut at the horizon.
        let mut last = None;
        for _ in 0..5 {
            last = Some(env.step(&[0.0; 4]).unwrap());
            if last.as_ref().unwrap().truncated {
                break;
            }
        }
        assert!(last.unwrap().truncated);
    }

    #[test]
    fn privileged_observations_need_no_cameras() {
        let s = settings(ObservationKind::Privileged);
        let mut env = SimActorEnv::local(&s, &ShapingConfig::default(), None).unwrap();
        assert!(env.vision.is_none());
        let o = env.reset(3).unwrap();
        assert_eq!(o.obs.len(), observation_size(&s).unwrap());
        // Privileged progress of a fresh layout is below done.
        assert!((0.0..0.9).contains(&o.progress));
        let a = env.expert_action().unwrap();
        assert_eq!(a.len(), ACTION_SIZE);
        assert!(a.iter().all(|x| (-1.0..=1.0).contains(x)));
    }

    /// The demonstrations and rescues of a session come from the expert acting through the
    /// policy's action space (translation and gripper): on the Panda's pick_place that expert
    /// must still succeed, or every demonstration is a failure.
    #[test]
    fn the_demonstrator_succeeds_through_the_policy_action_space() {
        let s = EnvSettings {
            scene: repo().join("sim_scenes/pick_place.toml"),
            robot: repo().join("robots/panda").display().to_string(),
            horizon: 150,
            rig: None,
            ..settings(ObservationKind::Privileged)
        };
        let mut env = SimActorEnv::local(&s, &ShapingConfig::default(), None).unwrap();
        let episodes = 8;
        let mut successes = 0;
        for episode in 0..episodes {
            env.reset(episode).unwrap();
            loop {
                let a = env.expert_action().unwrap();
                let step = env.step(&a).unwrap();
                if step.terminated || step.truncated {
                    successes += usize::from(step.success);
                    break;
                }
            }
        }
        assert!(
            successes >= 7,
            "{successes} of {episodes} pick_place demonstrations succeeded"
        );
    }
}
