//! A Moleculer-compatible service broker for Rust.
//!
//! Declare services with attribute macros on plain `impl` blocks, start a [`Broker`] on a
//! transporter, and call actions and emit events across nodes, including Moleculer.js nodes.
//! The [`service`] attribute's docs are the reference of the macros: every key, every method
//! attribute (`#[action]`, `#[event]`, hooks, settings) and the method shapes they accept.
//!
//! ```
//! use broker_core::{service, Broker, Context, Error, MemoryTransporter};
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! struct HelloParams {
//!     name: String,
//! }
//!
//! struct Greeter;
//!
//! #[service(name = "greeter")]
//! impl Greeter {
//!     #[action]
//!     async fn hello(&self, params: HelloParams) -> Result<String, Error> {
//!         Ok(format!("Hello, {}!", params.name))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Error> {
//! let server = Broker::builder().node_id("server").namespace("doc").transporter(MemoryTransporter::new()).build();
//! server.add_service(Greeter).await?;
//! server.start().await?;
//!
//! let client = Broker::builder().node_id("client").namespace("doc").transporter(MemoryTransporter::new()).build();
//! client.start().await?;
//! client.wait_for_services(&["greeter"], std::time::Duration::from_secs(5)).await?;
//!
//! let reply: String = client.call("greeter.hello", serde_json::json!({"name": "Alice"})).await?;
//! assert_eq!(reply, "Hello, Alice!");
//!
//! client.stop().await?;
//! server.stop().await?;
//! # Ok(())
//! # }
//! ```

mod broker;
pub mod cache;
mod circuit_breaker;
pub mod client;
mod context;
mod describe;
mod error;
pub mod event_match;
pub mod metrics;
pub mod middleware;
mod node_service;
pub mod packet;
pub mod payload;
pub mod periodic;
mod registry;
pub mod schema;
pub mod serializer;
mod service;
pub mod strategy;
mod sysinfo;
pub mod trace;
mod transit;
pub mod transmit;
pub mod transporter;
mod typed;
mod util;
mod validation;

pub use broker::{
    Broker, BrokerBuilder, BrokerConfig, McallItem, Pong, RetryPolicy, StopSignal, VERSION,
};
pub use broker_macros::{action, client, event, periodic, service};
pub use circuit_breaker::CircuitBreakerOptions;
pub use client::{Caller, Client};
pub use context::{CallOptions, Context, EmitOptions, EventType, Fallback, FallbackFn};
pub use describe::{ActionDoc, EventDoc, ServiceDoc};
pub use error::{Error, ErrorKind, WireError};
pub use packet::{JsonMap, ProtocolVersion};
pub use registry::NodeRecord;
pub use schema::{params_schema_for, response_schema_for};
/// The JSON Schema crate the schemas come from: `use broker_core::{schemars, JsonSchema};`
/// then `#[derive(JsonSchema)]` (the derive names the crate `schemars`, so both are imported).
pub use schemars;
/// Derive it on a params, result or payload type to publish its schema (see [`schema`]).
pub use schemars::JsonSchema;
pub use service::{
    full_service_name, ActionDef, ActionHandler, ActionResult, BeforeHookResult, EventDef,
    EventHandler, EventResult, HookResult, LifecycleHook, Service, ServiceSchema, ServiceVersion,
    Visibility, NATS_SUBJECT,
};
pub use strategy::{
    Candidate, CpuUsage, CpuUsageOptions, Latency, LatencyOptions, Random, Request, RoundRobin,
    Shard, ShardOptions, Strategy, StrategyFactory, StrategySpec,
};
pub use trace::{Sampling, SpanGuard, TraceSpec, TracingOptions};
pub use transporter::{MemoryBus, MemoryTransporter, Transporter};
pub use validation::ParamsChecker;

/// What the macros' generated code reaches for. Not a public API: it may change at any time.
#[doc(hidden)]
pub mod __private {
    pub use crate::broker::Broker;
    pub use crate::client::{ActionOk, Caller, Client, ClientParams, ClientPayload, ClientReply};
    pub use crate::context::{CallOptions, Context};
    pub use crate::error::Error;
    pub use crate::periodic::{
        check_cron, Overlap, RunOn, Schedule, TaskContext, TaskDef, TaskResult,
    };
    pub use crate::schema::{
        description, SchemaProbe, WithResponseSchema, WithSchema, WithoutSchema,
    };
    pub use crate::service::{
        ActionDef, ActionResult, BeforeHookResult, EventDef, EventResult, HookResult, Service,
        ServiceSchema, Visibility,
    };
    pub use crate::transporter::BoxFuture;
    pub use crate::typed::{Mover, MovesReply, ReplyProbe, SerializesReply};
    pub use serde_json::{self, Value};
    pub use std::sync::Arc;
    pub use std::time::Duration;

    /// Publishes an action's params schema in fastest-validator form as its `params` (unless
    /// one was set by hand), so Moleculer tools show it and the validator checks calls.
    pub fn publish_params(action: &mut ActionDef) {
        let key = crate::schema::fastest::PARAMS;
        if action.extra.contains_key(key) {
            return;
        }
        let Some(schema) = &action.params_schema else {
            return;
        };
        if let Some(converted) = crate::schema::fastest::from_json_schema(schema) {
            action.extra.insert(key.to_owned(), converted.params);
            action.params_checked_by_handler = !converted.has_constraints;
        }
    }

    /// [`publish_params`] for an event handler's payload.
    pub fn publish_event_params(event: &mut EventDef) {
        if event.params.is_some() {
            return;
        }
        if let Some(schema) = &event.payload_schema {
            event.params =
                crate::schema::fastest::from_json_schema(schema).map(|converted| converted.params);
        }
    }

    /// The schedule of `#[periodic(every = ...)]` (checked non-zero at compile time).
    pub fn every_schedule(ms: u64) -> Schedule {
        Schedule::every(Duration::from_millis(ms)).unwrap_or_else(|err| {
            tracing::error!("{err}");
            Schedule::never()
        })
    }

    /// The schedule of `#[periodic(cron = ...)]` (checked at compile time by the same parser).
    pub fn cron_schedule(expression: &str) -> Schedule {
        Schedule::cron(expression).unwrap_or_else(|err| {
            tracing::error!("{err}");
            Schedule::never()
        })
    }

    /// Deserializes the context's params into a handler's parameter type.
    pub fn params<T: serde::de::DeserializeOwned>(ctx: &Context) -> Result<T, Error> {
        ctx.params_as()
    }

    /// The caller's params value itself, when the call came from this process with a `T`
    /// (`None`: deserialize them with [`params`]). `handler_sees_ctx`: the handler also gets
    /// the context, so the params' JSON is kept for it.
    pub fn take_params<T: 'static>(ctx: &Context, handler_sees_ctx: bool) -> Option<T> {
        ctx.take_typed_params(handler_sees_ctx)
    }

    /// A handle to put the handler's typed result in, when its caller takes one.
    pub fn reply_to(ctx: &Context) -> Option<Context> {
        ctx.accepts_typed_reply().then(|| ctx.clone())
    }
}
