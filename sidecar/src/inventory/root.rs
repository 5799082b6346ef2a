//! Reading a container's root filesystem through `/proc/<pid>/root`. Absolute symlinks inside
//! it name paths of the container, not of the sidecar, so they are resolved by hand against the
//! root; reads are bounded.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// Largest file read whole (package databases, metadata files).
pub const MAX_FILE: u64 = 64 << 20;

/// A root filesystem.
#[derive(Debug, Clone)]
pub struct Root {
    base: PathBuf,
}

impl Root {
    /// The root at `base` (`/proc/<pid>/root`, or any directory in tests).
    pub fn new(base: impl Into<PathBuf>) -> Self {
        Self { base: base.into() }
    }

    /// Where the root is.
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// `path` (as the container sees it) as a path the sidecar can open, symlinks resolved
    /// inside the root (at most 32 links).
    pub fn resolve(&self, path: &str) -> PathBuf {
        let mut parts: Vec<String> = Vec::new();
        let mut todo: Vec<String> = split(path).into_iter().rev().collect();
        let mut links = 0;
        while let Some(part) = todo.pop() {
            if part == ".." {
                parts.pop();
                continue;
            }
            parts.push(part);
            let here = self.join(&parts);
            if let Ok(meta) = std::fs::symlink_metadata(&here)
                && meta.file_type().is_symlink()
                && links < 32
                && let Ok(target) = std::fs::read_link(&here)
            {
                links += 1;
                parts.pop();
                let t = target.to_string_lossy().to_string();
                if t.starts_with('/') {
                    parts.clear();
                }
                for p in split(&t).into_iter().rev() {
                    todo.push(p);
                }
            }
        }
        self.join(&parts)
    }

    fn join(&self, parts: &[String]) -> PathBuf {
        let mut p = self.base.clone();
        for x in parts {
            p.push(x);
        }
        p
    }

    /// The entries of the directory `dir`; `None` when it does not exist, or, with a note in
    /// `notes`, when it cannot be read.
    pub fn read_dir(&self, dir: &str, notes: &mut Vec<String>) -> Option<std::fs::ReadDir> {
        match std::fs::read_dir(self.resolve(dir)) {
            Ok(e) => Some(e),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                notes.push(format!("{dir}: {}", why(&e)));
                None
            }
        }
    }

    /// The file at `path` as text (lossy), at most [`MAX_FILE`] bytes.
    pub fn read(&self, path: &str) -> std::io::Result<String> {
        read_bounded(&self.resolve(path))
    }
}

fn split(path: &str) -> Vec<String> {
    Path::new(path)
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().to_string()),
            Component::ParentDir => Some("..".to_string()),
            _ => None,
        })
        .collect()
}

/// A file as text (lossy), at most [`MAX_FILE`] bytes.
pub fn read_bounded(path: &Path) -> std::io::Result<String> {
    let mut buf = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_FILE)
        .read_to_end(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Why a read failed, for a note.
pub fn why(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => "permission denied",
        std::io::ErrorKind::NotFound => "not found (the process may have exited)",
        _ => "unreadable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_links_stay_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let b = dir.path();
        std::fs::create_dir_all(b.join("usr/lib")).unwrap();
        std::fs::create_dir_all(b.join("etc")).unwrap();
        std::fs::write(b.join("usr/lib/os-release"), "ID=alpine\n").unwrap();
        std::os::unix::fs::symlink("/usr/lib/os-release", b.join("etc/os-release")).unwrap();
        std::os::unix::fs::symlink("../usr/lib", b.join("etc/lib")).unwrap();
        let r = Root::new(b);
        assert_eq!(r.read("/etc/os-release").unwrap(), "ID=alpine\n");
        assert_eq!(r.read("etc/lib/os-release").unwrap(), "ID=alpine\n");
        assert_eq!(r.resolve("/a/../../../etc"), b.join("etc"));
    }
}
