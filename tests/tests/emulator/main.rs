//! The Kubernetes API emulator driven by the real clients: kubectl 1.35 applies, gets and
//! deletes the CRDs and examples; kube-rs watchers, reflectors, server-side apply and RBAC-bound
//! ServiceAccount tokens behave as against a real API server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use agentlens_tests::emulator_process::{Emulator, binary, get, read_kubeconfig};
use agentlens_tests::tools;
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

mod admission;
mod kubectl;
mod rbac;
mod watch;
mod writes;

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
        Some(Self {
            bin: tools::kubectl().or_skip()?,
            kubeconfig,
            cache: tempfile::tempdir().unwrap(),
        })
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
