//! A local stand-in for Harbor's REST API v2.0, exactly the operations `harborize harbor
//! setup` uses, with Harbor's behaviour and response shapes (read from goharbor/harbor
//! `src/server/v2.0/handler/{registry,project}.go`, `src/controller/registry`,
//! `src/lib/link.go`):
//!
//! - `GET /api/v2.0/ping` (no auth) → `Pong`, `text/plain`;
//! - `GET /api/v2.0/registries` with `q` (`name=x` exact, `name=~x` fuzzy), `page`,
//!   `page_size` (default 10, above 100 → 422), `X-Total-Count` and
//!   `Link: <...>; rel="prev" , <...>; rel="next"`; secrets listed as `*****`;
//! - `POST /api/v2.0/registries`: validation (name ≤ 64, http(s) URL, known type), the
//!   health ping (URLs marked unhealthy → 400 "the registry is unhealthy"), duplicate
//!   name → 409 `CONFLICT`, else 201 + `Location: /api/v2.0/registries/<id>`;
//! - `HEAD /api/v2.0/projects?project_name=` → 200 / 404;
//! - `GET /api/v2.0/projects/{name_or_id}` (`X-Is-Resource-Name`) → `Project` / 404;
//! - `POST /api/v2.0/projects`: name pattern, `metadata.public` "true"/"false", registry
//!   exists, type permitted for proxy cache (Harbor 2.14+ default: not `quay`), duplicate
//!   → 409 `CONFLICT`, else 201 + `Location: /api/v2.0/projects/<id>`.
//!
//! Every other request is 401 without valid Basic credentials (`{"errors":[...]}`), and a
//! non-admin user gets 403 where Harbor requires a system administrator. State is in
//! memory; every exchange (request and response, headers and bodies) is recorded for the
//! contract check (`swagger.rs`). Plain HTTP or TLS (a fresh CA per service).

#![allow(dead_code)]

pub mod swagger;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::http1::percent_decode;
use super::serve::{HttpService, Reply, Request};
use super::tls::TestCa;

use base64::Engine;
use serde_json::{json, Value};

pub const ADMIN: &str = "admin";
/// The admin's password: tests assert it never shows up in harborize's output.
pub const ADMIN_PASSWORD: &str = "Harbor-Pw-7f3c9e1d";
pub const DEVELOPER: &str = "dev";
pub const DEVELOPER_PASSWORD: &str = "Dev-Pw-0a1b2c";

/// Registry types this "Harbor" has adapters for (src/pkg/reg/model/registry.go).
const ADAPTERS: &[&str] = &[
    "harbor",
    "docker-hub",
    "docker-registry",
    "huawei-SWR",
    "google-gcr",
    "aws-ecr",
    "azure-acr",
    "ali-acr",
    "jfrog-artifactory",
    "quay",
    "gitlab",
    "dtr",
    "tencent-tcr",
    "github-ghcr",
    "volcengine-cr",
];

/// `PERMITTED_REGISTRY_TYPES_FOR_PROXY_CACHE` default since Harbor 2.14 (no `quay`).
const PROXY_CACHE_TYPES: &[&str] = &[
    "docker-hub",
    "harbor",
    "azure-acr",
    "ali-acr",
    "aws-ecr",
    "google-gcr",
    "docker-registry",
    "github-ghcr",
    "jfrog-artifactory",
];

const TIME: &str = "2026-08-21T10:00:00.000Z";

/// A registry endpoint in the store.
#[derive(Debug, Clone)]
pub struct RegistryRec {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub url: String,
    pub credential: Option<(String, String, String)>,
    pub insecure: bool,
    pub description: String,
}

/// A project in the store.
#[derive(Debug, Clone)]
pub struct ProjectRec {
    pub id: i64,
    pub name: String,
    /// 0 for a normal project.
    pub registry_id: i64,
    pub public: bool,
    pub metadata: Vec<(String, String)>,
}

/// One request and the answer the service gave.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: String,
    /// Path without query, as sent (percent-encoded).
    pub path: String,
    /// Decoded query pairs.
    pub query: Vec<(String, String)>,
    pub request_headers: Vec<(String, String)>,
    pub request_body: Vec<u8>,
    pub status: u16,
    pub response_headers: Vec<(String, String)>,
    pub response_body: Vec<u8>,
}

impl Exchange {
    pub fn request_header(&self, name: &str) -> Option<&str> {
        find_header(&self.request_headers, name)
    }
    pub fn response_header(&self, name: &str) -> Option<&str> {
        find_header(&self.response_headers, name)
    }
    pub fn request_json(&self) -> Option<Value> {
        serde_json::from_slice(&self.request_body).ok()
    }
    pub fn response_json(&self) -> Option<Value> {
        serde_json::from_slice(&self.response_body).ok()
    }
    pub fn query_value(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    /// `GET /api/v2.0/registries?page=1`
    pub fn line(&self) -> String {
        if self.query.is_empty() {
            format!("{} {}", self.method, self.path)
        } else {
            let q: Vec<String> = self.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{} {}?{}", self.method, self.path, q.join("&"))
        }
    }
    pub fn is_write(&self) -> bool {
        !matches!(self.method.as_str(), "GET" | "HEAD" | "OPTIONS")
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[derive(Debug, Default)]
pub struct State {
    pub registries: Vec<RegistryRec>,
    pub projects: Vec<ProjectRec>,
    pub log: Vec<Exchange>,
    /// Upstream URLs whose health ping fails.
    pub unhealthy: HashSet<String>,
    /// Registry names left out of unfiltered lists (as if created concurrently, right
    /// after the client listed them); `q=name=` still finds them.
    pub hidden_registries: HashSet<String>,
    /// Project names `HEAD` says are missing (as if created concurrently).
    pub hidden_projects: HashSet<String>,
    /// When set, list `Link` targets are absolute URLs on this origin (`http://host:port`)
    /// instead of Harbor's path-only ones: a misconfigured or hostile proxy in front.
    pub link_origin: Option<String>,
    next_registry: i64,
    next_project: i64,
}

/// The service; stops when dropped.
pub struct HarborService {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<State>>,
    /// The CA certificate (PEM) when the service speaks TLS.
    pub ca_pem: Option<String>,
    server: HttpService,
}

impl HarborService {
    pub fn start() -> Self {
        Self::start_inner(None)
    }

    /// HTTPS with a certificate for 127.0.0.1 from a fresh CA ([`Self::ca_pem`]).
    pub fn start_tls() -> Self {
        let ca = TestCa::new();
        Self::start_inner(Some((ca.server_config(), ca.pem())))
    }

    fn start_inner(tls: Option<(Arc<rustls::ServerConfig>, String)>) -> Self {
        let state = Arc::new(Mutex::new(State {
            next_registry: 1,
            next_project: 2, // 1 is `library`, as on a fresh Harbor
            ..State::default()
        }));
        let (config, ca_pem) = match tls {
            Some((c, pem)) => (Some(c), Some(pem)),
            None => (None, None),
        };
        let shared = state.clone();
        let server = HttpService::start("harbor", config, move |_| {
            move |req: &Request| answer(&shared, req)
        });
        HarborService {
            addr: server.addr(),
            state,
            ca_pem,
            server,
        }
    }

    /// `127.0.0.1:<port>`, what `--harbor` takes.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Write the CA (TLS services) to `dir/ca.pem` and return the path.
    pub fn write_ca(&self, dir: &Path) -> std::path::PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, self.ca_pem.as_ref().expect("a TLS service")).unwrap();
        path
    }

    /// Seed an endpoint (as if made in Harbor's UI); returns its id.
    pub fn add_registry(&self, name: &str, kind: &str, url: &str) -> i64 {
        let mut s = self.state.lock().unwrap();
        let id = s.next_registry;
        s.next_registry += 1;
        s.registries.push(RegistryRec {
            id,
            name: name.into(),
            kind: kind.into(),
            url: url.into(),
            credential: None,
            insecure: false,
            description: String::new(),
        });
        id
    }

    /// Seed a project; `registry_id` makes it a proxy cache.
    pub fn add_project(&self, name: &str, registry_id: Option<i64>, public: bool) -> i64 {
        let mut s = self.state.lock().unwrap();
        let id = s.next_project;
        s.next_project += 1;
        s.projects.push(ProjectRec {
            id,
            name: name.into(),
            registry_id: registry_id.unwrap_or(0),
            public,
            metadata: Vec::new(),
        });
        id
    }

    pub fn set_unhealthy(&self, url: &str) {
        self.state.lock().unwrap().unhealthy.insert(url.into());
    }

    pub fn hide_registry(&self, name: &str) {
        self.state
            .lock()
            .unwrap()
            .hidden_registries
            .insert(name.into());
    }

    pub fn hide_project(&self, name: &str) {
        self.state
            .lock()
            .unwrap()
            .hidden_projects
            .insert(name.into());
    }

    /// Make list `Link` targets absolute URLs on `origin` (see [`State::link_origin`]).
    pub fn set_link_origin(&self, origin: &str) {
        self.state.lock().unwrap().link_origin = Some(origin.into());
    }

    pub fn registries(&self) -> Vec<RegistryRec> {
        self.state.lock().unwrap().registries.clone()
    }

    pub fn projects(&self) -> Vec<ProjectRec> {
        self.state.lock().unwrap().projects.clone()
    }

    pub fn registry(&self, name: &str) -> Option<RegistryRec> {
        self.registries().into_iter().find(|r| r.name == name)
    }

    pub fn project(&self, name: &str) -> Option<ProjectRec> {
        self.projects().into_iter().find(|p| p.name == name)
    }

    /// Every exchange so far.
    pub fn log(&self) -> Vec<Exchange> {
        self.state.lock().unwrap().log.clone()
    }

    /// Every exchange so far, and forget them.
    pub fn take_log(&self) -> Vec<Exchange> {
        std::mem::take(&mut self.state.lock().unwrap().log)
    }
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn json(status: u16, body: Value) -> Self {
        Response {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: serde_json::to_vec(&body).unwrap(),
        }
    }
    fn empty(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
    fn error(status: u16, code: &str, message: &str) -> Self {
        Self::json(
            status,
            json!({"errors": [{"code": code, "message": message}]}),
        )
    }
    fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }
}

/// One request: Harbor's answer, recorded before it goes out (once the client has it, the
/// test may look).
fn answer(state: &Arc<Mutex<State>>, req: &Request) -> Reply {
    assert!(
        find_header(&req.headers, "Transfer-Encoding").is_none(),
        "the client sends bodies with Content-Length"
    );
    let path = req.path().to_string();
    let query = req.query();
    let mut resp = {
        let mut s = state.lock().unwrap();
        handle(&mut s, req, &path, &query)
    };
    let request_id = find_header(&req.headers, "X-Request-Id")
        .map(str::to_string)
        .unwrap_or_else(|| "7d3f9a52-0c1e-4b55-9c8e-1f2a3b4c5d6e".into());
    resp.headers.push(("X-Request-Id".into(), request_id));
    let head_only = req.method == "HEAD";
    state.lock().unwrap().log.push(Exchange {
        method: req.method.clone(),
        path,
        query,
        request_headers: req.headers.clone(),
        request_body: req.body.clone(),
        status: resp.status,
        response_headers: resp.headers.clone(),
        response_body: if head_only {
            Vec::new()
        } else {
            resp.body.clone()
        },
    });
    Reply {
        status: resp.status,
        headers: resp.headers,
        body: resp.body,
        close: false,
    }
}

fn query_get<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Who is asking: Some(admin?) for valid credentials.
fn authenticate(req: &Request) -> Option<bool> {
    let value = find_header(&req.headers, "Authorization")?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, pass) = decoded.split_once(':')?;
    match (user, pass) {
        (ADMIN, ADMIN_PASSWORD) => Some(true),
        (DEVELOPER, DEVELOPER_PASSWORD) => Some(false),
        _ => None,
    }
}

fn handle(s: &mut State, req: &Request, path: &str, query: &[(String, String)]) -> Response {
    let Some(rest) = path.strip_prefix("/api/v2.0") else {
        return Response::error(404, "NOT_FOUND", "not found");
    };
    if req.method == "GET" && rest == "/ping" {
        return Response {
            status: 200,
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: b"Pong".to_vec(),
        };
    }
    // Harbor's CSRF middleware would want a token if a session cookie came along.
    if find_header(&req.headers, "Cookie").is_some() {
        return Response::error(403, "FORBIDDEN", "CSRF token invalid");
    }
    let Some(admin) = authenticate(req) else {
        return Response::error(401, "UNAUTHORIZED", "unauthorized");
    };
    match (req.method.as_str(), rest) {
        ("GET", "/registries") => {
            if !admin {
                return forbidden();
            }
            list_registries(s, path, query)
        }
        ("POST", "/registries") => {
            if !admin {
                return forbidden();
            }
            create_registry(s, req)
        }
        ("HEAD", "/projects") => {
            let Some(name) = query_get(query, "project_name") else {
                return Response::error(422, "UNPROCESSABLE_ENTITY", "project_name is required");
            };
            let found =
                s.projects.iter().any(|p| p.name == name) && !s.hidden_projects.contains(name);
            if found {
                Response::empty(200)
            } else {
                Response::error(404, "NOT_FOUND", &format!("project {name} not found"))
            }
        }
        ("POST", "/projects") => {
            if !admin {
                return forbidden();
            }
            create_project(s, req)
        }
        ("GET", p) if p.starts_with("/projects/") && p.matches('/').count() == 2 => {
            let raw = percent_decode(&p["/projects/".len()..]);
            let by_name = find_header(&req.headers, "X-Is-Resource-Name")
                .is_some_and(|v| v.eq_ignore_ascii_case("true"));
            let found = match raw.parse::<i64>() {
                Ok(id) if !by_name => s.projects.iter().find(|p| p.id == id),
                _ => s.projects.iter().find(|p| p.name == raw),
            };
            match found {
                Some(p) => Response::json(200, project_json(p)),
                None => Response::error(404, "NOT_FOUND", &format!("project {raw} not found")),
            }
        }
        _ => Response::error(404, "NOT_FOUND", "not found"),
    }
}

fn forbidden() -> Response {
    Response::error(403, "FORBIDDEN", "forbidden")
}

fn registry_json(r: &RegistryRec) -> Value {
    // go-swagger models omit empty optional fields (`omitempty`); `id` never is.
    let mut v = json!({
        "id": r.id,
        "name": r.name,
        "type": r.kind,
        "url": r.url,
        "status": "healthy",
        "creation_time": TIME,
        "update_time": TIME,
    });
    if r.insecure {
        v["insecure"] = json!(true);
    }
    if !r.description.is_empty() {
        v["description"] = json!(r.description);
    }
    // The secret is never listed, only masked.
    let mut credential = serde_json::Map::new();
    if let Some((kind, key, secret)) = &r.credential {
        if !kind.is_empty() {
            credential.insert("type".into(), json!(kind));
        }
        if !key.is_empty() {
            credential.insert("access_key".into(), json!(key));
        }
        if !secret.is_empty() {
            credential.insert("access_secret".into(), json!("*****"));
        }
    }
    v["credential"] = Value::Object(credential);
    v
}

fn project_json(p: &ProjectRec) -> Value {
    let mut metadata = serde_json::Map::new();
    metadata.insert("public".into(), Value::String(p.public.to_string()));
    for (k, v) in &p.metadata {
        metadata.insert(k.clone(), Value::String(v.clone()));
    }
    let mut v = json!({
        "project_id": p.id,
        "owner_id": 1,
        "name": p.name,
        "creation_time": TIME,
        "update_time": TIME,
        "deleted": false,
        "owner_name": "admin",
        "togglable": true,
        "current_user_role_id": 1,
        "current_user_role_ids": [1],
        "repo_count": 0,
        "metadata": metadata,
        "cve_allowlist": {
            "id": 0,
            "project_id": p.id,
            "items": [],
            "creation_time": "0001-01-01T00:00:00.000Z",
            "update_time": "0001-01-01T00:00:00.000Z"
        }
    });
    if p.registry_id != 0 {
        v["registry_id"] = json!(p.registry_id);
    }
    v
}

fn list_registries(s: &State, path: &str, query: &[(String, String)]) -> Response {
    let page: i64 = match query_get(query, "page").map(str::parse).transpose() {
        Ok(p) => p.unwrap_or(1),
        Err(_) => return Response::error(422, "UNPROCESSABLE_ENTITY", "page must be an integer"),
    };
    let size: i64 = match query_get(query, "page_size").map(str::parse).transpose() {
        Ok(p) => p.unwrap_or(10),
        Err(_) => {
            return Response::error(422, "UNPROCESSABLE_ENTITY", "page_size must be an integer")
        }
    };
    if size > 100 {
        return Response::error(
            422,
            "UNPROCESSABLE_ENTITY",
            "page_size in query should be less than or equal to 100",
        );
    }
    if page < 1 || size < 1 {
        return Response::error(400, "BAD_REQUEST", "page and page_size must be positive");
    }
    let q = query_get(query, "q").unwrap_or("");
    let mut name_exact = None;
    let mut name_fuzzy = None;
    for cond in q.split(',').filter(|c| !c.is_empty()) {
        match cond.split_once('=') {
            Some(("name", v)) if v.starts_with('~') => name_fuzzy = Some(v[1..].to_string()),
            Some(("name", v)) => name_exact = Some(v.to_string()),
            _ => return Response::error(400, "BAD_REQUEST", &format!("unsupported query {cond}")),
        }
    }
    let matching: Vec<&RegistryRec> = s
        .registries
        .iter()
        .filter(|r| match (&name_exact, &name_fuzzy) {
            (Some(n), _) => &r.name == n,
            (_, Some(f)) => r.name.contains(f.as_str()),
            _ => !s.hidden_registries.contains(&r.name),
        })
        .collect();
    let total = matching.len() as i64;
    let items: Vec<Value> = matching
        .iter()
        .skip(((page - 1) * size) as usize)
        .take(size as usize)
        .map(|r| registry_json(r))
        .collect();
    // src/lib/link.go: `<url>; rel="prev" , <url>; rel="next"`, the other query
    // parameters kept.
    let link_to = |p: i64| {
        let mut pairs: Vec<String> = query
            .iter()
            .filter(|(k, _)| k != "page" && k != "page_size")
            .map(|(k, v)| format!("{k}={}", encode_query_value(v)))
            .collect();
        pairs.push(format!("page={p}"));
        pairs.push(format!("page_size={size}"));
        let origin = s.link_origin.as_deref().unwrap_or("");
        format!("<{origin}{path}?{}>", pairs.join("&"))
    };
    let mut links = Vec::new();
    if page > 1 {
        links.push(format!("{}; rel=\"prev\"", link_to(page - 1)));
    }
    if page * size < total {
        links.push(format!("{}; rel=\"next\"", link_to(page + 1)));
    }
    let mut resp =
        Response::json(200, Value::Array(items)).header("X-Total-Count", &total.to_string());
    if !links.is_empty() {
        resp = resp.header("Link", &links.join(" , "));
    }
    resp
}

fn encode_query_value(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn create_registry(s: &mut State, req: &Request) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
        return Response::error(400, "BAD_REQUEST", "the body is not JSON");
    };
    let name = body["name"].as_str().unwrap_or("").to_string();
    let kind = body["type"].as_str().unwrap_or("").to_string();
    let url = body["url"]
        .as_str()
        .unwrap_or("")
        .trim_end_matches('/')
        .to_string();
    if name.is_empty() {
        return Response::error(400, "BAD_REQUEST", "name cannot be empty");
    }
    if name.len() > 64 {
        return Response::error(400, "BAD_REQUEST", "the max length of name is 64");
    }
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Response::error(400, "BAD_REQUEST", &format!("invalid HTTP URL: {url}"));
    }
    if !ADAPTERS.contains(&kind.as_str()) {
        return Response::error(
            400,
            "BAD_REQUEST",
            &format!("adapter factory for {kind} not found"),
        );
    }
    if s.unhealthy.contains(&url) {
        return Response::error(400, "BAD_REQUEST", "the registry is unhealthy");
    }
    if s.registries.iter().any(|r| r.name == name) {
        return Response::error(
            409,
            "CONFLICT",
            &format!("registry with name {name} already exists"),
        );
    }
    let credential = body.get("credential").filter(|c| c.is_object()).map(|c| {
        (
            c["type"].as_str().unwrap_or("").to_string(),
            c["access_key"].as_str().unwrap_or("").to_string(),
            c["access_secret"].as_str().unwrap_or("").to_string(),
        )
    });
    let id = s.next_registry;
    s.next_registry += 1;
    s.registries.push(RegistryRec {
        id,
        name,
        kind,
        url,
        credential,
        insecure: body["insecure"].as_bool().unwrap_or(false),
        description: body["description"].as_str().unwrap_or("").to_string(),
    });
    let mut resp = Response::empty(201);
    resp.headers
        .push(("Location".into(), format!("/api/v2.0/registries/{id}")));
    resp
}

fn valid_project_name(name: &str) -> bool {
    // ^[a-z0-9]+(?:[._-][a-z0-9]+)*$
    !name.is_empty()
        && name.len() <= 255
        && name.split(['.', '_', '-']).all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

fn create_project(s: &mut State, req: &Request) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
        return Response::error(400, "BAD_REQUEST", "the body is not JSON");
    };
    let name = body["project_name"].as_str().unwrap_or("").to_string();
    if !valid_project_name(&name) {
        return Response::error(
            400,
            "BAD_REQUEST",
            &format!("project name {name:?} is not valid"),
        );
    }
    let public = match body["metadata"].get("public") {
        None => "false".to_string(),
        Some(Value::String(p)) if p == "true" || p == "false" => p.clone(),
        Some(other) => {
            return Response::error(
                400,
                "BAD_REQUEST",
                &format!("metadata.public should only be 'true' or 'false', but got: '{other}'"),
            )
        }
    };
    let registry_id = body["registry_id"].as_i64().unwrap_or(0);
    if registry_id != 0 {
        let Some(reg) = s.registries.iter().find(|r| r.id == registry_id) else {
            return Response::error(
                400,
                "BAD_REQUEST",
                &format!("registry {registry_id} not found"),
            );
        };
        if !PROXY_CACHE_TYPES.contains(&reg.kind.as_str()) {
            return Response::error(
                400,
                "BAD_REQUEST",
                &format!("unsupported registry type {}", reg.kind),
            );
        }
    }
    if s.projects.iter().any(|p| p.name == name) {
        return Response::error(
            409,
            "CONFLICT",
            &format!("The project named {name} already exists"),
        );
    }
    let id = s.next_project;
    s.next_project += 1;
    let mut metadata = Vec::new();
    if registry_id != 0 {
        metadata.push(("retention_id".to_string(), id.to_string()));
    }
    s.projects.push(ProjectRec {
        id,
        name,
        registry_id,
        public: public == "true",
        metadata,
    });
    let mut resp = Response::empty(201);
    resp.headers
        .push(("Location".into(), format!("/api/v2.0/projects/{id}")));
    resp
}
