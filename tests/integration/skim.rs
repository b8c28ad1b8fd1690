//! `check` (and `rewrite --dry-run` without `--diff`) blank the documents that cannot hold
//! a reference before parsing them (`yaml::skim`); `rewrite --dry-run --diff` parses every
//! document. Both must report exactly the same references on every fixture, on the
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
    let full = references(&["rewrite", "--dry-run", "--diff"], path);
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
