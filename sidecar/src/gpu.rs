//! GPU measurement through NVML, loaded at run time (`libnvidia-ml.so.1`, falling back to
//! `libnvidia-ml.so`), so the sidecar builds and runs on machines without a GPU. Every call
//! here blocks; it runs on the sampler thread or the XID thread, never on the async runtime.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nvml_wrapper::Nvml;
use nvml_wrapper::bitmasks::event::EventTypes;
use nvml_wrapper::enum_wrappers::device::Brand;
use nvml_wrapper::enums::device::UsedGpuMemory;
use nvml_wrapper::enums::event::XidError;

/// Whether to measure GPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GpuMode {
    /// Use NVML when it can be loaded and sees a GPU.
    Auto,
    /// Never load NVML.
    Off,
}

/// Which GPUs an agent may use, from `NVIDIA_VISIBLE_DEVICES` / `CUDA_VISIBLE_DEVICES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visible {
    /// Every GPU (`all`, or the variable unset).
    All,
    /// No GPU (`none`, `void`, or an empty value).
    None,
    /// These indices or UUIDs (`0,1`, `GPU-2a98…`; UUID prefixes allowed).
    Some(Vec<String>),
}

/// Parses a visible-devices value.
pub fn parse_visible(value: Option<&str>) -> Visible {
    match value.map(str::trim) {
        None | Some("all") => Visible::All,
        Some("" | "none" | "void" | "NoDevFiles") => Visible::None,
        Some(list) => Visible::Some(
            list.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        ),
    }
}

impl Visible {
    /// Whether the device with this index and UUID is visible.
    pub fn includes(&self, index: u32, uuid: &str) -> bool {
        match self {
            Visible::All => true,
            Visible::None => false,
            Visible::Some(list) => list.iter().any(|v| {
                *v == index.to_string() || (v.starts_with("GPU-") && uuid.starts_with(v.as_str()))
            }),
        }
    }
}

/// One GPU at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceReading {
    /// NVML index.
    pub index: u32,
    /// UUID.
    pub uuid: String,
    /// Product name.
    pub name: String,
    /// Memory in use, bytes.
    pub used: u64,
    /// Memory total, bytes.
    pub total: u64,
    /// GPU utilization 0-1, when the device reports it.
    pub utilization: Option<f64>,
}

/// GPU memory of one process on one GPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessReading {
    /// NVML index of the GPU.
    pub index: u32,
    /// UUID of the GPU.
    pub uuid: String,
    /// Process id as NVML reports it.
    pub pid: u32,
    /// Bytes used; `None` where the driver does not say.
    pub used: Option<u64>,
}

/// Everything read from NVML in one sample.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GpuReading {
    /// The visible GPUs.
    pub devices: Vec<DeviceReading>,
    /// Compute and graphics processes on them.
    pub processes: Vec<ProcessReading>,
}

/// An opened NVML.
pub struct Gpu {
    nvml: Nvml,
    /// NVIDIA driver version.
    pub driver_version: Option<String>,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gpu")
            .field("driver_version", &self.driver_version)
            .finish()
    }
}

fn load_nvml() -> Result<Nvml, String> {
    match Nvml::builder()
        .lib_path(OsStr::new("libnvidia-ml.so.1"))
        .init()
    {
        Ok(n) => Ok(n),
        Err(first) => Nvml::builder()
            .lib_path(OsStr::new("libnvidia-ml.so"))
            .init()
            .map_err(|second| format!("NVML not available: {first}; {second}")),
    }
}

impl Gpu {
    /// Loads NVML; the error is the reason GPU measurement is unavailable, for the snapshot.
    pub fn open() -> Result<Self, String> {
        let nvml = load_nvml()?;
        let count = nvml
            .device_count()
            .map_err(|e| format!("NVML device count: {e}"))?;
        if count == 0 {
            return Err("NVML loaded but no GPU is visible to this container".into());
        }
        let driver_version = nvml.sys_driver_version().ok();
        Ok(Self {
            nvml,
            driver_version,
        })
    }

    /// Reads the visible devices and their processes. Devices that fail to answer are skipped
    /// (a GPU that fell off the bus must not stop the others from being measured).
    pub fn read(&self, visible: &Visible) -> Result<GpuReading, String> {
        let count = self
            .nvml
            .device_count()
            .map_err(|e| format!("NVML device count: {e}"))?;
        let mut out = GpuReading::default();
        for index in 0..count {
            let Ok(dev) = self.nvml.device_by_index(index) else {
                continue;
            };
            let Ok(uuid) = dev.uuid() else { continue };
            if !visible.includes(index, &uuid) {
                continue;
            }
            let Ok(mem) = dev.memory_info() else { continue };
            let utilization = dev
                .utilization_rates()
                .ok()
                .map(|u| f64::from(u.gpu) / 100.0);
            let name = dev.name().unwrap_or_else(|_| match dev.brand() {
                Ok(Brand::Unknown) | Err(_) => "unknown".into(),
                Ok(b) => format!("{b:?}"),
            });
            let mut pids = BTreeSet::new();
            let procs = dev
                .running_compute_processes()
                .unwrap_or_default()
                .into_iter()
                .chain(dev.running_graphics_processes().unwrap_or_default());
            for p in procs {
                // A process using both compute and graphics appears twice.
                if !pids.insert(p.pid) {
                    continue;
                }
                out.processes.push(ProcessReading {
                    index,
                    uuid: uuid.clone(),
                    pid: p.pid,
                    used: match p.used_gpu_memory {
                        UsedGpuMemory::Used(b) => Some(b),
                        UsedGpuMemory::Unavailable => None,
                    },
                });
            }
            out.devices.push(DeviceReading {
                index,
                uuid,
                name,
                used: mem.used,
                total: mem.total,
                utilization,
            });
        }
        Ok(out)
    }
}

/// Called for every critical XID event with (GPU index, UUID, XID).
pub type XidCallback = Box<dyn Fn(u32, &str, u64) + Send>;

/// Counts of critical XID errors per (GPU index, UUID, XID).
pub type XidCounts = BTreeMap<(u32, String, u64), u64>;

/// Watches NVML critical XID events on its own thread until `stop` is set; the thread owns the
/// counts and publishes them for the sampler after each event. Returns why it could not start
/// (no NVML, events unsupported) instead of failing the sidecar.
pub fn spawn_xid_watcher(
    publisher: crate::view::Publisher<XidCounts>,
    stop: Arc<AtomicBool>,
    on_event: XidCallback,
) -> Result<std::thread::JoinHandle<()>, String> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    let handle = std::thread::Builder::new()
        .name("agentlens-xid".into())
        .spawn(move || {
            let nvml = match load_nvml() {
                Ok(n) => n,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let mut set = match nvml.create_event_set() {
                Ok(s) => s,
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("NVML event set: {e}")));
                    return;
                }
            };
            let count = nvml.device_count().unwrap_or(0);
            let mut registered = 0;
            for i in 0..count {
                let Ok(dev) = nvml.device_by_index(i) else {
                    continue;
                };
                // Register only where supported: a failed registration consumes the set.
                let supported = dev
                    .supported_event_types()
                    .is_ok_and(|t| t.contains(EventTypes::CRITICAL_XID_ERROR));
                if !supported {
                    continue;
                }
                match dev.register_events(EventTypes::CRITICAL_XID_ERROR, set) {
                    Ok(s) => {
                        set = s;
                        registered += 1;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!(
                            "registering XID events on GPU {i}: {}",
                            e.error
                        )));
                        return;
                    }
                }
            }
            if registered == 0 {
                let _ = ready_tx.send(Err("no GPU supports critical XID events".into()));
                return;
            }
            let _ = ready_tx.send(Ok(()));
            let mut counts = XidCounts::new();
            while !stop.load(Ordering::Relaxed) {
                // Wait in short slices so a stop request is seen within a second.
                let Ok(ev) = set.wait(1000) else { continue };
                if let Some(XidError::Value(xid)) = ev.event_data {
                    let index = ev.device.index().unwrap_or(u32::MAX);
                    let uuid = ev.device.uuid().unwrap_or_default();
                    *counts.entry((index, uuid.clone(), xid)).or_default() += 1;
                    publisher.publish(counts.clone());
                    on_event(index, &uuid, xid);
                }
            }
        })
        .map_err(|e| format!("starting the XID thread: {e}"))?;
    match ready_rx.recv_timeout(Duration::from_secs(10)) {
        Ok(Ok(())) => Ok(handle),
        Ok(Err(e)) => Err(e),
        Err(_) => Err("the XID thread did not start".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_devices_values() {
        assert_eq!(parse_visible(None), Visible::All);
        assert_eq!(parse_visible(Some("all")), Visible::All);
        assert_eq!(parse_visible(Some("none")), Visible::None);
        assert_eq!(parse_visible(Some("void")), Visible::None);
        let v = parse_visible(Some("0, GPU-2a98b8b8"));
        assert!(v.includes(0, "GPU-ffff"));
        assert!(v.includes(3, "GPU-2a98b8b8-e285-6d24-ca74-cc623c47f1bd"));
        assert!(!v.includes(1, "GPU-1111"));
    }
}
