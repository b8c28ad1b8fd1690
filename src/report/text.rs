//! Text for people: the reference rows, the scan tables, and the `error: FILE:LINE:COL:
//! MESSAGE` diagnostics on stderr. Everything shown passes through [`escape_text`].

use std::io::Write;

use anstyle::{AnsiColor, Style};

use super::scan::{policy_word, ScanOutput, Verdict};
use super::{outcome_code, status_code, Code, Finding, Mode, Report};
use crate::pipeline::plan::Status;

/// The escaper for human-readable lines is the terminal's (`term` prints with it too).
pub use crate::term::escape_text;

/// One finding as a diagnostic line: `error: FILE:LINE:COL: MESSAGE` (the place as far
/// as it is known; none for a finding about no file).
pub fn write_finding(out: &mut impl Write, f: &Finding) -> std::io::Result<()> {
    let style = match f.severity {
        crate::finding::Level::Error => Style::new().fg_color(Some(AnsiColor::Red.into())).bold(),
        crate::finding::Level::Warning => Style::new().fg_color(Some(AnsiColor::Yellow.into())),
        crate::finding::Level::Note => Style::new(),
    };
    let level = f.severity.as_str();
    let message = escape_text(&f.message);
    let at = f.location.to_string();
    if at.is_empty() {
        writeln!(out, "{style}{level}{style:#}: {message}")
    } else {
        writeln!(
            out,
            "{style}{level}{style:#}: {}: {message}",
            escape_text(&at)
        )
    }
}

/// The findings on stderr, in every format (the report on stdout stays one format).
pub fn write_findings(findings: &[Finding]) -> std::io::Result<()> {
    if findings.is_empty() {
        return Ok(());
    }
    let mut err = anstream::stderr().lock();
    for f in findings {
        write_finding(&mut err, f)?;
    }
    err.flush()
}

fn code_style(code: Code) -> Style {
    let color = |c: AnsiColor| Style::new().fg_color(Some(c.into()));
    match code {
        Code::Rewritten | Code::AlreadyProxied => color(AnsiColor::Green),
        Code::NotWritten | Code::InvalidReference => color(AnsiColor::Red),
        Code::WouldRewrite | Code::Ambiguous => color(AnsiColor::Yellow),
        Code::Excluded | Code::Templated => color(AnsiColor::Cyan),
        Code::UnmappedRegistry => color(AnsiColor::Magenta),
        Code::Hint => color(AnsiColor::Blue),
        _ => Style::new(),
    }
}

/// The text report of `rewrite`, `check`, `run` and `bump`: a line per reference, the
/// notes, and the summary. `styled`: with colour codes (for a stream that strips them
/// when colour is off), else none at all.
pub fn write_report(
    out: &mut impl Write,
    report: &Report,
    mode: Mode,
    styled: bool,
) -> std::io::Result<()> {
    let paint = |style: Style| if styled { style } else { Style::new() };
    let bold = paint(Style::new().bold());
    for r in &report.references {
        let code = status_code(r, mode);
        let style = paint(code_style(code));
        write!(
            out,
            "{}:{}:{}: {style}{code}{style:#} {}",
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
            write!(out, " [{}", outcome_code(v.outcome))?;
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
    for n in &report.notes {
        writeln!(
            out,
            "note: {}: {}",
            escape_text(n.location.file_str()),
            escape_text(&n.message)
        )?;
    }
    let s = &report.summary;
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
        report.files_changed.len(),
        s.errors
    )
}

/// The scan as a table per image, then the headline.
pub fn write_scan(out: &mut dyn Write, scan: &ScanOutput) -> std::io::Result<()> {
    let bold = Style::new().bold();
    let red = Style::new().fg_color(Some(AnsiColor::Red.into())).bold();
    let green = Style::new().fg_color(Some(AnsiColor::Green.into())).bold();
    let yellow = Style::new().fg_color(Some(AnsiColor::Yellow.into()));
    for img in &scan.images {
        let (label, style) = match img.result {
            Verdict::Pass => ("PASS", green),
            Verdict::Fail => ("FAIL", red),
            Verdict::Error => ("ERROR", red),
        };
        write!(
            out,
            "{style}{label}{style:#} {bold}{}{bold:#}",
            escape_text(&img.image)
        )?;
        if let Some(p) = &img.platform {
            write!(out, " [{}]", escape_text(p))?;
        }
        if let Some(os) = &img.os {
            write!(out, " ({})", escape_text(os))?;
        }
        writeln!(out)?;
        for r in &img.references {
            writeln!(
                out,
                "  {}:{}:{}: {}",
                escape_text(&r.file),
                r.line,
                r.column,
                escape_text(&r.original)
            )?;
        }
        if let Some(m) = &img.message {
            writeln!(out, "  {red}error{red:#}: {}", escape_text(m))?;
        }
        if img.findings.is_empty() {
            if img.result != Verdict::Error {
                writeln!(out, "  no findings")?;
            }
            continue;
        }
        let rows: Vec<[String; 6]> = img
            .findings
            .iter()
            .map(|f| {
                [
                    f.id.clone(),
                    f.severity.to_string(),
                    f.package.clone(),
                    f.installed.clone().unwrap_or_else(|| "-".into()),
                    f.fixed.clone().unwrap_or_else(|| "-".into()),
                    policy_word(f, scan.policy.severity),
                ]
                .map(|cell| escape_text(&cell).into_owned())
            })
            .collect();
        let header = ["ID", "SEVERITY", "PACKAGE", "INSTALLED", "FIXED", "POLICY"];
        let mut widths = header.map(str::len);
        for r in &rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: [&str; 6]| {
            let mut s = String::from(" ");
            for (i, c) in cells.iter().enumerate() {
                if i + 1 == cells.len() {
                    s.push_str(&format!(" {c}"));
                } else {
                    s.push_str(&format!(" {c:<w$}", w = widths[i]));
                }
            }
            s
        };
        writeln!(out, "{bold}{}{bold:#}", line(header))?;
        for (r, f) in rows.iter().zip(&img.findings) {
            let text = line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]]);
            let style = if f.fails {
                red
            } else if f.ignored.is_some() {
                Style::new()
            } else {
                yellow
            };
            writeln!(out, "{style}{text}{style:#}")?;
        }
    }
    writeln!(out, "{bold}{}{bold:#}", scan.headline())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finding_is_one_diagnostic_line_with_its_place() {
        use crate::finding::Location;
        let line = |f: &Finding| {
            let mut v = Vec::new();
            write_finding(&mut v, f).unwrap();
            String::from_utf8(v).unwrap()
        };
        let at = Location::at("a.yaml", Some(2), Some(5));
        let f = Finding::error(Code::FileError, at, "bad\n::x");
        let l = line(&f);
        assert!(
            l.contains("error") && l.ends_with(": a.yaml:2:5: bad\\n::x\n"),
            "{l}"
        );
        let f = Finding::error(Code::FileError, Location::file("b.yaml"), "m");
        assert!(line(&f).ends_with(": b.yaml: m\n"));
        let f = Finding::error(Code::ScanError, Location::default(), "no trivy");
        let l = line(&f);
        assert!(l.ends_with(": no trivy\n") && !l.contains("::"), "{l}");
    }
}
