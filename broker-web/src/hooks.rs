//! What route hooks receive, and the `onBeforeCall` / `onAfterCall` hooks.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use axum::http::{HeaderMap, Method, Uri};
use broker_core::{Context, Error};
use serde_json::Value;

/// A boxed future, as the hooks return.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What a hook sees of the HTTP request.
#[derive(Debug)]
pub struct RequestInfo {
    /// The method.
    pub method: Method,
    /// The URI (path and query).
    pub uri: Uri,
    /// The request headers.
    pub headers: HeaderMap,
    /// The peer's address.
    pub remote_addr: Option<SocketAddr>,
}

/// The argument of every route hook (authentication, authorization, before and after call).
#[derive(Debug, Clone)]
pub struct HookRequest {
    /// The request's root context: the hook may call actions through it and set meta; the
    /// aliased action then sees that meta.
    pub ctx: Context,
    /// The HTTP request.
    pub request: Arc<RequestInfo>,
    /// The action the request is about to call.
    pub action: String,
}

impl HookRequest {
    /// The token of an `Authorization: Bearer <token>` header.
    pub fn bearer_token(&self) -> Option<&str> {
        crate::auth::bearer_of(&self.request.headers)
    }
}

/// `onBeforeCall`: runs before authentication, may set meta or refuse the request.
pub type BeforeCallFn = Arc<dyn Fn(HookRequest) -> BoxFuture<Result<(), Error>> + Send + Sync>;

/// `onAfterCall`: gets the action's result and returns what is sent (it may set
/// `ctx.meta.$statusCode` and the like too).
pub type AfterCallFn =
    Arc<dyn Fn(HookRequest, Value) -> BoxFuture<Result<Value, Error>> + Send + Sync>;
