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
    /// Set a new tag (and digest) on every reference to one image, as its Harbor path;
    /// optionally commit and push (race-safe).
    Bump(BumpArgs),
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

#[derive(Debug, Args)]
pub struct BumpArgs {
    /// Files or directories to process (directories are walked, honouring .gitignore).
    #[arg(value_name = "PATH", default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// The image to bump, upstream or Harbor form, without tag (ghcr.io/org/app).
    #[arg(long, value_name = "NAME")]
    pub image: String,
    /// The new tag.
    #[arg(long, value_name = "TAG")]
    pub tag: String,
    /// The new digest (sha256:...); set wherever the image is pinned or given a digest.
    #[arg(long, value_name = "DIGEST")]
    pub digest: Option<String>,
    /// Harbor host (HOST[:PORT], no scheme). Overrides `harbor.host` in the config.
    #[arg(long, env = "HARBORIZE_HARBOR", value_name = "HOST[:PORT]")]
    pub harbor: Option<String>,
    /// Config file (default: harborize.yaml found next to PATH or above it).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Also bump hints (env vars named like images, `--*image=` arguments).
    #[arg(long)]
    pub rewrite_hints: bool,
    /// Write nothing; exit 1 when changes are pending.
    #[arg(long, conflicts_with_all = ["commit", "push"])]
    pub dry_run: bool,
    /// Print a unified diff of every change.
    #[arg(long)]
    pub diff: bool,
    /// Commit the changed files (exactly those) with git.
    #[arg(long)]
    pub commit: bool,
    /// With --commit: go ahead when tracked files have uncommitted changes (only the
    /// run's own files are committed).
    #[arg(long)]
    pub allow_dirty: bool,
    /// Commit message template: {summary}, {images} (one `- old → new` line each), {count}.
    #[arg(long, value_name = "TEMPLATE")]
    pub message_template: Option<String>,
    /// Commit author name (else GIT_AUTHOR_NAME, GITHUB_ACTOR, git config user.name).
    #[arg(long, value_name = "NAME")]
    pub author_name: Option<String>,
    /// Commit author email (else GIT_AUTHOR_EMAIL, <GITHUB_ACTOR>@users.noreply.github.com, git config user.email).
    #[arg(long, value_name = "EMAIL")]
    pub author_email: Option<String>,
    /// Add a Signed-off-by trailer (the committer).
    #[arg(long)]
    pub signoff: bool,
    /// Push the commit to the current branch's remote (implies --commit). HTTPS uses a
    /// token from HARBORIZE_GIT_TOKEN or GITHUB_TOKEN; SSH the agent or ~/.ssh keys.
    #[arg(long)]
    pub push: bool,
    /// Remote to push to.
    #[arg(long, value_name = "NAME", default_value = "origin")]
    pub remote: String,
    /// When the remote moved: fetch, reset, bump again and retry this many times.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub push_retries: u32,
}
