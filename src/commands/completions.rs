//! `harborize completions SHELL` and `harborize man`: generated from the clap definitions,
//! so they always list every command and flag the binary has.

use std::io::Write as _;

use anyhow::{Context, Result};
use clap::CommandFactory;

use super::EXIT_OK;
use crate::cli::{Cli, CompletionsArgs, ManArgs};

/// The command tree as users see it (hidden commands stay out of completions and pages).
fn command() -> clap::Command {
    let mut cmd = Cli::command();
    cmd.build();
    cmd
}

pub fn completions(args: &CompletionsArgs) -> Result<u8> {
    let mut cmd = command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut cmd, "harborize", &mut out);
    out.flush()?;
    Ok(EXIT_OK)
}

pub fn man(args: &ManArgs) -> Result<u8> {
    let cmd = command();
    match &args.out {
        None => {
            let mut out = std::io::stdout().lock();
            clap_mangen::Man::new(cmd).render(&mut out)?;
            out.flush()?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            // one page per command (harborize.1, harborize-rewrite.1, ...); hidden ones skipped
            clap_mangen::generate_to(cmd, dir)
                .with_context(|| format!("cannot write man pages to {}", dir.display()))?;
            eprintln!("wrote man pages to {}", dir.display());
        }
    }
    Ok(EXIT_OK)
}
