//! `harborize bump` on plain directories: every place an image hides gets the new tag as
//! its Harbor path, byte-exact; a missing image is an error; nothing is half-written.

mod common;

use std::path::Path;

use common::*;

const IMG: &str = "ghcr.io/org/app";
const DIGEST: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const OLD_DIGEST: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

fn write(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

fn bump(dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["bump", "--harbor", HARBOR, "--image", IMG];
    args.extend_from_slice(extra);
    let d = dir.to_str().unwrap().to_string();
    harborize()
        .args(&args)
        .arg(&d)
        .output()
        .expect("harborize runs")
}

const DEPLOY: &str = "apiVersion: apps/v1\r\nkind: Deployment\r\nmetadata:\r\n  name: app\r\nspec:\r\n  template:\r\n    spec:\r\n      containers:\r\n        - name: app\r\n          image: ghcr.io/org/app:v1 # {\"$imagepolicy\": \"flux:app:tag\"}\r\n        - name: other\r\n          image: ghcr.io/org/app-other:v1\r\n      initContainers:\r\n        - name: migrate\r\n          image: 'harbor.example.com/ghcr/org/app:v1'\r\n";

#[test]
fn manifests_upstream_and_harbor_form_get_the_new_harbor_reference() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "deploy.yaml", DEPLOY);
    let out = bump(tmp.path(), &["--tag", "v2"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    // CRLF, comments, quoting and the other image stay; both references are bumped.
    assert_eq!(
        read(tmp.path(), "deploy.yaml"),
        DEPLOY
            .replace(
                "image: ghcr.io/org/app:v1 #",
                "image: harbor.example.com/ghcr/org/app:v2 #"
            )
            .replace(
                "'harbor.example.com/ghcr/org/app:v1'",
                "'harbor.example.com/ghcr/org/app:v2'"
            )
    );
    let text = stdout(&out);
    assert!(
        text.contains("rewritten ghcr.io/org/app:v1 -> harbor.example.com/ghcr/org/app:v2"),
        "{text}"
    );
    assert!(!text.contains("app-other"), "{text}");

    // Again: nothing to do, exit 0, bytes untouched.
    let before = read(tmp.path(), "deploy.yaml");
    let out = bump(tmp.path(), &["--tag", "v2"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("already at v2"), "{}", stdout(&out));
    assert_eq!(read(tmp.path(), "deploy.yaml"), before);
}

#[test]
fn kustomize_entries_get_new_tag_and_harbor_name() {
    let tmp = tempfile::tempdir().unwrap();
    let kust = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - deploy.yaml\nimages:\n  - name: ghcr.io/org/app # the app\n    newTag: v1\n  - name: ghcr.io/org/app-other\n    newTag: v1\n";
    write(tmp.path(), "base/kustomization.yaml", kust);
    let already = "images:\n- name: ghcr.io/org/app\n  newName: harbor.example.com/ghcr/org/app\n  newTag: \"v1\"\n";
    write(tmp.path(), "prod/kustomization.yaml", already);
    let out = bump(tmp.path(), &["--tag", "v2"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    // `name` keeps matching the resources; `newName` carries the Harbor name.
    assert_eq!(
        read(tmp.path(), "base/kustomization.yaml"),
        kust.replace(
            "  - name: ghcr.io/org/app # the app\n    newTag: v1\n",
            "  - name: ghcr.io/org/app # the app\n    newName: harbor.example.com/ghcr/org/app\n    newTag: v2\n"
        )
    );
    assert_eq!(
        read(tmp.path(), "prod/kustomization.yaml"),
        already.replace("\"v1\"", "\"v2\"")
    );
}

#[test]
fn helm_values_split_fields_and_strings() {
    let tmp = tempfile::tempdir().unwrap();
    let values = "\
image:
  registry: ghcr.io
  repository: org/app
  tag: \"v1\"
  pullPolicy: IfNotPresent
worker:
  image:
    repository: harbor.example.com/ghcr/org/app
    tag: v1
migrations:
  image:
    repository: ghcr.io/org/app
sidecar:
  image: ghcr.io/org/app:v1
unrelated:
  image:
    repository: ghcr.io/org/app-other
    tag: v1
";
    write(tmp.path(), "chart/values.yaml", values);
    let out = bump(tmp.path(), &["--tag", "v2"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(
        read(tmp.path(), "chart/values.yaml"),
        "\
image:
  registry: harbor.example.com/ghcr
  repository: org/app
  tag: \"v2\"
  pullPolicy: IfNotPresent
worker:
  image:
    repository: harbor.example.com/ghcr/org/app
    tag: v2
migrations:
  image:
    repository: harbor.example.com/ghcr/org/app
    tag: v2
sidecar:
  image: harbor.example.com/ghcr/org/app:v2
unrelated:
  image:
    repository: ghcr.io/org/app-other
    tag: v1
"
    );
}

#[test]
fn argo_and_flux_embedded_values_are_bumped_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    let app = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nspec:\n  source:\n    helm:\n      values: |\n        image:\n          repository: ghcr.io/org/app\n          tag: v1\n    kustomize:\n      images:\n        - ghcr.io/org/app:v1\n        - app=ghcr.io/org/app:v1\n";
    write(tmp.path(), "app.yaml", app);
    let out = bump(tmp.path(), &["--tag", "v2"]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(
        read(tmp.path(), "app.yaml"),
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nspec:\n  source:\n    helm:\n      values: |\n        image:\n          repository: harbor.example.com/ghcr/org/app\n          tag: v2\n    kustomize:\n      images:\n        - ghcr.io/org/app=harbor.example.com/ghcr/org/app:v2\n        - app=harbor.example.com/ghcr/org/app:v2\n"
    );
}

#[test]
fn digest_is_set_everywhere_and_inserted_where_missing() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "deploy.yaml",
        &format!("kind: Pod\napiVersion: v1\nspec:\n  containers:\n    - image: ghcr.io/org/app:v1@{OLD_DIGEST}\n"),
    );
    write(
        tmp.path(),
        "values.yaml",
        &format!("image:\n  repository: ghcr.io/org/app\n  tag: v1\n  digest: \"{OLD_DIGEST}\"\nother:\n  image:\n    registry: ghcr.io\n    repository: org/app\n    tag: v1\n"),
    );
    write(
        tmp.path(),
        "kustomization.yaml",
        "images:\n  - name: harbor.example.com/ghcr/org/app\n    newTag: v1\n",
    );
    let out = bump(tmp.path(), &["--tag", "v2", "--digest", DIGEST]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(
        read(tmp.path(), "deploy.yaml"),
        format!("kind: Pod\napiVersion: v1\nspec:\n  containers:\n    - image: harbor.example.com/ghcr/org/app:v2@{DIGEST}\n")
    );
    assert_eq!(
        read(tmp.path(), "values.yaml"),
        format!("image:\n  repository: harbor.example.com/ghcr/org/app\n  tag: v2\n  digest: \"{DIGEST}\"\nother:\n  image:\n    registry: harbor.example.com/ghcr\n    repository: org/app\n    tag: v2\n    digest: {DIGEST}\n")
    );
    assert_eq!(
        read(tmp.path(), "kustomization.yaml"),
        format!("images:\n  - name: harbor.example.com/ghcr/org/app\n    newTag: v2\n    digest: {DIGEST}\n")
    );
}

#[test]
fn a_pinned_digest_without_digest_blocks_the_whole_bump() {
    let tmp = tempfile::tempdir().unwrap();
    let values =
        format!("image:\n  repository: ghcr.io/org/app\n  tag: v1\n  digest: {OLD_DIGEST}\n");
    write(tmp.path(), "a/values.yaml", &values);
    write(tmp.path(), "b/deploy.yaml", DEPLOY);
    let out = bump(tmp.path(), &["--tag", "v2"]);
    assert_eq!(code(&out), 2, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("pass --digest"), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("nothing was written"),
        "{}",
        stderr(&out)
    );
    // Not half-done: the other file is untouched too.
    assert_eq!(read(tmp.path(), "a/values.yaml"), values);
    assert_eq!(read(tmp.path(), "b/deploy.yaml"), DEPLOY);
}

#[test]
fn an_image_found_nowhere_is_an_error_that_says_where_it_looked() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "deploy.yaml", DEPLOY);
    let out = harborize()
        .args([
            "bump",
            "--harbor",
            HARBOR,
            "--image",
            "ghcr.io/org/missing",
            "--tag",
            "v2",
        ])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(err.contains("ghcr.io/org/missing not found"), "{err}");
    assert!(err.contains(tmp.path().to_str().unwrap()), "{err}");
    assert!(err.contains("1 file(s)"), "{err}");
    assert_eq!(read(tmp.path(), "deploy.yaml"), DEPLOY);
}

#[test]
fn bad_arguments_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "deploy.yaml", DEPLOY);
    for (image, tag, want) in [
        ("ghcr.io/org/app:v1", "v2", "without tag"),
        ("ghcr.io/org/app", "bad tag!", "invalid --tag"),
        (
            "gcr.io/org/app",
            "v2",
            "no Harbor project for registry gcr.io",
        ),
        ("goharbor/harbor-core", "v2", "excluded"),
    ] {
        let out = harborize()
            .args(["bump", "--harbor", HARBOR, "--image", image, "--tag", tag])
            .arg(tmp.path())
            .output()
            .unwrap();
        assert_eq!(code(&out), 2, "{image}");
        assert!(stderr(&out).contains(want), "{image}: {}", stderr(&out));
    }
    let out = bump(tmp.path(), &["--tag", "v2", "--digest", "sha256:short"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("invalid --digest"),
        "{}",
        stderr(&out)
    );
    assert_eq!(read(tmp.path(), "deploy.yaml"), DEPLOY);
}

#[test]
fn dry_run_and_json_report() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "deploy.yaml", DEPLOY);
    let out = bump(
        tmp.path(),
        &["--tag", "v2", "--dry-run", "--format", "json"],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(read(tmp.path(), "deploy.yaml"), DEPLOY);
    let v = json(&out);
    assert_eq!(v["version"], 1);
    let refs = v["references"].as_array().unwrap();
    assert_eq!(refs.len(), 2);
    assert!(refs
        .iter()
        .all(|r| r["status"] == "rewritten" && r["applied"] == false));
    assert_eq!(refs[0]["rewritten"], "harbor.example.com/ghcr/org/app:v2");
    assert_eq!(v["bump"]["images"][0]["image"], IMG);
    assert_eq!(
        v["bump"]["images"][0]["to"],
        "harbor.example.com/ghcr/org/app:v2"
    );

    let out = bump(tmp.path(), &["--tag", "v2", "--format", "json"]);
    assert_eq!(code(&out), 0);
    let v = json(&out);
    assert!(v["references"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["applied"] == true));
    assert_eq!(v["files_changed"].as_array().unwrap().len(), 1);
}

#[test]
fn github_outputs_are_written_without_git() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "repo/deploy.yaml", DEPLOY);
    let output = tmp.path().join("gh_output");
    let summary = tmp.path().join("gh_summary");
    let out = harborize()
        .args(["bump", "--harbor", HARBOR, "--image", IMG, "--tag", "v2"])
        .arg(tmp.path().join("repo"))
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let o = std::fs::read_to_string(&output).unwrap();
    assert!(o.contains("changed=true\n"), "{o}");
    assert!(o.contains("commit=\n"), "{o}");
    let images = o.lines().find_map(|l| l.strip_prefix("images=")).unwrap();
    let v: serde_json::Value = serde_json::from_str(images).unwrap();
    assert_eq!(v[0]["to"], "harbor.example.com/ghcr/org/app:v2");
    assert_eq!(v[0]["from"][0], "ghcr.io/org/app:v1");
    let s = std::fs::read_to_string(&summary).unwrap();
    assert!(s.contains("### harborize bump"), "{s}");
    assert!(s.contains("`harbor.example.com/ghcr/org/app:v2`"), "{s}");
}
