//! The environments a file deploys to, as [`crate::bump::scope`] needs them: kustomize
//! overlays and the bases they include (read from every kustomization of the repository, so
//! an overlay outside the bumped paths still counts), Argo CD Applications and Flux
//! HelmReleases (one per document), and Helm values files kept side by side (one per
//! environment). Plain manifests belong to no environment: a repository without these
//! shapes bumps as it always did.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

use crate::pipeline::render::kustomize::{resolve_with_type, CanonicalDirs};

/// One kustomization directory.
#[derive(Debug, Default, Clone)]
pub struct Kust {
    /// Local kustomizations it includes (`resources`, `bases`, `components`), canonical.
    includes: Vec<PathBuf>,
    /// Its `images:` entries: (name, newName, whether it sets a tag or digest).
    images: Vec<(String, Option<String>, bool)>,
}

/// Every kustomization under the repository root.
#[derive(Debug, Default)]
pub struct Repo {
    root: PathBuf,
    kust: BTreeMap<PathBuf, Kust>,
    /// Who includes each kustomization (the reverse edges, for walking up from a base).
    included_by: BTreeMap<PathBuf, Vec<PathBuf>>,
    /// The documents of the files the plan read that may reference the image (canonical).
    apps: BTreeMap<PathBuf, AppDocs>,
}

/// The documents of a file, each by its first line (1-based), with the (kind, name) of an
/// Argo CD Application or Flux HelmRelease.
pub type AppDocs = Vec<(usize, Option<(String, String)>)>;

/// The kustomization `path` is, when its name says so: its canonical directory and what
/// it includes and sets.
pub fn kust_of(path: &Path, text: &str, canonical: &CanonicalDirs) -> Option<(PathBuf, Kust)> {
    let name = path.file_name()?.to_str()?;
    if !crate::pipeline::render::kustomize::FILE_NAMES.contains(&name) {
        return None;
    }
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = canonical.dir(parent)?;
    Some((dir.clone(), read_kust(&dir, text)))
}

/// Where a reference deploys.
#[derive(Debug, Clone)]
pub struct Place {
    pub kind: PlaceKind,
    /// The directory it lives in (the kustomization's, or the file's).
    pub dir: PathBuf,
    /// What selects it: a directory (kustomize) or the file.
    pub select: PathBuf,
}

#[derive(Debug, Clone)]
pub enum PlaceKind {
    /// A kustomization no other one includes.
    Overlay,
    /// A kustomization other ones include; `overridden` when every overlay that includes it
    /// sets the image's tag in its `images:`.
    Base {
        overlays: Vec<PathBuf>,
        overridden: bool,
    },
    /// An Argo CD Application or Flux HelmRelease.
    App { kind: String, name: String },
    /// A Helm values file beside other values files.
    Values,
}

impl Place {
    /// `kustomize overlay`, `Application web-dev`, ...
    pub fn describe(&self, root: &Path) -> String {
        match &self.kind {
            PlaceKind::Overlay => "kustomize overlay".into(),
            PlaceKind::Base { overlays, .. } => format!(
                "kustomize base of {}",
                overlays
                    .iter()
                    .map(|o| crate::bump::scope::shown(root, o))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            PlaceKind::App { kind, name } => format!("{kind} {name}"),
            PlaceKind::Values => "Helm values file".into(),
        }
    }

    fn is_kustomize(&self) -> bool {
        matches!(self.kind, PlaceKind::Overlay | PlaceKind::Base { .. })
    }
}

impl Repo {
    /// Read every kustomization under `root` (the directories a run walks: gitignore-aware,
    /// hidden ones entered).
    pub fn scan(root: &Path) -> Repo {
        Repo::scan_with(root, &[], &[], BTreeMap::new())
    }

    /// [`scan`](Self::scan), with the kustomizations the plan of `planned` (canonical
    /// paths) read already (`known`: file, directory, contents): manifests under `planned`
    /// are not read again. `apps`: the documents of the files the plan read.
    pub fn scan_with(
        root: &Path,
        planned: &[PathBuf],
        known: &[(PathBuf, PathBuf, Kust)],
        apps: BTreeMap<PathBuf, AppDocs>,
    ) -> Repo {
        let mut repo = Repo {
            root: root.to_path_buf(),
            apps,
            ..Repo::default()
        };
        for (file, dir, k) in known {
            if crate::bump::strategy::listed(root, file) {
                repo.kust.insert(dir.clone(), k.clone());
            }
        }
        let unread = if crate::bump::strategy::planned_everything(planned, root) {
            Vec::new()
        } else {
            crate::pipeline::render::kustomize::kustomization_files(root)
        };
        let unread = unread
            .into_iter()
            .filter(|f| !crate::bump::strategy::read_by_plan(planned, f));
        let canonical = CanonicalDirs::default();
        for file in unread {
            let Some(dir) = file.parent().and_then(|d| canonical.dir(d)) else {
                continue;
            };
            let Ok(text) = crate::fsio::read_text(&file, crate::fsio::count::Purpose::Scan) else {
                continue;
            };
            repo.kust.insert(dir.clone(), read_kust(&dir, &text));
        }
        for (dir, k) in &repo.kust {
            for i in &k.includes {
                repo.included_by
                    .entry(i.clone())
                    .or_default()
                    .push(dir.clone());
            }
        }
        repo
    }

    /// `dir` and every kustomization it includes, transitively.
    fn closure(&self, dir: &Path) -> BTreeSet<PathBuf> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![dir.to_path_buf()];
        while let Some(d) = todo.pop() {
            if seen.insert(d.clone()) {
                if let Some(k) = self.kust.get(&d) {
                    todo.extend(k.includes.iter().cloned());
                }
            }
        }
        seen
    }

    fn is_included(&self, dir: &Path) -> bool {
        self.included_by.contains_key(dir)
    }

    /// The kustomization directory a file belongs to: the closest one above it.
    fn kdir_of(&self, file: &Path) -> Option<PathBuf> {
        file.parent()?
            .ancestors()
            .take_while(|a| a.starts_with(&self.root))
            .find(|a| self.kust.contains_key(*a))
            .map(Path::to_path_buf)
    }

    /// Whether two places deploy the same thing in different environments: kustomizations
    /// sharing an included one, two Applications/HelmReleases, values files side by side.
    pub fn related(&self, a: &Place, b: &Place) -> bool {
        match (&a.kind, &b.kind) {
            _ if a.is_kustomize() && b.is_kustomize() => {
                let ca = self.closure(&a.dir);
                self.closure(&b.dir).iter().any(|d| ca.contains(d))
            }
            (PlaceKind::App { .. }, PlaceKind::App { .. }) => true,
            (PlaceKind::Values, PlaceKind::Values) => a.dir == b.dir,
            _ => false,
        }
    }

    /// The overlays (kustomizations nobody includes) that include `base`, and whether each
    /// sets the image's tag on the way down to it.
    fn overlays_of(&self, base: &Path, is_image: &dyn Fn(&str) -> bool) -> Vec<(PathBuf, bool)> {
        // Up from the base to the kustomizations nobody includes.
        let mut above = BTreeSet::new();
        let mut todo = vec![base.to_path_buf()];
        while let Some(d) = todo.pop() {
            for parent in self.included_by.get(&d).into_iter().flatten() {
                if above.insert(parent.clone()) {
                    todo.push(parent.clone());
                }
            }
        }
        above
            .iter()
            .filter(|k| k.as_path() != base && !self.is_included(k))
            .map(|k| {
                let overrides = self.closure(k).iter().any(|mid| {
                    mid.as_path() != base
                        && self.closure(mid).contains(base)
                        && self.kust[mid].images.iter().any(|(name, new_name, sets)| {
                            *sets && (is_image(name) || new_name.as_deref().is_some_and(is_image))
                        })
                });
                (k.clone(), overrides)
            })
            .collect()
    }
}

fn read_kust(dir: &Path, text: &str) -> Kust {
    let mut k = Kust::default();
    // A kustomization that does not parse includes and sets nothing.
    let Some(named) = crate::pipeline::render::kustomize_fields::named(text) else {
        return k;
    };
    for s in &named.listed {
        if crate::pipeline::locate::is_remote_resource(s) {
            continue;
        }
        if let Some((p, file_type)) = resolve_with_type(dir, s) {
            if file_type.is_dir() {
                k.includes.push(p);
            }
        }
    }
    for entry in named.images {
        if let Some(name) = entry.name {
            k.images.push((name, entry.new_name, entry.sets));
        }
    }
    k
}

/// The place of a file's references (`lines`: their line numbers, 1-based), if any.
pub fn classify(
    repo: &Repo,
    abs: &Path,
    lines: &[usize],
    is_image: &dyn Fn(&str) -> bool,
) -> Option<Place> {
    let dir = abs.parent()?.to_path_buf();
    if let Some((kind, name)) = repo.app_document(abs, lines) {
        let kind = PlaceKind::App { kind, name };
        let select = abs.to_path_buf();
        return Some(Place { kind, dir, select });
    }
    if let Some(k) = repo.kdir_of(abs) {
        let kind = if repo.is_included(&k) {
            let overlays = repo.overlays_of(&k, is_image);
            let overridden = !overlays.is_empty() && overlays.iter().all(|(_, o)| *o);
            PlaceKind::Base {
                overlays: overlays.into_iter().map(|(o, _)| o).collect(),
                overridden,
            }
        } else {
            PlaceKind::Overlay
        };
        return Some(Place {
            kind,
            dir: k.clone(),
            select: k,
        });
    }
    let name = abs.file_name()?.to_string_lossy().to_ascii_lowercase();
    let yaml = name.ends_with(".yaml") || name.ends_with(".yml");
    if yaml && name.contains("values") && !dir.join("Chart.yaml").exists() {
        return Some(Place {
            kind: PlaceKind::Values,
            dir,
            select: abs.to_path_buf(),
        });
    }
    None
}

impl Repo {
    /// The Argo CD Application or Flux HelmRelease (kind, name) holding the first of
    /// `lines` of `path` (from what the plan read; a file it did not read is read now).
    fn app_document(&self, path: &Path, lines: &[usize]) -> Option<(String, String)> {
        let read;
        let docs = match self.apps.get(path) {
            Some(d) => d,
            None => {
                let text = crate::fsio::read_text(path, crate::fsio::count::Purpose::Scan).ok()?;
                read = app_docs(&text)?;
                &read
            }
        };
        let first = *lines.iter().min()?;
        let (_, doc) = docs.iter().rev().find(|(s, _)| *s <= first)?;
        doc.clone()
    }
}

/// The documents of `text` ([`AppDocs`]); `None` when it names neither an Application nor
/// a HelmRelease (only documents that do are parsed).
pub fn app_docs(text: &str) -> Option<AppDocs> {
    let named = |t: &str| t.contains("Application") || t.contains("HelmRelease");
    if !named(text) {
        return None;
    }
    let app = |doc: &str| named(doc).then(|| app_of(doc)).flatten();
    let mut start = 1;
    let mut docs: AppDocs = Vec::new();
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        if line == "---" || line.starts_with("--- ") {
            docs.push((start, app(&current)));
            current.clear();
            start = i + 2;
            continue;
        }
        current.push_str(line);
        current.push('\n');
    }
    docs.push((start, app(&current)));
    Some(docs)
}

/// The (kind, name) of one document that is an Application or a HelmRelease.
fn app_of(doc: &str) -> Option<(String, String)> {
    let v: Value = serde_yaml_ng::from_str(doc).ok()?;
    let kind = v.get("kind")?.as_str()?;
    if kind != "Application" && kind != "HelmRelease" {
        return None;
    }
    let name = v
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("(unnamed)");
    Some((kind.to_string(), name.to_string()))
}
