//! Transit: the broker's side of the bus. It stamps `ver` and `sender` on outgoing packets,
//! encodes and publishes them, and keeps the requests and pings that wait for an answer.
//!
//! Pending requests live in one map of request ID to a oneshot sender; the caller awaits the
//! receiver under its own timeout. No task or actor per request.

use crate::error::Error;
use crate::packet::{Packet, PongPacket, ProtocolVersion, ResponsePacket};
use crate::transmit::Codec;
use crate::transporter::{BalancedTopic, Topic, Transporter};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;

pub(crate) struct Pending {
    pub(crate) tx: oneshot::Sender<Result<ResponsePacket, Error>>,
    pub(crate) node_id: Arc<str>,
    pub(crate) action: String,
}

pub(crate) struct Transit {
    pub(crate) transporter: Arc<dyn Transporter>,
    /// The serializer and transit middlewares.
    pub(crate) codec: Codec,
    pub(crate) protocol: ProtocolVersion,
    /// Whether the bus balances calls and emits (`disable_balancer` on a transporter with a
    /// built-in balancer).
    pub(crate) bus_balances: bool,
    pending: Mutex<HashMap<String, Pending>>,
    pings: Mutex<HashMap<String, oneshot::Sender<PongPacket>>>,
    version_warnings: Mutex<HashMap<String, Instant>>,
    /// Nodes whose packets carried another protocol version: node ID → (version, last seen).
    other_versions: Mutex<HashMap<String, (String, Instant)>>,
    /// Packet counters, when metrics are on.
    metrics: Option<Arc<crate::metrics::Builtin>>,
}

/// How many nodes of other versions are remembered (and warned about) at most.
const MAX_REMEMBERED: usize = 1024;
/// How often one sender of another version is warned about.
const WARN_EVERY: Duration = Duration::from_secs(60);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Transit {
    pub(crate) fn new(
        transporter: Arc<dyn Transporter>,
        codec: Codec,
        protocol: ProtocolVersion,
        bus_balances: bool,
        metrics: Option<Arc<crate::metrics::Builtin>>,
    ) -> Transit {
        Transit {
            transporter,
            codec,
            protocol,
            bus_balances,
            pending: Mutex::new(HashMap::new()),
            pings: Mutex::new(HashMap::new()),
            version_warnings: Mutex::new(HashMap::new()),
            other_versions: Mutex::new(HashMap::new()),
            metrics,
        }
    }

    /// Publishes an encoded packet to one node (or broadcast when `target` is `None`).
    pub(crate) fn publish(&self, packet: &Packet, target: Option<&str>) -> Result<(), Error> {
        let topic = Topic {
            packet_type: packet.packet_type(),
            node_id: target.map(str::to_owned),
        };
        let bytes = self.codec.encode(packet)?;
        if let Some(metrics) = &self.metrics {
            metrics.published(topic.packet_type, bytes.len());
        }
        self.transporter.publish(&topic, Bytes::from(bytes))
    }

    /// Remote requests waiting for their answer.
    pub(crate) fn pending_count(&self) -> usize {
        lock(&self.pending).len()
    }

    /// Publishes an encoded packet to a topic the bus balances.
    pub(crate) fn publish_balanced(
        &self,
        packet: &Packet,
        topic: &BalancedTopic,
    ) -> Result<(), Error> {
        let bytes = self.codec.encode(packet)?;
        if let Some(metrics) = &self.metrics {
            metrics.published(packet.packet_type(), bytes.len());
        }
        self.transporter.publish_balanced(topic, Bytes::from(bytes))
    }

    /// Publishes, logging instead of failing: for packets Moleculer also sends best-effort
    /// (HEARTBEAT, INFO, DISCOVER, RES, PONG, DISCONNECT).
    pub(crate) fn publish_quietly(&self, packet: &Packet, target: Option<&str>) {
        if let Err(err) = self.publish(packet, target) {
            tracing::debug!(packet = %packet.packet_type(), ?target, %err, "packet not sent");
        }
    }

    pub(crate) fn ver(&self) -> String {
        self.protocol.as_str().to_owned()
    }

    /// Registers a pending request; fails when the bound is reached.
    pub(crate) fn add_pending(
        &self,
        id: String,
        pending: Pending,
        limit: usize,
    ) -> Result<(), Error> {
        let mut map = lock(&self.pending);
        if map.len() >= limit {
            return Err(Error::queue_is_full(
                &pending.action,
                &pending.node_id,
                map.len(),
                limit,
            ));
        }
        map.insert(id, pending);
        Ok(())
    }

    pub(crate) fn remove_pending(&self, id: &str) -> Option<Pending> {
        lock(&self.pending).remove(id)
    }

    /// Delivers a response to its waiting caller; an unknown ID is an orphan (late reply).
    pub(crate) fn resolve(&self, response: ResponsePacket) {
        match self.remove_pending(&response.id) {
            // A streamed reply (Moleculer 0.15): its first packet carries no data and the
            // chunks follow under the same id. Until streams are served, the call fails clearly
            // instead of resolving with the empty first packet; the chunks become orphans.
            Some(pending) if response.stream == Some(true) => {
                let err = Error::server(
                    format!(
                        "The reply of '{}' from '{}' is a stream, which this node cannot read yet.",
                        pending.action, response.sender
                    ),
                    501,
                    "STREAM_NOT_SUPPORTED",
                )
                .with_data(serde_json::json!({"action": pending.action, "nodeID": response.sender}))
                .with_retryable(false);
                let _ = pending.tx.send(Err(err));
            }
            Some(pending) => {
                let _ = pending.tx.send(Ok(response));
            }
            None => {
                if let Some(metrics) = &self.metrics {
                    metrics.orphan_responses.add(1.0);
                }
                tracing::debug!(id = %response.id, sender = %response.sender, "orphan response dropped")
            }
        }
    }

    /// Rejects every request pending on a node that left or went offline.
    pub(crate) fn reject_node(&self, node_id: &str) {
        let rejected: Vec<Pending> = {
            let mut map = lock(&self.pending);
            let ids: Vec<String> = map
                .iter()
                .filter(|(_, p)| &*p.node_id == node_id)
                .map(|(id, _)| id.clone())
                .collect();
            ids.iter().filter_map(|id| map.remove(id)).collect()
        };
        for p in rejected {
            let _ =
                p.tx.send(Err(Error::request_rejected(&p.action, &p.node_id)));
        }
    }

    /// Rejects everything pending (the broker is stopping).
    pub(crate) fn reject_all(&self) {
        let all: Vec<Pending> = lock(&self.pending).drain().map(|(_, p)| p).collect();
        for p in all {
            let _ =
                p.tx.send(Err(Error::request_rejected(&p.action, &p.node_id)));
        }
    }

    pub(crate) fn add_ping(&self, id: String) -> oneshot::Receiver<PongPacket> {
        let (tx, rx) = oneshot::channel();
        lock(&self.pings).insert(id, tx);
        rx
    }

    pub(crate) fn remove_ping(&self, id: &str) {
        lock(&self.pings).remove(id);
    }

    pub(crate) fn resolve_pong(&self, pong: PongPacket) {
        if let Some(tx) = lock(&self.pings).remove(&pong.id) {
            let _ = tx.send(pong);
        }
    }

    /// A packet of another protocol version arrived (and is dropped): remembers the sender,
    /// and warns once a minute per sender, naming the setting to change.
    pub(crate) fn other_version_seen(&self, sender: &str, received: &str, leaving: bool) {
        if sender.is_empty() {
            return;
        }
        let now = Instant::now();
        {
            let mut seen = lock(&self.other_versions);
            if leaving {
                seen.remove(sender);
            } else if let Some(entry) = seen.get_mut(sender) {
                *entry = (received.to_owned(), now);
            } else if seen.len() < MAX_REMEMBERED {
                // Bounded: a flood of made-up senders must not grow the map without end.
                seen.insert(sender.to_owned(), (received.to_owned(), now));
            }
        }
        let mut warned = lock(&self.version_warnings);
        if warned.len() >= MAX_REMEMBERED {
            warned.retain(|_, last| now.duration_since(*last) <= WARN_EVERY);
        }
        let due = warned
            .get(sender)
            .is_none_or(|last| now.duration_since(*last) > WARN_EVERY);
        if due && (warned.len() < MAX_REMEMBERED || warned.contains_key(sender)) {
            warned.insert(sender.to_owned(), now);
            tracing::warn!(
                peer = %sender,
                peer_version = %received,
                our_version = %self.protocol,
                "ignoring node '{sender}': it speaks Moleculer protocol \"{received}\" but this \
                 broker speaks \"{}\"; {}",
                self.protocol,
                setting_for(received)
            );
        }
    }

    /// The nodes of other protocol versions heard from within `window`, sorted by node ID.
    pub(crate) fn other_version_nodes(&self, window: Duration) -> Vec<(String, String)> {
        let now = Instant::now();
        let mut seen = lock(&self.other_versions);
        seen.retain(|_, (_, last)| now.duration_since(*last) <= window);
        let mut nodes: Vec<(String, String)> = seen
            .iter()
            .map(|(node, (ver, _))| (node.clone(), ver.clone()))
            .collect();
        nodes.sort();
        nodes
    }
}

/// What to change to talk to nodes of protocol `version`.
pub(crate) fn setting_for(version: &str) -> String {
    let (variant, release) = match ProtocolVersion::parse(version) {
        Some(ProtocolVersion::V4) => ("V4", "0.14"),
        Some(ProtocolVersion::V5) => ("V5", "0.15"),
        None => return "this broker speaks only protocols \"4\" and \"5\"".to_owned(),
    };
    format!(
        "set `.protocol(ProtocolVersion::{variant})` on the broker builder to talk to them \
         (Moleculer.js {release})"
    )
}
