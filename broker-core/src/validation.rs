//! Params validation, answering Moleculer's `ValidationError` with fastest-validator's `data`:
//! checking params against an action's `params` schema ([`ParamsChecker`], before the handler
//! runs, see [`crate::middleware::Validator`]), and deserializing `ctx.params` into a handler's
//! type (a mismatch the schema did not catch is described from serde's message).

mod check;
mod remote;

pub use check::ParamsChecker;
pub(crate) use remote::RemoteParams;

use crate::error::Error;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use serde_path_to_error::Segment;

/// The message of every params `ValidationError`, as Moleculer's.
pub(crate) const MESSAGE: &str = "Parameters validation error!";

/// The `ValidationError` for a checker's problems, each tagged with the caller's node and the
/// action as Moleculer's validator middleware tags them.
pub(crate) fn rejected(problems: Vec<Value>, action: &str, node_id: &str) -> Error {
    rejected_as(problems, "action", action, node_id)
}

/// [`rejected`] for an event's payload, tagged with the event instead of an action.
pub(crate) fn rejected_event(problems: Vec<Value>, event: &str, node_id: &str) -> Error {
    rejected_as(problems, "event", event, node_id)
}

fn rejected_as(problems: Vec<Value>, key: &str, name: &str, node_id: &str) -> Error {
    let items = problems
        .into_iter()
        .map(|mut item| {
            if let Value::Object(map) = &mut item {
                map.insert("nodeID".into(), json!(node_id));
                map.insert(key.into(), json!(name));
            }
            item
        })
        .collect();
    Error::validation(MESSAGE, items)
}

/// Deserializes params into `T`, or explains which field was wrong.
pub(crate) fn deserialize_params<T: DeserializeOwned>(
    params: &Value,
    action: Option<&str>,
    node_id: &str,
) -> Result<T, Error> {
    // Fast path: the common case needs no path tracking. Only a failure pays for the second,
    // path-tracking pass that names the field.
    if let Ok(value) = <T as serde::Deserialize>::deserialize(params) {
        return Ok(value);
    }
    match serde_path_to_error::deserialize::<_, T>(params) {
        Ok(value) => Ok(value),
        Err(err) => {
            let mut segments: Vec<String> = err
                .path()
                .iter()
                .filter_map(|s| match s {
                    Segment::Map { key } => Some(key.clone()),
                    Segment::Seq { index } => Some(index.to_string()),
                    Segment::Enum { variant } => Some(variant.clone()),
                    Segment::Unknown => None,
                })
                .collect();
            let inner = err.into_inner().to_string();
            let item = describe(&inner, &mut segments, params);
            let mut item = item;
            if let Value::Object(map) = &mut item {
                map.insert("nodeID".into(), json!(node_id));
                if let Some(action) = action {
                    map.insert("action".into(), json!(action));
                }
            }
            Err(Error::validation(MESSAGE, vec![item]))
        }
    }
}

/// Turns a serde message into one fastest-validator style item.
fn describe(message: &str, segments: &mut Vec<String>, params: &Value) -> Value {
    // serde_json appends " at line L column C" only for text input; for a `Value` it does not.
    if let Some(field) = between(message, "missing field `", "`") {
        segments.push(field.to_owned());
        let field = segments.join(".");
        return json!({
            "type": "required",
            "field": field,
            "message": format!("The '{field}' field is required."),
        });
    }
    let field = segments.join(".");
    let actual = lookup(params, segments).cloned().unwrap_or(Value::Null);
    if let Some(field_name) = between(message, "unknown field `", "`") {
        let full = if field.is_empty() {
            field_name.to_owned()
        } else {
            format!("{field}.{field_name}")
        };
        return json!({
            "type": "objectStrict",
            "field": full,
            "message": format!("The object '{full}' contains forbidden keys: '{field_name}'."),
            "actual": actual,
        });
    }
    if let Some(expected) = message.split(", expected ").nth(1) {
        let expected_type = expected_type(expected);
        let shown = if field.is_empty() { "params" } else { &field };
        return json!({
            "type": expected_type,
            "field": field,
            "message": format!("The '{shown}' field must be {}.", article(expected_type)),
            "actual": actual,
        });
    }
    json!({
        "type": "invalid",
        "field": field,
        "message": message,
        "actual": actual,
    })
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = &s[s.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}

fn lookup<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, seg| match v {
        Value::Object(map) => map.get(seg),
        Value::Array(items) => seg.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// Maps serde's "expected …" wording to a fastest-validator type name.
fn expected_type(expected: &str) -> &'static str {
    let e = expected.to_ascii_lowercase();
    if e.contains("string") || e.contains("char") {
        "string"
    } else if e.contains("bool") {
        "boolean"
    } else if e.contains("integer")
        || e.contains("float")
        || e.contains("number")
        || [
            "u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "f32", "f64", "usize",
        ]
        .iter()
        .any(|t| e.trim() == *t)
    {
        "number"
    } else if e.contains("sequence") || e.contains("array") || e.contains("tuple") {
        "array"
    } else if e.contains("map") || e.contains("struct") || e.contains("object") {
        "object"
    } else if e.contains("variant") || e.contains("enum") {
        "enum"
    } else {
        "invalid"
    }
}

fn article(t: &str) -> String {
    match t {
        "array" | "object" | "enum" | "invalid" => format!("an {t}"),
        _ => format!("a {t}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Hello {
        name: String,
        age: Option<u32>,
        address: Option<Address>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Address {
        city: String,
    }

    fn item(params: Value) -> Value {
        let err = deserialize_params::<Hello>(&params, Some("greeter.hello"), "n1")
            .expect_err("must fail");
        assert_eq!(err.name(), "ValidationError");
        assert_eq!(err.code(), 422);
        err.data().expect("data")[0].clone()
    }

    #[test]
    fn wrong_type_names_the_field() {
        let item = item(json!({"name": 5}));
        assert_eq!(item["type"], "string");
        assert_eq!(item["field"], "name");
        assert_eq!(item["actual"], 5);
        assert_eq!(item["message"], "The 'name' field must be a string.");
        assert_eq!(item["action"], "greeter.hello");
        assert_eq!(item["nodeID"], "n1");
    }

    #[test]
    fn missing_field_is_required() {
        let item = item(json!({}));
        assert_eq!(item["type"], "required");
        assert_eq!(item["field"], "name");
    }

    #[test]
    fn nested_fields_have_dotted_paths() {
        let item = item(json!({"name": "x", "address": {"city": true}}));
        assert_eq!(item["field"], "address.city");
        assert_eq!(item["actual"], true);
        let item = item_missing_city();
        assert_eq!(item["field"], "address.city");
        assert_eq!(item["type"], "required");
    }

    fn item_missing_city() -> Value {
        item(json!({"name": "x", "address": {}}))
    }

    #[test]
    fn numbers_are_numbers() {
        let item = item(json!({"name": "x", "age": "old"}));
        assert_eq!(item["type"], "number");
        assert_eq!(item["field"], "age");
    }

    #[test]
    fn display_names_the_field_and_the_problem_but_the_wire_message_stays_moleculers() {
        let err = deserialize_params::<Hello>(&json!({}), Some("greeter.hello"), "n1")
            .expect_err("must fail");
        assert_eq!(
            err.to_string(),
            "ValidationError: Parameters validation error! field \"name\": The 'name' field is required."
        );
        assert_eq!(err.message(), "Parameters validation error!");
        assert_eq!(err.to_wire("n1").message, "Parameters validation error!");
        let err =
            deserialize_params::<Hello>(&json!({"name": 5}), None, "n1").expect_err("must fail");
        assert!(
            err.to_string()
                .ends_with("field \"name\": The 'name' field must be a string."),
            "{err}"
        );
    }

    #[test]
    fn valid_params_pass() {
        let h: Hello = deserialize_params(&json!({"name": "Ann"}), None, "n").expect("valid");
        assert_eq!(h.name, "Ann");
    }
}
