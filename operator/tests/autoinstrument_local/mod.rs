//! The pieces of zero-code instrumentation run without containers, shared by
//! `tests/autoinstrument.rs` and `examples/bench_autoinstrument.rs`: an AgentDeployment and pods
//! of the planner/researcher system, admitted by the webhook's own `decide`; the patched
//! container's environment resolved as the kubelet does; the init container run with the real
//! `agentlens-sidecar copy-tree`; the stub OpenAI-compatible server's usage table.
// A harness: a failed set-up step should stop it loudly. Each includer uses a subset.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agentlens_crds::AgentDeployment;
use agentlens_crds::autoinstrument::InstrumentProvider;
use agentlens_operator::inject::autoinstrument::{
    IMAGE_SOURCE_DIR, INIT_CONTAINER_NAME, MOUNT_PATH,
};
use agentlens_operator::inject::sidecar::OTLP_PORT;
use agentlens_operator::inject::{Decision, InjectConfig, decide};
use agentlens_tests::tools::{Tool, binary as workspace_binary, installed, missing as required};
use k8s_openapi::api::core::v1::{Container, Pod};
use serde_json::{Value, json};

/// Namespace of the pods and the AgentDeployment.
pub const NAMESPACE: &str = "agents";
/// The AgentDeployment (the system) the agents belong to.
pub const SYSTEM: &str = "research-desk";
/// Node name the downward API gives `spec.nodeName`.
pub const NODE: &str = "node-a";

/// A file of `tests/data/autoinstrument`.
pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/autoinstrument")
        .join(name)
}

/// The system with `provider`, and the researcher's own `autoInstrument` when given.
pub fn agentdeployment(provider: InstrumentProvider, researcher: Option<Value>) -> AgentDeployment {
    let mut researcher_agent = json!({
        "name": "researcher",
        "selector": {"matchLabels": {"app.kubernetes.io/name": "researcher"}}
    });
    if let Some(own) = researcher {
        researcher_agent["autoInstrument"] = own;
    }
    serde_json::from_value(json!({
        "apiVersion": "agentlens.dev/v1alpha1",
        "kind": "AgentDeployment",
        "metadata": {"name": SYSTEM, "namespace": NAMESPACE},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/part-of": SYSTEM}},
            "sidecar": {"otlp": {"enabled": true, "autoInstrument": {"language": "python", "provider": provider.as_str()}}},
            "agents": [
                {"name": "planner", "selector": {"matchLabels": {"app.kubernetes.io/name": "planner"}}, "talksTo": ["researcher"]},
                researcher_agent
            ]
        }
    }))
    .unwrap()
}

/// A pod of `agent` as a Deployment would create it, with the app's own settings in `env`.
pub fn pod(agent: &str, env: &[(&str, String)]) -> Value {
    let env: Vec<Value> = env
        .iter()
        .map(|(k, v)| json!({"name": k, "value": v}))
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": format!("{agent}-6d4b9c7f5-x2k8q"),
            "namespace": NAMESPACE,
            "labels": {"app.kubernetes.io/name": agent, "app.kubernetes.io/part-of": SYSTEM}
        },
        "spec": {
            "containers": [{
                "name": "agent",
                "image": "python:3.11-slim",
                "command": ["python", format!("/app/{agent}.py")],
                "env": env
            }]
        }
    })
}

/// Admits `pod` and returns the patched pod and the warnings.
pub fn admit(pod: &Value, ad: &AgentDeployment) -> (Value, Vec<String>) {
    let cfg = InjectConfig::default();
    match decide(pod, NAMESPACE, std::slice::from_ref(ad), &cfg).unwrap() {
        Decision::Inject {
            patch, warnings, ..
        } => {
            let patch: json_patch::Patch = serde_json::from_value(patch).unwrap();
            let mut doc = pod.clone();
            json_patch::patch(&mut doc, &patch).unwrap();
            (doc, warnings)
        }
        Decision::Skip(why) => panic!("not injected: {why}"),
    }
}

/// The patched pod's app container.
pub fn app_container(patched: &Value) -> Container {
    let pod: Pod = serde_json::from_value(patched.clone()).unwrap();
    pod.spec.unwrap().containers.remove(0)
}

/// The patched pod's auto-instrumentation init container, when there is one.
pub fn init_container(patched: &Value) -> Option<Container> {
    let pod: Pod = serde_json::from_value(patched.clone()).unwrap();
    pod.spec
        .unwrap()
        .init_containers
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.name == INIT_CONTAINER_NAME)
}

/// The container's environment as the kubelet gives it to the process: downward-API fields of
/// this pod, `$(NAME)` expanded from the variables defined before, then the two local mappings
/// (the shared volume's mount path, the sidecar's OTLP port).
pub fn process_env(
    c: &Container,
    pod_name: &str,
    volume: &Path,
    otlp_port: u16,
) -> Vec<(String, String)> {
    let mount = c
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.name == INIT_CONTAINER_NAME)
        .expect("the app container mounts the shared volume");
    assert_eq!(mount.mount_path, MOUNT_PATH);
    let mut out: Vec<(String, String)> = Vec::new();
    for e in c.env.iter().flatten() {
        let value = match (&e.value, &e.value_from) {
            (Some(v), _) => {
                let mut v = v.clone();
                for (name, earlier) in &out {
                    v = v.replace(&format!("$({name})"), earlier);
                }
                v
            }
            (None, Some(from)) => match from.field_ref.as_ref().map(|f| f.field_path.as_str()) {
                Some("metadata.name") => pod_name.to_string(),
                Some("spec.nodeName") => NODE.to_string(),
                other => panic!("{}: unexpected reference {other:?}", e.name),
            },
            (None, None) => String::new(),
        };
        out.push((e.name.clone(), value));
    }
    let local_mount = volume.to_str().unwrap();
    out.into_iter()
        .map(|(k, v)| {
            let v = v.replace(MOUNT_PATH, local_mount).replace(
                &format!("127.0.0.1:{OTLP_PORT}"),
                &format!("127.0.0.1:{otlp_port}"),
            );
            (k, v)
        })
        .collect()
}

/// Runs the init container's arguments with the real sidecar binary, the image's layout and the
/// volume mapped to local directories.
pub fn run_init_container(sidecar: &Path, init: &Container, layout: &Path, volume: &Path) {
    let args: Vec<String> = init
        .args
        .clone()
        .unwrap()
        .into_iter()
        .map(|a| {
            if a == IMAGE_SOURCE_DIR {
                layout.to_str().unwrap().to_string()
            } else if a == MOUNT_PATH {
                volume.to_str().unwrap().to_string()
            } else {
                a
            }
        })
        .collect();
    let out = Command::new(sidecar).args(&args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    agentlens_tests::net::free_port()
}

/// The body of a 200 answer.
pub fn get(port: u16, path: &str) -> Option<String> {
    agentlens_tests::net::http_get(port, path)
        .and_then(|(code, body)| (code == 200).then_some(body))
}

/// Polls `f` every 100 ms until it gives a value; panics after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Kills and reaps its child when dropped, so a failing assertion leaves nothing running.
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A release sidecar (`run` over a long sleep, with the OTLP receiver) and the stub
/// OpenAI-compatible server, both answering; stopped when dropped.
pub struct SidecarAndStub {
    /// The sidecar's API port (`/metrics`, `/v1/snapshot`).
    pub api: u16,
    /// The sidecar's OTLP/HTTP port.
    pub otlp: u16,
    /// The stub's port.
    pub stub: u16,
    _sidecar: Reaped,
    _stub: Reaped,
}

/// Starts [`SidecarAndStub`] (the stub writes its port to a file in `dir`); each process
/// pinned to `cpus` with `taskset` when given (the bench keeps them off the agent's CPU).
pub fn start_sidecar_and_stub(t: &Tools, dir: &Path, cpus: Option<&str>) -> SidecarAndStub {
    let pinned = |program: &Path| {
        let mut c = match cpus {
            Some(list) => {
                let mut c = Command::new("taskset");
                c.args(["-c", list]).arg(program);
                c
            }
            None => Command::new(program),
        };
        c.stdin(Stdio::null());
        c
    };
    let (api, otlp) = (free_port(), free_port());
    let sidecar = Reaped(
        pinned(&t.sidecar)
            .args(["run", "--gpu", "off", "--listen"])
            .arg(format!("127.0.0.1:{api}"))
            .arg("--otlp-listen")
            .arg(format!("127.0.0.1:{otlp}"))
            .args(["--", "sleep", "3600"])
            .spawn()
            .unwrap(),
    );
    let stub_port_file = dir.join("stub.port");
    let stub = Reaped(
        pinned(&t.python)
            .arg(data("stub_openai.py"))
            .arg(&stub_port_file)
            .spawn()
            .unwrap(),
    );
    wait_for("the sidecar", Duration::from_secs(20), || {
        get(api, "/healthz")
    });
    let stub_port = wait_for("the stub", Duration::from_secs(20), || {
        read_port(&stub_port_file)
    });
    SidecarAndStub {
        api,
        otlp,
        stub: stub_port,
        _sidecar: sidecar,
        _stub: stub,
    }
}

/// The port a helper wrote to `file`, once written.
pub fn read_port(file: &Path) -> Option<u16> {
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

/// `agentlens_genai_tokens_total` series of a `/metrics` text: (model, kind) → value.
pub fn token_series(metrics: &str) -> BTreeMap<(String, String), u64> {
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix("agentlens_genai_tokens_total{"))
        .filter_map(|l| {
            let (labels, value) = l.split_once("} ")?;
            let label = |name: &str| {
                let start = labels.find(&format!("{name}=\""))? + name.len() + 2;
                let end = labels[start..].find('"')? + start;
                Some(labels[start..end].to_string())
            };
            Some((
                (label("model")?, label("kind")?),
                value.trim().parse().ok()?,
            ))
        })
        .collect()
}

/// What the agents run with.
pub struct Tools {
    /// The built `agentlens-sidecar`.
    pub sidecar: PathBuf,
    /// The agents' interpreter (`.tools/autoinstrument/agent-venv`).
    pub python: PathBuf,
}

/// The sidecar binary and the agents' interpreter, or `None` (said why) when missing.
pub fn tools() -> Option<Tools> {
    let Some(sidecar) = workspace_binary("AGENTLENS_SIDECAR_BIN", "agentlens-sidecar") else {
        required("the agentlens-sidecar binary (cargo build -p agentlens-sidecar)");
        return None;
    };
    let python = match installed("autoinstrument/agent-venv/bin/python") {
        Tool::Found(p) => p,
        Tool::Skip(why) => {
            eprintln!("skipped: {why}");
            return None;
        }
    };
    Some(Tools { sidecar, python })
}

/// The built layout of `provider` (`make autoinstrument-tools`), or `None` when missing.
pub fn layout(provider: InstrumentProvider) -> Option<PathBuf> {
    match installed(&format!("autoinstrument/{}", provider.as_str())) {
        Tool::Found(p) => Some(p),
        Tool::Skip(why) => {
            eprintln!("skipped: {why}");
            None
        }
    }
}

/// The stub's usage table: request model → (response model, input, output).
pub fn stub_usage(python: &Path) -> BTreeMap<String, (String, u64, u64)> {
    let out = Command::new(python)
        .arg(data("stub_openai.py"))
        .arg("--usage")
        .output()
        .unwrap();
    let table: BTreeMap<String, Value> = serde_json::from_slice(&out.stdout).unwrap();
    table
        .into_iter()
        .map(|(k, v)| {
            (
                k,
                (
                    v["model"].as_str().unwrap().to_string(),
                    v["input"].as_u64().unwrap(),
                    v["output"].as_u64().unwrap(),
                ),
            )
        })
        .collect()
}

/// `python script args…` with exactly `env` (and a plain `PATH`), stdin closed.
pub fn spawn_agent<A: AsRef<std::ffi::OsStr>>(
    python: &Path,
    script: &str,
    env: &[(String, String)],
    args: &[A],
) -> Command {
    let mut cmd = Command::new(python);
    cmd.arg(data(script))
        .args(args)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null());
    cmd
}
