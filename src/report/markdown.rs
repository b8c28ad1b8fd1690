//! Markdown (pull-request comments, `$GITHUB_STEP_SUMMARY`): the scan summary here, and
//! the one cell escaper every Markdown table of harborize uses (scan, warm, migrate, the
//! pull-request bodies).

use std::io::Write;

use super::scan::{policy_word, short_image, ScanOutput, Verdict};
use super::{EXIT_FINDINGS, EXIT_OK};
use crate::trivy::Severity;

/// Markdown table cell text: pipes escaped, no newlines, backticks neutralised (so text
/// inside a code span cannot close it).
pub fn escape_cell(s: &str) -> String {
    s.replace('|', "\\|")
        .replace(['\n', '\r'], " ")
        .replace('`', "'")
}

/// Text inside inline HTML (`<summary><code>…</code>`).
pub fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The scan: a verdict heading, a table of images, the findings per image (folded), the
/// errors and warnings, the headline.
pub fn write_scan(out: &mut dyn Write, scan: &ScanOutput) -> std::io::Result<()> {
    let verdict = match scan.exit_code() {
        EXIT_OK => "✅ passed",
        EXIT_FINDINGS => "❌ failed",
        _ => "⚠️ error",
    };
    writeln!(out, "## harborize scan: {verdict}\n")?;
    writeln!(
        out,
        "{} image(s) from {} reference(s) through `{}`; threshold **{}**{}.\n",
        scan.summary.images,
        scan.summary.references,
        escape_cell(&scan.harbor),
        scan.policy.severity,
        if scan.policy.ignore_unfixed {
            ", unfixed ignored"
        } else {
            ""
        }
    )?;
    if !scan.images.is_empty() {
        writeln!(
            out,
            "| Image | References | Critical | High | Medium | Low | Unknown | Result |"
        )?;
        writeln!(out, "|---|---|---:|---:|---:|---:|---:|---|")?;
        for img in &scan.images {
            let counts = img.counts();
            let refs: Vec<String> = img
                .references
                .iter()
                .map(|r| format!("`{}:{}`", escape_cell(&r.file), r.line))
                .collect();
            let result = match img.result {
                Verdict::Pass => "✅ pass",
                Verdict::Fail => "❌ fail",
                Verdict::Error => "⚠️ error",
            };
            write!(
                out,
                "| `{}` | {} ",
                escape_cell(&match &img.platform {
                    Some(p) => format!("{} [{p}]", short_image(&img.image)),
                    None => short_image(&img.image),
                }),
                refs.join("<br>")
            )?;
            for s in Severity::DESCENDING {
                write!(out, "| {} ", counts.get(&s).copied().unwrap_or(0))?;
            }
            writeln!(out, "| {result} |")?;
        }
        writeln!(out)?;
    }
    for img in scan.images.iter().filter(|i| !i.findings.is_empty()) {
        writeln!(
            out,
            "<details{}><summary><code>{}</code>: {} finding(s), {} failing</summary>\n",
            if img.result == Verdict::Fail {
                " open"
            } else {
                ""
            },
            escape_html(&img.label()),
            img.findings.len(),
            img.failing().count()
        )?;
        writeln!(
            out,
            "| ID | Severity | Package | Installed | Fixed | Policy |"
        )?;
        writeln!(out, "|---|---|---|---|---|---|")?;
        for f in &img.findings {
            let id = match &f.url {
                Some(u) => format!("[{}]({})", escape_cell(&f.id), u),
                None => escape_cell(&f.id),
            };
            writeln!(
                out,
                "| {id} | {} | {} | {} | {} | {} |",
                f.severity,
                escape_cell(&f.package),
                escape_cell(f.installed.as_deref().unwrap_or("")),
                escape_cell(f.fixed.as_deref().unwrap_or("")),
                escape_cell(&policy_word(f, scan.policy.severity))
            )?;
        }
        writeln!(out, "\n</details>\n")?;
    }
    if !scan.errors.is_empty() {
        writeln!(out, "**Errors**\n")?;
        for e in &scan.errors {
            let at = match (&e.location.file, e.location.line) {
                (Some(f), Some(l)) => format!("`{}:{l}` ", escape_cell(f)),
                _ => String::new(),
            };
            writeln!(out, "- {at}{}", escape_cell(&e.message))?;
        }
        writeln!(out)?;
    }
    for w in &scan.warnings {
        writeln!(out, "> warning: {}\n", escape_cell(w))?;
    }
    writeln!(out, "<sub>{}</sub>", escape_cell(&scan.headline()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_cannot_break_its_table_or_code_span() {
        assert_eq!(escape_cell("a|b\r\nc`d`"), "a\\|b  c'd'");
        assert_eq!(escape_html("<a & b>"), "&lt;a &amp; b&gt;");
    }
}
