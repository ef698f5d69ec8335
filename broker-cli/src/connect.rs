//! Joining the cluster: the transporter from a URL, starting the node, and waiting until the
//! registry has heard from the other nodes.

use broker_core::{Broker, Error};
use std::time::Duration;
use tokio::time::Instant;

/// What the command needs to find in the registry before it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Needs {
    /// An action (and, for `dcall`, a node): run as soon as it shows up.
    Action {
        /// The action's full name.
        action: String,
        /// The node it must be on.
        node: Option<String>,
    },
    /// The whole cluster, as far as it answers: wait until the registry is quiet.
    Cluster,
}

/// How long the registry must be unchanged to count as settled.
const QUIET: Duration = Duration::from_millis(300);
const POLL: Duration = Duration::from_millis(20);

/// Starts the broker, failing after `limit` if the transporter does not connect.
pub(crate) async fn start(broker: &Broker, limit: Duration) -> Result<(), Error> {
    // The broker gives up by itself at its `connect_timeout` (the same limit) with the bus's
    // own error; this outer bound only guards against a start that hangs after connecting.
    match tokio::time::timeout(limit + Duration::from_secs(5), broker.start()).await {
        Ok(result) => result,
        Err(_) => Err(not_connected(limit)),
    }
}

/// `BrokerDisconnectedError`: the transporter did not connect within `limit`.
pub(crate) fn not_connected(limit: Duration) -> Error {
    Error::broker_disconnected().with_data(serde_json::json!({
        "reason": format!("the transporter did not connect within {} ms", limit.as_millis())
    }))
}

fn snapshot(broker: &Broker) -> String {
    broker
        .node_list(true, true)
        .into_iter()
        .filter_map(|n| serde_json::to_value(n).ok())
        .map(|n| format!("{}:{}", n["id"], n["services"]))
        .collect::<Vec<_>>()
        .join("|")
}

fn has_action(broker: &Broker, action: &str, node: Option<&str>) -> bool {
    broker.node_list(true, true).iter().any(|n| {
        node.is_none_or(|id| n.id == id)
            && n.services
                .as_ref()
                .is_some_and(|s| s.iter().any(|svc| svc.actions.contains_key(action)))
    })
}

/// Waits (at most `limit`) until what the command needs is known: an action as soon as it
/// appears, the cluster once the registry has been unchanged for a moment. A local-only node
/// has nothing to wait for.
pub(crate) async fn discover(broker: &Broker, needs: &Needs, limit: Duration) {
    if broker.config().transporter.is_none() {
        return;
    }
    let deadline = Instant::now() + limit;
    let mut last = snapshot(broker);
    let mut quiet_since = Instant::now();
    loop {
        if let Needs::Action { action, node } = needs {
            if has_action(broker, action, node.as_deref()) {
                return;
            }
        }
        let now = Instant::now();
        if now >= deadline || now.duration_since(quiet_since) >= QUIET {
            return;
        }
        tokio::time::sleep(POLL).await;
        let current = snapshot(broker);
        if current != last {
            last = current;
            quiet_since = Instant::now();
        }
    }
}
