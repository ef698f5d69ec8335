//! Calls: choosing the endpoint, distributing the timeout budget, running a local handler or
//! sending a REQ and awaiting its RES.

use super::{Broker, BrokerConfig, BrokerInner};
use crate::context::{CallOptions, Context, ContextInner};
use crate::error::Error;
use crate::middleware::{self, ApplyFallback, Call, CallHandler, Middleware, Retry};
use crate::packet::{JsonMap, Packet, RequestPacket};
use crate::payload::{null_payload, Params, Payload};
use crate::registry::{LocalAction, Target};
use crate::strategy::Request;
use crate::trace::CallTrace;
use crate::transit::Pending;
use crate::transporter::BalancedTopic;
use crate::typed::Reply;
use crate::util::{generate_uid, CatchPanic};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// What a call inherits from its parent context and its options.
struct CallShape {
    level: u32,
    timeout: Option<Duration>,
    meta: JsonMap,
    headers: Option<JsonMap>,
    caller: Option<String>,
    request_id: Option<String>,
    parent_id: Option<String>,
    trace: CallTrace,
}

/// A call ready to run: where it goes, and what to do after.
struct Prepared {
    route: Route,
    /// The endpoint's node, when circuit breakers are on.
    breaker_node: Option<Arc<str>>,
    /// Whether the final meta goes back to a parent context.
    merge_back: bool,
}

enum Route {
    /// A handler of this node, with the context it will get.
    Local(Arc<LocalAction>, Context),
    /// A REQ to another node.
    Remote(Box<RemoteCall>),
}

struct RemoteCall {
    /// The chosen node; empty when the bus balances the call.
    node_id: Arc<str>,
    params: Params,
    shape: CallShape,
    /// Published to the action's balanced topic for the bus to hand to one node
    /// (`disable_balancer`), rather than to `node_id`.
    balanced: bool,
}

/// Builds the call chain once per broker: user middlewares (outermost first), then the
/// built-in fallback and retry, then balancing and the endpoint call.
pub(super) fn chain(weak: Weak<BrokerInner>, config: &BrokerConfig) -> CallHandler {
    let base: CallHandler = Arc::new(move |call: Call| {
        let weak = weak.clone();
        Box::pin(async move {
            let inner = weak
                .upgrade()
                .ok_or_else(|| Error::service_not_available(&call.action, None))?;
            Broker { inner }
                .call_once(
                    &call.action,
                    Params::from_payload(call.params),
                    call.options,
                    call.parent.as_ref(),
                )
                .await?
                .into_payload()
        })
    });
    let builtins: [Arc<dyn Middleware>; 2] = [
        Arc::new(ApplyFallback),
        Arc::new(Retry {
            policy: config.retry_policy.clone(),
        }),
    ];
    let inner = middleware::wrap_call(&builtins, base);
    middleware::wrap_call(&config.middlewares, inner)
}

/// Whether no user middleware wraps calls and no retry policy is on: then a call without
/// per-call retries or fallback can skip the chain (and its allocations) entirely.
pub(super) fn calls_are_plain(config: &BrokerConfig) -> bool {
    let probe: CallHandler = Arc::new(|call: Call| {
        Box::pin(async move { Err(Error::service_not_available(&call.action, None)) })
    });
    !config.retry_policy.enabled
        && config
            .middlewares
            .iter()
            .all(|mw| Arc::ptr_eq(&mw.wrap_call(probe.clone()), &probe))
}

impl Broker {
    /// A call, through the call chain (middlewares, fallback, retry) down to `call_once`.
    pub(crate) async fn call_value(
        &self,
        action: &str,
        params: Payload,
        options: CallOptions,
        parent: Option<&Context>,
    ) -> Result<Payload, Error> {
        self.call_params(action, Params::from_payload(params), options, parent)
            .await?
            .into_payload()
    }

    /// [`Broker::call_value`] with params that may be a moved value, and a result that may
    /// be one (see [`crate::typed`]).
    pub(crate) async fn call_params(
        &self,
        action: &str,
        params: Params,
        options: CallOptions,
        parent: Option<&Context>,
    ) -> Result<Reply, Error> {
        if self.refuses_work(parent.is_some()) {
            return Err(Error::broker_stopped_call(action, self.node_id()));
        }
        if self.inner.tracer.is_some() {
            let span = crate::trace::caller_span(action, parent);
            // Boxed: only calls a subscriber records carry the instrumented future.
            if !span.is_disabled() {
                return Box::pin(tracing::Instrument::instrument(
                    self.call_untraced(action, params, options, parent),
                    span,
                ))
                .await;
            }
        }
        // Straight to `call_once` when it can: one future less to build and move per call.
        if self.is_plain(&options) {
            return self.call_once(action, params, options, parent).await;
        }
        self.call_untraced(action, params, options, parent).await
    }

    /// Whether a call can skip the chain: no middleware wraps calls, no retries or fallback.
    fn is_plain(&self, options: &CallOptions) -> bool {
        self.inner.plain_calls && options.retries.is_none() && options.fallback.is_none()
    }

    async fn call_untraced(
        &self,
        action: &str,
        params: Params,
        options: CallOptions,
        parent: Option<&Context>,
    ) -> Result<Reply, Error> {
        if self.is_plain(&options) {
            return self.call_once(action, params, options, parent).await;
        }
        // The chain's middlewares see JSON.
        (self.inner.call_chain)(Call {
            action: action.to_owned(),
            params: params.into_payload()?,
            options,
            parent: parent.cloned(),
        })
        .await
        .map(Reply::Json)
    }

    async fn call_once(
        &self,
        action: &str,
        params: Params,
        options: CallOptions,
        parent: Option<&Context>,
    ) -> Result<Reply, Error> {
        // Everything before the handler runs is synchronous, so none of its temporaries
        // (options, meta, the selection) live in this future: a small future is cheap to move.
        let prepared = self.prepare_call(action, params, options, parent);
        let breakers = &self.inner.breakers;
        if breakers.enabled() {
            // Selection may have moved breakers to half-open, whether or not it found one.
            // Boxed: broadcasting is a large future that plain calls should not carry.
            Box::pin(self.announce_breaker_changes()).await;
        }
        let prepared = prepared?;
        let (result, meta_back) = match prepared.route {
            Route::Local(local, ctx) => {
                let result = self.run_action(&local, ctx.clone()).await;
                let result = result.map(|json| match ctx.take_typed_reply() {
                    Some(value) => Reply::Typed(value),
                    None => Reply::Json(json),
                });
                (result, prepared.merge_back.then(|| ctx.meta()))
            }
            // Boxed: the remote path's state (a whole REQUEST packet) would otherwise
            // inflate every local call's future.
            Route::Remote(remote) => {
                let RemoteCall {
                    node_id,
                    params,
                    shape,
                    balanced,
                } = *remote;
                let cell = self.inner.metrics.builtin().map(|m| m.remote_cell(action));
                let timer = cell
                    .as_ref()
                    .map(|c| c.begin(shape.caller.as_deref(), shape.level));
                let (result, meta) =
                    Box::pin(self.call_remote(action, node_id, params, shape, balanced)).await;
                let out = (result.map(Reply::Json), meta);
                if let Some(timer) = timer {
                    timer.finish(out.0.as_ref().err());
                }
                out
            }
        };
        if let Some(node) = &prepared.breaker_node {
            breakers.record(node, action, result.as_ref().err());
            Box::pin(self.announce_breaker_changes()).await;
        }
        if let (Some(parent), Some(meta)) = (parent, meta_back) {
            parent.merge_meta(meta);
        }
        result
    }

    /// Checks the call level, merges meta, selects the endpoint, works out the timeout and,
    /// for a local endpoint, builds the handler's context.
    fn prepare_call(
        &self,
        action: &str,
        params: Params,
        options: CallOptions,
        parent: Option<&Context>,
    ) -> Result<Prepared, Error> {
        let level = parent.map_or(1, |p| p.level() + 1);
        let max = self.inner.config.max_call_level;
        if max > 0 && level > max {
            return Err(Error::max_call_level(self.node_id(), level));
        }
        let mut meta = parent.map(Context::meta).unwrap_or_default();
        if let Some(extra) = options.meta {
            meta.extend(extra);
        }
        let mut request_id = options
            .request_id
            .or_else(|| parent.map(|p| p.request_id().to_owned()));
        let mut parent_id = parent.map(Context::span_parent_id);
        let mut trace = CallTrace::of(parent);
        if self.inner.tracer.is_some() && parent.is_none() {
            // A chain started here from a W3C `traceparent` (say, an HTTP gateway's).
            if let Some(headers) = &options.headers {
                let state = crate::trace::incoming(
                    true,
                    headers,
                    &meta,
                    &mut request_id,
                    &mut parent_id,
                    None,
                );
                trace = CallTrace::from_state(&state);
            }
        }
        let pinned = options.node_id.is_some();
        let request = Request {
            name: action,
            params: &params,
            meta: &meta,
        };
        let breakers = &self.inner.breakers;
        let admits = |node: &str| breakers.admits(node, action);
        let target = self
            .inner
            .registry
            .select_action(
                action,
                options.node_id.as_deref(),
                &request,
                breakers
                    .enabled()
                    .then_some(&admits as &dyn Fn(&str) -> bool),
            )
            .map_err(|err| self.explain_not_found(err))?;
        if let (Some(checks), Target::Remote { node_id, .. }) = (&self.inner.remote_params, &target)
        {
            let state = self.inner.registry.read();
            checks.check(&state, node_id, action, &params, self.node_id())?;
        }
        let endpoint_timeout = match &target {
            Target::Local(a) => a.timeout,
            Target::Remote { timeout, .. } => *timeout,
        };
        let mut timeout = options
            .timeout
            .or(endpoint_timeout)
            .or(self.inner.config.request_timeout);
        if let Some(deadline) = parent.and_then(Context::deadline) {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                let node = match &target {
                    Target::Local(_) => self.node_id(),
                    Target::Remote { node_id, .. } => node_id,
                };
                return Err(Error::request_skipped(action, node));
            }
            timeout = Some(timeout.map_or(remaining, |t| t.min(remaining)));
        }
        let shape = CallShape {
            level,
            timeout,
            meta,
            headers: options.headers,
            caller: options
                .caller
                .or_else(|| parent.and_then(|p| p.service().map(str::to_owned))),
            request_id,
            parent_id,
            trace,
        };
        // With the bus balancing, a call not pinned to a node goes to the action's balanced
        // topic even when this node serves it (as in Moleculer); the selection above only
        // checked that someone serves it. Actions not published to other nodes stay local.
        let bus_balanced = !pinned
            && self.inner.transit.as_ref().is_some_and(|t| t.bus_balances)
            && match &target {
                Target::Local(a) => a.visibility.is_remote_callable(),
                Target::Remote { .. } => true,
            };
        if bus_balanced {
            return Ok(Prepared {
                route: Route::Remote(Box::new(RemoteCall {
                    node_id: Arc::from(""),
                    params,
                    shape,
                    balanced: true,
                })),
                breaker_node: None,
                merge_back: parent.is_some(),
            });
        }
        let breaker_node: Option<Arc<str>> = breakers.enabled().then(|| match &target {
            Target::Local(_) => Arc::from(self.node_id()),
            Target::Remote { node_id, .. } => node_id.clone(),
        });
        if let Some(node) = &breaker_node {
            breakers.started(node, action);
        }
        let route = match target {
            Target::Local(local) => {
                let ctx = self.local_context(&local, params, shape);
                Route::Local(local, ctx)
            }
            Target::Remote { node_id, .. } => Route::Remote(Box::new(RemoteCall {
                node_id,
                params,
                shape,
                balanced: false,
            })),
        };
        Ok(Prepared {
            route,
            breaker_node,
            merge_back: parent.is_some(),
        })
    }

    /// A `ServiceNotFoundError` while nodes of another protocol version are on the bus: the
    /// service may well be there, on a node this one cannot hear. Say so in the message.
    fn explain_not_found(&self, err: Error) -> Error {
        if err.kind() != crate::ErrorKind::ServiceNotFound {
            return err;
        }
        let others = self.other_protocol_nodes();
        if others.is_empty() {
            return err;
        }
        let mut versions: Vec<&str> = others.iter().map(|(_, v)| v.as_str()).collect();
        versions.sort_unstable();
        versions.dedup();
        let hints: Vec<String> = versions
            .iter()
            .map(|ver| {
                let nodes: Vec<&str> = others
                    .iter()
                    .filter(|(_, v)| v == ver)
                    .map(|(n, _)| n.as_str())
                    .collect();
                format!(
                    "nodes speaking protocol {ver} were seen on the bus: {}; {}",
                    nodes.join(", "),
                    crate::transit::setting_for(ver)
                )
            })
            .collect();
        let message = format!("{} ({})", err.message(), hints.join("; "));
        err.with_message(message)
    }

    /// Broadcasts circuit breaker state changes, as Moleculer does.
    async fn announce_breaker_changes(&self) {
        for event in self.inner.breakers.take_events() {
            if let Err(err) = self.broadcast(event.name, event.payload).await {
                tracing::debug!(%err, event = event.name, "breaker event not broadcast");
            }
        }
    }

    fn local_context(&self, action: &LocalAction, params: Params, shape: CallShape) -> Context {
        Context::new(ContextInner {
            broker: self.clone(),
            id: OnceLock::new(),
            request_id: shape.request_id,
            parent_id: shape.parent_id,
            level: shape.level,
            caller: shape.caller,
            node_id: None,
            params,
            meta: Mutex::new(shape.meta),
            headers: shape.headers.unwrap_or_default(),
            response_headers: Mutex::new(JsonMap::new()),
            action: Some(action.name.clone()),
            service: Some(action.service.clone()),
            event: None,
            deadline: shape.timeout.map(|t| Instant::now() + t),
            trace: shape.trace.into_state(),
            accepts_typed_reply: action.result_unseen,
            reply: Mutex::new(None),
            // `call_once` keeps one to take the reply and the meta.
            caller_keeps_handle: true,
        })
    }

    /// Runs a local handler (already wrapped in its middlewares, timeout included) under the
    /// in-flight tracker and a panic guard.
    pub(crate) async fn run_action(
        &self,
        action: &LocalAction,
        ctx: Context,
    ) -> Result<Payload, Error> {
        let _in_flight = self.inner.in_flight.enter();
        // Metrics and the handler's span are measured here rather than by wrappers (one boxed
        // future and two clock reads less per call; see `trace::Observation`).
        let observed = crate::trace::Observation::begin(
            action.metrics.as_deref(),
            action.trace.as_ref(),
            &ctx,
        );
        let run = || CatchPanic::call(|| (action.handler)(ctx), "action handler");
        let result = match observed.as_ref().and_then(|o| o.log_span()) {
            Some(span) => tracing::Instrument::instrument(span.in_scope(run), span.clone()).await,
            None => run().await,
        }
        .map_err(|e| e.or_node_id(self.node_id()));
        if let Some(observed) = observed {
            observed.finish(result.as_ref().err());
        }
        result
    }

    async fn call_remote(
        &self,
        action: &str,
        node_id: Arc<str>,
        params: Params,
        shape: CallShape,
        balanced: bool,
    ) -> (Result<Payload, Error>, Option<JsonMap>) {
        let Some(transit) = &self.inner.transit else {
            return (
                Err(Error::service_not_available(action, Some(&node_id))),
                None,
            );
        };
        let id = generate_uid();
        let (tx, rx) = oneshot::channel();
        let pending = Pending {
            tx,
            node_id: node_id.clone(),
            action: action.to_owned(),
        };
        if let Err(err) =
            transit.add_pending(id.clone(), pending, self.inner.config.max_pending_requests)
        {
            return (Err(err), None);
        }
        let mut headers = transit
            .protocol
            .has_headers()
            .then(|| shape.headers.unwrap_or_default());
        let request_id = shape.request_id.unwrap_or_else(|| id.clone());
        let mut meta = shape.meta;
        if self.inner.tracer.is_some() {
            shape.trace.inject(
                &request_id,
                shape.parent_id.as_deref(),
                headers.as_mut(),
                &mut meta,
            );
        }
        let params = match params.into_payload() {
            Ok(params) => params,
            Err(err) => {
                transit.remove_pending(&id);
                return (Err(err), None);
            }
        };
        let packet = Packet::Request(RequestPacket {
            request_id: Some(request_id),
            id: id.clone(),
            action: action.to_owned(),
            params,
            meta,
            headers,
            timeout: Some(shape.timeout.map_or(0, |t| t.as_millis() as u64)),
            level: Some(shape.level.into()),
            tracing: shape.trace.sampled,
            parent_id: shape.parent_id,
            caller: shape.caller,
            stream: Some(false),
            seq: None,
            ver: transit.ver(),
            sender: self.node_id().to_owned(),
        });
        let published = if balanced {
            let topic = BalancedTopic::Request {
                action: action.to_owned(),
            };
            transit.publish_balanced(&packet, &topic)
        } else {
            transit.publish(&packet, Some(&node_id))
        };
        if let Err(err) = published {
            transit.remove_pending(&id);
            return (Err(err), None);
        }
        drop(packet);
        let outcome = match shape.timeout {
            Some(t) => match tokio::time::timeout(t, rx).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    transit.remove_pending(&id);
                    return (Err(Error::request_timeout(action, &node_id)), None);
                }
            },
            None => rx.await,
        };
        let response = match outcome {
            Ok(Ok(response)) => response,
            Ok(Err(err)) => return (Err(err), None),
            Err(_) => return (Err(Error::request_rejected(action, &node_id)), None),
        };
        let meta = Some(response.meta);
        if response.success {
            (Ok(response.data.unwrap_or_else(null_payload)), meta)
        } else {
            let err = match response.error {
                Some(wire) => Error::from_wire(wire, &response.sender),
                None => Error::new(
                    "Error",
                    "the remote node reported a failure without details",
                )
                .with_node_id(response.sender),
            };
            (Err(err), meta)
        }
    }
}
