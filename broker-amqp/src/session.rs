//! One AMQP connection with its channel: opening it, declaring Moleculer's queues and
//! exchanges on it, consuming them, and acknowledging what the broker handled.

use crate::options::Options;
use crate::topology::QueueSpec;
use broker_core::packet::PacketType;
use broker_core::transporter::{Ack, Acknowledge, Bytes, TransportEvent};
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicQosOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A consumer of one queue, forwarding to the broker; aborting the task cancels the consumer.
struct Consuming {
    task: JoinHandle<()>,
    /// Whether it consumes a balanced queue (replaced by `subscribe_balanced`).
    balanced: bool,
}

/// The channel publishes go out on, and the exchanges already declared on it.
pub(crate) struct Outlet {
    pub(crate) channel: Channel,
    exchanges: Mutex<HashSet<String>>,
}

impl Outlet {
    /// Declares `exchange` (a fanout, as Moleculer's) unless done already on this channel:
    /// publishing to an exchange that does not exist would close the channel.
    pub(crate) async fn ensure_exchange(&self, exchange: &str) -> Result<(), lapin::Error> {
        if lock(&self.exchanges).contains(exchange) {
            return Ok(());
        }
        declare_exchange(&self.channel, exchange).await?;
        lock(&self.exchanges).insert(exchange.to_owned());
        Ok(())
    }
}

/// A live connection and channel.
pub(crate) struct Session {
    connection: Connection,
    pub(crate) outlet: Arc<Outlet>,
    acks: Arc<ChannelAcks>,
    ack_task: JoinHandle<()>,
    consumers: HashMap<String, Consuming>,
    /// `(queue, exchange)` of every broadcast binding, unbound on a graceful disconnect.
    bindings: Vec<(String, String)>,
}

impl Session {
    /// Connects to `url`, opens the channel and sets its prefetch.
    pub(crate) async fn open(url: &str, options: &Options) -> Result<Session, lapin::Error> {
        let connection = Connection::connect(url, ConnectionProperties::default()).await?;
        let channel = connection.create_channel().await?;
        channel
            .basic_qos(options.prefetch, BasicQosOptions::default())
            .await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let ack_task = tokio::spawn(ack_loop(channel.clone(), rx));
        Ok(Session {
            connection,
            outlet: Arc::new(Outlet {
                channel,
                exchanges: Mutex::default(),
            }),
            acks: Arc::new(ChannelAcks { tx }),
            ack_task,
            consumers: HashMap::new(),
            bindings: Vec::new(),
        })
    }

    /// Whether the connection and the channel are both still open.
    pub(crate) fn is_alive(&self) -> bool {
        self.connection.status().connected() && self.outlet.channel.status().connected()
    }

    /// The connection, for its events.
    pub(crate) fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Declares `spec` as Moleculer does (exchange, queue, binding) and consumes the queue
    /// unless it is consumed already (a broadcast and a targeted topic may share a queue).
    pub(crate) async fn declare(
        &mut self,
        spec: &QueueSpec,
        balanced: bool,
        events: &mpsc::UnboundedSender<TransportEvent>,
    ) -> Result<(), lapin::Error> {
        let channel = &self.outlet.channel;
        if let Some(exchange) = &spec.exchange {
            self.outlet.ensure_exchange(exchange).await?;
        }
        channel
            .queue_declare(
                spec.name.as_str().into(),
                QueueDeclareOptions {
                    durable: true,
                    auto_delete: spec.auto_delete,
                    ..QueueDeclareOptions::default()
                },
                queue_arguments(spec),
            )
            .await?;
        if let Some(exchange) = &spec.exchange {
            channel
                .queue_bind(
                    spec.name.as_str().into(),
                    exchange.as_str().into(),
                    ShortString::from(""),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
            let binding = (spec.name.clone(), exchange.clone());
            if !self.bindings.contains(&binding) {
                self.bindings.push(binding);
            }
        }
        if self.consumers.contains_key(&spec.name) {
            return Ok(());
        }
        let consumer = channel
            .basic_consume(
                spec.name.as_str().into(),
                ShortString::from(""),
                BasicConsumeOptions {
                    no_ack: !spec.ack,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        let acks = spec.ack.then(|| self.acks.clone());
        let task = tokio::spawn(forward(consumer, spec.packet_type, acks, events.clone()));
        self.consumers
            .insert(spec.name.clone(), Consuming { task, balanced });
        Ok(())
    }

    /// Stops consuming the balanced queues not in `keep`. What they already delivered is
    /// still handled and acknowledged; the queues stay for the other nodes.
    pub(crate) fn drop_balanced_except(&mut self, keep: &[String]) {
        self.consumers.retain(|queue, c| {
            let stays = !c.balanced || keep.contains(queue);
            if !stays {
                // Dropping the consumer (with its task) cancels it on the server.
                c.task.abort();
            }
            stays
        });
    }

    /// Unbinds the broadcast queues (so a node gone does not keep receiving broadcasts), then
    /// closes the channel (unacknowledged messages go back to their queues) and the connection.
    pub(crate) async fn close(self) {
        let channel = &self.outlet.channel;
        for (queue, exchange) in &self.bindings {
            let unbound = channel
                .queue_unbind(
                    queue.as_str().into(),
                    exchange.as_str().into(),
                    ShortString::from(""),
                    FieldTable::default(),
                )
                .await;
            if let Err(err) = unbound {
                tracing::debug!(%err, %queue, "AMQP unbind on disconnect failed");
                break;
            }
        }
        for (_, c) in self.consumers {
            c.task.abort();
        }
        let _ = channel.close(200, ShortString::from("Bye")).await;
        let _ = self.connection.close(200, ShortString::from("Bye")).await;
        self.ack_task.abort();
    }

    /// Drops a session whose connection is gone: the tasks stop, nothing is sent.
    pub(crate) fn abandon(self) {
        for (_, c) in self.consumers {
            c.task.abort();
        }
        self.ack_task.abort();
    }
}

/// A fanout exchange with amqplib's defaults (`durable: true`).
async fn declare_exchange(channel: &Channel, exchange: &str) -> Result<(), lapin::Error> {
    channel
        .exchange_declare(
            exchange.into(),
            ExchangeKind::Fanout,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
}

/// `x-expires` and `x-message-ttl`, as amqplib turns Moleculer's `expires` and `messageTtl`
/// into queue arguments.
fn queue_arguments(spec: &QueueSpec) -> FieldTable {
    let mut args = FieldTable::default();
    if let Some(ms) = spec.expires_ms {
        args.insert("x-expires".into(), AMQPValue::LongLongInt(ms as i64));
    }
    if let Some(ms) = spec.message_ttl_ms {
        args.insert("x-message-ttl".into(), AMQPValue::LongLongInt(ms as i64));
    }
    args
}

/// Forwards one consumer's deliveries to the broker until it or the broker goes away; an
/// acknowledged queue's deliveries carry their [`Ack`].
async fn forward(
    mut consumer: lapin::Consumer,
    packet_type: PacketType,
    acks: Option<Arc<ChannelAcks>>,
    events: mpsc::UnboundedSender<TransportEvent>,
) {
    while let Some(delivery) = consumer.next().await {
        let delivery = match delivery {
            Ok(delivery) => delivery,
            Err(err) => {
                tracing::debug!(%err, "AMQP consumer ended");
                return;
            }
        };
        let payload = Bytes::from(delivery.data);
        let event = match &acks {
            Some(acks) => TransportEvent::MessageWithAck {
                packet_type,
                payload,
                ack: Ack::new(acks.clone(), delivery.delivery_tag),
            },
            None => TransportEvent::Message {
                packet_type,
                payload,
            },
        };
        if events.send(event).is_err() {
            return;
        }
    }
}

/// The acknowledgements of one channel's deliveries: a delivery tag means nothing on another
/// channel, so each channel has its own sink, and a sink outliving its channel sends nothing.
struct ChannelAcks {
    tx: mpsc::UnboundedSender<u64>,
}

impl Acknowledge for ChannelAcks {
    fn acknowledge(&self, tag: u64) {
        let _ = self.tx.send(tag);
    }
}

/// Sends the queued acknowledgements, in the order the broker finished the messages.
async fn ack_loop(channel: Channel, mut tags: mpsc::UnboundedReceiver<u64>) {
    let mut batch = Vec::new();
    while tags.recv_many(&mut batch, 256).await > 0 {
        for tag in batch.drain(..) {
            if let Err(err) = channel.basic_ack(tag, BasicAckOptions::default()).await {
                // The channel is gone: the server hands the message out again.
                tracing::debug!(%err, tag, "AMQP ack not sent");
            }
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}
