//! Checking out the files a commit edits by writing the new bytes over the old ones.
//!
//! After a lost race a bump's clone moves onto the commit that landed, which brings in the
//! files of every other bump (thousands after an eight-way race). libgit2's check-out
//! truncates each file and writes it again; on ext4 closing a file that was truncated to
//! zero starts its write-back there and then (`auto_da_alloc`: `ext4_release_file` →
//! `filemap_fdatawrite` was 44% of libgit2's file writes in a profiled race), and
//! removing and creating it instead costs a new inode. Writing over the old bytes and then
//! setting the length does neither: 2,000 files of 1.5 KB took 0.36 s truncated or
//! recreated, 0.03 s overwritten. A crash part way leaves a file half written, as a
//! truncating check-out does; the branch moves only afterwards.
//!
//! Only where it is as safe as libgit2's safe check-out: an edit of a regular file that
//! keeps its mode, whose index entry is HEAD's blob and whose file is the one the entry
//! describes (same stat data, written before the index was: not racily clean), with no
//! git filter for the path. Every other change is left to libgit2.

use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use git2::{FileMode, Index, IndexEntry, IndexEntryExtendedFlag, IndexEntryFlag, Oid, Repository};

use super::tree_diff::Change;
use super::work_file::{index_entry, Filters};

/// Write the files `changes` (HEAD's tree → the tree checked out) edit where that is safe
/// (see the module doc) and stage them; the paths of every other change are returned, for
/// libgit2's check-out. When a write fails, what was written is staged and the error
/// returned.
pub(super) fn overwrite_edits(repo: &Repository, changes: &[Change]) -> Result<Vec<PathBuf>> {
    let mut rest = Vec::new();
    let (Some(workdir), Ok(mut index)) = (repo.workdir(), repo.index()) else {
        return Ok(super::changed_paths(changes));
    };
    // As libgit2's check-out does: the index as on disk now, if another process wrote it.
    index.read(false).context("cannot read the index")?;
    let Some(written) = index.path().and_then(|p| std::fs::metadata(p).ok()) else {
        return Ok(super::changed_paths(changes));
    };
    let index_written = (written.mtime(), written.mtime_nsec());
    let filters = Filters::of(repo);
    let mut staged = 0usize;
    let mut failed = None;
    for change in changes {
        let path = change.path.as_path();
        let edit = change
            .edit()
            .filter(|&edit| plain_edit(edit, &index, workdir, path, index_written))
            .filter(|_| !filters.may_apply(repo, path));
        let Some((mode, _, after)) = edit.filter(|_| failed.is_none()) else {
            if rest.last() != Some(&change.path) {
                rest.push(change.path.clone());
            }
            continue;
        };
        match overwrite(repo, workdir, path, mode, after) {
            Ok(entry) => {
                index.add(&entry)?;
                staged += 1;
            }
            Err(e) => failed = Some(e),
        }
    }
    if staged > 0 {
        index.write().context("cannot write the index")?;
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(rest),
    }
}

/// Whether the edit of the regular file at `path` (its mode, blob before and after)
/// finds the index and the file on disk as HEAD has them.
fn plain_edit(
    (mode, before, _): (FileMode, Oid, Oid),
    index: &Index,
    workdir: &Path,
    path: &Path,
    index_written: (i64, i64),
) -> bool {
    let Some(entry) = index.get_path(path, 0) else {
        return false;
    };
    if entry.id != before || entry.mode != u32::from(mode) {
        return false;
    }
    // Entries git is told not to look at (`update-index --assume-unchanged`, sparse
    // check-outs' skip-worktree): their files are not known to be HEAD's.
    let assumed = entry.flags & IndexEntryFlag::VALID.bits() != 0;
    let skipped = entry.flags_extended & IndexEntryExtendedFlag::SKIP_WORKTREE.bits() != 0;
    if assumed || skipped {
        return false;
    }
    let Ok(meta) = std::fs::symlink_metadata(workdir.join(path)) else {
        return false;
    };
    let executable = meta.mode() & 0o111 != 0;
    meta.file_type().is_file()
        && executable == (mode == FileMode::BlobExecutable)
        && same_stat(&entry, &meta)
        && (
            entry.mtime.seconds() as i64,
            entry.mtime.nanoseconds() as i64,
        ) < index_written
}

/// Whether the file is the one `entry` describes, by the stat data git compares (the
/// index keeps 32 bits of each).
fn same_stat(entry: &IndexEntry, meta: &std::fs::Metadata) -> bool {
    entry.file_size == meta.size() as u32
        && entry.ino == meta.ino() as u32
        && entry.mtime.seconds() == meta.mtime() as i32
        && entry.mtime.nanoseconds() == meta.mtime_nsec() as u32
        && entry.ctime.seconds() == meta.ctime() as i32
        && entry.ctime.nanoseconds() == meta.ctime_nsec() as u32
}

/// Write the blob `id` over the file at `path` and give its index entry.
fn overwrite(
    repo: &Repository,
    workdir: &Path,
    path: &Path,
    mode: FileMode,
    id: Oid,
) -> Result<IndexEntry> {
    let blob = repo.find_blob(id)?;
    let full = workdir.join(path);
    let what = || format!("cannot write {}", full.display());
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&full)
        .with_context(what)?;
    file.write_all(blob.content()).with_context(what)?;
    file.set_len(blob.content().len() as u64)
        .with_context(what)?;
    let meta = file.metadata().with_context(what)?;
    Ok(index_entry(path, id, u32::from(mode) as i32, &meta))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vcs::git::git_cli as git;

    fn write(root: &Path, files: &[(&str, &str)]) {
        for (path, text) in files {
            std::fs::write(root.join(path), text).unwrap();
        }
    }

    #[test]
    fn plain_edits_are_overwritten_and_staged_every_other_change_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q"]);
        write(
            root,
            &[
                (".gitattributes", "*.txt text eol=crlf\n"),
                ("plain.yaml", "image: nginx:1.27.0-with-a-long-tag\n"),
                ("mine.yaml", "image: alpine:1\n"),
                ("dos.txt", "image: redis:1\r\n"),
                ("gone.yaml", "x: 1\n"),
                ("assumed.yaml", "image: busybox:1\n"),
            ],
        );
        git(root, &["add", "-A"]);
        git(root, &["commit", "-q", "-m", "seed"]);
        // The tree checked out: an edit of each file (a shorter one first), one added,
        // one removed.
        write(
            root,
            &[
                ("plain.yaml", "image: nginx:2\n"),
                ("mine.yaml", "image: alpine:2\n"),
                ("dos.txt", "image: redis:2\r\n"),
                ("new.yaml", "y: 1\n"),
                ("assumed.yaml", "image: busybox:2\n"),
            ],
        );
        std::fs::remove_file(root.join("gone.yaml")).unwrap();
        git(root, &["add", "-A"]);
        git(root, &["commit", "-q", "-m", "next"]);
        let next = git(root, &["rev-parse", "HEAD"]).trim().to_string();
        git(root, &["reset", "-q", "--hard", "HEAD~1"]);
        // Files older than the index, as after a clone (else they are racily clean and
        // left to libgit2, which compares their content).
        let old = [
            "plain.yaml",
            "mine.yaml",
            "dos.txt",
            "gone.yaml",
            "assumed.yaml",
        ];
        let touched = std::process::Command::new("touch")
            .args(["-d", "2020-01-01"])
            .args(old)
            .current_dir(root)
            .status()
            .unwrap();
        assert!(touched.success());
        git(root, &["update-index", "-q", "--refresh"]);
        // A file git is told not to look at.
        git(
            root,
            &["update-index", "--assume-unchanged", "assumed.yaml"],
        );
        // The user's own edit, which nothing may overwrite.
        write(root, &[("mine.yaml", "image: alpine:local\n")]);

        let repo = Repository::open(root).unwrap();
        let head = repo.head().unwrap().peel_to_tree().unwrap();
        let next_tree = repo
            .find_commit(git2::Oid::from_str(&next).unwrap())
            .unwrap()
            .tree()
            .unwrap();
        let changes = super::super::tree_diff::between(&repo, &head, &next_tree).unwrap();
        let mut rest = overwrite_edits(&repo, &changes).unwrap();
        rest.sort();
        let rest: Vec<String> = rest.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(
            rest,
            [
                "assumed.yaml",
                "dos.txt",
                "gone.yaml",
                "mine.yaml",
                "new.yaml"
            ]
        );
        // Overwritten, the old tail cut; the user's edit kept.
        let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
        assert_eq!(read("plain.yaml"), "image: nginx:2\n");
        assert_eq!(read("mine.yaml"), "image: alpine:local\n");
        // git sees plain.yaml staged with the new blob and its file matching the index.
        assert_eq!(
            git(root, &["diff", "--cached", "--name-only"]),
            "plain.yaml\n"
        );
        assert_eq!(git(root, &["diff", "--name-only"]), "mine.yaml\n");
        assert_eq!(
            git(root, &["rev-parse", ":plain.yaml"]),
            git(root, &["rev-parse", &format!("{next}:plain.yaml")])
        );
    }
}
