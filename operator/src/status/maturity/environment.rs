//! Environment checks (ENV-*): images resolved to registry digests, an OS and library inventory
//! per agent container, every consumed ConfigMap and Secret tracked by hash.

use super::*;

/// ENV-1: every agent container runs an image resolved to a registry digest.
pub(super) fn images_resolved_to_digests(e: &Evidence<'_>) -> MaturityCheck {
    let area = MaturityArea::Environment;
    let containers = agent_containers(e);
    if containers.is_empty() {
        return check("ENV-1", area, true, false, NO_PODS, NO_PODS_NEXT);
    }
    let without: Vec<String> = e
        .pods
        .iter()
        .flat_map(|p| {
            p.images
                .iter()
                .filter(|(c, _, d)| {
                    d.is_none() && !crate::inject::INFRA_CONTAINERS.contains(&c.as_str())
                })
                .map(move |(c, image, _)| format!("{}/{c} ({image})", p.name))
        })
        .collect();
    check(
        "ENV-1",
        area,
        true,
        without.is_empty(),
        format!(
            "{}/{} agent containers run an image resolved to a registry digest",
            containers.len() - without.len(),
            containers.len()
        ),
        format!(
            "push the images to a registry and run them by digest (image@sha256:…) or from a \
             registry the node resolves: {}",
            list(&without)
        ),
    )
}

/// ENV-2: an OS and library inventory was collected for every agent container.
pub(super) fn inventory_collected(e: &Evidence<'_>) -> MaturityCheck {
    let area = MaturityArea::Environment;
    if e.pods.is_empty() {
        return check("ENV-2", area, true, false, NO_PODS, NO_PODS_NEXT);
    }
    let (checked, failed, missing) = per_container(e, |s, c| {
        s.inventory
            .iter()
            .any(|i| i.container == c && i.packages > 0)
    });
    if checked == 0 {
        return check(
            "ENV-2",
            area,
            true,
            false,
            format!("no sidecar snapshot from {} pod(s)", missing.len()),
            no_snapshot_next(&missing),
        );
    }
    check(
        "ENV-2",
        area,
        true,
        failed.is_empty() && missing.is_empty(),
        format!(
            "an OS and package inventory for {}/{checked} agent containers; {} pod(s) without a snapshot",
            checked - failed.len(),
            missing.len()
        ),
        if missing.is_empty() {
            // From the sidecars' counts, not their notes' wording (cut to a few, for people),
            // and only for the containers that failed: a denial elsewhere explains nothing here.
            let denied = e.snapshots.iter().any(|(pod, s)| {
                s.inventory.iter().any(|i| {
                    i.process_reads.denied > 0 && failed.contains(&format!("{pod}/{}", i.container))
                })
            });
            format!(
                "the sidecar read no packages for {}{}",
                list(&failed),
                if denied {
                    ": it may not read the app's processes and files (permission denied): give the pod a non-root \
                     runAsUser, which the webhook also gives the sidecar, so both run as one user"
                } else {
                    ": see the notes in status.inventory and GET /v1/inventory on port 9477"
                }
            )
        } else {
            no_snapshot_next(&missing)
        },
    )
}

/// ENV-3: every ConfigMap and Secret the pods consume is tracked with a hash and history.
pub(super) fn configs_tracked(e: &Evidence<'_>) -> MaturityCheck {
    let area = MaturityArea::Environment;
    let configs = &e.status.configs;
    let omitted = e.status.omitted.get("configs").copied().unwrap_or(0);
    if configs.is_empty() && omitted == 0 {
        return check(
            "ENV-3",
            area,
            false,
            false,
            "the pods consume no ConfigMap or Secret and spec.configs names none",
            "",
        );
    }
    let untracked: Vec<String> = configs
        .iter()
        .filter(|c| c.hash.is_none())
        .map(|c| {
            let kind = match c.kind {
                ConfigKind::ConfigMap => "ConfigMap",
                ConfigKind::Secret => "Secret",
            };
            format!("{kind} {}", c.name)
        })
        .collect();
    check(
        "ENV-3",
        area,
        true,
        untracked.is_empty(),
        format!(
            "{}/{} ConfigMaps and Secrets tracked with a content hash and history{}",
            configs.len() - untracked.len(),
            configs.len(),
            if omitted > 0 {
                format!(" ({omitted} more not listed)")
            } else {
                String::new()
            }
        ),
        format!(
            "create the missing objects, or let the operator read them (RBAC): {}",
            list(&untracked)
        ),
    )
}
