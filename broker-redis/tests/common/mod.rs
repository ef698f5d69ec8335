//! Helpers for the tests against a real Redis (`REDIS_URL`, default `redis://127.0.0.1:6379`).
//! Every test works in a namespace of its own, so the tests run in parallel on one Redis.
#![allow(dead_code, unreachable_pub)]

use broker_core::transporter::{
    BoxFuture, Bytes, Topic, TransportEvent, TransportEvents, TransportSetup,
};
use broker_core::{ActionDef, Broker, BrokerBuilder, Context, Error, ServiceSchema, Transporter};
use broker_redis::RedisTransporter;
use redis::aio::MultiplexedConnection;
use redis::{ConnectionAddr, Value};
use serde_json::json;
use std::future::Future;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Bound for anything a test waits on.
pub const WAIT: Duration = Duration::from_secs(10);

/// Logs to the test output when `RUST_LOG` asks for it (e.g. `RUST_LOG=broker_redis=debug`).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// The Redis the tests run against.
pub fn redis_url() -> String {
    init_tracing();
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A namespace (and so a channel prefix) no other test uses.
pub fn unique(tag: &str) -> String {
    init_tracing();
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("t-{tag}-{}", &id[..12])
}

/// A plain Redis connection for inspecting the server and injecting raw traffic.
pub async fn raw() -> MultiplexedConnection {
    let client = redis::Client::open(redis_url()).expect("REDIS_URL parses");
    tokio::time::timeout(WAIT, client.get_multiplexed_async_connection())
        .await
        .expect("Redis answers in time")
        .expect("Redis is running at REDIS_URL")
}

/// Runs a raw command, bounded.
pub async fn query<T: redis::FromRedisValue>(
    conn: &mut MultiplexedConnection,
    cmd: &redis::Cmd,
) -> T {
    tokio::time::timeout(WAIT, cmd.query_async(conn))
        .await
        .expect("Redis answers in time")
        .expect("command succeeds")
}

/// Publishes raw bytes as a foreign node would; returns how many subscribers got them.
pub async fn publish_raw(conn: &mut MultiplexedConnection, channel: &str, payload: &[u8]) -> i64 {
    query(conn, redis::cmd("PUBLISH").arg(channel).arg(payload)).await
}

/// The channels of a namespace Redis knows about, sorted.
pub async fn channels(conn: &mut MultiplexedConnection, prefix: &str) -> Vec<String> {
    let mut list: Vec<String> = query(
        conn,
        redis::cmd("PUBSUB")
            .arg("CHANNELS")
            .arg(format!("{prefix}.*")),
    )
    .await;
    list.sort();
    list
}

/// An ACL user of its own for one test, so the test can find and kill exactly the connections
/// of the transporter that logs in as it (`CLIENT KILL USER … TYPE pubsub`), whatever other
/// tests run at the same time.
pub struct AclUser {
    pub name: String,
    pub url: String,
}

impl AclUser {
    pub async fn create(conn: &mut MultiplexedConnection) -> AclUser {
        AclUser::with_channels(conn, &["&*"]).await
    }

    /// A user allowed only the given channel rules (`&pattern` each).
    pub async fn with_channels(conn: &mut MultiplexedConnection, channels: &[&str]) -> AclUser {
        let name = unique("user");
        let password = uuid::Uuid::new_v4().simple().to_string();
        let _: Value = query(
            conn,
            redis::cmd("ACL")
                .arg("SETUSER")
                .arg(&name)
                .arg("on")
                .arg(format!(">{password}"))
                .arg("~*")
                .arg("resetchannels")
                .arg(channels)
                .arg("+@all"),
        )
        .await;
        let client = redis::Client::open(redis_url()).expect("REDIS_URL parses");
        let (host, port) = match client.get_connection_info().addr() {
            ConnectionAddr::Tcp(host, port) => (host.clone(), *port),
            other => panic!("the ACL tests need a plain TCP REDIS_URL, not {other}"),
        };
        AclUser {
            url: format!("redis://{name}:{password}@{host}:{port}/5"),
            name,
        }
    }

    /// This user's connections as `CLIENT LIST` shows them, one map of fields per connection.
    pub async fn clients(&self, conn: &mut MultiplexedConnection) -> Vec<Vec<(String, String)>> {
        let list: String = query(conn, redis::cmd("CLIENT").arg("LIST")).await;
        list.lines()
            .map(|line| {
                line.split(' ')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect::<Vec<_>>()
            })
            .filter(|fields| field(fields, "user") == Some(self.name.as_str()))
            .collect()
    }

    /// Kills this user's connections of a type (`pubsub` or `normal`); returns how many.
    pub async fn kill(&self, conn: &mut MultiplexedConnection, kind: &str) -> i64 {
        query(
            conn,
            redis::cmd("CLIENT")
                .arg("KILL")
                .arg("USER")
                .arg(&self.name)
                .arg("TYPE")
                .arg(kind),
        )
        .await
    }
}

/// Removes the user (and so its connections) even when the test fails.
impl Drop for AclUser {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(redis_url()) else {
            return;
        };
        if let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_secs(2)) {
            let _: redis::RedisResult<Value> = redis::cmd("ACL")
                .arg("DELUSER")
                .arg(&self.name)
                .query(&mut conn);
        }
    }
}

/// One field of a `CLIENT LIST` entry.
pub fn field<'a>(fields: &'a [(String, String)], key: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A broker on Redis in `namespace`, with short heartbeats.
pub fn node(url: &str, namespace: &str, id: &str) -> BrokerBuilder {
    Broker::builder()
        .node_id(id)
        .namespace(namespace)
        .transporter(
            RedisTransporter::new(url)
                .expect("valid URL")
                .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(200))
                .health_check_interval(Duration::from_millis(200)),
        )
        .heartbeat_interval(Duration::from_millis(200))
        .heartbeat_timeout(Duration::from_secs(2))
        .stop_delay(Duration::from_millis(10))
}

/// A `math` service whose `add` counts its invocations.
pub fn math_service(counter: Arc<AtomicUsize>) -> ServiceSchema {
    ServiceSchema::new("math").action(ActionDef::new("add", move |ctx: Context| {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            let a = ctx.params()["a"].as_f64().unwrap_or(0.0);
            let b = ctx.params()["b"].as_f64().unwrap_or(0.0);
            Ok(json!(a + b))
        }
    }))
}

/// Waits (bounded) until `check` holds.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let result = tokio::time::timeout(WAIT, async {
        loop {
            if check().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(result.is_ok(), "timed out waiting for: {what}");
}

/// The next transport event, bounded.
pub async fn next_event(events: &mut TransportEvents) -> TransportEvent {
    tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("an event in time")
        .expect("the transporter is still running")
}

/// Whatever events arrive within `quiet` (for checking that nothing more comes).
pub async fn drain(events: &mut TransportEvents, quiet: Duration) -> Vec<TransportEvent> {
    let mut got = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout(quiet, events.recv()).await {
        got.push(event);
    }
    got
}

/// A TCP port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A `redis-server` of our own on a port of its own, killed when dropped: for tests that stop
/// and restart Redis without disturbing the shared one.
pub struct OwnRedis {
    child: Child,
    pub port: u16,
}

impl OwnRedis {
    /// Starts one, or returns `None` if there is no `redis-server` binary here.
    pub fn start(port: u16) -> Option<OwnRedis> {
        init_tracing();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        Some(OwnRedis { child, port })
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Waits (bounded) until the server answers a `PING`; returns when it first did (polled
    /// every few milliseconds).
    pub async fn wait_ready(&self) -> Instant {
        let Ok(client) = redis::Client::open(self.url()) else {
            panic!("bad URL {}", self.url());
        };
        let ready = tokio::time::timeout(WAIT, async {
            loop {
                let attempt = async {
                    let mut conn = client.get_multiplexed_async_connection().await?;
                    redis::cmd("PING").query_async::<Value>(&mut conn).await
                };
                if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(500), attempt).await {
                    return Instant::now();
                }
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        })
        .await;
        ready.expect("own redis-server accepts connections in time")
    }

    /// Kills the server (SIGKILL: no goodbye to its clients beyond the closed sockets).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A transporter that records the events its inner transporter reports other than messages
/// (`Disconnected`, `Reconnected`, `Undelivered(REQ)`, …) before passing them all on: how a
/// test sees what a `Broker`'s transporter went through.
#[derive(Debug)]
pub struct Tap<T> {
    inner: T,
    log: Arc<Mutex<Vec<String>>>,
}

impl<T: Transporter> Tap<T> {
    /// The tap, and the log it writes to.
    pub fn new(inner: T) -> (Tap<T>, Arc<Mutex<Vec<String>>>) {
        let log = Arc::new(Mutex::new(Vec::new()));
        (
            Tap {
                inner,
                log: log.clone(),
            },
            log,
        )
    }
}

/// A copy of a tap's log.
pub fn events_of(log: &Mutex<Vec<String>>) -> Vec<String> {
    log.lock().map(|l| l.clone()).unwrap_or_default()
}

impl<T: Transporter> Transporter for Tap<T> {
    fn connect<'a>(
        &'a self,
        setup: &'a TransportSetup,
    ) -> BoxFuture<'a, Result<TransportEvents, Error>> {
        Box::pin(async move {
            let mut events = self.inner.connect(setup).await?;
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            let log = self.log.clone();
            tokio::spawn(async move {
                while let Some(event) = events.recv().await {
                    let entry = match &event {
                        TransportEvent::Message { .. } => None,
                        TransportEvent::Undelivered { packet_type, .. } => {
                            Some(format!("Undelivered({packet_type})"))
                        }
                        other => Some(format!("{other:?}")),
                    };
                    if let (Some(entry), Ok(mut log)) = (entry, log.lock()) {
                        log.push(entry);
                    }
                    if tx.send(event).is_err() {
                        return;
                    }
                }
            });
            Ok(rx)
        })
    }

    fn subscribe<'a>(&'a self, topics: &'a [Topic]) -> BoxFuture<'a, Result<(), Error>> {
        self.inner.subscribe(topics)
    }

    fn publish(&self, topic: &Topic, payload: Bytes) -> Result<(), Error> {
        self.inner.publish(topic, payload)
    }

    fn disconnect(&self) -> BoxFuture<'_, Result<(), Error>> {
        self.inner.disconnect()
    }

    fn is_connected(&self) -> bool {
        self.inner.is_connected()
    }
}
