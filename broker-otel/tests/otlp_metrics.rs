//! The OTLP metrics exporter against an OTLP/HTTP receiver inside the test (hyper, decoding
//! the protobuf with `opentelemetry-proto`): Moleculer's built-in metrics and a user's
//! histogram arrive with their names, types, attributes and exact values.

use broker_core::metrics::{MetricDef, MetricsOptions};
use broker_core::{ActionDef, Broker, Context, Error, ServiceSchema};
use broker_otel::{OtlpMetricsExporter, OtlpMetricsOptions};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point, Metric};
use prost::Message;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Received = Arc<Mutex<Vec<ExportMetricsServiceRequest>>>;

/// Serves OTLP/HTTP metrics on a free port: 200 for a protobuf export at `/v1/metrics`, 400
/// otherwise. Returns its base URL and what it received.
async fn receiver() -> (String, Received) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let received: Received = Arc::default();
    let sink = received.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let sink = sink.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let sink = sink.clone();
                    async move {
                        let ok = req.uri().path() == "/v1/metrics"
                            && req
                                .headers()
                                .get("content-type")
                                .is_some_and(|v| v == "application/x-protobuf");
                        let body = match req.into_body().collect().await {
                            Ok(body) => body.to_bytes(),
                            Err(_) => Bytes::new(),
                        };
                        let status = match ExportMetricsServiceRequest::decode(body) {
                            Ok(export) if ok => {
                                sink.lock().unwrap_or_else(|p| p.into_inner()).push(export);
                                200
                            }
                            _ => 400,
                        };
                        let reply = ExportMetricsServiceResponse::default().encode_to_vec();
                        let mut response = Response::new(Full::new(Bytes::from(reply)));
                        *response.status_mut() =
                            hyper::StatusCode::from_u16(status).unwrap_or_default();
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (format!("http://{addr}"), received)
}

fn attr(attrs: &[KeyValue], key: &str) -> Option<any_value::Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.clone())
}

fn text(s: &str) -> Option<any_value::Value> {
    Some(any_value::Value::StringValue(s.to_owned()))
}

/// The metrics of the last export received.
fn last(received: &Received) -> Vec<Metric> {
    let all = received.lock().unwrap_or_else(|p| p.into_inner());
    all.last()
        .map(|r| {
            r.resource_metrics
                .iter()
                .flat_map(|rm| &rm.scope_metrics)
                .flat_map(|sm| sm.metrics.clone())
                .collect()
        })
        .unwrap_or_default()
}

fn find<'a>(metrics: &'a [Metric], name: &str) -> &'a Metric {
    metrics
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("{name} exported"))
}

/// The value of the `Sum` point of `metric` whose `action` attribute is `action`.
fn sum_for(metric: &Metric, action: &str) -> f64 {
    let Some(metric::Data::Sum(sum)) = &metric.data else {
        panic!("{} is a sum", metric.name);
    };
    assert!(sum.is_monotonic, "{} is monotonic", metric.name);
    let point = sum
        .data_points
        .iter()
        .find(|p| attr(&p.attributes, "action") == text(action))
        .unwrap_or_else(|| panic!("{} has a point for {action}", metric.name));
    match point.value {
        Some(number_data_point::Value::AsDouble(v)) => v,
        Some(number_data_point::Value::AsInt(v)) => v as f64,
        None => panic!("no value"),
    }
}

fn calc() -> ServiceSchema {
    ServiceSchema::new("calc")
        .action(ActionDef::new("add", |ctx: Context| async move {
            let a = ctx.params()["a"].as_f64().unwrap_or(0.0);
            let b = ctx.params()["b"].as_f64().unwrap_or(0.0);
            Ok(json!(a + b))
        }))
        .action(ActionDef::new("fail", |_ctx: Context| async move {
            Err::<Value, _>(Error::new("CalcError", "no").with_code(422))
        }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_arrive_over_otlp_with_their_values() -> Result<(), Error> {
    let (base, received) = receiver().await;
    let broker = Broker::builder()
        .node_id("otlp-metrics-node")
        .namespace("otlp-metrics")
        .metrics(MetricsOptions::default())
        .build();
    broker.add_service(calc()).await?;
    broker.start().await?;
    for _ in 0..2 {
        let _: f64 = broker.call("calc.add", json!({"a": 1, "b": 2})).await?;
    }
    let err = broker
        .call::<Value>("calc.fail", json!({}))
        .await
        .expect_err("fails");
    assert_eq!(err.name(), "CalcError");
    let checkout = broker.metrics().histogram(
        MetricDef::new("shop.checkout.time")
            .unit("millisecond")
            .buckets(vec![10.0, 100.0])
            .quantiles(vec![0.5]),
    )?;
    for v in [5.0, 50.0, 500.0] {
        checkout.observe(&[], v);
    }

    // A long interval: the pushes below are the test's own.
    let exporter = OtlpMetricsExporter::start(
        &broker,
        OtlpMetricsOptions {
            endpoint: format!("{base}/v1/metrics"),
            service_name: "calc-node".into(),
            interval: Duration::from_secs(3600),
            ..OtlpMetricsOptions::default()
        },
    )?;
    tokio::time::timeout(Duration::from_secs(10), exporter.export())
        .await
        .map_err(|_| Error::new("Timeout", "export took over 10 s"))??;

    let export = received
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .last()
        .cloned()
        .expect("one export");
    let resource = export.resource_metrics[0]
        .resource
        .clone()
        .expect("resource");
    assert_eq!(
        attr(&resource.attributes, "service.name"),
        text("calc-node")
    );
    assert_eq!(
        attr(&resource.attributes, "service.instance.id"),
        text("otlp-metrics-node")
    );
    let metrics = last(&received);

    // Counters: cumulative monotonic sums, labels as attributes.
    let total = find(&metrics, "moleculer.request.total");
    assert_eq!(total.unit, "{request}");
    assert_eq!(sum_for(total, "calc.add"), 2.0);
    assert_eq!(sum_for(total, "calc.fail"), 1.0);
    let errors = find(&metrics, "moleculer.request.error.total");
    assert_eq!(sum_for(errors, "calc.fail"), 1.0);
    let Some(metric::Data::Sum(error_sum)) = &errors.data else {
        panic!("error total is a sum");
    };
    let point = &error_sum.data_points[0];
    assert_eq!(attr(&point.attributes, "errorName"), text("CalcError"));
    assert_eq!(
        attr(&point.attributes, "errorCode"),
        Some(any_value::Value::IntValue(422))
    );
    assert_eq!(attr(&point.attributes, "service"), text("calc"));
    assert_eq!(attr(&point.attributes, "type"), text("local"));

    // The request time: a histogram with Moleculer's bounds, plus its quantiles.
    let time = find(&metrics, "moleculer.request.time");
    assert_eq!(time.unit, "ms");
    let Some(metric::Data::Histogram(h)) = &time.data else {
        panic!("request time is a histogram");
    };
    let add = h
        .data_points
        .iter()
        .find(|p| attr(&p.attributes, "action") == text("calc.add"))
        .expect("calc.add time");
    assert_eq!(add.count, 2);
    assert_eq!(
        add.explicit_bounds,
        [1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0]
    );
    assert_eq!(add.bucket_counts.len(), add.explicit_bounds.len() + 1);
    assert_eq!(add.bucket_counts.iter().sum::<u64>(), 2);
    assert!(matches!(
        find(&metrics, "moleculer.request.time.quantiles").data,
        Some(metric::Data::Summary(_))
    ));

    // The user's histogram, exactly.
    let Some(metric::Data::Histogram(h)) = &find(&metrics, "shop.checkout.time").data else {
        panic!("checkout time is a histogram");
    };
    let p = &h.data_points[0];
    assert_eq!((p.count, p.sum), (3, Some(555.0)));
    assert_eq!(p.explicit_bounds, [10.0, 100.0]);
    assert_eq!(p.bucket_counts, [1, 1, 1]);
    let Some(metric::Data::Summary(s)) = &find(&metrics, "shop.checkout.time.quantiles").data
    else {
        panic!("checkout quantiles are a summary");
    };
    let q = &s.data_points[0];
    assert_eq!((q.count, q.sum), (3, 555.0));
    assert_eq!(q.quantile_values.len(), 1);
    assert_eq!(
        (q.quantile_values[0].quantile, q.quantile_values[0].value),
        (0.5, 50.0)
    );

    // Info metrics: a gauge of 1 with the value as an attribute.
    let Some(metric::Data::Gauge(g)) = &find(&metrics, "moleculer.node.type").data else {
        panic!("node type is a gauge");
    };
    assert_eq!(attr(&g.data_points[0].attributes, "value"), text("rust"));

    // Stopping pushes once more, with what changed since.
    let _: f64 = broker.call("calc.add", json!({"a": 1, "b": 1})).await?;
    tokio::time::timeout(Duration::from_secs(10), exporter.stop())
        .await
        .map_err(|_| Error::new("Timeout", "stop took over 10 s"))?;
    let metrics = last(&received);
    assert_eq!(
        sum_for(find(&metrics, "moleculer.request.total"), "calc.add"),
        3.0
    );
    assert_eq!(received.lock().map(|r| r.len()).unwrap_or(0), 2);
    broker.stop().await
}

#[tokio::test]
async fn a_refusing_or_wrong_endpoint_is_a_clear_error() -> Result<(), Error> {
    let (base, received) = receiver().await;
    let broker = Broker::builder()
        .node_id("otlp-metrics-bad")
        .metrics(MetricsOptions::default())
        .build();
    broker.start().await?;
    let bad = OtlpMetricsExporter::start(
        &broker,
        OtlpMetricsOptions {
            endpoint: "127.0.0.1:4318/v1/metrics".into(),
            ..OtlpMetricsOptions::default()
        },
    )
    .expect_err("not a URL");
    assert_eq!(bad.name(), "BrokerOptionsError");
    // The receiver answers 400 off its path.
    let exporter = OtlpMetricsExporter::start(
        &broker,
        OtlpMetricsOptions {
            endpoint: format!("{base}/elsewhere"),
            interval: Duration::from_secs(3600),
            ..OtlpMetricsOptions::default()
        },
    )?;
    let err = tokio::time::timeout(Duration::from_secs(10), exporter.export())
        .await
        .map_err(|_| Error::new("Timeout", "export took over 10 s"))?
        .expect_err("refused");
    assert!(err.message().contains("HTTP 400"), "{err}");
    assert!(received.lock().map(|r| r.is_empty()).unwrap_or(false));
    drop(exporter);
    broker.stop().await
}
