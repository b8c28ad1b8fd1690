//! Paths as GitHub resolves them: relative to the repository root. Workflow annotations
//! (`::error file=…`) and SARIF `artifactLocation.uri` are read by GitHub against the
//! checkout (`GITHUB_WORKSPACE`), not against the directory harborize ran in: a run from a
//! subdirectory (the Action's `working-directory`) that printed `file=./pod.yaml`, or an
//! absolute `/home/runner/work/…` path, points at no file at all.
//!
//! The root is `GITHUB_WORKSPACE` when the file is inside it, else the nearest enclosing
//! git work tree; a file outside both keeps the path it was given (without `./`).

use std::path::{Component, Path, PathBuf};

/// `file` (as harborize printed it: relative to the current directory, or absolute)
/// relative to its repository root, with forward slashes.
pub fn repo_relative(file: &str) -> String {
    let env = |name: &str| std::env::var(name).ok();
    let cwd = std::env::current_dir().unwrap_or_default();
    relative_to_root(file, &cwd, env("GITHUB_WORKSPACE").as_deref())
}

/// [`repo_relative`] with the current directory and `GITHUB_WORKSPACE` given.
pub fn relative_to_root(file: &str, cwd: &Path, workspace: Option<&str>) -> String {
    let given = file.replace('\\', "/");
    let as_given = given.trim_start_matches("./").to_string();
    let abs = real(&cwd.join(file));
    let workspace = workspace
        .filter(|w| !w.trim().is_empty())
        .map(|w| real(&cwd.join(w)));
    let root = workspace
        .filter(|w| abs.starts_with(w))
        .or_else(|| git_root(&abs));
    match root.and_then(|r| abs.strip_prefix(&r).ok().map(Path::to_path_buf)) {
        Some(rel) if !rel.as_os_str().is_empty() => rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/"),
        _ => as_given,
    }
}

/// The canonical path when it exists (symlinks such as macOS's /tmp resolved), else the
/// lexically normalised absolute path.
fn real(path: &Path) -> PathBuf {
    if let Ok(p) = std::fs::canonicalize(path) {
        return p;
    }
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The nearest directory at or above `path` that holds `.git` (a work tree).
/// The working-tree root of the git repository holding `path` (a file, or a directory
/// itself included): the nearest ancestor with a `.git`.
pub fn git_root(path: &Path) -> Option<PathBuf> {
    let dir = if path.is_file() { path.parent()? } else { path };
    dir.ancestors()
        .find(|d| d.join(".git").exists())
        .map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_relative_to_the_workspace_or_the_git_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::create_dir_all(root.join("apps/web")).unwrap();
        std::fs::write(root.join("apps/web/pod.yaml"), "").unwrap();
        let sub = root.join("apps");
        // from a subdirectory, relative and absolute spellings alike
        assert_eq!(
            relative_to_root("./web/pod.yaml", &sub, None),
            "apps/web/pod.yaml"
        );
        let abs = root.join("apps/web/pod.yaml");
        assert_eq!(
            relative_to_root(abs.to_str().unwrap(), Path::new("/"), None),
            "apps/web/pod.yaml"
        );
        // GITHUB_WORKSPACE wins when the file is inside it
        assert_eq!(
            relative_to_root("web/pod.yaml", &sub, Some(sub.to_str().unwrap())),
            "web/pod.yaml"
        );
        // outside any repository: as given, without ./
        assert_eq!(
            relative_to_root("./x.yaml", Path::new("/nonexistent-dir"), None),
            "x.yaml"
        );
    }
}
