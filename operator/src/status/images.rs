//! Which image digests the pods run: `status.containerStatuses[].imageID` in every form the
//! runtimes write, aggregated per container and image, with digest drift.

use std::collections::BTreeMap;

use agentlens_crds::agentdeployment_status::ImageStatus;

/// The registry digest in an `imageID`, or `None` when it names none: empty (the container is
/// waiting), or a bare `sha256:` local image ID (a locally built or side-loaded image, not a
/// registry digest).
pub fn registry_digest(image_id: &str) -> Option<String> {
    let id = image_id.trim();
    // docker-pullable://repo@sha256:…, repo@sha256:…; docker://sha256:… is a local ID.
    let (_, digest) = id.rsplit_once('@')?;
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| format!("sha256:{}", hex.to_ascii_lowercase()))
}

/// Per (container, image): how many pods run each digest (`None` = unresolved).
pub type ImageCounts = BTreeMap<(String, String), BTreeMap<Option<String>, u32>>;

/// Counts digests over `pods`.
pub fn count(pods: &[&super::PodFacts]) -> ImageCounts {
    let mut out: ImageCounts = BTreeMap::new();
    for pod in pods {
        for (container, image, digest) in &pod.images {
            *out.entry((container.clone(), image.clone()))
                .or_default()
                .entry(digest.clone())
                .or_default() += 1;
        }
    }
    out
}

/// Status rows: one per (container, image, digest), with the running pods and the ended ones
/// (`ended`: counted over the pods that finished and still exist).
pub fn rows(running: &ImageCounts, ended: &ImageCounts) -> Vec<ImageStatus> {
    let mut merged: BTreeMap<(String, String, Option<String>), (u32, u32)> = BTreeMap::new();
    for (counts, ended_side) in [(running, false), (ended, true)] {
        for ((container, image), digests) in counts {
            for (digest, n) in digests {
                let e = merged
                    .entry((container.clone(), image.clone(), digest.clone()))
                    .or_default();
                if ended_side {
                    e.1 += n;
                } else {
                    e.0 += n;
                }
            }
        }
    }
    merged
        .into_iter()
        .map(|((container, image, digest), (pods, ended))| ImageStatus {
            container,
            image,
            digest,
            pods,
            ended,
        })
        .collect()
}

/// Images that run under more than one registry digest across pods (a tag moved between pod
/// starts).
pub fn drift(counts: &ImageCounts) -> Vec<String> {
    counts
        .iter()
        .filter(|(_, d)| d.keys().filter(|k| k.is_some()).count() > 1)
        .map(|((c, i), _)| format!("{c}={i}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_id_forms() {
        let hex = "4159c0be12e8859292f8188a98824d60f36859affa325b6110fccd21f62fbd05";
        let cases = [
            (
                format!("docker-pullable://ghcr.io/acme/pdf-parser@sha256:{hex}"),
                true,
            ), // dockershim
            (format!("ghcr.io/acme/pdf-parser@sha256:{hex}"), true), // containerd
            (format!("docker.io/library/python@sha256:{hex}"), true), // CRI-O, docker.io
            (format!("sha256:{hex}"), false),                        // kind-loaded local image
            (format!("docker://sha256:{hex}"), false),               // docker, not pullable
            (String::new(), false),                                  // waiting
            ("ghcr.io/acme/pdf-parser@sha256:short".to_string(), false),
        ];
        for (id, registry) in cases {
            assert_eq!(registry_digest(&id).is_some(), registry, "{id}");
        }
    }
}
