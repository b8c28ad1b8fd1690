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

mod commit;
mod process;
mod publish;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{Common, MigrateArgs, OnUnreachable};
use crate::commands::{ExitStatus, Settings, EXIT_ERROR, EXIT_FINDINGS, EXIT_OK};
use crate::migrate::shard as migrate_shard;
use crate::migrate::summary::Line;
use crate::migrate::{
    self, BatchBy, Direction, MigrationReport, RepoReport, RunPaths, Runner, Source, Verdict,
};
use crate::report::Format;
use crate::vcs::git::Auth;

use process::process;

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
        parse_every_document: false,
    }
}
