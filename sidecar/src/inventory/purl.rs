//! Package URLs (<https://github.com/package-url/purl-spec>) for the ecosystems the inventory
//! reads. Written here rather than with a crate: five fixed shapes, and the percent-encoding
//! rule they need is one function.

use super::OsInfo;

/// Percent-encodes what the purl spec does not allow literally in a name or version.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn distro(os: Option<&OsInfo>) -> Option<String> {
    let os = os?;
    Some(match &os.version_id {
        Some(v) => format!("{}-{v}", os.id),
        None => os.id.clone(),
    })
}

/// `pkg:deb/<vendor>/<name>@<version>?arch=…&distro=…`
pub fn deb(os: Option<&OsInfo>, name: &str, version: &str, arch: Option<&str>) -> String {
    let vendor = os.map_or("debian", |o| o.id.as_str());
    let mut q = Vec::new();
    if let Some(a) = arch {
        q.push(format!("arch={}", encode(a)));
    }
    if let Some(d) = distro(os) {
        q.push(format!("distro={}", encode(&d)));
    }
    with_query(
        format!(
            "pkg:deb/{}/{}@{}",
            encode(vendor),
            encode(name),
            encode(version)
        ),
        &q,
    )
}

/// `pkg:apk/alpine/<name>@<version>?arch=…`
pub fn apk(os: Option<&OsInfo>, name: &str, version: &str, arch: Option<&str>) -> String {
    let vendor = os.map_or("alpine", |o| o.id.as_str());
    let q: Vec<String> = arch
        .map(|a| format!("arch={}", encode(a)))
        .into_iter()
        .collect();
    with_query(
        format!(
            "pkg:apk/{}/{}@{}",
            encode(vendor),
            encode(name),
            encode(version)
        ),
        &q,
    )
}

/// `pkg:pypi/<name>@<version>`, the name normalised as PEP 503 says (lower case, runs of
/// `-_.` as one `-`).
pub fn pypi(name: &str, version: &str) -> String {
    format!(
        "pkg:pypi/{}@{}",
        encode(&normalise_pypi(name)),
        encode(version)
    )
}

/// PEP 503 normalisation.
pub fn normalise_pypi(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// `pkg:npm/<scope>/<name>@<version>` (the scope's `@` encoded).
pub fn npm(name: &str, version: &str) -> String {
    let path = match name.split_once('/') {
        Some((scope, n)) if scope.starts_with('@') => format!("{}/{}", encode(scope), encode(n)),
        _ => encode(name),
    };
    format!("pkg:npm/{path}@{}", encode(version))
}

fn with_query(base: String, q: &[String]) -> String {
    if q.is_empty() {
        base
    } else {
        format!("{base}?{}", q.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purls_as_the_spec_writes_them() {
        assert_eq!(
            pypi("Django_REST-framework", "3.15.2"),
            "pkg:pypi/django-rest-framework@3.15.2"
        );
        assert_eq!(pypi("zope.interface", "7.0"), "pkg:pypi/zope-interface@7.0");
        assert_eq!(
            npm("@angular/core", "18.2.1"),
            "pkg:npm/%40angular/core@18.2.1"
        );
        assert_eq!(npm("express", "4.21.0"), "pkg:npm/express@4.21.0");
        assert_eq!(
            deb(None, "libc6", "2.36-9+deb12u10", Some("amd64")),
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u10?arch=amd64"
        );
        assert_eq!(encode("1:2.3~rc1"), "1%3A2.3~rc1");
    }
}
