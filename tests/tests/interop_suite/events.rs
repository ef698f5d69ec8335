//! Events across languages: balanced emits with groups are handled exactly once per group and
//! spread over Rust and JS nodes, broadcasts reach every node, both ways.
//!
//! Cluster: Rust R1 (`g`), Rust R2 (`g`, `h`), JS J1 (`g`, `h`) handle `interop.balanced`; all
//! three handle `interop.all`. The emitters, Rust R0 and JS J0, have no handler (trap 9: a
//! local handler would win every emit).

use crate::interop::peer::JsPeer;
use crate::interop::services::{received, recorder, Received};
use crate::interop::{eventually, Bus, Cluster, JsVersion, WAIT};
use broker_core::{Broker, EmitOptions};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

every_bus!(balanced_and_broadcast_events);

const N: u64 = 24;

/// `(event, group) → number of available endpoints` from a `$node.events` answer.
fn endpoint_counts(list: &Value) -> HashMap<(String, String), u64> {
    let mut out = HashMap::new();
    for e in list.as_array().into_iter().flatten() {
        let key = (
            e["name"].as_str().unwrap_or_default().to_owned(),
            e["group"].as_str().unwrap_or_default().to_owned(),
        );
        *out.entry(key).or_insert(0) += e["count"].as_u64().unwrap_or(0);
    }
    out
}

fn expected_endpoints(counts: &HashMap<(String, String), u64>) -> bool {
    let get = |e: &str, g: &str| counts.get(&(e.to_owned(), g.to_owned())).copied();
    get("interop.balanced", "g") == Some(3)
        && get("interop.balanced", "h") == Some(2)
        && get("interop.all", "rev") == Some(2)
        && get("interop.all", "jsev2") == Some(1)
}

async fn rust_node(
    cluster: &Cluster,
    role: &str,
    services: Vec<broker_core::ServiceSchema>,
) -> Broker {
    let b = cluster.rust_node(&cluster.node_id(role)).build();
    for s in services {
        b.add_service(s).await.expect("add service");
    }
    b.start().await.expect("Rust node starts");
    b
}

/// Every delivery as `(receiver, event, group, from, i)`.
type Delivery = (String, String, String, String, u64);

fn deliveries(receiver: &str, events: &[Value]) -> Vec<Delivery> {
    events
        .iter()
        .map(|e| {
            (
                receiver.to_owned(),
                e["event"].as_str().unwrap_or_default().to_owned(),
                e["group"].as_str().unwrap_or_default().to_owned(),
                e["params"]["from"].as_str().unwrap_or_default().to_owned(),
                e["params"]["i"].as_u64().unwrap_or(u64::MAX),
            )
        })
        .collect()
}

async fn all_deliveries(r1: &Received, r2: &Received, j1: &JsPeer) -> Vec<Delivery> {
    let mut all = deliveries("R1", &received(r1));
    all.extend(deliveries("R2", &received(r2)));
    all.extend(deliveries("J1", &j1.events().await));
    all
}

async fn balanced_and_broadcast_events(bus: Bus, v: JsVersion) {
    let cluster = Cluster::over(bus, v, "events");
    let (r1_sink, r2_sink) = (Received::default(), Received::default());
    let js_events = json!([
        {"event": "interop.balanced", "group": "g"},
        {"event": "interop.balanced", "group": "h"},
        {"event": "interop.all"},
    ]);
    let (r1, r2, r0, j1, j0) = tokio::join!(
        rust_node(
            &cluster,
            "R1",
            vec![recorder(
                "rev",
                &[("interop.balanced", Some("g")), ("interop.all", None)],
                r1_sink.clone()
            )]
        ),
        rust_node(
            &cluster,
            "R2",
            vec![
                recorder(
                    "rev",
                    &[("interop.balanced", Some("g")), ("interop.all", None)],
                    r2_sink.clone()
                ),
                recorder("rev_h", &[("interop.balanced", Some("h"))], r2_sink.clone()),
            ]
        ),
        rust_node(&cluster, "R0", vec![]),
        JsPeer::start(cluster.peer_config(&cluster.node_id("J1"), &[], js_events)),
        JsPeer::start(cluster.peer_config(&cluster.node_id("J0"), &[], json!([]))),
    );

    // Both emitters must know every handler before emitting.
    eventually("J0 sees all event endpoints", WAIT, || async {
        let list = j0
            .call_ok("$node.events", json!({"onlyAvailable": true}), json!({}))
            .await;
        expected_endpoints(&endpoint_counts(&list.result)).then_some(())
    })
    .await;
    eventually("R0 sees all event endpoints", WAIT, || async {
        let list: Value = r0
            .call("$node.events", json!({"onlyAvailable": true}))
            .await
            .ok()?;
        expected_endpoints(&endpoint_counts(&list)).then_some(())
    })
    .await;

    for i in 0..N {
        j0.emit(
            "interop.balanced",
            json!({"i": i, "from": "js"}),
            json!({"meta": {"via": "js"}}),
        )
        .await;
        r0.emit_with(
            "interop.balanced",
            json!({"i": i, "from": "rust"}),
            EmitOptions::new().meta(json!({"via": "rust"})),
        )
        .await
        .expect("Rust emit");
    }
    j0.broadcast("interop.all", json!({"i": 0, "from": "js"}), json!({}))
        .await;
    r0.broadcast("interop.all", json!({"i": 0, "from": "rust"}))
        .await
        .expect("Rust broadcast");

    // 2 emitters × N emits × 2 groups, plus 2 broadcasts × 3 receivers.
    let expected = (2 * N * 2 + 6) as usize;
    let all = eventually("every delivery", WAIT, || async {
        let all = all_deliveries(&r1_sink, &r2_sink, &j1).await;
        (all.len() >= expected).then_some(all)
    })
    .await;
    // Give duplicates a chance to show up before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = {
        let again = all_deliveries(&r1_sink, &r2_sink, &j1).await;
        assert_eq!(again.len(), all.len(), "late duplicate deliveries");
        again
    };
    assert_eq!(all.len(), expected, "{all:?}");

    for from in ["js", "rust"] {
        for (group, receivers) in [("g", vec!["R1", "R2", "J1"]), ("h", vec!["R2", "J1"])] {
            let mut per_i = HashMap::new();
            let mut per_receiver: HashMap<&str, u64> = HashMap::new();
            for d in all
                .iter()
                .filter(|d| d.1 == "interop.balanced" && d.2 == group && d.3 == from)
            {
                *per_i.entry(d.4).or_insert(0) += 1;
                *per_receiver
                    .entry(
                        receivers
                            .iter()
                            .find(|r| **r == d.0)
                            .copied()
                            .unwrap_or("?"),
                    )
                    .or_insert(0) += 1;
            }
            for i in 0..N {
                assert_eq!(
                    per_i.get(&i),
                    Some(&1),
                    "emit {i} from {from} in group {group}: {all:?}"
                );
            }
            for r in &receivers {
                assert!(
                    per_receiver.get(r).is_some_and(|n| *n > 0),
                    "{r} got none of {from}'s emits in group {group}: {per_receiver:?}"
                );
            }
            assert!(!per_receiver.contains_key("?"), "{per_receiver:?}");
        }
        for r in ["R1", "R2", "J1"] {
            let n = all
                .iter()
                .filter(|d| d.0 == r && d.1 == "interop.all" && d.3 == from)
                .count();
            assert_eq!(n, 1, "{r} received {n} of {from}'s broadcast");
        }
    }

    // What a handler sees of an event from the other language.
    let from_js = received(&r1_sink)
        .into_iter()
        .find(|e| e["params"]["from"] == "js" && e["event"] == "interop.balanced")
        .expect("R1 got a JS emit");
    assert_eq!(from_js["eventType"], "emit", "{from_js}");
    assert_eq!(from_js["nodeID"], j0.node_id, "{from_js}");
    assert_eq!(from_js["meta"], json!({"via": "js"}), "{from_js}");
    assert_eq!(from_js["level"], 1, "{from_js}");
    assert!(
        from_js["eventGroups"]
            .as_array()
            .is_some_and(|g| g.contains(&json!("g"))),
        "{from_js}"
    );
    let from_rust = j1
        .events()
        .await
        .into_iter()
        .find(|e| e["params"]["from"] == "rust" && e["event"] == "interop.balanced")
        .expect("J1 got a Rust emit");
    assert_eq!(from_rust["eventType"], "emit", "{from_rust}");
    assert_eq!(from_rust["nodeID"], r0.node_id(), "{from_rust}");
    assert_eq!(from_rust["meta"], json!({"via": "rust"}), "{from_rust}");
    let bc = j1
        .events()
        .await
        .into_iter()
        .find(|e| e["params"]["from"] == "rust" && e["event"] == "interop.all")
        .expect("J1 got the Rust broadcast");
    assert_eq!(bc["eventType"], "broadcast", "{bc}");

    j1.assert_no_errors();
    j0.assert_no_errors();
    let (a, b, c, (), ()) = tokio::join!(r1.stop(), r2.stop(), r0.stop(), j1.exit(), j0.exit());
    for r in [a, b, c] {
        r.expect("Rust node stops");
    }
}
