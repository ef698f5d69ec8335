//! The HTTP/1 server: accepts connections with hyper's limits (header size, header read
//! timeout), gives each the gateway's service made for its peer, and drains on shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use std::convert::Infallible;

use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Connection limits of the server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_header_bytes: usize,
    pub(crate) header_read_timeout: Duration,
    pub(crate) drain_timeout: Duration,
}

/// Serves `make(peer)` for each connection on `listener` until `shutdown` turns true, then
/// waits (bounded) for the open connections to finish their requests.
pub(crate) async fn serve<M, S, B>(
    listener: TcpListener,
    make: M,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) where
    M: Fn(SocketAddr) -> S,
    S: tower::Service<Request<Incoming>, Response = axum::http::Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let graceful = GracefulShutdown::new();
    let mut conns = tokio::task::JoinSet::new();
    loop {
        // Reap finished connections so the set does not grow with the server's age.
        while conns.try_join_next().is_some() {}
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(x) => x,
                Err(err) => {
                    // Out of file descriptors and the like: pause instead of spinning.
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopping(&mut shutdown) => break,
        };
        let service = TowerToHyperService::new(make(peer));
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_buf_size(limits.max_header_bytes.max(8192));
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        conns.spawn(async move {
            if let Err(err) = conn.await {
                tracing::debug!(%err, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("HTTP connections still open after the drain timeout; closing them");
    }
    conns.abort_all();
}

async fn stopping(shutdown: &mut watch::Receiver<bool>) {
    // A closed channel means the gateway is gone: stop as well.
    let _ = shutdown.wait_for(|stop| *stop).await;
}
