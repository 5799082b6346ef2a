//! `make bench` helper: the release `agentlens-operator run` against `kube-emulator` over
//! HTTPS. 1,000 AgentDeployments of 10 pods each (100 namespaces, with the invoice-rpa
//! dump's ConfigMaps, Secrets, Models and Evaluations in each) are created through the API
//! while the operator runs; prints how long the creation took, how long until every
//! AgentDeployment had its status, and the operator's and the emulator's resident memory. The
//! pods' `podIP`s are three real `agentlens-sidecar` processes (`support/real_sidecars.rs`:
//! inventories of hundreds of packages, tracebacks, GenAI usage, a model), from which the
//! operator pulls every injected pod's snapshot and each inventory's package list, as in a
//! cluster.
//!
//! Usage: `bench_emulator OPERATOR_BIN EMULATOR_BIN [SYSTEMS]`.

// A benchmark harness: a failed set-up step should stop it loudly.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/real_sidecars.rs"]
mod real_sidecars;

use agentlens_crds::{AgentDeployment, Evaluation, Model};
use agentlens_operator::dump;
use agentlens_tests::emulator_process::Emulator;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

fn rss_mib(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|k| k.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

async fn client(kubeconfig: &Path) -> Client {
    let kc = Kubeconfig::read_from(kubeconfig).unwrap();
    let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    Client::try_from(cfg).unwrap()
}

async fn create_in<K>(objs: Vec<K>, api: impl Fn(&K) -> Api<K>)
where
    K: Resource<DynamicType = ()> + Clone + Serialize + DeserializeOwned + std::fmt::Debug,
{
    futures::stream::iter(objs)
        .map(|o| {
            let api = api(&o);
            async move { api.create(&PostParams::default(), &o).await.map(|_| ()) }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await
        .unwrap();
}

/// Creates namespaced objects, 16 requests in flight.
async fn create_all<K>(client: &Client, objs: Vec<K>)
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + Serialize
        + DeserializeOwned
        + std::fmt::Debug,
{
    create_in(objs, |o| {
        Api::namespaced(
            client.clone(),
            o.meta().namespace.as_deref().unwrap_or("default"),
        )
    })
    .await;
}

/// Creates cluster-scoped objects.
async fn create_cluster<K>(client: &Client, objs: Vec<K>)
where
    K: Resource<DynamicType = ()> + Clone + Serialize + DeserializeOwned + std::fmt::Debug,
{
    create_in(objs, |_| Api::all(client.clone())).await;
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    let operator = PathBuf::from(&args[1]);
    let emulator_bin = PathBuf::from(&args[2]);
    let systems: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let sidecar = agentlens_tests::tools::binary("AGENTLENS_SIDECAR_BIN", "agentlens-sidecar")
        .expect("the agentlens-sidecar binary beside the examples");
    let real = real_sidecars::start(&sidecar);
    let emu = Emulator::start_binary(&emulator_bin, &["--history", "200000"]).unwrap();
    let admin = client(&emu.admin_kubeconfig()).await;

    let crds: Vec<CustomResourceDefinition> = agentlens_crds::manifests::render()
        .unwrap()
        .into_iter()
        .map(|(_, yaml)| serde_saphyr::from_str(&yaml).unwrap())
        .collect();
    create_cluster(&admin, crds).await;

    // The operator, started on the empty cluster (its own namespace only).
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    std::fs::write(dir.path().join("tls.crt"), cert.cert.pem()).unwrap();
    std::fs::write(dir.path().join("tls.key"), cert.signing_key.serialize_pem()).unwrap();
    let ns = |name: &str| -> Namespace {
        serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap()
    };
    create_cluster(&admin, vec![ns("agentlens-system")]).await;
    let mut op = Command::new(&operator)
        .args([
            "run",
            "--native-sidecars",
            "true",
            "--namespace",
            "agentlens-system",
        ])
        .arg(format!("--sidecar-port={}", real.port))
        .arg(format!("--metrics-listen=127.0.0.1:{}", free_port()))
        .arg(format!("--webhook-listen=127.0.0.1:{}", free_port()))
        .arg(format!(
            "--tls-cert={}",
            dir.path().join("tls.crt").display()
        ))
        .arg(format!(
            "--tls-key={}",
            dir.path().join("tls.key").display()
        ))
        .env("KUBECONFIG", emu.admin_kubeconfig())
        .env("AGENTLENS_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();

    // The objects: `systems` AgentDeployments of 10 pods, 10 per namespace.
    let base = dump::read(include_str!("../tests/data/dumps/invoice-rpa.yaml")).unwrap();
    let template: Pod = base
        .pods
        .iter()
        .find(|p| {
            p.metadata
                .name
                .as_deref()
                .unwrap()
                .starts_with("pdf-parser")
        })
        .cloned()
        .unwrap();
    let namespaces = systems.div_ceil(10);
    let (mut nss, mut cms, mut secrets, mut models, mut ads, mut evals, mut pods) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let clean = |m: &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta, ns: &str| {
        m.namespace = Some(ns.into());
        m.resource_version = None;
        m.uid = None;
        m.creation_timestamp = None;
        m.managed_fields = None;
        m.owner_references = None;
    };
    for n in 0..namespaces {
        let name = format!("agents-{n:03}");
        nss.push(ns(&name));
        for c in &base.config_maps {
            let mut c: ConfigMap = c.clone();
            clean(&mut c.metadata, &name);
            cms.push(c);
        }
        for s in &base.secrets {
            let mut s: Secret = s.clone();
            clean(&mut s.metadata, &name);
            secrets.push(s);
        }
        for m in &base.models {
            let mut m: Model = m.clone();
            clean(&mut m.metadata, &name);
            m.status = None;
            models.push(m);
        }
        for i in 0..10.min(systems - n * 10) {
            let sys = format!("system-{i}");
            let mut ad: AgentDeployment = base.agent_deployments[0].clone();
            clean(&mut ad.metadata, &name);
            ad.metadata.name = Some(sys.clone());
            ad.status = None;
            ad.spec.selector.match_labels = Some(BTreeMap::from([(
                "app.kubernetes.io/part-of".to_string(),
                sys.clone(),
            )]));
            ad.spec.sidecar = None;
            ads.push(ad);
            for e in &base.evaluations {
                let mut e: Evaluation = e.clone();
                clean(&mut e.metadata, &name);
                e.metadata.name = Some(format!("{}-{sys}", e.metadata.name.clone().unwrap()));
                e.spec.agent_deployment = sys.clone();
                evals.push(e);
            }
            for k in 0..10 {
                let mut p = template.clone();
                clean(&mut p.metadata, &name);
                p.metadata.name = Some(format!("{sys}-pod-{k}"));
                p.metadata
                    .labels
                    .as_mut()
                    .unwrap()
                    .insert("app.kubernetes.io/part-of".into(), sys.clone());
                // Each system's sidecars are one of the real ones (one image per system).
                let ip = real.ips[(n * 10 + i) % real.ips.len()].clone();
                if let Some(s) = p.status.as_mut() {
                    s.pod_ip = Some(ip.clone());
                    s.pod_ips = Some(vec![k8s_openapi::api::core::v1::PodIP { ip }]);
                }
                pods.push(p);
            }
        }
    }
    let total_pods = pods.len();
    let started = Instant::now();
    create_cluster(&admin, nss).await;
    create_all(&admin, cms).await;
    create_all(&admin, secrets).await;
    create_all(&admin, models).await;
    create_all(&admin, evals).await;
    let statuses: Vec<(String, String, Pod)> = pods
        .iter()
        .map(|p| {
            (
                p.metadata.namespace.clone().unwrap(),
                p.metadata.name.clone().unwrap(),
                p.clone(),
            )
        })
        .collect();
    create_all(&admin, pods).await;
    futures::stream::iter(statuses)
        .map(|(ns, name, p)| {
            let api: Api<Pod> = Api::namespaced(admin.clone(), &ns);
            let patch = serde_json::json!({"status": p.status});
            async move {
                api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map(|_| ())
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await
        .unwrap();
    create_all(&admin, ads).await;
    let created = started.elapsed();

    let all: Api<AgentDeployment> = Api::all(admin.clone());
    let deadline = Instant::now() + Duration::from_secs(900);
    let done = loop {
        let list = all.list(&ListParams::default()).await.unwrap();
        // Written with what the sidecars' snapshots give (the inventory), not before.
        let written = list
            .items
            .iter()
            .filter(|a| a.status.as_ref().is_some_and(|s| !s.inventory.is_empty()))
            .count();
        if written == systems {
            break started.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "{written}/{systems} statuses after 15 min"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let op_rss = rss_mib(op.id());
    let emu_rss = rss_mib(emu.pid());
    let _ = op.kill();
    let _ = op.wait();
    println!(
        "systems={systems} pods={total_pods} create_s={:.1} all_status_s={:.1} lag_s={:.1} operator_rss_mib={op_rss:.1} emulator_rss_mib={emu_rss:.1}",
        created.as_secs_f64(),
        done.as_secs_f64(),
        (done - created).as_secs_f64()
    );
}
