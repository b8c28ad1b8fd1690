//! Chart sources (kind `chart`) through Harbor.
//!
//! An OCI chart source is a registry path like an image's: `oci://ghcr.io/org/charts`
//! becomes `oci://HARBOR/ghcr/org/charts` with the same mapping table, in the form it was
//! written (with or without `oci://`: Argo CD and helmfile write OCI repositories without
//! the scheme). The URL of a repository is a prefix: the chart's name is appended to it,
//! so the mapping is decided on the whole chart name (`ghcr.io/org/charts/podinfo`) and
//! the edit takes the chart name off again; a mapping that does not keep the chart name as
//! the last component is refused. Classic HTTP(S) chart repositories serve an `index.yaml`
//! that Harbor's proxy cache does not understand: they stay, reported `unmapped`.

use crate::mapping::Mapper;
use crate::pipeline::locate::{Field, Site};
use crate::reference::{is_templated, Reference};

use super::{decide_name, field_edit, Direction, NameOutcome, PlanOptions, Planned, Status};

/// Why a classic chart repository stays as it is.
pub const CLASSIC: &str = "classic Helm chart repository (index.yaml over HTTP): Harbor cannot proxy classic Helm repositories; push the chart to an OCI registry Harbor proxies, or keep this source";

/// The component appended to a repository URL whose chart name is not in the same place
/// (Flux HelmRepository, helmfile repositories), so the mapping sees a chart path.
const ANY_CHART: &str = "chart";

/// Plan one chart source.
pub fn plan_chart(
    site: &Site,
    url: &Field,
    (chart, version, oci): (Option<&str>, Option<&str>, bool),
    mapper: &Mapper,
    opts: PlanOptions,
) -> Planned {
    let original = url.value.clone();
    if is_templated(&original) {
        return Planned::stay(site, original, Status::Templated, None);
    }
    let (scheme, rest) = match original.split_once("://") {
        Some(("oci", rest)) => ("oci://", rest),
        Some(("http" | "https", _)) => {
            return Planned::stay(site, original, Status::Unmapped, Some(CLASSIC.into()))
        }
        Some((other, _)) => {
            let why = format!("{other}:// is no chart repository scheme harborize knows");
            return Planned::stay(site, original, Status::Invalid, Some(why));
        }
        None if oci => ("", original.as_str()),
        None => {
            let why = "a chart repository URL without a scheme (oci:// or https://)";
            return Planned::stay(site, original, Status::Invalid, Some(why.into()));
        }
    };
    let rest = rest.trim_end_matches('/');
    let appended = match chart {
        Some("") => None,
        Some(c) => Some(c),
        None => Some(ANY_CHART),
    };
    let full = match appended {
        Some(c) => format!("{rest}/{c}"),
        None => rest.to_string(),
    };
    let name = match Reference::parse_name(&full) {
        Ok(r) => r,
        Err(e) => {
            let why = format!("not an OCI chart name: {e}");
            return Planned::stay(site, original, Status::Invalid, Some(why));
        }
    };
    // What is verified: the chart at its version (a tag; `+` is `_` in OCI tags).
    let normalized = match (chart.is_some_and(|c| c != ANY_CHART), version) {
        (true, Some(v)) if is_exact(v) => Some(format!("{full}:{}", v.replace('+', "_"))),
        (true, _) => Some(full.clone()),
        _ => Some(rest.to_string()),
    };
    match decide_name(mapper, &name, opts.direction) {
        NameOutcome::To(new_name) => {
            let new_name = match opts.direction {
                Direction::Revert => with_host(new_name),
                Direction::Forward => new_name,
            };
            let prefix = match appended {
                Some(c) => match new_name.strip_suffix(&format!("/{c}")) {
                    Some(p) => p.to_string(),
                    None => {
                        let why = format!("the mapping of {full} ({new_name}) does not keep the chart name {c:?} last: a repository URL cannot be routed this way");
                        return Planned::stay(site, original, Status::Invalid, Some(why));
                    }
                },
                None => new_name,
            };
            let new = format!("{scheme}{prefix}");
            let mut p = Planned::stay(site, original, Status::Rewritten, None);
            p.normalized = normalized;
            match field_edit(url, &new) {
                Ok(e) => p.edits = vec![e],
                Err(msg) => {
                    p.status = Status::Invalid;
                    p.message = Some(msg);
                }
            }
            p.rewritten = Some(new);
            p
        }
        NameOutcome::Stay(status, msg) => {
            let mut p = Planned::stay(site, original, status, msg);
            p.normalized = normalized;
            p
        }
    }
}

/// A name with its registry host written out: Docker Hub's short form (`bitnamicharts/x`,
/// `docker.io/…`, what a revert gives) is no OCI chart URL Helm can pull, so it becomes
/// `registry-1.docker.io/…`, the host Docker Hub serves OCI charts from.
fn with_host(name: String) -> String {
    if let Some(rest) = name.strip_prefix("docker.io/") {
        return format!("registry-1.docker.io/{rest}");
    }
    if crate::pipeline::locate::helm::has_registry_host(&name) {
        name
    } else {
        format!("registry-1.docker.io/{name}")
    }
}

/// A version that is one tag (not a range such as `~1.2` or `>=1.0 <2`).
fn is_exact(v: &str) -> bool {
    !v.is_empty()
        && !v
            .chars()
            .any(|c| matches!(c, '^' | '~' | '*' | '>' | '<' | '=' | ' ' | '|' | ','))
        && !v.split('.').any(|p| p == "x" || p == "X")
}

/// The Harbor reference a chart entry is verified at: its chart and version, routed
/// through Harbor (or already there). `None` when the entry names no chart version.
pub fn harbor_chart(mapper: &Mapper, normalized: &str) -> Option<Reference> {
    let r = Reference::parse(normalized).ok()?;
    r.tag()?;
    // On any cache host (a subdomain or port connector too), not only Harbor's own name.
    let name = mapper.cache_name(&r)?;
    Reference::parse(&format!("{name}{}", r.suffix())).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_that_are_tags_are_exact_and_ranges_are_not() {
        for v in ["1.2.3", "6.5.0-rc.1", "1.0.0+build"] {
            assert!(is_exact(v), "{v}");
        }
        for v in ["~1.2", "^2", ">=1.0 <2", "1.x", "*", ""] {
            assert!(!is_exact(v), "{v}");
        }
    }

    #[test]
    fn a_chart_already_on_a_caches_subdomain_is_verified_there() {
        let config = crate::config::Config::from_user(
            crate::config::Config::parse_file(
                "target: {kind: artifactory, host: art.example.com, method: subdomain}\nregistries:\n  ghcr.io: {project: ghcr-remote}\n",
                "t",
            )
            .unwrap(),
            None,
        )
        .unwrap();
        let mapper = Mapper::new(&config, "art.example.com");
        let routed = harbor_chart(&mapper, "ghcr.io/org/charts/app:1.0.0").expect("routed");
        let on_cache = harbor_chart(&mapper, &routed.to_string()).expect("already on the cache");
        assert_eq!(on_cache.to_string(), routed.to_string());
        assert_ne!(routed.domain(), "art.example.com", "{routed}");
    }
}
