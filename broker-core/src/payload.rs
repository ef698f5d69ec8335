//! Payloads as raw JSON text.
//!
//! Params, results and event data travel as the JSON text they arrived in (or were serialized
//! to once): a packet is decoded without building a tree of its payload, a handler
//! deserializes its typed params straight from that text, and an echo sends the text back
//! untouched. A `serde_json::Value` is built only when someone asks for one.

use crate::error::Error;
use crate::validation;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;
use std::any::Any;
use std::fmt;
use std::sync::OnceLock;

/// A JSON payload as text.
pub type Payload = Box<RawValue>;

/// `null` as a payload.
pub fn null_payload() -> Payload {
    RawValue::NULL.to_owned()
}

/// Serializes a value into a payload (one pass, no intermediate tree).
pub fn to_payload<T: Serialize + ?Sized>(value: &T) -> Result<Payload, Error> {
    serde_json::value::to_raw_value(value).map_err(Error::from)
}

/// A value as a payload: serialized, unless it already is one (then it is moved, not copied).
pub fn into_payload<T: Serialize + 'static>(value: T) -> Result<Payload, Error> {
    let mut slot = Some(value);
    if let Some(same) = (&mut slot as &mut dyn Any).downcast_mut::<Option<Payload>>() {
        if let Some(payload) = same.take() {
            return Ok(payload);
        }
    }
    match &slot {
        Some(value) => to_payload(value),
        None => Ok(null_payload()),
    }
}

/// Deserializes a payload into the caller's type. A caller asking for the text itself
/// ([`Payload`]) gets it as it is, without a second pass over it.
pub(crate) fn from_payload<R: DeserializeOwned + 'static>(payload: Payload) -> Result<R, Error> {
    let mut slot = Some(payload);
    if let Some(same) = (&mut slot as &mut dyn Any).downcast_mut::<Option<R>>() {
        if let Some(text) = same.take() {
            return Ok(text);
        }
    }
    let text = slot.as_deref().map_or("null", RawValue::get);
    serde_json::from_str(text).map_err(|e| {
        Error::client(
            format!("the result does not fit the expected type: {e}"),
            500,
            "RESULT_TYPE_MISMATCH",
        )
    })
}

/// The params of a context (or the data of an event): raw JSON, with a `Value` made on first
/// use.
#[derive(Clone)]
pub struct Params {
    raw: Payload,
    value: OnceLock<Value>,
}

impl fmt::Debug for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.raw.get())
    }
}

impl Params {
    /// Params from their JSON text.
    pub fn from_payload(raw: Payload) -> Params {
        Params {
            raw,
            value: OnceLock::new(),
        }
    }

    /// Params from a value (serialized once, keeping the value).
    pub fn from_value(value: Value) -> Params {
        let raw = to_payload(&value).unwrap_or_else(|_| null_payload());
        let cell = OnceLock::new();
        let _ = cell.set(value);
        Params { raw, value: cell }
    }

    /// The JSON text.
    pub fn raw(&self) -> &RawValue {
        &self.raw
    }

    /// As a `Value` (parsed on first use; `null` if the text is not JSON, which a decoded
    /// packet never holds).
    pub fn value(&self) -> &Value {
        self.value
            .get_or_init(|| serde_json::from_str(self.raw.get()).unwrap_or(Value::Null))
    }

    /// Deserialized into `T`, straight from the text; a mismatch is a `ValidationError`.
    pub(crate) fn deserialize<T: DeserializeOwned>(
        &self,
        action: Option<&str>,
        node_id: &str,
    ) -> Result<T, Error> {
        if let Ok(value) = serde_json::from_str::<T>(self.raw.get()) {
            return Ok(value);
        }
        validation::deserialize_params(self.value(), action, node_id)
    }

    /// The payload itself.
    pub(crate) fn into_payload(self) -> Payload {
        self.raw
    }

    /// The payload, for forwarding.
    pub fn to_payload(&self) -> Payload {
        self.raw.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_payload_passes_through_untouched_and_other_types_are_converted() {
        // Spacing that a re-serialization would drop shows the text was not rebuilt.
        let text = r#"{ "a" : [1, 2] }"#;
        let raw = || RawValue::from_string(text.to_owned()).expect("valid JSON");
        assert_eq!(into_payload(raw()).expect("payload").get(), text);
        assert_eq!(from_payload::<Payload>(raw()).expect("payload").get(), text);

        assert_eq!(
            into_payload(json!({"a": [1, 2]})).expect("value").get(),
            r#"{"a":[1,2]}"#
        );
        let value: Value = from_payload(raw()).expect("value");
        assert_eq!(value, json!({"a": [1, 2]}));
        let err = from_payload::<Vec<u8>>(raw()).expect_err("an object is not a list");
        assert!(err.message().contains("does not fit"), "{err}");
    }
}
