//! A bump in two steps: plan every file (nothing written), pick the files to write
//! ([`crate::bump_scope::decide`]: rules, PATHs, `--all`, environments, overridden bases;
//! Flux policies resolved when a marker was seen), then plan and write just those. Files
//! left alone keep their bytes and drop out of the report; everything else reads as a
//! plain bump did.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::bump::{self, BumpOptions, BumpRun, Target};
use crate::bump_scope::{decide, BumpRule, Request};
use crate::mapping::Mapper;
use crate::plan::Status;
use crate::reference::Reference;

/// What selects the files of a bump besides its PATHs.
pub struct Selection<'a> {
    /// The repository root.
    pub root: &'a Path,
    /// `bump:` rules of the config.
    pub rules: &'a [BumpRule],
    /// `--all`.
    pub all: bool,
}

/// A bump planned (and written when `opts.write`) over the files it may change.
pub struct Selected {
    pub run: BumpRun,
    /// The target (with the repository's Flux policies when a marker was seen).
    pub target: Target,
    /// Canonical paths of the files the bump may write (a replay re-plans only these).
    pub keep: BTreeSet<PathBuf>,
    /// What was left alone, and why.
    pub notes: Vec<String>,
}

/// Plan, select, then plan and write the selected files. `Err` is a refusal (several
/// environments, nothing selected): nothing was written.
pub fn run(
    paths: &[PathBuf],
    mapper: &Mapper,
    target: &Target,
    opts: BumpOptions,
    sel: &Selection,
) -> Result<Selected, String> {
    let dry = BumpOptions {
        write: false,
        diff: false,
        ..opts
    };
    let mut target = target.clone();
    let mut first = bump::run(paths, mapper, &target, dry);
    let flux_seen = first.results.iter().flat_map(|r| &r.planned).any(|p| {
        p.message
            .as_deref()
            .is_some_and(|m| m.contains("Flux marker"))
    });
    if flux_seen {
        let is_image = |n: &str| is_image(mapper, &target, n);
        let flux = crate::bump_flux::scan(sel.root, &is_image);
        target.flux = flux;
        first = bump::run(paths, mapper, &target, dry);
    }
    // Files that reference the image (by canonical path → as walked, the lines).
    let mut walked: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
    let mut candidates: Vec<(PathBuf, Vec<usize>)> = Vec::new();
    for r in &first.results {
        let lines: Vec<usize> = r
            .planned
            .iter()
            .filter(|p| p.status != Status::Hint)
            .map(|p| p.line)
            .collect();
        if !lines.is_empty() {
            let abs = r.path.canonicalize().unwrap_or_else(|_| r.path.clone());
            walked.insert(abs, r.path.clone());
            candidates.push((r.path.clone(), lines));
        }
    }
    if candidates.is_empty() || first.errors() > 0 {
        // Nothing to select (not found, or files that cannot be read): reported as ever.
        let keep = walked.into_keys().collect();
        return Ok(Selected {
            run: first,
            target,
            keep,
            notes: Vec::new(),
        });
    }
    let decision = {
        let is_image = |n: &str| is_image(mapper, &target, n);
        let req = Request {
            root: sel.root,
            image: &target.image,
            tag: &target.tag,
            forms: forms(mapper, &target),
            rules: sel.rules,
            all: sel.all,
            paths: paths
                .iter()
                .map(|p| p.canonicalize().unwrap_or_else(|_| p.clone()))
                .collect(),
            is_image: &is_image,
        };
        decide(&req, &candidates)?
    };
    let chosen: Vec<PathBuf> = decision
        .keep
        .iter()
        .filter_map(|k| walked.get(k).cloned())
        .collect();
    let second = bump::run(&chosen, mapper, &target, opts);
    Ok(Selected {
        run: merge(first, second, &decision.keep, &walked),
        target,
        keep: decision.keep,
        notes: decision.notes,
    })
}

/// Whether a kustomize `images:` name is the image.
fn is_image(mapper: &Mapper, target: &Target, name: &str) -> bool {
    target.matches_name(mapper, name)
}

/// The names a rule's `image:` glob is tried on: as given, normalized, upstream, Harbor.
fn forms(mapper: &Mapper, target: &Target) -> Vec<String> {
    let mut out = vec![target.image.clone(), target.harbor_name.clone()];
    if let Ok(r) = Reference::parse_name(&target.image) {
        out.push(r.to_string());
        if let Some(up) = mapper.revert_name(&r) {
            out.push(up);
        }
    }
    if let Ok(r) = Reference::parse_name(&target.harbor_name) {
        if let Some(up) = mapper.revert_name(&r) {
            out.push(up);
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The first plan's results, with the written files' results from the second and the
/// files left alone emptied (their references are not this bump's).
fn merge(
    first: BumpRun,
    second: BumpRun,
    keep: &BTreeSet<PathBuf>,
    walked: &BTreeMap<PathBuf, PathBuf>,
) -> BumpRun {
    let mut by_path: BTreeMap<PathBuf, crate::engine::FileResult> = second
        .results
        .into_iter()
        .map(|r| (r.path.clone(), r))
        .collect();
    let left: BTreeSet<&PathBuf> = walked
        .iter()
        .filter(|(abs, _)| !keep.contains(*abs))
        .map(|(_, w)| w)
        .collect();
    let mut results = Vec::with_capacity(first.results.len());
    for r in first.results {
        if let Some(new) = by_path.remove(&r.path) {
            results.push(new);
        } else if left.contains(&r.path) {
            results.push(crate::engine::FileResult {
                planned: Vec::new(),
                changed: false,
                diff: None,
                ..r
            });
        } else {
            results.push(r);
        }
    }
    let count = |s: &dyn Fn(Status) -> bool| {
        results
            .iter()
            .flat_map(|r| &r.planned)
            .filter(|p| s(p.status))
            .count()
    };
    let matched = count(&|s| s != Status::Hint);
    let blocked = count(&|s| s == Status::Invalid);
    BumpRun {
        matched,
        blocked,
        files_scanned: first.files_scanned,
        written: second.written,
        results,
    }
}
