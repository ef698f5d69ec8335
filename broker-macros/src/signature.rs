//! Checks the signatures of the methods `#[service]` wires up, and extracts what the generated
//! code needs to call them: whether they take the context, the params type, the return type.

use crate::attr::{Errors, MethodAttr};
use syn::{FnArg, Ident, ReturnType, Signature, Type};

/// What the generated glue needs to know about an `#[action]` or `#[event]` method.
pub(crate) struct Handler {
    /// The method's name.
    pub(crate) ident: Ident,
    /// Whether it takes `ctx: Context`.
    pub(crate) takes_ctx: bool,
    /// The type of its params argument, if it has one.
    pub(crate) params: Option<Type>,
    /// Its return type (`()` when it declares none).
    pub(crate) output: ReturnType,
}

/// Checks an `#[action]` or `#[event]` method: `async`, `&self`, then optionally
/// `ctx: Context`, then optionally one params argument.
pub(crate) fn handler(sig: &Signature, attr: MethodAttr, errors: &mut Errors) -> Option<Handler> {
    let before = errors.count();
    common(sig, attr, true, errors);
    let mut takes_ctx = false;
    let mut params: Option<Type> = None;
    for (index, input) in sig.inputs.iter().skip(1).enumerate() {
        let FnArg::Typed(arg) = input else { continue };
        if index >= 2 {
            errors.at(
                input,
                format!(
                    "too many parameters: `#[{}]` methods take `&self`, then optionally \
                     `ctx: Context`, then optionally one params argument",
                    attr.name()
                ),
            );
            break;
        }
        match context_kind(&arg.ty) {
            ContextKind::ByRef => {
                errors.at(
                    &arg.ty,
                    "take the context by value: `ctx: Context` (cloning a `Context` is cheap)",
                );
            }
            ContextKind::ByValue if takes_ctx => {
                errors.at(
                    &arg.ty,
                    "the context is already taken by a previous parameter",
                );
            }
            ContextKind::ByValue if params.is_some() => {
                errors.at(
                    &arg.ty,
                    "`ctx: Context` must come before the params argument",
                );
            }
            ContextKind::ByValue => takes_ctx = true,
            ContextKind::No if params.is_some() => {
                errors.at(
                    input,
                    "a handler takes a single params argument; gather the fields in one \
                     `Deserialize` struct",
                );
            }
            ContextKind::No => params = Some((*arg.ty).clone()),
        }
    }
    if attr == MethodAttr::Action && matches!(sig.output, ReturnType::Default) {
        errors.at(
            &sig.ident,
            "an `#[action]` must return `Result<T, E>` where `T: Serialize` and \
             `E: Into<broker_core::Error>`",
        );
    }
    (errors.count() == before).then(|| Handler {
        ident: sig.ident.clone(),
        takes_ctx,
        params,
        output: sig.output.clone(),
    })
}

/// Checks a lifecycle hook: `async fn name(&self)`.
pub(crate) fn hook(sig: &Signature, attr: MethodAttr, errors: &mut Errors) -> bool {
    let before = errors.count();
    common(sig, attr, true, errors);
    if let Some(extra) = sig.inputs.iter().nth(1) {
        errors.at(
            extra,
            format!("`#[{}]` hooks take only `&self`", attr.name()),
        );
    }
    errors.count() == before
}

/// What the generated glue needs to know about a `#[before]`, `#[after]` or `#[error]` method.
pub(crate) struct HookSig {
    /// The method's name.
    pub(crate) ident: Ident,
    /// Whether it takes `ctx: Context`.
    pub(crate) takes_ctx: bool,
    /// The type of the result (`#[after]`) or error (`#[error]`) it takes.
    pub(crate) input: Option<Type>,
    /// Its return type.
    pub(crate) output: ReturnType,
}

/// Checks a service hook: `async`, `&self`, then optionally `ctx: Context`, then (for
/// `#[after]` and `#[error]`, not `#[before]`) the action's result or error.
pub(crate) fn service_hook(
    sig: &Signature,
    attr: MethodAttr,
    errors: &mut Errors,
) -> Option<HookSig> {
    let before = errors.count();
    common(sig, attr, true, errors);
    let (takes_input, shape) = match attr {
        MethodAttr::Before => (
            false,
            "`#[before]` hooks take `&self`, then optionally `ctx: Context` (the params are \
             `ctx.params()`; return `Ok(Some(params))` to replace them)",
        ),
        MethodAttr::After => (
            true,
            "`#[after]` hooks take `&self`, then optionally `ctx: Context`, then the action's \
             result, such as `result: serde_json::Value`",
        ),
        _ => (
            true,
            "`#[error]` hooks take `&self`, then optionally `ctx: Context`, then the error, \
             `err: Error`",
        ),
    };
    let mut takes_ctx = false;
    let mut input: Option<Type> = None;
    for arg in sig.inputs.iter().skip(1) {
        let FnArg::Typed(typed) = arg else { continue };
        match context_kind(&typed.ty) {
            ContextKind::ByRef => errors.at(
                &typed.ty,
                "take the context by value: `ctx: Context` (cloning a `Context` is cheap)",
            ),
            ContextKind::ByValue if takes_ctx => errors.at(
                &typed.ty,
                "the context is already taken by a previous parameter",
            ),
            ContextKind::ByValue if input.is_some() => errors.at(
                &typed.ty,
                format!("`ctx: Context` must come first: {shape}"),
            ),
            ContextKind::ByValue => takes_ctx = true,
            ContextKind::No if !takes_input || input.is_some() => {
                errors.at(arg, format!("unexpected parameter: {shape}"));
                break;
            }
            ContextKind::No => input = Some((*typed.ty).clone()),
        }
    }
    if takes_input && input.is_none() && errors.count() == before {
        errors.at_span(
            sig.paren_token.span.join(),
            format!("missing parameter: {shape}"),
        );
    }
    if matches!(sig.output, ReturnType::Default) {
        let message = if attr == MethodAttr::Before {
            "a `#[before]` hook must return `Result<(), E>` or \
             `Result<Option<serde_json::Value>, E>` where `E: Into<broker_core::Error>`"
        } else {
            "an `#[after]` or `#[error]` hook must return `Result<T, E>` where `T: Serialize` \
             and `E: Into<broker_core::Error>`"
        };
        errors.at(&sig.ident, message);
    }
    (errors.count() == before).then(|| HookSig {
        ident: sig.ident.clone(),
        takes_ctx,
        input,
        output: sig.output.clone(),
    })
}

/// Checks a `#[settings]` or `#[metadata]` method: `fn name(&self) -> serde_json::Value`
/// (or any type `Into<Value>`; the generated code checks that).
pub(crate) fn provider(sig: &Signature, attr: MethodAttr, errors: &mut Errors) -> bool {
    let before = errors.count();
    common(sig, attr, false, errors);
    if let Some(extra) = sig.inputs.iter().nth(1) {
        errors.at(
            extra,
            format!("`#[{}]` methods take only `&self`", attr.name()),
        );
    }
    if matches!(sig.output, ReturnType::Default) {
        errors.at(
            &sig.ident,
            format!(
                "`#[{}]` methods must return a `serde_json::Value` (or a type that converts \
                 into one, such as `serde_json::Map`)",
                attr.name()
            ),
        );
    }
    errors.count() == before
}

/// The rules every wired-up method follows: `async` or not as required, no `const`, `unsafe`,
/// `extern`, generics or variadics, and `&self` first.
pub(crate) fn common(sig: &Signature, attr: MethodAttr, want_async: bool, errors: &mut Errors) {
    let name = attr.name();
    match (&sig.asyncness, want_async) {
        (None, true) => errors.at(
            sig.fn_token,
            format!("`#[{name}]` methods must be `async fn`"),
        ),
        (Some(token), false) => {
            errors.at(token, format!("`#[{name}]` methods must not be `async`"))
        }
        _ => {}
    }
    if let Some(token) = &sig.constness {
        errors.at(token, format!("`#[{name}]` methods cannot be `const`"));
    }
    if let Some(token) = &sig.unsafety {
        errors.at(token, format!("`#[{name}]` methods cannot be `unsafe`"));
    }
    if let Some(abi) = &sig.abi {
        errors.at(abi, format!("`#[{name}]` methods cannot be `extern`"));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.at(
            &sig.generics,
            format!("`#[{name}]` methods cannot be generic"),
        );
    }
    if let Some(variadic) = &sig.variadic {
        errors.at(variadic, format!("`#[{name}]` methods cannot be variadic"));
    }
    match sig.inputs.first() {
        Some(FnArg::Receiver(receiver))
            if receiver.reference.is_some()
                && receiver.mutability.is_none()
                && receiver.colon_token.is_none() => {}
        Some(FnArg::Receiver(receiver)) => {
            let found = if receiver.colon_token.is_some() {
                "a typed `self`"
            } else if receiver.reference.is_some() {
                "`&mut self`"
            } else {
                "`self` by value"
            };
            errors.at(
                receiver,
                format!("`#[{name}]` methods must take `&self`, not {found}"),
            );
        }
        Some(FnArg::Typed(arg)) => errors.at(
            arg,
            format!("`#[{name}]` methods must take `&self` as their first parameter"),
        ),
        None => errors.at_span(
            sig.paren_token.span.join(),
            format!("`#[{name}]` methods must take `&self` as their first parameter"),
        ),
    }
}

/// How a parameter type relates to `Context`.
enum ContextKind {
    /// `Context` (any path ending in it).
    ByValue,
    /// `&Context` or `&mut Context`.
    ByRef,
    /// Anything else: the params.
    No,
}

fn context_kind(ty: &Type) -> ContextKind {
    match ty {
        Type::Reference(r) if is_context(&r.elem) => ContextKind::ByRef,
        ty if is_context(ty) => ContextKind::ByValue,
        _ => ContextKind::No,
    }
}

fn is_context(ty: &Type) -> bool {
    match ty {
        Type::Path(p) if p.qself.is_none() => p
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == "Context" && s.arguments.is_none()),
        Type::Paren(p) => is_context(&p.elem),
        Type::Group(g) => is_context(&g.elem),
        _ => false,
    }
}
