//! The connection supervisor: one task per `connect`, owning the subscriber connection, the
//! publisher's writer task and the list of subscribed channels. It forwards messages to the
//! broker, notices a lost connection, reconnects with backoff and restores every subscription
//! exactly once on the one new subscriber connection.

use crate::backoff::Backoff;
use crate::cluster;
use crate::conn::Conn;
use crate::resp::Frame;
use crate::subscriber::{Message, Subscriber};
use crate::transporter::Options;
use crate::writer::{describe, Outgoing, Publisher, Queue, Reporter, Writer, WriterEnd};
use broker_core::packet::PacketType;
use broker_core::transporter::{packet_type_of_channel, TransportEvent};
use broker_core::Error;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, RedisError};
use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// A request from `Transporter::subscribe`, answered once Redis confirms.
#[derive(Debug)]
pub(crate) struct SubscribeRequest {
    pub(crate) channels: Vec<String>,
    pub(crate) reply: oneshot::Sender<Result<(), Error>>,
}

/// Resolves once shutdown is signalled (`true` sent, or the sender dropped). Cancel-safe.
pub(crate) async fn shutdown_signal(rx: &mut watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Runs `fut` for at most `limit`; running out of time counts as a connection failure.
pub(crate) async fn bounded<T>(
    limit: Duration,
    fut: impl Future<Output = Result<T, RedisError>>,
) -> Result<T, RedisError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(result) => result,
        Err(_) => Err(RedisError::from(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no answer from Redis within {} ms", limit.as_millis()),
        ))),
    }
}

/// Opens the dedicated pub/sub connection.
pub(crate) async fn open_subscriber(
    client: &Client,
    options: &Options,
) -> Result<Subscriber, RedisError> {
    Subscriber::open(client, options).await
}

/// Opens the publisher connection and names it (`CLIENT SETNAME`), best effort.
pub(crate) async fn open_publisher(
    client: &Client,
    options: &Options,
    name: &str,
) -> Result<Publisher, RedisError> {
    if let Some(mut conn) = Conn::open(client, options).await? {
        conn.queue(&[b"CLIENT", b"SETNAME", name.as_bytes()]);
        let reply = bounded(options.command_timeout, async {
            conn.flush().await?;
            conn.next_frame().await
        })
        .await?;
        if let Frame::Error(err) = reply {
            tracing::debug!(%err, "could not name the Redis publisher connection");
        }
        return Ok(Publisher::Lean(Box::new(conn)));
    }
    open_multiplexed(client, options, name)
        .await
        .map(Publisher::RedisRs)
}

/// redis-rs's multiplexed connection, named (for TLS).
async fn open_multiplexed(
    client: &Client,
    options: &Options,
    name: &str,
) -> Result<MultiplexedConnection, RedisError> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(options.command_timeout))
        .set_response_timeout(Some(options.command_timeout));
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    if let Err(err) = redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg(name)
        .exec_async(&mut conn)
        .await
    {
        if err.is_unrecoverable_error() {
            return Err(err);
        }
        tracing::debug!(%err, "could not name the Redis publisher connection");
    }
    Ok(conn)
}

/// Whether a Redis error means the connection itself is gone (rather than one command refused).
pub(crate) fn is_connection_error(err: &RedisError) -> bool {
    err.is_unrecoverable_error()
        || err.is_io_error()
        || err.is_connection_dropped()
        || err.is_timeout()
}

/// How a connected spell ended.
enum Outcome {
    Lost,
    Shutdown,
}

pub(crate) struct Supervisor {
    /// The servers to try: one, or the seed nodes of a Redis Cluster.
    pub(crate) clients: Vec<Client>,
    /// The one in `clients` new connections go to; moves on when opening one fails.
    pub(crate) current: usize,
    /// Whether `clients` are Redis Cluster nodes (where `PUBLISH` counts local subscribers only).
    pub(crate) cluster: bool,
    pub(crate) options: Options,
    pub(crate) prefix: String,
    pub(crate) publisher_name: String,
    pub(crate) connected: Arc<AtomicBool>,
    pub(crate) events: mpsc::UnboundedSender<TransportEvent>,
    pub(crate) queue: Queue,
    pub(crate) requests: mpsc::UnboundedReceiver<SubscribeRequest>,
    pub(crate) shutdown: watch::Receiver<bool>,
    /// Every channel confirmed so far: what a new subscriber connection subscribes to.
    pub(crate) channels: HashSet<String>,
    /// Packets of a failed pipeline that are safe to send twice: the next writer sends them
    /// first.
    pub(crate) carry: Vec<Outgoing>,
}

impl Supervisor {
    fn client(&self) -> &Client {
        &self.clients[self.current % self.clients.len()]
    }

    /// In a Redis Cluster, adds the nodes the cluster knows of (`CLUSTER NODES`) to the ones to
    /// fail over to, so that a node given one seed is not lost with it. Best effort: a
    /// failure here is left to the connection checks.
    async fn learn_nodes(&mut self, writer: &mut Option<Writer>) {
        let Some(w) = writer.as_mut().filter(|_| self.cluster) else {
            return;
        };
        let answer = match w.cluster_nodes(self.options.command_timeout).await {
            Ok(answer) => answer,
            Err(err) => {
                tracing::debug!(%err, "could not list the Redis Cluster's nodes");
                return;
            }
        };
        let seed = self.client().clone();
        for (host, port) in cluster::reachable_nodes(&answer, cluster::host_of(&seed)) {
            let Some(client) = cluster::client_for(&seed, &host, port) else {
                continue;
            };
            let addr = client.get_connection_info().addr();
            if !self
                .clients
                .iter()
                .any(|known| known.get_connection_info().addr() == addr)
            {
                tracing::debug!(%addr, "Redis Cluster node added to fail over to");
                self.clients.push(client);
            }
        }
    }

    /// After a failed attempt: the next attempt goes to the next seed or learnt node (a cluster
    /// node that went away is skipped; with one server this changes nothing).
    fn next_seed(&mut self) {
        if self.clients.len() > 1 {
            self.current = (self.current + 1) % self.clients.len();
            tracing::info!(
                addr = %self.client().get_connection_info().addr(),
                "trying the next Redis Cluster node"
            );
        }
    }

    /// Runs until `disconnect` (or the transporter is dropped). `connected` is already true.
    pub(crate) async fn run(mut self, subscriber: Subscriber, publisher: Publisher) {
        let mut sub = Some(subscriber);
        let mut writer = Some(self.spawn_writer(publisher));
        self.learn_nodes(&mut writer).await;
        loop {
            if let Outcome::Shutdown = self.serve(&mut sub, &mut writer).await {
                break;
            }
            self.connected.store(false, Ordering::SeqCst);
            tracing::warn!(prefix = %self.prefix, "Redis connection lost; reconnecting");
            if self.events.send(TransportEvent::Disconnected).is_err() {
                break;
            }
            if !self.reconnect(&mut sub, &mut writer).await {
                break;
            }
            self.connected.store(true, Ordering::SeqCst);
            tracing::info!(prefix = %self.prefix, channels = self.channels.len(), "Redis connection restored");
            self.learn_nodes(&mut writer).await;
            if self.events.send(TransportEvent::Reconnected).is_err() {
                break;
            }
        }
        self.finish(sub, writer).await;
    }

    fn spawn_writer(&mut self, conn: Publisher) -> Writer {
        Writer::spawn(
            conn,
            self.queue.clone(),
            self.shutdown.clone(),
            self.options.health_check_interval,
            self.reporter(),
            std::mem::take(&mut self.carry),
        )
    }

    fn reporter(&self) -> Reporter {
        Reporter {
            events: self.events.clone(),
            prefix: self.prefix.clone(),
            counts_all: !self.cluster,
        }
    }

    /// Accounts for a writer that ended: of the pipeline it could not finish, what is safe to
    /// send twice is kept for the next writer; a `REQ`, `EVENT` or `RES` may have reached Redis
    /// already, so it is reported to the broker as undelivered rather than sent again.
    fn writer_ended(&mut self, end: Result<WriterEnd, String>) {
        let (err, unsent) = match end {
            Ok(WriterEnd::Closed | WriterEnd::Stopped) => return,
            Ok(WriterEnd::Lost { err, unsent }) => (err.to_string(), unsent),
            Err(err) => {
                tracing::error!(%err, "Redis publisher task failed; the pipeline it was writing is lost");
                return;
            }
        };
        if unsent.is_empty() {
            tracing::warn!(%err, "Redis publisher connection failed");
            return;
        }
        let (repeat, undelivered): (Vec<Outgoing>, Vec<Outgoing>) = unsent
            .into_iter()
            .partition(|o| safe_to_repeat(o.packet_type));
        tracing::warn!(
            %err,
            undelivered = %describe(&undelivered),
            resent = %describe(&repeat),
            "Redis publisher connection failed while publishing: undelivered packets are \
             reported to the broker, the others sent again after the reconnect"
        );
        self.carry.extend(repeat);
        let reporter = self.reporter();
        for item in undelivered {
            reporter.undelivered(item);
        }
    }

    /// Serves while both connections are up. Whatever is lost is set to `None`.
    async fn serve(
        &mut self,
        sub: &mut Option<Subscriber>,
        writer: &mut Option<Writer>,
    ) -> Outcome {
        let (Some(mut subscriber), Some(mut w)) = (sub.take(), writer.take()) else {
            return Outcome::Lost;
        };
        // Every message read in one wake-up, handed on in order; the vector is reused.
        let mut messages: Vec<Message> = Vec::new();
        let every = self.options.health_check_interval;
        let mut health = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let outcome = loop {
            tokio::select! {
                received = subscriber.recv(&mut messages) => match received {
                    Ok(()) => {
                        if !self.forward(&mut messages) {
                            break Outcome::Shutdown;
                        }
                    }
                    Err(err) => {
                        tracing::warn!(%err, "Redis subscriber connection closed");
                        *writer = Some(w);
                        return Outcome::Lost;
                    }
                },
                end = w.handle() => {
                    *sub = Some(subscriber);
                    let end = end.map_err(|err| err.to_string());
                    if let Ok(WriterEnd::Closed) = end {
                        return Outcome::Shutdown;
                    }
                    self.writer_ended(end);
                    return Outcome::Lost;
                }
                request = self.requests.recv() => {
                    let Some(request) = request else { break Outcome::Shutdown };
                    if let Err(err) = self.handle_subscribe(&mut subscriber, request).await {
                        tracing::warn!(%err, "Redis subscriber connection failed during SUBSCRIBE");
                        *writer = Some(w);
                        return Outcome::Lost;
                    }
                }
                _ = health.tick() => {
                    let ping = bounded(self.options.command_timeout, subscriber.ping()).await;
                    if let Err(err) = ping {
                        tracing::warn!(%err, "Redis subscriber connection failed its health check");
                        *writer = Some(w);
                        return Outcome::Lost;
                    }
                }
                () = shutdown_signal(&mut self.shutdown) => break Outcome::Shutdown,
            }
        };
        *sub = Some(subscriber);
        *writer = Some(w);
        outcome
    }

    /// Hands the messages to the broker, in order, emptying `messages`. Returns false once
    /// the broker is gone.
    fn forward(&self, messages: &mut Vec<Message>) -> bool {
        for (channel, payload) in messages.drain(..) {
            let channel = String::from_utf8_lossy(&channel);
            let Some(packet_type) = packet_type_of_channel(&self.prefix, &channel) else {
                tracing::debug!(%channel, "message on an unknown channel ignored");
                continue;
            };
            let message = TransportEvent::Message {
                packet_type,
                payload,
            };
            if self.events.send(message).is_err() {
                return false;
            }
        }
        true
    }

    /// Subscribes the channels not subscribed yet and answers the request. Fails only when the
    /// connection itself failed (the request is answered with `BrokerDisconnectedError`).
    async fn handle_subscribe(
        &mut self,
        subscriber: &mut Subscriber,
        request: SubscribeRequest,
    ) -> Result<(), RedisError> {
        let mut fresh: Vec<String> = Vec::new();
        for channel in request.channels {
            if !self.channels.contains(&channel) && !fresh.contains(&channel) {
                fresh.push(channel);
            }
        }
        if fresh.is_empty() {
            let _ = request.reply.send(Ok(()));
            return Ok(());
        }
        match bounded(self.options.command_timeout, subscriber.subscribe(&fresh)).await {
            Ok(()) => {
                tracing::debug!(count = fresh.len(), "subscribed");
                self.channels.extend(fresh);
                let _ = request.reply.send(Ok(()));
                Ok(())
            }
            Err(err) if is_connection_error(&err) => {
                let _ = request.reply.send(Err(Error::broker_disconnected()));
                Err(err)
            }
            Err(err) => {
                let _ = request.reply.send(Err(Error::broker_options(format!(
                    "Redis refused SUBSCRIBE: {err}"
                ))));
                Ok(())
            }
        }
    }

    /// Reopens whatever is missing, waiting a short jittered delay before each attempt, until
    /// both connections answer. A connection kept from before the loss is checked with a
    /// `PING` first: a Redis restart takes both, and a dead publisher kept past `Reconnected`
    /// would lose the node's re-announcement and start a second reconnect cycle. Returns false
    /// if shutdown came first.
    async fn reconnect(
        &mut self,
        sub: &mut Option<Subscriber>,
        writer: &mut Option<Writer>,
    ) -> bool {
        let mut backoff = Backoff::new(self.options.backoff_base, self.options.backoff_cap);
        let mut stop = self.shutdown.clone();
        let limit = self.options.command_timeout;
        loop {
            if !self.pause(backoff.next_delay()).await {
                return false;
            }
            if let Some(w) = writer.as_mut() {
                // A finished writer says why in its end, handled below.
                let alive = !w.is_finished()
                    && match w.ping(limit).await {
                        Ok(()) => true,
                        Err(err) => {
                            tracing::debug!(%err, "Redis publisher connection lost too");
                            false
                        }
                    };
                if !alive {
                    if let Some(w) = writer.take() {
                        let end = w.stop(limit).await;
                        self.writer_ended(end);
                    }
                }
            }
            if let Some(subscriber) = sub.as_mut() {
                let ping = bounded(limit, subscriber.ping()).await;
                if let Err(err) = ping {
                    tracing::warn!(%err, "Redis subscriber connection failed");
                    *sub = None;
                }
            }
            if sub.is_none() {
                let attempt = self.open_and_resubscribe();
                let result = tokio::select! {
                    result = attempt => result,
                    () = shutdown_signal(&mut stop) => return false,
                };
                match result {
                    Ok(subscriber) => *sub = Some(subscriber),
                    Err(err) => {
                        tracing::debug!(%err, "Redis subscriber reconnect failed");
                        self.next_seed();
                        continue;
                    }
                }
            }
            if writer.is_none() {
                let attempt = open_publisher(self.client(), &self.options, &self.publisher_name);
                let result = tokio::select! {
                    result = attempt => result,
                    () = shutdown_signal(&mut stop) => return false,
                };
                match result {
                    Ok(conn) => *writer = Some(self.spawn_writer(conn)),
                    Err(err) => {
                        tracing::debug!(%err, "Redis publisher reconnect failed");
                        self.next_seed();
                        continue;
                    }
                }
            }
            return true;
        }
    }

    /// A new subscriber connection with every remembered channel subscribed, in one command.
    async fn open_and_resubscribe(&self) -> Result<Subscriber, RedisError> {
        let mut subscriber = open_subscriber(self.client(), &self.options).await?;
        if !self.channels.is_empty() {
            let channels: Vec<&str> = self.channels.iter().map(String::as_str).collect();
            bounded(
                self.options.command_timeout,
                subscriber.subscribe(&channels),
            )
            .await?;
        }
        Ok(subscriber)
    }

    /// Waits `delay`, answering subscribe requests with `BrokerDisconnectedError` meanwhile.
    /// Returns false if shutdown came first.
    async fn pause(&mut self, delay: Duration) -> bool {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => return true,
                request = self.requests.recv() => match request {
                    Some(request) => {
                        let _ = request.reply.send(Err(Error::broker_disconnected()));
                    }
                    None => return false,
                },
                () = shutdown_signal(&mut self.shutdown) => return false,
            }
        }
    }

    /// Flushes the writer (bounded), then drops both connections.
    async fn finish(mut self, sub: Option<Subscriber>, writer: Option<Writer>) {
        self.connected.store(false, Ordering::SeqCst);
        if let Some(mut w) = writer {
            let handle = w.handle();
            if self.events.is_closed() {
                // The broker is gone: nobody waits for what is queued.
                handle.abort();
            } else {
                match tokio::time::timeout(self.options.command_timeout, &mut *handle).await {
                    Ok(end) => self.writer_ended(end.map_err(|err| err.to_string())),
                    Err(_) => {
                        tracing::warn!("queued publishes not flushed in time; dropping them");
                        handle.abort();
                    }
                }
            }
        }
        if !self.carry.is_empty() {
            tracing::warn!(lost = %describe(&self.carry), "publishes kept across an outage lost when disconnecting");
        }
        drop(sub);
        tracing::debug!(prefix = %self.prefix, "Redis transporter closed");
    }
}

/// Packets that may be delivered twice without harm: announcements, heartbeats and pings.
/// A `REQ` would run twice, an `EVENT` be handled twice, a `RES` answer a call twice.
fn safe_to_repeat(packet_type: PacketType) -> bool {
    !matches!(
        packet_type,
        PacketType::Request | PacketType::Event | PacketType::Response
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_control_packets_are_sent_twice() {
        let repeat: Vec<PacketType> = PacketType::ALL
            .into_iter()
            .filter(|t| safe_to_repeat(*t))
            .collect();
        assert_eq!(repeat.len(), 6, "{repeat:?}");
        assert!(!repeat.contains(&PacketType::Request));
        assert!(!repeat.contains(&PacketType::Event));
        assert!(!repeat.contains(&PacketType::Response));
    }
}
