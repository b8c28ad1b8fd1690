//! `harborize verify` against a real registry (CNCF distribution 2.8, Debian's
//! docker-registry) with Harbor-style token auth, a test CA, a fault-injecting proxy and a
//! real pull-through cache (tests/support). Every failure class has its outcome and exit
//! code asserted; pinning and lock files round-trip; no credential leaks.

use crate::support;
use crate::support::common;

use std::path::Path;
use std::time::Duration;

use common::{code, harborize, json, stderr, stdout};
use support::fault::{FaultPlan, FaultProxy};
use support::registry::{HarnessOptions, RegistryHarness};

/// A Pod referencing `refs` (upstream or Harbor form).
fn manifest(dir: &Path, refs: &[&str]) -> std::path::PathBuf {
    let mut text =
        String::from("apiVersion: v1\nkind: Pod\nmetadata:\n  name: t\nspec:\n  containers:\n");
    for (i, r) in refs.iter().enumerate() {
        text.push_str(&format!("    - name: c{i}\n      image: {r}\n"));
    }
    let p = dir.join("pod.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

struct Run {
    code: i32,
    out: String,
    err: String,
    json: Option<serde_json::Value>,
}

fn verify(dir: &Path, harbor: &str, extra: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = harborize();
    cmd.args([
        "verify",
        dir.to_str().unwrap(),
        "--harbor",
        harbor,
        "--format",
        "json",
    ])
    .args(extra);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    Run {
        code: code(&out),
        out: stdout(&out),
        err: stderr(&out),
        json: serde_json::from_slice(&out.stdout).ok(),
    }
}

/// outcome per original reference text.
fn outcomes(run: &Run) -> Vec<(String, String, Option<String>)> {
    run.json
        .as_ref()
        .unwrap_or_else(|| panic!("no json: {}\n{}", run.out, run.err))["references"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let v = &r["verify"];
            (
                r["original"].as_str().unwrap().to_string(),
                v["outcome"].as_str().unwrap_or("none").to_string(),
                v["digest"].as_str().map(str::to_string),
            )
        })
        .collect()
}

fn harness_tls() -> RegistryHarness {
    RegistryHarness::start(
        HarnessOptions::default()
            .public_projects(&["docker-hub", "ghcr"])
            .user("robot$ci", "Robot-Secret-42"),
    )
}

#[test]
fn resolves_and_classifies_missing_tags_and_repositories_over_tls() {
    let h = harness_tls();
    let nginx = h.push_image("docker-hub/library/nginx", "1.27");
    let app = h.push_image("ghcr/acme/app", "v1");
    let tmp = tempfile::tempdir().unwrap();
    manifest(
        tmp.path(),
        &[
            "nginx:1.27",
            "ghcr.io/acme/app:v1",
            "ghcr.io/acme/app:nope",
            "ghcr.io/acme/missing:1",
            "nginx:1.27",
        ],
    );
    let cacert = h.ca_pem_path();
    let run = verify(
        tmp.path(),
        &h.host(),
        &["--cacert", cacert.to_str().unwrap()],
        &[],
    );
    assert_eq!(run.code, 1, "{}\n{}", run.out, run.err);
    let got = outcomes(&run);
    assert_eq!(
        got[0],
        ("nginx:1.27".into(), "resolved".into(), Some(nginx.clone()))
    );
    assert_eq!(
        got[1],
        ("ghcr.io/acme/app:v1".into(), "resolved".into(), Some(app))
    );
    assert_eq!(got[2].1, "tag-not-found");
    assert_eq!(got[3].1, "repository-not-found");
    assert_eq!(got[4].1, "resolved", "duplicate reference shares the check");
    let v = &run.json.as_ref().unwrap()["references"][0]["verify"];
    assert_eq!(v["http_status"], 200);
    assert!(v["attempts"].as_u64().unwrap() >= 1 && v["milliseconds"].is_u64());
    // One token request covered every repository (several scope= parameters).
    let tokens = h.token_requests();
    assert_eq!(tokens.len(), 1, "token requests: {tokens:?}");
    assert_eq!(tokens[0].len(), 3, "scopes: {tokens:?}");
}

#[test]
fn tls_errors_and_insecure() {
    let h = harness_tls();
    h.push_image("docker-hub/library/nginx", "1.27");
    let tmp = tempfile::tempdir().unwrap();
    manifest(tmp.path(), &["nginx:1.27"]);
    let run = verify(tmp.path(), &h.host(), &[], &[]);
    assert_eq!(
        run.code, 2,
        "unknown CA must fail as unreachable: {}",
        run.out
    );
    assert_eq!(outcomes(&run)[0].1, "tls-error");
    let run = verify(tmp.path(), &h.host(), &["--on-unreachable", "warn"], &[]);
    assert_eq!(run.code, 0, "warn mode: {}", run.out);
    let run = verify(tmp.path(), &h.host(), &["--insecure"], &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.out, run.err);
    assert!(run.err.contains("--insecure"), "no warning: {}", run.err);
    assert_eq!(outcomes(&run)[0].1, "resolved");
}

#[test]
fn private_projects_need_credentials_which_never_leak() {
    let h = harness_tls();
    let digest = h.push_image("private/team/app", "1");
    let tmp = tempfile::tempdir().unwrap();
    let host = h.host();
    manifest(tmp.path(), &[&format!("{host}/private/team/app:1")]);
    let cacert = h.ca_pem_path();
    let ca = ["--cacert", cacert.to_str().unwrap()];
    let run = verify(tmp.path(), &host, &ca, &[]);
    assert_eq!(run.code, 1);
    assert_eq!(outcomes(&run)[0].1, "unauthorized");

    let run = verify(
        tmp.path(),
        &host,
        &ca,
        &[
            ("HARBORIZE_USERNAME", "robot$ci"),
            ("HARBORIZE_PASSWORD", "Robot-Secret-42"),
        ],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.out, run.err);
    assert_eq!(outcomes(&run)[0].2.as_deref(), Some(digest.as_str()));
    assert!(
        !run.out.contains("Robot-Secret-42") && !run.err.contains("Robot-Secret-42"),
        "password leaked"
    );
    for auth in h.authorization_headers() {
        let token = auth
            .trim_start_matches("Bearer ")
            .trim_start_matches("Basic ");
        assert!(
            !run.out.contains(token) && !run.err.contains(token),
            "credential or token leaked"
        );
    }
    // The token service saw Basic credentials; the registry only Bearer tokens.
    assert!(h
        .token_request_log()
        .iter()
        .any(|t| t.user.as_deref() == Some("robot$ci")));

    // docker config.json works too.
    let docker = tempfile::tempdir().unwrap();
    let auth = base64_encode("robot$ci:Robot-Secret-42");
    std::fs::write(
        docker.path().join("config.json"),
        format!("{{\"auths\":{{\"{host}\":{{\"auth\":\"{auth}\"}}}}}}"),
    )
    .unwrap();
    let run = verify(
        tmp.path(),
        &host,
        &ca,
        &[("DOCKER_CONFIG", docker.path().to_str().unwrap())],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.out, run.err);

    // Wrong password: unauthorized, and still not printed.
    let run = verify(
        tmp.path(),
        &host,
        &ca,
        &[
            ("HARBORIZE_USERNAME", "robot$ci"),
            ("HARBORIZE_PASSWORD", "Wrong-Secret-99"),
        ],
    );
    assert_eq!(run.code, 1);
    assert!(!run.out.contains("Wrong-Secret-99") && !run.err.contains("Wrong-Secret-99"));
}

/// Issue #12 item 10: the registry names its token realm, so it decides where the Basic
/// credentials go. A realm on another host (127.0.0.2 beside Harbor's 127.0.0.1) gets
/// them only when `registry.token_realms` lists it; a plain-HTTP realm only with
/// `--plain-http`/`--insecure`. Withheld, the token is asked for anonymously and a
/// warning says why. The token services record every Authorization header they receive.
#[test]
fn token_realm_on_another_host_or_over_http_gets_no_credentials() {
    let creds = [
        ("HARBORIZE_USERNAME", "robot$ci"),
        ("HARBORIZE_PASSWORD", "Robot-Secret-42"),
    ];
    let cfg_dir = tempfile::tempdir().unwrap();
    let no_trust = cfg_dir.path().join("none.yaml");
    std::fs::write(&no_trust, "").unwrap();
    let trust = cfg_dir.path().join("trust.yaml");
    std::fs::write(&trust, "registry:\n  token_realms: [127.0.0.2]\n").unwrap();

    // Another host.
    let h = RegistryHarness::start(
        HarnessOptions::default()
            .user("robot$ci", "Robot-Secret-42")
            .token_ip(std::net::Ipv4Addr::new(127, 0, 0, 2)),
    );
    assert!(h.realm().contains("127.0.0.2"), "{}", h.realm());
    h.push_image("private/team/app", "1");
    let tmp = tempfile::tempdir().unwrap();
    manifest(tmp.path(), &[&format!("{}/private/team/app:1", h.host())]);
    let cacert = h.ca_pem_path();
    let ca = cacert.to_str().unwrap();
    let cfg = no_trust.to_str().unwrap();
    let run = verify(
        tmp.path(),
        &h.host(),
        &["--cacert", ca, "--config", cfg],
        &creds,
    );
    assert_eq!(run.code, 1, "{}\n{}", run.out, run.err);
    assert_eq!(outcomes(&run)[0].1, "unauthorized");
    assert!(
        run.err.contains("registry.token_realms") && run.err.contains("127.0.0.2"),
        "no warning: {}",
        run.err
    );
    assert!(
        !h.token_request_log().is_empty(),
        "the token was not asked for"
    );
    assert_eq!(
        h.authorization_headers(),
        Vec::<String>::new(),
        "credentials reached a token realm on another host"
    );
    let cfg = trust.to_str().unwrap();
    let run = verify(
        tmp.path(),
        &h.host(),
        &["--cacert", ca, "--config", cfg],
        &creds,
    );
    assert_eq!(
        run.code, 0,
        "listed in registry.token_realms: {}\n{}",
        run.out, run.err
    );
    assert!(h
        .authorization_headers()
        .iter()
        .any(|a| a.starts_with("Basic ")));

    // Plain HTTP realm beside an HTTPS registry.
    let h = RegistryHarness::start(
        HarnessOptions::default()
            .user("robot$ci", "Robot-Secret-42")
            .token_tls(false),
    );
    assert!(h.realm().starts_with("http://"), "{}", h.realm());
    h.push_image("private/team/app", "1");
    manifest(tmp.path(), &[&format!("{}/private/team/app:1", h.host())]);
    let cacert = h.ca_pem_path();
    let ca = cacert.to_str().unwrap();
    let cfg = no_trust.to_str().unwrap();
    let run = verify(
        tmp.path(),
        &h.host(),
        &["--cacert", ca, "--config", cfg],
        &creds,
    );
    assert_eq!(run.code, 1, "{}\n{}", run.out, run.err);
    assert!(run.err.contains("plain HTTP"), "no warning: {}", run.err);
    assert_eq!(
        h.authorization_headers(),
        Vec::<String>::new(),
        "credentials went over plain HTTP"
    );
    let run = verify(
        tmp.path(),
        &h.host(),
        &["--insecure", "--config", cfg],
        &creds,
    );
    assert_eq!(run.code, 0, "with --insecure: {}\n{}", run.out, run.err);
    assert!(h
        .authorization_headers()
        .iter()
        .any(|a| a.starts_with("Basic ")));
}

fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn unreachable_harbor_fails_or_warns() {
    let host = format!("127.0.0.1:{}", crate::support::common::closed_port());
    let tmp = tempfile::tempdir().unwrap();
    manifest(tmp.path(), &["nginx:1.27"]);
    let run = verify(tmp.path(), &host, &["--plain-http", "--retries", "1"], &[]);
    assert_eq!(run.code, 2, "{}", run.out);
    assert_eq!(outcomes(&run)[0].1, "unreachable");
    let run = verify(
        tmp.path(),
        &host,
        &["--plain-http", "--retries", "0", "--on-unreachable", "warn"],
        &[],
    );
    assert_eq!(run.code, 0);
}

fn plain_behind_proxy() -> (RegistryHarness, FaultProxy) {
    let h =
        RegistryHarness::start(HarnessOptions::plain().public_projects(&["docker-hub", "ghcr"]));
    let proxy = FaultProxy::start(h.addr(), FaultPlan::shared());
    (h, proxy)
}

#[test]
fn rate_limits_and_server_errors_are_retried_honouring_retry_after() {
    let (h, proxy) = plain_behind_proxy();
    let digest = h.push_image("docker-hub/library/nginx", "1.27");
    let tmp = tempfile::tempdir().unwrap();
    manifest(tmp.path(), &["nginx:1.27"]);
    let args = ["--plain-http", "--retries", "3"];

    proxy.plan(|p| {
        p.too_many_requests = 2;
        p.retry_after = "1".into();
        p.only_method = Some("HEAD".into());
    });
    let started = std::time::Instant::now();
    let run = verify(tmp.path(), &proxy.host(), &args, &[]);
    assert_eq!(run.code, 0, "{}", run.out);
    let v = &run.json.as_ref().unwrap()["references"][0]["verify"];
    assert_eq!(v["outcome"], "resolved");
    assert_eq!(v["digest"], digest.as_str());
    assert_eq!(v["attempts"], 3);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Retry-After: 1 was not honoured"
    );

    proxy.plan(|p| {
        p.unavailable = 2;
        p.only_method = Some("HEAD".into());
    });
    let run = verify(tmp.path(), &proxy.host(), &args, &[]);
    assert_eq!(run.code, 0);
    assert_eq!(
        run.json.as_ref().unwrap()["references"][0]["verify"]["attempts"],
        3
    );

    proxy.plan(|p| {
        p.too_many_requests = 100;
        p.retry_after = "0".into();
        p.only_method = Some("HEAD".into());
    });
    let run = verify(
        tmp.path(),
        &proxy.host(),
        &["--plain-http", "--retries", "1"],
        &[],
    );
    assert_eq!(run.code, 1);
    assert_eq!(outcomes(&run)[0].1, "rate-limited");
    proxy.plan(|p| *p = FaultPlan::default());
}

#[test]
fn connection_resets_are_retried_and_stalls_time_out() {
    let (h, proxy) = plain_behind_proxy();
    h.push_image("docker-hub/library/nginx", "1.27");
    let tmp = tempfile::tempdir().unwrap();
    manifest(tmp.path(), &["nginx:1.27"]);
    proxy.plan(|p| {
        p.reset = 1;
        p.only_method = Some("HEAD".into());
    });
    let run = verify(
        tmp.path(),
        &proxy.host(),
        &["--plain-http", "--retries", "2"],
        &[],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.out, run.err);
    assert_eq!(outcomes(&run)[0].1, "resolved");

    proxy.plan(|p| {
        p.stall = 10;
        p.stall_for = Duration::from_secs(5);
        p.only_method = Some("HEAD".into());
    });
    let run = verify(
        tmp.path(),
        &proxy.host(),
        &["--plain-http", "--retries", "0", "--timeout", "1"],
        &[],
    );
    assert_eq!(run.code, 2, "{}", run.out);
    assert_eq!(outcomes(&run)[0].1, "unreachable");
}

#[test]
fn duplicates_are_checked_once_over_kept_alive_connections() {
    let (h, proxy) = plain_behind_proxy();
    for i in 0..12 {
        h.push_image("ghcr/acme/app", &format!("v{i}"));
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut refs: Vec<String> = (0..12).map(|i| format!("ghcr.io/acme/app:v{i}")).collect();
    refs.extend(refs.clone());
    let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
    manifest(tmp.path(), &refs);
    proxy.clear();
    let run = verify(
        tmp.path(),
        &proxy.host(),
        &["--plain-http", "--jobs", "4"],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.out);
    assert_eq!(
        proxy.count("HEAD", "/manifests/"),
        12,
        "one HEAD per unique reference"
    );
    assert_eq!(
        proxy.count("GET", "/manifests/"),
        0,
        "a verify must never GET a manifest"
    );
    assert!(
        proxy.connections() <= 6,
        "keep-alive: {} connections",
        proxy.connections()
    );
    assert_eq!(h.token_requests().len(), 1);
}

#[test]
fn required_platforms_are_checked_on_the_index() {
    let h = harness_tls();
    h.push_index(
        "docker-hub/library/multi",
        "1",
        &[("linux", "amd64"), ("linux", "arm64")],
    );
    h.push_index("docker-hub/library/amd", "1", &[("linux", "amd64")]);
    let tmp = tempfile::tempdir().unwrap();
    manifest(tmp.path(), &["multi:1", "amd:1"]);
    let cacert = h.ca_pem_path();
    let ca = cacert.to_str().unwrap();
    let run = verify(
        tmp.path(),
        &h.host(),
        &["--cacert", ca, "--platform", "linux/amd64,linux/arm64"],
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.out);
    let got = outcomes(&run);
    assert_eq!(got[0].1, "resolved");
    assert_eq!(got[1].1, "platform-missing");
    let run = verify(
        tmp.path(),
        &h.host(),
        &["--cacert", ca, "--platform", "linux/amd64"],
        &[],
    );
    assert_eq!(run.code, 0);
}

#[test]
fn pin_and_lock_round_trip() {
    let h = harness_tls();
    let d1 = h.push_image("docker-hub/library/nginx", "1.27");
    let tmp = tempfile::tempdir().unwrap();
    let file = manifest(tmp.path(), &["nginx:1.27"]);
    let cacert = h.ca_pem_path();
    let ca = cacert.to_str().unwrap();
    let lock = tmp.path().join("harborize.lock");
    let run = verify(
        tmp.path(),
        &h.host(),
        &["--cacert", ca, "--lock", lock.to_str().unwrap()],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.out);
    let locked: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&lock).unwrap()).unwrap();
    assert_eq!(locked["harbor"], h.host());
    assert!(locked["generated"].is_string());
    assert_eq!(
        locked["references"][format!("{}/docker-hub/library/nginx:1.27", h.host())],
        d1.as_str()
    );
    let run = verify(
        tmp.path(),
        &h.host(),
        &["--cacert", ca, "--locked", lock.to_str().unwrap()],
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.out);

    // The tag moves upstream: the lock catches it.
    let d2 = h
        .push_image_with(
            "docker-hub/library/nginx",
            "1.27",
            &support::oci::ImageSpec {
                architecture: "arm64".into(),
                ..Default::default()
            },
        )
        .digest;
    assert_ne!(d1, d2);
    let run = verify(
        tmp.path(),
        &h.host(),
        &["--cacert", ca, "--locked", lock.to_str().unwrap()],
        &[],
    );
    assert_eq!(run.code, 1);
    assert_eq!(outcomes(&run)[0].1, "digest-mismatch");

    // --pin writes name:tag@digest through the byte-exact editor; a rerun is stable.
    let run = verify(tmp.path(), &h.host(), &["--cacert", ca, "--pin"], &[]);
    assert_eq!(run.code, 0, "{}", run.out);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains(&format!(
            "image: {}/docker-hub/library/nginx:1.27@{d2}\n",
            h.host()
        )),
        "{text}"
    );
    let run = verify(tmp.path(), &h.host(), &["--cacert", ca, "--pin"], &[]);
    assert_eq!(run.code, 0);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
}

#[test]
fn proxy_cache_resolves_upstream_tags_cold_and_warm() {
    let upstream =
        RegistryHarness::start(HarnessOptions::plain().public_projects(&["docker-hub", "ghcr"]));
    let digest = upstream.push_image("ghcr/acme/app", "v9");
    let cache = RegistryHarness::start_proxy_cache(&upstream);
    let tmp = tempfile::tempdir().unwrap();
    manifest(tmp.path(), &["ghcr.io/acme/app:v9"]);
    let tls_args: Vec<String> = if cache.tls() {
        vec!["--cacert".into(), cache.ca_pem_path().display().to_string()]
    } else {
        vec!["--plain-http".into()]
    };
    let args: Vec<&str> = tls_args.iter().map(String::as_str).collect();
    for round in ["cold", "warm"] {
        let run = verify(tmp.path(), &cache.host(), &args, &[]);
        assert_eq!(run.code, 0, "{round}: {}\n{}", run.out, run.err);
        assert_eq!(
            outcomes(&run)[0].2.as_deref(),
            Some(digest.as_str()),
            "{round}"
        );
    }
}

#[test]
fn rewrite_verify_writes_nothing_when_a_reference_fails() {
    let h = harness_tls();
    h.push_image("docker-hub/library/nginx", "1.27");
    let tmp = tempfile::tempdir().unwrap();
    let file = manifest(tmp.path(), &["nginx:1.27", "nginx:9.99"]);
    let before = std::fs::read_to_string(&file).unwrap();
    let cacert = h.ca_pem_path();
    let base = [
        "rewrite",
        tmp.path().to_str().unwrap(),
        "--harbor",
        &h.host(),
        "--verify",
        "--cacert",
        cacert.to_str().unwrap(),
    ];
    let out = harborize().args(base).output().unwrap();
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert!(stderr(&out).contains("nothing was written"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);
    let out = harborize()
        .args(base)
        .arg("--allow-unresolved")
        .output()
        .unwrap();
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .contains(&format!("{}/docker-hub/library/nginx:9.99", h.host())));
    let _ = json;
}

/// Issue 10: `rewrite --verify` plans once and writes that plan. A file edited while the
/// plan is being verified is refused (never overwritten with a plan made on other
/// bytes), and the verify results stay with the references they were made for (joined by
/// identity: the old code re-walked and zipped results by position).
#[test]
fn a_file_changed_while_its_plan_is_verified_is_refused_and_results_stay_with_their_references() {
    let (h, proxy) = plain_behind_proxy();
    let nginx = h.push_image("docker-hub/library/nginx", "1.27");
    let redis = h.push_image("docker-hub/library/redis", "7");
    assert_ne!(nginx, redis);
    let tmp = tempfile::tempdir().unwrap();
    let pod = manifest(tmp.path(), &["nginx:1.27"]);
    let other = tmp.path().join("other.yaml");
    std::fs::write(
        &other,
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - name: a\n      image: redis:7\n",
    )
    .unwrap();
    proxy.plan(|p| p.delay = Duration::from_secs(2));
    let child = harborize()
        .args([
            "rewrite",
            tmp.path().to_str().unwrap(),
            "--harbor",
            &proxy.host(),
            "--plain-http",
            "--verify",
            "--format",
            "json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // While the registry answers slowly, another writer adds a container above the
    // planned one: the plan's byte ranges no longer fit this text.
    std::thread::sleep(Duration::from_millis(700));
    let edited = std::fs::read_to_string(&pod).unwrap().replace(
        "  containers:\n",
        "  containers:\n    - name: x\n      image: busybox:1\n",
    );
    std::fs::write(&pod, &edited).unwrap();
    let out = child.wait_with_output().unwrap();
    proxy.plan(|p| *p = FaultPlan::default());
    assert_eq!(code(&out), 2, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&pod).unwrap(),
        edited,
        "the other writer's change was overwritten"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let err = report["errors"][0]["message"].as_str().unwrap();
    assert!(
        err.contains("changed on disk since harborize planned it"),
        "{err}"
    );
    // The untouched file is written, and its verify result is its own.
    assert!(std::fs::read_to_string(&other)
        .unwrap()
        .contains(&format!("{}/docker-hub/library/redis:7", proxy.host())));
    let digests: Vec<(String, String)> = report["references"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["original"].as_str().unwrap().to_string(),
                r["verify"]["digest"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    assert!(
        digests.contains(&("nginx:1.27".into(), nginx)),
        "{digests:?}"
    );
    assert!(digests.contains(&("redis:7".into(), redis)), "{digests:?}");
}

/// The manifest GETs among the requests the proxy saw (a GET of a manifest through a Harbor
/// proxy-cache project pulls the image: verify must only ever HEAD).
fn manifest_gets(proxy: &FaultProxy) -> Vec<String> {
    proxy
        .request_log()
        .iter()
        .filter(|r| r.method.eq_ignore_ascii_case("GET") && r.target.contains("/manifests/"))
        .map(|r| format!("GET {} -> {:?}", r.target, r.status))
        .collect()
}

/// Issue #17 item 4: a missing tag, a missing repository (404) and a private project
/// without credentials (401, even after the fresh token asked for once) are classified
/// from HEADs and the tag list; no answer makes verify GET a manifest.
#[test]
fn no_manifest_get_after_a_404_or_a_401() {
    let (h, proxy) = plain_behind_proxy();
    let nginx = h.push_image("docker-hub/library/nginx", "1.27");
    h.push_image("private/team/app", "1");
    let tmp = tempfile::tempdir().unwrap();
    let host = proxy.host();
    let private = format!("{host}/private/team/app:1");
    manifest(
        tmp.path(),
        &[
            "nginx:1.27",
            "nginx:0.0.0-missing",
            "ghcr.io/acme/missing:1",
            &private,
        ],
    );
    proxy.clear();
    let run = verify(tmp.path(), &host, &["--plain-http"], &[]);
    assert_eq!(run.code, 1, "{}\n{}", run.out, run.err);
    let got = outcomes(&run);
    assert_eq!(
        got[0],
        ("nginx:1.27".into(), "resolved".into(), Some(nginx))
    );
    assert_eq!(got[1].1, "tag-not-found", "{got:?}");
    assert_eq!(got[2].1, "repository-not-found", "{got:?}");
    assert_eq!(got[3].1, "unauthorized", "{got:?}");
    let log = proxy.request_log();
    let statuses: Vec<(String, String, Option<u16>)> = log
        .iter()
        .map(|r| (r.method.clone(), r.target.clone(), r.status))
        .collect();
    // The failures really happened on the wire: 404s for both missing ones, 401s for the
    // private project (the first token, then the fresh one asked for once).
    assert!(
        log.iter()
            .filter(|r| r.method == "HEAD" && r.status == Some(404))
            .count()
            >= 2,
        "{statuses:#?}"
    );
    assert_eq!(
        log.iter()
            .filter(|r| r.target.contains("/private/team/app/") && r.status == Some(401))
            .count(),
        2,
        "one 401, one retry with a fresh token, no more: {statuses:#?}"
    );
    assert_eq!(manifest_gets(&proxy), Vec::<String>::new(), "{statuses:#?}");
}

/// The bearer token of an Authorization header, and its JWT `exp` claim.
fn bearer_exp(auth: &str) -> Option<(String, u64)> {
    use base64::Engine as _;
    let token = auth.strip_prefix("Bearer ")?;
    let claims = token.split('.').nth(1)?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims)
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&raw).ok()?;
    Some((token.to_string(), v["exp"].as_u64()?))
}

/// Issue #17 item 4: a token the registry refuses with `error="invalid_token"` (expired
/// early: `expires_in` still promised half an hour) is replaced by a fresh one, once, and
/// the check goes on with it; still no manifest GET.
#[test]
fn a_401_asking_for_a_fresh_token_gets_one_and_the_check_goes_on() {
    let (h, proxy) = plain_behind_proxy();
    let digest = h.push_image("docker-hub/library/nginx", "1.27");
    // What the registry answers a request bearing an expired token.
    let stale = h.mint_token_issued(
        None,
        &["repository:docker-hub/library/nginx:pull"],
        7200,
        1800,
    );
    let resp = h.head_manifest("docker-hub/library/nginx", "1.27", Some(&stale));
    assert_eq!(resp.status, 401);
    let challenge = resp.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer ") && challenge.contains("error=\"invalid_token\""),
        "{challenge}"
    );

    let tmp = tempfile::tempdir().unwrap();
    manifest(tmp.path(), &["nginx:1.27"]);
    h.issue_expired_tokens(1);
    proxy.clear();
    let before = h.token_request_log().len();
    let run = verify(tmp.path(), &proxy.host(), &["--plain-http"], &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.out, run.err);
    assert_eq!(outcomes(&run)[0].2.as_deref(), Some(digest.as_str()));
    assert_eq!(
        h.token_request_log().len() - before,
        2,
        "the expired token, then exactly one fresh one"
    );
    let heads: Vec<(Option<u16>, Option<String>)> = proxy
        .request_log()
        .iter()
        .filter(|r| r.method == "HEAD" && r.target.contains("/manifests/"))
        .map(|r| (r.status, r.authorization.clone()))
        .collect();
    assert_eq!(
        heads.iter().map(|(status, _)| *status).collect::<Vec<_>>(),
        [Some(401), Some(200)],
        "{heads:?}"
    );
    assert_ne!(heads[0].1, heads[1].1, "the retry carried the fresh token");
    assert_eq!(manifest_gets(&proxy), Vec::<String>::new());
}

/// Issue #17 item 4: a run that outlasts its token's `expires_in` asks for a new token
/// before the old one runs out. The registry here refuses a token the moment its
/// `expires_in` has passed (no leeway), so a token used too long shows up as a 401.
#[test]
fn a_token_whose_expires_in_passes_mid_run_is_renewed_before_it_is_refused() {
    let (h, proxy) = plain_behind_proxy();
    // The shortest lifetime verify accepts as given (it renews 5 s early, and treats
    // anything under 10 s as 10 s).
    h.set_token_ttl_secs(10);
    h.set_exact_token_expiry(true);
    let refs: Vec<String> = (0..14).map(|i| format!("ghcr.io/acme/app:v{i}")).collect();
    for i in 0..14 {
        h.push_image("ghcr/acme/app", &format!("v{i}"));
    }
    let tmp = tempfile::tempdir().unwrap();
    let refs_str: Vec<&str> = refs.iter().map(String::as_str).collect();
    manifest(tmp.path(), &refs_str);
    // One reference at a time, 0.9 s each: the run lasts about 13 s, past the 10 s `exp`.
    proxy.plan(|p| {
        p.delay = Duration::from_millis(900);
        p.only_method = Some("HEAD".into());
    });
    proxy.clear();
    let started = std::time::Instant::now();
    let run = verify(
        tmp.path(),
        &proxy.host(),
        &["--plain-http", "--jobs", "1"],
        &[],
    );
    let elapsed = started.elapsed();
    proxy.plan(|p| *p = FaultPlan::default());
    assert_eq!(run.code, 0, "{}\n{}", run.out, run.err);
    assert!(
        elapsed > Duration::from_secs(11),
        "the run must outlast the token: {elapsed:?}"
    );
    assert!(outcomes(&run).iter().all(|o| o.1 == "resolved"));
    let log = proxy.request_log();
    // (The `GET /v2/` that learns the auth scheme is a 401 by design.)
    let refused: Vec<&str> = log
        .iter()
        .filter(|r| r.status == Some(401) && r.target.contains("/manifests/"))
        .map(|r| r.target.as_str())
        .collect();
    assert!(
        refused.is_empty(),
        "a token was used after its expires_in: {refused:?}"
    );
    let mut tokens: Vec<(String, u64)> = log
        .iter()
        .filter_map(|r| r.authorization.as_deref().and_then(bearer_exp))
        .collect();
    tokens.dedup();
    assert!(tokens.len() >= 2, "one token for the whole run: {tokens:?}");
    assert_eq!(manifest_gets(&proxy), Vec::<String>::new());
}
