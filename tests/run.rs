//! `harborize run`: rewrite → verify → scan → commit (→ push) on real git repositories and a
//! real registry (tests/support). A failing stage writes nothing; a passing run commits
//! exactly the files it changed.

mod common;
mod support;

use std::path::Path;
use std::process::Command;

use common::{code, harborize, stderr, stdout};
use support::registry::{HarnessOptions, RegistryHarness};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A repository with a bare remote, two manifests and a harborize.yaml naming `harbor`.
fn repo(harbor: &str, image: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let remote = tmp.path().join("remote.git");
    git(
        tmp.path(),
        &[
            "init",
            "-q",
            "--bare",
            "-b",
            "main",
            remote.to_str().unwrap(),
        ],
    );
    let work = tmp.path().join("work");
    git(
        tmp.path(),
        &[
            "clone",
            "-q",
            remote.to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    git(&work, &["checkout", "-q", "-b", "main"]);
    std::fs::write(
        work.join("harborize.yaml"),
        format!("harbor:\n  host: {harbor}\n"),
    )
    .unwrap();
    std::fs::create_dir(work.join("apps")).unwrap();
    std::fs::write(
        work.join("apps/web.yaml"),
        format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n    - name: web\n      image: {image} # app\n"),
    )
    .unwrap();
    std::fs::write(
        work.join("apps/other.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
    )
    .unwrap();
    git(&work, &["add", "."]);
    git(
        &work,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-qm",
            "init",
        ],
    );
    git(&work, &["push", "-q", "origin", "main"]);
    (tmp, work)
}

fn run_in(work: &Path, h: &RegistryHarness, extra: &[&str]) -> std::process::Output {
    harborize()
        .current_dir(work)
        .args([
            "run",
            ".",
            "--cacert",
            h.ca_pem_path().to_str().unwrap(),
            "--skip-scan",
        ])
        .args(extra)
        .env("GIT_AUTHOR_NAME", "harborize-bot")
        .env("GIT_AUTHOR_EMAIL", "bot@example.com")
        .output()
        .unwrap()
}

#[test]
fn a_verified_run_commits_exactly_the_changed_files_and_pushes() {
    let h = RegistryHarness::start(HarnessOptions::default().public_projects(&["docker-hub"]));
    h.push_image("docker-hub/library/nginx", "1.27");
    let (_tmp, work) = repo(&h.host(), "nginx:1.27");
    std::fs::write(work.join("notes.txt"), "untracked stays untracked\n").unwrap();
    let out = run_in(&work, &h, &["--push"]);
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let text = std::fs::read_to_string(work.join("apps/web.yaml")).unwrap();
    assert!(
        text.contains(&format!(
            "image: {}/docker-hub/library/nginx:1.27 # app\n",
            h.host()
        )),
        "{text}"
    );
    assert_eq!(
        git(&work, &["show", "--name-only", "--format=", "HEAD"]),
        "apps/web.yaml"
    );
    let message = git(&work, &["log", "-1", "--format=%B"]);
    assert!(message.contains("nginx:1.27 →"), "{message}");
    assert!(
        message.trim_end().ends_with("Harborize-Images: 1"),
        "{message}"
    );
    assert_eq!(git(&work, &["log", "-1", "--format=%an"]), "harborize-bot");
    assert_eq!(
        git(&work, &["rev-parse", "HEAD"]),
        git(&work, &["rev-parse", "origin/main"])
    );
    assert_eq!(
        git(&work, &["status", "--porcelain", "--untracked-files=no"]),
        ""
    );

    // Nothing left to do: no second commit.
    let head = git(&work, &["rev-parse", "HEAD"]);
    let out = run_in(&work, &h, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("nothing changed; no commit"));
    assert_eq!(git(&work, &["rev-parse", "HEAD"]), head);
}

#[test]
fn a_failing_verify_writes_and_commits_nothing() {
    let h = RegistryHarness::start(HarnessOptions::default().public_projects(&["docker-hub"]));
    let (_tmp, work) = repo(&h.host(), "nginx:9.99");
    let head = git(&work, &["rev-parse", "HEAD"]);
    let before = std::fs::read_to_string(work.join("apps/web.yaml")).unwrap();
    let out = run_in(&work, &h, &[]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert!(
        stderr(&out).contains("stopped at verify"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(work.join("apps/web.yaml")).unwrap(),
        before
    );
    assert_eq!(git(&work, &["rev-parse", "HEAD"]), head);
}

#[test]
fn dry_run_and_switched_off_stages() {
    let h = RegistryHarness::start(HarnessOptions::default().public_projects(&["docker-hub"]));
    h.push_image("docker-hub/library/nginx", "1.27");
    let (_tmp, work) = repo(&h.host(), "nginx:1.27");
    let head = git(&work, &["rev-parse", "HEAD"]);
    let before = std::fs::read_to_string(work.join("apps/web.yaml")).unwrap();
    let out = run_in(&work, &h, &["--dry-run", "--diff"]);
    assert_eq!(code(&out), 1, "changes pending: {}", stdout(&out));
    assert!(stdout(&out).contains("+      image: "), "{}", stdout(&out));
    assert_eq!(
        std::fs::read_to_string(work.join("apps/web.yaml")).unwrap(),
        before
    );

    // A dirty tree is refused before anything is written...
    std::fs::write(
        work.join("apps/other.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\n",
    )
    .unwrap();
    let out = run_in(&work, &h, &[]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("--allow-dirty"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(work.join("apps/web.yaml")).unwrap(),
        before
    );
    // ...and --skip-commit writes without committing.
    let out = run_in(&work, &h, &["--skip-commit", "--skip-verify"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_ne!(
        std::fs::read_to_string(work.join("apps/web.yaml")).unwrap(),
        before
    );
    assert_eq!(git(&work, &["rev-parse", "HEAD"]), head);
}
