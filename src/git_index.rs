//! The entries of a work tree's git index, read straight from `.git/index`.
//!
//! Why not libgit2: starting libgit2 initializes OpenSSL and loads the system's CA bundle
//! (16 ms of CPU on every `check` of a repository, measured on the bench tree, where the
//! index itself takes 2 ms to read), and a run that only asks which files are tracked
//! never opens a connection. The format is git's own, documented in
//! `Documentation/gitformat-index.txt`: versions 2, 3 and 4, SHA-1 object ids. Whatever
//! this reader does not handle (a `.git` file of a linked work tree or submodule,
//! `core.worktree`, a bare or SHA-256 repository, a config that includes others, a split
//! or sparse index, an index that does not parse) is read by libgit2, as before.

use std::path::{Path, PathBuf};

/// One entry of the index: its path (as git stores it, `/`-separated) and its mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: Vec<u8>,
    pub mode: u32,
}

/// The nearest directory holding `start` (canonical) that has a `.git`: where an index
/// may be. Cheap (a few `lstat`s): libgit2 is started only when this finds one.
pub fn work_tree_of(start: &Path) -> Option<PathBuf> {
    let start = start.canonicalize().ok()?;
    start
        .ancestors()
        .find(|dir| std::fs::symlink_metadata(dir.join(".git")).is_ok())
        .map(Path::to_path_buf)
}

/// The work tree holding `start` (canonical) and its index's entries, in the index's
/// order: read here when this reader handles the repository, else by libgit2; `None`
/// when no repository or index is found.
pub fn entries(start: &Path) -> Option<(PathBuf, Vec<Entry>)> {
    let workdir = work_tree_of(start)?;
    read(&workdir).or_else(|| by_libgit2(start))
}

/// [`entries`] read straight from `.git/index` in `workdir`; `None` for what this reader
/// leaves to libgit2.
fn read(workdir: &Path) -> Option<(PathBuf, Vec<Entry>)> {
    let git = workdir.join(".git");
    if !std::fs::symlink_metadata(&git).ok()?.is_dir() || !git.join("HEAD").is_file() {
        return None;
    }
    let config = std::fs::read(git.join("config")).ok()?;
    if !plain_config(&config) {
        return None;
    }
    let index = match std::fs::read(git.join("index")) {
        Ok(bytes) => bytes,
        // A repository without an index yet (nothing added): no entries.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(_) => return None,
    };
    let entries = if index.is_empty() {
        Vec::new()
    } else {
        parse(&index)?
    };
    Some((workdir.to_path_buf(), entries))
}

/// [`entries`] by libgit2.
fn by_libgit2(start: &Path) -> Option<(PathBuf, Vec<Entry>)> {
    let repo = git2::Repository::discover(start).ok()?;
    let (Some(workdir), Ok(index)) = (repo.workdir(), repo.index()) else {
        return None;
    };
    let workdir = workdir.canonicalize().ok()?;
    let entries = index
        .iter()
        .map(|e| Entry {
            path: e.path,
            mode: e.mode,
        })
        .collect();
    Some((workdir, entries))
}

/// A repository config that cannot move the work tree, make the repository bare, change
/// the object format or pull in other files: anything that mentions those is left to
/// libgit2 (a mention in a comment only costs the fast path).
fn plain_config(config: &[u8]) -> bool {
    let text = String::from_utf8_lossy(config).to_ascii_lowercase();
    let bare = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .any(|(k, v)| k.trim() == "bare" && v.trim() != "false");
    !bare
        && !["worktree", "objectformat", "include"]
            .iter()
            .any(|w| text.contains(w))
}

/// The SHA-1 object id's length, in the entries and the trailing checksum.
const ID_LEN: usize = 20;
/// The fixed part of an entry: ten 32-bit stat and mode fields, the id, the flags.
const ENTRY_FIXED: usize = 40 + ID_LEN + 2;
const FLAG_EXTENDED: u16 = 0x4000;

/// The entries of an index file, or `None` when it is not one this reader handles.
fn parse(bytes: &[u8]) -> Option<Vec<Entry>> {
    let be32 = |at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    if bytes.get(..4)? != b"DIRC" {
        return None;
    }
    let version = be32(4)?;
    if !(2..=4).contains(&version) {
        return None;
    }
    let count = usize::try_from(be32(8)?).ok()?;
    let end = bytes.len().checked_sub(ID_LEN)?;
    let mut entries = Vec::with_capacity(count.min(end / ENTRY_FIXED));
    let mut pos = 12;
    let mut previous: Vec<u8> = Vec::new();
    for _ in 0..count {
        let start = pos;
        let mode = be32(start + 24)?;
        let flags = u16::from_be_bytes(bytes.get(start + 60..start + 62)?.try_into().ok()?);
        pos = start + ENTRY_FIXED;
        if flags & FLAG_EXTENDED != 0 {
            if version < 3 {
                return None;
            }
            pos += 2;
        }
        let path = if version == 4 {
            // The path is the previous one less `strip` bytes, then the stored suffix.
            let (strip, used) = varint(bytes.get(pos..end)?)?;
            pos += used;
            let nul = memchr::memchr(0, bytes.get(pos..end)?)?;
            let keep = previous.len().checked_sub(strip)?;
            let mut path = previous[..keep].to_vec();
            path.extend_from_slice(&bytes[pos..pos + nul]);
            pos += nul + 1;
            path
        } else {
            let nul = memchr::memchr(0, bytes.get(pos..end)?)?;
            let path = bytes[pos..pos + nul].to_vec();
            // Padded with 1 to 8 NULs to a multiple of eight bytes from the entry's start.
            pos = start + ((pos - start + nul + 8) & !7);
            path
        };
        if pos > end || path.is_empty() {
            return None;
        }
        previous.clone_from(&path);
        entries.push(Entry { path, mode });
    }
    // Extensions: a split index keeps its entries in another file, a sparse one folds
    // directories into single entries; both are libgit2's to read.
    while pos + 8 <= end {
        let signature = &bytes[pos..pos + 4];
        if signature == b"link" || signature == b"sdir" {
            return None;
        }
        pos = pos.checked_add(8 + usize::try_from(be32(pos + 4)?).ok()?)?;
    }
    (pos == end).then_some(entries)
}

/// Git's offset varint (index version 4): seven bits a byte, most significant first, each
/// continuation adding one. The value and the bytes it took.
fn varint(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut value = usize::from(*bytes.first()? & 0x7f);
    let mut used = 1;
    while bytes[used - 1] & 0x80 != 0 {
        let byte = *bytes.get(used)?;
        value = value.checked_add(1)?.checked_mul(128)? | usize::from(byte & 0x7f);
        used += 1;
    }
    Some((value, used))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vcs::git::git_cli as git;

    /// This reader's answer for the repository holding `start`, found as [`entries`]
    /// finds it.
    fn direct(start: &Path) -> Option<(PathBuf, Vec<Entry>)> {
        read(&work_tree_of(start)?)
    }

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// A repository with regular, executable, symlinked and submodule entries, long and
    /// non-ASCII paths, paths that share long prefixes (what version 4 compresses),
    /// intent-to-add and skip-worktree entries (extended flags, version 3) and a conflict
    /// (stages 1 to 3).
    fn repository() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q"]);
        for i in 0..40 {
            write(
                root,
                &format!("apps/app-{i:03}/base/deployment.yaml"),
                "a: 1\n",
            );
            write(
                root,
                &format!("apps/app-{i:03}/overlays/prod/k.yaml"),
                "b: 2\n",
            );
        }
        let long = format!("deep/{}/x.yaml", "d".repeat(200));
        write(root, &long, "c: 3\n");
        write(root, "ünï/çödé.yaml", "d: 4\n");
        write(root, "run.sh", "#!/bin/sh\n");
        git(root, &["add", "-A"]);
        git(root, &["update-index", "--chmod=+x", "run.sh"]);
        std::os::unix::fs::symlink("run.sh", root.join("link")).unwrap();
        git(root, &["add", "link"]);
        let blob = git(root, &["hash-object", "-w", "run.sh"]);
        let blob = blob.trim();
        git(
            root,
            &[
                "update-index",
                "--add",
                "--cacheinfo",
                &format!("160000,{blob},sub"),
            ],
        );
        git(root, &["commit", "-q", "-m", "seed"]);
        write(root, "later.yaml", "e: 5\n");
        git(root, &["add", "-N", "later.yaml"]);
        git(
            root,
            &[
                "update-index",
                "--skip-worktree",
                "apps/app-001/base/deployment.yaml",
            ],
        );
        let info = format!("100644 {blob} 1\tclash.yaml\n100644 {blob} 2\tclash.yaml\n100644 {blob} 3\tclash.yaml\n");
        let input = root.join(".git/index-info");
        std::fs::write(&input, info).unwrap();
        let staged = std::process::Command::new("git")
            .current_dir(root)
            .args(["update-index", "--index-info"])
            .stdin(std::fs::File::open(&input).unwrap())
            .status()
            .unwrap();
        assert!(staged.success());
        dir
    }

    #[test]
    fn every_index_version_reads_as_libgit2_reads_it() {
        let dir = repository();
        let root = dir.path();
        for version in ["2", "3", "4"] {
            git(root, &["update-index", "--index-version", version]);
            let ours = direct(&root.join("apps")).expect("a plain repository is read here");
            let theirs = by_libgit2(root).unwrap();
            assert_eq!(ours.0, theirs.0, "version {version}: the work tree");
            assert!(theirs.1.len() > 80, "version {version}: {:?}", theirs.1);
            assert_eq!(ours.1, theirs.1, "version {version}: the entries");
        }
    }

    #[test]
    fn what_this_reader_does_not_handle_is_left_to_libgit2() {
        let dir = repository();
        let root = dir.path();
        assert!(direct(root).is_some());
        // A split index keeps entries in a shared file.
        git(root, &["update-index", "--split-index"]);
        assert_eq!(direct(root), None, "split index");
        // Entries added since the split are named in the index itself; the rest are not.
        write(root, "after-split.yaml", "f: 6\n");
        git(root, &["add", "after-split.yaml"]);
        assert_eq!(direct(root), None, "split index with an entry of its own");
        assert_eq!(entries(root), by_libgit2(root), "libgit2 reads it instead");
        git(root, &["update-index", "--no-split-index"]);
        assert!(direct(root).is_some());
        // The work tree moved elsewhere, or the repository bare.
        git(root, &["config", "core.worktree", "/elsewhere"]);
        assert_eq!(direct(root), None, "core.worktree");
        git(root, &["config", "--unset", "core.worktree"]);
        git(root, &["config", "core.bare", "true"]);
        assert_eq!(direct(root), None, "bare");
        git(root, &["config", "core.bare", "false"]);
        assert!(direct(root).is_some());
        // A linked work tree: `.git` is a file.
        let linked = tempfile::tempdir().unwrap();
        let linked = linked.path().join("w");
        git(
            root,
            &[
                "worktree",
                "add",
                "-q",
                "--detach",
                linked.to_str().unwrap(),
            ],
        );
        assert_eq!(direct(&linked), None, "linked work tree");
        // An index that does not parse: cut short.
        let index = root.join(".git/index");
        let bytes = std::fs::read(&index).unwrap();
        std::fs::write(&index, &bytes[..bytes.len() / 2]).unwrap();
        assert_eq!(direct(root), None, "truncated index");
        // SHA-256 object ids.
        let sha256 = tempfile::tempdir().unwrap();
        git(sha256.path(), &["init", "-q", "--object-format=sha256"]);
        assert_eq!(direct(sha256.path()), None, "sha256");
        // No repository at all.
        let none = tempfile::tempdir().unwrap();
        assert_eq!(direct(none.path()), None);
    }

    #[test]
    fn varints_decode_as_git_encodes_them() {
        // Git's encode_varint: 0..=127 in one byte, then (value >> 7) - 1 carried.
        assert_eq!(varint(&[0x00]), Some((0, 1)));
        assert_eq!(varint(&[0x7f]), Some((127, 1)));
        assert_eq!(varint(&[0x80, 0x00]), Some((128, 2)));
        assert_eq!(varint(&[0x80, 0x7f]), Some((255, 2)));
        assert_eq!(varint(&[0x81, 0x00]), Some((256, 2)));
        assert_eq!(varint(&[0xff, 0x7f]), Some((16511, 2)));
        assert_eq!(varint(&[0x80]), None, "cut short");
    }
}
