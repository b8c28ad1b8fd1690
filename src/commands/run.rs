//! `harborize run`: the whole pipeline in one command — rewrite → verify (→ warm with
//! `--warm`) → scan → commit (→ push). Each stage can be switched off; `--dry-run` plans, verifies and scans, shows
//! what would be written and commits nothing. A failing stage stops the run before any
//! byte is written. `--pull-request` commits to a branch named after the change
//! (`harborize/<hash>` of the base branch and every `old → new`), pushes it and opens (or
//! updates) a pull request into the base branch, as `bump` does.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::cli::RunArgs;
use crate::commands::{ExitStatus, Settings, EXIT_OK};
use crate::config::Config;
use crate::pipeline::plan::{Direction, PlanOptions};
use crate::report::Mode;
use crate::vcs::publish::{Session, Step};
use crate::vcs::pull_request::BASE_HAS_IT;

mod publish;
mod stages;

use publish::{commit_message, pull_request, rewritten_pairs, write_github};
use stages::{Checked, Staged};

fn env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

pub fn run(args: &RunArgs) -> Result<ExitStatus> {
    let Settings { config, mapper, .. } = Settings::for_common(&args.common)?;
    let start = args
        .common
        .paths
        .first()
        .map_or(Path::new("."), |p| p.as_path());
    let plan = PlanOptions {
        direction: if args.common.revert {
            Direction::Revert
        } else {
            Direction::Forward
        },
        rewrite_hints: args.common.rewrite_hints,
        every_document: args.common.parse_every_document,
    };
    let committing = !args.skip_commit && !args.dry_run;
    let mut session = if committing {
        Some(Session::open(
            start,
            &super::bump::git_options(&args.git),
            env,
        )?)
    } else {
        None
    };

    let result = pipeline(args, &mapper, &config, plan, session.as_mut());
    if let Some(s) = &session {
        // Back to the branch the user had: it was neither committed to nor moved.
        if let Err(e) = s.go_home() {
            eprintln!("harborize: warning: {e:#}; {} stays checked out", s.branch);
        }
    }
    result
}

/// The stages, then commit, push (redoing the run on a moved remote), pull request.
fn pipeline(
    args: &RunArgs,
    mapper: &crate::mapping::Mapper,
    config: &Config,
    plan: PlanOptions,
    mut session: Option<&mut Session>,
) -> Result<ExitStatus> {
    let push = args.git.push || args.git.pull_request;
    let mut checked = Checked::default();
    // The change as first committed (a retry that finds it on the remote branch already
    // changes nothing itself).
    let mut pr_changes: Vec<(String, String)> = Vec::new();
    let mut attempt = 0u32;
    loop {
        let written = match stages::plan_check_write(args, mapper, config, plan, &mut checked)? {
            Staged::Written(written) => *written,
            Staged::Done(code) => return Ok(code),
        };
        // 5. commit (and push)
        let Some(s) = session.as_deref_mut() else {
            written.print(
                args.common.format,
                Mode::Rewrite { applied: true },
                args.diff,
            )?;
            write_github(&written, None, None)?;
            return Ok(EXIT_OK);
        };
        if written.files_changed.is_empty() {
            written.print(
                args.common.format,
                Mode::Rewrite { applied: true },
                args.diff,
            )?;
            match &s.pr {
                // A retry: the pull request branch on the remote carries the change.
                Some(target) if attempt > 0 => {
                    let head = s.git.head()?.to_string();
                    println!(
                        "harborize: the remote branch {} already has this change; no commit",
                        target.head
                    );
                    let pr = pull_request(target, &pr_changes, &checked, &head)?;
                    write_github(&written, Some(&head), pr.as_ref())?;
                    return Ok(EXIT_OK);
                }
                // At the first attempt the base branch has it.
                _ if s.wants_pull_request() => {
                    println!("harborize: nothing changed; no commit; {BASE_HAS_IT}")
                }
                _ => println!("harborize: nothing changed; no commit"),
            }
            write_github(&written, None, None)?;
            return Ok(EXIT_OK);
        }
        if attempt == 0 && s.pr.is_none() && s.wants_pull_request() {
            // The change is known now: its branch takes the commit.
            pr_changes = rewritten_pairs(&written);
            s.branch_for_change("run", &pr_changes)?;
        }
        let files: Vec<PathBuf> = written
            .files_changed
            .iter()
            .map(|f| s.git.relative(Path::new(f)))
            .collect::<Result<_>>()?;
        let message = commit_message(args, &written, s);
        let Some(oid) = s.commit(&files, &message)? else {
            written.print(
                args.common.format,
                Mode::Rewrite { applied: true },
                args.diff,
            )?;
            println!("harborize: the committed tree did not change; no commit");
            return Ok(EXIT_OK);
        };
        if !push {
            written.print(
                args.common.format,
                Mode::Rewrite { applied: true },
                args.diff,
            )?;
            println!(
                "harborize: committed {} on {}",
                &oid.to_string()[..12],
                s.branch
            );
            write_github(&written, Some(&oid.to_string()), None)?;
            return Ok(EXIT_OK);
        }
        // The publish flow's push: on a moved remote it waits, fetches and resets onto the
        // new head; the loop then redoes the whole run there.
        match s.push(oid, None)? {
            Step::Pushed => {
                written.print(
                    args.common.format,
                    Mode::Rewrite { applied: true },
                    args.diff,
                )?;
                println!(
                    "harborize: committed {} and pushed to {}/{}",
                    &oid.to_string()[..12],
                    args.git.remote,
                    s.remote_branch
                );
                let pr = match &s.pr {
                    Some(target) => pull_request(target, &pr_changes, &checked, &oid.to_string())?,
                    None => None,
                };
                write_github(&written, Some(&oid.to_string()), pr.as_ref())?;
                return Ok(EXIT_OK);
            }
            Step::Moved(m) => {
                attempt = m.attempt;
                eprintln!(
                    "harborize: push rejected ({}); waited {} ms, fetched {}/{}; running again on the new remote head ({attempt}/{})",
                    m.why,
                    m.waited.as_millis(),
                    s.remote,
                    s.remote_branch,
                    m.retries
                );
            }
        }
    }
}
