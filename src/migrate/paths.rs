//! Repository-relative paths of `harborize migrate` (reports and commits name files
//! relative to the repository root) and `--batch-by dir`'s grouping by top-level directory.

use std::collections::BTreeMap;
use std::path::{Component, Path};

/// A path relative to the repository root, `/`-separated (display paths otherwise).
pub fn relative(root: &Path, file: &str) -> String {
    let p = Path::new(file);
    let rel = p.strip_prefix(root).unwrap_or(p);
    rel.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The top-level directory of a repository-relative path; `.` for files at the root.
pub fn top_level_dir(rel: &str) -> String {
    match rel.split_once('/') {
        Some((first, _)) => first.to_string(),
        None => ".".to_string(),
    }
}

/// Group repository-relative files by top-level directory (sorted).
pub fn batches(files: &[String]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in files {
        out.entry(top_level_dir(f)).or_default().push(f.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_level_batches() {
        let b = batches(&[
            "apps/a.yaml".into(),
            "root.yaml".into(),
            "apps/x/b.yaml".into(),
            "infra/c.yaml".into(),
        ]);
        assert_eq!(
            b.keys().cloned().collect::<Vec<_>>(),
            [".", "apps", "infra"]
        );
        assert_eq!(b["apps"].len(), 2);
    }
}
