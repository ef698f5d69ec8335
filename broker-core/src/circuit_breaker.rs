//! Circuit breakers, one per endpoint (node and action), kept by the caller.
//!
//! Closed: calls flow and outcomes are counted over a window. When, with at least
//! `min_request_count` calls in the window, the failure rate reaches `threshold`, the breaker
//! opens: balancing skips the endpoint. After `half_open_time` it half-opens and lets one call
//! through: success closes it, failure opens it again. Each change is broadcast as
//! `$circuit-breaker.opened`, `.half-opened` or `.closed`, as Moleculer does.

use crate::error::Error;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// Circuit breaker settings (Moleculer's defaults; off unless enabled).
#[derive(Clone)]
pub struct CircuitBreakerOptions {
    /// Whether breakers are kept at all.
    pub enabled: bool,
    /// Failure rate (0 to 1) that opens the breaker.
    pub threshold: f64,
    /// Window over which calls are counted.
    pub window: Duration,
    /// Calls needed in the window before the rate counts.
    pub min_request_count: u32,
    /// How long an open breaker waits before letting one call through.
    pub half_open_time: Duration,
    /// Which errors count as failures (default: code ≥ 500).
    pub check: Arc<dyn Fn(&Error) -> bool + Send + Sync>,
}

impl fmt::Debug for CircuitBreakerOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerOptions")
            .field("enabled", &self.enabled)
            .field("threshold", &self.threshold)
            .field("window", &self.window)
            .field("min_request_count", &self.min_request_count)
            .field("half_open_time", &self.half_open_time)
            .finish_non_exhaustive()
    }
}

impl Default for CircuitBreakerOptions {
    fn default() -> Self {
        CircuitBreakerOptions {
            enabled: false,
            threshold: 0.5,
            window: Duration::from_secs(60),
            min_request_count: 20,
            half_open_time: Duration::from_secs(10),
            check: Arc::new(|err: &Error| err.code() >= 500),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Closed,
    Open(Instant),
    /// One probe call is allowed; `probing` once it is under way.
    HalfOpen {
        probing: bool,
    },
}

#[derive(Debug)]
struct Endpoint {
    phase: Phase,
    window_start: Instant,
    count: u32,
    failures: u32,
    /// How many times it opened (the `moleculer.circuit-breaker.opened.total` metric).
    opened_total: u32,
}

/// One endpoint's breaker as the metrics report it.
pub(crate) struct BreakerState {
    pub(crate) node: String,
    pub(crate) action: String,
    pub(crate) open: bool,
    pub(crate) half_open: bool,
    pub(crate) opened_total: u32,
}

/// A state change to announce.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BreakerEvent {
    pub(crate) name: &'static str,
    pub(crate) payload: Value,
}

pub(crate) struct Breakers {
    options: CircuitBreakerOptions,
    endpoints: Mutex<HashMap<(String, String), Endpoint>>,
    events: Mutex<Vec<BreakerEvent>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Breakers {
    pub(crate) fn new(options: CircuitBreakerOptions) -> Breakers {
        Breakers {
            options,
            endpoints: Mutex::new(HashMap::new()),
            events: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.options.enabled
    }

    /// Whether balancing may pick this endpoint now. An open breaker whose wait is over
    /// half-opens here and admits exactly one probe.
    pub(crate) fn admits(&self, node: &str, action: &str) -> bool {
        if !self.options.enabled {
            return true;
        }
        let mut endpoints = lock(&self.endpoints);
        let Some(ep) = endpoints.get_mut(&(node.to_owned(), action.to_owned())) else {
            return true;
        };
        match ep.phase {
            Phase::Closed => true,
            Phase::HalfOpen { probing } => !probing,
            Phase::Open(since) if since.elapsed() >= self.options.half_open_time => {
                ep.phase = Phase::HalfOpen { probing: false };
                lock(&self.events).push(BreakerEvent {
                    name: "$circuit-breaker.half-opened",
                    payload: json!({"nodeID": node, "action": action}),
                });
                true
            }
            Phase::Open(_) => false,
        }
    }

    /// Marks the start of a call through this endpoint (a half-open probe is now under way).
    pub(crate) fn started(&self, node: &str, action: &str) {
        if !self.options.enabled {
            return;
        }
        if let Some(ep) = lock(&self.endpoints).get_mut(&(node.to_owned(), action.to_owned())) {
            if let Phase::HalfOpen { .. } = ep.phase {
                ep.phase = Phase::HalfOpen { probing: true };
            }
        }
    }

    /// Counts an outcome.
    pub(crate) fn record(&self, node: &str, action: &str, error: Option<&Error>) {
        if !self.options.enabled {
            return;
        }
        let failed = error.is_some_and(|e| (self.options.check)(e));
        let now = Instant::now();
        let mut endpoints = lock(&self.endpoints);
        let ep = endpoints
            .entry((node.to_owned(), action.to_owned()))
            .or_insert(Endpoint {
                phase: Phase::Closed,
                window_start: now,
                count: 0,
                failures: 0,
                opened_total: 0,
            });
        if now.duration_since(ep.window_start) > self.options.window {
            ep.window_start = now;
            ep.count = 0;
            ep.failures = 0;
        }
        ep.count += 1;
        if failed {
            ep.failures += 1;
        }
        let event = match ep.phase {
            Phase::HalfOpen { .. } if failed => {
                ep.phase = Phase::Open(now);
                ep.opened_total += 1;
                Some(self.opened(node, action, ep))
            }
            Phase::HalfOpen { .. } => {
                ep.phase = Phase::Closed;
                ep.count = 0;
                ep.failures = 0;
                Some(BreakerEvent {
                    name: "$circuit-breaker.closed",
                    payload: json!({"nodeID": node, "action": action}),
                })
            }
            Phase::Closed
                if failed
                    && ep.count >= self.options.min_request_count
                    && f64::from(ep.failures) / f64::from(ep.count) >= self.options.threshold =>
            {
                ep.phase = Phase::Open(now);
                ep.opened_total += 1;
                Some(self.opened(node, action, ep))
            }
            _ => None,
        };
        drop(endpoints);
        if let Some(event) = event {
            lock(&self.events).push(event);
        }
    }

    fn opened(&self, node: &str, action: &str, ep: &Endpoint) -> BreakerEvent {
        tracing::warn!(
            node,
            action,
            failures = ep.failures,
            count = ep.count,
            "circuit breaker opened"
        );
        BreakerEvent {
            name: "$circuit-breaker.opened",
            payload: json!({
                "nodeID": node,
                "action": action,
                "failures": ep.failures,
                "count": ep.count,
                "rate": f64::from(ep.failures) / f64::from(ep.count.max(1)),
            }),
        }
    }

    /// The breakers that ever left the closed state, for the metrics.
    pub(crate) fn states(&self) -> Vec<BreakerState> {
        lock(&self.endpoints)
            .iter()
            .filter(|(_, ep)| ep.opened_total > 0 || ep.phase != Phase::Closed)
            .map(|((node, action), ep)| BreakerState {
                node: node.clone(),
                action: action.clone(),
                open: matches!(ep.phase, Phase::Open(_)),
                half_open: matches!(ep.phase, Phase::HalfOpen { .. }),
                opened_total: ep.opened_total,
            })
            .collect()
    }

    /// State changes not announced yet.
    pub(crate) fn take_events(&self) -> Vec<BreakerEvent> {
        if !self.options.enabled {
            return Vec::new();
        }
        std::mem::take(&mut *lock(&self.events))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breakers() -> Breakers {
        Breakers::new(CircuitBreakerOptions {
            enabled: true,
            threshold: 0.5,
            window: Duration::from_secs(60),
            min_request_count: 4,
            half_open_time: Duration::from_millis(50),
            ..CircuitBreakerOptions::default()
        })
    }

    #[tokio::test]
    async fn opens_half_opens_and_closes() {
        let b = breakers();
        let boom = Error::server("boom", 500, "BOOM");
        b.record("n", "a", None);
        b.record("n", "a", Some(&boom));
        b.record("n", "a", None);
        assert!(b.admits("n", "a"), "3 calls: below the minimum count");
        b.record("n", "a", Some(&boom));
        assert!(!b.admits("n", "a"), "2 of 4 failed: open");
        assert_eq!(b.take_events()[0].name, "$circuit-breaker.opened");
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(b.admits("n", "a"), "half-open admits a probe");
        b.started("n", "a");
        assert!(!b.admits("n", "a"), "only one probe");
        b.record("n", "a", None);
        assert!(b.admits("n", "a"), "a good probe closes it");
        let names: Vec<_> = b.take_events().into_iter().map(|e| e.name).collect();
        assert_eq!(
            names,
            ["$circuit-breaker.half-opened", "$circuit-breaker.closed"]
        );
    }

    #[tokio::test]
    async fn a_failed_probe_opens_again_and_client_errors_do_not_count() {
        let b = breakers();
        let bad_input = Error::client("bad", 400, "BAD");
        for _ in 0..10 {
            b.record("n", "a", Some(&bad_input));
        }
        assert!(
            b.admits("n", "a"),
            "4xx errors are the caller's, not the endpoint's"
        );
        let boom = Error::server("boom", 500, "BOOM");
        for _ in 0..20 {
            b.record("n", "b", Some(&boom));
        }
        assert!(!b.admits("n", "b"));
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(b.admits("n", "b"));
        b.started("n", "b");
        b.record("n", "b", Some(&boom));
        assert!(!b.admits("n", "b"), "failed probe: open again");
    }
}
