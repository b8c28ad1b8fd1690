//! `migrate --shard I/N`: one machine's deterministic share of an org-wide migration, so
//! a GitHub Actions matrix or a Kubernetes Indexed Job fans a repository list out without
//! a scheduler of its own.
//!
//! A repository's shard is a fixed function of its URL alone: the first 8 bytes of the
//! SHA-256 of the URL (credentials removed), big-endian, modulo N. Not std's
//! `DefaultHasher`, whose algorithm may change between Rust releases: machines built with
//! different compilers must agree. Since it depends on nothing else, the shards do not
//! change when the list is reordered, and every repository is in exactly one of them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Kubernetes sets it in each pod of an Indexed Job (0 ≤ index < completions).
pub const INDEX_ENV: &str = "JOB_COMPLETION_INDEX";
/// Not set by Kubernetes: the Job manifest sets it to `spec.completions`.
pub const COUNT_ENV: &str = "JOB_COMPLETION_COUNT";

/// Share `index` of `count` (`I/N`, 0-based like `JOB_COMPLETION_INDEX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

/// A shard that cannot be: bad syntax, index out of range, environment half set.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShardError {
    #[error("{0:?}: expected I/N, two whole numbers with 0 <= I < N (e.g. 0/4)")]
    Syntax(String),
    #[error("{INDEX_ENV} is set but {COUNT_ENV} is not: set it to the Job's completions")]
    NoCount,
    #[error("{COUNT_ENV} is set but {INDEX_ENV} is not (an Indexed Job sets it)")]
    NoIndex,
    #[error("--shard {flag} disagrees with {INDEX_ENV}/{COUNT_ENV} = {env}")]
    Disagree { flag: Shard, env: Shard },
}

impl FromStr for Shard {
    type Err = ShardError;
    fn from_str(s: &str) -> Result<Shard, ShardError> {
        let bad = || ShardError::Syntax(s.to_string());
        let (i, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let number = |t: &str| -> Result<u32, ShardError> {
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            t.parse().map_err(|_| bad())
        };
        Shard::new(number(i)?, number(n)?).ok_or_else(bad)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// `None` unless `index < count`.
    pub fn new(index: u32, count: u32) -> Option<Shard> {
        (index < count).then_some(Shard { index, count })
    }

    /// The file name part of this shard's report and state: `shard-I-of-N`.
    pub fn file_tag(self) -> String {
        format!("shard-{}-of-{}", self.index, self.count)
    }

    /// The positions (in `repos`) of the repositories in this shard, in list order.
    pub fn select(self, repos: &[String]) -> Vec<usize> {
        (0..repos.len())
            .filter(|&i| shard_of(&repos[i], self.count) == self.index)
            .collect()
    }

    /// Where this shard's report stands in the whole list `repos`: `positions` are those
    /// of its repositories ([`Shard::select`]).
    pub fn info(self, repos: &[String], positions: Vec<usize>) -> ShardInfo {
        ShardInfo {
            index: self.index,
            count: self.count,
            total: repos.len(),
            list: list_fingerprint(repos),
            positions,
        }
    }
}

/// The shard to run: `--shard` if given, else the Indexed Job environment; both must agree
/// when both are set.
pub fn resolve(
    flag: Option<Shard>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Shard>, ShardError> {
    let from_env = from_env(env)?;
    match (flag, from_env) {
        (Some(f), Some(e)) if f != e => Err(ShardError::Disagree { flag: f, env: e }),
        (Some(f), _) => Ok(Some(f)),
        (None, e) => Ok(e),
    }
}

/// `JOB_COMPLETION_INDEX` / `JOB_COMPLETION_COUNT`; neither set is no shard.
pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Option<Shard>, ShardError> {
    let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    match (get(INDEX_ENV), get(COUNT_ENV)) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(ShardError::NoCount),
        (None, Some(_)) => Err(ShardError::NoIndex),
        (Some(i), Some(n)) => format!("{}/{}", i.trim(), n.trim()).parse().map(Some),
    }
}

/// What is hashed: the repository as named, without credentials (a token in a URL must
/// not move a repository to another shard).
pub fn shard_key(repo: &str) -> String {
    crate::vcs::git::redact_url(repo.trim())
}

/// The shard (0..count) of a repository: SHA-256 of [`shard_key`], first 8 bytes
/// big-endian, modulo `count`.
pub fn shard_of(repo: &str, count: u32) -> u32 {
    let digest = Sha256::digest(shard_key(repo).as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) % u64::from(count.max(1))) as u32
}

/// A fingerprint of the whole list (SHA-256 of the keys, one a line, in order): the shards
/// of one migration must all have been given the same list.
pub fn list_fingerprint(repos: &[String]) -> String {
    let mut h = Sha256::new();
    for r in repos {
        h.update(shard_key(r).as_bytes());
        h.update(b"\n");
    }
    format!("sha256:{:x}", h.finalize())
}

/// The GitHub Actions matrix for `count` shards, on one line for `$GITHUB_OUTPUT`:
/// `{"shard":["0/N",...]}`, used as `strategy.matrix: ${{ fromJSON(...) }}`.
pub fn matrix_json(count: u32) -> String {
    let shards: Vec<String> = (0..count).map(|i| format!("{i}/{count}")).collect();
    serde_json::json!({ "shard": shards }).to_string()
}

/// Where a shard's report stands in the whole migration (the report's `shard` field).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    pub index: u32,
    pub count: u32,
    /// Repositories in the whole list.
    pub total: usize,
    /// [`list_fingerprint`] of the whole list.
    pub list: String,
    /// For each repository of this report, in order, its position in the whole list.
    pub positions: Vec<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("https://git.example.com/org-{}/repo-{i}.git", i % 17))
            .collect()
    }

    #[test]
    fn every_repository_is_in_exactly_one_shard_for_any_count() {
        let list = urls(1000);
        for count in [1, 2, 3, 7, 16, 64] {
            let mut seen = vec![0u32; list.len()];
            for index in 0..count {
                for i in (Shard { index, count }).select(&list) {
                    seen[i] += 1;
                }
            }
            assert!(seen.iter().all(|&n| n == 1), "count {count}");
        }
    }

    #[test]
    fn shards_do_not_depend_on_list_order() {
        let list = urls(1000);
        let mut reversed = list.clone();
        reversed.reverse();
        let mut rotated = list.clone();
        rotated.rotate_left(337);
        for index in 0..5 {
            let s = Shard { index, count: 5 };
            let names = |l: &[String]| {
                let mut v: Vec<String> = s.select(l).into_iter().map(|i| l[i].clone()).collect();
                v.sort();
                v
            };
            assert_eq!(names(&list), names(&reversed));
            assert_eq!(names(&list), names(&rotated));
        }
    }

    /// Values computed apart from this code (Python: `int.from_bytes(
    /// hashlib.sha256(url.encode()).digest()[:8], "big") % n`): the algorithm is fixed,
    /// so every machine and every compiler agrees.
    #[test]
    fn the_shard_function_is_sha256_and_fixed() {
        for (url, n, want) in FIXED {
            assert_eq!(shard_of(url, *n), *want, "{url} mod {n}");
        }
    }

    const FIXED: &[(&str, u32, u32)] = &[
        ("https://github.com/org/a.git", 2, 1),
        ("https://github.com/org/a.git", 4, 3),
        ("https://github.com/org/a.git", 7, 3),
        ("https://github.com/org/a.git", 1000, 947),
        ("https://github.com/argoproj/argocd-example-apps", 2, 0),
        ("https://github.com/argoproj/argocd-example-apps", 4, 2),
        ("https://github.com/argoproj/argocd-example-apps", 7, 4),
        ("https://github.com/argoproj/argocd-example-apps", 1000, 466),
        ("git@github.com:org/platform-gitops.git", 2, 0),
        ("git@github.com:org/platform-gitops.git", 4, 2),
        ("git@github.com:org/platform-gitops.git", 7, 1),
        ("git@github.com:org/platform-gitops.git", 1000, 598),
        ("file:///srv/git/team-7.git", 2, 0),
        ("file:///srv/git/team-7.git", 4, 2),
        ("file:///srv/git/team-7.git", 7, 2),
        ("file:///srv/git/team-7.git", 1000, 558),
        ("https://git.example.com/org-3/repo-999.git", 2, 1),
        ("https://git.example.com/org-3/repo-999.git", 4, 1),
        ("https://git.example.com/org-3/repo-999.git", 7, 1),
        ("https://git.example.com/org-3/repo-999.git", 1000, 801),
    ];

    #[test]
    fn credentials_do_not_move_a_repository() {
        assert_eq!(
            shard_of("https://x-access-token:s3cret@github.com/org/a.git", 97),
            shard_of("https://github.com/org/a.git", 97)
        );
    }

    #[test]
    fn parse_and_environment() {
        assert_eq!("1/4".parse(), Ok(Shard { index: 1, count: 4 }));
        for bad in ["4/4", "1", "-1/4", "1/0", "a/b", "1/4/5", " /4", "+1/4"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        let env = |i: Option<&'static str>, n: Option<&'static str>| {
            move |k: &str| match k {
                INDEX_ENV => i.map(String::from),
                COUNT_ENV => n.map(String::from),
                _ => None,
            }
        };
        assert_eq!(resolve(None, env(None, None)), Ok(None));
        assert_eq!(
            resolve(None, env(Some("2"), Some("3"))),
            Ok(Some(Shard { index: 2, count: 3 }))
        );
        assert_eq!(
            resolve(None, env(Some("2"), None)),
            Err(ShardError::NoCount)
        );
        assert_eq!(
            resolve(None, env(None, Some("3"))),
            Err(ShardError::NoIndex)
        );
        assert!(resolve(None, env(Some("3"), Some("3"))).is_err());
        let flag = Some(Shard { index: 1, count: 3 });
        assert_eq!(resolve(flag, env(None, None)), Ok(flag));
        assert_eq!(resolve(flag, env(Some("1"), Some("3"))), Ok(flag));
        assert!(matches!(
            resolve(flag, env(Some("2"), Some("3"))),
            Err(ShardError::Disagree { .. })
        ));
    }

    #[test]
    fn matrix_lists_every_shard() {
        assert_eq!(matrix_json(3), r#"{"shard":["0/3","1/3","2/3"]}"#);
    }
}
