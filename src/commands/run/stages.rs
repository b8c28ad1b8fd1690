//! The stages of `harborize run` before the commit, run once per attempt: plan once,
//! verify (→ warm) → scan that plan, then prove it by rendering and write exactly it. A
//! failing stage prints the report and stops the run before any byte is written.

use anyhow::Result;

use crate::checks::verify::verify_report;
use crate::cli::RunArgs;
use crate::commands::{EXIT_ERROR, EXIT_FINDINGS, EXIT_OK};
use crate::config::Config;
use crate::mapping::Mapper;
use crate::pipeline::engine;
use crate::pipeline::plan::{Direction, PlanOptions};
use crate::report::{Mode, Report};

/// What the verify and scan stages found (for the pull request body).
#[derive(Default)]
pub(super) struct Checked {
    pub(super) verified: Option<(usize, usize)>,
    pub(super) scanned: Option<(usize, String)>,
}

/// Where the stages left the run.
pub(super) enum Staged {
    /// The plan passed every stage and was written: the report of what was written.
    Written(Box<Report>),
    /// The run ends here with this exit code, its report printed (a stage failed, or a dry
    /// run showed what it would write).
    Done(crate::exit::ExitStatus),
}

/// Plan, check and write one attempt of the run; `checked` records what verify and scan
/// found.
pub(super) fn plan_check_write(
    args: &RunArgs,
    mapper: &Mapper,
    config: &Config,
    plan: PlanOptions,
    checked: &mut Checked,
) -> Result<Staged> {
    // 1. rewrite (planned only)
    let plan_value = engine::plan(&args.common.paths, mapper, plan);
    let mut report = Report::build_from(mapper.harbor(), &plan_value, false);
    if report.summary.errors > 0 {
        report.print(args.common.format, Mode::Rewrite { applied: false }, false)?;
        eprintln!(
            "harborize run: stopped: {} file error(s); nothing was written",
            report.summary.errors
        );
        return Ok(Staged::Done(EXIT_ERROR));
    }
    // 2. verify
    if !args.skip_verify && plan.direction == Direction::Forward {
        let (summary, _) = verify_report(&mut report, mapper, &args.registry.options())?;
        checked.verified = Some((summary.checked, summary.failed));
        let code = summary.exit_code(args.registry.on_unreachable);
        if summary.failed > summary.unreachable || code == EXIT_ERROR {
            report.print(args.common.format, Mode::Rewrite { applied: false }, false)?;
            eprintln!("harborize run: stopped at verify: {} reference(s) did not resolve; nothing was written", summary.failed);
            return Ok(Staged::Done(code.max(EXIT_FINDINGS)));
        }
    }
    // 2b. warm Harbor's cache (a failed image stops the run, as a failed check does)
    if args.warm && plan.direction == Direction::Forward {
        let code =
            crate::commands::warm::warm_stage(&report, mapper, config, &args.registry.options())?;
        if code != EXIT_OK {
            report.print(args.common.format, Mode::Rewrite { applied: false }, false)?;
            eprintln!(
                "harborize run: stopped at warm: an image could not be warmed; nothing was written"
            );
            return Ok(Staged::Done(code));
        }
    }
    // 3. scan
    if !args.skip_scan && plan.direction == Direction::Forward {
        let output = crate::commands::scan_stage(
            &mut report,
            mapper,
            (&args.registry, &args.trivy),
            config,
        )?;
        checked.scanned = Some((output.summary.images, output.policy.severity.to_string()));
        let code = output.exit_code();
        if code != EXIT_OK {
            output.render(
                crate::trivy::ScanFormat::Text,
                &mut anstream::stdout().lock(),
            )?;
            output.print_diagnostics();
            eprintln!("harborize run: stopped at scan: the policy failed; nothing was written");
            return Ok(Staged::Done(code));
        }
    }
    // 4. prove Helm and kustomize edits by rendering, and write exactly the plan that
    // was checked (a dry run proves without writing)
    let mut proof =
        crate::pipeline::render::ProofSettings::resolve(false, None, None, &config.render)
            .map_err(anyhow::Error::msg)?;
    proof.hints = plan.rewrite_hints;
    let (results, outcomes) = engine::apply_proven(
        &args.common.paths,
        plan_value,
        (args.diff, !args.dry_run),
        &proof,
        (mapper, plan.direction),
    );
    crate::commands::print_render_refusals(&outcomes);
    if args.dry_run {
        let mut shown = Report::build(mapper.harbor(), results, false);
        shown.attach_checks(&report);
        shown.print(
            args.common.format,
            Mode::Rewrite { applied: false },
            args.diff,
        )?;
        return Ok(Staged::Done(if shown.summary.errors > 0 {
            EXIT_ERROR
        } else if shown.files_changed.is_empty() {
            EXIT_OK
        } else {
            EXIT_FINDINGS
        }));
    }
    let mut written = Report::build(mapper.harbor(), results, true);
    written.attach_checks(&report);
    if written.summary.errors > 0 {
        written.print(
            args.common.format,
            Mode::Rewrite { applied: true },
            args.diff,
        )?;
        return Ok(Staged::Done(EXIT_ERROR));
    }
    Ok(Staged::Written(Box::new(written)))
}
