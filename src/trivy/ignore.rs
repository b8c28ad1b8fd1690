//! Ignore files in all three spellings users already have: harborize's own YAML list
//! (`- {id, expires, reason}`), Trivy's `.trivyignore` (one ID per line, `#` comments,
//! `exp:YYYY-MM-DD`) and Trivy's `.trivyignore.yaml` (`vulnerabilities:` / `secrets:` lists
//! of `{id, paths, purls, expired_at, statement}`). A repository that already gates with
//! Trivy keeps its ignore file, and the same file means the same thing to both tools.
//!
//! Expiry differs on purpose: harborize's `expires` ignores through the end of that day;
//! Trivy's `exp:` / `expired_at` stop ignoring at the start of it (Trivy compares the
//! current time with midnight UTC of that date), and harborize follows Trivy for its files.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use super::policy::{load_ignore_file, parse_date};
use super::results::Finding;

/// The spelling of an ignore file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoreFormat {
    /// harborize's YAML list of `{id, expires, reason}`.
    Harborize,
    /// Trivy's `.trivyignore` text file.
    TrivyText,
    /// Trivy's `.trivyignore.yaml`.
    TrivyYaml,
}

/// One ignore rule, whatever file it came from.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    /// `YYYY-MM-DD` as written.
    pub expires: Option<String>,
    /// Trivy's semantics: expired from the start of `expires` on (else: after its end).
    pub expires_at_start: bool,
    pub reason: Option<String>,
    /// Only findings of this kind (`vulnerability`, `secret`); `None` matches every kind.
    pub kind: Option<&'static str>,
    /// Trivy `paths`: globs of the file the finding is in (empty: anywhere).
    pub paths: Vec<globset::GlobMatcher>,
    /// Trivy `purls`: (package name, version) pairs (empty: any package).
    pub purls: Vec<(String, Option<String>)>,
    /// `file:line` of the rule, for warnings.
    pub origin: String,
}

impl Rule {
    /// Has the rule expired on `today`?
    pub fn expired(&self, today: (i64, u32, u32)) -> bool {
        match self.expires.as_deref().map(parse_date) {
            Some(Ok(d)) if self.expires_at_start => d <= today,
            Some(Ok(d)) => d < today,
            _ => false,
        }
    }

    /// Does the rule cover this finding?
    pub fn matches(&self, f: &Finding) -> bool {
        if !self.id.eq_ignore_ascii_case(&f.id) || self.kind.is_some_and(|k| k != f.kind) {
            return false;
        }
        let in_path = self.paths.is_empty()
            || self.paths.iter().any(|p| {
                let file = f.package.trim_start_matches('/');
                p.is_match(file) || p.is_match(&f.target)
            });
        let in_purl = self.purls.is_empty()
            || self.purls.iter().any(|(name, version)| {
                name == &f.package
                    && version
                        .as_ref()
                        .is_none_or(|v| f.installed.as_deref() == Some(v.as_str()))
            });
        in_path && in_purl
    }
}

/// The format of `path`: Trivy's YAML by its `.trivyignore.yaml`/`.yml` name or its
/// top-level mapping, harborize's by a top-level list, else Trivy's text format.
pub fn detect(path: &Path, text: &str) -> IgnoreFormat {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if name.ends_with(".trivyignore.yaml") || name.ends_with(".trivyignore.yml") {
        return IgnoreFormat::TrivyYaml;
    }
    if name == ".trivyignore" {
        return IgnoreFormat::TrivyText;
    }
    // The first line that is not blank nor a comment decides.
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#') && l != &"---");
    match first {
        Some(l) if l.starts_with('-') || l.starts_with('[') => IgnoreFormat::Harborize,
        Some(l)
            if [
                "vulnerabilities:",
                "secrets:",
                "misconfigurations:",
                "licenses:",
            ]
            .iter()
            .any(|k| l.starts_with(k)) =>
        {
            IgnoreFormat::TrivyYaml
        }
        // An empty file is no rules in every format.
        None => IgnoreFormat::Harborize,
        Some(_) => IgnoreFormat::TrivyText,
    }
}

/// Read the rules of one ignore file, in whichever format it is written.
pub fn load(path: &Path) -> Result<Vec<Rule>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read ignore file {}", path.display()))?;
    match detect(path, &text) {
        IgnoreFormat::Harborize => Ok(load_ignore_file(path)?
            .into_iter()
            .map(|e| Rule {
                origin: format!("{}", path.display()),
                id: e.id,
                expires: e.expires,
                expires_at_start: false,
                reason: e.reason,
                kind: None,
                paths: Vec::new(),
                purls: Vec::new(),
            })
            .collect()),
        IgnoreFormat::TrivyText => parse_text(path, &text),
        IgnoreFormat::TrivyYaml => parse_yaml(path, &text),
    }
}

/// Trivy's `.trivyignore`: `ID [exp:YYYY-MM-DD]` per line, `#` starts a comment line.
fn parse_text(path: &Path, text: &str) -> Result<Vec<Rule>> {
    let mut rules = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let origin = format!("{}:{}", path.display(), i + 1);
        let mut fields = line.split_whitespace();
        let id = fields.next().unwrap_or_default().to_string();
        let mut expires = None;
        for f in fields {
            if f.starts_with('#') {
                break;
            }
            if let Some(d) = f.strip_prefix("exp:") {
                parse_date(d).with_context(|| format!("{origin}: {id}: exp"))?;
                expires = Some(d.to_string());
            }
        }
        rules.push(Rule {
            id,
            expires,
            expires_at_start: true,
            reason: None,
            kind: None,
            paths: Vec::new(),
            purls: Vec::new(),
            origin,
        });
    }
    Ok(rules)
}

#[derive(Deserialize)]
struct TrivyYaml {
    #[serde(default)]
    vulnerabilities: Vec<TrivyYamlEntry>,
    #[serde(default)]
    secrets: Vec<TrivyYamlEntry>,
    // Scanners harborize does not run: accepted so that a shared file loads.
    #[serde(default)]
    misconfigurations: Vec<TrivyYamlEntry>,
    #[serde(default)]
    licenses: Vec<TrivyYamlEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrivyYamlEntry {
    id: String,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    purls: Vec<String>,
    #[serde(default)]
    expired_at: Option<String>,
    #[serde(default)]
    statement: Option<String>,
}

/// Trivy's `.trivyignore.yaml`.
fn parse_yaml(path: &Path, text: &str) -> Result<Vec<Rule>> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let doc: TrivyYaml = serde_yaml_ng::from_str(text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(":{}:{}", l.line(), l.column()))
            .unwrap_or_default();
        let msg = e.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        anyhow::anyhow!(
            "{}{at}: {msg} (expected Trivy's .trivyignore.yaml: vulnerabilities/secrets lists \
             of {{id, paths, purls, expired_at, statement}})",
            path.display()
        )
    })?;
    let _unused = (doc.misconfigurations.len(), doc.licenses.len());
    let mut rules = Vec::new();
    for (kind, section, entries) in [
        ("vulnerability", "vulnerabilities", doc.vulnerabilities),
        ("secret", "secrets", doc.secrets),
    ] {
        for (i, e) in entries.into_iter().enumerate() {
            let origin = format!("{}: {section}[{i}]", path.display());
            if e.id.trim().is_empty() {
                bail!("{origin}: empty id");
            }
            if let Some(d) = &e.expired_at {
                parse_date(d).with_context(|| format!("{origin} ({}): expired_at", e.id))?;
            }
            let paths = e
                .paths
                .iter()
                .map(|p| {
                    globset::Glob::new(p.trim_start_matches('/'))
                        .map(|g| g.compile_matcher())
                        .with_context(|| format!("{origin}: invalid path glob {p:?}"))
                })
                .collect::<Result<Vec<_>>>()?;
            let purls = e
                .purls
                .iter()
                .map(|p| parse_purl(p).with_context(|| format!("{origin}: purl {p:?}")))
                .collect::<Result<Vec<_>>>()?;
            rules.push(Rule {
                id: e.id.trim().to_string(),
                expires: e.expired_at,
                expires_at_start: true,
                reason: e.statement,
                kind: Some(kind),
                paths,
                purls,
                origin,
            });
        }
    }
    Ok(rules)
}

/// `pkg:TYPE/NAMESPACE/NAME@VERSION?QUALIFIERS#SUBPATH` → (NAME, VERSION).
fn parse_purl(purl: &str) -> Result<(String, Option<String>)> {
    let Some(rest) = purl.trim().strip_prefix("pkg:") else {
        bail!("not a package URL (pkg:TYPE/NAME@VERSION)");
    };
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (path, version) = match rest.rsplit_once('@') {
        Some((p, v)) => (p, Some(percent_decode(v))),
        None => (rest, None),
    };
    let name = path.rsplit('/').next().unwrap_or_default();
    if name.is_empty() || !path.contains('/') {
        bail!("not a package URL (pkg:TYPE/NAME@VERSION)");
    }
    Ok((percent_decode(name), version))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| {
            std::str::from_utf8(h)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        });
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The ignore files Trivy would read at the repository root, when `--ignore-file` is not
/// given: `.trivyignore`, then `.trivyignore.yaml` (both, when both exist).
pub fn discover(root: &Path) -> Vec<PathBuf> {
    [".trivyignore", ".trivyignore.yaml", ".trivyignore.yml"]
        .iter()
        .map(|n| root.join(n))
        .filter(|p| p.is_file())
        .collect()
}

/// The repository root of `start`: the nearest directory at or above it holding `.git`,
/// else `start` itself (its directory when it is a file).
pub fn repository_root(start: &Path) -> PathBuf {
    let start = std::path::absolute(start).unwrap_or_else(|_| start.to_path_buf());
    let dir = if start.is_file() {
        start.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        start
    };
    crate::repo_path::git_root(&dir).unwrap_or(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(id: &str, kind: &'static str, package: &str, installed: &str) -> Finding {
        Finding {
            id: id.into(),
            kind,
            severity: super::super::Severity::High,
            package: package.into(),
            installed: Some(installed.into()),
            fixed: None,
            status: "affected".into(),
            title: None,
            url: None,
            cvss_score: None,
            target: "img (alpine 3.22.2)".into(),
            fails: false,
            ignored: None,
        }
    }

    #[test]
    fn formats_are_told_apart_by_name_and_content() {
        let p = Path::new("ignore");
        assert_eq!(detect(p, "- id: CVE-1\n"), IgnoreFormat::Harborize);
        assert_eq!(detect(p, "# x\nCVE-1\n"), IgnoreFormat::TrivyText);
        assert_eq!(
            detect(p, "vulnerabilities:\n  - id: CVE-1\n"),
            IgnoreFormat::TrivyYaml
        );
        assert_eq!(
            detect(Path::new("a/.trivyignore.yaml"), ""),
            IgnoreFormat::TrivyYaml
        );
        assert_eq!(
            detect(Path::new(".trivyignore"), "- x"),
            IgnoreFormat::TrivyText
        );
    }

    #[test]
    fn trivy_text_lines_comments_and_expiry() {
        let rules = parse_text(
            Path::new(".trivyignore"),
            "# accepted\n\nCVE-1\nCVE-2 exp:2026-11-30\n  CVE-3   # trailing\n",
        )
        .unwrap();
        let ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["CVE-1", "CVE-2", "CVE-3"]);
        // Trivy: expired from the start of the day on.
        assert!(rules[1].expired((2026, 11, 30)));
        assert!(!rules[1].expired((2026, 11, 29)));
        assert!(parse_text(Path::new("x"), "CVE-1 exp:tomorrow\n").is_err());
    }

    #[test]
    fn trivy_yaml_kinds_purls_and_paths() {
        let rules = parse_yaml(
            Path::new(".trivyignore.yaml"),
            "vulnerabilities:\n  - id: CVE-1\n    purls: [\"pkg:apk/alpine/busybox@1.37.0-r0?arch=x86_64\"]\n    statement: n/a\n\
             secrets:\n  - id: aws-access-key-id\n    paths: [\"etc/*.env\"]\n    expired_at: 2999-01-01\n",
        )
        .unwrap();
        assert_eq!(rules.len(), 2);
        assert!(rules[0].matches(&finding("CVE-1", "vulnerability", "busybox", "1.37.0-r0")));
        assert!(!rules[0].matches(&finding("CVE-1", "vulnerability", "busybox", "1.36")));
        assert!(!rules[0].matches(&finding("CVE-1", "secret", "busybox", "1.37.0-r0")));
        let s = finding("aws-access-key-id", "secret", "/etc/app.env", "");
        assert!(rules[1].matches(&s));
        assert!(!rules[1].matches(&finding("aws-access-key-id", "secret", "/opt/x", "")));
        assert!(parse_yaml(Path::new("x"), "vulnerabilities:\n  - {id: A, bogus: 1}\n").is_err());
    }
}
