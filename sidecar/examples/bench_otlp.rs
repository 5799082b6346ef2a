//! `make bench` helper for the OTLP receiver.
//!
//! `bench_otlp payload FILE`: writes a 513-span protobuf export request made of 19 copies of
//! the OpenTelemetry Python SDK's two-agent conversation (tests/data/otlp/two-agents.pb),
//! each with fresh trace and span ids, for `wrk` to post.
//! `bench_otlp ingest SECONDS`: decodes and analyses that request in a loop on this thread
//! (what one request costs the receiver, HTTP aside) and prints `spans_per_second=…`.
//! `bench_otlp load PORT CONNECTIONS SECONDS`: posts that request's shape to
//! `127.0.0.1:PORT/v1/traces` over CONNECTIONS keep-alive connections for SECONDS, every
//! request with trace and span ids no earlier request used (what exporters send, unlike `wrk`
//! re-posting one body), and prints `requests_per_second=… spans_per_second=… non_2xx=…`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use agentlens_crds::snapshot::SidecarMode;
use agentlens_sidecar::otlp::{Encoding, OtlpConfig, Receiver, decode_traces};
use agentlens_sidecar::shared::Shared;
use prost::Message;

const FIXTURE: &[u8] = include_bytes!("../tests/data/otlp/two-agents.pb");

fn payload() -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let one = decode_traces(Encoding::Protobuf, FIXTURE)?;
    let mut out = one.clone();
    out.resource_spans.clear();
    for copy in 0u8..19 {
        let mut c = one.clone();
        for rs in &mut c.resource_spans {
            for ss in &mut rs.scope_spans {
                for s in &mut ss.spans {
                    // Distinct ids per copy; parent links stay consistent.
                    s.trace_id[0] ^= copy;
                    s.span_id[0] ^= copy;
                    if !s.parent_span_id.is_empty() {
                        s.parent_span_id[0] ^= copy;
                    }
                }
            }
        }
        out.resource_spans.extend(c.resource_spans);
    }
    Ok(out.encode_to_vec())
}

/// `template` with every trace and span id XORed with `seq`: ids unique per `seq`, and the
/// parent links within the request still point at the same spans.
fn fresh_ids(
    template: &opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest,
    seq: u64,
) -> Vec<u8> {
    let mut req = template.clone();
    let mask = seq.to_le_bytes();
    let xor = |id: &mut Vec<u8>| id.iter_mut().zip(mask).for_each(|(b, m)| *b ^= m);
    for rs in &mut req.resource_spans {
        for ss in &mut rs.scope_spans {
            for s in &mut ss.spans {
                xor(&mut s.trace_id);
                xor(&mut s.span_id);
                xor(&mut s.parent_span_id);
            }
        }
    }
    req.encode_to_vec()
}

/// One POST on a keep-alive connection; the status (the body is read and dropped).
fn post(w: &mut TcpStream, r: &mut BufReader<TcpStream>, body: &[u8]) -> std::io::Result<u16> {
    write!(
        w,
        "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )?;
    w.write_all(body)?;
    let (mut status, mut length, mut line) = (0u16, 0u64, String::new());
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if status == 0 {
            status = l
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
        } else if let Some((k, v)) = l.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    std::io::copy(&mut r.by_ref().take(length), &mut std::io::sink())?;
    Ok(status)
}

fn load(port: u16, connections: u64, seconds: u64) -> Result<(), Box<dyn std::error::Error>> {
    let template = std::sync::Arc::new(decode_traces(Encoding::Protobuf, &payload()?)?);
    let spans_per_request: usize = template
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len())
        .sum();
    let start = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|c| {
            let template = template.clone();
            std::thread::spawn(move || -> std::io::Result<(u64, u64)> {
                let mut w = TcpStream::connect(("127.0.0.1", port))?;
                w.set_nodelay(true)?;
                let mut r = BufReader::new(w.try_clone()?);
                let (mut ok, mut other) = (0u64, 0u64);
                // Sequence numbers never repeat across connections: the connection in the top bits.
                let mut seq = (c + 1) << 40;
                while start.elapsed() < Duration::from_secs(seconds) {
                    seq += 1;
                    match post(&mut w, &mut r, &fresh_ids(&template, seq))? {
                        200..=299 => ok += 1,
                        _ => other += 1,
                    }
                }
                Ok((ok, other))
            })
        })
        .collect();
    let (mut ok, mut other) = (0, 0);
    for w in workers {
        let (o, n) = w.join().map_err(|_| "a load thread panicked")??;
        ok += o;
        other += n;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "requests_per_second={:.1} spans_per_second={:.0} spans_per_request={spans_per_request} non_2xx={other}",
        ok as f64 / secs,
        (ok as usize * spans_per_request) as f64 / secs
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("payload") => {
            std::fs::write(&args[2], payload()?)?;
            Ok(())
        }
        Some("ingest") => {
            let seconds: u64 = args[2].parse()?;
            let body = payload()?;
            let shared = Shared::new(SidecarMode::Run, None)?;
            let r = Receiver::new(
                OtlpConfig {
                    default_container: "main".into(),
                    capture_content: false,
                    forward: None,
                    latency_from_spans: true,
                },
                shared,
            );
            let start = Instant::now();
            let mut spans = 0usize;
            while start.elapsed() < Duration::from_secs(seconds) {
                spans += r.traces(&decode_traces(Encoding::Protobuf, &body)?);
            }
            println!(
                "spans_per_second={:.0} spans_per_request={}",
                spans as f64 / start.elapsed().as_secs_f64(),
                r.traces(&decode_traces(Encoding::Protobuf, &body)?)
            );
            Ok(())
        }
        Some("load") => load(args[2].parse()?, args[3].parse()?, args[4].parse()?),
        _ => Err(
            "usage: bench_otlp payload FILE | ingest SECONDS | load PORT CONNECTIONS SECONDS"
                .into(),
        ),
    }
}
