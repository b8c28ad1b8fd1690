//! The plan of one Helm image map: its composed reference (as the chart renders it) is
//! what is mapped, and the edit goes where the chart reads each part from.
//!
//! A registry in scope (the map's own, or the values' global one) takes the Harbor
//! registry and project (`registry: docker.io` → `harbor/docker-hub`, `ghcr.io/traefik`
//! → `harbor/ghcr/traefik`), and the path stays in its own field (gaining `library/`
//! only when Docker Hub needs it): a path field next to a registry is never turned into
//! a full reference, or the chart would render `harbor/…/harbor/…`. A chart that puts a
//! default registry in front of a bare path gets that registry written into the override
//! map; a map whose chart is unknown is `ambiguous` and left alone.

use crate::mapping::Mapper;
use crate::pipeline::locate::helm::Composition;
use crate::pipeline::locate::{Field, Site};
use crate::pipeline::plan::{
    decide_name, field_edit, finish, reference_text, split_registry, Direction, NameOutcome,
    PlanOptions, Planned, Status,
};
use crate::reference::{is_templated, Reference};
use crate::yaml::edit::Edit;

/// Plan one Helm image map (see the module docs).
pub(crate) fn plan_helm_map(
    site: &Site,
    registry: Option<&Field>,
    repository: &Field,
    tag: Option<&Field>,
    digest: Option<&Field>,
    mapper: &Mapper,
    opts: PlanOptions,
) -> Planned {
    let registry = registry.filter(|r| !r.value.is_empty());
    let composition = match (&site.helm, registry) {
        (_, Some(_)) => Composition::Registry,
        (Some(info), None) => info.composition.clone(),
        (None, None) => Composition::Full,
    };
    // The registry part as the chart composes it (charts `trimSuffix "/"` the registry).
    let prefix = match (&composition, registry) {
        (Composition::Registry, Some(r)) => Some(r.value.trim_end_matches('/').to_string()),
        (Composition::ChartDefault { registry, .. }, _) => {
            Some(registry.trim_end_matches('/').to_string())
        }
        _ => None,
    };
    let name_text = match &prefix {
        Some(p) => format!("{p}/{}", repository.value),
        None => repository.value.clone(),
    };
    let original = reference_text(&name_text, tag, digest);
    if is_templated(&original) {
        return Planned::stay(site, original, Status::Templated, None);
    }
    match &composition {
        Composition::Ambiguous(why) => {
            return Planned::stay(site, original, Status::Ambiguous, Some(why.clone()))
        }
        Composition::Unresolved => {
            let why = "the chart composing this image map is unknown".to_string();
            return Planned::stay(site, original, Status::Ambiguous, Some(why));
        }
        _ => {}
    }
    let name = match Reference::parse_name(&name_text) {
        Ok(r) => r,
        Err(e) => return Planned::stay(site, original, Status::Invalid, Some(e.to_string())),
    };
    let normalized = Reference::parse(&original).ok().map(|r| r.to_string());
    let new_name = match decide_name(mapper, &name, opts.direction) {
        NameOutcome::To(n) => n,
        NameOutcome::Stay(status, msg) => {
            let mut p = Planned::stay(site, original, status, msg);
            p.normalized = normalized;
            return p;
        }
    };
    let rewritten = reference_text(&new_name, tag, digest);
    let edits = match (&composition, registry) {
        (Composition::Registry, Some(reg)) => {
            registry_edits(reg, repository, &new_name, &name, opts.direction)
        }
        (Composition::ChartDefault { key, .. }, _) => {
            chart_default_edits(site, key, repository, &new_name, &name, opts.direction)
        }
        _ => field_edit(repository, &new_name).map(|e| vec![e]),
    };
    let mut p = finish(site, original, normalized, rewritten, edits);
    if let (Composition::ChartDefault { registry, key }, Status::Rewritten) =
        (&composition, p.status)
    {
        p.message = Some(format!(
            "the chart composes {key}: {registry} in front of the repository; {key} added"
        ));
    }
    p
}

/// Edits of a map with a registry field: the registry takes the Harbor part, the path
/// stays in its field (plus `library/` where Docker Hub needs it).
fn registry_edits(
    reg: &Field,
    repository: &Field,
    new_name: &str,
    old: &Reference,
    direction: Direction,
) -> Result<Vec<Edit>, String> {
    let written = reg.value.trim_end_matches('/');
    let slash = &reg.value[written.len()..];
    let keep_path = format!("/{}", repository.value);
    let (host, path) = match new_name.strip_suffix(&keep_path) {
        // `docker.io/library` + `traefik` → `harbor/docker-hub/library` + `traefik`.
        Some(head) if written.contains('/') && direction == Direction::Forward => {
            (head.to_string(), repository.value.clone())
        }
        _ => split_registry(new_name, old, &repository.value, direction),
    };
    let mut edits = vec![field_edit(reg, &format!("{host}{slash}"))?];
    if path != repository.value {
        edits.push(field_edit(repository, &path)?);
    }
    Ok(edits)
}

/// Edits of an override map whose chart puts a default registry in front of the path:
/// a `registry:` line (the chart's key) with the Harbor part is added to the map.
fn chart_default_edits(
    site: &Site,
    key: &str,
    repository: &Field,
    new_name: &str,
    old: &Reference,
    direction: Direction,
) -> Result<Vec<Edit>, String> {
    let (host, path) = split_registry(new_name, old, &repository.value, direction);
    let (at, prefix) = site
        .helm
        .as_ref()
        .and_then(|h| h.insert_at.clone())
        .ok_or_else(|| {
            format!("no room for a {key} line in this map (flow style or embedded): write `{key}: {host}` into it")
        })?;
    let prefix = prefix.replacen("registry: ", &format!("{key}: "), 1);
    let mut edits = vec![Edit {
        range: at..at,
        text: format!("{prefix}{host}"),
        owner: repository.owner,
        value_range: 0..0,
        insert: Some((key.to_string(), host.clone())),
        requote: None,
    }];
    if path != repository.value {
        edits.push(field_edit(repository, &path)?);
    }
    Ok(edits)
}
