//! The release images (`make images`, `scripts/images.sh`, `images/*/Containerfile`).
//!
//! Always: the references `make images` tags are the chart's defaults, derived from the same
//! files (also for a chart whose appVersion and repository changed), and hadolint passes on
//! the three Containerfiles (the demo agent's too). With `AGENTLENS_IMAGE_TESTS=1` (set by
//! `make images-test` after it built the images; building takes minutes): the images run as
//! the chart runs them, read-only, as 65532, all capabilities dropped; the sidecar answers `/healthz` and finds a library mounted
//! as `libnvidia-ml.so.1` where the NVIDIA toolkit mounts it; the operator prints its CRDs and
//! carries the kubectl plugin; neither has a shell; the SBOMs beside the archives list the
//! Debian packages the root was assembled from and pass cyclonedx-python-lib's strict
//! CycloneDX 1.5 validator.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use agentlens_tests::net::{free_port, http_get as get};
use agentlens_tests::tools::{helm, missing, python_tool};
use agentlens_tests::workspace_root;
use serde_json::Value;

const CONTAINERFILES: [&str; 4] = [
    "images/operator/Containerfile",
    "images/sidecar/Containerfile",
    "images/demo-agent/Containerfile",
    "images/autoinstrument/Containerfile",
];

fn images_sh(args: &[&str], chart: Option<&Path>) -> String {
    let mut cmd = Command::new(workspace_root().join("scripts/images.sh"));
    cmd.args(args);
    if let Some(c) = chart {
        cmd.env("AGENTLENS_CHART_DIR", c);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "images.sh {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// (operator image, `--sidecar-image`) of the operator Deployment `helm template` renders.
fn chart_images(helm: &Path, chart: &Path) -> (String, String) {
    let out = Command::new(helm)
        .args(["template", "agentlens"])
        .arg(chart)
        .args(["-n", "agentlens-system"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = serde_saphyr::from_multiple::<Value>(&String::from_utf8_lossy(&out.stdout)).unwrap();
    let deploy = docs
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("the operator Deployment");
    let c = &deploy["spec"]["template"]["spec"]["containers"][0];
    let sidecar = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|a| a.as_str()?.strip_prefix("--sidecar-image="))
        .expect("--sidecar-image")
        .to_string();
    (c["image"].as_str().unwrap().to_string(), sidecar)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn make_images_tags_the_charts_default_images() {
    let Some(helm) = helm().or_skip() else {
        return;
    };
    let chart = workspace_root().join("charts/agentlens");
    let refs: Vec<String> = images_sh(&["refs"], None)
        .lines()
        .map(str::to_string)
        .collect();
    let (operator, sidecar) = chart_images(&helm, &chart);
    assert_eq!(refs, vec![operator, sidecar]);

    // Derived, not typed twice: a chart with another appVersion and sidecar repository.
    let dir = std::env::temp_dir().join(format!("agentlens-images-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let copy = dir.join("agentlens");
    copy_dir(&chart, &copy);
    let edit = |file: &str, from: &str, to: &str| {
        let p = copy.join(file);
        let text = std::fs::read_to_string(&p).unwrap();
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(from))
            .unwrap_or_else(|| panic!("{file}: {from}"))
            .to_string();
        std::fs::write(&p, text.replacen(&line, to, 1)).unwrap();
    };
    edit("Chart.yaml", "appVersion:", "appVersion: \"2.3.4-rc.1\"");
    edit(
        "values.yaml",
        "repository: ghcr.io/agentlens/agentlens-sidecar",
        "    repository: registry.example/mirror/agentlens-sidecar",
    );
    let refs: Vec<String> = images_sh(&["refs"], Some(&copy))
        .lines()
        .map(str::to_string)
        .collect();
    let (operator, sidecar) = chart_images(&helm, &copy);
    assert_eq!(
        refs,
        vec![
            "ghcr.io/agentlens/agentlens-operator:2.3.4-rc.1".to_string(),
            "registry.example/mirror/agentlens-sidecar:2.3.4-rc.1".to_string()
        ]
    );
    assert_eq!(refs, vec![operator, sidecar]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_containerfiles_pass_hadolint_and_run_as_nonroot_from_scratch() {
    for file in CONTAINERFILES {
        let text = std::fs::read_to_string(workspace_root().join(file)).unwrap();
        assert!(text.contains("\nFROM scratch\n"), "{file}");
        assert!(text.contains("\nUSER 65532:65532\n"), "{file}");
        for label in ["source", "revision", "version", "licenses", "title"] {
            assert!(
                text.contains(&format!("org.opencontainers.image.{label}=")),
                "{file}: label {label}"
            );
        }
        assert!(text.contains("licenses=\"Apache-2.0\""), "{file}");
    }
    let Some(hadolint) = python_tool("hadolint").or_skip() else {
        return;
    };
    let out = Command::new(hadolint)
        .args(CONTAINERFILES)
        .current_dir(workspace_root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hadolint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---- The built images (make images-test) ----

/// The engine and the two references, when the images were built.
fn built() -> Option<(String, String, String)> {
    if std::env::var("AGENTLENS_IMAGE_TESTS").as_deref() != Ok("1") {
        eprintln!("skipped: the images are not built here (run `make images-test`)");
        return None;
    }
    let engine = std::env::var("AGENTLENS_CONTAINER_ENGINE").unwrap_or_else(|_| "podman".into());
    let refs = images_sh(&["refs"], None);
    let mut refs = refs.lines().map(str::to_string);
    Some((engine, refs.next().unwrap(), refs.next().unwrap()))
}

/// `ENGINE run` as the chart and the webhook run the containers: read-only root, as 65532,
/// all capabilities dropped, no privilege escalation.
fn locked_down(engine: &str) -> Command {
    let mut c = Command::new(engine);
    c.args([
        "run",
        "--read-only",
        "--user",
        "65532:65532",
        "--cap-drop=all",
        "--security-opt=no-new-privileges",
    ]);
    c
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A detached container, removed on drop.
struct Running {
    engine: String,
    name: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new(&self.engine)
            .args(["rm", "-f", "-t", "0", &self.name])
            .output();
    }
}

/// Starts the sidecar image in `serve` mode on the host network (loopback port), with extra
/// `run` flags; waits (bounded) until `/healthz` answers.
fn start_sidecar(engine: &str, image: &str, extra: &[&str], gpu: &str) -> (Running, u16) {
    let port = free_port();
    let name = format!("agentlens-image-test-{}-{port}", std::process::id());
    let mut c = locked_down(engine);
    c.args(["-d", "--name", &name, "--network=host"])
        .args(extra)
        .arg(image)
        .args(["serve", "--no-kube-api", "--gpu", gpu, "--listen"])
        .arg(format!("127.0.0.1:{port}"));
    let out = c.output().unwrap();
    assert!(out.status.success(), "{engine} run: {}", text(&out));
    let running = Running {
        engine: engine.to_string(),
        name: name.clone(),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some((200, _)) = get(port, "/healthz") {
            return (running, port);
        }
        let state = Command::new(engine)
            .args(["inspect", "--format", "{{.State.Running}}", &name])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&state.stdout).trim() != "true" {
            let logs = Command::new(engine).args(["logs", &name]).output().unwrap();
            panic!("the sidecar container exited: {}", text(&logs));
        }
        assert!(Instant::now() < deadline, "no /healthz within 60s");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn inspect(engine: &str, image: &str) -> Value {
    let out = Command::new(engine)
        .args(["image", "inspect", image])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v[0].clone()
}

fn app_version(image: &str) -> &str {
    image.rsplit_once(':').unwrap().1
}

#[test]
fn the_sidecar_image_serves_read_only_as_nonroot_without_capabilities() {
    let Some((engine, _, sidecar)) = built() else {
        return;
    };
    let meta = inspect(&engine, &sidecar);
    assert_eq!(meta["Config"]["User"], "65532:65532");
    let labels = &meta["Config"]["Labels"];
    assert_eq!(
        labels["org.opencontainers.image.version"],
        app_version(&sidecar)
    );
    assert_eq!(labels["org.opencontainers.image.licenses"], "Apache-2.0");
    assert_eq!(
        labels["org.opencontainers.image.title"],
        "agentlens-sidecar"
    );

    let (_c, port) = start_sidecar(&engine, &sidecar, &[], "off");
    let (code, metrics) = get(port, "/metrics").unwrap();
    assert_eq!(code, 200);
    assert!(metrics.contains("agentlens_"), "{metrics}");
    // The container's own processes are measured, under the user it runs as.
    let (code, snap) = get(port, "/v1/snapshot").unwrap();
    assert_eq!(code, 200, "{snap}");
    let snap: Value = serde_json::from_str(&snap).unwrap();
    assert_eq!(snap["gpu"]["state"], "disabled", "{snap}");
}

/// NVML is dlopen'ed as `libnvidia-ml.so.1`; the NVIDIA toolkit mounts the driver's library
/// into the image's multiarch library directory. Without it the reason is "cannot open shared
/// object file"; with a (non-NVML) library mounted there, dlopen finds and loads it and fails
/// later, on NVML's own symbol (`nvmlInit_v2`): the search path of the image is right.
#[test]
fn the_sidecar_image_finds_libnvidia_ml_where_the_toolkit_mounts_it() {
    let Some((engine, _, sidecar)) = built() else {
        return;
    };
    let reason = |extra: &[&str]| -> String {
        let (_c, port) = start_sidecar(&engine, &sidecar, extra, "auto");
        let (code, snap) = get(port, "/v1/snapshot").unwrap();
        assert_eq!(code, 200, "{snap}");
        let snap: Value = serde_json::from_str(&snap).unwrap();
        assert_eq!(snap["gpu"]["state"], "unavailable", "{snap}");
        snap["gpu"]["reason"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let absent = reason(&[]);
    assert!(
        absent.contains("libnvidia-ml.so.1: cannot open shared object file"),
        "{absent}"
    );
    // A real shared library of this machine standing in for the driver's.
    let stand_in: PathBuf = [
        "/lib/x86_64-linux-gnu/libz.so.1",
        "/usr/lib/x86_64-linux-gnu/libz.so.1",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
    .expect("libz.so.1 on this machine");
    let mount = format!(
        "--volume={}:/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1:ro",
        stand_in.display()
    );
    let mounted = reason(&[&mount]);
    assert!(
        mounted.contains("/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1: undefined symbol: nvmlInit"),
        "{mounted}"
    );
}

#[test]
fn the_operator_image_prints_its_crds_and_carries_the_plugin() {
    let Some((engine, operator, _)) = built() else {
        return;
    };
    let meta = inspect(&engine, &operator);
    assert_eq!(meta["Config"]["User"], "65532:65532");
    assert_eq!(
        meta["Config"]["Labels"]["org.opencontainers.image.version"],
        app_version(&operator)
    );
    let out = locked_down(&engine)
        .args(["--rm", "--network=none", &operator, "crds"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let crds = String::from_utf8_lossy(&out.stdout);
    for name in [
        "agentdeployments.agentlens.dev",
        "models.agentlens.dev",
        "evaluations.agentlens.dev",
    ] {
        assert!(
            crds.contains(name),
            "{name} missing from `agentlens-operator crds`"
        );
    }
    let out = locked_down(&engine)
        .args([
            "--rm",
            "--network=none",
            "--entrypoint",
            "/usr/local/bin/kubectl-agentlens",
            &operator,
            "--version",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(app_version(&operator)),
        "{}",
        text(&out)
    );
}

/// The Python with cyclonedx-python-lib (`make tools` installs it into .tools/venv).
fn cyclonedx_python() -> Option<PathBuf> {
    let py = python_tool("python3").or_skip()?;
    let ok = Command::new(&py)
        .args(["-c", "import cyclonedx.validation.json"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        missing("cyclonedx-python-lib in .tools/venv (make tools), for the SBOM schema check");
        return None;
    }
    Some(py)
}

#[test]
fn neither_image_has_a_shell_and_the_sboms_list_the_base_packages() {
    let Some((engine, operator, sidecar)) = built() else {
        return;
    };
    for image in [&operator, &sidecar] {
        for shell in ["/bin/sh", "/bin/bash", "/usr/bin/sh"] {
            let out = Command::new(&engine)
                .args([
                    "run",
                    "--rm",
                    "--network=none",
                    "--entrypoint",
                    shell,
                    image,
                    "-c",
                    "true",
                ])
                .output()
                .unwrap();
            assert!(!out.status.success(), "{image} has {shell}");
        }
        let name = image.rsplit_once('/').unwrap().1.replace(':', "-");
        let sbom = workspace_root()
            .join("dist")
            .join(format!("{name}.cdx.json"));
        let doc: Value = serde_json::from_slice(
            &std::fs::read(&sbom).unwrap_or_else(|e| panic!("{sbom:?}: {e}")),
        )
        .unwrap();
        assert_eq!(doc["specVersion"], "1.5");
        assert_eq!(doc["metadata"]["component"]["name"], image.as_str());
        let comps = doc["components"].as_array().unwrap();
        assert!(
            comps
                .iter()
                .any(|c| c["type"] == "operating-system" && c["name"] == "debian"),
            "{sbom:?}"
        );
        let mut debs: Vec<&str> = comps
            .iter()
            .filter(|c| {
                c["purl"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("pkg:deb/debian/"))
            })
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        debs.sort_unstable();
        assert_eq!(
            debs,
            ["base-files", "ca-certificates", "libc6", "libgcc-s1"],
            "{sbom:?}"
        );
        if let Some(py) = cyclonedx_python() {
            let out = Command::new(py)
                .args([
                    "-c",
                    "import sys\nfrom cyclonedx.validation.json import JsonStrictValidator\nfrom cyclonedx.schema import SchemaVersion\nerr = JsonStrictValidator(SchemaVersion.V1_5).validate_str(open(sys.argv[1]).read())\nprint(err or 'valid')\nsys.exit(1 if err else 0)",
                ])
                .arg(&sbom)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{sbom:?} against CycloneDX 1.5: {}",
                text(&out)
            );
        }
        let archive = sbom.with_file_name(format!("{name}.oci.tar"));
        assert!(archive.is_file(), "{archive:?}");
    }
}
