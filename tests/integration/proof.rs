//! The re-parse proof is reachable from the binary (issue 17 item 2): `rewrite` and `bump`
//! meet edits the proof must refuse and exit 2 with the file untouched. No real input is
//! known to make the planner emit a wrong edit, so the edits are spoiled on purpose by the
//! debug-build hook `HARBORIZE_TEST_TAMPER_EDITS` (src/yaml/tamper.rs), which only makes
//! edits wrong and never skips the proof. Were a write path to splice without
//! `apply_checked`, the spoiled (or the right) bytes would reach the disk and these tests
//! would fail.

use crate::support::common;

use std::path::Path;
use std::process::Output;

use common::*;

const ENV: &str = "HARBORIZE_TEST_TAMPER_EDITS";
const MODES: [&str; 2] = ["structure", "scalar"];

const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app # keep\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: ghcr.io/org/app:v1\n        - name: side\n          image: nginx:1.25\n";

/// A second document without any image keyword: `bump` proves its edits on a view with
/// that document blanked (`apply_checked_on_view`), the other path into the proof.
const CONFIG_DOC: &str =
    "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  level: debug\n";

fn run_tampered(args: &[&str], mode: Option<&str>) -> Output {
    let mut cmd = harborize();
    cmd.args(args);
    if let Some(m) = mode {
        cmd.env(ENV, m);
    }
    cmd.output().expect("harborize runs")
}

/// Run `args` on a fresh copy of `text` once untampered (the input really plans an edit
/// that reaches the disk) and once per tamper mode (exit 2, the bug message, the file's
/// bytes unchanged and nothing else left in its directory).
fn assert_refused(what: &str, text: &str, args: impl Fn(&Path) -> Vec<String>) {
    let control = tempfile::tempdir().unwrap();
    let file = control.path().join("deploy.yaml");
    std::fs::write(&file, text).unwrap();
    let a = args(control.path());
    let out = run_tampered(&a.iter().map(String::as_str).collect::<Vec<_>>(), None);
    assert_eq!(
        code(&out),
        0,
        "{what} untampered: {}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_ne!(
        std::fs::read_to_string(&file).unwrap(),
        text,
        "{what}: the input must plan an edit"
    );

    for mode in MODES {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("deploy.yaml");
        std::fs::write(&file, text).unwrap();
        let a = args(tmp.path());
        let out = run_tampered(
            &a.iter().map(String::as_str).collect::<Vec<_>>(),
            Some(mode),
        );
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert_eq!(code(&out), 2, "{what} ({mode}): exit code\n{all}");
        assert!(
            all.contains("edit check failed") || all.contains("does not parse"),
            "{what} ({mode}): no proof failure reported\n{all}"
        );
        assert!(
            all.contains("nothing was written"),
            "{what} ({mode}): {all}"
        );
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            text,
            "{what} ({mode}): file touched"
        );
        assert_eq!(
            files(tmp.path()),
            vec![Path::new("deploy.yaml").to_path_buf()],
            "{what} ({mode}): stray files"
        );
    }
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "the tamper hook exists in debug builds only"
)]
fn rewrite_exits_2_and_writes_nothing_when_the_proof_refuses_an_edit() {
    let args = |dir: &Path| {
        vec![
            "rewrite".to_string(),
            dir.display().to_string(),
            "--harbor".into(),
            HARBOR.into(),
        ]
    };
    assert_refused("rewrite", DEPLOY, args);
    assert_refused(
        "rewrite, two documents",
        &format!("{DEPLOY}{CONFIG_DOC}"),
        args,
    );
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "the tamper hook exists in debug builds only"
)]
fn bump_exits_2_and_writes_nothing_when_the_proof_refuses_an_edit() {
    let args = |dir: &Path| {
        [
            "bump",
            "--harbor",
            HARBOR,
            "--image",
            "ghcr.io/org/app",
            "--tag",
            "v2",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([dir.display().to_string()])
        .collect()
    };
    // One document: `apply_checked`; a blanked second document: `apply_checked_on_view`.
    assert_refused("bump", DEPLOY, args);
    assert_refused(
        "bump, blanked document",
        &format!("{DEPLOY}{CONFIG_DOC}"),
        args,
    );
}
