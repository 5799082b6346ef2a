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

impl Tool {
    /// The path, or `None` after printing why the test skips. A `Skip` exists only outside
    /// `make test`: under `AGENTLENS_REQUIRE_TOOLS=1` finding the tool has already panicked.
    pub fn or_skip(self) -> Option<PathBuf> {
        match self {
            Tool::Found(p) => Some(p),
            Tool::Skip(why) => {
                eprintln!("skipped: {why}");
                None
            }
        }
    }
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

/// Finds a system tool (`openssl`, `cc`, `shellcheck`) on `PATH`; like [`python_tool`] a
/// missing one fails under `make test`.
pub fn system_tool(name: &str) -> Tool {
    find(name, "bin")
}

/// Finds the directory of an npm package that `make tools` installs into `.tools/node`
/// (`node_modules/<package>`), and `node` on `PATH` to run it: `(node, package_dir)`. Like
/// [`python_tool`] a missing one fails under `make test`.
pub fn node_package(package: &str) -> Result<(PathBuf, PathBuf), String> {
    let node = match find("node", "node/bin") {
        Tool::Found(p) => p,
        Tool::Skip(why) => return Err(why),
    };
    let dir = Path::new("node_modules").join(package);
    match found_or_skip(package, tool_candidates(&dir, "node"), Path::is_dir) {
        Tool::Found(p) => Ok((node, p)),
        Tool::Skip(why) => Err(why),
    }
}

/// `$AGENTLENS_TOOLS_DIR/<under_tools>/<name>`, then `<root>/.tools/<under_tools>/<name>`.
fn tool_candidates(name: &Path, under_tools: &str) -> Vec<PathBuf> {
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
    candidates
}

fn find(name: &str, under_tools: &str) -> Tool {
    let mut candidates = tool_candidates(Path::new(name), under_tools);
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join(name)));
    }
    found_or_skip(name, candidates, Path::is_file)
}

fn found_or_skip(name: &str, candidates: Vec<PathBuf>, exists: fn(&Path) -> bool) -> Tool {
    if let Some(found) = candidates.into_iter().find(|p| exists(p)) {
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

/// A test part whose prerequisite (`what`) is missing here: fails under `make test`
/// (`AGENTLENS_REQUIRE_TOOLS=1`), else says on stderr what is skipped. Always `false`, for
/// `let Some(..) = .. else { return missing(..) }`-style early returns.
pub fn missing(what: &str) -> bool {
    let strict = std::env::var("AGENTLENS_REQUIRE_TOOLS").as_deref() == Ok("1");
    assert!(!strict, "{what} is missing under make test");
    eprintln!("skipped: {what} is missing");
    false
}

/// A workspace binary: `$env` (the release binaries under `make test`), else beside the
/// running test's `target/<profile>/`.
pub fn binary(env: &str, name: &str) -> Option<PathBuf> {
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

/// Something `make tools` installs at `.tools/<relative>` (`$AGENTLENS_TOOLS_DIR/<relative>` or
/// `<root>/.tools/<relative>`), never from `PATH`. Like [`python_tool`] a missing one fails
/// under `make test`.
pub fn installed(relative: &str) -> Tool {
    found_or_skip(
        &format!(".tools/{relative}"),
        tool_candidates(Path::new(relative), ""),
        Path::exists,
    )
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
    let found = tool_candidates(Path::new("node_modules"), "browser")
        .into_iter()
        .find(|d| {
            d.join("puppeteer-core/package.json").is_file()
                && d.join("axe-core/axe.min.js").is_file()
        });
    match found {
        Some(dir) => Tool::Found(dir),
        None => found_or_skip("puppeteer-core and axe-core", Vec::new(), Path::exists),
    }
}

/// Runs `kubectl --kubeconfig KUBECONFIG ARGS...` from the workspace root with `stdin` written
/// to it: the process's output, for the tests that drive kubectl against kube-emulator.
pub fn run_kubectl(
    bin: &Path,
    kubeconfig: &Path,
    args: &[&str],
    stdin: &[u8],
) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(bin)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .current_dir(crate::workspace_root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {}: {e}", bin.display()));
    if let Some(mut input) = child.stdin.take() {
        // A command that does not read stdin may close it first: that is not an error here.
        let _ = input.write_all(stdin);
    }
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for kubectl: {e}"))
}

/// [`run_kubectl`]'s success and its stdout and stderr together.
pub fn kubectl_output(out: &std::process::Output) -> (bool, String) {
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}
