//! The stand-in NVML (built from `nvml_standin.c` with the system compiler), the scripted world
//! it replays, and a running `agentlens-sidecar run` that loads it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use crate::common::{free_port, http_get, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_agentlens-sidecar");

/// How long a condition may take to appear (sidecar start, a few samples, a loaded machine).
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The folder holding the built `libnvidia-ml.so.1`; built once per test process. A missing
/// or failing compiler fails the test: there is nothing to skip to.
pub fn library_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/nvml_standin/nvml_standin.c");
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
        let out = Command::new(&cc)
            .args([
                "-shared", "-fPIC", "-O2", "-std=c11", "-Wall", "-Wextra", "-Werror",
            ])
            .arg("-o")
            .arg(dir.path().join("libnvidia-ml.so.1"))
            .arg(&src)
            .arg("-lpthread")
            .output()
            .unwrap_or_else(|e| {
                panic!("the C compiler `{cc}` is needed to build the NVML stand-in: {e}")
            });
        assert!(
            out.status.success(),
            "building the NVML stand-in failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
    .path()
}

/// One scripted GPU.
#[derive(Debug, Clone)]
pub struct Device {
    /// `GPU-…` UUID.
    pub uuid: &'static str,
    /// Product name.
    pub name: &'static str,
    /// Memory total, bytes.
    pub total: u64,
    /// Memory in use, bytes.
    pub used: u64,
    /// Utilisation, percent.
    pub util: u32,
    /// Memory reads after which the GPU is lost; `None` for never.
    pub lost_after: Option<u32>,
}

/// The H200s of `/work/shared/fixtures/gpu` (141 GiB as NVML reports it).
pub fn h200(uuid: &'static str, used: u64, util: u32) -> Device {
    Device {
        uuid,
        name: "NVIDIA H200",
        total: 150_754_820_096,
        used,
        util,
        lost_after: None,
    }
}

/// Whether NVML lists a process as compute or graphics.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// `nvmlDeviceGetComputeRunningProcesses_v3`.
    Compute,
    /// `nvmlDeviceGetGraphicsRunningProcesses_v3`.
    Graphics,
}

/// The world the stand-in replays.
#[derive(Debug, Clone, Default)]
pub struct World {
    text: String,
}

impl World {
    /// A driver and no GPU yet.
    pub fn driver(version: &str) -> Self {
        Self {
            text: format!("driver {version}\n"),
        }
    }

    /// Adds the next GPU (indices follow the order of the calls).
    pub fn device(mut self, d: &Device) -> Self {
        let lost = d.lost_after.map_or(-1, i64::from);
        let _ = writeln!(
            self.text,
            "device {} {} {} {} {lost} {}",
            d.uuid, d.total, d.used, d.util, d.name
        );
        self
    }

    /// Adds a process using `used` bytes on GPU `index`.
    pub fn process(mut self, index: u32, pid: u32, used: u64, kind: Kind) -> Self {
        let kind = match kind {
            Kind::Compute => "compute",
            Kind::Graphics => "graphics",
        };
        let _ = writeln!(self.text, "process {index} {pid} {used} {kind}");
        self
    }

    /// Adds a critical XID event on GPU `index`, delivered once.
    pub fn xid(mut self, index: u32, code: u64) -> Self {
        let _ = writeln!(self.text, "xid {index} {code}");
        self
    }

    /// Makes the NVML function `function` answer the NVML return code `code`.
    pub fn fail(mut self, function: &str, code: i32) -> Self {
        let _ = writeln!(self.text, "fail {function} {code}");
        self
    }
}

/// A running `agentlens-sidecar run` over a shell command, with the stand-in NVML.
pub struct Sidecar {
    child: Child,
    port: u16,
    script: PathBuf,
    dir: tempfile::TempDir,
}

impl Sidecar {
    /// Starts the sidecar with `world` scripted and `env` added to its environment, running
    /// `sh -c script` as the observed command. `{dir}` in `script` is the test's temp dir.
    pub fn start(world: &World, env: &[(&str, &str)], script: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("world.txt");
        let port = free_port();
        let command = script.replace("{dir}", &dir.path().display().to_string());
        let mut c = Command::new(BIN);
        c.args(["run", "--gpu", "auto", "--interval-ms", "100", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["--", "sh", "-c", &command])
            .env("LD_LIBRARY_PATH", library_dir())
            .env("AGENTLENS_NVML_STANDIN_SCRIPT", &path)
            .env_remove("CUDA_VISIBLE_DEVICES")
            .env_remove("NVIDIA_VISIBLE_DEVICES")
            .envs(env.iter().copied())
            .stdin(Stdio::null());
        // The script must exist before the sidecar opens NVML.
        std::fs::write(&path, &world.text).expect("write the script");
        Self {
            child: c.spawn().expect("the sidecar starts"),
            port,
            script: path,
            dir,
        }
    }

    /// Replaces the scripted world (a rename, so the stand-in never reads half a file).
    pub fn set(&self, world: &World) {
        let tmp = self.script.with_extension("tmp");
        std::fs::write(&tmp, &world.text).expect("write the script");
        std::fs::rename(&tmp, &self.script).expect("replace the script");
    }

    /// The test's temp dir (`{dir}` in the command).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Panics unless the sidecar is still running.
    pub fn assert_running(&mut self) {
        let status = self.child.try_wait().expect("wait on the sidecar");
        assert!(status.is_none(), "the sidecar exited: {status:?}");
    }

    /// The parsed `/metrics` once it answers.
    pub fn metrics(&self) -> Option<Metrics> {
        match http_get(self.port, "/metrics") {
            Some((200, body)) => Some(Metrics::parse(&body)),
            _ => None,
        }
    }

    /// `/v1/snapshot` once it answers.
    pub fn snapshot(&self) -> Option<serde_json::Value> {
        match http_get(self.port, "/v1/snapshot") {
            Some((200, body)) => serde_json::from_str(&body).ok(),
            _ => None,
        }
    }

    /// Polls `/metrics` until `f` gives a value; panics with `what` and the last exposition.
    pub fn wait_metrics<T>(&self, what: &str, mut f: impl FnMut(&Metrics) -> Option<T>) -> T {
        let mut last = None;
        wait_until(DEADLINE, || {
            let m = self.metrics()?;
            let v = f(&m);
            last = Some(m);
            v
        })
        .unwrap_or_else(|| panic!("{what}; last /metrics: {last:#?}"))
    }

    /// Polls `/v1/snapshot` until `f` gives a value; panics with `what` and the last snapshot.
    pub fn wait_snapshot<T>(
        &self,
        what: &str,
        mut f: impl FnMut(&serde_json::Value) -> Option<T>,
    ) -> T {
        let mut last = None;
        wait_until(DEADLINE, || {
            let s = self.snapshot()?;
            let v = f(&s["gpu"]);
            last = Some(s);
            v
        })
        .unwrap_or_else(|| panic!("{what}; last snapshot: {last:#?}"))
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        // The observed command and its descendants (a background worker, a PID namespace's
        // init, which ignores SIGTERM) carry this sidecar's own script path in their
        // environment: end exactly those; the sidecar then exits with its command.
        let mark = format!("AGENTLENS_NVML_STANDIN_SCRIPT={}", self.script.display());
        let sidecar = self.child.id() as i32;
        for pid in processes_with_env(&mark) {
            if pid != sidecar {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        let ended = wait_until(Duration::from_secs(10), || {
            self.child.try_wait().ok().flatten()
        });
        if ended.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The processes whose environment holds the entry `mark`.
fn processes_with_env(mark: &str) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|e| e == mark.as_bytes()))
        })
        .collect()
}

/// A child of the test itself, ended when the test ends (passing or not).
pub struct Stranger(pub Child);

impl Drop for Stranger {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One exposition, as (metric name, labels) → value.
#[derive(Debug, Default)]
pub struct Metrics {
    series: BTreeMap<(String, BTreeMap<String, String>), f64>,
}

impl Metrics {
    /// Parses the Prometheus text format (the label values here hold no escapes).
    pub fn parse(text: &str) -> Self {
        let mut series = BTreeMap::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let Some((head, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            let (name, labels) = match head.split_once('{') {
                None => (head.to_string(), BTreeMap::new()),
                Some((name, rest)) => {
                    let labels = rest
                        .trim_end_matches('}')
                        .split("\",")
                        .filter_map(|pair| {
                            let (k, v) = pair.split_once("=\"")?;
                            Some((k.to_string(), v.trim_end_matches('"').to_string()))
                        })
                        .collect();
                    (name.to_string(), labels)
                }
            };
            series.insert((name, labels), value);
        }
        Self { series }
    }

    /// The value of the series `name` with exactly these labels.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.series.get(&(name.to_string(), labels)).copied()
    }

    /// The label sets of every series named `name`.
    pub fn label_sets(&self, name: &str) -> Vec<&BTreeMap<String, String>> {
        self.series
            .keys()
            .filter(|(n, _)| n == name)
            .map(|(_, l)| l)
            .collect()
    }
}

/// Waits until the command wrote a pid into `dir/name` and returns it.
pub fn pid_file(dir: &Path, name: &str) -> u32 {
    let path = dir.join(name);
    wait_until(DEADLINE, || {
        std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
    })
    .unwrap_or_else(|| panic!("{} was never written", path.display()))
}
