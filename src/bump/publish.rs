//! The bump's side of the publish flow ([`crate::vcs::publish`]): commit exactly the files
//! the bump changed, push, and when the remote moved, replay the commit onto the new head
//! by a three-way merge of trees; only the files that conflict (or that the remote changed
//! near the image) are planned again. Racing pipelines settle by merging, not by redoing
//! the whole bump. Then the pull request, named after the image (or the environments of a
//! promotion). Nothing here prints: notes go to the caller's `log`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use serde::Serialize;

use crate::bump::{self, BumpOptions, BumpRun, Target};
use crate::mapping::Mapper;
use crate::pipeline::render::ProofSettings;
use crate::vcs::git::{self, Replay};
use crate::vcs::github::{self, PrOut};
use crate::vcs::outputs::ChangedImage;
use crate::vcs::publish::{short, Moved, Published, Rebuilt, Session};
use crate::vcs::pull_request::{self, PrResult, PrTarget, BASE_HAS_IT};

/// The default commit message: subject, one line per bumped reference, the trailer.
pub const DEFAULT_TEMPLATE: &str =
    "harborize: bump {summary}\n\n{images}\n\nHarborize-Images: {count}";

/// The default commit message of `promote`.
pub const PROMOTE_TEMPLATE: &str =
    "harborize: promote {summary}\n\n{images}\n\nHarborize-Images: {count}";

/// What a bump is for: a plain bump, or a promotion to one environment (`promote`), which
/// names its pull request, branch and commit after the environments.
#[derive(Debug, Default)]
pub struct Flavor {
    /// `promote`: the environments (from, to) as given.
    pub promote: Option<(String, String)>,
}

impl Flavor {
    /// `bump` or `promote`.
    pub fn verb(&self) -> &'static str {
        if self.promote.is_some() {
            "promote"
        } else {
            "bump"
        }
    }

    /// `IMAGE to TAG`, or `IMAGE TAG from DEV to PROD`.
    pub fn summary(&self, target: &Target) -> String {
        match &self.promote {
            Some((from, to)) => format!("{} {} from {from} to {to}", target.image, version(target)),
            None => format!("{} to {}", target.image, version(target)),
        }
    }

    /// The pull request branch of this change into `base`.
    pub fn branch(&self, target: &Target, base: &str) -> String {
        let mut items = vec![format!("{}={}", target.image, target.reference())];
        if let Some((_, to)) = &self.promote {
            items.push(format!("to={to}"));
        }
        github::branch_name(&github::change_key(self.verb(), base, &items))
    }
}

/// `TAG`, or `TAG@DIGEST`.
pub fn version(target: &Target) -> String {
    match &target.digest {
        Some(d) => format!("{}@{d}", target.tag),
        None => target.tag.clone(),
    }
}

/// What happened with git (the JSON `bump.git` object).
#[derive(Debug, Serialize, Default)]
pub struct GitOut {
    pub changed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    pub pushed: bool,
    /// Pushes rejected because the remote moved (each followed by a fetch and a replay).
    pub retries: u32,
    /// Replays of the bump commit onto a moved remote (three-way merges of trees).
    pub replays: u32,
    /// Files re-planned from a moved remote's head over all replays (merge conflicts, and
    /// files the remote changed near the image); every other file was merged.
    pub replanned_files: usize,
    pub message: String,
    /// The pull request opened or updated (`--pull-request`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<PrOut>,
}

/// The image a bump changed, in the outputs (`images=` and the JSON `bump.images`).
pub fn changed_image(target: &Target, run: &BumpRun) -> ChangedImage {
    let from: BTreeSet<String> = run.changes().into_keys().collect();
    ChangedImage {
        image: target.image.clone(),
        harbor: target.harbor_name.clone(),
        tag: Some(target.tag.clone()),
        digest: target.digest.clone(),
        from: from.into_iter().collect(),
        to: target.reference(),
        references: run.matched,
        files: run
            .results
            .iter()
            .filter(|r| r.changed)
            .map(|r| r.display.clone())
            .collect(),
    }
}

/// Every `old → new` and file a bump changed, over all attempts (for the pull request
/// body: a replay that finds the change already on the remote branch changes nothing).
#[derive(Default)]
pub struct Bumped {
    changes: BTreeMap<String, String>,
    files: BTreeSet<String>,
}

impl Bumped {
    pub fn add(&mut self, run: &BumpRun) {
        self.changes.extend(run.changes());
        self.files.extend(
            run.results
                .iter()
                .filter(|r| r.changed)
                .map(|r| r.display.clone()),
        );
    }
}

/// What the bump is, for committing and replaying it.
pub struct Bump<'a> {
    /// The paths the bump walked.
    pub paths: &'a [PathBuf],
    pub mapper: &'a Mapper,
    pub target: &'a Target,
    pub opts: BumpOptions,
    pub proof: &'a ProofSettings,
    /// The files of the selected environments (canonical): only they are re-planned.
    pub keep: &'a BTreeSet<PathBuf>,
    pub flavor: &'a Flavor,
    /// `--message-template`.
    pub template: Option<&'a str>,
    pub signoff: bool,
    /// Push (and retry), or only commit.
    pub push: bool,
}

/// How publishing ended.
pub enum Ended {
    /// Done; `pr` is the pull request step's result, to return once the report is out.
    Done { pr: Result<()> },
    /// Re-planning a file after a replay failed (the run with the errors).
    Failed(BumpRun),
}

/// Commit the bump `run` (the first attempt) in `s`, push it (replaying it onto a moved
/// remote), open the pull request. `out` says what happened.
pub fn publish(
    b: &Bump<'_>,
    s: &mut Session,
    run: &BumpRun,
    done: &mut Bumped,
    out: &mut GitOut,
    log: &mut dyn FnMut(String),
) -> Result<Ended> {
    let target = b.target;
    let changed = run.changed_files();
    if changed.is_empty() {
        out.message = format!("nothing changed: already at {}; no commit", version(target));
        // At the first attempt the base branch has the change.
        let pr = finish_pull_request(s, false, b, done, out);
        return Ok(Ended::Done { pr });
    }
    let rels = changed
        .iter()
        .map(|p| s.git.relative(p))
        .collect::<Result<Vec<PathBuf>>>()?;
    let clash = s.clashes(&rels);
    if !clash.is_empty() {
        bail!(
            "{} had uncommitted changes before the bump; not committing them together (the bump is applied on disk)",
            crate::vcs::publish::list(&clash)
        );
    }
    let message = commit_message(b, run, s);
    let Some(oid) = s.commit(&rels, &message)? else {
        out.message = "nothing changed in the committed tree; no commit".into();
        let pr = finish_pull_request(s, false, b, done, out);
        return Ok(Ended::Done { pr });
    };
    out.changed = true;
    out.commit = Some(oid.to_string());
    out.branch = Some(s.branch.clone());
    if !b.push {
        out.message = format!("committed {} on {}", short(&oid.to_string()), s.branch);
        return Ok(Ended::Done { pr: Ok(()) });
    }
    let published = s.push_retrying(oid, Some(target), |s, moved| {
        log(format!(
            "push rejected ({}); waited {} ms, fetched {}/{} and replaying the bump (retry {}/{})",
            moved.why,
            moved.waited.as_millis(),
            s.remote,
            s.remote_branch,
            moved.attempt,
            moved.retries
        ));
        out.retries = moved.attempt;
        match replay(b, s, moved, done, out, log)? {
            Rebuilt::Commit(new) => {
                out.commit = Some(new.to_string());
                Ok(Rebuilt::Commit(new))
            }
            Rebuilt::RemoteHasIt => {
                out.changed = false;
                out.commit = Some(s.git.head()?.to_string());
                out.message = format!(
                    "the remote already has {} at {}: nothing to commit",
                    target.image,
                    version(target)
                );
                Ok(Rebuilt::RemoteHasIt)
            }
            Rebuilt::Stop(again) => Ok(Rebuilt::Stop(again)),
        }
    })?;
    match published {
        Published::Pushed(oid) => {
            out.pushed = true;
            let attempt = s.retried();
            out.message = format!(
                "committed {} and pushed to {}/{}{}",
                short(&oid.to_string()),
                s.remote,
                s.remote_branch,
                match attempt {
                    0 => String::new(),
                    1 => " after 1 retry".to_string(),
                    n => format!(" after {n} retries"),
                }
            );
        }
        // The pull request branch on the remote carries the change.
        Published::RemoteHasIt => {}
        Published::Stopped(again) => return Ok(Ended::Failed(again)),
    }
    let pr = finish_pull_request(s, true, b, done, out);
    Ok(Ended::Done { pr })
}

/// After a rejected push ([`Session::push`] fetched and merged the bump commit onto the
/// new remote head, three-way): files that conflict, and files the remote changed by
/// adding a line naming the image or a registry, are re-planned from the new head (their
/// proof runs again). The commit keeps its message and authors either way.
fn replay(
    b: &Bump<'_>,
    s: &Session,
    moved: Moved,
    done: &mut Bumped,
    out: &mut GitOut,
    log: &mut dyn FnMut(String),
) -> Result<Rebuilt<BumpRun>> {
    let ours = moved.rejected;
    let r: Replay = moved.replay.expect("a replaying push returns the replay");
    let mut replan: Vec<PathBuf> = r.conflicts.iter().chain(&r.touched).cloned().collect();
    replan.sort();
    replan.dedup();
    out.replays += 1;
    out.replanned_files += replan.len();
    log(format!(
        "replayed the bump onto {}: {} file(s) merged, {} conflicting, {} changed by the remote near the image; {} file(s) re-planned",
        short(&r.onto.to_string()),
        r.merged.len(),
        r.conflicts.len(),
        r.touched.len(),
        replan.len()
    ));
    if replan.is_empty() {
        return Ok(match s.git.land_replay(&s.branch, &r, ours)? {
            Some(oid) => Rebuilt::Commit(oid),
            None => Rebuilt::RemoteHasIt,
        });
    }
    let message = s.git.message_of(ours)?;
    s.git.check_out_replay(&s.branch, &r)?;
    let mut files = r.merged.clone();
    // Only files of the selected environments are planned again.
    let paths: Vec<PathBuf> = rerun_paths(s.git.workdir(), b.paths, replan)
        .into_iter()
        .filter(|p| p.canonicalize().is_ok_and(|c| b.keep.contains(&c)))
        .collect();
    if !paths.is_empty() {
        let run = bump::run_proven(&paths, b.mapper, b.target, b.opts, b.proof);
        if run.errors() > 0 || run.blocked > 0 {
            return Ok(Rebuilt::Stop(run));
        }
        done.add(&run);
        for p in run.changed_files() {
            files.push(s.git.relative(&p)?);
        }
    }
    files.sort();
    files.dedup();
    Ok(match s.commit(&files, &message)? {
        Some(oid) => Rebuilt::Commit(oid),
        None => Rebuilt::RemoteHasIt,
    })
}

/// The files to bump again after a replay: repository-relative `changed` paths that a
/// walk of `roots` would read (manifests, under one of the roots, still there).
fn rerun_paths(workdir: &Path, roots: &[PathBuf], changed: Vec<PathBuf>) -> Vec<PathBuf> {
    let roots: Vec<PathBuf> = roots.iter().filter_map(|r| r.canonicalize().ok()).collect();
    let mut out: Vec<PathBuf> = changed
        .into_iter()
        .map(|rel| workdir.join(rel))
        .filter(|p| crate::pipeline::walk::is_manifest(p))
        .filter(|p| p.is_file() && roots.iter().any(|r| p.starts_with(r)))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The pull request step of a run that ends here (`--pull-request`; nothing otherwise):
/// `on_remote` when the pull request branch on the remote has the change (pushed, or found
/// there after a retry), else the base branch has it. The caller prints the report before
/// returning an error from here.
pub fn finish_pull_request(
    s: &Session,
    on_remote: bool,
    b: &Bump<'_>,
    done: &Bumped,
    out: &mut GitOut,
) -> Result<()> {
    let Some(pr) = &s.pr else { return Ok(()) };
    if on_remote {
        pull_request(pr, b.flavor, b.target, done, out)
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
    match pull_request::open(pr, &title, &body)? {
        PrResult::Done(p) => {
            out.message = format!("{}; {}", out.message, p.describe());
            out.pull_request = Some(p);
        }
        PrResult::NothingNew => out.message = format!("{}; {BASE_HAS_IT}", out.message),
    }
    Ok(())
}

fn commit_message(b: &Bump<'_>, run: &BumpRun, s: &Session) -> String {
    let images: String = run
        .changes()
        .iter()
        .map(|(old, new)| format!("- {old} → {new}"))
        .collect::<Vec<_>>()
        .join("\n");
    let default = if b.flavor.promote.is_some() {
        PROMOTE_TEMPLATE
    } else {
        DEFAULT_TEMPLATE
    };
    git::render_message(
        b.template.unwrap_or(default),
        &images,
        1,
        &b.flavor.summary(b.target),
        b.signoff.then_some(&s.committer),
    )
}
