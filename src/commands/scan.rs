//! `harborize scan`: plan like `verify`, then run the scan stage
//! ([`crate::checks::scan`]: every Harbor reference resolved to its digest, the real
//! Trivy once per unique digest, the policy) and render its report. This module also turns
//! the Trivy flags into the stage's [`TrivyOptions`].

use anyhow::{Context, Result};

use crate::checks::scan::TrivyOptions;
use crate::cli::{ScanArgs, TrivyArgs};
use crate::commands::ExitStatus;
use crate::pipeline::engine::{self, RunOptions};
use crate::pipeline::plan::{Direction, PlanOptions};
use crate::report::scan::ScanOutput;
use crate::report::Report;

impl TrivyArgs {
    /// The Trivy flags as the scan stage takes them; `TRIVY_*` and the server token are
    /// read from the process environment.
    pub fn options(&self) -> TrivyOptions {
        TrivyOptions {
            severity: self.severity,
            ignore_unfixed: self.ignore_unfixed,
            ignore_file: self.ignore_file.clone(),
            trivy: self.trivy.clone(),
            cache_dir: self.cache_dir.clone(),
            trivy_server: self.trivy_server.clone(),
            skip_db_update: self.skip_db_update,
            db_repository: self.db_repository.clone(),
            scan_jobs: self.scan_jobs,
            scan_timeout: self.scan_timeout,
            scanners: self.scanners.clone(),
            env: |name| std::env::var(name).ok(),
        }
    }
}

pub fn run(args: &ScanArgs) -> Result<ExitStatus> {
    let crate::commands::Settings { config, mapper, .. } =
        crate::commands::Settings::for_paths(&args.source, &args.paths, None)?;
    let plan = PlanOptions {
        direction: Direction::Forward,
        rewrite_hints: false,
        every_document: false,
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
    let output =
        crate::commands::scan_stage(&mut report, &mapper, (&args.registry, &args.trivy), &config)?;
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
