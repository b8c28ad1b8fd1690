//! The [`Rewrite`] strategy (every reference through the cache, back with
//! [`crate::pipeline::plan::Direction::Revert`], or pinned to digests) and the entry points
//! that run it: one pass that plans, proves and writes ([`run`]), or a kept [`Plan`]
//! ([`plan`]) for [`super::apply`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::apply::settle_writes;
use super::file::{self, Mode};
use super::{
    may_hold_references, FileResult, FileText, Pins, Plan, RunOptions, Strategy, KEYWORDS,
};
use crate::fsio;
use crate::mapping::Mapper;
use crate::pipeline::locate;
use crate::pipeline::plan::{self, PlanOptions, Planned};
use crate::yaml;

/// Map every reference of a file (and pin those in `pins`).
pub struct Rewrite<'a> {
    mapper: &'a Mapper,
    opts: PlanOptions,
    pins: Option<&'a Pins>,
    keywords: Arc<[String]>,
    /// The kustomizations and bases read for `images:` entries, once per run.
    kustomize: crate::pipeline::kustomize_matchers::Reads,
    /// The planned edits are written, shown or kept, so their bytes matter; otherwise
    /// (`check` without `--diff`) only the statuses and messages are reported.
    edits_leave: bool,
}

impl<'a> Rewrite<'a> {
    /// The strategy of `rewrite`, `check`, `run` and `migrate` (`pins`: `verify --pin`).
    pub fn new(mapper: &'a Mapper, opts: PlanOptions, pins: Option<&'a Pins>) -> Self {
        Rewrite {
            mapper,
            opts,
            pins,
            keywords: KEYWORDS.iter().map(|k| k.to_string()).collect(),
            kustomize: Default::default(),
            edits_leave: true,
        }
    }

    /// This strategy for a run without a render proof: when `run` writes, shows and keeps
    /// nothing, what only shapes an edit's bytes is not worked out.
    fn for_run(mut self, run: RunOptions) -> Self {
        self.edits_leave = run.write || run.diff || run.keep;
        self
    }
}

impl Strategy for Rewrite<'_> {
    fn mapper(&self) -> &Mapper {
        self.mapper
    }

    fn may_hold(&self, text: &str) -> bool {
        may_hold_references(text)
    }

    /// Documents that cannot hold a reference are blanked before parsing (see
    /// `yaml::skim`), also when writing: a rewrite of a repository parsed every
    /// ConfigMap and dashboard in full, three times (plan and the proof's two parses).
    fn document_words(&self, template: bool) -> Option<Arc<[String]>> {
        (!template && !self.opts.every_document).then(|| self.keywords.clone())
    }

    /// The edits are proven on the same blanked view they were planned on: the blanked
    /// documents are checked to be untouched, the others re-parsed (as `bump` does).
    fn proves_on_view(&self) -> bool {
        true
    }

    fn plan(&self, file: &FileText) -> Result<Vec<Planned>, yaml::YamlError> {
        let mut sites = if file.template {
            crate::pipeline::template::locate(file.text)
        } else {
            let mut record = file.record.map(|r| r.borrow_mut());
            locate_each_document(file.path, file.parsed, record.as_deref_mut())?
        };
        locate::helm::resolve(file.path, &mut sites, self.mapper.charts());
        let mut planned: Vec<Planned> = sites
            .iter()
            .map(|s| {
                let p = plan::plan_site(s, self.mapper, self.opts);
                match self.pins {
                    Some(pins) => plan::pin_site(s, p, self.mapper, pins),
                    None => p,
                }
            })
            .collect();
        if crate::pipeline::kustomize_matchers::is_kustomization_file(file.path) {
            crate::pipeline::kustomize_matchers::add_entries(
                file.path,
                file.text,
                (&sites, &mut planned),
                (self.mapper, self.opts),
                &self.kustomize,
                self.edits_leave,
            );
        }
        Ok(planned)
    }
}

/// Parse and locate one document at a time (each tree is dropped once its sites are
/// known), so a file of many documents costs the memory of its largest one. With
/// `record`, the parse's events are kept there for the edit proof.
fn locate_each_document(
    path: &Path,
    text: &str,
    record: Option<&mut Option<yaml::recorded::Recorded>>,
) -> Result<Vec<locate::Site>, yaml::YamlError> {
    let mut sites = Vec::new();
    let mut current = 0;
    let each = |attempt, one| {
        if attempt != current {
            sites.clear();
            current = attempt;
        }
        sites.extend(locate::locate(path, text, &one).sites);
    };
    yaml::parse_documents_recording(text, each, record)?;
    sites.sort_by_key(|s| (s.line, s.column));
    Ok(sites)
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
    let strategy = Rewrite::new(mapper, run.plan, pins).for_run(run);
    let batch = run.write.then(fsio::Batch::new);
    let mut result = file::process(path, &strategy, Mode::of(run), (None, batch.as_ref()));
    if let Some(batch) = batch {
        settle_writes(&mut [&mut result], batch.commit());
    }
    result
}

/// Walk the paths and process every file in parallel; results come back in walk order.
pub fn run(paths: &[PathBuf], mapper: &Mapper, opts: RunOptions) -> Vec<FileResult> {
    run_pinned(paths, mapper, opts, None)
}

/// [`run`] with pinning.
pub fn run_pinned(
    paths: &[PathBuf],
    mapper: &Mapper,
    opts: RunOptions,
    pins: Option<&Pins>,
) -> Vec<FileResult> {
    run_with(
        paths,
        &Rewrite::new(mapper, opts.plan, pins).for_run(opts),
        opts,
    )
}

/// [`run`] with any [`Strategy`] (`opts.plan` is the strategy's business, not used here).
pub fn run_with(paths: &[PathBuf], strategy: &dyn Strategy, opts: RunOptions) -> Vec<FileResult> {
    let batch = opts.write.then(fsio::Batch::streaming);
    let mut results = file::walk(paths, strategy, Mode::of(opts), (None, batch.as_ref()));
    if let Some(batch) = batch {
        settle_writes(&mut results.iter_mut().collect::<Vec<_>>(), batch.commit());
    }
    results
}

/// Plan the paths without writing anything, keeping each file's edits for
/// [`super::apply`].
pub fn plan(paths: &[PathBuf], mapper: &Mapper, plan: PlanOptions) -> Plan {
    plan_with(paths, &Rewrite::new(mapper, plan, None))
}

/// [`plan`] with any [`Strategy`].
pub fn plan_with(paths: &[PathBuf], strategy: &dyn Strategy) -> Plan {
    let mode = Mode {
        write: false,
        diff: false,
        keep: true,
    };
    file::walk(paths, strategy, mode, (None, None))
}
