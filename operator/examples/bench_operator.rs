//! `make bench` helper: 1,000 AgentDeployments of 10 pods each (100 namespaces) in the
//! in-memory API (`kube-fake-client`). Prints the pure status computation time per system,
//! the full reconcile time (stores → compute → server-side-apply status patch), and the
//! process's resident memory after a full pass.

// A benchmark harness: a failed set-up step should stop it loudly.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentlens_crds::{AgentDeployment, Evaluation, Model};
use agentlens_operator::controller::index::DigestIndex;
use agentlens_operator::controller::metrics::OperatorMetrics;
use agentlens_operator::controller::reconcile::{Ctx, reconcile_agent_deployment};
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

fn main() {
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
            snapshots: None,
            live: Arc::default(),
            refresh: std::time::Duration::from_secs(60),
            metrics: OperatorMetrics::new().unwrap(),
            now,
            recorder: None,
        sidecar_access: None,
        });
        let rss_stores = rss_mib();

        // Pure computation, per system (10 pods), from prebuilt inputs.
        let mut pure = Vec::with_capacity(ads.len());
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
            let snaps = BTreeMap::new();
            let lists = status::inventory::PackageLists::new();
            let world = status::World { ad, pods: &p, config_maps: &cm, secrets: &sec, models: &md, evaluations: &ev, snapshots: &snaps, package_lists: &lists };
            let t = Instant::now();
            let s = status::agent_deployment(&world, None, &now());
            pure.push(t.elapsed());
            assert_eq!(s.pods.unwrap().matched, 10);
        }

        // Full reconcile through the stores and the in-memory API (first pass: every status written).
        let mut full = Vec::with_capacity(ads.len());
        for ad in &ads {
            let t = Instant::now();
            reconcile_agent_deployment(Arc::new(ad.clone()), ctx.clone()).await.unwrap();
            full.push(t.elapsed());
        }
        let rss = rss_mib();
        println!("pure_median_us={:.1} pure_p99_us={:.1}", pct(&mut pure, 0.5), pct(&mut pure, 0.99));
        println!("reconcile_median_us={:.1} reconcile_p99_us={:.1}", pct(&mut full, 0.5), pct(&mut full, 0.99));
        println!(
            "rss_mib={rss:.1} inputs_mib={rss_inputs:.1} fake_api_mib={:.1} stores_mib={:.1} reconcile_mib={:.1} agentdeployments={} pods={}",
            rss_fake_api - rss_inputs,
            rss_stores - rss_fake_api,
            rss - rss_stores,
            ads.len(),
            pods.len()
        );
    });
}
