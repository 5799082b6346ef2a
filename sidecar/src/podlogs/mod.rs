//! In a pod: the sibling containers' logs through the Kubernetes API (`pods/log`, follow) as
//! the pod's service account, resumed after a disconnect without losing or repeating lines,
//! and the pod's containers (names by container id) for the sampler.

pub mod resume;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::AsyncReadExt;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::LogParams;

use crate::analysis::ANALYSIS_LINE_BYTES;
use crate::clock::now_ms;
use crate::logs::StreamSink;
use crate::logscan::{LineSplitter, ScanConfig};
use crate::shared::Shared;
use crate::view::Publisher;

/// The injected container's name, never observed.
pub const SIDECAR_CONTAINER: &str = agentlens_crds::snapshot::SIDECAR_CONTAINER_NAME;

/// Container id → name of the pod's containers (regular and init), from its status.
pub fn container_names(pod: &Pod) -> BTreeMap<String, String> {
    let status = pod.status.as_ref();
    status
        .into_iter()
        .flat_map(|s| {
            s.container_statuses
                .iter()
                .flatten()
                .chain(s.init_container_statuses.iter().flatten())
        })
        .filter_map(|cs| {
            let id = cs.container_id.as_deref()?;
            // `containerd://<id>`, `cri-o://<id>`, `docker://<id>`
            let id = id.rsplit("://").next()?;
            Some((id.to_string(), cs.name.clone()))
        })
        .collect()
}

/// The app containers whose logs to follow: every container but the sidecar.
pub fn app_containers(pod: &Pod) -> BTreeSet<String> {
    let Some(spec) = pod.spec.as_ref() else {
        return BTreeSet::new();
    };
    spec.containers
        .iter()
        .map(|c| c.name.clone())
        .chain(
            // Native sidecars of other tools run as init containers with restartPolicy Always.
            spec.init_containers
                .iter()
                .flatten()
                .filter(|c| c.restart_policy.as_deref() == Some("Always"))
                .map(|c| c.name.clone()),
        )
        .filter(|n| n != SIDECAR_CONTAINER)
        .collect()
}

/// Keeps the name map current (its one owner: it publishes the map for the sampler) and starts
/// a log follower per app container.
pub async fn watch_pod(
    api: Api<Pod>,
    pod_name: String,
    shared: Arc<Shared>,
    names: Publisher<BTreeMap<String, String>>,
) {
    let mut following: BTreeSet<String> = BTreeSet::new();
    let mut backoff = Duration::from_secs(1);
    loop {
        match api.get(&pod_name).await {
            Ok(pod) => {
                backoff = Duration::from_secs(1);
                names.publish(container_names(&pod));
                for c in app_containers(&pod) {
                    if following.insert(c.clone()) {
                        tokio::spawn(follow_container(
                            api.clone(),
                            pod_name.clone(),
                            c,
                            shared.clone(),
                        ));
                    }
                }
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            Err(e) => {
                tracing::warn!("reading pod {pod_name}: {e}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// A bounded reason for the snapshot (no free-form error text in metrics; the snapshot may
/// say what went wrong).
fn reason(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) if s.code == 403 => format!(
            "pods/log forbidden: the pod's service account needs get on pods/log ({})",
            agentlens_crds::text::truncate(&s.message, 200)
        ),
        other => agentlens_crds::text::truncate(&format!("pods/log: {other}"), 300),
    }
}

/// Follows one container's log for the life of the sidecar.
pub async fn follow_container(
    api: Api<Pod>,
    pod_name: String,
    container: String,
    shared: Arc<Shared>,
) {
    let cfg = ScanConfig::default();
    // The API merges stdout and stderr; they are counted as `stdout`.
    let mut sink = StreamSink::new(shared.clone(), &container, "stdout", cfg);
    let mut resume = resume::Resume::default();
    let mut backoff = Duration::from_millis(500);
    loop {
        let params = LogParams {
            container: Some(container.clone()),
            follow: true,
            timestamps: true,
            since_time: resume.since(),
            ..LogParams::default()
        };
        match api.log_stream(&pod_name, &params).await {
            Ok(stream) => {
                resume.reconnected();
                shared.analysis.logs_unavailable(&container, None);
                backoff = Duration::from_millis(500);
                read_stream(stream, &mut sink, &mut resume, ANALYSIS_LINE_BYTES).await;
            }
            Err(e) => {
                shared
                    .analysis
                    .logs_unavailable(&container, Some(reason(&e)));
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
        tokio::time::sleep(backoff).await;
    }
}

/// Reads one log stream to its end (container exit, connection drop).
pub async fn read_stream<R>(
    stream: R,
    sink: &mut StreamSink,
    resume: &mut resume::Resume,
    max_line: usize,
) where
    R: futures::AsyncBufRead + Unpin,
{
    let mut stream = stream;
    let mut splitter = LineSplitter::new(max_line + 40); // room for the timestamp
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let now = now_ms();
        splitter.push(&buf[..n], &mut |line| {
            if let Some(msg) = resume.accept(line.bytes) {
                sink.feed_line(msg, line.truncated, now);
            }
        });
    }
    // A partial last line stays unread here: its timestamp was not taken, so the next
    // stream replays it whole.
}
