//! Running whole episodes and summarising them.

use crate::env::{Action, Env, EnvError, Observation, StepInfo};
use crate::expert::{ScriptedExpert, Variant};

/// What one episode came to.
#[derive(Debug, Clone, PartialEq)]
pub struct EpisodeSummary {
    /// The reset seed.
    pub seed: u64,
    /// Whether it ended in success.
    pub success: bool,
    /// Control steps taken.
    pub steps: usize,
    /// Privileged progress at the end.
    pub final_progress: f64,
    /// Highest privileged progress seen.
    pub max_progress: f64,
    /// Stage at the end.
    pub final_stage: usize,
}

/// Runs one episode from `seed`, asking `policy` for every action (it receives the latest
/// observation and the info of the step that produced it, `None` right after reset).
pub fn run_episode(
    env: &mut Env,
    seed: u64,
    policy: &mut dyn FnMut(&Observation, Option<&StepInfo>) -> Action,
) -> Result<EpisodeSummary, EnvError> {
    let mut obs = env.reset(seed)?;
    let start = env.evaluate().map_or(0.0, |p| p.value);
    let mut info: Option<StepInfo> = None;
    let mut max_progress = start;
    let mut steps = 0;
    loop {
        let action = policy(&obs, info.as_ref());
        let step = env.step(&action)?;
        steps += 1;
        max_progress = max_progress.max(step.info.progress);
        let end = step.terminated || step.truncated;
        obs = step.obs;
        info = Some(step.info);
        if end {
            break;
        }
    }
    let info = info.ok_or(EnvError::NotRunning)?;
    Ok(EpisodeSummary {
        seed,
        success: info.success,
        steps,
        final_progress: info.progress,
        max_progress,
        final_stage: info.stage,
    })
}

/// Runs the scene's scripted expert (in the given variant) for one episode.
pub fn run_expert(env: &mut Env, variant: Variant, seed: u64) -> Result<EpisodeSummary, EnvError> {
    let mut expert = ScriptedExpert::new(env.scene(), env.robot(), variant, seed);
    run_episode(env, seed, &mut |obs, info| expert.act(obs, info))
}

/// Statistics over episodes.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Episodes.
    pub episodes: usize,
    /// Fraction that succeeded.
    pub success_rate: f64,
    /// Mean episode length (control steps).
    pub mean_steps: f64,
    /// Mean length of the successful ones.
    pub mean_success_steps: f64,
    /// Mean final progress.
    pub mean_final_progress: f64,
    /// Mean highest progress.
    pub mean_max_progress: f64,
}

impl Summary {
    /// Summarises episodes (zeros for none).
    pub fn of(episodes: &[EpisodeSummary]) -> Self {
        let n = episodes.len().max(1) as f64;
        let wins: Vec<&EpisodeSummary> = episodes.iter().filter(|e| e.success).collect();
        Self {
            episodes: episodes.len(),
            success_rate: wins.len() as f64 / n,
            mean_steps: episodes.iter().map(|e| e.steps as f64).sum::<f64>() / n,
            mean_success_steps: wins.iter().map(|e| e.steps as f64).sum::<f64>()
                / wins.len().max(1) as f64,
            mean_final_progress: episodes.iter().map(|e| e.final_progress).sum::<f64>() / n,
            mean_max_progress: episodes.iter().map(|e| e.max_progress).sum::<f64>() / n,
        }
    }
}
