//! `/metrics`, `/health` and `/ready` over HTTP/1.1 on `http.listener`.
//!
//! A plain std thread, off the shard executors, so a scrape never runs on a
//! reactor: it reads the shards' atomics and renders the text itself. One
//! connection at a time with I/O timeouts and a bounded request head; every
//! answer closes the connection.

use super::{prometheus, Registry};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// Largest request head read (request line and headers).
pub const HTTP_REQUEST_HEAD_BYTES_MAX: usize = 8 * 1024;
/// Read and write timeout of one HTTP connection.
pub const HTTP_IO_TIMEOUT_MS: u64 = 2_000;
/// Pause after a failed accept (EMFILE and friends) before the next one.
const ACCEPT_RETRY_DELAY_MS: u64 = 50;

/// One HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status line text after the version, e.g. `200 OK`.
    pub status: &'static str,
    /// Content-Type header.
    pub content_type: &'static str,
    /// Body.
    pub body: String,
}

impl Response {
    fn text(status: &'static str, body: &str) -> Self {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: format!("{body}\n"),
        }
    }
}

/// Binds `address` (`host:port`) and serves it on a thread of its own.
pub fn start(address: &str, registry: Arc<Registry>) -> Result<(), String> {
    let listener = TcpListener::bind(address)
        .map_err(|e| format!("cannot listen on {address} (config key http.listener): {e}"))?;
    std::thread::Builder::new()
        .name("millrace-http".into())
        .spawn(move || serve_forever(listener, registry))
        .map(|_| ())
        .map_err(|e| format!("cannot start the HTTP thread: {e}"))
}

fn serve_forever(listener: TcpListener, registry: Arc<Registry>) {
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                if let Err(e) = serve_one(stream, &registry) {
                    log::debug!("http: connection failed: {e}");
                }
            }
            Err(e) => {
                log::warn!("http: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(ACCEPT_RETRY_DELAY_MS));
            }
        }
    }
}

fn serve_one(mut stream: TcpStream, registry: &Registry) -> std::io::Result<()> {
    let timeout = Some(Duration::from_millis(HTTP_IO_TIMEOUT_MS));
    stream.set_read_timeout(timeout)?;
    stream.set_write_timeout(timeout)?;
    let response = match read_head(&mut stream)? {
        Some(head) => match parse_request_line(&head) {
            Some((method, target)) => route(method, target, registry),
            None => Response::text("400 Bad Request", "bad request line"),
        },
        None => Response::text(
            "431 Request Header Fields Too Large",
            "request head too large",
        ),
    };
    let mut out = format!(
        "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        response.status,
        response.content_type,
        response.body.len()
    );
    out.push_str(&response.body);
    stream.write_all(out.as_bytes())?;
    stream.flush()
}

/// Reads up to the blank line ending the head; `None` if it is too large.
fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() >= HTTP_REQUEST_HEAD_BYTES_MAX {
            return Ok(None);
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    Ok(Some(String::from_utf8_lossy(&head).into_owned()))
}

/// `GET /metrics HTTP/1.1` -> (`GET`, `/metrics`).
fn parse_request_line(head: &str) -> Option<(&str, &str)> {
    let line = head.lines().next()?;
    let mut parts = line.split(' ');
    let method = parts.next()?;
    let target = parts.next()?;
    let version = parts.next()?;
    version.starts_with("HTTP/1.").then_some((method, target))
}

/// The answer to `method target` (the query string is ignored).
pub fn route(method: &str, target: &str, registry: &Registry) -> Response {
    if method != "GET" {
        return Response::text("405 Method Not Allowed", "only GET is served");
    }
    let path = target.split('?').next().unwrap_or_default();
    match path {
        "/metrics" => Response {
            status: "200 OK",
            content_type: prometheus::CONTENT_TYPE,
            body: prometheus::render(registry),
        },
        "/health" => Response::text("200 OK", "ok"),
        "/ready" if registry.is_ready() => Response::text("200 OK", "ready"),
        "/ready" => Response::text("503 Service Unavailable", "not ready"),
        _ => Response::text("404 Not Found", "not found: try /metrics, /health, /ready"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_answer_by_path_and_readiness() {
        let registry = Registry::new(1);
        assert_eq!(route("GET", "/health", &registry).status, "200 OK");
        assert_eq!(
            route("GET", "/ready", &registry).status,
            "503 Service Unavailable"
        );
        registry.set_ready();
        assert_eq!(route("GET", "/ready?verbose", &registry).status, "200 OK");
        let metrics = route("GET", "/metrics", &registry);
        assert_eq!(metrics.content_type, prometheus::CONTENT_TYPE);
        assert!(metrics
            .body
            .contains("# TYPE millrace_requests_total counter"));
        assert_eq!(
            route("POST", "/metrics", &registry).status,
            "405 Method Not Allowed"
        );
        assert_eq!(route("GET", "/nope", &registry).status, "404 Not Found");
    }

    #[test]
    fn request_lines_need_a_method_target_and_http1_version() {
        assert_eq!(
            parse_request_line("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some(("GET", "/metrics"))
        );
        assert_eq!(parse_request_line("GET /metrics\r\n\r\n"), None);
        assert_eq!(parse_request_line("GET / SPDY/3\r\n\r\n"), None);
    }

    #[test]
    fn a_real_socket_gets_metrics_and_a_closed_connection() {
        let registry = Registry::new(1);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || serve_forever(listener, registry));
        let mut client = TcpStream::connect(address).unwrap();
        client
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        client.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(answer.contains("millrace_build_info{version="));
    }
}
