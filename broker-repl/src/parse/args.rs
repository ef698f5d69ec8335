//! Options after a command, as moleculer-repl reads them.
//!
//! - Known flags of the command: `-a`, `-ad`, `--all`, `-f <pattern>`, `--num 100`.
//! - On `call`, `dcall`, `emit`, … any other `--key value` is a param, coerced like yargs does:
//!   `5` and `1.5` are numbers (but `007` stays a string), `true` / `false` are booleans, a
//!   `{…}` or `[…]` value is JSON, anything quoted stays a string; `--a.b 1` nests
//!   (`{"a": {"b": 1}}`), a repeated key collects an array, and `--flag` alone is `true`.
//! - `--#key value` goes into the meta instead, with the same rules.
//! - `--$key value` is an option of the call itself (`--$timeout 500`).

use super::tokens::Token;
use crate::error::CommandError;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// One option a command knows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Flag {
    /// `--long`.
    pub(crate) long: &'static str,
    /// `-s`.
    pub(crate) short: Option<char>,
    /// Whether a value follows.
    pub(crate) takes_value: bool,
    /// One line for `help`.
    pub(crate) help: &'static str,
}

/// What a command accepts after its name.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spec {
    /// Its own options.
    pub(crate) flags: &'static [Flag],
    /// Whether other `--key value` options are params and meta.
    pub(crate) free_params: bool,
    /// The `--$key` call options it accepts.
    pub(crate) call_options: &'static [&'static str],
}

/// The options of one command line, sorted out.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    /// Words that are not options, in order.
    pub(crate) positional: Vec<Token>,
    /// The command's own options that were given, by long name (`None`: a flag without value).
    pub(crate) flags: BTreeMap<&'static str, Option<Token>>,
    /// `--key value` params.
    pub(crate) params: Map<String, Value>,
    /// `--#key value` meta.
    pub(crate) meta: Map<String, Value>,
    /// `--$key value` call options.
    pub(crate) call: BTreeMap<String, Token>,
}

impl Parsed {
    /// Whether a flag was given.
    pub(crate) fn has(&self, long: &str) -> bool {
        self.flags.contains_key(long)
    }

    /// The value of an option that takes one.
    pub(crate) fn value(&self, long: &str) -> Option<&str> {
        self.flags
            .get(long)
            .and_then(|v| v.as_ref())
            .map(|t| t.text.as_str())
    }
}

/// Sorts the words after a command name into positionals, flags, params and meta.
pub(crate) fn parse_args(tokens: &[Token], spec: &Spec) -> Result<Parsed, CommandError> {
    let mut out = Parsed::default();
    let mut i = 0;
    while i < tokens.len() {
        let token = &tokens[i];
        i += 1;
        if !token.quoted && token.text == "--" {
            out.positional.extend(tokens[i..].iter().cloned());
            break;
        }
        if !token.is_option() {
            out.positional.push(token.clone());
            continue;
        }
        if let Some(long) = token.text.strip_prefix("--") {
            let (key, inline) = match long.split_once('=') {
                Some((k, v)) => (
                    k,
                    Some(Token {
                        text: v.to_owned(),
                        quoted: token.quoted,
                    }),
                ),
                None => (long, None),
            };
            if let Some(flag) = spec.flags.iter().find(|f| f.long == key) {
                let value = if flag.takes_value {
                    Some(take_value(inline, tokens, &mut i, key)?)
                } else {
                    None
                };
                out.flags.insert(flag.long, value);
                continue;
            }
            if let Some(name) = key.strip_prefix('$') {
                if !spec.call_options.contains(&name) {
                    return Err(unknown_call_option(name, spec));
                }
                let value = take_value(inline, tokens, &mut i, key)?;
                out.call.insert(name.to_owned(), value);
                continue;
            }
            if !spec.free_params {
                return Err(CommandError::usage(format!("unknown option --{key}")));
            }
            let value = match inline {
                Some(v) => coerce(&v),
                None if tokens.get(i).is_some_and(|t| !t.is_option()) => {
                    i += 1;
                    coerce(&tokens[i - 1])
                }
                None => Value::Bool(true),
            };
            let (target, path) = match key.strip_prefix('#') {
                Some(meta_key) => (&mut out.meta, meta_key),
                None => (&mut out.params, key),
            };
            insert_path(target, path, value)?;
            continue;
        }
        short_flags(token, tokens, &mut i, spec, &mut out)?;
    }
    Ok(out)
}

fn take_value(
    inline: Option<Token>,
    tokens: &[Token],
    i: &mut usize,
    key: &str,
) -> Result<Token, CommandError> {
    if let Some(v) = inline {
        return Ok(v);
    }
    match tokens.get(*i) {
        Some(t) if !t.is_option() => {
            *i += 1;
            Ok(t.clone())
        }
        _ => Err(CommandError::usage(format!("option --{key} needs a value"))),
    }
}

fn unknown_call_option(name: &str, spec: &Spec) -> CommandError {
    if spec.call_options.is_empty() {
        return CommandError::usage(format!("unknown option --${name}"));
    }
    let known: Vec<String> = spec
        .call_options
        .iter()
        .map(|o| format!("--${o}"))
        .collect();
    CommandError::usage(format!(
        "unknown option --${name} (known: {})",
        known.join(", ")
    ))
}

/// `-a`, `-ad` (several flags at once) or `-f value`.
fn short_flags(
    token: &Token,
    tokens: &[Token],
    i: &mut usize,
    spec: &Spec,
    out: &mut Parsed,
) -> Result<(), CommandError> {
    let letters: Vec<char> = token.text.chars().skip(1).collect();
    for (n, letter) in letters.iter().enumerate() {
        let Some(flag) = spec.flags.iter().find(|f| f.short == Some(*letter)) else {
            if spec.free_params {
                insert_path(&mut out.params, &letter.to_string(), Value::Bool(true))?;
                continue;
            }
            return Err(CommandError::usage(format!("unknown option -{letter}")));
        };
        if flag.takes_value {
            if n + 1 != letters.len() {
                return Err(CommandError::usage(format!(
                    "option -{letter} needs a value and must come last in {}",
                    token.text
                )));
            }
            let value = take_value(None, tokens, i, flag.long)?;
            out.flags.insert(flag.long, Some(value));
        } else {
            out.flags.insert(flag.long, None);
        }
    }
    Ok(())
}

/// A typed value from a word, as yargs and moleculer-repl coerce option values.
pub fn coerce(token: &Token) -> Value {
    if token.quoted {
        return Value::String(token.text.clone());
    }
    let t = token.text.as_str();
    match t {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ => {}
    }
    if let Some(n) = number(t) {
        return n;
    }
    if t.starts_with(['{', '[']) {
        if let Ok(v) = serde_json::from_str(t) {
            return v;
        }
    }
    Value::String(t.to_owned())
}

fn number(t: &str) -> Option<Value> {
    let digits = t.strip_prefix('-').unwrap_or(t);
    let looks_numeric = digits.starts_with(|c: char| c.is_ascii_digit())
        && digits
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'));
    // `007` and `0x1` stay strings (as yargs keeps them), `0` and `0.5` are numbers.
    let leading_zero = digits.len() > 1 && digits.starts_with('0') && !digits.starts_with("0.");
    if !looks_numeric || leading_zero {
        return None;
    }
    if let Ok(n) = t.parse::<i64>() {
        return Some(Value::from(n));
    }
    if let Ok(n) = t.parse::<u64>() {
        return Some(Value::from(n));
    }
    let f = t.parse::<f64>().ok().filter(|f| f.is_finite())?;
    serde_json::Number::from_f64(f).map(Value::Number)
}

/// Sets `a.b.c` in a map, creating objects on the way; a repeated leaf becomes an array.
fn insert_path(map: &mut Map<String, Value>, path: &str, value: Value) -> Result<(), CommandError> {
    if path.is_empty() || path.split('.').any(str::is_empty) {
        return Err(CommandError::usage(format!("bad option name --{path}")));
    }
    let mut parts = path.split('.').peekable();
    let mut current = map;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            match current.get_mut(part) {
                Some(Value::Array(items)) => items.push(value),
                Some(existing) => {
                    let first = existing.take();
                    *existing = Value::Array(vec![first, value]);
                }
                None => {
                    current.insert(part.to_owned(), value);
                }
            }
            return Ok(());
        }
        let slot = current
            .entry(part.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let Value::Object(next) = slot else {
            return Err(CommandError::usage(format!("bad option name --{path}")));
        };
        current = next;
    }
    Ok(())
}

#[cfg(test)]
#[path = "args_tests.rs"]
mod tests;
