//! One container's inventory from its processes and its root filesystem.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::reads::ReadLog;
use super::root::{Root, why};
use super::{Component, ContainerInventory, Kind, gpu_stack, models, node, os, packages, python};

/// Environment variables whose values are read (for path resolution only, never reported).
const PATH_VARS: [&str; 3] = ["PATH", "PYTHONPATH", "HOME"];

/// What the inventory needs of one process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcInfo {
    /// Process id.
    pub pid: u32,
    /// The executable (container path).
    pub exe: String,
    /// Command line.
    pub cmdline: Vec<String>,
    /// Working directory (container path).
    pub cwd: String,
    /// `PATH`, `PYTHONPATH` and `HOME` only.
    pub env: BTreeMap<String, String>,
    /// Names of all its environment variables.
    pub env_names: BTreeSet<String>,
}

/// Reads a process's `/proc` entries (under `proc_root`).
pub fn read_proc(proc_root: &Path, pid: u32) -> std::io::Result<ProcInfo> {
    read_proc_logged(proc_root, pid, &mut ReadLog::default())
}

/// [`read_proc`], recording in `reads` how each entry's read went: also those it does without
/// (`cwd`, `environ`), whose failure would otherwise look like a process without them.
pub fn read_proc_logged(
    proc_root: &Path,
    pid: u32,
    reads: &mut ReadLog,
) -> std::io::Result<ProcInfo> {
    let dir = proc_root.join(pid.to_string());
    let mut link = |name: &str| -> std::io::Result<String> {
        Ok(reads
            .result(pid, std::fs::read_link(dir.join(name)))?
            .to_string_lossy()
            .trim_end_matches(" (deleted)")
            .to_string())
    };
    let exe = link("exe")?;
    let cwd = link("cwd").unwrap_or_else(|_| "/".to_string());
    let cmdline = reads
        .result(pid, std::fs::read(dir.join("cmdline")))?
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    let mut env = BTreeMap::new();
    let mut env_names = BTreeSet::new();
    // environ may be unreadable for another user's process: names are then unknown, and
    // `reads` says so (no `PYTHONPATH` seen is then no evidence of none).
    if let Ok(raw) = reads.result(pid, std::fs::read(dir.join("environ"))) {
        for kv in raw.split(|b| *b == 0).filter(|s| !s.is_empty()) {
            let kv = String::from_utf8_lossy(kv);
            let (k, v) = kv.split_once('=').unwrap_or((&kv, ""));
            env_names.insert(k.to_string());
            if PATH_VARS.contains(&k) {
                env.insert(k.to_string(), v.to_string());
            }
        }
    }
    Ok(ProcInfo {
        pid,
        exe,
        cmdline,
        cwd,
        env,
        env_names,
    })
}

/// What the collection needs besides the processes.
#[derive(Debug, Clone, Default)]
pub struct CollectConfig {
    /// Model artifact paths (container paths).
    pub model_paths: Vec<String>,
    /// The NVIDIA driver version NVML reported, if any.
    pub driver: Option<String>,
}

/// The inventory of `container`, whose processes are `procs` and whose root is `root`.
pub fn collect(
    container: &str,
    procs: &[ProcInfo],
    root: &Root,
    cfg: &CollectConfig,
    mut notes: Vec<String>,
) -> ContainerInventory {
    let os = os::read(root);
    if os.is_none() {
        notes.push("no /etc/os-release (a scratch or distroless image?)".into());
    }
    let mut components = Vec::new();
    packages::read(root, os.as_ref(), &mut components, &mut notes);

    let mut interpreters: Vec<python::Interpreter> = Vec::new();
    for p in procs.iter().filter(|p| python::is_python(p)) {
        let i = python::interpreter(p, root);
        if !interpreters
            .iter()
            .any(|x| x.prefix == i.prefix && x.site_dirs == i.site_dirs)
        {
            interpreters.push(i);
        }
    }
    for i in &interpreters {
        components.push(Component {
            kind: Kind::Runtime,
            name: "python".into(),
            version: i.version.clone(),
            purl: None,
            location: Some(i.prefix.clone()),
        });
        let mut names = BTreeSet::new();
        for dir in &i.site_dirs {
            python::scan_site_dir(root, dir, &mut names, &mut components, &mut notes);
        }
    }

    let mut seen_npm = BTreeSet::new();
    let mut node_exes = BTreeSet::new();
    for p in procs.iter().filter(|p| node::is_node(p)) {
        if node_exes.insert(p.exe.clone()) {
            components.push(Component {
                kind: Kind::Runtime,
                name: "node".into(),
                version: node::version(root, &p.exe).unwrap_or_default(),
                purl: None,
                location: Some(p.exe.clone()),
            });
        }
        for dir in node::module_dirs(p) {
            node::scan(root, &dir, &mut seen_npm, &mut components, &mut notes);
        }
    }

    gpu_stack::read(root, cfg.driver.as_deref(), &mut components);

    let mut models = Vec::new();
    for path in &cfg.model_paths {
        match models::fingerprint(&root.resolve(path), path) {
            Ok(m) => models.push(m),
            Err(models::FingerprintError::Io { source, .. }) => {
                notes.push(format!("model path {path}: {}", why(&source)));
            }
            Err(e) => notes.push(format!("model path {e}")),
        }
    }

    components.sort();
    components.dedup();
    ContainerInventory {
        container: container.to_string(),
        os,
        components,
        env_names: procs
            .iter()
            .flat_map(|p| p.env_names.iter().cloned())
            .collect(),
        models,
        notes,
        auto_instrument: None,
        process_reads: agentlens_crds::snapshot::ProcessReads::default(),
        collected_ms: crate::clock::now_ms(),
        digest: String::new(),
    }
    .sealed()
}

/// The inventory of a root filesystem on its own (an unpacked image): no processes, so OS
/// packages, the OS and the GPU stack, not the language packages of running interpreters.
pub fn collect_root(name: &str, root: &Path) -> ContainerInventory {
    collect(
        name,
        &[],
        &Root::new(root),
        &CollectConfig::default(),
        Vec::new(),
    )
}

/// Reads the processes and collects: the root is the first readable process's
/// `/proc/<pid>/root`. A process that exits mid-scan leaves a note; how every process's reads
/// went is counted in [`ContainerInventory::process_reads`].
pub fn collect_pids(
    container: &str,
    proc_root: &Path,
    pids: &[u32],
    cfg: &CollectConfig,
) -> ContainerInventory {
    let mut notes = Vec::new();
    let mut procs = Vec::new();
    let mut reads = ReadLog::default();
    for pid in pids.iter().take(64) {
        match read_proc_logged(proc_root, *pid, &mut reads) {
            Ok(p) => procs.push(p),
            Err(e) => notes.push(format!("process {pid}: {}", why(&e))),
        }
    }
    let Some(first) = procs.first() else {
        notes.push("no readable process".into());
        return ContainerInventory {
            container: container.to_string(),
            notes,
            process_reads: reads.summary(),
            collected_ms: crate::clock::now_ms(),
            ..ContainerInventory::default()
        }
        .sealed();
    };
    let root = Root::new(proc_root.join(first.pid.to_string()).join("root"));
    let mut inv = collect(container, &procs, &root, cfg, notes);
    inv.auto_instrument = super::autoinstrument::observe(proc_root, &procs, &root, &mut reads);
    inv.process_reads = reads.summary();
    // The root vanished under us: what was read stands, and says so.
    if !root.base().exists() {
        inv.notes.push(format!(
            "process {} exited during the scan; the inventory may be incomplete",
            first.pid
        ));
        return inv;
    }
    inv
}
