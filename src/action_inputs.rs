//! The inputs of the GitHub Action (action.yml) and the harborize command line they become.
//!
//! The inputs arrive as environment variables `INPUT_<NAME>`: the composite action sets
//! them with underscores (`INPUT_DRY_RUN`); a runner hands a Docker action hyphens kept
//! (`INPUT_DRY-RUN`, which no shell can read but a program can). Both are read.
//! [`plan`] maps them to a harborize command line (one argv element per value, never a
//! shell string), checked against the command line's definition (given as a
//! `clap::Command`, so this module does not depend on `cli`), so an input can never inject a
//! flag or a command: flag values are passed as `--flag=value`, paths after `--`.
//!
//! Secrets go to the child's environment only (never argv): `github-token` → `GITHUB_TOKEN`,
//! `harbor-username`/`harbor-password` → `HARBORIZE_USERNAME`/`HARBORIZE_PASSWORD`.
//! `commands::action` runs the plan and fills in the outputs the child did not write.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Result};

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

/// Build the plan from the inputs (`env` looks a variable up) for the command line `root`
/// defines (the subcommands, their flags and positionals).
pub fn plan(root: &clap::Command, env: impl Fn(&str) -> Option<String>) -> Result<Plan> {
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
