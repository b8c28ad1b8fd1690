//! `bump` as a [`Strategy`] of the engine: the same walk, apply (re-read, refuse a changed
//! file, re-prove, one batch) and render proof as `rewrite`, with its own planner
//! ([`super::Ctx`]: every reference to one image gets the new tag).
//!
//! A bump also needs to know the repository: its kustomizations (which environments a file
//! deploys to, [`crate::bump::envs`]), its Flux image policies (which marked fields the
//! image owns, [`crate::bump::flux`]) and its Argo CD Applications. They are learnt from the
//! texts the plan reads anyway ([`Facts`]); only files outside the planned paths are read
//! for them, so each file is read once per bump.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::envs::{self, AppDocs, Kust, Repo};
use super::flux::{self, FluxPolicies};
use super::{as_hint, BumpOptions, Ctx, Target};
use crate::mapping::Mapper;
use crate::pipeline::engine::{FileText, Plan, Strategy};
use crate::pipeline::locate::{self, Kind};
use crate::pipeline::plan::{Planned, Status};
use crate::pipeline::render::kustomize::CanonicalDirs;
use crate::yaml;

/// The per-file planner of a bump, collecting [`Facts`] as it reads.
pub struct BumpStrategy<'a> {
    mapper: &'a Mapper,
    target: &'a Target,
    opts: BumpOptions,
    words: Arc<[String]>,
    facts: Mutex<Facts>,
    /// The canonical directories of the files observed (the facts are keyed by them).
    canonical: CanonicalDirs,
}

/// A field with Flux markers: decided once the repository's policies are known.
#[derive(Debug)]
struct Marker {
    /// Its place in the file's planned references.
    index: usize,
    policies: Vec<String>,
    hint: bool,
}

/// What the plan's reads said about the repository.
#[derive(Debug, Default)]
pub struct Facts {
    /// Kustomization files read: (file, its directory, what it includes and sets), canonical.
    kust: Vec<(PathBuf, PathBuf, Kust)>,
    /// Flux image automation objects per file read (canonical).
    flux: Vec<(PathBuf, flux::Objects)>,
    /// The documents of each file that may reference the image (canonical).
    apps: BTreeMap<PathBuf, AppDocs>,
    /// Marked fields per file (as walked).
    markers: BTreeMap<PathBuf, Vec<Marker>>,
    /// The planned paths (canonical): files under them were read by the plan.
    roots: Vec<PathBuf>,
}

impl<'a> BumpStrategy<'a> {
    pub fn new(
        mapper: &'a Mapper,
        target: &'a Target,
        opts: BumpOptions,
        paths: &[PathBuf],
    ) -> Self {
        let facts = Facts {
            roots: paths.iter().filter_map(|p| p.canonicalize().ok()).collect(),
            ..Facts::default()
        };
        BumpStrategy {
            mapper,
            target,
            opts,
            words: target
                .document_words()
                .iter()
                .map(|w| w.to_string())
                .collect(),
            facts: Mutex::new(facts),
            canonical: CanonicalDirs::default(),
        }
    }

    /// What was learnt while planning.
    pub fn into_facts(self) -> Facts {
        self.facts.into_inner().unwrap_or_else(|e| e.into_inner())
    }

    fn facts(&self) -> std::sync::MutexGuard<'_, Facts> {
        self.facts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Strategy for BumpStrategy<'_> {
    fn mapper(&self) -> &Mapper {
        self.mapper
    }

    fn observe(&self, path: &Path, text: &str) {
        let kust = envs::kust_of(path, text, &self.canonical);
        let yaml = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e == "yaml" || e == "yml");
        let objects = flux::objects(text).filter(|_| yaml);
        let apps = (self.opts.unfiltered || self.target.may_be_in(text.as_bytes()))
            .then(|| envs::app_docs(text).unwrap_or_default());
        if kust.is_none() && objects.is_none() && apps.is_none() {
            return;
        }
        let canonical = self
            .canonical
            .path(path)
            .unwrap_or_else(|| path.to_path_buf());
        let mut facts = self.facts();
        if let Some((dir, k)) = kust {
            facts.kust.push((canonical.clone(), dir, k));
        }
        if let Some(o) = objects {
            facts.flux.push((canonical.clone(), o));
        }
        if let Some(a) = apps {
            facts.apps.insert(canonical, a);
        }
    }

    fn skip(&self, _path: &Path, template: bool) -> Option<String> {
        template.then(|| "Helm chart template (Go template), skipped".into())
    }

    fn may_hold(&self, text: &str) -> bool {
        self.opts.unfiltered || self.target.may_be_in(text.as_bytes())
    }

    /// Documents that cannot hold a reference to the image are blanked before parsing
    /// (same offsets): the plan and the edit proof both work on that view.
    fn document_words(&self, _template: bool) -> Option<Arc<[String]>> {
        (!self.opts.unfiltered).then(|| self.words.clone())
    }

    fn proves_on_view(&self) -> bool {
        true
    }

    /// A bump's plan is applied right after it is made (and re-planned files again).
    fn proves_at_plan(&self) -> bool {
        true
    }

    fn plan(&self, file: &FileText) -> Result<Vec<Planned>, yaml::YamlError> {
        let mut record = file.record.map(|r| r.borrow_mut());
        let stream = yaml::parse_recording(file.parsed, record.as_deref_mut())?;
        let located = locate::locate(file.path, file.parsed, &stream);
        let ctx = Ctx {
            text: file.parsed,
            stream: &stream,
            mapper: self.mapper,
            target: self.target,
            opts: self.opts,
        };
        let mut planned = Vec::new();
        let mut markers = Vec::new();
        for site in &located.sites {
            let Some((p, policies)) = ctx.plan_site(site) else {
                continue;
            };
            if !policies.is_empty() {
                markers.push(Marker {
                    index: planned.len(),
                    policies,
                    hint: site.kind == Kind::Hint,
                });
            }
            planned.push(p);
        }
        if !markers.is_empty() {
            self.facts()
                .markers
                .insert(file.path.to_path_buf(), markers);
        }
        Ok(planned)
    }
}

impl Facts {
    /// Whether a planned field carries a Flux marker.
    pub fn has_markers(&self) -> bool {
        !self.markers.is_empty()
    }

    /// Let the markers decide their fields, by the repository's policies `flux`: a field
    /// whose marker names another image's policy is left alone.
    pub fn decide_markers(
        &self,
        plan: &mut Plan,
        flux: &FluxPolicies,
        target: &Target,
        hints: bool,
    ) {
        let last = target.last_names();
        for r in plan.iter_mut() {
            for m in self.markers.get(&r.path).into_iter().flatten() {
                let Some(p) = r.planned.get_mut(m.index) else {
                    continue;
                };
                match flux::decide(&m.policies, flux, &last) {
                    Some(Ok(note)) => p.message = Some(note),
                    Some(Err(why)) => {
                        p.status = Status::Excluded;
                        p.message = Some(why);
                        p.edits.clear();
                    }
                    None => {}
                }
                if m.hint {
                    as_hint(p, hints);
                }
            }
        }
    }

    /// The kustomization graph of the repository at `root` (files outside the planned
    /// paths are read now).
    pub fn repo(&self, root: &Path) -> Repo {
        Repo::scan_with(root, &self.roots, &self.kust, self.apps.clone())
    }

    /// The Flux image policies of the repository at `root` that have the image (files
    /// outside the planned paths are read now).
    pub fn flux(&self, root: &Path, is_image: &dyn Fn(&str) -> bool) -> FluxPolicies {
        flux::scan_with(root, &self.roots, &self.flux, is_image)
    }
}

/// Whether a file met by a walk of the repository was read by the plan already: a
/// manifest under one of the planned `roots` (canonical).
pub(crate) fn read_by_plan(roots: &[PathBuf], path: &Path) -> bool {
    crate::pipeline::walk::is_manifest(path) && roots.iter().any(|r| path.starts_with(r))
}

/// Whether the planned `roots` (canonical) hold the whole repository at `root`: then every
/// manifest a walk of it would meet was the plan's (see [`read_by_plan`]), and the walk is
/// skipped (on a 10,000-file repository it cost a tenth of a bump).
pub(crate) fn planned_everything(roots: &[PathBuf], root: &Path) -> bool {
    roots.iter().any(|r| root.starts_with(r))
}

/// Whether the repository walk of `root` (hidden files and directories skipped) lists
/// `file` (canonical): facts from other files the plan read do not count.
pub(crate) fn listed(root: &Path, file: &Path) -> bool {
    file.strip_prefix(root).is_ok_and(|rel| {
        rel.components()
            .all(|c| !c.as_os_str().to_string_lossy().starts_with('.'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_root_at_or_above_the_repository_plans_everything() {
        let repo = Path::new("/r/repo");
        let roots = |r: &[&str]| r.iter().map(PathBuf::from).collect::<Vec<_>>();
        assert!(planned_everything(&roots(&["/r/repo"]), repo));
        assert!(planned_everything(&roots(&["/r/repo/apps", "/r"]), repo));
        assert!(!planned_everything(&roots(&["/r/repo/apps"]), repo));
        assert!(!planned_everything(&roots(&["/r/repository"]), repo));
        assert!(!planned_everything(&[], repo));
    }

    #[test]
    fn extensionless_kustomizations_are_read_by_the_plan() {
        let roots = vec![PathBuf::from("/r/repo")];
        assert!(read_by_plan(
            &roots,
            Path::new("/r/repo/base/Kustomization")
        ));
        assert!(read_by_plan(
            &roots,
            Path::new("/r/repo/base/kustomization.YML")
        ));
        assert!(!read_by_plan(&roots, Path::new("/r/repo/base/README")));
        assert!(!read_by_plan(&roots, Path::new("/r/other/Kustomization")));
    }
}
