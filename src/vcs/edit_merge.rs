//! The three-way merge of a replay ([`super::git::Git::fetch_and_replay`]) for the commit a
//! bump makes: files edited in place, nothing added, removed or renamed. Cherry-picking it
//! with libgit2 builds three indexes of the whole tree (10,000 entries in the benchmark
//! repository) and writes every tree of the result again; racing bumps replay many times,
//! and that was most of a replay's cost. Here only the paths the commit changed are looked
//! at, with the same per-file rules as a cherry-pick (a file the remote left alone takes
//! the commit's version, one both changed is merged line by line with git's own file
//! merge, a conflict keeps the remote's version), and only the trees along those paths
//! are written. A commit of any other shape returns `None`, and the caller cherry-picks.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::Result;
use git2::build::TreeUpdateBuilder;
use git2::{FileMode, IndexEntry, IndexTime, Oid, Repository, Tree};

use crate::vcs::git::tree_diff::Change;

/// What merging a commit's edits onto another tree came to.
pub struct Merged {
    /// The merged tree.
    pub tree: Oid,
    /// Paths both sides changed in ways that do not merge: they keep `onto`'s version.
    pub conflicts: Vec<PathBuf>,
    /// Paths whose merged version differs from `onto`'s.
    pub merged: Vec<PathBuf>,
}

/// One file the commit edited: its path, mode and blob before and after.
struct Edit {
    path: PathBuf,
    mode: FileMode,
    before: Oid,
    after: Oid,
}

/// Apply the edits of `ours` (the commit's changes from `base`) onto `onto` (`None` when
/// the change is not only in-place edits of regular files). `remote` is the changes from
/// `base` to `onto`, which the caller also reads for other ends (which of the remote's
/// changes matter to the run). Both are plain paths, ids and modes, so they may have been
/// read on another handle on the repository than `repo`, where the merged objects are
/// written.
pub fn merge_edits(
    repo: &Repository,
    ours: &[Change],
    onto: &Tree<'_>,
    remote: &[Change],
) -> Result<Option<Merged>> {
    let Some(edits) = edits_of(ours) else {
        return Ok(None);
    };
    let remote = remote_changes(remote);
    let mut update = TreeUpdateBuilder::new();
    let (mut conflicts, mut merged) = (Vec::new(), Vec::new());
    for e in edits {
        let theirs = match remote.get(e.path.as_path()) {
            // The remote left the file alone.
            None => e.before,
            Some(Some((id, mode))) if *mode == e.mode => *id,
            // Removed, moved or retyped on the remote: nothing to merge with.
            Some(_) => {
                conflicts.push(e.path);
                continue;
            }
        };
        let result = if theirs == e.before {
            e.after
        } else if theirs == e.after {
            // The remote made the same edit.
            continue;
        } else {
            match merge_file(repo, &e, theirs)? {
                Some(blob) => blob,
                None => {
                    conflicts.push(e.path);
                    continue;
                }
            }
        };
        if result != theirs {
            update.upsert(e.path.as_os_str().as_bytes(), result, e.mode);
            merged.push(e.path);
        }
    }
    let tree = if merged.is_empty() {
        onto.id()
    } else {
        update.create_updated(repo, onto)?
    };
    Ok(Some(Merged {
        tree,
        conflicts,
        merged,
    }))
}

/// What the remote changed (`changes`: from `base` to `onto`), by path: the new blob and
/// mode, `None` where the path is gone. The tree comparison reads each tree along the
/// changed paths once; looking every edited path up in `onto` instead read the trees above it again for
/// each path (libgit2 caches no tree over 4 KiB: a directory of a thousand apps was
/// inflated and hash-checked 600 times per replay, half of a replay's time).
fn remote_changes(changes: &[Change]) -> HashMap<&Path, Option<(Oid, FileMode)>> {
    let mut out = HashMap::with_capacity(changes.len());
    for c in changes {
        // A change of kind comes as the deletion, then the addition.
        let entry = out.entry(c.path.as_path()).or_insert(None);
        if let Some(new) = c.new {
            *entry = Some((new.id, new.mode));
        }
    }
    out
}

/// The files `changes` edit, when every change is an edit of a regular file that keeps
/// its mode.
fn edits_of(changes: &[Change]) -> Option<Vec<Edit>> {
    changes
        .iter()
        .map(|c| {
            let (mode, before, after) = c.edit()?;
            Some(Edit {
                path: c.path.clone(),
                mode,
                before,
                after,
            })
        })
        .collect()
}

/// git's line merge of one file both sides edited: the merged blob, or `None` on a
/// conflict.
fn merge_file(repo: &Repository, e: &Edit, theirs: Oid) -> Result<Option<Oid>> {
    let entry = |id: Oid| entry_for(&e.path, e.mode, id);
    // `ours` in libgit2's terms is the side merged onto (the remote), as in a cherry-pick.
    let result =
        repo.merge_file_from_index(&entry(e.before), &entry(theirs), &entry(e.after), None)?;
    if !result.is_automergeable() {
        return Ok(None);
    }
    Ok(Some(repo.blob(result.content())?))
}

fn entry_for(path: &Path, mode: FileMode, id: Oid) -> IndexEntry {
    let zero = IndexTime::new(0, 0);
    IndexEntry {
        ctime: zero,
        mtime: zero,
        dev: 0,
        ino: 0,
        mode: u32::from(mode),
        uid: 0,
        gid: 0,
        file_size: 0,
        id,
        flags: 0,
        flags_extended: 0,
        path: path.as_os_str().as_bytes().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use git2::Signature;

    /// The remote's diff as a replay computes it.
    fn diff(repo: &Repository, base: &Tree<'_>, onto: &Tree<'_>) -> Vec<Change> {
        crate::vcs::git::tree_diff::between(repo, base, onto).unwrap()
    }

    /// A tree of `files` (path, content) written straight to the object database.
    fn tree<'r>(repo: &'r Repository, files: &[(&str, String)]) -> Tree<'r> {
        let empty = repo
            .find_tree(repo.treebuilder(None).unwrap().write().unwrap())
            .unwrap();
        let mut update = TreeUpdateBuilder::new();
        for (path, content) in files {
            let blob = repo.blob(content.as_bytes()).unwrap();
            update.upsert(*path, blob, FileMode::Blob);
        }
        repo.find_tree(update.create_updated(repo, &empty).unwrap())
            .unwrap()
    }

    fn commit<'r>(
        repo: &'r Repository,
        tree: &Tree<'_>,
        parent: Option<&git2::Commit<'_>>,
    ) -> git2::Commit<'r> {
        let sig = Signature::now("t", "t@example.com").unwrap();
        let parents: Vec<&git2::Commit<'_>> = parent.into_iter().collect();
        let id = repo.commit(None, &sig, &sig, "m", tree, &parents).unwrap();
        repo.find_commit(id).unwrap()
    }

    fn lines(n: usize, changed: &[(usize, &str)]) -> String {
        (0..n)
            .map(|i| match changed.iter().find(|(at, _)| *at == i) {
                Some((_, s)) => format!("{s}\n"),
                None => format!("line {i}\n"),
            })
            .collect()
    }

    /// The merge of a bump's edits gives the tree and the conflicts libgit2's cherry-pick
    /// gives: a file only the commit edited, one both edited far apart (merged), one both
    /// edited on the same line (conflict, the remote's version kept), one both edited the
    /// same way, one only the remote edited, one the remote removed.
    #[test]
    fn merging_the_edits_agrees_with_a_cherry_pick() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let base_files = |f: &dyn Fn(&str) -> String| -> Vec<(&'static str, String)> {
            [
                "a.yaml", "b/c.yaml", "b/d.yaml", "e.yaml", "f.yaml", "g/h.yaml", "z.yaml",
            ]
            .into_iter()
            .map(|p| (p, f(p)))
            .collect()
        };
        let base = tree(&repo, &base_files(&|_| lines(20, &[])));
        let ours = tree(
            &repo,
            &base_files(&|p| match p {
                "a.yaml" | "b/c.yaml" => lines(20, &[(1, "ours")]),
                "b/d.yaml" => lines(20, &[(5, "ours")]),
                "e.yaml" | "g/h.yaml" => lines(20, &[(7, "same")]),
                _ => lines(20, &[]),
            }),
        );
        let onto_files: Vec<(&str, String)> = base_files(&|p| match p {
            "b/c.yaml" => lines(20, &[(15, "theirs")]),
            "b/d.yaml" => lines(20, &[(5, "theirs")]),
            "e.yaml" => lines(20, &[(7, "same")]),
            "f.yaml" => lines(20, &[(3, "theirs")]),
            _ => lines(20, &[]),
        })
        .into_iter()
        .filter(|(p, _)| *p != "g/h.yaml")
        .collect();
        let onto = tree(&repo, &onto_files);

        let m = merge_edits(
            &repo,
            &diff(&repo, &base, &ours),
            &onto,
            &diff(&repo, &base, &onto),
        )
        .unwrap()
        .expect("edits only");
        let conflicts: Vec<String> = m
            .conflicts
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(conflicts, ["b/d.yaml", "g/h.yaml"]);
        let merged: Vec<String> = m.merged.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(merged, ["a.yaml", "b/c.yaml"]);

        let base_c = commit(&repo, &base, None);
        let ours_c = commit(&repo, &ours, Some(&base_c));
        let onto_c = commit(&repo, &onto, Some(&base_c));
        let mut index = repo.cherrypick_commit(&ours_c, &onto_c, 0, None).unwrap();
        let picked_conflicts: Vec<String> = index
            .conflicts()
            .unwrap()
            .map(|c| {
                let c = c.unwrap();
                let e = c.their.or(c.our).or(c.ancestor).unwrap();
                String::from_utf8(e.path).unwrap()
            })
            .collect();
        assert_eq!(picked_conflicts, conflicts);
        // Resolved as a replay resolves them (the remote's version, or none when removed),
        // the cherry-pick's tree is the merged tree.
        for path in &picked_conflicts {
            index.remove_path(Path::new(path)).unwrap();
            if let Ok(e) = onto.get_path(Path::new(path)) {
                index
                    .add(&entry_for(Path::new(path), FileMode::Blob, e.id()))
                    .unwrap();
            }
        }
        assert_eq!(index.write_tree_to(&repo).unwrap(), m.tree);
        let merged_c = repo.find_tree(m.tree).unwrap();
        let c = repo
            .find_blob(merged_c.get_path(Path::new("b/c.yaml")).unwrap().id())
            .unwrap();
        assert_eq!(
            std::str::from_utf8(c.content()).unwrap(),
            lines(20, &[(1, "ours"), (15, "theirs")])
        );
    }

    /// A commit that adds, removes or renames a file is not a bump's: cherry-picked.
    #[test]
    fn anything_but_edits_is_left_to_the_cherry_pick() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let base = tree(&repo, &[("a.yaml", "a\n".into())]);
        let added = tree(&repo, &[("a.yaml", "a\n".into()), ("b.yaml", "b\n".into())]);
        let none = diff(&repo, &base, &base);
        assert!(
            merge_edits(&repo, &diff(&repo, &base, &added), &base, &none)
                .unwrap()
                .is_none()
        );
        let none = diff(&repo, &added, &added);
        assert!(
            merge_edits(&repo, &diff(&repo, &added, &base), &added, &none)
                .unwrap()
                .is_none()
        );
    }
}
