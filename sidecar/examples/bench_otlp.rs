//! `make bench` helper for the OTLP receiver.
//!
//! `bench_otlp payload FILE`: writes a 513-span protobuf export request made of 19 copies of
//! the OpenTelemetry Python SDK's two-agent conversation (tests/data/otlp/two-agents.pb),
//! each with fresh trace and span ids, for `wrk` to post.
//! `bench_otlp ingest SECONDS`: decodes and analyses that request in a loop on this thread
//! (what one request costs the receiver, HTTP aside) and prints `spans_per_second=…`.

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
        _ => Err("usage: bench_otlp payload FILE | ingest SECONDS".into()),
    }
}
