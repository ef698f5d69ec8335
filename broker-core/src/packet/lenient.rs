//! Lenient number decoding: JS sends every number as an IEEE double, so a field we keep as an
//! integer may arrive as `5000`, `5000.0`, `null`, or be absent.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

fn to_i64(value: Option<Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_u64().map(|u| u.min(i64::MAX as u64) as i64))
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An optional integer that may arrive as a float, a numeric string or `null`.
pub(crate) fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(to_i64(Option::<Value>::deserialize(d)?))
}

/// An optional non-negative integer, same leniency; negative values become `None`.
pub(crate) fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(to_i64(Option::<Value>::deserialize(d)?).and_then(|v| u64::try_from(v).ok()))
}

/// An optional float (CPU figures).
pub(crate) fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_f64(),
        _ => None,
    })
}

/// A string that may arrive as `null` (then empty).
pub(crate) fn string_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// An object that may arrive as `null` (then empty).
pub(crate) fn map_or_null<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<serde_json::Map<String, Value>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    })
}

/// A payload field that, when present, is kept even as `null` (JS sends `data: null` on an
/// error response; `Option` alone would read it as absent, and re-encoding would drop it).
pub(crate) fn present_payload<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<crate::payload::Payload>, D::Error> {
    crate::payload::Payload::deserialize(d).map(Some)
}
