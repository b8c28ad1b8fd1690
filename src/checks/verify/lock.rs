//! The lock file of `verify --lock/--locked`: reference → digest, with the time and the
//! Harbor host, written from the verify stage's checks and compared with them.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};

use super::VerifySummary;
use crate::pipeline::plan::Status;
use crate::reference::Reference;
use crate::registry::{Check, Outcome};
use crate::report::Report;

/// The lock file: reference → digest, with the time and the Harbor host.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct LockFile {
    version: u32,
    harbor: String,
    generated: String,
    references: BTreeMap<String, String>,
}

/// Write the digest of every resolved check to `path`.
pub fn write_lock(path: &Path, harbor: &str, checks: &BTreeMap<String, Check>) -> Result<()> {
    let lock = LockFile {
        version: 1,
        harbor: harbor.to_string(),
        generated: httpdate::fmt_http_date(std::time::SystemTime::now()),
        references: checks
            .iter()
            .filter_map(|(k, c)| {
                c.digest
                    .clone()
                    .filter(|_| c.outcome == Outcome::Resolved)
                    .map(|d| (k.clone(), d))
            })
            .collect(),
    };
    let text = serde_json::to_string_pretty(&lock)? + "\n";
    std::fs::write(path, text).with_context(|| format!("cannot write lock file {}", path.display()))
}

/// Read the lock file at `path`, refusing one locked for another Harbor host.
pub fn read_lock(path: &Path, harbor: &str) -> Result<LockFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read lock file {}", path.display()))?;
    let lock: LockFile = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a harborize lock file", path.display()))?;
    if !lock.harbor.eq_ignore_ascii_case(harbor) {
        bail!(
            "{}: locked for Harbor {}, not {harbor}",
            path.display(),
            lock.harbor
        );
    }
    Ok(lock)
}

/// Compare checks with the lock: a different digest or a missing entry is a finding.
pub fn apply_lock(report: &mut Report, lock: &LockFile, summary: &mut VerifySummary) {
    for entry in &mut report.references {
        let Some(check) = entry.verify.as_mut() else {
            continue;
        };
        if check.outcome != Outcome::Resolved {
            continue;
        }
        let reference = entry
            .rewritten
            .as_deref()
            .filter(|_| entry.status == Status::Rewritten)
            .or(entry.normalized.as_deref())
            .and_then(|t| Reference::parse(t.rsplit('=').next().unwrap_or(t)).ok());
        let Some(reference) = reference else { continue };
        // A reference pinned after the lock was written is found by its name and tag.
        let without_digest = match reference.tag() {
            Some(t) => format!("{}:{t}", reference.name()),
            None => reference.name(),
        };
        let locked = lock
            .references
            .get(&reference.to_string())
            .or_else(|| lock.references.get(&without_digest));
        match locked {
            Some(d) if Some(d) == check.digest.as_ref() => {}
            Some(d) => {
                check.outcome = Outcome::DigestMismatch;
                check.message = Some(format!("locked {d}"));
                summary.failed += 1;
            }
            None => {
                check.outcome = Outcome::NotLocked;
                summary.failed += 1;
            }
        }
    }
}
