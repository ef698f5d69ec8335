//! [`MqttTransporter`]: broker-core's `Transporter` over one MQTT connection.

use crate::options::{
    check_separator, parse_url, Endpoint, Qos, Settings, TlsFiles, MQTT_MAX_PACKET,
};
use crate::session::{Inbound, Lost, Session};
use crate::tls::client_config;
use crate::topics::{is_valid_topic, packet_type_of, topic_name};
use broker_core::packet::PacketType;
use broker_core::transporter::{
    channel_prefix, BoxFuture, Bytes, Topic, TransportEvent, TransportEvents, TransportSetup,
};
use broker_core::{Error, Transporter};
use rumqttc::{MqttOptions, Transport};
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio::task::{AbortHandle, JoinHandle};

/// The smallest delay or timeout the builder methods accept; smaller values are raised to it.
const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// A [`Transporter`] over MQTT 3.1.1, wire-compatible with Moleculer.js's MQTT transporter.
///
/// Topics are Moleculer's, built with its `topicSeparator` (`.` by default):
/// `MOL-<namespace>.<TYPE>` and `MOL-<namespace>.<TYPE>.<nodeID>` (`MOL…` for the empty
/// namespace), one subscription per topic of the node, all at the transporter's `qos` (0 by
/// default, as in Moleculer.js); the message body is the packet's bytes and nothing else.
/// Like Moleculer's, it has no built-in balancer: with `disable_balancer` the broker warns and
/// balances itself.
///
/// Reconnecting is this transporter's work: when the connection is lost the broker hears
/// [`TransportEvent::Disconnected`] once and publishes fail fast with
/// `BrokerDisconnectedError`; a new connection is tried at once, then every 100 ms doubling up
/// to 1 s (jittered), with a clean session, on which every topic is subscribed again in one
/// SUBSCRIBE; once the server has acknowledged it the broker hears
/// [`TransportEvent::Reconnected`] and announces the node again.
///
/// Delivery is Moleculer's: what others publish while this node is away is lost, and a publish
/// that was queued or (at QoS 1 and 2) not yet acknowledged when the connection failed is
/// reported to the broker as undelivered, never sent twice.
///
/// [`TransportEvent::Disconnected`]: broker_core::transporter::TransportEvent::Disconnected
/// [`TransportEvent::Reconnected`]: broker_core::transporter::TransportEvent::Reconnected
///
/// ```no_run
/// use broker_mqtt::{MqttTransporter, Qos};
///
/// # fn main() -> Result<(), broker_core::Error> {
/// // As a URL (Moleculer's options in the query) …
/// let a = MqttTransporter::new("mqtt://app:secret@10.0.0.5:1883?qos=1&topicSeparator=/")?;
/// // … or with the builder.
/// let b = MqttTransporter::new("mqtt://10.0.0.5:1883")?
///     .qos(Qos::AtLeastOnce)
///     .topic_separator("/");
/// # let _ = (a, b);
/// # Ok(())
/// # }
/// ```
pub struct MqttTransporter {
    endpoint: Endpoint,
    settings: Settings,
    tls: TlsFiles,
    connected: Arc<AtomicBool>,
    link: RwLock<Option<Link>>,
}

impl fmt::Debug for MqttTransporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The address only: never the password.
        f.debug_struct("MqttTransporter")
            .field("server", &self.endpoint.describe())
            .field("connected", &self.is_connected())
            .field("settings", &self.settings)
            .field("tls", &self.tls)
            .finish()
    }
}

/// One outgoing publish, with what the broker needs to hear if it cannot go out.
struct Outgoing {
    topic: String,
    payload: Bytes,
    packet_type: PacketType,
    target: Option<String>,
}

/// What the connection's tasks share.
struct Shared {
    settings: Settings,
    describe: String,
    /// The client options; each connection gets a copy.
    options: MqttOptions,
    inbound: Inbound,
    connected: Arc<AtomicBool>,
    /// The live connection, `None` while there is none.
    current: RwLock<Option<Arc<Session>>>,
    /// The driving task of the live connection, to stop it on `disconnect`.
    pump: Mutex<Option<AbortHandle>>,
    /// Every topic subscribed so far: subscribed again on each new connection.
    wanted: Mutex<Vec<String>>,
    /// Set by `disconnect`: the connection's end means nothing to the broker any more.
    closed: AtomicBool,
    /// Wakes the supervisor out of a reconnect pause on `disconnect`.
    closing: Notify,
}

impl Shared {
    fn current(&self) -> Option<Arc<Session>> {
        read(&self.current).clone()
    }

    fn undelivered(&self, publish: rumqttc::Publish) {
        let (packet_type, target) = self.what_was_sent(&publish.topic);
        let Some(packet_type) = packet_type else {
            return;
        };
        let _ = self.inbound.events.send(TransportEvent::Undelivered {
            packet_type,
            target,
            payload: publish.payload,
        });
    }

    /// The type and target node of a topic this node published to.
    fn what_was_sent(&self, topic: &str) -> (Option<PacketType>, Option<String>) {
        let (prefix, sep) = (&self.inbound.prefix, &self.inbound.separator);
        let packet_type = packet_type_of(prefix, sep, topic);
        let target = packet_type.and_then(|kind| {
            let head = format!("{prefix}{sep}{}{sep}", kind.as_str());
            topic.strip_prefix(&head).map(str::to_owned)
        });
        (packet_type, target)
    }
}

/// What exists between `connect` and `disconnect`.
struct Link {
    prefix: String,
    shared: Arc<Shared>,
    outgoing: mpsc::UnboundedSender<Outgoing>,
    writer: JoinHandle<()>,
    supervisor: JoinHandle<()>,
}

impl MqttTransporter {
    /// A transporter for the server at `url`, as Moleculer.js takes it:
    /// `mqtt://host:1883`, `mqtt://user:password@host:1883`, `mqtts://host:8883` for TLS. The
    /// query may set Moleculer's options: `?qos=1&topicSeparator=/&keepalive=60`.
    ///
    /// Nothing connects until the broker starts. A URL that cannot be parsed is a
    /// `BrokerOptionsError`.
    pub fn new(url: &str) -> Result<MqttTransporter, Error> {
        let mut settings = Settings::default();
        let endpoint = parse_url(url, &mut settings)?;
        Ok(MqttTransporter {
            endpoint,
            settings,
            tls: TlsFiles::default(),
            connected: Arc::new(AtomicBool::new(false)),
            link: RwLock::new(None),
        })
    }

    /// The QoS of every publish and subscription (Moleculer's `qos`; default 0).
    pub fn qos(mut self, qos: Qos) -> MqttTransporter {
        self.settings.qos = qos;
        self
    }

    /// The separator between the parts of a topic (Moleculer's `topicSeparator`; default
    /// `.`, often `/` with MQTT). Every node of a cluster must use the same. One that is empty
    /// or holds an MQTT wildcard makes `connect` fail with `BrokerOptionsError`.
    pub fn topic_separator(mut self, separator: impl Into<String>) -> MqttTransporter {
        self.settings.topic_separator = separator.into();
        self
    }

    /// Authenticates with a user and password (instead of any in the URL).
    pub fn credentials(
        mut self,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> MqttTransporter {
        self.endpoint.credentials = Some((user.into(), password.into()));
        self
    }

    /// How often the client pings an otherwise quiet server, and so how soon a connection that
    /// died silently is noticed (default 60 s, as mqtt.js; whole seconds, at least 1).
    pub fn keep_alive(mut self, interval: Duration) -> MqttTransporter {
        self.settings.keep_alive = Duration::from_secs(interval.as_secs().clamp(1, 65_535));
        self
    }

    /// The largest packet this node publishes, in bytes (default, and at most, MQTT's limit
    /// of 256 MiB). A larger one is not sent: the broker hears it as undelivered (a request
    /// fails at once). Packets that arrive are accepted up to MQTT's limit whatever this says:
    /// a client that refused one would lose its connection.
    pub fn max_packet_size(mut self, bytes: usize) -> MqttTransporter {
        self.settings.max_packet_size = bytes.clamp(1, MQTT_MAX_PACKET);
        self
    }

    /// Delays between reconnect attempts after the first (which is immediate): `base`,
    /// doubling each failed attempt, never above `cap`, each jittered down to as little as half
    /// (defaults 100 ms and 1 s; `base` is at least 1 ms, `cap` at least `base`).
    pub fn reconnect_backoff(mut self, base: Duration, cap: Duration) -> MqttTransporter {
        self.settings.backoff_base = base.max(MIN_INTERVAL);
        self.settings.backoff_cap = cap.max(self.settings.backoff_base);
        self
    }

    /// The longest wait for the server: to connect, to acknowledge subscriptions, and for
    /// `disconnect` to hand over what is queued (default 5 s).
    pub fn command_timeout(mut self, timeout: Duration) -> MqttTransporter {
        self.settings.command_timeout = timeout.max(MIN_INTERVAL);
        self
    }

    /// Uses TLS even for an `mqtt://` URL.
    pub fn require_tls(mut self) -> MqttTransporter {
        self.endpoint.tls = true;
        self
    }

    /// Trusts this certificate authority (a PEM file) for the server's certificate, besides the
    /// system's roots; implies TLS.
    pub fn tls_root_certificate(mut self, ca_pem_file: impl Into<PathBuf>) -> MqttTransporter {
        self.tls.root_certificates.push(ca_pem_file.into());
        self.endpoint.tls = true;
        self
    }

    /// Presents this client certificate and key (PEM files) for mutual TLS; implies TLS.
    pub fn tls_client_certificate(
        mut self,
        cert_pem_file: impl Into<PathBuf>,
        key_pem_file: impl Into<PathBuf>,
    ) -> MqttTransporter {
        self.tls.client_certificate = Some((cert_pem_file.into(), key_pem_file.into()));
        self.endpoint.tls = true;
        self
    }

    fn read(&self) -> RwLockReadGuard<'_, Option<Link>> {
        read(&self.link)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Option<Link>> {
        match self.link.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The client options of every connection: a fresh client ID (as mqtt.js makes one), a
    /// clean session, the keep-alive, credentials and TLS.
    fn client_options(&self) -> Result<MqttOptions, Error> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        // 23 characters: the most every MQTT 3.1.1 server must accept.
        let client_id = format!("mqttrs_{}", &id[..16]);
        let mut options =
            MqttOptions::new(client_id, self.endpoint.host.clone(), self.endpoint.port);
        options
            .set_clean_session(true)
            .set_keep_alive(self.settings.keep_alive)
            // What we publish is checked before it reaches the client (see `write_loop`); a
            // packet the client itself refused would cost the connection.
            .set_max_packet_size(MQTT_MAX_PACKET + 5, MQTT_MAX_PACKET + 5);
        if let Some((user, password)) = &self.endpoint.credentials {
            options.set_credentials(user.clone(), password.clone());
        }
        if self.endpoint.tls {
            let config = client_config(&self.tls)?;
            options.set_transport(Transport::tls_with_config(
                rumqttc::TlsConfiguration::Rustls(Arc::new(config)),
            ));
        }
        Ok(options)
    }

    async fn open(&self, setup: &TransportSetup) -> Result<TransportEvents, Error> {
        if self.read().is_some() {
            return Err(already_connected());
        }
        check_separator(&self.settings.topic_separator).map_err(Error::broker_options)?;
        let prefix = channel_prefix(&setup.namespace);
        for (what, value) in [("namespace", &setup.namespace), ("node ID", &setup.node_id)] {
            if value.contains(['+', '#', '\0']) {
                return Err(Error::broker_options(format!(
                    "the {what} `{value}` cannot be part of an MQTT topic (it holds `+`, `#` or NUL)"
                )));
            }
        }
        let options = self.client_options()?;
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let inbound = Inbound {
            prefix: prefix.clone(),
            separator: self.settings.topic_separator.clone(),
            events: events_tx,
        };
        let describe = self.describe();
        let (session, pump) = Session::open(
            options.clone(),
            inbound.clone(),
            self.settings.command_timeout,
        )
        .await
        .map_err(|err| err.into_error(&describe))?;
        let shared = Arc::new(Shared {
            settings: self.settings.clone(),
            describe,
            options,
            inbound,
            connected: self.connected.clone(),
            current: RwLock::new(Some(session)),
            pump: Mutex::new(Some(pump.abort_handle())),
            wanted: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
            closing: Notify::new(),
        });
        let (outgoing, queue) = mpsc::unbounded_channel();
        let writer = tokio::spawn(write_loop(shared.clone(), queue));
        let supervisor = tokio::spawn(supervise(shared.clone(), pump));
        let mut link = self.write();
        if link.is_some() {
            writer.abort();
            supervisor.abort();
            shutdown(&shared);
            return Err(already_connected());
        }
        self.connected.store(true, Ordering::SeqCst);
        *link = Some(Link {
            prefix,
            shared,
            outgoing,
            writer,
            supervisor,
        });
        tracing::info!(server = %self.describe(), namespace = %setup.namespace, "connected to MQTT");
        Ok(events_rx)
    }

    async fn subscribe_topics(&self, topics: &[Topic]) -> Result<(), Error> {
        let (shared, prefix) = {
            let guard = self.read();
            let link = guard.as_ref().ok_or_else(Error::broker_disconnected)?;
            (link.shared.clone(), link.prefix.clone())
        };
        let separator = &shared.settings.topic_separator;
        let mut filters = Vec::with_capacity(topics.len());
        for topic in topics {
            let name = topic_name(&prefix, separator, topic);
            if !is_valid_topic(&name) {
                return Err(Error::broker_options(format!(
                    "`{name}` cannot be an MQTT topic"
                )));
            }
            filters.push(name);
        }
        {
            let mut wanted = lock(&shared.wanted);
            for name in &filters {
                if !wanted.contains(name) {
                    wanted.push(name.clone());
                }
            }
        }
        if !self.is_connected() {
            return Err(Error::broker_disconnected());
        }
        let session = shared.current().ok_or_else(Error::broker_disconnected)?;
        session
            .subscribe(
                &filters,
                shared.settings.qos.to_rumqttc(),
                shared.settings.command_timeout,
            )
            .await
    }

    async fn close(&self) {
        self.connected.store(false, Ordering::SeqCst);
        let Some(link) = self.write().take() else {
            return;
        };
        let Link {
            shared,
            outgoing,
            mut writer,
            mut supervisor,
            ..
        } = link;
        shared.closed.store(true, Ordering::SeqCst);
        shared.closing.notify_one();
        // New publishes already fail; the writer hands what is queued to the client, then the
        // DISCONNECT goes out behind it, and the server closes the connection.
        drop(outgoing);
        let limit = shared.settings.command_timeout;
        if tokio::time::timeout(limit, &mut writer).await.is_err() {
            tracing::warn!("queued MQTT publishes not handed over in time; dropping them");
            writer.abort();
        }
        let session = write(&shared.current).take();
        if let Some(session) = session {
            if let Err(err) = session.client.disconnect().await {
                tracing::debug!(%err, "MQTT disconnect: the connection was already gone");
            }
        }
        if tokio::time::timeout(limit, &mut supervisor).await.is_err() {
            tracing::debug!("the MQTT server did not close the connection in time");
            supervisor.abort();
        }
        shutdown(&shared);
        tracing::debug!(server = %self.describe(), "MQTT transporter closed");
    }
}

impl Transporter for MqttTransporter {
    fn connect<'a>(
        &'a self,
        setup: &'a TransportSetup,
    ) -> BoxFuture<'a, Result<TransportEvents, Error>> {
        Box::pin(self.open(setup))
    }

    fn subscribe<'a>(&'a self, topics: &'a [Topic]) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(self.subscribe_topics(topics))
    }

    fn publish(&self, topic: &Topic, payload: Bytes) -> Result<(), Error> {
        if !self.connected.load(Ordering::Acquire) {
            return Err(Error::broker_disconnected());
        }
        let guard = self.read();
        let link = guard.as_ref().ok_or_else(Error::broker_disconnected)?;
        let outgoing = Outgoing {
            topic: topic_name(&link.prefix, &link.shared.settings.topic_separator, topic),
            payload,
            packet_type: topic.packet_type,
            target: topic.node_id.clone(),
        };
        link.outgoing
            .send(outgoing)
            .map_err(|_| Error::broker_disconnected())
    }

    fn disconnect(&self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            self.close().await;
            Ok(())
        })
    }

    fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// The server without the password: `mqtt://user:***@host:1883`.
    fn describe(&self) -> String {
        self.endpoint.describe()
    }
}

/// Stops the live connection's task, if any is left.
fn shutdown(shared: &Shared) {
    write(&shared.current).take();
    if let Some(pump) = lock(&shared.pump).take() {
        pump.abort();
    }
}

/// Hands the queued publishes to the live connection's client, in order, until the queue
/// closes. What cannot go out (too large, a topic MQTT cannot carry, no connection) is
/// reported to the broker as undelivered.
async fn write_loop(shared: Arc<Shared>, mut queue: mpsc::UnboundedReceiver<Outgoing>) {
    let qos = shared.settings.qos.to_rumqttc();
    let max = shared.settings.max_packet_size;
    let mut batch = Vec::new();
    while queue.recv_many(&mut batch, 256).await > 0 {
        for out in batch.drain(..) {
            // MQTT's remaining length: topic length, topic, packet id at QoS 1 and 2, payload.
            let id = if qos == rumqttc::QoS::AtMostOnce {
                0
            } else {
                2
            };
            let size = 2 + out.topic.len() + id + out.payload.len();
            let refused = if !is_valid_topic(&out.topic) {
                Some("MQTT cannot carry its topic")
            } else if size > max {
                Some("it is larger than the maximum packet size")
            } else {
                None
            };
            let sent = match (refused, shared.current()) {
                (Some(why), _) => {
                    tracing::warn!(topic = %out.topic, size, "MQTT: a {} packet is not sent: {why}", out.packet_type);
                    false
                }
                (None, None) => false,
                (None, Some(session)) => session
                    .client
                    .publish_bytes(out.topic.clone(), qos, false, out.payload.clone())
                    .await
                    .is_ok(),
            };
            if !sent {
                let _ = shared.inbound.events.send(TransportEvent::Undelivered {
                    packet_type: out.packet_type,
                    target: out.target,
                    payload: out.payload,
                });
            }
        }
    }
}

/// Watches the live connection; after a loss tells the broker, reports what the connection
/// held, and reconnects (subscribing every topic again once) until it succeeds or the
/// transporter is closed.
async fn supervise(shared: Arc<Shared>, mut pump: JoinHandle<Lost>) {
    loop {
        let lost = match (&mut pump).await {
            Ok(lost) => lost,
            // Aborted by `disconnect`.
            Err(_) => return,
        };
        write(&shared.current).take();
        if shared.closed.load(Ordering::SeqCst) {
            return;
        }
        if shared.connected.swap(false, Ordering::SeqCst) {
            tracing::warn!(server = %shared.describe, reason = %lost.reason, "MQTT connection lost; reconnecting");
            let _ = shared.inbound.events.send(TransportEvent::Disconnected);
        }
        for publish in lost.unsent {
            shared.undelivered(publish);
        }
        let Some(next) = reconnect(&shared).await else {
            return;
        };
        pump = next;
    }
}

/// Opens connections until one is up with every topic subscribed (the server's SUBACK in
/// hand); then it becomes the live one and the broker hears `Reconnected`. `None` once the
/// transporter is closed.
async fn reconnect(shared: &Shared) -> Option<JoinHandle<Lost>> {
    let mut attempt: u32 = 0;
    loop {
        let delay = reconnect_delay(
            shared.settings.backoff_base,
            shared.settings.backoff_cap,
            attempt,
        );
        attempt = attempt.saturating_add(1);
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shared.closing.notified() => return None,
        }
        if shared.closed.load(Ordering::SeqCst) {
            return None;
        }
        let limit = shared.settings.command_timeout;
        let opened = Session::open(shared.options.clone(), shared.inbound.clone(), limit).await;
        let (session, pump) = match opened {
            Ok(opened) => opened,
            Err(err) => {
                tracing::debug!(attempt, error = %err.into_error(&shared.describe), "MQTT reconnect attempt failed");
                continue;
            }
        };
        let wanted = lock(&shared.wanted).clone();
        let qos = shared.settings.qos.to_rumqttc();
        if let Err(err) = session.subscribe(&wanted, qos, limit).await {
            tracing::warn!(%err, "MQTT: subscribing again after a reconnect failed; trying a new connection");
            pump.abort();
            continue;
        }
        if shared.closed.load(Ordering::SeqCst) {
            pump.abort();
            return None;
        }
        *lock(&shared.pump) = Some(pump.abort_handle());
        *write(&shared.current) = Some(session);
        shared.connected.store(true, Ordering::SeqCst);
        tracing::info!(server = %shared.describe, attempt, "MQTT connection restored");
        let _ = shared.inbound.events.send(TransportEvent::Reconnected);
        return Some(pump);
    }
}

/// The pause before reconnect attempt `attempt` (0-based): none for the first, then `base`
/// doubling up to `cap`, jittered down to as little as half.
fn reconnect_delay(base: Duration, cap: Duration, attempt: u32) -> Duration {
    if attempt == 0 {
        return Duration::ZERO;
    }
    let exp = (attempt - 1).min(16);
    let delay = base.saturating_mul(1u32 << exp).min(cap);
    let unit = (uuid::Uuid::new_v4().as_u128() % 1000) as f64 / 1000.0;
    delay.mul_f64(0.5 + 0.5 * unit)
}

fn already_connected() -> Error {
    Error::broker_options("MqttTransporter is already connected; disconnect it first")
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    match l.read() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    match l.write() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_delays_grow_with_jitter_and_a_cap() {
        let (base, cap) = (Duration::from_millis(100), Duration::from_millis(1000));
        assert_eq!(reconnect_delay(base, cap, 0), Duration::ZERO);
        for (attempt, full) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (60, 1000),
        ] {
            for _ in 0..20 {
                let d = reconnect_delay(base, cap, attempt).as_millis() as u64;
                assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d} ms");
            }
        }
    }

    #[test]
    fn builder_clamps_nonsense_and_tls_options_imply_tls() {
        let t = MqttTransporter::new("mqtt://127.0.0.1")
            .expect("url")
            .reconnect_backoff(Duration::ZERO, Duration::ZERO)
            .command_timeout(Duration::ZERO)
            .keep_alive(Duration::ZERO)
            .max_packet_size(0);
        assert_eq!(t.settings.backoff_base, MIN_INTERVAL);
        assert_eq!(t.settings.backoff_cap, MIN_INTERVAL);
        assert_eq!(t.settings.command_timeout, MIN_INTERVAL);
        assert_eq!(t.settings.keep_alive, Duration::from_secs(1));
        assert_eq!(t.settings.max_packet_size, 1);
        assert!(!t.endpoint.tls);
        assert!(t.tls_root_certificate("/tmp/ca.pem").endpoint.tls);
        assert!(MqttTransporter::new("mqtts://h").expect("url").endpoint.tls);
    }

    #[test]
    fn debug_and_describe_hide_secrets() {
        let t = MqttTransporter::new("mqtt://bob:hunter2@127.0.0.1:1883")
            .expect("url")
            .credentials("alice", "tok3n");
        let shown = format!("{t:?} {}", t.describe());
        for secret in ["hunter2", "tok3n"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert_eq!(t.describe(), "mqtt://alice:***@127.0.0.1:1883");
    }
}
