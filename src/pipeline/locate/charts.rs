//! Where Helm charts come from (kind `chart`).
//!
//! Harbor proxy-cache projects serve OCI Helm charts as they serve images, so a chart
//! pulled through Harbor is cached like an image. The places a GitOps repository names a
//! chart source: a Flux `HelmRepository` (`type: oci` with `url: oci://…`; without it a
//! classic HTTP repository), a Flux `OCIRepository` (`url: oci://…/chart`), an Argo CD
//! Application source with a `chart:` and its `repoURL` (Argo CD writes OCI repositories
//! without the `oci://` scheme), `Chart.yaml` `dependencies[].repository`, and helmfile
//! `repositories:` (`oci: true` marks OCI ones, also without a scheme). Each is a site of
//! [`Shape::Chart`]; the planner decides what it becomes (classic HTTP repositories stay:
//! Harbor cannot proxy them).

use std::path::Path;

use super::{Field, Kind, Shape, Site};
use crate::yaml::{Node, Scalar};

/// Chart sites of one document of the file at `path`.
pub fn locate(path: &Path, doc: &Node, out: &mut Vec<Site>) {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let api = doc.get_str("apiVersion").unwrap_or("");
    let kind = doc.get_str("kind").unwrap_or("");
    if name == "Chart.yaml" {
        chart_dependencies(doc, out);
    } else if name.starts_with("helmfile") {
        helmfile_repositories(doc, out);
    }
    let spec = doc.get("spec");
    match kind {
        "HelmRepository" if api.starts_with("source.toolkit.fluxcd.io") => {
            let Some(spec) = spec else { return };
            let oci = spec.get_str("type") == Some("oci");
            push(out, spec.get("url"), None, None, oci);
        }
        "OCIRepository" if api.starts_with("source.toolkit.fluxcd.io") => {
            let Some(spec) = spec else { return };
            let tag = spec.get("ref").and_then(|r| r.get("tag"));
            // The URL names the chart itself: no chart name to append.
            push(out, spec.get("url"), Some(""), tag, true);
        }
        "Application" if api.starts_with("argoproj.io") => {
            if let Some(spec) = spec {
                argo_sources(spec, out);
            }
        }
        "ApplicationSet" if api.starts_with("argoproj.io") => {
            if let Some(spec) = spec.and_then(|s| s.get("template")?.get("spec")) {
                argo_sources(spec, out);
            }
        }
        _ => {}
    }
}

fn argo_sources(spec: &Node, out: &mut Vec<Site>) {
    let mut sources: Vec<&Node> = spec.get("source").into_iter().collect();
    sources.extend(spec.get("sources").and_then(Node::as_seq).unwrap_or(&[]));
    for s in sources {
        // A source without `chart:` is a git repository (a path), not a chart source.
        let Some(chart) = s.get_str("chart") else {
            continue;
        };
        push(
            out,
            s.get("repoURL"),
            Some(chart),
            s.get("targetRevision"),
            true,
        );
    }
}

fn chart_dependencies(doc: &Node, out: &mut Vec<Site>) {
    for dep in doc
        .get("dependencies")
        .and_then(Node::as_seq)
        .unwrap_or(&[])
    {
        let repo = dep.get("repository");
        let value: Option<&str> = repo.and_then(Node::as_scalar).map(|s| s.value.as_str());
        // `file://` charts and `@alias`/`alias:` references of `helm repo add` names are
        // no URLs harborize can route.
        if !value.is_some_and(|v| v.contains("://"))
            || value.is_some_and(|v| v.starts_with("file://"))
        {
            continue;
        }
        push(out, repo, dep.get_str("name"), dep.get("version"), false);
    }
}

fn helmfile_repositories(doc: &Node, out: &mut Vec<Site>) {
    for repo in doc
        .get("repositories")
        .and_then(Node::as_seq)
        .unwrap_or(&[])
    {
        let oci = repo
            .get("oci")
            .and_then(Node::as_scalar)
            .is_some_and(|s| s.value.as_str() == "true");
        push(out, repo.get("url"), None, None, oci);
    }
}

fn push(
    out: &mut Vec<Site>,
    url: Option<&Node>,
    chart: Option<&str>,
    version: Option<&Node>,
    oci: bool,
) {
    let version = version.and_then(Node::as_scalar).map(field);
    let Some(s) = url.and_then(Node::as_scalar) else {
        return;
    };
    if s.value.is_empty() {
        return;
    }
    let f = field(s);
    out.push(Site {
        kind: Kind::Chart,
        line: f.line,
        column: f.column,
        shape: Shape::Chart {
            url: f,
            chart: chart.map(str::to_string),
            version,
            oci,
        },
        flux_name_setter: false,
        helm: None,
    });
}

fn field(s: &Scalar) -> Field {
    Field {
        value: s.value.to_string(),
        line: s.line(),
        column: s.column(),
        owner: s.ordinal(),
        value_range: 0..s.value.len(),
        file_range: s.content(),
        style: s.style,
    }
}
