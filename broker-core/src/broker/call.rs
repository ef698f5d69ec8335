//! Calls: choosing the endpoint, distributing the timeout budget, running a local handler or
//! sending a REQ and awaiting its RES.

use super::Broker;
use crate::context::{CallOptions, Context, ContextInner};
use crate::error::Error;
use crate::packet::{JsonMap, Packet, RequestPacket};
use crate::registry::{LocalAction, Target};
use crate::strategy::Request;
use crate::transit::Pending;
use crate::util::{generate_uid, CatchPanic};
use serde_json::Value;
use std::sync::{Arc, Mutex, OnceLock};
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
    /// Whether the final meta goes back to a parent context.
    merge_back: bool,
}

impl Broker {
    /// A call with its fault tolerance: retries (re-balanced each time, with exponential
    /// back-off, only for errors the policy's check accepts) and then the fallback.
    pub(crate) async fn call_value(
        &self,
        action: &str,
        params: Value,
        mut options: CallOptions,
        parent: Option<&Context>,
    ) -> Result<Value, Error> {
        let policy = &self.inner.config.retry_policy;
        let retries = options
            .retries
            .or(policy.enabled.then_some(policy.retries))
            .unwrap_or(0);
        let fallback = options.fallback.take();
        let result = if retries == 0 {
            self.call_once(action, params, options, parent).await
        } else {
            let mut attempt = 0;
            loop {
                let result = self
                    .call_once(action, params.clone(), options.clone(), parent)
                    .await;
                match result {
                    Err(err) if attempt < retries && (policy.check)(&err) => {
                        tracing::debug!(action, attempt, %err, "retrying call");
                        tokio::time::sleep(policy.delay_for(attempt)).await;
                        attempt += 1;
                    }
                    other => break other,
                }
            }
        };
        match (result, fallback) {
            (Err(err), Some(fallback)) => fallback.apply(err),
            (result, _) => result,
        }
    }

    async fn call_once(
        &self,
        action: &str,
        params: Value,
        options: CallOptions,
        parent: Option<&Context>,
    ) -> Result<Value, Error> {
        let level = parent.map_or(1, |p| p.level() + 1);
        let max = self.inner.config.max_call_level;
        if max > 0 && level > max {
            return Err(Error::max_call_level(self.node_id(), level));
        }
        let mut meta = parent.map(Context::meta).unwrap_or_default();
        if let Some(extra) = options.meta {
            meta.extend(extra);
        }
        let request = Request {
            name: action,
            params: &params,
            meta: &meta,
        };
        let target =
            self.inner
                .registry
                .select_action(action, options.node_id.as_deref(), &request)?;
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
            request_id: options
                .request_id
                .or_else(|| parent.map(|p| p.request_id().to_owned())),
            parent_id: parent.map(|p| p.id().to_owned()),
            merge_back: parent.is_some(),
        };
        let (result, meta_back) = match target {
            Target::Local(local) => self.call_local(local, params, shape).await,
            // Boxed: the remote path's state (a whole REQUEST packet) would otherwise
            // inflate every local call's future, which is moved on each poll setup.
            Target::Remote { node_id, .. } => {
                Box::pin(self.call_remote(action, node_id, params, shape)).await
            }
        };
        if let (Some(parent), Some(meta)) = (parent, meta_back) {
            parent.merge_meta(meta);
        }
        result
    }

    async fn call_local(
        &self,
        action: Arc<LocalAction>,
        params: Value,
        shape: CallShape,
    ) -> (Result<Value, Error>, Option<JsonMap>) {
        let ctx = Context::new(ContextInner {
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
        });
        let result = self.run_action(&action, ctx.clone(), shape.timeout).await;
        (result, shape.merge_back.then(|| ctx.meta()))
    }

    /// Runs a local handler under the in-flight tracker, its timeout and a panic guard.
    pub(crate) async fn run_action(
        &self,
        action: &LocalAction,
        ctx: Context,
        timeout: Option<Duration>,
    ) -> Result<Value, Error> {
        let _in_flight = self.inner.in_flight.enter();
        let run = CatchPanic::new((action.handler)(ctx), "action handler");
        let result = match timeout {
            Some(t) => match tokio::time::timeout(t, run).await {
                Ok(result) => result,
                Err(_) => Err(Error::request_timeout(&action.name, self.node_id())),
            },
            None => run.await,
        };
        result.map_err(|e| e.or_node_id(self.node_id()))
    }

    async fn call_remote(
        &self,
        action: &str,
        node_id: Arc<str>,
        params: Value,
        shape: CallShape,
    ) -> (Result<Value, Error>, Option<JsonMap>) {
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
        let headers = transit
            .protocol
            .has_headers()
            .then(|| shape.headers.unwrap_or_default());
        let packet = Packet::Request(RequestPacket {
            request_id: Some(shape.request_id.unwrap_or_else(|| id.clone())),
            id: id.clone(),
            action: action.to_owned(),
            params,
            meta: shape.meta,
            headers,
            timeout: Some(shape.timeout.map_or(0, |t| t.as_millis() as u64)),
            level: Some(shape.level.into()),
            tracing: None,
            parent_id: shape.parent_id,
            caller: shape.caller,
            stream: Some(false),
            seq: None,
            ver: transit.ver(),
            sender: self.node_id().to_owned(),
        });
        if let Err(err) = transit.publish(&packet, Some(&node_id)) {
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
            (Ok(response.data.unwrap_or(Value::Null)), meta)
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
