//! `make bench` helper for the inventory.
//!
//! `bench_inventory DIR`: builds a root under DIR with 2,000 packages (1,200 dpkg stanzas shaped
//! like Debian's, 800 Python distributions with METADATA files in a site-packages of 4,000
//! entries) and a 20 GB sparse safetensors file, then prints the inventory time (median of 5)
//! and the peak memory it added, and the fingerprint time of the 20 GB file.

use std::path::Path;
use std::time::Instant;

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
    let before = kib("VmRSS:");
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
    let start = Instant::now();
    let m = models::fingerprint(
        &root_dir.join("models/big.safetensors"),
        "/models/big.safetensors",
    )?;
    let fp = start.elapsed();
    println!(
        "packages={packages} inventory_ms={:.1} extra_mib={:.1} fingerprint_ms={:.1} fingerprint_bytes={}",
        times[2].as_secs_f64() * 1000.0,
        peak.saturating_sub(before) as f64 / 1024.0,
        fp.as_secs_f64() * 1000.0,
        m.bytes
    );
    Ok(())
}
