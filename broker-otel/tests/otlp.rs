//! The OTLP exporter against an OTLP/HTTP receiver inside the test (hyper, decoding the
//! protobuf with `opentelemetry-proto`): a call across two nodes, with a custom span between,
//! arrives as one trace with the same tree as the Moleculer spans.

use broker_core::trace::SpanGuard;
use broker_core::{
    ActionDef, Broker, CallOptions, Context, Error, MemoryTransporter, ServiceSchema,
    TracingOptions,
};
use broker_otel::{OtlpExporter, OtlpOptions};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Received = Arc<Mutex<Vec<(String, Span)>>>;

/// Serves OTLP/HTTP on a free port; returns its traces URL and what it received, each span
/// with the `service.name` of its resource.
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
                        let ok = req.uri().path() == "/v1/traces"
                            && req
                                .headers()
                                .get("content-type")
                                .is_some_and(|v| v == "application/x-protobuf");
                        let body = match req.into_body().collect().await {
                            Ok(body) => body.to_bytes(),
                            Err(_) => Bytes::new(),
                        };
                        let status = match ExportTraceServiceRequest::decode(body) {
                            Ok(export) if ok => {
                                let mut sink = sink.lock().unwrap_or_else(|p| p.into_inner());
                                for rs in export.resource_spans {
                                    let service = rs
                                        .resource
                                        .iter()
                                        .flat_map(|r| &r.attributes)
                                        .find(|kv| kv.key == "service.name")
                                        .and_then(|kv| kv.value.as_ref())
                                        .map(|v| format!("{:?}", v.value))
                                        .unwrap_or_default();
                                    for ss in rs.scope_spans {
                                        for span in ss.spans {
                                            sink.push((service.clone(), span));
                                        }
                                    }
                                }
                                200
                            }
                            _ => 400,
                        };
                        let reply = ExportTraceServiceResponse::default().encode_to_vec();
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
    (format!("http://{addr}/v1/traces"), received)
}

fn node(name: &str, url: &str) -> Broker {
    let exporter = OtlpExporter::new(OtlpOptions {
        endpoint: url.to_owned(),
        service_name: format!("svc-{name}"),
        interval: Duration::from_millis(50),
        ..OtlpOptions::default()
    })
    .expect("exporter");
    Broker::builder()
        .namespace("otlp-test")
        .node_id(name)
        .transporter(MemoryTransporter::new())
        .tracing(TracingOptions::new().exporter(exporter))
        .build()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn spans_arrive_over_otlp_with_the_same_tree() -> Result<(), Error> {
    let (url, received) = receiver().await;
    let front = node("front", &url);
    let back = node("back", &url);
    front
        .add_service(ServiceSchema::new("front").action(ActionDef::new(
            "go",
            |ctx: Context| async move {
                let span: SpanGuard = ctx.start_span("front work");
                let r: Value = ctx.call("back.work", json!({"n": 1})).await?;
                drop(span);
                Ok(json!({"back": r, "trace": ctx.request_id(), "id": ctx.id()}))
            },
        )))
        .await?;
    back.add_service(ServiceSchema::new("back").action(ActionDef::new(
        "work",
        |_ctx: Context| async move {
            tokio::time::sleep(Duration::from_millis(3)).await;
            Err::<Value, _>(Error::new("BackError", "back failed"))
        },
    )))
    .await?;
    back.start().await?;
    front.start().await?;
    front
        .wait_for_services(&["back"], Duration::from_secs(5))
        .await?;
    let err = front
        .call_with::<Value>(
            "front.go",
            json!({}),
            CallOptions::new().request_id("0af76519-16cd-43dd-8448-eb211c80319c"),
        )
        .await
        .expect_err("back fails");
    assert_eq!(err.name(), "BackError");
    front.stop().await?;
    back.stop().await?;

    let spans = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let spans = received.lock().unwrap_or_else(|p| p.into_inner()).clone();
            if spans.len() >= 3 {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("three spans within 10 s");
    assert_eq!(spans.len(), 3, "{spans:#?}");
    let find = |name: &str| {
        spans
            .iter()
            .find(|(_, s)| s.name == name)
            .cloned()
            .unwrap_or_else(|| panic!("no span {name}: {spans:#?}"))
    };
    let (front_svc, go) = find("action 'front.go'");
    let (_, work) = find("front work");
    let (back_svc, back) = find("action 'back.work'");
    assert!(front_svc.contains("svc-front") && back_svc.contains("svc-back"));
    // One trace, the request ID's UUID bytes.
    for s in [&go, &work, &back] {
        assert_eq!(hex(&s.trace_id), "0af7651916cd43dd8448eb211c80319c");
    }
    // The tree: go → front work → back.work.
    assert!(go.parent_span_id.is_empty());
    assert_eq!(work.parent_span_id, go.span_id);
    assert_eq!(back.parent_span_id, work.span_id);
    // Times nested.
    assert!(work.start_time_unix_nano >= go.start_time_unix_nano);
    assert!(back.start_time_unix_nano >= work.start_time_unix_nano);
    assert!(back.end_time_unix_nano <= work.end_time_unix_nano);
    assert!(work.end_time_unix_nano <= go.end_time_unix_nano);
    assert!(back.end_time_unix_nano - back.start_time_unix_nano >= 2_000_000);
    // The failure is the span's status, and Moleculer's error fields are attributes.
    let status = back.status.clone().unwrap_or_default();
    assert_eq!(status.code, 2, "STATUS_CODE_ERROR");
    assert_eq!(status.message, "back failed");
    let attr = |s: &Span, k: &str| {
        s.attributes
            .iter()
            .find(|kv| kv.key == k)
            .and_then(|kv| kv.value.clone())
            .map(|v| format!("{:?}", v.value))
    };
    assert!(attr(&back, "error.name").is_some_and(|v| v.contains("BackError")));
    assert!(attr(&back, "remoteCall").is_some_and(|v| v.contains("true")));
    assert_eq!(back.kind, 2, "SPAN_KIND_SERVER");
    Ok(())
}
