//! Reporters the broker runs itself: Moleculer's `Event` reporter, and the ticker that keeps
//! rates current.

use super::{ListOptions, Metrics, Reporter};
use crate::broker::Broker;
use crate::context::EmitOptions;
use std::sync::Weak;
use std::time::Duration;

/// Moleculer's `Event` reporter options: every `interval`, the metrics (filtered) are emitted
/// (or broadcast) as `event_name`, with the list `$node.metrics` would return as payload.
#[derive(Debug, Clone)]
pub struct EventReporterOptions {
    /// The event name (`$metrics.snapshot`).
    pub event_name: String,
    /// Broadcast instead of emit.
    pub broadcast: bool,
    /// Only these groups receive it.
    pub groups: Option<Vec<String>>,
    /// Only metrics that changed since the previous send.
    pub only_changes: bool,
    /// How often (Moleculer: 5 s).
    pub interval: Duration,
    /// Only metrics matching one of these patterns.
    pub includes: Option<Vec<String>>,
    /// Not metrics matching any of these patterns.
    pub excludes: Option<Vec<String>>,
}

impl Default for EventReporterOptions {
    fn default() -> Self {
        EventReporterOptions {
            event_name: "$metrics.snapshot".to_owned(),
            broadcast: false,
            groups: None,
            only_changes: false,
            interval: Duration::from_secs(5),
            includes: None,
            excludes: None,
        }
    }
}

/// Spawns the rate ticker and the configured reporters; their handles join the broker's tasks.
pub(crate) fn spawn(broker: &Broker) -> Vec<tokio::task::JoinHandle<()>> {
    let metrics = broker.metrics().clone();
    let Some(options) = metrics.options() else {
        return Vec::new();
    };
    let mut tasks = Vec::new();
    let tick = options.collect_interval.max(Duration::from_millis(100));
    let ticker = metrics.clone();
    tasks.push(tokio::spawn(async move {
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            if let Some(b) = ticker.builtin() {
                b.tick_clock();
            }
            ticker.tick_rates();
        }
    }));
    for reporter in &options.reporters {
        match reporter {
            Reporter::Event(opts) => {
                let weak = std::sync::Arc::downgrade(&broker.inner);
                tasks.push(tokio::spawn(event_loop(
                    weak,
                    metrics.clone(),
                    opts.clone(),
                )));
            }
        }
    }
    tasks
}

async fn event_loop(
    weak: Weak<crate::broker::BrokerInner>,
    metrics: Metrics,
    opts: EventReporterOptions,
) {
    let list_options = ListOptions {
        types: None,
        includes: opts.includes.clone(),
        excludes: opts.excludes.clone(),
    };
    let mut last_sent = 0u64;
    let mut interval = tokio::time::interval(opts.interval.max(Duration::from_millis(10)));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await;
    loop {
        interval.tick().await;
        let Some(inner) = weak.upgrade() else {
            return;
        };
        let broker = Broker { inner };
        // Read through the coarse clock, so that a change stamped after this send is never
        // stamped earlier than it.
        let now = metrics
            .builtin()
            .map_or_else(super::store::now_ms, |b| b.tick_clock());
        let list: Vec<serde_json::Value> = metrics
            .metrics()
            .iter()
            .filter(|m| list_options.accepts(m))
            .filter(|m| {
                !opts.only_changes || m.all_series().iter().any(|s| s.timestamp() >= last_sent)
            })
            .map(|m| m.to_json())
            .collect();
        last_sent = now;
        if list.is_empty() {
            continue;
        }
        let emit = EmitOptions {
            groups: opts.groups.clone(),
            ..EmitOptions::default()
        };
        let sent = if opts.broadcast {
            broker.broadcast_with(&opts.event_name, list, emit).await
        } else {
            broker.emit_with(&opts.event_name, list, emit).await
        };
        if let Err(err) = sent {
            tracing::debug!(%err, event = %opts.event_name, "metrics snapshot not sent");
        }
    }
}
