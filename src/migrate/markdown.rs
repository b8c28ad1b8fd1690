//! The markdown rendering of a migration report (`migration-report.md`): the counts, a
//! table of repositories, then per repository its commits, pull request, changes, what
//! stays direct and why, the checks and the errors.

use std::fmt::Write as _;

use super::summary::MigrationReport;
use super::Direction;

impl MigrationReport {
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
            "{}. {} files changed, {} references rewritten, {} commits.\n",
            s.status_counts(d),
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

/// A markdown table cell: report's one escaper.
pub(crate) use crate::report::escape_markdown_cell as cell;
