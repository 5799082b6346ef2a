//! The operator as it runs: two `agentlens-operator run` processes (the release binary under
//! `make test`, `$AGENTLENS_OPERATOR_BIN`) against `kube-emulator`, authorised only by the
//! chart's rendered RBAC (the ServiceAccount kubeconfig the emulator writes), with real
//! `agentlens-sidecar` processes on loopback addresses used as pod IPs. kubectl 1.35 applies
//! the CRDs, the RBAC and the three examples.
//!
//! Waits are conditions with deadlines; the one window (a quiet system is not written while
//! its sidecars keep serving changing snapshots) is what the behaviour is about.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agentlens_operator::controller::keys;
use agentlens_operator::inject::sidecar::TOKEN_SHA256_ENV;
use agentlens_tests::emulator_process::{self, Emulator};
use agentlens_tests::net::{free_port, http_request_to, wait_for};
use agentlens_tests::tools::{
    binary, helm, helm_template, kubectl, kubectl_output, missing, run_kubectl,
};
use agentlens_tests::workspace_root;
use base64::Engine;
use serde_json::{Value, json};
use sha2::Digest;

const NS: &str = "agentlens-system";
/// The chart's lease duration plus 5 s: the longest a handover may take.
const HANDOVER: Duration = Duration::from_secs(15 + 5);

fn operator_binary() -> PathBuf {
    std::env::var_os("AGENTLENS_OPERATOR_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_agentlens-operator")))
}

struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
}

impl Kubectl {
    fn run(&self, args: &[&str], stdin: Option<&str>) -> (bool, String) {
        kubectl_output(&run_kubectl(
            &self.bin,
            &self.kubeconfig,
            args,
            stdin.unwrap_or("").as_bytes(),
        ))
    }

    fn ok(&self, args: &[&str]) -> String {
        let (ok, out) = self.run(args, None);
        assert!(ok, "kubectl {}: {out}", args.join(" "));
        out
    }

    fn apply(&self, yaml: &str) -> String {
        let (ok, out) = self.run(&["apply", "-f", "-"], Some(yaml));
        assert!(ok, "kubectl apply: {out}\n{yaml}");
        out
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&a)).unwrap()
    }
}

/// The chart's ServiceAccount and RBAC, as `helm template` renders them for release `agentlens`.
fn rendered_rbac(helm: &Path) -> Vec<Value> {
    helm_template(
        helm,
        NS,
        &[
            "--show-only",
            "templates/rbac.yaml",
            "--show-only",
            "templates/serviceaccount.yaml",
        ],
    )
}

/// Plain-HTTP GET on loopback: status and body.
fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    http_request_to(addr, "GET", path, &[], b"")
}

/// One `agentlens-operator run` process.
struct Replica {
    name: String,
    child: Child,
    metrics: SocketAddr,
    webhook: SocketAddr,
    log: PathBuf,
}

impl Replica {
    fn start(dir: &Path, name: &str, kubeconfig: &Path, sidecar_port: u16, refresh: u64) -> Self {
        let (metrics, webhook): (SocketAddr, SocketAddr) = (
            format!("127.0.0.1:{}", free_port()).parse().unwrap(),
            format!("127.0.0.1:{}", free_port()).parse().unwrap(),
        );
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(operator_binary())
            .args(["run", "--native-sidecars", "true", "--namespace", NS])
            .args(["--identity", name])
            .arg(format!("--metrics-listen={metrics}"))
            .arg(format!("--webhook-listen={webhook}"))
            .arg(format!("--tls-cert={}", dir.join("tls.crt").display()))
            .arg(format!("--tls-key={}", dir.join("tls.key").display()))
            .arg(format!("--sidecar-port={sidecar_port}"))
            .arg(format!("--refresh-seconds={refresh}"))
            .env("KUBECONFIG", kubeconfig)
            .env("AGENTLENS_LOG", "info,agentlens_operator=debug")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Self {
            name: name.into(),
            child,
            metrics,
            webhook,
            log,
        }
    }

    fn metric(&self, series: &str) -> Option<f64> {
        let (code, body) = http_get(self.metrics, "/metrics")?;
        (code == 200).then_some(())?;
        body.lines()
            .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
    }

    fn leads(&self) -> bool {
        self.metric("agentlens_operator_leader") == Some(1.0)
    }

    fn ready(&self) -> Option<u16> {
        http_get(self.metrics, "/readyz").map(|(c, _)| c)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `POST /mutate-pods` over HTTPS (curl, certificate not checked: the comparison is of
    /// the answers).
    fn mutate(&self, review: &Value) -> Value {
        let out = Command::new("curl")
            .args([
                "-sk",
                "--max-time",
                "5",
                "-H",
                "Content-Type: application/json",
            ])
            .args(["--data-binary", &review.to_string()])
            .arg(format!("https://{}/mutate-pods", self.webhook))
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{}: {e}: {}",
                self.name,
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real sidecar observing `sleep` on `ip:port`, requiring the bearer token whose SHA-256
/// (hex) is `token_sha256` on `/v1/*`, as the webhook configures it in a pod.
struct Sidecar(Child);

impl Sidecar {
    fn start(bin: &Path, ip: &str, port: u16, token_sha256: &str) -> Self {
        Self(
            Command::new(bin)
                .args(["run", "--gpu", "off", "--interval-ms", "200"])
                .arg(format!("--listen={ip}:{port}"))
                .arg(format!("--api-token-sha256={token_sha256}"))
                .args(["--", "sleep", "600"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn write_cert(dir: &Path) {
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    std::fs::write(dir.join("tls.crt"), cert.cert.pem()).unwrap();
    std::fs::write(dir.join("tls.key"), cert.signing_key.serialize_pem()).unwrap();
}

/// A pod of the invoice-rpa system carrying the sidecar, ready, at `ip`.
fn pod(name: &str, agent: &str, ip: &str) -> (String, String) {
    let spec = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "invoice-rpa", "labels": {
            "app.kubernetes.io/part-of": "invoice-rpa", "app.kubernetes.io/name": agent}},
        "spec": {
            "containers": [{"name": agent, "image": format!("ghcr.io/acme/{agent}:1.4"),
                            "envFrom": [{"configMapRef": {"name": "rpa-settings"}}]}],
            "initContainers": [{"name": "agentlens-sidecar", "image": "ghcr.io/agentlens/agentlens-sidecar:0.1.0",
                                "restartPolicy": "Always"}]
        }
    });
    let status = json!({"status": {
        "phase": "Running", "podIP": ip, "startTime": "2026-12-01T08:00:00Z",
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [{"name": agent, "ready": true, "restartCount": 0,
            "image": format!("ghcr.io/acme/{agent}:1.4"),
            "imageID": format!("ghcr.io/acme/{agent}@sha256:{}", "ab".repeat(32))}]
    }});
    (spec.to_string(), status.to_string())
}

fn admission_review(uid: &str) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": uid, "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "invoice-rpa", "operation": "CREATE",
            "object": {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"generateName": "email-triage-", "namespace": "invoice-rpa",
                    "labels": {"app.kubernetes.io/part-of": "invoice-rpa", "app.kubernetes.io/name": "email-triage"}},
                "spec": {"containers": [{"name": "email-triage", "image": "ghcr.io/acme/email-triage:1.4"}]}}
        }
    })
}

struct World {
    emu: Emulator,
    admin: Kubectl,
    dir: tempfile::TempDir,
    operator_kubeconfig: PathBuf,
}

/// The emulator with the CRDs, the operator's namespace and the chart's RBAC (edited by
/// `edit`), and the three examples.
fn world(edit: impl FnOnce(&mut Vec<Value>)) -> Option<World> {
    let (Some(kubectl), Some(helm)) = (kubectl().or_skip(), helm().or_skip()) else {
        return None;
    };
    let emu = match emulator_process::binary() {
        Ok(_) => Emulator::start().unwrap(),
        Err(e) => {
            missing(&e.to_string());
            return None;
        }
    };
    let admin = Kubectl {
        bin: kubectl,
        kubeconfig: emu.admin_kubeconfig(),
    };
    admin.ok(&["apply", "-f", "crds/manifests/"]);
    admin.apply(
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}).to_string(),
    );
    let mut rbac = rendered_rbac(&helm);
    edit(&mut rbac);
    for doc in &rbac {
        admin.apply(&doc.to_string());
    }
    for example in ["consumer-rag", "finetuned-gpu", "invoice-rpa"] {
        admin.apply(
            &std::fs::read_to_string(
                workspace_root().join(format!("examples/{example}/00-namespace.yaml")),
            )
            .unwrap(),
        );
        admin.ok(&["apply", "-f", &format!("examples/{example}")]);
    }
    let operator_kubeconfig = emu.kubeconfig_for(NS, "agentlens");
    assert!(
        operator_kubeconfig.is_file(),
        "the emulator wrote the ServiceAccount's kubeconfig"
    );
    let dir = tempfile::tempdir().unwrap();
    write_cert(dir.path());
    Some(World {
        emu,
        admin,
        dir,
        operator_kubeconfig,
    })
}

fn status_of(k: &Kubectl, kind: &str, ns: &str, name: &str) -> Value {
    k.json(&["get", kind, "-n", ns, name])
}

#[test]
fn two_replicas_against_the_emulator_with_the_charts_rbac() {
    let Some(sidecar_bin) = binary("AGENTLENS_SIDECAR_BIN", "agentlens-sidecar") else {
        missing("the agentlens-sidecar binary (cargo build -p agentlens-sidecar)");
        return;
    };
    let Some(w) = world(|_| {}) else { return };
    let k = &w.admin;

    // The quiet system's pods: two ready pods carrying the sidecar, whose IPs are loopback
    // addresses where real sidecars serve snapshots.
    let sidecar_port = free_port();
    for (name, agent, ip) in [
        ("email-triage-0", "email-triage", "127.0.0.2"),
        ("pdf-parser-0", "pdf-parser", "127.0.0.3"),
    ] {
        let (spec, status) = pod(name, agent, ip);
        k.apply(&spec);
        k.ok(&[
            "patch",
            "pod",
            name,
            "-n",
            "invoice-rpa",
            "--subresource=status",
            "--type=merge",
            "-p",
            &status,
        ]);
    }

    let refresh = 3;
    let mut replicas = [
        Replica::start(
            w.dir.path(),
            "operator-a",
            &w.operator_kubeconfig,
            sidecar_port,
            refresh,
        ),
        Replica::start(
            w.dir.path(),
            "operator-b",
            &w.operator_kubeconfig,
            sidecar_port,
            refresh,
        ),
    ];
    let [a, b] = &replicas;
    for r in [a, b] {
        wait_for(
            || format!("{} /readyz\n{}", r.name, r.log()),
            Duration::from_secs(60),
            || (r.ready() == Some(200)).then_some(()),
        );
    }

    // The webhook of both replicas (the follower too) knows the AgentDeployments.
    let (ra, rb) = (
        a.mutate(&admission_review("u-1")),
        b.mutate(&admission_review("u-1")),
    );
    assert_eq!(
        ra["response"]["patch"], rb["response"]["patch"],
        "{ra}\n{rb}"
    );
    assert_eq!(ra["response"]["patchType"], "JSONPatch", "{ra}");

    // The sidecar API token: the operator keeps it in its own Secret, and the webhook writes
    // only its SHA-256 into the sidecar's environment.
    let secret = k.json(&["get", "secret", "-n", NS, keys::SIDECAR_TOKEN_SECRET]);
    let token = base64::engine::general_purpose::STANDARD
        .decode(secret["data"][keys::SIDECAR_TOKEN_KEY].as_str().unwrap())
        .unwrap();
    let token = String::from_utf8(token).unwrap();
    let token_sha256: String = sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let patch = base64::engine::general_purpose::STANDARD
        .decode(ra["response"]["patch"].as_str().unwrap())
        .unwrap();
    let patch = String::from_utf8(patch).unwrap();
    assert!(
        patch.contains(&format!(
            r#"{{"name":"{TOKEN_SHA256_ENV}","value":"{token_sha256}"}}"#
        )),
        "the injected sidecar carries the token's hash: {patch}"
    );
    assert!(
        !patch.contains(&token),
        "the token itself is never in a pod spec"
    );
    // The quiet system's sidecars, configured as the webhook configures them: the operator's
    // snapshot pulls must present the token (a pull without it is refused).
    let _sidecars = [
        Sidecar::start(&sidecar_bin, "127.0.0.2", sidecar_port, &token_sha256),
        Sidecar::start(&sidecar_bin, "127.0.0.3", sidecar_port, &token_sha256),
    ];
    let auth = format!("Bearer {token}");
    wait_for(
        || "the sidecars serve /healthz".into(),
        Duration::from_secs(30),
        || {
            http_get(
                format!("127.0.0.2:{sidecar_port}").parse().unwrap(),
                "/healthz",
            )
            .filter(|(c, _)| *c == 200)
        },
    );
    assert_eq!(
        http_get(
            format!("127.0.0.2:{sidecar_port}").parse().unwrap(),
            "/v1/snapshot"
        )
        .map(|(c, _)| c),
        Some(401),
        "/v1/snapshot without the token"
    );

    // Every AgentDeployment and Model gets its status.
    let all_written = || {
        let ads = k.json(&["get", "agentdeployments.agentlens.dev", "-A"]);
        let models = k.json(&["get", "models.agentlens.dev", "-A"]);
        let items: Vec<Value> = ads["items"]
            .as_array()
            .unwrap()
            .iter()
            .chain(models["items"].as_array().unwrap())
            .cloned()
            .collect();
        (items.len() >= 3 && items.iter().all(|i| i["status"].is_object())).then_some(items)
    };
    let items = wait_for(
        || "every AgentDeployment and Model has a status".into(),
        Duration::from_secs(60),
        all_written,
    );
    eprintln!("{} objects have their status", items.len());

    // The quiet system's runtime figures come from the real sidecars.
    wait_for(
        || "invoice-rpa status.runtime and inventory from the sidecars".into(),
        Duration::from_secs(60),
        || {
            let ad = status_of(
                k,
                "agentdeployments.agentlens.dev",
                "invoice-rpa",
                "invoice-rpa",
            );
            // And both sidecars' inventories (collected on their own thread, seconds after
            // start on a loaded machine): before them the system is not quiet yet, and a row
            // going from one pod to two is a write the window below would count.
            let inventoried = ad["status"]["inventory"]
                .as_array()
                .is_some_and(|rows| !rows.is_empty() && rows.iter().all(|r| r["pods"] == 2));
            (ad["status"]["runtime"]["rssBytes"].as_u64().unwrap_or(0) > 0
                && ad["status"]["pods"]["injected"] == 2
                && inventoried)
                .then_some(())
        },
    );
    let li = wait_for(
        || "one replica leads".into(),
        Duration::from_secs(30),
        || match (a.leads(), b.leads()) {
            (true, false) => Some(0),
            (false, true) => Some(1),
            _ => None,
        },
    );
    let leader = &replicas[li];

    // A quiet system: its sidecars keep serving changing snapshots, the operator pulls them
    // every `refresh` seconds, and no status write happens.
    let snapshot = || {
        http_request_to(
            format!("127.0.0.2:{sidecar_port}").parse().unwrap(),
            "GET",
            "/v1/snapshot",
            &[("Authorization", &auth)],
            b"",
        )
        .filter(|(c, _)| *c == 200)
        .map(|(_, b)| b)
    };
    let first = snapshot().unwrap();
    let window = Duration::from_secs(
        std::env::var("AGENTLENS_E2E_QUIET_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(60),
    );
    let rv = |k: &Kubectl| {
        status_of(
            k,
            "agentdeployments.agentlens.dev",
            "invoice-rpa",
            "invoice-rpa",
        )["metadata"]["resourceVersion"]
            .clone()
    };
    let writes = || {
        leader
            .metric("agentlens_operator_status_writes_total{controller=\"agentdeployment\"}")
            .unwrap()
    };
    let pulls = || {
        leader
            .metric("agentlens_operator_reconciles_total{controller=\"agentdeployment\"}")
            .unwrap()
    };
    let (rv0, writes0, pulls0) = (rv(k), writes(), pulls());
    // The quiet period is measured in reconciles, not in time: as many as `window` holds on
    // the interval for every AgentDeployment (the counter is the controller's), each of them
    // pulling changed snapshots; twice the time is allowed.
    let systems = k.json(&["get", "agentdeployments.agentlens.dev", "-A"])["items"]
        .as_array()
        .unwrap()
        .len() as u64;
    let wanted = (window.as_secs() / refresh * systems) as f64;
    let pulls1 = wait_for(
        || {
            format!(
                "{wanted} reconciles on the interval after {pulls0}: {}",
                pulls()
            )
        },
        window * 2,
        || (pulls() - pulls0 >= wanted).then(pulls),
    );
    let (rv1, writes1) = (rv(k), writes());
    assert_ne!(
        snapshot().unwrap(),
        first,
        "the sidecars' snapshots changed meanwhile"
    );
    // The writes first: their assertion shows what changed.
    assert_eq!(
        writes0,
        writes1,
        "no status write was sent in {} reconciles:\n{}",
        pulls1 - pulls0,
        leader
            .log()
            .lines()
            .filter(|l| l.contains("status changed"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(
        rv0,
        rv1,
        "no status write reached the API in {} reconciles",
        pulls1 - pulls0
    );

    // A Model whose parent appears later resolves its lineage.
    let model = |name: &str, parent: Option<&str>| {
        let mut m = json!({"apiVersion": "agentlens.dev/v1alpha1", "kind": "Model",
            "metadata": {"name": name, "namespace": "invoice-rpa"},
            "spec": {"version": "1.0", "artifact": {"uri": format!("s3://models/{name}/"),
                "digest": format!("sha256:{}", "cd".repeat(32)), "format": "safetensors"}}});
        if let Some(p) = parent {
            m["spec"]["baseModel"] = json!({"name": p});
        }
        m.to_string()
    };
    k.apply(&model("late-child", Some("late-base")));
    wait_for(
        || "late-child reports its missing parent".into(),
        Duration::from_secs(30),
        || {
            let m = status_of(k, "models.agentlens.dev", "invoice-rpa", "late-child");
            m["status"]["conditions"]
                .as_array()?
                .iter()
                .find(|c| c["type"] == "LineageComplete" && c["status"] == "False")
                .map(|_| ())
        },
    );
    k.apply(&model("late-base", None));
    wait_for(
        || "late-child's lineage resolves once its parent exists".into(),
        Duration::from_secs(30),
        || {
            let m = status_of(k, "models.agentlens.dev", "invoice-rpa", "late-child");
            (m["status"]["lineage"].as_array().map(Vec::len) == Some(2)).then_some(())
        },
    );

    // Killing the leader: the follower takes over within the lease duration + 5 s, and
    // status keeps moving (a config change reaches the system's status).
    let killed = Instant::now();
    replicas[li].child.kill().unwrap();
    replicas[li].child.wait().unwrap();
    let follower = &replicas[1 - li];
    wait_for(
        || format!("{} takes over\n{}", follower.name, follower.log()),
        HANDOVER,
        || follower.leads().then_some(()),
    );
    eprintln!("handover after {:?}", killed.elapsed());
    let hash = |k: &Kubectl| {
        let ad = status_of(
            k,
            "agentdeployments.agentlens.dev",
            "invoice-rpa",
            "invoice-rpa",
        );
        ad["status"]["configs"].as_array().and_then(|c| {
            c.iter()
                .find(|r| r["name"] == "rpa-settings")
                .map(|r| r["hash"].clone())
        })
    };
    let before = wait_for(
        || "rpa-settings tracked".into(),
        Duration::from_secs(10),
        || hash(k),
    );
    k.ok(&[
        "patch",
        "configmap",
        "rpa-settings",
        "-n",
        "invoice-rpa",
        "--type=merge",
        "-p",
        r#"{"data":{"e2e":"changed"}}"#,
    ]);
    wait_for(
        || "the new leader writes the changed config hash".into(),
        Duration::from_secs(30),
        || hash(k).filter(|h| *h != before).map(|_| ()),
    );
    let log = follower.log();
    assert!(
        !log.contains("forbidden"),
        "the chart's RBAC covers every call:\n{log}"
    );

    // SIGTERM: the leader finishes, releases the lease (holder cleared) and exits 0.
    let pid = nix::unistd::Pid::from_raw(i32::try_from(replicas[1 - li].child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = wait_for(
        || "the leader exits after SIGTERM".into(),
        Duration::from_secs(20),
        || replicas[1 - li].child.try_wait().unwrap(),
    );
    assert!(status.success(), "{status}: {}", replicas[1 - li].log());
    let lease = k.json(&[
        "get",
        "leases.coordination.k8s.io",
        "-n",
        NS,
        "agentlens-operator",
    ]);
    assert!(
        lease["spec"]["holderIdentity"].is_null(),
        "released: {lease}"
    );
    eprintln!("emulator {}", w.emu.server());
}

/// A rule missing from the chart's ClusterRole: the 403 reaches the log with its cause, and
/// the replica stays unready instead of acting on a partial cache.
#[test]
fn a_missing_rbac_rule_shows_in_the_log_with_its_cause() {
    let Some(w) = world(|docs| {
        let role = docs
            .iter_mut()
            .find(|d| d["kind"] == "ClusterRole" && d["metadata"]["name"] == "agentlens-operator")
            .unwrap();
        for rule in role["rules"].as_array_mut().unwrap() {
            if let Some(r) = rule["resources"].as_array_mut() {
                r.retain(|x| x != "models");
            }
        }
    }) else {
        return;
    };
    let r = Replica::start(
        w.dir.path(),
        "operator-a",
        &w.operator_kubeconfig,
        free_port(),
        60,
    );
    let line = wait_for(
        || "the 403 in the log".into(),
        Duration::from_secs(30),
        || {
            r.log()
                .lines()
                .find(|l| l.contains("watching models") && l.contains("forbidden"))
                .map(str::to_string)
        },
    );
    assert!(
        line.contains("cannot list resource \"models\""),
        "the API's own message: {line}"
    );
    assert!(line.contains("category=forbidden"), "{line}");
    assert_eq!(r.ready(), Some(503), "not ready without the Models");
    assert!(
        r.metric(
            "agentlens_operator_watch_errors_total{category=\"forbidden\",resource=\"models\"}"
        )
        .unwrap_or(0.0)
            >= 1.0,
        "counted"
    );
}
