//! Circuit breakers, bulkheads, service hooks and user middleware on the in-memory transport.

mod common;

use broker_core::middleware::{
    ActionSpec, BulkheadOptions, Call, CallHandler, EventSpec, Middleware,
};
use broker_core::{
    ActionDef, ActionHandler, Broker, CallOptions, CircuitBreakerOptions, Context, Error,
    ErrorKind, EventDef, EventHandler, MemoryBus, ServiceSchema,
};
use common::{eventually, node, WAIT};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn breaker_options() -> CircuitBreakerOptions {
    CircuitBreakerOptions {
        enabled: true,
        threshold: 0.5,
        window: Duration::from_secs(10),
        min_request_count: 4,
        half_open_time: Duration::from_millis(300),
        ..CircuitBreakerOptions::default()
    }
}

#[tokio::test]
async fn a_failing_endpoint_opens_its_breaker_half_opens_and_closes_on_success() {
    let bus = MemoryBus::new();
    let broken = Arc::new(AtomicBool::new(true));
    let hits = Arc::new(AtomicUsize::new(0));
    let (b, _) = node(&bus, "fragile");
    let server = b.build();
    let (br, h) = (broken.clone(), hits.clone());
    server
        .add_service(ServiceSchema::new("svc").action(ActionDef::new(
            "op",
            move |_ctx: Context| {
                let (br, h) = (br.clone(), h.clone());
                async move {
                    h.fetch_add(1, Ordering::SeqCst);
                    if br.load(Ordering::SeqCst) {
                        Err(Error::server("down", 500, "DOWN"))
                    } else {
                        Ok(json!("up"))
                    }
                }
            },
        )))
        .await
        .expect("add");
    server.start().await.expect("start");

    let events: Arc<Mutex<Vec<String>>> = Arc::default();
    let ev = events.clone();
    let (b, _) = node(&bus, "caller");
    let client = b.circuit_breaker(breaker_options()).build();
    client
        .add_service(ServiceSchema::new("watch").event(EventDef::new(
            "$circuit-breaker.*",
            move |ctx: Context| {
                let ev = ev.clone();
                async move {
                    ev.lock()
                        .expect("events")
                        .push(ctx.event_name().unwrap_or_default().to_owned());
                    Ok(())
                }
            },
        )))
        .await
        .expect("add");
    client.start().await.expect("start");
    client.wait_for_services(&["svc"], WAIT).await.expect("svc");

    for _ in 0..4 {
        let err = client
            .call::<Value>("svc.op", json!({}))
            .await
            .expect_err("down");
        assert_eq!(err.error_type(), Some("DOWN"));
    }
    assert_eq!(hits.load(Ordering::SeqCst), 4);
    // Open: the only endpoint is skipped, so the call fails without reaching it.
    let err = client
        .call::<Value>("svc.op", json!({}))
        .await
        .expect_err("open");
    assert_eq!(err.kind(), ErrorKind::ServiceNotAvailable);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        4,
        "the open breaker kept the call home"
    );

    broken.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let v: Value = client
        .call("svc.op", json!({}))
        .await
        .expect("half-open probe succeeds");
    assert_eq!(v, json!("up"));
    let v: Value = client
        .call("svc.op", json!({}))
        .await
        .expect("closed again");
    assert_eq!(v, json!("up"));
    eventually("breaker events", || {
        let events = events.clone();
        async move { events.lock().expect("events").len() >= 3 }
    })
    .await;
    assert_eq!(
        *events.lock().expect("events"),
        vec![
            "$circuit-breaker.opened".to_owned(),
            "$circuit-breaker.half-opened".to_owned(),
            "$circuit-breaker.closed".to_owned()
        ]
    );
    client.stop().await.expect("stop");
    server.stop().await.expect("stop");
}

#[tokio::test]
async fn a_bulkhead_rejects_past_its_queue_and_recovers() {
    let bus = MemoryBus::new();
    let (b, _) = node(&bus, "guarded");
    let server = b.build();
    server
        .add_service(
            ServiceSchema::new("slow").action(
                ActionDef::new("op", |_ctx: Context| async {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Ok(json!("ok"))
                })
                .bulkhead(BulkheadOptions {
                    concurrency: 2,
                    max_queue_size: 1,
                }),
            ),
        )
        .await
        .expect("add");
    server.start().await.expect("start");
    let (b, _) = node(&bus, "crowd");
    let client = b.build();
    client.start().await.expect("start");
    client
        .wait_for_services(&["slow"], WAIT)
        .await
        .expect("slow");

    let mut calls = Vec::new();
    for _ in 0..5 {
        let c = client.clone();
        calls.push(tokio::spawn(async move {
            c.call::<Value>("slow.op", json!({})).await
        }));
    }
    let mut ok = 0;
    let mut full = 0;
    for call in calls {
        match tokio::time::timeout(WAIT, call)
            .await
            .expect("settles")
            .expect("task")
        {
            Ok(_) => ok += 1,
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::QueueIsFull, "{e}");
                assert_eq!(e.code(), 429);
                full += 1;
            }
        }
    }
    assert_eq!((ok, full), (3, 2), "2 running + 1 queued, 2 refused");
    let v: Value = client.call("slow.op", json!({})).await.expect("recovered");
    assert_eq!(v, json!("ok"));
    client.stop().await.expect("stop");
    server.stop().await.expect("stop");
}

#[tokio::test]
async fn hooks_change_params_results_and_errors() {
    let b = Broker::builder().node_id("hooked").build();
    let order: Arc<Mutex<Vec<&'static str>>> = Arc::default();
    let (o1, o2, o3) = (order.clone(), order.clone(), order.clone());
    b.add_service(
        ServiceSchema::new("users")
            .action(ActionDef::new("create", |ctx: Context| async move {
                Ok(json!({"name": ctx.params()["name"], "by": ctx.meta_value("user")}))
            }))
            .action(ActionDef::new("fail", |_ctx: Context| async {
                Err::<Value, _>(Error::client("nope", 400, "NOPE"))
            }))
            .before("*", move |ctx: Context| {
                let o = o1.clone();
                async move {
                    o.lock().expect("order").push("before *");
                    ctx.set_meta("user", json!("admin"));
                    Ok(None)
                }
            })
            .before("create", move |ctx: Context| {
                let o = o2.clone();
                async move {
                    o.lock().expect("order").push("before create");
                    let name = ctx.params()["name"]
                        .as_str()
                        .unwrap_or_default()
                        .trim()
                        .to_owned();
                    Ok(Some(json!({"name": name})))
                }
            })
            .after("create|update", move |_ctx: Context, mut res: Value| {
                let o = o3.clone();
                async move {
                    o.lock().expect("order").push("after create");
                    res["stamped"] = json!(true);
                    Ok(res)
                }
            })
            .error("fail", |_ctx: Context, err: Error| async move {
                Ok(json!({"recovered": err.error_type()}))
            }),
    )
    .await
    .expect("add");
    b.start().await.expect("start");
    let v: Value = b
        .call("users.create", json!({"name": "  ann  "}))
        .await
        .expect("create");
    assert_eq!(v, json!({"name": "ann", "by": "admin", "stamped": true}));
    assert_eq!(
        *order.lock().expect("order"),
        vec!["before *", "before create", "after create"]
    );
    let v: Value = b.call("users.fail", json!({})).await.expect("recovered");
    assert_eq!(v, json!({"recovered": "NOPE"}));
    b.stop().await.expect("stop");
}

/// Records the order in which wrappers run.
#[derive(Debug)]
struct Trace {
    name: &'static str,
    log: Arc<Mutex<Vec<String>>>,
}

impl Middleware for Trace {
    fn wrap_action(&self, action: &ActionSpec<'_>, next: ActionHandler) -> ActionHandler {
        let (name, log, action) = (self.name, self.log.clone(), action.name.to_owned());
        Arc::new(move |ctx| {
            log.lock()
                .expect("log")
                .push(format!("{name} action {action}"));
            next(ctx)
        })
    }

    fn wrap_event(&self, event: &EventSpec<'_>, next: EventHandler) -> EventHandler {
        let (name, log, event) = (self.name, self.log.clone(), event.name.to_owned());
        Arc::new(move |ctx| {
            log.lock()
                .expect("log")
                .push(format!("{name} event {event}"));
            next(ctx)
        })
    }

    fn wrap_call(&self, next: CallHandler) -> CallHandler {
        let (name, log) = (self.name, self.log.clone());
        Arc::new(move |call: Call| {
            if !call.action.starts_with('$') {
                log.lock()
                    .expect("log")
                    .push(format!("{name} call {}", call.action));
            }
            next(call)
        })
    }
}

#[tokio::test]
async fn user_middlewares_wrap_calls_actions_and_events_in_order() {
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let b = Broker::builder()
        .node_id("layered")
        .middleware(Trace {
            name: "outer",
            log: log.clone(),
        })
        .middleware(Trace {
            name: "inner",
            log: log.clone(),
        })
        .build();
    b.add_service(
        ServiceSchema::new("m")
            .action(ActionDef::new("a", |_ctx: Context| async { Ok(json!(1)) }))
            .event(EventDef::new("e", |_ctx: Context| async { Ok(()) })),
    )
    .await
    .expect("add");
    b.start().await.expect("start");
    let v: Value = b.call("m.a", json!({})).await.expect("call");
    assert_eq!(v, json!(1));
    b.emit("e", json!({})).await.expect("emit");
    eventually("event wrapped", || {
        let log = log.clone();
        async move { log.lock().expect("log").iter().any(|l| l.contains("event")) }
    })
    .await;
    let seen: Vec<String> = log
        .lock()
        .expect("log")
        .iter()
        .filter(|l| !l.contains("$node"))
        .cloned()
        .collect();
    assert_eq!(
        seen,
        vec![
            "outer call m.a",
            "inner call m.a",
            "outer action m.a",
            "inner action m.a",
            "outer event e",
            "inner event e"
        ]
    );
    // A call-level middleware sees (and can answer) calls to missing actions too.
    let err = b
        .call_with::<Value>("m.none", json!({}), CallOptions::new())
        .await
        .expect_err("missing");
    assert_eq!(err.kind(), ErrorKind::ServiceNotFound);
    assert!(log
        .lock()
        .expect("log")
        .iter()
        .any(|l| l == "outer call m.none"));
    b.stop().await.expect("stop");
}
