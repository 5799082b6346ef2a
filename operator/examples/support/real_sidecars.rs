//! Sidecars for the operator benchmarks that serve what sidecars in a real cluster serve: three
//! built `agentlens-sidecar run` processes on 127.0.0.1, .2 and .3 (one port, as every pod's
//! sidecar listens on 9477), each observing a different Python agent environment of this machine
//! (the Debian root's dpkg database, hundreds of packages, and one of `.tools`' Python
//! environments: the test venv, the agent venv with the openlit layout, the agent venv with the
//! openinference layout), so three distinct inventory digests and package lists. Each agent
//! prints the real H200 CUDA OOM report (`sidecar/tests/data/logscan`) to stderr; each sidecar
//! gets the OpenTelemetry SDK's two-agent conversation (`sidecar/tests/data/otlp/two-agents.pb`)
//! on its OTLP receiver and fingerprints a model directory (a generated sparse safetensors
//! file: the repository has no real model file). Pods get one of the three IPs as `podIP`.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agentlens_crds::Snapshot;
use agentlens_tests::tools::{Tool, installed};

/// Kills and reaps its child when dropped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The running sidecars.
pub struct RealSidecars {
    /// Their API port, the same on each IP.
    pub port: u16,
    /// Their IPs, for the pods' `podIP`.
    pub ips: Vec<String>,
    /// One snapshot of each, as served once everything above was in it.
    #[allow(dead_code)] // read by bench_operator, not bench_emulator
    pub snapshots: Vec<Snapshot>,
    _children: Vec<Reaped>,
    _dir: tempfile::TempDir,
}

fn tool(relative: &str) -> PathBuf {
    match installed(relative) {
        Tool::Found(p) => p,
        Tool::Skip(why) => panic!("{why} (make tools autoinstrument-tools)"),
    }
}

/// The agent: prints the real OOM report (with its Python traceback) and stays up, so that its
/// process, environment and packages are there to inventory.
const AGENT: &str = "import sys, time\nsys.stderr.write(open(sys.argv[1]).read())\nsys.stderr.flush()\ntime.sleep(86400)\n";

fn data(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../sidecar/tests/data")
        .join(relative)
}

/// A model directory: a safetensors file of a 1.5B-parameter BF16 shape, sparse (4 KiB on
/// disk) and over 1 GiB, so fingerprinted by its header as a real checkpoint is.
fn model_dir(dir: &Path) -> std::io::Result<PathBuf> {
    let models = dir.join("models/qwen2.5-1.5b-instruct");
    std::fs::create_dir_all(&models)?;
    let header = br#"{"__metadata__":{"format":"pt","name":"Qwen2.5-1.5B-Instruct"},"model.embed_tokens.weight":{"dtype":"BF16","shape":[151936,1536],"data_offsets":[0,466747392]},"model.layers.weight":{"dtype":"BF16","shape":[1310720000],"data_offsets":[466747392,3088187392]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    let file = models.join("model.safetensors");
    std::fs::write(&file, &bytes)?;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)?
        .set_len(bytes.len() as u64 + 3_088_187_392)?;
    Ok(models)
}

fn get_snapshot(addr: SocketAddr) -> Option<Snapshot> {
    let (code, body) =
        agentlens_tests::net::http_request_to(addr, "GET", "/v1/snapshot", &[], b"")?;
    (code == 200).then(|| serde_json::from_str(&body).ok())?
}

/// Starts the sidecars and waits until each serves a snapshot with an inventory, the OOM's
/// traceback and the GenAI spans.
pub fn start(sidecar: &Path) -> RealSidecars {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let models = model_dir(dir.path()).expect("the model directory");
    let agent_venv = tool("autoinstrument/agent-venv/bin/python");
    let environments: [(PathBuf, Option<PathBuf>); 3] = [
        (tool("venv/bin/python"), None),
        (agent_venv.clone(), Some(tool("autoinstrument/openlit"))),
        (agent_venv, Some(tool("autoinstrument/openinference"))),
    ];
    let port = agentlens_tests::net::free_port();
    let oom = data("logscan/torch-cuda-oom-h200.stderr");
    let spans = std::fs::read(data("otlp/two-agents.pb")).expect("the OTLP fixture");
    let mut children = Vec::new();
    let mut ips = Vec::new();
    let mut otlp_ports = Vec::new();
    for (i, (python, path)) in environments.iter().enumerate() {
        let ip = format!("127.0.0.{}", i + 1);
        let otlp = agentlens_tests::net::free_port();
        let mut cmd = Command::new(sidecar);
        cmd.args(["run", "--gpu", "off", "--listen"])
            .arg(format!("{ip}:{port}"))
            .arg("--otlp-listen")
            .arg(format!("{ip}:{otlp}"))
            .arg("--model-path")
            .arg(&models)
            .arg("--")
            .arg(python)
            .args(["-c", AGENT])
            .arg(&oom)
            .env("AGENTLENS_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(p) = path {
            cmd.env("PYTHONPATH", p);
        }
        children.push(Reaped(cmd.spawn().expect("the sidecar starts")));
        ips.push(ip);
        otlp_ports.push(otlp);
    }
    let mut snapshots = Vec::new();
    for (ip, otlp) in ips.iter().zip(otlp_ports) {
        let ip: IpAddr = ip.parse().expect("an IP");
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut posted = false;
        let snapshot = loop {
            assert!(
                Instant::now() < deadline,
                "the sidecar on {ip} never served a full snapshot"
            );
            std::thread::sleep(Duration::from_millis(200));
            if !posted {
                posted = agentlens_tests::net::http_request_to(
                    SocketAddr::new(ip, otlp),
                    "POST",
                    "/v1/traces",
                    &[("Content-Type", "application/x-protobuf")],
                    &spans,
                )
                .is_some_and(|(code, _)| code == 200);
                continue;
            }
            let Some(s) = get_snapshot(SocketAddr::new(ip, port)) else {
                continue;
            };
            let full = s
                .inventory
                .iter()
                .any(|i| i.packages > 0 && !i.models.is_empty())
                && !s.tracebacks.is_empty()
                && s.genai.as_ref().is_some_and(|g| g.spans > 0);
            if full {
                break s;
            }
        };
        snapshots.push(snapshot);
    }
    RealSidecars {
        port,
        ips,
        snapshots,
        _children: children,
        _dir: dir,
    }
}
