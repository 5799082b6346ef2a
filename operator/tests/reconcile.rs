//! The AgentDeployment and Model reconcilers against the in-memory API (`kube-fake-client`),
//! with the objects of the invoice-rpa dump: the status is written once with a server-side-apply
//! status patch, and a reconcile of the unchanged system sends no write (counted at the API).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use agentlens_crds::{AgentDeployment, Model};
use agentlens_operator::controller::index::{DigestIndex, PodIndex};
use agentlens_operator::controller::metrics::OperatorMetrics;
use agentlens_operator::controller::reconcile::{Ctx, reconcile_agent_deployment, reconcile_model};
use agentlens_operator::dump;
use agentlens_operator::status::configs::ConfigDigest;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Api;
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher::Event;
use kube_fake_client::ClientBuilder;
use kube_fake_client::interceptor::Funcs;

/// The reconcilers' context over the objects of a dump, writing to `client`.
fn ctx_for(client: &kube::Client, d: &dump::Dump, hmac_key: Vec<u8>) -> Arc<Ctx> {
    Arc::new(Ctx {
        client: client.clone(),
        pods: PodIndex::from_pods(&d.pods),
        config_maps: DigestIndex::from_objects(&d.config_maps, ConfigDigest::of_configmap),
        secrets: DigestIndex::from_objects(&d.secrets, |s| {
            ConfigDigest::of_secret(s, Some(&hmac_key))
        }),
        models: store(&d.models),
        evaluations: store(&d.evaluations),
        snapshots: None,
        live: Arc::default(),
        refresh: std::time::Duration::from_secs(60),
        metrics: OperatorMetrics::new().unwrap(),
        now: fixed_now,
        recorder: None,
        sidecar_access: None,
    })
}

fn fixed_now() -> Time {
    Time("2026-11-27T09:00:00Z".parse().unwrap())
}

fn store<K>(objs: &[K]) -> kube::runtime::reflector::Store<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    let mut w = Writer::<K>::default();
    w.apply_watcher_event(&Event::Init);
    for o in objs {
        w.apply_watcher_event(&Event::InitApply(o.clone()));
    }
    w.apply_watcher_event(&Event::InitDone);
    w.as_reader()
}

#[tokio::test]
async fn status_is_written_once_and_not_again_for_an_unchanged_system() {
    let d = dump::read(include_str!("data/dumps/invoice-rpa.yaml")).unwrap();
    let writes = Arc::new(AtomicUsize::new(0));
    let w2 = writes.clone();
    let client = ClientBuilder::new()
        .with_resource::<AgentDeployment>()
        .with_status_subresource::<AgentDeployment>()
        .with_resource::<Model>()
        .with_status_subresource::<Model>()
        .with_objects(d.agent_deployments.clone())
        .with_objects(d.models.clone())
        .with_interceptor_funcs(Funcs::new().patch_status(move |_ctx| {
            w2.fetch_add(1, Ordering::SeqCst);
            Ok(None)
        }))
        .build()
        .await
        .unwrap();
    let ctx = ctx_for(&client, &d, dump::hmac_key(&d).unwrap());
    let api: Api<AgentDeployment> = Api::namespaced(client.clone(), "invoice-rpa");
    let ad = api.get("invoice-rpa").await.unwrap();
    assert!(ad.status.is_none());

    reconcile_agent_deployment(Arc::new(ad), ctx.clone())
        .await
        .unwrap();
    assert_eq!(writes.load(Ordering::SeqCst), 1);
    let ad = api.get("invoice-rpa").await.unwrap();
    let s = ad.status.clone().expect("status written");
    assert_eq!(s.pods.as_ref().unwrap().injected_of_matched, "5/6");
    assert_eq!(s.models.len(), 3);
    assert_eq!(
        ad.spec, d.agent_deployments[0].spec,
        "the spec is untouched"
    );

    // Nothing changed: no write reaches the API.
    reconcile_agent_deployment(Arc::new(ad.clone()), ctx.clone())
        .await
        .unwrap();
    assert_eq!(
        writes.load(Ordering::SeqCst),
        1,
        "an unchanged system is not written"
    );

    // Models: lineage written once, then nothing.
    let mapi: Api<Model> = Api::namespaced(client.clone(), "invoice-rpa");
    let m = mapi.get("invoice-extractor").await.unwrap();
    reconcile_model(Arc::new(m), ctx.clone()).await.unwrap();
    let m = mapi.get("invoice-extractor").await.unwrap();
    let lineage: Vec<String> = m
        .status
        .as_ref()
        .unwrap()
        .lineage
        .iter()
        .map(|e| e.name.clone())
        .collect();
    assert_eq!(lineage, ["llama-3.1-8b-instruct", "invoice-extractor"]);
    let before = writes.load(Ordering::SeqCst);
    reconcile_model(Arc::new(m), ctx.clone()).await.unwrap();
    assert_eq!(writes.load(Ordering::SeqCst), before);

    // The operator's metrics are clean for promtool.
    let text = String::from_utf8(ctx.metrics.render().unwrap()).unwrap();
    assert!(
        text.contains("agentlens_operator_status_writes_total{controller=\"agentdeployment\"} 1")
    );
    promtool_check(&text);
}

fn promtool_check(text: &str) {
    use std::io::Write;
    let Some(promtool) = agentlens_tests::tools::system_tool("promtool").or_skip() else {
        return;
    };
    let mut p = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    p.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = p.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn pods_created_without_the_sidecar_roll_their_deployment_once() {
    use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
    let mut d = dump::read(include_str!("data/dumps/invoice-rpa.yaml")).unwrap();
    let owner = |kind: &str, name: &str| {
        serde_json::from_value(serde_json::json!([{"apiVersion": "apps/v1", "kind": kind, "name": name,
            "uid": "6f0c1b9e-7a6d-4d0e-9a51-0b3c2f1e4d77", "controller": true, "blockOwnerDeletion": true}]))
        .unwrap()
    };
    let pod = d
        .pods
        .iter_mut()
        .find(|p| p.metadata.name.as_deref() == Some("pdf-parser-7c9d8f6b5-g5h6j"))
        .unwrap();
    pod.metadata.owner_references = Some(owner("ReplicaSet", "pdf-parser-7c9d8f6b5"));
    let deploy: Deployment = serde_json::from_value({
        let mut v = serde_yaml_value("pdf-parser");
        v["metadata"]["uid"] = "6f0c1b9e-7a6d-4d0e-9a51-0b3c2f1e4d77".into();
        v
    })
    .unwrap();
    let mut rs = ReplicaSet::default();
    rs.metadata.name = Some("pdf-parser-7c9d8f6b5".into());
    rs.metadata.namespace = Some("invoice-rpa".into());
    rs.metadata.owner_references = Some(owner("Deployment", "pdf-parser"));
    let client = ClientBuilder::new()
        .with_resource::<AgentDeployment>()
        .with_status_subresource::<AgentDeployment>()
        .with_objects(d.agent_deployments.clone())
        .with_object(deploy)
        .with_object(rs)
        .build()
        .await
        .unwrap();
    let ctx = ctx_for(&client, &d, vec![7; 32]);
    let ads: Api<AgentDeployment> = Api::namespaced(client.clone(), "invoice-rpa");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "invoice-rpa");
    let ad = ads.get("invoice-rpa").await.unwrap();
    reconcile_agent_deployment(Arc::new(ad), ctx.clone())
        .await
        .unwrap();
    // Later reconciles (the pod is still uninjected: the webhook is still down) must not roll
    // the Deployment again: the stamp keeps the first time.
    let later = Arc::new(Ctx {
        now: later_now,
        ..(*ctx).clone()
    });
    for _ in 0..3 {
        let ad = ads.get("invoice-rpa").await.unwrap();
        reconcile_agent_deployment(Arc::new(ad), later.clone())
            .await
            .unwrap();
    }
    let dep = deployments.get("pdf-parser").await.unwrap();
    let stamp = dep
        .spec
        .unwrap()
        .template
        .metadata
        .unwrap()
        .annotations
        .unwrap()["agentlens.dev/restarted-for-injection"]
        .clone();
    assert_eq!(
        stamp, "2026-11-27T09:00:00Z",
        "rolled out once, never in a loop"
    );
    // The uninjected pod is what `AgentLensSidecarMissing` alerts on.
    let status = ads.get("invoice-rpa").await.unwrap().status.unwrap();
    let uninjected = status.pods.unwrap().uninjected_count;
    assert!(uninjected >= 1);
    let text = String::from_utf8(later.metrics.render().unwrap()).unwrap();
    let line = format!(
        "agentlens_agentdeployment_uninjected_pods{{agentdeployment=\"invoice-rpa\",namespace=\"invoice-rpa\"}} {uninjected}"
    );
    assert!(text.contains(&line), "{line} not in\n{text}");
    let score = status.maturity.as_ref().unwrap().score;
    let line = format!(
        "agentlens_maturity_score{{agentdeployment=\"invoice-rpa\",namespace=\"invoice-rpa\"}} {score}"
    );
    assert!(text.contains(&line), "{line} not in\n{text}");
    assert!(
        text.contains(
            "agentlens_maturity_check_passed{agentdeployment=\"invoice-rpa\",check=\"ENV-1\",namespace=\"invoice-rpa\"} 0"
        ),
        "{text}"
    );
    // The example sets no spec.sidecar.gpu.memoryPressureRatio: the alert compares against the
    // default.
    let line = format!(
        "agentlens_agentdeployment_gpu_memory_pressure_ratio{{agentdeployment=\"invoice-rpa\",namespace=\"invoice-rpa\"}} {}",
        agentlens_operator::controller::metrics::DEFAULT_MEMORY_PRESSURE_RATIO
    );
    assert!(text.contains(&line), "{line} not in\n{text}");
    // Once the AgentDeployment is gone its series go too (no alert on a deleted system).
    later
        .metrics
        .retain_agent_deployments(&std::collections::HashSet::new());
    let text = String::from_utf8(later.metrics.render().unwrap()).unwrap();
    assert!(!text.contains("agentdeployment=\"invoice-rpa\""), "{text}");
}

fn later_now() -> Time {
    Time("2026-11-27T11:00:00Z".parse().unwrap())
}

/// The example's Deployment `name` as JSON.
fn serde_yaml_value(name: &str) -> serde_json::Value {
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(include_str!("../../examples/invoice-rpa/deployments.yaml"))
            .unwrap();
    docs.into_iter()
        .find(|d| d["metadata"]["name"] == name)
        .unwrap()
}

#[test]
fn events_only_for_what_is_new() {
    use agentlens_crds::agentdeployment_status::{AgentDeploymentStatus, RuntimeStatus};
    use agentlens_operator::controller::actions::new_events;
    let rt = |oom, kills| RuntimeStatus {
        gpu_oom_events: oom,
        oom_kills: kills,
        ..RuntimeStatus::default()
    };
    let prev = AgentDeploymentStatus {
        runtime: Some(rt(2, 1)),
        ..AgentDeploymentStatus::default()
    };
    assert!(new_events(Some(&prev), &rt(2, 1)).is_empty());
    let ev = new_events(Some(&prev), &rt(3, 1));
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].reason, "GpuOutOfMemory");
    assert_eq!(new_events(None, &rt(0, 1))[0].reason, "OOMKilled");
}

/// Every example system reconciles against the in-memory API (objects as applied, no pods
/// yet): the status is written, Models get their lineage, and a second pass writes nothing.
#[tokio::test]
async fn every_example_system_reconciles() {
    for dir in ["invoice-rpa", "consumer-rag", "finetuned-gpu"] {
        let mut text = String::new();
        for f in
            std::fs::read_dir(format!("{}/../examples/{dir}", env!("CARGO_MANIFEST_DIR"))).unwrap()
        {
            text.push_str(&std::fs::read_to_string(f.unwrap().path()).unwrap());
            text.push_str("\n---\n");
        }
        let d = dump::read(&text).unwrap();
        let writes = Arc::new(AtomicUsize::new(0));
        let w2 = writes.clone();
        let client = ClientBuilder::new()
            .with_resource::<AgentDeployment>()
            .with_status_subresource::<AgentDeployment>()
            .with_resource::<Model>()
            .with_status_subresource::<Model>()
            .with_objects(d.agent_deployments.clone())
            .with_objects(d.models.clone())
            .with_interceptor_funcs(Funcs::new().patch_status(move |_| {
                w2.fetch_add(1, Ordering::SeqCst);
                Ok(None)
            }))
            .build()
            .await
            .unwrap();
        let ctx = ctx_for(&client, &d, vec![1; 32]);
        let ad0 = &d.agent_deployments[0];
        let ns = ad0.metadata.namespace.clone().unwrap();
        let ads: Api<AgentDeployment> = Api::namespaced(client.clone(), &ns);
        let name = ad0.metadata.name.clone().unwrap();
        reconcile_agent_deployment(Arc::new(ads.get(&name).await.unwrap()), ctx.clone())
            .await
            .unwrap();
        let models: Api<Model> = Api::namespaced(client.clone(), &ns);
        for m in &d.models {
            let m = models
                .get(m.metadata.name.as_deref().unwrap())
                .await
                .unwrap();
            reconcile_model(Arc::new(m), ctx.clone()).await.unwrap();
        }
        let after_first = writes.load(Ordering::SeqCst);
        assert_eq!(after_first, 1 + d.models.len(), "{dir}");
        let s = ads.get(&name).await.unwrap().status.unwrap();
        assert_eq!(
            s.conditions
                .iter()
                .find(|c| c.type_ == "LineageComplete")
                .unwrap()
                .status,
            "True",
            "{dir}"
        );
        assert!(!s.prompts.is_empty(), "{dir}");
        // Second pass: nothing changed, nothing written.
        reconcile_agent_deployment(Arc::new(ads.get(&name).await.unwrap()), ctx.clone())
            .await
            .unwrap();
        for m in &d.models {
            let m = models
                .get(m.metadata.name.as_deref().unwrap())
                .await
                .unwrap();
            reconcile_model(Arc::new(m), ctx.clone()).await.unwrap();
        }
        assert_eq!(
            writes.load(Ordering::SeqCst),
            after_first,
            "{dir}: unchanged system rewritten"
        );
        if dir == "finetuned-gpu" {
            let dpo = models.get("clinical-notes-dpo").await.unwrap();
            let chain: Vec<String> = dpo
                .status
                .unwrap()
                .lineage
                .into_iter()
                .map(|e| e.name)
                .collect();
            assert_eq!(
                chain,
                ["llama-3.1-8b", "clinical-notes-sft", "clinical-notes-dpo"]
            );
        }
    }
}
