//! The whole report of a `harborize migrate` run (`migration-report.json`, version 1):
//! every repository's report, the counts, and what the run ends with (the files it
//! writes, the text summary the command prints, the verdict its exit code follows).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::markdown::short;
use super::report::{RepoReport, RepoStatus};
use super::Direction;
use crate::report::escape_text;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MigrationSummary {
    pub repos: usize,
    pub migrated: usize,
    pub unchanged: usize,
    pub pending: usize,
    pub skipped: usize,
    pub verify_failed: usize,
    pub scan_failed: usize,
    pub partial: usize,
    pub failed: usize,
    pub files_changed: usize,
    pub references_rewritten: usize,
    pub commits: usize,
    pub errors: usize,
}

impl MigrationSummary {
    /// The repositories counted by status, as both the text summary and the markdown
    /// report open their totals line (`d` names the migrated status).
    pub fn status_counts(&self, d: Direction) -> String {
        format!(
            "{} repositories: {} {}, {} unchanged, {} pending, {} skipped, {} verify-failed, {} scan-failed, {} partial, {} failed",
            self.repos,
            self.migrated,
            RepoStatus::Migrated.label(d),
            self.unchanged,
            self.pending,
            self.skipped,
            self.verify_failed,
            self.scan_failed,
            self.partial,
            self.failed,
        )
    }
}

/// The final report (`migration-report.json`, version 1).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MigrationReport {
    pub version: u32,
    pub direction: Direction,
    pub dry_run: bool,
    pub repos: Vec<RepoReport>,
    pub summary: MigrationSummary,
    /// `--shard I/N`: where this report stands in the whole migration (for the merge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<super::shard::ShardInfo>,
}

impl MigrationReport {
    pub fn new(direction: Direction, dry_run: bool, repos: Vec<RepoReport>) -> Self {
        let mut s = MigrationSummary {
            repos: repos.len(),
            ..Default::default()
        };
        for r in &repos {
            match r.status {
                RepoStatus::Migrated => s.migrated += 1,
                RepoStatus::Unchanged => s.unchanged += 1,
                RepoStatus::Pending => s.pending += 1,
                RepoStatus::Skipped => s.skipped += 1,
                RepoStatus::VerifyFailed => s.verify_failed += 1,
                RepoStatus::ScanFailed => s.scan_failed += 1,
                RepoStatus::Partial => s.partial += 1,
                RepoStatus::Failed => s.failed += 1,
            }
            if r.status != RepoStatus::Skipped {
                if r.written {
                    s.files_changed += r.changes.len();
                    s.references_rewritten += r.rewritten();
                }
                s.commits += r.commits.len();
                s.errors += r.errors.len() + usize::from(r.status == RepoStatus::Failed);
            }
        }
        MigrationReport {
            version: 1,
            direction,
            dry_run,
            repos,
            summary: s,
            shard: None,
        }
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the report serializes") + "\n"
    }

    /// The report files in `dir`, `migration-report<tag>.md` and `.json`, with their texts.
    pub fn files(&self, dir: &Path, tag: &str) -> [(PathBuf, String); 2] {
        [
            (
                dir.join(format!("migration-report{tag}.md")),
                self.markdown(),
            ),
            (dir.join(format!("migration-report{tag}.json")), self.json()),
        ]
    }

    /// The `pr-url` line of `$GITHUB_OUTPUT`: the URL of each pull request this run opened
    /// or updated (space-separated when there are several; empty when none).
    pub fn github_output(&self) -> String {
        let urls: Vec<&str> = self
            .repos
            .iter()
            .filter(|r| r.status != RepoStatus::Skipped)
            .filter_map(|r| r.pull_request.as_ref().map(|p| p.url.as_str()))
            .collect();
        format!("pr-url={}\n", urls.join(" "))
    }

    /// The worst outcome of the run's repositories; `unreachable_fails`: a registry that
    /// could not be reached is an error (`--on-unreachable fail`), not a finding.
    pub fn verdict(&self, unreachable_fails: bool) -> Verdict {
        let mut worst = Verdict::Ok;
        for r in &self.repos {
            let v = match r.status {
                RepoStatus::Failed | RepoStatus::Partial => Verdict::Error,
                RepoStatus::VerifyFailed
                    if unreachable_fails
                        && r.verify.as_ref().is_some_and(|v| v.unreachable > 0) =>
                {
                    Verdict::Error
                }
                RepoStatus::ScanFailed if r.scan.as_ref().is_some_and(|s| s.errors > 0) => {
                    Verdict::Error
                }
                RepoStatus::VerifyFailed | RepoStatus::ScanFailed | RepoStatus::Pending => {
                    Verdict::Findings
                }
                _ => Verdict::Ok,
            };
            worst = worst.max(v);
        }
        worst
    }

    /// The text summary, one [`Line`] each: per repository its status line (stdout), its
    /// errors (stderr) and what stays direct, then the totals. Already escaped for a
    /// terminal.
    pub fn text_summary(&self) -> Vec<Line> {
        let d = self.direction;
        let mut out = Vec::new();
        for r in &self.repos {
            out.push(Line::Out(escape_text(&status_line(r, d)).into_owned()));
            for e in &r.errors {
                // The finding's one diagnostic line (report::text), uncoloured here.
                let mut line = Vec::new();
                let _ = crate::report::text::write_finding(&mut line, e);
                let line = String::from_utf8_lossy(&line);
                out.push(Line::Err(
                    anstream::adapter::strip_str(line.trim_end()).to_string(),
                ));
            }
            let stays: usize = r.stays.iter().map(|s| s.count).sum();
            if stays > 0 && r.status != RepoStatus::Skipped {
                let parts: Vec<String> = r
                    .stays
                    .iter()
                    .map(|s| {
                        if s.key.is_empty() {
                            format!("{} {}", s.count, s.reason)
                        } else {
                            format!("{} {} ({})", s.count, s.reason, s.key)
                        }
                    })
                    .collect();
                out.push(Line::Out(format!(
                    "  stays direct: {}",
                    escape_text(&parts.join(", "))
                )));
            }
        }
        let s = &self.summary;
        out.push(Line::Out(format!(
            "migrate: {}; {} files changed, {} references, {} commits",
            s.status_counts(d),
            s.files_changed,
            s.references_rewritten,
            s.commits
        )));
        out
    }
}

/// How a run ends, worst last (the command maps it to its exit code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    Ok,
    /// Pending changes (`--dry-run`) or a failed check.
    Findings,
    /// A repository failed, partly or wholly.
    Error,
}

/// One line of the text summary: the report goes to stdout, diagnostics to stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Out(String),
    Err(String),
}

/// A repository's line of the text summary (not yet escaped).
fn status_line(r: &RepoReport, d: Direction) -> String {
    let mut line = format!("{:<13} {}", r.status.label(d), r.repo);
    match r.status {
        RepoStatus::Migrated | RepoStatus::Pending | RepoStatus::Partial => {
            line.push_str(&format!(
                ": {} file(s), {} reference(s)",
                r.changes.len(),
                r.rewritten()
            ));
            if !r.commits.is_empty() {
                line.push_str(&format!(
                    "; commit {} on {}",
                    r.commits
                        .iter()
                        .map(|c| short(&c.sha))
                        .collect::<Vec<_>>()
                        .join(" "),
                    r.branch.as_deref().unwrap_or("HEAD")
                ));
            }
            if r.pushed {
                line.push_str(", pushed");
            }
            if let Some(p) = &r.pull_request {
                line.push_str(&format!(
                    "; {} pull request #{}: {}",
                    if p.created { "opened" } else { "updated" },
                    p.number,
                    p.url
                ));
            }
            if !r.errors.is_empty() {
                line.push_str(&format!("; {} error(s)", r.errors.len()));
            }
        }
        _ => {
            if let Some(m) = &r.message {
                line.push_str(&format!(": {m}"));
            }
        }
    }
    line
}
