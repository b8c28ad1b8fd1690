//! What `harborize migrate` says about one repository ([`RepoReport`], also kept in the
//! state file): its status, the references it changed, those that stay direct and why,
//! the files it could not process, its commits, and the checks' results.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::outcome::{ScanInfo, VerifyInfo};
use super::paths::relative;
use super::pull_secrets::SecretUse;
use super::Direction;
use crate::pipeline::plan::Status;
use crate::reference::Reference;
use crate::report::{ReferenceEntry, Report};

/// What became of one repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(strum::EnumIter))]
#[serde(rename_all = "kebab-case")]
pub enum RepoStatus {
    /// Files were rewritten (and committed when asked); no errors.
    Migrated,
    /// Nothing to change.
    Unchanged,
    /// `--dry-run`: changes are pending.
    Pending,
    /// Finished in an earlier run (state file).
    Skipped,
    /// References did not resolve through Harbor: nothing written.
    VerifyFailed,
    /// The Trivy gate failed: nothing written.
    ScanFailed,
    /// Some files had errors; the others were migrated (and committed).
    Partial,
    /// The repository could not be migrated at all (clone, config, git).
    Failed,
}

impl RepoStatus {
    pub fn label(self, direction: Direction) -> &'static str {
        match (self, direction) {
            (RepoStatus::Migrated, Direction::Revert) => "reverted",
            (RepoStatus::Migrated, Direction::Migrate) => "migrated",
            (RepoStatus::Unchanged, _) => "unchanged",
            (RepoStatus::Pending, _) => "pending",
            (RepoStatus::Skipped, _) => "skipped",
            (RepoStatus::VerifyFailed, _) => "verify-failed",
            (RepoStatus::ScanFailed, _) => "scan-failed",
            (RepoStatus::Partial, _) => "partial",
            (RepoStatus::Failed, _) => "failed",
        }
    }
    /// Counts as done: recorded in the state file.
    pub fn finished(self) -> bool {
        matches!(self, RepoStatus::Migrated | RepoStatus::Unchanged)
    }
}

/// One reference that changed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Change {
    pub line: usize,
    pub column: usize,
    pub kind: String,
    pub original: String,
    pub rewritten: String,
}

/// A file and its changed references.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileChange {
    pub file: String,
    pub references: Vec<Change>,
}

/// Where a reference that stays sits.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub original: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// References that stay direct for one reason (`unmapped` per registry, `excluded` per
/// pattern, `templated`, `invalid`, `hint`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stay {
    pub reason: String,
    /// The registry (`unmapped`), the glob (`excluded`), else empty.
    pub key: String,
    pub count: usize,
    pub references: Vec<Location>,
}

/// A file that could not be processed (the engine's `FileError`, repository-relative).
pub type RepoError = crate::finding::Finding;

/// A commit the run made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommitInfo {
    pub sha: String,
    /// The top-level directory (`--batch-by dir`), `.` for root files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<String>,
    pub files: Vec<String>,
}

/// Counts of one repository: the run's report summary plus the files it changed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RepoSummary {
    pub files_changed: usize,
    #[serde(flatten)]
    pub counts: crate::report::Summary,
}

/// Everything the report says about one repository (also kept in the state file).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RepoReport {
    /// As named on the command line (URLs without credentials).
    pub repo: String,
    /// The work tree migrated (the clone for URLs).
    #[serde(default)]
    pub path: String,
    pub status: RepoStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub harbor: Option<String>,
    /// The changes were written (false under `--dry-run` and when a gate failed).
    #[serde(default)]
    pub written: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default)]
    pub commits: Vec<CommitInfo>,
    #[serde(default)]
    pub pushed: bool,
    /// The pull request opened or updated (`--pull-request`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<crate::vcs::github::PrOut>,
    #[serde(default)]
    pub changes: Vec<FileChange>,
    #[serde(default)]
    pub stays: Vec<Stay>,
    #[serde(default)]
    pub errors: Vec<RepoError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<VerifyInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan: Option<ScanInfo>,
    /// `imagePullSecrets` uses found in the migrated manifests (with `--pull-secrets`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pull_secrets: Vec<SecretUse>,
    /// Harbor proxy path prefix → upstream registry, from this repository's config.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub registry_aliases: BTreeMap<String, String>,
    #[serde(default)]
    pub summary: RepoSummary,
}

impl RepoReport {
    pub fn new(repo: String) -> Self {
        RepoReport {
            repo,
            path: String::new(),
            status: RepoStatus::Failed,
            message: None,
            notes: Vec::new(),
            harbor: None,
            written: false,
            branch: None,
            commits: Vec::new(),
            pushed: false,
            pull_request: None,
            changes: Vec::new(),
            stays: Vec::new(),
            errors: Vec::new(),
            verify: None,
            scan: None,
            pull_secrets: Vec::new(),
            registry_aliases: BTreeMap::new(),
            summary: RepoSummary::default(),
        }
    }

    /// Fill changes, what stays and why, errors and counts from an engine report whose
    /// paths are under `root`; `written`: only applied rewrites count as changes.
    pub fn fill(&mut self, report: &Report, root: &Path, written: bool) {
        self.summary = RepoSummary {
            files_changed: report.files_changed.len(),
            counts: report.summary.clone(),
        };
        self.changes.clear();
        let mut by_file: BTreeMap<String, Vec<Change>> = BTreeMap::new();
        let mut stays: BTreeMap<(u8, String), Stay> = BTreeMap::new();
        for r in &report.references {
            let file = relative(root, &r.file);
            if r.status == Status::Rewritten {
                if written && !r.applied {
                    continue;
                }
                by_file.entry(file).or_default().push(Change {
                    line: r.line,
                    column: r.column,
                    kind: kind_label(r),
                    original: r.original.clone(),
                    rewritten: r.rewritten.clone().unwrap_or_default(),
                });
                continue;
            }
            let Some((order, reason, key)) = stay_key(r) else {
                continue;
            };
            let stay = stays.entry((order, key.clone())).or_insert_with(|| Stay {
                reason: reason.into(),
                key,
                count: 0,
                references: Vec::new(),
            });
            stay.count += 1;
            stay.references.push(Location {
                file,
                line: r.line,
                column: r.column,
                original: r.original.clone(),
                message: r.message.clone(),
            });
        }
        // Files in walk order (the order of the report).
        let mut seen = BTreeSet::new();
        for r in &report.references {
            let file = relative(root, &r.file);
            if seen.insert(file.clone()) {
                if let Some(refs) = by_file.remove(&file) {
                    self.changes.push(FileChange {
                        file,
                        references: refs,
                    });
                }
            }
        }
        self.stays = stays.into_values().collect();
        self.errors = report
            .errors
            .iter()
            .map(|e| RepoError {
                location: crate::finding::Location {
                    file: e.location.file.as_deref().map(|f| relative(root, f)),
                    ..e.location.clone()
                },
                ..e.clone()
            })
            .collect();
    }

    /// Changed files (repository-relative), in report order.
    pub fn changed_files(&self) -> Vec<String> {
        self.changes.iter().map(|c| c.file.clone()).collect()
    }

    pub fn rewritten(&self) -> usize {
        self.changes.iter().map(|c| c.references.len()).sum()
    }
}

fn kind_label(r: &ReferenceEntry) -> String {
    serde_json::to_value(r.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Why a reference stays, as (sort order, reason, key).
fn stay_key(r: &ReferenceEntry) -> Option<(u8, &'static str, String)> {
    let msg = r.message.as_deref().unwrap_or("");
    match r.status {
        Status::Unmapped => {
            let key = msg
                .strip_prefix("no Harbor project for registry ")
                .map(str::to_string)
                .or_else(|| {
                    r.normalized
                        .as_deref()
                        .and_then(|n| Reference::parse(n).ok())
                        .map(|n| n.domain().to_string())
                })
                .unwrap_or_else(|| "partial image map (repository from the chart)".into());
            Some((0, "unmapped", key))
        }
        Status::Excluded => {
            let key = msg
                .strip_prefix("excluded by ")
                .map(|p| p.trim_matches('"').to_string())
                .unwrap_or_else(|| msg.to_string());
            Some((1, "excluded", key))
        }
        Status::Templated => Some((2, "templated", String::new())),
        Status::Invalid => Some((3, "invalid", String::new())),
        Status::Hint => Some((4, "hint", String::new())),
        Status::Ambiguous => Some((5, "ambiguous", String::new())),
        Status::Rewritten | Status::AlreadyProxied => None,
    }
}
