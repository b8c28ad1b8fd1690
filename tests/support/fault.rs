//! Fault injection: a plan of faults (delay, 429 + Retry-After, 503, stall,
//! connection drop) shared between the test and a server, and `FaultProxy`, a
//! plain HTTP/1.1 proxy that applies the plan in front of an upstream.

use std::io::{BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::http1::{self, Body, Head, ServerCore, StopFlag, Tracker, IO_TIMEOUT};

/// What to do to the next requests. Counters count down as faults are applied.
/// Precedence when several counters are non-zero: reset, stall, 429, 503.
/// `delay` is added before every response (faulted or forwarded).
/// `only_path_containing` / `only_method` restrict faults (and delay) to
/// matching requests; others are forwarded untouched.
#[derive(Clone, Debug)]
pub struct FaultPlan {
    pub delay: Duration,
    /// Next K matching requests get `429 Too Many Requests` with `Retry-After: retry_after`.
    pub too_many_requests: u32,
    pub retry_after: String,
    /// Next K matching requests get `503 Service Unavailable`.
    pub unavailable: u32,
    /// Next K matching requests are read and then left unanswered for
    /// `stall_for` (default 30 s), after which the connection is closed.
    pub stall: u32,
    pub stall_for: Duration,
    /// Next K matching requests are read and the connection is closed without
    /// any response bytes.
    pub reset: u32,
    pub only_path_containing: Option<String>,
    pub only_method: Option<String>,
}

impl Default for FaultPlan {
    fn default() -> Self {
        FaultPlan {
            delay: Duration::ZERO,
            too_many_requests: 0,
            retry_after: "1".to_string(),
            unavailable: 0,
            stall: 0,
            stall_for: Duration::from_secs(30),
            reset: 0,
            only_path_containing: None,
            only_method: None,
        }
    }
}

/// The outcome the plan chose for one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Forward,
    Status {
        status: u16,
        retry_after: Option<String>,
    },
    Stall(Duration),
    Reset,
}

impl Decision {
    pub fn label(&self) -> Option<String> {
        match self {
            Decision::Forward => None,
            Decision::Status { status, .. } => Some(status.to_string()),
            Decision::Stall(_) => Some("stall".into()),
            Decision::Reset => Some("reset".into()),
        }
    }
}

impl FaultPlan {
    /// A fresh shareable empty plan.
    pub fn shared() -> Arc<Mutex<FaultPlan>> {
        Arc::new(Mutex::new(FaultPlan::default()))
    }

    /// Decide (and consume) the fault for one request: (delay, decision).
    pub fn decide(&mut self, method: &str, target: &str) -> (Duration, Decision) {
        if let Some(p) = &self.only_path_containing {
            if !target.contains(p.as_str()) {
                return (Duration::ZERO, Decision::Forward);
            }
        }
        if let Some(m) = &self.only_method {
            if !m.eq_ignore_ascii_case(method) {
                return (Duration::ZERO, Decision::Forward);
            }
        }
        let d = if self.reset > 0 {
            self.reset -= 1;
            Decision::Reset
        } else if self.stall > 0 {
            self.stall -= 1;
            Decision::Stall(self.stall_for)
        } else if self.too_many_requests > 0 {
            self.too_many_requests -= 1;
            Decision::Status {
                status: 429,
                retry_after: Some(self.retry_after.clone()),
            }
        } else if self.unavailable > 0 {
            self.unavailable -= 1;
            Decision::Status {
                status: 503,
                retry_after: None,
            }
        } else {
            Decision::Forward
        };
        (self.delay, d)
    }
}

/// Registry-style error body for an injected status.
pub fn fault_body(status: u16) -> Vec<u8> {
    let (code, msg) = match status {
        429 => (
            "TOOMANYREQUESTS",
            "too many requests (injected by the test harness)",
        ),
        503 => (
            "UNAVAILABLE",
            "service unavailable (injected by the test harness)",
        ),
        _ => ("UNKNOWN", "error injected by the test harness"),
    };
    serde_json::json!({"errors": [{"code": code, "message": msg, "detail": null}]})
        .to_string()
        .into_bytes()
}

/// Write an injected status response.
pub fn write_fault<W: Write + ?Sized>(
    w: &mut W,
    status: u16,
    retry_after: Option<&str>,
    head_only: bool,
    close: bool,
) -> std::io::Result<()> {
    let mut headers = vec![
        (
            "Content-Type",
            "application/json; charset=utf-8".to_string(),
        ),
        (
            "Docker-Distribution-Api-Version",
            "registry/2.0".to_string(),
        ),
    ];
    if let Some(ra) = retry_after {
        headers.push(("Retry-After", ra.to_string()));
    }
    http1::write_response(w, status, &headers, &fault_body(status), head_only, close)
}

/// One request seen by the proxy.
#[derive(Clone, Debug)]
pub struct ProxiedRequest {
    pub method: String,
    /// The request target as sent (path plus query).
    pub target: String,
    pub authorization: Option<String>,
    /// Status sent back to the client (None for stall/reset or a broken upstream).
    pub status: Option<u16>,
    /// "429", "503", "stall", "reset" when a fault was injected.
    pub fault: Option<String>,
    /// Index of the client connection it arrived on (0-based, in accept order).
    pub connection: usize,
}

#[derive(Default)]
struct ProxyState {
    log: Mutex<Vec<ProxiedRequest>>,
    connections: Mutex<usize>,
}

/// A plain-HTTP fault-injecting proxy on 127.0.0.1 in front of `upstream`.
/// Keep-alive from the client is supported; each forwarded request uses a
/// fresh upstream connection. The Host header is forwarded untouched, so the
/// upstream builds Location URLs that point back at the proxy.
pub struct FaultProxy {
    core: ServerCore,
    upstream: SocketAddr,
    faults: Arc<Mutex<FaultPlan>>,
    state: Arc<ProxyState>,
}

impl FaultProxy {
    pub fn start(upstream: SocketAddr, faults: Arc<Mutex<FaultPlan>>) -> FaultProxy {
        let state = Arc::new(ProxyState::default());
        let (st, fp) = (state.clone(), faults.clone());
        let core = ServerCore::start(
            "fault-proxy",
            Arc::new(move |conn: TcpStream, stop: &StopFlag, tracker: &Tracker| {
                serve_proxy_conn(conn, upstream, &fp, &st, stop, tracker)
            }),
        );
        FaultProxy {
            core,
            upstream,
            faults,
            state,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.core.addr()
    }
    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        self.core.addr().to_string()
    }
    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.core.addr())
    }
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }
    pub fn faults(&self) -> Arc<Mutex<FaultPlan>> {
        self.faults.clone()
    }
    /// Change the plan in place: `proxy.plan(|p| p.unavailable = 2)`.
    pub fn plan(&self, f: impl FnOnce(&mut FaultPlan)) {
        f(&mut self.faults.lock().unwrap())
    }
    /// (method, target) of every request received, in order.
    pub fn requests(&self) -> Vec<(String, String)> {
        self.state
            .log
            .lock()
            .unwrap()
            .iter()
            .map(|r| (r.method.clone(), r.target.clone()))
            .collect()
    }
    pub fn request_log(&self) -> Vec<ProxiedRequest> {
        self.state.log.lock().unwrap().clone()
    }
    /// Requests whose method matches and whose target contains `path_part`.
    pub fn count(&self, method: &str, path_part: &str) -> usize {
        self.state
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method) && r.target.contains(path_part))
            .count()
    }
    /// Every Authorization header value that passed through the proxy.
    pub fn authorization_headers(&self) -> Vec<String> {
        self.state
            .log
            .lock()
            .unwrap()
            .iter()
            .filter_map(|r| r.authorization.clone())
            .collect()
    }
    /// Number of client TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        *self.state.connections.lock().unwrap()
    }
    pub fn clear(&self) {
        self.state.log.lock().unwrap().clear();
        *self.state.connections.lock().unwrap() = 0;
    }
}

fn serve_proxy_conn(
    conn: TcpStream,
    upstream: SocketAddr,
    faults: &Mutex<FaultPlan>,
    state: &ProxyState,
    stop: &StopFlag,
    tracker: &Tracker,
) {
    let conn_index = {
        let mut c = state.connections.lock().unwrap();
        *c += 1;
        *c - 1
    };
    let Ok(mut out) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(conn);
    while let Ok(Some(mut head)) = http1::read_head(&mut reader) {
        let method = head.method().to_string();
        let target = head.target().to_string();
        let idx = {
            let mut log = state.log.lock().unwrap();
            log.push(ProxiedRequest {
                method: method.clone(),
                target: target.clone(),
                authorization: head.get("authorization").map(str::to_string),
                status: None,
                fault: None,
                connection: conn_index,
            });
            log.len() - 1
        };
        let set_status = |status: Option<u16>, fault: Option<String>| {
            let mut log = state.log.lock().unwrap();
            if let Some(r) = log.get_mut(idx) {
                r.status = status;
                r.fault = fault;
            }
        };
        let (delay, decision) = faults.lock().unwrap().decide(&method, &target);
        let client_close = head.wants_close();
        let head_only = method.eq_ignore_ascii_case("HEAD");
        let body_kind = http1::request_body(&head);
        if head
            .get("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
        {
            head.remove("expect");
            if decision == Decision::Forward
                && out.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err()
            {
                break;
            }
        }
        if !stop.sleep(delay) {
            break;
        }
        match decision {
            Decision::Reset => {
                set_status(None, decision.label());
                let _ = out.shutdown(Shutdown::Both);
                break;
            }
            Decision::Stall(d) => {
                set_status(None, decision.label());
                stop.sleep(d);
                let _ = out.shutdown(Shutdown::Both);
                break;
            }
            Decision::Status {
                status,
                ref retry_after,
            } => {
                set_status(Some(status), decision.label());
                // Drain the request body so the connection stays usable.
                if body_kind != Body::None
                    && http1::copy_body(&mut reader, &mut std::io::sink(), body_kind).is_err()
                {
                    break;
                }
                if write_fault(
                    &mut out,
                    status,
                    retry_after.as_deref(),
                    head_only,
                    client_close,
                )
                .is_err()
                    || client_close
                {
                    break;
                }
            }
            Decision::Forward => {
                match forward_one(
                    &mut reader,
                    &mut out,
                    head,
                    body_kind,
                    upstream,
                    tracker,
                    client_close,
                ) {
                    Ok((status, keep)) => {
                        set_status(Some(status), None);
                        if !keep {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        }
    }
}

/// Forward one request on a fresh upstream connection and stream the response
/// back. Returns (status, keep the client connection open).
fn forward_one(
    client_in: &mut BufReader<TcpStream>,
    client_out: &mut TcpStream,
    mut head: Head,
    body_kind: Body,
    upstream: SocketAddr,
    tracker: &Tracker,
    client_close: bool,
) -> std::io::Result<(u16, bool)> {
    let up = match TcpStream::connect_timeout(&upstream, Duration::from_secs(5)) {
        Ok(s) => s,
        Err(_) => {
            if body_kind != Body::None {
                http1::copy_body(client_in, &mut std::io::sink(), body_kind)?;
            }
            let head_only = head.method().eq_ignore_ascii_case("HEAD");
            http1::write_response(
                client_out,
                502,
                &[],
                b"upstream unreachable\n",
                head_only,
                client_close,
            )?;
            return Ok((502, !client_close));
        }
    };
    up.set_read_timeout(Some(IO_TIMEOUT))?;
    up.set_write_timeout(Some(IO_TIMEOUT))?;
    let _ = up.set_nodelay(true);
    let id = tracker.track(&up);
    let result = (|| {
        let mut up_w = up.try_clone()?;
        let method = head.method().to_string();
        head.remove("keep-alive");
        head.remove("proxy-connection");
        head.set("Connection", "close");
        head.write_to(&mut up_w)?;
        http1::copy_body(client_in, &mut up_w, body_kind)?;
        up_w.flush()?;
        let mut up_r = BufReader::new(up);
        let mut resp = http1::read_head(&mut up_r)?.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "upstream closed")
        })?;
        let kind = http1::response_body(&resp, &method);
        resp.remove("keep-alive");
        resp.remove("connection");
        let close = client_close || kind == Body::UntilClose;
        if close {
            resp.set("Connection", "close");
        }
        let status = resp.status();
        resp.write_to(client_out)?;
        http1::copy_body(&mut up_r, client_out, kind)?;
        client_out.flush()?;
        Ok((status, !close))
    })();
    tracker.untrack(id);
    result
}
