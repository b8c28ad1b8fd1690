//! Issue #10: rewrite, rewrite --verify, run, migrate and bump read each file of the
//! repository once per run to plan it, plus once more (only a file that changes) when the
//! plan is applied (re-read to refuse a file that changed since it was planned).
//!
//! The debug binary logs every read of a repository file to the file named by
//! `HARBORIZE_TEST_COUNT_READS` (`src/fsio/count.rs`): `plan` (the walk), `apply` (the
//! re-read before a write) and `scan` (what bump reads about the repository besides its
//! plan: kustomizations, Flux image policies, Argo CD Applications), `context` (what a
//! kustomization's `images:` entries read beyond the walk: the kustomizations it includes,
//! the files of its bases) and `render` (the kustomizations the render proof follows).
//! Verification runs against the real registry of tests/support.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::common::{self, code, harborize, stderr, stdout};
use crate::support::registry::{HarnessOptions, RegistryHarness};

const LOG_ENV: &str = "HARBORIZE_TEST_COUNT_READS";

/// A small GitOps repository: a plain workload, a kustomize base with an overlay that sets
/// the image's tag, a Flux-marked field with its ImagePolicy and ImageRepository, an Argo CD
/// Application and a file without images.
fn files() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "apps/web.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n    - name: web\n      image: nginx:1.27\n",
        ),
        (
            "apps/other.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\ndata:\n  a: b\n",
        ),
        (
            "apps/marked.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: marked\nspec:\n  containers:\n    - name: app\n      image: ghcr.io/acme/app:1.0 # {\"$imagepolicy\": \"flux-system:app\"}\n",
        ),
        (
            "base/kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - deploy.yaml\n",
        ),
        (
            "base/deploy.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  selector:\n    matchLabels:\n      app: app\n  template:\n    metadata:\n      labels:\n        app: app\n    spec:\n      containers:\n        - name: app\n          image: ghcr.io/acme/app:1.0\n",
        ),
        (
            "overlays/dev/kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../base\nimages:\n  - name: ghcr.io/acme/app\n    newTag: \"1.0\"\n",
        ),
        (
            "flux/images.yaml",
            "apiVersion: image.toolkit.fluxcd.io/v1beta2\nkind: ImageRepository\nmetadata:\n  name: app\n  namespace: flux-system\nspec:\n  image: ghcr.io/acme/app\n---\napiVersion: image.toolkit.fluxcd.io/v1beta2\nkind: ImagePolicy\nmetadata:\n  name: app\n  namespace: flux-system\nspec:\n  imageRepositoryRef:\n    name: app\n",
        ),
        (
            "argo/app.yaml",
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: app-dev\nspec:\n  source:\n    repoURL: https://github.com/acme/gitops\n    path: overlays/dev\n    kustomize:\n      images:\n        - ghcr.io/acme/app:1.0\n",
        ),
    ]
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("git runs (install git)");
    assert!(out.status.success(), "git {args:?}: {}", common::show(&out));
}

/// The repository, committed, in a new directory; `harbor` goes into harborize.yaml.
fn repo(harbor: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("gitops");
    for (rel, text) in files() {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    std::fs::write(
        dir.join("harborize.yaml"),
        format!("harbor:\n  host: {harbor}\n"),
    )
    .unwrap();
    git(&dir, &["init", "-q", "-b", "main"]);
    git(&dir, &["add", "-A"]);
    git(
        &dir,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-qm",
            "seed",
        ],
    );
    (tmp, dir.canonicalize().unwrap())
}

/// Run harborize in `cwd` with the read log on; returns the output and, per file of `repo`
/// (relative path), how often it was read for each purpose.
fn counted(
    cwd: &Path,
    repo: &Path,
    args: &[&str],
) -> (Output, BTreeMap<String, BTreeMap<String, usize>>) {
    let log = cwd.join("reads.log");
    let _ = std::fs::remove_file(&log);
    let out = harborize()
        .current_dir(cwd)
        .env(LOG_ENV, &log)
        .env("HOME", cwd)
        .env("GIT_AUTHOR_NAME", "harborize-bot")
        .env("GIT_AUTHOR_EMAIL", "bot@example.com")
        .args(args)
        .output()
        .expect("harborize runs");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let mut reads: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for line in text.lines() {
        let (purpose, path) = line.split_once('\t').expect("purpose<TAB>path");
        let Ok(rel) = Path::new(path).strip_prefix(repo) else {
            continue;
        };
        *reads
            .entry(rel.display().to_string())
            .or_default()
            .entry(purpose.to_string())
            .or_default() += 1;
    }
    (out, reads)
}

/// Each file at most once to plan (or scan), at most once more to apply, and only a file
/// that was planned; the log covers the repository (a log that stays empty proves nothing).
fn assert_read_once(what: &str, out: &Output, reads: &BTreeMap<String, BTreeMap<String, usize>>) {
    let shown = format!("{what}: reads {reads:?}\n{}", common::show(out));
    for rel in [
        "apps/web.yaml",
        "apps/other.yaml",
        "base/deploy.yaml",
        "flux/images.yaml",
    ] {
        assert!(
            reads.get(rel).is_some_and(|r| r.get("plan") == Some(&1)),
            "{rel} not read once to plan: {shown}"
        );
    }
    assert_read_once_each(what, out, reads);
}

/// Each file read at most once for each purpose (twice in all only to plan and apply it).
fn assert_read_once_each(
    what: &str,
    out: &Output,
    reads: &BTreeMap<String, BTreeMap<String, usize>>,
) {
    let shown = format!("{what}: reads {reads:?}\n{}", common::show(out));
    for (rel, by) in reads {
        let get = |p: &str| by.get(p).copied().unwrap_or(0);
        assert!(
            get("plan") + get("scan") <= 1,
            "{rel} read {} times to plan and {} to scan the repository: {shown}",
            get("plan"),
            get("scan")
        );
        // A kustomization's bases are read for its `images:` entries once per run, however
        // many overlays share them; the render proof reads each kustomization once.
        for purpose in ["context", "render"] {
            assert!(
                get(purpose) <= 1,
                "{rel} read {} times for {purpose}: {shown}",
                get(purpose)
            );
        }
        assert!(
            get("apply") <= 1,
            "{rel} re-read {} times to apply: {shown}",
            get("apply")
        );
        assert!(
            get("apply") == 0 || get("plan") == 1,
            "{rel} applied without being planned: {shown}"
        );
    }
}

#[test]
fn rewrite_reads_each_file_once_to_plan_and_once_to_apply() {
    let (tmp, dir) = repo("harbor.example.com");
    let (out, reads) = counted(tmp.path(), &dir, &["rewrite", dir.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", common::show(&out));
    assert_read_once("rewrite", &out, &reads);
    let web = std::fs::read_to_string(dir.join("apps/web.yaml")).unwrap();
    assert!(
        web.contains("harbor.example.com/docker-hub/library/nginx:1.27"),
        "{web}"
    );
}

#[test]
fn kustomization_bases_are_read_once_per_run_for_the_images_of_their_overlays() {
    let (tmp, dir) = repo("harbor.example.com");
    // A second overlay of the same base.
    let prod = dir.join("overlays/prod");
    std::fs::create_dir_all(&prod).unwrap();
    std::fs::copy(
        dir.join("overlays/dev/kustomization.yaml"),
        prod.join("kustomization.yaml"),
    )
    .unwrap();
    // `--diff` shows the sibling entries, which come of the bases' images.
    let (out, reads) = counted(
        tmp.path(),
        &dir,
        &["check", "--diff", dir.to_str().unwrap()],
    );
    assert_eq!(
        code(&out),
        1,
        "check finds references: {}",
        common::show(&out)
    );
    assert_read_once("check --diff", &out, &reads);
    for rel in ["base/deploy.yaml", "base/kustomization.yaml"] {
        assert_eq!(
            reads.get(rel).and_then(|r| r.get("context")),
            Some(&1),
            "{rel} read once for both overlays: {reads:?}"
        );
    }
    let siblings = stdout(&out)
        .matches("+  - name: harbor.example.com/ghcr/acme/app")
        .count();
    assert_eq!(
        siblings,
        2,
        "a sibling entry in each overlay's diff: {}",
        common::show(&out)
    );
    // Without `--diff` no edit's bytes leave the process: the report is the same entries
    // and statuses, and the bases are not read for siblings nobody sees.
    let (quiet, reads) = counted(tmp.path(), &dir, &["check", dir.to_str().unwrap()]);
    assert_eq!(code(&quiet), 1, "{}", common::show(&quiet));
    let context: Vec<&String> = reads
        .iter()
        .filter(|(_, by)| by.contains_key("context"))
        .map(|(rel, _)| rel)
        .collect();
    assert!(context.is_empty(), "read for siblings: {context:?}");
    for overlay in [
        "overlays/dev/kustomization.yaml",
        "overlays/prod/kustomization.yaml",
    ] {
        assert!(
            stdout(&quiet).contains(overlay) && stdout(&out).contains(overlay),
            "{overlay} reported either way: {}\n{}",
            common::show(&quiet),
            common::show(&out)
        );
    }
    // One overlay alone: its base is outside the walk, read for the overlay's entry only
    // (which gains the sibling for the base's Harbor name all the same).
    let overlay = dir.join("overlays/dev");
    let (out, reads) = counted(tmp.path(), &dir, &["rewrite", overlay.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", common::show(&out));
    assert_read_once_each("rewrite of one overlay", &out, &reads);
    assert_eq!(
        reads.get("base/deploy.yaml").and_then(|r| r.get("context")),
        Some(&1),
        "{reads:?}"
    );
    let kustomization = std::fs::read_to_string(overlay.join("kustomization.yaml")).unwrap();
    assert!(
        kustomization.contains("name: harbor.example.com/ghcr/acme/app"),
        "the sibling entry for the base's Harbor name: {kustomization}"
    );
}

#[test]
fn rewrite_verify_reads_each_file_once_to_plan_and_once_to_apply() {
    let h =
        RegistryHarness::start(HarnessOptions::default().public_projects(&["docker-hub", "ghcr"]));
    h.push_image("docker-hub/library/nginx", "1.27");
    h.push_image("ghcr/acme/app", "1.0");
    // The ImageRepository names the image without a tag.
    h.push_image("ghcr/acme/app", "latest");
    let (tmp, dir) = repo(&h.host());
    let ca = h.ca_pem_path();
    let args = [
        "rewrite",
        "--verify",
        "--cacert",
        ca.to_str().unwrap(),
        dir.to_str().unwrap(),
    ];
    let (out, reads) = counted(tmp.path(), &dir, &args);
    assert_eq!(code(&out), 0, "{}", common::show(&out));
    assert_read_once("rewrite --verify", &out, &reads);
    assert_eq!(reads["apps/web.yaml"].get("apply"), Some(&1), "{reads:?}");
    let web = std::fs::read_to_string(dir.join("apps/web.yaml")).unwrap();
    assert!(
        web.contains(&format!("{}/docker-hub/library/nginx:1.27", h.host())),
        "{web}"
    );
}

#[test]
fn run_reads_each_file_once_to_plan_and_once_to_apply() {
    let h =
        RegistryHarness::start(HarnessOptions::default().public_projects(&["docker-hub", "ghcr"]));
    h.push_image("docker-hub/library/nginx", "1.27");
    h.push_image("ghcr/acme/app", "1.0");
    // The ImageRepository names the image without a tag.
    h.push_image("ghcr/acme/app", "latest");
    let (_tmp, dir) = repo(&h.host());
    let ca = h.ca_pem_path();
    let args = ["run", ".", "--cacert", ca.to_str().unwrap(), "--skip-scan"];
    let (out, reads) = counted(&dir, &dir, &args);
    assert_eq!(code(&out), 0, "{}", common::show(&out));
    assert_read_once("run", &out, &reads);
    assert_eq!(reads["apps/web.yaml"].get("apply"), Some(&1), "{reads:?}");
}

#[test]
fn migrate_of_a_local_repository_reads_each_file_once_to_plan_and_once_to_apply() {
    let (tmp, dir) = repo("harbor.example.com");
    let args = [
        "migrate",
        "--harbor",
        "harbor.example.com",
        "--report-dir",
        "report",
        dir.to_str().unwrap(),
    ];
    let (out, reads) = counted(tmp.path(), &dir, &args);
    assert_eq!(code(&out), 0, "{}", common::show(&out));
    assert_read_once("migrate", &out, &reads);
    assert_eq!(reads["apps/web.yaml"].get("apply"), Some(&1), "{reads:?}");
}

#[test]
fn bump_reads_each_file_once_with_environments_flux_markers_and_applications() {
    let (tmp, dir) = repo("harbor.example.com");
    let args = [
        "bump",
        "--image",
        "ghcr.io/acme/app",
        "--tag",
        "2.0",
        "--all",
        dir.to_str().unwrap(),
    ];
    let (out, reads) = counted(tmp.path(), &dir, &args);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    assert_read_once("bump", &out, &reads);
    for rel in [
        "overlays/dev/kustomization.yaml",
        "argo/app.yaml",
        "apps/marked.yaml",
    ] {
        assert_eq!(reads[rel].get("plan"), Some(&1), "{rel}: {reads:?}");
    }
    let marked = std::fs::read_to_string(dir.join("apps/marked.yaml")).unwrap();
    assert!(
        marked.contains("image: harbor.example.com/ghcr/acme/app:2.0 # {\"$imagepolicy\""),
        "the Flux marker names this image's policy: {marked}"
    );
}
