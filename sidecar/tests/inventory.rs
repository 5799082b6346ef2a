//! The environment inventory against real roots: this machine's own root (its dpkg database
//! and a real Python virtual environment, compared with `dpkg-query -W` and that interpreter's
//! `pip list`), an Alpine-style root made here, model files written by the reference writers
//! (llama.cpp's `gguf`, Hugging Face's `safetensors`), the documents against the CycloneDX 1.5
//! schema (cyclonedx-python-lib), and the degraded cases: another user's process (permission
//! denied), a process that exits mid-scan, a 100,000-file site-packages.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agentlens_sidecar::inventory::collect::{
    CollectConfig, ProcInfo, collect, collect_pids, read_proc,
};
use agentlens_sidecar::inventory::root::Root;
use agentlens_sidecar::inventory::{Kind, cyclonedx, models, purl};

mod common;

/// Validates a document with cyclonedx-python-lib's strict CycloneDX 1.5 JSON validator.
fn assert_valid_cyclonedx(doc: &serde_json::Value) {
    let Some(py) = common::venv_python("cyclonedx.validation.json") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bom.json");
    std::fs::write(&file, serde_json::to_vec(doc).unwrap()).unwrap();
    let out = Command::new(py)
        .args([
            "-c",
            "import sys\nfrom cyclonedx.validation.json import JsonStrictValidator\nfrom cyclonedx.schema import SchemaVersion\nerr = JsonStrictValidator(SchemaVersion.V1_5).validate_str(open(sys.argv[1]).read())\nprint(err or 'valid')\nsys.exit(1 if err else 0)",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "CycloneDX 1.5: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

use common::Reaped as Child;

fn sleeping_python(py: &Path) -> Child {
    let mut c = Child(
        Command::new(py)
            .args([
                "-c",
                // Lives until the test drops it (its stdin closes, or it is killed).
                "import sys; print('ready', flush=True); sys.stdin.read()",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // Until the interpreter runs our code: its command line and prefix are final then (right
    // after the exec `/proc/<pid>/cmdline` can still be empty).
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(c.0.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line, "ready\n");
    c
}

#[test]
fn this_machines_root_matches_dpkg_query_and_pip_list() {
    let Some(py) = common::venv_python("pip") else {
        return;
    };
    let child = sleeping_python(&py);
    let inv = collect_pids(
        "main",
        Path::new("/proc"),
        &[child.0.id()],
        &CollectConfig::default(),
    );
    assert!(inv.notes.is_empty(), "{:?}", inv.notes);

    // dpkg: every installed package, with its version, as dpkg-query reports it.
    if let Some(dq) = common::tool("dpkg-query") {
        let out = Command::new(dq)
            .args(["-W", "-f", "${db:Status-Abbrev}\t${Package}\t${Version}\n"])
            .output()
            .unwrap();
        let want: BTreeSet<(String, String)> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("ii"))
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (f[1].to_string(), f[2].to_string())
            })
            .collect();
        let got: BTreeSet<(String, String)> = inv
            .components
            .iter()
            .filter(|c| c.kind == Kind::Deb)
            .map(|c| (c.name.clone(), c.version.clone()))
            .collect();
        assert!(!want.is_empty());
        assert_eq!(got, want, "dpkg-query -W and the inventory differ");
    }

    // The interpreter's own view of what it can import.
    let out = Command::new(&py)
        .args(["-m", "pip", "list", "--format", "json"])
        .output()
        .unwrap();
    let pip: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let want: BTreeSet<(String, String)> = pip
        .iter()
        .map(|p| {
            (
                purl::normalise_pypi(p["name"].as_str().unwrap()),
                p["version"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let got: BTreeSet<(String, String)> = inv
        .components
        .iter()
        .filter(|c| c.kind == Kind::Python)
        .map(|c| (purl::normalise_pypi(&c.name), c.version.clone()))
        .collect();
    assert!(want.len() > 20);
    assert_eq!(got, want, "pip list and the inventory differ");
    let runtime = inv
        .components
        .iter()
        .find(|c| c.kind == Kind::Runtime)
        .unwrap();
    assert_eq!(runtime.name, "python");
    assert!(
        runtime
            .location
            .as_deref()
            .unwrap()
            .ends_with(".tools/venv")
    );
    // Names of the environment, never values.
    assert!(inv.env_names.contains("PATH"));
    let doc = cyclonedx::container_bom(&inv);
    let text = doc.to_string();
    let path_value = std::env::var("PATH").unwrap();
    assert!(!text.contains(&path_value), "an environment value leaked");
    assert_valid_cyclonedx(&doc);
    assert_valid_cyclonedx(&cyclonedx::pod_bom("ns/pod", &[&inv]));
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// An Alpine image with Python and Node apps, CUDA and cuDNN, made here.
fn alpine_root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(
        r,
        "usr/lib/os-release",
        "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME=\"Alpine Linux v3.20\"\n",
    );
    std::fs::create_dir_all(r.join("etc")).unwrap();
    std::os::unix::fs::symlink("../usr/lib/os-release", r.join("etc/os-release")).unwrap();
    write(
        r,
        "lib/apk/db/installed",
        "C:Q1abc=\nP:musl\nV:1.2.5-r0\nA:x86_64\nS:411133\n\nC:Q1def=\nP:python3\nV:3.12.7-r0\nA:x86_64\n\nC:Q1ghi=\nP:nodejs\nV:20.15.1-r0\nA:x86_64\n\n",
    );
    write(r, "usr/bin/python3.12", "");
    std::os::unix::fs::symlink("/usr/bin/python3.12", r.join("usr/bin/python3")).unwrap();
    let sp = "usr/lib/python3.12/site-packages";
    write(
        r,
        &format!("{sp}/fastapi-0.115.0.dist-info/METADATA"),
        "Metadata-Version: 2.3\nName: fastapi\nVersion: 0.115.0\n",
    );
    write(
        r,
        &format!("{sp}/Pydantic_Core-2.23.4.dist-info/METADATA"),
        "Metadata-Version: 2.3\nName: pydantic_core\nVersion: 2.23.4\n",
    );
    write(
        r,
        &format!("{sp}/legacy_pkg-1.0-py3.12.egg-info"),
        "Metadata-Version: 1.0\nName: legacy-pkg\nVersion: 1.0\n",
    );
    // A virtual environment of the app, without the system site.
    write(
        r,
        "app/.venv/pyvenv.cfg",
        "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.12.7\n",
    );
    std::fs::create_dir_all(r.join("app/.venv/bin")).unwrap();
    std::os::unix::fs::symlink("/usr/bin/python3.12", r.join("app/.venv/bin/python")).unwrap();
    write(
        r,
        "app/.venv/lib/python3.12/site-packages/torch-2.5.1.dist-info/METADATA",
        "Name: torch\nVersion: 2.5.1\n",
    );
    // Node.
    write(
        r,
        "usr/include/node/node_version.h",
        "#define NODE_MAJOR_VERSION 20\n#define NODE_MINOR_VERSION 15\n#define NODE_PATCH_VERSION 1\n",
    );
    write(
        r,
        "srv/node_modules/express/package.json",
        r#"{"name": "express", "version": "4.21.0"}"#,
    );
    write(
        r,
        "srv/node_modules/@langchain/core/package.json",
        r#"{"name": "@langchain/core", "version": "0.3.13"}"#,
    );
    write(r, "srv/node_modules/.bin/x", "");
    // GPU stack.
    write(
        r,
        "usr/local/cuda/version.json",
        r#"{"cuda": {"name": "CUDA SDK", "version": "12.4.1"}}"#,
    );
    write(
        r,
        "usr/include/cudnn_version.h",
        "#define CUDNN_MAJOR 9\n#define CUDNN_MINOR 1\n#define CUDNN_PATCHLEVEL 0\n",
    );
    dir
}

fn proc(pid: u32, exe: &str, cmdline: &[&str], cwd: &str, env: &[(&str, &str)]) -> ProcInfo {
    ProcInfo {
        pid,
        exe: exe.into(),
        cmdline: cmdline.iter().map(|s| s.to_string()).collect(),
        cwd: cwd.into(),
        env: env
            .iter()
            .filter(|(k, _)| ["PATH", "PYTHONPATH", "HOME"].contains(k))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        env_names: env.iter().map(|(k, _)| k.to_string()).collect(),
    }
}

#[test]
fn an_alpine_root_with_python_node_and_cuda() {
    let dir = alpine_root();
    let root = Root::new(dir.path());
    let procs = [
        proc(
            10,
            "/usr/bin/python3.12",
            &["python3", "-m", "uvicorn", "app:api"],
            "/app",
            &[
                ("PATH", "/usr/local/bin:/usr/bin"),
                ("OPENAI_API_KEY", "sk-secret"),
            ],
        ),
        proc(
            11,
            "/usr/bin/python3.12",
            &["/app/.venv/bin/python", "worker.py"],
            "/app",
            &[("PATH", "/usr/bin")],
        ),
        proc(12, "/usr/bin/node", &["node", "server.js"], "/srv", &[]),
    ];
    let inv = collect(
        "app",
        &procs,
        &root,
        &CollectConfig {
            model_paths: vec![],
            driver: Some("580.159.04".into()),
        },
        vec![],
    );
    let got: BTreeMap<(String, String), (String, Option<String>)> = inv
        .components
        .iter()
        .map(|c| {
            (
                (c.kind.as_str().to_string(), c.name.clone()),
                (c.version.clone(), c.purl.clone()),
            )
        })
        .collect();
    let want = [
        (
            "apk",
            "musl",
            "1.2.5-r0",
            Some("pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64"),
        ),
        (
            "apk",
            "python3",
            "3.12.7-r0",
            Some("pkg:apk/alpine/python3@3.12.7-r0?arch=x86_64"),
        ),
        (
            "pypi",
            "fastapi",
            "0.115.0",
            Some("pkg:pypi/fastapi@0.115.0"),
        ),
        (
            "pypi",
            "pydantic_core",
            "2.23.4",
            Some("pkg:pypi/pydantic-core@2.23.4"),
        ),
        ("pypi", "legacy-pkg", "1.0", Some("pkg:pypi/legacy-pkg@1.0")),
        ("pypi", "torch", "2.5.1", Some("pkg:pypi/torch@2.5.1")),
        ("npm", "express", "4.21.0", Some("pkg:npm/express@4.21.0")),
        (
            "npm",
            "@langchain/core",
            "0.3.13",
            Some("pkg:npm/%40langchain/core@0.3.13"),
        ),
        ("runtime", "node", "20.15.1", None),
        ("cuda", "cuda-toolkit", "12.4.1", None),
        ("cudnn", "cudnn", "9.1.0", None),
        ("driver", "nvidia-driver", "580.159.04", None),
    ];
    for (kind, name, version, purl) in want {
        let got = got.get(&(kind.to_string(), name.to_string()));
        assert_eq!(
            got,
            Some(&(version.to_string(), purl.map(str::to_string))),
            "{kind} {name}"
        );
    }
    // torch only in the venv (no system site), fastapi only in the system interpreter.
    let torch = inv.components.iter().find(|c| c.name == "torch").unwrap();
    assert_eq!(
        torch.location.as_deref(),
        Some("/app/.venv/lib/python3.12/site-packages")
    );
    let pythons: Vec<_> = inv
        .components
        .iter()
        .filter(|c| c.kind == Kind::Runtime && c.name == "python")
        .collect();
    assert_eq!(pythons.len(), 2, "the system interpreter and the venv");
    assert_eq!(
        inv.os.as_ref().unwrap().pretty_name.as_deref(),
        Some("Alpine Linux v3.20")
    );
    assert!(inv.env_names.contains("OPENAI_API_KEY"));
    let doc = cyclonedx::container_bom(&inv);
    assert!(!doc.to_string().contains("sk-secret"));
    assert_valid_cyclonedx(&doc);
    assert_eq!(inv.package_count(), 9, "3 apk, 4 pypi, 2 npm");
    // Same inputs, same digest; one version changed, another digest.
    let again = collect(
        "app",
        &procs,
        &root,
        &CollectConfig {
            model_paths: vec![],
            driver: Some("580.159.04".into()),
        },
        vec![],
    );
    assert_eq!(again.digest(), inv.digest());
    write(
        dir.path(),
        "srv/node_modules/express/package.json",
        r#"{"name": "express", "version": "4.21.1"}"#,
    );
    let changed = collect(
        "app",
        &procs,
        &root,
        &CollectConfig {
            model_paths: vec![],
            driver: Some("580.159.04".into()),
        },
        vec![],
    );
    assert_ne!(changed.digest(), inv.digest());
}

fn python_writes(script: &str, args: &[&Path]) -> bool {
    let Some(py) = common::venv_python("gguf, safetensors") else {
        return false;
    };
    let out = Command::new(py)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

#[test]
fn model_files_from_the_reference_writers() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("models/tiny");
    std::fs::create_dir_all(&model).unwrap();
    let gguf = dir.path().join("tiny.gguf");
    let st = model.join("model.safetensors");
    let written = python_writes(
        "import sys, numpy as np, gguf\nfrom safetensors.numpy import save_file\n\
         w = gguf.GGUFWriter(sys.argv[1], 'llama')\nw.add_name('TinyLlama-1.1B-test')\nw.add_context_length(2048)\n\
         w.add_token_list(['<s>', '</s>', 'hello'])\nw.add_tensor('token_embd.weight', np.ones((3, 4), dtype=np.float32))\n\
         w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()\n\
         save_file({'model.embed_tokens.weight': np.arange(12, dtype=np.float32).reshape(3, 4)}, sys.argv[2], metadata={'format': 'pt'})",
        &[&gguf, &st],
    );
    if !written {
        return;
    }
    std::fs::write(model.join("config.json"), r#"{"_name_or_path": "acme/tiny-chat", "architectures": ["LlamaForCausalLM"], "model_type": "llama"}"#).unwrap();

    // A small single file: its fingerprint is what sha256sum prints.
    let g = models::fingerprint(&gguf, "/m/tiny.gguf").unwrap();
    assert_eq!(g.name.as_deref(), Some("TinyLlama-1.1B-test"));
    assert_eq!(g.architecture.as_deref(), Some("llama"));
    assert_eq!(g.format.as_deref(), Some("gguf"));
    if let Some(sum) = common::tool("sha256sum") {
        let out = Command::new(sum).arg(&gguf).output().unwrap();
        let hex = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_string();
        assert_eq!(g.fingerprint, format!("sha256:{hex}"));
    }
    // A Hugging Face directory: named by config.json, every file counted.
    let d = models::fingerprint(&model, "/models/tiny").unwrap();
    assert_eq!(
        (
            d.name.as_deref(),
            d.architecture.as_deref(),
            d.format.as_deref(),
            d.files
        ),
        (
            Some("acme/tiny-chat"),
            Some("LlamaForCausalLM"),
            Some("safetensors"),
            2
        )
    );

    // Past 1 GiB only the headers are read: a 20 GB sparse checkpoint is fingerprinted at once,
    // data changes are not seen, header changes are.
    let big = dir.path().join("big.safetensors");
    let header = br#"{"__metadata__":{"format":"pt"},"w":{"dtype":"U8","shape":[20000000000],"data_offsets":[0,20000000000]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    std::fs::write(&big, &bytes).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(&big).unwrap();
    f.set_len(8 + header.len() as u64 + 20_000_000_000).unwrap();
    drop(f);
    let start = Instant::now();
    let a = models::fingerprint(&big, "/m/big.safetensors").unwrap();
    assert!(start.elapsed() < Duration::from_secs(30), "header only");
    assert_eq!(a.bytes, 8 + header.len() as u64 + 20_000_000_000);
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new().write(true).open(&big).unwrap();
        f.seek(SeekFrom::Start(10_000_000_000)).unwrap();
        f.write_all(b"x").unwrap();
    }
    assert_eq!(
        models::fingerprint(&big, "/m/big.safetensors")
            .unwrap()
            .fingerprint,
        a.fingerprint
    );
    // The reference GGUF grown past 1 GiB: its header and tensor infos are what counts.
    let mut grown = std::fs::read(&gguf).unwrap();
    std::fs::write(dir.path().join("big.gguf"), &grown).unwrap();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("big.gguf"))
        .unwrap();
    f.set_len(2 << 30).unwrap();
    drop(f);
    let gb = models::fingerprint(&dir.path().join("big.gguf"), "/m/big.gguf").unwrap();
    assert_eq!(gb.name.as_deref(), Some("TinyLlama-1.1B-test"));
    grown[30] ^= 1; // inside the metadata
    std::fs::write(dir.path().join("big.gguf"), &grown).unwrap();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("big.gguf"))
        .unwrap();
    f.set_len(2 << 30).unwrap();
    drop(f);
    assert_ne!(
        models::fingerprint(&dir.path().join("big.gguf"), "/m/big.gguf")
            .unwrap()
            .fingerprint,
        gb.fingerprint
    );

    // In a container's inventory, under a configured path, in the CycloneDX document.
    let root_dir = alpine_root();
    let target = root_dir.path().join("models");
    std::fs::rename(&model, &target).unwrap_or_else(|_| {
        std::fs::create_dir_all(&target).unwrap();
    });
    let inv = collect(
        "app",
        &[],
        &Root::new(root_dir.path()),
        &CollectConfig {
            model_paths: vec!["/models".into(), "/nope".into()],
            driver: None,
        },
        vec![],
    );
    assert_eq!(inv.models.len(), 1);
    assert!(
        inv.notes.iter().any(|n| n.contains("/nope")),
        "{:?}",
        inv.notes
    );
    assert_valid_cyclonedx(&cyclonedx::container_bom(&inv));
}

#[test]
fn a_process_that_is_gone_or_exits_mid_scan_degrades_to_notes() {
    // Gone before the scan.
    let inv = collect_pids(
        "main",
        Path::new("/proc"),
        &[u32::MAX - 7],
        &CollectConfig::default(),
    );
    assert!(inv.components.is_empty());
    assert!(
        inv.notes.iter().any(|n| n.contains("not found")),
        "{:?}",
        inv.notes
    );
    // Read while alive, gone while the root is read.
    let mut c = Command::new("sleep").arg("30").spawn().unwrap();
    let p = read_proc(Path::new("/proc"), c.id()).unwrap();
    let root = Root::new(format!("/proc/{}/root", c.id()));
    c.kill().unwrap();
    c.wait().unwrap();
    let inv = collect("main", &[p], &root, &CollectConfig::default(), vec![]);
    assert!(inv.os.is_none());
    assert!(!inv.notes.is_empty());
}

#[test]
fn a_huge_site_packages_is_listed_up_to_the_bound_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let sp = dir.path().join("usr/lib/python3.11/site-packages");
    std::fs::create_dir_all(&sp).unwrap();
    for i in 0..100_000 {
        std::fs::write(sp.join(format!("module_{i}.py")), "").unwrap();
    }
    std::fs::create_dir_all(sp.join("numpy-2.1.0.dist-info")).unwrap();
    std::fs::write(
        sp.join("numpy-2.1.0.dist-info/METADATA"),
        "Name: numpy\nVersion: 2.1.0\n",
    )
    .unwrap();
    let start = Instant::now();
    let inv = collect(
        "main",
        &[proc(1, "/usr/bin/python3.11", &["python3"], "/", &[])],
        &Root::new(dir.path()),
        &CollectConfig::default(),
        vec![],
    );
    eprintln!("100,000 entries scanned in {:?}", start.elapsed());
    assert!(
        inv.notes
            .iter()
            .any(|n| n.contains("more than 50000 entries")),
        "{:?}",
        inv.notes
    );
}

/// Another user's process: the sidecar (here, this test binary run again as `nobody` through
/// util-linux `setpriv`) may not read its root or environment, and says so.
#[test]
fn another_users_process_is_a_permission_note() {
    if let Ok(pid) = std::env::var("AGENTLENS_INVENTORY_FOREIGN_PID") {
        // The unprivileged half.
        let inv = collect_pids(
            "main",
            Path::new("/proc"),
            &[pid.parse().unwrap()],
            &CollectConfig::default(),
        );
        println!("NOTES {}", serde_json::to_string(&inv.notes).unwrap());
        return;
    }
    let is_root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().nth(1).map(|e| e == "0"))
        .unwrap_or(false);
    let target = Command::new("sleep").arg("30").spawn().unwrap();
    let _guard = Child(target);
    let pid = _guard.0.id();
    let notes: Vec<String> = if is_root {
        let Some(setpriv) = common::tool("setpriv") else {
            return;
        };
        let out = Command::new(setpriv)
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "another_users_process_is_a_permission_note",
                "--nocapture",
            ])
            .env("AGENTLENS_INVENTORY_FOREIGN_PID", pid.to_string())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("NOTES "))
            .unwrap_or_else(|| panic!("{text}{}", String::from_utf8_lossy(&out.stderr)));
        serde_json::from_str(line).unwrap()
    } else {
        // Not root: pid 1 belongs to someone else already.
        collect_pids("main", Path::new("/proc"), &[1], &CollectConfig::default()).notes
    };
    assert!(
        notes.iter().any(|n| n.contains("permission denied")),
        "{notes:?}"
    );
}

/// `run` recomputes the inventory when the program changes (a shell that execs Python), not on
/// scrapes; the snapshot carries the digest and counts, `/v1/inventory` the document.
#[test]
fn the_inventory_follows_the_process_set_not_the_scrapes() {
    let Some(py) = common::venv_python("pip") else {
        return;
    };
    let port = common::free_port();
    // The shell execs Python when the test writes a line to its stdin (a builtin `read`: no
    // other process comes and goes meanwhile); Python then reads the same stdin, so it lives
    // until the test drops the sidecar.
    let mut sc = Child(
        Command::new(env!("CARGO_BIN_EXE_agentlens-sidecar"))
            .args(["run", "--gpu", "off", "--interval-ms", "200", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .env("AGENTLENS_INVENTORY_CHECK_MS", "200")
            .args(["--", "sh", "-c"])
            .arg(format!(
                "read line; exec {} -c 'import sys; sys.stdin.read()'",
                py.display()
            ))
            .stdin(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let get = |path: &str| common::get(port, path);
    let inventory = |body: &str| -> Option<serde_json::Value> {
        let s: serde_json::Value = serde_json::from_str(body).ok()?;
        s["inventory"].as_array()?.first().cloned()
    };
    let first = common::wait_until(Duration::from_secs(30), || {
        get("/v1/snapshot").as_deref().and_then(inventory)
    })
    .expect("an inventory");
    assert!(first["counts"].get("pypi").is_none(), "{first}");
    // Scrapes do not recompute it: the shell's process set stays as it is until the test
    // writes to it, so whatever the timing the inventory served is the first one.
    for _ in 0..20 {
        let again = inventory(&get("/v1/snapshot").unwrap()).unwrap();
        assert_eq!(again["collectedAt"], first["collectedAt"]);
        assert!(get("/v1/inventory").is_some_and(|b| b.contains("\"components\"")));
    }
    sc.0.stdin.as_mut().unwrap().write_all(b"\n").unwrap();
    let after = common::wait_until(Duration::from_secs(30), || {
        inventory(&get("/v1/snapshot")?).filter(|i| i["digest"] != first["digest"])
    })
    .expect("the exec was noticed");
    assert!(after["counts"]["pypi"].as_u64().unwrap() > 20, "{after}");
    let doc: serde_json::Value = serde_json::from_str(&get("/v1/inventory").unwrap()).unwrap();
    let one: serde_json::Value =
        serde_json::from_str(&get("/v1/inventory?container=main").unwrap()).unwrap();
    drop(sc);
    assert_eq!(doc["components"][0]["name"], "main");
    assert_eq!(one["metadata"]["component"]["type"], "container");
    assert_valid_cyclonedx(&doc);
}

/// `agentlens-sidecar inventory --root DIR` (what `make images` writes each image's SBOM with)
/// on a distroless-style root: `status.d/<package>` files written from this machine's own dpkg
/// database (`dpkg-query -s`), its os-release; the document lists exactly those packages at the
/// versions `dpkg-query -W` reports and is valid CycloneDX 1.5.
#[test]
fn the_inventory_subcommand_reads_a_distroless_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("var/lib/dpkg/status.d")).unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::copy("/etc/os-release", root.join("etc/os-release")).unwrap();
    let mut want = BTreeMap::new();
    for pkg in ["libc6", "libgcc-s1"] {
        let status = Command::new("dpkg-query")
            .args(["-s", pkg])
            .output()
            .unwrap();
        assert!(status.status.success(), "dpkg-query -s {pkg}");
        std::fs::write(root.join("var/lib/dpkg/status.d").join(pkg), &status.stdout).unwrap();
        let v = Command::new("dpkg-query")
            .args(["-W", "-f", "${Version}", pkg])
            .output()
            .unwrap();
        want.insert(pkg.to_string(), String::from_utf8(v.stdout).unwrap());
    }
    // What distroless also keeps beside each package.
    std::fs::write(
        root.join("var/lib/dpkg/status.d/libc6.md5sums"),
        "x  lib/x\n",
    )
    .unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_agentlens-sidecar"))
        .args(["inventory", "--name", "ghcr.io/agentlens/test:1", "--root"])
        .arg(root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["specVersion"], "1.5");
    assert_eq!(
        doc["metadata"]["component"]["name"],
        "ghcr.io/agentlens/test:1"
    );
    let comps = doc["components"].as_array().unwrap();
    let debs: BTreeMap<String, String> = comps
        .iter()
        .filter(|c| {
            c["purl"]
                .as_str()
                .is_some_and(|p| p.starts_with("pkg:deb/"))
        })
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["version"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(debs, want);
    assert!(
        comps.iter().any(|c| c["type"] == "operating-system"),
        "{comps:?}"
    );
    assert_valid_cyclonedx(&doc);

    let missing = Command::new(env!("CARGO_BIN_EXE_agentlens-sidecar"))
        .args(["inventory", "--root"])
        .arg(root.join("nonexistent"))
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("not a directory"));
}
