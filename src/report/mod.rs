//! The one output layer: text for people, JSON for tools, workflow annotations for GitHub.
//!
//! Every command builds a [`Report`] and hands it here; colour is decided by `anstream`
//! (only on a terminal, never when `NO_COLOR` is set).

pub mod scan;

use std::borrow::Cow;
use std::io::Write;

use anstyle::{AnsiColor, Style};
use serde::Serialize;

use crate::pipeline::engine::{FileError, FileResult};
use crate::pipeline::locate::Kind;
use crate::pipeline::plan::{Planned, Status};

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

#[derive(Debug, Serialize)]
pub struct Note {
    pub file: String,
    pub message: String,
}

/// The JSON contract (version 1).
#[derive(Debug, Serialize)]
pub struct Report {
    pub version: u32,
    pub harbor: String,
    pub references: Vec<ReferenceEntry>,
    pub files_changed: Vec<String>,
    pub errors: Vec<FileError>,
    pub notes: Vec<Note>,
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
                report.errors.push(e);
            }
            if let Some(n) = r.note {
                report.notes.push(Note {
                    file: r.display.clone(),
                    message: n,
                });
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
        self.print_errors()?;
        if format == Format::Text && crate::term::quiet() && !diff {
            return Ok(());
        }
        // One write per buffer, not per line (a large repository prints 10,000+ lines).
        // The buffer sits under the colour stripper: above it, the stripper would pass
        // every styled fragment to the line-buffered stdout as its own write.
        let stdout = std::io::stdout();
        let choice = anstream::AutoStream::choice(&stdout);
        let buffered: Box<dyn Write> =
            Box::new(std::io::BufWriter::with_capacity(64 * 1024, stdout.lock()));
        let mut out = anstream::AutoStream::new(buffered, choice);
        match format {
            Format::Json => {
                serde_json::to_writer_pretty(&mut out, self)?;
                writeln!(out)?;
            }
            Format::Text if crate::term::quiet() => {}
            Format::Text => self.print_text(&mut out, mode)?,
            Format::Github => self.print_github(&mut out, mode)?,
        }
        if diff && format != Format::Json {
            for d in &self.diffs {
                write!(out, "{d}")?;
            }
        }
        out.flush()
    }

    /// `error: FILE:LINE:COL: MESSAGE` on stderr for each per-file error.
    fn print_errors(&self) -> std::io::Result<()> {
        if self.errors.is_empty() {
            return Ok(());
        }
        let red = Style::new().fg_color(Some(AnsiColor::Red.into())).bold();
        let mut err = anstream::stderr().lock();
        for e in &self.errors {
            let (file, message) = (escape_text(&e.file), escape_text(&e.message));
            match (e.line, e.column) {
                (Some(l), Some(c)) => {
                    writeln!(err, "{red}error{red:#}: {file}:{l}:{c}: {message}")?
                }
                _ => writeln!(err, "{red}error{red:#}: {file}: {message}")?,
            }
        }
        err.flush()
    }

    fn print_text(&self, out: &mut impl Write, mode: Mode) -> std::io::Result<()> {
        let bold = Style::new().bold();
        for r in &self.references {
            let (label, style) = status_label(r, mode);
            write!(
                out,
                "{}:{}:{}: {style}{label}{style:#} {}",
                escape_text(&r.file),
                r.line,
                r.column,
                escape_text(&r.original)
            )?;
            if let Some(new) = &r.rewritten {
                if matches!(r.status, Status::Rewritten | Status::Hint) {
                    write!(out, " -> {}", escape_text(new))?;
                }
            }
            if let Some(m) = &r.message {
                write!(out, " ({})", escape_text(m))?;
            }
            if let Some(v) = &r.verify {
                write!(
                    out,
                    " [{}",
                    serde_json::to_value(v.outcome)
                        .ok()
                        .and_then(|o| o.as_str().map(str::to_string))
                        .unwrap_or_default()
                )?;
                if let Some(d) = &v.digest {
                    write!(out, " {}", escape_text(d))?;
                }
                if let Some(st) = v.http_status {
                    write!(out, " http {st}")?;
                }
                if let Some(m) = &v.message {
                    write!(out, " {}", escape_text(m))?;
                }
                write!(out, " {}ms]", v.milliseconds)?;
            }
            writeln!(out)?;
        }
        for n in &self.notes {
            writeln!(
                out,
                "note: {}: {}",
                escape_text(&n.file),
                escape_text(&n.message)
            )?;
        }
        let s = &self.summary;
        let verb = match mode {
            Mode::Rewrite { applied: true } => "rewritten",
            _ => "to rewrite",
        };
        writeln!(
            out,
            "{bold}{} files, {} references: {} {verb}, {} already proxied, {} excluded, {} unmapped, {} templated, {} invalid, {} hints{}; {} files changed, {} errors{bold:#}",
            s.files_scanned,
            s.references,
            s.rewritten,
            s.already_proxied,
            s.excluded,
            s.unmapped,
            s.templated,
            s.invalid,
            s.hints,
            // Shown only when there are some, so that earlier outputs keep their shape.
            match s.ambiguous {
                0 => String::new(),
                n => format!(", {n} ambiguous"),
            },
            self.files_changed.len(),
            s.errors
        )
    }

    fn print_github(&self, out: &mut impl Write, mode: Mode) -> std::io::Result<()> {
        for r in &self.references {
            if let Some(v) = r
                .verify
                .as_ref()
                .filter(|v| v.outcome != crate::registry::Outcome::Resolved)
            {
                let outcome = serde_json::to_value(v.outcome)
                    .ok()
                    .and_then(|o| o.as_str().map(str::to_string))
                    .unwrap_or_default();
                let target = r
                    .rewritten
                    .as_deref()
                    .or(r.normalized.as_deref())
                    .unwrap_or(&r.original);
                let detail = v
                    .message
                    .as_deref()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "::error file={},line={},col={},title=harborize {outcome}::{}",
                    escape_property(&crate::repo_path::repo_relative(&r.file)),
                    r.line,
                    r.column,
                    escape_data(&format!("{outcome}: {target}{detail}"))
                )?;
            }
            let level = match (r.status, mode) {
                (Status::Rewritten, Mode::Check { .. }) => "error",
                (Status::Rewritten, _) => "notice",
                (
                    Status::Unmapped | Status::Invalid | Status::Ambiguous,
                    Mode::Check { strict: true },
                ) => "error",
                (Status::Unmapped | Status::Invalid | Status::Hint | Status::Ambiguous, _) => {
                    "warning"
                }
                _ => continue,
            };
            let (label, _) = status_label(r, mode);
            let mut msg = format!("{label}: {}", r.original);
            if let Some(new) = &r.rewritten {
                msg.push_str(&format!(" -> {new}"));
            }
            if let Some(m) = &r.message {
                msg.push_str(&format!(" ({m})"));
            }
            writeln!(
                out,
                "::{level} file={},line={},col={},title=harborize {label}::{}",
                escape_property(&crate::repo_path::repo_relative(&r.file)),
                r.line,
                r.column,
                escape_data(&msg)
            )?;
        }
        for e in &self.errors {
            let mut props = format!(
                "file={}",
                escape_property(&crate::repo_path::repo_relative(&e.file))
            );
            if let (Some(l), Some(c)) = (e.line, e.column) {
                props.push_str(&format!(",line={l},col={c}"));
            }
            writeln!(
                out,
                "::error {props},title=harborize error::{}",
                escape_data(&e.message)
            )?;
        }
        let s = &self.summary;
        writeln!(
            out,
            "harborize: {} references, {} rewritten, {} unmapped, {} invalid, {} errors",
            s.references, s.rewritten, s.unmapped, s.invalid, s.errors
        )
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

fn status_label(r: &ReferenceEntry, mode: Mode) -> (&'static str, Style) {
    let color = |c: AnsiColor| Style::new().fg_color(Some(c.into()));
    match r.status {
        Status::Rewritten => match mode {
            Mode::Rewrite { applied: true } if r.applied => ("rewritten", color(AnsiColor::Green)),
            // The run wrote, but this file did not reach the disk (its error says why).
            Mode::Rewrite { applied: true } => ("not-written", color(AnsiColor::Red)),
            _ => ("would-rewrite", color(AnsiColor::Yellow)),
        },
        Status::AlreadyProxied => ("already-proxied", color(AnsiColor::Green)),
        Status::Excluded => ("excluded", color(AnsiColor::Cyan)),
        Status::Unmapped => ("unmapped-registry", color(AnsiColor::Magenta)),
        Status::Templated => ("templated", color(AnsiColor::Cyan)),
        Status::Invalid => ("invalid-reference", color(AnsiColor::Red)),
        Status::Hint => ("hint", color(AnsiColor::Blue)),
        Status::Ambiguous => ("ambiguous", color(AnsiColor::Yellow)),
    }
}

/// The one escaper for text in a human-readable line (file names, YAML values, messages
/// that quote them, what registries and Trivy answered).
///
/// In GitHub Actions the runner reads every line a step prints, and a line that starts
/// with `::` (after leading white space) or holds `##[` anywhere is a workflow command
/// (`::set-output`, `::add-mask`, `##[error]`). A file name or a block-scalar value with
/// a newline could start such a line, so control characters (C0, DEL, C1 and the Unicode
/// line/paragraph separators) are shown as `\n`, `\r`, `\t` or `\u{..}`; a leading `::`
/// and every `##[` get their first character written as `\u{3a}` / `\u{23}`. Text without
/// any of these comes back unchanged (borrowed).
pub fn escape_text(s: &str) -> Cow<'_, str> {
    let trimmed = s.trim_start();
    let lead = s.len() - trimmed.len();
    let command_start = trimmed.starts_with("::");
    if !command_start && !s.contains("##[") && !s.chars().any(is_escaped_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for (i, c) in s.char_indices() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_escaped_char(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            ':' if command_start && i == lead => out.push_str("\\u{3a}"),
            '#' if s[i..].starts_with("##[") => out.push_str("\\u{23}"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn is_escaped_char(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// Markdown table cell text: pipes escaped, no newlines, backticks neutralised.
pub fn escape_markdown_cell(s: &str) -> String {
    s.replace('|', "\\|")
        .replace(['\n', '\r'], " ")
        .replace('`', "'")
}

/// GitHub workflow command escaping for the message part (after [`escape_text`]: the
/// annotation shows `\n`, never a raw control character).
pub fn escape_data(s: &str) -> String {
    escape_text(s)
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// GitHub workflow command escaping for property values.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_text_keeps_workflow_commands_out_of_the_log() {
        assert!(matches!(escape_text("k8s/app.yaml"), Cow::Borrowed(_)));
        assert_eq!(
            escape_text("nginx\n::set-output name=x::y"),
            "nginx\\n::set-output name=x::y"
        );
        assert_eq!(escape_text("::error::x.yaml"), "\\u{3a}:error::x.yaml");
        assert_eq!(escape_text("  ::warning::x"), "  \\u{3a}:warning::x");
        assert_eq!(escape_text("a ##[error]b"), "a \\u{23}#[error]b");
        assert_eq!(
            escape_text("a\r\t\u{1b}[31m\u{85}"),
            "a\\r\\t\\u{1b}[31m\\u{85}"
        );
        assert_eq!(escape_text("[::1]:5000/app"), "[::1]:5000/app");
        for hostile in ["x\n::error::y", "::add-mask::z", "\u{2028}::a::b"] {
            let e = escape_text(hostile);
            assert!(
                !e.contains('\n') && !e.trim_start().starts_with("::"),
                "{e}"
            );
        }
    }
}
