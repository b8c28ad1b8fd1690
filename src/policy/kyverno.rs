//! The Kyverno `ClusterPolicy`: validate patterns on Pods, which Kyverno's autogen turns
//! into rules on every workload kind (their Pod templates), so one rule covers
//! Deployments, StatefulSets, DaemonSets, Jobs, CronJobs, ReplicaSets and
//! ReplicationControllers too.
//!
//! `initContainers` and `ephemeralContainers` carry the `=()` conditional anchor (checked
//! when present): the "restrict image registries" policies users copy often forget them
//! (kyverno/policies #538). The image alternatives are joined with Kyverno's ` | `.

use serde_yaml_ng::Value;

use super::{map, message, strings, Admitted, Options, PolicyMode};

/// The workload kinds Kyverno's autogen writes rules for (named, not left to the default,
/// so the policy says what it covers whatever the Kyverno version).
pub const AUTOGEN: &str =
    "DaemonSet,Deployment,Job,StatefulSet,ReplicaSet,ReplicationController,CronJob";

/// The `ClusterPolicy` document.
pub fn cluster_policy(admitted: &Admitted, opts: &Options) -> Value {
    let action = match opts.mode {
        PolicyMode::Audit => "Audit",
        PolicyMode::Enforce => "Enforce",
    };
    let images = admitted.patterns.join(" | ");
    let mut rules = vec![rule("images-through-harbor", &message(admitted), &images)];
    if opts.require_digest {
        rules.push(rule(
            "images-by-digest",
            "Images must be pinned by digest (IMAGE@sha256:...).",
            "*@sha256:*",
        ));
    }
    map([
        ("apiVersion", "kyverno.io/v1".into()),
        ("kind", "ClusterPolicy".into()),
        (
            "metadata",
            map([
                ("name", opts.name.as_str().into()),
                (
                    "annotations",
                    map([
                        ("policies.kyverno.io/title", "Images through Harbor".into()),
                        ("policies.kyverno.io/subject", "Pod".into()),
                        ("policies.kyverno.io/description", message(admitted).into()),
                        (
                            "pod-policies.kyverno.io/autogen-controllers",
                            AUTOGEN.into(),
                        ),
                    ]),
                ),
                (
                    "labels",
                    map([("app.kubernetes.io/managed-by", "harborize".into())]),
                ),
            ]),
        ),
        (
            "spec",
            map([
                ("validationFailureAction", action.into()),
                ("background", true.into()),
                ("rules", Value::Sequence(rules)),
            ]),
        ),
    ])
}

fn rule(name: &str, message: &str, image: &str) -> Value {
    let containers = || Value::Sequence(vec![map([("image", image.into())])]);
    map([
        ("name", name.into()),
        (
            "match",
            map([(
                "any",
                Value::Sequence(vec![map([(
                    "resources",
                    map([("kinds", strings(&["Pod"]))]),
                )])]),
            )]),
        ),
        (
            "validate",
            map([
                ("message", message.into()),
                (
                    "pattern",
                    map([(
                        "spec",
                        map([
                            ("containers", containers()),
                            ("=(initContainers)", containers()),
                            ("=(ephemeralContainers)", containers()),
                        ]),
                    )]),
                ),
            ]),
        ),
    ])
}
