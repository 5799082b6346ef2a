//! The built `agentlens-sidecar run` binary against real child processes, a real `promtool`
//! and a real Prometheus server on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

mod common;
use common::{Reaped, free_port, http_get, tool, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_agentlens-sidecar");

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/logscan")
        .join(name)
}

fn sidecar(port: u16, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(["run", "--gpu", "off", "--interval-ms", "200", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .args(args)
        .stdin(Stdio::null());
    c
}

/// The sidecar over `sh -c 'SCRIPT; read line'`: the command lives until the test drops the
/// returned guard (which closes its stdin and kills the sidecar), however slow the machine.
fn held(port: u16, script: &str) -> Reaped {
    let cmd = format!("{script}; read line");
    let child = sidecar(port, &["--", "sh", "-c", &cmd])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    Reaped(child)
}

fn run_to_end(args: &[&str]) -> Output {
    sidecar(free_port(), args).output().unwrap()
}

#[test]
fn output_passes_through_byte_for_byte() {
    // Invalid UTF-8, a carriage return, a NUL, and no newline at the end.
    let out = run_to_end(&[
        "--",
        "sh",
        "-c",
        r"printf 'a\377b\r\nline2\000x'; printf 'err\376\n' >&2; printf 'tail' >&2",
    ]);
    assert_eq!(out.stdout, b"a\xffb\r\nline2\x00x");
    assert_eq!(out.stderr, b"err\xfe\ntail");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn exit_codes_are_the_commands() {
    assert_eq!(
        run_to_end(&["--", "sh", "-c", "exit 7"]).status.code(),
        Some(7)
    );
    // Killed by a signal: 128 + signal, as shells report it.
    assert_eq!(
        run_to_end(&["--", "sh", "-c", "kill -TERM $$"])
            .status
            .code(),
        Some(143)
    );
    let missing = run_to_end(&["--", "/nonexistent/agent"]);
    assert_eq!(missing.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot run /nonexistent/agent"));
}

#[test]
fn shell_pipelines_work() {
    let out = run_to_end(&[
        "--",
        "sh",
        "-c",
        "printf 'b\\na\\nc\\n' | sort | tr a-z A-Z",
    ]);
    assert_eq!(out.stdout, b"A\nB\nC\n");
}

#[test]
fn sigterm_is_forwarded_to_the_command() {
    let mut child = sidecar(
        free_port(),
        &[
            "--",
            "sh",
            "-c",
            "trap 'echo got TERM; exit 0' TERM; echo started; while :; do sleep 0.1; done",
        ],
    )
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 8];
    stdout.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"started\n");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "got TERM\n");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_10_mb_line_is_cut_and_counted_and_the_command_is_unaffected() {
    let port = free_port();
    let mut child = sidecar(
        port,
        &[
            "--",
            "sh",
            "-c",
            "head -c 10485760 /dev/zero | tr '\\0' x; echo; echo done; read line; exit 0",
        ],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let mut out = Vec::new();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        stdout.read_to_end(&mut out).unwrap();
        out
    });
    // The command waits on its stdin until the count was seen (or the wait gave up).
    let stdin = child.stdin.take();
    let metrics = wait_until(Duration::from_secs(30), || {
        let (_, body) = http_get(port, "/metrics")?;
        body.contains("agentlens_log_lines_truncated_total{container=\"main\",stream=\"stdout\"} 1")
            .then_some(body)
    });
    drop(stdin);
    let status = child.wait().unwrap();
    let out = reader.join().unwrap();
    assert_eq!(
        out.len(),
        10 * 1024 * 1024 + "\ndone\n".len(),
        "passed through whole"
    );
    assert!(metrics.is_some(), "truncated line counted");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn endpoints_answer_and_metrics_pass_promtool() {
    let port = free_port();
    let child = held(port, "true");
    let ready = wait_until(Duration::from_secs(30), || {
        http_get(port, "/readyz").filter(|(s, _)| *s == 200)
    });
    assert!(ready.is_some());
    assert_eq!(http_get(port, "/healthz").unwrap().0, 200);
    let (_, snap) = http_get(port, "/v1/snapshot").unwrap();
    let snap: agentlens_crds::Snapshot = serde_json::from_str(&snap).unwrap();
    assert_eq!(snap.gpu.state, agentlens_crds::snapshot::GpuState::Disabled);
    assert!(snap.gpu.reason.unwrap().contains("--gpu off"));
    assert_eq!(snap.containers[0].name, "main");
    assert!(snap.containers[0].rss_bytes > 0);
    let (status, tb) = http_get(port, "/v1/tracebacks").unwrap();
    assert_eq!(status, 200);
    assert!(tb.contains("\"tracebacks\":[]"));
    let (_, metrics) = http_get(port, "/metrics").unwrap();
    // Counters exist at zero before anything happened.
    assert!(
        metrics.contains("agentlens_gpu_oom_events_total{container=\"main\",source=\"log\"} 0")
    );
    assert!(
        metrics.contains("agentlens_tracebacks_total{container=\"main\",language=\"python\"} 0")
    );
    // The scrape is recorded for the operator's maturity check OBS-6 (none before it).
    assert!(snap.metrics_scraped_at.is_none());
    let (_, after) = http_get(port, "/v1/snapshot").unwrap();
    let after: agentlens_crds::Snapshot = serde_json::from_str(&after).unwrap();
    let scraped = after
        .metrics_scraped_at
        .expect("metricsScrapedAt after a scrape");
    assert!((after.collected_at.0.as_second() - scraped.0.as_second()).abs() < 5);
    common::promtool_check_metrics(&metrics);
    drop(child);
}

#[test]
fn without_nvml_there_are_no_gpu_series_and_the_snapshot_says_why() {
    let port = free_port();
    let mut c = Command::new(BIN);
    c.args(["run", "--interval-ms", "200", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["--", "sh", "-c", "read line"])
        .stdin(Stdio::piped());
    let child = Reaped(c.spawn().unwrap());
    let snap = wait_until(Duration::from_secs(30), || {
        let (_, body) = http_get(port, "/v1/snapshot")?;
        let s: agentlens_crds::Snapshot = serde_json::from_str(&body).ok()?;
        (s.gpu.reason.as_deref() != Some("not sampled yet")).then_some(s)
    })
    .unwrap();
    let (_, metrics) = http_get(port, "/metrics").unwrap();
    drop(child);
    if snap.gpu.state == agentlens_crds::snapshot::GpuState::Available {
        // A GPU machine: the same endpoints say the opposite, and the series are there.
        assert!(metrics.contains("agentlens_gpu_available 1"), "{metrics}");
        assert!(
            metrics.contains("agentlens_gpu_memory_total_bytes{"),
            "{metrics}"
        );
    } else {
        assert_eq!(
            snap.gpu.state,
            agentlens_crds::snapshot::GpuState::Unavailable
        );
        assert!(snap.gpu.reason.unwrap().contains("NVML"));
        assert!(metrics.contains("agentlens_gpu_available 0"), "{metrics}");
        assert!(
            !metrics.contains("agentlens_gpu_memory_used_bytes{"),
            "{metrics}"
        );
    }
}

/// Queries Prometheus's HTTP API and returns the first sample value.
fn prom_value(port: u16, query: &str) -> Option<f64> {
    let q: String = query
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let (status, body) = http_get(port, &format!("/api/v1/query?query={q}"))?;
    if status != 200 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

#[test]
fn a_real_prometheus_sees_the_oom_and_fires_the_gpu_oom_alert() {
    let Some(prometheus) = tool("prometheus") else {
        return;
    };
    let sidecar_port = free_port();
    let prom_port = free_port();
    let dir = std::env::temp_dir().join(format!("agentlens-prom-{}", std::process::id()));
    // The project's alert rules, as users load them into a Prometheus without the operator.
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/agentlens.rules.yaml");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n- {rules}\nscrape_configs:\n- job_name: agentlens-sidecar\n  static_configs:\n  - targets: ['127.0.0.1:{sidecar_port}']\n",
            rules = rules.display()
        ),
    )
    .unwrap();
    let mut prom = Command::new(prometheus)
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    // The child waits (a line on its stdin) until Prometheus has scraped the counter at 0,
    // then prints the real H200 OOM traceback and waits on its stdin again: it lives until
    // the test is done with it.
    let oom = data("torch-cuda-oom-h200.stderr");
    let script = format!("read go; cat '{}' >&2; read line", oom.display());
    let mut agent = Reaped(
        sidecar(sidecar_port, &["--", "sh", "-c", &script])
            .stdin(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let before = wait_until(Duration::from_secs(30), || {
        prom_value(prom_port, "agentlens_gpu_oom_events_total{source=\"log\"}")
    });
    agent.0.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    let after = wait_until(Duration::from_secs(20), || {
        prom_value(
            prom_port,
            "increase(agentlens_gpu_oom_events_total{source=\"log\"}[1m])",
        )
        .filter(|v| *v > 0.0)
    });
    let tracebacks = wait_until(Duration::from_secs(10), || {
        prom_value(prom_port, "agentlens_tracebacks_total{language=\"python\"}")
            .filter(|v| *v >= 1.0)
    });
    let firing = wait_until(Duration::from_secs(20), || {
        let (status, body) = http_get(prom_port, "/api/v1/alerts")?;
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        let alerts = v["data"]["alerts"].as_array()?;
        alerts
            .iter()
            .find(|a| {
                status == 200
                    && a["labels"]["alertname"] == "AgentLensGpuOutOfMemory"
                    && a["state"] == "firing"
            })
            .cloned()
    });
    drop(agent);
    let _ = prom.kill();
    let _ = prom.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        before,
        Some(0.0),
        "the OOM counter was scraped at 0 before the OOM"
    );
    assert!(
        after.is_some(),
        "increase() over the counter saw the first OOM"
    );
    assert_eq!(tracebacks, Some(1.0));
    let alert = firing.expect("Prometheus reports AgentLensGpuOutOfMemory as firing");
    // One OOM warns (a repeated one pages); the alert names the container the sidecar saw.
    assert_eq!(alert["labels"]["severity"], "warning");
    assert_eq!(alert["labels"]["container"], "main");
    assert!(
        alert["annotations"]["runbook_url"]
            .as_str()
            .unwrap()
            .ends_with("docs/runbooks.md#agentlensgpuoutofmemory")
    );
}
