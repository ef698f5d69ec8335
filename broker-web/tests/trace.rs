//! Request tracing: each request's span carries its request ID (alone in this binary, since
//! it installs the global subscriber).

mod common;

use std::sync::{Arc, Mutex};

use broker_core::{ActionDef, Context, Error, ServiceSchema};
use broker_web::Route;
use bytes::Bytes;
use common::Cluster;
use hyper::{Method, StatusCode};
use serde_json::{json, Value};

fn shop() -> ServiceSchema {
    ServiceSchema::new("shop").action(ActionDef::new("string", |_ctx: Context| async {
        Ok::<Value, Error>(json!("quoted"))
    }))
}

#[tokio::test]
async fn each_request_is_traced_with_its_request_id() {
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    // Current-thread runtime: the server's tasks run on this thread and see this subscriber.
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let cluster = Cluster::new();
    let gw = cluster
        .gateway(vec![shop()], |b| b.route(Route::new("/api")))
        .await;
    let a = gw
        .send(
            Method::GET,
            "/api/shop/string",
            &[("x-request-id", "trace-me-42")],
            Bytes::new(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    // Without one, the gateway still answers with the chain's (generated) ID.
    let a = gw.get("/api/shop/string").await;
    assert!(a.header("x-request-id").is_some_and(|id| !id.is_empty()));
    gw.broker.stop().await.expect("stopped");
    let logs =
        String::from_utf8_lossy(&buf.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    let line = logs
        .lines()
        .find(|l| l.contains("request_id=trace-me-42") && l.contains("status=200"))
        .unwrap_or_else(|| panic!("no traced response line in:\n{logs}"));
    assert!(line.contains("path=/api/shop/string"), "{line}");
}
