//! `harborize bump`: set a new tag (and digest) on every reference to one image, written
//! as its Harbor path; optionally commit exactly the changed files and push. When the push
//! is rejected because the remote moved, the commit is replayed onto the new remote head by
//! a three-way merge of trees, and only the files that conflict (or that the remote changed
//! near the image) are planned again: racing pipelines settle by merging, not by redoing
//! the whole bump. Never forced, history stays linear.
//!
//! With `--pull-request` the commit goes to a branch named after the change
//! (`harborize/<hash>` of the base branch, the image and its new reference), which is pushed
//! with the same retry loop, and a pull request is opened from it into the base branch, or
//! updated when one is open already. The user's branch is never committed to nor reset; the
//! run ends with it checked out again.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use serde::Serialize;

use crate::bump::select::Selection;
use crate::bump::{self, BumpOptions, BumpRun, Target};
use crate::cli::BumpArgs;
use crate::commands::{
    append_to_github_file, commit_outputs, ExitStatus, Settings, EXIT_ERROR, EXIT_FINDINGS, EXIT_OK,
};
use crate::report::{Format, Mode, Report};
use crate::vcs::git::{self, Auth, Git, Identity, PushOutcome};
use crate::vcs::github::{self, GitHub};

/// The default commit message: subject, one line per bumped reference, the trailer.
pub const DEFAULT_TEMPLATE: &str =
    "harborize: bump {summary}\n\n{images}\n\nHarborize-Images: {count}";

/// The default commit message of `promote`.
pub const PROMOTE_TEMPLATE: &str =
    "harborize: promote {summary}\n\n{images}\n\nHarborize-Images: {count}";

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
    /// Pushes rejected because the remote moved (each followed by a fetch and a replay).
    retries: u32,
    /// Replays of the bump commit onto a moved remote (three-way merges of trees).
    replays: u32,
    /// Files re-planned from a moved remote's head over all replays (merge conflicts, and
    /// files the remote changed near the image); every other file was merged.
    replanned_files: usize,
    message: String,
    /// The pull request opened or updated (`--pull-request`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pull_request: Option<PrOut>,
}

pub use crate::vcs::github::PrOut;

impl PrOut {
    /// `opened pull request #3 (harborize/abc → main): URL`
    pub fn describe(&self) -> String {
        format!(
            "{} pull request #{} ({} → {}): {}",
            if self.created { "opened" } else { "updated" },
            self.number,
            self.head,
            self.base,
            self.url
        )
    }
}

/// Where a `--pull-request` run goes: the client, the branch named after the change, and
/// the base branch on the remote.
pub struct PrTarget {
    pub client: GitHub,
    pub head: String,
    pub base: String,
}

/// What [`open_pull_request`] came to.
pub enum PrResult {
    Done(PrOut),
    /// GitHub says the branch has no commits over the base: the base has the change.
    NothingNew,
}

/// The message for a change the base branch already has.
pub const BASE_HAS_IT: &str = "the base already has this change; no pull request";

/// Set up `--pull-request` on an open repository, before anything is written: the client
/// (fails fast on a missing token or an unknown repository), then `head` checked out as a
/// new branch at HEAD (same commit, no checkout), so commits, pushes and retries never
/// touch `branch`.
pub fn start_pull_request(
    git: &Git,
    remote: &str,
    branch: &str,
    base: &str,
    head: String,
    env: impl Fn(&str) -> Option<String>,
) -> Result<PrTarget> {
    let client = pr_client(git, remote, branch, env)?;
    git.start_branch(&head)?;
    Ok(PrTarget {
        client,
        head,
        base: base.to_string(),
    })
}

/// Check out the branch named after a change (`harborize/<hash>` of `scope`, the base
/// branch and each `old → new`) and make it the head of a pull request into `base`.
pub fn branch_for_change(
    git: &Git,
    client: GitHub,
    scope: &str,
    base: &str,
    pairs: &[(String, String)],
) -> Result<PrTarget> {
    let items: Vec<String> = pairs
        .iter()
        .map(|(old, new)| format!("{old} → {new}"))
        .collect();
    let head = github::branch_name(&github::change_key(scope, base, &items));
    git.start_branch(&head)?;
    Ok(PrTarget {
        client,
        head,
        base: base.to_string(),
    })
}

/// The GitHub client for pull requests into `branch`'s remote branch on `remote`: the
/// repository from the remote's URL (else `GITHUB_REPOSITORY`), the token and API URL from
/// the environment. Fails when any is missing, or when `branch` is itself a pull request
/// branch of an earlier run.
pub fn pr_client(
    git: &Git,
    remote: &str,
    branch: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<GitHub> {
    if branch.starts_with("harborize/") {
        bail!(
            "{branch} is checked out, a pull request branch of harborize: check out the branch the pull request should go into (e.g. main) first"
        );
    }
    Ok(GitHub::from_env(env, git.remote_url(remote).as_deref())?)
}

/// Open the pull request from `pr.head` (already on the remote) into `pr.base`, or update
/// the one open from it. "No commits between" is [`PrResult::NothingNew`], not an error.
pub fn open_pull_request(pr: &PrTarget, title: &str, body: &str) -> Result<PrResult> {
    match pr
        .client
        .open_or_update_blocking(&pr.head, &pr.base, title, body)
    {
        Ok(p) => Ok(PrResult::Done(PrOut {
            number: p.number,
            url: p.url,
            created: p.created,
            head: pr.head.clone(),
            base: pr.base.clone(),
        })),
        Err(github::Error::NothingNew { .. }) => Ok(PrResult::NothingNew),
        Err(e) => Err(anyhow!(
            "the branch {} is pushed, but the pull request into {} could not be opened or updated: {e}",
            pr.head,
            pr.base
        )),
    }
}

pub fn run(args: &BumpArgs) -> Result<ExitStatus> {
    run_with_env(args, |k| std::env::var(k).ok())
}

pub fn run_with_env(
    args: &BumpArgs,
    env: impl Fn(&str) -> Option<String> + Copy,
) -> Result<ExitStatus> {
    run_flavored(args, env, Flavor::default())
}

/// What a bump is for: a plain bump, or a promotion to one environment (`promote`), which
/// names its pull request, branch and commit after the environments.
#[derive(Debug, Default)]
pub struct Flavor {
    /// `promote`: the environments (from, to) as given.
    pub promote: Option<(String, String)>,
}

impl Flavor {
    fn verb(&self) -> &'static str {
        if self.promote.is_some() {
            "promote"
        } else {
            "bump"
        }
    }

    /// `IMAGE to TAG`, or `IMAGE TAG from DEV to PROD`.
    fn summary(&self, target: &Target) -> String {
        match &self.promote {
            Some((from, to)) => format!("{} {} from {from} to {to}", target.image, version(target)),
            None => format!("{} to {}", target.image, version(target)),
        }
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
    let selection = Selection {
        root: &root,
        rules: &config.bump,
        all: args.all,
    };
    let opts = BumpOptions {
        rewrite_hints: args.rewrite_hints,
        diff: args.diff,
        write: !args.dry_run,
        unfiltered: false,
    };
    let push = args.git.push || args.git.pull_request;
    let commit = args.commit || push;

    // Git comes first: a dirty tree, a missing identity or (for a pull request) a missing
    // token must stop us before any write.
    let mut session = None;
    if commit {
        let start = args.paths.first().cloned().unwrap_or_else(|| ".".into());
        let auth = Auth::from_env(env).allow_hosts(&args.git.identity.git_token_host)?;
        let g = Git::discover(&start, auth)?;
        let branch = g.current_branch()?;
        let dirty = g.dirty_files()?;
        if !dirty.is_empty() && !args.git.identity.allow_dirty {
            bail!(
                "the work tree has uncommitted changes to tracked files ({}): commit or stash them, or pass --allow-dirty to commit only this run's files",
                list(&dirty)
            );
        }
        let (author, committer) = git::identities(
            &g.repo,
            args.git.identity.author_name.as_deref(),
            args.git.identity.author_email.as_deref(),
            env,
        )?;
        let remote_branch = g.remote_branch(&branch);
        let pr = if args.git.pull_request {
            let mut items = vec![format!("{}={}", target.image, target.reference())];
            if let Some((_, to)) = &flavor.promote {
                items.push(format!("to={to}"));
            }
            let key = github::change_key(flavor.verb(), &remote_branch, &items);
            Some(start_pull_request(
                &g,
                &args.git.remote,
                &branch,
                &remote_branch,
                github::branch_name(&key),
                env,
            )?)
        } else {
            None
        };
        session = Some(Session {
            git: g,
            // Commits and pushes go to the pull request branch when there is one.
            branch: pr
                .as_ref()
                .map_or_else(|| branch.clone(), |p| p.head.clone()),
            remote_branch: pr.as_ref().map_or(remote_branch, |p| p.head.clone()),
            home: branch,
            dirty,
            author,
            committer,
            pr,
            flavor,
        });
    }

    // Resolved once: a replay proves its re-planned files with the same renderers.
    let proof = proof_settings(args, &config)?;
    let result = bump_loop(
        args,
        &mapper,
        &target,
        opts,
        &selection,
        &proof,
        session.as_ref(),
        env,
    );
    if let Some(s) = session.as_ref().filter(|s| s.pr.is_some()) {
        // Back to the branch the user had: it was neither committed to nor moved.
        if let Err(e) = s.git.switch_to(&s.home) {
            eprintln!("harborize: warning: {e:#}; {} stays checked out", s.branch);
        }
    }
    result
}

/// Bump, commit, push (replaying the commit onto a moved remote), open the pull request.
#[allow(clippy::too_many_arguments)]
fn bump_loop(
    args: &BumpArgs,
    mapper: &crate::mapping::Mapper,
    target: &Target,
    opts: BumpOptions,
    selection: &Selection,
    proof: &crate::pipeline::render::ProofSettings,
    session: Option<&Session>,
    env: impl Fn(&str) -> Option<String> + Copy,
) -> Result<ExitStatus> {
    let push = args.git.push || args.git.pull_request;
    let mut out = GitOut::default();
    // What the bump changed over all attempts (for the pull request body: a replay that
    // finds the change already on the remote branch changes nothing itself).
    let mut done = Bumped::default();
    // Only the environments asked for (issue #18): a refusal writes nothing.
    let selected =
        match crate::bump::select::run(&args.paths, mapper, target, opts, proof, selection) {
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
    let target = &selected.target;
    let keep = &selected.keep;
    let run = selected.run;
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
    done.add(&run);
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
    if changed.is_empty() {
        out.message = format!("nothing changed: already at {}; no commit", version(target));
        // At the first attempt the base branch has the change.
        let pr = finish_pull_request(s, false, target, &done, &mut out);
        write_github(target, &run, &out, env)?;
        finish_report(args, mapper, target, run, &out)?;
        pr?;
        return Ok(EXIT_OK);
    }
    let rels = changed
        .iter()
        .map(|p| s.git.relative(p))
        .collect::<Result<Vec<PathBuf>>>()?;
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
    let message = commit_message(args, target, &run, s);
    // How long one fetch → replay → push cycle takes: the backoff scales with it, so
    // racers on a large repository spread out as well as on a small one.
    let mut cycle_start = std::time::Instant::now();
    let Some(mut oid) = s
        .git
        .commit_files(&rels, &message, &s.author, &s.committer)?
    else {
        out.message = "nothing changed in the committed tree; no commit".into();
        let pr = finish_pull_request(s, false, target, &done, &mut out);
        write_github(target, &run, &out, env)?;
        finish_report(args, mapper, target, run, &out)?;
        pr?;
        return Ok(EXIT_OK);
    };
    out.changed = true;
    out.commit = Some(oid.to_string());
    out.branch = Some(s.branch.clone());
    if !push {
        out.message = format!("committed {} on {}", short(&oid.to_string()), s.branch);
        write_github(target, &run, &out, env)?;
        finish_report(args, mapper, target, run, &out)?;
        return Ok(EXIT_OK);
    }
    let mut attempt: u32 = 0;
    loop {
        let why = match s.git.push(&args.git.remote, &s.branch, &s.remote_branch)? {
            PushOutcome::Pushed => {
                out.pushed = true;
                out.message = format!(
                    "committed {} and pushed to {}/{}{}",
                    short(&oid.to_string()),
                    args.git.remote,
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
                let pr = finish_pull_request(s, true, target, &done, &mut out);
                write_github(target, &run, &out, env)?;
                finish_report(args, mapper, target, run, &out)?;
                pr?;
                return Ok(EXIT_OK);
            }
            PushOutcome::Rejected(why) => why,
        };
        if attempt >= args.git.push_retries {
            bail!(
                "push to {}/{} rejected {} time(s), giving up (last: {why}); the commit {} stays local",
                args.git.remote,
                s.remote_branch,
                attempt + 1,
                short(&oid.to_string())
            );
        }
        let wait = backoff(attempt, cycle_start.elapsed());
        eprintln!(
            "harborize: push rejected ({why}); fetching {}/{} and replaying the bump in {} ms (retry {}/{})",
            args.git.remote,
            s.remote_branch,
            wait.as_millis(),
            attempt + 1,
            args.git.push_retries
        );
        std::thread::sleep(wait);
        cycle_start = std::time::Instant::now();
        attempt += 1;
        out.retries = attempt;
        match replay(
            args, mapper, target, opts, proof, keep, s, oid, &mut done, &mut out,
        )? {
            Replayed::Commit(new) => {
                oid = new;
                out.commit = Some(oid.to_string());
            }
            Replayed::RemoteHasIt => {
                out.changed = false;
                out.commit = Some(s.git.head()?.to_string());
                out.message = format!(
                    "the remote already has {} at {}: nothing to commit",
                    target.image,
                    version(target)
                );
                // The pull request branch on the remote carries the change.
                let pr = finish_pull_request(s, true, target, &done, &mut out);
                write_github(target, &run, &out, env)?;
                finish_report(args, mapper, target, run, &out)?;
                pr?;
                return Ok(EXIT_OK);
            }
            Replayed::Failed(again) => return failed(args, mapper, target, again, &out),
        }
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

/// What replaying the bump onto a moved remote came to.
enum Replayed {
    /// A new commit on the new remote head, to push.
    Commit(git2::Oid),
    /// The remote has the change already: nothing to commit.
    RemoteHasIt,
    /// Re-planning a file failed (the run with the errors).
    Failed(BumpRun),
}

/// After a rejected push: fetch, merge the bump commit `ours` onto the new remote head
/// (three-way, [`Git::fetch_and_replay`]); files that conflict, and files the remote
/// changed by adding a line naming the image or a registry, are re-planned from the new
/// head (their proof runs again). The commit keeps its message and authors either way.
#[allow(clippy::too_many_arguments)]
fn replay(
    args: &BumpArgs,
    mapper: &crate::mapping::Mapper,
    target: &Target,
    opts: BumpOptions,
    proof: &crate::pipeline::render::ProofSettings,
    keep: &BTreeSet<PathBuf>,
    s: &Session,
    ours: git2::Oid,
    done: &mut Bumped,
    out: &mut GitOut,
) -> Result<Replayed> {
    let r = s
        .git
        .fetch_and_replay(&args.git.remote, &s.branch, &s.remote_branch, ours, target)?;
    let mut replan: Vec<PathBuf> = r.conflicts.iter().chain(&r.touched).cloned().collect();
    replan.sort();
    replan.dedup();
    out.replays += 1;
    out.replanned_files += replan.len();
    eprintln!(
        "harborize: replayed the bump onto {}: {} file(s) merged, {} conflicting, {} changed by the remote near the image; {} file(s) re-planned",
        short(&r.onto.to_string()),
        r.merged.len(),
        r.conflicts.len(),
        r.touched.len(),
        replan.len()
    );
    if replan.is_empty() {
        return Ok(match s.git.land_replay(&s.branch, &r, ours)? {
            Some(oid) => Replayed::Commit(oid),
            None => Replayed::RemoteHasIt,
        });
    }
    let message = s.git.message_of(ours)?;
    s.git.check_out_replay(&s.branch, &r)?;
    let mut files = r.merged.clone();
    // Only files of the selected environments are planned again.
    let paths: Vec<PathBuf> = rerun_paths(s.git.workdir(), &args.paths, replan)
        .into_iter()
        .filter(|p| p.canonicalize().is_ok_and(|c| keep.contains(&c)))
        .collect();
    if !paths.is_empty() {
        let run = bump::run_proven(&paths, mapper, target, opts, proof);
        if run.errors() > 0 || run.blocked > 0 {
            return Ok(Replayed::Failed(run));
        }
        done.add(&run);
        for p in run.changed_files() {
            files.push(s.git.relative(&p)?);
        }
    }
    files.sort();
    files.dedup();
    Ok(
        match s
            .git
            .commit_files(&files, &message, &s.author, &s.committer)?
        {
            Some(oid) => Replayed::Commit(oid),
            None => Replayed::RemoteHasIt,
        },
    )
}

/// Every `old → new` and file a bump changed, over all attempts.
#[derive(Default)]
struct Bumped {
    changes: BTreeMap<String, String>,
    files: BTreeSet<String>,
}

impl Bumped {
    fn add(&mut self, run: &BumpRun) {
        self.changes.extend(run.changes());
        self.files.extend(
            run.results
                .iter()
                .filter(|r| r.changed)
                .map(|r| r.display.clone()),
        );
    }
}

/// The pull request step of a run that ends here (`--pull-request`; nothing otherwise):
/// `on_remote` when the pull request branch on the remote has the change (pushed, or found
/// there after a retry), else the base branch has it. The caller prints the report before
/// returning an error from here.
fn finish_pull_request(
    s: &Session,
    on_remote: bool,
    target: &Target,
    done: &Bumped,
    out: &mut GitOut,
) -> Result<()> {
    let Some(pr) = &s.pr else { return Ok(()) };
    if on_remote {
        pull_request(pr, &s.flavor, target, done, out)
    } else {
        out.message = format!("{}; {BASE_HAS_IT}", out.message);
        Ok(())
    }
}

/// Open or update the pull request for the change now on `pr.head`; the outcome goes into
/// `out` (its URL, or "the base already has this change").
fn pull_request(
    pr: &PrTarget,
    flavor: &Flavor,
    target: &Target,
    done: &Bumped,
    out: &mut GitOut,
) -> Result<()> {
    let title = match &flavor.promote {
        Some((_, to)) => format!("harborize: promote {} {} to {to}", target.image, target.tag),
        None => format!("harborize: bump {} to {}", target.image, target.tag),
    };
    let changes: Vec<(String, String)> = done
        .changes
        .iter()
        .map(|(a, b)| (a.clone(), b.clone()))
        .collect();
    let mut notes = vec![format!(
        "Every reference to `{}` now pulls `{}` through Harbor.",
        target.image,
        target.reference()
    )];
    if !done.files.is_empty() {
        let files: Vec<String> = done.files.iter().map(|f| format!("`{f}`")).collect();
        notes.push(format!("Files: {}.", files.join(", ")));
    }
    if let Some((from, to)) = &flavor.promote {
        notes.insert(
            0,
            format!("Environment: `{to}` (promoted from `{from}`); old and new reference below. No verify or scan ran for this change."),
        );
    }
    if let Some(c) = &out.commit {
        notes.push(format!("Commit: `{c}` on `{}`.", pr.head));
    }
    let body = github::markdown_body(
        &format!("harborize {}: `{}`", flavor.verb(), flavor.summary(target)),
        &changes,
        &notes,
    );
    match open_pull_request(pr, &title, &body)? {
        PrResult::Done(p) => {
            out.message = format!("{}; {}", out.message, p.describe());
            out.pull_request = Some(p);
        }
        PrResult::NothingNew => out.message = format!("{}; {BASE_HAS_IT}", out.message),
    }
    Ok(())
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
    /// The branch commits go to and are pushed from (the pull request branch with
    /// `--pull-request`, else the checked-out branch).
    branch: String,
    /// The remote branch it is pushed to.
    remote_branch: String,
    /// The branch checked out when the run started.
    home: String,
    pr: Option<PrTarget>,
    /// Tracked files that were dirty before the run.
    dirty: Vec<String>,
    author: Identity,
    committer: Identity,
    /// Bump or promotion (names the commit and pull request).
    flavor: Flavor,
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

/// Backoff with full jitter: a random wait in `[0, W)`, `W = unit × 2^min(attempt, 2)`,
/// where `unit` is the last fetch → push cycle (20 ms to 250 ms).
///
/// The remote ref moves by compare-and-swap, so every round of a race has a winner and
/// nobody can starve; the wait only has to spread the losers over a few cycles so they
/// stop re-bumping on top of each other. Growing it further (or forcing a minimum) only
/// adds idle time: with eight racers that idle time was most of the race.
fn backoff(attempt: u32, cycle: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let unit = (cycle.as_millis() as u64).clamp(20, 250);
    let window = unit << attempt.min(2);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(attempt);
    Duration::from_millis(h.finish() % window.max(1))
}

fn commit_message(args: &BumpArgs, target: &Target, run: &BumpRun, s: &Session) -> String {
    let changes = run.changes();
    let images: String = changes
        .iter()
        .map(|(old, new)| format!("- {old} → {new}"))
        .collect::<Vec<_>>()
        .join("\n");
    let summary = s.flavor.summary(target);
    let default = if s.flavor.promote.is_some() {
        PROMOTE_TEMPLATE
    } else {
        DEFAULT_TEMPLATE
    };
    git::render_message(
        args.git.message_template.as_deref().unwrap_or(default),
        &images,
        1,
        &summary,
        args.git.identity.signoff.then_some(&s.committer),
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

/// In GitHub Actions: `changed`, `commit`, `pr-url` (empty without a pull request),
/// `images` to `$GITHUB_OUTPUT`, and a markdown summary to `$GITHUB_STEP_SUMMARY`.
fn write_github(
    target: &Target,
    run: &BumpRun,
    out: &GitOut,
    env: impl Fn(&str) -> Option<String>,
) -> Result<()> {
    let image = image_out(target, run);
    let outputs = commit_outputs(
        out.changed,
        out.commit.as_deref(),
        out.pull_request.as_ref().map(|p| p.url.as_str()),
        &[&image],
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_inside_a_window_of_a_few_cycles() {
        let cycle = Duration::from_millis(200);
        for attempt in 0..12 {
            let window = 200u64 << attempt.min(2);
            for _ in 0..50 {
                let w = backoff(attempt, cycle).as_millis() as u64;
                assert!(
                    w < window,
                    "attempt {attempt}: {w} ms not below {window} ms"
                );
            }
        }
        // Cycles outside 20 ms..250 ms are clamped.
        assert!(backoff(5, Duration::from_secs(30)) < Duration::from_secs(1));
        assert!(backoff(0, Duration::ZERO) < Duration::from_millis(20));
    }

    #[test]
    fn backoff_is_jittered() {
        let waits: BTreeSet<u128> = (0..40)
            .map(|_| backoff(2, Duration::from_millis(500)).as_millis())
            .collect();
        assert!(waits.len() > 5, "waits barely vary: {waits:?}");
    }
}
