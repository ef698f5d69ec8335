//! The `timeout = ...` argument of `#[action]`, checked and converted to milliseconds at compile
//! time: `"500ms"`, `"2s"`, `"1m"`, `"1h"`, or an integer number of milliseconds.

use crate::attr::{int_or_string, Arg, IntOrStr};

const EXPECTED: &str = "expected a duration such as \"500ms\", \"2s\", \"1m\" or \"1h\", or an \
                        integer number of milliseconds";

/// The timeout in milliseconds; zero and overflowing values are errors.
pub(crate) fn millis(arg: &Arg) -> syn::Result<u64> {
    let (ms, span) = match int_or_string(arg) {
        Ok(IntOrStr::Int(lit, n)) => (Some(n), lit.span()),
        Ok(IntOrStr::Str(lit)) => (parse(&lit.value()), lit.span()),
        Err(e) => {
            return Err(syn::Error::new(
                e.span(),
                format!("invalid `timeout`: {EXPECTED}"),
            ))
        }
    };
    match ms {
        Some(0) => Err(syn::Error::new(span, "`timeout` must be greater than zero")),
        Some(ms) => Ok(ms),
        None => Err(syn::Error::new(
            span,
            format!("invalid `timeout`: {EXPECTED}"),
        )),
    }
}

/// `<digits><unit>` with unit `ms`, `s`, `m` or `h`.
pub(crate) fn parse(text: &str) -> Option<u64> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    let factor = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    n.checked_mul(factor)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn units() {
        assert_eq!(parse("500ms"), Some(500));
        assert_eq!(parse("2s"), Some(2_000));
        assert_eq!(parse("1m"), Some(60_000));
        assert_eq!(parse("1h"), Some(3_600_000));
        assert_eq!(parse("0s"), Some(0));
    }

    #[test]
    fn rejects() {
        for text in [
            "",
            "2",
            "s",
            "2 s",
            "1.5s",
            "2sec",
            "-1s",
            "99999999999999999999h",
        ] {
            assert_eq!(parse(text), None, "{text:?}");
        }
    }
}
