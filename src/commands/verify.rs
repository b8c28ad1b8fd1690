//! `harborize verify`: plan like `check`, then prove through Harbor that every reference
//! resolves; optionally pin digests into the manifests or write / check a lock file.
//! Also the verify stage of `rewrite --verify`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::cli::{OnUnreachable, RegistryArgs, VerifyArgs};
use crate::commands::{mapper_for, ExitStatus, EXIT_ERROR, EXIT_FINDINGS, EXIT_OK};
use crate::mapping::Mapper;
use crate::pipeline::engine::{self, Pins, RunOptions};
use crate::pipeline::plan::{Direction, PlanOptions, Status};
use crate::reference::Reference;
use crate::registry::{self, Check, Outcome, Platform, Target};
use crate::report::{Mode, Report};

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
    pub fn exit_code(&self, on_unreachable: OnUnreachable) -> ExitStatus {
        checked_exit_code(self.failed, self.unreachable, on_unreachable)
    }
}

/// The exit code of checks made through the cache (verify, warm): 2 when the cache could
/// not be reached and that must fail, 1 when anything else failed, else 0.
pub(crate) fn checked_exit_code(
    failed: usize,
    unreachable: usize,
    on_unreachable: OnUnreachable,
) -> ExitStatus {
    if unreachable > 0 && on_unreachable == OnUnreachable::Fail {
        EXIT_ERROR
    } else if failed > unreachable {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    }
}

/// The cache reference each report entry ends up as, keyed for the registry checks.
pub(crate) fn entry_target(
    entry: &crate::report::ReferenceEntry,
    mapper: &Mapper,
) -> Option<Target> {
    // A registry-only Helm field is an edit of the chart's images, not an image.
    if matches!(
        entry.kind,
        crate::pipeline::locate::Kind::HelmRegistry | crate::pipeline::locate::Kind::Chart
    ) {
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
fn chart_target(entry: &crate::report::ReferenceEntry, mapper: &Mapper) -> Option<Target> {
    if entry.kind != crate::pipeline::locate::Kind::Chart
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
fn unparsable_harbor_text(entry: &crate::report::ReferenceEntry) -> Option<&str> {
    if matches!(
        entry.kind,
        crate::pipeline::locate::Kind::HelmRegistry | crate::pipeline::locate::Kind::Chart
    ) {
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
    args: &RegistryArgs,
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
        eprintln!("warning: --insecure: Harbor's TLS certificate is not verified");
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
    // One client per cache host (`cache_hosts`), images and charts of a host together.
    let mut checks = BTreeMap::new();
    let mut summary = VerifySummary::default();
    for (host, (targets, charts)) in by_host {
        let timeout = Duration::from_secs(args.timeout.max(1));
        let client = super::cache_hosts::client(host, args, mapper, timeout)?;
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
                eprintln!(
                    "warning: registry credentials not sent: {why}; the token was requested anonymously"
                );
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
    Ok((summary, checks))
}

/// The lock file: reference → digest, with the time and the Harbor host.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct LockFile {
    version: u32,
    harbor: String,
    generated: String,
    references: BTreeMap<String, String>,
}

fn write_lock(path: &Path, harbor: &str, checks: &BTreeMap<String, Check>) -> Result<()> {
    let lock = LockFile {
        version: 1,
        harbor: harbor.to_string(),
        generated: httpdate::fmt_http_date(std::time::SystemTime::now()),
        references: checks
            .iter()
            .filter_map(|(k, c)| {
                c.digest
                    .clone()
                    .filter(|_| c.outcome == Outcome::Resolved)
                    .map(|d| (k.clone(), d))
            })
            .collect(),
    };
    let text = serde_json::to_string_pretty(&lock)? + "\n";
    std::fs::write(path, text).with_context(|| format!("cannot write lock file {}", path.display()))
}

fn read_lock(path: &Path, harbor: &str) -> Result<LockFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read lock file {}", path.display()))?;
    let lock: LockFile = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a harborize lock file", path.display()))?;
    if !lock.harbor.eq_ignore_ascii_case(harbor) {
        bail!(
            "{}: locked for Harbor {}, not {harbor}",
            path.display(),
            lock.harbor
        );
    }
    Ok(lock)
}

/// Compare checks with the lock: a different digest or a missing entry is a finding.
fn apply_lock(report: &mut Report, lock: &LockFile, summary: &mut VerifySummary) {
    for entry in &mut report.references {
        let Some(check) = entry.verify.as_mut() else {
            continue;
        };
        if check.outcome != Outcome::Resolved {
            continue;
        }
        let reference = entry
            .rewritten
            .as_deref()
            .filter(|_| entry.status == Status::Rewritten)
            .or(entry.normalized.as_deref())
            .and_then(|t| Reference::parse(t.rsplit('=').next().unwrap_or(t)).ok());
        let Some(reference) = reference else { continue };
        // A reference pinned after the lock was written is found by its name and tag.
        let without_digest = match reference.tag() {
            Some(t) => format!("{}:{t}", reference.name()),
            None => reference.name(),
        };
        let locked = lock
            .references
            .get(&reference.to_string())
            .or_else(|| lock.references.get(&without_digest));
        match locked {
            Some(d) if Some(d) == check.digest.as_ref() => {}
            Some(d) => {
                check.outcome = Outcome::DigestMismatch;
                check.message = Some(format!("locked {d}"));
                summary.failed += 1;
            }
            None => {
                check.outcome = Outcome::NotLocked;
                summary.failed += 1;
            }
        }
    }
}

pub fn run(args: &VerifyArgs) -> Result<ExitStatus> {
    let mapper = mapper_for(&args.common)?;
    let plan = PlanOptions {
        direction: Direction::Forward,
        rewrite_hints: args.common.rewrite_hints,
    };
    let results = engine::run(
        &args.common.paths,
        &mapper,
        RunOptions {
            plan,
            write: false,
            diff: false,
            keep: false,
        },
    );
    let mut report = Report::build(mapper.harbor(), results, false);
    let (mut summary, checks) = verify_report(&mut report, &mapper, &args.registry)?;
    if let Some(path) = &args.locked {
        let lock = read_lock(path, mapper.harbor())?;
        apply_lock(&mut report, &lock, &mut summary);
    }
    let mut code = summary.exit_code(args.registry.on_unreachable);
    if args.pin && summary.failed == 0 {
        pin(&args.common.paths, &mapper, plan, &checks, &mut report)?;
    }
    if let Some(path) = &args.lock {
        if summary.failed == 0 {
            write_lock(path, mapper.harbor(), &checks)?;
        } else {
            eprintln!(
                "note: lock file not written: {} reference(s) did not resolve",
                summary.failed
            );
        }
    }
    report.print(args.common.format, Mode::Check { strict: false }, false)?;
    eprintln!(
        "verify: {} unique references, {} failed, {} requests ({} token requests)",
        summary.checked, summary.failed, summary.requests, summary.token_requests
    );
    if report.summary.errors > 0 {
        code = EXIT_ERROR;
    }
    Ok(code)
}

/// Write `name:tag@digest` for every resolved reference, through the byte-exact editor.
fn pin(
    paths: &[std::path::PathBuf],
    mapper: &Mapper,
    plan: PlanOptions,
    checks: &BTreeMap<String, Check>,
    report: &mut Report,
) -> Result<()> {
    let pins: Pins = checks
        .iter()
        .filter_map(|(k, c)| {
            c.digest
                .clone()
                .filter(|_| c.outcome == Outcome::Resolved)
                .map(|d| (k.clone(), d))
        })
        .collect();
    let results = engine::run_pinned(
        paths,
        mapper,
        RunOptions {
            plan,
            write: true,
            diff: false,
            keep: false,
        },
        Some(&pins),
    );
    let pinned = Report::build(mapper.harbor(), results, true);
    report.files_changed = pinned.files_changed;
    report.errors.extend(pinned.errors);
    report.summary.errors = report.errors.len();
    Ok(())
}
