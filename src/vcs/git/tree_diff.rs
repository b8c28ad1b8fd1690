//! What changed between two trees, path by path, reading only the trees that differ.
//!
//! libgit2's tree-to-tree diff walks every entry of both trees, the subtrees both sides
//! share included: 20,000 entries for the benchmark repository's 10,000 files, on every
//! replay of a race and every check-out, where a bump changes a few hundred files. Here
//! a subtree with the same id on both sides is passed over whole. The changes are the
//! ones libgit2's diff reports without type-change or rename detection: an entry that
//! changes kind (file, symlink, submodule, directory) is a deletion and an addition.

use std::cmp::Ordering;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use anyhow::Result;
use git2::{FileMode, ObjectType, Oid, Repository, Tree, TreeEntry};

/// One side of a [`Change`]: the entry's object and mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Side {
    pub id: Oid,
    pub mode: FileMode,
}

/// A path whose entry differs between the two trees: `old` is `None` for an addition,
/// `new` for a deletion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub path: PathBuf,
    pub old: Option<Side>,
    pub new: Option<Side>,
}

impl Change {
    fn removed(path: PathBuf, old: Side) -> Change {
        Change {
            path,
            old: Some(old),
            new: None,
        }
    }

    fn added(path: PathBuf, new: Side) -> Change {
        Change {
            path,
            old: None,
            new: Some(new),
        }
    }

    /// The change as an edit of a regular file that keeps its mode: (mode, before, after).
    pub fn edit(&self) -> Option<(FileMode, Oid, Oid)> {
        match (self.old, self.new) {
            (Some(old), Some(new)) if old.mode == new.mode && is_regular(new.mode) => {
                Some((new.mode, old.id, new.id))
            }
            _ => None,
        }
    }
}

/// Whether `mode` is a regular file's (executable or not).
pub fn is_regular(mode: FileMode) -> bool {
    matches!(mode, FileMode::Blob | FileMode::BlobExecutable)
}

/// The changes from `old` to `new`, sorted by path.
pub fn between(repo: &Repository, old: &Tree<'_>, new: &Tree<'_>) -> Result<Vec<Change>> {
    let mut out = Vec::new();
    if old.id() != new.id() {
        compare(repo, &PathBuf::new(), Some(old), Some(new), &mut out)?;
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Push the changes under `dir` from `old` to `new` (either absent: everything under the
/// other is added or deleted) onto `out`.
fn compare(
    repo: &Repository,
    dir: &Path,
    old: Option<&Tree<'_>>,
    new: Option<&Tree<'_>>,
    out: &mut Vec<Change>,
) -> Result<()> {
    let mut olds = old.into_iter().flat_map(Tree::iter).peekable();
    let mut news = new.into_iter().flat_map(Tree::iter).peekable();
    loop {
        let order = match (olds.peek(), news.peek()) {
            (None, None) => return Ok(()),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(o), Some(n)) => tree_order(o, n),
        };
        match order {
            Ordering::Less => {
                let o = olds.next().expect("peeked");
                one_side(repo, dir, &o, true, out)?;
            }
            Ordering::Greater => {
                let n = news.next().expect("peeked");
                one_side(repo, dir, &n, false, out)?;
            }
            Ordering::Equal => {
                let (o, n) = (olds.next().expect("peeked"), news.next().expect("peeked"));
                let (old_side, new_side) = (side(&o), side(&n));
                if old_side == new_side {
                    continue;
                }
                let path = dir.join(std::ffi::OsStr::from_bytes(o.name_bytes()));
                if o.kind() == Some(ObjectType::Tree) {
                    // Both are trees: the same name sorts as a tree on one side only.
                    let (a, b) = (repo.find_tree(o.id())?, repo.find_tree(n.id())?);
                    compare(repo, &path, Some(&a), Some(&b), out)?;
                } else if kind(old_side.mode) == kind(new_side.mode) {
                    out.push(Change {
                        path,
                        old: Some(old_side),
                        new: Some(new_side),
                    });
                } else {
                    out.push(Change::removed(path.clone(), old_side));
                    out.push(Change::added(path, new_side));
                }
            }
        }
    }
}

/// An entry only one side has (`old`: the old side's), with everything under it.
fn one_side(
    repo: &Repository,
    dir: &Path,
    entry: &TreeEntry<'_>,
    old: bool,
    out: &mut Vec<Change>,
) -> Result<()> {
    let path = dir.join(std::ffi::OsStr::from_bytes(entry.name_bytes()));
    if entry.kind() == Some(ObjectType::Tree) {
        let tree = repo.find_tree(entry.id())?;
        let (before, after) = if old {
            (Some(&tree), None)
        } else {
            (None, Some(&tree))
        };
        return compare(repo, &path, before, after, out);
    }
    out.push(if old {
        Change::removed(path, side(entry))
    } else {
        Change::added(path, side(entry))
    });
    Ok(())
}

fn side(entry: &TreeEntry<'_>) -> Side {
    Side {
        id: entry.id(),
        mode: mode_of(entry.filemode()),
    }
}

/// The [`FileMode`] of a tree entry's raw mode (libgit2 normalises them when it reads a
/// tree, so these are all it hands out).
fn mode_of(raw: i32) -> FileMode {
    match raw {
        0o040000 => FileMode::Tree,
        0o100755 => FileMode::BlobExecutable,
        0o100664 => FileMode::BlobGroupWritable,
        0o120000 => FileMode::Link,
        0o160000 => FileMode::Commit,
        0o100644 => FileMode::Blob,
        _ => FileMode::Unreadable,
    }
}

/// The kind of entry a mode makes (the format bits): regular file, symlink, submodule.
fn kind(mode: FileMode) -> u32 {
    u32::from(mode) & 0o170000
}

/// git's order of tree entries: by name, a tree's as if it ended in `/`.
fn tree_order(a: &TreeEntry<'_>, b: &TreeEntry<'_>) -> Ordering {
    let slash = |e: &TreeEntry<'_>| -> &'static [u8] {
        if e.kind() == Some(ObjectType::Tree) {
            b"/"
        } else {
            b""
        }
    };
    (a.name_bytes().iter().chain(slash(a))).cmp(b.name_bytes().iter().chain(slash(b)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use git2::build::TreeUpdateBuilder;

    /// A tree of `entries` (path, mode, content; a submodule's content is its commit id).
    fn tree<'r>(repo: &'r Repository, entries: &[(&str, FileMode, &str)]) -> Tree<'r> {
        let empty = repo
            .find_tree(repo.treebuilder(None).unwrap().write().unwrap())
            .unwrap();
        let mut update = TreeUpdateBuilder::new();
        for (path, mode, content) in entries {
            let id = if *mode == FileMode::Commit {
                Oid::from_str(content).unwrap()
            } else {
                repo.blob(content.as_bytes()).unwrap()
            };
            update.upsert(*path, id, *mode);
        }
        repo.find_tree(update.create_updated(repo, &empty).unwrap())
            .unwrap()
    }

    /// libgit2's tree-to-tree diff, as (path, old side, new side), sorted by path.
    fn libgit2(repo: &Repository, old: &Tree<'_>, new: &Tree<'_>) -> Vec<Change> {
        let diff = repo.diff_tree_to_tree(Some(old), Some(new), None).unwrap();
        let side = |f: git2::DiffFile<'_>| {
            (!f.id().is_zero()).then(|| Side {
                id: f.id(),
                mode: f.mode(),
            })
        };
        let mut out: Vec<Change> = diff
            .deltas()
            .map(|d| Change {
                path: d
                    .new_file()
                    .path()
                    .or(d.old_file().path())
                    .unwrap()
                    .to_path_buf(),
                old: side(d.old_file()),
                new: side(d.new_file()),
            })
            .collect();
        // Stable: a deletion before the addition of the same path, as here.
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out
    }

    #[test]
    fn changes_are_libgit2s_without_reading_shared_subtrees() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let (b, x, l, c) = (
            FileMode::Blob,
            FileMode::BlobExecutable,
            FileMode::Link,
            FileMode::Commit,
        );
        let sub = "0123456789012345678901234567890123456789";
        let other = "1123456789012345678901234567890123456789";
        let old = tree(
            &repo,
            &[
                ("same/deep/a.yaml", b, "a"),
                ("apps/one/values.yaml", b, "tag: 1"),
                ("apps/two/values.yaml", b, "tag: 2"),
                ("apps/two/run.sh", b, "run"),
                ("gone/x.yaml", b, "x"),
                ("gone/deeper/y.yaml", b, "y"),
                ("file-then-dir", b, "f"),
                ("dir-then-file/z.yaml", b, "z"),
                ("link", l, "target"),
                ("link-then-file", l, "target"),
                ("module", c, sub),
                ("a.b", b, "dot"),
                ("a/c.yaml", b, "slash"),
            ],
        );
        let new = tree(
            &repo,
            &[
                ("same/deep/a.yaml", b, "a"),
                ("apps/one/values.yaml", b, "tag: 9"),
                ("apps/two/values.yaml", b, "tag: 2"),
                ("apps/two/run.sh", x, "run"),
                ("apps/three/values.yaml", b, "new"),
                ("file-then-dir/inner.yaml", b, "i"),
                ("dir-then-file", b, "now a file"),
                ("link", l, "elsewhere"),
                ("link-then-file", b, "target"),
                ("module", c, other),
                ("a.b", b, "dot2"),
                ("a/c.yaml", b, "slash2"),
            ],
        );
        let ours = between(&repo, &old, &new).unwrap();
        assert_eq!(ours, libgit2(&repo, &old, &new));
        assert_eq!(
            between(&repo, &new, &old).unwrap(),
            libgit2(&repo, &new, &old)
        );
        // Spot checks of what that covers: an edit, a mode change, a change of kind.
        let at = |p: &str| ours.iter().filter(|c| c.path == Path::new(p)).count();
        assert_eq!(at("apps/one/values.yaml"), 1);
        assert_eq!(at("apps/two/run.sh"), 1);
        assert_eq!(at("link-then-file"), 2);
        assert_eq!(at("same/deep/a.yaml") + at("apps/two/values.yaml"), 0);
        let edit = ours
            .iter()
            .find(|c| c.path == Path::new("apps/one/values.yaml"))
            .unwrap();
        assert_eq!(edit.edit().map(|e| e.0), Some(FileMode::Blob));
        assert!(between(&repo, &old, &old).unwrap().is_empty());

        // A subtree both sides share is not read: here it is missing from the object
        // database, and the diff still succeeds.
        let missing = Oid::from_str("2123456789012345678901234567890123456789").unwrap();
        let with_missing = |content: &str| {
            // Written raw: libgit2's builders refuse an entry whose object is missing.
            let blob = repo.blob(content.as_bytes()).unwrap();
            let mut raw = b"40000 shared\0".to_vec();
            raw.extend_from_slice(missing.as_bytes());
            raw.extend_from_slice(b"100644 top.yaml\0");
            raw.extend_from_slice(blob.as_bytes());
            let id = repo.odb().unwrap().write(ObjectType::Tree, &raw).unwrap();
            repo.find_tree(id).unwrap()
        };
        let (one, two) = (with_missing("1"), with_missing("2"));
        let changes = between(&repo, &one, &two).unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].path, Path::new("top.yaml"));
    }
}
