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

fn find(name: &str, under_tools: &str) -> Tool {
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("AGENTLENS_TOOLS_DIR") {
        candidates.push(PathBuf::from(dir).join(under_tools).join(name));
    }
    candidates.push(
        crate::workspace_root()
            .join(".tools")
            .join(under_tools)
            .join(name),
    );
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join(name)));
    }
    if let Some(found) = candidates.into_iter().find(|p| p.is_file()) {
        return Tool::Found(found);
    }
    let why = format!("{name} is not installed: run `make tools` (or `make test`)");
    if std::env::var("AGENTLENS_REQUIRE_TOOLS").as_deref() == Ok("1") {
        panic!("{why}");
    }
    Tool::Skip(why)
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

/// Finds Debian's `chromium` on `PATH` (installed by `make tools`); like [`python_tool`] a
/// missing browser fails under `make test`.
pub fn chromium() -> Tool {
    find("chromium", "chromium")
}

/// The npm modules the browser checks drive Chromium with (`puppeteer-core`, `axe-core`),
/// installed by `make tools` into `.tools/browser/node_modules`; like [`python_tool`] missing
/// modules fail under `make test`.
pub fn browser_modules() -> Tool {
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("AGENTLENS_TOOLS_DIR") {
        candidates.push(PathBuf::from(dir).join("browser/node_modules"));
    }
    candidates.push(crate::workspace_root().join(".tools/browser/node_modules"));
    if let Some(found) = candidates.into_iter().find(|d| {
        d.join("puppeteer-core/package.json").is_file() && d.join("axe-core/axe.min.js").is_file()
    }) {
        return Tool::Found(found);
    }
    let why = "puppeteer-core and axe-core are not installed: run `make tools`".to_string();
    if std::env::var("AGENTLENS_REQUIRE_TOOLS").as_deref() == Ok("1") {
        panic!("{why}");
    }
    Tool::Skip(why)
}
