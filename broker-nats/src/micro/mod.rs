//! The NATS service API (ADR-32, "micro"): a broker's local services as NATS micro services
//! that any NATS client can discover (`$SRV.PING`, `$SRV.INFO`, `$SRV.STATS`) and call with a
//! plain request, and a [`MicroClient`] to discover and call such services written with any
//! library.
//!
//! It needs only an `async_nats::Client` and a [`Broker`], whatever the broker's transporter
//! (Redis, memory or NATS): [`expose`] starts it and follows the services added later. A
//! broker on [`NatsTransporter`](crate::NatsTransporter) does this by default once started
//! (see [`NatsTransporter::service_api`](crate::NatsTransporter::service_api)).
//!
//! # How Moleculer services map onto ADR-32
//!
//! | Moleculer | ADR-32 |
//! | --- | --- |
//! | service `name` (`math`, `users.admin`) | service `name`, each character outside `[A-Za-z0-9_-]` turned into `_` (`users_admin`, `$node` → `_node`) |
//! | `version` | `version` as SemVer: none → `0.0.0`, `2` or `"v2"` → `2.0.0`, `"2.1"` → `2.1.0`, a SemVer string as is, another string → a pre-release, `"staging"` → `0.0.0-staging` |
//! | `metadata.description` (a string) | `description` (`""` when absent) |
//! | other `metadata` | `metadata`, values that are not strings as their JSON text, plus `moleculer.service` (the full name) and `moleculer.node` (the node ID) |
//! | each start of the service on a node | an instance: a new `id` (32 hex characters) |
//! | action (published or public; protected ones stay local) | endpoint, named after its raw name (`add`) with the same character mapping |
//! | action full name `v2.math.add` | default subject `v2.math.add` (the service's full name is the group of its endpoints); `#[action(subject = "math.add")]` or [`ActionDef::subject`](broker_core::ActionDef::subject) overrides it |
//! | action description and schemas | endpoint `metadata`: `action` (the full name), `description`, `params_schema`, `response_schema` (JSON text) |
//! | — | queue group `q` ([`MicroOptions::queue_group`]); [`MicroOptions::group`] puts every subject under a prefix |
//!
//! A request's body is the action's params (JSON; an empty body is `{}`), the reply's body its
//! result. The call goes through the broker to this node's action, so middlewares, hooks,
//! validation and timeouts apply. An error answers with the `Nats-Service-Error` header (its
//! message) and `Nats-Service-Error-Code` (its code, 500 when it has none), and the Moleculer
//! error as JSON body (`name`, `message`, `code`, `type`, `data`, `nodeID`, `retryable`; no
//! stack). A body that is not JSON gets code 400.
//!
//! The requests of one endpoint run concurrently inside that endpoint's task (no task per
//! request: that hop halved the throughput at 64 requests in flight); an action doing long
//! synchronous work should move it off the async threads (`spawn_blocking`). Stopping (the
//! handle, or the broker) unsubscribes the endpoints and still answers the requests they hold
//! (for up to 5 s).
//!
//! ```no_run
//! use broker_core::{ActionDef, Broker, ServiceSchema};
//! use broker_nats::micro::{self, MicroOptions};
//!
//! # async fn run() -> Result<(), broker_core::Error> {
//! let broker = Broker::builder().node_id("calc").build();
//! broker
//!     .add_service(ServiceSchema::new("math").version(2).action(ActionDef::new("add", |ctx| async move {
//!         let p = ctx.params();
//!         Ok(serde_json::json!(p["a"].as_f64().unwrap_or(0.0) + p["b"].as_f64().unwrap_or(0.0)))
//!     })))
//!     .await?;
//! broker.start().await?;
//! let nats = async_nats::connect("nats://127.0.0.1:4222").await.map_err(micro::nats_error)?;
//! let exposed = micro::expose(&broker, nats, MicroOptions::default()).await?;
//! // `nats req v2.math.add '{"a":1,"b":2}'` now answers 3, `nats micro ls` lists `math`.
//! exposed.stop().await;
//! # Ok(())
//! # }
//! ```

mod client;
mod exposer;
mod listing;
mod naming;
mod rfc3339;
mod service;
mod stats;
mod wire;

pub use client::{DiscoveryOptions, MicroClient};
pub use exposer::{expose, expose_at, ExposedEndpoint, ExposedService, MicroHandle, MicroOptions};
pub use listing::listing;
pub use service::nats_error;
pub use wire::{
    EndpointInfo, EndpointStats, InfoResponse, Metadata, PingResponse, StatsResponse, Verb,
    DEFAULT_API_PREFIX, DEFAULT_QUEUE_GROUP, INFO_RESPONSE_TYPE, PING_RESPONSE_TYPE,
    SERVICE_ERROR_CODE_HEADER, SERVICE_ERROR_HEADER, STATS_RESPONSE_TYPE,
};
