//! The inventory thread: recomputes a container's inventory when its set of programs changes
//! (executables, working directories and `argv[0]` of its processes; a new worker of the same program is
//! no change), and every 10 minutes for what changes underneath them (`pip install` at run
//! time). Never on a scrape: `/v1/inventory` and the snapshot serve the last one, which this
//! thread, their one owner, publishes ([`Shared::inventory`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::collect::{CollectConfig, collect_pids};
use crate::shared::{Inventories, Shared};
use crate::view::Publisher;

/// How the thread runs.
#[derive(Debug, Clone)]
pub struct InventoryConfig {
    /// Where `/proc` is.
    pub proc_root: PathBuf,
    /// Model artifact paths (container paths).
    pub model_paths: Vec<String>,
    /// How often the process set is compared.
    pub check_every: Duration,
    /// How often an unchanged container is inventoried again.
    pub refresh_every: Duration,
}

impl InventoryConfig {
    /// The defaults: compare every 5 s, refresh every 10 minutes.
    pub fn new(proc_root: PathBuf, model_paths: Vec<String>) -> Self {
        Self {
            proc_root,
            model_paths,
            check_every: Duration::from_secs(5),
            refresh_every: Duration::from_secs(600),
        }
    }
}

/// The programs of a set of processes (executable, working directory, `argv[0]`): what the
/// inventory depends on. `argv[0]` is there because a venv's interpreter is found from it, and
/// right after `exec` `/proc/<pid>/cmdline` can still be empty: a pass in that moment would
/// keep the base interpreter's packages until the 10-minute refresh.
pub type Signature = BTreeSet<(String, String, String)>;

/// What the thread remembers per container: the signature it inventoried, and when.
pub type Seen = BTreeMap<String, (Signature, Instant)>;

fn signature(cfg: &InventoryConfig, pids: &BTreeSet<u32>) -> Signature {
    pids.iter()
        .take(64)
        .filter_map(|pid| {
            let dir = cfg.proc_root.join(pid.to_string());
            let exe = std::fs::read_link(dir.join("exe")).ok()?;
            let cwd = std::fs::read_link(dir.join("cwd")).unwrap_or_default();
            let argv0 = std::fs::read(dir.join("cmdline"))
                .ok()
                .and_then(|c| c.split(|b| *b == 0).next().map(<[u8]>::to_vec))
                .unwrap_or_default();
            Some((
                exe.to_string_lossy().into_owned(),
                cwd.to_string_lossy().into_owned(),
                String::from_utf8_lossy(&argv0).into_owned(),
            ))
        })
        .collect()
}

/// Whether a container is inventoried now (else only its instrumentation is looked at again):
/// when its programs changed or its inventory is old. An empty signature (no executable
/// readable) is inventoried only when the container has no inventory yet: that one pass
/// records why (a sidecar of another user than the app's is denied every process, and says so
/// in `processReads`), while processes that are unreadable for a moment (exiting, just
/// exec'd) never replace a good inventory with an empty one.
fn collect_now(stale: bool, signature_empty: bool, has_inventory: bool) -> bool {
    stale && !(signature_empty && has_inventory)
}

/// One pass: inventories the containers whose programs changed or whose inventory is old,
/// into `inventories`, publishing each new one as soon as it is collected.
pub fn pass(
    shared: &Shared,
    cfg: &InventoryConfig,
    last: &mut Seen,
    inventories: &mut Inventories,
    publisher: &Publisher<Inventories>,
) {
    let sample = shared.sample();
    let driver = sample.gpu.driver_version.clone();
    for (container, p) in &sample.containers {
        let pids = &p.pids;
        if pids.is_empty() {
            continue;
        }
        let sig = signature(cfg, pids);
        let stale = match last.get(container) {
            Some((s, at)) => *s != sig || at.elapsed() >= cfg.refresh_every,
            None => true,
        };
        let pids: Vec<u32> = pids.iter().copied().collect();
        if !collect_now(stale, sig.is_empty(), inventories.contains_key(container)) {
            // The instrumentation is imported after exec: its /proc side is looked at again.
            super::autoinstrument::recheck(
                inventories,
                publisher,
                &cfg.proc_root,
                container,
                &pids,
            );
            continue;
        }
        let inv = collect_pids(
            container,
            &cfg.proc_root,
            &pids,
            &CollectConfig {
                model_paths: cfg.model_paths.clone(),
                driver: driver.clone(),
            },
        );
        inventories.insert(container.clone(), Arc::new(inv));
        // Entries are `Arc`s: a publication copies the map, not the inventories.
        publisher.publish(inventories.clone());
        last.insert(container.clone(), (sig, Instant::now()));
    }
}

/// What `run` and `serve` configure of the inventory.
#[derive(Debug, Clone)]
pub struct InventoryOptions {
    /// Model artifact paths to fingerprint (as the app containers see them).
    pub model_paths: Vec<String>,
    /// How often the process set is compared.
    pub check_every: Duration,
}

/// Starts the thread for `run` and `serve` over `proc_root`.
pub fn start(
    shared: &Arc<Shared>,
    proc_root: PathBuf,
    opts: &InventoryOptions,
    stopping: &Arc<AtomicBool>,
) -> crate::error::Result<std::thread::JoinHandle<()>> {
    spawn(
        shared.clone(),
        InventoryConfig {
            check_every: opts.check_every,
            ..InventoryConfig::new(proc_root, opts.model_paths.clone())
        },
        stopping.clone(),
    )
    .map_err(|source| crate::error::Error::Io {
        what: "starting the inventory thread".into(),
        source,
    })
}

/// Starts the thread, the one owner of [`Shared::inventory`]; it ends when `stopping` is set.
pub fn spawn(
    shared: Arc<Shared>,
    cfg: InventoryConfig,
    stopping: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let publisher = shared
        .inventory
        .publisher(Inventories::new())
        .ok_or_else(|| std::io::Error::other("another thread publishes the inventories"))?;
    std::thread::Builder::new()
        .name("agentlens-inventory".into())
        .spawn(move || {
            let mut last = BTreeMap::new();
            let mut inventories = Inventories::new();
            while !stopping.load(Ordering::Relaxed) {
                // Until the first sample names the processes there is nothing to look at.
                if !shared.ready.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
                pass(&shared, &cfg, &mut last, &mut inventories, &publisher);
                let until = Instant::now() + cfg.check_every;
                while Instant::now() < until && !stopping.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `/proc/<pid>` with the links and file [`signature`] reads.
    fn fake_proc(root: &std::path::Path, pid: u32, exe: &str, cmdline: &[u8]) {
        let dir = root.join(pid.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink(exe, dir.join("exe")).unwrap();
        std::os::unix::fs::symlink("/srv/agent", dir.join("cwd")).unwrap();
        std::fs::write(dir.join("cmdline"), cmdline).unwrap();
    }

    #[test]
    fn a_venv_interpreter_whose_cmdline_appears_after_exec_is_a_change() {
        let before = tempfile::tempdir().unwrap();
        let after = tempfile::tempdir().unwrap();
        // Right after exec the kernel may not have the new argv yet.
        fake_proc(before.path(), 7, "/usr/bin/python3.11", b"");
        fake_proc(
            after.path(),
            7,
            "/usr/bin/python3.11",
            b"/srv/venv/bin/python\0agent.py\0",
        );
        let pids = BTreeSet::from([7]);
        let sig =
            |root: &std::path::Path| signature(&InventoryConfig::new(root.into(), vec![]), &pids);
        assert_ne!(sig(before.path()), sig(after.path()));
        // Arguments after argv[0] are not part of it: a new worker of the same program is no change.
        let other_args = tempfile::tempdir().unwrap();
        fake_proc(
            other_args.path(),
            7,
            "/usr/bin/python3.11",
            b"/srv/venv/bin/python\0worker.py\0",
        );
        assert_eq!(sig(after.path()), sig(other_args.path()));
    }

    #[test]
    fn unreadable_programs_are_inventoried_once_and_never_replace_an_inventory() {
        // (case, stale, signature empty, has inventory, collect now)
        let cases = [
            ("first sight", true, false, false, true),
            ("programs changed", true, false, true, true),
            ("unchanged", false, false, true, false),
            // A sidecar denied every process: one pass records why (processReads).
            ("first sight, nothing readable", true, true, false, true),
            ("nothing readable since", false, true, true, false),
            (
                "readable before, not now (exiting)",
                true,
                true,
                true,
                false,
            ),
        ];
        for (case, stale, empty, has, want) in cases {
            assert_eq!(collect_now(stale, empty, has), want, "{case}");
        }
    }
}
