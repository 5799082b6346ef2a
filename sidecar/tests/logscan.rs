//! Log analysis on real error output from public bug reports (sources in
//! `tests/data/logscan/README.md` and on each case's `###` line).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use agentlens_sidecar::logscan::{Event, GpuOom, Language, ScanConfig, StreamScanner, Traceback};

/// `### name source` headers split a data file into cases.
fn cases(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current = None;
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("### ") {
            let name = h.split_whitespace().next().unwrap().to_string();
            assert!(!out.contains_key(&name), "duplicate case {name}");
            out.insert(name.clone(), Vec::new());
            current = Some(name);
        } else if let Some(name) = &current {
            out.get_mut(name).unwrap().push(line.to_string());
        }
    }
    out
}

/// Runs a case through one stream scanner, lines 10 ms apart.
fn scan(lines: &[String]) -> (Vec<GpuOom>, Vec<Traceback>) {
    let timed: Vec<(u64, String)> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| (i as u64 * 10, l.clone()))
        .collect();
    scan_timed(&timed)
}

fn mib(x: f64) -> Option<u64> {
    Some((x * 1024.0 * 1024.0).round() as u64)
}
fn gib(x: f64) -> Option<u64> {
    Some((x * 1024.0 * 1024.0 * 1024.0).round() as u64)
}

/// (case, framework, requested bytes) — every case must give exactly one GPU OOM event.
type OomRow = (&'static str, &'static str, fn() -> Option<u64>);

const GPU_OOM: &[OomRow] = &[
    ("torch_2_5_oom_h200", "pytorch", || gib(100.0)),
    ("torch_2_2_oom_expandable_segments_hint", "pytorch", || {
        mib(22.0)
    }),
    ("torch_2_1_oom_total_capacty_typo", "pytorch", || gib(1.70)),
    ("torch_2_0_oom_gpu0_total_capacity", "pytorch", || gib(1.69)),
    ("torch_1_8_oom_backticked", "pytorch", || gib(2.26)),
    (
        "torch_1_10_runtimeerror_oom_unclosed_paren",
        "pytorch",
        || mib(92.0),
    ),
    ("torch_oom_more_allocated_than_total", "pytorch", || {
        gib(10.73)
    }),
    ("torch_oom_after_traceback_frames", "pytorch", || mib(496.0)),
    ("torch_2_5_oom_pinokio", "pytorch", || gib(4.22)),
    ("torch_oom_4gb_card", "pytorch", || mib(32.0)),
    ("torch_1_1_oom_cached", "pytorch", || gib(8.13)),
    ("torch_oom_v100_reserved", "pytorch", || mib(512.0)),
    ("torch_oom_kib_units", "pytorch", || Some(1_048_576)),
    ("jax_xla_oom_alphafold", "xla", || Some(7_406_166_528)),
    ("jax_xla_oom_buffer_assignment", "xla", || {
        Some(4_770_354_232)
    }),
    ("jax_xla_oom_allocating", "xla", || Some(20_029_400_304)),
    ("jax_colabfold_notebook_traceback", "xla", || {
        Some(14_285_187_448)
    }),
    ("tf_unified_memory_retries", "tensorflow", || {
        Some(2_740_606_464)
    }),
    ("tf_resource_exhausted_gpu_bfc", "tensorflow", || None),
    ("tf_op_requires_oom_gpu", "tensorflow", || None),
    ("vllm_0_6_no_cache_blocks_compose", "vllm", || None),
    ("vllm_no_cache_blocks_qwen", "vllm", || None),
    ("llama_cpp_cudamalloc_144gb", "ggml", || mib(144_817.04)),
    ("ik_llama_cpp_pipeline_parallel_280gb", "ggml", || {
        mib(279_356.51)
    }),
    ("llama_cpp_compose_repeated", "ggml", || mib(9866.0)),
    ("llama_cpp_rocm_compute_buffer", "ggml", || mib(14_136.04)),
    ("cublas_alloc_failed_linear", "cublas", || None),
    ("cublas_alloc_failed_c10_frames", "cublas", || None),
    ("tf_windows_cublas_handle", "cublas", || None),
    ("lua_torch_cudnn_alloc_failed", "cudnn", || None),
    ("pytorch_cudnn_alloc_failed", "cudnn", || None),
    ("rocm_hip_oom_strix_halo", "rocm", || gib(3.31)),
    ("rocm_hip_oom_16gb_limit", "rocm", || gib(16.0)),
    ("tf_rocm_hip_error_out_of_memory", "rocm", || {
        Some(140_729_850_295_296)
    }),
    ("onnxruntime_cuda_failure_2_stream", "onnxruntime", || None),
    ("cntk_cuda_failure_2", "cuda", || None),
    ("torch_cuda_error_out_of_memory_async_note", "cuda", || None),
    ("torch_acceleratorerror_oom_chained", "cuda", || None),
    ("comfyui_cuda_error_memory_allocation", "cuda", || None),
    ("tf_failed_to_allocate_from_device", "cuda", || {
        Some(19_104_890_880)
    }),
    ("tf_cuda_driver_oom_with_bfc_retries", "tensorflow", || {
        Some(2_282_521_344)
    }),
    ("nccl_cuda_failure_enqueue_repeated", "nccl", || None),
    ("nccl_alloc_cuda_calloc_p2p", "nccl", || None),
    ("nccl_enqueue_open_sora", "nccl", || None),
    ("tensorrt_cuda_runtime_oom_deserialize", "tensorrt", || None),
    ("tensorrt_cuda_error_in_allocate_build", "tensorrt", || None),
    (
        "tensorrt_error_code_2_outofmemory_glob_writer",
        "tensorrt",
        || None,
    ),
    (
        "tensorrt_default_allocator_cuda_runtime",
        "tensorrt",
        || None,
    ),
    (
        "onnxruntime_tensorrt_ep_cuda_error_in_allocate",
        "tensorrt",
        || None,
    ),
    ("paddle_resource_exhausted_gpu0", "paddle", || gib(3.125)),
    (
        "paddle_resource_exhausted_allocated_and_available",
        "paddle",
        || mib(98.000244),
    ),
    ("jax_failed_to_allocate_request_ordinal", "xla", || {
        Some(33_554_432)
    }),
    ("vllm_kv_cache_max_seq_len_worker_prefixed", "vllm", || None),
    ("vllm_kv_cache_max_seq_len_qwen", "vllm", || None),
    ("vllm_kv_cache_max_seq_len_bare_line", "vllm", || None),
    ("vllm_v1_kv_cache_needed_wrapped_xpu", "vllm", || None),
    ("vllm_worker_rank_prefixed_cuda_error_oom", "cuda", || None),
    (
        "torch_rank_prefixed_then_other_rank_traceback",
        "pytorch",
        || gib(2.63),
    ),
    ("mxnet_cudamalloc_retry_wrapped_traceback", "mxnet", || None),
    ("mxnet_cudamalloc_failed_stack_trace", "mxnet", || None),
    ("mxnet_softmax_cudamalloc_in_traceback", "mxnet", || None),
    (
        "thrust_bad_alloc_cuda_error_memory_allocation",
        "thrust",
        || None,
    ),
    ("thrust_bad_alloc_out_of_memory", "thrust", || None),
    ("libtorch_c10_outofmemoryerror_terminate", "pytorch", || {
        mib(212.0)
    }),
    (
        "onnxruntime_cublas_then_bfc_arena_cuda_named",
        "cublas",
        || None,
    ),
];

#[test]
fn every_real_gpu_oom_is_detected_once() {
    let data = cases(include_str!("data/logscan/gpu-oom.log"));
    assert!(data.len() >= 30, "at least 30 real GPU OOM outputs");
    let table: BTreeMap<_, _> = GPU_OOM.iter().map(|(n, f, b)| (*n, (*f, *b))).collect();
    assert_eq!(
        data.keys().map(String::as_str).collect::<Vec<_>>(),
        table.keys().copied().collect::<Vec<_>>(),
        "every case in the data file has a row and every row a case"
    );
    let mut failures = Vec::new();
    for (name, lines) in &data {
        let (framework, bytes) = table[name.as_str()];
        let (ooms, _) = scan(lines);
        if ooms.len() != 1 {
            failures.push(format!("{name}: {} OOM events, want 1", ooms.len()));
            continue;
        }
        if ooms[0].framework != framework {
            failures.push(format!(
                "{name}: framework {}, want {framework}",
                ooms[0].framework
            ));
        }
        if ooms[0].requested_bytes != bytes() {
            failures.push(format!(
                "{name}: requested {:?}, want {:?}",
                ooms[0].requested_bytes,
                bytes()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn real_look_alikes_are_not_gpu_oom() {
    let data = cases(include_str!("data/logscan/not-gpu-oom.log"));
    assert!(data.len() >= 30, "at least 30 real look-alikes");
    let wrongly: Vec<String> = data
        .iter()
        .filter_map(|(name, lines)| {
            let (ooms, _) = scan(lines);
            (!ooms.is_empty()).then(|| format!("{name}: {:?}", ooms[0].message))
        })
        .collect();
    assert!(
        wrongly.is_empty(),
        "taken for GPU OOM:\n{}",
        wrongly.join("\n")
    );
}

/// (case, language, exception, message starts with, frame contains, GPU OOM)
type BlockRow = (
    &'static str,
    Language,
    &'static str,
    &'static str,
    Option<&'static str>,
    bool,
);

const BLOCKS: &[BlockRow] = &[
    (
        "py_torch_oom_h200",
        Language::Python,
        "torch.OutOfMemoryError",
        "CUDA out of memory. Tried to allocate 100.00 GiB",
        Some("File \"<string>\", line 4, in <module>"),
        true,
    ),
    (
        "py_exception_group_taskgroup",
        Language::Python,
        "ExceptionGroup",
        "unhandled errors in a TaskGroup (2 sub-exceptions)",
        Some("taskgroups.py\", line 145, in __aexit__"),
        false,
    ),
    (
        "py_chained_every_line_prefixed",
        Language::Python,
        "RuntimeError",
        "engine config is invalid",
        Some("chained_prefixed.py\", line 19, in <module>"),
        false,
    ),
    (
        "py_logging_exception_first_line_prefixed",
        Language::Python,
        "AttributeError",
        "'NoneType' object has no attribute 'strip'",
        Some("line 5, in post"),
        false,
    ),
    (
        "py_raise_from_direct_cause",
        Language::Python,
        "RuntimeError",
        "Using FortranTracer requires",
        Some("tracing.py\", line 97, in __init__"),
        false,
    ),
    (
        "py_cuda_illegal_access_megatron",
        Language::Python,
        "RuntimeError",
        "CUDA error: an illegal memory access",
        Some("File \"torch/cuda/__init__.py\", line 566, in synchronize"),
        false,
    ),
    (
        "py_cudnn_execution_failed_rnn",
        Language::Python,
        "RuntimeError",
        "cuDNN error: CUDNN_STATUS_EXECUTION_FAILED",
        Some("rnn.py\", line 123, in flatten_parameters"),
        false,
    ),
    (
        "py_tf_resource_exhausted_session",
        Language::Python,
        "tensorflow.python.framework.errors_impl.ResourceExhaustedError",
        "OOM when allocating tensor",
        Some("errors_impl.py\", line 516, in __exit__"),
        true,
    ),
    (
        "java_spring_caused_by_common_frames",
        Language::Java,
        "java.lang.NullPointerException",
        "null",
        Some("com.liugh.config.MyCommandLineRunner.doScanner(MyCommandLineRunner.java:165)"),
        false,
    ),
    (
        "java_application_runner_aioobe",
        Language::Java,
        "java.lang.ArrayIndexOutOfBoundsException",
        "0",
        Some("EnvInitializeRunner.run(EnvInitializeRunner.java:63)"),
        false,
    ),
    (
        "java_logback_prefixed_startup_failure",
        Language::Java,
        "java.lang.NullPointerException",
        "null",
        Some("MediaServerServiceImpl.zlmServerOnline(MediaServerServiceImpl.java:439)"),
        false,
    ),
    (
        "java_heap_space_in_thread_main",
        Language::Java,
        "java.lang.OutOfMemoryError",
        "Java heap space",
        Some("Encoder.<init>(Encoder.java:10)"),
        false,
    ),
    (
        "java_thread0_helpful_npe",
        Language::Java,
        "java.lang.NullPointerException",
        "Cannot invoke",
        Some("ConsoleReader.run(ConsoleReader.java:26)"),
        false,
    ),
    (
        "go_nil_pointer_main",
        Language::Go,
        "runtime error",
        "invalid memory address or nil pointer dereference",
        Some("main.main() /app/main.go:69"),
        false,
    ),
    (
        "go_nil_pointer_goroutine_make",
        Language::Go,
        "runtime error",
        "invalid memory address",
        Some("os/exec.(*Cmd).Wait(…) /usr/local/go/src/os/exec/exec.go:453"),
        false,
    ),
    (
        "go_two_goroutines_exit_status",
        Language::Go,
        "runtime error",
        "invalid memory address",
        Some("main.main() /home/simon/course/intro-to-go/12.go:25"),
        false,
    ),
    (
        "go_fatal_out_of_memory_runtime_stack",
        Language::Go,
        "fatal error",
        "runtime: out of memory",
        None,
        false,
    ),
    (
        "go_stack_overflow",
        Language::Go,
        "fatal error",
        "stack overflow",
        None,
        false,
    ),
    (
        "rust_unwrap_none_1_73",
        Language::Rust,
        "panic",
        "called `Option::unwrap()` on a `None` value",
        Some("src\\explorer_modinfo.rs:45:14"),
        false,
    ),
    (
        "rust_unwrap_err_1_73",
        Language::Rust,
        "panic",
        "called `Result::unwrap()` on an `Err` value: Error(",
        Some("src/client.rs:111:62"),
        false,
    ),
    (
        "rust_old_format_libcore",
        Language::Rust,
        "panic",
        "called `Result::unwrap()` on an `Err` value: ()",
        Some("libcore/result.rs:945:5"),
        false,
    ),
    (
        "rust_backtrace_unnamed_thread",
        Language::Rust,
        "panic",
        "called `Result::unwrap()` on an `Err` value: InvalidParameters",
        Some("src/lib.rs:47:38"),
        false,
    ),
    (
        "rust_old_format_serde",
        Language::Rust,
        "panic",
        "called `Result::unwrap()` on an `Err` value: Syntax(",
        Some("src/libcore/result.rs:1084:5"),
        false,
    ),
    (
        "node_typeerror_with_source_context",
        Language::Node,
        "TypeError",
        "Cannot read properties of undefined (reading 'parentPath')",
        Some("getReplacer ("),
        false,
    ),
    (
        "node_typeerror_bundled_frames",
        Language::Node,
        "TypeError",
        "Cannot read properties of undefined (reading 'NODE_ENV')",
        Some("F4e ("),
        false,
    ),
    (
        "node_internal_loader_old",
        Language::Node,
        "TypeError",
        "Cannot read property 'set' of undefined",
        Some("wrapSafe (internal/modules/cjs/loader.js:1125:15)"),
        false,
    ),
    (
        "py_ci_timestamp_on_every_line",
        Language::Python,
        "KeyError",
        "u'rustc-dev-guide'",
        Some("publish_toolstate.py\", line 205, in update_latest"),
        false,
    ),
    (
        "java_cri_o_prefix_on_every_line",
        Language::Java,
        "org.springframework.web.client.HttpClientErrorException$NotFound",
        "404 Not Found",
        Some("HttpClientErrorException.create(HttpClientErrorException.java:113)"),
        false,
    ),
    (
        "py_exception_ignored_in_frameless",
        Language::Python,
        "TypeError",
        "__del__() missing 1 required positional argument",
        Some("Exception ignored in: <bound method ApiAttribute.__del__"),
        false,
    ),
    (
        "py_exception_ignored_in_with_traceback",
        Language::Python,
        "AttributeError",
        "'NoneType' object has no attribute 'is_available'",
        Some("hf_lm.py\", line 555, in cleanup_resources"),
        false,
    ),
    (
        "node_unhandled_rejection_frameless",
        Language::Node,
        "UnhandledPromiseRejection",
        "This error originated either by throwing",
        None,
        false,
    ),
    (
        "node_unhandled_rejection_warning_frameless",
        Language::Node,
        "UnhandledPromiseRejectionWarning",
        "#<Object>",
        None,
        false,
    ),
    (
        "node_unhandled_rejection_warning_with_frames",
        Language::Node,
        "TypeError",
        "Cannot read property 'finished' of undefined",
        Some("tahoma.js:105:42"),
        false,
    ),
];

#[test]
fn real_error_blocks_become_one_event_each() {
    let data = cases(include_str!("data/logscan/error-blocks.log"));
    assert!(data.len() >= 20, "at least 20 real multi-line error blocks");
    let table: BTreeMap<_, _> = BLOCKS.iter().map(|r| (r.0, r)).collect();
    assert_eq!(
        data.keys().map(String::as_str).collect::<Vec<_>>(),
        table.keys().copied().collect::<Vec<_>>()
    );
    let mut languages = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    for (name, lines) in &data {
        let &&(_, language, exception, message, frame, gpu_oom) = table.get(name.as_str()).unwrap();
        languages.insert(language);
        let (_, tbs) = scan(lines);
        if tbs.len() != 1 {
            failures.push(format!("{name}: {} blocks, want 1: {tbs:#?}", tbs.len()));
            continue;
        }
        let t = &tbs[0];
        let b = &t.block;
        if b.language != language || b.exception != exception || !b.message.starts_with(message) {
            failures.push(format!(
                "{name}: got {:?} {:?} {:?}",
                b.language, b.exception, b.message
            ));
        }
        match (frame, &b.frame) {
            (Some(want), Some(got)) if got.contains(want) => {}
            (None, None) => {}
            (want, got) => failures.push(format!("{name}: frame {got:?}, want {want:?}")),
        }
        if t.gpu_oom != gpu_oom {
            failures.push(format!("{name}: gpu_oom {}", t.gpu_oom));
        }
        if t.fingerprint.len() != 16 {
            failures.push(format!("{name}: fingerprint {}", t.fingerprint));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(languages.len(), 5, "all five languages covered");
}

#[test]
fn the_same_error_at_the_same_place_has_the_same_fingerprint() {
    let data = cases(include_str!("data/logscan/error-blocks.log"));
    let a = scan(&data["go_nil_pointer_main"]).1.remove(0);
    // The same panic, from another pod: other addresses, timestamps prefixed.
    let again: Vec<String> = data["go_nil_pointer_main"]
        .iter()
        .map(|l| {
            format!(
                "2026-11-27T10:00:00.000000000Z {}",
                l.replace("0x1af", "0x2c3")
            )
        })
        .collect();
    let b = scan(&again).1.remove(0);
    assert_eq!(a.fingerprint, b.fingerprint);
    let other = scan(&data["go_two_goroutines_exit_status"]).1.remove(0);
    assert_ne!(a.fingerprint, other.fingerprint);
}

#[test]
fn an_oom_is_counted_once_per_episode_and_again_later() {
    let line = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.10 GiB";
    let mut s = StreamScanner::new(ScanConfig::default());
    let mut ev = Vec::new();
    s.scan(line, 0, &mut ev);
    s.scan(line, 1_500, &mut ev); // the same failure, logged again by a wrapper
    s.scan(line, 60_000, &mut ev); // the next request fails a minute later
    s.finish(&mut ev);
    let ooms = ev.iter().filter(|e| matches!(e, Event::GpuOom(_))).count();
    assert_eq!(ooms, 2);
}

#[test]
fn a_traceback_followed_by_silence_is_finished_when_idle() {
    let data = cases(include_str!("data/logscan/error-blocks.log"));
    let mut s = StreamScanner::new(ScanConfig::default());
    let mut ev = Vec::new();
    for l in &data["py_raise_from_direct_cause"] {
        s.scan(l, 0, &mut ev);
    }
    assert!(ev.is_empty(), "the block may still continue");
    s.flush_idle(500, &mut ev);
    assert!(ev.is_empty());
    s.flush_idle(1_000, &mut ev);
    assert_eq!(ev.len(), 1);
}

#[test]
fn huge_blocks_keep_a_bounded_number_of_lines() {
    let mut s = StreamScanner::new(ScanConfig {
        max_block_lines: 50,
        ..ScanConfig::default()
    });
    let mut ev = Vec::new();
    s.scan("Traceback (most recent call last):", 0, &mut ev);
    for i in 0..10_000 {
        s.scan(
            &format!("  File \"/app/recurse.py\", line {i}, in f"),
            0,
            &mut ev,
        );
        s.scan("    return f(n - 1)", 0, &mut ev);
    }
    s.scan(
        "RecursionError: maximum recursion depth exceeded",
        0,
        &mut ev,
    );
    s.finish(&mut ev);
    let Event::Traceback(t) = &ev[0] else {
        panic!("{ev:?}")
    };
    assert_eq!(t.block.lines.len(), 50);
    assert_eq!(t.block.omitted_lines, 20_002 - 50);
    assert_eq!(t.block.exception, "RecursionError");
}

#[test]
fn invalid_utf8_and_binary_noise_degrade_to_text() {
    let bytes = b"\xff\xfe RuntimeError: CUDA error: out of memory \xc3\x28";
    let text = agentlens_sidecar::logscan::decode(bytes);
    let mut s = StreamScanner::new(ScanConfig::default());
    let mut ev = Vec::new();
    s.scan(&text, 0, &mut ev);
    assert!(matches!(ev.as_slice(), [Event::GpuOom(o)] if o.framework == "cuda"));
}

/// The real PyTorch OOM traceback (H200), its lines.
fn h200() -> Vec<String> {
    include_str!("data/logscan/torch-cuda-oom-h200.stderr")
        .lines()
        .map(str::to_string)
        .collect()
}

/// Lines with the time (ms) each is seen at.
type Timed = Vec<(u64, String)>;

/// Runs timed lines through one scanner; returns (OOM events, tracebacks).
fn scan_timed(lines: &[(u64, String)]) -> (Vec<GpuOom>, Vec<Traceback>) {
    let mut s = StreamScanner::new(ScanConfig::default());
    let mut events = Vec::new();
    for (at, l) in lines {
        s.scan(l, *at, &mut events);
    }
    s.finish(&mut events);
    let (mut ooms, mut tbs) = (Vec::new(), Vec::new());
    for e in events {
        match e {
            Event::GpuOom(o) => ooms.push(o),
            Event::Traceback(t) => tbs.push(t),
        }
    }
    (ooms, tbs)
}

#[test]
fn one_oom_event_per_error_report() {
    let tb = h200();
    let message = tb.last().unwrap().clone();
    // (case, lines with their time in ms, OOM events, tracebacks)
    let storm: Vec<(u64, String)> = (0..10u64)
        .flat_map(|i| tb.iter().map(move |l| (i * 1_500, l.clone())))
        .collect();
    let slow_block: Vec<(u64, String)> = tb
        .iter()
        .enumerate()
        .map(|(i, l)| (i as u64 * 5_000, l.clone()))
        .collect();
    let mut relogged: Vec<(u64, String)> = tb.iter().map(|l| (0, l.clone())).collect();
    relogged.push((20, format!("ERROR:root:{message}")));
    relogged.push((30, message.clone()));
    let mut twice_a_minute_apart = relogged.clone();
    twice_a_minute_apart.extend(tb.iter().map(|l| (60_000, l.clone())));
    let rows: &[(&str, Timed, usize, usize)] = &[
        ("ten tracebacks 1.5 s apart", storm, 10, 10),
        ("one traceback printed over 10 s", slow_block, 1, 1),
        ("a traceback and its message logged again", relogged, 1, 1),
        (
            "the same failure a minute later",
            twice_a_minute_apart,
            2,
            2,
        ),
    ];
    for (name, lines, want_ooms, want_tbs) in rows {
        let (ooms, tbs) = scan_timed(lines);
        assert_eq!((ooms.len(), tbs.len()), (*want_ooms, *want_tbs), "{name}");
    }
}

/// Prefixes a case's lines the way a logging layer does, `stamp(i)` for line `i`.
fn prefixed(lines: &[String], stamp: impl Fn(usize) -> String) -> Vec<String> {
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| format!("{}{l}", stamp(i)))
        .collect()
}

/// Alternates the lines of two sources, as two ranks writing to one pipe do.
fn interleave(a: &[String], b: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..a.len().max(b.len()) {
        out.extend(a.get(i).cloned());
        out.extend(b.get(i).cloned());
    }
    out
}

#[test]
fn real_blocks_under_prefixes_and_interleaving() {
    let data = cases(include_str!("data/logscan/error-blocks.log"));
    let chained = &data["py_raise_from_direct_cause"];
    let go = &data["go_nil_pointer_main"];
    let tb = h200();
    // CRI (containerd) prefix: RFC 3339 nanoseconds lose trailing zeros, so its length varies.
    let cri = |i: usize| format!("2024-05-01T12:00:00.{}Z stderr F ", 1_000_000 + i * 10);
    let rank = |r: u32| move |_| format!("[rank{r}]: ");
    let ray = |_| "(LLMRayActor pid=20770) ERROR 06-28 06:11:45 worker_base.py:145] ".to_string();
    // Real log records of other sources between the lines of one traceback.
    let foreign = [
        "2025-08-19T14:26:55.887890093Z INFO:     187.115.194.5:0 - \"POST /auth/login HTTP/1.1\" 200 OK",
        "INFO 11-27 08:00:01 [engine.py:301] Avg prompt throughput: 1843.2 tokens/s",
    ];
    let mut with_foreign = chained.clone();
    with_foreign.insert(3, foreign[0].to_string());
    with_foreign.insert(6, foreign[1].to_string());
    // (case, lines, exceptions of the blocks found, sorted)
    let rows: Vec<(&str, Vec<String>, Vec<&str>)> = vec![
        (
            "cri prefix, varying length",
            prefixed(&tb, cri),
            vec!["torch.OutOfMemoryError"],
        ),
        (
            "go panic under a cri prefix",
            prefixed(go, cri),
            vec!["runtime error"],
        ),
        (
            "ray actor and vllm logger prefix",
            prefixed(chained, ray),
            vec!["RuntimeError"],
        ),
        (
            "log records between the frames",
            with_foreign,
            vec!["RuntimeError"],
        ),
        (
            "two ranks interleaved",
            interleave(&prefixed(chained, rank(0)), &prefixed(&tb, rank(1))),
            vec!["RuntimeError", "torch.OutOfMemoryError"],
        ),
        (
            "a traceback and a go panic of two ranks",
            interleave(&prefixed(go, rank(3)), &prefixed(chained, rank(2))),
            vec!["RuntimeError", "runtime error"],
        ),
    ];
    let mut failures = Vec::new();
    for (name, lines, want) in &rows {
        let (ooms, tbs) = scan(lines);
        let mut got: Vec<&str> = tbs.iter().map(|t| t.block.exception.as_str()).collect();
        got.sort_unstable();
        if got != *want {
            failures.push(format!("{name}: blocks {got:?}, want {want:?}"));
        }
        let want_ooms = usize::from(want.contains(&"torch.OutOfMemoryError"));
        if ooms.len() != want_ooms {
            failures.push(format!("{name}: {} OOM events", ooms.len()));
        }
        // The frames were read without their prefix.
        if tbs
            .iter()
            .any(|t| t.block.frame.as_deref().is_none_or(|f| f.contains("rank")))
        {
            failures.push(format!(
                "{name}: frames {:?}",
                tbs.iter().map(|t| &t.block.frame).collect::<Vec<_>>()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_megabyte_repr_in_a_traceback_is_stored_bounded_and_counted() {
    let cfg = ScanConfig::default();
    let repr = format!("[{}]", "0.123456789, ".repeat(120_000)); // ~1.5 MB
    let lines = [
        "Traceback (most recent call last):".to_string(),
        "  File \"/app/agent.py\", line 12, in <module>".to_string(),
        format!("    score(batch={repr})"),
        format!("ValueError: cannot score {repr}"),
    ];
    let (_, tbs) = scan(&lines);
    assert_eq!(tbs.len(), 1);
    let b = &tbs[0].block;
    assert_eq!(b.exception, "ValueError");
    assert!(b.message.len() <= 512, "{}", b.message.len());
    assert!(b.lines.iter().all(|l| l.len() <= cfg.max_stored_line_bytes));
    assert!(b.lines.iter().map(String::len).sum::<usize>() <= cfg.max_block_bytes);
    assert_eq!(b.truncated_lines, 2, "both long lines cut and counted");
    assert_eq!(b.lines.len() + b.omitted_lines, 4);
}

#[test]
fn onnxruntime_arena_failures_count_where_the_cuda_provider_was_named() {
    let gpu = cases(include_str!("data/logscan/gpu-oom.log"));
    let cpu = cases(include_str!("data/logscan/not-gpu-oom.log"));
    // The two failures of the real report, a minute apart (two runs).
    let two_runs: Timed = gpu["onnxruntime_cublas_then_bfc_arena_cuda_named"]
        .iter()
        .enumerate()
        .map(|(i, l)| (if i < 2 { 0 } else { 60_000 }, l.clone()))
        .collect();
    let (ooms, _) = scan_timed(&two_runs);
    let got: Vec<(&str, Option<u64>)> = ooms
        .iter()
        .map(|o| (o.framework, o.requested_bytes))
        .collect();
    assert_eq!(got, [("cublas", None), ("onnxruntime", Some(13_111_296))]);
    // The same arena failure in a stream that never named the CUDA provider: not counted.
    let (ooms, _) = scan(&cpu["onnxruntime_bfc_arena_cpu"]);
    assert!(ooms.is_empty());
}
