//! What serves each connection: the gateway's own endpoints (`/health`, `/ready`, the specs)
//! and the routes, plus tower-http's CORS and compression layers only when configured. No
//! router in between: the fixed paths are a few string compares, and every other request
//! goes to the routes.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, Response, StatusCode};
use hyper::body::Incoming;
use tower::util::BoxCloneSyncService;
use tower::{Layer, ServiceExt};
use tower_http::compression::CompressionLayer;
use tracing::Instrument;

use crate::dispatch::{self, json_response};
use crate::gateway::Shared;

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

/// The gateway for the requests of one connection.
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub(crate) shared: Arc<Shared>,
    pub(crate) peer: SocketAddr,
}

impl<B> tower::Service<Request<B>> for Endpoint
where
    B: hyper::body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let shared = self.shared.clone();
        let peer = self.peer;
        let span = dispatch::span(&req);
        if !span.is_disabled() {
            return Box::pin(traced(span, shared, peer, req.map(Body::new)));
        }
        if let Some(res) = fixed(&shared, &req) {
            return Box::pin(std::future::ready(Ok(res)));
        }
        // The usual request: its future is the handler's alone, boxed once.
        Box::pin(dispatch::handle(shared, peer, req))
    }
}

type Layered = BoxCloneSyncService<Request<Incoming>, Response<Body>, Infallible>;

/// A connection's service: the gateway alone, or inside the layers the gateway was built
/// with, or with the CORS of the route each request belongs to.
#[derive(Clone)]
pub(crate) enum App {
    Plain(Endpoint),
    Layered(Layered),
    PerRouteCors(Arc<Shared>, Layered),
}

impl App {
    /// The service for a connection from `peer`.
    pub(crate) fn new(shared: &Arc<Shared>, peer: SocketAddr) -> App {
        let endpoint = Endpoint {
            shared: shared.clone(),
            peer,
        };
        let config = &shared.config;
        let per_route_cors = config.routes.iter().any(|r| r.cors.is_some());
        if !config.compression && config.cors.is_none() && !per_route_cors {
            return App::Plain(endpoint);
        }
        let inner = if config.compression {
            let compressed = ServiceExt::<Request<Incoming>>::map_response(
                CompressionLayer::new().layer(endpoint),
                |res| res.map(Body::new),
            );
            BoxCloneSyncService::new(compressed)
        } else {
            BoxCloneSyncService::new(endpoint)
        };
        if per_route_cors {
            return App::PerRouteCors(shared.clone(), inner);
        }
        App::Layered(match &config.cors {
            Some(cors) => BoxCloneSyncService::new(cors.clone().layer(inner)),
            None => inner,
        })
    }
}

/// `inner` behind the CORS of the route `req` belongs to (the gateway's when that route has
/// none, or no route takes the request).
fn with_route_cors(
    shared: &Shared,
    inner: &Layered,
    req: Request<Incoming>,
) -> BoxFuture<Result<Response<Body>, Infallible>> {
    let view = shared.view();
    let route = dispatch::route_of(&shared.config.routes, &view.auto_aliases, &req);
    let cors = route
        .and_then(|r| r.cors.as_ref())
        .or(shared.config.cors.as_ref());
    match cors {
        Some(cors) => Box::pin(cors.clone().layer(inner.clone()).oneshot(req)),
        None => Box::pin(inner.clone().oneshot(req)),
    }
}

impl tower::Service<Request<Incoming>> for App {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        match self {
            App::Plain(_) => Poll::Ready(Ok(())),
            App::Layered(svc) | App::PerRouteCors(_, svc) => svc.poll_ready(cx),
        }
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        match self {
            App::Plain(endpoint) => endpoint.call(req),
            App::Layered(svc) => svc.call(req),
            App::PerRouteCors(shared, inner) => with_route_cors(shared, inner, req),
        }
    }
}

/// The request in its tracing span, with a DEBUG line on the answer as tower-http's trace
/// layer writes it.
async fn traced(
    span: tracing::Span,
    shared: Arc<Shared>,
    peer: SocketAddr,
    req: Request,
) -> Result<Response<Body>, Infallible> {
    let started = std::time::Instant::now();
    async move {
        let res = match fixed(&shared, &req) {
            Some(res) => res,
            None => dispatch::handle(shared, peer, req).await?,
        };
        tracing::debug!(
            latency = %format_args!("{} ms", started.elapsed().as_millis()),
            status = res.status().as_u16(),
            "finished processing request"
        );
        Ok(res)
    }
    .instrument(span)
    .await
}

/// The answer of the gateway's own endpoints (`None` for any other path).
fn fixed<B>(shared: &Shared, req: &Request<B>) -> Option<Response<Body>> {
    let path = req.uri().path();
    let fixed = match path {
        "/health" => Fixed::Health,
        "/ready" => Fixed::Ready,
        _ => {
            let paths = &shared.config.spec_paths;
            let is = |p: &Option<String>| p.as_deref() == Some(path);
            if is(&paths.openapi) {
                Fixed::OpenApi
            } else if is(&paths.asyncapi) {
                Fixed::AsyncApi
            } else if is(&paths.docs) && paths.openapi.is_some() {
                Fixed::Docs
            } else if is(&shared.config.metrics_path) {
                Fixed::Metrics
            } else {
                return None;
            }
        }
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut res = Response::new(Body::empty());
        *res.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        res.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET,HEAD"));
        return Some(res);
    }
    Some(match fixed {
        Fixed::Health => json_response(StatusCode::OK, &serde_json::json!({"status": "ok"})),
        Fixed::Ready => {
            let broker = shared.broker();
            match crate::health::readiness(broker.as_ref(), &shared.config.required_services) {
                Ok(body) => json_response(StatusCode::OK, &body),
                Err(body) => json_response(StatusCode::SERVICE_UNAVAILABLE, &body),
            }
        }
        Fixed::OpenApi => json_response(StatusCode::OK, &shared.openapi()),
        Fixed::AsyncApi => json_response(StatusCode::OK, &shared.asyncapi()),
        Fixed::Docs => {
            let spec = shared.config.spec_paths.openapi.as_deref();
            let html = crate::spec::docs::page(spec.unwrap_or("/openapi.json"));
            let mut res = Response::new(Body::from(html));
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            res
        }
        Fixed::Metrics => {
            let metrics = shared
                .broker()
                .map(|b| b.metrics().clone())
                .unwrap_or_default();
            crate::metrics::prometheus_response(&metrics)
        }
    })
}

/// The gateway's own endpoints.
enum Fixed {
    Health,
    Ready,
    OpenApi,
    AsyncApi,
    Docs,
    /// The node's metrics in Prometheus' text format.
    Metrics,
}
