//! Harbor's REST API v2.0 (`https://<harbor>/api/v2.0`): the registry endpoints and
//! projects that `harborize harbor setup` reads and creates.
//!
//! Only the operations setup needs, exactly as Harbor's Swagger file describes them
//! (`api/v2.0/swagger.yaml`): `GET /ping`, `GET`/`POST /registries` (list pages followed
//! through `Link: <...>; rel="next"`, `page_size` 100), `HEAD /projects?project_name=`,
//! `GET /projects/{name}` (with `X-Is-Resource-Name: true`), `POST /projects`.
//!
//! Authentication is HTTP Basic on every request but `/ping`; there is no cookie jar, so
//! Harbor's CSRF check never applies (it only guards requests carrying a session cookie).
//! Redirects are not followed (an API redirect means a wrong scheme or host, and following
//! it would resend the credentials). The password is never part of an error or a log line.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, LINK, LOCATION};
use reqwest::{Method, StatusCode, Url};
use serde::{Deserialize, Serialize};

use crate::registry::Credentials;

/// Harbor's API base path.
pub const API_BASE: &str = "/api/v2.0";
/// The largest `page_size` Harbor accepts.
pub const PAGE_SIZE: u32 = 100;
/// A list never has more pages than this (a loop guard, 100 000 entries).
const MAX_PAGES: usize = 1000;

/// How to reach Harbor.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    /// `HOST[:PORT]`, no scheme.
    pub host: String,
    /// Plain HTTP (test and local instances only).
    pub plain_http: bool,
    /// Extra CA certificate(s) (PEM) trusted besides the system roots.
    pub cacert: Option<PathBuf>,
    /// Skip TLS verification.
    pub insecure: bool,
    pub timeout: Duration,
    pub credentials: Credentials,
}

/// A registry endpoint as Harbor lists it (`definitions.Registry`; only what setup reads).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Registry {
    #[serde(default)]
    pub id: i64,
    #[serde(default)]
    pub name: String,
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub status: Option<String>,
}

/// Upstream credentials of a new endpoint (`definitions.RegistryCredential`). `Debug`
/// redacts the secret.
#[derive(Clone, Serialize)]
pub struct RegistryCredential {
    /// Always `basic`.
    #[serde(rename = "type")]
    pub kind: String,
    pub access_key: String,
    pub access_secret: String,
}

impl fmt::Debug for RegistryCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RegistryCredential {{ type: {:?}, access_key: {:?}, access_secret: <redacted> }}",
            self.kind, self.access_key
        )
    }
}

/// The body of `POST /registries` (`definitions.Registry`).
#[derive(Debug, Clone, Serialize)]
pub struct NewRegistry {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<RegistryCredential>,
    pub insecure: bool,
    pub description: String,
}

/// The body of `POST /projects` (`definitions.ProjectReq`) for a proxy-cache project.
#[derive(Debug, Clone, Serialize)]
pub struct NewProject {
    pub project_name: String,
    pub registry_id: i64,
    pub metadata: NewProjectMetadata,
}

/// `definitions.ProjectMetadata`: every value is a string (`"true"`, not `true`).
#[derive(Debug, Clone, Serialize)]
pub struct NewProjectMetadata {
    pub public: String,
}

/// A project as Harbor returns it (`definitions.Project`; only what setup reads).
#[derive(Debug, Clone, Deserialize)]
pub struct Project {
    #[serde(default)]
    pub project_id: i64,
    #[serde(default)]
    pub name: String,
    /// The endpoint of a proxy-cache project; absent (or 0) for a normal project.
    #[serde(default)]
    pub registry_id: Option<i64>,
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, serde_json::Value>>,
}

impl Project {
    /// The endpoint id when this is a proxy-cache project.
    pub fn proxy_registry_id(&self) -> Option<i64> {
        self.registry_id.filter(|id| *id > 0)
    }

    /// `metadata.public == "true"`.
    pub fn is_public(&self) -> bool {
        self.metadata
            .as_ref()
            .and_then(|m| m.get("public"))
            .is_some_and(|v| v.as_str() == Some("true") || v.as_bool() == Some(true))
    }
}

/// What a create request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// 201; the id from `Location` when Harbor sent one.
    New(Option<i64>),
    /// 409: the name is taken.
    Conflict,
}

/// Why a request failed. No variant carries the password.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("cannot read CA certificate {path}: {message}")]
    CaCert { path: String, message: String },
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
    #[error("Harbor answered 401 Unauthorized to {request}: the credentials of user {user:?} (from {from}) were not accepted; check HARBORIZE_USERNAME and HARBORIZE_PASSWORD")]
    Unauthorized {
        request: String,
        user: String,
        from: String,
    },
    #[error("Harbor answered 403 Forbidden to {request}{detail}: user {user:?} may not do this; creating registry endpoints and proxy-cache projects needs a Harbor system administrator (or a system-level robot account with registry and project permissions)")]
    Forbidden {
        request: String,
        user: String,
        detail: String,
    },
    #[error("Harbor could not reach the upstream registry {url} (400 \"the registry is unhealthy\"): Harbor pings an endpoint when it is created; check that Harbor can reach {url} (egress, DNS, the proxy settings in harbor.yml) and, if set, the upstream credentials")]
    Unhealthy { url: String },
    #[error("Harbor answered {status} to {request}{detail}")]
    Status {
        request: String,
        status: u16,
        detail: String,
    },
    #[error("cannot reach Harbor at {base}: {message}")]
    Transport { base: String, message: String },
    #[error("{request}: {message}")]
    Protocol { request: String, message: String },
}

impl ApiError {
    /// Errors after which no other request can do better (credentials, permissions,
    /// connection), as opposed to one endpoint or project failing.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, ApiError::Unhealthy { .. } | ApiError::Status { .. })
    }
}

/// A client for one Harbor's REST API.
pub struct HarborApi {
    http: reqwest::Client,
    /// `scheme://host`
    origin: Url,
    /// `scheme://host/api/v2.0`
    base: String,
    authorization: String,
    user: String,
    from: String,
}

impl HarborApi {
    pub fn new(opts: &ApiOptions) -> Result<Self, ApiError> {
        let builder = reqwest::Client::builder()
            .timeout(opts.timeout)
            .connect_timeout(opts.timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("harborize/", env!("CARGO_PKG_VERSION")));
        let http =
            crate::registry::client::with_trust(builder, opts.cacert.as_deref(), opts.insecure)
                .map_err(|(path, message)| ApiError::CaCert { path, message })?
                .build()
                .map_err(|e| ApiError::Build(e.to_string()))?;
        let scheme = if opts.plain_http { "http" } else { "https" };
        let origin = Url::parse(&format!("{scheme}://{}/", opts.host))
            .map_err(|e| ApiError::Build(format!("invalid Harbor host {:?}: {e}", opts.host)))?;
        Ok(HarborApi {
            http,
            base: format!("{scheme}://{}{API_BASE}", opts.host),
            origin,
            authorization: opts.credentials.basic_header(),
            user: opts.credentials.username.clone(),
            from: opts.credentials.source.clone(),
        })
    }

    /// `https://<harbor>/api/v2.0`
    pub fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> Url {
        Url::parse(&format!("{}{path}", self.base)).expect("API URLs are valid")
    }

    /// `GET /ping` (no auth): is this Harbor's API at all?
    pub async fn ping(&self) -> Result<(), ApiError> {
        let url = self.url("/ping");
        let resp = self
            .send(Method::GET, url.clone(), None, &[], false)
            .await?;
        match resp.status() {
            StatusCode::OK => Ok(()),
            StatusCode::NOT_FOUND => Err(ApiError::Protocol {
                request: label(&Method::GET, &url),
                message: format!(
                    "404 Not Found: {} does not look like Harbor's API (check --harbor)",
                    self.base
                ),
            }),
            _ => Err(self.status_error(&Method::GET, &url, resp).await),
        }
    }

    /// Every registry endpoint: `GET /registries?page=1&page_size=100`, then each
    /// `Link: <...>; rel="next"`.
    pub async fn list_registries(&self) -> Result<Vec<Registry>, ApiError> {
        let mut url = self.url("/registries");
        url.query_pairs_mut()
            .append_pair("page", "1")
            .append_pair("page_size", &PAGE_SIZE.to_string());
        self.list_pages(url).await
    }

    /// The endpoint named `name`: `GET /registries?q=name%3D<name>` (exact match).
    pub async fn find_registry(&self, name: &str) -> Result<Option<Registry>, ApiError> {
        let mut url = self.url("/registries");
        url.query_pairs_mut()
            .append_pair("q", &format!("name={name}"))
            .append_pair("page_size", &PAGE_SIZE.to_string());
        let found = self.list_pages(url).await?;
        Ok(found.into_iter().find(|r| r.name == name))
    }

    async fn list_pages(&self, first: Url) -> Result<Vec<Registry>, ApiError> {
        let mut all = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut next = Some(first);
        while let Some(url) = next.take() {
            if !seen.insert(url.to_string()) || seen.len() > MAX_PAGES {
                return Err(ApiError::Protocol {
                    request: label(&Method::GET, &url),
                    message: "the Link rel=\"next\" pages do not end".into(),
                });
            }
            let resp = self.send(Method::GET, url.clone(), None, &[], true).await?;
            if resp.status() != StatusCode::OK {
                return Err(self.status_error(&Method::GET, &url, resp).await);
            }
            next = resp
                .headers()
                .get_all(LINK)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(next_link)
                .map(|target| self.next_page(&url, &target))
                .transpose()?;
            let page: Option<Vec<Registry>> = self.json(&Method::GET, &url, resp).await?;
            all.extend(page.unwrap_or_default());
        }
        Ok(all)
    }

    /// The URL of a `Link: <target>; rel="next"`, resolved against Harbor's origin. Only a
    /// same-origin page (scheme, host and port) is followed: every request carries the
    /// admin's Basic credentials, and a list answer must not be able to send them elsewhere.
    fn next_page(&self, current: &Url, target: &str) -> Result<Url, ApiError> {
        let protocol = |message: String| ApiError::Protocol {
            request: label(&Method::GET, current),
            message,
        };
        let next = self
            .origin
            .join(target)
            .map_err(|e| protocol(format!("bad Link target {target:?}: {e}")))?;
        if next.origin() != self.origin.origin() {
            return Err(protocol(format!(
                "the Link rel=\"next\" page {} is not on {}; not followed (the request \
                 would carry Harbor's credentials to another origin)",
                next.origin().ascii_serialization(),
                self.origin.origin().ascii_serialization()
            )));
        }
        Ok(next)
    }

    /// `POST /registries`. Harbor pings the upstream first: an unreachable one is
    /// [`ApiError::Unhealthy`].
    pub async fn create_registry(&self, body: &NewRegistry) -> Result<Created, ApiError> {
        let url = self.url("/registries");
        let json = serde_json::to_value(body).expect("serializable");
        let resp = self
            .send(Method::POST, url.clone(), Some(&json), &[], true)
            .await?;
        match resp.status() {
            StatusCode::CREATED => Ok(Created::New(location_id(&resp))),
            StatusCode::CONFLICT => Ok(Created::Conflict),
            StatusCode::BAD_REQUEST => {
                let err = self.status_error(&Method::POST, &url, resp).await;
                match err {
                    ApiError::Status { ref detail, .. }
                        if detail.to_ascii_lowercase().contains("unhealthy") =>
                    {
                        Err(ApiError::Unhealthy {
                            url: body.url.clone(),
                        })
                    }
                    other => Err(other),
                }
            }
            _ => Err(self.status_error(&Method::POST, &url, resp).await),
        }
    }

    /// `HEAD /projects?project_name=<name>`: 200 exists, 404 does not.
    pub async fn project_exists(&self, name: &str) -> Result<bool, ApiError> {
        let mut url = self.url("/projects");
        url.query_pairs_mut().append_pair("project_name", name);
        let resp = self
            .send(Method::HEAD, url.clone(), None, &[], true)
            .await?;
        match resp.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.status_error(&Method::HEAD, &url, resp).await),
        }
    }

    /// `GET /projects/<name>` with `X-Is-Resource-Name: true` (a numeric name stays a name).
    pub async fn get_project(&self, name: &str) -> Result<Option<Project>, ApiError> {
        let mut url = self.url("/projects");
        url.path_segments_mut()
            .expect("http URL has a path")
            .push(name);
        let resp = self
            .send(
                Method::GET,
                url.clone(),
                None,
                &[("X-Is-Resource-Name", "true")],
                true,
            )
            .await?;
        match resp.status() {
            StatusCode::OK => self.json(&Method::GET, &url, resp).await,
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.status_error(&Method::GET, &url, resp).await),
        }
    }

    /// `POST /projects`.
    pub async fn create_project(&self, body: &NewProject) -> Result<Created, ApiError> {
        let url = self.url("/projects");
        let json = serde_json::to_value(body).expect("serializable");
        let resp = self
            .send(Method::POST, url.clone(), Some(&json), &[], true)
            .await?;
        match resp.status() {
            StatusCode::CREATED => Ok(Created::New(location_id(&resp))),
            StatusCode::CONFLICT => Ok(Created::Conflict),
            _ => Err(self.status_error(&Method::POST, &url, resp).await),
        }
    }

    /// One request. 401, 403 and redirects become errors here; other statuses are the
    /// caller's.
    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        headers: &[(&str, &str)],
        auth: bool,
    ) -> Result<reqwest::Response, ApiError> {
        let mut req = self
            .http
            .request(method.clone(), url.clone())
            .header(ACCEPT, "application/json");
        if auth {
            req = req.header(AUTHORIZATION, &self.authorization);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(|e| ApiError::Transport {
            base: self.base.clone(),
            message: describe(&e),
        })?;
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED {
            return Err(ApiError::Unauthorized {
                request: label(&method, &url),
                user: self.user.clone(),
                from: self.from.clone(),
            });
        }
        if status == StatusCode::FORBIDDEN {
            let detail = error_detail(resp).await;
            return Err(ApiError::Forbidden {
                request: label(&method, &url),
                user: self.user.clone(),
                detail,
            });
        }
        if status.is_redirection() {
            let to = resp
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("?")
                .to_string();
            return Err(ApiError::Protocol {
                request: label(&method, &url),
                message: format!(
                    "Harbor redirected to {to} (not followed): check --harbor and --plain-http"
                ),
            });
        }
        Ok(resp)
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        method: &Method,
        url: &Url,
        resp: reqwest::Response,
    ) -> Result<T, ApiError> {
        let bytes = resp.bytes().await.map_err(|e| ApiError::Transport {
            base: self.base.clone(),
            message: describe(&e),
        })?;
        serde_json::from_slice(&bytes).map_err(|e| ApiError::Protocol {
            request: label(method, url),
            message: format!("unexpected response body: {e}"),
        })
    }

    async fn status_error(&self, method: &Method, url: &Url, resp: reqwest::Response) -> ApiError {
        let status = resp.status().as_u16();
        ApiError::Status {
            request: label(method, url),
            status,
            detail: error_detail(resp).await,
        }
    }
}

/// `: CODE: message` from Harbor's `{"errors":[{"code","message"}]}`, else a short body.
async fn error_detail(resp: reqwest::Response) -> String {
    let Ok(bytes) = resp.bytes().await else {
        return String::new();
    };
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
        if let Some(errors) = v["errors"].as_array() {
            let parts: Vec<String> = errors
                .iter()
                .map(|e| {
                    let code = e["code"].as_str().unwrap_or("");
                    let message = e["message"].as_str().unwrap_or("");
                    match (code.is_empty(), message.is_empty()) {
                        (false, false) => format!("{code}: {message}"),
                        (false, true) => code.to_string(),
                        _ => message.to_string(),
                    }
                })
                .filter(|s| !s.is_empty())
                .collect();
            if !parts.is_empty() {
                return format!(": {}", parts.join("; "));
            }
        }
    }
    let text = String::from_utf8_lossy(&bytes);
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        let short: String = text.chars().take(200).collect();
        format!(": {short}")
    }
}

/// `METHOD /api/v2.0/path?query` for messages (never carries credentials).
fn label(method: &Method, url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{method} {}?{q}", url.path()),
        None => format!("{method} {}", url.path()),
    }
}

/// The id at the end of `Location: /api/v2.0/<things>/<id>`.
fn location_id(resp: &reqwest::Response) -> Option<i64> {
    let loc = resp.headers().get(LOCATION)?.to_str().ok()?;
    loc.trim_end_matches('/').rsplit('/').next()?.parse().ok()
}

/// The `rel="next"` target of a `Link` header (`<url>; rel="next" , <url>; rel="prev"`).
pub fn next_link(header: &str) -> Option<String> {
    let mut rest = header;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let end = after.find('>')?;
        let target = &after[..end];
        let params_end = after[end + 1..]
            .find('<')
            .map_or(after.len(), |i| end + 1 + i);
        let params = &after[end + 1..params_end];
        let is_next = params.split(';').any(|p| {
            let p = p.trim().trim_end_matches(',').trim();
            p.split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("rel")
                    && v.trim()
                        .trim_matches('"')
                        .split_whitespace()
                        .any(|r| r.eq_ignore_ascii_case("next"))
            })
        });
        if is_next {
            return Some(target.to_string());
        }
        rest = &after[params_end..];
    }
    None
}

/// An error and its causes on one line (TLS failures are several levels deep).
fn describe(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    let lower = out.to_ascii_lowercase();
    if lower.contains("certificate") || lower.contains("unknownissuer") {
        out.push_str(" (a private CA: pass --cacert FILE)");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_link_follows_harbors_format() {
        let h = r#"</api/v2.0/registries?page=1&page_size=2>; rel="prev" , </api/v2.0/registries?page=3&page_size=2>; rel="next""#;
        assert_eq!(
            next_link(h).as_deref(),
            Some("/api/v2.0/registries?page=3&page_size=2")
        );
        let only_prev = r#"</api/v2.0/registries?page=1&page_size=2>; rel="prev""#;
        assert_eq!(next_link(only_prev), None);
        let commas = r#"</api/v2.0/registries?q=a,b&page=2>; rel=next"#;
        assert_eq!(
            next_link(commas).as_deref(),
            Some("/api/v2.0/registries?q=a,b&page=2")
        );
    }

    #[test]
    fn credential_debug_hides_the_secret() {
        let c = RegistryCredential {
            kind: "basic".into(),
            access_key: "me".into(),
            access_secret: "hunter2-upstream".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
