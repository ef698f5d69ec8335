//! What can go wrong running a command: the line itself (a usage error) or the broker.

use std::fmt;

/// Why a command failed.
///
/// `Usage` errors are the user's input (unknown command, bad JSON, a missing argument); they
/// render as one line. `Broker` errors come from the call, emit or registry query and keep every
/// detail Moleculer gives (name, code, type, data, node).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CommandError {
    /// The line could not be understood; the message says why in one line.
    Usage(String),
    /// The broker answered with an error.
    Broker(broker_core::Error),
}

impl CommandError {
    /// A usage error with a message.
    pub fn usage(message: impl Into<String>) -> CommandError {
        CommandError::Usage(message.into())
    }

    /// The broker error, if this is one.
    pub fn broker_error(&self) -> Option<&broker_core::Error> {
        match self {
            CommandError::Broker(err) => Some(err),
            CommandError::Usage(_) => None,
        }
    }

    /// The error as JSON: Moleculer's error shape for broker errors, `{name: "UsageError",
    /// message}` for usage errors.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            CommandError::Usage(message) => {
                serde_json::json!({"name": "UsageError", "message": message})
            }
            CommandError::Broker(err) => serde_json::json!({
                "name": err.name(),
                "message": err.message(),
                "code": err.code(),
                "type": err.error_type(),
                "data": err.data(),
                "retryable": err.is_retryable(),
                "nodeID": err.node_id(),
            }),
        }
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Usage(message) => f.write_str(message),
            CommandError::Broker(err) => {
                write!(f, "{}: {} (code {}", err.name(), err.message(), err.code())?;
                if let Some(kind) = err.error_type() {
                    write!(f, ", type {kind}")?;
                }
                if let Some(node) = err.node_id() {
                    write!(f, ", node {node}")?;
                }
                f.write_str(")")
            }
        }
    }
}

impl std::error::Error for CommandError {}

impl From<broker_core::Error> for CommandError {
    fn from(err: broker_core::Error) -> Self {
        CommandError::Broker(err)
    }
}
