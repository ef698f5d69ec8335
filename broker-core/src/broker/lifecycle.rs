//! Starting and stopping the broker and its services, and announcing them to the cluster.

use super::{lock, Broker, BrokerInner, ServiceRuntime, State};
use crate::error::Error;
use crate::middleware::{self, ActionSpec, Bulkhead, EventSpec, Hooks, Middleware, Timeout};
use crate::packet::{BarePacket, HeartbeatPacket, InfoPacket, JsonMap, Packet, ServiceInfo};
use crate::registry::{LocalAction, LocalEvent};
use crate::schema;
use crate::service::{ActionHandler, EventHandler, Service, ServiceSchema, Visibility};
use crate::transporter::TransportSetup;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

impl Broker {
    /// Adds a service. Before `start` it is started with the broker; after, it starts now and
    /// the cluster is told.
    pub async fn add_service<S: Service>(&self, service: S) -> Result<(), Error> {
        let schema = Arc::new(service).schema();
        check_schema(&schema)?;
        if let Some(created) = &schema.created {
            created().await?;
        }
        let _guard = self.inner.lifecycle.lock().await;
        let full_name = schema.full_name();
        {
            let services = lock(&self.inner.services);
            if services.iter().any(|s| s.full_name == full_name) {
                return Err(Error::service_schema(format!(
                    "a service named '{full_name}' is already registered on this broker"
                )));
            }
        }
        lock(&self.inner.services).push(ServiceRuntime {
            schema,
            full_name,
            started: false,
        });
        if self.state() == State::Started {
            self.start_pending_services().await?;
            self.subscribe_balanced().await;
            self.announce();
        }
        Ok(())
    }

    /// Connects to the cluster, starts every service (after its dependencies), and announces
    /// them. Calling it on a running broker does nothing.
    pub async fn start(&self) -> Result<(), Error> {
        let _guard = self.inner.lifecycle.lock().await;
        match self.state() {
            State::Created => {}
            State::Started => return Ok(()),
            // Seen under the lifecycle lock, `Starting` means a start future was dropped
            // midway (say, under a timeout): half started, it cannot be trusted.
            State::Starting => {
                return Err(Error::broker_options(
                    "an earlier start of this broker was cancelled before it completed; \
                     stop it and build a new one (or bound the wait with connect_timeout)",
                ))
            }
            State::Stopping | State::Stopped => {
                return Err(Error::broker_options(
                    "this broker was stopped; build a new one to start again",
                ))
            }
        }
        self.set_state(State::Starting);
        let node_service = crate::node_service::schema(Arc::downgrade(&self.inner));
        lock(&self.inner.services).insert(
            0,
            ServiceRuntime {
                full_name: node_service.full_name(),
                schema: node_service,
                started: false,
            },
        );
        if let Err(err) = self.connect().await {
            self.set_state(State::Stopped);
            return Err(err);
        }
        if let Err(err) = self.start_pending_services().await {
            tracing::error!(%err, "a service failed to start; stopping the broker");
            self.shutdown_transport().await;
            self.set_state(State::Stopped);
            return Err(err);
        }
        self.set_state(State::Started);
        lock(&self.inner.tasks).extend(crate::metrics::spawn_tasks(self));
        if let Some(tracer) = &self.inner.tracer {
            tracer.start(self);
        }
        if self.inner.transit.is_some() {
            self.subscribe_balanced().await;
            self.announce();
            self.spawn_timers();
        }
        if let Some(transit) = &self.inner.transit {
            if let Err(err) = transit.transporter.broker_started(self).await {
                tracing::warn!(transporter = %transit.transporter.describe(), "{err}");
            }
        }
        let config = &self.inner.config;
        match &self.inner.transit {
            Some(transit) => tracing::info!(
                node_id = %self.node_id(),
                namespace = %config.namespace,
                protocol = %transit.protocol,
                "broker started (node '{}', protocol {})",
                self.node_id(),
                transit.protocol
            ),
            None => tracing::info!(
                node_id = %self.node_id(),
                "broker started (node '{}', local only)",
                self.node_id()
            ),
        }
        Ok(())
    }

    async fn connect(&self) -> Result<(), Error> {
        let Some(transit) = &self.inner.transit else {
            return Ok(());
        };
        let setup = TransportSetup {
            namespace: self.inner.config.namespace.clone(),
            node_id: self.node_id().to_owned(),
        };
        let events = self.connect_with_retry(&setup).await?;
        let handle = tokio::spawn(super::incoming::run(Arc::downgrade(&self.inner), events));
        lock(&self.inner.tasks).push(handle);
        let discover = Packet::Discover(BarePacket {
            ver: transit.ver(),
            sender: self.node_id().to_owned(),
        });
        transit.publish(&discover, None)?;
        Ok(())
    }

    /// Starts every service not started yet, all at once (a service may depend on another
    /// one of the same broker), and registers each as soon as its `started` hook returns.
    async fn start_pending_services(&self) -> Result<(), Error> {
        let pending: Vec<(ServiceSchema, String)> = {
            let mut services = lock(&self.inner.services);
            services
                .iter_mut()
                .filter(|s| !s.started)
                .map(|s| {
                    s.started = true;
                    (s.schema.clone(), s.full_name.clone())
                })
                .collect()
        };
        let mut handles = Vec::new();
        for (schema, full_name) in pending {
            let broker = self.clone();
            handles.push(tokio::spawn(async move {
                if !schema.dependencies.is_empty() {
                    broker
                        .wait_for(&schema.dependencies, broker.inner.config.dependency_timeout)
                        .await
                        .map_err(|e| {
                            Error::service_schema(format!(
                                "service '{full_name}' could not start: {}",
                                e.message()
                            ))
                            .with_data(e.data().cloned().unwrap_or(Value::Null))
                        })?;
                }
                if let Some(started) = &schema.started {
                    crate::util::CatchPanic::new(started(), "started hook").await?;
                }
                broker.inner.scheduler.start(&broker, &schema, &full_name)?;
                broker.register_local_service(&schema, &full_name);
                Ok::<(), Error>(())
            }));
        }
        let mut first_error = None;
        for handle in handles {
            let result = handle.await.unwrap_or_else(|e| {
                Err(Error::service_schema(format!(
                    "service start task failed: {e}"
                )))
            });
            if let Err(err) = result {
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn register_local_service(&self, schema: &ServiceSchema, full_name: &str) {
        let service: Arc<str> = Arc::from(full_name);
        let prefix_actions = !schema
            .settings
            .get("$noServiceNamePrefix")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut action_infos = serde_json::Map::new();
        let mut actions = Vec::new();
        for def in &schema.actions {
            let name = if prefix_actions {
                format!("{full_name}.{}", def.name)
            } else {
                def.name.clone()
            };
            if def.visibility != Visibility::Private {
                let mut entry = def.extra.clone();
                if def.visibility != Visibility::Published {
                    entry.insert("visibility".into(), json!(def.visibility.as_str()));
                }
                if let Some(t) = def.timeout {
                    entry.insert("timeout".into(), json!(t.as_millis() as u64));
                }
                let strategy = def.strategy.clone().or_else(|| schema.strategy.clone());
                if let Some(spec) = &strategy {
                    entry.insert("strategy".into(), json!(spec.name()));
                    entry.insert("strategyOptions".into(), spec.options_json());
                }
                entry.insert("rawName".into(), json!(def.name));
                entry.insert("name".into(), json!(name));
                insert_some(&mut entry, schema::DESCRIPTION, def.description.as_ref());
                insert_some(
                    &mut entry,
                    schema::PARAMS_SCHEMA,
                    def.params_schema.as_ref(),
                );
                insert_some(
                    &mut entry,
                    schema::RESPONSE_SCHEMA,
                    def.response_schema.as_ref(),
                );
                if let Some(cache) = &def.cache {
                    entry.insert("cache".into(), cache.to_info());
                }
                action_infos.insert(name.clone(), Value::Object(entry));
                let spec = ActionSpec {
                    name: &name,
                    service: full_name,
                    def,
                };
                let (handler, wrapped) =
                    self.wrap_action(&spec, &schema.hooks, def.handler.clone());
                actions.push(Arc::new(LocalAction {
                    name: Arc::from(name.as_str()),
                    service: service.clone(),
                    handler,
                    timeout: def.timeout,
                    visibility: def.visibility,
                    strategy,
                    metrics: self.inner.metrics.builtin().map(|m| m.local_cell(&spec)),
                    // Tracing reads only the error (`run_action`), never the result.
                    result_unseen: !wrapped,
                    trace: self
                        .inner
                        .tracer
                        .as_ref()
                        .and_then(|t| crate::trace::action_target(t, &spec, schema)),
                    params_checker: def
                        .params_checked_by_handler
                        .then(|| def.extra.get(crate::schema::fastest::PARAMS))
                        .flatten()
                        .and_then(crate::validation::ParamsChecker::compile)
                        .map(Arc::new),
                }));
            }
        }
        let mut event_infos = serde_json::Map::new();
        let mut events = Vec::new();
        for def in &schema.events {
            let mut entry = JsonMap::new();
            entry.insert("name".into(), json!(def.name));
            if let Some(group) = &def.group {
                entry.insert("group".into(), json!(group));
            }
            let strategy = def.strategy.clone().or_else(|| schema.strategy.clone());
            if let Some(spec) = &strategy {
                entry.insert("strategy".into(), json!(spec.name()));
                entry.insert("strategyOptions".into(), spec.options_json());
            }
            insert_some(&mut entry, schema::DESCRIPTION, def.description.as_ref());
            insert_some(
                &mut entry,
                schema::PAYLOAD_SCHEMA,
                def.payload_schema.as_ref(),
            );
            insert_some(&mut entry, schema::fastest::PARAMS, def.params.as_ref());
            event_infos.insert(def.name.clone(), Value::Object(entry));
            let group = def.group.clone().unwrap_or_else(|| schema.name.clone());
            let spec = EventSpec {
                name: &def.name,
                service: full_name,
                group: &group,
                def,
            };
            let handler = self.wrap_event(&spec, def.handler.clone());
            let handler = match &self.inner.tracer {
                Some(tracer) => crate::trace::wrap_event(tracer, &spec, schema, handler),
                None => handler,
            };
            events.push((
                def.name.clone(),
                group.clone(),
                Arc::new(LocalEvent {
                    service: service.clone(),
                    handler,
                    strategy,
                }),
            ));
        }
        let info = ServiceInfo {
            name: schema.name.clone(),
            version: schema
                .version
                .as_ref()
                .and_then(|v| serde_json::to_value(v).ok()),
            full_name: Some(full_name.to_owned()),
            settings: public_settings(&schema.settings),
            metadata: schema.metadata.clone(),
            actions: action_infos,
            events: event_infos,
        };
        self.inner.registry.add_local_service(info, actions, events);
    }

    /// Wraps an action handler, innermost first: timeout, the service's hooks, the bulkhead,
    /// the cacher (a hit skips those), then the user's middlewares (the first added outermost).
    /// Also says whether the cacher, hooks or user middlewares wrap it (they may read its
    /// result; the other built-ins do not).
    fn wrap_action(
        &self,
        spec: &ActionSpec<'_>,
        hooks: &Hooks,
        handler: ActionHandler,
    ) -> (ActionHandler, bool) {
        let handler = Timeout.wrap_action(spec, handler);
        let unhooked = handler.clone();
        let handler = hooks.wrap(&spec.def.name, handler);
        let hooked = !Arc::ptr_eq(&unhooked, &handler);
        let handler =
            middleware::Validator::wrapping_hooks(!hooks.is_empty()).wrap_action(spec, handler);
        let bulkhead = Bulkhead {
            default: self.inner.config.bulkhead,
        };
        let handler = bulkhead.wrap_action(spec, handler);
        let inner = handler.clone();
        let config = &self.inner.config;
        let handler =
            crate::cache::wrap_action(config.cacher.as_ref(), config.protocol, spec, handler);
        let handler = middleware::wrap_action(&config.middlewares, spec, handler);
        let wrapped = hooked || !Arc::ptr_eq(&inner, &handler);
        (handler, wrapped)
    }

    /// Wraps an event handler: the bulkhead, then the user's middlewares.
    fn wrap_event(&self, spec: &EventSpec<'_>, handler: EventHandler) -> EventHandler {
        let bulkhead = Bulkhead {
            default: self.inner.config.bulkhead,
        };
        let handler = middleware::Validator::default().wrap_event(spec, handler);
        let handler = bulkhead.wrap_event(spec, handler);
        let handler = middleware::wrap_event(&self.inner.config.middlewares, spec, handler);
        match self.inner.metrics.builtin() {
            Some(metrics) => metrics.wrap_event(spec, handler),
            None => handler,
        }
    }

    /// The INFO packet describing this node (`services` overridden on stop).
    pub(crate) fn info_packet(&self, services: Option<Vec<ServiceInfo>>) -> Option<Packet> {
        let transit = self.inner.transit.as_ref()?;
        let state = self.inner.registry.read();
        let local = state.nodes.get(self.node_id())?;
        Some(Packet::Info(InfoPacket {
            services: services.unwrap_or_else(|| local.services.clone()),
            ip_list: local.ip_list.clone(),
            hostname: local.hostname.clone(),
            client: local.client.clone(),
            config: JsonMap::new(),
            instance_id: self.inner.instance_id.clone(),
            metadata: local.metadata.clone(),
            seq: Some(local.seq),
            ver: transit.ver(),
            sender: self.node_id().to_owned(),
        }))
    }

    /// With the bus balancing (`disable_balancer`), subscribes this node's balanced topics
    /// (its actions and event groups) before it announces them, as Moleculer does. A failure
    /// is logged: the node still serves calls aimed at it.
    async fn subscribe_balanced(&self) {
        let Some(transit) = &self.inner.transit else {
            return;
        };
        if !transit.bus_balances {
            return;
        }
        let topics = self.inner.registry.balanced_topics();
        if let Err(err) = transit.transporter.subscribe_balanced(&topics).await {
            tracing::warn!(%err, "balanced subscriptions failed; this node gets no balanced work");
        }
    }

    /// Bumps the service-list revision and broadcasts INFO.
    fn announce(&self) {
        self.inner.registry.bump_local_seq();
        if let (Some(transit), Some(info)) = (&self.inner.transit, self.info_packet(None)) {
            transit.publish_quietly(&info, None);
        }
    }

    fn spawn_timers(&self) {
        let weak = Arc::downgrade(&self.inner);
        let heartbeat = tokio::spawn(heartbeat_loop(weak.clone()));
        let checker = tokio::spawn(offline_check_loop(weak.clone()));
        lock(&self.inner.tasks).extend([heartbeat, checker]);
        let config = &self.inner.config;
        let latency_interval = config.latency_ping_interval.or_else(|| {
            config
                .strategy
                .needs_latency()
                .then_some(Duration::from_secs(10))
        });
        if let Some(interval) = latency_interval {
            lock(&self.inner.tasks).push(tokio::spawn(latency_loop(weak, interval)));
        }
    }

    /// Stops gracefully: tells the cluster the services are gone, refuses new work after the
    /// stop delay, waits (bounded) for handlers in flight, runs `stopped` hooks, sends
    /// DISCONNECT and closes the transporter.
    pub async fn stop(&self) -> Result<(), Error> {
        // A start still waiting for the transporter gives up and releases the lifecycle lock.
        self.inner.stop_requested.store(true, Ordering::Release);
        self.inner.stop_notify.notify_waiters();
        let _guard = self.inner.lifecycle.lock().await;
        match self.state() {
            State::Started | State::Starting => {}
            State::Created => {
                self.set_state(State::Stopped);
                return Ok(());
            }
            State::Stopping | State::Stopped => return Ok(()),
        }
        self.set_state(State::Stopping);
        self.inner.scheduler.stop_ticking();
        if let Some(transit) = &self.inner.transit {
            if transit.bus_balances {
                // No new balanced work for a node on its way out: the bus hands it to others.
                if let Err(err) = transit.transporter.subscribe_balanced(&[]).await {
                    tracing::debug!(%err, "balanced subscriptions not dropped before the stop");
                }
            }
            self.inner.registry.bump_local_seq();
            if let Some(info) = self.info_packet(Some(Vec::new())) {
                transit.publish_quietly(&info, None);
            }
        }
        tokio::time::sleep(self.inner.config.stop_delay).await;
        self.inner.accepting.store(false, Ordering::Release);
        if !self
            .inner
            .in_flight
            .wait_idle(self.inner.config.shutdown_timeout)
            .await
        {
            tracing::warn!(
                "handlers still running after the shutdown timeout of {:.1} s; stopping anyway",
                self.inner.config.shutdown_timeout.as_secs_f64()
            );
        }
        // Task runs count as handlers in flight: those still going now are cancelled.
        self.inner.scheduler.cancel_runs().await;
        let hooks: Vec<(String, ServiceSchema)> = lock(&self.inner.services)
            .iter()
            .rev()
            .filter(|s| s.started)
            .map(|s| (s.full_name.clone(), s.schema.clone()))
            .collect();
        for (name, schema) in hooks {
            if let Some(stopped) = &schema.stopped {
                let run = crate::util::CatchPanic::new(stopped(), "stopped hook");
                match tokio::time::timeout(self.inner.config.shutdown_timeout, run).await {
                    Ok(Ok(())) => {}
                    Ok(Err(err)) => tracing::warn!(service = %name, %err, "stopped hook failed"),
                    Err(_) => tracing::warn!(
                        service = %name,
                        "{}",
                        Error::graceful_stop_timeout(&schema.name, None)
                    ),
                }
            }
        }
        if let Some(tracer) = &self.inner.tracer {
            tracer.stop().await;
        }
        if let Some(cacher) = &self.inner.config.cacher {
            if let Err(err) = cacher.close().await {
                tracing::warn!(%err, "cacher did not close cleanly");
            }
        }
        self.shutdown_transport().await;
        self.set_state(State::Stopped);
        tracing::info!(node_id = %self.node_id(), "broker stopped");
        Ok(())
    }

    async fn shutdown_transport(&self) {
        if let Some(transit) = &self.inner.transit {
            let disconnect = Packet::Disconnect(BarePacket {
                ver: transit.ver(),
                sender: self.node_id().to_owned(),
            });
            transit.publish_quietly(&disconnect, None);
            transit.reject_all();
            if let Err(err) = transit.transporter.disconnect().await {
                tracing::warn!(%err, "transporter did not disconnect cleanly");
            }
        }
        for task in lock(&self.inner.tasks).drain(..) {
            task.abort();
        }
    }
}

/// Settings minus `$secureSettings` and the keys it lists.
fn public_settings(settings: &JsonMap) -> JsonMap {
    let secure: HashSet<&str> = settings
        .get("$secureSettings")
        .and_then(Value::as_array)
        .map(|keys| keys.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    settings
        .iter()
        .filter(|(k, _)| k.as_str() != "$secureSettings" && !secure.contains(k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn check_schema(schema: &ServiceSchema) -> Result<(), Error> {
    if schema.name.is_empty() {
        return Err(Error::service_schema("a service needs a name"));
    }
    let mut seen = HashSet::new();
    for action in &schema.actions {
        if !seen.insert(action.name.as_str()) {
            return Err(Error::service_schema(format!(
                "service '{}' declares action '{}' twice",
                schema.name, action.name
            )));
        }
    }
    Ok(())
}

async fn heartbeat_loop(weak: Weak<BrokerInner>) {
    let interval = match weak.upgrade() {
        Some(inner) => inner.config.heartbeat_interval,
        None => return,
    };
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(inner) = weak.upgrade() else { return };
        let Some(transit) = &inner.transit else {
            return;
        };
        let cpu = crate::sysinfo::cpu_usage().round();
        inner.registry.set_local_cpu(cpu);
        let hb = Packet::Heartbeat(HeartbeatPacket {
            cpu: Some(cpu),
            seq: None,
            instance_id: None,
            ver: transit.ver(),
            sender: inner.config.node_id.clone(),
        });
        transit.publish_quietly(&hb, None);
    }
}

async fn offline_check_loop(weak: Weak<BrokerInner>) {
    let (timeout, cleanup) = match weak.upgrade() {
        Some(inner) => (
            inner.config.heartbeat_timeout,
            inner.config.offline_cleanup_timeout,
        ),
        None => return,
    };
    // Check a few times per timeout, so a silent node is noticed soon after the timeout.
    let period = (timeout / 4).max(Duration::from_millis(50));
    let mut ticker = tokio::time::interval(period);
    loop {
        ticker.tick().await;
        let Some(inner) = weak.upgrade() else { return };
        let broker = Broker { inner };
        for node_id in broker.inner.registry.overdue_nodes(timeout) {
            broker.node_gone(&node_id, true).await;
        }
        broker.inner.registry.remove_stale_nodes(cleanup);
    }
}

/// Pings every remote node each `interval` and keeps the round trips for the Latency strategy.
async fn latency_loop(weak: Weak<BrokerInner>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    loop {
        ticker.tick().await;
        let Some(inner) = weak.upgrade() else { return };
        let broker = Broker { inner };
        for node_id in broker.inner.registry.remote_nodes() {
            if let Ok(Some(pong)) = broker.ping(&node_id, interval).await {
                let rtt = Duration::from_millis(pong.elapsed_ms.max(0) as u64);
                broker.inner.registry.record_latency(&node_id, rtt);
            }
        }
    }
}

/// Sets `key` when there is a value; an absent one is published as an absent key.
fn insert_some<T: serde::Serialize>(entry: &mut JsonMap, key: &str, value: Option<&T>) {
    if let Some(value) = value.and_then(|v| serde_json::to_value(v).ok()) {
        entry.insert(key.to_owned(), value);
    }
}
