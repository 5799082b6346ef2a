//! Python distributions importable by each running interpreter: its `sys.prefix` found the way
//! CPython finds it (a `pyvenv.cfg` beside or above the invoked executable makes a virtual
//! environment; otherwise the installation prefix of the binary), its site directories (Debian's
//! `dist-packages` too, the user site, `PYTHONPATH`), and in them every `*.dist-info` and
//! `*.egg-info` (`Name` and `Version` of `METADATA` / `PKG-INFO`). The first distribution of a
//! name along the path wins, as `importlib.metadata` does.

use std::collections::BTreeSet;

use super::collect::ProcInfo;
use super::root::{Root, read_bounded};
use super::{Component, Kind, purl};

/// Directory entries looked at per site directory at most (a larger directory is listed up to
/// here, with a note).
pub const MAX_ENTRIES: usize = 50_000;
/// Distributions per site directory at most.
pub const MAX_DISTS: usize = 20_000;

/// One running interpreter's view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpreter {
    /// The executable as the process runs it (container path).
    pub exe: String,
    /// `sys.prefix`.
    pub prefix: String,
    /// `X.Y`.
    pub version: String,
    /// Site directories in `sys.path` order (container paths).
    pub site_dirs: Vec<String>,
}

fn parent(p: &str) -> String {
    match p.trim_end_matches('/').rsplit_once('/') {
        Some(("", _)) | None => "/".to_string(),
        Some((d, _)) => d.to_string(),
    }
}

fn join(a: &str, b: &str) -> String {
    if b.starts_with('/') {
        b.to_string()
    } else {
        format!("{}/{}", a.trim_end_matches('/'), b)
    }
}

/// Whether a process is a Python interpreter.
pub fn is_python(p: &ProcInfo) -> bool {
    let base = p.exe.rsplit('/').next().unwrap_or("");
    base.starts_with("python") || base.starts_with("pypy")
}

/// `X.Y` from `python3.11`.
fn version_from_name(name: &str) -> Option<String> {
    let v = name.trim_start_matches("python");
    let mut parts = v.split('.');
    let major = parts.next()?.parse::<u32>().ok()?;
    let minor = parts
        .next()?
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse::<u32>()
        .ok()?;
    Some(format!("{major}.{minor}"))
}

/// The path the process was started as, resolved the way a shell would (argv[0], `PATH`).
fn invoked(p: &ProcInfo, root: &Root) -> String {
    let argv0 = p.cmdline.first().map(String::as_str).unwrap_or("");
    if argv0.contains('/') {
        return join(&p.cwd, argv0);
    }
    if !argv0.is_empty()
        && let Some(path) = p.env.get("PATH")
    {
        for dir in path.split(':').filter(|d| !d.is_empty()) {
            let cand = join(dir, argv0);
            if root.resolve(&cand).exists() {
                return cand;
            }
        }
    }
    p.exe.clone()
}

/// The interpreter a process runs.
pub fn interpreter(p: &ProcInfo, root: &Root) -> Interpreter {
    let inv = invoked(p, root);
    let bin = parent(&inv);
    let mut version = version_from_name(p.exe.rsplit('/').next().unwrap_or(""))
        .or_else(|| version_from_name(inv.rsplit('/').next().unwrap_or("")));
    let base_prefix = parent(&parent(&p.exe));
    let venv = [parent(&bin), bin.clone()]
        .into_iter()
        .find(|d| root.resolve(&join(d, "pyvenv.cfg")).is_file());
    let mut site_dirs = Vec::new();
    let mut include_system = true;
    let prefix = match &venv {
        Some(v) => {
            let cfg = root.read(&join(v, "pyvenv.cfg")).unwrap_or_default();
            include_system = false;
            for line in cfg.lines() {
                let Some((k, val)) = line.split_once('=') else {
                    continue;
                };
                match k.trim() {
                    "include-system-site-packages" => {
                        include_system = val.trim().eq_ignore_ascii_case("true")
                    }
                    "version" | "version_info" if version.is_none() => {
                        version = version_from_name(val.trim());
                    }
                    _ => {}
                }
            }
            v.clone()
        }
        None => base_prefix.clone(),
    };
    let version = version.unwrap_or_else(|| {
        // No version in the name: the lib/pythonX.Y directory of the installation says it.
        std::fs::read_dir(root.resolve(&join(&base_prefix, "lib")))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| version_from_name(&e.file_name().to_string_lossy()))
            .next()
            .unwrap_or_default()
    });
    let v = &version;
    if let Some(pp) = p.env.get("PYTHONPATH") {
        site_dirs.extend(
            pp.split(':')
                .filter(|d| !d.is_empty())
                .map(|d| join(&p.cwd, d)),
        );
    }
    if let Some(venv) = &venv {
        site_dirs.push(format!("{venv}/lib/python{v}/site-packages"));
    }
    if venv.is_none()
        && let Some(home) = p.env.get("HOME")
    {
        site_dirs.push(format!("{home}/.local/lib/python{v}/site-packages"));
    }
    if include_system {
        site_dirs.push(format!("{base_prefix}/lib/python{v}/site-packages"));
        if base_prefix == "/usr" {
            // Debian and Ubuntu: pip installs to /usr/local, packages to dist-packages.
            site_dirs.push(format!("/usr/local/lib/python{v}/dist-packages"));
            site_dirs.push("/usr/lib/python3/dist-packages".to_string());
            site_dirs.push(format!("/usr/lib/python{v}/dist-packages"));
        }
    }
    let mut seen = BTreeSet::new();
    site_dirs.retain(|d| seen.insert(d.clone()));
    Interpreter {
        exe: inv,
        prefix,
        version,
        site_dirs,
    }
}

/// `Name` and `Version` from the header of a METADATA or PKG-INFO file.
pub fn parse_metadata(text: &str) -> (Option<String>, Option<String>) {
    let (mut name, mut version) = (None, None);
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Name:") {
            name.get_or_insert_with(|| v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("Version:") {
            version.get_or_insert_with(|| v.trim().to_string());
        }
    }
    (name, version)
}

/// `name-version` of a `name-version.dist-info` directory.
fn from_dir_name(stem: &str) -> (Option<String>, Option<String>) {
    match stem.split_once('-') {
        Some((n, v)) => (
            Some(n.to_string()),
            Some(v.split('-').next().unwrap_or(v).to_string()),
        ),
        None => (Some(stem.to_string()), None),
    }
}

/// The distributions of one site directory, appended to `out` unless `names` already has them.
pub fn scan_site_dir(
    root: &Root,
    dir: &str,
    names: &mut BTreeSet<String>,
    out: &mut Vec<Component>,
    notes: &mut Vec<String>,
) {
    let Some(entries) = root.read_dir(dir, notes) else {
        return;
    };
    let mut looked = 0usize;
    let mut dists = 0usize;
    for entry in entries {
        looked += 1;
        if looked > MAX_ENTRIES {
            notes.push(format!(
                "{dir}: more than {MAX_ENTRIES} entries; distributions after the first {MAX_ENTRIES} entries are not listed"
            ));
            break;
        }
        let Ok(entry) = entry else { continue };
        let file = entry.file_name().to_string_lossy().to_string();
        let (stem, meta) = if let Some(s) = file.strip_suffix(".dist-info") {
            (s, "METADATA")
        } else if let Some(s) = file.strip_suffix(".egg-info") {
            (s, "PKG-INFO")
        } else {
            continue;
        };
        dists += 1;
        if dists > MAX_DISTS {
            notes.push(format!(
                "{dir}: more than {MAX_DISTS} distributions; the rest are not listed"
            ));
            break;
        }
        let p = entry.path();
        // An .egg-info may be the PKG-INFO file itself.
        let text = if p.is_dir() {
            read_bounded(&p.join(meta))
        } else {
            read_bounded(&p)
        };
        let (name, version) = match text {
            Ok(t) => {
                let (n, v) = parse_metadata(&t);
                let (dn, dv) = from_dir_name(stem);
                (n.or(dn), v.or(dv))
            }
            Err(_) => from_dir_name(stem),
        };
        let (Some(name), Some(version)) = (name, version) else {
            continue;
        };
        if !names.insert(purl::normalise_pypi(&name)) {
            continue;
        }
        out.push(Component {
            kind: Kind::Python,
            purl: Some(purl::pypi(&name, &version)),
            name,
            version,
            location: Some(dir.to_string()),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_headers_and_dir_names() {
        let m = "Metadata-Version: 2.1\nName: torch\nVersion: 2.5.1+cu124\nSummary: Tensors\n\nName: not-this\n";
        assert_eq!(
            parse_metadata(m),
            (Some("torch".into()), Some("2.5.1+cu124".into()))
        );
        assert_eq!(
            from_dir_name("PyYAML-6.0"),
            (Some("PyYAML".into()), Some("6.0".into()))
        );
        assert_eq!(version_from_name("python3.11"), Some("3.11".into()));
        assert_eq!(version_from_name("python3.12d"), Some("3.12".into()));
        assert_eq!(version_from_name("python3"), None);
    }
}
