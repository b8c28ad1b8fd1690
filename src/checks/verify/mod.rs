//! The verify stage: prove through the cache that every Harbor reference of a plan's report
//! resolves (images with HEAD/GET of their manifests, charts with the strict chart check),
//! and attach each outcome to the report's entries by the reference's key, never by
//! position. `verify`, `rewrite --verify`, `run`, `migrate` and `scan` (for entries not yet
//! checked) run it; `warm` shares its targets ([`entry_target`]) and exit code
//! ([`checked_exit_code`]). It takes [`RegistryOptions`], not the command line: the
//! commands convert their flags.

pub mod hosts;
pub mod lock;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::mapping::Mapper;
use crate::pipeline::locate::Kind;
use crate::pipeline::plan::Status;
use crate::reference::Reference;
use crate::registry::{self, Check, Outcome, Platform, Target};
use crate::report::{ReferenceEntry, Report, EXIT_ERROR, EXIT_FINDINGS, EXIT_OK};

/// What to do when Harbor cannot be reached at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnUnreachable {
    Fail,
    Warn,
}

/// How the stages that talk to the cache (verify, warm, scan) reach it. Credentials are
/// not here: they come from the environment or the docker config, per host
/// ([`hosts::client`]).
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Extra CA certificate (PEM) to trust besides the system roots.
    pub cacert: Option<PathBuf>,
    /// Do not verify the cache's TLS certificate.
    pub insecure: bool,
    /// Plain HTTP (test and local registries only).
    pub plain_http: bool,
    /// Requests in flight at once.
    pub jobs: usize,
    /// Per-request timeout in seconds.
    pub timeout: u64,
    /// Retries of transient failures.
    pub retries: u32,
    /// When the cache cannot be reached: fail or warn.
    pub on_unreachable: OnUnreachable,
    /// Platforms (`os/arch`) an index must hold (verify) or that are fetched (warm, scan).
    pub platform: Vec<String>,
    /// Where registry credentials come from (resolved from the environment in commands/).
    pub credentials: crate::registry::CredentialSources,
    /// `HARBORIZE_RESOLVE`: a host:port to connect to instead of the cache's own address.
    pub resolve: Option<String>,
}

/// What the verify stage found, for exit codes.
#[derive(Debug, Default)]
pub struct VerifySummary {
    pub checked: usize,
    pub failed: usize,
    pub unreachable: usize,
    pub requests: usize,
    pub token_requests: usize,
}

impl VerifySummary {
    /// Exit code contribution: findings 1, unreachable (when it must fail) 2.
    pub fn exit_code(&self, on_unreachable: OnUnreachable) -> crate::exit::ExitStatus {
        checked_exit_code(self.failed, self.unreachable, on_unreachable)
    }
}

/// The exit code of checks made through the cache (verify, warm): 2 when the cache could
/// not be reached and that must fail, 1 when anything else failed, else 0.
pub fn checked_exit_code(
    failed: usize,
    unreachable: usize,
    on_unreachable: OnUnreachable,
) -> crate::exit::ExitStatus {
    if unreachable > 0 && on_unreachable == OnUnreachable::Fail {
        EXIT_ERROR
    } else if failed > unreachable {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    }
}

/// The cache reference each report entry ends up as, keyed for the registry checks.
pub fn entry_target(entry: &ReferenceEntry, mapper: &Mapper) -> Option<Target> {
    // A registry-only Helm field is an edit of the chart's images, not an image.
    if matches!(entry.kind, Kind::HelmRegistry | Kind::Chart) {
        return None;
    }
    let text = match entry.status {
        Status::Rewritten => entry.rewritten.as_deref()?.rsplit('=').next()?,
        Status::AlreadyProxied => entry.normalized.as_deref()?,
        _ => return None,
    };
    let r = Reference::parse(text).ok()?;
    mapper
        .is_cache_host(r.domain())
        .then(|| Target::on_its_host(&r))
}

/// The chart a `chart` entry is verified at (its chart and version through the cache);
/// none when the entry names no chart version (a repository URL alone).
fn chart_target(entry: &ReferenceEntry, mapper: &Mapper) -> Option<Target> {
    if entry.kind != Kind::Chart
        || !matches!(entry.status, Status::Rewritten | Status::AlreadyProxied)
    {
        return None;
    }
    let r = crate::pipeline::plan::charts::harbor_chart(mapper, entry.normalized.as_deref()?)?;
    mapper
        .is_cache_host(r.domain())
        .then(|| Target::on_its_host(&r))
}

/// The text of an entry that should be on Harbor but does not parse as a reference.
fn unparsable_harbor_text(entry: &ReferenceEntry) -> Option<&str> {
    if matches!(entry.kind, Kind::HelmRegistry | Kind::Chart) {
        return None;
    }
    let text = match entry.status {
        Status::Rewritten => entry.rewritten.as_deref()?.rsplit('=').next()?,
        Status::AlreadyProxied => entry.normalized.as_deref()?,
        _ => return None,
    };
    Reference::parse(text).is_err().then_some(text)
}

/// Check every Harbor reference of the report and attach the outcome to its entries.
pub fn verify_report(
    report: &mut Report,
    mapper: &Mapper,
    args: &RegistryOptions,
) -> Result<(VerifySummary, BTreeMap<String, Check>)> {
    let harbor = mapper.harbor();
    let platforms: Vec<Platform> = args
        .platform
        .iter()
        .map(|p| p.parse().map_err(anyhow::Error::msg))
        .collect::<Result<_>>()?;
    let targets: Vec<Target> = report
        .references
        .iter()
        .filter_map(|e| entry_target(e, mapper))
        .collect();
    if args.insecure {
        crate::term::warn("--insecure: Harbor's TLS certificate is not verified");
    }
    let charts: Vec<Target> = report
        .references
        .iter()
        .filter_map(|e| chart_target(e, mapper))
        .collect();
    let mut by_host: BTreeMap<&str, (Vec<Target>, Vec<Target>)> = BTreeMap::new();
    for t in &targets {
        by_host
            .entry(t.host.as_str())
            .or_default()
            .0
            .push(t.clone());
    }
    for t in &charts {
        by_host
            .entry(t.host.as_str())
            .or_default()
            .1
            .push(t.clone());
    }
    if by_host.is_empty() {
        by_host.insert(harbor, Default::default());
    }
    // One client per cache host (`hosts`), images and charts of a host together.
    let mut checks = BTreeMap::new();
    let mut summary = VerifySummary::default();
    for (host, (targets, charts)) in by_host {
        let timeout = Duration::from_secs(args.timeout.max(1));
        let client = hosts::client(host, args, mapper, timeout)?;
        checks.extend(
            crate::runtime::block_on(async {
                let mut checks = registry::verify(&client, &targets, args.jobs, &platforms).await;
                checks.extend(registry::verify_charts(&client, &charts, args.jobs).await);
                checks
            })
            .context("cannot start the async runtime")?,
        );
        if let Some(why) = client.withheld() {
            if report.credentials_withheld.is_none() {
                crate::term::warn(format!(
                    "registry credentials not sent: {why}; the token was requested anonymously"
                ));
                report.credentials_withheld = Some(why);
            }
        }
        let load =
            |c: &std::sync::atomic::AtomicUsize| c.load(std::sync::atomic::Ordering::Relaxed);
        summary.requests += load(&client.stats.requests);
        summary.token_requests += load(&client.stats.token_requests);
    }
    summary.checked = checks.len();
    for check in checks.values() {
        if check.outcome != Outcome::Resolved {
            summary.failed += 1;
            if check.outcome.is_unreachable() {
                summary.unreachable += 1;
            }
        }
    }
    attach(report, mapper, &checks, &mut summary);
    Ok((summary, checks))
}

/// Attach each check to the entries of its reference, by the reference's key.
fn attach(
    report: &mut Report,
    mapper: &Mapper,
    checks: &BTreeMap<String, Check>,
    summary: &mut VerifySummary,
) {
    for entry in &mut report.references {
        if let Some(t) = entry_target(entry, mapper).or_else(|| chart_target(entry, mapper)) {
            entry.verify = checks.get(&t.key).cloned();
        } else if let Some(text) = unparsable_harbor_text(entry) {
            // Never "0 checked, all fine": a Harbor reference that cannot be parsed fails.
            summary.checked += 1;
            summary.failed += 1;
            entry.verify = Some(Check {
                outcome: Outcome::InvalidReference,
                digest: None,
                http_status: None,
                attempts: 0,
                milliseconds: 0,
                message: Some(format!("{text:?} is not a valid image reference")),
            });
        }
    }
}
