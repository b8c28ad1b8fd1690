//! The README's command lines, run as written (issue #14, item 5): every line of every
//! `sh` code block is either run here, offline, or listed in [`NOT_RUN`] with the reason it
//! cannot be (network, a Harbor, secrets, root, a release build). A new README command that
//! is neither fails this test, so the README cannot drift from the binary unnoticed.
//!
//! Lines run in a sandbox: a temporary directory holding the README's own harborize.yaml,
//! with `/etc/` mapped to `<sandbox>/etc/` and `harborize` on PATH being the binary under
//! test.

use std::path::Path;
use std::process::Command;

/// (start of the command line, why it is not run here).
const NOT_RUN: &[(&str, &str)] = &[
    (
        "scripts/demo.sh",
        "a build of the project (minutes); run by tests/integration/demo.rs",
    ),
    (
        "scripts/test.sh",
        "installs the test tools and runs this very suite",
    ),
    (
        "export HARBORIZE_USERNAME",
        "secrets: Harbor administrator credentials",
    ),
    (
        "harborize harbor setup",
        "network: a Harbor and its administrator credentials",
    ),
    (
        "harborize migrate",
        "network: --verify through a Harbor (and git remotes, --push)",
    ),
    (
        "harborize bump",
        "network and secrets: --push to a remote with a token",
    ),
    ("v=", "network: a published GitHub release"),
    ("curl ", "network: a published GitHub release"),
    (
        "grep \" harborize-",
        "the files of a published GitHub release",
    ),
    (
        "harborize promote",
        "network and secrets: --pull-request opens it through GitHub's API with a token",
    ),
    ("docker ", "a Docker engine and the published image"),
    ("pip install", "network: the published wheel on PyPI"),
    ("pipx ", "network: the published wheel on PyPI"),
    ("cargo install", "a release build of the project (minutes)"),
    ("cargo build", "a release build of the project (minutes)"),
];

/// The command lines of the README's `sh` blocks: `\`-continuations joined, indentation and
/// whole-line and trailing `# comments` dropped.
fn readme_commands(readme: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for line in readme.lines() {
        let t = line.trim();
        if let Some(lang) = t.strip_prefix("```") {
            in_sh = !in_sh && matches!(lang, "sh" | "bash" | "shell");
            continue;
        }
        // A whole-line comment is prose, not a command.
        if !in_sh || t.is_empty() || (pending.is_empty() && t.starts_with('#')) {
            continue;
        }
        if let Some(head) = t.strip_suffix('\\') {
            pending.push_str(head.trim_end());
            pending.push(' ');
            continue;
        }
        pending.push_str(t);
        let cmd = match pending.find(" #") {
            Some(i) => pending[..i].trim_end().to_string(),
            None => pending.clone(),
        };
        out.push(cmd);
        pending.clear();
    }
    out
}

/// The README's harborize.yaml: the `yaml` block that starts with its file-name comment.
fn readme_config(readme: &str) -> String {
    let start = readme
        .find("# harborize.yaml (at the root of the GitOps repository)")
        .expect("README shows harborize.yaml");
    let end = readme[start..].find("```").unwrap();
    readme[start..start + end].to_string()
}

#[test]
fn readme_commands_run_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let sandbox = tmp.path();
    std::fs::write(sandbox.join("harborize.yaml"), readme_config(&readme)).unwrap();
    let bin = sandbox.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(crate::support::common::binary(), bin.join("harborize")).unwrap();
    // The parents a node has (the README writes into them; it does not create them).
    for d in ["etc/rancher/k3s", "etc/ssl/certs", "etc/containerd"] {
        std::fs::create_dir_all(sandbox.join(d)).unwrap();
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let mut ran = Vec::new();
    for cmd in readme_commands(&readme) {
        if let Some((_, why)) = NOT_RUN.iter().find(|(p, _)| cmd.starts_with(p)) {
            eprintln!("not run ({why}): {cmd}");
            continue;
        }
        assert!(
            cmd.starts_with("harborize "),
            "README command neither run nor listed in NOT_RUN: {cmd}"
        );
        let sandboxed = cmd.replace(" /etc/", &format!(" {}/etc/", sandbox.display()));
        let out = Command::new("sh")
            .arg("-c")
            .arg(&sandboxed)
            .current_dir(sandbox)
            .env_clear()
            .env("PATH", &path)
            .env("HOME", sandbox)
            .output()
            .expect("sh runs");
        assert!(
            out.status.success(),
            "README command failed: {cmd}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        ran.push(cmd);
    }
    assert!(ran.len() >= 2, "{ran:?}");

    // k3s reads /etc/rancher/k3s/registries.yaml.
    let k3s = std::fs::read_to_string(sandbox.join("etc/rancher/k3s/registries.yaml")).unwrap();
    assert!(k3s.contains("mirrors:"), "{k3s}");
    // containerd reads <config_path>/<host>/hosts.toml with config_path = /etc/containerd/certs.d.
    let certs = sandbox.join("etc/containerd/certs.d");
    for host in ["docker.io", "ghcr.io", "quay.io", "registry.k8s.io"] {
        let toml = certs.join(host).join("hosts.toml");
        let text =
            std::fs::read_to_string(&toml).unwrap_or_else(|e| panic!("{}: {e}", toml.display()));
        assert!(text.contains("https://harbor.example.com/v2/"), "{text}");
        assert!(text.contains("/etc/ssl/certs/harbor-ca.crt"), "{text}");
    }
    assert!(
        !certs.join("certs.d").exists(),
        "certs.d/certs.d: containerd never reads it"
    );
}

#[test]
fn readme_command_lines_are_extracted_as_a_shell_reads_them() {
    let md = "x\n```sh\n  a --b \\\n    --c d   # note\n\n e\n```\n```yaml\nf: g\n```\n";
    assert_eq!(readme_commands(md), ["a --b --c d", "e"]);
}
