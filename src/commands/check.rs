//! `harborize check`: the pre-commit guard. Plans like `rewrite`, writes nothing.

use anyhow::Result;

use crate::cli::CheckArgs;
use crate::commands::{mapper_for, ExitStatus, EXIT_ERROR, EXIT_FINDINGS, EXIT_OK};
use crate::pipeline::engine::{self, RunOptions};
use crate::pipeline::plan::{Direction, PlanOptions, Status};
use crate::report::{Mode, Report};

pub fn run(args: &CheckArgs) -> Result<ExitStatus> {
    let mapper = mapper_for(&args.common)?;
    let opts = RunOptions {
        plan: PlanOptions {
            direction: if args.common.revert {
                Direction::Revert
            } else {
                Direction::Forward
            },
            rewrite_hints: args.common.rewrite_hints,
            every_document: args.common.parse_every_document,
        },
        write: false,
        diff: args.diff,
        keep: false,
    };
    let results = engine::run(&args.common.paths, &mapper, opts);
    let report = Report::build(mapper.harbor(), results, false);
    report.print(
        args.common.format,
        Mode::Check {
            strict: args.strict,
        },
        args.diff,
    )?;
    let failing = report.references.iter().any(|r| {
        r.status == Status::Rewritten
            // A valid reference that bypasses Harbor but cannot be edited in place (an
            // escaped or folded scalar): harborize cannot fix it, so it must not pass.
            || (r.status == Status::Invalid && r.rewritten.is_some())
            || (args.strict
                && matches!(r.status, Status::Unmapped | Status::Invalid | Status::Ambiguous))
    });
    let status = if report.summary.errors > 0 {
        EXIT_ERROR
    } else if failing {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    };
    // The process ends here: freeing a report of thousands of references one by one
    // would cost the run's last milliseconds on one core, for memory the exit returns.
    std::mem::forget(report);
    Ok(status)
}
