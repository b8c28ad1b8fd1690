//! What a policy admits, from harborize.yaml: the Harbor projects, then every `exclude:`
//! and `policy.allow` glob in every spelling a Pod may use for it. Computed once, as
//! wildcard patterns over the `image` string, for all three formats.

use std::collections::BTreeSet;

use super::{Admitted, PolicyError};
use crate::config::Config;

/// Compute what the policy admits from the configuration.
pub fn admitted(config: &Config, harbor: &str) -> Result<Admitted, PolicyError> {
    let source_name = config
        .source
        .as_ref()
        .map_or("<default config>".to_string(), |p| p.display().to_string());
    let mut projects = BTreeSet::new();
    let mut notes = Vec::new();
    // Where the cache serves each upstream: Harbor's `HOST/<project>/`, other kinds their
    // own scheme (GitLab's dependency proxy path, a subdomain, a port connector, ...).
    let served = if config.target.kind == crate::target::Kind::Harbor {
        for entry in config.registries.values() {
            projects.insert(entry.project.clone());
        }
        Vec::new()
    } else {
        let (prefixes, why_not) = served_prefixes(config, harbor);
        notes.extend(why_not);
        prefixes
    };
    for rule in &config.rules {
        let first = rule
            .replace
            .trim_matches('/')
            .split('/')
            .next()
            .unwrap_or("");
        if first.contains('$') || first.is_empty() {
            notes.push(format!(
                "rules: the target project of {:?} depends on the match; list it in policy.projects to admit it",
                rule.replace
            ));
        } else {
            projects.insert(first.to_string());
        }
    }
    for (index, project) in config
        .policy
        .projects(config.target.kind)
        .iter()
        .enumerate()
    {
        if project.contains('/') || crate::reference::validate_repository_path(project).is_err() {
            return Err(PolicyError::Project {
                source_name,
                index,
                project: project.clone(),
            });
        }
        projects.insert(project.clone());
    }
    let mut patterns: Vec<String> = served;
    for p in projects.iter().map(|p| format!("{harbor}/{p}/*")) {
        if !patterns.contains(&p) {
            patterns.push(p);
        }
    }
    let globs = config
        .exclude
        .iter()
        .enumerate()
        .map(|(i, g)| (format!("exclude[{i}]"), g))
        .chain(
            config
                .policy
                .allow
                .iter()
                .enumerate()
                .map(|(i, g)| (format!("policy.allow[{i}]"), g)),
        );
    for (key, glob) in globs {
        let spelled = spellings(config, glob).map_err(|why| PolicyError::Glob {
            source_name: source_name.clone(),
            key: key.clone(),
            glob: glob.clone(),
            why,
        })?;
        notes.extend(spelled.notes.into_iter().map(|n| format!("{key}: {n}")));
        for p in spelled.patterns {
            if !patterns.contains(&p) {
                patterns.push(p);
            }
        }
    }
    Ok(Admitted {
        harbor: harbor.to_string(),
        projects: projects.into_iter().collect(),
        patterns,
        notes,
    })
}

/// The wildcard patterns of one glob.
struct Spelled {
    patterns: Vec<String>,
    notes: Vec<String>,
}

/// Every way a Pod may spell an image the glob (on the normalized name,
/// `docker.io/library/nginx`) matches: the registry and its aliases, Docker Hub's short
/// forms where they cannot be mistaken for another registry, each with a tag or digest.
fn spellings(config: &Config, glob: &str) -> Result<Spelled, String> {
    if let Some(c) = glob
        .chars()
        .find(|c| matches!(c, '[' | ']' | '{' | '}' | '\\' | '!'))
    {
        return Err(format!(
            "only `*` and `?` can be written in every policy format, not {c:?}"
        ));
    }
    if glob.contains(char::is_whitespace) || glob.contains('|') {
        return Err("whitespace and `|` cannot appear in an image name".into());
    }
    let glob = glob.replace("**", "*");
    let Some((domain, rest)) = glob.split_once('/').filter(|(_, r)| !r.is_empty()) else {
        return Err(
            "expected REGISTRY/PATH (a normalized name such as docker.io/library/nginx)".into(),
        );
    };
    let domain = domain.to_ascii_lowercase();
    let mut names = vec![format!("{domain}/{rest}")];
    let mut notes = Vec::new();
    if !has_wildcard(&domain) {
        if let Some(entry) = config.registries.get(&domain) {
            for alias in &entry.aliases {
                names.push(format!("{}/{rest}", alias.to_ascii_lowercase()));
            }
        }
    }
    if domain == "docker.io" {
        short_forms(rest, &mut names, &mut notes);
    }
    let mut patterns = Vec::new();
    for name in names {
        if name.ends_with('*') {
            patterns.push(name);
        } else {
            patterns.push(format!("{name}:*"));
            patterns.push(format!("{name}@*"));
            patterns.push(name);
        }
    }
    Ok(Spelled { patterns, notes })
}

/// Docker Hub names a Pod may write without the registry. A short form is admitted only
/// when its first component cannot read as a registry host: `nginx:*` would also match
/// `nginx:5000/any/image`, and `ngin*` would match `nginx.evil.example/any`.
fn short_forms(rest: &str, names: &mut Vec<String>, notes: &mut Vec<String>) {
    let first = rest.split('/').next().unwrap_or("");
    let safe_first =
        |c: &str| !has_wildcard(c) && !c.contains(['.', ':']) && c != "localhost" && !c.is_empty();
    if let Some(bare) = rest.strip_prefix("library/") {
        // `library/X` always reads as Docker Hub; `X` alone would need `X:TAG`.
        names.push(rest.to_string());
        notes.push(format!(
            "the short form `{bare}` (without `library/`) is not admitted: a wildcard pattern cannot tell `{bare}:TAG` from a registry `{bare}:PORT/...`; write `library/{bare}` or `docker.io/library/{bare}`"
        ));
    } else if rest.contains('/') && safe_first(first) {
        names.push(rest.to_string());
    } else if rest.contains('/') {
        notes.push(format!(
            "the short form `{rest}` is not admitted: its first component could read as another registry"
        ));
    }
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?'])
}

/// A path segment no real repository uses: routed through the mapper, it shows where the
/// cache puts an upstream's repositories.
const PROBE: &str = "harborize-policy-probe";

/// For a cache other than Harbor: the pattern under which it serves each registry of
/// `registries:` (`<prefix>*`), found by routing a probe reference of that registry through
/// the same mapper `rewrite` uses, so the policy admits exactly where rewritten images
/// point, whatever the kind's scheme. A registry the kind cannot serve gets a note.
fn served_prefixes(config: &Config, harbor: &str) -> (Vec<String>, Vec<String>) {
    use crate::mapping::{Decision, Mapper};
    let mapper = Mapper::new(config, harbor);
    let mut prefixes = Vec::new();
    let mut notes = Vec::new();
    for key in config.registries.keys() {
        let probe = format!("{}/{PROBE}/image:1", key.trim_end_matches("/*"));
        let Ok(reference) = crate::reference::Reference::parse(&probe) else {
            continue;
        };
        match mapper.decide(&reference) {
            Decision::Rewrite { name } => {
                if let Some(at) = name.find(PROBE) {
                    let prefix = format!("{}*", &name[..at]);
                    if !prefixes.contains(&prefix) {
                        prefixes.push(prefix);
                    }
                }
            }
            Decision::Unmapped { reason, .. } => {
                notes.push(format!("registries.{key}: not admitted: {reason}"))
            }
            Decision::AlreadyProxied | Decision::Excluded { .. } => {}
        }
    }
    (prefixes, notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ConfigFile};
    use crate::policy::wildcard_regex;

    fn config(text: &str) -> Config {
        Config::from_user(Config::parse_file(text, "t").unwrap(), None).unwrap()
    }

    #[test]
    fn admits_proxy_and_own_projects_and_excludes_in_every_spelling() {
        let a = admitted(&config(""), "harbor.example.com").unwrap();
        for p in [
            "harbor.example.com/docker-hub/*",
            "harbor.example.com/library/*",
            "docker.io/goharbor/*",
            "registry-1.docker.io/goharbor/*",
            "goharbor/*",
            "ghcr.io/goharbor/*",
        ] {
            assert!(a.patterns.contains(&p.to_string()), "{p}: {:?}", a.patterns);
        }
    }

    #[test]
    fn bare_docker_hub_names_are_never_admitted_by_a_pattern_that_reads_as_a_registry() {
        let a = admitted(
            &config("policy: {allow: ['docker.io/library/busybox', 'docker.io/*/x']}\n"),
            "h.example.com",
        )
        .unwrap();
        assert!(a.patterns.contains(&"library/busybox:*".to_string()));
        assert!(!a.patterns.iter().any(|p| p.starts_with("busybox")));
        assert!(!a.patterns.iter().any(|p| p.starts_with('*')));
        assert_eq!(a.notes.len(), 2, "{:?}", a.notes);
    }

    #[test]
    fn glob_classes_are_refused_with_their_key() {
        let err = admitted(
            &config("policy: {allow: ['ghcr.io/[ab]/*']}\n"),
            "h.example.com",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("policy.allow[0]"), "{err}");
    }

    #[test]
    fn regex_is_anchored_and_escaped() {
        assert_eq!(wildcard_regex("h.io/p/*"), "^h\\.io/p/.*$");
        assert_eq!(
            Config::from_user(ConfigFile::default(), None)
                .unwrap()
                .policy
                .projects(crate::target::Kind::Harbor),
            vec!["library".to_string()]
        );
    }

    #[test]
    fn other_cache_kinds_admit_where_their_scheme_serves_each_registry() {
        let a = admitted(
            &config(
                "target: {kind: gitlab, host: gitlab.example.com, group: platform}\nregistries:\n  docker.io: {project: docker-hub}\n",
            ),
            "gitlab.example.com",
        )
        .unwrap();
        assert!(
            a.patterns
                .contains(&"gitlab.example.com/platform/dependency_proxy/containers/*".to_string()),
            "{:?}",
            a.patterns
        );
        assert!(
            !a.patterns
                .contains(&"gitlab.example.com/docker-hub/*".to_string()),
            "{:?}",
            a.patterns
        );
        // Harbor's default project means nothing on GitLab: not admitted unless listed.
        assert!(
            !a.patterns.iter().any(|p| p.contains("/library/")),
            "{:?}",
            a.patterns
        );
    }
}
