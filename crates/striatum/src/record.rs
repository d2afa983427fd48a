//! `striatum sim record` (episodes with multi-view camera frames into a dataset) and
//! `striatum data info`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use nalgebra::{Isometry3, UnitQuaternion, Vector3};
use striatum_data::{
    Attachment, CameraMeta, Dataset, EpisodeMeta, EpisodeWriter, ShapeGeometry, ShapeMeta,
};
use striatum_render::{CameraView, Drawable, Intrinsics, Lighting, Primitive, Renderer};
use striatum_sim::{
    Action, CameraConfig, Env, Observation, Rng, ScriptedExpert, Variant, VisualGeometry,
    VisualShape, load_rig, merge_cameras,
};

use crate::sim::robot_path;

/// Domain randomisation switches.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Randomize {
    /// Light direction, colour and ambient level per episode.
    pub light: bool,
    /// Object, table and drawer colours per episode (robot colours stay).
    pub colors: bool,
    /// Camera pose jitter per episode (about 1 cm and 1 degree).
    pub camera: bool,
    /// Gaussian pixel noise (standard deviation 3 of 255) per image.
    pub noise: bool,
}

impl Randomize {
    /// Parses a comma-separated list of `light`, `colors`, `camera`, `noise` (or `all`).
    pub fn parse(list: &str) -> anyhow::Result<Self> {
        let mut r = Randomize::default();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item {
                "light" => r.light = true,
                "colors" | "colours" => r.colors = true,
                "camera" => r.camera = true,
                "noise" => r.noise = true,
                "all" => {
                    r = Randomize {
                        light: true,
                        colors: true,
                        camera: true,
                        noise: true,
                    }
                }
                other => anyhow::bail!(
                    "--randomize: unknown `{other}`; expected light, colors, camera, noise or all"
                ),
            }
        }
        Ok(r)
    }
}

/// Settings of `sim record`.
pub struct RecordArgs {
    /// Scene file.
    pub scene: PathBuf,
    /// Robot name or path.
    pub robot: String,
    /// Episodes per variant.
    pub episodes: u64,
    /// Variants to record.
    pub variants: Vec<Variant>,
    /// First seed (episode `i` of every variant uses `seed + i`).
    pub seed: u64,
    /// Dataset folder.
    pub out: PathBuf,
    /// Camera rig folder (default `calibration/<scene rig>`).
    pub rig: Option<PathBuf>,
    /// Override every camera's resolution (square), scaling its intrinsics.
    pub size: Option<u32>,
    /// Record depth images.
    pub depth: bool,
    /// Domain randomisation.
    pub randomize: Randomize,
    /// Log every recorded episode to Rerun.
    pub rerun: Option<striatum_viz::Sink>,
    /// Observations recorded after the first success while the expert carries on (it holds
    /// the tool at the target, releases and retreats, ...): done frames for reward models.
    pub hold: usize,
    /// End episodes that have not succeeded after this many steps (default: the scene's limit).
    pub max_steps: Option<usize>,
}

/// The cameras of a scene: its rig plus the scene's own cameras, optionally resized.
pub fn scene_cameras(
    env: &Env,
    rig: Option<&Path>,
    size: Option<u32>,
) -> anyhow::Result<Vec<CameraConfig>> {
    let dir = rig.map_or_else(
        || Path::new("calibration").join(&env.scene().rig),
        Path::to_path_buf,
    );
    let mut cameras = merge_cameras(
        load_rig(&dir).with_context(|| format!("loading the camera rig {}", dir.display()))?,
        &env.scene().cameras,
    );
    if let Some(s) = size {
        anyhow::ensure!(s > 0 && s <= 4096, "--size must be 1..=4096 pixels");
        for c in &mut cameras {
            let (sx, sy) = (
                f64::from(s) / f64::from(c.width),
                f64::from(s) / f64::from(c.height),
            );
            c.fx *= sx;
            c.cx *= sx;
            c.fy *= sy;
            c.cy *= sy;
            c.width = s;
            c.height = s;
        }
    }
    anyhow::ensure!(
        !cameras.is_empty(),
        "the rig {} has no cameras",
        dir.display()
    );
    Ok(cameras)
}

/// Converts the simulator's shapes to the renderer's.
pub fn drawables(shapes: &[VisualShape], color_shift: &dyn Fn(&str) -> [f64; 3]) -> Vec<Drawable> {
    shapes
        .iter()
        .map(|s| {
            let primitive = match s.geometry {
                VisualGeometry::Box { half_extents: h } => Primitive::Box {
                    half_extents: [h[0] as f32, h[1] as f32, h[2] as f32],
                },
                VisualGeometry::Cylinder {
                    radius,
                    half_height,
                } => Primitive::Cylinder {
                    radius: radius as f32,
                    half_height: half_height as f32,
                },
                VisualGeometry::Sphere { radius } => Primitive::Sphere {
                    radius: radius as f32,
                },
            };
            let shift = color_shift(&s.name);
            let color = [0, 1, 2].map(|k| (s.color[k] + shift[k]).clamp(0.0, 1.0) as f32);
            Drawable {
                primitive,
                pose: s.pose,
                color,
                checker: None,
            }
        })
        .collect()
}

/// The scene's visible shapes besides the robot, with what moves each, for viewers.
pub fn scene_shapes(env: &Env, color_shift: &dyn Fn(&str) -> [f64; 3]) -> Vec<ShapeMeta> {
    let robot = env.robot();
    let scene = env.scene();
    let world = env.world();
    env.visual_shapes()
        .into_iter()
        .filter(|s| robot.urdf.link(&s.name).is_none())
        .map(|s| {
            let attached = if let Some(index) = scene.objects.iter().position(|o| o.name == s.name)
            {
                Attachment::Object { index }
            } else if let Some(index) = scene.fixtures.iter().position(|f| f.name() == s.name) {
                let axis = world
                    .and_then(|w| w.drawer_pull(&s.name))
                    .unwrap_or([0.0; 3]);
                Attachment::Fixture { index, axis }
            } else {
                Attachment::Static
            };
            let geometry = match s.geometry {
                VisualGeometry::Box { half_extents } => ShapeGeometry::Box { half_extents },
                VisualGeometry::Cylinder {
                    radius,
                    half_height,
                } => ShapeGeometry::Cylinder {
                    radius,
                    half_height,
                },
                VisualGeometry::Sphere { radius } => ShapeGeometry::Sphere { radius },
            };
            let shift = color_shift(&s.name);
            let t = s.pose.translation.vector;
            let q = s.pose.rotation.coords;
            ShapeMeta {
                name: s.name,
                geometry,
                color: [0, 1, 2].map(|k| (s.color[k] + shift[k]).clamp(0.0, 1.0)),
                pose: [t[0], t[1], t[2], q[0], q[1], q[2], q[3]],
                attached,
            }
        })
        .collect()
}

/// Camera views at the current state.
pub fn camera_views(
    env: &Env,
    cameras: &[CameraConfig],
    jitter: &[Isometry3<f64>],
) -> anyhow::Result<Vec<CameraView>> {
    let poses = env.camera_poses(cameras)?;
    Ok(cameras
        .iter()
        .zip(poses)
        .enumerate()
        .map(|(i, (c, pose))| CameraView {
            name: c.name.clone(),
            intrinsics: Intrinsics {
                fx: c.fx,
                fy: c.fy,
                cx: c.cx,
                cy: c.cy,
                width: c.width,
                height: c.height,
            },
            world_from_camera: pose * jitter.get(i).copied().unwrap_or_else(Isometry3::identity),
        })
        .collect())
}

fn pose7(p: &Isometry3<f64>) -> [f64; 7] {
    let t = p.translation.vector;
    let q = p.rotation.coords;
    [t[0], t[1], t[2], q[0], q[1], q[2], q[3]]
}

fn record_obs(
    obs: &Observation,
    progress: f64,
    stage: usize,
    views: &[CameraView],
    frames: Vec<striatum_render::Frame>,
    depth: bool,
    noise: Option<&mut Rng>,
) -> striatum_data::Observation {
    let mut noise = noise;
    let (objects, fixtures) = crate::sim::objects_of(obs);
    striatum_data::Observation {
        joint_positions: obs.joint_positions.clone(),
        joint_velocities: obs.joint_velocities.clone(),
        ee_pose: [
            obs.ee_position[0],
            obs.ee_position[1],
            obs.ee_position[2],
            obs.ee_orientation[0],
            obs.ee_orientation[1],
            obs.ee_orientation[2],
            obs.ee_orientation[3],
        ],
        gripper: obs.gripper,
        progress,
        stage: stage as i32,
        objects,
        fixtures,
        camera_poses: views.iter().map(|v| pose7(&v.world_from_camera)).collect(),
        images: frames
            .into_iter()
            .map(|f| {
                let mut rgb = f.rgb;
                if let Some(rng) = noise.as_deref_mut() {
                    for v in &mut rgb {
                        *v = (f64::from(*v) + 3.0 * rng.normal())
                            .round()
                            .clamp(0.0, 255.0) as u8;
                    }
                }
                striatum_data::Image {
                    width: f.width,
                    height: f.height,
                    rgb,
                    depth: depth.then_some(f.depth),
                }
            })
            .collect(),
    }
}

/// Records the episodes; prints one line per episode and a summary.
pub fn record(args: &RecordArgs) -> anyhow::Result<()> {
    let mut env = Env::load(&args.scene, robot_path(&args.robot))
        .with_context(|| format!("loading {} with robot {}", args.scene.display(), args.robot))?;
    let cameras = scene_cameras(&env, args.rig.as_deref(), args.size)?;
    let mut renderer = Renderer::new().context("starting the renderer")?;
    striatum_data::create(&args.out)
        .with_context(|| format!("preparing the dataset folder {}", args.out.display()))?;
    println!(
        "recording {} x {} episodes of {} with {} into {} ({}; cameras {})",
        args.variants.len(),
        args.episodes,
        env.scene().name,
        env.robot().config.name,
        args.out.display(),
        renderer.adapter_info(),
        cameras
            .iter()
            .map(|c| format!("{} {}x{}", c.name, c.width, c.height))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let started = Instant::now();
    let mut total_steps = 0usize;
    let mut viz = match &args.rerun {
        Some(sink) => {
            let views: Vec<String> = cameras.iter().map(|c| c.name.clone()).collect();
            let mut logger = striatum_viz::Logger::create(
                sink,
                &format!("record-{}-{}", env.scene().name, env.robot().config.name),
                &views,
            )?;
            logger.set_robot(striatum_viz::RobotVisual::new(env.robot().clone()))?;
            Some(logger)
        }
        None => None,
    };
    let mut logged = 0u64;
    for variant in &args.variants {
        for i in 0..args.episodes {
            let seed = args.seed + i;
            let steps = record_episode(&mut env, &mut renderer, &cameras, *variant, seed, args)?;
            if let Some(logger) = viz.as_mut() {
                // What is logged is what was written: the episode read back from disk.
                let episode = striatum_data::load_episode(&steps.2, true)?;
                striatum_viz::log_episode(logger, logged, &episode, 0.99)?;
                logged += 1;
            }
            total_steps += steps.0;
            println!(
                "  {:<8} seed {:>5}: {:>4} steps, {}",
                variant.name(),
                seed,
                steps.0,
                if steps.1 { "success" } else { "no success" }
            );
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "recorded {total_steps} steps in {secs:.1} s ({:.0} steps/s with rendering)",
        total_steps as f64 / secs
    );
    if let Some(logger) = viz
        && let Some(file) = logger.finish()?
    {
        println!("saved {}", file.display());
    }
    Ok(())
}

fn record_episode(
    env: &mut Env,
    renderer: &mut Renderer,
    cameras: &[CameraConfig],
    variant: Variant,
    seed: u64,
    args: &RecordArgs,
) -> anyhow::Result<(usize, bool, PathBuf)> {
    let mut rng = Rng::new(seed ^ 0xD0_4A1A);
    let randomize = args.randomize;
    let lighting = if randomize.light {
        let az = rng.symmetric(std::f64::consts::PI);
        let el = 0.6 + rng.uniform() * 0.6;
        let level = 0.7 + rng.uniform() * 0.5;
        Lighting {
            direction: [
                -(el.cos() * az.cos()) as f32,
                -(el.cos() * az.sin()) as f32,
                -el.sin() as f32,
            ],
            color: [level as f32; 3],
            ambient: [(0.2 + rng.uniform() * 0.2) as f32; 3],
        }
    } else {
        Lighting::default()
    };
    let shifts: std::collections::HashMap<String, [f64; 3]> = if randomize.colors {
        let mut names: Vec<String> = env.scene().objects.iter().map(|o| o.name.clone()).collect();
        names.push("table".into());
        names.extend(env.scene().fixtures.iter().map(|f| f.name().to_owned()));
        names
            .into_iter()
            .map(|n| {
                let s = [
                    rng.symmetric(0.12),
                    rng.symmetric(0.12),
                    rng.symmetric(0.12),
                ];
                (n, s)
            })
            .collect()
    } else {
        Default::default()
    };
    let shift = |name: &str| shifts.get(name).copied().unwrap_or([0.0; 3]);
    let jitter: Vec<Isometry3<f64>> = cameras
        .iter()
        .map(|_| {
            if randomize.camera {
                Isometry3::from_parts(
                    Vector3::new(
                        rng.symmetric(0.01),
                        rng.symmetric(0.01),
                        rng.symmetric(0.01),
                    )
                    .into(),
                    UnitQuaternion::from_euler_angles(
                        rng.symmetric(0.017),
                        rng.symmetric(0.017),
                        rng.symmetric(0.017),
                    ),
                )
            } else {
                Isometry3::identity()
            }
        })
        .collect();
    let mut noise_rng = randomize.noise.then(|| Rng::new(seed ^ 0x0015_E000));

    let mut obs = env.reset(seed)?;
    let robot = env.robot();
    let meta = EpisodeMeta {
        scene: env.scene().name.clone(),
        robot: robot.config.name.clone(),
        seed,
        variant: variant.name().to_owned(),
        instruction: obs.instruction.clone(),
        success: false,
        control_hz: env.scene().control_hz,
        stage_names: env.scene().stages.iter().map(|s| s.name.clone()).collect(),
        joint_names: robot.config.joints.iter().map(|j| j.name.clone()).collect(),
        object_names: env.scene().objects.iter().map(|o| o.name.clone()).collect(),
        fixture_names: env
            .scene()
            .fixtures
            .iter()
            .map(|f| f.name().to_owned())
            .collect(),
        cameras: cameras
            .iter()
            .map(|c| CameraMeta {
                name: c.name.clone(),
                width: c.width,
                height: c.height,
                fx: c.fx,
                fy: c.fy,
                cx: c.cx,
                cy: c.cy,
                distortion: c.distortion,
                parent: c.extrinsics.parent.clone(),
                depth: args.depth,
            })
            .collect(),
        shapes: scene_shapes(env, &shift),
    };
    let mut writer = EpisodeWriter::begin(&args.out, meta)?;
    let mut expert = ScriptedExpert::new(env.scene(), env.robot(), variant, seed);
    let mut info = None;
    let first = env.evaluate().context("no episode")?;
    let (mut progress, mut stage) = (first.value, first.stage);
    let mut steps = 0;
    let mut ended = false;
    let (mut succeeded, mut hold_left) = (false, 0usize);
    env.set_continue_after_done(args.hold > 0);
    // T + 1 observations: after reset and after each action, the last one included.
    loop {
        let views = camera_views(env, cameras, &jitter)?;
        let frames =
            renderer.render(&drawables(&env.visual_shapes(), &shift), &views, &lighting)?;
        writer.observe(record_obs(
            &obs,
            progress,
            stage,
            &views,
            frames,
            args.depth,
            noise_rng.as_mut(),
        ))?;
        if ended {
            break;
        }
        let action: Action = expert.act(&obs, info.as_ref());
        let step = env.step(&action)?;
        let flat = action.ee_to_vec().unwrap_or_else(|| vec![0.0; 7]);
        writer.act(
            [
                flat[0], flat[1], flat[2], flat[3], flat[4], flat[5], flat[6],
            ],
            step.reward,
        )?;
        steps += 1;
        progress = step.info.progress;
        stage = step.info.stage;
        if succeeded {
            hold_left = hold_left.saturating_sub(1);
        } else if step.info.success {
            succeeded = true;
            hold_left = args.hold;
        }
        ended = if succeeded {
            hold_left == 0
        } else {
            step.truncated || args.max_steps.is_some_and(|m| steps >= m)
        };
        obs = step.obs;
        info = Some(step.info);
    }
    env.set_continue_after_done(false);
    let success = succeeded;
    writer.set_success(success);
    let dir = writer.finish()?;
    Ok((steps, success, dir))
}

/// Prints a dataset summary (or JSON).
pub fn info(dir: &Path, json: bool) -> anyhow::Result<String> {
    let ds =
        Dataset::open(dir).with_context(|| format!("opening the dataset {}", dir.display()))?;
    let s = striatum_data::summarize(&ds)?;
    if json {
        return Ok(serde_json::to_string_pretty(&s)? + "\n");
    }
    let mut out = String::new();
    writeln!(out, "dataset {}", dir.display())?;
    writeln!(
        out,
        "  {} episodes, {} steps, {:.1} MB on disk ({:.1} kB per step)",
        s.episodes,
        s.steps,
        s.bytes as f64 / 1e6,
        if s.steps > 0 {
            s.bytes as f64 / 1e3 / s.steps as f64
        } else {
            0.0
        }
    )?;
    writeln!(out, "  cameras: {}", s.cameras.join(", "))?;
    writeln!(
        out,
        "  {:<36} {:>8} {:>8} {:>10}",
        "scene/robot/variant", "episodes", "success", "mean len"
    )?;
    for (k, g) in &s.groups {
        writeln!(
            out,
            "  {:<36} {:>8} {:>7.0}% {:>10.1}",
            k,
            g.episodes,
            100.0 * g.successes as f64 / g.episodes.max(1) as f64,
            g.mean_steps
        )?;
    }
    Ok(out)
}

/// Measures rendering with physics running: for each image size, control steps per second of
/// an environment that renders every camera after every step, and the multi-view frames per
/// second that implies. Random end-effector actions; episodes reset when they end.
pub fn bench_render(
    scenes: &[PathBuf],
    robots: &[String],
    steps: usize,
    repeats: usize,
) -> anyhow::Result<String> {
    let mut out = String::new();
    let mut renderer = Renderer::new().context("starting the renderer")?;
    writeln!(
        out,
        "render bench: {} ({} steps per measurement, median of {repeats})",
        renderer.adapter_info(),
        steps
    )?;
    writeln!(
        out,
        "{:<12} {:<6} {:>6} {:>6} {:>16} {:>16} {:>14}",
        "scene", "robot", "views", "size", "env steps/s", "frames/s only", "views/s only"
    )?;
    for scene in scenes {
        for robot in robots {
            let mut env = match Env::load(scene, robot_path(robot)) {
                Ok(env) => env,
                Err(striatum_sim::EnvError::Scene(
                    striatum_sim::SceneError::UnsupportedRobot { .. },
                )) => continue,
                Err(e) => return Err(e).with_context(|| format!("loading {}", scene.display())),
            };
            for size in [128u32, 224] {
                let cameras = scene_cameras(&env, None, Some(size))?;
                let no_shift = |_: &str| [0.0; 3];
                let mut with = Vec::new();
                let mut only = Vec::new();
                for _ in 0..repeats {
                    let mut rng = Rng::new(5);
                    env.reset(0)?;
                    let mut render_time = 0.0;
                    let start = Instant::now();
                    let mut episode = 0;
                    for _ in 0..steps {
                        let s = env.step(&crate::sim::random_action(&mut rng))?;
                        if s.terminated || s.truncated {
                            episode += 1;
                            env.reset(episode)?;
                        }
                        let r = Instant::now();
                        let views = camera_views(&env, &cameras, &[])?;
                        let frames = renderer.render(
                            &drawables(&env.visual_shapes(), &no_shift),
                            &views,
                            &Lighting::default(),
                        )?;
                        std::hint::black_box(frames);
                        render_time += r.elapsed().as_secs_f64();
                    }
                    with.push(steps as f64 / start.elapsed().as_secs_f64());
                    only.push(steps as f64 / render_time);
                }
                let median = crate::sim::median;
                let frames = median(only);
                writeln!(
                    out,
                    "{:<12} {:<6} {:>6} {:>6} {:>16.0} {:>16.0} {:>14.0}",
                    env.scene().name,
                    env.robot().config.name,
                    cameras.len(),
                    format!("{size}px"),
                    median(with),
                    frames,
                    frames * cameras.len() as f64
                )?;
            }
        }
    }
    writeln!(
        out,
        "env steps/s: physics, control and rendering every view after every step; frames/s only: \
         rendering alone (scene conversion, draw, read-back) per multi-view frame"
    )?;
    Ok(out)
}
