//! One file through the pipeline: read → locate → map → plan → apply and check.
//!
//! Files are independent, so the whole run is a parallel map over the walked files
//! (in the walker's threads) whose results are put back in walk order; nothing here writes
//! until [`apply`] (or a writing [`run`]).
//!
//! What is planned in a file is a [`Strategy`] (like typos' `FileChecker`): [`Rewrite`]
//! maps every reference through the cache (or back, or pins it), `bump` gives one image a
//! new tag. Every strategy goes through the same walk ([`file`]), the same apply (re-read,
//! refuse a changed file, re-prove, one [`fsio::Batch`]: [`apply`]) and the same render
//! proof ([`proven`]).

mod apply;
mod file;
mod proven;
mod rewrite;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::fsio;
use crate::mapping::Mapper;
use crate::pipeline::locate;
use crate::pipeline::plan::{PlanOptions, Planned};
use crate::yaml;

pub use apply::{apply, diff_plan, settle_writes, ApplyOptions};
pub use proven::{apply_proven, apply_with, run_proven, Alongside};
pub use rewrite::{
    plan, plan_with, process_file, process_file_pinned, run, run_pinned, run_with, Rewrite,
};

/// A problem with one file (a finding of level error); the run goes on with the others.
pub type FileError = crate::finding::Finding;

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
    pub error: Option<Box<FileError>>,
    pub note: Option<String>,
    /// What the file was when planned (stamp and hash), kept with the edits by
    /// [`RunOptions::keep`] so that [`apply`] writes exactly this plan or nothing.
    pub read: Option<Box<Read>>,
    /// The pull-secret objects of a kept plan's file, from the same read (for `migrate`).
    pub pull_secrets: Option<Box<crate::pipeline::locate::pull_secrets::PullSecretObjects>>,
}

/// The file as it was read for a kept plan: [`apply`] refuses it when it changed since.
#[derive(Debug, Clone)]
pub struct Read {
    original: fsio::Original,
    bom: bool,
    proof: Proof,
    /// The edits whose proof already passed on these bytes when the plan was made
    /// ([`Strategy::proves_at_plan`]): applied to the same bytes with the same edits, the
    /// result is spliced without proving it a second time.
    proven: Option<Vec<yaml::edit::Edit>>,
}

/// How a file's edits are proven (decided when it is planned, used again by [`apply`]).
#[derive(Debug, Clone)]
pub enum Proof {
    /// Re-parse the whole new text and compare it with the old one.
    Whole,
    /// A chart template (Go template): checked line by line ([`crate::pipeline::template`]).
    Template,
    /// Re-parse only the documents holding one of these words (the others are blanked,
    /// same offsets, in both texts): what `bump` parses of a file.
    View(Arc<[String]>),
}

/// What the plan already did with a text that the proof would otherwise do again: the
/// text it parsed and the events of that parse.
pub(super) struct PlanParse<'a> {
    /// The blanked view the plan parsed (`None`: the whole text).
    pub view: Option<&'a str>,
    /// The events of the plan's parse of that text, if recorded.
    pub events: Option<yaml::recorded::Recorded>,
}

impl Proof {
    /// The new text of `text` with `edits`, proven. `planned`: what the plan parsed of the
    /// same text (`None`: the text was read again since, as [`apply`] does).
    fn apply(
        &self,
        text: &str,
        edits: &[yaml::edit::Edit],
        planned: Option<PlanParse>,
    ) -> Result<String, String> {
        use yaml::edit::{apply_checked_on_view_recorded, apply_checked_recorded};
        let done = match (self, planned) {
            (Proof::Template, _) => crate::pipeline::template::apply_checked(text, edits),
            // The plan parsed the whole text: its events are the "before" of the proof.
            (Proof::Whole | Proof::View(_), Some(PlanParse { view: None, events })) => {
                apply_checked_recorded(text, edits, events)
            }
            (Proof::Whole, _) => yaml::edit::apply_checked(text, edits),
            (
                Proof::View(_),
                Some(PlanParse {
                    view: Some(view),
                    events,
                }),
            ) => apply_checked_on_view_recorded(text, view, edits, events),
            (Proof::View(words), None) => {
                let words: Vec<&str> = words.iter().map(String::as_str).collect();
                match yaml::skim::blank_documents_without(text, &words) {
                    Some(view) => yaml::edit::apply_checked_on_view(text, &view, edits),
                    None => yaml::edit::apply_checked(text, edits),
                }
            }
        };
        done.map_err(|e| e.to_string())
    }

    /// [`Proof::apply`] for a kept plan: when `proven` (the edits proven at plan time on
    /// the same bytes, which the caller checked) are `edits`, the same new text without a
    /// second proof; otherwise proven now.
    fn apply_kept(
        &self,
        text: &str,
        edits: &[yaml::edit::Edit],
        proven: Option<&[yaml::edit::Edit]>,
    ) -> Result<String, String> {
        match self {
            Proof::Whole | Proof::View(_) if proven == Some(edits) => {
                yaml::edit::splice_proven(text, edits).map_err(|e| e.to_string())
            }
            _ => self.apply(text, edits, None),
        }
    }
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
        self.error = Some(Box::new(FileError::error(
            crate::finding::Code::FileError,
            crate::finding::Location::at(self.display.clone(), line, column),
            message,
        )));
        self
    }
}

/// One file as read, handed to a [`Strategy`].
pub struct FileText<'a> {
    pub path: &'a Path,
    /// The whole text (BOM removed).
    pub text: &'a str,
    /// What is parsed: `text` with the documents the strategy does not need blanked (same
    /// offsets), or `text` itself.
    pub parsed: &'a str,
    /// A chart template (Go template, scanned line by line).
    pub template: bool,
    /// Where a strategy that parses `parsed` with [`yaml::parse_documents_recording`] may
    /// leave the events (`None`: the proof will not use them, do not record).
    pub record: Option<&'a std::cell::RefCell<Option<yaml::recorded::Recorded>>>,
}

/// What one kind of run plans in a file: the per-file part of `rewrite`/`revert`/pin
/// ([`Rewrite`]) and `bump`. The engine reads, decodes, pre-filters, plans with it, then
/// proves and applies the same way for all.
pub trait Strategy: Sync {
    /// The mapper (CI files it excludes are not read).
    fn mapper(&self) -> &Mapper;

    /// Sees every decoded text first (before any filter): a strategy that learns about the
    /// repository from its files does it here, so that nothing reads a file twice.
    fn observe(&self, _path: &Path, _text: &str) {}

    /// A note instead of a plan for a file this strategy leaves alone.
    fn skip(&self, _path: &Path, _template: bool) -> Option<String> {
        None
    }

    /// Whether the text may hold anything to plan (cheap; `false`: not parsed).
    fn may_hold(&self, text: &str) -> bool;

    /// The words without which a document is blanked before parsing (same offsets), or
    /// `None` to parse every document. `template`: a chart template (not parsed as YAML).
    fn document_words(&self, template: bool) -> Option<Arc<[String]>>;

    /// Whether the edits are proven on the blanked view ([`Proof::View`]) rather than on
    /// the whole text.
    fn proves_on_view(&self) -> bool {
        false
    }

    /// Whether a kept plan's edits are proven when planned, on the plan's own parse (one
    /// parse fewer than proving at apply, which then only splices when the file is still
    /// the bytes that were planned): for a strategy whose plans are always applied.
    fn proves_at_plan(&self) -> bool {
        false
    }

    /// Plan the file: its sites → the planned references with their edits; `Err` is a
    /// parse error.
    fn plan(&self, file: &FileText) -> Result<Vec<Planned>, yaml::YamlError>;
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

/// Normalized Harbor reference → digest to pin.
pub type Pins = std::collections::BTreeMap<String, String>;

/// Every file's decisions, planned once: what `rewrite`, `run`, `migrate` and `bump`
/// check (verify, scan, the bump's selection) and then [`apply`], so the written change
/// is the one that was checked.
pub type Plan = Vec<FileResult>;

#[cfg(test)]
mod tests {
    use super::*;
    use yaml::edit::Edit;

    #[test]
    fn a_kept_plan_is_proven_again_unless_these_very_edits_were() {
        let text = "image: nginx\ntag: '1.0'\n";
        let good = vec![Edit::replacing_first(text, "nginx", "h/x/nginx", 1)];
        // Names the key `tag` as the scalar it changes: the proof refuses it.
        let bad = vec![Edit::replacing_first(text, "nginx", "h/x/nginx", 2)];
        for proof in [Proof::Whole, Proof::View(Arc::from(["image".to_string()]))] {
            let fresh = proof.apply(text, &good, None).unwrap();
            assert_eq!(fresh, "image: h/x/nginx\ntag: '1.0'\n");
            // Proven at plan time: the same text, spliced.
            let kept = proof.apply_kept(text, &good, Some(&good)).unwrap();
            assert_eq!(kept, fresh);
            // Other edits than the proven ones, or none proven: proven now.
            assert!(proof.apply_kept(text, &bad, Some(&good)).is_err());
            assert!(proof.apply_kept(text, &bad, None).is_err());
        }
    }

    #[test]
    fn a_spliced_proven_plan_quotes_as_the_proof_did() {
        // A plain value that would read as a number gains the quotes of its neighbours.
        let text = "a: 'x'\ntag: c2dd9cd\nb: 'y'\n";
        let mut e = Edit::replacing_first(text, "c2dd9cd", "\"427e111\"", 3);
        e.requote = Some(yaml::Style::Double);
        let edits = vec![e];
        let fresh = Proof::Whole.apply(text, &edits, None).unwrap();
        assert_eq!(fresh, "a: 'x'\ntag: '427e111'\nb: 'y'\n");
        assert_eq!(
            Proof::Whole.apply_kept(text, &edits, Some(&edits)).unwrap(),
            fresh
        );
    }
}
