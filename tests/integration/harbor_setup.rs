//! `harborize harbor setup` against a local Harbor API service (`support::harbor`): the
//! reference setup created once and then left alone, drift reported and never changed,
//! `--dry-run` without writes, 401/403/unhealthy as clear errors, 409 as already there,
//! list paging through `Link`, TLS with `--cacert`, secrets never printed; and the
//! contract test: every request the client sent and every answer the service gave,
//! checked against Harbor's own Swagger file.

use crate::support;
use crate::support::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use serde_json::{json, Value};
use support::harbor::swagger::{self, Swagger};
use support::harbor::{HarborService, ADMIN, ADMIN_PASSWORD, DEVELOPER, DEVELOPER_PASSWORD};

/// The reference setup: (registry, project, endpoint type, endpoint URL).
const REFERENCE: &[(&str, &str, &str, &str)] = &[
    (
        "docker.io",
        "docker-hub",
        "docker-hub",
        "https://hub.docker.com",
    ),
    ("ghcr.io", "ghcr", "github-ghcr", "https://ghcr.io"),
    ("quay.io", "quay", "docker-registry", "https://quay.io"),
    (
        "registry.k8s.io",
        "k8s-registry",
        "docker-registry",
        "https://registry.k8s.io",
    ),
];

const UPSTREAM_SECRET: &str = "dckr_pat_Upstream-Secret-42";

/// A temp dir with harborize.yaml (empty: the embedded default, the reference setup).
fn workdir(config: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("harborize.yaml");
    std::fs::write(&cfg, config).unwrap();
    (dir, cfg)
}

/// `harborize harbor setup --config CFG --harbor <svc> --plain-http` as admin.
fn setup_cmd(svc: &HarborService, cfg: &Path) -> Command {
    let mut cmd = harborize();
    cmd.current_dir(cfg.parent().unwrap())
        .args(["harbor", "setup", "--config"])
        .arg(cfg)
        .args(["--harbor", &svc.host()])
        .env("HARBORIZE_USERNAME", ADMIN)
        .env("HARBORIZE_PASSWORD", ADMIN_PASSWORD);
    if svc.ca_pem.is_none() {
        cmd.arg("--plain-http");
    }
    cmd
}

fn run_setup(svc: &HarborService, cfg: &Path, extra: &[&str]) -> Output {
    let out = setup_cmd(svc, cfg).args(extra).output().unwrap();
    assert_no_secret(&out);
    out
}

fn show(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    )
}

fn assert_no_secret(out: &Output) {
    for secret in [ADMIN_PASSWORD, DEVELOPER_PASSWORD, UPSTREAM_SECRET] {
        assert!(
            !stdout(out).contains(secret) && !stderr(out).contains(secret),
            "a secret was printed\n{}",
            show(out)
        );
    }
}

/// `(kind, name) → action` of a JSON report.
fn actions(report: &Value) -> Vec<(String, String, String)> {
    report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["kind"].as_str().unwrap().to_string(),
                a["name"].as_str().unwrap().to_string(),
                a["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn action<'a>(report: &'a Value, kind: &str, registry: &str) -> &'a Value {
    report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == kind && a["registry"] == registry)
        .unwrap_or_else(|| panic!("no {kind} action for {registry} in {report:#}"))
}

/// The service's exchanges all match Harbor's Swagger file.
fn assert_contract(exchanges: &[support::harbor::Exchange]) -> swagger::Findings {
    let findings = swagger::check_all(exchanges);
    assert!(
        findings.errors.is_empty(),
        "contract violations:\n{}",
        findings.errors.join("\n")
    );
    findings
}

fn writes(exchanges: &[support::harbor::Exchange]) -> Vec<String> {
    exchanges
        .iter()
        .filter(|e| e.is_write())
        .map(|e| e.line())
        .collect()
}

fn assert_reference_state(svc: &HarborService) {
    for (registry, project, kind, url) in REFERENCE {
        let r = svc
            .registry(project)
            .unwrap_or_else(|| panic!("no endpoint {project} for {registry}"));
        assert_eq!(
            (r.kind.as_str(), r.url.as_str()),
            (*kind, *url),
            "{registry}"
        );
        assert!(!r.insecure);
        assert!(r.description.contains(registry), "{}", r.description);
        let p = svc.project(project).unwrap();
        assert_eq!(p.registry_id, r.id, "{project} proxies its endpoint");
        assert!(p.public, "{project} is public");
    }
}

#[test]
fn first_run_creates_the_reference_setup_second_run_nothing() {
    let svc = HarborService::start();
    let (_dir, cfg) = workdir("");

    let out = run_setup(&svc, &cfg, &["--format", "json"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let report = json(&out);
    assert_eq!(report["version"], 1);
    assert_eq!(report["harbor"], svc.host());
    assert_eq!(report["dry_run"], false);
    let mut expected = Vec::new();
    for (_, project, _, _) in REFERENCE {
        expected.push(("endpoint".into(), project.to_string(), "created".into()));
        expected.push(("project".into(), project.to_string(), "created".into()));
    }
    assert_eq!(actions(&report), expected);
    assert_eq!(
        report["summary"],
        json!({"created": 8, "exists": 0, "drift": 0, "would_create": 0, "skipped": 0, "errors": 0})
    );
    for (registry, project, kind, url) in REFERENCE {
        let e = action(&report, "endpoint", registry);
        assert_eq!(e["endpoint_type"], *kind);
        assert_eq!(e["url"], *url);
        let id = svc.registry(project).unwrap().id;
        assert_eq!(e["id"], id);
        let p = action(&report, "project", registry);
        assert_eq!(p["registry_id"], id);
        assert_eq!(p["id"], svc.project(project).unwrap().id);
    }
    assert_reference_state(&svc);
    let first = svc.take_log();
    assert_eq!(
        writes(&first).len(),
        8,
        "4 endpoints + 4 projects: {:#?}",
        writes(&first)
    );
    // Basic auth on every request but the ping, no cookie, JSON bodies.
    for ex in &first {
        let auth = ex.request_header("Authorization");
        if ex.path == "/api/v2.0/ping" {
            assert!(auth.is_none(), "ping goes without credentials");
        } else {
            assert!(
                auth.is_some_and(|a| a.starts_with("Basic ")),
                "{}",
                ex.line()
            );
        }
        assert!(ex.request_header("Cookie").is_none());
    }
    // quay.io is a docker-registry endpoint (Harbor 2.14+ refuses `quay` for proxy cache).
    let quay_post = first
        .iter()
        .find(|e| e.method == "POST" && e.request_json().is_some_and(|b| b["name"] == "quay"))
        .unwrap();
    assert_eq!(
        quay_post.request_json().unwrap(),
        json!({"name": "quay", "type": "docker-registry", "url": "https://quay.io",
               "insecure": false, "description": "quay.io (harborize proxy cache)"})
    );
    let project_post = first
        .iter()
        .find(|e| e.path == "/api/v2.0/projects" && e.method == "POST")
        .unwrap()
        .request_json()
        .unwrap();
    assert_eq!(project_post["metadata"], json!({"public": "true"}));
    assert!(project_post["registry_id"].is_i64());

    // Second run: everything exists, nothing is written.
    let out = run_setup(&svc, &cfg, &["--format", "json"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let report = json(&out);
    assert!(
        actions(&report).iter().all(|(_, _, a)| a == "exists"),
        "{report:#}"
    );
    assert_eq!(report["summary"]["exists"], 8);
    let second = svc.take_log();
    assert_eq!(writes(&second), Vec::<String>::new());
    // The existence checks Harbor's API documents.
    assert!(second
        .iter()
        .any(|e| e.method == "HEAD" && e.query_value("project_name") == Some("ghcr")));
    assert!(second.iter().any(|e| e.method == "GET"
        && e.path == "/api/v2.0/projects/ghcr"
        && e.request_header("X-Is-Resource-Name") == Some("true")));
    assert_reference_state(&svc);

    // Text output says the same.
    let out = run_setup(&svc, &cfg, &[]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let text = stdout(&out);
    assert!(text.contains("quay.io\n"), "{text}");
    assert!(
        text.contains("endpoint quay")
            && text.contains("docker-registry https://quay.io")
            && text.contains("exists"),
        "{text}"
    );
    assert!(text.contains("0 created, 8 exist, 0 drift"), "{text}");

    let mut log = first;
    log.extend(second);
    log.extend(svc.take_log());
    assert_contract(&log);
}

#[test]
fn dry_run_sends_no_write() {
    let svc = HarborService::start();
    let (_dir, cfg) = workdir("");
    let out = run_setup(&svc, &cfg, &["--dry-run", "--format", "json"]);
    assert_eq!(code(&out), 1, "pending changes exit 1\n{}", show(&out));
    let report = json(&out);
    assert_eq!(report["dry_run"], true);
    assert!(
        actions(&report).iter().all(|(_, _, a)| a == "would-create"),
        "{report:#}"
    );
    assert_eq!(report["summary"]["would_create"], 8);
    let log = svc.take_log();
    assert!(!log.is_empty());
    assert_eq!(writes(&log), Vec::<String>::new());
    assert!(svc.registries().is_empty() && svc.projects().is_empty());

    // Text, and with the endpoints in place: only the projects are pending, with the
    // endpoint ids they would proxy.
    for (_, project, kind, url) in REFERENCE {
        svc.add_registry(project, kind, url);
    }
    let out = run_setup(&svc, &cfg, &["--dry-run"]);
    assert_eq!(code(&out), 1, "{}", show(&out));
    let text = stdout(&out);
    assert!(text.contains("(dry run)"), "{text}");
    assert!(text.contains("would-create"), "{text}");
    assert!(text.contains("4 exist"), "{text}");
    let out = run_setup(&svc, &cfg, &["--dry-run", "--format", "json"]);
    let report = json(&out);
    let ghcr = action(&report, "project", "ghcr.io");
    assert_eq!(ghcr["action"], "would-create");
    assert_eq!(ghcr["registry_id"], svc.registry("ghcr").unwrap().id);
    let log = svc.take_log();
    assert_eq!(writes(&log), Vec::<String>::new());
    assert!(svc.projects().is_empty());
    assert_contract(&log);
}

#[test]
fn drift_is_reported_never_changed() {
    let svc = HarborService::start();
    let (_dir, cfg) = workdir("");
    // quay proxies an old `quay`-type endpoint (the pre-2.14 way);
    let old_quay = svc.add_registry("quay-old", "quay", "https://quay.io");
    svc.add_project("quay", Some(old_quay), true);
    // k8s-registry is a normal project, not a proxy cache;
    svc.add_project("k8s-registry", None, false);
    // the ghcr endpoint points elsewhere.
    let ghcr = svc.add_registry("ghcr", "docker-registry", "https://ghcr.example.com");

    let out = run_setup(&svc, &cfg, &["--format", "json"]);
    assert_eq!(code(&out), 1, "drift exits 1\n{}", show(&out));
    let report = json(&out);
    let get = |kind: &str, registry: &str| action(&report, kind, registry)["action"].clone();
    assert_eq!(get("endpoint", "docker.io"), "created");
    assert_eq!(get("project", "docker.io"), "created");
    assert_eq!(get("endpoint", "ghcr.io"), "drift");
    assert_eq!(get("project", "ghcr.io"), "skipped");
    assert_eq!(get("endpoint", "quay.io"), "created");
    assert_eq!(get("project", "quay.io"), "drift");
    assert_eq!(get("endpoint", "registry.k8s.io"), "created");
    assert_eq!(get("project", "registry.k8s.io"), "drift");
    let quay = action(&report, "project", "quay.io");
    assert_eq!(quay["registry_id"], old_quay);
    let msg = quay["message"].as_str().unwrap();
    assert!(
        msg.contains("quay-old")
            && msg.contains("quay https://quay.io")
            && msg.contains("docker-registry"),
        "{msg}"
    );
    let msg = action(&report, "project", "registry.k8s.io")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains("not a proxy-cache project"), "{msg}");
    let msg = action(&report, "endpoint", "ghcr.io")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("https://ghcr.example.com") && msg.contains("github-ghcr https://ghcr.io"),
        "{msg}"
    );
    assert_eq!(report["summary"]["drift"], 3);

    // Nothing drifted was touched.
    assert_eq!(svc.project("quay").unwrap().registry_id, old_quay);
    assert_eq!(svc.project("k8s-registry").unwrap().registry_id, 0);
    assert!(svc.project("ghcr").is_none());
    let r = svc.registry("ghcr").unwrap();
    assert_eq!((r.id, r.url.as_str()), (ghcr, "https://ghcr.example.com"));
    let log = svc.take_log();
    let posted: Vec<String> = log
        .iter()
        .filter(|e| e.is_write())
        .filter_map(|e| e.request_json())
        .map(|b| {
            b["project_name"]
                .as_str()
                .or(b["name"].as_str())
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        posted,
        ["docker-hub", "docker-hub", "quay", "k8s-registry"],
        "only what was missing is created"
    );

    // Text names the drift.
    let out = run_setup(&svc, &cfg, &[]);
    assert_eq!(code(&out), 1, "{}", show(&out));
    let text = stdout(&out);
    assert!(text.contains("drift"), "{text}");
    assert!(text.contains("harborize does not change it"), "{text}");
    assert_contract(&log);
}

#[test]
fn a_project_on_another_endpoint_for_the_same_upstream_is_fine() {
    // Made in the UI: endpoint "Docker Hub" (docker-hub) and project docker-hub on it.
    let svc = HarborService::start();
    let (_dir, cfg) =
        workdir("registries:\n  ghcr.io: null\n  quay.io: null\n  registry.k8s.io: null\n");
    let id = svc.add_registry("dockerhub-ui", "docker-hub", "https://hub.docker.com/");
    svc.add_project("docker-hub", Some(id), true);
    let out = run_setup(&svc, &cfg, &["--format", "json"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let report = json(&out);
    let e = action(&report, "endpoint", "docker.io");
    assert_eq!(e["action"], "exists");
    assert_eq!(e["name"], "dockerhub-ui");
    assert_eq!(action(&report, "project", "docker.io")["action"], "exists");
    assert_eq!(svc.registries().len(), 1, "no second endpoint");
    assert_eq!(writes(&svc.take_log()), Vec::<String>::new());
}

#[test]
fn wrong_password_is_a_clear_error() {
    let svc = HarborService::start();
    let (_dir, cfg) = workdir("");
    let out = setup_cmd(&svc, &cfg)
        .env("HARBORIZE_PASSWORD", "Not-The-Password-99")
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", show(&out));
    let err = stderr(&out);
    assert!(err.contains("401 Unauthorized"), "{err}");
    assert!(err.contains("\"admin\""), "{err}");
    assert!(err.contains("HARBORIZE_PASSWORD"), "{err}");
    assert!(!err.contains("Not-The-Password-99") && !stdout(&out).contains("Not-The-Password-99"));
    let log = svc.take_log();
    assert_eq!(writes(&log), Vec::<String>::new());
    assert_contract(&log);

    // No credentials at all: said before any request.
    let out = setup_cmd(&svc, &cfg)
        .env_remove("HARBORIZE_USERNAME")
        .env_remove("HARBORIZE_PASSWORD")
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", show(&out));
    assert!(
        stderr(&out).contains("HARBORIZE_USERNAME and HARBORIZE_PASSWORD"),
        "{}",
        show(&out)
    );
    assert!(svc.take_log().is_empty());
}

#[test]
fn a_non_admin_gets_a_clear_403() {
    let svc = HarborService::start();
    let (_dir, cfg) = workdir("");
    let out = setup_cmd(&svc, &cfg)
        .env("HARBORIZE_USERNAME", DEVELOPER)
        .env("HARBORIZE_PASSWORD", DEVELOPER_PASSWORD)
        .output()
        .unwrap();
    assert_no_secret(&out);
    assert_eq!(code(&out), 2, "{}", show(&out));
    let err = stderr(&out);
    assert!(err.contains("403 Forbidden"), "{err}");
    assert!(err.contains("system administrator"), "{err}");
    assert_contract(&svc.take_log());
}

#[test]
fn an_unhealthy_upstream_is_named_and_the_rest_goes_on() {
    let svc = HarborService::start();
    let (_dir, cfg) = workdir("");
    svc.set_unhealthy("https://quay.io");
    let out = run_setup(&svc, &cfg, &["--format", "json"]);
    assert_eq!(code(&out), 2, "{}", show(&out));
    let report = json(&out);
    let e = action(&report, "endpoint", "quay.io");
    assert_eq!(e["action"], "error");
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.contains("unhealthy") && msg.contains("https://quay.io"),
        "{msg}"
    );
    assert!(msg.contains("Harbor can reach"), "{msg}");
    assert_eq!(action(&report, "project", "quay.io")["action"], "skipped");
    assert_eq!(report["summary"]["created"], 6);
    assert_eq!(report["summary"]["errors"], 1);
    assert!(svc.registry("quay").is_none() && svc.project("quay").is_none());
    assert!(svc.project("ghcr").is_some());
    assert_contract(&svc.take_log());
}

#[test]
fn conflict_409_means_already_there() {
    // Created concurrently: the list does not show them yet, HEAD says 404, POST says 409.
    let svc = HarborService::start();
    let (_dir, cfg) = workdir("");
    let hub = svc.add_registry("docker-hub", "docker-hub", "https://hub.docker.com");
    svc.add_project("docker-hub", Some(hub), true);
    svc.hide_registry("docker-hub");
    svc.hide_project("docker-hub");
    let out = run_setup(&svc, &cfg, &["--format", "json"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let report = json(&out);
    assert_eq!(action(&report, "endpoint", "docker.io")["action"], "exists");
    assert_eq!(action(&report, "endpoint", "docker.io")["id"], hub);
    assert_eq!(action(&report, "project", "docker.io")["action"], "exists");
    assert_eq!(action(&report, "project", "ghcr.io")["action"], "created");
    let log = svc.take_log();
    let conflicts: Vec<String> = log
        .iter()
        .filter(|e| e.status == 409)
        .map(|e| e.line())
        .collect();
    assert_eq!(conflicts.len(), 2, "{conflicts:?}");
    let body = log
        .iter()
        .find(|e| e.status == 409)
        .unwrap()
        .response_json()
        .unwrap();
    assert_eq!(body["errors"][0]["code"], "CONFLICT");
    // After the 409 the endpoint is looked up by name: GET /registries?q=name%3Ddocker-hub.
    assert!(log
        .iter()
        .any(|e| e.method == "GET" && e.query_value("q") == Some("name=docker-hub")));
    assert_contract(&log);
}

#[test]
fn endpoint_lists_are_followed_page_by_page() {
    let svc = HarborService::start();
    let (_dir, cfg) = workdir("");
    for i in 0..230 {
        svc.add_registry(
            &format!("other-{i:03}"),
            "docker-registry",
            &format!("https://r{i}.example.com"),
        );
    }
    for (_, project, kind, url) in REFERENCE {
        let id = svc.add_registry(project, kind, url);
        svc.add_project(project, Some(id), true);
    }
    let out = run_setup(&svc, &cfg, &["--format", "json"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let report = json(&out);
    assert!(
        actions(&report).iter().all(|(_, _, a)| a == "exists"),
        "{report:#}"
    );
    let log = svc.take_log();
    let pages: Vec<String> = log
        .iter()
        .filter(|e| e.method == "GET" && e.path == "/api/v2.0/registries")
        .map(|e| {
            assert_eq!(e.query_value("page_size"), Some("100"));
            e.query_value("page").unwrap().to_string()
        })
        .collect();
    assert_eq!(pages, ["1", "2", "3"]);
    let link = log[1]
        .response_header("Link")
        .or(log[2].response_header("Link"));
    assert!(link.is_some_and(|l| l.contains("rel=\"next\"")));
    let findings = assert_contract(&log);
    assert!(findings.operations.contains("GET /registries"));
}

/// Issue #12 item 11: a `Link: <http://other-origin/...>; rel="next"` is not followed
/// (the page request would carry the admin's Basic credentials there); setup stops with an
/// error naming both origins. A same-origin absolute link is still followed.
#[test]
fn pagination_links_to_another_origin_are_not_followed() {
    let svc = HarborService::start();
    // Another origin on the same loopback host (another port): it records every request.
    let elsewhere = HarborService::start();
    let (_dir, cfg) = workdir("");
    for i in 0..150 {
        svc.add_registry(
            &format!("other-{i:03}"),
            "docker-registry",
            &format!("https://r{i}.example.com"),
        );
    }
    svc.set_link_origin(&format!("http://{}", svc.host()));
    let out = run_setup(&svc, &cfg, &["--dry-run", "--format", "json"]);
    assert_ne!(code(&out), 2, "same-origin absolute link: {}", show(&out));
    let pages = svc
        .take_log()
        .iter()
        .filter(|e| e.method == "GET" && e.path == "/api/v2.0/registries")
        .count();
    assert_eq!(pages, 2, "the same-origin second page is followed");

    svc.set_link_origin(&format!("http://{}", elsewhere.host()));
    let out = run_setup(&svc, &cfg, &["--dry-run"]);
    assert_eq!(code(&out), 2, "{}", show(&out));
    assert!(
        stderr(&out).contains("not followed") && stderr(&out).contains(&elsewhere.host()),
        "{}",
        show(&out)
    );
    assert!(
        elsewhere.log().is_empty(),
        "the other origin was asked: {:?}",
        elsewhere.log().iter().map(|e| e.line()).collect::<Vec<_>>()
    );
}

#[test]
fn upstream_credentials_go_to_harbor_and_nowhere_else() {
    let svc = HarborService::start();
    let (_dir, cfg) =
        workdir("registries:\n  ghcr.io: null\n  quay.io: null\n  registry.k8s.io: null\n");
    let out = setup_cmd(&svc, &cfg)
        .args(["--format", "json"])
        .env("HARBORIZE_UPSTREAM_DOCKER_IO_USERNAME", "hubuser")
        .env("HARBORIZE_UPSTREAM_DOCKER_IO_PASSWORD", UPSTREAM_SECRET)
        .output()
        .unwrap();
    assert_no_secret(&out);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let r = svc.registry("docker-hub").unwrap();
    assert_eq!(
        r.credential,
        Some(("basic".into(), "hubuser".into(), UPSTREAM_SECRET.into()))
    );
    let log = svc.take_log();
    let post = log
        .iter()
        .find(|e| e.method == "POST" && e.path == "/api/v2.0/registries")
        .unwrap();
    assert_eq!(
        post.request_json().unwrap()["credential"],
        json!({"type": "basic", "access_key": "hubuser", "access_secret": UPSTREAM_SECRET})
    );
    // Listed afterwards, the secret is masked (as Harbor does).
    let out = run_setup(&svc, &cfg, &[]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let mut all = log;
    let later = svc.take_log();
    let listed = later
        .iter()
        .find(|e| e.path == "/api/v2.0/registries")
        .unwrap()
        .response_json()
        .unwrap();
    assert_eq!(listed[0]["credential"]["access_secret"], "*****");
    all.extend(later);
    let findings = assert_contract(&all);
    assert!(findings.definitions.contains("RegistryCredential"));

    // Half-set is an error before any request.
    let out = setup_cmd(&svc, &cfg)
        .env("HARBORIZE_UPSTREAM_DOCKER_IO_USERNAME", "hubuser")
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("HARBORIZE_UPSTREAM_DOCKER_IO_PASSWORD"),
        "{}",
        show(&out)
    );
    assert!(svc.take_log().is_empty());
}

#[test]
fn other_registries_get_docker_registry_endpoints() {
    let svc = HarborService::start();
    let (_dir, cfg) = workdir(
        "harbor: {host: unused.example.com}\nregistries:\n  gcr.io: {project: gcr}\n  docker.io: null\n  ghcr.io: null\n  registry.k8s.io: null\n",
    );
    let out = run_setup(&svc, &cfg, &["--format", "json"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    let gcr = svc.registry("gcr").unwrap();
    assert_eq!(
        (gcr.kind.as_str(), gcr.url.as_str()),
        ("docker-registry", "https://gcr.io")
    );
    let quay = svc.registry("quay").unwrap();
    assert_eq!(quay.kind, "docker-registry");
    assert_eq!(svc.projects().len(), 2);
    assert_contract(&svc.take_log());

    // Two registries on one project cannot both be proxied.
    let (_dir2, cfg2) = workdir("registries:\n  gcr.io: {project: ghcr}\n");
    let out = run_setup(&svc, &cfg2, &[]);
    assert_eq!(code(&out), 2, "{}", show(&out));
    assert!(stderr(&out).contains("both use project"), "{}", show(&out));
}

#[test]
fn tls_with_cacert() {
    let svc = HarborService::start_tls();
    let (dir, cfg) = workdir("");
    let ca = svc.write_ca(dir.path());
    let out = run_setup(
        &svc,
        &cfg,
        &["--cacert", ca.to_str().unwrap(), "--format", "json"],
    );
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert_eq!(json(&out)["summary"]["created"], 8);
    assert_reference_state(&svc);

    // Without the CA: a clear TLS error, exit 2, nothing sent.
    svc.take_log();
    let out = run_setup(&svc, &cfg, &[]);
    assert_eq!(code(&out), 2, "{}", show(&out));
    let err = stderr(&out);
    assert!(err.contains("cannot reach Harbor"), "{err}");
    assert!(err.contains("--cacert"), "{err}");
    assert!(svc.take_log().is_empty());

    // --insecure works, with a warning.
    let out = run_setup(&svc, &cfg, &["--insecure"]);
    assert_eq!(code(&out), 0, "{}", show(&out));
    assert!(
        stderr(&out).contains("warning: --insecure"),
        "{}",
        show(&out)
    );
}

#[test]
fn unreachable_harbor_is_a_clear_error() {
    let svc = HarborService::start();
    let (_dir, cfg) = workdir("");
    drop(svc);
    let port = crate::support::common::closed_port();
    let out = harborize()
        .args(["harbor", "setup", "--plain-http", "--config"])
        .arg(&cfg)
        .args(["--harbor", &format!("127.0.0.1:{port}")])
        .env("HARBORIZE_USERNAME", ADMIN)
        .env("HARBORIZE_PASSWORD", ADMIN_PASSWORD)
        .output()
        .unwrap();
    assert_no_secret(&out);
    assert_eq!(code(&out), 2, "{}", show(&out));
    assert!(
        stderr(&out).contains("cannot reach Harbor"),
        "{}",
        show(&out)
    );
}

/// The contract test proper: drive every scenario's requests through one service, then
/// check all of them, and that the check itself catches what it should.
#[test]
fn every_request_and_response_matches_harbors_swagger() {
    let swagger = Swagger::harbor();
    assert_eq!(swagger.base_path(), "/api/v2.0");

    let svc = HarborService::start();
    let (_dir, cfg) = workdir("");
    // Drift and 409 material, so those answers are exercised too.
    let old = svc.add_registry("quay-old", "quay", "https://quay.io");
    svc.add_project("quay", Some(old), true);
    let hub = svc.add_registry("docker-hub", "docker-hub", "https://hub.docker.com");
    svc.hide_registry("docker-hub");
    let _ = hub;
    run_setup(&svc, &cfg, &["--dry-run"]);
    run_setup(&svc, &cfg, &[]);
    run_setup(&svc, &cfg, &[]);
    setup_cmd(&svc, &cfg)
        .env("HARBORIZE_PASSWORD", "wrong")
        .output()
        .unwrap();
    svc.set_unhealthy("https://gcr.io");
    let (_dir2, cfg2) = workdir("registries:\n  gcr.io: {project: gcr}\n");
    run_setup(&svc, &cfg2, &[]);
    setup_cmd(&svc, &cfg)
        .env("HARBORIZE_UPSTREAM_GHCR_IO_USERNAME", "u")
        .env("HARBORIZE_UPSTREAM_GHCR_IO_PASSWORD", UPSTREAM_SECRET)
        .output()
        .unwrap();

    let log = svc.take_log();
    let findings = assert_contract(&log);
    let ops: Vec<&str> = findings.operations.iter().map(String::as_str).collect();
    assert_eq!(
        ops,
        [
            "GET /ping",
            "GET /projects/{project_name_or_id}",
            "GET /registries",
            "HEAD /projects",
            "POST /projects",
            "POST /registries",
        ],
        "exactly the operations setup uses"
    );
    for def in [
        "Registry",
        "RegistryCredential",
        "ProjectReq",
        "ProjectMetadata",
        "Project",
        "Errors",
        "Error",
        "CVEAllowlist",
    ] {
        assert!(
            findings.definitions.contains(def),
            "{def} not exercised: {:?}",
            findings.definitions
        );
    }
    let statuses: std::collections::BTreeSet<u16> = log.iter().map(|e| e.status).collect();
    for s in [200, 201, 400, 401, 404, 409] {
        assert!(
            statuses.contains(&s),
            "status {s} not exercised: {statuses:?}"
        );
    }

    // The checker catches violations.
    let mut bad = log
        .iter()
        .find(|e| e.method == "POST" && e.path == "/api/v2.0/projects" && e.status == 201)
        .unwrap()
        .clone();
    let mut body = bad.request_json().unwrap();
    body["metadata"]["public"] = json!(true);
    body["registry"] = json!("quay");
    bad.request_body = serde_json::to_vec(&body).unwrap();
    bad.response_headers.retain(|(k, _)| k != "Location");
    let errors = swagger.check_exchange(&bad).errors;
    let text = errors.join("\n");
    assert!(
        text.contains("request body.metadata.public: expected a string"),
        "{text}"
    );
    assert!(
        text.contains("\"registry\" is not in the definition"),
        "{text}"
    );
    assert!(text.contains("Location missing"), "{text}");
    let mut bad = log
        .iter()
        .find(|e| e.method == "GET" && e.path == "/api/v2.0/registries" && e.status == 200)
        .unwrap()
        .clone();
    bad.query = vec![
        ("page_size".into(), "500".into()),
        ("name_like".into(), "x".into()),
    ];
    bad.response_body = br#"[{"id": "7", "name": "x"}]"#.to_vec();
    bad.path = "/api/v2.0/registries".into();
    let text = swagger.check_exchange(&bad).errors.join("\n");
    assert!(text.contains("500 is above the maximum 100"), "{text}");
    assert!(text.contains("\"name_like\" is not declared"), "{text}");
    assert!(
        text.contains("response body[0].id: expected an integer"),
        "{text}"
    );
    bad.path = "/api/v2.0/registrys".into();
    let text = swagger.check_exchange(&bad).errors.join("\n");
    assert!(
        text.contains("no operation GET /api/v2.0/registrys"),
        "{text}"
    );
    bad.path = "/api/v2.0/registries".into();
    bad.method = "PATCH".into();
    assert!(!swagger.check_exchange(&bad).errors.is_empty());
}
