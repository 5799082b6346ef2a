//! Load figures of `kube-emulator` (for the README's benchmark table, not a test): N ConfigMaps
//! created through kube-rs with C requests in flight, a watch receiving every event, a full
//! list, N status writes through server-side apply, and the emulator's resident memory.
//!
//! `cargo build -p agentlens-tests --bin kube-emulator --release && cargo run -p agentlens-tests
//! --release --example emulator_load -- 5000 16`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use agentlens_tests::emulator_process::Emulator;
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(2000);
    let c = args.get(1).copied().unwrap_or(16);
    let emu = Emulator::start().unwrap();
    let kc = kube::config::Kubeconfig::read_from(emu.admin_kubeconfig()).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(cfg).unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let watch = cms.watch(&WatchParams::default(), &rv).await.unwrap();
    let watched = tokio::spawn(async move {
        let mut seen = 0;
        let mut events = watch.boxed();
        while let Some(e) = events.next().await {
            if matches!(e, Ok(WatchEvent::Added(_))) {
                seen += 1;
                if seen == n {
                    return Instant::now();
                }
            }
        }
        Instant::now()
    });
    let start = Instant::now();
    stream::iter(0..n)
        .map(|i| {
            let cms = cms.clone();
            async move {
                let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": format!("cm-{i}"), "labels": {"i": i.to_string()}}, "data": {"k": "v".repeat(512)}})).unwrap();
                cms.create(&PostParams::default(), &cm).await.map(|_| ())
            }
        })
        .buffer_unordered(c)
        .try_collect::<Vec<()>>()
        .await
        .unwrap();
    let created = start.elapsed();
    let last_event = watched.await.unwrap().duration_since(start);
    let t = Instant::now();
    let all = cms.list(&ListParams::default()).await.unwrap();
    let listed = t.elapsed();
    assert_eq!(all.items.len(), n);
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for i in 0..c {
        let pod: Pod = serde_json::from_value(json!({"metadata": {"name": format!("p-{i}")}, "spec": {"containers": [{"name": "c", "image": "i"}]}})).unwrap();
        pods.create(&PostParams::default(), &pod).await.unwrap();
    }
    let t = Instant::now();
    let pp = PatchParams::apply("load").force();
    stream::iter(0..n)
        .map(|i| {
            let pods = pods.clone();
            let pp = pp.clone();
            async move {
                let status = json!({"apiVersion": "v1", "kind": "Pod", "status": {"phase": "Running", "podIP": format!("127.0.{}.{}", i / 250, i % 250 + 1)}});
                pods.patch_status(&format!("p-{}", i % c), &pp, &Patch::Apply(status)).await.map(|_| ())
            }
        })
        .buffer_unordered(c)
        .try_collect::<Vec<()>>()
        .await
        .unwrap();
    let applied = t.elapsed();
    println!("objects {n}, in flight {c}");
    println!(
        "create: {:.0} objects/s ({created:.2?}); last watch event {last_event:.2?} after start",
        n as f64 / created.as_secs_f64()
    );
    println!("list of {n}: {listed:.2?}");
    println!(
        "status apply: {:.0} writes/s ({applied:.2?})",
        n as f64 / applied.as_secs_f64()
    );
    println!("emulator RSS: {} MiB", rss_kib(emu.pid()) / 1024);
}
