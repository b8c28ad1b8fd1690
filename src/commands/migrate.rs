//! `harborize migrate`: the bulk migration. For each repository (a directory, or a git URL
//! cloned into the workdir): rewrite everything, optionally verify and scan first (a
//! repository that fails is neither written nor committed), then commit per repository or
//! per top-level directory and push. Finished repositories go into a state file so a rerun
//! skips them; the run ends with a markdown + JSON report and, when asked, a Renovate
//! `registryAliases` snippet and the list of `imagePullSecrets` to decommission.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{Common, MigrateArgs, OnUnreachable};
use crate::commands::scan::scan_report;
use crate::commands::verify::verify_report;
use crate::commands::{mapper_for, EXIT_ERROR, EXIT_FINDINGS, EXIT_OK};
use crate::config::Config;
use crate::engine::{self, RunOptions};
use crate::git::{self, Auth, Git, Identity, PushOutcome};
use crate::migrate::{
    self, BatchBy, CommitInfo, Direction, MigrationReport, RepoReport, RepoStatus, ScanInfo,
    Source, State, VerifyFailure, VerifyInfo,
};
use crate::plan::{self, PlanOptions};
use crate::registry::Outcome;
use crate::report::{Format, Report};

/// At most this many `old → new` lines in a commit message.
const MESSAGE_LINES: usize = 50;

struct Ctx<'a> {
    args: &'a MigrateArgs,
    direction: Direction,
    commit: bool,
    batch: BatchBy,
    workdir: PathBuf,
}

/// Git for one repository: opened, checked and identified before anything is written.
struct Session {
    git: Git,
    branch: String,
    remote_branch: String,
    dirty: Vec<String>,
    author: Identity,
    committer: Identity,
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

pub fn run(args: &MigrateArgs) -> Result<u8> {
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
    let state_path = args.state.clone().or_else(|| {
        args.report_dir
            .as_ref()
            .map(|d| d.join("migration-state.json"))
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
        commit: args.commit || args.push || args.batch_by.is_some(),
        batch: args.batch_by.unwrap_or(BatchBy::Repo),
        workdir,
    };

    let pb = progress(sources.len() as u64);
    let mut reports = Vec::new();
    for (src, arg) in sources.iter().zip(&args.repos) {
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
        let done = rr.status.finished() && (!args.push || rr.pushed);
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

    let report = MigrationReport::new(direction, args.dry_run, reports);
    let mut written = Vec::new();
    if let Some(dir) = &args.report_dir {
        let md = dir.join("migration-report.md");
        let json = dir.join("migration-report.json");
        migrate::write_atomic(&md, &report.markdown())?;
        migrate::write_atomic(&json, &report.json())?;
        written.push(md);
        written.push(json);
    }
    if let Some(path) = &args.renovate {
        write_renovate(args, &report, path)?;
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
    print_summary(&report, &written);
    Ok(exit_code(&report, args.registry.on_unreachable))
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

fn exit_code(report: &MigrationReport, on_unreachable: OnUnreachable) -> u8 {
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
        println!("{line}");
        for e in &r.errors {
            match (e.line, e.column) {
                (Some(l), Some(c)) => println!("  error: {}:{l}:{c}: {}", e.file, e.message),
                _ => println!("  error: {}: {}", e.file, e.message),
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
            println!("  stays direct: {}", parts.join(", "));
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
        let common = common(args, PathBuf::from("."));
        let mapper = mapper_for(&common)?;
        let config = Config::load(args.config.as_deref(), Path::new("."))
            .context("cannot load the configuration")?;
        aliases = migrate::registry_aliases(&config, mapper.harbor());
    }
    migrate::write_atomic(path, &migrate::renovate_json(&aliases))
}

fn common(args: &MigrateArgs, root: PathBuf) -> Common {
    Common {
        paths: vec![root],
        harbor: args.harbor.clone(),
        config: args.config.clone(),
        format: Format::Text,
        revert: args.revert,
        rewrite_hints: args.rewrite_hints,
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
            let (dir, note) = migrate::clone_or_reuse(u, &ctx.workdir)?;
            rr.notes.extend(note);
            dir
        }
    };
    let root = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", dir.display()))?;
    rr.path = root.display().to_string();
    let mapper = mapper_for(&common(args, root.clone()))?;
    let config =
        Config::load(args.config.as_deref(), &root).context("cannot load the configuration")?;
    let harbor = mapper.harbor().to_string();
    rr.harbor = Some(harbor.clone());
    rr.registry_aliases = migrate::registry_aliases(&config, &harbor);

    // Git first: a dirty tree or a missing identity stops us before any write.
    let session = if ctx.commit {
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
    let run_options = |write: bool| RunOptions {
        plan: plan_options,
        write,
        diff: false,
    };
    let roots = [root.clone()];

    stage("planning");
    let mut planned = Report::build(
        &harbor,
        engine::run(&roots, &mapper, run_options(false)),
        false,
    );

    if args.verify {
        stage("verifying");
        let (summary, _) = verify_report(&mut planned, &harbor, &args.registry)?;
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
                        .filter(|_| e.status == crate::plan::Status::Rewritten)
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

    let mut attempt = 0;
    loop {
        stage("writing");
        let written = Report::build(
            &harbor,
            engine::run(&roots, &mapper, run_options(true)),
            true,
        );
        rr.fill(&written, &root, true);
        rr.written = true;
        let Some(s) = &session else { break };
        rr.branch = Some(s.branch.clone());
        stage("committing");
        rr.commits = commit(ctx, s, rr, &root)?;
        if !args.push {
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

fn open_session(args: &MigrateArgs, root: &Path) -> Result<Session> {
    let g = Git::discover(root, Auth::from_env(env))?;
    let branch = g.current_branch()?;
    let dirty = g.dirty_files()?;
    if !dirty.is_empty() && !args.allow_dirty {
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
        args.author_name.as_deref(),
        args.author_email.as_deref(),
        env,
    )?;
    let remote_branch = g.remote_branch(&branch);
    Ok(Session {
        git: g,
        branch,
        remote_branch,
        dirty,
        author,
        committer,
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
    if ctx.args.signoff {
        text.push_str(&format!(
            "Signed-off-by: {} <{}>\n",
            committer.name, committer.email
        ));
    }
    text
}
