//! `agentlens-sidecar copy-tree SRC DST`: copies the contents of a directory into another (as
//! `cp -r SRC/. DST`), so the auto-instrumentation images, which carry no shell and no `cp`, can
//! fill the pod's shared volume. Files keep their permission bits, symbolic links stay links;
//! other special files are skipped. Runs before any runtime exists, so it blocks.

use std::fs;
use std::path::Path;

use crate::error::Error;

/// What was copied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Copied {
    /// Regular files.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Symbolic links.
    pub links: u64,
    /// Special files skipped (sockets, FIFOs, devices).
    pub skipped: u64,
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { what, source }
}

/// Copies everything under `src` into `dst` (created when missing), replacing files of the same
/// name.
pub fn copy_tree(src: &Path, dst: &Path) -> Result<Copied, Error> {
    let mut copied = Copied::default();
    copy_dir(src, dst, &mut copied)?;
    Ok(copied)
}

fn copy_dir(src: &Path, dst: &Path, copied: &mut Copied) -> Result<(), Error> {
    fs::create_dir_all(dst).map_err(io(format!("creating {}", dst.display())))?;
    let entries = fs::read_dir(src).map_err(io(format!("reading {}", src.display())))?;
    for entry in entries {
        let entry = entry.map_err(io(format!("reading {}", src.display())))?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let kind = entry
            .file_type()
            .map_err(io(format!("reading {}", from.display())))?;
        if kind.is_dir() {
            copy_dir(&from, &to, copied)?;
        } else if kind.is_file() {
            // fs::copy keeps the permission bits (an executable stays executable).
            copied.bytes += fs::copy(&from, &to).map_err(io(format!(
                "copying {} to {}",
                from.display(),
                to.display()
            )))?;
            copied.files += 1;
        } else if kind.is_symlink() {
            let target =
                fs::read_link(&from).map_err(io(format!("reading link {}", from.display())))?;
            if fs::symlink_metadata(&to).is_ok() {
                fs::remove_file(&to).map_err(io(format!("replacing {}", to.display())))?;
            }
            std::os::unix::fs::symlink(&target, &to)
                .map_err(io(format!("linking {}", to.display())))?;
            copied.links += 1;
        } else {
            copied.skipped += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn copies_files_modes_links_and_nested_directories() {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        let pkg = src
            .path()
            .join("opentelemetry/instrumentation/auto_instrumentation");
        fs::create_dir_all(&pkg).unwrap();
        fs::write(pkg.join("sitecustomize.py"), "import os\n").unwrap();
        fs::create_dir_all(src.path().join("bin")).unwrap();
        let script = src.path().join("bin/opentelemetry-instrument");
        fs::write(&script, "#!/usr/bin/python3\n").unwrap();
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("opentelemetry-instrument", src.path().join("bin/otel"))
            .unwrap();
        // An existing file in the destination is replaced, a second copy changes nothing.
        fs::create_dir_all(dst.path().join("bin")).unwrap();
        fs::write(dst.path().join("bin/opentelemetry-instrument"), "old").unwrap();

        let first = copy_tree(src.path(), dst.path()).unwrap();
        let again = copy_tree(src.path(), dst.path()).unwrap();
        assert_eq!(first, again);
        assert_eq!((first.files, first.links, first.skipped), (2, 1, 0));
        assert_eq!(
            first.bytes,
            ("import os\n".len() + "#!/usr/bin/python3\n".len()) as u64
        );
        let copied = dst.path().join("bin/opentelemetry-instrument");
        assert_eq!(fs::read_to_string(&copied).unwrap(), "#!/usr/bin/python3\n");
        assert_eq!(
            fs::metadata(&copied).unwrap().permissions().mode() & 0o777,
            0o755
        );
        assert_eq!(
            fs::read_link(dst.path().join("bin/otel")).unwrap(),
            Path::new("opentelemetry-instrument")
        );
        assert!(
            dst.path()
                .join("opentelemetry/instrumentation/auto_instrumentation/sitecustomize.py")
                .is_file()
        );
    }

    #[test]
    fn a_missing_source_is_an_error_naming_it() {
        let dst = tempfile::tempdir().unwrap();
        let err = copy_tree(Path::new("/nonexistent/autoinstrumentation"), dst.path()).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/autoinstrumentation"),
            "{err}"
        );
    }
}
