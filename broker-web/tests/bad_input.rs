//! Bad input: each gets a clear 4xx (or a closed connection), and the node keeps serving.

mod common;

use std::time::Duration;

use broker_core::{ActionDef, Context, Error, ServiceSchema};
use broker_web::{MappingPolicy, Route};
use bytes::Bytes;
use common::{Cluster, Gw};
use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn echo() -> ServiceSchema {
    ServiceSchema::new("echo").action(ActionDef::new("it", |ctx: Context| async move {
        Ok::<Value, Error>(ctx.params().clone())
    }))
}

async fn gateway(cluster: &Cluster) -> Gw {
    cluster
        .gateway(vec![echo()], |b| {
            b.route(
                Route::new("/api")
                    .alias("POST /it", "echo.it")
                    .mapping_policy(MappingPolicy::Restrict)
                    .body_limit(1024),
            )
            .body_read_timeout(Duration::from_millis(300))
            .header_read_timeout(Duration::from_millis(300))
            .max_header_bytes(8 * 1024)
        })
        .await
}

async fn still_serving(gw: &Gw) {
    assert_eq!(gw.get("/health").await.status, StatusCode::OK);
    let a = gw
        .send_json(Method::POST, "/api/it", json!({"ok": true}))
        .await;
    assert_eq!(a.json(), json!({"ok": true}));
}

/// Sends raw bytes on a fresh connection; what comes back before close (bounded).
async fn raw(gw: &Gw, parts: &[&[u8]], pause: Duration) -> String {
    let mut stream = TcpStream::connect(gw.addr).await.expect("connect");
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(pause).await;
        }
        if stream.write_all(p).await.is_err() {
            break;
        }
    }
    let mut out = Vec::new();
    let read = tokio::time::timeout(common::WAIT, stream.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "server answered or closed in time");
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn malformed_json_is_a_400() {
    let cluster = Cluster::new();
    let gw = gateway(&cluster).await;
    let a = gw
        .send(
            Method::POST,
            "/api/it",
            &[("content-type", "application/json")],
            Bytes::from_static(b"{\"a\": "),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.json()["name"], "InvalidRequestBodyError");
    assert_eq!(a.json()["type"], "INVALID_REQUEST_BODY");
    assert!(
        a.json()["data"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("EOF")),
        "{}",
        a.text()
    );
    still_serving(&gw).await;
    gw.broker.stop().await.expect("stopped");
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_declared_or_chunked() {
    let cluster = Cluster::new();
    let gw = gateway(&cluster).await;
    let big = Bytes::from(vec![b' '; 4096]);
    let a = gw
        .send(
            Method::POST,
            "/api/it",
            &[("content-type", "application/json")],
            big,
        )
        .await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(a.json()["name"], "PayloadTooLarge");
    // Chunked: no Content-Length to refuse up front; the limit cuts the stream.
    let chunk = format!("{:x}\r\n{}\r\n", 800, " ".repeat(800));
    let head = "POST /api/it HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
    let answer = raw(
        &gw,
        &[
            head.as_bytes(),
            chunk.as_bytes(),
            chunk.as_bytes(),
            b"0\r\n\r\n",
        ],
        Duration::ZERO,
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    still_serving(&gw).await;
    gw.broker.stop().await.expect("stopped");
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_are_404() {
    let cluster = Cluster::new();
    let gw = gateway(&cluster).await;
    for (method, path) in [
        (Method::GET, "/nope"),
        (Method::GET, "/api/it"),
        (Method::DELETE, "/api/it"),
    ] {
        let a = gw.send(method.clone(), path, &[], Bytes::new()).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(a.json()["name"], "NotFoundError");
    }
    still_serving(&gw).await;
    gw.broker.stop().await.expect("stopped");
}

#[tokio::test]
async fn huge_headers_are_a_431() {
    let cluster = Cluster::new();
    let gw = gateway(&cluster).await;
    let head = format!(
        "GET /health HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let answer = raw(&gw, &[head.as_bytes()], Duration::ZERO).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    still_serving(&gw).await;
    gw.broker.stop().await.expect("stopped");
}

#[tokio::test]
async fn a_slow_body_is_a_408_and_slow_headers_are_cut() {
    let cluster = Cluster::new();
    let gw = gateway(&cluster).await;
    let head = b"POST /api/it HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 20\r\nconnection: close\r\n\r\n{\"a\":";
    let started = std::time::Instant::now();
    let answer = raw(&gw, &[head, b"1"], Duration::from_secs(1)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("RequestBodyTimeoutError"), "{answer}");
    assert!(started.elapsed() < Duration::from_millis(2500));

    // Headers that never end: the connection is closed after the header read timeout.
    let started = std::time::Instant::now();
    let _ = raw(
        &gw,
        &[b"GET /health HTTP/1.1\r\nhost: x\r\n", b"x-a: 1\r\n"],
        Duration::from_secs(1),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "closed by the header timeout"
    );
    still_serving(&gw).await;
    gw.broker.stop().await.expect("stopped");
}
