//! The routing decision for one reference: which cache path it gets, or why it stays.
//!
//! Built once from the merged config; `decide` is pure and cheap so it can run for every
//! reference of a large repository. The path scheme of the cache (Harbor, ECR, GitLab, ...)
//! is [`crate::target`]'s; this module resolves aliases, excludes and rules, and dispatches.

use std::collections::HashMap;

use globset::{Glob, GlobSet, GlobSetBuilder};
use regex::Regex;

pub mod charts;
// The cache kinds' schemes, tested through the mapper that applies them.
#[cfg(test)]
mod cache_kinds;

use crate::config::Config;
use crate::reference::{Reference, DOCKER_HUB, MAX_PATH_LEN};
use crate::target::{Route, Scheme};

/// What happens to a reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Route through the cache: `harbor/<project>/<path>` or the kind's scheme (the new
    /// name, without tag/digest).
    Rewrite { name: String },
    /// Already on the cache's host.
    AlreadyProxied,
    /// Matches an exclude glob.
    Excluded { pattern: String },
    /// The cache does not serve this registry; `reason` says why (for the report).
    Unmapped { registry: String, reason: String },
}

/// Routes references through one Harbor host.
#[derive(Debug, Clone)]
pub struct Mapper {
    harbor: String,
    /// Domain (canonical or alias) → canonical domain.
    domains: HashMap<String, String>,
    /// The cache's path scheme and routes (forward and `--revert`).
    scheme: Scheme,
    excludes: GlobSet,
    exclude_patterns: Vec<String>,
    rules: Vec<(Regex, String)>,
    /// Config `registry.token_realms`, carried to the registry client of verify and scan.
    token_realms: Vec<String>,
    /// CI configuration is read too (`include_ci`): which files hold references is part
    /// of where references go, and this is the one value every file's run is given.
    include_ci: bool,
    /// Where Helm charts are known from (`--charts`, `helm.charts` conventions): how an
    /// override's image map composes is part of where its reference goes.
    charts: charts::ChartSources,
}

impl Mapper {
    pub fn new(config: &Config, harbor: &str) -> Self {
        let mut domains = HashMap::new();
        for (key, entry) in &config.registries {
            // A Quay or ACR key may name a namespace (`docker.io/library`): its registry is
            // the part before the first `/`.
            let key = key.to_ascii_lowercase();
            let canonical = key.split('/').next().unwrap_or(&key).to_string();
            domains.insert(canonical.clone(), canonical.clone());
            for alias in &entry.aliases {
                domains.insert(alias.to_ascii_lowercase(), canonical.clone());
            }
        }
        // Validated when the config was loaded.
        let routes = Route::table(&config.target, &config.registries).unwrap_or_default();
        let mut builder = GlobSetBuilder::new();
        for pattern in &config.exclude {
            // Validated when the config was loaded.
            if let Ok(glob) = Glob::new(pattern) {
                builder.add(glob);
            }
        }
        let rules = config
            .rules
            .iter()
            .filter_map(|r| {
                Regex::new(&format!("^(?:{})$", r.pattern))
                    .ok()
                    .map(|re| (re, r.replace.clone()))
            })
            .collect();
        Mapper {
            harbor: harbor.to_ascii_lowercase(),
            domains,
            scheme: Scheme::new(config.target.clone(), harbor, routes),
            excludes: builder.build().unwrap_or_else(|_| GlobSet::empty()),
            exclude_patterns: config.exclude.clone(),
            rules,
            token_realms: config.token_realms.clone(),
            include_ci: config.include_ci,
            charts: charts::ChartSources::new(config.helm_charts.clone()),
        }
    }

    /// The mapper with `--charts DIR`.
    pub fn with_charts_dir(mut self, dir: Option<std::path::PathBuf>) -> Self {
        self.charts.charts_dir = dir;
        self
    }

    /// The paths of the run (searched for Argo CD `valueFiles` links to values files).
    pub fn with_roots(mut self, roots: Vec<std::path::PathBuf>) -> Self {
        self.charts.set_roots(roots);
        self
    }

    /// Where Helm charts are looked up.
    pub fn charts(&self) -> &charts::ChartSources {
        &self.charts
    }

    /// The cache's host (`target.host`, `harbor.host`, `--harbor`).
    pub fn harbor(&self) -> &str {
        &self.harbor
    }

    /// The cache's kind (`target.kind`).
    pub fn kind(&self) -> crate::target::Kind {
        self.scheme.kind()
    }

    /// Is `domain` an address of the cache: its host, or for the subdomain and port
    /// methods a repository's subdomain or port connector on it?
    pub fn is_cache_host(&self, domain: &str) -> bool {
        self.scheme.is_cache_host(domain)
    }

    /// The name `r` has on the cache (`host/path`, no tag): itself when it is already on a
    /// cache host, its routed name otherwise; `None` when it is not routed (excluded,
    /// unmapped).
    pub fn cache_name(&self, r: &Reference) -> Option<String> {
        if self.is_cache_host(r.domain()) {
            return Some(format!("{}/{}", r.domain().to_ascii_lowercase(), r.path()));
        }
        match self.decide(r) {
            Decision::Rewrite { name } => Some(name),
            _ => None,
        }
    }

    /// Hosts besides Harbor's own that may receive the registry credentials as token realms.
    pub fn token_realms(&self) -> &[String] {
        &self.token_realms
    }

    /// Whether CI configuration files are read (`include_ci: true`).
    pub fn include_ci(&self) -> bool {
        self.include_ci
    }

    /// The upstream name with registry aliases resolved (`registry-1.docker.io/nginx` →
    /// `docker.io/library/nginx`).
    pub fn canonical_name(&self, r: &Reference) -> (String, String) {
        let domain = r.domain().to_ascii_lowercase();
        let canonical = self.domains.get(&domain).cloned().unwrap_or(domain);
        let path = if canonical == DOCKER_HUB && !r.path().contains('/') {
            format!("library/{}", r.path())
        } else {
            r.path().to_string()
        };
        (canonical, path)
    }

    /// Decide the route of a reference's name.
    pub fn decide(&self, r: &Reference) -> Decision {
        if self.is_cache_host(r.domain()) {
            return Decision::AlreadyProxied;
        }
        let (domain, path) = self.canonical_name(r);
        let normalized = format!("{domain}/{path}");
        let hits = self.excludes.matches(&normalized);
        if let Some(&first) = hits.first() {
            return Decision::Excluded {
                pattern: self.exclude_patterns[first].clone(),
            };
        }
        for (re, replace) in &self.rules {
            if let Some(caps) = re.captures(&normalized) {
                let mut target = String::new();
                caps.expand(replace, &mut target);
                return Decision::Rewrite {
                    name: format!("{}/{}", self.harbor, target.trim_matches('/')),
                };
            }
        }
        match self.scheme.forward(&domain, &path) {
            Ok(name) => Decision::Rewrite { name },
            Err(reason) => Decision::Unmapped {
                registry: domain,
                reason,
            },
        }
    }

    /// The upstream name of a cache path, in the familiar short form
    /// (`harbor/docker-hub/library/nginx` → `nginx`), or `None` when it is not one.
    pub fn revert_name(&self, r: &Reference) -> Option<String> {
        let upstream = self.scheme.revert(r.domain(), r.path())?;
        let reverted = Reference::parse_name(&upstream).ok()?;
        Some(reverted.familiar_name())
    }
}

/// True when a mapped name's repository path is longer than old clients accept.
pub fn path_too_long(name: &str) -> bool {
    name.split_once('/')
        .is_some_and(|(_, p)| p.len() > MAX_PATH_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ConfigFile};

    fn mapper(user: &str) -> Mapper {
        let f = Config::parse_file(user, "t").unwrap();
        Mapper::new(&Config::from_user(f, None).unwrap(), "harbor.example.com")
    }

    fn rewrite(m: &Mapper, s: &str) -> Decision {
        m.decide(&Reference::parse(s).unwrap())
    }

    #[test]
    fn routes_follow_the_reference_setup() {
        let m = mapper("");
        let name = |n: &str| Decision::Rewrite {
            name: n.to_string(),
        };
        assert_eq!(
            rewrite(&m, "nginx:1.27"),
            name("harbor.example.com/docker-hub/library/nginx")
        );
        assert_eq!(
            rewrite(&m, "ghcr.io/org/app:sha"),
            name("harbor.example.com/ghcr/org/app")
        );
        assert_eq!(
            rewrite(&m, "registry-1.docker.io/nginx"),
            name("harbor.example.com/docker-hub/library/nginx")
        );
        assert_eq!(
            rewrite(&m, "registry.hub.docker.com/bitnami/redis"),
            name("harbor.example.com/docker-hub/bitnami/redis")
        );
        assert_eq!(
            rewrite(&m, "registry.k8s.io/pause:3.9"),
            name("harbor.example.com/k8s-registry/pause")
        );
        assert_eq!(
            rewrite(&m, "harbor.example.com/library/app:1"),
            Decision::AlreadyProxied
        );
        assert_eq!(
            rewrite(&m, "HARBOR.example.com/ghcr/x/y"),
            Decision::AlreadyProxied
        );
        assert!(matches!(
            rewrite(&m, "goharbor/harbor-core:v2"),
            Decision::Excluded { .. }
        ));
        assert_eq!(
            rewrite(&m, "gcr.io/distroless/static"),
            Decision::Unmapped {
                registry: "gcr.io".into(),
                reason: "no Harbor project for registry gcr.io".into()
            }
        );
    }

    #[test]
    fn user_registries_and_rules_apply() {
        let m = mapper(
            "registries: {gcr.io: {project: gcr}}\nrules:\n  - match: 'registry\\.corp/team-(\\w+)/(.*)'\n    replace: 'team-$1/$2'\n",
        );
        assert_eq!(
            rewrite(&m, "gcr.io/distroless/static:nonroot"),
            Decision::Rewrite {
                name: "harbor.example.com/gcr/distroless/static".into()
            }
        );
        assert_eq!(
            rewrite(&m, "registry.corp/team-a/svc/api:1"),
            Decision::Rewrite {
                name: "harbor.example.com/team-a/svc/api".into()
            }
        );
    }

    #[test]
    fn revert_gives_the_familiar_upstream_name() {
        let m = mapper("");
        let r = |s: &str| m.revert_name(&Reference::parse(s).unwrap());
        assert_eq!(
            r("harbor.example.com/docker-hub/library/nginx:1"),
            Some("nginx".into())
        );
        assert_eq!(
            r("harbor.example.com/docker-hub/bitnami/redis"),
            Some("bitnami/redis".into())
        );
        assert_eq!(
            r("harbor.example.com/ghcr/org/app"),
            Some("ghcr.io/org/app".into())
        );
        assert_eq!(r("harbor.example.com/library/app"), None);
        assert_eq!(r("nginx"), None);
        let _ = ConfigFile::default();
    }
}
