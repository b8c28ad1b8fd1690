//! One `harborize migrate` run over its list of repositories: where its state file and
//! clones go, which repositories an earlier run already finished (skipped, with that
//! run's report), and the state file written after every repository that finishes, so an
//! interrupted run resumes where it stopped. Migrating one repository is the command's.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::report::RepoReport;
use super::state::State;
use super::summary::MigrationReport;
use super::Direction;

/// Where a run keeps its state and its clones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunPaths {
    /// `--state`, else `migration-state<tag>.json` in the report directory, else none.
    pub state: Option<PathBuf>,
    /// `--workdir`, else `repos` in the report directory, else `harborize-repos`.
    pub workdir: PathBuf,
}

impl RunPaths {
    /// `tag`: the shard's part of the file names (`-shard-I-of-N`), else empty.
    pub fn new(
        report_dir: Option<&Path>,
        state: Option<PathBuf>,
        workdir: Option<PathBuf>,
        tag: &str,
    ) -> RunPaths {
        RunPaths {
            state: state
                .or_else(|| report_dir.map(|d| d.join(format!("migration-state{tag}.json")))),
            workdir: workdir.unwrap_or_else(|| {
                report_dir.map_or_else(|| PathBuf::from("harborize-repos"), |d| d.join("repos"))
            }),
        }
    }
}

/// The run's reports so far and its state file.
pub struct Runner {
    direction: Direction,
    dry_run: bool,
    state: State,
    state_path: Option<PathBuf>,
    reports: Vec<RepoReport>,
}

impl Runner {
    /// Start a run, reading the state file when there is one (a missing file is empty).
    pub fn new(direction: Direction, dry_run: bool, state_path: Option<PathBuf>) -> Result<Runner> {
        let state = match &state_path {
            Some(p) => State::load(p)?,
            None => State::default(),
        };
        Ok(Runner {
            direction,
            dry_run,
            state,
            state_path,
            reports: Vec::new(),
        })
    }

    /// When an earlier run finished the repository `key` in this direction: its report,
    /// as skipped and named `shown`, is this run's, and `true`.
    pub fn skip_finished(&mut self, key: &str, shown: &str) -> bool {
        let Some(done) = self.state.finished(key, self.direction) else {
            return false;
        };
        let report = done.skipped(shown.to_string(), self.state_path.as_deref());
        self.reports.push(report);
        true
    }

    /// Add a repository's report; a `finished` one is recorded in the state file (saved
    /// at once), except under `--dry-run`.
    pub fn record(&mut self, key: String, report: RepoReport, finished: bool) -> Result<()> {
        if finished && !self.dry_run {
            if let Some(p) = &self.state_path {
                self.state.record(key, self.direction, &report);
                self.state.save(p)?;
            }
        }
        self.reports.push(report);
        Ok(())
    }

    /// The whole report of the run.
    pub fn into_report(self) -> MigrationReport {
        MigrationReport::new(self.direction, self.dry_run, self.reports)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_and_clones_go_where_asked_else_beside_the_report() {
        let d = Path::new("out");
        assert_eq!(
            RunPaths::new(Some(d), None, None, "-shard-0-of-2"),
            RunPaths {
                state: Some(d.join("migration-state-shard-0-of-2.json")),
                workdir: d.join("repos"),
            }
        );
        assert_eq!(
            RunPaths::new(None, None, None, ""),
            RunPaths {
                state: None,
                workdir: PathBuf::from("harborize-repos"),
            }
        );
        let (s, w) = (PathBuf::from("s.json"), PathBuf::from("w"));
        assert_eq!(
            RunPaths::new(Some(d), Some(s.clone()), Some(w.clone()), ""),
            RunPaths {
                state: Some(s),
                workdir: w,
            }
        );
    }
}
