//! Render equivalence with the real renderers: `kubectl kustomize` (kubectl 1.29) and
//! `helm template` (helm 3.17) render the same objects before and after the rewrite,
//! with every image mapped through Harbor and nothing else different; `--revert` renders
//! the originals back. The comparison lives in tests/render_equivalence.py; this test
//! drives it with the binary under test. kubectl and helm come from
//! scripts/install-test-tools.sh (PATH set by scripts/test-env.sh).

use crate::support::common;

use std::path::Path;
use std::process::Command;

fn render(roots: &[&str], extra: &[&str]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .current_dir(root)
        .arg("tests/render_equivalence.py")
        .args(["--harborize", env!("CARGO_BIN_EXE_harborize")])
        .args(extra)
        .args(roots)
        .output()
        .expect("python3 runs");
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
    assert!(out.status.success(), "render difference:\n{text}");
    assert!(text.contains("OK: every render is equivalent"), "{text}");
    assert!(
        !text.contains("TOTAL: 0 render"),
        "no render was compared:\n{text}"
    );
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
