//! One MQTT connection: a fresh rumqttc client and event loop, the task that drives the loop,
//! and the bookkeeping that ties each SUBSCRIBE to its SUBACK.
//!
//! Each connection gets a client of its own, so nothing queued for a dead connection can slip
//! onto the next one and be matched with another subscription's acknowledgement: the
//! transporter's supervisor opens a new session after every loss and subscribes again itself.

use crate::topics::packet_type_of;
use broker_core::transporter::{Bytes, TransportEvent};
use broker_core::Error;
use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, EventLoop, MqttOptions, Outgoing,
    Packet, Publish, Request, SubscribeFilter, SubscribeReasonCode,
};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Requests the rumqttc channel holds before a sender waits.
const REQUEST_CAPACITY: usize = 1024;

/// Where arriving messages go: the broker's event stream, with the packet type read from the
/// topic as Moleculer.js reads it.
#[derive(Debug, Clone)]
pub(crate) struct Inbound {
    pub(crate) prefix: String,
    pub(crate) separator: String,
    pub(crate) events: mpsc::UnboundedSender<TransportEvent>,
}

impl Inbound {
    fn deliver(&self, topic: &str, payload: Bytes) {
        match packet_type_of(&self.prefix, &self.separator, topic) {
            Some(packet_type) => {
                let _ = self.events.send(TransportEvent::Message {
                    packet_type,
                    payload,
                });
            }
            None => {
                tracing::debug!(%topic, "MQTT message on a topic that is not Moleculer's; dropped")
            }
        }
    }
}

/// What the server answered to one SUBSCRIBE: `Err` with the refused filters' count.
type AckResult = Result<(), usize>;

/// The SUBSCRIBEs of this connection waiting for their SUBACK.
#[derive(Default)]
struct Acks {
    /// Handed to the client, not yet seen going out, in the order they were handed over.
    queued: VecDeque<oneshot::Sender<AckResult>>,
    /// Gone out, by packet id.
    sent: HashMap<u16, oneshot::Sender<AckResult>>,
    /// The connection is gone: nothing more will be acknowledged.
    dead: bool,
}

/// How a connection ended: why, and the publishes it held that may not have reached the server
/// (queued in the client or, at QoS 1 and 2, not yet acknowledged).
#[derive(Debug)]
pub(crate) struct Lost {
    pub(crate) reason: String,
    pub(crate) unsent: Vec<Publish>,
}

/// Why a connection could not be opened.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// The server said no to these credentials (or this client): retrying will not help.
    Refused(String),
    /// TLS failed (a certificate not trusted, a bad file): retrying will not help either.
    Tls(String),
    /// The server is not reachable now.
    Unreachable(String),
}

impl OpenError {
    pub(crate) fn into_error(self, describe: &str) -> Error {
        match self {
            OpenError::Refused(why) => Error::broker_options(format!(
                "the MQTT server at {describe} refused the connection: {why}"
            )),
            OpenError::Tls(why) => Error::broker_options(format!(
                "TLS with the MQTT server at {describe} failed: {why}"
            )),
            OpenError::Unreachable(why) => Error::new(
                "BrokerDisconnectedError",
                format!("cannot connect to the MQTT server at {describe}: {why}"),
            )
            .with_code(502)
            .with_type("BAD_GATEWAY")
            .with_retryable(true),
        }
    }
}

/// A live connection.
pub(crate) struct Session {
    pub(crate) client: AsyncClient,
    acks: Arc<Mutex<Acks>>,
    /// Held while a SUBSCRIBE is queued with its waiter, so that the waiters are queued in the
    /// order the client sends the packets.
    order: tokio::sync::Mutex<()>,
}

impl Session {
    /// Connects and waits (bounded) for the server's CONNACK; then a task drives the
    /// connection until it fails, and the returned handle yields how it ended.
    pub(crate) async fn open(
        options: MqttOptions,
        inbound: Inbound,
        limit: Duration,
    ) -> Result<(Arc<Session>, JoinHandle<Lost>), OpenError> {
        let (client, mut eventloop) = AsyncClient::new(options, REQUEST_CAPACITY);
        match tokio::time::timeout(limit, eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {}
            Ok(Ok(other)) => {
                return Err(OpenError::Unreachable(format!(
                    "expected CONNACK, got {other:?}"
                )))
            }
            Ok(Err(err)) => return Err(classify(err)),
            Err(_) => {
                return Err(OpenError::Unreachable(format!(
                    "no CONNACK within {limit:?}"
                )))
            }
        }
        let acks = Arc::new(Mutex::new(Acks::default()));
        let pump = tokio::spawn(pump(eventloop, acks.clone(), inbound));
        let session = Session {
            client,
            acks,
            order: tokio::sync::Mutex::new(()),
        };
        Ok((Arc::new(session), pump))
    }

    /// Subscribes `filters` in one SUBSCRIBE and waits (bounded) for the SUBACK.
    pub(crate) async fn subscribe(
        &self,
        filters: &[String],
        qos: rumqttc::QoS,
        limit: Duration,
    ) -> Result<(), Error> {
        if filters.is_empty() {
            return Ok(());
        }
        let (tx, rx) = oneshot::channel();
        {
            let _order = self.order.lock().await;
            {
                let mut acks = lock(&self.acks);
                if acks.dead {
                    return Err(Error::broker_disconnected());
                }
                acks.queued.push_back(tx);
            }
            let packet = filters.iter().map(|f| SubscribeFilter::new(f.clone(), qos));
            if self.client.subscribe_many(packet).await.is_err() {
                // The connection is gone (its loop dropped the channel): nothing went out.
                lock(&self.acks).queued.pop_back();
                return Err(Error::broker_disconnected());
            }
        }
        match tokio::time::timeout(limit, rx).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(refused))) => Err(Error::broker_options(format!(
                "the MQTT server refused {refused} of {} subscriptions (not authorized?)",
                filters.len()
            ))),
            // The connection died, or the server did not answer in time.
            Ok(Err(_)) | Err(_) => Err(Error::broker_disconnected()),
        }
    }
}

/// Drives one connection: forwards messages, matches SUBACKs to their waiters, and ends with
/// the connection, returning what it could not deliver.
async fn pump(mut eventloop: EventLoop, acks: Arc<Mutex<Acks>>, inbound: Inbound) -> Lost {
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                inbound.deliver(&publish.topic, publish.payload);
            }
            Ok(Event::Outgoing(Outgoing::Subscribe(pkid))) => {
                let mut acks = lock(&acks);
                if let Some(waiter) = acks.queued.pop_front() {
                    acks.sent.insert(pkid, waiter);
                }
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                let waiter = lock(&acks).sent.remove(&ack.pkid);
                if let Some(waiter) = waiter {
                    let refused = ack
                        .return_codes
                        .iter()
                        .filter(|c| matches!(c, SubscribeReasonCode::Failure))
                        .count();
                    let _ = waiter.send(if refused == 0 { Ok(()) } else { Err(refused) });
                }
            }
            Ok(_) => {}
            Err(err) => {
                {
                    let mut acks = lock(&acks);
                    acks.dead = true;
                    acks.queued.clear();
                    acks.sent.clear();
                }
                // A failed poll has moved what the client held (queued requests, unacknowledged
                // publishes) into `pending`.
                let unsent = eventloop
                    .pending
                    .drain(..)
                    .filter_map(|request| match request {
                        Request::Publish(publish) => Some(publish),
                        _ => None,
                    })
                    .collect();
                return Lost {
                    reason: err.to_string(),
                    unsent,
                };
            }
        }
    }
}

/// Sorts a failed connect into what a retry may fix and what it cannot.
fn classify(err: ConnectionError) -> OpenError {
    match err {
        ConnectionError::ConnectionRefused(code) => {
            let why = match code {
                ConnectReturnCode::BadUserNamePassword => "bad user name or password",
                ConnectReturnCode::NotAuthorized => "not authorized",
                ConnectReturnCode::BadClientId => "client identifier rejected",
                ConnectReturnCode::RefusedProtocolVersion => "protocol version 3.1.1 refused",
                ConnectReturnCode::ServiceUnavailable => {
                    return OpenError::Unreachable("server unavailable".to_owned())
                }
                ConnectReturnCode::Success => "refused",
            };
            OpenError::Refused(why.to_owned())
        }
        ConnectionError::Tls(err) => OpenError::Tls(err.to_string()),
        other => {
            // rustls reports a certificate it rejects as an I/O error of the handshake.
            let text = other.to_string();
            if text.contains("invalid peer certificate") {
                OpenError::Tls(text)
            } else {
                OpenError::Unreachable(text)
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}
