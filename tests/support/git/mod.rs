//! Real git for the tests: bare remotes and clones made with the git CLI, and a small
//! HTTP(S) server that runs `git http-backend` (CGI, from the git package) behind Basic
//! auth, so pushes with a token are exercised for real. It records every `Authorization`
//! header it receives, so a test can assert where a token never arrived.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::serve::{Handler, HttpService, Reply, Request};

pub const AUTHOR: (&str, &str) = ("Test Author", "author@example.com");

/// Run the git CLI in `dir` with a clean, deterministic environment; panics on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_cmd(dir).args(args).output().expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} in {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

pub fn git_cmd(dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", AUTHOR.0)
        .env("GIT_AUTHOR_EMAIL", AUTHOR.1)
        .env("GIT_COMMITTER_NAME", AUTHOR.0)
        .env("GIT_COMMITTER_EMAIL", AUTHOR.1)
        .env("GIT_TERMINAL_PROMPT", "0");
    c
}

/// A bare repository on branch `main` that logs every ref update and refuses
/// non-fast-forward pushes.
pub fn bare_remote(path: &Path) -> PathBuf {
    std::fs::create_dir_all(path).unwrap();
    git(path, &["init", "--bare", "--quiet", "-b", "main"]);
    git(path, &["config", "core.logAllRefUpdates", "always"]);
    git(path, &["config", "receive.denyNonFastForwards", "true"]);
    git(path, &["config", "receive.denyDeletes", "true"]);
    git(path, &["config", "http.receivepack", "true"]);
    path.to_path_buf()
}

/// Write files, commit them and push to the remote's `main` (via a scratch clone).
pub fn seed(remote: &Path, scratch: &Path, files: &[(String, String)]) {
    clone(remote, scratch);
    for (name, text) in files {
        write(scratch, name, text);
    }
    git(scratch, &["add", "-A"]);
    git(scratch, &["commit", "--quiet", "-m", "seed"]);
    git(scratch, &["push", "--quiet", "origin", "main"]);
}

pub fn clone(remote: &Path, dir: &Path) {
    let parent = dir.parent().unwrap();
    std::fs::create_dir_all(parent).unwrap();
    git(
        parent,
        &[
            "clone",
            "--quiet",
            remote.to_str().unwrap(),
            dir.to_str().unwrap(),
        ],
    );
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    p
}

pub fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

/// The file as committed on `rev` in a (bare or not) repository.
pub fn show(repo: &Path, rev: &str, name: &str) -> String {
    git(repo, &["show", &format!("{rev}:{name}")])
}

pub fn rev(repo: &Path, rev: &str) -> String {
    git(repo, &["rev-parse", rev])
}

/// Standard base64 (for the Basic auth header the test server expects).
pub fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Smart HTTP git over loopback: `git http-backend` behind Basic auth with user
/// `x-access-token` and one token. Stops when dropped.
pub struct GitHttpServer {
    pub port: u16,
    server: HttpService,
    /// Requests answered 401.
    pub unauthorized: Arc<AtomicUsize>,
    /// Requests handed to git http-backend.
    pub served: Arc<AtomicUsize>,
    /// Every `Authorization` header value received, in order.
    pub authorizations: Arc<Mutex<Vec<String>>>,
    scheme: &'static str,
}

impl GitHttpServer {
    /// Serve the repositories under `root` (each `NAME.git` at `/NAME.git`) over HTTP.
    pub fn start(root: &Path, token: &str) -> Self {
        Self::start_with(root, token, None)
    }

    /// Serve them over plain HTTP to anyone, as a git server with anonymous push does:
    /// no credentials asked, `git http-backend` without `REMOTE_USER`, so a repository
    /// takes pushes only with `http.receivepack true` in its config.
    pub fn start_anonymous(root: &Path) -> Self {
        Self::start_with(root, "", None)
    }

    /// The same over HTTPS with this server configuration (certificate of a test CA).
    pub fn start_tls(root: &Path, token: &str, tls: Arc<rustls::ServerConfig>) -> Self {
        Self::start_with(root, token, Some(tls))
    }

    /// Whether any request carried `token` (in whatever Basic user:password it came).
    pub fn saw_token(&self, token: &str) -> bool {
        self.authorizations
            .lock()
            .unwrap()
            .iter()
            .any(|a| a.contains(token) || decoded_basic(a).contains(token))
    }

    fn start_with(root: &Path, token: &str, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        // An empty token: no Authorization asked for (`start_anonymous`).
        let expected = if token.is_empty() {
            String::new()
        } else {
            format!(
                "Basic {}",
                base64(format!("x-access-token:{token}").as_bytes())
            )
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let handler = GitBackend {
            root: root.to_path_buf(),
            expected,
            unauthorized: Arc::default(),
            served: Arc::default(),
            authorizations: Arc::default(),
        };
        let (unauthorized, served, authorizations) = (
            handler.unauthorized.clone(),
            handler.served.clone(),
            handler.authorizations.clone(),
        );
        let server = HttpService::start("git-http", tls, |_| handler);
        GitHttpServer {
            port: server.addr().port(),
            server,
            unauthorized,
            served,
            authorizations,
            scheme,
        }
    }

    pub fn url(&self, repo: &str) -> String {
        format!("{}://127.0.0.1:{}/{repo}", self.scheme, self.port)
    }

    /// `127.0.0.1:PORT`, as `--git-token-host` names it.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

fn http_backend() -> PathBuf {
    let out = Command::new("git").arg("--exec-path").output().unwrap();
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("git-http-backend")
}

/// The `user:password` of a Basic header (empty when it is not one).
fn decoded_basic(header: &str) -> String {
    let Some(b64) = header.strip_prefix("Basic ") else {
        return String::new();
    };
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in b64.trim().bytes().take_while(|c| *c != b'=') {
        let Some(v) = T.iter().position(|t| *t == c) else {
            return String::new();
        };
        bits = (bits << 6) | v as u32;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `git http-backend` behind Basic auth: what the server saw is shared with the test.
struct GitBackend {
    root: PathBuf,
    /// The `Authorization` value accepted; empty: none asked for.
    expected: String,
    unauthorized: Arc<AtomicUsize>,
    served: Arc<AtomicUsize>,
    authorizations: Arc<Mutex<Vec<String>>>,
}

impl Handler for GitBackend {
    /// Every `Authorization` is recorded; a wrong one is refused before the body is read.
    fn early(&self, req: &Request) -> Option<Reply> {
        let auth = req.header("authorization");
        if let Some(a) = auth {
            self.authorizations.lock().unwrap().push(a.to_string());
        }
        if self.expected.is_empty() || auth == Some(self.expected.as_str()) {
            return None;
        }
        self.unauthorized.fetch_add(1, Ordering::SeqCst);
        Some(Reply::new(401).header("WWW-Authenticate", "Basic realm=\"git\""))
    }

    fn answer(&self, req: &Request) -> Reply {
        match self.cgi(req) {
            Ok(reply) => reply,
            Err(e) => Reply::new(500).body(e.to_string()).closing(),
        }
    }
}

impl GitBackend {
    /// Run `git http-backend` as a CGI for one request.
    fn cgi(&self, req: &Request) -> std::io::Result<Reply> {
        let mut cgi = Command::new(http_backend());
        cgi.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("GIT_PROJECT_ROOT", &self.root)
            .env("GIT_HTTP_EXPORT_ALL", "1")
            .env("REQUEST_METHOD", &req.method)
            .env("PATH_INFO", req.path())
            .env("QUERY_STRING", req.raw_query())
            .env("CONTENT_LENGTH", req.body.len().to_string())
            .env("REMOTE_ADDR", "127.0.0.1")
            .env("GATEWAY_INTERFACE", "CGI/1.1")
            .env("SERVER_PROTOCOL", "HTTP/1.1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if !self.expected.is_empty() {
            cgi.env("REMOTE_USER", "x-access-token");
        }
        for (header, var) in [
            ("content-type", "CONTENT_TYPE"),
            ("git-protocol", "HTTP_GIT_PROTOCOL"),
            ("content-encoding", "HTTP_CONTENT_ENCODING"),
        ] {
            if let Some(v) = req.header(header) {
                cgi.env(var, v);
            }
        }
        let mut child = cgi.spawn()?;
        let mut stdin = child.stdin.take().unwrap();
        let body = req.body.clone();
        let feeder = std::thread::spawn(move || {
            let _ = stdin.write_all(&body);
        });
        let mut output = Vec::new();
        child.stdout.take().unwrap().read_to_end(&mut output)?;
        let _ = feeder.join();
        child.wait()?;
        self.served.fetch_add(1, Ordering::SeqCst);
        Ok(cgi_reply(&output))
    }
}

/// CGI output (headers, a blank line, the body) as an HTTP reply.
fn cgi_reply(output: &[u8]) -> Reply {
    let split = find(output, b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| find(output, b"\n\n").map(|i| (i, 2)));
    let (head, body) = match split {
        Some((i, n)) => (&output[..i], &output[i + n..]),
        None => (&output[..0], output),
    };
    let mut reply = Reply::new(200).body(body.to_vec());
    for h in String::from_utf8_lossy(head).lines() {
        match h.split_once(':') {
            Some((k, v)) if k.eq_ignore_ascii_case("status") => {
                reply.status = v
                    .trim()
                    .split(' ')
                    .next()
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(500)
            }
            Some((k, v)) => reply
                .headers
                .push((k.trim().to_string(), v.trim().to_string())),
            None => {}
        }
    }
    reply
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
