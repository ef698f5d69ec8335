//! The server role: a broker serving the `bench` service until Ctrl-C / SIGTERM.

use crate::payload::{EchoParams, TypedPayload};
use crate::stats::env_str;
use broker_core::payload::Payload;
use broker_core::trace::{EventExporter, Sampling, TracingOptions};
use broker_core::{service, Broker, BrokerBuilder, Context, Error, ProtocolVersion};
use broker_mqtt::MqttTransporter;
use broker_nats::NatsTransporter;
use broker_redis::RedisTransporter;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};

/// The bench service: `bench.echo` returns its params, `bench.count` returns `{"count": N}`
/// of `bench.tick` events received.
#[derive(Default)]
pub(crate) struct Bench {
    ticks: AtomicU64,
}

#[service(name = "bench")]
impl Bench {
    /// Returns the params as the JSON text they came in: an echo has no use for a tree of them
    /// (Moleculer.js has one only because `JSON.parse` of the packet builds it).
    #[action]
    async fn echo(&self, ctx: Context) -> Result<Payload, Error> {
        Ok(ctx.params_raw().to_owned())
    }

    /// The echo as typed Rust code writes it. The local scenarios call it with
    /// `Broker::call_owned`: the params value moves to it and back, no JSON in between.
    #[action]
    async fn echo_typed(&self, params: TypedPayload) -> Result<TypedPayload, Error> {
        Ok(params)
    }

    #[action]
    async fn count(&self) -> Result<Value, Error> {
        Ok(json!({"count": self.ticks.load(Ordering::Relaxed)}))
    }

    #[event(name = "bench.tick")]
    async fn tick(&self) {
        self.ticks.fetch_add(1, Ordering::Relaxed);
    }
}

/// The bench service with the echo a user writes: typed params in, the same typed value out
/// (`ECHO=typed broker-bench server`). Its `count` and `tick` are those of [`Bench`].
#[derive(Default)]
pub(crate) struct TypedBench {
    ticks: AtomicU64,
}

#[service(name = "bench")]
impl TypedBench {
    /// Deserializes the params into a struct and serializes it back as the result.
    #[action]
    async fn echo(&self, params: EchoParams) -> Result<EchoParams, Error> {
        Ok(params)
    }

    #[action]
    async fn count(&self) -> Result<Value, Error> {
        Ok(json!({"count": self.ticks.load(Ordering::Relaxed)}))
    }

    #[event(name = "bench.tick")]
    async fn tick(&self) {
        self.ticks.fetch_add(1, Ordering::Relaxed);
    }
}

/// The protocol from `MOLECULER_PROTOCOL` (`5` default, `4` for Moleculer.js 0.14).
pub(crate) fn protocol() -> ProtocolVersion {
    match env_str("MOLECULER_PROTOCOL", "5").as_str() {
        "4" => ProtocolVersion::V4,
        _ => ProtocolVersion::V5,
    }
}

/// Metrics on when `METRICS=1` (to measure their overhead), off otherwise.
pub(crate) fn metrics_options() -> broker_core::metrics::MetricsOptions {
    if env_str("METRICS", "0") == "1" {
        broker_core::metrics::MetricsOptions::default()
    } else {
        broker_core::metrics::MetricsOptions::disabled()
    }
}

/// A broker on the transporter of `TRANSPORTER` in namespace `NAMESPACE`.
pub(crate) fn remote_broker(node_id: String) -> Result<Broker, String> {
    let url = env_str("TRANSPORTER", "redis://127.0.0.1:6379");
    let builder = with_tracing(Broker::builder());
    let builder = if url.starts_with("nats://") {
        let mut nats = NatsTransporter::new(&url).map_err(|e| e.to_string())?;
        // `MICRO_GROUP`: the ADR-32 endpoints under this subject prefix, so that a benchmark's
        // plain requests reach this server only.
        let group = env_str("MICRO_GROUP", "");
        if !group.is_empty() {
            nats = nats.service_api(broker_nats::micro::MicroOptions::default().group(group));
        }
        builder.transporter(nats)
    } else if url.starts_with("mqtt://") || url.starts_with("mqtts://") {
        builder.transporter(MqttTransporter::new(&url).map_err(|e| e.to_string())?)
    } else {
        builder.transporter(RedisTransporter::new(&url).map_err(|e| e.to_string())?)
    };
    Ok(builder
        .node_id(node_id)
        .namespace(env_str("NAMESPACE", "bench"))
        .protocol(protocol())
        .metrics(metrics_options())
        .build())
}

/// `TRACING=1`: tracing on, every trace sampled, spans to Moleculer's `Event` exporter (the
/// tracing overhead benchmark; see BENCHMARKS.md).
pub(crate) fn with_tracing(builder: BrokerBuilder) -> BrokerBuilder {
    if env_str("TRACING", "0") != "1" {
        return builder;
    }
    builder.tracing(
        TracingOptions::new()
            .sampling(Sampling::rate(1.0))
            .exporter(EventExporter::default()),
    )
}

pub(crate) async fn run() -> Result<(), String> {
    let node_id = env_str("NODE_ID", "rust-bench-server");
    let broker = remote_broker(node_id)?;
    let typed = env_str("ECHO", "raw") == "typed";
    let added = if typed {
        broker.add_service(TypedBench::default()).await
    } else {
        broker.add_service(Bench::default()).await
    };
    added.map_err(|e| e.to_string())?;
    broker.start().await.map_err(|e| e.to_string())?;
    println!(
        "{}",
        json!({"ready": true, "nodeID": broker.node_id(), "pid": std::process::id(), "protocol": protocol().as_str(), "echo": if typed { "typed" } else { "raw" }})
    );
    Broker::wait_for_signal().await.map_err(|e| e.to_string())?;
    // Bounded: a stuck shutdown must not keep the harness waiting.
    match tokio::time::timeout(std::time::Duration::from_secs(5), broker.stop()).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err("stop timed out after 5 s".to_owned()),
    }
}
