//! One file through the pipeline: read → locate → map → plan → apply and check.
//!
//! Files are independent, so the whole run is a parallel map over the walked files
//! (in the walker's threads) whose results are put back in walk order; nothing here writes.

use std::path::{Path, PathBuf};

use crate::fsio::{self, Content};
use crate::locate;
use crate::mapping::Mapper;
use crate::plan::{self, PlanOptions, Planned};
use crate::walk::{self, Walked};
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
#[derive(Debug)]
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
pub const KEYWORDS: [&str; 5] = ["image", "Image", "IMAGE", "repository", "registry"];

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
        Content::Utf16 { text, big_endian } => return utf16_result(result, &text, big_endian),
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
            crate::helm::resolve(path, &mut s, mapper.charts());
            s
        }
        Err(e) => return result.fail(Some(e.line), Some(e.column), e.message),
    };
    let planned: Vec<Planned> = sites
        .iter()
        .map(|s| {
            let p = plan::plan_site(s, mapper, opts);
            match pins {
                Some(pins) => plan::pin_site(s, p, mapper, pins),
                None => p,
            }
        })
        .collect();
    let edits: Vec<_> = planned
        .iter()
        .flat_map(|p| p.edits.iter().cloned())
        .collect();
    let mut result = FileResult { planned, ..result };
    if edits.is_empty() {
        return result;
    }
    if !run.write && !run.diff {
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
    if run.write {
        let original = fsio::Original::new(stamp, &text, bom);
        match fsio::replace(path, &original, &new_text, bom) {
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
    walk::map_in_walk_order(paths, &|w| match w {
        Walked::File(p) => process_file_pinned(&p, mapper, opts, pins),
        Walked::Skipped(p, why) => FileResult {
            note: Some(why),
            ..FileResult::new(&p)
        },
        Walked::Error(p, why) => FileResult::new(&p).fail(None, None, why),
    })
}
