//! Node.js Buffers inside JSON payloads.
//!
//! Payloads reach handlers as JSON, where a Buffer is what `JSON.stringify` makes of it:
//! `{"type": "Buffer", "data": [bytes…]}`. Binary formats carry a Buffer as bytes, so their
//! decoders turn bytes into that object and their encoders turn that object (exactly those
//! two keys, `data` all bytes) back into bytes.

use serde_json::{Map, Value};

/// The bytes of a `{"type": "Buffer", "data": [..]}` object, if `map` is one.
pub(crate) fn as_buffer(map: &Map<String, Value>) -> Option<Vec<u8>> {
    if map.len() != 2 || map.get("type").and_then(Value::as_str) != Some("Buffer") {
        return None;
    }
    let data = map.get("data")?.as_array()?;
    data.iter()
        .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
        .collect()
}

/// Bytes as the object Moleculer's JSON gives a Buffer.
pub(crate) fn buffer_value(bytes: &[u8]) -> Value {
    let mut map = Map::with_capacity(2);
    map.insert("type".to_owned(), Value::from("Buffer"));
    map.insert(
        "data".to_owned(),
        Value::Array(bytes.iter().map(|&b| Value::from(b)).collect()),
    );
    Value::Object(map)
}

/// The largest integer a JS number holds exactly (`Number.MAX_SAFE_INTEGER`).
pub(crate) const MAX_SAFE: f64 = 9_007_199_254_740_991.0;

/// A JSON number as JS sees it: an integer when it has no fraction and is safe, else a double.
pub(crate) enum JsNumber {
    /// An integral value within ±`MAX_SAFE`.
    Int(i64),
    /// Anything else (fractions, and integers beyond ±`MAX_SAFE`).
    Float(f64),
}

pub(crate) fn js_number(n: &serde_json::Number) -> JsNumber {
    if let Some(i) = n.as_i64() {
        if (i.unsigned_abs() as f64) <= MAX_SAFE {
            return JsNumber::Int(i);
        }
        return JsNumber::Float(i as f64);
    }
    if let Some(u) = n.as_u64() {
        return JsNumber::Float(u as f64);
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f.fract() == 0.0 && f.abs() <= MAX_SAFE {
        JsNumber::Int(f as i64)
    } else {
        JsNumber::Float(f)
    }
}

/// A decoded double as JSON: integral safe values as integers (JS cannot tell them apart,
/// and our JSON should read `5`, not `5.0`); non-finite ones as `null`, as `JSON.stringify`.
pub(crate) fn float_value(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() <= MAX_SAFE {
        Value::from(f as i64)
    } else {
        serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn buffers_are_recognised_only_in_their_exact_shape() {
        let v = buffer_value(&[1, 255]);
        assert_eq!(v, json!({"type": "Buffer", "data": [1, 255]}));
        assert_eq!(
            as_buffer(v.as_object().expect("object")),
            Some(vec![1, 255])
        );
        for other in [
            json!({"type": "Buffer", "data": [256]}),
            json!({"type": "Buffer", "data": [1], "x": 1}),
            json!({"type": "Buf", "data": []}),
        ] {
            assert_eq!(
                as_buffer(other.as_object().expect("object")),
                None,
                "{other}"
            );
        }
        assert_eq!(float_value(5.0), json!(5));
        assert_eq!(float_value(f64::NAN), Value::Null);
    }
}
