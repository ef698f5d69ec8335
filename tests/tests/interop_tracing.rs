//! One trace across Moleculer.js and Rust nodes: a call JS → Rust → JS → Rust with tracing on
//! everywhere and Moleculer's `Event` exporter on every node; a collector service on the first
//! JS node gathers all `$tracing.spans` and the test checks the tree they form.
//!
//! Every node but the entry one samples nothing on its own (rate 0): the spans exist only if
//! each callee honours the caller's `tracing` flag, JS for ours and ours for JS.

#[macro_use]
mod interop;

use broker_core::trace::{EventExporter, EventExporterOptions, Sampling, SpanData, TracingOptions};
use broker_core::{ActionDef, CallOptions, Context, Error, ServiceSchema};
use interop::{eventually, Cluster, JsVersion, WAIT};
use serde_json::{json, Value};
use std::time::Duration;

both_versions!(one_trace_across_js_and_rust);

/// `rtrace.hop` calls `params.next` on `params.node` with `params.params`; `rtrace.leaf` works
/// a little and answers with what it saw.
fn rtrace() -> ServiceSchema {
    ServiceSchema::new("rtrace")
        .action(ActionDef::new("hop", |ctx: Context| async move {
            let p = ctx.params().clone();
            let next = p["next"].as_str().unwrap_or_default().to_owned();
            let node = p["node"].as_str().unwrap_or_default().to_owned();
            let _span = ctx.start_span("rust custom work");
            let nested: Value = ctx
                .call_with(&next, p["params"].clone(), CallOptions::new().node_id(node))
                .await?;
            Ok(json!({"node": ctx.broker().node_id(), "nested": nested}))
        }))
        .action(ActionDef::new("leaf", |ctx: Context| async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(json!({"node": ctx.broker().node_id(), "sampled": ctx.trace_sampled()}))
        }))
}

fn tracing_options(rate: f64) -> TracingOptions {
    TracingOptions::new()
        .sampling(Sampling::rate(rate))
        .exporter(EventExporter::new(EventExporterOptions {
            interval: Duration::from_millis(100),
            ..EventExporterOptions::default()
        }))
}

async fn one_trace_across_js_and_rust(v: JsVersion) {
    let cluster = Cluster::new(v, "tracing");
    let (js_a, js_b) = (cluster.node_id("js-a"), cluster.node_id("js-b"));
    let (rust_1, rust_2) = (cluster.node_id("rust-1"), cluster.node_id("rust-2"));

    let mut config_a = cluster.peer_config(&js_a, &["jsmath"], json!([]));
    config_a["tracing"] = json!({"rate": 1, "interval": 0});
    config_a["collectSpans"] = json!(true);
    let mut config_b = cluster.peer_config(&js_b, &["jsmath"], json!([]));
    config_b["tracing"] = json!({"rate": 0, "interval": 0});

    let r1 = cluster
        .rust_node(&rust_1)
        .tracing(tracing_options(0.0))
        .build();
    let r2 = cluster
        .rust_node(&rust_2)
        .tracing(tracing_options(0.0))
        .build();
    r1.add_service(rtrace()).await.expect("add rtrace");
    r2.add_service(rtrace()).await.expect("add rtrace");
    let (s1, s2, a, b) = tokio::join!(
        r1.start(),
        r2.start(),
        interop::peer::JsPeer::start(config_a),
        interop::peer::JsPeer::start(config_b)
    );
    s1.expect("rust-1 starts");
    s2.expect("rust-2 starts");
    for r in [&r1, &r2] {
        r.wait_for_services(&["jsmath", "spancollector"], WAIT)
            .await
            .expect("Rust sees the JS services");
    }
    a.wait_for(&["rtrace"]).await;
    b.wait_for(&["rtrace"]).await;
    // Every hop must know its target node before the traced call targets it by node ID. The
    // probes are root calls into nodes that sample nothing on their own: they leave no spans.
    eventually("each hop reaches the next node", WAIT, || async {
        let a_r1 = a
            .call("rtrace.leaf", json!({}), json!({"nodeID": rust_1}))
            .await;
        let b_r2 = b
            .call("rtrace.leaf", json!({}), json!({"nodeID": rust_2}))
            .await;
        let r1_b: Result<Value, Error> = r1
            .call_with(
                "jsmath.add",
                json!({"a": 1, "b": 2}),
                CallOptions::new().node_id(&js_b),
            )
            .await;
        (a_r1.is_ok() && b_r2.is_ok() && r1_b.is_ok()).then_some(())
    })
    .await;

    // JS a: jsmath.chain → Rust 1: rtrace.hop → JS b: jsmath.chain → Rust 2: rtrace.leaf
    let params = json!({
        "action": "rtrace.hop",
        "opts": {"nodeID": rust_1},
        "params": {
            "next": "jsmath.chain",
            "node": js_b,
            "params": {"action": "rtrace.leaf", "opts": {"nodeID": rust_2}, "params": {}},
        },
    });
    let reply = a
        .call_ok("jsmath.chain", params, json!({"nodeID": js_a}))
        .await;
    let b_chain = &reply.result["nested"]["nested"];
    assert_eq!(b_chain["nested"]["node"], json!(rust_2), "{}", reply.result);
    assert_eq!(
        b_chain["nested"]["sampled"],
        json!(true),
        "rust-2 follows the flag"
    );
    // Our REQ to JS b carried a W3C traceparent too (headers in protocol 5, meta in 4).
    let carrier = if v == JsVersion::V015 {
        "headers"
    } else {
        "meta"
    };
    let traceparent = b_chain["ctx"][carrier]["traceparent"]
        .as_str()
        .unwrap_or_default();
    assert!(traceparent.starts_with("00-"), "{}", b_chain["ctx"]);

    // Six spans: JS a, Rust 1 (+ its custom span), JS b, Rust 2.
    let spans: Vec<SpanData> = eventually("all spans collected", WAIT, || async {
        let spans = a.spans().await;
        (spans.len() >= 5).then_some(spans)
    })
    .await
    .into_iter()
    .map(|v| serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("span {v}: {e}")))
    .collect();
    let by_name = |name: &str, node: &str| -> SpanData {
        spans
            .iter()
            .find(|s| s.name == name && s.tags.get("nodeID").and_then(Value::as_str) == Some(node))
            .cloned()
            .unwrap_or_else(|| panic!("no span {name} on {node}: {spans:#?}"))
    };
    let span_a = by_name("action 'jsmath.chain'", &js_a);
    let span_r1 = by_name("action 'rtrace.hop'", &rust_1);
    let custom = spans
        .iter()
        .find(|s| s.name == "rust custom work")
        .cloned()
        .unwrap_or_else(|| panic!("no custom span: {spans:#?}"));
    let span_b = by_name("action 'jsmath.chain'", &js_b);
    let span_r2 = by_name("action 'rtrace.leaf'", &rust_2);
    assert_eq!(spans.len(), 5, "{spans:#?}");

    // One trace.
    for s in &spans {
        assert_eq!(s.trace_id, span_a.trace_id, "{s:#?}");
        assert!(s.sampled);
    }
    // Parent links: each hop's span is a child of the one that called it.
    assert_eq!(span_a.parent_id, None);
    assert_eq!(span_r1.parent_id.as_deref(), Some(span_a.id.as_str()));
    assert_eq!(custom.parent_id.as_deref(), Some(span_r1.id.as_str()));
    assert_eq!(span_b.parent_id.as_deref(), Some(custom.id.as_str()));
    assert_eq!(span_r2.parent_id.as_deref(), Some(span_b.id.as_str()));
    // Timings nested (one machine, one clock; JS start times are whole milliseconds).
    for (child, parent) in [
        (&span_r1, &span_a),
        (&custom, &span_r1),
        (&span_b, &custom),
        (&span_r2, &span_b),
    ] {
        let (pf, cf) = (
            parent.finish_time.unwrap_or(0.0),
            child.finish_time.unwrap_or(f64::MAX),
        );
        assert!(
            child.start_time >= parent.start_time - 1.0,
            "{child:#?} starts before {parent:#?}"
        );
        assert!(cf <= pf + 1.0, "{child:#?} ends after {parent:#?}");
        assert!(child.duration.unwrap_or(-1.0) >= 0.0);
    }
    assert!(span_r2.duration.unwrap_or(0.0) >= 4.0, "{span_r2:#?}");
    // Rust spans read as JS ones: Moleculer's tags and service.
    assert_eq!(span_r1.tags["remoteCall"], json!(true));
    assert_eq!(span_r1.tags["callerNodeID"], json!(js_a));
    assert_eq!(span_r1.tags["callingLevel"], json!(2));
    assert_eq!(
        span_r1.service.as_ref().map(|s| s.full_name.as_str()),
        Some("rtrace")
    );
    assert_eq!(span_b.tags["callerNodeID"], json!(rust_1));

    let _ = tokio::join!(r1.stop(), r2.stop(), a.exit(), b.exit());
    a.assert_no_errors();
    b.assert_no_errors();
}
