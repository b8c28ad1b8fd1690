//! Renovate `registryAliases` for a migrated repository: each Harbor proxy path prefix →
//! its upstream registry, so version bots still look up tags upstream.

use std::collections::BTreeMap;

use super::summary::MigrationReport;
use crate::config::Config;

/// `registryAliases` for Renovate: each Harbor proxy path prefix → its upstream registry,
/// so version bots still look up tags upstream (`harbor/docker-hub` → `docker.io`).
pub fn registry_aliases(config: &Config, harbor: &str) -> BTreeMap<String, String> {
    config
        .registries
        .iter()
        .map(|(domain, entry)| (format!("{harbor}/{}", entry.project), domain.clone()))
        .collect()
}

/// The Renovate config snippet (JSON) for the union of the aliases.
pub fn renovate_json(aliases: &BTreeMap<String, String>) -> String {
    let v = serde_json::json!({ "registryAliases": aliases });
    serde_json::to_string_pretty(&v).expect("serializes") + "\n"
}

/// The union of the repositories' aliases (first one wins), and a warning for each prefix
/// two repositories map to different registries.
pub fn merged_aliases(report: &MigrationReport) -> (BTreeMap<String, String>, Vec<String>) {
    let mut aliases: BTreeMap<String, String> = BTreeMap::new();
    let mut warnings = Vec::new();
    for r in &report.repos {
        for (k, v) in &r.registry_aliases {
            match aliases.get(k) {
                Some(old) if old != v => warnings.push(format!(
                    "{}: {k} is {v} here but {old} in another repository; keeping {old}",
                    r.repo
                )),
                Some(_) => {}
                None => {
                    aliases.insert(k.clone(), v.clone());
                }
            }
        }
    }
    (aliases, warnings)
}
