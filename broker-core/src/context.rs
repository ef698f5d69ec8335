//! The context of one action call or event delivery: params, meta, identity of the call chain,
//! and the way to make nested calls that belong to that chain.

use crate::broker::Broker;
use crate::error::Error;
use crate::packet::JsonMap;
use crate::payload::{to_payload, Params};
use crate::typed::TypedValue;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// How an event reached its handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// `emit`: one handler per group across the cluster.
    Emit,
    /// `broadcast`: every handler.
    Broadcast,
    /// `broadcast_local`: every handler on this node only.
    BroadcastLocal,
}

impl EventType {
    /// `emit`, `broadcast` or `broadcastLocal`, as Moleculer names them.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Emit => "emit",
            EventType::Broadcast => "broadcast",
            EventType::BroadcastLocal => "broadcastLocal",
        }
    }
}

/// A function giving a failed call's answer from its error.
pub type FallbackFn = Arc<dyn Fn(&Error) -> Result<Value, Error> + Send + Sync>;

/// What a failed call returns instead of its error.
#[derive(Clone)]
pub enum Fallback {
    /// This value.
    Value(Value),
    /// The result of this function of the error (which may return another error).
    Fn(FallbackFn),
}

impl fmt::Debug for Fallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fallback::Value(v) => f.debug_tuple("Value").field(v).finish(),
            Fallback::Fn(_) => f.write_str("Fn(..)"),
        }
    }
}

impl Fallback {
    pub(crate) fn apply(&self, err: Error) -> Result<crate::payload::Payload, Error> {
        tracing::debug!(%err, "call failed; using its fallback");
        let value = match self {
            Fallback::Value(v) => v.clone(),
            Fallback::Fn(f) => f(&err)?,
        };
        to_payload(&value)
    }
}

/// Options of one call. Unset fields fall back to the action's and then the broker's settings.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// Retries of this call (overrides the broker's retry policy count; only errors the
    /// policy's check accepts are retried).
    pub retries: Option<u32>,
    /// Returned instead of the error when the call (and its retries) failed.
    pub fallback: Option<Fallback>,
    /// Timeout of this call (the remaining budget of the parent still applies).
    pub timeout: Option<Duration>,
    /// Call this node directly, bypassing balancing.
    pub node_id: Option<String>,
    /// Meta merged over the parent's meta.
    pub meta: Option<JsonMap>,
    /// Headers of this call (protocol 5; one hop only).
    pub headers: Option<JsonMap>,
    /// The chain ID (otherwise inherited or generated).
    pub request_id: Option<String>,
    /// Overrides the caller service name.
    pub caller: Option<String>,
}

impl CallOptions {
    /// Default options.
    pub fn new() -> CallOptions {
        CallOptions::default()
    }
    /// Sets the timeout.
    pub fn timeout(mut self, timeout: Duration) -> CallOptions {
        self.timeout = Some(timeout);
        self
    }
    /// Targets one node.
    pub fn node_id(mut self, node_id: impl Into<String>) -> CallOptions {
        self.node_id = Some(node_id.into());
        self
    }
    /// Adds meta (a JSON object; anything else is ignored).
    pub fn meta(mut self, meta: Value) -> CallOptions {
        if let Value::Object(map) = meta {
            self.meta = Some(map);
        }
        self
    }
    /// Sets headers (a JSON object; anything else is ignored).
    pub fn headers(mut self, headers: Value) -> CallOptions {
        if let Value::Object(map) = headers {
            self.headers = Some(map);
        }
        self
    }
    /// Sets the chain ID.
    pub fn request_id(mut self, request_id: impl Into<String>) -> CallOptions {
        self.request_id = Some(request_id.into());
        self
    }
    /// Sets how many times to retry.
    pub fn retries(mut self, retries: u32) -> CallOptions {
        self.retries = Some(retries);
        self
    }
    /// Returns this value when the call fails.
    pub fn fallback_value(mut self, value: Value) -> CallOptions {
        self.fallback = Some(Fallback::Value(value));
        self
    }
    /// Returns the result of `f(error)` when the call fails.
    pub fn fallback_fn<F>(mut self, f: F) -> CallOptions
    where
        F: Fn(&Error) -> Result<Value, Error> + Send + Sync + 'static,
    {
        self.fallback = Some(Fallback::Fn(Arc::new(f)));
        self
    }
}

/// Options of one emit or broadcast.
#[derive(Debug, Clone, Default)]
pub struct EmitOptions {
    /// Only these groups receive it.
    pub groups: Option<Vec<String>>,
    /// Meta merged over the parent's meta.
    pub meta: Option<JsonMap>,
    /// Headers (protocol 5; one hop only).
    pub headers: Option<JsonMap>,
    /// The chain ID (otherwise inherited or generated).
    pub request_id: Option<String>,
}

impl EmitOptions {
    /// Default options.
    pub fn new() -> EmitOptions {
        EmitOptions::default()
    }
    /// Restricts delivery to groups.
    pub fn groups<I, S>(mut self, groups: I) -> EmitOptions
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.groups = Some(groups.into_iter().map(Into::into).collect());
        self
    }
    /// Adds meta (a JSON object; anything else is ignored).
    pub fn meta(mut self, meta: Value) -> EmitOptions {
        if let Value::Object(map) = meta {
            self.meta = Some(map);
        }
        self
    }
    /// Sets headers (a JSON object; anything else is ignored).
    pub fn headers(mut self, headers: Value) -> EmitOptions {
        if let Value::Object(map) = headers {
            self.headers = Some(map);
        }
        self
    }
    /// Sets the chain ID.
    pub fn request_id(mut self, request_id: impl Into<String>) -> EmitOptions {
        self.request_id = Some(request_id.into());
        self
    }
}

/// The event part of a context.
#[derive(Debug, Clone)]
pub(crate) struct EventInfo {
    pub(crate) name: String,
    pub(crate) event_type: EventType,
    pub(crate) groups: Option<Vec<String>>,
}

pub(crate) struct ContextInner {
    pub(crate) broker: Broker,
    pub(crate) id: OnceLock<String>,
    pub(crate) request_id: Option<String>,
    pub(crate) parent_id: Option<String>,
    pub(crate) level: u32,
    pub(crate) caller: Option<String>,
    /// The node the call or event came from; `None` for this node.
    pub(crate) node_id: Option<String>,
    pub(crate) params: Params,
    pub(crate) meta: Mutex<JsonMap>,
    pub(crate) headers: JsonMap,
    pub(crate) response_headers: Mutex<JsonMap>,
    /// Full name of the action being served.
    pub(crate) action: Option<Arc<str>>,
    /// Full name of the service whose handler runs.
    pub(crate) service: Option<Arc<str>>,
    pub(crate) event: Option<EventInfo>,
    pub(crate) deadline: Option<Instant>,
    /// Sampling decision and open custom spans (see [`crate::trace`]).
    pub(crate) trace: crate::trace::TraceState,
    /// Set for a local call whose caller takes the handler's result as a value (nothing
    /// between them reads it): the generated handler code moves its result into `reply`.
    pub(crate) accepts_typed_reply: bool,
    /// The handler's result, moved (see [`crate::typed`]).
    pub(crate) reply: Mutex<Option<TypedValue>>,
    /// Whether the code that runs the handler keeps a handle of its own (to read the meta
    /// after): then params are the handler's alone at two handles, not one.
    pub(crate) caller_keeps_handle: bool,
}

/// The context of one call or event: what a handler receives.
///
/// Cloning is cheap (a reference count).
#[derive(Clone)]
pub struct Context(pub(crate) Arc<ContextInner>);

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("id", &self.id())
            .field("request_id", &self.request_id())
            .field("level", &self.level())
            .field("action", &self.action())
            .field("event", &self.event_name())
            .field("node_id", &self.node_id())
            .finish_non_exhaustive()
    }
}

fn lock(m: &Mutex<JsonMap>) -> MutexGuard<'_, JsonMap> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl Context {
    pub(crate) fn new(inner: ContextInner) -> Context {
        Context(Arc::new(inner))
    }

    /// A root context for code outside any handler (an HTTP gateway, say): actions called
    /// through it are its children (level 2, this chain's `request_id`), and their meta merges
    /// back into it, so the caller can read what the callee set.
    ///
    /// ```
    /// use broker_core::{ActionDef, Broker, Context, Error, JsonMap, MemoryTransporter, ServiceSchema};
    /// use serde_json::{json, Value};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Error> {
    /// let broker = Broker::builder().namespace("root-doc").transporter(MemoryTransporter::new()).build();
    /// let users = ServiceSchema::new("users").action(ActionDef::new("create", |ctx: Context| async move {
    ///     ctx.set_meta("$statusCode", json!(201));
    ///     Ok::<Value, Error>(json!({"id": 1}))
    /// }));
    /// broker.add_service(users).await?;
    /// broker.start().await?;
    ///
    /// let root = Context::root(&broker, Some("req-1".into()), JsonMap::new());
    /// let _: Value = root.call("users.create", json!({})).await?;
    /// assert_eq!(root.meta_value("$statusCode"), Some(json!(201)));
    /// broker.stop().await
    /// # }
    /// ```
    pub fn root(broker: &Broker, request_id: Option<String>, meta: JsonMap) -> Context {
        Context::new(ContextInner {
            broker: broker.clone(),
            id: OnceLock::new(),
            request_id,
            parent_id: None,
            level: 1,
            caller: None,
            node_id: None,
            // No serializing for a root's `null` params.
            params: Params::from_payload(crate::payload::null_payload()),
            meta: Mutex::new(meta),
            headers: JsonMap::new(),
            response_headers: Mutex::new(JsonMap::new()),
            action: None,
            service: None,
            event: None,
            deadline: None,
            trace: crate::trace::TraceState::default(),
            accepts_typed_reply: false,
            reply: Mutex::new(None),
            caller_keeps_handle: false,
        })
    }

    /// A root context that continues a W3C trace begun outside the cluster (an HTTP request's
    /// `traceparent` and `tracestate` headers): its calls join that trace — the trace ID
    /// becomes the chain's request ID, the outside span the parent of the calls' spans, its
    /// `sampled` flag their sampling decision. A `traceparent` that does not parse gives a
    /// plain [`Context::root`] with `request_id`.
    pub fn root_from_traceparent(
        broker: &Broker,
        traceparent: &str,
        tracestate: Option<&str>,
        request_id: Option<String>,
        meta: JsonMap,
    ) -> Context {
        let Some(tp) = crate::trace::propagation::parse_traceparent(traceparent) else {
            return Context::root(broker, request_id, meta);
        };
        let trace = crate::trace::TraceState::new(Some(tp.sampled));
        if let Some(state) = tracestate {
            trace.set_w3c_state(state.to_owned());
        }
        let id = OnceLock::new();
        let _ = id.set(tp.parent_id);
        Context::new(ContextInner {
            broker: broker.clone(),
            id,
            request_id: Some(tp.trace_id),
            parent_id: None,
            level: 1,
            caller: None,
            node_id: None,
            params: Params::from_payload(crate::payload::null_payload()),
            meta: Mutex::new(meta),
            headers: JsonMap::new(),
            response_headers: Mutex::new(JsonMap::new()),
            action: None,
            service: None,
            event: None,
            deadline: None,
            trace,
            accepts_typed_reply: false,
            reply: Mutex::new(None),
            caller_keeps_handle: false,
        })
    }

    /// The params (for events, the payload).
    pub fn params(&self) -> &Value {
        self.0.params.value()
    }

    /// The params as the JSON text they came in (no parsing).
    pub fn params_raw(&self) -> &serde_json::value::RawValue {
        self.0.params.raw()
    }

    /// The params deserialized into `T`; a mismatch is a `ValidationError` whose `data` names
    /// the offending field, in Moleculer's shape.
    pub fn params_as<T: DeserializeOwned>(&self) -> Result<T, Error> {
        self.0
            .params
            .deserialize(self.0.action.as_deref(), self.node_id())
            .map_err(|err| self.explain_rejected_params(err))
    }

    /// A handler rejected its params: when its action publishes a `params` schema, the
    /// answer lists every problem as fastest-validator would, not only serde's first one.
    /// (Only on this error path, so a call that passes pays nothing for it.)
    fn explain_rejected_params(&self, err: Error) -> Error {
        if err.kind() != crate::error::ErrorKind::Validation {
            return err;
        }
        let Some(action) = self.0.action.as_deref() else {
            return err;
        };
        let Some(checker) = self
            .0
            .broker
            .inner
            .registry
            .local_action(action)
            .and_then(|local| local.params_checker.clone())
        else {
            return err;
        };
        let problems = checker.check(self.params());
        if problems.is_empty() {
            return err;
        }
        crate::validation::rejected(problems, action, self.node_id())
    }

    /// A copy of the meta.
    pub fn meta(&self) -> JsonMap {
        let meta = lock(&self.0.meta);
        // Most calls carry no meta: a new empty map is cheaper than cloning one.
        if meta.is_empty() {
            return JsonMap::new();
        }
        meta.clone()
    }

    /// One meta value.
    pub fn meta_value(&self, key: &str) -> Option<Value> {
        lock(&self.0.meta).get(key).cloned()
    }

    /// Sets one meta value; it travels down nested calls and back to the caller.
    pub fn set_meta(&self, key: impl Into<String>, value: Value) {
        lock(&self.0.meta).insert(key.into(), value);
    }

    /// A copy of this context with other params (for `before` hooks); same identity, and a
    /// snapshot of the meta that the caller merges back.
    pub(crate) fn with_params(&self, params: Value) -> Context {
        let inner = &self.0;
        let id = OnceLock::new();
        let _ = id.set(self.id().to_owned());
        Context::new(ContextInner {
            broker: inner.broker.clone(),
            id,
            request_id: inner.request_id.clone(),
            parent_id: inner.parent_id.clone(),
            level: inner.level,
            caller: inner.caller.clone(),
            node_id: inner.node_id.clone(),
            params: Params::from_value(params),
            meta: Mutex::new(self.meta()),
            headers: inner.headers.clone(),
            response_headers: Mutex::new(JsonMap::new()),
            action: inner.action.clone(),
            service: inner.service.clone(),
            event: inner.event.clone(),
            deadline: inner.deadline,
            trace: inner.trace.copy(),
            accepts_typed_reply: false,
            reply: Mutex::new(None),
            caller_keeps_handle: false,
        })
    }

    /// The caller's params value, moved out, when it is a `T` (a local call made with
    /// [`Broker::call_owned`](crate::Broker::call_owned)). The value moves without any JSON
    /// when nothing but the handler can see these params; otherwise its JSON is made first.
    pub(crate) fn take_typed_params<T: 'static>(&self, handler_sees_ctx: bool) -> Option<T> {
        let own_handles = 1 + usize::from(self.0.caller_keeps_handle);
        let shared = handler_sees_ctx
            || Arc::strong_count(&self.0) > own_handles
            || Arc::weak_count(&self.0) > 0;
        self.0.params.take(shared)
    }

    /// Whether the caller takes the handler's result as a value.
    pub(crate) fn accepts_typed_reply(&self) -> bool {
        self.0.accepts_typed_reply
    }

    /// Hands the handler's result to the caller as a value.
    pub(crate) fn set_typed_reply(&self, value: TypedValue) {
        *self.0.reply.lock().unwrap_or_else(PoisonError::into_inner) = Some(value);
    }

    /// The handler's result, if it was handed over as a value.
    pub(crate) fn take_typed_reply(&self) -> Option<TypedValue> {
        if !self.0.accepts_typed_reply {
            return None;
        }
        self.0
            .reply
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Whether both handles are the same context.
    pub(crate) fn same_as(&self, other: &Context) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    pub(crate) fn take_meta(&self) -> JsonMap {
        std::mem::take(&mut *lock(&self.0.meta))
    }

    pub(crate) fn merge_meta(&self, other: JsonMap) {
        if other.is_empty() {
            return;
        }
        let mut meta = lock(&self.0.meta);
        for (k, v) in other {
            meta.insert(k, v);
        }
    }

    /// The headers of this call (protocol 5); they do not travel to nested calls.
    pub fn headers(&self) -> &JsonMap {
        &self.0.headers
    }

    /// Sets a response header (protocol 5), sent back with the result.
    pub fn set_response_header(&self, key: impl Into<String>, value: Value) {
        lock(&self.0.response_headers).insert(key.into(), value);
    }

    pub(crate) fn take_response_headers(&self) -> JsonMap {
        std::mem::take(&mut *lock(&self.0.response_headers))
    }

    /// The context ID (unique per call or delivery).
    pub fn id(&self) -> &str {
        self.0.id.get_or_init(crate::util::generate_uid)
    }

    /// The ID of the whole call chain.
    pub fn request_id(&self) -> &str {
        match &self.0.request_id {
            Some(id) => id,
            None => self.id(),
        }
    }

    /// The parent context's ID; `None` at the root of a chain.
    pub fn parent_id(&self) -> Option<&str> {
        self.0.parent_id.as_deref()
    }

    /// The depth in the call chain, 1 for a root call.
    pub fn level(&self) -> u32 {
        self.0.level
    }

    /// The full name of the calling service, if the call came from a service.
    pub fn caller(&self) -> Option<&str> {
        self.0.caller.as_deref()
    }

    /// The node the call or event came from.
    pub fn node_id(&self) -> &str {
        match &self.0.node_id {
            Some(node) => node,
            None => self.0.broker.node_id(),
        }
    }

    /// The full action name being served, for action contexts.
    pub fn action(&self) -> Option<&str> {
        self.0.action.as_deref()
    }

    /// The full name of the service whose handler runs.
    pub fn service(&self) -> Option<&str> {
        self.0.service.as_deref()
    }

    /// The event name, for event contexts.
    pub fn event_name(&self) -> Option<&str> {
        self.0.event.as_ref().map(|e| e.name.as_str())
    }

    /// How the event was sent, for event contexts.
    pub fn event_type(&self) -> Option<EventType> {
        self.0.event.as_ref().map(|e| e.event_type)
    }

    /// The groups the event was sent to, if it named any.
    pub fn event_groups(&self) -> Option<&[String]> {
        self.0.event.as_ref().and_then(|e| e.groups.as_deref())
    }

    /// What is left of this chain's timeout budget, if it has one.
    pub fn remaining_time(&self) -> Option<Duration> {
        self.0
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// When this context's timeout budget runs out, if it has one.
    pub fn deadline(&self) -> Option<Instant> {
        self.0.deadline
    }

    /// The broker running this handler.
    pub fn broker(&self) -> &Broker {
        &self.0.broker
    }

    /// Calls an action as a child of this context: level + 1, same chain, meta passed down and
    /// merged back, and at most the remaining timeout.
    pub async fn call<R: DeserializeOwned + 'static>(
        &self,
        action: &str,
        params: impl Serialize,
    ) -> Result<R, Error> {
        self.call_with(action, params, CallOptions::default()).await
    }

    /// [`Context::call`] with options.
    pub async fn call_with<R: DeserializeOwned + 'static>(
        &self,
        action: &str,
        params: impl Serialize,
        options: CallOptions,
    ) -> Result<R, Error> {
        let params = Params::from_payload(to_payload(&params)?);
        self.0
            .broker
            .call_params(action, params, options, Some(self))
            .await?
            .into_type()
    }

    /// [`Context::call`] with params it owns: see [`Broker::call_owned`].
    pub async fn call_owned<P, R>(&self, action: &str, params: P) -> Result<R, Error>
    where
        P: Serialize + Send + 'static,
        R: DeserializeOwned + 'static,
    {
        self.call_owned_with(action, params, CallOptions::default())
            .await
    }

    /// [`Context::call_owned`] with options.
    pub async fn call_owned_with<P, R>(
        &self,
        action: &str,
        params: P,
        options: CallOptions,
    ) -> Result<R, Error>
    where
        P: Serialize + Send + 'static,
        R: DeserializeOwned + 'static,
    {
        self.0
            .broker
            .call_params(action, Params::owned(params), options, Some(self))
            .await?
            .into_type()
    }

    /// Runs several calls concurrently as children of this context; the first failure fails
    /// the whole.
    pub async fn mcall(&self, calls: Vec<crate::McallItem>) -> Result<Vec<Value>, Error> {
        self.0
            .broker
            .mcall_with_parent(calls, Some(self.clone()), false)
            .await
            .into_iter()
            .collect()
    }

    /// Emits an event as a child of this context.
    pub async fn emit(&self, event: &str, data: impl Serialize) -> Result<(), Error> {
        self.emit_with(event, data, EmitOptions::default()).await
    }

    /// [`Context::emit`] with options (groups, meta merged over this context's, headers).
    pub async fn emit_with(
        &self,
        event: &str,
        data: impl Serialize,
        options: EmitOptions,
    ) -> Result<(), Error> {
        let data = to_payload(&data)?;
        self.0
            .broker
            .emit_value(event, data, options, EventType::Emit, Some(self))
            .await
    }

    /// Broadcasts an event as a child of this context.
    pub async fn broadcast(&self, event: &str, data: impl Serialize) -> Result<(), Error> {
        self.broadcast_with(event, data, EmitOptions::default())
            .await
    }

    /// [`Context::broadcast`] with options.
    pub async fn broadcast_with(
        &self,
        event: &str,
        data: impl Serialize,
        options: EmitOptions,
    ) -> Result<(), Error> {
        let data = to_payload(&data)?;
        self.0
            .broker
            .emit_value(event, data, options, EventType::Broadcast, Some(self))
            .await
    }
}
