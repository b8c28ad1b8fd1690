//! Trivy's own conventions (issue #14, item 4), with the real Trivy 0.76 and a real
//! registry on loopback (the planted DB of `support::trivy`): Trivy's `.trivyignore` and
//! `.trivyignore.yaml` mean to harborize what they mean to Trivy, found at the repository
//! root as Trivy finds them; the user's `TRIVY_*` settings are kept, never replaced; the
//! default cache is Trivy's own.
//!
//! The image `vuln` and its registry are the fixture the scan tests use
//! (`support::trivy::fixture`): CVE-2099-0002 CRITICAL (busybox), CVE-2099-0001 HIGH
//! (musl), CVE-2099-0005 MEDIUM, CVE-2099-0004 LOW, CVE-2099-0006 UNKNOWN.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::common::{code, show};
use crate::support::trivy::fixture::{RegistryKind, ScanFixture};
use crate::support::trivy::*;

/// The shared scan fixture (`vuln` pushed to a plain registry).
struct Fx(ScanFixture);

impl std::ops::Deref for Fx {
    type Target = ScanFixture;
    fn deref(&self) -> &ScanFixture {
        &self.0
    }
}

impl Fx {
    fn new() -> Self {
        Fx(ScanFixture::start(RegistryKind::Plain))
    }

    /// A git repository `repo/` (real `git init`) with harborize.yaml at its root and
    /// `apps/app.yaml` referencing `vuln:1`.
    fn repo(&self) -> PathBuf {
        let dir = self.path("repo");
        std::fs::create_dir_all(dir.join("apps")).unwrap();
        let st = Command::new("git")
            .args(["init", "-q"])
            .arg(&dir)
            .status()
            .expect("git runs");
        assert!(st.success());
        std::fs::write(
            dir.join("harborize.yaml"),
            format!("harbor:\n  host: {}\n", self.reg.host),
        )
        .unwrap();
        std::fs::write(
            dir.join("apps/app.yaml"),
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: c\n      image: vuln:1\n",
        )
        .unwrap();
        dir
    }

    /// `harborize scan --plain-http --trivy T ARGS` in `cwd`, a clean environment plus `env`.
    fn scan(&self, cwd: &Path, trivy: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = self.harborize(cwd);
        cmd.args(["scan", "--plain-http", "--trivy"])
            .arg(trivy)
            .args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("harborize runs")
    }
}

fn vuln_image(o: &Output) -> Value {
    let r: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(o)));
    r["images"][0].clone()
}

/// (id, ignored by) of every finding that does not fail, and the ids that fail.
fn verdicts(img: &Value) -> (Vec<(String, String)>, Vec<String>) {
    let all = img["findings"].as_array().expect("findings");
    let ignored = all
        .iter()
        .filter(|f| f.get("ignored").is_some())
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_string(),
                f["ignored"]["by"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let failing = all
        .iter()
        .filter(|f| f["fails"] == true)
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    (ignored, failing)
}

/// The IDs the real Trivy reports for the image with `--ignorefile FILE`.
fn trivy_reported_ids(fx: &Fx, cache: &Path, ignorefile: &Path) -> Vec<String> {
    let image = format!("{}/docker-hub/library/vuln:1", fx.reg.host);
    let out = Command::new(trivy_bin())
        .args([
            "image",
            "--quiet",
            "--skip-version-check",
            "--skip-db-update",
        ])
        .args(["--config", "", "--format", "json", "--image-src", "remote"])
        .arg("--cache-dir")
        .arg(cache)
        .arg("--ignorefile")
        .arg(ignorefile)
        .arg(&image)
        .env("HOME", fx.path("home"))
        .output()
        .expect("trivy runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut ids: Vec<String> = r["Results"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|res| {
            res["Vulnerabilities"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|v| v["VulnerabilityID"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[test]
fn trivyignore_at_the_repository_root_ignores_what_trivy_ignores() {
    let fx = Fx::new();
    let repo = fx.repo();
    let cache = fx.path("cache");
    build_db(&cache);
    let ignore = repo.join(".trivyignore");
    std::fs::write(
        &ignore,
        "# accepted risks, Trivy's format\n\n\
         CVE-2099-0002\n\
         CVE-2099-0001 exp:2000-01-01\n\
         CVE-2099-0005 exp:2999-12-31\n",
    )
    .unwrap();
    // From a subdirectory, scanning it: the file at the repository root still counts.
    let o = fx.scan(
        &repo.join("apps"),
        &trivy_bin(),
        &["--format", "json", "--severity", "LOW", "--skip-db-update"],
        &[("TRIVY_CACHE_DIR", cache.to_str().unwrap())],
    );
    assert_eq!(code(&o), 1, "{}", show(&o));
    let (ignored, mut failing) = verdicts(&vuln_image(&o));
    assert_eq!(
        ignored,
        [
            ("CVE-2099-0002".to_string(), "ignore-file".to_string()),
            ("CVE-2099-0005".to_string(), "ignore-file".to_string())
        ]
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("CVE-2099-0001 expired on 2000-01-01"),
        "{stderr}"
    );

    // The same file given to the real Trivy leaves exactly the IDs harborize fails on.
    let mut by_trivy = trivy_reported_ids(&fx, &cache, &ignore);
    failing.sort();
    by_trivy.retain(|id| id != "CVE-2099-0006" || failing.contains(id));
    assert_eq!(failing, by_trivy);
}

#[test]
fn trivyignore_yaml_by_discovery_and_by_ignore_file() {
    let fx = Fx::new();
    let repo = fx.repo();
    let cache = fx.path("cache");
    build_db(&cache);
    let yaml = "vulnerabilities:\n\
                \x20 - id: CVE-2099-0002\n\
                \x20   purls: [\"pkg:apk/alpine/busybox@1.37.0-r0?arch=x86_64&distro=3.22.2\"]\n\
                \x20   statement: not reachable\n\
                \x20 - id: CVE-2099-0001\n\
                \x20   purls: [\"pkg:apk/alpine/musl@0.0.1\"]\n\
                \x20 - id: CVE-2099-0005\n\
                \x20   expired_at: 2000-01-01\n\
                misconfigurations:\n\
                \x20 - id: AVD-DS-0001\n";
    std::fs::write(repo.join(".trivyignore.yaml"), yaml).unwrap();
    let flags = [
        "--format",
        "json",
        "--severity",
        "MEDIUM",
        "--skip-db-update",
    ];
    let env = [("TRIVY_CACHE_DIR", cache.to_str().unwrap())];
    let o = fx.scan(&repo, &trivy_bin(), &flags, &env);
    assert_eq!(code(&o), 1, "{}", show(&o));
    let img = vuln_image(&o);
    let (ignored, failing) = verdicts(&img);
    // busybox's CVE matches its purl; musl's does not (other version); 0005 expired.
    assert_eq!(
        ignored,
        [("CVE-2099-0002".to_string(), "ignore-file".to_string())]
    );
    assert_eq!(failing, ["CVE-2099-0001", "CVE-2099-0005"]);
    let reason = img["findings"][0]["ignored"]["reason"]
        .as_str()
        .unwrap_or("");
    assert!(reason.starts_with("not reachable"), "{img:#}");

    // The same file through --ignore-file under another name: detected by its content.
    let elsewhere = fx.path("accepted.yaml");
    std::fs::rename(repo.join(".trivyignore.yaml"), &elsewhere).unwrap();
    let mut with_flag = flags.to_vec();
    with_flag.extend(["--ignore-file", elsewhere.to_str().unwrap()]);
    let o = fx.scan(&repo, &trivy_bin(), &with_flag, &env);
    assert_eq!(code(&o), 1, "{}", show(&o));
    assert_eq!(
        verdicts(&vuln_image(&o)).1,
        ["CVE-2099-0001", "CVE-2099-0005"]
    );

    // Without any ignore file nothing is ignored.
    let o = fx.scan(&repo, &trivy_bin(), &flags, &env);
    assert_eq!(
        verdicts(&vuln_image(&o)).1,
        ["CVE-2099-0002", "CVE-2099-0001", "CVE-2099-0005"]
    );
}

#[test]
fn the_users_trivy_variables_are_kept_and_secrets_stay_out() {
    let fx = Fx::new();
    let repo = fx.repo();
    let cache = fx.path("ci-cache");
    build_db(&cache);
    let wrap = fx.path("wrap");
    let trivy = wrapper(&wrap);
    // No --cache-dir, no --skip-db-update: only the variables setup-trivy would set. A DB
    // download would fail (no network), so a passing scan proves both were honoured.
    let o = fx.scan(
        &repo,
        &trivy,
        &["--format", "json"],
        &[
            ("TRIVY_CACHE_DIR", cache.to_str().unwrap()),
            ("TRIVY_SKIP_DB_UPDATE", "true"),
            ("TRIVY_TIMEOUT", "7m"),
            ("TRIVY_SEVERITY", "LOW"),
            ("TRIVY_PASSWORD", "user-secret-value"),
            ("GITHUB_TOKEN", "ghs_not_for_trivy"),
        ],
    );
    assert_eq!(code(&o), 1, "{}", show(&o));
    let scans: Vec<Call> = calls(&wrap).into_iter().filter(Call::is_scan).collect();
    assert_eq!(scans.len(), 1, "{scans:?}");
    let c = &scans[0];
    let after = |flag: &str| {
        c.argv
            .iter()
            .position(|a| a == flag)
            .map(|i| c.argv[i + 1].clone())
    };
    assert_eq!(after("--cache-dir").as_deref(), cache.to_str());
    assert_eq!(after("--timeout").as_deref(), Some("420s"));
    assert!(
        c.argv.iter().any(|a| a == "--skip-db-update"),
        "{:?}",
        c.argv
    );
    for kept in ["TRIVY_CACHE_DIR", "TRIVY_SKIP_DB_UPDATE", "TRIVY_TIMEOUT"] {
        assert!(
            c.env_names.iter().any(|n| n == kept),
            "{kept}: {:?}",
            c.env_names
        );
    }
    for out in ["TRIVY_PASSWORD", "GITHUB_TOKEN", "TRIVY_SEVERITY"] {
        assert!(
            !c.env_names.iter().any(|n| n == out),
            "{out}: {:?}",
            c.env_names
        );
    }
    // The policy is harborize's: TRIVY_SEVERITY did not filter the report.
    assert_eq!(vuln_image(&o)["findings"].as_array().unwrap().len(), 5);
}

#[test]
fn the_default_cache_is_trivys_own() {
    let fx = Fx::new();
    let repo = fx.repo();
    // Where the user's own `trivy` keeps its DB: ~/.cache/trivy.
    let trivy_cache = fx.path("home/.cache/trivy");
    build_db(&trivy_cache);
    let o = fx.scan(
        &repo,
        &trivy_bin(),
        &["--format", "json", "--skip-db-update"],
        &[],
    );
    assert_eq!(code(&o), 1, "{}", show(&o));
    assert_eq!(vuln_image(&o)["result"], "fail");
    assert!(!fx.path("home/.cache/harborize").exists());
}

#[test]
fn sarif_and_annotation_paths_are_relative_to_the_repository_root() {
    let fx = Fx::new();
    let repo = fx.repo();
    let cache = fx.path("cache");
    build_db(&cache);
    let apps = repo.join("apps");
    // From outside the repository, with an absolute PATH: GitHub resolves both formats
    // against the repository root, so both must say apps/app.yaml.
    let base = ["--skip-db-update", "--cache-dir", cache.to_str().unwrap()];
    let mut sarif = base.to_vec();
    sarif.extend(["--format", "sarif", apps.to_str().unwrap()]);
    let o = fx.scan(Path::new("/"), &trivy_bin(), &sarif, &[]);
    assert_eq!(code(&o), 1, "{}", show(&o));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    let uris: Vec<&str> = r["runs"][0]["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|res| {
            res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert!(
        !uris.is_empty() && uris.iter().all(|u| *u == "apps/app.yaml"),
        "{uris:?}"
    );

    let mut github = base.to_vec();
    github.extend(["--format", "github", "."]);
    let o = fx.scan(&apps, &trivy_bin(), &github, &[]);
    assert_eq!(code(&o), 1, "{}", show(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("::error file=apps/app.yaml,line=8,"),
        "{text}"
    );
}
