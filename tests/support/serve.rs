//! The one request/response HTTP/1.1 server of the tests, over [`ServerCore`]: the local
//! GitHub and Harbor services, the git smart-HTTP server and the small fakes of the
//! integration modules answer through it, so message framing (Content-Length and chunked
//! request bodies, `Expect: 100-continue`, keep-alive, `Connection: close`, HEAD), TLS and
//! a clean stop are written once. A handler sees a whole request and returns a whole reply.
//! (The fault proxy and the token service stream bodies and inject faults; they use
//! [`ServerCore`] and `http1`'s framing directly.)

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, OnceLock};

use super::http1::{self, Io, ServerCore, StopFlag};

/// One request, its body read in full.
#[derive(Clone, Debug, Default)]
pub struct Request {
    pub method: String,
    /// As sent: the path and the query.
    pub target: String,
    /// In the order received, names as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// First value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The path, without the query (still percent-encoded).
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The query string as sent (empty when there is none).
    pub fn raw_query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }

    /// The query pairs, decoded.
    pub fn query(&self) -> Vec<(String, String)> {
        http1::split_target(&self.target).1
    }
}

/// A whole answer; `Content-Length` is added, and no body goes out for HEAD.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Close the connection after this answer.
    pub close: bool,
}

impl Reply {
    pub fn new(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            close: false,
        }
    }

    /// `status` with a JSON body (`Content-Type: application/json`).
    pub fn json(status: u16, v: &serde_json::Value) -> Reply {
        Reply::new(status)
            .header("Content-Type", "application/json")
            .body(serde_json::to_vec(v).unwrap())
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Reply {
        self.body = body.into();
        self
    }

    /// Close the connection after this answer.
    pub fn closing(mut self) -> Reply {
        self.close = true;
        self
    }
}

/// What a service answers.
pub trait Handler: Send + Sync + 'static {
    /// Decide from the head alone, before the body is read (and before `100 Continue` is
    /// sent): `Some` is answered and the connection closed, as a server refusing
    /// credentials does. The request's body is empty here.
    fn early(&self, _req: &Request) -> Option<Reply> {
        None
    }

    /// The answer to a whole request.
    fn answer(&self, req: &Request) -> Reply;
}

impl<F: Fn(&Request) -> Reply + Send + Sync + 'static> Handler for F {
    fn answer(&self, req: &Request) -> Reply {
        self(req)
    }
}

/// A running service on 127.0.0.1 (a free port), plain HTTP or TLS; stops when dropped.
pub struct HttpService {
    core: ServerCore,
}

impl HttpService {
    /// Start serving; `make` builds the handler once the address is known (services whose
    /// answers name their own URL need it).
    pub fn start<H: Handler>(
        name: &str,
        tls: Option<Arc<rustls::ServerConfig>>,
        make: impl FnOnce(SocketAddr) -> H,
    ) -> HttpService {
        let cell: Arc<OnceLock<H>> = Arc::default();
        let served = cell.clone();
        let core = ServerCore::start(
            name,
            Arc::new(move |conn, stop, _tracker| {
                // Set before `start` returns, so before anyone knows where to connect.
                if let Some(handler) = served.get() {
                    serve_connection(conn, tls.as_ref(), handler, stop);
                }
            }),
        );
        let _ = cell.set(make(core.addr()));
        HttpService { core }
    }

    pub fn addr(&self) -> SocketAddr {
        self.core.addr()
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.core.addr().to_string()
    }

    /// Stop accepting, close every connection and wait for the handlers.
    pub fn stop(&mut self) {
        self.core.stop();
    }
}

/// Requests on one connection until the client closes it, asks to, or the service stops.
fn serve_connection<H: Handler>(
    conn: TcpStream,
    tls: Option<&Arc<rustls::ServerConfig>>,
    handler: &H,
    stop: &StopFlag,
) {
    let io: Box<dyn Io> = match tls {
        Some(cfg) => match rustls::ServerConnection::new(cfg.clone()) {
            Ok(sc) => Box::new(rustls::StreamOwned::new(sc, conn)),
            Err(_) => return,
        },
        None => Box::new(conn),
    };
    let mut rw = BufReader::new(io);
    while !stop.stopped() {
        let Ok(Some(head)) = http1::read_head(&mut rw) else {
            return;
        };
        let mut req = Request {
            method: head.method().to_string(),
            target: head.target().to_string(),
            headers: head.headers.clone(),
            body: Vec::new(),
        };
        if let Some(reply) = handler.early(&req) {
            let _ = write_reply(rw.get_mut(), &req, &reply.closing());
            return;
        }
        if head
            .get("expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
        {
            let w = rw.get_mut();
            if w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err() || w.flush().is_err() {
                return;
            }
        }
        let Ok(body) = http1::read_body(&mut rw, http1::request_body(&head)) else {
            return;
        };
        req.body = body;
        let mut reply = handler.answer(&req);
        reply.close |= head.wants_close();
        if write_reply(rw.get_mut(), &req, &reply).is_err() || reply.close {
            return;
        }
    }
}

fn write_reply(w: &mut Box<dyn Io>, req: &Request, reply: &Reply) -> std::io::Result<()> {
    let headers: Vec<(&str, String)> = reply
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    let head_only = req.method.eq_ignore_ascii_case("HEAD");
    http1::write_response(
        w,
        reply.status,
        &headers,
        &reply.body,
        head_only,
        reply.close,
    )
}
