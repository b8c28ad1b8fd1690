//! Trivy's JSON report (`--format json`, SchemaVersion 2), read leniently: `Results`,
//! `Vulnerabilities`, `Secrets` and `FixedVersion` are often omitted (or `null`), and a
//! missing one means empty.

use serde::{Deserialize, Serialize};

use super::Severity;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TrivyReport {
    #[serde(default)]
    pub artifact_name: Option<String>,
    #[serde(default)]
    pub trivy: Option<TrivyVersion>,
    #[serde(default)]
    pub metadata: Option<Metadata>,
    #[serde(default)]
    pub results: Option<Vec<TrivyResult>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TrivyVersion {
    #[serde(default)]
    pub version: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Metadata {
    #[serde(default, rename = "OS")]
    pub os: Option<Os>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Os {
    #[serde(default)]
    pub family: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, rename = "EOSL")]
    pub eosl: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TrivyResult {
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub class: Option<String>,
    #[serde(default)]
    pub vulnerabilities: Option<Vec<Vulnerability>>,
    #[serde(default)]
    pub secrets: Option<Vec<Secret>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Vulnerability {
    #[serde(rename = "VulnerabilityID")]
    pub vulnerability_id: String,
    #[serde(default)]
    pub pkg_name: Option<String>,
    #[serde(default)]
    pub installed_version: Option<String>,
    #[serde(default)]
    pub fixed_version: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub severity_source: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default, rename = "PrimaryURL")]
    pub primary_url: Option<String>,
    #[serde(default, rename = "CVSS")]
    pub cvss: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Secret {
    #[serde(rename = "RuleID")]
    pub rule_id: String,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub start_line: Option<u64>,
}

/// Why a finding does not count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ignored {
    /// `ignore-file`, `allowlist` or `unfixed`.
    pub by: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One finding of one image, in harborize's terms.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// CVE (or other advisory) ID, or the secret rule ID.
    pub id: String,
    /// `vulnerability` or `secret`.
    pub kind: &'static str,
    pub severity: Severity,
    /// Package name (vulnerabilities) or file path (secrets).
    pub package: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub installed: Option<String>,
    /// The version that fixes it; absent when there is no fix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    /// Trivy's status (`fixed`, `affected`, `will_not_fix`, ...); `secret` for secrets.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cvss_score: Option<f64>,
    /// Trivy's target (`<image> (alpine 3.22.2)`, a lock file, a path).
    pub target: String,
    /// Counts against the policy: at or above the threshold and not ignored.
    pub fails: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<Ignored>,
}

impl Finding {
    /// A fix is available (a non-empty `FixedVersion`).
    pub fn has_fix(&self) -> bool {
        self.fixed.as_deref().is_some_and(|f| !f.trim().is_empty())
    }
}

impl TrivyReport {
    pub fn parse(json: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(json)
    }

    /// `alpine 3.22.2`, when Trivy detected an OS.
    pub fn os(&self) -> Option<String> {
        let os = self.metadata.as_ref()?.os.as_ref()?;
        match (&os.family, &os.name) {
            (Some(f), Some(n)) => Some(format!("{f} {n}")),
            (Some(f), None) => Some(f.clone()),
            _ => None,
        }
    }

    /// Every vulnerability and secret, sorted (most severe first, then ID, package).
    pub fn findings(&self) -> Vec<Finding> {
        let mut out = Vec::new();
        for result in self.results.iter().flatten() {
            let target = result.target.clone().unwrap_or_default();
            for v in result.vulnerabilities.iter().flatten() {
                let fixed = v.fixed_version.clone().filter(|f| !f.trim().is_empty());
                out.push(Finding {
                    id: v.vulnerability_id.clone(),
                    kind: "vulnerability",
                    severity: Severity::parse(v.severity.as_deref().unwrap_or("")),
                    package: v.pkg_name.clone().unwrap_or_default(),
                    installed: v.installed_version.clone(),
                    status: v.status.clone().unwrap_or_else(|| {
                        if fixed.is_some() { "fixed" } else { "affected" }.to_string()
                    }),
                    fixed,
                    title: v.title.clone(),
                    url: v.primary_url.clone(),
                    cvss_score: cvss_score(v),
                    target: target.clone(),
                    fails: false,
                    ignored: None,
                });
            }
            for s in result.secrets.iter().flatten() {
                let mut package = target.clone();
                if let Some(line) = s.start_line {
                    package.push_str(&format!(":{line}"));
                }
                out.push(Finding {
                    id: s.rule_id.clone(),
                    kind: "secret",
                    severity: Severity::parse(s.severity.as_deref().unwrap_or("")),
                    package,
                    installed: None,
                    fixed: None,
                    status: "secret".to_string(),
                    title: s.title.clone().or_else(|| s.category.clone()),
                    url: None,
                    cvss_score: None,
                    target: target.clone(),
                    fails: false,
                    ignored: None,
                });
            }
        }
        out.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| a.id.cmp(&b.id))
                .then_with(|| a.package.cmp(&b.package))
                .then_with(|| a.installed.cmp(&b.installed))
                .then_with(|| a.target.cmp(&b.target))
        });
        out
    }
}

/// The CVSS v3 score from the severity's source, else NVD, else any vendor.
fn cvss_score(v: &Vulnerability) -> Option<f64> {
    let cvss = v.cvss.as_ref()?;
    let score = |k: &str| cvss.get(k)?.get("V3Score")?.as_f64();
    v.severity_source
        .as_deref()
        .and_then(score)
        .or_else(|| score("nvd"))
        .or_else(|| cvss.keys().find_map(|k| score(k)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_parts_mean_empty() {
        let r = TrivyReport::parse(br#"{"SchemaVersion":2,"ArtifactName":"x"}"#).unwrap();
        assert!(r.findings().is_empty());
        let r = TrivyReport::parse(br#"{"Results":[{"Target":"t","Class":"os-pkgs"}]}"#).unwrap();
        assert!(r.findings().is_empty());
        let r = TrivyReport::parse(br#"{"Results":null}"#).unwrap();
        assert!(r.findings().is_empty());
    }

    #[test]
    fn unfixed_has_no_fixed_version() {
        let r = TrivyReport::parse(
            br#"{"Results":[{"Target":"t","Vulnerabilities":[
              {"VulnerabilityID":"CVE-1","PkgName":"p","InstalledVersion":"1","Severity":"LOW","Status":"affected"},
              {"VulnerabilityID":"CVE-2","PkgName":"p","InstalledVersion":"1","FixedVersion":"2","Severity":"CRITICAL",
               "SeveritySource":"nvd","CVSS":{"nvd":{"V3Score":9.8}}}]}]}"#,
        )
        .unwrap();
        let f = r.findings();
        assert_eq!(f[0].id, "CVE-2");
        assert_eq!(f[0].status, "fixed");
        assert_eq!(f[0].cvss_score, Some(9.8));
        assert!(f[0].has_fix());
        assert_eq!(f[1].id, "CVE-1");
        assert!(!f[1].has_fix());
        assert_eq!(f[1].fixed, None);
    }
}
