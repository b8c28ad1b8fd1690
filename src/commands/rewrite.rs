//! `harborize rewrite`: plan, prove and write the edits.

use anyhow::Result;

use crate::cli::RewriteArgs;
use crate::commands::{mapper_for, EXIT_ERROR, EXIT_FINDINGS, EXIT_OK};
use crate::engine::{self, RunOptions};
use crate::plan::{Direction, PlanOptions};
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
    let results = engine::run(&args.common.paths, &mapper, opts);
    let report = Report::build(mapper.harbor(), results, !args.dry_run);
    report.print(
        args.common.format,
        Mode::Rewrite {
            applied: !args.dry_run,
        },
        args.diff,
    )?;
    Ok(if report.summary.errors > 0 {
        EXIT_ERROR
    } else if args.dry_run && !report.files_changed.is_empty() {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    })
}
