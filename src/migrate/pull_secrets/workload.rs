//! The workloads of the pull-secret inventory: each pod spec with what became of its
//! images (routed through Harbor, already there, or staying direct and why), and the
//! ServiceAccounts that lend their pull secrets to the pod specs running as them.

use std::collections::{BTreeSet, HashMap};

use crate::pipeline::locate::pull_secrets as located;
use crate::pipeline::plan::Status;
use crate::reference::{is_templated, Reference};
use crate::report::ReferenceEntry;

/// How one image of a pod spec fares.
pub(super) enum ImageFate {
    /// Rewritten by this migration: the upstream registry it came from.
    Routed(String),
    /// Already on Harbor before.
    OnHarbor,
    /// Stays direct (why).
    Direct(String),
}

pub(super) struct PodSpec {
    pub(super) workload: String,
    pub(super) namespace: Option<String>,
    pub(super) service_account: String,
    pub(super) file: String,
    pub(super) fates: Vec<ImageFate>,
    pub(super) secrets: Vec<(String, usize)>,
}

impl PodSpec {
    pub(super) fn served(&self) -> BTreeSet<String> {
        self.fates
            .iter()
            .filter_map(|f| match f {
                ImageFate::Routed(r) => Some(r.clone()),
                _ => None,
            })
            .collect()
    }
    /// (candidate, reason)
    pub(super) fn verdict(&self) -> (bool, String) {
        if self.fates.is_empty() {
            return (false, format!("{}: no image found", self.workload));
        }
        let direct: Vec<&str> = self
            .fates
            .iter()
            .filter_map(|f| match f {
                ImageFate::Direct(why) => Some(why.as_str()),
                _ => None,
            })
            .collect();
        if !direct.is_empty() {
            return (false, direct.join("; "));
        }
        let served = self.served();
        if served.is_empty() {
            return (
                false,
                format!(
                    "every image of {} was already on Harbor before the migration: the secret may hold Harbor credentials",
                    self.workload
                ),
            );
        }
        (
            true,
            format!(
                "every image of {} now comes through Harbor (was {})",
                self.workload,
                served.into_iter().collect::<Vec<_>>().join(", ")
            ),
        )
    }
}

pub(super) struct ServiceAccount {
    pub(super) name: String,
    pub(super) namespace: Option<String>,
    pub(super) file: String,
    pub(super) secrets: Vec<(String, usize)>,
}

pub(super) fn same_namespace(a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    }
}

/// What becomes of one image scalar, from the planned report entry at its position.
pub(super) fn fate(
    entries: &HashMap<(&str, usize, usize), &ReferenceEntry>,
    file: &str,
    s: &located::Image,
) -> ImageFate {
    let Some(e) = entries.get(&(file, s.line, s.column)) else {
        let why = if is_templated(&s.value) {
            "templated"
        } else {
            "not a recognized image reference"
        };
        return ImageFate::Direct(format!("{} stays direct ({why})", s.value));
    };
    match e.status {
        Status::Rewritten => ImageFate::Routed(
            e.normalized
                .as_deref()
                .and_then(|n| Reference::parse(n).ok())
                .map(|r| r.domain().to_string())
                .unwrap_or_else(|| "?".into()),
        ),
        Status::AlreadyProxied => ImageFate::OnHarbor,
        other => {
            let label = serde_json::to_value(other)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let mut why = format!("{} stays direct ({label}", e.original);
            if let Some(m) = &e.message {
                why.push_str(&format!(": {m}"));
            }
            why.push(')');
            ImageFate::Direct(why)
        }
    }
}
