//! OS package databases: dpkg (`/var/lib/dpkg/status`, and `status.d/` as distroless images
//! write it), apk (`/lib/apk/db/installed`) and RPM (detected; its SQLite or Berkeley DB
//! database is not read, which the notes say).

use super::purl;
use super::root::{Root, why};
use super::{Component, Kind, OsInfo};

/// Installed packages of a dpkg `status` file: stanzas whose `Status` ends in `installed`.
pub fn parse_dpkg(text: &str, os: Option<&OsInfo>, out: &mut Vec<Component>) {
    for stanza in text.split("\n\n") {
        let (mut name, mut version, mut arch, mut installed) = (None, None, None, false);
        for line in stanza.lines() {
            if let Some(v) = line.strip_prefix("Package: ") {
                name = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("Version: ") {
                version = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("Architecture: ") {
                arch = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("Status: ") {
                installed = v.trim().ends_with(" installed");
            }
        }
        // status.d files of distroless images carry no Status line: present means installed.
        if !stanza.contains("\nStatus: ") && !stanza.starts_with("Status: ") {
            installed = true;
        }
        if let (Some(n), Some(v), true) = (name, version, installed) {
            out.push(Component {
                kind: Kind::Deb,
                name: n.to_string(),
                version: v.to_string(),
                purl: Some(purl::deb(os, n, v, arch)),
                location: None,
            });
        }
    }
}

/// Packages of an apk `installed` database (`P:` name, `V:` version, `A:` architecture).
pub fn parse_apk(text: &str, os: Option<&OsInfo>, out: &mut Vec<Component>) {
    for stanza in text.split("\n\n") {
        let (mut name, mut version, mut arch) = (None, None, None);
        for line in stanza.lines() {
            match line.split_once(':') {
                Some(("P", v)) => name = Some(v.trim()),
                Some(("V", v)) => version = Some(v.trim()),
                Some(("A", v)) => arch = Some(v.trim()),
                _ => {}
            }
        }
        if let (Some(n), Some(v)) = (name, version) {
            out.push(Component {
                kind: Kind::Apk,
                name: n.to_string(),
                version: v.to_string(),
                purl: Some(purl::apk(os, n, v, arch)),
                location: None,
            });
        }
    }
}

/// The OS packages of `root`, with notes for what could not be read.
pub fn read(root: &Root, os: Option<&OsInfo>, out: &mut Vec<Component>, notes: &mut Vec<String>) {
    match root.read("/var/lib/dpkg/status") {
        Ok(t) => parse_dpkg(&t, os, out),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            notes.push(format!("/var/lib/dpkg/status: {}", why(&e)));
        }
        Err(_) => {}
    }
    if let Some(entries) = root.read_dir("/var/lib/dpkg/status.d", notes) {
        for e in entries.flatten().take(20_000) {
            let name = e.file_name().to_string_lossy().to_string();
            // Distroless keeps `<pkg>` and `<pkg>.md5sums`.
            if name.ends_with(".md5sums") {
                continue;
            }
            if let Ok(t) = super::root::read_bounded(&e.path()) {
                parse_dpkg(&t, os, out);
            }
        }
    }
    match root.read("/lib/apk/db/installed") {
        Ok(t) => parse_apk(&t, os, out),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            notes.push(format!("/lib/apk/db/installed: {}", why(&e)));
        }
        Err(_) => {}
    }
    for db in [
        "/var/lib/rpm/rpmdb.sqlite",
        "/usr/lib/sysimage/rpm/rpmdb.sqlite",
        "/var/lib/rpm/Packages",
    ] {
        if root.resolve(db).exists() {
            notes.push(format!(
                "{db}: RPM database present; RPM packages are not listed (its format is not read)"
            ));
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_lists_installed_packages_only() {
        let text = "Package: libc6\nStatus: install ok installed\nPriority: optional\nArchitecture: amd64\nVersion: 2.36-9+deb12u10\nDescription: GNU C Library\n multi-line\n\nPackage: gone\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1.0\n\nPackage: python3.11\nStatus: install ok installed\nArchitecture: amd64\nVersion: 3.11.2-6+deb12u6\n";
        let os = OsInfo {
            id: "debian".into(),
            version_id: Some("12".into()),
            pretty_name: None,
        };
        let mut out = Vec::new();
        parse_dpkg(text, Some(&os), &mut out);
        let got: Vec<_> = out
            .iter()
            .map(|c| {
                (
                    c.name.as_str(),
                    c.version.as_str(),
                    c.purl.as_deref().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "libc6",
                    "2.36-9+deb12u10",
                    "pkg:deb/debian/libc6@2.36-9%2Bdeb12u10?arch=amd64&distro=debian-12"
                ),
                (
                    "python3.11",
                    "3.11.2-6+deb12u6",
                    "pkg:deb/debian/python3.11@3.11.2-6%2Bdeb12u6?arch=amd64&distro=debian-12"
                )
            ]
        );
    }

    #[test]
    fn apk_database() {
        let text = "C:Q1abc=\nP:musl\nV:1.2.5-r0\nA:x86_64\nS:411133\nT:the musl c library\n\nC:Q1def=\nP:busybox\nV:1.36.1-r29\nA:x86_64\n\n";
        let mut out = Vec::new();
        parse_apk(text, None, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(
            out[0].purl.as_deref(),
            Some("pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64")
        );
    }
}
