//! Where logged data goes: an `.rrd` file, a spawned viewer, a running viewer, or a gRPC server
//! that viewers (native or web) connect to.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rerun::{RecordingStream, RecordingStreamBuilder};

use crate::VizError;

/// A destination for a recording, as given to `--rerun`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// `save:FILE`: write an `.rrd` file.
    Save(PathBuf),
    /// `spawn`: start a viewer (the project venv's `rerun`) and stream to it.
    Spawn,
    /// `connect` or `connect:URL`: stream to a running viewer (default
    /// `rerun+http://127.0.0.1:9876/proxy`).
    Connect(Option<String>),
    /// `serve` or `serve:PORT`: host a gRPC server that viewers connect to
    /// (`rerun --connect rerun+http://127.0.0.1:PORT/proxy`, or the web viewer).
    Serve(u16),
    /// `none`: log nothing.
    Disabled,
}

/// The port Rerun viewers and servers use unless told otherwise.
pub const DEFAULT_PORT: u16 = 9876;

impl FromStr for Sink {
    type Err = VizError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || VizError::BadSink(s.to_owned());
        match s {
            "spawn" => return Ok(Sink::Spawn),
            "connect" => return Ok(Sink::Connect(None)),
            "serve" => return Ok(Sink::Serve(DEFAULT_PORT)),
            "none" => return Ok(Sink::Disabled),
            _ => {}
        }
        if let Some(file) = s.strip_prefix("save:") {
            if file.is_empty() {
                return Err(bad());
            }
            return Ok(Sink::Save(PathBuf::from(file)));
        }
        if let Some(url) = s.strip_prefix("connect:") {
            if !(url.starts_with("rerun://")
                || url.starts_with("rerun+http://")
                || url.starts_with("rerun+https://"))
            {
                return Err(bad());
            }
            return Ok(Sink::Connect(Some(url.to_owned())));
        }
        if let Some(port) = s.strip_prefix("serve:") {
            return port.parse().map(Sink::Serve).map_err(|_| bad());
        }
        Err(bad())
    }
}

impl fmt::Display for Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sink::Save(p) => write!(f, "save:{}", p.display()),
            Sink::Spawn => f.write_str("spawn"),
            Sink::Connect(None) => f.write_str("connect"),
            Sink::Connect(Some(url)) => write!(f, "connect:{url}"),
            Sink::Serve(port) => write!(f, "serve:{port}"),
            Sink::Disabled => f.write_str("none"),
        }
    }
}

impl Sink {
    /// Opens a recording stream on this sink; `builder` carries the application id and the
    /// default blueprint. A saved file is written to a temporary name and renamed when the
    /// stream is finished by [`crate::Logger::finish`].
    pub(crate) fn open(
        &self,
        builder: RecordingStreamBuilder,
    ) -> Result<RecordingStream, VizError> {
        match self {
            Sink::Save(path) => builder.save(partial_path(path)).map_err(VizError::rerun),
            Sink::Spawn => {
                let mut opts = rerun::SpawnOptions::default();
                if let Some(exe) = viewer_executable() {
                    opts.executable_path = Some(exe.display().to_string());
                }
                builder.spawn_opts(&opts).map_err(VizError::rerun)
            }
            Sink::Connect(None) => builder.connect_grpc().map_err(VizError::rerun),
            Sink::Connect(Some(url)) => builder
                .connect_grpc_opts(url.clone())
                .map_err(VizError::rerun),
            Sink::Serve(port) => builder
                .serve_grpc_opts("0.0.0.0", *port, rerun::ServerOptions::default())
                .map_err(VizError::rerun),
            Sink::Disabled => Ok(RecordingStream::disabled()),
        }
    }
}

/// Where a saved recording is written until it is complete.
pub(crate) fn partial_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "recording.rrd".into());
    path.with_file_name(format!(".{name}.partial"))
}

/// The Rerun viewer to run: `$STRIATUM_RERUN`, else the viewer binary of the project's
/// `.venv` (`lib/python*/site-packages/rerun_sdk/rerun_cli/rerun`, then the `bin/rerun`
/// wrapper; found from the working directory or from the running binary's
/// `target/<profile>/` folder), else `rerun` on `PATH`. `None` when none exists.
pub fn viewer_executable() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("STRIATUM_RERUN") {
        return Some(PathBuf::from(p));
    }
    let mut venvs = vec![PathBuf::from(".venv")];
    if let Ok(exe) = std::env::current_exe() {
        for up in exe.ancestors().skip(1).take(4) {
            venvs.push(up.join(".venv"));
        }
    }
    let mut candidates = Vec::new();
    for venv in &venvs {
        // The viewer binary itself first: `.venv/bin/rerun` is a Python wrapper that runs it
        // as a child, which would outlive a wrapper killed by its pid.
        if let Ok(libs) = std::fs::read_dir(venv.join("lib")) {
            for lib in libs.flatten() {
                if lib.file_name().to_string_lossy().starts_with("python") {
                    candidates.push(lib.path().join("site-packages/rerun_sdk/rerun_cli/rerun"));
                }
            }
        }
        candidates.push(venv.join("bin/rerun"));
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("rerun")));
    }
    candidates.into_iter().find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form_and_names_bad_ones() {
        assert_eq!(
            "save:out/a.rrd".parse::<Sink>().ok(),
            Some(Sink::Save("out/a.rrd".into()))
        );
        assert_eq!("spawn".parse::<Sink>().ok(), Some(Sink::Spawn));
        assert_eq!("connect".parse::<Sink>().ok(), Some(Sink::Connect(None)));
        assert_eq!(
            "connect:rerun+http://10.0.0.2:9876/proxy"
                .parse::<Sink>()
                .ok(),
            Some(Sink::Connect(Some(
                "rerun+http://10.0.0.2:9876/proxy".into()
            )))
        );
        assert_eq!("serve".parse::<Sink>().ok(), Some(Sink::Serve(9876)));
        assert_eq!("serve:9000".parse::<Sink>().ok(), Some(Sink::Serve(9000)));
        assert_eq!("none".parse::<Sink>().ok(), Some(Sink::Disabled));
        for bad in [
            "",
            "save:",
            "connect:http://x",
            "serve:x",
            "file.rrd",
            "spawn:1",
        ] {
            let err = bad.parse::<Sink>().err().map(|e| e.to_string());
            assert!(
                err.as_deref().is_some_and(|e| e.contains("save:FILE")),
                "{bad:?} gave {err:?}"
            );
        }
        for s in ["save:a.rrd", "spawn", "connect", "serve:9000", "none"] {
            assert_eq!(
                s.parse::<Sink>().ok().map(|k| k.to_string()).as_deref(),
                Some(s)
            );
        }
    }

    #[test]
    fn partial_files_are_hidden_beside_the_target() {
        assert_eq!(
            partial_path(Path::new("runs/x/session.rrd")),
            PathBuf::from("runs/x/.session.rrd.partial")
        );
    }
}
