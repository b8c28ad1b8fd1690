//! The one output layer: text for people, JSON for tools, workflow annotations for GitHub,
//! SARIF and Markdown for the scan.
//!
//! Every command builds a [`Report`] (or a [`scan::ScanOutput`]) and hands it here. One
//! module per format renders everything of that format, with that format's one escaper:
//! [`text`] (and [`escape_text`]), [`json`], [`github`] (workflow commands), [`sarif`],
//! [`markdown`]. Problems are [`Finding`]s with a stable [`Code`] from the one catalogue.
//! Colour is decided by `anstream` (only on a terminal, never when `NO_COLOR` is set).

pub mod github;
pub mod json;
pub mod markdown;
pub mod sarif;
pub mod scan;
pub mod text;

use std::io::Write;

use serde::Serialize;

pub use crate::finding::{self, Code, Finding, Level, Location};
pub use github::{escape_data, escape_property};
pub use markdown::escape_cell as escape_markdown_cell;
pub use text::escape_text;

use crate::pipeline::engine::FileResult;
use crate::pipeline::locate::Kind;
use crate::pipeline::plan::{Planned, Status};
use crate::registry::Outcome;

/// Exit codes, everywhere.
pub use crate::exit::{ExitStatus, EXIT_ERROR, EXIT_FINDINGS, EXIT_OK};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Github,
}

/// Which command produced the report (changes wording and annotation levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Rewrite { applied: bool },
    Check { strict: bool },
}

#[derive(Debug, Serialize)]
pub struct ReferenceEntry {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub kind: Kind,
    pub original: String,
    pub normalized: Option<String>,
    pub status: Status,
    pub rewritten: Option<String>,
    pub applied: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The registry check, when the run verified references.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify: Option<crate::registry::Check>,
}

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Summary {
    pub files_scanned: usize,
    pub references: usize,
    pub rewritten: usize,
    pub already_proxied: usize,
    pub excluded: usize,
    pub unmapped: usize,
    pub templated: usize,
    pub invalid: usize,
    pub hints: usize,
    /// Helm images whose chart is unknown (`ambiguous`).
    #[serde(default)]
    pub ambiguous: usize,
    pub errors: usize,
}

/// The JSON contract (version 1).
#[derive(Debug, Serialize)]
pub struct Report {
    pub version: u32,
    pub harbor: String,
    pub references: Vec<ReferenceEntry>,
    pub files_changed: Vec<String>,
    pub errors: Vec<Finding>,
    /// Files skipped or left as they were (findings of level note).
    pub notes: Vec<Finding>,
    pub summary: Summary,
    #[serde(skip)]
    pub diffs: Vec<String>,
    /// Set by the verify stage when the registry's token realm was not trusted with the
    /// credentials (why): the scan stage then gives Trivy none either.
    #[serde(skip)]
    pub credentials_withheld: Option<String>,
}

impl Report {
    pub fn build(harbor: &str, results: Vec<FileResult>, applied: bool) -> Self {
        let mut report = Report {
            version: 1,
            harbor: harbor.to_string(),
            // Sized once: growing by doubling would briefly hold two copies.
            references: Vec::with_capacity(results.iter().map(|r| r.planned.len()).sum()),
            files_changed: Vec::new(),
            errors: Vec::new(),
            notes: Vec::new(),
            summary: Summary::default(),
            diffs: Vec::new(),
            credentials_withheld: None,
        };
        for r in results {
            if r.error.is_none() && r.note.is_none() {
                report.summary.files_scanned += 1;
            }
            if let Some(e) = r.error {
                report.errors.push(*e);
            }
            if let Some(n) = r.note {
                report.notes.push(Finding::note(r.display.clone(), n));
            }
            if r.changed {
                report.files_changed.push(r.display.clone());
            }
            if let Some(d) = r.diff {
                report.diffs.push(d);
            }
            for p in r.planned {
                report.count(&p, applied && !r.written);
                report
                    .references
                    .push(entry(&r.display, p, applied && r.written));
            }
        }
        report.summary.errors = report.errors.len();
        report
    }

    /// The report of a kept plan (borrowed: the plan is applied afterwards). Edits stay
    /// with the plan; only the decisions are copied.
    pub fn build_from(harbor: &str, plan: &[FileResult], applied: bool) -> Self {
        let results = plan
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r.read = None;
                for p in &mut r.planned {
                    p.edits = Vec::new();
                }
                r
            })
            .collect();
        Self::build(harbor, results, applied)
    }

    /// Copy the registry checks made on `checked` (the report of the plan this report's
    /// run applied) to the same references here, joined by identity (file, line, column,
    /// original text), never by position.
    pub fn attach_checks(&mut self, checked: &Report) {
        let by_site: std::collections::HashMap<_, _> = checked
            .references
            .iter()
            .filter_map(|e| {
                let v = e.verify.as_ref()?;
                Some(((e.file.as_str(), e.line, e.column, e.original.as_str()), v))
            })
            .collect();
        for e in &mut self.references {
            let key = (e.file.as_str(), e.line, e.column, e.original.as_str());
            if let Some(v) = by_site.get(&key) {
                e.verify = Some((*v).clone());
            }
        }
    }

    /// Count one reference; `unwritten` when the run wrote and this file did not reach the
    /// disk (a failed write is not counted as rewritten).
    fn count(&mut self, p: &Planned, unwritten: bool) {
        let s = &mut self.summary;
        s.references += 1;
        match p.status {
            Status::Rewritten if unwritten => {}
            Status::Rewritten => s.rewritten += 1,
            Status::AlreadyProxied => s.already_proxied += 1,
            Status::Excluded => s.excluded += 1,
            Status::Unmapped => s.unmapped += 1,
            Status::Templated => s.templated += 1,
            Status::Invalid => s.invalid += 1,
            Status::Hint => s.hints += 1,
            Status::Ambiguous => s.ambiguous += 1,
        }
    }

    /// Render to stdout in the chosen format; per-file errors also go to stderr, in every
    /// format (diagnostics never mix into the text report). With `--quiet` the text report
    /// is left out: the errors and the exit status remain.
    pub fn print(&self, format: Format, mode: Mode, diff: bool) -> std::io::Result<()> {
        text::write_findings(&self.errors)?;
        if format == Format::Text && crate::term::quiet() && !diff {
            return Ok(());
        }
        // One write per buffer, not per line (a large repository prints 10,000+ lines).
        // The buffer sits under the colour stripper: above it, the stripper would pass
        // every styled fragment to the line-buffered stdout as its own write.
        let stdout = std::io::stdout();
        let choice = anstream::AutoStream::choice(&stdout);
        let mut buffered: Box<dyn Write> =
            Box::new(std::io::BufWriter::with_capacity(64 * 1024, stdout.lock()));
        if choice == anstream::ColorChoice::Never && format == Format::Text && !diff {
            // No colour: the report is written without codes, straight to the buffer. Every
            // text in it is escaped (`term::escape_text`), so there is nothing to strip, and
            // the stripper's pass over every byte was the largest part of printing 11,000
            // lines. (Diffs hold file content as it is: they keep the stripper.)
            text::write_report(&mut buffered, self, mode, false)?;
            return buffered.flush();
        }
        let mut out = anstream::AutoStream::new(buffered, choice);
        match format {
            Format::Json => json::write(&mut out, self)?,
            Format::Text if crate::term::quiet() => {}
            Format::Text => text::write_report(&mut out, self, mode, true)?,
            Format::Github => github::write_report(&mut out, self, mode)?,
        }
        if diff && format != Format::Json {
            for d in &self.diffs {
                write!(out, "{d}")?;
            }
        }
        out.flush()
    }
}

fn entry(file: &str, p: Planned, applied: bool) -> ReferenceEntry {
    ReferenceEntry {
        file: file.to_string(),
        line: p.line,
        column: p.column,
        kind: p.kind,
        original: p.original,
        normalized: p.normalized,
        applied: applied && p.status == Status::Rewritten,
        status: p.status,
        rewritten: p.rewritten,
        message: p.message,
        verify: None,
    }
}

/// The code a reference is shown with (text label, annotation title).
fn status_code(r: &ReferenceEntry, mode: Mode) -> Code {
    match r.status {
        Status::Rewritten => match mode {
            Mode::Rewrite { applied: true } if r.applied => Code::Rewritten,
            // The run wrote, but this file did not reach the disk (its error says why).
            Mode::Rewrite { applied: true } => Code::NotWritten,
            _ => Code::WouldRewrite,
        },
        Status::AlreadyProxied => Code::AlreadyProxied,
        Status::Excluded => Code::Excluded,
        Status::Unmapped => Code::UnmappedRegistry,
        Status::Templated => Code::Templated,
        Status::Invalid => Code::InvalidReference,
        Status::Hint => Code::Hint,
        Status::Ambiguous => Code::Ambiguous,
    }
}

/// The code of a registry check's outcome: the same word as its JSON `verify.outcome`.
pub fn outcome_code(o: Outcome) -> Code {
    match o {
        Outcome::Resolved => Code::Resolved,
        Outcome::TagNotFound => Code::TagNotFound,
        Outcome::RepositoryNotFound => Code::RepositoryNotFound,
        Outcome::Unauthorized => Code::Unauthorized,
        Outcome::RateLimited => Code::RateLimited,
        Outcome::TlsError => Code::TlsError,
        Outcome::Unreachable => Code::Unreachable,
        Outcome::ServerError => Code::ServerError,
        Outcome::PlatformMissing => Code::PlatformMissing,
        Outcome::DigestMismatch => Code::DigestMismatch,
        Outcome::NotLocked => Code::NotLocked,
        Outcome::InvalidReference => Code::InvalidReference,
        Outcome::NotAChart => Code::NotAChart,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// migrate's repository statuses are spelled in migrate/ (its report, state and JSON);
    /// every word it shows must be a catalogue code.
    #[test]
    fn migrate_statuses_are_catalogue_codes() {
        use crate::migrate::{Direction, RepoStatus};
        use strum::IntoEnumIterator;
        for status in RepoStatus::iter() {
            for d in [Direction::Migrate, Direction::Revert] {
                let word = status.label(d);
                let code = Code::parse(word);
                assert!(
                    code.is_some_and(|c| c.group() == finding::code::Group::Migrate),
                    "migrate status {word:?} is not a migrate code of the catalogue"
                );
            }
            let json = serde_json::to_value(status).unwrap();
            assert!(
                json.as_str().and_then(Code::parse).is_some(),
                "migrate's JSON status {json} is not a catalogue code"
            );
        }
    }

    #[test]
    fn verify_outcomes_are_shown_with_their_json_word() {
        use strum::IntoEnumIterator;
        for o in Outcome::iter() {
            assert_eq!(
                serde_json::to_value(o).unwrap(),
                outcome_code(o).as_str(),
                "{o:?}"
            );
        }
    }
}
