//! Where a file names image pull secrets: the Kubernetes objects `migrate --pull-secrets`
//! decides about (pod specs and ServiceAccounts with `imagePullSecrets`, and Secrets of a
//! docker config type with the registries they hold credentials for).
//!
//! Taken from the text the plan read (the engine keeps them with each file's result),
//! so a file is read once per run and with the plan's decoding (byte-order mark stripped,
//! UTF-16 decoded, binary and over-large files skipped): positions match the plan's. What
//! becomes of each secret is decided by `migrate` (its pull_secrets module).

use std::path::Path;

use crate::pipeline::walk;
use crate::yaml::{self, Node, Stream};

/// One image scalar of a pod spec, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub line: usize,
    pub column: usize,
    pub value: String,
}

/// A map with a `containers` sequence (a pod spec, at any depth of an object).
#[derive(Debug, Clone)]
pub struct PodSpec {
    /// `Deployment/web`: the object holding the pod spec.
    pub workload: String,
    pub namespace: Option<String>,
    /// `serviceAccountName` (or `serviceAccount`), else `default`.
    pub service_account: String,
    /// The images of its init, regular and ephemeral containers.
    pub images: Vec<Image>,
    /// `imagePullSecrets` names and their lines.
    pub secrets: Vec<(String, usize)>,
}

/// A ServiceAccount and its `imagePullSecrets` (names and lines).
#[derive(Debug, Clone)]
pub struct ServiceAccount {
    pub name: String,
    pub namespace: Option<String>,
    pub secrets: Vec<(String, usize)>,
}

/// A `kubernetes.io/dockerconfigjson` (or `dockercfg`) Secret whose contents are in the
/// manifest, and the registries it holds credentials for.
#[derive(Debug, Clone)]
pub struct RegistrySecret {
    pub name: String,
    pub namespace: Option<String>,
    pub registries: Vec<String>,
}

/// What one file says about pull secrets.
#[derive(Debug, Clone, Default)]
pub struct PullSecretObjects {
    pub pods: Vec<PodSpec>,
    pub accounts: Vec<ServiceAccount>,
    pub secrets: Vec<RegistrySecret>,
}

/// The pull-secret objects of a file the plan read (`keep`: only plans kept for checks
/// and the engine's apply carry them). `None` when the text names no pull
/// secret, is a chart template, or does not parse (the plan reports that).
pub fn from_read(keep: bool, path: &Path, text: &str) -> Option<PullSecretObjects> {
    let bytes = text.as_bytes();
    let names = |w: &str| memchr::memmem::find(bytes, w.as_bytes()).is_some();
    if !keep || !(names("imagePullSecrets") || names("dockerconfigjson")) {
        return None;
    }
    if walk::is_helm_template(path, text) {
        return None;
    }
    let stream = yaml::parse(text).ok()?;
    let mut out = PullSecretObjects::default();
    for doc in &stream.documents {
        let objects: Vec<&Node> = if doc.get_str("kind") == Some("List") {
            doc.get("items")
                .and_then(Node::as_seq)
                .map(|s| s.iter().collect())
                .unwrap_or_default()
        } else {
            vec![doc]
        };
        for obj in objects {
            object(&stream, obj, &mut out);
        }
    }
    Some(out)
}

/// One Kubernetes object: a ServiceAccount, a Secret, or anything holding pod specs.
fn object(stream: &Stream, obj: &Node, out: &mut PullSecretObjects) {
    let Some(kind) = obj.get_str("kind") else {
        return;
    };
    let meta = obj.get("metadata");
    let name = meta.and_then(|m| m.get_str("name")).unwrap_or("?");
    let namespace = meta
        .and_then(|m| m.get_str("namespace"))
        .map(str::to_string);
    match kind {
        "ServiceAccount" => out.accounts.push(ServiceAccount {
            name: name.to_string(),
            namespace,
            secrets: secret_names(stream, obj),
        }),
        "Secret" => {
            if let Some(registries) = docker_config_registries(obj) {
                out.secrets.push(RegistrySecret {
                    name: name.to_string(),
                    namespace,
                    registries,
                });
            }
        }
        _ => {
            let mut found = Vec::new();
            find_pod_specs(obj, &mut found, 0);
            for spec in found {
                let images = ["initContainers", "containers", "ephemeralContainers"]
                    .iter()
                    .filter_map(|k| spec.get(k).and_then(Node::as_seq))
                    .flatten()
                    .filter_map(|c| c.get("image"))
                    .filter_map(|i| stream.resolve(i))
                    .map(|s| Image {
                        line: s.line(),
                        column: s.column(),
                        value: s.value.to_string(),
                    })
                    .collect();
                let sa = spec
                    .get_str("serviceAccountName")
                    .or_else(|| spec.get_str("serviceAccount"))
                    .unwrap_or("default");
                out.pods.push(PodSpec {
                    workload: format!("{kind}/{name}"),
                    namespace: namespace.clone(),
                    service_account: sa.to_string(),
                    images,
                    secrets: secret_names(stream, spec),
                });
            }
        }
    }
}

/// Names (and lines) of `imagePullSecrets: [{name: ...}]` in a map.
fn secret_names(stream: &Stream, node: &Node) -> Vec<(String, usize)> {
    node.get("imagePullSecrets")
        .and_then(Node::as_seq)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.get("name"))
                .filter_map(|n| stream.resolve(n))
                .filter(|s| !s.value.is_empty())
                .map(|s| (s.value.to_string(), s.line()))
                .collect()
        })
        .unwrap_or_default()
}

/// Every map with a `containers` sequence under `node` (pod specs, at any depth).
fn find_pod_specs<'a>(node: &'a Node, out: &mut Vec<&'a Node>, depth: usize) {
    if depth > yaml::MAX_DEPTH {
        return;
    }
    match node {
        Node::Map(items) => {
            if node.get("containers").and_then(Node::as_seq).is_some() {
                out.push(node);
                return;
            }
            for (_, v) in items {
                find_pod_specs(v, out, depth + 1);
            }
        }
        Node::Seq(items) => {
            for v in items {
                find_pod_specs(v, out, depth + 1);
            }
        }
        _ => {}
    }
}

/// The registries a `kubernetes.io/dockerconfigjson` (or `dockercfg`) Secret holds
/// credentials for, when its contents are in the manifest.
fn docker_config_registries(obj: &Node) -> Option<Vec<String>> {
    use base64::Engine as _;
    let kind = obj.get_str("type")?;
    let key = match kind {
        "kubernetes.io/dockerconfigjson" => ".dockerconfigjson",
        "kubernetes.io/dockercfg" => ".dockercfg",
        _ => return None,
    };
    let json = match obj.get("stringData").and_then(|d| d.get_str(key)) {
        Some(s) => s.to_string(),
        None => {
            let b64 = obj.get("data")?.get_str(key)?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.split_whitespace().collect::<String>())
                .ok()?;
            String::from_utf8(bytes).ok()?
        }
    };
    let v: serde_json::Value = serde_json::from_str(&json).ok()?;
    let auths = v.get("auths").unwrap_or(&v).as_object()?;
    Some(auths.keys().cloned().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only kept plans pay for the inventory; a file naming no pull secret has none.
    #[test]
    fn found_only_in_kept_plans_of_files_that_name_pull_secrets() {
        let deploy = "kind: Deployment\nmetadata:\n  name: web\n  namespace: apps\nspec:\n  template:\n    spec:\n      serviceAccountName: builder\n      imagePullSecrets:\n        - name: hub\n      containers:\n        - image: nginx:1.27\n";
        let path = Path::new("deploy.yaml");
        assert!(from_read(false, path, deploy).is_none());
        assert!(from_read(true, path, "kind: Deployment\n").is_none());
        let found = from_read(true, path, deploy).unwrap();
        let pod = &found.pods[0];
        assert_eq!(pod.workload, "Deployment/web");
        assert_eq!(pod.namespace.as_deref(), Some("apps"));
        assert_eq!(pod.service_account, "builder");
        assert_eq!(pod.secrets, [("hub".to_string(), 10)]);
        assert_eq!(
            pod.images,
            [Image {
                line: 12,
                column: 18,
                value: "nginx:1.27".into()
            }]
        );
    }
}
