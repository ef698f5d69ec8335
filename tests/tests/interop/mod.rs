//! Harness of the Moleculer.js interop tests: JS peers as child processes (`peer`), Rust test
//! services (`services`), Rust nodes in child processes (`child`) and private Redis and NATS
//! servers (`private_bus`). Every test gets its own namespace and node IDs, so tests run in
//! parallel on the shared Redis and NATS without seeing each other.
#![allow(dead_code, unreachable_pub)]

pub mod child;
pub mod http;
pub mod peer;
pub mod prerequisites;
pub mod private_server;
pub mod redis_cluster;
pub mod services;

use broker_amqp::AmqpTransporter;
use broker_core::{Broker, BrokerBuilder, ProtocolVersion};
use broker_mqtt::MqttTransporter;
use broker_nats::NatsTransporter;
use broker_redis::RedisTransporter;
use serde_json::{json, Value};
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// Bound for ordinary waits (discovery, a reply).
pub const WAIT: Duration = Duration::from_secs(15);
/// Heartbeat settings of both sides in every interop test (seconds), so node loss shows fast.
pub const HB_INTERVAL_S: u64 = 1;
pub const HB_TIMEOUT_S: u64 = 3;

/// Runs one scenario for both Moleculer.js versions over Redis, each under an overall time
/// bound.
#[allow(unused_macros)]
macro_rules! both_versions {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn moleculer_0_15() {
                $crate::interop::run_bounded(super::$name($crate::interop::JsVersion::V015)).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn moleculer_0_14() {
                $crate::interop::run_bounded(super::$name($crate::interop::JsVersion::V014)).await
            }
        }
    )*};
}

/// Runs one scenario over every bus (Redis, NATS, AMQP, MQTT) for both Moleculer.js versions,
/// each under an overall time bound: `<scenario>::redis_v15`, `redis_v14`, `nats_v15`,
/// `nats_v14`, `amqp_v15`, `amqp_v14`, `mqtt_v15`, `mqtt_v14`.
#[allow(unused_macros)]
macro_rules! every_bus {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use $crate::interop::{run_bounded, Bus, JsVersion};
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis_v15() {
                run_bounded(super::$name(Bus::Redis, JsVersion::V015)).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis_v14() {
                run_bounded(super::$name(Bus::Redis, JsVersion::V014)).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn nats_v15() {
                run_bounded(super::$name(Bus::Nats, JsVersion::V015)).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn nats_v14() {
                run_bounded(super::$name(Bus::Nats, JsVersion::V014)).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn amqp_v15() {
                run_bounded(super::$name(Bus::Amqp, JsVersion::V015)).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn amqp_v14() {
                run_bounded(super::$name(Bus::Amqp, JsVersion::V014)).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mqtt_v15() {
                run_bounded(super::$name(Bus::Mqtt, JsVersion::V015)).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mqtt_v14() {
                run_bounded(super::$name(Bus::Mqtt, JsVersion::V014)).await
            }
        }
    )*};
}

/// Runs scenarios for Moleculer.js 0.15 only (what moleculer-web 0.11 supports), each under an
/// overall time bound; the scenarios take no version. (Unused by the files that run both.)
#[allow(unused_macros)]
macro_rules! only_v015 {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn moleculer_0_15() {
                $crate::interop::run_bounded(super::$name()).await
            }
        }
    )*};
}

/// Fails the test if a scenario runs longer than two minutes (it must never hang).
pub async fn run_bounded(fut: impl Future<Output = ()>) {
    let bound = Duration::from_secs(120);
    if tokio::time::timeout(bound, fut).await.is_err() {
        panic!("scenario did not finish within {bound:?}");
    }
}

/// The Moleculer.js release a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsVersion {
    /// moleculer 0.15.2, protocol "5".
    V015,
    /// moleculer 0.14.36, protocol "4".
    V014,
}

impl JsVersion {
    /// The `version` the peer script understands.
    pub fn peer_arg(self) -> &'static str {
        match self {
            JsVersion::V015 => "0.15",
            JsVersion::V014 => "0.14",
        }
    }
    /// The exact package version pinned in `interop/package.json`.
    pub fn moleculer(self) -> &'static str {
        match self {
            JsVersion::V015 => "0.15.2",
            JsVersion::V014 => "0.14.36",
        }
    }
    pub fn protocol(self) -> ProtocolVersion {
        match self {
            JsVersion::V015 => ProtocolVersion::V5,
            JsVersion::V014 => ProtocolVersion::V4,
        }
    }
    pub fn short(self) -> &'static str {
        match self {
            JsVersion::V015 => "v15",
            JsVersion::V014 => "v14",
        }
    }
}

/// The message bus a scenario runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bus {
    Redis,
    Nats,
    /// RabbitMQ, through Moleculer's AMQP transporter.
    Amqp,
    /// An MQTT server (Mosquitto), through Moleculer's MQTT transporter.
    Mqtt,
}

impl Bus {
    /// The kind of private server a scenario that restarts this bus starts.
    pub fn server_kind(self) -> private_server::ServerKind {
        match self {
            Bus::Redis => private_server::ServerKind::Redis,
            Bus::Nats => private_server::ServerKind::Nats,
            Bus::Amqp => private_server::ServerKind::RabbitMq,
            Bus::Mqtt => private_server::ServerKind::Mosquitto,
        }
    }

    pub fn short(self) -> &'static str {
        match self {
            Bus::Redis => "redis",
            Bus::Nats => "nats",
            Bus::Amqp => "amqp",
            Bus::Mqtt => "mqtt",
        }
    }

    /// The shared server of this kind.
    pub fn shared_url(self) -> String {
        match self {
            Bus::Redis => redis_url(),
            Bus::Nats => nats_url(),
            Bus::Amqp => amqp_url(),
            Bus::Mqtt => mqtt_url(),
        }
    }

    /// The bus a URL names (`nats://` or `tls://` is NATS, `amqp://` or `amqps://` AMQP,
    /// `mqtt://` or `mqtts://` MQTT, anything else Redis).
    pub fn of_url(url: &str) -> Bus {
        if url.starts_with("nats://") || url.starts_with("tls://") {
            Bus::Nats
        } else if url.starts_with("amqp://") || url.starts_with("amqps://") {
            Bus::Amqp
        } else if url.starts_with("mqtt://") || url.starts_with("mqtts://") {
            Bus::Mqtt
        } else {
            Bus::Redis
        }
    }
}

/// The shared Redis the tests use (`REDIS_URL`, default the local one).
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// The shared NATS the tests use (`NATS_URL`, default the local one).
pub fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// The shared RabbitMQ the tests use (`AMQP_URL`, default the local one).
pub fn amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672".to_owned())
}

/// The shared MQTT server (Mosquitto) the tests use (`MQTT_URL`, default the local one).
pub fn mqtt_url() -> String {
    std::env::var("MQTT_URL").unwrap_or_else(|_| "mqtt://127.0.0.1:1883".to_owned())
}

/// A name no other test, run or process uses: pid, a counter and random bits.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(n);
    format!(
        "{prefix}-{}-{n}-{:06x}",
        std::process::id(),
        h.finish() & 0xff_ffff
    )
}

/// One scenario's cluster settings: Moleculer version, namespace and bus.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub version: JsVersion,
    pub namespace: String,
    pub bus: Bus,
    /// The bus's URL (`redis://…` or `nats://…`).
    pub url: String,
    /// Moleculer's `disableBalancer`: requests and events balanced by the bus (NATS queue
    /// groups) instead of by the caller.
    pub disable_balancer: bool,
}

impl Cluster {
    /// A cluster on the shared Redis.
    pub fn new(version: JsVersion, what: &str) -> Cluster {
        Cluster::over(Bus::Redis, version, what)
    }

    /// A cluster on the shared server of `bus`.
    pub fn over(bus: Bus, version: JsVersion, what: &str) -> Cluster {
        let url = bus.shared_url();
        prerequisites::require_bus(&url);
        Cluster::on(version, what, url)
    }

    /// A cluster on the server at `url` (a private one).
    pub fn on(version: JsVersion, what: &str, url: String) -> Cluster {
        let bus = Bus::of_url(&url);
        Cluster {
            version,
            namespace: unique(&format!(
                "interop-{what}-{}-{}",
                bus.short(),
                version.short()
            )),
            bus,
            url,
            disable_balancer: false,
        }
    }

    /// A unique node ID inside this cluster.
    pub fn node_id(&self, role: &str) -> String {
        unique(role)
    }

    /// A Rust broker builder on this cluster with the interop heartbeat settings.
    pub fn rust_node(&self, node_id: &str) -> BrokerBuilder {
        let builder = Broker::builder();
        let builder = match self.bus {
            Bus::Redis => {
                builder.transporter(RedisTransporter::new(&self.url).expect("valid Redis URL"))
            }
            Bus::Nats => {
                builder.transporter(NatsTransporter::new(&self.url).expect("valid NATS URL"))
            }
            Bus::Amqp => {
                builder.transporter(AmqpTransporter::new(&self.url).expect("valid AMQP URL"))
            }
            Bus::Mqtt => {
                builder.transporter(MqttTransporter::new(&self.url).expect("valid MQTT URL"))
            }
        };
        builder
            .node_id(node_id)
            .namespace(&self.namespace)
            .protocol(self.version.protocol())
            .disable_balancer(self.disable_balancer)
            .heartbeat_interval(Duration::from_secs(HB_INTERVAL_S))
            .heartbeat_timeout(Duration::from_secs(HB_TIMEOUT_S))
    }

    /// The peer script's config for a JS node of this cluster.
    pub fn peer_config(&self, node_id: &str, services: &[&str], events: Value) -> Value {
        json!({
            "version": self.version.peer_arg(),
            "nodeID": node_id,
            "namespace": self.namespace,
            "transporter": self.url,
            "disableBalancer": self.disable_balancer,
            "heartbeatInterval": HB_INTERVAL_S,
            "heartbeatTimeout": HB_TIMEOUT_S,
            "services": services,
            "events": events,
            "logLevel": "warn",
        })
    }
}

/// `interop/` at the workspace root.
pub fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("interop")
}

/// Installs the pinned Moleculer.js packages once (`npm ci`) if they are missing. A file lock
/// keeps parallel test processes from installing at the same time.
pub fn ensure_js_deps() {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    prerequisites::require_node();
    let result = DONE.get_or_init(|| {
        let dir = interop_dir();
        let installed = || {
            [
                "moleculer",
                "moleculer-014",
                "moleculer-web",
                "ioredis",
                "nats",
                "amqplib",
                "mqtt",
                "fastest-validator",
                "msgpack5",
                "notepack.io",
                "cbor-x",
            ]
            .iter()
            .all(|p| {
                dir.join("node_modules")
                    .join(p)
                    .join("package.json")
                    .exists()
            })
        };
        if installed() {
            return Ok(());
        }
        let lock_path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("interop-npm.lock");
        let lock = std::fs::File::create(lock_path).map_err(|e| format!("lock file: {e}"))?;
        lock.lock().map_err(|e| format!("lock: {e}"))?;
        if installed() {
            return Ok(());
        }
        let status = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .status()
            .map_err(|e| format!("cannot run npm (node and npm are needed): {e}"))?;
        if status.success() && installed() {
            Ok(())
        } else {
            Err(format!("npm ci in {} failed: {status}", dir.display()))
        }
    });
    if let Err(err) = result {
        panic!("Moleculer.js packages unavailable: {err}");
    }
}

/// Waits (bounded by `bound`) until `check` returns `Some`, polling every 50 ms.
pub async fn eventually<T, F, Fut>(what: &str, bound: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let result = tokio::time::timeout(bound, async {
        loop {
            if let Some(v) = check().await {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    match result {
        Ok(v) => v,
        Err(_) => panic!("timed out after {bound:?} waiting for: {what}"),
    }
}

/// The entry of `node_id` in a `$node.list` answer.
pub fn find_node<'a>(list: &'a Value, node_id: &str) -> Option<&'a Value> {
    list.as_array()?.iter().find(|n| n["id"] == node_id)
}

/// One Rust node (`rmath`, `v2.rver`) and one JS node (`jsmath`) that see each other.
#[derive(Debug)]
pub struct Pair {
    pub cluster: Cluster,
    pub rust: Broker,
    pub js: peer::JsPeer,
}

impl Pair {
    pub async fn start(bus: Bus, version: JsVersion, what: &str) -> Pair {
        Pair::start_on(Cluster::over(bus, version, what)).await
    }

    pub async fn start_on(cluster: Cluster) -> Pair {
        let rust = cluster.rust_node(&cluster.node_id("rust")).build();
        rust.add_service(services::rmath())
            .await
            .expect("add rmath");
        rust.add_service(services::rver()).await.expect("add rver");
        let config = cluster.peer_config(&cluster.node_id("js"), &["jsmath"], json!([]));
        let (started, js) = tokio::join!(rust.start(), peer::JsPeer::start(config));
        started.expect("Rust node starts");
        rust.wait_for_services(&["jsmath"], WAIT)
            .await
            .expect("Rust sees jsmath");
        js.wait_for(&["rmath", "v2.rver"]).await;
        Pair { cluster, rust, js }
    }

    /// Stops both nodes gracefully.
    pub async fn stop(self) {
        let (stopped, ()) = tokio::join!(self.rust.stop(), self.js.exit());
        stopped.expect("Rust node stops");
        self.js.assert_no_errors();
    }
}
