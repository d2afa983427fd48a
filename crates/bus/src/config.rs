//! Session configuration: an embedded default that needs no server, plus the usual overrides.

use std::path::PathBuf;
use std::str::FromStr;

use crate::error::BusError;

/// The loopback endpoint every default peer tries to listen on and connects to.
///
/// The first node on a machine takes it; the others fail to bind it (harmlessly), connect to
/// it, learn each other's ephemeral endpoints by gossip and connect directly. If a Zenoh router
/// already listens there, every node simply connects through it. Multicast scouting stays off.
pub const RENDEZVOUS_ENDPOINT: &str = "tcp/127.0.0.1:7447";

/// The Zenoh role of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Talks directly to other peers (the default).
    #[default]
    Peer,
    /// Talks through one router.
    Client,
    /// Routes for others (multi-machine set-ups).
    Router,
}

impl Mode {
    /// Zenoh's name of the mode.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Peer => "peer",
            Mode::Client => "client",
            Mode::Router => "router",
        }
    }
}

impl FromStr for Mode {
    type Err = BusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "peer" => Ok(Mode::Peer),
            "client" => Ok(Mode::Client),
            "router" => Ok(Mode::Router),
            other => Err(BusError::Config(format!(
                "unknown mode `{other}`: expected peer, client or router"
            ))),
        }
    }
}

/// How to open a bus session.
///
/// With no options set this is the embedded default: a peer on loopback that meets the other
/// nodes of this machine at [`RENDEZVOUS_ENDPOINT`], with multicast scouting off. A Zenoh
/// configuration file is the base when given; `mode`, `connect` and `listen` override it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusConfig {
    /// Zenoh role; `None` keeps the file's (or peer).
    pub mode: Option<Mode>,
    /// Endpoints to connect to, e.g. `tcp/10.0.0.2:7447`; empty keeps the default.
    pub connect: Vec<String>,
    /// Endpoints to listen on, e.g. `tcp/0.0.0.0:7447`; empty keeps the default.
    pub listen: Vec<String>,
    /// A Zenoh JSON5 configuration file used as the base.
    pub config_file: Option<PathBuf>,
    /// Whether to meet local nodes at [`RENDEZVOUS_ENDPOINT`] when no endpoints are given.
    pub rendezvous: bool,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            mode: None,
            connect: Vec::new(),
            listen: Vec::new(),
            config_file: None,
            rendezvous: true,
        }
    }
}

impl BusConfig {
    /// A peer that listens only on `listen` and connects only to `connect`: no rendezvous, no
    /// scouting. Tests use it to build isolated networks on loopback.
    pub fn isolated(listen: &[String], connect: &[String]) -> Self {
        Self {
            mode: Some(Mode::Peer),
            connect: connect.to_vec(),
            listen: listen.to_vec(),
            config_file: None,
            rendezvous: false,
        }
    }

    /// The Zenoh configuration this describes.
    pub fn to_zenoh(&self) -> Result<zenoh::Config, BusError> {
        let mut config = match &self.config_file {
            Some(path) => zenoh::Config::from_file(path).map_err(|e| BusError::ConfigFile {
                path: path.clone(),
                reason: e.to_string(),
            })?,
            None => zenoh::Config::default(),
        };
        let from_file = self.config_file.is_some();
        let mode = match self.mode {
            Some(mode) => mode,
            None if from_file => {
                let json = config.get_json("mode").unwrap_or_default();
                json.trim_matches('"').parse().unwrap_or(Mode::Peer)
            }
            None => Mode::Peer,
        };
        set(&mut config, "mode", &json_string(mode.as_str()))?;

        if !from_file {
            // No multicast: loopback-only by default, explicit endpoints beyond that.
            set(&mut config, "scouting/multicast/enabled", "false")?;
            // Every sample carries a timestamp, so receivers can order and measure latency.
            set(&mut config, "timestamping/enabled", "true")?;
        }

        let listen: Vec<String> = if !self.listen.is_empty() {
            self.listen.clone()
        } else if from_file {
            Vec::new()
        } else {
            match (mode, self.rendezvous) {
                (Mode::Peer, true) => vec![
                    format!("{RENDEZVOUS_ENDPOINT}#exit_on_failure=false"),
                    "tcp/127.0.0.1:0".to_owned(),
                ],
                (Mode::Peer, false) => vec!["tcp/127.0.0.1:0".to_owned()],
                (Mode::Router, _) => vec![RENDEZVOUS_ENDPOINT.to_owned()],
                (Mode::Client, _) => Vec::new(),
            }
        };
        let connect: Vec<String> = if !self.connect.is_empty() {
            self.connect.clone()
        } else if from_file {
            Vec::new()
        } else {
            match (mode, self.rendezvous) {
                (Mode::Peer | Mode::Client, true) => vec![RENDEZVOUS_ENDPOINT.to_owned()],
                _ => Vec::new(),
            }
        };
        for e in listen.iter().chain(&connect) {
            check_endpoint(e)?;
        }
        if !listen.is_empty() || !from_file {
            set(&mut config, "listen/endpoints", &json_list(&listen))?;
        }
        if !connect.is_empty() || !from_file {
            set(&mut config, "connect/endpoints", &json_list(&connect))?;
        }
        if !from_file && mode == Mode::Peer {
            // Opening must not wait for the rendezvous (the first node connects to itself).
            set(&mut config, "connect/timeout_ms", "0")?;
            set(&mut config, "connect/exit_on_failure", "false")?;
        }
        Ok(config)
    }
}

/// A loopback TCP endpoint on a port that was free a moment ago (for tests and benchmarks that
/// build isolated networks).
///
/// The port is taken from below the kernel's ephemeral range, so no socket that binds port 0
/// (a session listening on `tcp/127.0.0.1:0`, or the local end of an outgoing connection) can be
/// given it between this call and the listener's bind. Within one process no port is handed out
/// twice, so tests running in parallel never race for the same one.
pub fn free_local_endpoint() -> Result<String, BusError> {
    use std::sync::LazyLock;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// The port range, read once per process.
    static RANGE: LazyLock<(u16, u16)> = LazyLock::new(static_port_range);
    /// The next offset into the range; each process starts at a different place so that
    /// concurrent processes rarely probe the same ports.
    static NEXT: LazyLock<AtomicU32> = LazyLock::new(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        AtomicU32::new(std::process::id().wrapping_mul(2_654_435_761) ^ nanos)
    });

    let (low, high) = *RANGE;
    let span = high - low;
    for _ in 0..span {
        // The remainder is below `span`, so it fits a u16 and `low + offset < high`.
        let offset = (NEXT.fetch_add(1, Ordering::Relaxed) % u32::from(span)) as u16;
        let port = low + offset;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(format!("tcp/127.0.0.1:{port}"));
        }
    }
    Err(BusError::Config(format!(
        "cannot find a free loopback port in {low}..{high}"
    )))
}

/// Ports no one gets by binding port 0: the range just below the kernel's ephemeral ports
/// (`/proc/sys/net/ipv4/ip_local_port_range`, 32768 by default), above the well-known ones.
fn static_port_range() -> (u16, u16) {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    let high = ephemeral_low.max(12_000);
    (high - 10_000, high)
}

fn check_endpoint(endpoint: &str) -> Result<(), BusError> {
    zenoh::config::EndPoint::from_str(endpoint)
        .map(|_| ())
        .map_err(|e| BusError::Config(format!("bad endpoint `{endpoint}`: {e}")))
}

fn set(config: &mut zenoh::Config, key: &str, value: &str) -> Result<(), BusError> {
    config
        .insert_json5(key, value)
        .map_err(|e| BusError::Config(format!("cannot set `{key}` to {value}: {e}")))
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

fn json_list(items: &[String]) -> String {
    serde_json::Value::Array(
        items
            .iter()
            .map(|s| serde_json::Value::String(s.clone()))
            .collect(),
    )
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_a_loopback_peer_without_multicast() {
        let c = BusConfig::default().to_zenoh().unwrap();
        assert_eq!(c.get_json("mode").unwrap(), "\"peer\"");
        assert_eq!(c.get_json("scouting/multicast/enabled").unwrap(), "false");
        let listen = c.get_json("listen/endpoints").unwrap();
        assert!(listen.contains("127.0.0.1:7447"), "{listen}");
        assert!(!listen.contains("0.0.0.0"), "{listen}");
        assert!(
            c.get_json("connect/endpoints")
                .unwrap()
                .contains("127.0.0.1:7447")
        );
    }

    #[test]
    fn free_endpoints_are_distinct_and_below_the_ephemeral_range() {
        let (low, high) = static_port_range();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let endpoint = free_local_endpoint().unwrap();
            let port: u16 = endpoint
                .strip_prefix("tcp/127.0.0.1:")
                .unwrap()
                .parse()
                .unwrap();
            assert!((low..high).contains(&port), "{port} outside {low}..{high}");
            assert!(seen.insert(port), "port {port} handed out twice");
        }
    }

    #[test]
    fn bad_endpoints_and_modes_are_named() {
        let cfg = BusConfig {
            connect: vec!["nonsense".into()],
            ..Default::default()
        };
        let err = cfg.to_zenoh().unwrap_err().to_string();
        assert!(err.contains("nonsense"), "{err}");
        assert!(
            "bridge"
                .parse::<Mode>()
                .unwrap_err()
                .to_string()
                .contains("bridge")
        );
    }

    #[test]
    fn a_missing_config_file_is_named() {
        let cfg = BusConfig {
            config_file: Some("/nonexistent/zenoh.json5".into()),
            ..Default::default()
        };
        let err = cfg.to_zenoh().unwrap_err().to_string();
        assert!(err.contains("/nonexistent/zenoh.json5"), "{err}");
    }
}
