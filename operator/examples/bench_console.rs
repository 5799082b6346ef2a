//! `make bench` helper: the console's overview over 1,000 systems (the real-pods dump's
//! AgentDeployment with its status, copied into 100 namespaces) and one system page: render
//! time (median and p99 of 50 renders) and page size; baseline: serialising the same
//! AgentDeployments to JSON (what `kubectl get -o json` hands a browser instead).

// A benchmark harness: a failed set-up step should stop it loudly.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use agentlens_crds::AgentDeployment;
use agentlens_operator::console::facts::{Facts, Snapshot};
use agentlens_operator::console::pages::{self, Mode};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

fn timed(n: usize, mut f: impl FnMut() -> usize) -> (Duration, Duration, usize) {
    let mut times = Vec::with_capacity(n);
    let mut size = 0;
    for _ in 0..n {
        let t = Instant::now();
        size = f();
        times.push(t.elapsed());
    }
    times.sort();
    (times[n / 2], times[n * 99 / 100], size)
}

fn main() {
    let one: AgentDeployment =
        serde_json::from_str(include_str!("../tests/data/inspect/invoice-rpa-dump.json")).unwrap();
    let systems: Vec<AgentDeployment> = (0..1000)
        .map(|i| {
            let mut a = one.clone();
            a.metadata.namespace = Some(format!("team-{:03}", i / 10));
            a.metadata.name = Some(format!("agent-system-{i:04}"));
            a
        })
        .collect();
    let snapshot = Snapshot {
        version: 1,
        facts: Facts {
            systems,
            ..Facts::default()
        },
        ..Snapshot::default()
    };
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let mode = Mode::Served { refresh_seconds: 5 };
    let (median, p99, bytes) = timed(50, || {
        pages::overview_page(&snapshot, mode, &now).unwrap().len()
    });
    let (s_median, s_p99, s_bytes) = timed(50, || {
        pages::system_page(&snapshot, "team-000", "agent-system-0000", mode, &now)
            .unwrap()
            .unwrap()
            .len()
    });
    let (j_median, _, j_bytes) = timed(50, || {
        serde_json::to_vec(&snapshot.facts.systems).unwrap().len()
    });
    println!(
        "overview_median_ms={:.2} overview_p99_ms={:.2} overview_bytes={bytes} system_median_ms={:.3} system_p99_ms={:.3} system_bytes={s_bytes} json_median_ms={:.2} json_bytes={j_bytes}",
        median.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        s_median.as_secs_f64() * 1e3,
        s_p99.as_secs_f64() * 1e3,
        j_median.as_secs_f64() * 1e3,
    );
}
