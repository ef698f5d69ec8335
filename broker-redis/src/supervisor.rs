//! The connection supervisor: one task per `connect`, owning the subscriber connection, the
//! publisher's writer task and the list of subscribed channels. It forwards messages to the
//! broker, notices a lost connection, reconnects with backoff and restores every subscription
//! exactly once on the one new subscriber connection.

use crate::backoff::Backoff;
use crate::transporter::Options;
use crate::writer::{self, Queue, WriterEnd};
use broker_core::transporter::{packet_type_of_channel, TransportEvent};
use broker_core::Error;
use bytes::Bytes;
use futures_util::StreamExt;
use redis::aio::{MultiplexedConnection, PubSubSink, PubSubStream};
use redis::{AsyncConnectionConfig, Client, Msg, RedisError, Value};
use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// A request from `Transporter::subscribe`, answered once Redis confirms.
#[derive(Debug)]
pub(crate) struct SubscribeRequest {
    pub(crate) channels: Vec<String>,
    pub(crate) reply: oneshot::Sender<Result<(), Error>>,
}

/// The subscriber connection, split so messages and commands flow independently.
type Subscriber = (PubSubSink, PubSubStream);

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
async fn bounded<T>(
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
    let pubsub = bounded(options.command_timeout, client.get_async_pubsub()).await?;
    Ok(pubsub.split())
}

/// Opens the publisher connection and names it (`CLIENT SETNAME`), best effort.
pub(crate) async fn open_publisher(
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
    pub(crate) client: Client,
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
}

impl Supervisor {
    /// Runs until `disconnect` (or the transporter is dropped). `connected` is already true.
    pub(crate) async fn run(mut self, subscriber: Subscriber, publisher: MultiplexedConnection) {
        let mut sub = Some(subscriber);
        let mut writer = Some(self.spawn_writer(publisher));
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
            if self.events.send(TransportEvent::Reconnected).is_err() {
                break;
            }
        }
        self.finish(sub, writer).await;
    }

    fn spawn_writer(&self, conn: MultiplexedConnection) -> JoinHandle<WriterEnd> {
        tokio::spawn(writer::run(
            conn,
            self.queue.clone(),
            self.shutdown.clone(),
            self.options.health_check_interval,
        ))
    }

    /// Serves while both connections are up. Whatever is lost is set to `None`.
    async fn serve(
        &mut self,
        sub: &mut Option<Subscriber>,
        writer: &mut Option<JoinHandle<WriterEnd>>,
    ) -> Outcome {
        let (Some((mut sink, mut stream)), Some(mut handle)) = (sub.take(), writer.take()) else {
            return Outcome::Lost;
        };
        let every = self.options.health_check_interval;
        let mut health = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let outcome = loop {
            tokio::select! {
                msg = stream.next() => match msg {
                    Some(msg) => {
                        if !self.forward(&msg) {
                            break Outcome::Shutdown;
                        }
                    }
                    None => {
                        tracing::warn!("Redis subscriber connection closed");
                        *writer = Some(handle);
                        return Outcome::Lost;
                    }
                },
                end = &mut handle => {
                    match end {
                        Ok(WriterEnd::Closed) => {
                            *sub = Some((sink, stream));
                            return Outcome::Shutdown;
                        }
                        Ok(WriterEnd::Lost(err)) => {
                            tracing::warn!(%err, "Redis publisher connection failed");
                        }
                        Err(err) => tracing::error!(%err, "Redis publisher task failed"),
                    }
                    *sub = Some((sink, stream));
                    return Outcome::Lost;
                }
                request = self.requests.recv() => {
                    let Some(request) = request else { break Outcome::Shutdown };
                    if let Err(err) = self.handle_subscribe(&mut sink, request).await {
                        tracing::warn!(%err, "Redis subscriber connection failed during SUBSCRIBE");
                        *writer = Some(handle);
                        return Outcome::Lost;
                    }
                }
                _ = health.tick() => {
                    let ping = bounded(self.options.command_timeout, sink.ping::<Value>()).await;
                    if let Err(err) = ping {
                        tracing::warn!(%err, "Redis subscriber connection failed its health check");
                        *writer = Some(handle);
                        return Outcome::Lost;
                    }
                }
                () = shutdown_signal(&mut self.shutdown) => break Outcome::Shutdown,
            }
        };
        *sub = Some((sink, stream));
        *writer = Some(handle);
        outcome
    }

    /// Hands one message to the broker. Returns false once the broker is gone.
    fn forward(&self, msg: &Msg) -> bool {
        let channel = msg.get_channel_name();
        let Some(packet_type) = packet_type_of_channel(&self.prefix, channel) else {
            tracing::debug!(%channel, "message on an unknown channel ignored");
            return true;
        };
        // `Msg` only lends its payload, so this is the one copy on the receive path.
        let payload = Bytes::copy_from_slice(msg.get_payload_bytes());
        self.events
            .send(TransportEvent::Message {
                packet_type,
                payload,
            })
            .is_ok()
    }

    /// Subscribes the channels not subscribed yet and answers the request. Fails only when the
    /// connection itself failed (the request is answered with `BrokerDisconnectedError`).
    async fn handle_subscribe(
        &mut self,
        sink: &mut PubSubSink,
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
        match bounded(self.options.command_timeout, sink.subscribe(&fresh)).await {
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

    /// Reopens whatever is missing, waiting a growing delay before each attempt. Returns false
    /// if shutdown came first.
    async fn reconnect(
        &mut self,
        sub: &mut Option<Subscriber>,
        writer: &mut Option<JoinHandle<WriterEnd>>,
    ) -> bool {
        let mut backoff = Backoff::new(self.options.backoff_base, self.options.backoff_cap);
        let mut stop = self.shutdown.clone();
        loop {
            if !self.pause(backoff.next_delay()).await {
                return false;
            }
            // A publisher that died during the outage (a Redis restart takes both) is reopened
            // now, rather than reported as a second loss right after `Reconnected`.
            if let Some(finished) = writer.take_if(|handle| handle.is_finished()) {
                if let Ok(WriterEnd::Lost(err)) = finished.await {
                    tracing::warn!(%err, "Redis publisher connection failed");
                }
            }
            // Likewise a subscriber kept from before the outage must still answer.
            if let Some((sink, _)) = sub.as_mut() {
                let ping = bounded(self.options.command_timeout, sink.ping::<Value>()).await;
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
                        tracing::warn!(%err, "Redis subscriber reconnect failed");
                        continue;
                    }
                }
            }
            if writer.is_none() {
                let attempt = open_publisher(&self.client, &self.options, &self.publisher_name);
                let result = tokio::select! {
                    result = attempt => result,
                    () = shutdown_signal(&mut stop) => return false,
                };
                match result {
                    Ok(conn) => *writer = Some(self.spawn_writer(conn)),
                    Err(err) => {
                        tracing::warn!(%err, "Redis publisher reconnect failed");
                        continue;
                    }
                }
            }
            return true;
        }
    }

    /// A new subscriber connection with every remembered channel subscribed, in one command.
    async fn open_and_resubscribe(&self) -> Result<Subscriber, RedisError> {
        let (mut sink, stream) = open_subscriber(&self.client, &self.options).await?;
        if !self.channels.is_empty() {
            let channels: Vec<&str> = self.channels.iter().map(String::as_str).collect();
            bounded(self.options.command_timeout, sink.subscribe(&channels)).await?;
        }
        Ok((sink, stream))
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
    async fn finish(self, sub: Option<Subscriber>, writer: Option<JoinHandle<WriterEnd>>) {
        self.connected.store(false, Ordering::SeqCst);
        if let Some(mut handle) = writer {
            if self.events.is_closed() {
                // The broker is gone: nobody waits for what is queued.
                handle.abort();
            } else if tokio::time::timeout(self.options.command_timeout, &mut handle)
                .await
                .is_err()
            {
                tracing::warn!("queued publishes not flushed in time; dropping them");
                handle.abort();
            }
        }
        drop(sub);
        tracing::debug!(prefix = %self.prefix, "Redis transporter closed");
    }
}
