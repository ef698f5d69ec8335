//! A broker configured from the environment, as moleculer-runner reads it, so that one
//! deployment file configures JS and Rust nodes alike.
//!
//! moleculer-runner takes each broker option from two kinds of variables: the option's path
//! in capitals with `_` between levels (`TRANSPORTER`, `NODEID`, `REQUESTTIMEOUT`,
//! `CIRCUITBREAKER_ENABLED`), and `MOL_` variables with `__` between levels and `_` between
//! words (`MOL_REQUEST_TIMEOUT`, `MOL_CIRCUIT_BREAKER__ENABLED`), the latter winning. Both are
//! read here for the options a Rust broker has; an empty variable is unset, as in Moleculer.

use crate::url::BrokerBuilderExt;
use broker_core::metrics::MetricsOptions;
use broker_core::middleware::BulkheadOptions;
use broker_core::trace::{ConsoleExporter, EventExporter};
use broker_core::{
    Broker, BrokerBuilder, CircuitBreakerOptions, Error, ProtocolVersion, RetryPolicy,
    StrategySpec, TracingOptions,
};
use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

/// The broker options read from the environment, by their Moleculer path.
const OPTIONS: &[&str] = &[
    "namespace",
    "nodeID",
    "transporter",
    "serializer",
    "cacher",
    "requestTimeout",
    "heartbeatInterval",
    "heartbeatTimeout",
    "maxCallLevel",
    "disableBalancer",
    "registry.strategy",
    "registry.preferLocal",
    "retryPolicy.enabled",
    "retryPolicy.retries",
    "retryPolicy.delay",
    "retryPolicy.maxDelay",
    "retryPolicy.factor",
    "circuitBreaker.enabled",
    "circuitBreaker.threshold",
    "circuitBreaker.windowTime",
    "circuitBreaker.minRequestCount",
    "circuitBreaker.halfOpenTime",
    "bulkhead.enabled",
    "bulkhead.concurrency",
    "bulkhead.maxQueueSize",
    "transit.maxQueueSize",
    "metrics",
    "metrics.enabled",
    "tracing",
    "tracing.enabled",
    "tracing.exporter",
];

/// Our own variable (not Moleculer's): the protocol a node speaks, `5` (Moleculer.js 0.15,
/// the default) or `4` (0.14).
const PROTOCOL_VAR: &str = "MOLECULER_PROTOCOL";

/// A broker builder configured from the process's environment; see [`from_vars`].
pub fn from_env() -> Result<BrokerBuilder, Error> {
    from_vars(std::env::vars())
}

/// A broker builder configured from these variables as moleculer-runner reads them:
/// `NAMESPACE`, `NODEID`, `TRANSPORTER` (a URL or a bare `redis`/`nats`; unset or `none` is a
/// node on its own), `SERIALIZER` (`JSON`, `MsgPack`, `Notepack`, `CBOR`), `CACHER` (`Memory`, `MemoryLRU`, `Redis` or a
/// `redis://` URL), `REQUESTTIMEOUT` (ms), `HEARTBEATINTERVAL` and `HEARTBEATTIMEOUT` (s),
/// `MAXCALLLEVEL`, `DISABLEBALANCER`, `REGISTRY_STRATEGY`, `REGISTRY_PREFERLOCAL`,
/// `RETRYPOLICY_*`, `CIRCUITBREAKER_*`, `BULKHEAD_*`, `TRANSIT_MAXQUEUESIZE`, `METRICS`,
/// `TRACING` (`true`, `false`, `console`, `event`), each also as `MOL_…` (`MOL_NODE_ID`,
/// `MOL_CIRCUIT_BREAKER__ENABLED`); plus `MOLECULER_PROTOCOL` (`5` or `4`). A value that does
/// not fit its option is a `BrokerOptionsError` naming the variable; unknown `MOL_` variables
/// are logged and ignored.
pub fn from_vars<I, K, V>(vars: I) -> Result<BrokerBuilder, Error>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let settings = Settings::read(vars);
    settings.apply(Broker::builder())
}

/// One variable that set an option: its name (for error messages) and value.
#[derive(Debug, Clone)]
struct Found {
    var: String,
    value: String,
}

/// The options found, by their Moleculer path.
#[derive(Debug, Default)]
struct Settings {
    found: HashMap<&'static str, Found>,
    protocol: Option<Found>,
}

impl Settings {
    fn read<I, K, V>(vars: I) -> Settings
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut settings = Settings::default();
        let mut mol_vars = Vec::new();
        for (name, value) in vars {
            let (name, value) = (name.as_ref(), value.as_ref());
            if value.is_empty() {
                continue;
            }
            let found = Found {
                var: name.to_owned(),
                value: value.to_owned(),
            };
            if name == PROTOCOL_VAR {
                settings.protocol = Some(found);
            } else if let Some(rest) = name.strip_prefix("MOL_") {
                mol_vars.push((rest.to_owned(), found));
            } else if let Some(path) = OPTIONS.iter().find(|p| short_name(p) == name) {
                settings.found.insert(path, found);
            }
        }
        // `MOL_` variables are applied after the short ones, so they win (as in Moleculer).
        for (rest, found) in mol_vars {
            let key = mol_key(&rest);
            match OPTIONS.iter().find(|p| p.to_ascii_lowercase() == key) {
                Some(path) => {
                    settings.found.insert(path, found);
                }
                None => tracing::warn!(
                    variable = %found.var,
                    "a MOL_ variable names no broker option a Rust node has; ignored"
                ),
            }
        }
        settings
    }

    fn get(&self, path: &str) -> Option<&Found> {
        self.found.get(path)
    }

    fn text(&self, path: &str) -> Option<&str> {
        self.get(path).map(|f| f.value.as_str())
    }

    fn bool(&self, path: &str) -> Result<Option<bool>, Error> {
        let Some(found) = self.get(path) else {
            return Ok(None);
        };
        match found.value.to_ascii_lowercase().as_str() {
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            _ => Err(bad(found, "true or false")),
        }
    }

    fn number<T: FromStr>(&self, path: &str, what: &str) -> Result<Option<T>, Error> {
        match self.get(path) {
            None => Ok(None),
            Some(found) => found
                .value
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| bad(found, what)),
        }
    }

    /// A duration given as a number of `unit`s (Moleculer's options mix ms and seconds).
    fn duration(&self, path: &str, unit: Duration) -> Result<Option<Duration>, Error> {
        let what = if unit == Duration::from_secs(1) {
            "a number of seconds"
        } else {
            "a number of milliseconds"
        };
        let Some(n) = self.number::<f64>(path, what)? else {
            return Ok(None);
        };
        match unit.as_secs_f64() * n {
            secs if secs.is_finite() && secs >= 0.0 => Ok(Some(Duration::from_secs_f64(secs))),
            _ => Err(bad(self.get(path).expect("just read"), what)),
        }
    }

    fn apply(&self, mut b: BrokerBuilder) -> Result<BrokerBuilder, Error> {
        const MS: Duration = Duration::from_millis(1);
        const S: Duration = Duration::from_secs(1);
        if let Some(ns) = self.text("namespace") {
            b = b.namespace(ns);
        }
        if let Some(id) = self.text("nodeID") {
            b = b.node_id(id);
        }
        b = b.transporter_url(self.text("transporter").unwrap_or("none"))?;
        if let Some(found) = &self.protocol {
            b = b.protocol(
                ProtocolVersion::parse(&found.value).ok_or_else(|| bad(found, "4 or 5"))?,
            );
        }
        if let Some(found) = self.get("serializer") {
            b = serializer(b, found)?;
        }
        b = self.apply_cacher(b)?;
        if let Some(t) = self.duration("requestTimeout", MS)? {
            b = b.request_timeout(t);
        }
        if let Some(t) = self.duration("heartbeatInterval", S)? {
            b = b.heartbeat_interval(t);
        }
        if let Some(t) = self.duration("heartbeatTimeout", S)? {
            b = b.heartbeat_timeout(t);
        }
        if let Some(n) = self.number("maxCallLevel", "a whole number")? {
            b = b.max_call_level(n);
        }
        if let Some(on) = self.bool("disableBalancer")? {
            b = b.disable_balancer(on);
        }
        if let Some(found) = self.get("registry.strategy") {
            let spec = StrategySpec::from_name(&found.value, None)
                .ok_or_else(|| bad(found, "RoundRobin, Random, CpuUsage, Latency or Shard"))?;
            b = b.strategy(spec);
        }
        if let Some(on) = self.bool("registry.preferLocal")? {
            b = b.prefer_local(on);
        }
        if let Some(n) = self.number("transit.maxQueueSize", "a whole number")? {
            b = b.max_pending_requests(n);
        }
        b = self.apply_retry_policy(b)?;
        b = self.apply_circuit_breaker(b)?;
        b = self.apply_bulkhead(b)?;
        if self.bool("metrics")?.or(self.bool("metrics.enabled")?) == Some(true) {
            b = b.metrics(MetricsOptions::default());
        }
        self.apply_tracing(b)
    }

    fn apply_cacher(&self, b: BrokerBuilder) -> Result<BrokerBuilder, Error> {
        let Some(found) = self.get("cacher") else {
            return Ok(b);
        };
        let value = found.value.as_str();
        let lower = value.to_ascii_lowercase();
        Ok(match lower.as_str() {
            "memory" => b.cacher(broker_core::cache::Memory::new()),
            // Moleculer's MemoryLRU keeps 1000 entries unless told otherwise.
            "memorylru" => b.cacher(broker_core::cache::MemoryLru::new(1000)),
            "false" | "none" => b,
            _ if lower == "redis"
                || lower.starts_with("redis://")
                || lower.starts_with("rediss://") =>
            {
                redis_cacher(
                    b,
                    if lower == "redis" {
                        "redis://127.0.0.1:6379"
                    } else {
                        value
                    },
                )?
            }
            _ => return Err(bad(found, "Memory, MemoryLRU, Redis or a redis:// URL")),
        })
    }

    fn apply_retry_policy(&self, b: BrokerBuilder) -> Result<BrokerBuilder, Error> {
        if !self.found.keys().any(|k| k.starts_with("retryPolicy.")) {
            return Ok(b);
        }
        let mut policy = RetryPolicy::default();
        policy.enabled = self.bool("retryPolicy.enabled")?.unwrap_or(policy.enabled);
        policy.retries = self
            .number("retryPolicy.retries", "a whole number")?
            .unwrap_or(policy.retries);
        let ms = Duration::from_millis(1);
        policy.delay = self
            .duration("retryPolicy.delay", ms)?
            .unwrap_or(policy.delay);
        policy.max_delay = self
            .duration("retryPolicy.maxDelay", ms)?
            .unwrap_or(policy.max_delay);
        policy.factor = self
            .number("retryPolicy.factor", "a number")?
            .unwrap_or(policy.factor);
        Ok(b.retry_policy(policy))
    }

    fn apply_circuit_breaker(&self, b: BrokerBuilder) -> Result<BrokerBuilder, Error> {
        if !self.found.keys().any(|k| k.starts_with("circuitBreaker.")) {
            return Ok(b);
        }
        let mut cb = CircuitBreakerOptions::default();
        cb.enabled = self.bool("circuitBreaker.enabled")?.unwrap_or(cb.enabled);
        cb.threshold = self
            .number("circuitBreaker.threshold", "a number")?
            .unwrap_or(cb.threshold);
        // Moleculer's `windowTime` is in seconds, `halfOpenTime` in milliseconds.
        cb.window = self
            .duration("circuitBreaker.windowTime", Duration::from_secs(1))?
            .unwrap_or(cb.window);
        cb.min_request_count = self
            .number("circuitBreaker.minRequestCount", "a whole number")?
            .unwrap_or(cb.min_request_count);
        cb.half_open_time = self
            .duration("circuitBreaker.halfOpenTime", Duration::from_millis(1))?
            .unwrap_or(cb.half_open_time);
        Ok(b.circuit_breaker(cb))
    }

    fn apply_bulkhead(&self, b: BrokerBuilder) -> Result<BrokerBuilder, Error> {
        if self.bool("bulkhead.enabled")? != Some(true) {
            return Ok(b);
        }
        let mut bulkhead = BulkheadOptions::default();
        bulkhead.concurrency = self
            .number("bulkhead.concurrency", "a whole number")?
            .unwrap_or(bulkhead.concurrency);
        bulkhead.max_queue_size = self
            .number("bulkhead.maxQueueSize", "a whole number")?
            .unwrap_or(bulkhead.max_queue_size);
        Ok(b.bulkhead(bulkhead))
    }

    fn apply_tracing(&self, b: BrokerBuilder) -> Result<BrokerBuilder, Error> {
        let found = self.get("tracing").or_else(|| self.get("tracing.enabled"));
        let exporter = self.get("tracing.exporter");
        let choice = match (found, exporter) {
            (None, None) => return Ok(b),
            // `TRACING=console` or `TRACING=event` (the examples' short form) names the
            // exporter; `true` with `TRACING_EXPORTER` picks it the long way.
            (Some(f), _) if !matches!(f.value.to_ascii_lowercase().as_str(), "true" | "1") => f,
            (_, Some(e)) => e,
            (Some(f), None) => f,
        };
        let options = match choice.value.to_ascii_lowercase().as_str() {
            "false" | "off" | "0" => return Ok(b),
            "true" | "1" => TracingOptions::new(),
            "console" => TracingOptions::new().exporter(ConsoleExporter::new()),
            "event" | "events" => TracingOptions::new().exporter(EventExporter::default()),
            _ => return Err(bad(choice, "true, false, console or event")),
        };
        Ok(b.tracing(options))
    }
}

/// Moleculer's serializer names; each but JSON is a cargo feature of this crate.
fn serializer(b: BrokerBuilder, found: &Found) -> Result<BrokerBuilder, Error> {
    let (name, feature) = match found.value.to_ascii_lowercase().as_str() {
        "json" => return Ok(b),
        #[cfg(feature = "msgpack")]
        "msgpack" => return Ok(b.serializer(broker_serializers::MsgPackSerializer)),
        #[cfg(feature = "notepack")]
        "notepack" => return Ok(b.serializer(broker_serializers::NotepackSerializer)),
        #[cfg(feature = "cbor")]
        "cbor" => return Ok(b.serializer(broker_serializers::CborSerializer)),
        "msgpack" => ("MsgPack", "msgpack"),
        "notepack" => ("Notepack", "notepack"),
        "cbor" => ("CBOR", "cbor"),
        _ => return Err(bad(found, "JSON, MsgPack, Notepack or CBOR")),
    };
    Err(Error::broker_options(format!(
        "{}={}: this build has no {name} serializer (cargo feature `{feature}` of the `broker` crate)",
        found.var, found.value
    )))
}

#[cfg(feature = "redis")]
fn redis_cacher(b: BrokerBuilder, url: &str) -> Result<BrokerBuilder, Error> {
    Ok(b.cacher(broker_redis::RedisCacher::new(url)?))
}

#[cfg(not(feature = "redis"))]
fn redis_cacher(_b: BrokerBuilder, _url: &str) -> Result<BrokerBuilder, Error> {
    Err(Error::broker_options(
        "this build has no Redis cacher (cargo feature `redis` of the `broker` crate)",
    ))
}

/// `circuitBreaker.enabled` → `CIRCUITBREAKER_ENABLED`, as moleculer-runner names it.
fn short_name(path: &str) -> String {
    path.replace('.', "_").to_ascii_uppercase()
}

/// `CIRCUIT_BREAKER__ENABLED` (after `MOL_`) → `circuitbreaker.enabled`: levels split at `__`,
/// words joined; compared without case, so `MOL_NODE_ID` finds `nodeID`.
fn mol_key(rest: &str) -> String {
    rest.split("__")
        .map(|level| level.replace('_', "").to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(".")
}

fn bad(found: &Found, expected: &str) -> Error {
    Error::broker_options(format!(
        "{}={}: expected {expected}",
        found.var, found.value
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Settings {
        Settings::read(vars.iter().copied())
    }

    #[test]
    fn short_and_mol_names_reach_the_same_option_and_mol_wins() {
        let s = settings(&[
            ("MOL_REQUEST_TIMEOUT", "2500"),
            ("REQUESTTIMEOUT", "1000"),
            ("CIRCUITBREAKER_ENABLED", "true"),
            ("MOL_CIRCUIT_BREAKER__THRESHOLD", "0.3"),
            ("MOL_NODE_ID", "n-1"),
            ("PATH", "/usr/bin"),
            ("NAMESPACE", ""),
        ]);
        assert_eq!(s.text("requestTimeout"), Some("2500"));
        assert_eq!(s.bool("circuitBreaker.enabled").expect("bool"), Some(true));
        assert_eq!(
            s.number::<f64>("circuitBreaker.threshold", "n")
                .expect("f64"),
            Some(0.3)
        );
        assert_eq!(s.text("nodeID"), Some("n-1"));
        assert_eq!(s.text("namespace"), None, "an empty variable is unset");
    }

    #[test]
    fn a_broker_is_built_from_the_variables() {
        let broker = from_vars([
            ("NAMESPACE", "prod"),
            ("NODEID", "rust-1"),
            ("TRANSPORTER", "none"),
            ("SERIALIZER", "JSON"),
            ("CACHER", "MemoryLRU"),
            ("REGISTRY_STRATEGY", "Random"),
            ("MOLECULER_PROTOCOL", "4"),
            ("MOL_REQUEST_TIMEOUT", "2500"),
            ("HEARTBEATINTERVAL", "2"),
            ("MAXCALLLEVEL", "7"),
            ("MOL_REGISTRY__PREFER_LOCAL", "false"),
            ("CIRCUITBREAKER_ENABLED", "true"),
            ("MOL_CIRCUIT_BREAKER__WINDOW_TIME", "30"),
        ])
        .expect("valid settings")
        .build();
        let c = broker.config();
        assert_eq!(c.node_id, "rust-1");
        assert_eq!(c.namespace, "prod");
        assert_eq!(c.protocol, ProtocolVersion::V4);
        assert_eq!(c.request_timeout, Some(Duration::from_millis(2500)));
        assert_eq!(c.heartbeat_interval, Duration::from_secs(2));
        assert_eq!(c.max_call_level, 7);
        assert!(!c.prefer_local);
        assert_eq!(c.strategy.name(), "Random");
        assert!(c.circuit_breaker.enabled);
        assert_eq!(c.circuit_breaker.window, Duration::from_secs(30));
        assert!(c.cacher.is_some());
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value, expected) in [
            ("REQUESTTIMEOUT", "soon", "REQUESTTIMEOUT=soon"),
            ("MOL_HEARTBEAT_INTERVAL", "-1", "MOL_HEARTBEAT_INTERVAL=-1"),
            ("DISABLEBALANCER", "yes", "DISABLEBALANCER=yes"),
            ("SERIALIZER", "Avro", "SERIALIZER=Avro"),
            ("SERIALIZER", "Thrift", "JSON, MsgPack"),
            ("REGISTRY_STRATEGY", "Fastest", "REGISTRY_STRATEGY=Fastest"),
            ("CACHER", "Memcached", "CACHER=Memcached"),
            ("TRANSPORTER", "kafka://k:9092", "kafka"),
            ("MOLECULER_PROTOCOL", "3", "MOLECULER_PROTOCOL=3"),
            ("TRACING", "jaeger", "TRACING=jaeger"),
        ] {
            let err = from_vars([(var, value)]).expect_err(var);
            assert_eq!(err.kind(), broker_core::ErrorKind::BrokerOptions, "{var}");
            assert!(err.message().contains(expected), "{var}: {err}");
        }
    }

    #[test]
    fn options_in_seconds_and_milliseconds_keep_their_units() {
        let s = settings(&[("HEARTBEATINTERVAL", "2.5"), ("RETRYPOLICY_DELAY", "150")]);
        assert_eq!(
            s.duration("heartbeatInterval", Duration::from_secs(1))
                .expect("secs"),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(
            s.duration("retryPolicy.delay", Duration::from_millis(1))
                .expect("ms"),
            Some(Duration::from_millis(150))
        );
    }
}
