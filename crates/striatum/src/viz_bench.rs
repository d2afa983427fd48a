//! `striatum bench viz`: the cost of logging recorded episodes to an `.rrd`, per step, with and
//! without camera images.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use striatum_data::{Dataset, load_episode};
use striatum_viz::{Logger, RobotVisual, Sink, log_episode};

/// Logs every episode of `data` `repeats` times per configuration and returns a table of
/// medians: time spent in the logging calls per step (the caller's overhead; encoding and
/// writing happen on Rerun's threads), time per step until everything is flushed to disk,
/// and `.rrd` bytes per step.
pub fn viz_overhead(data: &Path, robots: &Path, repeats: usize) -> anyhow::Result<String> {
    let dataset = Dataset::open(data).with_context(|| format!("opening {}", data.display()))?;
    let episodes = dataset
        .episodes()
        .iter()
        .map(|e| load_episode(e, true))
        .collect::<Result<Vec<_>, _>>()?;
    anyhow::ensure!(!episodes.is_empty(), "{}: no episodes", data.display());
    let meta = &episodes[0].meta;
    let views: Vec<String> = meta.cameras.iter().map(|c| c.name.clone()).collect();
    let robot = RobotVisual::load(robots.join(&meta.robot))?;
    let steps: usize = episodes.iter().map(|e| e.observations.len()).sum();
    let tmp = std::env::temp_dir().join(format!("striatum-viz-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let mut out = String::new();
    writeln!(
        out,
        "logging {} episodes, {steps} steps of {} with {} ({} views {}x{}) to .rrd, median of {repeats}",
        episodes.len(),
        meta.scene,
        meta.robot,
        views.len(),
        meta.cameras[0].width,
        meta.cameras[0].height
    )?;
    writeln!(
        out,
        "{:<22} {:>16} {:>20} {:>14}",
        "content", "log calls us/step", "until flushed us/step", "bytes/step"
    )?;
    for images in [true, false] {
        let stripped: Vec<_> = episodes
            .iter()
            .map(|e| {
                let mut e = e.clone();
                if !images {
                    for o in &mut e.observations {
                        for i in &mut o.images {
                            i.rgb.clear();
                            i.depth = None;
                        }
                    }
                }
                e
            })
            .collect();
        let (mut calls, mut total, mut bytes) = (Vec::new(), Vec::new(), 0u64);
        for r in 0..repeats {
            let file = tmp.join(format!("bench-{images}-{r}.rrd"));
            let mut logger = Logger::create(&Sink::Save(file.clone()), "bench", &views)?;
            logger.set_robot(robot.clone())?;
            let started = Instant::now();
            for (i, e) in stripped.iter().enumerate() {
                log_episode(&mut logger, i as u64, e, 0.99)?;
            }
            calls.push(started.elapsed().as_secs_f64() * 1e6 / steps as f64);
            logger.finish()?;
            total.push(started.elapsed().as_secs_f64() * 1e6 / steps as f64);
            bytes = std::fs::metadata(&file)?.len();
            std::fs::remove_file(&file)?;
        }
        writeln!(
            out,
            "{:<22} {:>16.0} {:>20.0} {:>14.0}",
            if images {
                "rgb + depth + state"
            } else {
                "state only"
            },
            crate::sim::median(calls),
            crate::sim::median(total),
            bytes as f64 / steps as f64
        )?;
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(out)
}
