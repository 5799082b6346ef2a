//! The OTLP receiver against real payloads of the OpenTelemetry Python SDK: the fixtures in
//! `data/otlp/` (written by `two_agents.py` with opentelemetry-sdk 1.45.2, protobuf and
//! OTLP/JSON) and, live, the SDK's own OTLP/HTTP exporter sending to the built sidecar.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use agentlens_crds::snapshot::{SidecarMode, Snapshot};
use agentlens_sidecar::otlp::{self, Encoding, OtlpConfig, Receiver};
use agentlens_sidecar::shared::Shared;
use agentlens_sidecar::snapshot;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

mod common;
use common::{free_port, get};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/otlp")
        .join(name)
}

fn config(capture: bool) -> OtlpConfig {
    OtlpConfig {
        default_container: "main".into(),
        capture_content: capture,
        forward: None,
        latency_from_spans: true,
    }
}

fn receive(file: &str, enc: Encoding, capture: bool) -> (Arc<Shared>, Snapshot) {
    let shared = Shared::new(SidecarMode::Run, None).unwrap();
    shared.analysis.container("main");
    let r = Receiver::new(config(capture), shared.clone());
    let body = std::fs::read(data(file)).unwrap();
    let n = r.traces(&otlp::decode_traces(enc, &body).unwrap());
    assert_eq!(n, 27);
    shared.settle();
    let s = snapshot::build(&shared);
    (shared, s)
}

/// What the two-agent conversation must yield, whichever encoding carried it.
fn assert_conversation(s: &Snapshot, capture: bool) {
    let g = s.genai.as_ref().expect("genai section");
    assert_eq!(g.spans, 27);
    // Agent graph: triage handed over to researcher three times, one failed.
    assert_eq!(s.agent_graph.len(), 1, "{:?}", s.agent_graph);
    let e = &s.agent_graph[0];
    assert_eq!(
        (e.from.as_str(), e.to.as_str(), e.calls, e.errors),
        ("triage", "researcher", 3, 1)
    );
    assert_eq!(e.buckets.last().unwrap().count, 3);
    // Tokens per model, GenAI and OpenInference attributes alike.
    let m = |name: &str| g.models.iter().find(|m| m.model == name).unwrap();
    let gpt = m("gpt-4o-mini-2024-07-18");
    assert_eq!(
        (gpt.requests, gpt.input_tokens, gpt.output_tokens),
        (3, 360, 90)
    );
    let claude = m("claude-3-5-sonnet");
    assert_eq!(
        (claude.requests, claude.input_tokens, claude.output_tokens),
        (3, 2400, 600)
    );
    // Two prompt templates, each used three times, attributed to their agents.
    assert_eq!(g.prompts.len(), 2, "{:?}", g.prompts);
    let research = g.prompts.iter().find(|p| p.version.is_some()).unwrap();
    assert_eq!(research.version.as_deref(), Some("v3"));
    assert_eq!(research.agent.as_deref(), Some("researcher"));
    assert_eq!(research.model.as_deref(), Some("claude-3-5-sonnet"));
    assert_eq!(research.uses, 3);
    let triage = g.prompts.iter().find(|p| p.version.is_none()).unwrap();
    assert_eq!(triage.agent.as_deref(), Some("triage"));
    assert!(triage.hash.starts_with("sha256:") && triage.hash.len() == 71);
    if capture {
        let text = triage.text.as_deref().unwrap();
        assert!(text.starts_with("You are the triage agent"), "{text}");
        assert!(
            !text.contains("ops@example.com") && !text.contains("sk-proj-"),
            "{text}"
        );
        assert!(text.contains("[REDACTED:email]") && text.contains("[REDACTED:token]"));
    } else {
        assert!(g.prompts.iter().all(|p| p.text.is_none()));
    }
    // RAG, guardrail and evaluator evidence.
    assert_eq!(g.retrievers.len(), 1);
    let r = &g.retrievers[0];
    assert_eq!(
        (
            r.store.as_deref(),
            r.collection.as_deref(),
            r.agent.as_deref(),
            r.queries
        ),
        (Some("qdrant"), Some("kb-articles"), Some("researcher"), 3)
    );
    assert_eq!(g.guardrails.len(), 1);
    assert_eq!(
        (g.guardrails[0].name.as_str(), g.guardrails[0].runs),
        ("pii-filter", 3)
    );
    assert_eq!(g.evaluators[0].name, "faithfulness");
    assert_eq!(g.evaluators[0].last_score, Some(0.92));
    // Latency from the three SERVER spans; the recorded CUDA OOM through the log analysis.
    assert_eq!(s.latency.as_ref().unwrap().requests, 3);
    let main = s.containers.iter().find(|c| c.name == "main").unwrap();
    assert_eq!(main.gpu_oom_events, 1, "{main:?}");
    assert_eq!(main.tracebacks, 1, "{main:?}");
    assert_eq!(
        s.gpu_oom_events[0].source,
        agentlens_crds::snapshot::OomSource::Otlp
    );
    assert_eq!(s.gpu_oom_events[0].requested_bytes, Some(2 << 30));
}

#[test]
fn python_sdk_payloads_in_protobuf_and_json_give_the_same_evidence() {
    let (shared, pb) = receive("two-agents.pb", Encoding::Protobuf, false);
    assert_conversation(&pb, false);
    let (_, json) = receive("two-agents.json", Encoding::Json, false);
    assert_conversation(&json, false);
    let metrics = String::from_utf8(shared.metrics.render().unwrap()).unwrap();
    for line in [
        "agentlens_genai_tokens_total{kind=\"input\",model=\"gpt-4o-mini-2024-07-18\"} 360",
        "agentlens_genai_tokens_total{kind=\"output\",model=\"claude-3-5-sonnet\"} 600",
        "agentlens_genai_request_duration_seconds_count{model=\"claude-3-5-sonnet\",operation=\"chat\"} 3",
        "agentlens_genai_request_duration_seconds_count{model=\"unknown\",operation=\"invoke_agent\"} 6",
        "agentlens_otlp_received_total{signal=\"spans\"} 27",
        "agentlens_gpu_oom_events_total{container=\"main\",source=\"otlp\"} 1",
    ] {
        assert!(metrics.contains(line), "missing {line}");
    }
}

#[test]
fn captured_prompt_text_is_redacted() {
    let (_, s) = receive("two-agents.json", Encoding::Json, true);
    assert_conversation(&s, true);
}

#[test]
fn children_exported_before_their_parents_still_make_the_edge() {
    // The SDK's batch processor exports spans as they end: children first, often in an
    // earlier request than their agent's own span.
    let body = std::fs::read(data("two-agents.pb")).unwrap();
    let req = otlp::decode_traces(Encoding::Protobuf, &body).unwrap();
    let shared = Shared::new(SidecarMode::Run, None).unwrap();
    let r = Receiver::new(config(false), shared.clone());
    let mut one_by_one = Vec::new();
    for rs in &req.resource_spans {
        for ss in &rs.scope_spans {
            for span in &ss.spans {
                let mut single = req.clone();
                single.resource_spans = vec![rs.clone()];
                single.resource_spans[0].scope_spans = vec![ss.clone()];
                single.resource_spans[0].scope_spans[0].spans = vec![span.clone()];
                one_by_one.push(single);
            }
        }
    }
    assert_eq!(one_by_one.len(), 27);
    for single in &one_by_one {
        r.traces(single);
    }
    shared.settle();
    let s = snapshot::build(&shared);
    assert_eq!(s.agent_graph.len(), 1);
    assert_eq!((s.agent_graph[0].calls, s.agent_graph[0].errors), (3, 1));
}

async fn post(
    port: u16,
    path: &str,
    ctype: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> (u16, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = hyper::Request::post(format!("http://127.0.0.1:{port}{path}"))
        .header("content-type", ctype);
    if let Some(e) = encoding {
        req = req.header("content-encoding", e);
    }
    let resp = client
        .request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&text).into_owned())
}

#[tokio::test]
async fn bad_requests_are_refused_clearly_and_forwarding_passes_the_original_on() {
    use std::io::Write;
    // A collector that records what reaches it.
    let seen: Arc<std::sync::Mutex<Vec<(String, String, Vec<u8>)>>> = Arc::default();
    let seen2 = seen.clone();
    let collector = axum::Router::new().fallback(
        move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: Bytes| {
            let seen = seen2.clone();
            async move {
                let ct = headers
                    .get("content-type")
                    .map(|v| v.to_str().unwrap().to_string())
                    .unwrap_or_default();
                seen.lock()
                    .unwrap()
                    .push((uri.path().to_string(), ct, body.to_vec()));
                ""
            }
        },
    );
    let cl = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cport = cl.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(cl, collector).await });

    let shared = Shared::new(SidecarMode::Run, None).unwrap();
    let mut cfg = config(false);
    cfg.forward = Some(format!("http://127.0.0.1:{cport}").parse().unwrap());
    let r = Receiver::new(cfg, shared.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    otlp::spawn(l, r, stop_rx);

    let pb = std::fs::read(data("two-agents.pb")).unwrap();
    let json = std::fs::read(data("two-agents.json")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&json).unwrap();
    let gz = gz.finish().unwrap();
    let cases: Vec<(&str, &str, Option<&str>, Vec<u8>, u16, &str)> = vec![
        (
            "/v1/traces",
            "application/x-protobuf",
            None,
            pb.clone(),
            200,
            "",
        ),
        (
            "/v1/traces",
            "application/json",
            Some("gzip"),
            gz,
            200,
            "{}",
        ),
        (
            "/v1/traces",
            "application/x-protobuf",
            None,
            b"\xff\xff\xff garbage".to_vec(),
            400,
            "decoding",
        ),
        (
            "/v1/traces",
            "application/json",
            None,
            b"{\"resourceSpans\": 7}".to_vec(),
            400,
            "decoding",
        ),
        (
            "/v1/traces",
            "text/plain",
            None,
            b"hello".to_vec(),
            415,
            "application/x-protobuf",
        ),
        (
            "/v1/traces",
            "application/json",
            Some("br"),
            json.clone(),
            400,
            "content encoding",
        ),
        (
            "/v1/traces",
            "application/json",
            Some("gzip"),
            b"not gzip".to_vec(),
            400,
            "gzip",
        ),
        (
            "/v1/logs",
            "application/json",
            None,
            b"{}".to_vec(),
            200,
            "{}",
        ),
    ];
    for (path, ct, enc, body, want, text) in cases {
        let (status, got) = post(port, path, ct, enc, body).await;
        assert_eq!(status, want, "{ct} {enc:?}: {got}");
        assert!(got.contains(text), "{ct} {enc:?}: {got}");
    }
    shared.settle();
    let s = snapshot::build(&shared);
    assert_eq!(s.genai.unwrap().spans, 54, "both good requests analysed");
    let metrics = String::from_utf8(shared.metrics.render().unwrap()).unwrap();
    assert!(metrics.contains("agentlens_otlp_rejected_requests_total{reason=\"decode\"} 3"));
    assert!(
        metrics.contains(
            "agentlens_otlp_rejected_requests_total{reason=\"unsupported_media_type\"} 1"
        )
    );
    assert!(metrics.contains("agentlens_otlp_rejected_requests_total{reason=\"encoding\"} 1"));
    // Every request of an OTLP media type went on unchanged, the malformed ones too (the
    // collector decides); the text/plain one was refused before its body was read.
    common::wait_until_async(Duration::from_secs(30), async || {
        (seen.lock().unwrap().len() >= 7).then_some(())
    })
    .await;
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 7);
    assert!(
        seen.iter()
            .any(|(p, ct, b)| p == "/v1/traces" && ct == "application/x-protobuf" && *b == pb)
    );
    assert!(seen.iter().any(|(p, _, _)| p == "/v1/logs"));
}

#[test]
fn log_records_go_through_the_log_analysis() {
    let shared = Shared::new(SidecarMode::Run, None).unwrap();
    let r = Receiver::new(config(false), shared.clone());
    let doc = serde_json::json!({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "w"}}]},
        "scopeLogs": [{"logRecords": [
            {"timeUnixNano": "1795759486131259600", "severityNumber": 17,
             "body": {"stringValue": "step failed"},
             "attributes": [{"key": "exception.stacktrace", "value": {"stringValue":
                "Traceback (most recent call last):\n  File \"/app/train.py\", line 7, in <module>\n    step()\ntorch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB. GPU 0 has a total capacity of 139.81 GiB of which 3.06 MiB is free."}}]},
            {"body": {"stringValue": "all good"}}
        ]}]
    }]});
    let req = otlp::decode_logs(Encoding::Json, doc.to_string().as_bytes()).unwrap();
    assert_eq!(r.logs(&req), 2);
    shared.settle();
    let s = snapshot::build(&shared);
    let main = s.containers.iter().find(|c| c.name == "main").unwrap();
    assert_eq!((main.gpu_oom_events, main.tracebacks), (1, 1), "{main:?}");
}

/// `agentlens-sidecar run` with its API on `port`, its OTLP receiver on `oport` and `options`,
/// running `sleep 60`, once it answers `/healthz`.
fn start_sidecar(port: u16, oport: u16, options: &[String]) -> std::process::Child {
    let child = Command::new(env!("CARGO_BIN_EXE_agentlens-sidecar"))
        .args(["run", "--gpu", "off", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--otlp-listen")
        .arg(format!("127.0.0.1:{oport}"))
        .args(options)
        .args(["--", "sleep", "60"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    common::wait_until(Duration::from_secs(30), || get(port, "/healthz"))
        .expect("the sidecar answers /healthz");
    child
}

/// The SDK's own exporter (protobuf, BatchSpanProcessor) and an OTLP/JSON post, live, into
/// `agentlens-sidecar run --otlp-listen`, with the latency proxy running too (in front of the
/// sidecar's own API port): every new series passes `promtool check metrics`.
#[test]
fn the_python_sdk_exports_to_the_running_sidecar() {
    let Some(py) = common::venv_python("opentelemetry.exporter.otlp.proto.http") else {
        return;
    };
    let (port, oport, pport) = (free_port(), free_port(), free_port());
    let proxy = [
        "--proxy-listen".to_string(),
        format!("127.0.0.1:{pport}"),
        "--proxy-upstream".to_string(),
        format!("127.0.0.1:{port}"),
        "--proxy-route".to_string(),
        "/v1/*".to_string(),
    ];
    let mut child = start_sidecar(port, oport, &proxy);
    let endpoint = format!("http://127.0.0.1:{oport}");
    for enc in ["protobuf", "json"] {
        let out = Command::new(&py)
            .arg(data("two_agents.py"))
            .args([&endpoint, enc])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{enc}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(get(pport, "/healthz").as_deref(), Some("ok\n"));
    let through_proxy: Snapshot =
        serde_json::from_str(&get(pport, "/v1/snapshot").unwrap()).unwrap();
    assert!(through_proxy.genai.is_some());
    // The snapshot serves the view the GenAI owner publishes (at most PUBLISH_EVERY behind the
    // exporter's answer): wait until it holds both exports' spans, then compare exactly.
    let s: Snapshot = common::wait_until(Duration::from_secs(10), || {
        let s: Snapshot = serde_json::from_str(&get(port, "/v1/snapshot")?).ok()?;
        (s.genai.as_ref()?.spans >= 54).then_some(s)
    })
    .expect("the snapshot holds the exported spans");
    let metrics = get(port, "/metrics").unwrap();
    let _ = child.kill();
    let _ = child.wait();
    // Two requests through the proxy; the snapshot's latency is the proxy's, not the spans'.
    assert_eq!(s.latency.as_ref().unwrap().requests, 2);
    assert!(metrics.contains(
        "agentlens_request_duration_seconds_count{code=\"200\",method=\"GET\",route=\"/v1/*\"} 1"
    ));
    // `run`: the proxy forwards to the command's container (the latency alert's `container`).
    assert!(metrics.contains("agentlens_proxy_upstream_info{container=\"main\"} 1"));
    common::promtool_check_metrics(&metrics);
    let g = s.genai.unwrap();
    assert_eq!(g.spans, 54);
    assert_eq!(s.agent_graph.len(), 1);
    assert_eq!((s.agent_graph[0].calls, s.agent_graph[0].errors), (6, 2));
    assert_eq!(g.prompts.len(), 2);
    assert!(g.prompts.iter().all(|p| p.uses == 6));
    assert!(metrics.contains(
        "agentlens_genai_tokens_total{kind=\"input\",model=\"gpt-4o-mini-2024-07-18\"} 720"
    ));
    assert!(
        metrics.contains("agentlens_gpu_oom_events_total{container=\"main\",source=\"otlp\"} 2")
    );
}

/// 12 exporters posting 7.5 MB log exports at once (five 1.5 MB records each, as an agent that
/// logs huge exception texts sends them): the receiver holds at most its body budget, the
/// rest are told to come back (429 or 503 with `Retry-After`) before their bodies are read,
/// and every refusal and cut is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_flood_is_admitted_within_the_budget_and_the_rest_told_to_retry() {
    let shared = Shared::new(SidecarMode::Run, None).unwrap();
    let r = Receiver::new(config(false), shared.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    otlp::spawn(l, r, stop_rx);

    let text = format!(
        "Traceback (most recent call last):\n  File \"/app/etl.py\", line 3, in <module>\nValueError: {}",
        "x".repeat(1_500_000)
    );
    let records: Vec<serde_json::Value> = (0..5)
        .map(|_| serde_json::json!({"body": {"stringValue": text}}))
        .collect();
    let doc = serde_json::json!({"resourceLogs": [{"scopeLogs": [{"logRecords": records}]}]});
    let body = Bytes::from(doc.to_string());
    // Just under the largest body (the budget): one is held at a time.
    assert!(body.len() > 7_000_000 && body.len() < otlp::MAX_BODY);
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let sends = (0..12).map(|_| {
        let req = hyper::Request::post(format!("http://127.0.0.1:{port}/v1/logs"))
            .header("content-type", "application/json")
            .body(Full::new(body.clone()))
            .unwrap();
        let client = client.clone();
        tokio::spawn(async move {
            let resp = client.request(req).await.unwrap();
            let retry = resp
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            (resp.status().as_u16(), retry)
        })
    });
    let mut answers = Vec::new();
    for s in sends.collect::<Vec<_>>() {
        answers.push(s.await.unwrap());
    }
    let ok = answers.iter().filter(|(s, _)| *s == 200).count();
    let refused: Vec<_> = answers.iter().filter(|(s, _)| *s != 200).collect();
    assert!(ok >= 1, "{answers:?}");
    assert!(!refused.is_empty(), "{answers:?}");
    assert!(
        refused
            .iter()
            .all(|(s, retry)| matches!(s, 429 | 503) && retry.as_deref() == Some("1")),
        "{answers:?}"
    );
    shared.settle();
    let metrics = String::from_utf8(shared.metrics.render().unwrap()).unwrap();
    assert!(
        metrics.contains(&format!(
            "agentlens_otlp_rejected_requests_total{{reason=\"busy\"}} {}",
            refused.len()
        )),
        "{metrics}"
    );
    assert!(metrics.contains(&format!(
        "agentlens_sidecar_dropped_total{{buffer=\"otlpTexts\"}} {}",
        ok * 5
    )));
    assert!(!metrics.contains("agentlens_otlp_rejected_requests_total{reason=\"too_large\"} 1"));
    let s = serde_json::to_string(&snapshot::build(&shared)).unwrap();
    assert!(s.len() < 64 * 1024, "snapshot of {} bytes", s.len());
}

fn varint(mut v: usize, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Field `tag` (length-delimited) holding `inner`.
fn field(tag: u8, inner: &[u8]) -> Vec<u8> {
    let mut out = vec![(tag << 3) | 2];
    varint(inner.len(), &mut out);
    out.extend_from_slice(inner);
    out
}

async fn start(cfg: OtlpConfig) -> (Arc<Shared>, u16, tokio::sync::watch::Sender<bool>) {
    let shared = Shared::new(SidecarMode::Run, None).unwrap();
    let r = Receiver::new(cfg, shared.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    otlp::spawn(l, r, stop_rx);
    (shared, port, stop_tx)
}

/// Small bodies whose decoded form would be hundreds of MiB (a 1 MiB protobuf body of empty
/// spans, 2 bytes each and a few hundred decoded; the same in JSON; a gzip bomb) are refused
/// with a 413 before decoding, counted, and the receiver goes on serving.
#[tokio::test]
async fn bodies_that_would_decode_huge_are_refused_before_decoding() {
    use std::io::Write;
    let (shared, port, _stop) = start(config(false)).await;
    // 512 Ki empty spans: `12 00` each.
    let spans = [0x12u8, 0x00].repeat(512 * 1024);
    let pb = field(1, &field(2, &spans));
    assert!(pb.len() < 1_100_000);
    let json = format!(
        "{{\"resourceSpans\":[{{\"scopeSpans\":[{{\"spans\":[{}{{}}]}}]}}]}}",
        "{},".repeat(300 * 1024)
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(json.as_bytes()).unwrap();
    let gz_json = gz.finish().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&vec![0u8; 64 << 20]).unwrap();
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 128 * 1024, "{}", bomb.len());
    let cases: Vec<(&str, Option<&str>, Vec<u8>, &str)> = vec![
        ("application/x-protobuf", None, pb, "decodes to over"),
        (
            "application/json",
            None,
            json.clone().into_bytes(),
            "decodes to over",
        ),
        ("application/json", Some("gzip"), gz_json, "decodes to over"),
        ("application/x-protobuf", Some("gzip"), bomb, "over"),
    ];
    let n = cases.len();
    for (ct, enc, body, text) in cases {
        let (status, got) = post(port, "/v1/traces", ct, enc, body).await;
        assert_eq!(status, 413, "{ct} {enc:?}: {got}");
        assert!(got.contains(text), "{ct} {enc:?}: {got}");
    }
    // Still serving, and a real export is analysed.
    let good = std::fs::read(data("two-agents.pb")).unwrap();
    let (status, got) = post(port, "/v1/traces", "application/x-protobuf", None, good).await;
    assert_eq!(status, 200, "{got}");
    shared.settle();
    let metrics = String::from_utf8(shared.metrics.render().unwrap()).unwrap();
    assert!(
        metrics.contains(&format!(
            "agentlens_otlp_rejected_requests_total{{reason=\"too_large\"}} {n}"
        )),
        "{metrics}"
    );
    assert_eq!(snapshot::build(&shared).genai.unwrap().spans, 27);
}

/// A forwarded body stays counted in the budget until its forward is done: with the collector
/// slow, a second export that would not fit beside it is told to retry, and once the forward
/// ends it is admitted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarded_body_is_counted_until_its_forward_is_done() {
    let release = Arc::new(tokio::sync::Notify::new());
    let release2 = release.clone();
    let collector = axum::Router::new().fallback(move |_body: axum::body::Body| {
        let release = release2.clone();
        async move {
            release.notified().await;
            ""
        }
    });
    let cl = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cport = cl.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(cl, collector).await });
    let mut cfg = config(false);
    cfg.forward = Some(format!("http://127.0.0.1:{cport}").parse().unwrap());
    let (shared, port, _stop) = start(cfg).await;

    let doc = serde_json::json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"body": {"stringValue": "x".repeat(5_000_000)}}
    ]}]}]});
    let body = doc.to_string().into_bytes();
    let (status, got) = post(port, "/v1/logs", "application/json", None, body.clone()).await;
    assert_eq!(status, 200, "{got}");
    // Decoded and answered, but the collector has not answered the forward yet.
    let (status, got) = post(port, "/v1/logs", "application/json", None, body.clone()).await;
    assert_eq!(status, 429, "{got}");
    release.notify_one();
    let forwarded = || {
        shared
            .metrics
            .otlp_forwarded
            .with_label_values(&["ok"])
            .get()
    };
    common::wait_until_async(Duration::from_secs(30), async || {
        (forwarded() >= 1).then_some(())
    })
    .await;
    assert_eq!(forwarded(), 1);
    release.notify_one();
    let (status, got) = post(port, "/v1/logs", "application/json", None, body).await;
    assert_eq!(status, 200, "{got}");
}

/// Clients that connect and send nothing hold every connection slot of the OTLP port; they
/// are closed after the header timeout and a real export is then served.
#[tokio::test]
async fn idle_connections_do_not_keep_the_receiver_from_serving() {
    let (_shared, port, _stop) = start(config(false)).await;
    let mut idle = Vec::new();
    for _ in 0..otlp::MAX_CONNECTIONS {
        idle.push(
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap(),
        );
    }
    let good = std::fs::read(data("two-agents.pb")).unwrap();
    let answer = tokio::time::timeout(
        Duration::from_secs(30),
        post(port, "/v1/traces", "application/x-protobuf", None, good),
    )
    .await;
    let (status, got) = answer.expect("served once the idle connections time out");
    assert_eq!(status, 200, "{got}");
    drop(idle);
}

/// The same with connections kept alive after one request each.
#[tokio::test]
async fn idle_kept_alive_connections_do_not_keep_the_receiver_from_serving() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_shared, port, _stop) = start(config(false)).await;
    let mut idle = Vec::new();
    for _ in 0..otlp::MAX_CONNECTIONS {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        s.write_all(
            b"POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\ncontent-length: 0\r\n\r\n",
        )
        .await
        .unwrap();
        let mut buf = [0u8; 12];
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"HTTP/1.1 415");
        idle.push(s);
    }
    let good = std::fs::read(data("two-agents.pb")).unwrap();
    let answer = tokio::time::timeout(
        Duration::from_secs(30),
        post(port, "/v1/traces", "application/x-protobuf", None, good),
    )
    .await;
    let (status, got) = answer.expect("served once the idle connections time out");
    assert_eq!(status, 200, "{got}");
    drop(idle);
}

/// Agent edges from plain calls: the Python SDK's exporter sends a CLIENT side (planner) and
/// the SERVER side under it (worker), as HTTP instrumentations of two processes do, whole side
/// before whole side in either order: each order gives planner → worker with every call and
/// the failed one, named by `agentlens.agent` (not `service.name`), nothing dropped.
#[test]
fn client_and_server_spans_of_two_agents_make_their_edge_in_either_order() {
    let Some(py) = common::venv_python("opentelemetry.exporter.otlp.proto.http") else {
        return;
    };
    for order in ["client-first", "server-first"] {
        let (port, oport) = (free_port(), free_port());
        let mut child = start_sidecar(port, oport, &[]);
        let out = Command::new(&py)
            .arg(data("http_handoff.py"))
            .args([&format!("http://127.0.0.1:{oport}"), "4", order])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{order}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The exporter has its answers, so the spans are in the store; the view is published
        // within a second.
        let s: Snapshot = common::wait_until(Duration::from_secs(10), || {
            let s: Snapshot = serde_json::from_str(&get(port, "/v1/snapshot")?).ok()?;
            (s.genai.as_ref()?.spans == 8).then_some(s)
        })
        .expect("8 spans in the snapshot");
        let metrics = get(port, "/metrics").unwrap();
        let _ = child.kill();
        let _ = child.wait();
        let edges: Vec<_> = s
            .agent_graph
            .iter()
            .map(|e| (e.from.as_str(), e.to.as_str(), e.calls, e.errors))
            .collect();
        assert_eq!(edges, [("planner", "worker", 4, 1)], "{order}");
        assert!(
            metrics.contains("agentlens_sidecar_dropped_total{buffer=\"otlpPendingCalls\"} 0"),
            "{order}"
        );
        // Every span reached the GenAI store; the counter of lost ones is exposed at zero.
        assert!(
            metrics.contains("agentlens_sidecar_dropped_total{buffer=\"otlpSpansLost\"} 0"),
            "{order}"
        );
    }
}
