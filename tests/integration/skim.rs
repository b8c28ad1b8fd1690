//! `check`, `rewrite` and `run` blank the documents that cannot hold a reference before
//! parsing them (`yaml::skim`), and prove their edits on that blanked view;
//! `--parse-every-document` parses every document. Both must report exactly the same
//! references, and `rewrite` must write exactly the same bytes, on every fixture, on the
//! real-world corpus and on a file shaped like the benchmark's (a Deployment next to a
//! large ConfigMap whose embedded config mentions `image:`).

use crate::support::common;

use std::path::{Path, PathBuf};

use common::{harborize, HARBOR};

fn references(mode: &[&str], path: &Path) -> Vec<serde_json::Value> {
    let out = harborize()
        .args(mode)
        .args(["--harbor", HARBOR, "--format", "json"])
        .arg(path)
        .output()
        .expect("harborize runs");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{mode:?} on {}: no JSON report ({e}); stderr: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    report["references"].as_array().cloned().unwrap_or_default()
}

fn assert_same_references(path: &Path, at_least: usize) {
    let skimmed = references(&["check"], path);
    let full = references(&["check", "--parse-every-document"], path);
    assert!(
        full.len() >= at_least,
        "{}: only {} references; the comparison would prove little",
        path.display(),
        full.len()
    );
    for (i, (a, b)) in skimmed.iter().zip(&full).enumerate() {
        assert_eq!(a, b, "{}: reference {i} differs", path.display());
    }
    assert_eq!(skimmed.len(), full.len(), "{}", path.display());
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `rewrite --no-render-proof` of two copies of `from`, one skimmed, one parsing every
/// document: the same exit code, the same bytes in every file, and at least `at_least`
/// files changed.
fn assert_same_rewrite(from: &Path, at_least: usize) {
    let dir = tempfile::tempdir().unwrap();
    let (skimmed, full) = (dir.path().join("skimmed"), dir.path().join("full"));
    let mut codes = Vec::new();
    for (copy, extra) in [(&skimmed, None), (&full, Some("--parse-every-document"))] {
        common::copy_tree(from, copy);
        let out = harborize()
            .args(["rewrite", "--no-render-proof", "--harbor", HARBOR])
            .args(extra)
            .arg(copy)
            .output()
            .expect("harborize runs");
        codes.push(out.status.code());
    }
    assert_eq!(codes[0], codes[1], "{}: exit codes differ", from.display());
    let mut changed = 0;
    let files = common::files(&full);
    assert_eq!(
        files,
        common::files(&skimmed),
        "{}: file lists differ",
        from.display()
    );
    for relative in files {
        let written = std::fs::read(full.join(&relative)).unwrap();
        let other = std::fs::read(skimmed.join(&relative)).unwrap();
        assert!(
            written == other,
            "{}: the skimmed rewrite wrote different bytes",
            relative.display()
        );
        changed += usize::from(written != std::fs::read(from.join(relative)).unwrap());
    }
    assert!(
        changed >= at_least,
        "{}: only {changed} files rewritten; the comparison would prove little",
        from.display()
    );
}

#[test]
fn rewrite_writes_what_a_full_parse_writes_on_the_fixtures_and_the_corpus() {
    assert_same_rewrite(&root().join("fixtures/rewrite"), 20);
    let corpus = root().join("../shared/corpus");
    assert!(corpus.is_dir(), "{} missing", corpus.display());
    assert_same_rewrite(&corpus, 50);
}

#[test]
fn check_reports_what_a_full_parse_reports_on_the_fixtures() {
    assert_same_references(&root().join("fixtures/rewrite"), 100);
    assert_same_references(&root().join("fixtures/example"), 5);
    assert_same_references(&root().join("fixtures/render"), 5);
}

#[test]
fn check_reports_what_a_full_parse_reports_on_the_corpus() {
    let corpus = root().join("../shared/corpus");
    assert!(
        corpus.is_dir(),
        "{} missing: the corpus comes with ../shared beside this repository",
        corpus.display()
    );
    assert_same_references(&corpus, 300);
}

#[test]
fn a_benchmark_shaped_manifest_reports_the_same_and_keeps_lines() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\nspec:\n  template:\n    spec:\n      containers:\n        - name: main\n          image: \"otel/collector:0.110.0\"  # main image\n          args: [\"--port=9090\"]\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a-config\ndata:\n  config.yaml: |\n    # not an image field: must never be rewritten\n    image: nginx:1.0\n",
    );
    for i in 0..200 {
        text.push_str(&format!("  key{i}: \"{i}\"\n"));
    }
    text.push_str("---\nkind: Job\nspec:\n  template:\n    spec:\n      containers:\n        - image: busybox\n");
    let file = dir.path().join("deploy.yaml");
    std::fs::write(&file, &text).unwrap();
    assert_same_references(&file, 2);
    let refs = references(&["check"], &file);
    let lines: Vec<u64> = refs.iter().map(|r| r["line"].as_u64().unwrap()).collect();
    let busybox = text.lines().position(|l| l.contains("busybox")).unwrap() as u64 + 1;
    assert_eq!(lines, vec![10, busybox]);
}
