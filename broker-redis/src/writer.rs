//! The publisher: one task per publisher connection, draining the outgoing queue and sending
//! everything it finds as one pipeline of `PUBLISH` commands.

use crate::supervisor::{is_connection_error, shutdown_signal};
use bytes::Bytes;
use redis::aio::MultiplexedConnection;
use redis::RedisError;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch, Mutex};

/// Most messages sent in one pipeline.
const MAX_BATCH_MESSAGES: usize = 1024;
/// A pipeline stops growing once its payloads pass this many bytes (one larger message still
/// goes out alone).
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// One queued `PUBLISH`.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) channel: String,
    pub(crate) payload: Bytes,
}

/// The queue every writer generation drains in turn. The mutex only hands the receiver from a
/// dead writer to the next one (it is never contended); it also survives a writer that panics.
pub(crate) type Queue = Arc<Mutex<mpsc::UnboundedReceiver<Outgoing>>>;

/// Why a writer stopped.
#[derive(Debug)]
pub(crate) enum WriterEnd {
    /// Shutdown or closed queue: everything queued was sent (or failed on a dead connection).
    Closed,
    /// The connection failed; a new one is needed.
    Lost(RedisError),
}

/// Sends queued messages until the connection fails or shutdown is signalled. While idle it
/// pings the server every `health_check`, so a connection closed under it is noticed without
/// waiting for the next publish.
pub(crate) async fn run(
    mut conn: MultiplexedConnection,
    queue: Queue,
    mut shutdown: watch::Receiver<bool>,
    health_check: Duration,
) -> WriterEnd {
    let mut rx = queue.lock().await;
    let mut batch = Vec::with_capacity(64);
    loop {
        tokio::select! {
            biased;
            first = rx.recv() => {
                let Some(first) = first else { return WriterEnd::Closed };
                batch.push(first);
                fill(&mut rx, &mut batch);
                if let Err(err) = send(&mut conn, &mut batch).await {
                    return WriterEnd::Lost(err);
                }
            }
            () = shutdown_signal(&mut shutdown) => {
                // Flush what is queued now; `disconnect` already made new publishes fail.
                while let Ok(item) = rx.try_recv() {
                    batch.push(item);
                    fill(&mut rx, &mut batch);
                    if let Err(err) = send(&mut conn, &mut batch).await {
                        tracing::warn!(%err, "queued publishes lost while disconnecting");
                        break;
                    }
                }
                return WriterEnd::Closed;
            }
            () = tokio::time::sleep(health_check) => {
                if let Err(err) = redis::cmd("PING").exec_async(&mut conn).await {
                    return WriterEnd::Lost(err);
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

/// Sends the batch as one pipeline and empties it. Fails only when the connection failed; the
/// batch is then dropped, as pub/sub is at-most-once and part of it may have gone out. A
/// command Redis refuses (an ACL without that channel) is logged; the rest of the batch is
/// still delivered, since Redis runs each `PUBLISH` of a pipeline on its own.
async fn send(
    conn: &mut MultiplexedConnection,
    batch: &mut Vec<Outgoing>,
) -> Result<(), RedisError> {
    let mut pipe = redis::pipe();
    for item in batch.iter() {
        pipe.cmd("PUBLISH")
            .arg(item.channel.as_str())
            .arg(&item.payload[..])
            .ignore();
    }
    let result = match pipe.exec_async(conn).await {
        Ok(()) => Ok(()),
        Err(err) if is_connection_error(&err) => {
            tracing::warn!(%err, dropped = batch.len(), "publishing to Redis failed");
            Err(err)
        }
        Err(err) => {
            tracing::warn!(%err, "Redis refused a PUBLISH");
            Ok(())
        }
    };
    batch.clear();
    result
}
