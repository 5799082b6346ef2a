//! Observability checks (OBS-*): logs, tracebacks, CPU and GPU memory, request latency, and a
//! recent Prometheus scrape of the sidecars.

use super::*;

/// OBS-1: logs are collected from every agent container.
pub(super) fn logs_collected(e: &Evidence<'_>) -> MaturityCheck {
    let area = MaturityArea::Observability;
    if e.pods.is_empty() {
        return check("OBS-1", area, true, false, NO_PODS, NO_PODS_NEXT);
    }
    let (checked, failed, missing) = per_container(e, |s, c| {
        s.containers
            .iter()
            .any(|x| x.name == c && x.logs_unavailable_reason.is_none())
    });
    let reasons: Vec<String> = snapshots(e)
        .0
        .iter()
        .flat_map(|(_, s)| {
            s.containers
                .iter()
                .filter_map(|c| c.logs_unavailable_reason.clone())
        })
        .take(1)
        .collect();
    check(
        "OBS-1",
        area,
        true,
        checked > 0 && failed.is_empty() && missing.is_empty(),
        format!(
            "logs read from {}/{checked} agent containers with a snapshot; {} pod(s) without a snapshot",
            checked - failed.len(),
            missing.len()
        ),
        if !missing.is_empty() {
            no_snapshot_next(&missing)
        } else {
            format!(
                "let the sidecar read the pods' logs (get on pods and pods/log for the pods' \
                 service account: the operator binds it in RoleBinding {}<AgentDeployment> \
                 when started with --sidecar-cluster-role, as the chart does): {}{}",
                crate::sidecar_access::BINDING_PREFIX,
                list(&failed),
                reasons
                    .first()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            )
        },
    )
}

/// OBS-2: tracebacks are captured and grouped.
pub(super) fn tracebacks_captured(e: &Evidence<'_>) -> MaturityCheck {
    let area = MaturityArea::Observability;
    if e.pods.is_empty() {
        return check("OBS-2", area, true, false, NO_PODS, NO_PODS_NEXT);
    }
    let (have, missing) = snapshots(e);
    // Tracebacks are found in the logs: the check needs every pod's logs analysed, and says
    // when groups were dropped for lack of room.
    let (checked, unreadable, _) = per_container(e, |s, c| {
        s.containers
            .iter()
            .any(|x| x.name == c && x.logs_unavailable_reason.is_none())
    });
    let groups: usize = have.iter().map(|(_, s)| s.tracebacks.len()).sum();
    let total: u64 = have
        .iter()
        .flat_map(|(_, s)| s.tracebacks.iter().map(|t| t.count))
        .sum();
    let dropped: u64 = have
        .iter()
        .flat_map(|(_, s)| {
            s.dropped
                .iter()
                .filter(|(k, _)| k.contains("traceback"))
                .map(|(_, v)| *v)
        })
        .sum();
    check(
        "OBS-2",
        area,
        true,
        checked > 0 && missing.is_empty() && unreadable.is_empty(),
        format!(
            "{total} tracebacks in {groups} groups from {} pod(s) whose logs are analysed; {} pod(s) without a snapshot{}",
            have.len(),
            missing.len(),
            if dropped > 0 {
                format!("; {dropped} traceback groups dropped (store full)")
            } else {
                String::new()
            }
        ),
        if missing.is_empty() {
            format!(
                "tracebacks come from the logs: make the logs of {} readable (OBS-1)",
                list(&unreadable)
            )
        } else {
            no_snapshot_next(&missing)
        },
    )
}

/// OBS-3: CPU memory is measured per container.
pub(super) fn cpu_memory_measured(e: &Evidence<'_>) -> MaturityCheck {
    let area = MaturityArea::Observability;
    if e.pods.is_empty() {
        return check("OBS-3", area, true, false, NO_PODS, NO_PODS_NEXT);
    }
    let (checked, failed, missing) = per_container(e, |s, c| {
        s.containers
            .iter()
            .any(|x| x.name == c && x.processes > 0 && x.rss_bytes > 0)
    });
    check(
        "OBS-3",
        area,
        true,
        checked > 0 && failed.is_empty() && missing.is_empty(),
        format!(
            "resident memory measured for {}/{checked} agent containers; {} pod(s) without a snapshot",
            checked - failed.len(),
            missing.len()
        ),
        if missing.is_empty() {
            format!(
                "the sidecar sees no processes of {}: the pod needs shareProcessNamespace (the \
                 webhook sets it; check that nothing overrides it)",
                list(&failed)
            )
        } else {
            no_snapshot_next(&missing)
        },
    )
}

/// OBS-4: GPU memory is measured (when the pods request GPUs).
pub(super) fn gpu_memory_measured(e: &Evidence<'_>) -> MaturityCheck {
    let area = MaturityArea::Observability;
    let gpu_pods: Vec<&PodFacts> = e.pods.iter().copied().filter(|p| p.gpu).collect();
    if gpu_pods.is_empty() {
        return check(
            "OBS-4",
            area,
            false,
            false,
            "no matched pod requests a GPU",
            "",
        );
    }
    let mut measured = 0;
    let mut failed = Vec::new();
    for p in &gpu_pods {
        match e.snapshots.get(&p.name) {
            Some(s) if s.gpu.state == GpuState::Available && !s.gpu.devices.is_empty() => {
                measured += 1;
            }
            // A newer sidecar's state: not counted as measured, and not said to be unavailable.
            Some(s) if s.gpu.state == GpuState::Unknown => failed.push(format!(
                "{} (a GPU state this operator does not know: a newer sidecar's)",
                p.name
            )),
            Some(s) => failed.push(format!(
                "{} ({})",
                p.name,
                s.gpu
                    .reason
                    .as_deref()
                    .unwrap_or("GPU not available to the sidecar")
            )),
            None => failed.push(format!("{} (no sidecar snapshot)", p.name)),
        }
    }
    check(
        "OBS-4",
        area,
        true,
        failed.is_empty(),
        format!(
            "GPU memory measured in {measured}/{} pods that request GPUs",
            gpu_pods.len()
        ),
        format!(
            "give the sidecar NVML: the NVIDIA container toolkit must honour \
             NVIDIA_VISIBLE_DEVICES for it (the webhook sets it on GPU pods): {}",
            list(&failed)
        ),
    )
}

/// OBS-5: request latency is measured (proxy or OTLP spans).
pub(super) fn latency_measured(e: &Evidence<'_>) -> MaturityCheck {
    let area = MaturityArea::Observability;
    if e.pods.is_empty() {
        return check("OBS-5", area, true, false, NO_PODS, NO_PODS_NEXT);
    }
    let (have, missing) = snapshots(e);
    let requests: u64 = have
        .iter()
        .filter_map(|(_, s)| s.latency.as_ref())
        .map(|l| l.requests)
        .sum();
    let measuring = have
        .iter()
        .filter(|(_, s)| s.latency.as_ref().is_some_and(|l| l.requests > 0))
        .count();
    check(
        "OBS-5",
        area,
        true,
        measuring > 0 && missing.is_empty(),
        format!(
            "request latency from {measuring}/{} pods ({requests} requests measured); {} pod(s) without a snapshot",
            e.pods.len(),
            missing.len()
        ),
        if missing.is_empty() {
            if e.ad
                .spec
                .sidecar
                .as_ref()
                .and_then(|s| s.otlp.as_ref())
                .is_some_and(|o| o.enabled)
            {
                "the OTLP receiver is on but saw no SERVER or CONSUMER span: instrument the \
                 handling of requests or queued messages (OpenTelemetry HTTP server or messaging \
                 instrumentation), or route HTTP traffic through the latency proxy \
                 (spec.sidecar.proxy, Service targetPort agentlens-proxy)"
                    .to_string()
            } else {
                "route the agents' traffic through the sidecar's latency proxy \
                 (spec.sidecar.proxy.targetPort, Service targetPort agentlens-proxy) or send OTLP \
                 spans to the sidecar (spec.sidecar.otlp.enabled)"
                    .to_string()
            }
        } else {
            no_snapshot_next(&missing)
        },
    )
}

/// OBS-6: Prometheus scraped the sidecars recently.
pub(super) fn scraped_recently(e: &Evidence<'_>) -> MaturityCheck {
    let area = MaturityArea::Observability;
    if e.pods.is_empty() {
        return check("OBS-6", area, true, false, NO_PODS, NO_PODS_NEXT);
    }
    let (have, missing) = snapshots(e);
    let stale: Vec<String> = have
        .iter()
        .filter(|(_, s)| {
            s.metrics_scraped_at.as_ref().is_none_or(|t| {
                s.collected_at.0.as_second() - t.0.as_second() > SCRAPE_RECENT_SECONDS
            })
        })
        .map(|(p, _)| p.name.clone())
        .collect();
    check(
        "OBS-6",
        area,
        true,
        !have.is_empty() && stale.is_empty() && missing.is_empty(),
        format!(
            "{}/{} sidecars scraped in the last {} minutes; {} pod(s) without a snapshot",
            have.len() - stale.len(),
            have.len(),
            SCRAPE_RECENT_SECONDS / 60,
            missing.len()
        ),
        if missing.is_empty() {
            format!(
                "let Prometheus scrape port 9477 of {} (the chart's PodMonitor, or \
                 prometheus.io/scrape annotations, which the webhook adds)",
                list(&stale)
            )
        } else {
            no_snapshot_next(&missing)
        },
    )
}
