//! `harborize run`: the whole pipeline in one command — rewrite → verify (→ warm with
//! `--warm`) → scan → commit (→ push). Each stage can be switched off; `--dry-run` plans, verifies and scans, shows
//! what would be written and commits nothing. A failing stage stops the run before any
//! byte is written. `--pull-request` commits to a branch named after the change
//! (`harborize/<hash>` of the base branch and every `old → new`), pushes it and opens (or
//! updates) a pull request into the base branch, as `bump` does.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::cli::RunArgs;
use crate::commands::{append_to_github_file, ExitStatus, Settings, EXIT_OK};
use crate::config::Config;
use crate::pipeline::plan::{Direction, PlanOptions, Status};
use crate::report::{Mode, Report};
use crate::vcs::git;
use crate::vcs::github::{self, PrOut};
use crate::vcs::outputs::{github_outputs, ChangedImage, Rewrite};
use crate::vcs::publish::{Session, Step};
use crate::vcs::pull_request::{self, PrResult, PrTarget, BASE_HAS_IT};

mod stages;

use stages::{Checked, Staged};

const DEFAULT_TEMPLATE: &str =
    "harborize: route {count} image reference(s) through Harbor\n\n{images}\n\nHarborize-Images: {count}";

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

/// Every distinct `old → new` the written report applied, sorted.
fn rewritten_pairs(report: &Report) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = report
        .references
        .iter()
        .filter(|r| r.status == Status::Rewritten && r.applied)
        .map(|r| (r.original.clone(), r.rewritten.clone().unwrap_or_default()))
        .collect();
    pairs.sort();
    pairs.dedup();
    pairs
}

/// Open or update the pull request for the change on `target.head` (at `commit`); say what
/// happened. `None` when the base already has the change.
fn pull_request(
    target: &PrTarget,
    changes: &[(String, String)],
    checked: &Checked,
    commit: &str,
) -> Result<Option<PrOut>> {
    let count = changes.len();
    let title = format!("harborize: route {count} image reference(s) through Harbor");
    let mut notes = Vec::new();
    match checked.verified {
        Some((n, failed)) => notes.push(format!(
            "Verified: {n} reference(s) checked through Harbor, {failed} failed."
        )),
        None => notes.push("Verified: no (`--skip-verify`).".to_string()),
    }
    match &checked.scanned {
        Some((images, severity)) => notes.push(format!(
            "Scanned: {images} image(s) with Trivy, none failing at {severity} or above."
        )),
        None => notes.push("Scanned: no (`--skip-scan`).".to_string()),
    }
    notes.push(format!("Commit: `{commit}` on `{}`.", target.head));
    let body = github::markdown_body(
        &format!("harborize run: {count} image reference(s) through Harbor"),
        changes,
        &notes,
    );
    match pull_request::open(target, &title, &body)? {
        PrResult::Done(p) => {
            println!("harborize: {}", p.describe());
            Ok(Some(p))
        }
        PrResult::NothingNew => {
            println!("harborize: {BASE_HAS_IT}");
            Ok(None)
        }
    }
}

fn commit_message(args: &RunArgs, report: &Report, s: &Session) -> String {
    let mut changes: Vec<String> = report
        .references
        .iter()
        .filter(|r| r.status == Status::Rewritten && r.applied)
        .map(|r| {
            format!(
                "- {} → {}",
                r.original,
                r.rewritten.as_deref().unwrap_or("")
            )
        })
        .collect();
    changes.sort();
    changes.dedup();
    let count = changes.len();
    git::render_message(
        args.git
            .message_template
            .as_deref()
            .unwrap_or(DEFAULT_TEMPLATE),
        &changes.join("\n"),
        count,
        &format!("{count} image reference(s) through Harbor"),
        args.git.identity.signoff.then_some(&s.committer),
    )
}

/// In GitHub Actions: `changed`, `commit`, `pr-url` (empty without a pull request),
/// `images` to `$GITHUB_OUTPUT`; a markdown table to `$GITHUB_STEP_SUMMARY`.
fn write_github(report: &Report, commit: Option<&str>, pr: Option<&PrOut>) -> Result<()> {
    let rewritten: Vec<&crate::report::ReferenceEntry> = report
        .references
        .iter()
        .filter(|r| r.status == Status::Rewritten && r.applied)
        .collect();
    // The shape bump writes: one entry per new reference.
    let images = ChangedImage::group(rewritten.iter().map(|r| Rewrite {
        file: &r.file,
        original: &r.original,
        normalized: r.normalized.as_deref(),
        rewritten: r.rewritten.as_deref().unwrap_or(""),
    }));
    let outputs = github_outputs(
        !report.files_changed.is_empty(),
        commit,
        pr.map(|p| p.url.as_str()),
        &images,
    )?;
    append_to_github_file(env, "GITHUB_OUTPUT", &outputs)?;
    if env("GITHUB_STEP_SUMMARY").is_some_and(|p| !p.is_empty()) {
        let mut md =
            String::from("### harborize run\n\n| file | line | from | to |\n|---|---|---|---|\n");
        for r in &rewritten {
            md.push_str(&format!(
                "| `{}` | {} | `{}` | `{}` |\n",
                r.file,
                r.line,
                r.original,
                r.rewritten.as_deref().unwrap_or("")
            ));
        }
        md.push_str(&format!(
            "\n{} reference(s), {} rewritten, {} unmapped, {} files changed\n",
            report.summary.references,
            report.summary.rewritten,
            report.summary.unmapped,
            report.files_changed.len()
        ));
        if let Some(p) = pr {
            md.push_str(&format!("\nPull request: {}\n", p.url));
        }
        append_to_github_file(env, "GITHUB_STEP_SUMMARY", &md)?;
    }
    Ok(())
}
