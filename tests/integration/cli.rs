//! The command line as users meet it: exit codes, formats, errors, safety rules.
//! Every run clears the environment (see common::harborize).

use crate::support::common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;

const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: nginx:1.27 # pinned\n";

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn missing_harbor_host_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "d.yaml", DEPLOY);
    let out = run(&["rewrite", tmp.path().to_str().unwrap()]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("harborize failed"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("no Harbor host"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("d.yaml")).unwrap(),
        DEPLOY
    );
}

#[test]
fn harbor_host_comes_from_env_or_config() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "d.yaml", DEPLOY);
    let out = harborize()
        .args(["check", tmp.path().to_str().unwrap(), "--format", "json"])
        .env("HARBORIZE_HARBOR", "env.example.com")
        .output()
        .unwrap();
    assert_eq!(json(&out)["harbor"], "env.example.com");
    write(
        tmp.path(),
        "harborize.yaml",
        "harbor:\n  host: cfg.example.com\n",
    );
    let out = run(&["check", tmp.path().to_str().unwrap(), "--format", "json"]);
    assert_eq!(
        json(&out)["references"][0]["rewritten"],
        "cfg.example.com/docker-hub/library/nginx:1.27"
    );
}

#[test]
fn check_exits_1_on_pending_rewrites_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write(tmp.path(), "d.yaml", DEPLOY);
    let out = run(&["check", f.to_str().unwrap(), "--harbor", HARBOR]);
    assert_eq!(code(&out), 1);
    assert!(stdout(&out)
        .contains("would-rewrite nginx:1.27 -> harbor.example.com/docker-hub/library/nginx:1.27"));
    assert_eq!(std::fs::read_to_string(&f).unwrap(), DEPLOY);
    // After the rewrite the same check passes.
    assert_eq!(
        code(&run(&["rewrite", f.to_str().unwrap(), "--harbor", HARBOR])),
        0
    );
    assert_eq!(
        code(&run(&["check", f.to_str().unwrap(), "--harbor", HARBOR])),
        0
    );
}

#[test]
fn strict_check_fails_on_unmapped_and_invalid() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write(
        tmp.path(),
        "d.yaml",
        &DEPLOY.replace("nginx:1.27", "mcr.microsoft.com/dotnet/aspnet:8.0"),
    );
    assert_eq!(
        code(&run(&["check", f.to_str().unwrap(), "--harbor", HARBOR])),
        0
    );
    assert_eq!(
        code(&run(&[
            "check",
            f.to_str().unwrap(),
            "--harbor",
            HARBOR,
            "--strict"
        ])),
        1
    );
    let g = write(
        tmp.path(),
        "e.yaml",
        &DEPLOY.replace("nginx:1.27", "Foo/Bar:1"),
    );
    assert_eq!(
        code(&run(&[
            "check",
            g.to_str().unwrap(),
            "--harbor",
            HARBOR,
            "--strict"
        ])),
        1
    );
}

#[test]
fn per_file_errors_do_not_stop_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "a-broken.yaml", "image: [unclosed\nkey: : :\n");
    let good = write(tmp.path(), "b-good.yaml", DEPLOY);
    let out = run(&[
        "rewrite",
        tmp.path().to_str().unwrap(),
        "--harbor",
        HARBOR,
        "--format",
        "json",
    ]);
    assert_eq!(code(&out), 2);
    let v = json(&out);
    let err = &v["errors"][0];
    assert!(err["file"].as_str().unwrap().ends_with("a-broken.yaml"));
    assert!(err["line"].as_u64().unwrap() >= 1 && err["column"].as_u64().is_some());
    assert!(std::fs::read_to_string(good)
        .unwrap()
        .contains("harbor.example.com/docker-hub/library/nginx:1.27 # pinned"));
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("a-broken.yaml")).unwrap(),
        "image: [unclosed\nkey: : :\n"
    );
    // Text output names path:line:col (on stderr: diagnostics never mix into the report).
    let out = run(&["check", tmp.path().to_str().unwrap(), "--harbor", HARBOR]);
    let text = stderr(&out);
    assert!(
        text.lines()
            .any(|l| l.starts_with("error: ") && l.contains("a-broken.yaml:")),
        "{text}"
    );
}

#[test]
fn json_contract_has_every_field() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write(tmp.path(), "d.yaml", DEPLOY);
    let out = run(&[
        "rewrite",
        f.to_str().unwrap(),
        "--harbor",
        HARBOR,
        "--format",
        "json",
    ]);
    let v = json(&out);
    assert_eq!(v["version"], 1);
    assert_eq!(v["harbor"], HARBOR);
    let r = &v["references"][0];
    assert_eq!(r["file"], f.to_str().unwrap());
    assert_eq!(
        (r["line"].as_u64(), r["column"].as_u64()),
        (Some(10), Some(18))
    );
    assert_eq!(r["kind"], "image");
    assert_eq!(r["original"], "nginx:1.27");
    assert_eq!(r["normalized"], "docker.io/library/nginx:1.27");
    assert_eq!(r["status"], "rewritten");
    assert_eq!(
        r["rewritten"],
        "harbor.example.com/docker-hub/library/nginx:1.27"
    );
    assert_eq!(r["applied"], true);
    assert_eq!(v["files_changed"][0], f.to_str().unwrap());
    for key in [
        "files_scanned",
        "references",
        "rewritten",
        "already_proxied",
        "excluded",
        "unmapped",
        "templated",
        "invalid",
        "hints",
        "errors",
    ] {
        assert!(v["summary"][key].is_u64(), "summary.{key}");
    }
    assert_eq!(v["summary"]["rewritten"], 1);
}

#[test]
fn dry_run_and_diff_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write(tmp.path(), "d.yaml", DEPLOY);
    let out = run(&[
        "rewrite",
        f.to_str().unwrap(),
        "--harbor",
        HARBOR,
        "--dry-run",
        "--diff",
    ]);
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert!(
        text.contains("-          image: nginx:1.27 # pinned"),
        "{text}"
    );
    assert!(
        text.contains(
            "+          image: harbor.example.com/docker-hub/library/nginx:1.27 # pinned"
        ),
        "{text}"
    );
    assert_eq!(std::fs::read_to_string(&f).unwrap(), DEPLOY);
    let out = run(&[
        "rewrite",
        f.to_str().unwrap(),
        "--harbor",
        HARBOR,
        "--dry-run",
        "--format",
        "json",
    ]);
    assert_eq!(json(&out)["references"][0]["applied"], false);
}

#[test]
fn github_format_annotates_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write(tmp.path(), "d.yaml", DEPLOY);
    let out = run(&[
        "check",
        f.to_str().unwrap(),
        "--harbor",
        HARBOR,
        "--format",
        "github",
    ]);
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.starts_with("::error "))
        .expect("annotation");
    assert!(line.contains(",line=10,col=18,"), "{line}");
    assert!(
        line.contains("nginx:1.27 -> harbor.example.com/docker-hub/library/nginx:1.27"),
        "{line}"
    );
}

#[test]
fn bad_config_points_at_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "d.yaml", DEPLOY);
    write(
        tmp.path(),
        "harborize.yaml",
        "harbor:\n  host: h.example.com\nregistries:\n  gcr.io:\n    projekt: gcr\n",
    );
    let out = run(&["check", tmp.path().to_str().unwrap()]);
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(err.contains("harborize.yaml:5:"), "{err}");
    assert!(err.contains("projekt"), "{err}");
}

#[test]
fn symlinks_ignored_files_binary_and_non_utf8_are_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let target = write(outside.path(), "outside.yaml", DEPLOY);
    let repo = tmp.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    std::os::unix::fs::symlink(&target, repo.join("link.yaml")).unwrap();
    write(&repo, ".gitignore", "ignored.yaml\n");
    write(&repo, "ignored.yaml", DEPLOY);
    std::fs::write(repo.join("latin1.yaml"), b"image: caf\xe9\n").unwrap();
    std::fs::write(repo.join("binary.json"), b"{\"image\": \"nginx\"}\0\0").unwrap();
    let out = run(&[
        "rewrite",
        repo.to_str().unwrap(),
        "--harbor",
        HARBOR,
        "--format",
        "json",
    ]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        DEPLOY,
        "followed a symlink out of the tree"
    );
    assert!(std::fs::symlink_metadata(repo.join("link.yaml"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        std::fs::read_to_string(repo.join("ignored.yaml")).unwrap(),
        DEPLOY
    );
    assert_eq!(
        std::fs::read(repo.join("latin1.yaml")).unwrap(),
        b"image: caf\xe9\n"
    );
    let notes = json(&out)["notes"].to_string();
    assert!(
        notes.contains("not UTF-8") && notes.contains("binary") && notes.contains("symlink"),
        "{notes}"
    );
}

/// Issue #12 item 8: ignore rules apply to untracked files only. A manifest added on
/// purpose under an ignored path (`git add -f`) is read by check, rewrite and bump; an
/// untracked file beside it stays ignored.
#[test]
fn tracked_manifests_under_ignored_paths_are_read() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .current_dir(repo)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", repo)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .args(args)
            .output()
            .expect("git runs");
        assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    };
    git(&["init", "--quiet"]);
    write(repo, ".gitignore", "generated/\n");
    write(repo, "a.yaml", DEPLOY);
    write(repo, "generated/tracked.yaml", DEPLOY);
    write(repo, "generated/untracked.yaml", DEPLOY);
    git(&["add", "a.yaml", ".gitignore"]);
    git(&["add", "-f", "generated/tracked.yaml"]);
    // Tracked but deleted from disk since: not a file to read (no error either).
    write(repo, "generated/gone.yaml", DEPLOY);
    git(&["add", "-f", "generated/gone.yaml"]);
    std::fs::remove_file(repo.join("generated/gone.yaml")).unwrap();
    let dir = repo.to_str().unwrap();
    let files_of = |out: &std::process::Output| -> Vec<String> {
        json(out)["references"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r["file"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches(dir)
                    .to_string()
            })
            .collect()
    };
    let out = run(&["check", dir, "--harbor", HARBOR, "--format", "json"]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert_eq!(files_of(&out), ["/a.yaml", "/generated/tracked.yaml"]);

    let out = harborize()
        .args([
            "bump", "--harbor", HARBOR, "--image", "nginx", "--tag", "1.28",
        ])
        .args(["--format", "json", dir])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let bumped = std::fs::read_to_string(repo.join("generated/tracked.yaml")).unwrap();
    assert!(
        bumped.contains("harbor.example.com/docker-hub/library/nginx:1.28"),
        "{bumped}"
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("generated/untracked.yaml")).unwrap(),
        DEPLOY
    );

    write(repo, "generated/tracked.yaml", DEPLOY);
    let out = run(&["rewrite", dir, "--harbor", HARBOR, "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let rewritten = std::fs::read_to_string(repo.join("generated/tracked.yaml")).unwrap();
    assert!(
        rewritten.contains("harbor.example.com/docker-hub/library/nginx:1.27"),
        "{rewritten}"
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("generated/untracked.yaml")).unwrap(),
        DEPLOY
    );
}

/// Issue #12 item 15: an image reached through a compose merge key (`<<: *common`) is a
/// reference: `check --strict` sees it, and `rewrite` edits it once, at the anchor.
#[test]
fn compose_images_behind_merge_keys_are_checked_and_rewritten_at_the_anchor() {
    let tmp = tempfile::tempdir().unwrap();
    let text = "x-common: &common\n  image: nginx:1.27\nservices:\n  web:\n    <<: *common\n  api:\n    <<: *common\n";
    let f = write(tmp.path(), "compose.yaml", text);
    let path = f.to_str().unwrap();
    let out = run(&[
        "check", path, "--harbor", HARBOR, "--strict", "--format", "json",
    ]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    let refs = json(&out)["references"].clone();
    assert_eq!(refs.as_array().unwrap().len(), 1, "{refs}");
    assert_eq!(
        (refs[0]["line"].as_u64(), refs[0]["kind"].as_str()),
        (Some(2), Some("compose"))
    );
    assert_eq!(code(&run(&["rewrite", path, "--harbor", HARBOR])), 0);
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        text.replace(
            "nginx:1.27",
            "harbor.example.com/docker-hub/library/nginx:1.27"
        )
    );
    assert_eq!(
        code(&run(&["check", path, "--harbor", HARBOR, "--strict"])),
        0
    );
}

const WORKFLOW: &str = "on: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest\n    container: node:20\n    services:\n      redis:\n        image: redis:7\n    steps:\n      - uses: actions/checkout@v4\n      - uses: docker://alpine:3.20\n";
const GITLAB: &str = "image: python:3.12\nservices:\n  - postgres:16\n  - name: ghcr.io/org/db:1\n    alias: db\ntest:\n  image:\n    name: ghcr.io/org/tester:1.0\n  script: [pytest]\n";

/// Issue #12 item 16: CI configuration is not Helm values. Known CI files are left alone
/// by default (CI runners often cannot reach Harbor) and read with `include_ci: true`.
#[test]
fn ci_configuration_is_left_alone_unless_include_ci() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path();
    write(repo, ".github/workflows/test.yml", WORKFLOW);
    write(repo, ".gitlab-ci.yml", GITLAB);
    write(
        repo,
        ".circleci/config.yml",
        "jobs:\n  a:\n    docker:\n      - image: cimg/base:2024.01\n",
    );
    write(
        repo,
        ".woodpecker/build.yaml",
        "steps:\n  - name: b\n    image: golang:1.22\n",
    );
    write(repo, "bitbucket-pipelines.yml", "image: node:20\n");
    write(
        repo,
        ".drone.yml",
        "kind: pipeline\nsteps:\n  - name: b\n    image: golang:1.22\n",
    );
    write(repo, "d.yaml", DEPLOY);
    let dir = repo.to_str().unwrap();
    let out = run(&["rewrite", dir, "--harbor", HARBOR, "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let v = json(&out);
    assert_eq!(v["references"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(
        std::fs::read_to_string(repo.join(".github/workflows/test.yml")).unwrap(),
        WORKFLOW
    );
    assert_eq!(
        std::fs::read_to_string(repo.join(".gitlab-ci.yml")).unwrap(),
        GITLAB
    );
    let notes = v["notes"].to_string();
    for what in [
        "GitHub Actions workflow",
        "GitLab CI",
        "CircleCI",
        "Woodpecker",
        "Bitbucket",
        "Drone",
    ] {
        assert!(
            notes.contains(what) && notes.contains("include_ci"),
            "{what}: {notes}"
        );
    }

    write(repo, "harborize.yaml", "include_ci: true\n");
    let out = run(&["rewrite", dir, "--harbor", HARBOR, "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let kinds: Vec<String> = json(&out)["references"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds.iter().filter(|k| *k == "ci").count(), 11, "{kinds:?}");
    let h = |path: &str| format!("{HARBOR}/{path}");
    assert_eq!(
        std::fs::read_to_string(repo.join(".github/workflows/test.yml")).unwrap(),
        WORKFLOW
            .replace("node:20", &h("docker-hub/library/node:20"))
            .replace("redis:7", &h("docker-hub/library/redis:7"))
            .replace(
                "docker://alpine:3.20",
                &format!("docker://{}", h("docker-hub/library/alpine:3.20"))
            )
    );
    assert_eq!(
        std::fs::read_to_string(repo.join(".gitlab-ci.yml")).unwrap(),
        GITLAB
            .replace("python:3.12", &h("docker-hub/library/python:3.12"))
            .replace("postgres:16", &h("docker-hub/library/postgres:16"))
            .replace("ghcr.io/org/db:1", &h("ghcr/org/db:1"))
            .replace("ghcr.io/org/tester:1.0", &h("ghcr/org/tester:1.0"))
    );
}

/// Issue #12 item 18: a UTF-16 manifest (with a BOM) is decoded, and one that can hold a
/// reference is an `unsupported-encoding` error (so `check` fails), never written; other
/// UTF-16 text is passed over quietly.
#[test]
fn utf16_manifests_are_reported_as_unsupported() {
    let tmp = tempfile::tempdir().unwrap();
    let encode = |text: &str, be: bool| -> Vec<u8> {
        let mut out = if be {
            vec![0xFE, 0xFF]
        } else {
            vec![0xFF, 0xFE]
        };
        for u in text.encode_utf16() {
            out.extend(if be { u.to_be_bytes() } else { u.to_le_bytes() });
        }
        out
    };
    let le = encode(DEPLOY, false);
    let be = encode(DEPLOY, true);
    std::fs::write(tmp.path().join("le.yaml"), &le).unwrap();
    std::fs::write(tmp.path().join("be.yaml"), &be).unwrap();
    std::fs::write(tmp.path().join("other.json"), encode("{\"a\": 1}", false)).unwrap();
    let dir = tmp.path().to_str().unwrap();
    for args in [
        vec!["check", "--strict"],
        vec!["check"],
        vec!["rewrite"],
        vec!["bump", "--image", "nginx", "--tag", "2"],
    ] {
        let out = harborize()
            .args(&args)
            .args([dir, "--harbor", HARBOR, "--format", "json"])
            .output()
            .unwrap();
        assert_eq!(code(&out), 2, "{args:?}: {}", stdout(&out));
        let errors = json(&out)["errors"].to_string();
        assert!(
            errors.contains("unsupported-encoding: UTF-16LE")
                && errors.contains("unsupported-encoding: UTF-16BE"),
            "{args:?}: {errors}"
        );
        assert!(!errors.contains("other.json"), "{errors}");
    }
    assert_eq!(std::fs::read(tmp.path().join("le.yaml")).unwrap(), le);
    assert_eq!(std::fs::read(tmp.path().join("be.yaml")).unwrap(), be);
}

/// Issue #12 item 18: two `image:` keys in one mapping are an error (YAML requires unique
/// keys; readers differ on which wins), reported at the second, and nothing is written.
#[test]
fn duplicate_image_keys_are_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let text = DEPLOY.replace(
        "# pinned\n",
        "# pinned\n          image: ghcr.io/evil/x:1\n",
    );
    let f = write(tmp.path(), "d.yaml", &text);
    for verb in ["check", "rewrite"] {
        let out = run(&[
            verb,
            f.to_str().unwrap(),
            "--harbor",
            HARBOR,
            "--format",
            "json",
        ]);
        assert_eq!(code(&out), 2, "{verb}: {}", stdout(&out));
        let e = &json(&out)["errors"][0];
        assert_eq!(
            (e["line"].as_u64(), e["column"].as_u64()),
            (Some(11), Some(11)),
            "{e}"
        );
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .contains("duplicate key \"image\""),
            "{e}"
        );
    }
    assert_eq!(std::fs::read_to_string(&f).unwrap(), text);
}

#[test]
fn alias_bombs_and_deep_nesting_neither_crash_nor_blow_up() {
    let tmp = tempfile::tempdir().unwrap();
    let mut bomb = String::from(
        "a: &a [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n",
    );
    for (i, prev) in ["b", "c", "d", "e", "f", "g", "h", "i"]
        .iter()
        .zip(["a", "b", "c", "d", "e", "f", "g", "h"])
    {
        bomb.push_str(&format!("{i}: &{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
    }
    bomb.push_str("image: nginx:1.27\n");
    write(tmp.path(), "bomb.yaml", &bomb);
    write(
        tmp.path(),
        "deep.yaml",
        &format!("image: {}\n", "[".repeat(50_000)),
    );
    let out = run(&[
        "rewrite",
        tmp.path().to_str().unwrap(),
        "--harbor",
        HARBOR,
        "--format",
        "json",
    ]);
    assert_eq!(code(&out), 2, "deep.yaml must be reported as an error");
    let v = json(&out);
    assert_eq!(v["errors"].as_array().unwrap().len(), 1);
    assert!(std::fs::read_to_string(tmp.path().join("bomb.yaml"))
        .unwrap()
        .contains("image: harbor.example.com/docker-hub/library/nginx:1.27"));
}

#[test]
fn writes_are_atomic_and_keep_permissions() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write(tmp.path(), "d.yaml", DEPLOY);
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
    assert_eq!(
        code(&run(&["rewrite", f.to_str().unwrap(), "--harbor", HARBOR])),
        0
    );
    assert_eq!(
        std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
        0o640
    );
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "temporary files left: {leftovers:?}");
}

#[test]
fn no_colour_when_not_a_terminal_or_no_color_set() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write(tmp.path(), "d.yaml", DEPLOY);
    let out = harborize()
        .args(["check", f.to_str().unwrap(), "--harbor", HARBOR])
        .env("NO_COLOR", "1")
        .env("CLICOLOR_FORCE", "1")
        .output()
        .unwrap();
    assert!(!stdout(&out).contains('\u{1b}'), "escape codes in output");
}

#[test]
fn committed_schema_matches_the_config_types() {
    let out = run(&["schema"]);
    assert_eq!(code(&out), 0);
    let committed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("harborize.schema.json"),
    )
    .unwrap();
    assert_eq!(
        stdout(&out),
        committed,
        "regenerate with: harborize schema > harborize.schema.json"
    );
    assert!(committed.contains("\"registries\"") && committed.contains("\"rules\""));
}

#[test]
fn hints_are_reported_and_rewritten_only_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let text = DEPLOY.replace(
        "# pinned\n",
        "# pinned\n          args: [\"--helper-image=busybox:1.36\"]\n",
    );
    let f = write(tmp.path(), "d.yaml", &text);
    let out = run(&[
        "rewrite",
        f.to_str().unwrap(),
        "--harbor",
        HARBOR,
        "--format",
        "json",
    ]);
    assert_eq!(json(&out)["summary"]["hints"], 1);
    assert!(std::fs::read_to_string(&f)
        .unwrap()
        .contains("--helper-image=busybox:1.36"));
    run(&[
        "rewrite",
        f.to_str().unwrap(),
        "--harbor",
        HARBOR,
        "--rewrite-hints",
    ]);
    assert!(std::fs::read_to_string(&f)
        .unwrap()
        .contains("\"--helper-image=harbor.example.com/docker-hub/library/busybox:1.36\""));
}

#[test]
fn output_is_in_sorted_walk_order_and_the_config_file_is_not_a_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["b/z.yaml", "a/y.yaml", "a-b.yaml", "a/x/w.yaml", "c.yaml"] {
        write(tmp.path(), name, DEPLOY);
    }
    write(
        tmp.path(),
        "harborize.yaml",
        "harbor:\n  host: harbor.example.com\nscan:\n  allow:\n    - image: docker.io/library/*\n      ids: [CVE-1]\n",
    );
    let out = run(&["check", tmp.path().to_str().unwrap(), "--format", "json"]);
    let v = json(&out);
    let files: Vec<String> = v["references"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            Path::new(r["file"].as_str().unwrap())
                .strip_prefix(tmp.path())
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    assert_eq!(
        files,
        ["a/x/w.yaml", "a/y.yaml", "a-b.yaml", "b/z.yaml", "c.yaml"]
    );
}

/// Issue 12 item 14: a Harbor host that is not a registry domain would be written in front
/// of every reference; it stops the run before anything is read or written.
#[test]
fn invalid_harbor_hosts_are_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write(tmp.path(), "d.yaml", DEPLOY);
    for bad in [
        "harbor.example.com:",
        "user:pw@harbor.example.com",
        "harbor.example.com:99999",
        "harbor.example.com:0",
        "a..b",
        "härbor.example.com",
        "-harbor.example.com",
        "harbor_example.com",
    ] {
        let flag = format!("--harbor={bad}");
        let out = run(&["rewrite", f.to_str().unwrap(), &flag]);
        assert_eq!(code(&out), 2, "{bad}: {}", stdout(&out));
        assert!(
            stderr(&out).contains("invalid Harbor host"),
            "{bad}: {}",
            stderr(&out)
        );
        assert!(!stderr(&out).contains("pw@"), "the password is echoed back");
        assert_eq!(std::fs::read_to_string(&f).unwrap(), DEPLOY, "{bad}");
    }
    // The same host in harborize.yaml is refused with the key named.
    write(
        tmp.path(),
        "harborize.yaml",
        "harbor:\n  host: 'h.example.com:'\n",
    );
    let out = run(&["check", f.to_str().unwrap()]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("harbor.host"), "{}", stderr(&out));
    std::fs::remove_file(tmp.path().join("harborize.yaml")).unwrap();
    for good in [
        "harbor.example.com:8443",
        "[::1]:5000",
        "HARBOR.example.com",
    ] {
        let out = run(&[
            "check",
            f.to_str().unwrap(),
            "--harbor",
            good,
            "--format",
            "json",
        ]);
        assert_eq!(code(&out), 1, "{good}: {}", stderr(&out));
        let rewritten = json(&out)["references"][0]["rewritten"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            rewritten.starts_with(&format!("{}/docker-hub/", good.to_ascii_lowercase())),
            "{rewritten}"
        );
    }
}

/// Issue 12 item 14: projects and rule replacements are paths of every routed reference.
#[test]
fn config_projects_and_rule_replacements_must_be_valid_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write(tmp.path(), "d.yaml", DEPLOY);
    let cases = [
        (
            "registries:\n  docker.io: {project: UPPER}\n",
            "registries.docker.io.project",
        ),
        (
            "registries:\n  docker.io: {project: 'a b'}\n",
            "registries.docker.io.project",
        ),
        (
            "rules:\n  - {match: 'docker.io/(.*)', replace: 'Team/$1'}\n",
            "rules[0].replace",
        ),
        (
            "rules:\n  - {match: 'docker.io/(.*)', replace: 'team//${1}'}\n",
            "rules[0].replace",
        ),
    ];
    for (config, key) in cases {
        write(tmp.path(), "harborize.yaml", config);
        let out = run(&["rewrite", f.to_str().unwrap(), "--harbor", HARBOR]);
        assert_eq!(code(&out), 2, "{config}");
        assert!(stderr(&out).contains(key), "{config}: {}", stderr(&out));
        assert_eq!(std::fs::read_to_string(&f).unwrap(), DEPLOY);
    }
    // A valid replacement with captures is accepted...
    write(
        tmp.path(),
        "harborize.yaml",
        "rules:\n  - {match: 'docker.io/library/(ngin)(.*)', replace: 'team/${1}-$2'}\n",
    );
    let out = run(&[
        "check",
        f.to_str().unwrap(),
        "--harbor",
        HARBOR,
        "--format",
        "json",
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(
        json(&out)["references"][0]["rewritten"],
        "harbor.example.com/team/ngin-x:1.27"
    );
    // ...but a capture that makes the path invalid (an empty group: `team//nginx`) is
    // caught per reference: reported invalid, never written, and check fails on it.
    write(
        tmp.path(),
        "harborize.yaml",
        "rules:\n  - {match: 'docker.io/library/(nginx)()', replace: 'team/${2}/$1'}\n",
    );
    let out = run(&[
        "rewrite",
        f.to_str().unwrap(),
        "--harbor",
        HARBOR,
        "--format",
        "json",
    ]);
    let entry = &json(&out)["references"][0];
    assert_eq!(entry["status"], "invalid", "{entry}");
    assert!(entry["message"]
        .as_str()
        .unwrap()
        .contains("would not be valid"));
    assert_eq!(std::fs::read_to_string(&f).unwrap(), DEPLOY);
    assert_eq!(
        code(&run(&["check", f.to_str().unwrap(), "--harbor", HARBOR])),
        1
    );
}

/// Issue 12 item 18: the configuration of a repository is found inside it, never above.
#[test]
fn config_discovery_stops_at_the_git_root() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "harborize.yaml",
        "harbor:\n  host: outside.example.com\n",
    );
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    let f = write(&repo, "apps/d.yaml", DEPLOY);
    let out = run(&["check", f.to_str().unwrap()]);
    assert_eq!(code(&out), 2, "{}", stdout(&out));
    assert!(stderr(&out).contains("no Harbor host"), "{}", stderr(&out));
    // Inside the repository it is found from any depth.
    write(
        &repo,
        "harborize.yaml",
        "harbor:\n  host: inside.example.com\n",
    );
    let out = run(&["check", f.to_str().unwrap(), "--format", "json"]);
    assert_eq!(json(&out)["harbor"], "inside.example.com");
}

/// Issue 12 item 18: a reference that bypasses Harbor but sits in a scalar harborize cannot
/// edit in place (escapes) fails `check` even without --strict; a registry domain that is
/// not lowercase is not guessed to be Docker Hub; Harbor's own images stay direct wherever
/// Harbor publishes them.
#[test]
fn uneditable_uppercase_and_goharbor_references_are_decided_not_guessed() {
    let tmp = tempfile::tempdir().unwrap();
    let escaped = DEPLOY.replace("image: nginx:1.27 # pinned", "image: \"nginx\\x3a1.27\"");
    let f = write(tmp.path(), "d.yaml", &escaped);
    let out = run(&[
        "check",
        f.to_str().unwrap(),
        "--harbor",
        HARBOR,
        "--format",
        "json",
    ]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert_eq!(json(&out)["references"][0]["status"], "invalid");
    assert_eq!(
        code(&run(&["rewrite", f.to_str().unwrap(), "--harbor", HARBOR])),
        0
    );
    assert_eq!(std::fs::read_to_string(&f).unwrap(), escaped);

    let upper = DEPLOY.replace("nginx:1.27", "Docker.io/nginx:1.27");
    let f = write(tmp.path(), "d.yaml", &upper);
    let out = run(&[
        "rewrite",
        f.to_str().unwrap(),
        "--harbor",
        HARBOR,
        "--format",
        "json",
    ]);
    let entry = &json(&out)["references"][0];
    assert_eq!(entry["status"], "invalid", "{entry}");
    assert!(entry["message"].as_str().unwrap().contains("not lowercase"));
    assert_eq!(std::fs::read_to_string(&f).unwrap(), upper);

    let harbor_own = DEPLOY.replace("nginx:1.27", "ghcr.io/goharbor/harbor-core:v2.11.0");
    let f = write(tmp.path(), "d.yaml", &harbor_own);
    let out = run(&[
        "check",
        f.to_str().unwrap(),
        "--harbor",
        HARBOR,
        "--format",
        "json",
    ]);
    assert_eq!(json(&out)["references"][0]["status"], "excluded");
    assert_eq!(code(&out), 0);
}

/// Issue 12 item 17: a file beyond `max_file_size` is skipped with a note saying how to
/// include it, before it is read (its tree would cost a multiple of its size).
#[test]
fn files_over_the_size_limit_are_skipped_with_a_note() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write(tmp.path(), "d.yaml", DEPLOY);
    write(tmp.path(), "harborize.yaml", "max_file_size: 100\n");
    let out = run(&[
        "rewrite",
        tmp.path().to_str().unwrap(),
        "--harbor",
        HARBOR,
        "--format",
        "json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["references"].as_array().unwrap().len(), 0);
    let note = report["notes"][0]["message"].as_str().unwrap();
    assert!(note.contains("max_file_size"), "{note}");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), DEPLOY);
    write(
        tmp.path(),
        "harborize.yaml",
        &format!("max_file_size: {}\n", DEPLOY.len()),
    );
    let out = run(&[
        "rewrite",
        tmp.path().to_str().unwrap(),
        "--harbor",
        HARBOR,
        "--format",
        "json",
    ]);
    assert_eq!(json(&out)["summary"]["rewritten"], 1);
}

/// Issue #12 item 13: file names and YAML values reach the log of a GitHub Actions step,
/// and the runner treats a line starting with `::` (after white space), or holding `##[`,
/// as a workflow command. A file name with a newline, one starting with `::`, one with
/// `##[`, and a block-scalar image value with a `::set-output` line must not produce such
/// a line, in the text format nor in the github format (whose only commands are
/// harborize's own annotations).
#[test]
fn output_cannot_inject_github_workflow_commands() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "a\n::set-output name=x::y.yaml", DEPLOY);
    write(tmp.path(), "::error::pwned.yaml", DEPLOY);
    write(tmp.path(), "z##[error]legacy.yaml", DEPLOY);
    write(
        tmp.path(),
        "block.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: c\n      image: |\n        nginx:1.27\n        ::add-mask::x\n",
    );
    let runs = [
        vec!["check", "--harbor", HARBOR, "."],
        vec!["check", "--harbor", HARBOR, "::error::pwned.yaml"],
        vec!["rewrite", "--harbor", HARBOR, "--dry-run", "."],
        vec!["check", "--harbor", HARBOR, "--format", "github", "."],
    ];
    for args in runs {
        let out = harborize()
            .current_dir(tmp.path())
            .args(&args)
            .output()
            .unwrap();
        assert_ne!(code(&out), 2, "{args:?}: {}", stderr(&out));
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(all.contains("pwned.yaml"), "{args:?}: not reported: {all}");
        for line in all.lines() {
            assert!(!line.contains("##["), "{args:?}: legacy command: {line:?}");
            let Some(rest) = line.trim_start().strip_prefix("::") else {
                continue;
            };
            let command = rest.split([' ', ':']).next().unwrap_or_default();
            assert!(
                args.contains(&"github") && ["error", "warning", "notice"].contains(&command),
                "{args:?}: workflow command {command:?} in {line:?}"
            );
            assert!(!line.contains(['\r', '\u{1b}']), "{line:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Issue #12: what a write keeps, what it refuses, what it leaves behind.

#[test]
fn rewrite_keeps_owner_group_mode_and_extended_attributes() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write(tmp.path(), "d.yaml", DEPLOY);
    std::os::unix::fs::chown(&f, Some(4321), Some(4322))
        .expect("chown to another user (the tests run as root)");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
    rustix::fs::setxattr(
        &f,
        "user.harborize-test",
        b"kept",
        rustix::fs::XattrFlags::empty(),
    )
    .expect("user extended attributes on the test filesystem");
    let out = run(&["rewrite", f.to_str().unwrap(), "--harbor", HARBOR]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(std::fs::read_to_string(&f)
        .unwrap()
        .contains("image: harbor.example.com/docker-hub/library/nginx:1.27"));
    let meta = std::fs::metadata(&f).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!((meta.uid(), meta.gid()), (4321, 4322), "owner and group");
    assert_eq!(meta.mode() & 0o7777, 0o640, "mode");
    let mut value = [0u8; 16];
    let n = rustix::fs::getxattr(&f, "user.harborize-test", &mut value)
        .expect("the extended attribute is kept");
    assert_eq!(&value[..n], b"kept");
}

#[test]
fn a_file_with_hard_links_is_refused_and_every_name_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write(tmp.path(), "d.yaml", DEPLOY);
    let other = tmp.path().join("other-name");
    std::fs::hard_link(&f, &other).unwrap();
    let out = run(&[
        "rewrite",
        f.to_str().unwrap(),
        "--harbor",
        HARBOR,
        "--format",
        "json",
    ]);
    assert_eq!(code(&out), 2, "{}", stdout(&out));
    let v = json(&out);
    let message = v["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("2 hard links"), "{message}");
    assert_eq!(v["files_changed"], serde_json::json!([]));
    assert_eq!(std::fs::read_to_string(&f).unwrap(), DEPLOY);
    assert_eq!(std::fs::read_to_string(&other).unwrap(), DEPLOY);
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&f).unwrap().nlink(), 2, "links not split");
}

#[test]
fn a_failed_write_is_an_error_and_not_reported_as_rewritten_or_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let stuck = write(tmp.path(), "ro/d.yaml", DEPLOY);
    let ok = write(tmp.path(), "ok.yaml", DEPLOY);
    let _immutable = Immutable::set(&tmp.path().join("ro"));
    let args = [
        "rewrite",
        tmp.path().to_str().unwrap(),
        "--harbor",
        HARBOR,
        "--format",
        "json",
    ];
    let out = run(&args);
    assert_eq!(code(&out), 2, "{}", stdout(&out));
    let v = json(&out);
    assert_eq!(
        v["files_changed"],
        serde_json::json!([ok.to_str().unwrap()]),
        "only what reached the disk is listed"
    );
    let errors = v["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["file"], stuck.to_str().unwrap());
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("cannot write"),
        "{errors:?}"
    );
    assert_eq!(v["summary"]["rewritten"], 1, "{}", v["summary"]);
    for r in v["references"].as_array().unwrap() {
        let written = r["file"] == ok.to_str().unwrap();
        assert_eq!(r["applied"], written, "{r}");
    }
    assert_eq!(std::fs::read_to_string(&stuck).unwrap(), DEPLOY);
    // Text: the file that was not written is not called rewritten.
    let out = run(&args[..4]);
    assert_eq!(code(&out), 2);
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.starts_with(stuck.to_str().unwrap()))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains(": not-written "), "{line}");
    assert!(text.contains("0 files changed, 1 errors"), "{text}");
}

/// A generated tree: `dirs` directories of `files` Deployments with `containers` images.
fn generate_tree(root: &Path, dirs: usize, files: usize, containers: usize) {
    for d in 0..dirs {
        for f in 0..files {
            let mut text = format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{d}-{f}\nspec:\n  template:\n    spec:\n      containers:\n"
            );
            for c in 0..containers {
                text.push_str(&format!(
                    "        - name: c{c}\n          image: nginx:1.{c} # keep\n"
                ));
            }
            write(root, &format!("d{d}/app-{f}.yaml"), &text);
        }
    }
}

/// Every file under `root`, relative, with its content.
fn snapshot(root: &Path) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    files(root)
        .into_iter()
        .map(|rel| {
            let bytes = std::fs::read(root.join(&rel)).unwrap();
            (rel, bytes)
        })
        .collect()
}

/// Each file is either as generated or as a full rewrite makes it, and nothing else is
/// there (no temporary file).
fn assert_original_or_rewritten(
    root: &Path,
    original: &std::collections::BTreeMap<std::path::PathBuf, Vec<u8>>,
    rewritten: &std::collections::BTreeMap<std::path::PathBuf, Vec<u8>>,
    when: &str,
) {
    let now = snapshot(root);
    let strays: Vec<_> = now.keys().filter(|k| !original.contains_key(*k)).collect();
    assert!(
        strays.is_empty(),
        "{when}: files left beside the manifests: {strays:?}"
    );
    assert_eq!(now.len(), original.len(), "{when}: files went missing");
    for (rel, bytes) in &now {
        assert!(
            bytes == &original[rel] || bytes == &rewritten[rel],
            "{when}: {} is neither original nor fully rewritten",
            rel.display()
        );
    }
}

#[test]
fn killed_rewrites_leave_every_file_original_or_rewritten_and_no_temp_file_after_the_next_run() {
    use std::os::unix::process::ExitStatusExt;
    let pristine = tempfile::tempdir().unwrap();
    // 1,200 files: more than two chunks of a streaming write batch (512 files), so kills
    // also land while earlier chunks are renamed and later ones still staged.
    generate_tree(pristine.path(), 6, 200, 3);
    let original = snapshot(pristine.path());
    // A full run, timed: the kills land anywhere inside one.
    let full = tempfile::tempdir().unwrap();
    copy_tree(pristine.path(), full.path());
    let rewrite = |root: &Path| {
        let mut cmd = harborize();
        cmd.args(["rewrite", root.to_str().unwrap(), "--harbor", HARBOR])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        cmd
    };
    let started = std::time::Instant::now();
    assert!(rewrite(full.path()).status().unwrap().success());
    let duration = started.elapsed();
    let rewritten = snapshot(full.path());
    assert_ne!(rewritten, original);

    let mut interrupted = 0;
    for trial in 0..8 {
        let sigterm = trial % 2 == 0;
        let work = tempfile::tempdir().unwrap();
        copy_tree(pristine.path(), work.path());
        let mut child = rewrite(work.path()).spawn().unwrap();
        std::thread::sleep(duration.mul_f64(rand::random_range(0.05..0.95)));
        if sigterm {
            let sent = std::process::Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(sent.success());
        } else {
            child.kill().unwrap();
        }
        let status = child.wait().unwrap();
        let killed = status.signal().is_some();
        interrupted += usize::from(killed);
        let when = format!(
            "trial {trial} ({}, {status})",
            if sigterm { "SIGTERM" } else { "SIGKILL" }
        );
        if sigterm {
            // SIGTERM: the run cleans up after itself before it dies.
            assert_original_or_rewritten(work.path(), &original, &rewritten, &when);
        }
        // A temporary file left by an earlier killed run (as SIGKILL leaves them).
        let stale = work.path().join("d3/.app-7.yaml.harborize-tmp-Zq81xP");
        std::fs::write(&stale, "apiVersion: apps/v1\nkind: Depl").unwrap();
        let next = rewrite(work.path()).status().unwrap();
        assert!(next.success(), "{when}: the next run: {next}");
        assert_original_or_rewritten(work.path(), &original, &rewritten, &when);
        assert_eq!(snapshot(work.path()), rewritten, "{when}: the next run");
    }
    assert!(
        interrupted >= 4,
        "only {interrupted} of 8 runs were killed before they finished: the tree is too small"
    );
}

/// Peak resident memory (KB) and exit code of one run of harborize with `args`.
///
/// Not measured from this process: a child started from here (`posix_spawn`, which shares
/// the test process's memory until `exec`, or `fork`, which copies it) inherits the test
/// process's own high-water mark in `ru_maxrss`, and this process holds every concurrent
/// test's data (289 MB was seen). A small Python process forks (copying only its own few
/// MB), execs harborize, and reports that child's `wait4` rusage.
fn peak_rss_kb(args: &[&str]) -> (i64, i32) {
    const MEASURE: &str = "import os, sys
pid = os.fork()
if pid == 0: os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(usage.ru_maxrss, os.waitstatus_to_exitcode(status))
";
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(MEASURE)
        .arg(crate::support::common::binary())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .expect("python3 (on PATH: scripts/install-test-tools.sh puts a venv there)");
    let text = String::from_utf8_lossy(&out.stdout);
    // harborize's own report comes first on the shared stdout; the measure is the last line.
    let last = text.lines().last().unwrap_or_default().to_string();
    let mut parts = last.split_whitespace().map(|p| p.parse::<i64>());
    match (parts.next(), parts.next()) {
        (Some(Ok(kb)), Some(Ok(code))) => (kb, code as i32),
        _ => panic!(
            "no measure from python3: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// Issue 12 item 17: the tree of one 4 MB flow sequence (700,000 scalars) once took 40x
/// the file in memory; `rewrite` must stay within 20x (BENCHMARKS.md, "Memory"). The
/// sequence sits under the first container, then under a second one: the parser's shared
/// child stack then holds the first container below it, and a sequence copied off that
/// stack when it closed peaked at 19x the file (release), where its own vector stays at 11x.
#[test]
fn rewrite_of_a_large_flow_sequence_stays_within_20x_the_file_in_memory() {
    for before in ["", "    - name: a\n      image: nginx:1.27\n"] {
        let tmp = tempfile::tempdir().unwrap();
        let mut text = format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n{before}    - name: c\n      image: nginx:1.27\n      args: [",
        );
        let mut i = 0;
        while text.len() < 4_000_000 {
            text.push_str(&format!("a{}, ", i % 1000));
            i += 1;
        }
        text.push_str("z]\n");
        let file = write(tmp.path(), "flow.yaml", &text);
        let (kb, code) = peak_rss_kb(&[
            "rewrite",
            file.to_str().unwrap(),
            "--harbor",
            "h.example.com",
        ]);
        assert_eq!(code, 0);
        assert!(std::fs::read_to_string(&file)
            .unwrap()
            .contains("image: h.example.com/docker-hub/library/nginx:1.27"));
        let limit_kb = 20 * text.len() as i64 / 1024;
        assert!(
            kb <= limit_kb,
            "peak RSS {kb} KB > {limit_kb} KB (20x the file), containers before: {before:?}"
        );
    }
}

/// Issue 14: a closed stdout (`harborize check . | head -1`) is a quiet, successful end,
/// not `harborize failed / Cause: Broken pipe` with exit 2.
#[test]
fn a_reader_that_stops_reading_is_a_quiet_successful_end() {
    use std::io::{BufRead, BufReader};
    let tmp = tempfile::tempdir().unwrap();
    // Far more report than a pipe holds (64 KiB), so writes meet the closed pipe.
    let mut text = String::from("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n");
    for i in 0..4000 {
        text.push_str(&format!("    - name: c{i}\n      image: nginx:1.{i}\n"));
    }
    std::fs::write(tmp.path().join("pod.yaml"), text).unwrap();
    let mut child = harborize()
        .args(["check", tmp.path().to_str().unwrap(), "--harbor", HARBOR])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("nginx:1."), "{first}");
    let out = child.wait_with_output().unwrap();
    assert_eq!(stderr(&out), "");
    assert_eq!(code(&out), 0);
}
