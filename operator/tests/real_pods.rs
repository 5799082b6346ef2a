//! The injected system as real pods: the demo example's pod template (`examples/demo/`) goes
//! through the webhook's own admission code (`admission::review`, what `POST /mutate-pods`
//! runs) and the patched Pod runs with `podman kube play`: the demo agent image built here
//! (CPython and dpkg from Debian packages, pip packages), the sidecar image and the
//! opentelemetry auto-instrumentation image, as `make images` builds them, in the classic
//! sidecar form (the sidecar appended to `containers`) with the pod's shared process namespace.
//!
//! On those real containers it shows: the sidecar groups the agents' processes by container
//! from their real cgroups; RSS and CPU series per agent container in `/metrics`; the worker's
//! real H200 OOM report (printed by the agent, read back through `pods/log`) counted once;
//! `/v1/inventory` read from the worker container's own root filesystem, whose dpkg and pip
//! packages equal `dpkg-query -W` and `pip list` run inside that container (the
//! instrumentation's packages on its `PYTHONPATH` included); and a real Prometheus scraping
//! `/metrics` with the project's rules fires `AgentLensGpuOutOfMemory`.
//!
//! Zero-code instrumentation (the example's `autoInstrument`): the webhook's init container
//! runs from its image before the other containers (exit 0, its `copy-tree` log), the volume
//! the agents mount holds exactly the layout the image was built from, the agents' interpreters
//! load it (its compiled modules are mapped into the agent processes), and the agents' plain
//! `openai` calls reach the sidecar as GenAI spans: `agentlens_genai_tokens_total` per model
//! equals the stub model's usage times the calls it served. The release `agentlens-operator
//! run`, against the emulator, pulls the sidecar's snapshot and writes the AgentDeployment's
//! status: `runtime.tokens` per model and `TelemetryFlowing`, read back through the API. The
//! agents do one round each (`DEMO_INTERVAL_SECONDS`, an environment value) so that the counts
//! are exact. The agent edge planner → worker (`status.agentGraph`): the example names each
//! agent's container (`agents[].container`), so the webhook names each container's telemetry
//! after its agent, and the layout's HTTP instrumentations make the planner's hand-off (urllib)
//! and the worker's handling of it (Flask) a CLIENT and a SERVER span of one trace, which the
//! sidecar pairs into the edge (the planner's `/healthz` wait for the worker is a call too).
//!
//! The kubelet's part is played here, and only that part: the downward-API variables are
//! resolved to values, the pod's service account token is mounted where the kubelet mounts it
//! with `KUBERNETES_SERVICE_HOST/PORT`, and the pod is registered in `kube-emulator` with its
//! real container ids and its containers' real log files (podman's `k8s-file` logs, in the CRI
//! format the kubelet reads for `pods/log`). The security contexts the webhook and the example
//! set are left as they are: the containers run read-only, as 65532, without capabilities.
//!
//! Where podman differs from a cluster (each difference is asserted or explained below):
//! - The pod uses the host's network namespace (`hostNetwork`): the emulator and Prometheus
//!   listen on loopback only, which a pod network namespace cannot reach. So the listen
//!   addresses of the sidecar and the agents, which a pod would bind on its own IP, are moved
//!   to free loopback ports (environment values only), the sidecar's OTLP receiver and the
//!   instrumented containers' `OTEL_EXPORTER_OTLP_ENDPOINT` with them.
//!   podman 4.3 also refuses `containerPort`s on the host network (it maps them), so the
//!   podman copy of the pod has none; on the host network they would only name ports.
//! - `podman kube play` (4.3) starts the containers of a pod in the order given and has no
//!   native sidecars (`restartPolicy: Always` init containers): hence the classic form.
//! - It runs init containers, first and to completion, but restarts one that exited 0 under
//!   the pod's `restartPolicy` (a Deployment's `Always`; the kubelet never restarts a finished
//!   init container) and then fails removing it ("cannot remove container … as it is
//!   running"): the podman copy of the pod has `restartPolicy: OnFailure` (the agents never
//!   exit, so it changes nothing for them), and podman's `always` init-container annotation,
//!   which keeps the finished init container (its default, `once`, removes it) so that its
//!   exit code, log file and id are read and registered.
//! - The operator runs with the emulator's admin kubeconfig (the chart's RBAC for it is
//!   `operator_e2e.rs`'s subject) and pulls snapshots from the pod's IP, 127.0.0.1, on the
//!   sidecar's moved port (`--sidecar-port`).
//!
//! Needs podman set up by `make podman-setup` and the images built by `make images` (or
//! `make test-images`: `scripts/images.sh build base`);
//! skipped with the reason where they are not, failed under `make test`
//! (`AGENTLENS_REQUIRE_TOOLS=1`) unless podman cannot run containers on this machine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use agentlens_crds::AgentDeployment;
use agentlens_crds::autoinstrument::InstrumentProvider;
use agentlens_operator::admission::review;
use agentlens_operator::certs;
use agentlens_operator::controller::keys::{SIDECAR_TOKEN_KEY, SIDECAR_TOKEN_SECRET};
use agentlens_operator::inject::autoinstrument::{INIT_CONTAINER_NAME, MOUNT_PATH, default_image};
use agentlens_operator::inject::sidecar::{CONTAINER_NAME, OTLP_PORT, TOKEN_SHA256_ENV};
use agentlens_operator::inject::{AGENT_LABEL, InjectConfig};
use agentlens_operator::status::conditions::types;
use agentlens_tests::emulator::podlog::{self, LOG_FILES_ANNOTATION};
use agentlens_tests::emulator_process::{self, Emulator};
use agentlens_tests::net::{free_port, http_request_to};
use agentlens_tests::pods::container_declaring;
use agentlens_tests::tools::{Tool, binary, installed, kubectl, system_tool};
use agentlens_tests::workspace_root;
use base64::Engine;
use serde_json::{Value, json};
use sha2::Digest;

const EXAMPLE: &str = "examples/demo";
/// The demo container that is told to print the OOM report.
const WORKER: &str = "worker";

fn strict() -> bool {
    std::env::var("AGENTLENS_REQUIRE_TOOLS").as_deref() == Ok("1")
}

/// Skips with the reason, or fails under `make test`.
fn missing(what: &str) {
    assert!(!strict(), "{what}");
    eprintln!("skipped: {what}");
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

// ---- podman ----

/// podman with the project-local configuration `make podman-setup` writes (vfs, runc,
/// cgroupfs, no default ulimits) unless the environment names another.
struct Podman {
    conf: PathBuf,
    storage: PathBuf,
}

impl Podman {
    fn find() -> Option<Self> {
        let dir = workspace_root().join(".tools/podman");
        let pick = |var: &str, file: &str| {
            std::env::var_os(var)
                .map(PathBuf::from)
                .unwrap_or_else(|| dir.join(file))
        };
        let p = Self {
            conf: pick("CONTAINERS_CONF", "containers.conf"),
            storage: pick("CONTAINERS_STORAGE_CONF", "storage.conf"),
        };
        if !p.conf.is_file() || !p.storage.is_file() {
            missing("podman is not set up for this project (run `make podman-setup`)");
            return None;
        }
        match Command::new("podman")
            .env("CONTAINERS_CONF", &p.conf)
            .env("CONTAINERS_STORAGE_CONF", &p.storage)
            .args(["info", "--format", "{{.Host.OCIRuntime.Name}}"])
            .output()
        {
            Ok(o) if o.status.success() => Some(p),
            Ok(o) => {
                // The one honest skip under `make test`: podman is there but cannot run
                // containers on this machine (no privileges for namespaces, cgroups).
                eprintln!("skipped: podman cannot run containers here: {}", text(&o));
                None
            }
            Err(e) => {
                missing(&format!(
                    "podman is not installed ({e}): run `make podman-setup`"
                ));
                None
            }
        }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", &self.conf)
            .env("CONTAINERS_STORAGE_CONF", &self.storage);
        c
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd().args(args).output().unwrap();
        assert!(out.status.success(), "podman {args:?}: {}", text(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    fn has_image(&self, image: &str) -> bool {
        self.cmd()
            .args(["image", "exists", image])
            .status()
            .is_ok_and(|s| s.success())
    }
}

/// The pod `podman kube play` started; removed with its containers on drop.
struct PlayedPod<'a> {
    podman: &'a Podman,
    name: String,
}

impl Drop for PlayedPod<'_> {
    fn drop(&mut self) {
        let _ = self
            .podman
            .cmd()
            .args(["pod", "rm", "-f", "-t", "0", &self.name])
            .output();
    }
}

/// A child process killed on drop.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `images.sh refs` (operator, sidecar) and `images.sh demo-ref`: the references `make
/// images` tags, derived from the chart.
fn image_refs() -> (String, String) {
    let sh = |arg: &str| {
        let out = Command::new(workspace_root().join("scripts/images.sh"))
            .arg(arg)
            .output()
            .unwrap();
        assert!(out.status.success(), "images.sh {arg}: {}", text(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    let sidecar = sh("refs").lines().nth(1).unwrap().to_string();
    (sidecar, sh("demo-ref").trim().to_string())
}

// ---- the example, through the webhook ----

fn example_docs() -> Vec<Value> {
    let mut docs = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(workspace_root().join(EXAMPLE))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    for f in files {
        docs.extend(
            serde_saphyr::from_multiple::<Value>(&std::fs::read_to_string(f).unwrap()).unwrap(),
        );
    }
    docs
}

/// The Pod the Deployment's ReplicaSet would create from its template.
fn pod_of(deployment: &Value, name: &str) -> Value {
    let t = &deployment["spec"]["template"];
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": deployment["metadata"]["namespace"],
            "labels": t["metadata"]["labels"],
        },
        "spec": t["spec"],
    })
}

/// The pod as the webhook's `/mutate-pods` patches it.
fn admit(pod: &Value, ads: &[AgentDeployment], cfg: &InjectConfig) -> Value {
    let body = serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "0d8e4f8e-0b7a-4f6c-9a55-real-pods",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": pod["metadata"]["namespace"],
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": pod,
            "dryRun": false,
        }
    }))
    .unwrap();
    let answer = review(&body, ads, cfg);
    assert_eq!(answer.status, 200);
    let resp: Value = serde_json::from_slice(&answer.body).unwrap();
    let r = &resp["response"];
    assert_eq!(r["allowed"], true, "{resp}");
    let patch = base64::engine::general_purpose::STANDARD
        .decode(
            r["patch"]
                .as_str()
                .expect("the webhook injects the demo pod"),
        )
        .unwrap();
    let patch: json_patch::Patch = serde_json::from_slice(&patch).unwrap();
    let mut doc = pod.clone();
    json_patch::patch(&mut doc, &patch).unwrap();
    doc
}

fn containers_mut(pod: &mut Value) -> impl Iterator<Item = &mut Value> {
    pod["spec"]["containers"].as_array_mut().unwrap().iter_mut()
}

/// Sets an existing environment variable's value, or adds it.
fn set_env(container: &mut Value, name: &str, value: &str) {
    let env = container["env"].as_array_mut().unwrap();
    match env.iter_mut().find(|e| e["name"] == name) {
        Some(e) => *e = json!({"name": name, "value": value}),
        None => env.push(json!({"name": name, "value": value})),
    }
}

/// What the kubelet resolves: downward-API fields of this pod, then `$(NAME)` references to
/// variables the container defines before (`OTEL_RESOURCE_ATTRIBUTES` names the pod and the
/// node that way), which podman would pass on literally.
fn resolve_env(pod: &mut Value, node: &str) {
    let meta = pod["metadata"].clone();
    for c in containers_mut(pod) {
        let mut earlier: Vec<(String, String)> = Vec::new();
        for e in c["env"].as_array_mut().into_iter().flatten() {
            let name = e["name"].as_str().unwrap().to_string();
            let value = match (
                e["value"].as_str(),
                e["valueFrom"]["fieldRef"]["fieldPath"].as_str(),
            ) {
                (Some(v), _) => earlier
                    .iter()
                    .fold(v.to_string(), |v, (n, x)| v.replace(&format!("$({n})"), x)),
                (None, Some("metadata.name")) => meta["name"].as_str().unwrap().to_string(),
                (None, Some("metadata.namespace")) => {
                    meta["namespace"].as_str().unwrap().to_string()
                }
                (None, Some("spec.nodeName")) => node.to_string(),
                (None, other) => panic!("the kubelet would resolve {other:?}: add it here"),
            };
            *e = json!({"name": name, "value": value});
            earlier.push((name, value));
        }
    }
}

/// podman's annotation of a pod's init containers: `once` (the default: removed after they
/// ran) or `always` (run at every start of the pod, and kept).
const PODMAN_INIT_TYPE: &str = "io.podman.annotations.init.container.type";

/// Free loopback ports for what the pod listens on.
struct Ports {
    sidecar: u16,
    proxy: u16,
    model: u16,
    planner: u16,
    worker: u16,
    otlp: u16,
}

/// How long the agents wait between their rounds in the played pod: longer than the test, so
/// each asks the model once (the planner, the worker, and the worker for the planner's hand-off)
/// and the token counts are exact.
const ONE_ROUND_SECONDS: &str = "3600";

/// The kubelet's and the network's part (see the module comment); the webhook's output is
/// otherwise run as it is.
fn for_podman(pod: &Value, ports: &Ports, emulator: &str, sa_dir: &Path) -> Value {
    let mut pod = pod.clone();
    pod["spec"]["hostNetwork"] = json!(true);
    // podman 4.3 restarts an init container that succeeded under the pod's restartPolicy (a
    // Deployment's Always), where the kubelet runs it once; OnFailure gives the kubelet's
    // behaviour (the agents never exit, so it changes nothing for them).
    assert_eq!(pod["spec"].get("restartPolicy"), None);
    pod["spec"]["restartPolicy"] = json!("OnFailure");
    // Kept after it ran (podman removes a `once` init container), for its exit code and log.
    pod["metadata"]["annotations"][PODMAN_INIT_TYPE] = json!("always");
    resolve_env(&mut pod, "podman");
    let (host, port) = emulator
        .trim_start_matches("https://")
        .rsplit_once(':')
        .unwrap();
    let model_url = format!("http://127.0.0.1:{}/v1", ports.model);
    let otlp = format!("127.0.0.1:{}", ports.otlp);
    for c in containers_mut(&mut pod) {
        // podman 4.3 turns every containerPort into a port mapping, which it refuses on the
        // host network ("PortMappings can only be used with Bridge or slirp4netns
        // networking"); on the host network they only name ports, so they go.
        c.as_object_mut().unwrap().remove("ports");
        // The instrumented containers' exporter follows the sidecar's receiver.
        if let Some(e) = c["env"].as_array_mut().and_then(|env| {
            env.iter_mut()
                .find(|e| e["name"] == "OTEL_EXPORTER_OTLP_ENDPOINT")
        }) {
            let v = e["value"].as_str().unwrap();
            assert_eq!(v, format!("http://127.0.0.1:{OTLP_PORT}"));
            e["value"] = json!(format!("http://{otlp}"));
        }
        match c["name"].as_str().unwrap() {
            CONTAINER_NAME => {
                set_env(
                    c,
                    "AGENTLENS_LISTEN",
                    &format!("127.0.0.1:{}", ports.sidecar),
                );
                set_env(
                    c,
                    "AGENTLENS_PROXY_LISTEN",
                    &format!("127.0.0.1:{}", ports.proxy),
                );
                set_env(
                    c,
                    "AGENTLENS_PROXY_UPSTREAM",
                    &format!("127.0.0.1:{}", ports.planner),
                );
                set_env(c, "AGENTLENS_OTLP_LISTEN", &otlp);
                set_env(c, "KUBERNETES_SERVICE_HOST", host);
                set_env(c, "KUBERNETES_SERVICE_PORT", port);
                let mounts = c["volumeMounts"].as_array_mut();
                let mount = json!({
                    "name": "kube-api-access",
                    "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                    "readOnly": true
                });
                match mounts {
                    Some(m) => m.push(mount),
                    None => c["volumeMounts"] = json!([mount]),
                }
            }
            "model" => set_env(
                c,
                "DEMO_MODEL_LISTEN",
                &format!("127.0.0.1:{}", ports.model),
            ),
            "planner" => {
                set_env(c, "DEMO_LISTEN", &format!("127.0.0.1:{}", ports.planner));
                set_env(c, "DEMO_MODEL_URL", &model_url);
                set_env(
                    c,
                    "DEMO_PEER_URL",
                    &format!("http://127.0.0.1:{}", ports.worker),
                );
                set_env(c, "DEMO_INTERVAL_SECONDS", ONE_ROUND_SECONDS);
            }
            "worker" => {
                set_env(c, "DEMO_LISTEN", &format!("127.0.0.1:{}", ports.worker));
                set_env(c, "DEMO_MODEL_URL", &model_url);
                set_env(c, "DEMO_INTERVAL_SECONDS", ONE_ROUND_SECONDS);
            }
            other => panic!("a container the demo does not have: {other}"),
        }
    }
    let volume = json!({
        "name": "kube-api-access",
        "hostPath": {"path": sa_dir, "type": "Directory"}
    });
    match pod["spec"]["volumes"].as_array_mut() {
        Some(v) => v.push(volume),
        None => pod["spec"]["volumes"] = json!([volume]),
    }
    pod
}

// ---- the API emulator ----

struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
}

impl Kubectl {
    fn apply(&self, doc: &Value) {
        let mut child = Command::new(&self.bin)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["apply", "--server-side", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        serde_json::to_writer(child.stdin.take().unwrap(), doc).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "kubectl apply {doc}: {}", text(&out));
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = Command::new(&self.bin)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "kubectl {args:?}: {}", text(&out));
        String::from_utf8(out.stdout).unwrap()
    }
}

/// The sidecar's RBAC as the chart grants it (the ClusterRole from the operator's own list),
/// bound to the pod's service account.
fn sidecar_rbac(namespace: &str, service_account: &str) -> Vec<Value> {
    let role = agentlens_operator::rbac::roles()
        .into_iter()
        .find(|r| r["kind"] == "ClusterRole" && r["metadata"]["name"] == CONTAINER_NAME)
        .expect("the sidecar's ClusterRole");
    vec![
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": {"name": service_account, "namespace": namespace}}),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": CONTAINER_NAME, "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": role["metadata"]["name"]},
            "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": namespace}],
        }),
        role,
    ]
}

/// What the kubelet mounts at /var/run/secrets/kubernetes.io/serviceaccount.
fn service_account_dir(dir: &Path, kubeconfig: &Path, namespace: &str) -> PathBuf {
    let parts = emulator_process::read_kubeconfig(kubeconfig).expect("the SA kubeconfig");
    let sa = dir.join("serviceaccount");
    std::fs::create_dir_all(&sa).unwrap();
    std::fs::write(sa.join("token"), &parts.token).unwrap();
    std::fs::write(sa.join("ca.crt"), &parts.ca_pem).unwrap();
    std::fs::write(sa.join("namespace"), namespace).unwrap();
    // Readable by the containers' user (65532), as the kubelet's projected volume is.
    for f in ["", "token", "ca.crt", "namespace"] {
        let mode = if f.is_empty() { 0o755 } else { 0o644 };
        let mut p = std::fs::metadata(sa.join(f)).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut p, mode);
        std::fs::set_permissions(sa.join(f), p).unwrap();
    }
    sa
}

// ---- reading the results ----

fn metric(metrics: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    metrics.lines().find_map(|l| {
        let (series, value) = l.rsplit_once(' ')?;
        let rest = series.strip_prefix(name)?;
        if !(rest.is_empty() || rest.starts_with('{')) {
            return None;
        }
        labels
            .iter()
            .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
            .then(|| value.parse().ok())?
    })
}

/// PEP 503 normalised name.
fn pep503(name: &str) -> String {
    name.to_ascii_lowercase().replace(['_', '.'], "-")
}

/// (name, version) of the inventory's components whose purl starts with `prefix`.
fn inventory_packages(doc: &Value, prefix: &str) -> BTreeSet<(String, String)> {
    doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["purl"].as_str().is_some_and(|p| p.starts_with(prefix)))
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["version"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn prom_query(prom: SocketAddr, query: &str) -> Option<Value> {
    let q: String = query
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let (code, body) = get(prom, &format!("/api/v1/query?query={q}"), &[])?;
    (code == 200).then_some(())?;
    let v: Value = serde_json::from_str(&body).ok()?;
    Some(v["data"]["result"].clone())
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches(" kB")
        .parse()
        .ok()
}

/// The lines of a container's CRI log file (podman's `k8s-file`), partial lines joined, as
/// `pods/log` serves them.
fn log_text(file: &str) -> String {
    podlog::render(
        &podlog::parse(&std::fs::read_to_string(file).unwrap_or_default()),
        None,
        false,
    )
}

/// Relative path → size of every file under `dir` (symbolic links with size 0).
fn file_tree(dir: &Path) -> BTreeMap<PathBuf, u64> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                todo.push(p);
            } else {
                let size = if meta.is_file() { meta.len() } else { 0 };
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), size);
            }
        }
    }
    out
}

/// `agentlens_genai_tokens_total` of `model`: (input, output).
fn genai_tokens(metrics: &str, model: &str) -> (u64, u64) {
    let kind = |k: &str| {
        metric(
            metrics,
            "agentlens_genai_tokens_total",
            &[("model", model), ("kind", k)],
        )
        .unwrap_or(0.0) as u64
    };
    (kind("input"), kind("output"))
}

/// `agentlens-operator run` (the release binary under `make test`) in namespace
/// `agentlens-system` with the emulator's admin kubeconfig (the chart's RBAC is
/// `operator_e2e.rs`'s subject), reading snapshots on `sidecar_port` with `token`.
fn start_operator(
    admin: &Kubectl,
    bin: &Path,
    dir: &Path,
    sidecar_port: u16,
    token: &str,
) -> Killed {
    let ns = "agentlens-system";
    admin.apply(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}));
    let mut secret = json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": SIDECAR_TOKEN_SECRET, "namespace": ns}, "data": {}});
    secret["data"][SIDECAR_TOKEN_KEY] =
        json!(base64::engine::general_purpose::STANDARD.encode(token));
    admin.apply(&secret);
    let issued = certs::issue(
        certs::DEFAULT_SERVICE,
        ns,
        k8s_openapi::jiff::Timestamp::now(),
        Duration::from_secs(3600),
        None,
    )
    .unwrap();
    let (cert, key) = (dir.join("tls.crt"), dir.join("tls.key"));
    std::fs::write(&cert, issued.cert_pem).unwrap();
    std::fs::write(&key, issued.key_pem).unwrap();
    Killed(
        Command::new(bin)
            .args(["run", "--native-sidecars", "false", "--namespace", ns])
            .args(["--identity", "real-pods", "--refresh-seconds", "2"])
            .arg(format!("--metrics-listen=127.0.0.1:{}", free_port()))
            .arg(format!("--webhook-listen=127.0.0.1:{}", free_port()))
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .arg(format!("--sidecar-port={sidecar_port}"))
            .env("KUBECONFIG", &admin.kubeconfig)
            .env("AGENTLENS_LOG", "info,agentlens_operator=debug")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("operator.log")).unwrap())
            .spawn()
            .unwrap(),
    )
}

#[test]
fn the_demo_pod_injected_by_the_webhook_runs_as_real_containers() {
    let started = Instant::now();
    let Some(podman) = Podman::find() else { return };
    let (sidecar_image, demo_image) = image_refs();
    // The example's instrumentation image, where the webhook looks for it by default.
    let instrumentation_image = default_image(&sidecar_image, InstrumentProvider::OpenTelemetry);
    for image in [&sidecar_image, &demo_image, &instrumentation_image] {
        if !podman.has_image(image) {
            return missing(&format!("{image} is not built (run `make images`)"));
        }
    }
    let kubectl = match kubectl() {
        Tool::Found(p) => p,
        Tool::Skip(why) => return missing(&why),
    };
    let prometheus = match system_tool("prometheus") {
        Tool::Found(p) => p,
        Tool::Skip(why) => return missing(&why),
    };
    // The layout the instrumentation image was built from (`make tools`).
    let layout = match installed(&format!(
        "autoinstrument/{}",
        InstrumentProvider::OpenTelemetry.as_str()
    )) {
        Tool::Found(p) => p,
        Tool::Skip(why) => return missing(&why),
    };
    let Some(operator) = binary("AGENTLENS_OPERATOR_BIN", "agentlens-operator") else {
        return missing("the agentlens-operator binary (cargo build -p agentlens-operator)");
    };

    // The demo's pod, through the webhook's admission code, classic sidecar form.
    let docs = example_docs();
    let deployment = docs
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("the demo Deployment");
    let namespace = deployment["metadata"]["namespace"].as_str().unwrap();
    for c in deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
    {
        assert_eq!(
            c["image"],
            demo_image.as_str(),
            "the example runs the demo image"
        );
    }
    let ads = agentlens_tests::agent_deployments(&docs).unwrap();
    let token = format!("real-pods-{}", std::process::id());
    let token_sha256 = format!("{:x}", sha2::Sha256::digest(token.as_bytes()));
    let cfg = InjectConfig {
        image: sidecar_image.clone(),
        native_sidecars: false,
        api_token_sha256: Some(token_sha256.clone()),
        ..InjectConfig::default()
    };
    let pod_name = format!("demo-agents-{}", std::process::id());
    let injected = admit(&pod_of(deployment, &pod_name), &ads, &cfg);
    let sidecar = injected["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == CONTAINER_NAME)
        .expect("the sidecar, appended to containers")
        .clone();
    assert_eq!(injected["spec"]["shareProcessNamespace"], true);
    assert_eq!(injected["metadata"]["labels"][AGENT_LABEL], "demo");
    let sc = &sidecar["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true, "{sc}");
    assert_eq!(sc["runAsNonRoot"], true, "{sc}");
    assert_eq!(sc["runAsUser"], 65532, "{sc}");
    assert_eq!(sc["allowPrivilegeEscalation"], false, "{sc}");
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{sc}");
    assert!(
        sidecar["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["name"] == TOKEN_SHA256_ENV && v["value"] == token_sha256.as_str()),
        "the webhook wrote the token's hash"
    );
    // The zero-code instrumentation the example asks for: the init container that copies the
    // layout out of its image into the shared volume the app containers mount.
    let init = injected["spec"]["initContainers"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == INIT_CONTAINER_NAME))
        .expect("the auto-instrumentation init container")
        .clone();
    assert_eq!(init["image"], instrumentation_image.as_str());

    // The API: the namespace, the sidecar's RBAC, then the service account's token.
    let emu = match Emulator::start() {
        Ok(e) => e,
        Err(e) => return missing(&format!("kube-emulator: {e}")),
    };
    let admin = Kubectl {
        bin: kubectl,
        kubeconfig: emu.admin_kubeconfig(),
    };
    // The CRDs, the example's Namespace and AgentDeployment (the pod registered below stands
    // for its Deployment's).
    admin.ok(&[
        "apply",
        "-f",
        workspace_root().join("crds/manifests").to_str().unwrap(),
    ]);
    for d in docs
        .iter()
        .filter(|d| d["kind"] == "Namespace" || d["kind"] == "AgentDeployment")
    {
        admin.apply(d);
    }
    let service_account = injected["spec"]["serviceAccountName"]
        .as_str()
        .unwrap_or("default");
    for doc in sidecar_rbac(namespace, service_account) {
        admin.apply(&doc);
    }
    let sa_kubeconfig = emu.kubeconfig_for(namespace, service_account);
    let work = tempfile::tempdir().unwrap();
    let sa_dir = service_account_dir(work.path(), &sa_kubeconfig, namespace);

    // Play the pod.
    let ports = Ports {
        sidecar: free_port(),
        proxy: free_port(),
        model: free_port(),
        planner: free_port(),
        worker: free_port(),
        otlp: free_port(),
    };
    let played = for_podman(&injected, &ports, emu.server(), &sa_dir);
    // Nothing of what the webhook and the example set for security is changed for podman.
    assert_eq!(
        played["spec"]["securityContext"],
        injected["spec"]["securityContext"]
    );
    for (p, i) in played["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .zip(injected["spec"]["containers"].as_array().unwrap())
    {
        assert_eq!(p["name"], i["name"]);
        assert_eq!(p["securityContext"], i["securityContext"], "{}", p["name"]);
        assert_eq!(p["image"], i["image"]);
        assert_eq!(p["resources"], i["resources"]);
    }
    assert_eq!(
        played["spec"]["initContainers"], injected["spec"]["initContainers"],
        "the init container runs as the webhook wrote it"
    );
    let yaml = work.path().join("pod.json");
    std::fs::write(&yaml, serde_json::to_vec_pretty(&played).unwrap()).unwrap();
    let _pod = PlayedPod {
        podman: &podman,
        name: pod_name.clone(),
    };
    let play_started = Instant::now();
    podman.ok(&[
        "kube",
        "play",
        "--log-driver",
        "k8s-file",
        yaml.to_str().unwrap(),
    ]);
    eprintln!("podman kube play: {:?}", play_started.elapsed());

    // The real containers: ids, log files, and the settings podman gave them.
    let inspect: Value = serde_json::from_str(&podman.ok(&["pod", "inspect", &pod_name])).unwrap();
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    let mut logs: BTreeMap<String, String> = BTreeMap::new();
    let mut init_exit: Option<(String, i64)> = None;
    for c in inspect["Containers"].as_array().unwrap() {
        let id = c["Id"].as_str().unwrap();
        let name = c["Name"].as_str().unwrap();
        let Some(short) = name.strip_prefix(&format!("{pod_name}-")) else {
            continue; // the infra container (catatonit)
        };
        let info: Value = serde_json::from_str(&podman.ok(&["container", "inspect", id])).unwrap();
        let info = &info[0];
        let user = info["Config"]["User"].as_str().unwrap();
        assert_eq!(user.split(':').next(), Some("65532"), "{short}: {user}");
        assert_eq!(info["HostConfig"]["ReadonlyRootfs"], true, "{short}");
        assert_eq!(
            info["EffectiveCaps"],
            Value::Null,
            "{short} runs without capabilities"
        );
        logs.insert(
            short.to_string(),
            info["HostConfig"]["LogConfig"]["Path"]
                .as_str()
                .unwrap()
                .to_string(),
        );
        if short == INIT_CONTAINER_NAME {
            init_exit = Some((id.to_string(), info["State"]["ExitCode"].as_i64().unwrap()));
            continue;
        }
        ids.insert(short.to_string(), id.to_string());
    }
    assert_eq!(
        ids.keys().cloned().collect::<BTreeSet<_>>(),
        played["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect(),
    );

    // Register the pod as the API server would hold it: the webhook's pod, running, with the
    // real container ids and log files.
    let mut registered = injected.clone();
    registered["metadata"]["annotations"][LOG_FILES_ANNOTATION] =
        json!(serde_json::to_string(&logs).unwrap());
    admin.apply(&registered);
    let statuses: Vec<Value> = ids
        .iter()
        .map(|(name, id)| {
            json!({"name": name, "containerID": format!("cri-o://{id}"), "ready": true,
                   "started": true, "restartCount": 0,
                   "image": played["spec"]["containers"].as_array().unwrap().iter()
                        .find(|c| c["name"] == name.as_str()).unwrap()["image"],
                   "imageID": "", "state": {"running": {}}})
        })
        .collect();
    // The init container ran to completion before the others started: the image's
    // `copy-tree` filled the volume.
    let (init_id, init_code) = init_exit.expect("the init container, kept by PODMAN_INIT_TYPE");
    let init_log = log_text(&logs[INIT_CONTAINER_NAME]);
    assert_eq!(init_code, 0, "{INIT_CONTAINER_NAME}: {init_log}");
    let copied = format!("copied {} files", file_tree(&layout).len());
    assert_eq!(
        init_log.matches(&copied).count(),
        1,
        "once, all: {init_log}"
    );
    let init_status = json!({"name": INIT_CONTAINER_NAME, "ready": false, "restartCount": 0,
        "containerID": format!("cri-o://{init_id}"), "image": init["image"], "imageID": "",
        "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}});
    admin.ok(&[
        "patch",
        "pod",
        &pod_name,
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        &json!({"status": {"phase": "Running", "podIP": "127.0.0.1",
                           "conditions": [{"type": "Ready", "status": "True"}],
                           "initContainerStatuses": [init_status],
                           "containerStatuses": statuses}})
        .to_string(),
    ]);

    // The release operator against the emulator: it pulls the sidecar's snapshot on the pod's
    // IP and the sidecar's port with the token whose hash the webhook wrote (its Secret made
    // beforehand, as an earlier run of the operator would have), and writes the status.
    let _operator = start_operator(&admin, &operator, work.path(), ports.sidecar, &token);

    let sidecar_addr: SocketAddr = ([127, 0, 0, 1], ports.sidecar).into();
    let bearer = format!("Bearer {token}");
    let auth = [("Authorization", bearer.as_str())];
    let snapshot = || -> Option<Value> {
        let (code, body) = get(sidecar_addr, "/v1/snapshot", &auth)?;
        (code == 200).then_some(())?;
        serde_json::from_str(&body).ok()
    };

    // 1. Processes grouped by container from their real cgroups, with RSS and CPU.
    let agents = ["model", "planner", WORKER];
    let snap = wait_until(
        || format!("the agent containers in the snapshot: {:?}", snapshot()),
        Duration::from_secs(90),
        || {
            let s = snapshot()?;
            let found = s["containers"]
                .as_array()?
                .iter()
                .filter(|c| {
                    agents.contains(&c["name"].as_str().unwrap_or_default())
                        && c["processes"].as_u64() == Some(1)
                        && c["rssBytes"].as_u64().unwrap_or(0) > 0
                })
                .count();
            (found == agents.len()).then_some(s)
        },
    );
    let names: BTreeSet<&str> = snap["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        names.iter().all(|n| ids.contains_key(*n)),
        "every process is attributed to a container of the pod by name: {names:?} {}\n{}",
        snap["containers"],
        podman.ok(&["ps", "-a", "--pod", "--no-trunc"])
    );
    let metrics = wait_until(
        || "RSS and CPU series of the agent containers".into(),
        Duration::from_secs(30),
        || {
            let (_, m) = get(sidecar_addr, "/metrics", &[])?;
            agents
                .iter()
                .all(|a| {
                    metric(&m, "agentlens_memory_rss_bytes", &[("container", a)])
                        .is_some_and(|v| v > 1e6)
                        && metric(&m, "agentlens_cpu_seconds_total", &[("container", a)]).is_some()
                })
                .then_some(m)
        },
    );
    assert_eq!(
        metric(
            &metrics,
            "agentlens_gpu_oom_events_total",
            &[("container", WORKER)]
        ),
        Some(0.0),
        "the worker's OOM counter starts at 0"
    );
    // The webhook tells the sidecar which container its latency proxy fronts (the one that
    // declares the proxy's targetPort), and the sidecar exports it for the latency alert.
    let ad_json = serde_json::to_value(&ads[0]).unwrap();
    let target_port = &ad_json["spec"]["sidecar"]["proxy"]["targetPort"];
    let fronted = container_declaring(&injected, target_port)
        .unwrap_or_else(|| panic!("a container declares port {target_port}"));
    assert_eq!(
        metric(
            &metrics,
            "agentlens_proxy_upstream_info",
            &[("container", fronted)]
        ),
        Some(1.0),
        "the proxy's container ({fronted}) reaches the sidecar"
    );

    // 5. Zero-code instrumentation. The init container copied its image's layout into the
    // volume the agents mount, their interpreters loaded it (its compiled modules are mapped
    // into the agent processes), and their model calls reach the sidecar as spans: the tokens
    // per model equal the stub's usage times the calls the stub served.
    let pid_of = |container: &str| -> u32 {
        podman
            .ok(&[
                "container",
                "inspect",
                "--format",
                "{{.State.Pid}}",
                &ids[container],
            ])
            .trim()
            .parse()
            .unwrap()
    };
    for agent in ["planner", WORKER] {
        let root = PathBuf::from(format!("/proc/{}/root{MOUNT_PATH}", pid_of(agent)));
        assert_eq!(
            file_tree(&root),
            file_tree(&layout),
            "{agent}: {MOUNT_PATH}"
        );
        wait_until(
            || format!("{agent} maps modules of {MOUNT_PATH}"),
            Duration::from_secs(60),
            || {
                std::fs::read_to_string(format!("/proc/{}/maps", pid_of(agent)))
                    .ok()?
                    .contains(&format!("{MOUNT_PATH}/"))
                    .then_some(())
            },
        );
    }
    // The stub's model and usage, from its own module in its container (`-S`: it needs the
    // standard library only, not the instrumentation `site` would load).
    let stub: Value = serde_json::from_str(&podman.ok(&[
        "exec",
        &ids["model"],
        "python3",
        "-S",
        "-c",
        "import json, sys; sys.path.insert(0, '/opt/demo'); import model_server as m; print(json.dumps([m.MODEL, m.USAGE]))",
    ]))
    .unwrap();
    let model = stub[0].as_str().unwrap().to_string();
    let (prompt, completion) = (
        stub[1]["prompt_tokens"].as_u64().unwrap(),
        stub[1]["completion_tokens"].as_u64().unwrap(),
    );
    // One round each (ONE_ROUND_SECONDS): the planner's call, the worker's, and the worker's
    // for the planner's hand-off, which the planner logs once it is answered.
    let served = || {
        log_text(&logs["model"])
            .matches("POST /v1/chat/completions")
            .count() as u64
    };
    let handed_off = || log_text(&logs["planner"]).contains("task 1: handed to");
    let calls = 3;
    let tokens = wait_until(
        || {
            format!(
                "{calls} calls' tokens at the sidecar: served {}, handed off {}, {:?}",
                served(),
                handed_off(),
                get(sidecar_addr, "/metrics", &[]).map(|(_, m)| genai_tokens(&m, &model))
            )
        },
        Duration::from_secs(120),
        || {
            let (_, m) = get(sidecar_addr, "/metrics", &[])?;
            let t = genai_tokens(&m, &model);
            (handed_off() && served() == calls && t == (calls * prompt, calls * completion))
                .then_some(t)
        },
    );
    eprintln!("{model}: {calls} calls, tokens (input, output) {tokens:?} at the sidecar");

    // 2. Prometheus scrapes the sidecar with the project's alert rules; the counter is seen
    // at 0 before the OOM, so increase() sees it.
    let prom_port = free_port();
    let prom_addr: SocketAddr = ([127, 0, 0, 1], prom_port).into();
    let rules = workspace_root().join("rules/agentlens.rules.yaml");
    std::fs::write(
        work.path().join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n- {}\nscrape_configs:\n- job_name: agentlens-sidecar\n  static_configs:\n  - targets: ['127.0.0.1:{}']\n    labels: {{namespace: {namespace}, pod: {pod_name}}}\n",
            rules.display(),
            ports.sidecar
        ),
    )
    .unwrap();
    let _prom = Killed(
        Command::new(prometheus)
            .arg(format!(
                "--config.file={}",
                work.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                work.path().join("prom").display()
            ))
            .arg(format!("--web.listen-address={prom_addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let oom_series = format!("agentlens_gpu_oom_events_total{{container=\"{WORKER}\"}}");
    wait_until(
        || "Prometheus scraped the OOM counter at 0".into(),
        Duration::from_secs(60),
        || {
            let r = prom_query(prom_addr, &oom_series)?;
            (r[0]["value"][1] == "0").then_some(())
        },
    );

    // 3. The worker prints the real H200 OOM report; it reaches the sidecar through
    // pods/log (the emulator reading the container's real log file) and counts once.
    let worker_addr: SocketAddr = ([127, 0, 0, 1], ports.worker).into();
    let (code, body) = wait_until(
        || "the worker answers".into(),
        Duration::from_secs(30),
        || http_request_to(worker_addr, "POST", "/fail?kind=oom", &[], b""),
    );
    assert_eq!(code, 200, "{body}");
    let worker_status = |s: &Value| -> Option<Value> {
        s["containers"]
            .as_array()?
            .iter()
            .find(|c| c["name"] == WORKER)
            .cloned()
    };
    let snap = wait_until(
        || {
            format!(
                "the OOM in the snapshot: {:?}",
                snapshot().map(|s| worker_status(&s))
            )
        },
        Duration::from_secs(60),
        || {
            let s = snapshot()?;
            (worker_status(&s)?["gpuOomEvents"].as_u64()? >= 1).then_some(s)
        },
    );
    let firing = wait_until(
        || "AgentLensGpuOutOfMemory firing".into(),
        Duration::from_secs(60),
        || {
            let (_, body) = get(prom_addr, "/api/v1/alerts", &[])?;
            let v: Value = serde_json::from_str(&body).ok()?;
            v["data"]["alerts"]
                .as_array()?
                .iter()
                .find(|a| {
                    a["labels"]["alertname"] == "AgentLensGpuOutOfMemory" && a["state"] == "firing"
                })
                .cloned()
        },
    );
    assert_eq!(firing["labels"]["container"], WORKER, "{firing}");
    assert_eq!(firing["labels"]["namespace"], namespace, "{firing}");
    assert_eq!(firing["labels"]["pod"], pod_name.as_str(), "{firing}");
    // Once: the event, the counter Prometheus scraped, and no second event meanwhile.
    let (_, metrics) = get(sidecar_addr, "/metrics", &[]).unwrap();
    assert_eq!(
        metric(
            &metrics,
            "agentlens_gpu_oom_events_total",
            &[("container", WORKER)]
        ),
        Some(1.0),
        "{metrics}"
    );
    let events: Vec<&Value> = snap["gpuOomEvents"].as_array().unwrap().iter().collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["container"], WORKER);
    assert!(
        events[0]["message"]
            .as_str()
            .unwrap()
            .contains("Tried to allocate 100.00 GiB"),
        "{}",
        events[0]
    );

    // 4. The worker's inventory, read from its own root filesystem, against what dpkg and
    // pip report inside that container.
    let inventory: Value = wait_until(
        || "the worker's inventory".into(),
        Duration::from_secs(60),
        || {
            let (code, body) = get(
                sidecar_addr,
                &format!("/v1/inventory?container={WORKER}"),
                &auth,
            )?;
            (code == 200).then_some(())?;
            let v: Value = serde_json::from_str(&body).ok()?;
            (!inventory_packages(&v, "pkg:pypi/").is_empty()).then_some(v)
        },
    );
    let worker_id = &ids[WORKER];
    let dpkg: BTreeSet<(String, String)> = podman
        .ok(&[
            "exec",
            worker_id,
            "dpkg-query",
            "-W",
            "-f",
            "${Package}\t${Version}\n",
        ])
        .lines()
        .map(|l| {
            let (n, v) = l.split_once('\t').unwrap();
            (n.to_string(), v.to_string())
        })
        .collect();
    assert!(dpkg.len() > 30, "{dpkg:?}");
    assert_eq!(inventory_packages(&inventory, "pkg:deb/"), dpkg);
    let pip: Vec<Value> = serde_json::from_str(&podman.ok(&[
        "exec",
        worker_id,
        "python3",
        "-m",
        "pip",
        "list",
        "--format",
        "json",
        "--disable-pip-version-check",
        "--no-cache-dir",
    ]))
    .unwrap();
    let pip: BTreeSet<(String, String)> = pip
        .iter()
        .map(|p| {
            (
                pep503(p["name"].as_str().unwrap()),
                p["version"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let ours: BTreeSet<(String, String)> = inventory_packages(&inventory, "pkg:pypi/")
        .into_iter()
        .map(|(n, v)| (pep503(&n), v))
        .collect();
    assert!(pip.iter().any(|(n, _)| n == "openai"), "{pip:?}");
    // The instrumentation's packages too: the worker's interpreter imports them from the
    // volume on its PYTHONPATH.
    assert!(
        pip.iter()
            .any(|(n, _)| n == "opentelemetry-instrumentation-openai-v2"),
        "{pip:?}"
    );
    assert_eq!(ours, pip);

    // 6. The operator's status of the example's AgentDeployment, read through the API: the
    // tokens per model, the instrumented agents' spans and the observed planner → worker edge.
    let ad_name = ads[0].metadata.name.clone().unwrap();
    let want_tokens = json!([{"model": model, "requests": calls,
        "inputTokens": calls * prompt, "outputTokens": calls * completion}]);
    let read_ad = || {
        admin.ok(&[
            "get",
            "agentdeployment",
            &ad_name,
            "-n",
            namespace,
            "-o",
            "json",
        ])
    };
    let status = wait_until(
        || {
            format!(
                "the status shows the tokens {want_tokens}: {}\noperator log:\n{}",
                read_ad(),
                std::fs::read_to_string(work.path().join("operator.log")).unwrap_or_default()
            )
        },
        Duration::from_secs(90),
        || {
            let ad: Value = serde_json::from_str(&read_ad()).ok()?;
            let s = ad["status"].clone();
            (s["runtime"]["tokens"] == want_tokens).then_some(s)
        },
    );
    // The edge comes from two exports (each agent's own), so it may follow the tokens.
    let planner_to_worker = |s: &Value| {
        s["agentGraph"]
            .as_array()?
            .iter()
            .find(|e| e["from"] == "planner" && e["to"] == "worker")
            .cloned()
    };
    let edge = wait_until(
        || format!("the status shows the planner → worker edge: {}", read_ad()),
        Duration::from_secs(90),
        || {
            let ad: Value = serde_json::from_str(&read_ad()).ok()?;
            planner_to_worker(&ad["status"])
        },
    );
    assert!(edge["calls"].as_u64() >= Some(1), "{edge}");
    assert_eq!(edge["errors"], 0, "{edge}");
    let condition = |t: &str| {
        status["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == t)
            .cloned()
            .unwrap_or_else(|| panic!("no {t} condition: {status}"))
    };
    let flowing = condition(types::TELEMETRY_FLOWING);
    assert_eq!(flowing["status"], "True", "{flowing}");
    // The layout in the init container's image was built for the demo image's CPython (both
    // Debian 12's 3.11): the sidecar's inventory sees the interpreters load it, and the
    // operator says the ABIs match (the first inventories may still say NotYetObserved).
    let abi = wait_until(
        || format!("the ABI check settles on a match: {}", read_ad()),
        Duration::from_secs(90),
        || {
            let ad: Value = serde_json::from_str(&read_ad()).ok()?;
            ad["status"]["conditions"]
                .as_array()?
                .iter()
                .find(|c| {
                    c["type"] == types::AUTO_INSTRUMENTATION_MISMATCH
                        && c["reason"] != "NotYetObserved"
                })
                .cloned()
        },
    );
    assert_eq!(
        (abi["status"].as_str(), abi["reason"].as_str()),
        (Some("False"), Some("PythonABIMatches")),
        "{abi}"
    );
    assert_eq!(status["pods"]["injected"], 1, "{}", status["pods"]);
    eprintln!(
        "status: runtime.tokens {} agentGraph {} TelemetryFlowing {} AutoInstrumentationMismatch {}",
        status["runtime"]["tokens"], status["agentGraph"], flowing["message"], abi["message"]
    );

    // Measured: the sidecar's peak RSS in the pod.
    let sidecar_pid: u32 = podman
        .ok(&[
            "container",
            "inspect",
            "--format",
            "{{.State.Pid}}",
            &ids[CONTAINER_NAME],
        ])
        .trim()
        .parse()
        .unwrap();
    eprintln!(
        "sidecar peak RSS in the pod: {} KiB; test time {:?}",
        peak_rss_kib(sidecar_pid).unwrap_or(0),
        started.elapsed()
    );
}

/// A GET on a loopback address with extra headers: (status, body), `None` until it answers.
fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Option<(u16, String)> {
    http_request_to(addr, "GET", path, headers, b"")
}

/// Polls `f` until it gives a value; fails the test with `what()` after `deadline`.
fn wait_until<T>(what: impl Fn() -> String, deadline: Duration, f: impl FnMut() -> Option<T>) -> T {
    agentlens_tests::net::wait_until(deadline, f)
        .unwrap_or_else(|| panic!("not within {deadline:?}: {}", what()))
}
