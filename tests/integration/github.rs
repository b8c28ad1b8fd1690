//! `harborize::vcs::github` (the `--pull-request` client, octocrab underneath) against a local
//! GitHub REST service (`support::github`). GitHub's API cannot be reached from here, so
//! the service is a local implementation of the three pull request operations the client
//! uses, checked against GitHub's published REST shapes: the `contract` test below holds
//! every request the client sent and every answer the service gave against the fields
//! GitHub's REST API description lists (operation parameters, and the required fields of
//! `pull-request-simple`, `pull-request`, `simple-user`, `head`/`base` and `_links`), and
//! deserializes every answer into octocrab's own `PullRequest` model.
//!
//! Asserted: the first call creates (POST with title/head/base/body), a second call for
//! the same branch updates (PATCH, no second POST), `GITHUB_API_URL` is honoured with an
//! Enterprise `/api/v3` prefix, 401/403/404/422 come back as clear errors (422 "No
//! commits between" as "nothing new"), a pull request opened concurrently is found and
//! updated, the token never shows in errors or `Debug`, and branch names are stable per
//! change and differ between changes.

use crate::support;
// serde_json's `json!` for GitHub's wide objects in `support::github`.

use std::collections::HashMap;

use harborize::vcs::github::{self, branch_name, change_key, Error, GitHub};
use serde_json::Value;
use support::github::{Exchange, GitHubService, OWNER, READ_ONLY_TOKEN, REPO, TOKEN};

const BRANCH: &str = "harborize/0123456789ab";

fn client(svc: &GitHubService, token: &str) -> GitHub {
    GitHub::new(&svc.api_url(), token, OWNER, REPO).unwrap()
}

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k: &str| map.get(k).cloned()
}

fn writes(log: &[Exchange]) -> Vec<String> {
    log.iter()
        .filter(|e| e.method != "GET")
        .map(|e| format!("{} {}", e.method, e.path))
        .collect()
}

fn assert_no_token(text: &str) {
    for t in [TOKEN, READ_ONLY_TOKEN, "wrong-token-Zz9Yy8Xx7"] {
        assert!(!text.contains(t), "a token leaked into: {text}");
    }
}

#[test]
fn first_call_creates_second_call_updates() {
    let svc = GitHubService::start();
    svc.add_branch(BRANCH);
    let gh = client(&svc, TOKEN);

    let pr = gh
        .open_or_update_blocking(BRANCH, "main", "harborize: bump app to 1.2.3", "first body")
        .unwrap();
    assert!(pr.created);
    assert_eq!(pr.number, 1);
    assert_eq!(pr.url, format!("http://{}/{OWNER}/{REPO}/pull/1", svc.addr));

    let log = svc.log();
    assert_eq!(
        log.len(),
        2,
        "{:#?}",
        log.iter().map(Exchange::line).collect::<Vec<_>>()
    );
    let list = &log[0];
    assert_eq!(list.method, "GET");
    assert_eq!(list.path, format!("/repos/{OWNER}/{REPO}/pulls"));
    assert_eq!(
        list.query_value("head"),
        Some(format!("{OWNER}:{BRANCH}").as_str())
    );
    assert_eq!(list.query_value("state"), Some("open"));
    let create = &log[1];
    assert_eq!(create.method, "POST");
    assert_eq!(create.path, format!("/repos/{OWNER}/{REPO}/pulls"));
    assert_eq!(create.status, 201);
    let body = create.json();
    assert_eq!(body["title"], "harborize: bump app to 1.2.3");
    assert_eq!(body["head"], BRANCH);
    assert_eq!(body["base"], "main");
    assert_eq!(body["body"], "first body");
    for e in &log {
        assert_eq!(
            e.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str())
        );
    }

    // The same branch again: found open, updated in place.
    svc.clear_log();
    let again = gh
        .open_or_update_blocking(
            BRANCH,
            "main",
            "harborize: bump app to 1.2.4",
            "second body",
        )
        .unwrap();
    assert_eq!(again.number, 1);
    assert!(!again.created);
    assert_eq!(again.url, pr.url);
    let log = svc.log();
    assert_eq!(
        writes(&log),
        vec![format!("PATCH /repos/{OWNER}/{REPO}/pulls/1")],
        "an update, never a second POST"
    );
    let patch = log.iter().find(|e| e.method == "PATCH").unwrap().json();
    assert_eq!(patch["title"], "harborize: bump app to 1.2.4");
    assert_eq!(patch["body"], "second body");
    let pulls = svc.pulls();
    assert_eq!(pulls.len(), 1);
    assert_eq!(pulls[0].title, "harborize: bump app to 1.2.4");
    assert_eq!(pulls[0].body.as_deref(), Some("second body"));
    assert_eq!(pulls[0].head, BRANCH);
}

#[test]
fn another_branch_gets_its_own_pull_request() {
    let svc = GitHubService::start();
    let a = branch_name(&change_key(
        "bump",
        "main",
        &["ghcr.io/acme/a=harbor/ghcr/acme/a:1"],
    ));
    let b = branch_name(&change_key(
        "bump",
        "main",
        &["ghcr.io/acme/b=harbor/ghcr/acme/b:1"],
    ));
    svc.add_branch(&a);
    svc.add_branch(&b);
    let gh = client(&svc, TOKEN);
    let pa = gh.open_or_update_blocking(&a, "main", "a", "a").unwrap();
    let pb = gh.open_or_update_blocking(&b, "main", "b", "b").unwrap();
    assert!(pa.created && pb.created);
    assert_ne!(pa.number, pb.number);
    // Each finds its own again.
    let pa2 = gh.open_or_update_blocking(&a, "main", "a2", "a2").unwrap();
    assert_eq!((pa2.number, pa2.created), (pa.number, false));
}

/// A bare repository: `main` with two commits, `harborize/new` one commit ahead of main,
/// `harborize/old` at main's first commit (already contained in main).
fn bare_remote() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let repo = git2::Repository::init_bare(dir.path()).unwrap();
    let sig = git2::Signature::now("t", "t@example.com").unwrap();
    let commit = |parent: Option<git2::Oid>, text: &str| {
        let blob = repo.blob(text.as_bytes()).unwrap();
        let mut tb = repo.treebuilder(None).unwrap();
        tb.insert("app.yaml", blob, 0o100644).unwrap();
        let tree = repo.find_tree(tb.write().unwrap()).unwrap();
        let parents: Vec<git2::Commit> = parent
            .iter()
            .map(|p| repo.find_commit(*p).unwrap())
            .collect();
        let refs: Vec<&git2::Commit> = parents.iter().collect();
        repo.commit(None, &sig, &sig, text, &tree, &refs).unwrap()
    };
    let first = commit(None, "image: app:1");
    let main = commit(Some(first), "image: app:2");
    let new = commit(Some(main), "image: harbor/ghcr/app:3");
    repo.reference("refs/heads/main", main, true, "").unwrap();
    repo.reference("refs/heads/harborize/new", new, true, "")
        .unwrap();
    repo.reference("refs/heads/harborize/old", first, true, "")
        .unwrap();
    (dir, new.to_string())
}

#[test]
fn branches_from_a_bare_repository() {
    let (dir, new_sha) = bare_remote();
    let svc = GitHubService::start_for_repo(dir.path());
    let gh = client(&svc, TOKEN);
    let pr = gh
        .open_or_update_blocking("harborize/new", "main", "t", "b")
        .unwrap();
    assert!(pr.created);
    let created = svc
        .log()
        .into_iter()
        .find(|e| e.method == "POST")
        .unwrap()
        .response_json();
    assert_eq!(created["head"]["sha"], new_sha.as_str());
    // Already in main: nothing new.
    let err = gh
        .open_or_update_blocking("harborize/old", "main", "t", "b")
        .unwrap_err();
    assert!(matches!(err, Error::NothingNew { .. }), "{err:?}");
    // Never pushed.
    let err = gh
        .open_or_update_blocking("harborize/none", "main", "t", "b")
        .unwrap_err();
    assert!(err.to_string().contains("head is invalid"), "{err}");
}

#[test]
fn a_closed_pull_request_is_not_reused() {
    let svc = GitHubService::start();
    svc.add_branch(BRANCH);
    let gh = client(&svc, TOKEN);
    let first = gh
        .open_or_update_blocking(BRANCH, "main", "t", "b")
        .unwrap();
    svc.close(first.number);
    let second = gh
        .open_or_update_blocking(BRANCH, "main", "t", "b")
        .unwrap();
    assert!(second.created);
    assert_ne!(second.number, first.number);
}

#[test]
fn enterprise_api_url_with_path_prefix_is_honoured() {
    let svc = GitHubService::start_enterprise();
    svc.add_branch(BRANCH);
    let env = env_of(&[
        ("GITHUB_API_URL", &format!("{}/", svc.api_url())),
        ("GITHUB_TOKEN", TOKEN),
        ("GITHUB_REPOSITORY", &format!("{OWNER}/{REPO}")),
    ]);
    let gh = GitHub::from_env(env, None).unwrap();
    assert_eq!(gh.api_url(), format!("http://{}/api/v3", svc.addr));
    let pr = gh
        .open_or_update_blocking(BRANCH, "main", "t", "b")
        .unwrap();
    assert!(pr.created);
    let pr = gh
        .open_or_update_blocking(BRANCH, "main", "t2", "b2")
        .unwrap();
    assert!(!pr.created);
    let log = svc.log();
    assert_eq!(log.len(), 4);
    for e in &log {
        assert!(
            e.path
                .starts_with(&format!("/api/v3/repos/{OWNER}/{REPO}/pulls")),
            "{}",
            e.line()
        );
        assert!(e.status < 300, "{} → {}", e.line(), e.status);
    }

    // Without the prefix, the Enterprise service has nothing there: a clear 404.
    let bare = GitHub::new(&format!("http://{}", svc.addr), TOKEN, OWNER, REPO).unwrap();
    let err = bare
        .open_or_update_blocking(BRANCH, "main", "t", "b")
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
    let msg = err.to_string();
    assert!(msg.contains(&format!("{OWNER}/{REPO}")), "{msg}");
    assert!(msg.contains("GITHUB_API_URL"), "{msg}");
}

#[test]
fn wrong_token_is_a_clear_error_and_never_shown() {
    let svc = GitHubService::start();
    svc.add_branch(BRANCH);
    let env = env_of(&[
        ("GITHUB_API_URL", &svc.api_url()),
        ("GITHUB_TOKEN", "wrong-token-Zz9Yy8Xx7"),
        ("GITHUB_REPOSITORY", &format!("{OWNER}/{REPO}")),
    ]);
    let gh = GitHub::from_env(env, None).unwrap();
    let err = gh
        .open_or_update_blocking(BRANCH, "main", "t", "b")
        .unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("401"), "{msg}");
    assert!(msg.contains("GITHUB_TOKEN"), "names the variable: {msg}");
    assert!(msg.contains("Bad credentials"), "{msg}");
    assert_no_token(&msg);
    assert_no_token(&format!("{err:?}"));
    assert_no_token(&format!("{gh:?}"));
    assert!(
        writes(&svc.log()).is_empty(),
        "nothing written with a bad token"
    );
    assert!(svc.pulls().is_empty());
}

#[test]
fn read_only_token_is_403_with_the_permission_to_grant() {
    let svc = GitHubService::start();
    svc.add_branch(BRANCH);
    let gh = client(&svc, READ_ONLY_TOKEN);
    let err = gh
        .open_or_update_blocking(BRANCH, "main", "t", "b")
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("403"), "{msg}");
    assert!(msg.contains("pull-requests: write"), "{msg}");
    assert!(msg.contains("open a pull request"), "{msg}");
    assert_no_token(&msg);
    assert_no_token(&format!("{err:?}"));
}

#[test]
fn unknown_repository_is_404() {
    let svc = GitHubService::start();
    let gh = GitHub::new(&svc.api_url(), TOKEN, OWNER, "nope").unwrap();
    let err = gh
        .open_or_update_blocking(BRANCH, "main", "t", "b")
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("{OWNER}/nope")), "{msg}");
    assert!(msg.contains("404"), "{msg}");
    assert_no_token(&msg);
}

#[test]
fn no_commits_between_says_the_branch_has_nothing_new() {
    let svc = GitHubService::start();
    svc.add_empty_branch(BRANCH);
    let gh = client(&svc, TOKEN);
    let err = gh
        .open_or_update_blocking(BRANCH, "main", "t", "b")
        .unwrap_err();
    assert!(matches!(err, Error::NothingNew { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("the branch {BRANCH} has nothing new for main")),
        "{msg}"
    );
    assert!(msg.contains("No commits between main and"), "{msg}");
    assert_eq!(err.status(), Some(422));
}

#[test]
fn a_branch_that_was_not_pushed_is_a_clear_422() {
    let svc = GitHubService::start();
    let gh = client(&svc, TOKEN);
    let err = gh
        .open_or_update_blocking("harborize/never-pushed", "main", "t", "b")
        .unwrap_err();
    assert!(matches!(err, Error::Unprocessable { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("Validation Failed"), "{msg}");
    assert!(msg.contains("head is invalid"), "{msg}");
    // A base that does not exist, likewise.
    svc.add_branch(BRANCH);
    let err = gh
        .open_or_update_blocking(BRANCH, "develop", "t", "b")
        .unwrap_err();
    assert!(err.to_string().contains("base is invalid"), "{err}");
}

#[test]
fn a_pull_request_opened_concurrently_is_found_and_updated() {
    let svc = GitHubService::start();
    svc.add_branch(BRANCH);
    // Another run opens the same pull request between our list and our create.
    svc.state.lock().unwrap().open_after_next_list =
        Some((BRANCH.into(), "main".into(), "theirs".into()));
    let gh = client(&svc, TOKEN);
    let pr = gh
        .open_or_update_blocking(BRANCH, "main", "ours", "our body")
        .unwrap();
    assert!(!pr.created);
    assert_eq!(pr.number, 1);
    let log = svc.log();
    let lines: Vec<String> = log
        .iter()
        .map(|e| format!("{} {}", e.method, e.status))
        .collect();
    assert_eq!(lines, vec!["GET 200", "POST 422", "GET 200", "PATCH 200"]);
    let pulls = svc.pulls();
    assert_eq!(pulls.len(), 1);
    assert_eq!(pulls[0].title, "ours");
    assert_eq!(pulls[0].body.as_deref(), Some("our body"));
}

#[test]
fn unreachable_api_is_a_transport_error_without_the_token() {
    let port = crate::support::common::closed_port();
    let gh = GitHub::new(&format!("http://127.0.0.1:{port}"), TOKEN, OWNER, REPO).unwrap();
    let err = gh
        .open_or_update_blocking(BRANCH, "main", "t", "b")
        .unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
    assert!(msg.contains("list the open pull requests"), "{msg}");
    assert_no_token(&msg);
    assert_no_token(&format!("{err:?}"));
}

#[tokio::test]
async fn async_api_and_blocking_wrapper_inside_a_runtime() {
    let svc = GitHubService::start();
    svc.add_branch(BRANCH);
    let gh = client(&svc, TOKEN);
    assert_eq!(gh.find_open(BRANCH).await.unwrap(), None);
    let pr = gh.open_or_update(BRANCH, "main", "t", "b").await.unwrap();
    assert!(pr.created);
    assert_eq!(
        gh.find_open(BRANCH).await.unwrap().map(|p| p.number),
        Some(pr.number)
    );
    // The blocking wrapper may be called from async code too (it moves to its own thread).
    let again = gh
        .open_or_update_blocking(BRANCH, "main", "t2", "b2")
        .unwrap();
    assert_eq!((again.number, again.created), (pr.number, false));
}

#[test]
fn branch_name_is_stable_per_change_and_differs_between_changes() {
    let key = change_key(
        "bump",
        "main",
        &["ghcr.io/acme/app=harbor.example.com/ghcr/acme/app:1.2.3"],
    );
    let b = branch_name(&key);
    assert_eq!(b, branch_name(&key));
    assert!(b.starts_with("harborize/"), "{b}");
    let hash = b.strip_prefix("harborize/").unwrap();
    assert_eq!(hash.len(), github::BRANCH_HASH_LEN);
    assert!(hash
        .bytes()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    // Pinned: the same change must give the same branch across versions and machines.
    assert_eq!(branch_name(""), "harborize/e3b0c44298fc");

    let other_tag = change_key(
        "bump",
        "main",
        &["ghcr.io/acme/app=harbor.example.com/ghcr/acme/app:1.2.4"],
    );
    let other_base = change_key(
        "bump",
        "release",
        &["ghcr.io/acme/app=harbor.example.com/ghcr/acme/app:1.2.3"],
    );
    let migrate = change_key(
        "migrate",
        "main",
        &["ghcr.io/acme/app=harbor.example.com/ghcr/acme/app:1.2.3"],
    );
    let all: std::collections::HashSet<String> = [&key, &other_tag, &other_base, &migrate]
        .iter()
        .map(|k| branch_name(k))
        .collect();
    assert_eq!(
        all.len(),
        4,
        "different changes, different branches: {all:?}"
    );

    // The order of the items does not matter; duplicates do not either.
    assert_eq!(
        change_key("migrate", "main", &["b → B", "a → A", "b → B"]),
        change_key("migrate", "main", &["a → A", "b → B"])
    );
}

#[test]
fn remote_urls_name_the_repository() {
    let r = |u: &str| github::parse_remote(u).map(|r| format!("{} {}/{}", r.host, r.owner, r.name));
    let gh = Some("github.com acme/gitops".to_string());
    assert_eq!(r("https://github.com/acme/gitops.git"), gh);
    assert_eq!(r("https://github.com/acme/gitops/"), gh);
    assert_eq!(
        r("https://x-access-token:s3cr3t@github.com/acme/gitops"),
        gh
    );
    assert_eq!(r("git@github.com:acme/gitops.git"), gh);
    assert_eq!(r("ssh://git@github.com/acme/gitops.git"), gh);
    assert_eq!(r("https://GitHub.com/acme/gitops"), gh);
    assert_eq!(
        r("ssh://git@ghe.example.com:2222/platform/gitops.git").as_deref(),
        Some("ghe.example.com platform/gitops")
    );
    assert_eq!(
        r("https://ghe.example.com:8443/platform/gitops").as_deref(),
        Some("ghe.example.com platform/gitops")
    );
    // Not GitHub repository URLs: local paths, file://, nested groups, Windows drives.
    for u in [
        "/srv/git/gitops.git",
        "../acme/gitops.git",
        "acme/gitops",
        "file:///srv/acme/gitops.git",
        "https://gitlab.example.com/group/sub/repo.git",
        "https://github.com/acme",
        "C:/repos/acme/gitops",
        "",
    ] {
        assert_eq!(r(u), None, "{u}");
    }
}

#[test]
fn configuration_from_the_environment() {
    // Defaults: github.com; the repository from GITHUB_REPOSITORY when the remote is local.
    let gh = GitHub::from_env(
        env_of(&[
            ("GITHUB_TOKEN", TOKEN),
            ("GITHUB_REPOSITORY", "acme/gitops"),
        ]),
        Some("/srv/git/gitops.git"),
    )
    .unwrap();
    assert_eq!(gh.api_url(), github::DEFAULT_API_URL);
    assert_eq!(gh.full_name(), "acme/gitops");
    assert_eq!(gh.token_source(), "GITHUB_TOKEN");

    // HARBORIZE_GIT_TOKEN wins over GITHUB_TOKEN (as for pushes); blank counts as unset.
    let gh = GitHub::from_env(
        env_of(&[
            ("GITHUB_TOKEN", TOKEN),
            ("HARBORIZE_GIT_TOKEN", READ_ONLY_TOKEN),
            ("GITHUB_API_URL", " "),
            ("GITHUB_REPOSITORY", "acme/gitops"),
        ]),
        None,
    )
    .unwrap();
    assert_eq!(gh.token_source(), "HARBORIZE_GIT_TOKEN");
    assert_eq!(gh.api_url(), github::DEFAULT_API_URL);

    // The remote names the repository (the app's CI has GITHUB_REPOSITORY=its own repo).
    for remote in [
        "https://github.com/acme/gitops.git",
        "https://x-access-token:abc@github.com/acme/gitops",
        "git@github.com:acme/gitops.git",
        "ssh://git@github.com/acme/gitops.git",
    ] {
        let gh = GitHub::from_env(
            env_of(&[("GITHUB_TOKEN", TOKEN), ("GITHUB_REPOSITORY", "acme/app")]),
            Some(remote),
        )
        .unwrap();
        assert_eq!(gh.full_name(), "acme/gitops", "{remote}");
        assert_eq!(gh.api_url(), github::DEFAULT_API_URL, "{remote}");
    }

    // An Enterprise remote without GITHUB_API_URL: that host's /api/v3.
    let gh = GitHub::from_env(
        env_of(&[("GITHUB_TOKEN", TOKEN)]),
        Some("git@ghe.example.com:platform/gitops.git"),
    )
    .unwrap();
    assert_eq!(gh.api_url(), "https://ghe.example.com/api/v3");
    assert_eq!(gh.full_name(), "platform/gitops");
    // GITHUB_API_URL, when set, is what counts.
    let gh = GitHub::from_env(
        env_of(&[
            ("GITHUB_TOKEN", TOKEN),
            ("GITHUB_API_URL", "https://ghe.internal/api/v3"),
        ]),
        Some("https://ghe.example.com/platform/gitops"),
    )
    .unwrap();
    assert_eq!(gh.api_url(), "https://ghe.internal/api/v3");

    // No token: says which variables to set.
    let err = GitHub::from_env(env_of(&[("GITHUB_REPOSITORY", "acme/gitops")]), None).unwrap_err();
    assert!(matches!(err, Error::MissingToken { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("HARBORIZE_GIT_TOKEN") && msg.contains("GITHUB_TOKEN"),
        "{msg}"
    );

    // No repository anywhere.
    let err =
        GitHub::from_env(env_of(&[("GITHUB_TOKEN", TOKEN)]), Some("/srv/git/x.git")).unwrap_err();
    assert!(matches!(err, Error::NoRepository { .. }), "{err:?}");
    assert!(err.to_string().contains("GITHUB_REPOSITORY"), "{err}");
    let err = GitHub::from_env(
        env_of(&[
            ("GITHUB_TOKEN", TOKEN),
            ("GITHUB_REPOSITORY", "just-a-name"),
        ]),
        None,
    )
    .unwrap_err();
    assert!(matches!(err, Error::NoRepository { .. }), "{err:?}");

    // A bad API URL, and credentials in it, are refused without echoing a secret.
    let err = GitHub::from_env(
        env_of(&[
            ("GITHUB_TOKEN", TOKEN),
            ("GITHUB_REPOSITORY", "acme/gitops"),
            ("GITHUB_API_URL", "ftp://example.com"),
        ]),
        None,
    )
    .unwrap_err();
    assert!(matches!(err, Error::ApiUrl { .. }), "{err:?}");
    let err = GitHub::new(
        "https://user:s3cr3t-pw@ghe.example.com/api/v3",
        TOKEN,
        "a",
        "b",
    )
    .unwrap_err();
    assert!(!err.to_string().contains("s3cr3t-pw"), "{err}");

    // A token that cannot be a header value is refused, not sent (and not shown).
    let err = GitHub::new(DEFAULT, "line\nbreak-Secret", "a", "b").unwrap_err();
    assert!(matches!(err, Error::InvalidToken { .. }));
    assert!(!err.to_string().contains("break-Secret"));
}

const DEFAULT: &str = github::DEFAULT_API_URL;

#[test]
fn debug_and_redact_never_show_the_token() {
    let gh = GitHub::new(DEFAULT, TOKEN, OWNER, REPO).unwrap();
    let dbg = format!("{gh:?}");
    assert_no_token(&dbg);
    assert!(dbg.contains("<redacted>"), "{dbg}");
    assert!(dbg.contains(OWNER), "{dbg}");
    assert_eq!(
        gh.redact(&format!("Authorization: Bearer {TOKEN}")),
        "Authorization: Bearer <redacted>"
    );
}

#[test]
fn markdown_body_lists_the_changes() {
    let body = github::markdown_body(
        "harborize bump",
        &[(
            "ghcr.io/acme/app:1.2.2".to_string(),
            "harbor.example.com/ghcr/acme/app:1.2.3".to_string(),
        )],
        &["Verified through Harbor: 1 reference.".to_string()],
    );
    assert!(body.starts_with("### harborize bump\n"), "{body}");
    assert!(
        body.contains("| `ghcr.io/acme/app:1.2.2` | `harbor.example.com/ghcr/acme/app:1.2.3` |"),
        "{body}"
    );
    assert!(
        body.contains("Verified through Harbor: 1 reference."),
        "{body}"
    );
}

// ---- contract: the exchanges against GitHub's published REST description ----

/// `#/components/schemas/pull-request-simple` → `required`.
const PULL_REQUEST_SIMPLE_REQUIRED: &[&str] = &[
    "_links",
    "assignee",
    "labels",
    "base",
    "body",
    "closed_at",
    "comments_url",
    "commits_url",
    "created_at",
    "diff_url",
    "head",
    "html_url",
    "id",
    "node_id",
    "issue_url",
    "merge_commit_sha",
    "merged_at",
    "milestone",
    "number",
    "patch_url",
    "review_comment_url",
    "review_comments_url",
    "statuses_url",
    "state",
    "locked",
    "title",
    "updated_at",
    "url",
    "user",
    "author_association",
    "auto_merge",
];

/// `#/components/schemas/pull-request` → `required`, beyond the simple form's.
const PULL_REQUEST_EXTRA_REQUIRED: &[&str] = &[
    "additions",
    "changed_files",
    "comments",
    "commits",
    "deletions",
    "mergeable",
    "mergeable_state",
    "merged",
    "maintainer_can_modify",
    "merged_by",
    "review_comments",
];

/// `head` and `base` → `required`.
const REF_REQUIRED: &[&str] = &["label", "ref", "repo", "sha", "user"];

/// `_links` → `required`.
const LINKS_REQUIRED: &[&str] = &[
    "comments",
    "commits",
    "statuses",
    "html",
    "issue",
    "review_comments",
    "review_comment",
    "self",
];

/// `#/components/schemas/simple-user` → `required`.
const SIMPLE_USER_REQUIRED: &[&str] = &[
    "avatar_url",
    "events_url",
    "followers_url",
    "following_url",
    "gists_url",
    "gravatar_id",
    "html_url",
    "id",
    "node_id",
    "login",
    "organizations_url",
    "received_events_url",
    "repos_url",
    "site_admin",
    "starred_url",
    "subscriptions_url",
    "type",
    "url",
];

/// "List pull requests" query parameters.
const LIST_QUERY: &[&str] = &[
    "state",
    "head",
    "base",
    "sort",
    "direction",
    "per_page",
    "page",
];
/// "Create a pull request" body parameters (`head` and `base` required).
const CREATE_BODY: &[&str] = &[
    "title",
    "head",
    "head_repo",
    "base",
    "body",
    "maintainer_can_modify",
    "draft",
    "issue",
];
/// "Update a pull request" body parameters.
const UPDATE_BODY: &[&str] = &["title", "body", "state", "base", "maintainer_can_modify"];

fn has_all(v: &Value, keys: &[&str], what: &str) {
    let o = v
        .as_object()
        .unwrap_or_else(|| panic!("{what} is not an object: {v}"));
    for k in keys {
        assert!(o.contains_key(*k), "{what} lacks required `{k}`");
    }
}

fn check_pull(v: &Value, full: bool) {
    has_all(v, PULL_REQUEST_SIMPLE_REQUIRED, "pull request");
    if full {
        has_all(v, PULL_REQUEST_EXTRA_REQUIRED, "pull request");
    }
    has_all(&v["_links"], LINKS_REQUIRED, "_links");
    has_all(&v["user"], SIMPLE_USER_REQUIRED, "user");
    for side in ["head", "base"] {
        has_all(&v[side], REF_REQUIRED, side);
        has_all(&v[side]["user"], SIMPLE_USER_REQUIRED, "ref user");
        has_all(
            &v[side]["repo"],
            &["id", "name", "full_name", "owner", "url"],
            "repo",
        );
    }
    assert!(matches!(v["state"].as_str(), Some("open" | "closed")));
    // And octocrab, the real client, reads it.
    serde_json::from_value::<octocrab::models::pulls::PullRequest>(v.clone())
        .unwrap_or_else(|e| panic!("octocrab cannot read the pull request: {e}"));
}

#[test]
fn contract_every_exchange_matches_the_published_shapes() {
    let svc = GitHubService::start_enterprise();
    svc.add_branch(BRANCH);
    svc.add_empty_branch("harborize/empty");
    let gh = client(&svc, TOKEN);
    gh.open_or_update_blocking(BRANCH, "main", "t", "b")
        .unwrap();
    gh.open_or_update_blocking(BRANCH, "main", "t2", "b2")
        .unwrap();
    let _ = gh.open_or_update_blocking("harborize/empty", "main", "t", "b");
    client(&svc, "wrong-token-Zz9Yy8Xx7")
        .open_or_update_blocking(BRANCH, "main", "t", "b")
        .unwrap_err();
    let log = svc.log();
    assert!(log.len() >= 6, "{}", log.len());
    let (mut lists, mut creates, mut updates) = (0, 0, 0);
    for e in &log {
        // Requests: what GitHub documents, with the recommended headers.
        let accept = e.header("accept").unwrap_or("");
        assert!(accept.contains("json"), "{}: Accept {accept:?}", e.line());
        // Each of these once (GitHub rejects a doubled API version).
        for h in [
            "x-github-api-version",
            "user-agent",
            "accept",
            "authorization",
        ] {
            let n = e
                .headers
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(h))
                .count();
            assert_eq!(n, 1, "{}: {h} sent {n} times", e.line());
        }
        assert_eq!(
            e.header("x-github-api-version"),
            Some(github::API_VERSION),
            "{}",
            e.line()
        );
        assert!(
            e.header("user-agent").is_some_and(|u| !u.is_empty()),
            "{}",
            e.line()
        );
        let auth = e.header("authorization").unwrap_or("");
        assert!(auth.starts_with("Bearer "), "{}: {auth:?}", e.line());
        let api = format!("/api/v3/repos/{OWNER}/{REPO}/pulls");
        match e.method.as_str() {
            "GET" => {
                assert_eq!(e.path, api);
                for (k, _) in &e.query {
                    assert!(LIST_QUERY.contains(&k.as_str()), "undocumented query {k}");
                }
                assert!(e.body.is_empty());
                lists += 1;
            }
            "POST" => {
                assert_eq!(e.path, api);
                assert!(e
                    .header("content-type")
                    .is_some_and(|c| c.starts_with("application/json")));
                let body = e.json();
                for k in body.as_object().unwrap().keys() {
                    assert!(CREATE_BODY.contains(&k.as_str()), "undocumented field {k}");
                }
                assert!(body["head"].is_string() && body["base"].is_string());
                creates += 1;
            }
            "PATCH" => {
                assert!(e.path.starts_with(&format!("{api}/")), "{}", e.path);
                let body = e.json();
                for k in body.as_object().unwrap().keys() {
                    assert!(UPDATE_BODY.contains(&k.as_str()), "undocumented field {k}");
                }
                updates += 1;
            }
            m => panic!("unexpected method {m}"),
        }
        // Answers: GitHub's shapes.
        let body = e.response_json();
        match (e.method.as_str(), e.status) {
            ("GET", 200) => body
                .as_array()
                .unwrap()
                .iter()
                .for_each(|p| check_pull(p, false)),
            ("POST", 201) => {
                check_pull(&body, true);
                assert!(e.response_header("location").is_some());
            }
            ("PATCH", 200) => check_pull(&body, true),
            (_, status) => {
                assert!(status >= 400, "{}", e.line());
                assert!(body["message"].is_string(), "error without message: {body}");
                assert!(body["documentation_url"].is_string(), "{body}");
                if status == 422 {
                    assert_eq!(body["message"], "Validation Failed");
                    assert!(body["errors"].is_array());
                }
            }
        }
    }
    assert!(
        lists >= 4 && creates >= 2 && updates == 1,
        "{lists} {creates} {updates}"
    );
}

/// Issue #17 item 8: the exchanges of the client's flows, answers and errors alike, against
/// GitHub's own REST API description (`support/github/github-openapi-subset.json`, kept from
/// github/rest-api-description): request bodies carry only documented fields, every answer
/// (201/200 pull requests, 401/403/404 basic errors, 422 validation errors) has the
/// published shape. The same check runs when any test's `GitHubService` is dropped; here
/// it is also shown to catch what it must.
#[test]
fn every_exchange_matches_githubs_published_description() {
    use support::github::openapi::{check_all, Contract};
    let svc = GitHubService::start();
    svc.add_branch(BRANCH);
    svc.add_empty_branch("harborize/empty");
    let gh = client(&svc, TOKEN);
    gh.open_or_update_blocking(BRANCH, "main", "t", "b")
        .unwrap();
    gh.open_or_update_blocking(BRANCH, "main", "t2", "b2")
        .unwrap();
    let _ = gh.open_or_update_blocking("harborize/empty", "main", "t", "b");
    let _ = client(&svc, "wrong-token-Zz9Yy8Xx7").open_or_update_blocking(BRANCH, "main", "t", "b");
    svc.add_branch("harborize/other");
    let _ =
        client(&svc, READ_ONLY_TOKEN).open_or_update_blocking("harborize/other", "main", "t", "b");
    let _ = GitHub::new(&svc.api_url(), TOKEN, OWNER, "nope")
        .unwrap()
        .open_or_update_blocking(BRANCH, "main", "t", "b");
    let log = svc.log();
    let found = check_all(&log);
    assert_eq!(found.errors, Vec::<String>::new());
    let list = "GET /repos/{owner}/{repo}/pulls";
    let create = "POST /repos/{owner}/{repo}/pulls";
    for op in [
        format!("{list} 200"),
        format!("{list} 401"),
        format!("{list} 404"),
        format!("{create} 201"),
        format!("{create} 403"),
        format!("{create} 422"),
        "PATCH /repos/{owner}/{repo}/pulls/{pull_number} 200".to_string(),
    ] {
        assert!(
            found.operations.contains(&op),
            "{op} not exercised: {:?}",
            found.operations
        );
    }
    for schema in [
        "pull-request",
        "pull-request-simple",
        "repository",
        "simple-user",
        "basic-error",
        "validation-error",
    ] {
        assert!(
            found.schemas.contains(schema),
            "{schema} not checked: {:?}",
            found.schemas
        );
    }

    // The check catches an undocumented request field, a missing answer field, an
    // undeclared status.
    let contract = Contract::github();
    let errors_of = |e: &Exchange| -> String { contract.check_exchange(e).errors.join("\n") };
    let mut patch = log.iter().find(|e| e.method == "PATCH").unwrap().clone();
    let mut body = patch.json();
    body["pull_number"] = 1.into();
    patch.body = serde_json::to_vec(&body).unwrap();
    assert!(errors_of(&patch).contains("`pull_number` is not a documented property"));
    let mut created = log
        .iter()
        .find(|e| e.method == "POST" && e.status == 201)
        .unwrap()
        .clone();
    let mut answer = created.response_json();
    answer.as_object_mut().unwrap().remove("merged");
    created.response_body = serde_json::to_vec(&answer).unwrap();
    assert!(errors_of(&created).contains("required `merged` is missing"));
    let mut teapot = log[0].clone();
    teapot.status = 418;
    assert!(errors_of(&teapot).contains("status 418 is not declared"));
}
