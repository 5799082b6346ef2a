//! The call graph counts one call once: agent spans and the CLIENT/SERVER pair of the same
//! hand-off, in any arrival order.

use super::*;
use crate::otlp::genai::MAX_NAME_BYTES;
use crate::otlp::held::{HELD_TTL_MS, MAX_HELD, MAX_HELD_BYTES};

const T: [u8; 16] = [7; 16];

/// How a span was made: the OpenTelemetry span kind (INTERNAL is neither).
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Internal,
    Client,
    Server,
}

/// A span of `service` with id `span` under `parent` (0: a root); an `invoke_agent` span
/// when `agent` is set. A SERVER span's parent is remote, as a propagated context is.
fn span(service: &str, span: u64, parent: u64, kind: Kind, agent: Option<&str>) -> SpanFacts {
    SpanFacts {
        trace_id: T.to_vec(),
        span_id: span.to_be_bytes().to_vec(),
        parent_id: if parent == 0 {
            Vec::new()
        } else {
            parent.to_be_bytes().to_vec()
        },
        parent_remote: kind == Kind::Server,
        service: service.into(),
        kind: if agent.is_some() {
            AiKind::Agent
        } else {
            AiKind::Other
        },
        operation: if agent.is_some() {
            "invoke_agent"
        } else {
            "POST"
        }
        .into(),
        agent: agent.map(str::to_string),
        model: None,
        input_tokens: None,
        output_tokens: None,
        duration_s: 0.5,
        end_ms: 0,
        error: false,
        server: kind == Kind::Server,
        client: kind == Kind::Client,
        prompt: None,
        retriever: None,
        check: None,
        exceptions: Vec::new(),
    }
}

fn store() -> GenAiStore {
    GenAiStore::new(false, Metrics::new("run").expect("metrics"))
}

fn edges(s: &GenAiStore) -> Vec<(String, String, u64)> {
    let mut e: Vec<_> = s
        .snapshot(usize::MAX)
        .1
        .into_iter()
        .map(|e| (e.from, e.to, e.calls))
        .collect();
    e.sort();
    e
}

fn want(e: &[(&str, &str, u64)]) -> Vec<(String, String, u64)> {
    e.iter()
        .map(|(f, t, n)| (f.to_string(), t.to_string(), *n))
        .collect()
}

// The spans of one planner → researcher hand-off, as a framework with GenAI and HTTP
// instrumentation emits them: in the planner's process `invoke_agent planner` (1) >
// `invoke_agent researcher` (2, CLIENT: a remote agent) > `POST` (3, HTTP CLIENT); in the
// researcher's process `POST /task` (4, SERVER, under 3) > `invoke_agent researcher` (5).
fn planner() -> SpanFacts {
    span("planner", 1, 0, Kind::Internal, Some("planner"))
}
fn invoke() -> SpanFacts {
    span("planner", 2, 1, Kind::Client, Some("researcher"))
}
fn http() -> SpanFacts {
    span("planner", 3, 2, Kind::Client, None)
}
fn server() -> SpanFacts {
    span("researcher", 4, 3, Kind::Server, None)
}
fn handler() -> SpanFacts {
    span("researcher", 5, 4, Kind::Internal, Some("researcher"))
}

#[test]
fn one_hand_off_counts_once_whatever_carries_it_and_whenever_it_arrives() {
    let t0 = 1_000;
    // (name, batches in arrival order with their time, the edges after each batch)
    type Step = (Vec<SpanFacts>, u64, Vec<(&'static str, &'static str, u64)>);
    let one = vec![("planner", "researcher", 1)];
    let cases: Vec<(&str, Vec<Step>)> = vec![
        (
            "nested CLIENT invoke_agent over HTTP, one batch",
            vec![(
                vec![handler(), server(), http(), invoke(), planner()],
                t0,
                one.clone(),
            )],
        ),
        (
            "service names other than the agents': still the agent edge alone",
            vec![(
                vec![
                    span("svc-planner", 1, 0, Kind::Internal, Some("planner")),
                    span("svc-planner", 2, 1, Kind::Client, Some("researcher")),
                    span("svc-planner", 3, 2, Kind::Client, None),
                    span("svc-researcher", 4, 3, Kind::Server, None),
                ],
                t0,
                one.clone(),
            )],
        ),
        (
            "the CLIENT invoke_agent span itself is the client half",
            vec![(
                vec![
                    planner(),
                    invoke(),
                    span("researcher", 4, 2, Kind::Server, None),
                ],
                t0,
                one.clone(),
            )],
        ),
        (
            "transport first, then the agent spans, one batch each",
            vec![
                (vec![http(), server()], t0, vec![]),
                (vec![invoke()], t0 + 1, vec![]),
                (vec![planner()], t0 + 2, one.clone()),
            ],
        ),
        (
            "server half first, client half next, agent spans last together",
            vec![
                (vec![server(), handler()], t0, vec![]),
                (vec![http()], t0 + 1, vec![]),
                (vec![planner(), invoke()], t0 + 2, one.clone()),
            ],
        ),
        (
            "the planner's spans before the server half",
            vec![
                (vec![http()], t0, vec![]),
                (vec![invoke()], t0 + 1, vec![]),
                (vec![planner()], t0 + 2, one.clone()),
                (vec![server(), handler()], t0 + 3, one.clone()),
            ],
        ),
        (
            "agent spans out of order: the caller before the invocation",
            vec![
                (vec![server(), http()], t0, vec![]),
                (vec![planner()], t0 + 1, vec![]),
                (vec![invoke()], t0 + 2, one.clone()),
            ],
        ),
        (
            "an INTERNAL sub-agent calling another service over HTTP: both edges",
            vec![(
                vec![
                    span("app", 1, 0, Kind::Internal, Some("planner")),
                    span("app", 2, 1, Kind::Internal, Some("researcher")),
                    span("app", 3, 2, Kind::Client, None),
                    span("search", 4, 3, Kind::Server, None),
                ],
                t0,
                vec![("app", "search", 1), ("planner", "researcher", 1)],
            )],
        ),
        (
            "a plain call under no agent span",
            vec![(
                vec![
                    span("planner", 3, 0, Kind::Client, None),
                    span("researcher", 4, 3, Kind::Server, None),
                ],
                t0,
                one.clone(),
            )],
        ),
        (
            "a CLIENT invoke_agent span with no agent caller: the pair is the only count",
            vec![(
                vec![
                    span("planner", 2, 0, Kind::Client, Some("researcher")),
                    http(),
                    server(),
                ],
                t0,
                one.clone(),
            )],
        ),
        (
            "a CLIENT invoke_agent span invoked by its own agent: the pair counts",
            vec![(
                vec![
                    span("planner", 1, 0, Kind::Internal, Some("researcher")),
                    invoke(),
                    http(),
                    server(),
                ],
                t0,
                one.clone(),
            )],
        ),
        (
            "the agent caller never arrives: counted after the TTL",
            vec![
                (vec![http(), server(), invoke()], t0, vec![]),
                (vec![], t0 + HELD_TTL_MS - 1, vec![]),
                (vec![], t0 + HELD_TTL_MS, one.clone()),
                // Late ancestors do not count it again; the agent span's own wait is over.
                (vec![planner()], t0 + HELD_TTL_MS + 1, one.clone()),
            ],
        ),
        (
            "no agent span above the transport ever arrives: counted after the TTL",
            vec![
                (vec![http(), server()], t0, vec![]),
                (vec![], t0 + HELD_TTL_MS, one.clone()),
            ],
        ),
    ];
    for (name, steps) in cases {
        let mut s = store();
        for (i, (batch, at, after)) in steps.into_iter().enumerate() {
            s.ingest(&batch, at);
            assert_eq!(edges(&s), want(&after), "{name}, after batch {i}");
        }
        assert!(s.held.is_empty(), "{name}: nothing left held");
        assert!(s.dropped().values().all(|n| *n == 0), "{name}");
    }
}

#[test]
fn held_calls_are_counted_when_items_or_bytes_run_out() {
    // Hand-offs whose ancestors have not arrived: HTTP CLIENT spans 10n+3 under the unseen
    // 10n+2, SERVER spans 10n+4.
    fn hand_off(n: u64, from: &str, to: &str) -> Vec<SpanFacts> {
        vec![
            span(from, 10 * n + 3, 10 * n + 2, Kind::Client, None),
            span(to, 10 * n + 4, 10 * n + 3, Kind::Server, None),
        ]
    }
    let long = |c: char| c.to_string().repeat(MAX_NAME_BYTES);
    // (name, caller, callee, calls that fit)
    let cases = [
        ("items", "p".to_string(), "r".to_string(), MAX_HELD),
        (
            "bytes, with the longest names",
            long('p'),
            long('r'),
            MAX_HELD_BYTES / (2 * MAX_NAME_BYTES + 96),
        ),
    ];
    for (name, from, to, fit) in cases {
        assert!(fit <= MAX_HELD, "{name}");
        let mut s = store();
        for n in 0..fit as u64 {
            s.ingest(&hand_off(n, &from, &to), 0);
        }
        assert_eq!(s.held.len(), fit, "{name}");
        assert!(edges(&s).is_empty(), "{name}");
        s.ingest(&hand_off(fit as u64, &from, &to), 1);
        // The oldest was pushed out and counted: a call, not a loss.
        assert_eq!(s.held.len(), fit, "{name}");
        assert!(s.held.bytes() <= MAX_HELD_BYTES, "{name}");
        assert_eq!(edges(&s), vec![(from.clone(), to.clone(), 1)], "{name}");
        // The next one's ancestors arrive: a CLIENT invoke_agent under another agent, so the
        // agent edge counts it and the held pair is let go.
        s.ingest(
            &[
                span(&from, 12, 11, Kind::Client, Some(&to)),
                span(&from, 11, 0, Kind::Internal, Some("boss")),
            ],
            2,
        );
        assert_eq!(s.held.len(), fit - 1, "{name}");
        let mut want = vec![
            (from.clone(), to.clone(), 1),
            ("boss".into(), to.clone(), 1),
        ];
        want.sort();
        assert_eq!(edges(&s), want, "{name}");
        assert!(s.dropped().values().all(|n| *n == 0), "{name}");
    }
}
