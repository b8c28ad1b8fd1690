//! `harborize bump`: set a new tag (and digest) on every reference to one image, written
//! as its Harbor path; optionally commit exactly the changed files and push. When the push
//! is rejected because the remote moved, the commit is replayed onto the new remote head
//! (`crate::bump::publish` over `crate::vcs::publish`): never forced, history stays linear.
//!
//! With `--pull-request` the commit goes to a branch named after the change
//! (`harborize/<hash>` of the base branch, the image and its new reference), which is pushed
//! with the same retry loop, and a pull request is opened from it into the base branch, or
//! updated when one is open already. The user's branch is never committed to nor reset; the
//! run ends with it checked out again.
//!
//! This file resolves the arguments and composes: select → plan → publish → report.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use serde::Serialize;

use crate::bump::publish::{self, changed_image, version, Bump, Bumped, Ended, GitOut};
pub use crate::bump::publish::{Flavor, DEFAULT_TEMPLATE, PROMOTE_TEMPLATE};
use crate::bump::select::Selection;
use crate::bump::{BumpOptions, BumpRun, Target};
use crate::cli::{BumpArgs, GitArgs};
use crate::commands::{
    append_to_github_file, ExitStatus, Settings, EXIT_ERROR, EXIT_FINDINGS, EXIT_OK,
};
use crate::report::{Format, Mode, Report};
use crate::vcs::outputs::github_outputs;
use crate::vcs::publish::{GitOptions, Session};

pub fn run(args: &BumpArgs) -> Result<ExitStatus> {
    run_with_env(args, |k| std::env::var(k).ok())
}

pub fn run_with_env(
    args: &BumpArgs,
    env: impl Fn(&str) -> Option<String> + Copy,
) -> Result<ExitStatus> {
    run_flavored(args, env, Flavor::default())
}

/// The publish flow's settings from the git flags of `bump`, `promote` and `run`.
pub fn git_options(git: &GitArgs) -> GitOptions {
    GitOptions {
        remote: git.remote.clone(),
        pull_request: git.pull_request,
        retries: git.push_retries,
        allow_dirty: git.identity.allow_dirty,
        author_name: git.identity.author_name.clone(),
        author_email: git.identity.author_email.clone(),
        token_hosts: git.identity.git_token_host.clone(),
    }
}

/// [`run_with_env`] for a bump or a promotion.
pub fn run_flavored(
    args: &BumpArgs,
    env: impl Fn(&str) -> Option<String> + Copy,
    flavor: Flavor,
) -> Result<ExitStatus> {
    let Settings { config, mapper, .. } = Settings::for_paths(&args.source, &args.paths, None)?;
    let target = Target::new(&mapper, &args.image, &args.tag, args.digest.as_deref())?;
    let start = args.paths.first().map_or(Path::new("."), |p| p.as_path());
    let root = crate::bump::scope::repository_root(start, config.source.as_deref());
    let opts = BumpOptions {
        rewrite_hints: args.rewrite_hints,
        diff: args.diff,
        write: !args.dry_run,
        unfiltered: false,
    };

    // Git comes first: a dirty tree, a missing identity or (for a pull request) a missing
    // token must stop us before any write.
    let mut session = None;
    if args.commit || args.git.push || args.git.pull_request {
        let mut s = Session::open(start, &git_options(&args.git), env)?;
        // Commits and pushes go to the pull request branch when there is one.
        let head = flavor.branch(&target, &s.remote_branch);
        s.start_pull_request(head)?;
        session = Some(s);
    }

    // The commit's objects are made while the bump's writes wait for the disk, from the
    // bytes being written (`git::prepare`); the commit uses them if they still fit.
    let workdir = session.as_ref().map(|s| s.workdir().to_path_buf());
    let prepared = std::sync::Mutex::new(None);
    let prepare = |staged: &[(PathBuf, Vec<u8>)]| {
        let Some(workdir) = &workdir else { return };
        let files: Option<Vec<(PathBuf, &[u8])>> = staged
            .iter()
            .map(|(path, bytes)| {
                let rel = path.strip_prefix(workdir).ok()?;
                Some((rel.to_path_buf(), bytes.as_slice()))
            })
            .collect();
        // Anything unexpected (a path outside the work tree, a git error): the commit
        // stages from the work tree as ever.
        if let Some(objects) = files.and_then(|f| crate::vcs::git::prepare(workdir, &f).ok()) {
            *prepared.lock().unwrap_or_else(|e| e.into_inner()) = Some(objects);
        }
    };
    let selection = Selection {
        root: &root,
        rules: &config.bump,
        all: args.all,
        alongside: workdir
            .is_some()
            .then_some(&prepare as crate::pipeline::engine::Alongside<'_>),
    };
    // Resolved once: a replay proves its re-planned files with the same renderers.
    let proof = proof_settings(args, &config)?;
    let selected =
        match crate::bump::select::run(&args.paths, &mapper, &target, opts, &proof, &selection) {
            Ok(s) => s,
            Err(refusal) => {
                // Several lines (one per place): printed as they are, exit 2.
                eprintln!("harborize: {refusal}");
                return Ok(EXIT_ERROR);
            }
        };
    for note in &selected.notes {
        eprintln!("harborize: {note}");
    }
    let b = Bump {
        paths: &args.paths,
        mapper: &mapper,
        target: &selected.target,
        opts,
        proof: &proof,
        keep: &selected.keep,
        flavor: &flavor,
        template: args.git.message_template.as_deref(),
        signoff: args.git.identity.signoff,
        push: args.git.push || args.git.pull_request,
    };
    if let (Some(s), Some(objects)) = (&session, prepared.into_inner().ok().flatten()) {
        s.prepared(objects);
    }
    let result = bump_and_publish(args, &b, selected.run, session.as_mut(), env);
    if let Some(s) = &session {
        // Back to the branch the user had: it was neither committed to nor moved.
        if let Err(e) = s.go_home() {
            eprintln!("harborize: warning: {e:#}; {} stays checked out", s.branch);
        }
    }
    result
}

/// Report the planned bump, or publish it and report.
fn bump_and_publish(
    args: &BumpArgs,
    b: &Bump<'_>,
    run: BumpRun,
    session: Option<&mut Session>,
    env: impl Fn(&str) -> Option<String> + Copy,
) -> Result<ExitStatus> {
    let (mapper, target) = (b.mapper, b.target);
    let mut out = GitOut::default();
    if run.errors() > 0 || run.blocked > 0 {
        super::print_render_refusals(&run.render);
        return failed(args, mapper, target, run, &out);
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
        finish_report(args, mapper, target, run, &out)?;
        return Ok(code);
    }
    let Some(s) = session else {
        out.changed = !changed.is_empty();
        out.message = if out.changed {
            format!("{} file(s) changed", changed.len())
        } else {
            format!("nothing changed: already at {}", version(target))
        };
        write_github(target, &run, &out, env)?;
        finish_report(args, mapper, target, run, &out)?;
        return Ok(EXIT_OK);
    };
    let mut done = Bumped::default();
    done.add(&run);
    let mut log = |m: String| eprintln!("harborize: {m}");
    match publish::publish(b, s, &run, &mut done, &mut out, &mut log)? {
        Ended::Done { pr } => {
            write_github(target, &run, &out, env)?;
            finish_report(args, mapper, target, run, &out)?;
            pr?;
            Ok(EXIT_OK)
        }
        Ended::Failed(again) => failed(args, mapper, target, again, &out),
    }
}

/// Report a bump that cannot go on (per-file errors, blocked references): exit 2.
fn failed(
    args: &BumpArgs,
    mapper: &crate::mapping::Mapper,
    target: &Target,
    run: BumpRun,
    out: &GitOut,
) -> Result<ExitStatus> {
    let blocked = run.blocked;
    finish_report(args, mapper, target, run, out)?;
    if blocked > 0 {
        eprintln!(
            "harborize: {blocked} reference(s) to {} cannot be bumped (see above); nothing was written",
            target.image
        );
    }
    Ok(EXIT_ERROR)
}

/// The render proof of the bump's writes: the `render:` section of harborize.yaml, then
/// PATH (as for `run`).
fn proof_settings(
    args: &BumpArgs,
    config: &crate::config::Config,
) -> Result<crate::pipeline::render::ProofSettings> {
    let mut proof =
        crate::pipeline::render::ProofSettings::resolve(false, None, None, &config.render)
            .map_err(anyhow::Error::msg)?;
    proof.hints = args.rewrite_hints;
    Ok(proof)
}

/// Print the report (the final attempt's) and what happened with git.
fn finish_report(
    args: &BumpArgs,
    mapper: &crate::mapping::Mapper,
    target: &Target,
    run: BumpRun,
    out: &GitOut,
) -> Result<()> {
    let image = changed_image(target, &run);
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

/// In GitHub Actions: `changed`, `commit`, `pr-url` (empty without a pull request),
/// `images` to `$GITHUB_OUTPUT`, and a markdown summary to `$GITHUB_STEP_SUMMARY`.
fn write_github(
    target: &Target,
    run: &BumpRun,
    out: &GitOut,
    env: impl Fn(&str) -> Option<String>,
) -> Result<()> {
    let image = changed_image(target, run);
    let outputs = github_outputs(
        out.changed,
        out.commit.as_deref(),
        out.pull_request.as_ref().map(|p| p.url.as_str()),
        std::slice::from_ref(&image),
    )?;
    append_to_github_file(&env, "GITHUB_OUTPUT", &outputs)?;
    if env("GITHUB_STEP_SUMMARY").is_some_and(|p| !p.is_empty()) {
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
        if let Some(p) = &out.pull_request {
            md.push_str(&format!("\nPull request: {}\n", p.url));
        }
        append_to_github_file(&env, "GITHUB_STEP_SUMMARY", &md)?;
    }
    Ok(())
}
