//! `GET /health` (liveness) and `GET /ready` (readiness), as Kubernetes probes expect.

use broker_core::Broker;
use serde_json::{json, Value};

/// The readiness of a node: `Ok` when its broker runs (transporter connected) and every
/// required service is available somewhere in the cluster; otherwise what is missing.
pub(crate) fn readiness(broker: Option<&Broker>, required: &[String]) -> Result<Value, Value> {
    let Some(broker) = broker.filter(|b| b.is_running()) else {
        return Err(
            json!({"status": "not ready", "transporter": "disconnected", "missing": required}),
        );
    };
    let nodes = broker.node_list(true, true);
    let present: std::collections::HashSet<&str> = nodes
        .iter()
        .flat_map(|n| n.services.iter().flatten())
        .map(|s| s.full_name.as_deref().unwrap_or(&s.name))
        .collect();
    let missing: Vec<&String> = required
        .iter()
        .filter(|r| !present.contains(r.as_str()))
        .collect();
    if missing.is_empty() {
        Ok(json!({"status": "ready", "transporter": "connected"}))
    } else {
        Err(json!({"status": "not ready", "transporter": "connected", "missing": missing}))
    }
}
