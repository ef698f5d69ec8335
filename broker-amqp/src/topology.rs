//! What Moleculer's AMQP transporter declares: queue and exchange names, queue options and
//! arguments per packet type, and where each packet is published. Pure functions, so the
//! wire shape is pinned by unit tests without a server.

use crate::options::Options;
use broker_core::packet::PacketType;
use broker_core::transporter::{BalancedTopic, Topic};

/// A queue as Moleculer.js (amqplib's `assertQueue`) declares it. amqplib's defaults are
/// `durable: true`, `exclusive: false`, `autoDelete: false`; a second declaration of a queue
/// with other options is refused by RabbitMQ (`PRECONDITION_FAILED`), so these must match what
/// the JS nodes of the cluster declare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueueSpec {
    /// The queue's name.
    pub(crate) name: String,
    /// Moleculer's `autoDelete: true` for the per-node queues of internal packets.
    pub(crate) auto_delete: bool,
    /// `x-expires` (ms): the queue is deleted after this long without consumers.
    pub(crate) expires_ms: Option<u64>,
    /// `x-message-ttl` (ms): messages older than this are dropped.
    pub(crate) message_ttl_ms: Option<u64>,
    /// Whether deliveries are acknowledged after the broker handled them (requests and
    /// balanced events) rather than on delivery (`noAck`).
    pub(crate) ack: bool,
    /// The packet type of what arrives on it.
    pub(crate) packet_type: PacketType,
    /// The fanout exchange the queue is bound to, for broadcast topics.
    pub(crate) exchange: Option<String>,
}

/// The queue (and exchange) for one of the node's topics, as Moleculer's `subscribe(cmd,
/// nodeID)`: a targeted topic is a queue of its own name; a broadcast topic is a fanout
/// exchange of its name with a queue `<prefix>.<TYPE>.<this node>` bound to it.
pub(crate) fn node_queue(topic: &Topic, prefix: &str, node_id: &str, o: &Options) -> QueueSpec {
    let kind = topic.packet_type;
    let (name, exchange) = match &topic.node_id {
        Some(_) => (topic.channel(prefix), None),
        None => (
            format!("{prefix}.{}.{node_id}", kind.as_str()),
            Some(topic.channel(prefix)),
        ),
    };
    let mut spec = QueueSpec {
        name,
        auto_delete: false,
        expires_ms: None,
        message_ttl_ms: None,
        // Only requests are acknowledged after handling (Moleculer's `needAck`).
        ack: kind == PacketType::Request && topic.node_id.is_some(),
        packet_type: kind,
        exchange,
    };
    match kind {
        PacketType::Request | PacketType::Response => spec.expires_ms = o.auto_delete_queues,
        PacketType::Event => {
            spec.expires_ms = o.auto_delete_queues;
            spec.message_ttl_ms = o.event_ttl;
        }
        PacketType::Heartbeat => {
            spec.auto_delete = true;
            spec.message_ttl_ms = o.heartbeat_ttl;
        }
        _ => spec.auto_delete = true,
    }
    spec
}

/// The queue of a balanced topic (Moleculer's `disableBalancer`): `<prefix>.REQB.<action>`
/// (no expiry: requests wait for a server) or `<prefix>.EVENTB.<group>.<event>` (expiring
/// like the event queues), shared by every node serving it and acknowledged after handling.
pub(crate) fn balanced_queue(topic: &BalancedTopic, prefix: &str, o: &Options) -> QueueSpec {
    let (expires_ms, message_ttl_ms) = match topic {
        BalancedTopic::Request { .. } => (None, None),
        BalancedTopic::Event { .. } => (o.auto_delete_queues, o.event_ttl),
    };
    QueueSpec {
        name: topic.channel(prefix),
        auto_delete: false,
        expires_ms,
        message_ttl_ms,
        ack: true,
        packet_type: topic.packet_type(),
        exchange: None,
    }
}

/// Where a publish goes: `(exchange, routing key)`. Targeted and balanced packets go to the
/// queue of the topic's name through the default exchange (amqplib's `sendToQueue`);
/// broadcasts go to the fanout exchange of the topic's name.
pub(crate) fn route(channel: String, broadcast: bool) -> (String, String) {
    if broadcast {
        (channel, String::new())
    } else {
        (String::new(), channel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PacketType::*;

    fn opts() -> Options {
        Options::default()
    }

    #[test]
    fn targeted_topics_are_queues_of_their_name() {
        let o = opts();
        let req = node_queue(&Topic::targeted(Request, "n1"), "MOL-ns", "n1", &o);
        assert_eq!(req.name, "MOL-ns.REQ.n1");
        assert_eq!(req.exchange, None);
        assert!(req.ack && !req.auto_delete);
        assert_eq!(req.expires_ms, Some(120_000));
        let res = node_queue(&Topic::targeted(Response, "n1"), "MOL", "n1", &o);
        assert_eq!((res.name.as_str(), res.ack), ("MOL.RES.n1", false));
        assert_eq!(res.expires_ms, Some(120_000));
        let ping = node_queue(&Topic::targeted(Pong, "n1"), "MOL", "n1", &o);
        assert!(ping.auto_delete && ping.expires_ms.is_none() && !ping.ack);
    }

    #[test]
    fn broadcast_topics_are_fanout_exchanges_with_a_queue_per_node() {
        let o = opts();
        let hb = node_queue(&Topic::broadcast(Heartbeat), "MOL-ns", "n1", &o);
        assert_eq!(hb.name, "MOL-ns.HEARTBEAT.n1");
        assert_eq!(hb.exchange.as_deref(), Some("MOL-ns.HEARTBEAT"));
        assert!(hb.auto_delete && !hb.ack && hb.message_ttl_ms.is_none());
        // The broadcast DISCOVER queue is the targeted one: one queue, two ways in.
        let b = node_queue(&Topic::broadcast(Discover), "MOL", "n1", &o);
        let t = node_queue(&Topic::targeted(Discover, "n1"), "MOL", "n1", &o);
        assert_eq!(b.name, t.name);
        assert_eq!((b.auto_delete, t.auto_delete), (true, true));
    }

    #[test]
    fn options_reach_the_queue_arguments() {
        let o = Options {
            auto_delete_queues: None,
            event_ttl: Some(5_000),
            heartbeat_ttl: Some(2_000),
            ..Options::default()
        };
        let ev = node_queue(&Topic::targeted(Event, "n"), "MOL", "n", &o);
        assert_eq!((ev.expires_ms, ev.message_ttl_ms), (None, Some(5_000)));
        let hb = node_queue(&Topic::broadcast(Heartbeat), "MOL", "n", &o);
        assert_eq!(hb.message_ttl_ms, Some(2_000));
    }

    #[test]
    fn balanced_queues_follow_moleculer() {
        let o = opts();
        let req = balanced_queue(
            &BalancedTopic::Request {
                action: "math.add".into(),
            },
            "MOL-ns",
            &o,
        );
        assert_eq!(req.name, "MOL-ns.REQB.math.add");
        assert!(req.ack && req.expires_ms.is_none() && !req.auto_delete);
        let ev = balanced_queue(
            &BalancedTopic::Event {
                group: "users".into(),
                event: "user.**".into(),
            },
            "MOL",
            &o,
        );
        assert_eq!(ev.name, "MOL.EVENTB.users.user.**");
        assert_eq!((ev.ack, ev.expires_ms), (true, Some(120_000)));
        assert_eq!(ev.packet_type, Event);
    }

    #[test]
    fn routes() {
        assert_eq!(
            route("MOL.INFO".into(), true),
            ("MOL.INFO".into(), String::new())
        );
        assert_eq!(
            route("MOL.REQ.n".into(), false),
            (String::new(), "MOL.REQ.n".into())
        );
    }
}
