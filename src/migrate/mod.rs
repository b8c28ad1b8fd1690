//! The building blocks of `harborize migrate` (the `migrate` command module composes them
//! and prints), one file per section: where a repository comes from ([`source`]: a
//! directory, or a git URL cloned with git2, here), repository-relative paths and
//! top-level-directory batching ([`paths`]), the per-repository report ([`report`]) and
//! what the checks and the run's end make of it ([`outcome`]), the whole report
//! ([`summary`]) and its markdown ([`markdown`]), the resumable state file ([`state`]) and
//! the run over the list that keeps it ([`runner`]), Renovate `registryAliases`
//! ([`renovate`]), and the `imagePullSecrets` that only served upstream registries now
//! reached through Harbor ([`pull_secrets`]); `--shard` ([`shard`]) and `--merge-reports`
//! ([`report_merge`]) make it fan out.

pub mod markdown;
pub mod outcome;
pub mod paths;
pub mod pull_secrets;
pub mod renovate;
pub mod report;
pub mod report_merge;
pub mod runner;
pub mod shard;
pub mod source;
pub mod state;
pub mod summary;

pub use markdown::short;
pub use outcome::{ScanInfo, VerifyFailure, VerifyInfo};
pub use paths::{batches, relative, top_level_dir};
pub use pull_secrets::list::{
    pull_secrets_json, pull_secrets_markdown, secret_verdicts, SecretVerdict,
};
pub use pull_secrets::{pull_secrets, SecretUse};
pub use renovate::{registry_aliases, renovate_json};
pub use report::{
    Change, CommitInfo, FileChange, Location, RepoError, RepoReport, RepoStatus, RepoSummary, Stay,
};
pub use runner::{RunPaths, Runner};
pub use source::Source;
pub use state::{Finished, State};
pub use summary::{MigrationReport, MigrationSummary, Verdict};

use serde::{Deserialize, Serialize};

pub use crate::fsio::write_atomic;
use crate::pipeline::plan::{self, PlanOptions};
pub use crate::vcs::clone::{clone_name, clone_or_reuse};

/// How commits are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BatchBy {
    /// One commit per repository.
    Repo,
    /// One commit per top-level directory that changed (files at the root: one more).
    Dir,
}

/// Which way a run goes (also the key of finished repositories in the state file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    Migrate,
    Revert,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Migrate => "migrate",
            Direction::Revert => "revert",
        }
    }
    /// The plan's options for this direction.
    pub fn plan_options(self, rewrite_hints: bool) -> PlanOptions {
        PlanOptions {
            direction: match self {
                Direction::Migrate => plan::Direction::Forward,
                Direction::Revert => plan::Direction::Revert,
            },
            rewrite_hints,
            every_document: false,
        }
    }
}
