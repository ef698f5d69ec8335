//! An in-process bus: brokers in one process talk through it with the full transit path
//! (packets encoded to JSON bytes and decoded again), exactly as they would over Redis.

use super::{
    channel_name, channel_prefix, BoxFuture, Topic, TransportEvent, TransportEvents,
    TransportSetup, Transporter,
};
use crate::error::Error;
use crate::packet::PacketType;
use bytes::Bytes;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use tokio::sync::mpsc;

type Subscriber = (u64, PacketType, mpsc::UnboundedSender<TransportEvent>);

/// A shared in-process bus. Every [`MemoryTransporter`] on the same bus (and namespace) sees the
/// others; [`MemoryBus::global`] is the one `MemoryTransporter::new` uses.
#[derive(Default)]
pub struct MemoryBus {
    channels: RwLock<HashMap<String, Vec<Subscriber>>>,
    /// The cluster lock of the brokers on this bus (cluster-once scheduled tasks).
    lock: Arc<crate::periodic::MemoryClusterLock>,
}

impl fmt::Debug for MemoryBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let channels = self.channels.read().map(|c| c.len()).unwrap_or(0);
        f.debug_struct("MemoryBus")
            .field("channels", &channels)
            .finish()
    }
}

impl MemoryBus {
    /// A new, empty bus, isolated from every other.
    pub fn new() -> Arc<MemoryBus> {
        Arc::new(MemoryBus::default())
    }

    /// The process-wide bus.
    pub fn global() -> Arc<MemoryBus> {
        static GLOBAL: OnceLock<Arc<MemoryBus>> = OnceLock::new();
        GLOBAL.get_or_init(MemoryBus::new).clone()
    }

    /// Publishes raw bytes on a channel, as a foreign node would (used by tests that feed the
    /// bus garbage). Returns how many subscribers received it.
    pub fn publish_raw(&self, channel: &str, payload: Bytes) -> usize {
        let channels = match self.channels.read() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        let Some(subs) = channels.get(channel) else {
            return 0;
        };
        let mut delivered = 0;
        for (_, packet_type, tx) in subs {
            let event = TransportEvent::Message {
                packet_type: *packet_type,
                payload: payload.clone(),
            };
            if tx.send(event).is_ok() {
                delivered += 1;
            }
        }
        delivered
    }

    fn add(&self, channel: String, sub: Subscriber) {
        let mut channels = match self.channels.write() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        let subs = channels.entry(channel).or_default();
        // Subscribing twice to one channel is idempotent, as in Redis.
        if !subs.iter().any(|(id, _, _)| *id == sub.0) {
            subs.push(sub);
        }
    }

    fn remove_subscriber(&self, id: u64) {
        let mut channels = match self.channels.write() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        channels.retain(|_, subs| {
            subs.retain(|(sid, _, _)| *sid != id);
            !subs.is_empty()
        });
    }
}

struct Connection {
    prefix: String,
    events: mpsc::UnboundedSender<TransportEvent>,
}

/// A transporter over a [`MemoryBus`]: the embedded default, needing no server.
///
/// ```
/// use broker_core::{Broker, MemoryTransporter};
///
/// let a = Broker::builder().node_id("a").transporter(MemoryTransporter::new()).build();
/// let b = Broker::builder().node_id("b").transporter(MemoryTransporter::new()).build();
/// # let _ = (a, b);
/// ```
pub struct MemoryTransporter {
    bus: Arc<MemoryBus>,
    id: u64,
    connection: Mutex<Option<Connection>>,
    connected: AtomicBool,
    refusing: AtomicBool,
}

impl fmt::Debug for MemoryTransporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryTransporter")
            .field("id", &self.id)
            .field("connected", &self.is_connected())
            .finish()
    }
}

impl Default for MemoryTransporter {
    fn default() -> Self {
        MemoryTransporter::new()
    }
}

impl MemoryTransporter {
    /// A transporter on the process-wide bus.
    pub fn new() -> MemoryTransporter {
        MemoryTransporter::on_bus(MemoryBus::global())
    }

    /// A transporter on a given bus.
    pub fn on_bus(bus: Arc<MemoryBus>) -> MemoryTransporter {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        MemoryTransporter {
            bus,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            connection: Mutex::new(None),
            connected: AtomicBool::new(false),
            refusing: AtomicBool::new(false),
        }
    }

    /// Cuts this node off the bus without a word, as if its process were killed: nothing it
    /// publishes arrives anywhere and nothing reaches it. Tests use it to simulate node loss.
    pub fn sever(&self) {
        self.bus.remove_subscriber(self.id);
        self.connected.store(false, Ordering::SeqCst);
        self.lock().take();
    }

    /// Simulates losing the connection: publishes fail with `BrokerDisconnectedError` and
    /// nothing arrives until [`MemoryTransporter::simulate_reconnect`].
    pub fn simulate_disconnect(&self) {
        self.connected.store(false, Ordering::SeqCst);
        if let Some(conn) = self.lock().as_ref() {
            let _ = conn.events.send(TransportEvent::Disconnected);
        }
    }

    /// Ends a [`MemoryTransporter::simulate_disconnect`].
    pub fn simulate_reconnect(&self) {
        self.connected.store(true, Ordering::SeqCst);
        if let Some(conn) = self.lock().as_ref() {
            let _ = conn.events.send(TransportEvent::Reconnected);
        }
    }

    /// Simulates a bus that is down (or not up yet): while `refuse` is set, `connect` fails
    /// with a retryable `BrokerDisconnectedError`, as a Redis that does not listen would.
    pub fn refuse_connections(&self, refuse: bool) {
        self.refusing.store(refuse, Ordering::SeqCst);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Connection>> {
        match self.connection.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

impl Transporter for MemoryTransporter {
    fn connect<'a>(
        &'a self,
        setup: &'a TransportSetup,
    ) -> BoxFuture<'a, Result<TransportEvents, Error>> {
        Box::pin(async move {
            if self.refusing.load(Ordering::SeqCst) {
                return Err(Error::new(
                    "BrokerDisconnectedError",
                    "the memory bus refuses connections (MemoryTransporter::refuse_connections)",
                )
                .with_code(502)
                .with_type("BAD_GATEWAY")
                .with_retryable(true));
            }
            let (tx, rx) = mpsc::unbounded_channel();
            *self.lock() = Some(Connection {
                prefix: channel_prefix(&setup.namespace),
                events: tx,
            });
            self.connected.store(true, Ordering::SeqCst);
            Ok(rx)
        })
    }

    fn subscribe<'a>(&'a self, topics: &'a [Topic]) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let guard = self.lock();
            let conn = guard.as_ref().ok_or_else(Error::broker_disconnected)?;
            for topic in topics {
                self.bus.add(
                    topic.channel(&conn.prefix),
                    (self.id, topic.packet_type, conn.events.clone()),
                );
            }
            Ok(())
        })
    }

    fn publish(&self, topic: &Topic, payload: Bytes) -> Result<(), Error> {
        if !self.connected.load(Ordering::Acquire) {
            return Err(Error::broker_disconnected());
        }
        let channel = {
            let guard = self.lock();
            let Some(conn) = guard.as_ref() else {
                return Err(Error::broker_disconnected());
            };
            channel_name(&conn.prefix, topic.packet_type, topic.node_id.as_deref())
        };
        self.bus.publish_raw(&channel, payload);
        Ok(())
    }

    fn disconnect(&self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            self.sever();
            Ok(())
        })
    }

    fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    fn cluster_lock(&self) -> Option<Arc<dyn crate::periodic::ClusterLock>> {
        Some(self.bus.lock.clone())
    }

    fn describe(&self) -> String {
        "memory".to_owned()
    }
}
