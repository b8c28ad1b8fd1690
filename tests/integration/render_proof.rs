//! Issue 11 items 3 and 4, with the real renderers (kubectl 1.29's kustomize, helm 3.17;
//! PATH from scripts/test-env.sh):
//! - kustomize `images:` entries are matchers: `name:` stays as written, `newName:` routes
//!   through Harbor, and the overlay renders the same images whether its base is outside
//!   the paths given, rewritten too, or remote (an unrewritten copy);
//! - the render proof: an edit that changes a rendered line other than an image is refused
//!   (exit 2, nothing written, the rendered difference shown); a missing renderer leaves
//!   the edits unproven (a note per unit); `--no-render-proof` skips it.

use crate::support::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{code, harborize, stderr, stdout, HARBOR};

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// The container images `kubectl kustomize DIR` renders, in order.
fn kustomize_images(dir: &Path) -> Vec<String> {
    let out = Command::new(crate::support::common::tool("kubectl"))
        .arg("kustomize")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().trim_start_matches("- ").strip_prefix("image: "))
        .map(|s| s.trim_matches('"').to_string())
        .collect()
}

fn rewrite(args: &[&str]) -> std::process::Output {
    harborize()
        .arg("rewrite")
        .args(args)
        .args(["--harbor", HARBOR])
        .output()
        .unwrap()
}

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  template:
    spec:
      containers:
        - name: app
          image: ghcr.io/org/app:1.0
        - name: db
          image: docker.io/library/mysql:5.7
        - name: db2
          image: mysql:5.6
";

/// `shared/base` (outside the overlay) and `apps/overlay` with the two matchers of the
/// issue: `ghcr.io/org/app` → 2.0, and `mysql` → 8.0 (which kustomize matches with
/// `mysql:5.6` only, not `docker.io/library/mysql:5.7`).
fn kustomize_tree(root: &Path) {
    write(
        &root.join("shared/base/kustomization.yaml"),
        "resources:\n  - deployment.yaml\n",
    );
    write(&root.join("shared/base/deployment.yaml"), DEPLOYMENT);
    write(
        &root.join("apps/overlay/kustomization.yaml"),
        "resources:\n  - ../../shared/base\nimages:\n  - name: ghcr.io/org/app\n    newTag: \"2.0\"\n  - name: mysql\n    newTag: \"8.0\"\n",
    );
}

fn via_harbor(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| format!("{HARBOR}/{s}")).collect()
}

/// What the overlay renders upstream: only `mysql:5.6` is promoted.
const UPSTREAM: [&str; 3] = [
    "ghcr.io/org/app:2.0",
    "docker.io/library/mysql:5.7",
    "mysql:8.0",
];
/// The same images through Harbor.
const THROUGH_HARBOR: [&str; 3] = [
    "ghcr/org/app:2.0",
    "docker-hub/library/mysql:5.7",
    "docker-hub/library/mysql:8.0",
];

#[test]
fn kustomize_matchers_keep_matching_a_base_outside_the_path_given() {
    let tmp = tempfile::tempdir().unwrap();
    kustomize_tree(tmp.path());
    let overlay = tmp.path().join("apps/overlay");
    assert_eq!(kustomize_images(&overlay), UPSTREAM);
    let out = rewrite(&[overlay.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let text = std::fs::read_to_string(overlay.join("kustomization.yaml")).unwrap();
    assert!(
        text.contains("  - name: ghcr.io/org/app\n    newName: harbor.example.com/ghcr/org/app\n"),
        "{text}"
    );
    assert!(text.contains("  - name: mysql\n"), "{text}");
    // The base was not rewritten (outside the path): the overlay still promotes 2.0 and
    // 8.0, through Harbor; the unmatched 5.7 stays as the base has it.
    assert_eq!(
        kustomize_images(&overlay),
        [
            format!("{HARBOR}/ghcr/org/app:2.0"),
            "docker.io/library/mysql:5.7".to_string(),
            format!("{HARBOR}/docker-hub/library/mysql:8.0"),
        ]
    );
}

#[test]
fn kustomize_matchers_keep_matching_a_rewritten_base_and_a_remote_copy() {
    let tmp = tempfile::tempdir().unwrap();
    kustomize_tree(tmp.path());
    let overlay = tmp.path().join("apps/overlay");
    let out = rewrite(&[tmp.path().to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    // Whole tree: the base is rewritten too, and only mysql:5.6 is promoted, as upstream.
    assert_eq!(kustomize_images(&overlay), via_harbor(&THROUGH_HARBOR));
    // Idempotent: the entries added for the rewritten base are not added again.
    let again = rewrite(&[tmp.path().to_str().unwrap(), "--dry-run"]);
    assert_eq!(code(&again), 0, "{}", stdout(&again));
    // A remote base is not rewritten: simulated by the upstream copy of the base.
    write(&tmp.path().join("shared/base/deployment.yaml"), DEPLOYMENT);
    assert_eq!(
        kustomize_images(&overlay),
        [
            format!("{HARBOR}/ghcr/org/app:2.0"),
            "docker.io/library/mysql:5.7".to_string(),
            format!("{HARBOR}/docker-hub/library/mysql:8.0"),
        ]
    );
}

/// kustomize v5 (kubectl 1.29) matches `name: postgres` with `postgres:16.4@sha256:…` (a
/// tag, then a digest) and renders `postgres:81.7.0`. harborize once read only the v4 rule
/// (`@sha256` before the tag), added no entry for the rewritten base, and the render proof
/// refused the overlay (found on the generated benchmark repository).
#[test]
fn kustomize_matchers_match_a_base_image_with_tag_and_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let digest = "sha256:".to_string() + &"a".repeat(64);
    write(
        &tmp.path().join("base/kustomization.yaml"),
        "resources:\n  - deployment.yaml\n",
    );
    write(
        &tmp.path().join("base/deployment.yaml"),
        &DEPLOYMENT.replace("mysql:5.6", &format!("postgres:16.4@{digest}")),
    );
    write(
        &tmp.path().join("overlay/kustomization.yaml"),
        "resources:\n  - ../base\nimages:\n  - name: postgres\n    newTag: \"81.7.0\"\n",
    );
    let overlay = tmp.path().join("overlay");
    assert_eq!(kustomize_images(&overlay)[2], "postgres:81.7.0");
    let out = rewrite(&[tmp.path().to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(
        kustomize_images(&overlay)[2],
        format!("{HARBOR}/docker-hub/library/postgres:81.7.0")
    );
}

/// kustomize reads a kustomization from `Kustomization` (no extension) as from
/// `kustomization.yaml`. harborize once walked only `.yaml`/`.yml`/`.json` files: it
/// routed the base's images and left the overlay's `images:` matchers as they were, so
/// `mysql` no longer matched `mysql:5.6` and the overlay would have run 5.6, not 8.0 (the
/// render proof refused the rewrite). Now the extensionless files are read, checked and
/// rewritten like the others, with the render proof on.
#[test]
fn extensionless_kustomization_files_are_read_like_kustomization_yaml() {
    let tmp = tempfile::tempdir().unwrap();
    kustomize_tree(tmp.path());
    for dir in ["shared/base", "apps/overlay"] {
        let dir = tmp.path().join(dir);
        std::fs::rename(dir.join("kustomization.yaml"), dir.join("Kustomization")).unwrap();
    }
    let overlay = tmp.path().join("apps/overlay");
    assert_eq!(kustomize_images(&overlay), UPSTREAM);
    let root = tmp.path().to_str().unwrap();
    let check = harborize()
        .args(["check", root, "--harbor", HARBOR])
        .output()
        .unwrap();
    assert!(
        stdout(&check).contains("apps/overlay/Kustomization:4:11: would-rewrite ghcr.io/org/app"),
        "{}{}",
        stdout(&check),
        stderr(&check)
    );
    let out = rewrite(&[root]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(kustomize_images(&overlay), via_harbor(&THROUGH_HARBOR));
    let text = std::fs::read_to_string(overlay.join("Kustomization")).unwrap();
    assert!(
        text.contains("  - name: ghcr.io/org/app\n    newName: harbor.example.com/ghcr/org/app\n"),
        "{text}"
    );
}

/// A chart whose template also puts the image repository in an annotation: rewriting the
/// values changes a rendered line that is not an image.
fn leaky_chart(root: &Path) -> PathBuf {
    let chart = root.join("charts/app");
    write(
        &chart.join("Chart.yaml"),
        "apiVersion: v2\nname: app\nversion: 0.1.0\n",
    );
    write(
        &chart.join("values.yaml"),
        "image:\n  repository: ghcr.io/org/app\n  tag: \"1.0\"\n",
    );
    write(
        &chart.join("templates/deployment.yaml"),
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  annotations:
    description: \"runs {{ .Values.image.repository }}\"
spec:
  template:
    spec:
      containers:
        - name: app
          image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"
",
    );
    chart
}

#[test]
fn render_proof_refuses_an_edit_that_changes_a_rendered_line_beyond_the_image() {
    crate::support::common::tool("helm");
    let tmp = tempfile::tempdir().unwrap();
    let chart = leaky_chart(tmp.path());
    let before = std::fs::read(chart.join("values.yaml")).unwrap();
    let out = rewrite(&[tmp.path().to_str().unwrap()]);
    let (so, se) = (stdout(&out), stderr(&out));
    assert_eq!(code(&out), 2, "{so}{se}");
    assert_eq!(
        std::fs::read(chart.join("values.yaml")).unwrap(),
        before,
        "written anyway"
    );
    // a per-file error: on stderr, in every format (issue #14)
    assert!(se.contains("render-proof-failed: helm template"), "{se}");
    assert!(
        se.contains("-    description: \"runs ghcr.io/org/app\"")
            && se.contains("+    description: \"runs harbor.example.com/ghcr/org/app\""),
        "no rendered difference shown:\n{se}"
    );
    // Without the annotation the same edit is proven and written.
    write(
        &chart.join("templates/deployment.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: app\nspec:\n  containers:\n    - name: app\n      image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"\n",
    );
    let out = rewrite(&[tmp.path().to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let values = std::fs::read_to_string(chart.join("values.yaml")).unwrap();
    assert!(
        values.contains("repository: harbor.example.com/ghcr/org/app"),
        "{values}"
    );
}

#[test]
fn no_render_proof_skips_the_proof() {
    let tmp = tempfile::tempdir().unwrap();
    let chart = leaky_chart(tmp.path());
    let out = rewrite(&[tmp.path().to_str().unwrap(), "--no-render-proof"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let values = std::fs::read_to_string(chart.join("values.yaml")).unwrap();
    assert!(
        values.contains("harbor.example.com/ghcr/org/app"),
        "{values}"
    );
    // The config key does the same.
    let tmp = tempfile::tempdir().unwrap();
    let chart = leaky_chart(tmp.path());
    write(
        &tmp.path().join("harborize.yaml"),
        "render:\n  proof: false\n",
    );
    let out = rewrite(&[tmp.path().to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let values = std::fs::read_to_string(chart.join("values.yaml")).unwrap();
    assert!(
        values.contains("harbor.example.com/ghcr/org/app"),
        "{values}"
    );
}

/// `rewrite` of `root` with a PATH without helm, kubectl or kustomize (it succeeds: the
/// edits are written unproven): its `render-proof-unproven` notes, each `file: message`.
fn unproven_without_renderers(root: &Path) -> Vec<String> {
    let out = harborize()
        .env("PATH", "/nonexistent")
        .args(["rewrite", root.to_str().unwrap(), "--harbor", HARBOR])
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let report = common::json(&out);
    report["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            format!(
                "{}: {}",
                n["file"].as_str().unwrap(),
                n["message"].as_str().unwrap()
            )
        })
        .filter(|n| n.contains("render-proof-unproven"))
        .collect()
}

#[test]
fn missing_renderers_leave_the_edits_unproven_with_a_note_per_unit() {
    let tmp = tempfile::tempdir().unwrap();
    kustomize_tree(tmp.path());
    let chart = leaky_chart(tmp.path());
    let unproven = unproven_without_renderers(tmp.path());
    assert!(
        unproven
            .iter()
            .any(|n| n.contains("helm not found") && n.contains("values.yaml")),
        "{unproven:#?}"
    );
    assert!(
        unproven
            .iter()
            .any(|n| n.contains("kubectl/kustomize not found")
                && n.contains("apps/overlay")
                && n.contains("kustomization.yaml")),
        "{unproven:#?}"
    );
    // Unproven edits are written (the proof could not run, it did not fail).
    let values = std::fs::read_to_string(chart.join("values.yaml")).unwrap();
    assert!(
        values.contains("harbor.example.com/ghcr/org/app"),
        "{values}"
    );
    // An explicit renderer that does not exist is an error, not a silent skip.
    let out = rewrite(&[
        tmp.path().to_str().unwrap(),
        "--kustomize",
        "/nonexistent/kustomize",
    ]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("--kustomize"), "{}", stderr(&out));
}

/// The plan's walk enters hidden directories (`.deploy/`, `.kyverno-test/`): so does the
/// render proof's search for kustomizations, or their edits went out unproven and unnoted.
#[test]
fn kustomizations_in_hidden_directories_are_proven_like_the_others() {
    proven_like_the_others(".deploy", |root| kustomize_tree(&root.join(".deploy")));
}

/// The plan's walk reads what git tracks under an ignored path (`git add -f`): so does the
/// render proof's search for kustomizations, or their edits went out unproven and unnoted.
#[test]
fn tracked_kustomizations_under_ignored_paths_are_proven_like_the_others() {
    proven_like_the_others("generated", |root| {
        use crate::support::git::git;
        git(root, &["init", "--quiet"]);
        write(&root.join(".gitignore"), "generated/\n");
        kustomize_tree(&root.join("generated"));
        git(root, &["add", ".gitignore"]);
        git(root, &["add", "-f", "generated"]);
    });
}

/// A symlink in a kustomization's directory that leads to a parent (`loop -> ..`) is
/// harmless to kustomize, which reads only what is listed: the render proof's scratch copy
/// keeps it a link, where it used to copy the tree again at every level until the path
/// failed (os error 40) and left the edits unproven.
#[test]
fn a_symlink_cycle_beside_a_kustomization_does_not_keep_its_edits_unproven() {
    let tmp = tempfile::tempdir().unwrap();
    kustomize_tree(tmp.path());
    std::os::unix::fs::symlink("..", tmp.path().join("shared/base/loop")).unwrap();
    let out = rewrite(&[tmp.path().to_str().unwrap()]);
    let shown = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(code(&out), 0, "{shown}");
    assert!(!shown.contains("render-proof-unproven"), "{shown}");
    assert_eq!(
        kustomize_images(&tmp.path().join("apps/overlay")),
        via_harbor(&THROUGH_HARBOR)
    );
}

/// A kustomize tree that `lay_out` puts under `root/dir`: without renderers its overlay
/// is named as unproven; with them it is rendered, and renders every image through Harbor.
fn proven_like_the_others(dir: &str, lay_out: impl Fn(&Path)) {
    let tmp = tempfile::tempdir().unwrap();
    lay_out(tmp.path());
    let unproven = unproven_without_renderers(tmp.path());
    let unit = format!("{dir}/apps/overlay");
    assert!(
        unproven
            .iter()
            .any(|n| n.contains(&unit) && n.contains("kubectl/kustomize")),
        "{unproven:#?}"
    );
    let tmp = tempfile::tempdir().unwrap();
    lay_out(tmp.path());
    let out = rewrite(&[tmp.path().to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(
        kustomize_images(&tmp.path().join(&unit)),
        via_harbor(&THROUGH_HARBOR)
    );
}

#[test]
fn standalone_kustomize_and_explicit_helm_are_used_when_named() {
    // `--kustomize` naming a program that is not kubectl runs `PROGRAM build DIR`: a
    // wrapper around kubectl records that it was called that way.
    let kubectl = crate::support::common::tool("kubectl");
    let helm = crate::support::common::tool("helm");
    let tmp = tempfile::tempdir().unwrap();
    kustomize_tree(&tmp.path().join("repo"));
    let log = tmp.path().join("calls.log");
    let wrapper = tmp.path().join("kustomize");
    write(
        &wrapper,
        &format!(
            "#!/bin/sh\necho \"$@\" >> {}\n[ \"$1\" = build ] || exit 9\nshift\nexec {} kustomize \"$@\"\n",
            log.display(),
            kubectl.display()
        ),
    );
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&wrapper)
        .status()
        .unwrap();
    let repo = tmp.path().join("repo");
    let out = rewrite(&[
        repo.to_str().unwrap(),
        "--kustomize",
        wrapper.to_str().unwrap(),
        "--helm",
        helm.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(
        calls.lines().count() >= 2 && calls.lines().all(|l| l.starts_with("build ")),
        "{calls}"
    );
}

/// `run` writes the plan it checked through the same render proof as `rewrite`: a Helm
/// edit that changes a rendered line beyond the image is refused (exit 2, nothing written).
#[test]
fn run_proves_helm_edits_by_rendering_before_it_writes() {
    crate::support::common::tool("helm");
    let tmp = tempfile::tempdir().unwrap();
    let chart = leaky_chart(tmp.path());
    let before = std::fs::read(chart.join("values.yaml")).unwrap();
    let out = harborize()
        .args(["run", tmp.path().to_str().unwrap(), "--harbor", HARBOR])
        .args(["--skip-verify", "--skip-scan", "--skip-commit"])
        .output()
        .unwrap();
    let (so, se) = (stdout(&out), stderr(&out));
    assert_eq!(code(&out), 2, "{so}{se}");
    assert_eq!(
        std::fs::read(chart.join("values.yaml")).unwrap(),
        before,
        "written anyway"
    );
    // a per-file error: on stderr, in every format (issue #14)
    assert!(se.contains("render-proof-failed: helm template"), "{se}");
    assert!(se.contains("render proof failed"), "{se}");
}
