//! The resumable state of `harborize migrate` (`--state`): the repositories a run
//! finished, written after every repository so an interrupted run resumes where it
//! stopped, and what a rerun reports for the ones it skips.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::markdown::short;
use super::report::{RepoReport, RepoStatus};
use super::{write_atomic, Direction};

/// A repository a run finished.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finished {
    pub direction: Direction,
    /// When (HTTP date, UTC).
    pub finished: String,
    #[serde(default)]
    pub commits: Vec<String>,
    #[serde(default)]
    pub pushed: bool,
    /// The report of the run that finished it (shown again when a rerun skips it).
    pub report: RepoReport,
}

/// The state file: finished repositories by key. Written after every repository, so an
/// interrupted run resumes where it stopped.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    pub repos: BTreeMap<String, Finished>,
}

impl Default for State {
    fn default() -> Self {
        State {
            version: 1,
            repos: BTreeMap::new(),
        }
    }
}

impl State {
    /// Read the state file; a missing file is an empty state.
    pub fn load(path: &Path) -> Result<State> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).with_context(|| {
                format!("{}: not a harborize migration state file", path.display())
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// The entry when the repository was finished in this direction (a migrate after a
    /// revert, or the reverse, runs again).
    pub fn finished(&self, key: &str, direction: Direction) -> Option<&Finished> {
        self.repos.get(key).filter(|f| f.direction == direction)
    }

    pub fn record(&mut self, key: String, direction: Direction, report: &RepoReport) {
        self.repos.insert(
            key,
            Finished {
                direction,
                finished: httpdate::fmt_http_date(std::time::SystemTime::now()),
                commits: report.commits.iter().map(|c| c.sha.clone()).collect(),
                pushed: report.pushed,
                report: report.clone(),
            },
        );
    }

    /// Write atomically (temporary file + rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)? + "\n";
        write_atomic(path, &text)
    }
}

impl Finished {
    /// The report of a repository this run skips because an earlier one finished it:
    /// that run's report, named `shown`, saying when and how to run it again.
    pub fn skipped(&self, shown: String, state_path: Option<&Path>) -> RepoReport {
        let mut r = self.report.clone();
        r.repo = shown;
        r.status = RepoStatus::Skipped;
        let commits = if self.commits.is_empty() {
            String::new()
        } else {
            format!(
                ", commit {}",
                self.commits
                    .iter()
                    .map(|c| short(c))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        };
        r.message = Some(format!(
            "finished in an earlier run ({}{commits}); remove its entry from {} to run it again",
            self.finished,
            state_path.map_or_else(String::new, |p| p.display().to_string())
        ));
        r
    }
}
