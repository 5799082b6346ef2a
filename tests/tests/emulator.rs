//! The Kubernetes API emulator driven by the real clients: kubectl 1.35 applies, gets and
//! deletes the CRDs and examples; kube-rs watchers, reflectors, server-side apply and RBAC-bound
//! ServiceAccount tokens behave as against a real API server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use agentlens_tests::emulator_process::{Emulator, binary, get, read_kubeconfig};
use agentlens_tests::tools::{self, Tool};
use agentlens_tests::workspace_root;
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
    WatchEvent, WatchParams,
};
use kube::runtime::{reflector, watcher};
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(20);

fn start(args: &[&str]) -> Emulator {
    Emulator::start_binary(Path::new(env!("CARGO_BIN_EXE_kube-emulator")), args).unwrap()
}

/// kubectl with its own discovery cache, against one kubeconfig.
struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
    cache: tempfile::TempDir,
}

impl Kubectl {
    fn find(kubeconfig: PathBuf) -> Option<Self> {
        match tools::kubectl() {
            Tool::Found(bin) => Some(Self {
                bin,
                kubeconfig,
                cache: tempfile::tempdir().unwrap(),
            }),
            Tool::Skip(why) => {
                eprintln!("skipping: {why}");
                None
            }
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(&self.bin)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.cache.path())
            .args(args)
            .current_dir(workspace_root())
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "kubectl {args:?} failed: {stderr}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "kubectl {args:?} succeeded: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

async fn client(kubeconfig: &Path) -> kube::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .unwrap();
    kube::Client::try_from(cfg).unwrap()
}

async fn install_crds(client: &kube::Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in agentlens_crds::manifests::crds().unwrap() {
        crds.create(&PostParams::default(), &crd).await.unwrap();
    }
}

fn models_resource() -> ApiResource {
    ApiResource {
        group: "agentlens.dev".into(),
        version: "v1alpha1".into(),
        api_version: "agentlens.dev/v1alpha1".into(),
        kind: "Model".into(),
        plural: "models".into(),
    }
}

fn model(name: &str, version: &str) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "agentlens.dev/v1alpha1", "kind": "Model",
        "metadata": {"name": name},
        "spec": {"version": version}
    }))
    .unwrap()
}

/// The next item of `stream` for which `pick` returns Some, within the deadline.
async fn next_where<S, T, R>(stream: &mut S, what: &str, mut pick: impl FnMut(T) -> Option<R>) -> R
where
    S: Stream<Item = T> + Unpin,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let item = tokio::time::timeout_at(deadline, stream.next())
            .await
            .unwrap_or_else(|_| panic!("no {what} within {DEADLINE:?}"))
            .unwrap_or_else(|| panic!("stream ended before {what}"));
        if let Some(r) = pick(item) {
            return r;
        }
    }
}

fn status_of(e: kube::Error) -> Box<kube::core::Status> {
    match e {
        kube::Error::Api(s) => s,
        other => panic!("expected an API error, got {other}"),
    }
}

#[test]
fn other_crates_find_the_binary_cargo_built_for_this_one() {
    let found = binary().unwrap().canonicalize().unwrap();
    let built = Path::new(env!("CARGO_BIN_EXE_kube-emulator"))
        .canonicalize()
        .unwrap();
    assert_eq!(found, built);
    let emu = Emulator::start().unwrap();
    assert!(emu.server().starts_with("https://127.0.0.1:"));
    let admin = read_kubeconfig(&emu.admin_kubeconfig()).unwrap();
    let (code, body) = get(&admin, "/version").unwrap();
    assert_eq!(code, 200);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["minor"], "35");
    let anonymous = agentlens_tests::emulator_process::KubeconfigParts {
        token: "wrong".into(),
        ..admin
    };
    assert_eq!(get(&anonymous, "/api/v1/pods").unwrap().0, 401);
}

#[test]
fn kubectl_applies_gets_and_deletes_the_crds_and_examples() {
    let emu = start(&[]);
    let Some(k) = Kubectl::find(emu.admin_kubeconfig()) else {
        return;
    };
    let out = k.ok(&["apply", "-f", "crds/manifests/"]);
    assert_eq!(out.matches(" created").count(), 3, "{out}");
    for example in [
        "examples/consumer-rag",
        "examples/finetuned-gpu",
        "examples/invoice-rpa",
    ] {
        let out = k.ok(&["apply", "-f", example]);
        assert!(out.contains("agentdeployment.agentlens.dev/"), "{out}");
        // A second apply computes a patch against last-applied and changes nothing.
        let again = k.ok(&["apply", "-f", example]);
        assert!(again.lines().all(|l| l.ends_with(" unchanged")), "{again}");
    }
    let all: Value =
        serde_json::from_str(&k.ok(&["get", "agentdeployments", "-A", "-o", "json"])).unwrap();
    let items = all["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    for item in items {
        assert_eq!(item["metadata"]["generation"], 1);
        assert!(item["metadata"]["uid"].as_str().unwrap().len() == 36);
        assert!(
            item["metadata"]["creationTimestamp"]
                .as_str()
                .unwrap()
                .ends_with('Z')
        );
    }
    let yaml = k.ok(&[
        "get",
        "agd",
        "invoice-rpa",
        "-n",
        "invoice-rpa",
        "-o",
        "yaml",
    ]);
    assert!(
        yaml.contains("kind: AgentDeployment") && yaml.contains("name: invoice-rpa"),
        "{yaml}"
    );
    // The category lists every agentlens kind with the CRDs' printer columns.
    let table = k.ok(&["get", "agentlens", "-n", "invoice-rpa"]);
    for row in [
        "agentdeployment.agentlens.dev/invoice-rpa",
        "model.agentlens.dev/invoice-extractor",
        "evaluation.agentlens.dev/invoice-extractor-3.0.0-golden",
    ] {
        assert!(table.contains(row), "{table}");
    }
    let models = k.ok(&["get", "aimodel", "-n", "invoice-rpa"]);
    assert!(
        models.lines().next().unwrap().contains("VERSION"),
        "{models}"
    );
    assert!(models.contains("3.0.0"), "{models}");
    k.ok(&["delete", "-f", "examples/invoice-rpa"]);
    let gone = k.run(&["get", "agd", "-n", "invoice-rpa", "invoice-rpa"]);
    assert!(String::from_utf8_lossy(&gone.stderr).contains("not found"));
    let left = k.ok(&["get", "agd", "-A", "-o", "name"]);
    assert_eq!(left.lines().count(), 2, "{left}");
}

#[test]
fn kubectl_apply_shows_the_schema_violations_the_server_finds() {
    let emu = start(&[]);
    let Some(k) = Kubectl::find(emu.admin_kubeconfig()) else {
        return;
    };
    // Before the CRDs: kubectl's own mapping error; before the namespace: the server's 404.
    let no_crd = k.fails(&["apply", "-f", "examples/invoice-rpa/models.yaml"]);
    assert!(
        no_crd.contains("no matches for kind \"Model\" in version \"agentlens.dev/v1alpha1\""),
        "{no_crd}"
    );
    let no_ns = k.fails(&["apply", "-f", "examples/invoice-rpa/deployments.yaml"]);
    assert!(
        no_ns.contains("namespaces \"invoice-rpa\" not found"),
        "{no_ns}"
    );
    k.ok(&["apply", "-f", "crds/manifests/"]);
    let wrong_type = k.fails(&[
        "apply",
        "-f",
        "tests/tests/fixtures/emulator/invalid-model.yaml",
    ]);
    assert!(
        wrong_type.contains(
            "The Model \"broken\" is invalid: spec.version: Invalid value: \"array\": spec.version in body must be of type string: \"array\""
        ),
        "{wrong_type}"
    );
    let unknown = k.fails(&[
        "apply",
        "-f",
        "tests/tests/fixtures/emulator/unknown-field-model.yaml",
    ]);
    assert!(
        unknown.contains("strict decoding error: unknown field \"spec.verison\""),
        "{unknown}"
    );
    let none = k.run(&["get", "models", "-n", "default", "-o", "name"]);
    assert_eq!(String::from_utf8_lossy(&none.stdout), "");
}

#[tokio::test]
async fn reflector_on_a_crd_and_raw_watch_on_pods_see_added_modified_deleted() {
    let emu = start(&[]);
    let client = client(&emu.admin_kubeconfig()).await;
    install_crds(&client).await;
    let ar = models_resource();
    let models: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let writer = reflector::store::Writer::new(ar.clone());
    let reader = writer.as_reader();
    let mut stream = reflector(writer, watcher(models.clone(), watcher::Config::default())).boxed();
    next_where(&mut stream, "InitDone", |e| {
        matches!(e, Ok(watcher::Event::InitDone)).then_some(())
    })
    .await;

    models
        .create(&PostParams::default(), &model("m1", "1.0"))
        .await
        .unwrap();
    let added = next_where(&mut stream, "m1 applied", |e| match e {
        Ok(watcher::Event::Apply(o)) => Some(o),
        _ => None,
    })
    .await;
    assert_eq!(added.data["spec"]["version"], "1.0");
    assert!(
        reader
            .get(&reflector::ObjectRef::new_with("m1", ar.clone()).within("default"))
            .is_some()
    );

    let patch = json!({"spec": {"description": "changed"}});
    models
        .patch("m1", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let modified = next_where(&mut stream, "m1 modified", |e| match e {
        Ok(watcher::Event::Apply(o)) => Some(o),
        _ => None,
    })
    .await;
    assert_eq!(modified.data["spec"]["description"], "changed");
    assert_eq!(modified.metadata.generation, Some(2));

    models.delete("m1", &DeleteParams::default()).await.unwrap();
    next_where(&mut stream, "m1 deleted", |e| {
        matches!(e, Ok(watcher::Event::Delete(_))).then_some(())
    })
    .await;
    assert!(
        reader
            .get(&reflector::ObjectRef::new_with("m1", ar.clone()).within("default"))
            .is_none()
    );

    // Pods through a raw watch, to see the event types themselves.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let rv = pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut events = pods
        .watch(&WatchParams::default().timeout(60), &rv)
        .await
        .unwrap()
        .boxed();
    let pod: Pod =
        serde_json::from_value(json!({"metadata": {"name": "p", "labels": {"app": "a"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}}))
        .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let status = json!({"status": {"phase": "Running", "podIP": "127.0.0.2"}});
    pods.patch_status("p", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    pods.delete("p", &DeleteParams::default()).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let e = next_where(&mut events, "pod events", |e| match e.unwrap() {
            WatchEvent::Added(p) => Some(("ADDED", p)),
            WatchEvent::Modified(p) => Some(("MODIFIED", p)),
            WatchEvent::Deleted(p) => Some(("DELETED", p)),
            _ => None,
        })
        .await;
        seen.push(e);
    }
    let kinds: Vec<&str> = seen.iter().map(|(k, _)| *k).collect();
    assert_eq!(kinds, ["ADDED", "MODIFIED", "DELETED"]);
    assert_eq!(
        seen[0].1.status.as_ref().unwrap().phase.as_deref(),
        Some("Pending")
    );
    assert_eq!(
        seen[1].1.status.as_ref().unwrap().pod_ip.as_deref(),
        Some("127.0.0.2")
    );
}

#[tokio::test]
async fn a_watcher_whose_version_expired_relists_once_and_keeps_watching() {
    let emu = start(&["--history", "20"]);
    let client = client(&emu.admin_kubeconfig()).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm = |name: &str, labels: Value| -> ConfigMap {
        serde_json::from_value(
            json!({"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}),
        )
        .unwrap()
    };
    // A list page's continue token, to expire below.
    let admin = read_kubeconfig(&emu.admin_kubeconfig()).unwrap();
    for i in 0..2 {
        cms.create(&PostParams::default(), &cm(&format!("page-{i}"), json!({})))
            .await
            .unwrap();
    }
    let (code, body) = get(&admin, "/api/v1/namespaces/default/configmaps?limit=1").unwrap();
    assert_eq!(code, 200);
    let page: Value = serde_json::from_str(&body).unwrap();
    let token = page["metadata"]["continue"].as_str().unwrap().to_string();
    let stale_rv = page["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();

    // Short watches, so the watcher resumes from its last version while nothing it selects
    // changes; bookmarks come every 10 s, later than this test needs them.
    let cfg = watcher::Config::default().labels("app=watched").timeout(1);
    let mut stream = watcher(cms.clone(), cfg).boxed();
    let mut inits = 0;
    next_where(&mut stream, "first InitDone", |e| match e {
        Ok(watcher::Event::Init) => {
            inits += 1;
            None
        }
        Ok(watcher::Event::InitDone) => Some(()),
        _ => None,
    })
    .await;
    for i in 0..40 {
        cms.create(
            &PostParams::default(),
            &cm(&format!("noise-{i}"), json!({"app": "noise"})),
        )
        .await
        .unwrap();
    }
    // The watcher's version is now older than the 20 kept events: 410, then a fresh list.
    next_where(&mut stream, "second InitDone after 410", |e| match e {
        Ok(watcher::Event::Init) => {
            inits += 1;
            None
        }
        Ok(watcher::Event::InitDone) => Some(()),
        _ => None,
    })
    .await;
    assert_eq!(inits, 2);
    cms.create(
        &PostParams::default(),
        &cm("watched-1", json!({"app": "watched"})),
    )
    .await
    .unwrap();
    let got = next_where(&mut stream, "watched-1 through the watch", |e| match e {
        Ok(watcher::Event::Apply(o)) => Some(o),
        Ok(watcher::Event::Init) => panic!("re-listed again instead of watching"),
        _ => None,
    })
    .await;
    assert_eq!(got.metadata.name.as_deref(), Some("watched-1"));

    // A raw watch from the stale version gets the ERROR event with 410.
    let mut raw = cms
        .watch(&WatchParams::default(), &stale_rv)
        .await
        .unwrap()
        .boxed();
    let err = next_where(&mut raw, "410", |e| match e.unwrap() {
        WatchEvent::Error(s) => Some(s),
        _ => None,
    })
    .await;
    assert_eq!(err.code, 410);
    assert_eq!(err.reason, "Expired");
    // And the list page's continue token has expired the same way.
    let (code, body) = get(
        &admin,
        &format!("/api/v1/namespaces/default/configmaps?limit=1&continue={token}"),
    )
    .unwrap();
    assert_eq!(code, 410, "{body}");
}

#[tokio::test]
async fn stale_updates_conflict_and_errors_are_status_objects() {
    let emu = start(&[]);
    let client = client(&emu.admin_kubeconfig()).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let original: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "c"}, "data": {"a": "1"}})).unwrap();
    let created = cms.create(&PostParams::default(), &original).await.unwrap();
    let mut fresh = created.clone();
    fresh.data = Some([("a".to_string(), "2".to_string())].into());
    let updated = cms
        .replace("c", &PostParams::default(), &fresh)
        .await
        .unwrap();
    assert_ne!(
        updated.metadata.resource_version,
        created.metadata.resource_version
    );
    let mut stale = created.clone();
    stale.data = Some([("a".to_string(), "3".to_string())].into());
    let conflict = status_of(
        cms.replace("c", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!((conflict.code, conflict.reason.as_str()), (409, "Conflict"));
    assert!(
        conflict.message.contains("the object has been modified"),
        "{}",
        conflict.message
    );
    let exists = status_of(
        cms.create(&PostParams::default(), &original)
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (exists.code, exists.reason.as_str()),
        (409, "AlreadyExists")
    );
    assert_eq!(exists.message, "configmaps \"c\" already exists");
    let missing = status_of(cms.get("nope").await.unwrap_err());
    assert_eq!(
        (missing.code, missing.message.as_str()),
        (404, "configmaps \"nope\" not found")
    );
    let in_missing_ns: Api<ConfigMap> = Api::namespaced(client.clone(), "nowhere");
    let no_ns = status_of(
        in_missing_ns
            .create(&PostParams::default(), &original)
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (no_ns.code, no_ns.message.as_str()),
        (404, "namespaces \"nowhere\" not found")
    );
    assert_eq!(cms.get("c").await.unwrap().data.unwrap()["a"], "2");
}

#[tokio::test]
async fn server_side_apply_creates_updates_and_bumps_generation_on_spec_changes_only() {
    let emu = start(&[]);
    let client = client(&emu.admin_kubeconfig()).await;
    install_crds(&client).await;
    let models: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "default", &models_resource());
    let pp = PatchParams::apply("agentlens-test");
    let config = |version: &str, labels: Value, status: Option<Value>| {
        let mut v = json!({"apiVersion": "agentlens.dev/v1alpha1", "kind": "Model",
            "metadata": {"name": "ssa", "labels": labels}, "spec": {"version": version}});
        if let Some(s) = status {
            v["status"] = s;
        }
        v
    };
    let created = models
        .patch("ssa", &pp, &Patch::Apply(config("1.0", json!({}), None)))
        .await
        .unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    let managers: Vec<String> = created
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert_eq!(managers, ["agentlens-test"]);
    let same = models
        .patch("ssa", &pp, &Patch::Apply(config("1.0", json!({}), None)))
        .await
        .unwrap();
    assert_eq!(
        same.metadata.resource_version, created.metadata.resource_version,
        "a no-op apply writes nothing"
    );
    let labelled = models
        .patch(
            "ssa",
            &pp,
            &Patch::Apply(config("1.0", json!({"team": "a"}), None)),
        )
        .await
        .unwrap();
    assert_eq!(labelled.metadata.generation, Some(1));
    assert_ne!(
        labelled.metadata.resource_version,
        created.metadata.resource_version
    );
    // Status in a main-resource apply is ignored: Models have a status subresource.
    let status = json!({"conditions": [{"type": "Ready", "status": "True", "reason": "Resolved", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]});
    let spec_changed = models
        .patch(
            "ssa",
            &pp,
            &Patch::Apply(config("2.0", json!({"team": "a"}), Some(status.clone()))),
        )
        .await
        .unwrap();
    assert_eq!(spec_changed.metadata.generation, Some(2));
    assert!(
        spec_changed
            .data
            .get("status")
            .is_none_or(|s| s.get("conditions").is_none())
    );
    let status_apply = json!({"apiVersion": "agentlens.dev/v1alpha1", "kind": "Model", "metadata": {"name": "ssa"}, "status": status});
    let with_status = models
        .patch_status(
            "ssa",
            &PatchParams::apply("agentlens-status"),
            &Patch::Apply(status_apply),
        )
        .await
        .unwrap();
    assert_eq!(with_status.metadata.generation, Some(2));
    assert_eq!(with_status.data["status"]["conditions"][0]["type"], "Ready");
    assert_eq!(with_status.data["spec"]["version"], "2.0");
    // Another manager changing an owned field conflicts unless it forces.
    let other = PatchParams::apply("someone-else");
    let conflict = status_of(
        models
            .patch("ssa", &other, &Patch::Apply(config("3.0", json!({}), None)))
            .await
            .unwrap_err(),
    );
    assert_eq!(conflict.code, 409);
    assert!(
        conflict
            .message
            .contains("conflict with \"agentlens-test\": .spec.version"),
        "{}",
        conflict.message
    );
    let forced = models
        .patch(
            "ssa",
            &other.force(),
            &Patch::Apply(config("3.0", json!({}), None)),
        )
        .await
        .unwrap();
    assert_eq!(forced.data["spec"]["version"], "3.0");
    assert_eq!(forced.metadata.generation, Some(3));
    // Apply with no field manager is refused as the real server refuses it.
    let anonymous = PatchParams {
        field_manager: None,
        ..PatchParams::default()
    };
    let missing = status_of(
        models
            .patch(
                "ssa",
                &anonymous,
                &Patch::Apply(config("4.0", json!({}), None)),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(missing.code, 422);
}

#[tokio::test]
async fn status_and_main_resource_writes_are_isolated() {
    let emu = start(&[]);
    let client = client(&emu.admin_kubeconfig()).await;
    install_crds(&client).await;
    let models: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "default", &models_resource());
    let created = models
        .create(&PostParams::default(), &model("iso", "1.0"))
        .await
        .unwrap();
    // Status written through the main resource is dropped.
    let mut with_status = created.clone();
    with_status.data["status"] = json!({"observedGeneration": 7});
    with_status.data["spec"]["description"] = json!("d");
    let replaced = models
        .replace("iso", &PostParams::default(), &with_status)
        .await
        .unwrap();
    assert!(replaced.data["status"]["observedGeneration"].is_null());
    assert_eq!(replaced.metadata.generation, Some(2));
    // Spec written through /status is dropped; status is kept; generation stays.
    let mut via_status = replaced.clone();
    via_status.data["spec"]["version"] = json!("9.9");
    via_status.data["status"] = json!({"observedGeneration": 2});
    let status_written = models
        .replace_status("iso", &PostParams::default(), &via_status)
        .await
        .unwrap();
    assert_eq!(status_written.data["spec"]["version"], "1.0");
    assert_eq!(status_written.data["status"]["observedGeneration"], 2);
    assert_eq!(status_written.metadata.generation, Some(2));
    let merge = json!({"status": {"observedGeneration": 3}, "spec": {"version": "5.0"}});
    let patched = models
        .patch_status("iso", &PatchParams::default(), &Patch::Merge(&merge))
        .await
        .unwrap();
    assert_eq!(
        (
            patched.data["spec"]["version"].as_str(),
            patched.data["status"]["observedGeneration"].as_i64()
        ),
        (Some("1.0"), Some(3))
    );
}

#[tokio::test]
async fn service_account_tokens_are_authorized_by_the_applied_rbac_only() {
    let emu = start(&[]);
    let Some(admin) = Kubectl::find(emu.admin_kubeconfig()) else {
        return;
    };
    admin.ok(&["apply", "-f", "crds/manifests/"]);
    admin.ok(&[
        "apply",
        "-f",
        "tests/tests/fixtures/emulator/rbac-reader.yaml",
    ]);
    let kubeconfig = emu.kubeconfig_for("team", "reader");
    assert!(
        kubeconfig.is_file(),
        "no kubeconfig written for team/reader"
    );
    let sa = Kubectl::find(kubeconfig.clone()).unwrap();
    assert!(sa.ok(&["get", "pods", "-n", "team"]).is_empty());
    sa.ok(&["get", "models", "-n", "team"]);
    sa.ok(&["get", "evaluations", "-A"]);
    let denied = sa.fails(&["get", "configmaps", "-n", "team"]);
    assert!(
        denied.contains("configmaps is forbidden: User \"system:serviceaccount:team:reader\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"team\""),
        "{denied}"
    );
    let cluster = sa.fails(&["get", "models", "-A"]);
    assert!(
        cluster.contains("models.agentlens.dev is forbidden: User \"system:serviceaccount:team:reader\" cannot list resource \"models\" in API group \"agentlens.dev\" at the cluster scope"),
        "{cluster}"
    );
    sa.fails(&["get", "pods", "-n", "default"]);

    let client = client(&kubeconfig).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "team");
    assert!(
        pods.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "team");
    let forbidden = status_of(cms.list(&ListParams::default()).await.unwrap_err());
    assert_eq!(
        (forbidden.code, forbidden.reason.as_str()),
        (403, "Forbidden")
    );
    let pod: Pod = serde_json::from_value(
        json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}),
    )
    .unwrap();
    let create = status_of(pods.create(&PostParams::default(), &pod).await.unwrap_err());
    assert_eq!(create.code, 403);
    assert!(
        create.message.contains("cannot create resource \"pods\""),
        "{}",
        create.message
    );
    // A subresource grant covers only the subresource.
    let ads: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "team",
        &ApiResource {
            group: "agentlens.dev".into(),
            version: "v1alpha1".into(),
            api_version: "agentlens.dev/v1alpha1".into(),
            kind: "AgentDeployment".into(),
            plural: "agentdeployments".into(),
        },
    );
    let main = status_of(
        ads.patch("x", &PatchParams::default(), &Patch::Merge(json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!(main.code, 403);
    let sub = status_of(
        ads.patch_status("x", &PatchParams::default(), &Patch::Merge(json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        sub.code, 404,
        "allowed, and then not found: {}",
        sub.message
    );
}

#[tokio::test]
async fn streaming_lists_bookmarks_and_selectors() {
    let emu = start(&["--bookmark-seconds", "1"]);
    let client = client(&emu.admin_kubeconfig()).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for (name, app, node) in [("a", "web", "n1"), ("b", "db", "n2")] {
        let pod: Pod =
            serde_json::from_value(json!({"metadata": {"name": name, "labels": {"app": app}},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i"}]}}))
            .unwrap();
        pods.create(&PostParams::default(), &pod).await.unwrap();
    }
    let names = |list: kube::core::ObjectList<Pod>| -> Vec<String> {
        list.items
            .into_iter()
            .filter_map(|p| p.metadata.name)
            .collect()
    };
    assert_eq!(
        names(
            pods.list(&ListParams::default().labels("app in (web,cache)"))
                .await
                .unwrap()
        ),
        ["a"]
    );
    assert_eq!(
        names(
            pods.list(&ListParams::default().labels("app,app!=web"))
                .await
                .unwrap()
        ),
        ["b"]
    );
    assert!(
        names(
            pods.list(&ListParams::default().labels("!app"))
                .await
                .unwrap()
        )
        .is_empty()
    );
    assert_eq!(
        names(
            pods.list(&ListParams::default().fields("spec.nodeName=n2"))
                .await
                .unwrap()
        ),
        ["b"]
    );
    assert_eq!(
        names(
            pods.list(&ListParams::default().fields("status.phase=Pending,metadata.name!=a"))
                .await
                .unwrap()
        ),
        ["b"]
    );
    let unsupported = status_of(
        pods.list(&ListParams::default().fields("spec.hostname=x"))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (unsupported.code, unsupported.message.as_str()),
        (400, "field label not supported: spec.hostname")
    );
    // Paging.
    let page = pods.list(&ListParams::default().limit(1)).await.unwrap();
    assert_eq!(page.items.len(), 1);
    let rest = pods
        .list(
            &ListParams::default()
                .limit(1)
                .continue_token(page.metadata.continue_.as_deref().unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(names(rest), ["b"]);

    // A streaming list: the initial objects, then the end-of-initial-events bookmark.
    let cfg = watcher::Config::default()
        .streaming_lists()
        .labels("app=web");
    let mut stream = watcher(pods.clone(), cfg).boxed();
    let mut initial = Vec::new();
    next_where(&mut stream, "streamed InitDone", |e| match e.unwrap() {
        watcher::Event::InitApply(p) => {
            initial.push(p.metadata.name.unwrap());
            None
        }
        watcher::Event::InitDone => Some(()),
        _ => None,
    })
    .await;
    assert_eq!(initial, ["a"]);

    // Bookmarks keep a quiet watch's version current.
    let rv = pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut raw = pods
        .watch(&WatchParams::default().fields("spec.nodeName=n1"), &rv)
        .await
        .unwrap()
        .boxed();
    let bookmark = next_where(&mut raw, "a bookmark", |e| match e.unwrap() {
        WatchEvent::Bookmark(b) => Some(b),
        _ => None,
    })
    .await;
    assert!(
        bookmark.metadata.resource_version.parse::<u64>().unwrap() >= rv.parse::<u64>().unwrap()
    );
}

#[tokio::test]
async fn deletion_follows_finalizers_owners_and_namespaces() {
    use k8s_openapi::api::core::v1::Namespace;
    let emu = start(&["--max-body", "4096"]);
    let client = client(&emu.admin_kubeconfig()).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm = |v: Value| -> ConfigMap { serde_json::from_value(v).unwrap() };

    cms.create(
        &PostParams::default(),
        &cm(json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})),
    )
    .await
    .unwrap();
    cms.delete("held", &DeleteParams::default()).await.unwrap();
    let held = cms.get("held").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert_eq!(status_of(cms.get("held").await.unwrap_err()).code, 404);

    let owner = cms
        .create(
            &PostParams::default(),
            &cm(json!({"metadata": {"name": "owner"}})),
        )
        .await
        .unwrap();
    let owner_ref = json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid.unwrap()}]);
    cms.create(
        &PostParams::default(),
        &cm(json!({"metadata": {"name": "child", "ownerReferences": owner_ref}})),
    )
    .await
    .unwrap();
    cms.delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    assert_eq!(status_of(cms.get("child").await.unwrap_err()).code, 404);

    for i in 0..3 {
        cms.create(
            &PostParams::default(),
            &cm(json!({"metadata": {"name": format!("batch-{i}"), "labels": {"batch": "yes"}}})),
        )
        .await
        .unwrap();
    }
    cms.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("batch=yes"),
    )
    .await
    .unwrap();
    assert!(
        cms.list(&ListParams::default().labels("batch=yes"))
            .await
            .unwrap()
            .items
            .is_empty()
    );

    let too_big = cm(json!({"metadata": {"name": "big"}, "data": {"k": "x".repeat(8192)}}));
    assert_eq!(
        status_of(
            cms.create(&PostParams::default(), &too_big)
                .await
                .unwrap_err()
        )
        .code,
        413
    );

    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "t"}})).unwrap(),
        )
        .await
        .unwrap();
    let in_t: Api<ConfigMap> = Api::namespaced(client.clone(), "t");
    in_t.create(
        &PostParams::default(),
        &cm(json!({"metadata": {"name": "inside"}})),
    )
    .await
    .unwrap();
    let rv = namespaces
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut events = namespaces
        .watch(&WatchParams::default().fields("metadata.name=t"), &rv)
        .await
        .unwrap()
        .boxed();
    namespaces
        .delete("t", &DeleteParams::default())
        .await
        .unwrap();
    let terminating = next_where(&mut events, "t terminating", |e| match e.unwrap() {
        WatchEvent::Modified(n) => Some(n),
        _ => None,
    })
    .await;
    assert_eq!(
        terminating.status.unwrap().phase.as_deref(),
        Some("Terminating")
    );
    let refused = status_of(
        in_t.create(
            &PostParams::default(),
            &cm(json!({"metadata": {"name": "late"}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(refused.code, 403);
    assert!(
        refused.message.contains("because it is being terminated"),
        "{}",
        refused.message
    );
    next_where(&mut events, "t deleted", |e| {
        matches!(e.unwrap(), WatchEvent::Deleted(_)).then_some(())
    })
    .await;
    assert_eq!(status_of(in_t.get("inside").await.unwrap_err()).code, 404);

    // pods/log returns the pod's log annotation.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "logged", "annotations": {agentlens_tests::emulator::LOG_ANNOTATION: "line one\nline two\n"}},
        "spec": {"containers": [{"name": "c", "image": "i"}]}}))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    assert_eq!(
        pods.logs("logged", &Default::default()).await.unwrap(),
        "line one\nline two\n"
    );
}

/// A mutating webhook on loopback with its own CA: labels pods `injected=true`, refuses names
/// starting with `deny-`, and counts the reviews it gets.
struct Webhook {
    port: u16,
    ca_pem: String,
    reviews: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

async fn start_webhook() -> Webhook {
    use http_body_util::{BodyExt, Full};
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let issuer = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["hook.default.svc".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let reviews = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&reviews);
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let counter = Arc::clone(&counter);
                        async move {
                            counter.fetch_add(1, Ordering::SeqCst);
                            let review: Value = serde_json::from_slice(
                                &req.into_body().collect().await.unwrap().to_bytes(),
                            )
                            .unwrap();
                            let request = &review["request"];
                            let name = request["object"]["metadata"]["name"]
                                .as_str()
                                .unwrap_or_default();
                            let response = if name.starts_with("deny-") {
                                json!({"uid": request["uid"], "allowed": false, "status": {"code": 403, "message": "names starting with deny- are refused"}})
                            } else {
                                let ops = if request["object"]["metadata"]["labels"].is_object() {
                                    json!([{"op": "add", "path": "/metadata/labels/injected", "value": "true"}])
                                } else {
                                    json!([{"op": "add", "path": "/metadata/labels", "value": {"injected": "true"}}])
                                };
                                use base64::Engine;
                                let patch = base64::engine::general_purpose::STANDARD
                                    .encode(ops.to_string());
                                json!({"uid": request["uid"], "allowed": true, "patchType": "JSONPatch", "patch": patch})
                            };
                            let body = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response});
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                                bytes::Bytes::from(body.to_string()),
                            )))
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    Webhook {
        port,
        ca_pem: issuer.pem(),
        reviews,
    }
}

#[tokio::test]
async fn mutating_webhooks_are_called_through_their_service() {
    use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
    use k8s_openapi::api::core::v1::{Namespace, Service};
    use std::sync::atomic::Ordering;
    let emu = start(&[]);
    let client = client(&emu.admin_kubeconfig()).await;
    let hook = start_webhook().await;
    let pp = PostParams::default();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for (name, labels) in [
        ("inj", json!({"agentlens.dev/injection": "enabled"})),
        ("plain", json!({})),
    ] {
        namespaces
            .create(
                &pp,
                &serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}}))
                    .unwrap(),
            )
            .await
            .unwrap();
    }
    // The webhook's Service and its one endpoint pod (loopback IP, named target port).
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    services
        .create(&pp, &serde_json::from_value(json!({"metadata": {"name": "hook"},
            "spec": {"selector": {"app": "hook"}, "ports": [{"port": 443, "targetPort": "https"}]}})).unwrap())
        .await
        .unwrap();
    let default_pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let endpoint: Pod = serde_json::from_value(json!({"metadata": {"name": "hook-0", "labels": {"app": "hook"}},
        "spec": {"containers": [{"name": "hook", "image": "i", "ports": [{"name": "https", "containerPort": hook.port}]}]}}))
    .unwrap();
    default_pods.create(&pp, &endpoint).await.unwrap();
    let ready = |status: &str| json!({"status": {"podIP": "127.0.0.1", "conditions": [{"type": "Ready", "status": status}]}});
    default_pods
        .patch_status(
            "hook-0",
            &PatchParams::default(),
            &Patch::Merge(ready("True")),
        )
        .await
        .unwrap();
    use base64::Engine;
    let config: MutatingWebhookConfiguration = serde_json::from_value(json!({
        "metadata": {"name": "pods"},
        "webhooks": [{
            "name": "pods.test",
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": "Fail",
            "clientConfig": {"service": {"namespace": "default", "name": "hook", "path": "/mutate", "port": 443},
                             "caBundle": base64::engine::general_purpose::STANDARD.encode(&hook.ca_pem)},
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "scope": "Namespaced"}],
            "namespaceSelector": {"matchLabels": {"agentlens.dev/injection": "enabled"}},
            "objectSelector": {"matchExpressions": [{"key": "agentlens.dev/component", "operator": "NotIn", "values": ["operator"]}]}
        }]
    }))
    .unwrap();
    let configs: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    configs.create(&pp, &config).await.unwrap();

    let pod = |name: &str, labels: Value| -> Pod {
        serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}, "spec": {"containers": [{"name": "c", "image": "i"}]}})).unwrap()
    };
    let inj: Api<Pod> = Api::namespaced(client.clone(), "inj");
    let plain: Api<Pod> = Api::namespaced(client.clone(), "plain");
    let injected = inj
        .create(&pp, &pod("a", json!({"app": "a"})))
        .await
        .unwrap();
    assert_eq!(injected.metadata.labels.unwrap()["injected"], "true");
    assert_eq!(hook.reviews.load(Ordering::SeqCst), 1);
    let untouched = plain.create(&pp, &pod("b", json!({}))).await.unwrap();
    assert!(untouched.metadata.labels.unwrap_or_default().is_empty());
    let operator = inj
        .create(
            &pp,
            &pod("op", json!({"agentlens.dev/component": "operator"})),
        )
        .await
        .unwrap();
    assert!(!operator.metadata.labels.unwrap().contains_key("injected"));
    assert_eq!(
        hook.reviews.load(Ordering::SeqCst),
        1,
        "selectors keep the webhook out"
    );
    let denied = status_of(
        inj.create(&pp, &pod("deny-me", json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!(denied.code, 403);
    assert_eq!(
        denied.message,
        "admission webhook \"pods.test\" denied the request: names starting with deny- are refused"
    );

    // No ready endpoint: failurePolicy Fail refuses the create, Ignore lets it through as is.
    default_pods
        .patch_status(
            "hook-0",
            &PatchParams::default(),
            &Patch::Merge(ready("False")),
        )
        .await
        .unwrap();
    let failed = status_of(inj.create(&pp, &pod("c", json!({}))).await.unwrap_err());
    assert_eq!(failed.code, 500);
    assert!(
        failed
            .message
            .contains("no endpoints available for service \"hook\""),
        "{}",
        failed.message
    );
    let ignore = json!([{"op": "replace", "path": "/webhooks/0/failurePolicy", "value": "Ignore"}]);
    configs
        .patch(
            "pods",
            &PatchParams::default(),
            &Patch::<Value>::Json(serde_json::from_value(ignore).unwrap()),
        )
        .await
        .unwrap();
    let unpatched = inj.create(&pp, &pod("d", json!({}))).await.unwrap();
    assert!(
        !unpatched
            .metadata
            .labels
            .unwrap_or_default()
            .contains_key("injected")
    );
}
