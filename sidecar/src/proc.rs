//! Reading processes from `/proc`: pure parsers over file contents, and thin readers that take
//! the proc root as a path (so tests can point them at fixtures). Only ever called from the
//! sampler thread, never on the async runtime.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// What `/proc/<pid>/stat` says about a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// Process id.
    pub pid: u32,
    /// Parent process id.
    pub ppid: u32,
    /// User-mode CPU time, in clock ticks.
    pub utime: u64,
    /// Kernel-mode CPU time, in clock ticks.
    pub stime: u64,
    /// Resident set size, in pages.
    pub rss_pages: u64,
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) may contain spaces and parentheses,
/// so fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text[..open].trim().parse().ok()?;
    // Fields after the name start at field 3 (state).
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    let field = |n: usize| rest.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    Some(Stat {
        pid,
        ppid: u32::try_from(field(4)?).ok()?,
        utime: field(14)?,
        stime: field(15)?,
        rss_pages: field(24)?,
    })
}

/// `pid` and all its descendants among `stats`.
pub fn process_tree(root: u32, stats: &[Stat]) -> BTreeSet<u32> {
    let mut children: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for s in stats {
        children.entry(s.ppid).or_default().push(s.pid);
    }
    let mut tree = BTreeSet::new();
    let mut stack = vec![root];
    while let Some(p) = stack.pop() {
        if tree.insert(p)
            && let Some(kids) = children.get(&p)
        {
            stack.extend(kids);
        }
    }
    tree.retain(|p| stats.iter().any(|s| s.pid == *p));
    tree
}

/// The container id in a `/proc/<pid>/cgroup` file: the 64-hex-digit id in the cgroup path
/// (cgroup v1 and v2, Docker, containerd, CRI-O and podman layouts; the last 64-hex segment,
/// so a pod's own id above its containers' is passed over).
pub fn container_id(cgroup: &str) -> Option<String> {
    for line in cgroup.lines() {
        let path = line.splitn(3, ':').nth(2).unwrap_or(line);
        for segment in path.rsplit('/') {
            let seg = segment.trim_end_matches(".scope");
            let id = seg.rsplit(['-', ':']).next().unwrap_or(seg);
            if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Some(id.to_ascii_lowercase());
            }
        }
    }
    None
}

/// Reads every process's stat under `proc_root` (processes that exit meanwhile are skipped).
pub fn read_all_stats(proc_root: &Path) -> Vec<Stat> {
    let Ok(entries) = std::fs::read_dir(proc_root) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|t| parse_stat(&t))
        .collect()
}

/// Reads the cgroup file of `pid`.
pub fn read_cgroup(proc_root: &Path, pid: u32) -> Option<String> {
    std::fs::read_to_string(proc_root.join(pid.to_string()).join("cgroup")).ok()
}

/// Reads `NAME=value` pairs of `pid`'s environment for the given names (needs the same UID or
/// `CAP_SYS_PTRACE`; `None` when not readable).
pub fn read_env(proc_root: &Path, pid: u32, names: &[&str]) -> Option<BTreeMap<String, String>> {
    let raw = std::fs::read(proc_root.join(pid.to_string()).join("environ")).ok()?;
    let mut out = BTreeMap::new();
    for entry in raw.split(|b| *b == 0) {
        let text = String::from_utf8_lossy(entry);
        if let Some((k, v)) = text.split_once('=')
            && names.contains(&k)
        {
            out.insert(k.to_string(), v.to_string());
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests;
