//! The gateway: its builder, the service it runs as, and the server's lifecycle.

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use broker_core::{ActionDef, Broker, Error, EventDef, Service, ServiceSchema};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower_http::cors::CorsLayer;

use crate::autoalias::RegistryView;
use crate::route::Route;
use crate::server::{serve, Limits};
use crate::spec::SpecPaths;

/// Builds an [`ApiGateway`].
#[derive(Debug)]
pub struct ApiGatewayBuilder {
    pub(crate) name: String,
    pub(crate) listen: String,
    pub(crate) routes: Vec<Route>,
    pub(crate) expose_internal_errors: bool,
    pub(crate) request_timeout: Option<Duration>,
    pub(crate) body_read_timeout: Duration,
    pub(crate) header_read_timeout: Duration,
    pub(crate) max_header_bytes: usize,
    pub(crate) drain_timeout: Duration,
    pub(crate) cors: Option<CorsLayer>,
    pub(crate) compression: bool,
    pub(crate) required_services: Vec<String>,
    pub(crate) spec_paths: SpecPaths,
    pub(crate) metrics_path: Option<String>,
}

impl ApiGatewayBuilder {
    /// The service's name (default `api`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The address to bind (default `0.0.0.0:3000`, as moleculer-web's port); port 0 picks a
    /// free one, see [`ApiGateway::local_addr`].
    pub fn listen(mut self, addr: impl Into<String>) -> Self {
        self.listen = addr.into();
        self
    }

    /// Adds a route; routes are tried in the order added.
    pub fn route(mut self, route: Route) -> Self {
        self.routes.push(route);
        self
    }

    /// Sends the message and data of 500 errors to clients (default: hidden).
    pub fn expose_internal_errors(mut self, expose: bool) -> Self {
        self.expose_internal_errors = expose;
        self
    }

    /// Bounds each request, call included: past it the answer is a 504 `RequestTimeoutError`.
    /// The call itself gets this as its timeout too.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// Bounds the reading of a body (default 30 s): a slower body is a 408.
    pub fn body_read_timeout(mut self, timeout: Duration) -> Self {
        self.body_read_timeout = timeout;
        self
    }

    /// Bounds the reading of a request's headers (default 30 s): a slower client is dropped.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// The largest request head accepted (default 64 KiB, at least 8 KiB); a larger one is a 431.
    pub fn max_header_bytes(mut self, bytes: usize) -> Self {
        self.max_header_bytes = bytes;
        self
    }

    /// How long a stopping gateway waits for requests in flight before closing their
    /// connections (default 5 s; the broker has already waited up to its shutdown timeout for
    /// the handlers they called).
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// Answers CORS preflights and adds CORS headers with this tower-http layer.
    pub fn cors(mut self, cors: CorsLayer) -> Self {
        self.cors = Some(cors);
        self
    }

    /// Gzips responses for clients that accept it (tower-http's compression; small bodies
    /// are left alone).
    pub fn compression(mut self, enabled: bool) -> Self {
        self.compression = enabled;
        self
    }

    /// `GET /ready` answers 503 until these services (full names) are available.
    pub fn require_services<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.required_services
            .extend(names.into_iter().map(Into::into));
        self
    }

    /// Serves the OpenAPI 3.1 document at `path` (default `/openapi.json`).
    pub fn openapi_path(mut self, path: impl Into<String>) -> Self {
        self.spec_paths.openapi = Some(path.into());
        self
    }

    /// Serves the AsyncAPI 3.0 document of the cluster's events at `path` (default
    /// `/asyncapi.json`).
    pub fn asyncapi_path(mut self, path: impl Into<String>) -> Self {
        self.spec_paths.asyncapi = Some(path.into());
        self
    }

    /// Serves the docs page (an offline page that renders the OpenAPI document and sends
    /// "try it" requests) at `path` (default `/docs`); served only with the OpenAPI document.
    pub fn docs_path(mut self, path: impl Into<String>) -> Self {
        self.spec_paths.docs = Some(path.into());
        self
    }

    /// Serves the OpenAPI and AsyncAPI documents and the docs page (default on); `false`
    /// serves none of them.
    pub fn specs(mut self, enabled: bool) -> Self {
        self.spec_paths = if enabled {
            SpecPaths::default()
        } else {
            SpecPaths {
                openapi: None,
                asyncapi: None,
                docs: None,
            }
        };
        self
    }

    /// Serves the node's metrics in Prometheus' text format at `path` (usually `/metrics`;
    /// off by default). Metrics must be on (`BrokerBuilder::metrics`), else it answers 503.
    pub fn metrics_path(mut self, path: impl Into<String>) -> Self {
        self.metrics_path = Some(path.into());
        self
    }

    /// The gateway of `broker`; add it with `broker.add_service(gateway.clone())`.
    pub fn build(self, broker: &Broker) -> ApiGateway {
        let view = RegistryView {
            auto_aliases: vec![Vec::new(); self.routes.len()],
            ..RegistryView::default()
        };
        ApiGateway {
            shared: Arc::new(Shared {
                broker: Mutex::new(Some(broker.clone())),
                view: RwLock::new(Arc::new(view)),
                server: Mutex::new(None),
                config: self,
            }),
        }
    }
}

struct ServerHandle {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

pub(crate) struct Shared {
    pub(crate) config: ApiGatewayBuilder,
    /// Taken on stop so the broker and its services do not keep each other alive.
    broker: Mutex<Option<Broker>>,
    view: RwLock<Arc<RegistryView>>,
    server: Mutex<Option<ServerHandle>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn broker(&self) -> Option<Broker> {
        lock(&self.broker).clone()
    }

    pub(crate) fn view(&self) -> Arc<RegistryView> {
        self.view
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn list(&self, view: &RegistryView) -> Vec<(String, crate::Alias)> {
        let mut out = Vec::new();
        for (i, route) in self.config.routes.iter().enumerate() {
            let generated = view
                .auto_aliases
                .get(i)
                .map(Vec::as_slice)
                .unwrap_or_default();
            for alias in route.aliases().iter().chain(generated) {
                out.push((route.path().to_owned(), alias.clone()));
            }
        }
        out
    }

    /// moleculer-web's `listAliases` answer: `{actionName, path, fullPath, methods, routePath}`.
    fn list_json(&self) -> Value {
        let view = self.view();
        let items = self.list(&view).into_iter().map(|(route_path, alias)| {
            let full = alias.path.as_str().to_owned();
            let path = full.strip_prefix(&route_path).unwrap_or(&full).to_owned();
            json!({
                "actionName": alias.action,
                "path": if path.is_empty() { "/".to_owned() } else { path },
                "fullPath": full,
                "methods": alias.method.as_ref().map_or("*", |m| m.as_str()),
                "routePath": if route_path.is_empty() { "/" } else { &route_path },
            })
        });
        Value::Array(items.collect())
    }

    /// The OpenAPI document of the gateway as it stands.
    pub(crate) fn openapi(&self) -> Value {
        let view = self.view();
        let services = self.broker().map(|b| b.service_docs()).unwrap_or_default();
        crate::spec::openapi::build(&crate::spec::openapi::Input {
            title: &self.config.name,
            routes: &self.config.routes,
            auto: &view.auto_aliases,
            hidden: &view.hidden,
            services: &services,
        })
    }

    /// The AsyncAPI document of the cluster's events.
    pub(crate) fn asyncapi(&self) -> Value {
        let broker = self.broker();
        let services = broker
            .as_ref()
            .map(Broker::service_docs)
            .unwrap_or_default();
        let options = broker.as_ref().map(|b| b.config().to_json());
        let transporter = options
            .as_ref()
            .and_then(|o| o.get("transporter"))
            .and_then(Value::as_str);
        let namespace = options
            .as_ref()
            .and_then(|o| o.get("namespace"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        crate::spec::asyncapi::build(&self.config.name, &services, transporter, namespace)
    }

    fn refresh(&self) {
        let Some(broker) = self.broker() else { return };
        let view = RegistryView::build(&self.config.routes, &broker.node_list(true, true));
        let count: usize = view.auto_aliases.iter().map(Vec::len).sum();
        tracing::debug!(gateway = %self.config.name, auto_aliases = count, "aliases rebuilt");
        *self
            .view
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(view);
    }

    async fn start(self: Arc<Self>) -> Result<(), Error> {
        self.refresh();
        let listener = tokio::net::TcpListener::bind(&self.config.listen)
            .await
            .map_err(|e| {
                Error::service_schema(format!(
                    "gateway cannot listen on {}: {e}",
                    self.config.listen
                ))
            })?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::service_schema(format!("gateway address unknown: {e}")))?;
        let limits = Limits {
            max_header_bytes: self.config.max_header_bytes,
            header_read_timeout: self.config.header_read_timeout,
            drain_timeout: self.config.drain_timeout,
        };
        let (stop, stopped) = watch::channel(false);
        let shared = self.clone();
        let make = move |peer| crate::app::App::new(&shared, peer);
        let task = tokio::spawn(serve(listener, make, limits, stopped));
        tracing::info!(gateway = %self.config.name, %addr, "API gateway listening");
        *lock(&self.server) = Some(ServerHandle { addr, stop, task });
        // Local services start alongside this one and raise no `$services.changed`: look
        // again once the broker has started them all (bounded wait).
        let shared = self.clone();
        tokio::spawn(async move {
            for _ in 0..3000 {
                match shared.broker() {
                    Some(b) if b.is_running() => return shared.refresh(),
                    Some(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                    None => return,
                }
            }
        });
        Ok(())
    }

    async fn stop(&self) -> Result<(), Error> {
        // First, so that a hook cut short by the broker's shutdown timeout still breaks the
        // broker ↔ gateway cycle; the server task drains and closes on its own.
        lock(&self.broker).take();
        let handle = lock(&self.server).take();
        if let Some(h) = handle {
            let _ = h.stop.send(true);
            if let Err(err) = h.task.await {
                tracing::warn!(%err, "gateway server task failed");
            }
        }
        Ok(())
    }
}

/// An HTTP gateway to the cluster, run as a service (named `api`) of one broker node.
///
/// Cloning is cheap: keep a clone to ask for [`ApiGateway::local_addr`].
#[derive(Clone)]
pub struct ApiGateway {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for ApiGateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiGateway")
            .field("name", &self.shared.config.name)
            .field("local_addr", &self.local_addr())
            .finish_non_exhaustive()
    }
}

impl ApiGateway {
    /// A builder with moleculer-web's defaults.
    pub fn builder() -> ApiGatewayBuilder {
        ApiGatewayBuilder {
            name: "api".into(),
            listen: "0.0.0.0:3000".into(),
            routes: Vec::new(),
            expose_internal_errors: false,
            request_timeout: None,
            body_read_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(30),
            max_header_bytes: 64 * 1024,
            drain_timeout: Duration::from_secs(5),
            cors: None,
            compression: false,
            required_services: Vec::new(),
            spec_paths: SpecPaths::default(),
            metrics_path: None,
        }
    }

    /// The bound address, once the service has started (after `broker.start()`).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        lock(&self.shared.server).as_ref().map(|h| h.addr)
    }

    /// The routes, in order, for spec generators.
    pub fn routes(&self) -> &[Route] {
        &self.shared.config.routes
    }

    /// Every alias in the order requests try them (each route's declared aliases, then its
    /// auto-aliases), with the path of its route.
    pub fn aliases(&self) -> Vec<(String, crate::Alias)> {
        let view = self.shared.view();
        self.shared.list(&view)
    }

    /// The OpenAPI 3.1 document served at `/openapi.json`, built now from the aliases and
    /// the cluster's services.
    pub fn openapi(&self) -> Value {
        self.shared.openapi()
    }

    /// The AsyncAPI 3.0 document served at `/asyncapi.json`: the cluster's events now.
    pub fn asyncapi(&self) -> Value {
        self.shared.asyncapi()
    }

    /// The aliases currently built from the registry, per route (same order as
    /// [`ApiGateway::routes`]).
    pub fn auto_aliases(&self) -> Vec<Vec<crate::Alias>> {
        self.shared.view().auto_aliases.clone()
    }
}

impl Service for ApiGateway {
    fn schema(self: Arc<Self>) -> ServiceSchema {
        let start = self.shared.clone();
        let stop = self.shared.clone();
        let changed = self.shared.clone();
        let listing = self.shared.clone();
        ServiceSchema::new(self.shared.config.name.clone())
            .on_started(move || start.clone().start())
            .on_stopped(move || {
                let stop = stop.clone();
                async move { stop.stop().await }
            })
            .action(
                ActionDef::new("listAliases", move |_ctx| {
                    let list = listing.list_json();
                    async move { Ok::<Value, Error>(list) }
                })
                .info("rest", json!("GET /list-aliases")),
            )
            .event(EventDef::new("$services.changed", move |_ctx| {
                changed.refresh();
                async { Ok::<(), Error>(()) }
            }))
    }
}
