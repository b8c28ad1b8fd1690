//! The Kubernetes `ValidatingAdmissionPolicy` (admissionregistration.k8s.io/v1, Kubernetes
//! 1.30+) and its binding: CEL evaluated by the API server itself, no controller to run.
//!
//! One policy matches Pods (and the `pods/ephemeralcontainers` subresource `kubectl debug`
//! writes through) and every workload kind; a variable finds the Pod spec in each (a Pod's
//! `spec`, a CronJob's `spec.jobTemplate.spec.template.spec`, the others'
//! `spec.template.spec`), another gathers the images of containers, initContainers and
//! ephemeralContainers, and each image must match one of the admitted patterns.

use serde_yaml_ng::Value;

use super::{map, message, strings, wildcard_regex, Admitted, Options, PolicyMode, WORKLOADS};

/// The Pod spec of any matched object, by the request's kind (always set, unlike an
/// object's own `kind`; a `pods/ephemeralcontainers` request is of kind Pod).
pub const POD_SPEC: &str = "request.kind.kind == 'Pod' ? object.spec : (request.kind.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec : object.spec.template.spec)";

/// The images of every container list of the Pod spec.
pub const IMAGES: &str = "(has(variables.podSpec.containers) ? variables.podSpec.containers.map(c, c.image) : []) + (has(variables.podSpec.initContainers) ? variables.podSpec.initContainers.map(c, c.image) : []) + (has(variables.podSpec.ephemeralContainers) ? variables.podSpec.ephemeralContainers.map(c, c.image) : [])";

/// The policy and its binding.
pub fn documents(admitted: &Admitted, opts: &Options) -> Vec<Value> {
    let admitted_list = format!(
        "[{}]",
        admitted
            .patterns
            .iter()
            .map(|p| cel_string(&wildcard_regex(p)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut validations = vec![map([
        (
            "expression",
            "variables.images.all(image, variables.admitted.exists(re, image.matches(re)))".into(),
        ),
        ("message", message(admitted).into()),
        ("reason", "Forbidden".into()),
    ])];
    if opts.require_digest {
        validations.push(map([
            (
                "expression",
                "variables.images.all(image, image.contains('@sha256:'))".into(),
            ),
            (
                "message",
                "Images must be pinned by digest (IMAGE@sha256:...).".into(),
            ),
            ("reason", "Forbidden".into()),
        ]));
    }
    let variable = |name: &str, expression: &str| {
        map([("name", name.into()), ("expression", expression.into())])
    };
    let policy = map([
        ("apiVersion", "admissionregistration.k8s.io/v1".into()),
        ("kind", "ValidatingAdmissionPolicy".into()),
        ("metadata", metadata(opts)),
        (
            "spec",
            map([
                ("failurePolicy", "Fail".into()),
                (
                    "matchConstraints",
                    map([("resourceRules", resource_rules())]),
                ),
                (
                    "variables",
                    Value::Sequence(vec![
                        variable("podSpec", POD_SPEC),
                        variable("images", IMAGES),
                        variable("admitted", &admitted_list),
                    ]),
                ),
                ("validations", Value::Sequence(validations)),
            ]),
        ),
    ]);
    let actions: &[&str] = match opts.mode {
        PolicyMode::Audit => &["Warn", "Audit"],
        PolicyMode::Enforce => &["Deny"],
    };
    let binding = map([
        ("apiVersion", "admissionregistration.k8s.io/v1".into()),
        ("kind", "ValidatingAdmissionPolicyBinding".into()),
        ("metadata", metadata(opts)),
        (
            "spec",
            map([
                ("policyName", opts.name.as_str().into()),
                ("validationActions", strings(actions)),
            ]),
        ),
    ]);
    vec![policy, binding]
}

fn metadata(opts: &Options) -> Value {
    map([
        ("name", opts.name.as_str().into()),
        (
            "labels",
            map([("app.kubernetes.io/managed-by", "harborize".into())]),
        ),
    ])
}

/// One rule per API group, with every resource of it (Pods with their ephemeral
/// containers subresource).
fn resource_rules() -> Value {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for &(group, kind, resource) in WORKLOADS {
        let entry = match groups.iter_mut().find(|(g, _)| *g == group) {
            Some(e) => e,
            None => {
                groups.push((group, Vec::new()));
                groups.last_mut().expect("just pushed")
            }
        };
        entry.1.push(resource);
        if kind == "Pod" {
            entry.1.push("pods/ephemeralcontainers");
        }
    }
    Value::Sequence(
        groups
            .into_iter()
            .map(|(group, resources)| {
                map([
                    ("apiGroups", strings(&[group])),
                    ("apiVersions", strings(&["v1"])),
                    ("operations", strings(&["CREATE", "UPDATE"])),
                    ("resources", strings(&resources)),
                ])
            })
            .collect(),
    )
}

/// A CEL string literal (single quotes; backslash and quote escaped).
fn cel_string(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}
