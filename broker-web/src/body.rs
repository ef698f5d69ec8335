//! Request bodies: read whole under a size limit and a time limit, then parsed by content
//! type (JSON, urlencoded) as moleculer-web's body parsers do.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{header, HeaderMap};
use broker_core::Error;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::Value;

use crate::{errors, params};

/// Reads the whole body, refusing one over `limit` (413) or slower than `timeout` (408).
pub(crate) async fn read<B>(
    headers: &HeaderMap,
    body: B,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, Error>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(errors::payload_too_large(limit));
    }
    // A request without a body (most GETs): no timer, no collecting.
    if hyper::body::Body::is_end_stream(&body) {
        return Ok(Bytes::new());
    }
    match tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await {
        Err(_) => Err(errors::body_timeout()),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(err)) if err.downcast_ref::<LengthLimitError>().is_some() => {
            Err(errors::payload_too_large(limit))
        }
        Ok(Err(err)) => Err(errors::invalid_body(err)),
    }
}

/// JSON and urlencoded bodies are parsed; others (and empty ones) give no params.
pub(crate) fn parse(content_type: &str, bytes: &[u8]) -> Result<Option<Value>, Error> {
    if bytes.is_empty() {
        return Ok(None);
    }
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime == "application/json" || mime.ends_with("+json") {
        return serde_json::from_slice(bytes)
            .map(Some)
            .map_err(errors::invalid_body);
    }
    if mime == "application/x-www-form-urlencoded" {
        let text = std::str::from_utf8(bytes).map_err(errors::invalid_body)?;
        return Ok(Some(Value::Object(params::parse_query(text))));
    }
    Ok(None)
}
