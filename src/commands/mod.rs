//! Commands only compose the stages; each verb is its own module.

pub mod action;
pub mod bump;
pub mod check;
pub mod completions;
pub mod harbor;
pub mod migrate;
pub mod mirrors;
pub mod policy;
pub mod promote;
pub mod rewrite;
pub mod run;
pub mod scan;
pub mod verify;
pub mod warm;

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::cli::Common;
use crate::config::Config;
use crate::mapping::Mapper;

pub use crate::report::{EXIT_ERROR, EXIT_FINDINGS, EXIT_OK};

/// Load the config and build the mapper for the first PATH.
pub fn mapper_for(common: &Common) -> Result<Mapper> {
    let start = common.paths.first().map_or(Path::new("."), |p| p.as_path());
    let config =
        Config::load(common.config.as_deref(), start).context("cannot load the configuration")?;
    let host = harbor_host(common.harbor.as_deref(), &config)?;
    crate::term::info(format!(
        "config {}, Harbor {host}",
        config
            .source
            .as_ref()
            .map_or("(none: defaults)".to_string(), |p| p.display().to_string())
    ));
    crate::fsio::set_max_file_size(config.max_file_size);
    Ok(Mapper::new(&config, &host)
        .with_charts_dir(common.charts.clone())
        .with_roots(common.paths.clone()))
}

/// The Harbor host from the flag (or `HARBORIZE_HARBOR`), else `harbor.host`, validated:
/// it is written in front of every rewritten reference, so a host that is not a registry
/// domain of the reference grammar stops the run before anything is read or written.
pub fn harbor_host(flag: Option<&str>, config: &Config) -> Result<String> {
    let host = flag
        .map(str::to_string)
        .or_else(|| config.harbor_host.clone())
        .filter(|h| !h.trim().is_empty());
    let Some(host) = host else {
        bail!("no Harbor host: pass --harbor HOST, set HARBORIZE_HARBOR, or set target.host (or harbor.host) in harborize.yaml");
    };
    normalize_host(&host)
}

/// Accept `https://harbor.example.com/` as `harbor.example.com`; refuse paths, credentials,
/// ports out of range and anything else that would not be a valid registry domain.
pub fn normalize_host(raw: &str) -> Result<String> {
    let h = raw.trim();
    let h = h
        .strip_prefix("https://")
        .or_else(|| h.strip_prefix("http://"))
        .unwrap_or(h);
    let h = h.trim_end_matches('/');
    if h.contains('@') {
        // Not echoed: the part before `@` is a secret.
        bail!("invalid Harbor host: it holds credentials (`USER:PASSWORD@`), which would be written into every manifest; give the host alone and the credentials in HARBORIZE_USERNAME/HARBORIZE_PASSWORD or the docker config");
    }
    if h.is_empty() || h.contains('/') || h.contains(char::is_whitespace) {
        bail!("invalid Harbor host {raw:?}: expected HOST[:PORT]");
    }
    let lower = h.to_ascii_lowercase();
    crate::reference::validate_registry_host(&lower).map_err(|_| {
        anyhow::anyhow!(
            "invalid Harbor host {raw:?}: expected HOST[:PORT] with an ASCII domain name (letters, digits, '-', dot-separated) or [IPv6], and a port in 1-65535"
        )
    })?;
    Ok(lower)
}

/// Append `text` to the file a GitHub Actions variable names (`GITHUB_OUTPUT`,
/// `GITHUB_STEP_SUMMARY`); nothing happens outside Actions (the variable unset or empty).
pub fn append_to_github_file(
    env: impl Fn(&str) -> Option<String>,
    var: &str,
    text: &str,
) -> Result<()> {
    use std::io::Write as _;
    let Some(path) = env(var).filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot open {var} {path}"))?
        .write_all(text.as_bytes())?;
    Ok(())
}

/// The rendered difference of every chart or kustomization the render proof refused
/// (stderr: the report on stdout stays one format).
pub fn print_render_refusals(outcomes: &[crate::pipeline::render::Outcome]) {
    for o in outcomes {
        if let crate::pipeline::render::Verdict::Refused { summary, diff } = &o.verdict {
            eprintln!(
                "harborize: render proof failed: {}: {}; nothing of it was written",
                crate::report::escape_text(&o.label),
                crate::report::escape_text(summary)
            );
            for line in diff.lines() {
                eprintln!("  {}", crate::report::escape_text(line));
            }
        }
    }
}
