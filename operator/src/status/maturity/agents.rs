//! Agent checks (AGT-*): prompts versioned, inter-agent calls logged, RAG recorded, guardrails
//! evaluated, a passed evaluation for what runs.

use super::*;

/// Distinct prompt templates seen in spans, by agent (hash sets).
fn templates_by_agent(e: &Evidence<'_>) -> BTreeMap<String, std::collections::BTreeSet<String>> {
    let mut out: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for g in genai(e) {
        for p in &g.prompts {
            out.entry(p.agent.clone().unwrap_or_default())
                .or_default()
                .insert(p.hash.clone());
        }
    }
    out
}

/// AGT-1: the prompts are tracked with version history.
pub(super) fn prompts_versioned(e: &Evidence<'_>) -> MaturityCheck {
    let area = MaturityArea::Agent;
    let agents = &e.ad.spec.agents;
    let seen = templates_by_agent(e);
    let seen_total: usize = seen.values().map(|h| h.len()).sum();
    if agents.is_empty() {
        // Templates seen in spans carry their own history (hash, first and last use).
        return check(
            "AGT-1",
            area,
            true,
            seen_total > 0,
            if seen_total > 0 {
                format!(
                    "spec.agents is empty; {seen_total} prompt templates seen in spans, tracked by hash with first and last use"
                )
            } else {
                "spec.agents is empty and no prompt template was seen in spans".to_string()
            },
            "list the agents in spec.agents with their prompts (ConfigMap and key), or send OTLP \
             spans with prompt templates (gen_ai.system_instructions, llm.prompt_template.*) to \
             the sidecar",
        );
    }
    // An agent without declared prompts is covered when its templates appear in spans.
    let without: Vec<String> = agents
        .iter()
        .filter(|a| a.prompts.is_empty() && !seen.contains_key(&a.name))
        .map(|a| a.name.clone())
        .collect();
    let untracked: Vec<String> = e
        .status
        .prompts
        .iter()
        .filter(|p| p.hash.is_none())
        .map(|p| match &p.key {
            Some(k) => format!("{}/{k}", p.name),
            None => p.name.clone(),
        })
        .collect();
    let mut next = Vec::new();
    if !without.is_empty() {
        next.push(format!(
            "declare the prompts of {} in spec.agents[].prompts (or send spans with their prompt templates)",
            list(&without)
        ));
    }
    if !untracked.is_empty() {
        next.push(format!(
            "create the prompt ConfigMaps or keys {}",
            list(&untracked)
        ));
    }
    check(
        "AGT-1",
        area,
        true,
        without.is_empty() && untracked.is_empty(),
        format!(
            "{} prompts tracked with content-hash history for {}/{} agents; {seen_total} prompt templates seen in spans",
            e.status.prompts.len() - untracked.len(),
            agents.len() - without.len(),
            agents.len()
        ),
        next.join("; "),
    )
}

/// AGT-2: inter-agent communication is logged.
pub(super) fn inter_agent_calls_logged(e: &Evidence<'_>) -> MaturityCheck {
    let area = MaturityArea::Agent;
    let agents = &e.ad.spec.agents;
    let declared: usize = agents.iter().map(|a| a.talks_to.len()).sum();
    if agents.len() < 2 && declared == 0 && e.status.agent_graph.is_empty() {
        return check(
            "AGT-2",
            area,
            false,
            false,
            "a single agent without talksTo edges: no inter-agent communication",
            "",
        );
    }
    let observed = e.status.agent_graph.len();
    let calls: u64 = e.status.agent_graph.iter().map(|g| g.calls).sum();
    // A declared channel never seen in spans is not logged (not instrumented, or gone).
    let unseen: Vec<String> = agents
        .iter()
        .flat_map(|a| {
            a.talks_to
                .iter()
                .map(move |t| (a.name.as_str(), t.as_str()))
        })
        .filter(|(from, to)| {
            !e.status
                .agent_graph
                .iter()
                .any(|g| g.from == *from && g.to == *to)
        })
        .map(|(from, to)| format!("{from} → {to}"))
        .collect();
    let next = if observed == 0 {
        "log inter-agent calls: send OTLP spans (GenAI semantic conventions: an invoke_agent span \
         per call, named for the called agent) to the sidecar"
            .to_string()
    } else {
        format!(
            "no call seen on {}: instrument it (an invoke_agent span named for the called agent) \
             or remove the talksTo edge if the agents no longer talk",
            list(&unseen)
        )
    };
    check(
        "AGT-2",
        area,
        true,
        observed > 0 && unseen.is_empty(),
        format!(
            "{declared} talksTo edges declared, {} of them seen; {observed} edges observed in spans ({calls} calls)",
            declared - unseen.len()
        ),
        next,
    )
}

/// AGT-3: RAG details are recorded with their history.
pub(super) fn rag_recorded(e: &Evidence<'_>) -> MaturityCheck {
    let area = MaturityArea::Agent;
    let retrievers: Vec<String> = {
        let mut r: Vec<String> = genai(e)
            .iter()
            .flat_map(|g| &g.retrievers)
            .map(|r| {
                format!(
                    "{}/{}",
                    r.store.as_deref().unwrap_or("?"),
                    r.collection.as_deref().unwrap_or("?")
                )
            })
            .collect();
        r.sort();
        r.dedup();
        r
    };
    let Some(rag) = &e.ad.spec.rag else {
        if retrievers.is_empty() {
            return check(
                "AGT-3",
                area,
                false,
                false,
                "no RAG declared in spec.rag and no retriever seen in spans",
                "",
            );
        }
        // Observed but undeclared: the index version and embedding model are unrecorded.
        return check(
            "AGT-3",
            area,
            true,
            false,
            format!(
                "retrievers seen in spans but no spec.rag: {}",
                list(&retrievers)
            ),
            "declare spec.rag (vectorStore, collection, indexVersion, embeddingModel) so the \
             index and embedding model in use are recorded with their history",
        );
    };
    let mut gaps = Vec::new();
    if rag.collection.is_none() {
        gaps.push("spec.rag.collection".to_string());
    }
    if rag.index_version.is_none() {
        gaps.push("spec.rag.indexVersion".to_string());
    }
    match &rag.embedding_model {
        None => gaps.push("spec.rag.embeddingModel".to_string()),
        Some(m) => {
            let declared = e
                .models
                .get(&m.name)
                .and_then(|m| m.spec.artifact.as_ref())
                .and_then(|a| a.digest.as_ref());
            if declared.is_none() {
                gaps.push(format!(
                    "a Model {} with an artifact digest (the embedding model)",
                    m.name
                ));
            }
        }
    }
    check(
        "AGT-3",
        area,
        true,
        gaps.is_empty(),
        format!(
            "vector store {}, collection {}, index version {}, embedding model {}; {} earlier set-ups in status.rag; retrievers seen in spans: {}",
            rag.vector_store,
            rag.collection.as_deref().unwrap_or("-"),
            rag.index_version.as_deref().unwrap_or("-"),
            rag.embedding_model
                .as_ref()
                .map_or("-", |m| m.name.as_str()),
            e.status.rag.as_ref().map_or(0, |r| r.history.len()),
            if retrievers.is_empty() {
                "none".to_string()
            } else {
                list(&retrievers)
            }
        ),
        format!("record {}", gaps.join(", ")),
    )
}

fn own_evaluations<'a>(e: &'a Evidence<'_>) -> impl Iterator<Item = &'a Evaluation> + 'a {
    let name = e.ad.metadata.name.clone().unwrap_or_default();
    e.evaluations
        .iter()
        .copied()
        .filter(move |ev| ev.spec.agent_deployment == name)
}

/// AGT-4: guardrails are declared and their evaluation results recorded.
pub(super) fn guardrails_evaluated(e: &Evidence<'_>) -> MaturityCheck {
    let area = MaturityArea::Agent;
    let guardrails = &e.ad.spec.guardrails;
    if guardrails.is_empty() {
        return check(
            "AGT-4",
            area,
            true,
            false,
            "no guardrail declared in spec.guardrails",
            "declare the guardrails (input, output, tool) in spec.guardrails and record their evaluations as Evaluation objects with spec.guardrail",
        );
    }
    // Guardrail spans are recorded results too (runs and failures per guardrail).
    let in_spans: std::collections::BTreeSet<&str> = genai(e)
        .into_iter()
        .flat_map(|g| &g.guardrails)
        .map(|c| c.name.as_str())
        .collect();
    let unevaluated: Vec<String> = guardrails
        .iter()
        .filter(|g| {
            !in_spans.contains(g.name.as_str())
                && !own_evaluations(e)
                    .any(|ev| ev.spec.guardrail.as_deref() == Some(g.name.as_str()))
        })
        .map(|g| g.name.clone())
        .collect();
    check(
        "AGT-4",
        area,
        true,
        unevaluated.is_empty(),
        format!(
            "{} guardrails declared, {} with recorded results (Evaluations or guardrail spans; {} guardrails seen in spans)",
            guardrails.len(),
            guardrails.len() - unevaluated.len(),
            in_spans.len()
        ),
        format!(
            "record an Evaluation with spec.guardrail, or send guardrail spans, for {}",
            list(&unevaluated)
        ),
    )
}

/// AGT-5: a pre-deployment evaluation passed for what runs now, and online results are recorded.
pub(super) fn evaluation_passed(e: &Evidence<'_>) -> MaturityCheck {
    let area = MaturityArea::Agent;
    // Online results: Evaluation objects, or evaluator spans from the running system.
    let evaluator_runs: u64 = genai(e)
        .iter()
        .flat_map(|g| &g.evaluators)
        .map(|c| c.runs)
        .sum();
    let online = own_evaluations(e)
        .filter(|ev| ev.spec.phase == EvaluationPhase::Online)
        .count()
        + usize::from(evaluator_runs > 0);
    let pre = own_evaluations(e)
        .filter(|ev| ev.spec.phase == EvaluationPhase::PreDeployment && ev.spec.passed)
        .count();
    let models = e.status.models.len();
    let mut next = Vec::new();
    if models == 0 {
        next.push("declare the models so evaluations can name what they cover (MOD-1)".to_string());
    }
    if !e.unevaluated.is_empty() {
        next.push(format!(
            "run and record a passing PreDeployment evaluation covering {}",
            list(e.unevaluated)
        ));
    }
    if online == 0 {
        next.push(
            "record online evaluation results (Evaluation with phase Online, or evaluator spans)"
                .to_string(),
        );
    }
    check(
        "AGT-5",
        area,
        true,
        models > 0 && e.unevaluated.is_empty() && online > 0,
        format!(
            "{pre} passed PreDeployment evaluations, {} model versions running without one, {} Online evaluations, {evaluator_runs} evaluator runs seen in spans",
            e.unevaluated.len(),
            online - usize::from(evaluator_runs > 0)
        ),
        next.join("; "),
    )
}
