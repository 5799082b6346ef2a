//! The commands a user copies from README.md and the chart's NOTES, run as written where they
//! can run here. The commands are read from README.md's `sh` code blocks, never retyped: the
//! two commands (the sidecar observing a long-running Python job, curled while it runs; the
//! one change is the port, moved from 9477 to a free one so parallel tests cannot collide), and
//! the Helm install block against kube-emulator. `cargo build --release` and `make test` are not
//! run by a test (`make test` builds the release binaries before the tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use agentlens_tests::emulator_process::{self, Emulator};
use agentlens_tests::net::{free_port, wait_for};
use agentlens_tests::tools::{helm, kubectl, missing};
use agentlens_tests::workspace_root;

const README_PORT: &str = "localhost:9477";

/// The ```sh blocks of README.md's section `heading` (a `## ` line), in order.
fn sh_blocks(heading: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with(heading) && s[heading.len()..].starts_with('\n'))
        .unwrap_or_else(|| panic!("README.md has no section {heading:?}"));
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in section.lines() {
        match (&mut current, line) {
            (None, "```sh") => current = Some(String::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(b), l) => {
                b.push_str(l);
                b.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

fn bash(script: &str) -> Command {
    let mut c = Command::new("bash");
    c.args(["-euo", "pipefail", "-c", script])
        .current_dir(workspace_root());
    c
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_two_commands_observe_a_job_that_stays_alive_and_serve_its_metrics() {
    let blocks = sh_blocks("The two commands");
    let (build, run) = blocks[0].split_once('\n').unwrap();
    assert_eq!(build, "cargo build --release");
    assert!(run.starts_with("./target/release/agentlens-sidecar run -- "));
    assert!(
        blocks.iter().any(|b| b.trim() == "make test"),
        "the second command"
    );
    if !workspace_root()
        .join("target/release/agentlens-sidecar")
        .is_file()
    {
        missing("target/release/agentlens-sidecar (cargo build --release)");
        return;
    }
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let job_out = dir.path().join("job.out");
    let out_file = std::fs::File::create(&job_out).unwrap();
    let mut job = Killed(
        bash(run)
            .env("AGENTLENS_LISTEN", format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(out_file.try_clone().unwrap())
            .stderr(out_file)
            .spawn()
            .unwrap(),
    );

    // "In another terminal, while it runs": the curl commands, on the test's port.
    let curls = blocks[1].replace(README_PORT, &format!("127.0.0.1:{port}"));
    let mut lines = curls.lines();
    let metrics_cmd = lines.next().unwrap();
    assert!(metrics_cmd.contains("/metrics"), "{metrics_cmd}");
    let metrics = wait_for(
        || "the job's traceback counted and its memory measured".into(),
        Duration::from_secs(60),
        || {
            let out = bash(metrics_cmd).output().ok()?;
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let value = |series: &str| -> f64 {
                text.lines()
                    .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
                    .unwrap_or(0.0)
            };
            (value("agentlens_tracebacks_total{container=\"main\",language=\"python\"}") >= 1.0
                && value("agentlens_memory_rss_bytes{container=\"main\"}") > 0.0)
                .then_some(text)
        },
    );
    eprintln!("{metrics}");
    let snapshot_cmd = lines.next().unwrap();
    let out = bash(snapshot_cmd).output().unwrap();
    let snapshot: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(snapshot.is_object(), "{snapshot}");
    // Still running: the job is meant to outlive the curls.
    assert!(job.0.try_wait().unwrap().is_none(), "the job ended early");
    // Its output passes through unchanged.
    let passed = std::fs::read_to_string(&job_out).unwrap_or_default();
    assert!(passed.contains("ZeroDivisionError"), "{passed}");
}

#[test]
fn the_helm_install_block_runs_against_the_emulator() {
    let (Some(helm), Some(kubectl)) = (helm().or_skip(), kubectl().or_skip()) else {
        return;
    };
    let emu = match emulator_process::binary() {
        Ok(_) => Emulator::start().unwrap(),
        Err(e) => {
            missing(&e.to_string());
            return;
        }
    };
    let block = sh_blocks("Install with Helm").remove(0);
    let path = std::env::join_paths(
        [helm.parent().unwrap(), kubectl.parent().unwrap()]
            .into_iter()
            .map(Path::to_path_buf)
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let out = bash(&block)
        .env("PATH", path)
        .env("KUBECONFIG", emu.admin_kubeconfig())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{block}\n{text}");
    // The last command lists the example's AgentDeployment.
    let last = block.lines().last().unwrap();
    assert!(last.starts_with("kubectl get agd -n "), "{last}");
    let ns = last.trim_start_matches("kubectl get agd -n ");
    assert!(
        text.lines().any(|l| l.starts_with(&format!("{ns} "))),
        "{text}"
    );
}

#[test]
fn the_notes_port_forward_runs_in_the_background_before_curl() {
    // `kubectl port-forward` runs until stopped: `port-forward … && curl` never reaches curl.
    let Some(helm) = helm().or_skip() else { return };
    let out = Command::new(helm)
        .args([
            "install",
            "agentlens",
            "charts/agentlens",
            "-n",
            "agentlens-system",
            "--dry-run=client",
        ])
        .current_dir(workspace_root())
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let notes = text.split("NOTES:").nth(1).unwrap();
    let forwards: Vec<&str> = notes
        .lines()
        .filter(|l| l.contains("port-forward"))
        .collect();
    assert!(!forwards.is_empty(), "{notes}");
    for line in forwards {
        let command = line.split(" #").next().unwrap().trim_end();
        assert!(command.ends_with('&') && !command.contains("&&"), "{line}");
    }
    // The upgrade path for the CRDs Helm never upgrades.
    assert!(
        notes.contains(
            "agentlens-operator crds | kubectl apply --server-side --force-conflicts -f -"
        ),
        "{notes}"
    );
}
