//! Bearer tokens, authentication and authorization hooks, health and readiness probes, CORS
//! and the gateway's lifecycle, over real HTTP.

mod common;

use std::time::Duration;

use broker_core::{ActionDef, Context, Error, ServiceSchema};
use broker_web::cors::CorsLayer;
use broker_web::errors::forbidden;
use broker_web::{BearerToken, HookRequest, MappingPolicy, RateLimit, Route};
use bytes::Bytes;
use common::{eventually, Cluster};
use hyper::header::HeaderValue;
use hyper::{Method, StatusCode};
use serde_json::{json, Value};

fn vault() -> ServiceSchema {
    ServiceSchema::new("vault")
        .action(ActionDef::new("open", |ctx: Context| async move {
            Ok::<Value, Error>(json!({"user": ctx.meta_value("user")}))
        }))
        .action(ActionDef::new("ip", |ctx: Context| async move {
            Ok::<Value, Error>(ctx.meta_value("ip").unwrap_or(Value::Null))
        }))
        .action(ActionDef::new("hang", |_ctx: Context| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<Value, Error>(json!("never"))
        }))
        .action(ActionDef::new("slow", |_ctx: Context| async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok::<Value, Error>(json!("done"))
        }))
}

fn accounts() -> ServiceSchema {
    ServiceSchema::new("accounts").action(ActionDef::new("resolve", |ctx: Context| async move {
        match ctx.params()["token"].as_str() {
            Some("ann-token") => Ok(json!({"name": "ann", "role": "admin"})),
            Some("bob-token") => Ok(json!({"name": "bob", "role": "guest"})),
            _ => Ok(Value::Null),
        }
    }))
}

#[tokio::test]
async fn bearer_tokens_answer_401_as_moleculer_web() {
    let cluster = Cluster::new();
    let gw =
        cluster
            .gateway(vec![vault()], |b| {
                b.route(Route::new("/api").body_limit(16).bearer_token(
                    BearerToken::any_of(["t1", "t2"]).user(json!({"name": "service"})),
                ))
            })
            .await;
    let a = gw.get("/api/vault/open").await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        a.json(),
        json!({"name": "UnAuthorizedError", "message": "Unauthorized", "code": 401, "type": "NO_TOKEN"})
    );
    let a = gw
        .send(
            Method::GET,
            "/api/vault/open",
            &[("authorization", "Bearer nope")],
            Bytes::new(),
        )
        .await;
    assert_eq!(a.json()["type"], "INVALID_TOKEN");
    // The token is checked before the body is read: no upload for strangers (401, not 413).
    let a = gw
        .send(
            Method::POST,
            "/api/vault/open",
            &[],
            Bytes::from(vec![b'x'; 1024]),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let a = gw
        .send(
            Method::GET,
            "/api/vault/open",
            &[("authorization", "Bearer t2")],
            Bytes::new(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json(), json!({"user": {"name": "service"}}));
    gw.broker.stop().await.expect("stopped");
}

#[tokio::test]
async fn hooks_call_actions_set_the_user_and_forbid() {
    let cluster = Cluster::new();
    let gw = cluster
        .gateway(vec![vault(), accounts()], |b| {
            b.route(
                Route::new("/api")
                    .whitelist(["vault.*"])
                    .authentication(|req: HookRequest| async move {
                        let Some(token) = req.bearer_token().map(str::to_owned) else {
                            return Ok(None);
                        };
                        let user: Value = req
                            .ctx
                            .call("accounts.resolve", json!({ "token": token }))
                            .await?;
                        if user.is_null() {
                            return Err(broker_web::errors::unauthorized(
                                broker_web::errors::ERR_INVALID_TOKEN,
                            ));
                        }
                        Ok(Some(user))
                    })
                    .authorization(|req: HookRequest| async move {
                        let role = req
                            .ctx
                            .meta_value("user")
                            .and_then(|u| u["role"].as_str().map(str::to_owned));
                        match role.as_deref() {
                            Some("admin") => Ok(()),
                            Some(_) => Err(forbidden("NOT_ADMIN")),
                            None => Err(broker_web::errors::unauthorized(
                                broker_web::errors::ERR_NO_TOKEN,
                            )),
                        }
                    }),
            )
        })
        .await;
    let a = gw
        .send(
            Method::GET,
            "/api/vault/open",
            &[("authorization", "Bearer ann-token")],
            Bytes::new(),
        )
        .await;
    assert_eq!(a.json(), json!({"user": {"name": "ann", "role": "admin"}}));
    let a = gw
        .send(
            Method::GET,
            "/api/vault/open",
            &[("authorization", "Bearer bob-token")],
            Bytes::new(),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(
        a.json(),
        json!({"name": "ForbiddenError", "message": "Forbidden", "code": 403, "type": "NOT_ADMIN"})
    );
    let a = gw
        .send(
            Method::GET,
            "/api/vault/open",
            &[("authorization", "Bearer eve")],
            Bytes::new(),
        )
        .await;
    assert_eq!(
        (a.status, a.json()["type"].clone()),
        (StatusCode::UNAUTHORIZED, json!("INVALID_TOKEN"))
    );
    let a = gw.get("/api/vault/open").await;
    assert_eq!(
        (a.status, a.json()["type"].clone()),
        (StatusCode::UNAUTHORIZED, json!("NO_TOKEN"))
    );
    gw.broker.stop().await.expect("stopped");
}

#[tokio::test]
async fn ready_waits_for_required_services_health_does_not() {
    let cluster = Cluster::new();
    let gw = cluster
        .gateway(vec![], |b| {
            b.route(Route::new("/api")).require_services(["vault"])
        })
        .await;
    assert_eq!(gw.get("/health").await.status, StatusCode::OK);
    let a = gw.get("/ready").await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(a.json()["missing"], json!(["vault"]));
    let remote = cluster.node("remote", vec![vault()]).await;
    eventually("ready once vault is up", || async {
        gw.get("/ready").await.status == StatusCode::OK
    })
    .await;
    remote.stop().await.expect("remote stopped");
    eventually("not ready once vault is gone", || async {
        gw.get("/ready").await.status == StatusCode::SERVICE_UNAVAILABLE
    })
    .await;
    gw.broker.stop().await.expect("stopped");
}

#[tokio::test]
async fn cors_preflight_and_headers() {
    let cluster = Cluster::new();
    let gw = cluster
        .gateway(vec![vault()], |b| {
            b.route(Route::new("/api")).cors(
                CorsLayer::new()
                    .allow_origin(HeaderValue::from_static("https://app.example"))
                    .allow_methods([Method::GET, Method::POST]),
            )
        })
        .await;
    let a = gw
        .send(
            Method::OPTIONS,
            "/api/vault/open",
            &[
                ("origin", "https://app.example"),
                ("access-control-request-method", "POST"),
            ],
            Bytes::new(),
        )
        .await;
    assert!(a.status.is_success(), "{}", a.status);
    assert_eq!(
        a.header("access-control-allow-origin").as_deref(),
        Some("https://app.example")
    );
    let a = gw
        .send(
            Method::GET,
            "/api/vault/open",
            &[("origin", "https://app.example")],
            Bytes::new(),
        )
        .await;
    assert_eq!(
        a.header("access-control-allow-origin").as_deref(),
        Some("https://app.example")
    );
    gw.broker.stop().await.expect("stopped");
}

/// The `access-control-allow-origin` of a preflight from `origin` asking to `method` `path`.
async fn preflight(gw: &common::Gw, path: &str, origin: &str, method: &str) -> Option<String> {
    let a = gw
        .send(
            Method::OPTIONS,
            path,
            &[
                ("origin", origin),
                ("access-control-request-method", method),
            ],
            Bytes::new(),
        )
        .await;
    assert!(a.status.is_success(), "{path}: {}", a.status);
    a.header("access-control-allow-origin")
}

#[tokio::test]
async fn a_route_cors_replaces_the_gateways() {
    let cluster = Cluster::new();
    let only = |origin: &'static str| {
        CorsLayer::new()
            .allow_origin(HeaderValue::from_static(origin))
            .allow_methods([Method::GET, Method::POST])
    };
    let gw = cluster
        .gateway(vec![vault()], |b| {
            b.route(
                Route::new("/partner")
                    .alias("POST /open", "vault.open")
                    .mapping_policy(MappingPolicy::Restrict)
                    .cors(only("https://partner.example")),
            )
            .route(Route::new("/api"))
            .cors(only("https://app.example"))
        })
        .await;
    // The partner route answers its own origin's preflight, not the gateway's origin.
    let partner = "https://partner.example";
    let app = "https://app.example";
    assert_eq!(
        preflight(&gw, "/partner/open", partner, "POST")
            .await
            .as_deref(),
        Some(partner)
    );
    // (tower-http's exact origin is sent whoever asks: the browser compares it with its own.)
    assert_eq!(
        preflight(&gw, "/partner/open", app, "POST")
            .await
            .as_deref(),
        Some(partner)
    );
    // Other routes, and paths no route takes, keep the gateway's.
    assert_eq!(
        preflight(&gw, "/api/vault/open", app, "GET")
            .await
            .as_deref(),
        Some(app)
    );
    assert_eq!(
        preflight(&gw, "/api/vault/open", partner, "GET")
            .await
            .as_deref(),
        Some(app)
    );
    assert_eq!(
        preflight(&gw, "/elsewhere", app, "GET").await.as_deref(),
        Some(app)
    );
    // The actual request carries the route's header too, and still reaches the action.
    let a = gw
        .send(
            Method::POST,
            "/partner/open",
            &[("origin", partner)],
            Bytes::new(),
        )
        .await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&a.body)
    );
    assert_eq!(
        a.header("access-control-allow-origin").as_deref(),
        Some(partner)
    );
    gw.broker.stop().await.expect("stopped");
}

#[tokio::test]
async fn stopping_the_broker_finishes_requests_in_flight_then_closes_the_port() {
    let cluster = Cluster::new();
    let gw = cluster
        .gateway(vec![vault()], |b| b.route(Route::new("/api")))
        .await;
    let addr = gw.addr;
    let url_gw = common::Gw {
        broker: gw.broker.clone(),
        gateway: gw.gateway.clone(),
        addr,
    };
    let in_flight = tokio::spawn(async move { url_gw.get("/api/vault/slow").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stopping = tokio::spawn({
        let broker = gw.broker.clone();
        async move { tokio::time::timeout(common::WAIT, broker.stop()).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    // While the broker waits for the call in flight: new requests are turned away.
    let late = gw.get("/api/vault/open").await;
    assert_eq!(late.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        gw.get("/ready").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    stopping
        .await
        .expect("stop task")
        .expect("stop in time")
        .expect("stopped");
    let answer = in_flight.await.expect("request task");
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json(), json!("done"));
    assert!(gw.gateway.local_addr().is_none());
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "port closed after stop"
    );
}

#[tokio::test]
async fn before_and_after_call_hooks_shape_the_call_and_the_answer() {
    let cluster = Cluster::new();
    let gw = cluster
        .gateway(vec![vault()], |b| {
            b.route(
                Route::new("/api")
                    .on_before_call(|req: HookRequest| async move {
                        if req.request.headers.contains_key("x-block") {
                            return Err(forbidden("BLOCKED"));
                        }
                        req.ctx.set_meta("user", json!({"name": "from-before"}));
                        Ok(())
                    })
                    .on_after_call(|req: HookRequest, data: Value| async move {
                        req.ctx
                            .set_meta("$responseHeaders", json!({"X-After": "1"}));
                        Ok(json!({"wrapped": data, "action": req.action}))
                    }),
            )
        })
        .await;
    let a = gw.get("/api/vault/open").await;
    assert_eq!(a.header("x-after").as_deref(), Some("1"));
    assert_eq!(
        a.json(),
        json!({"wrapped": {"user": {"name": "from-before"}}, "action": "vault.open"})
    );
    let a = gw
        .send(
            Method::GET,
            "/api/vault/open",
            &[("x-block", "1")],
            Bytes::new(),
        )
        .await;
    assert_eq!(
        (a.status, a.json()["type"].clone()),
        (StatusCode::FORBIDDEN, json!("BLOCKED"))
    );
    gw.broker.stop().await.expect("stopped");
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let cluster = Cluster::new();
    let gw = cluster
        .gateway(vec![vault()], |b| {
            b.route(
                Route::new("/api")
                    .rate_limit(RateLimit::new(2, Duration::from_secs(30)).headers(true)),
            )
            .route(
                Route::new("/proxied")
                    .trust_proxy(true)
                    .caller_ip(true)
                    .rate_limit(RateLimit::new(2, Duration::from_secs(30))),
            )
        })
        .await;
    let a = gw.get("/api/vault/open").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.header("x-rate-limit-limit").as_deref(), Some("2"));
    assert_eq!(a.header("x-rate-limit-remaining").as_deref(), Some("1"));
    assert_eq!(gw.get("/api/vault/open").await.status, StatusCode::OK);
    let a = gw.get("/api/vault/open").await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        a.json(),
        json!({"name": "RateLimitExceeded", "message": "Rate limit exceeded", "code": 429})
    );
    let retry: u64 = a
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=30).contains(&retry), "{retry}");
    // Probes are not rate limited.
    assert_eq!(gw.get("/health").await.status, StatusCode::OK);
    // Behind a trusted proxy, each forwarded client has its own count.
    let a = gw
        .send(
            Method::GET,
            "/proxied/vault/ip",
            &[("x-forwarded-for", "203.0.113.7, 10.0.0.1")],
            Bytes::new(),
        )
        .await;
    assert_eq!(a.json(), json!("203.0.113.7"));
    let a = gw
        .send(
            Method::GET,
            "/proxied/vault/ip",
            &[("x-forwarded-for", "203.0.113.7")],
            Bytes::new(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let a = gw
        .send(
            Method::GET,
            "/proxied/vault/ip",
            &[("x-forwarded-for", "203.0.113.7")],
            Bytes::new(),
        )
        .await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    let a = gw
        .send(
            Method::GET,
            "/proxied/vault/ip",
            &[("x-forwarded-for", "198.51.100.1")],
            Bytes::new(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    gw.broker.stop().await.expect("stopped");
}

#[tokio::test]
async fn a_request_hanging_past_the_drain_timeout_does_not_hold_the_stop() {
    let mut cluster = Cluster::new();
    cluster.shutdown_timeout = Some(Duration::from_millis(300));
    let gw = cluster
        .gateway(vec![vault()], |b| {
            b.route(Route::new("/api"))
                .drain_timeout(Duration::from_millis(200))
        })
        .await;
    let addr = gw.addr;
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET /api/vault/hang HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("request sent");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(10), gw.broker.stop())
        .await
        .expect("stop bounded")
        .expect("stopped");
    let mut out = Vec::new();
    let read = tokio::time::timeout(common::WAIT, stream.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "the hanging connection is closed");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}
