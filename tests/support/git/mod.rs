//! Real git for the tests: bare remotes and clones made with the git CLI, and a small
//! HTTP(S) server that runs `git http-backend` (CGI, from the git package) behind Basic
//! auth, so pushes with a token are exercised for real. It records every `Authorization`
//! header it receives, so a test can assert where a token never arrived.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

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
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
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
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let unauthorized = Arc::new(AtomicUsize::new(0));
        let served = Arc::new(AtomicUsize::new(0));
        let expected = format!(
            "Basic {}",
            base64(format!("x-access-token:{token}").as_bytes())
        );
        let root = root.to_path_buf();
        let authorizations: Arc<Mutex<Vec<String>>> = Arc::default();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let auths2 = authorizations.clone();
        let (stop2, unauth2, served2) = (stop.clone(), unauthorized.clone(), served.clone());
        let thread = std::thread::spawn(move || {
            // Bounded: the server never outlives a test by more than this.
            let deadline = std::time::Instant::now() + Duration::from_secs(300);
            while !stop2.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (root, expected) = (root.clone(), expected.clone());
                        let (unauth, served) = (unauth2.clone(), served2.clone());
                        let (auths, tls) = (auths2.clone(), tls.clone());
                        std::thread::spawn(move || {
                            let seen = Seen {
                                unauthorized: &unauth,
                                served: &served,
                                authorizations: &auths,
                            };
                            let _ = stream.set_nonblocking(false);
                            let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
                            let _ = match tls.map(rustls::ServerConnection::new) {
                                Some(Ok(conn)) => handle(
                                    rustls::StreamOwned::new(conn, stream),
                                    &root,
                                    &expected,
                                    &seen,
                                ),
                                Some(Err(_)) => Ok(()),
                                None => handle(stream, &root, &expected, &seen),
                            };
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        GitHttpServer {
            port,
            stop,
            thread: Some(thread),
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

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn http_backend() -> PathBuf {
    let out = Command::new("git").arg("--exec-path").output().unwrap();
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("git-http-backend")
}

/// What the server saw, shared by its connections.
struct Seen<'a> {
    unauthorized: &'a AtomicUsize,
    served: &'a AtomicUsize,
    authorizations: &'a Mutex<Vec<String>>,
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

/// One connection: requests until the client closes (each answered with Content-Length).
fn handle<S: Read + Write>(
    stream: S,
    root: &Path,
    expected_auth: &str,
    seen: &Seen<'_>,
) -> std::io::Result<()> {
    let (unauthorized, served) = (seen.unauthorized, seen.served);
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let line = line.trim_end().to_string();
        if line.is_empty() {
            continue;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("/").to_string();
        let mut headers: Vec<(String, String)> = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 {
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let header = |k: &str| {
            headers
                .iter()
                .find(|(hk, _)| hk == k)
                .map(|(_, v)| v.clone())
        };
        if let Some(a) = header("authorization") {
            seen.authorizations.lock().unwrap().push(a);
        }
        let writer = reader.get_mut();
        if header("authorization").as_deref() != Some(expected_auth) {
            unauthorized.fetch_add(1, Ordering::SeqCst);
            writer.write_all(
                b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )?;
            writer.flush()?;
            return Ok(());
        }
        if header("expect").is_some_and(|e| e.eq_ignore_ascii_case("100-continue")) {
            writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
            writer.flush()?;
        }
        let body = if header("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
            read_chunked(&mut reader)?
        } else {
            let n: usize = header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let mut b = vec![0; n];
            reader.read_exact(&mut b)?;
            b
        };
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let mut cgi = Command::new(http_backend());
        cgi.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("GIT_PROJECT_ROOT", root)
            .env("GIT_HTTP_EXPORT_ALL", "1")
            .env("REQUEST_METHOD", &method)
            .env("PATH_INFO", path)
            .env("QUERY_STRING", query)
            .env("CONTENT_LENGTH", body.len().to_string())
            .env("REMOTE_USER", "x-access-token")
            .env("REMOTE_ADDR", "127.0.0.1")
            .env("GATEWAY_INTERFACE", "CGI/1.1")
            .env("SERVER_PROTOCOL", "HTTP/1.1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(ct) = header("content-type") {
            cgi.env("CONTENT_TYPE", ct);
        }
        if let Some(p) = header("git-protocol") {
            cgi.env("HTTP_GIT_PROTOCOL", p);
        }
        if let Some(e) = header("content-encoding") {
            cgi.env("HTTP_CONTENT_ENCODING", e);
        }
        let mut child = cgi.spawn()?;
        let mut stdin = child.stdin.take().unwrap();
        let feeder = std::thread::spawn(move || {
            let _ = stdin.write_all(&body);
        });
        let mut output = Vec::new();
        child.stdout.take().unwrap().read_to_end(&mut output)?;
        let _ = feeder.join();
        child.wait()?;
        served.fetch_add(1, Ordering::SeqCst);
        // CGI: headers, a blank line, the body.
        let split = find(&output, b"\r\n\r\n")
            .map(|i| (i, 4))
            .or_else(|| find(&output, b"\n\n").map(|i| (i, 2)));
        let (head, body) = match split {
            Some((i, n)) => (&output[..i], &output[i + n..]),
            None => (&output[..0], &output[..]),
        };
        let mut status = "200 OK".to_string();
        let mut out_headers = String::new();
        for h in String::from_utf8_lossy(head).lines() {
            match h.split_once(':') {
                Some((k, v)) if k.eq_ignore_ascii_case("status") => status = v.trim().to_string(),
                Some(_) => {
                    out_headers.push_str(h.trim_end());
                    out_headers.push_str("\r\n");
                }
                None => {}
            }
        }
        let writer = reader.get_mut();
        write!(
            writer,
            "HTTP/1.1 {status}\r\n{out_headers}Content-Length: {}\r\n\r\n",
            body.len()
        )?;
        writer.write_all(body)?;
        writer.flush()?;
    }
}

fn read_chunked(reader: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size)?;
        let n =
            usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
        if n == 0 {
            // Trailers until the blank line.
            loop {
                let mut t = String::new();
                if reader.read_line(&mut t)? == 0 || t.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + n, 0);
        reader.read_exact(&mut body[start..])?;
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf)?;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
