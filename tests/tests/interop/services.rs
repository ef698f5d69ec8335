//! The Rust side's test services: the mirror images of `jsmath` in `interop/peer.js`.

use broker_core::{schemars, ActionDef, Context, Error, EventDef, JsonSchema, ServiceSchema};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a context looks like from inside a Rust handler, in the same keys `peer.js` reports.
pub fn ctx_info(ctx: &Context) -> Value {
    json!({
        "id": ctx.id(),
        "requestID": ctx.request_id(),
        "parentID": ctx.parent_id(),
        "level": ctx.level(),
        "caller": ctx.caller(),
        "nodeID": ctx.node_id(),
        "headers": Value::Object(ctx.headers().clone()),
        "meta": Value::Object(ctx.meta()),
        "params": ctx.params(),
    })
}

/// Typed params: JSON numbers and strings from JS must land in Rust types.
#[derive(Debug, Deserialize, JsonSchema)]
struct AddParams {
    a: f64,
    b: f64,
    #[serde(default)]
    label: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
struct AddResult {
    sum: f64,
    label: Option<String>,
    node: String,
}

#[derive(Debug, Deserialize)]
struct ChainParams {
    action: String,
    #[serde(default)]
    params: Value,
    #[serde(default)]
    timeout_ms: Option<u64>,
}

/// The error a `rmath.fail` call raises, chosen by `kind`.
pub fn rust_error(kind: &str) -> Error {
    match kind {
        "validation" => Error::validation(
            "Bad rust params",
            vec![
                json!({"type": "required", "field": "x", "message": "The 'x' field is required."}),
            ],
        ),
        "client" => {
            Error::client("Bad rust thing", 418, "BAD_RUST_THING").with_data(json!({"y": 2}))
        }
        _ => Error::new("MyError", "custom rust failure")
            .with_code(455)
            .with_type("MY_RUST_TYPE")
            .with_data(json!({"deep": {"list": [1, 2, 3]}, "text": "ü"})),
    }
}

/// `shared.where`, the same action as the JS peer's `shared` service: it answers which node
/// served the call.
pub fn shared() -> ServiceSchema {
    ServiceSchema::new("shared").action(ActionDef::new("where", |ctx: Context| async move {
        Ok(json!({"node": ctx.broker().node_id(), "params": ctx.params()}))
    }))
}

/// `rmath`: `add` (typed), `info` (context echo, marks meta), `chain` (nested call), `fail`,
/// `slow`, `emit` (an event from inside a context).
pub fn rmath() -> ServiceSchema {
    ServiceSchema::new("rmath")
        .action(
            ActionDef::new("add", |ctx: Context| async move {
                let p: AddParams = ctx.params_as()?;
                let out = AddResult {
                    sum: p.a + p.b,
                    label: p.label,
                    node: ctx.broker().node_id().to_owned(),
                };
                Ok(serde_json::to_value(out)?)
            })
            // Published in INFO under keys of their own, which JS nodes carry along.
            .params_schema_of::<AddParams>()
            .response_schema_of::<AddResult>()
            .description("Adds a and b."),
        )
        .action(ActionDef::new("echo", |ctx: Context| async move {
            Ok(ctx.params().clone())
        }))
        .action(ActionDef::new("info", |ctx: Context| async move {
            let info = ctx_info(&ctx);
            ctx.set_meta("rustSeen", json!(true));
            Ok(info)
        }))
        .action(ActionDef::new("chain", |ctx: Context| async move {
            let p: ChainParams = ctx.params_as()?;
            let before = ctx_info(&ctx);
            ctx.set_meta("rustChain", json!(true));
            let mut opts = broker_core::CallOptions::new();
            if let Some(ms) = p.timeout_ms {
                opts = opts.timeout(Duration::from_millis(ms));
            }
            let params = if p.params.is_null() {
                json!({})
            } else {
                p.params
            };
            let nested: Value = ctx.call_with(&p.action, params, opts).await?;
            Ok(json!({"ctx": before, "nested": nested, "metaAfter": Value::Object(ctx.meta())}))
        }))
        .action(ActionDef::new("fail", |ctx: Context| async move {
            let kind = ctx.params()["kind"].as_str().unwrap_or("custom").to_owned();
            Err::<Value, _>(rust_error(&kind))
        }))
        .action(ActionDef::new("slow", |ctx: Context| async move {
            let ms = ctx.params()["ms"].as_u64().unwrap_or(1000);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(json!("done"))
        }))
}

/// A `v2.rver` service, to check versioned full names across languages.
pub fn rver() -> ServiceSchema {
    ServiceSchema::new("rver")
        .version(2)
        .settings(json!({"answer": 42}))
        .metadata(json!({"lang": "rust"}))
        .action(ActionDef::new("hi", |ctx: Context| async move {
            Ok(json!(format!("hi from {}", ctx.broker().node_id())))
        }))
}

/// Events a Rust node's recording handlers received.
pub type Received = Arc<Mutex<Vec<Value>>>;

pub fn received(r: &Received) -> Vec<Value> {
    r.lock().map(|v| v.clone()).unwrap_or_default()
}

/// A service named `service` with one recording handler per `(event, group)`.
pub fn recorder(service: &str, handlers: &[(&str, Option<&str>)], sink: Received) -> ServiceSchema {
    let mut schema = ServiceSchema::new(service);
    for (event, group) in handlers {
        let sink = sink.clone();
        let group_name = group.unwrap_or(service).to_owned();
        let mut def = EventDef::new(*event, move |ctx: Context| {
            let sink = sink.clone();
            let group = group_name.clone();
            async move {
                let entry = json!({
                    "event": ctx.event_name(),
                    "group": group,
                    "eventType": ctx.event_type().map(|t| t.as_str()),
                    "eventGroups": ctx.event_groups(),
                    "params": ctx.params(),
                    "meta": Value::Object(ctx.meta()),
                    "nodeID": ctx.node_id(),
                    "level": ctx.level(),
                    "requestID": ctx.request_id(),
                    "parentID": ctx.parent_id(),
                });
                if let Ok(mut v) = sink.lock() {
                    v.push(entry);
                }
                Ok(())
            }
        });
        if let Some(g) = group {
            def = def.group(*g);
        }
        schema = schema.event(def);
    }
    schema
}
