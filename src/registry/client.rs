//! A strict OCI distribution client for Harbor: HEAD manifests with the four manifest
//! media types, Bearer tokens the way Harbor issues them (one token request for a batch
//! of repository scopes, cached until it expires), Basic credentials only towards the
//! token service, retries with backoff and jitter that honour `Retry-After`, and one
//! distinct outcome per failure class.
//!
//! Why not oci-client: its `fetch_manifest_digest` falls back to GET whenever a HEAD
//! answer lacks a digest header (404, 401, 429), and through a Harbor proxy-cache project
//! a GET can be an upstream pull. Here a HEAD stays a HEAD.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use tokio::sync::Mutex;

mod chart;

use super::challenge::{self, Challenge};
use super::credentials::Credentials;

/// Every manifest and index media type, so the digest is the one a runtime sees.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// How many repository scopes go into one token request.
const SCOPES_PER_TOKEN: usize = 50;

/// What a check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(strum::EnumIter))]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Resolved,
    TagNotFound,
    RepositoryNotFound,
    Unauthorized,
    RateLimited,
    TlsError,
    Unreachable,
    ServerError,
    PlatformMissing,
    DigestMismatch,
    NotLocked,
    /// The reference could not be parsed, so it could not be asked for.
    InvalidReference,
    /// A chart source's reference is there but is no Helm chart (kind `chart`).
    NotAChart,
}

impl Outcome {
    /// Failures of the connection itself (Harbor could not be asked at all).
    pub fn is_unreachable(self) -> bool {
        matches!(self, Outcome::Unreachable | Outcome::TlsError)
    }
}

/// The result of checking one reference.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    pub attempts: u32,
    pub milliseconds: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Connection settings.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// `HOST[:PORT]` of Harbor.
    pub host: String,
    /// Talk HTTP instead of HTTPS (test registries, local mirrors).
    pub plain_http: bool,
    /// Extra CA certificate(s) (PEM) trusted besides the system roots.
    pub cacert: Option<std::path::PathBuf>,
    /// Skip TLS verification (only when asked; the command warns).
    pub insecure: bool,
    pub timeout: Duration,
    /// Retries after the first attempt, for 429/502/503/504 and connection failures.
    pub retries: u32,
    pub credentials: Option<Credentials>,
    /// Hosts other than `host` whose token realm may receive the credentials (config
    /// `registry.token_realms`).
    pub token_realms: Vec<String>,
    /// `HARBORIZE_RESOLVE` as the command read it (see [`with_resolve_overrides`]).
    pub resolve: Option<String>,
}

#[derive(Debug, Clone)]
struct Token {
    value: String,
    expires: Instant,
}

/// Counters for benchmarks and tests.
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicUsize,
    pub token_requests: AtomicUsize,
}

/// A client for one registry host.
pub struct RegistryClient {
    http: reqwest::Client,
    base: String,
    credentials: Option<Credentials>,
    /// Where the credentials may go as a token realm, and why they were withheld.
    realms: RealmPolicy,
    retries: u32,
    challenge: Mutex<Option<Option<Challenge>>>,
    /// Repository → token covering it.
    tokens: Mutex<HashMap<String, Arc<Token>>>,
    pub stats: Stats,
}

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read CA certificate {path}: {message}")]
    CaCert { path: String, message: String },
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
}

impl RegistryClient {
    pub fn new(opts: &ClientOptions) -> Result<Self, ClientError> {
        let builder = reqwest::Client::builder()
            .timeout(opts.timeout)
            .connect_timeout(opts.timeout.min(Duration::from_secs(10)))
            .pool_max_idle_per_host(64)
            .tcp_keepalive(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::limited(5))
            .user_agent(concat!("harborize/", env!("CARGO_PKG_VERSION")));
        let builder =
            with_resolve_overrides(builder, opts.resolve.clone()).map_err(ClientError::Build)?;
        let http = with_trust(builder, opts.cacert.as_deref(), opts.insecure)
            .map_err(|(path, message)| ClientError::CaCert { path, message })?
            .build()
            .map_err(|e| ClientError::Build(e.to_string()))?;
        let scheme = if opts.plain_http { "http" } else { "https" };
        Ok(RegistryClient {
            http,
            base: format!("{scheme}://{}", opts.host),
            credentials: opts.credentials.clone(),
            realms: RealmPolicy::new(opts),
            retries: opts.retries,
            challenge: Mutex::new(None),
            tokens: Mutex::new(HashMap::new()),
            stats: Stats::default(),
        })
    }

    /// Learn the auth scheme (`GET /v2/`) and fetch tokens for every repository, a batch
    /// of scopes per token request. Failures here surface again on the per-reference checks.
    pub async fn prepare(&self, repositories: &[String]) {
        let Some(Challenge::Bearer { realm, service, .. }) = self.challenge().await else {
            return;
        };
        let mut missing: Vec<String> = {
            let tokens = self.tokens.lock().await;
            repositories
                .iter()
                .filter(|r| tokens.get(*r).is_none_or(|t| t.expires <= Instant::now()))
                .cloned()
                .collect()
        };
        missing.sort();
        missing.dedup();
        for batch in missing.chunks(SCOPES_PER_TOKEN) {
            if let Ok(token) = self.fetch_token(&realm, service.as_deref(), batch).await {
                let mut tokens = self.tokens.lock().await;
                for repo in batch {
                    tokens.insert(repo.clone(), token.clone());
                }
            }
        }
    }

    async fn challenge(&self) -> Option<Challenge> {
        let mut cached = self.challenge.lock().await;
        if let Some(c) = cached.as_ref() {
            return c.clone();
        }
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let found = match self.http.get(format!("{}/v2/", self.base)).send().await {
            Ok(resp) if resp.status() == StatusCode::UNAUTHORIZED => resp
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .and_then(challenge::parse),
            _ => None,
        };
        *cached = Some(found.clone());
        found
    }

    async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        repos: &[String],
    ) -> Result<Arc<Token>, String> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(s) = service {
            query.push(("service", s.to_string()));
        }
        for r in repos {
            query.push(("scope", format!("repository:{r}:pull")));
        }
        let mut req = self.http.get(realm).query(&query);
        if let Some(c) = self
            .credentials
            .as_ref()
            .filter(|_| self.realms.allows(realm))
        {
            req = req.header(AUTHORIZATION, c.basic_header());
        }
        self.stats.token_requests.fetch_add(1, Ordering::Relaxed);
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let resp = req.send().await.map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("token service answered {}", resp.status()));
        }
        let body: serde_json::Value = resp.json().await.map_err(|e| e.to_string())?;
        let value = body["token"]
            .as_str()
            .or_else(|| body["access_token"].as_str())
            .ok_or("token service answered without a token")?
            .to_string();
        // Refresh a little early; the spec's default lifetime is 60 s.
        let ttl = body["expires_in"].as_u64().unwrap_or(60).max(10);
        Ok(Arc::new(Token {
            value,
            expires: Instant::now() + Duration::from_secs(ttl.saturating_sub(5)),
        }))
    }

    /// Why the credentials were not sent to the registry's token realm, when they were not
    /// (for a warning: the requests went on anonymously).
    pub fn withheld(&self) -> Option<String> {
        self.credentials.as_ref()?;
        self.realms.withheld_reason()
    }

    async fn token_for(&self, repo: &str) -> Option<Arc<Token>> {
        let tokens = self.tokens.lock().await;
        tokens
            .get(repo)
            .filter(|t| t.expires > Instant::now())
            .cloned()
    }

    async fn authorization(&self, repo: &str, refresh: bool) -> Option<String> {
        match self.challenge().await {
            Some(Challenge::Bearer { .. }) => {
                if refresh || self.token_for(repo).await.is_none() {
                    self.tokens.lock().await.remove(repo);
                    self.prepare(&[repo.to_string()]).await;
                }
                self.token_for(repo)
                    .await
                    .map(|t| format!("Bearer {}", t.value))
            }
            Some(Challenge::Basic) => self.credentials.as_ref().map(Credentials::basic_header),
            None => None,
        }
    }

    /// Send a request with auth, retries and backoff. Returns the last response or error.
    async fn send(
        &self,
        method: Method,
        url: &str,
        repo: &str,
        accept: Option<&str>,
    ) -> (Result<reqwest::Response, reqwest::Error>, u32) {
        let mut attempt = 0u32;
        let mut refreshed = false;
        loop {
            attempt += 1;
            let mut req = self.http.request(method.clone(), url);
            if let Some(a) = accept {
                req = req.header(ACCEPT, a);
            }
            if let Some(auth) = self.authorization(repo, false).await {
                req = req.header(AUTHORIZATION, auth);
            }
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            let result = req.send().await;
            let retry_after = match &result {
                Ok(resp) if resp.status() == StatusCode::UNAUTHORIZED && !refreshed => {
                    // The token may lack this scope or have expired early: get a fresh one once.
                    refreshed = true;
                    let _ = self.authorization(repo, true).await;
                    attempt -= 1;
                    continue;
                }
                Ok(resp) if is_retryable_status(resp.status()) => Some(retry_after(resp.headers())),
                Ok(_) => None,
                Err(e) if is_tls_error(e) => None,
                Err(e) if e.is_connect() || e.is_timeout() || e.is_request() || e.is_body() => {
                    Some(None)
                }
                Err(_) => None,
            };
            match retry_after {
                Some(wait) if attempt <= self.retries => {
                    tokio::time::sleep(backoff(attempt, wait)).await;
                }
                _ => return (result, attempt),
            }
        }
    }

    /// `HEAD /v2/<repo>/manifests/<reference>`: never a GET, so never an upstream pull.
    pub async fn head_manifest(&self, repo: &str, reference: &str) -> Check {
        let started = Instant::now();
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base);
        let (result, attempts) = self
            .send(Method::HEAD, &url, repo, Some(MANIFEST_ACCEPT))
            .await;
        let mut check = match result {
            Ok(resp) => {
                let status = resp.status();
                let digest = resp
                    .headers()
                    .get("docker-content-digest")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let outcome = classify(status);
                let mut check = Check {
                    outcome,
                    digest: digest.filter(|_| outcome == Outcome::Resolved),
                    http_status: Some(status.as_u16()),
                    attempts,
                    milliseconds: 0,
                    message: None,
                };
                if status == StatusCode::NOT_FOUND {
                    check.outcome = self.not_found_kind(repo).await;
                }
                if check.outcome == Outcome::Resolved && check.digest.is_none() {
                    check.message = Some("registry sent no Docker-Content-Digest header".into());
                }
                check
            }
            Err(e) => Check {
                outcome: if is_tls_error(&e) {
                    Outcome::TlsError
                } else {
                    Outcome::Unreachable
                },
                digest: None,
                http_status: None,
                attempts,
                milliseconds: 0,
                message: Some(error_chain(&e)),
            },
        };
        check.milliseconds = started.elapsed().as_millis() as u64;
        check
    }

    /// Distinguish a missing tag from a missing repository with the tag list (not a pull).
    async fn not_found_kind(&self, repo: &str) -> Outcome {
        let url = format!("{}/v2/{repo}/tags/list?n=1", self.base);
        match self.send(Method::GET, &url, repo, None).await.0 {
            Ok(resp) if resp.status().is_success() => Outcome::TagNotFound,
            Ok(resp) if resp.status() == StatusCode::NOT_FOUND => Outcome::RepositoryNotFound,
            _ => Outcome::TagNotFound,
        }
    }

    /// `GET /v2/<repo>/<path>` (`manifests/<ref>`, `blobs/<digest>`) with the same auth,
    /// retries and backoff as every check, the body left unread: `warm` streams blobs
    /// through a digest instead of holding them. Returns the response and the attempts.
    pub async fn get_unread(
        &self,
        repo: &str,
        path: &str,
        accept: Option<&str>,
    ) -> (Result<reqwest::Response, reqwest::Error>, u32) {
        let url = format!("{}/v2/{repo}/{path}", self.base);
        self.send(Method::GET, &url, repo, accept).await
    }

    /// GET a manifest or index body (for `--platform`): returns the check and the JSON.
    pub async fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> (Check, Option<serde_json::Value>) {
        let started = Instant::now();
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base);
        let (result, attempts) = self
            .send(Method::GET, &url, repo, Some(MANIFEST_ACCEPT))
            .await;
        match result {
            Ok(resp) => {
                let status = resp.status();
                let digest = resp
                    .headers()
                    .get("docker-content-digest")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let body = resp.json::<serde_json::Value>().await.ok();
                let outcome = if status == StatusCode::NOT_FOUND {
                    self.not_found_kind(repo).await
                } else {
                    classify(status)
                };
                (
                    Check {
                        outcome,
                        digest,
                        http_status: Some(status.as_u16()),
                        attempts,
                        milliseconds: started.elapsed().as_millis() as u64,
                        message: None,
                    },
                    body.filter(|_| outcome == Outcome::Resolved),
                )
            }
            Err(e) => (
                Check {
                    outcome: if is_tls_error(&e) {
                        Outcome::TlsError
                    } else {
                        Outcome::Unreachable
                    },
                    digest: None,
                    http_status: None,
                    attempts,
                    milliseconds: started.elapsed().as_millis() as u64,
                    message: Some(error_chain(&e)),
                },
                None,
            ),
        }
    }
}

/// Which token realms get the Basic credentials. The realm comes from the registry's
/// answer, so without this check a registry (or anyone in front of it) could name any URL
/// and receive the password: only HTTPS realms (plain HTTP only with `--plain-http` or
/// `--insecure`), on Harbor's own host or a host listed in `registry.token_realms`.
struct RealmPolicy {
    /// Harbor's host name (without port: Harbor's token service may listen on another port).
    host: String,
    /// `registry.token_realms`, lower-cased (`HOST` or `HOST:PORT`).
    trusted: Vec<String>,
    allow_http: bool,
    /// The first refusal, for [`RegistryClient::withheld`].
    refused: std::sync::Mutex<Option<String>>,
}

impl RealmPolicy {
    fn new(opts: &ClientOptions) -> Self {
        RealmPolicy {
            host: host_name(&opts.host),
            trusted: opts
                .token_realms
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            allow_http: opts.plain_http || opts.insecure,
            refused: std::sync::Mutex::new(None),
        }
    }

    /// May the credentials go to `realm`? A refusal is remembered for the warning.
    fn allows(&self, realm: &str) -> bool {
        match self.refusal(realm) {
            None => true,
            Some(why) => {
                if let Ok(mut r) = self.refused.lock() {
                    r.get_or_insert(why);
                }
                false
            }
        }
    }

    fn withheld_reason(&self) -> Option<String> {
        self.refused.lock().ok()?.clone()
    }

    fn refusal(&self, realm: &str) -> Option<String> {
        let url = match reqwest::Url::parse(realm) {
            Ok(u) => u,
            Err(e) => return Some(format!("the token realm {realm:?} is not a URL ({e})")),
        };
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let with_port = url
            .port()
            .map_or_else(|| host.to_string(), |p| format!("{host}:{p}"));
        let shown = url.origin().ascii_serialization();
        let on_harbor = host == self.host;
        if !on_harbor && !self.trusted.iter().any(|t| *t == host || *t == with_port) {
            return Some(format!(
                "the registry's token realm {shown} is not on Harbor's host ({}); to send the \
                 credentials there, list {host} under registry.token_realms in harborize.yaml",
                self.host
            ));
        }
        match url.scheme() {
            "https" => None,
            "http" if self.allow_http => None,
            "http" => Some(format!(
                "the registry's token realm {shown} is plain HTTP; credentials go over HTTP \
                 only with --plain-http or --insecure"
            )),
            other => Some(format!(
                "the registry's token realm {shown} uses {other}:, not https:"
            )),
        }
    }
}

/// The host name of `HOST[:PORT]` (bracketed IPv6 kept without brackets), lower-cased.
fn host_name(host_port: &str) -> String {
    let h = host_port.trim().to_ascii_lowercase();
    if let Some(rest) = h.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default().to_string();
    }
    h.split(':').next().unwrap_or_default().to_string()
}

/// `HARBORIZE_RESOLVE=HOST=ADDR[,HOST=ADDR...]`: connect to ADDR (an IP address) for HOST
/// instead of asking DNS, like curl's `--resolve`. For caches whose repositories live on
/// subdomains (Artifactory's subdomain method) before DNS has them, and for split-horizon
/// DNS; the port stays the one of the reference (reqwest's `resolve` ignores the port).
pub fn with_resolve_overrides(
    mut builder: reqwest::ClientBuilder,
    spec: Option<String>,
) -> Result<reqwest::ClientBuilder, String> {
    let Some(spec) = spec.filter(|s| !s.trim().is_empty()) else {
        return Ok(builder);
    };
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let parsed = item.split_once('=').and_then(|(host, addr)| {
            let ip: std::net::IpAddr = addr.trim().trim_matches(['[', ']']).parse().ok()?;
            let host = host.trim().to_ascii_lowercase();
            (!host.is_empty()).then_some((host, ip))
        });
        let Some((host, ip)) = parsed else {
            return Err(format!(
                "HARBORIZE_RESOLVE: {item:?} is not HOST=IP (e.g. repo.cache.example=10.0.0.5)"
            ));
        };
        builder = builder.resolve(&host, std::net::SocketAddr::new(ip, 0));
    }
    Ok(builder)
}

/// Trust `cacert` (a PEM bundle) besides the system roots, or nothing at all with
/// `insecure`: the TLS settings every client talking to Harbor shares. The error is the
/// file and why it could not be used.
pub fn with_trust(
    mut builder: reqwest::ClientBuilder,
    cacert: Option<&Path>,
    insecure: bool,
) -> Result<reqwest::ClientBuilder, (String, String)> {
    if let Some(path) = cacert {
        let err = |message: String| (path.display().to_string(), message);
        let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| err(e.to_string()))?;
        if certs.is_empty() {
            return Err(err("no PEM certificate in the file".into()));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    if insecure {
        builder = builder.danger_accept_invalid_certs(true);
    }
    Ok(builder)
}

fn classify(status: StatusCode) -> Outcome {
    match status.as_u16() {
        200..=299 => Outcome::Resolved,
        401 | 403 => Outcome::Unauthorized,
        404 => Outcome::TagNotFound,
        429 => Outcome::RateLimited,
        _ => Outcome::ServerError,
    }
}

fn is_retryable_status(s: StatusCode) -> bool {
    matches!(s.as_u16(), 429 | 502 | 503 | 504)
}

/// `Retry-After` in seconds or as an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    when.duration_since(std::time::SystemTime::now()).ok()
}

/// Exponential backoff with full jitter, or the server's `Retry-After`, capped at 30 s.
fn backoff(attempt: u32, retry_after: Option<Duration>) -> Duration {
    let cap = Duration::from_secs(30);
    if let Some(d) = retry_after {
        return d.min(cap);
    }
    let base = Duration::from_millis(100) * 2u32.saturating_pow(attempt.min(8));
    let jitter = rand::rng().random_range(0.5..1.0);
    base.mul_f64(jitter).min(cap)
}

/// An error and its sources on one line (what a report shows).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

fn is_tls_error(e: &reqwest::Error) -> bool {
    let chain = error_chain(e).to_ascii_lowercase();
    ["certificate", "tls", "ssl", "handshake", "unknownissuer"]
        .iter()
        .any(|w| chain.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        let later =
            httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(120));
        h.insert(RETRY_AFTER, later.parse().unwrap());
        let d = retry_after(&h).unwrap();
        assert!(
            d > Duration::from_secs(100) && d <= Duration::from_secs(120),
            "{d:?}"
        );
    }

    fn policy(host: &str, trusted: &[&str], plain_http: bool) -> RealmPolicy {
        RealmPolicy::new(&ClientOptions {
            host: host.into(),
            plain_http,
            cacert: None,
            insecure: false,
            timeout: Duration::from_secs(1),
            retries: 0,
            credentials: None,
            token_realms: trusted.iter().map(|t| t.to_string()).collect(),
            resolve: None,
        })
    }

    #[test]
    fn token_realm_gets_credentials_only_on_harbor_or_a_trusted_host_over_https() {
        let p = policy("harbor.example.com", &["auth.example.com"], false);
        assert!(p.allows("https://harbor.example.com/service/token"));
        assert!(p.allows("https://HARBOR.example.com:8443/service/token"));
        assert!(p.allows("https://auth.example.com/token"));
        assert!(p.withheld_reason().is_none());
        assert!(!p.allows("https://evil.example.net/token"));
        assert!(p
            .withheld_reason()
            .unwrap()
            .contains("registry.token_realms"));
        assert!(!policy("harbor.example.com", &[], false).allows("http://harbor.example.com/t"));
        assert!(policy("harbor.example.com", &[], true).allows("http://harbor.example.com/t"));
        assert!(!policy("harbor.example.com", &[], true).allows("http://evil.example.net/t"));
        assert!(!policy("harbor.example.com", &[], true).allows("not a url"));
        assert!(policy("[::1]:5000", &[], false).allows("https://[::1]:5001/t"));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1, None) <= Duration::from_millis(200));
        assert!(backoff(20, None) <= Duration::from_secs(30));
        assert_eq!(
            backoff(1, Some(Duration::from_secs(90))),
            Duration::from_secs(30)
        );
    }
}
