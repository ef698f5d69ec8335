//! HTTP routes for gateways: `#[action(rest = "GET /hello/:name")]` (Moleculer's action `rest`
//! property, read by moleculer-web's `autoAliases`) and `#[service(rest = "/greeter")]` (the
//! service's `settings.rest` base path). Checked at compile time against what moleculer-web
//! matches, emitted as `ActionDef::rest` / `ServiceSchema::rest` calls.

use crate::attr::{Arg, Errors};
use proc_macro2::TokenStream;
use quote::quote;
use syn::{Expr, ExprLit, Lit, LitStr};

/// The methods moleculer-web compares a request's method with (exactly, so upper case);
/// `*` (or a path alone) is every method.
const METHODS: &[&str] = &[
    "GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "*",
];

/// `rest = "..."` or `rest = ["...", ...]` of `#[action]`: each route `"METHOD /path"` or
/// `"/path"`. `None` when any is wrong (all are reported).
pub(crate) fn action_routes(arg: &Arg, errors: &mut Errors) -> Option<Vec<LitStr>> {
    let before = errors.count();
    let routes = strings(arg, "[\"GET /a\", \"POST /a\"]", errors)?;
    for lit in &routes {
        check_route(lit, errors);
    }
    (errors.count() == before).then_some(routes)
}

/// `rest = "/base"` or `rest = ["/a", "/b"]` of `#[service]`: base paths starting with `/`.
pub(crate) fn base_paths(arg: &Arg, errors: &mut Errors) -> Option<Vec<LitStr>> {
    let before = errors.count();
    let paths = strings(arg, "[\"/greeter\", \"/hello\"]", errors)?;
    for lit in &paths {
        check_path(lit, &lit.value(), "/greeter", errors);
    }
    (errors.count() == before).then_some(paths)
}

/// `.rest(..)` once per route or base path, on an `ActionDef` or a `ServiceSchema`.
pub(crate) fn setters(values: &[LitStr]) -> TokenStream {
    quote!(#(.rest(#values))*)
}

/// A string literal or a non-empty array of them: those that are (the others are reported).
fn strings(arg: &Arg, example: &str, errors: &mut Errors) -> Option<Vec<LitStr>> {
    let value = errors.ok(arg.expr())?;
    let items: Vec<&Expr> = match value {
        Expr::Array(array) if !array.elems.is_empty() => array.elems.iter().collect(),
        Expr::Array(array) => {
            errors.at(array, format!("`{}` must not be an empty array", arg.key));
            return None;
        }
        other => vec![other],
    };
    let mut out = Vec::new();
    for item in items {
        match item {
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) => out.push(s.clone()),
            _ => errors.at(
                item,
                format!(
                    "`{}` expects a string literal or an array of them, such as `{example}`",
                    arg.key
                ),
            ),
        }
    }
    Some(out)
}

/// `"METHOD /path"` (one space between) or `"/path"`.
fn check_route(lit: &LitStr, errors: &mut Errors) {
    let value = lit.value();
    let mut parts = value.split_whitespace();
    let (method, path) = match (parts.next(), parts.next(), parts.next()) {
        (Some(path), None, None) if !value.contains(char::is_whitespace) => (None, path),
        (Some(method), Some(path), None) => (Some(method), path),
        _ => {
            errors.at(
                lit,
                format!(
                    "invalid route \"{value}\"; expected \"METHOD /path\" (such as \
                     \"GET /hello/:name\") or \"/path\" for every method"
                ),
            );
            return;
        }
    };
    if let Some(method) = method {
        if !METHODS.contains(&method) {
            let hint = if METHODS.contains(&method.to_ascii_uppercase().as_str()) {
                format!(
                    " (methods are upper case: \"{}\")",
                    method.to_ascii_uppercase()
                )
            } else if method.eq_ignore_ascii_case("REST") || method.eq_ignore_ascii_case("ALL") {
                " (for every method write the path alone, or \"*\")".to_owned()
            } else {
                String::new()
            };
            errors.at(
                lit,
                format!(
                    "unknown HTTP method \"{method}\" in route \"{value}\"{hint}; expected GET, \
                     POST, PUT, PATCH, DELETE, OPTIONS, HEAD or *"
                ),
            );
        }
    }
    check_path(lit, path, "/hello/:name", errors);
}

/// A path starts with `/` (as `example` does).
fn check_path(lit: &LitStr, path: &str, example: &str, errors: &mut Errors) {
    if !path.starts_with('/') || path.contains(char::is_whitespace) {
        errors.at(
            lit,
            format!("invalid path \"{path}\"; a path starts with `/`, as in \"{example}\""),
        );
    }
}
