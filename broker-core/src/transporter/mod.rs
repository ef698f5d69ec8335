//! The contract between the broker and a message bus.
//!
//! A transporter moves opaque packet bytes between nodes of one namespace. It knows topics
//! (a packet type, optionally aimed at one node) but nothing of what the packets mean: the
//! transit layer in this crate encodes, decodes and routes them. `broker-redis` implements this
//! trait over Redis pub/sub; [`MemoryTransporter`] implements it in-process.

mod memory;

pub use memory::{MemoryBus, MemoryTransporter};

use crate::broker::Broker;
use crate::error::Error;
use crate::packet::PacketType;
pub use bytes::Bytes;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::mpsc;

/// A boxed, sendable future, as returned by the object-safe traits of this crate.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A destination on the bus: a packet type, broadcast to all nodes or aimed at one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Topic {
    /// The packet type.
    pub packet_type: PacketType,
    /// The target node, or `None` for the broadcast topic.
    pub node_id: Option<String>,
}

impl Topic {
    /// The broadcast topic of a packet type (`MOL.INFO`).
    pub fn broadcast(packet_type: PacketType) -> Topic {
        Topic {
            packet_type,
            node_id: None,
        }
    }

    /// The topic of a packet type aimed at one node (`MOL.REQ.<node>`).
    pub fn targeted(packet_type: PacketType, node_id: impl Into<String>) -> Topic {
        Topic {
            packet_type,
            node_id: Some(node_id.into()),
        }
    }

    /// The channel name Moleculer uses for this topic under `prefix` (see [`channel_prefix`]).
    pub fn channel(&self, prefix: &str) -> String {
        channel_name(prefix, self.packet_type, self.node_id.as_deref())
    }

    /// The topics every node subscribes to right after connecting (12 of them).
    pub fn node_subscriptions(node_id: &str) -> Vec<Topic> {
        use PacketType::*;
        vec![
            Topic::targeted(Event, node_id),
            Topic::targeted(Request, node_id),
            Topic::targeted(Response, node_id),
            Topic::broadcast(Discover),
            Topic::targeted(Discover, node_id),
            Topic::broadcast(Info),
            Topic::targeted(Info, node_id),
            Topic::broadcast(Disconnect),
            Topic::broadcast(Heartbeat),
            Topic::broadcast(Ping),
            Topic::targeted(Ping, node_id),
            Topic::targeted(Pong, node_id),
        ]
    }
}

/// `MOL` for the empty namespace, `MOL-<namespace>` otherwise.
pub fn channel_prefix(namespace: &str) -> String {
    if namespace.is_empty() {
        "MOL".to_owned()
    } else {
        format!("MOL-{namespace}")
    }
}

/// `<prefix>.<TYPE>` or `<prefix>.<TYPE>.<node>`.
pub fn channel_name(prefix: &str, packet_type: PacketType, node_id: Option<&str>) -> String {
    match node_id {
        Some(node) => format!("{prefix}.{}.{node}", packet_type.as_str()),
        None => format!("{prefix}.{}", packet_type.as_str()),
    }
}

/// The packet type a channel name carries (`MOL-dev.REQ.node-1` → `REQ`), if any.
pub fn packet_type_of_channel(prefix: &str, channel: &str) -> Option<PacketType> {
    let rest = channel.strip_prefix(prefix)?.strip_prefix('.')?;
    let kind = rest.split('.').next()?;
    PacketType::parse(kind)
}

/// A destination the bus itself balances (Moleculer's `disableBalancer` mode, on transporters
/// with a built-in balancer such as NATS): a request for an action, or an event for one group,
/// taken by exactly one of the nodes subscribed to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BalancedTopic {
    /// `<prefix>.REQB.<action>`, in queue group `<action>`.
    Request {
        /// The action's full name.
        action: String,
    },
    /// `<prefix>.EVENTB.<group>.<event>`, in queue group `<group>`.
    Event {
        /// The event group (by default the handling service's name).
        group: String,
        /// The event name; in a subscription, the handler's pattern.
        event: String,
    },
}

impl BalancedTopic {
    /// The channel Moleculer publishes to under `prefix`.
    pub fn channel(&self, prefix: &str) -> String {
        match self {
            BalancedTopic::Request { action } => format!("{prefix}.REQB.{action}"),
            BalancedTopic::Event { group, event } => format!("{prefix}.EVENTB.{group}.{event}"),
        }
    }

    /// The channel Moleculer subscribes to for this topic: as [`BalancedTopic::channel`], with
    /// an event pattern's `**` and anything after it turned into the NATS tail wildcard `>`.
    pub fn subscription(&self, prefix: &str) -> String {
        let channel = self.channel(prefix);
        match (self, channel.find("**")) {
            (BalancedTopic::Event { .. }, Some(at)) => format!("{}>", &channel[..at]),
            _ => channel,
        }
    }

    /// The queue group the bus balances this topic in: the action, or the event group.
    pub fn queue_group(&self) -> &str {
        match self {
            BalancedTopic::Request { action } => action,
            BalancedTopic::Event { group, .. } => group,
        }
    }

    /// The packet type of what arrives on this topic.
    pub fn packet_type(&self) -> PacketType {
        match self {
            BalancedTopic::Request { .. } => PacketType::Request,
            BalancedTopic::Event { .. } => PacketType::Event,
        }
    }
}

/// What the broker needs to know to connect a transporter.
#[derive(Debug, Clone)]
pub struct TransportSetup {
    /// The broker namespace (`""` for none).
    pub namespace: String,
    /// This node's ID.
    pub node_id: String,
}

/// Something that happened on the bus.
#[derive(Debug)]
pub enum TransportEvent {
    /// A payload arrived on a topic of this type.
    Message {
        /// The type named by the topic it arrived on.
        packet_type: PacketType,
        /// The payload bytes.
        payload: Bytes,
    },
    /// A payload that the bus keeps until it is acknowledged (AMQP's balanced and targeted
    /// requests): the broker holds `ack` until the packet is handled (a request until its
    /// response is published, an event until its handlers finished) and then drops it, which
    /// acknowledges it. A node that dies before that leaves the message to the bus, which hands
    /// it to another node. Transports without acknowledgements send [`TransportEvent::Message`].
    MessageWithAck {
        /// The type named by the topic it arrived on.
        packet_type: PacketType,
        /// The payload bytes.
        payload: Bytes,
        /// Acknowledges the message when dropped.
        ack: Ack,
    },
    /// The connection was lost; publishes fail with `BrokerDisconnectedError` until
    /// [`TransportEvent::Reconnected`].
    Disconnected,
    /// The connection is back and every subscription restored: the broker announces itself again.
    Reconnected,
    /// A packet this node published did not reach its target: it was being written when the
    /// connection failed (so it may or may not have reached the bus, and is not sent again: a
    /// request sent twice would run twice), or the bus reported that nobody received it. The
    /// broker fails the call of an undelivered `REQ` at once with `BrokerDisconnectedError`
    /// and logs the others.
    Undelivered {
        /// The packet's type.
        packet_type: PacketType,
        /// The node it was aimed at, or `None` for a broadcast.
        target: Option<String>,
        /// The encoded packet, as given to [`Transporter::publish`].
        payload: Bytes,
    },
}

/// Where a transporter acknowledges the messages it handed over with an [`Ack`]: usually one
/// per connection or channel, so an acknowledgement never reaches a channel that did not
/// deliver the message.
pub trait Acknowledge: Send + Sync + 'static {
    /// Acknowledges the message with this bus-assigned tag. It must not block: implementations
    /// queue the acknowledgement, and drop it if the connection is gone (the bus then hands the
    /// message out again).
    fn acknowledge(&self, tag: u64);
}

/// A received message's acknowledgement, sent when this is dropped: once the broker has
/// handled the message (or decided to drop it). Cheap: a reference-counted sink and a tag.
pub struct Ack {
    sink: Arc<dyn Acknowledge>,
    tag: u64,
}

impl Ack {
    /// The acknowledgement of the message with bus-assigned `tag`, sent to `sink` on drop.
    pub fn new(sink: Arc<dyn Acknowledge>, tag: u64) -> Ack {
        Ack { sink, tag }
    }

    /// The bus-assigned tag of the message.
    pub fn tag(&self) -> u64 {
        self.tag
    }
}

impl Drop for Ack {
    fn drop(&mut self) {
        self.sink.acknowledge(self.tag);
    }
}

impl fmt::Debug for Ack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ack").field("tag", &self.tag).finish()
    }
}

/// The receiving end of a transporter's events.
pub type TransportEvents = mpsc::UnboundedReceiver<TransportEvent>;

/// A message bus the broker can run over.
///
/// Implementations keep their own connections, reconnect on loss (reporting
/// [`TransportEvent::Disconnected`] and [`TransportEvent::Reconnected`]), restore their
/// subscriptions exactly once per reconnect, and report what they published but could not
/// deliver as [`TransportEvent::Undelivered`] rather than dropping it silently.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a transporter",
    note = "use `MemoryTransporter` for in-process nodes, or a transport crate such as `broker-redis`"
)]
pub trait Transporter: Send + Sync + fmt::Debug + 'static {
    /// Connects, and returns the stream of everything that arrives on subscribed topics.
    fn connect<'a>(
        &'a self,
        setup: &'a TransportSetup,
    ) -> BoxFuture<'a, Result<TransportEvents, Error>>;

    /// Subscribes to topics; resolves once the bus confirms them.
    fn subscribe<'a>(&'a self, topics: &'a [Topic]) -> BoxFuture<'a, Result<(), Error>>;

    /// Publishes a payload. This must not block: implementations queue the bytes (and
    /// pipeline them) and fail fast with `BrokerDisconnectedError` when the bus is down.
    fn publish(&self, topic: &Topic, payload: Bytes) -> Result<(), Error>;

    /// Flushes what is queued and closes the connections.
    fn disconnect(&self) -> BoxFuture<'_, Result<(), Error>>;

    /// Whether publishes can currently go out.
    fn is_connected(&self) -> bool;

    /// Whether the bus can balance requests and events itself ([`BalancedTopic`]): what
    /// Moleculer calls a built-in balancer, used when the broker's balancer is disabled
    /// (`BrokerBuilder::disable_balancer`). The default is no.
    fn has_builtin_balancer(&self) -> bool {
        false
    }

    /// Makes these the node's balanced subscriptions, replacing the previous set (topics no
    /// longer listed are unsubscribed); resolves once the bus confirms them. Only called when
    /// [`Transporter::has_builtin_balancer`] is true; the default fails.
    fn subscribe_balanced<'a>(
        &'a self,
        topics: &'a [BalancedTopic],
    ) -> BoxFuture<'a, Result<(), Error>> {
        let _ = topics;
        Box::pin(async { Err(no_builtin_balancer()) })
    }

    /// Publishes a payload to a balanced topic, for the bus to hand to one subscriber. Like
    /// [`Transporter::publish`], it must not block. Only called when
    /// [`Transporter::has_builtin_balancer`] is true; the default fails.
    fn publish_balanced(&self, topic: &BalancedTopic, payload: Bytes) -> Result<(), Error> {
        let _ = (topic, payload);
        Err(no_builtin_balancer())
    }

    /// Called once the broker running on this transporter has started (its services
    /// registered, the node announced): a bus with a service API of its own, as NATS's
    /// (ADR-32), exposes the broker's services there. An error is logged, not fatal: the
    /// broker runs on. The default does nothing.
    fn broker_started<'a>(&'a self, broker: &'a Broker) -> BoxFuture<'a, Result<(), Error>> {
        let _ = broker;
        Box::pin(async { Ok(()) })
    }

    /// The lock cluster-once scheduled tasks take in this transporter's server (see
    /// [`crate::periodic`]), if it offers one. The default offers none: such tasks then need
    /// [`BrokerBuilder::cluster_lock`](crate::BrokerBuilder::cluster_lock).
    fn cluster_lock(&self) -> Option<std::sync::Arc<dyn crate::periodic::ClusterLock>> {
        None
    }

    /// What to show a person for this transporter (`redis://127.0.0.1:6379`): its address,
    /// never a password. The default is the type's name as `Debug` starts it.
    fn describe(&self) -> String {
        let debug = format!("{self:?}");
        match debug.split([' ', '{', '(']).next() {
            Some(name) if !name.is_empty() => name.to_owned(),
            _ => debug,
        }
    }
}

fn no_builtin_balancer() -> Error {
    Error::broker_options("this transporter has no built-in balancer")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_follow_moleculer() {
        assert_eq!(channel_prefix(""), "MOL");
        assert_eq!(channel_prefix("dev"), "MOL-dev");
        let t = Topic::targeted(PacketType::Request, "node-1");
        assert_eq!(t.channel("MOL-dev"), "MOL-dev.REQ.node-1");
        assert_eq!(
            Topic::broadcast(PacketType::Heartbeat).channel("MOL"),
            "MOL.HEARTBEAT"
        );
        assert_eq!(
            packet_type_of_channel("MOL-dev", "MOL-dev.RES.a.b.c"),
            Some(PacketType::Response)
        );
        assert_eq!(packet_type_of_channel("MOL-dev", "MOL-devx.RES.a"), None);
        assert_eq!(packet_type_of_channel("MOL", "MOL.NOPE"), None);
        assert_eq!(Topic::node_subscriptions("n").len(), 12);
    }

    #[test]
    fn balanced_channels_follow_moleculer() {
        let req = BalancedTopic::Request {
            action: "math.add".into(),
        };
        assert_eq!(req.channel("MOL-dev"), "MOL-dev.REQB.math.add");
        assert_eq!(req.queue_group(), "math.add");
        assert_eq!(req.packet_type(), PacketType::Request);
        let ev = BalancedTopic::Event {
            group: "users".into(),
            event: "user.**".into(),
        };
        assert_eq!(ev.channel("MOL"), "MOL.EVENTB.users.user.**");
        assert_eq!(ev.subscription("MOL"), "MOL.EVENTB.users.user.>");
        assert_eq!(ev.queue_group(), "users");
        let plain = BalancedTopic::Event {
            group: "g".into(),
            event: "a.*".into(),
        };
        assert_eq!(plain.subscription("MOL"), "MOL.EVENTB.g.a.*");
        assert!(!MemoryTransporter::new().has_builtin_balancer());
    }

    #[test]
    fn transporters_describe_themselves_without_debug_noise() {
        assert_eq!(MemoryTransporter::new().describe(), "memory");
    }
}
