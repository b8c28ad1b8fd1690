//! The scan report (JSON contract, version 1): what `harborize scan` and the `--scan`
//! stage found. Each format renders it in its own module (text, json, sarif, markdown,
//! github).

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;

use crate::report::{github, json, markdown, sarif, text};
use crate::report::{Code, EXIT_ERROR, EXIT_FINDINGS, EXIT_OK};
use crate::trivy::results::Finding;
use crate::trivy::{ScanFormat, Severity};

/// The result of `harborize scan` (and of the `--scan` stage).
#[derive(Debug, Serialize)]
pub struct ScanOutput {
    pub version: u32,
    pub harbor: String,
    pub policy: PolicySummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trivy_server: Option<String>,
    pub images: Vec<ImageResult>,
    pub errors: Vec<ScanError>,
    pub warnings: Vec<String>,
    pub summary: ScanSummary,
}

#[derive(Debug, Serialize)]
pub struct PolicySummary {
    /// Lowest severity that fails.
    pub severity: Severity,
    pub ignore_unfixed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignore_file: Option<String>,
}

/// One unique image (digest) and everything that references it.
#[derive(Debug, Serialize)]
pub struct ImageResult {
    /// What Trivy scanned: `<harbor>/<repo>@<digest>`.
    pub image: String,
    pub digest: String,
    /// The platform scanned (`--platform`), when the digest is an index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The names (without tag) the image is referenced by, upstream and Harbor form.
    pub names: Vec<String>,
    pub references: Vec<RefLocation>,
    /// `pass`, `fail` or `error`.
    pub result: Verdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub findings: Vec<Finding>,
}

impl ImageResult {
    /// The image, with ` [platform]` when one was asked for.
    pub fn label(&self) -> String {
        match &self.platform {
            Some(p) => format!("{} [{p}]", self.image),
            None => self.image.clone(),
        }
    }

    /// Findings not ignored, per severity.
    pub fn counts(&self) -> BTreeMap<Severity, usize> {
        let mut m = BTreeMap::new();
        for f in self.findings.iter().filter(|f| f.ignored.is_none()) {
            *m.entry(f.severity).or_insert(0) += 1;
        }
        m
    }

    pub fn failing(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.fails)
    }
}

/// Where a reference is written.
#[derive(Debug, Clone, Serialize)]
pub struct RefLocation {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// As written in the file.
    pub original: String,
    /// The Harbor reference it resolves through.
    pub reference: String,
}

/// Something that kept an image from being scanned (or the scan from running): a
/// finding of code `scan-error` (or a per-file error carried over from the plan).
pub type ScanError = crate::report::Finding;

/// An image's result: the JSON `result` (`pass`, `fail`, `error`: its code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No finding fails the policy.
    Pass,
    /// A finding at or above the threshold that nothing ignores.
    Fail,
    /// The image could not be scanned.
    Error,
}

impl Verdict {
    /// The code of the verdict (its JSON word).
    pub fn code(self) -> Code {
        match self {
            Verdict::Pass => Code::ScanPass,
            Verdict::Fail => Code::ScanFail,
            Verdict::Error => Code::ScanImageError,
        }
    }
}

impl Serialize for Verdict {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code().as_str())
    }
}

#[derive(Debug, Default, Serialize)]
pub struct ScanSummary {
    /// References through Harbor (rewritten or already proxied).
    pub references: usize,
    /// References that do not go through Harbor (not scanned).
    pub not_on_harbor: usize,
    /// Unique images (digests).
    pub images: usize,
    pub trivy_runs: usize,
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
    pub findings: usize,
    pub failing: usize,
    pub ignored: usize,
}

impl ScanOutput {
    /// 2 when anything could not be scanned, else 1 when a finding fails, else 0.
    pub fn exit_code(&self) -> crate::exit::ExitStatus {
        if !self.errors.is_empty() {
            EXIT_ERROR
        } else if self.summary.failed > 0 {
            EXIT_FINDINGS
        } else {
            EXIT_OK
        }
    }

    /// Recount the summary from the images and errors.
    pub fn finish(&mut self) {
        let s = &mut self.summary;
        s.images = self.images.len();
        s.passed = self
            .images
            .iter()
            .filter(|i| i.result == Verdict::Pass)
            .count();
        s.failed = self
            .images
            .iter()
            .filter(|i| i.result == Verdict::Fail)
            .count();
        s.errors = self.errors.len();
        s.findings = self.images.iter().map(|i| i.findings.len()).sum();
        s.failing = self.images.iter().map(|i| i.failing().count()).sum();
        s.ignored = self
            .images
            .iter()
            .flat_map(|i| &i.findings)
            .filter(|f| f.ignored.is_some())
            .count();
    }

    /// The report in `format` (stdout or `--output`).
    pub fn render(&self, format: ScanFormat, out: &mut dyn Write) -> std::io::Result<()> {
        match format {
            ScanFormat::Json => json::write(out, self),
            ScanFormat::Text => text::write_scan(out, self),
            ScanFormat::Sarif => json::write(out, &self.sarif()),
            ScanFormat::Markdown => markdown::write_scan(out, self),
            ScanFormat::Github => github::write_scan(out, self),
        }
    }

    /// SARIF 2.1.0 (see [`sarif`]).
    pub fn sarif(&self) -> serde_json::Value {
        sarif::document(self)
    }

    /// Warnings and errors on stderr (every format: the report on stdout stays one format;
    /// the text report shows an image's error under the image too).
    pub fn print_diagnostics(&self) {
        let mut err = anstream::stderr().lock();
        for w in &self.warnings {
            let _ = writeln!(err, "warning: {}", text::escape_text(w));
        }
        for e in &self.errors {
            let _ = text::write_finding(&mut err, e);
        }
    }

    /// The one-line summary the text, markdown and github renderings end with.
    pub fn headline(&self) -> String {
        let s = &self.summary;
        format!(
            "scan: {} image(s) from {} reference(s), {} trivy run(s): {} passed, {} failed, {} error(s); \
             {} finding(s), {} failing (threshold {}), {} ignored",
            s.images,
            s.references,
            s.trivy_runs,
            s.passed,
            s.failed,
            s.errors,
            s.findings,
            s.failing,
            self.policy.severity,
            s.ignored
        )
    }
}

/// The POLICY column: `FAIL`, `ignored (by: reason)` or `below THRESHOLD`.
pub(super) fn policy_word(f: &Finding, threshold: Severity) -> String {
    if f.fails {
        return "FAIL".into();
    }
    if let Some(i) = &f.ignored {
        return match &i.reason {
            Some(r) => format!("ignored ({}: {r})", i.by),
            None => format!("ignored ({})", i.by),
        };
    }
    format!("below {threshold}")
}

/// `host/repo@sha256:0123456789ab` (12 hex digits) for narrow tables.
pub(super) fn short_image(image: &str) -> String {
    match image.split_once("@sha256:") {
        Some((name, hex)) => format!("{name}@sha256:{}", &hex[..hex.len().min(12)]),
        None => image.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_verdicts_keep_their_json_words() {
        let words: Vec<_> = [Verdict::Pass, Verdict::Fail, Verdict::Error]
            .iter()
            .map(|v| serde_json::to_value(v).unwrap())
            .collect();
        assert_eq!(words, ["pass", "fail", "error"]);
    }
}
