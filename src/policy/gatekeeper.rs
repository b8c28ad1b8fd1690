//! The OPA Gatekeeper `ConstraintTemplate` (Rego) and its constraint.
//!
//! The Rego is fixed; what is admitted travels as the constraint's parameters (anchored
//! regular expressions), so the template never changes with harborize.yaml. It is written
//! in Rego v1 syntax with `import rego.v1`, which Gatekeeper's v0 parser accepts too
//! (Gatekeeper 3.15 and later). The constraint matches Pods and every workload kind; the
//! Rego finds the Pod spec in each.

use serde_yaml_ng::Value;

use super::{map, message, strings, wildcard_regex, Admitted, Options, PolicyMode, WORKLOADS};

/// The constraint kind (and, lowercased, the template's name and Rego package).
pub const KIND: &str = "HarborizeImages";

/// The template's Rego.
pub const REGO: &str = r#"package harborizeimages

import rego.v1

violation contains {"msg": msg} if {
	some image in images
	not admitted(image)
	msg := sprintf("image %q: %s", [image, input.parameters.message])
}

violation contains {"msg": msg} if {
	input.parameters.requireDigest
	some image in images
	not contains(image, "@sha256:")
	msg := sprintf("image %q is not pinned by digest (IMAGE@sha256:...)", [image])
}

admitted(image) if {
	some re in input.parameters.admitted
	regex.match(re, image)
}

pod_spec := input.review.object.spec if input.review.kind.kind == "Pod"

pod_spec := input.review.object.spec.jobTemplate.spec.template.spec if input.review.kind.kind == "CronJob"

pod_spec := input.review.object.spec.template.spec if {
	not input.review.kind.kind in {"Pod", "CronJob"}
}

images contains c.image if some c in pod_spec.containers

images contains c.image if some c in pod_spec.initContainers

images contains c.image if some c in pod_spec.ephemeralContainers
"#;

/// The template and the constraint.
pub fn documents(admitted: &Admitted, opts: &Options) -> Vec<Value> {
    let array_of_strings = || {
        map([
            ("type", "array".into()),
            ("items", map([("type", "string".into())])),
        ])
    };
    let template = map([
        ("apiVersion", "templates.gatekeeper.sh/v1".into()),
        ("kind", "ConstraintTemplate".into()),
        (
            "metadata",
            map([
                ("name", KIND.to_ascii_lowercase().into()),
                (
                    "labels",
                    map([("app.kubernetes.io/managed-by", "harborize".into())]),
                ),
            ]),
        ),
        (
            "spec",
            map([
                (
                    "crd",
                    map([(
                        "spec",
                        map([
                            ("names", map([("kind", KIND.into())])),
                            (
                                "validation",
                                map([(
                                    "openAPIV3Schema",
                                    map([
                                        ("type", "object".into()),
                                        (
                                            "properties",
                                            map([
                                                ("admitted", array_of_strings()),
                                                (
                                                    "requireDigest",
                                                    map([("type", "boolean".into())]),
                                                ),
                                                ("message", map([("type", "string".into())])),
                                            ]),
                                        ),
                                    ]),
                                )]),
                            ),
                        ]),
                    )]),
                ),
                (
                    "targets",
                    Value::Sequence(vec![map([
                        ("target", "admission.k8s.gatekeeper.sh".into()),
                        ("rego", REGO.into()),
                    ])]),
                ),
            ]),
        ),
    ]);
    let action = match opts.mode {
        PolicyMode::Audit => "warn",
        PolicyMode::Enforce => "deny",
    };
    let regexes: Vec<String> = admitted
        .patterns
        .iter()
        .map(|p| wildcard_regex(p))
        .collect();
    let constraint = map([
        ("apiVersion", "constraints.gatekeeper.sh/v1beta1".into()),
        ("kind", KIND.into()),
        (
            "metadata",
            map([
                ("name", opts.name.as_str().into()),
                (
                    "labels",
                    map([("app.kubernetes.io/managed-by", "harborize".into())]),
                ),
            ]),
        ),
        (
            "spec",
            map([
                ("enforcementAction", action.into()),
                ("match", map([("kinds", match_kinds())])),
                (
                    "parameters",
                    map([
                        ("admitted", strings(&regexes)),
                        ("requireDigest", opts.require_digest.into()),
                        ("message", message(admitted).into()),
                    ]),
                ),
            ]),
        ),
    ]);
    vec![template, constraint]
}

/// One entry per API group with its kinds.
fn match_kinds() -> Value {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for &(group, kind, _) in WORKLOADS {
        match groups.iter_mut().find(|(g, _)| *g == group) {
            Some(e) => e.1.push(kind),
            None => groups.push((group, vec![kind])),
        }
    }
    Value::Sequence(
        groups
            .into_iter()
            .map(|(group, kinds)| {
                map([("apiGroups", strings(&[group])), ("kinds", strings(&kinds))])
            })
            .collect(),
    )
}
