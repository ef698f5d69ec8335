//! Attribute plumbing shared by every macro: an error accumulator, the `key = value` argument
//! lists of `#[service(...)]`, `#[action(...)]` and `#[event(...)]` (whose values may also be
//! nested lists, `bulkhead(...)`), and the typed values those keys accept.

use crate::suggest;
use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprLit, Lit, LitInt, LitStr, Meta, MetaList, Path, Token};

/// Collects every problem found while parsing, so one build reports them all.
#[derive(Default)]
pub(crate) struct Errors {
    all: Option<syn::Error>,
    count: usize,
}

impl Errors {
    /// Records an error.
    pub(crate) fn push(&mut self, error: syn::Error) {
        self.count += 1;
        match &mut self.all {
            Some(all) => all.combine(error),
            None => self.all = Some(error),
        }
    }

    /// Records an error spanned on `tokens`.
    pub(crate) fn at(&mut self, tokens: impl ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// Records an error at `span`.
    pub(crate) fn at_span(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    /// Keeps the value of `result`, or records its error.
    pub(crate) fn ok<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.push(error);
                None
            }
        }
    }

    /// Whether nothing went wrong.
    pub(crate) fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// How many problems were recorded so far (to tell whether a check added any).
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// The `compile_error!` invocations of every recorded problem.
    pub(crate) fn into_compile_errors(self) -> TokenStream {
        self.all.map(|e| e.into_compile_error()).unwrap_or_default()
    }
}

/// The attributes `#[service]` understands on the methods of its `impl` block.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum MethodAttr {
    /// `#[action]` or `#[action(...)]`.
    Action,
    /// `#[event(...)]`.
    Event,
    /// `#[created]`.
    Created,
    /// `#[started]`.
    Started,
    /// `#[stopped]`.
    Stopped,
    /// `#[settings]`.
    Settings,
    /// `#[metadata]`.
    Metadata,
    /// `#[before]` or `#[before("pattern")]`.
    Before,
    /// `#[after]` or `#[after("pattern")]`.
    After,
    /// `#[error]` or `#[error("pattern")]`.
    Error,
    /// `#[periodic(...)]`: a scheduled task.
    Periodic,
}

impl MethodAttr {
    /// The attribute's name as the user writes it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            MethodAttr::Action => "action",
            MethodAttr::Event => "event",
            MethodAttr::Created => "created",
            MethodAttr::Started => "started",
            MethodAttr::Stopped => "stopped",
            MethodAttr::Settings => "settings",
            MethodAttr::Metadata => "metadata",
            MethodAttr::Before => "before",
            MethodAttr::After => "after",
            MethodAttr::Error => "error",
            MethodAttr::Periodic => "periodic",
        }
    }

    /// Recognizes one of ours: `#[action]`, or the path forms `#[broker_core::action]` and
    /// `#[broker_macros::action]` for the two attributes the crates export.
    pub(crate) fn of(attr: &Attribute) -> Option<MethodAttr> {
        let path = attr.path();
        let last = path.segments.last()?;
        if !last.arguments.is_none() {
            return None;
        }
        let kind = match last.ident.to_string().as_str() {
            "action" => MethodAttr::Action,
            "event" => MethodAttr::Event,
            "created" => MethodAttr::Created,
            "started" => MethodAttr::Started,
            "stopped" => MethodAttr::Stopped,
            "settings" => MethodAttr::Settings,
            "metadata" => MethodAttr::Metadata,
            "before" => MethodAttr::Before,
            "after" => MethodAttr::After,
            "error" => MethodAttr::Error,
            "periodic" => MethodAttr::Periodic,
            _ => return None,
        };
        let bare = path.leading_colon.is_none() && path.segments.len() == 1;
        let exported = matches!(
            kind,
            MethodAttr::Action | MethodAttr::Event | MethodAttr::Periodic
        );
        (bare || (exported && is_crate_path(path))).then_some(kind)
    }
}

/// `broker_core::x`, `::broker_core::x` or the same through `broker_macros`.
fn is_crate_path(path: &Path) -> bool {
    path.segments.len() == 2
        && path.segments[0].arguments.is_none()
        && (path.segments[0].ident == "broker_core" || path.segments[0].ident == "broker_macros")
}

/// One argument of a list: `key = value`, or `key(...)` for keys taking a nested list.
pub(crate) struct Arg {
    /// The key.
    pub(crate) key: syn::Ident,
    /// The value.
    pub(crate) value: ArgValue,
}

/// The value of an [`Arg`].
pub(crate) enum ArgValue {
    /// `key = value`.
    Expr(Expr),
    /// `key(...)`.
    List(MetaList),
}

impl Arg {
    /// The value of `key = value`; `key(...)` is an error.
    pub(crate) fn expr(&self) -> syn::Result<&Expr> {
        match &self.value {
            ArgValue::Expr(expr) => Ok(expr),
            ArgValue::List(list) => Err(syn::Error::new_spanned(
                list,
                format!("expected `{} = value`", self.key),
            )),
        }
    }
}

/// Keys that may stand alone, meaning `key = true`: `#[action(cache)]`.
const FLAG_KEYS: &[&str] = &["cache"];

/// The key of an entry of a valid-keys list: `bulkhead(...)` lists the key `bulkhead`.
fn key_name(valid: &str) -> &str {
    valid.strip_suffix("(...)").unwrap_or(valid)
}

/// The arguments of one list, as [`parse_args`] returns them.
pub(crate) struct Args {
    /// The well-formed, known, first-seen pairs, in source order.
    pub(crate) list: Vec<Arg>,
    /// The known keys that unknown ones were reported as likely typos of (`nmae` → `name`).
    suggested: Vec<String>,
}

impl Args {
    /// Whether `key` was given, or reported as misspelled: a check for a required key skips
    /// it then, as the typo's error already says what to write.
    pub(crate) fn given(&self, key: &str) -> bool {
        self.list.iter().any(|a| a.key == key) || self.suggested.iter().any(|s| s == key)
    }
}

/// Parses `key = value, ...` (and `key(...)`), reporting unknown keys (with the closest valid
/// one when it looks like a typo, the list of valid ones otherwise), duplicate keys and
/// entries of neither form. `what` names the list in messages, as in `` `#[action(...)]` ``;
/// `valid` lists the keys, those taking a nested list written `key(...)`. Only the
/// well-formed, known, first-seen pairs are kept; `None` when the list does not even parse.
pub(crate) fn parse_args(
    tokens: TokenStream,
    what: &str,
    valid: &[&str],
    errors: &mut Errors,
) -> Option<Args> {
    let metas = errors.ok(Punctuated::<Meta, Token![,]>::parse_terminated.parse2(tokens))?;
    let mut args = Args {
        list: Vec::new(),
        suggested: Vec::new(),
    };
    for meta in metas {
        let (path, value) = match meta {
            Meta::NameValue(pair) => (pair.path, ArgValue::Expr(pair.value)),
            Meta::List(list) => (list.path.clone(), ArgValue::List(list)),
            Meta::Path(path)
                if path.get_ident().is_some_and(|key| {
                    FLAG_KEYS.iter().any(|f| key == f) && valid.iter().any(|v| *key == key_name(v))
                }) =>
            {
                let value = syn::parse_quote!(true);
                (path, ArgValue::Expr(value))
            }
            Meta::Path(_) => {
                errors.at(
                    &meta,
                    format!(
                        "expected `key = value` in `{what}`; valid keys: {}",
                        list(valid)
                    ),
                );
                continue;
            }
        };
        let Some(key) = path.get_ident() else {
            errors.at(
                &path,
                format!("unknown key in `{what}`; valid keys: {}", list(valid)),
            );
            continue;
        };
        let name = key.to_string();
        if !valid.iter().any(|v| key_name(v) == name) {
            let message = match suggest::closest(&name, valid.iter().map(|v| key_name(v))) {
                Some(known) => {
                    args.suggested.push(known.to_owned());
                    format!("unknown key `{name}` in `{what}`; did you mean `{known}`?")
                }
                None => format!(
                    "unknown key `{name}` in `{what}`; valid keys: {}",
                    list(valid)
                ),
            };
            errors.at(key, message);
        } else if args.list.iter().any(|a| a.key == name) {
            errors.at(key, format!("duplicate key `{name}`"));
        } else {
            args.list.push(Arg {
                key: key.clone(),
                value,
            });
        }
    }
    Some(args)
}

/// The arguments of a method attribute: none for `#[action]`, the list for `#[action(...)]`.
pub(crate) fn attr_args(attr: &Attribute, errors: &mut Errors) -> Option<TokenStream> {
    match &attr.meta {
        Meta::Path(_) => Some(TokenStream::new()),
        Meta::List(list) => Some(list.tokens.clone()),
        Meta::NameValue(pair) => {
            errors.at(
                pair.eq_token,
                "expected `#[attribute]` or `#[attribute(key = value, ...)]`",
            );
            None
        }
    }
}

/// `` `a`, `b`, `c` ``.
fn list(keys: &[&str]) -> String {
    keys.iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The literal of a literal expression.
fn literal(value: &Expr) -> Option<&Lit> {
    match value {
        Expr::Lit(ExprLit { lit, attrs }) if attrs.is_empty() => Some(lit),
        _ => None,
    }
}

/// A non-empty string literal.
pub(crate) fn string(arg: &Arg) -> syn::Result<LitStr> {
    let value = arg.expr()?;
    match literal(value) {
        Some(Lit::Str(s)) if !s.value().is_empty() => Ok(s.clone()),
        Some(Lit::Str(s)) => Err(syn::Error::new(
            s.span(),
            format!("`{}` must not be empty", arg.key),
        )),
        _ => Err(syn::Error::new(
            value.span(),
            format!("`{}` expects a string literal", arg.key),
        )),
    }
}

/// A string literal, possibly empty (`description = ""` says "none").
pub(crate) fn string_or_empty(arg: &Arg) -> syn::Result<LitStr> {
    let value = arg.expr()?;
    match literal(value) {
        Some(Lit::Str(s)) => Ok(s.clone()),
        _ => Err(syn::Error::new(
            value.span(),
            format!("`{}` expects a string literal", arg.key),
        )),
    }
}

/// An integer or string literal.
pub(crate) enum IntOrStr {
    /// An unsigned integer literal, already checked to fit in `u64`.
    Int(LitInt, u64),
    /// A non-empty string literal.
    Str(LitStr),
}

/// An integer (fitting in `u64`) or non-empty string literal.
pub(crate) fn int_or_string(arg: &Arg) -> syn::Result<IntOrStr> {
    let value = arg.expr()?;
    match literal(value) {
        Some(Lit::Int(i)) => {
            let n = i.base10_parse::<u64>().map_err(|_| {
                syn::Error::new(i.span(), format!("`{}` must fit in a `u64`", arg.key))
            })?;
            Ok(IntOrStr::Int(i.clone(), n))
        }
        Some(Lit::Str(_)) => string(arg).map(IntOrStr::Str),
        _ => Err(syn::Error::new(
            value.span(),
            format!("`{}` expects an integer or a string literal", arg.key),
        )),
    }
}

/// An unsigned integer literal fitting in `usize` on any target (`u32`), and its span.
pub(crate) fn int(arg: &Arg) -> syn::Result<(u32, Span)> {
    let value = arg.expr()?;
    match literal(value) {
        Some(Lit::Int(i)) => i
            .base10_parse::<u32>()
            .map(|n| (n, i.span()))
            .map_err(|_| syn::Error::new(i.span(), format!("`{}` must fit in a `u32`", arg.key))),
        _ => Err(syn::Error::new(
            value.span(),
            format!("`{}` expects an integer literal", arg.key),
        )),
    }
}

/// An array of non-empty string literals: `["users", "v2.posts"]`.
pub(crate) fn string_array(arg: &Arg, errors: &mut Errors) -> Vec<LitStr> {
    let Some(value) = errors.ok(arg.expr()) else {
        return Vec::new();
    };
    let Expr::Array(array) = value else {
        errors.at(
            value,
            format!(
                "`{}` expects an array of string literals, such as `[\"users\", \"v2.posts\"]`",
                arg.key
            ),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in &array.elems {
        match literal(item) {
            Some(Lit::Str(s)) if !s.value().is_empty() => out.push(s.clone()),
            _ => errors.at(
                item,
                format!("`{}` expects non-empty string literals", arg.key),
            ),
        }
    }
    out
}
