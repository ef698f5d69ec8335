//! A route: a path prefix and what it exposes under it (aliases, whitelist, mapping policy,
//! auto-aliases), with its body, auth and meta options.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use axum::http::HeaderName;
use broker_core::{CallOptions, Error};
use serde_json::Value;

use crate::alias::{rest_aliases, Alias};
use crate::auth::{AuthenticateFn, AuthorizeFn, BearerToken};
use crate::hooks::{AfterCallFn, BeforeCallFn, HookRequest};
use crate::ratelimit::RateLimit;
use crate::whitelist::ActionPattern;

/// Default body limit of a route: 1 MiB (body-parser's default is 100 kB; uploads want more).
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// Whether a route reaches actions not named by an alias.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MappingPolicy {
    /// `/api/users/get` calls `users.get` (if the whitelist allows it): moleculer-web's default.
    #[default]
    All,
    /// Only aliases are reachable.
    Restrict,
}

/// One route of the gateway, built with chained calls:
///
/// ```
/// use broker_web::{Route, MappingPolicy};
/// let route = Route::new("/api")
///     .alias("GET /users/:id", "users.get")
///     .alias("REST /posts", "posts")
///     .whitelist(["users.*", "posts.*"])
///     .mapping_policy(MappingPolicy::Restrict);
/// assert_eq!(route.aliases().len(), 7);
/// ```
#[derive(Clone)]
pub struct Route {
    pub(crate) path: String,
    pub(crate) aliases: Vec<Alias>,
    pub(crate) whitelist: Vec<ActionPattern>,
    pub(crate) mapping_policy: MappingPolicy,
    pub(crate) auto_aliases: bool,
    pub(crate) body_limit: usize,
    pub(crate) max_files: Option<usize>,
    pub(crate) cors: Option<tower_http::cors::CorsLayer>,
    pub(crate) authentication: Option<AuthenticateFn>,
    pub(crate) authorization: Option<AuthorizeFn>,
    pub(crate) bearer: Option<BearerToken>,
    pub(crate) meta_headers: Vec<HeaderName>,
    pub(crate) caller_ip: bool,
    pub(crate) trust_proxy: bool,
    pub(crate) before_call: Option<BeforeCallFn>,
    pub(crate) after_call: Option<AfterCallFn>,
    pub(crate) rate_limit: Option<RateLimit>,
    pub(crate) call_options: CallOptions,
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Route")
            .field("path", &self.path)
            .field("aliases", &self.aliases.len())
            .field("mapping_policy", &self.mapping_policy)
            .field("auto_aliases", &self.auto_aliases)
            .finish_non_exhaustive()
    }
}

impl Route {
    /// A route under `path` (`"/api"`; `"/"` or `""` for the root).
    pub fn new(path: impl AsRef<str>) -> Route {
        let trimmed = path.as_ref().trim_matches('/');
        Route {
            path: if trimmed.is_empty() {
                String::new()
            } else {
                format!("/{trimmed}")
            },
            aliases: Vec::new(),
            whitelist: Vec::new(),
            mapping_policy: MappingPolicy::All,
            auto_aliases: false,
            body_limit: DEFAULT_BODY_LIMIT,
            max_files: None,
            cors: None,
            authentication: None,
            authorization: None,
            bearer: None,
            meta_headers: Vec::new(),
            caller_ip: false,
            trust_proxy: false,
            before_call: None,
            after_call: None,
            rate_limit: None,
            call_options: CallOptions::new(),
        }
    }

    /// Adds an alias: `"GET /users/:id"`, `"POST /users"`, `"/any-method"`, or
    /// `"REST /users"` with a service name for its six REST aliases. An action written
    /// `"stream:files.save"` gets the raw body (see [`crate::AliasKind::Raw`]), one written
    /// `"multipart:files.save"` each file of a form (see [`crate::AliasKind::Multipart`]). A spec with an
    /// unknown method is skipped with a warning.
    pub fn alias(mut self, spec: &str, action: &str) -> Route {
        if let Some(path) = spec.strip_prefix("REST ") {
            for (s, a) in rest_aliases(path.trim(), action) {
                self = self.alias(&s, &a);
            }
            return self;
        }
        match Alias::parse(&self.path, spec, action) {
            Some(alias) => self.aliases.push(alias),
            None => tracing::warn!(alias = spec, "alias with an unknown HTTP method skipped"),
        }
        self
    }

    /// Only actions matching one of these patterns are reachable (aliases included).
    pub fn whitelist<I, P>(mut self, patterns: I) -> Route
    where
        I: IntoIterator<Item = P>,
        P: Into<ActionPattern>,
    {
        self.whitelist.extend(patterns.into_iter().map(Into::into));
        self
    }

    /// [`MappingPolicy::All`] (default) or [`MappingPolicy::Restrict`].
    pub fn mapping_policy(mut self, policy: MappingPolicy) -> Route {
        self.mapping_policy = policy;
        self
    }

    /// Builds aliases from the `rest` property of every published action of the cluster, under
    /// this route's path and the service's base path (`settings.rest`, else its full name with
    /// dots as slashes), and rebuilds them whenever `$services.changed` fires.
    pub fn auto_aliases(mut self, enabled: bool) -> Route {
        self.auto_aliases = enabled;
        self
    }

    /// The largest body accepted, in bytes; a larger one is a 413 `PayloadTooLarge`.
    pub fn body_limit(mut self, bytes: usize) -> Route {
        self.body_limit = bytes;
        self
    }

    /// At most this many files of a multipart form are handed to the action (busboy's
    /// `limits.files`: the parts past it are ignored). With 1, the answer is the action's
    /// result itself rather than an array of one, as moleculer-web unwraps it. The whole
    /// body stays under [`Route::body_limit`].
    pub fn max_files(mut self, files: usize) -> Route {
        self.max_files = Some(files);
        self
    }

    /// CORS for this route's requests (and preflights), in place of the gateway's
    /// ([`crate::ApiGatewayBuilder::cors`]), as a moleculer-web route's `cors` setting
    /// overrides the global one. A preflight belongs to the route its
    /// `Access-Control-Request-Method` and path would reach.
    pub fn cors(mut self, cors: tower_http::cors::CorsLayer) -> Route {
        self.cors = Some(cors);
        self
    }

    /// Runs `hook` before each call of this route; its user goes to `ctx.meta.user`.
    pub fn authentication<F, Fut>(mut self, hook: F) -> Route
    where
        F: Fn(HookRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<Value>, Error>> + Send + 'static,
    {
        self.authentication = Some(Arc::new(move |req| Box::pin(hook(req))));
        self
    }

    /// Runs `hook` after authentication; an error refuses the request.
    pub fn authorization<F, Fut>(mut self, hook: F) -> Route
    where
        F: Fn(HookRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        self.authorization = Some(Arc::new(move |req| Box::pin(hook(req))));
        self
    }

    /// Requires one of these bearer tokens (checked before the authentication hook).
    pub fn bearer_token(mut self, check: BearerToken) -> Route {
        self.bearer = Some(check);
        self
    }

    /// Copies these request headers (lowercased names) into `ctx.meta.headers`.
    pub fn meta_headers<I, S>(mut self, names: I) -> Route
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for name in names {
            match HeaderName::from_bytes(name.as_ref().to_ascii_lowercase().as_bytes()) {
                Ok(h) => self.meta_headers.push(h),
                Err(_) => tracing::warn!(header = name.as_ref(), "invalid header name skipped"),
            }
        }
        self
    }

    /// Puts the caller's IP address in `ctx.meta.ip`.
    pub fn caller_ip(mut self, enabled: bool) -> Route {
        self.caller_ip = enabled;
        self
    }

    /// Options of every call of this route (moleculer-web's `callOptions`): timeout, retries,
    /// fallback… Its timeout wins over the gateway's request timeout for the call itself.
    pub fn call_options(mut self, options: CallOptions) -> Route {
        self.call_options = options;
        self
    }

    /// Takes the client's IP (for `ctx.meta.ip` and the rate limit) from the first address of
    /// `X-Forwarded-For` when present: only behind a proxy that sets it.
    pub fn trust_proxy(mut self, enabled: bool) -> Route {
        self.trust_proxy = enabled;
        self
    }

    /// `onBeforeCall`: runs before authentication; may set meta or refuse with an error.
    pub fn on_before_call<F, Fut>(mut self, hook: F) -> Route
    where
        F: Fn(HookRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        self.before_call = Some(Arc::new(move |req| Box::pin(hook(req))));
        self
    }

    /// `onAfterCall`: gets the action's result and returns what the client receives.
    pub fn on_after_call<F, Fut>(mut self, hook: F) -> Route
    where
        F: Fn(HookRequest, Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, Error>> + Send + 'static,
    {
        self.after_call = Some(Arc::new(move |req, data| Box::pin(hook(req, data))));
        self
    }

    /// Limits requests per client IP (429 `RateLimitExceeded` with `Retry-After` over it).
    pub fn rate_limit(mut self, limit: RateLimit) -> Route {
        self.rate_limit = Some(limit);
        self
    }

    /// The path prefix (`/api`; empty for the root).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The declared aliases, in order (auto-aliases are not among them).
    pub fn aliases(&self) -> &[Alias] {
        &self.aliases
    }

    /// Whether a bearer token is required (for specs: the route's security scheme).
    pub fn requires_bearer_token(&self) -> bool {
        self.bearer.is_some()
    }

    /// Whether the route has an authentication hook.
    pub fn has_authentication(&self) -> bool {
        self.authentication.is_some()
    }

    /// The mapping policy.
    pub fn policy(&self) -> MappingPolicy {
        self.mapping_policy
    }

    /// Whether auto-aliases are on.
    pub fn has_auto_aliases(&self) -> bool {
        self.auto_aliases
    }

    /// The body limit in bytes.
    pub fn max_body_bytes(&self) -> usize {
        self.body_limit
    }

    /// Whether `action` passes the whitelist (an empty whitelist allows all).
    pub fn allows(&self, action: &str) -> bool {
        self.whitelist.is_empty() || self.whitelist.iter().any(|p| p.matches(action))
    }

    /// Whether `path` is under this route's prefix.
    pub(crate) fn covers(&self, path: &str) -> bool {
        path.strip_prefix(&self.path)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }
}
