//! The `cache` argument of `#[action(...)]` and `#[service(...)]`: `cache`, `cache = false`,
//! or `cache(keys = ["id", "#user.id", "@tenant"], ttl = "30s", lock = true,
//! lock_ttl = "5s")`, emitted as `.cache(CacheSpec { .. })`. A service's `cache` applies to
//! each of its actions, whose own options win key by key (`cache = false` opts one out).

use crate::attr::{self, Arg, ArgValue, Errors, IntOrStr};
use proc_macro2::TokenStream;
use quote::quote;
use syn::{Expr, ExprLit, Lit, LitStr};

const KEYS: &[&str] = &["keys", "ttl", "lock", "lock_ttl"];
const EXPECTED: &str = "expected `cache`, `cache = false`, or `cache(keys = [\"id\"], ttl = \
                        \"30s\", lock = true, lock_ttl = \"5s\")` (all keys optional)";

/// A parsed `cache` argument.
pub(crate) enum CacheAttr {
    /// `cache = false`.
    Off,
    /// `cache`, `cache = true` or `cache(...)`.
    On(Spec),
}

/// The options of `cache(...)`.
#[derive(Default)]
pub(crate) struct Spec {
    keys: Option<Vec<LitStr>>,
    ttl_ms: Option<u64>,
    lock: bool,
    lock_ttl_ms: Option<u64>,
}

fn bool_of(expr: &Expr) -> Option<bool> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Bool(b), ..
        }) => Some(b.value),
        _ => None,
    }
}

/// A duration: `"500ms"`, `"30s"`, `"5m"`, `"1h"`, or milliseconds; zero is an error.
fn millis(arg: &Arg) -> syn::Result<u64> {
    let bad = |span| {
        syn::Error::new(
            span,
            format!(
                "invalid `{}`: expected a duration such as \"500ms\", \"30s\", \"5m\" or \
                 \"1h\", or an integer number of milliseconds",
                arg.key
            ),
        )
    };
    let (ms, span) = match attr::int_or_string(arg) {
        Ok(IntOrStr::Int(lit, n)) => (Some(n), lit.span()),
        Ok(IntOrStr::Str(lit)) => (crate::timeout::parse(&lit.value()), lit.span()),
        Err(e) => return Err(bad(e.span())),
    };
    match ms {
        Some(0) => Err(syn::Error::new(
            span,
            format!("`{}` must be greater than zero", arg.key),
        )),
        Some(ms) => Ok(ms),
        None => Err(bad(span)),
    }
}

/// Parses a `cache` argument.
pub(crate) fn parse(arg: &Arg, errors: &mut Errors) -> Option<CacheAttr> {
    let list = match &arg.value {
        ArgValue::Expr(expr) => {
            return match bool_of(expr) {
                Some(true) => Some(CacheAttr::On(Spec::default())),
                Some(false) => Some(CacheAttr::Off),
                None => {
                    errors.at(expr, EXPECTED);
                    None
                }
            };
        }
        ArgValue::List(list) => list,
    };
    let before = errors.count();
    let args = attr::parse_args(list.tokens.clone(), "cache(...)", KEYS, errors)?;
    let mut spec = Spec::default();
    for arg in &args.list {
        match arg.key.to_string().as_str() {
            "keys" => spec.keys = Some(attr::string_array(arg, errors)),
            "ttl" => spec.ttl_ms = errors.ok(millis(arg)),
            "lock_ttl" => {
                spec.lock_ttl_ms = errors.ok(millis(arg));
                spec.lock = true;
            }
            _ => match errors.ok(arg.expr()).map(bool_of) {
                Some(Some(on)) => spec.lock |= on,
                Some(None) => errors.at(&arg.key, "`lock` expects `true` or `false`"),
                None => {}
            },
        }
    }
    (errors.count() == before).then_some(CacheAttr::On(spec))
}

/// `.cache(CacheSpec { .. })` for an action: its own options over its service's.
pub(crate) fn setter(
    action: Option<&CacheAttr>,
    service: Option<&CacheAttr>,
) -> Option<TokenStream> {
    let empty = Spec::default();
    let (own, inherited) = match (action, service) {
        (Some(CacheAttr::Off), _) | (None, None | Some(CacheAttr::Off)) => return None,
        (Some(CacheAttr::On(own)), Some(CacheAttr::On(inherited))) => (own, inherited),
        (Some(CacheAttr::On(own)), _) => (own, &empty),
        (None, Some(CacheAttr::On(inherited))) => (inherited, &empty),
    };
    let spec = Spec {
        keys: own.keys.clone().or_else(|| inherited.keys.clone()),
        ttl_ms: own.ttl_ms.or(inherited.ttl_ms),
        lock: own.lock || inherited.lock,
        lock_ttl_ms: own.lock_ttl_ms.or(inherited.lock_ttl_ms),
    };
    let duration = |ms: Option<u64>| match ms {
        Some(ms) => quote!(::core::option::Option::Some(::core::time::Duration::from_millis(#ms))),
        None => quote!(::core::option::Option::None),
    };
    let keys = match &spec.keys {
        Some(keys) => quote! {
            ::core::option::Option::Some(::std::vec![#(::std::string::String::from(#keys)),*])
        },
        None => quote!(::core::option::Option::None),
    };
    let ttl = duration(spec.ttl_ms);
    let lock = match (spec.lock, spec.lock_ttl_ms) {
        (false, _) => quote!(::core::option::Option::None),
        (true, None) => {
            quote!(::core::option::Option::Some(
                ::core::default::Default::default()
            ))
        }
        (true, Some(ms)) => quote! {
            ::core::option::Option::Some(::broker_core::cache::LockSpec {
                ttl: ::core::time::Duration::from_millis(#ms),
            })
        },
    };
    Some(quote! {
        .cache(::broker_core::cache::CacheSpec {
            keys: #keys,
            ttl: #ttl,
            lock: #lock,
        })
    })
}
