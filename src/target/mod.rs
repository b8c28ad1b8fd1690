//! The cache a repository is routed through (`target:` in harborize.yaml): Harbor by
//! default, or another pull-through cache with its own path scheme.
//!
//! Every cache puts some segments in front of the upstream path (a Harbor project, an ECR
//! prefix, an Artifactory repository key, ...) or picks a host per upstream (a subdomain, a
//! port connector). The `target:` section and the route table are config
//! ([`crate::config::target`], [`crate::config::routes`]: read and checked when the config
//! is loaded); this module applies them and answers the two questions the mapper asks:
//! where does an upstream name go ([`Scheme::forward`]) and where did a cache name come
//! from ([`Scheme::revert`]). Facts per cache: README "Cache targets" and
//! ../shared/docs/caches.md.

mod route;

pub use crate::config::routes::Route;
pub use crate::config::target::{Kind, Method, TargetSection, TargetSettings};
pub use route::Scheme;

use crate::config::target::method_name;

/// For node mirror configs (`harborize mirrors`), which name a whole registry and one
/// endpoint per registry: the path under the cache host that serves all of registry
/// `key`, or why a node cannot be pointed at this cache for it.
pub fn mirror_prefix(
    settings: &TargetSettings,
    key: &str,
    entry: &crate::config::RegistryEntry,
) -> Result<String, String> {
    if settings.method != Method::Path {
        return Err(format!(
            "target.method {}: every registry has a host of its own; node mirror configs are generated for one cache host with a path per registry (configure the nodes by hand)",
            method_name(settings.method)
        ));
    }
    if key.contains('/') {
        return Err(format!(
            "registries.{key}: a node mirrors a whole registry, not one namespace or repository of it"
        ));
    }
    match settings.kind {
        Kind::Gitlab if key == crate::reference::DOCKER_HUB => Ok(format!(
            "{}/dependency_proxy/containers",
            settings.group.as_deref().unwrap_or_default()
        )),
        Kind::Gitlab => Err(format!(
            "{key}: GitLab's Dependency Proxy caches Docker Hub only"
        )),
        Kind::Ecr if entry.project == "ROOT" => Err(format!(
            "registries.{key}: an ECR ROOT rule has no path to tell it from the registry's own repositories"
        )),
        Kind::Acr => Ok(entry.project.trim_end_matches("/*").to_string()),
        _ => Ok(entry.project.clone()),
    }
}
