//! The attribute macros of `broker-core`: `#[service]` on an `impl` block turns its methods
//! into a Moleculer service. Use them through `broker_core` (`use broker_core::service;`);
//! the method attributes (`#[action]`, `#[event]`, …) need no import, `#[service]` consumes
//! them.
//!
//! ```
//! use broker_core::{service, Broker, Context, Error};
//! use serde::Deserialize;
//! use serde_json::{json, Value};
//!
//! #[derive(Deserialize)]
//! struct HelloParams {
//!     name: String,
//! }
//!
//! struct Greeter {
//!     greeting: String,
//! }
//!
//! #[service(name = "greeter", version = 1)]
//! impl Greeter {
//!     /// `v1.greeter.hello`: typed params, and the call's context.
//!     #[action]
//!     async fn hello(&self, ctx: Context, params: HelloParams) -> Result<String, Error> {
//!         Ok(format!("{}, {}! (call level {})", self.greeting, params.name, ctx.level()))
//!     }
//!
//!     /// `v1.greeter.welcome`: renamed, not exposed by gateways, with its own timeout.
//!     #[action(name = "welcome", visibility = "public", timeout = "2s")]
//!     async fn welcome(&self, params: Value) -> Result<Value, Error> {
//!         Ok(json!({ "welcome": params }))
//!     }
//!
//!     /// Runs on `user.created` events; the payload is deserialized like action params.
//!     #[event(name = "user.created", group = "mail")]
//!     async fn user_created(&self, ctx: Context, user: Value) {
//!         println!("{user} came from {}", ctx.node_id());
//!     }
//!
//!     /// Runs before every action (`#[before]` is `#[before("*")]`); meta set here reaches the
//!     /// action and the caller.
//!     #[before]
//!     async fn mark(&self, ctx: Context) -> Result<(), Error> {
//!         ctx.set_meta("seen", json!(true));
//!         Ok(())
//!     }
//!
//!     /// Runs after `hello` and may change its result.
//!     #[after("hello")]
//!     async fn exclaim(&self, result: String) -> Result<String, Error> {
//!         Ok(result + "!")
//!     }
//!
//!     #[started]
//!     async fn started(&self) -> Result<(), Error> {
//!         Ok(())
//!     }
//!
//!     #[settings]
//!     fn settings(&self) -> Value {
//!         json!({ "greeting": self.greeting })
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Error> {
//! let broker = Broker::builder().node_id("doc").build();
//! broker.add_service(Greeter { greeting: "Hello".into() }).await?;
//! broker.start().await?;
//! let reply: String = broker.call("v1.greeter.hello", json!({ "name": "Alice" })).await?;
//! assert_eq!(reply, "Hello, Alice! (call level 1)!");
//! broker.stop().await?;
//! # Ok(())
//! # }
//! ```
//!
//! The [`service`] attribute's docs are the full reference: its keys, the method attributes
//! and theirs, the shapes of the methods, and what is checked at compile time.

mod attr;
mod cache;
mod client;
mod expand;
mod hooks;
mod model;
mod options;
mod periodic;
mod rest;
mod signature;
mod subject;
mod suggest;
mod timeout;

use proc_macro::TokenStream;

// No intra-doc links in the docs of the attributes: where `broker-core` re-exports them,
// rustdoc leaves such links unresolved (`[crate docs](crate)` became `href="crate"`). Relative
// links to `attr.service.html` work in both crates' docs.

/// Turns an inherent `impl` block into a Moleculer service: its methods marked `#[action]`,
/// `#[event]`, and the other attributes below become the service's actions, event handlers and
/// hooks.
///
/// ```
/// use broker_core::{service, Context, Error};
/// use serde::Deserialize;
///
/// #[derive(Deserialize)]
/// struct HelloParams {
///     name: String,
/// }
///
/// struct Greeter;
///
/// #[service(name = "greeter", version = 2)]
/// impl Greeter {
///     /// `v2.greeter.hello`.
///     #[action(timeout = "2s")]
///     async fn hello(&self, params: HelloParams) -> Result<String, Error> {
///         Ok(format!("Hello, {}!", params.name))
///     }
///
///     /// Runs on every `user.created` event.
///     #[event(name = "user.created")]
///     async fn user_created(&self, ctx: Context, user: serde_json::Value) {
///         println!("{user} came from {}", ctx.node_id());
///     }
/// }
/// ```
///
/// # Keys
///
/// `#[service(...)]` goes on an inherent `impl Type` block (generic ones too) and generates
/// `impl broker_core::Service for Type`, so `broker.add_service(value)` accepts it; every
/// handler holds an `Arc` of the value. Its keys:
///
/// | key            | value                                         | default  |
/// |----------------|-----------------------------------------------|----------|
/// | `name`         | string literal                                | required |
/// | `version`      | integer (`2` → `v2.name`) or string (`"staging"` → `staging.name`) | none |
/// | `dependencies` | array of full service names, `["users", "v2.posts"]` | none |
/// | `rest`         | the base path of its actions' `rest` routes, `"/greeter"`, or an array of them (routes served under each): `settings.rest`, as moleculer-web's `autoAliases` read it; wins over a `rest` key of `#[settings]` | the full name, `v2.greeter` → `/v2/greeter` |
/// | `cache`        | `cache` or `cache(...)` as for actions: the cache of every action, whose own `cache(...)` keys win key by key | none |
/// | `client`       | `false`: no typed client; `"Name"`: the typed client's name | `<Type>Client` |
///
/// # Typed client
///
/// Next to the service, `#[service]` generates a public client struct, `GreeterClient` for
/// `impl Greeter` (not for generic impl blocks): `GreeterClient::new(&broker)`, or from a
/// handler `ctx.client::<GreeterClient>()` (child calls, as `ctx.call`). It has one
/// `async fn` per action that is not private, named as the method, taking the method's params
/// type (nothing when it takes none) and returning `Result<T, broker_core::Error>` with the `T`
/// of the method's `Result<T, E>`; it calls the action's full (versioned) name through
/// `broker_core::Caller::call`, which moves the params and result without JSON on the local
/// node. Options for every call: `with_timeout`, `with_node`, `with_meta`, `with_headers`,
/// `with_retries`, `with_options(CallOptions)`. Calling it needs the params type to be
/// `Serialize` and the result type `Deserialize`, checked where a method is called, so a
/// service whose types lack them still compiles.
///
/// `#[emits(name = "user.created", payload = User)]` after `#[service(...)]` declares an
/// event the service emits: the client gets `emit_user_created(User)` and
/// `broadcast_user_created(User)` (`method = "..."` names them). An action method whose name
/// is one of the client's own (`new`, `from_context`, `caller`, `with_*`) is a compile error,
/// unless `client = false`.
///
/// # Methods
///
/// Exactly one of these attributes per method; methods without one are left alone.
///
/// * `#[action]` / `#[action(name = "...", visibility = "...", timeout = ..., ...)]`: an action.
///   Returns `Result<T, E>` with `T: Serialize` and `E: Into<broker_core::Error>`. Keys:
///
///   | key            | value                                                      | default |
///   |----------------|------------------------------------------------------------|---------|
///   | `name`         | string literal                                             | the method's name |
///   | `visibility`   | `"published"`, `"public"`, `"protected"` or `"private"` (not registered: callable only from the service's own code) | `"published"` |
///   | `timeout`      | `"500ms"`, `"2s"`, `"1m"`, `"1h"` or an integer number of milliseconds; overrides the broker's request timeout | none |
///   | `bulkhead(concurrency = 2, max_queue_size = 10)` | at most `concurrency` runs at once and `max_queue_size` waiting; more calls fail at once with `QueueIsFullError` (429). Both keys optional (`BulkheadOptions::default()`: 10 and 100); overrides the broker-wide bulkhead | none |
///   | `tracing`      | with a broker that traces ([`TracingOptions`](../broker_core/trace/struct.TracingOptions.html)): `tracing = false` leaves its runs untraced; `tracing(tags(params = ["id"], meta = ["user.id"]), span_name = "...")` chooses the params and meta (dotted paths; `true` all, `false` none) its span's tags carry and names the span | traced, all params, no meta |
///   | `strategy`     | `"RoundRobin"`, `"Random"`, `"CpuUsage"`, `"Latency"` or `"Shard"` (default options), published in INFO for callers to balance with | the service's / broker's |
///   | `shard_key`    | with `strategy = "Shard"` only: a params path (`"user.id"`) or a meta path (`"#tenant"`) | none |
///   | `description`  | what it does, published in INFO as `description`; replaces the doc comment, `""` publishes none | the method's doc comment |
///   | `rest`         | its HTTP route for gateways, published in INFO as Moleculer's `rest` property (moleculer-web's `autoAliases`): `"GET /hello/:name"`, `"/hello"` for every method, or an array, `["GET /a", "POST /a"]`. Methods are `GET`, `POST`, `PUT`, `PATCH`, `DELETE`, `OPTIONS`, `HEAD` or `*`; the path starts with `/` and is relative to the service's `rest` base path | none |
///   | `subject`      | its NATS subject when the services are exposed through the NATS service API (ADR-32, `broker_nats::micro`), `"math.add"`: dot-separated tokens, no whitespace, `*` as a whole token, `>` as the whole last token, not under `$SRV`; published in INFO as `natsSubject` | `<service full name>.<action>` |
///   | `cache`        | with a broker that has a cacher ([`cache`](../broker_core/cache/index.html)): `cache` caches its results by all params; `cache(keys = ["id", "#user.id", "@tenant"], ttl = "30s", lock = true, lock_ttl = "5s")` keys them by these params paths (`#` meta, `@` headers), sets their TTL and locks misses so concurrent ones compute once (all keys optional); `cache = false` opts out of the service's `cache`. Published in INFO as Moleculer's `cache` | the service's, else none |
///
/// * `#[event(name = "...", group = "...", bulkhead(...), description = "...")]`: an event
///   handler. `name` is required (an event name or a pattern such as `user.*`); `group`
///   defaults to the service name; `bulkhead(...)`, `tracing` and `description` are as for actions. Returns `()` or `Result<(), E>`; errors,
///   including a payload that does not deserialize, are logged by the broker.
/// * `#[before("pattern")]`, `#[after("pattern")]`, `#[error("pattern")]`: service hooks,
///   Moleculer's `hooks: {before, after, error}`, for the actions of this service matching the
///   pattern: an action name (`"create"`, the action's name, not the method's), a wildcard
///   (`"*"`, `"get*"`, `"?et"`), or several joined by `|` (`"create|update"`). Without a
///   pattern (`#[before]`) a hook applies to every action. Several hooks of a kind run in
///   declaration order, except that the `"*"` hooks run first before the action and last after
///   it. A name without a wildcard must be one of the service's actions. The shapes:
///   - `async fn(&self[, ctx: Context]) -> Result<(), E>`, or `-> Result<Option<Value>, E>`
///     where `Some(params)` replaces the params the action (and later hooks) see; meta set on
///     `ctx` reaches the action and the caller. An error skips the action.
///   - `#[after]`: `async fn(&self[, ctx: Context], result: T) -> Result<U, E>`: gets the
///     action's result, deserialized into `T: DeserializeOwned` (`serde_json::Value` for
///     anything; a result that does not deserialize fails the call with a
///     `SERIALIZATION_ERROR`), and returns the result to send, `U: Serialize`.
///   - `#[error]`: `async fn(&self[, ctx: Context], err: Error) -> Result<U, E>`: gets the
///     error of the action or of an earlier hook (any type `From<broker_core::Error>` works
///     for `err`); `Ok` recovers with that result and stops the remaining error hooks, `Err`
///     passes an error on.
/// * `#[periodic(every = "5s")]` or `#[periodic(cron = "0 */5 * * * *")]`: a scheduled task
///   (see the `periodic` module of `broker_core`), `async fn name(&self[, ctx: TaskContext])`
///   returning `()` or `Result<(), E>`; an error is logged with the task's name. Keys: `every`
///   (`"500ms"`, `"5s"`, `"1m"`, `"1h"`, `"1d"` or integer milliseconds, on a grid from the Unix
///   epoch) or `cron` (six fields with seconds first, the five of crontab, or `@hourly`,
///   `@daily`, `@weekly`, `@monthly`, `@yearly`; UTC; checked at compile time), exactly one;
///   `once = "cluster"` (one node of the cluster runs each tick, through the transporter's
///   cluster lock) or `"node"` (the default: every node); `overlap = "skip"` (default),
///   `"queue"` or `"concurrent"`; `lock_ttl` (with `once = "cluster"`, default `"30s"`);
///   `name` (default the method's).
/// * `#[created]`, `#[started]`, `#[stopped]`: lifecycle hooks, `async fn name(&self)`,
///   returning `()` or `Result<(), E>`.
/// * `#[settings]`, `#[metadata]`: `fn name(&self) -> serde_json::Value` (not `async`; any
///   type `Into<Value>` works), a JSON object that becomes the service's settings or metadata.
///
/// Actions and events are `async fn` taking `&self`, then optionally `ctx: Context` (by value,
/// first), then optionally one params argument of a `DeserializeOwned` type (a typed struct,
/// or `serde_json::Value` for anything). Params that do not deserialize are answered with a
/// `ValidationError` naming the offending field, before the method runs. The futures must be
/// `Send`.
///
/// The path forms `#[broker_core::action]` and `#[broker_core::event]` are accepted too.
/// Outside a `#[service]` block, `#[action]` and `#[event]` are compile errors.
///
/// # Schemas and descriptions
///
/// When the service is added, each action records the JSON Schema of its params type and of
/// the `T` of its `Result<T, E>` (type aliases of `Result` too), and each event handler that of
/// its payload type, for every such type that derives `JsonSchema`
/// (`use broker_core::{schemars, JsonSchema};`, no extra dependency). A type without it
/// compiles as before and has no schema; `serde_json::Value` has `{}` (anything); no params
/// argument, or `()`, has no params schema. The doc comment of an `#[action]` or `#[event]`
/// method is its description (unless its `description` key says otherwise). They are published in INFO as `paramsSchema`,
/// `responseSchema`, `payloadSchema` and `description`, and read back by
/// `Broker::service_docs`; see the `schema` module of `broker_core`.
///
/// An action's params schema is also published as Moleculer's own `params`, in
/// fastest-validator form (`{"name": "string", "email": {"type": "email", "optional": true}}`,
/// see `broker_core::schema::fastest`), which Moleculer.js tools show, and calls are checked
/// against it before the handler runs: wrong params answer Moleculer's `ValidationError` with
/// fastest-validator's `data`, every problem listed. Constraints beyond the types are schemars'
/// field attributes: `#[schemars(range(min = 1, max = 10))]`, `length(min = 2, max = 20)` (for
/// strings and lists), `regex(pattern = r"^[a-z]+$")`, `email`, `url`; a unit-variant enum is
/// an `enum` of its (serde-renamed) names. A `params` set by hand with `.info("params", ..)`
/// is kept as it is.
///
/// ```
/// use broker_core::{schemars, service, Error, JsonSchema, Service};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Deserialize, JsonSchema)]
/// struct NewUser {
///     #[schemars(length(min = 2))]
///     name: String,
///     #[schemars(email)]
///     email: Option<String>,
/// }
///
/// #[derive(Serialize, JsonSchema)]
/// struct User {
///     id: u64,
///     name: String,
/// }
///
/// struct Users;
///
/// #[service(name = "users")]
/// impl Users {
///     /// Creates a user.
///     #[action(rest = "POST /users")]
///     async fn create(&self, params: NewUser) -> Result<User, Error> {
///         Ok(User { id: 1, name: params.name })
///     }
/// }
///
/// let schema = std::sync::Arc::new(Users).schema();
/// let create = &schema.actions[0];
/// assert_eq!(create.description.as_deref(), Some("Creates a user."));
/// let params = create.params_schema.as_ref().expect("NewUser derives JsonSchema");
/// assert_eq!(params["required"], serde_json::json!(["name"]));
/// let result = create.response_schema.as_ref().expect("User derives JsonSchema");
/// assert_eq!(result["title"], "User");
/// assert_eq!(
///     create.extra["params"],
///     serde_json::json!({
///         "name": {"type": "string", "min": 2},
///         "email": {"type": "email", "nullable": true, "optional": true}
///     })
/// );
/// ```
///
/// # Compile-time checks
///
/// Every mistake is reported at compile time on the offending token, all at once: unknown keys
/// (with the known key a typo is closest to: "did you mean `timeout`?") or duplicate ones, bad
/// values (an unknown strategy, a `shard_key` without `"Shard"`, a zero `concurrency`, a
/// malformed hook pattern, a `rest` route with an unknown method or a path not starting with
/// `/`), a missing name, a duplicate action or event name (on both
/// definitions), a hook naming no action of the service, a method that is not `async` or does
/// not take `&self`, unsupported parameters, return types the broker cannot use, and a method
/// whose future is not `Send` ("future returned by `hello` is not `Send`", with the value held
/// across an `.await`).
#[proc_macro_attribute]
pub fn service(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::service(attr.into(), item.into()).into()
}

/// Marks an action inside a `#[service]` block, which consumes it: see the
/// [methods of `#[service]`](attr.service.html#methods) for its keys. Anywhere else it is a
/// compile error.
#[proc_macro_attribute]
pub fn action(_attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::stray(attr::MethodAttr::Action, item.into()).into()
}

/// Marks an event handler inside a `#[service]` block, which consumes it: see the
/// [methods of `#[service]`](attr.service.html#methods) for its keys. Anywhere else it is a
/// compile error.
#[proc_macro_attribute]
pub fn event(_attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::stray(attr::MethodAttr::Event, item.into()).into()
}

/// Generates a typed client for a service that lives elsewhere (a Moleculer.js service, or a
/// Rust service in another crate) from a trait declaring its actions: `MathClient` for
/// `trait Math`, with the same methods as the clients `#[service]` generates. The trait itself
/// is consumed; the client has its visibility.
///
/// ```
/// use broker_core::{client, Error};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// pub struct AddParams {
///     pub a: i64,
///     pub b: i64,
/// }
///
/// /// The `math` service of the Moleculer.js sample.
/// #[client(name = "math")]
/// #[emits(name = "math.computed", payload = i64)]
/// pub trait Math {
///     /// `math.add`.
///     async fn add(&self, p: AddParams) -> Result<i64, Error>;
///     /// `math.random`: no params.
///     #[action(name = "random")]
///     async fn random_number(&self) -> Result<i64, Error>;
/// }
///
/// # async fn demo(broker: &broker_core::Broker) -> Result<(), Error> {
/// let math = MathClient::new(broker);
/// let sum = math.add(AddParams { a: 2, b: 3 }).await?;
/// math.emit_math_computed(sum).await?;
/// # Ok(())
/// # }
/// ```
///
/// Keys: `name` (required) and `version`, as for `#[service]`. Each method is
/// `async fn name(&self[, params: P]) -> Result<T, E>`: `P` is sent as the params (`{}`
/// without one), the result is deserialized into `T`, and `E` is anything
/// `From<broker_core::Error>`. `#[action(name = "...")]` names the action when the method's
/// name is not its name. `#[emits(name = "...", payload = T)]` on the trait adds the emitters
/// `emit_<event>` and `broadcast_<event>` (`method = "..."` names them).
#[proc_macro_attribute]
pub fn client(attr: TokenStream, item: TokenStream) -> TokenStream {
    client::client_trait(attr.into(), item.into()).into()
}

/// Marks a scheduled task inside a `#[service]` block, which consumes it: see the
/// [methods of `#[service]`](attr.service.html#methods) for its keys. Anywhere else it is a
/// compile error.
#[proc_macro_attribute]
pub fn periodic(_attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::stray(attr::MethodAttr::Periodic, item.into()).into()
}
