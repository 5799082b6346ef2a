//! Waiting on a condition with a deadline, and plain HTTP on loopback: the helpers every
//! crate's process-level tests share. The sidecar's tests include this file by path
//! (`sidecar/tests/common`) so that the sidecar does not build this crate's dependencies.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How often a condition is polled: other processes give nothing to wait on but their answers.
const POLL_EVERY: Duration = Duration::from_millis(50);

/// Polls `f` until it gives a value or `timeout` passes; `None` then. Use it instead of a fixed
/// sleep before an assertion: a slow machine waits longer, a fast one not at all.
pub fn wait_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(POLL_EVERY);
    }
}

/// [`wait_until`] that fails the test: panics with `what()` (evaluated only then, so it can
/// carry a process's log) when `f` gives nothing within `timeout`.
pub fn wait_for<T>(
    what: impl Fn() -> String,
    timeout: Duration,
    f: impl FnMut() -> Option<T>,
) -> T {
    match wait_until(timeout, f) {
        Some(v) => v,
        None => panic!("not within {timeout:?}: {}", what()),
    }
}

/// [`wait_until`] for async tests and async conditions: sleeps on the runtime's timer
/// between polls.
pub async fn wait_until_async<T>(
    timeout: Duration,
    mut f: impl AsyncFnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    free_port_on("127.0.0.1")
}

/// A port of the loopback address `ip` (`127.x.y.z`) that was free a moment ago.
pub fn free_port_on(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// A plain HTTP/1.1 GET on `127.0.0.1:port`; returns (status, body), `None` until something
/// answers.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    http_request(port, "GET", path, &[], b"")
}

/// A plain HTTP/1.1 request on `127.0.0.1:port` with extra `headers` and a `body`.
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<(u16, String)> {
    http_request_to(
        SocketAddr::from(([127, 0, 0, 1], port)),
        method,
        path,
        headers,
        body,
    )
}

/// A plain HTTP/1.1 request to `addr` (any loopback address); returns (status, body) with a
/// chunked body decoded.
pub fn http_request_to(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Some((status, body))
}

/// The body of a chunked HTTP/1.1 response.
pub fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest.get(n + 2..).unwrap_or_default();
    }
    out
}
