//! Minimal HTTP/1.1 plumbing shared by the token service, the fault proxy and
//! the harness's own client: message heads, body framing (Content-Length,
//! chunked, until-close), a tiny threaded server core with clean shutdown, and a
//! one-request-per-connection client (plain or rustls with the harness CA).

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::tls::client_tls_config;

const MAX_HEAD: usize = 64 * 1024;
pub const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// Anything a connection handler can talk HTTP over.
pub trait Io: Read + Write + Send {}
impl<T: Read + Write + Send> Io for T {}

/// A request or response head: the first line and the header fields in order.
#[derive(Clone, Debug, Default)]
pub struct Head {
    pub line: String,
    pub headers: Vec<(String, String)>,
}

impl Head {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn remove(&mut self, name: &str) {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    }
    pub fn set(&mut self, name: &str, value: &str) {
        self.remove(name);
        self.headers.push((name.to_string(), value.to_string()));
    }
    /// Request method (first word of a request line).
    pub fn method(&self) -> &str {
        self.line.split(' ').next().unwrap_or("")
    }
    /// Request target (second word of a request line).
    pub fn target(&self) -> &str {
        self.line.split(' ').nth(1).unwrap_or("")
    }
    /// HTTP version of a request line (third word) or status line (first word).
    pub fn version(&self) -> &str {
        if self.line.starts_with("HTTP/") {
            self.line.split(' ').next().unwrap_or("")
        } else {
            self.line.split(' ').nth(2).unwrap_or("")
        }
    }
    /// Status code of a status line.
    pub fn status(&self) -> u16 {
        self.line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }
    /// True if the sender asked to close the connection after this message.
    pub fn wants_close(&self) -> bool {
        let conn = self.get("connection").unwrap_or("").to_ascii_lowercase();
        let tokens: Vec<&str> = conn.split(',').map(str::trim).collect();
        if tokens.contains(&"close") {
            return true;
        }
        self.version() == "HTTP/1.0" && !tokens.contains(&"keep-alive")
    }
    pub fn write_to<W: Write + ?Sized>(&self, w: &mut W) -> io::Result<()> {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(self.line.as_bytes());
        buf.extend_from_slice(b"\r\n");
        for (k, v) in &self.headers {
            buf.extend_from_slice(k.as_bytes());
            buf.extend_from_slice(b": ");
            buf.extend_from_slice(v.as_bytes());
            buf.extend_from_slice(b"\r\n");
        }
        buf.extend_from_slice(b"\r\n");
        w.write_all(&buf)
    }
}

fn read_line<R: BufRead + ?Sized>(r: &mut R, budget: &mut usize) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    let n = r.take(*budget as u64 + 1).read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if n > *budget {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "HTTP head too large",
        ));
    }
    *budget -= n;
    if !line.ends_with(b"\n") {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "EOF inside HTTP head",
        ));
    }
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    String::from_utf8(line)
        .map(Some)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "non-UTF-8 HTTP head"))
}

/// Read one message head. `Ok(None)` on a clean EOF before the first byte.
pub fn read_head<R: BufRead + ?Sized>(r: &mut R) -> io::Result<Option<Head>> {
    let mut budget = MAX_HEAD;
    let first = loop {
        match read_line(r, &mut budget) {
            Ok(None) => return Ok(None),
            Ok(Some(l)) if l.is_empty() => continue, // stray CRLF between messages
            Ok(Some(l)) => break l,
            Err(e) => return Err(e),
        }
    };
    let mut head = Head {
        line: first,
        headers: Vec::new(),
    };
    loop {
        let line = read_line(r, &mut budget)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "EOF inside HTTP head"))?;
        if line.is_empty() {
            return Ok(Some(head));
        }
        let (k, v) = line.split_once(':').ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad header line {line:?}"),
            )
        })?;
        head.headers
            .push((k.trim().to_string(), v.trim().to_string()));
    }
}

/// How a message body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

fn is_chunked(head: &Head) -> bool {
    head.get("transfer-encoding")
        .map(|v| v.to_ascii_lowercase().contains("chunked"))
        .unwrap_or(false)
}

pub fn request_body(head: &Head) -> Body {
    if is_chunked(head) {
        Body::Chunked
    } else if let Some(n) = head.get("content-length").and_then(|v| v.parse().ok()) {
        if n == 0 {
            Body::None
        } else {
            Body::Length(n)
        }
    } else {
        Body::None
    }
}

pub fn response_body(head: &Head, request_method: &str) -> Body {
    let status = head.status();
    if request_method.eq_ignore_ascii_case("HEAD")
        || (100..200).contains(&status)
        || status == 204
        || status == 304
    {
        Body::None
    } else if is_chunked(head) {
        Body::Chunked
    } else if let Some(n) = head.get("content-length").and_then(|v| v.parse().ok()) {
        if n == 0 {
            Body::None
        } else {
            Body::Length(n)
        }
    } else {
        Body::UntilClose
    }
}

fn copy_exact<R: Read + ?Sized, W: Write + ?Sized>(r: &mut R, w: &mut W, n: u64) -> io::Result<()> {
    let copied = io::copy(&mut r.take(n), w)?;
    if copied != n {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "body shorter than announced",
        ));
    }
    Ok(())
}

/// Copy a body verbatim (chunk framing included) from `r` to `w`.
pub fn copy_body<R: BufRead + ?Sized, W: Write + ?Sized>(
    r: &mut R,
    w: &mut W,
    body: Body,
) -> io::Result<()> {
    match body {
        Body::None => Ok(()),
        Body::Length(n) => copy_exact(r, w, n),
        Body::UntilClose => {
            let mut buf = [0u8; 16 * 1024];
            loop {
                match r.read(&mut buf) {
                    Ok(0) => return Ok(()),
                    Ok(n) => w.write_all(&buf[..n])?,
                    // rustls reports a peer that closed without close_notify this way.
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                    Err(e) => return Err(e),
                }
            }
        }
        Body::Chunked => loop {
            let mut budget = MAX_HEAD;
            let line = read_line(r, &mut budget)?.ok_or_else(|| {
                io::Error::new(io::ErrorKind::UnexpectedEof, "EOF in chunked body")
            })?;
            w.write_all(line.as_bytes())?;
            w.write_all(b"\r\n")?;
            let size_hex = line.split(';').next().unwrap_or("").trim();
            let size = u64::from_str_radix(size_hex, 16).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad chunk size {line:?}"),
                )
            })?;
            if size == 0 {
                loop {
                    let t = read_line(r, &mut budget)?.unwrap_or_default();
                    w.write_all(t.as_bytes())?;
                    w.write_all(b"\r\n")?;
                    if t.is_empty() {
                        return Ok(());
                    }
                }
            }
            copy_exact(r, w, size + 2)?;
        },
    }
}

/// Read a body, decoding chunked framing.
pub fn read_body<R: BufRead + ?Sized>(r: &mut R, body: Body) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    match body {
        Body::Chunked => loop {
            let mut budget = MAX_HEAD;
            let line = read_line(r, &mut budget)?.ok_or_else(|| {
                io::Error::new(io::ErrorKind::UnexpectedEof, "EOF in chunked body")
            })?;
            let size = u64::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            if size == 0 {
                while read_line(r, &mut budget)?.is_some_and(|t| !t.is_empty()) {}
                return Ok(out);
            }
            copy_exact(r, &mut out, size)?;
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf)?;
        },
        other => {
            copy_body(r, &mut out, other)?;
            Ok(out)
        }
    }
}

/// Write a complete response with a Content-Length body (no body bytes for HEAD).
pub fn write_response<W: Write + ?Sized>(
    w: &mut W,
    status: u16,
    headers: &[(&str, String)],
    body: &[u8],
    head_only: bool,
    close: bool,
) -> io::Result<()> {
    let mut head = Head {
        line: format!("HTTP/1.1 {status} {}", reason(status)),
        headers: Vec::new(),
    };
    for (k, v) in headers {
        head.headers.push((k.to_string(), v.clone()));
    }
    head.set("Content-Length", &body.len().to_string());
    if close {
        head.set("Connection", "close");
    }
    head.write_to(w)?;
    if !head_only {
        w.write_all(body)?;
    }
    w.flush()
}

pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// Percent-decode a query component (`+` is a space, as in form encoding).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len()
                && b[i + 1].is_ascii_hexdigit()
                && b[i + 2].is_ascii_hexdigit() =>
            {
                let hex = |c: u8| (c as char).to_digit(16).unwrap() as u8;
                out.push(hex(b[i + 1]) * 16 + hex(b[i + 2]));
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encode a query component (unreserved characters kept).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for &c in s.as_bytes() {
        if c.is_ascii_alphanumeric() || b"-._~".contains(&c) {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// `path?a=1&b=2` -> ("path", [("a","1"),("b","2")]) with values decoded.
pub fn split_target(target: &str) -> (String, Vec<(String, String)>) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let params = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    (path.to_string(), params)
}

// ---------------------------------------------------------------------------
// Server core: accept loop + one thread per connection, all stoppable.

/// Cooperative stop signal handed to connection handlers.
#[derive(Clone, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    pub fn stopped(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
    /// Sleep up to `d`; returns false (early) if the server is stopping.
    pub fn sleep(&self, d: Duration) -> bool {
        let end = Instant::now() + d;
        while Instant::now() < end {
            if self.stopped() {
                return false;
            }
            std::thread::sleep((end - Instant::now()).min(Duration::from_millis(10)));
        }
        !self.stopped()
    }
}

/// Streams registered here are shut down when the server stops, unblocking
/// handler threads that sit in `read`.
#[derive(Clone, Default)]
pub struct Tracker {
    next: Arc<AtomicU64>,
    streams: Arc<Mutex<HashMap<u64, TcpStream>>>,
}

impl Tracker {
    pub fn track(&self, s: &TcpStream) -> u64 {
        let id = self.next.fetch_add(1, Ordering::SeqCst);
        if let Ok(c) = s.try_clone() {
            self.streams.lock().unwrap().insert(id, c);
        }
        id
    }
    pub fn untrack(&self, id: u64) {
        self.streams.lock().unwrap().remove(&id);
    }
    fn shutdown_all(&self) {
        for (_, s) in self.streams.lock().unwrap().drain() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

pub type ConnHandler = Arc<dyn Fn(TcpStream, &StopFlag, &Tracker) + Send + Sync>;

pub struct ServerCore {
    addr: SocketAddr,
    stop: StopFlag,
    tracker: Tracker,
    accept: Option<JoinHandle<()>>,
    workers: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl ServerCore {
    /// Bind 127.0.0.1:0 and serve every connection on its own thread.
    pub fn start(name: &str, handler: ConnHandler) -> ServerCore {
        Self::start_on(name, std::net::Ipv4Addr::LOCALHOST.into(), handler)
    }

    /// Bind `ip`:0 (a loopback address) and serve every connection on its own thread.
    pub fn start_on(name: &str, ip: std::net::IpAddr, handler: ConnHandler) -> ServerCore {
        let listener = TcpListener::bind((ip, 0)).unwrap_or_else(|e| panic!("bind {ip}:0: {e}"));
        let addr = listener.local_addr().unwrap();
        let stop = StopFlag::default();
        let tracker = Tracker::default();
        let workers: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (stop2, tracker2, workers2) = (stop.clone(), tracker.clone(), workers.clone());
        let tname = name.to_string();
        let accept = std::thread::Builder::new()
            .name(format!("{name}-accept"))
            .spawn(move || {
                for conn in listener.incoming() {
                    if stop2.stopped() {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let _ = conn.set_nodelay(true);
                    let _ = conn.set_read_timeout(Some(IO_TIMEOUT));
                    let _ = conn.set_write_timeout(Some(IO_TIMEOUT));
                    let (h, s, t) = (handler.clone(), stop2.clone(), tracker2.clone());
                    let worker = std::thread::Builder::new()
                        .name(format!("{tname}-conn"))
                        .spawn(move || {
                            let id = t.track(&conn);
                            h(conn, &s, &t);
                            t.untrack(id);
                        })
                        .expect("spawn connection thread");
                    let mut ws = workers2.lock().unwrap();
                    ws.retain(|w| !w.is_finished());
                    ws.push(worker);
                }
            })
            .expect("spawn accept thread");
        ServerCore {
            addr,
            stop,
            tracker,
            accept: Some(accept),
            workers,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stop(&mut self) {
        if self.accept.is_none() {
            return;
        }
        self.stop.0.store(true, Ordering::SeqCst);
        // Wake the blocking accept().
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(a) = self.accept.take() {
            let _ = a.join();
        }
        self.tracker.shutdown_all();
        let workers: Vec<_> = self.workers.lock().unwrap().drain(..).collect();
        for w in workers {
            let _ = w.join();
        }
    }
}

impl Drop for ServerCore {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------
// Client: one request per connection (`Connection: close`).

#[derive(Clone, Debug)]
pub struct Url {
    pub https: bool,
    pub host: String,
    pub port: u16,
    pub path_and_query: String,
}

impl Url {
    pub fn parse(s: &str) -> Url {
        let (https, rest) = if let Some(r) = s.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = s.strip_prefix("http://") {
            (false, r)
        } else {
            panic!("unsupported URL {s:?}")
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().expect("port")),
            None => (authority.to_string(), if https { 443 } else { 80 }),
        };
        Url {
            https,
            host,
            port,
            path_and_query: path.to_string(),
        }
    }
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// A fully read HTTP response.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// First value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("response body is not JSON ({e}): {}", self.text()))
    }
}

/// Send one request and read the whole response. `tls` is required for https URLs.
pub fn send(
    tls: Option<&Arc<rustls::ClientConfig>>,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Response> {
    let u = Url::parse(url);
    let tcp = TcpStream::connect(u.authority())?;
    tcp.set_read_timeout(Some(IO_TIMEOUT))?;
    tcp.set_write_timeout(Some(IO_TIMEOUT))?;
    let _ = tcp.set_nodelay(true);
    let mut stream: Box<dyn Io> = if u.https {
        let cfg =
            tls.ok_or_else(|| io::Error::other(format!("https URL {url} but no TLS config")))?;
        let name = rustls::pki_types::ServerName::try_from(u.host.clone())
            .map_err(|e| io::Error::other(format!("server name {}: {e}", u.host)))?;
        let conn = rustls::ClientConnection::new(cfg.clone(), name).map_err(io::Error::other)?;
        Box::new(rustls::StreamOwned::new(conn, tcp))
    } else {
        Box::new(tcp)
    };
    let mut head = Head {
        line: format!("{method} {} HTTP/1.1", u.path_and_query),
        headers: Vec::new(),
    };
    head.headers.push(("Host".into(), u.authority()));
    for (k, v) in headers {
        head.headers.push((k.to_string(), v.to_string()));
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        head.set("Content-Length", &body.len().to_string());
    }
    head.set("Connection", "close");
    head.write_to(&mut stream)?;
    stream.write_all(body)?;
    stream.flush()?;
    let mut r = BufReader::new(stream);
    let resp_head = read_head(&mut r)?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed before response",
        )
    })?;
    let kind = response_body(&resp_head, method);
    let body = read_body(&mut r, kind)?;
    Ok(Response {
        status: resp_head.status(),
        headers: resp_head.headers,
        body,
    })
}

/// A small blocking HTTP/1.1 client (no runtime: safe inside `#[tokio::test]`).
/// One connection per request; no redirects, no proxies from the environment.
#[derive(Clone, Default)]
pub struct Client {
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Client {
    /// http:// only.
    pub fn plain() -> Client {
        Client { tls: None }
    }
    /// http:// and https:// trusting exactly this CA.
    pub fn with_ca_pem(ca_pem: &str) -> Client {
        Client {
            tls: Some(client_tls_config(ca_pem)),
        }
    }
    pub fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        send(self.tls.as_ref(), method, url, headers, body)
    }
}
