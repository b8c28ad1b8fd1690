//! `harborize.yaml`: which upstream registry goes to which Harbor proxy-cache project.
//!
//! The user's file is merged over an embedded default that mirrors the reference setup,
//! so an empty file (or none) already routes Docker Hub, GHCR, Quay and registry.k8s.io.
//! Errors point at the offending line of the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub mod routes;
mod sections;
pub mod target;

pub use sections::{BumpRule, ChartConvention, PolicyMode};

/// Names the config file may have, looked up from PATH upwards.
pub const FILE_NAMES: [&str; 2] = ["harborize.yaml", ".harborize.yaml"];

/// The embedded default (the reference setup).
pub const DEFAULT_CONFIG: &str = include_str!("default-config.yaml");

/// The file as written by the user. Every field is optional; see the README.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The Harbor instance (`harbor.host` is an alias of `target.host`).
    #[serde(default)]
    pub harbor: Option<HarborSection>,
    /// The pull-through cache: its kind (default harbor), host and kind-specific settings.
    #[serde(default)]
    pub target: Option<target::TargetSection>,
    /// Upstream registry domain → proxy-cache project. Merged by key over the defaults; a
    /// `null` value removes a default registry.
    #[serde(default)]
    pub registries: BTreeMap<String, Option<RegistryEntry>>,
    /// Globs on the normalized name (`docker.io/library/nginx`) that stay direct.
    /// Appended to the default excludes.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Regex rules tried before `registries`, first match wins.
    #[serde(default)]
    pub rules: Vec<RuleEntry>,
    /// Scan policy (`harborize scan`): per-image allowlist of accepted findings.
    #[serde(default)]
    pub scan: Option<ScanSection>,
    /// Files larger than this many bytes are skipped with a note instead of parsed
    /// (default 16 MiB; parsing needs a multiple of the file's size in memory).
    #[serde(default)]
    pub max_file_size: Option<u64>,
    /// How verify and scan talk to Harbor's registry API.
    #[serde(default)]
    pub registry: Option<RegistrySection>,
    /// Also rewrite CI configuration (GitHub Actions workflows, `.gitlab-ci.yml`,
    /// `.drone.yml`, `bitbucket-pipelines.yml`, `.circleci/config.yml`, Woodpecker). Off by
    /// default: CI runners often cannot reach the cluster's Harbor.
    #[serde(default)]
    pub include_ci: bool,
    /// The render proof (`rewrite` and `run`): renderers and whether it runs.
    #[serde(default)]
    pub render: Option<RenderSection>,
    /// Helm charts: how override values compose when their chart is not at hand.
    #[serde(default)]
    pub helm: Option<HelmSection>,
    /// Admission policies (`harborize policy`): what the cluster admits besides Harbor's
    /// proxy-cache projects and the `exclude:` globs.
    #[serde(default)]
    pub policy: Option<PolicySection>,
    /// The platforms the cluster's nodes run (`os/arch[/variant]`): what `warm` fetches
    /// out of an image index (default `linux/amd64`; `--platform` overrides it).
    #[serde(default)]
    pub platforms: Vec<String>,
    /// Where `bump` may write each image (app CI bumps one environment; see the README).
    #[serde(default)]
    pub bump: Vec<BumpRule>,
}

/// `render:`: how Helm and kustomize edits are proven by rendering before they are written.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RenderSection {
    /// Run the render proof (default true; `--no-render-proof` turns it off for one run).
    #[serde(default)]
    pub proof: Option<bool>,
    /// The `helm` program (default: `helm` on PATH); `--helm` overrides it.
    #[serde(default)]
    pub helm: Option<PathBuf>,
    /// The kustomize renderer: `kubectl` (runs `kubectl kustomize`) or a standalone
    /// `kustomize` (runs `kustomize build`); default `kubectl`, else `kustomize`, on PATH.
    /// `--kustomize` overrides it.
    #[serde(default)]
    pub kustomize: Option<PathBuf>,
}

/// `helm:` in harborize.yaml.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HelmSection {
    /// Per chart name (as in a HelmRelease's or Application's `chart:`): the registry the
    /// chart puts in front of a bare image path, so override values of that chart are
    /// composed without the chart (otherwise they are `ambiguous`).
    #[serde(default)]
    pub charts: BTreeMap<String, ChartConvention>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrySection {
    /// Hosts other than Harbor's own whose token service (the `realm` of the registry's
    /// `WWW-Authenticate: Bearer` challenge) may receive the registry credentials. A realm
    /// on any other host gets no credentials (a warning says so).
    #[serde(default)]
    pub token_realms: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HarborSection {
    /// `HOST[:PORT]` of Harbor, without scheme.
    pub host: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistryEntry {
    /// The path segment(s) the cache puts before the upstream path: Harbor project, ECR
    /// prefix (`ROOT`: none), Artifactory repository key, Nexus repository, Quay
    /// organisation, GAR `<project>/<repository>`, ACR target repository.
    pub project: String,
    /// Other domains that name the same registry.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The port connector serving this registry (`target.method: port`, Artifactory and
    /// Nexus).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleEntry {
    /// Regex matched against the whole normalized name (`registry/path`, no tag).
    #[serde(rename = "match")]
    pub pattern: String,
    /// Path under the Harbor host; `$1`, `${name}` expand capture groups.
    pub replace: String,
}

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

/// The merged configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `target.host`, or its alias `harbor.host`.
    pub harbor_host: Option<String>,
    /// `target:` without the host: the cache's kind and its settings.
    pub target: target::TargetSettings,
    pub registries: BTreeMap<String, RegistryEntry>,
    pub exclude: Vec<String>,
    pub rules: Vec<RuleEntry>,
    /// Where the user's file came from, if any.
    pub source: Option<PathBuf>,
    /// The `scan:` section (empty when absent).
    pub scan: ScanSection,
    /// Files larger than this are skipped (bytes).
    pub max_file_size: u64,
    /// `registry.token_realms`: other hosts trusted with the registry credentials.
    pub token_realms: Vec<String>,
    /// Read CI configuration too (`include_ci`).
    pub include_ci: bool,
    /// The `render:` section (empty when absent).
    pub render: RenderSection,
    /// `helm.charts`: chart conventions by chart name.
    pub helm_charts: BTreeMap<String, ChartConvention>,
    /// The `policy:` section (empty when absent).
    pub policy: PolicySection,
    /// `platforms`: the nodes' platforms (`os/arch[/variant]`), for `warm`.
    pub platforms: Vec<String>,
    /// `bump:` rules.
    pub bump: Vec<BumpRule>,
}

impl Config {
    /// Parse one file's text (used for the default and for the user's file).
    pub fn parse_file(text: &str, path: &str) -> Result<ConfigFile, ConfigError> {
        if text.trim().is_empty() {
            return Ok(ConfigFile::default());
        }
        serde_yaml_ng::from_str(text).map_err(|e| {
            let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
            let message = e.to_string();
            let message = message
                .split(" at line ")
                .next()
                .unwrap_or(&message)
                .to_string();
            ConfigError::Syntax {
                path: path.to_string(),
                line,
                column,
                message,
            }
        })
    }

    /// The default merged with the user's file.
    pub fn from_user(user: ConfigFile, source: Option<PathBuf>) -> Result<Self, ConfigError> {
        let default = Self::parse_file(DEFAULT_CONFIG, "<default config>")?;
        let mut registries: BTreeMap<String, RegistryEntry> = default
            .registries
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
        for (k, v) in user.registries {
            match v {
                Some(v) => registries.insert(k.to_ascii_lowercase(), v),
                None => registries.remove(&k.to_ascii_lowercase()),
            };
        }
        let mut exclude = default.exclude;
        exclude.extend(user.exclude);
        let target_section = user.target.unwrap_or_default();
        let invalid = |message: String| ConfigError::Invalid {
            path: source
                .as_ref()
                .map_or("<default config>".into(), |p| p.display().to_string()),
            message,
        };
        let harbor_alias = user.harbor.and_then(|h| h.host);
        let harbor_host = match (target_section.host.clone(), harbor_alias) {
            (Some(t), Some(h)) if !t.trim().eq_ignore_ascii_case(h.trim()) => {
                return Err(invalid(format!(
                    "target.host {t:?} and harbor.host {h:?} differ: harbor.host is an alias of target.host, set one"
                )))
            }
            (t, h) => t.or(h),
        };
        let target = target::TargetSettings::from_section(&target_section).map_err(invalid)?;
        let config = Config {
            harbor_host,
            target,
            registries,
            exclude,
            rules: user.rules,
            source,
            scan: user.scan.unwrap_or_default(),
            max_file_size: user
                .max_file_size
                .unwrap_or(crate::fsio::DEFAULT_MAX_FILE_SIZE),
            token_realms: user
                .registry
                .map(|r| r.token_realms)
                .unwrap_or_default()
                .into_iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            include_ci: user.include_ci,
            render: user.render.unwrap_or_default(),
            helm_charts: user.helm.map(|h| h.charts).unwrap_or_default(),
            policy: user.policy.unwrap_or_default(),
            platforms: user.platforms,
            bump: user.bump,
        };
        config.validate()?;
        Ok(config)
    }

    /// Load `--config FILE`, or the first config file found from `start` upwards, or the
    /// default alone.
    pub fn load(explicit: Option<&Path>, start: &Path) -> Result<Self, ConfigError> {
        let path = match explicit {
            Some(p) => Some(p.to_path_buf()),
            None => discover(start),
        };
        match path {
            Some(p) => {
                let shown = p.display().to_string();
                let text = std::fs::read_to_string(&p).map_err(|source| ConfigError::Read {
                    path: shown.clone(),
                    source,
                })?;
                let file = Self::parse_file(&text, &shown)?;
                Self::from_user(file, Some(p)).map_err(|e| match e {
                    ConfigError::Invalid { message, .. } => ConfigError::Invalid {
                        path: shown,
                        message,
                    },
                    other => other,
                })
            }
            None => Self::from_user(ConfigFile::default(), None),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: self
                .source
                .as_ref()
                .map_or("<default config>".into(), |p| p.display().to_string()),
            message,
        };
        for (i, rule) in self.rules.iter().enumerate() {
            regex::Regex::new(&rule.pattern)
                .map_err(|e| invalid(format!("rules[{i}].match: invalid regex: {e}")))?;
            check_replacement(&rule.replace)
                .map_err(|e| invalid(format!("rules[{i}].replace: {e}")))?;
        }
        if let Some(host) = &self.harbor_host {
            let h = host
                .trim()
                .trim_start_matches("https://")
                .trim_start_matches("http://");
            let h = h.trim_end_matches('/').to_ascii_lowercase();
            if !h.is_empty() && crate::reference::validate_registry_host(&h).is_err() {
                return Err(invalid(format!(
                    "target.host (harbor.host): {host:?} is not HOST[:PORT] (an ASCII domain name or [IPv6], a port in 1-65535, no credentials or path)"
                )));
            }
        }
        for (i, p) in self.platforms.iter().enumerate() {
            p.parse::<crate::reference::Platform>()
                .map_err(|e| invalid(format!("platforms[{i}]: {e}")))?;
        }
        for (i, glob) in self.exclude.iter().enumerate() {
            globset::Glob::new(glob)
                .map_err(|e| invalid(format!("exclude[{i}]: invalid glob: {e}")))?;
        }
        for (i, host) in self.token_realms.iter().enumerate() {
            if host.is_empty() || host.contains(['/', '@']) || host.contains(char::is_whitespace) {
                return Err(invalid(format!(
                    "registry.token_realms[{i}]: {host:?} is not a host name (HOST or HOST:PORT, no scheme)"
                )));
            }
        }
        // Each kind has its own rules for what `project` may be (the route table is built
        // again by the mapper; here only for its errors).
        routes::Route::table(&self.target, &self.registries).map_err(invalid)?;
        Ok(())
    }
}

/// A rule's replacement becomes the path under the Harbor host: expanded with a sample
/// capture for every group (a valid path component), it must be a valid repository path,
/// so only a capture that is itself invalid can make a rewritten reference invalid (and
/// that is caught when the reference is planned).
fn check_replacement(replace: &str) -> Result<(), String> {
    let sample = "x";
    let mut expanded = String::new();
    let mut rest = replace;
    // `$1`, `${1}`, `$name`, `${name}`, `$$` as regex::Captures::expand reads them.
    while let Some(i) = rest.find('$') {
        expanded.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            expanded.push('$');
            rest = tail;
        } else if let Some(braced) = after.strip_prefix('{') {
            let end = braced
                .find('}')
                .ok_or_else(|| format!("{replace:?}: unclosed ${{"))?;
            expanded.push_str(sample);
            rest = &braced[end + 1..];
        } else {
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if len > 0 {
                expanded.push_str(sample);
            }
            rest = &after[len..];
        }
    }
    expanded.push_str(rest);
    let path = expanded.trim_matches('/');
    crate::reference::validate_repository_path(path).map_err(|e| {
        format!("{replace:?} does not give a valid repository path under the Harbor host ({e})")
    })
}

/// Look for a config file in `start` (or its directory when it is a file) and upwards,
/// stopping at the root of the git repository that holds it.
pub fn discover(start: &Path) -> Option<PathBuf> {
    let abs = std::fs::canonicalize(start).ok()?;
    let mut dir = if abs.is_dir() {
        Some(abs.as_path())
    } else {
        abs.parent()
    };
    while let Some(d) = dir {
        for name in FILE_NAMES {
            let candidate = d.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
        // The repository's root is as far as its configuration goes: a file above it
        // belongs to someone else (a home directory, a CI workspace holding many clones).
        if d.join(".git").exists() {
            return None;
        }
        dir = d.parent();
    }
    None
}

/// The JSON Schema of `harborize.yaml`.
pub fn json_schema() -> String {
    let mut schema = schemars::schema_for!(ConfigFile);
    // `$id` and a human title: editors (yaml-language-server, VS Code, JetBrains) show the
    // title and fetch the schema from the `# yaml-language-server: $schema=` line.
    let meta = schema.schema.metadata();
    meta.id = Some(SCHEMA_ID.to_string());
    meta.title = Some("harborize.yaml".to_string());
    serde_json::to_string_pretty(&schema).expect("schema serializes") + "\n"
}

/// Where the committed `harborize.schema.json` is served (the schema's `$id`).
pub const SCHEMA_ID: &str =
    "https://raw.githubusercontent.com/harborize/harborize/main/harborize.schema.json";

/// `scan:` in harborize.yaml.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanSection {
    /// Findings accepted for some images: they are reported but never fail the scan.
    #[serde(default)]
    pub allow: Vec<ScanAllow>,
}

/// One allowlist entry.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanAllow {
    /// Glob on the image name without tag or digest, upstream (`docker.io/library/nginx`)
    /// or Harbor form (`harbor.example.com/docker-hub/library/nginx`).
    pub image: String,
    /// Vulnerability (or secret rule) IDs accepted for the matching images.
    pub ids: Vec<String>,
    /// Why they are accepted (shown in reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `policy:` in harborize.yaml (`harborize policy`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicySection {
    /// Harbor's own projects admitted besides the proxy-cache projects of `registries:`
    /// (default `[library]`, the project every Harbor starts with).
    #[serde(default)]
    pub projects: Option<Vec<String>>,
    /// Globs on the normalized name (like `exclude:`) admitted although not through Harbor.
    #[serde(default)]
    pub allow: Vec<String>,
    /// `audit` (default) or `enforce`; `--mode` overrides it.
    #[serde(default)]
    pub mode: Option<PolicyMode>,
    /// Every image must name a digest (`@sha256:`); `--require-digest` turns it on.
    #[serde(default)]
    pub require_digest: bool,
    /// `metadata.name` of the generated objects (default `harborize-images`).
    #[serde(default)]
    pub name: Option<String>,
}

impl PolicySection {
    /// The cache's own projects the policy admits: as listed; unlisted, Harbor's default
    /// project `library` on Harbor and nothing on other caches (a GitLab or Artifactory
    /// `library` is whatever somebody named so, not a project the cache is known to have).
    pub fn projects(&self, kind: target::Kind) -> Vec<String> {
        match (&self.projects, kind) {
            (Some(listed), _) => listed.clone(),
            (None, target::Kind::Harbor) => vec!["library".to_string()],
            (None, _) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_mirrors_the_reference_setup() {
        let c = Config::from_user(ConfigFile::default(), None).unwrap();
        assert_eq!(c.registries["docker.io"].project, "docker-hub");
        assert_eq!(c.registries["ghcr.io"].project, "ghcr");
        assert_eq!(c.registries["quay.io"].project, "quay");
        assert_eq!(c.registries["registry.k8s.io"].project, "k8s-registry");
        assert!(c.registries["docker.io"]
            .aliases
            .contains(&"registry-1.docker.io".to_string()));
        assert!(c.exclude.contains(&"docker.io/goharbor/*".to_string()));
    }

    #[test]
    fn user_file_merges_over_default() {
        let f = Config::parse_file(
            "harbor: {host: h.example.com}\nregistries:\n  gcr.io: {project: gcr}\n  quay.io: null\nexclude: ['ghcr.io/me/*']\n",
            "x.yaml",
        )
        .unwrap();
        let c = Config::from_user(f, None).unwrap();
        assert_eq!(c.harbor_host.as_deref(), Some("h.example.com"));
        assert_eq!(c.registries["gcr.io"].project, "gcr");
        assert!(!c.registries.contains_key("quay.io"));
        assert!(c.registries.contains_key("docker.io"));
        assert_eq!(c.exclude.len(), 3);
    }

    #[test]
    fn errors_point_at_the_line() {
        let err =
            Config::parse_file("harbor:\n  host: h\nregistrys:\n  x: 1\n", "cfg.yaml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("cfg.yaml:3:"), "{msg}");
        assert!(msg.contains("registrys"), "{msg}");
    }

    #[test]
    fn bad_regex_is_named() {
        let f = Config::parse_file("rules:\n  - {match: '(', replace: x}\n", "c.yaml").unwrap();
        let err = Config::from_user(f, None).unwrap_err().to_string();
        assert!(err.contains("rules[0].match"), "{err}");
    }
}
