//! Issue 11 item 6: OCI Helm charts through Harbor (kind `chart`).
//!
//! The chart sources GitOps repositories write (Flux HelmRepository `type: oci` and
//! OCIRepository, Argo CD `repoURL` + `chart:` without a scheme, `Chart.yaml`
//! dependencies, helmfile `repositories` with `oci: true`) are routed through Harbor in
//! the form they were written, reverted to the same bytes, and verified as charts against
//! a real registry (CNCF distribution from tests/support) holding a chart pushed by the
//! real `helm push`, an image (not a chart) and no chart at all.

use crate::support::common;
use crate::support::registry::{HarnessOptions, RegistryHarness};

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{code, harborize, json, stderr, stdout, HARBOR};

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const FLUX: &str = "apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: podinfo
spec:
  type: oci
  url: oci://ghcr.io/stefanprodan/charts
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: bitnami
spec:
  url: https://charts.bitnami.com/bitnami
---
apiVersion: source.toolkit.fluxcd.io/v1beta2
kind: OCIRepository
metadata:
  name: podinfo
spec:
  url: oci://ghcr.io/stefanprodan/charts/podinfo
  ref:
    tag: 6.5.0
";

const ARGO: &str = "apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: redis
spec:
  source:
    repoURL: registry-1.docker.io/bitnamicharts
    chart: redis
    targetRevision: 18.0.0
";

const CHART: &str = "apiVersion: v2
name: app
version: 0.1.0
dependencies:
  - name: redis
    version: 18.0.0
    repository: oci://registry-1.docker.io/bitnamicharts
  - name: common
    version: \"~2.0\"
    repository: https://charts.bitnami.com/bitnami
";

const HELMFILE: &str = "repositories:
  - name: ghcr
    url: ghcr.io/org/charts
    oci: true
  - name: stable
    url: https://charts.helm.sh/stable
releases:
  - name: x
    chart: ghcr/x
";

fn tree(root: &Path) {
    write(&root.join("flux/sources.yaml"), FLUX);
    write(&root.join("argo/redis.yaml"), ARGO);
    write(&root.join("charts/app/Chart.yaml"), CHART);
    write(&root.join("helmfile.yaml"), HELMFILE);
}

/// Every OCI chart source is routed to `[oci://]HARBOR/<project>/…` as written (with or
/// without the scheme), classic HTTP repositories stay `unmapped` with the reason, and
/// `--revert` gives back the original bytes.
#[test]
fn oci_chart_sources_are_routed_through_harbor_and_classic_repositories_are_unmapped() {
    let tmp = tempfile::tempdir().unwrap();
    tree(tmp.path());
    let out = harborize()
        .args(["rewrite", "--harbor", HARBOR, "--format", "json"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", crate::support::common::show(&out));
    let read = |p: &str| std::fs::read_to_string(tmp.path().join(p)).unwrap();
    let flux = read("flux/sources.yaml");
    assert!(
        flux.contains("url: oci://harbor.example.com/ghcr/stefanprodan/charts\n"),
        "{flux}"
    );
    assert!(
        flux.contains("url: oci://harbor.example.com/ghcr/stefanprodan/charts/podinfo\n"),
        "{flux}"
    );
    assert!(
        flux.contains("url: https://charts.bitnami.com/bitnami\n"),
        "{flux}"
    );
    assert!(
        read("argo/redis.yaml").contains("repoURL: harbor.example.com/docker-hub/bitnamicharts\n"),
        "Argo CD writes OCI repositories without a scheme: kept so"
    );
    let chart = read("charts/app/Chart.yaml");
    assert!(
        chart.contains("repository: oci://harbor.example.com/docker-hub/bitnamicharts\n")
            && chart.contains("repository: https://charts.bitnami.com/bitnami\n"),
        "{chart}"
    );
    let helmfile = read("helmfile.yaml");
    assert!(
        helmfile.contains("url: harbor.example.com/ghcr/org/charts\n")
            && helmfile.contains("url: https://charts.helm.sh/stable\n"),
        "{helmfile}"
    );
    let report = json(&out);
    let charts: Vec<&serde_json::Value> = report["references"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "chart")
        .collect();
    assert_eq!(charts.len(), 8, "{charts:#?}");
    let classic: Vec<_> = charts
        .iter()
        .filter(|r| r["status"] == "unmapped")
        .collect();
    assert_eq!(classic.len(), 3, "{charts:#?}");
    assert!(classic.iter().all(|r| r["message"]
        .as_str()
        .unwrap()
        .contains("Harbor cannot proxy classic Helm repositories")));

    let out = harborize()
        .args(["rewrite", "--revert", "--harbor", HARBOR])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", crate::support::common::show(&out));
    assert_eq!(read("flux/sources.yaml"), FLUX);
    assert_eq!(read("argo/redis.yaml"), ARGO);
    assert_eq!(read("charts/app/Chart.yaml"), CHART);
    assert_eq!(read("helmfile.yaml"), HELMFILE);
}

/// Push a chart `name` at `version` with the real helm over plain HTTP (logged in with the
/// password on stdin, never on the command line).
fn helm_push(h: &RegistryHarness, work: &Path, repo: &str, name: &str, version: &str) {
    let helm = crate::support::common::tool("helm");
    let chart = work.join(name);
    write(
        &chart.join("Chart.yaml"),
        &format!("apiVersion: v2\nname: {name}\nversion: {version}\n"),
    );
    write(&chart.join("values.yaml"), "{}\n");
    let env = |c: &mut Command| {
        c.env("HELM_REGISTRY_CONFIG", work.join("registry.json"))
            .env("HELM_CACHE_HOME", work.join("cache"))
            .env("HELM_CONFIG_HOME", work.join("config"));
    };
    let run = |mut c: Command| {
        env(&mut c);
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            crate::support::common::show(&out)
        );
    };
    let mut package = Command::new(&helm);
    package.arg("package").arg(&chart).arg("-d").arg(work);
    run(package);
    let (user, password) = h.admin();
    let mut login = Command::new(&helm);
    login.args([
        "registry",
        "login",
        &h.host(),
        "--username",
        &user,
        "--password-stdin",
    ]);
    env(&mut login);
    let mut child = login
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(password.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "helm registry login: {}",
        crate::support::common::show(&out)
    );
    let mut push = Command::new(&helm);
    push.arg("push")
        .arg(work.join(format!("{name}-{version}.tgz")))
        .arg(format!("oci://{}/{repo}", h.host()))
        .arg("--plain-http");
    run(push);
}

/// Chart sources are verified as charts: a strict HEAD of the OCI manifest, then its config
/// media type. A chart pushed by helm resolves, a missing version does not, and an image
/// at a chart's place is `not-a-chart`.
#[test]
fn chart_sources_are_verified_as_helm_charts_through_harbor() {
    // Plain HTTP: helm talks plain HTTP to a registry on 127.0.0.1 whatever it is told.
    let h = RegistryHarness::start(HarnessOptions::plain().public_projects(&["ghcr"]));
    let work = tempfile::tempdir().unwrap();
    helm_push(&h, work.path(), "ghcr/org/charts", "podinfo", "6.5.0");
    h.push_image("ghcr/org/charts/notachart", "1.0.0");
    let tmp = tempfile::tempdir().unwrap();
    let app = |name: &str, chart: &str, version: &str| {
        format!("apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {name}\nspec:\n  source:\n    repoURL: ghcr.io/org/charts\n    chart: {chart}\n    targetRevision: {version}\n")
    };
    write(&tmp.path().join("ok.yaml"), &app("ok", "podinfo", "6.5.0"));
    write(
        &tmp.path().join("missing.yaml"),
        &app("missing", "podinfo", "9.9.9"),
    );
    write(
        &tmp.path().join("image.yaml"),
        &app("image", "notachart", "1.0.0"),
    );
    let out = harborize()
        .args([
            "verify",
            "--format",
            "json",
            "--plain-http",
            "--harbor",
            &h.host(),
        ])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(code(&out), 1, "{}", crate::support::common::show(&out));
    let report = json(&out);
    let outcome = |file: &str| {
        report["references"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["file"].as_str().unwrap().ends_with(file))
            .map(|r| {
                r["verify"]["outcome"]
                    .as_str()
                    .unwrap_or("none")
                    .to_string()
            })
            .unwrap_or_else(|| panic!("{file} not reported: {report:#}"))
    };
    assert_eq!(outcome("ok.yaml"), "resolved", "{report:#}");
    assert_eq!(outcome("missing.yaml"), "tag-not-found", "{report:#}");
    assert_eq!(outcome("image.yaml"), "not-a-chart", "{report:#}");
}

/// `bump` sets a chart's version where each source keeps it (Argo CD `targetRevision`, Flux
/// `ref.tag`, a `Chart.yaml` dependency's `version`) and routes its URL through Harbor in
/// the form it was written; other charts of the same repository stay; a version that reads
/// as a number is quoted; a digest cannot pin a chart source (exit 2, nothing written).
#[test]
fn bump_sets_the_chart_version_in_every_source_form() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(
        &root.join("argo/app.yaml"),
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: app\nspec:\n  source:\n    repoURL: ghcr.io/org/charts  # OCI, no scheme\n    chart: app\n    targetRevision: 1.0.0\n",
    );
    write(
        &root.join("flux/oci.yaml"),
        "apiVersion: source.toolkit.fluxcd.io/v1beta2\nkind: OCIRepository\nmetadata:\n  name: app\nspec:\n  url: oci://ghcr.io/org/charts/app\n  ref:\n    tag: \"1.0.0\"\n",
    );
    write(
        &root.join("umbrella/Chart.yaml"),
        "apiVersion: v2\nname: umbrella\nversion: 0.1.0\ndependencies:\n  - name: app\n    version: 1.0.0 # pinned\n    repository: oci://ghcr.io/org/charts\n  - name: other\n    version: 2.0.0\n    repository: oci://ghcr.io/org/charts\n",
    );
    let bump = |tag: &str, extra: &[&str]| {
        let mut args = vec![
            "bump",
            "--image",
            "ghcr.io/org/charts/app",
            "--tag",
            tag,
            "--harbor",
            HARBOR,
        ];
        args.extend_from_slice(extra);
        harborize().args(&args).arg(root).output().unwrap()
    };
    let out = bump("1.10", &[]);
    assert_eq!(code(&out), 0, "{}", crate::support::common::show(&out));
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    assert_eq!(
        read("argo/app.yaml"),
        format!("apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: app\nspec:\n  source:\n    repoURL: {HARBOR}/ghcr/org/charts  # OCI, no scheme\n    chart: app\n    targetRevision: \"1.10\"\n")
    );
    assert_eq!(
        read("flux/oci.yaml"),
        format!("apiVersion: source.toolkit.fluxcd.io/v1beta2\nkind: OCIRepository\nmetadata:\n  name: app\nspec:\n  url: oci://{HARBOR}/ghcr/org/charts/app\n  ref:\n    tag: \"1.10\"\n")
    );
    assert_eq!(
        read("umbrella/Chart.yaml"),
        format!("apiVersion: v2\nname: umbrella\nversion: 0.1.0\ndependencies:\n  - name: app\n    version: \"1.10\" # pinned\n    repository: oci://{HARBOR}/ghcr/org/charts\n  - name: other\n    version: 2.0.0\n    repository: oci://ghcr.io/org/charts\n")
    );
    // Already on Harbor: only the version moves.
    let out = bump("1.11.0", &[]);
    assert_eq!(code(&out), 0, "{}", crate::support::common::show(&out));
    assert!(read("flux/oci.yaml").contains(&format!(
        "url: oci://{HARBOR}/ghcr/org/charts/app\n  ref:\n    tag: \"1.11.0\""
    )));
    assert!(read("argo/app.yaml").contains("targetRevision: \"1.11.0\""));
    // A digest cannot pin a chart source: refused, nothing written.
    let before = read("umbrella/Chart.yaml");
    let digest = format!("sha256:{}", "a".repeat(64));
    let out = bump("1.12.0", &["--digest", &digest]);
    assert_eq!(code(&out), 2, "{}", crate::support::common::show(&out));
    assert!(
        format!("{}{}", stdout(&out), stderr(&out)).contains("pinned by its version, not a digest"),
        "{}",
        crate::support::common::show(&out)
    );
    assert_eq!(read("umbrella/Chart.yaml"), before);
}
