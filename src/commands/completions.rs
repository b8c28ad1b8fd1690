//! `harborize completions SHELL` and `harborize man`: generated from the clap definitions,
//! so they always list every command and flag the binary has, and nothing users cannot
//! type: hidden commands (the Action's entrypoint) and clap's `help` pseudo-command stay
//! out of completions and pages. Every page ends with an EXIT STATUS section.

use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use clap::CommandFactory;

use super::{ExitStatus, EXIT_OK};
use crate::cli::{Cli, CompletionsArgs, ManArgs, EXIT_STATUS_HELP};

/// The command tree as users see it: the root rebuilt without its hidden subcommands
/// (clap_complete lists every subcommand, hidden or not), not yet built.
fn command() -> clap::Command {
    let full = Cli::command();
    let mut cmd = clap::Command::new("harborize")
        .bin_name("harborize")
        .version(env!("CARGO_PKG_VERSION"))
        .about(full.get_about().cloned().unwrap_or_default())
        .after_long_help(EXIT_STATUS_HELP)
        .subcommand_required(true)
        .args(full.get_arguments().cloned());
    for sub in full.get_subcommands().filter(|s| !s.is_hide_set()) {
        cmd = cmd.subcommand(sub.clone());
    }
    cmd
}

pub fn completions(args: &CompletionsArgs) -> Result<ExitStatus> {
    let mut cmd = command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut cmd, "harborize", &mut out);
    out.flush()?;
    Ok(EXIT_OK)
}

pub fn man(args: &ManArgs) -> Result<ExitStatus> {
    let mut cmd = command().disable_help_subcommand(true);
    cmd.build();
    match &args.out {
        None => {
            let mut out = std::io::stdout().lock();
            render(&cmd, &mut out)?;
            out.flush()?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            // One page per command: harborize.1, harborize-rewrite.1, harborize-harbor-setup.1…
            write_pages(&cmd, dir)
                .with_context(|| format!("cannot write man pages to {}", dir.display()))?;
            crate::term::note(format!("wrote man pages to {}", dir.display()));
        }
    }
    Ok(EXIT_OK)
}

fn write_pages(cmd: &clap::Command, dir: &Path) -> std::io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, dir)?;
    }
    let name = cmd.get_display_name().unwrap_or(cmd.get_name());
    let mut file = std::fs::File::create(dir.join(format!("{name}.1")))?;
    render(cmd, &mut file)?;
    file.flush()
}

/// clap_mangen's sections, with EXIT STATUS (man-pages(7) order) before VERSION.
fn render(cmd: &clap::Command, w: &mut dyn std::io::Write) -> std::io::Result<()> {
    let man = clap_mangen::Man::new(cmd.clone());
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    man.render_description_section(w)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(w)?;
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(w)?;
    }
    w.write_all(exit_status_roff().as_bytes())?;
    if cmd.get_version().is_some() {
        man.render_version_section(w)?;
    }
    Ok(())
}

/// The EXIT STATUS section in roff: one tagged paragraph per status.
fn exit_status_roff() -> String {
    let mut roff = String::from(".SH \"EXIT STATUS\"\n");
    let mut body = String::new();
    for line in EXIT_STATUS_HELP.lines().skip(1) {
        let line = line.trim();
        match line.split_once("  ") {
            Some((code, text)) if code.chars().all(|c| c.is_ascii_digit()) => {
                if !body.is_empty() {
                    roff.push_str(&body.replace('\\', "\\e"));
                    roff.push('\n');
                    body.clear();
                }
                roff.push_str(&format!(".TP\n\\fB{code}\\fR\n"));
                body.push_str(text.trim());
            }
            _ => {
                body.push(' ');
                body.push_str(line);
            }
        }
    }
    roff.push_str(&body.replace('\\', "\\e"));
    roff.push('\n');
    roff
}
