#!/usr/bin/env python3
"""Admission-policy check for `harborize policy`, with real policy engines.

One table of admission requests (tests/policy_table.json: Pods and every workload kind,
containers / initContainers / ephemeralContainers, excluded and allowlisted images,
digests) is evaluated against the three formats harborize writes from the table's
harborize.yaml, with and without --require-digest:

  * vap        the ValidatingAdmissionPolicy's CEL, compiled and evaluated by cel-python
               (a real CEL implementation; `matches` is RE2 through google-re2), with the
               API server's semantics around it: `variables` evaluated in order, a
               request outside matchConstraints is not checked, an evaluation error
               counts as a failure (failurePolicy: Fail);
  * gatekeeper the ConstraintTemplate's Rego, evaluated by regorus (Microsoft's Rego
               engine, Python bindings) both as Rego v1 and as Rego v0 (Gatekeeper's
               `rego:` parser), with the constraint's parameters as `input.parameters`
               (checked against the template's openAPIV3Schema with jsonschema) and the
               constraint's `match.kinds` deciding whether a request is reviewed;
  * kyverno    the ClusterPolicy validated against Kyverno's published CRD schema (the
               pydantic models of cloudcoil-models-kyverno, generated from Kyverno's
               CRDs; a field the schema does not know makes the round trip differ, which
               is a failure), and its patterns checked by the small evaluator below.

The Kyverno evaluator is written here, not Kyverno itself (Kyverno is Go and cannot run
in this test). It is faithful to Kyverno's documented semantics for exactly the subset
harborize emits, and refuses anything else (so a new construct cannot pass unchecked):
`match.any[].resources.kinds`; autogen (pkg/autogen: for the controllers named in
`pod-policies.kyverno.io/autogen-controllers`, a rule `autogen-<rule>` with the Pod
pattern under `spec.template` and `autogen-cronjob-<rule>` with it under
`spec.jobTemplate.spec.template`); map patterns (every key must exist, `=(key)` is
checked only when present); a one-map list pattern (every element must match); string
patterns as ` | ` alternatives of wildcards (`*` any run of characters, `?` one).

Every request must give the table's answer in every engine: `allowed` without
--require-digest, `allowed_with_digest` with it. The audit and enforce outputs must be the
same policy apart from the action (Kyverno Audit/Enforce, VAP [Warn, Audit]/[Deny],
Gatekeeper warn/deny).

Exit status: 0 all engines agree with the table, 1 a mismatch, 2 usage / missing tools.

Usage: python3 tests/policy_engines.py --harborize target/debug/harborize [--table FILE]
"""

import argparse
import copy
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

INSTALL_HINT = (
    "run `bash scripts/install-test-tools.sh` and `source scripts/test-env.sh` "
    "(cel-python, gordon-to-regorus, cloudcoil-models-kyverno, jsonschema, PyYAML in the venv)"
)

try:
    import celpy
    import jsonschema
    import regorus
    import yaml
    from celpy import celtypes
    from cloudcoil.models.kyverno import v1 as kyverno_v1
except ImportError as e:  # a missing engine is a failure, never a pass
    print(f"policy_engines: missing {e.name}: {INSTALL_HINT}", file=sys.stderr)
    sys.exit(2)

# kind -> (API group, version, resource)
KINDS = {
    "Pod": ("", "v1", "pods"),
    "ReplicationController": ("", "v1", "replicationcontrollers"),
    "Deployment": ("apps", "v1", "deployments"),
    "StatefulSet": ("apps", "v1", "statefulsets"),
    "DaemonSet": ("apps", "v1", "daemonsets"),
    "ReplicaSet": ("apps", "v1", "replicasets"),
    "Job": ("batch", "v1", "jobs"),
    "CronJob": ("batch", "v1", "cronjobs"),
}


class Unsupported(Exception):
    """A construct the Kyverno evaluator does not implement: never guessed."""


# --- requests ------------------------------------------------------------------------


def pod_spec(case, digest):
    spec = {}
    for field in ("containers", "initContainers", "ephemeralContainers"):
        images = case.get(field) or []
        if images or field == "containers":
            spec[field] = [
                {"name": f"{field.lower()}-{i}", "image": image.replace("{D}", digest)}
                for i, image in enumerate(images)
            ]
    return spec


def workload(case, digest):
    kind = case["kind"]
    group, version, _ = KINDS[kind]
    spec = pod_spec(case, digest)
    meta = {"name": "t", "namespace": "default", "labels": {"app": "t"}}
    template = {"metadata": {"labels": {"app": "t"}}, "spec": spec}
    if kind == "Pod":
        body = spec
    elif kind == "CronJob":
        body = {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": template}}}
    elif kind == "Job":
        body = {"template": template}
    else:
        body = {"selector": {"matchLabels": {"app": "t"}}, "template": template}
    api_version = f"{group}/{version}" if group else version
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, "spec": body}


def harborize_policy(exe, workdir, fmt, *flags):
    out = subprocess.run(
        [exe, "policy", "--format", fmt, *flags, str(workdir)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    if out.returncode != 0:
        raise SystemExit(f"harborize policy --format {fmt} {' '.join(flags)} failed:\n{out.stderr}")
    return [d for d in yaml.safe_load_all(out.stdout) if d is not None]


# --- Kyverno --------------------------------------------------------------------------


def kyverno_schema(policy):
    model = kyverno_v1.ClusterPolicy.model_validate(policy)
    again = model.model_dump(by_alias=True, exclude_unset=True, mode="json")
    if again != policy:
        raise SystemExit(
            "kyverno: the ClusterPolicy has fields Kyverno's CRD schema does not know:\n"
            f"  written:  {json.dumps(policy, sort_keys=True)[:400]}\n"
            f"  accepted: {json.dumps(again, sort_keys=True)[:400]}"
        )


def kyverno_rules(policy):
    spec = policy["spec"]
    annotations = policy["metadata"].get("annotations", {})
    controllers = [
        c for c in annotations.get("pod-policies.kyverno.io/autogen-controllers", "").split(",") if c
    ]
    rules = []
    for rule in spec["rules"]:
        unknown = set(rule) - {"name", "match", "validate"}
        if unknown or set(rule["match"]) != {"any"} or set(rule["validate"]) != {"message", "pattern"}:
            raise Unsupported(f"rule {rule['name']}: {sorted(rule)} / {sorted(rule['match'])}")
        kinds = [k for m in rule["match"]["any"] for k in m["resources"]["kinds"]]
        pattern = rule["validate"]["pattern"]
        rules.append((rule["name"], kinds, pattern))
        if kinds == ["Pod"] and controllers:
            pods = [c for c in controllers if c != "CronJob"]
            if pods:
                rules.append((f"autogen-{rule['name']}", pods, {"spec": {"template": pattern}}))
            if "CronJob" in controllers:
                rules.append(
                    (
                        f"autogen-cronjob-{rule['name']}",
                        ["CronJob"],
                        {"spec": {"jobTemplate": {"spec": {"template": pattern}}}},
                    )
                )
    return rules


# Kyverno's range operators (pkg/engine/operator: InRangeRegex, NotInRangeRegex).
KYVERNO_RANGE = re.compile(r"^([-|\+]?\d+(?:\.\d+)?[A-Za-z]*)!?-([-|\+]?\d+(?:\.\d+)?[A-Za-z]*)$")


def wildcard(pattern, value):
    for alt in (a.strip() for a in pattern.split("|")):
        # Kyverno reads a leading >=, <=, >, <, ! and a numeric range as operators, and `&`
        # as AND: harborize never writes them, so meeting one is a failure, not a guess.
        if alt[:1] in "<>!" or "&" in alt or KYVERNO_RANGE.match(alt):
            raise Unsupported(f"operator in pattern {alt!r}")
        regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in alt)
        if re.fullmatch(regex, value, flags=re.DOTALL):
            return True
    return False


def kyverno_validate(pattern, value, path):
    if isinstance(pattern, dict):
        if not isinstance(value, dict):
            return f"{path}: not a map"
        for key, sub in pattern.items():
            anchor = re.fullmatch(r"=\((.+)\)", key)
            if anchor:
                field = anchor.group(1)
                if field not in value:
                    continue
            elif re.match(r"^[\^X+<]?\(", key):
                raise Unsupported(f"anchor {key!r}")
            else:
                field = key
                if field not in value:
                    return f"{path}/{field}: field not found"
            err = kyverno_validate(sub, value[field], f"{path}/{field}")
            if err:
                return err
        return None
    if isinstance(pattern, list):
        if len(pattern) != 1 or not isinstance(pattern[0], dict):
            raise Unsupported(f"list pattern at {path}")
        if not isinstance(value, list):
            return f"{path}: not a list"
        for i, element in enumerate(value):
            err = kyverno_validate(pattern[0], element, f"{path}/{i}")
            if err:
                return err
        return None
    if isinstance(pattern, str):
        if isinstance(value, str) and wildcard(pattern, value):
            return None
        return f"{path}: {value!r} does not match"
    raise Unsupported(f"pattern {pattern!r} at {path}")


def kyverno_violations(docs, obj):
    (policy,) = docs
    violations = []
    for name, kinds, pattern in kyverno_rules(policy):
        if obj["kind"] in kinds:
            err = kyverno_validate(pattern, obj, "")
            if err:
                violations.append(f"{name}: {err}")
    return violations


# --- ValidatingAdmissionPolicy (CEL) --------------------------------------------------

CEL = celpy.Environment()


def cel(expression, activation):
    try:
        result = CEL.program(CEL.compile(expression)).evaluate(activation)
    except celpy.CELEvalError as e:
        return e
    return result


def vap_matches(policy, obj, resource):
    group, version, plural = KINDS[obj["kind"]]
    for r in policy["spec"]["matchConstraints"]["resourceRules"]:
        if group in r["apiGroups"] and version in r["apiVersions"] and resource in r["resources"] and "CREATE" in r["operations"] and "UPDATE" in r["operations"]:
            return True
    return False


def vap_violations(docs, obj):
    policy, binding = docs
    assert policy["kind"] == "ValidatingAdmissionPolicy" and binding["kind"] == "ValidatingAdmissionPolicyBinding"
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    assert policy["spec"]["failurePolicy"] == "Fail"
    resources = [KINDS[obj["kind"]][2]]
    if obj["kind"] == "Pod" and obj["spec"].get("ephemeralContainers"):
        resources.append("pods/ephemeralcontainers")  # what `kubectl debug` writes through
    violations = []
    for resource in resources:
        if not vap_matches(policy, obj, resource):
            violations.append(f"{resource}: not matched by matchConstraints")
            continue
        variables = {}
        group, version, _ = KINDS[obj["kind"]]
        plural, _, sub = resource.partition("/")
        request = {
            "kind": {"group": group, "version": version, "kind": obj["kind"]},
            "resource": {"group": group, "version": version, "resource": plural},
            "subResource": sub,
            "operation": "UPDATE" if sub else "CREATE",
            "namespace": obj["metadata"]["namespace"],
            "name": obj["metadata"]["name"],
        }
        activation = {"object": celpy.json_to_cel(obj), "request": celpy.json_to_cel(request)}
        for var in policy["spec"].get("variables", []):
            value = cel(var["expression"], {**activation, "variables": celtypes.MapType(variables)})
            variables[celtypes.StringType(var["name"])] = value
        for v in policy["spec"]["validations"]:
            result = cel(v["expression"], {**activation, "variables": celtypes.MapType(variables)})
            if isinstance(result, Exception) or not (isinstance(result, celtypes.BoolType) and bool(result)):
                violations.append(f"{resource}: {v['expression']} -> {result}")
    return violations


# --- Gatekeeper (Rego) ----------------------------------------------------------------


def gatekeeper_violations(docs, obj):
    template, constraint = docs
    kind = constraint["kind"]
    assert template["spec"]["crd"]["spec"]["names"]["kind"] == kind
    assert template["metadata"]["name"] == kind.lower()
    group, version, _ = KINDS[obj["kind"]]
    if not any(group in k["apiGroups"] and obj["kind"] in k["kinds"] for k in constraint["spec"]["match"]["kinds"]):
        return [f"{obj['kind']}: not matched by the constraint"]
    params = constraint["spec"]["parameters"]
    jsonschema.validate(params, template["spec"]["crd"]["spec"]["validation"]["openAPIV3Schema"])
    (target,) = template["spec"]["targets"]
    assert target["target"] == "admission.k8s.gatekeeper.sh"
    package = re.search(r"^package (\S+)", target["rego"], re.M).group(1)
    review = {
        "kind": {"group": group, "version": version, "kind": obj["kind"]},
        "operation": "CREATE",
        "object": obj,
    }
    answers = []
    for v0 in (False, True):
        engine = regorus.Engine()
        engine.set_rego_v0(v0)
        engine.add_policy("template.rego", target["rego"])
        engine.set_input_json(json.dumps({"review": review, "parameters": params}))
        out = json.loads(engine.eval_query_as_json(f"data.{package}.violation"))
        answers.append(sorted(v["msg"] for v in out["result"][0]["expressions"][0]["value"]))
    if answers[0] != answers[1]:
        raise SystemExit(f"gatekeeper: Rego v1 and v0 disagree: {answers}")
    return answers[0]


# --- modes ----------------------------------------------------------------------------

ACTIONS = {
    "kyverno": lambda d: d[0]["spec"]["validationFailureAction"],
    "vap": lambda d: d[1]["spec"]["validationActions"],
    "gatekeeper": lambda d: d[1]["spec"]["enforcementAction"],
}
EXPECTED_ACTIONS = {
    "kyverno": {"audit": "Audit", "enforce": "Enforce"},
    "vap": {"audit": ["Warn", "Audit"], "enforce": ["Deny"]},
    "gatekeeper": {"audit": "warn", "enforce": "deny"},
}


def without_action(fmt, docs):
    docs = copy.deepcopy(docs)
    if fmt == "kyverno":
        del docs[0]["spec"]["validationFailureAction"]
    elif fmt == "vap":
        del docs[1]["spec"]["validationActions"]
    else:
        del docs[1]["spec"]["enforcementAction"]
    return docs


ENGINES = {"kyverno": kyverno_violations, "vap": vap_violations, "gatekeeper": gatekeeper_violations}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--harborize", required=True)
    ap.add_argument("--table", default=str(Path(__file__).with_name("policy_table.json")))
    ap.add_argument("--formats", default="kyverno,vap,gatekeeper")
    args = ap.parse_args()
    table = json.loads(Path(args.table).read_text())
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "harborize.yaml").write_text(table["harborize.yaml"])
        for fmt in args.formats.split(","):
            checked = admitted = 0
            for digest_flag, key in (([], "allowed"), (["--require-digest"], "allowed_with_digest")):
                docs = harborize_policy(args.harborize, work, fmt, "--mode", "enforce", *digest_flag)
                audit = harborize_policy(args.harborize, work, fmt, "--mode", "audit", *digest_flag)
                for mode, d in (("enforce", docs), ("audit", audit)):
                    if ACTIONS[fmt](d) != EXPECTED_ACTIONS[fmt][mode]:
                        print(f"FAIL {fmt} --mode {mode}: action {ACTIONS[fmt](d)!r}")
                        failures += 1
                if without_action(fmt, docs) != without_action(fmt, audit):
                    print(f"FAIL {fmt}: audit and enforce differ beyond the action")
                    failures += 1
                if fmt == "kyverno":
                    kyverno_schema(docs[0])
                    kyverno_schema(audit[0])
                for case in table["cases"]:
                    obj = workload(case, table["digest"])
                    violations = ENGINES[fmt](docs, obj)
                    got = not violations
                    checked += 1
                    admitted += got
                    if got != case[key]:
                        failures += 1
                        flag = " --require-digest" if digest_flag else ""
                        print(f"FAIL {fmt}{flag}: {case['name']} ({case['kind']}): expected "
                              f"{'admitted' if case[key] else 'denied'}, got "
                              f"{'admitted' if got else 'denied'} {violations}")
            print(f"{fmt}: {checked} requests, {admitted} admitted, {checked - admitted} denied")
    if failures:
        print(f"FAILED: {failures} mismatch(es)")
        return 1
    print("OK: every engine admits exactly the table's requests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
