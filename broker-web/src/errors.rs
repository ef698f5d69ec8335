//! The gateway's own errors, named and coded as moleculer-web names them, and the mapping of
//! any Moleculer error to an HTTP response.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use broker_core::Error;
use serde_json::{json, Value};

/// `UnAuthorizedError` type when the request carries no token.
pub const ERR_NO_TOKEN: &str = "NO_TOKEN";
/// `UnAuthorizedError` type when the token is not accepted.
pub const ERR_INVALID_TOKEN: &str = "INVALID_TOKEN";

/// `NotFoundError` (404, `NOT_FOUND`): no route or alias matched.
pub fn not_found() -> Error {
    Error::new("NotFoundError", "Not found")
        .with_code(404)
        .with_type("NOT_FOUND")
}

/// `ServiceNotFoundError` (404, `SERVICE_NOT_FOUND`): the action is not exposed by this route.
pub fn service_not_found(action: &str) -> Error {
    Error::new(
        "ServiceNotFoundError",
        format!("Service '{action}' is not found."),
    )
    .with_code(404)
    .with_type("SERVICE_NOT_FOUND")
    .with_data(json!({ "action": action }))
}

/// `ServiceUnavailableError` (503): an alias names an action no node serves right now.
pub fn service_unavailable() -> Error {
    Error::new("ServiceUnavailableError", "Service unavailable").with_code(503)
}

/// `UnAuthorizedError` (401) of type [`ERR_NO_TOKEN`] or [`ERR_INVALID_TOKEN`].
pub fn unauthorized(error_type: &str) -> Error {
    Error::new("UnAuthorizedError", "Unauthorized")
        .with_code(401)
        .with_type(error_type)
}

/// `ForbiddenError` (403) of the given type.
pub fn forbidden(error_type: &str) -> Error {
    Error::new("ForbiddenError", "Forbidden")
        .with_code(403)
        .with_type(error_type)
}

/// `InvalidRequestBodyError` (400, `INVALID_REQUEST_BODY`): a body that does not parse.
pub fn invalid_body(reason: impl std::fmt::Display) -> Error {
    Error::new("InvalidRequestBodyError", "Invalid request body")
        .with_code(400)
        .with_type("INVALID_REQUEST_BODY")
        .with_data(json!({ "error": reason.to_string() }))
}

/// `PayloadTooLarge` (413, `PAYLOAD_TOO_LARGE`): the body is over the route's limit.
pub fn payload_too_large(limit: usize) -> Error {
    Error::new("PayloadTooLarge", "Payload too large")
        .with_code(413)
        .with_type("PAYLOAD_TOO_LARGE")
        .with_data(json!({ "limit": limit }))
}

/// `RateLimitExceeded` (429): too many requests from this client in the window.
pub fn rate_limit_exceeded() -> Error {
    Error::new("RateLimitExceeded", "Rate limit exceeded").with_code(429)
}

/// `RequestBodyTimeoutError` (408, `REQUEST_BODY_TIMEOUT`): the body did not arrive in time.
pub fn body_timeout() -> Error {
    Error::new(
        "RequestBodyTimeoutError",
        "Request body not received in time",
    )
    .with_code(408)
    .with_type("REQUEST_BODY_TIMEOUT")
}

/// `RequestTimeoutError` (504, `REQUEST_TIMEOUT`): the whole request ran over the gateway's
/// request timeout.
pub fn gateway_timeout(path: &str) -> Error {
    Error::new(
        "RequestTimeoutError",
        format!("Request is timed out when call '{path}'."),
    )
    .with_code(504)
    .with_type("REQUEST_TIMEOUT")
}

/// The HTTP status of an error: its code when that is in 400..599 (lodash's `inRange(code,
/// 400, 599)` in moleculer-web's `sendError`, so 599 itself is not), else 500.
pub fn status_of(err: &Error) -> StatusCode {
    u16::try_from(err.code())
        .ok()
        .filter(|c| (400..599).contains(c))
        .and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The body moleculer-web sends for an error: `{name, message, code, type, data}`, `code`
/// being the error's own (a 1001 stays 1001 in the body under a 500 status, as moleculer-web
/// picks it from the error). A 500's message and data are replaced unless `expose_internal`
/// (they may carry internals).
pub fn error_body(err: &Error, expose_internal: bool) -> Value {
    let status = status_of(err);
    let internal = status == StatusCode::INTERNAL_SERVER_ERROR && !expose_internal;
    let (message, data) = if internal {
        ("Internal Server Error", None)
    } else {
        (err.message(), err.data().cloned())
    };
    let mut body = serde_json::Map::new();
    body.insert("name".into(), json!(err.name()));
    body.insert("message".into(), json!(message));
    body.insert("code".into(), json!(err.code()));
    if let Some(t) = err.error_type() {
        body.insert("type".into(), json!(t));
    }
    if let Some(d) = data {
        body.insert("data".into(), d);
    }
    Value::Object(body)
}

/// The JSON response of an error.
pub fn error_response(err: &Error, expose_internal: bool) -> Response {
    let status = status_of(err);
    let body = serde_json::to_vec(&error_body(err, expose_internal)).unwrap_or_default();
    let mut res = (status, body).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_outside_http_range_become_500_and_hide_their_message() {
        let err = Error::new("MoleculerError", "db password is hunter2").with_code(0);
        assert_eq!(status_of(&err), StatusCode::INTERNAL_SERVER_ERROR);
        let body = error_body(&err, false);
        assert_eq!(body["message"], "Internal Server Error");
        // The error's own code, as moleculer-web keeps it.
        assert_eq!(body["code"], 0);
        let odd = Error::new("MoleculerError", "odd")
            .with_code(1001)
            .with_type("ODD");
        assert_eq!(status_of(&odd), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(error_body(&odd, true)["code"], 1001);
        assert_eq!(error_body(&odd, true)["type"], "ODD");
        // `inRange(code, 400, 599)`: 598 is a status, 599 is not.
        assert_eq!(
            status_of(&Error::new("E", "x").with_code(598)).as_u16(),
            598
        );
        assert_eq!(
            status_of(&Error::new("E", "x").with_code(599)).as_u16(),
            500
        );
        let exposed = error_body(&err, true);
        assert_eq!(exposed["message"], "db password is hunter2");
    }

    #[test]
    fn moleculer_codes_map_to_their_status() {
        assert_eq!(status_of(&Error::request_timeout("a.b", "n")).as_u16(), 504);
        assert_eq!(
            status_of(&Error::queue_is_full("a.b", "n", 1, 1)).as_u16(),
            429
        );
        assert_eq!(status_of(&Error::validation("bad", vec![])).as_u16(), 422);
        assert_eq!(
            status_of(&Error::service_not_found("a.b", None)).as_u16(),
            404
        );
        assert_eq!(status_of(&unauthorized(ERR_NO_TOKEN)).as_u16(), 401);
    }
}
