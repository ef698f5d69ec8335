//! One request's way through the gateway: find the route and action, read and merge params,
//! authenticate, call, and answer.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use broker_core::payload::Payload;
use broker_core::{Context, Error, ErrorKind, JsonMap};
use serde::{Serialize, Serializer};
use serde_json::{json, Map, Value};

use crate::alias::AliasKind;
use crate::body;
use crate::errors;
use crate::gateway::Shared;
use crate::hooks::{HookRequest, RequestInfo};
use crate::matched::PathParams;
use crate::params;
use crate::ratelimit::RateLimit;
use crate::route::{MappingPolicy, Route};

/// The tracing span of one request, with its request ID when the client sent one.
/// Nothing is built (no request-ID copy, no span) when INFO spans are off for this module.
pub(crate) fn span<B>(req: &axum::http::Request<B>) -> tracing::Span {
    if !tracing::enabled!(target: module_path!(), tracing::Level::INFO, "http") {
        return tracing::Span::none();
    }
    let id = request_id_of(req.headers()).unwrap_or_default();
    tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id)
}

/// Parsed once: inserting by `&str` would parse and hash-check the name on every request.
static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static X_CORRELATION_ID: HeaderName = HeaderName::from_static("x-correlation-id");

/// `X-Correlation-ID` over `X-Request-ID`, as moleculer-web reads them.
fn request_id_of(headers: &HeaderMap) -> Option<String> {
    let usable = |v: &HeaderValue| v.to_str().ok().filter(|s| !s.is_empty()).map(str::to_owned);
    // A few headers (the usual case): one pass comparing names beats two hashed lookups.
    if headers.len() <= 8 {
        let mut request_id = None;
        for (name, value) in headers {
            if *name == X_CORRELATION_ID {
                if let Some(id) = usable(value) {
                    return Some(id);
                }
            } else if *name == X_REQUEST_ID && request_id.is_none() {
                request_id = usable(value);
            }
        }
        return request_id;
    }
    [&X_CORRELATION_ID, &X_REQUEST_ID]
        .into_iter()
        .find_map(|h| usable(headers.get(h)?))
}

/// `body` as a JSON response.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut res = (status, serde_json::to_vec(body).unwrap_or_default()).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    res
}

/// Where a request goes.
struct Target<'a, 'p> {
    route: &'a Route,
    /// Borrowed from the alias (no copy per request); built for direct mapping.
    action: std::borrow::Cow<'a, str>,
    path_params: PathParams<'a, 'p>,
    kind: AliasKind,
    /// Named by an alias (a missing action is then a 503, as moleculer-web answers).
    aliased: bool,
}

fn resolve<'a, 'p>(
    routes: &'a [Route],
    auto: &'a [Vec<crate::Alias>],
    method: &Method,
    path: &'p str,
) -> Option<Target<'a, 'p>> {
    // Aliases of every route first, as moleculer-web's global alias list; then direct mapping.
    let mut path_params = PathParams::default();
    for (i, route) in routes.iter().enumerate() {
        let generated = auto.get(i).map(Vec::as_slice).unwrap_or_default();
        for alias in route.aliases.iter().chain(generated) {
            if !alias.accepts(method) {
                continue;
            }
            if alias.path.match_into(path, &mut path_params) {
                return Some(Target {
                    route,
                    action: alias.action.as_str().into(),
                    path_params,
                    kind: alias.kind,
                    aliased: true,
                });
            }
        }
    }
    let route = routes.iter().find(|r| r.covers(path))?;
    if route.mapping_policy == MappingPolicy::Restrict {
        return None;
    }
    let rest = path[route.path.len()..].trim_matches('/');
    if rest.is_empty() {
        return None;
    }
    // `~node/list` is `$node.list`, moleculer-web's shorthand for internal services.
    let action = rest.replace('/', ".");
    let action = match action.strip_prefix('~') {
        Some(internal) => format!("${internal}"),
        None => action,
    };
    Some(Target {
        route,
        action: action.into(),
        path_params,
        kind: AliasKind::Call,
        aliased: false,
    })
}

/// The route a request belongs to, for its CORS: the route of the alias it matches (with the
/// method a preflight asks about), else the first route its path falls under, as
/// moleculer-web picks the route whose `cors` applies.
pub(crate) fn route_of<'a, B>(
    routes: &'a [Route],
    auto: &'a [Vec<crate::Alias>],
    req: &axum::http::Request<B>,
) -> Option<&'a Route> {
    let path = req.uri().path();
    let asked = (req.method() == Method::OPTIONS)
        .then(|| req.headers().get(header::ACCESS_CONTROL_REQUEST_METHOD))
        .flatten()
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok());
    let method = asked.as_ref().unwrap_or(req.method());
    for (i, route) in routes.iter().enumerate() {
        let generated = auto.get(i).map(Vec::as_slice).unwrap_or_default();
        for alias in route.aliases.iter().chain(generated) {
            if alias.accepts(method) && alias.path.match_into(path, &mut PathParams::default()) {
                return Some(route);
            }
        }
    }
    routes.iter().find(|r| r.covers(path))
}

/// A request to the routes (its body as hyper gives it: no boxing for the usual request).
pub(crate) async fn handle<B>(
    shared: Arc<Shared>,
    peer: SocketAddr,
    req: axum::http::Request<B>,
) -> Result<Response, std::convert::Infallible>
where
    B: hyper::body::Body<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let shared = &*shared;
    let expose = shared.config.expose_internal_errors;
    let (parts, body) = req.into_parts();
    let mut extra = HeaderMap::new();
    // Set apart from `extra`: the one header every answer has, without a map to merge.
    let mut chain_id = None;
    // Pinned where it is: awaited (or timed) through a reference, not moved into a second
    // slot of this future, which is moved whole into its box.
    let result = {
        let mut work = std::pin::pin!(process(
            shared,
            peer,
            &parts,
            body,
            &mut chain_id,
            &mut extra
        ));
        match shared.config.request_timeout {
            Some(t) => match tokio::time::timeout(t, work.as_mut()).await {
                Ok(r) => r,
                Err(_) => Err(errors::gateway_timeout(parts.uri.path())),
            },
            None => work.await,
        }
    };
    let mut res = match result {
        Ok(res) => res,
        Err(err) => {
            let path = parts.uri.path();
            if errors::status_of(&err).is_server_error() {
                tracing::warn!(%err, %path, "request failed");
            } else {
                tracing::debug!(%err, %path, "request refused");
            }
            errors::error_response(&err, expose)
        }
    };
    // The chain's ID once the context exists, else the client's.
    let id = chain_id
        .or_else(|| request_id_of(&parts.headers).and_then(|id| HeaderValue::from_str(&id).ok()));
    if let Some(v) = id {
        res.headers_mut().insert(X_REQUEST_ID.clone(), v);
    }
    if !extra.is_empty() {
        res.headers_mut().extend(extra);
    }
    Ok(res)
}

async fn process<B>(
    shared: &Shared,
    peer: SocketAddr,
    parts: &axum::http::request::Parts,
    body: B,
    chain_id: &mut Option<HeaderValue>,
    extra: &mut HeaderMap,
) -> Result<Response, Error>
where
    B: hyper::body::Body<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let view = shared.view();
    let routes = &shared.config.routes;
    let target = resolve(routes, &view.auto_aliases, &parts.method, parts.uri.path())
        .ok_or_else(errors::not_found)?;
    let route = target.route;
    if !route.allows(&target.action) || view.hidden.contains(target.action.as_ref()) {
        return Err(errors::service_not_found(&target.action));
    }
    let peer = Some(peer);
    let client_ip = client_ip(route, &parts.headers, peer);
    if let (Some(limit), Some(ip)) = (&route.rate_limit, client_ip) {
        check_rate(limit, ip, extra)?;
    }
    // A stopping (or not yet started) broker takes no new requests; those in flight finish.
    let broker = shared
        .broker()
        .filter(broker_core::Broker::is_running)
        .ok_or_else(errors::service_unavailable)?;
    // Before the body: a client without the token does not get to upload anything.
    let bearer_user = match &route.bearer {
        Some(bearer) => bearer.check(&parts.headers)?,
        None => None,
    };

    // Boxed (and only for a body): reading is a large future most GETs do not need.
    let bytes = if hyper::body::Body::is_end_stream(&body) {
        axum::body::Bytes::new()
    } else {
        Box::pin(body::read(
            &parts.headers,
            body,
            route.body_limit,
            shared.config.body_read_timeout,
        ))
        .await?
    };
    let query = parts.uri.query().unwrap_or("");
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut meta = JsonMap::new();
    let mut form = None;
    let params = match target.kind {
        AliasKind::Call => match body::parse(content_type, &bytes)? {
            // The usual GET: the path params are the params, written straight to JSON text.
            body if query.is_empty() && !matches!(body, Some(Value::Object(_))) => {
                CallParams::Path(target.path_params)
            }
            body => CallParams::Value(params::merge(
                body,
                params::parse_query(query),
                target.path_params.into_map(),
            )),
        },
        AliasKind::Raw => {
            let query = params::parse_query(query);
            let mut p = params::merge(None, query, target.path_params.into_map());
            if let Value::Object(map) = &mut p {
                let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
                map.insert("$body".into(), Value::String(encoded));
            }
            meta.insert("$contentType".into(), json!(content_type));
            CallParams::Value(p)
        }
        AliasKind::Multipart => {
            let parsed = crate::multipart::parse(content_type, bytes, route.max_files).await?;
            meta.insert("$multipart".into(), Value::Object(parsed.fields.clone()));
            form = Some(parsed);
            let query = params::parse_query(query);
            CallParams::Value(params::merge(None, query, target.path_params.into_map()))
        }
    };

    if route.caller_ip {
        if let Some(ip) = client_ip {
            meta.insert("ip".into(), json!(ip.to_string()));
        }
    }
    if !route.meta_headers.is_empty() {
        let mut copied = Map::new();
        for name in &route.meta_headers {
            if let Some(v) = parts.headers.get(name).and_then(|v| v.to_str().ok()) {
                copied.insert(name.as_str().to_owned(), json!(v));
            }
        }
        meta.insert("headers".into(), Value::Object(copied));
    }
    // A W3C `traceparent` from an OpenTelemetry-instrumented client or proxy: the calls join
    // its trace (its trace ID is the chain's request ID, as requestID is Moleculer's trace).
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let request_id = request_id_of(&parts.headers);
    let ctx = match header("traceparent") {
        Some(tp) => {
            Context::root_from_traceparent(&broker, tp, header("tracestate"), request_id, meta)
        }
        None => Context::root(&broker, request_id, meta),
    };
    // moleculer-web always answers with the chain's ID, generated when the client sent none.
    if let Ok(v) = HeaderValue::from_str(ctx.request_id()) {
        *chain_id = Some(v);
    }

    let hooked = route.before_call.is_some()
        || route.authentication.is_some()
        || route.authorization.is_some()
        || route.after_call.is_some();
    let hook_req = hooked.then(|| HookRequest {
        ctx: ctx.clone(),
        request: Arc::new(RequestInfo {
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            headers: parts.headers.clone(),
            remote_addr: peer,
        }),
        action: target.action.to_string(),
    });
    if let (Some(hook), Some(req)) = (&route.before_call, &hook_req) {
        hook(req.clone()).await?;
    }
    if let Some(user) = bearer_user {
        ctx.set_meta("user", user);
    }
    if let (Some(hook), Some(req)) = (&route.authentication, &hook_req) {
        let user = hook(req.clone()).await?;
        ctx.set_meta("user", user.unwrap_or(Value::Null));
    }
    if let (Some(hook), Some(req)) = (&route.authorization, &hook_req) {
        hook(req.clone()).await?;
    }

    let mut options = route.call_options.clone();
    options.caller = Some(shared.config.name.clone());
    if options.timeout.is_none() {
        options.timeout = shared.config.request_timeout;
    }
    let called = match (form, &params) {
        (Some(form), CallParams::Value(Value::Object(fields))) => {
            let files = crate::multipart::call_each(
                &ctx,
                &target.action,
                fields,
                form,
                &options,
                route.max_files,
            );
            Box::pin(files).await
        }
        _ => ctx.call_with(&target.action, &params, options).await,
    };
    let data: Payload = match called {
        Ok(data) => data,
        Err(err) if target.aliased && is_missing(&err, &target.action) => {
            return Err(errors::service_unavailable());
        }
        Err(err) => {
            // Headers the action set before failing go out with the error (as moleculer-web
            // sends them), e.g. `WWW-Authenticate` with a 401.
            for (name, value) in crate::response::meta_headers(&ctx.meta()).0 {
                extra.append(name, value);
            }
            return Err(err);
        }
    };
    match (&route.after_call, hook_req) {
        (Some(hook), Some(req)) => {
            let data = serde_json::from_str(data.get()).map_err(Error::from)?;
            let data = hook(req, data).await?;
            Ok(crate::response::success(&data, &ctx.meta()))
        }
        _ => Ok(crate::response::success_raw(data, &ctx.meta())),
    }
}

/// The params of a call: the path params alone (serialized without a map in between), or
/// merged with the query and body.
enum CallParams<'a, 'p> {
    Path(PathParams<'a, 'p>),
    Value(Value),
}

impl Serialize for CallParams<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            CallParams::Path(p) => p.serialize(s),
            CallParams::Value(v) => v.serialize(s),
        }
    }
}

/// The client's IP: the peer's, or with `trust_proxy` the first of `X-Forwarded-For`.
fn client_ip(
    route: &Route,
    headers: &HeaderMap,
    peer: Option<std::net::SocketAddr>,
) -> Option<std::net::IpAddr> {
    let forwarded = route
        .trust_proxy
        .then(|| headers.get("x-forwarded-for")?.to_str().ok())
        .flatten()
        .and_then(|v| v.split(',').next())
        .and_then(|first| first.trim().parse().ok());
    forwarded.or(peer.map(|p| p.ip()))
}

/// Counts the request; over the limit a 429 with `Retry-After` (whole seconds, rounded up).
fn check_rate(limit: &RateLimit, ip: std::net::IpAddr, extra: &mut HeaderMap) -> Result<(), Error> {
    let verdict = limit.hit(ip);
    if verdict.headers {
        extra.insert("x-rate-limit-limit", HeaderValue::from(verdict.limit));
        extra.insert(
            "x-rate-limit-remaining",
            HeaderValue::from(verdict.remaining),
        );
        extra.insert(
            "x-rate-limit-reset",
            HeaderValue::from(verdict.reset_unix_ms() as u64),
        );
    }
    if verdict.allowed {
        return Ok(());
    }
    let secs = verdict.reset_in.as_millis().div_ceil(1000).max(1) as u64;
    extra.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    Err(errors::rate_limit_exceeded())
}

/// A `ServiceNotFoundError` about this very action (not one raised by a nested call).
fn is_missing(err: &Error, action: &str) -> bool {
    err.kind() == ErrorKind::ServiceNotFound
        && err
            .data()
            .and_then(|d| d.get("action"))
            .and_then(Value::as_str)
            == Some(action)
}
