//! Metrics: Moleculer's built-in metrics counted exactly over local and remote calls, errors
//! and events (memory transporter), the Prometheus text checked by the real `promtool`, our
//! metric names against the pinned Moleculer.js package's, and a Moleculer.js node reading our
//! `$node.metrics` and `$metrics.snapshot` events.

mod common;
#[macro_use]
#[allow(unused_macros)]
mod interop;

use broker_core::metrics::{
    names, EventReporterOptions, LabelValue, MetricDef, MetricsOptions, Reporter, SeriesValue,
};
use broker_core::{ActionDef, Broker, Context, Error, EventDef, MemoryBus, ServiceSchema};
use common::{eventually, math_service, node, WAIT};
use serde_json::{json, Value};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

fn metrics_on() -> MetricsOptions {
    MetricsOptions::default()
}

/// The value of a counter or gauge series, by label values in label-name order.
fn value(broker: &Broker, name: &str, labels: &[LabelValue]) -> f64 {
    let metric = broker
        .metrics()
        .get(name)
        .unwrap_or_else(|| panic!("{name} registered"));
    metric.series(labels).value()
}

fn s(v: &str) -> LabelValue {
    v.into()
}

const NULL: LabelValue = LabelValue::Null;

fn shop_service() -> ServiceSchema {
    ServiceSchema::new("shop")
        .event(EventDef::new("order.created", |_ctx: Context| async {
            Ok(())
        }))
        .event(EventDef::new("order.bad", |_ctx: Context| async {
            Err(Error::new("OrderError", "bad order")
                .with_code(422)
                .with_type("BAD"))
        }))
        .action(ActionDef::new("double", |ctx: Context| async move {
            let n = ctx.params()["n"].as_f64().unwrap_or(0.0);
            let sum: Value = ctx.call("math.add", json!({"a": n, "b": n})).await?;
            Ok(sum)
        }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_errors_and_events_are_counted_exactly() {
    let bus = MemoryBus::new();
    let (b, _) = node(&bus, "m-alpha");
    let alpha = b.metrics(metrics_on()).build();
    alpha.start().await.expect("start alpha");
    let (b, _) = node(&bus, "m-beta");
    let beta = b.metrics(metrics_on()).build();
    beta.add_service(math_service(Arc::new(AtomicUsize::new(0))))
        .await
        .expect("math");
    beta.add_service(shop_service()).await.expect("shop");
    beta.start().await.expect("start beta");
    alpha
        .wait_for_services(&["math", "shop"], WAIT)
        .await
        .expect("services");

    // alpha → beta: 3 adds, 1 failure, 1 nested call (shop.double → math.add, local on beta).
    for _ in 0..3 {
        let _: f64 = alpha
            .call("math.add", json!({"a": 1, "b": 2}))
            .await
            .expect("add");
    }
    let err = alpha
        .call::<Value>("math.fail", json!({}))
        .await
        .expect_err("fail fails");
    assert_eq!(err.name(), "MathError");
    let _: f64 = alpha
        .call("shop.double", json!({"n": 2}))
        .await
        .expect("double");
    // Two local calls on beta.
    for _ in 0..2 {
        let _: f64 = beta
            .call("math.add", json!({"a": 1, "b": 1}))
            .await
            .expect("local add");
    }
    // Events from alpha: 2 emits and 1 broadcast reach beta's handler; 1 local broadcast does
    // not; 1 emit of a failing event.
    for _ in 0..2 {
        alpha.emit("order.created", json!({})).await.expect("emit");
    }
    alpha
        .broadcast("order.created", json!({}))
        .await
        .expect("broadcast");
    alpha
        .broadcast_local("order.created", json!({}))
        .await
        .expect("local");
    alpha.emit("order.bad", json!({})).await.expect("emit bad");

    let received = |event: &str| {
        value(
            &beta,
            names::MOLECULER_EVENT_RECEIVED_TOTAL,
            &[s("shop"), s("shop"), s(event), NULL],
        )
    };
    eventually("beta handled 3 order.created and 1 order.bad", || {
        let done = received("order.created") == 3.0 && received("order.bad") == 1.0;
        async move { done }
    })
    .await;
    eventually("beta's handlers finished", || {
        let idle = value(
            &beta,
            names::MOLECULER_EVENT_RECEIVED_ACTIVE,
            &[s("shop"), s("shop"), s("order.bad"), NULL],
        ) == 0.0;
        async move { idle }
    })
    .await;

    // The caller's side: type "remote".
    let remote = |action: &str| {
        [
            s(action.rsplit_once('.').map_or("", |x| x.0)),
            s(action),
            s("remote"),
            NULL,
        ]
    };
    assert_eq!(
        value(&alpha, names::MOLECULER_REQUEST_TOTAL, &remote("math.add")),
        3.0
    );
    assert_eq!(
        value(&alpha, names::MOLECULER_REQUEST_TOTAL, &remote("math.fail")),
        1.0
    );
    assert_eq!(
        value(
            &alpha,
            names::MOLECULER_REQUEST_TOTAL,
            &remote("shop.double")
        ),
        1.0
    );
    // Computed gauges are refreshed when the metrics are read.
    alpha.metrics().list(&Default::default());
    assert_eq!(
        value(&alpha, names::MOLECULER_REQUEST_ACTIVE, &remote("math.add")),
        0.0
    );
    let [sv, ac, ty, ca] = remote("math.fail");
    let error_labels = [
        sv,
        ac,
        ty,
        ca,
        s("MathError"),
        LabelValue::Num(418.0),
        s("DIV_ZERO"),
    ];
    assert_eq!(
        value(&alpha, names::MOLECULER_REQUEST_ERROR_TOTAL, &error_labels),
        1.0
    );
    assert_eq!(
        value(&alpha, names::MOLECULER_REQUEST_LEVELS, &[1u32.into()]),
        5.0
    );
    let time = alpha
        .metrics()
        .get(names::MOLECULER_REQUEST_TIME)
        .expect("time")
        .series(&remote("math.add"))
        .read();
    let SeriesValue::Histogram {
        count,
        buckets,
        sum,
        ..
    } = time
    else {
        panic!("request time is a histogram");
    };
    assert_eq!(count, 3);
    assert_eq!(buckets.len(), names::DEFAULT_BUCKETS.len());
    assert_eq!(*buckets.last().expect("10 s bucket"), 3, "all within 10 s");
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "cumulative");
    assert!(sum > 0.0);

    // The handler's side: type "local"; the caller is the calling service when there is one.
    let local = |action: &str, caller: LabelValue| {
        [
            s(action.rsplit_once('.').map_or("", |x| x.0)),
            s(action),
            s("local"),
            caller,
        ]
    };
    assert_eq!(
        value(
            &beta,
            names::MOLECULER_REQUEST_TOTAL,
            &local("math.add", NULL)
        ),
        5.0
    );
    assert_eq!(
        value(
            &beta,
            names::MOLECULER_REQUEST_TOTAL,
            &local("math.add", s("shop"))
        ),
        1.0
    );
    assert_eq!(
        value(
            &beta,
            names::MOLECULER_REQUEST_TOTAL,
            &local("shop.double", NULL)
        ),
        1.0
    );
    assert_eq!(
        value(&beta, names::MOLECULER_REQUEST_LEVELS, &[1u32.into()]),
        7.0
    );
    assert_eq!(
        value(&beta, names::MOLECULER_REQUEST_LEVELS, &[2u32.into()]),
        1.0
    );
    let [sv, ac, ty, ca] = local("math.fail", NULL);
    let error_labels = [
        sv,
        ac,
        ty,
        ca,
        s("MathError"),
        LabelValue::Num(418.0),
        s("DIV_ZERO"),
    ];
    assert_eq!(
        value(&beta, names::MOLECULER_REQUEST_ERROR_TOTAL, &error_labels),
        1.0
    );

    // Events.
    assert_eq!(
        value(
            &alpha,
            names::MOLECULER_EVENT_EMIT_TOTAL,
            &[s("order.created")]
        ),
        2.0
    );
    assert_eq!(
        value(&alpha, names::MOLECULER_EVENT_EMIT_TOTAL, &[s("order.bad")]),
        1.0
    );
    assert_eq!(
        value(
            &alpha,
            names::MOLECULER_EVENT_BROADCAST_TOTAL,
            &[s("order.created")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &alpha,
            names::MOLECULER_EVENT_BROADCASTLOCAL_TOTAL,
            &[s("order.created")]
        ),
        1.0
    );
    let bad = [
        s("shop"),
        s("shop"),
        s("order.bad"),
        NULL,
        s("OrderError"),
        LabelValue::Num(422.0),
        s("BAD"),
    ];
    assert_eq!(
        value(&beta, names::MOLECULER_EVENT_RECEIVED_ERROR_TOTAL, &bad),
        1.0
    );
    let event_time = beta
        .metrics()
        .get(names::MOLECULER_EVENT_RECEIVED_TIME)
        .expect("event time")
        .series(&[s("shop"), s("shop"), s("order.created"), NULL])
        .read();
    assert!(matches!(
        event_time,
        SeriesValue::Histogram { count: 3, .. }
    ));

    // Transit: 5 requests from alpha (3 adds, fail, double), each answered.
    assert_eq!(
        value(&alpha, names::MOLECULER_TRANSIT_PUBLISH_TOTAL, &[s("REQ")]),
        5.0
    );
    assert_eq!(
        value(&beta, names::MOLECULER_TRANSIT_RECEIVE_TOTAL, &[s("REQ")]),
        5.0
    );
    assert_eq!(
        value(&beta, names::MOLECULER_TRANSIT_PUBLISH_TOTAL, &[s("RES")]),
        5.0
    );
    // 3 order events reached beta over the bus (2 emits, 1 broadcast) plus the bad one.
    assert_eq!(
        value(
            &alpha,
            names::MOLECULER_TRANSIT_PUBLISH_TOTAL,
            &[s("EVENT")]
        ),
        4.0
    );
    // The transporter's packet count is the sum over packet types.
    let published: f64 = alpha
        .metrics()
        .get(names::MOLECULER_TRANSIT_PUBLISH_TOTAL)
        .expect("publish")
        .all_series()
        .iter()
        .map(|s| s.value())
        .sum();
    assert_eq!(
        value(&alpha, names::MOLECULER_TRANSPORTER_PACKETS_SENT_TOTAL, &[]),
        published
    );
    assert!(value(&alpha, names::MOLECULER_TRANSPORTER_PACKETS_SENT_BYTES, &[]) > published * 20.0);

    // Computed gauges, refreshed when listed.
    let list = alpha.metrics().list(&Default::default());
    let find = |name: &str| -> Value {
        list.iter()
            .find(|m| m["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} listed"))
    };
    assert_eq!(
        find(names::MOLECULER_REGISTRY_NODES_TOTAL)["values"][0]["value"],
        2
    );
    assert_eq!(
        find(names::MOLECULER_REGISTRY_NODES_ONLINE_TOTAL)["values"][0]["value"],
        2
    );
    assert_eq!(
        find(names::MOLECULER_BROKER_STARTED)["values"][0]["value"],
        1
    );
    assert_eq!(
        find(names::MOLECULER_TRANSIT_REQUESTS_ACTIVE)["values"][0]["value"],
        0
    );
    let endpoints = find(names::MOLECULER_REGISTRY_ACTION_ENDPOINTS_TOTAL);
    let add = endpoints["values"]
        .as_array()
        .and_then(|v| v.iter().find(|x| x["labels"]["action"] == "math.add"))
        .expect("math.add endpoints");
    assert_eq!(add["value"], 1);
    assert_eq!(add["key"], "\"math.add\"");

    alpha.stop().await.expect("stop");
    beta.stop().await.expect("stop");
}

#[tokio::test]
async fn users_register_their_own_metrics() {
    let broker = Broker::builder()
        .node_id("m-user")
        .metrics(metrics_on())
        .build();
    broker
        .add_service(ServiceSchema::new("orders").action(ActionDef::new(
            "create",
            |ctx: Context| async move {
                let created = ctx.broker().metrics().counter(
                    MetricDef::new("shop.orders.created")
                        .labels(["region"])
                        .rate(true),
                )?;
                created.increment(&[ctx.params()["region"].as_str().into()]);
                Ok(json!(true))
            },
        )))
        .await
        .expect("service");
    broker.start().await.expect("start");
    for region in ["eu", "eu", "us"] {
        let _: bool = broker
            .call("orders.create", json!({"region": region}))
            .await
            .expect("create");
    }
    let created = broker
        .metrics()
        .counter(MetricDef::new("shop.orders.created").labels(["region"]))
        .expect("same counter");
    assert_eq!(created.value(&["eu".into()]), 2.0);
    assert_eq!(created.value(&["us".into()]), 1.0);
    // Another type under the same name, or a bad name, is refused with a clear error.
    let err = broker
        .metrics()
        .gauge(MetricDef::new("shop.orders.created"))
        .expect_err("type mismatch");
    assert!(
        err.message().contains("already registered as a counter"),
        "{err}"
    );
    let err = broker
        .metrics()
        .gauge(MetricDef::new("9lives"))
        .expect_err("bad name");
    assert!(err.message().contains("not valid"), "{err}");

    let hist = broker
        .metrics()
        .histogram(MetricDef::new("shop.checkout.time").buckets(vec![10.0, 100.0]))
        .expect("histogram");
    hist.observe(&[], 5.0);
    hist.observe(&[], 50.0);
    hist.observe(&[], 500.0);
    assert_eq!(
        hist.read(&[]),
        Some(SeriesValue::Histogram {
            count: 3,
            sum: 555.0,
            last: Some(500.0),
            buckets: vec![1, 2]
        })
    );
    let text = broker.metrics().to_prometheus();
    assert!(
        text.contains("shop_orders_created{namespace=\"\",nodeID=\"m-user\",region=\"eu\"} 2\n"),
        "{text}"
    );
    assert!(
        text.contains("shop_checkout_time_bucket{namespace=\"\",nodeID=\"m-user\",le=\"100\"} 2\n"),
        "{text}"
    );
    broker.stop().await.expect("stop");
}

#[tokio::test]
async fn histograms_have_moleculers_quantiles() {
    let broker = Broker::builder()
        .node_id("m-quantiles")
        .metrics(metrics_on())
        .build();
    broker
        .add_service(math_service(Arc::new(AtomicUsize::new(0))))
        .await
        .expect("math");
    broker.start().await.expect("start");
    let hist = broker
        .metrics()
        .histogram(
            MetricDef::new("shop.checkout.time")
                .buckets(vec![10.0, 100.0])
                .quantiles(vec![0.99, 0.5, 0.9]),
        )
        .expect("histogram");
    for v in 1..=100 {
        hist.observe(&[], f64::from(v));
    }
    let _: f64 = broker
        .call("math.add", json!({"a": 1, "b": 2}))
        .await
        .expect("add");

    let list: Value = broker
        .call(
            "$node.metrics",
            json!({"includes": ["shop.checkout.time", "moleculer.request.time"]}),
        )
        .await
        .expect("$node.metrics");
    let find = |name: &str| {
        list.as_array()
            .and_then(|l| l.iter().find(|m| m["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("{name} listed: {list}"))
    };
    // Moleculer: samples sorted, quantile q is samples[ceil(q·n) − 1].
    let item = &find("shop.checkout.time")["values"][0];
    assert_eq!(
        item["quantiles"],
        json!({"0.5": 50, "0.9": 90, "0.99": 99}),
        "{item}"
    );
    assert_eq!(item["min"], 1);
    assert_eq!(item["max"], 100);
    assert_eq!(item["mean"], 50.5);
    let variance = item["variance"].as_f64().expect("variance");
    assert!((variance - 841.666_666).abs() < 1e-3, "{item}");
    assert!((item["stdDev"].as_f64().expect("stdDev") - variance.sqrt()).abs() < 1e-9);
    // The built-in request time has Moleculer's default quantiles.
    let time = &find("moleculer.request.time")["values"][0];
    let keys: Vec<&String> = time["quantiles"]
        .as_object()
        .map(|q| q.keys().collect())
        .unwrap_or_default();
    assert_eq!(keys, ["0.5", "0.9", "0.95", "0.99", "0.999"], "{time}");
    assert!(time["quantiles"]["0.5"].as_f64().is_some(), "{time}");

    let text = broker.metrics().to_prometheus();
    for line in [
        "# TYPE shop_checkout_time_quantiles summary\n",
        "shop_checkout_time_quantiles{namespace=\"\",nodeID=\"m-quantiles\",quantile=\"0.5\"} 50\n",
        "shop_checkout_time_quantiles{namespace=\"\",nodeID=\"m-quantiles\",quantile=\"0.99\"} 99\n",
        "shop_checkout_time_quantiles_sum{namespace=\"\",nodeID=\"m-quantiles\"} 5050\n",
        "shop_checkout_time_quantiles_count{namespace=\"\",nodeID=\"m-quantiles\"} 100\n",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
    broker.stop().await.expect("stop");
}

#[tokio::test]
async fn node_options_show_metrics_and_tracing_as_moleculer() {
    use broker_core::trace::{EventExporter, Sampling};
    let broker = Broker::builder()
        .node_id("m-options")
        .metrics(metrics_on().reporter(Reporter::Event(EventReporterOptions::default())))
        .tracing(
            broker_core::TracingOptions::new()
                .sampling(Sampling::rate(0.5))
                .events(true)
                .exporter(EventExporter::default()),
        )
        .build();
    broker.start().await.expect("start");
    let options: Value = broker
        .call("$node.options", json!({}))
        .await
        .expect("$node.options");
    let metrics = &options["metrics"];
    assert_eq!(metrics["enabled"], true, "{options}");
    assert_eq!(metrics["collectInterval"], 5.0);
    assert_eq!(
        metrics["defaultQuantiles"],
        json!([0.5, 0.9, 0.95, 0.99, 0.999])
    );
    assert_eq!(metrics["defaultMaxAgeSeconds"], 60.0);
    assert_eq!(metrics["defaultAgeBuckets"], 10);
    assert_eq!(metrics["reporter"][0]["type"], "Event");
    assert_eq!(
        metrics["reporter"][0]["options"]["eventName"],
        "$metrics.snapshot"
    );
    let tracing = &options["tracing"];
    assert_eq!(tracing["enabled"], true, "{options}");
    assert_eq!(
        tracing["sampling"],
        json!({"rate": 0.5, "tracesPerSecond": null, "minPriority": null})
    );
    assert_eq!(
        (&tracing["actions"], &tracing["events"]),
        (&json!(true), &json!(true))
    );
    assert_eq!(tracing["exporter"][0]["type"], "Event");
    assert_eq!(
        tracing["exporter"][0]["options"]["eventName"],
        "$tracing.spans"
    );
    assert_eq!(
        tracing["errorFields"],
        json!(["name", "message", "code", "type", "data"])
    );
    broker.stop().await.expect("stop");

    // Both off: Moleculer's defaults, `{ enabled: false }`.
    let off = Broker::builder().node_id("m-options-off").build();
    off.start().await.expect("start");
    let options: Value = off.call("$node.options", json!({})).await.expect("options");
    assert_eq!(options["metrics"], json!({"enabled": false}));
    assert_eq!(options["tracing"], json!({"enabled": false}));
    off.stop().await.expect("stop");
}

#[tokio::test]
async fn disabled_metrics_cost_nothing_and_say_so() {
    let broker = Broker::builder().node_id("m-off").build();
    broker.start().await.expect("start");
    assert!(!broker.metrics().is_enabled());
    let c = broker
        .metrics()
        .counter(MetricDef::new("x.total"))
        .expect("a handle, inert");
    c.increment(&[]);
    assert_eq!(c.value(&[]), 0.0);
    assert!(broker.metrics().list(&Default::default()).is_empty());
    let err = broker
        .call::<Value>("$node.metrics", json!({}))
        .await
        .expect_err("disabled");
    assert_eq!(err.name(), "MoleculerClientError");
    assert_eq!(err.code(), 400);
    assert_eq!(err.error_type(), Some("METRICS_DISABLED"));
    broker.stop().await.expect("stop");
}

#[tokio::test]
async fn node_metrics_filters_by_type_and_pattern() {
    let broker = Broker::builder()
        .node_id("m-filter")
        .metrics(metrics_on())
        .build();
    broker.start().await.expect("start");
    let list: Value = broker
        .call(
            "$node.metrics",
            json!({"types": "histogram", "includes": "moleculer.request.**"}),
        )
        .await
        .expect("metrics");
    let names: Vec<&str> = list
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert_eq!(names, [names::MOLECULER_REQUEST_TIME]);
    let list: Value = broker
        .call(
            "$node.metrics",
            json!({"includes": ["os.**", "process.**"], "excludes": "os.datetime.**"}),
        )
        .await
        .expect("metrics");
    let all = list.as_array().expect("a list");
    assert!(all.iter().any(|m| m["name"] == names::PROCESS_MEMORY_RSS));
    assert!(all
        .iter()
        .all(|m| !m["name"].as_str().unwrap_or("").starts_with("os.datetime")));
    assert!(all.iter().all(|m| {
        let n = m["name"].as_str().unwrap_or("");
        n.starts_with("os.") || n.starts_with("process.")
    }));
    broker.stop().await.expect("stop");
}

#[tokio::test]
async fn event_reporter_emits_snapshots() {
    let bus = MemoryBus::new();
    let (b, _) = node(&bus, "m-reporter");
    let reporter = EventReporterOptions {
        interval: Duration::from_millis(100),
        includes: Some(vec!["moleculer.request.**".into()]),
        ..Default::default()
    };
    let sender = b
        .metrics(metrics_on().reporter(Reporter::Event(reporter)))
        .build();
    sender
        .add_service(math_service(Arc::new(AtomicUsize::new(0))))
        .await
        .expect("math");
    sender.start().await.expect("start");
    let (b, _) = node(&bus, "m-collector");
    let collector = b.build();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    collector
        .add_service(ServiceSchema::new("collector").event(EventDef::new(
            "$metrics.snapshot",
            move |ctx: Context| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send((ctx.node_id().to_owned(), ctx.params().clone()));
                    Ok(())
                }
            },
        )))
        .await
        .expect("collector");
    collector.start().await.expect("start");
    sender
        .wait_for_services(&["collector"], WAIT)
        .await
        .expect("collector seen");
    let _: f64 = sender
        .call("math.add", json!({"a": 1, "b": 1}))
        .await
        .expect("add");
    let snapshot = tokio::time::timeout(WAIT, async {
        loop {
            let (from, list) = rx.recv().await.expect("channel open");
            let total = list.as_array().and_then(|l| {
                l.iter()
                    .find(|m| m["name"] == names::MOLECULER_REQUEST_TOTAL)
                    .cloned()
            });
            if let Some(total) = total {
                if total["values"].as_array().is_some_and(|v| !v.is_empty()) {
                    return (from, list, total);
                }
            }
        }
    })
    .await
    .expect("a snapshot with the call");
    let (from, list, total) = snapshot;
    assert_eq!(from, "m-reporter");
    assert!(list.as_array().expect("list").iter().all(|m| m["name"]
        .as_str()
        .unwrap_or("")
        .starts_with("moleculer.request.")));
    assert_eq!(total["type"], "counter");
    assert_eq!(
        total["labelNames"],
        json!(["service", "action", "type", "caller"])
    );
    assert_eq!(total["unit"], "request");
    let item = &total["values"][0];
    assert_eq!(item["value"], 1);
    assert_eq!(item["key"], "\"math\"|\"math.add\"|\"local\"|");
    assert_eq!(
        item["labels"],
        json!({"service": "math", "action": "math.add", "type": "local", "caller": null})
    );
    assert!(item["timestamp"].as_u64().is_some());
    assert!(item["rate"].is_number());
    sender.stop().await.expect("stop");
    collector.stop().await.expect("stop");
}

/// Every name we register is one of [`names::PRODUCED`] and every one of those is registered
/// (on a node with a transporter, circuit breakers and process metrics); each is Moleculer.js'
/// own constant, and Moleculer's whole list is either produced or listed as not produced.
#[tokio::test]
async fn names_match_the_pinned_moleculer_js() {
    interop::ensure_js_deps();
    let out = std::process::Command::new("node")
        .args([
            "-e",
            "process.stdout.write(JSON.stringify(require('moleculer').METRIC))",
        ])
        .current_dir(interop::interop_dir())
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let js: serde_json::Map<String, Value> =
        serde_json::from_slice(&out.stdout).expect("METRIC is a JSON object");
    let js_metrics: std::collections::BTreeSet<&str> = js
        .keys()
        .map(String::as_str)
        .filter(|k| !k.starts_with("TYPE_") && !k.starts_with("UNIT_"))
        .collect();
    for (konst, name) in names::PRODUCED {
        assert_eq!(
            js.get(*konst).and_then(Value::as_str),
            Some(*name),
            "METRIC.{konst}"
        );
    }
    let ours: std::collections::BTreeSet<&str> = names::PRODUCED
        .iter()
        .map(|(k, _)| *k)
        .chain(names::NOT_PRODUCED.iter().copied())
        .collect();
    assert_eq!(ours, js_metrics, "our lists cover Moleculer's exactly");

    let bus = MemoryBus::new();
    let (b, _) = node(&bus, "m-names");
    let broker = b
        .metrics(metrics_on())
        .circuit_breaker(broker_core::CircuitBreakerOptions {
            enabled: true,
            ..Default::default()
        })
        .build();
    let registered: std::collections::BTreeSet<String> = broker
        .metrics()
        .metrics()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    let produced: std::collections::BTreeSet<String> = names::PRODUCED
        .iter()
        .map(|(_, n)| (*n).to_owned())
        .collect();
    assert_eq!(registered, produced);
}

/// The Prometheus text of a busy node, label values with quotes, backslashes and newlines
/// included, is accepted by Prometheus' own `promtool check metrics`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_text_passes_promtool() {
    let bus = MemoryBus::new();
    let (b, _) = node(&bus, "m-prom");
    let broker = b
        .metrics(metrics_on())
        .circuit_breaker(broker_core::CircuitBreakerOptions {
            enabled: true,
            ..Default::default()
        })
        .build();
    broker
        .add_service(math_service(Arc::new(AtomicUsize::new(0))))
        .await
        .expect("math");
    broker.add_service(shop_service()).await.expect("shop");
    broker.start().await.expect("start");
    let _: f64 = broker.call("math.add", json!({})).await.expect("add");
    let _ = broker.call::<Value>("math.fail", json!({})).await;
    let _: f64 = broker
        .call("shop.double", json!({"n": 1}))
        .await
        .expect("double");
    broker.emit("order.bad", json!({})).await.expect("emit");
    let odd = broker
        .metrics()
        .gauge(MetricDef::new("odd-labels.value").labels(["path.name"]))
        .expect("gauge");
    odd.set(&["a \"quoted\" \\ path\nnext".into()], 1.5);
    let text = broker.metrics().to_prometheus();
    broker.stop().await.expect("stop");
    assert!(text.contains("moleculer_request_time_bucket{"), "{text}");
    assert!(text.contains("moleculer_request_total_rate{"), "{text}");
    assert!(
        text.contains("# TYPE moleculer_request_time_quantiles summary\n"),
        "{text}"
    );
    assert!(text.contains(",quantile=\"0.99\"} "), "{text}");

    let Some(verdict) = promtool(&text) else {
        return;
    };
    let (code, output) = verdict;
    // The check can fail: a broken line is a parse error (exit 1).
    let broken = promtool("# TYPE x counter\nx{a=\"1} 1\n").map(|(c, _)| c);
    assert_eq!(broken, Some(1), "promtool rejects broken text");
    // Exit 3 means lint remarks only; Moleculer's own names draw some (`_bytes` counters
    // without `_total`, `_total` gauges, units in names, the `nodeID` label), which a
    // dashboard needs unchanged. Anything else fails.
    let accepted = [
        "counter metrics should have \"_total\" suffix",
        "metric names should not contain abbreviated units",
        "non-counter metrics should not have \"_total\" suffix",
        "no help text",
        "label names should be written in 'snake_case' not 'camelCase'",
    ];
    let remarks: Vec<&str> = output
        .lines()
        .filter(|l| !accepted.iter().any(|a| l.ends_with(a)))
        .collect();
    assert!(
        code == 0 || (code == 3 && remarks.is_empty()),
        "promtool exit {code}:\n{output}\n--- text ---\n{text}"
    );
}

/// Runs `promtool check metrics` on `text`: exit code and output. `None` (test skipped, with a
/// message) when promtool is not installed, except in CI where it must be.
fn promtool(text: &str) -> Option<(i32, String)> {
    use std::io::Write;
    let child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(_) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: promtool not installed (apt-get install -y prometheus)");
            return None;
        }
        Err(e) => panic!("promtool is required in CI (apt-get install -y prometheus): {e}"),
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool finishes");
    let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
    output.push_str(&String::from_utf8_lossy(&out.stderr));
    Some((out.status.code().unwrap_or(-1), output))
}

/// A node's own exporter serves `/metrics` (404 elsewhere), and the gateway serves the same
/// text at the path it is given; both in Prometheus' content type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exporter_and_gateway_serve_metrics() {
    let broker = Broker::builder()
        .node_id("m-http")
        .metrics(metrics_on())
        .build();
    broker
        .add_service(math_service(Arc::new(AtomicUsize::new(0))))
        .await
        .expect("math");
    let gateway = broker_web::ApiGateway::builder()
        .listen("127.0.0.1:0")
        .metrics_path("/metrics")
        .build(&broker);
    broker.add_service(gateway.clone()).await.expect("gateway");
    broker.start().await.expect("start");
    let _: f64 = broker.call("math.add", json!({"a": 1})).await.expect("add");

    let exporter = broker_web::MetricsExporter::start(&broker, "127.0.0.1:0")
        .await
        .expect("exporter");
    let port = exporter.local_addr().port();
    let res = interop::http::request(port, "GET", "/metrics", None).await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = String::from_utf8(res.body).expect("utf-8");
    let line = "moleculer_request_total{namespace=\"\",nodeID=\"m-http\",service=\"math\",\
                action=\"math.add\",type=\"local\",caller=\"null\"} 1\n";
    assert!(text.contains(line), "{text}");
    if let Some((code, output)) = promtool(&text) {
        assert!(code == 0 || code == 3, "promtool exit {code}: {output}");
    }
    assert_eq!(
        interop::http::request(port, "GET", "/other", None)
            .await
            .status,
        404
    );
    exporter.stop().await;

    let port = gateway.local_addr().expect("gateway listening").port();
    let res = interop::http::request(port, "GET", "/metrics", None).await;
    assert_eq!(res.status, 200);
    assert!(String::from_utf8_lossy(&res.body).contains(line));
    broker.stop().await.expect("stop");

    // Without metrics, the gateway says so.
    let off = Broker::builder().node_id("m-http-off").build();
    let gateway = broker_web::ApiGateway::builder()
        .listen("127.0.0.1:0")
        .metrics_path("/metrics")
        .build(&off);
    off.add_service(gateway.clone()).await.expect("gateway");
    off.start().await.expect("start");
    let port = gateway.local_addr().expect("gateway listening").port();
    assert_eq!(
        interop::http::request(port, "GET", "/metrics", None)
            .await
            .status,
        503
    );
    off.stop().await.expect("stop");
}

/// A Moleculer.js 0.15 node reads our `$node.metrics` and receives our `$metrics.snapshot`
/// events: every metric both sides have carries the same type, label names, unit and
/// description, and each series the same fields (histograms less Moleculer's quantile
/// fields, which we do not keep).
async fn js_node_reads_our_metrics() {
    use interop::{peer::JsPeer, Cluster, JsVersion};
    let cluster = Cluster::new(JsVersion::V015, "metrics");
    let rust_id = cluster.node_id("rs-metrics");
    let js_id = cluster.node_id("js-metrics");
    let reporter = EventReporterOptions {
        interval: Duration::from_millis(300),
        includes: Some(vec!["moleculer.request.**".into()]),
        ..Default::default()
    };
    let rust = cluster
        .rust_node(&rust_id)
        .metrics(metrics_on().reporter(Reporter::Event(reporter)))
        .build();
    rust.add_service(interop::services::rmath())
        .await
        .expect("rmath");
    rust.start().await.expect("start");
    let mut config =
        cluster.peer_config(&js_id, &["jsmath"], json!([{"event": "$metrics.snapshot"}]));
    config["metrics"] = json!({"enabled": true, "collectProcessMetrics": false});
    let js = JsPeer::start(config).await;
    js.wait_for(&["rmath"]).await;
    rust.wait_for_services(&["jsmath"], interop::WAIT)
        .await
        .expect("jsmath");

    for _ in 0..2 {
        js.call_ok("rmath.add", json!({"a": 1, "b": 2}), json!({}))
            .await;
        js.call_ok("jsmath.add", json!({"a": 1, "b": 2}), json!({}))
            .await;
    }
    let _: Value = rust
        .call("jsmath.add", json!({"a": 1, "b": 2}))
        .await
        .expect("jsmath.add");

    let ours = js
        .call_ok("$node.metrics", json!({}), json!({"nodeID": rust_id}))
        .await
        .result;
    let theirs = js
        .call_ok("$node.metrics", json!({}), json!({"nodeID": js_id}))
        .await
        .result;
    let by_name = |list: &Value| -> std::collections::BTreeMap<String, Value> {
        list.as_array()
            .expect("a metrics list")
            .iter()
            .map(|m| (m["name"].as_str().unwrap_or_default().to_owned(), m.clone()))
            .collect()
    };
    let (ours, theirs) = (by_name(&ours), by_name(&theirs));
    let mut compared = 0;
    let mut differences = Vec::new();
    for (name, our) in &ours {
        let Some(their) = theirs.get(name) else {
            continue;
        };
        compared += 1;
        for field in ["type", "labelNames", "unit", "description"] {
            if our.get(field) != their.get(field) {
                differences.push(format!(
                    "{name}.{field}: ours {:?}, Moleculer.js {:?}",
                    our.get(field),
                    their.get(field)
                ));
            }
        }
        let keys = |m: &Value| -> std::collections::BTreeSet<String> {
            m.as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default()
        };
        if keys(our) != keys(their) {
            differences.push(format!(
                "{name} keys: ours {:?}, Moleculer.js {:?}",
                keys(our),
                keys(their)
            ));
        }
        if let (Some(a), Some(b)) = (our["values"].get(0), their["values"].get(0)) {
            let (mut ka, kb) = (keys(a), keys(b));
            if our["type"] == "histogram" {
                // Moleculer's time-window quantile fields; this broker keeps no samples.
                ka.extend(
                    ["min", "mean", "variance", "stdDev", "max", "quantiles"].map(String::from),
                );
            }
            if ka != kb {
                differences.push(format!(
                    "{name} series keys: ours {ka:?}, Moleculer.js {kb:?}"
                ));
            }
            if keys(&a["labels"]) != keys(&b["labels"]) {
                differences.push(format!(
                    "{name} labels: ours {}, Moleculer.js {}",
                    a["labels"], b["labels"]
                ));
            }
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    assert!(compared >= 30, "only {compared} metrics in common");

    // The values: two local requests of rmath.add from JS (no caller), one remote call out.
    let total = &ours[names::MOLECULER_REQUEST_TOTAL]["values"];
    let add = total
        .as_array()
        .and_then(|v| v.iter().find(|x| x["labels"]["action"] == "rmath.add"))
        .expect("rmath.add counted");
    assert_eq!(add["value"], 2);
    assert_eq!(
        add["labels"],
        json!({"service": "rmath", "action": "rmath.add", "type": "local", "caller": null})
    );
    let their_add = theirs[names::MOLECULER_REQUEST_TOTAL]["values"]
        .as_array()
        .and_then(|v| {
            v.iter()
                .find(|x| x["labels"]["action"] == "jsmath.add" && x["labels"]["caller"].is_null())
        })
        .expect("jsmath.add counted by JS");
    // Its own two and ours.
    assert_eq!(their_add["value"], 3);
    // JS computes the key the same way from the same kind of labels.
    assert_eq!(add["key"], "\"rmath\"|\"rmath.add\"|\"local\"|");
    assert_eq!(their_add["key"], "\"jsmath\"|\"jsmath.add\"|\"local\"|");
    let remote = total
        .as_array()
        .and_then(|v| v.iter().find(|x| x["labels"]["action"] == "jsmath.add"))
        .expect("the call out counted");
    assert_eq!(remote["labels"]["type"], "remote");
    assert_eq!(remote["value"], 1);

    // The snapshot events JS received from us have the shape `$node.metrics` gives.
    let snapshot = interop::eventually(
        "a $metrics.snapshot from the Rust node",
        interop::WAIT,
        || {
            let js = &js;
            let rust_id = rust_id.clone();
            async move {
                js.events().await.into_iter().find(|e| {
                    e["event"] == "$metrics.snapshot"
                        && e["nodeID"] == rust_id.as_str()
                        && e["params"].as_array().is_some_and(|l| {
                            l.iter().any(|m| {
                                m["name"] == names::MOLECULER_REQUEST_TOTAL
                                    && m["values"].as_array().is_some_and(|v| v.len() >= 2)
                            })
                        })
                })
            }
        },
    )
    .await;
    let list = snapshot["params"].as_array().expect("a list");
    assert!(list.iter().all(|m| m["name"]
        .as_str()
        .unwrap_or("")
        .starts_with("moleculer.request.")));
    let sent_total = list
        .iter()
        .find(|m| m["name"] == names::MOLECULER_REQUEST_TOTAL)
        .expect("request.total sent");
    assert_eq!(
        sent_total["labelNames"],
        theirs[names::MOLECULER_REQUEST_TOTAL]["labelNames"]
    );
    assert_eq!(snapshot["eventType"], "emit");

    js.assert_no_errors();
    js.exit().await;
    rust.stop().await.expect("stop");
}

only_v015!(js_node_reads_our_metrics);

/// Bulkhead gauges show handlers running and queued; circuit breaker metrics show an opened
/// breaker, labelled by endpoint node, service and action.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulkhead_and_circuit_breaker_metrics() {
    let broker = Broker::builder()
        .node_id("m-guards")
        .metrics(metrics_on())
        .bulkhead(broker_core::middleware::BulkheadOptions {
            concurrency: 1,
            max_queue_size: 10,
        })
        .circuit_breaker(broker_core::CircuitBreakerOptions {
            enabled: true,
            threshold: 0.5,
            min_request_count: 2,
            ..Default::default()
        })
        .build();
    broker
        .add_service(math_service(Arc::new(AtomicUsize::new(0))))
        .await
        .expect("math");
    broker.start().await.expect("start");

    let calls: Vec<_> = (0..3)
        .map(|_| {
            let b = broker.clone();
            tokio::spawn(async move { b.call::<Value>("math.slow", json!({"ms": 400})).await })
        })
        .collect();
    let labels = [s("math.slow"), s("math")];
    let slow = [s("math"), s("math.slow"), s("local"), NULL];
    eventually("one running, two queued, three active requests", || {
        // Listing runs the collectors that read the gates.
        broker.metrics().list(&Default::default());
        let ok = value(&broker, names::MOLECULER_REQUEST_BULKHEAD_INFLIGHT, &labels) == 1.0
            && value(
                &broker,
                names::MOLECULER_REQUEST_BULKHEAD_QUEUE_SIZE,
                &labels,
            ) == 2.0
            && value(&broker, names::MOLECULER_REQUEST_ACTIVE, &slow) == 3.0;
        async move { ok }
    })
    .await;
    for call in calls {
        call.await.expect("task").expect("slow");
    }
    broker.metrics().list(&Default::default());
    assert_eq!(value(&broker, names::MOLECULER_REQUEST_ACTIVE, &slow), 0.0);
    assert_eq!(
        value(&broker, names::MOLECULER_REQUEST_BULKHEAD_INFLIGHT, &labels),
        0.0
    );
    assert_eq!(
        value(
            &broker,
            names::MOLECULER_REQUEST_BULKHEAD_QUEUE_SIZE,
            &labels
        ),
        0.0
    );

    for _ in 0..2 {
        let err = broker
            .call::<Value>("math.boom", json!({}))
            .await
            .expect_err("boom");
        assert_eq!(err.code(), 500);
    }
    broker.metrics().list(&Default::default());
    let cb = [s("m-guards"), s("math"), s("math.boom")];
    assert_eq!(
        value(&broker, names::MOLECULER_CIRCUIT_BREAKER_OPENED_ACTIVE, &cb),
        1.0
    );
    assert_eq!(
        value(&broker, names::MOLECULER_CIRCUIT_BREAKER_OPENED_TOTAL, &cb),
        1.0
    );
    assert_eq!(
        value(
            &broker,
            names::MOLECULER_CIRCUIT_BREAKER_HALF_OPENED_ACTIVE,
            &cb
        ),
        0.0
    );
    broker.stop().await.expect("stop");
}
