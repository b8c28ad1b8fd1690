//! `harborize verify`: plan like `check`, then prove through Harbor that every reference
//! resolves; optionally pin digests into the manifests or write / check a lock file.
//! The verify stage itself is [`crate::checks::verify`]; this module composes it and
//! turns the registry flags into its [`RegistryOptions`].

use std::collections::BTreeMap;

use anyhow::Result;

use crate::checks::verify::lock::{apply_lock, read_lock, write_lock};
use crate::checks::verify::{verify_report, RegistryOptions};
use crate::cli::{RegistryArgs, VerifyArgs};
use crate::commands::{mapper_for, ExitStatus, EXIT_ERROR};
use crate::mapping::Mapper;
use crate::pipeline::engine::{self, Pins, RunOptions};
use crate::pipeline::plan::{Direction, PlanOptions};
use crate::registry::{Check, Outcome};
use crate::report::{Mode, Report};

impl RegistryArgs {
    /// The registry flags as the stages that talk to the cache (verify, warm, scan) take them.
    pub fn options(&self) -> RegistryOptions {
        RegistryOptions {
            cacert: self.cacert.clone(),
            insecure: self.insecure,
            plain_http: self.plain_http,
            jobs: self.jobs,
            timeout: self.timeout,
            retries: self.retries,
            on_unreachable: self.on_unreachable,
            platform: self.platform.clone(),
            credentials: super::settings::credential_sources(),
            resolve: super::settings::env("HARBORIZE_RESOLVE"),
        }
    }
}

pub fn run(args: &VerifyArgs) -> Result<ExitStatus> {
    let mapper = mapper_for(&args.common)?;
    let plan = PlanOptions {
        direction: Direction::Forward,
        rewrite_hints: args.common.rewrite_hints,
        every_document: args.common.parse_every_document,
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
    let (mut summary, checks) = verify_report(&mut report, &mapper, &args.registry.options())?;
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
