//! Helm image maps are composed by the chart that reads them, not by the file that holds
//! them: this module finds that chart and says how it composes a bare path.
//!
//! `locate` knows what one values document says (the map's own `registry`, the values'
//! `global.*` registry, a `repository` with a registry host). An override file
//! (`helm-values/*.yaml`, HelmRelease `spec.values`, Argo CD `valuesObject`) often says
//! less: `image: {repository: bitnami/redis}` means `docker.io/bitnami/redis` only because
//! the chart's own values hold `image.registry: docker.io`. So each map whose composition
//! is still open is looked up in its chart's values, found by what the repository itself
//! says: the chart beside the file (`Chart.yaml`, and `charts/<name>` subcharts), the chart
//! path of a Flux HelmRelease or an Argo CD Application, a chart of that name under
//! `--charts DIR`, or a convention declared per chart name in `harborize.yaml`. Without
//! any of these the map is `ambiguous`: harborize does not guess.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use crate::mapping::charts::{ChartRef, ChartSources};

use crate::config::ChartConvention;
use crate::pipeline::locate::{Shape, Site};
use crate::yaml::{self, Node};

/// How the chart composes an image map's reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Composition {
    /// A registry field is in scope (the map's own, or the values' global one).
    Registry,
    /// The repository field holds the whole name (a registry host in it, or a chart that
    /// puts nothing in front of it).
    Full,
    /// Not known yet (filled by [`resolve`]).
    Unresolved,
    /// The chart puts `registry` in front of the path, read from the map's `key`.
    ChartDefault { registry: String, key: String },
    /// Unknown: the reason and how to resolve it.
    Ambiguous(String),
}

/// Helm facts of one image-map site.
#[derive(Debug, Clone)]
pub struct HelmInfo {
    /// Keys from the values root to the map.
    pub route: Vec<String>,
    /// The registry in scope is the values' global one (shared by every map it composes).
    pub global: bool,
    /// The chart named by the enclosing HelmRelease or Application.
    pub chart: Option<ChartRef>,
    pub composition: Composition,
    /// Where a `registry:` line can be inserted into the map (byte offset, text before the
    /// value), for a chart that composes a registry the override does not set.
    pub insert_at: Option<(usize, String)>,
}

// The link index needs the walker and the YAML parser, so this part of `ChartSources`
// lives with the locator (the type is the mapper's: `crate::mapping::charts`).
impl ChartSources {
    /// The chart of the Argo CD Application whose `helm.valueFiles` lists `path`.
    pub(crate) fn linked_chart(&self, path: &Path) -> Option<ChartRef> {
        let links = self.links.get_or_init(|| value_file_links(&self.roots));
        links.get(&path.canonicalize().ok()?).cloned()
    }
}

/// `helm.valueFiles` of the Argo CD Applications under `roots`: `$ref/path` (a file of
/// the repository holding the `ref:` source, taken to be this one: tried against each
/// directory above the Application) or a path relative to the source's chart `path:`.
fn value_file_links(roots: &[PathBuf]) -> BTreeMap<PathBuf, ChartRef> {
    let mut links = BTreeMap::new();
    let is_yaml = |p: &Path| p.extension().is_some_and(|e| e == "yaml" || e == "yml");
    for root in roots {
        for file in crate::pipeline::walk::search(root, is_yaml) {
            let file = file.as_path();
            let Ok(text) = std::fs::read_to_string(file) else {
                continue;
            };
            if memchr::memmem::find(text.as_bytes(), b"valueFiles").is_none() {
                continue;
            }
            let Ok(stream) = yaml::parse(&text) else {
                continue;
            };
            for doc in &stream.documents {
                application_links(file, doc, &mut links);
            }
        }
    }
    links
}

fn application_links(file: &Path, doc: &Node, links: &mut BTreeMap<PathBuf, ChartRef>) {
    if !doc
        .get_str("apiVersion")
        .is_some_and(|a| a.starts_with("argoproj.io"))
    {
        return;
    }
    let Some(spec) = doc.get("spec") else { return };
    let mut sources: Vec<&Node> = spec.get("source").into_iter().collect();
    sources.extend(spec.get("sources").and_then(Node::as_seq).unwrap_or(&[]));
    let dir = file.parent().unwrap_or(Path::new("."));
    for source in sources {
        let chart = match (source.get_str("chart"), source.get_str("path")) {
            (Some(c), _) => ChartRef::Name(c.to_string()),
            (None, Some(p)) => ChartRef::Path(p.to_string()),
            _ => continue,
        };
        let files = source
            .get("helm")
            .and_then(|h| h.get("valueFiles"))
            .and_then(Node::as_seq)
            .unwrap_or(&[]);
        for f in files.iter().filter_map(|f| f.as_scalar()) {
            let rel = match (f.value.strip_prefix('$'), &chart) {
                (Some(r), _) => r.split_once('/').map_or("", |(_, rest)| rest).to_string(),
                (None, ChartRef::Path(p)) => format!("{}/{}", p.trim_end_matches('/'), f.value),
                (None, ChartRef::Name(_)) => continue,
            };
            let found = dir
                .ancestors()
                .map(|a| a.join(&rel))
                .find(|c| c.is_file())
                .and_then(|c| c.canonicalize().ok());
            if let Some(target) = found {
                links.entry(target).or_insert_with(|| chart.clone());
            }
        }
    }
}

/// Settle the composition of every open image map of the file at `path`.
pub fn resolve(path: &Path, sites: &mut [Site], sources: &ChartSources) {
    let mut cache = ChartCache::default();
    for site in sites.iter_mut() {
        let Shape::HelmMap { .. } = site.shape else {
            continue;
        };
        let Some(info) = site.helm.as_mut() else {
            continue;
        };
        if info.composition != Composition::Unresolved {
            continue;
        }
        info.composition = settle(path, info, sources, &mut cache);
    }
}

/// How to resolve an ambiguous map, for the message.
const HOW: &str = "give the chart (a chart directory beside the file or named by its HelmRelease/Application, or --charts DIR with unpacked charts) or declare its convention in harborize.yaml (helm.charts.<name>.default_registry), or write the registry into the map";

fn settle(
    path: &Path,
    info: &HelmInfo,
    sources: &ChartSources,
    cache: &mut ChartCache,
) -> Composition {
    let dir = path.parent().unwrap_or(Path::new("."));
    let beside = dir.join("Chart.yaml").is_file();
    // An Argo CD Application listing this file in `helm.valueFiles` names its chart.
    let linked = match (&info.chart, beside) {
        (None, false) => sources.linked_chart(path),
        _ => None,
    };
    let chart_ref = info.chart.as_ref().or(linked.as_ref());
    let chart_dir = match chart_ref {
        Some(ChartRef::Path(p)) => find_chart_path(dir, p),
        Some(ChartRef::Name(n)) => find_chart_named(sources, n),
        None => dir.join("Chart.yaml").is_file().then(|| dir.to_path_buf()),
    };
    if let Some(chart_dir) = chart_dir {
        let own_values = path.file_name().is_some_and(|n| n == "values.yaml")
            && path.parent() == Some(chart_dir.as_path());
        return compose_from_chart(&chart_dir, &info.route, own_values, cache);
    }
    if let Some(ChartRef::Name(n)) = chart_ref {
        if let Some(c) = sources.conventions.get(n) {
            return from_convention(c);
        }
        return Composition::Ambiguous(format!(
            "chart {n:?} is not in the repository nor under --charts, and harborize.yaml declares no convention for it: the registry it puts in front of this path is unknown; {HOW}"
        ));
    }
    Composition::Ambiguous(format!(
        "override values without their chart: the registry the chart puts in front of this path is unknown; {HOW}"
    ))
}

/// The chart directory a chart reference names, seen from a file in `dir`: a path of the
/// repository (tried against each directory above) or a name under `--charts DIR`. The
/// render proof renders override values with it.
pub(crate) fn chart_dir(dir: &Path, chart: &ChartRef, sources: &ChartSources) -> Option<PathBuf> {
    match chart {
        ChartRef::Path(p) => find_chart_path(dir, p),
        ChartRef::Name(n) => find_chart_named(sources, n),
    }
}

fn from_convention(c: &ChartConvention) -> Composition {
    match c.default_registry.as_deref().filter(|r| !r.is_empty()) {
        Some(r) => Composition::ChartDefault {
            registry: r.to_string(),
            key: c.registry_key.clone().unwrap_or_else(|| "registry".into()),
        },
        None => Composition::Full,
    }
}

/// A chart path of a HelmRelease/Application, relative to the repository root: tried
/// against each directory above the file (the root is not known here).
fn find_chart_path(dir: &Path, rel: &str) -> Option<PathBuf> {
    let rel = rel.trim_start_matches("./").trim_end_matches('/');
    dir.ancestors()
        .map(|a| a.join(rel))
        .find(|c| c.join("Chart.yaml").is_file())
}

/// `--charts DIR/<name>`, or the chart under DIR whose Chart.yaml says `name: <name>`.
fn find_chart_named(sources: &ChartSources, name: &str) -> Option<PathBuf> {
    let root = sources.charts_dir.as_ref()?;
    let direct = root.join(name);
    if direct.join("Chart.yaml").is_file() {
        return Some(direct);
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(root)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    entries
        .into_iter()
        .find(|d| chart_name(d).as_deref() == Some(name))
}

fn chart_name(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("Chart.yaml")).ok()?;
    let stream = yaml::parse(&text).ok()?;
    stream
        .documents
        .first()?
        .get_str("name")
        .map(str::to_string)
}

/// Parsed `values.yaml` of the charts looked at for one file.
#[derive(Default)]
struct ChartCache {
    values: BTreeMap<PathBuf, Option<yaml::Stream>>,
}

impl ChartCache {
    fn values(&mut self, chart_dir: &Path) -> Option<&yaml::Stream> {
        self.values
            .entry(chart_dir.to_path_buf())
            .or_insert_with(|| {
                let text = std::fs::read_to_string(chart_dir.join("values.yaml")).ok()?;
                yaml::parse(&text).ok()
            })
            .as_ref()
    }
}

/// The chart's own values at `route` (a subchart's when the route starts with its name).
fn compose_from_chart(
    chart_dir: &Path,
    route: &[String],
    own_values: bool,
    cache: &mut ChartCache,
) -> Composition {
    if let Some((first, rest)) = route.split_first() {
        let sub = chart_dir.join("charts").join(first);
        if !rest.is_empty() && sub.join("Chart.yaml").is_file() {
            return compose_from_chart(&sub, rest, false, cache);
        }
    }
    let shown = chart_dir.display().to_string();
    let Some(values) = cache.values(chart_dir) else {
        return if own_values {
            Composition::Full
        } else {
            Composition::Ambiguous(format!(
                "the chart at {shown} has no readable values.yaml; {HOW}"
            ))
        };
    };
    let Some(doc) = values.documents.first() else {
        return Composition::Full;
    };
    let mut node = Some(doc);
    for key in route {
        node = node.and_then(|n| values.lookup(n, key));
    }
    let registry_of = |n: &Node| {
        values
            .lookup(n, "registry")
            .and_then(|v| values.resolve(v))
            .map(|s| s.value.to_string())
            .filter(|v| !v.is_empty())
    };
    match node {
        Some(map) if map.as_map().is_some() => match registry_of(map) {
            Some(r) => Composition::ChartDefault {
                registry: r,
                key: "registry".into(),
            },
            None => match global_registry(values, doc) {
                Some((key, r)) => Composition::Ambiguous(format!(
                    "the chart at {shown} composes {key} ({r}) in front of this path: set {key} in this file"
                )),
                None => Composition::Full,
            },
        },
        _ if own_values => Composition::Full,
        _ => Composition::Ambiguous(format!(
            "the chart at {shown} has no image map at {}; {HOW}",
            route.join(".")
        )),
    }
}

/// The values' global registry (`global.image.registry`, `global.imageRegistry`,
/// `global.registry`), with its key, when set.
fn global_registry(values: &yaml::Stream, doc: &Node) -> Option<(&'static str, String)> {
    let global = values.lookup(doc, "global")?;
    let candidates = [
        (
            "global.image.registry",
            values
                .lookup(global, "image")
                .and_then(|i| values.lookup(i, "registry")),
        ),
        (
            "global.imageRegistry",
            values.lookup(global, "imageRegistry"),
        ),
        ("global.registry", values.lookup(global, "registry")),
    ];
    candidates.into_iter().find_map(|(k, v)| {
        let s = values.resolve(v?)?;
        (!s.value.is_empty()).then(|| (k, s.value.to_string()))
    })
}

/// Whether the first path component of a `repository` value is a registry host
/// (`ghcr.io/org/app`, `localhost:5000/app`): such a value is a whole name.
pub fn has_registry_host(repository: &str) -> bool {
    match repository.split_once('/') {
        Some((first, _)) => first.contains('.') || first.contains(':') || first == "localhost",
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::locate::locate;

    fn compositions(dir: &Path, file: &str, text: &str) -> Vec<Composition> {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        let stream = yaml::parse(text).unwrap();
        let mut sites = locate(&path, text, &stream).sites;
        resolve(&path, &mut sites, &ChartSources::default());
        sites
            .into_iter()
            .filter_map(|s| s.helm.map(|h| h.composition))
            .collect()
    }

    /// Issue 11 item 2: a Flux `chart: ./path` and an Argo CD source `path:` name a chart
    /// directory of the repository, whose values say how a bare path composes.
    #[test]
    fn chart_paths_of_helmrelease_and_application_are_found_in_the_repository() {
        let tmp = tempfile::tempdir().unwrap();
        let chart = tmp.path().join("charts/app");
        std::fs::create_dir_all(&chart).unwrap();
        std::fs::write(
            chart.join("Chart.yaml"),
            "apiVersion: v2\nname: app\nversion: 1.0.0\n",
        )
        .unwrap();
        std::fs::write(
            chart.join("values.yaml"),
            "image:\n  registry: docker.io\n  repository: org/app\nsidecar:\n  image:\n    repository: org/sidecar\n",
        )
        .unwrap();
        let release = "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nspec:\n  chart:\n    spec:\n      chart: ./charts/app\n  values:\n    image:\n      repository: org/app\n      tag: \"2\"\n    sidecar:\n      image:\n        repository: org/sidecar\n        tag: \"1\"\n    extra:\n      image:\n        repository: org/extra\n        tag: \"1\"\n";
        let got = compositions(tmp.path(), "clusters/prod/app.yaml", release);
        assert_eq!(
            got[0],
            Composition::ChartDefault {
                registry: "docker.io".into(),
                key: "registry".into()
            }
        );
        assert_eq!(
            got[1],
            Composition::Full,
            "the chart uses this repository as the whole name"
        );
        assert!(
            matches!(&got[2], Composition::Ambiguous(w) if w.contains("no image map at extra.image")),
            "{got:?}"
        );

        let app = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nspec:\n  source:\n    path: charts/app\n    helm:\n      valuesObject:\n        image:\n          repository: org/app\n          tag: \"2\"\n";
        let got = compositions(tmp.path(), "argo/app.yaml", app);
        assert_eq!(
            got,
            vec![Composition::ChartDefault {
                registry: "docker.io".into(),
                key: "registry".into()
            }]
        );

        let unknown = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nspec:\n  source:\n    chart: app\n    helm:\n      valuesObject:\n        image:\n          repository: org/app\n";
        let got = compositions(tmp.path(), "argo/other.yaml", unknown);
        assert!(
            matches!(&got[0], Composition::Ambiguous(w) if w.contains("chart \"app\"")),
            "{got:?}"
        );
    }
}
