//! The publishing end of `harborize run`: the commit message, the pull request (its text
//! and what was said about it) and the GitHub Actions outputs. Apart from `run.rs` so that
//! the command file keeps only the commit → push loop.

use anyhow::Result;

use super::env;
use super::stages::Checked;
use crate::cli::RunArgs;
use crate::commands::append_to_github_file;
use crate::pipeline::plan::Status;
use crate::report::Report;
use crate::vcs::git;
use crate::vcs::github::{self, PrOut};
use crate::vcs::outputs::{github_outputs, ChangedImage, Rewrite};
use crate::vcs::publish::Session;
use crate::vcs::pull_request::{self, PrResult, PrTarget, BASE_HAS_IT};

const DEFAULT_TEMPLATE: &str =
    "harborize: route {count} image reference(s) through Harbor\n\n{images}\n\nHarborize-Images: {count}";

/// Every distinct `old → new` the written report applied, sorted.
pub(super) fn rewritten_pairs(report: &Report) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = report
        .references
        .iter()
        .filter(|r| r.status == Status::Rewritten && r.applied)
        .map(|r| (r.original.clone(), r.rewritten.clone().unwrap_or_default()))
        .collect();
    pairs.sort();
    pairs.dedup();
    pairs
}

/// Open or update the pull request for the change on `target.head` (at `commit`); say what
/// happened. `None` when the base already has the change.
pub(super) fn pull_request(
    target: &PrTarget,
    changes: &[(String, String)],
    checked: &Checked,
    commit: &str,
) -> Result<Option<PrOut>> {
    let count = changes.len();
    let title = format!("harborize: route {count} image reference(s) through Harbor");
    let mut notes = Vec::new();
    match checked.verified {
        Some((n, failed)) => notes.push(format!(
            "Verified: {n} reference(s) checked through Harbor, {failed} failed."
        )),
        None => notes.push("Verified: no (`--skip-verify`).".to_string()),
    }
    match &checked.scanned {
        Some((images, severity)) => notes.push(format!(
            "Scanned: {images} image(s) with Trivy, none failing at {severity} or above."
        )),
        None => notes.push("Scanned: no (`--skip-scan`).".to_string()),
    }
    notes.push(format!("Commit: `{commit}` on `{}`.", target.head));
    let body = github::markdown_body(
        &format!("harborize run: {count} image reference(s) through Harbor"),
        changes,
        &notes,
    );
    match pull_request::open(target, &title, &body)? {
        PrResult::Done(p) => {
            println!("harborize: {}", p.describe());
            Ok(Some(p))
        }
        PrResult::NothingNew => {
            println!("harborize: {BASE_HAS_IT}");
            Ok(None)
        }
    }
}

pub(super) fn commit_message(args: &RunArgs, report: &Report, s: &Session) -> String {
    let mut changes: Vec<String> = report
        .references
        .iter()
        .filter(|r| r.status == Status::Rewritten && r.applied)
        .map(|r| {
            format!(
                "- {} → {}",
                r.original,
                r.rewritten.as_deref().unwrap_or("")
            )
        })
        .collect();
    changes.sort();
    changes.dedup();
    let count = changes.len();
    git::render_message(
        args.git
            .message_template
            .as_deref()
            .unwrap_or(DEFAULT_TEMPLATE),
        &changes.join("\n"),
        count,
        &format!("{count} image reference(s) through Harbor"),
        args.git.identity.signoff.then_some(&s.committer),
    )
}

/// In GitHub Actions: `changed`, `commit`, `pr-url` (empty without a pull request),
/// `images` to `$GITHUB_OUTPUT`; a markdown table to `$GITHUB_STEP_SUMMARY`.
pub(super) fn write_github(
    report: &Report,
    commit: Option<&str>,
    pr: Option<&PrOut>,
) -> Result<()> {
    let rewritten: Vec<&crate::report::ReferenceEntry> = report
        .references
        .iter()
        .filter(|r| r.status == Status::Rewritten && r.applied)
        .collect();
    // The shape bump writes: one entry per new reference.
    let images = ChangedImage::group(rewritten.iter().map(|r| Rewrite {
        file: &r.file,
        original: &r.original,
        normalized: r.normalized.as_deref(),
        rewritten: r.rewritten.as_deref().unwrap_or(""),
    }));
    let outputs = github_outputs(
        !report.files_changed.is_empty(),
        commit,
        pr.map(|p| p.url.as_str()),
        &images,
    )?;
    append_to_github_file(env, "GITHUB_OUTPUT", &outputs)?;
    if env("GITHUB_STEP_SUMMARY").is_some_and(|p| !p.is_empty()) {
        let mut md =
            String::from("### harborize run\n\n| file | line | from | to |\n|---|---|---|---|\n");
        for r in &rewritten {
            md.push_str(&format!(
                "| `{}` | {} | `{}` | `{}` |\n",
                r.file,
                r.line,
                r.original,
                r.rewritten.as_deref().unwrap_or("")
            ));
        }
        md.push_str(&format!(
            "\n{} reference(s), {} rewritten, {} unmapped, {} files changed\n",
            report.summary.references,
            report.summary.rewritten,
            report.summary.unmapped,
            report.files_changed.len()
        ));
        if let Some(p) = pr {
            md.push_str(&format!("\nPull request: {}\n", p.url));
        }
        append_to_github_file(env, "GITHUB_STEP_SUMMARY", &md)?;
    }
    Ok(())
}
