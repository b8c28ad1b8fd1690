//! The building blocks of `harborize migrate` (the `migrate` command module composes them
//! and prints): where a repository comes from (a directory, or a git URL
//! cloned with git2), the per-repository report and its markdown / JSON renderings, the
//! resumable state file, top-level-directory batching, Renovate `registryAliases`, and the
//! `imagePullSecrets` that only served upstream registries now reached through Harbor.

pub mod report_merge;
pub mod shard;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::config::Config;
pub use crate::fsio::write_atomic;
use crate::pipeline::plan::Status;
use crate::pipeline::walk::{self, Walked};
use crate::reference::{is_templated, Reference};
use crate::report::escape_markdown_cell as cell;
use crate::report::{ReferenceEntry, Report};
pub use crate::vcs::clone::{clone_name, clone_or_reuse};
use crate::yaml::{self, Node, Stream};

/// How commits are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BatchBy {
    /// One commit per repository.
    Repo,
    /// One commit per top-level directory that changed (files at the root: one more).
    Dir,
}

/// Which way a run goes (also the key of finished repositories in the state file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    Migrate,
    Revert,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Migrate => "migrate",
            Direction::Revert => "revert",
        }
    }
}

// ---------------------------------------------------------------------------------------
// Sources

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
}

// ---------------------------------------------------------------------------------------
// Paths

/// A path relative to the repository root, `/`-separated (display paths otherwise).
pub fn relative(root: &Path, file: &str) -> String {
    let p = Path::new(file);
    let rel = p.strip_prefix(root).unwrap_or(p);
    rel.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The top-level directory of a repository-relative path; `.` for files at the root.
pub fn top_level_dir(rel: &str) -> String {
    match rel.split_once('/') {
        Some((first, _)) => first.to_string(),
        None => ".".to_string(),
    }
}

/// Group repository-relative files by top-level directory (sorted).
pub fn batches(files: &[String]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in files {
        out.entry(top_level_dir(f)).or_default().push(f.clone());
    }
    out
}

// ---------------------------------------------------------------------------------------
// The per-repository report

/// What became of one repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

// ---------------------------------------------------------------------------------------
// The whole report

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
    pub shard: Option<crate::migrate::shard::ShardInfo>,
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

    pub fn markdown(&self) -> String {
        let d = self.direction;
        let mut md = String::new();
        let title = match d {
            Direction::Migrate => "harborize migration report",
            Direction::Revert => "harborize migration report (revert)",
        };
        let _ = writeln!(md, "# {title}\n");
        if self.dry_run {
            let _ = writeln!(md, "Dry run: nothing was written or committed.\n");
        }
        let s = &self.summary;
        let _ = writeln!(
            md,
            "{} repositories: {} {}, {} unchanged, {} pending, {} skipped, {} verify-failed, {} scan-failed, {} partial, {} failed. {} files changed, {} references rewritten, {} commits.\n",
            s.repos,
            s.migrated,
            RepoStatus::Migrated.label(d),
            s.unchanged,
            s.pending,
            s.skipped,
            s.verify_failed,
            s.scan_failed,
            s.partial,
            s.failed,
            s.files_changed,
            s.references_rewritten,
            s.commits
        );
        let _ = writeln!(
            md,
            "| repository | status | files changed | references rewritten | stays direct | commits | errors |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|");
        for r in &self.repos {
            let stays: usize = r.stays.iter().map(|s| s.count).sum();
            let commits = r
                .commits
                .iter()
                .map(|c| format!("`{}`", short(&c.sha)))
                .collect::<Vec<_>>()
                .join(" ");
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} |",
                cell(&r.repo),
                r.status.label(d),
                r.changes.len(),
                r.rewritten(),
                stays,
                if commits.is_empty() {
                    "-".into()
                } else {
                    commits
                },
                r.errors.len()
            );
        }
        for r in &self.repos {
            let _ = writeln!(md, "\n## {}\n", r.repo);
            let _ = write!(md, "**{}**", r.status.label(d));
            if let Some(m) = &r.message {
                let _ = write!(md, ": {m}");
            }
            let _ = writeln!(md);
            if let Some(h) = &r.harbor {
                let _ = writeln!(md, "\nHarbor: `{h}`. Work tree: `{}`.", r.path);
            }
            for n in &r.notes {
                let _ = writeln!(md, "\nNote: {n}");
            }
            if !r.commits.is_empty() {
                let _ = writeln!(md, "\n### Commits\n");
                for c in &r.commits {
                    let what = match &c.directory {
                        Some(dir) if dir == "." => " (repository root)".to_string(),
                        Some(dir) => format!(" (`{dir}/`)"),
                        None => String::new(),
                    };
                    let _ = writeln!(
                        md,
                        "- `{}`{what} on `{}`: {} file(s){}",
                        short(&c.sha),
                        r.branch.as_deref().unwrap_or("HEAD"),
                        c.files.len(),
                        if r.pushed { ", pushed" } else { "" }
                    );
                }
            }
            if let Some(p) = &r.pull_request {
                let _ = writeln!(
                    md,
                    "\nPull request: [#{}]({}) from `{}` into `{}` ({}).",
                    p.number,
                    p.url,
                    p.head,
                    p.base,
                    if p.created { "opened" } else { "updated" }
                );
            }
            if !r.changes.is_empty() {
                let verb = if r.written {
                    "Changed"
                } else {
                    "Would change (not written)"
                };
                let _ = writeln!(md, "\n### {verb}\n");
                for f in &r.changes {
                    let _ = writeln!(md, "- `{}`", f.file);
                    for c in &f.references {
                        let _ = writeln!(
                            md,
                            "  - line {}: `{}` → `{}`",
                            c.line, c.original, c.rewritten
                        );
                    }
                }
            }
            if !r.stays.is_empty() {
                let _ = writeln!(md, "\n### Stays direct\n");
                let _ = writeln!(md, "| why | what | count | where |");
                let _ = writeln!(md, "|---|---|---|---|");
                for s in &r.stays {
                    let why = match s.reason.as_str() {
                        "unmapped" => "unmapped registry (no Harbor project)",
                        "excluded" => "excluded",
                        "templated" => "templated (resolved at deploy time)",
                        "invalid" => "invalid reference",
                        "hint" => "hint (not rewritten without --rewrite-hints)",
                        other => other,
                    };
                    let what = if s.key.is_empty() {
                        String::new()
                    } else {
                        format!("`{}`", s.key)
                    };
                    let wheres = s
                        .references
                        .iter()
                        .map(|l| {
                            let mut w =
                                format!("`{}:{}` `{}`", cell(&l.file), l.line, cell(&l.original));
                            if matches!(s.reason.as_str(), "invalid" | "hint") {
                                if let Some(m) = &l.message {
                                    w.push_str(&format!(" ({})", cell(m)));
                                }
                            }
                            w
                        })
                        .collect::<Vec<_>>()
                        .join("<br>");
                    let _ = writeln!(md, "| {why} | {what} | {} | {} |", s.count, wheres);
                }
            }
            if let Some(v) = &r.verify {
                let _ = writeln!(
                    md,
                    "\n### Verify\n\n{} unique reference(s) checked through Harbor, {} failed.",
                    v.checked, v.failed
                );
                for f in &v.failures {
                    let _ = writeln!(
                        md,
                        "- `{}:{}` `{}`: {}{}{}",
                        f.file,
                        f.line,
                        f.reference,
                        f.outcome,
                        f.http_status
                            .map(|s| format!(" (http {s})"))
                            .unwrap_or_default(),
                        f.message
                            .as_deref()
                            .map(|m| format!(": {m}"))
                            .unwrap_or_default()
                    );
                }
            }
            if let Some(sc) = &r.scan {
                let _ = writeln!(
                    md,
                    "\n### Scan\n\n{} image(s) scanned, {} failed, {} error(s), {} failing finding(s).",
                    sc.images, sc.failed, sc.errors, sc.failing_findings
                );
                for m in &sc.messages {
                    let _ = writeln!(md, "- {m}");
                }
            }
            if !r.errors.is_empty() {
                let _ = writeln!(md, "\n### Errors\n");
                for e in &r.errors {
                    let _ = writeln!(md, "- `{}`: {}", e.location, e.message);
                }
            }
        }
        md
    }
}

pub fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

// ---------------------------------------------------------------------------------------
// State

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

// ---------------------------------------------------------------------------------------
// Renovate

/// `registryAliases` for Renovate: each Harbor proxy path prefix → its upstream registry,
/// so version bots still look up tags upstream (`harbor/docker-hub` → `docker.io`).
pub fn registry_aliases(config: &Config, harbor: &str) -> BTreeMap<String, String> {
    config
        .registries
        .iter()
        .map(|(domain, entry)| (format!("{harbor}/{}", entry.project), domain.clone()))
        .collect()
}

/// The Renovate config snippet (JSON) for the union of the aliases.
pub fn renovate_json(aliases: &BTreeMap<String, String>) -> String {
    let v = serde_json::json!({ "registryAliases": aliases });
    serde_json::to_string_pretty(&v).expect("serializes") + "\n"
}

// ---------------------------------------------------------------------------------------
// imagePullSecrets

/// One place an `imagePullSecrets` entry is used, and whether it can go.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecretUse {
    pub secret: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub file: String,
    pub line: usize,
    /// `Deployment/web` (a pod spec) or `ServiceAccount/builder`.
    pub workload: String,
    /// `pod-spec` or `service-account`.
    pub via: String,
    /// Only upstream registries now reached through Harbor needed it here.
    pub candidate: bool,
    pub reason: String,
    /// Upstream registries the workload's images came from (now through Harbor).
    #[serde(default)]
    pub served: Vec<String>,
    /// Registries the Secret holds credentials for, when it is in the repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_registries: Option<Vec<String>>,
}

/// How one image of a pod spec fares.
enum ImageFate {
    /// Rewritten by this migration: the upstream registry it came from.
    Routed(String),
    /// Already on Harbor before.
    OnHarbor,
    /// Stays direct (why).
    Direct(String),
}

struct PodSpec {
    workload: String,
    namespace: Option<String>,
    service_account: String,
    file: String,
    fates: Vec<ImageFate>,
    secrets: Vec<(String, usize)>,
}

impl PodSpec {
    fn served(&self) -> BTreeSet<String> {
        self.fates
            .iter()
            .filter_map(|f| match f {
                ImageFate::Routed(r) => Some(r.clone()),
                _ => None,
            })
            .collect()
    }
    /// (candidate, reason)
    fn verdict(&self) -> (bool, String) {
        if self.fates.is_empty() {
            return (false, format!("{}: no image found", self.workload));
        }
        let direct: Vec<&str> = self
            .fates
            .iter()
            .filter_map(|f| match f {
                ImageFate::Direct(why) => Some(why.as_str()),
                _ => None,
            })
            .collect();
        if !direct.is_empty() {
            return (false, direct.join("; "));
        }
        let served = self.served();
        if served.is_empty() {
            return (
                false,
                format!(
                    "every image of {} was already on Harbor before the migration: the secret may hold Harbor credentials",
                    self.workload
                ),
            );
        }
        (
            true,
            format!(
                "every image of {} now comes through Harbor (was {})",
                self.workload,
                served.into_iter().collect::<Vec<_>>().join(", ")
            ),
        )
    }
}

struct ServiceAccount {
    name: String,
    namespace: Option<String>,
    file: String,
    secrets: Vec<(String, usize)>,
}

fn same_namespace(a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    }
}

/// Find `imagePullSecrets` in the manifests under `root` and decide, from the planned
/// report of the migration (`plan`: same text, so same positions), which only served
/// upstream registries that are now reached through Harbor.
pub fn pull_secrets(root: &Path, plan: &Report, harbor: &str) -> Vec<SecretUse> {
    let errored: BTreeSet<&str> = plan.errors.iter().map(|e| e.location.file_str()).collect();
    let entries: HashMap<(&str, usize, usize), &ReferenceEntry> = plan
        .references
        .iter()
        .map(|r| ((r.file.as_str(), r.line, r.column), r))
        .collect();
    let mut pods: Vec<PodSpec> = Vec::new();
    let mut accounts: Vec<ServiceAccount> = Vec::new();
    let mut secrets: Vec<(String, Option<String>, Vec<String>)> = Vec::new();
    for w in walk::walk(&[root.to_path_buf()]) {
        let Walked::File(path) = w else { continue };
        let display = path.display().to_string();
        if errored.contains(display.as_str()) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        if !(text.contains("imagePullSecrets") || text.contains("dockerconfigjson")) {
            continue;
        }
        if walk::is_helm_template(&path, &text) {
            continue;
        }
        let Ok(stream) = yaml::parse(&text) else {
            continue;
        };
        let file = relative(root, &display);
        for doc in &stream.documents {
            let objects: Vec<&Node> = if doc.get_str("kind") == Some("List") {
                doc.get("items")
                    .and_then(Node::as_seq)
                    .map(|s| s.iter().collect())
                    .unwrap_or_default()
            } else {
                vec![doc]
            };
            for obj in objects {
                let Some(kind) = obj.get_str("kind") else {
                    continue;
                };
                let meta = obj.get("metadata");
                let name = meta.and_then(|m| m.get_str("name")).unwrap_or("?");
                let namespace = meta
                    .and_then(|m| m.get_str("namespace"))
                    .map(str::to_string);
                match kind {
                    "ServiceAccount" => accounts.push(ServiceAccount {
                        name: name.to_string(),
                        namespace,
                        file: file.clone(),
                        secrets: secret_names(&stream, obj),
                    }),
                    "Secret" => {
                        if let Some(regs) = docker_config_registries(obj) {
                            secrets.push((name.to_string(), namespace, regs));
                        }
                    }
                    _ => {
                        let mut found = Vec::new();
                        find_pod_specs(obj, &mut found, 0);
                        for spec in found {
                            let fates = ["initContainers", "containers", "ephemeralContainers"]
                                .iter()
                                .filter_map(|k| spec.get(k).and_then(Node::as_seq))
                                .flatten()
                                .filter_map(|c| c.get("image"))
                                .filter_map(|i| stream.resolve(i))
                                .map(|s| fate(&entries, &display, s))
                                .collect();
                            let sa = spec
                                .get_str("serviceAccountName")
                                .or_else(|| spec.get_str("serviceAccount"))
                                .unwrap_or("default");
                            pods.push(PodSpec {
                                workload: format!("{kind}/{name}"),
                                namespace: namespace.clone(),
                                service_account: sa.to_string(),
                                file: file.clone(),
                                fates,
                                secrets: secret_names(&stream, spec),
                            });
                        }
                    }
                }
            }
        }
    }

    let secret_regs = |name: &str, ns: &Option<String>| -> Option<Vec<String>> {
        secrets
            .iter()
            .find(|(n, sns, _)| n == name && same_namespace(sns, ns))
            .map(|(_, _, r)| r.clone())
    };
    let harbor_cred = |regs: &Option<Vec<String>>| -> bool {
        regs.as_ref().is_some_and(|r| {
            r.iter().any(|x| {
                let host = x
                    .trim_start_matches("https://")
                    .trim_start_matches("http://")
                    .split('/')
                    .next()
                    .unwrap_or("");
                host.eq_ignore_ascii_case(harbor)
            })
        })
    };
    // A Secret that holds credentials for Harbor itself stays, whatever its workloads pull.
    let keep_harbor_credentials =
        |regs: &Option<Vec<String>>, candidate: bool, reason: &str| -> (bool, String) {
            if candidate && harbor_cred(regs) {
                (
                    false,
                    format!("the Secret holds credentials for Harbor ({harbor}) itself"),
                )
            } else {
                (candidate, reason.to_string())
            }
        };
    let mut out = Vec::new();
    for pod in &pods {
        let (candidate, reason) = pod.verdict();
        for (secret, line) in &pod.secrets {
            let regs = secret_regs(secret, &pod.namespace);
            let (candidate, reason) = keep_harbor_credentials(&regs, candidate, &reason);
            out.push(SecretUse {
                secret: secret.clone(),
                namespace: pod.namespace.clone(),
                file: pod.file.clone(),
                line: *line,
                workload: pod.workload.clone(),
                via: "pod-spec".into(),
                candidate,
                reason,
                served: pod.served().into_iter().collect(),
                secret_registries: regs,
            });
        }
    }
    for sa in &accounts {
        let users: Vec<&PodSpec> = pods
            .iter()
            .filter(|p| p.service_account == sa.name && same_namespace(&p.namespace, &sa.namespace))
            .collect();
        let served: BTreeSet<String> = users.iter().flat_map(|p| p.served()).collect();
        let (candidate, reason) = if users.is_empty() {
            (
                false,
                format!(
                    "no workload in this repository runs as ServiceAccount {}",
                    sa.name
                ),
            )
        } else if let Some(p) = users.iter().find(|p| !p.verdict().0) {
            (false, p.verdict().1)
        } else {
            (
                true,
                format!(
                    "every image of the workloads running as {} ({}) now comes through Harbor (was {})",
                    sa.name,
                    users
                        .iter()
                        .map(|p| p.workload.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    served.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
        };
        for (secret, line) in &sa.secrets {
            let regs = secret_regs(secret, &sa.namespace);
            let (candidate, reason) = keep_harbor_credentials(&regs, candidate, &reason);
            out.push(SecretUse {
                secret: secret.clone(),
                namespace: sa.namespace.clone(),
                file: sa.file.clone(),
                line: *line,
                workload: format!("ServiceAccount/{}", sa.name),
                via: "service-account".into(),
                candidate,
                reason,
                served: served.iter().cloned().collect(),
                secret_registries: regs,
            });
        }
    }
    out
}

/// What becomes of one image scalar, from the planned report entry at its position.
fn fate(
    entries: &HashMap<(&str, usize, usize), &ReferenceEntry>,
    file: &str,
    s: &yaml::Scalar,
) -> ImageFate {
    let Some(e) = entries.get(&(file, s.line(), s.column())) else {
        let why = if is_templated(&s.value) {
            "templated"
        } else {
            "not a recognized image reference"
        };
        return ImageFate::Direct(format!("{} stays direct ({why})", s.value));
    };
    match e.status {
        Status::Rewritten => ImageFate::Routed(
            e.normalized
                .as_deref()
                .and_then(|n| Reference::parse(n).ok())
                .map(|r| r.domain().to_string())
                .unwrap_or_else(|| "?".into()),
        ),
        Status::AlreadyProxied => ImageFate::OnHarbor,
        other => {
            let label = serde_json::to_value(other)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let mut why = format!("{} stays direct ({label}", e.original);
            if let Some(m) = &e.message {
                why.push_str(&format!(": {m}"));
            }
            why.push(')');
            ImageFate::Direct(why)
        }
    }
}

/// Names (and lines) of `imagePullSecrets: [{name: ...}]` in a map.
fn secret_names(stream: &Stream, node: &Node) -> Vec<(String, usize)> {
    node.get("imagePullSecrets")
        .and_then(Node::as_seq)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.get("name"))
                .filter_map(|n| stream.resolve(n))
                .filter(|s| !s.value.is_empty())
                .map(|s| (s.value.to_string(), s.line()))
                .collect()
        })
        .unwrap_or_default()
}

/// Every map with a `containers` sequence under `node` (pod specs, at any depth).
fn find_pod_specs<'a>(node: &'a Node, out: &mut Vec<&'a Node>, depth: usize) {
    if depth > yaml::MAX_DEPTH {
        return;
    }
    match node {
        Node::Map(items) => {
            if node.get("containers").and_then(Node::as_seq).is_some() {
                out.push(node);
                return;
            }
            for (_, v) in items {
                find_pod_specs(v, out, depth + 1);
            }
        }
        Node::Seq(items) => {
            for v in items {
                find_pod_specs(v, out, depth + 1);
            }
        }
        _ => {}
    }
}

/// The registries a `kubernetes.io/dockerconfigjson` (or `dockercfg`) Secret holds
/// credentials for, when its contents are in the manifest.
fn docker_config_registries(obj: &Node) -> Option<Vec<String>> {
    use base64::Engine as _;
    let kind = obj.get_str("type")?;
    let key = match kind {
        "kubernetes.io/dockerconfigjson" => ".dockerconfigjson",
        "kubernetes.io/dockercfg" => ".dockercfg",
        _ => return None,
    };
    let json = match obj.get("stringData").and_then(|d| d.get_str(key)) {
        Some(s) => s.to_string(),
        None => {
            let b64 = obj.get("data")?.get_str(key)?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.split_whitespace().collect::<String>())
                .ok()?;
            String::from_utf8(bytes).ok()?
        }
    };
    let v: serde_json::Value = serde_json::from_str(&json).ok()?;
    let auths = v.get("auths").unwrap_or(&v).as_object()?;
    Some(auths.keys().cloned().collect())
}

/// A secret and all its uses, across one repository.
#[derive(Debug, Clone, Serialize)]
pub struct SecretVerdict {
    pub repo: String,
    pub secret: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub candidate: bool,
    pub served: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_registries: Option<Vec<String>>,
    pub uses: Vec<SecretUse>,
}

/// Group uses per (repository, namespace, secret): a secret can go only when every use can.
pub fn secret_verdicts(repos: &[RepoReport]) -> Vec<SecretVerdict> {
    let mut map: BTreeMap<(String, Option<String>, String), SecretVerdict> = BTreeMap::new();
    for r in repos {
        for u in &r.pull_secrets {
            let v = map
                .entry((r.repo.clone(), u.namespace.clone(), u.secret.clone()))
                .or_insert_with(|| SecretVerdict {
                    repo: r.repo.clone(),
                    secret: u.secret.clone(),
                    namespace: u.namespace.clone(),
                    candidate: true,
                    served: Vec::new(),
                    secret_registries: u.secret_registries.clone(),
                    uses: Vec::new(),
                });
            v.candidate &= u.candidate;
            for s in &u.served {
                if !v.served.contains(s) {
                    v.served.push(s.clone());
                }
            }
            v.uses.push(u.clone());
        }
    }
    let mut out: Vec<SecretVerdict> = map.into_values().collect();
    for v in &mut out {
        v.served.sort();
    }
    out
}

/// The pull-secret list, as JSON.
pub fn pull_secrets_json(harbor: &[String], verdicts: &[SecretVerdict]) -> String {
    let (candidates, kept): (Vec<&SecretVerdict>, Vec<&SecretVerdict>) =
        verdicts.iter().partition(|v| v.candidate);
    let v = serde_json::json!({
        "version": 1,
        "harbor": harbor,
        "candidates": candidates,
        "kept": kept,
    });
    serde_json::to_string_pretty(&v).expect("serializes") + "\n"
}

/// The pull-secret list, as markdown.
pub fn pull_secrets_markdown(harbor: &[String], verdicts: &[SecretVerdict]) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# imagePullSecrets to decommission\n");
    let _ = writeln!(
        md,
        "Pull secrets used only by workloads whose images were upstream registries now reached through Harbor ({}). Check each before deleting it: a secret may also serve workloads outside these repositories.\n",
        harbor
            .iter()
            .map(|h| format!("`{h}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let table = |md: &mut String, rows: Vec<&SecretVerdict>, with_reason: bool| {
        if with_reason {
            let _ = writeln!(
                md,
                "| secret | namespace | repository | why it stays | used at |"
            );
        } else {
            let _ = writeln!(md, "| secret | namespace | repository | served | used at |");
        }
        let _ = writeln!(md, "|---|---|---|---|---|");
        for v in rows {
            let used = v
                .uses
                .iter()
                .map(|u| format!("`{}:{}` ({})", u.file, u.line, u.workload))
                .collect::<Vec<_>>()
                .join("<br>");
            let mid = if with_reason {
                v.uses
                    .iter()
                    .filter(|u| !u.candidate)
                    .map(|u| u.reason.clone())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect::<Vec<_>>()
                    .join("; ")
            } else {
                let mut s = v.served.join(", ");
                if let Some(r) = &v.secret_registries {
                    s.push_str(&format!(" (secret holds: {})", r.join(", ")));
                }
                s
            };
            let _ = writeln!(
                md,
                "| `{}` | {} | {} | {} | {} |",
                v.secret,
                v.namespace.as_deref().unwrap_or("-"),
                cell(&v.repo),
                cell(&mid),
                used
            );
        }
    };
    let candidates: Vec<&SecretVerdict> = verdicts.iter().filter(|v| v.candidate).collect();
    let kept: Vec<&SecretVerdict> = verdicts.iter().filter(|v| !v.candidate).collect();
    let _ = writeln!(md, "## Candidates ({})\n", candidates.len());
    if candidates.is_empty() {
        let _ = writeln!(md, "None.");
    } else {
        table(&mut md, candidates, false);
    }
    let _ = writeln!(md, "\n## Still needed ({})\n", kept.len());
    if kept.is_empty() {
        let _ = writeln!(md, "None.");
    } else {
        table(&mut md, kept, true);
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Secret with credentials for Harbor itself stays, even when every image of the
    /// workload that uses it now comes through Harbor; an upstream-only one goes.
    #[test]
    fn a_secret_for_harbor_itself_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      imagePullSecrets:\n        - name: harbor-creds\n        - name: hub-creds\n      containers:\n        - name: web\n          image: nginx:1.27\n";
        let secrets = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: harbor-creds\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{\"auths\":{\"harbor.example.com\":{\"auth\":\"eDp5\"}}}'\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: hub-creds\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"eDp5\"}}}'\n";
        std::fs::write(dir.path().join("deploy.yaml"), deploy).unwrap();
        std::fs::write(dir.path().join("secrets.yaml"), secrets).unwrap();
        let harbor = "harbor.example.com";
        let config = crate::config::Config::from_user(Default::default(), None).unwrap();
        let mapper = crate::mapping::Mapper::new(&config, harbor);
        let opts = crate::pipeline::engine::RunOptions {
            plan: crate::pipeline::plan::PlanOptions {
                direction: crate::pipeline::plan::Direction::Forward,
                rewrite_hints: false,
            },
            write: false,
            diff: false,
            keep: false,
        };
        let root = dir.path().to_path_buf();
        let plan = Report::build(
            harbor,
            crate::pipeline::engine::run(std::slice::from_ref(&root), &mapper, opts),
            false,
        );
        let uses = pull_secrets(&root, &plan, harbor);
        let by_name = |n: &str| uses.iter().find(|u| u.secret == n).unwrap();
        let kept = by_name("harbor-creds");
        assert!(!kept.candidate, "{kept:?}");
        assert!(
            kept.reason
                .contains("credentials for Harbor (harbor.example.com) itself"),
            "{kept:?}"
        );
        assert!(by_name("hub-creds").candidate, "{uses:?}");
    }

    #[test]
    fn top_level_batches() {
        let b = batches(&[
            "apps/a.yaml".into(),
            "root.yaml".into(),
            "apps/x/b.yaml".into(),
            "infra/c.yaml".into(),
        ]);
        assert_eq!(
            b.keys().cloned().collect::<Vec<_>>(),
            [".", "apps", "infra"]
        );
        assert_eq!(b["apps"].len(), 2);
    }

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
