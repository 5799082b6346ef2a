//! The whole rendered chart on `kube-emulator`, applied as a GitOps tool applies it
//! (`kubectl apply --server-side` under its own field manager), with the operator (the release
//! binary under `make test`) started with the arguments of the chart's Deployment and
//! authorised only by the chart's RBAC:
//!
//! - the operator-managed webhook certificate: the leader creates the Secret and patches the
//!   webhook's `caBundle`, both replicas serve the Secret's certificate, `openssl verify` checks
//!   it against the bundle for the Service's DNS name, and the emulator, calling the webhook
//!   through the Service with that `caBundle` like an API server, gets a pod injected;
//! - the Argo CD-style diff: render again and compare with what is live: no difference;
//! - rotation with a short validity;
//! - log access: the operator binds the agent's service account; another account of the same
//!   namespace gets 403.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agentlens_operator::certs;
use agentlens_operator::inject::sidecar::CONTAINER_NAME;
use agentlens_operator::sidecar_access;
use agentlens_tests::emulator::LOG_ANNOTATION;
use agentlens_tests::emulator_process::{self, Emulator};
use agentlens_tests::net::{free_port, wait_for};
use agentlens_tests::tools::{
    helm, helm_template, kubectl, kubectl_output, missing, run_kubectl, system_tool,
};
use base64::Engine;
use serde_json::{Value, json};

const NS: &str = "agentlens-system";
/// The field manager a GitOps tool applies the chart with.
const GITOPS: &str = "argocd-controller";

/// The emulator with the CRDs and the whole rendered chart applied by the GitOps manager.
struct Cluster {
    emu: Emulator,
    kubectl: PathBuf,
    helm: PathBuf,
    values: Vec<String>,
    dir: tempfile::TempDir,
}

impl Cluster {
    fn start(values: &[&str]) -> Option<Self> {
        let (kubectl, helm) = (kubectl().or_skip()?, helm().or_skip()?);
        let emu = match emulator_process::binary() {
            Ok(_) => Emulator::start().unwrap(),
            Err(e) => {
                missing(&e.to_string());
                return None;
            }
        };
        let c = Self {
            emu,
            kubectl,
            helm,
            values: values.iter().map(|s| (*s).to_string()).collect(),
            dir: tempfile::tempdir().unwrap(),
        };
        c.admin(&["apply", "-f", "crds/manifests/"], None);
        c.admin(
            &["apply", "-f", "-"],
            Some(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})),
        );
        let list = json!({"apiVersion": "v1", "kind": "List", "items": c.render()});
        c.admin(
            &[
                "apply",
                "--server-side",
                &format!("--field-manager={GITOPS}"),
                "-f",
                "-",
            ],
            Some(&list),
        );
        Some(c)
    }

    fn render(&self) -> Vec<Value> {
        let values: Vec<&str> = self.values.iter().map(String::as_str).collect();
        helm_template(&self.helm, NS, &values)
    }

    fn kubectl_as(
        &self,
        kubeconfig: &Path,
        args: &[&str],
        stdin: Option<&Value>,
    ) -> (bool, String) {
        let input = stdin.map(Value::to_string).unwrap_or_default();
        kubectl_output(&run_kubectl(
            &self.kubectl,
            kubeconfig,
            args,
            input.as_bytes(),
        ))
    }

    fn admin(&self, args: &[&str], stdin: Option<&Value>) -> String {
        let (ok, out) = self.kubectl_as(&self.emu.admin_kubeconfig(), args, stdin);
        assert!(ok, "kubectl {}: {out}", args.join(" "));
        out
    }

    fn get(&self, kind: &str, ns: &str, name: &str) -> Option<Value> {
        let mut args = vec!["get", kind, name, "-o", "json"];
        if !ns.is_empty() {
            args.extend(["-n", ns]);
        }
        let (ok, out) = self.kubectl_as(&self.emu.admin_kubeconfig(), &args, None);
        ok.then(|| serde_json::from_str(&out).unwrap())
    }

    /// The chart's webhook configuration's caBundle, decoded.
    fn ca_bundle(&self) -> Option<String> {
        let config = self.get(
            "mutatingwebhookconfiguration",
            "",
            certs::DEFAULT_WEBHOOK_CONFIGURATION,
        )?;
        let b64 = config["webhooks"][0]["clientConfig"]["caBundle"].as_str()?;
        Some(
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap(),
            )
            .unwrap(),
        )
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

/// One `agentlens-operator run` with the chart Deployment's arguments (listen addresses on
/// loopback), as the chart's ServiceAccount, and a ready pod for it in the emulator so the
/// webhook Service resolves to it.
struct Operator {
    child: Child,
    webhook_port: u16,
    log: PathBuf,
}

impl Operator {
    fn start(c: &Cluster, name: &str, extra: &[&str]) -> Self {
        let docs = c.render();
        let deploy = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
        let template = &deploy["spec"]["template"];
        let args: Vec<String> = template["spec"]["containers"][0]["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .filter(|a| !a.starts_with("--webhook-listen=") && !a.starts_with("--metrics-listen="))
            .collect();
        let webhook_port = free_port();
        let log = c.dir.path().join(format!("{name}.log"));
        let sa = template["spec"]["serviceAccountName"].as_str().unwrap();
        let child = Command::new(
            std::env::var_os("AGENTLENS_OPERATOR_BIN")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_agentlens-operator"))),
        )
        .args(&args)
        .arg(format!("--webhook-listen=127.0.0.1:{webhook_port}"))
        .arg(format!("--metrics-listen=127.0.0.1:{}", free_port()))
        .args(extra)
        .env("KUBECONFIG", c.emu.kubeconfig_for(NS, sa))
        .env("POD_NAME", name)
        .env("POD_NAMESPACE", NS)
        .env("AGENTLENS_LOG", "info,agentlens_operator=debug")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
        // Its pod: the Deployment's labels, the webhook port by name, ready at 127.0.0.1.
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS, "labels": template["metadata"]["labels"]},
            "spec": {"containers": [{"name": "operator", "image": "operator",
                "ports": [{"name": "webhook", "containerPort": webhook_port}]}]},
        });
        c.admin(&["apply", "-f", "-"], Some(&pod));
        let status = json!({"status": {"phase": "Running", "podIP": "127.0.0.1",
            "conditions": [{"type": "Ready", "status": "True"}]}});
        c.admin(
            &[
                "patch",
                "pod",
                name,
                "-n",
                NS,
                "--subresource=status",
                "--type=merge",
                "-p",
                &status.to_string(),
            ],
            None,
        );
        Self {
            child,
            webhook_port,
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The certificate this replica serves (PEM), read with `openssl s_client`.
    fn served(&self) -> Option<String> {
        let out = Command::new("openssl")
            .args(["s_client", "-connect"])
            .arg(format!("127.0.0.1:{}", self.webhook_port))
            .args([
                "-servername",
                &format!("{}.{NS}.svc", certs::DEFAULT_SERVICE),
            ])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let start = text.find("-----BEGIN CERTIFICATE-----")?;
        let end = text.find("-----END CERTIFICATE-----")? + "-----END CERTIFICATE-----".len();
        Some(format!("{}\n", &text[start..end]))
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `openssl verify` of `cert` against `bundle` for the webhook Service's in-cluster name.
fn verify(c: &Cluster, cert: &str, bundle: &str) -> (bool, String) {
    let (cert, bundle) = (c.write("served.pem", cert), c.write("bundle.pem", bundle));
    let out = Command::new("openssl")
        .args([
            "verify",
            "-verify_hostname",
            &format!("{}.{NS}.svc", certs::DEFAULT_SERVICE),
            "-CAfile",
        ])
        .arg(&bundle)
        .arg(&cert)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn openssl_present() -> bool {
    system_tool("openssl").or_skip().is_some()
}

/// The fields of `want` whose value differs in `live` (paths), recursively: what a GitOps
/// tool would show as a diff of the fields it manages.
fn differences(want: &Value, live: &Value, path: &str, out: &mut Vec<String>) {
    match (want, live) {
        (Value::Object(w), Value::Object(l)) => {
            for (k, v) in w {
                differences(
                    v,
                    l.get(k).unwrap_or(&Value::Null),
                    &format!("{path}.{k}"),
                    out,
                );
            }
        }
        (Value::Array(w), Value::Array(l)) if w.len() == l.len() => {
            for (i, (a, b)) in w.iter().zip(l).enumerate() {
                differences(a, b, &format!("{path}[{i}]"), out);
            }
        }
        (w, l) if w == l => {}
        (w, l) => out.push(format!("{path}: rendered {w}, live {l}")),
    }
}

#[test]
fn the_operator_issues_the_webhook_certificate_the_api_server_trusts_and_gitops_sees_no_diff() {
    if !openssl_present() {
        return;
    }
    let Some(c) = Cluster::start(&[]) else { return };
    let a = Operator::start(&c, "operator-a", &[]);
    let b = Operator::start(&c, "operator-b", &[]);
    let started = Instant::now();

    // The leader issues the Secret and sets the caBundle.
    let secret = wait_for(
        || format!("the Secret\n{}\n{}", a.log(), b.log()),
        Duration::from_secs(60),
        || c.get("secret", NS, certs::DEFAULT_SECRET),
    );
    let bundle = wait_for(
        || format!("the caBundle\n{}\n{}", a.log(), b.log()),
        Duration::from_secs(60),
        || c.ca_bundle(),
    );
    let issued_in = started.elapsed();
    let data = |k: &str| {
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(secret["data"][k].as_str().unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(bundle, data(certs::CA_KEY));
    assert_eq!(secret["type"], "kubernetes.io/tls");

    // Both replicas, leader or not, serve the Secret's certificate; it verifies against the
    // caBundle for the Service's name and carries every name of the Service.
    for r in [&a, &b] {
        let served = wait_for(
            || format!("the Secret's certificate served\n{}", r.log()),
            Duration::from_secs(30),
            || {
                r.served()
                    .filter(|s| s.trim() == data(certs::CERT_KEY).trim())
            },
        );
        let (ok, report) = verify(&c, &served, &bundle);
        assert!(ok, "openssl verify: {report}");
    }
    let sans = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(c.write("leaf.pem", &data(certs::CERT_KEY)))
        .output()
        .unwrap();
    let sans = String::from_utf8_lossy(&sans.stdout);
    for name in certs::dns_names(certs::DEFAULT_SERVICE, NS) {
        assert!(
            sans.contains(&format!("DNS:{name},"))
                || sans.trim_end().ends_with(&format!("DNS:{name}")),
            "{name} in {sans}"
        );
    }

    // The emulator calls the webhook through the Service, verifying it with the caBundle as an
    // API server does: an opted-in pod comes back injected.
    c.admin(
        &["apply", "-f", "-"],
        Some(
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo",
            "labels": {"agentlens.dev/injection": "enabled"}}}),
        ),
    );
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "agent", "namespace": "demo", "labels": {"agentlens.dev/inject": "true"}},
        "spec": {"containers": [{"name": "agent", "image": "ghcr.io/acme/agent:1"}]}});
    c.admin(&["create", "-f", "-"], Some(&pod));
    let created = c.get("pod", "demo", "agent").unwrap();
    let containers: Vec<&str> = created["spec"]["containers"]
        .as_array()
        .into_iter()
        .chain(created["spec"]["initContainers"].as_array())
        .flatten()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        containers.contains(&CONTAINER_NAME),
        "injected through the verified webhook: {containers:?}\n{}\n{}",
        a.log(),
        b.log()
    );

    // Argo CD-style diff: render again and compare every rendered field with the live object.
    let mut diffs = Vec::new();
    for want in c.render() {
        let kind = want["kind"].as_str().unwrap().to_lowercase();
        let ns = want["metadata"]["namespace"].as_str().unwrap_or_default();
        let name = want["metadata"]["name"].as_str().unwrap();
        let live = c.get(&kind, ns, name).unwrap_or(Value::Null);
        differences(&want, &live, &format!("{kind}/{name}"), &mut diffs);
    }
    assert!(diffs.is_empty(), "GitOps diff:\n{}", diffs.join("\n"));
    eprintln!("certificate issued and caBundle set {issued_in:?} after start; GitOps diff empty");
}

#[test]
fn the_certificate_is_renewed_before_it_expires_and_stays_trusted() {
    if !openssl_present() {
        return;
    }
    // 15 s (the chart's value): renewed when 5 s are left.
    let Some(c) = Cluster::start(&["--set", "webhook.certificate.validity=15s"]) else {
        return;
    };
    let a = Operator::start(&c, "operator-a", &[]);
    let first = wait_for(
        || format!("a served certificate\n{}", a.log()),
        Duration::from_secs(60),
        || a.served(),
    );
    let t0 = Instant::now();
    let second = wait_for(
        || format!("a renewed certificate\n{}", a.log()),
        Duration::from_secs(30),
        || a.served().filter(|s| *s != first),
    );
    let renewed_after = t0.elapsed();
    let bundle = wait_for(
        || format!("the new caBundle\n{}", a.log()),
        Duration::from_secs(10),
        || c.ca_bundle().filter(|b| verify(&c, &second, b).0),
    );
    // The previous CA stays in the bundle: a replica still serving the old certificate is
    // trusted until it has read the new one.
    let (ok, report) = verify(&c, &first, &bundle);
    assert!(
        ok,
        "the previous certificate under the new bundle: {report}"
    );
    assert_eq!(bundle.matches("BEGIN CERTIFICATE").count(), 2);
    eprintln!("renewed {renewed_after:?} after the first certificate was seen (validity 15 s)");
}

#[test]
fn only_the_agents_service_account_reads_its_pod_logs() {
    let Some(c) = Cluster::start(&[]) else { return };
    let _a = Operator::start(&c, "operator-a", &[]);
    let ns = "invoice-rpa";
    c.admin(
        &["apply", "-f", "-"],
        Some(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})),
    );
    let ad = json!({"apiVersion": "agentlens.dev/v1alpha1", "kind": "AgentDeployment",
        "metadata": {"name": "invoice-rpa", "namespace": ns},
        "spec": {"selector": {"matchLabels": {"app.kubernetes.io/part-of": "invoice-rpa"}}}});
    c.admin(&["apply", "-f", "-"], Some(&ad));
    // The pod as the webhook admitted it: only pods that carry the sidecar get the binding.
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "extractor-0", "namespace": ns,
            "labels": {"app.kubernetes.io/part-of": "invoice-rpa"},
            "annotations": {LOG_ANNOTATION: "invoice 4711 extracted\n"}},
        "spec": {"serviceAccountName": "invoice-extractor",
            "containers": [{"name": "extractor", "image": "ghcr.io/acme/extractor:1.4"},
                           {"name": CONTAINER_NAME, "image": "ghcr.io/agentlens/agentlens-sidecar:0.1.0"}]}});
    c.admin(&["apply", "-f", "-"], Some(&pod));
    // Another workload of the namespace, with a grant of its own (so the emulator writes its
    // kubeconfig) that says nothing about logs.
    let other = json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": "reads-configmaps", "namespace": ns},
         "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "reads-configmaps", "namespace": ns},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reads-configmaps"},
         "subjects": [{"kind": "ServiceAccount", "name": "batch-job", "namespace": ns}]}]});
    c.admin(&["apply", "-f", "-"], Some(&other));

    let binding = wait_for(
        || format!("the sidecar RoleBinding\n{}", _a.log()),
        Duration::from_secs(60),
        || {
            c.get(
                "rolebinding",
                ns,
                &sidecar_access::binding_name("invoice-rpa"),
            )
        },
    );
    assert_eq!(
        binding["roleRef"]["name"],
        sidecar_access::DEFAULT_CLUSTER_ROLE
    );
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": "invoice-extractor", "namespace": ns}])
    );
    assert_eq!(
        binding["metadata"]["ownerReferences"][0]["name"],
        "invoice-rpa"
    );

    let path = format!("/api/v1/namespaces/{ns}/pods/extractor-0/log?container=extractor");
    let as_account = |sa: &str, path: &str| {
        let kubeconfig = wait_for(
            || format!("kubeconfig of {sa}"),
            Duration::from_secs(10),
            || Some(c.emu.kubeconfig_for(ns, sa)).filter(|p| p.is_file()),
        );
        emulator_process::get(
            &emulator_process::read_kubeconfig(&kubeconfig).unwrap(),
            path,
        )
        .unwrap()
    };
    let (code, body) = as_account("invoice-extractor", &path);
    assert_eq!((code, body.as_str()), (200, "invoice 4711 extracted\n"));
    let (code, body) = as_account("batch-job", &path);
    assert_eq!(code, 403, "{body}");
    // The agent's account reads nothing outside its namespace either.
    let (code, _) = as_account(
        "invoice-extractor",
        &format!("/api/v1/namespaces/{NS}/pods/operator-a/log"),
    );
    assert_eq!(code, 403);
}
