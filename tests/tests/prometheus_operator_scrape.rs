//! The chart's monitoring as kube-prometheus-stack runs it: a real Prometheus discovers pods
//! and endpoints of `kube-emulator`, with the scrape configuration prometheus-operator
//! generates for the chart's rendered PodMonitor and ServiceMonitor (built from `helm template`
//! by `agentlens_tests::promcfg`, following `pkg/prometheus/promcfg.go`), and the chart's
//! PrometheusRule loaded as its rules. Real `agentlens-sidecar` processes serve on the pods'
//! loopback IPs; the real operator serves its `/metrics` behind the chart's Service.
//!
//! Discovery: `kubernetes_sd_configs` against the emulator where the installed Prometheus has
//! Kubernetes discovery; Debian's package is built without it (its parser rejects the field),
//! so there the same pod and endpoints targets, with Prometheus's meta labels, are read from
//! the emulator by `agentlens_tests::kubernetes_sd` into `file_sd_configs`. Relabelling,
//! `honor_labels`, scraping and the rules are the real Prometheus's either way.
//!
//! What it proves: `AgentLensGpuOutOfMemory` fires on the real H200 OOM with the agent's
//! `namespace`, `pod`, `container` and `agentdeployment`; no `exported_*` label exists;
//! `AgentLensSidecarMissing` names the agent's namespace for an uninjected pod; the webhook's
//! pods carry the label the PodMonitor selects and no `prometheus.io/*` annotations; every
//! query of the Grafana dashboard returns data for the example system, except the ones whose
//! source cannot exist here (named, with the reason).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agentlens_operator::inject::sidecar::{CONTAINER_NAME, PORT};
use agentlens_operator::inject::{AGENT_LABEL, SCRAPE_ANNOTATIONS, SCRAPE_LABEL};
use agentlens_tests::emulator_process::{self, Emulator};
use agentlens_tests::kubernetes_sd;
use agentlens_tests::net::free_port_on;
use agentlens_tests::promcfg::{Discovery, pod_monitor_job, service_monitor_job};
use agentlens_tests::tools::{helm, helm_template, kubectl, missing, run_kubectl, system_tool};
use agentlens_tests::workspace_root;
use serde_json::{Value, json};

const SYSTEM_NS: &str = "agentlens-system";
/// The example system the pods belong to (`examples/invoice-rpa`).
const NS: &str = "invoice-rpa";
const AGENT: &str = "email-triage";

fn on_path(name: &str) -> Option<PathBuf> {
    system_tool(name).or_skip()
}

/// A binary: `$env`, else beside this test's `target/<profile>/`.
fn binary(env: &str, name: &str) -> Option<PathBuf> {
    let found = agentlens_tests::tools::binary(env, name);
    if found.is_none() {
        missing(&format!("{name} (cargo build -p {name}, or {env})"));
    }
    found
}

use agentlens_tests::net::wait_until;

/// A loopback address of this run: 127.<pid-derived>.<n>, so parallel runs do not collide on
/// the sidecar's fixed port.
fn loopback(n: u8) -> String {
    let pid = std::process::id();
    format!("127.{}.{}.{n}", 1 + (pid >> 8) % 250, pid % 256)
}

fn http(addr: &str, request: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(request.as_bytes()).ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((code, body))
}

fn get(addr: &str, path: &str) -> Option<(u16, String)> {
    http(
        addr,
        &format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The result vector of an instant query.
fn query(prom: &str, q: &str) -> Option<Vec<Value>> {
    let (code, body) = get(prom, &format!("/api/v1/query?query={}", encode(q)))?;
    let v: Value = serde_json::from_str(&body).ok()?;
    assert_eq!(code, 200, "{q}: {body}");
    v["data"]["result"].as_array().cloned()
}

struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
}

impl Kubectl {
    fn run(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = run_kubectl(
            &self.bin,
            &self.kubeconfig,
            args,
            stdin.unwrap_or("").as_bytes(),
        );
        assert!(
            out.status.success(),
            "kubectl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn apply(&self, obj: &Value) {
        self.run(
            &["apply", "--server-side", "-f", "-"],
            Some(&obj.to_string()),
        );
    }
}

/// Kills the process when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether this Prometheus build has Kubernetes discovery: `promtool check config` on a config
/// that uses it.
fn has_kubernetes_sd(promtool: &Path, dir: &Path) -> bool {
    let probe = dir.join("probe.yml");
    std::fs::write(
        &probe,
        r#"{"scrape_configs": [{"job_name": "probe", "kubernetes_sd_configs": [{"role": "pod"}]}]}"#,
    )
    .unwrap();
    Command::new(promtool)
        .args(["check", "config", "--syntax-only"])
        .arg(&probe)
        .output()
        .is_ok_and(|o| o.status.success())
}

fn find<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("the chart renders a {kind}"))
}

/// A Grafana query with the dashboard's template variables substituted for the example system
/// (namespace and AgentDeployment are both `invoice-rpa`).
fn substitute(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__interval", "15s")
        .replace("$namespace", NS)
        .replace("$agentdeployment", NS)
}

#[test]
fn prometheus_scrapes_the_charts_monitors_and_fires_routable_alerts() {
    let started = Instant::now();
    let (Some(kubectl), Some(helm), Some(prometheus), Some(promtool)) = (
        kubectl().or_skip(),
        helm().or_skip(),
        on_path("prometheus"),
        on_path("promtool"),
    ) else {
        return;
    };
    let (Some(sidecar_bin), Some(operator_bin), Some(python)) = (
        binary("AGENTLENS_SIDECAR_BIN", "agentlens-sidecar"),
        binary("AGENTLENS_OPERATOR_BIN", "agentlens-operator"),
        on_path("python3"),
    ) else {
        return;
    };
    let emu = match emulator_process::binary() {
        Ok(_) => Emulator::start().unwrap(),
        Err(e) => {
            missing(&e.to_string());
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let admin = Kubectl {
        bin: kubectl,
        kubeconfig: emu.admin_kubeconfig(),
    };

    // The chart as a kube-prometheus-stack user renders it; a 1 s interval and no `for` on
    // the missing-sidecar alert so the test does not wait minutes.
    let docs = helm_template(
        &helm,
        SYSTEM_NS,
        &[
            "--set",
            "monitoring.podMonitor=true",
            "--set",
            "monitoring.serviceMonitor=true",
            "--set",
            "monitoring.prometheusRule=true",
            "--set",
            "monitoring.interval=1s",
            "--set",
            "alerts.sidecarMissing.for=0s",
        ],
    );
    let deployment = find(&docs, "Deployment");
    let args: Vec<String> = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let scrape_annotations = args
        .iter()
        .find(|a| a.starts_with("--scrape-annotations="))
        .expect("the chart passes --scrape-annotations")
        .clone();
    assert_eq!(
        scrape_annotations, "--scrape-annotations=false",
        "with a PodMonitor the webhook adds no prometheus.io annotations"
    );

    admin.run(&["apply", "-f", "crds/manifests/"], None);
    admin.apply(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SYSTEM_NS}}));
    admin.run(
        &["apply", "-f", &format!("examples/{NS}/00-namespace.yaml")],
        None,
    );
    admin.run(&["apply", "-f", &format!("examples/{NS}")], None);

    // The operator (admin kubeconfig: RBAC is another test's subject) with the chart's flag.
    let op_ip = loopback(3);
    let metrics_port = free_port_on(&op_ip);
    let webhook: SocketAddr = format!("127.0.0.1:{}", free_port_on("127.0.0.1"))
        .parse()
        .unwrap();
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    std::fs::write(dir.path().join("tls.crt"), cert.cert.pem()).unwrap();
    std::fs::write(dir.path().join("tls.key"), cert.signing_key.serialize_pem()).unwrap();
    let op_log = dir.path().join("operator.log");
    let _operator = Proc(
        Command::new(&operator_bin)
            .args(["run", "--native-sidecars", "true", "--namespace", SYSTEM_NS])
            .args(["--identity", "agentlens-0", "--refresh-seconds", "1"])
            .arg(&scrape_annotations)
            .arg(format!("--metrics-listen={op_ip}:{metrics_port}"))
            .arg(format!("--webhook-listen={webhook}"))
            .arg(format!(
                "--tls-cert={}",
                dir.path().join("tls.crt").display()
            ))
            .arg(format!(
                "--tls-key={}",
                dir.path().join("tls.key").display()
            ))
            .arg(format!("--sidecar-port={PORT}"))
            .env("KUBECONFIG", emu.admin_kubeconfig())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&op_log).unwrap())
            .spawn()
            .unwrap(),
    );
    let op_addr = format!("{op_ip}:{metrics_port}");
    wait_until(Duration::from_secs(60), || {
        get(&op_addr, "/readyz").filter(|(c, _)| *c == 200)
    })
    .unwrap_or_else(|| {
        panic!(
            "operator ready: {}",
            std::fs::read_to_string(&op_log).unwrap_or_default()
        )
    });

    // The agent's pod through the real webhook: the patch it answers is what the API server
    // would store.
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("{AGENT}-0"), "namespace": NS, "labels": {
            "app.kubernetes.io/part-of": NS, "app.kubernetes.io/name": AGENT}},
        "spec": {"containers": [{"name": AGENT, "image": "ghcr.io/acme/email-triage:1.4"}]}});
    let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "u1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": NS, "operation": "CREATE", "object": pod}});
    let answer = wait_until(Duration::from_secs(30), || {
        let out = Command::new("curl")
            .args([
                "-sk",
                "--max-time",
                "5",
                "-H",
                "Content-Type: application/json",
            ])
            .arg(format!("https://{webhook}/mutate-pods"))
            .args(["--data-binary", &review.to_string()])
            .output()
            .ok()?;
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        // The webhook's cache has the AgentDeployment once the pod gets its label.
        v["response"]["patch"].is_string().then_some(v)
    })
    .expect("the webhook injects the example's pod");
    let patch_bytes = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        answer["response"]["patch"].as_str().unwrap(),
    )
    .unwrap();
    let patch: json_patch::Patch = serde_json::from_slice(&patch_bytes).unwrap();
    let mut injected = pod.clone();
    json_patch::patch(&mut injected, &patch).unwrap();
    let labels = &injected["metadata"]["labels"];
    assert_eq!(labels[AGENT_LABEL], NS);
    assert!(labels[SCRAPE_LABEL].is_string(), "{labels}");
    for a in SCRAPE_ANNOTATIONS {
        assert!(
            injected["metadata"]["annotations"][a].is_null(),
            "{a} added although a PodMonitor scrapes the pod"
        );
    }
    admin.apply(&injected);
    let agent_ip = loopback(2);
    let status = |ip: &str, name: &str| {
        json!({"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": name, "ready": true, "restartCount": 0,
                "image": "ghcr.io/acme/email-triage:1.4",
                "imageID": format!("ghcr.io/acme/email-triage@sha256:{}", "ab".repeat(32))}]}})
    };
    let set_status = |name: &str, ip: &str| {
        admin.run(
            &[
                "patch",
                "pod",
                name,
                "-n",
                NS,
                "--subresource=status",
                "--type=merge",
                "-p",
                &status(ip, AGENT).to_string(),
            ],
            None,
        );
    };
    set_status(&format!("{AGENT}-0"), &agent_ip);

    // A pod of the same system created while the webhook was away: no sidecar.
    let mut bare = pod.clone();
    bare["metadata"]["name"] = json!(format!("{AGENT}-1"));
    admin.apply(&bare);
    let bare_ip = loopback(4);
    set_status(&format!("{AGENT}-1"), &bare_ip);

    // The operator's metrics Service from the chart, and the Endpoints the endpoints
    // controller would write for it.
    let service = docs
        .iter()
        .find(|d| {
            d["kind"] == "Service"
                && d["spec"]["ports"]
                    .as_array()
                    .is_some_and(|p| p.iter().any(|p| p["name"] == "http-metrics"))
        })
        .expect("the metrics Service");
    admin.apply(service);
    let mut op_pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "agentlens-0", "namespace": SYSTEM_NS,
            "labels": deployment["spec"]["template"]["metadata"]["labels"]},
        "spec": deployment["spec"]["template"]["spec"]});
    for port in op_pod["spec"]["containers"][0]["ports"]
        .as_array_mut()
        .unwrap()
    {
        if port["name"] == "http-metrics" {
            port["containerPort"] = json!(metrics_port);
        }
    }
    admin.apply(&op_pod);
    admin.run(
        &[
            "patch",
            "pod",
            "agentlens-0",
            "-n",
            SYSTEM_NS,
            "--subresource=status",
            "--type=merge",
            "-p",
            &json!({"status": {"phase": "Running", "podIP": op_ip,
                "conditions": [{"type": "Ready", "status": "True"}]}})
            .to_string(),
        ],
        None,
    );
    admin.apply(&json!({"apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": service["metadata"]["name"], "namespace": SYSTEM_NS,
            "labels": service["metadata"]["labels"]},
        "subsets": [{"addresses": [{"ip": op_ip, "targetRef": {"kind": "Pod", "name": "agentlens-0", "namespace": SYSTEM_NS}}],
            "ports": [{"name": "http-metrics", "port": metrics_port, "protocol": "TCP"}]}]}));

    // The agent's sidecar: the real binary on the pod's IP, the agent's output the real H200
    // OOM (after Prometheus saw the counter at 0), and the latency proxy in front of a small
    // HTTP server standing in for the agent.
    let upstream_port = free_port_on(&agent_ip);
    let _upstream = Proc(
        Command::new(&python)
            .args(["-m", "http.server", "--bind", &agent_ip])
            .arg(upstream_port.to_string())
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let oom = workspace_root().join("sidecar/tests/data/logscan/torch-cuda-oom-h200.stderr");
    let flag = dir.path().join("go");
    let script = format!(
        "while [ ! -e '{}' ]; do sleep 0.1; done; cat '{}' >&2; sleep 600",
        flag.display(),
        oom.display()
    );
    let proxy_port = free_port_on(&agent_ip);
    let _sidecar = Proc(
        Command::new(&sidecar_bin)
            .args([
                "run",
                "--gpu",
                "off",
                "--interval-ms",
                "200",
                "--name",
                AGENT,
            ])
            .arg(format!("--listen={agent_ip}:{PORT}"))
            .arg(format!("--proxy-listen={agent_ip}:{proxy_port}"))
            .arg(format!("--proxy-upstream={agent_ip}:{upstream_port}"))
            .args(["--", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    // Prometheus with the generated jobs and the chart's rules.
    let discovery = if has_kubernetes_sd(&promtool, dir.path()) {
        Discovery::Kubernetes {
            kubeconfig: emu.admin_kubeconfig(),
        }
    } else {
        eprintln!(
            "this Prometheus has no kubernetes_sd_configs (Debian's build): the pod and endpoints \
             roles are read from the emulator into file_sd_configs"
        );
        let list = |args: &[&str]| -> Vec<Value> {
            let v: Value = serde_json::from_str(&admin.run(args, None)).unwrap();
            v["items"].as_array().cloned().unwrap_or_default()
        };
        let pods = list(&["get", "pods", "-A", "-o", "json"]);
        let endpoints = list(&["get", "endpoints", "-n", SYSTEM_NS, "-o", "json"]);
        let services = list(&["get", "services", "-n", SYSTEM_NS, "-o", "json"]);
        std::fs::write(
            dir.path().join("pod.json"),
            kubernetes_sd::pod_targets(&pods).to_string(),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("endpoints.json"),
            kubernetes_sd::endpoints_targets(&endpoints, &services, &pods).to_string(),
        )
        .unwrap();
        Discovery::File {
            dir: dir.path().to_path_buf(),
        }
    };
    let rule = find(&docs, "PrometheusRule");
    std::fs::write(
        dir.path().join("rules.yaml"),
        serde_json::to_string(&json!({"groups": rule["spec"]["groups"]})).unwrap(),
    )
    .unwrap();
    let jobs = json!([
        pod_monitor_job(find(&docs, "PodMonitor"), &discovery).unwrap(),
        service_monitor_job(find(&docs, "ServiceMonitor"), &discovery).unwrap(),
    ]);
    let config = json!({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [dir.path().join("rules.yaml")],
        "scrape_configs": jobs,
    });
    std::fs::write(dir.path().join("prometheus.yml"), config.to_string()).unwrap();
    let prom_port = free_port_on("127.0.0.1");
    let prom = format!("127.0.0.1:{prom_port}");
    let prom_log = dir.path().join("prometheus.log");
    let _prometheus = Proc(
        Command::new(&prometheus)
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={prom}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&prom_log).unwrap())
            .spawn()
            .unwrap(),
    );
    let diagnose = || {
        format!(
            "targets: {}\nprometheus log:\n{}\noperator log:\n{}",
            get(&prom, "/api/v1/targets")
                .map(|t| t.1)
                .unwrap_or_default(),
            std::fs::read_to_string(&prom_log).unwrap_or_default(),
            std::fs::read_to_string(&op_log).unwrap_or_default()
        )
    };

    // Both targets discovered through the emulator and up: the sidecar and the operator.
    let before = wait_until(Duration::from_secs(60), || {
        let up = query(&prom, "up == 1")?;
        let oom = query(&prom, "agentlens_gpu_oom_events_total")?;
        (up.len() == 2 && !oom.is_empty()).then_some(up)
    })
    .unwrap_or_else(|| panic!("both targets up\n{}", diagnose()));
    let sidecar_up = before
        .iter()
        .find(|s| s["metric"]["job"].as_str().unwrap().ends_with("-sidecars"))
        .expect("the PodMonitor's job");
    assert_eq!(sidecar_up["metric"]["namespace"], NS);
    assert_eq!(sidecar_up["metric"]["pod"], format!("{AGENT}-0"));
    assert_eq!(sidecar_up["metric"]["agentdeployment"], NS);
    assert!(
        sidecar_up["metric"]["container"].is_null(),
        "the target label naming {CONTAINER_NAME} is dropped"
    );

    // Traffic through the proxy for the latency panels, then the OOM.
    for _ in 0..5 {
        let (code, _) = get(&format!("{agent_ip}:{proxy_port}"), "/").expect("proxy answers");
        assert_eq!(code, 200);
    }
    std::fs::write(&flag, b"").unwrap();

    let firing = |name: &str| {
        let (_, body) = get(&prom, "/api/v1/alerts")?;
        let v: Value = serde_json::from_str(&body).ok()?;
        v["data"]["alerts"]
            .as_array()?
            .iter()
            .find(|a| a["labels"]["alertname"] == name && a["state"] == "firing")
            .cloned()
    };
    let oom_alert = wait_until(Duration::from_secs(60), || {
        firing("AgentLensGpuOutOfMemory")
    })
    .unwrap_or_else(|| panic!("AgentLensGpuOutOfMemory fires\n{}", diagnose()));
    eprintln!("AgentLensGpuOutOfMemory: {}", oom_alert["labels"]);
    let l = &oom_alert["labels"];
    assert_eq!(l["namespace"], NS);
    assert_eq!(l["pod"], format!("{AGENT}-0"));
    assert_eq!(
        l["container"], AGENT,
        "the agent's container, not {CONTAINER_NAME}"
    );
    assert_eq!(l["agentdeployment"], NS);
    assert_eq!(
        l["severity"], "warning",
        "one OOM warns; a repeated one pages"
    );
    assert!(
        oom_alert["annotations"]["description"]
            .as_str()
            .unwrap()
            .contains("reported 1 GPU out-of-memory"),
        "{}",
        oom_alert["annotations"]
    );

    let missing = wait_until(Duration::from_secs(60), || {
        firing("AgentLensSidecarMissing")
    })
    .unwrap_or_else(|| panic!("AgentLensSidecarMissing fires\n{}", diagnose()));
    eprintln!("AgentLensSidecarMissing: {}", missing["labels"]);
    assert_eq!(missing["labels"]["namespace"], NS, "the agent's namespace");
    assert_eq!(missing["labels"]["agentdeployment"], NS);

    // No series anywhere was renamed by a label collision.
    let (_, names) = get(&prom, "/api/v1/labels").unwrap();
    let names: Value = serde_json::from_str(&names).unwrap();
    let exported: Vec<&Value> = names["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n.as_str().unwrap().starts_with("exported_"))
        .collect();
    assert!(exported.is_empty(), "{exported:?}");
    // The operator's per-system series join to the sidecar's by namespace and agentdeployment.
    let joined = query(
        &prom,
        "agentlens_agentdeployment_uninjected_pods * on (namespace, agentdeployment) group_left () max by (namespace, agentdeployment) (agentlens_sidecar_info)",
    )
    .unwrap();
    assert_eq!(joined.len(), 1, "{joined:?}");

    // The series the self-alerts and the pressure alert read are exported and scraped with the
    // right namespace: the webhook counted the review above (the operator's namespace), the
    // pressure threshold is per system (the example sets none: the default).
    let injected_reviews = query(
        &prom,
        &format!("agentlens_webhook_requests_total{{outcome=\"injected\",namespace=\"{SYSTEM_NS}\"}} >= 1"),
    )
    .unwrap();
    assert_eq!(injected_reviews.len(), 1, "{injected_reviews:?}");
    let ratio = query(
        &prom,
        &format!("agentlens_agentdeployment_gpu_memory_pressure_ratio{{namespace=\"{NS}\",agentdeployment=\"{NS}\"}}"),
    )
    .unwrap();
    assert_eq!(ratio.len(), 1, "{ratio:?}");
    assert_eq!(
        ratio[0]["value"][1],
        agentlens_operator::controller::metrics::DEFAULT_MEMORY_PRESSURE_RATIO.to_string()
    );

    // Every dashboard query, with its variables set to the example system, returns data,
    // except those whose source cannot exist on this machine.
    let no_source_here = [
        ("agentlens_gpu_memory", "no GPU (NVML) on this machine"),
        ("agentlens_genai_", "no OTLP GenAI spans are sent here"),
        ("code=\"499\"", "no client aborts a request here"),
        (
            "agentlens_proxy_upstream_errors_total",
            "the upstream never fails here",
        ),
    ];
    let cm = docs
        .iter()
        .find(|d| {
            d["kind"] == "ConfigMap"
                && d["metadata"]["name"]
                    .as_str()
                    .unwrap()
                    .ends_with("-dashboard")
        })
        .expect("the dashboard ConfigMap");
    let dashboard: Value =
        serde_json::from_str(cm["data"]["agentlens.json"].as_str().unwrap()).unwrap();
    let mut checked = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let Some(expr) = target["expr"].as_str() else {
                continue;
            };
            let q = substitute(expr);
            if let Some((_, why)) = no_source_here.iter().find(|(s, _)| expr.contains(s)) {
                // Still a valid query against this Prometheus.
                assert!(query(&prom, &q).is_some(), "{q}");
                eprintln!("no data expected ({why}): {}", panel["title"]);
                continue;
            }
            let data = wait_until(Duration::from_secs(30), || {
                query(&prom, &q).filter(|r| !r.is_empty())
            });
            assert!(
                data.is_some(),
                "panel {}: {q} returned no data",
                panel["title"]
            );
            checked += 1;
        }
    }
    assert!(checked >= 8, "{checked} panel queries returned data");
    eprintln!(
        "{checked} dashboard queries returned data; test ran {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
