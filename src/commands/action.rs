//! `harborize action`: the entrypoint of the GitHub Action (action.yml, a composite action
//! that runs the release binary; or the image `docker://ghcr.io/harborize/harborize`).
//!
//! The inputs (`INPUT_<NAME>`) become a harborize command line in
//! [`crate::action_inputs`]; this command runs it as a child process, so an input can never
//! inject a flag or a command. Secrets go to the child's environment only (never argv).
//!
//! The `pull-request` input is the `--pull-request` switch of `bump`, `run` and `migrate`
//! (with `github-token` as the token the pull request is opened with).
//!
//! Outputs: commands that know them (`bump`, `run`) write `changed`, `commit`, `pr-url` and
//! `images` to `$GITHUB_OUTPUT` themselves (`migrate --pull-request` writes `pr-url`: each
//! pull request's URL, space-separated). Whatever the child did not write, this command
//! fills in afterwards: `changed` and `commit` from git (the working tree or HEAD moved),
//! `pr-url` empty and `images` `[]`, so every declared output always exists.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use clap::CommandFactory;

use super::ExitStatus;
pub use crate::action_inputs::{input, Mapping, Plan, INPUTS, OUTPUTS};
use crate::cli::{ActionArgs, Cli};

/// Build the plan from the inputs (`env` looks a variable up) for harborize's command line.
pub fn plan(env: impl Fn(&str) -> Option<String>) -> Result<Plan> {
    crate::action_inputs::plan(&Cli::command(), env)
}

pub fn run(args: &ActionArgs) -> Result<ExitStatus> {
    let plan = plan(|k| std::env::var(k).ok())?;
    if args.print {
        println!("{}", serde_json::to_string_pretty(&plan)?);
        return Ok(super::EXIT_OK);
    }
    let exe = std::env::current_exe().context("cannot find the harborize binary")?;
    let cwd = plan.cwd.clone().unwrap_or_else(|| PathBuf::from("."));
    eprintln!("harborize action: harborize {}", plan.argv.join(" "));
    let output_file = std::env::var_os("GITHUB_OUTPUT").map(PathBuf::from);
    let output_start = output_file
        .as_ref()
        .and_then(|p| std::fs::metadata(p).ok())
        .map_or(0, |m| m.len());
    let before = git_state(&cwd);
    let status = Command::new(exe)
        .args(&plan.argv)
        .envs(&plan.env)
        .current_dir(&cwd)
        .status()
        .with_context(|| format!("cannot run harborize in {}", cwd.display()))?;
    let code = ExitStatus::from_child(status.code());
    if let Some(path) = output_file {
        let after = git_state(&cwd);
        write_missing_outputs(&path, output_start, before, after)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(code)
}

/// HEAD and `git status --porcelain` of the working tree, when `dir` is in a git repository.
fn git_state(dir: &Path) -> Option<(String, String)> {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let head = git(&["rev-parse", "--verify", "-q", "HEAD"]).unwrap_or_default();
    let status = git(&["status", "--porcelain=v1", "-z", "--untracked-files=all"])?;
    Some((head.trim().to_string(), status))
}

/// The output names the child wrote after byte `start` of the `$GITHUB_OUTPUT` file.
pub fn written_outputs(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delim)) = line.split_once("<<") {
            names.push(name.to_string());
            for l in lines.by_ref() {
                if l == delim {
                    break;
                }
            }
        } else if let Some((name, _)) = line.split_once('=') {
            names.push(name.to_string());
        }
    }
    names
}

fn write_missing_outputs(
    path: &Path,
    start: u64,
    before: Option<(String, String)>,
    after: Option<(String, String)>,
) -> std::io::Result<()> {
    let text = std::fs::read(path).unwrap_or_default();
    let new = String::from_utf8_lossy(text.get(start as usize..).unwrap_or_default());
    let written = written_outputs(&new);
    let (changed, commit) = match (before, after) {
        (Some((head0, status0)), Some((head1, status1))) => {
            let moved = head0 != head1;
            (
                (moved || status0 != status1).to_string(),
                if moved { head1 } else { String::new() },
            )
        }
        _ => (String::new(), String::new()),
    };
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)?;
    for (name, value) in [
        ("changed", changed),
        ("commit", commit),
        ("pr-url", String::new()),
        ("images", "[]".to_string()),
    ] {
        if !written.iter().any(|w| w == name) {
            writeln!(file, "{name}={value}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn inputs_become_argv_elements() {
        let p = plan(env(&[
            ("INPUT_COMMAND", "check"),
            ("INPUT_HARBOR", "h.example.com"),
            ("INPUT_STRICT", "true"),
            ("INPUT_DRY-RUN", "false"),
            ("INPUT_PATHS", "apps  -rf\nclusters"),
            ("INPUT_GITHUB-TOKEN", "s3cret"),
        ]))
        .unwrap();
        assert_eq!(
            p.argv,
            [
                "check",
                "--harbor=h.example.com",
                "--strict",
                "--",
                "apps",
                "-rf",
                "clusters"
            ]
        );
        assert_eq!(p.env["GITHUB_TOKEN"], "s3cret");
        assert!(!serde_json::to_string(&p).unwrap().contains("s3cret"));
    }

    #[test]
    fn inputs_that_do_not_apply_are_errors() {
        let e = plan(env(&[
            ("INPUT_COMMAND", "check"),
            ("INPUT_DRY-RUN", "true"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(e.contains("dry-run"), "{e}");
        let e = plan(env(&[("INPUT_COMMAND", "sh -c id")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a harborize command"), "{e}");
        let e = plan(env(&[("INPUT_STRICT", "maybe")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("true or false"), "{e}");
    }

    #[test]
    fn outputs_written_by_the_child_are_found() {
        let names = written_outputs("changed=true\nimages<<EOF\na=b\nEOF\ncommit=abc\n");
        assert_eq!(names, ["changed", "images", "commit"]);
    }
}
