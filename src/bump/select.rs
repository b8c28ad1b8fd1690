//! A bump that writes only where it was asked to: every file is planned, then
//! [`crate::bump::scope::decide`] picks the files to write (rules, PATHs, `--all`,
//! environments, overridden bases) before anything is written; a file left alone keeps
//! its bytes and drops out of the report. When a Flux `$imagepolicy` marker was seen, the
//! repository's image policies decide the marked fields. The plan is made once; the
//! kustomizations, policies and Applications come from the texts it read
//! ([`crate::bump::strategy::Facts`]), and only files outside the PATHs are read for them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::bump::flux::FluxPolicies;
use crate::bump::scope::{decide, BumpRule, Decision, Request};
use crate::bump::strategy::Facts;
use crate::bump::{self, BumpOptions, BumpRun, Pick, Select, Target};
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
    /// Run while the bump's writes wait for the disk (see [`bump::Select::alongside`]).
    pub alongside: Option<crate::pipeline::engine::Alongside<'a>>,
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
    let mut selecting = Selecting {
        paths,
        mapper,
        sel,
        target: target.clone(),
        decision: None,
        every: BTreeSet::new(),
    };
    let run = bump::run_selecting(paths, mapper, target, opts, proof, &mut selecting);
    let Selecting {
        target,
        decision,
        every,
        ..
    } = selecting;
    match decision {
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
    }
}

/// The selection of [`run`]: rules, PATHs, `--all`, environments, Flux policies.
struct Selecting<'a> {
    paths: &'a [PathBuf],
    mapper: &'a Mapper,
    sel: &'a Selection<'a>,
    /// The target, with the repository's Flux policies once they were read.
    target: Target,
    decision: Option<Result<Decision, String>>,
    /// Every file that references the image (canonical).
    every: BTreeSet<PathBuf>,
}

impl Select for Selecting<'_> {
    fn alongside(&self) -> Option<crate::pipeline::engine::Alongside<'_>> {
        self.sel.alongside
    }

    fn flux(&mut self, facts: &Facts) -> FluxPolicies {
        let (target, mapper) = (&self.target, self.mapper);
        let flux = facts.flux(self.sel.root, &|n| target.matches_name(mapper, n));
        self.target.flux = flux.clone();
        flux
    }

    fn pick(&mut self, results: &[&FileResult], facts: &Facts) -> Pick {
        let found = candidates(results);
        self.every = found.iter().map(|(p, _)| canonical(p)).collect();
        if found.is_empty() || results.iter().any(|r| r.error.is_some()) {
            // Not found, or files that cannot be read: reported as ever.
            return Pick::All;
        }
        let (target, mapper, sel) = (&self.target, self.mapper, self.sel);
        let is_image = |n: &str| target.matches_name(mapper, n);
        let repo = || facts.repo(sel.root);
        let req = Request {
            root: sel.root,
            image: &target.image,
            tag: &target.tag,
            forms: forms(mapper, target),
            rules: sel.rules,
            all: sel.all,
            paths: self.paths.iter().map(|p| canonical(p)).collect(),
            is_image: &is_image,
            repo: &repo,
        };
        let d = decide(&req, &found);
        let pick = match &d {
            Ok(d) => Pick::Keep(d.keep.clone()),
            Err(_) => Pick::Stop,
        };
        self.decision = Some(d);
        pick
    }
}

fn canonical(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
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
