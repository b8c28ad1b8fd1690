//! Render equivalence with the real renderers: `kubectl kustomize` (kubectl 1.29) and
//! `helm template` (helm 3.17) render the same objects before and after the rewrite,
//! with every image mapped through Harbor and nothing else different; `--revert` renders
//! the originals back. The comparison lives in tests/render_equivalence.py; this test
//! drives it with the binary under test. kubectl and helm come from
//! scripts/install-test-tools.sh (PATH set by scripts/test-env.sh).
//!
//! A render that fails before the rewrite is a failure unless tests/render_expectations.json
//! lists it (with its reason and error), and every root must compare a minimum of targets
//! and image lines, every Helm target too (issue 17 item 1): a `helm` that cannot render
//! must not turn into a green run that compared nothing.

use crate::support::common;

use std::path::Path;
use std::process::Command;

const EXPECT: &str = "tests/render_expectations.json";

/// Run the comparison; `path_first` goes in front of PATH (a fake renderer). Returns the
/// exit code and the combined output.
fn equivalence(roots: &[&str], extra: &[&str], path_first: Option<&Path>) -> (i32, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cmd = Command::new("python3");
    cmd.current_dir(root)
        .arg("tests/render_equivalence.py")
        .arg("--harborize")
        .arg(crate::support::common::binary())
        .args(["--expect", EXPECT])
        .args(extra)
        .args(roots);
    if let Some(dir) = path_first {
        let path = std::env::var("PATH").unwrap_or_default();
        cmd.env("PATH", format!("{}:{path}", dir.display()));
    }
    let out = cmd.output().expect("python3 runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(
        out.status.code(),
        Some(2),
        "kubectl/helm missing: run `bash scripts/install-test-tools.sh` and `source scripts/test-env.sh`\n{text}"
    );
    (out.status.code().expect("exit code"), text)
}

fn render(roots: &[&str], extra: &[&str]) {
    let (code, text) = equivalence(roots, extra, None);
    assert_eq!(code, 0, "render difference:\n{text}");
    assert!(text.contains("OK: every render is equivalent"), "{text}");
    assert!(
        !text.contains("TOTAL: 0 render"),
        "no render was compared:\n{text}"
    );
}

/// A directory holding an executable `helm` with this shell body.
fn fake_helm(body: &str) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let helm = dir.path().join("helm");
    std::fs::write(&helm, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&helm, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

#[test]
fn kustomize_and_helm_fixtures_render_the_same_through_harbor() {
    render(
        &[
            "fixtures/render/kustomize",
            "fixtures/render/helm",
            "fixtures/rewrite/kustomize-local/in",
            "fixtures/rewrite/kustomize-inline-patches/in",
        ],
        &[],
    );
}

#[test]
fn corpus_kustomizations_that_render_offline_stay_equivalent() {
    let corpus = common::shared().join("corpus");
    // The one image left unchanged is YAML inside a ConfigMap string (local-path
    // provisioner's helper pod): outside the places harborize edits, by design.
    render(&[corpus.to_str().unwrap()], &["--allow-embedded-unchanged"]);
}

/// Issue 17 item 1: with a `helm` that always fails, every Helm target fails BEFORE the
/// rewrite; that is a failure, not a skip.
#[test]
fn a_helm_that_cannot_render_fails_the_render_test() {
    let broken = fake_helm("echo 'Error: fake helm cannot render' >&2\nexit 1");
    let (code, text) = equivalence(&["fixtures/render/helm"], &[], Some(broken.path()));
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("fails BEFORE and is not listed as expected-unrenderable"),
        "{text}"
    );
    assert!(
        text.contains("0 target(s) compared, at least 2 expected"),
        "{text}"
    );
    assert!(!text.contains("OK: every render is equivalent"), "{text}");
}

/// Issue 17 item 1: a `helm` that renders nothing (exit 0, no output) compares no image
/// line: the minimums per Helm target fail it.
#[test]
fn a_helm_that_renders_no_image_fails_the_render_test() {
    let empty = fake_helm("exit 0");
    let (code, text) = equivalence(&["fixtures/render/helm"], &[], Some(empty.path()));
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(
            "helm template x .: 0 image line(s) compared, at least 4 expected for every Helm target"
        ),
        "{text}"
    );
    assert!(!text.contains("OK: every render is equivalent"), "{text}");
}
