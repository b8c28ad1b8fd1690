//! A real OCI registry (CNCF distribution 2.8, Debian's `docker-registry`)
//! wired the way Harbor's `/v2` auth works: distribution's `auth: token:` with
//! service `harbor-registry`, and a token service run by the harness that
//! implements `/service/token` like Harbor (several scopes, Basic users and
//! robots, anonymous pull on public projects, 401 for bad credentials).
//!
//! ```ignore
//! #[path = "support/mod.rs"] mod support;
//! use support::registry::*;
//!
//! let reg = RegistryHarness::start(HarnessOptions::default().user("robot$ci", "s3cret"));
//! let digest = reg.push_image("library/alpine", "3.20");
//! // point the code under test at reg.host() with --cacert reg.ca_pem_path()
//! ```

use std::fs;
use std::io::BufReader;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::json;

pub use super::fault::{Decision, FaultPlan, FaultProxy, ProxiedRequest};
use super::http1::{self, Io, ServerCore, StopFlag, Tracker};
pub use super::http1::{Client, Response};
use super::oci;
use super::tls::{server_tls_config, TestCa};
pub mod plain;
pub use plain::Registry;

pub use super::common::free_port;
pub use super::oci::{
    sha256_digest, BuiltImage, ImageSpec, ManifestFormat, DOCKER_LIST, DOCKER_MANIFEST,
    MANIFEST_ACCEPT, OCI_INDEX, OCI_MANIFEST,
};

/// distribution `auth.token.service` and the JWT audience (Harbor's value).
pub const SERVICE: &str = "harbor-registry";
/// distribution 2.8 accepts a token's `exp` and `nbf` this many seconds late/early.
pub const DISTRIBUTION_LEEWAY_SECS: u64 = 60;
/// distribution `auth.token.issuer` and the JWT `iss`.
pub const ISSUER: &str = "harborize-test";
/// The `Accept` header value with all four manifest media types.
pub fn manifest_accept() -> String {
    MANIFEST_ACCEPT.join(", ")
}

// ---------------------------------------------------------------------------
// Options

#[derive(Clone, Debug)]
pub struct HarnessOptions {
    /// HTTPS with a test CA (default) or plain HTTP. The token service uses the
    /// same scheme and the same server certificate as the registry.
    pub tls: bool,
    /// Basic-auth users (user or robot, e.g. `robot$ci`) in addition to the
    /// built-in `admin`. Authenticated users get pull+push on everything.
    pub users: Vec<(String, String)>,
    /// Projects (first path component) anonymous clients may pull, like
    /// Harbor public projects. Default: `["library"]`.
    pub public_projects: Vec<String>,
    /// `expires_in` and JWT lifetime. Default 1800 (Harbor's 30 min).
    pub token_ttl_secs: u64,
    /// The loopback address the token service binds (default 127.0.0.1, the registry's
    /// own host; 127.0.0.2 makes the realm another host).
    pub token_ip: std::net::Ipv4Addr,
    /// The token service speaks TLS (default: as the registry does).
    pub token_tls: Option<bool>,
}

impl Default for HarnessOptions {
    fn default() -> Self {
        HarnessOptions {
            tls: true,
            users: Vec::new(),
            public_projects: vec!["library".into()],
            token_ttl_secs: 1800,
            token_ip: std::net::Ipv4Addr::LOCALHOST,
            token_tls: None,
        }
    }
}

impl HarnessOptions {
    /// Plain-HTTP registry and token service (needed in front of `FaultProxy`).
    pub fn plain() -> Self {
        HarnessOptions {
            tls: false,
            ..Default::default()
        }
    }
    pub fn tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }
    pub fn user(mut self, name: &str, password: &str) -> Self {
        self.users.push((name.into(), password.into()));
        self
    }
    pub fn public_projects(mut self, projects: &[&str]) -> Self {
        self.public_projects = projects.iter().map(|p| p.to_string()).collect();
        self
    }
    pub fn token_ttl_secs(mut self, secs: u64) -> Self {
        self.token_ttl_secs = secs;
        self
    }
    /// Serve the token realm from another loopback address (another host than the registry).
    pub fn token_ip(mut self, ip: std::net::Ipv4Addr) -> Self {
        self.token_ip = ip;
        self
    }
    /// Serve the token realm over HTTPS (true) or plain HTTP (false) whatever the registry does.
    pub fn token_tls(mut self, tls: bool) -> Self {
        self.token_tls = Some(tls);
        self
    }
}

/// How `start_proxy_cache_with` reaches and configures the pull-through cache.
#[derive(Clone, Debug, Default)]
pub struct ProxyCacheOptions {
    /// `proxy.remoteurl`; None = the upstream's own URL. Set it to a
    /// `FaultProxy` URL (upstream started with `tls: false`) to count or fault
    /// the cache's upstream traffic.
    pub remote_url: Option<String>,
    /// Use no upstream credentials (anonymous upstream tokens) instead of the
    /// upstream's admin account.
    pub anonymous_upstream: bool,
    /// The cache's own options (its token service, users, TLS); None = a copy
    /// of the upstream's.
    pub harness: Option<HarnessOptions>,
}

// ---------------------------------------------------------------------------
// PKI

/// The token-signing key and its self-signed certificate (`rootcertbundle`).
struct Signer {
    key: EcdsaKeyPair,
    cert_der: Vec<u8>,
    cert_pem: String,
}

impl Signer {
    fn new() -> Signer {
        let kp = rcgen::KeyPair::generate().expect("signing key"); // ECDSA P-256
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "harborize-test token signer");
        let cert = params.self_signed(&kp).expect("self-sign token cert");
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &kp.serialize_der(),
            &SystemRandom::new(),
        )
        .expect("ring ECDSA key");
        Signer {
            key,
            cert_der: cert.der().to_vec(),
            cert_pem: cert.pem(),
        }
    }
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    SystemRandom::new().fill(&mut b).expect("random");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `YYYY-MM-DDTHH:MM:SSZ`
pub fn rfc3339(secs: u64) -> String {
    let (days, rem) = ((secs / 86400) as i64, secs % 86400);
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

// ---------------------------------------------------------------------------
// Token service

/// One request the token service received.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    pub method: String,
    /// Path and query as sent.
    pub target: String,
    /// Every scope, from repeated `scope` params and space-separated values.
    pub scopes: Vec<String>,
    pub service: Option<String>,
    pub account: Option<String>,
    /// The Basic user that authenticated (None: anonymous or rejected).
    pub user: Option<String>,
    pub authorization: Option<String>,
    pub status: u16,
    /// What the token grants, as scopes: `repository:a/b:pull,push`; a scope
    /// with no granted action ends in `:`.
    pub granted: Vec<String>,
    /// "429", "503", "stall", "reset" when a fault was injected.
    pub fault: Option<String>,
}

/// One `access` claim entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

struct TokenState {
    signer: Signer,
    rng: SystemRandom,
    users: Mutex<Vec<(String, String)>>,
    public_projects: Mutex<Vec<String>>,
    ttl: Mutex<u64>,
    log: Mutex<Vec<TokenRequest>>,
    auth_headers: Mutex<Vec<String>>,
    faults: Arc<Mutex<FaultPlan>>,
    /// The next N tokens served are already expired (beyond the registry's leeway) while
    /// `expires_in` still promises the configured lifetime: the registry refuses them
    /// with `error="invalid_token"`, as a token revoked or expired early is refused.
    expired_next: Mutex<u32>,
    /// Back-date every token served by distribution's 60 s leeway, so the registry stops
    /// accepting it when `expires_in` says it ends (not a minute later).
    exact_expiry: Mutex<bool>,
}

/// Parse `type:name:actions` (name may itself contain `:`, e.g. a port).
fn parse_scope(scope: &str) -> Option<(String, String, Vec<String>)> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    let actions = actions
        .split(',')
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect();
    Some((kind.to_string(), name.to_string(), actions))
}

impl TokenState {
    fn grant(&self, user: Option<&str>, scopes: &[String]) -> Vec<Access> {
        let public = self.public_projects.lock().unwrap().clone();
        scopes
            .iter()
            .filter_map(|s| parse_scope(s))
            .map(|(kind, name, requested)| {
                let allowed: Vec<&str> = match (kind.as_str(), user) {
                    ("repository", Some(_)) => vec!["pull", "push", "delete", "*"],
                    ("repository", None) => {
                        let project = name.split('/').next().unwrap_or("");
                        if public.iter().any(|p| p == project) {
                            vec!["pull"]
                        } else {
                            vec![]
                        }
                    }
                    ("registry", Some(_)) if name == "catalog" => vec!["*"],
                    _ => vec![],
                };
                let actions = requested
                    .into_iter()
                    .filter(|a| allowed.contains(&a.as_str()))
                    .collect();
                Access {
                    kind,
                    name,
                    actions,
                }
            })
            .collect()
    }

    fn mint(&self, sub: &str, aud: &str, access: &[Access]) -> (String, u64, u64) {
        let ttl = *self.ttl.lock().unwrap();
        self.mint_at(sub, aud, access, now_secs(), ttl)
    }

    /// A token for the token endpoint: as `mint`, unless the test asked for expired or
    /// exactly expiring tokens (`expires_in` stays the configured lifetime either way).
    fn mint_served(&self, sub: &str, aud: &str, access: &[Access]) -> (String, u64, u64) {
        let ttl = *self.ttl.lock().unwrap();
        let expired = {
            let mut n = self.expired_next.lock().unwrap();
            let hit = *n > 0;
            *n = n.saturating_sub(1);
            hit
        };
        let now = now_secs();
        let issued = if expired {
            // exp an hour ago: far beyond the 60 s leeway.
            now - 3600 - ttl
        } else if *self.exact_expiry.lock().unwrap() {
            now - DISTRIBUTION_LEEWAY_SECS
        } else {
            now
        };
        let (token, _, _) = self.mint_at(sub, aud, access, issued, ttl);
        (token, ttl, now)
    }

    fn mint_at(
        &self,
        sub: &str,
        aud: &str,
        access: &[Access],
        now: u64,
        ttl: u64,
    ) -> (String, u64, u64) {
        let header =
            json!({"typ": "JWT", "alg": "ES256", "x5c": [STANDARD.encode(&self.signer.cert_der)]});
        let access: Vec<_> = access
            .iter()
            .map(|a| json!({"type": a.kind, "name": a.name, "actions": a.actions}))
            .collect();
        let claims = json!({
            "iss": ISSUER,
            "sub": sub,
            "aud": aud,
            "exp": now + ttl,
            "nbf": now,
            "iat": now,
            "jti": random_hex(16),
            "access": access,
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = self
            .signer
            .key
            .sign(&self.rng, input.as_bytes())
            .expect("ES256 sign");
        (
            format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref())),
            ttl,
            now,
        )
    }

    fn check_basic(&self, authorization: &str) -> Result<Option<String>, ()> {
        let Some(b64) = authorization
            .strip_prefix("Basic ")
            .or_else(|| authorization.strip_prefix("basic "))
        else {
            return Ok(None); // Bearer or other schemes: treated as anonymous
        };
        let raw = STANDARD.decode(b64.trim()).map_err(|_| ())?;
        let raw = String::from_utf8(raw).map_err(|_| ())?;
        let (u, p) = raw.split_once(':').ok_or(())?;
        if self
            .users
            .lock()
            .unwrap()
            .iter()
            .any(|(uu, pp)| uu == u && pp == p)
        {
            Ok(Some(u.to_string()))
        } else {
            Err(())
        }
    }

    /// Harbor-like `/service/token`: returns (status, JSON body) and records the request.
    fn handle(&self, method: &str, target: &str, authorization: Option<&str>) -> (u16, Vec<u8>) {
        let (_path, params) = http1::split_target(target);
        let scopes: Vec<String> = params
            .iter()
            .filter(|(k, _)| k == "scope")
            .flat_map(|(_, v)| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .collect();
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let mut rec = TokenRequest {
            method: method.to_string(),
            target: target.to_string(),
            scopes: scopes.clone(),
            service: param("service"),
            account: param("account"),
            user: None,
            authorization: authorization.map(str::to_string),
            status: 0,
            granted: Vec::new(),
            fault: None,
        };
        let unauthorized = |msg: &str| {
            serde_json::to_vec(&json!({"errors": [{"code": "UNAUTHORIZED", "message": msg}]}))
                .unwrap()
        };
        let (status, body) = if !method.eq_ignore_ascii_case("GET") {
            (
                405,
                b"{\"errors\":[{\"code\":\"UNSUPPORTED\",\"message\":\"use GET\"}]}".to_vec(),
            )
        } else {
            match authorization
                .map(|a| self.check_basic(a))
                .unwrap_or(Ok(None))
            {
                Err(()) => (401, unauthorized("invalid username or password")),
                Ok(None) if scopes.is_empty() => {
                    (401, unauthorized("anonymous token request without scope"))
                }
                Ok(user) => {
                    let access = self.grant(user.as_deref(), &scopes);
                    // Like Harbor, the audience is the requested service.
                    let aud = rec.service.clone().unwrap_or_else(|| SERVICE.to_string());
                    let (token, ttl, now) =
                        self.mint_served(user.as_deref().unwrap_or(""), &aud, &access);
                    rec.user = user;
                    rec.granted = access
                        .iter()
                        .map(|a| format!("{}:{}:{}", a.kind, a.name, a.actions.join(",")))
                        .collect();
                    let body = json!({
                        "token": token,
                        "access_token": token,
                        "expires_in": ttl,
                        "issued_at": rfc3339(now),
                    });
                    (200, serde_json::to_vec(&body).unwrap())
                }
            }
        };
        rec.status = status;
        self.log.lock().unwrap().push(rec);
        (status, body)
    }
}

fn is_token_path(target: &str) -> bool {
    let path = target.split('?').next().unwrap_or("");
    path == "/service/token" || path == "/token"
}

fn serve_token_conn(
    conn: TcpStream,
    state: &TokenState,
    tls: Option<&Arc<rustls::ServerConfig>>,
    stop: &StopFlag,
) {
    let stream: Box<dyn Io> = match tls {
        Some(cfg) => match rustls::ServerConnection::new(cfg.clone()) {
            Ok(sc) => Box::new(rustls::StreamOwned::new(sc, conn)),
            Err(_) => return,
        },
        None => Box::new(conn),
    };
    let mut rw = BufReader::new(stream);
    loop {
        let Ok(Some(head)) = http1::read_head(&mut rw) else {
            return;
        };
        if http1::read_body(&mut rw, http1::request_body(&head)).is_err() {
            return;
        }
        let method = head.method().to_string();
        let target = head.target().to_string();
        let authorization = head.get("authorization").map(str::to_string);
        if let Some(a) = &authorization {
            state.auth_headers.lock().unwrap().push(a.clone());
        }
        let close = head.wants_close();
        let head_only = method.eq_ignore_ascii_case("HEAD");
        let (delay, decision) = state.faults.lock().unwrap().decide(&method, &target);
        if !stop.sleep(delay) {
            return;
        }
        let record_fault = |label: Option<String>, status: u16| {
            if is_token_path(&target) {
                let (_, params) = http1::split_target(&target);
                state.log.lock().unwrap().push(TokenRequest {
                    method: method.clone(),
                    target: target.clone(),
                    scopes: params
                        .iter()
                        .filter(|(k, _)| k == "scope")
                        .flat_map(|(_, v)| {
                            v.split_whitespace().map(str::to_string).collect::<Vec<_>>()
                        })
                        .collect(),
                    service: None,
                    account: None,
                    user: None,
                    authorization: authorization.clone(),
                    status,
                    granted: Vec::new(),
                    fault: label,
                });
            }
        };
        match decision {
            Decision::Reset => {
                record_fault(decision.label(), 0);
                return;
            }
            Decision::Stall(d) => {
                record_fault(decision.label(), 0);
                stop.sleep(d);
                return;
            }
            Decision::Status {
                status,
                ref retry_after,
            } => {
                record_fault(decision.label(), status);
                if super::fault::write_fault(
                    rw.get_mut(),
                    status,
                    retry_after.as_deref(),
                    head_only,
                    close,
                )
                .is_err()
                {
                    return;
                }
            }
            Decision::Forward => {
                let (status, body) = if is_token_path(&target) {
                    state.handle(&method, &target, authorization.as_deref())
                } else {
                    (
                        404,
                        b"{\"errors\":[{\"code\":\"NOT_FOUND\",\"message\":\"no such path\"}]}"
                            .to_vec(),
                    )
                };
                let headers = [(
                    "Content-Type",
                    "application/json; charset=utf-8".to_string(),
                )];
                if http1::write_response(rw.get_mut(), status, &headers, &body, head_only, close)
                    .is_err()
                {
                    return;
                }
            }
        }
        if close {
            return;
        }
    }
}

// ---------------------------------------------------------------------------
// The registry process

/// Where the distribution binary is: `$REGISTRY_BIN`, `docker-registry` on
/// PATH, `/usr/bin/docker-registry`, `registry` on PATH, `.tools/bin/registry`.
/// Panics with the install hint when none exists.
pub fn find_registry_binary() -> PathBuf {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(b) = std::env::var_os("REGISTRY_BIN").filter(|b| !b.is_empty()) {
        candidates.push(PathBuf::from(b));
    }
    let path_dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    candidates.extend(path_dirs.iter().map(|d| d.join("docker-registry")));
    candidates.push(PathBuf::from("/usr/bin/docker-registry"));
    candidates.extend(path_dirs.iter().map(|d| d.join("registry")));
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/bin/registry"));
    for c in candidates {
        if is_executable(&c) {
            return c;
        }
    }
    panic!("docker-registry not found: run bash scripts/install-test-tools.sh");
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The registry runs under a tiny `sh` watchdog that kills it when our end of
/// its stdin pipe closes: on Drop, and also if the test process dies without
/// running destructors (a harness in a `static`, an abort, a killed runner).
const WATCHDOG: &str = r#"exec 3<&0 </dev/null
"$1" serve "$2" 3<&- &
p=$!
echo "$p" > "$3"
( read -r _ <&3; kill -TERM "$p" 2>/dev/null ) &
r=$!
exec 3<&-
wait "$p"; s=$?
kill "$r" 2>/dev/null
exit "$s""#;

pub(crate) struct RegistryProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    pid_file: PathBuf,
}

impl RegistryProcess {
    /// `bin serve DIR/config.yml` under the watchdog, logging to `DIR/registry.log`;
    /// `ssl_cert_file` is the CA bundle it trusts as a client (a pull-through upstream).
    pub(crate) fn spawn(bin: &Path, dir: &Path, ssl_cert_file: Option<&Path>) -> RegistryProcess {
        let log = fs::File::create(dir.join("registry.log")).unwrap();
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(WATCHDOG)
            .arg("registry-watchdog")
            .arg(bin)
            .arg(dir.join("config.yml"))
            .arg(dir.join("registry.pid"))
            .stdin(Stdio::piped())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        // distribution overrides config keys from REGISTRY_* variables.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("REGISTRY_") {
                cmd.env_remove(&k);
            }
        }
        if let Some(f) = ssl_cert_file {
            cmd.env("SSL_CERT_FILE", f);
        }
        let mut child = cmd.spawn().expect("spawn docker-registry");
        let stdin = child.stdin.take();
        RegistryProcess {
            child,
            stdin,
            pid_file: dir.join("registry.pid"),
        }
    }

    pub(crate) fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    pub(crate) fn stop(&mut self) {
        drop(self.stdin.take()); // the watchdog sends SIGTERM to the registry
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => break,
            }
        }
        if let Ok(pid) = fs::read_to_string(&self.pid_file) {
            let _ = Command::new("kill").arg("-KILL").arg(pid.trim()).status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct ProxySetup {
    remote_url: String,
    credentials: Option<(String, String)>,
    ssl_cert_file: Option<PathBuf>,
}

fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap() // a JSON string is a valid YAML double-quoted scalar
}

// ---------------------------------------------------------------------------
// The harness

/// A running distribution registry with a Harbor-like token service.
/// Dropping it stops the registry and the token service and deletes its files.
pub struct RegistryHarness {
    opts: HarnessOptions,
    // Field order matters for Drop: the process and servers stop (in Drop)
    // before `dir` is removed.
    process: Option<RegistryProcess>,
    token_core: ServerCore,
    token: Arc<TokenState>,
    ca: Arc<TestCa>,
    client: Client,
    addr: SocketAddr,
    admin: (String, String),
    upstream_url: Option<String>,
    dir: tempfile::TempDir,
}

impl RegistryHarness {
    /// Start a registry with token auth on 127.0.0.1 (free port, temp storage).
    pub fn start(opts: HarnessOptions) -> RegistryHarness {
        Self::start_inner(opts, Arc::new(TestCa::new()), None)
    }

    /// A second registry in distribution's `proxy:` (pull-through cache) mode
    /// whose remote is `upstream`, authenticating upstream as the upstream's
    /// admin. It shares the upstream's CA, so one `--cacert` trusts both, and
    /// copies its options (own token service, users, public projects).
    pub fn start_proxy_cache(upstream: &RegistryHarness) -> RegistryHarness {
        Self::start_proxy_cache_with(upstream, ProxyCacheOptions::default())
    }

    pub fn start_proxy_cache_with(
        upstream: &RegistryHarness,
        pc: ProxyCacheOptions,
    ) -> RegistryHarness {
        let opts = pc.harness.clone().unwrap_or_else(|| upstream.opts.clone());
        let remote_url = pc.remote_url.clone().unwrap_or_else(|| upstream.url());
        let setup = ProxySetup {
            // Go reads SSL_CERT_FILE for its root pool: the cache trusts the upstream CA.
            ssl_cert_file: remote_url
                .starts_with("https://")
                .then(|| upstream.ca_pem_path()),
            remote_url,
            credentials: (!pc.anonymous_upstream).then(|| upstream.admin.clone()),
        };
        let mut h = Self::start_inner(opts, upstream.ca.clone(), Some(setup));
        h.upstream_url = Some(pc.remote_url.unwrap_or_else(|| upstream.url()));
        h
    }

    fn start_inner(
        opts: HarnessOptions,
        ca: Arc<TestCa>,
        proxy: Option<ProxySetup>,
    ) -> RegistryHarness {
        let bin = find_registry_binary();
        let dir = tempfile::Builder::new()
            .prefix("harborize-registry-")
            .tempdir()
            .expect("temp dir");
        let d = dir.path();
        fs::create_dir_all(d.join("storage")).unwrap();
        fs::write(d.join("ca.pem"), ca.pem()).unwrap();
        let (cert_pem, key_pem) = ca.server_cert();
        fs::write(d.join("server.pem"), &cert_pem).unwrap();
        fs::write(d.join("server-key.pem"), &key_pem).unwrap();

        let admin = ("admin".to_string(), random_hex(16));
        let mut users = vec![admin.clone()];
        users.extend(opts.users.iter().cloned());
        let signer = Signer::new();
        fs::write(d.join("token-signer.pem"), &signer.cert_pem).unwrap();
        let token = Arc::new(TokenState {
            signer,
            rng: SystemRandom::new(),
            users: Mutex::new(users),
            public_projects: Mutex::new(opts.public_projects.clone()),
            ttl: Mutex::new(opts.token_ttl_secs),
            log: Mutex::default(),
            auth_headers: Mutex::default(),
            faults: FaultPlan::shared(),
            expired_next: Mutex::new(0),
            exact_expiry: Mutex::new(false),
        });
        let token_tls = opts.token_tls.unwrap_or(opts.tls);
        let tls_cfg = token_tls.then(|| server_tls_config(&cert_pem, &key_pem));
        let (ts, tc) = (token.clone(), tls_cfg.clone());
        let token_core = ServerCore::start_on(
            "token-service",
            opts.token_ip.into(),
            Arc::new(move |conn: TcpStream, stop: &StopFlag, _t: &Tracker| {
                serve_token_conn(conn, &ts, tc.as_ref(), stop)
            }),
        );
        let scheme = if opts.tls { "https" } else { "http" };
        let token_scheme = if token_tls { "https" } else { "http" };
        let realm = format!("{token_scheme}://{}/service/token", token_core.addr());
        let client = if opts.tls {
            Client::with_ca_pem(&ca.pem())
        } else {
            Client::plain()
        };

        let mut last_log = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            let mut cfg = format!(
                "version: 0.1\n\
                 log:\n  level: info\n  formatter: text\n  accesslog:\n    disabled: false\n\
                 storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n  \
                 maintenance:\n    uploadpurging:\n      enabled: false\n  redirect:\n    disable: true\n\
                 http:\n  addr: {addr}\n  secret: {secret}\n  headers:\n    X-Content-Type-Options: [nosniff]\n",
                storage = yaml_str(&d.join("storage").to_string_lossy()),
                secret = yaml_str(&random_hex(16)),
            );
            if opts.tls {
                cfg += &format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    yaml_str(&d.join("server.pem").to_string_lossy()),
                    yaml_str(&d.join("server-key.pem").to_string_lossy())
                );
            }
            cfg += &format!(
                "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n\
                 health:\n  storagedriver:\n    enabled: false\n",
                yaml_str(&realm),
                yaml_str(SERVICE),
                yaml_str(ISSUER),
                yaml_str(&d.join("token-signer.pem").to_string_lossy())
            );
            if let Some(p) = &proxy {
                cfg += &format!("proxy:\n  remoteurl: {}\n", yaml_str(&p.remote_url));
                if let Some((u, pw)) = &p.credentials {
                    cfg += &format!(
                        "  username: {}\n  password: {}\n",
                        yaml_str(u),
                        yaml_str(pw)
                    );
                }
            }
            fs::write(d.join("config.yml"), &cfg).unwrap();
            let log_path = d.join("registry.log");
            let ssl_cert_file = proxy.as_ref().and_then(|p| p.ssl_cert_file.as_deref());
            let mut process = RegistryProcess::spawn(&bin, d, ssl_cert_file);
            let url = format!("{scheme}://{addr}/v2/");
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut ready = false;
            while Instant::now() < deadline {
                if process.exited() {
                    break;
                }
                if client.send("GET", &url, &[], b"").is_ok() {
                    ready = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if ready {
                return RegistryHarness {
                    opts,
                    process: Some(process),
                    token_core,
                    token,
                    ca,
                    client,
                    addr,
                    admin,
                    upstream_url: None,
                    dir,
                };
            }
            process.stop();
            last_log = fs::read_to_string(&log_path).unwrap_or_default();
            if !last_log.contains("address already in use") {
                break;
            }
        }
        panic!(
            "docker-registry did not start; config:\n{}\nlog:\n{last_log}",
            fs::read_to_string(d.join("config.yml")).unwrap_or_default()
        );
    }

    // --- addresses and files

    /// `127.0.0.1:PORT` (what goes into an image reference).
    pub fn host(&self) -> String {
        self.addr.to_string()
    }
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    pub fn scheme(&self) -> &'static str {
        if self.opts.tls {
            "https"
        } else {
            "http"
        }
    }
    /// `https://127.0.0.1:PORT` (or http).
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme(), self.addr)
    }
    pub fn tls(&self) -> bool {
        self.opts.tls
    }
    pub fn options(&self) -> &HarnessOptions {
        &self.opts
    }
    /// PEM of the CA that signed the registry's (and token service's) cert.
    pub fn ca_pem_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }
    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }
    /// Token service realm: `<scheme>://127.0.0.1:PORT/service/token` (`/token` works too).
    pub fn realm(&self) -> String {
        let tls = self.opts.token_tls.unwrap_or(self.opts.tls);
        format!(
            "{}://{}/service/token",
            if tls { "https" } else { "http" },
            self.token_core.addr()
        )
    }
    pub fn token_url(&self) -> String {
        self.realm()
    }
    pub fn token_addr(&self) -> SocketAddr {
        self.token_core.addr()
    }
    /// The always-present Basic user with push rights: ("admin", random password).
    pub fn admin(&self) -> (String, String) {
        self.admin.clone()
    }
    /// For a pull-through cache: its `proxy.remoteurl`.
    pub fn upstream_url(&self) -> Option<&str> {
        self.upstream_url.as_deref()
    }
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.yml")
    }
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }
    /// The registry's log so far (stdout+stderr, with access log).
    pub fn registry_log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    // --- token service: records, knobs

    /// The scopes of every token request received, one inner Vec per request
    /// (including rejected and fault-injected ones). Harness-internal tokens
    /// (pushes, `mint_token`) never appear here.
    pub fn token_requests(&self) -> Vec<Vec<String>> {
        self.token
            .log
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.scopes.clone())
            .collect()
    }
    pub fn token_request_log(&self) -> Vec<TokenRequest> {
        self.token.log.lock().unwrap().clone()
    }
    /// Every `Authorization` header value the token service saw, on any path.
    /// (The registry's own view is not observable; put a `FaultProxy` in front
    /// of a plain-HTTP harness and use its `authorization_headers()`.)
    pub fn authorization_headers(&self) -> Vec<String> {
        self.token.auth_headers.lock().unwrap().clone()
    }
    pub fn clear_records(&self) {
        self.token.log.lock().unwrap().clear();
        self.token.auth_headers.lock().unwrap().clear();
    }
    /// Faults applied by the token service itself (same semantics as FaultProxy).
    pub fn token_faults(&self) -> Arc<Mutex<FaultPlan>> {
        self.token.faults.clone()
    }
    pub fn add_user(&self, name: &str, password: &str) {
        self.token
            .users
            .lock()
            .unwrap()
            .push((name.into(), password.into()));
    }
    pub fn set_public_projects(&self, projects: &[&str]) {
        *self.token.public_projects.lock().unwrap() =
            projects.iter().map(|p| p.to_string()).collect();
    }
    /// Changes `expires_in`/`exp` of tokens issued from now on.
    pub fn set_token_ttl_secs(&self, secs: u64) {
        *self.token.ttl.lock().unwrap() = secs;
    }
    /// The next `n` tokens the token service issues are already expired (their `exp` is an
    /// hour past, beyond the leeway) although `expires_in` promises the full lifetime: the
    /// registry answers requests bearing them `401` with `error="invalid_token"`.
    pub fn issue_expired_tokens(&self, n: u32) {
        *self.token.expired_next.lock().unwrap() = n;
    }
    /// Tokens issued from now on are back-dated by distribution's 60 s leeway, so the
    /// registry refuses each one as soon as its `expires_in` has passed.
    pub fn set_exact_token_expiry(&self, on: bool) {
        *self.token.exact_expiry.lock().unwrap() = on;
    }
    /// A token minted directly (no HTTP, not recorded) with what `user`
    /// (None = anonymous) would be granted for `scopes`.
    pub fn mint_token(&self, user: Option<&str>, scopes: &[&str]) -> String {
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        let access = self.token.grant(user, &scopes);
        self.token.mint(user.unwrap_or(""), SERVICE, &access).0
    }
    /// Like `mint_token`, but issued `issued_secs_ago` with lifetime `ttl_secs`
    /// (e.g. an already expired token). Note distribution 2.8 accepts `exp`
    /// and `nbf` with 60 s leeway.
    pub fn mint_token_issued(
        &self,
        user: Option<&str>,
        scopes: &[&str],
        issued_secs_ago: u64,
        ttl_secs: u64,
    ) -> String {
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        let access = self.token.grant(user, &scopes);
        self.token
            .mint_at(
                user.unwrap_or(""),
                SERVICE,
                &access,
                now_secs() - issued_secs_ago,
                ttl_secs,
            )
            .0
    }
    /// A token with exactly `access` (bypasses the policy), e.g. for negative tests.
    pub fn mint_token_with_access(&self, sub: &str, access: &[Access]) -> String {
        self.token.mint(sub, SERVICE, access).0
    }

    // --- HTTP helpers (a client trusting the harness CA)

    pub fn client(&self) -> Client {
        self.client.clone()
    }
    /// Send a request; `path_or_url` may be `/v2/...` (relative to `url()`).
    pub fn request(
        &self,
        method: &str,
        path_or_url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let url = if path_or_url.starts_with('/') {
            format!("{}{path_or_url}", self.url())
        } else {
            path_or_url.to_string()
        };
        self.client
            .send(method, &url, headers, body)
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"))
    }
    /// GET the token service (recorded, like any client's request).
    /// `scopes` become repeated `scope` params.
    pub fn fetch_token(&self, scopes: &[&str], basic: Option<(&str, &str)>) -> Response {
        let mut url = format!("{}?service={SERVICE}", self.realm());
        for s in scopes {
            url += &format!("&scope={}", http1::percent_encode(s));
        }
        let auth = basic.map(|(u, p)| format!("Basic {}", STANDARD.encode(format!("{u}:{p}"))));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        self.client
            .send("GET", &url, &headers, b"")
            .unwrap_or_else(|e| panic!("GET {url}: {e}"))
    }
    /// `fetch_token` and return the `token` field; panics unless 200.
    pub fn token_for(&self, scopes: &[&str], basic: Option<(&str, &str)>) -> String {
        let r = self.fetch_token(scopes, basic);
        assert_eq!(r.status, 200, "token request failed: {}", r.text());
        r.json()["token"].as_str().expect("token field").to_string()
    }
    /// HEAD a manifest with the four manifest Accept types and optional bearer token.
    pub fn head_manifest(&self, repo: &str, reference: &str, bearer: Option<&str>) -> Response {
        let accept = manifest_accept();
        let auth = bearer.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("Accept", accept.as_str())];
        if let Some(a) = &auth {
            headers.push(("Authorization", a.as_str()));
        }
        self.request(
            "HEAD",
            &format!("/v2/{repo}/manifests/{reference}"),
            &headers,
            b"",
        )
    }
    pub fn get_manifest(&self, repo: &str, reference: &str, bearer: Option<&str>) -> Response {
        let accept = manifest_accept();
        let auth = bearer.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("Accept", accept.as_str())];
        if let Some(a) = &auth {
            headers.push(("Authorization", a.as_str()));
        }
        self.request(
            "GET",
            &format!("/v2/{repo}/manifests/{reference}"),
            &headers,
            b"",
        )
    }

    // --- pushing content (as admin, with internally minted tokens)

    fn push_auth(&self, repo: &str) -> String {
        let scope = format!("repository:{repo}:pull,push,delete");
        format!("Bearer {}", self.mint_token(Some(&self.admin.0), &[&scope]))
    }

    /// Upload a blob (POST + monolithic PUT) unless present; returns its digest.
    pub fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = sha256_digest(bytes);
        let auth = self.push_auth(repo);
        let h = [("Authorization", auth.as_str())];
        if self
            .request("HEAD", &format!("/v2/{repo}/blobs/{digest}"), &h, b"")
            .status
            == 200
        {
            return digest;
        }
        let r = self.request("POST", &format!("/v2/{repo}/blobs/uploads/"), &h, b"");
        assert_eq!(
            r.status,
            202,
            "POST blob upload for {repo}: {} {}",
            r.status,
            r.text()
        );
        let loc = r.header("location").expect("upload Location").to_string();
        let loc = if loc.starts_with('/') {
            format!("{}{loc}", self.url())
        } else {
            loc
        };
        let sep = if loc.contains('?') { '&' } else { '?' };
        let put_url = format!("{loc}{sep}digest={}", http1::percent_encode(&digest));
        let r = self.request(
            "PUT",
            &put_url,
            &[
                ("Authorization", auth.as_str()),
                ("Content-Type", "application/octet-stream"),
            ],
            bytes,
        );
        assert_eq!(
            r.status,
            201,
            "PUT blob {digest} to {repo}: {} {}",
            r.status,
            r.text()
        );
        digest
    }

    /// PUT a manifest (tag or digest reference); returns the registry's digest.
    pub fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> String {
        let auth = self.push_auth(repo);
        let r = self.request(
            "PUT",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[
                ("Authorization", auth.as_str()),
                ("Content-Type", media_type),
            ],
            bytes,
        );
        assert_eq!(
            r.status,
            201,
            "PUT manifest {repo}:{reference}: {} {}",
            r.status,
            r.text()
        );
        let digest = r
            .header("docker-content-digest")
            .expect("Docker-Content-Digest")
            .to_string();
        assert_eq!(
            digest,
            sha256_digest(bytes),
            "registry digest differs from the pushed bytes"
        );
        digest
    }

    /// Build and push a one-layer linux/amd64 OCI image; returns the manifest digest.
    pub fn push_image(&self, repo: &str, tag: &str) -> String {
        self.push_image_with(repo, tag, &ImageSpec::default())
            .digest
    }

    /// Build and push an image as described; returns what was pushed.
    pub fn push_image_with(&self, repo: &str, tag: &str, spec: &ImageSpec) -> BuiltImage {
        let img = oci::build_image(
            spec,
            &format!("{repo}:{tag} {}/{}", spec.os, spec.architecture),
        );
        self.push_built(repo, Some(tag), &img);
        img
    }

    fn push_built(&self, repo: &str, tag: Option<&str>, img: &BuiltImage) {
        for (_, blob) in &img.blobs {
            self.push_blob(repo, blob);
        }
        self.push_manifest(
            repo,
            tag.unwrap_or(&img.digest),
            img.media_type,
            &img.manifest,
        );
    }

    /// Push one image per (os, arch) (by digest) and an OCI index listing
    /// them under `tag`; returns the index digest. `arch` may be `arm/v7`.
    pub fn push_index(&self, repo: &str, tag: &str, platforms: &[(&str, &str)]) -> String {
        let images: Vec<BuiltImage> = platforms
            .iter()
            .map(|(os, arch)| {
                let spec = ImageSpec {
                    os: os.to_string(),
                    architecture: arch.to_string(),
                    ..Default::default()
                };
                let img = oci::build_image(&spec, &format!("{repo}:{tag} {os}/{arch}"));
                self.push_built(repo, None, &img);
                img
            })
            .collect();
        let index = oci::build_index(&images);
        self.push_manifest(repo, tag, OCI_INDEX, &index)
    }

    /// Delete a manifest by digest (all tags pointing at it disappear).
    pub fn delete_manifest(&self, repo: &str, digest: &str) {
        let auth = self.push_auth(repo);
        let r = self.request(
            "DELETE",
            &format!("/v2/{repo}/manifests/{digest}"),
            &[("Authorization", auth.as_str())],
            b"",
        );
        assert_eq!(
            r.status,
            202,
            "DELETE {repo}@{digest}: {} {}",
            r.status,
            r.text()
        );
    }
}

impl Drop for RegistryHarness {
    fn drop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.stop();
        }
        self.token_core.stop();
        // `dir` (TempDir) is removed when the fields drop.
    }
}
