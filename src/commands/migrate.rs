//! `harborize migrate`: the bulk migration. For each repository (a directory, or a git URL
//! cloned into the workdir): rewrite everything, optionally verify and scan first (a
//! repository that fails is neither written nor committed), then commit per repository or
//! per top-level directory and push. Finished repositories go into a state file so a rerun
//! skips them; the run ends with a markdown + JSON report and, when asked, a Renovate
//! `registryAliases` snippet and the list of `imagePullSecrets` to decommission.
//!
//! `--pull-request`: per repository, the commits go to a branch named after the change
//! (`harborize/<hash>` of the base branch and every `old → new`), pushed to the
//! repository's own remote, and a pull request is opened (or updated) there into the base
//! branch. A repository counts as finished only once its pull request exists (or there was
//! nothing to change).
//!
//! `--shard I/N` (or an Indexed Job's environment) runs one deterministic share of the list
//! (`crate::migrate::shard`), with its own state and report files; `--matrix N` prints the
//! GitHub Actions matrix; `--merge-reports DIR` combines the shard reports
//! (`crate::migrate::report_merge`) and ends as a whole run would.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{Common, MigrateArgs, OnUnreachable};
use crate::commands::bump::{
    branch_for_change, open_pull_request, pr_client, PrResult, PrTarget, BASE_HAS_IT,
};
use crate::commands::scan::scan_report;
use crate::commands::verify::verify_report;
use crate::commands::{ExitStatus, Settings, EXIT_ERROR, EXIT_FINDINGS, EXIT_OK};
use crate::config::Config;
use crate::migrate::shard::{self as migrate_shard, ShardInfo};
use crate::migrate::{
    self, BatchBy, CommitInfo, Direction, MigrationReport, RepoReport, RepoStatus, ScanInfo,
    Source, State, VerifyFailure, VerifyInfo,
};
use crate::pipeline::engine::{self, RunOptions};
use crate::pipeline::plan::{self, PlanOptions};
use crate::registry::Outcome;
use crate::report::{escape_text, Format, Report};
use crate::vcs::git::{self, Auth, Git, Identity, PushOutcome};
use crate::vcs::github::{self, GitHub};

/// At most this many `old → new` lines in a commit message.
const MESSAGE_LINES: usize = 50;

struct Ctx<'a> {
    args: &'a MigrateArgs,
    direction: Direction,
    commit: bool,
    push: bool,
    batch: BatchBy,
    workdir: PathBuf,
}

/// Git for one repository: opened, checked and identified before anything is written.
struct Session {
    git: Git,
    /// The branch commits go to and are pushed from: the checked-out branch, or the pull
    /// request branch once it is started.
    branch: String,
    /// The remote branch it is pushed to.
    remote_branch: String,
    /// The branch checked out when the repository's turn started.
    home: String,
    dirty: Vec<String>,
    author: Identity,
    committer: Identity,
    /// `--pull-request`: the client for this repository (made before anything is written),
    /// then the pull request branch once the change is known.
    client: Option<GitHub>,
    pr: Option<PrTarget>,
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

pub fn run(args: &MigrateArgs) -> Result<ExitStatus> {
    if let Some(n) = args.matrix {
        println!("{}", migrate_shard::matrix_json(n));
        return Ok(EXIT_OK);
    }
    if let Some(dir) = &args.merge_reports {
        let report = crate::migrate::report_merge::merge_dir(dir)?;
        let out = args.report_dir.clone().unwrap_or_else(|| dir.clone());
        return finish(args, &report, Some(&out), "");
    }
    let shard = migrate_shard::resolve(args.shard, env)?;
    let direction = if args.revert {
        Direction::Revert
    } else {
        Direction::Migrate
    };
    if args.revert && (args.verify || args.scan) {
        bail!("--verify and --scan check Harbor references: they do not go with --revert");
    }
    if args.revert && args.pull_secrets.is_some() {
        bail!("--pull-secrets lists secrets a migration to Harbor makes unneeded: it does not go with --revert");
    }
    let sources: Vec<Source> = args
        .repos
        .iter()
        .map(|a| Source::parse(a))
        .collect::<Result<_>>()?;
    let mut keys = std::collections::BTreeSet::new();
    for s in &sources {
        if !keys.insert(s.key()) {
            bail!("{} is named twice", s.key());
        }
    }
    // Only this shard's repositories; the report and state files carry the shard's name.
    let selected: Vec<usize> = match shard {
        Some(s) => s.select(&args.repos),
        None => (0..sources.len()).collect(),
    };
    let tag = shard.map_or_else(String::new, |s| format!("-{}", s.file_tag()));
    let state_path = args.state.clone().or_else(|| {
        args.report_dir
            .as_ref()
            .map(|d| d.join(format!("migration-state{tag}.json")))
    });
    let mut state = match &state_path {
        Some(p) => State::load(p)?,
        None => State::default(),
    };
    let workdir = args.workdir.clone().unwrap_or_else(|| {
        args.report_dir
            .as_ref()
            .map_or_else(|| PathBuf::from("harborize-repos"), |d| d.join("repos"))
    });
    let ctx = Ctx {
        args,
        direction,
        commit: args.commit || args.push || args.pull_request || args.batch_by.is_some(),
        push: args.push || args.pull_request,
        batch: args.batch_by.unwrap_or(BatchBy::Repo),
        workdir,
    };

    let pb = progress(selected.len() as u64);
    let mut reports = Vec::new();
    for &i in &selected {
        let (src, arg) = (&sources[i], &args.repos[i]);
        let key = src.key();
        let shown = match src {
            Source::Url(u) => git::redact_url(u),
            Source::Dir(_) => arg.clone(),
        };
        pb.set_message(shown.clone());
        if let Some(done) = state.finished(&key, direction) {
            let mut r = done.report.clone();
            r.repo = shown;
            r.status = RepoStatus::Skipped;
            let commits = if done.commits.is_empty() {
                String::new()
            } else {
                format!(
                    ", commit {}",
                    done.commits
                        .iter()
                        .map(|c| migrate::short(c))
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            };
            r.message = Some(format!(
                "finished in an earlier run ({}{commits}); remove its entry from {} to run it again",
                done.finished,
                state_path
                    .as_ref()
                    .map_or_else(String::new, |p| p.display().to_string())
            ));
            reports.push(r);
            pb.inc(1);
            continue;
        }
        let mut rr = RepoReport::new(shown);
        if let Err(e) = process(&ctx, src, &mut rr, &pb) {
            rr.status = RepoStatus::Failed;
            let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            rr.message = Some(Auth::from_env(env).redact(&chain.join(": ")));
        }
        // With --pull-request a repository that got this far has its pull request (or had
        // nothing to propose): a failed push or pull request fails the repository.
        let done = rr.status.finished() && (args.pull_request || !args.push || rr.pushed);
        if done && !args.dry_run {
            if let Some(p) = &state_path {
                state.record(key, direction, &rr);
                state.save(p)?;
            }
        }
        reports.push(rr);
        pb.inc(1);
    }
    pb.finish_and_clear();

    let mut report = MigrationReport::new(direction, args.dry_run, reports);
    report.shard = shard.map(|s| ShardInfo {
        index: s.index,
        count: s.count,
        total: args.repos.len(),
        list: migrate_shard::list_fingerprint(&args.repos),
        positions: selected.clone(),
    });
    finish(args, &report, args.report_dir.as_deref(), &tag)
}

/// Write the report (`migration-report<tag>.md/.json` in `report_dir`) and the files
/// derived from it, print the summary, and give the exit code: the end of a run, and all
/// of `--merge-reports`.
fn finish(
    args: &MigrateArgs,
    report: &MigrationReport,
    report_dir: Option<&Path>,
    tag: &str,
) -> Result<ExitStatus> {
    let mut written = Vec::new();
    if let Some(dir) = report_dir {
        let md = dir.join(format!("migration-report{tag}.md"));
        let json = dir.join(format!("migration-report{tag}.json"));
        migrate::write_atomic(&md, &report.markdown())?;
        migrate::write_atomic(&json, &report.json())?;
        written.push(md);
        written.push(json);
    }
    if let Some(path) = &args.renovate {
        write_renovate(args, report, path)?;
        written.push(path.clone());
    }
    if let Some(path) = &args.pull_secrets {
        let harbors: Vec<String> = report
            .repos
            .iter()
            .filter_map(|r| r.harbor.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let verdicts = migrate::secret_verdicts(&report.repos);
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let text = if is_json {
            migrate::pull_secrets_json(&harbors, &verdicts)
        } else {
            migrate::pull_secrets_markdown(&harbors, &verdicts)
        };
        migrate::write_atomic(path, &text)?;
        written.push(path.clone());
    }
    if args.pull_request {
        write_github_output(report)?;
    }
    print_summary(report, &written);
    Ok(exit_code(report, args.registry.on_unreachable))
}

/// In GitHub Actions, `pr-url`: the URL of each pull request this run opened or updated
/// (space-separated when there are several; empty when none).
fn write_github_output(report: &MigrationReport) -> Result<()> {
    let urls: Vec<&str> = report
        .repos
        .iter()
        .filter(|r| r.status != RepoStatus::Skipped)
        .filter_map(|r| r.pull_request.as_ref().map(|p| p.url.as_str()))
        .collect();
    crate::commands::append_to_github_file(
        env,
        "GITHUB_OUTPUT",
        &format!("pr-url={}\n", urls.join(" ")),
    )
}

/// A progress bar on a terminal (stderr); hidden, and so quiet, otherwise.
fn progress(len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {elapsed} {wide_msg}")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}

fn exit_code(report: &MigrationReport, on_unreachable: OnUnreachable) -> ExitStatus {
    let mut code = EXIT_OK;
    for r in &report.repos {
        let c = match r.status {
            RepoStatus::Failed | RepoStatus::Partial => EXIT_ERROR,
            RepoStatus::VerifyFailed
                if on_unreachable == OnUnreachable::Fail
                    && r.verify.as_ref().is_some_and(|v| v.unreachable > 0) =>
            {
                EXIT_ERROR
            }
            RepoStatus::ScanFailed if r.scan.as_ref().is_some_and(|s| s.errors > 0) => EXIT_ERROR,
            RepoStatus::VerifyFailed | RepoStatus::ScanFailed | RepoStatus::Pending => {
                EXIT_FINDINGS
            }
            _ => EXIT_OK,
        };
        code = code.max(c);
    }
    code
}

fn print_summary(report: &MigrationReport, written: &[PathBuf]) {
    let d = report.direction;
    for r in &report.repos {
        let mut line = format!("{:<13} {}", r.status.label(d), r.repo);
        match r.status {
            RepoStatus::Migrated | RepoStatus::Pending | RepoStatus::Partial => {
                line.push_str(&format!(
                    ": {} file(s), {} reference(s)",
                    r.changes.len(),
                    r.rewritten()
                ));
                if !r.commits.is_empty() {
                    line.push_str(&format!(
                        "; commit {} on {}",
                        r.commits
                            .iter()
                            .map(|c| migrate::short(&c.sha))
                            .collect::<Vec<_>>()
                            .join(" "),
                        r.branch.as_deref().unwrap_or("HEAD")
                    ));
                }
                if r.pushed {
                    line.push_str(", pushed");
                }
                if let Some(p) = &r.pull_request {
                    line.push_str(&format!(
                        "; {} pull request #{}: {}",
                        if p.created { "opened" } else { "updated" },
                        p.number,
                        p.url
                    ));
                }
                if !r.errors.is_empty() {
                    line.push_str(&format!("; {} error(s)", r.errors.len()));
                }
            }
            _ => {
                if let Some(m) = &r.message {
                    line.push_str(&format!(": {m}"));
                }
            }
        }
        println!("{}", escape_text(&line));
        for e in &r.errors {
            let (file, message) = (escape_text(&e.file), escape_text(&e.message));
            match (e.line, e.column) {
                // Diagnostics go to stderr, the report to stdout.
                (Some(l), Some(c)) => eprintln!("error: {file}:{l}:{c}: {message}"),
                _ => eprintln!("error: {file}: {message}"),
            }
        }
        let stays: usize = r.stays.iter().map(|s| s.count).sum();
        if stays > 0 && r.status != RepoStatus::Skipped {
            let parts: Vec<String> = r
                .stays
                .iter()
                .map(|s| {
                    if s.key.is_empty() {
                        format!("{} {}", s.count, s.reason)
                    } else {
                        format!("{} {} ({})", s.count, s.reason, s.key)
                    }
                })
                .collect();
            println!("  stays direct: {}", escape_text(&parts.join(", ")));
        }
    }
    let s = &report.summary;
    println!(
        "migrate: {} repositories: {} {}, {} unchanged, {} pending, {} skipped, {} verify-failed, {} scan-failed, {} partial, {} failed; {} files changed, {} references, {} commits",
        s.repos,
        s.migrated,
        RepoStatus::Migrated.label(d),
        s.unchanged,
        s.pending,
        s.skipped,
        s.verify_failed,
        s.scan_failed,
        s.partial,
        s.failed,
        s.files_changed,
        s.references_rewritten,
        s.commits
    );
    for w in written {
        println!("wrote {}", w.display());
    }
}

fn write_renovate(args: &MigrateArgs, report: &MigrationReport, path: &Path) -> Result<()> {
    let mut aliases: BTreeMap<String, String> = BTreeMap::new();
    for r in &report.repos {
        for (k, v) in &r.registry_aliases {
            match aliases.get(k) {
                Some(old) if old != v => eprintln!(
                    "warning: {}: {k} is {v} here but {old} in another repository; keeping {old}",
                    r.repo
                ),
                Some(_) => {}
                None => {
                    aliases.insert(k.clone(), v.clone());
                }
            }
        }
    }
    if aliases.is_empty() {
        // No repository got as far as its config: use the one of the current directory.
        let here = Settings::for_common(&common(args, PathBuf::from(".")))?;
        aliases = migrate::registry_aliases(&here.config, &here.harbor);
    }
    migrate::write_atomic(path, &migrate::renovate_json(&aliases))
}

fn common(args: &MigrateArgs, root: PathBuf) -> Common {
    Common {
        paths: vec![root],
        source: args.source.clone(),
        format: Format::Text,
        revert: args.revert,
        rewrite_hints: args.rewrite_hints,
        charts: None,
    }
}

/// Migrate one repository, filling `rr`. An error fails the whole repository.
fn process(ctx: &Ctx<'_>, src: &Source, rr: &mut RepoReport, pb: &ProgressBar) -> Result<()> {
    let args = ctx.args;
    let name = rr.repo.clone();
    let stage = |s: &str| pb.set_message(format!("{name}: {s}"));
    let dir = match src {
        Source::Dir(p) => p.clone(),
        Source::Url(u) => {
            stage("cloning");
            let (dir, note) = migrate::clone_or_reuse(u, &ctx.workdir, &git_auth(args)?)?;
            rr.notes.extend(note);
            dir
        }
    };
    let root = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", dir.display()))?;
    rr.path = root.display().to_string();
    let Settings {
        config,
        harbor,
        mapper,
    } = Settings::for_common(&common(args, root.clone()))?;
    rr.harbor = Some(harbor.clone());
    rr.registry_aliases = migrate::registry_aliases(&config, &harbor);

    // Git first: a dirty tree or a missing identity stops us before any write.
    let mut session = if ctx.commit {
        Some(open_session(args, &root)?)
    } else {
        None
    };

    let plan_options = PlanOptions {
        direction: match ctx.direction {
            Direction::Migrate => plan::Direction::Forward,
            Direction::Revert => plan::Direction::Revert,
        },
        rewrite_hints: args.rewrite_hints,
    };
    let roots = [root.clone()];

    stage("planning");
    // Planned once: verify and scan check this plan, and the first write applies it.
    let plan_value = engine::plan(&roots, &mapper, plan_options);
    let mut planned = Report::build_from(&harbor, &plan_value, false);

    if args.verify {
        stage("verifying");
        let (summary, _) = verify_report(&mut planned, &mapper, &args.registry)?;
        let failures = planned
            .references
            .iter()
            .filter_map(|e| {
                let v = e
                    .verify
                    .as_ref()
                    .filter(|v| v.outcome != Outcome::Resolved)?;
                Some(VerifyFailure {
                    file: migrate::relative(&root, &e.file),
                    line: e.line,
                    reference: e
                        .rewritten
                        .clone()
                        .filter(|_| e.status == crate::pipeline::plan::Status::Rewritten)
                        .or_else(|| e.normalized.clone())
                        .unwrap_or_else(|| e.original.clone()),
                    outcome: serde_json::to_value(v.outcome)
                        .ok()
                        .and_then(|o| o.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    http_status: v.http_status,
                    message: v.message.clone(),
                })
            })
            .collect();
        rr.verify = Some(VerifyInfo {
            checked: summary.checked,
            failed: summary.failed,
            unreachable: summary.unreachable,
            failures,
        });
        if summary.exit_code(args.registry.on_unreachable) != EXIT_OK {
            rr.fill(&planned, &root, false);
            rr.status = RepoStatus::VerifyFailed;
            rr.message = Some(format!(
                "{} reference(s) did not resolve through Harbor: nothing written or committed",
                summary.failed
            ));
            return Ok(());
        }
    }

    if args.scan {
        stage("scanning");
        let out = scan_report(
            &mut planned,
            &mapper,
            &args.registry,
            &args.trivy,
            &config.scan.allow,
            config.source.as_ref(),
        )?;
        let mut messages: Vec<String> = out.errors.iter().map(|e| e.message.clone()).collect();
        for img in out.images.iter().filter(|i| i.result == "fail") {
            messages.push(format!(
                "{}: {} failing finding(s)",
                img.label(),
                img.failing().count()
            ));
        }
        rr.scan = Some(ScanInfo {
            images: out.summary.images,
            failed: out.summary.failed,
            errors: out.summary.errors,
            failing_findings: out.summary.failing,
            messages,
        });
        if out.exit_code() != EXIT_OK {
            rr.fill(&planned, &root, false);
            rr.status = RepoStatus::ScanFailed;
            rr.message = Some(format!(
                "the scan failed ({} image(s) failing, {} error(s)): nothing written or committed",
                out.summary.failed, out.summary.errors
            ));
            return Ok(());
        }
    }

    if args.pull_secrets.is_some() {
        rr.pull_secrets = migrate::pull_secrets(&root, &planned, &harbor);
    }

    if args.dry_run {
        rr.fill(&planned, &root, false);
        rr.status = if !rr.errors.is_empty() {
            RepoStatus::Partial
        } else if rr.changes.is_empty() {
            RepoStatus::Unchanged
        } else {
            RepoStatus::Pending
        };
        return Ok(());
    }

    if let Some(s) = &session {
        // With --allow-dirty, a file the user had changed is not committed with ours.
        let clash: Vec<String> = planned
            .files_changed
            .iter()
            .filter_map(|f| s.git.relative(Path::new(f)).ok())
            .map(|p| p.to_string_lossy().into_owned())
            .filter(|p| s.dirty.contains(p))
            .collect();
        if !clash.is_empty() {
            bail!(
                "{} had uncommitted changes: not migrating them together with them (commit or stash first)",
                clash.join(", ")
            );
        }
    }

    // The pull request branch takes the commits when there is something to commit.
    if let Some(s) = session.as_mut() {
        if let Some(client) = s.client.clone() {
            let pairs = planned_pairs(&planned);
            if !pairs.is_empty() {
                let pr = branch_for_change(
                    &s.git,
                    client,
                    ctx.direction.as_str(),
                    &s.remote_branch,
                    &pairs,
                )?;
                s.branch = pr.head.clone();
                s.remote_branch = pr.head.clone();
                s.pr = Some(pr);
            }
        }
    }

    let result = write_commit_push(
        ctx,
        session.as_ref(),
        rr,
        (&root, plan_value, &config),
        &harbor,
        &mapper,
        &stage,
    );
    if let Some(s) = session.as_ref().filter(|s| s.pr.is_some()) {
        // Back to the branch the repository had checked out: it was neither committed to
        // nor moved.
        if let Err(e) = s.git.switch_to(&s.home) {
            rr.notes.push(format!(
                "could not check out {} again ({e:#}); {} stays checked out",
                s.home, s.branch
            ));
        }
    }
    result?;
    rr.status = if !rr.errors.is_empty() {
        RepoStatus::Partial
    } else if rr.changes.is_empty() {
        RepoStatus::Unchanged
    } else {
        RepoStatus::Migrated
    };
    if rr.status == RepoStatus::Partial {
        rr.message = Some(format!(
            "{} file(s) could not be processed (left untouched); the others were {}",
            rr.errors.len(),
            match ctx.direction {
                Direction::Migrate => "migrated",
                Direction::Revert => "reverted",
            }
        ));
    }
    Ok(())
}

/// Write, commit and push (fetching, resetting and migrating again when the remote moved),
/// then open or update the pull request.
fn write_commit_push(
    ctx: &Ctx<'_>,
    session: Option<&Session>,
    rr: &mut RepoReport,
    (root, plan_value, config): (&Path, engine::Plan, &Config),
    harbor: &str,
    mapper: &crate::mapping::Mapper,
    stage: &dyn Fn(&str),
) -> Result<()> {
    let args = ctx.args;
    // The checked plan is written first; a retry after the remote moved plans again on
    // the new head (the plan was made on the old one).
    let mut checked_plan = Some(plan_value);
    let run_options = RunOptions {
        plan: PlanOptions {
            direction: match ctx.direction {
                Direction::Migrate => plan::Direction::Forward,
                Direction::Revert => plan::Direction::Revert,
            },
            rewrite_hints: args.rewrite_hints,
        },
        write: true,
        diff: false,
        keep: false,
    };
    let roots = [root.to_path_buf()];
    let mut proof =
        crate::pipeline::render::ProofSettings::resolve(false, None, None, &config.render)
            .map_err(anyhow::Error::msg)?;
    proof.hints = args.rewrite_hints;
    // What the first attempt changed and committed (for the pull request: a retry that finds
    // the change on the remote branch already changes nothing itself).
    let mut first: Option<(Pairs, Vec<String>)> = None;
    let mut attempt = 0;
    loop {
        stage("writing");
        // Helm and kustomize edits are proven by rendering before they are written.
        let (results, outcomes) = match checked_plan.take() {
            Some(plan) => engine::apply_proven(
                &roots,
                plan,
                (false, true),
                &proof,
                (mapper, run_options.plan.direction),
            ),
            None => engine::run_proven(&roots, mapper, run_options, None, &proof),
        };
        super::print_render_refusals(&outcomes);
        let written = Report::build(harbor, results, true);
        rr.fill(&written, root, true);
        rr.written = true;
        let Some(s) = session else { break };
        rr.branch = Some(s.branch.clone());
        stage("committing");
        rr.commits = commit(ctx, s, rr, root)?;
        if first.is_none() {
            first = Some((
                report_pairs(rr),
                rr.commits.iter().map(|c| c.sha.clone()).collect(),
            ));
        }
        // With --pull-request and nothing to propose, the base branch is not pushed.
        if !ctx.push || (args.pull_request && s.pr.is_none()) {
            break;
        }
        stage("pushing");
        match s.git.push(&args.remote, &s.branch, &s.remote_branch)? {
            PushOutcome::Pushed => {
                rr.pushed = true;
                break;
            }
            PushOutcome::Rejected(why) => {
                if attempt >= args.push_retries {
                    bail!(
                        "push to {}/{} rejected {} time(s) (last: {why}); the commits stay local",
                        args.remote,
                        s.remote_branch,
                        attempt + 1
                    );
                }
                rr.notes.push(format!(
                    "push rejected ({why}): fetched {}/{}, reset and migrated again",
                    args.remote, s.remote_branch
                ));
                std::thread::sleep(Duration::from_millis(200 << attempt.min(5)));
                s.git
                    .fetch_and_reset(&args.remote, &s.branch, &s.remote_branch)?;
                attempt += 1;
            }
        }
    }
    let Some(target) = session.and_then(|s| s.pr.as_ref()) else {
        return Ok(());
    };
    if !rr.pushed {
        return Ok(());
    }
    stage("opening the pull request");
    let (pairs, commits) = first.unwrap_or_default();
    let (title, heading) = match ctx.direction {
        Direction::Migrate => (
            "harborize: route container images through Harbor".to_string(),
            format!(
                "harborize migrate: {} reference(s) now pull through {harbor}",
                pairs.len()
            ),
        ),
        Direction::Revert => (
            "harborize: revert container images to their upstream registries".to_string(),
            format!(
                "harborize migrate --revert: {} reference(s) back to their upstream registries",
                pairs.len()
            ),
        ),
    };
    let mut notes = Vec::new();
    if let Some(v) = &rr.verify {
        notes.push(format!(
            "Verified: {} unique reference(s) checked through Harbor, {} failed.",
            v.checked, v.failed
        ));
    }
    if let Some(sc) = &rr.scan {
        notes.push(format!(
            "Scanned: {} image(s) with Trivy, {} failing, {} error(s).",
            sc.images, sc.failed, sc.errors
        ));
    }
    if !commits.is_empty() {
        let shown: Vec<String> = commits.iter().map(|c| format!("`{c}`")).collect();
        notes.push(format!(
            "Commits: {} on `{}`.",
            shown.join(", "),
            target.head
        ));
    }
    if !rr.stays.is_empty() {
        let stays: usize = rr.stays.iter().map(|s| s.count).sum();
        notes.push(format!(
            "{stays} reference(s) stay direct (unmapped, excluded, templated, invalid or hints): see the migration report."
        ));
    }
    let body = github::markdown_body(&heading, &pairs, &notes);
    match open_pull_request(target, &title, &body)? {
        PrResult::Done(p) => rr.pull_request = Some(p),
        PrResult::NothingNew => rr.notes.push(BASE_HAS_IT.to_string()),
    }
    Ok(())
}

/// Distinct `old → new` pairs.
type Pairs = Vec<(String, String)>;

/// Every distinct `old → new` the plan rewrites, sorted.
fn planned_pairs(report: &Report) -> Pairs {
    let mut pairs: Vec<(String, String)> = report
        .references
        .iter()
        .filter(|r| r.status == crate::pipeline::plan::Status::Rewritten)
        .map(|r| (r.original.clone(), r.rewritten.clone().unwrap_or_default()))
        .collect();
    pairs.sort();
    pairs.dedup();
    pairs
}

/// Every distinct `old → new` of the report's changes, sorted.
fn report_pairs(rr: &RepoReport) -> Pairs {
    let mut pairs: Vec<(String, String)> = rr
        .changes
        .iter()
        .flat_map(|f| f.references.iter())
        .map(|c| (c.original.clone(), c.rewritten.clone()))
        .collect();
    pairs.sort();
    pairs.dedup();
    pairs
}

/// The git token and the hosts it may go to (`--git-token-host`), for clones and pushes.
fn git_auth(args: &MigrateArgs) -> Result<Auth> {
    Auth::from_env(env).allow_hosts(&args.identity.git_token_host)
}

fn open_session(args: &MigrateArgs, root: &Path) -> Result<Session> {
    let g = Git::discover(root, git_auth(args)?)?;
    let branch = g.current_branch()?;
    let dirty = g.dirty_files()?;
    if !dirty.is_empty() && !args.identity.allow_dirty {
        let mut shown: Vec<&str> = dirty.iter().take(5).map(String::as_str).collect();
        if dirty.len() > 5 {
            shown.push("...");
        }
        bail!(
            "the work tree has uncommitted changes to tracked files ({}): commit or stash them, or pass --allow-dirty to commit only this run's files",
            shown.join(", ")
        );
    }
    let (author, committer) = git::identities(
        &g.repo,
        args.identity.author_name.as_deref(),
        args.identity.author_email.as_deref(),
        env,
    )?;
    let remote_branch = g.remote_branch(&branch);
    let client = if args.pull_request {
        Some(pr_client(&g, &args.remote, &branch, env)?)
    } else {
        None
    };
    Ok(Session {
        git: g,
        branch: branch.clone(),
        remote_branch,
        home: branch,
        dirty,
        author,
        committer,
        client,
        pr: None,
    })
}

/// Commit the changed files: one commit, or one per top-level directory.
fn commit(ctx: &Ctx<'_>, s: &Session, rr: &RepoReport, root: &Path) -> Result<Vec<CommitInfo>> {
    let files = rr.changed_files();
    let groups: Vec<(Option<String>, Vec<String>)> = match ctx.batch {
        BatchBy::Repo => vec![(None, files)],
        BatchBy::Dir => migrate::batches(&files)
            .into_iter()
            .map(|(d, f)| (Some(d), f))
            .collect(),
    };
    let mut out = Vec::new();
    for (dir, files) in groups {
        if files.is_empty() {
            continue;
        }
        let rels = files
            .iter()
            .map(|f| s.git.relative(&root.join(f)))
            .collect::<Result<Vec<PathBuf>>>()?;
        let message = commit_message(ctx, rr, dir.as_deref(), &files, &s.committer);
        if let Some(oid) = s
            .git
            .commit_files(&rels, &message, &s.author, &s.committer)?
        {
            out.push(CommitInfo {
                sha: oid.to_string(),
                directory: dir,
                files,
            });
        }
    }
    Ok(out)
}

fn commit_message(
    ctx: &Ctx<'_>,
    rr: &RepoReport,
    dir: Option<&str>,
    files: &[String],
    committer: &Identity,
) -> String {
    let place = match dir {
        Some(".") => " at the repository root".to_string(),
        Some(d) => format!(" in {d}/"),
        None => String::new(),
    };
    let harbor = rr.harbor.as_deref().unwrap_or("Harbor");
    let subject = match ctx.direction {
        Direction::Migrate => format!("Route container images{place} through Harbor"),
        Direction::Revert => format!("Revert container images{place} to their upstream registries"),
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut count = 0;
    for f in rr.changes.iter().filter(|c| files.contains(&c.file)) {
        for c in &f.references {
            count += 1;
            let pair = (c.original.clone(), c.rewritten.clone());
            if !pairs.contains(&pair) {
                pairs.push(pair);
            }
        }
    }
    let mut body = match ctx.direction {
        Direction::Migrate => format!(
            "harborize migrate: {count} reference(s) in {} file(s) now pull through {harbor}.\n",
            files.len()
        ),
        Direction::Revert => format!(
            "harborize migrate --revert: {count} reference(s) in {} file(s) back to their upstream registries (from {harbor}).\n",
            files.len()
        ),
    };
    body.push('\n');
    for (old, new) in pairs.iter().take(MESSAGE_LINES) {
        body.push_str(&format!("- {old} → {new}\n"));
    }
    if pairs.len() > MESSAGE_LINES {
        body.push_str(&format!("- … and {} more\n", pairs.len() - MESSAGE_LINES));
    }
    let mut text = format!(
        "{subject}\n\n{body}\nHarborize-Migration: {}\n",
        ctx.direction.as_str()
    );
    if ctx.args.identity.signoff {
        text.push_str(&format!(
            "Signed-off-by: {} <{}>\n",
            committer.name, committer.email
        ));
    }
    text
}
