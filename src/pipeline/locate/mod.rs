//! Where images hide: finds every image-bearing scalar in a parsed file.
//!
//! Works on the span-carrying tree of [`crate::yaml`] and knows the shapes of the places
//! GitOps repositories keep images: Kubernetes objects (any `image:` string, CRDs
//! included), kustomize `images:` entries, Helm values (strings, image maps, registry-only
//! keys; also inside Flux HelmRelease and Argo CD Application), docker-compose services,
//! and hints (env vars named like images, `--*image=` arguments). It reports sites; it
//! does not decide anything about them.
//!
//! Files are classified by what they are before their shape is trusted ([`Class`]): CI
//! configuration (GitHub Actions workflows, GitLab CI, Drone, Bitbucket Pipelines,
//! CircleCI, Woodpecker) has `image:` keys too, but its jobs run on CI runners that often
//! cannot reach the cluster's Harbor, so it is known by its path and left alone unless
//! `include_ci: true` asks for it (then its own places are read: [`Kind::Ci`]).

pub mod charts;
pub mod helm;
pub mod pull_secrets;

use std::ops::Range;
use std::path::Path;

use crate::pipeline::locate::helm::{has_registry_host, ChartRef, Composition, HelmInfo};
use crate::yaml::embedded::EmbeddedMap;
use crate::yaml::{self, Node, Scalar, Stream, Style};

/// What kind of place a reference was found in (the JSON `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Image,
    Kustomize,
    Helm,
    Compose,
    Hint,
    /// A CI job's image (only with `include_ci: true`).
    Ci,
    /// A Helm registry-only field (`global.imageRegistry: docker.io`) that composes no
    /// image map of its document: an edit of the chart's images, no reference to verify.
    HelmRegistry,
    /// Where a Helm chart comes from: an OCI repository (through Harbor), or a classic
    /// HTTP repository (Harbor cannot proxy it).
    Chart,
}

/// What a file (or one document of it) is, which decides the rules that find its images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// A Kubernetes object: `apiVersion` and `kind`.
    Kubernetes,
    /// A kustomization (by `kind` or by file name).
    Kustomization,
    /// A docker-compose file (`services:` of service mappings).
    Compose,
    /// CI configuration, known by its path.
    Ci(CiFormat),
    /// Any other mapping: read as Helm values.
    HelmValues,
    /// Anything else (a sequence, a scalar).
    Other,
}

/// The CI formats recognized by path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CiFormat {
    GitHubActions,
    GitLab,
    Drone,
    Bitbucket,
    CircleCi,
    Woodpecker,
}

impl CiFormat {
    /// The format's name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            CiFormat::GitHubActions => "GitHub Actions workflow",
            CiFormat::GitLab => "GitLab CI configuration",
            CiFormat::Drone => "Drone pipeline",
            CiFormat::Bitbucket => "Bitbucket Pipelines configuration",
            CiFormat::CircleCi => "CircleCI configuration",
            CiFormat::Woodpecker => "Woodpecker pipeline",
        }
    }
}

/// The CI format a path is the configuration of, if any: decided by path alone (these
/// files are found by their CI system by path, whatever their content).
pub fn ci_format(path: &Path) -> Option<CiFormat> {
    let name = path.file_name()?.to_str()?;
    let parent = path
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str());
    let grandparent = path
        .parent()
        .and_then(Path::parent)
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str());
    let yaml = name.ends_with(".yml") || name.ends_with(".yaml");
    match name {
        ".gitlab-ci.yml" | ".gitlab-ci.yaml" => return Some(CiFormat::GitLab),
        ".drone.yml" | ".drone.yaml" => return Some(CiFormat::Drone),
        "bitbucket-pipelines.yml" | "bitbucket-pipelines.yaml" => return Some(CiFormat::Bitbucket),
        ".woodpecker.yml" | ".woodpecker.yaml" => return Some(CiFormat::Woodpecker),
        "config.yml" | "config.yaml" if parent == Some(".circleci") => {
            return Some(CiFormat::CircleCi)
        }
        _ => {}
    }
    if yaml && parent == Some("workflows") && grandparent == Some(".github") {
        return Some(CiFormat::GitHubActions);
    }
    if yaml && parent == Some(".woodpecker") {
        return Some(CiFormat::Woodpecker);
    }
    None
}

/// Classify one document of the file at `path`.
pub fn classify(path: &Path, stream: &Stream, doc: &Node) -> Class {
    if let Some(ci) = ci_format(path) {
        return Class::Ci(ci);
    }
    let api = doc.get_str("apiVersion").unwrap_or("");
    let kind = doc.get_str("kind").unwrap_or("");
    if !api.is_empty() && !kind.is_empty() {
        return match kind {
            "Kustomization" | "Component" if api.starts_with("kustomize.config.k8s.io") => {
                Class::Kustomization
            }
            _ => Class::Kubernetes,
        };
    }
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let is_kustomization_name = matches!(
        file_name,
        "kustomization.yaml" | "kustomization.yml" | "Kustomization"
    );
    if is_kustomization_name && doc.as_map().is_some() {
        return Class::Kustomization;
    }
    if is_compose(stream, doc) {
        return Class::Compose;
    }
    match doc {
        Node::Map(_) => Class::HelmValues,
        _ => Class::Other,
    }
}

/// One scalar that carries (part of) a reference.
#[derive(Debug, Clone)]
pub struct Field {
    /// The part of the scalar's value that is the reference text.
    pub value: String,
    pub line: usize,
    pub column: usize,
    /// Ordinal of the scalar that owns these bytes (the outer block scalar for embedded YAML).
    pub owner: usize,
    /// Where `value` sits inside the owner's value.
    pub value_range: Range<usize>,
    /// Where `value` sits in the file, when it can be edited in place.
    pub file_range: Option<Range<usize>>,
    pub style: Style,
}

/// The shape of a reference: which fields compose it.
#[derive(Debug, Clone)]
pub enum Shape {
    /// A whole reference in one field (`image: nginx:1.27`, compose, hints).
    Whole(Field),
    /// Helm image map: `{registry, repository|image, tag, digest}`.
    HelmMap {
        registry: Option<Field>,
        repository: Field,
        tag: Option<Field>,
        digest: Option<Field>,
    },
    /// A registry-only value (`global.imageRegistry`, a map with only `registry`).
    RegistryOnly(Field),
    /// A kustomize `images:` entry.
    Kustomize {
        name: Field,
        new_name: Option<Field>,
        new_tag: Option<Field>,
        /// kustomize's `tagSuffix`, appended to the tag.
        tag_suffix: Option<Field>,
        digest: Option<Field>,
        /// The kustomization also builds remote resources this tool cannot edit, so `name`
        /// must keep matching the upstream form.
        remote: bool,
        /// Where a `newName:` line can be inserted (byte offset) and the text before the key.
        insert_at: Option<(usize, String)>,
    },
    /// An image map with only a tag or digest: the name comes from the chart's defaults.
    Partial(Field),
    /// Argo CD `kustomize.images` string: `name=newName:tag` or `name:tag`.
    ArgoKustomize { field: Field, split: Option<usize> },
    /// A Helm chart source URL (see [`charts`]): `chart` is appended to it to name the
    /// chart (`Some("")`: the URL names the chart), `version` is its tag; `oci` when the
    /// source says it is an OCI registry (a URL without a scheme is one then).
    Chart {
        url: Field,
        chart: Option<String>,
        /// The version (Argo CD `targetRevision`, Flux `ref.tag`, a dependency's
        /// `version`) and where it is written, for `bump`.
        version: Option<Field>,
        oci: bool,
    },
}

/// A place in a file where a reference was found.
#[derive(Debug, Clone)]
pub struct Site {
    pub kind: Kind,
    pub shape: Shape,
    pub line: usize,
    pub column: usize,
    /// A Flux `$imagepolicy` marker on the line that sets the name (Flux would undo a rewrite).
    pub flux_name_setter: bool,
    /// For a Helm image map: where it sits in the values and how its chart composes it
    /// (boxed: most sites are no Helm maps, and a file can hold very many sites).
    pub helm: Option<Box<HelmInfo>>,
}

/// Everything found in one file.
#[derive(Debug, Default)]
pub struct Located {
    pub sites: Vec<Site>,
    pub notes: Vec<String>,
}

/// Which rules apply while walking a subtree.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Manifest,
    Values,
}

/// The embedded-YAML context of a walk: scalars map back to the outer block scalar.
#[derive(Clone, Copy)]
struct Embed<'a> {
    map: Option<&'a EmbeddedMap>,
    owner: usize,
}

/// What makes a site distinct: its anchor field (owner, offset) and, for an image map, its
/// tag field.
type SiteKey = (usize, usize, Option<(usize, usize)>);

struct Walker<'a> {
    text: &'a str,
    stream: &'a Stream,
    embed: Option<Embed<'a>>,
    values_roots: Vec<*const Node>,
    out: &'a mut Vec<Site>,
    seen: std::collections::HashSet<SiteKey>,
    /// Anchored collections already walked through an alias or merge key: each is
    /// walked once however many aliases name it (alias bombs stay linear).
    walked_anchors: std::collections::HashSet<usize>,
    /// Keys from the document root to the node being walked (`[]` for sequence items).
    route: Vec<String>,
    /// The values root being walked: its route length, global registry and chart.
    root: Option<ValuesRoot<'a>>,
    /// The chart each values root belongs to (HelmRelease / Application).
    root_charts: Vec<(*const Node, ChartRef)>,
    /// The chart of the Argo CD `values:` string about to be walked.
    embedded_chart: Option<ChartRef>,
}

/// A Helm values root being walked (a values file, HelmRelease `spec.values`, Argo CD
/// `valuesObject` or `values`).
#[derive(Clone)]
struct ValuesRoot<'a> {
    node: *const Node,
    route_base: usize,
    /// `global.image.registry` / `global.imageRegistry` / `global.registry`: the registry
    /// of every map without its own (and whether it is reported on its own when unused).
    global: Option<(&'a Scalar, bool)>,
    /// A map composed with `global` (then the field is no reference of its own).
    global_used: bool,
    chart: Option<ChartRef>,
}

/// The chart of a Flux HelmRelease: `chart.spec.chart`, a path (`./charts/app`) or a name.
fn flux_chart(spec: &Node) -> Option<ChartRef> {
    let chart = spec.get("chart")?.get("spec")?.get_str("chart")?;
    Some(chart_ref(
        chart,
        chart.starts_with("./") || chart.starts_with("../") || chart.contains('/'),
    ))
}

fn chart_ref(s: &str, is_path: bool) -> ChartRef {
    if is_path {
        ChartRef::Path(s.to_string())
    } else {
        ChartRef::Name(s.to_string())
    }
}

/// The chart of an Argo CD Application source: `chart:` (a name) or `path:`.
fn argo_chart(source: &Node) -> Option<ChartRef> {
    match (source.get_str("chart"), source.get_str("path")) {
        (Some(c), _) => Some(chart_ref(c, false)),
        (None, Some(p)) => Some(chart_ref(p, true)),
        _ => None,
    }
}

/// Locate references in a parsed stream.
pub fn locate(path: &Path, text: &str, stream: &Stream) -> Located {
    let mut located = Located::default();
    for doc in &stream.documents {
        let class = classify(path, stream, doc);
        locate_document(class, text, stream, doc, None, &mut located);
        charts::locate(path, doc, &mut located.sites);
    }
    located.sites.sort_by_key(|s| (s.line, s.column));
    located
}

fn locate_document(
    class: Class,
    text: &str,
    stream: &Stream,
    doc: &Node,
    embed: Option<Embed<'_>>,
    located: &mut Located,
) {
    let mut walker = Walker {
        text,
        stream,
        embed,
        values_roots: Vec::new(),
        out: &mut located.sites,
        seen: Default::default(),
        walked_anchors: Default::default(),
        route: Vec::new(),
        root: None,
        root_charts: Vec::new(),
        embedded_chart: None,
    };
    let api = doc.get_str("apiVersion").unwrap_or("");
    let kind = doc.get_str("kind").unwrap_or("");
    if embed.is_some() {
        walker.values_roots.push(doc as *const Node);
        walker.walk(doc, Mode::Values, "");
        return;
    }
    match class {
        Class::Kustomization => walker.kustomization(doc),
        Class::Compose => walker.compose(doc),
        Class::Ci(format) => walker.ci(doc, format),
        Class::HelmValues => {
            walker.values_roots.push(doc as *const Node);
            walker.walk(doc, Mode::Values, "")
        }
        Class::Other => walker.walk(doc, Mode::Manifest, ""),
        Class::Kubernetes => match kind {
            "Kustomization" if api.starts_with("kustomize.toolkit.fluxcd.io") => {
                if let Some(images) = doc.get("spec").and_then(|s| s.get("images")) {
                    walker.kustomize_images(images, false);
                }
                walker.walk_skipping(doc, "images");
            }
            "HelmRelease" => {
                if let Some(spec) = doc.get("spec") {
                    if let Some(values) = spec.get("values") {
                        walker.values_roots.push(values as *const Node);
                        if let Some(chart) = flux_chart(spec) {
                            walker.root_charts.push((values as *const Node, chart));
                        }
                    }
                    if let Some(renderers) = spec.get("postRenderers").and_then(Node::as_seq) {
                        for r in renderers {
                            if let Some(images) = r.get("kustomize").and_then(|k| k.get("images")) {
                                walker.kustomize_images(images, true);
                            }
                        }
                    }
                }
                walker.walk(doc, Mode::Manifest, "");
            }
            "Application" | "ApplicationSet" if api.starts_with("argoproj.io") => {
                walker.argo_application(doc);
                walker.walk(doc, Mode::Manifest, "");
            }
            _ => walker.walk(doc, Mode::Manifest, ""),
        },
    }
}

/// A compose file's shape: every service a mapping (written out, aliased, or merged from
/// an `x-` extension with `<<:`), and one with an `image` or a `build`.
fn is_compose(stream: &Stream, doc: &Node) -> bool {
    doc.get("services")
        .and_then(Node::as_map)
        .is_some_and(|svcs| {
            !svcs.is_empty()
                && svcs
                    .iter()
                    .all(|(_, v)| v.as_map().is_some() || matches!(v, Node::Alias(_)))
                && svcs.iter().any(|(_, v)| {
                    stream.lookup(v, "image").is_some() || stream.lookup(v, "build").is_some()
                })
        })
}

/// A kustomization entry that names a remote (a URL, `github.com/…`, `git@…`, `?ref=`),
/// not a local file or directory.
pub(crate) fn is_remote_resource(s: &str) -> bool {
    s.contains("://")
        || s.starts_with("github.com/")
        || s.starts_with("git@")
        || s.contains("?ref=")
}

impl<'a> Walker<'a> {
    fn field(&self, s: &Scalar) -> Field {
        match self.embed {
            None => Field {
                value: s.value.to_string(),
                line: s.line(),
                column: s.column(),
                owner: s.ordinal(),
                value_range: 0..s.value.len(),
                file_range: s.content(),
                style: s.style,
            },
            Some(e) => {
                let file_range = e
                    .map
                    .and_then(|m| s.content().and_then(|c| m.map_range(&c)));
                let (line, column) = e.map.map_or((s.line(), s.column()), |m| {
                    m.map_position(s.line(), s.column())
                });
                Field {
                    value: s.value.to_string(),
                    line,
                    column,
                    owner: e.owner,
                    value_range: s.content().unwrap_or(0..0),
                    file_range: if s.content().is_some() {
                        file_range
                    } else {
                        None
                    },
                    // The bytes edited are the inner scalar's own content.
                    style: s.style,
                }
            }
        }
    }

    /// A part of a field's value (for `--x-image=REF` and `name=ref`).
    fn sub_field(f: &Field, offset: usize) -> Field {
        let quote = usize::from(matches!(f.style, Style::Single | Style::Double));
        Field {
            value: f.value[offset..].to_string(),
            line: f.line,
            column: f.column + quote + f.value[..offset].chars().count(),
            owner: f.owner,
            value_range: f.value_range.start + offset..f.value_range.end,
            file_range: f.file_range.as_ref().map(|r| r.start + offset..r.end),
            style: f.style,
        }
    }

    fn push(&mut self, kind: Kind, shape: Shape, anchor: &Field) {
        // An anchored scalar reached through several aliases is one site. An image map
        // merged (`<<: *defaults`) under its own tag is another reference to the same name.
        let tag = match &shape {
            Shape::HelmMap { tag: Some(t), .. } => Some((t.owner, t.value_range.start)),
            _ => None,
        };
        if !self
            .seen
            .insert((anchor.owner, anchor.value_range.start, tag))
        {
            return;
        }
        let flux_name_setter = anchor
            .file_range
            .as_ref()
            .is_some_and(|r| self.flux_marker_sets_name(r.end));
        self.out.push(Site {
            kind,
            line: anchor.line,
            column: anchor.column,
            shape,
            flux_name_setter,
            helm: None,
        });
    }

    /// Push an image map with its Helm facts.
    fn push_helm(&mut self, shape: Shape, anchor: &Field, info: HelmInfo) {
        let before = self.out.len();
        self.push(Kind::Helm, shape, anchor);
        if let Some(site) = self.out.get_mut(before) {
            site.helm = Some(Box::new(info));
        }
    }

    /// Whether `s` is the global registry field of the values root being walked.
    fn is_global_field(&self, s: &Scalar) -> bool {
        self.root
            .as_ref()
            .and_then(|r| r.global)
            .is_some_and(|(g, _)| std::ptr::eq(g, s))
    }

    /// Walk a values root: its global registry is in scope for every map below it.
    fn walk_values_root(&mut self, node: &'a Node, key: &str) {
        let global = self.global_registry(node);
        let chart = self
            .root_charts
            .iter()
            .find(|(p, _)| std::ptr::eq(*p, node))
            .map(|(_, c)| c.clone());
        let saved = self.root.replace(ValuesRoot {
            node,
            route_base: self.route.len(),
            global,
            global_used: false,
            chart,
        });
        self.walk(node, Mode::Values, key);
        let done = std::mem::replace(&mut self.root, saved);
        // A global registry that composes nothing here is an edit of the chart's images:
        // a registry-only field, as before.
        if let Some(ValuesRoot {
            global: Some((g, true)),
            global_used: false,
            ..
        }) = done
        {
            let f = self.field(g);
            self.push(Kind::HelmRegistry, Shape::RegistryOnly(f.clone()), &f);
        }
    }

    /// The values' global registry scalar, and whether it is a place reported on its own
    /// (`global.image.registry` and `global.imageRegistry` are; `global.registry` only
    /// composes).
    fn global_registry(&self, root: &'a Node) -> Option<(&'a Scalar, bool)> {
        let stream = self.stream;
        let global = stream.lookup(root, "global")?;
        let image_registry = stream
            .lookup(global, "image")
            .and_then(|i| stream.lookup(i, "registry"));
        [
            (image_registry, true),
            (stream.lookup(global, "imageRegistry"), true),
            (stream.lookup(global, "registry"), false),
        ]
        .into_iter()
        .find_map(|(n, reported)| Some((self.string_scalar(n?)?, reported)))
    }

    /// `# {"$imagepolicy": "ns:policy"}` or `...:name` after the scalar on the same line.
    fn flux_marker_sets_name(&self, end: usize) -> bool {
        let rest = &self.text[end..];
        let line = rest.split('\n').next().unwrap_or("");
        match line.find("$imagepolicy") {
            Some(i) => {
                let marker = &line[i..];
                !marker.contains(":tag\"")
            }
            None => false,
        }
    }

    /// A string scalar that may be empty (`digest: ""`, a place to pin into).
    fn string_or_empty(&self, node: &'a Node) -> Option<&'a Scalar> {
        // Quoted only: a bare `digest:` is null, with no bytes to replace.
        self.stream.resolve(node).filter(|s| s.is_string())
    }

    fn string_scalar(&self, node: &'a Node) -> Option<&'a Scalar> {
        self.stream
            .resolve(node)
            .filter(|s| s.is_string() && !s.value.is_empty())
    }

    fn walk_skipping(&mut self, doc: &'a Node, skip_key_under_spec: &str) {
        if let Some(m) = doc.as_map() {
            for (k, v) in m {
                let key = k.as_scalar().map_or("", |s| s.value.as_str());
                if key == "spec" {
                    if let Some(sm) = v.as_map() {
                        for (k2, v2) in sm {
                            let key2 = k2.as_scalar().map_or("", |s| s.value.as_str());
                            if key2 != skip_key_under_spec {
                                self.walk(v2, Mode::Manifest, key2);
                            }
                        }
                    }
                } else {
                    self.walk(v, Mode::Manifest, key);
                }
            }
        }
    }

    fn walk(&mut self, node: &'a Node, mode: Mode, key: &str) {
        let is_root = self.values_roots.contains(&(node as *const Node));
        if is_root
            && !self
                .root
                .as_ref()
                .is_some_and(|r| std::ptr::eq(r.node, node))
        {
            return self.walk_values_root(node, key);
        }
        let mode = if is_root { Mode::Values } else { mode };
        match node {
            Node::Map(entries) => {
                if mode == Mode::Values && self.helm_map(node, key) {
                    // Fields consumed; still descend into non-field children.
                    for (k, v) in entries {
                        let kk = k.as_scalar().map_or("", |s| s.value.as_str());
                        if !matches!(
                            kk,
                            "registry" | "repository" | "image" | "tag" | "digest" | "sha" | "name"
                        ) {
                            self.walk_child(v, mode, kk);
                        }
                    }
                    return;
                }
                for (k, v) in entries {
                    let kk = k.as_scalar().map_or("", |s| s.value.as_str());
                    if kk == "image" {
                        if let Some(s) = self.string_scalar(v) {
                            let f = self.field(s);
                            let kind = if mode == Mode::Values {
                                Kind::Helm
                            } else {
                                Kind::Image
                            };
                            self.push(kind, Shape::Whole(f.clone()), &f);
                            continue;
                        }
                    }
                    if mode == Mode::Values && kk.to_ascii_lowercase().ends_with("imageregistry") {
                        if let Some(s) = self.string_scalar(v) {
                            if !self.is_global_field(s) {
                                let f = self.field(s);
                                self.push(Kind::HelmRegistry, Shape::RegistryOnly(f.clone()), &f);
                            }
                            continue;
                        }
                    }
                    match kk {
                        "env" => self.env_hints(self.stream.deref(v)),
                        "args" | "command" => self.arg_hints(self.stream.deref(v)),
                        _ => {}
                    }
                    self.walk_child(v, mode, kk);
                }
            }
            Node::Seq(items) => {
                self.route.push("[]".into());
                for item in items {
                    self.walk(item, mode, key);
                }
                self.route.pop();
            }
            // An aliased mapping or sequence (`<<: *common`, `containers: *list`): its
            // images are references too, edited at the anchor.
            Node::Alias(id) => {
                if let Some(anchored) = self.stream.collection(*id) {
                    if self.walked_anchors.insert(*id) {
                        self.walk(anchored, mode, key);
                    }
                }
            }
            Node::Scalar(_) => {}
        }
    }

    /// Walk the value of `key`, with `key` on the route.
    fn walk_child(&mut self, v: &'a Node, mode: Mode, key: &str) {
        self.route.push(key.to_string());
        self.walk(v, mode, key);
        self.route.pop();
    }

    /// How a map without a registry of its own composes: with the values' global
    /// registry (returned), as a whole name (a registry host in the repository), or as
    /// its chart says (settled later by [`crate::pipeline::locate::helm::resolve`]).
    fn helm_info(
        &mut self,
        node: &'a Node,
        own: bool,
        repo: &'a Scalar,
        repo_key: &str,
    ) -> (Option<&'a Scalar>, HelmInfo) {
        let (route, chart) = match &self.root {
            Some(r) => (
                self.route[r.route_base.min(self.route.len())..].to_vec(),
                r.chart.clone(),
            ),
            None => (self.route.clone(), None),
        };
        let mut info = HelmInfo {
            route,
            global: false,
            chart,
            composition: Composition::Unresolved,
            insert_at: None,
        };
        if own {
            info.composition = Composition::Registry;
            return (None, info);
        }
        if let Some(root) = self.root.as_mut() {
            if let Some((g, _)) = root.global {
                root.global_used = true;
                info.global = true;
                info.composition = Composition::Registry;
                return (Some(g), info);
            }
        }
        if has_registry_host(&repo.value) {
            info.composition = Composition::Full;
        } else {
            info.insert_at = self.line_after(node, repo_key, repo, "registry");
        }
        (None, info)
    }

    /// A Helm image map; returns true when `node` is one (and its sites were pushed).
    fn helm_map(&mut self, node: &'a Node, key: &str) -> bool {
        let stream = self.stream;
        let str_field = |name: &str| -> Option<&'a Scalar> {
            stream
                .lookup(node, name)
                .and_then(|v| self.string_scalar(v))
        };
        let repository = str_field("repository");
        let image = str_field("image");
        let registry = str_field("registry");
        // `{name: quay.io/org/app, tag: v1}` (templates reading `.Values.image.name`).
        let name = str_field("name").filter(|_| repository.is_none() && image.is_none());
        let tag = str_field("tag");
        let digest = str_field("digest")
            .or_else(|| str_field("sha"))
            .or_else(|| {
                stream
                    .lookup(node, "digest")
                    .and_then(|v| self.string_or_empty(v))
            });
        let image_key = key == "image" || key.ends_with("Image") || key.ends_with("image");
        // Presence decides the shape (`tag: ""` still makes an image map); values decide edits.
        let has = |k: &str| {
            stream
                .lookup(node, k)
                .is_some_and(|v| matches!(v, Node::Scalar(_) | Node::Alias(_)))
        };
        let has_repo_map =
            repository.is_some() && (has("tag") || has("digest") || has("registry") || has("sha"));
        if !(image_key || has_repo_map) {
            return false;
        }
        let name = name.filter(|_| image_key && (has("tag") || has("digest") || has("sha")));
        let (name_field, repo_key) = match (repository, image, name) {
            (Some(r), _, _) => (Some(r), "repository"),
            (None, Some(i), _) => (Some(i), "image"),
            (None, None, Some(n)) => (Some(n), "name"),
            _ => (None, ""),
        };
        match name_field {
            Some(repo) if !repo.value.contains("://") => {
                let (global, info) = self.helm_info(node, registry.is_some(), repo, repo_key);
                let repository = self.field(repo);
                let registry = registry.or(global).map(|s| self.field(s));
                let anchor = registry
                    .clone()
                    .filter(|_| !info.global)
                    .unwrap_or_else(|| repository.clone());
                let anchor = if anchor.line <= repository.line {
                    anchor
                } else {
                    repository.clone()
                };
                let shape = Shape::HelmMap {
                    registry,
                    repository,
                    tag: tag.map(|s| self.field(s)),
                    digest: digest.map(|s| self.field(s)),
                };
                self.push_helm(shape, &anchor, info);
                true
            }
            Some(_) => false,
            None if image_key => {
                if let Some(r) = registry {
                    if !self.is_global_field(r) {
                        let f = self.field(r);
                        self.push(Kind::HelmRegistry, Shape::RegistryOnly(f.clone()), &f);
                    }
                    return true;
                }
                if let Some(t) = tag.or(digest) {
                    let f = self.field(t);
                    self.push(Kind::Helm, Shape::Partial(f.clone()), &f);
                    return true;
                }
                false
            }
            None => false,
        }
    }

    fn env_hints(&mut self, env: &'a Node) {
        for item in env.as_seq().unwrap_or(&[]) {
            let name = item.get_str("name").unwrap_or("");
            if !name.to_ascii_uppercase().contains("IMAGE") {
                continue;
            }
            if let Some(s) = item.get("value").and_then(|v| self.string_scalar(v)) {
                if looks_like_image(&s.value) {
                    let f = self.field(s);
                    self.push(Kind::Hint, Shape::Whole(f.clone()), &f);
                }
            }
        }
    }

    fn arg_hints(&mut self, args: &'a Node) {
        let items = args.as_seq().unwrap_or(&[]);
        let mut previous_was_flag = false;
        for item in items {
            let Some(s) = self.string_scalar(item) else {
                previous_was_flag = false;
                continue;
            };
            let v = s.value.as_str();
            if previous_was_flag && looks_like_image(v) {
                let f = self.field(s);
                self.push(Kind::Hint, Shape::Whole(f.clone()), &f);
            } else if let Some(eq) = image_flag_value(v) {
                if looks_like_image(&v[eq..]) {
                    let f = Self::sub_field(&self.field(s), eq);
                    self.push(Kind::Hint, Shape::Whole(f.clone()), &f);
                }
            }
            previous_was_flag = v.starts_with("--")
                && v.to_ascii_lowercase().ends_with("image")
                && !v.contains('=');
        }
    }

    fn compose(&mut self, doc: &'a Node) {
        for (_, svc) in doc.get("services").and_then(Node::as_map).unwrap_or(&[]) {
            let image = self.stream.lookup(svc, "image");
            if let Some(s) = image.and_then(|v| self.string_scalar(v)) {
                let f = self.field(s);
                self.push(Kind::Compose, Shape::Whole(f.clone()), &f);
            }
        }
    }

    /// CI configuration (read only with `include_ci: true`): every `image:` string as in
    /// manifests, plus the formats' own places: `image: {name: …}` (GitLab, Bitbucket),
    /// GitLab `services:` entries, GitHub `container: REF` and `uses: docker://REF`.
    fn ci(&mut self, doc: &'a Node, format: CiFormat) {
        let first = self.out.len();
        self.walk(doc, Mode::Manifest, "");
        self.ci_places(doc, format);
        for site in &mut self.out[first..] {
            site.kind = Kind::Ci;
        }
    }

    fn ci_places(&mut self, node: &'a Node, format: CiFormat) {
        match node {
            Node::Map(entries) => {
                for (k, v) in entries {
                    let key = k.as_scalar().map_or("", |s| s.value.as_str());
                    match (key, format) {
                        ("image", _) => self.ci_named(v),
                        ("services", CiFormat::GitLab) => {
                            for item in v.as_seq().unwrap_or(&[]) {
                                self.ci_whole(item);
                                self.ci_named(item);
                            }
                        }
                        ("container", CiFormat::GitHubActions) => self.ci_whole(v),
                        ("uses", CiFormat::GitHubActions) => {
                            if let Some(s) = self.string_scalar(v) {
                                if s.value.starts_with("docker://") {
                                    let f = Self::sub_field(&self.field(s), "docker://".len());
                                    self.push(Kind::Ci, Shape::Whole(f.clone()), &f);
                                }
                            }
                        }
                        _ => {}
                    }
                    self.ci_places(v, format);
                }
            }
            Node::Seq(items) => items.iter().for_each(|i| self.ci_places(i, format)),
            _ => {}
        }
    }

    /// A whole reference in a string scalar.
    fn ci_whole(&mut self, node: &'a Node) {
        if let Some(s) = self.string_scalar(node) {
            let f = self.field(s);
            self.push(Kind::Ci, Shape::Whole(f.clone()), &f);
        }
    }

    /// `{name: REF, …}` (GitLab and Bitbucket image and service maps).
    fn ci_named(&mut self, node: &'a Node) {
        if let Some(name) = self.stream.lookup(node, "name") {
            self.ci_whole(name);
        }
    }

    fn kustomization(&mut self, doc: &'a Node) {
        let remote = ["resources", "bases", "components"].iter().any(|k| {
            doc.get(k).and_then(Node::as_seq).is_some_and(|items| {
                items
                    .iter()
                    .any(|i| i.as_scalar().is_some_and(|s| is_remote_resource(&s.value)))
            })
        });
        if let Some(images) = doc.get("images") {
            self.kustomize_images(images, remote);
        }
        // Inline patches (`patch: |` strategic-merge or JSON 6902, `patchesStrategicMerge`
        // strings) carry images too.
        for key in ["patches", "patchesStrategicMerge", "patchesJson6902"] {
            for item in doc.get(key).and_then(Node::as_seq).unwrap_or(&[]) {
                let block = match item {
                    Node::Scalar(s) => Some(s),
                    _ => item.get("patch").and_then(Node::as_scalar),
                };
                if let Some(b) =
                    block.filter(|b| b.style == Style::Literal && b.value.contains("image"))
                {
                    self.embedded(b, Mode::Manifest);
                }
            }
        }
    }

    /// JSON 6902 operations whose `path` ends in `/image`: the `value` is a reference.
    fn json6902_images(&mut self, doc: &'a Node) {
        for op in doc.as_seq().unwrap_or(&[]) {
            let is_image_path = op.get_str("path").is_some_and(|p| p.ends_with("/image"));
            if let Some(s) = op
                .get("value")
                .and_then(|v| self.string_scalar(v))
                .filter(|_| is_image_path)
            {
                let f = self.field(s);
                self.push(Kind::Image, Shape::Whole(f.clone()), &f);
            }
        }
    }

    fn kustomize_images(&mut self, images: &'a Node, remote: bool) {
        for entry in images.as_seq().unwrap_or(&[]) {
            let Some(name) = entry.get("name").and_then(|v| self.string_scalar(v)) else {
                continue;
            };
            let get = |k: &str| {
                entry
                    .get(k)
                    .and_then(|v| self.string_scalar(v))
                    .map(|s| self.field(s))
            };
            let name_field = self.field(name);
            let insert_at = self.newname_insertion(entry, name);
            let shape = Shape::Kustomize {
                name: name_field.clone(),
                new_name: get("newName"),
                new_tag: get("newTag"),
                tag_suffix: get("tagSuffix"),
                digest: entry
                    .get("digest")
                    .and_then(|v| self.string_or_empty(v))
                    .map(|s| self.field(s)),
                remote,
                insert_at,
            };
            self.push(Kind::Kustomize, shape, &name_field);
        }
    }

    /// Where a `newName:` line fits after `name:` in a block-style entry.
    fn newname_insertion(&self, entry: &Node, name: &Scalar) -> Option<(usize, String)> {
        self.line_after(entry, "name", name, "newName")
    }

    /// Where a `new_key:` line fits after the `key: value` line of a block-style map.
    fn line_after(
        &self,
        entry: &Node,
        key: &str,
        name: &Scalar,
        new_key: &str,
    ) -> Option<(usize, String)> {
        if self.embed.is_some() {
            return None;
        }
        let key = entry
            .as_map()?
            .iter()
            .find_map(|(k, _)| k.as_scalar().filter(|s| s.value == key))?;
        if key.line() == name.line() && name.content().is_some() {
            let line_end = self.text[name.token().end..]
                .find('\n')
                .map(|i| name.token().end + i)?;
            let line_end = if self.text[..line_end].ends_with('\r') {
                line_end - 1
            } else {
                line_end
            };
            let tail = &self.text[name.token().end..line_end];
            if tail.trim_start().starts_with([',', '}']) {
                // Flow style: the pair goes right after the name, inside the braces.
                return Some((name.token().end, ", newName: ".into()));
            }
            if !tail.trim().is_empty() && !tail.trim_start().starts_with('#') {
                return None;
            }
            let eol = if self.text[line_end..].starts_with("\r\n") {
                "\r\n"
            } else {
                "\n"
            };
            let prefix = format!("{eol}{}{new_key}: ", " ".repeat(key.column() - 1));
            return Some((line_end, prefix));
        }
        None
    }

    fn argo_application(&mut self, doc: &'a Node) {
        let Some(spec) = doc.get("spec") else { return };
        let spec = spec
            .get("template")
            .and_then(|t| t.get("spec"))
            .unwrap_or(spec);
        let mut sources: Vec<&'a Node> = Vec::new();
        if let Some(s) = spec.get("source") {
            sources.push(s);
        }
        if let Some(list) = spec.get("sources").and_then(Node::as_seq) {
            sources.extend(list.iter());
        }
        for source in sources {
            if let Some(helm) = source.get("helm") {
                let chart = argo_chart(source);
                if let Some(obj) = helm.get("valuesObject") {
                    self.values_roots.push(obj as *const Node);
                    if let Some(c) = chart.clone() {
                        self.root_charts.push((obj as *const Node, c));
                    }
                }
                if let Some(Node::Scalar(block)) = helm.get("values") {
                    self.embedded_chart = chart;
                    self.embedded_values(block);
                    self.embedded_chart = None;
                }
            }
            if let Some(images) = source
                .get("kustomize")
                .and_then(|k| k.get("images"))
                .and_then(Node::as_seq)
            {
                for item in images {
                    if let Some(s) = self.string_scalar(item) {
                        let f = self.field(s);
                        let split = s.value.find('=');
                        self.push(
                            Kind::Kustomize,
                            Shape::ArgoKustomize {
                                field: f.clone(),
                                split,
                            },
                            &f,
                        );
                    }
                }
            }
        }
    }

    fn embedded_values(&mut self, block: &'a Scalar) {
        self.embedded(block, Mode::Values);
    }

    /// YAML inside a block scalar, walked with `mode` and mapped back to the file.
    ///
    /// `check` blanks documents without keywords before parsing, reading block scalars
    /// under the keys in [`yaml::skim::EMBEDDED_KEYS`] (and sequence items) for keywords:
    /// a new caller here with another key must be added there.
    fn embedded(&mut self, block: &'a Scalar, mode: Mode) {
        if self.embed.is_some() || !block.value.contains(':') {
            return;
        }
        let Ok(inner) = yaml::parse(&block.value) else {
            return;
        };
        let map = EmbeddedMap::new(self.text, block);
        let embed = Embed {
            map: map.as_ref(),
            owner: block.ordinal(),
        };
        let mut inner_sites = Vec::new();
        {
            let mut w = Walker {
                text: self.text,
                stream: &inner,
                embed: Some(embed),
                values_roots: Vec::new(),
                out: &mut inner_sites,
                seen: Default::default(),
                walked_anchors: Default::default(),
                route: Vec::new(),
                root: None,
                root_charts: Vec::new(),
                embedded_chart: None,
            };
            for doc in &inner.documents {
                if let Some(c) = self.embedded_chart.clone().filter(|_| mode == Mode::Values) {
                    w.root_charts.push((doc as *const Node, c));
                }
                if mode == Mode::Values {
                    w.values_roots.push(doc as *const Node);
                }
                w.json6902_images(doc);
                w.walk(doc, mode, "");
            }
        }
        self.out.extend(inner_sites);
    }
}

/// For `--foo-image=REF`, the byte offset of REF.
fn image_flag_value(v: &str) -> Option<usize> {
    if !v.starts_with("--") {
        return None;
    }
    let eq = v.find('=')?;
    v[..eq]
        .to_ascii_lowercase()
        .ends_with("image")
        .then_some(eq + 1)
}

/// Hints are only worth reporting when the value looks like a registry path or has a tag.
fn looks_like_image(v: &str) -> bool {
    (v.contains('/') || v.contains(':') || v.contains('@'))
        && !v.contains(' ')
        && !v.contains("://")
        && crate::reference::Reference::parse(v).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sites(name: &str, text: &str) -> Vec<Site> {
        let s = yaml::parse(text).unwrap();
        locate(Path::new(name), text, &s).sites
    }

    fn whole(site: &Site) -> &str {
        match &site.shape {
            Shape::Whole(f) => &f.value,
            _ => panic!("not whole"),
        }
    }

    #[test]
    fn pod_images_crds_and_hints() {
        let text = "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - image: nginx:1.27\n          args: ['--sidecar-image=busybox:1.36', '--x']\n          env:\n            - {name: HELPER_IMAGE, value: 'ghcr.io/a/b:1'}\n            - {name: IMAGE_PULL_POLICY, value: Always}\n---\napiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nspec:\n  image: quay.io/prometheus/prometheus:v2\n";
        let s = sites("x.yaml", text);
        let got: Vec<(Kind, &str)> = s.iter().map(|s| (s.kind, whole(s))).collect();
        assert_eq!(
            got,
            vec![
                (Kind::Image, "nginx:1.27"),
                (Kind::Hint, "busybox:1.36"),
                (Kind::Hint, "ghcr.io/a/b:1"),
                (Kind::Image, "quay.io/prometheus/prometheus:v2"),
            ]
        );
        assert_eq!((s[1].line, s[1].column), (8, 35));
    }

    #[test]
    fn crd_schema_image_mappings_are_not_references() {
        let text = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nspec:\n  properties:\n    image:\n      type: string\n";
        assert!(sites("crd.yaml", text).is_empty());
    }

    #[test]
    fn helm_maps_and_registry_keys() {
        let text = "global:\n  imageRegistry: docker.io\nimage:\n  registry: docker.io\n  repository: bitnami/nginx\n  tag: 1.27.0\nredis:\n  repository: redis\n  tag: 7\nhelper:\n  image: busybox\n";
        let s = sites("values.yaml", text);
        // The global registry composes `redis` (issue 11): no reference of its own.
        assert_eq!(s.len(), 3);
        let Shape::HelmMap {
            registry: Some(own),
            ..
        } = &s[0].shape
        else {
            panic!("{:?}", s[0].shape)
        };
        assert_eq!(own.line, 4);
        let Shape::HelmMap {
            registry: Some(global),
            ..
        } = &s[1].shape
        else {
            panic!("{:?}", s[1].shape)
        };
        assert_eq!(global.line, 2, "the map composes with global.imageRegistry");
        assert!(s[1].helm.as_ref().is_some_and(|h| h.global));
        assert_eq!(whole(&s[2]), "busybox");
        assert!(s.iter().all(|s| s.kind == Kind::Helm));

        // Without any map to compose, the global registry is a registry-only field.
        let s = sites("values.yaml", "global:\n  imageRegistry: docker.io\n");
        assert_eq!(s.len(), 1);
        assert!(matches!(s[0].shape, Shape::RegistryOnly(_)));
        assert_eq!(s[0].kind, Kind::HelmRegistry);
    }

    /// Issue 11: `{name: REF, tag}` maps, routes for chart lookups, and a bare path whose
    /// composition is left to the chart (with a place to add its registry).
    #[test]
    fn helm_name_maps_routes_and_open_compositions() {
        let text = "exporter:\n  image:\n    name: quay.io/opstree/druid-exporter\n    tag: v0.11\nmetrics:\n  image:\n    repository: oliver006/redis_exporter\n    tag: v1\n";
        let s = sites("values.yaml", text);
        assert_eq!(s.len(), 2);
        let h0 = s[0].helm.as_ref().unwrap();
        assert_eq!(h0.route, vec!["exporter", "image"]);
        assert_eq!(h0.composition, Composition::Full);
        let h1 = s[1].helm.as_ref().unwrap();
        assert_eq!(h1.route, vec!["metrics", "image"]);
        assert_eq!(h1.composition, Composition::Unresolved);
        let (at, prefix) = h1.insert_at.clone().unwrap();
        assert_eq!(&text[..at], "exporter:\n  image:\n    name: quay.io/opstree/druid-exporter\n    tag: v0.11\nmetrics:\n  image:\n    repository: oliver006/redis_exporter");
        assert_eq!(prefix, "\n    registry: ");
    }

    #[test]
    fn argo_values_string_maps_to_file_lines() {
        let text = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nspec:\n  source:\n    helm:\n      values: |\n        image:\n          repository: ghcr.io/org/app\n          tag: v1\n";
        let s = sites("app.yaml", text);
        assert_eq!(s.len(), 1);
        let Shape::HelmMap { repository, .. } = &s[0].shape else {
            panic!()
        };
        assert_eq!((repository.line, repository.column), (8, 23));
        assert_eq!(
            &text[repository.file_range.clone().unwrap()],
            "ghcr.io/org/app"
        );
    }

    /// Issue #12 item 15: images reached through merge keys and aliases are references,
    /// found once, at the anchor.
    #[test]
    fn compose_merge_keys_and_aliases_reach_the_anchored_image() {
        let text = "x-common: &common\n  image: nginx:1.27\n  restart: always\nx-svc: &svc {image: 'redis:7'}\nservices:\n  web:\n    <<: *common\n    ports: ['80:80']\n  worker:\n    <<: [*common]\n  cache: *svc\n  own:\n    <<: *common\n    image: busybox:1.36\n";
        let s = sites("compose.yaml", text);
        let got: Vec<(Kind, &str, usize)> = s.iter().map(|s| (s.kind, whole(s), s.line)).collect();
        assert_eq!(
            got,
            vec![
                (Kind::Compose, "nginx:1.27", 2),
                (Kind::Compose, "redis:7", 4),
                (Kind::Compose, "busybox:1.36", 14),
            ]
        );
        let Shape::Whole(f) = &s[0].shape else {
            panic!()
        };
        assert_eq!(&text[f.file_range.clone().unwrap()], "nginx:1.27");
    }

    #[test]
    fn merge_keys_in_manifests_and_helm_values_are_followed() {
        let text = "apiVersion: v1\nkind: Pod\nspec:\n  initContainers:\n    - &base {name: a, image: 'nginx:1.27'}\n  containers:\n    - <<: *base\n      name: b\n";
        let s = sites("pod.yaml", text);
        assert_eq!(s.len(), 1);
        assert_eq!(whole(&s[0]), "nginx:1.27");

        let text = "defaults: &img\n  registry: docker.io\n  repository: bitnami/redis\nredis:\n  image:\n    <<: *img\n    tag: 7.2\n";
        let s = sites("values.yaml", text);
        assert_eq!(s.len(), 2, "the defaults, and the image that merges them");
        let Shape::HelmMap {
            registry,
            repository,
            tag,
            ..
        } = &s[1].shape
        else {
            panic!()
        };
        assert_eq!(registry.as_ref().unwrap().line, 2);
        assert_eq!(repository.line, 3);
        assert_eq!(tag.as_ref().unwrap().value, "7.2");
    }

    #[test]
    fn flux_markers_that_set_the_name_are_flagged() {
        let text = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - image: ghcr.io/a/b:1 # {\"$imagepolicy\": \"flux-system:b\"}\n    - image: ghcr.io/a/c:1 # {\"$imagepolicy\": \"flux-system:c:tag\"}\n";
        let s = sites("p.yaml", text);
        assert!(s[0].flux_name_setter);
        assert!(!s[1].flux_name_setter);
    }
}
