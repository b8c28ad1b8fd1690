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

use std::cell::Cell;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use git2::build::{CheckoutBuilder, RepoBuilder};
use git2::{FetchOptions, RemoteCallbacks, Repository};
use serde::{Deserialize, Serialize};

use crate::pipeline::plan::{self, PlanOptions};
use crate::vcs::git::Auth;

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
        }
    }
}

/// The directory name a clone of `url` gets: its last path segment without `.git`.
pub fn clone_name(url: &str) -> String {
    let trimmed = url.trim_end_matches('/');
    let last = trimmed
        .rsplit(['/', ':'])
        .next()
        .unwrap_or(trimmed)
        .trim_end_matches(".git");
    let name: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_matches('.').to_string();
    if name.is_empty() {
        "repo".into()
    } else {
        name
    }
}

/// Credentials for clones and fetches: a token from `HARBORIZE_GIT_TOKEN` / `GITHUB_TOKEN`
/// as the password of `x-access-token` (HTTPS, and only to the hosts the token is meant
/// for: [`crate::vcs::git::Auth::token_for`]), git's credential helpers, then SSH agent and
/// `~/.ssh` keys. The token only ever goes through libgit2's callback.
fn remote_callbacks<'a>(tries: &'a Cell<u32>, auth: &'a Auth) -> RemoteCallbacks<'a> {
    let mut cb = RemoteCallbacks::new();
    let config = git2::Config::open_default().ok();
    cb.credentials(move |url, user_from_url, allowed| {
        tries.set(tries.get() + 1);
        crate::vcs::git::credential(
            url,
            user_from_url,
            allowed,
            tries.get(),
            auth,
            config.as_ref(),
        )
    });
    cb
}

/// Clone `url` into `workdir/<name>`, or reuse the clone an earlier run left there
/// (fetched, and fast-forwarded when it has nothing of its own). Returns the work tree
/// and a note worth reporting.
pub fn clone_or_reuse(url: &str, workdir: &Path, auth: &Auth) -> Result<(PathBuf, Option<String>)> {
    std::fs::create_dir_all(workdir)
        .with_context(|| format!("cannot create the workdir {}", workdir.display()))?;
    let base = clone_name(url);
    for i in 1.. {
        let name = if i == 1 {
            base.clone()
        } else {
            format!("{base}-{i}")
        };
        let dir = workdir.join(&name);
        if !dir.exists() {
            let tries = Cell::new(0);
            let mut fo = FetchOptions::new();
            fo.remote_callbacks(remote_callbacks(&tries, auth));
            RepoBuilder::new()
                .fetch_options(fo)
                .clone(url, &dir)
                .map_err(|e| {
                    anyhow!(
                        "cannot clone {}: {}",
                        crate::vcs::git::redact_url(url),
                        auth.redact(e.message())
                    )
                })?;
            return Ok((dir, None));
        }
        let Ok(repo) = Repository::open(&dir) else {
            continue;
        };
        let origin = repo
            .find_remote("origin")
            .ok()
            .and_then(|r| r.url().map(str::to_string));
        if origin.as_deref() != Some(url) {
            continue;
        }
        let note = update_clone(&repo, url, auth)?;
        return Ok((dir, note));
    }
    unreachable!("the loop only ends by returning")
}

/// Fetch the clone's upstream branch; fast-forward when the clone has no commits of its own.
fn update_clone(repo: &Repository, url: &str, auth: &Auth) -> Result<Option<String>> {
    let head = repo.head().context("the clone has no commit")?;
    let Some(branch) = head.shorthand().filter(|_| head.is_branch()) else {
        return Ok(Some("the clone's HEAD is detached: used as it is".into()));
    };
    let branch = branch.to_string();
    let remote_branch = repo
        .config()
        .ok()
        .and_then(|c| c.get_string(&format!("branch.{branch}.merge")).ok())
        .and_then(|m| m.strip_prefix("refs/heads/").map(str::to_string))
        .unwrap_or_else(|| branch.clone());
    let tracking = format!("refs/remotes/origin/{remote_branch}");
    let tries = Cell::new(0);
    let mut fo = FetchOptions::new();
    fo.remote_callbacks(remote_callbacks(&tries, auth));
    let spec = format!("+refs/heads/{remote_branch}:{tracking}");
    repo.find_remote("origin")?
        .fetch(&[spec.as_str()], Some(&mut fo), None)
        .map_err(|e| {
            anyhow!(
                "cannot fetch {}: {}",
                crate::vcs::git::redact_url(url),
                auth.redact(e.message())
            )
        })?;
    let tip = repo.refname_to_id(&tracking)?;
    let local = repo.head()?.peel_to_commit()?.id();
    if local == tip {
        return Ok(None);
    }
    if repo.graph_descendant_of(local, tip)? {
        // An earlier run committed here and was stopped (or its push failed) before the
        // commits reached the remote: they are kept, and this run's push carries them, so
        // the report says so even when nothing is left to rewrite.
        let (ahead, _) = repo.graph_ahead_behind(local, tip)?;
        return Ok(Some(format!(
            "the clone has {ahead} commit(s) of an earlier run not yet on origin/{remote_branch}: kept, and pushed with this run's push"
        )));
    }
    if repo.graph_descendant_of(tip, local)? {
        let commit = repo.find_commit(tip)?;
        let mut co = CheckoutBuilder::new();
        co.safe();
        repo.checkout_tree(commit.as_object(), Some(&mut co))
            .context("cannot fast-forward the clone")?;
        repo.reference(
            &format!("refs/heads/{branch}"),
            tip,
            true,
            "harborize migrate: fast-forward",
        )?;
        return Ok(None);
    }
    Ok(Some(format!(
        "the clone's {branch} has diverged from origin/{remote_branch}: migrated as it is"
    )))
}

/// Write a file atomically, creating its directory (see [`crate::fsio::write_file`]).
pub fn write_atomic(path: &Path, text: &str) -> Result<()> {
    crate::fsio::write_file(path, text).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_names() {
        assert_eq!(clone_name("https://github.com/org/gitops.git"), "gitops");
        assert_eq!(clone_name("git@github.com:org/gitops.git"), "gitops");
        assert_eq!(clone_name("file:///srv/git/a b.git/"), "a-b");
        assert_eq!(clone_name("file:///"), "repo");
    }
}
