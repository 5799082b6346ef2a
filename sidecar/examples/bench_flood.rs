//! Load for `make bench`'s pressure rows.
//!
//! `bench_flood lines RATE SECONDS`: prints RATE log lines per second for SECONDS (a log burst
//! from the agent, for the proxy's CPU per request during analysis load).
//!
//! `bench_flood otlp PORT CONNECTIONS MB MB_PER_S SECONDS`: CONNECTIONS exporters each POST
//! one MB-sized OTLP/JSON log export (ten records with ~MB/10 MB exception texts) at MB_PER_S,
//! all at once, retrying after `Retry-After` when refused, for at most SECONDS; prints what was
//! accepted and refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn lines(rate: u64, seconds: u64) {
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out.lock());
    let start = Instant::now();
    let batch = rate / 100; // every 10 ms
    let mut n: u64 = 0;
    for tick in 0..seconds * 100 {
        for _ in 0..batch {
            n += 1;
            writeln!(
                out,
                "2026-12-05T10:00:00.000Z INFO worker: step {n} processed invoice batch ok"
            )
            .unwrap();
        }
        out.flush().unwrap();
        let due = start + Duration::from_millis(10 * (tick + 1));
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
}

fn export_body(mb: usize) -> Vec<u8> {
    let each = mb * 1_000_000 / 10;
    let text = format!(
        "Traceback (most recent call last):\n  File \"/app/etl.py\", line 3, in <module>\nValueError: cannot merge {}",
        "x".repeat(each)
    );
    let records: Vec<serde_json::Value> = (0..10)
        .map(|_| serde_json::json!({"body": {"stringValue": text}}))
        .collect();
    serde_json::json!({"resourceLogs": [{"scopeLogs": [{"logRecords": records}]}]})
        .to_string()
        .into_bytes()
}

/// One POST sent at `rate` bytes per second; the status and `Retry-After`.
fn post(port: u16, body: &[u8], rate: usize) -> Option<(u16, Option<u64>)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    write!(
        s,
        "POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .ok()?;
    let start = Instant::now();
    let chunk = 64 * 1024;
    for (i, c) in body.chunks(chunk).enumerate() {
        if s.write_all(c).is_err() {
            break; // answered early; read what it said
        }
        let due = start + Duration::from_secs_f64(((i + 1) * chunk) as f64 / rate as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let retry = text
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("retry-after:")
                .map(str::to_string)
        })
        .and_then(|v| v.trim().parse().ok());
    Some((status, retry))
}

fn otlp(port: u16, connections: usize, mb: usize, mb_per_s: f64, seconds: u64) {
    let body = std::sync::Arc::new(export_body(mb));
    let rate = (mb_per_s * 1_000_000.0) as usize;
    let start = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let body = body.clone();
            std::thread::spawn(move || {
                let mut refused = 0u32;
                while start.elapsed() < Duration::from_secs(seconds) {
                    match post(port, &body, rate) {
                        Some((200, _)) => return (true, refused),
                        Some((_, retry)) => {
                            refused += 1;
                            std::thread::sleep(Duration::from_secs(retry.unwrap_or(1)));
                        }
                        None => {
                            refused += 1;
                            std::thread::sleep(Duration::from_secs(1));
                        }
                    }
                }
                (false, refused)
            })
        })
        .collect();
    let results: Vec<(bool, u32)> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    println!(
        "accepted={} refused_answers={} gave_up={} seconds={:.1}",
        results.iter().filter(|r| r.0).count(),
        results.iter().map(|r| r.1).sum::<u32>(),
        results.iter().filter(|r| !r.0).count(),
        start.elapsed().as_secs_f64()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let num = |i: usize| args.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    match args.get(1).map(String::as_str) {
        Some("lines") => lines(num(2), num(3)),
        Some("otlp") => otlp(
            u16::try_from(num(2)).unwrap(),
            num(3) as usize,
            num(4) as usize,
            args.get(5).and_then(|v| v.parse().ok()).unwrap_or(3.0),
            num(6).max(1),
        ),
        _ => eprintln!(
            "usage: bench_flood lines RATE SECONDS | otlp PORT CONNECTIONS MB MB_PER_S SECONDS"
        ),
    }
}
