//! `make bench` helper: log analysis throughput on one core. Generates (once) a mixed log of
//! the given size from the real test fixtures and ordinary lines, then reads it from the file in
//! 64 KiB chunks (through the page cache, as `grep` reads it: the read is timed too) and splits
//! and scans it with one scanner, the way one stream is analysed in the sidecar.
//!
//! Usage: bench_logscan FILE [SIZE_MB]

use std::io::{Read, Write};
use std::time::Instant;

use agentlens_sidecar::logscan::{Event, LineSplitter, ScanConfig, StreamScanner, decode};

const ORDINARY: &[&str] = &[
    "INFO 11-27 08:00:01 [engine.py:301] Avg prompt throughput: 1843.2 tokens/s, Avg generation throughput: 412.7 tokens/s, Running: 12 reqs",
    "2026-11-27T08:00:01.123Z INFO invoice 4711-2026 extracted 14 fields in 812 ms (model=invoice-extractor version=3.0.0)",
    "127.0.0.1 - - [27/Nov/2026:08:00:01 +0000] \"POST /v1/chat/completions HTTP/1.1\" 200 1834 \"-\" \"python-httpx/0.27.0\"",
    "DEBUG retrieval: top_k=6 min_score=0.42 hits=6 latency_ms=38 collection=help-center-articles",
    "{\"level\":\"info\",\"ts\":1732694401.123,\"msg\":\"posted invoice\",\"sap_doc\":\"5105600123\",\"amount_eur\":1834.20}",
    "WARNING: rate limit approaching for tenant acme (85% of 600 rpm)",
    "Epoch 3/10: 100%|##########| 1250/1250 [04:12<00:00,  4.95it/s, loss=0.231]",
];

fn generate(path: &str, size: u64) -> std::io::Result<()> {
    let oom = include_str!("../tests/data/logscan/gpu-oom.log");
    let blocks = include_str!("../tests/data/logscan/error-blocks.log");
    let rare: Vec<&str> = oom
        .lines()
        .chain(blocks.lines())
        .filter(|l| !l.starts_with("### "))
        .collect();
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut written = 0u64;
    let mut i = 0usize;
    while written < size {
        // One rare (error) line per 100 ordinary lines: a busy but unhealthy service.
        let line = if i % 100 == 99 {
            rare[(i / 100) % rare.len()]
        } else {
            ORDINARY[i % ORDINARY.len()]
        };
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
        written += line.len() as u64 + 1;
        i += 1;
    }
    out.flush()
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .unwrap_or_else(|| "target/bench/mixed.log".into());
    let size_mb: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(500);
    if std::fs::metadata(&path)
        .map(|m| m.len() < size_mb << 20)
        .unwrap_or(true)
    {
        if let Some(dir) = std::path::Path::new(&path).parent() {
            std::fs::create_dir_all(dir)?;
        }
        generate(&path, size_mb << 20)?;
    }
    let cfg = ScanConfig::default();
    let start = Instant::now();
    let mut file = std::fs::File::open(&path)?;
    let mut chunk = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    let mut splitter = LineSplitter::new(cfg.max_line_bytes);
    let mut scanner = StreamScanner::new(cfg);
    let mut events = Vec::new();
    let (mut lines, mut ooms, mut tracebacks) = (0u64, 0u64, 0u64);
    loop {
        let n = file.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        splitter.push(&chunk[..n], &mut |line| {
            lines += 1;
            scanner.scan(&decode(line.bytes), lines, &mut events);
        });
        for e in events.drain(..) {
            match e {
                Event::GpuOom(_) => ooms += 1,
                Event::Traceback(_) => tracebacks += 1,
            }
        }
    }
    scanner.finish(&mut events);
    let secs = start.elapsed().as_secs_f64();
    println!(
        "lines={lines} bytes={bytes} seconds={secs:.3} lines_per_second={:.0} gpu_oom_events={ooms} tracebacks={tracebacks}",
        lines as f64 / secs
    );
    Ok(())
}
