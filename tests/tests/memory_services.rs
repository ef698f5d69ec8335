//! Service definitions as other nodes see them: versions, visibility, settings, dependencies
//! and lifecycle hooks.

mod common;

use broker_core::{
    ActionDef, Broker, CallOptions, Context, ErrorKind, MemoryBus, ServiceSchema, Visibility,
};
use common::{node, WAIT};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn echo(name: &str) -> ActionDef {
    ActionDef::new(name, |ctx: Context| async move { Ok(ctx.params().clone()) })
}

#[tokio::test]
async fn versions_visibility_and_secure_settings() {
    let bus = MemoryBus::new();
    let (b, _) = node(&bus, "host");
    let host = b.build();
    host.add_service(
        ServiceSchema::new("posts")
            .version(2)
            .settings(json!({"pageSize": 10, "secret": "s3cr3t", "$secureSettings": ["secret"]}))
            .metadata(json!({"team": "blog"}))
            .action(echo("list"))
            .action(echo("internal").visibility(Visibility::Protected))
            .action(echo("hidden").visibility(Visibility::Private))
            .action(
                echo("api")
                    .visibility(Visibility::Public)
                    .timeout(Duration::from_millis(1234)),
            ),
    )
    .await
    .expect("add");
    host.add_service(
        ServiceSchema::new("calc")
            .version("staging")
            .action(echo("id")),
    )
    .await
    .expect("add");
    host.start().await.expect("start");

    let (b, _) = node(&bus, "peer");
    let peer = b.build();
    peer.start().await.expect("start");
    peer.wait_for_services(&["v2.posts", "staging.calc"], WAIT)
        .await
        .expect("full names");

    let v: Value = peer
        .call("v2.posts.list", json!({"x": 1}))
        .await
        .expect("published");
    assert_eq!(v, json!({"x": 1}));
    let v: Value = peer
        .call("staging.calc.id", json!(7))
        .await
        .expect("string version");
    assert_eq!(v, json!(7));
    let v: Value = peer.call("v2.posts.api", json!([])).await.expect("public");
    assert_eq!(v, json!([]));
    for name in ["v2.posts.internal", "v2.posts.hidden"] {
        let err = peer.call::<Value>(name, json!({})).await.expect_err(name);
        assert_eq!(err.kind(), ErrorKind::ServiceNotFound, "{name}");
    }
    // Protected is callable on its own node; private is not registered at all.
    let v: Value = host
        .call("v2.posts.internal", json!(1))
        .await
        .expect("local protected");
    assert_eq!(v, json!(1));
    assert!(host
        .call::<Value>("v2.posts.hidden", json!(1))
        .await
        .is_err());

    // What INFO published, as `$node.services` on the peer shows it.
    let services: Value = peer
        .call(
            "$node.services",
            json!({"withActions": true, "skipInternal": true}),
        )
        .await
        .expect("services");
    let posts = services
        .as_array()
        .and_then(|s| s.iter().find(|s| s["fullName"] == "v2.posts"))
        .expect("posts");
    assert_eq!(posts["version"], 2);
    assert_eq!(
        posts["settings"],
        json!({"pageSize": 10}),
        "secure settings stay home"
    );
    assert_eq!(posts["metadata"]["team"], "blog");
    let actions = posts["actions"].as_object().expect("actions");
    assert!(
        actions.contains_key("v2.posts.internal"),
        "protected is listed"
    );
    assert!(!actions.contains_key("v2.posts.hidden"), "private is not");
    assert_eq!(actions["v2.posts.api"]["timeout"], 1234);
    assert_eq!(actions["v2.posts.api"]["visibility"], "public");
    assert_eq!(actions["v2.posts.list"]["rawName"], "list");
    let calc = services
        .as_array()
        .and_then(|s| s.iter().find(|s| s["fullName"] == "staging.calc"))
        .expect("calc");
    assert_eq!(calc["version"], "staging");

    // An explicit node that does not host the action.
    let err = peer
        .call_with::<Value>(
            "v2.posts.list",
            json!({}),
            CallOptions::new().node_id("nobody"),
        )
        .await
        .expect_err("not there");
    assert_eq!(err.kind(), ErrorKind::ServiceNotFound);

    peer.stop().await.expect("stop");
    host.stop().await.expect("stop");
}

#[tokio::test]
async fn dependencies_wait_and_fail_clearly_and_hooks_run() {
    let bus = MemoryBus::new();
    let started = Arc::new(AtomicUsize::new(0));
    let stopped = Arc::new(AtomicUsize::new(0));
    let (b, _) = node(&bus, "dependent");
    let dependent = b.dependency_timeout(Duration::from_secs(3)).build();
    let (s, t) = (started.clone(), stopped.clone());
    dependent
        .add_service(
            ServiceSchema::new("orders")
                .dependency("users")
                .action(echo("get"))
                .on_started(move || {
                    let s = s.clone();
                    async move {
                        s.fetch_add(1, Ordering::SeqCst);
                        Ok(())
                    }
                })
                .on_stopped(move || {
                    let t = t.clone();
                    async move {
                        t.fetch_add(1, Ordering::SeqCst);
                        Ok(())
                    }
                }),
        )
        .await
        .expect("add");
    let starting = {
        let d = dependent.clone();
        tokio::spawn(async move { d.start().await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(started.load(Ordering::SeqCst), 0, "waits for users");
    let (b, _) = node(&bus, "provider");
    let provider = b.build();
    provider
        .add_service(ServiceSchema::new("users").action(echo("get")))
        .await
        .expect("add");
    provider.start().await.expect("start");
    tokio::time::timeout(WAIT, starting)
        .await
        .expect("start finishes")
        .expect("task")
        .expect("start succeeds");
    assert_eq!(started.load(Ordering::SeqCst), 1);
    dependent.stop().await.expect("stop");
    assert_eq!(stopped.load(Ordering::SeqCst), 1);
    provider.stop().await.expect("stop");

    // A dependency that never comes: a clear error after the bound.
    let lonely = Broker::builder()
        .node_id("lonely")
        .dependency_timeout(Duration::from_millis(200))
        .build();
    lonely
        .add_service(ServiceSchema::new("a").dependency("never"))
        .await
        .expect("add");
    let err = lonely.start().await.expect_err("cannot start");
    assert!(err.message().contains("never"), "{err}");
    assert!(err.message().contains("'a'"), "{err}");
}

#[tokio::test]
async fn bad_schemas_are_refused() {
    let b = Broker::builder().node_id("strict").build();
    let err = b
        .add_service(
            ServiceSchema::new("dup")
                .action(echo("x"))
                .action(echo("x")),
        )
        .await
        .expect_err("duplicate action");
    assert_eq!(err.kind(), ErrorKind::ServiceSchema);
    b.add_service(ServiceSchema::new("one"))
        .await
        .expect("first");
    assert!(
        b.add_service(ServiceSchema::new("one")).await.is_err(),
        "same name twice"
    );
    assert!(
        b.add_service(ServiceSchema::new("")).await.is_err(),
        "no name"
    );
}

#[tokio::test]
async fn services_added_after_start_are_announced() {
    let bus = MemoryBus::new();
    let (b, _) = node(&bus, "late");
    let late = b.build();
    late.start().await.expect("start");
    let (b, _) = node(&bus, "watcher");
    let watcher = b.build();
    watcher.start().await.expect("start");
    tokio::time::sleep(Duration::from_millis(50)).await;
    late.add_service(ServiceSchema::new("fresh").action(echo("x")))
        .await
        .expect("add after start");
    watcher
        .wait_for_services(&["fresh"], WAIT)
        .await
        .expect("announced with a new seq");
    let v: Value = watcher
        .call("fresh.x", json!("hi"))
        .await
        .expect("callable");
    assert_eq!(v, json!("hi"));
    watcher.stop().await.expect("stop");
    late.stop().await.expect("stop");
}
