//! What each side's registry shows of the other: `$node.list`, `$node.services`,
//! `$node.actions` and `$node.health`, local and called remotely with `nodeID`.

use crate::interop::services::{recorder, Received};
use crate::interop::{eventually, find_node, Bus, JsVersion, Pair, WAIT};
use broker_core::CallOptions;
use serde_json::{json, Value};

every_bus!(js_sees_rust_node, rust_sees_js_node);

fn find_service<'a>(list: &'a Value, full_name: &str) -> Option<&'a Value> {
    list.as_array()?.iter().find(|s| s["fullName"] == full_name)
}

async fn js_sees_rust_node(bus: Bus, v: JsVersion) {
    let p = Pair::start(bus, v, "reg-js").await;
    let rust_id = p.rust.node_id().to_owned();
    let own = serde_json::to_value(p.rust.node_list(false, false)).expect("serializes");
    let me = find_node(&own, &rust_id).cloned().expect("own entry");

    let list = p.js.list().await;
    let n = find_node(&list, &rust_id).unwrap_or_else(|| panic!("no Rust node in {list}"));
    assert_eq!(n["available"], true, "{n}");
    assert_eq!(n["local"], false, "{n}");
    assert_eq!(n["client"]["type"], "rust", "{n}");
    assert_eq!(n["client"]["version"], broker_core::VERSION, "{n}");
    assert!(
        n["client"]["langVersion"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{n}"
    );
    assert_eq!(n["hostname"], me["hostname"], "{n}");
    assert!(n["hostname"].as_str().is_some_and(|s| !s.is_empty()), "{n}");
    assert_eq!(n["ipList"], me["ipList"], "{n}");
    assert_eq!(n["instanceID"], p.rust.instance_id(), "{n}");

    // A service added while running is announced with a new seq and shows up on the JS side.
    let sink = Received::default();
    let ev = recorder("rev", &[("interop.x", Some("grp")), ("user.*", None)], sink);
    p.rust.add_service(ev).await.expect("add rev");
    let params = json!({"withActions": true, "withEvents": true, "skipInternal": true});
    let services = eventually("JS sees the late Rust service", WAIT, || async {
        let s = p.js.services(params.clone()).await;
        find_service(&s, "rev").is_some().then_some(s)
    })
    .await;

    let rmath = find_service(&services, "rmath").unwrap_or_else(|| panic!("{services}"));
    assert_eq!(rmath["name"], "rmath");
    assert_eq!(rmath["nodes"], json!([rust_id]));
    for a in ["add", "info", "chain", "fail", "slow"] {
        let full = format!("rmath.{a}");
        assert_eq!(rmath["actions"][&full]["name"], full, "{rmath}");
    }
    // The JSON Schemas of typed Rust actions reach JS as unknown action props, kept as sent
    // (and Moleculer's own `params` stays absent).
    let add = &rmath["actions"]["rmath.add"];
    assert_eq!(add["paramsSchema"]["required"], json!(["a", "b"]), "{add}");
    assert_eq!(add["responseSchema"]["title"], "AddResult", "{add}");
    assert_eq!(add["description"], "Adds a and b.", "{add}");
    assert_eq!(add.get("params"), None, "{add}");
    let rver = find_service(&services, "v2.rver").unwrap_or_else(|| panic!("{services}"));
    assert_eq!(
        (&rver["name"], &rver["version"]),
        (&json!("rver"), &json!(2))
    );
    assert_eq!(rver["settings"], json!({"answer": 42}));
    assert_eq!(rver["metadata"], json!({"lang": "rust"}));
    assert_eq!(rver["actions"]["v2.rver.hi"]["rawName"], "hi", "{rver}");
    let rev = find_service(&services, "rev").unwrap_or_else(|| panic!("{services}"));
    assert_eq!(rev["events"]["interop.x"]["name"], "interop.x", "{rev}");
    assert_eq!(rev["events"]["interop.x"]["group"], "grp", "{rev}");
    assert_eq!(rev["events"]["user.*"]["name"], "user.*", "{rev}");

    let actions =
        p.js.call_ok("$node.actions", json!({"skipInternal": true}), json!({}))
            .await;
    let add = actions
        .result
        .as_array()
        .and_then(|a| a.iter().find(|x| x["name"] == "rmath.add"));
    let add = add.unwrap_or_else(|| panic!("{}", actions.result));
    assert_eq!(
        (&add["count"], &add["available"]),
        (&json!(1), &json!(true))
    );

    // JS tooling can query the Rust node's own `$node` service directly.
    let health =
        p.js.call_ok("$node.health", json!({}), json!({"nodeID": rust_id}))
            .await;
    assert_eq!(health.result["client"]["type"], "rust", "{}", health.result);
    let remote =
        p.js.call_ok("$node.list", json!({}), json!({"nodeID": rust_id}))
            .await;
    let js_there =
        find_node(&remote.result, &p.js.node_id).unwrap_or_else(|| panic!("{}", remote.result));
    assert_eq!(js_there["client"]["type"], "nodejs");
    p.stop().await;
}

async fn rust_sees_js_node(bus: Bus, v: JsVersion) {
    let p = Pair::start(bus, v, "reg-rust").await;
    let js_id = p.js.node_id.clone();
    let list =
        serde_json::to_value(p.rust.node_list(false, false)).expect("node records serialize");
    let n = find_node(&list, &js_id).unwrap_or_else(|| panic!("no JS node in {list}"));
    assert_eq!(n["available"], true, "{n}");
    assert_eq!(n["local"], false, "{n}");
    assert_eq!(n["client"]["type"], "nodejs", "{n}");
    assert_eq!(n["client"]["version"], v.moleculer(), "{n}");
    assert!(
        n["client"]["langVersion"]
            .as_str()
            .is_some_and(|s| s.starts_with('v')),
        "{n}"
    );
    assert!(n["hostname"].as_str().is_some_and(|s| !s.is_empty()), "{n}");
    assert!(
        n["instanceID"].as_str().is_some_and(|s| !s.is_empty()),
        "{n}"
    );

    // The JS node's own view of itself matches what the Rust registry holds.
    let js_list = p.js.list().await;
    let js_self = find_node(&js_list, &js_id).unwrap_or_else(|| panic!("{js_list}"));
    assert_eq!(n["hostname"], js_self["hostname"]);
    assert_eq!(n["instanceID"], js_self["instanceID"]);
    assert_eq!(n["ipList"], js_self["ipList"]);

    let services: Value = p
        .rust
        .call(
            "$node.services",
            json!({"withActions": true, "skipInternal": true}),
        )
        .await
        .expect("$node.services");
    let jsmath = find_service(&services, "jsmath").unwrap_or_else(|| panic!("{services}"));
    assert_eq!(jsmath["nodes"], json!([js_id]));
    for a in ["add", "info", "chain", "fail", "slow", "emit"] {
        let full = format!("jsmath.{a}");
        assert_eq!(jsmath["actions"][&full]["name"], full, "{jsmath}");
    }
    assert_eq!(
        jsmath["actions"]["jsmath.add"]["params"],
        json!({"a": "number", "b": "number"})
    );

    // The JS node's `$node` service answers a Rust caller.
    let remote: Value = p
        .rust
        .call_with("$node.list", json!({}), CallOptions::new().node_id(&js_id))
        .await
        .expect("remote $node.list");
    let me = find_node(&remote, p.rust.node_id()).unwrap_or_else(|| panic!("{remote}"));
    assert_eq!(me["client"]["type"], "rust");
    assert_eq!(me["available"], true);
    let health: Value = p
        .rust
        .call_with(
            "$node.health",
            json!({}),
            CallOptions::new().node_id(&js_id),
        )
        .await
        .expect("remote $node.health");
    assert_eq!(health["client"]["type"], "nodejs", "{health}");
    p.stop().await;
}
