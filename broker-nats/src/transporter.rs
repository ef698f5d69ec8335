//! [`NatsTransporter`]: broker-core's `Transporter` over one NATS connection.

use crate::micro::{MicroHandle, MicroOptions};
use crate::servers::{Credentials, Servers};
use async_nats::{Client, ConnectOptions, Event, Subscriber};
use broker_core::packet::PacketType;
use broker_core::transporter::{
    channel_prefix, BalancedTopic, BoxFuture, Bytes, Topic, TransportEvent, TransportEvents,
    TransportSetup,
};
use broker_core::{Broker, Error, Transporter};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Tunables, set with the builder methods.
#[derive(Debug, Clone, Copy)]
struct Options {
    backoff_base: Duration,
    backoff_cap: Duration,
    ping_interval: Duration,
    command_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            backoff_base: Duration::from_millis(100),
            backoff_cap: Duration::from_millis(500),
            ping_interval: Duration::from_secs(5),
            command_timeout: Duration::from_secs(5),
        }
    }
}

/// The smallest delay or interval the builder methods accept; smaller values are raised to it.
const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// Authentication set with the builder, over what the URL says.
#[derive(Clone, Default)]
struct Auth {
    credentials: Option<Credentials>,
    nkey_seed: Option<String>,
    credentials_file: Option<PathBuf>,
}

/// TLS files set with the builder.
#[derive(Debug, Clone, Default)]
struct Tls {
    root_certificates: Vec<PathBuf>,
    client_certificate: Option<(PathBuf, PathBuf)>,
}

/// Forwarding tasks by subscription key; aborting a task drops its subscription.
type Subscriptions = Arc<Mutex<HashMap<String, JoinHandle<()>>>>;

/// One outgoing publish, with what the broker needs to hear if it cannot go out.
struct Outgoing {
    subject: String,
    payload: Bytes,
    packet_type: PacketType,
    /// The node it is aimed at; `None` for a broadcast or a balanced topic.
    target: Option<String>,
}

/// What exists between `connect` and `disconnect`.
struct Link {
    client: Client,
    prefix: String,
    events: mpsc::UnboundedSender<TransportEvent>,
    outgoing: mpsc::UnboundedSender<Outgoing>,
    writer: JoinHandle<()>,
    /// One forwarding task per subscribed subject; aborting it drops the subscription.
    subscriptions: Subscriptions,
    /// The same for the balanced topics (`disable_balancer`), keyed by subject and queue group.
    balanced: Subscriptions,
    /// Set by `disconnect`: the client's events mean nothing to the broker any more.
    closed: Arc<AtomicBool>,
}

/// A [`Transporter`] over NATS, wire-compatible with Moleculer.js's NATS transporter: the same
/// subjects (`MOL-<namespace>.<TYPE>[.<nodeID>]`), the packet's JSON as the message body, and
/// plain subscriptions for the node's 12 topics.
///
/// One connection carries everything. Reconnecting is async-nats's work: when the server is
/// lost the broker hears [`TransportEvent::Disconnected`] once and publishes fail fast with
/// `BrokerDisconnectedError`; the client retries at short jittered intervals (the first at once,
/// on another server of the list if there are several, then 50–100 ms, growing to every
/// 250–500 ms), restores every subscription exactly once on the new connection, and only then
/// is [`TransportEvent::Reconnected`] reported, upon which the broker announces itself again.
/// The server is pinged every 5 s by default, so a connection that died silently is noticed.
///
/// Delivery is at most once, as with Moleculer.js: what others publish while this node is away
/// is lost (peers catch up from the re-announcement); a publish accepted just before the loss
/// was noticed waits in the client and goes out on the new connection.
///
/// Authentication comes from the URL (`nats://user:password@host`, `nats://token@host`) or the
/// builder ([`NatsTransporter::user_password`], [`NatsTransporter::token`],
/// [`NatsTransporter::nkey_seed`], [`NatsTransporter::credentials_file`]); `tls://` URLs (or
/// [`NatsTransporter::require_tls`]) use TLS, verified against the system's roots or the
/// certificates given with [`NatsTransporter::tls_root_certificate`].
///
/// [`TransportEvent::Disconnected`]: broker_core::transporter::TransportEvent::Disconnected
/// [`TransportEvent::Reconnected`]: broker_core::transporter::TransportEvent::Reconnected
///
/// ```no_run
/// use broker_nats::NatsTransporter;
/// use std::time::Duration;
///
/// # fn main() -> Result<(), broker_core::Error> {
/// let transporter = NatsTransporter::new("nats://app:secret@10.0.0.5:4222,nats://10.0.0.6:4222")?
///     .reconnect_backoff(Duration::from_millis(200), Duration::from_secs(2));
/// # let _ = transporter;
/// # Ok(())
/// # }
/// ```
pub struct NatsTransporter {
    servers: Servers,
    auth: Auth,
    tls: Tls,
    require_tls: bool,
    in_order: bool,
    options: Options,
    connected: Arc<AtomicBool>,
    link: RwLock<Option<Link>>,
    /// How the broker's services are exposed through the NATS service API; `None`: they
    /// are not.
    service_api: Option<MicroOptions>,
    /// The exposure, while the broker runs.
    exposed: Mutex<Option<MicroHandle>>,
}

impl fmt::Debug for NatsTransporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The addresses only: never the credentials.
        f.debug_struct("NatsTransporter")
            .field("servers", &self.servers.describe())
            .field("connected", &self.is_connected())
            .field("options", &self.options)
            .field("tls", &self.tls)
            .finish()
    }
}

impl NatsTransporter {
    /// A transporter for one NATS URL or several separated by commas, as Moleculer.js takes
    /// them: `nats://host:4222`, `nats://user:password@host:4222`, `nats://token@host:4222`,
    /// `tls://host:4443`, or a bare `host:port`. Credentials are taken from the first URL that
    /// has them.
    ///
    /// Nothing connects until the broker starts. A list that cannot be parsed is a
    /// `BrokerOptionsError`.
    pub fn new(urls: &str) -> Result<NatsTransporter, Error> {
        Ok(NatsTransporter {
            servers: Servers::parse(urls)?,
            auth: Auth::default(),
            tls: Tls::default(),
            require_tls: false,
            in_order: false,
            options: Options::default(),
            connected: Arc::new(AtomicBool::new(false)),
            link: RwLock::new(None),
            service_api: Some(MicroOptions::default()),
            exposed: Mutex::new(None),
        })
    }

    /// Exposes the broker's services through the NATS service API (ADR-32) with these
    /// options, once the broker has started. On by default with [`MicroOptions::default`]:
    /// any NATS client can then discover (`$SRV.PING`, `$SRV.INFO`, `$SRV.STATS`) and call
    /// them; see [`crate::micro`].
    pub fn service_api(mut self, options: MicroOptions) -> NatsTransporter {
        self.service_api = Some(options);
        self
    }

    /// Does not expose the broker's services through the NATS service API: only Moleculer
    /// nodes reach them.
    pub fn without_service_api(mut self) -> NatsTransporter {
        self.service_api = None;
        self
    }

    /// Authenticates with a user and password (instead of any in the URL).
    pub fn user_password(
        mut self,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> NatsTransporter {
        self.auth.credentials = Some(Credentials::UserPassword(user.into(), password.into()));
        self
    }

    /// Authenticates with a token (instead of any in the URL).
    pub fn token(mut self, token: impl Into<String>) -> NatsTransporter {
        self.auth.credentials = Some(Credentials::Token(token.into()));
        self
    }

    /// Authenticates with an NKey: the seed (`SU…`), whose public key the server knows.
    pub fn nkey_seed(mut self, seed: impl Into<String>) -> NatsTransporter {
        self.auth.nkey_seed = Some(seed.into());
        self
    }

    /// Authenticates with a `.creds` file (a user JWT and its NKey seed), read on connect.
    pub fn credentials_file(mut self, path: impl Into<PathBuf>) -> NatsTransporter {
        self.auth.credentials_file = Some(path.into());
        self
    }

    /// Uses TLS even for `nats://` URLs.
    pub fn require_tls(mut self) -> NatsTransporter {
        self.require_tls = true;
        self
    }

    /// Trusts this certificate authority (a PEM file) for the server's certificate, besides the
    /// system's roots; implies TLS.
    pub fn tls_root_certificate(mut self, ca_pem_file: impl Into<PathBuf>) -> NatsTransporter {
        self.tls.root_certificates.push(ca_pem_file.into());
        self.require_tls = true;
        self
    }

    /// Presents this client certificate and key (PEM files) for mutual TLS; implies TLS.
    pub fn tls_client_certificate(
        mut self,
        cert_pem_file: impl Into<PathBuf>,
        key_pem_file: impl Into<PathBuf>,
    ) -> NatsTransporter {
        self.tls.client_certificate = Some((cert_pem_file.into(), key_pem_file.into()));
        self.require_tls = true;
        self
    }

    /// Tries the servers in the order given (the first first, the next when it is gone), instead
    /// of in random order, which spreads a fleet given the same list over a cluster.
    pub fn servers_in_order(mut self) -> NatsTransporter {
        self.in_order = true;
        self
    }

    /// Delays between reconnect attempts after the first (which is immediate): `base`,
    /// doubling each failed attempt, never above `cap`, each jittered down to as little as half
    /// (defaults 100 ms and 500 ms; `base` is at least 1 ms, `cap` at least `base`).
    pub fn reconnect_backoff(mut self, base: Duration, cap: Duration) -> NatsTransporter {
        self.options.backoff_base = base.max(MIN_INTERVAL);
        self.options.backoff_cap = cap.max(self.options.backoff_base);
        self
    }

    /// How often the server is pinged (default 5 s); two unanswered pings mean the connection
    /// is lost.
    pub fn ping_interval(mut self, interval: Duration) -> NatsTransporter {
        self.options.ping_interval = interval.max(MIN_INTERVAL);
        self
    }

    /// The longest wait for the server: to connect, to confirm subscriptions, and for
    /// `disconnect` to flush what is queued (default 5 s).
    pub fn command_timeout(mut self, timeout: Duration) -> NatsTransporter {
        self.options.command_timeout = timeout.max(MIN_INTERVAL);
        self
    }

    fn read(&self) -> RwLockReadGuard<'_, Option<Link>> {
        match self.link.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn write(&self) -> RwLockWriteGuard<'_, Option<Link>> {
        match self.link.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn uses_tls(&self) -> bool {
        self.require_tls || self.servers.addrs.iter().any(|a| a.tls_required())
    }

    /// The client options: authentication, TLS, timing, and the event callback that tells the
    /// broker of losses and returns.
    async fn connect_options(
        &self,
        node_id: &str,
        events: mpsc::UnboundedSender<TransportEvent>,
        client: Arc<OnceLock<Client>>,
        closed: Arc<AtomicBool>,
    ) -> Result<ConnectOptions, Error> {
        let mut opts = match &self.auth.credentials_file {
            Some(path) => ConnectOptions::with_credentials_file(path)
                .await
                .map_err(|err| {
                    Error::broker_options(format!(
                        "cannot read the NATS credentials file {}: {err}",
                        path.display()
                    ))
                })?,
            None => ConnectOptions::new(),
        };
        match self
            .auth
            .credentials
            .as_ref()
            .unwrap_or(&self.servers.credentials)
        {
            Credentials::UserPassword(user, pass) => {
                opts = opts.user_and_password(user.clone(), pass.clone());
            }
            Credentials::Token(token) => opts = opts.token(token.clone()),
            Credentials::None => {}
        }
        if let Some(seed) = &self.auth.nkey_seed {
            opts = opts.nkey(seed.clone());
        }
        if self.uses_tls() {
            ensure_crypto_provider();
            opts = opts.require_tls(true);
            for ca in &self.tls.root_certificates {
                opts = opts.add_root_certificates(ca.clone());
            }
            if let Some((cert, key)) = &self.tls.client_certificate {
                opts = opts.add_client_certificate(cert.clone(), key.clone());
            }
        }
        if self.in_order {
            opts = opts.retain_servers_order();
        }
        let (base, cap) = (self.options.backoff_base, self.options.backoff_cap);
        let watch = Watch {
            connected: self.connected.clone(),
            lost: Arc::new(AtomicBool::new(false)),
            client,
            closed,
            events,
            flush_timeout: self.options.command_timeout,
        };
        Ok(opts
            .name(node_id)
            .connection_timeout(self.options.command_timeout)
            .ping_interval(self.options.ping_interval)
            .max_reconnects(None)
            .reconnect_delay_callback(move |attempts| reconnect_delay(base, cap, attempts))
            .event_callback(move |event| {
                let watch = watch.clone();
                async move { watch.on_event(event).await }
            }))
    }

    async fn open(&self, setup: &TransportSetup) -> Result<TransportEvents, Error> {
        if self.read().is_some() {
            return Err(already_connected());
        }
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(OnceLock::new());
        let closed = Arc::new(AtomicBool::new(false));
        let opts = self
            .connect_options(
                &setup.node_id,
                events_tx.clone(),
                shared.clone(),
                closed.clone(),
            )
            .await?;
        let client = opts
            .connect(self.servers.addrs.clone())
            .await
            .map_err(|err| self.connect_error(&err))?;
        let _ = shared.set(client.clone());
        let (outgoing, queue) = mpsc::unbounded_channel();
        let writer = tokio::spawn(write_loop(client.clone(), queue, events_tx.clone()));
        let mut link = self.write();
        if link.is_some() {
            writer.abort();
            return Err(already_connected());
        }
        self.connected.store(true, Ordering::SeqCst);
        *link = Some(Link {
            client,
            prefix: channel_prefix(&setup.namespace),
            events: events_tx,
            outgoing,
            writer,
            subscriptions: Arc::default(),
            balanced: Arc::default(),
            closed,
        });
        tracing::info!(servers = %self.describe(), namespace = %setup.namespace, "connected to NATS");
        Ok(events_rx)
    }

    fn connect_error(&self, err: &async_nats::ConnectError) -> Error {
        use async_nats::ConnectErrorKind as Kind;
        let message = format!("cannot connect to NATS at {}: {err}", self.describe());
        match err.kind() {
            // Wrong credentials or TLS settings will not get better by retrying.
            Kind::Authentication | Kind::AuthorizationViolation | Kind::Tls => {
                Error::broker_options(message)
            }
            _ if certificate_rejected(err) => Error::broker_options(message),
            _ => Error::new("BrokerDisconnectedError", message)
                .with_code(502)
                .with_type("BAD_GATEWAY")
                .with_retryable(true),
        }
    }

    /// Subscribes `subject` (in queue group `queue` if given) unless already subscribed, with a
    /// task forwarding its messages to the broker as `packet_type`; `balanced` picks the map
    /// the subscription is kept in.
    async fn subscribe_subject(
        &self,
        subject: String,
        queue: Option<String>,
        packet_type: PacketType,
        balanced: bool,
    ) -> Result<(), Error> {
        let (client, events, subscriptions) = {
            let guard = self.read();
            let link = guard.as_ref().ok_or_else(Error::broker_disconnected)?;
            let map = if balanced {
                &link.balanced
            } else {
                &link.subscriptions
            };
            (link.client.clone(), link.events.clone(), map.clone())
        };
        let key = subscription_key(&subject, queue.as_deref());
        if lock(&subscriptions).contains_key(&key) {
            return Ok(());
        }
        let subscribed = match queue {
            Some(queue) => client.queue_subscribe(subject.clone(), queue).await,
            None => client.subscribe(subject.clone()).await,
        };
        let subscriber = subscribed.map_err(|err| {
            tracing::warn!(%err, %subject, "NATS subscribe failed");
            Error::broker_disconnected()
        })?;
        let mut subs = lock(&subscriptions);
        if subs.contains_key(&key) {
            // A concurrent subscribe of the same subject won; dropping ours unsubscribes it.
            return Ok(());
        }
        let task = tokio::spawn(forward(subscriber, packet_type, events));
        subs.insert(key, task);
        Ok(())
    }

    /// Makes `topics` the balanced subscriptions: drops the others, adds the missing ones.
    async fn replace_balanced(&self, topics: &[BalancedTopic]) -> Result<(), Error> {
        let (prefix, balanced) = {
            let guard = self.read();
            let link = guard.as_ref().ok_or_else(Error::broker_disconnected)?;
            (link.prefix.clone(), link.balanced.clone())
        };
        let wanted: Vec<(String, String, PacketType)> = topics
            .iter()
            .map(|t| {
                (
                    t.subscription(&prefix),
                    t.queue_group().to_owned(),
                    t.packet_type(),
                )
            })
            .collect();
        let keys: Vec<String> = wanted
            .iter()
            .map(|(subject, queue, _)| subscription_key(subject, Some(queue)))
            .collect();
        lock(&balanced).retain(|key, task| {
            let keep = keys.contains(key);
            if !keep {
                task.abort();
            }
            keep
        });
        if !self.is_connected() {
            return Err(Error::broker_disconnected());
        }
        for (subject, queue, packet_type) in wanted {
            self.subscribe_subject(subject, Some(queue), packet_type, true)
                .await?;
        }
        self.confirm().await
    }

    /// Waits until the server has processed everything sent so far (subscriptions included).
    async fn confirm(&self) -> Result<(), Error> {
        let client = {
            let guard = self.read();
            guard
                .as_ref()
                .ok_or_else(Error::broker_disconnected)?
                .client
                .clone()
        };
        round_trip(&client, self.options.command_timeout).await
    }

    async fn close(&self) {
        self.connected.store(false, Ordering::SeqCst);
        let Some(link) = self.write().take() else {
            return;
        };
        let Link {
            client,
            outgoing,
            mut writer,
            subscriptions,
            balanced,
            closed,
            ..
        } = link;
        closed.store(true, Ordering::SeqCst);
        // New publishes already fail; the writer hands over what is queued, then the client
        // writes it out (the DISCONNECT packet among it) before the connection closes.
        drop(outgoing);
        let limit = self.options.command_timeout;
        if tokio::time::timeout(limit, &mut writer).await.is_err() {
            tracing::warn!("queued NATS publishes not handed over in time; dropping them");
            writer.abort();
        }
        for (_, task) in lock(&subscriptions).drain() {
            task.abort();
        }
        for (_, task) in lock(&balanced).drain() {
            task.abort();
        }
        match tokio::time::timeout(limit, client.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(%err, "NATS flush on disconnect failed"),
            Err(_) => tracing::warn!("NATS flush on disconnect timed out"),
        }
        if let Err(err) = tokio::time::timeout(limit, client.drain()).await {
            tracing::debug!(%err, "NATS drain on disconnect timed out");
        }
        tracing::debug!(servers = %self.describe(), "NATS transporter closed");
    }
}

impl Transporter for NatsTransporter {
    fn connect<'a>(
        &'a self,
        setup: &'a TransportSetup,
    ) -> BoxFuture<'a, Result<TransportEvents, Error>> {
        Box::pin(self.open(setup))
    }

    fn subscribe<'a>(&'a self, topics: &'a [Topic]) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let prefix = {
                let guard = self.read();
                guard
                    .as_ref()
                    .ok_or_else(Error::broker_disconnected)?
                    .prefix
                    .clone()
            };
            if !self.is_connected() {
                return Err(Error::broker_disconnected());
            }
            for topic in topics {
                self.subscribe_subject(topic.channel(&prefix), None, topic.packet_type, false)
                    .await?;
            }
            self.confirm().await
        })
    }

    fn publish(&self, topic: &Topic, payload: Bytes) -> Result<(), Error> {
        if !self.connected.load(Ordering::Acquire) {
            return Err(Error::broker_disconnected());
        }
        let guard = self.read();
        let link = guard.as_ref().ok_or_else(Error::broker_disconnected)?;
        let outgoing = Outgoing {
            subject: topic.channel(&link.prefix),
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
            // The service API first: it unsubscribes and answers what it holds.
            let exposed = lock(&self.exposed).take();
            if let Some(exposed) = exposed {
                exposed.stop().await;
            }
            self.close().await;
            Ok(())
        })
    }

    /// Exposes the broker's services through the NATS service API on this connection,
    /// unless [`NatsTransporter::without_service_api`] was chosen.
    fn broker_started<'a>(&'a self, broker: &'a Broker) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let Some(options) = self.service_api.clone() else {
                return Ok(());
            };
            let client = match self.read().as_ref() {
                Some(link) => link.client.clone(),
                None => return Ok(()),
            };
            let exposed = crate::micro::expose(broker, client, options)
                .await
                .map_err(|err| {
                    Error::broker_options(format!(
                        "the NATS service API (ADR-32) could not expose the services: {err}"
                    ))
                })?;
            if let Some(previous) = lock(&self.exposed).replace(exposed) {
                drop(previous);
            }
            Ok(())
        })
    }

    /// NATS balances through queue groups: Moleculer's `REQB.<action>` (queue `<action>`) and
    /// `EVENTB.<group>.<event>` (queue `<group>`).
    fn has_builtin_balancer(&self) -> bool {
        true
    }

    fn subscribe_balanced<'a>(
        &'a self,
        topics: &'a [BalancedTopic],
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(self.replace_balanced(topics))
    }

    fn publish_balanced(&self, topic: &BalancedTopic, payload: Bytes) -> Result<(), Error> {
        if !self.connected.load(Ordering::Acquire) {
            return Err(Error::broker_disconnected());
        }
        let guard = self.read();
        let link = guard.as_ref().ok_or_else(Error::broker_disconnected)?;
        let outgoing = Outgoing {
            subject: topic.channel(&link.prefix),
            payload,
            packet_type: topic.packet_type(),
            target: None,
        };
        link.outgoing
            .send(outgoing)
            .map_err(|_| Error::broker_disconnected())
    }

    fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// The server list without passwords: `nats://user:***@host:4222,nats://host2:4222`.
    fn describe(&self) -> String {
        self.servers.describe()
    }
}

/// Hands the queued publishes to the client, in order, until the queue closes.
///
/// Before each batch it yields once, so that the handlers woken by the same read (a read
/// under load carries dozens of requests) queue their replies first: the client's connection
/// task then finds them together and writes them with one `writev`. Without that pause it
/// wrote every 2–3 replies, and those syscalls were the largest cost per request in a profile
/// under 64 requests in flight (see BENCHMARKS.md); with nothing else to run, the pause is one
/// extra poll.
///
/// A message the
/// client refuses (larger than the server's `max_payload`, or a subject NATS cannot carry, such
/// as a node ID with a space) is reported to the broker as undelivered, so the call of such a
/// request fails at once; the others go on.
async fn write_loop(
    client: Client,
    mut queue: mpsc::UnboundedReceiver<Outgoing>,
    events: mpsc::UnboundedSender<TransportEvent>,
) {
    use async_nats::client::PublishErrorKind;
    let mut batch = Vec::new();
    while queue.recv_many(&mut batch, 1024).await > 0 {
        // Let the tasks already woken (the handlers of the other requests that arrived with
        // this one) queue their replies too: the client then writes them in one go.
        tokio::task::yield_now().await;
        while let Ok(out) = queue.try_recv() {
            batch.push(out);
        }
        for out in batch.drain(..) {
            let Outgoing {
                subject,
                payload,
                packet_type,
                target,
            } = out;
            let size = payload.len();
            // Both are reference-counted bytes: keeping them for a report costs no copy.
            let subject = async_nats::Subject::from(subject);
            match client.publish(subject.clone(), payload.clone()).await {
                Ok(()) => {}
                Err(err) if err.kind() == PublishErrorKind::Send => {
                    // Only a closed client fails so: nothing more can go out.
                    tracing::warn!(%err, "NATS publish failed; the client is closed");
                    return;
                }
                Err(err) => {
                    tracing::warn!(%err, %subject, size, "NATS refused to publish a {packet_type} packet");
                    let _ = events.send(TransportEvent::Undelivered {
                        packet_type,
                        target,
                        payload,
                    });
                }
            }
        }
    }
}

/// Subscribes a fresh inbox and sends one message to it: when it arrives, the server has
/// processed everything this client sent before (a server handles a connection's protocol in
/// order). A flush alone only says the bytes left the socket.
async fn round_trip(client: &Client, limit: Duration) -> Result<(), Error> {
    let exchange = async {
        let inbox = client.new_inbox();
        let mut echo = client.subscribe(inbox.clone()).await.ok()?;
        // The server drops the subscription itself after the one message.
        echo.unsubscribe_after(1).await.ok()?;
        client.publish(inbox, Bytes::new()).await.ok()?;
        echo.next().await
    };
    match tokio::time::timeout(limit, exchange).await {
        Ok(Some(_)) => Ok(()),
        _ => Err(Error::broker_disconnected()),
    }
}

/// Forwards one subscription's messages to the broker until it or the broker goes away.
async fn forward(
    mut subscriber: Subscriber,
    packet_type: PacketType,
    events: mpsc::UnboundedSender<TransportEvent>,
) {
    while let Some(msg) = subscriber.next().await {
        let event = TransportEvent::Message {
            packet_type,
            payload: msg.payload,
        };
        if events.send(event).is_err() {
            return;
        }
    }
}

/// What the client's event callback needs to turn its connection events into the broker's.
#[derive(Clone)]
struct Watch {
    connected: Arc<AtomicBool>,
    /// Set on a loss, cleared once the broker heard `Reconnected`.
    lost: Arc<AtomicBool>,
    /// The client, once `connect` returned it.
    client: Arc<OnceLock<Client>>,
    closed: Arc<AtomicBool>,
    events: mpsc::UnboundedSender<TransportEvent>,
    flush_timeout: Duration,
}

impl Watch {
    /// `Disconnected` once per loss; `Reconnected` once the client is back and the server has
    /// confirmed (a flush round trip) the subscriptions the client restored on the new
    /// connection. Events after `disconnect` are ignored: `connected` is already false and no
    /// loss is pending.
    async fn on_event(&self, event: Event) {
        if self.closed.load(Ordering::SeqCst) {
            return;
        }
        match event {
            Event::Disconnected => {
                if self.connected.swap(false, Ordering::SeqCst) {
                    self.lost.store(true, Ordering::SeqCst);
                    tracing::warn!("NATS connection lost; reconnecting");
                    let _ = self.events.send(TransportEvent::Disconnected);
                }
            }
            Event::Connected => {
                if !self.lost.load(Ordering::SeqCst) {
                    return;
                }
                let Some(client) = self.client.get() else {
                    return;
                };
                // The client queued the SUBs before anything else; once a message of ours
                // comes back the server has them all. While the connection stays up a slow
                // answer is waited for again; a new loss ends the wait (its `Connected` will
                // try again).
                loop {
                    if self.closed.load(Ordering::SeqCst) {
                        return;
                    }
                    if round_trip(client, self.flush_timeout).await.is_ok() {
                        break;
                    }
                    if client.connection_state() != async_nats::connection::State::Connected {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                if !self.closed.load(Ordering::SeqCst) && self.lost.swap(false, Ordering::SeqCst) {
                    self.connected.store(true, Ordering::SeqCst);
                    tracing::info!("NATS connection restored");
                    let _ = self.events.send(TransportEvent::Reconnected);
                }
            }
            Event::LameDuckMode => {
                tracing::info!("NATS server entering lame duck mode; the client will move on")
            }
            Event::SlowConsumer(sid) => {
                tracing::warn!(sid, "NATS slow consumer: messages dropped by the client")
            }
            Event::ServerError(err) => tracing::warn!(%err, "NATS server error"),
            // Every failed reconnect attempt reports one; the loss itself was logged once.
            Event::ClientError(err) => tracing::debug!(%err, "NATS client error"),
            Event::Draining | Event::Closed => {}
        }
    }
}

/// The delay before reconnect attempt `attempts` (1-based): none for the first (another
/// server may be up), then `base` doubling up to `cap`, jittered down to as little as half.
fn reconnect_delay(base: Duration, cap: Duration, attempts: usize) -> Duration {
    if attempts <= 1 {
        return Duration::ZERO;
    }
    let exp = (attempts - 2).min(16) as u32;
    let delay = base.saturating_mul(1u32 << exp).min(cap);
    let unit = (uuid_like_random() % 1000) as f64 / 1000.0;
    delay.mul_f64(0.5 + 0.5 * unit)
}

/// A few random bits without a dependency: the standard library's randomly keyed hasher.
fn uuid_like_random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u8(0);
    h.finish()
}

/// Whether a connect error comes from a server certificate rustls did not accept (unknown CA,
/// wrong name, expired): async-nats reports it as I/O, but retrying cannot help.
fn certificate_rejected(err: &async_nats::ConnectError) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(e) = next {
        // An `io::Error` hides what it wraps from `source()`; `get_ref` reaches it.
        let inner = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|inner| inner as &(dyn std::error::Error + 'static));
        for candidate in [Some(e), inner].into_iter().flatten() {
            if let Some(rustls::Error::InvalidCertificate(_)) = candidate.downcast_ref() {
                return true;
            }
        }
        next = e.source();
    }
    false
}

/// The key a subscription is kept under: its subject, and its queue group if any.
fn subscription_key(subject: &str, queue: Option<&str>) -> String {
    match queue {
        Some(queue) => format!("{subject} {queue}"),
        None => subject.to_owned(),
    }
}

fn already_connected() -> Error {
    Error::broker_options("NatsTransporter is already connected; disconnect it first")
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// rustls needs a process-wide crypto provider; install ring's unless the application chose one.
fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race here means another provider was installed first: also fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_delays_grow_with_jitter_and_a_cap() {
        let (base, cap) = (Duration::from_millis(100), Duration::from_millis(500));
        assert_eq!(reconnect_delay(base, cap, 1), Duration::ZERO);
        for (attempt, full) in [(2, 100), (3, 200), (4, 400), (5, 500), (60, 500)] {
            for _ in 0..20 {
                let d = reconnect_delay(base, cap, attempt).as_millis() as u64;
                assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d} ms");
            }
        }
    }

    #[test]
    fn builder_clamps_nonsense_and_tls_options_imply_tls() {
        let t = NatsTransporter::new("nats://127.0.0.1")
            .expect("url")
            .reconnect_backoff(Duration::ZERO, Duration::ZERO)
            .ping_interval(Duration::ZERO)
            .command_timeout(Duration::ZERO);
        assert_eq!(t.options.backoff_base, MIN_INTERVAL);
        assert_eq!(t.options.backoff_cap, MIN_INTERVAL);
        assert_eq!(t.options.ping_interval, MIN_INTERVAL);
        assert_eq!(t.options.command_timeout, MIN_INTERVAL);
        assert!(!t.uses_tls());
        assert!(t.tls_root_certificate("/tmp/ca.pem").uses_tls());
        assert!(NatsTransporter::new("tls://h:1").expect("url").uses_tls());
    }

    #[test]
    fn debug_and_describe_hide_secrets() {
        let t = NatsTransporter::new("nats://bob:hunter2@127.0.0.1:4222")
            .expect("url")
            .token("tok3n")
            .nkey_seed("SUAseed");
        let shown = format!("{t:?} {}", t.describe());
        for secret in ["hunter2", "tok3n", "SUAseed"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert_eq!(t.describe(), "nats://bob:***@127.0.0.1:4222");
    }
}
