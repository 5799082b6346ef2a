//! `AutoInstrumentationMismatch`: whether the zero-code instrumentation (`otlp.autoInstrument`)
//! was built for the CPython that loads it. A layout of `cp311` wheels under a 3.12 interpreter
//! fails silently (its compiled extensions are never looked for, the SDK degrades or does not
//! start), so the sidecars report each container's layout ABI and interpreter ABI
//! (`InventoryDigest::auto_instrument`) and whether they could read its processes at all
//! (`InventoryDigest::process_reads`), and this condition names the agents where they differ,
//! and which agents are instrumented at all.

use std::collections::{BTreeMap, BTreeSet};

use agentlens_crds::autoinstrument::AbiCheck;
use agentlens_crds::snapshot::InventoryDigest;
use agentlens_crds::{AgentDeployment, Snapshot};

use super::PodFacts;
use super::conditions::Computed;

/// The condition's type (one definition, in [`super::conditions::types`]).
pub use super::conditions::types::AUTO_INSTRUMENTATION_MISMATCH;

/// Why an agent's interpreter is not identified; the later the more telling (of an agent's
/// pods and containers, the most telling is named).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Why {
    NoSnapshot,
    NoInventory,
    NoLayout,
    NotIdentified,
    Denied,
}

impl Why {
    fn as_str(self) -> &'static str {
        match self {
            Self::NoSnapshot => "no snapshot from its sidecars yet",
            Self::NoInventory => "no inventory from its sidecars yet",
            Self::NoLayout => "no Python process runs with the layout on PYTHONPATH",
            Self::NotIdentified => "the interpreter or the layout's ABI is not identified yet",
            Self::Denied => "its sidecar may not read the app's processes: permission denied",
        }
    }
}

/// What the sidecars say of one instrumented agent (its containers, in its pods).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// An interpreter of another ABI loads the layout: (pod, container, interpreter, layout).
    Mismatch(String, String, String, String),
    /// Nothing identified yet, and why.
    Unknown(Why),
    /// Every identified interpreter matches: (ABI, processes that loaded it, processes).
    Match(String, u32, u32),
}

/// One container's verdict from its inventory digest. That its sidecar may not read its
/// processes comes from [`InventoryDigest::process_reads`], never from the notes' wording.
fn container_verdict(pod: &str, i: &InventoryDigest) -> Verdict {
    let denied = i.process_reads.denied > 0;
    let Some(a) = &i.auto_instrument else {
        // A sidecar that may not read the app's processes (another user) sees no PYTHONPATH;
        // one whose reads failed otherwise does not know it either.
        return Verdict::Unknown(if denied {
            Why::Denied
        } else if i.process_reads.failed > 0 {
            Why::NotIdentified
        } else {
            Why::NoLayout
        });
    };
    match a.abi_check() {
        AbiCheck::Mismatch => {
            let layout = a.layout_abi.clone().unwrap_or_default();
            let other = a
                .interpreters
                .iter()
                .filter(|i| i.abi != layout)
                .map(|i| i.abi.as_str())
                .collect::<Vec<_>>()
                .join("+");
            Verdict::Mismatch(pod.into(), i.container.clone(), other, layout)
        }
        AbiCheck::Match => Verdict::Match(
            a.layout_abi.clone().unwrap_or_default(),
            a.loaded(),
            a.processes(),
        ),
        AbiCheck::Unknown if denied => Verdict::Unknown(Why::Denied),
        AbiCheck::Unknown => Verdict::Unknown(Why::NotIdentified),
    }
}

/// What one pod's sidecar says of each of the pod's agents (`agents`), with the processes of
/// each that it could not fully read (denied or failed, not gone): each inventoried container
/// speaks for the agent that runs it (`agents[].container`), never for the pod's other agents.
fn pod_verdicts(
    ad: &AgentDeployment,
    pod: &PodFacts,
    agents: &BTreeSet<String>,
    snapshot: Option<&Snapshot>,
) -> Vec<(String, Verdict, u32)> {
    let all = |why: Why| {
        agents
            .iter()
            .map(|a| (a.clone(), Verdict::Unknown(why), 0))
            .collect()
    };
    let Some(s) = snapshot else {
        return all(Why::NoSnapshot);
    };
    if s.inventory.is_empty() {
        return all(Why::NoInventory);
    }
    let mut out: Vec<(String, Verdict, u32)> = s
        .inventory
        .iter()
        .map(|i| {
            let agent = crate::selector::agent_name(ad, &pod.labels, Some(&i.container));
            let r = i.process_reads;
            (
                agent,
                container_verdict(&pod.name, i),
                r.denied.saturating_add(r.failed),
            )
        })
        .collect();
    // An agent whose containers the sidecar has not inventoried yet.
    for a in agents {
        if !out.iter().any(|(x, _, _)| x == a) {
            out.push((a.clone(), Verdict::Unknown(Why::NoInventory), 0));
        }
    }
    out
}

/// Two verdicts of one agent (pods, containers): a mismatch wins, then a match (counts summed;
/// replicas not inventoried yet run the same image), then the most telling reason for not
/// knowing.
fn merge(a: Verdict, b: Verdict) -> Verdict {
    match (a, b) {
        (m @ Verdict::Mismatch(..), _) | (_, m @ Verdict::Mismatch(..)) => m,
        (Verdict::Match(x, l1, p1), Verdict::Match(_, l2, p2)) => {
            Verdict::Match(x, l1 + l2, p1 + p2)
        }
        (m @ Verdict::Match(..), Verdict::Unknown(_))
        | (Verdict::Unknown(_), m @ Verdict::Match(..)) => m,
        (Verdict::Unknown(x), Verdict::Unknown(y)) => Verdict::Unknown(x.max(y)),
    }
}

/// `a`, `a and b`, `a, b and c`: agents named together inside a `, `-separated list.
fn and_list(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The condition, when a pod of the system is instrumented: `True` (`PythonABIMismatch`) naming
/// the agents whose interpreter's CPython ABI differs from their layout's; else `False`,
/// `PythonABIMatches` when every instrumented agent's interpreter was identified and matches,
/// `NotYetObserved` (naming them and why) while some are not. Each verdict is an agent's, from
/// its own containers, so a pod's or container's is named once; agents without evidence for
/// the same reason are named together.
pub fn condition(
    ad: &AgentDeployment,
    pods: &[&PodFacts],
    snapshots: &BTreeMap<String, Snapshot>,
) -> Option<Computed> {
    // agent → (verdict, processes of its containers its sidecars could not fully read)
    let mut agents: BTreeMap<String, (Verdict, u32)> = BTreeMap::new();
    for p in pods.iter().filter(|p| p.auto_instrumented) {
        let names = super::telemetry::agent_names(ad, p);
        for (agent, v, unread) in pod_verdicts(ad, p, &names, snapshots.get(&p.name)) {
            match agents.remove(&agent) {
                Some((prev, n)) => agents.insert(agent, (merge(prev, v), n.saturating_add(unread))),
                None => agents.insert(agent, (v, unread)),
            };
        }
    }
    if agents.is_empty() {
        return None;
    }
    let (mut bad, mut good) = (Vec::new(), Vec::new());
    let mut unknown: BTreeMap<Why, Vec<String>> = BTreeMap::new();
    for (agent, (v, unread)) in agents {
        match v {
            Verdict::Mismatch(pod, container, interp, layout) => bad.push(format!(
                "{agent} (pod {pod}, container {container}: interpreter {interp}, layout {layout})"
            )),
            Verdict::Unknown(why) => unknown.entry(why).or_default().push(agent),
            Verdict::Match(abi, loaded, procs) => good.push(format!(
                "{agent} ({abi}, instrumentation loaded in {loaded} of {procs} processes{})",
                if unread > 0 {
                    format!("; {unread} of its processes not fully readable by its sidecars")
                } else {
                    String::new()
                }
            )),
        }
    }
    // Most telling reason first.
    let unknown: Vec<String> = unknown
        .into_iter()
        .rev()
        .map(|(why, agents)| format!("{} ({})", and_list(&agents), why.as_str()))
        .collect();
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
