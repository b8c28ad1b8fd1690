//! A bump that writes only where it was asked to: every file is planned, then
//! [`crate::bump::scope::decide`] picks the files to write (rules, PATHs, `--all`,
//! environments, overridden bases) before anything is written; a file left alone keeps
//! its bytes and drops out of the report. When a Flux `$imagepolicy` marker was seen, the
//! repository's image policies are read and the bump is planned once more with them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::bump::scope::{decide, BumpRule, Decision, Request};
use crate::bump::{self, BumpOptions, BumpRun, Pick, Target};
use crate::mapping::Mapper;
use crate::pipeline::engine::FileResult;
use crate::pipeline::plan::Status;
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

/// Plan, select, write the selected files. `Err` is a refusal (several environments, a
/// rule that selects nothing): nothing was written.
pub fn run(
    paths: &[PathBuf],
    mapper: &Mapper,
    target: &Target,
    opts: BumpOptions,
    proof: &crate::pipeline::render::ProofSettings,
    sel: &Selection,
) -> Result<Selected, String> {
    let mut target = target.clone();
    let mut flux_read = false;
    loop {
        let mut replan = false;
        let mut decision: Option<Result<Decision, String>> = None;
        let mut every = BTreeSet::new();
        let run = bump::run_selecting(paths, mapper, &target, opts, proof, &mut |results| {
            if !flux_read && flux_seen(results) {
                replan = true;
                return Pick::Stop;
            }
            let found = candidates(results);
            every = found.iter().map(|(p, _)| canonical(p)).collect();
            if found.is_empty() || results.iter().any(|r| r.error.is_some()) {
                // Not found, or files that cannot be read: reported as ever.
                return Pick::All;
            }
            let is_image = |n: &str| target.matches_name(mapper, n);
            let req = Request {
                root: sel.root,
                image: &target.image,
                tag: &target.tag,
                forms: forms(mapper, &target),
                rules: sel.rules,
                all: sel.all,
                paths: paths.iter().map(|p| canonical(p)).collect(),
                is_image: &is_image,
            };
            let d = decide(&req, &found);
            let pick = match &d {
                Ok(d) => Pick::Keep(d.keep.clone()),
                Err(_) => Pick::Stop,
            };
            decision = Some(d);
            pick
        });
        if replan {
            let flux = crate::bump::flux::scan(sel.root, &|n| target.matches_name(mapper, n));
            target.flux = flux;
            flux_read = true;
            continue;
        }
        return match decision {
            Some(Err(refusal)) => Err(refusal),
            Some(Ok(d)) => Ok(Selected {
                run,
                target,
                keep: d.keep,
                notes: d.notes,
            }),
            None => Ok(Selected {
                run,
                target,
                keep: every,
                notes: Vec::new(),
            }),
        };
    }
}

fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
}

/// Whether a Flux marker decided a field (its policies are then read from the repository).
fn flux_seen(results: &[&FileResult]) -> bool {
    results.iter().flat_map(|r| &r.planned).any(|p| {
        p.message
            .as_deref()
            .is_some_and(|m| m.contains("Flux marker"))
    })
}

/// Files that reference the image, with the lines of the references.
fn candidates(results: &[&FileResult]) -> Vec<(PathBuf, Vec<usize>)> {
    results
        .iter()
        .filter_map(|r| {
            let lines: Vec<usize> = r
                .planned
                .iter()
                .filter(|p| p.status != Status::Hint)
                .map(|p| p.line)
                .collect();
            (!lines.is_empty()).then(|| (r.path.clone(), lines))
        })
        .collect()
}

/// The names a rule's `image:` glob is tried on: as given, normalized, upstream, Harbor.
fn forms(mapper: &Mapper, target: &Target) -> Vec<String> {
    let mut out = vec![target.image.clone(), target.harbor_name.clone()];
    for name in [&target.image, &target.harbor_name] {
        if let Ok(r) = Reference::parse_name(name) {
            out.push(r.to_string());
            if let Some(up) = mapper.revert_name(&r) {
                out.push(up);
            }
        }
    }
    out.sort();
    out.dedup();
    out
}
