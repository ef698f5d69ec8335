//! Results, meta-driven responses, errors and request metadata, over real HTTP.

mod common;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use broker_core::{ActionDef, CallOptions, Context, Error, ServiceSchema};
use broker_web::Route;
use bytes::Bytes;
use common::Cluster;
use hyper::{Method, StatusCode};
use serde_json::{json, Value};

fn shop() -> ServiceSchema {
    ServiceSchema::new("shop")
        .action(ActionDef::new("create", |ctx: Context| async move {
            ctx.set_meta("$statusCode", json!(201));
            ctx.set_meta("$location", json!("/api/items/42"));
            ctx.set_meta("$responseHeaders", json!({"X-Item": "42"}));
            Ok::<Value, Error>(json!({"id": 42}))
        }))
        .action(ActionDef::new("teapot", |ctx: Context| async move {
            ctx.set_meta("$statusCode", json!(418));
            ctx.set_meta("$statusMessage", json!("Short and stout"));
            Ok::<Value, Error>(json!("tea"))
        }))
        .action(ActionDef::new("text", |ctx: Context| async move {
            ctx.set_meta("$responseType", json!("text/plain; charset=utf-8"));
            Ok::<Value, Error>(json!("plain words"))
        }))
        .action(ActionDef::new("string", |_ctx: Context| async {
            Ok::<Value, Error>(json!("quoted"))
        }))
        .action(ActionDef::new("nothing", |_ctx: Context| async {
            Ok::<Value, Error>(Value::Null)
        }))
        .action(ActionDef::new("gone", |ctx: Context| async move {
            ctx.set_meta("$statusCode", json!(204));
            Ok::<Value, Error>(json!({"ignored": true}))
        }))
        .action(ActionDef::new("bytes", |ctx: Context| async move {
            ctx.set_meta("$responseType", json!("image/png"));
            Ok::<Value, Error>(broker_web::buffer(&[137, 80, 78, 71]))
        }))
        .action(ActionDef::new("invalid", |_ctx: Context| async {
            Err::<Value, Error>(Error::validation(
                "Parameters validation error!",
                vec![json!({"type": "required", "field": "name"})],
            ))
        }))
        .action(ActionDef::new("login", |ctx: Context| async move {
            ctx.set_meta(
                "$responseHeaders",
                json!({"WWW-Authenticate": "Bearer realm=\"api\""}),
            );
            Err::<Value, Error>(broker_web::errors::unauthorized("INVALID_TOKEN"))
        }))
        .action(ActionDef::new("crash", |_ctx: Context| async {
            Err::<Value, Error>(Error::new("Error", "db password is hunter2"))
        }))
        .action(ActionDef::new("slow", |_ctx: Context| async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            Ok::<Value, Error>(json!("late"))
        }))
        .action(ActionDef::new("whoami", |ctx: Context| async move {
            Ok::<Value, Error>(json!({
                "requestID": ctx.request_id(),
                "level": ctx.level(),
                "caller": ctx.caller(),
                "ip": ctx.meta_value("ip"),
                "headers": ctx.meta_value("headers"),
            }))
        }))
}

fn api() -> Route {
    Route::new("/api")
        .alias("POST /items", "shop.create")
        .alias("GET /missing", "ghost.find")
        .caller_ip(true)
        .meta_headers(["X-Tenant"])
}

#[tokio::test]
async fn meta_sets_status_location_headers_and_type_locally_and_remotely() {
    let cluster = Cluster::new();
    // The same service on the gateway node and, under another name, on a remote node: the
    // remote one's meta comes back in its RESPONSE packet.
    let remote_shop = {
        let mut s = shop();
        s.name = "rshop".into();
        s
    };
    let _remote = cluster.node("remote", vec![remote_shop]).await;
    let gw = cluster.gateway(vec![shop()], |b| b.route(api())).await;
    gw.broker
        .wait_for_services(&["rshop"], common::WAIT)
        .await
        .expect("remote shop seen");

    for prefix in ["/api/shop", "/api/rshop"] {
        let a = gw
            .send(Method::POST, &format!("{prefix}/create"), &[], Bytes::new())
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{prefix}");
        assert_eq!(a.header("location").as_deref(), Some("/api/items/42"));
        assert_eq!(a.header("x-item").as_deref(), Some("42"));
        assert_eq!(a.json(), json!({"id": 42}));

        let a = gw.get(&format!("{prefix}/text")).await;
        assert_eq!(
            a.header("content-type").as_deref(),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(a.text(), "plain words");
    }

    // The reason phrase, seen on the raw status line.
    let mut stream = tokio::net::TcpStream::connect(gw.addr)
        .await
        .expect("connect");
    stream
        .write_all(b"GET /api/shop/teapot HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .expect("sent");
    let mut raw = Vec::new();
    tokio::time::timeout(common::WAIT, stream.read_to_end(&mut raw))
        .await
        .expect("answer in time")
        .expect("read");
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.starts_with("HTTP/1.1 418 Short and stout\r\n"), "{raw}");

    let a = gw.get("/api/shop/string").await;
    assert_eq!(
        a.header("content-type").as_deref(),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(a.text(), "\"quoted\"");

    let a = gw.get("/api/shop/nothing").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.is_empty() && a.header("content-type").is_none());

    let a = gw.get("/api/shop/gone").await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert!(a.body.is_empty());

    let a = gw.get("/api/shop/bytes").await;
    assert_eq!(a.header("content-type").as_deref(), Some("image/png"));
    assert_eq!(&a.body[..], &[137, 80, 78, 71]);
    gw.broker.stop().await.expect("stopped");
}

#[tokio::test]
async fn errors_carry_moleculer_names_and_http_statuses() {
    let cluster = Cluster::new();
    let gw = cluster
        .gateway(vec![shop()], |b| {
            b.route(api())
                .route(
                    Route::new("/fallback").call_options(
                        CallOptions::new()
                            .timeout(Duration::from_millis(100))
                            .fallback_value(json!("fallback")),
                    ),
                )
                .request_timeout(Duration::from_millis(300))
        })
        .await;

    let a = gw.get("/api/shop/invalid").await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    let body = a.json();
    assert_eq!(body["name"], "ValidationError");
    assert_eq!(body["code"], 422);
    assert_eq!(body["type"], "VALIDATION_ERROR");
    assert_eq!(body["data"][0]["field"], "name");

    let a = gw.get("/api/shop/login").await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        a.header("www-authenticate").as_deref(),
        Some("Bearer realm=\"api\"")
    );

    let a = gw.get("/api/shop/crash").await;
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(a.json()["message"], "Internal Server Error");
    assert!(!a.text().contains("hunter2"));

    let a = gw.get("/api/shop/slow").await;
    assert_eq!(a.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(a.json()["name"], "RequestTimeoutError");
    // A route's call options: its fallback answers instead of the timeout.
    let a = gw.get("/fallback/shop/slow").await;
    assert_eq!((a.status, a.json()), (StatusCode::OK, json!("fallback")));

    // Direct mapping to an unknown service: core's ServiceNotFoundError; an alias whose
    // action nobody serves: ServiceUnavailableError, as moleculer-web answers.
    let a = gw.get("/api/ghost/find").await;
    assert_eq!(
        (a.status, a.json()["name"].clone()),
        (StatusCode::NOT_FOUND, json!("ServiceNotFoundError"))
    );
    let a = gw.get("/api/missing").await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(a.json()["name"], "ServiceUnavailableError");

    // No route covers the path.
    let a = gw.get("/nowhere").await;
    assert_eq!(a.json()["name"], "NotFoundError");
    gw.broker.stop().await.expect("stopped");
}

#[tokio::test]
async fn internal_errors_can_be_exposed() {
    let cluster = Cluster::new();
    let gw = cluster
        .gateway(vec![shop()], |b| {
            b.route(api()).expose_internal_errors(true)
        })
        .await;
    let a = gw.get("/api/shop/crash").await;
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(a.json()["message"], "db password is hunter2");
    gw.broker.stop().await.expect("stopped");
}

#[tokio::test]
async fn request_id_ip_and_allowed_headers_reach_the_action() {
    let cluster = Cluster::new();
    let gw = cluster.gateway(vec![shop()], |b| b.route(api())).await;
    let a = gw
        .send(
            Method::GET,
            "/api/shop/whoami",
            &[
                ("x-request-id", "req-123"),
                ("x-tenant", "acme"),
                ("x-secret", "no"),
            ],
            Bytes::new(),
        )
        .await;
    assert_eq!(a.header("x-request-id").as_deref(), Some("req-123"));
    assert_eq!(
        a.json(),
        json!({"requestID": "req-123", "level": 2, "caller": "api", "ip": "127.0.0.1",
               "headers": {"x-tenant": "acme"}})
    );
    gw.broker.stop().await.expect("stopped");
}

#[tokio::test]
async fn responses_are_gzipped_when_enabled_and_accepted() {
    let cluster = Cluster::new();
    let big = ServiceSchema::new("big").action(ActionDef::new("list", |_ctx: Context| async {
        Ok::<Value, Error>(json!(vec!["the same words again and again"; 200]))
    }));
    let gw = cluster
        .gateway(vec![big], |b| b.route(api()).compression(true))
        .await;
    let a = gw
        .send(
            Method::GET,
            "/api/big/list",
            &[("accept-encoding", "gzip")],
            Bytes::new(),
        )
        .await;
    assert_eq!(a.header("content-encoding").as_deref(), Some("gzip"));
    assert!(a.body.len() < 1000, "{} bytes", a.body.len());
    let plain = gw.get("/api/big/list").await;
    assert!(plain.header("content-encoding").is_none());
    assert_eq!(plain.json().as_array().map(Vec::len), Some(200));
    gw.broker.stop().await.expect("stopped");
}

/// A request bringing a W3C `traceparent` (an OpenTelemetry-instrumented client) continues
/// that trace into the cluster: the trace ID is the chain's request ID, the client's span the
/// parent of the call's; a malformed one is ignored.
#[tokio::test]
async fn an_incoming_traceparent_continues_its_trace() {
    let chain =
        ServiceSchema::new("chain").action(ActionDef::new("ids", |ctx: Context| async move {
            Ok::<Value, Error>(json!({"request": ctx.request_id(), "parent": ctx.parent_id()}))
        }));
    let cluster = Cluster::new();
    let gw = cluster
        .gateway(vec![chain], |b| b.route(Route::new("/api")))
        .await;
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let a = gw
        .send(
            Method::GET,
            "/api/chain/ids",
            &[("traceparent", tp), ("tracestate", "k=v")],
            Bytes::new(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.json(),
        json!({"request": "4bf92f3577b34da6a3ce929d0e0e4736", "parent": "00f067aa0ba902b7"})
    );
    assert_eq!(
        a.header("x-request-id").as_deref(),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
    let a = gw
        .send(
            Method::GET,
            "/api/chain/ids",
            &[
                ("traceparent", "00-nothex-00f067aa0ba902b7-01"),
                ("x-request-id", "plain-7"),
            ],
            Bytes::new(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()["request"], json!("plain-7"));
    gw.broker.stop().await.expect("stopped");
}
