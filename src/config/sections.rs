//! Sections of harborize.yaml whose consumers sit above the config (bump, policy, the
//! Helm locator): their types live here so the config depends on none of them.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One `bump:` rule of `harborize.yaml`: where CI may bump an image.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BumpRule {
    /// Glob on the image's normalized name, upstream or Harbor form (`ghcr.io/acme/web`,
    /// `ghcr.io/acme/*`).
    pub image: String,
    /// Where a bump of it may write: globs from the repository root; a directory selects
    /// everything below it (`apps/web/overlays/dev`).
    pub paths: Vec<String>,
}

impl BumpRule {
    /// Whether the rule is about one of the image's names.
    pub fn matches_image(&self, forms: &[String]) -> Result<bool, String> {
        let glob = glob(&self.image)?;
        Ok(forms.iter().any(|f| glob.is_match(f)))
    }

    /// The path (the file or one of its directories, repository-relative) a pattern of the
    /// rule matches, shortest first: what selected the file.
    pub fn selects(&self, rel: &Path) -> Result<Option<PathBuf>, String> {
        let globs = self
            .paths
            .iter()
            .map(|p| glob(p.trim_end_matches('/')))
            .collect::<Result<Vec<_>, _>>()?;
        let mut prefixes: Vec<&Path> = rel
            .ancestors()
            .filter(|a| !a.as_os_str().is_empty())
            .collect();
        prefixes.reverse();
        Ok(prefixes
            .into_iter()
            .find(|p| globs.iter().any(|g| g.is_match(p)))
            .map(Path::to_path_buf))
    }
}

fn glob(pattern: &str) -> Result<globset::GlobMatcher, String> {
    globset::GlobBuilder::new(pattern)
        .literal_separator(false)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| format!("bump: invalid glob {pattern:?}: {e}"))
}

/// Audit (report, admit) or enforce (deny). Audit first, as policies are rolled out.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum PolicyMode {
    /// Admit everything, report what would be denied (Kyverno `Audit`, VAP `[Warn, Audit]`,
    /// Gatekeeper `warn`).
    #[default]
    Audit,
    /// Deny (Kyverno `Enforce`, VAP `[Deny]`, Gatekeeper `deny`).
    Enforce,
}

/// A chart convention declared in `harborize.yaml` (`helm.charts.<name>`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChartConvention {
    /// The registry the chart puts in front of a bare `repository`/`image` path when the
    /// values do not set one (`docker.io` for Bitnami charts). Absent or empty: the chart
    /// uses the repository as the whole name.
    #[serde(default)]
    pub default_registry: Option<String>,
    /// The key of the image map the chart reads that registry from (default `registry`);
    /// harborize adds it to the override map when it routes the image through Harbor.
    #[serde(default)]
    pub registry_key: Option<String>,
}
