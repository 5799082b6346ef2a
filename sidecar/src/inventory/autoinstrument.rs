//! The zero-code instrumentation as it runs: for the Python processes of a container that have
//! an auto-instrumentation layout on `PYTHONPATH` (the webhook's shape, see
//! [`layout_on_python_path`]), the CPython ABI the layout was built for (its
//! [`PYTHON_ABI_FILE`], read through `/proc/<pid>/root`), the ABI of the interpreter that runs
//! (below), and whether the layout was imported (a shared object of it in `/proc/<pid>/maps`).
//! A layout built for another CPython fails silently (its `*.cpython-311-*.so` are not even
//! looked for by a 3.12), so this is how it shows.
//!
//! The interpreter's ABI, the first that answers:
//! 1. a mapped `libpython3.X.so` (shared-libpython builds: the `python:3.x` images, pyenv);
//! 2. the executable's name `python3.X` (`/proc/<pid>/exe`, which the kernel resolves through a
//!    venv's symlinks: Debian's `/usr/bin/python3.11` links libpython statically);
//! 3. a mapped extension module of its own, `*.cpython-3X-<platform>.so`, outside the layout;
//! 4. the version of the venv's `pyvenv.cfg` or the installation's `lib/python3.X`
//!    ([`super::python::interpreter`]), for a copied executable named plain `python3`.
//!
//! Blocking `/proc` reads: called from the inventory thread only.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agentlens_crds::autoinstrument::{
    AbiEvidence, AutoInstrumentSeen, InterpreterSeen, PYTHON_ABI_FILE, layout_on_python_path,
};

use super::collect::{ProcInfo, read_proc_logged};
use super::python;
use super::reads::ReadLog;
use super::root::Root;
use crate::shared::Inventories;
use crate::view::Publisher;

/// Bytes of `/proc/<pid>/maps` read at most (a large PyTorch process has ~10,000 mappings,
/// about 1.5 MB).
pub const MAX_MAPS: u64 = 8 << 20;
/// How long after an inventory a container whose instrumentation has not shown is looked at
/// again on every pass (the import happens after `exec`, during the interpreter's start);
/// after that the regular refresh does.
pub const RECHECK_FOR: Duration = Duration::from_secs(120);

/// `cp3X` (with a free-threaded `t`) from `3`, `X` and the ABI flags after the version.
fn tag(major: &str, minor: &str, flags: &str) -> Option<String> {
    let ok = |s: &str| !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit());
    if !ok(major) || !ok(minor) {
        return None;
    }
    // Only `t` (free-threaded) changes the wheel tag; `d` and `m` no longer do since 3.8.
    let t = if flags.contains('t') { "t" } else { "" };
    Some(format!("cp{major}{minor}{t}"))
}

/// `X.Y` followed by ABI flags (`3.11`, `3.13t`, `3.11d`) as a tag.
fn tag_of_dotted(v: &str) -> Option<String> {
    let (major, rest) = v.split_once('.')?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let (minor, flags) = rest.split_at(digits);
    // The flags end the name (`python3.13t`) or run into `.so` (`libpython3.13t.so.1.0`).
    let flags = flags.split('.').next().unwrap_or("");
    if !flags.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    tag(major, minor, flags)
}

/// The ABI of a mapped `libpython3.X[flags].so…`.
pub fn abi_of_libpython(file: &str) -> Option<String> {
    let v = file.strip_prefix("libpython")?;
    v.contains(".so").then_some(())?;
    tag_of_dotted(v)
}

/// The ABI of an executable named `python3.X[flags]` (not `python3`, not `python3.11-config`).
pub fn abi_of_executable(file: &str) -> Option<String> {
    tag_of_dotted(file.strip_prefix("python")?)
}

/// The ABI of an extension module `name.cpython-3XY[flags]-<platform>.so`.
pub fn abi_of_extension(file: &str) -> Option<String> {
    let (_, rest) = file.split_once(".cpython-")?;
    let (t, platform) = rest.split_once('-')?;
    platform.ends_with(".so").then_some(())?;
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let (num, flags) = t.split_at(digits);
    if num.len() < 2 || !flags.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    let (major, minor) = num.split_at(1);
    tag(major, minor, flags)
}

/// The files a process maps (`/proc/<pid>/maps`' path column), each once, in order.
pub fn mapped_files(maps: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for line in maps.lines() {
        // address perms offset dev inode, then the path (which may hold spaces).
        let mut rest = line;
        for _ in 0..5 {
            rest = rest.trim_start();
            rest = rest.find(char::is_whitespace).map_or("", |i| &rest[i..]);
        }
        let path = rest.trim_start().trim_end_matches(" (deleted)");
        if path.starts_with('/') && out.last() != Some(&path) && !out.contains(&path) {
            out.push(path);
        }
    }
    out
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Whether `path` lies under one of `dirs`.
fn under(path: &str, dirs: &[String]) -> bool {
    dirs.iter().any(|d| {
        path.strip_prefix(d.as_str())
            .is_some_and(|r| r.starts_with('/'))
    })
}

/// The interpreter's ABI from its executable and mapped files (steps 1-3 of the module's
/// order); the layout's own files (`layout_dirs`) are no evidence.
pub fn interpreter_abi(
    exe: &str,
    mapped: &[&str],
    layout_dirs: &[String],
) -> Option<(String, AbiEvidence)> {
    let own = || mapped.iter().filter(|p| !under(p, layout_dirs));
    own()
        .find_map(|p| abi_of_libpython(file_name(p)))
        .map(|a| (a, AbiEvidence::Libpython))
        .or_else(|| abi_of_executable(file_name(exe)).map(|a| (a, AbiEvidence::Executable)))
        .or_else(|| {
            own()
                .find_map(|p| abi_of_extension(file_name(p)))
                .map(|a| (a, AbiEvidence::Extension))
        })
}

/// What one process says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSeen {
    /// The layout on its `PYTHONPATH`.
    pub layout: String,
    /// Its ABI, if determined.
    pub abi: Option<(String, AbiEvidence)>,
    /// Whether it maps a shared object from the layout.
    pub loaded: bool,
}

/// Sums processes into the container's view (at most
/// [`AutoInstrumentSeen::MAX_INTERPRETERS`] ABIs; processes of further ABIs count as
/// unidentified). `None` when no process has a layout.
pub fn summarise(
    processes: &[ProcessSeen],
    layout_abi: impl FnOnce(&str) -> Option<String>,
) -> Option<AutoInstrumentSeen> {
    let layout = processes.first()?.layout.clone();
    let mut by_abi: BTreeMap<String, InterpreterSeen> = BTreeMap::new();
    let mut unidentified = 0u32;
    // A second layout in one container is not expected; its processes are left out.
    for p in processes.iter().filter(|p| p.layout == layout) {
        let Some((abi, evidence)) = &p.abi else {
            unidentified += 1;
            continue;
        };
        if !by_abi.contains_key(abi) && by_abi.len() >= AutoInstrumentSeen::MAX_INTERPRETERS {
            unidentified += 1;
            continue;
        }
        let e = by_abi.entry(abi.clone()).or_insert(InterpreterSeen {
            abi: abi.clone(),
            evidence: *evidence,
            processes: 0,
            loaded: 0,
        });
        e.processes += 1;
        e.loaded += u32::from(p.loaded);
    }
    Some(AutoInstrumentSeen {
        layout_abi: layout_abi(&layout),
        path: layout,
        interpreters: by_abi.into_values().collect(),
        unidentified,
    })
}

/// A `.python-abi` as written by the layout script: one short tag.
fn parse_abi_file(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty() && t.len() <= 16 && t.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| t.to_string())
}

fn read_maps(proc_root: &Path, pid: u32) -> std::io::Result<String> {
    let mut buf = Vec::new();
    std::fs::File::open(proc_root.join(pid.to_string()).join("maps"))?
        .take(MAX_MAPS)
        .read_to_end(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// The layout as the kernel names its files in `maps`: symlinks resolved inside the root.
fn canonical(root: &Root, path: &str) -> Option<String> {
    let rel = root.resolve(path);
    let rel = rel.strip_prefix(root.base()).ok()?;
    Some(format!("/{}", rel.to_string_lossy()))
}

/// The container's instrumentation, from its processes (already read) and its root. How each
/// process's `maps` read went is recorded in `reads`: one that could not be read (permission,
/// the process gone, anything else) maps nothing here, which `reads` tells from "not mapped".
pub fn observe(
    proc_root: &Path,
    procs: &[ProcInfo],
    root: &Root,
    reads: &mut ReadLog,
) -> Option<AutoInstrumentSeen> {
    let mut seen = Vec::new();
    for p in procs {
        let Some(layout) = p
            .env
            .get("PYTHONPATH")
            .and_then(|pp| layout_on_python_path(pp))
            .filter(|l| l.starts_with('/'))
        else {
            continue;
        };
        // A process whose maps cannot be read (gone since it was read, or not ours to read)
        // maps nothing: then only its executable speaks, and `reads` says why.
        let maps = reads
            .result(p.pid, read_maps(proc_root, p.pid))
            .unwrap_or_default();
        let mapped = mapped_files(&maps);
        let is_python = python::is_python(p)
            || mapped
                .iter()
                .any(|m| abi_of_libpython(file_name(m)).is_some());
        if !is_python {
            // A shell or launcher that passes PYTHONPATH on.
            continue;
        }
        let mut dirs = vec![layout.clone()];
        dirs.extend(canonical(root, &layout).filter(|c| *c != layout));
        let abi = interpreter_abi(&p.exe, &mapped, &dirs).or_else(|| {
            let v = python::interpreter(p, root).version;
            tag_of_dotted(&v).map(|a| (a, AbiEvidence::Installation))
        });
        let loaded = mapped.iter().any(|m| under(m, &dirs));
        seen.push(ProcessSeen {
            layout,
            abi,
            loaded,
        });
    }
    summarise(&seen, |layout| {
        // A tag is a few bytes: the app's volume gets no chance to make the sidecar read more.
        let mut text = String::new();
        std::fs::File::open(root.resolve(&format!("{layout}/{PYTHON_ABI_FILE}")))
            .and_then(|f| f.take(64).read_to_string(&mut text))
            .ok()
            .and_then(|_| parse_abi_file(&text))
    })
}

/// Whether a container's view may still change without its programs changing: no interpreter
/// identified yet, or not every identified process has loaded the layout yet (the first
/// inventory often runs while the interpreter is still starting).
pub fn unsettled(seen: &AutoInstrumentSeen) -> bool {
    seen.interpreters.is_empty() || seen.interpreters.iter().any(|i| i.loaded < i.processes)
}

/// Between inventories: looks at an unsettled container's instrumentation again (the `/proc`
/// reads only, not the packages) for [`RECHECK_FOR`] after its inventory.
pub fn recheck(
    inventories: &mut Inventories,
    publisher: &Publisher<Inventories>,
    proc_root: &Path,
    container: &str,
    pids: &[u32],
) {
    let Some(inv) = inventories.get(container).cloned() else {
        return;
    };
    let young = crate::clock::now_ms().saturating_sub(inv.collected_ms)
        < u64::try_from(RECHECK_FOR.as_millis()).unwrap_or(u64::MAX);
    if !young || !inv.auto_instrument.as_ref().is_some_and(unsettled) {
        return;
    }
    let mut reads = ReadLog::default();
    let procs: Vec<ProcInfo> = pids
        .iter()
        .take(64)
        .filter_map(|pid| read_proc_logged(proc_root, *pid, &mut reads).ok())
        .collect();
    let Some(first) = procs.first() else { return };
    let root = Root::new(proc_root.join(first.pid.to_string()).join("root"));
    let now = observe(proc_root, &procs, &root, &mut reads);
    if now.is_none() || now == inv.auto_instrument {
        return;
    }
    // The reads that gave this view replace the inventory's: the two are read together.
    let mut updated = (*inv).clone();
    updated.auto_instrument = now;
    updated.process_reads = reads.summary();
    inventories.insert(container.to_string(), Arc::new(updated));
    publisher.publish(inventories.clone());
}

#[cfg(test)]
mod tests;
