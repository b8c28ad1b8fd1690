//! GitHub workflow commands (`::error file=…,line=…,col=…,title=…::message`): the
//! annotations of `--format github`. Messages pass through [`escape_data`], properties
//! through [`escape_property`], nothing else builds a workflow command.

use std::io::Write;

use super::scan::{ScanOutput, Verdict};
use super::text::escape_text;
use super::{outcome_code, status_code, Finding, Location, Mode, Report};
use crate::pipeline::plan::Status;
use crate::registry::Outcome;

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

/// One annotation: `::LEVEL file=F,line=L,col=C,title=TITLE::MESSAGE`, with the place as
/// far as it is known (`file=` repository-relative, which is what GitHub resolves).
pub fn annotation(
    out: &mut dyn Write,
    level: &str,
    at: &Location,
    title: &str,
    message: &str,
) -> std::io::Result<()> {
    let mut props = String::new();
    if let Some(f) = &at.file {
        props.push_str(&format!(
            "file={}",
            escape_property(&crate::repo_path::repo_relative(f))
        ));
        if let Some((l, c)) = at.line_column() {
            props.push_str(&format!(",line={l},col={c}"));
        }
        props.push(',');
    }
    writeln!(
        out,
        "::{level} {props}title={title}::{}",
        escape_data(message)
    )
}

/// A finding as an annotation of its own level.
pub fn finding(out: &mut dyn Write, f: &Finding, title: &str) -> std::io::Result<()> {
    annotation(out, f.severity.as_str(), &f.location, title, &f.message)
}

/// The annotations of `rewrite`, `check`, `run` and `bump`, then a summary line.
pub fn write_report(out: &mut dyn Write, report: &Report, mode: Mode) -> std::io::Result<()> {
    for r in &report.references {
        let at = Location::at(r.file.clone(), Some(r.line), Some(r.column));
        if let Some(v) = r.verify.as_ref().filter(|v| v.outcome != Outcome::Resolved) {
            let outcome = outcome_code(v.outcome);
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
            annotation(
                out,
                "error",
                &at,
                &format!("harborize {outcome}"),
                &format!("{outcome}: {target}{detail}"),
            )?;
        }
        let level = match (r.status, mode) {
            (Status::Rewritten, Mode::Check { .. }) => "error",
            (Status::Rewritten, _) => "notice",
            (
                Status::Unmapped | Status::Invalid | Status::Ambiguous,
                Mode::Check { strict: true },
            ) => "error",
            (Status::Unmapped | Status::Invalid | Status::Hint | Status::Ambiguous, _) => "warning",
            _ => continue,
        };
        let label = status_code(r, mode);
        let mut msg = format!("{label}: {}", r.original);
        if let Some(new) = &r.rewritten {
            msg.push_str(&format!(" -> {new}"));
        }
        if let Some(m) = &r.message {
            msg.push_str(&format!(" ({m})"));
        }
        annotation(out, level, &at, &format!("harborize {label}"), &msg)?;
    }
    for e in &report.errors {
        finding(out, e, "harborize error")?;
    }
    let s = &report.summary;
    writeln!(
        out,
        "harborize: {} references, {} rewritten, {} unmapped, {} invalid, {} errors",
        s.references, s.rewritten, s.unmapped, s.invalid, s.errors
    )
}

/// An error annotation at each reference of each failing image; the errors and warnings;
/// the headline.
pub fn write_scan(out: &mut dyn Write, scan: &ScanOutput) -> std::io::Result<()> {
    for img in scan.images.iter().filter(|i| i.result == Verdict::Fail) {
        let failing: Vec<String> = img
            .failing()
            .map(|f| {
                let mut s = format!("{} {} {}", f.id, f.severity, f.package);
                if let Some(v) = &f.installed {
                    s.push_str(&format!(" {v}"));
                }
                match &f.fixed {
                    Some(x) => s.push_str(&format!(" (fixed in {x})")),
                    None => s.push_str(" (no fix)"),
                }
                s
            })
            .collect();
        for r in &img.references {
            annotation(
                out,
                "error",
                &Location::at(r.file.clone(), Some(r.line), Some(r.column)),
                &format!("harborize scan: {} failing finding(s)", failing.len()),
                &format!(
                    "{} ({}) has {} finding(s) at or above {}: {}",
                    r.original,
                    img.label(),
                    failing.len(),
                    scan.policy.severity,
                    failing.join("; ")
                ),
            )?;
        }
    }
    for e in &scan.errors {
        finding(out, e, "harborize scan error")?;
    }
    for w in &scan.warnings {
        writeln!(out, "::warning title=harborize scan::{}", escape_data(w))?;
    }
    writeln!(out, "harborize {}", scan.headline())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Code;

    fn shown(f: &Finding, title: &str) -> String {
        let mut v = Vec::new();
        finding(&mut v, f, title).unwrap();
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn annotations_carry_the_place_as_far_as_it_is_known() {
        let at = Location::at("dir/a,b.yaml", Some(3), Some(9));
        let f = Finding::error(Code::FileError, at, "50% bad\nline");
        assert_eq!(
            shown(&f, "harborize error"),
            "::error file=dir/a%2Cb.yaml,line=3,col=9,title=harborize error::50%25 bad\\nline\n"
        );
        let f = Finding::error(Code::FileError, Location::file("a.yaml"), "m");
        assert_eq!(
            shown(&f, "harborize error"),
            "::error file=a.yaml,title=harborize error::m\n"
        );
        let f = Finding::error(Code::ScanError, Location::default(), "::add-mask::x");
        assert_eq!(
            shown(&f, "harborize scan error"),
            "::error title=harborize scan error::\\u{3a}:add-mask::x\n"
        );
    }
}
