//! The auto-instrumentation's CPython ABI check through real processes: the built
//! `agentlens-sidecar run` over a real Python started with the `PYTHONPATH` the webhook writes
//! (`agentlens_crds::autoinstrument::python_path`, the mount path mapped to a local copy of the
//! `opentelemetry` layout made by the sidecar's own `copy-tree`, as the init container does),
//! read back from `/v1/snapshot` and `/v1/inventory`:
//! - the true layout under the agent venv's interpreter and under Debian's `/usr/bin/python3`:
//!   reported with the interpreter's ABI, the instrumentation loaded, the ABIs matching;
//! - the same layout whose `.python-abi` alone says `cp312`: reported as a mismatch;
//! - with `AGENTLENS_OTHER_PYTHON=/path/to/python3.X` (not installed by `make tools`), the true
//!   layout under that interpreter: its compiled `cpython-311` modules are not loaded;
//! - a Python of another user than the sidecar's (as root, this test binary run again as
//!   `nobody`): its reads counted denied in `processReads`, the structured outcome the operator
//!   reads, rather than taken for a process without the layout.
//!
//! Every expectation is the interpreter's own answer (`sys.version_info`), not a constant.
//! `AGENTLENS_UPDATE_FIXTURES=1` writes the snapshots to `crds/tests/fixtures/` (see the README
//! there).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use agentlens_crds::Snapshot;
use agentlens_crds::autoinstrument::{
    AbiCheck, AbiEvidence, AutoInstrumentSeen, InstrumentProvider, MOUNT_PATH, PYTHON_ABI_FILE,
    python_path,
};
use agentlens_crds::snapshot::ProcessReads;
use agentlens_sidecar::inventory::autoinstrument;
use agentlens_sidecar::inventory::collect::{CollectConfig, ProcInfo, collect_pids};
use agentlens_sidecar::inventory::reads::{ReadLog, ReadOutcome};
use agentlens_sidecar::inventory::root::Root;

mod common;
use common::{Reaped, free_port, get, installed, tool, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_agentlens-sidecar");

/// The interpreter's own ABI tag.
fn abi_of(python: &Path) -> String {
    let out = succeeds(Command::new(python).args([
        "-I",
        "-c",
        "import sys, sysconfig; print(f'cp{sys.version_info[0]}{sys.version_info[1]}' + ('t' if sysconfig.get_config_var('Py_GIL_DISABLED') else ''))",
    ]));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Runs a command to its end; its stderr is the failure message.
fn succeeds(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The layout copied by the sidecar's `copy-tree` into `dir`, its ABI file replaced when asked.
fn volume(layout: &Path, dir: &Path, abi_file: Option<&str>) -> PathBuf {
    let volume = dir.join(MOUNT_PATH.trim_start_matches('/'));
    succeeds(Command::new(BIN).arg("copy-tree").args([layout, &volume]));
    if let Some(abi) = abi_file {
        std::fs::write(volume.join(PYTHON_ABI_FILE), format!("{abi}\n")).unwrap();
    }
    volume
}

/// What the sidecar reports of `python` over `volume`: the snapshot (once every process shows
/// the layout loaded) and the `/v1/inventory` document.
fn observe(python: &Path, volume: &Path) -> (Snapshot, AutoInstrumentSeen, serde_json::Value) {
    let (api, otlp) = (free_port(), free_port());
    let pythonpath = python_path(InstrumentProvider::OpenTelemetry, None)
        .replace(MOUNT_PATH, volume.to_str().unwrap());
    let mut sidecar = Reaped(
        Command::new(BIN)
            .args(["run", "--gpu", "off", "--interval-ms", "200"])
            .args(["--inventory-check-ms", "300", "--listen"])
            .arg(format!("127.0.0.1:{api}"))
            .arg("--otlp-listen")
            .arg(format!("127.0.0.1:{otlp}"))
            .arg("--")
            .arg(python)
            .args([
                "-c",
                "import sys; print('ready', flush=True); sys.stdin.read()",
            ])
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("PYTHONPATH", &pythonpath)
            .env(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://127.0.0.1:{otlp}"),
            )
            .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
            .env("OTEL_METRICS_EXPORTER", "none")
            .env("OTEL_SERVICE_NAME", "abi-check")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // The agent's `sitecustomize` has run once it prints.
    let mut line = String::new();
    std::io::BufReader::new(sidecar.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "ready\n");
    let settled = wait_until(Duration::from_secs(60), || {
        let snap: Snapshot = serde_json::from_str(&get(api, "/v1/snapshot")?).ok()?;
        let seen = snap.inventory.first()?.auto_instrument.clone()?;
        // Every case here loads the layout (its `abi3` module loads under any CPython 3); the
        // first inventory may have been taken while the interpreter was still starting.
        let done = !seen.interpreters.is_empty()
            && seen.interpreters.iter().all(|i| i.loaded == i.processes);
        done.then_some((snap, seen))
    });
    let (snap, seen) = settled.expect("the sidecar reports the instrumentation within 60 s");
    let inventory = serde_json::from_str(&get(api, "/v1/inventory").unwrap()).unwrap();
    (snap, seen, inventory)
}

/// The `agentlens:autoinstrument:*` properties of the one container of a `/v1/inventory`
/// document.
fn properties(doc: &serde_json::Value) -> Vec<(String, String)> {
    let c = &doc["components"][0];
    let props = c["properties"].as_array().cloned().unwrap_or_default();
    props
        .iter()
        .filter_map(|p| {
            let name = p["name"]
                .as_str()?
                .strip_prefix("agentlens:autoinstrument:")?;
            Some((name.to_string(), p["value"].as_str()?.to_string()))
        })
        .collect()
}

fn write_fixture(name: &str, snap: &Snapshot) {
    if std::env::var("AGENTLENS_UPDATE_FIXTURES").as_deref() == Ok("1") {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../crds/tests/fixtures")
            .join(name);
        let mut text = serde_json::to_string_pretty(snap).unwrap();
        text.push('\n');
        std::fs::write(path, text).unwrap();
    }
}

#[test]
fn the_layouts_abi_against_the_interpreters_through_the_endpoints() {
    let (Some(layout), Some(venv_python)) = (
        installed("autoinstrument/opentelemetry"),
        installed("autoinstrument/agent-venv/bin/python"),
    ) else {
        return;
    };
    let layout_abi = std::fs::read_to_string(layout.join(PYTHON_ABI_FILE)).unwrap();
    let layout_abi = layout_abi.trim();
    let debian = Path::new("/usr/bin/python3");
    assert!(
        debian.is_file(),
        "Debian's python3 (make tools builds the layouts with it)"
    );
    let other = std::env::var_os("AGENTLENS_OTHER_PYTHON").map(PathBuf::from);
    if other.is_none() {
        eprintln!("not run: set AGENTLENS_OTHER_PYTHON to a python3.X of another ABI");
    }

    // (case, interpreter, what .python-abi says (None: the layout's own), fixture)
    let mut cases: Vec<(&str, PathBuf, Option<&str>, Option<&str>)> = vec![
        (
            "agent_venv",
            venv_python.clone(),
            None,
            Some("snapshot-autoinstrument-match.json"),
        ),
        (
            "agent_venv_layout_says_cp312",
            venv_python.clone(),
            Some("cp312"),
            Some("snapshot-autoinstrument-abi-mismatch.json"),
        ),
        ("debian_python3", debian.to_path_buf(), None, None),
    ];
    if let Some(o) = &other {
        cases.push((
            "other_interpreter",
            o.clone(),
            None,
            Some("snapshot-autoinstrument-other-python.json"),
        ));
    }
    for (case, python, abi_file, fixture) in cases {
        let dir = tempfile::tempdir().unwrap();
        let volume = volume(&layout, dir.path(), abi_file);
        let interp = abi_of(&python);
        let said = abi_file.unwrap_or(layout_abi);
        let start = std::time::Instant::now();
        let (snap, seen, doc) = observe(&python, &volume);
        eprintln!("{case}: {seen:?} after {:?}", start.elapsed());

        assert_eq!(seen.path, volume.to_str().unwrap(), "{case}");
        assert_eq!(seen.layout_abi.as_deref(), Some(said), "{case}");
        assert_eq!(seen.unidentified, 0, "{case}");
        assert_eq!(seen.interpreters.len(), 1, "{case}: {seen:?}");
        let i = &seen.interpreters[0];
        assert_eq!(
            (i.abi.as_str(), i.processes),
            (interp.as_str(), 1),
            "{case}"
        );
        let want = if interp == said {
            AbiCheck::Match
        } else {
            AbiCheck::Mismatch
        };
        assert_eq!(seen.abi_check(), want, "{case}: {seen:?}");
        // The layout's compiled modules load exactly when they are for this interpreter; its
        // `abi3` protobuf module loads under any CPython 3, so the import shows either way.
        assert_eq!(i.loaded, 1, "{case}: the instrumentation was imported");
        let so = |tag: &str| {
            let maps = std::fs::read_dir(volume.join("wrapt")).unwrap();
            maps.flatten().any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .contains(&format!("cpython-{}", &tag[2..]))
            })
        };
        assert!(
            so(layout_abi),
            "{case}: the layout holds cpython modules of its own ABI"
        );
        if case == "debian_python3" {
            // Debian links libpython statically: the executable's name tells.
            assert_eq!(i.evidence, AbiEvidence::Executable, "{case}");
        }

        let props = properties(&doc);
        let prop = |n: &str| props.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(prop("abi"), Some(want.as_str()), "{case}: {props:?}");
        assert_eq!(prop("layout-abi"), Some(said), "{case}");
        assert_eq!(prop("path"), volume.to_str(), "{case}");
        if let Some(f) = fixture {
            write_fixture(f, &snap);
        }
    }
}

/// What a sidecar sees of the Python process `pid` (running `exe` with `pythonpath`): the
/// inventory's `processReads` and whether it saw the layout, and how reading `maps` alone went
/// for a process already read (as the inventory's `/proc` recheck does).
fn sidecar_view(pid: u32, exe: &str, pythonpath: &str) -> (ProcessReads, bool, ReadOutcome) {
    let inv = collect_pids(
        "main",
        Path::new("/proc"),
        &[pid],
        &CollectConfig::default(),
    );
    let known = ProcInfo {
        pid,
        exe: exe.into(),
        cmdline: vec![exe.into()],
        env: [("PYTHONPATH".to_string(), pythonpath.to_string())].into(),
        ..ProcInfo::default()
    };
    let mut reads = ReadLog::default();
    let root = Root::new(format!("/proc/{pid}/root"));
    autoinstrument::observe(Path::new("/proc"), &[known], &root, &mut reads);
    let maps = reads.outcome(pid).unwrap_or(ReadOutcome::Read);
    (inv.process_reads, inv.auto_instrument.is_some(), maps)
}

/// Another user's Python with the layout on `PYTHONPATH`: a sidecar of another user (this test
/// binary run again as `nobody` through util-linux `setpriv`, as `tests/inventory.rs` does)
/// may read neither its environment nor its maps. That is counted denied, the field the
/// operator reads, while its notes alone would be cut or reworded; its own user sees the layout.
#[test]
fn another_users_python_is_counted_denied_not_taken_for_one_without_the_layout() {
    if let Ok(v) = std::env::var("AGENTLENS_ABI_FOREIGN") {
        // The unprivileged half: pid, executable, PYTHONPATH.
        let mut parts = v.splitn(3, '\n');
        let (pid, exe, pp) = (
            parts.next().unwrap().parse().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let (r, layout, maps) = sidecar_view(pid, exe, pp);
        println!(
            "VIEW {} {layout} {maps:?}",
            serde_json::to_string(&r).unwrap()
        );
        return;
    }
    let uid = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_string));
    if uid.as_deref() != Some("0") {
        // Not root: no process of another user can be started here. The classification of the
        // errors is `reads.rs`' unit test.
        eprintln!("not run: needs root to start the app as another user than the sidecar");
        return;
    }
    let (Some(setpriv), python) = (tool("setpriv"), Path::new("/usr/bin/python3")) else {
        return;
    };
    assert!(
        python.is_file(),
        "Debian's python3 (make tools builds the layouts with it)"
    );
    let dir = tempfile::tempdir().unwrap();
    let volume = dir.path().join(MOUNT_PATH.trim_start_matches('/'));
    std::fs::create_dir_all(&volume).unwrap();
    std::fs::write(volume.join(PYTHON_ABI_FILE), "cp311\n").unwrap();
    let pythonpath = python_path(InstrumentProvider::OpenTelemetry, None)
        .replace(MOUNT_PATH, volume.to_str().unwrap());
    let mut app = Reaped(
        Command::new(python)
            .args([
                "-c",
                "import sys; print('ready', flush=True); sys.stdin.read()",
            ])
            .env_clear()
            .env("PYTHONPATH", &pythonpath)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    std::io::BufReader::new(app.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "ready\n");
    let pid = app.0.id();
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    let exe = exe.to_str().unwrap();

    // (case, the sidecar's user (None: the app's), reads, layout seen, maps read)
    let read_all = ProcessReads {
        processes: 1,
        ..ProcessReads::default()
    };
    let denied = ProcessReads {
        processes: 1,
        denied: 1,
        ..ProcessReads::default()
    };
    let cases = [
        ("same_user", None, read_all, true, ReadOutcome::Read),
        ("nobody", Some("65534"), denied, false, ReadOutcome::Denied),
    ];
    for (case, user, reads, layout, maps) in cases {
        let got = match user {
            None => sidecar_view(pid, exe, &pythonpath),
            Some(u) => {
                let out = Command::new(&setpriv)
                    .args([
                        &format!("--reuid={u}"),
                        &format!("--regid={u}"),
                        "--clear-groups",
                        "--",
                    ])
                    .arg(std::env::current_exe().unwrap())
                    .args([
                        "--exact",
                        "another_users_python_is_counted_denied_not_taken_for_one_without_the_layout",
                        "--nocapture",
                    ])
                    .env("AGENTLENS_ABI_FOREIGN", format!("{pid}\n{exe}\n{pythonpath}"))
                    .output()
                    .unwrap();
                let text = String::from_utf8_lossy(&out.stdout).to_string();
                let view = text
                    .lines()
                    .find_map(|l| l.strip_prefix("VIEW "))
                    .unwrap_or_else(|| {
                        panic!("{case}: {text}{}", String::from_utf8_lossy(&out.stderr))
                    });
                let mut f = view.split(' ');
                (
                    serde_json::from_str(f.next().unwrap()).unwrap(),
                    f.next() == Some("true"),
                    match f.next() {
                        Some("Read") => ReadOutcome::Read,
                        Some("Denied") => ReadOutcome::Denied,
                        Some("Gone") => ReadOutcome::Gone,
                        other => panic!("{case}: {other:?}"),
                    },
                )
            }
        };
        assert_eq!(got, (reads, layout, maps), "{case}");
    }
}
