//! The command line: clap definitions only. Every flag with a config or env twin says so.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::report::Format;

#[derive(Debug, Parser)]
#[command(
    name = "harborize",
    version,
    about = "Route every container image reference in a GitOps repository through Harbor, byte-exact."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Rewrite image references to their Harbor proxy-cache paths, in place.
    Rewrite(RewriteArgs),
    /// Report references that bypass Harbor; writes nothing (exit 1 when any would change).
    Check(CheckArgs),
    /// Print the JSON Schema of harborize.yaml.
    Schema,
}

/// Options shared by every command that reads a repository.
#[derive(Debug, Args)]
pub struct Common {
    /// Files or directories to process (directories are walked, honouring .gitignore).
    #[arg(value_name = "PATH", default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// Harbor host (HOST[:PORT], no scheme). Overrides `harbor.host` in the config.
    #[arg(long, env = "HARBORIZE_HARBOR", value_name = "HOST[:PORT]")]
    pub harbor: Option<String>,
    /// Config file (default: harborize.yaml found next to PATH or above it).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Map Harbor proxy paths back to their upstream references (familiar short form).
    #[arg(long)]
    pub revert: bool,
    /// Also rewrite hints (env vars named like images, `--*image=` arguments).
    #[arg(long)]
    pub rewrite_hints: bool,
}

#[derive(Debug, Args)]
pub struct RewriteArgs {
    #[command(flatten)]
    pub common: Common,
    /// Write nothing; exit 1 when changes are pending.
    #[arg(long)]
    pub dry_run: bool,
    /// Print a unified diff of every change.
    #[arg(long)]
    pub diff: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub common: Common,
    /// Also fail on unmapped registries and invalid references.
    #[arg(long)]
    pub strict: bool,
    /// Print the unified diff the rewrite would make.
    #[arg(long)]
    pub diff: bool,
}
