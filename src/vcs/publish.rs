//! The one publish flow of the commands that commit (bump, promote, run, migrate):
//! open the repository and settle who commits before anything is written, commit exactly
//! the run's files, push without ever forcing, and when the remote moved: wait (one
//! backoff), fetch, move onto the new head, and hand back to the caller, which rebuilds
//! its commit there (bump replays its commit by a three-way merge, run and migrate plan
//! again), then push again, up to the retry budget. A refusal by a hook or a protection is
//! an error at once, never retried; the run's own commits stay local when the budget runs
//! out. The pull request part is [`crate::vcs::pull_request`].
//!
//! Nothing here prints: what happened comes back to the command ([`Moved`]), which says it.

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use git2::Oid;

use crate::vcs::git::{self, Auth, Git, Identity, Prepared, PushOutcome, Relevance, Replay};
use crate::vcs::github::GitHub;
use crate::vcs::pull_request::{self, PrTarget};

/// The git settings of a committing run, resolved from flags in `commands/`.
#[derive(Debug, Clone, Default)]
pub struct GitOptions {
    /// The remote pushed to and fetched from.
    pub remote: String,
    /// `--pull-request`: make the GitHub client now (fails fast without a token).
    pub pull_request: bool,
    /// How many times a push rejected because the remote moved is retried.
    pub retries: u32,
    /// Commit although tracked files have uncommitted changes.
    pub allow_dirty: bool,
    pub author_name: Option<String>,
    pub author_email: Option<String>,
    /// `--git-token-host`: other hosts that may receive the git token.
    pub token_hosts: Vec<String>,
}

/// The git token and the hosts it may go to: the one lookup of it, for clones, fetches
/// and pushes (the token itself only ever goes through libgit2's credential callback).
pub fn auth(token_hosts: &[String], env: impl Fn(&str) -> Option<String>) -> Result<Auth> {
    Auth::from_env(env).allow_hosts(token_hosts)
}

/// The git side of a committing run, settled before anything is written.
pub struct Session {
    pub git: Git,
    pub remote: String,
    /// The branch commits go to and are pushed from: the checked-out branch, or the pull
    /// request branch once it is started.
    pub branch: String,
    /// The remote branch it is pushed to.
    pub remote_branch: String,
    /// The branch checked out when the run started.
    pub home: String,
    /// Tracked files that were dirty before the run.
    pub dirty: Vec<String>,
    pub author: Identity,
    pub committer: Identity,
    /// `--pull-request`: the client (made before anything is written).
    client: Option<GitHub>,
    /// The pull request branch, once started.
    pub pr: Option<PrTarget>,
    retries: u32,
    /// Pushes rejected so far (each followed by a fetch and a rebuild).
    attempt: u32,
    /// When the current commit → push cycle began: the backoff scales with it.
    cycle_start: Cell<Instant>,
    /// The next commit's objects, made while its files were written ([`Session::prepared`]).
    prepared: RefCell<Option<Prepared>>,
}

/// What a push came to.
pub enum Step {
    Pushed,
    /// The remote moved: waited, fetched and moved onto it; the caller rebuilds its commit.
    Moved(Moved),
}

/// A rejected push, after the wait and the fetch.
#[derive(Debug)]
pub struct Moved {
    /// Why the remote refused the update (the race it lost).
    pub why: String,
    /// This retry's number (1 for the first).
    pub attempt: u32,
    /// The retry budget.
    pub retries: u32,
    /// How long it waited before fetching.
    pub waited: Duration,
    /// The commit that was rejected.
    pub rejected: Oid,
    /// With a replaying push: the rejected commit merged onto the new remote head (only
    /// objects written; see [`Git::land_replay`]). Otherwise the branch was reset onto the
    /// new head and the run's commits dropped, to be redone.
    pub replay: Option<Replay>,
}

/// What the caller's rebuild came to.
pub enum Rebuilt<T> {
    /// A new commit on the new head, to push.
    Commit(Oid),
    /// The remote has the change already: nothing to push.
    RemoteHasIt,
    /// The caller stops (its value is handed back).
    Stop(T),
}

/// How [`Session::push_retrying`] ended.
pub enum Published<T> {
    Pushed(Oid),
    RemoteHasIt,
    Stopped(T),
}

impl Session {
    /// Open the repository holding `start`: the dirty-tree rule, the commit identity and,
    /// for a pull request, the GitHub client: each stops the run before any write.
    pub fn open(
        start: &Path,
        opts: &GitOptions,
        env: impl Fn(&str) -> Option<String> + Copy,
    ) -> Result<Session> {
        let git = Git::discover(start, auth(&opts.token_hosts, env)?)?;
        let branch = git.current_branch()?;
        let dirty = git.dirty_files()?;
        if !dirty.is_empty() && !opts.allow_dirty {
            bail!(
                "the work tree has uncommitted changes to tracked files ({}): commit or stash them, or pass --allow-dirty to commit only this run's files",
                list(&dirty)
            );
        }
        let (author, committer) = git::identities(
            &git.repo,
            opts.author_name.as_deref(),
            opts.author_email.as_deref(),
            env,
        )?;
        let remote_branch = git.remote_branch(&branch);
        let client = if opts.pull_request {
            Some(pull_request::client(&git, &opts.remote, &branch, env)?)
        } else {
            None
        };
        Ok(Session {
            git,
            remote: opts.remote.clone(),
            branch: branch.clone(),
            remote_branch,
            home: branch,
            dirty,
            author,
            committer,
            client,
            pr: None,
            retries: opts.retries,
            attempt: 0,
            cycle_start: Cell::new(Instant::now()),
            prepared: RefCell::new(None),
        })
    }

    /// Whether the run goes to a pull request.
    pub fn wants_pull_request(&self) -> bool {
        self.client.is_some()
    }

    /// Check out `head` as a new branch at HEAD (same commit, no checkout) and make it the
    /// head of the pull request into the remote branch: commits, pushes and retries never
    /// touch the user's branch. Nothing happens without `--pull-request`.
    pub fn start_pull_request(&mut self, head: String) -> Result<()> {
        let Some(client) = self.client.clone() else {
            return Ok(());
        };
        self.git.start_branch(&head)?;
        self.pr = Some(PrTarget {
            client,
            head: head.clone(),
            base: self.remote_branch.clone(),
        });
        self.branch = head.clone();
        self.remote_branch = head;
        Ok(())
    }

    /// [`start_pull_request`](Self::start_pull_request) on the branch named after a change
    /// of `old → new` pairs (`harborize/<hash>` of `scope`, the base branch and each pair).
    pub fn branch_for_change(&mut self, scope: &str, pairs: &[(String, String)]) -> Result<()> {
        let head = pull_request::branch_for_pairs(scope, &self.remote_branch, pairs);
        self.start_pull_request(head)
    }

    /// The repository-relative files of `rels` that were dirty before the run (with
    /// `--allow-dirty`): never committed together with the run's change.
    pub fn clashes(&self, rels: &[PathBuf]) -> Vec<String> {
        rels.iter()
            .map(|p| p.to_string_lossy().into_owned())
            .filter(|p| self.dirty.contains(p))
            .collect()
    }

    /// Commit exactly `files` (repository-relative) on the branch; `None` when the
    /// committed tree would not change. The first commit starts the push cycle's clock.
    pub fn commit(&self, files: &[PathBuf], message: &str) -> Result<Option<Oid>> {
        if self.attempt == 0 {
            self.cycle_start.set(Instant::now());
        }
        let prepared = self.prepared.borrow_mut().take();
        self.git.commit_files(
            files,
            message,
            (&self.author, &self.committer),
            prepared.as_ref(),
        )
    }

    /// Objects for the next [`commit`](Self::commit), made from the bytes being written
    /// ([`git::prepare`]); it uses them if they still fit, else stages from the work tree.
    pub fn prepared(&self, objects: Prepared) {
        *self.prepared.borrow_mut() = Some(objects);
    }

    /// The work tree's root (for [`git::prepare`] on another thread).
    pub fn workdir(&self) -> &Path {
        self.git.workdir()
    }

    /// Pushes rejected (and retried) so far.
    pub fn retried(&self) -> u32 {
        self.attempt
    }

    /// Push the branch (its head `head`) once. On a lost race within the budget: wait
    /// ([`backoff`]), fetch, and either replay `head` onto the new remote head (with
    /// `replay`: which remote changes matter) or reset onto it, and return
    /// [`Step::Moved`]. Past the budget it is an error; the commits stay local.
    pub fn push(&mut self, head: Oid, replay: Option<&dyn Relevance>) -> Result<Step> {
        let why = match self.git.push(&self.remote, head, &self.remote_branch)? {
            PushOutcome::Pushed => {
                self.git.settle(&self.branch, head)?;
                return Ok(Step::Pushed);
            }
            PushOutcome::Rejected(why) => why,
        };
        if self.attempt >= self.retries {
            // The last replay is the commit that stays local.
            self.git.settle(&self.branch, head)?;
            bail!(
                "push to {}/{} rejected {} time(s), giving up (last: {why}); the commit {} stays local",
                self.remote,
                self.remote_branch,
                self.attempt + 1,
                short(&head.to_string())
            );
        }
        let waited = backoff(self.attempt, self.cycle_start.get().elapsed());
        std::thread::sleep(waited);
        self.cycle_start.set(Instant::now());
        self.attempt += 1;
        let (remote, branch, remote_branch) = (&self.remote, &self.branch, &self.remote_branch);
        let replay = match replay {
            Some(relevance) => {
                Some(
                    self.git
                        .fetch_and_replay(remote, branch, remote_branch, head, relevance)?,
                )
            }
            None => {
                self.git.fetch_and_reset(remote, branch, remote_branch)?;
                None
            }
        };
        Ok(Step::Moved(Moved {
            why,
            attempt: self.attempt,
            retries: self.retries,
            waited,
            rejected: head,
            replay,
        }))
    }

    /// Push `head`; each time the remote moved, `rebuild` makes the commit again on the
    /// new head ([`Session::push`]) and the new one is pushed, until one lands, the remote
    /// turns out to have the change, the caller stops, or the budget runs out (an error).
    pub fn push_retrying<T>(
        &mut self,
        mut head: Oid,
        replay: Option<&dyn Relevance>,
        mut rebuild: impl FnMut(&mut Session, Moved) -> Result<Rebuilt<T>>,
    ) -> Result<Published<T>> {
        loop {
            let moved = match self.push(head, replay)? {
                Step::Pushed => return Ok(Published::Pushed(head)),
                Step::Moved(m) => m,
            };
            match rebuild(self, moved)? {
                Rebuilt::Commit(oid) => head = oid,
                Rebuilt::RemoteHasIt => return Ok(Published::RemoteHasIt),
                Rebuilt::Stop(t) => return Ok(Published::Stopped(t)),
            }
        }
    }

    /// Check out the branch the run started on again, after a pull request run (it was
    /// neither committed to nor moved). Nothing to do otherwise.
    pub fn go_home(&self) -> Result<()> {
        if self.pr.is_some() {
            self.git.switch_to(&self.home)?;
        }
        Ok(())
    }
}

/// At most five items, then "and N more".
pub fn list(items: &[String]) -> String {
    const MAX: usize = 5;
    let mut s = items
        .iter()
        .take(MAX)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > MAX {
        s.push_str(&format!(", and {} more", items.len() - MAX));
    }
    s
}

/// The first 12 hex digits of a commit id.
pub fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

/// Backoff with full jitter: a random wait in `[0, W)`, `W = unit × 2^min(attempt, 2)`,
/// where `unit` is the last fetch → push cycle (20 ms to 250 ms).
///
/// The remote ref moves by compare-and-swap, so every round of a race has a winner and
/// nobody can starve; the wait only has to spread the losers over a few cycles so they
/// stop rebuilding on top of each other. Growing it further (or forcing a minimum) only
/// adds idle time: with eight racers that idle time was most of the race (measured again
/// with a 2 s cap: 15-25% less CPU, 20% more wall time).
pub fn backoff(attempt: u32, cycle: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let unit = (cycle.as_millis() as u64).clamp(20, 250);
    let window = unit << attempt.min(2);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(attempt);
    Duration::from_millis(h.finish() % window.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn backoff_stays_inside_a_window_of_a_few_cycles() {
        let cycle = Duration::from_millis(200);
        for attempt in 0..12 {
            let window = 200u64 << attempt.min(2);
            for _ in 0..50 {
                let w = backoff(attempt, cycle).as_millis() as u64;
                assert!(
                    w < window,
                    "attempt {attempt}: {w} ms not below {window} ms"
                );
            }
        }
        // Cycles outside 20 ms..250 ms are clamped.
        assert!(backoff(5, Duration::from_secs(30)) < Duration::from_secs(1));
        assert!(backoff(0, Duration::ZERO) < Duration::from_millis(20));
    }

    #[test]
    fn backoff_is_jittered() {
        let waits: BTreeSet<u128> = (0..40)
            .map(|_| backoff(2, Duration::from_millis(500)).as_millis())
            .collect();
        assert!(waits.len() > 5, "waits barely vary: {waits:?}");
    }

    #[test]
    fn long_lists_are_cut_after_five() {
        let items: Vec<String> = (1..=7).map(|i| format!("f{i}")).collect();
        assert_eq!(list(&items), "f1, f2, f3, f4, f5, and 2 more");
        assert_eq!(list(&items[..2]), "f1, f2");
    }
}
