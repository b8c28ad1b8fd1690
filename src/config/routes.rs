//! The route table of a cache: one [`Route`] per `registries:` key, checked for the
//! cache's kind when the config is loaded (the target module's `Scheme` applies it,
//! forwards and back).

use std::collections::BTreeMap;

use super::target::{Kind, Method, TargetSettings};
use super::RegistryEntry;
use crate::reference::validate_repository_path;

/// One upstream (a registry, or for Quay and ACR a namespace or repository of it) and
/// where the cache serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The upstream registry domain (canonical, lower case).
    pub domain: String,
    /// The upstream path the route covers (`library` for `docker.io/library`); empty for a
    /// whole registry.
    pub path: String,
    /// Covers every repository under `path` (false: ACR static rule, exactly `path`).
    pub wildcard: bool,
    /// The segments the cache puts in front (empty for ECR's `ROOT`).
    pub prefix: String,
    /// The port connector (method `port`).
    pub port: Option<u16>,
}

impl Route {
    /// The routes of `registries:` for a kind, longest upstream first, or why the config
    /// cannot be used (the message names the key).
    pub fn table(
        settings: &TargetSettings,
        registries: &BTreeMap<String, RegistryEntry>,
    ) -> Result<Vec<Route>, String> {
        let mut routes = Vec::new();
        for (key, entry) in registries {
            routes.push(Route::build(settings, key, entry)?);
        }
        routes.sort_by(|a, b| {
            (b.domain.len() + b.path.len())
                .cmp(&(a.domain.len() + a.path.len()))
                .then_with(|| a.domain.cmp(&b.domain))
                .then_with(|| a.path.cmp(&b.path))
        });
        check_overlaps(settings.kind, &routes)?;
        Ok(routes)
    }

    fn build(settings: &TargetSettings, key: &str, entry: &RegistryEntry) -> Result<Route, String> {
        let kind = settings.kind;
        let key = key.to_ascii_lowercase();
        let (key_body, key_star) = match key.strip_suffix("/*") {
            Some(k) => (k.to_string(), true),
            None => (key.clone(), false),
        };
        let (domain, path) = match key_body.split_once('/') {
            Some((d, p)) => (d.to_string(), p.to_string()),
            None => (key_body.clone(), String::new()),
        };
        if crate::reference::validate_registry_host(&domain).is_err() {
            return Err(format!(
                "registries.{key}: {domain:?} is not a registry host (HOST[:PORT])"
            ));
        }
        if !path.is_empty() && !matches!(kind, Kind::Quay | Kind::Acr) {
            return Err(format!(
                "registries.{key}: a key with a path (one namespace or repository of a registry) is for target.kind quay and acr only; {} caches whole registries",
                kind.name()
            ));
        }
        if key_star && kind != Kind::Acr {
            return Err(format!(
                "registries.{key}: `/*` wildcards are ACR cache rules (target.kind acr)"
            ));
        }
        if !path.is_empty() && validate_repository_path(&path).is_err() {
            return Err(format!(
                "registries.{key}: {path:?} is not a repository path"
            ));
        }
        // An ACR rule on a path without `/*` is static (one repository); everything else
        // covers the registry or namespace it names.
        let wildcard = kind != Kind::Acr || path.is_empty() || key_star;
        let prefix = project_prefix(settings, &key, &entry.project)?;
        let port = match (settings.method, entry.port) {
            (Method::Port, Some(0)) | (Method::Port, None) => {
                return Err(format!(
                    "registries.{key}.port: required with target.method port (the port connector of its repository, 1-65535)"
                ))
            }
            (Method::Port, p) => p,
            (_, Some(_)) => {
                return Err(format!(
                    "registries.{key}.port: only with target.method port (target.kind artifactory or nexus)"
                ))
            }
            (_, None) => None,
        };
        Ok(Route {
            domain,
            path,
            wildcard,
            prefix,
            port,
        })
    }

    /// The rest of `domain/path` under this route, when the route covers it.
    pub(crate) fn rest<'a>(&self, domain: &str, path: &'a str) -> Option<&'a str> {
        if self.domain != domain {
            return None;
        }
        if self.path.is_empty() {
            return Some(path);
        }
        if path == self.path {
            return (!self.wildcard).then_some("");
        }
        let rest = path.strip_prefix(&self.path)?.strip_prefix('/')?;
        self.wildcard.then_some(rest)
    }

    /// The upstream name of a path under this route.
    pub(crate) fn upstream(&self, rest: &str) -> String {
        join(&[&self.domain, &self.path, rest])
    }
}

/// Check a `project` for the kind and give the prefix it stands for.
fn project_prefix(settings: &TargetSettings, key: &str, project: &str) -> Result<String, String> {
    let kind = settings.kind;
    let bad = |what: &str| {
        Err(format!(
            "registries.{key}.project: {project:?} is not {what}"
        ))
    };
    let valid_path = |p: &str| !p.is_empty() && validate_repository_path(p).is_ok();
    match kind {
        // The Dependency Proxy has one address per group: the project is not used.
        Kind::Gitlab => Ok(String::new()),
        Kind::Ecr if project == "ROOT" => Ok(String::new()),
        Kind::Ecr if valid_path(project) => Ok(project.to_string()),
        Kind::Ecr => bad("an ECR repository prefix (lowercase path components, or ROOT)"),
        Kind::Gar => {
            let parts = project.split('/').count();
            if parts == 2 && valid_path(project) {
                Ok(project.to_string())
            } else {
                bad("\"<project>/<repository>\" of an Artifact Registry remote repository")
            }
        }
        Kind::Acr => {
            let target = project.strip_suffix("/*").unwrap_or(project);
            if valid_path(target) {
                Ok(target.to_string())
            } else {
                bad("an ACR target repository (lowercase path components, `/*` for a wildcard rule)")
            }
        }
        Kind::Artifactory | Kind::Nexus if settings.method == Method::Port => Ok(String::new()),
        Kind::Artifactory | Kind::Nexus if settings.method == Method::Subdomain => {
            let label_ok = !project.is_empty()
                && project.len() <= 63
                && project
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !project.starts_with('-')
                && !project.ends_with('-');
            if label_ok {
                Ok(project.to_string())
            } else {
                bad("a repository key usable as a DNS label (lowercase letters, digits, '-')")
            }
        }
        Kind::Harbor | Kind::Artifactory | Kind::Nexus | Kind::Quay => {
            if !project.contains('/') && valid_path(project) {
                Ok(project.to_string())
            } else {
                bad(&format!(
                    "a {} name (lowercase letters, digits and '.', '_', '-' between them)",
                    kind.project_word()
                ))
            }
        }
    }
}

/// ACR refuses overlapping wildcard rules; ECR has one `ROOT` rule at most (two would
/// make a cache path mean two upstreams).
fn check_overlaps(kind: Kind, routes: &[Route]) -> Result<(), String> {
    let shown = |r: &Route| join(&[&r.domain, &r.path]);
    if kind == Kind::Ecr {
        let roots: Vec<String> = routes
            .iter()
            .filter(|r| r.prefix.is_empty())
            .map(shown)
            .collect();
        if roots.len() > 1 {
            return Err(format!(
                "registries: {} all use ROOT; ECR allows one ROOT pull-through cache rule",
                roots.join(", ")
            ));
        }
    }
    if kind == Kind::Acr {
        for a in routes.iter().filter(|r| r.wildcard) {
            for b in routes.iter().filter(|r| r.wildcard && *r != a) {
                if a.rest(&b.domain, &b.path).is_some() {
                    return Err(format!(
                        "registries: the wildcard rules {}/* and {}/* overlap; ACR refuses overlapping wildcard cache rules",
                        shown(a),
                        shown(b)
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Non-empty parts joined with `/`.
pub(crate) fn join(parts: &[&str]) -> String {
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("/")
}
