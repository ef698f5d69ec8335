//! Broker configuration, set through [`BrokerBuilder`].

use super::Broker;
use crate::circuit_breaker::CircuitBreakerOptions;
use crate::metrics::MetricsOptions;
use crate::middleware::{BulkheadOptions, Middleware};
use crate::packet::{JsonMap, ProtocolVersion};
use crate::serializer::{JsonSerializer, Serializer};
use crate::strategy::StrategySpec;
use crate::transmit::TransitMiddleware;
use crate::transporter::Transporter;
use serde_json::{json, Value};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Everything a broker was configured with. Read it back with [`Broker::config`].
#[derive(Clone)]
pub struct BrokerConfig {
    /// This node's ID (default `<hostname>-<pid>`).
    pub node_id: String,
    /// Namespace; nodes in different namespaces never see each other.
    pub namespace: String,
    /// The bus; `None` runs a local-only broker.
    pub transporter: Option<Arc<dyn Transporter>>,
    /// Default call timeout (`None`: no timeout, as Moleculer's `requestTimeout: 0`).
    pub request_timeout: Option<Duration>,
    /// How often HEARTBEAT is sent (default 10 s).
    pub heartbeat_interval: Duration,
    /// How long without a HEARTBEAT before a node counts as offline (default 30 s).
    pub heartbeat_timeout: Duration,
    /// How long an offline node is remembered (default 10 min).
    pub offline_cleanup_timeout: Duration,
    /// Protocol version spoken (default "5", Moleculer 0.15; "4" for 0.14 clusters).
    pub protocol: ProtocolVersion,
    /// How packets are encoded on the bus (default JSON; see [`crate::serializer`]).
    pub serializer: Arc<dyn Serializer>,
    /// Transformations of every packet's bytes (compression, encryption), first nearest the
    /// bus (see [`crate::transmit`]).
    pub transit_middlewares: Vec<Arc<dyn TransitMiddleware>>,
    /// How long `start` keeps retrying a transporter that cannot connect (`None`, the
    /// default: until it connects, as Moleculer).
    pub connect_timeout: Option<Duration>,
    /// Accept packets of another protocol version instead of dropping them.
    pub disable_version_check: bool,
    /// Maximum call depth; 0 means unlimited.
    pub max_call_level: u32,
    /// Node metadata, sent in INFO.
    pub metadata: JsonMap,
    /// Load-balancing strategy, unless a service, action or event asks for another.
    pub strategy: StrategySpec,
    /// How often to ping remote nodes to measure latency (`None`: only when the strategy is
    /// `Latency`, then every 10 s).
    pub latency_ping_interval: Option<Duration>,
    /// Use a local endpoint when there is one (default true).
    pub prefer_local: bool,
    /// Moleculer's `disableBalancer`: leave balancing to the bus (NATS queue groups) instead of
    /// choosing an endpoint here. Only takes effect on a transporter with a built-in balancer;
    /// default false.
    pub disable_balancer: bool,
    /// Check calls to other nodes' actions against the `params` schema they published, on
    /// this side, before sending (default off; see [`BrokerBuilder::check_remote_params`]).
    pub check_remote_params: bool,
    /// Pause between announcing the stop and refusing new work (default 100 ms).
    pub stop_delay: Duration,
    /// How long `stop` waits for in-flight handlers (default 5 s).
    pub shutdown_timeout: Duration,
    /// How long a service waits for its dependencies on start (default 30 s).
    pub dependency_timeout: Duration,
    /// Largest accepted packet in bytes; larger ones are logged and dropped (default 16 MiB).
    pub max_packet_size: usize,
    /// Bound on pending remote requests; beyond it calls fail with `QueueIsFullError`.
    pub max_pending_requests: usize,
    /// Retries of failed calls (off by default, as in Moleculer).
    pub retry_policy: RetryPolicy,
    /// Circuit breakers per endpoint (off by default).
    pub circuit_breaker: CircuitBreakerOptions,
    /// A bulkhead for every local action and event handler (off by default).
    pub bulkhead: Option<BulkheadOptions>,
    /// User middlewares, the first outermost.
    pub middlewares: Vec<Arc<dyn Middleware>>,
    /// Metrics (off by default, as in Moleculer).
    pub metrics: MetricsOptions,
    /// Tracing (off when `None`, the default).
    pub tracing: Option<crate::trace::TracingOptions>,
    /// The cacher of cached actions (none by default, as in Moleculer).
    pub cacher: Option<Arc<dyn crate::cache::Cacher>>,
    /// The lock of cluster-once scheduled tasks (default: the transporter's own).
    pub cluster_lock: Option<Arc<dyn crate::periodic::ClusterLock>>,
}

/// How failed calls are retried (Moleculer's `retryPolicy`).
#[derive(Clone)]
pub struct RetryPolicy {
    /// Retry every call (per-call `retries` works even when this is off).
    pub enabled: bool,
    /// How many retries.
    pub retries: u32,
    /// The first delay.
    pub delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
    /// Growth of the delay per retry.
    pub factor: f64,
    /// Which errors are worth a retry (default: those marked retryable).
    pub check: Arc<dyn Fn(&crate::Error) -> bool + Send + Sync>,
}

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("enabled", &self.enabled)
            .field("retries", &self.retries)
            .field("delay", &self.delay)
            .field("max_delay", &self.max_delay)
            .field("factor", &self.factor)
            .finish_non_exhaustive()
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            enabled: false,
            retries: 5,
            delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            factor: 2.0,
            check: Arc::new(crate::Error::is_retryable),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `attempt` (0-based): `delay * factor^attempt`, capped.
    pub fn delay_for(&self, attempt: u32) -> Duration {
        let grown = self.delay.as_secs_f64() * self.factor.max(1.0).powi(attempt as i32);
        Duration::from_secs_f64(grown.min(self.max_delay.as_secs_f64()).max(0.0))
    }
}

impl fmt::Debug for BrokerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokerConfig")
            .field("node_id", &self.node_id)
            .field("namespace", &self.namespace)
            .field("transporter", &self.transporter)
            .field("request_timeout", &self.request_timeout)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("heartbeat_timeout", &self.heartbeat_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("protocol", &self.protocol)
            .field("serializer", &self.serializer)
            .field("transit_middlewares", &self.transit_middlewares)
            .field("max_call_level", &self.max_call_level)
            .field("prefer_local", &self.prefer_local)
            .field("disable_balancer", &self.disable_balancer)
            .field("check_remote_params", &self.check_remote_params)
            .field("retry_policy", &self.retry_policy)
            .field("circuit_breaker", &self.circuit_breaker)
            .field("bulkhead", &self.bulkhead)
            .field("middlewares", &self.middlewares)
            .field("metrics", &self.metrics)
            .field("cacher", &self.cacher)
            .field("cluster_lock", &self.cluster_lock)
            .finish_non_exhaustive()
    }
}

impl BrokerConfig {
    /// The options object `$node.options` returns, in Moleculer's key names.
    pub fn to_json(&self) -> Value {
        json!({
            "namespace": self.namespace,
            "nodeID": self.node_id,
            "transporter": self.transporter.as_ref().map(|t| t.describe()),
            "requestTimeout": self.request_timeout.map_or(0, |d| d.as_millis() as u64),
            "heartbeatInterval": self.heartbeat_interval.as_secs_f64(),
            "heartbeatTimeout": self.heartbeat_timeout.as_secs_f64(),
            "maxCallLevel": self.max_call_level,
            "metadata": self.metadata,
            "registry": {
                "strategy": self.strategy.name(),
                "strategyOptions": self.strategy.options_json(),
                "preferLocal": self.prefer_local,
                "disableBalancer": self.disable_balancer,
                "stopDelay": self.stop_delay.as_millis() as u64,
            },
            "transit": {
                "maxQueueSize": self.max_pending_requests,
                "disableVersionCheck": self.disable_version_check,
            },
            "tracking": { "shutdownTimeout": self.shutdown_timeout.as_millis() as u64 },
            "retryPolicy": {
                "enabled": self.retry_policy.enabled,
                "retries": self.retry_policy.retries,
                "delay": self.retry_policy.delay.as_millis() as u64,
                "maxDelay": self.retry_policy.max_delay.as_millis() as u64,
                "factor": self.retry_policy.factor,
            },
            "circuitBreaker": {
                "enabled": self.circuit_breaker.enabled,
                "threshold": self.circuit_breaker.threshold,
                "windowTime": self.circuit_breaker.window.as_secs_f64(),
                "minRequestCount": self.circuit_breaker.min_request_count,
                "halfOpenTime": self.circuit_breaker.half_open_time.as_millis() as u64,
            },
            "bulkhead": {
                "enabled": self.bulkhead.is_some(),
                "concurrency": self.bulkhead.map(|b| b.concurrency),
                "maxQueueSize": self.bulkhead.map(|b| b.max_queue_size),
            },
            "dependencyTimeout": self.dependency_timeout.as_millis() as u64,
            "metrics": self.metrics.to_json(),
            "tracing": self
                .tracing
                .as_ref()
                .filter(|t| t.enabled)
                .map_or_else(|| json!({"enabled": false}), |t| t.to_json()),
            "protocolVersion": self.protocol.as_str(),
            "serializer": self.serializer.name(),
            "cacher": self.cacher.as_ref().map(|c| c.name()),
        })
    }
}

/// Builds a [`Broker`].
///
/// ```
/// use broker_core::{Broker, MemoryTransporter, ProtocolVersion};
/// use std::time::Duration;
///
/// let broker = Broker::builder()
///     .node_id("node-1")
///     .namespace("dev")
///     .transporter(MemoryTransporter::new())
///     .request_timeout(Duration::from_secs(5))
///     .protocol(ProtocolVersion::V5)
///     .build();
/// assert_eq!(broker.node_id(), "node-1");
/// ```
#[derive(Debug)]
pub struct BrokerBuilder {
    config: BrokerConfig,
}

impl Default for BrokerBuilder {
    fn default() -> Self {
        BrokerBuilder::new()
    }
}

impl BrokerBuilder {
    /// Moleculer's defaults.
    pub fn new() -> BrokerBuilder {
        BrokerBuilder {
            config: BrokerConfig {
                node_id: format!(
                    "{}-{}",
                    crate::sysinfo::hostname().to_lowercase(),
                    std::process::id()
                ),
                namespace: String::new(),
                transporter: None,
                request_timeout: None,
                heartbeat_interval: Duration::from_secs(10),
                heartbeat_timeout: Duration::from_secs(30),
                offline_cleanup_timeout: Duration::from_secs(600),
                protocol: ProtocolVersion::V5,
                serializer: Arc::new(JsonSerializer),
                transit_middlewares: Vec::new(),
                connect_timeout: None,
                disable_version_check: false,
                max_call_level: 0,
                metadata: JsonMap::new(),
                strategy: StrategySpec::RoundRobin,
                latency_ping_interval: None,
                prefer_local: true,
                disable_balancer: false,
                check_remote_params: false,
                stop_delay: Duration::from_millis(100),
                shutdown_timeout: Duration::from_secs(5),
                dependency_timeout: Duration::from_secs(30),
                max_packet_size: 16 * 1024 * 1024,
                max_pending_requests: 50_000,
                retry_policy: RetryPolicy::default(),
                circuit_breaker: CircuitBreakerOptions::default(),
                bulkhead: None,
                middlewares: Vec::new(),
                metrics: MetricsOptions::disabled(),
                tracing: None,
                cacher: None,
                cluster_lock: None,
            },
        }
    }

    /// Sets the node ID.
    pub fn node_id(mut self, node_id: impl Into<String>) -> Self {
        self.config.node_id = node_id.into();
        self
    }
    /// Sets the namespace.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.config.namespace = namespace.into();
        self
    }
    /// Sets the transporter.
    pub fn transporter(mut self, transporter: impl Transporter) -> Self {
        self.config.transporter = Some(Arc::new(transporter));
        self
    }
    /// Sets a transporter that the caller keeps a handle to.
    pub fn shared_transporter(mut self, transporter: Arc<dyn Transporter>) -> Self {
        self.config.transporter = Some(transporter);
        self
    }
    /// Sets the default call timeout.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.config.request_timeout = (!timeout.is_zero()).then_some(timeout);
        self
    }
    /// Sets the heartbeat interval.
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.config.heartbeat_interval = interval.max(Duration::from_millis(10));
        self
    }
    /// Sets the heartbeat timeout.
    pub fn heartbeat_timeout(mut self, timeout: Duration) -> Self {
        self.config.heartbeat_timeout = timeout.max(Duration::from_millis(10));
        self
    }
    /// Sets how long offline nodes are remembered.
    pub fn offline_cleanup_timeout(mut self, timeout: Duration) -> Self {
        self.config.offline_cleanup_timeout = timeout;
        self
    }
    /// Sets the protocol version. The default, [`ProtocolVersion::V5`], is what Moleculer.js
    /// 0.15 speaks; set [`ProtocolVersion::V4`] to join a Moleculer.js 0.14 cluster. Nodes of
    /// different versions do not see each other (packets of the other version are dropped,
    /// with a warning naming the sender).
    ///
    /// ```
    /// use broker_core::{Broker, ProtocolVersion};
    ///
    /// assert_eq!(Broker::builder().build().config().protocol, ProtocolVersion::V5);
    /// let for_014 = Broker::builder().protocol(ProtocolVersion::V4).build();
    /// assert_eq!(for_014.config().protocol.as_str(), "4");
    /// ```
    pub fn protocol(mut self, protocol: ProtocolVersion) -> Self {
        self.config.protocol = protocol;
        self
    }
    /// Bounds how long [`Broker::start`] waits for the transporter. A bus that cannot be
    /// reached (Redis down or still starting) is retried, 0.5 s after the first failure and
    /// then less often, up to every 5 s (each failure logged once at `warn`); by default for
    /// as long as it takes, as Moleculer does. With a timeout, `start` fails with the last
    /// connection error once it has passed. Configuration errors (a bad URL) fail at once.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = Some(timeout);
        self
    }
    /// Sets the serializer (Moleculer's `serializer` option); every node of the cluster must
    /// use the same. The default is [`JsonSerializer`].
    pub fn serializer(mut self, serializer: impl Serializer) -> Self {
        self.config.serializer = Arc::new(serializer);
        self
    }
    /// Sets a serializer the caller keeps a handle to.
    pub fn shared_serializer(mut self, serializer: Arc<dyn Serializer>) -> Self {
        self.config.serializer = serializer;
        self
    }
    /// Adds a transit middleware (compression, encryption: see [`crate::transmit`]); as in
    /// Moleculer's `middlewares` list, the first added is nearest the bus.
    pub fn transit_middleware(mut self, middleware: impl TransitMiddleware) -> Self {
        self.config.transit_middlewares.push(Arc::new(middleware));
        self
    }
    /// Accepts packets of other protocol versions.
    pub fn disable_version_check(mut self, disable: bool) -> Self {
        self.config.disable_version_check = disable;
        self
    }
    /// Sets the maximum call depth (0: unlimited).
    pub fn max_call_level(mut self, level: u32) -> Self {
        self.config.max_call_level = level;
        self
    }
    /// Sets the node metadata (a JSON object; anything else is ignored).
    pub fn metadata(mut self, metadata: Value) -> Self {
        if let Value::Object(map) = metadata {
            self.config.metadata = map;
        }
        self
    }
    /// Sets the default load-balancing strategy.
    pub fn strategy(mut self, strategy: StrategySpec) -> Self {
        self.config.strategy = strategy;
        self
    }
    /// Pings remote nodes at this interval to measure latency (for the `Latency` strategy).
    pub fn latency_ping_interval(mut self, interval: Duration) -> Self {
        self.config.latency_ping_interval = Some(interval.max(Duration::from_millis(10)));
        self
    }
    /// Whether local endpoints win over remote ones.
    pub fn prefer_local(mut self, prefer_local: bool) -> Self {
        self.config.prefer_local = prefer_local;
        self
    }
    /// Moleculer's `disableBalancer`: with `true`, calls without a `node_id` and emitted events
    /// are not balanced here but published to the balanced topics of the bus (`REQB.<action>`,
    /// `EVENTB.<group>.<event>`), which hands each to one of the nodes serving it (NATS queue
    /// groups) — Moleculer.js nodes with `disableBalancer: true` on the same bus take their
    /// share. Local calls go through the bus too. On a transporter without a built-in balancer
    /// (Redis, memory) the broker warns and keeps balancing itself, as Moleculer does.
    pub fn disable_balancer(mut self, disable: bool) -> Self {
        self.config.disable_balancer = disable;
        self
    }
    /// Checks calls to other nodes' actions (Moleculer.js ones too) against the `params`
    /// schema each node published, before sending them: wrong params fail at once with the
    /// `ValidationError` the serving node would answer, without a round trip. Off by default:
    /// the serving node checks anyway, and checking costs the caller a parse of the params.
    pub fn check_remote_params(mut self, check: bool) -> Self {
        self.config.check_remote_params = check;
        self
    }
    /// Sets the stop delay.
    pub fn stop_delay(mut self, delay: Duration) -> Self {
        self.config.stop_delay = delay;
        self
    }
    /// Sets how long `stop` waits for in-flight handlers.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.config.shutdown_timeout = timeout;
        self
    }
    /// Sets how long a service waits for its dependencies.
    pub fn dependency_timeout(mut self, timeout: Duration) -> Self {
        self.config.dependency_timeout = timeout;
        self
    }
    /// Sets the largest accepted packet.
    pub fn max_packet_size(mut self, bytes: usize) -> Self {
        self.config.max_packet_size = bytes;
        self
    }
    /// Sets the circuit breaker settings.
    pub fn circuit_breaker(mut self, options: CircuitBreakerOptions) -> Self {
        self.config.circuit_breaker = options;
        self
    }
    /// Gives every local action and event handler a bulkhead.
    pub fn bulkhead(mut self, options: BulkheadOptions) -> Self {
        self.config.bulkhead = Some(options);
        self
    }
    /// Turns tracing on with these options (Moleculer's `tracing` broker option).
    pub fn tracing(mut self, options: crate::trace::TracingOptions) -> Self {
        self.config.tracing = Some(options);
        self
    }
    /// Adds a middleware; the first added is the outermost.
    pub fn middleware(mut self, middleware: impl Middleware) -> Self {
        self.config.middlewares.push(Arc::new(middleware));
        self
    }
    /// Sets the retry policy.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.config.retry_policy = policy;
        self
    }
    /// Sets the metrics options (Moleculer's `metrics`); `MetricsOptions::default()` turns
    /// them on.
    pub fn metrics(mut self, options: MetricsOptions) -> Self {
        self.config.metrics = options;
        self
    }
    /// Sets the cacher of cached actions (Moleculer's `cacher` option): see [`crate::cache`].
    pub fn cacher(mut self, cacher: impl crate::cache::Cacher) -> Self {
        self.config.cacher = Some(Arc::new(cacher));
        self
    }
    /// Sets the lock cluster-once scheduled tasks take each tick with (see
    /// [`crate::periodic`]), instead of the transporter's own: for a transporter that has none,
    /// or to keep the locks in another server.
    pub fn cluster_lock(mut self, lock: impl crate::periodic::ClusterLock) -> Self {
        self.config.cluster_lock = Some(Arc::new(lock));
        self
    }
    /// Sets a cacher shared with other brokers of this process.
    pub fn shared_cacher(mut self, cacher: Arc<dyn crate::cache::Cacher>) -> Self {
        self.config.cacher = Some(cacher);
        self
    }
    /// Sets the bound on pending remote requests.
    pub fn max_pending_requests(mut self, limit: usize) -> Self {
        self.config.max_pending_requests = limit.max(1);
        self
    }

    /// Builds the broker (not started yet).
    pub fn build(self) -> Broker {
        if let Some(cacher) = &self.config.cacher {
            cacher.init(&self.config.namespace);
        }
        Broker::from_config(self.config)
    }
}
