//! `harborize scan`: plan like `verify`, resolve every Harbor reference to its digest, run
//! the real Trivy once per unique digest (in parallel, one shared cache dir), and enforce
//! the policy. [`scan_report`] is also the `--scan` stage of other commands.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::cli::{OnUnreachable, RegistryArgs, ScanArgs, TrivyArgs};
use crate::commands::verify::verify_report;
use crate::commands::ExitStatus;
use crate::config::ScanAllow;
use crate::mapping::Mapper;
use crate::pipeline::engine::{self, RunOptions};
use crate::pipeline::plan::{Direction, PlanOptions, Status};
use crate::reference::Reference;
use crate::registry::{Credentials, Outcome, Target};
use crate::report::scan::{
    ImageResult, PolicySummary, RefLocation, ScanError, ScanOutput, ScanSummary,
};
use crate::report::{ReferenceEntry, Report};
use crate::trivy::ignore;
use crate::trivy::policy::Policy;
use crate::trivy::runner::{self, Trivy};
use crate::trivy::settings::{Flags, Settings};

/// The Harbor reference an entry ends up as (as `verify` keys it). Entries in harborize's
/// own config file (the `image` globs of `scan.allow`) are not images.
fn entry_target(entry: &ReferenceEntry, mapper: &Mapper) -> Option<Target> {
    let file_name = Path::new(&entry.file).file_name().and_then(|n| n.to_str());
    if file_name.is_some_and(|n| crate::config::FILE_NAMES.contains(&n)) {
        return None;
    }
    // Registry-only fields and charts are no images for Trivy either: verify says so.
    super::verify::entry_target(entry, mapper)
}

/// The names (no tag) an entry is known by: upstream (`docker.io/library/nginx`) and Harbor.
fn entry_names(entry: &ReferenceEntry, target: &Target, mapper: &Mapper) -> Vec<String> {
    let mut names = vec![format!("{}/{}", target.host, target.repository)];
    let parsed = entry
        .normalized
        .as_deref()
        .and_then(|n| Reference::parse(n).ok());
    if let Some(r) = parsed {
        if entry.status == Status::Rewritten {
            names.push(r.name());
        } else if let Some(familiar) = mapper.revert_name(&r) {
            if let Ok(up) = Reference::parse_name(&familiar) {
                names.push(up.name());
            }
        }
    }
    names
}

/// Scan every Harbor image of `report` with Trivy and apply the policy.
///
/// Entries without a registry check are verified first (`verify_report`); entries that do
/// not resolve become errors. Fails (Err) only when the scan cannot run at all: no Trivy,
/// no DB, a bad ignore file or allowlist.
pub fn scan_report(
    report: &mut Report,
    mapper: &Mapper,
    registry: &RegistryArgs,
    args: &TrivyArgs,
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
    let mut output = ScanOutput {
        version: 1,
        harbor: harbor.clone(),
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
        output.errors.push(ScanError {
            file: Some(e.file.clone()),
            line: e.line,
            column: e.column,
            reference: None,
            message: e.message.clone(),
        });
    }

    let candidates = report
        .references
        .iter()
        .filter(|e| entry_target(e, mapper).is_some())
        .count();
    output.summary.references = candidates;
    output.summary.not_on_harbor = report
        .references
        .iter()
        .filter(|e| {
            let name = Path::new(&e.file).file_name().and_then(|n| n.to_str());
            !name.is_some_and(|n| crate::config::FILE_NAMES.contains(&n))
        })
        .count()
        - candidates;
    if candidates == 0 {
        output.finish();
        return Ok(output);
    }
    let needs_verify = report
        .references
        .iter()
        .any(|e| e.verify.is_none() && entry_target(e, mapper).is_some());
    if needs_verify {
        verify_report(report, mapper, registry)?;
    }

    // Group by digest: each unique image is scanned once.
    struct Group {
        image: String,
        names: BTreeSet<String>,
        refs: Vec<RefLocation>,
    }
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for entry in &report.references {
        let Some(target) = entry_target(entry, mapper) else {
            continue;
        };
        let check = entry.verify.as_ref();
        let digest = check
            .filter(|c| c.outcome == Outcome::Resolved)
            .and_then(|c| c.digest.clone());
        let Some(digest) = digest else {
            let why = match check {
                Some(c) => {
                    let outcome = serde_json::to_value(c.outcome)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default();
                    let mut m = format!("{}: {outcome}", target.key);
                    if let Some(s) = c.http_status {
                        m.push_str(&format!(" (http {s})"));
                    }
                    if let Some(x) = &c.message {
                        m.push_str(&format!(": {x}"));
                    }
                    m
                }
                None => format!("{}: not checked", target.key),
            };
            let unreachable = check.is_some_and(|c| c.outcome.is_unreachable());
            if unreachable && registry.on_unreachable == OnUnreachable::Warn {
                output.warnings.push(format!(
                    "{}:{}:{}: {why}: not scanned (--on-unreachable warn)",
                    entry.file, entry.line, entry.column
                ));
                continue;
            }
            output.errors.push(ScanError {
                file: Some(entry.file.clone()),
                line: Some(entry.line),
                column: Some(entry.column),
                reference: Some(target.key.clone()),
                message: format!("{why}: not scanned"),
            });
            continue;
        };
        let group = groups.entry(digest.clone()).or_insert_with(|| Group {
            image: format!("{}/{}@{digest}", target.host, target.repository),
            names: BTreeSet::new(),
            refs: Vec::new(),
        });
        group.names.extend(entry_names(entry, &target, mapper));
        group.refs.push(RefLocation {
            file: entry.file.clone(),
            line: entry.line,
            column: entry.column,
            original: entry.original.clone(),
            reference: target.key.clone(),
        });
    }
    if groups.is_empty() {
        output.finish();
        return Ok(output);
    }

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
    let credentials = Credentials::discover(&harbor, &super::settings::credential_sources())
        .map_err(anyhow::Error::msg)
        .context("cannot read registry credentials")?
        // Trivy follows the same token realm: what harborize withheld, Trivy does not get.
        .filter(|_| report.credentials_withheld.is_none());
    let insecure =
        registry.insecure || (registry.plain_http && !crate::reference::is_loopback_host(&harbor));
    let trivy = Trivy::new(
        bin,
        cache_dir.clone(),
        settings.server.clone(),
        // Trivy's own variable for its server's token is accepted too; it reaches Trivy
        // only as TRIVY_TOKEN in its environment, as before.
        std::env::var("HARBORIZE_TRIVY_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .or_else(|| std::env::var("TRIVY_TOKEN").ok()),
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
            trivy.download_db(&settings.db_repository, &harbor)?;
        }
    }

    // One scan per digest, and per platform when platforms are required (`--platform`:
    // the digest is then an index, and Trivy picks each platform's manifest from it).
    let platforms: Vec<Option<String>> = if registry.platform.is_empty() {
        vec![None]
    } else {
        registry.platform.iter().map(|p| Some(p.clone())).collect()
    };
    let groups: Vec<Group> = groups.into_values().collect();
    let jobs: Vec<(&Group, Option<String>)> = groups
        .iter()
        .flat_map(|g| platforms.iter().map(move |p| (g, p.clone())))
        .collect();
    let images: Vec<(String, Option<String>)> = jobs
        .iter()
        .map(|(g, p)| (g.image.clone(), p.clone()))
        .collect();
    let results = trivy.scan_all(&images, args.scan_jobs);
    for ((group, platform), result) in jobs.into_iter().zip(results) {
        let digest = group
            .image
            .rsplit('@')
            .next()
            .unwrap_or_default()
            .to_string();
        let names: Vec<String> = group.names.iter().cloned().collect();
        let mut img = ImageResult {
            image: group.image.clone(),
            digest,
            platform,
            names,
            references: group.refs.clone(),
            result: "pass",
            os: None,
            message: None,
            findings: Vec::new(),
        };
        match result {
            Ok(rep) => {
                img.os = rep.os();
                img.findings = rep.findings();
                policy.apply(&img.names, &mut img.findings);
                if img.findings.iter().any(|f| f.fails) {
                    img.result = "fail";
                }
            }
            Err(message) => {
                img.result = "error";
                img.message = Some(message.clone());
                output.errors.push(ScanError {
                    file: None,
                    line: None,
                    column: None,
                    reference: Some(img.image.clone()),
                    message: match &img.platform {
                        Some(p) => format!("{} ({p}): {message}", img.image),
                        None => format!("{}: {message}", img.image),
                    },
                });
            }
        }
        output.images.push(img);
    }
    output.summary.trivy_runs = trivy.runs.load(std::sync::atomic::Ordering::Relaxed);
    output.finish();
    Ok(output)
}

/// The Trivy settings of this run: flags, then the user's `TRIVY_*`, then Trivy's defaults.
fn trivy_settings(args: &TrivyArgs) -> Result<Settings> {
    Settings::resolve(
        Flags {
            cache_dir: args.cache_dir.as_ref(),
            db_repository: &args.db_repository,
            skip_db_update: args.skip_db_update,
            server: args.trivy_server.as_deref(),
            timeout_secs: args.scan_timeout,
        },
        |name| std::env::var(name).ok(),
    )
}

/// `--ignore-file`, else the Trivy ignore files at the root of the repository the scanned
/// files are in (as Trivy reads `.trivyignore` from where it runs: the repository root in CI).
fn ignore_files(args: &TrivyArgs, report: &Report) -> Vec<PathBuf> {
    if let Some(f) = &args.ignore_file {
        return vec![f.clone()];
    }
    let start = report
        .references
        .first()
        .map_or_else(|| PathBuf::from("."), |e| PathBuf::from(&e.file));
    ignore::discover(&ignore::repository_root(&start))
}

pub fn run(args: &ScanArgs) -> Result<ExitStatus> {
    let crate::commands::Settings { config, mapper, .. } =
        crate::commands::Settings::for_paths(&args.source, &args.paths, None)?;
    let plan = PlanOptions {
        direction: Direction::Forward,
        rewrite_hints: false,
    };
    let results = engine::run(
        &args.paths,
        &mapper,
        RunOptions {
            plan,
            write: false,
            diff: false,
            keep: false,
        },
    );
    let mut report = Report::build(mapper.harbor(), results, false);
    let output = scan_report(
        &mut report,
        &mapper,
        &args.registry,
        &args.trivy,
        &config.scan.allow,
        config.source.as_ref(),
    )?;
    match &args.output {
        Some(path) => {
            let mut file = anstream::AutoStream::never(
                std::fs::File::create(path)
                    .with_context(|| format!("cannot write {}", path.display()))?,
            );
            output.render(args.format, &mut file)?;
            crate::term::note(format!("harborize {}", headline_short(&output)));
        }
        // --quiet: no text report; the diagnostics and the exit status remain.
        None if crate::term::quiet() && args.format == crate::trivy::ScanFormat::Text => {}
        None => {
            let mut out = anstream::stdout().lock();
            output.render(args.format, &mut out)?;
        }
    }
    output.print_diagnostics();
    Ok(output.exit_code())
}

fn headline_short(o: &ScanOutput) -> String {
    format!(
        "scan: {} image(s), {} failed, {} error(s); {} failing finding(s) (threshold {})",
        o.summary.images, o.summary.failed, o.summary.errors, o.summary.failing, o.policy.severity
    )
}
