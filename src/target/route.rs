//! The path scheme of a cache: its host and the route table of [`crate::config::routes`],
//! applied forwards and back.

use crate::config::routes::{join, Route};
use crate::config::target::{Kind, Method, TargetSettings};
use crate::reference::DOCKER_HUB;

/// The host name of `HOST[:PORT]` (a bracketed IPv6 address kept whole).
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_once(']').map_or(host, |(h, _)| h);
    }
    host.split(':').next().unwrap_or(host)
}

fn host_port(host: &str) -> Option<u16> {
    let after = if host.starts_with('[') {
        host.split_once(']')?.1
    } else {
        host
    };
    after.rsplit_once(':')?.1.parse().ok()
}

/// A cache host and its routes: the path scheme of one kind.
#[derive(Debug, Clone, Default)]
pub struct Scheme {
    settings: TargetSettings,
    host: String,
    routes: Vec<Route>,
}

impl Scheme {
    /// The scheme of `host` (lower case, validated) with a checked route table.
    pub fn new(settings: TargetSettings, host: &str, routes: Vec<Route>) -> Self {
        Scheme {
            settings,
            host: host.to_ascii_lowercase(),
            routes,
        }
    }

    pub fn kind(&self) -> Kind {
        self.settings.kind
    }

    /// Is `domain` one of the cache's addresses (its host, a repository subdomain of it, or
    /// a port connector on it)?
    pub fn is_cache_host(&self, domain: &str) -> bool {
        let d = domain.to_ascii_lowercase();
        match self.settings.method {
            _ if d == self.host => true,
            Method::Subdomain => d
                .strip_suffix(&self.host)
                .is_some_and(|label| label.ends_with('.') && label.len() > 1),
            Method::Port => host_name(&d) == host_name(&self.host),
            Method::Path => false,
        }
    }

    /// Where the upstream `domain/path` (canonical: Docker Hub official images with
    /// `library/`) is served, without tag or digest; or why the cache does not serve it.
    pub fn forward(&self, domain: &str, path: &str) -> Result<String, String> {
        if self.settings.kind == Kind::Gitlab {
            return self.gitlab_forward(domain, path);
        }
        let Some((route, rest)) = self
            .routes
            .iter()
            .find_map(|r| r.rest(domain, path).map(|rest| (r, rest)))
        else {
            return Err(self.unmapped_reason(domain, path));
        };
        Ok(match self.settings.method {
            Method::Path => join(&[&self.host, &route.prefix, rest]),
            Method::Subdomain => format!("{}.{}/{rest}", route.prefix, self.host),
            Method::Port => format!(
                "{}:{}/{rest}",
                host_name(&self.host),
                route.port.unwrap_or_default()
            ),
        })
    }

    fn unmapped_reason(&self, domain: &str, path: &str) -> String {
        let word = self.settings.kind.project_word();
        if self.routes.iter().any(|r| r.domain == domain) {
            format!("no {word} for {domain}/{path} (registries: has none of its namespaces)")
        } else {
            format!("no {word} for registry {domain}")
        }
    }

    /// The Dependency Proxy serves Docker Hub only; its documented form names official
    /// images without `library/`.
    fn gitlab_forward(&self, domain: &str, path: &str) -> Result<String, String> {
        if domain != DOCKER_HUB {
            return Err(format!(
                "GitLab's Dependency Proxy caches Docker Hub only, not {domain}"
            ));
        }
        let short = match path.strip_prefix("library/") {
            Some(p) if !p.contains('/') => p,
            _ => path,
        };
        let group = self.settings.group.as_deref().unwrap_or_default();
        Ok(format!(
            "{}/{group}/dependency_proxy/containers/{short}",
            self.host
        ))
    }

    /// The upstream `domain/path` a cache name stands for, or `None` when `domain/path` is
    /// not a path the cache's routes give.
    pub fn revert(&self, domain: &str, path: &str) -> Option<String> {
        let domain = domain.to_ascii_lowercase();
        if !self.is_cache_host(&domain) {
            return None;
        }
        if self.settings.kind == Kind::Gitlab {
            let group = self.settings.group.as_deref().unwrap_or_default();
            let rest = path
                .strip_prefix(group)?
                .strip_prefix("/dependency_proxy/containers/")?;
            return Some(join(&[DOCKER_HUB, rest]));
        }
        match self.settings.method {
            Method::Subdomain => {
                let label = domain.strip_suffix(&self.host)?.strip_suffix('.')?;
                let route = self.routes.iter().find(|r| r.prefix == label)?;
                Some(route.upstream(path))
            }
            Method::Port => {
                let port = host_port(&domain)?;
                let route = self.routes.iter().find(|r| r.port == Some(port))?;
                Some(route.upstream(path))
            }
            Method::Path => self.revert_path(path),
        }
    }

    /// The longest prefix wins; ECR's `ROOT` (no prefix) takes what no prefix claims.
    fn revert_path(&self, path: &str) -> Option<String> {
        let mut by_prefix: Vec<&Route> = self.routes.iter().collect();
        by_prefix.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        by_prefix.into_iter().find_map(|r| {
            if r.prefix.is_empty() {
                return Some(r.upstream(path));
            }
            if path == r.prefix {
                return (!r.wildcard).then(|| r.upstream(""));
            }
            let rest = path.strip_prefix(&r.prefix)?.strip_prefix('/')?;
            r.wildcard.then(|| r.upstream(rest))
        })
    }
}
