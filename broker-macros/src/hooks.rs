//! Service hooks, Moleculer's `hooks: {before, after, error}`, as method attributes:
//! `#[before("create|update")]`, `#[after("*")]`, `#[error("fail")]` (bare `#[before]` means
//! `"*"`). The pattern is checked at compile time, including that a plain action name (no
//! wildcard) names an action of the service; the method becomes a closure registered with
//! `ServiceSchema::before`, `after` or `error`.

use crate::attr::{Errors, MethodAttr};
use crate::expand::{async_block, send_method_call, Convert};
use crate::model::Action;
use crate::signature::{self, HookSig};
use crate::suggest;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprLit, Lit, LitStr, Meta, Signature, Token};

/// One `#[before]`, `#[after]` or `#[error]` method.
pub(crate) struct ServiceHook {
    /// `Before`, `After` or `Error`.
    kind: MethodAttr,
    /// The actions it applies to: `"*"`, `"create"`, `"get*|list"`.
    pattern: LitStr,
    /// The method.
    sig: HookSig,
}

/// Checks a hook method and its attribute.
pub(crate) fn parse(
    a: &Attribute,
    sig: &Signature,
    kind: MethodAttr,
    errors: &mut Errors,
) -> Option<ServiceHook> {
    let pattern = pattern_arg(a, kind, errors);
    let sig = signature::service_hook(sig, kind, errors);
    Some(ServiceHook {
        kind,
        pattern: pattern?,
        sig: sig?,
    })
}

/// `#[before]` (every action), `#[before("pattern")]`.
fn pattern_arg(a: &Attribute, kind: MethodAttr, errors: &mut Errors) -> Option<LitStr> {
    let name = kind.name();
    let example = format!("`#[{name}(\"create|update\")]`");
    let list = match &a.meta {
        Meta::Path(path) => return Some(LitStr::new("*", path.span())),
        Meta::NameValue(pair) => {
            errors.at(
                pair.eq_token,
                format!("expected `#[{name}]` (every action) or `#[{name}(\"pattern\")]`"),
            );
            return None;
        }
        Meta::List(list) => list,
    };
    let parser = Punctuated::<Expr, Token![,]>::parse_terminated;
    let exprs = errors.ok(parser.parse2(list.tokens.clone()))?;
    let mut exprs = exprs.iter();
    let Some(first) = exprs.next() else {
        return Some(LitStr::new("*", list.span()));
    };
    let before = errors.count();
    if let Some(second) = exprs.next() {
        errors.at(
            second,
            format!(
                "`#[{name}]` takes a single pattern; join several action names with `|`, as in \
                 {example}"
            ),
        );
    }
    let pattern = match first {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit),
            attrs,
        }) if attrs.is_empty() => lit.clone(),
        Expr::Assign(assign) => {
            errors.at(
                &assign.left,
                format!(
                    "unknown key in `#[{name}(...)]`: write the pattern alone, as in {example}"
                ),
            );
            return None;
        }
        other => {
            errors.at(
                other,
                format!("`#[{name}]` expects a pattern string literal, as in {example}"),
            );
            return None;
        }
    };
    check_pattern(&pattern, errors);
    (errors.count() == before).then_some(pattern)
}

/// A pattern is one or more `|`-separated parts, each made of action-name characters and the
/// wildcards `*` and `?`.
fn check_pattern(lit: &LitStr, errors: &mut Errors) {
    let value = lit.value();
    if value.is_empty() {
        errors.at(
            lit,
            "a hook pattern must not be empty; \"*\" matches every action",
        );
        return;
    }
    for part in value.split('|') {
        if part.is_empty() {
            errors.at(
                lit,
                format!("hook pattern \"{value}\" has an empty alternative between `|`s"),
            );
            return;
        }
        let valid = |c: char| c.is_alphanumeric() || "_-.$*?".contains(c);
        if let Some(c) = part.chars().find(|c| !valid(*c)) {
            errors.at(
                lit,
                format!(
                    "invalid character {c:?} in hook pattern \"{value}\": use action names, the \
                     wildcards `*` and `?`, and `|` between alternatives"
                ),
            );
            return;
        }
    }
}

/// The typo guard: every part of a pattern without wildcards must name one of `actions`.
pub(crate) fn check_names(hooks: &[ServiceHook], actions: &[Action], errors: &mut Errors) {
    let names: Vec<String> = actions.iter().map(|a| a.name.value()).collect();
    let renamed = |part: &str| {
        actions
            .iter()
            .find(|a| a.handler.ident.unraw() == part)
            .map(|a| {
                format!(
                    "did you mean `{}`? (the action name, not the method's)",
                    a.name.value()
                )
            })
    };
    for hook in hooks {
        let value = hook.pattern.value();
        let unknown = value
            .split('|')
            .filter(|part| !part.contains(['*', '?']))
            .filter(|part| !names.iter().any(|n| n == part));
        for part in unknown {
            errors.at(
                &hook.pattern,
                format!(
                    "no action named `{part}` in this service; {}",
                    renamed(part).unwrap_or_else(|| suggestion(part, &names))
                ),
            );
        }
    }
}

/// "did you mean `x`?", or the list of actions.
fn suggestion(unknown: &str, names: &[String]) -> String {
    match suggest::closest(unknown, names.iter().map(String::as_str)) {
        Some(name) => format!("did you mean `{name}`?"),
        None if names.is_empty() => "it has no actions".to_owned(),
        None => {
            let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            format!("its actions are {}", list.join(", "))
        }
    }
}

impl ServiceHook {
    /// The method, for its `#[cfg]` attributes.
    pub(crate) fn ident(&self) -> &syn::Ident {
        &self.sig.ident
    }

    /// `let __broker_schema = ServiceSchema::before(__broker_schema, pattern, closure);` (or
    /// `after`, `error`): per call, clone the service into an `async move` block that reads the
    /// result or error into the method's parameter type, awaits the method and converts its
    /// output.
    pub(crate) fn expand(&self, cfgs: TokenStream) -> TokenStream {
        let private = quote!(::broker_core::__private);
        let ident = &self.sig.ident;
        let ctx_pat = if self.sig.takes_ctx {
            quote!(__broker_ctx)
        } else {
            quote!(_)
        };
        let ctx = self.sig.takes_ctx.then(|| quote!(__broker_ctx,));
        let (setter, convert, input_ty) = match self.kind {
            MethodAttr::Before => (quote!(before), Convert::Before, None),
            MethodAttr::After => (
                quote!(after),
                Convert::HookValue,
                Some(quote!(#private::Value)),
            ),
            _ => (
                quote!(error),
                Convert::HookValue,
                Some(quote!(#private::Error)),
            ),
        };
        let input_pat = input_ty.map(|ty| quote!(, __broker_input: #ty));
        let read = self.sig.input.as_ref().map(|ty| match self.kind {
            // Spanned on the user's type: a type that does not deserialize, or does not
            // convert from `Error`, is reported there.
            MethodAttr::After => {
                let from_value = quote_spanned!(ty.span()=>
                    #private::serde_json::from_value::<#ty>
                );
                quote! {
                    let __broker_input = match #from_value(__broker_input) {
                        ::core::result::Result::Ok(__broker_value) => __broker_value,
                        ::core::result::Result::Err(__broker_err) => {
                            return ::core::result::Result::Err(
                                <#private::Error as ::core::convert::From<
                                    #private::serde_json::Error,
                                >>::from(__broker_err),
                            );
                        }
                    };
                }
            }
            _ => {
                let from = quote_spanned!(ty.span()=>
                    <#ty as ::core::convert::From<#private::Error>>::from
                );
                quote!(let __broker_input = #from(__broker_input);)
            }
        });
        let input = read.as_ref().map(|_| quote!(__broker_input));
        let convert = convert.call(&self.sig.output, quote!(__broker_out));
        let call = send_method_call(ident, quote!(&*__broker_this, #ctx #input));
        let future = async_block(
            ident,
            quote! {
                #read
                let __broker_out = #call.await;
                #convert
            },
        );
        let body = quote! {
            let __broker_this = ::core::clone::Clone::clone(&__broker_this);
            #future
        };
        let pattern = &self.pattern;
        // Spanned on the method's name: a bound of this call that fails is reported there.
        let call = quote_spanned! {ident.span()=>
            #private::ServiceSchema::#setter(
                __broker_schema,
                #pattern,
                move |#ctx_pat: #private::Context #input_pat| { #body },
            )
        };
        quote! {
            #cfgs
            let __broker_schema = {
                let __broker_this = ::core::clone::Clone::clone(&self);
                #call
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::suggestion;

    #[test]
    fn suggestions() {
        let names = vec!["create".to_owned(), "list".to_owned()];
        assert_eq!(suggestion("crate", &names), "did you mean `create`?");
        assert_eq!(
            suggestion("remove", &names),
            "its actions are `create`, `list`"
        );
        assert_eq!(suggestion("x", &[]), "it has no actions");
    }
}
