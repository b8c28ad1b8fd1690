//! `harborize run`: rewrite → verify → scan → commit (→ push) on real git repositories and a
//! real registry (tests/support). A failing stage writes nothing; a passing run commits
//! exactly the files it changed. `--pull-request` against the local GitHub REST service
//! (`support::github`, whose branches are the bare remote's).

// serde_json's `json!` for GitHub's wide objects in `support::github`.
use crate::support;
use crate::support::common;

use std::path::Path;
use std::process::Command;

use common::{code, harborize, stderr, stdout};
use harborize::vcs::github::{branch_name, change_key};
use support::github::{GitHubService, OWNER, REPO, TOKEN};
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

#[test]
fn pull_request_opens_one_from_the_change_branch() {
    let h = RegistryHarness::start(HarnessOptions::default().public_projects(&["docker-hub"]));
    h.push_image("docker-hub/library/nginx", "1.27");
    let (tmp, work) = repo(&h.host(), "nginx:1.27");
    let remote = tmp.path().join("remote.git");
    let main_before = git(&remote, &["rev-parse", "main"]);
    let svc = GitHubService::start_for_repo(&remote);
    let output = tmp.path().join("gh_output");
    let summary = tmp.path().join("gh_summary");
    let out = harborize()
        .current_dir(&work)
        .args([
            "run",
            ".",
            "--cacert",
            h.ca_pem_path().to_str().unwrap(),
            "--skip-scan",
            "--pull-request",
        ])
        .env("GIT_AUTHOR_NAME", "harborize-bot")
        .env("GIT_AUTHOR_EMAIL", "bot@example.com")
        .env("GITHUB_TOKEN", TOKEN)
        .env("GITHUB_API_URL", svc.api_url())
        .env("GITHUB_REPOSITORY", format!("{OWNER}/{REPO}"))
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}\n{}", stdout(&out), stderr(&out));
    let new = format!("{}/docker-hub/library/nginx:1.27", h.host());
    let head = branch_name(&change_key("run", "main", &[format!("nginx:1.27 → {new}")]));
    let pr_url = format!("http://{}/{OWNER}/{REPO}/pull/1", svc.addr);
    assert!(
        stdout(&out).contains(&format!("opened pull request #1 ({head} → main): {pr_url}")),
        "{}",
        stdout(&out)
    );

    // One POST with title, head, base and the markdown body (what changed, verified).
    let log = svc.log();
    let posts: Vec<_> = log.iter().filter(|e| e.method == "POST").collect();
    assert_eq!(
        posts.len(),
        1,
        "{:?}",
        log.iter().map(|e| e.line()).collect::<Vec<_>>()
    );
    assert!(log.iter().all(|e| e.method != "PATCH"));
    let body = posts[0].json();
    assert_eq!(
        body["title"],
        "harborize: route 1 image reference(s) through Harbor"
    );
    assert_eq!(body["head"], head.as_str());
    assert_eq!(body["base"], "main");
    let text = body["body"].as_str().unwrap();
    assert!(
        text.contains(&format!("| `nginx:1.27` | `{new}` |")),
        "{text}"
    );
    assert!(
        text.contains("Verified: 1 reference(s) checked through Harbor, 0 failed."),
        "{text}"
    );
    assert!(text.contains("Scanned: no (`--skip-scan`)."), "{text}");

    // The branch holds exactly the changed file on top of main; main is untouched, on the
    // remote and in the clone, which is back on main.
    assert_eq!(git(&remote, &["rev-parse", "main"]), main_before);
    let pr_sha = git(&remote, &["rev-parse", &head]);
    assert_eq!(
        git(&remote, &["rev-parse", &format!("{pr_sha}^")]),
        main_before
    );
    assert_eq!(
        git(&remote, &["show", "--name-only", "--format=", &pr_sha]),
        "apps/web.yaml"
    );
    assert_eq!(git(&work, &["rev-parse", "--abbrev-ref", "HEAD"]), "main");
    assert_eq!(git(&work, &["rev-parse", "main"]), main_before);
    assert_eq!(
        git(&work, &["status", "--porcelain", "--untracked-files=no"]),
        ""
    );

    let o = std::fs::read_to_string(&output).unwrap();
    assert!(o.contains(&format!("pr-url={pr_url}\n")), "{o}");
    assert!(o.contains(&format!("commit={pr_sha}\n")), "{o}");
    let s = std::fs::read_to_string(&summary).unwrap();
    assert!(s.contains(&format!("Pull request: {pr_url}")), "{s}");
    for text in [stdout(&out), stderr(&out), o, s] {
        assert!(!text.contains(TOKEN), "the token leaked into: {text}");
    }
}
