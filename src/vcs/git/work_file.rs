//! How git sees a file of the work tree: whether its filters may change the file's bytes
//! on the way into the object store, and the index entry that records a file's stat data.
//! Shared by the objects made ahead of a commit ([`super::prepared`]) and the check-out
//! that writes edits over the old files ([`super::in_place`]).

use std::cell::{OnceCell, RefCell};
use std::collections::{HashMap, HashSet};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use git2::{ConfigLevel, IndexEntry, IndexTime, Oid, Repository};

/// Whether `git add` would store a file's bytes other than as they are: the settings
/// libgit2's own filters (end-of-line conversion, `ident`) and filter drivers read.
/// When nothing says so for a path, its blob is the bytes, written without the filtering
/// writer's temporary file.
pub(super) struct Filters {
    /// `core.autocrlf` is on (`true` or `input`), or cannot be read as off.
    autocrlf: bool,
    /// An attributes file that may name any path exists (or cannot be ruled out): the
    /// system's `gitattributes`, `core.attributesFile` or its XDG default, the
    /// repository's `info/attributes`.
    shared_attributes: bool,
    /// Directories (repository-relative) whose `.gitattributes` is in the index: read
    /// from the index the first time a path needs it (never when `core.autocrlf` or a
    /// shared attributes file already decides).
    indexed: OnceCell<HashSet<PathBuf>>,
    /// Directories of the work tree looked at so far: whether a `.gitattributes` is there.
    in_work_tree: RefCell<HashMap<PathBuf, bool>>,
}

impl Filters {
    pub(super) fn of(repo: &Repository) -> Filters {
        let config = repo.config();
        let autocrlf = match config.as_ref().map(|c| c.get_bool("core.autocrlf")) {
            Ok(Ok(on)) => on,
            Ok(Err(e)) => e.code() != git2::ErrorCode::NotFound,
            Err(_) => true,
        };
        // core.attributesFile, else its XDG default; unreadable counts as present.
        let shared_attributes = match config.as_ref().map(|c| c.get_path("core.attributesFile")) {
            Ok(Ok(path)) => may_exist(&path),
            Ok(Err(e)) if e.code() == git2::ErrorCode::NotFound => {
                in_search_path(ConfigLevel::XDG, "attributes")
            }
            _ => true,
        } || in_search_path(ConfigLevel::System, "gitattributes")
            || may_exist(&repo.commondir().join("info/attributes"))
            || may_exist(&repo.path().join("info/attributes"));
        Filters {
            autocrlf,
            shared_attributes,
            indexed: OnceCell::new(),
            in_work_tree: RefCell::new(HashMap::new()),
        }
    }

    /// Whether a filter may change the bytes of `rel` on the way in: `core.autocrlf`, or
    /// any of the attributes the end-of-line, `ident` and driver filters read, set,
    /// unset or given a value for the path (an unreadable attribute counts as set).
    /// libgit2 is only asked when an attributes file could apply to the path: asking
    /// costs about 0.1 ms a file (five attributes, each checking every attributes file
    /// of the path's directories), and most repositories have none.
    pub(super) fn may_apply(&self, repo: &Repository, rel: &Path) -> bool {
        if self.autocrlf {
            return true;
        }
        if !self.shared_attributes && !self.attributes_file_above(repo, rel) {
            return false;
        }
        ["text", "crlf", "eol", "ident", "filter"]
            .iter()
            .any(|name| {
                !matches!(
                    repo.get_attr_bytes(rel, name, git2::AttrCheckFlags::FILE_THEN_INDEX),
                    Ok(None)
                )
            })
    }

    /// Whether a directory holding `rel` (its own up to the root) has a `.gitattributes`
    /// in the index or in the work tree, the two places libgit2 reads them from here.
    fn attributes_file_above(&self, repo: &Repository, rel: &Path) -> bool {
        let Some(workdir) = repo.workdir() else {
            return true;
        };
        let indexed = self.indexed.get_or_init(|| indexed_attribute_dirs(repo));
        let mut seen = self.in_work_tree.borrow_mut();
        rel.ancestors().skip(1).any(|dir| {
            indexed.contains(dir)
                || *seen
                    .entry(dir.to_path_buf())
                    .or_insert_with(|| may_exist(&workdir.join(dir).join(".gitattributes")))
        })
    }
}

/// The directories whose `.gitattributes` the index holds (`""` for the root); an
/// unreadable index counts as one at the root, which sends every path to libgit2.
fn indexed_attribute_dirs(repo: &Repository) -> HashSet<PathBuf> {
    let Ok(index) = repo.index() else {
        return HashSet::from([PathBuf::new()]);
    };
    index
        .iter()
        .filter(|entry| entry.path.ends_with(b".gitattributes"))
        .map(|entry| PathBuf::from(std::ffi::OsStr::from_bytes(&entry.path)))
        .filter(|path| path.file_name() == Some(std::ffi::OsStr::new(".gitattributes")))
        .map(|path| path.parent().map(Path::to_path_buf).unwrap_or_default())
        .collect()
}

/// Whether `name` exists in one of libgit2's search-path directories for `level`; true
/// when the path cannot be read.
fn in_search_path(level: ConfigLevel, name: &str) -> bool {
    // SAFETY: harborize never sets libgit2's search paths, so no other thread writes
    // what this reads.
    let Ok(dirs) = (unsafe { git2::opts::get_search_path(level) }) else {
        return true;
    };
    let Ok(dirs) = dirs.into_string() else {
        return true;
    };
    dirs.split(':')
        .filter(|d| !d.is_empty())
        .any(|d| may_exist(&Path::new(d).join(name)))
}

/// Whether something may be at `path`: anything but "not found" (a permission error
/// leaves it possible).
fn may_exist(path: &Path) -> bool {
    !matches!(std::fs::symlink_metadata(path), Err(e) if e.kind() == std::io::ErrorKind::NotFound)
}

/// An index entry for `rel` holding `id`, with the stat data git compares to tell whether
/// the file changed (the index format keeps 32 bits of each).
pub(super) fn index_entry(rel: &Path, id: Oid, mode: i32, meta: &std::fs::Metadata) -> IndexEntry {
    let time = |secs: i64, nanos: i64| IndexTime::new(secs as i32, nanos as u32);
    IndexEntry {
        ctime: time(meta.ctime(), meta.ctime_nsec()),
        mtime: time(meta.mtime(), meta.mtime_nsec()),
        dev: meta.dev() as u32,
        ino: meta.ino() as u32,
        mode: mode as u32,
        uid: meta.uid(),
        gid: meta.gid(),
        file_size: meta.size() as u32,
        id,
        flags: 0,
        flags_extended: 0,
        path: rel.as_os_str().as_bytes().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vcs::git::git_cli as git;

    /// What libgit2 says, asked for every attribute: the answer the shortcut must keep.
    fn asked(repo: &Repository, rel: &str) -> bool {
        ["text", "crlf", "eol", "ident", "filter"]
            .iter()
            .any(|name| {
                !matches!(
                    repo.get_attr_bytes(
                        Path::new(rel),
                        name,
                        git2::AttrCheckFlags::FILE_THEN_INDEX
                    ),
                    Ok(None)
                )
            })
    }

    const PATHS: [&str; 5] = ["top.yaml", "a/x.yaml", "a/b/y.yaml", "c/z.yaml", "c/z.txt"];

    /// Every path answered as libgit2 answers it; returns the paths whose answer came
    /// without asking libgit2.
    fn same_answers(root: &Path) -> Vec<&'static str> {
        let repo = Repository::open(root).unwrap();
        let filters = Filters::of(&repo);
        for rel in PATHS {
            assert_eq!(
                filters.may_apply(&repo, Path::new(rel)),
                asked(&repo, rel),
                "{rel} in {}",
                root.display()
            );
        }
        PATHS
            .into_iter()
            .filter(|rel| {
                !filters.autocrlf
                    && !filters.shared_attributes
                    && !filters.attributes_file_above(&repo, Path::new(rel))
            })
            .collect()
    }

    #[test]
    fn filters_are_only_asked_for_where_an_attributes_file_could_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q"]);
        git(root, &["config", "core.autocrlf", "false"]);
        for dir in ["a/b", "c"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        for rel in PATHS {
            std::fs::write(root.join(rel), "x: 1\n").unwrap();
        }
        git(root, &["add", "-A"]);
        git(root, &["commit", "-q", "-m", "seed"]);
        let repo = Repository::open(root).unwrap();
        let shared = Filters::of(&repo).shared_attributes;
        // No attributes file in the repository: libgit2 is not asked (unless this
        // machine has a system or XDG attributes file).
        let unasked = same_answers(root);
        if !shared {
            assert_eq!(unasked, PATHS);
        }

        // A .gitattributes only in the index (removed from the work tree): a/ and below.
        std::fs::write(root.join("a/.gitattributes"), "*.yaml text eol=crlf\n").unwrap();
        git(root, &["add", "a/.gitattributes"]);
        std::fs::remove_file(root.join("a/.gitattributes")).unwrap();
        let unasked = same_answers(root);
        assert!(!unasked.contains(&"a/x.yaml") && !unasked.contains(&"a/b/y.yaml"));
        if !shared {
            assert_eq!(unasked, ["top.yaml", "c/z.yaml", "c/z.txt"]);
        }
        git(root, &["rm", "-q", "--cached", "a/.gitattributes"]);

        // One only in the work tree (untracked): c/ only.
        std::fs::write(root.join("c/.gitattributes"), "*.txt ident\n").unwrap();
        let unasked = same_answers(root);
        assert!(!unasked.contains(&"c/z.txt") && !unasked.contains(&"c/z.yaml"));
        if !shared {
            assert_eq!(unasked, ["top.yaml", "a/x.yaml", "a/b/y.yaml"]);
        }
        std::fs::remove_file(root.join("c/.gitattributes")).unwrap();

        // The repository's info/attributes may name any path.
        std::fs::create_dir_all(root.join(".git/info")).unwrap();
        std::fs::write(root.join(".git/info/attributes"), "y.yaml filter=lfs\n").unwrap();
        assert!(same_answers(root).is_empty());
        std::fs::remove_file(root.join(".git/info/attributes")).unwrap();

        // So may core.attributesFile, when the file it names exists.
        let outside = tempfile::tempdir().unwrap();
        let file = outside.path().join("attributes");
        git(
            root,
            &["config", "core.attributesFile", file.to_str().unwrap()],
        );
        if !shared {
            assert_eq!(same_answers(root), PATHS);
        }
        std::fs::write(&file, "*.txt text\n").unwrap();
        assert!(same_answers(root).is_empty());

        // core.autocrlf applies to every path, attributes or not.
        git(root, &["config", "core.autocrlf", "input"]);
        let repo = Repository::open(root).unwrap();
        assert!(PATHS
            .iter()
            .all(|rel| Filters::of(&repo).may_apply(&repo, Path::new(rel))));
    }
}
