//! The load generator: a Rust broker in the soak's own process that calls the workers at a
//! steady rate and emits events, recording the outcome of every call and emit, and the
//! `$node.connected` / `$node.disconnected` events it sees. The same generator drives both
//! implementations.

use broker_core::{Broker, CallOptions, Context, EventDef, ServiceSchema};
use broker_redis::RedisTransporter;
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// The timeout of every call; a call not settled by this + 1 s counts as hung.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the slow handler sleeps (under the timeout: it answers, late).
pub(crate) const SLOW_MS: u64 = 1500;

/// How a call ended.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Outcome {
    /// Answered by this node.
    Ok(String),
    /// Failed with this error name, naming the node it was sent to when the error says.
    Err(String, Option<String>),
    /// Not settled by its timeout + 1 s.
    Hung,
}

/// One call of the load.
#[derive(Debug, Clone)]
pub(crate) struct CallRecord {
    pub(crate) id: u64,
    pub(crate) action: &'static str,
    /// Milliseconds since the run's start.
    pub(crate) sent_ms: f64,
    pub(crate) done_ms: f64,
    pub(crate) outcome: Outcome,
}

/// One emit of the load: its ID and the emit's error, if it failed.
#[derive(Debug, Clone)]
pub(crate) struct EmitRecord {
    pub(crate) id: u64,
    /// Milliseconds since the run's start.
    pub(crate) sent_ms: f64,
    pub(crate) error: Option<String>,
}

/// A `$node.*` event seen by the load generator.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct NodeEvent {
    pub(crate) t_ms: f64,
    pub(crate) event: String,
    pub(crate) node: String,
    /// `unexpected` of a disconnection (no heartbeat) or `reconnected` of a connection.
    pub(crate) flag: Option<bool>,
}

/// The generator and everything it recorded.
#[derive(Debug)]
pub(crate) struct Load {
    pub(crate) broker: Broker,
    t0: Instant,
    next_id: AtomicU64,
    in_flight: AtomicUsize,
    pub(crate) calls: Mutex<Vec<CallRecord>>,
    pub(crate) emits: Mutex<Vec<EmitRecord>>,
    pub(crate) node_events: Arc<Mutex<Vec<NodeEvent>>>,
}

/// Probe calls (the start phase) take IDs from here up, apart from the load's.
const PROBE_IDS: u64 = 1 << 40;

impl Load {
    /// The generator's broker, not started yet, with the workers' heartbeat settings.
    pub(crate) fn new(
        url: &str,
        namespace: &str,
        hb_interval: Duration,
        hb_timeout: Duration,
        t0: Instant,
    ) -> Result<Load, String> {
        let broker = Broker::builder()
            .node_id(format!("soak-load-{}", std::process::id()))
            .namespace(namespace)
            .transporter(RedisTransporter::new(url).map_err(|e| e.to_string())?)
            .heartbeat_interval(hb_interval)
            .heartbeat_timeout(hb_timeout)
            .build();
        Ok(Load {
            broker,
            t0,
            next_id: AtomicU64::new(1),
            in_flight: AtomicUsize::new(0),
            calls: Mutex::new(Vec::new()),
            emits: Mutex::new(Vec::new()),
            node_events: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// Adds the watcher of `$node.*` events and starts the broker (waiting for Redis).
    pub(crate) async fn start(&self) -> Result<(), String> {
        let log = self.node_events.clone();
        let t0 = self.t0;
        let watcher = EventDef::new("$node.*", move |ctx: Context| {
            let log = log.clone();
            async move {
                let node = ctx.params()["node"]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let event = ctx.event_name().unwrap_or_default().to_owned();
                let params = ctx.params();
                let flag = params["unexpected"]
                    .as_bool()
                    .or(params["reconnected"].as_bool());
                if let Ok(mut log) = log.lock() {
                    log.push(NodeEvent {
                        t_ms: t0.elapsed().as_secs_f64() * 1e3,
                        event,
                        node,
                        flag,
                    });
                }
                Ok(())
            }
        });
        self.broker
            .add_service(ServiceSchema::new("soak-watch").event(watcher))
            .await
            .map_err(|e| e.to_string())?;
        self.broker.start().await.map_err(|e| e.to_string())
    }

    pub(crate) fn now_ms(&self) -> f64 {
        self.t0.elapsed().as_secs_f64() * 1e3
    }

    /// Calls `soak.work` on `node` until it answers (every 50 ms, at most `limit`); the time
    /// of the first answer in ms since the run's start.
    pub(crate) async fn first_answer(&self, node: &str, limit: Duration) -> Option<f64> {
        let deadline = Instant::now() + limit;
        let mut probe = PROBE_IDS;
        while Instant::now() < deadline {
            probe += 1;
            let options = CallOptions::new()
                .timeout(Duration::from_millis(500))
                .node_id(node);
            let call = self
                .broker
                .call_with::<Value>("soak.work", json!({ "id": probe }), options);
            if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(1), call).await {
                return Some(self.now_ms());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// Calls at `rate` per second (2 % slow, 2 % panicking, the rest `work`) and emits
    /// `soak.ev` at `event_rate` per second until `until`, then waits (bounded) for the calls
    /// in flight to settle.
    pub(crate) async fn run(self: &Arc<Self>, rate: f64, event_rate: f64, until: Instant) {
        const TICK: Duration = Duration::from_millis(10);
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Owed by the clock, not by ticks: a stalled generator catches up, the rate stays.
        let start = Instant::now();
        let (mut calls, mut emits) = (0u64, 0u64);
        while Instant::now() < until {
            ticker.tick().await;
            let elapsed = start.elapsed().as_secs_f64();
            while (calls as f64) < rate * elapsed {
                calls += 1;
                self.spawn_call();
            }
            while (emits as f64) < event_rate * elapsed {
                emits += 1;
                self.spawn_emit();
            }
        }
        let drain = Instant::now() + CALL_TIMEOUT + Duration::from_secs(3);
        while self.in_flight.load(Ordering::Relaxed) > 0 && Instant::now() < drain {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn spawn_call(self: &Arc<Self>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (action, params) = match id % 50 {
            0 => ("soak.slow", json!({"id": id, "ms": SLOW_MS})),
            1 => ("soak.panic", json!({ "id": id })),
            _ => ("soak.work", json!({ "id": id })),
        };
        let load = self.clone();
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            let sent_ms = load.now_ms();
            let options = CallOptions::new().timeout(CALL_TIMEOUT);
            let call = load.broker.call_with::<Value>(action, params, options);
            let bound = CALL_TIMEOUT + Duration::from_secs(1);
            let outcome = match tokio::time::timeout(bound, call).await {
                Ok(Ok(answer)) => Outcome::Ok(answer["node"].as_str().unwrap_or("?").to_owned()),
                Ok(Err(err)) => {
                    let node = err.data().and_then(|d| d["nodeID"].as_str());
                    Outcome::Err(err.name().to_owned(), node.map(str::to_owned))
                }
                Err(_) => Outcome::Hung,
            };
            let record = CallRecord {
                id,
                action,
                sent_ms,
                done_ms: load.now_ms(),
                outcome,
            };
            if let Ok(mut calls) = load.calls.lock() {
                calls.push(record);
            }
            load.in_flight.fetch_sub(1, Ordering::Relaxed);
        });
    }

    fn spawn_emit(self: &Arc<Self>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let load = self.clone();
        tokio::spawn(async move {
            let sent_ms = load.now_ms();
            let emitted = tokio::time::timeout(
                CALL_TIMEOUT,
                load.broker.emit("soak.ev", json!({ "id": id })),
            )
            .await;
            let error = match emitted {
                Ok(Ok(())) => None,
                Ok(Err(err)) => Some(err.name().to_owned()),
                Err(_) => Some("EmitHung".to_owned()),
            };
            if let Ok(mut emits) = load.emits.lock() {
                emits.push(EmitRecord { id, sent_ms, error });
            }
        });
    }
}
