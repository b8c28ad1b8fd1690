//! `migrate --merge-reports DIR`: the shard reports of one migration (`migrate --shard I/N`,
//! each `migration-report-shard-I-of-N.json`) combined into the report a single process
//! would have written for the whole list.
//!
//! Each shard report records its place in the whole migration ([`ShardInfo`]): the shard,
//! the length and fingerprint of the whole list, and each repository's position in it. So
//! the merge can refuse what would not add up (a shard missing or twice, shards of another
//! list, a repository twice) and put the repositories back in list order; the summary is
//! then recomputed from them exactly as a single run computes it.

use std::path::{Path, PathBuf};

use crate::migrate::shard::ShardInfo;
use crate::migrate::MigrationReport;

/// Why shard reports do not make one report.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a harborize migration report: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{0}: no shard reports (migration-report-shard-I-of-N.json) here or one level below")]
    NoReports(PathBuf),
    #[error("{0}: not a shard report (no `shard`: written by `migrate` without --shard)")]
    NotShard(PathBuf),
    #[error("{path}: report version {version}, this harborize reads version 1")]
    Version { path: PathBuf, version: u32 },
    #[error("{path}: {what} differs from {first} ({a} there, {b} here)")]
    Mismatch {
        path: PathBuf,
        first: PathBuf,
        what: &'static str,
        a: String,
        b: String,
    },
    #[error("shard {index}/{count} is in both {a} and {b}")]
    DuplicateShard {
        index: u32,
        count: u32,
        a: PathBuf,
        b: PathBuf,
    },
    #[error("shard report(s) missing: {missing} of {count} (each shard's migration-report-shard-I-of-{count}.json)")]
    Missing { missing: String, count: u32 },
    #[error("{path}: {problem}")]
    Positions { path: PathBuf, problem: String },
}

/// Is this the file name of a shard report?
pub fn is_shard_report_name(name: &str) -> bool {
    let Some(rest) = name
        .strip_prefix("migration-report-shard-")
        .and_then(|r| r.strip_suffix(".json"))
    else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    rest.split_once("-of-")
        .is_some_and(|(i, n)| digits(i) && digits(n))
}

/// The shard reports in `dir` and its direct subdirectories (one artifact per shard, as
/// `actions/download-artifact` lays them out), sorted. Deeper is not searched: the clones
/// under a report directory's `repos/` are not reports.
pub fn find(dir: &Path) -> Result<Vec<PathBuf>, MergeError> {
    let read = |d: &Path| -> Result<Vec<PathBuf>, MergeError> {
        let entries = std::fs::read_dir(d).map_err(|source| MergeError::Read {
            path: d.to_path_buf(),
            source,
        })?;
        Ok(entries.filter_map(|e| e.ok()).map(|e| e.path()).collect())
    };
    let mut found = Vec::new();
    for entry in read(dir)? {
        if entry.is_dir() {
            found.extend(
                read(&entry)?
                    .into_iter()
                    .filter(|p| p.is_file() && named(p)),
            );
        } else if named(&entry) {
            found.push(entry);
        }
    }
    found.sort();
    if found.is_empty() {
        return Err(MergeError::NoReports(dir.to_path_buf()));
    }
    Ok(found)
}

fn named(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(is_shard_report_name)
}

/// Read and merge every shard report under `dir`.
pub fn merge_dir(dir: &Path) -> Result<MigrationReport, MergeError> {
    let mut reports = Vec::new();
    for path in find(dir)? {
        let text = std::fs::read_to_string(&path).map_err(|source| MergeError::Read {
            path: path.clone(),
            source,
        })?;
        let report: MigrationReport =
            serde_json::from_str(&text).map_err(|source| MergeError::Parse {
                path: path.clone(),
                source,
            })?;
        reports.push((path, report));
    }
    merge(reports)
}

/// Merge shard reports: all shards of one list, each once, into list order.
pub fn merge(reports: Vec<(PathBuf, MigrationReport)>) -> Result<MigrationReport, MergeError> {
    let (first_path, first) = match reports.first() {
        Some((p, r)) => (p.clone(), r.clone()),
        None => return Err(MergeError::NoReports(PathBuf::from("."))),
    };
    let first_shard = shard(&first_path, &first)?.clone();
    let count = first_shard.count;
    let mut by_index: Vec<Option<PathBuf>> = vec![None; count as usize];
    let mut slots: Vec<Option<crate::migrate::RepoReport>> = vec![None; first_shard.total];
    for (path, report) in reports {
        let info = shard(&path, &report)?.clone();
        let mismatch = |what: &'static str, a: String, b: String| MergeError::Mismatch {
            path: path.clone(),
            first: first_path.clone(),
            what,
            a,
            b,
        };
        if report.version != 1 {
            return Err(MergeError::Version {
                path,
                version: report.version,
            });
        }
        if info.count != count {
            return Err(mismatch(
                "the shard count",
                count.to_string(),
                info.count.to_string(),
            ));
        }
        if info.total != first_shard.total || info.list != first_shard.list {
            return Err(mismatch(
                "the repository list",
                first_shard.list.clone(),
                info.list,
            ));
        }
        if report.direction != first.direction {
            return Err(mismatch(
                "the direction",
                first.direction.as_str().into(),
                report.direction.as_str().into(),
            ));
        }
        if report.dry_run != first.dry_run {
            return Err(mismatch(
                "--dry-run",
                first.dry_run.to_string(),
                report.dry_run.to_string(),
            ));
        }
        let slot = &mut by_index[info.index as usize];
        if let Some(a) = slot.take() {
            return Err(MergeError::DuplicateShard {
                index: info.index,
                count,
                a,
                b: path,
            });
        }
        *slot = Some(path.clone());
        place(&path, &info, report.repos, &mut slots)?;
    }
    let missing: Vec<String> = by_index
        .iter()
        .enumerate()
        .filter(|(_, p)| p.is_none())
        .map(|(i, _)| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(MergeError::Missing {
            missing: missing.join(", "),
            count,
        });
    }
    let repos: Option<Vec<_>> = slots.into_iter().collect();
    let repos = repos.ok_or_else(|| MergeError::Positions {
        path: first_path,
        problem: "every shard is here but some repositories of the list are in none".into(),
    })?;
    Ok(MigrationReport::new(first.direction, first.dry_run, repos))
}

fn shard<'a>(path: &Path, report: &'a MigrationReport) -> Result<&'a ShardInfo, MergeError> {
    let info = report
        .shard
        .as_ref()
        .ok_or_else(|| MergeError::NotShard(path.to_path_buf()))?;
    if info.index >= info.count {
        return Err(MergeError::Positions {
            path: path.to_path_buf(),
            problem: format!("shard {}/{} is out of range", info.index, info.count),
        });
    }
    Ok(info)
}

/// Put a shard's repositories at their positions in the whole list.
fn place(
    path: &Path,
    info: &ShardInfo,
    repos: Vec<crate::migrate::RepoReport>,
    slots: &mut [Option<crate::migrate::RepoReport>],
) -> Result<(), MergeError> {
    let problem = |problem: String| MergeError::Positions {
        path: path.to_path_buf(),
        problem,
    };
    if info.positions.len() != repos.len() {
        return Err(problem(format!(
            "{} repositories but {} positions",
            repos.len(),
            info.positions.len()
        )));
    }
    for (&pos, repo) in info.positions.iter().zip(repos) {
        let slot = slots
            .get_mut(pos)
            .ok_or_else(|| problem(format!("position {pos} is past the list's end")))?;
        if slot.is_some() {
            return Err(problem(format!(
                "{} is at position {pos}, which another report also holds",
                repo.repo
            )));
        }
        *slot = Some(repo);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_report_names() {
        assert!(is_shard_report_name("migration-report-shard-0-of-4.json"));
        assert!(is_shard_report_name("migration-report-shard-12-of-16.json"));
        for bad in [
            "migration-report.json",
            "migration-report-shard-0-of-4.md",
            "migration-report-shard-a-of-4.json",
            "migration-report-shard-0-of-.json",
            "migration-state-shard-0-of-4.json",
        ] {
            assert!(!is_shard_report_name(bad), "{bad}");
        }
    }
}
