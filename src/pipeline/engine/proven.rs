//! The render proof around writes: changed files that a chart or kustomization consumes
//! are held back (with an all-or-nothing hold, every changed file), each affected chart and
//! kustomization is rendered before and after, and only then are the held files staged,
//! except those of a unit whose render changed beyond its images.

use crate::finding::{Code, Location};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::apply::{apply_file, finish_plan, settle_writes, ApplyOptions};
use super::file::{self, Mode};
use super::{FileError, FileResult, Pins, Plan, Rewrite, RunOptions};
use crate::fsio;
use crate::mapping::Mapper;
use crate::pipeline::plan;
use crate::pipeline::render::{self, Change, Outcome, ProofSettings, Verdict};

/// A changed file whose write waits for the render proof.
pub(super) struct Held {
    path: PathBuf,
    /// Set when held.
    canonical: PathBuf,
    original: fsio::Original,
    new_text: String,
    bom: bool,
}

impl Held {
    pub(super) fn new(path: &Path, original: fsio::Original, new_text: String, bom: bool) -> Self {
        Held {
            path: path.to_path_buf(),
            canonical: PathBuf::new(),
            original,
            new_text,
            bom,
        }
    }

    pub(super) fn stage(&self, batch: &fsio::Batch) -> Result<(), fsio::WriteError> {
        batch.stage(&self.path, &self.original, &self.new_text, self.bom)
    }

    /// The bytes the file gets: the new text, after the BOM when it had one.
    fn bytes(&self) -> Vec<u8> {
        let bom = if self.bom { "\u{feff}" } else { "" };
        [bom.as_bytes(), self.new_text.as_bytes()].concat()
    }
}

/// Files held back for the render proof.
pub(super) struct Hold<'a> {
    index: &'a render::Index,
    /// Hold every changed file (a run that writes all or nothing), not only those a chart
    /// or kustomization consumes.
    all: bool,
    files: Mutex<Vec<Held>>,
}

impl Hold<'_> {
    /// Keep `held` when this hold takes it; else give it back.
    pub(super) fn take(&self, mut held: Held) -> Option<Held> {
        held.canonical = std::fs::canonicalize(&held.path).unwrap_or_else(|_| held.path.clone());
        if !self.all && !self.index.covers(&held.canonical) {
            return Some(held);
        }
        self.files
            .lock()
            .expect("no panics while holding the lock")
            .push(held);
        None
    }
}

/// [`super::run_pinned`] with the render proof: changed files that a chart or
/// kustomization consumes are held back, each affected chart and kustomization is rendered
/// before and after, and only then are the held files written, except those of a unit
/// whose render changed beyond its images (each gets an error; the outcomes carry the
/// rendered diffs). Units that could not be proven get a note each. Without `run.write`
/// nothing is written but the proof still runs.
pub fn run_proven(
    paths: &[PathBuf],
    mapper: &Mapper,
    opts: RunOptions,
    pins: Option<&Pins>,
    proof: &ProofSettings,
) -> (Vec<FileResult>, Vec<Outcome>) {
    let strategy = Rewrite::new(mapper, opts.plan, pins);
    if !proof.enabled {
        return (super::run_with(paths, &strategy, opts), Vec::new());
    }
    let index = render::Index::discover(paths).with_charts(mapper.charts().clone());
    let hold = Hold {
        index: &index,
        all: false,
        files: Mutex::new(Vec::new()),
    };
    let batch = opts.write.then(fsio::Batch::streaming);
    let mode = Mode {
        write: opts.write,
        diff: opts.diff,
        keep: opts.keep,
    };
    let mut results = file::walk(paths, &strategy, mode, (Some(&hold), batch.as_ref()));
    let held = hold.files.into_inner().expect("lock not poisoned");
    let change = Change::Map(opts.plan.direction);
    let outcomes = settle_held(
        &mut results,
        held,
        &index,
        proof,
        (mapper, change),
        (batch.as_ref(), None),
        false,
    );
    if let Some(batch) = batch {
        settle_writes(&mut results.iter_mut().collect::<Vec<_>>(), batch.commit());
    }
    (results, outcomes)
}

/// [`super::apply`] (or, without `write`, [`super::diff_plan`]) with the render proof:
/// the files a chart or kustomization under `paths` consumes are held until their units
/// rendered the same before and after (but for the images); a refused unit's files are
/// not written.
pub fn apply_proven(
    paths: &[PathBuf],
    plan: Plan,
    (diff, write): (bool, bool),
    proof: &ProofSettings,
    (mapper, direction): (&Mapper, plan::Direction),
) -> (Vec<FileResult>, Vec<Outcome>) {
    let opts = ApplyOptions {
        diff,
        write,
        all_or_nothing: false,
    };
    apply_with(
        paths,
        plan,
        opts,
        proof,
        (mapper, Change::Map(direction)),
        None,
    )
}

/// [`apply_proven`] for any [`Change`]; with [`ApplyOptions::all_or_nothing`] every
/// changed file is held and nothing is written unless every file applied and proved.
pub fn apply_with(
    paths: &[PathBuf],
    plan: Plan,
    opts: ApplyOptions,
    proof: &ProofSettings,
    (mapper, change): (&Mapper, Change),
    alongside: Option<Alongside<'_>>,
) -> (Vec<FileResult>, Vec<Outcome>) {
    use rayon::prelude::*;
    if !proof.enabled && !opts.all_or_nothing {
        return (finish_plan(plan, opts.diff, opts.write), Vec::new());
    }
    let index = if proof.enabled {
        render::Index::discover(paths).with_charts(mapper.charts().clone())
    } else {
        render::Index::default()
    };
    let hold = Hold {
        index: &index,
        all: opts.all_or_nothing,
        files: Mutex::new(Vec::new()),
    };
    let batch = opts.write.then(fsio::Batch::new);
    let mut results: Vec<FileResult> = plan
        .into_par_iter()
        .map(|r| apply_file(r, opts.diff, (Some(&hold), batch.as_ref())))
        .collect();
    let held = hold.files.into_inner().expect("lock not poisoned");
    let mut staged = Vec::new();
    let outcomes = settle_held(
        &mut results,
        held,
        &index,
        proof,
        (mapper, change),
        (batch.as_ref(), alongside.map(|_| &mut staged)),
        opts.all_or_nothing,
    );
    if let Some(batch) = batch {
        let done = match alongside {
            Some(work) if !staged.is_empty() => batch.commit_alongside(|| work(&staged)).0,
            _ => batch.commit(),
        };
        settle_writes(&mut results.iter_mut().collect::<Vec<_>>(), done);
    }
    (results, outcomes)
}

/// Work to run while a write batch waits for the disk, given each staged file (its
/// canonical path, its new bytes): `bump --commit` makes its commit's objects there.
pub type Alongside<'a> = &'a (dyn Fn(&[(PathBuf, Vec<u8>)]) + Sync);

/// The files staged in a write batch: canonical path and new bytes (for [`Alongside`]).
type Staged = Vec<(PathBuf, Vec<u8>)>;

/// Prove the held files' charts and kustomizations by rendering, then stage the held
/// files of every unit that proved (or could not be proven: noted), never those of a
/// refused unit (each gets a `render-proof-failed` error); `all_or_nothing`: none at all
/// when any file has an error.
fn settle_held(
    results: &mut Vec<FileResult>,
    held: Vec<Held>,
    index: &render::Index,
    proof: &ProofSettings,
    (mapper, change): (&Mapper, Change),
    (batch, mut staged): (Option<&fsio::Batch>, Option<&mut Staged>),
    all_or_nothing: bool,
) -> Vec<Outcome> {
    if held.is_empty() {
        return Vec::new();
    }
    let changed: BTreeMap<PathBuf, String> = held
        .iter()
        .filter(|h| index.covers(&h.canonical))
        .map(|h| (h.canonical.clone(), h.new_text.clone()))
        .collect();
    let outcomes = if proof.enabled && !changed.is_empty() {
        render::prove_change(index, proof, &changed, mapper, change)
    } else {
        Vec::new()
    };
    let position: HashMap<PathBuf, usize> = results
        .iter()
        .enumerate()
        .map(|(i, r)| (r.path.clone(), i))
        .collect();
    let mut keep = Vec::new();
    for h in held {
        let Some(&i) = position.get(&h.path) else {
            continue;
        };
        match refused(&outcomes, &h.canonical) {
            Some((label, summary)) => {
                let r = &mut results[i];
                r.changed = false;
                r.diff = None;
                r.error = Some(Box::new(error(r, refusal(change, label, summary))));
            }
            None => keep.push((i, h)),
        }
    }
    let stopped = all_or_nothing && results.iter().any(|r| r.error.is_some());
    for (i, h) in keep.iter().filter(|_| !stopped) {
        let Some(batch) = batch else { break };
        let r = &mut results[*i];
        match h.stage(batch) {
            Ok(()) => {
                r.written = true;
                if let Some(staged) = staged.as_deref_mut() {
                    staged.push((h.canonical.clone(), h.bytes()));
                }
            }
            Err(e) => {
                r.changed = false;
                r.error = Some(Box::new(error(r, format!("cannot write: {e}"))));
            }
        }
    }
    for o in &outcomes {
        if let Verdict::Unproven(why) = &o.verdict {
            let files: Vec<String> = o.inputs.iter().map(|f| render::shown(f)).collect();
            results.push(FileResult {
                note: Some(format!(
                    "{}: {}: {why}; edits of {} are not proven by rendering",
                    Code::RenderProofUnproven,
                    o.label,
                    files.join(", ")
                )),
                ..FileResult::new(Path::new(&render::shown(&o.dir)))
            });
        }
    }
    outcomes
}

/// The refused unit (label, summary) that consumes `file`, if any.
fn refused<'a>(outcomes: &'a [Outcome], file: &Path) -> Option<(&'a str, &'a str)> {
    outcomes.iter().find_map(|o| match &o.verdict {
        Verdict::Refused { summary, .. } if o.inputs.iter().any(|i| i == file) => {
            Some((o.label.as_str(), summary.as_str()))
        }
        _ => None,
    })
}

fn refusal(change: Change, label: &str, summary: &str) -> String {
    match change {
        Change::Map(_) => format!(
            "{}: {label}: the render changes beyond the images ({summary}); nothing this renders from was written",
            Code::RenderProofFailed
        ),
        Change::Bump { .. } => format!(
            "{}: {label}: the render changes beyond the bumped image ({summary}); nothing was written",
            Code::RenderProofFailed
        ),
    }
}

/// A whole-file error; a refusal carries the render-proof code, a write failure the
/// generic one (the message says which).
fn error(r: &FileResult, message: String) -> FileError {
    let code = if message.starts_with(Code::RenderProofFailed.as_str()) {
        Code::RenderProofFailed
    } else {
        Code::FileError
    };
    FileError::error(code, Location::file(r.display.clone()), message)
}
