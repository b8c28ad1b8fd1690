//! `harborize policy` (issue 15 item 2): the admission policies admit and deny exactly
//! the requests of one shared table (tests/policy_table.json), each format evaluated by a
//! real engine: the ValidatingAdmissionPolicy's CEL by cel-python, the Gatekeeper Rego by
//! regorus (as Rego v1 and v0), the Kyverno ClusterPolicy validated against Kyverno's CRD
//! schema (cloudcoil-models-kyverno) and its patterns checked by a small evaluator of the
//! subset harborize emits (Kyverno itself is Go and cannot run here; the evaluator lives
//! in tests/policy_engines.py and refuses any construct it does not implement).
//! The engines come from scripts/install-test-tools.sh (its venv, .tools/venv).

use crate::support::common::{self, code, stderr, stdout};

use std::path::Path;
use std::process::Command;

const TABLE: &str = "tests/policy_table.json";

/// Run tests/policy_engines.py for one format; asserts it ran and agreed with the table.
fn engines_agree(format: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(crate::support::common::venv_python())
        .current_dir(root)
        .arg("tests/policy_engines.py")
        .arg("--harborize")
        .arg(crate::support::common::binary())
        .args(["--table", TABLE, "--formats", format])
        .output()
        .expect("python runs");
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert_ne!(
        code(&out),
        2,
        "a policy engine is missing: run `bash scripts/install-test-tools.sh` and `source scripts/test-env.sh`\n{text}"
    );
    assert_eq!(
        code(&out),
        0,
        "{format}: the policy disagrees with the table:\n{text}"
    );
    // Not vacuous: every case of the table, with and without --require-digest.
    let table: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join(TABLE)).unwrap()).unwrap();
    let cases = table["cases"].as_array().unwrap().len();
    assert!(cases >= 40, "the table shrank to {cases} cases");
    assert!(
        text.contains(&format!("{format}: {} requests", 2 * cases)),
        "{text}"
    );
    assert!(text.contains("OK: every engine admits exactly"), "{text}");
}

#[test]
fn kyverno_cluster_policy_fits_the_crd_schema_and_admits_exactly_the_table() {
    engines_agree("kyverno");
}

#[test]
fn validating_admission_policy_cel_admits_exactly_the_table() {
    engines_agree("vap");
}

#[test]
fn gatekeeper_rego_admits_exactly_the_table() {
    engines_agree("gatekeeper");
}

#[test]
fn policy_refuses_a_glob_no_format_can_express_with_exit_2_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("harborize.yaml"),
        "harbor: {host: harbor.example.com}\npolicy:\n  allow: ['ghcr.io/[ab]/*']\n",
    )
    .unwrap();
    let target = dir.path().join("policy.yaml");
    let out = common::run(&[
        "policy",
        "--format",
        "vap",
        "--out",
        target.to_str().unwrap(),
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("harborize.yaml: policy.allow[0]"), "{err}");
    assert!(err.contains("only `*` and `?`"), "{err}");
    assert!(!target.exists());
    assert!(stdout(&out).is_empty());
}

#[test]
fn policy_out_writes_the_file_and_notes_the_short_forms_it_cannot_admit() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("harborize.yaml"),
        "harbor: {host: harbor.example.com}\npolicy:\n  mode: enforce\n  allow: [docker.io/library/busybox]\n",
    )
    .unwrap();
    let target = dir.path().join("kyverno.yaml");
    let out = common::run(&[
        "policy",
        "--format",
        "kyverno",
        "--out",
        target.to_str().unwrap(),
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = std::fs::read_to_string(&target).unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
            .as_str(),
    )
    .unwrap();
    // policy.mode from harborize.yaml, when no --mode is given
    assert_eq!(doc["spec"]["validationFailureAction"], "Enforce");
    let image = doc["spec"]["rules"][0]["validate"]["pattern"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(image.contains("library/busybox:*"), "{image}");
    // `busybox:*` would admit a registry `busybox:5000/...`
    assert!(
        !image.split(" | ").any(|p| p.starts_with("busybox")),
        "{image}"
    );
    assert!(
        stderr(&out).contains("note: policy.allow[0]: the short form `busybox`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_action_runs_command_policy() {
    let out = common::harborize()
        .args(["action", "--print"])
        .env("INPUT_COMMAND", "policy")
        .env("INPUT_FORMAT", "gatekeeper")
        .env("INPUT_PATHS", "clusters/prod")
        .env(
            "INPUT_ARGS",
            "--mode=enforce\n--out=policy/harbor-images.yaml",
        )
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let plan = common::json(&out);
    assert_eq!(
        plan["argv"],
        serde_json::json!([
            "policy",
            "--format=gatekeeper",
            "--mode=enforce",
            "--out=policy/harbor-images.yaml",
            "--",
            "clusters/prod"
        ])
    );
}
