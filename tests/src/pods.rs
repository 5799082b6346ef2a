//! Reading pod manifests (as JSON) the way the tests check them, independently of the webhook's
//! own code.

use serde_json::Value;

/// The name of the first container of `pod` that declares `port` (a `containerPort`), if one
/// does: the container a Service's `targetPort`, or the latency proxy, reaches.
pub fn container_declaring<'a>(pod: &'a Value, port: &Value) -> Option<&'a str> {
    pod["spec"]["containers"]
        .as_array()?
        .iter()
        .find(|c| {
            c["ports"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| &p["containerPort"] == port))
        })
        .and_then(|c| c["name"].as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_container_that_declares_the_port() {
        let pod = json!({"spec": {"containers": [
            {"name": "sidecar"},
            {"name": "app", "ports": [{"containerPort": 9090}, {"containerPort": 8000}]},
            {"name": "other", "ports": [{"containerPort": 8000}]},
        ]}});
        assert_eq!(container_declaring(&pod, &json!(8000)), Some("app"));
        assert_eq!(container_declaring(&pod, &json!(7000)), None);
        assert_eq!(container_declaring(&json!({}), &json!(8000)), None);
    }
}
