//! The `imagePullSecrets` a migration to Harbor makes unneeded (`migrate --pull-secrets`):
//! each use of a pull secret (in a pod spec, or through a ServiceAccount) can go when every
//! image of the workloads using it was an upstream registry now reached through Harbor,
//! and the Secret holds no credentials for Harbor itself. The objects come from the
//! plan's own read of each file ([`crate::pipeline::locate::pull_secrets`]); the fate of
//! each image from the plan's report at the same position. [`list`] renders the verdicts.

pub mod list;
mod workload;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

use self::workload::{fate, same_namespace, PodSpec, ServiceAccount};
use super::paths::relative;
use crate::pipeline::engine::FileResult;
use crate::pipeline::locate::pull_secrets::PullSecretObjects;
use crate::report::{ReferenceEntry, Report};

/// One place an `imagePullSecrets` entry is used, and whether it can go.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecretUse {
    pub secret: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub file: String,
    pub line: usize,
    /// `Deployment/web` (a pod spec) or `ServiceAccount/builder`.
    pub workload: String,
    /// `pod-spec` or `service-account`.
    pub via: String,
    /// Only upstream registries now reached through Harbor needed it here.
    pub candidate: bool,
    pub reason: String,
    /// Upstream registries the workload's images came from (now through Harbor).
    #[serde(default)]
    pub served: Vec<String>,
    /// Registries the Secret holds credentials for, when it is in the repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_registries: Option<Vec<String>>,
}

/// Find `imagePullSecrets` in the planned files under `root` (the objects each file's
/// plan read, [`FileResult::pull_secrets`]; files the plan could not process are left
/// out) and decide, from the planned report of the migration (`planned`: same text, so
/// same positions), which only served upstream registries that are now reached through
/// Harbor.
pub fn pull_secrets(
    root: &Path,
    plan: &[FileResult],
    planned: &Report,
    harbor: &str,
) -> Vec<SecretUse> {
    let entries: HashMap<(&str, usize, usize), &ReferenceEntry> = planned
        .references
        .iter()
        .map(|r| ((r.file.as_str(), r.line, r.column), r))
        .collect();
    let mut pods: Vec<PodSpec> = Vec::new();
    let mut accounts: Vec<ServiceAccount> = Vec::new();
    let mut secrets: Vec<(String, Option<String>, Vec<String>)> = Vec::new();
    for result in plan.iter().filter(|r| r.error.is_none()) {
        let Some(objects) = &result.pull_secrets else {
            continue;
        };
        let file = relative(root, &result.display);
        let PullSecretObjects {
            pods: specs,
            accounts: sas,
            secrets: regs,
        } = &**objects;
        for spec in specs {
            pods.push(PodSpec {
                workload: spec.workload.clone(),
                namespace: spec.namespace.clone(),
                service_account: spec.service_account.clone(),
                file: file.clone(),
                fates: spec
                    .images
                    .iter()
                    .map(|i| fate(&entries, &result.display, i))
                    .collect(),
                secrets: spec.secrets.clone(),
            });
        }
        accounts.extend(sas.iter().map(|a| ServiceAccount {
            name: a.name.clone(),
            namespace: a.namespace.clone(),
            file: file.clone(),
            secrets: a.secrets.clone(),
        }));
        secrets.extend(
            regs.iter()
                .map(|s| (s.name.clone(), s.namespace.clone(), s.registries.clone())),
        );
    }

    let secret_regs = |name: &str, ns: &Option<String>| -> Option<Vec<String>> {
        secrets
            .iter()
            .find(|(n, sns, _)| n == name && same_namespace(sns, ns))
            .map(|(_, _, r)| r.clone())
    };
    let harbor_cred = |regs: &Option<Vec<String>>| -> bool {
        regs.as_ref().is_some_and(|r| {
            r.iter().any(|x| {
                let host = x
                    .trim_start_matches("https://")
                    .trim_start_matches("http://")
                    .split('/')
                    .next()
                    .unwrap_or("");
                host.eq_ignore_ascii_case(harbor)
            })
        })
    };
    // A Secret that holds credentials for Harbor itself stays, whatever its workloads pull.
    let keep_harbor_credentials =
        |regs: &Option<Vec<String>>, candidate: bool, reason: &str| -> (bool, String) {
            if candidate && harbor_cred(regs) {
                (
                    false,
                    format!("the Secret holds credentials for Harbor ({harbor}) itself"),
                )
            } else {
                (candidate, reason.to_string())
            }
        };
    let mut out = Vec::new();
    for pod in &pods {
        let (candidate, reason) = pod.verdict();
        for (secret, line) in &pod.secrets {
            let regs = secret_regs(secret, &pod.namespace);
            let (candidate, reason) = keep_harbor_credentials(&regs, candidate, &reason);
            out.push(SecretUse {
                secret: secret.clone(),
                namespace: pod.namespace.clone(),
                file: pod.file.clone(),
                line: *line,
                workload: pod.workload.clone(),
                via: "pod-spec".into(),
                candidate,
                reason,
                served: pod.served().into_iter().collect(),
                secret_registries: regs,
            });
        }
    }
    for sa in &accounts {
        let users: Vec<&PodSpec> = pods
            .iter()
            .filter(|p| p.service_account == sa.name && same_namespace(&p.namespace, &sa.namespace))
            .collect();
        let served: BTreeSet<String> = users.iter().flat_map(|p| p.served()).collect();
        let (candidate, reason) = if users.is_empty() {
            (
                false,
                format!(
                    "no workload in this repository runs as ServiceAccount {}",
                    sa.name
                ),
            )
        } else if let Some(p) = users.iter().find(|p| !p.verdict().0) {
            (false, p.verdict().1)
        } else {
            (
                true,
                format!(
                    "every image of the workloads running as {} ({}) now comes through Harbor (was {})",
                    sa.name,
                    users
                        .iter()
                        .map(|p| p.workload.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    served.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
        };
        for (secret, line) in &sa.secrets {
            let regs = secret_regs(secret, &sa.namespace);
            let (candidate, reason) = keep_harbor_credentials(&regs, candidate, &reason);
            out.push(SecretUse {
                secret: secret.clone(),
                namespace: sa.namespace.clone(),
                file: sa.file.clone(),
                line: *line,
                workload: format!("ServiceAccount/{}", sa.name),
                via: "service-account".into(),
                candidate,
                reason,
                served: served.iter().cloned().collect(),
                secret_registries: regs,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Secret with credentials for Harbor itself stays, even when every image of the
    /// workload that uses it now comes through Harbor; an upstream-only one goes.
    #[test]
    fn a_secret_for_harbor_itself_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      imagePullSecrets:\n        - name: harbor-creds\n        - name: hub-creds\n      containers:\n        - name: web\n          image: nginx:1.27\n";
        let secrets = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: harbor-creds\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{\"auths\":{\"harbor.example.com\":{\"auth\":\"eDp5\"}}}'\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: hub-creds\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"eDp5\"}}}'\n";
        std::fs::write(dir.path().join("deploy.yaml"), deploy).unwrap();
        std::fs::write(dir.path().join("secrets.yaml"), secrets).unwrap();
        let harbor = "harbor.example.com";
        let config = crate::config::Config::from_user(Default::default(), None).unwrap();
        let mapper = crate::mapping::Mapper::new(&config, harbor);
        let options = crate::pipeline::plan::PlanOptions {
            direction: crate::pipeline::plan::Direction::Forward,
            rewrite_hints: false,
            every_document: false,
        };
        let root = dir.path().to_path_buf();
        let plan = crate::pipeline::engine::plan(std::slice::from_ref(&root), &mapper, options);
        let planned = Report::build_from(harbor, &plan, false);
        let uses = pull_secrets(&root, &plan, &planned, harbor);
        let by_name = |n: &str| uses.iter().find(|u| u.secret == n).unwrap();
        let kept = by_name("harbor-creds");
        assert!(!kept.candidate, "{kept:?}");
        assert!(
            kept.reason
                .contains("credentials for Harbor (harbor.example.com) itself"),
            "{kept:?}"
        );
        assert!(by_name("hub-creds").candidate, "{uses:?}");
    }
}
