//! Helpers shared by the sidecar's integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// Finds a tool on `PATH`; under `make test` (`AGENTLENS_REQUIRE_TOOLS=1`) a missing tool
/// fails the test instead of skipping it.
pub fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("AGENTLENS_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "{name} is not installed (make tools installs it)"
        );
        eprintln!("skipped: {name} is not installed");
    }
    found
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// Runs `promtool check metrics` on an exposition; asserts it is clean (no lint either).
/// Skips when promtool is missing outside `make test`.
pub fn promtool_check_metrics(metrics: &str) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let Some(promtool) = tool("promtool") else {
        return;
    };
    let mut p = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    p.stdin
        .take()
        .expect("stdin")
        .write_all(metrics.as_bytes())
        .expect("write to promtool");
    let out = p.wait_with_output().expect("promtool ends");
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
