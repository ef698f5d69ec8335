//! The publisher: one task per publisher connection, draining the outgoing queue and sending
//! everything it finds as one pipeline of `PUBLISH` commands. On a plain TCP or Unix socket
//! the task owns the connection ([`Conn`]): a pipeline is one write and its answers are read
//! in place, with no task in between. Over TLS it goes through redis-rs's multiplexed
//! connection.

use crate::conn::{self, Conn};
use crate::resp::Frame;
use crate::supervisor::{bounded, is_connection_error, shutdown_signal};
use broker_core::packet::PacketType;
use broker_core::transporter::TransportEvent;
use bytes::Bytes;
use redis::aio::MultiplexedConnection;
use redis::{RedisError, RedisResult, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch, Mutex};
use tokio::task::JoinHandle;

/// Most messages sent in one pipeline.
const MAX_BATCH_MESSAGES: usize = 1024;
/// A pipeline stops growing once its payloads pass this many bytes (one larger message still
/// goes out alone).
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// One queued `PUBLISH`.
#[derive(Debug)]
pub(crate) struct Outgoing {
    /// What the payload is, so a packet that could not be sent can be reported as such.
    pub(crate) packet_type: PacketType,
    pub(crate) channel: String,
    pub(crate) payload: Bytes,
}

/// The queue every writer generation drains in turn. The mutex only hands the receiver from a
/// dead writer to the next one (it is never contended); it also survives a writer that panics.
pub(crate) type Queue = Arc<Mutex<mpsc::UnboundedReceiver<Outgoing>>>;

/// Tells the broker about packets that did not reach anyone ([`TransportEvent::Undelivered`]).
#[derive(Debug, Clone)]
pub(crate) struct Reporter {
    pub(crate) events: mpsc::UnboundedSender<TransportEvent>,
    pub(crate) prefix: String,
    /// Whether a `PUBLISH` answer counts every subscriber. In a Redis Cluster it counts only
    /// the subscribers of the node that took the `PUBLISH` (the others get the message over
    /// the cluster bus, uncounted), so an answer of 0 there proves nothing.
    pub(crate) counts_all: bool,
}

impl Reporter {
    pub(crate) fn undelivered(&self, item: Outgoing) {
        let target = target_of_channel(&self.prefix, &item.channel).map(str::to_owned);
        let _ = self.events.send(TransportEvent::Undelivered {
            packet_type: item.packet_type,
            target,
            payload: item.payload,
        });
    }
}

/// Why a writer stopped.
#[derive(Debug)]
pub(crate) enum WriterEnd {
    /// Shutdown or closed queue: everything queued was sent (or failed on a dead connection).
    Closed,
    /// Asked to stop (its connection failed a check); nothing was taken from the queue unsent.
    Stopped,
    /// The connection failed; a new one is needed. `unsent` is the pipeline that was being
    /// written: part of it may have reached Redis, so it is handed back rather than dropped.
    Lost {
        err: RedisError,
        unsent: Vec<Outgoing>,
    },
}

/// The publisher connection.
pub(crate) enum Publisher {
    /// Ours, on a TCP or Unix socket, owned by the writer task.
    Lean(Box<Conn>),
    /// redis-rs's multiplexed connection (for TLS).
    RedisRs(MultiplexedConnection),
}

/// A command the supervisor has the writer task run on a connection it owns.
enum Control {
    Ping(oneshot::Sender<Result<(), RedisError>>),
    ClusterNodes(oneshot::Sender<Result<String, RedisError>>),
}

/// A running writer: its task, a way to reach its connection (for checking it from outside),
/// and the way to stop it without losing the pipeline it may be writing.
pub(crate) struct Writer {
    handle: JoinHandle<WriterEnd>,
    /// The multiplexed connection, usable from any task; `None` when the task owns a lean one.
    shared: Option<MultiplexedConnection>,
    control: mpsc::UnboundedSender<Control>,
    stop: Option<oneshot::Sender<()>>,
}

impl Writer {
    /// Starts a writer on `conn`. `carry` (packets kept from a failed pipeline) goes out first.
    pub(crate) fn spawn(
        conn: Publisher,
        queue: Queue,
        shutdown: watch::Receiver<bool>,
        health_check: Duration,
        reporter: Reporter,
        carry: Vec<Outgoing>,
    ) -> Writer {
        let (stop, stop_rx) = oneshot::channel();
        let (control, control_rx) = mpsc::unbounded_channel();
        let shared = match &conn {
            Publisher::RedisRs(c) => Some(c.clone()),
            Publisher::Lean(_) => None,
        };
        let handle = tokio::spawn(run(
            conn,
            queue,
            shutdown,
            stop_rx,
            control_rx,
            health_check,
            reporter,
            carry,
        ));
        Writer {
            handle,
            shared,
            control,
            stop: Some(stop),
        }
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// The task, to await its end.
    pub(crate) fn handle(&mut self) -> &mut JoinHandle<WriterEnd> {
        &mut self.handle
    }

    /// Whether the connection still answers a `PING` within `limit`.
    pub(crate) async fn ping(&mut self, limit: Duration) -> Result<(), RedisError> {
        if let Some(conn) = self.shared.as_mut() {
            return bounded(limit, redis::cmd("PING").query_async::<Value>(conn))
                .await
                .map(drop);
        }
        let (reply, answer) = oneshot::channel();
        self.ask(Control::Ping(reply), answer, limit).await
    }

    /// The server's `CLUSTER NODES` answer, within `limit`.
    pub(crate) async fn cluster_nodes(&mut self, limit: Duration) -> Result<String, RedisError> {
        if let Some(conn) = self.shared.as_mut() {
            return bounded(
                limit,
                redis::cmd("CLUSTER")
                    .arg("NODES")
                    .query_async::<String>(conn),
            )
            .await;
        }
        let (reply, answer) = oneshot::channel();
        self.ask(Control::ClusterNodes(reply), answer, limit).await
    }

    /// Has the task run a command between two pipelines and waits for its answer.
    async fn ask<T>(
        &self,
        control: Control,
        answer: oneshot::Receiver<Result<T, RedisError>>,
        limit: Duration,
    ) -> Result<T, RedisError> {
        let gone = || conn::closed();
        self.control.send(control).map_err(|_| gone())?;
        bounded(limit, async {
            answer.await.unwrap_or_else(|_| Err(gone()))
        })
        .await
    }

    /// Stops the writer and returns how it ended (a pipeline in progress finishes or fails
    /// first). Aborted after `limit`, reported as a panic would be.
    pub(crate) async fn stop(mut self, limit: Duration) -> Result<WriterEnd, String> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match tokio::time::timeout(limit, &mut self.handle).await {
            Ok(Ok(end)) => Ok(end),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => {
                self.handle.abort();
                Err(format!(
                    "the publisher did not stop within {} ms",
                    limit.as_millis()
                ))
            }
        }
    }
}

/// Sends queued messages until the connection fails, shutdown is signalled or `stop` fires.
/// While idle it pings the server every `health_check`, so a connection closed under it is
/// noticed without waiting for the next publish.
#[allow(clippy::too_many_arguments)]
async fn run(
    mut conn: Publisher,
    queue: Queue,
    mut shutdown: watch::Receiver<bool>,
    mut stop: oneshot::Receiver<()>,
    mut control: mpsc::UnboundedReceiver<Control>,
    health_check: Duration,
    reporter: Reporter,
    carry: Vec<Outgoing>,
) -> WriterEnd {
    let mut rx = queue.lock().await;
    let mut batch = carry;
    if !batch.is_empty() {
        if let Err(err) = send(&mut conn, &mut batch, &reporter).await {
            return WriterEnd::Lost { err, unsent: batch };
        }
    }
    loop {
        tokio::select! {
            biased;
            _ = &mut stop => return WriterEnd::Stopped,
            first = rx.recv() => {
                let Some(first) = first else { return WriterEnd::Closed };
                batch.push(first);
                // The task that queued this one woke the writer, which Tokio then runs next on
                // that thread, before the other tasks ready there (the rest of the requests
                // read in the same wake-up) have published: one pass of the scheduler first
                // lets them, so their answers share this write.
                tokio::task::yield_now().await;
                fill(&mut rx, &mut batch);
                if let Err(err) = send(&mut conn, &mut batch, &reporter).await {
                    return WriterEnd::Lost { err, unsent: batch };
                }
            }
            () = shutdown_signal(&mut shutdown) => {
                // Flush what is queued now; `disconnect` already made new publishes fail.
                while let Ok(item) = rx.try_recv() {
                    batch.push(item);
                    fill(&mut rx, &mut batch);
                    if let Err(err) = send(&mut conn, &mut batch, &reporter).await {
                        while let Ok(item) = rx.try_recv() {
                            batch.push(item);
                        }
                        tracing::warn!(
                            %err,
                            lost = %describe(&batch),
                            "queued publishes lost while disconnecting"
                        );
                        break;
                    }
                }
                return WriterEnd::Closed;
            }
            Some(command) = control.recv() => {
                if let Err(err) = answer(&mut conn, command).await {
                    return WriterEnd::Lost { err, unsent: Vec::new() };
                }
            }
            () = tokio::time::sleep(health_check) => {
                if let Err(err) = ping(&mut conn).await {
                    return WriterEnd::Lost { err, unsent: Vec::new() };
                }
            }
        }
    }
}

/// Moves whatever else is queued right now into the batch, up to the batch limits.
fn fill(rx: &mut mpsc::UnboundedReceiver<Outgoing>, batch: &mut Vec<Outgoing>) {
    let mut bytes: usize = batch.iter().map(|o| o.payload.len()).sum();
    while batch.len() < MAX_BATCH_MESSAGES && bytes < MAX_BATCH_BYTES {
        match rx.try_recv() {
            Ok(item) => {
                bytes += item.payload.len();
                batch.push(item);
            }
            Err(_) => break,
        }
    }
}

/// Sends the batch as one pipeline. On success the batch is emptied. When the connection
/// failed the batch is left as it was, for the caller to hand back: part of it may have gone
/// out. A command Redis refuses (an ACL without that channel) is logged; the rest of the batch
/// is still delivered, since Redis runs each `PUBLISH` of a pipeline on its own.
///
/// `PUBLISH` answers how many subscribers got the message: a `REQ`, `EVENT` or `RES` aimed at
/// one node that nobody received (that node's subscriber is down, or it is gone) is reported
/// as undelivered, so that a call fails now rather than at its timeout (not in a Redis Cluster,
/// where the count covers only one node's subscribers).
async fn send(
    conn: &mut Publisher,
    batch: &mut Vec<Outgoing>,
    reporter: &Reporter,
) -> Result<(), RedisError> {
    let replies = match conn {
        Publisher::Lean(conn) => {
            for item in batch.iter() {
                conn.queue_publish(&item.channel, &item.payload);
            }
            // Bounded as redis-rs bounds a pipeline: a connection that went silent is lost.
            let limit = conn.timeout;
            bounded(limit, async {
                conn.flush().await?;
                let mut replies: Vec<RedisResult<i64>> = Vec::with_capacity(batch.len());
                for _ in 0..batch.len() {
                    replies.push(match conn.next_frame().await? {
                        Frame::Integer(n) => Ok(n),
                        Frame::Error(text) => Err(conn::refused("Redis refused PUBLISH", text)),
                        other => {
                            return Err(conn::protocol_error(crate::resp::ProtocolError(
                                unexpected(&other),
                            )))
                        }
                    });
                }
                Ok(replies)
            })
            .await?
        }
        Publisher::RedisRs(conn) => {
            let mut pipe = redis::pipe();
            for item in batch.iter() {
                pipe.cmd("PUBLISH")
                    .arg(item.channel.as_str())
                    .arg(&item.payload[..]);
            }
            match pipe.ignore_errors().query_async(conn).await {
                Ok(replies) => replies,
                Err(err) if is_connection_error(&err) => return Err(err),
                Err(err) => {
                    tracing::warn!(%err, "Redis refused a pipeline of PUBLISH");
                    batch.clear();
                    return Ok(());
                }
            }
        }
    };
    let mut refused = None;
    for (item, reply) in batch.drain(..).zip(replies) {
        match reply {
            Ok(0) if reporter.counts_all && must_be_heard(&item, &reporter.prefix) => {
                reporter.undelivered(item)
            }
            Ok(_) => {}
            Err(err) => {
                refused.get_or_insert((err, 0)).1 += 1;
            }
        }
    }
    if let Some((err, count)) = refused {
        tracing::warn!(%err, count, "Redis refused a PUBLISH");
    }
    Ok(())
}

/// What an answer that should have been an integer was instead, for the error.
fn unexpected(frame: &Frame) -> &'static str {
    match frame {
        Frame::Message { .. } => "a pub/sub message on the publisher connection",
        _ => "an answer to PUBLISH that is not an integer",
    }
}

/// `PING` on the writer's connection. An error reply is an answer too: the connection lives.
async fn ping(conn: &mut Publisher) -> Result<(), RedisError> {
    match conn {
        Publisher::Lean(conn) => {
            conn.queue(&[b"PING"]);
            let limit = conn.timeout;
            bounded(limit, async {
                conn.flush().await?;
                conn.next_frame().await.map(drop)
            })
            .await
        }
        Publisher::RedisRs(conn) => redis::cmd("PING").exec_async(conn).await,
    }
}

/// Runs a supervisor's command on the connection and answers it. Fails when the connection
/// failed (the asker hears of it as a lost connection too).
async fn answer(conn: &mut Publisher, command: Control) -> Result<(), RedisError> {
    match command {
        Control::Ping(reply) => match ping(conn).await {
            Ok(()) => {
                let _ = reply.send(Ok(()));
                Ok(())
            }
            Err(err) => {
                let _ = reply.send(Err(conn::closed()));
                Err(err)
            }
        },
        Control::ClusterNodes(reply) => {
            let Publisher::Lean(lean) = conn else {
                let _ = reply.send(Err(conn::refused("not a lean connection", String::new())));
                return Ok(());
            };
            lean.queue(&[b"CLUSTER", b"NODES"]);
            let limit = lean.timeout;
            let frame = bounded(limit, async {
                lean.flush().await?;
                lean.next_frame().await
            })
            .await;
            match frame {
                Ok(Frame::Text(text)) => {
                    let _ = reply.send(Ok(text));
                    Ok(())
                }
                Ok(Frame::Error(text)) => {
                    let _ = reply.send(Err(conn::refused("Redis refused CLUSTER NODES", text)));
                    Ok(())
                }
                Ok(_) => {
                    let _ = reply.send(Err(conn::refused(
                        "unexpected answer to CLUSTER NODES",
                        String::new(),
                    )));
                    Ok(())
                }
                Err(err) => {
                    let _ = reply.send(Err(conn::closed()));
                    Err(err)
                }
            }
        }
    }
}

/// A packet whose loss the broker must hear of: a `REQ`, `EVENT` or `RES` aimed at one node.
fn must_be_heard(item: &Outgoing, prefix: &str) -> bool {
    matches!(
        item.packet_type,
        PacketType::Request | PacketType::Event | PacketType::Response
    ) && target_of_channel(prefix, &item.channel).is_some()
}

/// The node a channel is aimed at (`MOL-dev.REQ.node-1` → `node-1`), `None` for a broadcast.
pub(crate) fn target_of_channel<'a>(prefix: &str, channel: &'a str) -> Option<&'a str> {
    let rest = channel.strip_prefix(prefix)?.strip_prefix('.')?;
    rest.split_once('.').map(|(_, node)| node)
}

/// `3 REQ, 1 INFO`: how many packets of each type, for logs.
pub(crate) fn describe(items: &[Outgoing]) -> String {
    let mut counts: Vec<(PacketType, usize)> = Vec::new();
    for item in items {
        match counts.iter_mut().find(|(t, _)| *t == item.packet_type) {
            Some((_, n)) => *n += 1,
            None => counts.push((item.packet_type, 1)),
        }
    }
    let parts: Vec<String> = counts.iter().map(|(t, n)| format!("{n} {t}")).collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_come_from_the_channel_name() {
        assert_eq!(
            target_of_channel("MOL-dev", "MOL-dev.REQ.node-1"),
            Some("node-1")
        );
        assert_eq!(target_of_channel("MOL-dev", "MOL-dev.REQ.a.b"), Some("a.b"));
        assert_eq!(target_of_channel("MOL-dev", "MOL-dev.EVENT"), None);
        assert_eq!(target_of_channel("MOL", "MOL-dev.INFO.x"), None);
    }

    #[test]
    fn describe_counts_by_type() {
        let item = |packet_type| Outgoing {
            packet_type,
            channel: String::new(),
            payload: Bytes::new(),
        };
        let items = [
            item(PacketType::Request),
            item(PacketType::Info),
            item(PacketType::Request),
        ];
        assert_eq!(describe(&items), "2 REQ, 1 INFO");
        assert_eq!(describe(&[]), "");
    }
}
