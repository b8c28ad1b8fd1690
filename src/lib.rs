//! harborize: route every container image reference in a GitOps repository through a
//! Harbor proxy cache, editing only the bytes of the changed scalars.
//!
//! Pipeline (see ARCHITECTURE.md): walk → locate → map → plan → prove → verify/scan →
//! apply → publish → report.
//!
//! Only `commands/` (what a verb prints), `report/` (the renderers) and `term` (the
//! stderr sink for notes and warnings) write to stdout or stderr: a stage that has
//! something to say returns it or hands it to `term`, so `--quiet`, the machine formats and
//! the library's callers decide what reaches the terminal.
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod action_inputs;
pub mod bump;
pub mod checks;
pub mod cli;
#[allow(clippy::print_stdout, clippy::print_stderr)]
pub mod commands;
pub mod config;
pub mod exit;
pub mod finding;
pub mod fsio;
pub mod git_index;
pub mod harbor_api;
pub mod harbor_setup;
pub mod mapping;
pub mod migrate;
pub mod mirrors;
pub mod pipeline;
pub mod policy;
pub mod reference;
pub mod registry;
pub mod repo_path;
#[allow(clippy::print_stdout, clippy::print_stderr)]
pub mod report;
pub mod runtime;
pub mod target;
#[allow(clippy::print_stdout, clippy::print_stderr)]
pub mod term;
pub mod trivy;
pub mod vcs;
pub mod warm;
pub mod yaml;

use std::process::ExitCode;

use cli::{Cli, Command};

/// Run the parsed command line; errors print as `harborize failed` plus one `Cause:` line each.
#[allow(clippy::print_stdout, clippy::print_stderr)]
pub fn main_with(cli: Cli) -> ExitCode {
    term::init(cli.global.quiet, cli.global.verbose, cli.global.color);
    let result = match &cli.command {
        Command::Rewrite(a) => commands::rewrite::run(a),
        Command::Check(a) => commands::check::run(a),
        Command::Bump(a) => commands::bump::run(a),
        Command::Promote(a) => commands::promote::run(a),
        Command::Verify(a) => commands::verify::run(a),
        Command::Warm(a) => commands::warm::run(a),
        Command::Run(a) => commands::run::run(a),
        Command::Scan(a) => commands::scan::run(a),
        Command::Mirrors(a) => commands::mirrors::run(a),
        Command::Policy(a) => commands::policy::run(a),
        Command::Harbor(a) => commands::harbor::run(a),
        Command::Completions(a) => commands::completions::completions(a),
        Command::Man(a) => commands::completions::man(a),
        Command::Migrate(a) => commands::migrate::run(a),
        Command::Action(a) => commands::action::run(a),
        Command::Schema => {
            print!("{}", config::json_schema());
            Ok(commands::EXIT_OK)
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        // A reader that stopped reading (`harborize check . | head -1`) is a quiet,
        // successful end, as in ripgrep: the output went where it was wanted.
        Err(e) if is_broken_pipe(&e) => ExitCode::from(commands::EXIT_OK),
        Err(e) => {
            eprintln!("harborize failed");
            for cause in e.chain() {
                eprintln!("  Cause: {}", report::escape_text(&cause.to_string()));
            }
            ExitCode::from(commands::EXIT_ERROR)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
