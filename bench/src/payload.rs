//! The bench payloads, byte for byte those of the Moleculer.js harness.

use serde_json::{json, Map, Value};

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
