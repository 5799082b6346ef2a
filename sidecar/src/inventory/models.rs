//! Model artifact fingerprints that stay cheap for 100 GB checkpoints, and the metadata that
//! names the model.
//!
//! The fingerprint of a path: every regular file under it (depth 3, dot-files skipped, sorted by
//! relative path) contributes `path<TAB>size<TAB>method<TAB>sha256` where the sha256 is over
//! - the whole file when it is under 1 GiB (`full`);
//! - a safetensors file's 8-byte length and JSON header, which lists every tensor's name,
//!   dtype, shape and byte range (`header`);
//! - a GGUF file's header, metadata and tensor infos, up to where the tensor data starts
//!   (`header`);
//! - otherwise the first and last 16 MiB (`sampled`).
//!
//! The fingerprint is `sha256:` of those lines; a single file under 1 GiB is `sha256:` of the
//! file itself, what `sha256sum` prints. `agentlens-sidecar fingerprint PATH` prints it, for
//! `Model.spec.artifact.digest`.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::ModelArtifact;

/// Files under this size are hashed whole.
pub const FULL_HASH_LIMIT: u64 = 1 << 30;
/// Bytes hashed at each end of a large file of no known format.
const SAMPLE: u64 = 16 << 20;
/// Largest safetensors header or GGUF string accepted.
const MAX_HEADER: u64 = 256 << 20;
/// Files fingerprinted under one path at most.
pub const MAX_FILES: usize = 10_000;

/// Why a path could not be fingerprinted.
#[derive(Debug, thiserror::Error)]
pub enum FingerprintError {
    /// The path could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Nothing to fingerprint.
    #[error("{0}: no files")]
    Empty(String),
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> FingerprintError + '_ {
    move |source| FingerprintError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn files(base: &Path) -> Result<Vec<(String, PathBuf, u64)>, FingerprintError> {
    let meta = std::fs::metadata(base).map_err(io(base))?;
    if meta.is_file() {
        let name = base
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        return Ok(vec![(name, base.to_path_buf(), meta.len())]);
    }
    let mut out = Vec::new();
    let mut stack = vec![(base.to_path_buf(), String::new(), 0)];
    while let Some((dir, rel, depth)) = stack.pop() {
        for e in std::fs::read_dir(&dir).map_err(io(&dir))?.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with('.') {
                continue;
            }
            let r = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let Ok(m) = std::fs::metadata(e.path()) else {
                continue;
            };
            if m.is_dir() && depth < 3 {
                stack.push((e.path(), r, depth + 1));
            } else if m.is_file() && out.len() < MAX_FILES {
                out.push((r, e.path(), m.len()));
            }
        }
    }
    out.sort();
    Ok(out)
}

fn sha_range(f: &mut File, from: u64, len: u64, h: &mut Sha256) -> std::io::Result<()> {
    f.seek(SeekFrom::Start(from))?;
    let mut take = f.take(len);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = take.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        h.update(&buf[..n]);
    }
}

/// The length of a safetensors file's header (8 + JSON), when it is one.
fn safetensors_header(f: &mut File, size: u64) -> Option<u64> {
    let mut n = [0u8; 8];
    f.seek(SeekFrom::Start(0)).ok()?;
    f.read_exact(&mut n).ok()?;
    let len = u64::from_le_bytes(n);
    (len > 1 && len <= MAX_HEADER && 8 + len <= size).then_some(8 + len)
}

/// The safetensors JSON header.
fn safetensors_json(path: &Path) -> Option<serde_json::Value> {
    let mut f = File::open(path).ok()?;
    let size = f.metadata().ok()?.len();
    let end = safetensors_header(&mut f, size)?;
    let mut buf = vec![0u8; usize::try_from(end - 8).ok()?];
    f.read_exact(&mut buf).ok()?;
    serde_json::from_slice(&buf).ok()
}

/// A GGUF reader for the header, metadata and tensor infos.
struct Gguf<R> {
    r: R,
    pos: u64,
}

impl<R: Read> Gguf<R> {
    fn bytes(&mut self, n: u64) -> Option<Vec<u8>> {
        if n > MAX_HEADER {
            return None;
        }
        let mut b = vec![0u8; usize::try_from(n).ok()?];
        self.r.read_exact(&mut b).ok()?;
        self.pos += n;
        Some(b)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.bytes(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.bytes(8)?.try_into().ok()?))
    }
    fn string(&mut self) -> Option<String> {
        let n = self.u64()?;
        Some(String::from_utf8_lossy(&self.bytes(n)?).into_owned())
    }
    /// Reads a value of `ty`; strings are returned, other values skipped.
    fn value(&mut self, ty: u32) -> Option<Option<String>> {
        let fixed = |t: u32| match t {
            0 | 1 | 7 => Some(1u64),
            2 | 3 => Some(2),
            4..=6 => Some(4),
            10..=12 => Some(8),
            _ => None,
        };
        match ty {
            8 => Some(Some(self.string()?)),
            9 => {
                let inner = self.u32()?;
                let n = self.u64()?;
                if let Some(size) = fixed(inner) {
                    let total = n.checked_mul(size)?;
                    // Skip in bounded chunks.
                    let mut left = total;
                    while left > 0 {
                        let step = left.min(1 << 20);
                        self.bytes(step)?;
                        left -= step;
                    }
                } else {
                    for _ in 0..n {
                        self.value(inner)?;
                    }
                }
                Some(None)
            }
            t => {
                self.bytes(fixed(t)?)?;
                Some(None)
            }
        }
    }
}

/// Where a GGUF file's tensor data starts, and its `general.name` and `general.architecture`.
pub fn gguf_header(path: &Path) -> Option<(u64, Option<String>, Option<String>)> {
    let f = File::open(path).ok()?;
    let mut g = Gguf {
        r: BufReader::with_capacity(1 << 20, f),
        pos: 0,
    };
    if g.bytes(4)? != b"GGUF" {
        return None;
    }
    let version = g.u32()?;
    if version < 2 {
        return None;
    }
    let tensors = g.u64()?;
    let kvs = g.u64()?;
    let (mut name, mut arch) = (None, None);
    for _ in 0..kvs {
        let key = g.string()?;
        let ty = g.u32()?;
        let v = g.value(ty)?;
        match key.as_str() {
            "general.name" => name = v,
            "general.architecture" => arch = v,
            _ => {}
        }
    }
    for _ in 0..tensors {
        g.string()?;
        let dims = g.u32()?;
        for _ in 0..dims {
            g.u64()?;
        }
        g.u32()?;
        g.u64()?;
    }
    Some((g.pos, name, arch))
}

/// `(method, hex sha256)` of one file.
fn file_hash(path: &Path, size: u64) -> Result<(&'static str, String), FingerprintError> {
    let mut f = File::open(path).map_err(io(path))?;
    let mut h = Sha256::new();
    let method = if size < FULL_HASH_LIMIT {
        sha_range(&mut f, 0, size, &mut h).map_err(io(path))?;
        "full"
    } else if let Some(end) = safetensors_header(&mut f, size) {
        sha_range(&mut f, 0, end, &mut h).map_err(io(path))?;
        "header"
    } else if let Some((end, _, _)) = gguf_header(path) {
        sha_range(&mut f, 0, end, &mut h).map_err(io(path))?;
        "header"
    } else {
        sha_range(&mut f, 0, SAMPLE, &mut h).map_err(io(path))?;
        sha_range(&mut f, size.saturating_sub(SAMPLE), SAMPLE, &mut h).map_err(io(path))?;
        "sampled"
    };
    Ok((method, format!("{:x}", h.finalize())))
}

fn format_of(name: &str) -> Option<&'static str> {
    let ext = name.rsplit('.').next()?;
    Some(match ext {
        "safetensors" => "safetensors",
        "gguf" => "gguf",
        "bin" | "pt" | "pth" | "ckpt" => "pytorch",
        "onnx" => "onnx",
        "h5" | "keras" => "keras",
        "msgpack" => "flax",
        "engine" | "plan" => "tensorrt",
        _ => return None,
    })
}

/// Fingerprints `path` (a file or a model directory) as the sidecar can open it; `shown` is
/// the path as configured, for the result.
pub fn fingerprint(path: &Path, shown: &str) -> Result<ModelArtifact, FingerprintError> {
    let files = files(path)?;
    if files.is_empty() {
        return Err(FingerprintError::Empty(shown.to_string()));
    }
    let mut lines = Sha256::new();
    let mut single = None;
    let mut bytes = 0u64;
    for (rel, p, size) in &files {
        let (method, hex) = file_hash(p, *size)?;
        lines.update(format!("{rel}\t{size}\t{method}\t{hex}\n"));
        bytes += size;
        if files.len() == 1 && method == "full" {
            single = Some(hex);
        }
    }
    let fingerprint = format!(
        "sha256:{}",
        single.unwrap_or_else(|| format!("{:x}", lines.finalize()))
    );
    // Metadata: the largest model file's format, GGUF or config.json names.
    let largest = files
        .iter()
        .filter(|(r, _, _)| format_of(r).is_some())
        .max_by_key(|(_, _, s)| *s);
    let format = largest
        .and_then(|(r, _, _)| format_of(r))
        .map(str::to_string);
    let (mut name, mut architecture) = (None, None);
    if let Some((r, p, _)) = largest
        && r.ends_with(".gguf")
        && let Some((_, n, a)) = gguf_header(p)
    {
        name = n;
        architecture = a;
    }
    if let Some((_, p, _)) = files.iter().find(|(r, _, _)| r == "config.json")
        && let Ok(t) = super::root::read_bounded(p)
        && let Ok(c) = serde_json::from_str::<serde_json::Value>(&t)
    {
        name = name.or_else(|| {
            c["_name_or_path"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        });
        architecture = architecture.or_else(|| c["architectures"][0].as_str().map(str::to_string));
    }
    if name.is_none()
        && let Some((_, p, _)) = largest
        && let Some(meta) = safetensors_json(p)
    {
        name = meta["__metadata__"]["name"].as_str().map(str::to_string);
    }
    Ok(ModelArtifact {
        path: shown.to_string(),
        fingerprint,
        files: u32::try_from(files.len()).unwrap_or(u32::MAX),
        bytes,
        name,
        format,
        architecture,
    })
}
