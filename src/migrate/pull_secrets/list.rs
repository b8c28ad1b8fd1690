//! The pull-secret list (`--pull-secrets FILE`): uses grouped per secret, as JSON or
//! markdown, candidates to decommission first, then those still needed and why.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::SecretUse;
use crate::migrate::markdown::cell;
use crate::migrate::report::RepoReport;
use crate::migrate::summary::MigrationReport;

/// A secret and all its uses, across one repository.
#[derive(Debug, Clone, Serialize)]
pub struct SecretVerdict {
    pub repo: String,
    pub secret: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub candidate: bool,
    pub served: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_registries: Option<Vec<String>>,
    pub uses: Vec<SecretUse>,
}

/// Group uses per (repository, namespace, secret): a secret can go only when every use can.
pub fn secret_verdicts(repos: &[RepoReport]) -> Vec<SecretVerdict> {
    let mut map: BTreeMap<(String, Option<String>, String), SecretVerdict> = BTreeMap::new();
    for r in repos {
        for u in &r.pull_secrets {
            let v = map
                .entry((r.repo.clone(), u.namespace.clone(), u.secret.clone()))
                .or_insert_with(|| SecretVerdict {
                    repo: r.repo.clone(),
                    secret: u.secret.clone(),
                    namespace: u.namespace.clone(),
                    candidate: true,
                    served: Vec::new(),
                    secret_registries: u.secret_registries.clone(),
                    uses: Vec::new(),
                });
            v.candidate &= u.candidate;
            for s in &u.served {
                if !v.served.contains(s) {
                    v.served.push(s.clone());
                }
            }
            v.uses.push(u.clone());
        }
    }
    let mut out: Vec<SecretVerdict> = map.into_values().collect();
    for v in &mut out {
        v.served.sort();
    }
    out
}

/// The pull-secret list, as JSON.
pub fn pull_secrets_json(harbor: &[String], verdicts: &[SecretVerdict]) -> String {
    let (candidates, kept): (Vec<&SecretVerdict>, Vec<&SecretVerdict>) =
        verdicts.iter().partition(|v| v.candidate);
    let v = serde_json::json!({
        "version": 1,
        "harbor": harbor,
        "candidates": candidates,
        "kept": kept,
    });
    serde_json::to_string_pretty(&v).expect("serializes") + "\n"
}

/// The pull-secret list, as markdown.
pub fn pull_secrets_markdown(harbor: &[String], verdicts: &[SecretVerdict]) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# imagePullSecrets to decommission\n");
    let _ = writeln!(
        md,
        "Pull secrets used only by workloads whose images were upstream registries now reached through Harbor ({}). Check each before deleting it: a secret may also serve workloads outside these repositories.\n",
        harbor
            .iter()
            .map(|h| format!("`{h}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let table = |md: &mut String, rows: Vec<&SecretVerdict>, with_reason: bool| {
        if with_reason {
            let _ = writeln!(
                md,
                "| secret | namespace | repository | why it stays | used at |"
            );
        } else {
            let _ = writeln!(md, "| secret | namespace | repository | served | used at |");
        }
        let _ = writeln!(md, "|---|---|---|---|---|");
        for v in rows {
            let used = v
                .uses
                .iter()
                .map(|u| format!("`{}:{}` ({})", u.file, u.line, u.workload))
                .collect::<Vec<_>>()
                .join("<br>");
            let mid = if with_reason {
                v.uses
                    .iter()
                    .filter(|u| !u.candidate)
                    .map(|u| u.reason.clone())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect::<Vec<_>>()
                    .join("; ")
            } else {
                let mut s = v.served.join(", ");
                if let Some(r) = &v.secret_registries {
                    s.push_str(&format!(" (secret holds: {})", r.join(", ")));
                }
                s
            };
            let _ = writeln!(
                md,
                "| `{}` | {} | {} | {} | {} |",
                v.secret,
                v.namespace.as_deref().unwrap_or("-"),
                cell(&v.repo),
                cell(&mid),
                used
            );
        }
    };
    let candidates: Vec<&SecretVerdict> = verdicts.iter().filter(|v| v.candidate).collect();
    let kept: Vec<&SecretVerdict> = verdicts.iter().filter(|v| !v.candidate).collect();
    let _ = writeln!(md, "## Candidates ({})\n", candidates.len());
    if candidates.is_empty() {
        let _ = writeln!(md, "None.");
    } else {
        table(&mut md, candidates, false);
    }
    let _ = writeln!(md, "\n## Still needed ({})\n", kept.len());
    if kept.is_empty() {
        let _ = writeln!(md, "None.");
    } else {
        table(&mut md, kept, true);
    }
    md
}

/// The pull-secret list of a run for `path`: JSON when it ends in `.json`, else markdown;
/// the Harbor hosts are those of the run's repositories.
pub fn list(report: &MigrationReport, path: &Path) -> String {
    let harbors: Vec<String> = report
        .repos
        .iter()
        .filter_map(|r| r.harbor.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let verdicts = secret_verdicts(&report.repos);
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if is_json {
        pull_secrets_json(&harbors, &verdicts)
    } else {
        pull_secrets_markdown(&harbors, &verdicts)
    }
}
