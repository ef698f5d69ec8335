//! [`AmqpTransporter`]: broker-core's `Transporter` over one AMQP 0-9-1 connection.

use crate::options::{millis, Options};
use crate::session::{Outlet, Session};
use crate::topology::{balanced_queue, node_queue, route};
use crate::url::Urls;
use broker_core::packet::PacketType;
use broker_core::transporter::{
    channel_prefix, BalancedTopic, BoxFuture, Bytes, Topic, TransportEvent, TransportEvents,
    TransportSetup,
};
use broker_core::{Error, Transporter};
use futures_util::StreamExt;
use lapin::options::BasicPublishOptions;
use lapin::BasicProperties;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A [`Transporter`] over AMQP 0-9-1 (RabbitMQ), wire-compatible with Moleculer.js's AMQP
/// transporter: the same exchanges, queues, queue options and acknowledgements.
///
/// - A targeted topic (`MOL-<ns>.REQ.<node>`, `RES`, `EVENT`, `INFO`, `DISCOVER`, `PING`,
///   `PONG`) is a queue of that name, published to through the default exchange.
/// - A broadcast topic (`MOL-<ns>.INFO`, `DISCOVER`, `DISCONNECT`, `HEARTBEAT`, `PING`) is a
///   durable fanout exchange of that name, with a queue `<topic>.<node>` per node bound to it.
/// - Queues are durable (amqplib's default); the internal packets' queues are `autoDelete`;
///   request, response and event queues expire (`x-expires`) after two minutes without a
///   consumer ([`AmqpTransporter::auto_delete_queues`]); event and heartbeat queues may get a
///   message TTL ([`AmqpTransporter::event_ttl`], [`AmqpTransporter::heartbeat_ttl`]).
/// - With the broker's balancer disabled (`BrokerBuilder::disable_balancer`), requests go to
///   one durable queue per action, `MOL-<ns>.REQB.<action>`, and grouped events to one queue
///   per group and event, `MOL-<ns>.EVENTB.<group>.<event>`, consumed by every node serving
///   them: RabbitMQ hands each message to one of them.
/// - Requests (targeted or balanced) and balanced events are acknowledged only once handled
///   (a request once its response is published): a node that dies first leaves the message to
///   RabbitMQ, which hands it to another consumer. A request can therefore run twice; handlers
///   reached this way should be idempotent. At most [`AmqpTransporter::prefetch`] (default 1,
///   as Moleculer) unacknowledged messages are held per queue.
///
/// One connection and channel carry everything. When it is lost the broker hears
/// [`TransportEvent::Disconnected`] once and publishes fail with `BrokerDisconnectedError`;
/// the transporter reconnects (the URLs of a `;`-separated list in turn), declares and
/// consumes every queue again exactly once, and only then reports
/// [`TransportEvent::Reconnected`], upon which the broker announces itself again.
///
/// [`TransportEvent::Disconnected`]: broker_core::transporter::TransportEvent::Disconnected
/// [`TransportEvent::Reconnected`]: broker_core::transporter::TransportEvent::Reconnected
///
/// ```no_run
/// use broker_amqp::AmqpTransporter;
/// use std::time::Duration;
///
/// # fn main() -> Result<(), broker_core::Error> {
/// let transporter = AmqpTransporter::new("amqp://guest:guest@127.0.0.1:5672")?
///     .prefetch(8)
///     .event_ttl(Duration::from_secs(30));
/// # let _ = transporter;
/// # Ok(())
/// # }
/// ```
pub struct AmqpTransporter {
    urls: Urls,
    options: Options,
    connected: Arc<AtomicBool>,
    link: RwLock<Option<Link>>,
}

impl fmt::Debug for AmqpTransporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmqpTransporter")
            .field("urls", &self.urls.describe())
            .field("connected", &self.is_connected())
            .field("options", &self.options)
            .finish()
    }
}

/// What exists between `connect` and `disconnect`.
struct Link {
    ctx: Arc<Ctx>,
    outgoing: mpsc::UnboundedSender<Outgoing>,
    writer: JoinHandle<()>,
    supervisor: JoinHandle<()>,
}

/// What the transporter, its supervisor and its writer share.
struct Ctx {
    urls: Urls,
    options: Options,
    prefix: String,
    node_id: String,
    events: mpsc::UnboundedSender<TransportEvent>,
    connected: Arc<AtomicBool>,
    closed: AtomicBool,
    /// The subscriptions asked for and the live session; one lock, so a reconnect and a
    /// subscribe never declare concurrently.
    plan: tokio::sync::Mutex<Plan>,
    /// The channel publishes go out on, while connected.
    outlet: RwLock<Option<Arc<Outlet>>>,
    /// Connection attempts so far: picks the next URL of the list.
    attempts: AtomicUsize,
}

#[derive(Default)]
struct Plan {
    topics: Vec<Topic>,
    balanced: Vec<BalancedTopic>,
    session: Option<Session>,
}

/// One outgoing publish, with what the broker needs to hear if it cannot go out.
struct Outgoing {
    exchange: String,
    routing_key: String,
    payload: Bytes,
    packet_type: PacketType,
    /// The node it is aimed at; `None` for a broadcast or a balanced topic.
    target: Option<String>,
}

impl AmqpTransporter {
    /// A transporter for one AMQP URL or several separated by `;`, as Moleculer.js takes them:
    /// `amqp://user:password@host:5672/vhost` or `amqps://…` for TLS. Several URLs are tried in
    /// turn on reconnects.
    ///
    /// Nothing connects until the broker starts. A URL that is not `amqp://` or `amqps://` is a
    /// `BrokerOptionsError`.
    pub fn new(urls: &str) -> Result<AmqpTransporter, Error> {
        Ok(AmqpTransporter {
            urls: Urls::parse(urls)?,
            options: Options::default(),
            connected: Arc::new(AtomicBool::new(false)),
            link: RwLock::new(None),
        })
    }

    /// Moleculer's `prefetch` (default 1): how many unacknowledged messages RabbitMQ hands a
    /// consumer of an acknowledged queue (requests, balanced events) at once, so how many
    /// requests of one queue this node handles concurrently. At least 1.
    pub fn prefetch(mut self, prefetch: u16) -> AmqpTransporter {
        self.options.prefetch = prefetch.max(1);
        self
    }

    /// Moleculer's `autoDeleteQueues` as a duration (default two minutes): the node's request,
    /// response and event queues, and the balanced event queues, are deleted by RabbitMQ
    /// after this long without a consumer (`x-expires`; at least 1 ms).
    pub fn auto_delete_queues(mut self, after: Duration) -> AmqpTransporter {
        self.options.auto_delete_queues = Some(millis(after).max(1));
        self
    }

    /// Moleculer's `autoDeleteQueues: false`: the queues never expire.
    pub fn keep_queues(mut self) -> AmqpTransporter {
        self.options.auto_delete_queues = None;
        self
    }

    /// Moleculer's `eventTimeToLive`: events not consumed within this time are dropped by
    /// RabbitMQ (`x-message-ttl` of the event queues).
    pub fn event_ttl(mut self, ttl: Duration) -> AmqpTransporter {
        self.options.event_ttl = Some(millis(ttl));
        self
    }

    /// Moleculer's `heartbeatTimeToLive`: heartbeats not consumed within this time are dropped
    /// (`x-message-ttl` of the heartbeat queue).
    pub fn heartbeat_ttl(mut self, ttl: Duration) -> AmqpTransporter {
        self.options.heartbeat_ttl = Some(millis(ttl));
        self
    }

    /// Delays between reconnect attempts: `base`, doubling each failed attempt, never above
    /// `cap` (defaults 100 ms and 2 s; `base` at least 1 ms, `cap` at least `base`).
    pub fn reconnect_backoff(mut self, base: Duration, cap: Duration) -> AmqpTransporter {
        self.options.backoff_base = base.max(Duration::from_millis(1));
        self.options.backoff_cap = cap.max(self.options.backoff_base);
        self
    }

    /// The longest wait for the server: to connect and declare, and for `disconnect` to
    /// hand over what is queued (default 5 s; at least 1 ms).
    pub fn command_timeout(mut self, timeout: Duration) -> AmqpTransporter {
        self.options.command_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    fn ctx(&self) -> Result<Arc<Ctx>, Error> {
        read(&self.link)
            .as_ref()
            .map(|l| l.ctx.clone())
            .ok_or_else(Error::broker_disconnected)
    }

    async fn open(&self, setup: &TransportSetup) -> Result<TransportEvents, Error> {
        if read(&self.link).is_some() {
            return Err(already_connected());
        }
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let ctx = Arc::new(Ctx {
            urls: self.urls.clone(),
            options: self.options,
            prefix: channel_prefix(&setup.namespace),
            node_id: setup.node_id.clone(),
            events: events_tx,
            connected: self.connected.clone(),
            closed: AtomicBool::new(false),
            plan: tokio::sync::Mutex::new(Plan::default()),
            outlet: RwLock::new(None),
            attempts: AtomicUsize::new(0),
        });
        let session = ctx.connect_once().await.map_err(|err| {
            Error::new(
                "BrokerDisconnectedError",
                format!("cannot connect to AMQP at {}: {err}", self.urls.describe()),
            )
            .with_code(502)
            .with_type("BAD_GATEWAY")
            .with_retryable(true)
        })?;
        *write(&ctx.outlet) = Some(session.outlet.clone());
        ctx.plan.lock().await.session = Some(session);
        let (outgoing, queue) = mpsc::unbounded_channel();
        let writer = tokio::spawn(write_loop(ctx.clone(), queue));
        let supervisor = tokio::spawn(supervise(ctx.clone()));
        let mut link = write(&self.link);
        if link.is_some() {
            writer.abort();
            supervisor.abort();
            return Err(already_connected());
        }
        self.connected.store(true, Ordering::SeqCst);
        *link = Some(Link {
            ctx,
            outgoing,
            writer,
            supervisor,
        });
        tracing::info!(urls = %self.urls.describe(), namespace = %setup.namespace, "connected to AMQP");
        Ok(events_rx)
    }

    fn enqueue(&self, out: Outgoing) -> Result<(), Error> {
        if !self.connected.load(Ordering::Acquire) {
            return Err(Error::broker_disconnected());
        }
        let link = read(&self.link);
        let link = link.as_ref().ok_or_else(Error::broker_disconnected)?;
        link.outgoing
            .send(out)
            .map_err(|_| Error::broker_disconnected())
    }

    async fn close(&self) {
        self.connected.store(false, Ordering::SeqCst);
        let Some(link) = write(&self.link).take() else {
            return;
        };
        let Link {
            ctx,
            outgoing,
            mut writer,
            supervisor,
        } = link;
        ctx.closed.store(true, Ordering::SeqCst);
        supervisor.abort();
        // New publishes already fail; the writer sends what is queued (the DISCONNECT packet
        // among it) before the channel closes.
        drop(outgoing);
        let limit = self.options.command_timeout;
        if tokio::time::timeout(limit, &mut writer).await.is_err() {
            tracing::warn!("queued AMQP publishes not sent in time; dropping them");
            writer.abort();
        }
        let session = ctx.plan.lock().await.session.take();
        *write(&ctx.outlet) = None;
        if let Some(session) = session {
            if tokio::time::timeout(limit, session.close()).await.is_err() {
                tracing::warn!("AMQP connection did not close in time");
            }
        }
        tracing::debug!(urls = %self.urls.describe(), "AMQP transporter closed");
    }
}

impl Ctx {
    /// Connects to the next URL of the list, within the command timeout.
    async fn connect_once(&self) -> Result<Session, String> {
        let n = self.attempts.fetch_add(1, Ordering::Relaxed);
        let url = self.urls.pick(n);
        match tokio::time::timeout(
            self.options.command_timeout,
            Session::open(url, &self.options),
        )
        .await
        {
            Ok(Ok(session)) => Ok(session),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err(format!(
                "no answer within {:?}",
                self.options.command_timeout
            )),
        }
    }

    /// Declares every subscription of the plan on its (new) session.
    async fn restore(&self, plan: &mut Plan) -> Result<(), lapin::Error> {
        let Plan {
            topics,
            balanced,
            session,
        } = plan;
        let Some(session) = session.as_mut() else {
            return Ok(());
        };
        for topic in topics.iter() {
            let spec = node_queue(topic, &self.prefix, &self.node_id, &self.options);
            session.declare(&spec, false, &self.events).await?;
        }
        for topic in balanced.iter() {
            let spec = balanced_queue(topic, &self.prefix, &self.options);
            session.declare(&spec, true, &self.events).await?;
        }
        Ok(())
    }

    fn reconnect_delay(&self, failures: u32) -> Duration {
        let o = &self.options;
        o.backoff_base
            .saturating_mul(1u32 << failures.min(16))
            .min(o.backoff_cap)
    }
}

/// Watches the session; when it is lost, tells the broker, reconnects, restores every
/// subscription once, and tells the broker again.
async fn supervise(ctx: Arc<Ctx>) {
    loop {
        wait_for_loss(&ctx).await;
        if ctx.closed.load(Ordering::SeqCst) {
            return;
        }
        ctx.connected.store(false, Ordering::SeqCst);
        *write(&ctx.outlet) = None;
        if let Some(old) = ctx.plan.lock().await.session.take() {
            old.abandon();
        }
        tracing::warn!("AMQP connection lost; reconnecting");
        let _ = ctx.events.send(TransportEvent::Disconnected);
        let mut failures = 0u32;
        loop {
            if ctx.closed.load(Ordering::SeqCst) {
                return;
            }
            tokio::time::sleep(ctx.reconnect_delay(failures)).await;
            let session = match ctx.connect_once().await {
                Ok(session) => session,
                Err(err) => {
                    tracing::debug!(%err, "AMQP reconnect attempt failed");
                    failures = failures.saturating_add(1);
                    continue;
                }
            };
            let mut plan = ctx.plan.lock().await;
            plan.session = Some(session);
            match ctx.restore(&mut plan).await {
                Ok(()) => {
                    let outlet = plan.session.as_ref().map(|s| s.outlet.clone());
                    *write(&ctx.outlet) = outlet;
                    drop(plan);
                    if ctx.closed.load(Ordering::SeqCst) {
                        return;
                    }
                    ctx.connected.store(true, Ordering::SeqCst);
                    tracing::info!("AMQP connection restored");
                    let _ = ctx.events.send(TransportEvent::Reconnected);
                    break;
                }
                Err(err) => {
                    tracing::warn!(%err, "AMQP queues could not be declared again; retrying");
                    if let Some(s) = plan.session.take() {
                        s.abandon();
                    }
                    failures = failures.saturating_add(1);
                }
            }
        }
    }
}

/// Returns once the live session's connection or channel has closed (or there is none).
async fn wait_for_loss(ctx: &Ctx) {
    let listener = {
        let plan = ctx.plan.lock().await;
        match &plan.session {
            Some(s) if s.is_alive() => s.connection().events_listener(),
            _ => return,
        }
    };
    let mut listener = std::pin::pin!(listener);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            event = listener.next() => match event {
                Some(lapin::Event::Error(err)) => {
                    tracing::debug!(%err, "AMQP connection error");
                    return;
                }
                Some(_) => {}
                None => return,
            },
            _ = tick.tick() => {
                if ctx.closed.load(Ordering::SeqCst) {
                    return;
                }
                // A channel closed by the server (a refused declaration) also ends the session.
                let alive = ctx.plan.lock().await.session.as_ref().is_some_and(|s| s.is_alive());
                if !alive {
                    return;
                }
            }
        }
    }
}

/// Publishes the queued packets in order, each batch's publishes pipelined (every publish
/// queues its frames when first polled, in order). What cannot go out is reported to the
/// broker as undelivered, so the call of such a request fails at once.
async fn write_loop(ctx: Arc<Ctx>, mut queue: mpsc::UnboundedReceiver<Outgoing>) {
    let mut batch = Vec::new();
    while queue.recv_many(&mut batch, 256).await > 0 {
        // Let the handlers woken with this one queue their replies too.
        tokio::task::yield_now().await;
        while let Ok(out) = queue.try_recv() {
            batch.push(out);
        }
        let outlet = read(&ctx.outlet).clone();
        let Some(outlet) = outlet else {
            for out in batch.drain(..) {
                undelivered(&ctx, out, "not connected");
            }
            continue;
        };
        let mut failed = Vec::new();
        for out in &batch {
            if !out.exchange.is_empty() {
                if let Err(err) = outlet.ensure_exchange(&out.exchange).await {
                    failed.push((out.exchange.clone(), err.to_string()));
                }
            }
        }
        let failed = &failed;
        let sends = batch.iter().map(|out| {
            let channel = &outlet.channel;
            async move {
                if failed.iter().any(|(e, _)| *e == out.exchange) {
                    return Err("exchange not declared".to_owned());
                }
                channel
                    .basic_publish(
                        out.exchange.as_str().into(),
                        out.routing_key.as_str().into(),
                        BasicPublishOptions::default(),
                        &out.payload,
                        BasicProperties::default(),
                    )
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
        });
        let results = futures_util::future::join_all(sends).await;
        for (out, result) in batch.drain(..).zip(results) {
            if let Err(err) = result {
                undelivered(&ctx, out, &err);
            }
        }
    }
}

fn undelivered(ctx: &Ctx, out: Outgoing, why: &str) {
    tracing::warn!(packet = %out.packet_type, to = %out.routing_key, exchange = %out.exchange, why, "AMQP publish failed");
    let _ = ctx.events.send(TransportEvent::Undelivered {
        packet_type: out.packet_type,
        target: out.target,
        payload: out.payload,
    });
}

impl Transporter for AmqpTransporter {
    fn connect<'a>(
        &'a self,
        setup: &'a TransportSetup,
    ) -> BoxFuture<'a, Result<TransportEvents, Error>> {
        Box::pin(self.open(setup))
    }

    fn subscribe<'a>(&'a self, topics: &'a [Topic]) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let ctx = self.ctx()?;
            let mut plan = ctx.plan.lock().await;
            for topic in topics {
                if !plan.topics.contains(topic) {
                    plan.topics.push(topic.clone());
                }
            }
            let Some(session) = plan.session.as_mut() else {
                // Restored with the others once the connection is back.
                return Err(Error::broker_disconnected());
            };
            for topic in topics {
                let spec = node_queue(topic, &ctx.prefix, &ctx.node_id, &ctx.options);
                declare_or_fail(session, &spec, false, &ctx).await?;
            }
            Ok(())
        })
    }

    fn publish(&self, topic: &Topic, payload: Bytes) -> Result<(), Error> {
        let prefix = self.ctx()?;
        let (exchange, routing_key) = route(topic.channel(&prefix.prefix), topic.node_id.is_none());
        self.enqueue(Outgoing {
            exchange,
            routing_key,
            payload,
            packet_type: topic.packet_type,
            target: topic.node_id.clone(),
        })
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

    /// RabbitMQ balances through shared queues: Moleculer's `REQB.<action>` and
    /// `EVENTB.<group>.<event>`, each consumed by every node serving it.
    fn has_builtin_balancer(&self) -> bool {
        true
    }

    fn subscribe_balanced<'a>(
        &'a self,
        topics: &'a [BalancedTopic],
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let ctx = self.ctx()?;
            let mut plan = ctx.plan.lock().await;
            plan.balanced = topics.to_vec();
            let specs: Vec<_> = topics
                .iter()
                .map(|t| balanced_queue(t, &ctx.prefix, &ctx.options))
                .collect();
            let Some(session) = plan.session.as_mut() else {
                return Err(Error::broker_disconnected());
            };
            let keep: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
            session.drop_balanced_except(&keep);
            for spec in &specs {
                declare_or_fail(session, spec, true, &ctx).await?;
            }
            Ok(())
        })
    }

    fn publish_balanced(&self, topic: &BalancedTopic, payload: Bytes) -> Result<(), Error> {
        let ctx = self.ctx()?;
        self.enqueue(Outgoing {
            exchange: String::new(),
            routing_key: topic.channel(&ctx.prefix),
            payload,
            packet_type: topic.packet_type(),
            target: None,
        })
    }

    /// The URLs without passwords: `amqp://guest:***@127.0.0.1:5672`.
    fn describe(&self) -> String {
        self.urls.describe()
    }
}

async fn declare_or_fail(
    session: &mut Session,
    spec: &crate::topology::QueueSpec,
    balanced: bool,
    ctx: &Ctx,
) -> Result<(), Error> {
    session
        .declare(spec, balanced, &ctx.events)
        .await
        .map_err(|err| {
            tracing::warn!(%err, queue = %spec.name, "AMQP declaration failed");
            Error::broker_disconnected()
        })
}

fn already_connected() -> Error {
    Error::broker_options("AmqpTransporter is already connected; disconnect it first")
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    match l.read() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    match l.write() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_follows_moleculer_defaults_and_clamps_nonsense() {
        let t = AmqpTransporter::new("amqp://guest:guest@127.0.0.1:5672").expect("url");
        assert_eq!(t.options.prefetch, 1);
        assert_eq!(t.options.auto_delete_queues, Some(120_000));
        let t = t
            .prefetch(0)
            .auto_delete_queues(Duration::ZERO)
            .event_ttl(Duration::from_secs(3))
            .heartbeat_ttl(Duration::from_millis(1500))
            .reconnect_backoff(Duration::ZERO, Duration::ZERO);
        assert_eq!(t.options.prefetch, 1);
        assert_eq!(t.options.auto_delete_queues, Some(1));
        assert_eq!(t.options.event_ttl, Some(3000));
        assert_eq!(t.options.heartbeat_ttl, Some(1500));
        assert_eq!(t.options.backoff_cap, Duration::from_millis(1));
        assert_eq!(t.keep_queues().options.auto_delete_queues, None);
    }

    #[test]
    fn debug_and_describe_hide_the_password() {
        let t = AmqpTransporter::new("amqp://bob:hunter2@10.0.0.1:5672/vh").expect("url");
        let shown = format!("{t:?} {}", t.describe());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(t.describe(), "amqp://bob:***@10.0.0.1:5672/vh");
    }

    #[test]
    fn publishing_before_connect_fails_fast() {
        let t = AmqpTransporter::new("amqp://127.0.0.1:5672").expect("url");
        let err = t
            .publish(&Topic::broadcast(PacketType::Info), Bytes::new())
            .expect_err("not connected");
        assert_eq!(err.name(), "BrokerDisconnectedError");
    }
}
