//! `harborize scan` against the real Trivy 0.76 and a real registry (docker-registry on
//! loopback), with a tiny Trivy DB of planted advisories (fixtures/trivy/advisories.json):
//!
//! | image | packages (alpine 3.22.2) | findings |
//! |---|---|---|
//! | vuln  | musl 1.2.5-r0, busybox 1.37.0-r0, zlib 1.3.1-r0 | 0002 CRITICAL fixed, 0001 HIGH fixed, 0005 MEDIUM fixed, 0004 LOW unfixed, 0006 UNKNOWN unfixed (not 0003: fixed before) |
//! | high  | musl 1.2.5-r0 | 0001 HIGH fixed |
//! | clean | alpine-baselayout 3.7.0-r0 | none |
//! | noos  | no OS files (Trivy reports no `Results`) | none |
//!
//! Images are pushed under `docker-hub/library/<name>`, so `image: vuln:1` in a manifest is
//! rewritten to `<registry>/docker-hub/library/vuln:1` and scanned there.

use crate::support;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use support::registry::Registry;
use support::trivy::fixture::{RegistryKind, ScanFixture, VULN};
use support::trivy::*;

/// (id, severity, package, installed, fixed, status) of one finding.
type Planted = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
);
type Row = (String, String, String, String, Option<String>, String);

/// Every planted finding in `vuln`, in report order.
const VULN_FINDINGS: &[Planted] = &[
    (
        "CVE-2099-0002",
        "CRITICAL",
        "busybox",
        "1.37.0-r0",
        Some("1.37.0-r5"),
        "fixed",
    ),
    (
        "CVE-2099-0001",
        "HIGH",
        "musl",
        "1.2.5-r0",
        Some("1.2.5-r1"),
        "fixed",
    ),
    (
        "CVE-2099-0005",
        "MEDIUM",
        "zlib",
        "1.3.1-r0",
        Some("1.3.1-r2"),
        "fixed",
    ),
    (
        "CVE-2099-0004",
        "LOW",
        "busybox",
        "1.37.0-r0",
        None,
        "affected",
    ),
    (
        "CVE-2099-0006",
        "UNKNOWN",
        "zlib",
        "1.3.1-r0",
        None,
        "affected",
    ),
];

/// The shared fixture (`vuln` pushed) plus the other planted images and the planted DB.
struct Fx {
    base: ScanFixture,
    /// Trivy cache dir holding the planted DB.
    cache: PathBuf,
}

impl std::ops::Deref for Fx {
    type Target = ScanFixture;
    fn deref(&self) -> &ScanFixture {
        &self.base
    }
}

impl Fx {
    fn new() -> Self {
        Self::with_registry(false)
    }

    fn with_registry(auth: bool) -> Self {
        Self::with(if auth { "auth" } else { "plain" })
    }

    /// `plain`, `auth` (htpasswd) or `tls` (HTTPS with a test CA).
    fn with(kind: &str) -> Self {
        let base = ScanFixture::start(match kind {
            "auth" => RegistryKind::Auth,
            "tls" => RegistryKind::Tls,
            _ => RegistryKind::Plain,
        });
        let reg = &base.reg;
        reg.push(
            "docker-hub/library/high",
            &AlpineImage::new("3.22.2", &[("musl", "1.2.5-r0")]),
            &["1"],
        );
        reg.push(
            "docker-hub/library/clean",
            &AlpineImage::new("3.22.2", &[("alpine-baselayout", "3.7.0-r0")]),
            &["1"],
        );
        reg.push(
            "docker-hub/library/noos",
            &AlpineImage::without_os(),
            &["1"],
        );
        let cache = base.path("cache");
        build_db(&cache);
        Fx { base, cache }
    }

    /// A GitOps repo `name/` with harborize.yaml (`extra_config` appended) and app.yaml
    /// referencing `images` (one container each).
    fn repo(&self, name: &str, images: &[&str], extra_config: &str) -> PathBuf {
        let dir = self.path(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("harborize.yaml"),
            format!("harbor:\n  host: {}\n{extra_config}", self.reg.host),
        )
        .unwrap();
        let mut yaml = String::from(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n",
        );
        for (i, img) in images.iter().enumerate() {
            yaml.push_str(&format!("        - name: c{i}\n          image: {img}\n"));
        }
        std::fs::write(dir.join("app.yaml"), yaml).unwrap();
        dir
    }

    /// harborize with a clean environment (HOME in the temp dir, no colour).
    fn cmd(&self, repo: &Path) -> Command {
        self.harborize(repo)
    }

    /// `harborize scan --plain-http --trivy T --cache-dir CACHE --skip-db-update ARGS`.
    fn scan(&self, repo: &Path, args: &[&str]) -> Output {
        self.scan_with(repo, &trivy_bin(), args, |_| {})
    }

    fn scan_with(
        &self,
        repo: &Path,
        trivy: &Path,
        args: &[&str],
        env: impl FnOnce(&mut Command),
    ) -> Output {
        let mut cmd = self.cmd(repo);
        cmd.arg("scan");
        if self.reg.ca.is_none() {
            cmd.arg("--plain-http");
        }
        cmd.arg("--trivy").arg(trivy);
        if !args.contains(&"--cache-dir") {
            cmd.arg("--cache-dir").arg(&self.cache);
        }
        if !args.contains(&"--no-skip") && !args.contains(&"--trivy-server") {
            cmd.arg("--skip-db-update");
        }
        cmd.args(args.iter().filter(|a| **a != "--no-skip"));
        env(&mut cmd);
        cmd.output().expect("harborize runs")
    }
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", out(o), err(o)))
}

fn image<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| {
            i["image"]
                .as_str()
                .unwrap()
                .contains(&format!("/docker-hub/library/{name}@"))
        })
        .unwrap_or_else(|| panic!("no image {name} in {report:#}"))
}

/// (id, severity, package, installed, fixed, status) of an image's findings, in order.
fn findings(img: &Value) -> Vec<Row> {
    img["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
                f["package"].as_str().unwrap().to_string(),
                f["installed"].as_str().unwrap_or("").to_string(),
                f["fixed"].as_str().map(str::to_string),
                f["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn expected_vuln() -> Vec<Row> {
    VULN_FINDINGS
        .iter()
        .map(|(id, s, p, i, f, st)| {
            (
                id.to_string(),
                s.to_string(),
                p.to_string(),
                i.to_string(),
                f.map(str::to_string),
                st.to_string(),
            )
        })
        .collect()
}

fn failing_ids(img: &Value) -> Vec<String> {
    img["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["fails"] == true)
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

fn ignored_by(img: &Value, id: &str) -> Option<(String, Option<String>)> {
    let f = img["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)?;
    let i = f.get("ignored")?;
    Some((
        i["by"].as_str()?.to_string(),
        i["reason"].as_str().map(str::to_string),
    ))
}

/// 1-based (line, column) of `needle` in `file`.
fn position(file: &Path, needle: &str) -> (usize, usize) {
    let text = std::fs::read_to_string(file).unwrap();
    for (i, l) in text.lines().enumerate() {
        if let Some(c) = l.find(needle) {
            return (i + 1, c + 1);
        }
    }
    panic!("{needle} not in {}", file.display());
}

#[test]
fn reports_the_planted_findings_exactly() {
    let fx = Fx::new();
    let repo = fx.repo("repo", &["vuln:1", "clean:1", "noos:1"], "");
    // Inherited TRIVY_* settings must not change what harborize asks Trivy for.
    let o = fx.scan_with(
        &repo,
        &trivy_bin(),
        &["--format", "json", "--severity", "LOW"],
        |c| {
            c.env("TRIVY_SEVERITY", "CRITICAL")
                .env("TRIVY_IGNORE_UNFIXED", "true");
        },
    );
    assert_eq!(code(&o), 1, "{}\n{}", out(&o), err(&o));
    let r = json(&o);
    assert_eq!(r["images"].as_array().unwrap().len(), 3);
    let vuln = image(&r, "vuln");
    assert_eq!(findings(vuln), expected_vuln());
    assert_eq!(vuln["result"], "fail");
    assert_eq!(vuln["os"], "alpine 3.22.2");
    assert_eq!(vuln["digest"], fx.vuln_digest.as_str());
    assert_eq!(
        vuln["image"],
        format!("{}/docker-hub/library/vuln@{}", fx.reg.host, fx.vuln_digest)
    );
    assert_eq!(
        failing_ids(vuln),
        [
            "CVE-2099-0002",
            "CVE-2099-0001",
            "CVE-2099-0005",
            "CVE-2099-0004"
        ]
    );
    let f0 = &vuln["findings"][0];
    assert_eq!(f0["title"], "planted CRITICAL in busybox (fixed)");
    assert_eq!(f0["cvss_score"], 9.8);
    assert_eq!(f0["url"], "https://avd.aquasec.com/nvd/cve-2099-0002");
    let clean = image(&r, "clean");
    assert_eq!(clean["findings"].as_array().unwrap().len(), 0);
    assert_eq!(clean["result"], "pass");
    assert_eq!(clean["os"], "alpine 3.22.2");
    let noos = image(&r, "noos");
    assert_eq!(noos["findings"].as_array().unwrap().len(), 0);
    assert_eq!(noos["result"], "pass");
    assert!(noos.get("os").is_none(), "{noos:#}");
    let s = &r["summary"];
    assert_eq!(
        (s["images"].as_u64(), s["trivy_runs"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(
        (
            s["failed"].as_u64(),
            s["passed"].as_u64(),
            s["errors"].as_u64()
        ),
        (Some(1), Some(2), Some(0))
    );
    assert_eq!(
        (s["findings"].as_u64(), s["failing"].as_u64()),
        (Some(5), Some(4))
    );
    let (line, col) = position(&repo.join("app.yaml"), "vuln:1");
    let refs = &vuln["references"];
    assert_eq!(refs.as_array().unwrap().len(), 1);
    assert_eq!(refs[0]["line"].as_u64(), Some(line as u64));
    assert_eq!(refs[0]["column"].as_u64(), Some(col as u64));
    assert_eq!(refs[0]["original"], "vuln:1");
}

#[test]
fn threshold_decides_the_exit_code() {
    let fx = Fx::new();
    let vuln = fx.repo("vuln", &["vuln:1"], "");
    for (severity, failing) in [
        ("CRITICAL", 1),
        ("HIGH", 2),
        ("MEDIUM", 3),
        ("LOW", 4),
        ("UNKNOWN", 5),
    ] {
        let o = fx.scan(&vuln, &["--format", "json", "--severity", severity]);
        assert_eq!(code(&o), 1, "{severity}: {}", err(&o));
        let r = json(&o);
        assert_eq!(failing_ids(image(&r, "vuln")).len(), failing, "{severity}");
        assert_eq!(r["policy"]["severity"], severity);
    }
    // lower-case is accepted too
    assert_eq!(code(&fx.scan(&vuln, &["--severity", "critical"])), 1);

    // --ignore-unfixed: the unfixed LOW and UNKNOWN never fail, but are still reported.
    let o = fx.scan(
        &vuln,
        &[
            "--format",
            "json",
            "--severity",
            "UNKNOWN",
            "--ignore-unfixed",
        ],
    );
    assert_eq!(code(&o), 1);
    let r = json(&o);
    let img = image(&r, "vuln");
    assert_eq!(
        failing_ids(img),
        ["CVE-2099-0002", "CVE-2099-0001", "CVE-2099-0005"]
    );
    assert_eq!(
        ignored_by(img, "CVE-2099-0004"),
        Some(("unfixed".into(), None))
    );
    assert_eq!(
        ignored_by(img, "CVE-2099-0006"),
        Some(("unfixed".into(), None))
    );
    assert_eq!(findings(img).len(), 5);

    // An image whose worst finding is HIGH passes the default CRITICAL gate.
    let high = fx.repo("high", &["high:1"], "");
    let o = fx.scan(&high, &[]);
    assert_eq!(code(&o), 0, "{}\n{}", out(&o), err(&o));
    assert!(out(&o).contains("CVE-2099-0001"), "{}", out(&o));
    assert_eq!(code(&fx.scan(&high, &["--severity", "HIGH"])), 1);

    // Nothing found: passes even at UNKNOWN.
    let clean = fx.repo("clean", &["clean:1", "noos:1"], "");
    assert_eq!(code(&fx.scan(&clean, &["--severity", "UNKNOWN"])), 0);
}

#[test]
fn ignore_file_with_an_expired_entry() {
    let fx = Fx::new();
    let repo = fx.repo("repo", &["vuln:1"], "");
    let ignore = fx.path("ignore.yaml");
    std::fs::write(
        &ignore,
        "# accepted risks\n\
         - id: CVE-2099-0002\n  expires: 2999-12-31\n  reason: not reachable in our deployment\n\
         - id: CVE-2099-0001\n  expires: 2000-01-01\n  reason: was waiting for a rebuild\n",
    )
    .unwrap();
    let o = fx.scan(
        &repo,
        &[
            "--format",
            "json",
            "--severity",
            "HIGH",
            "--ignore-file",
            ignore.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&o), 1, "{}", err(&o));
    let r = json(&o);
    let img = image(&r, "vuln");
    assert_eq!(failing_ids(img), ["CVE-2099-0001"]);
    assert_eq!(
        ignored_by(img, "CVE-2099-0002"),
        Some((
            "ignore-file".into(),
            Some("not reachable in our deployment (until 2999-12-31)".into())
        ))
    );
    assert_eq!(ignored_by(img, "CVE-2099-0001"), None);
    assert!(
        err(&o).contains("CVE-2099-0001 expired on 2000-01-01"),
        "{}",
        err(&o)
    );
    assert!(r["warnings"][0].as_str().unwrap().contains("expired"));

    // Without expiry (or not yet expired) both are ignored: the gate passes.
    std::fs::write(
        &ignore,
        "- id: CVE-2099-0002\n- {id: CVE-2099-0001, expires: 2999-01-01}\n",
    )
    .unwrap();
    let o = fx.scan(
        &repo,
        &[
            "--severity",
            "HIGH",
            "--ignore-file",
            ignore.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&o), 0, "{}\n{}", out(&o), err(&o));
    assert!(out(&o).contains("ignored (ignore-file"), "{}", out(&o));

    // A malformed ignore file is an error, not an empty policy.
    std::fs::write(&ignore, "- id: CVE-2099-0002\n  expires: tomorrow\n").unwrap();
    let o = fx.scan(&repo, &["--ignore-file", ignore.to_str().unwrap()]);
    assert_eq!(code(&o), 2);
    assert!(err(&o).contains("YYYY-MM-DD"), "{}", err(&o));
}

#[test]
fn allowlist_in_harborize_yaml() {
    let fx = Fx::new();
    let allow = |glob: &str| {
        format!("scan:\n  allow:\n    - image: '{glob}'\n      ids: [CVE-2099-0002]\n      reason: vendor backport\n")
    };
    // Upstream name of a rewritten reference.
    let repo = fx.repo("a", &["vuln:1"], &allow("docker.io/library/vuln"));
    let o = fx.scan(&repo, &["--format", "json"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    let r = json(&o);
    assert_eq!(
        ignored_by(image(&r, "vuln"), "CVE-2099-0002"),
        Some(("allowlist".into(), Some("vendor backport".into())))
    );

    // Harbor name, as a glob.
    let repo = fx.repo(
        "b",
        &["vuln:1"],
        &allow("127.0.0.1:*/docker-hub/library/vu*"),
    );
    assert_eq!(code(&fx.scan(&repo, &[])), 0);

    // An already-proxied reference is matched by its upstream name too.
    let proxied = format!("{}/docker-hub/library/vuln:1", fx.reg.host);
    let repo = fx.repo("c", &[&proxied], &allow("docker.io/library/vuln"));
    assert_eq!(code(&fx.scan(&repo, &[])), 0);

    // Another image's entry does not apply; nor does another ID.
    let repo = fx.repo("d", &["vuln:1"], &allow("docker.io/library/other"));
    assert_eq!(code(&fx.scan(&repo, &[])), 1);
    let repo = fx.repo(
        "e",
        &["vuln:1"],
        "scan:\n  allow:\n    - {image: docker.io/library/vuln, ids: [CVE-2099-0001]}\n",
    );
    assert_eq!(code(&fx.scan(&repo, &[])), 1);

    // A bad glob names the config entry.
    let repo = fx.repo("f", &["vuln:1"], &allow("docker.io/[vuln"));
    let o = fx.scan(&repo, &[]);
    assert_eq!(code(&o), 2);
    assert!(err(&o).contains("scan.allow[0].image"), "{}", err(&o));
}

#[test]
fn two_references_to_one_digest_run_trivy_once() {
    let fx = Fx::new();
    let by_digest = format!("{}/docker-hub/library/vuln@{}", fx.reg.host, fx.vuln_digest);
    let repo = fx.repo(
        "repo",
        &["vuln:1", "vuln:latest", &by_digest, "clean:1"],
        "",
    );
    let wrap = fx.path("wrap");
    let trivy = wrapper(&wrap);
    let o = fx.scan_with(&repo, &trivy, &["--format", "json"], |_| {});
    assert_eq!(code(&o), 1, "{}", err(&o));
    let scans: Vec<Call> = calls(&wrap).into_iter().filter(Call::is_scan).collect();
    assert_eq!(scans.len(), 2, "{scans:#?}");
    let r = json(&o);
    assert_eq!(r["summary"]["trivy_runs"], 2);
    assert_eq!(r["summary"]["references"], 4);
    let vuln = image(&r, "vuln");
    assert_eq!(vuln["references"].as_array().unwrap().len(), 3);
    // Each scan is by digest, with the fixed flag set.
    for c in &scans {
        let target = c.argv.last().unwrap();
        assert!(target.contains("@sha256:"), "{target}");
        for flag in ["--skip-version-check", "--quiet", "--skip-db-update"] {
            assert!(
                c.argv.iter().any(|a| a == flag),
                "{flag} missing: {:?}",
                c.argv
            );
        }
        let pair = |k: &str| c.argv.windows(2).find(|w| w[0] == k).map(|w| w[1].clone());
        assert_eq!(pair("--image-src").as_deref(), Some("remote"));
        assert_eq!(pair("--format").as_deref(), Some("json"));
        assert_eq!(pair("--exit-code").as_deref(), Some("0"));
        assert_eq!(
            pair("--cache-dir").as_deref(),
            Some(fx.cache.to_str().unwrap())
        );
    }
    assert!(scans.iter().any(|c| c.argv.last().unwrap() == &by_digest));
}

#[test]
fn every_output_format_points_at_the_failing_reference() {
    let fx = Fx::new();
    let repo = fx.repo("repo", &["clean:1", "vuln:1"], "");
    let (line, col) = position(&repo.join("app.yaml"), "vuln:1");

    // SARIF 2.1.0: one result per failing finding, at the reference.
    let o = fx.scan(&repo, &["--format", "sarif", "--severity", "HIGH"]);
    assert_eq!(code(&o), 1, "{}", err(&o));
    let sarif = json(&o);
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "harborize");
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["CVE-2099-0002", "CVE-2099-0001"]);
    assert_eq!(
        run["tool"]["driver"]["rules"][0]["properties"]["security-severity"],
        "9.8"
    );
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    for (res, id) in results.iter().zip(["CVE-2099-0002", "CVE-2099-0001"]) {
        assert_eq!(res["ruleId"], id);
        assert_eq!(res["level"], "error");
        let loc = &res["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "app.yaml");
        assert_eq!(loc["region"]["startLine"].as_u64(), Some(line as u64));
        assert_eq!(loc["region"]["startColumn"].as_u64(), Some(col as u64));
    }
    assert_eq!(run["invocations"][0]["executionSuccessful"], true);

    // GitHub annotations.
    let o = fx.scan(&repo, &["--format", "github", "--severity", "HIGH"]);
    assert_eq!(code(&o), 1);
    let text = out(&o);
    let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("::error ")).collect();
    assert_eq!(errors.len(), 1, "{text}");
    // Repository-relative, as GitHub resolves it (no `./`; issue #14).
    assert!(errors[0].starts_with(&format!("::error file=app.yaml,line={line},col={col},title=harborize scan: 2 failing finding(s)::")), "{}", errors[0]);
    assert!(
        errors[0].contains("CVE-2099-0002 CRITICAL busybox 1.37.0-r0 (fixed in 1.37.0-r5)"),
        "{}",
        errors[0]
    );
    assert!(
        errors[0].contains("CVE-2099-0001 HIGH musl 1.2.5-r0 (fixed in 1.2.5-r1)"),
        "{}",
        errors[0]
    );

    // Markdown.
    let o = fx.scan(&repo, &["--format", "markdown", "--severity", "HIGH"]);
    assert_eq!(code(&o), 1);
    let md = out(&o);
    assert!(md.starts_with("## harborize scan: ❌ failed"), "{md}");
    let row = md
        .lines()
        .find(|l| l.contains("/docker-hub/library/vuln@sha256:"))
        .expect(&md);
    assert!(row.ends_with("| 1 | 1 | 1 | 1 | 1 | ❌ fail |"), "{row}");
    assert!(row.contains(&format!("`./app.yaml:{line}`")), "{row}");
    assert!(md.contains("| [CVE-2099-0002](https://avd.aquasec.com/nvd/cve-2099-0002) | CRITICAL | busybox | 1.37.0-r0 | 1.37.0-r5 | FAIL |"), "{md}");
    assert!(
        md.contains("| CVE-2099-0004") || md.contains("[CVE-2099-0004]"),
        "{md}"
    );
    let clean_row = md
        .lines()
        .find(|l| l.contains("/docker-hub/library/clean@sha256:"))
        .expect(&md);
    assert!(
        clean_row.ends_with("| 0 | 0 | 0 | 0 | 0 | ✅ pass |"),
        "{clean_row}"
    );

    // Text: a table per image.
    let o = fx.scan(&repo, &["--severity", "HIGH"]);
    assert_eq!(code(&o), 1);
    let text = out(&o);
    assert!(
        text.contains(&format!(
            "FAIL {}/docker-hub/library/vuln@{} (alpine 3.22.2)",
            fx.reg.host, fx.vuln_digest
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("./app.yaml:{line}:{col}: vuln:1")),
        "{text}"
    );
    let row = |id: &str| -> Vec<String> {
        text.lines()
            .find(|l| l.contains(id))
            .unwrap_or_else(|| panic!("{id}: {text}"))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        row("CVE-2099-0002"),
        [
            "CVE-2099-0002",
            "CRITICAL",
            "busybox",
            "1.37.0-r0",
            "1.37.0-r5",
            "FAIL"
        ]
    );
    assert_eq!(
        row("CVE-2099-0005"),
        [
            "CVE-2099-0005",
            "MEDIUM",
            "zlib",
            "1.3.1-r0",
            "1.3.1-r2",
            "below",
            "HIGH"
        ]
    );
    assert_eq!(
        row("CVE-2099-0004"),
        [
            "CVE-2099-0004",
            "LOW",
            "busybox",
            "1.37.0-r0",
            "-",
            "below",
            "HIGH"
        ]
    );
    assert!(text.contains("PASS "), "{text}");
    assert!(
        text.contains(
            "2 image(s) from 2 reference(s), 2 trivy run(s): 1 passed, 1 failed, 0 error(s)"
        ),
        "{text}"
    );

    // --output writes the report to a file.
    let sarif_file = fx.path("scan.sarif");
    let o = fx.scan(
        &repo,
        &[
            "--format",
            "sarif",
            "--output",
            sarif_file.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&o), 1);
    assert!(out(&o).is_empty());
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&sarif_file).unwrap()).unwrap();
    assert_eq!(v["runs"][0]["results"].as_array().unwrap().len(), 1);
}

#[test]
fn client_server_mode_keeps_the_token_off_the_command_line() {
    let fx = Fx::new();
    let token = "s3cret-server-token";
    let server = TrivyServer::start(&fx.cache, Some(token), &fx.path("server.log"));
    let repo = fx.repo("repo", &["vuln:1"], "");
    let wrap = fx.path("wrap");
    let trivy = wrapper(&wrap);
    let empty_cache = fx.path("client-cache");
    let o = fx.scan_with(
        &repo,
        &trivy,
        &[
            "--format",
            "json",
            "--severity",
            "LOW",
            "--trivy-server",
            &server.url,
            "--cache-dir",
            empty_cache.to_str().unwrap(),
        ],
        |c| {
            c.env("HARBORIZE_TRIVY_TOKEN", token);
        },
    );
    assert_eq!(code(&o), 1, "{}\n{}", out(&o), err(&o));
    let r = json(&o);
    assert_eq!(findings(image(&r, "vuln")), expected_vuln());
    assert!(!out(&o).contains(token) && !err(&o).contains(token));
    let all = calls(&wrap);
    assert_eq!(all.len(), 1, "server mode downloads no DB: {all:#?}");
    let c = &all[0];
    assert!(
        c.argv
            .windows(2)
            .any(|w| w[0] == "--server" && w[1] == server.url),
        "{:?}",
        c.argv
    );
    assert!(
        !c.argv.iter().any(|a| a.contains(token)),
        "token on the command line: {:?}",
        c.argv
    );
    assert!(
        c.env_names.iter().any(|n| n == "TRIVY_TOKEN"),
        "{:?}",
        c.env_names
    );
    assert!(
        !c.env_names.iter().any(|n| n.starts_with("HARBORIZE_")),
        "{:?}",
        c.env_names
    );

    // A wrong token is an operational error (exit 2), and says so.
    let o = fx.scan_with(
        &repo,
        &trivy_bin(),
        &[
            "--trivy-server",
            &server.url,
            "--cache-dir",
            empty_cache.to_str().unwrap(),
        ],
        |c| {
            c.env("HARBORIZE_TRIVY_TOKEN", "wrong-token-value");
        },
    );
    assert_eq!(code(&o), 2, "{}\n{}", out(&o), err(&o));
    let all_out = out(&o) + &err(&o);
    assert!(
        all_out.contains("invalid token") || all_out.contains("unauthenticated"),
        "{all_out}"
    );
    assert!(!all_out.contains("wrong-token-value"), "{all_out}");
}

#[test]
fn missing_trivy_is_exit_2_with_what_to_install() {
    let fx = Fx::new();
    let repo = fx.repo("repo", &["vuln:1"], "");
    let empty = fx.path("emptybin");
    std::fs::create_dir_all(&empty).unwrap();
    let o = fx
        .cmd(&repo)
        .env("PATH", &empty)
        .args(["scan", "--plain-http", "--skip-db-update", "--cache-dir"])
        .arg(&fx.cache)
        .output()
        .unwrap();
    assert_eq!(code(&o), 2, "{}", err(&o));
    assert!(
        err(&o).contains("trivy not found: no `trivy` on PATH"),
        "{}",
        err(&o)
    );
    assert!(
        err(&o).contains("install Trivy") && err(&o).contains("--trivy"),
        "{}",
        err(&o)
    );

    let o = fx.scan_with(&repo, Path::new("/nonexistent/bin/trivy"), &[], |_| {});
    assert_eq!(code(&o), 2);
    assert!(
        err(&o).contains("trivy not found: /nonexistent/bin/trivy"),
        "{}",
        err(&o)
    );
}

#[test]
fn missing_db_is_exit_2_naming_the_flag() {
    let fx = Fx::new();
    let repo = fx.repo("repo", &["vuln:1"], "");
    let empty = fx.path("empty-cache");
    let o = fx.scan(&repo, &["--cache-dir", empty.to_str().unwrap()]);
    assert_eq!(code(&o), 2, "{}\n{}", out(&o), err(&o));
    let e = err(&o);
    assert!(e.contains("no Trivy vulnerability DB in"), "{e}");
    assert!(
        e.contains("--skip-db-update")
            && e.contains("--download-db-only")
            && e.contains("--trivy-server"),
        "{e}"
    );

    // Without --skip-db-update, harborize downloads the DB first; unreachable → exit 2.
    let o = fx.scan(
        &repo,
        &[
            "--no-skip",
            "--cache-dir",
            empty.to_str().unwrap(),
            "--db-repository",
            "127.0.0.1:9/aquasec/trivy-db:2",
        ],
    );
    assert_eq!(code(&o), 2, "{}\n{}", out(&o), err(&o));
    assert!(
        err(&o).contains("cannot download the Trivy vulnerability DB"),
        "{}",
        err(&o)
    );
    assert!(err(&o).contains("--skip-db-update"), "{}", err(&o));
}

#[test]
fn downloads_the_db_once_from_a_db_repository() {
    let fx = Fx::new();
    // Serve the planted DB as Trivy's OCI artifact from the registry.
    let staging = fx.path("staging");
    build_db(&staging);
    let db = std::fs::read(staging.join("db/trivy.db")).unwrap();
    let meta = std::fs::read(staging.join("db/metadata.json")).unwrap();
    let layer = gzip(&tar(&[("trivy.db", &db), ("metadata.json", &meta)]));
    fx.reg.push_artifact(
        "aquasec/trivy-db",
        "2",
        "application/vnd.aquasec.trivy.config.v1+json",
        b"{}",
        "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip",
        &layer,
        "db.tar.gz",
    );
    let repo = fx.repo("repo", &["vuln:1", "high:1"], "");
    let wrap = fx.path("wrap");
    let trivy = wrapper(&wrap);
    let cache = fx.path("fresh-cache");
    let db_repo = format!("{}/aquasec/trivy-db:2", fx.reg.host);
    let o = fx.scan_with(
        &repo,
        &trivy,
        &[
            "--no-skip",
            "--format",
            "json",
            "--severity",
            "LOW",
            "--cache-dir",
            cache.to_str().unwrap(),
            "--db-repository",
            &db_repo,
        ],
        |_| {},
    );
    assert_eq!(code(&o), 1, "{}\n{}", out(&o), err(&o));
    assert_eq!(findings(image(&json(&o), "vuln")), expected_vuln());
    let all = calls(&wrap);
    let downloads: Vec<&Call> = all
        .iter()
        .filter(|c| c.argv.iter().any(|a| a == "--download-db-only"))
        .collect();
    assert_eq!(downloads.len(), 1, "{all:#?}");
    assert_eq!(all.iter().filter(|c| c.is_scan()).count(), 2);
    assert!(all
        .iter()
        .filter(|c| c.is_scan())
        .all(|c| c.argv.iter().any(|a| a == "--skip-db-update")));
    assert!(cache.join("db/trivy.db").is_file());
}

#[test]
fn registry_credentials_go_through_the_environment_only() {
    let fx = Fx::with_registry(true);
    let repo = fx.repo("repo", &["vuln:1"], "");
    let wrap = fx.path("wrap");
    let trivy = wrapper(&wrap);

    // HARBORIZE_USERNAME / HARBORIZE_PASSWORD → TRIVY_USERNAME / TRIVY_PASSWORD.
    let o = fx.scan_with(
        &repo,
        &trivy,
        &["--format", "json", "--severity", "LOW"],
        |c| {
            c.env("HARBORIZE_USERNAME", USER)
                .env("HARBORIZE_PASSWORD", PASSWORD);
        },
    );
    assert_eq!(code(&o), 1, "{}\n{}", out(&o), err(&o));
    assert_eq!(findings(image(&json(&o), "vuln")), expected_vuln());
    assert!(!out(&o).contains(PASSWORD) && !err(&o).contains(PASSWORD));
    let c = calls(&wrap)
        .into_iter()
        .find(Call::is_scan)
        .expect("a scan");
    assert!(
        !c.argv
            .iter()
            .any(|a| a.contains(PASSWORD) || a == "--password" || a == "--username"),
        "{:?}",
        c.argv
    );
    for name in ["TRIVY_USERNAME", "TRIVY_PASSWORD"] {
        assert!(
            c.env_names.iter().any(|n| n == name),
            "{name}: {:?}",
            c.env_names
        );
    }
    assert!(
        !c.env_names.iter().any(|n| n == "HARBORIZE_PASSWORD"),
        "{:?}",
        c.env_names
    );

    // Docker's config.json works the same way.
    let docker = fx.path("docker");
    std::fs::create_dir_all(&docker).unwrap();
    let auth = base64_encode(format!("{USER}:{PASSWORD}").as_bytes());
    std::fs::write(
        docker.join("config.json"),
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, fx.reg.host),
    )
    .unwrap();
    let o = fx.scan_with(&repo, &trivy_bin(), &[], |c| {
        c.env("DOCKER_CONFIG", &docker);
    });
    assert_eq!(code(&o), 1, "{}\n{}", out(&o), err(&o));
    assert!(out(&o).contains("CVE-2099-0002"));

    // Wrong password: nothing can be scanned → exit 2, and the secret is not printed.
    let wrong = "wrong-pass-xyz";
    let o = fx.scan_with(&repo, &trivy_bin(), &["--format", "json"], |c| {
        c.env("HARBORIZE_USERNAME", USER)
            .env("HARBORIZE_PASSWORD", wrong);
    });
    assert_eq!(code(&o), 2, "{}\n{}", out(&o), err(&o));
    let r = json(&o);
    let msg = r["errors"][0]["message"].as_str().unwrap();
    assert!(msg.contains("unauthorized"), "{msg}");
    assert!(!out(&o).contains(wrong) && !err(&o).contains(wrong));

    // No credentials at all: the same.
    let o = fx.scan(&repo, &[]);
    assert_eq!(code(&o), 2);
    // Errors go to stderr in every format (issue #14).
    assert!(err(&o).contains("unauthorized"), "{}", err(&o));
}

/// Issue #12 item 12: Trivy starts with a minimal environment. harborize runs with the
/// secrets of a CI job and of the Action's inputs in its environment; the real Trivy runs
/// behind a wrapper that records the environment it was started with (a real process
/// check) and still scans. Only the registry credentials Trivy needs arrive, as
/// TRIVY_USERNAME/TRIVY_PASSWORD; no other secret, no stray variable.
#[test]
fn trivy_gets_a_minimal_environment_without_ci_secrets() {
    let fx = Fx::with_registry(true);
    let repo = fx.repo("repo", &["vuln:1"], "");
    let wrap = fx.path("wrap");
    let trivy = environ_wrapper(&wrap);
    let ci_secrets = [
        ("GITHUB_TOKEN", "ghs_CiToken-4711"),
        ("INPUT_GITHUB-TOKEN", "ghs_InputToken-4712"),
        ("INPUT_HARBOR-PASSWORD", "Input-Harbor-Secret-4713"),
        ("HARBORIZE_GIT_TOKEN", "git-token-4714"),
        ("AWS_SECRET_ACCESS_KEY", "aws-secret-4715"),
        // Not TRIVY_DB_REPOSITORY: the user's own Trivy settings pass (issue #14), see
        // cli_habits::trivy::the_users_trivy_variables_are_kept_and_secrets_stay_out.
        ("TRIVY_TOKEN_HEADER", "X-Evil"),
    ];
    let o = fx.scan_with(
        &repo,
        &trivy,
        &["--format", "json", "--severity", "LOW"],
        |c| {
            c.env("HARBORIZE_USERNAME", USER)
                .env("HARBORIZE_PASSWORD", PASSWORD)
                .env("HTTPS_PROXY", "")
                .env("TMPDIR", std::env::temp_dir());
            for (k, v) in ci_secrets {
                c.env(k, v);
            }
        },
    );
    assert_eq!(code(&o), 1, "{}\n{}", out(&o), err(&o));
    assert_eq!(findings(image(&json(&o), "vuln")), expected_vuln());
    let log = std::fs::read_to_string(wrap.join("environ.log")).expect("trivy ran");
    let runs: Vec<&str> = log.split("-- end\n").filter(|r| !r.is_empty()).collect();
    assert!(!runs.is_empty());
    for run in runs {
        let names: Vec<&str> = run.lines().filter_map(|l| l.split('=').next()).collect();
        for (name, value) in ci_secrets {
            assert!(
                !run.contains(value) && !names.contains(&name),
                "{name} reached Trivy:\n{run}"
            );
        }
        let allowed = [
            "PATH",
            "HOME",
            "TMPDIR",
            "HTTPS_PROXY",
            "TRIVY_USERNAME",
            "TRIVY_PASSWORD",
            // Set by the wrapper's own shell.
            "PWD",
        ];
        let extra: Vec<&&str> = names.iter().filter(|n| !allowed.contains(n)).collect();
        assert!(extra.is_empty(), "unexpected variables: {extra:?}\n{run}");
        assert!(run.contains(&format!("TRIVY_PASSWORD={PASSWORD}")), "{run}");
    }
}

/// Issue #12 item 12: what harborize shows of Trivy's output has the password, the Basic
/// pair `base64(user:password)` blanked. The `trivy` here is a script that fails printing
/// a FATAL line with the credentials it was given, as a debug-logging Trivy could.
#[test]
fn trivy_output_echoed_in_errors_is_redacted() {
    let fx = Fx::with_registry(true);
    let repo = fx.repo("repo", &["vuln:1"], "");
    let dir = fx.path("leaky");
    std::fs::create_dir_all(&dir).unwrap();
    let trivy = dir.join("trivy");
    std::fs::write(
        &trivy,
        r#"#!/bin/sh
pair=$(printf '%s:%s' "$TRIVY_USERNAME" "$TRIVY_PASSWORD" | base64 -w0)
echo "2026-01-01T00:00:00Z FATAL Fatal error auth: Basic $pair password=$TRIVY_PASSWORD" >&2
exit 1
"#,
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&trivy, std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = fx.scan_with(&repo, &trivy, &["--format", "json"], |c| {
        c.env("HARBORIZE_USERNAME", USER)
            .env("HARBORIZE_PASSWORD", PASSWORD);
    });
    assert_eq!(code(&o), 2, "{}\n{}", out(&o), err(&o));
    let pair = base64_encode(format!("{USER}:{PASSWORD}").as_bytes());
    let shown = format!("{}{}", out(&o), err(&o));
    assert!(shown.contains("auth: Basic ***"), "not echoed: {shown}");
    assert!(
        !shown.contains(&pair) && !shown.contains(PASSWORD),
        "{shown}"
    );
}

fn base64_encode(data: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                s.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// Benchmark driver (not a test: `#[ignore]`, run by `bench/scan.sh`): 40 references that
/// resolve to 10 digests. `harborize scan` vs the same 10 Trivy scans run in parallel by
/// hand vs the 40 references scanned one after another, interleaved in rounds (medians).
/// Asserts correctness (exactly 10 Trivy runs) and prints the ratios; never asserts time.
#[test]
#[ignore = "benchmark: run bench/scan.sh"]
fn bench_scan_40_references_10_digests() {
    use std::time::{Duration, Instant};
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let tmp = tempfile::tempdir().unwrap();
    let reg = Registry::start(&tmp.path().join("registry"));
    let cache = tmp.path().join("cache");
    build_db(&cache);
    let mut refs = Vec::new(); // (tag reference, digest reference)
    let mut digests = Vec::new();
    for i in 0..10 {
        let version = format!("1.2.5-r{i}");
        let img = AlpineImage::new("3.22.2", &[("musl", &version), ("busybox", "1.37.0-r0")]);
        let repo = format!("docker-hub/library/app{i}");
        let digest = reg.push(&repo, &img, &["a", "b", "c", "d"]);
        for t in ["a", "b", "c", "d"] {
            refs.push(format!("{}/{repo}:{t}", reg.host));
        }
        digests.push(format!("{}/{repo}@{digest}", reg.host));
    }
    let repo_dir = tmp.path().join("repo");
    std::fs::create_dir_all(&repo_dir).unwrap();
    let mut yaml =
        String::from("apiVersion: v1\nkind: Pod\nmetadata:\n  name: bench\nspec:\n  containers:\n");
    for (i, r) in refs.iter().enumerate() {
        yaml.push_str(&format!(
            "    - name: c{i}\n      image: app{}:{}\n",
            i / 4,
            ["a", "b", "c", "d"][i % 4]
        ));
        assert!(r.ends_with(&format!("app{}:{}", i / 4, ["a", "b", "c", "d"][i % 4])));
    }
    std::fs::write(repo_dir.join("pods.yaml"), yaml).unwrap();
    std::fs::write(
        repo_dir.join("harborize.yaml"),
        format!("harbor:\n  host: {}\n", reg.host),
    )
    .unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();

    let harborize = |trivy: &Path| {
        let o = Command::new(crate::support::common::binary())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .current_dir(&repo_dir)
            .args([
                "scan",
                "--plain-http",
                "--skip-db-update",
                "--format",
                "json",
                "--trivy",
            ])
            .arg(trivy)
            .arg("--cache-dir")
            .arg(&cache)
            .output()
            .unwrap();
        // busybox 1.37.0-r0 carries the planted CRITICAL: the gate fails (1), never errors (2)
        assert_eq!(
            o.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        o
    };
    let trivy_cmd = |image: &str| {
        let mut c = Command::new(trivy_bin());
        c.args([
            "image",
            "--quiet",
            "--skip-version-check",
            "--disable-telemetry",
            "--config",
            "",
            "--cache-dir",
        ])
        .arg(&cache)
        .args([
            "--timeout",
            "300s",
            "--image-src",
            "remote",
            "--format",
            "json",
            "--exit-code",
            "0",
        ])
        .args([
            "--list-all-pkgs=false",
            "--ignorefile",
            "",
            "--scanners",
            "vuln",
            "--skip-db-update",
            image,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
        c
    };

    // Correctness: exactly 10 Trivy runs for 40 references (counted by the wrapper).
    let wrap = tmp.path().join("wrap");
    let o = harborize(&wrapper(&wrap));
    let scans = calls(&wrap).into_iter().filter(Call::is_scan).count();
    assert_eq!(scans, 10);
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["summary"]["references"], 40);
    assert_eq!(report["summary"]["images"], 10);
    println!("trivy runs for 40 references / 10 digests: {scans}");

    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (mut ours, mut parallel, mut sequential) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..=rounds {
        let t = Instant::now();
        harborize(&trivy_bin());
        let a = t.elapsed();

        let t = Instant::now();
        let children: Vec<_> = digests
            .iter()
            .map(|d| trivy_cmd(d).spawn().unwrap())
            .collect();
        for mut c in children {
            assert!(c.wait().unwrap().success());
        }
        let b = t.elapsed();

        let t = Instant::now();
        for r in &refs {
            assert!(trivy_cmd(r).status().unwrap().success());
        }
        let c = t.elapsed();
        if round > 0 {
            // round 0 warms the layer cache for every side
            println!("round {round}: harborize scan {a:?}, 10 parallel trivy {b:?}, 40 sequential trivy {c:?}");
            ours.push(a);
            parallel.push(b);
            sequential.push(c);
        }
    }
    let (a, b, c) = (median(ours), median(parallel), median(sequential));
    let r1 = a.as_secs_f64() / b.as_secs_f64();
    let r2 = a.as_secs_f64() / c.as_secs_f64();
    println!(
        "RESULT harborize scan {:.3}s | 10 parallel trivy {:.3}s | ratio {r1:.2}x (target <= 1.3x)",
        a.as_secs_f64(),
        b.as_secs_f64()
    );
    println!("RESULT harborize scan {:.3}s | 40 sequential trivy {:.3}s | ratio {r2:.2}x (target <= 0.4x)", a.as_secs_f64(), c.as_secs_f64());
}

#[test]
fn tls_registry_with_cacert_passed_on() {
    let fx = Fx::with("tls");
    let ca = fx.reg.ca.clone().unwrap();
    let repo = fx.repo("repo", &["vuln:1"], "");
    let wrap = fx.path("wrap");
    let trivy = wrapper(&wrap);
    let o = fx.scan_with(
        &repo,
        &trivy,
        &[
            "--format",
            "json",
            "--severity",
            "LOW",
            "--cacert",
            ca.to_str().unwrap(),
        ],
        |_| {},
    );
    assert_eq!(code(&o), 1, "{}\n{}", out(&o), err(&o));
    assert_eq!(findings(image(&json(&o), "vuln")), expected_vuln());
    let c = calls(&wrap).into_iter().find(Call::is_scan).unwrap();
    assert!(
        c.argv
            .windows(2)
            .any(|w| w[0] == "--cacert" && w[1] == ca.to_str().unwrap()),
        "{:?}",
        c.argv
    );
    assert!(!c.argv.iter().any(|a| a == "--insecure"), "{:?}", c.argv);

    // --insecure reaches Trivy too.
    let o = fx.scan_with(&repo, &trivy, &["--insecure"], |_| {});
    assert_eq!(code(&o), 1, "{}\n{}", out(&o), err(&o));
    assert!(calls(&wrap)
        .iter()
        .filter(|c| c.is_scan())
        .any(|c| c.argv.iter().any(|a| a == "--insecure")));

    // Without the CA, Harbor's certificate is not trusted: nothing is scanned (exit 2).
    let o = fx.scan(&repo, &[]);
    assert_eq!(code(&o), 2, "{}\n{}", out(&o), err(&o));
    assert!(err(&o).contains("tls-error"), "{}", err(&o));
}

#[test]
fn unreachable_harbor_is_an_error_unless_told_to_warn() {
    let fx = Fx::new();
    let repo = fx.repo("repo", &["vuln:1"], "");
    let args = ["--harbor", "127.0.0.1:9", "--retries", "0"];
    let o = fx.scan(&repo, &args);
    assert_eq!(code(&o), 2, "{}\n{}", out(&o), err(&o));
    assert!(
        err(&o).contains("unreachable") && err(&o).contains("not scanned"),
        "{}",
        err(&o)
    );
    let o = fx.scan(&repo, &[&args[..], &["--on-unreachable", "warn"]].concat());
    assert_eq!(code(&o), 0, "{}\n{}", out(&o), err(&o));
    assert!(
        err(&o).contains("warning:") && err(&o).contains("--on-unreachable warn"),
        "{}",
        err(&o)
    );
}

#[test]
fn secret_scanner_findings_when_asked() {
    let fx = Fx::new();
    let img = AlpineImage::new("3.22.2", &[("alpine-baselayout", "3.7.0-r0")])
        .with_file("app/.env", b"AWS_ACCESS_KEY_ID=AKIAZ7Q4K2L9M3N8P5R6\n");
    fx.reg.push("docker-hub/library/leaky", &img, &["1"]);
    let repo = fx.repo("repo", &["leaky:1"], "");
    // Default scanners: vulnerabilities only, so the image passes.
    assert_eq!(code(&fx.scan(&repo, &[])), 0);
    let o = fx.scan(&repo, &["--format", "json", "--scanners", "vuln,secret"]);
    assert_eq!(code(&o), 1, "{}\n{}", out(&o), err(&o));
    let r = json(&o);
    let f = &image(&r, "leaky")["findings"][0];
    assert_eq!(f["id"], "aws-access-key-id");
    assert_eq!(f["kind"], "secret");
    assert_eq!(f["severity"], "CRITICAL");
    assert_eq!(f["package"], "/app/.env:1");
    assert!(
        !out(&o).contains("AKIAZ7Q4K2L9M3N8P5R6"),
        "the secret itself is never printed"
    );
}

#[test]
fn each_required_platform_of_an_index_is_scanned() {
    let fx = Fx::new();
    let amd64 = AlpineImage::new("3.22.2", VULN);
    let arm64 = AlpineImage::new("3.22.2", &[("alpine-baselayout", "3.7.0-r0")]).arch("arm64");
    fx.reg
        .push_index("docker-hub/library/multi", &[&amd64, &arm64], "1");
    let repo = fx.repo("repo", &["multi:1"], "");
    let o = fx.scan(&repo, &["--format", "json", "--platform", "linux/arm64"]);
    assert_eq!(code(&o), 0, "{}\n{}", out(&o), err(&o));
    let r = json(&o);
    assert_eq!(image(&r, "multi")["platform"], "linux/arm64");
    assert_eq!(image(&r, "multi")["findings"].as_array().unwrap().len(), 0);

    let wrap = fx.path("wrap");
    let o = fx.scan_with(
        &repo,
        &wrapper(&wrap),
        &[
            "--format",
            "json",
            "--severity",
            "LOW",
            "--platform",
            "linux/amd64,linux/arm64",
        ],
        |_| {},
    );
    assert_eq!(code(&o), 1, "{}\n{}", out(&o), err(&o));
    let r = json(&o);
    let imgs = r["images"].as_array().unwrap();
    assert_eq!(imgs.len(), 2);
    let by_platform = |p: &str| imgs.iter().find(|i| i["platform"] == p).unwrap();
    assert_eq!(findings(by_platform("linux/amd64")), expected_vuln());
    assert_eq!(by_platform("linux/arm64")["result"], "pass");
    let scans: Vec<Call> = calls(&wrap).into_iter().filter(Call::is_scan).collect();
    assert_eq!(scans.len(), 2);
    for p in ["linux/amd64", "linux/arm64"] {
        assert!(
            scans
                .iter()
                .any(|c| c.argv.windows(2).any(|w| w[0] == "--platform" && w[1] == p)),
            "{scans:#?}"
        );
    }
}

/// The `--scan` stage of `rewrite` and `run`: a failing policy writes nothing; a clean
/// image lets the rewrite through.
#[test]
fn scan_stage_gates_rewrite_and_run() {
    let fx = Fx::new();
    for (verb, extra) in [
        ("rewrite", vec!["--scan"]),
        ("run", vec!["--skip-verify", "--skip-commit"]),
    ] {
        let repo = fx.repo(&format!("{verb}-gate"), &["vuln:1"], "");
        let before = std::fs::read_to_string(repo.join("app.yaml")).unwrap();
        let trivy = trivy_bin();
        let cache = fx.cache.clone();
        let stage = |repo: &Path| {
            let mut cmd = fx.cmd(repo);
            cmd.args([verb, "."]).args(&extra).arg("--plain-http");
            cmd.arg("--trivy")
                .arg(&trivy)
                .arg("--cache-dir")
                .arg(&cache)
                .arg("--skip-db-update");
            cmd.output().unwrap()
        };
        let o = stage(&repo);
        assert_eq!(code(&o), 1, "{verb}: {}\n{}", out(&o), err(&o));
        assert!(
            err(&o).contains("nothing was written"),
            "{verb}: {}",
            err(&o)
        );
        assert_eq!(
            std::fs::read_to_string(repo.join("app.yaml")).unwrap(),
            before,
            "{verb} wrote despite the failed scan"
        );

        let clean = fx.repo(&format!("{verb}-clean"), &["clean:1"], "");
        let o = stage(&clean);
        assert_eq!(code(&o), 0, "{verb}: {}\n{}", out(&o), err(&o));
        let text = std::fs::read_to_string(clean.join("app.yaml")).unwrap();
        assert!(
            text.contains(&format!(
                "image: {}/docker-hub/library/clean:1",
                fx.reg.host
            )),
            "{verb}: {text}"
        );
    }
}
