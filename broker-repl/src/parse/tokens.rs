//! Splitting a command line into words.
//!
//! Words are separated by whitespace. Quotes group words as a shell does (`'…'` literally,
//! `"…"` with `\"` and `\\` escapes), and a JSON object or array may be typed bare, spaces and
//! all: `call math.add {"a": 100, "b": 999}` has three words. A bare JSON value runs from its
//! opening `{` or `[` to the matching close, skipping brackets inside JSON strings.

use crate::error::CommandError;

/// One word of a command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The word without its quotes.
    pub text: String,
    /// Whether any part of it was quoted (a quoted value is never coerced to a number or a
    /// boolean).
    pub quoted: bool,
}

impl Token {
    /// An unquoted word.
    pub fn bare(text: impl Into<String>) -> Token {
        Token {
            text: text.into(),
            quoted: false,
        }
    }

    /// Whether this word is an option name (`--key`, `-a`), as opposed to a value. A negative
    /// number such as `-5` is a value.
    pub fn is_option(&self) -> bool {
        if self.quoted {
            return false;
        }
        let t = self.text.as_str();
        if let Some(rest) = t.strip_prefix("--") {
            return !rest.is_empty();
        }
        match t.strip_prefix('-') {
            Some(rest) => rest.starts_with(|c: char| c.is_ascii_alphabetic()),
            None => false,
        }
    }
}

/// Splits a line into words; an unterminated quote is a usage error.
pub fn tokenize(line: &str) -> Result<Vec<Token>, CommandError> {
    let chars: Vec<char> = line.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let mut text = String::new();
        let mut quoted = false;
        while i < chars.len() && !chars[i].is_whitespace() {
            let c = chars[i];
            let json_start = (c == '{' || c == '[') && (text.is_empty() || text.ends_with('='));
            if json_start {
                i = bare_json(&chars, i, &mut text);
            } else if c == '\'' || c == '"' {
                i = quoted_part(&chars, i, &mut text)?;
                quoted = true;
            } else {
                text.push(c);
                i += 1;
            }
        }
        tokens.push(Token { text, quoted });
    }
    Ok(tokens)
}

/// Copies a bare JSON value starting at `start` into `out`; returns the index after it. An
/// unbalanced value takes the rest of the line, and the JSON parser reports what is missing.
fn bare_json(chars: &[char], start: usize, out: &mut String) -> usize {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut i = start;
    while i < chars.len() {
        let c = chars[i];
        out.push(c);
        i += 1;
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' | '[' => depth += 1,
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    i
}

/// Copies a quoted part (without its quotes) into `out`; returns the index after the closing
/// quote.
fn quoted_part(chars: &[char], start: usize, out: &mut String) -> Result<usize, CommandError> {
    let quote = chars[start];
    let mut i = start + 1;
    while i < chars.len() {
        let c = chars[i];
        if c == quote {
            return Ok(i + 1);
        }
        if quote == '"' && c == '\\' && matches!(chars.get(i + 1), Some('"' | '\\')) {
            out.push(chars[i + 1]);
            i += 2;
            continue;
        }
        out.push(c);
        i += 1;
    }
    Err(CommandError::usage(format!(
        "unterminated quote: missing closing {quote}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        match tokenize(line) {
            Ok(tokens) => tokens.into_iter().map(|t| t.text).collect(),
            Err(err) => vec![format!("ERR {err}")],
        }
    }

    #[test]
    fn splits_on_whitespace() {
        assert_eq!(words("  call   math.add  "), ["call", "math.add"]);
        assert!(words("").is_empty());
    }

    #[test]
    fn bare_json_keeps_its_spaces() {
        assert_eq!(
            words(r#"call math.add {"a": 100, "b": 999} --x 1"#),
            ["call", "math.add", r#"{"a": 100, "b": 999}"#, "--x", "1"]
        );
        assert_eq!(
            words(r#"emit e [1, {"s": "} ]"}]"#),
            ["emit", "e", r#"[1, {"s": "} ]"}]"#]
        );
        assert_eq!(words(r#"--p={"a": 1}"#), [r#"--p={"a": 1}"#]);
    }

    #[test]
    fn quotes_group_and_escape() {
        assert_eq!(
            words(r#"call a '{"x": "y z"}' --name "Alice Smith""#),
            ["call", "a", r#"{"x": "y z"}"#, "--name", "Alice Smith"]
        );
        assert_eq!(words(r#""say \"hi\"""#), [r#"say "hi""#]);
        assert_eq!(words(r#"--name="A B""#), ["--name=A B"]);
        let tokens = tokenize(r#"'5' 5"#).unwrap_or_default();
        assert!(tokens[0].quoted && !tokens[1].quoted);
    }

    #[test]
    fn unterminated_quote_is_an_error() {
        assert_eq!(
            words(r#"call a "oops"#),
            ["ERR unterminated quote: missing closing \""]
        );
    }

    #[test]
    fn options_and_negative_numbers() {
        assert!(Token::bare("--a").is_option());
        assert!(Token::bare("-a").is_option());
        assert!(!Token::bare("-5").is_option());
        assert!(!Token::bare("--").is_option());
        assert!(!Token::bare("x").is_option());
    }
}
