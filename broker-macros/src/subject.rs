//! `#[action(subject = "math.add")]`: the NATS subject the action answers on when the broker's
//! services are exposed through the NATS service API (ADR-32). Checked at compile time with
//! ADR-32's subject rule, emitted as an `ActionDef::subject` call.

use crate::attr::{self, Arg, Errors};
use proc_macro2::TokenStream;
use quote::quote;
use syn::LitStr;

/// Parses `subject = "..."`: dot-separated tokens, none empty, no whitespace, `>` only as the
/// whole last token, and not under `$SRV` (reserved for the service API's own verbs).
pub(crate) fn subject(arg: &Arg, errors: &mut Errors) -> Option<LitStr> {
    let lit = errors.ok(attr::string(arg))?;
    let value = lit.value();
    let tokens: Vec<&str> = value.split('.').collect();
    let problem = if value.chars().any(char::is_whitespace) {
        Some("must not contain whitespace")
    } else if tokens.iter().any(|t| t.is_empty()) {
        Some("must not have an empty token (a leading, trailing or doubled `.`)")
    } else if tokens
        .iter()
        .enumerate()
        .any(|(i, t)| t.contains('>') && (*t != ">" || i + 1 != tokens.len()))
    {
        Some("may contain `>` only as its whole last token")
    } else if tokens.iter().any(|t| t.contains('*') && *t != "*") {
        Some("may contain `*` only as a whole token")
    } else if tokens[0] == "$SRV" {
        Some("must not start with `$SRV` (reserved for the service API's PING, INFO and STATS)")
    } else {
        None
    };
    match problem {
        Some(problem) => {
            errors.at(&lit, format!("the NATS subject \"{value}\" {problem}"));
            None
        }
        None => Some(lit),
    }
}

/// `.subject("...")` when given.
pub(crate) fn setter(subject: Option<&LitStr>) -> TokenStream {
    subject.map(|s| quote!(.subject(#s))).unwrap_or_default()
}
