//! The scan stage: resolve every Harbor reference of a plan's report to its digest (through
//! the verify stage when it has not run), run the real Trivy once per unique digest (and
//! platform, in parallel, one shared cache dir), and apply the policy. `scan`,
//! `rewrite --scan`, `run` and `migrate --scan` run it. It takes [`TrivyOptions`] and
//! [`RegistryOptions`], not the command line, and reads no environment itself: the
//! `TRIVY_*` settings and the server token come through [`TrivyOptions::env`].

mod groups;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::checks::verify::{verify_report, RegistryOptions};
use crate::config::ScanAllow;
use crate::mapping::Mapper;
use crate::registry::Credentials;
use crate::report::scan::{PolicySummary, ScanOutput, ScanSummary};
use crate::report::Report;
use crate::trivy::ignore;
use crate::trivy::policy::Policy;
use crate::trivy::runner::{self, Trivy};
use crate::trivy::settings::{Flags, Settings};
use crate::trivy::{Scanner, Severity};

/// How the scan stage runs Trivy and judges its findings.
#[derive(Debug, Clone)]
pub struct TrivyOptions {
    /// Lowest severity that fails the scan.
    pub severity: Severity,
    /// Vulnerabilities without a fixed version never fail the scan.
    pub ignore_unfixed: bool,
    /// The ignore file; none: the Trivy ignore files at the repository root.
    pub ignore_file: Option<PathBuf>,
    /// The Trivy binary (a path, or a name looked up on PATH).
    pub trivy: PathBuf,
    /// Trivy's cache dir (else `TRIVY_CACHE_DIR`, else Trivy's own).
    pub cache_dir: Option<PathBuf>,
    /// Client/server mode: the Trivy server's URL.
    pub trivy_server: Option<String>,
    /// Do not download or update the vulnerability DB.
    pub skip_db_update: bool,
    /// Where Trivy downloads its DB from.
    pub db_repository: Vec<String>,
    /// Trivy processes at once.
    pub scan_jobs: usize,
    /// Timeout of one image scan, in seconds.
    pub scan_timeout: Option<u64>,
    /// What Trivy looks for.
    pub scanners: Vec<Scanner>,
    /// Where `TRIVY_*` settings and the server token (`HARBORIZE_TRIVY_TOKEN`, else
    /// `TRIVY_TOKEN`) are looked up: the process environment, from the command.
    pub env: fn(&str) -> Option<String>,
}

/// Scan every Harbor image of `report` with Trivy and apply the policy.
///
/// Entries without a registry check are verified first (`verify_report`); entries that do
/// not resolve become errors. Fails (Err) only when the scan cannot run at all: no Trivy,
/// no DB, a bad ignore file or allowlist.
pub fn scan_report(
    report: &mut Report,
    mapper: &Mapper,
    registry: &RegistryOptions,
    args: &TrivyOptions,
    allow: &[ScanAllow],
    config_path: Option<&PathBuf>,
) -> Result<ScanOutput> {
    let harbor = mapper.harbor().to_string();
    let bin = runner::locate(&args.trivy)?;
    let settings = trivy_settings(args)?;
    let ignore_files = ignore_files(args, report);
    for f in &ignore_files {
        crate::term::info(format!("ignore file {}", f.display()));
    }
    let policy = Policy::new(
        args.severity,
        args.ignore_unfixed,
        &ignore_files,
        allow,
        config_path,
        crate::trivy::today(),
    )?;
    let mut output = empty_output(&harbor, args, &settings, &policy, &ignore_files, report);

    let candidates = report
        .references
        .iter()
        .filter(|e| groups::entry_target(e, mapper).is_some())
        .count();
    output.summary.references = candidates;
    output.summary.not_on_harbor = report
        .references
        .iter()
        .filter(|e| !groups::in_config_file(e))
        .count()
        - candidates;
    if candidates == 0 {
        output.finish();
        return Ok(output);
    }
    let needs_verify = report
        .references
        .iter()
        .any(|e| e.verify.is_none() && groups::entry_target(e, mapper).is_some());
    if needs_verify {
        verify_report(report, mapper, registry)?;
    }

    let groups = groups::by_digest(report, mapper, registry.on_unreachable, &mut output);
    if groups.is_empty() {
        output.finish();
        return Ok(output);
    }
    let withheld = report.credentials_withheld.is_some();
    let trivy = start_trivy(bin, &settings, &harbor, registry, args, withheld)?;
    groups::scan(
        &trivy,
        groups,
        registry,
        args.scan_jobs,
        &policy,
        &mut output,
    );
    output.summary.trivy_runs = trivy.runs.load(std::sync::atomic::Ordering::Relaxed);
    output.finish();
    Ok(output)
}

/// The scan output before any image is scanned: the policy, and the report's file errors.
fn empty_output(
    harbor: &str,
    args: &TrivyOptions,
    settings: &Settings,
    policy: &Policy,
    ignore_files: &[PathBuf],
    report: &Report,
) -> ScanOutput {
    let mut output = ScanOutput {
        version: 1,
        harbor: harbor.to_string(),
        policy: PolicySummary {
            severity: args.severity,
            ignore_unfixed: args.ignore_unfixed,
            ignore_file: (!ignore_files.is_empty()).then(|| {
                ignore_files
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            }),
        },
        trivy_server: settings.server.clone(),
        images: Vec::new(),
        errors: Vec::new(),
        warnings: policy.warnings.clone(),
        summary: ScanSummary::default(),
    };
    for e in &report.errors {
        output.errors.push(e.clone());
    }
    output
}

/// Trivy set up for this run: its cache dir, the registry credentials (none when harborize
/// withheld them: Trivy follows the same token realm), and its DB.
fn start_trivy(
    bin: PathBuf,
    settings: &Settings,
    harbor: &str,
    registry: &RegistryOptions,
    args: &TrivyOptions,
    credentials_withheld: bool,
) -> Result<Trivy> {
    let cache_dir = settings.cache_dir.clone();
    crate::term::info(format!(
        "trivy {} (cache {}, timeout {}s{})",
        bin.display(),
        cache_dir.display(),
        settings.timeout.as_secs(),
        settings
            .server
            .as_deref()
            .map(|s| format!(", server {s}"))
            .unwrap_or_default()
    ));
    std::fs::create_dir_all(&cache_dir)
        .with_context(|| format!("cannot create the Trivy cache dir {}", cache_dir.display()))?;
    let credentials = Credentials::discover(harbor, &registry.credentials)
        .map_err(anyhow::Error::msg)
        .context("cannot read registry credentials")?
        .filter(|_| !credentials_withheld);
    let insecure =
        registry.insecure || (registry.plain_http && !crate::reference::is_loopback_host(harbor));
    let trivy = Trivy::new(
        bin,
        cache_dir.clone(),
        settings.server.clone(),
        // Trivy's own variable for its server's token is accepted too; it reaches Trivy
        // only as TRIVY_TOKEN in its environment, as before.
        (args.env)("HARBORIZE_TRIVY_TOKEN")
            .filter(|t| !t.is_empty())
            .or_else(|| (args.env)("TRIVY_TOKEN")),
        registry.cacert.clone(),
        insecure,
        settings.timeout.max(Duration::from_secs(1)),
        args.scanners.clone(),
        credentials,
    );
    if settings.server.is_none() {
        if settings.skip_db_update {
            if !runner::db_present(&cache_dir) {
                bail!("{}", runner::db_missing_message(&cache_dir));
            }
        } else {
            trivy.download_db(&settings.db_repository, harbor)?;
        }
    }
    Ok(trivy)
}

/// The Trivy settings of this run: flags, then the user's `TRIVY_*`, then Trivy's defaults.
fn trivy_settings(args: &TrivyOptions) -> Result<Settings> {
    Settings::resolve(
        Flags {
            cache_dir: args.cache_dir.as_ref(),
            db_repository: &args.db_repository,
            skip_db_update: args.skip_db_update,
            server: args.trivy_server.as_deref(),
            timeout_secs: args.scan_timeout,
        },
        args.env,
    )
}

/// `--ignore-file`, else the Trivy ignore files at the root of the repository the scanned
/// files are in (as Trivy reads `.trivyignore` from where it runs: the repository root in CI).
fn ignore_files(args: &TrivyOptions, report: &Report) -> Vec<PathBuf> {
    if let Some(f) = &args.ignore_file {
        return vec![f.clone()];
    }
    let start = report
        .references
        .first()
        .map_or_else(|| PathBuf::from("."), |e| PathBuf::from(&e.file));
    ignore::discover(&ignore::repository_root(&start))
}
