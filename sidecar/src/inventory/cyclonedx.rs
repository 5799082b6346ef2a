//! CycloneDX 1.5 JSON documents of inventories: one per container (metadata component of
//! type `container`), or one for the pod with a `container` component per container and its
//! software nested in it. Written with serde_json rather than a CycloneDX crate: the document
//! is a small fixed shape, and the tests validate it against the official 1.5 schema
//! (cyclonedx-python-lib's strict validator).

use serde_json::{Value, json};

use super::{Component, ContainerInventory, Kind};

/// A `urn:uuid:` (version 5 layout) derived from a digest, so the same inventory has the same
/// serial number.
fn serial(digest: &str) -> String {
    let hex: String = digest
        .trim_start_matches("sha256:")
        .chars()
        .chain(std::iter::repeat('0'))
        .take(32)
        .collect();
    let variant = match hex.as_bytes()[16] {
        b'0'..=b'3' => '8',
        b'4'..=b'7' => '9',
        b'8'..=b'b' => 'a',
        _ => 'b',
    };
    format!(
        "urn:uuid:{}-{}-5{}-{}{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        variant,
        &hex[17..20],
        &hex[20..32]
    )
}

fn ty(kind: Kind) -> &'static str {
    match kind {
        Kind::Runtime => "platform",
        Kind::Driver => "device-driver",
        Kind::Cuda => "framework",
        _ => "library",
    }
}

fn component(container: &str, c: &Component) -> Value {
    let mut v = json!({
        "type": ty(c.kind),
        "bom-ref": format!(
            "{container}/{}:{}@{}{}",
            c.kind.as_str(),
            c.name,
            c.version,
            c.location.as_deref().map(|l| format!("#{l}")).unwrap_or_default()
        ),
        "name": c.name,
    });
    if !c.version.is_empty() {
        v["version"] = json!(c.version);
    }
    if let Some(p) = &c.purl {
        v["purl"] = json!(p);
    }
    if let Some(l) = &c.location {
        v["properties"] = json!([{"name": "agentlens:location", "value": l}]);
    }
    v
}

/// The software of one container, as CycloneDX components.
fn components(inv: &ContainerInventory) -> Vec<Value> {
    let c = &inv.container;
    let mut out = Vec::new();
    if let Some(os) = &inv.os {
        let mut v = json!({
            "type": "operating-system",
            "bom-ref": format!("{c}/os:{}", os.id),
            "name": os.id,
        });
        if let Some(ver) = &os.version_id {
            v["version"] = json!(ver);
        }
        if let Some(p) = &os.pretty_name {
            v["description"] = json!(p);
        }
        out.push(v);
    }
    out.extend(inv.components.iter().map(|x| component(c, x)));
    for m in &inv.models {
        let mut props = vec![
            json!({"name": "agentlens:path", "value": m.path}),
            json!({"name": "agentlens:fingerprint", "value": m.fingerprint}),
            json!({"name": "agentlens:files", "value": m.files.to_string()}),
            json!({"name": "agentlens:bytes", "value": m.bytes.to_string()}),
        ];
        if let Some(f) = &m.format {
            props.push(json!({"name": "agentlens:format", "value": f}));
        }
        if let Some(a) = &m.architecture {
            props.push(json!({"name": "agentlens:architecture", "value": a}));
        }
        out.push(json!({
            "type": "machine-learning-model",
            "bom-ref": format!("{c}/model:{}", m.path),
            "name": m.name.clone().unwrap_or_else(|| m.path.clone()),
            "hashes": [{"alg": "SHA-256", "content": m.fingerprint.trim_start_matches("sha256:")}],
            "properties": props,
        }));
    }
    out
}

fn container_properties(inv: &ContainerInventory) -> Vec<Value> {
    let mut props = vec![json!({"name": "agentlens:inventory-digest", "value": inv.digest()})];
    props.extend(
        inv.env_names
            .iter()
            .map(|n| json!({"name": "agentlens:environment-variable", "value": n})),
    );
    props.extend(
        inv.notes
            .iter()
            .map(|n| json!({"name": "agentlens:note", "value": n})),
    );
    if let Some(a) = &inv.auto_instrument {
        props.extend(autoinstrument_properties(a));
    }
    props
}

/// The zero-code instrumentation's layout and interpreters (`autoinstrument.rs`).
fn autoinstrument_properties(a: &agentlens_crds::autoinstrument::AutoInstrumentSeen) -> Vec<Value> {
    let p = |name: &str, value: String| json!({"name": format!("agentlens:autoinstrument:{name}"), "value": value});
    let mut out = vec![
        p("path", a.path.clone()),
        p("abi", a.abi_check().as_str().to_string()),
    ];
    if let Some(l) = &a.layout_abi {
        out.push(p("layout-abi", l.clone()));
    }
    for i in &a.interpreters {
        out.push(p(
            "interpreter",
            format!(
                "{} ({:?}): {} processes, {} loaded the layout",
                i.abi, i.evidence, i.processes, i.loaded
            ),
        ));
    }
    if a.unidentified > 0 {
        out.push(p("unidentified-processes", a.unidentified.to_string()));
    }
    out
}

fn metadata(at_ms: u64, component: Value) -> Value {
    json!({
        "timestamp": crate::clock::time(at_ms).0.to_string(),
        "tools": {"components": [{
            "type": "application", "name": "agentlens-sidecar", "version": crate::VERSION
        }]},
        "component": component,
    })
}

/// The document of one container.
pub fn container_bom(inv: &ContainerInventory) -> Value {
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": serial(inv.digest()),
        "version": 1,
        "metadata": metadata(inv.collected_ms, json!({
            "type": "container",
            "bom-ref": inv.container,
            "name": inv.container,
            "properties": container_properties(inv),
        })),
        "components": components(inv),
    })
}

/// The document of the pod (or of `run`'s process tree): a `container` component per
/// container, its software nested.
pub fn pod_bom(name: &str, inventories: &[&ContainerInventory]) -> Value {
    let digests: String = inventories.iter().map(|i| i.digest()).collect();
    let at = inventories
        .iter()
        .map(|i| i.collected_ms)
        .max()
        .unwrap_or(0);
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": serial(&format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(digests.as_bytes()))),
        "version": 1,
        "metadata": metadata(at, json!({
            "type": "application", "bom-ref": format!("pod:{name}"), "name": name,
        })),
        "components": inventories.iter().map(|inv| json!({
            "type": "container",
            "bom-ref": inv.container,
            "name": inv.container,
            "properties": container_properties(inv),
            "components": components(inv),
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_numbers_are_uuids() {
        let s = serial("sha256:9f2c1d6c0c6c4a8a1e4b9e1f3f0a7d0e5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e");
        assert_eq!(s, "urn:uuid:9f2c1d6c-0c6c-5a8a-8e4b-9e1f3f0a7d0e");
    }
}
