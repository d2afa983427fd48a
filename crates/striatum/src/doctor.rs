//! `striatum doctor`: what the stack needs, what is present, and how to get what is missing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use striatum_bus::{Bus, BusConfig};

/// Outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Status {
    Ok,
    Optional,
    Missing,
}

#[derive(Debug)]
struct Check {
    name: &'static str,
    status: Status,
    detail: String,
    hint: Option<&'static str>,
}

/// Runs every check, prints a table (or JSON) and returns whether everything required is there.
pub async fn run(json: bool) -> anyhow::Result<bool> {
    let checks = vec![
        check_libtorch(),
        check_cuda(),
        check_vulkan().await,
        check_zenoh().await,
    ];
    if json {
        let items: Vec<serde_json::Value> = checks
            .iter()
            .map(|c| {
                serde_json::json!({
                    "check": c.name,
                    "status": match c.status { Status::Ok => "ok", Status::Optional => "absent (optional)", Status::Missing => "missing" },
                    "detail": c.detail,
                    "hint": c.hint,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&items)?);
    } else {
        println!("striatum {} doctor", env!("CARGO_PKG_VERSION"));
        for c in &checks {
            let mark = match c.status {
                Status::Ok => "ok",
                Status::Optional => "--",
                Status::Missing => "MISSING",
            };
            println!("  {mark:<8} {:<9} {}", c.name, c.detail);
            if let (Some(hint), true) = (c.hint, c.status != Status::Ok) {
                println!("  {:<8} {:<9} -> {hint}", "", "");
            }
        }
    }
    Ok(checks.iter().all(|c| c.status != Status::Missing))
}

/// The file libtorch's CPU library was loaded from, read from this process's memory map.
fn loaded_libtorch() -> Option<PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.ends_with("libtorch_cpu.so") || p.contains("libtorch_cpu.so."))
        .map(PathBuf::from)
}

/// libtorch's version from the files shipped beside the library: `torch/version.py` in a
/// Python wheel, `build-version` in a standalone libtorch archive.
fn libtorch_version(lib_dir: &Path) -> Option<String> {
    let root = lib_dir.parent()?;
    if let Ok(v) = std::fs::read_to_string(root.join("build-version")) {
        return Some(v.trim().to_owned());
    }
    let py = std::fs::read_to_string(root.join("version.py")).ok()?;
    // A line of the form `__version__ = '2.13.0+cu130'`.
    py.lines()
        .filter_map(|l| l.strip_prefix("__version__"))
        .filter_map(|rest| rest.split('=').nth(1))
        .map(|v| v.trim().trim_matches(['\'', '"']).to_owned())
        .next()
}

fn check_libtorch() -> Check {
    // A real computation proves the library links and runs.
    let t = tch::Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]);
    let sum = t.sum(tch::Kind::Float).double_value(&[]);
    let tensor_ok = (sum - 10.0).abs() < 1e-6;
    let Some(lib) = loaded_libtorch() else {
        return Check {
            name: "libtorch",
            status: Status::Missing,
            detail: "libtorch_cpu.so is not mapped in this process".into(),
            hint: Some(
                "run scripts/bootstrap.sh (installs torch==2.13.0 into .venv), then rebuild",
            ),
        };
    };
    let dir = lib.parent().map(Path::to_path_buf).unwrap_or_default();
    let version = libtorch_version(&dir).unwrap_or_else(|| "unknown version".into());
    let release = version.split('+').next().unwrap_or_default().to_owned();
    let ok = tensor_ok && release == "2.13.0";
    Check {
        name: "libtorch",
        status: if ok { Status::Ok } else { Status::Missing },
        detail: format!(
            "{release} ({version}) from {}; tensor check {}; {} threads",
            dir.display(),
            if tensor_ok { "passed" } else { "FAILED" },
            tch::get_num_threads()
        ),
        hint: (!ok)
            .then_some("tch 0.26 needs libtorch 2.13.0: run scripts/bootstrap.sh and rebuild"),
    }
}

fn check_cuda() -> Check {
    if tch::Cuda::is_available() {
        Check {
            name: "cuda",
            status: Status::Ok,
            detail: format!(
                "{} device(s); cuDNN {}",
                tch::Cuda::device_count(),
                if tch::Cuda::cudnn_is_available() {
                    "available"
                } else {
                    "absent"
                }
            ),
            hint: None,
        }
    } else {
        Check {
            name: "cuda",
            status: Status::Optional,
            detail: "no CUDA device: models run on the CPU".into(),
            hint: Some("a machine with an NVIDIA GPU and driver uses it with the same build"),
        }
    }
}

async fn check_vulkan() -> Check {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: wgpu::Backends::VULKAN,
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    let adapters = instance.enumerate_adapters(wgpu::Backends::VULKAN).await;
    if adapters.is_empty() {
        return Check {
            name: "vulkan",
            status: Status::Missing,
            detail: "no Vulkan adapter found".into(),
            hint: Some(
                "apt-get install libvulkan1 mesa-vulkan-drivers (CPU rendering with lavapipe; scripts/bootstrap.sh does it) or install your GPU's Vulkan driver",
            ),
        };
    }
    let names: Vec<String> = adapters
        .iter()
        .map(|a| {
            let i = a.get_info();
            format!(
                "{} ({:?}, {} {})",
                i.name, i.device_type, i.driver, i.driver_info
            )
        })
        .collect();
    Check {
        name: "vulkan",
        status: Status::Ok,
        detail: names.join("; "),
        hint: None,
    }
}

async fn check_zenoh() -> Check {
    let version = zenoh_version();
    let cfg = BusConfig::isolated(&["tcp/127.0.0.1:0".to_owned()], &[]);
    let opened = tokio::time::timeout(Duration::from_secs(10), Bus::open(&cfg)).await;
    let rendezvous = std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], 7447)),
        Duration::from_millis(200),
    )
    .is_ok();
    let where_ = if rendezvous {
        "local rendezvous 127.0.0.1:7447 is up (a node or router runs)"
    } else {
        "no local node running"
    };
    match opened {
        Ok(Ok(bus)) => {
            let zid = bus.session().zid();
            let _ = bus.close().await;
            Check {
                name: "zenoh",
                status: Status::Ok,
                detail: format!("{version}; loopback session {zid} opened; {where_}"),
                hint: None,
            }
        }
        Ok(Err(e)) => Check {
            name: "zenoh",
            status: Status::Missing,
            detail: format!("{version}; cannot open a loopback session: {e}"),
            hint: Some("check that loopback TCP is allowed"),
        },
        Err(_) => Check {
            name: "zenoh",
            status: Status::Missing,
            detail: format!("{version}; opening a loopback session timed out"),
            hint: Some("check that loopback TCP is allowed"),
        },
    }
}

/// The Zenoh release linked in (e.g. `v1.10.2`).
pub fn zenoh_version() -> String {
    let v = striatum_bus::zenoh::GIT_VERSION;
    v.strip_suffix("-release").unwrap_or(v).to_owned()
}
