//! Helpers shared by the sidecar's integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

#[path = "../../../tests/src/net.rs"]
mod net;
pub use net::*;

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

/// Something `make tools` installs under `.tools`; missing fails under `make test`.
pub fn installed(relative: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("AGENTLENS_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools"));
    let p = dir.join(relative);
    if p.exists() {
        return Some(p);
    }
    assert!(
        std::env::var("AGENTLENS_REQUIRE_TOOLS").as_deref() != Ok("1"),
        ".tools/{relative} is missing (make tools)"
    );
    eprintln!("skipped: .tools/{relative} is missing (make tools)");
    None
}

/// The Python of `.tools/venv` when it can import `module`; under `make test` its absence
/// fails the test instead of skipping it.
pub fn venv_python(module: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("AGENTLENS_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools"));
    let py = dir.join("venv/bin/python");
    let ok = py.is_file()
        && std::process::Command::new(&py)
            .args(["-c", &format!("import {module}")])
            .status()
            .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("AGENTLENS_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "{module} is not installed in .tools/venv (make tools)"
        );
        eprintln!("skipped: no .tools/venv with {module} (make tools)");
        return None;
    }
    Some(py)
}

/// The body of a GET on loopback, whatever its status.
pub fn get(port: u16, path: &str) -> Option<String> {
    http_get(port, path).map(|(_, body)| body)
}

/// Kills and reaps a child process when dropped, so that a failing assertion leaves nothing
/// running; a test holds it as long as it needs the process.
pub struct Reaped(pub std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
