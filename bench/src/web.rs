//! The `web` roles, HTTP servers for `scripts/bench-gateway.sh` to point `wrk` at, all
//! answering `GET /api/hello/:name` with the JSON string `"Hello, <name>!"`:
//!
//! - `web local`: our gateway and the `greeter` service on one broker (no transporter);
//! - `web gateway`: our gateway alone on `TRANSPORTER`, calling `greeter` on another node;
//! - `web service`: the `greeter` service alone on `TRANSPORTER` (for `web gateway`);
//! - `web axum`: a bare axum handler, the floor under any gateway.
//!
//! Each listens on `GATEWAY_ADDR` (default `127.0.0.1:0`; `web service` listens nowhere) and
//! prints `{"ready":true,"port":N,"pid":P}` once it serves, then runs until SIGINT/SIGTERM.

use crate::server::remote_broker;
use crate::stats::env_str;
use axum::extract::Path;
use axum::routing::get;
use axum::Json;
use broker_core::{service, Broker, Error, MemoryTransporter, Service, ServiceSchema};
use broker_web::{ApiGateway, MappingPolicy, Route};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

/// The answer of every variant.
fn greeting(name: &str) -> String {
    format!("Hello, {name}!")
}

#[derive(Deserialize)]
struct HelloParams {
    name: String,
}

/// `greeter.hello`, `{"name": ...}` in, the greeting out: typed params and result, written as
/// examples/gateway.rs writes its greeter (and as the axum handler takes a typed `Path`).
struct Greeter;

#[service(name = "greeter")]
impl Greeter {
    #[action]
    async fn hello(&self, params: HelloParams) -> Result<String, Error> {
        Ok(greeting(&params.name))
    }
}

fn greeter() -> ServiceSchema {
    std::sync::Arc::new(Greeter).schema()
}

fn gateway(broker: &Broker, addr: &str) -> ApiGateway {
    ApiGateway::builder()
        .listen(addr)
        .route(
            Route::new("/api")
                .alias("GET /hello/:name", "greeter.hello")
                .mapping_policy(MappingPolicy::Restrict),
        )
        .build(broker)
}

fn ready(port: u16) {
    println!(
        "{}",
        json!({"ready": true, "port": port, "pid": std::process::id()})
    );
}

/// Runs the `web <variant>` role until a signal.
pub(crate) async fn run(variant: Option<&str>) -> Result<(), String> {
    let addr = env_str("GATEWAY_ADDR", "127.0.0.1:0");
    let broker = match variant {
        Some("axum") => return axum_floor(&addr).await,
        Some("local") => Broker::builder()
            .node_id(env_str("NODE_ID", "rust-web-local"))
            .transporter(MemoryTransporter::new())
            .build(),
        Some("gateway") => remote_broker(env_str("NODE_ID", "rust-web-gateway"))?,
        Some("service") => remote_broker(env_str("NODE_ID", "rust-web-service"))?,
        _ => return Err("usage: broker-bench web local|gateway|service|axum".into()),
    };
    let e = |e: Error| e.to_string();
    let gw = match variant {
        Some("service") => None,
        _ => Some(gateway(&broker, &addr)),
    };
    if variant != Some("gateway") {
        broker.add_service(greeter()).await.map_err(e)?;
    }
    if let Some(gw) = &gw {
        broker.add_service(gw.clone()).await.map_err(e)?;
    }
    broker.start().await.map_err(e)?;
    if variant == Some("gateway") {
        broker
            .wait_for_services(&["greeter"], Duration::from_secs(30))
            .await
            .map_err(e)?;
    }
    ready(gw.and_then(|g| g.local_addr()).map_or(0, |a| a.port()));
    broker.run_until_signal().await.map_err(e)?;
    Ok(())
}

/// The same route on axum with nothing in between.
fn axum_app() -> axum::Router {
    axum::Router::new().route(
        "/api/hello/{name}",
        get(|Path(name): Path<String>| async move { Json(greeting(&name)) }),
    )
}

async fn axum_floor(addr: &str) -> Result<(), String> {
    let app = axum_app();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    ready(port);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = Broker::wait_for_signal().await;
        })
        .await
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The body of `GET path` on `port` (`Connection: close`, bounded).
    async fn get_body(port: u16, path: &str) -> String {
        let exchange = async {
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
            let head = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            s.write_all(head.as_bytes()).await?;
            let mut raw = String::new();
            s.read_to_string(&mut raw).await?;
            Ok::<_, std::io::Error>(raw)
        };
        let raw = match tokio::time::timeout(Duration::from_secs(10), exchange).await {
            Ok(Ok(raw)) => raw,
            Ok(Err(e)) => panic!("GET {path}: {e}"),
            Err(_) => panic!("GET {path}: no answer"),
        };
        assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
        raw.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn every_variant_answers_the_same() {
        let broker = Broker::builder()
            .node_id("web-test")
            .transporter(MemoryTransporter::new())
            .build();
        let gw = gateway(&broker, "127.0.0.1:0");
        let started = async {
            broker.add_service(greeter()).await?;
            broker.add_service(gw.clone()).await?;
            broker.start().await
        };
        if let Err(e) = started.await {
            panic!("{e}");
        }
        let port = gw.local_addr().map_or(0, |a| a.port());
        assert_eq!(
            get_body(port, "/api/hello/bench").await,
            "\"Hello, bench!\""
        );

        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => panic!("{e}"),
        };
        let port = listener.local_addr().map_or(0, |a| a.port());
        let server = tokio::spawn(async move { axum::serve(listener, axum_app()).await });
        assert_eq!(
            get_body(port, "/api/hello/bench").await,
            "\"Hello, bench!\""
        );
        server.abort();
        if let Err(e) = broker.stop().await {
            panic!("{e}");
        }
    }
}
