//! `pods/log` from a container runtime's log file, as the kubelet serves it.
//!
//! The kubelet answers `pods/log` by reading the CRI log file of the container (one line per
//! write: `<RFC 3339 time> <stdout|stderr> <P|F> <text>`, `P` for a partial line the next
//! entry continues). A pod registered with the annotation [`LOG_FILES_ANNOTATION`] (a JSON
//! object from container name to such a file, e.g. podman's `k8s-file` log of a real
//! container) gets the same: the entries since `sinceTime`, each prefixed with its time when
//! `timestamps=true`. A `follow=true` request is answered with what the file holds now and then
//! closed: clients reconnect after a closed stream with `sinceTime` (as after any disconnect),
//! so they see new lines on their next request.

use jiff::Timestamp;

/// The annotation naming each container's CRI log file: `{"<container>": "<path>"}`.
pub const LOG_FILES_ANNOTATION: &str = "emulator.agentlens.dev/log-files";

/// One complete log line of a CRI log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// When the runtime wrote the line's first part.
    pub time: Timestamp,
    /// The line, without its newline.
    pub text: String,
}

/// The complete lines of a CRI log file, in the order they were completed. Partial (`P`)
/// entries are joined with the entry of the same stream that ends them (the runtime splits
/// long lines, and another stream's lines may come in between: the kubelet writes the parts
/// as they are, here a line stays whole); a partial line without its end is left out (it is
/// not written yet); malformed lines are skipped.
pub fn parse(file: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut pending: std::collections::BTreeMap<&str, Entry> = std::collections::BTreeMap::new();
    for line in file.lines() {
        let mut parts = line.splitn(4, ' ');
        let (Some(time), Some(stream), Some(tag)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Ok(time) = time.parse::<Timestamp>() else {
            continue;
        };
        let text = parts.next().unwrap_or_default();
        let entry = pending.entry(stream).or_insert_with(|| Entry {
            time,
            text: String::new(),
        });
        entry.text.push_str(text);
        if tag != "P" {
            out.extend(pending.remove(stream));
        }
    }
    out
}

/// The body of a `pods/log` answer: the entries at or after `since`, one per line, prefixed
/// with their time (RFC 3339 with nanoseconds, UTC) when `timestamps`.
pub fn render(entries: &[Entry], since: Option<Timestamp>, timestamps: bool) -> String {
    let mut out = String::new();
    for e in entries.iter().filter(|e| since.is_none_or(|s| e.time >= s)) {
        if timestamps {
            out.push_str(&format!("{:.9} ", e.time));
        }
        out.push_str(&e.text);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A demo agent container's log as podman 4.3 wrote it (`k8s-file` driver): a line, a
    /// 9,000-byte stdout line the runtime split in two with the H200 OOM report's three
    /// stderr lines written in between, and a last line.
    const PODMAN: &str = include_str!("../../tests/fixtures/podman-k8s-file.log");
    const OOM: &str =
        include_str!("../../../sidecar/tests/data/logscan/torch-cuda-oom-h200.stderr");

    #[test]
    fn podman_k8s_file_lines_and_partials() {
        let texts: Vec<String> = parse(PODMAN).into_iter().map(|e| e.text).collect();
        let mut want = vec!["worker: serving on 127.0.0.1:8081".to_string()];
        want.extend(OOM.lines().map(str::to_string));
        want.push("x".repeat(9000));
        want.push("worker: done".into());
        assert_eq!(texts, want);
        let joined = parse(
            "2026-12-05T20:00:00.100000000+00:00 stderr P first half, \n\
             2026-12-05T20:00:00.200000000+00:00 stderr F second half\n\
             2026-12-05T20:00:01.000000000+00:00 stdout F next\n\
             not a log line\n\
             2026-12-05T20:00:02.000000000+00:00 stdout P not ended yet\n",
        );
        assert_eq!(
            joined,
            [
                Entry {
                    time: "2026-12-05T20:00:00.1Z".parse().unwrap(),
                    text: "first half, second half".into()
                },
                Entry {
                    time: "2026-12-05T20:00:01Z".parse().unwrap(),
                    text: "next".into()
                },
            ]
        );
    }

    #[test]
    fn since_time_and_timestamps_as_the_kubelet_writes_them() {
        let entries = parse(
            "2026-12-05T20:00:00.100000000+00:00 stdout F a\n\
             2026-12-05T21:00:01.000000000+01:00 stdout F b\n\
             2026-12-05T20:00:02.000000000Z stderr F c\n",
        );
        let cases: [(Option<&str>, bool, &str); 4] = [
            (None, false, "a\nb\nc\n"),
            (Some("2026-12-05T20:00:01Z"), false, "b\nc\n"),
            (Some("2026-12-05T20:00:03Z"), false, ""),
            (
                Some("2026-12-05T20:00:01Z"),
                true,
                "2026-12-05T20:00:01.000000000Z b\n2026-12-05T20:00:02.000000000Z c\n",
            ),
        ];
        for (since, ts, want) in cases {
            let since = since.map(|s| s.parse().unwrap());
            assert_eq!(render(&entries, since, ts), want, "{since:?} {ts}");
        }
    }
}
