use super::*;
use crate::logscan::{GpuOom, ScanConfig, StreamScanner};

const STDERR: Origin = Origin {
    source: "log",
    stream: "stderr",
};
const FILE: Origin = Origin {
    source: "log",
    stream: "file",
};
const SPANS: Origin = Origin {
    source: "otlp",
    stream: "otlp-spans",
};

fn tb(n: u64) -> Event {
    block(&[
        "Traceback (most recent call last):",
        &format!("  File \"/app/job_{n}.py\", line 1, in <module>"),
        "ValueError: bad input",
    ])
}

fn block(lines: &[&str]) -> Event {
    let mut s = StreamScanner::new(ScanConfig::default());
    let mut ev = Vec::new();
    for l in lines {
        s.scan(l, 0, &mut ev);
    }
    s.finish(&mut ev);
    ev.into_iter()
        .find(|e| matches!(e, Event::Traceback(_)))
        .unwrap()
}

fn oom(message: &str, at_ms: u64) -> Event {
    Event::GpuOom(GpuOom {
        framework: "pytorch",
        message: message.to_string(),
        requested_bytes: Some(20 << 30),
        gpu_index: Some(0),
        at_ms,
    })
}

fn metric(o: &Observations, name: &str, labels: &[&str]) -> u64 {
    let m = &o.metrics;
    match name {
        "events" => m.gpu_oom_events.with_label_values(labels).get(),
        _ => m.gpu_oom_detections.with_label_values(labels).get(),
    }
}

#[test]
fn groups_are_bounded_and_evictions_counted() {
    let mut o = Observations::new(Metrics::new("run").unwrap());
    for n in 0..(MAX_GROUPS as u64 + 10) {
        o.event("main", STDERR, tb(n));
    }
    assert_eq!(o.groups().len(), MAX_GROUPS);
    assert_eq!(o.dropped()["tracebackGroups"], 10);
    // The same error again is counted in its group, not a new one.
    o.event("main", STDERR, tb(300));
    o.event("main", STDERR, tb(300));
    let g = o
        .groups()
        .into_iter()
        .find(|g| g.frame.as_deref().is_some_and(|f| f.contains("job_300")))
        .unwrap();
    assert_eq!(g.count, 2);
    assert_eq!(o.containers()["main"].tracebacks, MAX_GROUPS as u64 + 12);
}

#[test]
fn error_ring_is_bounded() {
    let mut o = Observations::new(Metrics::new("run").unwrap());
    let long = "E".repeat(10_000);
    for i in 0..(MAX_ERROR_LINES + 5) {
        o.error_line("main", "stderr", LineKind::Error, &long, i as u64);
    }
    o.error_line("main", "stderr", LineKind::Plain, "fine", 0);
    assert_eq!(o.error_lines().count(), MAX_ERROR_LINES);
    assert!(
        o.error_lines()
            .all(|l| l.line.len() == MAX_ERROR_LINE_BYTES)
    );
    assert_eq!(o.dropped()["errorLines"], 5);
}

/// Python tracebacks whose frames and message carry large reprs (as a data-processing agent
/// prints them; 16 KiB each, what reaches the analysis of a longer line): what is stored
/// stays within the byte caps, the cut lines are counted.
#[test]
fn huge_reprs_in_tracebacks_are_stored_within_the_byte_caps() {
    let mut o = Observations::new(Metrics::new("run").unwrap());
    let repr = format!(
        "[{}]",
        "{'id': 1234567, 'text': 'lorem ipsum'}, ".repeat(400)
    );
    for n in 0..30 {
        let frames: Vec<String> = (0..30)
            .flat_map(|f| {
                [
                    format!("  File \"/app/pipeline_{n}.py\", line {f}, in step_{f}"),
                    format!("    batch = transform({repr})"),
                ]
            })
            .collect();
        let mut lines = vec!["Traceback (most recent call last):".to_string()];
        lines.extend(frames);
        lines.push(format!("ValueError: cannot merge {repr}"));
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        o.event("main", STDERR, block(&refs));
        o.error_line("main", "stderr", LineKind::Error, &lines[2], n);
    }
    let cap = MAX_GROUPS * (MAX_GROUP_BYTES + 3 * MAX_FIELD_BYTES)
        + MAX_ERROR_LINES * MAX_ERROR_LINE_BYTES
        + MAX_OOM_EVENTS * MAX_OOM_MESSAGE_BYTES;
    assert!(o.stored_bytes() <= cap, "{} > {cap}", o.stored_bytes());
    let g = o.groups()[0];
    assert!(g.lines.iter().map(String::len).sum::<usize>() <= MAX_GROUP_BYTES);
    assert!(g.message.len() <= MAX_FIELD_BYTES);
    assert_eq!(g.exception, "ValueError");
    assert!(o.dropped()["tracebackLines"] > 0);
}

#[test]
fn secrets_in_tracebacks_error_lines_and_oom_messages_are_never_kept() {
    let mut o = Observations::new(Metrics::new("run").unwrap());
    o.event(
        "main",
        STDERR,
        block(&[
            "Traceback (most recent call last):",
            "  File \"/app/db.py\", line 9, in connect",
            "    engine = create_engine(\"postgresql://app:Sup3rS3cret@db:5432/x\")",
            "sqlalchemy.exc.OperationalError: password=Sup3rS3cret rejected for postgresql://app:Sup3rS3cret@db:5432/x",
        ]),
    );
    o.error_line(
        "main",
        "stderr",
        LineKind::Error,
        "ERROR calling api with key sk-proj-abcdefghijklmnopqrstuvwx123",
        1,
    );
    o.event(
        "main",
        STDERR,
        oom(
            "CUDA out of memory (token=Sup3rS3cret). Tried to allocate 20.00 GiB",
            5,
        ),
    );
    let dump = format!("{:?}", o);
    assert!(!dump.contains("Sup3rS3cret"), "{dump}");
    assert!(!dump.contains("sk-proj-abcdefghij"), "{dump}");
    assert!(dump.contains("[REDACTED"), "{dump}");
}

#[test]
fn one_oom_seen_by_several_sources_is_one_event() {
    let mut o = Observations::new(Metrics::new("run").unwrap());
    let stderr = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 GiB. \
                  GPU 0 has a total capacity of 79.19 GiB of which 3.12 GiB is free.";
    let span = "CUDA out of memory. Tried to allocate 20.00 GiB. GPU 0 has a total \
                capacity of 79.19 GiB of which 3.12 GiB is free.";
    let file = "2026-12-05 10:00:01,123 ERROR worker: torch.OutOfMemoryError: CUDA out of \
                memory. Tried to allocate 20.00 GiB. GPU 0 has a total capacity of 79.19 GiB";
    o.event("main", STDERR, oom(stderr, 10_000));
    o.event("main", SPANS, oom(span, 10_400));
    o.event("main", FILE, oom(file, 11_000));
    assert_eq!(o.containers()["main"].gpu_oom_events, 1);
    assert_eq!(o.ooms().count(), 1);
    assert_eq!(metric(&o, "events", &["main", "log"]), 1);
    assert_eq!(metric(&o, "events", &["main", "otlp"]), 0);
    assert_eq!(metric(&o, "detections", &["main", "log"]), 2);
    assert_eq!(metric(&o, "detections", &["main", "otlp"]), 1);

    // Long after, the same message is a new OOM.
    o.event("main", SPANS, oom(span, 30_000));
    assert_eq!(o.containers()["main"].gpu_oom_events, 2);
    // Another container's OOM is its own.
    o.event("other", STDERR, oom(stderr, 30_100));
    assert_eq!(o.containers()["other"].gpu_oom_events, 1);
}

#[test]
fn ten_ooms_seen_by_two_sources_are_ten_events() {
    let mut o = Observations::new(Metrics::new("run").unwrap());
    let msg = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 GiB.";
    for i in 0..10u64 {
        o.event("main", STDERR, oom(msg, i * 1_500));
    }
    // The OTLP copies arrive late, after several later stderr ones: paired in order.
    for i in 0..10u64 {
        o.event("main", SPANS, oom(msg, i * 1_500 + 2_000));
    }
    assert_eq!(o.containers()["main"].gpu_oom_events, 10);
    assert_eq!(metric(&o, "detections", &["main", "otlp"]), 10);
    assert_eq!(metric(&o, "events", &["main", "otlp"]), 0);
}

#[test]
fn different_ooms_close_together_are_different_events() {
    let mut o = Observations::new(Metrics::new("run").unwrap());
    o.event(
        "main",
        STDERR,
        oom("CUDA out of memory. Tried to allocate 20.00 GiB", 0),
    );
    let mut other = oom("CUDA out of memory. Tried to allocate 2.00 GiB", 100);
    if let Event::GpuOom(g) = &mut other {
        g.requested_bytes = Some(2 << 30);
    }
    o.event("main", SPANS, other);
    assert_eq!(o.containers()["main"].gpu_oom_events, 2);
}

#[test]
fn oom_messages_of_two_sources_are_matched_past_prefixes_and_type_names() {
    let cases = [
        (
            "torch_stderr_and_span_message",
            "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 GiB. GPU 0",
            "CUDA out of memory. Tried to allocate 20.00 GiB. GPU 0 has a total capacity",
            true,
        ),
        (
            "tensorflow_log_and_exception",
            "2026-12-05 10:00:01.5 W tensorflow: ResourceExhaustedError: OOM when allocating tensor with shape[8192,8192] and type float",
            "OOM when allocating tensor with shape[8192,8192] and type float on /job:localhost",
            true,
        ),
        (
            "different_sizes",
            "CUDA out of memory. Tried to allocate 20.00 GiB",
            "CUDA out of memory. Tried to allocate 2.00 GiB",
            false,
        ),
    ];
    for (name, a, b, want) in cases {
        assert_eq!(same_oom(&oom_key(a), &oom_key(b)), want, "{name}");
    }
}

#[test]
fn a_private_key_printed_over_several_lines_of_a_traceback_is_never_kept() {
    // A block whose lines carry a PEM (a message printed over several lines): redaction sees
    // the block as one text, so the key's base64 body goes with its BEGIN line.
    let Event::Traceback(mut t) = tb(1) else {
        unreachable!()
    };
    t.block.lines.extend(
        [
            "ValueError: cannot load -----BEGIN PRIVATE KEY-----",
            "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj",
            "MkIsBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKjMzEfYyjiWA4R",
            "-----END PRIVATE KEY-----",
            "During handling of the above exception, another exception occurred:",
        ]
        .map(String::from),
    );
    let mut o = Observations::new(Metrics::new("run").unwrap());
    o.event("main", STDERR, Event::Traceback(t));
    let dump = format!("{:?}", o);
    assert!(!dump.contains("MIIEvQIBADAN"), "{dump}");
    assert!(!dump.contains("MkIsBgkqhkiG"), "{dump}");
    assert!(dump.contains("[REDACTED:private-key]"), "{dump}");
    assert!(dump.contains("another exception occurred"), "{dump}");
}
