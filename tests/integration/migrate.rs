//! `harborize migrate` on real git repositories: a local work tree and a bare remote
//! reached by a `file://` URL (cloned with git2), commits per repository and per top-level
//! directory, push, the markdown/JSON report, the state file that makes a rerun skip
//! finished repositories, `--revert`, the Renovate snippet, the pull-secret list, a
//! repository with a malformed file, `--verify` against a small registry, `--dry-run`;
//! `--pull-request` against the local GitHub REST service (`support::github`, whose
//! branches are the bare remote's): one pull request per repository.

use crate::support;
// serde_json's `json!` for GitHub's wide objects in `support::github`.
use crate::support::common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{code, copy_tree, files, harborize, stderr, stdout, HARBOR};
use support::git::{bare_remote, git, read, seed, write, AUTHOR};
use support::serve::{HttpService, Reply, Request};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/migrate")
        .join(name)
}

/// A git work tree on `main` holding the fixture, committed.
fn local_repo(tmp: &Path, name: &str, fixture_name: &str) -> PathBuf {
    let dir = tmp.join(name);
    copy_tree(&fixture(fixture_name), &dir);
    git(&dir, &["init", "--quiet", "-b", "main"]);
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "--quiet", "-m", "seed"]);
    dir
}

/// A bare remote seeded with the fixture; returns (remote dir, file:// URL).
fn remote_repo(tmp: &Path, name: &str, fixture_name: &str) -> (PathBuf, String) {
    let remote = bare_remote(&tmp.join(format!("remotes/{name}.git")));
    let root = fixture(fixture_name);
    let seeded: Vec<(String, String)> = files(&root)
        .into_iter()
        .map(|f| {
            (
                f.to_string_lossy().into_owned(),
                std::fs::read_to_string(root.join(&f)).unwrap(),
            )
        })
        .collect();
    seed(&remote, &tmp.join(format!("scratch-{name}")), &seeded);
    let url = format!("file://{}", remote.display());
    (remote, url)
}

fn migrate(tmp: &Path, args: &[&str]) -> Output {
    harborize()
        .current_dir(tmp)
        .env("HOME", tmp)
        .env("GIT_AUTHOR_NAME", AUTHOR.0)
        .env("GIT_AUTHOR_EMAIL", AUTHOR.1)
        .arg("migrate")
        .args(args)
        .output()
        .expect("harborize runs")
}

fn show_out(out: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", stdout(out), stderr(out))
}

fn count_commits(repo: &Path) -> usize {
    git(repo, &["rev-list", "--count", "HEAD"]).parse().unwrap()
}

fn json_file(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()))
}

fn repo_entry<'a>(report: &'a serde_json::Value, repo: &str) -> &'a serde_json::Value {
    report["repos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["repo"] == repo)
        .unwrap_or_else(|| panic!("{repo} not in {report:#}"))
}

/// Files named by the last commit.
fn last_commit_files(repo: &Path, rev: &str) -> Vec<String> {
    let out = git(repo, &["show", "--name-only", "--format=", rev]);
    let mut v: Vec<String> = out.lines().map(str::to_string).collect();
    v.sort();
    v
}

#[test]
fn migrates_a_directory_and_a_file_url_one_commit_each_reports_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let a = local_repo(t, "a", "repo-a");
    let (remote_b, url_b) = remote_repo(t, "b", "repo-b");
    let a_arg = a.to_str().unwrap();
    let args = [
        "--harbor",
        HARBOR,
        "--commit",
        "--report-dir",
        "report",
        "--workdir",
        "work",
        "--renovate",
        "renovate.json",
        "--pull-secrets",
        "pull-secrets.json",
        a_arg,
        &url_b,
    ];
    let out = migrate(t, &args);
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    let text = stdout(&out);
    assert!(text.contains("migrated"), "{text}");
    // Not a terminal: no progress bar, nothing on stderr.
    assert_eq!(stderr(&out), "");

    // Files rewritten, in the work tree and in the clone of the URL.
    let web = read(&a, "apps/web/deployment.yaml");
    assert!(
        web.contains("image: harbor.example.com/ghcr/acme/web:1.4.2\n"),
        "{web}"
    );
    assert!(
        web.contains("image: harbor.example.com/docker-hub/library/nginx:1.27   # sidecar\n"),
        "{web}"
    );
    assert!(
        read(&a, "compose.yaml").contains("\"harbor.example.com/docker-hub/library/postgres:16\"")
    );
    let b = t.join("work/b");
    assert!(
        read(&b, "apps/api/deploy.yaml").contains("image: harbor.example.com/quay/acme/api:2.3.1")
    );
    assert!(read(&b, "apps/api/deploy.yaml")
        .contains("image: harbor.example.com/k8s-registry/pause:3.9"));
    // What stays direct stays.
    assert!(read(&a, "apps/legacy/deployment.yaml")
        .contains("image: registry.corp.example/team/legacy:3.1"));
    assert!(read(&a, "infra/cache.yaml").contains("image: docker.io/goharbor/harbor-core:v2.11.0"));

    // One commit per repository, with exactly the changed files; the work trees are clean.
    assert_eq!(count_commits(&a), 2);
    assert_eq!(count_commits(&b), 2);
    assert_eq!(
        last_commit_files(&a, "HEAD"),
        [
            "apps/legacy/deployment.yaml",
            "apps/web/deployment.yaml",
            "apps/web/kustomization.yaml",
            "apps/worker/job.yaml",
            "compose.yaml",
            "infra/redis/values.yaml"
        ]
    );
    assert_eq!(
        last_commit_files(&b, "HEAD"),
        ["apps/api/deploy.yaml", "infra/monitoring/agent.yaml"]
    );
    let msg = git(&a, &["log", "-1", "--format=%B"]);
    assert!(
        msg.starts_with("Route container images through Harbor\n"),
        "{msg}"
    );
    assert!(
        msg.contains("- ghcr.io/acme/web:1.4.2 → harbor.example.com/ghcr/acme/web:1.4.2"),
        "{msg}"
    );
    assert!(msg.contains("Harborize-Migration: migrate"), "{msg}");
    assert_eq!(
        git(&a, &["log", "-1", "--format=%an <%ae>"]),
        "Test Author <author@example.com>"
    );
    assert_eq!(
        git(&a, &["status", "--porcelain", "--untracked-files=no"]),
        ""
    );
    // Without --push the remote is untouched.
    assert_eq!(git(&remote_b, &["rev-list", "--count", "main"]), "1");

    // The JSON report.
    let report = json_file(&t.join("report/migration-report.json"));
    assert_eq!(report["version"], 1);
    assert_eq!(report["direction"], "migrate");
    assert_eq!(report["summary"]["repos"], 2);
    assert_eq!(report["summary"]["migrated"], 2);
    assert_eq!(report["summary"]["commits"], 2);
    let ra = repo_entry(&report, a_arg);
    assert_eq!(ra["status"], "migrated");
    assert_eq!(ra["harbor"], HARBOR);
    assert_eq!(ra["commits"][0]["sha"], git(&a, &["rev-parse", "HEAD"]));
    let web_change = ra["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["file"] == "apps/web/deployment.yaml")
        .expect("web changed");
    assert_eq!(web_change["references"][0]["line"], 13);
    assert_eq!(
        web_change["references"][0]["original"],
        "ghcr.io/acme/web:1.4.2"
    );
    assert_eq!(
        web_change["references"][0]["rewritten"],
        "harbor.example.com/ghcr/acme/web:1.4.2"
    );
    let stays = ra["stays"].as_array().unwrap();
    let stay = |reason: &str| {
        stays
            .iter()
            .find(|s| s["reason"] == reason)
            .unwrap_or_else(|| panic!("no {reason} in {stays:#?}"))
    };
    assert_eq!(stay("unmapped")["key"], "registry.corp.example");
    assert_eq!(stay("unmapped")["count"], 1);
    assert_eq!(
        stay("unmapped")["references"][0]["file"],
        "apps/legacy/deployment.yaml"
    );
    assert_eq!(stay("unmapped")["references"][0]["line"], 13);
    assert_eq!(stay("excluded")["key"], "docker.io/goharbor/*");
    assert_eq!(
        stay("templated")["references"][0]["original"],
        "${APP_IMAGE}"
    );
    assert_eq!(ra["summary"]["already_proxied"], 1);
    let rb = repo_entry(&report, &url_b);
    assert_eq!(rb["status"], "migrated");
    assert_eq!(rb["path"], b.canonicalize().unwrap().to_str().unwrap());
    assert_eq!(rb["summary"]["already_proxied"], 1);

    // The markdown report.
    let md = std::fs::read_to_string(t.join("report/migration-report.md")).unwrap();
    assert!(md.starts_with("# harborize migration report\n"), "{md}");
    assert!(md.contains(&format!("## {a_arg}\n")), "{md}");
    assert!(md.contains(&format!("## {url_b}\n")), "{md}");
    assert!(
        md.contains(
            "  - line 13: `ghcr.io/acme/web:1.4.2` → `harbor.example.com/ghcr/acme/web:1.4.2`"
        ),
        "{md}"
    );
    assert!(
        md.contains("| unmapped registry (no Harbor project) | `registry.corp.example` | 1 | `apps/legacy/deployment.yaml:13` `registry.corp.example/team/legacy:3.1` |"),
        "{md}"
    );
    assert!(
        md.contains("| excluded | `docker.io/goharbor/*` | 1 |"),
        "{md}"
    );
    assert!(md.contains("templated"), "{md}");

    // Renovate: every Harbor proxy path prefix back to its upstream (gcr.io from repo-a's
    // harborize.yaml).
    let renovate = json_file(&t.join("renovate.json"));
    let aliases = renovate["registryAliases"].as_object().unwrap();
    assert_eq!(aliases["harbor.example.com/docker-hub"], "docker.io");
    assert_eq!(aliases["harbor.example.com/ghcr"], "ghcr.io");
    assert_eq!(aliases["harbor.example.com/quay"], "quay.io");
    assert_eq!(
        aliases["harbor.example.com/k8s-registry"],
        "registry.k8s.io"
    );
    assert_eq!(aliases["harbor.example.com/gcr"], "gcr.io");
    assert_eq!(aliases.len(), 5, "{renovate:#}");
    assert_eq!(renovate.as_object().unwrap().len(), 1, "{renovate:#}");

    // Pull secrets (JSON by extension).
    let ps = json_file(&t.join("pull-secrets.json"));
    let names = |k: &str| -> Vec<String> {
        ps[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["secret"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names("candidates"),
        ["dockerhub-pull", "ghcr-pull"],
        "{ps:#}"
    );
    assert_eq!(names("kept"), ["harbor-pull", "corp-pull"], "{ps:#}");
    let ghcr = &ps["candidates"][1];
    assert_eq!(ghcr["namespace"], "shop");
    assert_eq!(ghcr["repo"], a_arg);
    assert_eq!(ghcr["served"], serde_json::json!(["docker.io", "ghcr.io"]));
    assert_eq!(ghcr["secret_registries"], serde_json::json!(["ghcr.io"]));
    assert_eq!(ghcr["uses"][0]["file"], "apps/web/deployment.yaml");
    assert_eq!(ghcr["uses"][0]["line"], 10);
    assert_eq!(ghcr["uses"][0]["workload"], "Deployment/web");
    let sa = &ps["candidates"][0];
    assert_eq!(sa["uses"][0]["via"], "service-account");
    assert_eq!(sa["uses"][0]["workload"], "ServiceAccount/builder");
    assert_eq!(sa["uses"][0]["file"], "apps/worker/job.yaml");
    assert_eq!(sa["uses"][0]["line"], 24);
    let corp = &ps["kept"][1];
    let reason = corp["uses"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("registry.corp.example/team/legacy:3.1 stays direct"),
        "{reason}"
    );
    let harbor = ps["kept"][0]["uses"][0]["reason"].as_str().unwrap();
    assert!(harbor.contains("already on Harbor"), "{harbor}");

    // The state file records both with their commit; a rerun skips them and says so.
    let state = json_file(&t.join("report/migration-state.json"));
    let key_a = a.canonicalize().unwrap().display().to_string();
    assert_eq!(
        state["repos"][&key_a]["commits"][0],
        git(&a, &["rev-parse", "HEAD"])
    );
    assert_eq!(state["repos"][&url_b]["direction"], "migrate");
    let out = migrate(t, &args);
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    let text = stdout(&out);
    assert_eq!(
        text.matches("finished in an earlier run").count(),
        2,
        "{text}"
    );
    assert!(text.contains(&format!("skipped       {a_arg}: ")), "{text}");
    assert_eq!(count_commits(&a), 2);
    assert_eq!(count_commits(&b), 2);
    let report = json_file(&t.join("report/migration-report.json"));
    assert_eq!(report["summary"]["skipped"], 2);
    assert_eq!(repo_entry(&report, a_arg)["status"], "skipped");
    // The skipped repositories' earlier results are still in the outputs.
    assert_eq!(
        json_file(&t.join("pull-secrets.json"))["candidates"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        json_file(&t.join("renovate.json"))["registryAliases"]
            .as_object()
            .unwrap()
            .len(),
        5
    );
}

#[test]
fn batch_by_dir_commits_once_per_top_level_directory_and_pushes() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let a = local_repo(t, "a", "repo-a");
    let out = migrate(
        t,
        &["--harbor", HARBOR, "--batch-by", "dir", a.to_str().unwrap()],
    );
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    // apps/, infra/ and the root (compose.yaml): three commits, oldest first by name.
    assert_eq!(count_commits(&a), 4);
    let subjects = git(&a, &["log", "--format=%s", "-3", "--reverse"]);
    assert_eq!(
        subjects,
        "Route container images at the repository root through Harbor\n\
         Route container images in apps/ through Harbor\n\
         Route container images in infra/ through Harbor"
    );
    assert_eq!(last_commit_files(&a, "HEAD~2"), ["compose.yaml"]);
    assert_eq!(
        last_commit_files(&a, "HEAD~1"),
        [
            "apps/legacy/deployment.yaml",
            "apps/web/deployment.yaml",
            "apps/web/kustomization.yaml",
            "apps/worker/job.yaml"
        ]
    );
    assert_eq!(last_commit_files(&a, "HEAD"), ["infra/redis/values.yaml"]);

    // The URL repository: apps/ and infra/ changed (mirrored/ is already on Harbor, docs/
    // has no manifest): two commits, pushed to the remote.
    let (remote_b, url_b) = remote_repo(t, "b", "repo-b");
    let out = migrate(
        t,
        &[
            "--harbor",
            HARBOR,
            "--batch-by",
            "dir",
            "--push",
            "--workdir",
            "work",
            "--report-dir",
            "report",
            &url_b,
        ],
    );
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    assert_eq!(git(&remote_b, &["rev-list", "--count", "main"]), "3");
    assert_eq!(
        git(
            &remote_b,
            &["log", "--format=%s", "-2", "--reverse", "main"]
        ),
        "Route container images in apps/ through Harbor\n\
         Route container images in infra/ through Harbor"
    );
    assert_eq!(
        git(&remote_b, &["rev-parse", "main"]),
        git(&t.join("work/b"), &["rev-parse", "HEAD"])
    );
    assert!(
        git(&remote_b, &["show", "main:infra/monitoring/agent.yaml"])
            .contains("image: harbor.example.com/docker-hub/grafana/alloy:v1.3.0")
    );
    let report = json_file(&t.join("report/migration-report.json"));
    let rb = repo_entry(&report, &url_b);
    assert_eq!(rb["pushed"], true);
    let dirs: Vec<&str> = rb["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["directory"].as_str().unwrap())
        .collect();
    assert_eq!(dirs, ["apps", "infra"]);
    let state = json_file(&t.join("report/migration-state.json"));
    assert_eq!(state["repos"][&url_b]["pushed"], true);
}

/// `(file, line, normalized)` of every reference `harborize check` finds under `dir`.
fn normalized_references(dir: &Path) -> Vec<(String, u64, String)> {
    let out = harborize()
        .args(["check", "--harbor", HARBOR, "--format", "json"])
        .arg(dir)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let root = dir.to_str().unwrap().to_string() + "/";
    let mut refs: Vec<(String, u64, String)> = v["references"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["file"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches(&root)
                    .to_string(),
                r["line"].as_u64().unwrap(),
                r["normalized"]
                    .as_str()
                    .unwrap_or(r["original"].as_str().unwrap())
                    .to_string(),
            )
        })
        .collect();
    refs.sort();
    refs
}

#[test]
fn revert_undoes_the_migration_with_the_same_batching() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let a = local_repo(t, "a", "repo-a");
    let before = normalized_references(&a);
    let out = migrate(
        t,
        &[
            "--harbor",
            HARBOR,
            "--batch-by",
            "dir",
            "--report-dir",
            "report",
            "--pull-secrets",
            "pull-secrets.md",
            a.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    assert_eq!(count_commits(&a), 4);
    assert_ne!(normalized_references(&a), before);
    let md = std::fs::read_to_string(t.join("pull-secrets.md")).unwrap();
    assert!(
        md.starts_with("# imagePullSecrets to decommission\n"),
        "{md}"
    );
    assert!(md.contains("## Candidates (2)"), "{md}");
    assert!(
        md.contains("| `ghcr-pull` | shop |")
            && md.contains("`apps/web/deployment.yaml:10` (Deployment/web)"),
        "{md}"
    );
    assert!(md.contains("## Still needed (2)"), "{md}");
    assert!(md.contains("| `corp-pull` | shop |"), "{md}");

    // The same state file: a revert is another direction, so the repository runs again.
    let out = migrate(
        t,
        &[
            "--harbor",
            HARBOR,
            "--revert",
            "--batch-by",
            "dir",
            "--report-dir",
            "report",
            a.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    assert!(stdout(&out).contains("reverted"), "{}", show_out(&out));
    // Three more commits (root, apps/, infra/).
    assert_eq!(count_commits(&a), 7);
    assert_eq!(
        git(&a, &["log", "--format=%s", "-1"]),
        "Revert container images in infra/ to their upstream registries"
    );
    // Every reference is back to its upstream, normalized equal; revert maps every Harbor
    // proxy path, so the one that was on Harbor before the migration goes upstream too.
    let after = normalized_references(&a);
    let expected: Vec<(String, u64, String)> = before
        .iter()
        .map(|(f, l, n)| {
            let n = n.replace(
                "harbor.example.com/docker-hub/library/redis:7.2",
                "docker.io/library/redis:7.2",
            );
            (f.clone(), *l, n)
        })
        .collect();
    assert_eq!(after, expected);
    // Byte-exact where the original was written in the familiar form.
    assert_eq!(
        read(&a, "apps/web/deployment.yaml"),
        std::fs::read_to_string(fixture("repo-a/apps/web/deployment.yaml")).unwrap()
    );
    let report = json_file(&t.join("report/migration-report.json"));
    assert_eq!(report["direction"], "revert");
    assert_eq!(report["repos"][0]["status"], "migrated");
    let md = std::fs::read_to_string(t.join("report/migration-report.md")).unwrap();
    assert!(md.contains("(revert)"), "{md}");
    // The state now says reverted: a second revert is skipped.
    let state = json_file(&t.join("report/migration-state.json"));
    let key = a.canonicalize().unwrap().display().to_string();
    assert_eq!(state["repos"][&key]["direction"], "revert");
    let out = migrate(
        t,
        &[
            "--harbor",
            HARBOR,
            "--revert",
            "--commit",
            "--report-dir",
            "report",
            a.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    assert!(
        stdout(&out).contains("finished in an earlier run"),
        "{}",
        show_out(&out)
    );
    assert_eq!(count_commits(&a), 7);
}

#[test]
fn a_malformed_file_is_reported_and_every_other_file_and_repository_still_migrates() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (_remote_b, url_b) = remote_repo(t, "b", "repo-b");
    let c = t.join("c");
    write(
        &c,
        "apps/good.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: good\nspec:\n  containers:\n    - name: app\n      image: ghcr.io/acme/good:1\n",
    );
    let broken = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - name: app\n      image: [ghcr.io/acme/broken:1\n";
    write(&c, "apps/broken.yaml", broken);
    git(&c, &["init", "--quiet", "-b", "main"]);
    git(&c, &["add", "-A"]);
    git(&c, &["commit", "--quiet", "-m", "seed"]);
    let c_arg = c.to_str().unwrap();
    let args = [
        "--harbor",
        HARBOR,
        "--commit",
        "--workdir",
        "work",
        "--report-dir",
        "report",
        c_arg,
        &url_b,
    ];
    let out = migrate(t, &args);
    assert_eq!(code(&out), 2, "{}", show_out(&out));
    let text = stdout(&out);
    assert!(text.contains(&format!("partial       {c_arg}")), "{text}");
    assert!(
        stderr(&out).contains("error: apps/broken.yaml:"),
        "{}",
        stderr(&out)
    );
    // The other repository is migrated and committed as usual.
    assert_eq!(count_commits(&t.join("work/b")), 2);
    // The good file of the broken repository is migrated and committed; the broken one is
    // left as it was.
    assert_eq!(count_commits(&c), 2);
    assert_eq!(last_commit_files(&c, "HEAD"), ["apps/good.yaml"]);
    assert!(read(&c, "apps/good.yaml").contains("image: harbor.example.com/ghcr/acme/good:1"));
    assert_eq!(read(&c, "apps/broken.yaml"), broken);
    let report = json_file(&t.join("report/migration-report.json"));
    let rc = repo_entry(&report, c_arg);
    assert_eq!(rc["status"], "partial");
    assert_eq!(rc["errors"][0]["file"], "apps/broken.yaml");
    assert!(rc["errors"][0]["line"].as_u64().is_some(), "{rc:#}");
    assert_eq!(repo_entry(&report, &url_b)["status"], "migrated");
    assert_eq!(report["summary"]["partial"], 1);
    let md = std::fs::read_to_string(t.join("report/migration-report.md")).unwrap();
    assert!(md.contains("### Errors\n\n- `apps/broken.yaml:"), "{md}");
    // Only the finished repository is in the state: the broken one runs again...
    let state = json_file(&t.join("report/migration-state.json"));
    assert_eq!(state["repos"].as_object().unwrap().len(), 1, "{state:#}");
    assert!(state["repos"][&url_b].is_object());
    // ...and once fixed, it finishes.
    write(
        &c,
        "apps/broken.yaml",
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - name: app\n      image: ghcr.io/acme/broken:1\n",
    );
    git(&c, &["commit", "--quiet", "-am", "fix"]);
    let out = migrate(t, &args);
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!("migrated      {c_arg}: 1 file(s)")),
        "{text}"
    );
    assert!(text.contains("finished in an earlier run"), "{text}");
    assert_eq!(count_commits(&c), 4);
    assert_eq!(count_commits(&t.join("work/b")), 2);
}

#[test]
fn dry_run_writes_nothing_and_a_dirty_tree_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let a = local_repo(t, "a", "repo-a");
    let web = read(&a, "apps/web/deployment.yaml");
    let out = migrate(
        t,
        &[
            "--harbor",
            HARBOR,
            "--dry-run",
            "--report-dir",
            "report",
            a.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&out), 1, "{}", show_out(&out));
    assert!(stdout(&out).contains("pending"), "{}", show_out(&out));
    assert_eq!(read(&a, "apps/web/deployment.yaml"), web);
    assert_eq!(count_commits(&a), 1);
    assert!(!t.join("report/migration-state.json").exists());
    let report = json_file(&t.join("report/migration-report.json"));
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["repos"][0]["status"], "pending");
    assert_eq!(report["repos"][0]["written"], false);
    let md = std::fs::read_to_string(t.join("report/migration-report.md")).unwrap();
    assert!(md.contains("### Would change (not written)"), "{md}");

    // A tracked file with uncommitted changes stops the repository before any write.
    write(
        &a,
        "compose.yaml",
        "services:\n  db:\n    image: postgres:17\n",
    );
    let out = migrate(t, &["--harbor", HARBOR, "--commit", a.to_str().unwrap()]);
    assert_eq!(code(&out), 2, "{}", show_out(&out));
    assert!(
        stdout(&out).contains("uncommitted changes"),
        "{}",
        show_out(&out)
    );
    assert_eq!(read(&a, "apps/web/deployment.yaml"), web);
    assert_eq!(count_commits(&a), 1);
}

/// A registry that knows some manifests: `GET /v2/` answers 200 (no auth), `HEAD` of a
/// known manifest 200 with a digest, anything else 404 (`support::serve`; stops when dropped).
fn fake_registry(known: &'static [(&'static str, &'static str)]) -> HttpService {
    let server = HttpService::start("fake-registry", None, move |_| {
        move |req: &Request| {
            let path = req.path();
            let found = path == "/v2/"
                || known.iter().any(|(repo, tag)| {
                    path == format!("/v2/{repo}/manifests/{tag}") && req.method == "HEAD"
                });
            if found {
                Reply::new(200)
                    .header(
                        "Docker-Content-Digest",
                        &format!("sha256:{}", "a".repeat(64)),
                    )
                    .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
                    .closing()
            } else {
                Reply::new(404)
                    .header("Content-Type", "application/json")
                    .body(
                        r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
                    )
                    .closing()
            }
        }
    });
    server
}

#[test]
fn verify_keeps_a_repository_whose_references_do_not_resolve_unwritten_and_uncommitted() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let registry = fake_registry(&[("docker-hub/library/nginx", "1.27")]);
    let port = registry.addr().port();
    let harbor = format!("127.0.0.1:{port}");
    let ok = t.join("ok");
    write(
        &ok,
        "deploy.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: ok\nspec:\n  containers:\n    - name: app\n      image: nginx:1.27\n",
    );
    let bad = t.join("bad");
    let bad_text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  containers:\n    - name: app\n      image: nginx:1.27\n    - name: gone\n      image: ghcr.io/acme/missing:9.9\n";
    write(&bad, "deploy.yaml", bad_text);
    for d in [&ok, &bad] {
        git(d, &["init", "--quiet", "-b", "main"]);
        git(d, &["add", "-A"]);
        git(d, &["commit", "--quiet", "-m", "seed"]);
    }
    let out = migrate(
        t,
        &[
            "--harbor",
            &harbor,
            "--verify",
            "--plain-http",
            "--retries",
            "0",
            "--commit",
            "--report-dir",
            "report",
            ok.to_str().unwrap(),
            bad.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&out), 1, "{}", show_out(&out));
    assert_eq!(count_commits(&ok), 2);
    assert!(read(&ok, "deploy.yaml")
        .contains(&format!("image: {harbor}/docker-hub/library/nginx:1.27")));
    assert_eq!(count_commits(&bad), 1);
    assert_eq!(read(&bad, "deploy.yaml"), bad_text);
    let report = json_file(&t.join("report/migration-report.json"));
    let rb = repo_entry(&report, bad.to_str().unwrap());
    assert_eq!(rb["status"], "verify-failed");
    assert_eq!(rb["written"], false);
    assert_eq!(rb["verify"]["failed"], 1);
    let failure = &rb["verify"]["failures"][0];
    assert_eq!(failure["file"], "deploy.yaml");
    assert_eq!(failure["line"], 10);
    assert_eq!(
        failure["reference"],
        format!("{harbor}/ghcr/acme/missing:9.9")
    );
    assert!(
        failure["outcome"] == "tag-not-found" || failure["outcome"] == "repository-not-found",
        "{failure:#}"
    );
    assert_eq!(
        repo_entry(&report, ok.to_str().unwrap())["status"],
        "migrated"
    );
    let state = json_file(&t.join("report/migration-state.json"));
    assert_eq!(state["repos"].as_object().unwrap().len(), 1, "{state:#}");
    let md = std::fs::read_to_string(t.join("report/migration-report.md")).unwrap();
    assert!(md.contains("### Verify"), "{md}");
    assert!(md.contains("ghcr/acme/missing:9.9"), "{md}");
}

/// The files of a fixture, as (relative path, text).
fn fixture_files(name: &str) -> Vec<(String, String)> {
    let root = fixture(name);
    files(&root)
        .into_iter()
        .map(|f| {
            (
                f.to_string_lossy().into_owned(),
                std::fs::read_to_string(root.join(&f)).unwrap(),
            )
        })
        .collect()
}

#[test]
fn pull_request_one_per_repository_from_its_own_change_branch() {
    use harborize::vcs::github::{branch_name, change_key};
    use support::github::{GitHubService, OWNER, REPO, TOKEN};

    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    // One GitHub repository whose branches hold two GitOps trees: `main` (repo-a) and
    // `develop` (repo-b), each checked out in its own work tree, so each gets its own pull
    // request into its own base branch.
    let remote = bare_remote(&t.join("remotes/gitops.git"));
    let scratch = t.join("scratch");
    seed(&remote, &scratch, &fixture_files("repo-a"));
    let new_branch = |branch: &str, files: &[(String, String)]| {
        git(&scratch, &["checkout", "--quiet", "-b", branch]);
        git(&scratch, &["rm", "-r", "--quiet", "."]);
        for (name, text) in files {
            write(&scratch, name, text);
        }
        git(&scratch, &["add", "-A"]);
        git(&scratch, &["commit", "--quiet", "-m", branch]);
        git(&scratch, &["push", "--quiet", "origin", branch]);
    };
    new_branch("develop", &fixture_files("repo-b"));
    new_branch(
        "ops",
        &[(
            "ops/pod.yaml".to_string(),
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: ops\nspec:\n  containers:\n    - name: ops\n      image: ghcr.io/acme/ops:1.0\n".to_string(),
        )],
    );
    let remote_arg = remote.to_str().unwrap();
    let checkout = |name: &str, branch: &str| {
        let dir = t.join(name);
        git(
            t,
            &[
                "clone",
                "--quiet",
                "-b",
                branch,
                remote_arg,
                dir.to_str().unwrap(),
            ],
        );
        dir
    };
    let a = checkout("a", "main");
    let b = checkout("b", "develop");
    let bases = [
        ("main", git(&remote, &["rev-parse", "main"])),
        ("develop", git(&remote, &["rev-parse", "develop"])),
    ];
    let svc = GitHubService::start_for_repo(&remote);
    let api = svc.api_url();
    let output = t.join("gh_output");
    let pr_migrate = |args: &[&str]| {
        harborize()
            .current_dir(t)
            .env("HOME", t)
            .env("GIT_AUTHOR_NAME", AUTHOR.0)
            .env("GIT_AUTHOR_EMAIL", AUTHOR.1)
            .env("GITHUB_TOKEN", TOKEN)
            .env("GITHUB_API_URL", &api)
            .env("GITHUB_REPOSITORY", format!("{OWNER}/{REPO}"))
            .env("GITHUB_OUTPUT", &output)
            .args(["migrate", "--harbor", HARBOR, "--pull-request"])
            .args(["--report-dir", "report"])
            .args(args)
            .output()
            .expect("harborize runs")
    };
    let (a_arg, b_arg) = (a.to_str().unwrap(), b.to_str().unwrap());
    let out = pr_migrate(&[a_arg, b_arg]);
    assert_eq!(code(&out), 0, "{}", show_out(&out));

    // One POST per repository, from its branch into its base.
    let log = svc.log();
    let posts: Vec<_> = log.iter().filter(|e| e.method == "POST").collect();
    assert_eq!(
        posts.len(),
        2,
        "{:?}",
        log.iter().map(|e| e.line()).collect::<Vec<_>>()
    );
    assert!(log.iter().all(|e| e.method != "PATCH"));
    let report = json_file(&t.join("report/migration-report.json"));
    let o = std::fs::read_to_string(&output).unwrap();
    for ((dir, arg), (base, base_sha)) in [(&a, a_arg), (&b, b_arg)].into_iter().zip(&bases) {
        let r = repo_entry(&report, arg);
        assert_eq!(r["status"], "migrated", "{r:#}");
        let pr = &r["pull_request"];
        let head = pr["head"].as_str().unwrap().to_string();
        assert_eq!(pr["base"], *base);
        assert_eq!(pr["created"], true);
        // The branch is named after the change: the base and every old → new.
        let items: Vec<String> = r["changes"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|f| f["references"].as_array().unwrap().iter())
            .map(|c| {
                format!(
                    "{} → {}",
                    c["original"].as_str().unwrap(),
                    c["rewritten"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(head, branch_name(&change_key("migrate", base, &items)));
        let post = posts
            .iter()
            .find(|p| p.json()["head"] == head.as_str())
            .unwrap_or_else(|| panic!("no POST from {head}"))
            .json();
        assert_eq!(post["base"], *base);
        assert_eq!(
            post["title"],
            "harborize: route container images through Harbor"
        );
        let body = post["body"].as_str().unwrap();
        assert!(o.contains(pr["url"].as_str().unwrap()), "{o}");

        // On the remote: the branch is our commit on top of the base; the base did not move.
        assert_eq!(git(&remote, &["rev-parse", base]), *base_sha);
        let sha = git(&remote, &["rev-parse", &head]);
        assert_eq!(r["commits"][0]["sha"], sha.as_str());
        assert_eq!(git(&remote, &["rev-parse", &format!("{sha}^")]), *base_sha);
        let committed = last_commit_files(&remote, &sha);
        let changed: Vec<String> = r["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["file"].as_str().unwrap().to_string())
            .collect();
        let mut changed_sorted = changed.clone();
        changed_sorted.sort();
        assert_eq!(committed, changed_sorted);
        for c in r["changes"][0]["references"].as_array().unwrap() {
            let row = format!(
                "| `{}` | `{}` |",
                c["original"].as_str().unwrap(),
                c["rewritten"].as_str().unwrap()
            );
            assert!(body.contains(&row), "{row} not in {body}");
        }
        // The work tree is back on its base branch, which did not move; clean.
        assert_eq!(git(dir, &["rev-parse", "--abbrev-ref", "HEAD"]), *base);
        assert_eq!(git(dir, &["rev-parse", "HEAD"]), *base_sha);
        assert_eq!(
            git(dir, &["status", "--porcelain", "--untracked-files=no"]),
            ""
        );
    }
    assert_eq!(svc.pulls().len(), 2);
    let md = std::fs::read_to_string(t.join("report/migration-report.md")).unwrap();
    assert!(md.contains("Pull request: [#1]("), "{md}");
    assert!(md.contains("Pull request: [#2]("), "{md}");
    let state = json_file(&t.join("report/migration-state.json"));
    assert_eq!(state["repos"].as_object().unwrap().len(), 2, "{state:#}");
    assert!(!stdout(&out).contains(TOKEN) && !o.contains(TOKEN));

    // Both finished: a rerun skips them. A third repository whose own remote names another
    // GitHub repository (its origin URL wins over GITHUB_REPOSITORY) that GitHub does not
    // know: its branch is pushed, the error goes into its report, it is not finished.
    let c = checkout("c", "ops");
    git(
        &c,
        &[
            "remote",
            "set-url",
            "origin",
            "https://github.com/other/elsewhere.git",
        ],
    );
    git(&c, &["remote", "set-url", "--push", "origin", remote_arg]);
    svc.clear_log();
    let c_arg = c.to_str().unwrap();
    let out = pr_migrate(&[a_arg, b_arg, c_arg]);
    assert_eq!(code(&out), 2, "{}", show_out(&out));
    let text = stdout(&out);
    assert!(text.contains(&format!("skipped       {a_arg}")), "{text}");
    assert!(text.contains(&format!("skipped       {b_arg}")), "{text}");
    assert!(text.contains(&format!("failed        {c_arg}")), "{text}");
    let log = svc.log();
    assert!(
        log.iter()
            .all(|e| e.path.starts_with("/repos/other/elsewhere/")),
        "{:?}",
        log.iter().map(|e| e.line()).collect::<Vec<_>>()
    );
    assert!(log.iter().all(|e| e.method == "GET" && e.status == 404));
    let report = json_file(&t.join("report/migration-report.json"));
    let rc = repo_entry(&report, c_arg);
    assert_eq!(rc["status"], "failed");
    let message = rc["message"].as_str().unwrap();
    assert!(message.contains("other/elsewhere"), "{message}");
    assert!(message.contains("404"), "{message}");
    assert!(!message.contains(TOKEN), "{message}");
    assert!(rc["pull_request"].is_null());
    let state = json_file(&t.join("report/migration-state.json"));
    assert_eq!(state["repos"].as_object().unwrap().len(), 2, "{state:#}");
    assert_eq!(git(&c, &["rev-parse", "--abbrev-ref", "HEAD"]), "ops");
    assert_eq!(svc.pulls().len(), 2);
}

/// An executable hook script in a bare remote.
fn remote_hook(remote: &Path, name: &str, script: &str) {
    let p = remote.join("hooks").join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{script}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn migrate_cmd(tmp: &Path, args: &[&str]) -> std::process::Command {
    let mut cmd = harborize();
    cmd.current_dir(tmp)
        .env("HOME", tmp)
        .env("GIT_AUTHOR_NAME", AUTHOR.0)
        .env("GIT_AUTHOR_EMAIL", AUTHOR.1)
        .arg("migrate")
        .args(args);
    cmd
}

/// Issue #17 item 7: a run killed between repositories (while the second one's push is
/// held by its remote) has recorded the first one, and only it; the rerun skips it, and a
/// push the remote declines leaves its repository unrecorded (failed, retried by the next
/// run) while the repositories after it go on; the third run finishes it.
#[test]
fn an_interrupted_migration_resumes_and_a_failed_push_is_never_recorded_finished() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (remote_a, url_a) = remote_repo(t, "a", "repo-a");
    let (remote_b, url_b) = remote_repo(t, "b", "repo-b");
    let (remote_c, url_c) = remote_repo(t, "c", "repo-a");
    // b's remote holds each push until the test writes its gate: "accept" lets it land,
    // anything else declines it.
    let arrived = t.join("b-arrived");
    let gate = t.join("b-gate");
    remote_hook(
        &remote_b,
        "pre-receive",
        &format!(
            "cat > /dev/null\n: > '{arrived}'\ni=0\n\
             while [ ! -s '{gate}' ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done\n\
             if grep -q accept '{gate}'; then exit 0; fi\n\
             echo 'b is closed for maintenance' >&2\nexit 1",
            arrived = arrived.display(),
            gate = gate.display()
        ),
    );
    let args = [
        "--harbor",
        HARBOR,
        "--push",
        "--workdir",
        "work",
        "--report-dir",
        "report",
        &url_a,
        &url_b,
        &url_c,
    ];
    let state_path = t.join("report/migration-state.json");
    let commits = |r: &Path| git(r, &["rev-list", "--count", "main"]);

    // Run 1: killed while b's push waits at its remote.
    let mut child = migrate_cmd(t, &args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !arrived.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended ({status}) before b's push reached its remote");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "b's push never arrived"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The orphaned push is declined once the gate is written.
    std::fs::write(&gate, "decline\n").unwrap();
    let state = json_file(&state_path);
    let recorded: Vec<&String> = state["repos"].as_object().unwrap().keys().collect();
    assert_eq!(recorded, [&url_a], "only a was finished: {state:#}");
    assert_eq!(state["repos"][&url_a]["pushed"], true);
    assert_eq!(commits(&remote_a), "2");
    assert_eq!(commits(&remote_b), "1");
    assert_eq!(commits(&remote_c), "1", "c was not started");
    let a_head = git(&remote_a, &["rev-parse", "main"]);

    // Run 2: a is skipped; b's push is declined: failed and not recorded; c migrates.
    let out = migrate(t, &args);
    assert_eq!(code(&out), 2, "{}", show_out(&out));
    let report = json_file(&t.join("report/migration-report.json"));
    assert_eq!(repo_entry(&report, &url_a)["status"], "skipped");
    let b = repo_entry(&report, &url_b);
    assert_eq!(b["status"], "failed", "{b:#}");
    assert_eq!(b["pushed"], false, "{b:#}");
    assert!(
        b["message"]
            .as_str()
            .unwrap_or("")
            .contains("closed for maintenance"),
        "{b:#}"
    );
    assert_eq!(repo_entry(&report, &url_c)["status"], "migrated");
    let state = json_file(&state_path);
    let mut recorded: Vec<&String> = state["repos"].as_object().unwrap().keys().collect();
    recorded.sort();
    let mut want = vec![&url_a, &url_c];
    want.sort();
    assert_eq!(recorded, want, "a failed push was recorded: {state:#}");
    assert_eq!(commits(&remote_b), "1");
    assert_eq!(commits(&remote_c), "2");
    assert_eq!(
        git(&remote_a, &["rev-parse", "main"]),
        a_head,
        "a ran again"
    );

    // Run 3: the remote takes b's push; a and c are skipped.
    std::fs::write(&gate, "accept\n").unwrap();
    let out = migrate(t, &args);
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    let report = json_file(&t.join("report/migration-report.json"));
    assert_eq!(repo_entry(&report, &url_a)["status"], "skipped");
    let b = repo_entry(&report, &url_b);
    // The clone kept run 1's unpushed migration commit (reused, not reset), so this run
    // may find nothing left to rewrite: what counts is that the commit is pushed now.
    assert!(
        b["status"] == "migrated" || b["status"] == "unchanged",
        "{b:#}"
    );
    assert_eq!(b["pushed"], true, "{b:#}");
    assert!(
        b["notes"].as_array().is_some_and(|n| n.iter().any(|n| n
            .as_str()
            .unwrap_or("")
            .contains("1 commit(s) of an earlier run not yet on origin/main"))),
        "the report must say the pushed commit is an earlier run's: {b:#}"
    );
    assert_eq!(repo_entry(&report, &url_c)["status"], "skipped");
    let state = json_file(&state_path);
    assert_eq!(state["repos"].as_object().unwrap().len(), 3, "{state:#}");
    assert_eq!(state["repos"][&url_b]["pushed"], true);
    assert_eq!(commits(&remote_b), "2");
    assert!(
        git(&remote_b, &["show", "main:infra/monitoring/agent.yaml"])
            .contains("image: harbor.example.com/docker-hub/grafana/alloy:v1.3.0")
    );
    assert_eq!(
        git(&remote_b, &["rev-parse", "main"]),
        git(&t.join("work/b"), &["rev-parse", "HEAD"])
    );
    assert_eq!(commits(&remote_a), "2");
    assert_eq!(commits(&remote_c), "2");
}

/// Issue #10: the pull-secret inventory comes from the plan's own read of each file, with
/// its decoding. A Secret manifest saved as UTF-16 (as Windows editors do) still says
/// which registries it holds credentials for: Harbor's own, so its secret stays (it was
/// missed when the inventory read the tree again with `read_to_string`, and became a
/// candidate). A one-line manifest saved with a UTF-8 byte-order mark (`kubectl get -o
/// json` style) has its images where the plan saw them: its secret is a candidate (the
/// mark shifted every column of the old read, so the image looked unrecognized).
#[test]
fn pull_secrets_are_found_in_bom_and_utf16_manifests() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let repo = t.join("repo");
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  template:\n    spec:\n      imagePullSecrets:\n        - name: utf16-creds\n      containers:\n        - name: web\n          image: nginx:1.27\n";
    write(&repo, "apps/deployment.yaml", deploy);
    let secret = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: utf16-creds\n  namespace: shop\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{{\"auths\":{{\"{HARBOR}\":{{\"auth\":\"eDp5\"}}}}}}'\n"
    );
    let mut utf16 = vec![0xff, 0xfe];
    utf16.extend(secret.encode_utf16().flat_map(u16::to_le_bytes));
    std::fs::write(repo.join("apps/secret.yaml"), utf16).unwrap();
    let pod = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"shop"},"spec":{"imagePullSecrets":[{"name":"bom-creds"}],"containers":[{"name":"c","image":"nginx:1.27"}]}}"#;
    std::fs::write(repo.join("apps/pod.yaml"), format!("\u{feff}{pod}\n")).unwrap();

    let out = migrate(
        t,
        &[
            "--harbor",
            HARBOR,
            "--pull-secrets",
            "pull-secrets.json",
            repo.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&out), 0, "{}", show_out(&out));
    let ps = json_file(&t.join("pull-secrets.json"));
    let one = |list: &str, name: &str| -> serde_json::Value {
        let found: Vec<_> = ps[list].as_array().unwrap().iter().collect();
        assert_eq!(found.len(), 1, "{ps:#}");
        assert_eq!(found[0]["secret"], name, "{ps:#}");
        found[0].clone()
    };
    let kept = one("kept", "utf16-creds");
    assert_eq!(
        kept["secret_registries"],
        serde_json::json!([HARBOR]),
        "{ps:#}"
    );
    assert_eq!(
        kept["uses"][0]["reason"],
        format!("the Secret holds credentials for Harbor ({HARBOR}) itself"),
        "{ps:#}"
    );
    let candidate = one("candidates", "bom-creds");
    assert_eq!(
        candidate["uses"][0]["reason"],
        "every image of Pod/p now comes through Harbor (was docker.io)",
        "{ps:#}"
    );
    assert_eq!(candidate["uses"][0]["file"], "apps/pod.yaml", "{ps:#}");
}
