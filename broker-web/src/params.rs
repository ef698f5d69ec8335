//! Request params as moleculer-web builds them: the parsed body, then the query string over it,
//! then the path params over both. Query strings and urlencoded bodies follow `qs`: `a[b]=1`
//! nests, `a[]=1&a[]=2` and repeated keys make arrays.

use serde_json::{Map, Value};

/// Nesting deeper than this stays a literal key (as `qs`'s default depth).
const MAX_DEPTH: usize = 5;

/// Parses a query string (or urlencoded body) into a JSON object.
pub fn parse_query(query: &str) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        if key.is_empty() {
            continue;
        }
        let path = key_path(&key);
        insert(&mut out, &path, Value::String(value.into_owned()));
    }
    out
}

/// `a[b][]` → `["a", "b", ""]`; past [`MAX_DEPTH`] the remainder is one literal key.
fn key_path(key: &str) -> Vec<String> {
    let Some(open) = key.find('[').filter(|&i| i > 0) else {
        return vec![key.to_owned()];
    };
    let mut path = vec![key[..open].to_owned()];
    let mut rest = &key[open..];
    while let Some(inner) = rest.strip_prefix('[') {
        let Some(close) = inner.find(']') else { break };
        if path.len() > MAX_DEPTH {
            break;
        }
        path.push(inner[..close].to_owned());
        rest = &inner[close + 1..];
    }
    if !rest.is_empty() {
        path.push(rest.to_owned());
    }
    path
}

fn insert(map: &mut Map<String, Value>, path: &[String], value: Value) {
    let Some((head, tail)) = path.split_first() else {
        return;
    };
    if tail.is_empty() {
        match map.get_mut(head) {
            // Repeated keys collect into an array.
            Some(Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
            None => {
                map.insert(head.clone(), value);
            }
        }
        return;
    }
    let slot = map.entry(head.clone()).or_insert(Value::Null);
    insert_nested(slot, tail, value);
}

fn insert_nested(slot: &mut Value, path: &[String], value: Value) {
    let (head, tail) = match path.split_first() {
        Some(x) => x,
        None => return,
    };
    let is_index = head.is_empty() || (head.len() <= 2 && head.bytes().all(|b| b.is_ascii_digit()));
    if is_index && matches!(slot, Value::Null | Value::Array(_)) {
        if slot.is_null() {
            *slot = Value::Array(Vec::new());
        }
        if let Value::Array(items) = slot {
            if tail.is_empty() {
                items.push(value);
            } else {
                // `a[0][b]=1&a[0][c]=2` builds one element per index.
                let idx: usize = head.parse().unwrap_or(items.len());
                while items.len() <= idx {
                    items.push(Value::Null);
                }
                insert_nested(&mut items[idx], tail, value);
            }
        }
        return;
    }
    if !slot.is_object() {
        // A scalar or array met by a named key becomes an object, its old values by index.
        let old = slot.take();
        let mut map = Map::new();
        match old {
            Value::Array(items) => {
                for (i, v) in items.into_iter().enumerate() {
                    map.insert(i.to_string(), v);
                }
            }
            Value::Null => {}
            other => {
                map.insert("0".into(), other);
            }
        }
        *slot = Value::Object(map);
    }
    if let Value::Object(map) = slot {
        insert(map, path, value);
    }
}

/// The merged params: `body` (when an object), then `query` over it, then `path` over both.
pub(crate) fn merge(
    body: Option<Value>,
    query: Map<String, Value>,
    path: Map<String, Value>,
) -> Value {
    let mut params = match body {
        Some(Value::Object(map)) => map,
        // Only path params (the usual GET): hand them over as they are.
        _ if query.is_empty() => return Value::Object(path),
        _ => Map::new(),
    };
    params.extend(query);
    params.extend(path);
    Value::Object(params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn qs_nesting_and_arrays() {
        let q = parse_query("a[b]=1&a[c][d]=2&list[]=x&list[]=y&r=1&r=2&plain=hi%20there");
        assert_eq!(
            Value::Object(q),
            json!({"a": {"b": "1", "c": {"d": "2"}}, "list": ["x", "y"], "r": ["1", "2"], "plain": "hi there"})
        );
        let q = parse_query("o[0][n]=a&o[1][n]=b");
        assert_eq!(Value::Object(q), json!({"o": [{"n": "a"}, {"n": "b"}]}));
    }

    #[test]
    fn path_params_alone_are_the_params() {
        let path = Map::from_iter([("name".to_owned(), json!("bob"))]);
        assert_eq!(merge(None, Map::new(), path), json!({"name": "bob"}));
        let merged = merge(Some(json!("not an object")), parse_query("q=1"), Map::new());
        assert_eq!(merged, json!({"q": "1"}));
    }

    #[test]
    fn query_wins_over_body_and_path_over_both() {
        let merged = merge(
            Some(json!({"a": "body", "b": "body", "c": "body"})),
            parse_query("b=query&c=query"),
            Map::from_iter([("c".to_owned(), json!("path"))]),
        );
        assert_eq!(merged, json!({"a": "body", "b": "query", "c": "path"}));
    }
}
