//! Prometheus scraping: a [`MetricsExporter`] any node can run on its own port, and the
//! handler behind the gateway's `/metrics` ([`crate::ApiGatewayBuilder::metrics_path`]).
//!
//! Both serve the broker's metric registry in the text format Moleculer's Prometheus reporter
//! serves (`text/plain; version=0.0.4`), gzip-compressed when the scraper accepts it.
//!
//! ```no_run
//! use broker_core::metrics::MetricsOptions;
//! use broker_core::Broker;
//! use broker_web::MetricsExporter;
//!
//! # async fn run() -> Result<(), broker_core::Error> {
//! let broker = Broker::builder().metrics(MetricsOptions::default()).build();
//! broker.start().await?;
//! let exporter = MetricsExporter::start(&broker, "0.0.0.0:3030").await?;
//! println!("scrape http://{}/metrics", exporter.local_addr());
//! # Ok(())
//! # }
//! ```

use std::net::SocketAddr;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use broker_core::metrics::Metrics;
use broker_core::{Broker, Error};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower_http::compression::CompressionLayer;

/// Moleculer's Prometheus reporter path and content type.
const PATH: &str = "/metrics";
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The text of `metrics`, or a 503 saying metrics are off.
pub(crate) fn prometheus_response(metrics: &Metrics) -> Response {
    if !metrics.is_enabled() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics are disabled on this node (BrokerBuilder::metrics)\n",
        )
            .into_response();
    }
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        metrics.to_prometheus(),
    )
        .into_response()
}

async fn scrape(State(metrics): State<Metrics>) -> Response {
    prometheus_response(&metrics)
}

/// An HTTP server on its own port answering `GET /metrics` (and 404 elsewhere), as Moleculer's
/// Prometheus reporter does. It stops when [`MetricsExporter::stop`] is called or it is
/// dropped.
#[derive(Debug)]
pub struct MetricsExporter {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl MetricsExporter {
    /// Serves `broker`'s metrics at `/metrics` on `addr` (port 0 picks a free one).
    pub async fn start(broker: &Broker, addr: &str) -> Result<MetricsExporter, Error> {
        MetricsExporter::start_at(broker, addr, PATH).await
    }

    /// Like [`MetricsExporter::start`], at another path.
    pub async fn start_at(
        broker: &Broker,
        addr: &str,
        path: &str,
    ) -> Result<MetricsExporter, Error> {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            Error::broker_options(format!("metrics exporter cannot listen on {addr}: {e}"))
        })?;
        let local = listener
            .local_addr()
            .map_err(|e| Error::broker_options(format!("metrics exporter address unknown: {e}")))?;
        let app = Router::new()
            .route(path, get(scrape))
            .with_state(broker.metrics().clone())
            .layer(CompressionLayer::new());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(err) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::warn!(%err, "metrics exporter stopped with an error");
            }
        });
        tracing::info!(addr = %local, path, "metrics exporter listening");
        Ok(MetricsExporter {
            addr: local,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving and waits for the server to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for MetricsExporter {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
