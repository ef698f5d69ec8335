//! Pretty JSON with colours: keys cyan, strings green, numbers yellow, booleans magenta,
//! `null` dimmed. Without colours it is exactly `serde_json::to_string_pretty`.

use super::style::{Style, Tone};
use serde_json::Value;

/// `value` pretty-printed (two-space indent) in `style`.
pub fn pretty_json(value: &Value, style: Style) -> String {
    let mut out = String::new();
    write_value(&mut out, value, 0, style);
    out
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

fn indent(out: &mut String, level: usize) {
    for _ in 0..level {
        out.push_str("  ");
    }
}

fn write_value(out: &mut String, value: &Value, level: usize, style: Style) {
    match value {
        Value::Null => out.push_str(&style.paint(Tone::Dim, "null")),
        Value::Bool(b) => out.push_str(&style.paint(Tone::Bool, &b.to_string())),
        Value::Number(n) => out.push_str(&style.paint(Tone::Number, &n.to_string())),
        Value::String(s) => out.push_str(&style.paint(Tone::Str, &quoted(s))),
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Object(map) if map.is_empty() => out.push_str("{}"),
        Value::Array(items) => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                indent(out, level + 1);
                write_value(out, item, level + 1, style);
                if i + 1 < items.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            indent(out, level);
            out.push(']');
        }
        Value::Object(map) => {
            out.push_str("{\n");
            for (i, (key, item)) in map.iter().enumerate() {
                indent(out, level + 1);
                out.push_str(&style.paint(Tone::Key, &quoted(key)));
                out.push_str(": ");
                write_value(out, item, level + 1, style);
                if i + 1 < map.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            indent(out, level);
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plain_output_is_serde_pretty() {
        let v = json!({"a": [1, 2.5, {"b": null}], "s": "x\"y", "t": true, "e": {}, "l": []});
        assert_eq!(
            pretty_json(&v, Style::plain()),
            serde_json::to_string_pretty(&v).unwrap_or_default()
        );
        assert_eq!(pretty_json(&json!(1099), Style::plain()), "1099");
    }

    #[test]
    fn colours_wrap_tokens() {
        let out = pretty_json(&json!({"k": "v"}), Style::coloured());
        assert!(out.contains("\u{1b}[36m\"k\"\u{1b}[0m"), "{out:?}");
        assert!(out.contains("\u{1b}[32m\"v\"\u{1b}[0m"), "{out:?}");
    }
}
