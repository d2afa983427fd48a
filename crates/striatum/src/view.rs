//! `striatum view`, `striatum data export-rrd` and `striatum viz node`: recordings in Rerun.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use striatum_bus::Bus;
use striatum_viz::{ExportOptions, Logger, NodeOptions, RobotVisual, Sink, export_dataset};

/// Parses `--episodes` lists such as `0,3,5-9`.
pub fn parse_episodes(spec: &str) -> anyhow::Result<Vec<usize>> {
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || anyhow::anyhow!("--episodes: {part:?} is not N or A-B");
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (
                    a.trim().parse().map_err(|_| bad())?,
                    b.trim().parse().map_err(|_| bad())?,
                );
                anyhow::ensure!(a <= b, "--episodes: {part:?} runs backwards");
                out.extend(a..=b);
            }
            None => out.push(part.parse().map_err(|_| bad())?),
        }
    }
    anyhow::ensure!(!out.is_empty(), "--episodes: give at least one index");
    Ok(out)
}

/// Converts episodes of a dataset (or one episode folder) into an `.rrd` file.
pub fn export(
    path: &Path,
    out: &Path,
    episodes: Option<&[usize]>,
    options: &ExportOptions,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let summary = export_dataset(path, episodes, &Sink::Save(out.to_path_buf()), options)
        .with_context(|| format!("exporting {}", path.display()))?;
    let bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    println!(
        "wrote {}: {} episodes, {} steps, {} bytes ({:.1} kB/step{}) in {:.1} s",
        out.display(),
        summary.episodes,
        summary.steps,
        bytes,
        bytes as f64 / summary.steps.max(1) as f64 / 1e3,
        if options.images { "" } else { ", no images" },
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Opens a dataset, an episode or an `.rrd` file in the Rerun viewer (native, or the web
/// viewer on `port` with `web`).
pub fn view(
    path: &Path,
    web: bool,
    port: u16,
    episodes: Option<&[usize]>,
    options: &ExportOptions,
) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(path.exists(), "{} does not exist", path.display());
    let viewer = striatum_viz::viewer_executable().context(
        "no Rerun viewer found: run `make bootstrap` (installs rerun-sdk into .venv) or set STRIATUM_RERUN",
    )?;
    let file = if path.is_file() {
        anyhow::ensure!(
            path.extension().is_some_and(|e| e == "rrd"),
            "{}: expected an .rrd file, a dataset folder or an episode folder",
            path.display()
        );
        path.to_path_buf()
    } else {
        let file = std::env::temp_dir().join(format!(
            "striatum-view-{}-{}.rrd",
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            std::process::id()
        ));
        export(path, &file, episodes, options)?;
        file
    };
    let mut cmd = std::process::Command::new(&viewer);
    if web {
        cmd.args(["--serve-web", "--port"])
            .arg((port + 1).to_string())
            .args(["--web-viewer-port", &port.to_string()]);
        println!(
            "serving the web viewer on port {port} (the address to open follows); Ctrl-C to stop"
        );
    }
    cmd.arg(&file);
    // The viewer replaces this process, so signals (Ctrl-C, kill) reach it directly.
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let err = cmd.exec();
        Err(err).with_context(|| format!("running {}", viewer.display()))
    }
    #[cfg(not(unix))]
    {
        let status = cmd
            .status()
            .with_context(|| format!("running {}", viewer.display()))?;
        Ok(if status.success() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}

/// Runs the logger node until Ctrl-C.
pub async fn node(
    bus: &Bus,
    sink: &Sink,
    robot: &str,
    robots_dir: &Path,
    rig: Option<&Path>,
) -> anyhow::Result<()> {
    let mut intrinsics = std::collections::HashMap::new();
    let mut views = Vec::new();
    if let Some(rig) = rig {
        for cam in
            striatum_sim::load_rig(rig).with_context(|| format!("loading rig {}", rig.display()))?
        {
            intrinsics.insert(cam.name.clone(), [cam.fx, cam.fy, cam.cx, cam.cy]);
            views.push(cam.name.clone());
        }
    }
    let mut logger = Logger::create(sink, &format!("live-{robot}"), &views)?;
    let description = robot_model_dir(robots_dir, robot);
    match description {
        Some(dir) => logger.set_robot(RobotVisual::load(&dir)?)?,
        None => tracing::info!(
            "no robot description for `{robot}` in {}",
            robots_dir.display()
        ),
    }
    println!("logging robot `{robot}` to {sink}; Ctrl-C to stop");
    let options = NodeOptions {
        robot: robot.to_owned(),
        intrinsics,
    };
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let stats = striatum_viz::run_node(bus, &mut logger, &options, stop).await?;
    if let Some(file) = logger.finish()? {
        println!("saved {}", file.display());
    }
    println!(
        "logged {} frames, {} joint states, {} actions, {} progress rewards, {} episode events, {} interventions; {} rejected, {} undecodable, {} dropped behind ({} frames)",
        stats.frames,
        stats.joint_states,
        stats.actions,
        stats.progress,
        stats.episode_events,
        stats.interventions,
        stats.rejected,
        stats.decode_errors,
        stats.dropped,
        stats.frames_dropped
    );
    Ok(())
}

/// The robot description folder for a robot id: `<robots>/<id>` or, for ids such as
/// `so101_0`, `<robots>/so101`.
fn robot_model_dir(robots: &Path, robot: &str) -> Option<PathBuf> {
    let direct = robots.join(robot);
    if direct.join("robot.toml").is_file() {
        return Some(direct);
    }
    let base = robot.trim_end_matches(|c: char| c.is_ascii_digit() || c == '_' || c == '-');
    let dir = robots.join(base);
    dir.join("robot.toml").is_file().then_some(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn episode_lists() {
        assert_eq!(parse_episodes("0,3,5-7").ok(), Some(vec![0, 3, 5, 6, 7]));
        for bad in ["", "x", "3-1", "1-", "-2"] {
            assert!(parse_episodes(bad).is_err(), "{bad:?}");
        }
    }
}
