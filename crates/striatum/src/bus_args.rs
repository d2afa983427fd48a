//! The bus options every networked command shares.

use std::path::PathBuf;

use clap::Args;
use striatum_bus::{BusConfig, Mode};

/// Zenoh session options (the default needs no server: a loopback peer).
#[derive(Debug, Clone, Args)]
pub struct BusArgs {
    /// Zenoh JSON5 configuration file used as the base.
    #[arg(long = "zenoh-config", value_name = "FILE", global = true)]
    pub zenoh_config: Option<PathBuf>,
    /// Endpoint to connect to (repeatable), e.g. tcp/192.168.1.10:7447.
    #[arg(long, value_name = "ENDPOINT", global = true)]
    pub connect: Vec<String>,
    /// Endpoint to listen on (repeatable), e.g. tcp/0.0.0.0:7447.
    #[arg(long, value_name = "ENDPOINT", global = true)]
    pub listen: Vec<String>,
    /// Zenoh mode.
    #[arg(long, value_parser = ["peer", "client", "router"], global = true)]
    pub mode: Option<String>,
}

impl BusArgs {
    /// The session configuration these options describe.
    pub fn config(&self) -> anyhow::Result<BusConfig> {
        Ok(BusConfig {
            mode: self.mode.as_deref().map(str::parse::<Mode>).transpose()?,
            connect: self.connect.clone(),
            listen: self.listen.clone(),
            config_file: self.zenoh_config.clone(),
            ..BusConfig::default()
        })
    }
}
