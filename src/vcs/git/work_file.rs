//! How git sees a file of the work tree: whether its filters may change the file's bytes
//! on the way into the object store, and the index entry that records a file's stat data.
//! Shared by the objects made ahead of a commit ([`super::prepared`]) and the check-out
//! that writes edits over the old files ([`super::in_place`]).

use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use git2::{IndexEntry, IndexTime, Oid, Repository};

/// Whether `git add` would store a file's bytes other than as they are: the settings
/// libgit2's own filters (end-of-line conversion, `ident`) and filter drivers read.
/// When nothing says so for a path, its blob is the bytes, written without the filtering
/// writer's temporary file.
pub(super) struct Filters {
    /// `core.autocrlf` is on (`true` or `input`), or cannot be read as off.
    autocrlf: bool,
}

impl Filters {
    pub(super) fn of(repo: &Repository) -> Filters {
        let autocrlf = match repo.config().map(|c| c.get_bool("core.autocrlf")) {
            Ok(Ok(on)) => on,
            Ok(Err(e)) => e.code() != git2::ErrorCode::NotFound,
            Err(_) => true,
        };
        Filters { autocrlf }
    }

    /// Whether a filter may change the bytes of `rel` on the way in: `core.autocrlf`, or
    /// any of the attributes the end-of-line, `ident` and driver filters read, set,
    /// unset or given a value for the path (an unreadable attribute counts as set).
    pub(super) fn may_apply(&self, repo: &Repository, rel: &Path) -> bool {
        self.autocrlf
            || ["text", "crlf", "eol", "ident", "filter"]
                .iter()
                .any(|name| {
                    !matches!(
                        repo.get_attr_bytes(rel, name, git2::AttrCheckFlags::FILE_THEN_INDEX),
                        Ok(None)
                    )
                })
    }
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
