//! Objects between two repositories on this machine: what a fetch from a local remote
//! brings over. Building and indexing a pack for a remote on the same disk costs far more
//! than linking what is already there, so packs are hard-linked and loose objects linked or
//! copied one by one.
//!
//! Every object path here starts at a repository's common directory: a linked work tree's
//! own git directory holds only its HEAD, index and logs, and nothing reads objects there.

use std::path::Path;

use anyhow::Result;
use git2::{Oid, Repository};

/// Copy the objects reachable from `tip` that `to` lacks, stopping at commits `to`
/// already has (`have` hides history both sides share). Loose objects, no deltas: for
/// repositories on the same machine this is much cheaper than building a pack.
///
/// Every parent of a copied commit is in `to` already (hidden, or copied just before), so
/// only the entries of its tree that differ from its first parent's need to go: no
/// existence checks per object (each miss would make libgit2 rescan the pack directory).
pub(super) fn copy_objects(
    from: &Repository,
    to: &Repository,
    tip: Oid,
    have: &[Oid],
) -> Result<()> {
    let sink = ObjectSink {
        from,
        to,
        src: from.odb()?,
        dst: to.odb()?,
    };
    // A commit `to` has comes with everything it reaches (each is written after its tree
    // and parents): nothing to link or copy.
    if sink.dst.exists(tip) {
        return Ok(());
    }
    if link_packs(from, to) {
        sink.dst.refresh()?;
    }
    let mut walk = from.revwalk()?;
    walk.push(tip)?;
    for h in have {
        if sink.src.exists(*h) {
            walk.hide(*h)?;
        }
    }
    let commits: Vec<Oid> = walk.collect::<std::result::Result<_, _>>()?;
    // Oldest first, each commit after its tree, so a reader never meets a dangling link.
    for c in commits.into_iter().rev() {
        if sink.dst.exists(c) {
            continue;
        }
        let commit = from.find_commit(c)?;
        let base = commit.parents().next().map(|p| p.tree_id());
        let mut ids = Vec::new();
        tree_changes(from, commit.tree_id(), base, &mut ids)?;
        for id in ids {
            sink.copy(id)?;
        }
        sink.copy(c)?;
    }
    Ok(())
}

/// Hard-link the packs of `from` that `to` lacks (by name) into `to`, as
/// `git clone --local` does: a pack and its index are immutable, and the objects a remote
/// received by push are in the pack receive-pack kept (a 600-file bump: 3,000 objects,
/// otherwise read, compressed and written one file each). The pack is linked before its
/// index, so a reader never finds an index without its pack. Whether any was linked; a
/// pack that cannot be linked (another filesystem) is left to the object copy.
fn link_packs(from: &Repository, to: &Repository) -> bool {
    let (src, dst) = (
        from.commondir().join("objects/pack"),
        to.commondir().join("objects/pack"),
    );
    let Ok(entries) = std::fs::read_dir(&src) else {
        return false;
    };
    let mut linked = false;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".idx")) else {
            continue;
        };
        if dst.join(format!("{stem}.idx")).exists() || !src.join(format!("{stem}.pack")).is_file() {
            continue;
        }
        let link = |ext: &str| {
            let (a, b) = (
                src.join(format!("{stem}.{ext}")),
                dst.join(format!("{stem}.{ext}")),
            );
            match std::fs::hard_link(&a, &b) {
                Ok(()) => true,
                Err(e) => e.kind() == std::io::ErrorKind::AlreadyExists,
            }
        };
        if !link("pack") {
            continue;
        }
        if src.join(format!("{stem}.rev")).is_file() && !link("rev") {
            let _ = std::fs::remove_file(dst.join(format!("{stem}.pack")));
            continue;
        }
        if link("idx") {
            linked = true;
        } else {
            let _ = std::fs::remove_file(dst.join(format!("{stem}.rev")));
            let _ = std::fs::remove_file(dst.join(format!("{stem}.pack")));
        }
    }
    linked
}

/// Push `tree` and everything under it that differs from `base` (path by path) onto `ids`,
/// each tree after what it holds: the objects a commit of `tree` on `base` adds, in an
/// order in which no object is stored before what it names.
pub(super) fn tree_changes(
    repo: &Repository,
    tree: Oid,
    base: Option<Oid>,
    ids: &mut Vec<Oid>,
) -> Result<()> {
    if base == Some(tree) {
        return Ok(());
    }
    let new = repo.find_tree(tree)?;
    let old = match base {
        Some(b) => Some(repo.find_tree(b)?),
        None => None,
    };
    for entry in new.iter() {
        let before = old
            .as_ref()
            .and_then(|o| o.get_name_bytes(entry.name_bytes()))
            .map(|e| (e.id(), e.kind()));
        if before.is_some_and(|(id, _)| id == entry.id()) {
            continue;
        }
        match entry.kind() {
            Some(git2::ObjectType::Tree) => {
                let base = before
                    .filter(|(_, kind)| *kind == Some(git2::ObjectType::Tree))
                    .map(|(id, _)| id);
                tree_changes(repo, entry.id(), base, ids)?;
            }
            Some(git2::ObjectType::Blob) => ids.push(entry.id()),
            // A submodule's commit lives in the submodule.
            _ => {}
        }
    }
    ids.push(tree);
    Ok(())
}

/// Writes objects of one repository into another on the same machine.
struct ObjectSink<'r> {
    from: &'r Repository,
    to: &'r Repository,
    src: git2::Odb<'r>,
    dst: git2::Odb<'r>,
}

impl ObjectSink<'_> {
    /// A loose object is hard-linked (as `git clone --local` does: loose objects are
    /// immutable and written by rename, so a link never sees a partial file); a packed
    /// one, or one a link cannot reach (another filesystem), is read and written.
    fn copy(&self, id: Oid) -> Result<()> {
        let hex = id.to_string();
        let rel = Path::new("objects").join(&hex[..2]).join(&hex[2..]);
        let loose = self.from.commondir().join(&rel);
        if loose.is_file() {
            let target = self.to.commondir().join(&rel);
            if target.exists() {
                return Ok(());
            }
            if let Some(dir) = target.parent() {
                std::fs::create_dir_all(dir)?;
            }
            match std::fs::hard_link(&loose, &target) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
                Err(_) => {}
            }
        }
        let o = self.src.read(id)?;
        self.dst.write(o.kind(), o.data())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vcs::git::git_cli as git;

    #[test]
    fn objects_reach_a_linked_work_tree_through_its_common_directory() {
        let dir = tempfile::tempdir().unwrap();
        let (remote, clone) = (dir.path().join("remote"), dir.path().join("clone"));
        std::fs::create_dir(&remote).unwrap();
        git(&remote, &["init", "-q", "-b", "main"]);
        std::fs::write(remote.join("a.yaml"), "image: nginx:1\n").unwrap();
        git(&remote, &["add", "-A"]);
        git(&remote, &["commit", "-q", "-m", "seed"]);
        git(
            dir.path(),
            &["clone", "-q", remote.to_str().unwrap(), "clone"],
        );
        let linked = dir.path().join("linked");
        git(
            &clone,
            &[
                "worktree",
                "add",
                "-q",
                "-b",
                "side",
                linked.to_str().unwrap(),
            ],
        );
        // The remote moves by a commit of loose objects and one in a pack of its own.
        std::fs::write(remote.join("a.yaml"), "image: nginx:2\n").unwrap();
        git(&remote, &["commit", "-q", "-am", "loose"]);
        git(&remote, &["repack", "-q"]);
        std::fs::write(remote.join("b.yaml"), "image: redis:7\n").unwrap();
        git(&remote, &["add", "-A"]);
        git(&remote, &["commit", "-q", "-m", "loose again"]);
        let tip = git(&remote, &["rev-parse", "HEAD"]);
        let (from, to) = (
            Repository::open(&remote).unwrap(),
            Repository::open(&linked).unwrap(),
        );
        let seed = to.head().unwrap().target().unwrap();
        copy_objects(&from, &to, Oid::from_str(tip.trim()).unwrap(), &[seed]).unwrap();
        // The linked tree's repository, and git itself from the main clone, have them.
        assert!(to.find_commit(Oid::from_str(tip.trim()).unwrap()).is_ok());
        assert_eq!(
            git(&clone, &["show", &format!("{}:b.yaml", tip.trim())]),
            "image: redis:7\n"
        );
        git(&clone, &["fsck", "--strict", "--no-dangling"]);
    }
}
