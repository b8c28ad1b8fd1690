//! From sites to decisions and byte edits: what each reference becomes and which bytes
//! change. Runs the mapper on the composed reference of each site (an image map or a
//! kustomize entry is one reference) and turns a rewrite into edits of its fields.

pub mod charts;
pub(crate) mod helm;

use crate::mapping::{Decision, Mapper};
use crate::pipeline::locate::{Field, Kind, Shape, Site};
use crate::reference::{is_templated, Reference};
use crate::yaml::edit::Edit;
use crate::yaml::quote;

/// The status of a reference (the JSON `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Rewritten,
    AlreadyProxied,
    Excluded,
    Unmapped,
    Templated,
    Invalid,
    Hint,
    /// A Helm image whose composition depends on a chart harborize does not know.
    Ambiguous,
}

/// Direction of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Upstream → Harbor.
    Forward,
    /// Harbor → upstream (`--revert`).
    Revert,
}

/// Options that change the plan.
#[derive(Debug, Clone, Copy)]
pub struct PlanOptions {
    pub direction: Direction,
    pub rewrite_hints: bool,
    /// Parse every YAML document in full (`--parse-every-document`), also those the
    /// skim ([`crate::yaml::skim`]) would blank because they cannot hold a reference.
    pub every_document: bool,
}

/// One reference and what happens to it.
#[derive(Debug, Clone)]
pub struct Planned {
    pub kind: Kind,
    pub line: usize,
    pub column: usize,
    pub original: String,
    pub normalized: Option<String>,
    pub status: Status,
    pub rewritten: Option<String>,
    pub message: Option<String>,
    pub edits: Vec<Edit>,
}

/// What a name becomes.
pub(crate) enum NameOutcome {
    To(String),
    Stay(Status, Option<String>),
}

pub(crate) fn decide_name(mapper: &Mapper, name: &Reference, direction: Direction) -> NameOutcome {
    // `Docker.io/nginx` is valid grammar, but runtimes compare domains as written: they
    // do not treat it as Docker Hub (no `library/`, no registry-1 endpoint), so routing
    // it to Docker Hub's project would change what the cluster runs. Say so instead.
    if name.domain().bytes().any(|b| b.is_ascii_uppercase()) && !mapper.is_cache_host(name.domain())
    {
        return NameOutcome::Stay(
            Status::Invalid,
            Some(format!(
                "registry domain {:?} is not lowercase: runtimes treat it as a host of its own, not as {:?}; write it in lowercase",
                name.domain(),
                name.domain().to_ascii_lowercase()
            )),
        );
    }
    match direction {
        Direction::Forward => match mapper.decide(name) {
            Decision::Rewrite { name } => NameOutcome::To(name),
            Decision::AlreadyProxied => NameOutcome::Stay(Status::AlreadyProxied, None),
            Decision::Excluded { pattern } => {
                NameOutcome::Stay(Status::Excluded, Some(format!("excluded by {pattern:?}")))
            }
            Decision::Unmapped { reason, .. } => NameOutcome::Stay(Status::Unmapped, Some(reason)),
        },
        Direction::Revert => match mapper.revert_name(name) {
            Some(upstream) => NameOutcome::To(upstream),
            None if mapper.is_cache_host(name.domain()) => NameOutcome::Stay(
                Status::AlreadyProxied,
                Some(format!(
                    "{} is not a known proxy cache",
                    mapper.kind().project_word()
                )),
            ),
            None => NameOutcome::Stay(Status::Excluded, Some("not a Harbor path".into())),
        },
    }
}

/// Build the edit that replaces a field's value (or a suffix of it). A plain field whose
/// new value would read as a number, bool, null or date (a tag `1234567`) is written
/// quoted, so it stays the string it was.
pub(crate) fn field_edit(field: &Field, new_value: &str) -> Result<Edit, String> {
    let range = field.file_range.clone().ok_or_else(|| {
        "the scalar cannot be edited in place (escapes, line folding or block style)".to_string()
    })?;
    let (text, requote) = quote::encode(new_value, field.style)
        .ok_or_else(|| format!("{new_value:?} cannot be written in this scalar's quoting style"))?;
    Ok(Edit {
        range,
        text,
        owner: field.owner,
        value_range: field.value_range.clone(),
        insert: None,
        requote,
    })
}

impl Planned {
    pub(crate) fn stay(
        site: &Site,
        original: String,
        status: Status,
        message: Option<String>,
    ) -> Self {
        Planned {
            kind: site.kind,
            line: site.line,
            column: site.column,
            original,
            normalized: None,
            status,
            rewritten: None,
            message,
            edits: Vec::new(),
        }
    }
}

/// Plan one site.
pub fn plan_site(site: &Site, mapper: &Mapper, opts: PlanOptions) -> Planned {
    let mut planned = match &site.shape {
        Shape::Whole(f) => plan_whole(site, f, mapper, opts),
        Shape::HelmMap {
            registry,
            repository,
            tag,
            digest,
        } => crate::pipeline::plan::helm::plan_helm_map(
            site,
            registry.as_ref(),
            repository,
            tag.as_ref(),
            digest.as_ref(),
            mapper,
            opts,
        ),
        Shape::RegistryOnly(f) => plan_registry(site, f, mapper, opts),
        Shape::Partial(f) => Planned::stay(
            site,
            format!(":{}", f.value),
            Status::Unmapped,
            Some("partial image map: the repository comes from the chart's defaults; set repository or a registry key to route it".into()),
        ),
        Shape::Kustomize { .. } => plan_kustomize(site, mapper, opts),
        Shape::ArgoKustomize { field, split } => plan_argo_kustomize(site, field, *split, mapper, opts),
        Shape::Chart {
            url,
            chart,
            version,
            oci,
        } => charts::plan_chart(
            site,
            url,
            (
                chart.as_deref(),
                version.as_ref().map(|v| v.value.as_str()),
                *oci,
            ),
            mapper,
            opts,
        ),
    };
    if site.kind == Kind::Hint && planned.status == Status::Rewritten && !opts.rewrite_hints {
        planned.status = Status::Hint;
        planned.edits.clear();
    }
    if planned.status == Status::Rewritten
        && site.flux_name_setter
        && opts.direction == Direction::Forward
    {
        planned.message = Some(
            "Flux image automation will set this name back unless its ImageRepository also points at Harbor".into(),
        );
    }
    planned
}

pub(crate) fn finish(
    site: &Site,
    original: String,
    normalized: Option<String>,
    rewritten: String,
    edits: Result<Vec<Edit>, String>,
) -> Planned {
    let mut p = Planned::stay(site, original, Status::Rewritten, None);
    p.normalized = normalized;
    // The last line of defence against a config that routes to an invalid path (a rule
    // capture that is not a path component): nothing invalid is ever written.
    // Kustomize entries show `name=newName`; the written reference is the right side.
    let written = rewritten.rsplit('=').next().unwrap_or(&rewritten);
    let invalid = Reference::parse(written).err();
    p.rewritten = Some(rewritten);
    if let Some(e) = invalid {
        p.status = Status::Invalid;
        p.message = Some(format!("the routed reference would not be valid: {e}"));
        return p;
    }
    match edits {
        Ok(e) => p.edits = e,
        Err(msg) => {
            p.status = Status::Invalid;
            p.message = Some(msg);
        }
    }
    p
}

fn plan_whole(site: &Site, f: &Field, mapper: &Mapper, opts: PlanOptions) -> Planned {
    let original = f.value.clone();
    if is_templated(&original) {
        return Planned::stay(site, original, Status::Templated, None);
    }
    let r = match Reference::parse(&original) {
        Ok(r) => r,
        Err(e) => return Planned::stay(site, original, Status::Invalid, Some(e.to_string())),
    };
    let normalized = Some(r.to_string());
    match decide_name(mapper, &r, opts.direction) {
        NameOutcome::To(name) => {
            let new = format!("{name}{}", r.suffix());
            let edit = field_edit(f, &new).map(|e| vec![e]);
            finish(site, original, normalized, new, edit)
        }
        NameOutcome::Stay(status, msg) => {
            let mut p = Planned::stay(site, original, status, msg);
            p.normalized = normalized;
            p
        }
    }
}

/// `name[:tag][@digest]` from a name and the tag and digest fields.
pub(crate) fn reference_text(name: &str, tag: Option<&Field>, digest: Option<&Field>) -> String {
    let mut s = name.to_string();
    if let Some(t) = tag.filter(|t| !t.value.is_empty()) {
        s.push(':');
        s.push_str(&t.value);
    }
    if let Some(d) = digest.filter(|d| !d.value.is_empty()) {
        s.push('@');
        s.push_str(&d.value);
    }
    s
}

/// Split a new name into (registry, repository) for a Helm map with a registry field.
/// Forward: `harbor/docker-hub/bitnami/nginx` → (`harbor/docker-hub`, `bitnami/nginx`);
/// revert: `bitnami/nginx` → (`docker.io`, `bitnami/nginx`).
pub(crate) fn split_registry(
    new_name: &str,
    old: &Reference,
    old_repo: &str,
    direction: Direction,
) -> (String, String) {
    match direction {
        Direction::Forward => {
            // The upstream path as the runtime sees it (`library/` for Docker Hub).
            let path = old.path();
            let repo = if path != old_repo && path.ends_with(old_repo) && !old_repo.contains('/') {
                path.to_string()
            } else {
                old_repo.to_string()
            };
            match new_name.strip_suffix(&format!("/{repo}")) {
                Some(prefix) => (prefix.to_string(), repo),
                None => match new_name.split_once('/') {
                    Some((h, p)) => (h.to_string(), p.to_string()),
                    None => (new_name.to_string(), String::new()),
                },
            }
        }
        Direction::Revert => match Reference::parse_name(new_name) {
            Ok(r) => {
                let familiar = r.familiar_name();
                let path = familiar
                    .strip_prefix(&format!("{}/", r.domain()))
                    .map_or(familiar.clone(), str::to_string);
                (r.domain().to_string(), path)
            }
            Err(_) => (new_name.to_string(), old_repo.to_string()),
        },
    }
}

fn plan_registry(site: &Site, f: &Field, mapper: &Mapper, opts: PlanOptions) -> Planned {
    let original = f.value.clone();
    if is_templated(&original) {
        return Planned::stay(site, original, Status::Templated, None);
    }
    // Probe with a placeholder repository: the decision depends only on the registry.
    let probe_text = format!("{}/harborize-probe", original.trim_end_matches('/'));
    let probe = match Reference::parse_name(&probe_text) {
        Ok(r)
            if original.contains('.')
                || original.contains(':')
                || original == "localhost"
                || original.contains('/') =>
        {
            r
        }
        _ => {
            return Planned::stay(
                site,
                original,
                Status::Invalid,
                Some("not a registry host".into()),
            );
        }
    };
    match decide_name(mapper, &probe, opts.direction) {
        NameOutcome::To(name) => {
            let new = name.trim_end_matches("/harborize-probe").to_string();
            let new = match opts.direction {
                // `harbor/docker-hub/library/harborize-probe` → keep the project only.
                Direction::Forward => new
                    .strip_suffix("/library")
                    .map_or(new.clone(), str::to_string),
                Direction::Revert => {
                    Reference::parse_name(&name).map_or(new.clone(), |r| r.domain().to_string())
                }
            };
            let edit = field_edit(f, &new).map(|e| vec![e]);
            finish(site, original, None, new, edit)
        }
        NameOutcome::Stay(status, msg) => Planned::stay(site, original, status, msg),
    }
}

fn plan_kustomize(site: &Site, mapper: &Mapper, opts: PlanOptions) -> Planned {
    let Shape::Kustomize {
        name,
        new_name,
        new_tag,
        tag_suffix,
        digest,
        remote,
        insert_at,
    } = &site.shape
    else {
        unreachable!()
    };
    // A name with a tag (`HARBOR/…/mysql:5.6`, written by `kustomize_matchers` so that
    // it matches only that tag) names the image without it.
    let untagged = match (new_name, Reference::parse(&name.value)) {
        (None, Ok(r)) if r.tag().is_some() && Reference::parse_name(&name.value).is_err() => {
            Some(Field {
                value: name.value[..name.value.len() - r.suffix().len()].to_string(),
                ..name.clone()
            })
        }
        _ => None,
    };
    let effective = new_name.as_ref().or(untagged.as_ref()).unwrap_or(name);
    // `tagSuffix` extends the tag; shown as part of it.
    let suffixed_tag = tag_suffix.as_ref().map(|s| Field {
        value: format!(
            "{}{}",
            new_tag.as_ref().map_or("", |t| t.value.as_str()),
            s.value
        ),
        ..s.clone()
    });
    let new_tag = &suffixed_tag.or_else(|| new_tag.clone());
    let original = reference_text(&effective.value, new_tag.as_ref(), digest.as_ref());
    let shown_original = match new_name {
        Some(n) => format!(
            "{} => {}",
            name.value,
            reference_text(&n.value, new_tag.as_ref(), digest.as_ref())
        ),
        None => original.clone(),
    };
    if is_templated(&original) {
        return Planned::stay(site, shown_original, Status::Templated, None);
    }
    let decide = |f: &Field| -> Result<NameOutcome, String> {
        let r = Reference::parse_name(&f.value).map_err(|e| e.to_string())?;
        Ok(decide_name(mapper, &r, opts.direction))
    };
    let effective_outcome = match decide(effective) {
        Ok(o) => o,
        Err(e) => return Planned::stay(site, shown_original, Status::Invalid, Some(e)),
    };
    let normalized = Reference::parse(&original).ok().map(|r| r.to_string());
    let NameOutcome::To(target) = effective_outcome else {
        let NameOutcome::Stay(status, msg) = effective_outcome else {
            unreachable!()
        };
        let mut p = Planned::stay(site, shown_original, status, msg);
        p.normalized = normalized;
        return p;
    };
    let rewritten = reference_text(&target, new_tag.as_ref(), digest.as_ref());
    let mut edits = Vec::new();
    let result: Result<(), String> = (|| {
        // `name` is a matcher: kustomize compares it, as written, with the images of the
        // resources (which may be remote, outside the paths given, or shared), so it stays
        // as the user wrote it and `newName` routes the match through Harbor. Entries for
        // the names local bases get when they are rewritten too are added by
        // `kustomize_matchers`. A revert puts back the name an earlier version rewrote.
        if opts.direction == Direction::Revert && !*remote {
            if let Ok(NameOutcome::To(n)) = decide(untagged.as_ref().unwrap_or(name)) {
                // A tagged matcher keeps its tag.
                let tag = untagged
                    .as_ref()
                    .map_or("", |u| &name.value[u.value.len()..]);
                edits.push(field_edit(name, &format!("{n}{tag}"))?);
            }
        }
        match new_name {
            Some(nn) => edits.push(field_edit(nn, &target)?),
            None if opts.direction == Direction::Forward || *remote => {
                let (at, prefix) = insert_at
                    .clone()
                    .ok_or("no room for a newName line in this entry (flow style)")?;
                edits.push(Edit {
                    range: at..at,
                    text: format!("{prefix}{target}"),
                    owner: name.owner,
                    value_range: 0..0,
                    insert: Some(("newName".into(), target.clone())),
                    requote: None,
                });
            }
            None => {}
        }
        Ok(())
    })();
    finish(
        site,
        shown_original,
        normalized,
        rewritten,
        result.map(|_| edits),
    )
}

fn plan_argo_kustomize(
    site: &Site,
    f: &Field,
    split: Option<usize>,
    mapper: &Mapper,
    opts: PlanOptions,
) -> Planned {
    let original = f.value.clone();
    if is_templated(&original) {
        return Planned::stay(site, original, Status::Templated, None);
    }
    let (target_text, offset) = match split {
        Some(i) => (&original[i + 1..], i + 1),
        None => (original.as_str(), 0),
    };
    let r = match Reference::parse(target_text) {
        Ok(r) => r,
        Err(e) => return Planned::stay(site, original, Status::Invalid, Some(e.to_string())),
    };
    match decide_name(mapper, &r, opts.direction) {
        NameOutcome::To(name) => {
            let new_target = format!("{name}{}", r.suffix());
            let (new_value, edit) = match split {
                Some(_) => {
                    let sub = Field {
                        value: target_text.to_string(),
                        column: f.column + offset,
                        value_range: f.value_range.start + offset..f.value_range.end,
                        file_range: f.file_range.as_ref().map(|x| x.start + offset..x.end),
                        ..f.clone()
                    };
                    (
                        format!("{}={new_target}", &original[..offset - 1]),
                        field_edit(&sub, &new_target),
                    )
                }
                // `name:tag` keeps matching `name` and gains the Harbor name.
                None => {
                    let written_name = &original[..original.len() - r.suffix().len()];
                    let v = format!("{written_name}={new_target}");
                    let e = field_edit(f, &v);
                    (v, e)
                }
            };
            let mut p = finish(
                site,
                original,
                Some(r.to_string()),
                new_value,
                edit.map(|e| vec![e]),
            );
            p.normalized = Some(r.to_string());
            p
        }
        NameOutcome::Stay(status, msg) => Planned::stay(site, original, status, msg),
    }
}

/// The Harbor reference a planned site ends up as (rewritten, or already there).
pub fn final_reference(p: &Planned) -> Option<Reference> {
    match p.status {
        Status::Rewritten => p.rewritten.as_deref().and_then(|r| {
            // Argo `name=ref` strings carry the reference after `=`.
            Reference::parse(r.rsplit('=').next().unwrap_or(r)).ok()
        }),
        Status::AlreadyProxied => p
            .normalized
            .as_deref()
            .and_then(|n| Reference::parse(n).ok()),
        _ => None,
    }
}

/// Pin a planned site to the digest Harbor returned for its reference
/// (`name:tag@sha256:...`), through the same byte edits. Shapes without a place for a
/// digest keep their plan and say why.
pub fn pin_site(
    site: &Site,
    mut planned: Planned,
    mapper: &Mapper,
    pins: &std::collections::BTreeMap<String, String>,
) -> Planned {
    let Some(target) = final_reference(&planned).filter(|_| site.kind != Kind::Chart) else {
        return planned;
    };
    if !mapper.is_cache_host(target.domain()) {
        return planned;
    }
    let Some(digest) = pins.get(&target.to_string()) else {
        return planned;
    };
    if target.digest() == Some(digest.as_str()) {
        return planned;
    }
    let pinned_text = match target.tag() {
        Some(t) => format!("{}:{t}@{digest}", target.name()),
        None => format!("{}@{digest}", target.name()),
    };
    let result: Result<Vec<Edit>, String> = match &site.shape {
        Shape::Whole(f) if site.kind != Kind::Hint || planned.status == Status::Rewritten => {
            // Replace the whole value: the Harbor name as planned plus tag and digest.
            let name = match planned.status {
                Status::Rewritten => planned.rewritten.clone().unwrap_or_default(),
                _ => f.value.clone(),
            };
            let written = Reference::parse(&name).map(|r| {
                let base = &name[..name.len() - r.suffix().len()];
                match r.tag() {
                    Some(t) => format!("{base}:{t}@{digest}"),
                    None => format!("{base}@{digest}"),
                }
            });
            match written {
                Ok(w) => field_edit(f, &w).map(|e| vec![e]),
                Err(e) => Err(e.to_string()),
            }
        }
        Shape::HelmMap {
            digest: Some(d), ..
        }
        | Shape::Kustomize {
            digest: Some(d), ..
        } => {
            let mut edits = std::mem::take(&mut planned.edits);
            field_edit(d, digest).map(|e| {
                edits.push(e);
                edits
            })
        }
        _ => Err("no digest field to pin in this entry".into()),
    };
    match result {
        Ok(edits) => {
            planned.edits = edits;
            planned.status = Status::Rewritten;
            planned.rewritten = Some(pinned_text);
            planned.message = Some("pinned to the digest Harbor returned".into());
        }
        Err(msg) => planned.message = Some(format!("not pinned: {msg}")),
    }
    planned
}
