//! A local stand-in for GitHub's REST API: exactly the three pull request operations
//! `harborize::vcs::github` uses, with GitHub's behaviour and JSON shapes as GitHub publishes
//! them (the REST API description, `#/components/schemas/pull-request-simple` and
//! `pull-request`, and the "List / Create / Update a pull request" operations):
//!
//! - `GET {prefix}/repos/{owner}/{repo}/pulls` with `state` (`open` default, `closed`,
//!   `all`), `head` (`owner:branch`; a value without `owner:` filters nothing, as on
//!   GitHub), `base`, `per_page` (default 30, at most 100), `page`, and a `Link` header
//!   when there are more pages; items are `pull-request-simple` objects;
//! - `POST {prefix}/repos/{owner}/{repo}/pulls` with `title`, `head`, `base`, `body`
//!   (`draft`, `maintainer_can_modify` accepted) → `201` + `Location` + a `pull-request`
//!   object; `422 Validation Failed` for a missing field, a branch that does not exist
//!   (`code: invalid`), a head with no commits over the base (`No commits between ...`),
//!   or a pull request already open from that head (`A pull request already exists for
//!   owner:branch.`);
//! - `PATCH {prefix}/repos/{owner}/{repo}/pulls/{number}` with `title`, `body`, `state`,
//!   `base` → `200` + a `pull-request` object.
//!
//! Every request needs `Authorization: Bearer <token>` (or the older `token <token>`):
//! none → `401 Requires authentication`, another token → `401 Bad credentials`; a
//! read-only token may list but gets `403 Resource not accessible by personal access
//! token` on writes; an unknown repository or path is `404 Not Found`. `prefix` is empty
//! for github.com and `/api/v3` for GitHub Enterprise Server. State is in memory; every
//! exchange (method, path, decoded query, headers, body, and the answer) is recorded.
//!
//! Branches are a set the test fills ([`GitHubService::add_branch`]), or, with
//! [`GitHubService::start_for_repo`], the real `refs/heads/*` of a bare repository on disk
//! (the remote `harborize bump --pull-request` pushes to): a head must exist there, its
//! `sha` is the real commit, and a head already contained in the base is "No commits
//! between".

#![allow(dead_code)]

pub mod openapi;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::serve::{self, HttpService, Reply};

use serde_json::{json, Value};

pub const OWNER: &str = "acme";
pub const REPO: &str = "gitops";
/// The token the service accepts; tests assert it never shows in harborize's messages.
pub const TOKEN: &str = "ghp_Harborize0Test0Token0aB3dE5fG7hJ9kL1";
/// A token that may read but not write (403 on POST/PATCH).
pub const READ_ONLY_TOKEN: &str = "ghp_ReadOnly0Token0zY8xW6vU4tS2rQ0pN";

const DOCS: &str = "https://docs.github.com/rest/pulls/pulls";

/// One request and the answer the service gave.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: String,
    /// The path without the query, as sent (prefix included).
    pub path: String,
    /// The decoded query pairs, in order.
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub status: u16,
    pub response_headers: Vec<(String, String)>,
    pub response_body: Vec<u8>,
}

impl Exchange {
    pub fn header(&self, name: &str) -> Option<&str> {
        find(&self.headers, name)
    }
    pub fn response_header(&self, name: &str) -> Option<&str> {
        find(&self.response_headers, name)
    }
    pub fn query_value(&self, key: &str) -> Option<&str> {
        find_exact(&self.query, key)
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    pub fn response_json(&self) -> Value {
        serde_json::from_slice(&self.response_body).unwrap_or(Value::Null)
    }
    /// `GET /repos/acme/gitops/pulls?head=acme:x&state=open`
    pub fn line(&self) -> String {
        if self.query.is_empty() {
            format!("{} {}", self.method, self.path)
        } else {
            let q: Vec<String> = self.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{} {}?{}", self.method, self.path, q.join("&"))
        }
    }
}

fn find<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn find_exact<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A pull request in the store.
#[derive(Debug, Clone)]
pub struct Pull {
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub head: String,
    pub base: String,
    /// `open` or `closed`.
    pub state: String,
    pub draft: bool,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Default)]
pub struct State {
    pub pulls: Vec<Pull>,
    /// Branches that exist in the repository (`main` to start with).
    pub branches: HashSet<String>,
    /// Branches that exist but have no commits over any base (`No commits between`).
    pub empty_branches: HashSet<String>,
    /// A bare repository whose branches are the repository's (instead of `branches`).
    pub git_dir: Option<PathBuf>,
    /// A pull request (head, base, title) that "another run" opens right after the next
    /// list answer, so the client's create meets `422 A pull request already exists`.
    pub open_after_next_list: Option<(String, String, String)>,
    pub log: Vec<Exchange>,
    clock: u64,
}

impl State {
    /// The commit `branch` points at, when the branch exists.
    fn branch_sha(&self, branch: &str) -> Option<String> {
        match &self.git_dir {
            Some(dir) => {
                let repo = git2::Repository::open(dir).ok()?;
                let oid = repo.refname_to_id(&format!("refs/heads/{branch}")).ok()?;
                Some(oid.to_string())
            }
            None => self.branches.contains(branch).then(|| sha_of(branch)),
        }
    }

    /// GitHub's "No commits between base and head": head's commit is already in base.
    fn nothing_new(&self, head: &str, base: &str) -> bool {
        if head == base || self.empty_branches.contains(head) {
            return true;
        }
        let Some(dir) = &self.git_dir else {
            return false;
        };
        let (Some(h), Some(b)) = (self.branch_sha(head), self.branch_sha(base)) else {
            return false;
        };
        let Ok(repo) = git2::Repository::open(dir) else {
            return false;
        };
        let (h, b) = (
            git2::Oid::from_str(&h).unwrap(),
            git2::Oid::from_str(&b).unwrap(),
        );
        h == b || repo.graph_descendant_of(b, h).unwrap_or(false)
    }

    fn tick(&mut self) -> String {
        self.clock += 1;
        let s = self.clock;
        format!("2026-03-01T10:{:02}:{:02}Z", (s / 60) % 60, s % 60)
    }

    fn open(&mut self, head: &str, base: &str, title: &str, body: Option<String>) -> u64 {
        let now = self.tick();
        let number = self.pulls.iter().map(|p| p.number).max().unwrap_or(0) + 1;
        self.pulls.push(Pull {
            number,
            title: title.to_string(),
            body,
            head: head.to_string(),
            base: base.to_string(),
            state: "open".into(),
            draft: false,
            created_at: now.clone(),
            updated_at: now,
        });
        number
    }
}

/// The service; stops when dropped.
pub struct GitHubService {
    pub addr: SocketAddr,
    /// `""` (github.com) or `/api/v3` (Enterprise).
    pub prefix: String,
    pub state: Arc<Mutex<State>>,
    server: HttpService,
}

impl GitHubService {
    /// Like api.github.com: the API at the root.
    pub fn start() -> Self {
        Self::start_with_prefix("")
    }

    /// Like GitHub Enterprise Server: the API under `/api/v3`.
    pub fn start_enterprise() -> Self {
        Self::start_with_prefix("/api/v3")
    }

    /// Branches (and commit ids) from the bare repository `git_dir`, read at each request.
    pub fn start_for_repo(git_dir: &Path) -> Self {
        let svc = Self::start();
        svc.state.lock().unwrap().git_dir = Some(git_dir.to_path_buf());
        svc
    }

    pub fn start_with_prefix(prefix: &str) -> Self {
        let mut state = State::default();
        state.branches.insert("main".into());
        let state = Arc::new(Mutex::new(state));
        let shared = state.clone();
        let server = HttpService::start("github", None, |addr| {
            let ctx = Ctx {
                addr,
                prefix: prefix.to_string(),
                state: shared,
            };
            move |req: &serve::Request| answer(&ctx, req)
        });
        GitHubService {
            addr: server.addr(),
            prefix: prefix.to_string(),
            state,
            server,
        }
    }

    /// What `GITHUB_API_URL` is set to for this service.
    pub fn api_url(&self) -> String {
        format!("http://{}{}", self.addr, self.prefix)
    }

    /// Make a branch exist (as after a push).
    pub fn add_branch(&self, name: &str) {
        self.state.lock().unwrap().branches.insert(name.to_string());
    }

    /// A branch that exists but has nothing over its base.
    pub fn add_empty_branch(&self, name: &str) {
        let mut s = self.state.lock().unwrap();
        s.branches.insert(name.to_string());
        s.empty_branches.insert(name.to_string());
    }

    pub fn pulls(&self) -> Vec<Pull> {
        self.state.lock().unwrap().pulls.clone()
    }

    pub fn log(&self) -> Vec<Exchange> {
        self.state.lock().unwrap().log.clone()
    }

    pub fn clear_log(&self) {
        self.state.lock().unwrap().log.clear();
    }

    /// Close a pull request behind the client's back (as a person merging it would).
    pub fn close(&self, number: u64) {
        let mut s = self.state.lock().unwrap();
        let now = s.tick();
        let p = s.pulls.iter_mut().find(|p| p.number == number).unwrap();
        p.state = "closed".into();
        p.updated_at = now;
    }
}

impl Drop for GitHubService {
    fn drop(&mut self) {
        self.server.stop();
        // Issue #17 item 8: whatever test used the service (bump, run, migrate, github), every
        // exchange it saw is held against GitHub's published description of the endpoints.
        if !std::thread::panicking() {
            let found = openapi::check_all(&self.log());
            assert!(
                found.errors.is_empty(),
                "exchanges outside GitHub's published REST API description ({}):\n{}",
                openapi::subset_path().display(),
                found.errors.join("\n")
            );
        }
    }
}

struct Ctx {
    addr: SocketAddr,
    prefix: String,
    state: Arc<Mutex<State>>,
}

struct Request {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn json_response(status: u16, v: &Value) -> Response {
    Response {
        status,
        headers: vec![(
            "Content-Type".into(),
            "application/json; charset=utf-8".into(),
        )],
        body: serde_json::to_vec_pretty(v).unwrap(),
    }
}

fn message(status: u16, msg: &str, docs: &str) -> Response {
    json_response(
        status,
        &json!({ "message": msg, "documentation_url": docs, "status": status.to_string() }),
    )
}

fn validation_failed(errors: Value) -> Response {
    json_response(
        422,
        &json!({
            "message": "Validation Failed",
            "errors": errors,
            "documentation_url": format!("{DOCS}#create-a-pull-request"),
            "status": "422",
        }),
    )
}

/// One request: GitHub's answer, with the media-type headers GitHub adds, recorded before
/// it leaves (so a test that got the answer sees it logged).
fn answer(ctx: &Ctx, raw: &serve::Request) -> Reply {
    let (path, query) = super::http1::split_target(&raw.target);
    let req = Request {
        method: raw.method.clone(),
        path,
        query,
        headers: raw.headers.clone(),
        body: raw.body.clone(),
    };
    let resp = handle(ctx, &req);
    let mut headers = resp.headers.clone();
    headers.push((
        "X-GitHub-Media-Type".into(),
        "github.v3; format=json".into(),
    ));
    headers.push(("X-GitHub-Api-Version-Selected".into(), "2022-11-28".into()));
    ctx.state.lock().unwrap().log.push(Exchange {
        method: req.method,
        path: req.path,
        query: req.query,
        headers: req.headers,
        body: req.body,
        status: resp.status,
        response_headers: headers.clone(),
        response_body: resp.body.clone(),
    });
    Reply {
        status: resp.status,
        headers,
        body: resp.body,
        close: false,
    }
}

fn handle(ctx: &Ctx, req: &Request) -> Response {
    let not_found = || message(404, "Not Found", "https://docs.github.com/rest");
    // Authentication comes first, as on GitHub.
    let token = find(&req.headers, "authorization").and_then(|v| {
        v.strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("token "))
            .map(str::trim)
    });
    let read_only = match token {
        None => {
            return message(
                401,
                "Requires authentication",
                "https://docs.github.com/rest",
            )
        }
        Some(t) if t == TOKEN => false,
        Some(t) if t == READ_ONLY_TOKEN => true,
        Some(_) => return message(401, "Bad credentials", "https://docs.github.com/rest"),
    };
    let Some(rest) = req.path.strip_prefix(ctx.prefix.as_str()) else {
        return not_found();
    };
    let segs: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    let (owner, repo, tail) = match segs.as_slice() {
        ["repos", o, r, tail @ ..] => (*o, *r, tail),
        _ => return not_found(),
    };
    if !owner.eq_ignore_ascii_case(OWNER) || !repo.eq_ignore_ascii_case(REPO) {
        return not_found();
    }
    let forbidden = |op: &str| {
        message(
            403,
            "Resource not accessible by personal access token",
            &format!("{DOCS}#{op}"),
        )
    };
    let mut st = ctx.state.lock().unwrap();
    match (req.method.as_str(), tail) {
        ("GET", ["pulls"]) => list(ctx, &mut st, req),
        ("POST", ["pulls"]) if read_only => forbidden("create-a-pull-request"),
        ("POST", ["pulls"]) => create(ctx, &mut st, req),
        ("PATCH", ["pulls", _]) if read_only => forbidden("update-a-pull-request"),
        ("PATCH", ["pulls", n]) => match n.parse::<u64>() {
            Ok(n) => update(ctx, &mut st, req, n),
            Err(_) => not_found(),
        },
        _ => not_found(),
    }
}

fn list(ctx: &Ctx, st: &mut State, req: &Request) -> Response {
    let q = |k: &str| find_exact(&req.query, k);
    let state = q("state").unwrap_or("open");
    if !matches!(state, "open" | "closed" | "all") {
        return validation_failed(
            json!([{ "resource": "PullRequest", "field": "state", "code": "invalid" }]),
        );
    }
    // `head` is `user:ref`; without the `user:` part GitHub applies no head filter.
    let head = q("head")
        .and_then(|h| h.split_once(':'))
        .map(|(user, r)| (user.to_string(), r.to_string()));
    let base = q("base");
    let per_page: usize = q("per_page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page: usize = q("page").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
    let mut items: Vec<&Pull> = st
        .pulls
        .iter()
        .filter(|p| state == "all" || p.state == state)
        .filter(|p| match &head {
            Some((user, r)) => user.eq_ignore_ascii_case(OWNER) && &p.head == r,
            None => true,
        })
        .filter(|p| base.is_none_or(|b| p.base == b))
        .collect();
    items.sort_by_key(|p| std::cmp::Reverse(p.number)); // created, newest first
    let total = items.len();
    let pages = total.div_ceil(per_page).max(1);
    let slice: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|p| pull_simple(ctx, st, p))
        .collect();
    let mut resp = json_response(200, &Value::Array(slice));
    if pages > 1 {
        let link = |n: usize, rel: &str| {
            let mut qs: Vec<(String, String)> = req
                .query
                .iter()
                .filter(|(k, _)| k != "page")
                .cloned()
                .collect();
            qs.push(("page".into(), n.to_string()));
            let q: Vec<String> = qs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!(
                "<http://{}{}?{}>; rel=\"{rel}\"",
                ctx.addr,
                req.path,
                q.join("&")
            )
        };
        let mut links = Vec::new();
        if page > 1 {
            links.push(link(page - 1, "prev"));
        }
        if page < pages {
            links.push(link(page + 1, "next"));
            links.push(link(pages, "last"));
        }
        if page > 1 {
            links.push(link(1, "first"));
        }
        resp.headers.push(("Link".into(), links.join(", ")));
    }
    if let Some((h, b, t)) = st.open_after_next_list.take() {
        st.branches.insert(h.clone());
        st.open(&h, &b, &t, Some("opened by a concurrent run".into()));
    }
    resp
}

fn create(ctx: &Ctx, st: &mut State, req: &Request) -> Response {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&req.body) else {
        return message(
            400,
            "Problems parsing JSON",
            &format!("{DOCS}#create-a-pull-request"),
        );
    };
    let s = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
    let mut missing = Vec::new();
    for f in ["head", "base"] {
        if s(f).is_none() {
            missing.push(json!({ "resource": "PullRequest", "field": f, "code": "missing_field" }));
        }
    }
    if s("title").is_none() && body.get("issue").is_none() {
        missing
            .push(json!({ "resource": "PullRequest", "field": "title", "code": "missing_field" }));
    }
    if !missing.is_empty() {
        return validation_failed(Value::Array(missing));
    }
    let head_in = s("head").unwrap();
    let base = s("base").unwrap();
    let head = match head_in.split_once(':') {
        Some((user, r)) if user.eq_ignore_ascii_case(OWNER) => r.to_string(),
        Some(_) => {
            return validation_failed(
                json!([{ "resource": "PullRequest", "field": "head", "code": "invalid" }]),
            )
        }
        None => head_in.clone(),
    };
    if st.branch_sha(&base).is_none() {
        return validation_failed(
            json!([{ "resource": "PullRequest", "field": "base", "code": "invalid" }]),
        );
    }
    if st.branch_sha(&head).is_none() {
        return validation_failed(
            json!([{ "resource": "PullRequest", "field": "head", "code": "invalid" }]),
        );
    }
    if st.nothing_new(&head, &base) {
        return validation_failed(json!([{
            "resource": "PullRequest",
            "code": "custom",
            "message": format!("No commits between {base} and {head}"),
        }]));
    }
    if st
        .pulls
        .iter()
        .any(|p| p.state == "open" && p.head == head && p.base == base)
    {
        return validation_failed(json!([{
            "resource": "PullRequest",
            "code": "custom",
            "message": format!("A pull request already exists for {OWNER}:{head}."),
        }]));
    }
    let number = st.open(&head, &base, &s("title").unwrap_or_default(), s("body"));
    if body.get("draft").and_then(Value::as_bool) == Some(true) {
        st.pulls.last_mut().unwrap().draft = true;
    }
    let p = st
        .pulls
        .iter()
        .find(|p| p.number == number)
        .unwrap()
        .clone();
    let mut resp = json_response(201, &pull_full(ctx, st, &p));
    resp.headers.push((
        "Location".into(),
        format!(
            "http://{}{}/repos/{OWNER}/{REPO}/pulls/{number}",
            ctx.addr, ctx.prefix
        ),
    ));
    resp
}

fn update(ctx: &Ctx, st: &mut State, req: &Request, number: u64) -> Response {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&req.body) else {
        return message(
            400,
            "Problems parsing JSON",
            &format!("{DOCS}#update-a-pull-request"),
        );
    };
    if let Some(state) = body.get("state").and_then(Value::as_str) {
        if !matches!(state, "open" | "closed") {
            return validation_failed(
                json!([{ "resource": "PullRequest", "field": "state", "code": "invalid" }]),
            );
        }
    }
    if let Some(base) = body.get("base").and_then(Value::as_str) {
        if st.branch_sha(base).is_none() {
            return validation_failed(
                json!([{ "resource": "PullRequest", "field": "base", "code": "invalid" }]),
            );
        }
    }
    let now = st.tick();
    let Some(p) = st.pulls.iter_mut().find(|p| p.number == number) else {
        return message(404, "Not Found", &format!("{DOCS}#update-a-pull-request"));
    };
    if let Some(t) = body.get("title").and_then(Value::as_str) {
        p.title = t.to_string();
    }
    if let Some(b) = body.get("body") {
        p.body = b.as_str().map(str::to_string);
    }
    if let Some(s) = body.get("state").and_then(Value::as_str) {
        p.state = s.to_string();
    }
    if let Some(b) = body.get("base").and_then(Value::as_str) {
        p.base = b.to_string();
    }
    p.updated_at = now;
    let p = p.clone();
    json_response(200, &pull_full(ctx, st, &p))
}

/// A `simple-user` (every field GitHub's schema requires).
fn user(ctx: &Ctx, login: &str, id: u64) -> Value {
    let api = format!("http://{}{}/users/{login}", ctx.addr, ctx.prefix);
    json!({
        "login": login,
        "id": id,
        "node_id": format!("MDQ6VXNlcj{id}"),
        "avatar_url": format!("http://{}/avatars/u/{id}?v=4", ctx.addr),
        "gravatar_id": "",
        "url": api,
        "html_url": format!("http://{}/{login}", ctx.addr),
        "followers_url": format!("{api}/followers"),
        "following_url": format!("{api}/following{{/other_user}}"),
        "gists_url": format!("{api}/gists{{/gist_id}}"),
        "starred_url": format!("{api}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/subscriptions"),
        "organizations_url": format!("{api}/orgs"),
        "repos_url": format!("{api}/repos"),
        "events_url": format!("{api}/events{{/privacy}}"),
        "received_events_url": format!("{api}/received_events"),
        "type": if login == OWNER { "Organization" } else { "User" },
        "user_view_type": "public",
        "site_admin": false
    })
}

/// The `repository` of `head` and `base`.
fn repository(ctx: &Ctx) -> Value {
    let api = format!("http://{}{}/repos/{OWNER}/{REPO}", ctx.addr, ctx.prefix);
    let html = format!("http://{}/{OWNER}/{REPO}", ctx.addr);
    let mut v = json!({
        "id": 700_001,
        "node_id": "R_kgDOKharbor",
        "name": REPO,
        "full_name": format!("{OWNER}/{REPO}"),
        "owner": user(ctx, OWNER, 9_001),
        "private": true,
        "html_url": html,
        "description": "GitOps manifests",
        "fork": false,
        "url": api,
        "git_url": format!("git://{}/{OWNER}/{REPO}.git", ctx.addr),
        "ssh_url": format!("git@{}:{OWNER}/{REPO}.git", ctx.addr.ip()),
        "clone_url": format!("{html}.git"),
        "mirror_url": null,
        // Required by GitHub's `repository` schema (nullable-license-simple).
        "license": null,
        "svn_url": html,
        "homepage": null,
        "language": null,
        "forks_count": 0,
        "stargazers_count": 0,
        "watchers_count": 0,
        "size": 108,
        "default_branch": "main",
        "open_issues_count": 0,
        "is_template": false,
        "topics": [],
        "has_issues": true,
        "has_projects": true,
        "has_wiki": false,
        "has_pages": false,
        "has_downloads": true,
        "has_discussions": false,
        "archived": false,
        "disabled": false,
        "visibility": "private",
        "pushed_at": "2026-03-01T09:59:00Z",
        "created_at": "2025-01-10T08:00:00Z",
        "updated_at": "2026-03-01T09:59:00Z",
        "allow_forking": false,
        "web_commit_signoff_required": false,
        "forks": 0,
        "open_issues": 0,
        "watchers": 0
    });
    let urls: &[(&str, &str)] = &[
        ("archive_url", "/{archive_format}{/ref}"),
        ("assignees_url", "/assignees{/user}"),
        ("blobs_url", "/git/blobs{/sha}"),
        ("branches_url", "/branches{/branch}"),
        ("collaborators_url", "/collaborators{/collaborator}"),
        ("comments_url", "/comments{/number}"),
        ("commits_url", "/commits{/sha}"),
        ("compare_url", "/compare/{base}...{head}"),
        ("contents_url", "/contents/{+path}"),
        ("contributors_url", "/contributors"),
        ("deployments_url", "/deployments"),
        ("downloads_url", "/downloads"),
        ("events_url", "/events"),
        ("forks_url", "/forks"),
        ("git_commits_url", "/git/commits{/sha}"),
        ("git_refs_url", "/git/refs{/sha}"),
        ("git_tags_url", "/git/tags{/sha}"),
        ("hooks_url", "/hooks"),
        ("issue_comment_url", "/issues/comments{/number}"),
        ("issue_events_url", "/issues/events{/number}"),
        ("issues_url", "/issues{/number}"),
        ("keys_url", "/keys{/key_id}"),
        ("labels_url", "/labels{/name}"),
        ("languages_url", "/languages"),
        ("merges_url", "/merges"),
        ("milestones_url", "/milestones{/number}"),
        (
            "notifications_url",
            "/notifications{?since,all,participating}",
        ),
        ("pulls_url", "/pulls{/number}"),
        ("releases_url", "/releases{/id}"),
        ("stargazers_url", "/stargazers"),
        ("statuses_url", "/statuses/{sha}"),
        ("subscribers_url", "/subscribers"),
        ("subscription_url", "/subscription"),
        ("tags_url", "/tags"),
        ("teams_url", "/teams"),
        ("trees_url", "/git/trees{/sha}"),
    ];
    let o = v.as_object_mut().unwrap();
    for (k, tail) in urls {
        o.insert(k.to_string(), Value::String(format!("{api}{tail}")));
    }
    v
}

/// A stable fake commit id for a branch.
fn sha_of(branch: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in branch.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}{:016x}{:08x}", h.rotate_left(17), (h >> 7) as u32)
}

/// `pull-request-simple`: what the list answers with.
fn pull_simple(ctx: &Ctx, st: &State, p: &Pull) -> Value {
    let api = format!("http://{}{}/repos/{OWNER}/{REPO}", ctx.addr, ctx.prefix);
    let html = format!("http://{}/{OWNER}/{REPO}", ctx.addr);
    let n = p.number;
    let sha = |b: &str| st.branch_sha(b).unwrap_or_else(|| sha_of(b));
    let head_sha = sha(&p.head);
    let bot = user(ctx, "harborize-bot", 4_242);
    let side = |r: &str, sha: &str| {
        json!({
            "label": format!("{OWNER}:{r}"),
            "ref": r,
            "sha": sha,
            "user": user(ctx, OWNER, 9_001),
            "repo": repository(ctx),
        })
    };
    let closed = (p.state == "closed").then(|| p.updated_at.clone());
    json!({
        "url": format!("{api}/pulls/{n}"),
        "id": 1_000_000 + n,
        "node_id": format!("PR_kwDOKharbor{n}"),
        "html_url": format!("{html}/pull/{n}"),
        "diff_url": format!("{html}/pull/{n}.diff"),
        "patch_url": format!("{html}/pull/{n}.patch"),
        "issue_url": format!("{api}/issues/{n}"),
        "commits_url": format!("{api}/pulls/{n}/commits"),
        "review_comments_url": format!("{api}/pulls/{n}/comments"),
        "review_comment_url": format!("{api}/pulls/comments{{/number}}"),
        "comments_url": format!("{api}/issues/{n}/comments"),
        "statuses_url": format!("{api}/statuses/{head_sha}"),
        "number": n,
        "state": p.state,
        "locked": false,
        "title": p.title,
        "user": bot,
        "body": p.body,
        "labels": [],
        "milestone": null,
        "active_lock_reason": null,
        "created_at": p.created_at,
        "updated_at": p.updated_at,
        "closed_at": closed,
        "merged_at": null,
        "merge_commit_sha": null,
        "assignee": null,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "head": side(&p.head, &head_sha),
        "base": side(&p.base, &sha(&p.base)),
        "_links": {
            "self": { "href": format!("{api}/pulls/{n}") },
            "html": { "href": format!("{html}/pull/{n}") },
            "issue": { "href": format!("{api}/issues/{n}") },
            "comments": { "href": format!("{api}/issues/{n}/comments") },
            "review_comments": { "href": format!("{api}/pulls/{n}/comments") },
            "review_comment": { "href": format!("{api}/pulls/comments{{/number}}") },
            "commits": { "href": format!("{api}/pulls/{n}/commits") },
            "statuses": { "href": format!("{api}/statuses/{head_sha}") }
        },
        "author_association": "CONTRIBUTOR",
        "auto_merge": null,
        "draft": p.draft
    })
}

/// `pull-request`: what create and update answer with.
fn pull_full(ctx: &Ctx, st: &State, p: &Pull) -> Value {
    let mut v = pull_simple(ctx, st, p);
    let o = v.as_object_mut().unwrap();
    o.insert("merged".into(), json!(false));
    o.insert("mergeable".into(), Value::Null);
    o.insert("rebaseable".into(), Value::Null);
    o.insert("mergeable_state".into(), json!("unknown"));
    o.insert("merged_by".into(), Value::Null);
    o.insert("comments".into(), json!(0));
    o.insert("review_comments".into(), json!(0));
    o.insert("maintainer_can_modify".into(), json!(false));
    o.insert("commits".into(), json!(1));
    o.insert("additions".into(), json!(1));
    o.insert("deletions".into(), json!(1));
    o.insert("changed_files".into(), json!(1));
    v
}
