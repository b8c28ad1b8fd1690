#!/usr/bin/env python3
"""Render-equivalence check for harborize (Python 3, stdlib only).

For every ROOT given on the command line:

  1. copy ROOT to a temporary directory (the original is never touched; read-only
     sources are fine);
  2. render every kustomization directory (a directory holding kustomization.yaml,
     kustomization.yml or Kustomization) with `kubectl kustomize DIR`, and every chart
     (a directory holding Chart.yaml) with `helm template x DIR`, once with the chart's
     defaults and once per extra values file (`-f F` for each values*.yaml / values*.yml
     in the chart directory other than values.yaml itself, and in the chart's parent
     directory) -- this is BEFORE;
  3. run `harborize rewrite COPY --harbor HOST` and render again (AFTER);
  4. compare: AFTER must equal BEFORE once every `image:` value of BEFORE is replaced by
     its expected Harbor path, computed here independently of harborize (default config:
     docker.io [+ index.docker.io, registry-1.docker.io, registry.hub.docker.com] ->
     docker-hub, ghcr.io -> ghcr, quay.io -> quay, registry.k8s.io -> k8s-registry;
     Docker Hub single-component names get `library/`; docker.io/goharbor/* excluded;
     other registries, the Harbor host itself and templated values stay as they are;
     tag and digest kept). Every other line must be byte-identical;
  5. run `harborize rewrite COPY --harbor HOST --revert`, render again (REVERT) and check
     it equals BEFORE modulo reference normalization (`nginx` == `docker.io/library/nginx`).

A render that fails BEFORE is a failure, unless the expectations file (--expect) lists
that target of that root as expected-unrenderable, with a reason and a piece of the error
it must fail with (a broken `helm`/`kubectl` fails with another error, so it cannot hide
behind the list); a listed target that renders, or that does not exist, is a failure too
(the list stays exact). One that works BEFORE and fails AFTER or REVERT is a failure.
Helm renders are done twice BEFORE; lines that differ between those two (randAlphaNum,
genCA, ...) are ignored.

Minimums (issue 17 item 1): a run that compares little proves little, so each root must
compare at least `min_compared` targets and `min_image_lines` image lines in total, and
every Helm target at least `min_helm_image_lines` image lines (default 1: a chart that
renders no image compares nothing). The expectations file is JSON:

  {"roots": {"<root>": {"min_compared": N, "min_image_lines": N,
                         "min_helm_image_lines": N,
                         "unrenderable": {"<target label>": {"reason": "...",
                                                             "error": "..."}}}}}

where <root> is the root's path relative to the project, or its base name when it lies
outside the project (the shared corpus is "corpus"), and <target label> is the label
printed for it (`kubectl kustomize DIR`, `helm template x DIR [-f FILE]`). With --expect,
a root without an entry is a failure; without it, no target may fail BEFORE and the
minimums are 1.

Exit status: 0 all equivalent, 1 a difference or failure, 2 usage / missing tools.

Usage:
  python3 tests/render_equivalence.py fixtures/render/kustomize fixtures/render/helm
  python3 tests/render_equivalence.py /work/shared/corpus
Options: --harbor HOST  --harborize PATH (default: target/release/harborize, $HARBORIZE,
PATH)  --jobs N  --timeout S  --keep (keep the temporary copies)  --max-diffs N  -v
--expect FILE (expected-unrenderable targets and minimums per root, see above)
--allow-embedded-unchanged (an `image:` line inside a block scalar, e.g. a Pod template
embedded in a ConfigMap string, may stay unchanged; default: it must be mapped too)
"""

import argparse
import concurrent.futures
import difflib
import fnmatch
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ---------------------------------------------------------------------------------------
# Expected mapping (independent re-implementation of the default harborize config)
# ---------------------------------------------------------------------------------------

REGISTRIES = {
    "docker.io": "docker-hub",
    "ghcr.io": "ghcr",
    "quay.io": "quay",
    "registry.k8s.io": "k8s-registry",
}
ALIASES = {
    "index.docker.io": "docker.io",
    "registry-1.docker.io": "docker.io",
    "registry.hub.docker.com": "docker.io",
}
EXCLUDES = ["docker.io/goharbor/*"]

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
PATH_RE = re.compile(r"^%s(?:/%s)*$" % (_COMPONENT, _COMPONENT))
DOMAIN_RE = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]+)?$")
TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}$")


def parse_ref(ref):
    """(domain, path, tag, digest) with the domain as written, or None if not a reference."""
    if not ref or any(c in ref for c in " \t{}$<>\"'"):
        return None
    name, _, digest = ref.partition("@")
    if "@" in ref and not DIGEST_RE.match(digest):
        return None
    tag = ""
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
        if not TAG_RE.match(tag):
            return None
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        domain, path = first, rest
    else:
        domain, path = "docker.io", name
    if not DOMAIN_RE.match(domain) or not PATH_RE.match(path):
        return None
    return domain, path, tag, digest


def canonical(domain, path):
    d = domain.lower()
    d = ALIASES.get(d, d)
    if d == "docker.io" and "/" not in path:
        path = "library/" + path
    return d, path


def suffix(tag, digest):
    return (":" + tag if tag else "") + ("@" + digest if digest else "")


def expected_image(ref, harbor):
    """The reference harborize should produce for `ref` (unchanged when it should stay)."""
    p = parse_ref(ref)
    if p is None:
        return ref
    domain, path, tag, digest = p
    if domain.lower() == harbor.lower():
        return ref
    d, path = canonical(domain, path)
    if any(fnmatch.fnmatchcase("%s/%s" % (d, path), pat) for pat in EXCLUDES):
        return ref
    project = REGISTRIES.get(d)
    if project is None:
        return ref
    return "%s/%s/%s%s" % (harbor.lower(), project, path, suffix(tag, digest))


def normalize_image(ref):
    """Fully-qualified form, aliases folded (`nginx` -> `docker.io/library/nginx`)."""
    p = parse_ref(ref)
    if p is None:
        return ref
    domain, path, tag, digest = p
    d, path = canonical(domain, path)
    return "%s/%s%s" % (d, path, suffix(tag, digest))


# ---------------------------------------------------------------------------------------
# Image lines in rendered YAML
# ---------------------------------------------------------------------------------------

# `image: x`, `- image: x`, `image: "x"`, `image: 'x'  # comment`
IMAGE_LINE = re.compile(
    r"""^(?P<pre>\s*(?:-\s+)*"?image"?\s*:[ \t]+)"""
    r"""(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<plain>[^\s#'"][^#]*?))"""
    r"""(?P<post>\s*(?:\s#.*)?)$"""
)


def image_value(line):
    """(value, start, end) of the value of an `image:` line, or None."""
    m = IMAGE_LINE.match(line)
    if not m:
        return None
    for g in ("dq", "sq", "plain"):
        if m.group(g) is not None:
            return m.group(g), m.start(g), m.end(g)
    return None


def map_line(line, fn):
    iv = image_value(line)
    if iv is None:
        return line
    value, s, e = iv
    return line[:s] + fn(value) + line[e:]


# ---------------------------------------------------------------------------------------
# Discovery and rendering
# ---------------------------------------------------------------------------------------

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def discover(root):
    """Render targets: list of (label, argv-builder-args)."""
    targets = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        rel = os.path.relpath(dirpath, root)
        if any(f in filenames for f in KUSTOMIZATION_FILES):
            targets.append(("kustomize", rel, None))
        if "Chart.yaml" in filenames:
            targets.append(("helm", rel, None))
            seen = set()
            parent = os.path.dirname(dirpath) if rel != "." else None
            for d in (dirpath, parent):
                if d is None or not os.path.isdir(d):
                    continue
                for f in sorted(os.listdir(d)):
                    full = os.path.join(d, f)
                    if (f.startswith("values") and f.endswith((".yaml", ".yml"))
                            and f not in ("values.yaml", "values.yml")
                            and os.path.isfile(full) and full not in seen):
                        seen.add(full)
                        targets.append(("helm", rel, os.path.relpath(full, root)))
    return targets


def label(t):
    kind, rel, values = t
    if kind == "kustomize":
        return "kubectl kustomize %s" % rel
    return "helm template x %s%s" % (rel, " -f %s" % values if values else "")


def run_render(tools, copy, t, timeout):
    kind, rel, values = t
    target = os.path.join(copy, rel)
    if kind == "kustomize":
        argv = [tools["kubectl"], "kustomize", target]
    else:
        argv = [tools["helm"], "template", "x", target]
        if values:
            argv += ["-f", os.path.join(copy, values)]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                           cwd=copy, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return False, "", "timed out after %ss" % timeout
    err = p.stderr.strip()
    # Paths of the temporary copy in messages would differ between phases.
    err = err.replace(copy, "<copy>")
    return p.returncode == 0, p.stdout, err


def render_all(tools, copy, targets, jobs, timeout, twice=False):
    def one(t):
        r = run_render(tools, copy, t, timeout)
        if twice and r[0] and t[0] == "helm":
            r2 = run_render(tools, copy, t, timeout)
            return r + (r2[1] if r2[0] else None,)
        return r + (None,)
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as ex:
        return dict(zip(targets, ex.map(one, targets)))


# ---------------------------------------------------------------------------------------
# Comparison
# ---------------------------------------------------------------------------------------

BLOCK_START = re.compile(r"""^(\s*)(?:-\s+)?[^\s#][^#]*:\s*[|>][-+0-9]*\s*(?:#.*)?$""")


def block_scalar_owners(lines):
    """Line index -> key line of the literal/folded block scalar that holds it."""
    owners, owner, indent = {}, None, -1
    for i, line in enumerate(lines):
        if not line.strip():
            if owner is not None:
                owners[i] = owner
            continue
        ind = len(line) - len(line.lstrip())
        if owner is not None and ind > indent:
            owners[i] = owner
            continue
        owner = None
        m = BLOCK_START.match(line)
        if m:
            owner, indent = line.strip(), ind
    return owners


def compare(before, after, expect_fn, unstable, equal_fn=None, allow_embedded=False):
    """Differences between BEFORE (mapped by expect_fn) and AFTER, as message strings."""
    b_lines, a_lines = before.splitlines(), after.splitlines()
    owners = block_scalar_owners(b_lines)
    if len(b_lines) != len(a_lines):
        exp = [map_line(l, expect_fn) for l in b_lines]
        diff = list(difflib.unified_diff(exp, a_lines, "expected", "actual", n=1,
                                         lineterm=""))
        return ["line count differs (%d expected, %d actual):" % (len(b_lines), len(a_lines))]\
            + ["    " + d for d in diff[:40]]
    problems = []
    for i, (b, a) in enumerate(zip(b_lines, a_lines)):
        if i in unstable:
            continue
        iv = image_value(b)
        if iv is not None:
            value, s, e = iv
            want = expect_fn(value)
            ia = image_value(a)
            got = ia[0] if ia else None
            ok = (a == b[:s] + want + b[e:])
            if not ok and equal_fn is not None and ia is not None:
                ok = (b[:s] == a[:ia[1]] and b[e:] == a[ia[2]:] and equal_fn(value, got))
            if not ok and i in owners and allow_embedded and a == b:
                ok = True
            if not ok:
                where = (" [embedded YAML inside block scalar `%s`]" % owners[i]
                         if i in owners else "")
                problems.append("line %d image: before %r, expected %r, got %r%s"
                                % (i + 1, value, want, got if got is not None else a.strip(),
                                   where))
        elif a != b:
            problems.append("line %d non-image line changed:\n      before: %s\n      after:  %s"
                            % (i + 1, b.strip(), a.strip()))
    return problems


def unstable_lines(r1, r2):
    if r2 is None or r1 == r2:
        return set()
    l1, l2 = r1.splitlines(), r2.splitlines()
    if len(l1) != len(l2):
        return set(range(len(l1)))
    return {i for i, (x, y) in enumerate(zip(l1, l2)) if x != y}


# ---------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------

def find_tools(args):
    tools = {}
    missing = [t for t in ("kubectl", "helm") if shutil.which(t) is None]
    if missing:
        local = os.path.join(PROJECT, ".tools", "bin")
        msg = "%s not found on PATH; install kubectl/helm: bash scripts/install-test-tools.sh" \
              % "/".join(missing)
        if all(os.access(os.path.join(local, t), os.X_OK) for t in missing):
            msg += " (they are in %s: `source scripts/test-env.sh` puts them on PATH)" % local
        print("error: " + msg, file=sys.stderr)
        sys.exit(2)
    tools["kubectl"] = shutil.which("kubectl")
    tools["helm"] = shutil.which("helm")
    hz = args.harborize or os.environ.get("HARBORIZE")
    if not hz:
        built = os.path.join(PROJECT, "target", "release", "harborize")
        hz = built if os.access(built, os.X_OK) else shutil.which("harborize")
    if not hz or not os.access(hz, os.X_OK):
        print("error: harborize binary not found (build it: cargo build --release, "
              "or pass --harborize PATH)", file=sys.stderr)
        sys.exit(2)
    tools["harborize"] = os.path.abspath(hz)
    return tools


def make_writable(top):
    for dirpath, dirnames, filenames in os.walk(top):
        for n in [dirpath] + [os.path.join(dirpath, f) for f in filenames]:
            if not os.path.islink(n):
                os.chmod(n, os.stat(n).st_mode | stat.S_IWUSR | stat.S_IRUSR
                         | (stat.S_IXUSR if os.path.isdir(n) else 0))


def harborize(tools, copy, harbor, revert):
    argv = [tools["harborize"], "rewrite", copy, "--harbor", harbor]
    if revert:
        argv.append("--revert")
    p = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    summary = [l for l in p.stdout.splitlines() if " files, " in l]
    return p.returncode, (summary[-1] if summary else ""), p.stdout + p.stderr


def root_key(root):
    """The name a root has in the expectations file (see the module doc)."""
    rel = os.path.relpath(os.path.abspath(root), PROJECT)
    if rel == ".." or rel.startswith(".." + os.sep):
        return os.path.basename(os.path.abspath(root).rstrip("/"))
    return rel


DEFAULT_EXPECT = {"min_compared": 1, "min_image_lines": 1, "min_helm_image_lines": 1,
                  "unrenderable": {}}


def expectations_for(root, expect):
    """(expectations of ROOT, problems): the defaults when no file is given."""
    if expect is None:
        return dict(DEFAULT_EXPECT), []
    entry = expect.get("roots", {}).get(root_key(root))
    if entry is None:
        return dict(DEFAULT_EXPECT), ["no entry %r in the expectations file: add its "
                                      "minimums (and expected-unrenderable targets)"
                                      % root_key(root)]
    merged = dict(DEFAULT_EXPECT)
    merged.update(entry)
    return merged, []


def unrenderable_problems(targets, before, listed):
    """Targets failing BEFORE that are not listed (or fail with another error than the one
    listed), listed targets that render, and listed targets that do not exist."""
    problems = []
    labels = {label(t): t for t in targets}
    for t in targets:
        ok, _, err = before[t][:3]
        entry = listed.get(label(t))
        first = (err.splitlines() or ["(no message)"])[0][:300]
        if ok and entry is not None:
            problems.append("%s: listed as expected-unrenderable (%s) but renders: remove "
                            "it from the list" % (label(t), entry["reason"]))
        elif not ok and entry is None:
            problems.append("%s: fails BEFORE and is not listed as expected-unrenderable: "
                            "%s" % (label(t), first))
        elif not ok and entry["error"] not in err:
            problems.append("%s: fails BEFORE with another error than the listed one "
                            "(%r): %s" % (label(t), entry["error"], first))
    for name in sorted(set(listed) - set(labels)):
        problems.append("%s: listed as expected-unrenderable but is no render target"
                        % name)
    return problems


def minimum_problems(exp, compared, image_lines, helm_lines):
    """The minimums of one root: compared targets, image lines, image lines per Helm
    target."""
    problems = []
    if compared < exp["min_compared"]:
        problems.append("%d target(s) compared, at least %d expected"
                        % (compared, exp["min_compared"]))
    if image_lines < exp["min_image_lines"]:
        problems.append("%d image line(s) compared, at least %d expected"
                        % (image_lines, exp["min_image_lines"]))
    for name, n in sorted(helm_lines.items()):
        if n < exp["min_helm_image_lines"]:
            problems.append("%s: %d image line(s) compared, at least %d expected for every "
                            "Helm target" % (name, n, exp["min_helm_image_lines"]))
    return problems


def check_root(root, tools, args, tmp):
    name = os.path.basename(os.path.abspath(root).rstrip("/")) or "root"
    copy = os.path.join(tmp, name)
    shutil.copytree(root, copy, symlinks=True)
    make_writable(copy)
    if any("harborize.yaml" in fs or "harborize.yml" in fs for _, _, fs in os.walk(copy)):
        print("  note: %s holds a harborize.yaml; expectations assume the default config"
              % root)
    targets = discover(copy)
    print("== %s: %d render target(s)" % (root, len(targets)))
    exp, problems = expectations_for(root, args.expect)
    for p in problems:
        print("  EXPECTATIONS: %s" % p)
    failures = [("expectations", problems)] if problems else []
    listed = exp["unrenderable"]
    before = render_all(tools, copy, targets, args.jobs, args.timeout, twice=True)
    ok = [t for t in targets if before[t][0]]
    for t in targets:
        if not before[t][0]:
            first = (before[t][2].splitlines() or ["(no message)"])[0]
            why = listed.get(label(t), {}).get("reason")
            print("  %s  %s: fails BEFORE: %s%s" % ("skip" if why else "FAIL", label(t),
                                                   first[:200],
                                                   " (expected: %s)" % why if why else ""))
    problems = unrenderable_problems(targets, before, listed)
    for p in problems:
        print("  UNEXPECTED: %s" % p)
    if problems:
        failures.append(("render BEFORE", problems))

    rc, summary, out = harborize(tools, copy, args.harbor, revert=False)
    print("  harborize rewrite: exit %d; %s" % (rc, summary or "(no summary)"))
    if args.verbose:
        print("    " + out.replace("\n", "\n    "))
    if rc != 0:
        failures.append(("harborize rewrite", ["exit status %d:\n%s" % (rc, out[-2000:])]))
    after = render_all(tools, copy, ok, args.jobs, args.timeout)

    rc, summary, out = harborize(tools, copy, args.harbor, revert=True)
    print("  harborize rewrite --revert: exit %d; %s" % (rc, summary or "(no summary)"))
    if rc != 0:
        failures.append(("harborize rewrite --revert", ["exit status %d:\n%s" % (rc, out[-2000:])]))
    reverted = render_all(tools, copy, ok, args.jobs, args.timeout)

    def expect_fwd(v):
        return expected_image(v, args.harbor)

    def expect_rev(v):
        return v

    def same_ref(b, a):
        return normalize_image(b) == normalize_image(a)

    stats = {"compared": 0, "equivalent": 0, "revert_equal": 0, "image_lines": 0}
    helm_lines = {}
    for t in ok:
        _, b_text, _, b_text2 = before[t]
        unstable = unstable_lines(b_text, b_text2)
        note = " (%d unstable line(s) ignored)" % len(unstable) if unstable else ""
        n_images = sum(1 for l in b_text.splitlines() if image_value(l))
        stats["compared"] += 1
        stats["image_lines"] += n_images
        if t[0] == "helm":
            helm_lines[label(t)] = n_images
        problems = []
        a_ok, a_text, a_err, _ = after[t]
        if not a_ok:
            problems.append("renders BEFORE but fails AFTER: %s" % a_err[:500])
        else:
            problems += compare(b_text, a_text, expect_fwd, unstable,
                                allow_embedded=args.allow_embedded_unchanged)
        r_ok, r_text, r_err, _ = reverted[t]
        rev_problems = []
        if not r_ok:
            rev_problems.append("renders BEFORE but fails after --revert: %s" % r_err[:500])
        else:
            rev_problems += compare(b_text, r_text, expect_rev, unstable, equal_fn=same_ref)
        status = "ok  " if not problems else "FAIL"
        rstatus = "revert ok" if not rev_problems else "REVERT DIFFERS"
        print("  %s  %s: %d image line(s)%s; %s" % (status, label(t), n_images, note, rstatus))
        if not problems:
            stats["equivalent"] += 1
        if not rev_problems:
            stats["revert_equal"] += 1
        for title, plist in (("after rewrite", problems), ("after --revert", rev_problems)):
            if plist:
                failures.append(("%s [%s]" % (label(t), title), plist))
                for p in plist[:args.max_diffs]:
                    print("        %s: %s" % (title, p))
                if len(plist) > args.max_diffs:
                    print("        ... %d more" % (len(plist) - args.max_diffs))
    print("  summary %s: %d target(s), %d fail BEFORE (%d expected), %d compared with %d "
          "image line(s), %d equivalent after rewrite, %d equal after --revert"
          % (root, len(targets), len(targets) - len(ok), len(listed), stats["compared"],
             stats["image_lines"], stats["equivalent"], stats["revert_equal"]))
    problems = minimum_problems(exp, stats["compared"], stats["image_lines"], helm_lines)
    for p in problems:
        print("  TOO LITTLE COMPARED: %s" % p)
    if problems:
        failures.append(("minimums", problems))
    return failures, stats


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("roots", nargs="+", metavar="ROOT")
    ap.add_argument("--harbor", default="harbor.example.com")
    ap.add_argument("--harborize", help="harborize binary (default: target/release/harborize)")
    ap.add_argument("--jobs", type=int, default=min(8, os.cpu_count() or 2))
    ap.add_argument("--timeout", type=int, default=60, help="seconds per render")
    ap.add_argument("--max-diffs", type=int, default=10)
    ap.add_argument("--allow-embedded-unchanged", action="store_true",
                    help="accept an unchanged image: line inside a block scalar (YAML "
                         "embedded in a ConfigMap string) instead of failing")
    ap.add_argument("--expect", metavar="FILE",
                    help="JSON: expected-unrenderable targets and minimums per root")
    ap.add_argument("--keep", action="store_true", help="keep the temporary copies")
    ap.add_argument("-v", "--verbose", action="store_true", help="show harborize output")
    args = ap.parse_args()
    for r in args.roots:
        if not os.path.isdir(r):
            ap.error("not a directory: %s" % r)
    if args.expect:
        with open(args.expect, encoding="utf-8") as f:
            args.expect = json.load(f)
    tools = find_tools(args)
    all_failures = []
    totals = {"compared": 0, "equivalent": 0, "revert_equal": 0, "image_lines": 0}
    tmp = tempfile.mkdtemp(prefix="harborize-render-")
    try:
        for i, root in enumerate(args.roots):
            sub = os.path.join(tmp, str(i))
            os.mkdir(sub)
            failures, stats = check_root(root, tools, args, sub)
            all_failures += [(root, t, p) for t, p in failures]
            for k in totals:
                totals[k] += stats[k]
    finally:
        if args.keep:
            print("temporary copies kept in %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("\nTOTAL: %d render(s) compared with %d image line(s), %d equivalent after rewrite, "
          "%d equal after --revert" % (totals["compared"], totals["image_lines"],
                                       totals["equivalent"], totals["revert_equal"]))
    if all_failures:
        print("FAILED: %d difference(s):" % len(all_failures))
        for root, t, plist in all_failures:
            print("  %s: %s (%d problem(s))" % (root, t, len(plist)))
        return 1
    print("OK: every render is equivalent")
    return 0


if __name__ == "__main__":
    sys.exit(main())
