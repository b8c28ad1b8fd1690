//! `harborize action`: the entrypoint of the GitHub Action (action.yml, a composite action
//! that runs the release binary; or the image `docker://ghcr.io/harborize/harborize`).
//!
//! The inputs arrive as environment variables `INPUT_<NAME>`: the composite action sets
//! them with underscores (`INPUT_DRY_RUN`); a runner hands a Docker action hyphens kept
//! (`INPUT_DRY-RUN`, which no shell can read but a program can). Both are read.
//! This command maps them to a harborize command line (one argv element per value, never a
//! shell string) and runs it as a child process, so an input can never inject a flag or a
//! command: flag values are passed as `--flag=value`, paths after `--`.
//!
//! Secrets go to the child's environment only (never argv): `github-token` → `GITHUB_TOKEN`,
//! `harbor-username`/`harbor-password` → `HARBORIZE_USERNAME`/`HARBORIZE_PASSWORD`.
//!
//! The `pull-request` input is the `--pull-request` switch of `bump`, `run` and `migrate`
//! (with `github-token` as the token the pull request is opened with).
//!
//! Outputs: commands that know them (`bump`, `run`) write `changed`, `commit`, `pr-url` and
//! `images` to `$GITHUB_OUTPUT` themselves (`migrate --pull-request` writes `pr-url`: each
//! pull request's URL, space-separated). Whatever the child did not write, this command
//! fills in afterwards: `changed` and `commit` from git (the working tree or HEAD moved),
//! `pr-url` empty and `images` `[]`, so every declared output always exists.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::CommandFactory;

use super::ExitStatus;
use crate::cli::{ActionArgs, Cli};

/// How one action input reaches the binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mapping {
    /// The subcommand (`check`, `rewrite`, `bump`, ...).
    Command,
    /// Positional PATH arguments, whitespace-separated, after `--`.
    Paths,
    /// `--<input name>`: a switch for `true`/`false` inputs, `--<name>=<value>` otherwise.
    Flag,
    /// An environment variable of the child process (secrets).
    Env(&'static str),
    /// The directory the command runs in (relative to the workspace).
    WorkingDirectory,
    /// Extra arguments, one per line, appended as they are.
    ExtraArgs,
    /// `sarif-file`: `scan --format=sarif --output=FILE` (the file
    /// github/codeql-action/upload-sarif uploads); only `scan` writes SARIF.
    SarifFile,
}

/// Every input of action.yml and where it goes. tests/integration/packaging.rs checks that this table
/// and action.yml's `inputs` are the same set, and that README.md documents each input.
pub const INPUTS: &[(&str, Mapping)] = &[
    ("command", Mapping::Command),
    ("paths", Mapping::Paths),
    ("harbor", Mapping::Flag),
    ("config", Mapping::Flag),
    ("format", Mapping::Flag),
    ("strict", Mapping::Flag),
    ("dry-run", Mapping::Flag),
    ("image", Mapping::Flag),
    ("tag", Mapping::Flag),
    ("digest", Mapping::Flag),
    ("all", Mapping::Flag),
    ("from", Mapping::Flag),
    ("to", Mapping::Flag),
    ("verify", Mapping::Flag),
    ("scan", Mapping::Flag),
    ("warm", Mapping::Flag),
    ("severity", Mapping::Flag),
    ("cacert", Mapping::Flag),
    ("push", Mapping::Flag),
    ("pull-request", Mapping::Flag),
    ("github-token", Mapping::Env("GITHUB_TOKEN")),
    ("harbor-username", Mapping::Env("HARBORIZE_USERNAME")),
    ("harbor-password", Mapping::Env("HARBORIZE_PASSWORD")),
    ("working-directory", Mapping::WorkingDirectory),
    ("args", Mapping::ExtraArgs),
    ("sarif-file", Mapping::SarifFile),
];

/// The outputs every run of the action sets.
pub const OUTPUTS: [&str; 4] = ["changed", "commit", "pr-url", "images"];

/// Commands the action may run.
const NOT_FROM_ACTION: [&str; 4] = ["action", "help", "completions", "man"];

/// The command line, environment and directory built from the inputs.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Plan {
    /// Arguments after the program name.
    pub argv: Vec<String>,
    /// Child environment (values are secrets: never printed).
    #[serde(skip)]
    pub env: BTreeMap<String, String>,
    /// Names of the variables in `env`, for `--print`.
    pub env_names: Vec<String>,
    /// Directory to run in.
    pub cwd: Option<PathBuf>,
}

/// The value of input `name` from the environment: `INPUT_DRY-RUN` as the runner sets it,
/// or `INPUT_DRY_RUN` (for local testing with a shell). Empty means unset.
pub fn input(env: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    let upper = name.to_ascii_uppercase().replace(' ', "_");
    let value = env(&format!("INPUT_{upper}"))
        .or_else(|| env(&format!("INPUT_{}", upper.replace('-', "_"))))?;
    let value = value.trim().to_string();
    (!value.is_empty()).then_some(value)
}

fn parse_bool(name: &str, value: &str) -> Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "on" => Ok(true),
        "false" | "no" | "0" | "off" => Ok(false),
        _ => bail!("input `{name}` must be true or false, got {value:?}"),
    }
}

/// Build the plan from the inputs (`env` looks a variable up).
pub fn plan(env: impl Fn(&str) -> Option<String>) -> Result<Plan> {
    let root = Cli::command();
    let command = input(&env, "command").unwrap_or_else(|| "check".to_string());
    let Some(sub) = root
        .get_subcommands()
        .find(|s| s.get_name() == command && !NOT_FROM_ACTION.contains(&s.get_name()))
    else {
        let known: Vec<&str> = root
            .get_subcommands()
            .map(|s| s.get_name())
            .filter(|n| !NOT_FROM_ACTION.contains(n))
            .collect();
        bail!(
            "input `command`: {command:?} is not a harborize command (one of: {})",
            known.join(", ")
        );
    };
    let mut plan = Plan {
        argv: vec![command.clone()],
        ..Plan::default()
    };
    let mut paths = Vec::new();
    let mut extra = Vec::new();
    for &(name, mapping) in INPUTS {
        let Some(value) = input(&env, name) else {
            continue;
        };
        match mapping {
            Mapping::Command => {}
            Mapping::Paths => {
                if sub.get_positionals().next().is_none() {
                    bail!(
                        "input `paths` does not apply to `harborize {command}` (it takes no PATH)"
                    );
                }
                paths.extend(value.split_whitespace().map(str::to_string));
            }
            Mapping::Flag => {
                let arg = sub
                    .get_arguments()
                    .find(|a| a.get_long() == Some(name) && !a.is_positional());
                let takes_value = arg.map(|a| a.get_action().takes_values());
                match takes_value {
                    Some(false) | None
                        if matches!(value.to_ascii_lowercase().as_str(), "false" | "no" | "0" | "off") =>
                    {
                        // a switch left off, whether or not the command has it
                    }
                    None => bail!(
                        "input `{name}` does not apply to `harborize {command}` (it has no --{name})"
                    ),
                    Some(false) => {
                        if parse_bool(name, &value)? {
                            plan.argv.push(format!("--{name}"));
                        }
                    }
                    Some(true) => plan.argv.push(format!("--{name}={value}")),
                }
            }
            Mapping::Env(var) => {
                plan.env.insert(var.to_string(), value);
            }
            Mapping::WorkingDirectory => plan.cwd = Some(PathBuf::from(value)),
            Mapping::SarifFile => {
                if command != "scan" {
                    bail!("input `sarif-file` applies to `command: scan` only (got {command:?})");
                }
                if input(&env, "format").is_some_and(|f| !f.eq_ignore_ascii_case("sarif")) {
                    bail!(
                        "input `sarif-file` writes SARIF: leave `format` empty or set it to sarif"
                    );
                }
                plan.argv.retain(|a| !a.starts_with("--format="));
                plan.argv.push("--format=sarif".to_string());
                // relative to the workspace, where upload-sarif looks, not to the
                // working-directory the command runs in
                let file = PathBuf::from(&value);
                let file = match input(&env, "working-directory") {
                    Some(_) if file.is_relative() => std::env::current_dir()?.join(file),
                    _ => file,
                };
                plan.argv.push(format!("--output={}", file.display()));
            }
            Mapping::ExtraArgs => extra.extend(
                value
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_string),
            ),
        }
    }
    plan.argv.extend(extra);
    if !paths.is_empty() {
        plan.argv.push("--".to_string());
        plan.argv.extend(paths);
    }
    plan.env_names = plan.env.keys().cloned().collect();
    Ok(plan)
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
