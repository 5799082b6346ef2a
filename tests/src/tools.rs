//! Finding the external tools `make test` installs into `.tools/`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where a tool is, or why the test that needs it must skip.
pub enum Tool {
    /// The executable.
    Found(PathBuf),
    /// Not installed; skipping is allowed (outside `make test`).
    Skip(String),
}

/// Finds `name` in `$AGENTLENS_TOOLS_DIR/venv/bin`, `<root>/.tools/venv/bin` or `PATH`.
///
/// Panics when it is missing and `AGENTLENS_REQUIRE_TOOLS=1` (set by `make test`), so CI cannot
/// pass by skipping.
pub fn python_tool(name: &str) -> Tool {
    find(name, "venv/bin")
}

/// Finds helm (`.tools/helm/helm`, unpacked from the npm package by `make tools`) or on `PATH`;
/// like [`python_tool`] a missing helm fails under `make test`.
pub fn helm() -> Tool {
    find("helm", "helm")
}

/// Finds kubectl (`.tools/kubectl/kubectl`, from the same npm package as helm) or on `PATH`;
/// like [`python_tool`] a missing kubectl fails under `make test`.
pub fn kubectl() -> Tool {
    find("kubectl", "kubectl")
}

/// `$AGENTLENS_TOOLS_DIR/<relative>` and `<root>/.tools/<relative>`, in that order.
fn under_tools(relative: &Path) -> Vec<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("AGENTLENS_TOOLS_DIR") {
        candidates.push(PathBuf::from(dir).join(relative));
    }
    candidates.push(crate::workspace_root().join(".tools").join(relative));
    candidates
}

/// A missing tool: a panic under `AGENTLENS_REQUIRE_TOOLS=1`, else the reason to skip.
fn missing(why: String) -> Tool {
    if std::env::var("AGENTLENS_REQUIRE_TOOLS").as_deref() == Ok("1") {
        panic!("{why}");
    }
    Tool::Skip(why)
}

fn find(name: &str, under: &str) -> Tool {
    let mut candidates = under_tools(&Path::new(under).join(name));
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join(name)));
    }
    match candidates.into_iter().find(|p| p.is_file()) {
        Some(found) => Tool::Found(found),
        None => missing(format!(
            "{name} is not installed: run `make tools` (or `make test`)"
        )),
    }
}

/// Something `make tools` installs at `.tools/<relative>` (`$AGENTLENS_TOOLS_DIR/<relative>` or
/// `<root>/.tools/<relative>`), never from `PATH`. Like [`python_tool`] a missing one fails
/// under `make test`.
pub fn installed(relative: &str) -> Tool {
    match under_tools(Path::new(relative))
        .into_iter()
        .find(|p| p.exists())
    {
        Some(found) => Tool::Found(found),
        None => missing(format!(
            ".tools/{relative} is not installed: run `make tools` (or `make test`)"
        )),
    }
}

/// A binary of this workspace: `$env` (`make test` points it at the release build), else beside
/// the running test's `target/<profile>/`.
pub fn workspace_binary(env: &str, name: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .skip(1)
        .take(3)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A missing prerequisite: fails the test under `AGENTLENS_REQUIRE_TOOLS=1` (`make test`), else
/// prints why it skips. Returns false, for `if !required(..)`-free early returns.
pub fn required(what: &str) -> bool {
    let strict = std::env::var("AGENTLENS_REQUIRE_TOOLS").as_deref() == Ok("1");
    assert!(!strict, "{what} is missing under make test");
    eprintln!("skipped: {what} is missing");
    false
}

/// What `kubernetes-validate --strict -k VERSION FILES...` said.
pub struct Validation {
    /// Whether it exited with 0.
    pub ok: bool,
    /// Its stdout and stderr.
    pub report: String,
    /// How many objects it reported as passed.
    pub passed: usize,
}

/// Runs `kubernetes-validate --strict` for one Kubernetes version over `files`.
pub fn kubernetes_validate(bin: &Path, version: &str, files: &[PathBuf]) -> Validation {
    match Command::new(bin)
        .args(["--strict", "-k", version])
        .args(files)
        .output()
    {
        Ok(out) => {
            let report = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let passed = report
                .lines()
                .filter(|l| l.contains(" passed for resource "))
                .count();
            Validation {
                ok: out.status.success(),
                report,
                passed,
            }
        }
        Err(e) => Validation {
            ok: false,
            report: format!("running {}: {e}", bin.display()),
            passed: 0,
        },
    }
}

/// `helm template agentlens charts/agentlens -n NAMESPACE EXTRA…` with the real helm `bin`, run
/// from the workspace root: the rendered objects (empty documents left out). Panics with helm's
/// message when rendering fails (a test helper).
#[allow(clippy::expect_used)]
pub fn helm_template(bin: &Path, namespace: &str, extra: &[&str]) -> Vec<serde_json::Value> {
    let out = Command::new(bin)
        .args(["template", "agentlens", "charts/agentlens", "-n", namespace])
        .args(extra)
        .current_dir(crate::workspace_root())
        .output()
        .expect("running helm");
    assert!(
        out.status.success(),
        "helm template: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_saphyr::from_multiple::<serde_json::Value>(&String::from_utf8_lossy(&out.stdout))
        .expect("helm's output is YAML")
        .into_iter()
        .filter(serde_json::Value::is_object)
        .collect()
}
