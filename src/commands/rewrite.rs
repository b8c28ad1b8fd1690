//! `harborize rewrite`: plan, prove and write the edits.

use anyhow::Result;

use crate::cli::RewriteArgs;
use crate::commands::scan::scan_report;
use crate::commands::verify::verify_report;
use crate::commands::{mapper_for, EXIT_ERROR, EXIT_FINDINGS, EXIT_OK};
use crate::engine::{self, RunOptions};
use crate::plan::{Direction, PlanOptions};
use crate::render::{Outcome, ProofSettings, Verdict};
use crate::report::{Mode, Report};

pub fn run(args: &RewriteArgs) -> Result<u8> {
    let mapper = mapper_for(&args.common)?;
    let opts = RunOptions {
        plan: PlanOptions {
            direction: if args.common.revert {
                Direction::Revert
            } else {
                Direction::Forward
            },
            rewrite_hints: args.common.rewrite_hints,
        },
        write: !args.dry_run,
        diff: args.diff,
    };
    let mut verify_code = EXIT_OK;
    let mut verified = None;
    if args.verify {
        // Plan without writing, prove the planned references through Harbor, then write.
        let planned = engine::run(
            &args.common.paths,
            &mapper,
            RunOptions {
                write: false,
                diff: false,
                ..opts
            },
        );
        let mut plan_report = Report::build(mapper.harbor(), planned, false);
        let (summary, _) = verify_report(&mut plan_report, &mapper, &args.registry)?;
        verify_code = summary.exit_code(args.registry.on_unreachable);
        if summary.failed > 0 && !args.allow_unresolved {
            plan_report.print(args.common.format, Mode::Rewrite { applied: false }, false)?;
            eprintln!(
                "harborize: {} reference(s) did not resolve through Harbor; nothing was written (--allow-unresolved writes anyway)",
                summary.failed
            );
            return Ok(verify_code.max(EXIT_FINDINGS));
        }
        verified = Some(plan_report);
    }
    if args.scan {
        let mut plan_report = match verified.take() {
            Some(r) => r,
            None => {
                let planned = engine::run(
                    &args.common.paths,
                    &mapper,
                    RunOptions {
                        write: false,
                        diff: false,
                        ..opts
                    },
                );
                Report::build(mapper.harbor(), planned, false)
            }
        };
        let start = args
            .common
            .paths
            .first()
            .map_or(std::path::Path::new("."), |p| p.as_path());
        let config = crate::config::Config::load(args.common.config.as_deref(), start)?;
        let output = scan_report(
            &mut plan_report,
            &mapper,
            &args.registry,
            &args.trivy,
            &config.scan.allow,
            config.source.as_ref(),
        )?;
        let code = output.exit_code();
        if code != EXIT_OK {
            output.render(
                crate::trivy::ScanFormat::Text,
                &mut anstream::stdout().lock(),
            )?;
            eprintln!("harborize: the scan policy failed; nothing was written");
            return Ok(code);
        }
        verified = Some(plan_report);
    }
    let mut proof = proof_settings(args)?;
    proof.hints = args.common.rewrite_hints;
    let (results, outcomes) = engine::run_proven(&args.common.paths, &mapper, opts, None, &proof);
    let mut report = Report::build(mapper.harbor(), results, !args.dry_run);
    if let Some(v) = verified {
        // Carry the checks over to the written report (same walk order, same sites).
        for (entry, checked) in report.references.iter_mut().zip(v.references) {
            entry.verify = checked.verify;
        }
    }
    report.print(
        args.common.format,
        Mode::Rewrite {
            applied: !args.dry_run,
        },
        args.diff,
    )?;
    print_refused(&outcomes);
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
fn proof_settings(args: &RewriteArgs) -> Result<ProofSettings> {
    let start = args
        .common
        .paths
        .first()
        .map_or(std::path::Path::new("."), |p| p.as_path());
    let config = crate::config::Config::load(args.common.config.as_deref(), start)?;
    ProofSettings::resolve(
        args.render.no_render_proof,
        args.render.helm.as_deref(),
        args.render.kustomize.as_deref(),
        &config.render,
    )
    .map_err(anyhow::Error::msg)
}

/// The rendered difference of every refused chart or kustomization (stderr: the report
/// on stdout stays one format).
fn print_refused(outcomes: &[Outcome]) {
    for o in outcomes {
        if let Verdict::Refused { summary, diff } = &o.verdict {
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
