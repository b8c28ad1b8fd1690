//! The pre-commit hooks (.pre-commit-hooks.yaml), driven by the real pre-commit (from PyPI,
//! installed into .tools/ by scripts/install-test-tools.sh) against a throw-away repository:
//! `harborize-check` fails on an upstream image and passes once `harborize-rewrite` has run;
//! `harborize-rewrite` fails the first time (it changed the file) and passes the second.
//!
//! The default hooks are `language: python`: pre-commit `pip install`s the hook repository's
//! root pyproject.toml, a shim depending on the harborize wheel of the same version. The
//! test builds that wheel with the real maturin (packaging/pypi, `bindings = "bin"`) from the
//! dev profile in target/ (no release build: only what `cargo build` resolves differently
//! from `cargo test` is compiled), and hands it to pip with PIP_FIND_LINKS, as PyPI would. pre-commit runs with no
//! cargo or rustc on PATH: the hooks must not compile anything.
//!
//! pip runs with `PIP_NO_INDEX`: everything it installs comes from local files, the wheel
//! built here and the setuptools wheel (the shim's build backend) that virtualenv embeds
//! (virtualenv comes with pre-commit from scripts/install-test-tools.sh). The test works
//! offline.
//!
//! The `-src` hooks (`language: rust`) run too, as pre-commit runs them for a user whose
//! .pre-commit-config.yaml names them: `pre-commit run` with a config pinning the hook
//! repository at its commit, so pre-commit's own `cargo install --path` runs once for the
//! four runs. The build is offline (`CARGO_NET_OFFLINE`), under the machine-wide build lock
//! ([`cargo_lock`]), into target/pre-commit (`CARGO_TARGET_DIR`, so a later run does not
//! build the dependencies again), with the release profile's fat LTO, single codegen unit
//! and full optimisation turned down through `CARGO_PROFILE_RELEASE_*` (what is tested is
//! the hooks' wiring, not the optimiser: the full release build takes minutes). Its own
//! directory: built into target/ it replaced target/release/harborize with that cheaper
//! build, which the benchmarks then timed (`check` 0.64 s -> 0.92 s).
//!
//! The hook repository is a committed copy of this working tree (tracked and untracked
//! files, ignored ones left out), so the test checks the code as it is.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::common::cargo_lock;

const MANIFEST: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: nginx:1.27 # pinned\n";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn pre_commit() -> PathBuf {
    let local = root().join(".tools/bin/pre-commit");
    if local.exists() {
        return local;
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("pre-commit"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "pre-commit is not installed: run `bash scripts/install-test-tools.sh` \
             (it installs pre-commit from PyPI into .tools/bin)"
        )
    })
}

fn git(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=harborize-test",
            "-c",
            "user.email=test@example.com",
        ])
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A committed copy of this working tree: what a clone of the repository would hold once
/// the current work is committed.
fn hook_repo(dir: &Path) {
    let list = git(
        root(),
        &[
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ],
    );
    for name in list.stdout.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let rel = Path::new(std::str::from_utf8(name).unwrap());
        let src = root().join(rel);
        if !src.is_file() {
            continue; // deleted in the working tree
        }
        let dst = dir.join(rel);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(&src, &dst).unwrap();
    }
    git(dir, &["init", "-q"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "hook repo"]);
}

/// PATH without any directory that holds cargo or rustc.
fn path_without_rust() -> std::ffi::OsString {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let kept: Vec<PathBuf> = std::env::split_paths(&path)
        .filter(|d| !d.join("cargo").exists() && !d.join("rustc").exists())
        .collect();
    std::env::join_paths(kept).unwrap()
}

fn maturin() -> PathBuf {
    let local = root().join(".tools/venv/bin/maturin");
    assert!(
        local.exists(),
        "maturin is not installed: run `bash scripts/install-test-tools.sh` (it installs \
         maturin from PyPI into .tools/venv)"
    );
    local
}

/// The harborize wheel, as the release builds it (packaging/pypi) but from the dev
/// profile in target/ (shared with `cargo build` and scripts/demo.sh): no release build.
/// Through the machine-wide build lock, like every cargo invocation here.
fn build_wheel(out_dir: &Path) {
    let out = Command::new("flock")
        .args(["-w", "3600"])
        .arg(cargo_lock())
        .arg(maturin())
        .args(["build", "--profile", "dev", "--locked", "--out"])
        .arg(out_dir)
        .current_dir(root().join("packaging/pypi"))
        .env("CARGO_TARGET_DIR", root().join("target"))
        .output()
        .expect("flock runs maturin (util-linux flock)");
    assert!(
        out.status.success(),
        "maturin build: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let wheels: Vec<_> = std::fs::read_dir(out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        wheels.len() == 1 && wheels[0].starts_with(&format!("harborize-{version}-py3-none-")),
        "{wheels:?}"
    );
}

/// The directory of the setuptools wheels virtualenv embeds (installed with pre-commit into
/// the tools' venv): the shim's build backend, without an index.
fn embedded_setuptools() -> PathBuf {
    let lib = root().join(".tools/venv/lib");
    let found = std::fs::read_dir(&lib).ok().and_then(|entries| {
        entries
            .flatten()
            .map(|e| e.path().join("site-packages/virtualenv/seed/wheels/embed"))
            .find(|d| {
                std::fs::read_dir(d).is_ok_and(|mut files| {
                    files.any(|f| {
                        f.is_ok_and(|f| {
                            let name = f.file_name().to_string_lossy().into_owned();
                            name.starts_with("setuptools-") && name.ends_with(".whl")
                        })
                    })
                })
            })
    });
    found.unwrap_or_else(|| {
        panic!(
            "no setuptools wheel embedded by virtualenv under {}: run `bash \
             scripts/install-test-tools.sh` (pre-commit brings virtualenv)",
            lib.display()
        )
    })
}

/// A pre-commit config (beside the store, outside the work repository) that names the `-src`
/// hooks of the hook repository at its current commit, as a user's config would.
fn src_hooks_config(hooks: &Path, cache: &Path) -> PathBuf {
    let rev = String::from_utf8(git(hooks, &["rev-parse", "HEAD"]).stdout).unwrap();
    let config = cache.with_file_name("src-hooks.pre-commit-config.yaml");
    std::fs::write(
        &config,
        format!(
            "repos:\n  - repo: {}\n    rev: {}\n    hooks:\n      - id: harborize-check-src\n      - id: harborize-rewrite-src\n",
            hooks.display(),
            rev.trim()
        ),
    )
    .unwrap();
    config
}

struct Run {
    code: i32,
    text: String,
}

/// How pre-commit gets the hooks' software.
enum Install<'a> {
    /// The `language: python` hooks: pip from these local wheels only, no cargo on PATH.
    Wheels(&'a Path),
    /// The `language: rust` hooks: `pre-commit run` with a config naming them (one cargo
    /// install, offline, under the build lock).
    Cargo,
}

fn try_repo(work: &Path, hooks: &Path, cache: &Path, install: &Install, args: &[&str]) -> Run {
    let mut cmd = match install {
        Install::Wheels(wheels) => {
            let mut cmd = Command::new(pre_commit());
            let mut links = OsString::from(wheels.as_os_str());
            links.push(" ");
            links.push(embedded_setuptools());
            // the wheel built from this tree instead of PyPI's, setuptools from virtualenv;
            // no index at all
            cmd.env("PIP_FIND_LINKS", links)
                .env("PIP_NO_INDEX", "1")
                .env("PATH", path_without_rust());
            cmd
        }
        Install::Cargo => {
            let mut cmd = Command::new("flock");
            cmd.args(["-w", "3600"])
                .arg(cargo_lock())
                .arg(pre_commit())
                .arg("run")
                .arg("--config")
                .arg(src_hooks_config(hooks, cache))
                .env("CARGO_NET_OFFLINE", "true")
                .env("CARGO_TARGET_DIR", root().join("target").join("pre-commit"))
                .env("CARGO_PROFILE_RELEASE_LTO", "false")
                .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16")
                .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "1");
            cmd
        }
    };
    if let Install::Wheels(_) = install {
        cmd.arg("try-repo").arg(hooks);
    }
    let out = cmd
        .args(args)
        .current_dir(work)
        .env("PRE_COMMIT_HOME", cache)
        .env("PRE_COMMIT_COLOR", "never")
        .env_remove("HARBORIZE_HARBOR")
        .output()
        .expect("pre-commit runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        text: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// A work repository with an upstream image, and the hooks (`ID` and `ID` of rewrite, with
/// `suffix`) driven through check fails → rewrite changes → rewrite and check pass.
fn guard_and_fix(suffix: &str, install: &Install, tmp: &Path, hooks: &Path) {
    let work = tmp.join(format!("work{suffix}"));
    let cache = tmp.join("cache");
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q"]);
    std::fs::write(
        work.join("harborize.yaml"),
        "harbor:\n  host: harbor.example.com\n",
    )
    .unwrap();
    std::fs::write(work.join("deploy.yaml"), MANIFEST).unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "app"]);

    let files = ["--files", "deploy.yaml", "harborize.yaml"];
    let started = std::time::Instant::now();
    let hook = |id: &str, label: &str| {
        let id = format!("{id}{suffix}");
        let mut args = vec![id.as_str()];
        args.extend_from_slice(&files);
        let r = try_repo(&work, hooks, &cache, install, &args);
        eprintln!(
            "{label} ({id}): exit {} after {:?}",
            r.code,
            started.elapsed()
        );
        r
    };

    let r = hook("harborize-check", "check on upstream image");
    assert_eq!(r.code, 1, "{}", r.text);
    assert!(r.text.contains("deploy.yaml"), "{}", r.text);
    assert!(r.text.contains("Failed"), "{}", r.text);
    assert_eq!(
        std::fs::read_to_string(work.join("deploy.yaml")).unwrap(),
        MANIFEST,
        "check writes nothing"
    );

    let r = hook("harborize-rewrite", "first rewrite");
    assert_eq!(r.code, 1, "{}", r.text);
    assert!(
        r.text.contains("files were modified by this hook"),
        "{}",
        r.text
    );
    assert_eq!(
        std::fs::read_to_string(work.join("deploy.yaml")).unwrap(),
        MANIFEST.replace(
            "nginx:1.27",
            "harbor.example.com/docker-hub/library/nginx:1.27"
        )
    );
    // the config file is not a manifest: excluded by the hooks
    assert_eq!(
        std::fs::read_to_string(work.join("harborize.yaml")).unwrap(),
        "harbor:\n  host: harbor.example.com\n"
    );

    let r = hook("harborize-rewrite", "second rewrite");
    assert_eq!(r.code, 0, "{}", r.text);
    assert!(r.text.contains("Passed"), "{}", r.text);

    let r = hook("harborize-check", "check after rewrite");
    assert_eq!(r.code, 0, "{}", r.text);
    assert!(r.text.contains("Passed"), "{}", r.text);
}

#[test]
fn hooks_guard_and_fix_a_repository() {
    let tmp = tempfile::tempdir().unwrap();
    let hooks = tmp.path().join("hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    hook_repo(&hooks);
    let wheels = tmp.path().join("wheels");
    build_wheel(&wheels);
    guard_and_fix("", &Install::Wheels(&wheels), tmp.path(), &hooks);
}

/// The opt-in `-src` hooks, built from the hook repository by pre-commit's `cargo install`.
#[test]
fn source_hooks_build_with_cargo_and_guard_a_repository() {
    let tmp = tempfile::tempdir().unwrap();
    let hooks = tmp.path().join("hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    hook_repo(&hooks);
    guard_and_fix("-src", &Install::Cargo, tmp.path(), &hooks);
}

/// The manifest's shape: ids, languages, entries, file filters; the versions the hooks
/// install (the shim's wheel pin, the docker image tag) are the crate's.
#[test]
fn hooks_manifest_declares_wheel_source_and_docker_hooks() {
    let text = std::fs::read_to_string(root().join(".pre-commit-hooks.yaml")).unwrap();
    let hooks: Vec<serde_yaml_ng::Value> = serde_yaml_ng::from_str(&text).unwrap();
    let version = env!("CARGO_PKG_VERSION");
    let image = format!("ghcr.io/harborize/harborize:{version}");
    let want = [
        ("harborize-check", "python", "harborize check".to_string()),
        (
            "harborize-rewrite",
            "python",
            "harborize rewrite".to_string(),
        ),
        ("harborize-check-src", "rust", "harborize check".to_string()),
        (
            "harborize-rewrite-src",
            "rust",
            "harborize rewrite".to_string(),
        ),
        (
            "harborize-check-docker",
            "docker_image",
            format!("{image} check"),
        ),
        (
            "harborize-rewrite-docker",
            "docker_image",
            format!("{image} rewrite"),
        ),
    ];
    assert_eq!(hooks.len(), want.len());
    for (id, language, entry) in want {
        let hook = hooks
            .iter()
            .find(|h| h["id"].as_str() == Some(id))
            .unwrap_or_else(|| panic!("no hook {id}"));
        assert_eq!(hook["language"].as_str(), Some(language), "{id}");
        assert_eq!(hook["entry"].as_str(), Some(entry.as_str()), "{id}");
        assert_eq!(hook["pass_filenames"].as_bool(), Some(true), "{id}");
        let files = regex::Regex::new(hook["files"].as_str().unwrap()).unwrap();
        let exclude = regex::Regex::new(hook["exclude"].as_str().unwrap()).unwrap();
        for f in ["a.yaml", "k8s/b.yml", "c.json"] {
            assert!(files.is_match(f) && !exclude.is_match(f), "{id}: {f}");
        }
        for f in ["harborize.yaml", "sub/.harborize.yaml"] {
            assert!(exclude.is_match(f), "{id}: {f}");
        }
        assert!(!files.is_match("main.rs"), "{id}");
    }
    // pre-commit installs the root pyproject.toml: a shim pinning the wheel of this version
    let shim: toml::Table =
        toml::from_str(&std::fs::read_to_string(root().join("pyproject.toml")).unwrap()).unwrap();
    assert_eq!(
        shim["project"]["dependencies"].as_array().unwrap(),
        &[toml::Value::from(format!("harborize=={version}"))]
    );
    assert_eq!(shim["project"]["version"].as_str(), Some(version));
    assert_ne!(
        shim["build-system"]["build-backend"].as_str(),
        Some("maturin"),
        "the root pyproject.toml must not build the crate (pre-commit installs it)"
    );
}
