//! SARIF 2.1.0 for GitHub code scanning: a rule per vulnerability ID, a result per failing
//! finding at each reference of the image, errors as tool execution notifications.
//! serde_json does the escaping; [`sarif_uri`] percent-encodes the artifact locations.

use std::collections::BTreeMap;

use serde_json::json;

use super::scan::ScanOutput;
use crate::trivy::results::Finding;
use crate::trivy::Severity;

/// SARIF 2.1.0: a rule per ID, a result per failing finding at each reference of the
/// image; errors as tool execution notifications.
pub fn document(scan: &ScanOutput) -> serde_json::Value {
    let mut rules: Vec<serde_json::Value> = Vec::new();
    let mut rule_index: BTreeMap<String, usize> = BTreeMap::new();
    let mut results = Vec::new();
    for img in &scan.images {
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
    let notifications: Vec<serde_json::Value> = scan
        .errors
        .iter()
        .map(|e| {
            let mut n = json!({"level": "error", "message": {"text": e.message}});
            if let (Some(f), Some(l)) = (&e.location.file, e.location.line) {
                n["locations"] = json!([{
                    "physicalLocation": {
                        "artifactLocation": {"uri": sarif_uri(f)},
                        "region": {"startLine": l, "startColumn": e.location.column.unwrap_or(1)}
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
                "executionSuccessful": scan.errors.is_empty(),
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
        }]
    })
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
pub fn sarif_uri(file: &str) -> String {
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
