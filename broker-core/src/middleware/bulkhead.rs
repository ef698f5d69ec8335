//! The bulkhead middleware: at most `concurrency` runs of one handler at a time, at most
//! `max_queue_size` more waiting; beyond that the call fails at once with `QueueIsFullError`
//! (429), so one overloaded action cannot take the node down.

use super::{ActionSpec, EventSpec, Middleware};
use crate::context::Context;
use crate::error::Error;
use crate::service::{ActionHandler, EventHandler};
use crate::transporter::BoxFuture;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Bulkhead settings (Moleculer's defaults: 10 at a time, 100 waiting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkheadOptions {
    /// Runs at a time.
    pub concurrency: usize,
    /// Waiting runs; more are refused.
    pub max_queue_size: usize,
}

impl Default for BulkheadOptions {
    fn default() -> Self {
        BulkheadOptions {
            concurrency: 10,
            max_queue_size: 100,
        }
    }
}

/// Applies a bulkhead to every local action and event handler, or only to those whose
/// definition asks for one (`ActionDef::bulkhead`) when no broker-wide default is set.
#[derive(Debug, Default, Clone)]
pub struct Bulkhead {
    /// The broker-wide setting, if every handler gets a bulkhead.
    pub default: Option<BulkheadOptions>,
}

struct Gate {
    permits: Semaphore,
    queued: AtomicUsize,
    options: BulkheadOptions,
    /// Set once the gate reports to its broker's metrics (on its first use, when the broker
    /// is known).
    reporting: std::sync::OnceLock<()>,
}

impl Gate {
    fn new(options: BulkheadOptions) -> Arc<Gate> {
        Arc::new(Gate {
            permits: Semaphore::new(options.concurrency.max(1)),
            queued: AtomicUsize::new(0),
            options,
            reporting: std::sync::OnceLock::new(),
        })
    }

    /// Reports in-flight and queued counts as Moleculer's bulkhead gauges, read with the
    /// other metrics (`names` are the in-flight and queue-size metrics, `labels` the handler's).
    fn report_to(
        self: &Arc<Gate>,
        metrics: &crate::metrics::Metrics,
        names: (&'static str, &'static str),
        labels: [crate::metrics::LabelValue; 2],
    ) {
        if !metrics.is_enabled() {
            return;
        }
        let gate = Arc::downgrade(self);
        metrics.add_collector(move |m| {
            let Some(gate) = gate.upgrade() else {
                return;
            };
            let in_flight = gate.options.concurrency.max(1) - gate.permits.available_permits();
            for (name, value) in [
                (names.0, in_flight),
                (names.1, gate.queued.load(Ordering::Acquire)),
            ] {
                if let Some(metric) = m.get(name) {
                    metric.series(&labels).set(value as f64);
                }
            }
        });
    }

    /// Waits for a slot; fails when the queue is full.
    async fn enter(
        &self,
        name: &str,
        node: &str,
    ) -> Result<tokio::sync::SemaphorePermit<'_>, Error> {
        if let Ok(permit) = self.permits.try_acquire() {
            return Ok(permit);
        }
        let waiting = self.queued.fetch_add(1, Ordering::AcqRel);
        if waiting >= self.options.max_queue_size {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(Error::queue_is_full(
                name,
                node,
                waiting,
                self.options.max_queue_size,
            ));
        }
        let permit = self.permits.acquire().await;
        self.queued.fetch_sub(1, Ordering::AcqRel);
        permit.map_err(|_| Error::service_not_available(name, Some(node)))
    }
}

/// Puts `next` behind a gate: the same wrapper serves actions and event handlers.
fn guarded<T: Send + 'static>(
    options: BulkheadOptions,
    name: &str,
    service: &str,
    metric_names: (&'static str, &'static str),
    next: Arc<dyn Fn(Context) -> BoxFuture<'static, Result<T, Error>> + Send + Sync>,
) -> Arc<dyn Fn(Context) -> BoxFuture<'static, Result<T, Error>> + Send + Sync> {
    let gate = Gate::new(options);
    let name: Arc<str> = Arc::from(name);
    let service: Arc<str> = Arc::from(service);
    Arc::new(move |ctx: Context| {
        let (gate, name, next) = (gate.clone(), name.clone(), next.clone());
        gate.reporting.get_or_init(|| {
            let labels = [(&name).into(), (&service).into()];
            gate.report_to(ctx.broker().metrics(), metric_names, labels);
        });
        Box::pin(async move {
            let node = ctx.broker().node_id().to_owned();
            let _permit = gate.enter(&name, &node).await?;
            next(ctx).await
        })
    })
}

impl Middleware for Bulkhead {
    fn wrap_action(&self, action: &ActionSpec<'_>, next: ActionHandler) -> ActionHandler {
        match action.def.bulkhead.or(self.default) {
            Some(options) => guarded(
                options,
                action.name,
                action.service,
                (
                    crate::metrics::names::MOLECULER_REQUEST_BULKHEAD_INFLIGHT,
                    crate::metrics::names::MOLECULER_REQUEST_BULKHEAD_QUEUE_SIZE,
                ),
                next,
            ),
            None => next,
        }
    }

    fn wrap_event(&self, event: &EventSpec<'_>, next: EventHandler) -> EventHandler {
        match event.def.bulkhead.or(self.default) {
            Some(options) => guarded(
                options,
                event.name,
                event.service,
                (
                    crate::metrics::names::MOLECULER_EVENT_BULKHEAD_INFLIGHT,
                    crate::metrics::names::MOLECULER_EVENT_BULKHEAD_QUEUE_SIZE,
                ),
                next,
            ),
            None => next,
        }
    }
}
