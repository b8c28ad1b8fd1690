//! Where a repository of `harborize migrate` comes from: a directory, or a git URL that is
//! cloned into the workdir (the clone itself: `crate::migrate::clone_or_reuse`), and the
//! key each one has in the state file and the reports.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::clone_or_reuse;
use crate::vcs::git::Auth;

/// A repository named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A local directory (a git work tree, or a plain directory without `--commit`).
    Dir(PathBuf),
    /// A git URL (`https://`, `ssh://`, `git@host:path`, `file://`), cloned into the workdir.
    Url(String),
}

impl Source {
    /// An existing directory is a directory; anything that looks like a URL is a URL.
    pub fn parse(arg: &str) -> Result<Source> {
        let p = Path::new(arg);
        if p.is_dir() {
            return Ok(Source::Dir(p.to_path_buf()));
        }
        if arg.contains("://") || crate::vcs::git::local_path(arg).is_none() {
            return Ok(Source::Url(arg.to_string()));
        }
        bail!("{arg}: not a directory, nor a git URL (https://, ssh://, git@host:path, file://)")
    }

    /// The key of the repository in the state file and reports: the canonical directory,
    /// or the URL without credentials.
    pub fn key(&self) -> String {
        match self {
            Source::Dir(p) => p
                .canonicalize()
                .unwrap_or_else(|_| p.clone())
                .display()
                .to_string(),
            Source::Url(u) => crate::vcs::git::redact_url(u),
        }
    }

    /// The work tree to migrate, canonical: the directory, or the clone of the URL in
    /// `workdir` (made, or an earlier run's brought up to date: [`clone_or_reuse`]; `auth`
    /// is only asked for then), and a note worth reporting.
    pub fn work_tree(
        &self,
        workdir: &Path,
        auth: impl FnOnce() -> Result<Auth>,
    ) -> Result<(PathBuf, Option<String>)> {
        let (dir, note) = match self {
            Source::Dir(p) => (p.clone(), None),
            Source::Url(u) => clone_or_reuse(u, workdir, &auth()?)?,
        };
        let root = dir
            .canonicalize()
            .with_context(|| format!("cannot resolve {}", dir.display()))?;
        Ok((root, note))
    }

    /// How the report names it: the URL without credentials, a directory as given.
    pub fn shown(&self, arg: &str) -> String {
        match self {
            Source::Url(u) => crate::vcs::git::redact_url(u),
            Source::Dir(_) => arg.to_string(),
        }
    }

    /// Every repository of the command line; one named twice (same key) is an error.
    pub fn parse_all(args: &[String]) -> Result<Vec<Source>> {
        let sources: Vec<Source> = args
            .iter()
            .map(|a| Source::parse(a))
            .collect::<Result<_>>()?;
        let mut keys = BTreeSet::new();
        for s in &sources {
            if !keys.insert(s.key()) {
                bail!("{} is named twice", s.key());
            }
        }
        Ok(sources)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources() {
        assert_eq!(
            Source::parse("https://x/y.git").unwrap(),
            Source::Url("https://x/y.git".into())
        );
        assert_eq!(
            Source::parse("git@h:o/r.git").unwrap(),
            Source::Url("git@h:o/r.git".into())
        );
        assert!(Source::parse("/definitely/not/here").is_err());
    }
}
