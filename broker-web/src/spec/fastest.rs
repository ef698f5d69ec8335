//! Moleculer's `params` (a fastest-validator schema, as Moleculer.js actions publish them) as
//! JSON Schema, as far as the rules map; a rule that does not map is `{}` and says so.

use serde_json::{json, Map, Value};

/// The JSON Schema of a fastest-validator params object (`{name: "string", age:
/// {type: "number", optional: true}}`).
pub(crate) fn params_to_json_schema(params: &Value) -> Value {
    match params.as_object() {
        Some(props) => object_schema(props),
        None => unknown("params that are not an object"),
    }
}

fn object_schema(props: &Map<String, Value>) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for (name, rule) in props {
        // `$$strict`, `$$async`, `$$root`: validator options, not properties.
        if name.starts_with("$$") {
            continue;
        }
        let (schema, optional) = rule_schema(rule);
        if !optional {
            required.push(json!(name));
        }
        properties.insert(name.clone(), schema);
    }
    let mut out = json!({"type": "object", "properties": properties});
    if !required.is_empty() {
        out["required"] = Value::Array(required);
    }
    out
}

fn unknown(what: &str) -> Value {
    json!({"description": format!("Unknown: {what} has no JSON Schema equivalent here.")})
}

/// A rule's schema and whether it is optional.
fn rule_schema(rule: &Value) -> (Value, bool) {
    match rule {
        Value::String(short) => shorthand(short),
        Value::Array(alternatives) => {
            let items: Vec<(Value, bool)> = alternatives.iter().map(rule_schema).collect();
            let optional = items.iter().any(|(_, o)| *o);
            let any_of: Vec<Value> = items.into_iter().map(|(s, _)| s).collect();
            (json!({"anyOf": any_of}), optional)
        }
        Value::Object(map) => {
            let optional = map.get("optional").and_then(Value::as_bool) == Some(true)
                || map.contains_key("default");
            (typed(map), optional)
        }
        _ => (unknown("this rule"), false),
    }
}

/// `"string|min:3|optional"`.
fn shorthand(short: &str) -> (Value, bool) {
    let mut parts = short.split('|');
    let kind = parts.next().unwrap_or_default().trim();
    let mut map = Map::new();
    map.insert("type".into(), json!(kind));
    for part in parts {
        let (key, value) = match part.split_once(':') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => (part.trim(), "true"),
        };
        let value = serde_json::from_str(value).unwrap_or_else(|_| json!(value));
        map.insert(key.to_owned(), value);
    }
    let optional = map.get("optional") == Some(&json!(true));
    (typed(&map), optional)
}

fn typed(rule: &Map<String, Value>) -> Value {
    let kind = rule.get("type").and_then(Value::as_str).unwrap_or("any");
    let num = |key: &str| rule.get(key).and_then(Value::as_f64);
    let mut out = match kind {
        "string" => {
            let mut s = json!({"type": "string"});
            if let Some(n) = num("min") {
                s["minLength"] = json!(n as u64);
            }
            if let Some(n) = num("max") {
                s["maxLength"] = json!(n as u64);
            }
            if let Some(n) = num("length") {
                s["minLength"] = json!(n as u64);
                s["maxLength"] = json!(n as u64);
            }
            if let Some(p) = rule.get("pattern").and_then(Value::as_str) {
                s["pattern"] = json!(p);
            }
            if let Some(values) = rule.get("enum") {
                s["enum"] = values.clone();
            }
            s
        }
        "number" => {
            let integer = rule.get("integer").and_then(Value::as_bool) == Some(true);
            let mut s = json!({"type": if integer { "integer" } else { "number" }});
            if let Some(n) = num("min") {
                s["minimum"] = json!(n);
            }
            if let Some(n) = num("max") {
                s["maximum"] = json!(n);
            }
            if rule.get("positive").and_then(Value::as_bool) == Some(true) {
                s["exclusiveMinimum"] = json!(0);
            }
            s
        }
        "boolean" => json!({"type": "boolean"}),
        "email" => json!({"type": "string", "format": "email"}),
        "url" => json!({"type": "string", "format": "uri"}),
        "uuid" => json!({"type": "string", "format": "uuid"}),
        "date" => json!({"type": "string", "format": "date-time"}),
        "any" => json!({}),
        "enum" => json!({"enum": rule.get("values").cloned().unwrap_or(json!([]))}),
        "equal" => json!({"const": rule.get("value").cloned().unwrap_or(Value::Null)}),
        "object" => match rule.get("props").or_else(|| rule.get("properties")) {
            Some(Value::Object(props)) => object_schema(props),
            _ => json!({"type": "object"}),
        },
        "array" => {
            let mut s = json!({"type": "array"});
            if let Some(items) = rule.get("items") {
                s["items"] = rule_schema(items).0;
            }
            if let Some(n) = num("min") {
                s["minItems"] = json!(n as u64);
            }
            if let Some(n) = num("max") {
                s["maxItems"] = json!(n as u64);
            }
            s
        }
        "multi" => match rule.get("rules") {
            Some(Value::Array(rules)) => {
                json!({"anyOf": rules.iter().map(|r| rule_schema(r).0).collect::<Vec<_>>()})
            }
            _ => unknown("a `multi` rule without rules"),
        },
        other => unknown(&format!("the fastest-validator type `{other}`")),
    };
    if let Some(default) = rule.get("default") {
        if let Some(map) = out.as_object_mut() {
            map.insert("default".into(), default.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorthand_and_objects_map() {
        let s = params_to_json_schema(&json!({
            "name": "string|min:2",
            "email": "email|optional",
            "age": {"type": "number", "integer": true, "optional": true},
            "tags": {"type": "array", "items": "string"},
            "flag": "boolean",
            "anything": "any",
            "addr": {"type": "object", "props": {"city": "string"}},
            "cb": "function",
            "$$strict": true
        }));
        assert_eq!(
            s["properties"]["name"],
            json!({"type": "string", "minLength": 2})
        );
        assert_eq!(s["properties"]["email"]["format"], "email");
        assert_eq!(s["properties"]["age"]["type"], "integer");
        assert_eq!(s["properties"]["tags"]["items"]["type"], "string");
        assert_eq!(s["properties"]["anything"], json!({}));
        assert_eq!(s["properties"]["addr"]["required"], json!(["city"]));
        assert!(s["properties"]["cb"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("Unknown")));
        assert!(s["properties"].get("$$strict").is_none());
        assert_eq!(
            s["required"],
            json!(["name", "tags", "flag", "anything", "addr", "cb"])
        );
    }
}
