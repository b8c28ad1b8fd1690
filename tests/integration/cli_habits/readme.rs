//! The README's command lines, run as written (issue #14, item 5): every line of every
//! `sh` code block is either run here, offline, or listed in [`NOT_RUN`] with the reason it
//! cannot be (network, a Harbor, secrets, root, a release build). A new README command that
//! is neither fails this test, so the README cannot drift from the binary unnoticed.
//!
//! Lines run in a sandbox: a temporary directory holding the README's own harborize.yaml,
//! with every absolute path of a command line (`/etc/…`, `/usr/local/…`, `~/…`, `$HOME/…`,
//! as an argument, after `--flag=` or a redirection) mapped into the sandbox
//! ([`sandboxed`]), HOME the sandbox, and `harborize` on PATH being the binary under test:
//! no README command reads or writes the real system.

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

/// Where an absolute path may start inside a shell word: its start, after `=` (`--out=/x`),
/// after a redirection (`>/x`, `2>>/x`) or an opening quote.
fn path_starts(word: &str) -> Vec<usize> {
    let b = word.as_bytes();
    (0..b.len())
        .filter(|&i| i == 0 || matches!(b[i - 1], b'=' | b'>' | b'<' | b'"' | b'\''))
        .collect()
}

/// `cmd` with every absolute path moved under `sandbox`: `/x` → `SANDBOX/x`, `~/x`, `~` and
/// `$HOME/x` → `SANDBOX/x`. URLs (`https://…`) are not paths; the sandbox itself is kept.
fn sandboxed(cmd: &str, sandbox: &Path) -> String {
    let root = sandbox.display().to_string();
    let words: Vec<String> = cmd
        .split(' ')
        .map(|word| {
            let mut out = String::new();
            let mut last = 0;
            for i in path_starts(word) {
                if i < last {
                    continue;
                }
                let rest = &word[i..];
                let skip = if rest.starts_with(&root) {
                    None
                } else if rest.starts_with('/') {
                    Some(0)
                } else if rest == "~" || rest.starts_with("~/") {
                    Some(1)
                } else if rest.starts_with("$HOME/") || rest == "$HOME" {
                    Some(5)
                } else if rest.starts_with("${HOME}") {
                    Some(7)
                } else {
                    None
                };
                if let Some(n) = skip {
                    out.push_str(&word[last..i]);
                    out.push_str(&root);
                    last = i + n;
                }
            }
            out.push_str(&word[last..]);
            out
        })
        .collect();
    words.join(" ")
}

/// The absolute paths a sandboxed command line still names outside the sandbox.
fn outside_sandbox(cmd: &str, sandbox: &Path) -> Vec<String> {
    let root = sandbox.display().to_string();
    cmd.split(' ')
        .flat_map(|w| path_starts(w).into_iter().map(move |i| &w[i..]))
        .filter(|p| {
            (p.starts_with('/') || p.starts_with('~') || p.starts_with("$HOME"))
                && !p.starts_with(&root)
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn every_absolute_path_of_a_readme_command_moves_into_the_sandbox() {
    let sb = Path::new("/tmp/sb");
    let cases = [
        (
            "harborize mirrors --format k3s --ca-file /etc/ssl/x.crt > /etc/rancher/k3s/r.yaml",
            "harborize mirrors --format k3s --ca-file /tmp/sb/etc/ssl/x.crt > /tmp/sb/etc/rancher/k3s/r.yaml",
        ),
        (
            "harborize man --out /usr/local/share/man/man1",
            "harborize man --out /tmp/sb/usr/local/share/man/man1",
        ),
        (
            "harborize completions bash >/etc/bash_completion.d/harborize 2>>~/err.log",
            "harborize completions bash >/tmp/sb/etc/bash_completion.d/harborize 2>>/tmp/sb/err.log",
        ),
        (
            "harborize mirrors --out=~/certs.d --ca-file=\"$HOME/ca.crt\"",
            "harborize mirrors --out=/tmp/sb/certs.d --ca-file=\"/tmp/sb/ca.crt\"",
        ),
        (
            "harborize check ./gitops https://github.com/my-org/platform.git /tmp/sb/x",
            "harborize check ./gitops https://github.com/my-org/platform.git /tmp/sb/x",
        ),
    ];
    for (cmd, want) in cases {
        let got = sandboxed(cmd, sb);
        assert_eq!(got, want, "{cmd}");
        assert!(outside_sandbox(&got, sb).is_empty(), "{got}");
    }
    assert_eq!(
        outside_sandbox("harborize x --out /usr/local/y > ~/z", sb),
        ["/usr/local/y", "~/z"]
    );
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
        let sandboxed = sandboxed(&cmd, sandbox);
        let outside = outside_sandbox(&sandboxed, sandbox);
        assert!(
            outside.is_empty(),
            "README command would touch the real system at {outside:?}: {cmd}"
        );
        // The directory a system has around each path the command names (the README writes
        // into /etc/rancher/k3s, /usr/local/share/man/…; it creates nothing above them).
        for p in sandboxed.split(' ').flat_map(|w| {
            path_starts(w)
                .into_iter()
                .map(move |i| w[i..].trim_matches(['"', '\'']))
        }) {
            if let Some(parent) = Path::new(p).parent().filter(|d| d.starts_with(sandbox)) {
                std::fs::create_dir_all(parent).unwrap();
            }
        }
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
