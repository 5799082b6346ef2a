//! `make bench` helper: what zero-code instrumentation adds to an agent, per provider, in one run.
//!
//! The agent (`tests/data/autoinstrument/bench_agent.py`, the plain `openai` client) calls the
//! stub OpenAI-compatible server (`stub_openai.py`), uninstrumented and then with exactly what
//! the webhook gives its container for each provider: the patched pod's environment and the
//! shared volume filled by the init container's `agentlens-sidecar copy-tree` of the built
//! layout (`make autoinstrument-tools`), as `tests/autoinstrument.rs` does. The spans go to a
//! real `agentlens-sidecar run --otlp-listen`, whose token counters are checked afterwards.
//!
//! Start-up: RUNS runs per variant, interleaved, each from spawning the interpreter to its first
//! call's answer, and the process's CPU time until then (utime + stime of /proc/PID/stat, all
//! threads); medians. Per call: one run of CALLS sequential calls timed inside the agent (median,
//! p99), and the CPU they cost: the process's CPU from its first answer to the end of the loop /
//! CALLS; then the CPU of its exit (read while it is a zombie), where an SDK flushes the spans
//! its batch processor still holds. The agent runs on CPU 1, the stub and the sidecar on CPU 0.
//!
//! Usage: `bench_autoinstrument [RUNS] [CALLS]` (7, 300); prints one line per variant:
//! `variant=… startup_ms=… startup_cpu_ms=… call_median_us=… call_p99_us=… call_cpu_us=…
//! exit_cpu_ms=… tokens_ok=…`, the instrumented ones with `added_*` against `none`.

// A benchmark harness: a failed set-up step should stop it loudly.
#![allow(clippy::expect_used, clippy::unwrap_used)]

#[path = "../tests/autoinstrument_local/mod.rs"]
mod autoinstrument_local;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agentlens_crds::autoinstrument::InstrumentProvider;
use autoinstrument_local::*;

/// The model the agent asks for (a key of the stub's usage table).
const MODEL: &str = "gpt-4o-mini";

/// One variant's figures.
#[derive(Default)]
struct Figures {
    startup_ms: f64,
    startup_cpu_ms: f64,
    call_median_us: f64,
    call_p99_us: f64,
    call_cpu_us: f64,
    exit_cpu_ms: f64,
    tokens_ok: bool,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// utime + stime of a process, in ms, from /proc/PID/stat (fields 14 and 15, after the `comm`).
fn cpu_ms(pid: u32) -> Option<(char, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // CLK_TCK is 100 on Linux for every architecture this runs on.
    Some((f.first()?.chars().next()?, ticks * 10.0))
}

/// Runs the agent with `env` making `calls` calls after the first: (time to the first answer,
/// CPU ms until then, CPU ms of the calls, CPU ms of the exit, the calls' durations in ns). Its
/// stderr goes to `err`, shown when it fails.
fn run_agent(
    python: &Path,
    env: &[(String, String)],
    calls: usize,
    err: &Path,
) -> (Duration, f64, f64, f64, Vec<u64>) {
    let cmd = spawn_agent(python, "bench_agent.py", env, &[calls.to_string()]);
    // taskset execs the interpreter: the child's pid is the agent's.
    let program = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
    let envs: Vec<_> = cmd
        .get_envs()
        .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned())))
        .collect();
    let start = Instant::now();
    let mut child = Reaped(
        Command::new("taskset")
            .args(["-c", "1"])
            .arg(program)
            .args(args)
            .env_clear()
            .envs(envs)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(err).unwrap())
            .spawn()
            .unwrap(),
    );
    let failed = || std::fs::read_to_string(err).unwrap_or_default();
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let ready = start.elapsed();
    assert_eq!(
        line.trim(),
        "ready",
        "the agent's first call:\n{}",
        failed()
    );
    let pid = child.0.id();
    let at_ready = cpu_ms(pid).expect("the agent's /proc/PID/stat").1;
    {
        use std::io::Write;
        let mut go = child.0.stdin.take().unwrap();
        go.write_all(b"go\n").unwrap();
    }
    line.clear();
    out.read_line(&mut line).unwrap();
    let durations: Vec<u64> = serde_json::from_str(line.trim())
        .unwrap_or_else(|e| panic!("the agent's calls ({e}):\n{}", failed()));
    let after_calls = cpu_ms(pid).expect("the agent's /proc/PID/stat").1;
    // Its CPU once it has exited but is not reaped yet: every thread and the exit flush counted.
    let cpu = wait_for(
        "the agent to exit",
        Duration::from_secs(60),
        || match cpu_ms(pid)? {
            ('Z', ms) => Some(ms),
            _ => {
                std::thread::sleep(Duration::from_millis(1));
                None
            }
        },
    );
    assert!(child.0.wait().unwrap().success(), "{}", failed());
    (
        ready,
        at_ready,
        after_calls - at_ready,
        cpu - after_calls,
        durations,
    )
}

fn tokens(api: u16) -> u64 {
    token_series(&get(api, "/metrics").unwrap_or_default())
        .iter()
        .filter(|((_, kind), _)| kind == "input")
        .map(|(_, v)| v)
        .sum()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(7);
    let calls: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(300);
    let t =
        tools().expect("the sidecar binary and .tools/autoinstrument (make autoinstrument-tools)");
    let dir = tempfile::tempdir().unwrap();
    // Sidecar and stub on CPU 0, the agent on CPU 1: the agent's figures are its own.
    let started = start_sidecar_and_stub(&t, dir.path(), Some("0"));
    let (api, otlp, stub) = (started.api, started.otlp, started.stub);
    let app_env = vec![
        ("OPENAI_BASE_URL", format!("http://127.0.0.1:{stub}/v1")),
        ("OPENAI_API_KEY", "stub-key".to_string()),
        ("MODEL", MODEL.to_string()),
    ];
    let app_pod = pod("researcher", &app_env);
    let pod_name = app_pod["metadata"]["name"].as_str().unwrap().to_string();

    // The variants: the pod as written, then as the webhook patches it for each provider.
    let mut variants: Vec<(&str, Vec<(String, String)>)> = vec![(
        "none",
        app_env
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )];
    for provider in InstrumentProvider::ALL {
        let layout = layout(provider).expect("the provider's layout (make autoinstrument-tools)");
        let (patched, _) = admit(&app_pod, &agentdeployment(provider, None));
        let volume = dir.path().join(provider.as_str());
        run_init_container(
            &t.sidecar,
            &init_container(&patched).unwrap(),
            &layout,
            &volume,
        );
        let env = process_env(&app_container(&patched), &pod_name, &volume, otlp);
        variants.push((provider.as_str(), env));
    }

    let err = dir.path().join("agent.stderr");
    let usage = stub_usage(&t.python);
    let per_call_input = usage[MODEL].1;
    let mut figures: BTreeMap<&str, Figures> = BTreeMap::new();
    let mut startup: BTreeMap<&str, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    // Warm the page cache with each variant once, then the start-up rounds, interleaved.
    for (name, env) in &variants {
        run_agent(&t.python, env, 0, &err);
        startup.entry(name).or_default();
    }
    for _ in 0..runs {
        for (name, env) in &variants {
            let (ready, cpu, _, _, _) = run_agent(&t.python, env, 0, &err);
            let s = startup.get_mut(name).unwrap();
            s.0.push(ready.as_secs_f64() * 1e3);
            s.1.push(cpu);
        }
    }
    for (name, env) in &variants {
        let before = tokens(api);
        let (_, _, cpu, exit_cpu_ms, durations) = run_agent(&t.python, env, calls, &err);
        let (wall, cpus) = startup.get_mut(name).unwrap();
        let mut d: Vec<f64> = durations.iter().map(|&ns| ns as f64 / 1e3).collect();
        d.sort_by(f64::total_cmp);
        let startup_cpu_ms = median(cpus);
        let mut f = Figures {
            startup_ms: median(wall),
            startup_cpu_ms,
            call_median_us: d[d.len() / 2],
            call_p99_us: d[((d.len() - 1) as f64 * 0.99).round() as usize],
            call_cpu_us: cpu * 1e3 / calls as f64,
            exit_cpu_ms,
            tokens_ok: true,
        };
        // The sidecar must have counted every call's input tokens (the spans are the telemetry).
        if *name != "none" {
            let want = before + per_call_input * (calls as u64 + 1);
            let start = Instant::now();
            while tokens(api) < want && start.elapsed() < Duration::from_secs(20) {
                std::thread::sleep(Duration::from_millis(100));
            }
            f.tokens_ok = tokens(api) == want;
        }
        figures.insert(name, f);
    }
    let base = &figures["none"];
    for (name, _) in &variants {
        let f = &figures[name];
        let mut line = format!(
            "variant={name} startup_ms={:.0} startup_cpu_ms={:.0} call_median_us={:.0} call_p99_us={:.0} call_cpu_us={:.0} exit_cpu_ms={:.0} tokens_ok={}",
            f.startup_ms,
            f.startup_cpu_ms,
            f.call_median_us,
            f.call_p99_us,
            f.call_cpu_us,
            f.exit_cpu_ms,
            f.tokens_ok
        );
        if *name != "none" {
            line.push_str(&format!(
                " added_startup_ms={:+.0} added_startup_cpu_ms={:+.0} added_call_median_us={:+.0} added_call_p99_us={:+.0} added_call_cpu_us={:+.0} added_exit_cpu_ms={:+.0}",
                f.startup_ms - base.startup_ms,
                f.startup_cpu_ms - base.startup_cpu_ms,
                f.call_median_us - base.call_median_us,
                f.call_p99_us - base.call_p99_us,
                f.call_cpu_us - base.call_cpu_us,
                f.exit_cpu_ms - base.exit_cpu_ms
            ));
        }
        println!("{line}");
    }
}
