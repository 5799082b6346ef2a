//! Is this log line a GPU out-of-memory error? One pass over the line with a multi-pattern
//! search for the few byte strings every GPU OOM message contains, then rules that separate
//! device memory from host memory and from other CUDA errors.

use std::sync::OnceLock;

use aho_corasick::AhoCorasick;

/// A GPU out-of-memory error found in one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OomMatch {
    /// Which stack reported it: `pytorch`, `cuda`, `tensorflow`, `xla`, `vllm`, `cublas`,
    /// `cudnn`, `ggml`, `rocm`, `onnxruntime`.
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
];

fn triggers() -> Option<&'static AhoCorasick> {
    static AC: OnceLock<Option<AhoCorasick>> = OnceLock::new();
    AC.get_or_init(|| AhoCorasick::new(TRIGGERS).ok()).as_ref()
}

/// Classifies one line (already decoded; any prefix may remain).
pub fn classify(line: &str) -> Option<OomMatch> {
    let ac = triggers()?;
    ac.find(line)?;
    classify_candidate(line)
}

fn has_any(line: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| line.contains(n))
}

pub(crate) fn classify_candidate(line: &str) -> Option<OomMatch> {
    // Explicitly not failures, or not device memory.
    if has_any(
        line,
        &[
            "not a failure",              // TF BFC allocator retry warning
            "pinned memory",              // page-locked host memory (llama.cpp, PyTorch)
            "host_malloc",                // ggml_cuda_host_malloc: host memory
            "device:CPU",                 // TF tensor on the CPU device
            "allocator cpu",              // TF CPU allocator
            "DefaultCPUAllocator",        // PyTorch host allocator
            "java.lang.OutOfMemoryError", // JVM heap
            "JavaScript heap",            // V8 heap
            "runtime: out of memory",     // Go runtime
            "XLA:TPU",                    // TPU, not a GPU
        ],
    ) {
        return None;
    }
    let framework = framework_of(line)?;
    Some(OomMatch {
        framework,
        requested_bytes: requested_bytes(line),
        gpu_index: gpu_index(line),
    })
}

fn framework_of(line: &str) -> Option<&'static str> {
    if has_any(
        line,
        &[
            "CUDA out of memory",
            "XPU out of memory",
            "MPS backend out of memory",
        ],
    ) {
        return Some("pytorch");
    }
    if has_any(
        line,
        &[
            "HIP out of memory",
            "hipErrorOutOfMemory",
            "HIP_ERROR_OutOfMemory",
        ],
    ) {
        return Some("rocm");
    }
    if line.contains("No available memory for the cache blocks") {
        return Some("vllm");
    }
    if line.contains("CUBLAS_STATUS_ALLOC_FAILED") {
        return Some("cublas");
    }
    if line.contains("CUDNN_STATUS_ALLOC_FAILED") {
        return Some("cudnn");
    }
    if line.contains("CUFFT_ALLOC_FAILED") {
        return Some("cufft");
    }
    if line.contains("OOM when allocating tensor") {
        return Some("tensorflow");
    }
    if line.contains("RESOURCE_EXHAUSTED")
        && has_any(
            line,
            &[
                "Out of memory while trying to allocate",
                "Out of memory allocating",
            ],
        )
    {
        return Some("xla");
    }
    if ggml_buffer_failure(line) {
        return Some("ggml");
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

/// Parses the size of the failed allocation from the forms the frameworks print.
fn requested_bytes(line: &str) -> Option<u64> {
    // PyTorch: "Tried to allocate 100.00 GiB" (later in the same message "0 bytes is reserved").
    if let Some(b) = after(line, "Tried to allocate ").and_then(size_with_unit) {
        return Some(b);
    }
    // Exact byte counts: TF "(19104890880 bytes)", XLA "allocate 7406166528 bytes".
    let mut search = line;
    while let Some(pos) = search.find(" bytes") {
        let digits: String = search[..pos]
            .chars()
            .rev()
            .take_while(char::is_ascii_digit)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        if let Ok(n) = digits.parse::<u64>()
            && n >= 1024
        {
            return Some(n);
        }
        search = &search[pos + 1..];
    }
    // ggml: "buffer of size 151851674624", "allocating 144817.04 MiB on device 0".
    for key in [
        "buffer of size ",
        "allocating ",
        "failed to allocate ",
        "trying to allocate ",
    ] {
        if let Some(b) = after(line, key).and_then(size_with_unit) {
            return Some(b);
        }
    }
    None
}

fn after<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.find(key).map(|pos| &line[pos + key.len()..])
}

/// `123`, `123 bytes`, `1.5 GiB`, `17.79G`, `890.06M` at the start of `s`.
fn size_with_unit(s: &str) -> Option<u64> {
    let num_len = s
        .char_indices()
        .take_while(|(_, c)| c.is_ascii_digit() || *c == '.')
        .map(|(i, c)| i + c.len_utf8())
        .last()?;
    let value: f64 = s[..num_len].trim_end_matches('.').parse().ok()?;
    let unit = s[num_len..].trim_start();
    let mult: f64 = if unit.starts_with("bytes") || unit.starts_with("B ") || unit.starts_with("B.")
    {
        1.0
    } else if unit.starts_with("KiB") || unit.starts_with("KB") {
        1024.0
    } else if unit.starts_with("MiB") || unit.starts_with("MB") || unit.starts_with('M') {
        1024.0 * 1024.0
    } else if unit.starts_with("GiB") || unit.starts_with("GB") || unit.starts_with('G') {
        1024.0 * 1024.0 * 1024.0
    } else if unit.starts_with("TiB") || unit.starts_with("TB") || unit.starts_with('T') {
        1024.0 * 1024.0 * 1024.0 * 1024.0
    } else if unit.is_empty()
        || unit.starts_with(' ')
        || unit.starts_with(')')
        || unit.starts_with(',')
    {
        // A bare number is a byte count only when it is an integer of some size.
        if s[..num_len].contains('.') || value < 1024.0 {
            return None;
        }
        1.0
    } else {
        return None;
    };
    let bytes = (value * mult).round();
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// `GPU 0`, `GPU=0`, `on device 1`, `CUDA0`, `device:GPU:0`.
fn gpu_index(line: &str) -> Option<u32> {
    for key in ["GPU ", "GPU=", "on device ", "device:GPU:", "CUDA", "ROCm"] {
        let mut search = line;
        while let Some(pos) = search.find(key) {
            let rest = &search[pos + key.len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if !digits.is_empty() {
                return digits.parse().ok();
            }
            search = rest;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(size_with_unit("100.00 GiB. GPU"), Some(107_374_182_400));
        assert_eq!(size_with_unit("7406166528 bytes."), Some(7_406_166_528));
        assert_eq!(
            size_with_unit("17.79G (19104890880 bytes)"),
            Some(19_101_867_049)
        );
        assert_eq!(
            requested_bytes("failed to allocate 17.79G (19104890880 bytes) from device"),
            Some(19_104_890_880)
        );
        assert_eq!(size_with_unit("1024.00 KiB (GPU 0"), Some(1_048_576));
        assert_eq!(size_with_unit("0"), None);
        assert_eq!(size_with_unit("abc"), None);
    }

    #[test]
    fn gpu_indices() {
        assert_eq!(gpu_index("GPU 0 has a total capacity"), Some(0));
        assert_eq!(gpu_index("out of memory ; GPU=3 ; hostname"), Some(3));
        assert_eq!(
            gpu_index("allocating 9866.00 MiB on device 1: cudaMalloc"),
            Some(1)
        );
        assert_eq!(gpu_index("no index here"), None);
    }
}
