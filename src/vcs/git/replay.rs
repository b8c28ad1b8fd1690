//! Replaying a rejected bump commit onto the moved remote head ([`Git::fetch_and_replay`]):
//! the three-way merge, which of the remote's changes the run must plan again
//! ([`Relevance`]), and landing the replay: committed and pushed before anything is
//! checked out, the branch and the work tree moved once at the end ([`Git::settle`]).

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use anyhow::{Context, Result};
use git2::Oid;

use super::packed::{write_packed, Written};
use super::tree_diff::{self, Change};
use super::Git;
use crate::vcs::edit_merge::Merged;

impl Git {
    /// After a rejected push: fetch `remote_branch` and replay this run's commit `ours`
    /// (the branch's head) onto the new remote head by a three-way merge of trees, as a
    /// cherry-pick does (base: `ours`' parent). The user's other local commits are
    /// replayed first, as in [`fetch_and_reset`](Self::fetch_and_reset). Only objects are
    /// written; [`Replay`] says what came of it, and [`land_replay`](Self::land_replay) or
    /// [`check_out_replay`](Self::check_out_replay) act on it.
    ///
    /// `relevance` tells which of the remote's changes may make or unmake a reference of
    /// the run's: files the remote changed that way are listed in [`Replay::touched`], since
    /// a clean merge cannot know what a new line means.
    pub fn fetch_and_replay(
        &self,
        remote: &str,
        branch: &str,
        remote_branch: &str,
        ours: Oid,
        relevance: &dyn Relevance,
    ) -> Result<Replay> {
        let (tip, known_before) = self.fetch(remote, remote_branch)?;
        let onto = self
            .replay_local_commits(remote, tip, known_before)
            .with_context(|| super::local_commits_conflict(remote, branch, remote_branch))?;
        let commit = self.repo.find_commit(ours)?;
        let base = commit
            .parent_id(0)
            .context("the run's commit has no parent")?;
        let onto_tree = self.repo.find_commit(onto)?.tree()?;
        let base_tree = self.repo.find_commit(base)?.tree()?;
        // The remote's changes, read both for what matters to the run and for the merge,
        // and the commit's own, on this handle, whose caches hold the trees already (the
        // merge's handle starts cold: the same diff cost it twice the time there).
        let remote = tree_diff::between(&self.repo, &base_tree, &onto_tree)?;
        let own_changes = tree_diff::between(&self.repo, &base_tree, &commit.tree()?)?;
        let touched = self.touched_by(&remote, relevance)?;
        // The merged trees (about as many as the files the bump and the remote changed,
        // on every retry of a race) go to disk as one pack.
        let own_handle =
            git2::Repository::open(&self.workdir).context("cannot open the repository")?;
        let merge = write_packed(own_handle, |repo| {
            let merge = merge_onto(repo, ours, onto, &own_changes, &remote)?;
            Ok(Written {
                tree: merge.tree,
                base: Some(onto_tree.id()),
                value: merge,
            })
        })?;
        Ok(Replay {
            onto,
            tree: merge.tree,
            same_as_onto: merge.tree == onto_tree.id(),
            conflicts: merge.conflicts,
            touched,
            merged: merge.merged,
        })
    }

    /// A clean [`Replay`]: commit its tree on `onto` with `ours`' author, committer and
    /// message (`Some(new commit)`), leaving the branch, the index and the work tree
    /// alone: the caller pushes the commit and then [`settle`](Self::settle)s the branch
    /// on whichever commit is last, so a race of several rounds checks files out once.
    /// When the merged tree is `onto`'s (the remote has the change already), move `branch`
    /// to `onto` (`None`).
    pub fn land_replay(&self, branch: &str, replay: &Replay, ours: Oid) -> Result<Option<Oid>> {
        if replay.same_as_onto {
            self.move_branch(branch, replay.onto, "harborize: the remote has the change")?;
            return Ok(None);
        }
        let commit = self.repo.find_commit(ours)?;
        let onto = self.repo.find_commit(replay.onto)?;
        let tree = self.repo.find_tree(replay.tree)?;
        let oid = self.repo.commit(
            None,
            &commit.author(),
            &commit.committer(),
            commit.message_raw().unwrap_or(""),
            &tree,
            &[&onto],
        )?;
        self.own.borrow_mut().push(oid);
        Ok(Some(oid))
    }

    /// Whether `refs/heads/<branch>` points at `oid`.
    fn branch_is_at(&self, branch: &str, oid: Oid) -> bool {
        self.repo
            .refname_to_id(&format!("refs/heads/{branch}"))
            .ok()
            == Some(oid)
    }

    /// Move `branch` (checked out) to `oid`, the last commit pushed or kept, when a replay
    /// left it behind ([`land_replay`](Self::land_replay)); nothing when it is there.
    pub fn settle(&self, branch: &str, oid: Oid) -> Result<()> {
        if self.branch_is_at(branch, oid) {
            return Ok(());
        }
        // The run's own commits stay known: `oid` is one of them.
        let tree = self.repo.find_commit(oid)?.tree()?;
        self.move_with_tree(
            branch,
            oid,
            &tree,
            "harborize: replay onto the moved remote",
        )
    }

    /// A [`Replay`] with paths to re-plan: move `branch` to `onto` and put the merged
    /// version of [`Replay::merged`] in the work tree and the index (conflicting paths
    /// stay as on `onto`). The caller re-plans, then commits with
    /// [`commit_files`](Self::commit_files).
    ///
    /// One checkout, from HEAD straight to the merged tree: checking out `onto` first
    /// would write the run's own files back to the remote's version and then the merged
    /// files again (1,200 writes for a 600-file bump). The work tree matches HEAD here
    /// (the run's files are committed), so the checkout stays safe: a local modification
    /// it would overwrite makes it fail instead of being lost.
    pub fn check_out_replay(&self, branch: &str, replay: &Replay) -> Result<()> {
        let tree = self.repo.find_tree(replay.tree)?;
        self.move_with_tree(
            branch,
            replay.onto,
            &tree,
            "harborize: onto the moved remote",
        )?;
        // The branch is at the remote's head: none of the run's commits is on it.
        self.own.borrow_mut().clear();
        Ok(())
    }

    /// The message of a commit (for a re-planned replay, which keeps it).
    pub fn message_of(&self, oid: Oid) -> Result<String> {
        Ok(self
            .repo
            .find_commit(oid)?
            .message_raw()
            .unwrap_or("")
            .to_string())
    }

    /// Files a tree diff changes by a hunk that `relevance` flags (a file whose
    /// new content it rules out is passed over without a line diff).
    fn touched_by(&self, changes: &[Change], relevance: &dyn Relevance) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for c in changes {
            // A submodule's entry names a commit, not a blob: nothing to read.
            let Some(new) = c.new.filter(|n| n.mode != git2::FileMode::Commit) else {
                continue;
            };
            let new_blob = self.repo.find_blob(new.id)?;
            if !relevance.may_hold(new_blob.content()) {
                continue;
            }
            // Both sides of a change have the same kind (a change of kind is a deletion
            // and an addition).
            let hit = match c.old {
                Some(old) => {
                    let old_blob = self.repo.find_blob(old.id)?;
                    let patch = git2::Patch::from_blobs(&old_blob, None, &new_blob, None, None)?;
                    flagged_hunk(&patch, relevance)?
                }
                None => true,
            };
            if hit {
                out.push(c.path.clone());
            }
        }
        Ok(out)
    }
}

/// The stage bits of an index entry's flags (0 for a resolved entry).
const INDEX_STAGE_MASK: u16 = 0x3000;

/// What replaying a commit onto a moved remote came to ([`Git::fetch_and_replay`]).
#[derive(Debug)]
pub struct Replay {
    /// The new remote head, with the user's other local commits replayed on it: the
    /// parent of the replayed commit.
    pub onto: Oid,
    /// The commit's changes merged three-way onto `onto`; a conflicting path keeps
    /// `onto`'s version.
    pub tree: Oid,
    /// The merged tree is `onto`'s: the remote has every change of the commit already.
    pub same_as_onto: bool,
    /// Paths where the merge conflicted: to be re-planned from `onto`.
    pub conflicts: Vec<PathBuf>,
    /// Paths the remote changed by adding a line that may make a reference of the run's:
    /// to be re-planned too.
    pub touched: Vec<PathBuf>,
    /// Paths whose merged version differs from `onto`'s.
    pub merged: Vec<PathBuf>,
}

/// Tells which changes of a moved remote may make or unmake a reference of the run's
/// (see [`Git::fetch_and_replay`]).
pub trait Relevance {
    /// Whether a file's new content may hold such a reference at all.
    fn may_hold(&self, content: &[u8]) -> bool;
    /// Whether a hunk may change one: `added` are its added lines, `lines` its new side
    /// (context and added lines).
    fn hunk(&self, added: &[&[u8]], lines: &[&[u8]]) -> bool;
}

/// Whether a hunk of `patch` is flagged by `relevance`. The lines are the patch's own
/// bytes (borrowed for as long as the patch lives), not copies.
fn flagged_hunk(patch: &git2::Patch<'_>, relevance: &dyn Relevance) -> Result<bool> {
    for h in 0..patch.num_hunks() {
        let (mut added, mut lines): (Vec<&[u8]>, Vec<&[u8]>) = (Vec::new(), Vec::new());
        for l in 0..patch.num_lines_in_hunk(h)? {
            let line = patch.line_in_hunk(h, l)?;
            match line.origin() {
                '+' => {
                    added.push(line.content());
                    lines.push(line.content());
                }
                ' ' => lines.push(line.content()),
                _ => {}
            }
        }
        if !added.is_empty() && relevance.hunk(&added, &lines) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The three-way merge of a replay in `repo`: the commit `ours` onto the commit `onto`;
/// `own_changes` and `remote` are the diffs from `ours`' parent to each. Paths that
/// conflict keep the remote's version and are re-planned.
fn merge_onto(
    repo: &git2::Repository,
    ours: Oid,
    onto: Oid,
    own_changes: &[Change],
    remote: &[Change],
) -> Result<Merged> {
    let commit = repo.find_commit(ours)?;
    let onto_commit = repo.find_commit(onto)?;
    let onto_tree = onto_commit.tree()?;
    if let Some(m) = crate::vcs::edit_merge::merge_edits(repo, own_changes, &onto_tree, remote)? {
        return Ok(m);
    }
    // No rename detection: a bump edits files in place, and finding renames across
    // a large tree costs more than the merge.
    let mut merge = git2::MergeOptions::new();
    merge.find_renames(false);
    let mut index = repo
        .cherrypick_commit(&commit, &onto_commit, 0, Some(&merge))
        .context("cannot merge the commit onto the new remote head")?;
    let mut conflicts = Vec::new();
    if index.has_conflicts() {
        let entries = index
            .conflicts()?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        for c in entries {
            let Some(any) = c.our.as_ref().or(c.their.as_ref()).or(c.ancestor.as_ref()) else {
                continue;
            };
            let path = PathBuf::from(std::ffi::OsStr::from_bytes(&any.path));
            // The conflicting path keeps the remote's version; it is re-planned.
            index.remove_path(&path)?;
            if let Some(mut ours_side) = c.our {
                ours_side.flags &= !INDEX_STAGE_MASK;
                index.add(&ours_side)?;
            }
            conflicts.push(path);
        }
    }
    let tree = index.write_tree_to(repo)?;
    Ok(Merged {
        tree,
        conflicts,
        merged: paths_between_trees(repo, &onto_tree, &repo.find_tree(tree)?)?,
    })
}

/// The paths whose entries differ between trees `a` and `b` of `repo`.
fn paths_between_trees(
    repo: &git2::Repository,
    a: &git2::Tree<'_>,
    b: &git2::Tree<'_>,
) -> Result<Vec<PathBuf>> {
    Ok(super::changed_paths(&tree_diff::between(repo, a, b)?))
}
