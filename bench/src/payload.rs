//! The bench payloads, byte for byte those of the Moleculer.js harness.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Number, Value};

/// The bench payload: `{"id":1,"msg":"hello"}` for 0, otherwise `{"items":[...]}` of small
/// records, grown until its JSON is at least `target` bytes (as `makePayload` in the JS harness).
pub(crate) fn make_payload(target: usize) -> Value {
    if target == 0 {
        return json!({"id": 1, "msg": "hello"});
    }
    let mut items: Vec<Value> = Vec::new();
    // Length of `{"items":[` + `]}` plus the records and their separating commas.
    let mut len = r#"{"items":[]}"#.len();
    let mut i: u64 = 0;
    while len < target {
        // JSON.stringify(i * 1.5) prints integers without a fraction.
        let value = if i % 2 == 0 {
            json!(i * 3 / 2)
        } else {
            json!(i as f64 * 1.5)
        };
        let item = json!({"id": i, "name": format!("item-{i}"), "tags": ["alpha", "beta"], "value": value, "ok": i % 2 == 0});
        len += item.to_string().len() + usize::from(!items.is_empty());
        items.push(item);
        i += 1;
    }
    let mut map = Map::new();
    map.insert("items".to_owned(), Value::Array(items));
    Value::Object(map)
}

/// The bench payload as a Rust client holds its data: typed records, not a `Value` tree. It
/// serializes to exactly the bytes of [`make_payload`] (a test checks), so both clients send
/// the same packets; this side just skips walking a map per record, as typed Rust code does.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum TypedPayload {
    /// `{"id":1,"msg":"hello"}`.
    Small {
        /// Always 1.
        id: u64,
        /// Always "hello".
        msg: String,
    },
    /// `{"items":[...]}`.
    Items {
        /// The records.
        items: Vec<Item>,
    },
}

/// One record of the larger payloads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Item {
    id: u64,
    name: String,
    tags: Vec<String>,
    value: Number,
    ok: bool,
}

/// The params of `bench.echo` as a user's typed handler takes them: one struct that reads and
/// writes every bench payload (`{"id":1,"msg":"hello"}` or `{"items":[...]}`) byte for byte.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct EchoParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    msg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    items: Option<Vec<Item>>,
}

/// [`make_payload`] as [`TypedPayload`].
pub(crate) fn make_typed_payload(target: usize) -> TypedPayload {
    // The records are built once, at start-up; converting the tree keeps one definition of them.
    serde_json::from_value(make_payload(target)).expect("the bench payload fits TypedPayload")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_payloads_serialize_to_the_same_bytes() {
        for size in [0, 1024, 64 * 1024] {
            let typed = serde_json::to_string(&make_typed_payload(size)).expect("serializes");
            assert_eq!(typed, make_payload(size).to_string(), "size {size}");
            let echo: EchoParams = serde_json::from_str(&typed).expect("EchoParams reads it");
            let echoed = serde_json::to_string(&echo).expect("serializes");
            assert_eq!(echoed, typed, "size {size}");
        }
    }
}
