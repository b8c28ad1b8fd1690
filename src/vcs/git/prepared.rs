//! A commit's objects made ahead of the commit, from the bytes a run is writing, while its
//! write batch waits for the disk (`fsio::Batch::commit_alongside`): the blobs (through the
//! file's git filters, as `git add` would store them), the trees over HEAD's, nothing else.
//! [`Git::commit_files`](super::Git::commit_files) then stages each file by its stat data
//! and prepared blob instead of reading, filtering, hashing and compressing it again, and
//! commits the prepared tree: the commit costs what is left once the disk is done.
//!
//! Only a shortcut: when anything differs from what was prepared (HEAD moved, other files,
//! a mode the index disagrees with), the commit is made from the work tree as always.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use git2::build::TreeUpdateBuilder;
use git2::{FileMode, Index, Oid, Repository};

use super::packed::{write_packed, Written};
use super::work_file::{index_entry, Filters};

/// Blobs and the tree of a commit of some files on top of HEAD, made before the files were
/// renamed into place.
#[derive(Debug)]
pub struct Prepared {
    /// HEAD's tree they were made on.
    base: Oid,
    /// HEAD's tree with every prepared file replaced.
    tree: Oid,
    /// Repository-relative path → (blob, mode).
    blobs: BTreeMap<PathBuf, (Oid, i32)>,
}

/// Make the objects for `files` (repository-relative path and the exact bytes being
/// written) on HEAD of the repository at `workdir`: a repository handle of its own, so it
/// may run on another thread than the run's.
pub fn prepare(workdir: &Path, files: &[(PathBuf, &[u8])]) -> Result<Prepared> {
    let repo = Repository::open(workdir).context("cannot open the repository")?;
    write_packed(repo, |repo| {
        let base = repo.head()?.peel_to_tree()?;
        let filters = Filters::of(repo);
        let mut update = TreeUpdateBuilder::new();
        let mut blobs = BTreeMap::new();
        for (rel, bytes) in files {
            // The mode the file has (its executable bit), as `git add` records it; the
            // commit compares it with the index before using it.
            let meta = std::fs::symlink_metadata(workdir.join(rel))
                .with_context(|| format!("cannot read the metadata of {}", rel.display()))?;
            let mode = if meta.mode() & 0o111 != 0 {
                FileMode::BlobExecutable
            } else {
                FileMode::Blob
            };
            let id = if filters.may_apply(repo, rel) {
                // The hint path selects the filters (`.gitattributes` eol, `core.autocrlf`).
                // libgit2's filtering writer goes through a temporary file per blob.
                let mut writer = repo.blob_writer(Some(rel))?;
                writer.write_all(bytes)?;
                writer.commit()?
            } else {
                repo.blob(bytes)?
            };
            update.upsert(rel.as_os_str().as_bytes(), id, mode);
            blobs.insert(rel.clone(), (id, i32::from(mode)));
        }
        let tree = update.create_updated(repo, &base)?;
        Ok(Written {
            value: Prepared {
                base: base.id(),
                tree,
                blobs,
            },
            tree,
            base: Some(base.id()),
        })
    })
}

impl Prepared {
    /// Stage `files` in `index` from the prepared blobs and the files' stat data, and
    /// give the prepared tree: `None` (the index untouched) unless `files` are exactly
    /// the prepared ones, made on `head_tree`, each in the index with the prepared mode.
    pub(super) fn stage(
        &self,
        workdir: &Path,
        index: &mut Index,
        head_tree: Oid,
        files: &[PathBuf],
    ) -> Result<Option<Oid>> {
        let same_files =
            files.len() == self.blobs.len() && files.iter().all(|f| self.blobs.contains_key(f));
        if self.base != head_tree || !same_files {
            return Ok(None);
        }
        let mut entries = Vec::with_capacity(files.len());
        for (rel, &(id, mode)) in &self.blobs {
            let indexed = index.get_path(rel, 0).map(|e| e.mode as i32);
            if indexed != Some(mode) {
                return Ok(None);
            }
            let meta = std::fs::symlink_metadata(workdir.join(rel))
                .with_context(|| format!("cannot read the metadata of {}", rel.display()))?;
            entries.push(index_entry(rel, id, mode, &meta));
        }
        for e in &entries {
            index.add(e)?;
        }
        Ok(Some(self.tree))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vcs::git::{Auth, Git, Identity};
    use std::os::unix::fs::PermissionsExt as _;

    use crate::vcs::git::git_cli as git;

    /// A repository whose files need git's filters (a CRLF file under `eol=crlf`) and
    /// keep an executable bit.
    fn seeded() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q"]);
        std::fs::write(root.join(".gitattributes"), "*.txt text eol=crlf\n").unwrap();
        std::fs::create_dir(root.join("apps")).unwrap();
        std::fs::write(root.join("apps/a.yaml"), "image: nginx:1\n").unwrap();
        std::fs::write(root.join("dos.txt"), "image: nginx:1\r\n").unwrap();
        std::fs::write(root.join("run.sh"), "#!/bin/sh\necho nginx:1\n").unwrap();
        std::fs::set_permissions(root.join("run.sh"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        git(root, &["add", "-A"]);
        git(root, &["commit", "-q", "-m", "seed"]);
        dir
    }

    fn new_files() -> Vec<(PathBuf, &'static [u8])> {
        [
            ("apps/a.yaml", "image: nginx:2\n"),
            ("dos.txt", "image: nginx:2\r\n"),
            ("run.sh", "#!/bin/sh\necho nginx:2\n"),
        ]
        .iter()
        .map(|(p, t)| (PathBuf::from(p), t.as_bytes()))
        .collect()
    }

    fn write(root: &Path, files: &[(PathBuf, &[u8])]) {
        for (rel, bytes) in files {
            std::fs::write(root.join(rel), bytes).unwrap();
        }
    }

    fn commit(root: &Path, prepared: Option<&Prepared>) -> Option<Oid> {
        let id = Identity {
            name: "t".into(),
            email: "t@example.com".into(),
        };
        let files: Vec<PathBuf> = new_files().into_iter().map(|(p, _)| p).collect();
        let repo = Git::discover(root, Auth::default()).unwrap();
        repo.commit_files(&files, "bump", (&id, &id), prepared)
            .unwrap()
    }

    #[test]
    fn prepared_objects_make_the_commit_git_add_would() {
        // Made before the files are written, as while a write batch syncs.
        let (with, without) = (seeded(), seeded());
        let prepared = prepare(with.path(), &new_files()).unwrap();
        write(with.path(), &new_files());
        write(without.path(), &new_files());
        commit(with.path(), Some(&prepared)).unwrap();
        commit(without.path(), None).unwrap();
        let tree = |d: &tempfile::TempDir| git(d.path(), &["rev-parse", "HEAD^{tree}"]);
        assert_eq!(tree(&with), tree(&without));
        assert_eq!(prepared.tree.to_string(), tree(&with).trim());
        // The clean filter ran (CRLF stored as LF), the executable bit is kept, and the
        // index holds the files' stat data: git sees nothing to commit.
        assert_eq!(
            git(with.path(), &["show", "HEAD:dos.txt"]),
            "image: nginx:2\n"
        );
        assert!(git(with.path(), &["ls-tree", "HEAD", "run.sh"]).starts_with("100755"));
        assert_eq!(git(with.path(), &["status", "--porcelain"]), "");
        assert_eq!(git(with.path(), &["diff", "--cached", "--stat"]), "");
    }

    #[test]
    fn autocrlf_is_applied_to_files_no_attribute_names() {
        // No .gitattributes at all: only `core.autocrlf` says that CRLF is stored as LF.
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q"]);
        git(root, &["config", "core.autocrlf", "input"]);
        std::fs::write(root.join("a.yaml"), "image: nginx:1\r\n").unwrap();
        git(root, &["add", "-A"]);
        git(root, &["commit", "-q", "-m", "seed"]);
        let files = vec![(PathBuf::from("a.yaml"), &b"image: nginx:2\r\n"[..])];
        let repo = Repository::open(root).unwrap();
        assert!(Filters::of(&repo).may_apply(&repo, Path::new("a.yaml")));
        let prepared = prepare(root, &files).unwrap();
        let blob = prepared.blobs[Path::new("a.yaml")].0;
        assert_eq!(
            git(root, &["cat-file", "blob", &blob.to_string()]),
            "image: nginx:2\n"
        );
        // Without the setting or an attribute, the bytes are the blob.
        git(root, &["config", "core.autocrlf", "false"]);
        let repo = Repository::open(root).unwrap();
        assert!(!Filters::of(&repo).may_apply(&repo, Path::new("a.yaml")));
    }

    #[test]
    fn prepared_objects_are_not_used_once_head_moved_or_for_other_files() {
        let dir = seeded();
        let root = dir.path();
        let prepared = prepare(root, &new_files()).unwrap();
        let repo = Repository::open(root).unwrap();
        let head_tree = repo.head().unwrap().peel_to_tree().unwrap().id();
        let mut index = repo.index().unwrap();
        let files: Vec<PathBuf> = new_files().into_iter().map(|(p, _)| p).collect();
        // Other files than prepared: not used, the index untouched.
        let fewer = stage_of(&prepared, root, &mut index, head_tree, &files[..2]);
        assert_eq!(fewer, None);
        // HEAD moved since: not used.
        std::fs::write(root.join("other.yaml"), "x: 1\n").unwrap();
        git(root, &["add", "other.yaml"]);
        git(root, &["commit", "-q", "-m", "moved"]);
        let moved = repo.head().unwrap().peel_to_tree().unwrap().id();
        let mut index = repo.index().unwrap();
        assert_eq!(stage_of(&prepared, root, &mut index, moved, &files), None);
        // The commit then stages from the work tree: the files as written.
        write(root, &new_files());
        commit(root, Some(&prepared)).unwrap();
        assert_eq!(git(root, &["show", "HEAD:apps/a.yaml"]), "image: nginx:2\n");
        assert_eq!(git(root, &["status", "--porcelain"]), "");
    }

    fn stage_of(
        p: &Prepared,
        root: &Path,
        index: &mut Index,
        head_tree: Oid,
        files: &[PathBuf],
    ) -> Option<Oid> {
        let ids = |index: &Index| -> Vec<Option<Oid>> {
            files
                .iter()
                .map(|f| index.get_path(f, 0).map(|e| e.id))
                .collect()
        };
        let before = ids(index);
        let staged = p.stage(root, index, head_tree, files).unwrap();
        if staged.is_none() {
            assert_eq!(ids(index), before, "the index was changed all the same");
        }
        staged
    }
}
