//! Proves the registry test harness (tests/support/registry.rs) against the real
//! CNCF distribution registry: Harbor-style token auth, pushes, fault proxy,
//! pull-through cache, cleanup.

use crate::support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use support::registry::*;

/// Parse `Bearer realm="..",service="..",scope=".."` into (scheme, params).
fn parse_challenge(h: &str) -> (String, Vec<(String, String)>) {
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let mut params = Vec::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let (k, v) = s.split_once('=').expect("k=v");
        let v = v.trim_start();
        let (val, after) = if let Some(q) = v.strip_prefix('"') {
            let end = q.find('"').expect("closing quote");
            (q[..end].to_string(), &q[end + 1..])
        } else {
            let end = v.find(',').unwrap_or(v.len());
            (v[..end].to_string(), &v[end..])
        };
        params.push((k.trim().to_string(), val));
        s = after.trim_start_matches(',').trim();
    }
    (scheme.to_string(), params)
}

fn param<'a>(params: &'a [(String, String)], k: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(kk, _)| kk == k)
        .map(|(_, v)| v.as_str())
}

/// Decode a JWT's (header, claims) without verifying (the registry verifies).
fn jwt_parts(token: &str) -> (serde_json::Value, serde_json::Value) {
    let mut it = token.split('.');
    let h = URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap();
    let c = URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap();
    assert_eq!(
        URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap().len(),
        64,
        "ES256 signature is r||s"
    );
    (
        serde_json::from_slice(&h).unwrap(),
        serde_json::from_slice(&c).unwrap(),
    )
}

#[test]
fn anonymous_v2_gets_harbor_style_bearer_challenge() {
    let reg = RegistryHarness::start(HarnessOptions::default());
    assert!(reg.url().starts_with("https://127.0.0.1:"));

    let r = reg.request("GET", "/v2/", &[], b"");
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("docker-distribution-api-version"),
        Some("registry/2.0")
    );
    let (scheme, p) = parse_challenge(r.header("www-authenticate").expect("challenge"));
    assert_eq!(scheme, "Bearer");
    assert_eq!(param(&p, "realm"), Some(reg.realm().as_str()));
    assert!(
        reg.realm().starts_with("https://127.0.0.1:") && reg.realm().ends_with("/service/token")
    );
    assert_eq!(param(&p, "service"), Some("harbor-registry"));
    // distribution puts no scope on the /v2/ challenge ...
    assert_eq!(param(&p, "scope"), None);

    // ... but does on repository endpoints (even for a public project without a header).
    let r = reg.head_manifest("library/alpine", "3.20", None);
    assert_eq!(r.status, 401);
    let (_, p) = parse_challenge(r.header("www-authenticate").unwrap());
    assert_eq!(param(&p, "scope"), Some("repository:library/alpine:pull"));
    assert_eq!(param(&p, "service"), Some("harbor-registry"));

    // Anonymous token request without a scope: 401 (Harbor).
    let t = reg.fetch_token(&[], None);
    assert_eq!(t.status, 401, "{}", t.text());
}

#[test]
fn public_project_anonymous_token_heads_pushed_image_index_and_docker_manifest() {
    let reg = RegistryHarness::start(HarnessOptions::default());
    let digest = reg.push_image("library/alpine", "3.20");
    assert!(digest.starts_with("sha256:") && digest.len() == 71);
    let index = reg.push_index(
        "library/multi",
        "1.0",
        &[("linux", "amd64"), ("linux", "arm64"), ("linux", "arm/v7")],
    );
    let docker = reg
        .push_image_with(
            "library/legacy",
            "v1",
            &ImageSpec {
                format: ManifestFormat::Docker,
                ..Default::default()
            },
        )
        .digest;

    let resp = reg.fetch_token(&["repository:library/alpine:pull"], None);
    assert_eq!(resp.status, 200);
    let body = resp.json();
    let token = body["token"].as_str().unwrap().to_string();
    assert_eq!(body["access_token"].as_str(), Some(token.as_str()));
    assert_eq!(body["expires_in"].as_u64(), Some(1800));
    let issued = body["issued_at"].as_str().unwrap();
    assert!(
        issued.len() == 20 && issued.ends_with('Z') && issued.as_bytes()[10] == b'T',
        "{issued}"
    );

    let (header, claims) = jwt_parts(&token);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["x5c"].as_array().unwrap().len(), 1);
    assert!(STANDARD.decode(header["x5c"][0].as_str().unwrap()).is_ok());
    assert_eq!(claims["iss"], "harborize-test");
    assert_eq!(claims["aud"], "harbor-registry");
    assert_eq!(claims["sub"], "");
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        1800
    );
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()) && claims["nbf"].is_u64());
    assert_eq!(
        claims["access"],
        serde_json::json!([{"type": "repository", "name": "library/alpine", "actions": ["pull"]}])
    );

    let r = reg.head_manifest("library/alpine", "3.20", Some(&token));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    assert_eq!(r.header("content-type"), Some(OCI_MANIFEST));
    assert!(r.body.is_empty());
    // By digest too, and a missing tag is 404.
    assert_eq!(
        reg.head_manifest("library/alpine", &digest, Some(&token))
            .status,
        200
    );
    assert_eq!(
        reg.head_manifest("library/alpine", "nope", Some(&token))
            .status,
        404
    );
    // A token for one repository does not open another.
    assert_eq!(
        reg.head_manifest("library/multi", "1.0", Some(&token))
            .status,
        401
    );

    let t = reg.token_for(&["repository:library/multi:pull"], None);
    let r = reg.head_manifest("library/multi", "1.0", Some(&t));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("docker-content-digest"), Some(index.as_str()));
    assert_eq!(r.header("content-type"), Some(OCI_INDEX));
    let idx = reg.get_manifest("library/multi", "1.0", Some(&t)).json();
    let plats: Vec<String> = idx["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let p = &m["platform"];
            let mut s = format!(
                "{}/{}",
                p["os"].as_str().unwrap(),
                p["architecture"].as_str().unwrap()
            );
            if let Some(v) = p["variant"].as_str() {
                s += &format!("/{v}");
            }
            // every child manifest is there by digest
            assert_eq!(
                reg.head_manifest("library/multi", m["digest"].as_str().unwrap(), Some(&t))
                    .status,
                200
            );
            s
        })
        .collect();
    assert_eq!(plats, ["linux/amd64", "linux/arm64", "linux/arm/v7"]);

    let t = reg.token_for(&["repository:library/legacy:pull"], None);
    let r = reg.head_manifest("library/legacy", "v1", Some(&t));
    assert_eq!(
        (r.status, r.header("content-type")),
        (200, Some(DOCKER_MANIFEST))
    );
    assert_eq!(r.header("docker-content-digest"), Some(docker.as_str()));

    // Pushing the same content again is idempotent (deterministic digests).
    assert_eq!(reg.push_image("library/alpine", "3.20"), digest);
    // New content under the same tag moves it.
    let moved = reg
        .push_image_with(
            "library/alpine",
            "3.20",
            &ImageSpec {
                content: Some("v2".into()),
                ..Default::default()
            },
        )
        .digest;
    assert_ne!(moved, digest);
    let t = reg.token_for(&["repository:library/alpine:pull"], None);
    assert_eq!(
        reg.head_manifest("library/alpine", "3.20", Some(&t))
            .header("docker-content-digest"),
        Some(moved.as_str())
    );
}

#[test]
fn private_project_needs_robot_credentials() {
    let reg = RegistryHarness::start(HarnessOptions::default().user("robot$ci", "ci-s3cret"));
    let digest = reg.push_image("team/app", "1.2.3");
    reg.clear_records();

    // Anonymous: a token with no actions (like Harbor), then 401 at the registry.
    let anon = reg.fetch_token(&["repository:team/app:pull"], None);
    assert_eq!(anon.status, 200);
    let anon_token = anon.json()["token"].as_str().unwrap().to_string();
    assert_eq!(
        jwt_parts(&anon_token).1["access"][0]["actions"],
        serde_json::json!([])
    );
    let r = reg.head_manifest("team/app", "1.2.3", Some(&anon_token));
    assert_eq!(r.status, 401);
    let (_, p) = parse_challenge(r.header("www-authenticate").unwrap());
    assert_eq!(param(&p, "error"), Some("insufficient_scope"));

    // Wrong password: 401 from the token service.
    assert_eq!(
        reg.fetch_token(&["repository:team/app:pull"], Some(("robot$ci", "wrong")))
            .status,
        401
    );

    // Robot Basic credentials -> token -> 200 with the pushed digest.
    let tok = reg.token_for(
        &["repository:team/app:pull"],
        Some(("robot$ci", "ci-s3cret")),
    );
    let r = reg.head_manifest("team/app", "1.2.3", Some(&tok));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    assert_eq!(jwt_parts(&tok).1["sub"], "robot$ci");

    let log = reg.token_request_log();
    let summary: Vec<(u16, Option<&str>, Vec<&str>)> = log
        .iter()
        .map(|r| {
            (
                r.status,
                r.user.as_deref(),
                r.granted.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (200, None, vec!["repository:team/app:"]),
            (401, None, vec![]),
            (200, Some("robot$ci"), vec!["repository:team/app:pull"]),
        ]
    );
    let basic = format!("Basic {}", STANDARD.encode("robot$ci:ci-s3cret"));
    let seen = reg.authorization_headers();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1], basic);
    // Harness-internal pushes are not recorded.
    reg.push_image("team/app", "2");
    assert_eq!(reg.token_requests().len(), 3);
    assert_eq!(reg.authorization_headers().len(), 2);

    // Public-project list can change at runtime.
    reg.set_public_projects(&["team"]);
    let t = reg.token_for(&["repository:team/app:pull"], None);
    assert_eq!(reg.head_manifest("team/app", "1.2.3", Some(&t)).status, 200);
}

#[test]
fn multi_scope_token_request_is_one_request_with_every_scope() {
    let reg = RegistryHarness::start(
        HarnessOptions::default()
            .user("robot$ci", "pw")
            .token_ttl_secs(120),
    );
    let a = reg.push_image("library/a", "1");
    let b = reg.push_image("team/b", "1");
    let c = reg.push_image("team/c", "1");
    reg.clear_records();

    // Two `scope` params, the second holding two space-separated scopes (encoded as %20 and +).
    let url = format!(
        "{}?service=harbor-registry&scope=repository%3Alibrary%2Fa%3Apull&scope=repository:team/b:pull%20repository:team/c:pull,push+registry:catalog:*",
        reg.realm()
    );
    let basic = format!("Basic {}", STANDARD.encode("robot$ci:pw"));
    let r = reg
        .client()
        .send("GET", &url, &[("Authorization", basic.as_str())], b"")
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["expires_in"].as_u64(), Some(120));
    assert_eq!(
        reg.token_requests(),
        vec![vec![
            "repository:library/a:pull".to_string(),
            "repository:team/b:pull".into(),
            "repository:team/c:pull,push".into(),
            "registry:catalog:*".into(),
        ]]
    );
    let token = r.json()["token"].as_str().unwrap().to_string();
    let (_, claims) = jwt_parts(&token);
    assert_eq!(claims["access"].as_array().unwrap().len(), 4);
    assert_eq!(
        claims["access"][2]["actions"],
        serde_json::json!(["pull", "push"])
    );
    for (repo, d) in [("library/a", &a), ("team/b", &b), ("team/c", &c)] {
        let h = reg.head_manifest(repo, "1", Some(&token));
        assert_eq!(
            (h.status, h.header("docker-content-digest")),
            (200, Some(d.as_str())),
            "{repo}"
        );
    }
    let cat = reg.request(
        "GET",
        "/v2/_catalog",
        &[("Authorization", &format!("Bearer {token}"))],
        b"",
    );
    assert_eq!(cat.status, 200);
    assert_eq!(
        cat.json()["repositories"],
        serde_json::json!(["library/a", "team/b", "team/c"])
    );

    // The `/token` path and the anonymous multi-scope case (public project only).
    let url = format!("{}://{}/token?service=harbor-registry&scope=repository:library/a:pull&scope=repository:team/b:pull", reg.scheme(), reg.token_addr());
    let r = reg.client().send("GET", &url, &[], b"").unwrap();
    assert_eq!(r.status, 200);
    let log = reg.token_request_log();
    assert_eq!(
        log.last().unwrap().granted,
        ["repository:library/a:pull", "repository:team/b:"]
    );
    assert_eq!(reg.token_requests().len(), 2);
}

#[test]
fn plain_token_service_keeps_connections_alive() {
    let reg = RegistryHarness::start(HarnessOptions::plain());
    assert!(reg.realm().starts_with("http://"));
    let host = reg.token_addr().to_string();
    let req = |scope: &str| {
        format!("GET /service/token?service=harbor-registry&scope={scope} HTTP/1.1\r\nHost: {host}\r\n\r\n")
    };
    let got = keep_alive_exchange(
        reg.token_addr(),
        &[
            req("repository:library/a:pull"),
            req("repository:b/c:pull"),
            format!("GET /service/token HTTP/1.1\r\nHost: {host}\r\n\r\n"),
        ],
    );
    assert_eq!(
        got.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        [200, 200, 401]
    );
    assert_eq!(
        reg.token_requests(),
        vec![
            vec!["repository:library/a:pull".to_string()],
            vec!["repository:b/c:pull".into()],
            vec![]
        ]
    );
}

#[test]
fn token_service_can_inject_faults_itself() {
    let reg = RegistryHarness::start(HarnessOptions::default());
    reg.token_faults().lock().unwrap().too_many_requests = 1;
    reg.token_faults().lock().unwrap().retry_after = "3".into();
    let r = reg.fetch_token(&["repository:library/x:pull"], None);
    assert_eq!((r.status, r.header("retry-after")), (429, Some("3")));
    assert_eq!(r.json()["errors"][0]["code"], "TOOMANYREQUESTS");
    assert_eq!(
        reg.fetch_token(&["repository:library/x:pull"], None).status,
        200
    );
    let log = reg.token_request_log();
    assert_eq!(
        log.iter()
            .map(|r| (r.status, r.fault.clone()))
            .collect::<Vec<_>>(),
        vec![(429, Some("429".into())), (200, None)]
    );
}

/// Send raw requests on one keep-alive connection and read each response.
fn keep_alive_exchange(
    addr: std::net::SocketAddr,
    requests: &[String],
) -> Vec<(u16, Vec<(String, String)>)> {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let mut out = Vec::new();
    for req in requests {
        w.write_all(req.as_bytes()).unwrap();
        let mut status_line = String::new();
        r.read_line(&mut status_line).unwrap();
        let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
        let mut headers = Vec::new();
        loop {
            let mut l = String::new();
            r.read_line(&mut l).unwrap();
            let l = l.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').unwrap();
            headers.push((k.to_ascii_lowercase(), v.trim().to_string()));
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .map(|(_, v)| v.parse().unwrap())
            .unwrap_or(0);
        if !req.starts_with("HEAD ") {
            let mut body = vec![0u8; len];
            r.read_exact(&mut body).unwrap();
        }
        out.push((status, headers));
    }
    out
}

#[test]
fn fault_proxy_injects_429_503_stall_reset_delay_and_forwards() {
    let reg = RegistryHarness::start(HarnessOptions::plain());
    let digest = reg.push_image("library/nginx", "1.27");
    let proxy = FaultProxy::start(reg.addr(), FaultPlan::shared());
    let client = Client::plain();
    let v2 = format!("{}/v2/", proxy.url());

    proxy.plan(|p| {
        p.too_many_requests = 2;
        p.retry_after = "7".into();
        p.unavailable = 1;
    });
    for _ in 0..2 {
        let r = client.send("GET", &v2, &[], b"").unwrap();
        assert_eq!((r.status, r.header("retry-after")), (429, Some("7")));
    }
    let r = client.send("GET", &v2, &[], b"").unwrap();
    assert_eq!((r.status, r.header("retry-after")), (503, None));
    // Forwarded: the registry's own challenge comes back.
    let r = client.send("GET", &v2, &[], b"").unwrap();
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .starts_with("Bearer realm="));

    // HEAD with a token through the proxy; a HEAD fault has no body.
    let token = reg.token_for(&["repository:library/nginx:pull"], None);
    let auth = format!("Bearer {token}");
    let accept = manifest_accept();
    let head = |c: &Client| {
        c.send(
            "HEAD",
            &format!("{}/v2/library/nginx/manifests/1.27", proxy.url()),
            &[("Accept", &accept), ("Authorization", &auth)],
            b"",
        )
    };
    let r = head(&client).unwrap();
    assert_eq!(
        (r.status, r.header("docker-content-digest")),
        (200, Some(digest.as_str()))
    );
    proxy.plan(|p| p.unavailable = 1);
    let r = head(&client).unwrap();
    assert_eq!((r.status, r.body.len()), (503, 0));

    // Delay applies to every response.
    proxy.plan(|p| p.delay = Duration::from_millis(120));
    let t0 = Instant::now();
    assert_eq!(head(&client).unwrap().status, 200);
    assert!(t0.elapsed() >= Duration::from_millis(120));
    proxy.plan(|p| p.delay = Duration::ZERO);

    // Reset: the connection closes without a response.
    proxy.plan(|p| p.reset = 1);
    assert!(head(&client).is_err());
    // Stall: no answer until stall_for passes, then closed.
    proxy.plan(|p| {
        p.stall = 1;
        p.stall_for = Duration::from_millis(300);
    });
    let t0 = Instant::now();
    assert!(head(&client).is_err());
    assert!(t0.elapsed() >= Duration::from_millis(300));
    // Faults can be restricted to matching requests.
    proxy.plan(|p| {
        p.unavailable = 5;
        p.only_path_containing = Some("/blobs/".into());
    });
    assert_eq!(head(&client).unwrap().status, 200);
    proxy.plan(|p| *p = FaultPlan::default());

    let reqs = proxy.requests();
    assert_eq!(
        reqs.iter()
            .filter(|(m, t)| m == "GET" && t == "/v2/")
            .count(),
        4
    );
    assert_eq!(proxy.count("HEAD", "/v2/library/nginx/manifests/1.27"), 6);
    let faults: Vec<Option<String>> = proxy
        .request_log()
        .iter()
        .map(|r| r.fault.clone())
        .collect();
    assert_eq!(
        faults.iter().flatten().cloned().collect::<Vec<_>>(),
        ["429", "429", "503", "503", "reset", "stall"]
    );
    assert!(proxy.authorization_headers().iter().all(|a| a == &auth));

    // Keep-alive: several requests (incl. a fault and a HEAD) on one connection.
    proxy.clear();
    proxy.plan(|p| p.too_many_requests = 1);
    let host = proxy.host();
    let reqs = [
        format!("GET /v2/ HTTP/1.1\r\nHost: {host}\r\n\r\n"),
        format!("GET /v2/ HTTP/1.1\r\nHost: {host}\r\n\r\n"),
        format!("HEAD /v2/library/nginx/manifests/1.27 HTTP/1.1\r\nHost: {host}\r\nAccept: {accept}\r\nAuthorization: {auth}\r\n\r\n"),
        format!("GET /v2/library/nginx/manifests/1.27 HTTP/1.1\r\nHost: {host}\r\nAccept: {accept}\r\nAuthorization: {auth}\r\n\r\n"),
    ];
    let got = keep_alive_exchange(proxy.addr(), &reqs);
    assert_eq!(
        got.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        [429, 401, 200, 200]
    );
    assert_eq!(proxy.connections(), 1);
    assert!(got
        .iter()
        .all(|(_, h)| !h.iter().any(|(k, v)| k == "connection" && v == "close")));

    // Pushing through the proxy works (Location URLs point back at the proxy).
    let blob = b"through the proxy";
    let push = format!(
        "Bearer {}",
        reg.mint_token(Some("admin"), &["repository:library/nginx:pull,push"])
    );
    let r = client
        .send(
            "POST",
            &format!("{}/v2/library/nginx/blobs/uploads/", proxy.url()),
            &[("Authorization", &push)],
            b"",
        )
        .unwrap();
    assert_eq!(r.status, 202);
    let loc = r.header("location").unwrap().to_string();
    assert!(loc.starts_with(&proxy.url()), "{loc}");
    let r = client
        .send(
            "PUT",
            &format!("{loc}&digest={}", sha256_digest(blob)),
            &[("Authorization", &push)],
            blob,
        )
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
}

#[test]
fn proxy_cache_resolves_a_tag_that_exists_only_upstream_over_tls() {
    let upstream = RegistryHarness::start(HarnessOptions::default().user("robot$ci", "pw"));
    let digest = upstream.push_image("library/redis", "7.4");
    let private = upstream.push_image("team/svc", "1");
    let cache = RegistryHarness::start_proxy_cache(&upstream);
    assert_eq!(cache.upstream_url(), Some(upstream.url().as_str()));
    assert_eq!(cache.ca_pem(), upstream.ca_pem(), "one CA for the pair");
    assert!(!cache
        .storage_dir()
        .join("docker/registry/v2/repositories/library/redis")
        .exists());

    let t = cache.token_for(&["repository:library/redis:pull"], None);
    for round in ["cold", "warm"] {
        let r = cache.head_manifest("library/redis", "7.4", Some(&t));
        assert_eq!(r.status, 200, "{round}: {}", cache.registry_log());
        assert_eq!(
            r.header("docker-content-digest"),
            Some(digest.as_str()),
            "{round}"
        );
    }
    assert!(cache
        .storage_dir()
        .join("docker/registry/v2/repositories/library/redis")
        .exists());
    assert_eq!(
        cache
            .head_manifest("library/redis", "missing", Some(&t))
            .status,
        404
    );

    // A private upstream project through the cache, with the cache's own robot.
    let t = cache.token_for(&["repository:team/svc:pull"], Some(("robot$ci", "pw")));
    let r = cache.head_manifest("team/svc", "1", Some(&t));
    assert_eq!(
        (r.status, r.header("docker-content-digest")),
        (200, Some(private.as_str()))
    );
    // The cache authenticated upstream with the upstream's admin.
    let admin = upstream.admin().0;
    assert!(upstream
        .token_request_log()
        .iter()
        .any(|r| r.user.as_deref() == Some(admin.as_str())));
}

#[test]
fn proxy_cache_upstream_traffic_is_observable_through_a_fault_proxy() {
    let upstream = RegistryHarness::start(HarnessOptions::plain());
    let digest = upstream.push_image("library/busybox", "1.36");
    let front = FaultProxy::start(upstream.addr(), FaultPlan::shared());
    let cache = RegistryHarness::start_proxy_cache_with(
        &upstream,
        ProxyCacheOptions {
            remote_url: Some(front.url()),
            ..Default::default()
        },
    );
    let t = cache.token_for(&["repository:library/busybox:pull"], None);

    front.clear();
    let r = cache.head_manifest("library/busybox", "1.36", Some(&t));
    assert_eq!(
        (r.status, r.header("docker-content-digest")),
        (200, Some(digest.as_str()))
    );
    let cold = front.requests();
    assert!(
        cold.iter().any(|(_, p)| p.contains("/manifests/")),
        "{cold:?}"
    );

    front.clear();
    let r = cache.head_manifest("library/busybox", "1.36", Some(&t));
    assert_eq!(r.status, 200);
    let warm_tag = front.requests();
    // distribution 2.8 re-checks a tag upstream on every request, even warm.
    assert!(
        warm_tag
            .iter()
            .any(|(m, p)| m == "HEAD" && p == "/v2/library/busybox/manifests/1.36"),
        "{warm_tag:?}"
    );

    front.clear();
    assert_eq!(
        cache
            .head_manifest("library/busybox", &digest, Some(&t))
            .status,
        200
    );
    // By digest, warm is served locally.
    assert_eq!(front.requests(), Vec::<(String, String)>::new());

    // Upstream down: a warm tag still resolves from the cache's local copy.
    front.plan(|p| p.unavailable = 100);
    let r = cache.head_manifest("library/busybox", "1.36", Some(&t));
    assert_eq!(
        (r.status, r.header("docker-content-digest")),
        (200, Some(digest.as_str()))
    );
    // ... while a tag never seen before fails.
    let r = cache.head_manifest("library/busybox", "never-seen", Some(&t));
    assert_eq!(r.status, 404);
}

#[test]
fn drop_stops_processes_and_threads_and_removes_files() {
    let reg = RegistryHarness::start(HarnessOptions::default());
    let dir = reg.dir().to_path_buf();
    let (addr, token_addr) = (reg.addr(), reg.token_addr());
    let pid: u32 = std::fs::read_to_string(dir.join("registry.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    let proxy = FaultProxy::start(addr, FaultPlan::shared());
    let proxy_addr = proxy.addr();
    // An idle keep-alive connection must not block shutdown.
    let idle = TcpStream::connect(proxy_addr).unwrap();
    let t0 = Instant::now();
    drop(proxy);
    drop(reg);
    assert!(t0.elapsed() < Duration::from_secs(10));
    drop(idle);
    assert!(!dir.exists());
    let gone = |a| TcpStream::connect_timeout(&a, Duration::from_millis(500)).is_err();
    assert!(gone(addr) && gone(token_addr) && gone(proxy_addr));
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.contains(") Z "),
        "registry pid {pid} still running: {stat}"
    );
}

/// Behaviours of distribution 2.8 (not Harbor) that tests built on the harness inherit.
#[test]
fn distribution_2_8_behaviours_the_harness_inherits() {
    let reg = RegistryHarness::start(HarnessOptions::default());
    reg.push_image("library/a", "1");
    let scope = ["repository:library/a:pull"];
    // `exp` is checked with 60 s leeway: expired 30 s ago still works, 65 s ago does not.
    let status = |t: &str| reg.head_manifest("library/a", "1", Some(t)).status;
    assert_eq!(status(&reg.mint_token_issued(None, &scope, 40, 10)), 200);
    assert_eq!(status(&reg.mint_token_issued(None, &scope, 75, 10)), 401);

    let t = reg.mint_token(None, &scope);
    let bearer = format!("Bearer {t}");
    // Without OCI types in Accept, an OCI manifest is a 404 MANIFEST_UNKNOWN.
    let r = reg.request(
        "GET",
        "/v2/library/a/manifests/1",
        &[("Authorization", &bearer), ("Accept", DOCKER_MANIFEST)],
        b"",
    );
    assert_eq!(r.status, 404);
    assert!(
        r.text()
            .contains("OCI manifest found, but accept header does not support OCI manifests"),
        "{}",
        r.text()
    );
    // A repository that does not exist is 404 (Harbor: 401 for a nonexistent project).
    let t2 = reg.mint_token(None, &["repository:library/zzz:pull"]);
    assert_eq!(reg.head_manifest("library/zzz", "1", Some(&t2)).status, 404);
    // Basic credentials directly on /v2 are not accepted (Harbor accepts them).
    let (u, p) = reg.admin();
    let basic = format!("Basic {}", STANDARD.encode(format!("{u}:{p}")));
    let r = reg.request("GET", "/v2/", &[("Authorization", &basic)], b"");
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().starts_with("Bearer "));
    // A token issued for another audience is rejected.
    let url = format!(
        "{}?service=other&scope=repository:library/a:pull",
        reg.realm()
    );
    let other = reg.client().send("GET", &url, &[], b"").unwrap().json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(status(&other), 401);
}
