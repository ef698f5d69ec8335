//! An HTTP gateway to a broker cluster, in the manner of moleculer-web.
//!
//! The gateway is a service (named `api`) of one node: it listens on an address and turns
//! HTTP requests into action calls anywhere in the cluster, Rust or JavaScript. Routes have a
//! path prefix, aliases (`"GET /users/:id" => "users.get"`, `"REST /users" => "users"`), a
//! whitelist, a mapping policy and `autoAliases` built from the `rest` property actions carry
//! in INFO. Params merge as moleculer-web merges them (body, then query, then path); results
//! and errors are sent as moleculer-web sends them, `ctx.meta.$statusCode` and friends
//! included; routes can require bearer tokens or run async authentication and authorization
//! hooks. `GET /health` and `GET /ready` serve as probes.
//!
//! Specs are generated at request time from the live aliases and the cluster's services
//! ([`broker_core::Broker::service_docs`]): `GET /openapi.json` (OpenAPI 3.1: every alias,
//! params and result schemas from the actions' Rust types or Moleculer `params`, error
//! responses, the bearer scheme), `GET /asyncapi.json` (AsyncAPI 3.0: every event of the
//! cluster) and `GET /docs`, a self-contained page (no CDN) that lists the operations and
//! sends "try it" requests. See [`ApiGatewayBuilder::specs`] and the `*_path` options.
//!
//! ```no_run
//! use broker_core::{Broker, MemoryTransporter};
//! use broker_web::{ApiGateway, BearerToken, Route};
//!
//! # async fn run() -> Result<(), broker_core::Error> {
//! let broker = Broker::builder().transporter(MemoryTransporter::new()).build();
//! let gateway = ApiGateway::builder()
//!     .listen("127.0.0.1:3000")
//!     .route(
//!         Route::new("/api")
//!             .alias("GET /hello/:name", "greeter.hello")
//!             .alias("REST /users", "users")
//!             .whitelist(["greeter.*", "users.*"])
//!             .auto_aliases(true)
//!             .bearer_token(BearerToken::new("s3cret")),
//!     )
//!     .require_services(["greeter"])
//!     .build(&broker);
//! broker.add_service(gateway.clone()).await?;
//! broker.start().await?;
//! println!("listening on {:?}", gateway.local_addr());
//! # Ok(())
//! # }
//! ```
//!
//! An alias whose action is written `stream:files.save` does not parse the body: the action
//! gets the bytes base64-encoded in the `$body` param (path and query params beside it) and
//! the request's content type in `ctx.meta.$contentType`. An action answers with bytes by
//! returning [`buffer`]'s shape, which is also what a Moleculer.js `Buffer` becomes in JSON.
//! The gateway's own `listAliases` action lists every alias as moleculer-web's does.
//!
//! A request is answered as follows: no matching alias or route is a 404 `NotFoundError`; an
//! action outside the whitelist a 404 `ServiceNotFoundError`; a body that does not parse a 400
//! `InvalidRequestBodyError`, one over the route's limit a 413 `PayloadTooLarge`, one slower
//! than the body read timeout a 408; headers over the limit a 431; any Moleculer error the
//! status of its code (a 500's message hidden unless `expose_internal_errors`).

mod alias;
mod app;
mod auth;
mod autoalias;
mod body;
mod dispatch;
pub mod errors;
mod gateway;
mod health;
mod hooks;
mod matched;
mod metrics;
mod multipart;
mod params;
mod ratelimit;
mod response;
mod route;
mod server;
mod spec;
mod whitelist;

pub use alias::{rest_aliases, Alias, AliasKind, PathPattern, Segment};
pub use auth::{AuthenticateFn, AuthorizeFn, BearerToken};
pub use gateway::{ApiGateway, ApiGatewayBuilder};
pub use hooks::{AfterCallFn, BeforeCallFn, BoxFuture, HookRequest, RequestInfo};
pub use metrics::MetricsExporter;
pub use params::parse_query;
pub use ratelimit::RateLimit;
pub use response::buffer;
pub use route::{MappingPolicy, Route, DEFAULT_BODY_LIMIT};
pub use tower_http::cors;
pub use whitelist::ActionPattern;
