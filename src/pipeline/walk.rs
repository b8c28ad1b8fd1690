//! Which files to read (`.yaml`, `.yml`, `.json`, and kustomize's `Kustomization`):
//! gitignore-aware, sorted, deterministic.
//!
//! Directories are walked with the `ignore` crate (the walker behind ripgrep), so
//! `.gitignore`, `.ignore` and hidden files are handled the way users expect. Files named
//! explicitly (pre-commit passes staged files) are always read. Symlinks are never
//! followed: editing through one would replace the link with a file, and one that leads
//! out of the tree must not be touched at all.
//!
//! Ignore rules apply to untracked files only, as in git: a manifest that was added on
//! purpose under an ignored path (`git add -f generated/x.yaml`) is deployed like any
//! other, so it is read too. Inside a git work tree the index is read once per walked
//! directory and its tracked files that the walker left out are added.

use std::path::{Path, PathBuf};

/// Extensions that can hold manifests.
const EXTENSIONS: [&str; 3] = ["yaml", "yml", "json"];

/// The one manifest without an extension: kustomize reads `Kustomization` like
/// `kustomization.yaml`, so its `images:` must be rewritten with the manifests they match.
const EXTENSIONLESS: &str = "Kustomization";

/// A file to read, or a path that was set aside with a reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Walked {
    File(PathBuf),
    Skipped(PathBuf, String),
    Error(PathBuf, String),
}

/// Whether a directory walk reads `p`: a `.yaml`, `.yml` or `.json` file, or kustomize's
/// `Kustomization`.
pub fn is_manifest(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
        || p.file_name().is_some_and(|n| n == EXTENSIONLESS)
}

/// The files under `root` (a file is itself when it is one) that pass `want`, sorted,
/// found as a run's walk finds files ([`builder`]: gitignore-aware, hidden directories
/// entered, `.git` and submodules never; plus what git tracks under ignored paths): for
/// the searches that look past the paths a run was given (kustomizations for the render
/// proof and the bump's graph, Flux image policies, Argo CD value-file links), so they
/// see the files the plan would read. The walk lists the whole tree, so it runs on every
/// core: on one thread, the kustomizations' search was a tenth of a bump of a
/// 10,000-file repository.
pub(crate) fn search(root: &Path, want: impl Fn(&Path) -> bool + Sync) -> Vec<PathBuf> {
    let found = std::sync::Mutex::new(Vec::new());
    builder(root).build_parallel().run(|| {
        Box::new(|entry| {
            if let Ok(e) = entry {
                if e.file_type().is_some_and(|t| t.is_file()) && want(e.path()) {
                    found
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(e.into_path());
                }
            }
            ignore::WalkState::Continue
        })
    });
    let mut found = found
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    found.sort();
    // Tracked files the walker left out (under ignored paths): only they are looked at on
    // disk, as in [`walk_parallel`].
    if root.is_dir() && in_work_tree(root) {
        let wanted = tracked_files_under(root).into_iter().filter(|p| want(p));
        let left_out: Vec<PathBuf> = left_out(wanted, |p| {
            found.binary_search_by(|f| f.as_path().cmp(p)).is_ok()
        })
        .collect();
        if !left_out.is_empty() {
            found.extend(left_out);
            found.sort();
        }
    }
    found
}

/// Whether a `.git` in `root` or above says there may be an index to read.
fn in_work_tree(root: &Path) -> bool {
    crate::git_index::work_tree_of(root).is_some()
}

/// The `tracked` files a walker left out (`walked` tells what it found): those under
/// ignored paths, added by every walk that reads what the plan reads, when they are still
/// regular files on disk (looked at only for these few).
fn left_out<'a>(
    tracked: impl IntoIterator<Item = PathBuf> + 'a,
    walked: impl Fn(&Path) -> bool + 'a,
) -> impl Iterator<Item = PathBuf> + 'a {
    tracked
        .into_iter()
        .filter(move |p| !walked(p) && is_regular_file(p))
}

/// A regular file still on disk (not a symlink): what a tracked path the walker left out
/// must be to be read.
fn is_regular_file(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file())
}

/// Manifest files in git's index under the directory `root`, as the walker would name them
/// (`root` joined with the rest of the path); callers ask only [`in_work_tree`] roots, and
/// get nothing when no repository or index is found after all. Only regular
/// files in the index (gitlinks and symlinks are not files to edit); whether each is still
/// on disk is left to the caller, which asks only for the few the walker left out.
fn tracked_files_under(root: &Path) -> Vec<PathBuf> {
    let Some((workdir, entries)) = crate::git_index::entries(root) else {
        return Vec::new();
    };
    let Ok(abs_root) = root.canonicalize() else {
        return Vec::new();
    };
    let Ok(prefix) = abs_root.strip_prefix(&workdir) else {
        return Vec::new();
    };
    const REGULAR: u32 = 0o100_000;
    let mut out = Vec::new();
    for entry in entries {
        if entry.mode & 0o170_000 != REGULAR {
            continue;
        }
        let Ok(rel) = std::str::from_utf8(&entry.path) else {
            continue;
        };
        let Ok(under) = Path::new(rel).strip_prefix(prefix) else {
            continue;
        };
        // The walker never enters version-control directories; neither does this.
        if under
            .components()
            .any(|c| matches!(c.as_os_str().to_str(), Some(".git" | ".hg" | ".svn")))
        {
            continue;
        }
        let path = root.join(under);
        if is_manifest(&path) && !is_config_file(&path) {
            out.push(path);
        }
    }
    out
}

/// harborize's own config file is not a manifest (its `scan.allow[].image` globs are not
/// references).
fn is_config_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| crate::config::FILE_NAMES.contains(&n))
}

/// The walker of a run's directories ([`walk_parallel`], [`search`], and
/// `examples/check_floor`, the benchmark's floor under `check`).
pub fn builder(root: &Path) -> ignore::WalkBuilder {
    let mut b = ignore::WalkBuilder::new(root);
    b.follow_links(false)
        // Hidden directories hold real manifests too (.kyverno-test, .github); only
        // version-control internals are skipped.
        .hidden(false)
        .filter_entry(|e| {
            !matches!(e.file_name().to_str(), Some(".git" | ".hg" | ".svn")) && !is_submodule(e)
        })
        .git_ignore(true)
        .git_global(false)
        .git_exclude(true)
        .require_git(false);
    b
}

/// A directory below the walk's root whose `.git` is a file: a submodule (or a linked
/// work tree) with a repository of its own. Never entered: its files belong to that
/// repository, and a commit of the outer one would replace the gitlink with them.
fn is_submodule(e: &ignore::DirEntry) -> bool {
    e.depth() > 0 && e.file_type().is_some_and(|t| t.is_dir()) && e.path().join(".git").is_file()
}

fn classify(root: &Path, entry: Result<ignore::DirEntry, ignore::Error>) -> Option<Walked> {
    match entry {
        Ok(e) => {
            let ft = e.file_type()?;
            let path = e.into_path();
            if ft.is_symlink() {
                is_manifest(&path).then(|| Walked::Skipped(path, "symlink, not followed".into()))
            } else if ft.is_file() && is_manifest(&path) && !is_config_file(&path) {
                Some(Walked::File(path))
            } else {
                None
            }
        }
        Err(e) => Some(Walked::Error(root.to_path_buf(), e.to_string())),
    }
}

impl Walked {
    pub fn path(&self) -> &Path {
        match self {
            Walked::File(p) | Walked::Skipped(p, _) | Walked::Error(p, _) => p,
        }
    }
}

/// Walk with one thread per core, calling `f` on each entry inside the walker's threads
/// (no hand-off between threads), and return the results in walk order: the roots as
/// given, each one's paths sorted component by component ([`walk_order`]).
pub fn map_in_walk_order<T: Send>(paths: &[PathBuf], f: &(dyn Fn(Walked) -> T + Sync)) -> Vec<T> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    // The keys apart from the values: the results are sorted in place by a permutation,
    // so a large repository holds one vector of results, never two.
    let found = std::sync::Mutex::new((Vec::new(), Vec::new()));
    walk_parallel(paths, threads, &|root, w| {
        let key = (root, w.path().to_path_buf());
        let value = f(w);
        let mut found = found.lock().expect("no panics while holding the lock");
        found.0.push(key);
        found.1.push(value);
    });
    let (keys, mut values) = found.into_inner().expect("lock not poisoned");
    let mut order: Vec<usize> = (0..keys.len()).collect();
    // Keys are unique (one entry per path), so an unstable sort gives the one order.
    order.sort_unstable_by(|&a, &b| {
        let ((root_a, a), (root_b, b)) = (&keys[a], &keys[b]);
        root_a.cmp(root_b).then_with(|| walk_order(a, b))
    });
    drop(keys);
    permute(&mut values, order);
    // Grown by doubling: up to half of it unused, held while the caller reports.
    values.shrink_to_fit();
    values
}

/// The walk order of two paths under one root (what [`map_in_walk_order`] sorts by), as
/// `Path::cmp` (component by component) gives it, at the cost of a byte comparison: the
/// paths share the root's spelling and go on with single-slash separated names, so
/// comparing their bytes with `/` lowest of all (no name holds it) is comparing their
/// components. Sorting 8,000 paths by `Path::cmp`, which splits both into components at
/// every comparison, was a fiftieth of `check`'s time, spent after the walk on one core.
fn walk_order(a: &Path, b: &Path) -> std::cmp::Ordering {
    use std::os::unix::ffi::OsStrExt;
    let (a, b) = (a.as_os_str().as_bytes(), b.as_os_str().as_bytes());
    let separator_lowest = |c: u8| if c == b'/' { 0 } else { c };
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => separator_lowest(a[i]).cmp(&separator_lowest(b[i])),
        None => a.len().cmp(&b.len()),
    }
}

/// Reorder `values` so that position `i` holds what was at `order[i]`, in place (each
/// cycle of the permutation followed once).
fn permute<T>(values: &mut [T], mut order: Vec<usize>) {
    const DONE: usize = usize::MAX;
    for start in 0..values.len() {
        let mut at = start;
        while order[at] != DONE {
            let from = order[at];
            order[at] = DONE;
            if from == start {
                break;
            }
            values.swap(at, from);
            at = from;
        }
    }
}

/// Walk with `threads` threads, calling `visit(root_index, entry)` from them as entries are
/// found. Order is not deterministic: callers sort by `(root_index, path)` (paths compare
/// component by component, [`walk_order`]).
pub fn walk_parallel(paths: &[PathBuf], threads: usize, visit: &(dyn Fn(usize, Walked) + Sync)) {
    for (i, root) in paths.iter().enumerate() {
        let meta = match std::fs::symlink_metadata(root) {
            Ok(m) => m,
            Err(e) => {
                visit(i, Walked::Error(root.clone(), format!("cannot read: {e}")));
                continue;
            }
        };
        if meta.is_file() {
            if is_config_file(root) {
                visit(
                    i,
                    Walked::Skipped(root.clone(), "harborize's own config file".into()),
                );
            } else {
                visit(i, Walked::File(root.clone()));
            }
            continue;
        }
        if meta.file_type().is_symlink() && !root.is_dir() {
            visit(
                i,
                Walked::Skipped(root.clone(), "symlink, not followed".into()),
            );
            continue;
        }
        // The index is read on a thread of its own while the tree is walked: reading
        // 10,000 entries before the walk started held every worker back.
        let git = in_work_tree(root);
        let seen = std::sync::Mutex::new(std::collections::HashSet::new());
        std::thread::scope(|scope| {
            let tracked = git.then(|| scope.spawn(|| tracked_files_under(root)));
            let seen = &seen;
            builder(root).threads(threads).build_parallel().run(|| {
                Box::new(move |entry| {
                    if let Some(w) = classify(root, entry) {
                        if git {
                            seen.lock()
                                .expect("no panics while holding the lock")
                                .insert(w.path().to_path_buf());
                        }
                        visit(i, w);
                    }
                    ignore::WalkState::Continue
                })
            });
            let tracked = tracked
                .map(|t| t.join().expect("reading the index does not panic"))
                .unwrap_or_default();
            let seen = seen.lock().expect("no panics while holding the lock");
            for path in left_out(tracked, |p| seen.contains(p)) {
                visit(i, Walked::File(path));
            }
        });
    }
}

/// A Helm chart template (Go template, not YAML): under `templates/` of a chart.
pub fn is_helm_template(path: &Path, text: &str) -> bool {
    let Some(dir) = path.parent() else {
        return false;
    };
    let under_templates = dir.components().any(|c| c.as_os_str() == "templates");
    if !under_templates {
        return false;
    }
    let chart_beside = dir
        .ancestors()
        .skip_while(|a| a.file_name().is_some_and(|n| n != "templates"))
        .nth(1)
        .is_some_and(|chart| chart.join("Chart.yaml").is_file());
    chart_beside || text.contains("{{")
}

#[cfg(test)]
mod tests {
    use super::{permute, walk_order};
    use std::path::Path;

    #[test]
    fn walk_order_is_the_order_of_components() {
        // Names that sort apart from their separators: `-`, `.` and digits are below
        // letters but above `/`; a prefix name (`a`) against a longer one (`ab`).
        let names = [
            "r/a",
            "r/a/b",
            "r/a-b",
            "r/a.b/c",
            "r/a/b-c",
            "r/a/b/c",
            "r/ab",
            "r/a b",
            "r/A",
            "r/a0/z",
            "r/a/0",
            "r/é/x",
            "r/e/x",
            "./r/a",
            "./r/a-b/c",
            "./r/a/b",
        ];
        for a in names {
            for b in names {
                let (a, b) = (Path::new(a), Path::new(b));
                if a.starts_with("./") != b.starts_with("./") {
                    continue; // one root's entries share its spelling
                }
                assert_eq!(walk_order(a, b), a.cmp(b), "{a:?} against {b:?}");
            }
        }
    }

    #[test]
    fn permute_puts_each_value_where_the_order_says() {
        // Cycles of every length, fixed points and an identity, against the obvious copy.
        for order in [
            vec![],
            vec![0],
            vec![1, 0],
            vec![0, 1, 2],
            vec![2, 0, 1],
            vec![3, 4, 0, 2, 1, 5, 7, 6],
            (0..100).map(|i| (i * 37 + 11) % 100).collect(),
        ] {
            let values: Vec<String> = (0..order.len()).map(|i| format!("v{i}")).collect();
            let expected: Vec<String> = order.iter().map(|&i| values[i].clone()).collect();
            let mut got = values.clone();
            permute(&mut got, order.clone());
            assert_eq!(got, expected, "order {order:?}");
        }
    }
}
