//! Helpers of the gateway tests: brokers on a private memory bus, a gateway on port 0, and a
//! small HTTP client.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use broker_core::{Broker, MemoryBus, MemoryTransporter, ServiceSchema};
use broker_web::{ApiGateway, ApiGatewayBuilder};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// Bound for anything a test waits on.
pub const WAIT: Duration = Duration::from_secs(5);

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A cluster on its own memory bus and namespace.
pub struct Cluster {
    pub bus: Arc<MemoryBus>,
    pub namespace: String,
    /// The brokers' shutdown timeout (core's default when `None`).
    pub shutdown_timeout: Option<Duration>,
}

impl Cluster {
    pub fn new() -> Cluster {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Cluster {
            bus: MemoryBus::new(),
            namespace: format!("web-{}-{n}", std::process::id()),
            shutdown_timeout: None,
        }
    }

    /// A broker of this cluster (not started).
    pub fn broker(&self, id: &str) -> Broker {
        let builder = Broker::builder();
        let builder = match self.shutdown_timeout {
            Some(t) => builder.shutdown_timeout(t),
            None => builder,
        };
        builder
            .node_id(id)
            .namespace(&self.namespace)
            .shared_transporter(Arc::new(MemoryTransporter::on_bus(self.bus.clone())))
            .heartbeat_interval(Duration::from_millis(100))
            .heartbeat_timeout(Duration::from_millis(1000))
            .stop_delay(Duration::from_millis(10))
            .build()
    }

    /// A started broker with these services.
    pub async fn node(&self, id: &str, services: Vec<ServiceSchema>) -> Broker {
        let broker = self.broker(id);
        for s in services {
            broker.add_service(s).await.expect("service added");
        }
        broker.start().await.expect("broker started");
        broker
    }

    /// A started gateway node with `services`, its gateway built by `configure`.
    pub async fn gateway(
        &self,
        services: Vec<ServiceSchema>,
        configure: impl FnOnce(ApiGatewayBuilder) -> ApiGatewayBuilder,
    ) -> Gw {
        let broker = self.broker("gw");
        for s in services {
            broker.add_service(s).await.expect("service added");
        }
        let gateway = configure(ApiGateway::builder().listen("127.0.0.1:0")).build(&broker);
        broker
            .add_service(gateway.clone())
            .await
            .expect("gateway added");
        broker.start().await.expect("broker started");
        let addr = gateway.local_addr().expect("gateway listening after start");
        Gw {
            broker,
            gateway,
            addr,
        }
    }
}

/// A running gateway node.
pub struct Gw {
    pub broker: Broker,
    pub gateway: ApiGateway,
    pub addr: SocketAddr,
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {:?} (status {})",
                String::from_utf8_lossy(&self.body),
                self.status
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

impl Gw {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, &[], Bytes::new()).await
    }

    pub async fn send_json(&self, method: Method, path: &str, body: Value) -> Answer {
        let body = Bytes::from(serde_json::to_vec(&body).expect("json"));
        self.send(method, path, &[("content-type", "application/json")], body)
            .await
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Answer {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let mut req = Request::builder().method(method).uri(self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(body)).expect("request");
        let fut = async {
            let res = client.request(req).await.expect("HTTP request");
            let (parts, body) = res.into_parts();
            let body = body.collect().await.expect("body").to_bytes();
            Answer {
                status: parts.status,
                headers: parts.headers,
                body,
            }
        };
        tokio::time::timeout(WAIT, fut)
            .await
            .expect("answer in time")
    }
}

/// Waits (bounded) until `check` holds.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let result = tokio::time::timeout(WAIT, async {
        loop {
            if check().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(result.is_ok(), "timed out waiting for: {what}");
}
