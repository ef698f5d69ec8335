//! [`RedisTransporter`]: the public face, implementing broker-core's `Transporter`.

use crate::cluster;
use crate::supervisor::{open_publisher, open_subscriber, SubscribeRequest, Supervisor};
use crate::writer::Outgoing;
use broker_core::transporter::{
    channel_prefix, BoxFuture, Bytes, Topic, TransportEvents, TransportSetup,
};
use broker_core::{Error, Transporter};
use redis::{Client, ClientTlsConfig, ConnectionAddr, TlsCertificates};
use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch, Mutex};
use tokio::task::JoinHandle;

/// Tunables, set with the `RedisTransporter` builder methods.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    pub(crate) backoff_base: Duration,
    pub(crate) backoff_cap: Duration,
    pub(crate) health_check_interval: Duration,
    pub(crate) command_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            backoff_base: Duration::from_millis(100),
            backoff_cap: Duration::from_millis(500),
            health_check_interval: Duration::from_secs(5),
            command_timeout: Duration::from_secs(5),
        }
    }
}

/// The smallest delay or interval the builder methods accept; smaller values are raised to it.
const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// What exists between `connect` and `disconnect`.
struct Link {
    prefix: String,
    outgoing: mpsc::UnboundedSender<Outgoing>,
    requests: mpsc::UnboundedSender<SubscribeRequest>,
    shutdown: watch::Sender<bool>,
    supervisor: JoinHandle<()>,
}

/// A [`Transporter`] over Redis pub/sub, wire-compatible with Moleculer.js's Redis transporter.
///
/// It keeps two connections, as Moleculer.js does: a dedicated subscriber connection
/// (`SUBSCRIBE` to exact channels, never `PSUBSCRIBE`) and a publisher connection, named
/// `mol-<nodeID>-pub` in `CLIENT LIST` (the subscriber connection shows there with `sub=12`).
/// Publishing never waits: payloads go into a queue that one writer task drains, sending
/// everything it finds as one pipeline of `PUBLISH` commands. On `redis://` and
/// `redis+unix://` both connections speak RESP themselves (the subscriber parses every message
/// of a read in place and hands the payloads on without copying them); `rediss://` uses
/// redis-rs's connections, which bring the TLS set-up.
///
/// When either connection is lost the broker hears [`TransportEvent::Disconnected`] once and
/// publishes fail fast with `BrokerDisconnectedError`. The transporter then retries at short,
/// jittered intervals (by default the first after 50–100 ms, growing to every 250–500 ms: a
/// node serves again within half a second of Redis returning, and a fleet does not reconnect
/// in lockstep). A
/// connection that survived the loss is checked with a `PING` and replaced if dead (a Redis
/// restart takes both), every channel is subscribed again exactly once on the one new
/// subscriber connection, and only when both connections answer is
/// [`TransportEvent::Reconnected`] reported, upon which the broker announces itself again. A
/// health check (`PING` every 5 s by default on both connections, the publisher only while
/// idle) notices connections that died silently.
///
/// Delivery is at most once, as with Moleculer.js, but never lost silently: of a pipeline being
/// written when the publisher connection fails, announcements, heartbeats and pings are sent
/// again on the new connection, while a `REQ`, `EVENT` or `RES` (which may have reached Redis,
/// and must not run twice) is reported as [`TransportEvent::Undelivered`]: the broker fails the
/// call of a lost request at once with `BrokerDisconnectedError` and logs the others. What
/// others publish while the subscriber is down is lost; peers catch up from the
/// re-announcement.
///
/// For `rediss://` URLs the server is verified against the system's root certificates, or
/// against a private CA given with [`RedisTransporter::tls_root_certificate`];
/// [`RedisTransporter::tls_client_certificate`] adds a client certificate for mutual TLS.
///
/// Redis pub/sub ignores the database number: `redis://host/3` and `redis://host/4` share
/// channels, so isolate clusters with the broker namespace, not the db.
///
/// [`TransportEvent::Disconnected`]: broker_core::transporter::TransportEvent::Disconnected
/// [`TransportEvent::Reconnected`]: broker_core::transporter::TransportEvent::Reconnected
/// [`TransportEvent::Undelivered`]: broker_core::transporter::TransportEvent::Undelivered
///
/// ```no_run
/// use broker_redis::RedisTransporter;
/// use std::time::Duration;
///
/// # fn main() -> Result<(), broker_core::Error> {
/// let transporter = RedisTransporter::new("redis://app:secret@10.0.0.5:6379")?
///     .reconnect_backoff(Duration::from_millis(200), Duration::from_secs(10))
///     .health_check_interval(Duration::from_secs(2));
/// # let _ = transporter;
/// # Ok(())
/// # }
/// ```
pub struct RedisTransporter {
    /// One client per server to try, in order: one for a plain URL, the seed nodes of a Redis
    /// Cluster. Never empty.
    clients: Vec<Client>,
    /// Whether `clients` are the seeds of a Redis Cluster (`describe` says so).
    cluster: bool,
    tls: Option<TlsCertificates>,
    options: Options,
    connected: Arc<AtomicBool>,
    link: RwLock<Option<Link>>,
    /// The lock of cluster-once scheduled tasks, made on first use.
    cluster_lock: std::sync::OnceLock<Arc<crate::lock::RedisClusterLock>>,
}

impl fmt::Debug for RedisTransporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The address only: never the credentials.
        f.debug_struct("RedisTransporter")
            .field("addr", &self.addr())
            .field("connected", &self.is_connected())
            .field("options", &self.options)
            .finish()
    }
}

impl RedisTransporter {
    /// A transporter for a Redis URL: `redis://host:port`, `redis://user:password@host:port/db`
    /// (ACL user and password; the db does not scope pub/sub), `rediss://…` for TLS (rustls,
    /// with the system's root certificates) or `redis+unix:///path/to/socket`.
    ///
    /// Nothing connects until the broker starts. A URL that cannot be parsed is a
    /// `BrokerOptionsError`.
    ///
    /// `redis+cluster://host1:port1,host2:port2` (or `rediss+cluster://…`, credentials written
    /// once before the first host) names the seed nodes of a Redis Cluster, as
    /// [`RedisTransporter::cluster`] does.
    pub fn new(url: &str) -> Result<RedisTransporter, Error> {
        if let Some(seeds) = cluster::seed_urls(url)? {
            return RedisTransporter::cluster(seeds);
        }
        let client = open_client(url)?;
        Ok(RedisTransporter::with_clients(vec![client], false))
    }

    /// A transporter for a Redis Cluster, given the URLs of some of its nodes (`redis://…` or
    /// `rediss://…`, one per node).
    ///
    /// Pub/sub in a Redis Cluster is not sharded: a `PUBLISH` sent to any node reaches the
    /// subscribers of every node, carried over the cluster bus. So both connections go to one
    /// node, the first seed that answers. Once connected, the transporter also learns the
    /// cluster's other nodes (`CLUSTER NODES`); when its node goes away, the reconnect tries
    /// the next seed or learnt node, and so on round the list. Give nodes of one cluster
    /// different seed orders to spread them over the masters. Fails with `BrokerOptionsError` on an empty list or a URL
    /// that cannot be parsed.
    ///
    /// ```no_run
    /// use broker_redis::RedisTransporter;
    ///
    /// # fn main() -> Result<(), broker_core::Error> {
    /// let t = RedisTransporter::cluster(["redis://10.0.0.5:7000", "redis://10.0.0.6:7000"])?;
    /// // The same seeds, as one URL:
    /// let u = RedisTransporter::new("redis+cluster://10.0.0.5:7000,10.0.0.6:7000")?;
    /// # let _ = (t, u);
    /// # Ok(())
    /// # }
    /// ```
    pub fn cluster<I, S>(seeds: I) -> Result<RedisTransporter, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let clients = seeds
            .into_iter()
            .map(|url| open_client(url.as_ref()))
            .collect::<Result<Vec<Client>, Error>>()?;
        if clients.is_empty() {
            return Err(Error::broker_options(
                "a Redis Cluster needs at least one seed node URL",
            ));
        }
        Ok(RedisTransporter::with_clients(clients, true))
    }

    fn with_clients(clients: Vec<Client>, cluster: bool) -> RedisTransporter {
        RedisTransporter {
            clients,
            cluster,
            tls: None,
            options: Options::default(),
            connected: Arc::new(AtomicBool::new(false)),
            link: RwLock::new(None),
            cluster_lock: std::sync::OnceLock::new(),
        }
    }

    /// Trusts only this certificate authority (PEM) for a `rediss://` server, instead of the
    /// system's root certificates: for Redis behind a private CA. Fails with
    /// `BrokerOptionsError` on a `redis://` URL or PEM that cannot be read.
    pub fn tls_root_certificate(
        mut self,
        ca_pem: impl Into<Vec<u8>>,
    ) -> Result<RedisTransporter, Error> {
        let mut tls = self.tls.take().unwrap_or(TlsCertificates {
            client_tls: None,
            root_cert: None,
        });
        tls.root_cert = Some(ca_pem.into());
        self.with_tls(tls)
    }

    /// Presents this client certificate and private key (both PEM) to a `rediss://` server,
    /// for Redis's `tls-auth-clients` (mutual TLS). Fails with `BrokerOptionsError` on a
    /// `redis://` URL or PEM that cannot be read.
    pub fn tls_client_certificate(
        mut self,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Result<RedisTransporter, Error> {
        let mut tls = self.tls.take().unwrap_or(TlsCertificates {
            client_tls: None,
            root_cert: None,
        });
        tls.client_tls = Some(ClientTlsConfig {
            client_cert: cert_pem.into(),
            client_key: key_pem.into(),
        });
        self.with_tls(tls)
    }

    fn with_tls(mut self, tls: TlsCertificates) -> Result<RedisTransporter, Error> {
        for client in &mut self.clients {
            let info = client.get_connection_info().clone();
            *client = Client::build_with_tls(info, tls.clone()).map_err(|err| {
                Error::broker_options(format!("invalid Redis TLS settings: {err}"))
            })?;
        }
        self.tls = Some(tls);
        Ok(self)
    }

    /// Delays between reconnect attempts: `base` first, doubling each failed attempt, never
    /// above `cap`, each delay jittered down to as little as half of that (defaults 100 ms and
    /// 500 ms, so attempts come after 50–100 ms, then 100–200 ms, then every 250–500 ms while
    /// the server stays away; `base` is at least 1 ms, `cap` at least `base`). A longer `cap`
    /// means fewer attempts against a server that is down, and a node back later after it
    /// returns: on average about 40% of `cap` later (measured with two nodes, 1 s: 0.5 s median,
    /// 0.95 s worst of 12 restarts).
    pub fn reconnect_backoff(mut self, base: Duration, cap: Duration) -> RedisTransporter {
        self.options.backoff_base = base.max(MIN_INTERVAL);
        self.options.backoff_cap = cap.max(self.options.backoff_base);
        self
    }

    /// How often both connections are checked with a `PING` (default 5 s; the publisher is
    /// pinged only after this long without traffic). A connection that fails the check is
    /// treated as lost.
    pub fn health_check_interval(mut self, interval: Duration) -> RedisTransporter {
        self.options.health_check_interval = interval.max(MIN_INTERVAL);
        self
    }

    /// The longest wait for Redis: to open a connection, to confirm a `SUBSCRIBE`, to answer a
    /// pipeline or a `PING`, and for `disconnect` to flush the queued publishes (default 5 s).
    pub fn command_timeout(mut self, timeout: Duration) -> RedisTransporter {
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

    /// The server's address, or the seeds' separated by commas.
    fn addr(&self) -> String {
        let addrs: Vec<String> = self
            .clients
            .iter()
            .map(|c| c.get_connection_info().addr().to_string())
            .collect();
        addrs.join(",")
    }

    async fn open(&self, setup: &TransportSetup) -> Result<TransportEvents, Error> {
        if self.read().is_some() {
            return Err(Error::broker_options(
                "RedisTransporter is already connected; disconnect it first",
            ));
        }
        if self.clients.iter().any(|c| {
            matches!(
                c.get_connection_info().addr(),
                ConnectionAddr::TcpTls { .. }
            )
        }) {
            ensure_crypto_provider();
        }
        let publisher_name = connection_name(&setup.node_id, "pub");
        // The first server (seed) where both connections open; the last failure is the error.
        let mut failure = None;
        let mut opened = None;
        for (index, client) in self.clients.iter().enumerate() {
            let subscriber = match open_subscriber(client, &self.options).await {
                Ok(subscriber) => subscriber,
                Err(err) => {
                    failure = Some(self.connect_error("subscriber", client, &err));
                    continue;
                }
            };
            match open_publisher(client, &self.options, &publisher_name).await {
                Ok(publisher) => {
                    opened = Some((index, subscriber, publisher));
                    break;
                }
                Err(err) => failure = Some(self.connect_error("publisher", client, &err)),
            }
        }
        let Some((current, subscriber, publisher)) = opened else {
            return Err(failure.unwrap_or_else(Error::broker_disconnected));
        };

        let prefix = channel_prefix(&setup.namespace);
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (outgoing, queue) = mpsc::unbounded_channel();
        let (requests, requests_rx) = mpsc::unbounded_channel();
        let (shutdown, shutdown_rx) = watch::channel(false);
        let supervisor = Supervisor {
            clients: self.clients.clone(),
            current,
            cluster: self.cluster,
            options: self.options,
            prefix: prefix.clone(),
            publisher_name,
            connected: self.connected.clone(),
            events: events_tx,
            queue: Arc::new(Mutex::new(queue)),
            requests: requests_rx,
            shutdown: shutdown_rx,
            channels: HashSet::new(),
            carry: Vec::new(),
        };

        let mut link = self.write();
        if link.is_some() {
            // A concurrent `connect` won; dropping ours closes its connections.
            return Err(Error::broker_options(
                "RedisTransporter is already connected; disconnect it first",
            ));
        }
        self.connected.store(true, Ordering::SeqCst);
        let supervisor = tokio::spawn(supervisor.run(subscriber, publisher));
        *link = Some(Link {
            prefix,
            outgoing,
            requests,
            shutdown,
            supervisor,
        });
        let addr = self.clients[current]
            .get_connection_info()
            .addr()
            .to_string();
        tracing::info!(%addr, namespace = %setup.namespace, "connected to Redis");
        Ok(events_rx)
    }

    fn connect_error(&self, role: &str, client: &Client, err: &redis::RedisError) -> Error {
        let tried = if self.clients.len() > 1 {
            format!(" (the last of {} seeds tried)", self.clients.len())
        } else {
            String::new()
        };
        Error::new(
            "BrokerDisconnectedError",
            format!(
                "cannot open the Redis {role} connection to {}{tried}: {err}",
                client.get_connection_info().addr()
            ),
        )
        .with_code(502)
        .with_type("BAD_GATEWAY")
        .with_retryable(true)
    }

    async fn close(&self) {
        self.connected.store(false, Ordering::SeqCst);
        let Some(link) = self.write().take() else {
            return;
        };
        let Link {
            prefix: _,
            outgoing,
            requests,
            shutdown,
            mut supervisor,
        } = link;
        // New publishes already fail; the writer flushes what is queued, then everything closes.
        drop((outgoing, requests));
        let _ = shutdown.send(true);
        // The supervisor bounds its own flush by the command timeout; this is the backstop.
        let limit = self.options.command_timeout + Duration::from_secs(1);
        if tokio::time::timeout(limit, &mut supervisor).await.is_err() {
            tracing::warn!("Redis transporter did not close in time; aborting it");
            supervisor.abort();
        }
        tracing::info!(addr = %self.addr(), "disconnected from Redis");
    }
}

impl Transporter for RedisTransporter {
    /// A [`RedisClusterLock`](crate::RedisClusterLock) on this Redis (its own connection, with
    /// the same URL and TLS settings). None on a Redis Cluster, where the lock's keys would have
    /// to be routed to their slot's node: set one with `BrokerBuilder::cluster_lock` there.
    fn cluster_lock(&self) -> Option<Arc<dyn broker_core::periodic::ClusterLock>> {
        if self.cluster {
            return None;
        }
        let client = self.clients.first()?;
        let lock = self
            .cluster_lock
            .get_or_init(|| Arc::new(crate::lock::RedisClusterLock::with_client(client.clone())));
        Some(lock.clone())
    }

    fn connect<'a>(
        &'a self,
        setup: &'a TransportSetup,
    ) -> BoxFuture<'a, Result<TransportEvents, Error>> {
        Box::pin(self.open(setup))
    }

    fn subscribe<'a>(&'a self, topics: &'a [Topic]) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            {
                let link = self.read();
                let link = link.as_ref().ok_or_else(Error::broker_disconnected)?;
                let channels = topics.iter().map(|t| t.channel(&link.prefix)).collect();
                link.requests
                    .send(SubscribeRequest { channels, reply })
                    .map_err(|_| Error::broker_disconnected())?;
            }
            answer
                .await
                .unwrap_or_else(|_| Err(Error::broker_disconnected()))
        })
    }

    fn publish(&self, topic: &Topic, payload: Bytes) -> Result<(), Error> {
        if !self.connected.load(Ordering::Acquire) {
            return Err(Error::broker_disconnected());
        }
        let link = self.read();
        let link = link.as_ref().ok_or_else(Error::broker_disconnected)?;
        let channel = topic.channel(&link.prefix);
        link.outgoing
            .send(Outgoing {
                packet_type: topic.packet_type,
                channel,
                payload,
            })
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

    /// The URL without its password: `redis://user:***@host:port/db`, or
    /// `redis+cluster://host1:port1,host2:port2` for the seeds of a cluster.
    fn describe(&self) -> String {
        if self.cluster {
            return cluster::describe(&self.clients);
        }
        describe_one(&self.clients[0])
    }
}

/// One server's URL without its password.
fn describe_one(client: &Client) -> String {
    let parts = UrlParts::of(client);
    if parts.scheme == "redis+unix" {
        return format!("redis+unix://{}", parts.host);
    }
    format!(
        "{}://{}{}{}",
        parts.scheme, parts.credentials, parts.host, parts.db
    )
}

/// What a URL is shown with, the password replaced by `***`.
pub(crate) struct UrlParts {
    pub(crate) scheme: &'static str,
    /// `user:***@`, `user@`, `:***@` or empty.
    pub(crate) credentials: String,
    /// `host:port`, `[v6]:port`, or a socket path for `redis+unix`.
    pub(crate) host: String,
    /// `/3`, or empty for db 0.
    pub(crate) db: String,
}

impl UrlParts {
    pub(crate) fn of(client: &Client) -> UrlParts {
        let info = client.get_connection_info();
        let settings = info.redis_settings();
        let credentials = match (settings.username(), settings.password()) {
            (Some(user), Some(_)) => format!("{user}:***@"),
            (Some(user), None) => format!("{user}@"),
            (None, Some(_)) => ":***@".to_owned(),
            (None, None) => String::new(),
        };
        let db = match settings.db() {
            0 => String::new(),
            db => format!("/{db}"),
        };
        let host_port = |host: &str, port: u16| {
            if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            }
        };
        let (scheme, host) = match info.addr() {
            ConnectionAddr::Tcp(host, port) => ("redis", host_port(host, *port)),
            ConnectionAddr::TcpTls { host, port, .. } => ("rediss", host_port(host, *port)),
            ConnectionAddr::Unix(path) => ("redis+unix", path.display().to_string()),
            other => ("redis", other.to_string()),
        };
        UrlParts {
            scheme,
            credentials,
            host,
            db,
        }
    }
}

/// A client for one URL; a URL that cannot be parsed is a `BrokerOptionsError`.
fn open_client(url: &str) -> Result<Client, Error> {
    Client::open(url).map_err(|err| Error::broker_options(format!("invalid Redis URL: {err}")))
}

/// `mol-<nodeID>-<role>`, with anything Redis refuses in a client name (spaces, control
/// characters, non-ASCII) replaced by `_`.
fn connection_name(node_id: &str, role: &str) -> String {
    let node: String = node_id
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .collect();
    format!("mol-{node}-{role}")
}

/// rustls needs a process-wide crypto provider; install ring's unless the application chose one.
pub(crate) fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race here means another provider was installed first: also fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_names_are_valid_client_names() {
        assert_eq!(connection_name("node-1", "pub"), "mol-node-1-pub");
        assert_eq!(connection_name("my node\né", "pub"), "mol-my_node__-pub");
    }

    #[test]
    fn bad_urls_are_options_errors() {
        for url in ["", "http://localhost", "redis://:notaport", "nonsense"] {
            let err = RedisTransporter::new(url).expect_err(url);
            assert_eq!(err.kind(), broker_core::ErrorKind::BrokerOptions, "{url}");
        }
    }

    #[test]
    fn describe_shows_the_url_without_the_password() {
        for (url, shown) in [
            ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
            (
                "redis://:secret@redis.local",
                "redis://:***@redis.local:6379",
            ),
            ("redis://bob@h:1/2", "redis://bob@h:1/2"),
            (
                "redis+unix:///tmp/redis.sock",
                "redis+unix:///tmp/redis.sock",
            ),
        ] {
            let t = RedisTransporter::new(url).expect(url);
            assert_eq!(t.describe(), shown, "{url}");
        }
    }

    #[test]
    fn urls_with_credentials_tls_and_db_parse() {
        let t = RedisTransporter::new("redis://user:p%40ss@127.0.0.1:6380/3").expect("acl url");
        let info = t.clients[0].get_connection_info();
        assert_eq!(info.redis_settings().username(), Some("user"));
        assert_eq!(info.redis_settings().password(), Some("p@ss"));
        assert_eq!(info.redis_settings().db(), 3);
        let debug = format!("{t:?}");
        assert!(
            !debug.contains("p@ss") && !debug.contains("p%40ss"),
            "{debug}"
        );

        assert_eq!(t.describe(), "redis://user:***@127.0.0.1:6380/3");

        let tls = RedisTransporter::new("rediss://redis.example:6380").expect("tls url");
        assert_eq!(tls.describe(), "rediss://redis.example:6380");
        assert!(matches!(
            tls.clients[0].get_connection_info().addr(),
            ConnectionAddr::TcpTls { .. }
        ));
    }

    #[test]
    fn tls_settings_need_a_tls_url_and_readable_pem() {
        let err = RedisTransporter::new("redis://127.0.0.1")
            .expect("url")
            .tls_root_certificate(b"-----BEGIN CERTIFICATE-----".to_vec())
            .expect_err("not rediss");
        assert_eq!(err.kind(), broker_core::ErrorKind::BrokerOptions);
        let err = RedisTransporter::new("rediss://127.0.0.1")
            .expect("url")
            .tls_client_certificate(Vec::new(), b"not a key".to_vec())
            .expect_err("bad key");
        assert_eq!(err.kind(), broker_core::ErrorKind::BrokerOptions);
        assert!(err.message().contains("TLS"), "{err}");
    }

    #[test]
    fn builder_clamps_nonsense() {
        let t = RedisTransporter::new("redis://127.0.0.1")
            .expect("url")
            .reconnect_backoff(Duration::ZERO, Duration::ZERO)
            .health_check_interval(Duration::ZERO)
            .command_timeout(Duration::ZERO);
        assert_eq!(t.options.backoff_base, MIN_INTERVAL);
        assert_eq!(t.options.backoff_cap, MIN_INTERVAL);
        assert_eq!(t.options.health_check_interval, MIN_INTERVAL);
        assert_eq!(t.options.command_timeout, MIN_INTERVAL);
    }
}
