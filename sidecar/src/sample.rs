//! The sampler thread: every interval it reads `/proc` and NVML (both blocking), updates the
//! gauges and counters, and stores the sample that `/metrics` and `/v1/snapshot` serve. A
//! scrape never calls NVML or reads `/proc` itself.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use agentlens_crds::snapshot::{
    GpuAttribution, GpuDevice, GpuProcess, GpuSnapshot, GpuState, XidCount,
};

use crate::clock::now_ms;
use crate::gpu::{self, Gpu, GpuMode, Visible};
use crate::proc::{self, Stat};
use crate::shared::Shared;
use crate::view::{Publisher, View};

/// Which processes belong to which container.
#[derive(Debug, Clone)]
pub enum Target {
    /// `run` mode: the child and its descendants, as one container.
    Tree {
        /// The child's pid.
        root: u32,
        /// The container name (`--name`, default `main`).
        container: String,
        /// The subreaper (the sidecar itself) that orphaned descendants are re-parented to:
        /// its descendants, but not itself, are measured too.
        adopter: Option<u32>,
    },
    /// `serve` mode: every process of the pod (shared process namespace), grouped by the
    /// container id in its cgroup.
    Pod {
        /// The sidecar's own container id, left out.
        own_container_id: Option<String>,
        /// Container id → container name, published from the pod's status by the pod watcher
        /// ([`crate::podlogs::watch_pod`]) when known.
        names: Arc<View<BTreeMap<String, String>>>,
    },
}

/// Process figures of one container.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcSample {
    /// Processes seen.
    pub processes: u32,
    /// Resident memory, bytes.
    pub rss_bytes: u64,
    /// CPU time of the live processes, seconds.
    pub cpu_seconds: f64,
    /// Pids, for GPU attribution.
    pub pids: BTreeSet<u32>,
}

/// One sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// When it was taken (epoch ms).
    pub at_ms: u64,
    /// Per container.
    pub containers: BTreeMap<String, ProcSample>,
    /// GPU part of the snapshot.
    pub gpu: GpuSnapshot,
}

impl Default for Sample {
    fn default() -> Self {
        Self {
            at_ms: 0,
            containers: BTreeMap::new(),
            gpu: GpuSnapshot {
                state: GpuState::Unavailable,
                reason: Some("not sampled yet".into()),
                driver_version: None,
                attribution: None,
                devices: Vec::new(),
                processes: Vec::new(),
                xid_errors: Vec::new(),
            },
        }
    }
}

/// Sampler settings.
#[derive(Debug, Clone)]
pub struct SamplerConfig {
    /// Where `/proc` is.
    pub proc_root: PathBuf,
    /// Time between samples.
    pub interval: Duration,
    /// Whether to use NVML.
    pub gpu: GpuMode,
    /// What to observe.
    pub target: Target,
}

/// Groups processes into containers.
pub fn group(
    target: &Target,
    stats: &[Stat],
    cgroup_of: &dyn Fn(u32) -> Option<String>,
) -> BTreeMap<String, Vec<Stat>> {
    let mut out: BTreeMap<String, Vec<Stat>> = BTreeMap::new();
    match target {
        Target::Tree {
            root,
            container,
            adopter,
        } => {
            let mut tree = proc::process_tree(*root, stats);
            if let Some(a) = adopter {
                let mut adopted = proc::process_tree(*a, stats);
                adopted.remove(a);
                tree.extend(adopted);
            }
            out.insert(
                container.clone(),
                stats
                    .iter()
                    .filter(|s| tree.contains(&s.pid))
                    .copied()
                    .collect(),
            );
        }
        Target::Pod {
            own_container_id,
            names,
        } => {
            let names = names.load().unwrap_or_default();
            for s in stats {
                let Some(id) = cgroup_of(s.pid).as_deref().and_then(proc::container_id) else {
                    continue;
                };
                if own_container_id.as_deref() == Some(id.as_str()) {
                    continue;
                }
                let name = match names.get(&id) {
                    Some(name) => name.clone(),
                    // The pod's containers are known and this is none of them: the pod
                    // sandbox, whose pause process shares the PID namespace (PID 1 under
                    // containerd, CRI-O and podman alike), or a restarted container the
                    // pod's status does not list yet (named once it does).
                    None if !names.is_empty() => continue,
                    // Names not known yet (API not reachable): the short id, still bounded
                    // by the pod's containers.
                    None => id[..12].to_string(),
                };
                out.entry(name).or_default().push(*s);
            }
        }
    }
    out
}

/// Sums the figures of each container's processes.
pub fn summarise(
    groups: &BTreeMap<String, Vec<Stat>>,
    page_size: u64,
    ticks_per_second: f64,
) -> BTreeMap<String, ProcSample> {
    groups
        .iter()
        .map(|(name, stats)| {
            let s = ProcSample {
                processes: stats.len() as u32,
                rss_bytes: stats.iter().map(|s| s.rss_pages * page_size).sum(),
                cpu_seconds: stats
                    .iter()
                    .map(|s| (s.utime + s.stime) as f64)
                    .sum::<f64>()
                    / ticks_per_second,
                pids: stats.iter().map(|s| s.pid).collect(),
            };
            (name.clone(), s)
        })
        .collect()
}

/// Starts the sampler thread, the one owner of [`Shared::sample`].
pub fn spawn(
    shared: Arc<Shared>,
    cfg: SamplerConfig,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let publisher = shared
        .sample
        .publisher(Sample::default())
        .ok_or_else(|| std::io::Error::other("another sampler publishes the samples"))?;
    std::thread::Builder::new()
        .name("agentlens-sampler".into())
        .spawn(move || sampler_loop(&shared, &cfg, &stop, &publisher))
}

fn sysconf(var: nix::unistd::SysconfVar, default: i64) -> i64 {
    nix::unistd::sysconf(var)
        .ok()
        .flatten()
        .filter(|v| *v > 0)
        .unwrap_or(default)
}

fn sampler_loop(
    shared: &Shared,
    cfg: &SamplerConfig,
    stop: &AtomicBool,
    publisher: &Publisher<Sample>,
) {
    let page_size = sysconf(nix::unistd::SysconfVar::PAGE_SIZE, 4096) as u64;
    let ticks = sysconf(nix::unistd::SysconfVar::CLK_TCK, 100) as f64;
    let (gpu, mut gpu_reason) = match cfg.gpu {
        GpuMode::Off => (
            None,
            Some("GPU measurement switched off (--gpu off)".to_string()),
        ),
        GpuMode::Auto => match Gpu::open() {
            Ok(g) => (Some(g), None),
            Err(e) => (None, Some(e)),
        },
    };
    let xid_stop = Arc::new(AtomicBool::new(false));
    if gpu.is_some()
        && let Some(counts) = shared.xid.publisher(gpu::XidCounts::default())
    {
        let metrics = shared.metrics.clone();
        let started = gpu::spawn_xid_watcher(
            counts,
            xid_stop.clone(),
            Box::new(move |index, uuid, xid| {
                metrics
                    .gpu_xid_errors
                    .with_label_values(&[&index.to_string(), uuid, &xid.to_string()])
                    .inc();
            }),
        );
        if let Err(e) = started {
            tracing::info!("GPU XID events are not watched: {e}");
        }
    }
    shared.metrics.gpu_available.set(i64::from(gpu.is_some()));
    let mut last_cpu: BTreeMap<String, f64> = BTreeMap::new();
    // Containers with live series, and the identity (container id) they were measured under.
    let mut live: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut gpu_series: BTreeSet<Vec<String>> = BTreeSet::new();
    let mut device_series: BTreeSet<(String, String)> = BTreeSet::new();

    while !stop.load(Ordering::Relaxed) {
        let stats = proc::read_all_stats(&cfg.proc_root);
        let cgroup_of = |pid: u32| proc::read_cgroup(&cfg.proc_root, pid);
        let groups = group(&cfg.target, &stats, &cgroup_of);
        let mut containers = summarise(&groups, page_size, ticks);
        // A container without processes is gone: its series go with it.
        containers.retain(|_, s| s.processes > 0);
        let ids = identities(&cfg.target);
        for gone in follow_series(&live, &containers, &ids) {
            forget_container(&shared.metrics, &gone);
            last_cpu.remove(&gone);
        }
        for name in containers.keys() {
            // Only containers known by name enter the analysis (their counters start at 0):
            // a pod container seen before the API named it would stay there under its short
            // id, a container that never existed.
            let named = matches!(cfg.target, Target::Tree { .. }) || ids.contains_key(name);
            if named && !live.contains_key(name) {
                shared.analysis.container(name);
            }
        }
        live = containers
            .keys()
            .map(|n| (n.clone(), ids.get(n).cloned()))
            .collect();
        for (name, s) in &containers {
            let m = &shared.metrics;
            m.memory_rss
                .with_label_values(&[name])
                .set(s.rss_bytes as f64);
            m.processes
                .with_label_values(&[name])
                .set(i64::from(s.processes));
            // CPU time of exited processes leaves the sum: count only increases.
            let prev = last_cpu.insert(name.clone(), s.cpu_seconds).unwrap_or(0.0);
            if s.cpu_seconds > prev {
                m.cpu_seconds
                    .with_label_values(&[name])
                    .inc_by(s.cpu_seconds - prev);
            }
        }

        let mut gpu_snap = GpuSnapshot {
            state: GpuState::Unavailable,
            reason: gpu_reason.clone(),
            driver_version: None,
            attribution: None,
            devices: Vec::new(),
            processes: Vec::new(),
            xid_errors: Vec::new(),
        };
        if cfg.gpu == GpuMode::Off {
            gpu_snap.state = GpuState::Disabled;
        }
        if let Some(g) = &gpu {
            let (visible, attribution) = visibility(cfg, &containers);
            match g.read(&visible) {
                Ok(reading) => {
                    gpu_reason = None;
                    gpu_snap = build_gpu_snapshot(
                        shared,
                        g,
                        &reading,
                        &containers,
                        attribution,
                        &mut gpu_series,
                        &mut device_series,
                    );
                    shared.metrics.gpu_available.set(1);
                }
                Err(e) => {
                    shared.metrics.gpu_available.set(0);
                    // The last good read is not current: its figures go until NVML answers.
                    forget_gpu_series(&shared.metrics, &mut gpu_series, &mut device_series);
                    gpu_snap.reason = Some(e);
                }
            }
        }
        let sample = Sample {
            at_ms: now_ms(),
            containers,
            gpu: gpu_snap,
        };
        publisher.publish(sample);
        shared.ready.store(true, Ordering::Release);
        // Sleep in slices so a stop request is honoured quickly.
        let mut left = cfg.interval;
        while !left.is_zero() && !stop.load(Ordering::Relaxed) {
            let step = left.min(Duration::from_millis(100));
            std::thread::sleep(step);
            left = left.saturating_sub(step);
        }
    }
    xid_stop.store(true, Ordering::Relaxed);
}

/// The identity each container name is measured under: its container id (a restarted
/// container has a new one), from the pod's status.
fn identities(target: &Target) -> BTreeMap<String, String> {
    match target {
        Target::Tree { .. } => BTreeMap::new(),
        Target::Pod { names, .. } => names
            .load()
            .map(|n| {
                n.iter()
                    .map(|(id, name)| (name.clone(), id.clone()))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// The containers whose series must go: those that had series and now have no processes,
/// and those that restarted (another container id under the same name), which start again
/// from clean series.
pub fn follow_series(
    live: &BTreeMap<String, Option<String>>,
    now: &BTreeMap<String, ProcSample>,
    ids: &BTreeMap<String, String>,
) -> Vec<String> {
    live.iter()
        .filter(|(name, id)| match now.get(*name) {
            None => true,
            Some(_) => id.is_some() && ids.get(*name) != id.as_ref(),
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// Removes a container's per-container series.
fn forget_container(m: &crate::metrics::Metrics, name: &str) {
    let _ = m.memory_rss.remove_label_values(&[name]);
    let _ = m.processes.remove_label_values(&[name]);
    let _ = m.cpu_seconds.remove_label_values(&[name]);
}

/// Removes every GPU device and per-container GPU memory series (XID counters stay).
fn forget_gpu_series(
    m: &crate::metrics::Metrics,
    gpu_series: &mut BTreeSet<Vec<String>>,
    device_series: &mut BTreeSet<(String, String)>,
) {
    for (idx, uuid) in std::mem::take(device_series) {
        let _ = m.gpu_memory_used.remove_label_values(&[&idx, &uuid]);
        let _ = m.gpu_memory_total.remove_label_values(&[&idx, &uuid]);
        let _ = m.gpu_utilization.remove_label_values(&[&idx, &uuid]);
    }
    for labels in std::mem::take(gpu_series) {
        let l: Vec<&str> = labels.iter().map(String::as_str).collect();
        let _ = m.gpu_process_memory.remove_label_values(&l);
    }
}

/// Which GPUs count, and how that was decided.
fn visibility(
    cfg: &SamplerConfig,
    containers: &BTreeMap<String, ProcSample>,
) -> (Visible, GpuAttribution) {
    const VARS: [&str; 2] = ["NVIDIA_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES"];
    match &cfg.target {
        Target::Tree { .. } => {
            // The child inherits our environment.
            let v = std::env::var("CUDA_VISIBLE_DEVICES").ok();
            (
                gpu::parse_visible(v.as_deref()),
                GpuAttribution::ProcessTree,
            )
        }
        Target::Pod { .. } => {
            let mut lists: Vec<String> = Vec::new();
            let mut all = false;
            let mut readable = false;
            for s in containers.values() {
                let Some(pid) = s.pids.iter().next() else {
                    continue;
                };
                let Some(env) = proc::read_env(&cfg.proc_root, *pid, &VARS) else {
                    continue;
                };
                readable = true;
                match VARS
                    .iter()
                    .find_map(|k| env.get(*k))
                    .map(|v| gpu::parse_visible(Some(v)))
                {
                    Some(Visible::All) => all = true,
                    Some(Visible::Some(l)) => lists.extend(l),
                    Some(Visible::None) | None => {}
                }
            }
            if !readable {
                (Visible::All, GpuAttribution::AllVisible)
            } else if all {
                (Visible::All, GpuAttribution::VisibleDevicesEnv)
            } else {
                (Visible::Some(lists), GpuAttribution::VisibleDevicesEnv)
            }
        }
    }
}

fn build_gpu_snapshot(
    shared: &Shared,
    g: &Gpu,
    reading: &gpu::GpuReading,
    containers: &BTreeMap<String, ProcSample>,
    attribution: GpuAttribution,
    gpu_series: &mut BTreeSet<Vec<String>>,
    device_series: &mut BTreeSet<(String, String)>,
) -> GpuSnapshot {
    let m = &shared.metrics;
    let mut now_devices = BTreeSet::new();
    for d in &reading.devices {
        let idx = d.index.to_string();
        m.gpu_memory_used
            .with_label_values(&[&idx, &d.uuid])
            .set(d.used as f64);
        m.gpu_memory_total
            .with_label_values(&[&idx, &d.uuid])
            .set(d.total as f64);
        if let Some(u) = d.utilization {
            m.gpu_utilization.with_label_values(&[&idx, &d.uuid]).set(u);
        }
        now_devices.insert((idx, d.uuid.clone()));
    }
    for (idx, uuid) in device_series.difference(&now_devices) {
        let _ = m.gpu_memory_used.remove_label_values(&[idx, uuid]);
        let _ = m.gpu_memory_total.remove_label_values(&[idx, uuid]);
        let _ = m.gpu_utilization.remove_label_values(&[idx, uuid]);
    }
    *device_series = now_devices;

    // Only processes of the observed containers: other workloads on a shared GPU are not ours.
    let owner: BTreeMap<u32, &str> = containers
        .iter()
        .flat_map(|(name, s)| s.pids.iter().map(move |p| (*p, name.as_str())))
        .collect();
    let mut per_series: BTreeMap<Vec<String>, u64> = BTreeMap::new();
    let mut processes = Vec::new();
    for p in &reading.processes {
        let Some(container) = owner.get(&p.pid) else {
            continue;
        };
        let used = p.used.unwrap_or(0);
        *per_series
            .entry(vec![
                p.index.to_string(),
                p.uuid.clone(),
                (*container).to_string(),
            ])
            .or_default() += used;
        processes.push(GpuProcess {
            gpu_uuid: p.uuid.clone(),
            pid: p.pid,
            container: (*container).to_string(),
            memory_used_bytes: used,
        });
    }
    for (labels, bytes) in &per_series {
        let l: Vec<&str> = labels.iter().map(String::as_str).collect();
        m.gpu_process_memory
            .with_label_values(&l)
            .set(*bytes as f64);
    }
    let now: BTreeSet<Vec<String>> = per_series.keys().cloned().collect();
    for gone in gpu_series.difference(&now) {
        let l: Vec<&str> = gone.iter().map(String::as_str).collect();
        let _ = m.gpu_process_memory.remove_label_values(&l);
    }
    *gpu_series = now;

    let xid_errors = shared
        .xid
        .load()
        .map(|c| {
            c.iter()
                .map(|((_, uuid, xid), count)| XidCount {
                    gpu_uuid: uuid.clone(),
                    xid: *xid,
                    count: *count,
                })
                .collect()
        })
        .unwrap_or_default();
    GpuSnapshot {
        state: GpuState::Available,
        reason: None,
        driver_version: g.driver_version.clone(),
        attribution: Some(attribution),
        devices: reading
            .devices
            .iter()
            .map(|d| GpuDevice {
                index: d.index,
                uuid: d.uuid.clone(),
                name: d.name.clone(),
                memory_used_bytes: d.used,
                memory_total_bytes: d.total,
                utilization_ratio: d.utilization,
            })
            .collect(),
        processes,
        xid_errors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_follow_containers_that_vanish_or_restart() {
        let live = |entries: &[(&str, Option<&str>)]| -> BTreeMap<String, Option<String>> {
            entries
                .iter()
                .map(|(n, id)| (n.to_string(), id.map(str::to_string)))
                .collect()
        };
        let now = |names: &[&str]| -> BTreeMap<String, ProcSample> {
            names
                .iter()
                .map(|n| (n.to_string(), ProcSample::default()))
                .collect()
        };
        let ids = |entries: &[(&str, &str)]| -> BTreeMap<String, String> {
            entries
                .iter()
                .map(|(n, id)| (n.to_string(), id.to_string()))
                .collect()
        };
        type Case<'a> = (
            &'a str,
            BTreeMap<String, Option<String>>,
            BTreeMap<String, ProcSample>,
            BTreeMap<String, String>,
            Vec<&'a str>,
        );
        let cases: [Case<'_>; 4] = [
            (
                "unchanged",
                live(&[("app", Some("a1"))]),
                now(&["app"]),
                ids(&[("app", "a1")]),
                vec![],
            ),
            (
                "vanished",
                live(&[("app", Some("a1")), ("guard", Some("g1"))]),
                now(&["app"]),
                ids(&[("app", "a1"), ("guard", "g1")]),
                vec!["guard"],
            ),
            (
                "restarted",
                live(&[("app", Some("a1"))]),
                now(&["app"]),
                ids(&[("app", "a2")]),
                vec!["app"],
            ),
            (
                "run_mode_tree",
                live(&[("main", None)]),
                now(&["main"]),
                ids(&[]),
                vec![],
            ),
        ];
        for (name, live, now, ids, want) in cases {
            assert_eq!(follow_series(&live, &now, &ids), want, "{name}");
        }
    }

    #[test]
    fn pod_processes_grouped_by_container_id_without_the_sidecar() {
        let app = "a".repeat(64);
        let side = "b".repeat(64);
        let st = |pid| Stat {
            pid,
            ppid: 1,
            utime: 100,
            stime: 50,
            rss_pages: 10,
        };
        // PID 1 is the pod sandbox's pause process, in its own container's cgroup (as
        // observed in a `podman kube play` pod: podman's pause, catatonit).
        let sandbox = "c".repeat(64);
        let stats = [st(1), st(7), st(8), st(9)];
        let cg = move |pid: u32| -> Option<String> {
            Some(match pid {
                1 => format!("0::/kubepods/burstable/pod1/{sandbox}"),
                7 | 8 => format!("0::/kubepods/burstable/pod1/{app}"),
                _ => format!("0::/kubepods/burstable/pod1/{side}"),
            })
        };
        let names = Arc::new(View::of(BTreeMap::from([(
            "a".repeat(64),
            "extractor".to_string(),
        )])));
        let target = Target::Pod {
            own_container_id: Some("b".repeat(64)),
            names: names.clone(),
        };
        // Before the API named the containers: short ids, the sandbox's too.
        let unnamed = Target::Pod {
            own_container_id: Some("b".repeat(64)),
            names: Arc::new(View::default()),
        };
        assert_eq!(
            group(&unnamed, &stats, &cg).keys().collect::<Vec<_>>(),
            ["aaaaaaaaaaaa", "cccccccccccc"]
        );
        // Named: the pod's containers only, not the sandbox.
        let groups = group(&target, &stats, &cg);
        assert_eq!(groups.keys().collect::<Vec<_>>(), ["extractor"]);
        let s = summarise(&groups, 4096, 100.0);
        assert_eq!(s["extractor"].processes, 2);
        assert_eq!(s["extractor"].rss_bytes, 2 * 10 * 4096);
        assert!((s["extractor"].cpu_seconds - 3.0).abs() < 1e-9);
    }
}
