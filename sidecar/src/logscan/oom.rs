//! Is this log line a GPU out-of-memory error? One pass over the line with a multi-pattern
//! search for the few byte strings every GPU OOM message contains, then rules that separate
//! device memory from host memory and from other CUDA errors.

use super::size::{gpu_index, requested_bytes};

use std::sync::OnceLock;

use aho_corasick::AhoCorasick;

/// A GPU out-of-memory error found in one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OomMatch {
    /// Which stack reported it: `pytorch`, `cuda`, `tensorflow`, `xla`, `vllm`, `cublas`,
    /// `cudnn`, `cufft`, `ggml`, `rocm`, `onnxruntime`, `nccl`, `tensorrt`, `paddle`, `mxnet`,
    /// `thrust`.
    pub framework: &'static str,
    /// Bytes the failed allocation asked for, when the line says.
    pub requested_bytes: Option<u64>,
    /// GPU index named in the line, when it says.
    pub gpu_index: Option<u32>,
}

/// Byte strings at least one of which every GPU OOM line contains. Lines without any of them
/// (nearly all lines) cost one automaton pass.
pub(crate) const TRIGGERS: &[&str] = &[
    "out of memory",
    "Out of memory",
    "OUT_OF_MEMORY",
    "OutOfMemory",
    "MemoryAllocation",
    "ALLOC_FAILED",
    "OOM when allocating",
    "No available memory for the cache blocks",
    "failed to allocate ",
    "Failed to allocate request for",
    "Requested amount of GPU memory",
    "that can be stored in KV cache",
    "To serve at least one request with the model",
    ARENA_FAILURE,
];

/// ONNX Runtime's arena failure names no device: a GPU OOM only in a stream that named the
/// CUDA execution provider (see [`CUDA_PROVIDER`]).
const ARENA_FAILURE: &str = "Failed to allocate memory for requested buffer";

/// How ONNX Runtime logs name its CUDA execution provider: the provider, its source paths in
/// error messages (Windows and Linux builds), its arena.
const CUDA_PROVIDER: &[&str] = &[
    "CUDAExecutionProvider",
    "providers\\cuda\\",
    "providers/cuda/",
    "BFCArena for Cuda",
];

/// Whether a line shows ONNX Runtime running its CUDA execution provider (not the warning
/// that it is unavailable).
pub(crate) fn names_cuda_provider(line: &str) -> bool {
    has_any(line, CUDA_PROVIDER) && !line.contains("not in available provider names")
}

fn triggers() -> Option<&'static AhoCorasick> {
    static AC: OnceLock<Option<AhoCorasick>> = OnceLock::new();
    AC.get_or_init(|| AhoCorasick::new(TRIGGERS).ok()).as_ref()
}

/// Classifies one line (already decoded; any prefix may remain), without the context of its
/// stream.
pub fn classify(line: &str) -> Option<OomMatch> {
    let ac = triggers()?;
    ac.find(line)?;
    classify_candidate(line, false)
}

fn has_any(line: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| line.contains(n))
}

/// Classifies a line that contains a trigger; `cuda_provider` says whether its stream named
/// ONNX Runtime's CUDA execution provider before.
pub(crate) fn classify_candidate(line: &str, cuda_provider: bool) -> Option<OomMatch> {
    // Explicitly not failures, or not device memory.
    if has_any(
        line,
        &[
            "not a failure",                    // TF BFC allocator retry warning
            "pinned memory",                    // page-locked host memory (llama.cpp, PyTorch)
            "host_malloc",                      // ggml_cuda_host_malloc: host memory
            "device:CPU",                       // TF tensor on the CPU device
            "allocator cpu",                    // TF CPU allocator
            "DefaultCPUAllocator",              // PyTorch host allocator
            "java.lang.OutOfMemoryError",       // JVM heap
            "JavaScript heap",                  // V8 heap
            "runtime: out of memory",           // Go runtime
            "XLA:TPU",                          // TPU, not a GPU
            "If you are running out of memory", // vLLM's advice at start-up
        ],
    ) {
        return None;
    }
    let framework = framework_of(line).or_else(|| {
        (cuda_provider && line.contains(ARENA_FAILURE) && line.contains("BFCArena"))
            .then_some("onnxruntime")
    })?;
    Some(OomMatch {
        framework,
        requested_bytes: requested_bytes(line),
        gpu_index: gpu_index(line),
    })
}

/// A framework and whether a line is its GPU OOM message.
type Rule = (&'static str, fn(&str) -> bool);

fn framework_of(line: &str) -> Option<&'static str> {
    let rules: &[Rule] = &[
        ("pytorch", |l| {
            has_any(
                l,
                &[
                    "CUDA out of memory",
                    "XPU out of memory",
                    "MPS backend out of memory",
                ],
            )
        }),
        ("rocm", |l| {
            has_any(
                l,
                &[
                    "HIP out of memory",
                    "hipErrorOutOfMemory",
                    "HIP_ERROR_OutOfMemory",
                ],
            )
        }),
        ("vllm", |l| {
            has_any(
                l,
                &[
                    "No available memory for the cache blocks",
                    "that can be stored in KV cache",
                    "To serve at least one request with the model",
                ],
            )
        }),
        ("cublas", |l| l.contains("CUBLAS_STATUS_ALLOC_FAILED")),
        ("cudnn", |l| l.contains("CUDNN_STATUS_ALLOC_FAILED")),
        ("cufft", |l| l.contains("CUFFT_ALLOC_FAILED")),
        ("tensorflow", |l| l.contains("OOM when allocating tensor")),
        ("xla", xla_failure),
        ("nccl", |l| {
            l.contains("NCCL WARN Cuda failure 'out of memory'")
        }),
        ("tensorrt", tensorrt_failure),
        ("paddle", |l| l.contains("Out of memory error on GPU")),
        ("mxnet", |l| {
            l.contains("MXNetError") && l.contains("out of memory")
        }),
        ("thrust", thrust_failure),
        ("ggml", ggml_buffer_failure),
    ];
    if let Some((name, _)) = rules.iter().find(|(_, rule)| rule(line)) {
        return Some(name);
    }
    let cuda = line.contains("CUDA") || line.contains("cuda");
    if cuda
        && has_any(
            line,
            &["out of memory", "OUT_OF_MEMORY", "MemoryAllocation"],
        )
    {
        if line.contains("onnxruntime") {
            return Some("onnxruntime");
        }
        if line.contains("stream_executor") || line.contains("bfc_allocator") {
            return Some("tensorflow");
        }
        if line.contains("cudaMalloc failed") || line.contains("ggml") {
            return Some("ggml");
        }
        return Some("cuda");
    }
    None
}

/// JAX/XLA's allocator: `RESOURCE_EXHAUSTED: Out of memory while trying to allocate …`,
/// `Resource exhausted: Failed to allocate request for 32.00MiB (33554432B) on device ordinal 0`.
fn xla_failure(line: &str) -> bool {
    let exhausted = line.contains("RESOURCE_EXHAUSTED") || line.contains("Resource exhausted");
    exhausted
        && has_any(
            line,
            &[
                "Out of memory while trying to allocate",
                "Out of memory allocating",
                "Failed to allocate request for",
            ],
        )
}

/// TensorRT's allocator: `Error Code 1: Cuda Runtime (out of memory)`, `Cuda Error in
/// allocate: 2 (out of memory)`, `Error Code 2: OutOfMemory`, `Requested amount of GPU memory
/// (… bytes) could not be allocated`.
fn tensorrt_failure(line: &str) -> bool {
    has_any(
        line,
        &[
            "Cuda Runtime (out of memory)",
            "Error Code 2: OutOfMemory",
            "Requested amount of GPU memory",
        ],
    ) || (line.contains("Cuda Error in ") && line.contains("(out of memory)"))
}

/// Thrust's `bad_alloc` (`std::bad_alloc: cudaErrorMemoryAllocation: out of memory`; its
/// `std::bad_alloc: out of memory` carries the CUDA error string, which plain host `bad_alloc`
/// never does) and `parallel_for failed: out of memory`.
fn thrust_failure(line: &str) -> bool {
    has_any(line, &["bad_alloc: ", "parallel_for failed: ", "thrust::"])
        && has_any(line, &["out of memory", "cudaErrorMemoryAllocation"])
}

/// `failed to allocate CUDA0 buffer of size …` (ggml/llama.cpp for any GPU backend).
fn ggml_buffer_failure(line: &str) -> bool {
    let Some(pos) = line.find("failed to allocate ") else {
        return false;
    };
    let rest = &line[pos + "failed to allocate ".len()..];
    let backend = ["CUDA", "ROCm", "Vulkan", "Metal", "SYCL", "CANN", "MUSA"]
        .iter()
        .any(|b| rest.starts_with(b));
    backend && rest.contains(" buffer")
}
