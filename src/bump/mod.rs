//! `bump`: give every reference to one image a new tag (and digest), written as its Harbor
//! path, through the same byte-exact editor and re-parse proof as `rewrite`.
//!
//! Sites come from [`crate::pipeline::locate`]; a site belongs to the image when its name, upstream or
//! Harbor form, routes to the same Harbor name. Planning produces [`Planned`] entries (the
//! report layer's currency) with their [`Edit`]s. Nothing is written until every file has
//! been planned and proved: a bump either lands whole or not at all.

pub mod envs;
pub mod flux;
pub mod publish;
pub mod scope;
pub mod select;
pub mod strategy;

use crate::pipeline::plan::reference_text;
use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::bump::flux::FluxPolicies;
use crate::bump::strategy::{BumpStrategy, Facts};
use crate::mapping::{Decision, Mapper};
use crate::pipeline::engine::{self, ApplyOptions, FileResult};
use crate::pipeline::locate::{Field, Kind, Shape, Site};
use crate::pipeline::plan::{field_edit, Planned, Status};
use crate::reference::{is_templated, Reference};
use crate::yaml::edit::Edit;
use crate::yaml::{quote, Node, Scalar, Stream, Style};

/// What a bump sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The image as given on the command line (`ghcr.io/org/app`).
    pub image: String,
    /// Its Harbor name (`harbor.example.com/ghcr/org/app`): what every site gets.
    pub harbor_name: String,
    pub tag: String,
    pub digest: Option<String>,
    /// Cheap pre-filter: a file that holds none of these cannot hold the image.
    needles: Vec<String>,
    /// Flux image policies of the repository: a field with a `$imagepolicy` marker is
    /// bumped only when its policy names the image ([`crate::bump::flux`]).
    pub flux: crate::bump::flux::FluxPolicies,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    #[error("--image {0:?} is not a valid image name: {1}")]
    Name(String, String),
    #[error("--image takes a name without tag or digest (got {0:?}); pass the tag with --tag")]
    HasTag(String),
    #[error("invalid --tag {0:?}: {1}")]
    Tag(String, String),
    #[error("invalid --digest {0:?}: {1}")]
    Digest(String, String),
    #[error("{image} is excluded by {pattern:?} in the config: bump writes Harbor paths only")]
    Excluded { image: String, pattern: String },
    #[error("{image}: {reason} (see registries: in harborize.yaml)")]
    Unmapped { image: String, reason: String },
}

/// The Harbor name a reference's name routes to: itself when already on the Harbor host.
pub fn harbor_key(mapper: &Mapper, r: &Reference) -> Option<String> {
    mapper.cache_name(r)
}

impl Target {
    pub fn new(
        mapper: &Mapper,
        image: &str,
        tag: &str,
        digest: Option<&str>,
    ) -> Result<Self, TargetError> {
        let image = image.trim();
        let parsed = Reference::parse(image)
            .map_err(|e| TargetError::Name(image.to_string(), e.to_string()))?;
        if parsed.tag().is_some() || parsed.digest().is_some() {
            return Err(TargetError::HasTag(image.to_string()));
        }
        let harbor_name = if mapper.is_cache_host(parsed.domain()) {
            format!("{}/{}", parsed.domain().to_ascii_lowercase(), parsed.path())
        } else {
            match mapper.decide(&parsed) {
                Decision::Rewrite { name } => name,
                Decision::AlreadyProxied => unreachable!("handled above"),
                Decision::Excluded { pattern } => {
                    return Err(TargetError::Excluded {
                        image: image.to_string(),
                        pattern,
                    })
                }
                Decision::Unmapped { reason, .. } => {
                    return Err(TargetError::Unmapped {
                        image: image.to_string(),
                        reason,
                    })
                }
            }
        };
        Reference::parse(&format!("{harbor_name}:{tag}"))
            .map_err(|e| TargetError::Tag(tag.to_string(), e.to_string()))?;
        if let Some(d) = digest {
            Reference::parse(&format!("{harbor_name}@{d}"))
                .map_err(|e| TargetError::Digest(d.to_string(), e.to_string()))?;
        }
        let last = |p: &str| p.rsplit('/').next().unwrap_or(p).to_string();
        let mut needles = vec![last(parsed.path()), last(&harbor_name)];
        if let Some(upstream) = mapper.revert_name(&parsed) {
            needles.push(last(&upstream));
        }
        needles.sort();
        needles.dedup();
        Ok(Target {
            image: image.to_string(),
            harbor_name,
            tag: tag.to_string(),
            digest: digest.map(str::to_string),
            needles,
            flux: Default::default(),
        })
    }

    /// The full new reference: `harbor/project/path:tag[@digest]`.
    pub fn reference(&self) -> String {
        let mut s = format!("{}:{}", self.harbor_name, self.tag);
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }

    /// Whether `text` may hold a reference to the image: every form of one (full, short,
    /// Harbor path, Helm `repository`, kustomize `name`/`newName`) contains the image's
    /// last path component literally, upstream or Harbor.
    pub fn may_be_in(&self, text: &[u8]) -> bool {
        self.needles
            .iter()
            .any(|n| memchr::memmem::find(text, n.as_bytes()).is_some())
    }

    /// What a document must contain to be parsed by the bump: the needles of
    /// [`may_be_in`](Self::may_be_in), and the registry keys (`registry`,
    /// `imageRegistry`, ...) whose maps still need parsing: a Helm map's registry decides
    /// which image its `repository` names.
    pub(crate) fn document_words(&self) -> Vec<&str> {
        let mut words: Vec<&str> = self.needles.iter().map(String::as_str).collect();
        words.extend(REGISTRY_WORDS);
        words
    }

    /// Whether `line` names the image: a needle of [`may_be_in`](Self::may_be_in) as a
    /// whole path component (`controller` is not in `cert-manager-controller:v1`).
    fn named_in(&self, line: &[u8]) -> bool {
        let part = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
        self.needles.iter().any(|n| {
            memchr::memmem::find_iter(line, n.as_bytes()).any(|at| {
                let before = at.checked_sub(1).map(|i| line[i]);
                let after = line.get(at + n.len()).copied();
                !before.is_some_and(part) && !after.is_some_and(part)
            })
        })
    }

    /// The image's last path components, upstream and Harbor (how Flux examples name
    /// their policies).
    pub fn last_names(&self) -> Vec<&str> {
        self.needles.iter().map(String::as_str).collect()
    }

    /// Whether `name` (a name without tag) is this image, upstream or Harbor form.
    pub fn matches_name(&self, mapper: &Mapper, name: &str) -> bool {
        if name.is_empty() || is_templated(name) {
            return false;
        }
        Reference::parse_name(name)
            .ok()
            .and_then(|r| harbor_key(mapper, &r))
            .is_some_and(|k| k == self.harbor_name)
    }
}

/// Which changes of a moved remote a bump must plan again after merging: a hunk that adds a
/// line naming the image, or that sets a registry next to a line naming it (a Helm map's
/// `registry:` decides which image its `repository:` names). Anything else merges as text.
impl crate::vcs::git::Relevance for Target {
    fn may_hold(&self, content: &[u8]) -> bool {
        self.may_be_in(content)
    }

    fn hunk(&self, added: &[&[u8]], lines: &[&[u8]]) -> bool {
        added.iter().any(|l| self.named_in(l))
            || (added.iter().any(|l| sets_registry(l)) && lines.iter().any(|l| self.named_in(l)))
    }
}

/// Whether `line` sets a registry key: a registry word ([`REGISTRY_WORDS`]) ending a key,
/// that is followed (after more key characters and a closing quote, if any) by `: `, a
/// `:` ending the line, or `=` (`registry: x`, `imageRegistry:`, `"registry": "x"`,
/// `{registry: x, ...}`, `--set global.imageRegistry=x`, `IMAGE_REGISTRY=x`). A word
/// inside a value does not count: `image: registry.k8s.io/x:1` or
/// `harbor.example.com/k8s-registry/x` name another image, which a text merge keeps apart
/// from this one, while a registry key can change which image a `repository:` names.
fn sets_registry(line: &[u8]) -> bool {
    let key_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-');
    REGISTRY_WORDS.iter().any(|w| {
        memchr::memmem::find_iter(line, w.as_bytes()).any(|at| {
            let mut rest = &line[at + w.len()..];
            while let [b, tail @ ..] = rest {
                if !key_char(*b) {
                    break;
                }
                rest = tail;
            }
            let quoted = matches!(rest, [b'"' | b'\'', ..]);
            if quoted {
                rest = &rest[1..];
            }
            match rest {
                [b'=', ..] => true,
                [b':'] | [b':', b' ' | b'\t' | b'\r' | b'\n', ..] => true,
                // A quoted key may meet its value without a space (`"registry":"x"`);
                // a plain `registry.k8s.io:5000` is a host and port.
                [b':', ..] => quoted,
                _ => false,
            }
        })
    })
}

/// Substrings of every registry key a Helm map or a chart's globals can carry
/// (`registry`, `imageRegistry`, `global.imageRegistry`, `Registry` in env-style names).
const REGISTRY_WORDS: [&str; 3] = ["registry", "Registry", "REGISTRY"];

/// Options of a bump run.
#[derive(Debug, Clone, Copy, Default)]
pub struct BumpOptions {
    /// Also bump hints (env values, `--*image=` arguments).
    pub rewrite_hints: bool,
    /// Keep a unified diff of each change.
    pub diff: bool,
    /// Write the changed files (only when every file was planned and proved).
    pub write: bool,
    /// Parse every file whole, without the image pre-filter and document blanking (for
    /// the property test that compares both).
    #[doc(hidden)]
    pub unfiltered: bool,
}

/// The outcome of one bump over a set of paths.
#[derive(Debug)]
pub struct BumpRun {
    pub results: Vec<FileResult>,
    /// References to the image found (bumped, already there, or blocked).
    pub matched: usize,
    /// Files looked at (read and searched).
    pub files_scanned: usize,
    /// References that belong to the image but cannot be bumped (status `invalid`).
    pub blocked: usize,
    /// Files written.
    pub written: Vec<PathBuf>,
    /// What the render proof decided for each chart and kustomization the bump changes.
    pub render: Vec<crate::pipeline::render::Outcome>,
}

impl BumpRun {
    /// Files whose bytes change (or changed).
    pub fn changed_files(&self) -> Vec<PathBuf> {
        self.results
            .iter()
            .filter(|r| r.changed)
            .map(|r| r.path.clone())
            .collect()
    }

    pub fn errors(&self) -> usize {
        self.results.iter().filter(|r| r.error.is_some()).count()
    }

    /// Each distinct old reference that was bumped, with its new value.
    pub fn changes(&self) -> BTreeMap<String, String> {
        self.results
            .iter()
            .flat_map(|r| r.planned.iter())
            .filter(|p| p.status == Status::Rewritten)
            .filter_map(|p| p.rewritten.clone().map(|n| (p.original.clone(), n)))
            .collect()
    }
}

/// Walk the paths, plan the bump in every file (in parallel), then write all changes when
/// nothing failed. Results come back in walk order.
pub fn run(paths: &[PathBuf], mapper: &Mapper, target: &Target, opts: BumpOptions) -> BumpRun {
    run_selecting(
        paths,
        mapper,
        target,
        opts,
        &Default::default(),
        &mut Everything(target),
    )
}

/// [`run`] with the render proof: before anything is written, each chart and
/// kustomization whose inputs the bump changes is rendered before and after; a render that
/// changes beyond the bumped image lines refuses the whole bump (nothing is written).
pub fn run_proven(
    paths: &[PathBuf],
    mapper: &Mapper,
    target: &Target,
    opts: BumpOptions,
    proof: &crate::pipeline::render::ProofSettings,
) -> BumpRun {
    run_selecting(paths, mapper, target, opts, proof, &mut Everything(target))
}

/// Which planned files a bump may write ([`run_selecting`]).
#[derive(Debug)]
pub enum Pick {
    /// Every file.
    All,
    /// Only these (canonical paths); the others' references are dropped from the run.
    Keep(std::collections::BTreeSet<PathBuf>),
    /// None: the run is reported as planned and nothing is written.
    Stop,
}

/// What chooses among a bump's planned files ([`run_selecting`]), from the plan and what
/// its reads said about the repository.
pub trait Select {
    /// The Flux image policies that decide marked fields (asked once, and only when a
    /// planned field carries a marker).
    fn flux(&mut self, facts: &Facts) -> FluxPolicies;
    /// Which planned files may be written.
    fn pick(&mut self, results: &[&FileResult], facts: &Facts) -> Pick;
    /// Work to run while the picked files' writes wait for the disk (the commit's objects).
    fn alongside(&self) -> Option<engine::Alongside<'_>> {
        None
    }
}

/// Every file; markers decided by the target's policies.
struct Everything<'a>(&'a Target);

impl Select for Everything<'_> {
    fn flux(&mut self, _facts: &Facts) -> FluxPolicies {
        self.0.flux.clone()
    }

    fn pick(&mut self, _results: &[&FileResult], _facts: &Facts) -> Pick {
        Pick::All
    }
}

/// [`run_proven`], with `select` choosing among the planned files before anything is
/// proven or written (the environments of [`crate::bump::select`]). The plan is the
/// engine's ([`engine::plan_with`] with [`BumpStrategy`]), applied by [`engine::apply_with`]
/// all or nothing: every file is re-read and refused when it changed since it was planned.
pub fn run_selecting(
    paths: &[PathBuf],
    mapper: &Mapper,
    target: &Target,
    mut opts: BumpOptions,
    proof: &crate::pipeline::render::ProofSettings,
    select: &mut dyn Select,
) -> BumpRun {
    let strategy = BumpStrategy::new(mapper, target, opts, paths);
    let mut plan = engine::plan_with(paths, &strategy);
    let facts = strategy.into_facts();
    if facts.has_markers() {
        let flux = select.flux(&facts);
        facts.decide_markers(&mut plan, &flux, target, opts.rewrite_hints);
    }
    let pick = select.pick(&plan.iter().collect::<Vec<_>>(), &facts);
    // A refused selection writes nothing, so there is nothing to prove either.
    let stopped = matches!(pick, Pick::Stop);
    match pick {
        Pick::All => {}
        Pick::Stop => opts.write = false,
        Pick::Keep(keep) => {
            for r in plan.iter_mut().filter(|r| !r.planned.is_empty()) {
                let abs = r.path.canonicalize().unwrap_or_else(|_| r.path.clone());
                if !keep.contains(&abs) {
                    r.planned.clear();
                    r.changed = false;
                    r.diff = None;
                    // An edit that is not made cannot fail.
                    r.error = None;
                    r.read = None;
                }
            }
        }
    }
    let mut run = BumpRun {
        results: Vec::new(),
        matched: 0,
        files_scanned: 0,
        blocked: 0,
        written: Vec::new(),
        render: Vec::new(),
    };
    for r in &plan {
        if r.error.is_none() && r.note.is_none() {
            run.files_scanned += 1;
        }
        run.matched += r
            .planned
            .iter()
            .filter(|p| p.status != Status::Hint)
            .count();
        run.blocked += r
            .planned
            .iter()
            .filter(|p| p.status == Status::Invalid)
            .count();
    }
    let ok = run.blocked == 0 && plan.iter().all(|r| r.error.is_none());
    let (results, render) = if ok && !stopped {
        let change = crate::pipeline::render::Change::Bump {
            harbor_name: &target.harbor_name,
            tag: &target.tag,
            digest: target.digest.as_deref(),
        };
        let apply = ApplyOptions {
            diff: opts.diff,
            write: opts.write,
            all_or_nothing: true,
        };
        engine::apply_with(
            paths,
            plan,
            apply,
            proof,
            (mapper, change),
            select.alongside(),
        )
    } else {
        // Shown as planned (with the diffs asked for), never written.
        (engine::diff_plan(plan, opts.diff), Vec::new())
    };
    run.render = render;
    run.written = results
        .iter()
        .filter(|r| r.written)
        .map(|r| r.path.clone())
        .collect();
    run.results = results;
    run
}

/// A hint (an env value, a `--*image=` argument) is bumped only with `--rewrite-hints`.
pub(crate) fn as_hint(p: &mut Planned, rewrite_hints: bool) {
    if p.status == Status::Rewritten && !rewrite_hints {
        p.status = Status::Hint;
        p.message = Some("hint: bumped only with --rewrite-hints".into());
        p.edits.clear();
    }
}

/// Everything planning one file needs.
struct Ctx<'a> {
    text: &'a str,
    stream: &'a Stream,
    mapper: &'a Mapper,
    target: &'a Target,
    opts: BumpOptions,
}

/// A field that may be missing: edit it when present, insert a `key: value` line after
/// another field when not.
enum Slot<'f> {
    Present(&'f Field),
    Absent { key: &'static str },
}

impl Ctx<'_> {
    /// Plan one site: `None` when it is not a reference to the target image. The policies
    /// of Flux markers on its edited lines come with it: they decide the site once the
    /// repository's policies are known ([`Facts::decide_markers`], issue #18 item 4).
    fn plan_site(&self, site: &Site) -> Option<(Planned, Vec<String>)> {
        let mut p = match &site.shape {
            Shape::Whole(f) => self.plan_whole(site, f)?,
            Shape::HelmMap {
                registry,
                repository,
                tag,
                digest,
            } => self.plan_helm(
                site,
                registry.as_ref(),
                repository,
                tag.as_ref(),
                digest.as_ref(),
            )?,
            Shape::Kustomize {
                name,
                new_name,
                new_tag,
                tag_suffix,
                digest,
                ..
            } => self.plan_kustomize(
                site,
                name,
                new_name.as_ref(),
                new_tag.as_ref(),
                tag_suffix.as_ref(),
                digest.as_ref(),
            )?,
            Shape::ArgoKustomize { field, split } => self.plan_argo(site, field, *split)?,
            Shape::Chart {
                url,
                chart,
                version,
                oci,
            } => self.plan_chart(site, url, chart.as_deref(), version.as_ref(), *oci)?,
            Shape::RegistryOnly(_) | Shape::Partial(_) => return None,
        };
        let markers = if p.status == Status::Rewritten {
            let starts = p.edits.iter().map(|e| e.range.start);
            crate::bump::flux::markers_at(self.text, starts)
        } else {
            Vec::new()
        };
        if markers.is_empty() && site.kind == Kind::Hint {
            as_hint(&mut p, self.opts.rewrite_hints);
        }
        Some((p, markers))
    }

    fn planned(&self, site: &Site, original: String, status: Status) -> Planned {
        Planned {
            kind: site.kind,
            line: site.line,
            column: site.column,
            normalized: Reference::parse(&original).ok().map(|r| r.to_string()),
            original,
            status,
            rewritten: None,
            message: None,
            edits: Vec::new(),
        }
    }

    /// Finish a matched site: `rewritten` with its edits, `already-proxied` when the
    /// value is already there, `invalid` when an edit cannot be made.
    fn finish(&self, site: &Site, original: String, edits: Result<Vec<Edit>, String>) -> Planned {
        let new = self.target.reference();
        match edits {
            Ok(edits) if edits.is_empty() => {
                let mut p = self.planned(site, original, Status::AlreadyProxied);
                p.message = Some(format!("already at {}", self.shown_version()));
                p.rewritten = Some(new);
                p
            }
            Ok(edits) => {
                let mut p = self.planned(site, original, Status::Rewritten);
                p.rewritten = Some(new);
                p.edits = edits;
                p
            }
            Err(msg) => {
                let mut p = self.planned(site, original, Status::Invalid);
                p.rewritten = Some(new);
                p.message = Some(msg);
                p
            }
        }
    }

    fn shown_version(&self) -> String {
        match &self.target.digest {
            Some(d) => format!("{}@{d}", self.target.tag),
            None => self.target.tag.clone(),
        }
    }

    fn plan_whole(&self, site: &Site, f: &Field) -> Option<Planned> {
        if is_templated(&f.value) {
            return None;
        }
        let r = Reference::parse(&f.value).ok()?;
        if harbor_key(self.mapper, &r).as_deref() != Some(self.target.harbor_name.as_str()) {
            return None;
        }
        let new = self.target.reference();
        let edits = if f.value == new {
            Ok(Vec::new())
        } else {
            field_edit(f, &new).map(|e| vec![e])
        };
        Some(self.finish(site, f.value.clone(), edits))
    }

    /// A chart source of the image (kind `chart`): its repository URL to the Harbor form,
    /// in the form it was written (with or without `oci://`), and its version (Argo CD
    /// `targetRevision`, Flux `ref.tag`, a dependency's `version`) to the tag. A source
    /// that names no chart (Flux HelmRepository, helmfile `repositories`) is not a
    /// reference to one chart: left to `rewrite`.
    fn plan_chart(
        &self,
        site: &Site,
        url: &Field,
        chart: Option<&str>,
        version: Option<&Field>,
        oci: bool,
    ) -> Option<Planned> {
        if is_templated(&url.value) {
            return None;
        }
        let (scheme, rest) = match url.value.split_once("://") {
            Some(("oci", rest)) => ("oci://", rest),
            None if oci => ("", url.value.as_str()),
            _ => return None,
        };
        let rest = rest.trim_end_matches('/');
        let chart = chart?;
        let full = if chart.is_empty() {
            rest.to_string()
        } else {
            format!("{rest}/{chart}")
        };
        if !self.target.matches_name(self.mapper, &full) {
            return None;
        }
        let original = match version {
            Some(v) => format!("{full}:{}", v.value),
            None => full.clone(),
        };
        let edits = (|| -> Result<Vec<Edit>, String> {
            if self.target.digest.is_some() {
                return Err(
                    "a chart source is pinned by its version, not a digest: bump it with --tag only"
                        .into(),
                );
            }
            let Some(v) = version else {
                return Err(
                    "no version to set (targetRevision, ref.tag or version): add it first".into(),
                );
            };
            let harbor = &self.target.harbor_name;
            let prefix = if chart.is_empty() {
                harbor.as_str()
            } else {
                harbor.strip_suffix(&format!("/{chart}")).ok_or_else(|| {
                    format!("the Harbor path {harbor} does not end in the chart name {chart:?}")
                })?
            };
            let new_url = format!("{scheme}{prefix}");
            let mut edits = Vec::new();
            if url.value.trim_end_matches('/') != new_url {
                edits.push(field_edit(url, &new_url)?);
            }
            if v.value != self.target.tag {
                edits.push(field_edit(v, &self.target.tag)?);
            }
            Ok(edits)
        })();
        let mut p = self.finish(site, original, edits);
        p.rewritten = Some(format!(
            "{scheme}{}:{}",
            self.target.harbor_name, self.target.tag
        ));
        Some(p)
    }

    fn plan_helm(
        &self,
        site: &Site,
        registry: Option<&Field>,
        repository: &Field,
        tag: Option<&Field>,
        digest: Option<&Field>,
    ) -> Option<Planned> {
        let registry = registry.filter(|r| !r.value.is_empty());
        let name_text = match registry {
            Some(r) => format!("{}/{}", r.value.trim_end_matches('/'), repository.value),
            None => repository.value.clone(),
        };
        if !self.target.matches_name(self.mapper, &name_text) {
            return None;
        }
        let original = reference_text(&name_text, tag, digest);
        if is_templated(&original) {
            let mut p = self.planned(site, original, Status::Templated);
            p.message = Some("the tag or digest is templated; not bumped".into());
            return Some(p);
        }
        let edits = (|| -> Result<Vec<Edit>, String> {
            let mut edits = Vec::new();
            // The name: to its Harbor form, keeping the registry/repository split.
            let name = Reference::parse_name(&name_text).map_err(|e| e.to_string())?;
            if !self.mapper.is_cache_host(name.domain()) {
                match registry {
                    None => edits.push(field_edit(repository, &self.target.harbor_name)?),
                    Some(reg) => {
                        let (host, path) =
                            split_registry(&self.target.harbor_name, &name, &repository.value);
                        if host != reg.value {
                            edits.push(field_edit(reg, &host)?);
                        }
                        if path != repository.value {
                            edits.push(field_edit(repository, &path)?);
                        }
                    }
                }
            }
            let tag_slot = match tag {
                Some(t) => Slot::Present(t),
                None => Slot::Absent { key: "tag" },
            };
            let mut inserted_after = Vec::new();
            self.set(
                &mut edits,
                &tag_slot,
                &self.target.tag,
                repository,
                &mut inserted_after,
            )?;
            self.set_digest(
                &mut edits,
                digest,
                "digest",
                tag.unwrap_or(repository),
                &mut inserted_after,
            )?;
            Ok(edits)
        })();
        Some(self.finish(site, original, edits))
    }

    #[allow(clippy::too_many_arguments)]
    fn plan_kustomize(
        &self,
        site: &Site,
        name: &Field,
        new_name: Option<&Field>,
        new_tag: Option<&Field>,
        tag_suffix: Option<&Field>,
        digest: Option<&Field>,
    ) -> Option<Planned> {
        // The entry deploys `newName` when it has one, else `name`.
        let effective = new_name.unwrap_or(name);
        if !self.target.matches_name(self.mapper, &effective.value) {
            return None;
        }
        let original = reference_text(&effective.value, new_tag, digest);
        if is_templated(&original) {
            let mut p = self.planned(site, original, Status::Templated);
            p.message = Some("the entry is templated; not bumped".into());
            return Some(p);
        }
        let edits = (|| -> Result<Vec<Edit>, String> {
            if tag_suffix.is_some() {
                return Err("the entry has tagSuffix: bump cannot set its tag exactly".into());
            }
            let mut edits = Vec::new();
            let mut inserted_after = Vec::new();
            // `name` keeps matching the images as written in the resources (which may lie
            // outside the bumped paths); `newName` carries the Harbor name.
            if effective.value != self.target.harbor_name {
                let slot = match new_name {
                    Some(n) => Slot::Present(n),
                    None => Slot::Absent { key: "newName" },
                };
                self.set(
                    &mut edits,
                    &slot,
                    &self.target.harbor_name,
                    name,
                    &mut inserted_after,
                )?;
            }
            let tag_slot = match new_tag {
                Some(t) => Slot::Present(t),
                None => Slot::Absent { key: "newTag" },
            };
            let after = new_name.unwrap_or(name);
            self.set(
                &mut edits,
                &tag_slot,
                &self.target.tag,
                after,
                &mut inserted_after,
            )?;
            self.set_digest(
                &mut edits,
                digest,
                "digest",
                new_tag.unwrap_or(after),
                &mut inserted_after,
            )?;
            Ok(edits)
        })();
        Some(self.finish(site, original, edits))
    }

    fn plan_argo(&self, site: &Site, f: &Field, split: Option<usize>) -> Option<Planned> {
        let original = f.value.clone();
        if is_templated(&original) {
            return None;
        }
        let new_value = match split {
            Some(i) => {
                let (written_name, image) = (&original[..i], &original[i + 1..]);
                let hit = Reference::parse(image)
                    .ok()
                    .and_then(|r| harbor_key(self.mapper, &r))
                    .is_some_and(|k| k == self.target.harbor_name);
                if !hit {
                    return None;
                }
                format!("{written_name}={}", self.target.reference())
            }
            None => {
                let r = Reference::parse(&original).ok()?;
                if harbor_key(self.mapper, &r).as_deref() != Some(self.target.harbor_name.as_str())
                {
                    return None;
                }
                let written_name = &original[..original.len() - r.suffix().len()];
                format!("{written_name}={}", self.target.reference())
            }
        };
        let edits = if new_value == original {
            Ok(Vec::new())
        } else {
            field_edit(f, &new_value).map(|e| vec![e])
        };
        let mut p = self.finish(site, original, edits);
        if p.status == Status::Rewritten {
            p.rewritten = Some(new_value);
        }
        Some(p)
    }

    /// Set a digest slot: the new digest when given; a pinned digest without `--digest`
    /// would keep the old image running, so it blocks the bump.
    fn set_digest(
        &self,
        edits: &mut Vec<Edit>,
        digest: Option<&Field>,
        key: &'static str,
        after: &Field,
        inserted_after: &mut Vec<usize>,
    ) -> Result<(), String> {
        match (&self.target.digest, digest) {
            (Some(d), Some(f)) => self.set(edits, &Slot::Present(f), d, after, inserted_after),
            (Some(d), None) => self.set(edits, &Slot::Absent { key }, d, after, inserted_after),
            (None, Some(f)) if !f.value.is_empty() => Err(format!(
                "pinned by digest {}: pass --digest to bump it",
                f.value
            )),
            (None, _) => Ok(()),
        }
    }

    /// Give a slot a value: edit the field, or insert `key: value` on a new line after
    /// `after` (one insertion per anchor field).
    fn set(
        &self,
        edits: &mut Vec<Edit>,
        slot: &Slot<'_>,
        value: &str,
        after: &Field,
        inserted_after: &mut Vec<usize>,
    ) -> Result<(), String> {
        match slot {
            Slot::Present(f) => {
                if f.value != value {
                    edits.push(field_edit(f, value)?);
                }
                Ok(())
            }
            Slot::Absent { key } => {
                if inserted_after.contains(&after.owner) {
                    return Err(format!(
                        "{key}: is missing and cannot be added next to another new line; add {key}: to the entry"
                    ));
                }
                let e = self.insertion(after, key, value)?;
                inserted_after.push(after.owner);
                edits.push(e);
                Ok(())
            }
        }
    }

    /// An edit that inserts `key: value` as a new line right after the line of `after`,
    /// indented like `after`'s key.
    fn insertion(&self, after: &Field, key: &str, value: &str) -> Result<Edit, String> {
        let cannot = |why: &str| format!("{key}: is missing and cannot be added here ({why})");
        let range = after
            .file_range
            .clone()
            .ok_or_else(|| cannot("the neighbouring scalar is not plain single-line"))?;
        let owner = scalar_by_ordinal(self.stream, after.owner)
            .ok_or_else(|| cannot("scalar not found"))?;
        if owner.content() != Some(range) {
            return Err(cannot("inside an embedded YAML string"));
        }
        let map = parent_map(self.stream, after.owner).ok_or_else(|| cannot("not in a map"))?;
        if map
            .iter()
            .any(|(k, _)| k.as_scalar().is_some_and(|s| s.value == key))
        {
            return Err(format!("{key}: is empty or not a string; set it first"));
        }
        let text = self.text;
        let token_end = owner.token().end;
        let line_start = text[..owner.token().start].rfind('\n').map_or(0, |i| i + 1);
        let mut line_end = text[token_end..]
            .find('\n')
            .map_or(text.len(), |i| token_end + i);
        let crlf = line_end > 0 && text.as_bytes().get(line_end - 1) == Some(&b'\r');
        if crlf {
            line_end -= 1;
        }
        let tail = text[token_end..line_end].trim();
        if !tail.is_empty() && !tail.starts_with('#') {
            return Err(cannot("flow style"));
        }
        // `  - name: x` or `    tag: v1`: the key starts after the last `- ` or space.
        let head = &text[line_start..owner.token().start];
        let before_colon = head
            .trim_end()
            .strip_suffix(':')
            .ok_or_else(|| cannot("the value is not on its key's line"))?;
        let key_start = before_colon.rfind([' ', '-']).map_or(0, |i| i + 1);
        let lead = &before_colon[..key_start];
        if lead.chars().any(|c| c != ' ' && c != '-') || before_colon[key_start..].is_empty() {
            return Err(cannot("unusual layout"));
        }
        let indent = " ".repeat(lead.chars().count());
        let (encoded, _) =
            quote::encode(value, Style::Plain).ok_or_else(|| cannot("the value needs escapes"))?;
        let eol = if crlf || (line_end == text.len() && text.contains("\r\n")) {
            "\r\n"
        } else {
            "\n"
        };
        Ok(Edit {
            range: line_end..line_end,
            text: format!("{eol}{indent}{key}: {encoded}"),
            owner: after.owner,
            value_range: 0..0,
            insert: Some((key.to_string(), value.to_string())),
            requote: None,
        })
    }
}

/// Split a Harbor name into (registry, repository) for a Helm map with a registry field,
/// keeping the repository as the chart knows it (`library/` for Docker Hub included).
fn split_registry(new_name: &str, old: &Reference, old_repo: &str) -> (String, String) {
    crate::pipeline::plan::split_registry(
        new_name,
        old,
        old_repo,
        crate::pipeline::plan::Direction::Forward,
    )
}

fn scalar_by_ordinal(stream: &Stream, ordinal: usize) -> Option<&Scalar> {
    fn go(node: &Node, ordinal: usize) -> Option<&Scalar> {
        match node {
            Node::Scalar(s) => (s.ordinal() == ordinal).then_some(s),
            Node::Seq(items) => items.iter().find_map(|n| go(n, ordinal)),
            Node::Map(entries) => entries
                .iter()
                .find_map(|(k, v)| go(k, ordinal).or_else(|| go(v, ordinal))),
            Node::Alias(_) => None,
        }
    }
    stream.documents.iter().find_map(|d| go(d, ordinal))
}

/// The mapping whose value is the scalar with this ordinal.
fn parent_map(stream: &Stream, ordinal: usize) -> Option<&[(Node, Node)]> {
    fn go(node: &Node, ordinal: usize) -> Option<&[(Node, Node)]> {
        match node {
            Node::Map(entries) => {
                let here = entries
                    .iter()
                    .any(|(_, v)| v.as_scalar().is_some_and(|s| s.ordinal() == ordinal));
                if here {
                    return Some(entries);
                }
                entries.iter().find_map(|(_, v)| go(v, ordinal))
            }
            Node::Seq(items) => items.iter().find_map(|n| go(n, ordinal)),
            _ => None,
        }
    }
    stream.documents.iter().find_map(|d| go(d, ordinal))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vcs::git::Relevance;

    fn target() -> Target {
        let config = crate::config::Config::from_user(Default::default(), None).unwrap();
        let mapper = Mapper::new(&config, "harbor.example.com");
        Target::new(&mapper, "ghcr.io/org/app", "v2", None).unwrap()
    }

    #[test]
    fn registry_keys_are_told_from_registry_words_in_values() {
        for key in [
            "    registry: ghcr.io",
            "    registry:",
            "  imageRegistry: harbor.example.com",
            "  - registry: docker.io",
            r#"  "registry": "ghcr.io","#,
            r#"{"registry":"ghcr.io"}"#,
            "  'registry': ghcr.io",
            "  image: {registry: ghcr.io, repository: org/app}",
            "  - --set=global.imageRegistry=harbor.example.com",
            "      - IMAGE_REGISTRY=ghcr.io",
            "  IMAGE_REGISTRY: ghcr.io",
        ] {
            assert!(sets_registry(key.as_bytes()), "{key:?} sets a registry");
        }
        for value in [
            "    image: registry.k8s.io/ingress-nginx/controller:v1.11.2",
            "    image: harbor.example.com/k8s-registry/sig-storage/csi-attacher:v4",
            "    image: my-registry:5000/team/app:1",
            "    image: registry.k8s.io:443/pause:3.9",
            "    repository: registry",
            "  # the registry moved",
        ] {
            assert!(
                !sets_registry(value.as_bytes()),
                "{value:?} sets no registry"
            );
        }
    }

    #[test]
    fn a_remote_hunk_matters_when_it_names_the_image_or_sets_a_registry_beside_it() {
        let t = target();
        let ours = b"    repository: org/app".as_slice();
        let other = b"    image: harbor.example.com/k8s-registry/other:v2".as_slice();
        let registry = b"    registry: harbor.example.com/ghcr".as_slice();
        // A line naming the image.
        assert!(t.hunk(&[ours], &[ours]));
        // A registry key set beside the image's repository.
        assert!(t.hunk(&[registry], &[registry, ours]));
        // A registry key away from the image, or another image whose value says "registry".
        assert!(!t.hunk(&[registry], &[registry]));
        assert!(!t.hunk(&[other], &[other, ours]));
    }
}
