//! Launch files: a session's nodes, started as child processes in the order listed, their
//! output prefixed and kept in `<run_dir>/logs/<node>.log`, and stopped cleanly (SIGINT in
//! reverse order, then SIGKILL after a grace period) on Ctrl-C, after the session's time limit,
//! when a node that ends the session exits, or when a required node fails.
//!
//! ```toml
//! name = "sim_train"
//! run_dir = "runs/${name}"
//! max_duration_s = 840.0
//!
//! [[nodes]]
//! name = "reward"
//! args = ["reward", "serve", "--model", "models/prm_base"]
//!
//! [[nodes]]
//! name = "actor0"
//! args = ["rl", "actor", "--config", "launch/push_cube.toml", "--run-dir", "${run_dir}"]
//! ends_session = true
//! ```

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// What can go wrong with a launch file or a session.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The launch file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The launch file is not valid TOML or does not match the schema.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (names the key).
        message: String,
    },
    /// The launch file parsed but says something impossible.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A node could not be started, signalled or waited for.
    #[error("node `{node}`: {message}")]
    Node {
        /// The node.
        node: String,
        /// What failed.
        message: String,
    },
    /// The run folder or a log file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// One node of a session: a command line of the session's program (by default the `striatum`
/// binary itself).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Unique name: the output prefix and the log file's name.
    pub name: String,
    /// Arguments; `${name}` and `${run_dir}` are replaced by the session's values.
    pub args: Vec<String>,
    /// Program to run instead of the session's program.
    #[serde(default)]
    pub program: Option<PathBuf>,
    /// Seconds to wait after starting this node before starting the next.
    #[serde(default)]
    pub start_delay_s: f64,
    /// The session ends (every other node is stopped) when this node exits.
    #[serde(default)]
    pub ends_session: bool,
    /// A non-zero exit of this node stops the session (default true).
    #[serde(default = "yes")]
    pub required: bool,
    /// Extra environment variables.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

/// A launch file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchFile {
    /// Session name (`${name}` in arguments).
    pub name: String,
    /// Folder for the session's outputs (`${run_dir}`); may use `${name}`.
    pub run_dir: String,
    /// Stop the session after this many seconds (none: run until stopped).
    #[serde(default)]
    pub max_duration_s: Option<f64>,
    /// Seconds a node has to exit after SIGINT before it is killed.
    #[serde(default = "default_grace")]
    pub grace_s: f64,
    /// Environment variables of every node (a node's own `env` wins).
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// The nodes, started in this order and stopped in reverse.
    pub nodes: Vec<NodeSpec>,
}

fn default_grace() -> f64 {
    30.0
}

impl LaunchFile {
    /// Reads and checks a launch file.
    pub fn load(path: &Path) -> Result<Self, LaunchError> {
        let text = std::fs::read_to_string(path).map_err(|source| LaunchError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and checks launch-file text (`path` names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Self, LaunchError> {
        let file: LaunchFile = toml::from_str(text).map_err(|e| LaunchError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        file.validate(path)?;
        Ok(file)
    }

    fn validate(&self, path: &Path) -> Result<(), LaunchError> {
        let bad = |message: String| {
            Err(LaunchError::Invalid {
                path: path.to_owned(),
                message,
            })
        };
        if !is_plain_name(&self.name) {
            return bad(format!(
                "name `{}` must be non-empty letters, digits, `_` or `-`",
                self.name
            ));
        }
        if self.run_dir.trim().is_empty() {
            return bad("run_dir is empty".into());
        }
        if self.nodes.is_empty() {
            return bad("no [[nodes]]".into());
        }
        if let Some(d) = self.max_duration_s
            && !(d > 0.0 && d.is_finite())
        {
            return bad(format!("max_duration_s {d} is not a positive number"));
        }
        if !(self.grace_s >= 0.0 && self.grace_s.is_finite()) {
            return bad(format!("grace_s {} is not >= 0", self.grace_s));
        }
        let mut seen = BTreeSet::new();
        for n in &self.nodes {
            if !is_plain_name(&n.name) {
                return bad(format!(
                    "node name `{}` must be non-empty letters, digits, `_` or `-`",
                    n.name
                ));
            }
            if !seen.insert(n.name.as_str()) {
                return bad(format!("node `{}` is listed twice", n.name));
            }
            if n.args.is_empty() && n.program.is_none() {
                return bad(format!("node `{}` has no args and no program", n.name));
            }
            if !(n.start_delay_s >= 0.0 && n.start_delay_s.is_finite()) {
                return bad(format!(
                    "node `{}`: start_delay_s {} is not >= 0",
                    n.name, n.start_delay_s
                ));
            }
        }
        Ok(())
    }

    /// The run folder with `${name}` replaced.
    pub fn run_dir(&self) -> PathBuf {
        PathBuf::from(self.run_dir.replace("${name}", &self.name))
    }

    /// A node's arguments with `${name}` and `${run_dir}` replaced.
    pub fn expand(&self, node: &NodeSpec) -> Vec<String> {
        let run_dir = self.run_dir().to_string_lossy().into_owned();
        node.args
            .iter()
            .map(|a| {
                a.replace("${run_dir}", &run_dir)
                    .replace("${name}", &self.name)
            })
            .collect()
    }
}

fn is_plain_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// Ctrl-C (or the caller's stop flag).
    Interrupted,
    /// The session's `max_duration_s` passed.
    TimeLimit,
    /// A node marked `ends_session` exited.
    NodeFinished(String),
    /// A required node exited with failure.
    NodeFailed(String),
}

/// How one node ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeExit {
    /// The node.
    pub name: String,
    /// Its exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// It had to be killed after the grace period.
    pub killed: bool,
}

/// What a session did.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionReport {
    /// Why it stopped.
    pub reason: StopReason,
    /// Every node's exit, in start order.
    pub exits: Vec<NodeExit>,
    /// Wall time in seconds.
    pub seconds: f64,
}

impl SessionReport {
    /// Whether every node exited cleanly (code 0, or stopped by our SIGINT) and the session
    /// did not stop for a failure.
    pub fn clean(&self) -> bool {
        !matches!(self.reason, StopReason::NodeFailed(_))
            && self
                .exits
                .iter()
                .all(|e| !e.killed && e.code.is_none_or(|c| c == 0 || c == 130))
    }
}

struct Running {
    name: String,
    child: Child,
    status: Option<ExitStatus>,
    killed: bool,
    pumps: Vec<JoinHandle<()>>,
}

/// Where node output goes besides its log file.
pub type Echo = Arc<Mutex<dyn Write + Send>>;

fn pump(
    name: String,
    source: impl Read + Send + 'static,
    log: Arc<Mutex<File>>,
    echo: Option<Echo>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let reader = BufReader::new(source);
        for line in reader.split(b'\n') {
            let Ok(line) = line else { break };
            let text = String::from_utf8_lossy(&line);
            // Progress bars redraw with carriage returns: keep the last state of the line.
            let text = text.rsplit('\r').next().unwrap_or("");
            if let Ok(mut f) = log.lock() {
                let _ = writeln!(f, "{text}");
            }
            if let Some(echo) = &echo
                && let Ok(mut out) = echo.lock()
            {
                let _ = writeln!(out, "[{name}] {text}");
                let _ = out.flush();
            }
        }
    })
}

/// Runs a session: creates the run folder (with a copy of the launch file as `launch.toml`),
/// starts the nodes in order with `program` (unless a node names its own), and supervises them
/// until a stop condition; then stops what is still running in reverse order. `stop` is the
/// caller's Ctrl-C flag.
pub fn run_session(
    file: &LaunchFile,
    source: &Path,
    program: &Path,
    stop: &AtomicBool,
    echo: Option<Echo>,
) -> Result<SessionReport, LaunchError> {
    let started = Instant::now();
    let run_dir = file.run_dir();
    let logs = run_dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(|source| LaunchError::Io {
        path: logs.clone(),
        source,
    })?;
    if let Ok(text) = std::fs::read_to_string(source) {
        write_atomic(&run_dir.join("launch.toml"), text.as_bytes())?;
    }
    let mut running: Vec<Running> = Vec::new();
    let mut reason = None;
    for spec in &file.nodes {
        if stop.load(Ordering::Relaxed) {
            reason = Some(StopReason::Interrupted);
            break;
        }
        match start(file, spec, program, &logs, echo.clone()) {
            Ok(r) => running.push(r),
            Err(e) => {
                stop_all(&mut running, file.grace_s);
                return Err(e);
            }
        }
        let delay = Instant::now();
        while delay.elapsed().as_secs_f64() < spec.start_delay_s {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let deadline = file.max_duration_s.map(Duration::from_secs_f64);
    while reason.is_none() {
        if stop.load(Ordering::Relaxed) {
            reason = Some(StopReason::Interrupted);
            break;
        }
        if deadline.is_some_and(|d| started.elapsed() >= d) {
            reason = Some(StopReason::TimeLimit);
            break;
        }
        for r in &mut running {
            if r.status.is_some() {
                continue;
            }
            let status = r.child.try_wait().map_err(|e| LaunchError::Node {
                node: r.name.clone(),
                message: format!("waiting: {e}"),
            })?;
            if let Some(s) = status {
                r.status = Some(s);
                let spec = file.nodes.iter().find(|n| n.name == r.name);
                if spec.is_some_and(|n| n.ends_session) {
                    reason = Some(StopReason::NodeFinished(r.name.clone()));
                } else if !s.success() && spec.is_some_and(|n| n.required) {
                    reason = Some(StopReason::NodeFailed(r.name.clone()));
                }
            }
        }
        if running.iter().all(|r| r.status.is_some()) && reason.is_none() {
            reason = Some(StopReason::NodeFinished("all nodes".into()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    stop_all(&mut running, file.grace_s);
    let exits = running
        .into_iter()
        .map(|mut r| {
            for p in r.pumps.drain(..) {
                let _ = p.join();
            }
            NodeExit {
                name: r.name,
                code: r.status.and_then(|s| s.code()),
                killed: r.killed,
            }
        })
        .collect();
    Ok(SessionReport {
        reason: reason.unwrap_or(StopReason::Interrupted),
        exits,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn start(
    file: &LaunchFile,
    spec: &NodeSpec,
    program: &Path,
    logs: &Path,
    echo: Option<Echo>,
) -> Result<Running, LaunchError> {
    use std::os::unix::process::CommandExt;
    let log_path = logs.join(format!("{}.log", spec.name));
    let log = File::create(&log_path).map_err(|source| LaunchError::Io {
        path: log_path.clone(),
        source,
    })?;
    let log = Arc::new(Mutex::new(log));
    let mut cmd = Command::new(spec.program.as_deref().unwrap_or(program));
    cmd.args(file.expand(spec))
        .envs(&file.env)
        .envs(&spec.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: the terminal's Ctrl-C reaches only the launcher, which stops
        // the nodes in order.
        .process_group(0);
    default_stop_signals(&mut cmd);
    let mut child = cmd.spawn().map_err(|e| LaunchError::Node {
        node: spec.name.clone(),
        message: format!(
            "could not start {}: {e}",
            spec.program.as_deref().unwrap_or(program).display()
        ),
    })?;
    let mut pumps = Vec::new();
    if let Some(out) = child.stdout.take() {
        pumps.push(pump(spec.name.clone(), out, log.clone(), echo.clone()));
    }
    if let Some(err) = child.stderr.take() {
        pumps.push(pump(spec.name.clone(), err, log, echo));
    }
    Ok(Running {
        name: spec.name.clone(),
        child,
        status: None,
        killed: false,
        pumps,
    })
}

/// Starts the node with SIGINT and SIGTERM at their default actions. A launcher started as a
/// background job of a non-interactive shell inherits SIGINT ignored, and `exec` keeps ignored
/// signals ignored: a shell or Python node could then not trap the clean stop, and would be
/// killed after the grace period without saving.
#[allow(unsafe_code)]
fn default_stop_signals(cmd: &mut Command) {
    use nix::sys::signal::{SigHandler, Signal, signal};
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec the hook only calls sigaction(2), which is
    // async-signal-safe, and allocates nothing; the previous handlers it replaces belong to
    // the child's copy of this process, which runs none of them before exec.
    unsafe {
        cmd.pre_exec(|| {
            for s in [Signal::SIGINT, Signal::SIGTERM] {
                signal(s, SigHandler::SigDfl).map_err(std::io::Error::from)?;
            }
            Ok(())
        });
    }
}

fn stop_all(running: &mut [Running], grace_s: f64) {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    for r in running.iter_mut().rev() {
        if r.status.is_some() {
            continue;
        }
        if let Ok(Some(s)) = r.child.try_wait() {
            r.status = Some(s);
            continue;
        }
        // Each node leads its own process group: signal the group, so helpers it started
        // stop with it and nothing keeps its output pipes open.
        let group = Pid::from_raw(r.child.id() as i32);
        let _ = killpg(group, Signal::SIGINT);
        let asked = Instant::now();
        loop {
            match r.child.try_wait() {
                Ok(Some(s)) => {
                    r.status = Some(s);
                    break;
                }
                Ok(None) if asked.elapsed().as_secs_f64() < grace_s => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                _ => {
                    let _ = killpg(group, Signal::SIGKILL);
                    let _ = r.child.kill();
                    r.status = r.child.wait().ok();
                    r.killed = true;
                    break;
                }
            }
        }
    }
}

/// Moves the outputs of an earlier session out of the way before a fresh one starts: a
/// non-empty `run_dir` is renamed to `<run_dir>.<UTC date-time>` (never deleted), so its
/// learner checkpoint is not resumed by accident and its logs and metrics are kept. Returns
/// the new name, or `None` when there was nothing to move (no folder, or an empty one).
pub fn set_aside_previous_run(run_dir: &Path) -> Result<Option<PathBuf>, LaunchError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| LaunchError::Io { path, source }
    };
    let mut entries = match std::fs::read_dir(run_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(run_dir)(e)),
    };
    if entries.next().is_none() {
        return Ok(None);
    }
    let stamp = utc_stamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    );
    // Normalised (no trailing `/` or `.`), and kept as an OS string: any path works.
    let base: PathBuf = run_dir.components().collect();
    let named = |suffix: String| {
        let mut s = base.clone().into_os_string();
        s.push(suffix);
        PathBuf::from(s)
    };
    let mut target = named(format!(".{stamp}"));
    let mut n = 2;
    while target.exists() {
        target = named(format!(".{stamp}-{n}"));
        n += 1;
    }
    std::fs::rename(run_dir, &target).map_err(io(run_dir))?;
    Ok(Some(target))
}

/// `YYYYmmdd-HHMMSS` of a Unix time in seconds, in UTC.
pub fn utc_stamp(unix_s: u64) -> String {
    let days = (unix_s / 86_400) as i64;
    let secs = unix_s % 86_400;
    // Civil date from days since 1970-01-01 (proleptic Gregorian, 400-year eras).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), LaunchError> {
    let io = |source| LaunchError::Io {
        path: path.to_owned(),
        source,
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let mut f = File::create(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}
