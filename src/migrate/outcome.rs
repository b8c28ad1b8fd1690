//! What the checks (`--verify`, `--scan`) and the end of a repository's turn make of its
//! report: a failed check keeps the repository unwritten and says why; otherwise its
//! status follows from what was (or, under `--dry-run`, would be) changed.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::paths::relative;
use super::report::{RepoReport, RepoStatus};
use super::Direction;
use crate::pipeline::plan::Status;
use crate::registry::Outcome;
use crate::report::scan::ScanOutput;
use crate::report::Report;

/// One reference that did not resolve through Harbor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerifyFailure {
    pub file: String,
    pub line: usize,
    pub reference: String,
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VerifyInfo {
    pub checked: usize,
    pub failed: usize,
    pub unreachable: usize,
    pub failures: Vec<VerifyFailure>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ScanInfo {
    pub images: usize,
    pub failed: usize,
    pub errors: usize,
    pub failing_findings: usize,
    pub messages: Vec<String>,
}

impl VerifyInfo {
    /// The counts of the verify check and every planned reference that did not resolve
    /// through Harbor (paths relative to `root`).
    pub fn from_plan(
        planned: &Report,
        root: &Path,
        (checked, failed, unreachable): (usize, usize, usize),
    ) -> VerifyInfo {
        let failures = planned
            .references
            .iter()
            .filter_map(|e| {
                let v = e
                    .verify
                    .as_ref()
                    .filter(|v| v.outcome != Outcome::Resolved)?;
                Some(VerifyFailure {
                    file: relative(root, &e.file),
                    line: e.line,
                    reference: e
                        .rewritten
                        .clone()
                        .filter(|_| e.status == Status::Rewritten)
                        .or_else(|| e.normalized.clone())
                        .unwrap_or_else(|| e.original.clone()),
                    outcome: serde_json::to_value(v.outcome)
                        .ok()
                        .and_then(|o| o.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    http_status: v.http_status,
                    message: v.message.clone(),
                })
            })
            .collect();
        VerifyInfo {
            checked,
            failed,
            unreachable,
            failures,
        }
    }
}

impl ScanInfo {
    /// The scan's counts, its errors and one line per failing image.
    pub fn from_scan(out: &ScanOutput) -> ScanInfo {
        let mut messages: Vec<String> = out.errors.iter().map(|e| e.message.clone()).collect();
        for img in out
            .images
            .iter()
            .filter(|i| i.result == crate::report::scan::Verdict::Fail)
        {
            messages.push(format!(
                "{}: {} failing finding(s)",
                img.label(),
                img.failing().count()
            ));
        }
        ScanInfo {
            images: out.summary.images,
            failed: out.summary.failed,
            errors: out.summary.errors,
            failing_findings: out.summary.failing,
            messages,
        }
    }
}

impl RepoReport {
    /// Record the verify check; `false` when it failed: then the report is filled from the
    /// plan and the repository is neither written nor committed.
    pub fn verified(
        &mut self,
        info: VerifyInfo,
        passed: bool,
        planned: &Report,
        root: &Path,
    ) -> bool {
        let failed = info.failed;
        self.verify = Some(info);
        if passed {
            return true;
        }
        self.fill(planned, root, false);
        self.status = RepoStatus::VerifyFailed;
        self.message = Some(format!(
            "{failed} reference(s) did not resolve through Harbor: nothing written or committed"
        ));
        false
    }

    /// Record the scan; `false` when it failed (as [`RepoReport::verified`]).
    pub fn scanned(
        &mut self,
        out: &ScanOutput,
        passed: bool,
        planned: &Report,
        root: &Path,
    ) -> bool {
        self.scan = Some(ScanInfo::from_scan(out));
        if passed {
            return true;
        }
        self.fill(planned, root, false);
        self.status = RepoStatus::ScanFailed;
        self.message = Some(format!(
            "the scan failed ({} image(s) failing, {} error(s)): nothing written or committed",
            out.summary.failed, out.summary.errors
        ));
        false
    }

    /// `--dry-run`: the plan's changes are pending, nothing is written.
    pub fn settle_dry_run(&mut self, planned: &Report, root: &Path) {
        self.fill(planned, root, false);
        self.status = if !self.errors.is_empty() {
            RepoStatus::Partial
        } else if self.changes.is_empty() {
            RepoStatus::Unchanged
        } else {
            RepoStatus::Pending
        };
    }

    /// After the write (and commit, push): migrated, unchanged, or partial when some files
    /// could not be processed.
    pub fn settle_written(&mut self, direction: Direction) {
        self.status = if !self.errors.is_empty() {
            RepoStatus::Partial
        } else if self.changes.is_empty() {
            RepoStatus::Unchanged
        } else {
            RepoStatus::Migrated
        };
        if self.status == RepoStatus::Partial {
            self.message = Some(format!(
                "{} file(s) could not be processed (left untouched); the others were {}",
                self.errors.len(),
                RepoStatus::Migrated.label(direction)
            ));
        }
    }

    /// The repository could not be migrated at all: the error's chain, redacted.
    pub fn fail(&mut self, e: &anyhow::Error, redact: impl Fn(&str) -> String) {
        self.status = RepoStatus::Failed;
        let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
        self.message = Some(redact(&chain.join(": ")));
    }
}
