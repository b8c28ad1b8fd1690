//! The scan report (JSON contract, version 1) and its renderings: a table per image,
//! SARIF 2.1.0, Markdown and GitHub workflow annotations.

use crate::report::escape_markdown_cell;
use std::collections::BTreeMap;
use std::io::Write;

use anstyle::{AnsiColor, Style};
use serde::Serialize;
use serde_json::json;

use crate::report::{escape_data, escape_property, escape_text};
use crate::report::{EXIT_ERROR, EXIT_FINDINGS, EXIT_OK};
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
    pub result: &'static str,
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

/// Something that kept an image from being scanned (or the scan from running).
#[derive(Debug, Clone, Serialize)]
pub struct ScanError {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    pub message: String,
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
        s.passed = self.images.iter().filter(|i| i.result == "pass").count();
        s.failed = self.images.iter().filter(|i| i.result == "fail").count();
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

    pub fn render(&self, format: ScanFormat, out: &mut dyn Write) -> std::io::Result<()> {
        match format {
            ScanFormat::Json => {
                serde_json::to_writer_pretty(&mut *out, self)?;
                writeln!(out)
            }
            ScanFormat::Text => self.text(out),
            ScanFormat::Sarif => {
                serde_json::to_writer_pretty(&mut *out, &self.sarif())?;
                writeln!(out)
            }
            ScanFormat::Markdown => self.markdown(out),
            ScanFormat::Github => self.github(out),
        }
    }

    fn headline(&self) -> String {
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

    fn text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let bold = Style::new().bold();
        let red = Style::new().fg_color(Some(AnsiColor::Red.into())).bold();
        let green = Style::new().fg_color(Some(AnsiColor::Green.into())).bold();
        let yellow = Style::new().fg_color(Some(AnsiColor::Yellow.into()));
        for img in &self.images {
            let (label, style) = match img.result {
                "pass" => ("PASS", green),
                "fail" => ("FAIL", red),
                _ => ("ERROR", red),
            };
            write!(
                out,
                "{style}{label}{style:#} {bold}{}{bold:#}",
                escape_text(&img.image)
            )?;
            if let Some(p) = &img.platform {
                write!(out, " [{}]", escape_text(p))?;
            }
            if let Some(os) = &img.os {
                write!(out, " ({})", escape_text(os))?;
            }
            writeln!(out)?;
            for r in &img.references {
                writeln!(
                    out,
                    "  {}:{}:{}: {}",
                    escape_text(&r.file),
                    r.line,
                    r.column,
                    escape_text(&r.original)
                )?;
            }
            if let Some(m) = &img.message {
                writeln!(out, "  {red}error{red:#}: {}", escape_text(m))?;
            }
            if img.findings.is_empty() {
                if img.result != "error" {
                    writeln!(out, "  no findings")?;
                }
                continue;
            }
            let rows: Vec<[String; 6]> = img
                .findings
                .iter()
                .map(|f| {
                    [
                        f.id.clone(),
                        f.severity.to_string(),
                        f.package.clone(),
                        f.installed.clone().unwrap_or_else(|| "-".into()),
                        f.fixed.clone().unwrap_or_else(|| "-".into()),
                        policy_word(f, self.policy.severity),
                    ]
                    .map(|cell| escape_text(&cell).into_owned())
                })
                .collect();
            let header = ["ID", "SEVERITY", "PACKAGE", "INSTALLED", "FIXED", "POLICY"];
            let mut widths = header.map(str::len);
            for r in &rows {
                for (w, c) in widths.iter_mut().zip(r) {
                    *w = (*w).max(c.chars().count());
                }
            }
            let line = |cells: [&str; 6]| {
                let mut s = String::from(" ");
                for (i, c) in cells.iter().enumerate() {
                    if i + 1 == cells.len() {
                        s.push_str(&format!(" {c}"));
                    } else {
                        s.push_str(&format!(" {c:<w$}", w = widths[i]));
                    }
                }
                s
            };
            writeln!(out, "{bold}{}{bold:#}", line(header))?;
            for (r, f) in rows.iter().zip(&img.findings) {
                let text = line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]]);
                let style = if f.fails {
                    red
                } else if f.ignored.is_some() {
                    Style::new()
                } else {
                    yellow
                };
                writeln!(out, "{style}{text}{style:#}")?;
            }
        }
        writeln!(out, "{bold}{}{bold:#}", self.headline())
    }

    fn markdown(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let verdict = match self.exit_code() {
            EXIT_OK => "✅ passed",
            EXIT_FINDINGS => "❌ failed",
            _ => "⚠️ error",
        };
        writeln!(out, "## harborize scan: {verdict}\n")?;
        writeln!(
            out,
            "{} image(s) from {} reference(s) through `{}`; threshold **{}**{}.\n",
            self.summary.images,
            self.summary.references,
            escape_markdown_cell(&self.harbor),
            self.policy.severity,
            if self.policy.ignore_unfixed {
                ", unfixed ignored"
            } else {
                ""
            }
        )?;
        if !self.images.is_empty() {
            writeln!(
                out,
                "| Image | References | Critical | High | Medium | Low | Unknown | Result |"
            )?;
            writeln!(out, "|---|---|---:|---:|---:|---:|---:|---|")?;
            for img in &self.images {
                let counts = img.counts();
                let refs: Vec<String> = img
                    .references
                    .iter()
                    .map(|r| format!("`{}:{}`", escape_markdown_cell(&r.file), r.line))
                    .collect();
                let result = match img.result {
                    "pass" => "✅ pass",
                    "fail" => "❌ fail",
                    _ => "⚠️ error",
                };
                write!(
                    out,
                    "| `{}` | {} ",
                    escape_markdown_cell(&match &img.platform {
                        Some(p) => format!("{} [{p}]", short_image(&img.image)),
                        None => short_image(&img.image),
                    }),
                    refs.join("<br>")
                )?;
                for s in Severity::DESCENDING {
                    write!(out, "| {} ", counts.get(&s).copied().unwrap_or(0))?;
                }
                writeln!(out, "| {result} |")?;
            }
            writeln!(out)?;
        }
        for img in self.images.iter().filter(|i| !i.findings.is_empty()) {
            writeln!(
                out,
                "<details{}><summary><code>{}</code>: {} finding(s), {} failing</summary>\n",
                if img.result == "fail" { " open" } else { "" },
                html(&img.label()),
                img.findings.len(),
                img.failing().count()
            )?;
            writeln!(
                out,
                "| ID | Severity | Package | Installed | Fixed | Policy |"
            )?;
            writeln!(out, "|---|---|---|---|---|---|")?;
            for f in &img.findings {
                let id = match &f.url {
                    Some(u) => format!("[{}]({})", escape_markdown_cell(&f.id), u),
                    None => escape_markdown_cell(&f.id),
                };
                writeln!(
                    out,
                    "| {id} | {} | {} | {} | {} | {} |",
                    f.severity,
                    escape_markdown_cell(&f.package),
                    escape_markdown_cell(f.installed.as_deref().unwrap_or("")),
                    escape_markdown_cell(f.fixed.as_deref().unwrap_or("")),
                    escape_markdown_cell(&policy_word(f, self.policy.severity))
                )?;
            }
            writeln!(out, "\n</details>\n")?;
        }
        if !self.errors.is_empty() {
            writeln!(out, "**Errors**\n")?;
            for e in &self.errors {
                let at = match (&e.file, e.line) {
                    (Some(f), Some(l)) => format!("`{}:{l}` ", escape_markdown_cell(f)),
                    _ => String::new(),
                };
                writeln!(out, "- {at}{}", escape_markdown_cell(&e.message))?;
            }
            writeln!(out)?;
        }
        for w in &self.warnings {
            writeln!(out, "> warning: {}\n", escape_markdown_cell(w))?;
        }
        writeln!(out, "<sub>{}</sub>", escape_markdown_cell(&self.headline()))
    }

    fn github(&self, out: &mut dyn Write) -> std::io::Result<()> {
        for img in self.images.iter().filter(|i| i.result == "fail") {
            let failing: Vec<String> = img
                .failing()
                .map(|f| {
                    let mut s = format!("{} {} {}", f.id, f.severity, f.package);
                    if let Some(v) = &f.installed {
                        s.push_str(&format!(" {v}"));
                    }
                    match &f.fixed {
                        Some(x) => s.push_str(&format!(" (fixed in {x})")),
                        None => s.push_str(" (no fix)"),
                    }
                    s
                })
                .collect();
            for r in &img.references {
                writeln!(
                    out,
                    "::error file={},line={},col={},title=harborize scan: {} failing finding(s)::{}",
                    escape_property(&crate::repo_path::repo_relative(&r.file)),
                    r.line,
                    r.column,
                    failing.len(),
                    escape_data(&format!(
                        "{} ({}) has {} finding(s) at or above {}: {}",
                        r.original,
                        img.label(),
                        failing.len(),
                        self.policy.severity,
                        failing.join("; ")
                    ))
                )?;
            }
        }
        for e in &self.errors {
            let mut props = String::new();
            if let Some(f) = &e.file {
                props.push_str(&format!(
                    " file={}",
                    escape_property(&crate::repo_path::repo_relative(f))
                ));
                if let (Some(l), Some(c)) = (e.line, e.column) {
                    props.push_str(&format!(",line={l},col={c}"));
                }
                props.push(',');
            } else {
                props.push(' ');
            }
            writeln!(
                out,
                "::error{props}title=harborize scan error::{}",
                escape_data(&e.message)
            )?;
        }
        for w in &self.warnings {
            writeln!(out, "::warning title=harborize scan::{}", escape_data(w))?;
        }
        writeln!(out, "harborize {}", self.headline())
    }

    /// Warnings and errors on stderr (every format: the report on stdout stays one format;
    /// the text report shows an image's error under the image too).
    pub fn print_diagnostics(&self) {
        let red = Style::new().fg_color(Some(AnsiColor::Red.into())).bold();
        let mut err = anstream::stderr().lock();
        for w in &self.warnings {
            let _ = writeln!(err, "warning: {}", escape_text(w));
        }
        for e in &self.errors {
            let message = escape_text(&e.message);
            let _ = match (&e.file, e.line, e.column) {
                (Some(f), Some(l), Some(c)) => writeln!(
                    err,
                    "{red}error{red:#}: {}:{l}:{c}: {message}",
                    escape_text(f)
                ),
                _ => writeln!(err, "{red}error{red:#}: {message}"),
            };
        }
    }

    /// SARIF 2.1.0: a rule per ID, a result per failing finding at each reference of the
    /// image; errors as tool execution notifications.
    pub fn sarif(&self) -> serde_json::Value {
        let mut rules: Vec<serde_json::Value> = Vec::new();
        let mut rule_index: BTreeMap<String, usize> = BTreeMap::new();
        let mut results = Vec::new();
        for img in &self.images {
            for f in img.failing() {
                let idx = *rule_index.entry(f.id.clone()).or_insert_with(|| {
                    rules.push(sarif_rule(f));
                    rules.len() - 1
                });
                for r in &img.references {
                    let mut text = format!(
                        "{} ({}) in {} {}",
                        f.id,
                        f.severity,
                        f.package,
                        f.installed.as_deref().unwrap_or("")
                    );
                    match &f.fixed {
                        Some(x) => text.push_str(&format!(", fixed in {x}")),
                        None => text.push_str(", no fix yet"),
                    }
                    text.push_str(&format!(": image {} ({})", r.original, img.label()));
                    if let Some(t) = &f.title {
                        text.push_str(&format!(". {t}"));
                    }
                    results.push(json!({
                        "ruleId": f.id,
                        "ruleIndex": idx,
                        "level": "error",
                        "message": {"text": text},
                        "locations": [{
                            "physicalLocation": {
                                "artifactLocation": {"uri": sarif_uri(&r.file)},
                                "region": {"startLine": r.line, "startColumn": r.column}
                            }
                        }],
                        "partialFingerprints": {
                            "harborize/v1": fingerprint(&[
                                &r.file,
                                &r.original,
                                &f.id,
                                &f.package,
                                img.platform.as_deref().unwrap_or(""),
                            ])
                        },
                        "properties": {
                            "image": img.image,
                            "platform": img.platform,
                            "severity": f.severity,
                            "package": f.package,
                            "installedVersion": f.installed,
                            "fixedVersion": f.fixed,
                        }
                    }));
                }
            }
        }
        let notifications: Vec<serde_json::Value> = self
            .errors
            .iter()
            .map(|e| {
                let mut n = json!({"level": "error", "message": {"text": e.message}});
                if let (Some(f), Some(l)) = (&e.file, e.line) {
                    n["locations"] = json!([{
                        "physicalLocation": {
                            "artifactLocation": {"uri": sarif_uri(f)},
                            "region": {"startLine": l, "startColumn": e.column.unwrap_or(1)}
                        }
                    }]);
                }
                n
            })
            .collect();
        json!({
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [{
                "tool": {"driver": {
                    "name": "harborize",
                    "version": env!("CARGO_PKG_VERSION"),
                    "informationUri": "https://github.com/harborize/harborize",
                    "rules": rules,
                }},
                "invocations": [{
                    "executionSuccessful": self.errors.is_empty(),
                    "toolExecutionNotifications": notifications,
                }],
                "results": results,
            }]
        })
    }
}

fn sarif_rule(f: &Finding) -> serde_json::Value {
    let score = f.cvss_score.unwrap_or(match f.severity {
        Severity::Critical => 9.5,
        Severity::High => 8.0,
        Severity::Medium => 5.5,
        Severity::Low => 2.0,
        Severity::Unknown => 0.0,
    });
    let title = f.title.clone().unwrap_or_else(|| f.id.clone());
    let mut help = format!(
        "{}: {title}\nSeverity: {}\nPackage: {}",
        f.id, f.severity, f.package
    );
    if let Some(u) = &f.url {
        help.push_str(&format!("\n{u}"));
    }
    let mut rule = json!({
        "id": f.id,
        "name": if f.kind == "secret" { "Secret" } else { "ImageVulnerability" },
        "shortDescription": {"text": title},
        "fullDescription": {"text": title},
        "defaultConfiguration": {"level": "error"},
        "help": {"text": help},
        "properties": {
            "security-severity": format!("{score:.1}"),
            "precision": "very-high",
            "tags": ["security", if f.kind == "secret" { "secret" } else { "vulnerability" }, f.severity.as_str()],
        }
    });
    if let Some(u) = &f.url {
        rule["helpUri"] = json!(u);
    }
    rule
}

/// A repository-relative URI (see [`crate::repo_path`]): forward slashes, percent-encoded.
fn sarif_uri(file: &str) -> String {
    let f = crate::repo_path::repo_relative(file);
    f.split('/')
        .map(|seg| {
            seg.bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// FNV-1a over the parts, hex.
fn fingerprint(parts: &[&str]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain([0u8]) {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

fn policy_word(f: &Finding, threshold: Severity) -> String {
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
fn short_image(image: &str) -> String {
    match image.split_once("@sha256:") {
        Some((name, hex)) => format!("{name}@sha256:{}", &hex[..hex.len().min(12)]),
        None => image.to_string(),
    }
}

fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
