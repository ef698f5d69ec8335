//! `#[before]`, `#[after]` and `#[error]` hooks running on a local broker: params replaced, meta
//! set, results changed, errors recovered, and Moleculer's order (the `*` hooks run first
//! before the action, last after it).

mod common;

use broker_core::{service, Broker, Context, Error, ErrorKind};
use common::{bounded, call};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

#[derive(Deserialize, Serialize)]
struct Created {
    name: String,
    checked: bool,
}

/// Every hook and action appends its name here, to check the order they ran in.
type Log = Arc<Mutex<Vec<String>>>;

struct Hooked {
    log: Log,
}

impl Hooked {
    fn record(&self, entry: &str) {
        if let Ok(mut log) = self.log.lock() {
            log.push(entry.to_owned());
        }
    }
}

#[service(name = "hooked")]
impl Hooked {
    #[action]
    async fn create(&self, ctx: Context, params: Value) -> Result<Created, Error> {
        self.record("create");
        Ok(Created {
            name: params["name"].as_str().unwrap_or_default().to_owned(),
            checked: ctx.meta_value("checked") == Some(json!(true)),
        })
    }

    #[action]
    async fn plain(&self, params: Value) -> Result<Value, Error> {
        self.record("plain");
        Ok(params)
    }

    #[action]
    async fn fail(&self) -> Result<(), Error> {
        self.record("fail");
        Err(Error::client("nope", 418, "TEAPOT"))
    }

    #[action]
    async fn boom(&self) -> Result<(), Error> {
        self.record("boom");
        Err(Error::server("boom", 500, "BOOM"))
    }

    // Declared before the `*` hooks: the broker still runs `*` first for `before`.
    #[before("create|plain")]
    async fn trim(&self, ctx: Context) -> Result<Option<Value>, Error> {
        self.record("before:create|plain");
        let name = ctx.params()["name"].as_str().unwrap_or_default().trim();
        Ok(Some(json!({ "name": name })))
    }

    #[before]
    async fn check(&self, ctx: Context) -> Result<(), Error> {
        self.record("before:*");
        ctx.set_meta("checked", json!(true));
        Ok(())
    }

    #[after("*")]
    async fn stamp(&self, result: Value) -> Result<Value, Error> {
        self.record("after:*");
        let mut result = result;
        if let Some(map) = result.as_object_mut() {
            map.insert("stamped".into(), json!(true));
        }
        Ok(result)
    }

    // Declared after `*`: the broker still runs it first, `*` last.
    #[after("create")]
    async fn shout(&self, ctx: Context, result: Created) -> Result<Created, Error> {
        self.record("after:create");
        let _ = ctx.level();
        Ok(Created {
            name: result.name.to_uppercase(),
            ..result
        })
    }

    #[error]
    async fn wrap(&self, err: Error) -> Result<Value, Error> {
        self.record("error:*");
        Err(Error::client(
            format!("wrapped: {}", err.message()),
            err.code(),
            "WRAPPED",
        ))
    }

    #[error("fail|boom")]
    async fn recover(&self, ctx: Context, err: Error) -> Result<Value, Error> {
        self.record("error:fail|boom");
        if err.code() == 418 {
            Ok(json!({ "recovered": err.message(), "level": ctx.level() }))
        } else {
            Err(err)
        }
    }
}

/// Calls `hooked.create` from an action, to see the meta the hooks set come back.
struct Caller;

#[service(name = "caller")]
impl Caller {
    #[action]
    async fn via(&self, ctx: Context) -> Result<Value, Error> {
        let created: Value = ctx.call("hooked.create", json!({ "name": "x" })).await?;
        Ok(json!({ "created": created, "checked": ctx.meta_value("checked") }))
    }
}

async fn start() -> (Broker, Log) {
    let log = Log::default();
    let broker = Broker::builder().node_id("hooks").build();
    bounded(broker.add_service(Hooked { log: log.clone() }))
        .await
        .expect("add_service");
    bounded(broker.add_service(Caller))
        .await
        .expect("add_service");
    bounded(broker.start()).await.expect("start");
    (broker, log)
}

fn take(log: &Log) -> Vec<String> {
    log.lock()
        .map(|mut l| std::mem::take(&mut *l))
        .unwrap_or_default()
}

#[tokio::test]
async fn before_hooks_replace_params_and_set_meta() {
    let (broker, log) = start().await;
    let reply: Value = call(
        &broker,
        "hooked.plain",
        json!({ "name": "  Ada  ", "extra": 1 }),
    )
    .await
    .expect("plain");
    assert_eq!(reply, json!({ "name": "Ada", "stamped": true }));
    assert_eq!(
        take(&log),
        ["before:*", "before:create|plain", "plain", "after:*"]
    );

    // The meta set by a hook reaches the action, and comes back to the calling action.
    let reply: Value = call(&broker, "caller.via", json!({})).await.expect("via");
    assert_eq!(reply["created"]["checked"], json!(true), "{reply}");
    assert_eq!(reply["checked"], json!(true), "{reply}");
    bounded(broker.stop()).await.expect("stop");
}

#[tokio::test]
async fn after_hooks_change_the_result_specific_first() {
    let (broker, log) = start().await;
    let reply: Value = call(&broker, "hooked.create", json!({ "name": " ada " }))
        .await
        .expect("create");
    assert_eq!(
        reply,
        json!({ "name": "ADA", "checked": true, "stamped": true })
    );
    assert_eq!(
        take(&log),
        [
            "before:*",
            "before:create|plain",
            "create",
            "after:create",
            "after:*",
        ]
    );
    bounded(broker.stop()).await.expect("stop");
}

#[tokio::test]
async fn error_hooks_recover_or_pass_the_error_on() {
    let (broker, log) = start().await;
    let reply: Value = call(&broker, "hooked.fail", json!({}))
        .await
        .expect("recovered");
    assert_eq!(reply, json!({ "recovered": "nope", "level": 1 }));
    // Recovered by the specific hook: the `*` one does not run.
    assert_eq!(take(&log), ["before:*", "fail", "error:fail|boom"]);

    let err = call::<Value>(&broker, "hooked.boom", json!({}))
        .await
        .expect_err("not recovered");
    assert_eq!(err.kind(), ErrorKind::Client, "{err:?}");
    assert_eq!(err.message(), "wrapped: boom");
    assert_eq!(err.code(), 500);
    assert_eq!(err.error_type(), Some("WRAPPED"));
    assert_eq!(
        take(&log),
        ["before:*", "boom", "error:fail|boom", "error:*"]
    );
    bounded(broker.stop()).await.expect("stop");
}
