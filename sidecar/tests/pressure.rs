//! The built `agentlens-sidecar run` under pressure and as PID 1: an agent flooding its stderr
//! with huge Python exceptions, orphaned descendants, secrets in tracebacks, the API token,
//! and one GPU OOM reported by two sources.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

mod common;
use common::{free_port, http_get, http_request, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_agentlens-sidecar");

fn sidecar(port: u16, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(["run", "--gpu", "off", "--interval-ms", "200", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .args(args);
    c
}

/// The value of the first sample of `series` (a name with its labels, as exposed).
fn metric(port: u16, series: &str) -> Option<f64> {
    let (_, body) = http_get(port, "/metrics")?;
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

/// Reads a child's stdout and stderr to the end on threads (so it never blocks on a pipe).
fn drain(
    child: &mut Child,
) -> (
    std::thread::JoinHandle<Vec<u8>>,
    std::thread::JoinHandle<Vec<u8>>,
) {
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    (
        std::thread::spawn(move || {
            let mut v = Vec::new();
            out.read_to_end(&mut v).unwrap();
            v
        }),
        std::thread::spawn(move || {
            let mut v = Vec::new();
            err.read_to_end(&mut v).unwrap();
            v
        }),
    )
}

/// A Python agent raising exceptions whose frames (locals) and message carry ~1.5 MB reprs,
/// printed with the standard traceback module (deterministic output).
const FLOOD: &str = r#"
import sys, traceback
def transform(n, batch):
    error = type("Error%d" % n, (ValueError,), {})  # one traceback group each
    raise error("cannot merge %r" % (batch,))
def step(n, batch):
    return transform(n, batch)
def main(count):
    rows = [{"id": i, "text": "lorem ipsum dolor sit amet"} for i in range(30000)]
    for n in range(count):
        try:
            step(n, rows)
        except ValueError:
            tb = traceback.TracebackException(*sys.exc_info(), capture_locals=True)
            print("".join(tb.format()), end="", file=sys.stderr)
            del tb  # not a local of the next traceback (its repr has an address)
main(int(sys.argv[1]))
print("done", flush=True)
"#;

#[test]
fn a_flood_of_huge_exceptions_is_stored_within_bounds_and_passed_through_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("flood.py");
    std::fs::write(&script, FLOOD).unwrap();
    let direct = Command::new("python3")
        .arg(&script)
        .arg("8")
        .output()
        .unwrap();
    assert!(
        direct.stderr.len() > 8 * 4_000_000,
        "{}",
        direct.stderr.len()
    );

    let port = free_port();
    // The agent waits for the test (a line on stdin) before it exits.
    let cmd = format!("python3 {} 8; read line", script.display());
    let mut child = sidecar(port, &["--", "sh", "-c", &cmd])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (out, err) = drain(&mut child);
    // Every traceback analysed or dropped and counted, none stored whole.
    let tracebacks = wait_until(Duration::from_secs(60), || {
        let (s, body) = http_get(port, "/v1/tracebacks")?;
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        let count = v["tracebacks"]
            .as_array()?
            .iter()
            .map(|g| g["count"].as_u64().unwrap_or(0))
            .sum::<u64>();
        // (one group per exception: each raises its own type)
        let dropped = v["dropped"]["analysisQueue"].as_u64().unwrap_or(0);
        (s == 200 && count > 0 && (count == 8 || dropped > 0)).then_some((body, v))
    })
    .expect("tracebacks within 60 s");
    let truncated = metric(
        port,
        "agentlens_log_lines_truncated_total{container=\"main\",stream=\"stderr\"}",
    )
    .unwrap();
    let (_, snapshot) = http_get(port, "/v1/snapshot").unwrap();
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    let status = child.wait().unwrap();
    let (out, err) = (out.join().unwrap(), err.join().unwrap());

    assert_eq!(status.code(), Some(0));
    assert!(out == direct.stdout, "stdout changed");
    assert!(err == direct.stderr, "stderr changed");
    let (body, v) = tracebacks;
    // 8 groups of 4 x ~1.5 MB reprs in; what is stored and served is at most 16 KiB of lines
    // per group and 2 KiB per recent error line.
    assert!(
        body.len() < 1024 * 1024,
        "/v1/tracebacks is {} bytes",
        body.len()
    );
    assert!(
        snapshot.len() < 256 * 1024,
        "/v1/snapshot is {} bytes",
        snapshot.len()
    );
    let g = &v["tracebacks"][0];
    assert!(g["exception"].as_str().unwrap().starts_with("Error"), "{g}");
    assert!(
        g["lines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l.as_str().unwrap().len() <= 1024)
    );
    assert!(truncated >= 1.0, "cut lines are counted: {truncated}");
}

#[test]
fn orphans_are_measured_and_reaped() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("orphan.pid");
    // inner.sh leaves a Python process behind that holds 64 MiB, and exits: the process is
    // re-parented to the subreaper, the sidecar.
    std::fs::write(
        dir.path().join("inner.sh"),
        format!(
            "python3 -c 'import time\nb = bytearray(64 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1\ntime.sleep(120)' &\necho $! > {}\n",
            pidfile.display()
        ),
    )
    .unwrap();
    let outer = format!("sh {}/inner.sh; read line", dir.path().display());
    let port = free_port();
    let mut child = sidecar(port, &["--", "sh", "-c", &outer])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let sidecar_pid = child.id();
    let ppid = |pid: u32| -> Option<u32> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        stat.rsplit_once(") ")?.1.split(' ').nth(1)?.parse().ok()
    };
    let orphan: u32 = wait_until(Duration::from_secs(10), || {
        let pid: u32 = std::fs::read_to_string(&pidfile)
            .ok()?
            .trim()
            .parse()
            .ok()?;
        (ppid(pid)? == sidecar_pid).then_some(pid)
    })
    .expect("the orphan is re-parented to the sidecar");
    // Its 64 MiB count in the command's memory.
    let rss = wait_until(Duration::from_secs(15), || {
        metric(port, "agentlens_memory_rss_bytes{container=\"main\"}").filter(|v| *v > 64e6)
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(orphan as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // Reaped: no zombie left behind (a zombie keeps its /proc entry).
    let reaped = wait_until(Duration::from_secs(10), || {
        (!Path::new(&format!("/proc/{orphan}")).exists()).then_some(())
    });
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    let status = child.wait().unwrap();
    assert!(rss.is_some(), "the orphan's memory is measured");
    assert!(reaped.is_some(), "the orphan was not reaped");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn secrets_in_a_traceback_are_passed_through_but_never_served() {
    let cmd = r#"printf 'Traceback (most recent call last):\n  File "/app/db.py", line 9, in connect\n    engine = create_engine("postgresql://app:Hunter2Secret@db:5432/x")\nsqlalchemy.exc.OperationalError: password=Hunter2Secret refused\nERROR retry with api_key=Hunter2Secret\n' >&2; read line"#;
    let port = free_port();
    let mut child = sidecar(port, &["--", "sh", "-c", cmd])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let served = wait_until(Duration::from_secs(10), || {
        let (_, t) = http_get(port, "/v1/tracebacks")?;
        let (_, s) = http_get(port, "/v1/snapshot")?;
        let (_, m) = http_get(port, "/metrics")?;
        (t.contains("OperationalError") && t.contains("retry with")).then_some(t + &s + &m)
    })
    .expect("the traceback is served");
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    let mut passed = String::new();
    err.read_to_string(&mut passed).unwrap();
    child.wait().unwrap();
    assert!(
        passed.contains("app:Hunter2Secret@db"),
        "the agent's output is unchanged"
    );
    assert!(!served.contains("Hunter2Secret"), "{served}");
    assert!(served.contains("postgresql://app:[REDACTED:password]@db:5432/x"));
}

#[test]
fn the_api_needs_the_token_whose_hash_the_sidecar_was_given() {
    let token = "tok-8f1e2d3c4b5a";
    let hash = agentlens_sidecar::auth::token_sha256_hex(token);
    let port = free_port();
    let mut child = sidecar(port, &["--api-token-sha256", &hash, "--", "sleep", "30"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let metrics = wait_until(Duration::from_secs(10), || http_get(port, "/metrics"));
    let bearer = format!("Bearer {token}");
    let with = |path: &str, auth: &str| {
        http_request(port, "GET", path, &[("Authorization", auth)], b"").map(|(s, _)| s)
    };
    let cases = [
        ("/v1/snapshot", None, 401),
        ("/v1/snapshot", Some(bearer.as_str()), 200),
        ("/v1/snapshot", Some("Bearer wrong-token"), 401),
        ("/v1/tracebacks", None, 401),
        ("/v1/tracebacks", Some(bearer.as_str()), 200),
        ("/v1/inventory", None, 401),
        ("/healthz", None, 200),
    ];
    let got: Vec<_> = cases
        .iter()
        .map(|(path, auth, _)| match auth {
            Some(a) => with(path, a),
            None => http_get(port, path).map(|(s, _)| s),
        })
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(metrics.map(|(s, _)| s), Some(200), "/metrics stays open");
    for ((path, auth, want), got) in cases.iter().zip(got) {
        assert_eq!(got, Some(*want), "{path} with {auth:?}");
    }
}

#[test]
fn one_oom_on_stderr_and_in_an_otlp_span_is_one_event() {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/logscan/torch-cuda-oom-h200.stderr");
    let text = std::fs::read_to_string(&fixture).unwrap();
    let oom_line = text
        .lines()
        .find(|l| l.starts_with("torch.OutOfMemoryError: "))
        .unwrap();
    let message = oom_line.trim_start_matches("torch.OutOfMemoryError: ");
    let (port, oport) = (free_port(), free_port());
    let cmd = format!("cat '{}' >&2; read line", fixture.display());
    let mut child = sidecar(
        port,
        &[
            "--otlp-listen",
            &format!("127.0.0.1:{oport}"),
            "--",
            "sh",
            "-c",
            &cmd,
        ],
    )
    .stdin(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let log = "agentlens_gpu_oom_detections_total{container=\"main\",source=\"log\"}";
    wait_until(Duration::from_secs(10), || {
        metric(port, log).filter(|v| *v == 1.0)
    })
    .expect("the stderr OOM is detected");
    // The same error, exported by the agent's tracer as a span exception event.
    let span = serde_json::json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "trainer"}}]},
        "scopeSpans": [{"spans": [{
            "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
            "name": "train_step", "kind": 1,
            "startTimeUnixNano": "1795759486000000000", "endTimeUnixNano": "1795759487000000000",
            "status": {"code": 2},
            "events": [{"name": "exception", "timeUnixNano": "1795759487000000000", "attributes": [
                {"key": "exception.type", "value": {"stringValue": "torch.OutOfMemoryError"}},
                {"key": "exception.message", "value": {"stringValue": message}}
            ]}]
        }]}]
    }]});
    let (status, _) = http_request(
        oport,
        "POST",
        "/v1/traces",
        &[("Content-Type", "application/json")],
        span.to_string().as_bytes(),
    )
    .unwrap();
    assert_eq!(status, 200);
    let otlp = "agentlens_gpu_oom_detections_total{container=\"main\",source=\"otlp\"}";
    wait_until(Duration::from_secs(10), || {
        metric(port, otlp).filter(|v| *v == 1.0)
    })
    .expect("the span's OOM is detected");
    // The endpoints read the view the analysis thread publishes (at most PUBLISH_EVERY behind
    // the counters): wait until it holds the event, then compare exactly.
    let snap = wait_until(Duration::from_secs(10), || {
        let (_, body) = http_get(port, "/v1/snapshot")?;
        let snap: agentlens_crds::Snapshot = serde_json::from_str(&body).ok()?;
        (!snap.gpu_oom_events.is_empty() && snap.containers.iter().any(|c| c.gpu_oom_events > 0))
            .then_some(snap)
    })
    .expect("the snapshot shows the OOM");
    let events = metric(
        port,
        "agentlens_gpu_oom_events_total{container=\"main\",source=\"log\"}",
    );
    let otlp_events = metric(
        port,
        "agentlens_gpu_oom_events_total{container=\"main\",source=\"otlp\"}",
    );
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    child.wait().unwrap();
    assert_eq!((events, otlp_events), (Some(1.0), Some(0.0)));
    let main: Vec<_> = snap
        .containers
        .iter()
        .filter(|c| c.name == "main")
        .collect();
    assert_eq!(main.len(), 1, "{:?}", snap.containers);
    assert_eq!(main[0].gpu_oom_events, 1);
    assert_eq!(snap.gpu_oom_events.len(), 1);
}

/// Issue 14's storm: ten separate CUDA OOM tracebacks (the real H200 output, whole traceback
/// each time) printed by the agent a few hundred milliseconds apart are ten events, not one
/// merged episode, through the built binary.
#[test]
fn ten_separate_oom_tracebacks_are_ten_events() {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/logscan/torch-cuda-oom-h200.stderr");
    let port = free_port();
    let cmd = format!(
        "for i in 1 2 3 4 5 6 7 8 9 10; do cat '{}' >&2; sleep 0.3; done; read line",
        fixture.display()
    );
    let mut child = sidecar(port, &["--", "sh", "-c", &cmd])
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let events = "agentlens_gpu_oom_events_total{container=\"main\",source=\"log\"}";
    let tracebacks = "agentlens_tracebacks_total{container=\"main\",language=\"python\"}";
    let seen = wait_until(Duration::from_secs(30), || {
        metric(port, tracebacks).filter(|v| *v >= 10.0)
    });
    let got = metric(port, events);
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    child.wait().unwrap();
    assert_eq!(seen, Some(10.0), "ten tracebacks analysed");
    assert_eq!(got, Some(10.0), "one GPU OOM event per traceback");
}
