//! Reading sizes and GPU indices out of the OOM messages the frameworks print.

/// Parses the size of the failed allocation from the forms the frameworks print.
pub fn requested_bytes(line: &str) -> Option<u64> {
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
        "Cannot allocate ",
        "request for ",
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
pub fn gpu_index(line: &str) -> Option<u32> {
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

    #[test]
    fn paddle_and_xla_request_forms() {
        assert_eq!(
            requested_bytes(
                "Out of memory error on GPU 0. Cannot allocate 3.125000GB memory on GPU 0"
            ),
            Some(3_355_443_200)
        );
        assert_eq!(
            requested_bytes(
                "Failed to allocate request for 32.00MiB (33554432B) on device ordinal 0"
            ),
            Some(33_554_432)
        );
    }
}
