//! Node.js packages of running Node processes: the `node_modules` directories Node resolves
//! from (the script's directory and its parents, and the working directory), top-level and
//! scoped packages (`package.json` `name` and `version`); the Node version from the headers the
//! official images install.

use std::collections::BTreeSet;

use super::collect::ProcInfo;
use super::root::{Root, read_bounded};
use super::{Component, Kind, purl};

/// Packages read per `node_modules` at most.
pub const MAX_PACKAGES: usize = 20_000;

/// Whether a process is Node.js.
pub fn is_node(p: &ProcInfo) -> bool {
    matches!(p.exe.rsplit('/').next(), Some("node" | "nodejs"))
}

fn parent(p: &str) -> Option<String> {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return None;
    }
    Some(match t.rsplit_once('/') {
        Some(("", _)) | None => "/".to_string(),
        Some((d, _)) => d.to_string(),
    })
}

/// The `node_modules` directories a Node process resolves from, nearest first.
pub fn module_dirs(p: &ProcInfo) -> Vec<String> {
    let script = p
        .cmdline
        .iter()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map(|s| {
            if s.starts_with('/') {
                s.clone()
            } else {
                format!("{}/{}", p.cwd.trim_end_matches('/'), s)
            }
        });
    let mut dirs = Vec::new();
    for start in script
        .iter()
        .filter_map(|s| parent(s))
        .chain([p.cwd.clone()])
    {
        let mut d = Some(start);
        let mut depth = 0;
        while let Some(dir) = d {
            if depth > 8 {
                break;
            }
            let nm = if dir == "/" {
                "/node_modules".to_string()
            } else {
                format!("{dir}/node_modules")
            };
            if !dirs.contains(&nm) {
                dirs.push(nm);
            }
            d = parent(&dir).filter(|p| *p != dir);
            depth += 1;
        }
    }
    dirs
}

fn package(root_path: &std::path::Path) -> Option<(String, String)> {
    let text = read_bounded(&root_path.join("package.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some((
        v.get("name")?.as_str()?.to_string(),
        v.get("version")?.as_str()?.to_string(),
    ))
}

/// The packages of one `node_modules`.
pub fn scan(
    root: &Root,
    dir: &str,
    seen: &mut BTreeSet<(String, String, String)>,
    out: &mut Vec<Component>,
    notes: &mut Vec<String>,
) {
    let Some(entries) = root.read_dir(dir, notes) else {
        return;
    };
    let mut count = 0;
    let mut candidates = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with('.') {
            continue;
        }
        if name.starts_with('@') {
            for s in std::fs::read_dir(e.path()).into_iter().flatten().flatten() {
                candidates.push(s.path());
            }
        } else {
            candidates.push(e.path());
        }
    }
    candidates.sort();
    for c in candidates {
        count += 1;
        if count > MAX_PACKAGES {
            notes.push(format!(
                "{dir}: more than {MAX_PACKAGES} packages; the rest are not listed"
            ));
            break;
        }
        if let Some((name, version)) = package(&c)
            && seen.insert((name.clone(), version.clone(), dir.to_string()))
        {
            out.push(Component {
                kind: Kind::Npm,
                purl: Some(purl::npm(&name, &version)),
                name,
                version,
                location: Some(dir.to_string()),
            });
        }
    }
}

/// The Node.js version from `include/node/node_version.h` beside the binary.
pub fn version(root: &Root, exe: &str) -> Option<String> {
    let prefix = parent(&parent(exe)?)?;
    let h = root
        .read(&format!(
            "{}/include/node/node_version.h",
            prefix.trim_end_matches('/')
        ))
        .ok()?;
    let get = |k: &str| {
        h.lines()
            .find_map(|l| l.strip_prefix(&format!("#define {k} ")))
            .map(|v| v.trim().to_string())
    };
    Some(format!(
        "{}.{}.{}",
        get("NODE_MAJOR_VERSION")?,
        get("NODE_MINOR_VERSION")?,
        get("NODE_PATCH_VERSION")?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_dirs_from_script_and_cwd() {
        let p = ProcInfo {
            pid: 1,
            exe: "/usr/local/bin/node".into(),
            cmdline: vec![
                "node".into(),
                "--enable-source-maps".into(),
                "dist/server.js".into(),
            ],
            cwd: "/app".into(),
            ..ProcInfo::default()
        };
        assert_eq!(
            module_dirs(&p),
            [
                "/app/dist/node_modules",
                "/app/node_modules",
                "/node_modules"
            ]
        );
    }
}
