//! Small blocking HTTP/1.1 helpers for tests that talk to real processes on loopback, and a
//! poll with a deadline for waiting on their answers.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// A port free on 127.0.0.1 now (the kernel's choice; a process started next binds it).
pub fn free_port() -> Option<u16> {
    Some(
        TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port(),
    )
}

/// One request on its own connection (`Connection: close`): the status and the body, or
/// `None` while nothing answers. `headers` are extra header lines, each ending in `\r\n`.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: &[u8],
) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .ok()?;
    s.write_all(body).ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let raw = String::from_utf8_lossy(&raw);
    let code = raw.split_whitespace().nth(1)?.parse().ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let chunked = head
        .lines()
        .any(|l| l.eq_ignore_ascii_case("transfer-encoding: chunked"));
    Some((
        code,
        if chunked {
            dechunk(body)?
        } else {
            body.to_string()
        },
    ))
}

/// GET with extra header lines.
pub fn get(addr: SocketAddr, path: &str, headers: &str) -> Option<(u16, String)> {
    request(addr, "GET", path, headers, b"")
}

/// A chunked body, decoded.
fn dechunk(mut body: &str) -> Option<String> {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n")?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        out.push_str(rest.get(..size)?);
        body = rest.get(size..)?.strip_prefix("\r\n")?;
    }
}

/// Polls `f` until it returns a value; panics with `what()` after `deadline`.
pub fn wait_until<T>(
    what: impl Fn() -> String,
    deadline: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> T {
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "not within {deadline:?}: {}", what());
        // Polling other processes: there is nothing to wait on but their answers.
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn chunked_bodies_are_decoded() {
        assert_eq!(
            super::dechunk("5\r\nhello\r\n7;x=y\r\n, world\r\n0\r\n\r\n").as_deref(),
            Some("hello, world")
        );
        assert_eq!(super::dechunk("5\r\nhel"), None);
    }
}
