//! Commands only compose the stages; each verb is its own module.

pub mod action;
pub mod bump;
pub mod check;
pub mod completions;
pub mod harbor;
pub mod migrate;
pub mod mirrors;
pub mod rewrite;
pub mod run;
pub mod scan;
pub mod verify;

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::cli::Common;
use crate::config::Config;
use crate::mapping::Mapper;

/// Exit codes, everywhere.
pub const EXIT_OK: u8 = 0;
pub const EXIT_FINDINGS: u8 = 1;
pub const EXIT_ERROR: u8 = 2;

/// Load the config and build the mapper for the first PATH.
pub fn mapper_for(common: &Common) -> Result<Mapper> {
    let start = common.paths.first().map_or(Path::new("."), |p| p.as_path());
    let config =
        Config::load(common.config.as_deref(), start).context("cannot load the configuration")?;
    let host = common
        .harbor
        .clone()
        .or_else(|| config.harbor_host.clone())
        .filter(|h| !h.trim().is_empty());
    let Some(host) = host else {
        bail!("no Harbor host: pass --harbor HOST, set HARBORIZE_HARBOR, or set harbor.host in harborize.yaml");
    };
    let host = normalize_host(&host)?;
    Ok(Mapper::new(&config, &host))
}

/// Accept `https://harbor.example.com/` as `harbor.example.com`; refuse paths.
fn normalize_host(raw: &str) -> Result<String> {
    let h = raw.trim();
    let h = h
        .strip_prefix("https://")
        .or_else(|| h.strip_prefix("http://"))
        .unwrap_or(h);
    let h = h.trim_end_matches('/');
    if h.is_empty() || h.contains('/') || h.contains(char::is_whitespace) {
        bail!("invalid Harbor host {raw:?}: expected HOST[:PORT]");
    }
    Ok(h.to_ascii_lowercase())
}
