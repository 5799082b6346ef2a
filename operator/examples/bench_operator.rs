//! `make bench` helper: 1,000 AgentDeployments of 10 pods each (100 namespaces) in the
//! in-memory API (`kube-fake-client`), their injected pods' sidecars served by three real
//! `agentlens-sidecar` processes (`support/real_sidecars.rs`: inventories of hundreds of
//! packages, tracebacks, GenAI usage, a model). Prints the pure status computation time per
//! system with those snapshots and package lists (and without, the baseline), the full reconcile
//! time (stores → snapshot pulls over HTTP → compute → server-side-apply status patch), the
//! process's resident memory after a full pass, and the sidecar container's default memory limit
//! (what the webhook writes, for the idle RSS row).

// A benchmark harness: a failed set-up step should stop it loudly.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentlens_crds::{AgentDeployment, Evaluation, Model};
#[path = "support/real_sidecars.rs"]
mod real_sidecars;

use agentlens_operator::controller::index::DigestIndex;
use agentlens_operator::controller::live::LiveFigures;
use agentlens_operator::controller::metrics::OperatorMetrics;
use agentlens_operator::controller::reconcile::{Ctx, reconcile_agent_deployment};
use agentlens_operator::controller::snapshots::SnapshotClient;
use agentlens_operator::status::configs::ConfigDigest;
use agentlens_operator::{dump, status};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher::Event;

fn store<K: kube::Resource<DynamicType = ()> + Clone + 'static>(
    objs: &[K],
) -> kube::runtime::reflector::Store<K> {
    let mut w = Writer::<K>::default();
    w.apply_watcher_event(&Event::Init);
    for o in objs {
        w.apply_watcher_event(&Event::InitApply(o.clone()));
    }
    w.apply_watcher_event(&Event::InitDone);
    w.as_reader()
}

fn now() -> Time {
    Time("2026-11-27T09:00:00Z".parse().unwrap())
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e6
}

fn rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|k| k.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// The sidecar container's default memory limit, in MiB.
fn sidecar_memory_limit_mib() -> f64 {
    let limits = agentlens_operator::inject::sidecar::default_resources()
        .limits
        .unwrap_or_default();
    let q = limits
        .get("memory")
        .map(|q| q.0.as_str())
        .unwrap_or_default();
    let (n, unit) = q.split_at(q.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(q.len()));
    let n: f64 = n.parse().expect("a memory quantity");
    match unit {
        "Mi" => n,
        "Gi" => n * 1024.0,
        "Ki" => n / 1024.0,
        other => panic!("memory limit in an unexpected unit: {other}"),
    }
}

fn main() {
    let sidecar = agentlens_tests::tools::binary("AGENTLENS_SIDECAR_BIN", "agentlens-sidecar")
        .expect("the agentlens-sidecar binary beside the examples");
    let real = real_sidecars::start(&sidecar);
    let base = dump::read(include_str!("../tests/data/dumps/invoice-rpa.yaml")).unwrap();
    let template_pods: Vec<Pod> = base
        .pods
        .iter()
        .filter(|p| {
            p.metadata
                .name
                .as_deref()
                .unwrap()
                .starts_with("pdf-parser")
        })
        .cloned()
        .collect();
    let (mut ads, mut pods, mut cms, mut secrets, mut models, mut evals) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for n in 0..100 {
        let ns = format!("agents-{n:03}");
        let set_ns = |m: &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
            m.namespace = Some(ns.clone())
        };
        for c in &base.config_maps {
            let mut c: ConfigMap = c.clone();
            set_ns(&mut c.metadata);
            cms.push(c);
        }
        for s in &base.secrets {
            let mut s: Secret = s.clone();
            set_ns(&mut s.metadata);
            secrets.push(s);
        }
        for m in &base.models {
            let mut m: Model = m.clone();
            set_ns(&mut m.metadata);
            models.push(m);
        }
        for i in 0..10 {
            let sys = format!("system-{i}");
            let mut ad: AgentDeployment = base.agent_deployments[0].clone();
            ad.metadata.name = Some(sys.clone());
            set_ns(&mut ad.metadata);
            ad.spec.selector.match_labels = Some(BTreeMap::from([(
                "app.kubernetes.io/part-of".to_string(),
                sys.clone(),
            )]));
            ad.spec.sidecar = None;
            ads.push(ad);
            for e in &base.evaluations {
                let mut e: Evaluation = e.clone();
                e.metadata.name = Some(format!("{}-{sys}", e.metadata.name.clone().unwrap()));
                e.spec.agent_deployment = sys.clone();
                set_ns(&mut e.metadata);
                evals.push(e);
            }
            for k in 0..10 {
                let mut p = template_pods[k % template_pods.len()].clone();
                p.metadata.name = Some(format!("{sys}-pod-{k}"));
                set_ns(&mut p.metadata);
                p.metadata
                    .labels
                    .as_mut()
                    .unwrap()
                    .insert("app.kubernetes.io/part-of".into(), sys.clone());
                // Each system's sidecars are one of the real ones (one image per system).
                let ip = real.ips[(n * 10 + i) % real.ips.len()].clone();
                if let Some(st) = p.status.as_mut() {
                    st.pod_ip = Some(ip.clone());
                    st.pod_ips = Some(vec![k8s_openapi::api::core::v1::PodIP { ip }]);
                }
                pods.push(p);
            }
        }
    }
    let rss_inputs = rss_mib();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let client = kube_fake_client::ClientBuilder::new()
            .with_resource::<AgentDeployment>()
            .with_status_subresource::<AgentDeployment>()
            .with_objects(ads.clone())
            .build()
            .await
            .unwrap();
        let rss_fake_api = rss_mib();
        let ctx = Arc::new(Ctx {
            client,
            // The pods, ConfigMaps and Secrets reduced to facts and digests, as `run`'s cache does.
            pods: agentlens_operator::controller::index::PodIndex::from_pods(&pods),
            config_maps: DigestIndex::from_objects(&cms, ConfigDigest::of_configmap),
            secrets: DigestIndex::from_objects(&secrets, |s| ConfigDigest::of_secret(s, Some(&[7; 32]))),
            models: store(&models),
            evaluations: store(&evals),
            snapshots: Some(SnapshotClient::new(real.port, None)),
            live: Arc::default(),
            refresh: std::time::Duration::from_secs(60),
            metrics: OperatorMetrics::new().unwrap(),
            now,
            recorder: None,
        sidecar_access: None,
        });
        let rss_stores = rss_mib();

        // The package lists of the three inventories, as the reconciler's client fetches them.
        let client = SnapshotClient::new(real.port, None);
        let mut lists = status::inventory::PackageLists::new();
        for (ip, snap) in real.ips.iter().zip(&real.snapshots) {
            let mut one = status::PodFacts::from_pod(&pods[0]);
            (one.name, one.pod_ip) = ("sidecar".into(), Some(ip.clone()));
            let snaps = BTreeMap::from([("sidecar".to_string(), snap.clone())]);
            lists.extend(client.package_lists(&snaps, &[&one], &[]).await);
        }
        let packages: usize = real.snapshots.iter().flat_map(|s| &s.inventory).map(|i| i.packages as usize).sum::<usize>() / real.snapshots.len();

        // Pure computation, per system (10 pods), from prebuilt inputs; with the snapshots of
        // the pods' sidecars and their package lists, and without (the baseline).
        let mut pure = Vec::with_capacity(ads.len());
        let mut bare = Vec::with_capacity(ads.len());
        let (kept_at, interval) = (Instant::now(), Duration::from_secs(60));
        for ad in &ads {
            let ns = ad.metadata.namespace.clone().unwrap();
            let facts: Vec<status::PodFacts> = pods.iter().filter(|x| x.metadata.namespace.as_deref() == Some(&ns)).map(status::PodFacts::from_pod).collect();
            let p: Vec<&status::PodFacts> = facts.iter().collect();
            let cm_d: BTreeMap<String, ConfigDigest> = cms.iter().filter(|c| c.metadata.namespace.as_deref() == Some(&ns)).map(|c| (c.metadata.name.clone().unwrap(), ConfigDigest::of_configmap(c))).collect();
            let sec_d: BTreeMap<String, ConfigDigest> = secrets.iter().filter(|c| c.metadata.namespace.as_deref() == Some(&ns)).map(|c| (c.metadata.name.clone().unwrap(), ConfigDigest::of_secret(c, Some(&[7; 32])))).collect();
            let cm: BTreeMap<String, &ConfigDigest> = cm_d.iter().map(|(n, d)| (n.clone(), d)).collect();
            let sec: BTreeMap<String, &ConfigDigest> = sec_d.iter().map(|(n, d)| (n.clone(), d)).collect();
            let md: BTreeMap<String, &Model> = models.iter().filter(|c| c.metadata.namespace.as_deref() == Some(&ns)).map(|c| (c.metadata.name.clone().unwrap(), c)).collect();
            let ev: Vec<&Evaluation> = evals.iter().filter(|c| c.metadata.namespace.as_deref() == Some(&ns)).collect();
            let matched = status::matched(ad, &p);
            let snaps: BTreeMap<String, agentlens_crds::Snapshot> = matched
                .iter()
                .filter(|f| f.injected && f.ready)
                .filter_map(|f| {
                    let at = real.ips.iter().position(|ip| f.pod_ip.as_ref() == Some(ip))?;
                    Some((f.name.clone(), real.snapshots[at].clone()))
                })
                .collect();
            let world = status::World { ad, pods: &p, config_maps: &cm, secrets: &sec, models: &md, evaluations: &ev, snapshots: &snaps, package_lists: &lists };
            let t = Instant::now();
            let s = status::agent_deployment(&world, None, &now());
            pure.push(t.elapsed());
            assert_eq!(s.pods.as_ref().unwrap().matched, 10);
            assert!(!s.inventory.is_empty(), "the snapshots' inventories reach the status");
            // The same status from the snapshots as the reconciler keeps them between pulls.
            let live = LiveFigures::default();
            let key = (ns.clone(), ad.metadata.name.clone().unwrap());
            let reduced = snaps.iter().map(|(p, x)| (p.clone(), status::kept::reduce(x.clone()))).collect();
            live.put(key.clone(), kept_at, &reduced, interval);
            let kept = live.fresh(&key, kept_at, interval).unwrap();
            assert_eq!(status::agent_deployment(&status::World { snapshots: &kept, ..world }, None, &now()), s, "the kept snapshots give the status the full ones give");
            let (none, no_lists) = (BTreeMap::new(), status::inventory::PackageLists::new());
            let world = status::World { snapshots: &none, package_lists: &no_lists, ..world };
            let t = Instant::now();
            status::agent_deployment(&world, None, &now());
            bare.push(t.elapsed());
        }

        // Full reconcile through the stores and the in-memory API (first pass: every status written).
        let mut full = Vec::with_capacity(ads.len());
        for ad in &ads {
            let t = Instant::now();
            reconcile_agent_deployment(Arc::new(ad.clone()), ctx.clone()).await.unwrap();
            full.push(t.elapsed());
        }
        let rss = rss_mib();
        let (kept, kept_bytes) = ctx.live.kept();
        let pulled: usize = real.snapshots.iter().map(|s| serde_json::to_vec(s).unwrap().len()).sum::<usize>() / real.snapshots.len();
        println!("pure_median_us={:.1} pure_p99_us={:.1} bare_median_us={:.1} bare_p99_us={:.1} snapshot_pods={} packages={packages} sidecar_memory_limit_mib={}", pct(&mut pure, 0.5), pct(&mut pure, 0.99), pct(&mut bare, 0.5), pct(&mut bare, 0.99), pods.iter().filter(|p| { let f = status::PodFacts::from_pod(p); f.injected && f.ready }).count(), sidecar_memory_limit_mib());
        println!("reconcile_median_us={:.1} reconcile_p99_us={:.1}", pct(&mut full, 0.5), pct(&mut full, 0.99));
        println!(
            "rss_mib={rss:.1} inputs_mib={rss_inputs:.1} fake_api_mib={:.1} stores_mib={:.1} reconcile_mib={:.1} agentdeployments={} pods={}",
            rss_fake_api - rss_inputs,
            rss_stores - rss_fake_api,
            rss - rss_stores,
            ads.len(),
            pods.len()
        );
        println!("kept_snapshots={kept} kept_bytes_per_snapshot={} pulled_bytes_per_snapshot={pulled}", kept_bytes / kept.max(1));
    });
}
