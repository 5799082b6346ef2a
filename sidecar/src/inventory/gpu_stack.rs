//! The GPU software stack in a root: the CUDA toolkit (`version.json`, or `version.txt` of
//! older toolkits), cuDNN (its version header, or the versioned library file names), and the
//! NVIDIA kernel driver (`/proc/driver/nvidia/version`, or NVML's answer).

use super::root::Root;
use super::{Component, Kind};

/// CUDA toolkit version of a `version.json` or `version.txt`.
pub fn parse_cuda(text: &str) -> Option<String> {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
        return v["cuda"]["version"].as_str().map(str::to_string);
    }
    text.lines()
        .find_map(|l| l.trim().strip_prefix("CUDA Version "))
        .map(|v| v.trim().to_string())
}

/// cuDNN version from `cudnn_version.h`.
pub fn parse_cudnn_header(text: &str) -> Option<String> {
    let get = |k: &str| {
        text.lines().find_map(|l| {
            let rest = l.trim().strip_prefix("#define ")?.strip_prefix(k)?;
            let v = rest.trim();
            v.parse::<u32>().ok().map(|n| n.to_string())
        })
    };
    Some(format!(
        "{}.{}.{}",
        get("CUDNN_MAJOR")?,
        get("CUDNN_MINOR")?,
        get("CUDNN_PATCHLEVEL")?
    ))
}

/// The driver version of `/proc/driver/nvidia/version`.
pub fn parse_driver(text: &str) -> Option<String> {
    let line = text.lines().find(|l| l.starts_with("NVRM version:"))?;
    line.split_whitespace()
        .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()) && w.contains('.'))
        .map(str::to_string)
}

/// CUDA, cuDNN and driver components of `root`.
pub fn read(root: &Root, driver: Option<&str>, out: &mut Vec<Component>) {
    let cuda = [
        "/usr/local/cuda/version.json",
        "/usr/local/cuda/version.txt",
    ]
    .iter()
    .find_map(|p| root.read(p).ok().and_then(|t| parse_cuda(&t)));
    if let Some(v) = cuda {
        out.push(Component {
            kind: Kind::Cuda,
            name: "cuda-toolkit".into(),
            version: v,
            purl: None,
            location: Some("/usr/local/cuda".into()),
        });
    }
    let headers = [
        "/usr/include/cudnn_version.h",
        "/usr/include/x86_64-linux-gnu/cudnn_version_v9.h",
        "/usr/include/x86_64-linux-gnu/cudnn_version_v8.h",
        "/usr/local/cuda/include/cudnn_version.h",
    ];
    let mut cudnn = headers.iter().find_map(|p| {
        root.read(p)
            .ok()
            .and_then(|t| parse_cudnn_header(&t))
            .map(|v| (v, *p))
    });
    if cudnn.is_none() {
        for dir in [
            "/usr/lib/x86_64-linux-gnu",
            "/usr/local/cuda/lib64",
            "/usr/lib64",
        ] {
            let found = std::fs::read_dir(root.resolve(dir))
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().to_string();
                    let v = n.strip_prefix("libcudnn.so.")?.to_string();
                    (v.matches('.').count() == 2).then_some(v)
                })
                .max();
            if let Some(v) = found {
                cudnn = Some((v, dir));
                break;
            }
        }
    }
    if let Some((v, at)) = cudnn {
        out.push(Component {
            kind: Kind::Cudnn,
            name: "cudnn".into(),
            version: v,
            purl: None,
            location: Some(at.to_string()),
        });
    }
    let driver = std::fs::read_to_string("/proc/driver/nvidia/version")
        .ok()
        .and_then(|t| parse_driver(&t))
        .or_else(|| driver.map(str::to_string));
    if let Some(v) = driver {
        out.push(Component {
            kind: Kind::Driver,
            name: "nvidia-driver".into(),
            version: v,
            purl: None,
            location: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_version_files() {
        let json = r#"{"cuda" : {"name" : "CUDA SDK", "version" : "12.4.1"}, "cuda_cudart" : {"name" : "CUDA Runtime (cudart)", "version" : "12.4.127"}}"#;
        assert_eq!(parse_cuda(json).as_deref(), Some("12.4.1"));
        assert_eq!(
            parse_cuda("CUDA Version 11.0.228\n").as_deref(),
            Some("11.0.228")
        );
        let h = "#ifndef CUDNN_VERSION_H_\n#define CUDNN_MAJOR 9\n#define CUDNN_MINOR 1\n#define CUDNN_PATCHLEVEL 0\n#define CUDNN_VERSION (CUDNN_MAJOR * 10000 + CUDNN_MINOR * 100 + CUDNN_PATCHLEVEL)\n";
        assert_eq!(parse_cudnn_header(h).as_deref(), Some("9.1.0"));
        let drv = "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.04  Release Build  (dvs-builder@U16-I3-B03-4-3)  Thu Oct  9 21:04:35 UTC 2025\nGCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n";
        assert_eq!(parse_driver(drv).as_deref(), Some("580.159.04"));
    }
}
