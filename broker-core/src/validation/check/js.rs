//! JavaScript's view of values, strings and regexes, as the code fastest-validator generates
//! sees them: how a value is written into a message, compared, converted to a number, how
//! long a string is, and the e-mail, URL and string-class checks.

use regex::Regex;
use serde_json::Value;

/// A number as JavaScript holds it: integral values as integers (`3`, not `3.0`).
pub(super) fn js_number(n: serde_json::Number) -> Value {
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Value::from(f as i64),
        _ => Value::Number(n),
    }
}

/// A value as JavaScript's `String(value)` writes it into a message (`undefined` and `null`
/// as nothing, arrays joined by commas, objects as `[object Object]`).
pub(super) fn js_text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{}", f as i128),
            Some(f) => f.to_string(),
            None => n.to_string(),
        },
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| js_text(Some(i)))
            .collect::<Vec<_>>()
            .join(","),
        Some(Value::Object(_)) => "[object Object]".to_owned(),
    }
}

/// JavaScript's `===` on JSON values: numbers by value, objects and arrays never (they are
/// distinct objects after parsing).
pub(super) fn js_strict_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Object(_) | Value::Array(_), _) | (_, Value::Object(_) | Value::Array(_)) => false,
        _ => a == b,
    }
}

/// JavaScript's `==` for the cases a JSON value meets: numbers and numeric strings and
/// booleans compare as numbers.
pub(super) fn js_loose_eq(a: &Value, b: &Value) -> bool {
    if js_strict_eq(a, b) {
        return true;
    }
    match (a, b) {
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Object(_) | Value::Array(_), _) | (_, Value::Object(_) | Value::Array(_)) => false,
        _ => match (js_to_number(a), js_to_number(b)) {
            (Some(x), Some(y)) => x == y && !(a.is_string() && b.is_string()),
            _ => false,
        },
    }
}

/// JavaScript's `Number(value)` (`None` for `NaN`).
pub(super) fn js_to_number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::Null => Some(0.0),
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() {
                return Some(0.0);
            }
            for (prefix, radix) in [
                ("0x", 16),
                ("0X", 16),
                ("0o", 8),
                ("0O", 8),
                ("0b", 2),
                ("0B", 2),
            ] {
                if let Some(digits) = t.strip_prefix(prefix) {
                    return u64::from_str_radix(digits, radix).ok().map(|n| n as f64);
                }
            }
            // Rust also reads `inf`, `nan` and `infinity` in any case; JavaScript only
            // `Infinity`, and no other letter than an exponent's.
            let unsigned = t.strip_prefix(['+', '-']).unwrap_or(t);
            let letters = unsigned
                .chars()
                .any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E');
            if letters && unsigned != "Infinity" {
                return None;
            }
            t.parse::<f64>().ok()
        }
        Value::Array(items) if items.is_empty() => Some(0.0),
        _ => None,
    }
}

/// A string's `length` in JavaScript: UTF-16 code units.
pub(super) fn js_len(text: &str) -> usize {
    text.encode_utf16().count()
}

/// A regex source as JavaScript's `RegExp.prototype.toString` shows it (`/` escaped).
pub(super) fn js_regex_source(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut escaped = false;
    for c in source.chars() {
        if c == '/' && !escaped {
            out.push('\\');
        }
        escaped = c == '\\' && !escaped;
        out.push(c);
    }
    out
}

/// A JavaScript string literal's escapes resolved (`\\n` is a newline, `\\d` is `d`).
pub(super) fn js_unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(next) = chars.next() else {
            break;
        };
        let hex = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>, n: usize| {
            let digits: String = (0..n).filter_map(|_| chars.next()).collect();
            u32::from_str_radix(&digits, 16)
                .ok()
                .and_then(char::from_u32)
        };
        match next {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'v' => out.push('\u{b}'),
            '0' if !chars.peek().is_some_and(char::is_ascii_digit) => out.push('\0'),
            'x' => out.extend(hex(&mut chars, 2)),
            'u' if chars.peek() == Some(&'{') => {
                chars.next();
                let digits: String = chars.by_ref().take_while(|c| *c != '}').collect();
                out.extend(
                    u32::from_str_radix(&digits, 16)
                        .ok()
                        .and_then(char::from_u32),
                );
            }
            'u' => out.extend(hex(&mut chars, 4)),
            '\n' | '\r' | '\u{2028}' | '\u{2029}' => {}
            other => out.push(other),
        }
    }
    out
}

/// A property name fastest-validator writes with a dot (`a.b`) rather than quoted (`a['b-c']`).
pub(super) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c == '$' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c == '$' || c.is_ascii_alphanumeric())
}

/// JavaScript's `\s`: whitespace and line terminators, including the BOM.
pub(super) fn js_space(c: char) -> bool {
    c.is_whitespace() || c == '\u{feff}'
}

/// fastest-validator's e-mail check: `\S+@\S+\.\S+` (quick) or its precise pattern.
pub(super) fn is_email(text: &str, precise: bool) -> bool {
    if precise {
        static PRECISE: std::sync::OnceLock<Option<Regex>> = std::sync::OnceLock::new();
        let pattern = PRECISE.get_or_init(|| {
            Regex::new(
                r#"^(([^<>()\[\]\\.,;:\s@"]+(\.[^<>()\[\]\\.,;:\s@"]+)*)|(".+"))@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\])|(([a-zA-Z\-0-9]+\.)+[a-zA-Z]{2,}))$"#,
            )
            .ok()
        });
        return pattern.as_ref().is_none_or(|p| p.is_match(text));
    }
    if text.chars().any(js_space) {
        return false;
    }
    // One `@` with text before it, then a `.` with text on both sides somewhere after it.
    text.char_indices().any(|(at, c)| {
        c == '@'
            && at > 0
            && text[at + 1..]
                .char_indices()
                .any(|(dot, d)| d == '.' && dot > 0 && dot + 1 < text.len() - at - 1)
    })
}

/// fastest-validator's URL check: `^https?:\/\/\S+`.
pub(super) fn is_url(text: &str) -> bool {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"));
    rest.and_then(|r| r.chars().next())
        .is_some_and(|c| !js_space(c))
}

/// `^-?[0-9]\d*(\.\d+)?$`.
pub(super) fn is_numeric(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    !int.is_empty()
        && int.chars().all(|c| c.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.chars().all(|c| c.is_ascii_digit()))
}

/// fastest-validator's base64 pattern: groups of four, optionally a padded tail.
pub(super) fn is_base64(text: &str) -> bool {
    static BASE64: std::sync::OnceLock<Option<Regex>> = std::sync::OnceLock::new();
    BASE64
        .get_or_init(|| {
            Regex::new(r"^(?:[A-Za-z0-9+\\/]{4})*(?:[A-Za-z0-9+\\/]{2}==|[A-Za-z0-9+/]{3}=)?$").ok()
        })
        .as_ref()
        .is_none_or(|p| p.is_match(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_from_strings_as_javascript_reads_them() {
        let n = |s: &str| js_to_number(&json!(s));
        assert_eq!(n(" 12 "), Some(12.0));
        assert_eq!(n(""), Some(0.0));
        assert_eq!(n("1e3"), Some(1000.0));
        assert_eq!(n("0x1F"), Some(31.0));
        assert_eq!(n("-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(n("infinity"), None);
        assert_eq!(n("nan"), None);
        assert_eq!(n("12abc"), None);
    }
}
