//! The handler options of `#[action(...)]` and `#[event(...)]` that configure broker-core
//! middleware: `bulkhead(concurrency = 2, max_queue_size = 10)` and
//! `strategy = "Shard", shard_key = "user.id"`. Checked at compile time, emitted as the builder
//! calls of `ActionDef`/`EventDef` constructing the options directly.

use crate::attr::{self, Arg, ArgValue, Errors};
use proc_macro2::{Literal, Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::LitStr;

const BULKHEAD_KEYS: &[&str] = &["concurrency", "max_queue_size"];
const STRATEGIES: &[&str] = &["RoundRobin", "Random", "CpuUsage", "Latency", "Shard"];

/// `bulkhead(concurrency = .., max_queue_size = ..)`; absent keys keep
/// `BulkheadOptions::default()`'s values.
#[derive(Default)]
pub(crate) struct Bulkhead {
    /// `concurrency = n` (greater than zero).
    concurrency: Option<(u32, Span)>,
    /// `max_queue_size = n`.
    max_queue_size: Option<(u32, Span)>,
}

/// Parses the `bulkhead(...)` argument.
pub(crate) fn bulkhead(arg: &Arg, errors: &mut Errors) -> Option<Bulkhead> {
    let ArgValue::List(list) = &arg.value else {
        errors.at(
            &arg.key,
            "expected `bulkhead(concurrency = 10, max_queue_size = 100)` (both keys optional)",
        );
        return None;
    };
    let before = errors.count();
    let mut out = Bulkhead::default();
    let args = attr::parse_args(list.tokens.clone(), "bulkhead(...)", BULKHEAD_KEYS, errors)?;
    for arg in args.list {
        let Some((n, span)) = errors.ok(attr::int(&arg)) else {
            continue;
        };
        if arg.key == "concurrency" {
            if n == 0 {
                errors.at_span(span, "`concurrency` must be greater than zero");
            }
            out.concurrency = Some((n, span));
        } else {
            out.max_queue_size = Some((n, span));
        }
    }
    (errors.count() == before).then_some(out)
}

impl Bulkhead {
    /// `.bulkhead(BulkheadOptions { .. })`.
    pub(crate) fn setter(&self) -> TokenStream {
        let field = |name: &str, value: Option<(u32, Span)>| {
            value.map(|(n, span)| {
                let ident = syn::Ident::new(name, span);
                let mut lit = Literal::u32_unsuffixed(n);
                lit.set_span(span);
                quote!(#ident: #lit,)
            })
        };
        let concurrency = field("concurrency", self.concurrency);
        let max_queue_size = field("max_queue_size", self.max_queue_size);
        // Not when both are given, which `clippy::needless_update` would flag in user code.
        let rest = (concurrency.is_none() || max_queue_size.is_none())
            .then(|| quote!(..::core::default::Default::default()));
        quote! {
            .bulkhead(::broker_core::middleware::BulkheadOptions {
                #concurrency
                #max_queue_size
                #rest
            })
        }
    }
}

/// `strategy = "..."` with, for `Shard`, an optional `shard_key = "..."`.
pub(crate) struct Strategy {
    /// The strategy's name, one of [`STRATEGIES`].
    name: LitStr,
    /// `shard_key = "..."`.
    shard_key: Option<LitStr>,
}

/// Parses `strategy` and `shard_key` (either may be absent); `shard_key` needs
/// `strategy = "Shard"`. `None` when neither is given or something is wrong.
pub(crate) fn strategy(
    strategy: Option<&Arg>,
    shard_key: Option<&Arg>,
    errors: &mut Errors,
) -> Option<Strategy> {
    let name = strategy.and_then(|arg| errors.ok(attr::string(arg)));
    if let Some(lit) = &name {
        let value = lit.value();
        if !STRATEGIES.contains(&value.as_str()) {
            let hint = STRATEGIES
                .iter()
                .find(|s| s.eq_ignore_ascii_case(&value))
                .map(|s| format!(" (did you mean \"{s}\"?)"))
                .unwrap_or_default();
            errors.at(
                lit,
                format!(
                    "unknown strategy \"{value}\"{hint}; expected \"RoundRobin\", \"Random\", \
                     \"CpuUsage\", \"Latency\" or \"Shard\""
                ),
            );
            return None;
        }
    }
    let key = shard_key.and_then(|arg| errors.ok(attr::string(arg)));
    if let Some(arg) = shard_key {
        if name.as_ref().is_some_and(|n| n.value() != "Shard") || strategy.is_none() {
            errors.at(
                &arg.key,
                "`shard_key` only applies to `strategy = \"Shard\"`",
            );
            return None;
        }
    }
    Some(Strategy {
        name: name?,
        shard_key: key,
    })
}

impl Strategy {
    /// `.strategy(StrategySpec::..)`.
    pub(crate) fn setter(&self) -> TokenStream {
        let span = self.name.span();
        let spec = quote!(::broker_core::StrategySpec);
        let value = match self.name.value().as_str() {
            "RoundRobin" => quote_spanned!(span=> #spec::RoundRobin),
            "Random" => quote_spanned!(span=> #spec::Random),
            "CpuUsage" => {
                quote_spanned!(span=> #spec::CpuUsage(::core::default::Default::default()))
            }
            "Latency" => {
                quote_spanned!(span=> #spec::Latency(::core::default::Default::default()))
            }
            _ => {
                let key = self
                    .shard_key
                    .as_ref()
                    .map(|key| quote!(shard_key: ::core::convert::Into::into(#key),));
                quote_spanned! {span=>
                    #spec::Shard(::broker_core::ShardOptions {
                        #key
                        ..::core::default::Default::default()
                    })
                }
            }
        };
        quote!(.strategy(#value))
    }
}

const TRACING_KEYS: &[&str] = &["enabled", "tags(...)", "span_name"];
const TAG_KEYS: &[&str] = &["params", "meta"];

/// Which params or meta become span tags: `true` (all), `false` (none) or `["a", "b.c"]`.
enum TagSel {
    All,
    Nothing,
    Keys(Vec<LitStr>),
}

/// `tracing = false` or `tracing(enabled = .., tags(params = .., meta = ..), span_name = "..")`.
pub(crate) struct Tracing {
    enabled: bool,
    params: Option<TagSel>,
    meta: Option<TagSel>,
    span_name: Option<LitStr>,
}

fn bool_lit(arg: &Arg) -> syn::Result<bool> {
    match arg.expr()? {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Bool(b),
            ..
        }) => Ok(b.value),
        other => Err(syn::Error::new_spanned(
            other,
            format!("`{}` expects `true` or `false`", arg.key),
        )),
    }
}

fn tag_sel(arg: &Arg, errors: &mut Errors) -> Option<TagSel> {
    if let Ok(b) = bool_lit(arg) {
        return Some(if b { TagSel::All } else { TagSel::Nothing });
    }
    let before = errors.count();
    let keys = attr::string_array(arg, errors);
    (errors.count() == before).then_some(TagSel::Keys(keys))
}

/// Parses the `tracing` argument of `#[action(...)]` or `#[event(...)]`.
pub(crate) fn tracing(arg: &Arg, errors: &mut Errors) -> Option<Tracing> {
    let mut out = Tracing {
        enabled: true,
        params: None,
        meta: None,
        span_name: None,
    };
    let list = match &arg.value {
        ArgValue::Expr(_) => {
            out.enabled = errors.ok(bool_lit(arg))?;
            return Some(out);
        }
        ArgValue::List(list) => list,
    };
    let before = errors.count();
    let args = attr::parse_args(list.tokens.clone(), "tracing(...)", TRACING_KEYS, errors)?;
    for arg in &args.list {
        match arg.key.to_string().as_str() {
            "enabled" => out.enabled = errors.ok(bool_lit(arg)).unwrap_or(true),
            "span_name" => out.span_name = errors.ok(attr::string(arg)),
            _ => {
                let ArgValue::List(tags) = &arg.value else {
                    errors.at(
                        &arg.key,
                        "expected `tags(params = [\"id\"], meta = [\"user.id\"])`",
                    );
                    continue;
                };
                let Some(tag_args) =
                    attr::parse_args(tags.tokens.clone(), "tags(...)", TAG_KEYS, errors)
                else {
                    continue;
                };
                for tag in &tag_args.list {
                    let sel = tag_sel(tag, errors);
                    if tag.key == "params" {
                        out.params = sel;
                    } else {
                        out.meta = sel;
                    }
                }
            }
        }
    }
    (errors.count() == before).then_some(out)
}

impl TagSel {
    fn tokens(&self) -> TokenStream {
        let path = quote!(::broker_core::trace::TagSelect);
        match self {
            TagSel::All => quote!(#path::All),
            TagSel::Nothing => quote!(#path::None),
            TagSel::Keys(keys) => {
                quote!(#path::Keys(::std::vec![#(::std::string::String::from(#keys)),*]))
            }
        }
    }
}

impl Tracing {
    /// `.tracing(TraceSpec { .. })`.
    pub(crate) fn setter(&self) -> TokenStream {
        let enabled = self.enabled;
        let params = self
            .params
            .as_ref()
            .map_or_else(|| TagSel::All.tokens(), TagSel::tokens);
        let meta = self
            .meta
            .as_ref()
            .map_or_else(|| TagSel::Nothing.tokens(), TagSel::tokens);
        let span_name = match &self.span_name {
            Some(name) => quote!(::core::option::Option::Some(::std::string::String::from(#name))),
            None => quote!(::core::option::Option::None),
        };
        quote! {
            .tracing(::broker_core::TraceSpec {
                enabled: #enabled,
                params: #params,
                meta: #meta,
                span_name: #span_name,
            })
        }
    }
}
