//! Golden cache keys: for a table of params, meta, headers and `keys`, the keys our
//! [`KeyGen`] builds equal the ones the real Moleculer.js cacher's `getCacheKey` builds,
//! with the 0.15 rules and with the 0.14 rules (`interop/cache-keys.js` runs the JS side).

#[macro_use]
mod interop;

use broker_core::cache::{KeyGen, KeyRules, KeySource};
use broker_core::JsonMap;
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};

/// The cases: the JSON text of the params (parsed as each side parses it), and the options.
fn table() -> Vec<Value> {
    let long = "x".repeat(300);
    let cases = vec![
        json!({"params": r#"{"id": 5}"#}),
        json!({"params": r#"{}"#}),
        json!({"params": r#"null"#}),
        json!({"params": r#"{"a": null, "b": true, "c": false, "d": "", "e": "text with | and :"}"#}),
        json!({"params": r#"{"n": [1, 2.5, -3, 1e21, 1e-7, 0.1, 1.0, 123456789012345678901234, 9007199254740993]}"#}),
        json!({"params": r#"{"nested": {"deep": {"list": [{"a": 1}, [], {}], "s": "x"}}, "after": 1}"#}),
        json!({"params": r#"{"b": 1, "10": 2, "a": 3, "2": 4, "01": 5, "-1": 6}"#}),
        json!({"params": r#"{"uni": "żółw 🐢", "esc": "quote \" and \\ backslash"}"#}),
        json!({"params": r#"[1, "two", null]"#}),
        json!({"params": r#""just a string""#}),
        json!({"params": r#"42"#}),
        // Keys: one, several, nested paths, meta and headers, missing ones.
        json!({"params": r#"{"id": 5, "name": "Bob"}"#, "keys": ["id"]}),
        json!({"params": r#"{"id": "5", "name": "Bob"}"#, "keys": ["id"]}),
        json!({"params": r#"{"id": null}"#, "keys": ["id"]}),
        json!({"params": r#"{"x": 1}"#, "keys": ["id"]}),
        json!({"params": r#"{"user": {"id": 3, "roles": ["a", "b"]}}"#, "keys": ["user"]}),
        json!({"params": r#"{"user": {"id": 3, "roles": ["a", "b"]}}"#, "keys": ["user.id", "user.roles"]}),
        json!({"params": r#"{"list": [{"v": 10}, {"v": 20}]}"#, "keys": ["list[1].v", "list.0.v"]}),
        json!({"params": r#"{"a.b": 1, "a": {"b": 2}}"#, "keys": ["a.b"]}),
        json!({"params": r#"{"id": 5}"#, "keys": ["id", "#user.id", "#tenant", "@x-org", "missing"],
               "meta": {"user": {"id": 77}, "tenant": "acme"}, "headers": {"x-org": "org-1"}}),
        json!({"params": r#"{"id": 5}"#, "keys": ["#user"], "meta": {"user": {"id": 77, "name": "n"}}}),
        json!({"params": r#"{"id": 5}"#, "keys": ["@list"], "headers": {"list": [1, 2]}}),
        json!({"params": r#"{"id": 5}"#, "keys": []}),
        json!({"params": r#"{"id": 5, "flag": true, "arr": [1]}"#, "keys": ["flag", "arr"]}),
        // maxParamsLength: under 44 ignored, short keys kept, long ones hashed.
        json!({"params": format!(r#"{{"text": "{long}"}}"#), "maxParamsLength": 40}),
        json!({"params": format!(r#"{{"text": "{long}"}}"#), "maxParamsLength": 44}),
        json!({"params": format!(r#"{{"text": "{long}"}}"#), "maxParamsLength": 60}),
        json!({"params": r#"{"id": 5}"#, "maxParamsLength": 60}),
        json!({"params": format!(r#"{{"text": "żółw{long}"}}"#), "maxParamsLength": 50}),
        json!({"params": format!(r#"{{"a": "{long}", "b": {{"c": "{long}"}}}}"#), "keys": ["a", "b"], "maxParamsLength": 80}),
        json!({"params": format!(r#"{{"a": {{"c": "{long}"}}}}"#), "keys": ["a"], "maxParamsLength": 80}),
    ];
    cases
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            c["action"] = json!(format!("v2.posts.case{i}"));
            c
        })
        .collect()
}

/// The keys Moleculer.js builds for the table.
fn js_keys(version: &str, cases: &[Value]) -> Vec<String> {
    interop::ensure_js_deps();
    // The JS side gets parsed params, as a Moleculer node has them after JSON.parse.
    let input: Vec<Value> = cases
        .iter()
        .map(|c| {
            let mut c = c.clone();
            let text = c["params"].as_str().unwrap_or("null").to_owned();
            c["params"] = serde_json::from_str(&text).expect("case params are JSON");
            c
        })
        .collect();
    let mut child = Command::new("node")
        .arg("cache-keys.js")
        .arg(version)
        .current_dir(interop::interop_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs");
    let text = cases_as_js_input(cases, &input);
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write cases");
    let out = child.wait_with_output().expect("node finishes");
    assert!(out.status.success(), "cache-keys.js failed: {}", out.status);
    serde_json::from_slice(&out.stdout).expect("a JSON array of keys")
}

/// The JS input with each case's params spliced in as their original text, so that node's
/// JSON.parse (not a serde round trip) decides numbers and key order.
fn cases_as_js_input(cases: &[Value], parsed: &[Value]) -> String {
    let mut out = String::from("[");
    for (i, (case, parsed)) in cases.iter().zip(parsed).enumerate() {
        if i > 0 {
            out.push(',');
        }
        let mut rest = parsed.clone();
        if let Some(obj) = rest.as_object_mut() {
            obj.remove("params");
        }
        let rest = rest.to_string();
        let params = case["params"].as_str().unwrap_or("null");
        // `{"params": <text>, ...rest}`
        out.push_str(&format!("{{\"params\":{params},{}", &rest[1..]));
    }
    out.push(']');
    out
}

fn rust_keys(rules: KeyRules, cases: &[Value]) -> Vec<String> {
    cases
        .iter()
        .map(|c| {
            let params: Value =
                serde_json::from_str(c["params"].as_str().unwrap_or("null")).expect("params");
            let map = |v: &Value| -> JsonMap { v.as_object().cloned().unwrap_or_default() };
            let keys: Option<Vec<String>> = c
                .get("keys")
                .map(|k| serde_json::from_value(k.clone()).expect("keys"));
            let gen = KeyGen {
                rules,
                max_params_length: c["maxParamsLength"].as_u64().map(|n| n as usize),
            };
            let (meta, headers) = (map(&c["meta"]), map(&c["headers"]));
            let src = KeySource {
                params: &params,
                meta: &meta,
                headers: &headers,
            };
            let action = c["action"].as_str().unwrap_or_default();
            let key = gen.key(action, keys.as_deref(), src);
            // The hit path's key, from the params text, is the same wherever it applies.
            if keys.is_none() {
                let text = c["params"].as_str().unwrap_or("null");
                if let Some(fast) = gen.key_from_text(action, text) {
                    assert_eq!(fast, key, "text and value paths differ for {c}");
                }
            }
            key
        })
        .collect()
}

fn compare(version: &str, rules: KeyRules) {
    let cases = table();
    let js = js_keys(version, &cases);
    let ours = rust_keys(rules, &cases);
    assert_eq!(js.len(), cases.len());
    let mut wrong = Vec::new();
    for ((case, js), ours) in cases.iter().zip(&js).zip(&ours) {
        if js != ours {
            wrong.push(format!("case {case}\n  js:   {js}\n  rust: {ours}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} keys differ from Moleculer {version}'s:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}

#[test]
fn keys_match_moleculer_0_15() {
    compare("0.15", KeyRules::V15);
}

#[test]
fn keys_match_moleculer_0_14() {
    compare("0.14", KeyRules::V14);
}
