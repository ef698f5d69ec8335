//! `call`, `dcall`, `emit`, `broadcast` and `broadcastLocal`.

use super::call_timeout;
use crate::error::CommandError;
use crate::output::{Response, Sent};
use crate::parse::{CallRequest, EmitRequest};
use broker_core::{Broker, CallOptions, EmitOptions, EventType};
use serde_json::Value;
use tokio::time::Instant;

/// The options one call of `request` goes out with.
pub(crate) fn call_options(broker: &Broker, request: &CallRequest) -> CallOptions {
    let mut options = CallOptions::new();
    if let Some(timeout) = call_timeout(broker, request.timeout) {
        options = options.timeout(timeout);
    }
    if let Some(node) = &request.node_id {
        options = options.node_id(node.clone());
    }
    if !request.meta.is_empty() {
        options = options.meta(Value::Object(request.meta.clone()));
    }
    options
}

/// Makes the call and times it.
pub(crate) async fn call(broker: &Broker, request: CallRequest) -> Result<Response, CommandError> {
    let options = call_options(broker, &request);
    let started = Instant::now();
    let result: Value = broker
        .call_with(&request.action, &request.params, options)
        .await?;
    Ok(Response {
        action: request.action,
        node_id: request.node_id,
        params: request.params,
        result,
        elapsed: started.elapsed(),
    })
}

/// Sends the event.
pub(crate) async fn emit(broker: &Broker, request: EmitRequest) -> Result<Sent, CommandError> {
    let mut options = EmitOptions::new();
    if let Some(groups) = &request.groups {
        options = options.groups(groups.clone());
    }
    if !request.meta.is_empty() {
        options = options.meta(Value::Object(request.meta.clone()));
    }
    match request.kind {
        EventType::Emit => {
            broker
                .emit_with(&request.event, &request.data, options)
                .await?
        }
        EventType::Broadcast => {
            broker
                .broadcast_with(&request.event, &request.data, options)
                .await?
        }
        EventType::BroadcastLocal => {
            broker
                .broadcast_local(&request.event, &request.data)
                .await?
        }
    }
    Ok(Sent {
        kind: request.kind,
        event: request.event,
        data: request.data,
    })
}
