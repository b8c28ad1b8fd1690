//! Issue #18: a bump changes only the environment it is meant for; promotions are pull
//! requests. A multi-environment fixture (a base with a placeholder tag, dev/staging/prod
//! overlays, one Helm values file and one Argo CD Application per environment) and a copy
//! of the seed's own layout (corpus `andrelair-platform__minicloud-gitops`), in real git
//! repositories; the pull request goes to the local GitHub REST service
//! (`support::github`, whose branches are the bare remote's: GitHub cannot run here).

use std::path::{Path, PathBuf};

use crate::support;
use crate::support::common::*;
use support::git::{git, write};
use support::github::{GitHubService, OWNER, REPO, TOKEN};

const IMG: &str = "ghcr.io/acme/web";
const ENVS: [(&str, &str); 3] = [("dev", "1.1.0"), ("staging", "1.0.0"), ("prod", "0.9.0")];

fn overlay(tag: &str) -> String {
    format!("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../base\nimages:\n  - name: ghcr.io/acme/web\n    newTag: \"{tag}\"\n")
}

fn values(tag: &str) -> String {
    format!("replicas: 2\nimage:\n  repository: ghcr.io/acme/web\n  tag: \"{tag}\"\n")
}

fn application(env: &str, tag: &str) -> String {
    format!("apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: web-{env}\nspec:\n  source:\n    repoURL: https://git.example.com/gitops.git\n    path: apps/web/overlays/{env}\n    kustomize:\n      images:\n        - ghcr.io/acme/web:{tag}\n")
}

const BASE_DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: ghcr.io/acme/web:placeholder # every overlay sets the tag\n";

/// The fixture's files: (path, text).
fn fixture() -> Vec<(String, String)> {
    let mut f = vec![
        (
            "apps/web/base/kustomization.yaml".to_string(),
            "resources:\n  - deployment.yaml\n".to_string(),
        ),
        ("apps/web/base/deployment.yaml".into(), BASE_DEPLOY.into()),
    ];
    for (env, tag) in ENVS {
        f.push((
            format!("apps/web/overlays/{env}/kustomization.yaml"),
            overlay(tag),
        ));
        f.push((format!("apps/web/helm/values-{env}.yaml"), values(tag)));
        f.push((format!("argocd/web-{env}.yaml"), application(env, tag)));
    }
    f
}

fn dev_files() -> Vec<String> {
    vec![
        "apps/web/helm/values-dev.yaml".into(),
        "apps/web/overlays/dev/kustomization.yaml".into(),
        "argocd/web-dev.yaml".into(),
    ]
}

/// A git work tree holding `files`, committed on `main`.
fn repo(dir: &Path, files: &[(String, String)]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "--quiet", "-b", "main"]);
    for (name, text) in files {
        write(dir, name, text);
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "--quiet", "-m", "seed"]);
    dir.to_path_buf()
}

fn hz(dir: &Path, args: &[&str]) -> std::process::Output {
    harborize()
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Bump Bot")
        .env("GIT_AUTHOR_EMAIL", "bot@example.com")
        .env("GIT_COMMITTER_NAME", "Bump Bot")
        .env("GIT_COMMITTER_EMAIL", "bot@example.com")
        .output()
        .expect("harborize runs")
}

fn bump(dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["bump", "--harbor", HARBOR, "--image", IMG, "--tag", "2.0.0"];
    args.extend_from_slice(extra);
    hz(dir, &args)
}

fn shown(out: &std::process::Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    )
}

/// Files of the work tree that differ from HEAD (sorted).
fn modified(dir: &Path) -> Vec<String> {
    let s = git(dir, &["diff", "--name-only", "HEAD"]);
    s.lines().map(str::to_string).collect()
}

fn committed(dir: &Path) -> Vec<String> {
    let s = git(dir, &["show", "--name-only", "--format=", "HEAD"]);
    s.lines().map(str::to_string).collect()
}

#[test]
fn a_multi_environment_bump_without_rule_or_path_refuses_and_lists_the_places() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = repo(&tmp.path().join("gitops"), &fixture());
    let out = bump(&dir, &["--commit", "."]);
    assert_eq!(code(&out), 2, "{}", shown(&out));
    let err = stderr(&out);
    for place in [
        "apps/web/overlays/dev (kustomize overlay)",
        "apps/web/overlays/prod (kustomize overlay)",
        "apps/web/helm/values-staging.yaml (Helm values file)",
        "argocd/web-prod.yaml (Application web-prod)",
    ] {
        assert!(err.contains(place), "{place} not listed:\n{err}");
    }
    assert!(
        err.contains(
            "PATH: harborize bump --image ghcr.io/acme/web --tag 2.0.0 apps/web/overlays/dev"
        ),
        "{err}"
    );
    assert!(
        err.contains("rule: bump: [{image: ghcr.io/acme/web, paths: [argocd/web-dev.yaml]}]"),
        "{err}"
    );
    assert!(err.contains("--all"), "{err}");
    assert!(modified(&dir).is_empty(), "{:?}", modified(&dir));
    assert_eq!(git(&dir, &["rev-list", "--count", "HEAD"]), "1");
}

#[test]
fn a_rule_or_a_path_bumps_dev_only_and_the_commit_holds_exactly_those_files() {
    let tmp = tempfile::tempdir().unwrap();
    // A rule in harborize.yaml.
    let mut files = fixture();
    files.push((
        "harborize.yaml".into(),
        "bump:\n  - image: ghcr.io/acme/*\n    paths: [apps/web/overlays/dev, apps/web/helm/values-dev.yaml, argocd/*-dev.yaml]\n".into(),
    ));
    let dir = repo(&tmp.path().join("rule"), &files);
    let out = bump(&dir, &["--commit", "."]);
    assert_eq!(code(&out), 0, "{}", shown(&out));
    assert_eq!(committed(&dir), dev_files());
    assert!(modified(&dir).is_empty());
    assert!(git(
        &dir,
        &["show", "HEAD:apps/web/overlays/dev/kustomization.yaml"]
    )
    .contains("newName: harbor.example.com/ghcr/acme/web\n    newTag: \"2.0.0\""));
    assert!(git(&dir, &["show", "HEAD:argocd/web-dev.yaml"])
        .contains("- ghcr.io/acme/web=harbor.example.com/ghcr/acme/web:2.0.0"));

    // PATHs instead of a rule.
    let dir = repo(&tmp.path().join("paths"), &fixture());
    let mut args = vec!["--commit"];
    let dev = dev_files();
    args.extend(dev.iter().map(String::as_str));
    let out = bump(&dir, &args);
    assert_eq!(code(&out), 0, "{}", shown(&out));
    assert_eq!(committed(&dir), dev_files());
}

#[test]
fn all_bumps_every_environment_but_not_the_overridden_base() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = repo(&tmp.path().join("gitops"), &fixture());
    let out = bump(&dir, &["--all", "--commit", "."]);
    assert_eq!(code(&out), 0, "{}", shown(&out));
    let mut every: Vec<String> = fixture()
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| !p.starts_with("apps/web/base/"))
        .collect();
    every.sort();
    assert_eq!(committed(&dir), every);
    assert!(
        stderr(&out).contains("left alone (overridden): apps/web/base/deployment.yaml"),
        "{}",
        shown(&out)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("apps/web/base/deployment.yaml")).unwrap(),
        BASE_DEPLOY
    );

    // The base itself as the PATH: it is what was asked for.
    let out = bump(&dir, &["apps/web/base"]);
    assert_eq!(code(&out), 0, "{}", shown(&out));
    assert_eq!(modified(&dir), ["apps/web/base/deployment.yaml"]);
}

#[test]
fn a_flux_marked_field_is_bumped_only_when_its_policy_names_the_image() {
    flux_marked_fields("clusters/flux-system/images.yaml", ".");
}

/// The policies are found wherever the plan would read them, also when the bump is given
/// only the deployment's directory: here in a hidden directory.
#[test]
fn flux_policies_in_hidden_directories_are_found_when_bumping_another_path() {
    flux_marked_fields(".flux/images.yaml", "clusters/dev");
}

/// A deployment with four marked fields and the Flux objects at `automation`, bumped at
/// `path`: the fields of policies that name the image are bumped, the others left alone.
fn flux_marked_fields(automation_at: &str, path: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n        - name: a\n          image: ghcr.io/acme/web:1.0.0 # {\"$imagepolicy\": \"flux-system:frontend\"}\n        - name: b\n          image: ghcr.io/acme/web:1.0.0 # {\"$imagepolicy\": \"flux-system:api\"}\n        - name: c\n          image: ghcr.io/acme/web:1.0.0 # {\"$imagepolicy\": \"flux-system:web:tag\"}\n        - name: d\n          image: ghcr.io/acme/web:1.0.0\n";
    // Policy `frontend` follows this image, `api` another one; `web` has no objects here.
    let automation = "apiVersion: image.toolkit.fluxcd.io/v1beta2\nkind: ImageRepository\nmetadata:\n  name: frontend\n  namespace: flux-system\nspec:\n  image: ghcr.io/acme/web\n---\napiVersion: image.toolkit.fluxcd.io/v1beta2\nkind: ImagePolicy\nmetadata:\n  name: frontend\n  namespace: flux-system\nspec:\n  imageRepositoryRef:\n    name: frontend\n---\napiVersion: image.toolkit.fluxcd.io/v1beta2\nkind: ImageRepository\nmetadata:\n  name: api\n  namespace: flux-system\nspec:\n  image: ghcr.io/acme/api\n---\napiVersion: image.toolkit.fluxcd.io/v1beta2\nkind: ImagePolicy\nmetadata:\n  name: api\n  namespace: flux-system\nspec:\n  imageRepositoryRef:\n    name: api\n";
    let dir = repo(
        &tmp.path().join("flux"),
        &[
            ("clusters/dev/web.yaml".into(), deploy.into()),
            (automation_at.into(), automation.into()),
        ],
    );
    let out = bump(&dir, &[path]);
    assert_eq!(code(&out), 0, "{}", shown(&out));
    let new = "image: harbor.example.com/ghcr/acme/web:2.0.0";
    let expected = deploy
        .replacen(
            "image: ghcr.io/acme/web:1.0.0 # {\"$imagepolicy\": \"flux-system:frontend\"}",
            &format!("{new} # {{\"$imagepolicy\": \"flux-system:frontend\"}}"),
            1,
        )
        .replacen(
            "image: ghcr.io/acme/web:1.0.0 # {\"$imagepolicy\": \"flux-system:web:tag\"}",
            &format!("{new} # {{\"$imagepolicy\": \"flux-system:web:tag\"}}"),
            1,
        )
        .replacen("image: ghcr.io/acme/web:1.0.0\n", &format!("{new}\n"), 1);
    assert_eq!(
        std::fs::read_to_string(dir.join("clusters/dev/web.yaml")).unwrap(),
        expected
    );
    assert!(
        stdout(&out)
            .contains("Flux marker names image policy flux-system:api, which is not this image"),
        "{}",
        shown(&out)
    );
}

/// `promote --pull-request` in a clone of a bare remote, with a GitHub Actions-like
/// environment pointing at the local GitHub service.
fn promote_pr(
    dir: &Path,
    svc: &GitHubService,
    image: &str,
    from: &str,
    to: &str,
) -> std::process::Output {
    let api = svc.api_url();
    let mut cmd = harborize();
    cmd.current_dir(dir)
        .args(["promote", "--harbor", HARBOR, "--image", image])
        .args(["--from", from, "--to", to, "--pull-request"])
        .args([
            "--author-name",
            "Bump Bot",
            "--author-email",
            "bot@example.com",
        ])
        .env("GITHUB_REPOSITORY", format!("{OWNER}/{REPO}"))
        .env("GITHUB_TOKEN", TOKEN)
        .env("GITHUB_API_URL", api);
    cmd.output().expect("harborize runs")
}

#[test]
fn promote_dev_to_prod_changes_prod_alone_and_opens_a_pull_request() {
    let tmp = tempfile::tempdir().unwrap();
    let remote = support::git::bare_remote(&tmp.path().join("remote.git"));
    support::git::seed(&remote, &tmp.path().join("seed"), &fixture());
    let svc = GitHubService::start_for_repo(&remote);
    let work = tmp.path().join("ci");
    support::git::clone(&remote, &work);
    let main_before = support::git::rev(&remote, "main");
    let out = promote_pr(
        &work,
        &svc,
        IMG,
        "apps/web/overlays/dev",
        "apps/web/overlays/prod",
    );
    assert_eq!(code(&out), 0, "{}", shown(&out));

    let pulls = svc.pulls();
    assert_eq!(pulls.len(), 1, "{}", shown(&out));
    let head = pulls[0].head.clone();
    assert_eq!(pulls[0].base, "main");
    let post = svc.log().into_iter().find(|e| e.method == "POST").unwrap();
    let body = post.json();
    assert_eq!(
        body["title"],
        "harborize: promote ghcr.io/acme/web 1.1.0 to apps/web/overlays/prod"
    );
    let text = body["body"].as_str().unwrap();
    assert!(
        text.contains(
            "Environment: `apps/web/overlays/prod` (promoted from `apps/web/overlays/dev`)"
        ),
        "{text}"
    );
    assert!(
        text.contains("| `ghcr.io/acme/web:0.9.0` | `harbor.example.com/ghcr/acme/web:1.1.0` |"),
        "{text}"
    );
    // The branch holds prod alone; main did not move; the clone is back on main, clean.
    assert_eq!(support::git::rev(&remote, "main"), main_before);
    assert_eq!(
        git(&remote, &["show", "--name-only", "--format=", &head]),
        "apps/web/overlays/prod/kustomization.yaml"
    );
    assert!(
        support::git::show(&remote, &head, "apps/web/overlays/prod/kustomization.yaml")
            .contains("newName: harbor.example.com/ghcr/acme/web\n    newTag: \"1.1.0\"")
    );
    assert_eq!(git(&work, &["rev-parse", "--abbrev-ref", "HEAD"]), "main");
    assert!(modified(&work).is_empty());
}

/// The seed author's layout (corpus copy of `services/platform-demo`): the base's
/// `placeholder`, dev/staging/prod overlays pinning `newTag`, and a `preview` overlay that
/// takes the base's tag (so the base is an environment of its own there).
#[test]
fn the_seed_layout_bumps_dev_only_and_promotes_to_prod_by_pull_request() {
    let corpus =
        shared().join("corpus/andrelair-platform__minicloud-gitops/services/platform-demo");
    assert!(
        corpus.is_dir(),
        "the corpus is missing: {}",
        corpus.display()
    );
    let tmp = tempfile::tempdir().unwrap();
    let remote = support::git::bare_remote(&tmp.path().join("remote.git"));
    let seed = tmp.path().join("seed");
    support::git::clone(&remote, &seed);
    copy_tree(&corpus, &seed.join("services/platform-demo"));
    git(&seed, &["add", "-A"]);
    git(&seed, &["commit", "--quiet", "-m", "seed"]);
    git(&seed, &["push", "--quiet", "origin", "main"]);
    let work = tmp.path().join("ci");
    support::git::clone(&remote, &work);
    let image = "harbor.10.0.0.200.nip.io/library/platform-demo";
    let seed_bump = |dir: &Path, extra: &[&str]| {
        let mut args = vec![
            "bump",
            "--harbor",
            "harbor.10.0.0.200.nip.io",
            "--image",
            image,
            "--tag",
            "427f111",
        ];
        args.extend_from_slice(extra);
        hz(dir, &args)
    };
    let dev = "services/platform-demo/minicloud-1/dev";
    let prod = "services/platform-demo/minicloud-1/prod";

    // The seed's own command: refused, nothing written.
    let out = seed_bump(&work, &["--commit", "."]);
    assert_eq!(code(&out), 2, "{}", shown(&out));
    for place in [
        dev,
        prod,
        "services/platform-demo/minicloud-1/staging",
        "services/platform-demo/base",
    ] {
        assert!(
            stderr(&out).contains(&format!("  - {place} (")),
            "{place}: {}",
            shown(&out)
        );
    }
    assert!(modified(&work).is_empty());

    // App CI: dev alone.
    let out = seed_bump(&work, &["--commit", dev]);
    assert_eq!(code(&out), 0, "{}", shown(&out));
    assert_eq!(committed(&work), [format!("{dev}/kustomization.yaml")]);
    assert!(
        std::fs::read_to_string(work.join(dev).join("kustomization.yaml"))
            .unwrap()
            .contains("  newTag: 427f111\n")
    );
    git(&work, &["push", "--quiet", "origin", "main"]);

    // Promotion to prod: a pull request changing prod alone, its quoting kept.
    let svc = GitHubService::start_for_repo(&remote);
    let api = svc.api_url();
    let out = harborize()
        .current_dir(&work)
        .args([
            "promote",
            "--harbor",
            "harbor.10.0.0.200.nip.io",
            "--image",
            image,
        ])
        .args(["--from", dev, "--to", prod, "--pull-request"])
        .args([
            "--author-name",
            "Bump Bot",
            "--author-email",
            "bot@example.com",
        ])
        .env("GITHUB_REPOSITORY", format!("{OWNER}/{REPO}"))
        .env("GITHUB_TOKEN", TOKEN)
        .env("GITHUB_API_URL", api)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", shown(&out));
    let head = svc.pulls()[0].head.clone();
    assert_eq!(
        git(&remote, &["show", "--name-only", "--format=", &head]),
        format!("{prod}/kustomization.yaml")
    );
    assert!(
        support::git::show(&remote, &head, &format!("{prod}/kustomization.yaml"))
            .contains("  newTag: \"427f111\"\n")
    );

    // --all: every overlay, and the base too: `preview` takes its tag from it.
    let out = seed_bump(&work, &["--all", "."]);
    assert_eq!(code(&out), 0, "{}", shown(&out));
    let mut changed = modified(&work);
    changed.sort();
    assert_eq!(
        changed,
        [
            "services/platform-demo/base/deployment.yaml".to_string(),
            format!("{prod}/kustomization.yaml"),
            "services/platform-demo/minicloud-1/staging/kustomization.yaml".to_string(),
        ]
    );
    // Without `preview`, every overlay overrides the base: left alone.
    git(&work, &["checkout", "--quiet", "."]);
    std::fs::remove_dir_all(work.join("services/platform-demo/minicloud-1/preview")).unwrap();
    let out = seed_bump(&work, &["--all", "."]);
    assert_eq!(code(&out), 0, "{}", shown(&out));
    assert!(
        stderr(&out)
            .contains("left alone (overridden): services/platform-demo/base/deployment.yaml"),
        "{}",
        shown(&out)
    );
    let mut changed = modified(&work);
    changed.sort();
    assert_eq!(
        changed,
        [
            "services/platform-demo/minicloud-1/preview/kustomization.yaml".to_string(),
            "services/platform-demo/minicloud-1/preview/patch-preview.yaml".to_string(),
            format!("{prod}/kustomization.yaml"),
            "services/platform-demo/minicloud-1/staging/kustomization.yaml".to_string(),
        ]
    );
}
