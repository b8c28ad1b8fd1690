//! The scan policy: which findings fail the gate.
//!
//! A finding fails when its severity is at least the threshold and nothing ignores it. In
//! order: a rule of an ignore file (`--ignore-file`, or Trivy's `.trivyignore` /
//! `.trivyignore.yaml` at the repository root; any of the three formats, see
//! [`super::ignore`]; expired rules ignore nothing), an
//! allowlist entry of `harborize.yaml` (`scan.allow`) whose image glob matches a name the
//! image is referenced by, and `--ignore-unfixed` for vulnerabilities without a fix.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::ignore::Rule;
use super::results::{Finding, Ignored};
use super::Severity;
use crate::config::ScanAllow;

/// One entry of harborize's ignore file (a YAML list).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IgnoreEntry {
    pub id: String,
    /// `YYYY-MM-DD`: the entry ignores until the end of that day (UTC).
    #[serde(default)]
    pub expires: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// Read an ignore file: a YAML list of `{id, expires?, reason?}` (an empty file is no entries).
pub fn load_ignore_file(path: &Path) -> Result<Vec<IgnoreEntry>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read ignore file {}", path.display()))?;
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let entries: Option<Vec<IgnoreEntry>> = serde_yaml_ng::from_str(&text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(":{}:{}", l.line(), l.column()))
            .unwrap_or_default();
        let msg = e.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        anyhow::anyhow!(
            "{}{at}: {msg} (expected a list of {{id, expires: YYYY-MM-DD, reason}})",
            path.display()
        )
    })?;
    let entries = entries.unwrap_or_default();
    for (i, e) in entries.iter().enumerate() {
        if e.id.trim().is_empty() {
            bail!("{}: entry {i}: empty id", path.display());
        }
        if let Some(d) = &e.expires {
            parse_date(d)
                .with_context(|| format!("{}: entry {i} ({}): expires", path.display(), e.id))?;
        }
    }
    Ok(entries)
}

/// `YYYY-MM-DD` → `(y, m, d)`.
pub fn parse_date(s: &str) -> Result<(i64, u32, u32)> {
    let parts: Vec<&str> = s.trim().split('-').collect();
    let ok = parts.len() == 3
        && parts[0].len() == 4
        && parts[1].len() == 2
        && parts[2].len() == 2
        && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()));
    if !ok {
        bail!("{s:?} is not a date (YYYY-MM-DD)");
    }
    let (y, m, d) = (
        parts[0].parse::<i64>()?,
        parts[1].parse::<u32>()?,
        parts[2].parse::<u32>()?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        bail!("{s:?} is not a date (YYYY-MM-DD)");
    }
    Ok((y, m, d))
}

struct Allow {
    matcher: globset::GlobMatcher,
    ids: BTreeSet<String>,
    reason: Option<String>,
}

/// The policy of one run.
pub struct Policy {
    pub threshold: Severity,
    pub ignore_unfixed: bool,
    ignores: Vec<Rule>,
    allow: Vec<Allow>,
    /// Human-readable warnings (expired ignore entries).
    pub warnings: Vec<String>,
}

impl Policy {
    /// Build the policy; expired ignore entries are dropped with a warning.
    pub fn new(
        threshold: Severity,
        ignore_unfixed: bool,
        ignore_files: &[PathBuf],
        allow: &[ScanAllow],
        config_path: Option<&PathBuf>,
        today: (i64, u32, u32),
    ) -> Result<Self> {
        let mut warnings = Vec::new();
        let mut ignores = Vec::new();
        for path in ignore_files {
            for rule in super::ignore::load(path)? {
                if rule.expired(today) {
                    warnings.push(format!(
                        "{}: ignore entry {} expired on {}: it no longer ignores anything",
                        rule.origin,
                        rule.id,
                        rule.expires.as_deref().unwrap_or_default()
                    ));
                } else {
                    ignores.push(rule);
                }
            }
        }
        let shown = config_path.map_or("harborize.yaml".to_string(), |p| p.display().to_string());
        let allow = allow
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let glob = globset::Glob::new(&a.image).with_context(|| {
                    format!("{shown}: scan.allow[{i}].image: invalid glob {:?}", a.image)
                })?;
                Ok(Allow {
                    matcher: glob.compile_matcher(),
                    ids: a.ids.iter().map(|s| s.trim().to_string()).collect(),
                    reason: a.reason.clone(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Policy {
            threshold,
            ignore_unfixed,
            ignores,
            allow,
            warnings,
        })
    }

    /// Decide `ignored` and `fails` of each finding of an image referenced by `names`.
    pub fn apply(&self, names: &[String], findings: &mut [Finding]) {
        for f in findings.iter_mut() {
            f.ignored = self.ignored(names, f);
            f.fails = f.ignored.is_none() && f.severity >= self.threshold;
        }
    }

    fn ignored(&self, names: &[String], f: &Finding) -> Option<Ignored> {
        if let Some(e) = self.ignores.iter().find(|e| e.matches(f)) {
            let mut reason = e.reason.clone();
            if let Some(d) = &e.expires {
                let until = format!("until {d}");
                reason = Some(match reason {
                    Some(r) => format!("{r} ({until})"),
                    None => until,
                });
            }
            return Some(Ignored {
                by: "ignore-file",
                reason,
            });
        }
        if let Some(a) = self
            .allow
            .iter()
            .find(|a| a.ids.contains(&f.id) && names.iter().any(|n| a.matcher.is_match(n)))
        {
            return Some(Ignored {
                by: "allowlist",
                reason: a.reason.clone(),
            });
        }
        if self.ignore_unfixed && f.kind == "vulnerability" && !f.has_fix() {
            return Some(Ignored {
                by: "unfixed",
                reason: None,
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(id: &str, severity: Severity, fixed: Option<&str>) -> Finding {
        Finding {
            id: id.into(),
            kind: "vulnerability",
            severity,
            package: "p".into(),
            installed: Some("1".into()),
            fixed: fixed.map(Into::into),
            status: if fixed.is_some() { "fixed" } else { "affected" }.into(),
            title: None,
            url: None,
            cvss_score: None,
            target: "t".into(),
            fails: false,
            ignored: None,
        }
    }

    #[test]
    fn threshold_unfixed_ignore_and_allow() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ignore.yaml");
        std::fs::write(
            &file,
            "- id: CVE-A\n  expires: 2000-01-01\n- id: CVE-B\n  expires: 2999-12-31\n  reason: vendor says n/a\n",
        )
        .unwrap();
        let allow = vec![ScanAllow {
            image: "docker.io/library/nginx".into(),
            ids: vec!["CVE-C".into()],
            reason: Some("accepted".into()),
        }];
        let p = Policy::new(
            Severity::High,
            true,
            std::slice::from_ref(&file),
            &allow,
            None,
            (2026, 11, 28),
        )
        .unwrap();
        assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
        let mut f = vec![
            finding("CVE-A", Severity::Critical, Some("2")),
            finding("CVE-B", Severity::Critical, Some("2")),
            finding("CVE-C", Severity::Critical, Some("2")),
            finding("CVE-D", Severity::Critical, None),
            finding("CVE-E", Severity::Medium, Some("2")),
        ];
        p.apply(&["docker.io/library/nginx".into()], &mut f);
        let fails: Vec<bool> = f.iter().map(|f| f.fails).collect();
        assert_eq!(fails, [true, false, false, false, false]);
        assert_eq!(f[1].ignored.as_ref().unwrap().by, "ignore-file");
        assert_eq!(f[2].ignored.as_ref().unwrap().by, "allowlist");
        assert_eq!(f[3].ignored.as_ref().unwrap().by, "unfixed");
        assert!(f[4].ignored.is_none());
        let mut g = vec![finding("CVE-C", Severity::Critical, Some("2"))];
        p.apply(&["docker.io/library/redis".into()], &mut g);
        assert!(g[0].fails);
    }

    #[test]
    fn bad_dates_are_errors() {
        assert!(parse_date("2026-1-01").is_err());
        assert!(parse_date("2026-13-01").is_err());
        assert_eq!(parse_date("2026-02-03").unwrap(), (2026, 2, 3));
    }
}
