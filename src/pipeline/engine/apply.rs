//! Writing a kept [`Plan`]: each file with edits is read again and written only when it is
//! still exactly what was planned; the edits pass their proof again on the text they are
//! spliced into, and every write of a run goes through one [`fsio::Batch`].

use super::file::settle_one;
use super::proven::{Held, Hold};
use super::{unified_diff, FileError, FileResult, Plan};
use crate::fsio::{self, Content};

/// How a kept plan is applied.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyOptions {
    /// Keep a unified diff of each change.
    pub diff: bool,
    /// Write (else only say what would be written).
    pub write: bool,
    /// Write nothing unless every file applied and proved (`bump`: a bump lands whole).
    pub all_or_nothing: bool,
}

/// Write a kept [`Plan`]: each file with edits is read again and written only when it is
/// still exactly what was planned (else a per-file error: nothing of it is written); the
/// edits pass the re-parse proof again on the text they are spliced into. Results keep
/// their order and their references, so checks made on the plan stay attached to them.
pub fn apply(plan: Plan, diff: bool) -> Vec<FileResult> {
    finish_plan(plan, diff, true)
}

/// What [`apply`] would write, without writing: the proven change of each file (and its
/// diff when asked); a file changed since it was planned is an error here too.
pub fn diff_plan(plan: Plan, diff: bool) -> Vec<FileResult> {
    finish_plan(plan, diff, false)
}

pub(super) fn finish_plan(plan: Plan, diff: bool, write: bool) -> Vec<FileResult> {
    use rayon::prelude::*;
    let batch = write.then(fsio::Batch::streaming);
    let mut results: Vec<FileResult> = plan
        .into_par_iter()
        .map(|r| apply_file(r, diff, (None, batch.as_ref())))
        .collect();
    if let Some(batch) = batch {
        settle_writes(&mut results.iter_mut().collect::<Vec<_>>(), batch.commit());
    }
    results
}

/// One file of a kept plan: re-read, refuse when changed, prove, then hold it for the
/// render proof or stage it in `batch` (without a batch, nothing is written).
pub(super) fn apply_file(
    mut result: FileResult,
    diff: bool,
    (hold, batch): (Option<&Hold>, Option<&fsio::Batch>),
) -> FileResult {
    let Some(read) = result.read.take() else {
        return result;
    };
    let edits: Vec<_> = result
        .planned
        .iter_mut()
        .flat_map(|p| std::mem::take(&mut p.edits))
        .collect();
    result.changed = false;
    if edits.is_empty() {
        return result;
    }
    let path = result.path.clone();
    if batch.is_some() {
        fsio::sweep_stale_temps_beside(&path);
    }
    let text = match fsio::read_limited_for(&path, fsio::count::Purpose::Apply) {
        Ok(Ok((bytes, stamp))) => match fsio::decode(bytes) {
            Content::Text { text, bom } if bom == read.bom => {
                let now = fsio::Original::new(stamp, &text, bom);
                now.same_content(&read.original).then_some((text, now))
            }
            _ => None,
        },
        Ok(Err(_)) => None,
        Err(e) => return result.fail(None, None, format!("cannot read: {e}")),
    };
    let Some((text, now)) = text else {
        return result.fail(
            None,
            None,
            "changed on disk since harborize planned it (another writer?); nothing of it was \
             written, run again"
                .into(),
        );
    };
    let new_text = match read.proof.apply_kept(&text, &edits, read.proven.as_deref()) {
        Ok(t) => t,
        Err(e) => return result.fail(None, None, e),
    };
    if new_text == text {
        return result;
    }
    if diff {
        result.diff = Some(unified_diff(&result.display, &text, &new_text));
    }
    let held = Held::new(&path, now, new_text, read.bom);
    settle_one(result, held, (hold, batch))
}

/// After a [`fsio::Batch`] of staged files was committed: when it failed, only the files
/// it did write stay `written`; a file that failed gets the error, the others a note.
pub fn settle_writes(results: &mut [&mut FileResult], outcome: Result<(), fsio::BatchError>) {
    let Err(e) = outcome else { return };
    let error_for = |file: String, why: &fsio::WriteError| {
        FileError::error(
            crate::finding::Code::FileError,
            crate::finding::Location::file(file),
            format!("cannot write: {why}"),
        )
    };
    for (path, why) in &e.failed {
        if results.iter().any(|r| &r.path == path) {
            continue;
        }
        // A directory's sync failed after the renames: say so on a file renamed into it.
        if let Some(r) = results
            .iter_mut()
            .find(|r| r.written && r.path.parent() == Some(path.as_path()))
        {
            r.error = Some(Box::new(error_for(path.display().to_string(), why)));
        }
    }
    for r in results.iter_mut().filter(|r| r.written) {
        if e.written.contains(&r.path) {
            continue;
        }
        // Only what reached the disk is reported as changed.
        r.written = false;
        r.changed = false;
        match e.failed.iter().find(|(p, _)| p == &r.path) {
            Some((_, why)) => r.error = Some(Box::new(error_for(r.display.clone(), why))),
            None => {
                r.note = Some(format!(
                    "not written: writing {} failed before this file's turn",
                    e.failed[0].0.display()
                ))
            }
        }
    }
}
