//! One file through the pipeline: read → locate → map → plan → apply and check.
//!
//! Files are independent, so the whole run is a parallel map over the walked files
//! (in the walker's threads) whose results are put back in walk order; nothing here writes.

use std::path::{Path, PathBuf};

use crate::fsio::{self, Content};
use crate::mapping::Mapper;
use crate::pipeline::locate;
use crate::pipeline::plan::{self, PlanOptions, Planned};
use crate::pipeline::render;
use crate::pipeline::walk::{self, Walked};
use crate::yaml;

/// A problem with one file; the run goes on with the others.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileError {
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    pub message: String,
}

/// Everything decided about one file.
#[derive(Debug, Clone)]
pub struct FileResult {
    pub path: PathBuf,
    pub display: String,
    pub planned: Vec<Planned>,
    /// The file's bytes would change (or did, when written).
    pub changed: bool,
    /// The change was written to disk.
    pub written: bool,
    /// Unified diff of the change, when asked for.
    pub diff: Option<String>,
    pub error: Option<FileError>,
    pub note: Option<String>,
    /// What the file was when planned (stamp and hash), kept with the edits by
    /// [`RunOptions::keep`] so that [`apply`] writes exactly this plan or nothing.
    pub read: Option<Read>,
    /// The pull-secret objects of a kept plan's file, from the same read (for `migrate`).
    pub pull_secrets: Option<locate::pull_secrets::PullSecretObjects>,
}

/// The file as it was read for a kept plan: [`apply`] refuses it when it changed since.
#[derive(Debug, Clone)]
pub struct Read {
    original: fsio::Original,
    bom: bool,
}

impl FileResult {
    /// An empty result for `path`.
    pub fn new(path: &Path) -> Self {
        FileResult {
            path: path.to_path_buf(),
            display: path.display().to_string(),
            planned: Vec::new(),
            changed: false,
            written: false,
            diff: None,
            error: None,
            note: None,
            read: None,
            pull_secrets: None,
        }
    }
    /// The result with a per-file error.
    pub fn fail(mut self, line: Option<usize>, column: Option<usize>, message: String) -> Self {
        self.error = Some(FileError {
            file: self.display.clone(),
            line,
            column,
            message,
        });
        self
    }
}

/// Words without which a file (or a document) cannot hold a reference: every place
/// `locate` looks has one of them in its key (`image`, `images`, `imageRegistry`,
/// `repository`, `registry`, `IMAGE`-named env vars, `--*image=` arguments).
pub const KEYWORDS: [&str; 9] = [
    "image",
    "Image",
    "IMAGE",
    "repository",
    "registry",
    // Chart sources (kind `chart`): OCI URLs, Argo CD `repoURL`, Flux HelmRepository,
    // helmfile `repositories:`.
    "oci://",
    "repoURL",
    "HelmRepository",
    "repositories",
];

/// Skip parsing files without any of the [`KEYWORDS`].
fn may_hold_references(text: &str) -> bool {
    let bytes = text.as_bytes();
    KEYWORDS
        .iter()
        .any(|w| memchr::memmem::find(bytes, w.as_bytes()).is_some())
}

/// Why a CI configuration file is left alone (unless `include_ci: true`): its images are
/// pulled by CI runners, which often cannot reach the cluster's Harbor.
pub fn ci_skipped(path: &Path, mapper: &Mapper) -> Option<String> {
    let format = locate::ci_format(path).filter(|_| !mapper.include_ci())?;
    Some(format!(
        "{} (CI configuration), left alone; set include_ci: true in harborize.yaml to include it",
        format.name()
    ))
}

/// A UTF-16 file: nothing to say when it cannot hold a reference; otherwise an error
/// (`unsupported-encoding`), so that `check` fails rather than pass over references it
/// cannot edit.
pub fn utf16_result(result: FileResult, text: &str, big_endian: bool) -> FileResult {
    if !may_hold_references(text) {
        return result;
    }
    let encoding = if big_endian { "UTF-16BE" } else { "UTF-16LE" };
    result.fail(
        None,
        None,
        format!(
            "unsupported-encoding: {encoding} (with a byte-order mark); harborize reads and \
             writes UTF-8 only: convert the file (iconv -f UTF-16 -t UTF-8)"
        ),
    )
}

/// A unified diff of one file's change, with git-style `a/` and `b/` headers.
pub fn unified_diff(display: &str, old: &str, new: &str) -> String {
    let name = display.trim_start_matches("./").trim_start_matches('/');
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string()
}

/// What to do with a planned change.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    pub plan: PlanOptions,
    /// Write changed files (atomically).
    pub write: bool,
    /// Keep a unified diff of each change.
    pub diff: bool,
    /// Plan only, and keep the edits and what was read with each file (when not writing):
    /// the [`Plan`] that [`apply`] writes once the checks passed.
    pub keep: bool,
}

/// Process one file: plan, prove the edit, and write it when asked. Texts are dropped
/// before returning so a large repository never sits in memory.
pub fn process_file(path: &Path, mapper: &Mapper, run: RunOptions) -> FileResult {
    process_file_pinned(path, mapper, run, None)
}

/// [`process_file`], also pinning references found in `pins` (normalized reference →
/// digest) to `name:tag@digest`.
pub fn process_file_pinned(
    path: &Path,
    mapper: &Mapper,
    run: RunOptions,
    pins: Option<&Pins>,
) -> FileResult {
    let batch = run.write.then(fsio::Batch::new);
    let mut result = process_file_held(path, mapper, run, pins, (None, batch.as_ref()));
    if let Some(batch) = batch {
        settle_writes(&mut [&mut result], batch.commit());
    }
    result
}

/// A changed file whose write waits for the render proof.
struct Held {
    path: PathBuf,
    canonical: PathBuf,
    original: fsio::Original,
    new_text: String,
    bom: bool,
}

/// Files held back for the render proof: those a chart or kustomization consumes.
struct Hold<'a> {
    index: &'a render::Index,
    files: std::sync::Mutex<Vec<Held>>,
}

/// [`process_file_pinned`]; with `hold`, a changed file that a chart or kustomization
/// consumes is not written but kept (with its planned text) for the render proof; with
/// `batch` (when writing), the new text is staged there instead of written: the caller
/// commits the batch and then [`settle_writes`].
fn process_file_held(
    path: &Path,
    mapper: &Mapper,
    run: RunOptions,
    pins: Option<&Pins>,
    (hold, batch): (Option<&Hold>, Option<&fsio::Batch>),
) -> FileResult {
    let opts = run.plan;
    let result = FileResult::new(path);
    if let Some(note) = ci_skipped(path, mapper) {
        return FileResult {
            note: Some(note),
            ..result
        };
    }
    if run.write {
        // Temporary files a killed run left beside this one go before anything is written.
        fsio::sweep_stale_temps_beside(path);
    }
    let (bytes, stamp) = match fsio::read_limited(path) {
        Ok(Ok(r)) => r,
        Ok(Err(too_large)) => {
            return FileResult {
                note: Some(too_large),
                ..result
            }
        }
        Err(e) => return result.fail(None, None, format!("cannot read: {e}")),
    };
    let (text, bom) = match fsio::decode(bytes) {
        Content::Text { text, bom } => (text, bom),
        Content::Binary => {
            return FileResult {
                note: Some("binary file skipped".into()),
                ..result
            }
        }
        Content::NotUtf8 => {
            return FileResult {
                note: Some("not UTF-8, skipped".into()),
                ..result
            }
        }
        Content::Utf16 { text, big_endian } => {
            let pull_secrets = locate::pull_secrets::from_read(run.keep, path, &text);
            return FileResult {
                pull_secrets,
                ..utf16_result(result, &text, big_endian)
            };
        }
    };
    let pull_secrets = locate::pull_secrets::from_read(run.keep, path, &text);
    let result = FileResult {
        pull_secrets,
        ..result
    };
    // A chart template is a Go template: scanned line by line (crate::template).
    let template = walk::is_helm_template(path, &text);
    if !may_hold_references(&text) {
        return result;
    }
    // When no byte will be written or shown, documents that cannot hold a reference are
    // blanked before parsing (same offsets; see `yaml::skim`).
    let skimmed = if run.write || run.diff || template {
        None
    } else {
        yaml::skim::blank_documents_without(&text, &KEYWORDS)
    };
    let parsed_text = skimmed.as_deref().unwrap_or(&text);
    let located = if template {
        Ok(crate::template::locate(&text))
    } else {
        locate_each_document(path, parsed_text)
    };
    let sites = match located {
        Ok(mut s) => {
            crate::pipeline::locate::helm::resolve(path, &mut s, mapper.charts());
            s
        }
        Err(e) => return result.fail(Some(e.line), Some(e.column), e.message),
    };
    let mut planned: Vec<Planned> = sites
        .iter()
        .map(|s| {
            let p = plan::plan_site(s, mapper, opts);
            match pins {
                Some(pins) => plan::pin_site(s, p, mapper, pins),
                None => p,
            }
        })
        .collect();
    if crate::pipeline::kustomize_matchers::is_kustomization_file(path) {
        crate::pipeline::kustomize_matchers::add_entries(
            path,
            &text,
            &sites,
            &mut planned,
            mapper,
            opts,
        );
    }
    let edits: Vec<_> = planned
        .iter()
        .flat_map(|p| p.edits.iter().cloned())
        .collect();
    let mut result = FileResult { planned, ..result };
    if edits.is_empty() {
        return result;
    }
    if run.keep && !run.write {
        // A plan kept for [`apply`]: the edits and a fingerprint of the text they apply to.
        result.changed = true;
        result.read = Some(Read {
            original: fsio::Original::new(stamp, &text, bom),
            bom,
        });
        return result;
    }
    if !run.write && !run.diff && hold.is_none() {
        // Nothing will be written or shown: the planned edits are the answer, and the
        // re-parse proof (two more parses) is only paid for bytes that leave the process.
        result.changed = true;
        for p in &mut result.planned {
            p.edits = Vec::new();
        }
        return result;
    }
    let checked = if template {
        crate::template::apply_checked(&text, &edits)
    } else {
        yaml::edit::apply_checked(&text, &edits)
    };
    let new_text = match checked {
        Ok(t) => t,
        Err(e) => {
            for p in &mut result.planned {
                p.edits.clear();
            }
            return result.fail(None, None, e.to_string());
        }
    };
    for p in &mut result.planned {
        p.edits = Vec::new();
    }
    if new_text == text {
        return result;
    }
    result.changed = true;
    if run.diff {
        result.diff = Some(unified_diff(&result.display, &text, &new_text));
    }
    if let Some(hold) = hold {
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if hold.index.covers(&canonical) {
            hold.files
                .lock()
                .expect("no panics while holding the lock")
                .push(Held {
                    path: path.to_path_buf(),
                    canonical,
                    original: fsio::Original::new(stamp, &text, bom),
                    new_text,
                    bom,
                });
            return result;
        }
    }
    if let Some(batch) = batch.filter(|_| run.write) {
        let original = fsio::Original::new(stamp, &text, bom);
        // Staged: written (all together) when the caller commits the batch.
        match batch.stage(path, &original, &new_text, bom) {
            Ok(()) => result.written = true,
            Err(e) => {
                // Only what reached the disk is reported as changed.
                result.changed = false;
                return result.fail(None, None, format!("cannot write: {e}"));
            }
        }
    }
    result
}

/// Parse and locate one document at a time (each tree is dropped once its sites are
/// known), so a file of many documents costs the memory of its largest one.
fn locate_each_document(path: &Path, text: &str) -> Result<Vec<locate::Site>, yaml::YamlError> {
    let mut sites = Vec::new();
    let mut current = 0;
    yaml::parse_documents(text, |attempt, one| {
        if attempt != current {
            sites.clear();
            current = attempt;
        }
        sites.extend(locate::locate(path, text, &one).sites);
    })?;
    sites.sort_by_key(|s| (s.line, s.column));
    Ok(sites)
}

/// Walk the paths and process every file in parallel; results come back in walk order.
pub fn run(paths: &[PathBuf], mapper: &Mapper, opts: RunOptions) -> Vec<FileResult> {
    run_pinned(paths, mapper, opts, None)
}

/// Normalized Harbor reference → digest to pin.
pub type Pins = std::collections::BTreeMap<String, String>;

/// [`run`] with pinning.
pub fn run_pinned(
    paths: &[PathBuf],
    mapper: &Mapper,
    opts: RunOptions,
    pins: Option<&Pins>,
) -> Vec<FileResult> {
    let batch = opts.write.then(fsio::Batch::new);
    let mut results = walk::map_in_walk_order(paths, &|w| match w {
        Walked::File(p) => process_file_held(&p, mapper, opts, pins, (None, batch.as_ref())),
        Walked::Skipped(p, why) => FileResult {
            note: Some(why),
            ..FileResult::new(&p)
        },
        Walked::Error(p, why) => FileResult::new(&p).fail(None, None, why),
    });
    if let Some(batch) = batch {
        settle_writes(&mut results.iter_mut().collect::<Vec<_>>(), batch.commit());
    }
    results
}

/// After a [`fsio::Batch`] of staged files was committed: when it failed, only the files
/// it did write stay `written`; a file that failed gets the error, the others a note.
pub fn settle_writes(results: &mut [&mut FileResult], outcome: Result<(), fsio::BatchError>) {
    let Err(e) = outcome else { return };
    let error_for = |file: String, why: &fsio::WriteError| FileError {
        file,
        line: None,
        column: None,
        message: format!("cannot write: {why}"),
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
            r.error = Some(error_for(path.display().to_string(), why));
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
            Some((_, why)) => r.error = Some(error_for(r.display.clone(), why)),
            None => {
                r.note = Some(format!(
                    "not written: writing {} failed before this file's turn",
                    e.failed[0].0.display()
                ))
            }
        }
    }
}

/// Every file's decisions, planned once: what `rewrite`, `run` and `migrate` check
/// (verify, scan) and then [`apply`], so the written change is the one that was checked.
pub type Plan = Vec<FileResult>;

/// Plan the paths without writing anything, keeping each file's edits for [`apply`].
pub fn plan(paths: &[PathBuf], mapper: &Mapper, plan: PlanOptions) -> Plan {
    run(
        paths,
        mapper,
        RunOptions {
            plan,
            write: false,
            diff: false,
            keep: true,
        },
    )
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

fn finish_plan(plan: Plan, diff: bool, write: bool) -> Vec<FileResult> {
    use rayon::prelude::*;
    let batch = write.then(fsio::Batch::new);
    let mut results: Vec<FileResult> = plan
        .into_par_iter()
        .map(|r| apply_file(r, diff, (None, batch.as_ref())))
        .collect();
    if let Some(batch) = batch {
        settle_writes(&mut results.iter_mut().collect::<Vec<_>>(), batch.commit());
    }
    results
}

/// [`apply`] (or, without `write`, [`diff_plan`]) with the render proof: the files a chart
/// or kustomization under `paths` consumes are held until their units rendered the same
/// before and after (but for the images); a refused unit's files are not written.
pub fn apply_proven(
    paths: &[PathBuf],
    plan: Plan,
    (diff, write): (bool, bool),
    proof: &render::ProofSettings,
    (mapper, direction): (&Mapper, plan::Direction),
) -> (Vec<FileResult>, Vec<render::Outcome>) {
    use rayon::prelude::*;
    if !proof.enabled {
        return (finish_plan(plan, diff, write), Vec::new());
    }
    let index = render::Index::discover(paths).with_charts(mapper.charts().clone());
    let hold = Hold {
        index: &index,
        files: std::sync::Mutex::new(Vec::new()),
    };
    let batch = write.then(fsio::Batch::new);
    let mut results: Vec<FileResult> = plan
        .into_par_iter()
        .map(|r| apply_file(r, diff, (Some(&hold), batch.as_ref())))
        .collect();
    let held = hold.files.into_inner().expect("lock not poisoned");
    let outcomes = settle_held(
        &mut results,
        held,
        &index,
        proof,
        (mapper, direction),
        batch.as_ref(),
    );
    if let Some(batch) = batch {
        settle_writes(&mut results.iter_mut().collect::<Vec<_>>(), batch.commit());
    }
    (results, outcomes)
}

/// One file of a kept plan: re-read, refuse when changed, prove, then hold it for the
/// render proof or stage it in `batch` (without a batch, nothing is written).
fn apply_file(
    mut result: FileResult,
    diff: bool,
    (hold, batch): (Option<&Hold>, Option<&fsio::Batch>),
) -> FileResult {
    let write = batch.is_some();
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
    if write {
        fsio::sweep_stale_temps_beside(&path);
    }
    let text = match fsio::read_limited(&path) {
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
    let new_text = match yaml::edit::apply_checked(&text, &edits) {
        Ok(t) => t,
        Err(e) => return result.fail(None, None, e.to_string()),
    };
    if new_text == text {
        return result;
    }
    if diff {
        result.diff = Some(unified_diff(&result.display, &text, &new_text));
    }
    if let Some(hold) = hold {
        let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if hold.index.covers(&canonical) {
            result.changed = true;
            hold.files
                .lock()
                .expect("no panics while holding the lock")
                .push(Held {
                    path,
                    canonical,
                    original: now,
                    new_text,
                    bom: read.bom,
                });
            return result;
        }
    }
    if !write {
        result.changed = true;
        return result;
    }
    let Some(batch) = batch else {
        result.changed = true;
        return result;
    };
    // Staged: written (all together) when the caller commits the batch.
    match batch.stage(&path, &now, &new_text, read.bom) {
        Ok(()) => {
            result.changed = true;
            result.written = true;
            result
        }
        Err(e) => result.fail(None, None, format!("cannot write: {e}")),
    }
}

/// [`run_pinned`] with the render proof: changed files that a chart or kustomization
/// consumes are held back, each affected chart and kustomization is rendered before and
/// after, and only then are the held files written, except those of a unit whose render
/// changed beyond its images (each gets an error; the outcomes carry the rendered diffs).
/// Units that could not be proven get a note each. Without `run.write` nothing is written
/// but the proof still runs.
pub fn run_proven(
    paths: &[PathBuf],
    mapper: &Mapper,
    opts: RunOptions,
    pins: Option<&Pins>,
    proof: &render::ProofSettings,
) -> (Vec<FileResult>, Vec<render::Outcome>) {
    if !proof.enabled {
        return (run_pinned(paths, mapper, opts, pins), Vec::new());
    }
    let index = render::Index::discover(paths).with_charts(mapper.charts().clone());
    let hold = Hold {
        index: &index,
        files: std::sync::Mutex::new(Vec::new()),
    };
    let batch = opts.write.then(fsio::Batch::new);
    let mut results = walk::map_in_walk_order(paths, &|w| match w {
        Walked::File(p) => process_file_held(&p, mapper, opts, pins, (Some(&hold), batch.as_ref())),
        Walked::Skipped(p, why) => FileResult {
            note: Some(why),
            ..FileResult::new(&p)
        },
        Walked::Error(p, why) => FileResult::new(&p).fail(None, None, why),
    });
    let held = hold.files.into_inner().expect("lock not poisoned");
    let outcomes = settle_held(
        &mut results,
        held,
        &index,
        proof,
        (mapper, opts.plan.direction),
        batch.as_ref(),
    );
    if let Some(batch) = batch {
        settle_writes(&mut results.iter_mut().collect::<Vec<_>>(), batch.commit());
    }
    (results, outcomes)
}

/// Prove the held files' charts and kustomizations by rendering, then write the held
/// files of every unit that proved (or could not be proven: noted), never those of a
/// refused unit (each gets a `render-proof-failed` error).
fn settle_held(
    results: &mut Vec<FileResult>,
    held: Vec<Held>,
    index: &render::Index,
    proof: &render::ProofSettings,
    (mapper, direction): (&Mapper, plan::Direction),
    batch: Option<&fsio::Batch>,
) -> Vec<render::Outcome> {
    if held.is_empty() {
        return Vec::new();
    }
    let changed: std::collections::BTreeMap<PathBuf, String> = held
        .iter()
        .map(|h| (h.canonical.clone(), h.new_text.clone()))
        .collect();
    let outcomes = render::prove(index, proof, &changed, mapper, direction);
    let refused = |h: &Held| {
        outcomes.iter().find(|o| {
            matches!(o.verdict, render::Verdict::Refused { .. }) && o.inputs.contains(&h.canonical)
        })
    };
    let position: std::collections::HashMap<PathBuf, usize> = results
        .iter()
        .enumerate()
        .map(|(i, r)| (r.path.clone(), i))
        .collect();
    for h in &held {
        let Some(&i) = position.get(&h.path) else {
            continue;
        };
        let r = &mut results[i];
        if let Some(o) = refused(h) {
            let render::Verdict::Refused { summary, .. } = &o.verdict else {
                unreachable!()
            };
            r.changed = false;
            r.diff = None;
            r.error = Some(FileError {
                file: r.display.clone(),
                line: None,
                column: None,
                message: format!(
                    "render-proof-failed: {}: the render changes beyond the images ({summary}); nothing this renders from was written",
                    o.label
                ),
            });
            continue;
        }
        if let Some(batch) = batch {
            match batch.stage(&h.path, &h.original, &h.new_text, h.bom) {
                Ok(()) => r.written = true,
                Err(e) => {
                    r.changed = false;
                    r.error = Some(FileError {
                        file: r.display.clone(),
                        line: None,
                        column: None,
                        message: format!("cannot write: {e}"),
                    });
                }
            }
        }
    }
    for o in &outcomes {
        if let render::Verdict::Unproven(why) = &o.verdict {
            let files: Vec<String> = o.inputs.iter().map(|f| render::shown(f)).collect();
            results.push(FileResult {
                note: Some(format!(
                    "render-proof-unproven: {}: {why}; edits of {} are not proven by rendering",
                    o.label,
                    files.join(", ")
                )),
                ..FileResult::new(Path::new(&render::shown(&o.dir)))
            });
        }
    }
    outcomes
}
