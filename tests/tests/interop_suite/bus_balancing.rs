//! Moleculer's `disableBalancer`: every node (Rust and JS) leaves balancing to the bus. On NATS
//! calls go to `REQB.<action>` and emits to `EVENTB.<group>.<event>`, and the NATS queue groups
//! hand each to one of the nodes serving it: a JS and a Rust node serving the same action and
//! event group both get a share from a JS caller and from a Rust caller. On Redis and MQTT, which
//! have no built-in balancer, both sides warn and keep balancing themselves: the same shares,
//! through the callers' own balancers.
//!
//! Cluster: Rust R and JS J serve `shared.where` and handle `bal.tick` in group `shared`; the
//! callers, Rust RC and JS JC, serve nothing.

use crate::interop::peer::JsPeer;
use crate::interop::services::{received, recorder, shared, Received};
use crate::interop::{eventually, Bus, Cluster, JsVersion, WAIT};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

every_bus!(bus_balances_calls_and_events);

const N: u64 = 30;

/// Every subject published in the namespace, from a plain NATS client (NATS only).
async fn spy(cluster: &Cluster) -> Option<Arc<Mutex<Vec<String>>>> {
    if cluster.bus != Bus::Nats {
        return None;
    }
    let client = async_nats::connect(cluster.url.as_str())
        .await
        .expect("spy connects to NATS");
    let mut sub = client
        .subscribe(format!("MOL-{}.>", cluster.namespace))
        .await
        .expect("spy subscribes");
    // A message to ourselves comes back only once the server has the subscription.
    let inbox = client.new_inbox();
    let mut echo = client.subscribe(inbox.clone()).await.expect("echo");
    client.publish(inbox, "".into()).await.expect("echo");
    tokio::time::timeout(WAIT, echo.next())
        .await
        .expect("NATS echoes")
        .expect("echo");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        let _client = client;
        while let Some(msg) = sub.next().await {
            if let Ok(mut log) = log.lock() {
                log.push(msg.subject.to_string());
            }
        }
    });
    Some(seen)
}

fn count(seen: &Mutex<Vec<String>>, subject: &str) -> usize {
    seen.lock()
        .map(|s| s.iter().filter(|x| *x == subject).count())
        .unwrap_or(0)
}

/// Who served each of `results` (`{"node": …}` answers).
fn servers(results: &[Value]) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    for r in results {
        *out.entry(r["node"].as_str().unwrap_or("?").to_owned())
            .or_insert(0) += 1;
    }
    out
}

async fn bus_balances_calls_and_events(bus: Bus, v: JsVersion) {
    let mut cluster = Cluster::over(bus, v, "nobalancer");
    cluster.disable_balancer = true;
    let seen = spy(&cluster).await;

    let sink = Received::default();
    let r = cluster.rust_node(&cluster.node_id("R")).build();
    r.add_service(shared()).await.expect("add shared");
    r.add_service(recorder(
        "rbal",
        &[("bal.tick", Some("shared"))],
        sink.clone(),
    ))
    .await
    .expect("add rbal");
    let rc = cluster.rust_node(&cluster.node_id("RC")).build();
    let events = json!([{"event": "bal.tick", "group": "shared"}]);
    let j_config = cluster.peer_config(&cluster.node_id("J"), &["shared"], events);
    let jc_config = cluster.peer_config(&cluster.node_id("JC"), &[], json!([]));
    let (r_started, rc_started, j, jc) = tokio::join!(
        r.start(),
        rc.start(),
        JsPeer::start(j_config),
        JsPeer::start(jc_config)
    );
    r_started.expect("R starts");
    rc_started.expect("RC starts");
    let (r_id, j_id) = (r.node_id().to_owned(), j.node_id.clone());

    // Both callers know both servers (and both event handlers) before calling.
    let endpoints = |list: &Value| {
        list.as_array()
            .into_iter()
            .flatten()
            .find(|a| a["name"] == "shared.where")
            .and_then(|a| a["endpoints"].as_array().map(Vec::len))
    };
    eventually("JC sees shared.where on R and J", WAIT, || async {
        // Aimed at JC itself: with the balancer disabled, an unaimed call could land anywhere.
        let actions = jc
            .call_ok(
                "$node.actions",
                json!({"withEndpoints": true}),
                json!({"nodeID": jc.node_id}),
            )
            .await;
        (endpoints(&actions.result) == Some(2)).then_some(())
    })
    .await;
    eventually(
        "RC sees shared.where and bal.tick on R and J",
        WAIT,
        || async {
            let list = serde_json::to_value(rc.node_list(true, true)).ok()?;
            let serving = |name: &str| {
                list.as_array()
                    .into_iter()
                    .flatten()
                    .filter(|n| {
                        n["services"].as_array().into_iter().flatten().any(|s| {
                            s["actions"].get(name).is_some() || s["events"].get(name).is_some()
                        })
                    })
                    .count()
            };
            (serving("shared.where") == 2 && serving("bal.tick") == 2).then_some(())
        },
    )
    .await;
    j.wait_for(&["shared"]).await;

    // The registries agree before the bus may: Moleculer.js subscribes its queue groups after
    // it has announced its services. Wait (bounded) until calls through the bus reach both
    // servers; the balanced-subject counts below leave these calls out.
    eventually("calls through the bus reach R and J", WAIT, || async {
        let mut results = Vec::new();
        for i in 0..8 {
            let reply = jc
                .call_ok("shared.where", json!({"i": i}), json!({"timeout": 5000}))
                .await;
            results.push(reply.result);
        }
        (servers(&results).len() == 2).then_some(())
    })
    .await;
    // The spy gets its copies on its own connection: let the last ones arrive before counting.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let warm_up = seen.as_ref().map_or(0, |seen| {
        count(
            seen,
            &format!("MOL-{}.REQB.shared.where", cluster.namespace),
        )
    });

    // Calls: N from the JS caller, N from the Rust caller.
    let mut from_js = Vec::new();
    for i in 0..N {
        let reply = jc
            .call_ok("shared.where", json!({"i": i}), json!({"timeout": 5000}))
            .await;
        from_js.push(reply.result);
    }
    let mut from_rust = Vec::new();
    for i in 0..N {
        let opts = broker_core::CallOptions::new().timeout(Duration::from_secs(5));
        let reply: Value = rc
            .call_with("shared.where", json!({"i": i}), opts)
            .await
            .expect("Rust caller's call");
        from_rust.push(reply);
    }
    for (caller, results) in [("JS", &from_js), ("Rust", &from_rust)] {
        let by = servers(results);
        assert_eq!(by.values().sum::<u64>(), N, "{caller}: {by:?}");
        assert!(
            by.get(&r_id).is_some_and(|n| *n > 0) && by.get(&j_id).is_some_and(|n| *n > 0),
            "{caller} caller's calls reach both the Rust and the JS server: {by:?}"
        );
        assert_eq!(by.len(), 2, "{caller}: {by:?}");
    }

    // Emits: N from each caller, each handled once in group `shared`, spread over R and J.
    for i in 0..N {
        jc.emit("bal.tick", json!({"from": "js", "i": i}), json!({}))
            .await;
        rc.emit("bal.tick", json!({"from": "rust", "i": i}))
            .await
            .expect("Rust emit");
    }
    let deliveries = eventually("every event handled once", WAIT, || async {
        let mut all: Vec<(String, String, u64)> = Vec::new();
        for e in received(&sink) {
            all.push((
                "R".into(),
                e["params"]["from"].as_str().unwrap_or("").into(),
                e["params"]["i"].as_u64().unwrap_or(u64::MAX),
            ));
        }
        for e in j.events().await {
            all.push((
                "J".into(),
                e["params"]["from"].as_str().unwrap_or("").into(),
                e["params"]["i"].as_u64().unwrap_or(u64::MAX),
            ));
        }
        (all.len() as u64 >= 2 * N).then_some(all)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let late = received(&sink).len() + j.events().await.len();
    assert_eq!(late as u64, 2 * N, "no event handled twice");
    for from in ["js", "rust"] {
        let mut got: Vec<u64> = deliveries
            .iter()
            .filter(|(_, f, _)| f == from)
            .map(|(_, _, i)| *i)
            .collect();
        got.sort_unstable();
        assert_eq!(got, (0..N).collect::<Vec<_>>(), "{from}'s emits, each once");
        for receiver in ["R", "J"] {
            assert!(
                deliveries
                    .iter()
                    .any(|(r, f, _)| r == receiver && f == from),
                "{receiver} handled some of {from}'s emits: {deliveries:?}"
            );
        }
    }

    // On NATS it was the bus: every call went to REQB, every emit to EVENTB.
    if let Some(seen) = &seen {
        let ns = &cluster.namespace;
        assert_eq!(
            (count(seen, &format!("MOL-{ns}.REQB.shared.where")) - warm_up) as u64,
            2 * N,
            "calls published to the balanced subject"
        );
        assert_eq!(
            count(seen, &format!("MOL-{ns}.EVENTB.shared.bal.tick")) as u64,
            2 * N,
            "emits published to the balanced subject"
        );
        for node in [&r_id, &j_id] {
            assert_eq!(
                count(seen, &format!("MOL-{ns}.REQ.{node}")),
                0,
                "no call aimed at {node} by a caller"
            );
        }
    }

    let (a, b, (), ()) = tokio::join!(r.stop(), rc.stop(), j.exit(), jc.exit());
    a.expect("R stops");
    b.expect("RC stops");
    j.assert_no_errors();
    jc.assert_no_errors();
}
