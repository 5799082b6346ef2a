use super::*;
use agentlens_crds::autoinstrument::AbiCheck;

/// Where the layout was when the maps were captured (`sidecar/tests/data/autoinstrument/`).
const CAPTURED_LAYOUT: &str = "/tmp/abicap/otel-auto-instrumentation-python";

fn maps(name: &str) -> &'static str {
    match name {
        "venv-pyenv-3.11.7" => {
            include_str!("../../../tests/data/autoinstrument/venv-pyenv-3.11.7.maps")
        }
        "pyenv-3.12.1" => include_str!("../../../tests/data/autoinstrument/pyenv-3.12.1.maps"),
        "debian-3.11" => include_str!("../../../tests/data/autoinstrument/debian-3.11.maps"),
        "debian-3.11-bare" => {
            include_str!("../../../tests/data/autoinstrument/debian-3.11-bare.maps")
        }
        _ => "",
    }
}

#[test]
fn abi_tags_from_file_names() {
    // (case, function, file, tag)
    type F = fn(&str) -> Option<String>;
    let cases: [(&str, F, &str, Option<&str>); 14] = [
        (
            "shared_libpython",
            abi_of_libpython,
            "libpython3.11.so.1.0",
            Some("cp311"),
        ),
        (
            "libpython_dev_link",
            abi_of_libpython,
            "libpython3.12.so",
            Some("cp312"),
        ),
        (
            "free_threaded_libpython",
            abi_of_libpython,
            "libpython3.13t.so.1.0",
            Some("cp313t"),
        ),
        (
            "debug_libpython_same_tag",
            abi_of_libpython,
            "libpython3.11d.so.1.0",
            Some("cp311"),
        ),
        (
            "stable_abi_library",
            abi_of_libpython,
            "libpython3.so",
            None,
        ),
        (
            "debian_executable",
            abi_of_executable,
            "python3.11",
            Some("cp311"),
        ),
        (
            "free_threaded_executable",
            abi_of_executable,
            "python3.13t",
            Some("cp313t"),
        ),
        ("unversioned_executable", abi_of_executable, "python3", None),
        (
            "config_script",
            abi_of_executable,
            "python3.11-config",
            None,
        ),
        (
            "lib_dynload_module",
            abi_of_extension,
            "_json.cpython-311-x86_64-linux-gnu.so",
            Some("cp311"),
        ),
        (
            "free_threaded_module",
            abi_of_extension,
            "_json.cpython-313t-x86_64-linux-gnu.so",
            Some("cp313t"),
        ),
        (
            "aarch64_module",
            abi_of_extension,
            "_ssl.cpython-312-aarch64-linux-gnu.so",
            Some("cp312"),
        ),
        (
            "stable_abi_module",
            abi_of_extension,
            "_message.abi3.so",
            None,
        ),
        (
            "pypy_module",
            abi_of_extension,
            "_cffi.pypy39-pp73-x86_64-linux-gnu.so",
            None,
        ),
    ];
    for (case, f, file, want) in cases {
        assert_eq!(f(file).as_deref(), want, "{case}");
    }
}

#[test]
fn the_interpreters_abi_and_the_layouts_load_from_real_maps() {
    let layout = vec![CAPTURED_LAYOUT.to_string()];
    // (case, maps, executable as /proc/<pid>/exe names it, ABI and evidence, loaded)
    let cases = [
        (
            "agent_venv_of_pyenv_3_11",
            "venv-pyenv-3.11.7",
            "/root/.pyenv/versions/3.11.7/bin/python3.11",
            Some(("cp311", AbiEvidence::Libpython)),
            true,
        ),
        (
            "pyenv_3_12_with_the_cp311_layout",
            "pyenv-3.12.1",
            "/root/.pyenv/versions/3.12.1/bin/python3.12",
            Some(("cp312", AbiEvidence::Libpython)),
            true,
        ),
        (
            "debian_static_libpython",
            "debian-3.11",
            "/usr/bin/python3.11",
            Some(("cp311", AbiEvidence::Executable)),
            true,
        ),
        (
            "copied_venv_binary_named_python3",
            "debian-3.11",
            "/srv/venv/bin/python3",
            Some(("cp311", AbiEvidence::Extension)),
            true,
        ),
        (
            "copied_binary_right_after_start",
            "debian-3.11-bare",
            "/srv/venv/bin/python3",
            None,
            false,
        ),
    ];
    for (case, m, exe, want, loaded) in cases {
        let mapped = mapped_files(maps(m));
        let got = interpreter_abi(exe, &mapped, &layout);
        assert_eq!(got.as_ref().map(|(a, e)| (a.as_str(), *e)), want, "{case}");
        assert_eq!(mapped.iter().any(|p| under(p, &layout)), loaded, "{case}");
    }
}

#[test]
fn the_layouts_own_extensions_are_no_evidence_of_the_interpreter() {
    // Only the layout's cp311 modules mapped, executable unversioned: unknown, not cp311.
    let maps = format!(
        "7f00-7f01 r--p 00000000 08:01 42 {CAPTURED_LAYOUT}/wrapt/_wrappers.cpython-311-x86_64-linux-gnu.so\n"
    );
    let mapped = mapped_files(&maps);
    assert_eq!(
        interpreter_abi("/srv/venv/bin/python3", &mapped, &[CAPTURED_LAYOUT.into()]),
        None
    );
    // A sibling directory whose name starts like the layout's is not the layout.
    assert!(!under(
        &format!("{CAPTURED_LAYOUT}-old/x.so"),
        &[CAPTURED_LAYOUT.into()]
    ));
}

#[test]
fn maps_paths_with_spaces_and_deleted_files() {
    let maps = "00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/python3.11\n\
                7f1e-7f1f rw-p 00000000 00:00 0 \n\
                7f20-7f21 r--p 00000000 08:02 99  /srv/my app/lib.so (deleted)\n\
                7ffd-7ffe rw-p 00000000 00:00 0                          [stack]\n\
                00452000-00453000 r--p 00052000 08:02 173521      /usr/bin/python3.11\n";
    assert_eq!(
        mapped_files(maps),
        ["/usr/bin/python3.11", "/srv/my app/lib.so"]
    );
}

fn process(layout: &str, abi: Option<&str>, loaded: bool) -> ProcessSeen {
    ProcessSeen {
        layout: layout.into(),
        abi: abi.map(|a| (a.to_string(), AbiEvidence::Executable)),
        loaded,
    }
}

#[test]
fn processes_sum_into_the_containers_view() {
    let m = agentlens_crds::autoinstrument::MOUNT_PATH;
    let gunicorn = [
        process(m, Some("cp311"), true),
        process(m, Some("cp311"), true),
        process(m, Some("cp311"), false),
        process(m, None, false),
    ];
    let seen = summarise(&gunicorn, |_| Some("cp311".into())).unwrap();
    assert_eq!(seen.path, m);
    assert_eq!(seen.interpreters.len(), 1);
    assert_eq!(
        (seen.interpreters[0].processes, seen.interpreters[0].loaded),
        (3, 2)
    );
    assert_eq!(
        (seen.unidentified, seen.processes(), seen.loaded()),
        (1, 4, 2)
    );
    assert_eq!(seen.abi_check(), AbiCheck::Match);
    assert!(unsettled(&seen), "one worker has not loaded yet");

    // (case, processes, layout ABI, check, unsettled)
    let cases = [
        (
            "all_loaded",
            vec![process(m, Some("cp311"), true)],
            Some("cp311"),
            AbiCheck::Match,
            false,
        ),
        (
            "mismatch_not_loaded_yet",
            vec![process(m, Some("cp312"), false)],
            Some("cp311"),
            AbiCheck::Mismatch,
            true,
        ),
        (
            "mismatch_loaded",
            vec![process(m, Some("cp312"), true)],
            Some("cp311"),
            AbiCheck::Mismatch,
            false,
        ),
        (
            "nothing_identified_yet",
            vec![process(m, None, false)],
            Some("cp311"),
            AbiCheck::Unknown,
            true,
        ),
        (
            "abi_file_missing",
            vec![process(m, Some("cp311"), true)],
            None,
            AbiCheck::Unknown,
            false,
        ),
    ];
    for (case, procs, layout_abi, check, open) in cases {
        let seen = summarise(&procs, |_| layout_abi.map(Into::into)).unwrap();
        assert_eq!(seen.abi_check(), check, "{case}");
        assert_eq!(unsettled(&seen), open, "{case}");
    }
    assert_eq!(summarise(&[], |_| None), None);

    // More ABIs than kept: the rest count as unidentified, nothing is dropped silently.
    let many: Vec<ProcessSeen> = ["cp39", "cp310", "cp311", "cp312", "cp313"]
        .iter()
        .map(|a| process(m, Some(a), false))
        .collect();
    let seen = summarise(&many, |_| None).unwrap();
    assert_eq!(
        (seen.interpreters.len(), seen.unidentified),
        (AutoInstrumentSeen::MAX_INTERPRETERS, 1)
    );
}

#[test]
fn the_abi_file_is_one_short_tag() {
    // (case, file content, tag)
    let cases = [
        ("written_by_the_layout_script", "cp311\n", Some("cp311")),
        ("free_threaded", "cp313t", Some("cp313t")),
        ("empty", "\n", None),
        ("not_a_tag", "cp311; rm -rf /", None),
    ];
    for (case, text, want) in cases {
        assert_eq!(parse_abi_file(text).as_deref(), want, "{case}");
    }
}

#[test]
fn unreadable_maps_are_recorded_not_taken_for_nothing_mapped() {
    use super::super::reads::ReadOutcome;
    use agentlens_crds::autoinstrument::{InstrumentProvider, MOUNT_PATH, python_path};
    // A /proc whose processes' maps are: the captured agent venv's, a directory (a read that
    // fails for another reason than permission or exit), missing (the process exited). A
    // denied read is `reads.rs`' table and `sidecar/tests/autoinstrument_abi.rs` (as another
    // user: this may run as root, which reads a file of mode 000 anyway).
    let proc_root = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let layout = root.path().join(MOUNT_PATH.trim_start_matches('/'));
    std::fs::create_dir_all(&layout).unwrap();
    std::fs::write(layout.join(PYTHON_ABI_FILE), "cp311\n").unwrap();
    // (pid, maps, outcome)
    let cases = [
        (11, Some(maps("venv-pyenv-3.11.7")), ReadOutcome::Read),
        (12, None, ReadOutcome::Failed),
        (13, Some("gone"), ReadOutcome::Gone),
    ];
    let mut procs = Vec::new();
    for (pid, m, _) in cases {
        let dir = proc_root.path().join(pid.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        match m {
            Some("gone") => {}
            Some(text) => std::fs::write(dir.join("maps"), text).unwrap(),
            None => std::fs::create_dir(dir.join("maps")).unwrap(),
        }
        procs.push(ProcInfo {
            pid,
            exe: "/root/.pyenv/versions/3.11.7/bin/python3.11".into(),
            cmdline: vec!["python3.11".into(), "agent.py".into()],
            env: BTreeMap::from([(
                "PYTHONPATH".to_string(),
                python_path(InstrumentProvider::OpenTelemetry, None),
            )]),
            ..ProcInfo::default()
        });
    }
    let mut reads = ReadLog::default();
    let seen = observe(
        proc_root.path(),
        &procs,
        &Root::new(root.path()),
        &mut reads,
    )
    .unwrap();
    for (pid, _, want) in cases {
        assert_eq!(reads.outcome(pid), Some(want), "process {pid}");
    }
    let r = reads.summary();
    assert_eq!((r.processes, r.denied, r.gone, r.failed), (3, 0, 1, 1));
    // Each still counts, by its executable; only the readable one shows the layout loaded
    // (the captured maps' layout lies elsewhere, so none does here).
    assert_eq!(seen.layout_abi.as_deref(), Some("cp311"));
    assert_eq!(seen.processes(), 3);
    assert_eq!(seen.interpreters[0].abi, "cp311");
}
