//! Issue #11 items 1, 2 and 5: Helm image maps are composed as their chart composes them,
//! override values are composed with their chart's defaults (or reported `ambiguous`), and
//! literal images in chart templates are rewritten. Every case is proven with the real
//! `helm template` (helm 3.17 from scripts/install-test-tools.sh, PATH from
//! scripts/test-env.sh) before and after: every rendered image equals its mapped
//! original and nothing else changes.

use crate::support;
use crate::support::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{code, copy_tree, json, run, stdout, HARBOR};

/// `helm` from PATH, or a failure saying how to get it (never a pass without it).
fn helm() -> Command {
    let ok = Command::new("helm")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "helm is missing: run `bash scripts/install-test-tools.sh` and `source scripts/test-env.sh`"
    );
    Command::new("helm")
}

/// The `image:` values of `helm template x CHART [-f FILE]`, in render order.
fn rendered_images(chart: &Path, values: Option<&Path>) -> (Vec<String>, String) {
    let mut cmd = helm();
    cmd.args(["template", "x"]).arg(chart);
    if let Some(v) = values {
        cmd.arg("-f").arg(v);
    }
    let out = cmd.output().expect("helm runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "helm template {} failed: {}",
        chart.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let images = text
        .lines()
        .filter_map(|l| {
            l.trim_start()
                .trim_start_matches("- ")
                .strip_prefix("image: ")
        })
        .map(|v| {
            v.split(" #")
                .next()
                .unwrap()
                .trim()
                .trim_matches(['"', '\''])
                .to_string()
        })
        .collect();
    (images, text)
}

/// The default mapping, written out independently of harborize.
fn mapped(image: &str) -> String {
    let (name, suffix) = match image.find(['@']) {
        Some(at) => image.split_at(at),
        None => (image, ""),
    };
    let (name, tag) = match name.rfind(':').filter(|&c| !name[c..].contains('/')) {
        Some(c) => (&name[..c], &name[c..]),
        None => (name, ""),
    };
    let (host, path) = match name.split_once('/') {
        Some((h, p)) if h.contains('.') => (h, p.to_string()),
        _ => ("docker.io", name.to_string()),
    };
    let project = match host {
        "docker.io" => "docker-hub",
        "ghcr.io" => "ghcr",
        "quay.io" => "quay",
        "registry.k8s.io" => "k8s-registry",
        _ => return image.to_string(),
    };
    let path = if host == "docker.io" && !path.contains('/') {
        format!("library/{path}")
    } else {
        path
    };
    format!("{HARBOR}/{project}/{path}{tag}{suffix}")
}

/// Render before, rewrite, render after: every image is its mapped original and every
/// other rendered line is unchanged. Returns the images before.
fn assert_render_proof(
    chart: &Path,
    values: Option<&Path>,
    rewrite_root: &Path,
    extra: &[&str],
) -> Vec<String> {
    let (before, before_text) = rendered_images(chart, values);
    assert!(
        !before.is_empty(),
        "no image rendered from {}",
        chart.display()
    );
    let mut args = vec![
        "rewrite",
        rewrite_root.to_str().unwrap(),
        "--harbor",
        HARBOR,
    ];
    args.extend_from_slice(extra);
    let out = run(&args);
    assert!(code(&out) <= 1, "rewrite failed:\n{}", stdout(&out));
    let (after, after_text) = rendered_images(chart, values);
    let expected: Vec<String> = before.iter().map(|i| mapped(i)).collect();
    assert_eq!(after, expected, "rendered images of {}", chart.display());
    let others = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.contains("image:"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        others(&before_text),
        others(&after_text),
        "non-image lines changed"
    );
    before
}

fn fixture(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/helm")
        .join(case)
}

fn copy_case(case: &str, tmp: &Path) -> PathBuf {
    let dir = tmp.join(case);
    copy_tree(&fixture(case), &dir);
    dir
}

/// ingress-nginx: `global.image.registry` + `image:` path + digest. The path is never
/// rewritten into a full reference; the registry is edited once for all three images,
/// and the reported (and verified) reference is the composed one.
#[test]
fn issue_11_ingress_nginx_global_registry_composes_each_image() {
    let tmp = tempfile::tempdir().unwrap();
    let chart = copy_case("ingress-nginx", tmp.path());
    let report = json(&run(&[
        "check",
        chart.to_str().unwrap(),
        "--harbor",
        HARBOR,
        "--format",
        "json",
    ]));
    let refs: Vec<&serde_json::Value> = report["references"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["file"].as_str().unwrap().ends_with("values.yaml"))
        .collect();
    let originals: Vec<&str> = refs
        .iter()
        .map(|r| r["original"].as_str().unwrap())
        .collect();
    assert_eq!(
        originals,
        vec![
            "registry.k8s.io/ingress-nginx/controller:v1.15.1@sha256:594ceea76b01c592858f803f9ff4d2cb40542cae2060410b2c95f75907d659e1",
            "registry.k8s.io/ingress-nginx/kube-webhook-certgen:v1.6.9@sha256:01038e7de14b78d702d2849c3aad72fd25903c4765af63cf16aa3398f5d5f2dd",
            "registry.k8s.io/defaultbackend-amd64:1.5",
        ],
        "one composed reference per map, none for the registry field"
    );
    assert_eq!(
        refs[2]["rewritten"].as_str(),
        Some("harbor.example.com/k8s-registry/defaultbackend-amd64:1.5")
    );
    assert_render_proof(&chart, None, &chart, &[]);
    let values = std::fs::read_to_string(chart.join("values.yaml")).unwrap();
    assert!(
        values.contains("    registry: harbor.example.com/k8s-registry\n"),
        "{values}"
    );
    assert!(
        values.contains("    image: ingress-nginx/controller\n"),
        "{values}"
    );
    // Afterwards each composed reference is already proxied (not a broken one called so).
    let after = json(&run(&[
        "check",
        chart.to_str().unwrap(),
        "--harbor",
        HARBOR,
        "--format",
        "json",
    ]));
    assert_eq!(after["summary"]["already_proxied"], 3);
    assert_eq!(after["summary"]["rewritten"], 0);
}

/// Bitnami: own `registry`, a subchart whose values compose the registry in front of the
/// parent's bare `repository`, an override file (`-f`) without a registry, and a
/// `global.imageRegistry` override that composes every image of the chart.
#[test]
fn issue_11_bitnami_registry_maps_subchart_and_override_files_render_through_harbor() {
    for values in [
        None,
        Some("values-override.yaml"),
        Some("values-global.yaml"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let chart = copy_case("bitnami", tmp.path());
        let file = values.map(|v| chart.join(v));
        assert_render_proof(&chart, file.as_deref(), &chart, &[]);
    }
    let tmp = tempfile::tempdir().unwrap();
    let chart = copy_case("bitnami", tmp.path());
    run(&["rewrite", chart.to_str().unwrap(), "--harbor", HARBOR]);
    let over = std::fs::read_to_string(chart.join("values-override.yaml")).unwrap();
    assert!(
        over.contains("    repository: oliver006/redis_exporter\n    registry: harbor.example.com/docker-hub\n"),
        "the override gains the chart's registry key; its repository stays a path:\n{over}"
    );
    // The parent's values for the subchart compose with the subchart's registry (checked
    // without writing: a run that also rewrites the subchart may see either state, and both
    // render the same).
    let fresh = tempfile::tempdir().unwrap();
    let chart = copy_case("bitnami", fresh.path());
    let report = json(&run(&[
        "check",
        chart.join("values.yaml").to_str().unwrap(),
        "--harbor",
        HARBOR,
        "--format",
        "json",
    ]));
    let sentinel = report["references"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["line"] == 21)
        .unwrap();
    assert_eq!(
        sentinel["original"],
        "docker.io/bitnami/redis-sentinel:7.4.1-debian-12-r0"
    );
    assert_eq!(sentinel["status"], "rewritten");
}

/// traefik: a registry with a path (`docker.io/library`, `ghcr.io/traefik`) + `image:`;
/// an unmapped registry leaves all of its map's fields alone.
#[test]
fn issue_11_traefik_registry_with_path_and_unmapped_registry() {
    let tmp = tempfile::tempdir().unwrap();
    let chart = copy_case("traefik", tmp.path());
    let before = assert_render_proof(&chart, None, &chart, &[]);
    assert!(before.contains(&"repo.example.io/foo:1.0".to_string()));
    let values = std::fs::read_to_string(chart.join("values.yaml")).unwrap();
    for line in [
        "  registry: harbor.example.com/docker-hub/library\n  image: traefik\n",
        "    registry: harbor.example.com/ghcr/traefik\n    image: traefik-hub\n",
        "    registry: repo.example.io\n    image: foo\n",
    ] {
        assert!(values.contains(line), "{line:?} in\n{values}");
    }
}

/// `{name: quay.io/…, tag}` maps, `registry: quay.io/` (charts trim the slash) and a
/// Docker Hub official image whose `library/` goes into its own field.
#[test]
fn issue_11_name_maps_trailing_slash_registry_and_library_path() {
    let tmp = tempfile::tempdir().unwrap();
    let chart = copy_case("name-maps", tmp.path());
    assert_render_proof(&chart, None, &chart, &[]);
    let values = std::fs::read_to_string(chart.join("values.yaml")).unwrap();
    for line in [
        "  name: harbor.example.com/quay/opstree/druid-exporter\n",
        "    registry: harbor.example.com/quay/\n    repository: prometheus/node-exporter\n",
        "    registry: harbor.example.com/docker-hub\n    repository: library/nginx\n",
    ] {
        assert!(values.contains(line), "{line:?} in\n{values}");
    }
}

/// Item 5: literal images in chart templates are found (so `check --strict` fails on
/// them) and rewritten; lines holding `{{` are never touched and report `templated`.
#[test]
fn issue_11_literal_images_in_chart_templates_are_rewritten() {
    let tmp = tempfile::tempdir().unwrap();
    let chart = copy_case("literal-templates", tmp.path());
    let check = run(&[
        "check",
        chart.to_str().unwrap(),
        "--harbor",
        HARBOR,
        "--strict",
        "--format",
        "json",
    ]);
    assert_eq!(code(&check), 1, "{}", stdout(&check));
    let report = json(&check);
    let statuses: Vec<(String, String)> = report["references"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["original"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (image, status) in [
        ("golang:1.19-alpine", "rewritten"),
        (
            "{{ .Values.image.repository }}:{{ .Values.image.tag }}",
            "templated",
        ),
        ("quay.io/prometheus/busybox:latest", "rewritten"),
        ("busybox", "rewritten"),
    ] {
        assert!(
            statuses.contains(&(image.to_string(), status.to_string())),
            "{image} {status} in {statuses:?}"
        );
    }
    let job_before = std::fs::read_to_string(chart.join("templates/job.yaml")).unwrap();
    assert_render_proof(&chart, None, &chart, &[]);
    let job = std::fs::read_to_string(chart.join("templates/job.yaml")).unwrap();
    assert!(job.contains("image: \"harbor.example.com/docker-hub/library/golang:1.19-alpine\"\n"));
    assert!(job.contains(
        "image: 'harbor.example.com/quay/prometheus/busybox:latest' # literal, single-quoted\n"
    ));
    let changed: Vec<_> = job_before
        .lines()
        .zip(job.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(
        changed.len(),
        2,
        "only the two literal image lines change: {changed:?}"
    );
    let after = run(&[
        "check",
        chart.to_str().unwrap(),
        "--harbor",
        HARBOR,
        "--strict",
    ]);
    assert_eq!(code(&after), 0, "{}", stdout(&after));
}

const RELEASE: &str = "apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: redis
spec:
  chart:
    spec:
      chart: redis
      sourceRef: {kind: HelmRepository, name: bitnami}
  values:
    metrics:
      image:
        repository: oliver006/redis_exporter
        tag: v1.62.0
";

/// The values of [`RELEASE`] as a values file (its `spec.values` block, dedented).
fn release_values(text: &str) -> String {
    let start = text.find("  values:\n").unwrap() + "  values:\n".len();
    text[start..]
        .lines()
        .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
        .collect()
}

/// Item 2: an override without its chart is `ambiguous` (file:line:col, not rewritten,
/// fails `check --strict`); the same override with the chart given by `--charts DIR`
/// (matched by the HelmRelease's chart name) or declared in harborize.yaml is composed
/// with the chart's default registry and renders through Harbor.
#[test]
fn issue_11_override_values_without_their_chart_are_ambiguous_and_composed_with_it() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(repo.join("helm-values")).unwrap();
    std::fs::write(repo.join("release.yaml"), RELEASE).unwrap();
    let loose = "metrics:\n  image:\n    repository: oliver006/redis_exporter\n    tag: v1.62.0\npodinfo:\n  image:\n    repository: ghcr.io/stefanprodan/podinfo\n";
    std::fs::write(repo.join("helm-values/redis.yaml"), loose).unwrap();

    // Without the chart: ambiguous, untouched, strict check fails.
    let check = run(&[
        "check",
        repo.to_str().unwrap(),
        "--harbor",
        HARBOR,
        "--strict",
        "--format",
        "json",
    ]);
    assert_eq!(code(&check), 1, "{}", stdout(&check));
    let report = json(&check);
    let ambiguous: Vec<String> = report["references"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "ambiguous")
        .map(|r| {
            format!(
                "{}:{}:{}",
                Path::new(r["file"].as_str().unwrap())
                    .file_name()
                    .unwrap()
                    .to_str()
                    .unwrap(),
                r["line"],
                r["column"]
            )
        })
        .collect();
    assert_eq!(ambiguous, vec!["redis.yaml:3:17", "release.yaml:13:21"]);
    assert_eq!(report["summary"]["ambiguous"], 2);
    let text = run(&["check", repo.to_str().unwrap(), "--harbor", HARBOR]);
    assert!(stdout(&text).contains("ambiguous"), "{}", stdout(&text));
    assert!(
        stdout(&text).contains("--charts"),
        "says how to resolve it: {}",
        stdout(&text)
    );
    assert!(
        stdout(&text).contains(", 2 ambiguous;"),
        "{}",
        stdout(&text)
    );
    run(&["rewrite", repo.to_str().unwrap(), "--harbor", HARBOR]);
    assert_eq!(
        std::fs::read_to_string(repo.join("release.yaml")).unwrap(),
        RELEASE
    );
    // The full reference with a registry host is no guess: rewritten.
    let loose_after = std::fs::read_to_string(repo.join("helm-values/redis.yaml")).unwrap();
    assert!(loose_after.contains("    repository: oliver006/redis_exporter\n"));
    assert!(loose_after.contains("repository: harbor.example.com/ghcr/stefanprodan/podinfo\n"));

    // With --charts DIR (unpacked charts, found by Chart.yaml name `redis`).
    let charts = tmp.path().join("charts");
    copy_tree(&fixture("bitnami"), &charts.join("bitnami-redis"));
    std::fs::write(tmp.path().join("before.yaml"), release_values(RELEASE)).unwrap();
    let chart = charts.join("bitnami-redis");
    let (before, _) = rendered_images(&chart, Some(&tmp.path().join("before.yaml")));
    let out = run(&[
        "rewrite",
        repo.to_str().unwrap(),
        "--harbor",
        HARBOR,
        "--charts",
        charts.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let release = std::fs::read_to_string(repo.join("release.yaml")).unwrap();
    assert!(release.contains("        repository: oliver006/redis_exporter\n        registry: harbor.example.com/docker-hub\n"), "{release}");
    std::fs::write(tmp.path().join("after.yaml"), release_values(&release)).unwrap();
    let (after, _) = rendered_images(&chart, Some(&tmp.path().join("after.yaml")));
    let metrics_before = before
        .iter()
        .find(|i| i.contains("redis_exporter"))
        .unwrap();
    assert!(after.contains(&mapped(metrics_before)), "{after:?}");

    // With a convention in harborize.yaml instead of the chart.
    std::fs::write(repo.join("release.yaml"), RELEASE).unwrap();
    std::fs::write(
        repo.join("harborize.yaml"),
        "helm:\n  charts:\n    redis:\n      default_registry: docker.io\n",
    )
    .unwrap();
    let out = run(&["rewrite", repo.to_str().unwrap(), "--harbor", HARBOR]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert_eq!(
        std::fs::read_to_string(repo.join("release.yaml")).unwrap(),
        release
    );
}

/// The bundled example's Bitnami redis override: `metrics.image.repository` is composed
/// with a registry, never rewritten into a full path the chart would prefix again.
#[test]
fn issue_11_example_redis_override_keeps_repository_a_path() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("example");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/example"),
        &dir,
    );
    run(&["rewrite", dir.to_str().unwrap(), "--harbor", HARBOR]);
    let values = std::fs::read_to_string(dir.join("platform/redis-values.yaml")).unwrap();
    assert!(
        values.contains("    repository: oliver006/redis_exporter\n"),
        "{values}"
    );
    assert!(!values.contains("docker-hub/oliver006"), "{values}");
    let chart = tmp.path().join("redis");
    copy_tree(&fixture("bitnami"), &chart);
    let (images, _) = rendered_images(&chart, Some(&dir.join("platform/redis-values.yaml")));
    assert!(
        images.contains(
            &"harbor.example.com/docker-hub/oliver006/redis_exporter:v1.62.0".to_string()
        ),
        "{images:?}"
    );
}

/// Item 1: `verify` checks the composed references through Harbor (a real registry behind
/// a recording proxy), never the registry-only field (`/v2/k8s-registry/manifests/latest`)
/// nor the path alone as a Docker Hub image.
#[test]
fn issue_11_verify_checks_the_composed_references_not_the_registry_field() {
    use support::fault::{FaultPlan, FaultProxy};
    use support::registry::{HarnessOptions, RegistryHarness};
    let h = RegistryHarness::start(HarnessOptions::plain().public_projects(&["k8s-registry"]));
    h.push_image("k8s-registry/ingress-nginx/controller", "v1.15.1");
    h.push_image("k8s-registry/defaultbackend-amd64", "1.5");
    let proxy = FaultProxy::start(h.addr(), FaultPlan::shared());
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("values.yaml"),
        "global:\n  image:\n    registry: registry.k8s.io\ncontroller:\n  image:\n    image: ingress-nginx/controller\n    tag: v1.15.1\ndefaultBackend:\n  image:\n    image: defaultbackend-amd64\n    tag: \"1.5\"\n",
    )
    .unwrap();
    let out = run(&[
        "verify",
        tmp.path().to_str().unwrap(),
        "--harbor",
        &proxy.host(),
        "--plain-http",
        "--format",
        "json",
    ]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let mut heads: Vec<String> = proxy
        .requests()
        .into_iter()
        .filter(|(m, t)| m == "HEAD" && t.contains("/manifests/"))
        .map(|(_, t)| t)
        .collect();
    heads.sort();
    assert_eq!(
        heads,
        vec![
            "/v2/k8s-registry/defaultbackend-amd64/manifests/1.5".to_string(),
            "/v2/k8s-registry/ingress-nginx/controller/manifests/v1.15.1".to_string(),
        ]
    );
    let report = json(&out);
    let outcomes: Vec<&str> = report["references"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["verify"]["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, vec!["resolved", "resolved"]);
}

/// Item 2: an override file linked from an Argo CD Application (`helm.valueFiles:
/// [$values/…]`, multi-source) is composed with the chart that Application names, found
/// under `--charts DIR`; the override is proven with `helm template CHART -f FILE`.
#[test]
fn issue_11_value_files_linked_from_an_application_use_its_chart() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(repo.join("helm-values")).unwrap();
    std::fs::create_dir_all(repo.join("apps")).unwrap();
    std::fs::write(
        repo.join("apps/redis.yaml"),
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: redis\nspec:\n  sources:\n    - repoURL: registry-1.docker.io/bitnamicharts\n      chart: redis\n      targetRevision: 20.0.0\n      helm:\n        valueFiles:\n          - $values/helm-values/redis.yaml\n    - repoURL: https://git.example.com/gitops.git\n      ref: values\n",
    )
    .unwrap();
    let values = repo.join("helm-values/redis.yaml");
    std::fs::write(
        &values,
        "metrics:\n  image:\n    repository: oliver006/redis_exporter\n    tag: v1.62.0\n",
    )
    .unwrap();
    let without = json(&run(&[
        "check",
        repo.to_str().unwrap(),
        "--harbor",
        HARBOR,
        "--format",
        "json",
    ]));
    // The Application's chart source (kind `chart`) is reported too; this is about the
    // override's image map.
    let entry = without["references"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "helm")
        .unwrap();
    assert_eq!(entry["status"], "ambiguous");
    assert!(
        entry["message"]
            .as_str()
            .unwrap()
            .contains("chart \"redis\""),
        "{entry}"
    );

    let charts = tmp.path().join("charts");
    copy_tree(&fixture("bitnami"), &charts.join("redis"));
    let chart = charts.join("redis");
    let (before, _) = rendered_images(&chart, Some(&values));
    let out = run(&[
        "rewrite",
        repo.to_str().unwrap(),
        "--harbor",
        HARBOR,
        "--charts",
        charts.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let (after, _) = rendered_images(&chart, Some(&values));
    // The chart under --charts is not the repository's: only the override's image moves.
    let expected: Vec<String> = before
        .iter()
        .map(|i| {
            if i.contains("redis_exporter") {
                mapped(i)
            } else {
                i.clone()
            }
        })
        .collect();
    assert_eq!(after, expected);
    let text = std::fs::read_to_string(&values).unwrap();
    assert!(text.contains("    repository: oliver006/redis_exporter\n    registry: harbor.example.com/docker-hub\n"), "{text}");
}
