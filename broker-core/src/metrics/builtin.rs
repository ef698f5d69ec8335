//! Moleculer's request, event, transit and transporter metrics, with their names, types, label
//! names, units and rates as Moleculer's metrics middleware registers them, and the handles the
//! broker's hot paths keep.

use super::names::*;
use super::store::{now_ms, LabelValue, Metric, MetricType, Series};
use super::{MetricDef, Metrics};
use crate::broker::BrokerConfig;
use crate::error::Error;
use crate::middleware::{ActionSpec, EventSpec};
use crate::packet::PacketType;
use crate::service::EventHandler;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

/// Metrics the broker updates itself, registered once per broker.
pub(crate) struct Builtin {
    request_total: Arc<Metric>,
    request_active: Arc<Metric>,
    request_error_total: Arc<Metric>,
    request_time: Arc<Metric>,
    request_levels: Arc<Metric>,
    levels: [OnceLock<Arc<Series>>; 16],
    event_emit_total: Arc<Metric>,
    event_broadcast_total: Arc<Metric>,
    event_broadcast_local_total: Arc<Metric>,
    event_received_total: Arc<Metric>,
    event_received_active: Arc<Metric>,
    event_received_error_total: Arc<Metric>,
    event_received_time: Arc<Metric>,
    transit_publish: Vec<Arc<Series>>,
    transit_receive: Vec<Arc<Series>>,
    pub(crate) orphan_responses: Arc<Series>,
    sent_total: Arc<Series>,
    sent_bytes: Arc<Series>,
    received_total: Arc<Series>,
    received_bytes: Arc<Series>,
    /// Request cells of remote actions, by action name.
    remote: RwLock<HashMap<String, Arc<RequestCell>>>,
    /// Turns the `Instant`s hot paths read anyway into timestamps (one clock read less each).
    clock: Clock,
}

/// Wall-clock milliseconds from a monotonic `Instant`, anchored once, and a coarse "now" for
/// counters that have no `Instant` at hand: a clock read costs as much as a few counter
/// updates, so packet and emit counters stamp their change with the last time read by a
/// request, the rate ticker or a reporter instead of reading the clock themselves.
struct Clock {
    base: Instant,
    base_ms: u64,
    coarse_ms: std::sync::atomic::AtomicU64,
}

impl Clock {
    fn new() -> Clock {
        let base_ms = now_ms();
        Clock {
            base: Instant::now(),
            base_ms,
            coarse_ms: std::sync::atomic::AtomicU64::new(base_ms),
        }
    }

    fn ms_at(&self, at: Instant) -> u64 {
        let ms = self.base_ms + millis(at.saturating_duration_since(self.base));
        self.coarse_ms
            .store(ms, std::sync::atomic::Ordering::Relaxed);
        ms
    }

    fn coarse(&self) -> u64 {
        self.coarse_ms.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Whole milliseconds of a duration, in u64 arithmetic (`as_millis` works in u128).
fn millis(d: std::time::Duration) -> u64 {
    d.as_secs() * 1000 + u64::from(d.subsec_millis())
}

fn reg(
    metrics: &Metrics,
    kind: MetricType,
    name: &str,
    labels: &[&str],
    unit: Option<&str>,
    description: &str,
    rate: bool,
) -> Arc<Metric> {
    let mut def = MetricDef::new(name)
        .labels(labels.iter().copied())
        .rate(rate);
    // Moleculer's `*.time` histograms have `quantiles: true`.
    if kind == MetricType::Histogram {
        def = def.default_quantiles();
    }
    if !description.is_empty() {
        def = def.description(description);
    }
    if let Some(u) = unit {
        def = def.unit(u);
    }
    match metrics.register(kind, def) {
        Ok(Some(m)) => m,
        // Built-in names are valid and registered first: neither can happen.
        _ => unreachable!("built-in metric {name} registers"),
    }
}

const REQUEST_LABELS: &[&str] = &["service", "action", "type", "caller"];
const REQUEST_ERROR_LABELS: &[&str] = &[
    "service",
    "action",
    "type",
    "caller",
    "errorName",
    "errorCode",
    "errorType",
];
const EVENT_LABELS: &[&str] = &["service", "group", "event", "caller"];
const EVENT_ERROR_LABELS: &[&str] = &[
    "service",
    "group",
    "event",
    "caller",
    "errorName",
    "errorCode",
    "errorType",
];

/// Registers the built-in metrics in Moleculer's order and returns the hot-path handles.
pub(crate) fn register(metrics: &Metrics, config: &BrokerConfig) -> Arc<Builtin> {
    use MetricType::*;
    let r = |kind: MetricType,
             name: &str,
             labels: &[&str],
             unit: Option<&str>,
             desc: &str,
             rate: bool|
     -> Arc<Metric> { reg(metrics, kind, name, labels, unit, desc, rate) };
    // The broker's own (service-broker.js).
    let info = |name: &str, desc: &str, value: serde_json::Value| {
        r(Info, name, &[], None, desc, false)
            .series(&[])
            .set_info(value);
    };
    info(
        MOLECULER_NODE_TYPE,
        "Moleculer implementation type",
        "rust".into(),
    );
    info(
        MOLECULER_NODE_VERSIONS_MOLECULER,
        "Moleculer version number",
        crate::broker::VERSION.into(),
    );
    info(
        MOLECULER_NODE_VERSIONS_PROTOCOL,
        "Moleculer protocol version",
        config.protocol.as_str().into(),
    );
    info(
        MOLECULER_BROKER_NAMESPACE,
        "Moleculer namespace",
        config.namespace.clone().into(),
    );
    for (name, desc) in [
        (MOLECULER_BROKER_STARTED, "ServiceBroker started"),
        (
            MOLECULER_BROKER_LOCAL_SERVICES_TOTAL,
            "Number of local services",
        ),
        (
            MOLECULER_BROKER_MIDDLEWARES_TOTAL,
            "Number of local middlewares",
        ),
    ] {
        r(Gauge, name, &[], None, desc, false).series(&[]).set(0.0);
    }

    // The metrics middleware's (middlewares/metrics.js).
    let request_total = r(
        Counter,
        MOLECULER_REQUEST_TOTAL,
        REQUEST_LABELS,
        Some("request"),
        "Number of requests",
        true,
    );
    let request_active = r(
        Gauge,
        MOLECULER_REQUEST_ACTIVE,
        REQUEST_LABELS,
        Some("request"),
        "Number of active requests",
        false,
    );
    let request_error_total = r(
        Counter,
        MOLECULER_REQUEST_ERROR_TOTAL,
        REQUEST_ERROR_LABELS,
        Some("request"),
        "Number of request errors",
        true,
    );
    let request_time = r(
        Histogram,
        MOLECULER_REQUEST_TIME,
        REQUEST_LABELS,
        Some("millisecond"),
        "Request times in milliseconds",
        true,
    );
    let request_levels = r(
        Counter,
        MOLECULER_REQUEST_LEVELS,
        &["level"],
        Some("request"),
        "Number of requests by context level",
        false,
    );
    let event_emit_total = r(
        Counter,
        MOLECULER_EVENT_EMIT_TOTAL,
        &["event", "groups"],
        Some("event"),
        "Number of emitted events",
        true,
    );
    let event_broadcast_total = r(
        Counter,
        MOLECULER_EVENT_BROADCAST_TOTAL,
        &["event", "groups"],
        Some("event"),
        "Number of broadcast events",
        true,
    );
    let event_broadcast_local_total = r(
        Counter,
        MOLECULER_EVENT_BROADCASTLOCAL_TOTAL,
        &["event", "groups"],
        Some("event"),
        "Number of local broadcast events",
        true,
    );
    let event_received_total = r(
        Counter,
        MOLECULER_EVENT_RECEIVED_TOTAL,
        EVENT_LABELS,
        Some("event"),
        "Number of received events",
        true,
    );
    let event_received_active = r(
        Gauge,
        MOLECULER_EVENT_RECEIVED_ACTIVE,
        EVENT_LABELS,
        Some("request"),
        "Number of active event executions",
        false,
    );
    let event_received_error_total = r(
        Counter,
        MOLECULER_EVENT_RECEIVED_ERROR_TOTAL,
        EVENT_ERROR_LABELS,
        Some("request"),
        "Number of event execution errors",
        true,
    );
    let event_received_time = r(
        Histogram,
        MOLECULER_EVENT_RECEIVED_TIME,
        EVENT_LABELS,
        Some("millisecond"),
        "Execution time of events in milliseconds",
        true,
    );
    let publish = r(
        Counter,
        MOLECULER_TRANSIT_PUBLISH_TOTAL,
        &["type"],
        Some("packet"),
        "Number of published packets",
        true,
    );
    let receive = r(
        Counter,
        MOLECULER_TRANSIT_RECEIVE_TOTAL,
        &["type"],
        Some("packet"),
        "Number of received packets",
        true,
    );
    r(
        Gauge,
        MOLECULER_TRANSIT_REQUESTS_ACTIVE,
        &[],
        Some("request"),
        "Number of active requests",
        false,
    );
    r(
        Gauge,
        MOLECULER_TRANSIT_STREAMS_SEND_ACTIVE,
        &[],
        Some("stream"),
        "Number of active sent streams",
        false,
    )
    .series(&[])
    .set(0.0);
    let sent_total = r(
        Counter,
        MOLECULER_TRANSPORTER_PACKETS_SENT_TOTAL,
        &[],
        Some("packet"),
        "Number of sent packets",
        true,
    )
    .series(&[]);
    let sent_bytes = r(
        Counter,
        MOLECULER_TRANSPORTER_PACKETS_SENT_BYTES,
        &[],
        Some("byte"),
        "Number of sent bytes",
        true,
    )
    .series(&[]);
    let received_total = r(
        Counter,
        MOLECULER_TRANSPORTER_PACKETS_RECEIVED_TOTAL,
        &[],
        Some("packet"),
        "Number of received packets",
        true,
    )
    .series(&[]);
    let received_bytes = r(
        Counter,
        MOLECULER_TRANSPORTER_PACKETS_RECEIVED_BYTES,
        &[],
        Some("byte"),
        "Number of received bytes",
        true,
    )
    .series(&[]);

    // Transit's own (transit.js).
    if config.transporter.is_some() {
        r(
            Gauge,
            MOLECULER_TRANSIT_READY,
            &[],
            None,
            "Transit is ready",
            false,
        )
        .series(&[])
        .set(0.0);
        r(
            Gauge,
            MOLECULER_TRANSIT_CONNECTED,
            &[],
            None,
            "Transit is connected",
            false,
        )
        .series(&[])
        .set(0.0);
    }
    let orphan_responses = r(
        Counter,
        MOLECULER_TRANSIT_ORPHAN_RESPONSE_TOTAL,
        &[],
        None,
        "Number of orphan responses",
        false,
    )
    .series(&[]);

    // The bulkhead middleware registers its gauges whether or not a bulkhead is on.
    r(
        Gauge,
        MOLECULER_REQUEST_BULKHEAD_INFLIGHT,
        &["action", "service"],
        None,
        "",
        false,
    );
    r(
        Gauge,
        MOLECULER_REQUEST_BULKHEAD_QUEUE_SIZE,
        &["action", "service"],
        None,
        "",
        false,
    );
    r(
        Gauge,
        MOLECULER_EVENT_BULKHEAD_INFLIGHT,
        &["event", "service"],
        None,
        "",
        false,
    );
    r(
        Gauge,
        MOLECULER_EVENT_BULKHEAD_QUEUE_SIZE,
        &["event", "service"],
        None,
        "",
        false,
    );
    // The circuit breaker's, only when breakers are on.
    if config.circuit_breaker.enabled {
        let labels = &["affectedNodeID", "service", "action"];
        r(
            Gauge,
            MOLECULER_CIRCUIT_BREAKER_OPENED_ACTIVE,
            labels,
            None,
            "Number of active opened circuit-breakers",
            false,
        );
        r(
            Counter,
            MOLECULER_CIRCUIT_BREAKER_OPENED_TOTAL,
            labels,
            None,
            "Number of opened circuit-breakers",
            false,
        );
        r(
            Gauge,
            MOLECULER_CIRCUIT_BREAKER_HALF_OPENED_ACTIVE,
            labels,
            None,
            "Number of active half-opened circuit-breakers",
            false,
        );
    }

    let by_type = |m: &Metric| -> Vec<Arc<Series>> {
        PacketType::ALL
            .iter()
            .map(|t| m.series(&[t.as_str().into()]))
            .collect()
    };
    Arc::new(Builtin {
        transit_publish: by_type(&publish),
        transit_receive: by_type(&receive),
        request_total,
        request_active,
        request_error_total,
        request_time,
        request_levels,
        levels: Default::default(),
        event_emit_total,
        event_broadcast_total,
        event_broadcast_local_total,
        event_received_total,
        event_received_active,
        event_received_error_total,
        event_received_time,
        orphan_responses,
        sent_total,
        sent_bytes,
        received_total,
        received_bytes,
        remote: RwLock::new(HashMap::new()),
        clock: Clock::new(),
    })
}

fn type_index(t: PacketType) -> usize {
    PacketType::ALL.iter().position(|x| *x == t).unwrap_or(0)
}

/// The series of one action, local or remote, for callers that do not say who they are.
struct RequestSeries {
    total: Arc<Series>,
    time: Arc<Series>,
    caller: LabelValue,
}

/// An action's request metrics: series by caller, made on first use and kept.
pub(crate) struct RequestCell {
    builtin: Arc<Builtin>,
    service: LabelValue,
    action: LabelValue,
    kind: &'static str,
    no_caller: OnceLock<RequestSeries>,
    by_caller: RwLock<HashMap<String, Arc<RequestSeries>>>,
}

/// A request being measured; [`RequestTimer::finish`] records its end.
pub(crate) struct RequestTimer<'a> {
    cell: &'a RequestCell,
    caller: Option<Arc<RequestSeries>>,
    start: Instant,
    start_ms: u64,
}

impl RequestCell {
    fn make(&self, caller: Option<&str>) -> RequestSeries {
        let caller: LabelValue = caller.into();
        let labels = [
            self.service.clone(),
            self.action.clone(),
            self.kind.into(),
            caller.clone(),
        ];
        RequestSeries {
            total: self.builtin.request_total.series(&labels),
            time: self.builtin.request_time.series(&labels),
            caller,
        }
    }

    /// Counts a request starting.
    pub(crate) fn begin(&self, caller: Option<&str>, level: u32) -> RequestTimer<'_> {
        self.begin_at(caller, level, Instant::now())
    }

    /// Counts a request that started at `start` (a clock read shared with tracing).
    pub(crate) fn begin_at(
        &self,
        caller: Option<&str>,
        level: u32,
        start: Instant,
    ) -> RequestTimer<'_> {
        let now = self.builtin.clock.ms_at(start);
        let by_caller = caller.map(|c| {
            let found = match self.by_caller.read() {
                Ok(m) => m.get(c).cloned(),
                Err(p) => p.into_inner().get(c).cloned(),
            };
            found.unwrap_or_else(|| {
                let made = Arc::new(self.make(Some(c)));
                if let Ok(mut m) = self.by_caller.write() {
                    m.insert(c.to_owned(), made.clone());
                }
                made
            })
        });
        let series = match &by_caller {
            Some(s) => s.as_ref(),
            None => self.no_caller.get_or_init(|| self.make(None)),
        };
        series.total.add_at(1.0, now);
        self.builtin.count_level(level, now);
        RequestTimer {
            cell: self,
            caller: by_caller,
            start,
            start_ms: now,
        }
    }
}

impl RequestTimer<'_> {
    /// Records the end of the request: its time, and its error if it failed.
    pub(crate) fn finish(self, error: Option<&Error>) {
        self.finish_at(error, Instant::now());
    }

    /// Records the end of the request at `end` (a clock read shared with tracing).
    pub(crate) fn finish_at(self, error: Option<&Error>, end: Instant) {
        let elapsed = end.saturating_duration_since(self.start);
        let ms = elapsed.as_secs_f64() * 1000.0;
        let now = self.start_ms + millis(elapsed);
        let cell = self.cell;
        let series = match &self.caller {
            Some(s) => s.as_ref(),
            None => cell.no_caller.get_or_init(|| cell.make(None)),
        };
        series.time.observe_at(ms, now);
        if let Some(err) = error {
            cell.builtin
                .request_error_total
                .series(&[
                    cell.service.clone(),
                    cell.action.clone(),
                    cell.kind.into(),
                    series.caller.clone(),
                    err.name().into(),
                    err.code().into(),
                    error_type(err),
                ])
                .add_at(1.0, now);
        }
    }
}

/// The error's type, left out when it has none (as a JS error without `type`).
fn error_type(err: &Error) -> LabelValue {
    match err.error_type().filter(|t| !t.is_empty()) {
        Some(t) => t.into(),
        None => LabelValue::Undefined,
    }
}

impl Builtin {
    fn count_level(&self, level: u32, now: u64) {
        let make = || self.request_levels.series(&[level.into()]);
        match self.levels.get(level as usize) {
            Some(slot) => slot.get_or_init(make).add_at(1.0, now),
            None => make().add_at(1.0, now),
        }
    }

    fn cell(self: &Arc<Self>, service: &str, action: &str, kind: &'static str) -> Arc<RequestCell> {
        Arc::new(RequestCell {
            builtin: self.clone(),
            service: service.into(),
            action: action.into(),
            kind,
            no_caller: OnceLock::new(),
            by_caller: RwLock::new(HashMap::new()),
        })
    }

    /// The request metrics of a local action (`type="local"`).
    pub(crate) fn local_cell(self: &Arc<Self>, spec: &ActionSpec<'_>) -> Arc<RequestCell> {
        self.cell(spec.service, spec.name, "local")
    }

    /// The request metrics of a remote action (`type="remote"`), made on first use.
    pub(crate) fn remote_cell(self: &Arc<Self>, action: &str) -> Arc<RequestCell> {
        let found = match self.remote.read() {
            Ok(m) => m.get(action).cloned(),
            Err(p) => p.into_inner().get(action).cloned(),
        };
        found.unwrap_or_else(|| {
            // The service's full name is the action name minus its last segment.
            let service = action.rsplit_once('.').map_or(action, |(s, _)| s);
            let made = self.cell(service, action, "remote");
            if let Ok(mut m) = self.remote.write() {
                m.insert(action.to_owned(), made.clone());
            }
            made
        })
    }

    /// Wraps a local event handler: the `moleculer.event.received.*` metrics.
    pub(crate) fn wrap_event(
        self: &Arc<Self>,
        spec: &EventSpec<'_>,
        next: EventHandler,
    ) -> EventHandler {
        let this = self.clone();
        let service: LabelValue = spec.service.into();
        let group: LabelValue = spec.group.into();
        Arc::new(move |ctx| {
            let start = Instant::now();
            let now = this.clock.ms_at(start);
            let start_ms = now;
            let labels = [
                service.clone(),
                group.clone(),
                ctx.event_name().into(),
                ctx.caller().into(),
            ];
            this.event_received_total.series(&labels).add_at(1.0, now);
            let time = this.event_received_time.series(&labels);
            let fut = next(ctx);
            let this = this.clone();
            Box::pin(async move {
                let result = fut.await;
                let elapsed = start.elapsed();
                let now = start_ms + millis(elapsed);
                time.observe_at(elapsed.as_secs_f64() * 1000.0, now);
                if let Err(err) = &result {
                    let [s, g, e, c] = labels;
                    this.event_received_error_total
                        .series(&[
                            s,
                            g,
                            e,
                            c,
                            err.name().into(),
                            err.code().into(),
                            error_type(err),
                        ])
                        .add_at(1.0, now);
                }
                result
            })
        })
    }

    /// Reads the clock (for the coarse time counters are stamped with) and returns it.
    pub(crate) fn tick_clock(&self) -> u64 {
        self.clock.ms_at(Instant::now())
    }

    /// Sets the `active` gauges of requests and events: started (the `total` counter) minus
    /// finished (the `time` histogram's count). Computed when read, so that the hot path
    /// touches two atomics less per call.
    pub(crate) fn refresh_active(&self) {
        for (total, time, active) in [
            (
                &self.request_total,
                &self.request_time,
                &self.request_active,
            ),
            (
                &self.event_received_total,
                &self.event_received_time,
                &self.event_received_active,
            ),
        ] {
            for started in total.all_series() {
                let labels = started.labels();
                // Finished first: a request is counted as started before it can finish, so
                // the difference is never negative.
                let finished = time.series(labels).value();
                active.series(labels).set(started.value() - finished);
            }
        }
    }

    /// Counts an `emit`, `broadcast` or `broadcastLocal`.
    pub(crate) fn event_sent(&self, kind: crate::context::EventType, event: &str) {
        use crate::context::EventType;
        let metric = match kind {
            EventType::Emit => &self.event_emit_total,
            EventType::Broadcast => &self.event_broadcast_total,
            EventType::BroadcastLocal => &self.event_broadcast_local_total,
        };
        metric
            .series(&[event.into()])
            .add_at(1.0, self.clock.coarse());
    }

    /// Counts a packet published, and its bytes.
    pub(crate) fn published(&self, packet_type: PacketType, bytes: usize) {
        let now = self.clock.coarse();
        self.transit_publish[type_index(packet_type)].add_at(1.0, now);
        self.sent_total.add_at(1.0, now);
        self.sent_bytes.add_at(bytes as f64, now);
    }

    /// Counts a packet received, and its bytes.
    pub(crate) fn received(&self, packet_type: PacketType, bytes: usize) {
        let now = self.clock.coarse();
        self.transit_receive[type_index(packet_type)].add_at(1.0, now);
        self.received_total.add_at(1.0, now);
        self.received_bytes.add_at(bytes as f64, now);
    }
}
