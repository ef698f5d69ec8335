//! Per-route authentication and authorization: async hooks, and a ready-made bearer-token check.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use axum::http::{header, HeaderMap, Method, Uri};
use broker_core::{Context, Error};
use serde_json::Value;

use crate::errors::{unauthorized, ERR_INVALID_TOKEN, ERR_NO_TOKEN};

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

/// The argument of an authentication or authorization hook.
#[derive(Debug, Clone)]
pub struct AuthRequest {
    /// The request's root context: the hook may call actions through it and set meta; the
    /// aliased action then sees that meta.
    pub ctx: Context,
    /// The HTTP request.
    pub request: Arc<RequestInfo>,
    /// The action the request is about to call.
    pub action: String,
}

impl AuthRequest {
    /// The token of an `Authorization: Bearer <token>` header.
    pub fn bearer_token(&self) -> Option<&str> {
        bearer_of(&self.request.headers)
    }
}

/// An authentication hook: `Ok(Some(user))` puts `user` in `ctx.meta.user`, `Ok(None)` leaves
/// the request anonymous (`meta.user` is `null`), an error refuses it.
pub type AuthenticateFn =
    Arc<dyn Fn(AuthRequest) -> BoxFuture<Result<Option<Value>, Error>> + Send + Sync>;

/// An authorization hook: an error (usually [`crate::errors::forbidden`] or
/// [`crate::errors::unauthorized`]) refuses the request.
pub type AuthorizeFn = Arc<dyn Fn(AuthRequest) -> BoxFuture<Result<(), Error>> + Send + Sync>;

fn bearer_of(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// A static bearer-token check: the request must carry `Authorization: Bearer <token>` with one
/// of the accepted tokens. No header is a 401 `UnAuthorizedError` of type `NO_TOKEN`, another
/// token one of type `INVALID_TOKEN`.
#[derive(Clone)]
pub struct BearerToken {
    tokens: Vec<String>,
    user: Option<Value>,
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secrets.
        f.debug_struct("BearerToken")
            .field("tokens", &self.tokens.len())
            .finish_non_exhaustive()
    }
}

impl BearerToken {
    /// Accepts one token.
    pub fn new(token: impl Into<String>) -> BearerToken {
        BearerToken::any_of([token])
    }

    /// Accepts any of these tokens.
    pub fn any_of<I, S>(tokens: I) -> BearerToken
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        BearerToken {
            tokens: tokens.into_iter().map(Into::into).collect(),
            user: None,
        }
    }

    /// The `ctx.meta.user` set when the token is accepted (default: left as is).
    pub fn user(mut self, user: Value) -> BearerToken {
        self.user = Some(user);
        self
    }

    /// Checks the headers; on success the user to set, if any.
    pub fn check(&self, headers: &HeaderMap) -> Result<Option<Value>, Error> {
        let Some(token) = bearer_of(headers) else {
            return Err(unauthorized(ERR_NO_TOKEN));
        };
        // Compare every token fully so timing does not tell how much of one matched.
        let ok = self.tokens.iter().fold(false, |acc, t| {
            acc | constant_time_eq(t.as_bytes(), token.as_bytes())
        });
        if ok {
            Ok(self.user.clone())
        } else {
            Err(unauthorized(ERR_INVALID_TOKEN))
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn bearer_token_answers_no_token_and_invalid_token() {
        let check = BearerToken::any_of(["a1", "b2"]);
        let mut headers = HeaderMap::new();
        let err = check
            .check(&headers)
            .err()
            .map(|e| e.error_type().map(str::to_owned));
        assert_eq!(err, Some(Some("NO_TOKEN".into())));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer nope"),
        );
        let err = check
            .check(&headers)
            .err()
            .map(|e| e.error_type().map(str::to_owned));
        assert_eq!(err, Some(Some("INVALID_TOKEN".into())));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer b2"));
        assert!(check.check(&headers).is_ok());
    }
}
