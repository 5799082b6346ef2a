//! `AutoInstrumentationMismatch`: whether the zero-code instrumentation (`otlp.autoInstrument`)
//! was built for the CPython that loads it. A layout of `cp311` wheels under a 3.12 interpreter
//! fails silently (its compiled extensions are never looked for, the SDK degrades or does not
//! start), so the sidecars report each container's layout ABI and interpreter ABI
//! (`InventoryDigest::auto_instrument`) and this condition names the agents where they differ,
//! and which agents are instrumented at all.

use std::collections::BTreeMap;

use agentlens_crds::autoinstrument::{AbiCheck, AutoInstrumentSeen};
use agentlens_crds::{AgentDeployment, Snapshot};

use super::PodFacts;
use super::conditions::Computed;

/// The condition's type (one definition, in [`super::conditions::types`]).
pub use super::conditions::types::AUTO_INSTRUMENTATION_MISMATCH;

/// What one instrumented agent's sidecars say.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// An interpreter of another ABI loads the layout: (pod, container, interpreter, layout).
    Mismatch(String, String, String, String),
    /// Nothing identified yet, and why.
    Unknown(&'static str),
    /// Every identified interpreter matches: (ABI, processes that loaded it, processes).
    Match(String, u32, u32),
}

/// One pod's verdict from its sidecar's snapshot.
fn pod_verdict(pod: &str, snapshot: Option<&Snapshot>) -> Verdict {
    let Some(s) = snapshot else {
        return Verdict::Unknown("no snapshot from its sidecars yet");
    };
    if s.inventory.is_empty() {
        return Verdict::Unknown("no inventory from its sidecars yet");
    }
    let seen: Vec<(&str, &AutoInstrumentSeen)> = s
        .inventory
        .iter()
        .filter_map(|i| {
            i.auto_instrument
                .as_ref()
                .map(|a| (i.container.as_str(), a))
        })
        .collect();
    if seen.is_empty() {
        // A sidecar that may not read the app's processes (another user) sees no PYTHONPATH.
        let denied = s
            .inventory
            .iter()
            .any(|i| i.notes.iter().any(|n| n.contains("permission denied")));
        return Verdict::Unknown(if denied {
            "its sidecar may not read the app's processes: permission denied"
        } else {
            "no Python process runs with the layout on PYTHONPATH"
        });
    }
    let mut out = Verdict::Unknown("the interpreter or the layout's ABI is not identified yet");
    for (container, a) in seen {
        let v = match a.abi_check() {
            AbiCheck::Mismatch => {
                let layout = a.layout_abi.clone().unwrap_or_default();
                let other = a
                    .interpreters
                    .iter()
                    .filter(|i| i.abi != layout)
                    .map(|i| i.abi.as_str())
                    .collect::<Vec<_>>()
                    .join("+");
                Verdict::Mismatch(pod.into(), container.into(), other, layout)
            }
            AbiCheck::Match => Verdict::Match(
                a.layout_abi.clone().unwrap_or_default(),
                a.loaded(),
                a.processes(),
            ),
            AbiCheck::Unknown => continue,
        };
        out = merge(out, v);
    }
    out
}

/// Two verdicts of one agent (pods, containers): a mismatch wins, then a match (counts summed;
/// replicas not inventoried yet run the same image), then the first reason for not knowing.
fn merge(a: Verdict, b: Verdict) -> Verdict {
    match (a, b) {
        (m @ Verdict::Mismatch(..), _) | (_, m @ Verdict::Mismatch(..)) => m,
        (Verdict::Match(x, l1, p1), Verdict::Match(_, l2, p2)) => {
            Verdict::Match(x, l1 + l2, p1 + p2)
        }
        (m @ Verdict::Match(..), Verdict::Unknown(_))
        | (Verdict::Unknown(_), m @ Verdict::Match(..)) => m,
        (u @ Verdict::Unknown(_), Verdict::Unknown(_)) => u,
    }
}

/// The condition, when a pod of the system is instrumented: `True` (`PythonABIMismatch`) naming
/// the agents whose interpreter's CPython ABI differs from their layout's; else `False`,
/// `PythonABIMatches` when every instrumented agent's interpreter was identified and matches,
/// `NotYetObserved` (naming them and why) while some are not.
pub fn condition(
    ad: &AgentDeployment,
    pods: &[&PodFacts],
    snapshots: &BTreeMap<String, Snapshot>,
) -> Option<Computed> {
    let mut agents: BTreeMap<String, Option<Verdict>> = BTreeMap::new();
    for p in pods.iter().filter(|p| p.auto_instrumented) {
        for agent in super::telemetry::agent_names(ad, p) {
            let v = pod_verdict(&p.name, snapshots.get(&p.name));
            let slot = agents.entry(agent).or_default();
            *slot = Some(match slot.take() {
                Some(prev) => merge(prev, v),
                None => v,
            });
        }
    }
    if agents.is_empty() {
        return None;
    }
    let (mut bad, mut unknown, mut good) = (Vec::new(), Vec::new(), Vec::new());
    for (agent, v) in agents.into_iter().filter_map(|(a, v)| Some((a, v?))) {
        match v {
            Verdict::Mismatch(pod, container, interp, layout) => bad.push(format!(
                "{agent} (pod {pod}, container {container}: interpreter {interp}, layout {layout})"
            )),
            Verdict::Unknown(why) => unknown.push(format!("{agent} ({why})")),
            Verdict::Match(abi, loaded, procs) => good.push(format!(
                "{agent} ({abi}, instrumentation loaded in {loaded} of {procs} processes)"
            )),
        }
    }
    let list = |v: &[String]| v.join(", ");
    let (status, reason, message) = if !bad.is_empty() {
        let mut m = format!(
            "instrumentation built for another CPython (its version-specific compiled modules are not imported): {}",
            list(&bad)
        );
        if !good.is_empty() || !unknown.is_empty() {
            let rest: Vec<String> = good.iter().chain(&unknown).cloned().collect();
            m.push_str(&format!("; other instrumented agents: {}", list(&rest)));
        }
        (true, "PythonABIMismatch", m)
    } else if unknown.is_empty() {
        (
            false,
            "PythonABIMatches",
            format!(
                "every instrumented agent's interpreter matches its layout's ABI: {}",
                list(&good)
            ),
        )
    } else {
        let mut m = format!(
            "no ABI mismatch seen; instrumented agents not identified yet: {}",
            list(&unknown)
        );
        if !good.is_empty() {
            m.push_str(&format!("; matching: {}", list(&good)));
        }
        (false, "NotYetObserved", m)
    };
    Some(Computed {
        type_: AUTO_INSTRUMENTATION_MISMATCH,
        status,
        reason,
        message,
    })
}

#[cfg(test)]
mod tests;
