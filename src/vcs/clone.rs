//! Clones for `migrate`'s repository URLs: cloned into the workdir, or the clone an
//! earlier run left there reused (fetched, fast-forwarded when it has nothing of its own,
//! kept as it is otherwise). Credentials are those of every other remote operation
//! ([`git::remote_callbacks`]: the token only through libgit2's callback, only to its
//! hosts), and every error is scrubbed of the token and of URL credentials.

use std::cell::Cell;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use git2::build::{CheckoutBuilder, RepoBuilder};
use git2::{FetchOptions, Repository};

use crate::vcs::git::{self, Auth};

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
            fo.remote_callbacks(git::remote_callbacks(
                &tries,
                auth,
                git2::Config::open_default().ok(),
            ));
            RepoBuilder::new()
                .fetch_options(fo)
                .clone(url, &dir)
                .map_err(|e| {
                    anyhow!(
                        "cannot clone {}: {}",
                        git::redact_url(url),
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
    fo.remote_callbacks(git::remote_callbacks(
        &tries,
        auth,
        git2::Config::open_default().ok(),
    ));
    let spec = format!("+refs/heads/{remote_branch}:{tracking}");
    repo.find_remote("origin")?
        .fetch(&[spec.as_str()], Some(&mut fo), None)
        .map_err(|e| {
            anyhow!(
                "cannot fetch {}: {}",
                git::redact_url(url),
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
