//! `scripts/kind-e2e.sh install demo` — the quickstart after `kind create cluster` and `kind
//! load` — run unchanged against kube-emulator with the real helm and kubectl: the chart
//! installed by `helm upgrade --install` (its release stored in a Secret), the operator
//! awaited, a namespace created and then labelled, the chart upgraded to let its sidecars read
//! logs, an example applied, its AgentDeployment's status awaited, `kubectl get agd` and
//! `kubectl agentlens inspect` printed. Then the CRD upgrade path of the upgrade notes
//! (`agentlens-operator crds | kubectl apply --server-side --force-conflicts -f -`).
//!
//! The emulator runs no controllers and no kubelet, so this test stands in for them where the
//! script waits on them: once the chart's Deployment exists it starts `spec.replicas` operator
//! processes with the Deployment's own arguments, environment, ServiceAccount (the kubeconfig
//! the emulator writes for it) and mounted Secret, on loopback ports instead of the pod's, and
//! marks the Deployment Available when every one answers `/readyz`. Not exercised here: image
//! pulls, pods created from the example's Deployments (so no sidecar injection at pod
//! creation: `operator/tests/operator_e2e.rs` and the emulator's admission tests cover the
//! webhook), kind itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agentlens_tests::emulator_process::{self, Emulator};
use agentlens_tests::net::free_port_on;
use agentlens_tests::tools::{binary, helm, kubectl, missing};
use agentlens_tests::workspace_root;
use base64::Engine;
use serde_json::{Value, json};

/// How long the whole script may take (its own waits are bounded by AGENTLENS_TIMEOUT).
const DEADLINE: Duration = Duration::from_secs(300);
const SCRIPT: &str = "scripts/kind-e2e.sh";
const OPERATOR_SELECTOR: &str = "agentlens.dev/component=operator";

/// The operator binary: `$AGENTLENS_OPERATOR_BIN` (make test: the release build), else beside
/// this test's `target/<profile>/`; `kubectl-agentlens` is built beside it.
fn operator_binary() -> Option<PathBuf> {
    binary("AGENTLENS_OPERATOR_BIN", "agentlens-operator")
}

fn kubectl_json(kubectl: &Path, kubeconfig: &Path, args: &[&str]) -> Option<Value> {
    let out = Command::new(kubectl)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .args(["-o", "json"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).ok())?
}

/// `GET /readyz` on plain HTTP: the status code.
fn readyz(addr: &str) -> Option<u16> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    std::io::Write::write_all(
        &mut s,
        b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.split_whitespace().nth(1)?.parse().ok()
}

/// Operator processes standing in for the Deployment's pods; killed on drop.
struct Replicas {
    children: Vec<Child>,
    metrics: Vec<String>,
    logs: Vec<PathBuf>,
}

impl Drop for Replicas {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Replicas {
    fn logs(&self) -> String {
        self.logs
            .iter()
            .map(|l| std::fs::read_to_string(l).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Starts the Deployment's replicas as processes: its container's arguments and plain
/// environment, its Secret volumes written to files where the arguments expect their mount
/// paths, listen addresses moved to free loopback ports, and the ServiceAccount's kubeconfig.
fn start_replicas(
    operator: &Path,
    deployment: &Value,
    secrets: &dyn Fn(&str) -> Value,
    service_account_kubeconfig: &Path,
    dir: &Path,
) -> Replicas {
    let ns = deployment["metadata"]["namespace"].as_str().unwrap();
    let name = deployment["metadata"]["name"].as_str().unwrap();
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    // Secret volumes -> files.
    let mut mounts = Vec::new();
    for m in container["volumeMounts"].as_array().into_iter().flatten() {
        let volume = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == m["name"])
            .unwrap();
        let Some(secret) = volume["secret"]["secretName"].as_str() else {
            continue;
        };
        let files = dir.join(m["name"].as_str().unwrap());
        std::fs::create_dir_all(&files).unwrap();
        for (key, value) in secrets(secret)["data"].as_object().unwrap() {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(value.as_str().unwrap())
                .unwrap();
            std::fs::write(files.join(key), bytes).unwrap();
        }
        mounts.push((m["mountPath"].as_str().unwrap().to_string(), files));
    }
    let replicas = deployment["spec"]["replicas"].as_u64().unwrap_or(1);
    let mut out = Replicas {
        children: Vec::new(),
        metrics: Vec::new(),
        logs: Vec::new(),
    };
    for i in 0..replicas {
        let ip = "127.0.0.1";
        let mut metrics = String::new();
        let args: Vec<String> = container["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                let mut a = a.as_str().unwrap().to_string();
                for (mount, files) in &mounts {
                    a = a.replace(&format!("{mount}/"), &format!("{}/", files.display()));
                }
                if let Some((flag, _)) = a.split_once("=0.0.0.0:") {
                    let addr = format!("{ip}:{}", free_port_on(ip));
                    if flag == "--metrics-listen" {
                        metrics = addr.clone();
                    }
                    a = format!("{flag}={addr}");
                }
                a
            })
            .collect();
        assert!(!metrics.is_empty(), "the operator serves /readyz: {args:?}");
        let log = dir.join(format!("operator-{i}.log"));
        let mut command = Command::new(operator);
        command
            .args(&args)
            .env("KUBECONFIG", service_account_kubeconfig)
            .env("POD_NAME", format!("{name}-standin-{i}"))
            .env("POD_NAMESPACE", ns)
            .env("NO_COLOR", "1");
        for e in container["env"].as_array().into_iter().flatten() {
            if let Some(v) = e["value"].as_str() {
                command.env(e["name"].as_str().unwrap(), v);
            }
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        out.children.push(child);
        out.metrics.push(metrics);
        out.logs.push(log);
    }
    out
}

fn script_output(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn the_kind_quickstart_after_the_cluster_runs_against_the_emulator() {
    let (Some(helm), Some(kubectl)) = (helm().or_skip(), kubectl().or_skip()) else {
        return;
    };
    let Some(operator) = operator_binary() else {
        missing("the agentlens-operator binary (cargo build -p agentlens-operator --bins)");
        return;
    };
    let bin_dir = operator.parent().unwrap().to_path_buf();
    if !bin_dir.join("kubectl-agentlens").is_file() {
        missing("kubectl-agentlens beside agentlens-operator");
        return;
    }
    let emu = match emulator_process::binary() {
        Ok(_) => Emulator::start().unwrap(),
        Err(e) => {
            missing(&e.to_string());
            return;
        }
    };
    let admin = emu.admin_kubeconfig();
    let dir = tempfile::tempdir().unwrap();

    // The script as a user runs it, with helm and kubectl first on PATH.
    let path = std::env::join_paths(
        [helm.parent().unwrap(), kubectl.parent().unwrap()]
            .into_iter()
            .map(Path::to_path_buf)
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let output = dir.path().join("script.out");
    let started = Instant::now();
    let mut script = Command::new(workspace_root().join(SCRIPT))
        .args(["install", "demo"])
        .env("PATH", path)
        .env("KUBECONFIG", &admin)
        .env("AGENTLENS_BIN_DIR", &bin_dir)
        .env("AGENTLENS_TIMEOUT", "120s")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&output).unwrap())
        .stderr(std::fs::File::create(dir.path().join("script.err")).unwrap())
        .spawn()
        .unwrap();

    // Stand in for the Deployment controller and the kubelet.
    let mut replicas: Option<Replicas> = None;
    let deadline = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(status) = script.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the script did not finish in {DEADLINE:?}:\n{}",
            script_output(&output)
        );
        let deployments = kubectl_json(
            &kubectl,
            &admin,
            &["get", "deployments", "-A", "-l", OPERATOR_SELECTOR],
        );
        let deployment = deployments.as_ref().and_then(|l| l["items"].get(0));
        match (&replicas, deployment) {
            (None, Some(d)) => {
                let ns = d["metadata"]["namespace"].as_str().unwrap();
                let sa = d["spec"]["template"]["spec"]["serviceAccountName"]
                    .as_str()
                    .unwrap();
                let sa_kubeconfig = emu.kubeconfig_for(ns, sa);
                if sa_kubeconfig.is_file() {
                    let secrets = |name: &str| {
                        kubectl_json(&kubectl, &admin, &["get", "secret", "-n", ns, name]).unwrap()
                    };
                    replicas = Some(start_replicas(
                        &operator,
                        d,
                        &secrets,
                        &sa_kubeconfig,
                        dir.path(),
                    ));
                }
            }
            (Some(r), Some(d))
                if d["status"]["availableReplicas"].is_null()
                    && r.metrics.iter().all(|m| readyz(m) == Some(200)) =>
            {
                let n = r.children.len();
                let status = json!({"status": {
                        "observedGeneration": d["metadata"]["generation"],
                        "replicas": n, "updatedReplicas": n, "readyReplicas": n,
                        "availableReplicas": n,
                        "conditions": [{"type": "Available", "status": "True",
                            "reason": "MinimumReplicasAvailable",
                            "message": "the test runs the replicas as processes"}]}});
                let out = Command::new(&kubectl)
                    .arg("--kubeconfig")
                    .arg(&admin)
                    .args([
                        "patch",
                        "deployment",
                        "--subresource=status",
                        "--type=merge",
                    ])
                    .args(["-n", d["metadata"]["namespace"].as_str().unwrap()])
                    .arg(d["metadata"]["name"].as_str().unwrap())
                    .args(["-p", &status.to_string()])
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let elapsed = started.elapsed();
    let out = script_output(&output);
    let err = script_output(&dir.path().join("script.err"));
    let logs = replicas.as_ref().map(Replicas::logs).unwrap_or_default();
    assert!(
        status.success(),
        "{SCRIPT} install demo: {status}\n{out}\n{err}\noperator logs:\n{logs}"
    );
    eprintln!("{SCRIPT} install demo against the emulator: {elapsed:.1?}\n{out}");

    // What a user sees: the release, the AgentDeployment in `kubectl get agd` and its
    // inspection, after the namespace was created before being labelled.
    let agd = serde_saphyr::from_str::<Value>(
        &std::fs::read_to_string(
            workspace_root().join("examples/invoice-rpa/agentdeployment.yaml"),
        )
        .unwrap(),
    )
    .unwrap();
    let name = agd["metadata"]["name"].as_str().unwrap();
    let ns = agd["metadata"]["namespace"].as_str().unwrap();
    let get_agd = out
        .split(&format!("==> kubectl get agd -n {ns}"))
        .nth(1)
        .unwrap();
    assert!(
        get_agd.lines().any(|l| l.starts_with(&format!("{name} "))),
        "{out}"
    );
    let inspect = out
        .split(&format!("==> kubectl agentlens inspect {name} -n {ns}"))
        .nth(1)
        .unwrap();
    // The operator resolved the agents' models (their lineage is in the inspection).
    for agent in agd["spec"]["agents"].as_array().unwrap() {
        for model in agent["models"].as_array().into_iter().flatten() {
            let model = model["name"].as_str().unwrap();
            assert!(
                inspect.lines().any(|l| l.trim_start().starts_with(model)),
                "inspect lists {model}:\n{inspect}"
            );
        }
    }
    let create = out.find(&format!("namespace/{ns}")).unwrap();
    let label = out.find(&format!("namespace/{ns} labeled")).unwrap();
    assert!(create < label, "{out}");
    let releases = Command::new(&helm)
        .args(["list", "-A", "--deployed", "-q", "--kubeconfig"])
        .arg(&admin)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&releases.stdout).trim(),
        "agentlens"
    );

    // The CRD upgrade path of the upgrade notes, over the CRDs helm installed.
    let crds = Command::new(&operator).arg("crds").output().unwrap();
    assert!(crds.status.success());
    let mut apply = Command::new(&kubectl)
        .arg("--kubeconfig")
        .arg(&admin)
        .args(["apply", "--server-side", "--force-conflicts", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut apply.stdin.take().unwrap(), &crds.stdout).unwrap();
    let applied = apply.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&applied.stdout);
    assert!(
        applied.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    assert_eq!(text.matches("serverside-applied").count(), 3, "{text}");
}

#[test]
fn agentlens_operator_crds_prints_the_charts_crds() {
    // The upgrade notes apply `agentlens-operator crds`; the chart installs charts/agentlens/crds.
    let Some(operator) = operator_binary() else {
        missing("the agentlens-operator binary (cargo build -p agentlens-operator --bins)");
        return;
    };
    let out = Command::new(operator).arg("crds").output().unwrap();
    assert!(out.status.success());
    let mut printed: Vec<Value> =
        serde_saphyr::from_multiple(&String::from_utf8_lossy(&out.stdout))
            .unwrap()
            .into_iter()
            .filter(Value::is_object)
            .collect();
    let mut chart: Vec<Value> =
        agentlens_tests::yaml_files(&workspace_root().join("charts/agentlens/crds"))
            .unwrap()
            .iter()
            .flat_map(|p| agentlens_tests::read_documents(p).unwrap())
            .map(|d| d.value)
            .collect();
    let key = |d: &Value| {
        d["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    printed.sort_by_key(key);
    chart.sort_by_key(key);
    assert_eq!(chart.len(), 3);
    assert_eq!(printed, chart);
}
