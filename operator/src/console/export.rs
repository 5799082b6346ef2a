//! `console --export DIR`: the same pages as static files (stylesheet inlined, no script, no
//! request anywhere), to attach to an incident or a review.

use std::path::{Path, PathBuf};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::facts::Snapshot;
use super::pages::{self, Mode};
use super::view::Links;
use crate::error::{Error, Result};

/// Whether a namespace or name is safe as part of a file name: what Kubernetes allows for
/// them (lowercase letters, digits, `-`, `.`), never `..` or a leading dot. A dump is user
/// input; nothing in it may write outside DIR.
pub fn safe_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && !s.contains("..")
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
}

fn write(path: PathBuf, body: &str) -> Result<PathBuf> {
    std::fs::write(&path, body).map_err(|source| Error::Io {
        what: format!("writing {}", path.display()),
        source,
    })?;
    Ok(path)
}

/// Writes `index.html` and one page per system into `dir` (created if missing); returns the
/// files written. Systems whose names cannot be file names are listed on the overview but get
/// no page, and are returned as skipped.
pub fn export(snapshot: &Snapshot, dir: &Path, now: &Time) -> Result<(Vec<PathBuf>, Vec<String>)> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        what: format!("creating {}", dir.display()),
        source,
    })?;
    let mut written = vec![write(
        dir.join(Links::Exported.overview()),
        &pages::overview_page(snapshot, Mode::Exported, now)?,
    )?];
    let mut skipped = Vec::new();
    for ad in &snapshot.facts.systems {
        let ns = ad.metadata.namespace.as_deref().unwrap_or_default();
        let name = ad.metadata.name.as_deref().unwrap_or_default();
        if !safe_name(ns) || ns.contains('.') || !safe_name(name) {
            skipped.push(format!("{ns}/{name}"));
            continue;
        }
        if let Some(page) = pages::system_page(snapshot, ns, name, Mode::Exported, now)? {
            written.push(write(dir.join(Links::Exported.system(ns, name)), &page)?);
        }
    }
    Ok((written, skipped))
}

#[cfg(test)]
mod tests {
    use super::safe_name;

    #[test]
    fn file_names_come_only_from_kubernetes_names() {
        for (name, ok) in [
            ("invoice-rpa", true),
            ("models.v2", true),
            ("", false),
            ("..", false),
            ("../etc", false),
            ("a/b", false),
            (".hidden", false),
            ("UPPER", false),
            ("a..b", false),
        ] {
            assert_eq!(safe_name(name), ok, "{name}");
        }
    }
}
