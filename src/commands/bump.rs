//! `harborize bump`: set a new tag (and digest) on every reference to one image, written
//! as its Harbor path; optionally commit exactly the changed files and push, re-applying
//! the bump on the moved remote head when the push is rejected (never forcing).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::bump::{self, BumpOptions, BumpRun, Target};
use crate::cli::{BumpArgs, Common};
use crate::commands::{mapper_for, EXIT_ERROR, EXIT_FINDINGS, EXIT_OK};
use crate::git::{self, Auth, Git, Identity, PushOutcome};
use crate::report::{Format, Mode, Report};

/// The default commit message: subject, one line per bumped reference, the trailer.
pub const DEFAULT_TEMPLATE: &str =
    "harborize: bump {summary}\n\n{images}\n\nHarborize-Images: {count}";

/// One image in the outputs (`images=` and the JSON `bump.images`).
#[derive(Debug, Serialize)]
struct ImageOut {
    image: String,
    harbor: String,
    tag: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<String>,
    from: Vec<String>,
    to: String,
    references: usize,
    files: Vec<String>,
}

/// What happened with git (the JSON `bump` object).
#[derive(Debug, Serialize, Default)]
struct GitOut {
    changed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    commit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    branch: Option<String>,
    pushed: bool,
    /// Pushes rejected because the remote moved (each followed by fetch, reset, re-bump).
    retries: u32,
    message: String,
}

pub fn run(args: &BumpArgs) -> Result<u8> {
    run_with_env(args, |k| std::env::var(k).ok())
}

pub fn run_with_env(args: &BumpArgs, env: impl Fn(&str) -> Option<String> + Copy) -> Result<u8> {
    let common = Common {
        paths: args.paths.clone(),
        harbor: args.harbor.clone(),
        config: args.config.clone(),
        format: args.format,
        revert: false,
        rewrite_hints: args.rewrite_hints,
    };
    let mapper = mapper_for(&common)?;
    let target = Target::new(&mapper, &args.image, &args.tag, args.digest.as_deref())?;
    let opts = BumpOptions {
        rewrite_hints: args.rewrite_hints,
        diff: args.diff,
        write: !args.dry_run,
    };
    let commit = args.commit || args.push;

    // Git comes first: a dirty tree or a missing identity must stop us before any write.
    let mut session = None;
    if commit {
        let start = args.paths.first().cloned().unwrap_or_else(|| ".".into());
        let g = Git::discover(&start, Auth::from_env(env))?;
        let branch = g.current_branch()?;
        let dirty = g.dirty_files()?;
        if !dirty.is_empty() && !args.allow_dirty {
            bail!(
                "the work tree has uncommitted changes to tracked files ({}): commit or stash them, or pass --allow-dirty to commit only this run's files",
                list(&dirty)
            );
        }
        let (author, committer) = git::identities(
            &g.repo,
            args.author_name.as_deref(),
            args.author_email.as_deref(),
            env,
        )?;
        let remote_branch = g.remote_branch(&branch);
        session = Some(Session {
            git: g,
            branch,
            remote_branch,
            dirty,
            author,
            committer,
        });
    }

    let mut out = GitOut::default();
    let mut attempt: u32 = 0;
    // After a rejected push, only files that can differ from the first full pass are
    // looked at again: ours, and those the remote changed meanwhile.
    let mut paths = args.paths.clone();
    // How long one fetch → re-bump → commit → push cycle takes: the backoff scales with it,
    // so racers on a large repository spread out as well as on a small one.
    let mut cycle_start: Option<std::time::Instant> = None;
    loop {
        let run = bump::run(&paths, &mapper, &target, opts);
        if run.errors() > 0 || run.blocked > 0 {
            let blocked = run.blocked;
            finish_report(args, &mapper, &target, run, &out)?;
            if blocked > 0 {
                eprintln!(
                    "harborize: {blocked} reference(s) to {} cannot be bumped (see above); nothing was written",
                    target.image
                );
            }
            return Ok(EXIT_ERROR);
        }
        if run.matched == 0 {
            bail!(
                "{} not found: no image: field, kustomize images: entry or Helm image value names it (upstream or as {}) in {} file(s) under {}",
                target.image,
                target.harbor_name,
                run.files_scanned,
                args.paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let changed = run.changed_files();
        if args.dry_run {
            let code = if changed.is_empty() {
                EXIT_OK
            } else {
                EXIT_FINDINGS
            };
            finish_report(args, &mapper, &target, run, &out)?;
            return Ok(code);
        }
        let Some(s) = session.as_ref() else {
            out.changed = !changed.is_empty();
            out.message = if out.changed {
                format!("{} file(s) changed", changed.len())
            } else {
                format!("nothing changed: already at {}", version(&target))
            };
            write_github(&target, &run, &out, env)?;
            finish_report(args, &mapper, &target, run, &out)?;
            return Ok(EXIT_OK);
        };
        if changed.is_empty() {
            out.changed = false;
            out.commit = if attempt > 0 {
                Some(s.git.head()?.to_string())
            } else {
                None
            };
            out.message = if attempt > 0 {
                format!(
                    "the remote already has {} at {}: nothing to commit",
                    target.image,
                    version(&target)
                )
            } else {
                format!(
                    "nothing changed: already at {}; no commit",
                    version(&target)
                )
            };
            write_github(&target, &run, &out, env)?;
            finish_report(args, &mapper, &target, run, &out)?;
            return Ok(EXIT_OK);
        }
        let rels = changed
            .iter()
            .map(|p| s.git.relative(p))
            .collect::<Result<Vec<PathBuf>>>()?;
        if attempt == 0 {
            let clash: Vec<String> = rels
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .filter(|p| s.dirty.contains(p))
                .collect();
            if !clash.is_empty() {
                bail!(
                    "{} had uncommitted changes before the bump; not committing them together (the bump is applied on disk)",
                    list(&clash)
                );
            }
        }
        let message = commit_message(args, &target, &run, s);
        let base = s.git.head()?;
        let cycle_start_now = cycle_start.unwrap_or_else(std::time::Instant::now);
        let oid = s
            .git
            .commit_files(&rels, &message, &s.author, &s.committer)?;
        let Some(oid) = oid else {
            out.message = "nothing changed in the committed tree; no commit".into();
            write_github(&target, &run, &out, env)?;
            finish_report(args, &mapper, &target, run, &out)?;
            return Ok(EXIT_OK);
        };
        out.changed = true;
        out.commit = Some(oid.to_string());
        out.branch = Some(s.branch.clone());
        if !args.push {
            out.message = format!("committed {} on {}", short(&oid.to_string()), s.branch);
            write_github(&target, &run, &out, env)?;
            finish_report(args, &mapper, &target, run, &out)?;
            return Ok(EXIT_OK);
        }
        match s.git.push(&args.remote, &s.branch, &s.remote_branch)? {
            PushOutcome::Pushed => {
                out.pushed = true;
                out.retries = attempt;
                out.message = format!(
                    "committed {} and pushed to {}/{}{}",
                    short(&oid.to_string()),
                    args.remote,
                    s.remote_branch,
                    if attempt > 0 {
                        format!(
                            " after {attempt} retr{}",
                            if attempt == 1 { "y" } else { "ies" }
                        )
                    } else {
                        String::new()
                    }
                );
                write_github(&target, &run, &out, env)?;
                finish_report(args, &mapper, &target, run, &out)?;
                return Ok(EXIT_OK);
            }
            PushOutcome::Rejected(why) => {
                if attempt >= args.push_retries {
                    bail!(
                        "push to {}/{} rejected {} time(s), giving up (last: {why}); the commit {} stays local",
                        args.remote,
                        s.remote_branch,
                        attempt + 1,
                        short(&oid.to_string())
                    );
                }
                let wait = backoff(attempt, cycle_start_now.elapsed());
                eprintln!(
                    "harborize: push rejected ({why}); fetching {}/{} and bumping again in {} ms (retry {}/{})",
                    args.remote,
                    s.remote_branch,
                    wait.as_millis(),
                    attempt + 1,
                    args.push_retries
                );
                std::thread::sleep(wait);
                cycle_start = Some(std::time::Instant::now());
                let new_head = s
                    .git
                    .fetch_and_reset(&args.remote, &s.branch, &s.remote_branch)?;
                let mut again = s.git.changed_between(base, new_head)?;
                again.extend(rels);
                paths = rerun_paths(s.git.workdir(), &args.paths, again);
                attempt += 1;
            }
        }
    }
}

/// The files to bump again after a reset: repository-relative `changed` paths that a walk
/// of `roots` would read (manifest extensions, under one of the roots, still present).
fn rerun_paths(workdir: &Path, roots: &[PathBuf], changed: Vec<PathBuf>) -> Vec<PathBuf> {
    let roots: Vec<PathBuf> = roots.iter().filter_map(|r| r.canonicalize().ok()).collect();
    let mut out: Vec<PathBuf> = changed
        .into_iter()
        .map(|rel| workdir.join(rel))
        .filter(|p| {
            p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                ["yaml", "yml", "json"]
                    .iter()
                    .any(|x| x.eq_ignore_ascii_case(e))
            })
        })
        .filter(|p| p.is_file() && roots.iter().any(|r| p.starts_with(r)))
        .collect();
    out.sort();
    out.dedup();
    out
}

struct Session {
    git: Git,
    branch: String,
    remote_branch: String,
    /// Tracked files that were dirty before the run.
    dirty: Vec<String>,
    author: Identity,
    committer: Identity,
}

fn list(items: &[String]) -> String {
    const MAX: usize = 5;
    let mut s = items
        .iter()
        .take(MAX)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > MAX {
        s.push_str(&format!(", and {} more", items.len() - MAX));
    }
    s
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

fn version(target: &Target) -> String {
    match &target.digest {
        Some(d) => format!("{}@{d}", target.tag),
        None => target.tag.clone(),
    }
}

/// Exponential backoff with jitter: a random wait in `[W/2, W)`, `W = unit × 2^(attempt+1)`,
/// where `unit` is the last fetch → push cycle (100 ms to 1 s); capped at 10 s.
fn backoff(attempt: u32, cycle: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let unit = (cycle.as_millis() as u64).clamp(100, 1_000);
    let window = unit.saturating_mul(2 << attempt.min(8)).min(10_000);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(attempt);
    Duration::from_millis(window / 2 + h.finish() % (window / 2).max(1))
}

fn commit_message(args: &BumpArgs, target: &Target, run: &BumpRun, s: &Session) -> String {
    let changes = run.changes();
    let images: String = changes
        .iter()
        .map(|(old, new)| format!("- {old} → {new}"))
        .collect::<Vec<_>>()
        .join("\n");
    let summary = format!("{} to {}", target.image, version(target));
    git::render_message(
        args.message_template.as_deref().unwrap_or(DEFAULT_TEMPLATE),
        &images,
        1,
        &summary,
        args.signoff.then_some(&s.committer),
    )
}

fn image_out(target: &Target, run: &BumpRun) -> ImageOut {
    let from: BTreeSet<String> = run.changes().into_keys().collect();
    let files: Vec<String> = run
        .results
        .iter()
        .filter(|r| r.changed)
        .map(|r| r.display.clone())
        .collect();
    ImageOut {
        image: target.image.clone(),
        harbor: target.harbor_name.clone(),
        tag: target.tag.clone(),
        digest: target.digest.clone(),
        from: from.into_iter().collect(),
        to: target.reference(),
        references: run.matched,
        files,
    }
}

/// Print the report (the final attempt's) and what happened with git.
fn finish_report(
    args: &BumpArgs,
    mapper: &crate::mapping::Mapper,
    target: &Target,
    run: BumpRun,
    out: &GitOut,
) -> Result<()> {
    let image = image_out(target, &run);
    let applied = !args.dry_run;
    let report = Report::build(mapper.harbor(), run.results, applied);
    match args.format {
        Format::Json => {
            #[derive(Serialize)]
            struct WithBump<'a> {
                #[serde(flatten)]
                report: &'a Report,
                bump: serde_json::Value,
            }
            let v = WithBump {
                report: &report,
                bump: serde_json::json!({ "images": [image], "git": out }),
            };
            let mut stdout = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut stdout, &v)?;
            writeln!(stdout)?;
        }
        format => {
            report.print(format, Mode::Rewrite { applied }, args.diff)?;
            if !out.message.is_empty() {
                println!("harborize: {}", out.message);
            }
        }
    }
    Ok(())
}

/// In GitHub Actions: `changed`, `commit`, `images` to `$GITHUB_OUTPUT`, and a markdown
/// summary to `$GITHUB_STEP_SUMMARY`.
fn write_github(
    target: &Target,
    run: &BumpRun,
    out: &GitOut,
    env: impl Fn(&str) -> Option<String>,
) -> Result<()> {
    let image = image_out(target, run);
    if let Some(path) = env("GITHUB_OUTPUT").filter(|p| !p.is_empty()) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open GITHUB_OUTPUT {path}"))?;
        writeln!(f, "changed={}", out.changed)?;
        writeln!(f, "commit={}", out.commit.as_deref().unwrap_or(""))?;
        writeln!(f, "images={}", serde_json::to_string(&[&image])?)?;
    }
    if let Some(path) = env("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        let mut md = String::from(
            "### harborize bump\n\n| image | from | to | files |\n|---|---|---|---|\n",
        );
        let from = if image.from.is_empty() {
            "(unchanged)".to_string()
        } else {
            image
                .from
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join("<br>")
        };
        md.push_str(&format!(
            "| `{}` | {from} | `{}` | {} |\n\n",
            image.image,
            image.to,
            image.files.len()
        ));
        md.push_str(&format!("{}\n", out.message));
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open GITHUB_STEP_SUMMARY {path}"))?;
        f.write_all(md.as_bytes())?;
    }
    Ok(())
}
