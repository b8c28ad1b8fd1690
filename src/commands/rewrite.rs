//! `harborize rewrite`: plan once, check the plan (verify, scan) when asked, then write
//! exactly that plan.

use anyhow::Result;

use crate::checks::verify::verify_report;
use crate::cli::RewriteArgs;
use crate::commands::{ExitStatus, Settings, EXIT_ERROR, EXIT_FINDINGS, EXIT_OK};
use crate::pipeline::engine::{self, RunOptions};
use crate::pipeline::plan::{Direction, PlanOptions};
use crate::pipeline::render::{Outcome, ProofSettings};
use crate::report::{Mode, Report};

pub fn run(args: &RewriteArgs) -> Result<ExitStatus> {
    let Settings { config, mapper, .. } = Settings::for_common(&args.common)?;
    let plan_options = PlanOptions {
        direction: if args.common.revert {
            Direction::Revert
        } else {
            Direction::Forward
        },
        rewrite_hints: args.common.rewrite_hints,
        every_document: args.common.parse_every_document,
    };
    let mut proof = proof_settings(args, &config)?;
    proof.hints = args.common.rewrite_hints;
    if !args.verify && !args.scan {
        // Nothing to check before writing: plan, prove and write each file in one pass
        // (files a chart or kustomization consumes wait for the render proof).
        let (results, outcomes) = engine::run_proven(
            &args.common.paths,
            &mapper,
            RunOptions {
                plan: plan_options,
                write: !args.dry_run,
                diff: args.diff,
                keep: false,
            },
            None,
            &proof,
        );
        let report = Report::build(mapper.harbor(), results, !args.dry_run);
        return finish(args, report, &outcomes, EXIT_OK);
    }
    // Plan once; the checks annotate this plan and `apply` writes this plan.
    let plan = engine::plan(&args.common.paths, &mapper, plan_options);
    let mut checked = Report::build_from(mapper.harbor(), &plan, false);
    let mut verify_code = EXIT_OK;
    if args.verify {
        let (summary, _) = verify_report(&mut checked, &mapper, &args.registry.options())?;
        verify_code = summary.exit_code(args.registry.on_unreachable);
        if summary.failed > 0 && !args.allow_unresolved {
            checked.print(args.common.format, Mode::Rewrite { applied: false }, false)?;
            eprintln!(
                "harborize: {} reference(s) did not resolve through Harbor; nothing was written (--allow-unresolved writes anyway)",
                summary.failed
            );
            return Ok(verify_code.max(EXIT_FINDINGS));
        }
    }
    if args.scan {
        let output = crate::commands::scan_stage(
            &mut checked,
            &mapper,
            (&args.registry, &args.trivy),
            &config,
        )?;
        let code = output.exit_code();
        if code != EXIT_OK {
            output.render(
                crate::trivy::ScanFormat::Text,
                &mut anstream::stdout().lock(),
            )?;
            output.print_diagnostics();
            eprintln!("harborize: the scan policy failed; nothing was written");
            return Ok(code);
        }
    }
    let (results, outcomes) = engine::apply_proven(
        &args.common.paths,
        plan,
        (args.diff, !args.dry_run),
        &proof,
        (&mapper, plan_options.direction),
    );
    let mut report = Report::build(mapper.harbor(), results, !args.dry_run);
    report.attach_checks(&checked);
    finish(args, report, &outcomes, verify_code)
}

fn finish(
    args: &RewriteArgs,
    report: Report,
    outcomes: &[Outcome],
    verify_code: ExitStatus,
) -> Result<ExitStatus> {
    report.print(
        args.common.format,
        Mode::Rewrite {
            applied: !args.dry_run,
        },
        args.diff,
    )?;
    super::print_render_refusals(outcomes);
    Ok(if report.summary.errors > 0 {
        EXIT_ERROR
    } else if args.dry_run && !report.files_changed.is_empty() {
        EXIT_FINDINGS
    } else {
        verify_code
    })
}

/// The render proof's settings: `--no-render-proof`, `--helm`, `--kustomize`, then the
/// `render:` section of harborize.yaml, then PATH.
fn proof_settings(args: &RewriteArgs, config: &crate::config::Config) -> Result<ProofSettings> {
    ProofSettings::resolve(
        args.render.no_render_proof,
        args.render.helm.as_deref(),
        args.render.kustomize.as_deref(),
        &config.render,
    )
    .map_err(anyhow::Error::msg)
}
