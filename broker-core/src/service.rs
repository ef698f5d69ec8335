//! Services as the broker sees them: a name, a version, settings, and the actions, event
//! handlers and lifecycle hooks they offer.
//!
//! Most users never build a [`ServiceSchema`] by hand: `#[service]` on an `impl` block generates
//! the [`Service`] impl. The builder here is the same thing without the macro.

use crate::context::Context;
use crate::error::Error;
use crate::middleware::{AfterHook, BeforeHook, BulkheadOptions, ErrorHook, Hooks};
use crate::packet::JsonMap;
use crate::payload::{into_payload, to_payload, Payload};
use crate::schema::{params_schema_for, response_schema_for};
use crate::strategy::StrategySpec;
use crate::trace::TraceSpec;
use crate::transporter::BoxFuture;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// An action handler: takes the call's context, returns the result as JSON text.
pub type ActionHandler =
    Arc<dyn Fn(Context) -> BoxFuture<'static, Result<Payload, Error>> + Send + Sync>;

/// An event handler: takes the event's context (`ctx.params()` is the payload).
pub type EventHandler = Arc<dyn Fn(Context) -> BoxFuture<'static, Result<(), Error>> + Send + Sync>;

/// A lifecycle hook (`created`, `started`, `stopped`).
pub type LifecycleHook = Arc<dyn Fn() -> BoxFuture<'static, Result<(), Error>> + Send + Sync>;

/// Something the broker can run as a service. `#[service]` implements it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a service",
    note = "put `#[broker_core::service]` on an `impl {Self}` block, or implement `Service` by returning a `ServiceSchema`"
)]
pub trait Service: Send + Sync + 'static {
    /// Describes the service; handlers keep the `Arc` to reach `self`.
    fn schema(self: Arc<Self>) -> ServiceSchema;
}

impl Service for ServiceSchema {
    fn schema(self: Arc<Self>) -> ServiceSchema {
        Arc::unwrap_or_clone(self)
    }
}

/// A service version: `2` gives the full name `v2.posts`, `"staging"` gives `staging.posts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ServiceVersion {
    /// A numeric version.
    Number(u64),
    /// A string version.
    Text(String),
}

impl From<u64> for ServiceVersion {
    fn from(v: u64) -> Self {
        ServiceVersion::Number(v)
    }
}
impl From<u32> for ServiceVersion {
    fn from(v: u32) -> Self {
        ServiceVersion::Number(v.into())
    }
}
impl From<i32> for ServiceVersion {
    fn from(v: i32) -> Self {
        match u64::try_from(v) {
            Ok(n) => ServiceVersion::Number(n),
            Err(_) => ServiceVersion::Text(v.to_string()),
        }
    }
}
impl From<&str> for ServiceVersion {
    fn from(v: &str) -> Self {
        ServiceVersion::Text(v.to_owned())
    }
}
impl From<String> for ServiceVersion {
    fn from(v: String) -> Self {
        ServiceVersion::Text(v)
    }
}

/// The full name Moleculer builds from a name and a version.
pub fn full_service_name(name: &str, version: Option<&ServiceVersion>) -> String {
    match version {
        Some(ServiceVersion::Number(n)) => format!("v{n}.{name}"),
        Some(ServiceVersion::Text(t)) => format!("{t}.{name}"),
        None => name.to_owned(),
    }
}

/// Who may call an action, with Moleculer's meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Visibility {
    /// Callable from anywhere, and an API gateway may expose it (the default).
    #[default]
    Published,
    /// Callable from any node, but not exposed by gateways.
    Public,
    /// Callable only from the node that hosts it.
    Protected,
    /// Not registered with the broker at all: only the service's own code calls it.
    Private,
}

impl Visibility {
    /// The name used in INFO (`published`, `public`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Published => "published",
            Visibility::Public => "public",
            Visibility::Protected => "protected",
            Visibility::Private => "private",
        }
    }

    /// Parses a visibility name.
    pub fn parse(s: &str) -> Option<Visibility> {
        match s {
            "published" => Some(Visibility::Published),
            "public" => Some(Visibility::Public),
            "protected" => Some(Visibility::Protected),
            "private" => Some(Visibility::Private),
            _ => None,
        }
    }

    /// Whether other nodes may call it.
    pub fn is_remote_callable(self) -> bool {
        matches!(self, Visibility::Published | Visibility::Public)
    }
}

/// The INFO key of an action's NATS subject (see [`ActionDef::subject`]).
pub const NATS_SUBJECT: &str = "natsSubject";

/// One action of a service.
#[derive(Clone)]
pub struct ActionDef {
    /// Name inside the service (`hello`); the broker prefixes the service's full name.
    pub name: String,
    /// Who may call it.
    pub visibility: Visibility,
    /// Its own timeout, overriding the broker's `request_timeout`.
    pub timeout: Option<Duration>,
    /// Extra keys published in INFO (for example a `params` schema or a `rest` route).
    pub extra: JsonMap,
    /// How callers balance between the nodes serving it (published in INFO).
    pub strategy: Option<StrategySpec>,
    /// Its own bulkhead (overrides the broker-wide one).
    pub bulkhead: Option<BulkheadOptions>,
    /// JSON Schema of its params, published in INFO as `paramsSchema` (see [`crate::schema`]).
    pub params_schema: Option<Value>,
    /// JSON Schema of its result, published in INFO as `responseSchema`.
    pub response_schema: Option<Value>,
    /// Whether the handler's typed params reject every call its `params` schema rejects (the
    /// macros set it for a params type without constraints beyond its types): the
    /// [`crate::middleware::Validator`] then checks only the calls the handler rejects.
    pub params_checked_by_handler: bool,
    /// What it does, published in INFO as `description` (the macros take the doc comment).
    pub description: Option<String>,
    /// Its tracing (on, params tags, by default when the broker traces).
    pub tracing: Option<TraceSpec>,
    /// How its results are cached (`None`: not cached), published in INFO as `cache`.
    pub cache: Option<crate::cache::CacheSpec>,
    /// The handler.
    pub handler: ActionHandler,
}

impl fmt::Debug for ActionDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActionDef")
            .field("name", &self.name)
            .field("visibility", &self.visibility)
            .field("timeout", &self.timeout)
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

impl ActionDef {
    /// An action from an async closure of the context.
    ///
    /// ```
    /// use broker_core::{ActionDef, Context};
    ///
    /// let add = ActionDef::new("add", |ctx: Context| async move {
    ///     let a = ctx.params()["a"].as_f64().unwrap_or(0.0);
    ///     let b = ctx.params()["b"].as_f64().unwrap_or(0.0);
    ///     Ok(serde_json::json!(a + b))
    /// });
    /// assert_eq!(add.name, "add");
    /// ```
    pub fn new<F, Fut>(name: impl Into<String>, handler: F) -> ActionDef
    where
        F: Fn(Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, Error>> + Send + 'static,
    {
        ActionDef::from_payload(name, move |ctx| {
            let run = handler(ctx);
            async move { run.await.and_then(|value| to_payload(&value)) }
        })
    }

    /// An action whose handler returns its result already as JSON text (what the macros
    /// generate: typed results are serialized once, with no `Value` in between).
    pub fn from_payload<F, Fut>(name: impl Into<String>, handler: F) -> ActionDef
    where
        F: Fn(Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Payload, Error>> + Send + 'static,
    {
        ActionDef {
            name: name.into(),
            visibility: Visibility::Published,
            timeout: None,
            extra: JsonMap::new(),
            strategy: None,
            bulkhead: None,
            params_schema: None,
            response_schema: None,
            params_checked_by_handler: false,
            description: None,
            tracing: None,
            cache: None,
            handler: Arc::new(move |ctx| Box::pin(handler(ctx))),
        }
    }

    /// Publishes the JSON Schema of `T` as its params schema (what the macros do for a params
    /// type that derives `JsonSchema`).
    ///
    /// ```
    /// use broker_core::{schemars, ActionDef, JsonSchema};
    ///
    /// #[derive(serde::Deserialize, JsonSchema)]
    /// struct AddParams {
    ///     a: f64,
    ///     b: f64,
    /// }
    ///
    /// let add = ActionDef::new("add", |ctx| async move {
    ///     let p: AddParams = ctx.params_as()?;
    ///     Ok(serde_json::json!(p.a + p.b))
    /// })
    /// .params_schema_of::<AddParams>()
    /// .response_schema_of::<f64>()
    /// .description("Adds two numbers.");
    /// let params = add.params_schema.as_ref().map(|s| &s["properties"]["a"]["type"]);
    /// assert_eq!(params, Some(&serde_json::json!("number")));
    /// ```
    pub fn params_schema_of<T: JsonSchema + ?Sized>(mut self) -> ActionDef {
        self.params_schema = Some(params_schema_for::<T>());
        self
    }

    /// Publishes the JSON Schema of `T` as its result schema.
    pub fn response_schema_of<T: JsonSchema + ?Sized>(mut self) -> ActionDef {
        self.response_schema = Some(response_schema_for::<T>());
        self
    }

    /// Sets its params schema to a JSON Schema written by hand.
    pub fn params_schema(mut self, schema: Value) -> ActionDef {
        self.params_schema = Some(schema);
        self
    }

    /// Sets its result schema to a JSON Schema written by hand.
    pub fn response_schema(mut self, schema: Value) -> ActionDef {
        self.response_schema = Some(schema);
        self
    }

    /// Sets its description.
    pub fn description(mut self, description: impl Into<String>) -> ActionDef {
        self.description = Some(description.into());
        self
    }

    /// Gives it a bulkhead: at most `concurrency` runs at once, `max_queue_size` waiting.
    pub fn bulkhead(mut self, options: BulkheadOptions) -> ActionDef {
        self.bulkhead = Some(options);
        self
    }

    /// Sets the balancing strategy callers use for it.
    pub fn strategy(mut self, strategy: StrategySpec) -> ActionDef {
        self.strategy = Some(strategy);
        self
    }

    /// Sets the visibility.
    pub fn visibility(mut self, visibility: Visibility) -> ActionDef {
        self.visibility = visibility;
        self
    }

    /// Sets how its runs are traced: `TraceSpec::off()`, or which params and meta become
    /// span tags (`TraceSpec::new().params(["id"]).meta(["user.id"])`).
    pub fn tracing(mut self, spec: TraceSpec) -> ActionDef {
        self.tracing = Some(spec);
        self
    }

    /// Caches its results in the broker's cacher (Moleculer's action `cache` option; see
    /// [`crate::cache`]): `CacheSpec::new()` for `cache: true`, or with `keys`, `ttl`, `lock`.
    pub fn cache(mut self, spec: crate::cache::CacheSpec) -> ActionDef {
        self.cache = Some(spec);
        self
    }

    /// Sets the action's own timeout.
    pub fn timeout(mut self, timeout: Duration) -> ActionDef {
        self.timeout = Some(timeout);
        self
    }

    /// Adds an HTTP route to the action's INFO entry as its `rest` property, which gateways
    /// such as moleculer-web (`autoAliases`) read: `"GET /hello/:name"`, or a path alone
    /// (`"/hello"`) for every method. The path is relative to the service's base path (see
    /// [`ServiceSchema::rest`]). One call publishes a string, several an array, as a
    /// Moleculer.js action's `rest: ["GET /a", "POST /a"]`; an object route
    /// (`{method, path}`) can be set with [`ActionDef::info`].
    ///
    /// ```
    /// use broker_core::ActionDef;
    ///
    /// let hello = ActionDef::new("hello", |_ctx| async { Ok(serde_json::json!("hi")) })
    ///     .rest("GET /hello/:name")
    ///     .rest("POST /hello");
    /// assert_eq!(hello.extra["rest"], serde_json::json!(["GET /hello/:name", "POST /hello"]));
    /// ```
    pub fn rest(mut self, route: impl Into<String>) -> ActionDef {
        push_string_or_array(&mut self.extra, "rest", route.into());
        self
    }

    /// Sets the NATS subject the action answers on when the broker's services are exposed
    /// through the NATS service API (ADR-32, `broker_nats::micro`): by default
    /// `<service full name>.<action>`, the action's own name. Published in INFO as
    /// `natsSubject` (other nodes and Moleculer.js ignore it).
    ///
    /// ```
    /// use broker_core::ActionDef;
    ///
    /// let add = ActionDef::new("add", |_ctx| async { Ok(serde_json::json!(3)) }).subject("calc.add");
    /// assert_eq!(add.extra["natsSubject"], "calc.add");
    /// ```
    pub fn subject(mut self, subject: impl Into<String>) -> ActionDef {
        self.extra
            .insert(NATS_SUBJECT.to_owned(), Value::String(subject.into()));
        self
    }

    /// Adds a key to the action's INFO entry (`params`, `rest`, custom keys).
    pub fn info(mut self, key: impl Into<String>, value: Value) -> ActionDef {
        self.extra.insert(key.into(), value);
        self
    }
}

/// One event handler of a service.
#[derive(Clone)]
pub struct EventDef {
    /// Event name or pattern (`user.created`, `user.*`, `**`).
    pub name: String,
    /// Group; defaults to the service name.
    pub group: Option<String>,
    /// How emitters balance between the nodes of its group (published in INFO).
    pub strategy: Option<StrategySpec>,
    /// Its own bulkhead (overrides the broker-wide one).
    pub bulkhead: Option<BulkheadOptions>,
    /// JSON Schema of its payload, published in INFO as `payloadSchema` (see
    /// [`crate::schema`]).
    pub payload_schema: Option<Value>,
    /// Moleculer's fastest-validator schema of its payload, published in INFO as `params` and
    /// checked before the handler runs (the macros derive it from the payload schema).
    pub params: Option<Value>,
    /// What it handles, published in INFO as `description` (the macros take the doc comment).
    pub description: Option<String>,
    /// Its tracing (on, params tags, by default when the broker traces events).
    pub tracing: Option<TraceSpec>,
    /// The handler.
    pub handler: EventHandler,
}

impl fmt::Debug for EventDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventDef")
            .field("name", &self.name)
            .field("group", &self.group)
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

impl EventDef {
    /// An event handler from an async closure of the context.
    pub fn new<F, Fut>(name: impl Into<String>, handler: F) -> EventDef
    where
        F: Fn(Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        EventDef {
            name: name.into(),
            group: None,
            strategy: None,
            bulkhead: None,
            payload_schema: None,
            params: None,
            description: None,
            tracing: None,
            handler: Arc::new(move |ctx| Box::pin(handler(ctx))),
        }
    }

    /// Publishes the JSON Schema of `T` as its payload schema (what the macros do for a
    /// payload type that derives `JsonSchema`).
    pub fn payload_schema_of<T: JsonSchema + ?Sized>(mut self) -> EventDef {
        self.payload_schema = Some(params_schema_for::<T>());
        self
    }

    /// Sets its payload schema to a JSON Schema written by hand.
    pub fn payload_schema(mut self, schema: Value) -> EventDef {
        self.payload_schema = Some(schema);
        self
    }

    /// Sets its fastest-validator `params` schema, checked before the handler runs.
    pub fn params(mut self, schema: Value) -> EventDef {
        self.params = Some(schema);
        self
    }

    /// Sets its description.
    pub fn description(mut self, description: impl Into<String>) -> EventDef {
        self.description = Some(description.into());
        self
    }

    /// Sets how its deliveries are traced (when the broker traces events).
    pub fn tracing(mut self, spec: TraceSpec) -> EventDef {
        self.tracing = Some(spec);
        self
    }

    /// Gives it a bulkhead.
    pub fn bulkhead(mut self, options: BulkheadOptions) -> EventDef {
        self.bulkhead = Some(options);
        self
    }

    /// Sets the balancing strategy emitters use for it.
    pub fn strategy(mut self, strategy: StrategySpec) -> EventDef {
        self.strategy = Some(strategy);
        self
    }

    /// Sets the group.
    pub fn group(mut self, group: impl Into<String>) -> EventDef {
        self.group = Some(group.into());
        self
    }
}

/// A complete service description.
#[derive(Clone, Default)]
pub struct ServiceSchema {
    /// Service name.
    pub name: String,
    /// Version.
    pub version: Option<ServiceVersion>,
    /// Settings, sent in INFO except the keys listed in `settings.$secureSettings`.
    pub settings: JsonMap,
    /// Metadata, sent in INFO.
    pub metadata: JsonMap,
    /// Services (full names) that must be available before this one starts.
    pub dependencies: Vec<String>,
    /// Actions.
    pub actions: Vec<ActionDef>,
    /// Event handlers.
    pub events: Vec<EventDef>,
    /// Balancing strategy for its actions and events that do not set their own.
    pub strategy: Option<StrategySpec>,
    /// `before`, `after` and `error` hooks of its actions.
    pub hooks: Hooks,
    /// Runs when the service is added to the broker.
    pub created: Option<LifecycleHook>,
    /// Runs when the broker starts the service, before it is announced.
    pub started: Option<LifecycleHook>,
    /// Runs when the broker stops.
    pub stopped: Option<LifecycleHook>,
    /// Scheduled tasks, started with the service (see [`crate::periodic`]).
    pub tasks: Vec<crate::periodic::TaskDef>,
}

impl fmt::Debug for ServiceSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceSchema")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("actions", &self.actions)
            .field("events", &self.events)
            .field("dependencies", &self.dependencies)
            .field("tasks", &self.tasks)
            .finish_non_exhaustive()
    }
}

fn hook<F, Fut>(f: F) -> LifecycleHook
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Error>> + Send + 'static,
{
    Arc::new(move || Box::pin(f()))
}

impl ServiceSchema {
    /// An empty service with a name.
    pub fn new(name: impl Into<String>) -> ServiceSchema {
        ServiceSchema {
            name: name.into(),
            ..ServiceSchema::default()
        }
    }

    /// Sets the version.
    pub fn version(mut self, version: impl Into<ServiceVersion>) -> ServiceSchema {
        self.version = Some(version.into());
        self
    }

    /// Sets the settings (a JSON object; anything else is ignored).
    pub fn settings(mut self, settings: Value) -> ServiceSchema {
        if let Value::Object(map) = settings {
            self.settings = map;
        }
        self
    }

    /// Sets the base path gateways put before the `rest` routes of its actions: the
    /// `settings.rest` of a Moleculer.js service, which moleculer-web's `autoAliases` read
    /// (without it they use the full name, `v2.greeter` → `/v2/greeter`). One call publishes a
    /// string, several an array (the routes are then served under each). It is a setting:
    /// call it after [`ServiceSchema::settings`], which replaces them all.
    ///
    /// ```
    /// use broker_core::{ActionDef, ServiceSchema};
    /// use serde_json::json;
    ///
    /// // moleculer-web's autoAliases serve this action at `GET <route path>/greet/hello/:name`.
    /// let greeter = ServiceSchema::new("greeter")
    ///     .settings(json!({ "page": 10 }))
    ///     .rest("/greet")
    ///     .action(
    ///         ActionDef::new("hello", |_ctx| async { Ok(json!("hi")) }).rest("GET /hello/:name"),
    ///     );
    /// assert_eq!(greeter.settings["rest"], json!("/greet"));
    /// ```
    pub fn rest(mut self, base_path: impl Into<String>) -> ServiceSchema {
        push_string_or_array(&mut self.settings, "rest", base_path.into());
        self
    }

    /// Sets the metadata (a JSON object; anything else is ignored).
    pub fn metadata(mut self, metadata: Value) -> ServiceSchema {
        if let Value::Object(map) = metadata {
            self.metadata = map;
        }
        self
    }

    /// Adds a dependency (a service full name such as `users` or `v2.posts`).
    pub fn dependency(mut self, full_name: impl Into<String>) -> ServiceSchema {
        self.dependencies.push(full_name.into());
        self
    }

    /// Sets the balancing strategy of its actions and events that do not set their own.
    pub fn strategy(mut self, strategy: StrategySpec) -> ServiceSchema {
        self.strategy = Some(strategy);
        self
    }

    /// Adds a `before` hook for the actions matching `pattern` (`*`, `create`, `get*|list`).
    /// Returning `Some(params)` replaces the params the action sees.
    pub fn before<F, Fut>(mut self, pattern: impl Into<String>, f: F) -> ServiceSchema
    where
        F: Fn(Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<Value>, Error>> + Send + 'static,
    {
        let hook: BeforeHook = Arc::new(move |ctx| Box::pin(f(ctx)));
        self.hooks.before.push((pattern.into(), hook));
        self
    }

    /// Adds an `after` hook: it gets the result and returns the one to send.
    pub fn after<F, Fut>(mut self, pattern: impl Into<String>, f: F) -> ServiceSchema
    where
        F: Fn(Context, Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, Error>> + Send + 'static,
    {
        let hook: AfterHook = Arc::new(move |ctx, v| Box::pin(f(ctx, v)));
        self.hooks.after.push((pattern.into(), hook));
        self
    }

    /// Adds an `error` hook: it gets the error and may recover with a result.
    pub fn error<F, Fut>(mut self, pattern: impl Into<String>, f: F) -> ServiceSchema
    where
        F: Fn(Context, Error) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, Error>> + Send + 'static,
    {
        let hook: ErrorHook = Arc::new(move |ctx, e| Box::pin(f(ctx, e)));
        self.hooks.error.push((pattern.into(), hook));
        self
    }

    /// Adds an action.
    pub fn action(mut self, action: ActionDef) -> ServiceSchema {
        self.actions.push(action);
        self
    }

    /// Adds an event handler.
    pub fn event(mut self, event: EventDef) -> ServiceSchema {
        self.events.push(event);
        self
    }

    /// Adds a scheduled task.
    pub fn task(mut self, task: crate::periodic::TaskDef) -> ServiceSchema {
        self.tasks.push(task);
        self
    }

    /// Sets the `created` hook.
    pub fn on_created<F, Fut>(mut self, f: F) -> ServiceSchema
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        self.created = Some(hook(f));
        self
    }

    /// Sets the `started` hook.
    pub fn on_started<F, Fut>(mut self, f: F) -> ServiceSchema
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        self.started = Some(hook(f));
        self
    }

    /// Sets the `stopped` hook.
    pub fn on_stopped<F, Fut>(mut self, f: F) -> ServiceSchema
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        self.stopped = Some(hook(f));
        self
    }

    /// `v2.posts`, `staging.posts` or `posts` (`settings.$noVersionPrefix` drops the prefix).
    pub fn full_name(&self) -> String {
        let no_prefix = self
            .settings
            .get("$noVersionPrefix")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        full_service_name(
            &self.name,
            if no_prefix {
                None
            } else {
                self.version.as_ref()
            },
        )
    }
}

/// What an `#[action]` method may return: `Result<T, E>` with a serializable `T` and an error
/// that converts into [`Error`].
#[diagnostic::on_unimplemented(
    message = "an action must return `Result<T, E>` where `T: Serialize` and `E: Into<broker_core::Error>`",
    label = "this return type is not `Result<impl Serialize, impl Into<Error>>`"
)]
pub trait ActionResult {
    /// Converts into the JSON text the broker sends back.
    fn into_action_result(self) -> Result<Payload, Error>;

    /// Converts into a `Value` (for `after` and `error` hooks, which pass values along).
    fn into_hook_value(self) -> Result<Value, Error>;
}

impl<T: Serialize + 'static, E: Into<Error>> ActionResult for Result<T, E> {
    fn into_action_result(self) -> Result<Payload, Error> {
        match self {
            Ok(value) => into_payload(value),
            Err(err) => Err(err.into()),
        }
    }

    fn into_hook_value(self) -> Result<Value, Error> {
        match self {
            Ok(value) => serde_json::to_value(value).map_err(Error::from),
            Err(err) => Err(err.into()),
        }
    }
}

/// What an `#[event]` method may return: `()` or `Result<(), E>`.
#[diagnostic::on_unimplemented(
    message = "an event handler must return `()` or `Result<(), E>` where `E: Into<broker_core::Error>`",
    label = "this return type is not `()` or `Result<(), impl Into<Error>>`"
)]
pub trait EventResult {
    /// Converts into the handler's outcome (errors are logged by the broker).
    fn into_event_result(self) -> Result<(), Error>;
}

impl EventResult for () {
    fn into_event_result(self) -> Result<(), Error> {
        Ok(())
    }
}

impl<E: Into<Error>> EventResult for Result<(), E> {
    fn into_event_result(self) -> Result<(), Error> {
        self.map_err(Into::into)
    }
}

/// What a lifecycle hook may return: `()` or `Result<(), E>`.
#[diagnostic::on_unimplemented(
    message = "a lifecycle hook must return `()` or `Result<(), E>` where `E: Into<broker_core::Error>`"
)]
pub trait HookResult {
    /// Converts into the hook's outcome.
    fn into_hook_result(self) -> Result<(), Error>;
}

impl HookResult for () {
    fn into_hook_result(self) -> Result<(), Error> {
        Ok(())
    }
}

impl<E: Into<Error>> HookResult for Result<(), E> {
    fn into_hook_result(self) -> Result<(), Error> {
        self.map_err(Into::into)
    }
}

/// What a `before` hook may return: `Result<(), E>` (params unchanged) or
/// `Result<Option<Value>, E>` (`Some` replaces the params).
#[diagnostic::on_unimplemented(
    message = "a `before` hook must return `Result<(), E>` or `Result<Option<serde_json::Value>, E>` where `E: Into<broker_core::Error>`"
)]
pub trait BeforeHookResult {
    /// Converts into the new params, if any.
    fn into_before_result(self) -> Result<Option<Value>, Error>;
}

impl<E: Into<Error>> BeforeHookResult for Result<(), E> {
    fn into_before_result(self) -> Result<Option<Value>, Error> {
        self.map(|()| None).map_err(Into::into)
    }
}

impl<E: Into<Error>> BeforeHookResult for Result<Option<Value>, E> {
    fn into_before_result(self) -> Result<Option<Value>, Error> {
        self.map_err(Into::into)
    }
}

/// Sets `map[key]` to `value`, or appends it, turning a string already there into an array:
/// the string-or-array shape of Moleculer's `rest` properties.
fn push_string_or_array(map: &mut JsonMap, key: &str, value: String) {
    match map.get_mut(key) {
        Some(Value::Array(items)) => items.push(Value::String(value)),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, Value::String(value)]);
        }
        None => {
            map.insert(key.to_owned(), Value::String(value));
        }
    }
}
