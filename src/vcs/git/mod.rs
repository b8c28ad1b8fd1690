//! Git through libgit2 (git2): the dirty-tree rule, committing exactly the files a run
//! changed, pushing without ever forcing, and fetching + resetting onto a moved remote.
//!
//! Credentials live in [`auth`]; copying objects between repositories on this machine (a
//! fetch from a local remote) in [`objects`].
//!
//! Pushes to a repository on this machine go through the git CLI (`git push`, which runs
//! `git receive-pack`), so the remote's `pre-receive`/`update` hooks run as they would on a
//! server; a hook that declines is an error, not a race.

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};

mod auth;
mod in_place;
mod objects;
mod packed;
mod prepared;
mod replay;
pub(crate) mod tree_diff;
mod work_file;

pub use auth::{credential, redact_url, remote_callbacks, Auth};
use objects::copy_objects;
pub use prepared::{prepare, Prepared};
pub use replay::{Relevance, Replay};

use anyhow::{anyhow, bail, Context, Result};
use git2::build::CheckoutBuilder;
use git2::{
    ErrorClass, ErrorCode, FetchOptions, Oid, PushOptions, RemoteCallbacks, Repository, Signature,
    Status, StatusOptions,
};

/// A name and email for commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub email: String,
}

impl Identity {
    fn signature(&self) -> Result<Signature<'static>> {
        Signature::now(&self.name, &self.email)
            .with_context(|| format!("invalid identity {} <{}>", self.name, self.email))
    }
}

/// libgit2's process-wide settings for a committing run, set as its repository is opened
/// ([`Git::discover`]), not at start: the first call into git2 also sets `SSL_CERT_FILE`
/// and `SSL_CERT_DIR` in the process's environment (openssl-probe), which the children of
/// commands that never open a repository (Trivy's) must not inherit.
///
/// Objects read back are not hashed again to check their id (libgit2 does by default;
/// git itself does only in `fsck`): they come from the user's own object store or from
/// this run's writes and fetches, and a fetch over the network is checked as it is
/// indexed. Re-hashing with collision detection was 3% of the CPU time of a bump with
/// one replay (every tree a diff or merge read, every blob a check-out wrote; `perf`).
fn configure_libgit2() {
    git2::opts::strict_hash_verification(false);
}

/// The paths `changes` name, each once (a change of kind is a deletion and an addition
/// of the same path).
fn changed_paths(changes: &[tree_diff::Change]) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = changes.iter().map(|c| c.path.clone()).collect();
    paths.dedup();
    paths
}

/// Author and committer: flags, then `GIT_AUTHOR_*` / `GIT_COMMITTER_*`, then
/// `GITHUB_ACTOR` (`<actor>@users.noreply.github.com`), then git config `user.*`.
pub fn identities(
    repo: &Repository,
    flag_name: Option<&str>,
    flag_email: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<(Identity, Identity)> {
    let env = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let actor = env("GITHUB_ACTOR");
    let config = repo.config().ok();
    let config_get = |k: &str| config.as_ref().and_then(|c| c.get_string(k).ok());
    let name = flag_name
        .map(str::to_string)
        .or_else(|| env("GIT_AUTHOR_NAME"))
        .or_else(|| actor.clone())
        .or_else(|| config_get("user.name"));
    let email = flag_email
        .map(str::to_string)
        .or_else(|| env("GIT_AUTHOR_EMAIL"))
        .or_else(|| {
            actor
                .as_ref()
                .map(|a| format!("{a}@users.noreply.github.com"))
        })
        .or_else(|| config_get("user.email"));
    let (Some(name), Some(email)) = (name, email) else {
        bail!("no commit identity: pass --author-name and --author-email, set GIT_AUTHOR_NAME/GIT_AUTHOR_EMAIL or GITHUB_ACTOR, or configure git user.name/user.email");
    };
    let author = Identity { name, email };
    let committer = Identity {
        name: env("GIT_COMMITTER_NAME").unwrap_or_else(|| author.name.clone()),
        email: env("GIT_COMMITTER_EMAIL").unwrap_or_else(|| author.email.clone()),
    };
    Ok((author, committer))
}

/// What a push attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    Pushed,
    /// The remote refused the update because it moved (or was busy): fetch and retry.
    Rejected(String),
}

/// A repository opened at its work tree.
pub struct Git {
    pub repo: Repository,
    workdir: PathBuf,
    auth: Auth,
    /// The commits this run made ([`commit_files`](Self::commit_files)): redone, not
    /// replayed, when the remote moved.
    own: RefCell<Vec<Oid>>,
}

impl Git {
    /// Find the repository that holds `start` (a file or directory).
    pub fn discover(start: &Path, auth: Auth) -> Result<Self> {
        configure_libgit2();
        let dir = if start.is_dir() {
            start.to_path_buf()
        } else {
            start
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
        };
        let repo = Repository::discover(&dir)
            .with_context(|| format!("{} is not inside a git repository", dir.display()))?;
        let workdir = repo
            .workdir()
            .ok_or_else(|| anyhow!("the repository has no work tree (bare)"))?;
        let workdir = workdir
            .canonicalize()
            .with_context(|| format!("cannot resolve {}", workdir.display()))?;
        Ok(Git {
            repo,
            workdir,
            auth,
            own: RefCell::new(Vec::new()),
        })
    }

    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// The git CLI in the work tree, with a minimal environment: what git and a remote's
    /// hooks need to run, and the user's git config (e.g. `safe.directory`); nothing else
    /// of ours, tokens least of all, and none of a calling hook's `GIT_DIR`/`GIT_INDEX_FILE`
    /// (libgit2 does not read them either).
    fn git_command(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new("git");
        cmd.current_dir(&self.workdir)
            .env_clear()
            // Stable, untranslated status lines; no prompt can hang an unattended run.
            .env("LC_ALL", "C")
            .env("GIT_TERMINAL_PROMPT", "0");
        for var in [
            "PATH",
            "HOME",
            "XDG_CONFIG_HOME",
            "TMPDIR",
            "GIT_CONFIG_NOSYSTEM",
            "GIT_CONFIG_GLOBAL",
            "GIT_CONFIG_SYSTEM",
        ] {
            if let Some(v) = std::env::var_os(var) {
                cmd.env(var, v);
            }
        }
        cmd
    }

    /// Tracked files with changes (staged or not); untracked and ignored files do not count.
    ///
    /// Asked of the git CLI when it runs here: `git status` compares each index entry's
    /// stat data, while libgit2's status walks every directory of the work tree even when
    /// untracked files are not wanted (10,000 files: about 0.05 s against 0.3 s, on the
    /// path of every bump). Without the CLI, or when it fails, libgit2 answers.
    pub fn dirty_files(&self) -> Result<Vec<String>> {
        match self.dirty_files_by_cli() {
            Some(files) => Ok(files),
            None => self.dirty_files_by_libgit2(),
        }
    }

    /// [`dirty_files`](Self::dirty_files) by `git status`, or `None` when it cannot run or
    /// fails. Renames are not paired (each side is its own entry, as libgit2 reports them),
    /// submodules are left out, the index is not refreshed on disk.
    fn dirty_files_by_cli(&self) -> Option<Vec<String>> {
        let out = self
            .git_command()
            .args(STATUS_ARGS)
            .stdin(std::process::Stdio::null())
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        let mut files = porcelain_paths(&out.stdout)?;
        files.sort();
        Some(files)
    }

    fn dirty_files_by_libgit2(&self) -> Result<Vec<String>> {
        let mut opts = StatusOptions::new();
        opts.include_untracked(false)
            .include_ignored(false)
            .exclude_submodules(true);
        let statuses = self
            .repo
            .statuses(Some(&mut opts))
            .context("cannot read the status of the work tree")?;
        let mut out: Vec<String> = statuses
            .iter()
            .filter(|e| e.status() != Status::CURRENT && !e.status().is_ignored())
            .filter_map(|e| e.path().map(str::to_string))
            .collect();
        out.sort();
        Ok(out)
    }

    /// A path as the repository names it (relative to the work tree, `/`-separated).
    pub fn relative(&self, path: &Path) -> Result<PathBuf> {
        let abs = path
            .canonicalize()
            .with_context(|| format!("cannot resolve {}", path.display()))?;
        abs.strip_prefix(&self.workdir)
            .map(Path::to_path_buf)
            .map_err(|_| anyhow!("{} is outside the repository", path.display()))
    }

    /// The checked-out branch (`main`), or an error on a detached HEAD.
    pub fn current_branch(&self) -> Result<String> {
        let head = self
            .repo
            .head()
            .context("the repository has no commit yet")?;
        if !head.is_branch() {
            bail!("HEAD is detached: check out a branch to commit and push");
        }
        head.shorthand()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("the branch name is not UTF-8"))
    }

    pub fn head(&self) -> Result<Oid> {
        Ok(self.repo.head()?.peel_to_commit()?.id())
    }

    /// The fetch URL of `remote` (`None` when there is no such remote or it has none).
    pub fn remote_url(&self, remote: &str) -> Option<String> {
        self.repo
            .find_remote(remote)
            .ok()
            .and_then(|r| r.url().map(str::to_string))
    }

    /// Point `refs/heads/<name>` at HEAD's commit (created, or moved when it exists) and
    /// make it the current branch. The commit is the same, so the work tree and the index
    /// stay as they are (no checkout). Commits, pushes and fetch-and-reset retries then
    /// happen on this branch, never on the branch the user had checked out
    /// (`--pull-request`).
    pub fn start_branch(&self, name: &str) -> Result<()> {
        let head = self.head()?;
        let refname = format!("refs/heads/{name}");
        if !git2::Reference::is_valid_name(&refname) {
            bail!("{name:?} is not a valid branch name");
        }
        self.repo
            .reference(
                &refname,
                head,
                true,
                "harborize: start the pull request branch",
            )
            .with_context(|| format!("cannot create the branch {name}"))?;
        self.repo
            .set_head(&refname)
            .with_context(|| format!("cannot switch to the branch {name}"))?;
        Ok(())
    }

    /// Make `branch` the current branch again after [`start_branch`](Self::start_branch):
    /// the files that differ between the two commits are checked out safely (a local
    /// modification they would overwrite makes this fail instead of being lost); other
    /// files, tracked changes of `--allow-dirty` included, stay as they are.
    pub fn switch_to(&self, branch: &str) -> Result<()> {
        let refname = format!("refs/heads/{branch}");
        let target = self
            .repo
            .refname_to_id(&refname)
            .with_context(|| format!("branch {branch} not found"))?;
        let tree = self.repo.find_commit(target)?.tree()?;
        self.check_out_changes(&tree)
            .with_context(|| format!("cannot check out {branch} again"))?;
        self.repo
            .set_head(&refname)
            .with_context(|| format!("cannot switch back to {branch}"))?;
        self.reload_index()
    }

    /// Put `tree` in the work tree and the index where it differs from HEAD's tree,
    /// safely (a local modification it would overwrite makes this fail instead of being
    /// lost). Plain edits are written over the old files ([`in_place`]); libgit2 checks out
    /// the rest, only those paths named: that spares a comparison of the whole work tree.
    fn check_out_changes(&self, tree: &git2::Tree<'_>) -> Result<()> {
        let head_tree = self.repo.head()?.peel_to_tree()?;
        let changes = tree_diff::between(&self.repo, &head_tree, tree)?;
        let changed = in_place::overwrite_edits(&self.repo, &changes)?;
        if changed.is_empty() {
            return Ok(());
        }
        let mut checkout = CheckoutBuilder::new();
        checkout.safe().disable_pathspec_match(true);
        for p in &changed {
            checkout.path(p);
        }
        self.repo
            .checkout_tree(tree.as_object(), Some(&mut checkout))?;
        Ok(())
    }

    /// Read the index from disk again after HEAD moved: entries the checkout did not
    /// touch already match; this makes the whole index exact.
    fn reload_index(&self) -> Result<()> {
        self.repo.index()?.read(true)?;
        Ok(())
    }

    /// Commit exactly `files` (repository-relative) on HEAD, whatever else is staged or
    /// modified; `None` when the tree would not change. The index keeps everything else
    /// as it was and gets these files staged. `prepared`: their objects, made while they
    /// were written ([`prepare`]), used when they still fit.
    pub fn commit_files(
        &self,
        files: &[PathBuf],
        message: &str,
        (author, committer): (&Identity, &Identity),
        prepared: Option<&Prepared>,
    ) -> Result<Option<Oid>> {
        let head = self.repo.head()?.peel_to_commit()?;
        let mut index = self.repo.index()?;
        for f in files {
            if let Some(sub) = self.inside_submodule(&index, f) {
                bail!(
                    "{} is inside the submodule {}: submodules are never changed nor committed by harborize",
                    f.display(),
                    sub.display()
                );
            }
        }
        let tree_id = if index.has_conflicts() || self.index_differs_from(&head)? {
            // Other changes are staged: build the tree from HEAD plus only our files...
            index.read_tree(&head.tree()?)?;
            for f in files {
                index
                    .add_path(f)
                    .with_context(|| format!("cannot stage {}", f.display()))?;
            }
            let tree_id = index.write_tree()?;
            // ...then put the on-disk index back and stage our files in it.
            index.read(true)?;
            for f in files {
                index.add_path(f)?;
            }
            index.write()?;
            tree_id
        } else if let Some(tree) = match prepared {
            Some(p) => p.stage(&self.workdir, &mut index, head.tree_id(), files)?,
            None => None,
        } {
            // The index is HEAD's tree and the objects are made: stage by stat data.
            index.write()?;
            tree
        } else {
            // The index is HEAD's tree: stage our files and write it once.
            for f in files {
                index
                    .add_path(f)
                    .with_context(|| format!("cannot stage {}", f.display()))?;
            }
            index.write()?;
            index.write_tree()?
        };
        if tree_id == head.tree_id() {
            return Ok(None);
        }
        let tree = self.repo.find_tree(tree_id)?;
        let oid = self
            .repo
            .commit(
                Some("HEAD"),
                &author.signature()?,
                &committer.signature()?,
                message,
                &tree,
                &[&head],
            )
            .context("cannot create the commit")?;
        self.own.borrow_mut().push(oid);
        Ok(Some(oid))
    }

    /// The submodule (a gitlink in the index, or a directory that is a repository of its
    /// own) that holds `file`, if any: staging a path under it would replace the gitlink
    /// with the submodule's files.
    fn inside_submodule(&self, index: &git2::Index, file: &Path) -> Option<PathBuf> {
        file.ancestors()
            .skip(1)
            .filter(|a| !a.as_os_str().is_empty())
            .find(|a| {
                index.get_path(a, 0).is_some_and(|e| e.mode == 0o160_000)
                    || self.workdir.join(a).join(".git").exists()
            })
            .map(Path::to_path_buf)
    }

    /// Whether anything is staged relative to `head` (the index is not HEAD's tree).
    fn index_differs_from(&self, head: &git2::Commit<'_>) -> Result<bool> {
        let mut opts = git2::DiffOptions::new();
        opts.ignore_submodules(true);
        let diff = self
            .repo
            .diff_tree_to_index(Some(&head.tree()?), None, Some(&mut opts))?;
        Ok(diff.deltas().len() > 0)
    }

    /// The remote branch the current branch pushes to (its upstream's name, else its own).
    pub fn remote_branch(&self, branch: &str) -> String {
        let key = format!("branch.{branch}.merge");
        self.repo
            .config()
            .ok()
            .and_then(|c| c.get_string(&key).ok())
            .and_then(|m| m.strip_prefix("refs/heads/").map(str::to_string))
            .unwrap_or_else(|| branch.to_string())
    }

    /// Push the commit `head` to `refs/heads/<remote_branch>` on `remote`. Never forced.
    /// `head` is the checked-out branch's head, or a replay of it not checked out yet
    /// ([`land_replay`](Self::land_replay)).
    pub fn push(&self, remote: &str, head: Oid, remote_branch: &str) -> Result<PushOutcome> {
        let mut r = self
            .repo
            .find_remote(remote)
            .with_context(|| format!("no remote named {remote:?}"))?;
        let url = r.pushurl().or(r.url()).unwrap_or("").to_string();
        if let Some(path) = local_path(&url) {
            let path = self.workdir.join(path);
            return self.push_local(&path, remote, head, remote_branch);
        }
        // libgit2 pushes references, not commits: the checked-out branch when it is at
        // `head`, else (a replay not checked out yet) a reference of its own, deleted again
        // after the push.
        let branch = self
            .repo
            .head()
            .ok()
            .filter(|h| h.is_branch() && h.target() == Some(head))
            .and_then(|h| h.name().map(str::to_string));
        let source = match &branch {
            Some(name) => name.clone(),
            None => {
                self.repo
                    .reference(REPLAY_REF, head, true, "harborize: replay to push")?;
                REPLAY_REF.to_string()
            }
        };
        let pushed = self.push_network(&mut r, &url, remote, &source, remote_branch);
        if branch.is_none() {
            if let Ok(mut reference) = self.repo.find_reference(REPLAY_REF) {
                let _ = reference.delete();
            }
        }
        pushed
    }

    /// [`push`](Self::push) through libgit2: `source` (a reference) to the remote branch.
    fn push_network(
        &self,
        r: &mut git2::Remote<'_>,
        url: &str,
        remote: &str,
        source: &str,
        remote_branch: &str,
    ) -> Result<PushOutcome> {
        let tries = Cell::new(0);
        let rejected: RefCell<Option<String>> = RefCell::new(None);
        let mut callbacks = self.callbacks(&tries);
        callbacks.push_update_reference(|refname, status| {
            if let Some(s) = status {
                *rejected.borrow_mut() = Some(format!("{refname}: {s}"));
            }
            Ok(())
        });
        let mut opts = PushOptions::new();
        opts.remote_callbacks(callbacks);
        // No leading `+`: a push that is not a fast-forward is refused, never forced.
        let spec = format!("{source}:refs/heads/{remote_branch}");
        let result = r.push(&[spec.as_str()], Some(&mut opts));
        drop(opts);
        match result {
            Ok(()) => match rejected.into_inner() {
                // The ref moved under us (or was locked by a concurrent push): retry.
                Some(why) if is_race_reason(&why) => Ok(PushOutcome::Rejected(why)),
                // A hook or a protection refused it: retrying would only be refused again.
                Some(why) => bail!(
                    "push to {remote} ({}) declined by the remote: {why}; nothing was pushed",
                    redact_url(url)
                ),
                None => Ok(PushOutcome::Pushed),
            },
            Err(e) if is_retryable(&e) => Ok(PushOutcome::Rejected(e.message().to_string())),
            Err(e) => Err(self.transport_error(e, remote, r, "push to")),
        }
    }

    /// Push to a repository on this machine through the git CLI: `git push` starts
    /// `git receive-pack` on the remote, which checks the old value of the ref, updates it
    /// under its lock and runs the remote's `pre-receive`/`update`/`post-receive` hooks, as
    /// a server would. (libgit2's local transport, or moving the ref by hand, would bypass
    /// the hooks.) The child gets a minimal environment: no token, nothing secret.
    fn push_local(
        &self,
        path: &Path,
        remote: &str,
        local: Oid,
        remote_branch: &str,
    ) -> Result<PushOutcome> {
        if let Some(why) = self.behind_local_remote(path, local, remote_branch) {
            return Ok(PushOutcome::Rejected(why));
        }
        // The commit by id: a replay not checked out yet is pushed as it is.
        let spec = format!("{local}:refs/heads/{remote_branch}");
        let mut cmd = self.git_command();
        // `--no-verify`: the local pre-push hook does not run (libgit2 pushes to network
        // remotes do not run it either); the remote's hooks do.
        // No delta search for the pack: over a pipe on this machine deltas save nothing
        // worth their cost (a 600-file bump: 0.77 CPU-s per push with it, 0.46 without;
        // racing bumps push and are rejected many times). The setting also reaches the
        // remote's receive-pack, where it only makes a repack that auto-maintenance might
        // start after this push pack without deltas; the next gc packs them again.
        cmd.args(["-c", "pack.window=0"]);
        cmd.args(["push", "--porcelain", "--no-verify", "--"])
            .arg(path)
            .arg(&spec)
            .stdin(std::process::Stdio::null());
        let out = cmd.output().map_err(|e| {
            anyhow!("cannot run `git push` to the local remote {remote} ({}): {e}; pushing to a path needs the git CLI, so that the remote's hooks run", path.display())
        })?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        match local_push_status(&stdout, &spec) {
            Some(LocalPush::Pushed) if out.status.success() => {}
            Some(LocalPush::Race(why)) => return Ok(PushOutcome::Rejected(why)),
            Some(LocalPush::Declined(why)) => {
                let said = remote_lines(&stderr);
                bail!(
                    "push to {remote} ({}) declined by the remote: {why}{}; nothing was pushed",
                    path.display(),
                    if said.is_empty() {
                        String::new()
                    } else {
                        format!(" (the remote said: {said})")
                    }
                );
            }
            _ => bail!(
                "cannot push to {remote} ({}): git push exited with {}: {}",
                path.display(),
                out.status,
                stderr.trim()
            ),
        }
        let _ = self.repo.reference(
            &format!("refs/remotes/{remote}/{remote_branch}"),
            local,
            true,
            "update by push",
        );
        Ok(PushOutcome::Pushed)
    }

    /// Why a push of `local` to the repository at `path` would not be a fast-forward, read
    /// straight from its refs (`None` when it would be, or cannot be told): a lost race is
    /// known without starting `git push`. Nothing is written here, so no hook is skipped.
    fn behind_local_remote(&self, path: &Path, local: Oid, remote_branch: &str) -> Option<String> {
        let target = Repository::open(path).ok()?;
        let refname = format!("refs/heads/{remote_branch}");
        let cur = target.refname_to_id(&refname).ok()?;
        if cur == local {
            return None;
        }
        if self.repo.find_commit(cur).is_err() {
            return Some(format!(
                "{refname}: fetch first (the remote has commits not present locally)"
            ));
        }
        match self.repo.graph_descendant_of(local, cur) {
            Ok(false) => Some(format!("{refname}: non-fast-forward")),
            _ => None,
        }
    }

    /// Fetch the remote branch and move the current branch onto it, checking out safely
    /// (the run's own files are committed, so only they change; local modifications that
    /// the new tree would overwrite make this fail instead of being lost).
    ///
    /// The run's own commits ([`commit_files`](Self::commit_files)) are dropped: the
    /// caller redoes the change on the new head. Any other local commit the remote does
    /// not have is replayed onto the new head (a three-way cherry-pick, author and message
    /// kept), so nothing the user committed is lost; when one cannot be replayed (a
    /// conflict, a merge commit) this fails with the branch, the index and the work tree
    /// unchanged.
    pub fn fetch_and_reset(&self, remote: &str, branch: &str, remote_branch: &str) -> Result<Oid> {
        let (tip, known_before) = self.fetch(remote, remote_branch)?;
        let oid = self
            .replay_local_commits(remote, tip, known_before)
            .with_context(|| local_commits_conflict(remote, branch, remote_branch))?;
        self.move_branch(
            branch,
            oid,
            &format!("harborize: reset onto {remote}/{remote_branch}"),
        )?;
        Ok(oid)
    }

    /// Fetch `remote_branch` into its tracking ref: the new tip, and what the tracking ref
    /// was before (`None` when unknown).
    fn fetch(&self, remote: &str, remote_branch: &str) -> Result<(Oid, Option<Oid>)> {
        let mut r = self
            .repo
            .find_remote(remote)
            .with_context(|| format!("no remote named {remote:?}"))?;
        let tracking = format!("refs/remotes/{remote}/{remote_branch}");
        let known_before = self.repo.refname_to_id(&tracking).ok();
        let url = r.url().unwrap_or("").to_string();
        if let Some(path) = local_path(&url) {
            // On this machine: copy the new objects straight across (libgit2's local
            // transport would build a delta-compressed pack first, which is slow).
            let source = Repository::open(self.workdir.join(path))
                .context("cannot open the remote repository")?;
            let tip = source
                .refname_to_id(&format!("refs/heads/{remote_branch}"))
                .with_context(|| format!("{remote}/{remote_branch} not found"))?;
            let mut have: Vec<Oid> = Vec::new();
            if let Ok(o) = self.repo.refname_to_id(&tracking) {
                have.push(o);
            }
            if let Ok(head) = self.repo.head().and_then(|h| h.peel_to_commit()) {
                have.push(head.id());
                have.extend(head.parent_ids());
            }
            copy_objects(&source, &self.repo, tip, &have)
                .context("cannot fetch objects from the remote")?;
            self.repo
                .reference(&tracking, tip, true, "fetch (harborize)")?;
        } else {
            let tries = Cell::new(0);
            let mut opts = FetchOptions::new();
            opts.remote_callbacks(self.callbacks(&tries));
            let spec = format!("+refs/heads/{remote_branch}:{tracking}");
            r.fetch(&[spec.as_str()], Some(&mut opts), None)
                .map_err(|e| self.transport_error(e, remote, &r, "fetch from"))?;
        }
        let tip = self
            .repo
            .refname_to_id(&tracking)
            .with_context(|| format!("{remote}/{remote_branch} not found after fetch"))?;
        Ok((tip, known_before))
    }

    /// Move `branch` (checked out) to the commit `oid` (see
    /// [`move_with_tree`](Self::move_with_tree), with `oid`'s own tree).
    fn move_branch(&self, branch: &str, oid: Oid, why: &str) -> Result<()> {
        let tree = self.repo.find_commit(oid)?.tree()?;
        self.move_with_tree(branch, oid, &tree, why)?;
        // The run's own commits are not on the branch any more, or are replaced.
        self.own.borrow_mut().clear();
        Ok(())
    }

    /// Point `branch` (checked out) at the commit `oid` with `tree` in the work tree and
    /// the index: the paths where HEAD's tree and `tree` differ are checked out safely (a
    /// local modification they would overwrite makes this fail instead of being lost),
    /// then the ref is moved and the index reloaded.
    fn move_with_tree(
        &self,
        branch: &str,
        oid: Oid,
        tree: &git2::Tree<'_>,
        why: &str,
    ) -> Result<()> {
        self.check_out_changes(tree)
            .context("cannot check out the new head")?;
        self.repo
            .reference(&format!("refs/heads/{branch}"), oid, true, why)
            .context("cannot move the branch")?;
        self.reload_index()
    }

    /// The commit the branch should move to on top of the fetched `tip`: `tip` itself
    /// plus a replay of every commit of HEAD's history that is neither on the remote (on
    /// any of its branches as last fetched, or `known_before` the fetch: what the remote
    /// dropped stays dropped) nor one of the run's own. Only objects are written; refs, index and work tree are left alone.
    fn replay_local_commits(
        &self,
        remote: &str,
        tip: Oid,
        known_before: Option<Oid>,
    ) -> Result<Oid> {
        let mut walk = self.repo.revwalk()?;
        walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)?;
        walk.push(self.head()?)?;
        walk.hide(tip)?;
        // A commit any branch of the remote has (as last fetched) is not ours to keep.
        walk.hide_glob(&format!("refs/remotes/{remote}/*"))?;
        if let Some(before) = known_before.filter(|o| self.repo.find_commit(*o).is_ok()) {
            walk.hide(before)?;
        }
        let own = self.own.borrow();
        let mut onto = tip;
        for id in walk {
            let id = id?;
            if own.contains(&id) {
                continue;
            }
            let commit = self.repo.find_commit(id)?;
            if commit.parent_count() > 1 {
                bail!(
                    "the local commit {} is a merge, which is not replayed",
                    short_id(id)
                );
            }
            let base = self.repo.find_commit(onto)?;
            let mut index = self
                .repo
                .cherrypick_commit(&commit, &base, 0, None)
                .with_context(|| format!("cannot replay the local commit {}", short_id(id)))?;
            if index.has_conflicts() {
                bail!(
                    "the local commit {} ({}) conflicts with the remote's changes",
                    short_id(id),
                    commit.summary().unwrap_or("")
                );
            }
            let tree = self.repo.find_tree(index.write_tree_to(&self.repo)?)?;
            if tree.id() == base.tree_id() {
                // The remote has this change already (as git rebase, drop the empty copy).
                continue;
            }
            onto = self.repo.commit(
                None,
                &commit.author(),
                &commit.committer(),
                commit.message_raw().unwrap_or(""),
                &tree,
                &[&base],
            )?;
        }
        Ok(onto)
    }

    fn callbacks<'a>(&'a self, tries: &'a Cell<u32>) -> RemoteCallbacks<'a> {
        remote_callbacks(tries, &self.auth, self.repo.config().ok())
    }

    fn transport_error(
        &self,
        e: git2::Error,
        remote: &str,
        r: &git2::Remote<'_>,
        what: &str,
    ) -> anyhow::Error {
        let url = r.url().map(redact_url).unwrap_or_default();
        anyhow!(
            "cannot {what} {remote} ({url}): {}",
            self.auth.redact(e.message())
        )
    }
}

/// The reference a replay not checked out yet is pushed through (libgit2 pushes
/// references only); it exists only during that push.
const REPLAY_REF: &str = "refs/harborize/replay";

/// The message when local commits cannot be replayed onto the moved remote.
fn local_commits_conflict(remote: &str, branch: &str, remote_branch: &str) -> String {
    format!(
        "{remote}/{remote_branch} moved and {branch} has local commits it does not have: {branch} is left as it is (this run's commit on top, not pushed); rebase it onto {remote}/{remote_branch} by hand"
    )
}

fn short_id(id: Oid) -> String {
    id.to_string()[..12].to_string()
}

/// `git status` as [`Git::dirty_files`] asks it: tracked files only, renames unpaired,
/// submodules left out, the index not written (`--no-optional-locks`).
const STATUS_ARGS: [&str; 7] = [
    "--no-optional-locks",
    "status",
    "--porcelain",
    "-z",
    "--untracked-files=no",
    "--ignore-submodules=all",
    "--no-renames",
];

/// The paths of `git status --porcelain -z --no-renames` (`XY path` records, NUL-ended), or
/// `None` for output of another shape (then libgit2 is asked instead).
fn porcelain_paths(stdout: &[u8]) -> Option<Vec<String>> {
    stdout
        .split(|&b| b == 0)
        .filter(|r| !r.is_empty())
        .map(|record| {
            let path = record.get(3..).filter(|_| record.get(2) == Some(&b' '))?;
            let path = std::str::from_utf8(path).ok()?;
            (!path.is_empty()).then(|| path.to_string())
        })
        .collect()
}

/// What `git push --porcelain` said about our ref.
#[derive(Debug, PartialEq, Eq)]
enum LocalPush {
    Pushed,
    /// The remote moved (or its ref was locked by a concurrent push): fetch and retry.
    Race(String),
    /// The remote refused the update itself (a hook declined, a protected ref...).
    Declined(String),
}

/// Read the porcelain status line of `spec` (`<flag>\t<from>:<to>\t<summary>`).
fn local_push_status(stdout: &str, spec: &str) -> Option<LocalPush> {
    let line = stdout.lines().find_map(|l| {
        let mut f = l.splitn(3, '\t');
        let (flag, refs, summary) = (f.next()?, f.next()?, f.next().unwrap_or(""));
        (refs == spec).then(|| (flag.to_string(), summary.to_string()))
    })?;
    let (flag, summary) = line;
    if flag != "!" {
        return Some(LocalPush::Pushed);
    }
    let to = spec.split_once(':').map_or(spec, |(_, to)| to);
    let why = format!("{to}: {summary}");
    // `[rejected]` is git's own check against the advertised ref; receive-pack says
    // `[remote rejected] (reason)` for a ref that moved under it, and for its hooks.
    let raced = summary.starts_with("[rejected]") || is_race_reason(&summary);
    Some(
        if raced && !summary.to_ascii_lowercase().contains("hook declined") {
            LocalPush::Race(why)
        } else {
            LocalPush::Declined(why)
        },
    )
}

/// Whether a receive-pack status (`[remote rejected] (failed to update ref)`, libgit2's
/// `refs/heads/main: cannot lock ref ...`) says the ref moved or was busy (a lost race, worth
/// a fetch and a retry), not that a hook or a rule declined the update.
fn is_race_reason(status: &str) -> bool {
    let reason = status.to_ascii_lowercase();
    !reason.contains("hook declined")
        && [
            "non-fast-forward",
            "fetch first",
            "failed to update ref",
            "failed to lock",
            "cannot lock",
            "incorrect old value",
        ]
        .iter()
        .any(|r| reason.contains(r))
}

/// The `remote: ...` lines of git's stderr (what the remote's hooks printed), joined.
fn remote_lines(stderr: &str) -> String {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("remote:"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" / ")
}

/// Errors that mean "the remote moved or was busy": fetch, re-apply and try again.
fn is_retryable(e: &git2::Error) -> bool {
    if matches!(
        e.code(),
        ErrorCode::NotFastForward | ErrorCode::Modified | ErrorCode::Locked
    ) {
        return true;
    }
    let m = e.message().to_ascii_lowercase();
    e.class() == ErrorClass::Reference
        || m.contains("non-fast")
        || m.contains("fetch first")
        || m.contains("failed to lock")
        || m.contains("cannot lock")
        || m.contains("not present locally")
}

/// The directory of a remote on this machine (`file:///srv/x.git`, `/srv/x.git`,
/// `../x.git`), or `None` for network remotes (`https://`, `ssh://`, `git@host:x`).
pub fn local_path(url: &str) -> Option<PathBuf> {
    if let Some(rest) = url.strip_prefix("file://") {
        return Some(PathBuf::from(rest));
    }
    if url.is_empty() || url.contains("://") {
        return None;
    }
    // scp-like `host:path` has a colon before the first slash.
    let scp_like = url
        .find(':')
        .is_some_and(|c| url.find('/').is_none_or(|s| c < s));
    (!scp_like).then(|| PathBuf::from(url))
}

/// Render a commit message template: `{images}` (one `- old → new` line each), `{count}`
/// (how many images), `{summary}` (`image to tag`). A `Signed-off-by` trailer is appended
/// for `signoff`.
pub fn render_message(
    template: &str,
    images: &str,
    count: usize,
    summary: &str,
    signoff: Option<&Identity>,
) -> String {
    let mut msg = template
        .replace("\\n", "\n")
        .replace("{images}", images)
        .replace("{count}", &count.to_string())
        .replace("{summary}", summary);
    let trimmed = msg.trim_end().to_string();
    msg = trimmed;
    if let Some(who) = signoff {
        let trailer = format!("Signed-off-by: {} <{}>", who.name, who.email);
        let last_para = msg.rsplit("\n\n").next().unwrap_or("");
        let is_trailer_block = msg.contains("\n\n")
            && last_para
                .lines()
                .all(|l| l.split_once(": ").is_some_and(|(k, _)| is_trailer_key(k)));
        if is_trailer_block {
            msg.push('\n');
        } else {
            msg.push_str("\n\n");
        }
        msg.push_str(&trailer);
    }
    msg.push('\n');
    msg
}

fn is_trailer_key(k: &str) -> bool {
    !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Run the git CLI in `root` (with a commit identity) for a test; its standard output.
#[cfg(test)]
pub(crate) fn git_cli(root: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .current_dir(root)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .output()
        .expect("the git CLI runs (install git)");
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8(out.stdout).expect("git prints UTF-8 here")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_status_and_libgit2_name_the_same_dirty_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let git = |args: &[&str]| {
            git_cli(root, args);
        };
        let write = |rel: &str, text: &str| {
            let path = root.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        git(&["init", "-q"]);
        for f in [
            "a.yaml",
            "b.yaml",
            "dir/c d.yaml",
            "e.yaml",
            "f.yaml",
            "ü.yaml",
            "same.yaml",
        ] {
            write(f, "image: nginx:1\n");
        }
        write(".gitignore", "ign/\n");
        git(&["add", "-A"]);
        git(&["commit", "-q", "-m", "seed"]);
        write("a.yaml", "image: nginx:2\n"); // modified, not staged
        write("b.yaml", "image: nginx:2\n");
        git(&["add", "b.yaml"]); // modified, staged
        std::fs::remove_file(root.join("e.yaml")).unwrap(); // deleted, not staged
        git(&["mv", "f.yaml", "g.yaml"]); // renamed, staged: two entries
        write("h.yaml", "image: nginx:1\n");
        git(&["add", "h.yaml"]); // new, staged
        write("dir/c d.yaml", "image: nginx:2\n");
        write("ü.yaml", "image: nginx:2\n");
        write("u.yaml", "untracked\n");
        write("ign/x.yaml", "ignored\n");
        let repo = Git::discover(root, Auth::default()).unwrap();
        let expected: Vec<String> = [
            "a.yaml",
            "b.yaml",
            "dir/c d.yaml",
            "e.yaml",
            "f.yaml",
            "g.yaml",
            "h.yaml",
            "ü.yaml",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(repo.dirty_files_by_cli(), Some(expected.clone()));
        assert_eq!(repo.dirty_files_by_libgit2().unwrap(), expected);
    }

    #[test]
    fn porcelain_records_of_another_shape_are_not_read() {
        assert_eq!(
            porcelain_paths(b" M a.yaml\0A  dir/b c.yaml\0"),
            Some(vec!["a.yaml".to_string(), "dir/b c.yaml".to_string()])
        );
        assert_eq!(porcelain_paths(b""), Some(vec![]));
        assert_eq!(porcelain_paths(b"M\0"), None);
        assert_eq!(porcelain_paths(b"?? \0"), None);
        // A rename's second record (without --no-renames) is not an `XY path` record.
        assert_eq!(porcelain_paths(b"R  g.yaml\0f.yaml\0"), None);
    }

    #[test]
    fn local_remotes_are_told_from_network_ones() {
        assert_eq!(local_path("/srv/g.git"), Some(PathBuf::from("/srv/g.git")));
        assert_eq!(
            local_path("file:///srv/g.git"),
            Some(PathBuf::from("/srv/g.git"))
        );
        assert_eq!(local_path("../g.git"), Some(PathBuf::from("../g.git")));
        assert_eq!(local_path("git@github.com:o/r.git"), None);
        assert_eq!(local_path("https://github.com/o/r.git"), None);
        assert_eq!(local_path("ssh://git@host/r.git"), None);
    }

    #[test]
    fn signoff_joins_the_trailer_block() {
        let who = Identity {
            name: "A".into(),
            email: "a@x".into(),
        };
        let m = render_message(
            "bump {summary}\n\n{images}\n\nHarborize-Images: {count}",
            "- a:1 → b:2",
            1,
            "a to 2",
            Some(&who),
        );
        assert_eq!(
            m,
            "bump a to 2\n\n- a:1 → b:2\n\nHarborize-Images: 1\nSigned-off-by: A <a@x>\n"
        );
    }

    #[test]
    fn porcelain_push_status_tells_a_race_from_a_declined_push() {
        let spec = "refs/heads/main:refs/heads/main";
        let line =
            |flag: &str, summary: &str| format!("To /srv/r.git\n{flag}\t{spec}\t{summary}\nDone\n");
        assert_eq!(
            local_push_status(&line(" ", "a..b"), spec),
            Some(LocalPush::Pushed)
        );
        for race in [
            "[rejected] (fetch first)",
            "[rejected] (non-fast-forward)",
            "[remote rejected] (failed to update ref)",
            "[remote rejected] (non-fast-forward)",
        ] {
            assert!(
                matches!(
                    local_push_status(&line("!", race), spec),
                    Some(LocalPush::Race(_))
                ),
                "{race}"
            );
        }
        for declined in [
            "[remote rejected] (pre-receive hook declined)",
            "[remote rejected] (hook declined)",
            "[remote rejected] (branch is currently checked out)",
        ] {
            assert!(
                matches!(
                    local_push_status(&line("!", declined), spec),
                    Some(LocalPush::Declined(_))
                ),
                "{declined}"
            );
        }
        assert_eq!(local_push_status("fatal: nope\n", spec), None);
    }
}
