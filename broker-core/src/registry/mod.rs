//! The registry: every known node, and the endpoints (local and remote) of every action and
//! event handler in the cluster.
//!
//! One lock guards it all: reads (picking an endpoint) vastly outnumber writes (INFO, node
//! loss), and keeping nodes and endpoints under one lock means they never disagree.

mod catalog;
mod node;
#[cfg(test)]
mod proptests;

pub(crate) use catalog::{EventTargets, LocalAction, LocalEvent, Target};
pub(crate) use node::Node;
pub use node::NodeRecord;

use crate::error::Error;
use crate::packet::{HeartbeatPacket, InfoPacket, ServiceInfo};
use crate::strategy::{Request, StrategySpec};
use catalog::Catalog;
use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// What an INFO did to the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InfoOutcome {
    /// A node we did not know.
    Connected,
    /// A node that was offline came back.
    Reconnected,
    /// A known node sent a new INFO.
    Updated,
}

/// What a HEARTBEAT asks of us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeartbeatOutcome {
    /// Nothing: the node is known and up to date.
    Fresh,
    /// Ask the node for its INFO (unknown, offline, or out of date).
    Rediscover,
}

pub(crate) struct State {
    pub(crate) nodes: HashMap<String, Node>,
    pub(crate) catalog: Catalog,
}

pub(crate) struct Registry {
    local_node_id: Arc<str>,
    state: RwLock<State>,
    changes: watch::Sender<u64>,
}

impl Registry {
    pub(crate) fn new(local: Node, strategy: StrategySpec, prefer_local: bool) -> Registry {
        let local_node_id: Arc<str> = Arc::from(local.id.as_str());
        let mut nodes = HashMap::new();
        nodes.insert(local.id.clone(), local);
        Registry {
            local_node_id: local_node_id.clone(),
            state: RwLock::new(State {
                nodes,
                catalog: Catalog::new(local_node_id, strategy, prefer_local),
            }),
            changes: watch::channel(0).0,
        }
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, State> {
        match self.state.read() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        match self.state.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// A receiver that sees a new value whenever the set of services changes.
    pub(crate) fn subscribe_changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn changed(&self) {
        self.changes.send_modify(|v| *v += 1);
    }

    /// Registers the local services: their endpoints, and the INFO entries for the local node.
    pub(crate) fn add_local_service(
        &self,
        info: ServiceInfo,
        actions: Vec<Arc<LocalAction>>,
        events: Vec<(String, String, Arc<LocalEvent>)>,
    ) {
        {
            let mut state = self.write();
            for action in actions {
                state.catalog.add_local_action(action);
            }
            for (pattern, group, handler) in events {
                state.catalog.add_local_event(&pattern, &group, handler);
            }
            if let Some(local) = state.nodes.get_mut(&*self.local_node_id) {
                local.services.push(info);
            }
        }
        self.changed();
    }

    /// Applies an INFO from a remote node.
    pub(crate) fn process_info(&self, info: InfoPacket) -> InfoOutcome {
        let outcome;
        {
            let mut guard = self.write();
            let state = &mut *guard;
            let seq = info.seq.unwrap_or(1);
            let sender = info.sender.clone();
            let reregister;
            match state.nodes.get_mut(&sender) {
                None => {
                    outcome = InfoOutcome::Connected;
                    reregister = true;
                    state.nodes.insert(sender.clone(), Node::from_info(&info));
                }
                Some(node) => {
                    let was_offline = !node.available;
                    let new_instance = node.instance_id != info.instance_id;
                    reregister = was_offline || new_instance || seq > node.seq;
                    outcome = if was_offline {
                        InfoOutcome::Reconnected
                    } else {
                        InfoOutcome::Updated
                    };
                    node.update_from_info(&info, reregister);
                }
            }
            if reregister {
                state.catalog.remove_node(&sender);
                let node_id: Arc<str> = Arc::from(sender.as_str());
                for service in &info.services {
                    state.catalog.add_remote_service(&node_id, service);
                }
                if let Some(node) = state.nodes.get_mut(&sender) {
                    node.seq = seq;
                    node.services = info.services;
                }
            }
        }
        self.changed();
        outcome
    }

    /// Applies a HEARTBEAT.
    pub(crate) fn process_heartbeat(&self, hb: &HeartbeatPacket) -> HeartbeatOutcome {
        let mut state = self.write();
        match state.nodes.get_mut(&hb.sender) {
            Some(node) if node.available => {
                node.heartbeat(hb.cpu);
                let seq_mismatch = hb.seq.is_some_and(|s| s != node.seq);
                let instance_mismatch = hb
                    .instance_id
                    .as_deref()
                    .is_some_and(|i| !node.instance_id.starts_with(i));
                if seq_mismatch || instance_mismatch {
                    HeartbeatOutcome::Rediscover
                } else {
                    HeartbeatOutcome::Fresh
                }
            }
            _ => HeartbeatOutcome::Rediscover,
        }
    }

    /// Marks a node offline and drops its endpoints; returns the node as it was, if it was up.
    pub(crate) fn node_offline(&self, node_id: &str) -> Option<Node> {
        let snapshot = {
            let mut guard = self.write();
            let state = &mut *guard;
            let node = state.nodes.get_mut(node_id)?;
            if !node.available || node.local {
                return None;
            }
            node.mark_offline();
            let snapshot = node.clone();
            state.catalog.remove_node(node_id);
            snapshot
        };
        self.changed();
        Some(snapshot)
    }

    /// Remote nodes whose last heartbeat is older than `timeout`.
    pub(crate) fn overdue_nodes(&self, timeout: Duration) -> Vec<String> {
        let now = Instant::now();
        self.read()
            .nodes
            .values()
            .filter(|n| !n.local && n.available && now.duration_since(n.last_heartbeat) > timeout)
            .map(|n| n.id.clone())
            .collect()
    }

    /// Forgets offline nodes that have been silent for longer than `after`.
    pub(crate) fn remove_stale_nodes(&self, after: Duration) {
        let now = Instant::now();
        self.write()
            .nodes
            .retain(|_, n| n.local || n.available || now.duration_since(n.last_heartbeat) <= after);
    }

    /// Picks the endpoint for a call.
    pub(crate) fn select_action(
        &self,
        action: &str,
        node_id: Option<&str>,
        request: &Request<'_>,
        admits: Option<&dyn Fn(&str) -> bool>,
    ) -> Result<Target, Error> {
        let state = self.read();
        state
            .catalog
            .select_action(action, node_id, &state.nodes, request, admits)
    }

    /// Where an emitted or broadcast event goes.
    pub(crate) fn event_targets(
        &self,
        event: &str,
        groups: Option<&[String]>,
        broadcast: bool,
        request: &Request<'_>,
    ) -> EventTargets {
        let state = self.read();
        state
            .catalog
            .event_targets(event, groups, broadcast, &state.nodes, request)
    }

    /// The local handlers an incoming event reaches.
    pub(crate) fn local_event_handlers(
        &self,
        event: &str,
        groups: Option<&[String]>,
        broadcast: bool,
        request: &Request<'_>,
    ) -> Vec<Arc<LocalEvent>> {
        self.read()
            .catalog
            .local_event_handlers(event, groups, broadcast, request)
    }

    /// What this node serves on the bus's balanced topics (see `Catalog::balanced_topics`).
    pub(crate) fn balanced_topics(&self) -> Vec<crate::transporter::BalancedTopic> {
        self.read().catalog.balanced_topics()
    }

    /// The groups with a handler of `event` anywhere in the cluster.
    pub(crate) fn event_groups(&self, event: &str) -> Vec<String> {
        self.read().catalog.event_groups(event)
    }

    /// Whether every named service (full name) is available somewhere.
    pub(crate) fn has_services(&self, names: &[String]) -> bool {
        let state = self.read();
        names.iter().all(|name| {
            state.nodes.values().any(|n| {
                n.available
                    && n.services
                        .iter()
                        .any(|s| s.full_name.as_deref().unwrap_or(&s.name) == name)
            })
        })
    }

    /// Bumps the local node's service-list revision (sent as INFO `seq`).
    pub(crate) fn bump_local_seq(&self) -> u64 {
        let mut state = self.write();
        match state.nodes.get_mut(&*self.local_node_id) {
            Some(local) => {
                local.seq += 1;
                local.seq
            }
            None => 0,
        }
    }

    /// The local action of that name, if this node serves it.
    pub(crate) fn local_action(&self, action: &str) -> Option<Arc<LocalAction>> {
        self.read().catalog.local_action(action)
    }

    /// Records one ping round trip to a node.
    pub(crate) fn record_latency(&self, node_id: &str, sample: Duration) {
        if let Some(node) = self.write().nodes.get_mut(node_id) {
            node.record_latency(sample);
        }
    }

    /// The IDs of the available remote nodes.
    pub(crate) fn remote_nodes(&self) -> Vec<String> {
        self.read()
            .nodes
            .values()
            .filter(|n| !n.local && n.available)
            .map(|n| n.id.clone())
            .collect()
    }

    /// Updates the local node's CPU figure.
    pub(crate) fn set_local_cpu(&self, cpu: f64) {
        if let Some(local) = self.write().nodes.get_mut(&*self.local_node_id) {
            local.heartbeat(Some(cpu));
        }
    }
}
