//! Cache targets (`target.kind`, issue #16 item 1): golden mapping tables per kind over the
//! corpus' references (forward, revert, unmapped with its reason), and `verify` against the
//! real test registry laid out as each kind's path scheme: a path prefix, a port
//! connector, a repository subdomain reached through a resolver override
//! (`HARBORIZE_RESOLVE`, reqwest's `resolve`).
//!
//! Tables: `fixtures/cache_kinds/<case>/{harborize.yaml,mapping.tsv}`. After a deliberate
//! change of a scheme, rewrite them with `HARBORIZE_BLESS=1 cargo test --test integration
//! cache_kinds::` and review the diff.

use crate::support::common::{code, harborize, shared, stderr, stdout};
use crate::support::registry::{HarnessOptions, RegistryHarness};

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use harborize::config::Config;
use harborize::mapping::{Decision, Mapper};
use harborize::reference::Reference;

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cache_kinds")
}

/// The corpus' references (`ref` column; for a kustomize `old => new` entry, the new
/// one: what the cluster runs), unique, sorted.
fn corpus_refs() -> Vec<String> {
    let tsv = std::fs::read_to_string(shared().join("corpus/expected-refs.tsv"))
        .expect("the corpus (../shared/corpus/expected-refs.tsv)");
    let mut lines = tsv.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = header.iter().position(|h| *h == "ref").unwrap();
    let refs: BTreeSet<String> = lines
        .filter_map(|l| l.split('\t').nth(col))
        .map(|r| r.rsplit(" => ").next().unwrap_or(r).to_string())
        .collect();
    refs.into_iter().collect()
}

fn mapper_of(case: &Path) -> Mapper {
    let config = Config::load(Some(&case.join("harborize.yaml")), case).unwrap();
    let host = config.harbor_host.clone().expect("target.host in the case");
    Mapper::new(&config, &host)
}

/// One row: ref, normalized, decision, cache reference (or why not), reverted.
fn row(m: &Mapper, text: &str) -> (String, Option<String>) {
    let Ok(r) = Reference::parse(text) else {
        return (format!("{text}\t-\tinvalid\t-\t-"), None);
    };
    let normalized = r.to_string();
    let (decision, target, reverted, problem) = match m.decide(&r) {
        Decision::Rewrite { name } => {
            let cache_ref = format!("{name}{}", r.suffix());
            let back = Reference::parse(&cache_ref)
                .ok()
                .and_then(|c| m.revert_name(&c))
                .map(|n| format!("{n}{}", r.suffix()));
            let familiar = format!("{}{}", r.familiar_name(), r.suffix());
            let problem = (back.as_deref() != Some(familiar.as_str()))
                .then(|| format!("{text}: {cache_ref} reverts to {back:?}, not {familiar}"));
            let back = back.unwrap_or_else(|| "-".into());
            ("rewritten", cache_ref, back, problem)
        }
        Decision::AlreadyProxied => ("already-proxied", "-".into(), "-".into(), None),
        Decision::Excluded { pattern } => ("excluded", pattern, "-".into(), None),
        Decision::Unmapped { reason, .. } => ("unmapped", reason, "-".into(), None),
    };
    (
        format!("{text}\t{normalized}\t{decision}\t{target}\t{reverted}"),
        problem,
    )
}

#[test]
fn every_kind_maps_reverts_and_leaves_unmapped_as_its_golden_table() {
    let refs = corpus_refs();
    assert!(refs.len() > 200, "corpus too small: {}", refs.len());
    let mut cases: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    let kinds: BTreeSet<String> = cases
        .iter()
        .map(|c| {
            let name = c.file_name().unwrap().to_str().unwrap();
            name.split('-').next().unwrap().to_string()
        })
        .collect();
    let want: BTreeSet<String> = [
        "harbor",
        "ecr",
        "gitlab",
        "artifactory",
        "nexus",
        "quay",
        "gar",
        "acr",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(kinds, want, "one case (or more) per kind");
    let bless = std::env::var_os("HARBORIZE_BLESS").is_some();
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_str().unwrap();
        let m = mapper_of(case);
        let mut table =
            String::from("ref\tnormalized\tdecision\tcache reference or reason\treverted\n");
        let mut counts = std::collections::BTreeMap::<&str, usize>::new();
        for text in &refs {
            let (line, problem) = row(&m, text);
            *counts
                .entry(line.split('\t').nth(2).map_or("", |d| match d {
                    "rewritten" => "rewritten",
                    "unmapped" => "unmapped",
                    _ => "other",
                }))
                .or_default() += 1;
            table.push_str(&line);
            table.push('\n');
            failures.extend(problem.map(|p| format!("{name}: {p}")));
        }
        // Every case rewrites most of the corpus and reverts each rewrite exactly.
        assert!(
            counts.get("rewritten").copied().unwrap_or(0) > 50,
            "{name}: {counts:?}"
        );
        let golden = case.join("mapping.tsv");
        if bless {
            std::fs::write(&golden, &table).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_else(|_| {
            panic!(
                "{} missing: run with HARBORIZE_BLESS=1 and review it",
                golden.display()
            )
        });
        if expected != table {
            let diff: Vec<String> = expected
                .lines()
                .zip(table.lines())
                .filter(|(a, b)| a != b)
                .take(5)
                .map(|(a, b)| format!("  want {a}\n  got  {b}"))
                .collect();
            failures.push(format!("{name}: table differs:\n{}", diff.join("\n")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A Pod with these images.
fn pod(dir: &Path, refs: &[&str]) {
    let mut text =
        String::from("apiVersion: v1\nkind: Pod\nmetadata:\n  name: t\nspec:\n  containers:\n");
    for (i, r) in refs.iter().enumerate() {
        text.push_str(&format!("    - name: c{i}\n      image: {r}\n"));
    }
    std::fs::write(dir.join("pod.yaml"), text).unwrap();
}

/// `verify` of `refs` with the config `yaml`: (exit code, (original, outcome, rewritten,
/// digest) per reference).
fn verify(yaml: &str, refs: &[&str], resolve: &str) -> (i32, Vec<[String; 4]>) {
    let tmp = tempfile::tempdir().unwrap();
    verify_in(tmp.path(), yaml, refs, resolve, &[])
}

fn verify_in(
    dir: &Path,
    yaml: &str,
    refs: &[&str],
    resolve: &str,
    extra: &[&str],
) -> (i32, Vec<[String; 4]>) {
    let tmp = dir;
    pod(tmp, refs);
    let cfg = tmp.join("harborize.yaml");
    std::fs::write(&cfg, yaml).unwrap();
    let mut cmd = harborize();
    cmd.args([
        "verify",
        tmp.to_str().unwrap(),
        "--plain-http",
        "--format",
        "json",
    ])
    .arg("--config")
    .arg(&cfg)
    .args(extra);
    if !resolve.is_empty() {
        cmd.env("HARBORIZE_RESOLVE", resolve);
    }
    let out = cmd.output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}\n{}", stdout(&out), stderr(&out)));
    let s = |x: &serde_json::Value| x.as_str().unwrap_or("-").to_string();
    let rows = v["references"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            [
                s(&r["original"]),
                s(&r["verify"]["outcome"]),
                s(&r["rewritten"]),
                s(&r["verify"]["digest"]),
            ]
        })
        .collect();
    (code(&out), rows)
}

/// The registry serves a kind's layout: every reference resolves to the digest pushed at the
/// path the scheme gives, a missing tag is `tag-not-found` (so the path was reached), and
/// each reference was checked on the host its kind puts it on.
#[test]
fn verify_reaches_each_kinds_layout_on_a_real_registry() {
    let a = RegistryHarness::start(
        HarnessOptions::plain().public_projects(&["library", "org", "my-proj", "mygroup"]),
    );
    let b = RegistryHarness::start(HarnessOptions::plain().public_projects(&["library"]));
    let (pa, pb) = (a.addr().port(), b.addr().port());
    let nginx_gar = a.push_image("my-proj/dockerhub-proxy/library/nginx", "1.27");
    let nginx_sub = a.push_image("library/nginx", "1.27");
    let app_port = a.push_image("org/app", "v1");
    let nginx_port = b
        .push_image_with(
            "library/nginx",
            "1.27",
            &crate::support::oci::ImageSpec {
                content: Some("the port connector's copy".into()),
                ..Default::default()
            },
        )
        .digest;
    let nginx_gitlab = a.push_image("mygroup/dependency_proxy/containers/nginx", "1.27");
    assert_ne!(
        nginx_sub, nginx_port,
        "the two registries hold different images"
    );

    // Path prefix of two segments on a Google host name, reached through the override.
    let (c, rows) = verify(
        &format!(
            "target: {{kind: gar, host: 'us-central1-docker.pkg.dev:{pa}'}}\nregistries:\n  docker.io: {{project: my-proj/dockerhub-proxy}}\n  ghcr.io: null\n  quay.io: null\n  registry.k8s.io: null\n"
        ),
        &["nginx:1.27", "nginx:nope"],
        "us-central1-docker.pkg.dev=127.0.0.1",
    );
    assert_eq!(
        rows[0][2],
        format!("us-central1-docker.pkg.dev:{pa}/my-proj/dockerhub-proxy/library/nginx:1.27")
    );
    assert_eq!(
        (rows[0][1].as_str(), rows[0][3].as_str()),
        ("resolved", nginx_gar.as_str()),
        "{rows:?}"
    );
    assert_eq!(rows[1][1], "tag-not-found", "{rows:?}");
    assert_eq!(c, 1);

    // Artifactory's subdomain method: the repository key is a host of its own.
    let (c, rows) = verify(
        &format!(
            "target: {{kind: artifactory, method: subdomain, host: 'art.test:{pa}'}}\nregistries:\n  docker.io: {{project: dockerhub-remote}}\n"
        ),
        &["nginx:1.27"],
        "dockerhub-remote.art.test=127.0.0.1",
    );
    assert_eq!(
        rows[0][2],
        format!("dockerhub-remote.art.test:{pa}/library/nginx:1.27")
    );
    assert_eq!(
        (rows[0][1].as_str(), rows[0][3].as_str()),
        ("resolved", nginx_sub.as_str()),
        "{rows:?}"
    );
    assert_eq!(c, 0);
    // `--pin` writes the digest on the repository's subdomain host too.
    let pinned = tempfile::tempdir().unwrap();
    let (c, _) = verify_in(
        pinned.path(),
        &format!(
            "target: {{kind: artifactory, method: subdomain, host: 'art.test:{pa}'}}\nregistries:\n  docker.io: {{project: dockerhub-remote}}\n"
        ),
        &[&format!("dockerhub-remote.art.test:{pa}/library/nginx:1.27")],
        "dockerhub-remote.art.test=127.0.0.1",
        &["--pin"],
    );
    let text = std::fs::read_to_string(pinned.path().join("pod.yaml")).unwrap();
    assert!(
        text.contains(&format!(
            "dockerhub-remote.art.test:{pa}/library/nginx:1.27@{nginx_sub}"
        )),
        "exit {c}:\n{text}"
    );

    // Nexus port connectors: one registry per upstream, each on its own port.
    let (c, rows) = verify(
        &format!(
            "target: {{kind: nexus, method: port, host: nexus.test}}\nregistries:\n  docker.io: {{project: docker-proxy, port: {pb}}}\n  ghcr.io: {{project: ghcr-proxy, port: {pa}}}\n  quay.io: null\n  registry.k8s.io: null\n"
        ),
        &["nginx:1.27", "ghcr.io/org/app:v1"],
        "nexus.test=127.0.0.1",
    );
    assert_eq!(rows[0][2], format!("nexus.test:{pb}/library/nginx:1.27"));
    assert_eq!(
        (rows[0][1].as_str(), rows[0][3].as_str()),
        ("resolved", nginx_port.as_str()),
        "{rows:?}"
    );
    assert_eq!(
        (rows[1][1].as_str(), rows[1][3].as_str()),
        ("resolved", app_port.as_str()),
        "{rows:?}"
    );
    assert_eq!(c, 0);

    // GitLab's Dependency Proxy path; GHCR stays unmapped and is not checked.
    let (c, rows) = verify(
        &format!("target: {{kind: gitlab, group: mygroup, host: '127.0.0.1:{pa}'}}\n"),
        &["nginx:1.27", "ghcr.io/org/app:v1"],
        "",
    );
    assert_eq!(
        (rows[0][1].as_str(), rows[0][3].as_str()),
        ("resolved", nginx_gitlab.as_str()),
        "{rows:?}"
    );
    assert_eq!(rows[1][1], "-", "{rows:?}");
    assert_eq!(c, 0);
}

#[test]
fn harbor_setup_refuses_other_kinds() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("harborize.yaml"),
        "target: {kind: ecr, host: 123456789012.dkr.ecr.eu-west-1.amazonaws.com}\n",
    )
    .unwrap();
    let out = harborize()
        .current_dir(tmp.path())
        .args(["harbor", "setup"])
        .env("HARBORIZE_USERNAME", "admin")
        .env("HARBORIZE_PASSWORD", "x")
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("target.kind is ecr"),
        "{}",
        stderr(&out)
    );
}

/// `mirrors` for another cache: the endpoint path is the kind's (GAR's two segments,
/// GitLab's Dependency Proxy for Docker Hub alone), and a scheme a node cannot express is
/// refused rather than generated routing nothing.
#[test]
fn mirrors_use_each_kinds_endpoint_path_or_refuse() {
    let run = |yaml: &str| {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = tmp.path().join("harborize.yaml");
        std::fs::write(&cfg, yaml).unwrap();
        let out = harborize()
            .args(["mirrors", "--format", "k3s", "--config"])
            .arg(&cfg)
            .output()
            .unwrap();
        (code(&out), stdout(&out), stderr(&out))
    };
    let (c, out, err) = run(
        "target: {kind: gar, host: us-central1-docker.pkg.dev}\nregistries:\n  docker.io: {project: my-proj/dockerhub-proxy}\n  ghcr.io: null\n  quay.io: null\n  registry.k8s.io: null\n",
    );
    assert_eq!(c, 0, "{err}");
    assert!(
        out.contains("https://us-central1-docker.pkg.dev/v2/my-proj/dockerhub-proxy"),
        "{out}"
    );
    let (c, out, err) = run("target: {kind: gitlab, group: mygroup, host: gitlab.example.com}\n");
    assert_eq!(c, 0, "{err}");
    assert!(
        out.contains("https://gitlab.example.com/v2/mygroup/dependency_proxy/containers"),
        "{out}"
    );
    assert!(!out.contains("ghcr.io"), "{out}");
    assert!(err.contains("Docker Hub only"), "{err}");
    let (c, out, err) = run(
        "target: {kind: artifactory, method: subdomain, host: art.example.com}\nregistries:\n  docker.io: {project: dockerhub-remote}\n  ghcr.io: null\n  quay.io: null\n  registry.k8s.io: null\n",
    );
    assert_eq!(c, 2, "{out}");
    assert!(err.contains("target.method subdomain"), "{err}");
}

/// `bump` finds and bumps references already on the cache in each kind's form: a GitLab
/// Dependency Proxy path and an Artifactory repository subdomain.
#[test]
fn bump_follows_the_kinds_paths() {
    for (yaml, old, new) in [
        (
            "target: {kind: gitlab, group: mygroup, host: gitlab.example.com}\n",
            "gitlab.example.com/mygroup/dependency_proxy/containers/nginx:1.26",
            "gitlab.example.com/mygroup/dependency_proxy/containers/nginx:1.27",
        ),
        (
            "target: {kind: artifactory, method: subdomain, host: art.example.com}\nregistries:\n  docker.io: {project: dockerhub-remote}\n",
            "dockerhub-remote.art.example.com/library/nginx:1.26",
            "dockerhub-remote.art.example.com/library/nginx:1.27",
        ),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("harborize.yaml"), yaml).unwrap();
        pod(tmp.path(), &[old, "ghcr.io/org/other:1"]);
        let out = harborize()
            .args(["bump", "--image", "nginx", "--tag", "1.27"])
            .arg(tmp.path())
            .output()
            .unwrap();
        let text = std::fs::read_to_string(tmp.path().join("pod.yaml")).unwrap();
        assert!(
            text.contains(&format!("image: {new}\n")),
            "exit {}: {}\n{text}",
            code(&out),
            stderr(&out)
        );
        assert!(text.contains("image: ghcr.io/org/other:1\n"), "{text}");
    }
}
