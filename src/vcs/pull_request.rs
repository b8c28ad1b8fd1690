//! The pull request step of the publish flow (`--pull-request` of bump, run, promote and
//! migrate): the client is made before anything is written (a missing token or an unknown
//! repository stops the run first), the change's commits go to a branch named after it,
//! and once that branch is pushed the pull request into the base branch is opened, or the
//! one already open from it is updated. One place, so every command names branches, says
//! "the base already has this change" and reports GitHub's refusals alike.

use anyhow::{anyhow, bail, Result};

use crate::vcs::git::Git;
use crate::vcs::github::{self, GitHub, PrOut};

/// The message for a change the base branch already has.
pub const BASE_HAS_IT: &str = "the base already has this change; no pull request";

/// Where a pull request goes: the client, the branch named after the change, and the base
/// branch on the remote.
pub struct PrTarget {
    pub client: GitHub,
    pub head: String,
    pub base: String,
}

/// What [`open`] came to.
pub enum PrResult {
    Done(PrOut),
    /// GitHub says the branch has no commits over the base: the base has the change.
    NothingNew,
}

impl PrOut {
    /// `opened pull request #3 (harborize/abc → main): URL`
    pub fn describe(&self) -> String {
        format!(
            "{} pull request #{} ({} → {}): {}",
            if self.created { "opened" } else { "updated" },
            self.number,
            self.head,
            self.base,
            self.url
        )
    }
}

/// The GitHub client for pull requests into `branch`'s remote branch on `remote`: the
/// repository from the remote's URL (else `GITHUB_REPOSITORY`), the token and API URL from
/// the environment. Fails when any is missing, or when `branch` is itself a pull request
/// branch of an earlier run.
pub fn client(
    git: &Git,
    remote: &str,
    branch: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<GitHub> {
    if branch.starts_with("harborize/") {
        bail!(
            "{branch} is checked out, a pull request branch of harborize: check out the branch the pull request should go into (e.g. main) first"
        );
    }
    Ok(GitHub::from_env(env, git.remote_url(remote).as_deref())?)
}

/// The branch of a change made of `old → new` pairs: `harborize/<hash>` of `scope`, the
/// base branch and each pair.
pub fn branch_for_pairs(scope: &str, base: &str, pairs: &[(String, String)]) -> String {
    let items: Vec<String> = pairs
        .iter()
        .map(|(old, new)| format!("{old} → {new}"))
        .collect();
    github::branch_name(&github::change_key(scope, base, &items))
}

/// Open the pull request from `pr.head` (already on the remote) into `pr.base`, or update
/// the one open from it. "No commits between" is [`PrResult::NothingNew`], not an error.
pub fn open(pr: &PrTarget, title: &str, body: &str) -> Result<PrResult> {
    match pr
        .client
        .open_or_update_blocking(&pr.head, &pr.base, title, body)
    {
        Ok(p) => Ok(PrResult::Done(PrOut {
            number: p.number,
            url: p.url,
            created: p.created,
            head: pr.head.clone(),
            base: pr.base.clone(),
        })),
        Err(github::Error::NothingNew { .. }) => Ok(PrResult::NothingNew),
        Err(e) => Err(anyhow!(
            "the branch {} is pushed, but the pull request into {} could not be opened or updated: {e}",
            pr.head,
            pr.base
        )),
    }
}
