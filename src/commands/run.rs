//! `harborize run`: the whole pipeline in one command — rewrite → verify (→ warm with
//! `--warm`) → scan → commit (→ push). Each stage can be switched off; `--dry-run` plans, verifies and scans, shows
//! what would be written and commits nothing. A failing stage stops the run before any
//! byte is written. `--pull-request` commits to a branch named after the change
//! (`harborize/<hash>` of the base branch and every `old → new`), pushes it and opens (or
//! updates) a pull request into the base branch, as `bump` does.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::cli::RunArgs;
use crate::commands::bump::{
    branch_for_change, open_pull_request, pr_client, PrOut, PrResult, PrTarget, BASE_HAS_IT,
};
use crate::commands::scan::scan_report;
use crate::commands::verify::verify_report;
use crate::commands::{
    append_to_github_file, commit_outputs, ExitStatus, Settings, EXIT_ERROR, EXIT_FINDINGS, EXIT_OK,
};
use crate::config::Config;
use crate::pipeline::engine;
use crate::pipeline::plan::{Direction, PlanOptions, Status};
use crate::report::{Mode, Report};
use crate::vcs::git::{self, Auth, Git, Identity, PushOutcome};
use crate::vcs::github::{self, GitHub};

const DEFAULT_TEMPLATE: &str =
    "harborize: route {count} image reference(s) through Harbor\n\n{images}\n\nHarborize-Images: {count}";

fn env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

/// The git side of a committing run, settled before anything is written.
struct Session {
    git: Git,
    /// The branch commits go to and are pushed from: the checked-out branch, or the pull
    /// request branch once it is started.
    branch: String,
    /// The remote branch it is pushed to.
    remote_branch: String,
    /// The branch checked out when the run started.
    home: String,
    author: Identity,
    committer: Identity,
    /// `--pull-request`: the client (made before anything is written, so a missing token
    /// stops the run first), then the pull request branch once the change is known.
    client: Option<GitHub>,
    pr: Option<PrTarget>,
}

/// What the verify and scan stages found (for the pull request body).
#[derive(Default)]
struct Checked {
    verified: Option<(usize, usize)>,
    scanned: Option<(usize, String)>,
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
        Some(open_session(args, start)?)
    } else {
        None
    };

    let result = pipeline(args, &mapper, &config, plan, session.as_mut());
    if let Some(s) = session.as_ref().filter(|s| s.pr.is_some()) {
        // Back to the branch the user had: it was neither committed to nor moved.
        if let Err(e) = s.git.switch_to(&s.home) {
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
        // 1. rewrite (planned only)
        let plan_value = engine::plan(&args.common.paths, mapper, plan);
        let mut report = Report::build_from(mapper.harbor(), &plan_value, false);
        if report.summary.errors > 0 {
            report.print(args.common.format, Mode::Rewrite { applied: false }, false)?;
            eprintln!(
                "harborize run: stopped: {} file error(s); nothing was written",
                report.summary.errors
            );
            return Ok(EXIT_ERROR);
        }
        // 2. verify
        if !args.skip_verify && plan.direction == Direction::Forward {
            let (summary, _) = verify_report(&mut report, mapper, &args.registry)?;
            checked.verified = Some((summary.checked, summary.failed));
            let code = summary.exit_code(args.registry.on_unreachable);
            if summary.failed > summary.unreachable || code == EXIT_ERROR {
                report.print(args.common.format, Mode::Rewrite { applied: false }, false)?;
                eprintln!("harborize run: stopped at verify: {} reference(s) did not resolve; nothing was written", summary.failed);
                return Ok(code.max(EXIT_FINDINGS));
            }
        }
        // 2b. warm Harbor's cache (a failed image stops the run, as a failed check does)
        if args.warm && plan.direction == Direction::Forward {
            let code = super::warm::warm_stage(&report, mapper, config, &args.registry)?;
            if code != EXIT_OK {
                report.print(args.common.format, Mode::Rewrite { applied: false }, false)?;
                eprintln!("harborize run: stopped at warm: an image could not be warmed; nothing was written");
                return Ok(code);
            }
        }
        // 3. scan
        if !args.skip_scan && plan.direction == Direction::Forward {
            let output = scan_report(
                &mut report,
                mapper,
                &args.registry,
                &args.trivy,
                &config.scan.allow,
                config.source.as_ref(),
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
                return Ok(code);
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
        super::print_render_refusals(&outcomes);
        if args.dry_run {
            let mut shown = Report::build(mapper.harbor(), results, false);
            shown.attach_checks(&report);
            shown.print(
                args.common.format,
                Mode::Rewrite { applied: false },
                args.diff,
            )?;
            return Ok(if shown.summary.errors > 0 {
                EXIT_ERROR
            } else if shown.files_changed.is_empty() {
                EXIT_OK
            } else {
                EXIT_FINDINGS
            });
        }
        let mut written = Report::build(mapper.harbor(), results, true);
        written.attach_checks(&report);
        if written.summary.errors > 0 {
            written.print(
                args.common.format,
                Mode::Rewrite { applied: true },
                args.diff,
            )?;
            return Ok(EXIT_ERROR);
        }
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
                _ if s.client.is_some() => {
                    println!("harborize: nothing changed; no commit; {BASE_HAS_IT}")
                }
                _ => println!("harborize: nothing changed; no commit"),
            }
            write_github(&written, None, None)?;
            return Ok(EXIT_OK);
        }
        if attempt == 0 && s.pr.is_none() {
            if let Some(client) = s.client.clone() {
                // The change is known now: its branch takes the commit.
                pr_changes = rewritten_pairs(&written);
                let pr = branch_for_change(&s.git, client, "run", &s.remote_branch, &pr_changes)?;
                s.branch = pr.head.clone();
                s.remote_branch = pr.head.clone();
                s.pr = Some(pr);
            }
        }
        let files: Vec<PathBuf> = written
            .files_changed
            .iter()
            .map(|f| s.git.relative(Path::new(f)))
            .collect::<Result<_>>()?;
        let message = commit_message(args, &written, s);
        let Some(oid) = s
            .git
            .commit_files(&files, &message, &s.author, &s.committer)?
        else {
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
        match s.git.push(&args.git.remote, &s.branch, &s.remote_branch)? {
            PushOutcome::Pushed => {
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
            PushOutcome::Rejected(why) if attempt < args.git.push_retries => {
                // The remote moved: start again from its head and redo the whole run.
                attempt += 1;
                eprintln!("harborize: push rejected ({why}); retrying on the new remote head ({attempt}/{})", args.git.push_retries);
                s.git
                    .fetch_and_reset(&args.git.remote, &s.branch, &s.remote_branch)?;
                std::thread::sleep(std::time::Duration::from_millis(100 * u64::from(attempt)));
            }
            PushOutcome::Rejected(why) => {
                bail!(
                    "push rejected after {} retries: {why}",
                    args.git.push_retries
                )
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
    match open_pull_request(target, &title, &body)? {
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

fn open_session(args: &RunArgs, start: &Path) -> Result<Session> {
    let git = Git::discover(
        start,
        Auth::from_env(env).allow_hosts(&args.git.identity.git_token_host)?,
    )?;
    let dirty = git.dirty_files()?;
    if !dirty.is_empty() && !args.git.identity.allow_dirty {
        bail!(
            "the work tree has uncommitted changes to tracked files ({}): commit or stash them, or pass --allow-dirty to commit only this run's files",
            dirty.join(", ")
        );
    }
    let (author, committer) = git::identities(
        &git.repo,
        args.git.identity.author_name.as_deref(),
        args.git.identity.author_email.as_deref(),
        env,
    )?;
    let branch = git.current_branch()?;
    let remote_branch = git.remote_branch(&branch);
    let client = if args.git.pull_request {
        Some(pr_client(&git, &args.git.remote, &branch, env)?)
    } else {
        None
    };
    Ok(Session {
        git,
        branch: branch.clone(),
        remote_branch,
        home: branch,
        author,
        committer,
        client,
        pr: None,
    })
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
    let images: Vec<serde_json::Value> = rewritten
        .iter()
        .map(|r| serde_json::json!({"file": r.file, "line": r.line, "from": r.original, "to": r.rewritten}))
        .collect();
    let outputs = commit_outputs(
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
