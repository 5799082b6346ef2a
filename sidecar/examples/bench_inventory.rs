//! `make bench` helper for the inventory.
//!
//! `bench_inventory DIR`: builds a root under DIR with 2,000 packages (1,200 dpkg stanzas shaped
//! like Debian's, 800 Python distributions with METADATA files in a site-packages of 4,000
//! entries) and a 20 GB sparse safetensors file, then prints the inventory time (median of 5)
//! and the peak memory it added; then the fingerprint time of the 20 GB file (median of 101)
//! beside its baseline: opening the same file and hashing as many bytes from its start as the
//! fingerprint read (counted by the kernel, `rchar` of /proc/self/io), same page cache.

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use agentlens_sidecar::inventory::collect::{CollectConfig, ProcInfo, collect};
use agentlens_sidecar::inventory::models;
use agentlens_sidecar::inventory::root::Root;

fn kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Bytes this process has read through read(2) and the like (`rchar` of /proc/self/io).
fn rchar() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("rchar:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Median of `runs` timings of `f`.
fn median_of(runs: usize, mut f: impl FnMut() -> std::io::Result<()>) -> std::io::Result<Duration> {
    let mut t = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        f()?;
        t.push(start.elapsed());
    }
    t.sort();
    Ok(t[runs / 2])
}

fn build(root: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(root.join("etc"))?;
    std::fs::write(
        root.join("etc/os-release"),
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n",
    )?;
    std::fs::create_dir_all(root.join("var/lib/dpkg"))?;
    let mut status = String::new();
    for i in 0..1200 {
        status.push_str(&format!(
            "Package: libexample{i}\nStatus: install ok installed\nPriority: optional\nSection: libs\n\
             Installed-Size: {}\nMaintainer: Debian Maintainers <pkg@debian.org>\nArchitecture: amd64\n\
             Multi-Arch: same\nSource: example{i}\nVersion: 1.{i}.0-3+deb12u1\nDepends: libc6 (>= 2.34)\n\
             Description: example library {i}\n This package provides the shared library.\n .\n \
             It is used by many programs.\nHomepage: https://example.org/{i}\n\n",
            100 + i
        ));
    }
    std::fs::write(root.join("var/lib/dpkg/status"), status)?;
    let sp = root.join("usr/lib/python3.11/site-packages");
    for i in 0..800 {
        let d = sp.join(format!("package_{i}-2.{i}.1.dist-info"));
        std::fs::create_dir_all(&d)?;
        std::fs::write(
            d.join("METADATA"),
            format!(
                "Metadata-Version: 2.1\nName: package-{i}\nVersion: 2.{i}.1\nSummary: a package\n\nLong description\n"
            ),
        )?;
        std::fs::write(d.join("RECORD"), "x.py,,\n")?;
        for f in 0..4 {
            std::fs::write(sp.join(format!("module_{i}_{f}.py")), "")?;
        }
    }
    std::fs::create_dir_all(root.join("usr/bin"))?;
    std::fs::write(root.join("usr/bin/python3.11"), "")?;
    let header = br#"{"__metadata__":{"format":"pt"},"w":{"dtype":"BF16","shape":[10000000000],"data_offsets":[0,20000000000]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    let big = root.join("models/big.safetensors");
    std::fs::create_dir_all(big.parent().unwrap_or(root))?;
    std::fs::write(&big, &bytes)?;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&big)?
        .set_len(8 + header.len() as u64 + 20_000_000_000)?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .ok_or("usage: bench_inventory DIR")?;
    let root_dir = Path::new(&dir);
    build(root_dir)?;
    let root = Root::new(root_dir);
    let procs = [ProcInfo {
        pid: 1,
        exe: "/usr/bin/python3.11".into(),
        cmdline: vec!["python3".into(), "app.py".into()],
        cwd: "/".into(),
        ..ProcInfo::default()
    }];
    let cfg = CollectConfig::default();
    // Peak memory from here on.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before_rss = kib("VmRSS:");
    let mut times = Vec::new();
    let mut packages = 0;
    for _ in 0..5 {
        let start = Instant::now();
        let inv = collect("app", &procs, &root, &cfg, Vec::new());
        times.push(start.elapsed());
        packages = inv.package_count();
    }
    let peak = kib("VmHWM:");
    times.sort();
    let big = root_dir.join("models/big.safetensors");
    let m = models::fingerprint(&big, "/models/big.safetensors")?;
    // What reading /proc/self/io itself adds to rchar, taken off the fingerprint's count.
    let probe = {
        let a = rchar();
        rchar() - a
    };
    let before = rchar();
    models::fingerprint(&big, "/models/big.safetensors")?;
    let read = (rchar() - before).saturating_sub(probe);
    let fp = median_of(101, || {
        models::fingerprint(&big, "/models/big.safetensors")
            .map(|_| ())
            .map_err(std::io::Error::other)
    })?;
    let mut buf = vec![0u8; usize::try_from(read)?];
    let same = median_of(101, || {
        use sha2::Digest;
        std::fs::File::open(&big)?.read_exact(&mut buf)?;
        std::hint::black_box(sha2::Sha256::digest(&buf));
        Ok(())
    })?;
    println!(
        "packages={packages} inventory_ms={:.1} extra_mib={:.1} fingerprint_us={:.1} fingerprint_bytes={} fingerprint_read_bytes={read} same_bytes_us={:.1}",
        times[2].as_secs_f64() * 1000.0,
        peak.saturating_sub(before_rss) as f64 / 1024.0,
        fp.as_secs_f64() * 1e6,
        m.bytes,
        same.as_secs_f64() * 1e6
    );
    Ok(())
}
