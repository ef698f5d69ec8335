//! Per-route authentication and authorization: async hooks, and a ready-made bearer-token check.

use std::fmt;
use std::sync::Arc;

use axum::http::{header, HeaderMap};
use broker_core::Error;
use serde_json::Value;

use crate::errors::{unauthorized, ERR_INVALID_TOKEN, ERR_NO_TOKEN};
use crate::hooks::{BoxFuture, HookRequest};

/// An authentication hook: `Ok(Some(user))` puts `user` in `ctx.meta.user`, `Ok(None)` leaves
/// the request anonymous (`meta.user` is `null`), an error refuses it.
pub type AuthenticateFn =
    Arc<dyn Fn(HookRequest) -> BoxFuture<Result<Option<Value>, Error>> + Send + Sync>;

/// An authorization hook: an error (usually [`crate::errors::forbidden`] or
/// [`crate::errors::unauthorized`]) refuses the request.
pub type AuthorizeFn = Arc<dyn Fn(HookRequest) -> BoxFuture<Result<(), Error>> + Send + Sync>;

pub(crate) fn bearer_of(headers: &HeaderMap) -> Option<&str> {
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
