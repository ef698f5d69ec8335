//! One error type for everything a broker call can fail with, convertible both ways to
//! Moleculer's wire error (`name`, `message`, `code`, `type`, `data`, `retryable`, `nodeID`).
//!
//! The standard kinds carry the `data` Moleculer.js needs to rebuild its own error classes: a JS
//! caller regenerates the message of, say, a `RequestTimeoutError` from `data.action` and
//! `data.nodeID`, and crashes its response parser when that data is missing.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::fmt;

/// The kind of an [`Error`], derived from its Moleculer class name.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// `ServiceNotFoundError` (404): no node offers the action.
    ServiceNotFound,
    /// `ServiceNotAvailableError` (404): the action is known but no endpoint is available.
    ServiceNotAvailable,
    /// `RequestTimeoutError` (504).
    RequestTimeout,
    /// `RequestSkippedError` (514): the distributed timeout budget was used up before the call.
    RequestSkipped,
    /// `RequestRejectedError` (503): the target node left or went offline.
    RequestRejected,
    /// `QueueIsFullError` (429).
    QueueIsFull,
    /// `ValidationError` (422): params did not match what the handler takes.
    Validation,
    /// `MaxCallLevelError` (500).
    MaxCallLevel,
    /// `BrokerDisconnectedError` (502): the transporter is not connected.
    BrokerDisconnected,
    /// `ServiceSchemaError` (500).
    ServiceSchema,
    /// `BrokerOptionsError` (500).
    BrokerOptions,
    /// `GracefulStopTimeoutError` (500).
    GracefulStopTimeout,
    /// `ProtocolVersionMismatchError` (500).
    ProtocolVersionMismatch,
    /// `InvalidPacketDataError` (500).
    InvalidPacketData,
    /// `MoleculerClientError` (400 by default, not retryable).
    Client,
    /// `MoleculerServerError` (500 by default, retryable).
    Server,
    /// `MoleculerRetryableError` (500 by default, retryable).
    Retryable,
    /// `MoleculerError`, or any other name (user errors, plain JS `Error`).
    Other,
}

impl ErrorKind {
    /// The Moleculer class name of this kind (`Other` maps to `MoleculerError`).
    pub fn class_name(self) -> &'static str {
        match self {
            ErrorKind::ServiceNotFound => "ServiceNotFoundError",
            ErrorKind::ServiceNotAvailable => "ServiceNotAvailableError",
            ErrorKind::RequestTimeout => "RequestTimeoutError",
            ErrorKind::RequestSkipped => "RequestSkippedError",
            ErrorKind::RequestRejected => "RequestRejectedError",
            ErrorKind::QueueIsFull => "QueueIsFullError",
            ErrorKind::Validation => "ValidationError",
            ErrorKind::MaxCallLevel => "MaxCallLevelError",
            ErrorKind::BrokerDisconnected => "BrokerDisconnectedError",
            ErrorKind::ServiceSchema => "ServiceSchemaError",
            ErrorKind::BrokerOptions => "BrokerOptionsError",
            ErrorKind::GracefulStopTimeout => "GracefulStopTimeoutError",
            ErrorKind::ProtocolVersionMismatch => "ProtocolVersionMismatchError",
            ErrorKind::InvalidPacketData => "InvalidPacketDataError",
            ErrorKind::Client => "MoleculerClientError",
            ErrorKind::Server => "MoleculerServerError",
            ErrorKind::Retryable => "MoleculerRetryableError",
            ErrorKind::Other => "MoleculerError",
        }
    }

    /// The kind a Moleculer class name stands for.
    pub fn from_class_name(name: &str) -> ErrorKind {
        match name {
            "ServiceNotFoundError" => ErrorKind::ServiceNotFound,
            "ServiceNotAvailableError" => ErrorKind::ServiceNotAvailable,
            "RequestTimeoutError" => ErrorKind::RequestTimeout,
            "RequestSkippedError" => ErrorKind::RequestSkipped,
            "RequestRejectedError" => ErrorKind::RequestRejected,
            "QueueIsFullError" => ErrorKind::QueueIsFull,
            "ValidationError" => ErrorKind::Validation,
            "MaxCallLevelError" => ErrorKind::MaxCallLevel,
            "BrokerDisconnectedError" => ErrorKind::BrokerDisconnected,
            "ServiceSchemaError" => ErrorKind::ServiceSchema,
            "BrokerOptionsError" => ErrorKind::BrokerOptions,
            "GracefulStopTimeoutError" => ErrorKind::GracefulStopTimeout,
            "ProtocolVersionMismatchError" => ErrorKind::ProtocolVersionMismatch,
            "InvalidPacketDataError" => ErrorKind::InvalidPacketData,
            "MoleculerClientError" => ErrorKind::Client,
            "MoleculerServerError" => ErrorKind::Server,
            "MoleculerRetryableError" => ErrorKind::Retryable,
            _ => ErrorKind::Other,
        }
    }
}

/// An error as Moleculer models it: a class name, a message, an HTTP-like code, a machine
/// readable type, free-form data, whether a retry may help, and the node it was raised on.
///
/// ```
/// use broker_core::{Error, ErrorKind};
///
/// let err = Error::client("Bad thing", 418, "BAD_THING").with_data(serde_json::json!({"x": 1}));
/// assert_eq!(err.kind(), ErrorKind::Client);
/// assert_eq!(err.code(), 418);
/// assert!(!err.is_retryable());
/// ```
#[derive(Clone, PartialEq)]
pub struct Error(Box<Inner>);

#[derive(Debug, Clone, PartialEq)]
struct Inner {
    kind: ErrorKind,
    name: String,
    message: String,
    code: i64,
    error_type: Option<String>,
    data: Option<Value>,
    retryable: bool,
    node_id: Option<String>,
    stack: Option<String>,
}

impl Error {
    fn of(kind: ErrorKind, message: impl Into<String>, code: i64, error_type: &str) -> Error {
        let retryable = matches!(
            kind,
            ErrorKind::ServiceNotFound
                | ErrorKind::ServiceNotAvailable
                | ErrorKind::RequestTimeout
                | ErrorKind::RequestRejected
                | ErrorKind::QueueIsFull
                | ErrorKind::BrokerDisconnected
                | ErrorKind::Server
                | ErrorKind::Retryable
        );
        Error(Box::new(Inner {
            kind,
            name: kind.class_name().to_owned(),
            message: message.into(),
            code,
            error_type: (!error_type.is_empty()).then(|| error_type.to_owned()),
            data: None,
            retryable,
            node_id: None,
            stack: None,
        }))
    }

    /// A user error with its own class name (as a JS `class MyError extends MoleculerError`),
    /// code 500, not retryable. Refine it with the `with_*` methods.
    pub fn new(name: impl Into<String>, message: impl Into<String>) -> Error {
        let name = name.into();
        let mut err = Error::of(ErrorKind::from_class_name(&name), message, 500, "");
        err.0.name = name;
        err
    }

    /// `MoleculerClientError`: the caller's fault (bad input); not retryable.
    pub fn client(message: impl Into<String>, code: i64, error_type: &str) -> Error {
        Error::of(ErrorKind::Client, message, code, error_type)
    }

    /// `MoleculerServerError`: the server's fault; retryable.
    pub fn server(message: impl Into<String>, code: i64, error_type: &str) -> Error {
        Error::of(ErrorKind::Server, message, code, error_type)
    }

    /// `MoleculerRetryableError`: a transient failure worth retrying.
    pub fn retryable(message: impl Into<String>, code: i64, error_type: &str) -> Error {
        Error::of(ErrorKind::Retryable, message, code, error_type)
    }

    /// `ServiceNotFoundError` for an action, optionally on one node.
    pub fn service_not_found(action: &str, node_id: Option<&str>) -> Error {
        let message = match node_id {
            Some(node) => format!("Service '{action}' is not found on '{node}' node."),
            None => format!("Service '{action}' is not found."),
        };
        Error::of(
            ErrorKind::ServiceNotFound,
            message,
            404,
            "SERVICE_NOT_FOUND",
        )
        .with_data(action_data(action, node_id))
    }

    /// `ServiceNotAvailableError` for an action, optionally on one node.
    pub fn service_not_available(action: &str, node_id: Option<&str>) -> Error {
        let message = match node_id {
            Some(node) => format!("Service '{action}' is not available on '{node}' node."),
            None => format!("Service '{action}' is not available."),
        };
        Error::of(
            ErrorKind::ServiceNotAvailable,
            message,
            404,
            "SERVICE_NOT_AVAILABLE",
        )
        .with_data(action_data(action, node_id))
    }

    /// The error of a call made on a stopped broker: a `ServiceNotAvailableError`, as a
    /// stopping Moleculer.js node answers a request, saying why. Not retryable: this broker
    /// will not serve again.
    pub fn broker_stopped_call(action: &str, node_id: &str) -> Error {
        Error::of(
            ErrorKind::ServiceNotAvailable,
            format!(
                "Service '{action}' is not available on '{node_id}' node: the broker is stopped."
            ),
            404,
            "SERVICE_NOT_AVAILABLE",
        )
        .with_data(action_data(action, Some(node_id)))
        .with_retryable(false)
    }

    /// The error of an emit or broadcast on a stopped broker: a `BrokerDisconnectedError`
    /// (nothing can be sent), saying why. Not retryable.
    pub fn broker_stopped_emit(event: &str, node_id: &str) -> Error {
        Error::of(
            ErrorKind::BrokerDisconnected,
            format!("Event '{event}' is not sent from '{node_id}' node: the broker is stopped."),
            502,
            "BAD_GATEWAY",
        )
        .with_data(json!({"event": event, "nodeID": node_id}))
        .with_retryable(false)
    }

    /// `RequestTimeoutError` for a call of `action` on `node_id`.
    pub fn request_timeout(action: &str, node_id: &str) -> Error {
        let message =
            format!("Request is timed out when call '{action}' action on '{node_id}' node.");
        Error::of(ErrorKind::RequestTimeout, message, 504, "REQUEST_TIMEOUT")
            .with_data(action_data(action, Some(node_id)))
    }

    /// `RequestSkippedError`: the remaining timeout budget was zero before the call was sent.
    pub fn request_skipped(action: &str, node_id: &str) -> Error {
        let message =
            format!("Calling '{action}' is skipped because timeout reached on '{node_id}' node.");
        Error::of(ErrorKind::RequestSkipped, message, 514, "REQUEST_SKIPPED")
            .with_data(action_data(action, Some(node_id)))
    }

    /// `RequestRejectedError`: the target node left or went offline with the call pending.
    pub fn request_rejected(action: &str, node_id: &str) -> Error {
        let message =
            format!("Request is rejected when call '{action}' action on '{node_id}' node.");
        Error::of(ErrorKind::RequestRejected, message, 503, "REQUEST_REJECTED")
            .with_data(action_data(action, Some(node_id)))
    }

    /// `QueueIsFullError`: too many requests queued for `action` on `node_id`.
    pub fn queue_is_full(action: &str, node_id: &str, size: usize, limit: usize) -> Error {
        let message =
            format!("Queue is full. Request '{action}' action on '{node_id}' node is rejected.");
        Error::of(ErrorKind::QueueIsFull, message, 429, "QUEUE_FULL")
            .with_data(json!({"action": action, "nodeID": node_id, "size": size, "limit": limit}))
    }

    /// `MaxCallLevelError`: a nested call went deeper than the broker allows.
    pub fn max_call_level(node_id: &str, level: u32) -> Error {
        let message = format!("Request level is reached the limit ({level}) on '{node_id}' node.");
        Error::of(ErrorKind::MaxCallLevel, message, 500, "MAX_CALL_LEVEL")
            .with_data(json!({"nodeID": node_id, "level": level}))
    }

    /// `ValidationError` with Moleculer's `data` shape: a list of `{type, field, message, actual}`.
    pub fn validation(message: impl Into<String>, items: Vec<Value>) -> Error {
        Error::of(ErrorKind::Validation, message, 422, "VALIDATION_ERROR")
            .with_data(Value::Array(items))
    }

    /// `BrokerDisconnectedError`: the transporter is down, so nothing can be sent.
    pub fn broker_disconnected() -> Error {
        Error::of(
            ErrorKind::BrokerDisconnected,
            "The broker's transporter has disconnected. Please try again when a connection is reestablished.",
            502,
            "BAD_GATEWAY",
        )
    }

    /// `ServiceSchemaError`: a service definition is not usable.
    pub fn service_schema(message: impl Into<String>) -> Error {
        Error::of(
            ErrorKind::ServiceSchema,
            message,
            500,
            "SERVICE_SCHEMA_ERROR",
        )
    }

    /// `BrokerOptionsError`: the broker was configured with something it cannot use.
    pub fn broker_options(message: impl Into<String>) -> Error {
        Error::of(
            ErrorKind::BrokerOptions,
            message,
            500,
            "BROKER_OPTIONS_ERROR",
        )
    }

    /// `GracefulStopTimeoutError` for a service that did not stop in time.
    pub fn graceful_stop_timeout(name: &str, version: Option<&Value>) -> Error {
        Error::of(
            ErrorKind::GracefulStopTimeout,
            format!("Unable to stop '{name}' service gracefully."),
            500,
            "GRACEFUL_STOP_TIMEOUT",
        )
        .with_data(json!({"name": name, "version": version}))
    }

    /// `InvalidPacketDataError`: a packet could not be decoded.
    pub fn invalid_packet(reason: impl Into<String>) -> Error {
        Error::of(
            ErrorKind::InvalidPacketData,
            "Invalid packet data.",
            500,
            "INVALID_PACKET_DATA",
        )
        .with_data(json!({"reason": reason.into()}))
    }

    /// `ProtocolVersionMismatchError`: a peer speaks another protocol version.
    pub fn protocol_version_mismatch(node_id: &str, actual: &str, received: &str) -> Error {
        Error::of(
            ErrorKind::ProtocolVersionMismatch,
            "Protocol version mismatch.",
            500,
            "PROTOCOL_VERSION_MISMATCH",
        )
        .with_data(json!({"nodeID": node_id, "actual": actual, "received": received}))
    }

    /// Replaces the message (the class, code, type and data stay).
    pub(crate) fn with_message(mut self, message: impl Into<String>) -> Error {
        self.0.message = message.into();
        self
    }

    /// Sets the code.
    pub fn with_code(mut self, code: i64) -> Error {
        self.0.code = code;
        self
    }

    /// Sets the machine-readable type.
    pub fn with_type(mut self, error_type: impl Into<String>) -> Error {
        self.0.error_type = Some(error_type.into());
        self
    }

    /// Sets the data.
    pub fn with_data(mut self, data: Value) -> Error {
        self.0.data = Some(data);
        self
    }

    /// Sets whether a retry may help.
    pub fn with_retryable(mut self, retryable: bool) -> Error {
        self.0.retryable = retryable;
        self
    }

    /// Sets the node the error was raised on.
    pub fn with_node_id(mut self, node_id: impl Into<String>) -> Error {
        self.0.node_id = Some(node_id.into());
        self
    }

    /// Sets the node only if the error does not know its origin yet (errors keep their origin
    /// through call chains, as in Moleculer).
    pub fn or_node_id(mut self, node_id: &str) -> Error {
        if self.0.node_id.is_none() {
            self.0.node_id = Some(node_id.to_owned());
        }
        self
    }

    /// The kind, derived from the class name.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }
    /// The class name (`ValidationError`, `MyCustomError`, …).
    pub fn name(&self) -> &str {
        &self.0.name
    }
    /// The message.
    pub fn message(&self) -> &str {
        &self.0.message
    }
    /// The HTTP-like code.
    pub fn code(&self) -> i64 {
        self.0.code
    }
    /// The machine-readable type, if any.
    pub fn error_type(&self) -> Option<&str> {
        self.0.error_type.as_deref()
    }
    /// The data, if any.
    pub fn data(&self) -> Option<&Value> {
        self.0.data.as_ref()
    }
    /// The node the error was raised on, if known.
    pub fn node_id(&self) -> Option<&str> {
        self.0.node_id.as_deref()
    }
    /// The remote stack trace, if the error came over the wire with one.
    pub fn stack(&self) -> Option<&str> {
        self.0.stack.as_deref()
    }
    /// Whether a retry may succeed.
    pub fn is_retryable(&self) -> bool {
        self.0.retryable
    }
    /// Whether this is a `RequestTimeoutError`.
    pub fn is_timeout(&self) -> bool {
        self.0.kind == ErrorKind::RequestTimeout
    }

    /// The wire form, as sent in a RESPONSE's `error` field.
    pub fn to_wire(&self, local_node_id: &str) -> WireError {
        WireError {
            name: self.0.name.clone(),
            message: self.0.message.clone(),
            node_id: Some(
                self.0
                    .node_id
                    .clone()
                    .unwrap_or_else(|| local_node_id.to_owned()),
            ),
            code: Some(self.0.code),
            error_type: self.0.error_type.clone(),
            retryable: Some(self.0.retryable),
            stack: Some(
                self.0
                    .stack
                    .clone()
                    .unwrap_or_else(|| format!("{}: {}", self.0.name, self.0.message)),
            ),
            data: self.0.data.clone(),
        }
    }

    /// Rebuilds an error from its wire form; `sender` is the node that sent it, used when the
    /// error does not name its origin.
    pub fn from_wire(wire: WireError, sender: &str) -> Error {
        let kind = ErrorKind::from_class_name(&wire.name);
        Error(Box::new(Inner {
            kind,
            name: wire.name,
            message: wire.message,
            code: wire.code.unwrap_or(500),
            error_type: wire.error_type,
            data: wire.data.filter(|d| !d.is_null()),
            // As in Moleculer: the wire value wins, and absent means "not retryable".
            retryable: wire.retryable.unwrap_or(false),
            node_id: Some(wire.node_id.unwrap_or_else(|| sender.to_owned())),
            stack: wire.stack,
        }))
    }
}

fn action_data(action: &str, node_id: Option<&str>) -> Value {
    match node_id {
        Some(node) => json!({"action": action, "nodeID": node}),
        None => json!({"action": action}),
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("name", &self.0.name)
            .field("message", &self.0.message)
            .field("code", &self.0.code);
        if let Some(t) = &self.0.error_type {
            d.field("type", t);
        }
        if let Some(data) = &self.0.data {
            d.field("data", data);
        }
        d.field("retryable", &self.0.retryable);
        if let Some(node) = &self.0.node_id {
            d.field("node_id", node);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.0.name, self.0.message)?;
        if self.0.kind == ErrorKind::Validation {
            // The message stays Moleculer's generic one on the wire; a reader wants the fields.
            write_validation_items(f, self.0.data.as_ref())?;
        }
        Ok(())
    }
}

/// Appends ` field "name": The 'name' field is required.` per item of a validation error's
/// data (fastest-validator's `{field, message, type}` list), the first few only.
fn write_validation_items(f: &mut fmt::Formatter<'_>, data: Option<&Value>) -> fmt::Result {
    const SHOWN: usize = 5;
    let Some(Value::Array(items)) = data else {
        return Ok(());
    };
    for (i, item) in items.iter().take(SHOWN).enumerate() {
        let field = item.get("field").and_then(Value::as_str).unwrap_or("");
        let problem = item
            .get("message")
            .and_then(Value::as_str)
            .or_else(|| item.get("type").and_then(Value::as_str))
            .unwrap_or("invalid");
        f.write_str(if i == 0 { " " } else { "; " })?;
        if field.is_empty() {
            f.write_str(problem)?;
        } else {
            write!(f, "field \"{field}\": {problem}")?;
        }
    }
    if items.len() > SHOWN {
        write!(f, "; and {} more", items.len() - SHOWN)?;
    }
    Ok(())
}

impl std::error::Error for Error {}

impl From<serde_json::Error> for Error {
    fn from(err: serde_json::Error) -> Error {
        Error::server(err.to_string(), 500, "SERIALIZATION_ERROR").with_retryable(false)
    }
}

/// The error as it travels in a RESPONSE packet (Moleculer's `extractPlainError`).
///
/// Every field is optional on receipt: a plain JS `Error` has no `code`, `type` or `retryable`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireError {
    /// Class name.
    #[serde(default = "default_error_name")]
    pub name: String,
    /// Message.
    #[serde(default)]
    pub message: String,
    /// Node where the error was raised.
    #[serde(rename = "nodeID", default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// HTTP-like code.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::packet::lenient::opt_i64"
    )]
    pub code: Option<i64>,
    /// Machine-readable type.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// Whether a retry may help.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
    /// Stack trace (JS sends it always).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    /// Extra data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

fn default_error_name() -> String {
    "Error".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_kinds_have_moleculer_codes_and_types() {
        let cases = [
            (
                Error::service_not_found("a.b", None),
                404,
                "SERVICE_NOT_FOUND",
                true,
            ),
            (
                Error::service_not_available("a.b", Some("n")),
                404,
                "SERVICE_NOT_AVAILABLE",
                true,
            ),
            (
                Error::request_timeout("a.b", "n"),
                504,
                "REQUEST_TIMEOUT",
                true,
            ),
            (
                Error::request_rejected("a.b", "n"),
                503,
                "REQUEST_REJECTED",
                true,
            ),
            (
                Error::validation("bad", vec![]),
                422,
                "VALIDATION_ERROR",
                false,
            ),
            (Error::max_call_level("n", 3), 500, "MAX_CALL_LEVEL", false),
            (
                Error::queue_is_full("a.b", "n", 1, 1),
                429,
                "QUEUE_FULL",
                true,
            ),
            (Error::broker_disconnected(), 502, "BAD_GATEWAY", true),
        ];
        for (err, code, ty, retryable) in cases {
            assert_eq!(err.code(), code, "{err}");
            assert_eq!(err.error_type(), Some(ty), "{err}");
            assert_eq!(err.is_retryable(), retryable, "{err}");
            assert_eq!(ErrorKind::from_class_name(err.name()), err.kind());
        }
    }

    #[test]
    fn wire_round_trip_keeps_every_field() {
        let err = Error::new("MyCustomError", "it broke")
            .with_code(418)
            .with_type("TEAPOT")
            .with_data(json!({"x": 1}))
            .with_retryable(true);
        let wire = err.to_wire("node-1");
        assert_eq!(wire.node_id.as_deref(), Some("node-1"));
        let json = serde_json::to_value(&wire).expect("serializable");
        assert_eq!(json["type"], "TEAPOT");
        assert_eq!(json["nodeID"], "node-1");
        let back: WireError = serde_json::from_value(json).expect("deserializable");
        let back = Error::from_wire(back, "other");
        assert_eq!(back.name(), "MyCustomError");
        assert_eq!(back.kind(), ErrorKind::Other);
        assert_eq!(back.code(), 418);
        assert_eq!(back.error_type(), Some("TEAPOT"));
        assert_eq!(back.data(), Some(&json!({"x": 1})));
        assert!(back.is_retryable());
        assert_eq!(back.node_id(), Some("node-1"));
    }

    #[test]
    fn plain_js_error_becomes_a_non_retryable_500_from_the_sender() {
        let wire: WireError =
            serde_json::from_str(r#"{"name":"Error","message":"boom","stack":"Error: boom"}"#)
                .expect("valid");
        let err = Error::from_wire(wire, "js-1");
        assert_eq!(err.kind(), ErrorKind::Other);
        assert_eq!(err.code(), 500);
        assert!(!err.is_retryable());
        assert_eq!(err.node_id(), Some("js-1"));
        assert_eq!(err.error_type(), None);
    }

    #[test]
    fn timeout_error_carries_the_data_js_needs() {
        let wire = Error::request_timeout("math.add", "rust-1").to_wire("rust-1");
        let data = wire.data.expect("data");
        assert_eq!(data["action"], "math.add");
        assert_eq!(data["nodeID"], "rust-1");
        assert_eq!(wire.retryable, Some(true));
    }
}
