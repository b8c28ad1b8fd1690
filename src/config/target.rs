//! `target:` in harborize.yaml: which pull-through cache `target.host` is and the
//! settings of its kind that do not depend on the host.
//!
//! These are config types (read, validated and defaulted with the rest of the file);
//! the path scheme that uses them is [`crate::config::routes`]' table and the target
//! module's `Scheme`, above the config.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Which pull-through cache `target.host` is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Harbor proxy-cache projects: `HOST/<project>/<path>`.
    #[default]
    Harbor,
    /// AWS ECR pull-through cache rules: `HOST/<prefix>/<path>` (`ROOT`: no prefix).
    Ecr,
    /// GitLab Dependency Proxy (Docker Hub only): `HOST/<group>/dependency_proxy/containers/<path>`.
    Gitlab,
    /// JFrog Artifactory remote repositories: repository path, subdomain or port method.
    Artifactory,
    /// Sonatype Nexus docker proxies: path-based routing or a port connector.
    Nexus,
    /// Quay proxy-cache organisations, for a whole registry or one namespace.
    Quay,
    /// Google Artifact Registry remote repositories: `HOST/<project>/<repository>/<path>`.
    Gar,
    /// Azure Container Registry cache rules (`source → target repository`, wildcards).
    Acr,
}

impl Kind {
    /// The name as written in `target.kind`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Harbor => "harbor",
            Kind::Ecr => "ecr",
            Kind::Gitlab => "gitlab",
            Kind::Artifactory => "artifactory",
            Kind::Nexus => "nexus",
            Kind::Quay => "quay",
            Kind::Gar => "gar",
            Kind::Acr => "acr",
        }
    }

    /// What `registries.<upstream>.project` names for this cache (for messages).
    pub fn project_word(self) -> &'static str {
        match self {
            Kind::Harbor => "Harbor project",
            Kind::Ecr => "ECR pull-through cache rule",
            Kind::Gitlab => "GitLab Dependency Proxy",
            Kind::Artifactory => "Artifactory remote repository",
            Kind::Nexus => "Nexus docker proxy repository",
            Kind::Quay => "Quay proxy-cache organisation",
            Kind::Gar => "Artifact Registry remote repository",
            Kind::Acr => "ACR cache rule",
        }
    }
}

/// How Artifactory and Nexus put the repository into the address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// `HOST/<repository>/<path>` (Artifactory repository path, Nexus path-based routing).
    #[default]
    Path,
    /// `<repository>.HOST/<path>` (Artifactory subdomain method, Nexus subdomain connector).
    Subdomain,
    /// `HOST:<port>/<path>` with `registries.<upstream>.port` (Artifactory port method,
    /// Nexus port connector).
    Port,
}

/// `target:` in harborize.yaml.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetSection {
    /// The cache: harbor (default), ecr, gitlab, artifactory, nexus, quay, gar or acr.
    #[serde(default)]
    pub kind: Option<Kind>,
    /// `HOST[:PORT]` of the cache, without scheme (`harbor.host` and `--harbor` are aliases).
    #[serde(default)]
    pub host: Option<String>,
    /// GitLab only: the group (or `group/subgroup`) whose Dependency Proxy serves the images.
    #[serde(default)]
    pub group: Option<String>,
    /// Artifactory and Nexus only: `path` (default), `subdomain` or `port`.
    #[serde(default)]
    pub method: Option<Method>,
}

/// The settings of the target that do not depend on the host (validated with the config).
#[derive(Debug, Clone, Default)]
pub struct TargetSettings {
    pub kind: Kind,
    pub group: Option<String>,
    pub method: Method,
}

impl TargetSettings {
    /// From the `target:` section; refuses settings that mean nothing for the kind.
    pub fn from_section(section: &TargetSection) -> Result<Self, String> {
        let kind = section.kind.unwrap_or_default();
        let method = section.method.unwrap_or_default();
        if method != Method::Path && !matches!(kind, Kind::Artifactory | Kind::Nexus) {
            return Err(format!(
                "target.method: {:?} is for artifactory and nexus only (target.kind is {})",
                method_name(method),
                kind.name()
            ));
        }
        let group = section
            .group
            .as_ref()
            .map(|g| g.trim().trim_matches('/').to_string());
        match (kind, &group) {
            (Kind::Gitlab, None) => {
                return Err("target.group: required for target.kind gitlab (the group whose Dependency Proxy serves the images)".into())
            }
            (Kind::Gitlab, Some(g)) if crate::reference::validate_repository_path(g).is_err() => {
                return Err(format!("target.group: {g:?} is not a GitLab group path (lowercase letters, digits, '.', '_', '-', groups separated by '/')"))
            }
            (Kind::Gitlab, _) => {}
            (_, Some(_)) => {
                return Err(format!(
                    "target.group: for target.kind gitlab only (target.kind is {})",
                    kind.name()
                ))
            }
            (_, None) => {}
        }
        Ok(TargetSettings {
            kind,
            group,
            method,
        })
    }
}

pub(crate) fn method_name(m: Method) -> &'static str {
    match m {
        Method::Path => "path",
        Method::Subdomain => "subdomain",
        Method::Port => "port",
    }
}
