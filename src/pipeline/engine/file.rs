//! One file through a [`Strategy`]: read, decode, pre-filter, plan; then either keep the
//! plan for [`super::apply`] or prove the edits and hold, stage or just report them.

use std::cell::RefCell;
use std::path::Path;

use super::proven::{Held, Hold};
use super::{unified_diff, utf16_result, FileResult, FileText, PlanParse, Proof, Read, Strategy};
use crate::fsio::{self, Content};
use crate::pipeline::{locate, walk};
use crate::yaml::recorded::MAX_RECORDED_BYTES;

/// What to do with a file's plan.
#[derive(Debug, Clone, Copy)]
pub(super) struct Mode {
    /// Write changed files (staged in the caller's batch).
    pub write: bool,
    /// Keep a unified diff of each change.
    pub diff: bool,
    /// Keep the edits and what was read for [`super::apply`] (when not writing).
    pub keep: bool,
}

/// A decoded file, or the result that says why it is not planned.
/// A kept plan's UTF-16 file still yields its pull-secret objects (for `migrate`).
fn read(
    path: &Path,
    result: FileResult,
    keep: bool,
) -> Result<(String, bool, fsio::Stamp), Box<FileResult>> {
    let (bytes, stamp) = match fsio::read_limited(path) {
        Ok(Ok(r)) => r,
        Ok(Err(too_large)) => {
            return Err(Box::new(FileResult {
                note: Some(too_large),
                ..result
            }))
        }
        Err(e) => {
            return Err(Box::new(result.fail(
                None,
                None,
                format!("cannot read: {e}"),
            )))
        }
    };
    let note = |n: &str| {
        Box::new(FileResult {
            note: Some(n.into()),
            ..FileResult::new(path)
        })
    };
    match fsio::decode(bytes) {
        Content::Text { text, bom } => Ok((text, bom, stamp)),
        Content::Binary => Err(note("binary file skipped")),
        Content::NotUtf8 => Err(note("not UTF-8, skipped")),
        Content::Utf16 { text, big_endian } => {
            let pull_secrets = locate::pull_secrets::from_read(keep, path, &text).map(Box::new);
            Err(Box::new(FileResult {
                pull_secrets,
                ..utf16_result(result, &text, big_endian)
            }))
        }
    }
}

/// Process one file with `strategy`; with `hold`, a changed file that a chart or
/// kustomization consumes (every changed file, for an all-or-nothing hold) is not written
/// but kept with its new text for the render proof; with `batch` (when writing), the new
/// text is staged there: the caller commits the batch and then
/// [`super::settle_writes`]. Texts are dropped before returning.
pub(super) fn process(
    path: &Path,
    strategy: &dyn Strategy,
    mode: Mode,
    (hold, batch): (Option<&Hold>, Option<&fsio::Batch>),
) -> FileResult {
    let result = FileResult::new(path);
    if let Some(note) = super::ci_skipped(path, strategy.mapper()) {
        return FileResult {
            note: Some(note),
            ..result
        };
    }
    if mode.write {
        // Temporary files a killed run left beside this one go before anything is written.
        fsio::sweep_stale_temps_beside(path);
    }
    let (text, bom, stamp) = match read(path, result, mode.keep) {
        Ok(t) => t,
        Err(done) => return *done,
    };
    // The pull-secret objects of a kept plan come from this same read (for `migrate`).
    let result = FileResult {
        pull_secrets: locate::pull_secrets::from_read(mode.keep, path, &text).map(Box::new),
        ..FileResult::new(path)
    };
    strategy.observe(path, &text);
    // A chart template is a Go template: scanned line by line (crate::pipeline::template).
    let template = walk::is_helm_template(path, &text);
    if let Some(note) = strategy.skip(path, template) {
        return FileResult {
            note: Some(note),
            ..result
        };
    }
    if !strategy.may_hold(&text) {
        return result;
    }
    let words = strategy.document_words(template);
    let view = words.as_ref().and_then(|w| {
        let w: Vec<&str> = w.iter().map(String::as_str).collect();
        yaml_view(&text, &w)
    });
    // The events of the plan's parse serve as the proof's "before" when the proof will
    // run here on the same text: the edits leave the process (or a kept plan is proven
    // now), and the view parsed is the proof's.
    let keep_only = mode.keep && !mode.write;
    let proves = if keep_only {
        strategy.proves_at_plan()
    } else {
        mode.write || mode.diff || hold.is_some()
    };
    let same_text = view.is_none() || strategy.proves_on_view();
    let record = RefCell::new(None);
    let file = FileText {
        path,
        text: &text,
        parsed: view.as_deref().unwrap_or(&text),
        template,
        record: (proves && same_text && !template && text.len() <= MAX_RECORDED_BYTES)
            .then_some(&record),
    };
    let planned = match strategy.plan(&file) {
        Ok(p) => p,
        Err(e) => return result.fail(Some(e.line), Some(e.column), e.message),
    };
    let proof = if template {
        Proof::Template
    } else {
        match words.filter(|_| strategy.proves_on_view()) {
            Some(w) => Proof::View(w),
            None => Proof::Whole,
        }
    };
    let edits: Vec<_> = planned
        .iter()
        .flat_map(|p| p.edits.iter().cloned())
        .collect();
    let mut result = FileResult { planned, ..result };
    if edits.is_empty() {
        return result;
    }
    let planned_parse = PlanParse {
        view: view.as_deref(),
        events: record.into_inner(),
    };
    if keep_only {
        // A plan kept for [`apply`]: the edits and a fingerprint of the text they apply to.
        // Proven now when the strategy asks (a proof that fails here runs again at apply,
        // which reports it as before).
        let proven = proves
            .then(|| proof.apply(&text, &edits, Some(planned_parse)))
            .and_then(Result::ok)
            .map(|_| edits);
        result.changed = true;
        result.read = Some(Box::new(Read {
            original: fsio::Original::new(stamp, &text, bom),
            bom,
            proof,
            proven,
        }));
        return result;
    }
    for p in &mut result.planned {
        p.edits = Vec::new();
    }
    if !mode.write && !mode.diff && hold.is_none() {
        // Nothing will be written or shown: the planned edits are the answer, and the
        // re-parse proof (two more parses) is only paid for bytes that leave the process.
        result.changed = true;
        return result;
    }
    let new_text = match proof.apply(&text, &edits, Some(planned_parse)) {
        Ok(t) => t,
        Err(e) => return result.fail(None, None, e),
    };
    if new_text == text {
        return result;
    }
    result.changed = true;
    if mode.diff {
        result.diff = Some(unified_diff(&result.display, &text, &new_text));
    }
    let original = fsio::Original::new(stamp, &text, bom);
    let held = Held::new(path, original, new_text, bom);
    settle_one(result, held, (hold, batch.filter(|_| mode.write)))
}

/// The blanked view of `text` (documents without any of `words`), if any was blanked.
fn yaml_view(text: &str, words: &[&str]) -> Option<String> {
    crate::yaml::skim::blank_documents_without(text, words)
}

/// A proven change of one file: held for the render proof (when `hold` takes it), staged
/// in `batch`, or only reported (no batch: nothing is written).
pub(super) fn settle_one(
    mut result: FileResult,
    mut held: Held,
    (hold, batch): (Option<&Hold>, Option<&fsio::Batch>),
) -> FileResult {
    result.changed = true;
    if let Some(hold) = hold {
        match hold.take(held) {
            None => return result,
            // Not one the hold takes: staged as any other.
            Some(back) => held = back,
        }
    }
    stage(result, held, batch)
}

fn stage(mut result: FileResult, held: Held, batch: Option<&fsio::Batch>) -> FileResult {
    let Some(batch) = batch else {
        return result;
    };
    // Staged: written (all together) when the caller commits the batch.
    match held.stage(batch) {
        Ok(()) => {
            result.written = true;
            result
        }
        Err(e) => {
            // Only what reached the disk is reported as changed.
            result.changed = false;
            result.fail(None, None, format!("cannot write: {e}"))
        }
    }
}

impl Mode {
    pub(super) fn of(run: super::RunOptions) -> Self {
        Mode {
            write: run.write,
            diff: run.diff,
            keep: run.keep,
        }
    }
}

/// Walk the paths and process every file with `strategy` in parallel (in the walker's
/// threads); results come back in walk order.
pub(super) fn walk(
    paths: &[std::path::PathBuf],
    strategy: &dyn Strategy,
    mode: Mode,
    (hold, batch): (Option<&Hold>, Option<&fsio::Batch>),
) -> Vec<FileResult> {
    use crate::pipeline::walk::Walked;
    walk::map_in_walk_order(paths, &|w| match w {
        Walked::File(p) => process(&p, strategy, mode, (hold, batch)),
        Walked::Skipped(p, why) => FileResult {
            note: Some(why),
            ..FileResult::new(&p)
        },
        Walked::Error(p, why) => FileResult::new(&p).fail(None, None, why),
    })
}
