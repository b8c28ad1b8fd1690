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
pub mod settings;
pub mod verify;
pub mod warm;

use anyhow::{Context, Result};

use crate::cli::Common;
use crate::mapping::Mapper;

pub use crate::exit::{ExitStatus, EXIT_ERROR, EXIT_FINDINGS, EXIT_OK};
pub use settings::{harbor_host, normalize_host, Settings};

/// The mapper of [`Settings::for_common`], for a caller that needs nothing else of the
/// settings.
pub fn mapper_for(common: &Common) -> Result<Mapper> {
    Ok(Settings::for_common(common)?.mapper)
}

/// The scan stage as `rewrite`, `run`, `migrate` and `scan` run it: the registry and
/// Trivy flags, with the config's `scan.allow` entries and the config file they came from.
pub fn scan_stage(
    report: &mut crate::report::Report,
    mapper: &Mapper,
    (registry, trivy): (&crate::cli::RegistryArgs, &crate::cli::TrivyArgs),
    config: &crate::config::Config,
) -> Result<crate::report::scan::ScanOutput> {
    crate::checks::scan::scan_report(
        report,
        mapper,
        &registry.options(),
        &trivy.options(),
        &config.scan.allow,
        config.source.as_ref(),
    )
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
