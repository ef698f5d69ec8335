//! The service broker: one per node. It hosts local services, keeps the registry of the
//! cluster, and routes calls and events locally or through the transporter.

mod builder;
mod call;
mod connect;
mod events;
mod incoming;
mod lifecycle;
mod mcall;
mod signal;
mod undelivered;

pub use builder::{BrokerBuilder, BrokerConfig, RetryPolicy};
pub use mcall::McallItem;
pub use signal::StopSignal;

use crate::circuit_breaker::Breakers;
use crate::context::{CallOptions, EmitOptions, EventType};
use crate::error::Error;
use crate::middleware::CallHandler;
use crate::packet::ClientInfo;
use crate::payload::{to_payload, Params};
use crate::registry::{Node, NodeRecord, Registry};
use crate::service::ServiceSchema;
use crate::transit::Transit;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// The framework version reported in INFO (`client.version`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum State {
    Created = 0,
    Starting = 1,
    Started = 2,
    Stopping = 3,
    Stopped = 4,
}

/// Counts handlers in flight so that `stop` can wait for them.
#[derive(Default)]
pub(crate) struct InFlight {
    count: AtomicUsize,
    idle: Notify,
    /// Whether a stop waits: only then does the last guard out wake it (a wake-up per call
    /// otherwise, at one call in flight).
    waited_on: AtomicBool,
}

pub(crate) struct InFlightGuard<'a>(&'a InFlight);

impl InFlight {
    pub(crate) fn enter(&self) -> InFlightGuard<'_> {
        self.count.fetch_add(1, Ordering::SeqCst);
        InFlightGuard(self)
    }

    async fn wait_idle(&self, bound: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + bound;
        self.waited_on.store(true, Ordering::SeqCst);
        loop {
            // Receives `notify_waiters` from its creation on, before it is polled.
            let notified = self.idle.notified();
            if self.count.load(Ordering::SeqCst) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.count.load(Ordering::Acquire) == 0;
            }
        }
    }
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        // SeqCst with the waiter's flag and count: a guard that misses the flag drops the count
        // before the waiter reads it.
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1
            && self.0.waited_on.load(Ordering::SeqCst)
        {
            self.0.idle.notify_waiters();
        }
    }
}

pub(crate) struct ServiceRuntime {
    pub(crate) schema: ServiceSchema,
    pub(crate) full_name: String,
    pub(crate) started: bool,
}

pub(crate) struct BrokerInner {
    pub(crate) config: BrokerConfig,
    pub(crate) instance_id: String,
    pub(crate) registry: Registry,
    pub(crate) transit: Option<Transit>,
    state: AtomicU8,
    /// Cleared once a stop has announced itself: new requests are refused from then on.
    pub(crate) accepting: AtomicBool,
    pub(crate) services: Mutex<Vec<ServiceRuntime>>,
    pub(crate) in_flight: InFlight,
    pub(crate) tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Set by `stop`, so that a `start` still retrying the transporter gives up.
    pub(crate) stop_requested: AtomicBool,
    pub(crate) stop_notify: Notify,
    /// Serializes start, stop and service registration.
    pub(crate) lifecycle: tokio::sync::Mutex<()>,
    pub(crate) breakers: Breakers,
    /// Every call goes through this: user middlewares, fallback, retry, then `call_once`.
    pub(crate) call_chain: CallHandler,
    /// Calls may bypass `call_chain` when they ask for nothing it does.
    pub(crate) plain_calls: bool,
    pub(crate) metrics: crate::metrics::Metrics,
    /// The tracer, when tracing is on.
    pub(crate) tracer: Option<Arc<crate::trace::Tracer>>,
    /// The `params` checks of calls to other nodes, when on.
    pub(crate) remote_params: Option<crate::validation::RemoteParams>,
    /// The scheduled tasks of the local services.
    pub(crate) scheduler: crate::periodic::Scheduler,
}

/// A service broker. Cloning gives another handle to the same broker.
///
/// ```
/// use broker_core::{ActionDef, Broker, ServiceSchema};
/// use serde_json::json;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), broker_core::Error> {
/// let broker = Broker::builder().node_id("local").build();
/// broker
///     .add_service(ServiceSchema::new("math").action(ActionDef::new("add", |ctx| async move {
///         let p = ctx.params();
///         Ok(json!(p["a"].as_i64().unwrap_or(0) + p["b"].as_i64().unwrap_or(0)))
///     })))
///     .await?;
/// broker.start().await?;
/// let sum: i64 = broker.call("math.add", json!({"a": 1, "b": 2})).await?;
/// assert_eq!(sum, 3);
/// broker.stop().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Broker {
    pub(crate) inner: Arc<BrokerInner>,
}

impl fmt::Debug for Broker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broker")
            .field("node_id", &self.node_id())
            .field("namespace", &self.inner.config.namespace)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Broker {
    /// Starts building a broker.
    pub fn builder() -> BrokerBuilder {
        BrokerBuilder::new()
    }

    fn from_config(config: BrokerConfig) -> Broker {
        let instance_id = crate::util::generate_uid();
        let local = Node::local(
            &config.node_id,
            &instance_id,
            ClientInfo {
                client_type: "rust".to_owned(),
                version: VERSION.to_owned(),
                lang_version: rustc_version(),
            },
            crate::sysinfo::hostname(),
            crate::sysinfo::ip_list(),
            config.metadata.clone(),
        );
        let registry = Registry::new(local, config.strategy.clone(), config.prefer_local);
        let metrics = crate::metrics::Metrics::new(config.metrics.clone());
        crate::metrics::install(&metrics, &config);
        let transit = config.transporter.clone().map(|t| {
            let bus_balances = config.disable_balancer && t.has_builtin_balancer();
            if config.disable_balancer && !bus_balances {
                tracing::warn!(
                    transporter = %t.describe(),
                    "the transporter has no built-in balancer; the broker keeps balancing"
                );
            }
            Transit::new(
                t,
                crate::transmit::Codec {
                    serializer: config.serializer.clone(),
                    middlewares: config.transit_middlewares.clone(),
                },
                config.protocol,
                bus_balances,
                metrics.builtin().cloned(),
            )
        });
        let breakers = Breakers::new(config.circuit_breaker.clone());
        Broker {
            inner: Arc::new_cyclic(|weak: &Weak<BrokerInner>| {
                crate::metrics::install_collectors(&metrics, weak.clone(), &config);
                BrokerInner {
                    call_chain: call::chain(weak.clone(), &config),
                    plain_calls: call::calls_are_plain(&config),
                    tracer: crate::trace::Tracer::new(config.tracing.as_ref(), &config.node_id),
                    remote_params: config
                        .check_remote_params
                        .then(crate::validation::RemoteParams::default),
                    breakers,
                    config,
                    instance_id,
                    registry,
                    transit,
                    state: AtomicU8::new(State::Created as u8),
                    accepting: AtomicBool::new(true),
                    stop_requested: AtomicBool::new(false),
                    stop_notify: Notify::new(),
                    services: Mutex::new(Vec::new()),
                    in_flight: InFlight::default(),
                    tasks: Mutex::new(Vec::new()),
                    lifecycle: tokio::sync::Mutex::new(()),
                    metrics,
                    scheduler: crate::periodic::Scheduler::default(),
                }
            }),
        }
    }

    /// The metric registry: register your own metrics here (inert when metrics are off).
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.inner.metrics
    }

    /// This node's ID.
    pub fn node_id(&self) -> &str {
        &self.inner.config.node_id
    }

    /// This broker process's instance ID (new on every start of the process).
    pub fn instance_id(&self) -> &str {
        &self.inner.instance_id
    }

    /// The configuration.
    pub fn config(&self) -> &BrokerConfig {
        &self.inner.config
    }

    pub(crate) fn state(&self) -> State {
        match self.inner.state.load(Ordering::Acquire) {
            0 => State::Created,
            1 => State::Starting,
            2 => State::Started,
            3 => State::Stopping,
            _ => State::Stopped,
        }
    }

    pub(crate) fn set_state(&self, state: State) {
        self.inner.state.store(state as u8, Ordering::Release);
    }

    /// Whether a call or emit must be refused: always once stopped; while stopping, from the
    /// moment the stop refuses new work, unless it comes from a handler still in flight
    /// (`nested`), which may need it to finish.
    pub(crate) fn refuses_work(&self, nested: bool) -> bool {
        match self.state() {
            State::Stopped => true,
            State::Stopping => !nested && !self.inner.accepting.load(Ordering::Acquire),
            State::Created | State::Starting | State::Started => false,
        }
    }

    /// Whether `start` has completed and `stop` has not begun.
    pub fn is_running(&self) -> bool {
        self.state() == State::Started
    }

    /// Calls an action and deserializes its result into `R`. Asking for a
    /// [`Payload`](crate::payload::Payload) gives the result as the JSON text it came in, with no
    /// parsing (for a proxy, or a result passed on untouched).
    pub async fn call<R: DeserializeOwned + 'static>(
        &self,
        action: &str,
        params: impl Serialize,
    ) -> Result<R, Error> {
        self.call_with(action, params, CallOptions::default()).await
    }

    /// [`Broker::call`] with options.
    pub async fn call_with<R: DeserializeOwned + 'static>(
        &self,
        action: &str,
        params: impl Serialize,
        options: CallOptions,
    ) -> Result<R, Error> {
        let params = Params::from_payload(to_payload(&params)?);
        self.call_params(action, params, options, None)
            .await?
            .into_type()
    }

    /// Calls an action with params it owns (moved in, hence `'static`). When this node serves
    /// the action with a handler whose params type is `P` (what `#[action]` generates), the
    /// value moves to the handler without being serialized, and a result of type `R` moves
    /// back the same way: a local call costs no JSON at all. Anything that needs the JSON
    /// still gets it, made on demand: a call to another node, a middleware or hook reading
    /// the params, a handler taking another type. Otherwise the same as [`Broker::call`].
    ///
    /// ```
    /// use broker_core::{service, Broker, Error};
    /// use serde::{Deserialize, Serialize};
    ///
    /// #[derive(Serialize, Deserialize)]
    /// struct Sum {
    ///     a: i64,
    ///     b: i64,
    /// }
    ///
    /// struct Math;
    ///
    /// #[service(name = "math")]
    /// impl Math {
    ///     #[action]
    ///     async fn add(&self, p: Sum) -> Result<i64, Error> {
    ///         Ok(p.a + p.b)
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Error> {
    /// let broker = Broker::builder().node_id("owned-doc").build();
    /// broker.add_service(Math).await?;
    /// broker.start().await?;
    /// let sum: i64 = broker.call_owned("math.add", Sum { a: 2, b: 3 }).await?;
    /// assert_eq!(sum, 5);
    /// broker.stop().await
    /// # }
    /// ```
    pub async fn call_owned<P, R>(&self, action: &str, params: P) -> Result<R, Error>
    where
        P: Serialize + Send + 'static,
        R: DeserializeOwned + 'static,
    {
        self.call_owned_with(action, params, CallOptions::default())
            .await
    }

    /// [`Broker::call_owned`] with options.
    pub async fn call_owned_with<P, R>(
        &self,
        action: &str,
        params: P,
        options: CallOptions,
    ) -> Result<R, Error>
    where
        P: Serialize + Send + 'static,
        R: DeserializeOwned + 'static,
    {
        self.call_params(action, Params::owned(params), options, None)
            .await?
            .into_type()
    }

    /// Emits a balanced event: one handler per group across the cluster.
    pub async fn emit(&self, event: &str, data: impl Serialize) -> Result<(), Error> {
        self.emit_with(event, data, EmitOptions::default()).await
    }

    /// [`Broker::emit`] with options (groups, meta, headers).
    pub async fn emit_with(
        &self,
        event: &str,
        data: impl Serialize,
        options: EmitOptions,
    ) -> Result<(), Error> {
        let data = to_payload(&data)?;
        self.emit_value(event, data, options, EventType::Emit, None)
            .await
    }

    /// Broadcasts an event to every handler on every node.
    pub async fn broadcast(&self, event: &str, data: impl Serialize) -> Result<(), Error> {
        self.broadcast_with(event, data, EmitOptions::default())
            .await
    }

    /// [`Broker::broadcast`] with options.
    pub async fn broadcast_with(
        &self,
        event: &str,
        data: impl Serialize,
        options: EmitOptions,
    ) -> Result<(), Error> {
        let data = to_payload(&data)?;
        self.emit_value(event, data, options, EventType::Broadcast, None)
            .await
    }

    /// Broadcasts an event to the handlers of this node only.
    pub async fn broadcast_local(&self, event: &str, data: impl Serialize) -> Result<(), Error> {
        self.broadcast_local_with(event, data, EmitOptions::default())
            .await
    }

    /// [`Broker::broadcast_local`] with options (meta, headers, groups).
    pub async fn broadcast_local_with(
        &self,
        event: &str,
        data: impl Serialize,
        options: EmitOptions,
    ) -> Result<(), Error> {
        let data = to_payload(&data)?;
        self.emit_value(event, data, options, EventType::BroadcastLocal, None)
            .await
    }

    /// Waits until every named service (full names such as `greeter` or `v2.posts`) is
    /// available somewhere in the cluster, or fails after `timeout`.
    pub async fn wait_for_services(&self, names: &[&str], timeout: Duration) -> Result<(), Error> {
        let names: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
        self.wait_for(&names, timeout).await
    }

    pub(crate) async fn wait_for(&self, names: &[String], timeout: Duration) -> Result<(), Error> {
        let mut changes = self.inner.registry.subscribe_changes();
        let wait = async {
            loop {
                if self.inner.registry.has_services(names) {
                    return;
                }
                if changes.changed().await.is_err() {
                    // The registry is gone with the broker; nothing will change any more.
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.map_err(|_| {
            let missing: Vec<&String> = names
                .iter()
                .filter(|n| !self.inner.registry.has_services(std::slice::from_ref(n)))
                .collect();
            Error::new(
                "MoleculerServerError",
                format!(
                    "Services waiting is timed out after {} ms: {missing:?} not available.",
                    timeout.as_millis()
                ),
            )
            .with_code(500)
            .with_type("WAITFOR_SERVICES")
            .with_data(serde_json::json!({ "services": names, "missing": missing }))
        })
    }

    /// A receiver that sees a new value whenever the services of the cluster change, this
    /// node's included (a service added at runtime, a node's INFO, a node gone). For code that
    /// mirrors the services elsewhere, such as the NATS service API exposer: wait on
    /// `changed()`, then read [`Broker::local_service_docs`] or [`Broker::service_docs`].
    pub fn service_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.registry.subscribe_changes()
    }

    /// Pings a node and returns the round trip, or `None` if no PONG came within `timeout`.
    pub async fn ping(&self, node_id: &str, timeout: Duration) -> Result<Option<Pong>, Error> {
        let transit = self
            .inner
            .transit
            .as_ref()
            .ok_or_else(|| Error::broker_options("ping needs a transporter"))?;
        let id = crate::util::generate_uid();
        let sent = crate::util::now_ms();
        let rx = transit.add_ping(id.clone());
        let packet = crate::packet::Packet::Ping(crate::packet::PingPacket {
            time: Some(sent),
            id: id.clone(),
            ver: transit.ver(),
            sender: self.node_id().to_owned(),
        });
        if let Err(err) = transit.publish(&packet, Some(node_id)) {
            transit.remove_ping(&id);
            return Err(err);
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(pong)) => {
                let now = crate::util::now_ms();
                let elapsed = now - pong.time.unwrap_or(sent);
                let arrived = pong.arrived.unwrap_or(now);
                Ok(Some(Pong {
                    node_id: pong.sender,
                    elapsed_ms: elapsed,
                    time_diff_ms: now - arrived - elapsed / 2,
                }))
            }
            _ => {
                transit.remove_ping(&id);
                Ok(None)
            }
        }
    }

    /// The nodes heard on the bus within the heartbeat timeout that speak another protocol
    /// version, as `(node ID, version)` sorted by node ID. Their packets are dropped (unless
    /// [`BrokerBuilder::disable_version_check`]): they and this node do not see each other.
    pub fn other_protocol_nodes(&self) -> Vec<(String, String)> {
        match &self.inner.transit {
            Some(transit) => transit.other_version_nodes(self.inner.config.heartbeat_timeout),
            None => Vec::new(),
        }
    }

    /// The nodes of the cluster (this one included) as `$node.list` shows them, sorted by ID:
    /// with their services when `with_services`, the online ones only when `only_available`.
    pub fn node_list(&self, with_services: bool, only_available: bool) -> Vec<NodeRecord> {
        let state = self.inner.registry.read();
        let mut nodes: Vec<NodeRecord> = state
            .nodes
            .values()
            .filter(|n| !only_available || n.available)
            .map(|n| n.to_record(with_services))
            .collect();
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        nodes
    }
}

/// The answer to [`Broker::ping`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pong {
    /// The node that answered.
    pub node_id: String,
    /// Round trip in milliseconds.
    pub elapsed_ms: i64,
    /// Estimated clock difference in milliseconds.
    pub time_diff_ms: i64,
}

fn rustc_version() -> String {
    option_env!("BROKER_RUSTC_VERSION")
        .unwrap_or("rust")
        .to_owned()
}
