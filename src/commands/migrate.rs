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

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{Common, MigrateArgs, OnUnreachable};
use crate::commands::{ExitStatus, Settings, EXIT_ERROR, EXIT_FINDINGS, EXIT_OK};
use crate::config::Config;
use crate::migrate::shard as migrate_shard;
use crate::migrate::summary::Line;
use crate::migrate::{
    self, BatchBy, CommitInfo, Direction, MigrationReport, RepoReport, RunPaths, Runner, Source,
    Verdict, VerifyInfo,
};
use crate::pipeline::engine::{self, RunOptions};
use crate::pipeline::plan::{self, PlanOptions};
use crate::pipeline::scan::scan_report;
use crate::pipeline::verify::verify_report;
use crate::report::{Format, Report};
use crate::vcs::git::{Auth, Identity};
use crate::vcs::github;
use crate::vcs::publish::{GitOptions, Published, Rebuilt, Session};
use crate::vcs::pull_request::{self, PrResult, BASE_HAS_IT};

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
    let sources = Source::parse_all(&args.repos)?;
    // Only this shard's repositories; the report and state files carry the shard's name.
    let selected: Vec<usize> = match shard {
        Some(s) => s.select(&args.repos),
        None => (0..sources.len()).collect(),
    };
    let tag = shard.map_or_else(String::new, |s| format!("-{}", s.file_tag()));
    let paths = RunPaths::new(
        args.report_dir.as_deref(),
        args.state.clone(),
        args.workdir.clone(),
        &tag,
    );
    let mut runner = Runner::new(direction, args.dry_run, paths.state)?;
    let ctx = Ctx {
        args,
        direction,
        commit: args.commit || args.push || args.pull_request || args.batch_by.is_some(),
        push: args.push || args.pull_request,
        batch: args.batch_by.unwrap_or(BatchBy::Repo),
        workdir: paths.workdir,
    };

    let pb = progress(selected.len() as u64);
    for &i in &selected {
        let (src, key) = (&sources[i], sources[i].key());
        let shown = src.shown(&args.repos[i]);
        pb.set_message(shown.clone());
        if !runner.skip_finished(&key, &shown) {
            let mut rr = RepoReport::new(shown);
            if let Err(e) = process(&ctx, src, &mut rr, &pb) {
                rr.fail(&e, |m| Auth::from_env(env).redact(m));
            }
            // With --pull-request a repository that got this far has its pull request (or
            // had nothing to propose): a failed push or pull request fails the repository.
            let done = rr.status.finished() && (args.pull_request || !args.push || rr.pushed);
            runner.record(key, rr, done)?;
        }
        pb.inc(1);
    }
    pb.finish_and_clear();

    let mut report = runner.into_report();
    report.shard = shard.map(|s| s.info(&args.repos, selected));
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
        for (path, text) in report.files(dir, tag) {
            migrate::write_atomic(&path, &text)?;
            written.push(path);
        }
    }
    if let Some(path) = &args.renovate {
        write_renovate(args, report, path)?;
        written.push(path.clone());
    }
    if let Some(path) = &args.pull_secrets {
        migrate::write_atomic(path, &migrate::pull_secrets::list::list(report, path))?;
        written.push(path.clone());
    }
    if args.pull_request {
        // In GitHub Actions, `pr-url`: the pull requests this run opened or updated.
        crate::commands::append_to_github_file(env, "GITHUB_OUTPUT", &report.github_output())?;
    }
    for line in report.text_summary() {
        match line {
            Line::Out(s) => println!("{s}"),
            // Diagnostics go to stderr, the report to stdout.
            Line::Err(s) => eprintln!("{s}"),
        }
    }
    for w in &written {
        println!("wrote {}", w.display());
    }
    Ok(exit_code(report, args.registry.on_unreachable))
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
    match report.verdict(on_unreachable == OnUnreachable::Fail) {
        Verdict::Ok => EXIT_OK,
        Verdict::Findings => EXIT_FINDINGS,
        Verdict::Error => EXIT_ERROR,
    }
}

fn write_renovate(args: &MigrateArgs, report: &MigrationReport, path: &Path) -> Result<()> {
    let (mut aliases, warnings) = migrate::renovate::merged_aliases(report);
    for w in warnings {
        eprintln!("warning: {w}");
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
    if matches!(src, Source::Url(_)) {
        stage("cloning");
    }
    let (root, note) = src.work_tree(&ctx.workdir, || git_auth(args))?;
    rr.notes.extend(note);
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
        Some(Session::open(&root, &git_options(args), env)?)
    } else {
        None
    };

    stage("planning");
    // Planned once: verify and scan check this plan, the pull-secret inventory comes from
    // its reads, and the first write applies it.
    let plan_value = engine::plan(
        std::slice::from_ref(&root),
        &mapper,
        ctx.direction.plan_options(args.rewrite_hints),
    );
    let mut planned = Report::build_from(&harbor, &plan_value, false);

    if args.verify {
        stage("verifying");
        let (summary, _) = verify_report(&mut planned, &mapper, &args.registry.options())?;
        let counts = (summary.checked, summary.failed, summary.unreachable);
        let info = VerifyInfo::from_plan(&planned, &root, counts);
        let passed = summary.exit_code(args.registry.on_unreachable) == EXIT_OK;
        if !rr.verified(info, passed, &planned, &root) {
            return Ok(());
        }
    }

    if args.scan {
        stage("scanning");
        let out = scan_report(
            &mut planned,
            &mapper,
            &args.registry.options(),
            &args.trivy.options(),
            &config.scan.allow,
            config.source.as_ref(),
        )?;
        if !rr.scanned(&out, out.exit_code() == EXIT_OK, &planned, &root) {
            return Ok(());
        }
    }

    if args.pull_secrets.is_some() {
        rr.pull_secrets = migrate::pull_secrets(&root, &plan_value, &planned, &harbor);
    }

    if args.dry_run {
        rr.settle_dry_run(&planned, &root);
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
        let pairs = planned_pairs(&planned);
        if s.wants_pull_request() && !pairs.is_empty() {
            s.branch_for_change(ctx.direction.as_str(), &pairs)?;
        }
    }

    let result = write_commit_push(
        ctx,
        session.as_mut(),
        rr,
        (&root, plan_value, &config),
        &harbor,
        &mapper,
        &stage,
    );
    if let Some(s) = &session {
        // Back to the branch the repository had checked out: it was neither committed to
        // nor moved.
        if let Err(e) = s.go_home() {
            rr.notes.push(format!(
                "could not check out {} again ({e:#}); {} stays checked out",
                s.home, s.branch
            ));
        }
    }
    result?;
    rr.settle_written(ctx.direction);
    Ok(())
}

/// Write, commit and push (fetching, resetting and migrating again when the remote moved,
/// through the publish flow), then open or update the pull request.
fn write_commit_push(
    ctx: &Ctx<'_>,
    session: Option<&mut Session>,
    rr: &mut RepoReport,
    (root, plan_value, config): (&Path, engine::Plan, &Config),
    harbor: &str,
    mapper: &crate::mapping::Mapper,
    stage: &dyn Fn(&str),
) -> Result<()> {
    let args = ctx.args;
    let mut proof =
        crate::pipeline::render::ProofSettings::resolve(false, None, None, &config.render)
            .map_err(anyhow::Error::msg)?;
    proof.hints = args.rewrite_hints;
    let w = Writer {
        ctx,
        root,
        harbor,
        mapper,
        proof: &proof,
        stage,
    };
    // The checked plan is written first; a retry after the remote moved plans again on
    // the new head (the plan was made on the old one).
    w.write_and_commit(session.as_deref(), rr, Some(plan_value))?;
    let Some(s) = session else { return Ok(()) };
    // What the first attempt changed and committed (for the pull request: a retry that
    // finds the change on the remote branch already changes nothing itself).
    let pairs = report_pairs(rr);
    let commits: Vec<String> = rr.commits.iter().map(|c| c.sha.clone()).collect();
    // With --pull-request and nothing to propose, the base branch is not pushed.
    if !ctx.push || (args.pull_request && s.pr.is_none()) {
        return Ok(());
    }
    stage("pushing");
    let head = s.git.head()?;
    let published = s.push_retrying(head, None, |s, moved| {
        rr.notes.push(format!(
            "push rejected ({}): fetched {}/{}, reset and migrated again",
            moved.why, s.remote, s.remote_branch
        ));
        w.write_and_commit(Some(s), rr, None)?;
        stage("pushing");
        // Pushed even when nothing was committed again: the branch is the remote's head
        // then (plus commits of an earlier run), so the push lands.
        Ok(Rebuilt::<()>::Commit(s.git.head()?))
    })?;
    if let Published::Pushed(_) = published {
        rr.pushed = true;
    }
    let Some(target) = s.pr.as_ref() else {
        return Ok(());
    };
    if !rr.pushed {
        return Ok(());
    }
    stage("opening the pull request");
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
    match pull_request::open(target, &title, &body)? {
        PrResult::Done(p) => rr.pull_request = Some(p),
        PrResult::NothingNew => rr.notes.push(BASE_HAS_IT.to_string()),
    }
    Ok(())
}

/// One repository's write and commit step, done once and again after each reset onto a
/// moved remote.
struct Writer<'a> {
    ctx: &'a Ctx<'a>,
    root: &'a Path,
    harbor: &'a str,
    mapper: &'a crate::mapping::Mapper,
    proof: &'a crate::pipeline::render::ProofSettings,
    stage: &'a dyn Fn(&str),
}

impl Writer<'_> {
    /// Write `plan` (the checked one), or plan again and write (after a reset), fill `rr`,
    /// and commit in `session`.
    fn write_and_commit(
        &self,
        session: Option<&Session>,
        rr: &mut RepoReport,
        plan: Option<engine::Plan>,
    ) -> Result<()> {
        let run_options = RunOptions {
            plan: PlanOptions {
                direction: match self.ctx.direction {
                    Direction::Migrate => plan::Direction::Forward,
                    Direction::Revert => plan::Direction::Revert,
                },
                rewrite_hints: self.ctx.args.rewrite_hints,
            },
            write: true,
            diff: false,
            keep: false,
        };
        let roots = [self.root.to_path_buf()];
        (self.stage)("writing");
        // Helm and kustomize edits are proven by rendering before they are written.
        let (results, outcomes) = match plan {
            Some(plan) => engine::apply_proven(
                &roots,
                plan,
                (false, true),
                self.proof,
                (self.mapper, run_options.plan.direction),
            ),
            None => engine::run_proven(&roots, self.mapper, run_options, None, self.proof),
        };
        super::print_render_refusals(&outcomes);
        let written = Report::build(self.harbor, results, true);
        rr.fill(&written, self.root, true);
        rr.written = true;
        let Some(s) = session else { return Ok(()) };
        rr.branch = Some(s.branch.clone());
        (self.stage)("committing");
        rr.commits = commit(self.ctx, s, rr, self.root)?;
        Ok(())
    }
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
    crate::vcs::publish::auth(&args.identity.git_token_host, env)
}

/// The publish flow's settings from migrate's git flags.
fn git_options(args: &MigrateArgs) -> GitOptions {
    GitOptions {
        remote: args.remote.clone(),
        pull_request: args.pull_request,
        retries: args.push_retries,
        allow_dirty: args.identity.allow_dirty,
        author_name: args.identity.author_name.clone(),
        author_email: args.identity.author_email.clone(),
        token_hosts: args.identity.git_token_host.clone(),
    }
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
        if let Some(oid) = s.commit(&rels, &message)? {
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
