//! Cache keys built exactly as Moleculer.js builds them (`Cacher.defaultKeygen`), so that Rust
//! and JavaScript nodes sharing one Redis cacher hit each other's entries.
//!
//! A key is `<action>:<params key>`. The params key walks the params (or the values of the
//! action's `keys`) the way JavaScript would: object keys in `Object.keys` order (array-index
//! keys first, ascending, then the others as they came), numbers printed as JavaScript prints
//! them, and past `maxParamsLength` a SHA-256 in base64 replaces the tail. Moleculer 0.15 and
//! 0.14 differ in small ways (quoted strings, `undefined`), hence [`KeyRules`].

use crate::packet::JsonMap;
use base64::Engine;
use serde_json::Value;
use sha2::Digest;

/// Which Moleculer release's key rules to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyRules {
    /// Moleculer 0.15 (protocol 5): strings quoted, `undefined` apart from `null`, `@` header
    /// keys. The default.
    #[default]
    V15,
    /// Moleculer 0.14 (protocol 4): strings bare, `undefined` printed as `null` inside params,
    /// no header keys.
    V14,
}

impl KeyRules {
    /// The rules a broker speaking `protocol` uses.
    pub fn for_protocol(protocol: crate::ProtocolVersion) -> KeyRules {
        match protocol {
            crate::ProtocolVersion::V4 => KeyRules::V14,
            crate::ProtocolVersion::V5 => KeyRules::V15,
        }
    }
}

/// What a key is built from: the call's params, meta and headers.
#[derive(Debug, Clone, Copy)]
pub struct KeySource<'a> {
    /// The params.
    pub params: &'a Value,
    /// The meta (read by `#` keys).
    pub meta: &'a JsonMap,
    /// The headers (read by `@` keys, 0.15 only).
    pub headers: &'a JsonMap,
}

/// Builds cache keys with one set of rules and one `maxParamsLength`.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyGen {
    /// The rules.
    pub rules: KeyRules,
    /// Params keys longer than this are cut and hashed (`None`, or under 44: never).
    pub max_params_length: Option<usize>,
}

impl KeyGen {
    /// The key of a call to `action`: from all the params, or from the values `keys` name
    /// (`"id"`, `"user.name"`, `"#tenant"` in meta, `"@x-org"` in headers).
    ///
    /// ```
    /// use broker_core::cache::{KeyGen, KeyRules, KeySource};
    /// use broker_core::JsonMap;
    /// use serde_json::json;
    ///
    /// let meta: JsonMap = serde_json::from_value(json!({"user": {"id": 7}})).unwrap_or_default();
    /// let params = json!({"id": 5, "name": "Bob", "tags": ["a", "b"]});
    /// let src = KeySource { params: &params, meta: &meta, headers: &JsonMap::new() };
    /// let v15 = KeyGen::default();
    /// assert_eq!(v15.key("posts.get", None, src), r#"posts.get:id|5|name|"Bob"|tags|["a"|"b"]"#);
    /// let keys = ["id".to_owned(), "#user.id".to_owned()];
    /// assert_eq!(v15.key("posts.get", Some(&keys), src), "posts.get:5|7");
    /// let v14 = KeyGen { rules: KeyRules::V14, max_params_length: None };
    /// assert_eq!(v14.key("posts.get", None, src), "posts.get:id|5|name|Bob|tags|[a|b]");
    /// ```
    pub fn key(&self, action: &str, keys: Option<&[String]>, src: KeySource<'_>) -> String {
        let mut out = String::with_capacity(action.len() + 32);
        out.push_str(action);
        out.push(':');
        match keys {
            None => {
                let mut text = String::new();
                self.write_value(&mut text, Some(src.params));
                out.push_str(&self.hashed(text));
            }
            // Moleculer falls through to the bare action name for an empty key list.
            Some([]) => return action.to_owned(),
            Some([one]) => {
                let val = self.lookup(one, src);
                let text = match self.rules {
                    KeyRules::V15 => self.generate(val),
                    KeyRules::V14 if is_object(val) => self.hashed(self.generate(val)),
                    KeyRules::V14 => js_string(val),
                };
                out.push_str(&self.hashed(text));
            }
            Some(many) => {
                let mut text = String::new();
                for (i, key) in many.iter().enumerate() {
                    if i > 0 {
                        text.push('|');
                    }
                    let val = self.lookup(key, src);
                    if is_object(val) {
                        text.push_str(&self.hashed(self.generate(val)));
                    } else if self.rules == KeyRules::V15 {
                        self.write_value(&mut text, val);
                    } else {
                        text.push_str(&js_string(val));
                    }
                }
                out.push_str(&self.hashed(text));
            }
        }
        out
    }

    /// Moleculer's `_getParamMetaValue`: `#` reads meta, `@` headers (0.15), else params.
    fn lookup<'v>(&self, key: &str, src: KeySource<'v>) -> Option<&'v Value> {
        if let Some(path) = key.strip_prefix('#') {
            return get_path_in_map(src.meta, path);
        }
        if self.rules == KeyRules::V15 {
            if let Some(path) = key.strip_prefix('@') {
                return get_path_in_map(src.headers, path);
            }
        }
        get_path(src.params, key)
    }

    fn generate(&self, val: Option<&Value>) -> String {
        let mut out = String::new();
        self.write_value(&mut out, val);
        out
    }

    /// Moleculer's `_generateKeyFromObject`.
    fn write_value(&self, out: &mut String, val: Option<&Value>) {
        match val {
            None => out.push_str(match self.rules {
                KeyRules::V15 => "undefined",
                KeyRules::V14 => "null",
            }),
            Some(Value::Null) => out.push_str("null"),
            Some(Value::Bool(b)) => out.push_str(if *b { "true" } else { "false" }),
            Some(Value::Number(n)) => out.push_str(&js_number(n)),
            Some(Value::String(s)) => match self.rules {
                KeyRules::V15 => {
                    out.push('"');
                    out.push_str(s);
                    out.push('"');
                }
                KeyRules::V14 => out.push_str(s),
            },
            Some(Value::Array(items)) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push('|');
                    }
                    self.write_value(out, Some(item));
                }
                out.push(']');
            }
            Some(Value::Object(map)) => {
                for (i, (key, value)) in js_key_order(map).into_iter().enumerate() {
                    if i > 0 {
                        out.push('|');
                    }
                    out.push_str(key);
                    out.push('|');
                    self.write_value(out, Some(value));
                }
            }
        }
    }

    /// Moleculer's `_hashedKey`: past `maxParamsLength` (counted in UTF-16 units, as
    /// JavaScript's `length`), the first `max - 44` units and the base64 SHA-256 of the whole.
    pub(super) fn hashed(&self, key: String) -> String {
        let Some(max) = self.max_params_length else {
            return key;
        };
        if max < 44 {
            return key;
        }
        let units = key.encode_utf16().count();
        if units <= max {
            return key;
        }
        let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&key));
        let prefix_len = max - 44;
        if prefix_len < 1 {
            return hash;
        }
        let mut out = String::with_capacity(prefix_len + hash.len());
        let mut taken = 0;
        for c in key.chars() {
            taken += c.len_utf16();
            if taken > prefix_len {
                break;
            }
            out.push(c);
        }
        out.push_str(&hash);
        out
    }
}

/// JavaScript's `isObject`: objects and arrays.
fn is_object(val: Option<&Value>) -> bool {
    matches!(val, Some(Value::Object(_) | Value::Array(_)))
}

/// JavaScript's `String(val)` of a scalar.
fn js_string(val: Option<&Value>) -> String {
    match val {
        None => "undefined".to_owned(),
        Some(Value::Null) => "null".to_owned(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => js_number(n),
        Some(Value::String(s)) => s.clone(),
        // Not reached: objects take the hashed path.
        Some(other) => other.to_string(),
    }
}

/// An object's entries in `Object.keys` order: array-index keys ascending, then the rest.
fn js_key_order(map: &JsonMap) -> Vec<(&str, &Value)> {
    let mut indexed: Vec<(u32, &str, &Value)> = Vec::new();
    let mut named = Vec::with_capacity(map.len());
    for (k, v) in map {
        match array_index(k) {
            Some(i) => indexed.push((i, k, v)),
            None => named.push((k.as_str(), v)),
        }
    }
    if indexed.is_empty() {
        return named;
    }
    indexed.sort_by_key(|(i, _, _)| *i);
    let mut out: Vec<(&str, &Value)> = indexed.into_iter().map(|(_, k, v)| (k, v)).collect();
    out.extend(named);
    out
}

/// A canonical array index (`0` … `4294967294`, no leading zeros), as JavaScript orders them.
pub(super) fn array_index(key: &str) -> Option<u32> {
    if key.is_empty() || key.len() > 10 || (key.len() > 1 && key.starts_with('0')) {
        return None;
    }
    if !key.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    key.parse::<u64>()
        .ok()
        .filter(|&n| n < u64::from(u32::MAX))
        .map(|n| n as u32)
}

/// lodash's `_.get` for the paths keys use: `a.b`, `a[0].b`, or a key that is literally there.
fn get_path<'v>(root: &'v Value, path: &str) -> Option<&'v Value> {
    if let Value::Object(map) = root {
        if let Some(v) = map.get(path) {
            return Some(v);
        }
    }
    let mut cur = root;
    for part in path_parts(path) {
        cur = match cur {
            Value::Object(map) => map.get(part)?,
            Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn get_path_in_map<'v>(map: &'v JsonMap, path: &str) -> Option<&'v Value> {
    if let Some(v) = map.get(path) {
        return Some(v);
    }
    let mut parts = path_parts(path);
    let first = map.get(parts.next()?)?;
    let rest: Vec<&str> = parts.collect();
    rest.into_iter().try_fold(first, |cur, part| match cur {
        Value::Object(m) => m.get(part),
        Value::Array(items) => items.get(part.parse::<usize>().ok()?),
        _ => None,
    })
}

/// `a.b[0].c` → `a`, `b`, `0`, `c`.
fn path_parts(path: &str) -> impl Iterator<Item = &str> {
    path.split(['.', '[', ']'])
        .map(|p| p.trim_matches(['"', '\'']))
        .filter(|p| !p.is_empty())
}

/// A JSON number as JavaScript's `Number.prototype.toString` prints it (JSON numbers are
/// doubles in JavaScript: big integers lose their low digits there too).
pub(crate) fn js_number(n: &serde_json::Number) -> String {
    const SAFE: u64 = 1 << 53;
    if let Some(u) = n.as_u64() {
        if u <= SAFE {
            return u.to_string();
        }
    } else if let Some(i) = n.as_i64() {
        if i.unsigned_abs() <= SAFE {
            return i.to_string();
        }
    }
    js_double(n.as_f64().unwrap_or(f64::NAN))
}

/// ECMAScript's Number::toString(10) of a double: shortest round-trip digits, plain notation
/// from 1e-6 up to 1e21, exponent notation outside.
pub(super) fn js_double(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f == 0.0 {
        return "0".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: `d.ddde<exp>`.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    let k = digits.len() as i32;
    let n = exp + 1;
    let mut out = String::new();
    if f < 0.0 {
        out.push('-');
    }
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        out.push_str(&digits[..n as usize]);
        out.push('.');
        out.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if n > 0 { '+' } else { '-' });
        out.push_str(&(n - 1).abs().to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn num(text: &str) -> String {
        let v: Value = serde_json::from_str(text).expect("number");
        match v {
            Value::Number(n) => js_number(&n),
            _ => panic!("not a number"),
        }
    }

    #[test]
    fn numbers_print_as_javascript_prints_them() {
        for (text, js) in [
            ("1", "1"),
            ("1.0", "1"),
            ("-2.5", "-2.5"),
            ("0.1", "0.1"),
            ("1e21", "1e+21"),
            ("1e20", "100000000000000000000"),
            ("0.000001", "0.000001"),
            ("0.0000001", "1e-7"),
            ("1.5e-7", "1.5e-7"),
            ("123456789012345678901234", "1.2345678901234569e+23"),
            ("12345678901234567890", "12345678901234567000"),
            ("-0", "0"),
        ] {
            assert_eq!(num(text), js, "{text}");
        }
    }

    #[test]
    fn object_keys_follow_javascript_order() {
        let params: Value =
            serde_json::from_str(r#"{"b":1,"10":2,"a":3,"2":4,"01":5}"#).expect("json");
        let src = KeySource {
            params: &params,
            meta: &JsonMap::new(),
            headers: &JsonMap::new(),
        };
        assert_eq!(
            KeyGen::default().key("x", None, src),
            "x:2|4|10|2|b|1|a|3|01|5"
        );
    }

    #[test]
    fn long_keys_are_hashed() {
        let params = json!({"text": "a".repeat(100)});
        let src = KeySource {
            params: &params,
            meta: &JsonMap::new(),
            headers: &JsonMap::new(),
        };
        let gen = KeyGen {
            rules: KeyRules::V15,
            max_params_length: Some(60),
        };
        let key = gen.key("x", None, src);
        // 16 characters kept, then the 44-character hash.
        assert_eq!(key.len(), "x:".len() + 60);
        assert!(key.starts_with("x:text|\"aaaaaaaaa"));
    }
}
