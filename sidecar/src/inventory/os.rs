//! `/etc/os-release` (falling back to `/usr/lib/os-release`).

use super::OsInfo;
use super::root::Root;

/// Parses os-release text (`KEY=value`, values optionally quoted).
pub fn parse(text: &str) -> Option<OsInfo> {
    let mut info = OsInfo::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
        match k.trim() {
            "ID" => info.id = v,
            "VERSION_ID" => info.version_id = Some(v),
            "PRETTY_NAME" => info.pretty_name = Some(v),
            _ => {}
        }
    }
    (!info.id.is_empty()).then_some(info)
}

/// The OS of `root`.
pub fn read(root: &Root) -> Option<OsInfo> {
    ["/etc/os-release", "/usr/lib/os-release"]
        .iter()
        .find_map(|p| root.read(p).ok().and_then(|t| parse(&t)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_os_release_files() {
        let debian = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n";
        let d = parse(debian).unwrap();
        assert_eq!(
            (
                d.id.as_str(),
                d.version_id.as_deref(),
                d.pretty_name.as_deref()
            ),
            ("debian", Some("12"), Some("Debian GNU/Linux 12 (bookworm)"))
        );
        let alpine = "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME=\"Alpine Linux v3.20\"\n";
        assert_eq!(parse(alpine).unwrap().version_id.as_deref(), Some("3.20.3"));
        assert!(parse("NAME=nothing\n").is_none());
    }
}
