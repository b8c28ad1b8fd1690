//! Issue 11, follow-ups of the render proof, with the real helm 3.17 (PATH from
//! scripts/test-env.sh):
//! - override values are rendered with their chart (`helm template CHART -f OVERRIDE`)
//!   whenever harborize finds the chart: an override file linked by an Argo CD
//!   Application's `valueFiles`, a HelmRelease's `spec.values` with a chart path of the
//!   repository, an Application's `valuesObject` with a chart under `--charts DIR`;
//! - `bump` and `migrate` write through the same proof as `rewrite` and `run`.

use crate::support::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{code, harborize, stderr, stdout, HARBOR};

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A Bitnami-shaped chart: `image.registry` (default `docker.io`) composed in front of
/// `image.repository`. With `leak`, the registry also shows in an annotation, so routing
/// the image through Harbor changes a rendered line that is not an image.
fn redis_chart(dir: &Path, leak: bool) {
    write(
        &dir.join("Chart.yaml"),
        "apiVersion: v2\nname: redis\nversion: 0.1.0\n",
    );
    write(
        &dir.join("values.yaml"),
        "image:\n  registry: docker.io\n  repository: bitnami/redis\n  tag: \"7.0\"\n",
    );
    let annotation = if leak {
        "  annotations:\n    pulled-from: \"{{ .Values.image.registry }}\"\n"
    } else {
        ""
    };
    write(
        &dir.join("templates/pod.yaml"),
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: redis\n{annotation}spec:\n  containers:\n    - name: redis\n      image: \"{{{{ .Values.image.registry }}}}/{{{{ .Values.image.repository }}}}:{{{{ .Values.image.tag }}}}\"\n"
        ),
    );
}

/// The three GitOps layouts whose override is found with its chart: (the file holding
/// the override, extra arguments, where the chart goes).
fn layouts(root: &Path) -> Vec<(PathBuf, Vec<String>, PathBuf)> {
    let override_map = "image:\n  repository: bitnami/redis\n  tag: \"7.2\"\n";
    // 1. An override file listed in a multi-source Application's valueFiles.
    let a = root.join("a");
    write(&a.join("helm-values/redis.yaml"), override_map);
    write(
        &a.join("apps/redis.yaml"),
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: redis\nspec:\n  sources:\n    - repoURL: https://git.example.com/gitops.git\n      path: charts/redis\n      helm:\n        valueFiles:\n          - $values/helm-values/redis.yaml\n    - repoURL: https://git.example.com/gitops.git\n      ref: values\n",
    );
    // 2. A HelmRelease whose spec.values override a chart of the repository.
    let b = root.join("b");
    write(
        &b.join("clusters/prod/redis.yaml"),
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: redis\nspec:\n  chart:\n    spec:\n      chart: ./charts/redis\n  values:\n    image:\n      repository: bitnami/redis\n      tag: \"7.2\"\n",
    );
    // 3. An Application's valuesObject for a chart found under --charts DIR.
    let c = root.join("c");
    write(
        &c.join("apps/redis.yaml"),
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: redis\nspec:\n  source:\n    repoURL: https://charts.example.com\n    chart: redis\n    targetRevision: 0.1.0\n    helm:\n      valuesObject:\n        image:\n          repository: bitnami/redis\n          tag: \"7.2\"\n",
    );
    let unpacked = root.join("unpacked");
    vec![
        (
            a.join("helm-values/redis.yaml"),
            vec![a.display().to_string()],
            a.join("charts/redis"),
        ),
        (
            b.join("clusters/prod/redis.yaml"),
            vec![b.display().to_string()],
            b.join("charts/redis"),
        ),
        (
            c.join("apps/redis.yaml"),
            vec![
                c.display().to_string(),
                "--charts".into(),
                unpacked.display().to_string(),
            ],
            unpacked.join("redis"),
        ),
    ]
}

fn rewrite(args: &[String], helm: &Path) -> Output {
    harborize()
        .arg("rewrite")
        .args(args)
        .args(["--harbor", HARBOR, "--helm"])
        .arg(helm)
        .output()
        .unwrap()
}

/// An override whose edit is right is rendered `helm template CHART -f OVERRIDE` before
/// and after (a wrapper around the real helm records the calls) and written.
#[test]
fn override_values_are_rendered_with_their_chart_before_they_are_written() {
    let helm = crate::support::common::tool("helm");
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("helm.log");
    let wrapper = tmp.path().join("helm-wrapper");
    write(
        &wrapper,
        &format!(
            "#!/bin/sh\necho \"$@\" >> {}\nexec {} \"$@\"\n",
            log.display(),
            helm.display()
        ),
    );
    Command::new("chmod")
        .arg("+x")
        .arg(&wrapper)
        .status()
        .unwrap();
    for (file, args, chart) in layouts(&tmp.path().join("repos")) {
        redis_chart(&chart, false);
        let _ = std::fs::remove_file(&log);
        let out = rewrite(&args, &wrapper);
        assert_eq!(
            code(&out),
            0,
            "{}: {}",
            file.display(),
            crate::support::common::show(&out)
        );
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.contains("registry: harbor.example.com/docker-hub"),
            "{}:\n{text}",
            file.display()
        );
        let calls = std::fs::read_to_string(&log).unwrap_or_default();
        let with_override = calls
            .lines()
            .filter(|l| l.starts_with("template ") && l.contains(" -f "))
            .count();
        assert!(
            with_override >= 2,
            "{}: the override was not rendered with its chart (before and after):\n{calls}",
            file.display()
        );
    }
}

/// An override edit that changes a rendered line beyond the image is refused: exit 2,
/// the override left as it was, the rendered difference shown.
#[test]
fn override_edit_that_changes_the_render_of_its_chart_is_refused() {
    let helm = crate::support::common::tool("helm");
    let tmp = tempfile::tempdir().unwrap();
    for (file, args, chart) in layouts(&tmp.path().join("repos")) {
        redis_chart(&chart, true);
        let before = std::fs::read(&file).unwrap();
        let out = rewrite(&args, &helm);
        assert_eq!(
            code(&out),
            2,
            "{}: {}",
            file.display(),
            crate::support::common::show(&out)
        );
        assert_eq!(
            std::fs::read(&file).unwrap(),
            before,
            "{}: written anyway",
            file.display()
        );
        assert!(
            stderr(&out).contains("render-proof-failed: helm template"),
            "{}",
            crate::support::common::show(&out)
        );
        assert!(
            stderr(&out).contains("+    pulled-from: \"harbor.example.com/docker-hub\""),
            "no rendered difference shown: {}",
            crate::support::common::show(&out)
        );
    }
}

/// A chart whose values hold a full reference; with `leak`, the tag also shows in an
/// environment value, so a bump changes a rendered line that is not an image.
fn app_chart(root: &Path, leak: bool) -> PathBuf {
    let chart = root.join("charts/app");
    write(
        &chart.join("Chart.yaml"),
        "apiVersion: v2\nname: app\nversion: 0.1.0\n",
    );
    write(
        &chart.join("values.yaml"),
        "image:\n  repository: ghcr.io/org/app\n  tag: \"1.0\"\n",
    );
    let env = if leak {
        "      env:\n        - name: VERSION\n          value: \"{{ .Values.image.tag }}\"\n"
    } else {
        ""
    };
    write(
        &chart.join("templates/pod.yaml"),
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: app\nspec:\n  containers:\n    - name: app\n      image: \"{{{{ .Values.image.repository }}}}:{{{{ .Values.image.tag }}}}\"\n{env}"
        ),
    );
    chart
}

fn bump(dir: &Path) -> Output {
    harborize()
        .args(["bump", "--harbor", HARBOR, "--image", "ghcr.io/org/app"])
        .args(["--tag", "2.0"])
        .arg(dir)
        .output()
        .unwrap()
}

/// `bump` proves its writes by rendering: a new tag that also changes a rendered line
/// other than the image is refused (exit 2, nothing written); the same bump of a chart
/// that renders the tag only in the image is proven and written.
#[test]
fn bump_refuses_a_helm_values_edit_that_changes_the_render_beyond_the_image() {
    crate::support::common::tool("helm");
    let tmp = tempfile::tempdir().unwrap();
    let chart = app_chart(tmp.path(), true);
    let before = std::fs::read(chart.join("values.yaml")).unwrap();
    let out = bump(tmp.path());
    assert_eq!(code(&out), 2, "{}", crate::support::common::show(&out));
    assert_eq!(
        std::fs::read(chart.join("values.yaml")).unwrap(),
        before,
        "written anyway"
    );
    assert!(
        stderr(&out).contains("render-proof-failed: helm template"),
        "{}",
        crate::support::common::show(&out)
    );
    assert!(
        stderr(&out).contains("+          value: \"2.0\""),
        "no rendered difference shown: {}",
        crate::support::common::show(&out)
    );

    let tmp = tempfile::tempdir().unwrap();
    let chart = app_chart(tmp.path(), false);
    let out = bump(tmp.path());
    assert_eq!(code(&out), 0, "{}", crate::support::common::show(&out));
    let values = std::fs::read_to_string(chart.join("values.yaml")).unwrap();
    assert!(
        values.contains("harbor.example.com/ghcr/org/app") && values.contains("\"2.0\""),
        "{values}"
    );
}

/// `migrate` writes through the render proof too: a chart whose rewrite changes a
/// rendered line beyond the image is not written, and the repository fails (exit 2).
#[test]
fn migrate_refuses_a_helm_edit_that_changes_the_render_beyond_the_image() {
    crate::support::common::tool("helm");
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    redis_chart(&repo.join("charts/redis"), true);
    let values = repo.join("charts/redis/values.yaml");
    let before = std::fs::read(&values).unwrap();
    let out = harborize()
        .current_dir(tmp.path())
        .env("HOME", tmp.path())
        .args(["migrate", "--harbor", HARBOR])
        .arg(&repo)
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", crate::support::common::show(&out));
    assert_eq!(std::fs::read(&values).unwrap(), before, "written anyway");
    assert!(
        format!("{}{}", stdout(&out), stderr(&out)).contains("render proof failed"),
        "{}",
        crate::support::common::show(&out)
    );
}
