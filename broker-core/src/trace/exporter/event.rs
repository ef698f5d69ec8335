//! Moleculer's `Event` exporter: finished spans, batched, emitted as `$tracing.spans` events
//! (an array of spans in Moleculer's shape), so any service can collect them.

use super::SpanExporter;
use crate::broker::{Broker, BrokerInner};
use crate::context::{EmitOptions, EventType};
use crate::trace::{FinishedSpan, SpanData};
use crate::transporter::BoxFuture;
use serde_json::Value;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use tokio::task::JoinHandle;

/// Options of the [`EventExporter`], Moleculer's defaults.
#[derive(Debug, Clone)]
pub struct EventExporterOptions {
    /// The event name (default `$tracing.spans`).
    pub event_name: String,
    /// Send spans when they start (default false).
    pub send_start_span: bool,
    /// Send spans when they finish (default true).
    pub send_finish_span: bool,
    /// Broadcast instead of emit (default false).
    pub broadcast: bool,
    /// Only these groups receive it.
    pub groups: Option<Vec<String>>,
    /// Batching interval (default 5 s); zero sends each span at once.
    pub interval: Duration,
    /// Spans held between two sends at most (default 10 000); more are dropped, and the
    /// count of dropped spans is logged at each send. Moleculer's exporter has no bound; one
    /// keeps a node under a flood of sampled calls from queueing without end.
    pub max_queue: usize,
}

impl Default for EventExporterOptions {
    fn default() -> Self {
        EventExporterOptions {
            event_name: "$tracing.spans".to_owned(),
            send_start_span: false,
            send_finish_span: true,
            broadcast: false,
            groups: None,
            interval: Duration::from_secs(5),
            max_queue: 10_000,
        }
    }
}

/// Emits spans as `$tracing.spans` events, batched every `interval`.
#[derive(Debug)]
pub struct EventExporter {
    options: EventExporterOptions,
    queue: Mutex<Vec<FinishedSpan>>,
    dropped: AtomicU64,
    /// The queue's length, readable without its lock.
    queued: AtomicUsize,
    broker: Mutex<Option<Weak<BrokerInner>>>,
    timer: Mutex<Option<JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Default for EventExporter {
    fn default() -> Self {
        EventExporter::new(EventExporterOptions::default())
    }
}

impl EventExporter {
    /// An exporter with these options.
    pub fn new(options: EventExporterOptions) -> EventExporter {
        EventExporter {
            options,
            queue: Mutex::new(Vec::new()),
            dropped: AtomicU64::new(0),
            queued: AtomicUsize::new(0),
            broker: Mutex::new(None),
            timer: Mutex::new(None),
        }
    }

    fn broker(&self) -> Option<Broker> {
        let weak = lock(&self.broker).clone()?;
        weak.upgrade().map(|inner| Broker { inner })
    }

    fn push(&self, span: FinishedSpan) {
        {
            let mut queue = lock(&self.queue);
            if queue.len() >= self.options.max_queue {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            queue.push(span);
            self.queued.store(queue.len(), Ordering::Relaxed);
        }
        if self.options.interval.is_zero() {
            if let Some(send) = self.take_batch() {
                tokio::spawn(send);
            }
        }
    }

    /// The queued spans as an emit, if there are any.
    fn take_batch(&self) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
        let spans = {
            let mut queue = lock(&self.queue);
            self.queued.store(0, Ordering::Relaxed);
            std::mem::take(&mut *queue)
        };
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            tracing::warn!(
                dropped,
                max_queue = self.options.max_queue,
                "tracing spans dropped: more than max_queue finished between two sends"
            );
        }
        if spans.is_empty() {
            return None;
        }
        let broker = self.broker()?;
        let name = self.options.event_name.clone();
        let broadcast = self.options.broadcast;
        let mut options = EmitOptions::new();
        options.groups = self.options.groups.clone();
        Some(async move {
            // Building and serializing a full batch takes a while: not on the runtime's
            // threads, where it would hold up the calls being served.
            let event = name.clone();
            let encoded = tokio::task::spawn_blocking(move || encode(&spans, &event)).await;
            let payload = match encoded {
                Ok(Some(payload)) => payload,
                Ok(None) => return,
                Err(err) => {
                    tracing::warn!(%err, "tracing spans not serialized");
                    return;
                }
            };
            let kind = if broadcast {
                EventType::Broadcast
            } else {
                EventType::Emit
            };
            // Unchecked: the last batch goes out while the broker stops.
            let sent = broker
                .emit_unchecked(&name, payload, options, kind, None)
                .await;
            if let Err(err) = sent {
                tracing::debug!(%err, "tracing spans not sent");
            }
        })
    }
}

/// The spans of a batch as the event's payload; `None` when none is left to send.
fn encode(spans: &[FinishedSpan], event_name: &str) -> Option<crate::payload::Payload> {
    // The collector's own handler spans would feed the next batch forever.
    let data: Vec<&SpanData> = spans
        .iter()
        .map(FinishedSpan::data)
        .filter(|s| s.tags.get("eventName").and_then(Value::as_str) != Some(event_name))
        .collect();
    if data.is_empty() {
        return None;
    }
    tracing::debug!(spans = data.len(), "sending tracing spans");
    match crate::payload::to_payload(&data) {
        Ok(payload) => Some(payload),
        Err(err) => {
            tracing::warn!(%err, "tracing spans not serialized");
            None
        }
    }
}

impl SpanExporter for EventExporter {
    fn options_json(&self) -> serde_json::Value {
        let o = &self.options;
        serde_json::json!({"type": "Event", "options": {
            "eventName": o.event_name,
            "sendStartSpan": o.send_start_span,
            "sendFinishSpan": o.send_finish_span,
            "broadcast": o.broadcast,
            "groups": o.groups,
            "interval": o.interval.as_secs_f64(),
            "maxQueue": o.max_queue,
        }})
    }

    fn start(&self, broker: &Broker) {
        *lock(&self.broker) = Some(Arc::downgrade(&broker.inner));
        if self.options.interval.is_zero() {
            return;
        }
        let weak_self: Weak<BrokerInner> = Arc::downgrade(&broker.inner);
        let interval = self.options.interval;
        // The timer holds the broker weakly and finds this exporter (by address) among the
        // tracer's, so neither keeps the other alive.
        let me = self as *const EventExporter as usize;
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let Some(inner) = weak_self.upgrade() else {
                    return;
                };
                let Some(tracer) = inner.tracer.clone() else {
                    return;
                };
                drop(inner);
                for exporter in &tracer.options.exporters {
                    if Arc::as_ptr(exporter) as *const () as usize == me {
                        exporter.flush().await;
                    }
                }
            }
        });
        if let Some(old) = lock(&self.timer).replace(task) {
            old.abort();
        }
    }

    fn wants_started(&self) -> bool {
        self.options.send_start_span
    }

    fn span_started(&self, span: &SpanData) {
        if self.options.send_start_span {
            self.push(FinishedSpan::from_data(span.clone()));
        }
    }

    fn span_finished(&self, span: &FinishedSpan) {
        if self.options.send_finish_span {
            self.push(span.clone());
        }
    }

    fn would_drop(&self) -> bool {
        !self.options.send_finish_span
            || self.queued.load(Ordering::Relaxed) >= self.options.max_queue
    }

    fn span_dropped(&self) {
        if self.options.send_finish_span {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn flush(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Some(send) = self.take_batch() {
                send.await;
            }
        })
    }

    fn stop(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Some(timer) = lock(&self.timer).take() {
                timer.abort();
            }
            if let Some(send) = self.take_batch() {
                send.await;
            }
        })
    }
}
