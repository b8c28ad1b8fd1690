//! Each kind against the examples of ../shared/docs/caches.md, and the config errors.

use crate::config::Config;
use crate::mapping::{Decision, Mapper};
use crate::reference::Reference;

fn mapper(yaml: &str, host: &str) -> Mapper {
    let f = Config::parse_file(yaml, "t.yaml").unwrap();
    Mapper::new(&Config::from_user(f, None).unwrap(), host)
}

fn forward(m: &Mapper, s: &str) -> String {
    match m.decide(&Reference::parse(s).unwrap()) {
        Decision::Rewrite { name } => name,
        other => format!("{other:?}"),
    }
}

fn revert(m: &Mapper, s: &str) -> Option<String> {
    m.revert_name(&Reference::parse(s).unwrap())
}

fn config_error(yaml: &str) -> String {
    let f = Config::parse_file(yaml, "t.yaml").unwrap();
    Config::from_user(f, None).unwrap_err().to_string()
}

/// Forward to `want`, and back to the familiar upstream name.
fn round_trip(m: &Mapper, upstream: &str, want: &str) {
    assert_eq!(forward(m, upstream), want, "{upstream}");
    let familiar = Reference::parse_name(upstream).unwrap().familiar_name();
    assert_eq!(
        revert(m, want).as_deref(),
        Some(familiar.as_str()),
        "{want}"
    );
}

#[test]
fn ecr_keeps_library_and_has_a_root_prefix() {
    let host = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
    let m = mapper(
        "target: {kind: ecr}\nregistries:\n  registry.k8s.io: {project: ROOT}\n",
        host,
    );
    round_trip(&m, "nginx", &format!("{host}/docker-hub/library/nginx"));
    round_trip(
        &m,
        "bitnami/redis",
        &format!("{host}/docker-hub/bitnami/redis"),
    );
    round_trip(&m, "registry.k8s.io/pause", &format!("{host}/pause"));
    round_trip(&m, "ghcr.io/org/app", &format!("{host}/ghcr/org/app"));
    let two_roots = config_error(
        "target: {kind: ecr}\nregistries:\n  registry.k8s.io: {project: ROOT}\n  quay.io: {project: ROOT}\n",
    );
    assert!(two_roots.contains("one ROOT"), "{two_roots}");
}

#[test]
fn gitlab_proxies_docker_hub_only() {
    let m = mapper(
        "target: {kind: gitlab, group: mygroup}\n",
        "gitlab.example.com",
    );
    round_trip(
        &m,
        "nginx",
        "gitlab.example.com/mygroup/dependency_proxy/containers/nginx",
    );
    round_trip(
        &m,
        "bitnami/redis",
        "gitlab.example.com/mygroup/dependency_proxy/containers/bitnami/redis",
    );
    assert_eq!(
        revert(
            &m,
            "gitlab.example.com/mygroup/dependency_proxy/containers/library/nginx"
        ),
        Some("nginx".into())
    );
    match m.decide(&Reference::parse("ghcr.io/org/app").unwrap()) {
        Decision::Unmapped { reason, .. } => {
            assert!(reason.contains("Docker Hub only"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(config_error("target: {kind: gitlab}\n").contains("target.group"));
}

#[test]
fn artifactory_has_three_methods() {
    let path = mapper(
        "target: {kind: artifactory}\nregistries:\n  docker.io: {project: dockerhub-remote}\n",
        "art.example.com",
    );
    round_trip(
        &path,
        "nginx",
        "art.example.com/dockerhub-remote/library/nginx",
    );
    let sub = mapper(
        "target: {kind: artifactory, method: subdomain}\nregistries:\n  docker.io: {project: dockerhub-remote}\n",
        "art.example.com",
    );
    round_trip(
        &sub,
        "nginx",
        "dockerhub-remote.art.example.com/library/nginx",
    );
    assert!(sub.is_cache_host("ghcr.art.example.com"));
    assert!(!sub.is_cache_host("evilart.example.com"));
    let port = mapper(
        "target: {kind: artifactory, method: port}\nregistries:\n  docker.io: {project: d, port: 8081}\n  ghcr.io: {project: g, port: 8082}\n  quay.io: null\n  registry.k8s.io: null\n",
        "art.example.com",
    );
    round_trip(&port, "nginx", "art.example.com:8081/library/nginx");
    round_trip(&port, "ghcr.io/org/app", "art.example.com:8082/org/app");
    assert_eq!(revert(&port, "art.example.com:9999/library/nginx"), None);
    let missing = config_error("target: {kind: nexus, method: port}\n");
    assert!(missing.contains(".port: required"), "{missing}");
}

#[test]
fn nexus_quay_gar_and_acr_follow_their_docs() {
    let nexus = mapper(
        "target: {kind: nexus}\nregistries:\n  docker.io: {project: docker-proxy}\n",
        "nexus.example.com",
    );
    round_trip(
        &nexus,
        "alpine",
        "nexus.example.com/docker-proxy/library/alpine",
    );
    let quay = mapper(
        "target: {kind: quay}\nregistries:\n  docker.io: {project: cache}\n  docker.io/library: {project: docker-cache}\n",
        "quay.corp",
    );
    round_trip(&quay, "postgres", "quay.corp/docker-cache/postgres");
    round_trip(&quay, "bitnami/redis", "quay.corp/cache/bitnami/redis");
    let gar = mapper(
        "target: {kind: gar}\nregistries:\n  docker.io: {project: my-proj/dockerhub-proxy}\n  ghcr.io: null\n  quay.io: null\n  registry.k8s.io: null\n",
        "us-central1-docker.pkg.dev",
    );
    round_trip(
        &gar,
        "nginx",
        "us-central1-docker.pkg.dev/my-proj/dockerhub-proxy/library/nginx",
    );
    assert_eq!(
        revert(
            &gar,
            "us-central1-docker.pkg.dev/my-proj/dockerhub-proxy/nginx"
        ),
        Some("nginx".into()),
        "the short form some examples use reverts too"
    );
    assert!(config_error("target: {kind: gar}\n").contains("<project>/<repository>"));
    let acr = mapper(
        "target: {kind: acr}\nregistries:\n  docker.io: null\n  docker.io/library/*: {project: acr/*}\n  docker.io/library/ubuntu: {project: ubuntu}\n",
        "myacr.azurecr.io",
    );
    round_trip(&acr, "ubuntu", "myacr.azurecr.io/ubuntu");
    round_trip(&acr, "nginx", "myacr.azurecr.io/acr/nginx");
    assert!(matches!(
        acr.decide(&Reference::parse("bitnami/redis").unwrap()),
        Decision::Unmapped { .. }
    ));
    let overlap =
        config_error("target: {kind: acr}\nregistries:\n  docker.io/library/*: {project: acr/*}\n");
    assert!(overlap.contains("overlap"), "{overlap}");
}

#[test]
fn settings_that_mean_nothing_for_the_kind_are_refused() {
    for (yaml, want) in [
        ("target: {method: port}\n", "artifactory and nexus only"),
        ("target: {group: g}\n", "gitlab only"),
        (
            "registries:\n  docker.io/library: {project: x}\n",
            "quay and acr only",
        ),
        (
            "target: {host: a.example}\nharbor: {host: b.example}\n",
            "alias of target.host",
        ),
        (
            "registries:\n  gcr.io: {project: a/b}\n",
            "not a Harbor project name",
        ),
    ] {
        let err = config_error(yaml);
        assert!(err.contains(want), "{yaml}: {err}");
    }
    let f = Config::parse_file(
        "target: {host: a.example}\nharbor: {host: A.example}\n",
        "t",
    )
    .unwrap();
    assert_eq!(
        Config::from_user(f, None).unwrap().harbor_host.as_deref(),
        Some("a.example")
    );
}
