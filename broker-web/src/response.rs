//! Turning an action's result and the meta it set into an HTTP response, reading the keys
//! moleculer-web reads: `$statusCode`, `$statusMessage` (the HTTP/1 reason phrase), `$responseType`, `$responseHeaders`
//! and `$location`.

use axum::body::Body;
use axum::http::{header, HeaderName, HeaderValue, Response, StatusCode};
use broker_core::payload::Payload;
use broker_core::JsonMap;
use serde_json::Value;

const JSON: &str = "application/json; charset=utf-8";
const OCTETS: &str = "application/octet-stream";

/// `bytes` in the shape Node.js gives a `Buffer` in JSON (`{"type": "Buffer", "data": [..]}`):
/// an action returning this is answered with the raw bytes (`application/octet-stream` unless
/// `ctx.meta.$responseType` says otherwise), behind this gateway as behind moleculer-web.
pub fn buffer(bytes: &[u8]) -> Value {
    serde_json::json!({"type": "Buffer", "data": bytes})
}

/// The headers of `ctx.meta.$responseHeaders`, and the content type among them if any
/// (moleculer-web treats that one apart). Invalid ones are dropped with a warning.
pub(crate) fn meta_headers(meta: &JsonMap) -> (Vec<(HeaderName, HeaderValue)>, Option<String>) {
    let mut headers = Vec::new();
    let mut content_type = None;
    if let Some(Value::Object(extra)) = meta.get("$responseHeaders") {
        for (k, v) in extra {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if k.eq_ignore_ascii_case("content-type") {
                content_type.get_or_insert(text);
                continue;
            }
            match (
                HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(&text),
            ) {
                (Ok(name), Ok(value)) => headers.push((name, value)),
                _ => tracing::warn!(header = %k, "invalid response header from meta dropped"),
            }
        }
    }
    (headers, content_type)
}

/// The meta keys that shape a response.
const SHAPING_KEYS: [&str; 5] = [
    "$statusCode",
    "$statusMessage",
    "$responseType",
    "$responseHeaders",
    "$location",
];

/// [`success`] from the result's JSON text: sent as it is when nothing in the meta shapes
/// the response and it cannot be a Buffer (no tree built, no second serialization).
pub(crate) fn success_raw(data: Payload, meta: &JsonMap) -> Response<Body> {
    let text = data.get();
    let plain = !SHAPING_KEYS.iter().any(|k| meta.contains_key(*k))
        && text != "null"
        && !(text.starts_with('{') && text.contains("\"Buffer\""));
    if !plain {
        let value = serde_json::from_str(text).unwrap_or(Value::Null);
        return success(&value, meta);
    }
    let text: Box<str> = data.into();
    let mut res = Response::new(Body::from(String::from(text)));
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    res
}

/// Builds the response of a successful call: `null` is an empty body; a Buffer-shaped object
/// (`{"type": "Buffer", "data": [...]}`, how Node.js sends bytes) is the raw bytes; a string
/// with a `$responseType` is sent as is; anything else is JSON.
pub(crate) fn success(data: &Value, meta: &JsonMap) -> Response<Body> {
    let mut status = meta
        .get("$statusCode")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(StatusCode::OK);
    let mut response_type = meta
        .get("$responseType")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let (mut headers, declared_type) = meta_headers(meta);
    if response_type.is_none() {
        response_type = declared_type;
    }
    if status == StatusCode::CREATED
        || (status.is_redirection() && status != StatusCode::NOT_MODIFIED)
    {
        match meta
            .get("$location")
            .and_then(Value::as_str)
            .map(HeaderValue::from_str)
        {
            Some(Ok(location)) => headers.push((header::LOCATION, location)),
            _ => tracing::warn!(%status, "ctx.meta.$location is missing or invalid"),
        }
    }
    let (content_type, body): (Option<String>, Vec<u8>) = match data {
        Value::Null => (None, Vec::new()),
        Value::Object(map) if map.get("type").and_then(Value::as_str) == Some("Buffer") => {
            let bytes = map
                .get("data")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|b| b.as_u64())
                        .map(|b| b as u8)
                        .collect()
                })
                .unwrap_or_default();
            (Some(response_type.unwrap_or_else(|| OCTETS.into())), bytes)
        }
        Value::Object(_) | Value::Array(_) => (
            Some(response_type.unwrap_or_else(|| JSON.into())),
            serde_json::to_vec(data).unwrap_or_default(),
        ),
        Value::String(s) if response_type.is_some() => (response_type, s.clone().into_bytes()),
        other => match response_type {
            Some(t) => (Some(t), other.to_string().into_bytes()),
            None => (
                Some(JSON.into()),
                serde_json::to_vec(other).unwrap_or_default(),
            ),
        },
    };
    let no_body = status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
    let mut res = Response::new(if no_body {
        Body::empty()
    } else {
        Body::from(body)
    });
    if let (Some(t), false) = (content_type, no_body) {
        // The usual JSON type needs no parsing.
        let value = if t == JSON {
            Ok(HeaderValue::from_static(JSON))
        } else {
            HeaderValue::from_str(&t)
        };
        match value {
            Ok(v) => {
                res.headers_mut().insert(header::CONTENT_TYPE, v);
            }
            Err(_) => status = StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    *res.status_mut() = status;
    // `$statusMessage`: the HTTP/1 reason phrase (a header-safe one only).
    if let Some(msg) = meta.get("$statusMessage").and_then(Value::as_str) {
        match hyper::ext::ReasonPhrase::try_from(msg.as_bytes().to_vec()) {
            Ok(phrase) => {
                res.extensions_mut().insert(phrase);
            }
            Err(_) => tracing::warn!("invalid ctx.meta.$statusMessage dropped"),
        }
    }
    for (name, value) in headers {
        res.headers_mut().append(name, value);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta(v: Value) -> JsonMap {
        match v {
            Value::Object(m) => m,
            _ => JsonMap::new(),
        }
    }

    #[test]
    fn meta_sets_status_location_type_and_headers() {
        let res = success(
            &json!("<b>hi</b>"),
            &meta(
                json!({"$statusCode": 201, "$location": "/users/7", "$responseType": "text/html",
                         "$responseHeaders": {"X-Custom": "yes"}}),
            ),
        );
        assert_eq!(res.status(), StatusCode::CREATED);
        assert_eq!(res.headers()[header::LOCATION], "/users/7");
        assert_eq!(res.headers()[header::CONTENT_TYPE], "text/html");
        assert_eq!(res.headers()["x-custom"], "yes");
    }

    fn raw(text: &str) -> Payload {
        serde_json::value::RawValue::from_string(text.to_owned()).expect("JSON")
    }

    async fn body_of(res: Response<Body>) -> Vec<u8> {
        use http_body_util::BodyExt;
        let collected = res.into_body().collect().await.expect("body");
        collected.to_bytes().to_vec()
    }

    #[tokio::test]
    async fn raw_results_go_out_as_they_are_unless_shaped() {
        let res = success_raw(raw(r#"{"a":[1,2]}"#), &JsonMap::new());
        assert_eq!(res.headers()[header::CONTENT_TYPE], JSON);
        assert_eq!(body_of(res).await, br#"{"a":[1,2]}"#);
        // A Buffer is bytes, a string with a type is text, null is empty.
        let res = success_raw(
            raw(r#"{"type":"Buffer","data":[104,105]}"#),
            &JsonMap::new(),
        );
        assert_eq!(res.headers()[header::CONTENT_TYPE], OCTETS);
        assert_eq!(body_of(res).await, b"hi");
        let typed = meta(json!({"$responseType": "text/plain", "$statusCode": 202}));
        let res = success_raw(raw(r#""plain""#), &typed);
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        assert_eq!(body_of(res).await, b"plain");
        let res = success_raw(raw("null"), &JsonMap::new());
        assert!(res.headers().get(header::CONTENT_TYPE).is_none());
        assert!(body_of(res).await.is_empty());
    }

    #[test]
    fn plain_string_is_json_and_null_is_empty() {
        let res = success(&json!("hi"), &JsonMap::new());
        assert_eq!(res.headers()[header::CONTENT_TYPE], JSON);
        let res = success(&Value::Null, &JsonMap::new());
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.headers().get(header::CONTENT_TYPE).is_none());
    }
}
