//! The real-world corpus (../shared/corpus: 172 files from 17 public repositories),
//! checked against its independent oracle (expected-refs.tsv / expected-images.tsv):
//! every oracle reference is found at its line, every mappable reference is rewritten,
//! no other line changes, and the templated chart file is skipped.

use crate::support::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::*;

fn tsv(path: &Path) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    lines
        .map(|l| {
            header
                .iter()
                .map(|h| h.to_string())
                .zip(l.split('\t').map(str::to_string))
                .collect()
        })
        .collect()
}

#[test]
fn corpus_matches_the_oracle_and_only_image_lines_change() {
    let corpus = shared().join("corpus");
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("corpus");
    copy_tree(&corpus, &work);
    let rel = |f: &str| {
        Path::new(f)
            .strip_prefix(&work)
            .unwrap()
            .display()
            .to_string()
    };

    let out = run(&[
        "rewrite",
        work.to_str().unwrap(),
        "--harbor",
        HARBOR,
        "--format",
        "json",
    ]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let v = json(&out);
    assert_eq!(v["errors"], serde_json::json!([]));

    // The one Helm template is scanned line by line (issue 11 item 5): its only image line
    // is templated, reported as such and left alone; no error.
    let templated: Vec<&serde_json::Value> = v["references"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["file"].as_str().unwrap().ends_with(
                "_templated/stefanprodan__podinfo/charts/podinfo/templates/deployment.yaml",
            )
        })
        .collect();
    assert_eq!(templated.len(), 1, "{templated:?}");
    assert_eq!(templated[0]["status"], "templated");
    assert_eq!(templated[0]["line"], 39);

    // Every oracle reference is found at its line.
    let mut found: BTreeMap<(String, u64), Vec<&serde_json::Value>> = BTreeMap::new();
    for r in v["references"].as_array().unwrap() {
        found
            .entry((
                rel(r["file"].as_str().unwrap()),
                r["line"].as_u64().unwrap(),
            ))
            .or_default()
            .push(r);
    }
    let refs = tsv(&corpus.join("expected-refs.tsv"));
    assert!(refs.len() > 300);
    // A global registry that composes the file's image maps is an edit of each of them,
    // not a reference of its own (issue 11 item 1).
    let composes = |row: &BTreeMap<String, String>| {
        row["ref"].starts_with("(partial) registry=")
            && refs
                .iter()
                .any(|r| r["file"] == row["file"] && r["note"].contains("registry from global"))
    };
    let missing: Vec<_> = refs
        .iter()
        .filter(|row| !composes(row))
        .filter(|row| !found.contains_key(&(row["file"].clone(), row["line"].parse().unwrap())))
        .map(|row| format!("{}:{} {}", row["file"], row["line"], row["ref"]))
        .collect();
    assert!(
        missing.is_empty(),
        "oracle references not found:\n{}",
        missing.join("\n")
    );

    // Issue 11: every Helm reference of the oracle is reported as its composed reference
    // (the `note` column says where the registry comes from). A map without any registry
    // key whose chart is not in the corpus may be `ambiguous` (SOURCES.md caveat), never
    // anything else than what the chart renders.
    let composed_failures: Vec<String> = refs
        .iter()
        .filter(|row| row["kind"] == "helm-values" && !row["ref"].starts_with("(partial)"))
        .filter_map(|row| {
            let at = (row["file"].clone(), row["line"].parse::<u64>().unwrap());
            let reported = found.get(&at)?;
            let host = row["host"].split(' ').next().unwrap();
            let expected = if row["note"].contains("registry from global") {
                normalize(&format!("{host}/{}", row["ref"]))
            } else {
                normalize(&row["ref"])
            };
            let ok = reported.iter().any(|r| {
                r["normalized"].as_str() == Some(expected.as_str())
                    || (r["status"] == "ambiguous" && row["host"] == "docker.io (implicit)")
            });
            (!ok).then(|| format!("{}:{} want {expected}, got {reported:?}", at.0, at.1))
        })
        .collect();
    assert!(
        composed_failures.is_empty(),
        "Helm references not reported as composed:\n{}",
        composed_failures.join("\n")
    );

    // Every image-bearing scalar of the oracle belongs to a reported reference of its file.
    let images = tsv(&corpus.join("expected-images.tsv"));
    let originals: BTreeMap<String, String> =
        v["references"]
            .as_array()
            .unwrap()
            .iter()
            .fold(BTreeMap::new(), |mut m, r| {
                m.entry(rel(r["file"].as_str().unwrap()))
                    .or_default()
                    .push_str(&format!("{}\n", r["original"].as_str().unwrap()));
                m
            });
    for row in &images {
        let all = originals.get(&row["file"]).map_or("", String::as_str);
        assert!(
            all.contains(row["value"].as_str()),
            "{}:{} value {:?} not in any reference",
            row["file"],
            row["line"],
            row["value"]
        );
    }

    // No line changes except the lines of image-bearing scalars (and hints, which stay).
    // CRD `image:` fields (Prometheus spec.image, system-upgrade Plan) are rewritten by
    // rule 1 of the issue; the oracle lists them as `other-image-key` non-standard rows.
    let nonstandard = tsv(&corpus.join("expected-nonstandard.tsv"));
    let allowed: BTreeSet<(String, usize)> = images
        .iter()
        .chain(
            nonstandard
                .iter()
                .filter(|r| r["kind"] == "other-image-key"),
        )
        .map(|r| (r["file"].clone(), r["line"].parse().unwrap()))
        .collect();
    let mut unexpected = Vec::new();
    for f in files(&corpus) {
        let name = f.display().to_string();
        let (Ok(before), Ok(after)) = (
            std::fs::read_to_string(corpus.join(&f)),
            std::fs::read_to_string(work.join(&f)),
        ) else {
            continue;
        };
        let (b, a): (Vec<&str>, Vec<&str>) = (
            before.split('\n').collect(),
            without_inserted_matchers(&before, &after),
        );
        assert_eq!(b.len(), a.len(), "{name}: line count changed");
        for (i, (x, y)) in b.iter().zip(&a).enumerate() {
            if x != y && !allowed.contains(&(name.clone(), i + 1)) && !chart_routed(x, y) {
                unexpected.push(format!("{name}:{}: {x:?} -> {y:?}", i + 1));
            }
        }
    }
    assert!(
        unexpected.is_empty(),
        "lines changed that hold no oracle image:\n{}",
        unexpected.join("\n")
    );

    // Every mappable reference was rewritten: a check afterwards finds nothing to do.
    let after = run(&[
        "check",
        work.to_str().unwrap(),
        "--harbor",
        HARBOR,
        "--format",
        "json",
    ]);
    assert_eq!(code(&after), 0);
    let s = &json(&after)["summary"];
    assert_eq!(s["rewritten"], 0);
    // Plus the entries added beside kustomize matchers for rewritten local bases.
    let added = files(&work)
        .iter()
        .filter_map(|f| std::fs::read_to_string(work.join(f)).ok())
        .map(|t| {
            t.lines()
                .filter(|l| l.trim_start().starts_with("- name: harbor.example.com/"))
                .count() as u64
        })
        .sum::<u64>();
    assert_eq!(
        s["already_proxied"].as_u64().unwrap(),
        v["summary"]["rewritten"].as_u64().unwrap() + added
    );
    // 194 before issue 11: 21 Helm maps without a registry whose chart is not in the
    // corpus are now `ambiguous`, and ingress-nginx's global registry is an edit of the
    // three references it composes rather than a reference of its own.
    assert!(v["summary"]["rewritten"].as_u64().unwrap() >= 170);
    assert!(v["summary"]["ambiguous"].as_u64().unwrap() <= 21);
}

/// Oracle rows whose composition harborize gets wrong today, each with the reason. A row
/// listed here that matches the oracle fails the test, so the list shrinks as fixes land.
const KNOWN_DIVERGENT: &[(&str, u64, &str)] = &[];

/// What the oracle says must become of one row, with the default configuration.
#[derive(Debug, PartialEq)]
enum Want {
    /// Rewritten to exactly this value.
    Rewritten(String),
    /// Left as written (another registry, templated, a partial map without a name, ...).
    Unchanged,
    /// A Helm map with no registry in the file: the chart may put its own registry in
    /// front, so reporting it ambiguous is as right as this value (SOURCES.md, the caveat
    /// on `host`).
    RewrittenOrAmbiguous(String),
}

/// Docker Hub's other names (the default configuration's aliases).
const DOCKER_HUB_ALIASES: [&str; 3] = [
    "index.docker.io",
    "registry-1.docker.io",
    "registry.hub.docker.com",
];

/// The Harbor project of an upstream registry in the default configuration.
fn project_of(domain: &str) -> Option<&'static str> {
    let domain = domain.to_ascii_lowercase();
    let domain = if DOCKER_HUB_ALIASES.contains(&domain.as_str()) {
        "docker.io"
    } else {
        domain.as_str()
    };
    match domain {
        "docker.io" => Some("docker-hub"),
        "ghcr.io" => Some("ghcr"),
        "quay.io" => Some("quay"),
        "registry.k8s.io" => Some("k8s-registry"),
        _ => None,
    }
}

/// The Harbor path of a reference under the default configuration, written from the
/// reference grammar apart from src/ (the oracle is independent of it): `None` when it stays as
/// written (not a reference, another registry, Harbor itself, an excluded image).
fn harbor_path(reference: &str) -> Option<String> {
    let path_re = regex::Regex::new(
        r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$",
    )
    .unwrap();
    let tag_re = regex::Regex::new(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$").unwrap();
    let digest_re = regex::Regex::new(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}$").unwrap();
    let (name, digest) = match reference.split_once('@') {
        Some((n, d)) if digest_re.is_match(d) => (n, format!("@{d}")),
        Some(_) => return None,
        None => (reference, String::new()),
    };
    let (name, tag) = match (name.rfind(':'), name.rfind('/')) {
        (Some(c), s) if s.is_none_or(|s| c > s) => {
            if !tag_re.is_match(&name[c + 1..]) {
                return None;
            }
            (&name[..c], format!(":{}", &name[c + 1..]))
        }
        _ => (name, String::new()),
    };
    let (domain, path) = match name.split_once('/') {
        Some((d, p)) if d.contains(['.', ':']) || d == "localhost" => (d, p),
        _ => ("docker.io", name),
    };
    if !path_re.is_match(path) || domain.eq_ignore_ascii_case(HARBOR) {
        return None;
    }
    let project = project_of(domain)?;
    let path = if project == "docker-hub" && !path.contains('/') {
        format!("library/{path}")
    } else {
        path.to_string()
    };
    if project == "docker-hub" && path.starts_with("goharbor/") {
        return None;
    }
    Some(format!("{HARBOR}/{project}/{path}{tag}{digest}"))
}

/// The oracle's mapping of a row's `ref` column: kustomize entries `name => newName:newTag`
/// by what they resolve to, `(partial) registry=R` maps by Harbor's project path, values
/// noted `registry from global` composed with the `host` column.
fn oracle_want(row: &BTreeMap<String, String>) -> Want {
    let r = row["ref"].trim();
    if let Some(registry) = r.strip_prefix("(partial) registry=") {
        return project_of(registry.trim()).map_or(Want::Unchanged, |p| {
            Want::Rewritten(format!("{HARBOR}/{p}"))
        });
    }
    if r.starts_with("(partial)") {
        return Want::Unchanged;
    }
    let effective = r.split_once(" => ").map_or(r, |(_, to)| to);
    let effective = if row["note"].contains("registry from global") {
        format!("{}/{effective}", row["host"])
    } else {
        effective.to_string()
    };
    match harbor_path(&effective) {
        None => Want::Unchanged,
        Some(w)
            if row["kind"] == "helm-values"
                && row["note"].contains("map")
                && row["host"] == "docker.io (implicit)" =>
        {
            Want::RewrittenOrAmbiguous(w)
        }
        Some(w) => Want::Rewritten(w),
    }
}

/// Issue 17 item 3: not only where, but what. Every oracle row's reported value is the
/// oracle's own mapping of its `ref` column, the reference is marked applied, a single
/// scalar's rewritten line holds that value in the file, and an unchanged row's line is
/// byte-identical.
#[test]
fn corpus_rewritten_values_are_the_oracle_mapping_of_each_ref() {
    let corpus = shared().join("corpus");
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("corpus");
    copy_tree(&corpus, &work);
    let out = run(&[
        "rewrite",
        work.to_str().unwrap(),
        "--harbor",
        HARBOR,
        "--format",
        "json",
    ]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let v = json(&out);
    let mut at: BTreeMap<(String, u64), Vec<&serde_json::Value>> = BTreeMap::new();
    for r in v["references"].as_array().unwrap() {
        let file = Path::new(r["file"].as_str().unwrap())
            .strip_prefix(&work)
            .unwrap()
            .display()
            .to_string();
        at.entry((file, r["line"].as_u64().unwrap()))
            .or_default()
            .push(r);
    }
    let line_of = |root: &Path, file: &str, line: u64| {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        text.split('\n')
            .nth(line as usize - 1)
            .unwrap_or("")
            .to_string()
    };

    let (mut wrong, mut stale) = (Vec::new(), Vec::new());
    let mut rewritten_rows = 0;
    let rows = tsv(&corpus.join("expected-refs.tsv"));
    // A global registry that composes the file's image maps is an edit of each of them,
    // not a reference of its own (issue 11 item 1): its line holds the mapped value.
    let composes = |row: &BTreeMap<String, String>| {
        row["ref"].starts_with("(partial) registry=")
            && rows
                .iter()
                .any(|r| r["file"] == row["file"] && r["note"].contains("registry from global"))
    };
    for row in rows.iter() {
        let line: u64 = row["line"].parse().unwrap();
        let recs = at
            .get(&(row["file"].clone(), line))
            .cloned()
            .unwrap_or_default();
        // Argo CD's `name=newName:tag` string form reports the whole entry.
        let got: Vec<String> = recs
            .iter()
            .filter(|r| r["status"] == "rewritten")
            .map(|r| {
                let s = r["rewritten"].as_str().unwrap_or("");
                s.rsplit_once('=').map_or(s, |(_, v)| v).to_string()
            })
            .collect();
        let unapplied = recs
            .iter()
            .any(|r| r["status"] == "rewritten" && r["applied"] != true);
        let ambiguous = recs.iter().any(|r| r["status"] == "ambiguous");
        let want = oracle_want(row);
        let (before, after) = (
            line_of(&corpus, &row["file"], line),
            line_of(&work, &row["file"], line),
        );
        let mut ok = !unapplied
            && match &want {
                Want::Rewritten(w) if composes(row) => got.is_empty() && after.contains(w.as_str()),
                Want::Rewritten(w) => got == [w.clone()],
                Want::Unchanged => got.is_empty(),
                Want::RewrittenOrAmbiguous(w) => {
                    got == [w.clone()] || (got.is_empty() && ambiguous)
                }
            };
        let single_scalar =
            ["pod-image", "compose"].contains(&row["kind"].as_str()) || row["note"] == "string";
        match &want {
            Want::Rewritten(w) if single_scalar => ok &= after.contains(w.as_str()),
            Want::Unchanged => ok &= before == after,
            _ => {}
        }
        let known = KNOWN_DIVERGENT
            .iter()
            .find(|(f, l, _)| *f == row["file"] && *l == line);
        let what = format!(
            "{}:{line} {:?}: oracle {want:?}, reported {got:?}{}\n    line now: {after}",
            row["file"],
            row["ref"],
            if unapplied { " (not applied)" } else { "" }
        );
        match (ok, known) {
            (true, Some((_, _, why))) => {
                stale.push(format!("{what}\n    listed as divergent: {why}"))
            }
            (false, None) => wrong.push(what),
            _ => {}
        }
        rewritten_rows += usize::from(ok && matches!(want, Want::Rewritten(_)));
    }
    assert!(
        wrong.is_empty(),
        "values that are not the oracle's mapping:\n{}",
        wrong.join("\n")
    );
    assert!(
        stale.is_empty(),
        "rows listed in KNOWN_DIVERGENT now match the oracle: remove them\n{}",
        stale.join("\n")
    );
    assert!(
        rewritten_rows >= 150,
        "only {rewritten_rows} rows compared as rewritten values"
    );
}

/// `nginx:1` → `docker.io/library/nginx:1` (the oracle's references, fully qualified).
fn normalize(r: &str) -> String {
    let first = r.split('/').next().unwrap();
    let qualified = if r.contains('/') && (first.contains('.') || first.contains(':')) {
        r.to_string()
    } else {
        format!("docker.io/{r}")
    };
    match qualified.strip_prefix("docker.io/") {
        Some(rest) if !rest.split(['@', ':']).next().unwrap().contains('/') => {
            format!("docker.io/library/{rest}")
        }
        _ => qualified,
    }
}

/// The lines of `after` without the lines a kustomize `images:` entry gains (issue 11 item
/// 4): a `newName:` line beside a `name:` kept as written, and the entries added for the
/// Harbor names of rewritten local bases. Only whole inserted lines of those shapes go.
fn without_inserted_matchers<'a>(before: &'a str, after: &'a str) -> Vec<&'a str> {
    let inserted = |l: &str| {
        let t = l.trim_start();
        [
            "newName: harbor.example.com/",
            "- name: harbor.example.com/",
        ]
        .iter()
        .any(|p| t.starts_with(p))
            || ["newTag: ", "digest: ", "tagSuffix: "]
                .iter()
                .any(|p| t.starts_with(p))
    };
    let diff = similar::TextDiff::from_lines(before, after);
    let mut out = Vec::new();
    for op in diff.ops() {
        let (deleted, mut lines) = (op.old_range().len(), Vec::new());
        for change in diff.iter_changes(op) {
            if change.tag() != similar::ChangeTag::Delete {
                lines.push(change.value().strip_suffix('\n').unwrap_or(change.value()));
            }
        }
        if op.tag() != similar::DiffTag::Equal {
            // More lines than were replaced: the extra ones must be inserted matcher lines.
            let mut extra = lines.len().saturating_sub(deleted);
            for i in (0..lines.len()).rev() {
                if extra > 0 && inserted(lines[i]) {
                    lines.remove(i);
                    extra -= 1;
                }
            }
        }
        out.extend(lines);
    }
    if !after.ends_with('\n') || after.is_empty() {
        return out;
    }
    out.push("");
    out
}

/// A chart source line (kind `chart`, not part of the image oracle): `oci://DOMAIN/PATH`
/// routed to `oci://harbor.example.com/PROJECT/PATH`, PROJECT being DOMAIN's project in the
/// default configuration ([`project_of`]), the rest of the line unchanged.
fn chart_routed(before: &str, after: &str) -> bool {
    let (Some((bk, b)), Some((ak, a))) = (before.split_once("oci://"), after.split_once("oci://"))
    else {
        return false;
    };
    let Some((domain, path)) = b.split_once('/') else {
        return false;
    };
    let Some(routed) = a.strip_prefix("harbor.example.com/") else {
        return false;
    };
    let Some(project) = project_of(domain) else {
        return false;
    };
    bk == ak && routed.split_once('/') == Some((project, path))
}

#[test]
fn chart_routed_checks_the_project_of_the_source_registry() {
    let before = "  url: oci://quay.io/jetstack/charts/cert-manager";
    assert!(chart_routed(
        before,
        "  url: oci://harbor.example.com/quay/jetstack/charts/cert-manager"
    ));
    // another registry's project, a missing project segment, another path, another key
    for after in [
        "  url: oci://harbor.example.com/ghcr/jetstack/charts/cert-manager",
        "  url: oci://harbor.example.com/docker-hub/jetstack/charts/cert-manager",
        "  url: oci://harbor.example.com/jetstack/charts/cert-manager",
        "  url: oci://harbor.example.com/quay/jetstack/charts/other",
        "  ref: oci://harbor.example.com/quay/jetstack/charts/cert-manager",
    ] {
        assert!(!chart_routed(before, after), "{after}");
    }
    // a registry without a project in the default configuration is not routed
    assert!(!chart_routed(
        "  url: oci://registry.example.org/charts/x",
        "  url: oci://harbor.example.com/registry.example.org/charts/x"
    ));
}
