//! Payloads as raw JSON text.
//!
//! Params, results and event data travel as the JSON text they arrived in (or were serialized
//! to once): a packet is decoded without building a tree of its payload, a handler
//! deserializes its typed params straight from that text, and an echo sends the text back
//! untouched. A `serde_json::Value` is built only when someone asks for one. Within one
//! process, params can skip JSON altogether (see [`crate::typed`]).

use crate::error::Error;
use crate::typed::TypedValue;
use crate::validation;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;
use std::any::Any;
use std::fmt;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

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
/// use; or, for a call within this process, the caller's value itself, serialized only if
/// something asks for the JSON (see [`crate::typed`]).
pub struct Params {
    raw: OnceLock<Payload>,
    value: OnceLock<Value>,
    /// The caller's value, until a handler takes it.
    typed: Mutex<Option<TypedValue>>,
}

impl Clone for Params {
    fn clone(&self) -> Params {
        let copy = Params::from_payload(self.to_payload());
        if let Some(value) = self.value.get() {
            let _ = copy.value.set(value.clone());
        }
        copy
    }
}

impl fmt::Debug for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.raw().get())
    }
}

impl Params {
    /// Params from their JSON text.
    pub fn from_payload(raw: Payload) -> Params {
        Params {
            raw: OnceLock::from(raw),
            value: OnceLock::new(),
            typed: Mutex::new(None),
        }
    }

    /// Params from a value (serialized once, keeping the value).
    pub fn from_value(value: Value) -> Params {
        let params = Params::from_payload(to_payload(&value).unwrap_or_else(|_| null_payload()));
        let _ = params.value.set(value);
        params
    }

    /// Params that are the caller's value itself (text is moved, not copied).
    pub(crate) fn owned<T: Serialize + Send + 'static>(value: T) -> Params {
        let mut slot = Some(value);
        if let Some(same) = (&mut slot as &mut dyn Any).downcast_mut::<Option<Payload>>() {
            if let Some(payload) = same.take() {
                return Params::from_payload(payload);
            }
        }
        let typed = slot.map(TypedValue::new);
        Params {
            raw: OnceLock::new(),
            value: OnceLock::new(),
            typed: Mutex::new(typed),
        }
    }

    /// The JSON text (of a moved value: serialized now, once).
    pub fn raw(&self) -> &RawValue {
        self.raw.get_or_init(|| {
            let typed = lock(&self.typed);
            match typed.as_ref().map(TypedValue::to_payload) {
                Some(Ok(payload)) => payload,
                Some(Err(err)) => {
                    tracing::warn!(%err, "params do not serialize; they read as null");
                    null_payload()
                }
                // Taken by a handler that nothing else could see them through.
                None => null_payload(),
            }
        })
    }

    /// As a `Value` (parsed on first use; `null` if the text is not JSON, which a decoded
    /// packet never holds).
    pub fn value(&self) -> &Value {
        self.value
            .get_or_init(|| serde_json::from_str(self.raw().get()).unwrap_or(Value::Null))
    }

    /// Deserialized into `T`, straight from the text; a mismatch is a `ValidationError`.
    pub(crate) fn deserialize<T: DeserializeOwned>(
        &self,
        action: Option<&str>,
        node_id: &str,
    ) -> Result<T, Error> {
        let err = match serde_json::from_str::<T>(self.raw().get()) {
            Ok(value) => return Ok(value),
            Err(err) => err,
        };
        // serde_json stops at 128 levels (deeper would risk the stack); such params have no
        // tree to explain them from, and must not read as `null`.
        if err.to_string().starts_with("recursion limit exceeded") {
            let mut item = serde_json::json!({
                "type": "object",
                "field": "",
                "message": "The params are nested more than 128 levels deep.",
                "nodeID": node_id,
            });
            if let (Some(action), Some(map)) = (action, item.as_object_mut()) {
                map.insert("action".into(), action.into());
            }
            return Err(Error::validation(validation::MESSAGE, vec![item]));
        }
        validation::deserialize_params(self.value(), action, node_id)
    }

    /// The caller's value, moved out, when it is a `T`. With `keep_text`, its JSON is made
    /// first, for whoever else may still read the params.
    pub(crate) fn take<T: 'static>(&self, keep_text: bool) -> Option<T> {
        if !lock(&self.typed).as_ref().is_some_and(TypedValue::is::<T>) {
            return None;
        }
        if keep_text {
            // Outside the lock: `raw` takes it to serialize.
            self.raw();
        }
        let typed = lock(&self.typed).take()?;
        typed.downcast().ok()
    }

    /// The payload itself (a moved value serialized, or its error).
    pub(crate) fn into_payload(self) -> Result<Payload, Error> {
        if let Some(raw) = self.raw.into_inner() {
            return Ok(raw);
        }
        match self
            .typed
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
        {
            Some(typed) => typed.to_payload(),
            None => Ok(null_payload()),
        }
    }

    /// The payload, for forwarding.
    pub fn to_payload(&self) -> Payload {
        self.raw().to_owned()
    }
}

fn lock(m: &Mutex<Option<TypedValue>>) -> MutexGuard<'_, Option<TypedValue>> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
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
