//! Typed clients: the `<Name>Client` struct `#[service]` generates next to a service, and the one
//! `#[client]` generates from a trait describing a service that lives elsewhere. Both are one
//! model, [`ClientModel`], expanded by [`expand`]: a struct holding a `broker_core::Caller`,
//! builder methods for call options, one async method per action and typed emitters for the
//! events declared with `#[emits(...)]`.

use crate::attr::{self, Errors, IntOrStr, MethodAttr};
use crate::model::ServiceModel;
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::parse::{Parse, ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{
    Attribute, Expr, FnArg, Ident, ImplItem, ItemImpl, ItemTrait, LitStr, ReturnType, Token,
    TraitItem, Type, Visibility,
};

/// The methods every client has; an action or emitter may not take their names.
const RESERVED: &[&str] = &[
    "new",
    "from_context",
    "with_options",
    "with_timeout",
    "with_node",
    "with_meta",
    "with_headers",
    "with_retries",
    "caller",
];

/// `client = false` or `client = "Name"` in `#[service(...)]`.
pub(crate) enum ClientKey {
    /// `client = false`: no client.
    Off,
    /// `client = "Name"`: the client's name.
    Named(Ident),
}

/// Parses the `client` key of `#[service(...)]`.
pub(crate) fn service_key(arg: &attr::Arg) -> syn::Result<ClientKey> {
    let value = arg.expr()?;
    if let Expr::Lit(syn::ExprLit { lit, .. }) = value {
        match lit {
            syn::Lit::Bool(b) if !b.value => return Ok(ClientKey::Off),
            syn::Lit::Str(s) => {
                if let Ok(ident) = s.parse::<Ident>() {
                    return Ok(ClientKey::Named(ident));
                }
            }
            _ => {}
        }
    }
    Err(syn::Error::new_spanned(
        value,
        "`client` expects `false` (no client) or the client type's name, `\"MyClient\"`",
    ))
}

/// One event a service declares it emits: `#[emits(name = "user.created", payload = User)]`.
pub(crate) struct Emit {
    name: LitStr,
    payload: Type,
    /// `emit_<method>` and `broadcast_<method>`.
    method: String,
    method_span: Span,
}

/// One action of a client.
struct ClientAction {
    /// The client's method, spanned on the user's method name.
    method: Ident,
    /// The action's name within the service.
    action: String,
    params: Option<Type>,
    /// The success type of the result.
    ok: TokenStream,
    /// The return type of the client method.
    output: TokenStream,
    /// Whether the result's error converts from `broker_core::Error` (`#[client]` traits).
    convert_error: bool,
    docs: Vec<Expr>,
    cfgs: Vec<Attribute>,
}

/// Everything a client is generated from.
pub(crate) struct ClientModel {
    vis: Visibility,
    ident: Ident,
    /// The full name of the service: `v2.math`.
    service: String,
    actions: Vec<ClientAction>,
    emits: Vec<Emit>,
    /// What the struct's docs point at (`[`Greeter`]`), if anything.
    origin: Option<String>,
}

/// The full name of a service: `v2.name`, `staging.name` or `name`.
fn full_name(name: &LitStr, version: Option<&IntOrStr>) -> String {
    let name = name.value();
    match version {
        Some(IntOrStr::Int(_, n)) => format!("v{n}.{name}"),
        Some(IntOrStr::Str(s)) => format!("{}.{name}", s.value()),
        None => name,
    }
}

/// Strips the `#[emits(...)]` attributes off a service's impl block or a client trait, and
/// parses them.
pub(crate) fn take_emits(attrs: &mut Vec<Attribute>, errors: &mut Errors) -> Vec<Emit> {
    let mut emits: Vec<Emit> = Vec::new();
    attrs.retain(|a| {
        if !a.path().is_ident("emits") {
            return true;
        }
        let parsed = match &a.meta {
            syn::Meta::List(list) => EmitArgs::parse.parse2(list.tokens.clone()),
            _ => Err(syn::Error::new_spanned(
                a,
                "expected `#[emits(name = \"user.created\", payload = User)]`",
            )),
        };
        match parsed.and_then(|args| args.into_emit(a)) {
            Ok(emit) => {
                if emits.iter().any(|e| e.name.value() == emit.name.value()) {
                    errors.at(&emit.name, "this event is already declared");
                } else {
                    emits.push(emit);
                }
            }
            Err(err) => errors.push(err),
        }
        false
    });
    emits
}

/// The keys of `#[emits(...)]`, parsed by hand: `payload` is a type, not an expression.
#[derive(Default)]
struct EmitArgs {
    name: Option<LitStr>,
    payload: Option<Type>,
    method: Option<LitStr>,
}

impl Parse for EmitArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<EmitArgs> {
        let mut args = EmitArgs::default();
        while !input.is_empty() {
            let key: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            let duplicate = || syn::Error::new(key.span(), format!("duplicate key `{key}`"));
            match key.to_string().as_str() {
                "name" if args.name.is_some() => return Err(duplicate()),
                "name" => args.name = Some(input.parse()?),
                "payload" if args.payload.is_some() => return Err(duplicate()),
                "payload" => args.payload = Some(input.parse()?),
                "method" if args.method.is_some() => return Err(duplicate()),
                "method" => args.method = Some(input.parse()?),
                _ => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!(
                            "unknown key `{key}` in `#[emits(...)]`; valid keys: `name`, \
                             `payload`, `method`"
                        ),
                    ))
                }
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}

impl EmitArgs {
    fn into_emit(self, a: &Attribute) -> syn::Result<Emit> {
        let name = self.name.ok_or_else(|| {
            syn::Error::new_spanned(a, "missing `name = \"...\"` (the event's name)")
        })?;
        let payload = self.payload.ok_or_else(|| {
            syn::Error::new_spanned(a, "missing `payload = Type` (the event's payload type)")
        })?;
        let (method, method_span) = match &self.method {
            Some(lit) => match lit.parse::<Ident>() {
                Ok(ident) => (ident.to_string(), lit.span()),
                Err(_) => {
                    return Err(syn::Error::new(
                        lit.span(),
                        "`method` expects an identifier, `\"created\"`",
                    ))
                }
            },
            None => {
                let snake = snake(&name.value());
                if snake.is_empty() {
                    return Err(syn::Error::new(
                        name.span(),
                        "no method name can be made of this event name; give one with \
                         `method = \"...\"`",
                    ));
                }
                (snake, name.span())
            }
        };
        Ok(Emit {
            name,
            payload,
            method,
            method_span,
        })
    }
}

/// `user.created` → `user_created`: lowercase ASCII letters and digits, runs of anything else
/// one `_`, none at either end.
fn snake(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_owned()
}

/// The client of a valid service: `None` with `client = false`, for a generic impl block (its
/// params types may name the parameters) or a self type that is not a plain path.
pub(crate) fn from_service(
    item: &ItemImpl,
    model: &ServiceModel,
    key: Option<&ClientKey>,
    emits: Vec<Emit>,
    errors: &mut Errors,
) -> Option<ClientModel> {
    let Type::Path(self_ty) = &*item.self_ty else {
        return None;
    };
    let type_ident = &self_ty.path.segments.last()?.ident;
    let ident = match key {
        Some(ClientKey::Off) => return None,
        Some(ClientKey::Named(ident)) => ident.clone(),
        None => format_ident!("{}Client", type_ident),
    };
    if !item.generics.params.is_empty() {
        return None;
    }
    let actions = model
        .actions
        .iter()
        .filter(|a| a.visibility.as_ref().is_none_or(|v| *v != "Private"))
        .map(|a| ClientAction {
            method: a.handler.ident.clone(),
            action: a.name.value(),
            params: a.handler.params.clone(),
            ok: ok_type(&a.handler.output),
            output: {
                let ok = ok_type(&a.handler.output);
                quote!(::core::result::Result<#ok, ::broker_core::Error>)
            },
            convert_error: false,
            docs: a.docs.clone(),
            cfgs: cfgs(item, &a.handler.ident),
        })
        .collect();
    let client = ClientModel {
        vis: syn::parse_quote!(pub),
        ident,
        service: full_name(&model.name, model.version.as_ref()),
        actions,
        emits,
        origin: Some(type_ident.to_string()),
    };
    let before = errors.count();
    client.check_names(errors, "this service", "`#[service(client = false)]`");
    (errors.count() == before).then_some(client)
}

/// The `#[cfg(...)]` attributes of a method of the impl block.
fn cfgs(item: &ItemImpl, method: &Ident) -> Vec<Attribute> {
    item.items
        .iter()
        .find_map(|i| match i {
            ImplItem::Fn(f) if f.sig.ident == *method => Some(&f.attrs),
            _ => None,
        })
        .into_iter()
        .flatten()
        .filter(|a| a.path().is_ident("cfg"))
        .cloned()
        .collect()
}

/// The success type of a return type: `T` of `Result<T, E>` written so (with any path), else
/// the `Ok` of the `ActionOk` projection (a type alias of `Result`); `Value` for `impl Trait`.
fn ok_type(output: &ReturnType) -> TokenStream {
    let ReturnType::Type(_, ty) = output else {
        return quote!(());
    };
    if mentions_impl(ty.to_token_stream()) {
        return quote!(::broker_core::__private::Value);
    }
    if let Type::Path(p) = &**ty {
        if let Some(last) = p.path.segments.last() {
            if let syn::PathArguments::AngleBracketed(args) = &last.arguments {
                if last.ident == "Result" {
                    if let Some(syn::GenericArgument::Type(ok)) = args.args.first() {
                        return ok.to_token_stream();
                    }
                }
            }
        }
    }
    quote!(<#ty as ::broker_core::__private::ActionOk>::Ok)
}

fn mentions_impl(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|tree| match tree {
        proc_macro2::TokenTree::Ident(ident) => ident == "impl",
        proc_macro2::TokenTree::Group(group) => mentions_impl(group.stream()),
        _ => false,
    })
}

impl ClientModel {
    /// Reports client methods whose names clash with the client's own methods or each other.
    fn check_names(&self, errors: &mut Errors, origin: &str, opt_out: &str) {
        let mut seen: Vec<String> = Vec::new();
        let mut check = |ident: &Ident, what: &str| {
            let name = ident.to_string();
            let name = name.trim_start_matches("r#").to_owned();
            if RESERVED.contains(&name.as_str()) {
                errors.at(
                    ident,
                    format!(
                        "the client `{}` generated for {origin} has a method `{name}` of its \
                         own; rename {what} (`#[action(name = \"...\")]` keeps the action's \
                         name) or opt out with {opt_out}",
                        self.ident
                    ),
                );
            } else if seen.contains(&name) {
                errors.at(
                    ident,
                    format!(
                        "the client `{}` would have two methods `{name}`",
                        self.ident
                    ),
                );
            }
            seen.push(name);
        };
        for action in &self.actions {
            check(&action.method, "this method");
        }
        for emit in &self.emits {
            for prefix in ["emit", "broadcast"] {
                let ident = Ident::new(&format!("{prefix}_{}", emit.method), emit.method_span);
                check(&ident, "the event's method");
            }
        }
    }
}

/// `#[client(name = "math", version = 2)]` on a trait: the trait is consumed and `MathClient`
/// generated from its `async fn` declarations.
pub(crate) fn client_trait(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let mut item_trait = match syn::parse2::<ItemTrait>(item.clone()) {
        Ok(t) => t,
        Err(_) => {
            errors.at_span(
                Span::call_site(),
                "`#[client]` must be used on a trait declaring the actions, such as \
                 `trait Math { async fn add(&self, p: AddParams) -> Result<i64, Error>; }`",
            );
            let errors = errors.into_compile_errors();
            return quote!(#item #errors);
        }
    };
    let mut name = None;
    let mut version = None;
    if let Some(args) = attr::parse_args(args, "#[client(...)]", &["name", "version"], &mut errors)
    {
        if !args.given("name") {
            errors.at_span(
                Span::call_site(),
                "missing service name: write `#[client(name = \"...\")]`",
            );
        }
        for arg in &args.list {
            match arg.key.to_string().as_str() {
                "name" => name = errors.ok(attr::string(arg)),
                _ => version = errors.ok(attr::int_or_string(arg)),
            }
        }
    }
    let emits = take_emits(&mut item_trait.attrs, &mut errors);
    let mut actions = Vec::new();
    for trait_item in &mut item_trait.items {
        match trait_item {
            TraitItem::Fn(f) => {
                if let Some(action) = trait_method(f, &mut errors) {
                    actions.push(action);
                }
            }
            other => errors.at(
                &*other,
                "a `#[client]` trait declares only `async fn` methods, one per action",
            ),
        }
    }
    let ident = format_ident!("{}Client", item_trait.ident);
    let (Some(name), true) = (name, errors.is_empty()) else {
        return errors.into_compile_errors();
    };
    let model = ClientModel {
        vis: item_trait.vis.clone(),
        ident,
        service: full_name(&name, version.as_ref()),
        actions,
        emits,
        origin: None,
    };
    model.check_names(&mut errors, "this trait", "another trait name");
    let docs = item_trait
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc") || a.path().is_ident("cfg"));
    let client = expand(&model, quote!(#(#docs)*));
    let errors = errors.into_compile_errors();
    quote!(#client #errors)
}

/// One method of a `#[client]` trait: `async fn add(&self, p: AddParams) -> Result<i64, E>`
/// with an optional `#[action(name = "...")]`.
fn trait_method(f: &mut syn::TraitItemFn, errors: &mut Errors) -> Option<ClientAction> {
    let before = errors.count();
    let mut action = f.sig.ident.to_string().trim_start_matches("r#").to_owned();
    let mut docs = Vec::new();
    let mut cfgs = Vec::new();
    for a in &f.attrs {
        if a.path().is_ident("doc") {
            if let syn::Meta::NameValue(nv) = &a.meta {
                docs.push(nv.value.clone());
            }
        } else if a.path().is_ident("cfg") {
            cfgs.push(a.clone());
        } else if MethodAttr::of(a) == Some(MethodAttr::Action) {
            let tokens = attr::attr_args(a, errors).unwrap_or_default();
            if let Some(args) = attr::parse_args(tokens, "#[action(...)]", &["name"], errors) {
                for arg in &args.list {
                    if let Some(lit) = errors.ok(attr::string(arg)) {
                        action = lit.value();
                    }
                }
            }
        } else {
            errors.at(
                a,
                "only `#[action(name = \"...\")]`, doc comments and `#[cfg]` go on the methods \
                 of a `#[client]` trait",
            );
        }
    }
    let sig = &f.sig;
    if sig.asyncness.is_none() {
        errors.at(sig.fn_token, "`#[client]` methods must be `async fn`");
    }
    if let Some(body) = &f.default {
        errors.at_span(
            body.brace_token.span.join(),
            "`#[client]` methods have no body: the generated client calls the action",
        );
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.at(&sig.generics, "`#[client]` methods cannot be generic");
    }
    match sig.inputs.first() {
        Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none() => {}
        _ => errors.at_span(
            sig.paren_token.span.join(),
            "`#[client]` methods take `&self`, then optionally the action's params",
        ),
    }
    let mut params = None;
    for (index, input) in sig.inputs.iter().skip(1).enumerate() {
        match input {
            FnArg::Typed(arg) if index == 0 => params = Some((*arg.ty).clone()),
            _ => errors.at(
                input,
                "an action takes one params argument; gather the fields in one struct",
            ),
        }
    }
    if matches!(sig.output, ReturnType::Default) {
        errors.at(
            &sig.ident,
            "a `#[client]` method returns the action's result: `Result<T, Error>`",
        );
    }
    let output = match &sig.output {
        ReturnType::Type(_, ty) => ty.to_token_stream(),
        ReturnType::Default => quote!(()),
    };
    (errors.count() == before).then(|| ClientAction {
        method: sig.ident.clone(),
        action,
        params,
        ok: ok_type(&sig.output),
        output,
        convert_error: true,
        docs,
        cfgs,
    })
}

/// The client struct, its builder methods, one method per action, two emitters per declared
/// event, and its `Client` impl.
pub(crate) fn expand(model: &ClientModel, attrs: TokenStream) -> TokenStream {
    let ClientModel {
        vis,
        ident,
        service,
        ..
    } = model;
    let doc = match &model.origin {
        Some(origin) => format!(
            "A typed client of the `{service}` service ([`{origin}`]): one method per action, \
             checked by the compiler. Make one with `new(&broker)`, or from a handler with \
             `ctx.client::<{ident}>()`."
        ),
        None => format!(
            "A typed client of the `{service}` service: one method per action, checked by the \
             compiler. Make one with `new(&broker)`, or from a handler with \
             `ctx.client::<{ident}>()`."
        ),
    };
    let actions = model.actions.iter().map(|a| action_method(service, a));
    let emits = model.emits.iter().map(emit_methods);
    let private = quote!(::broker_core::__private);
    quote! {
        #attrs
        #[doc = #doc]
        #[derive(::core::clone::Clone, ::core::fmt::Debug)]
        #[allow(dead_code, unreachable_pub)]
        #vis struct #ident {
            __broker_caller: #private::Caller,
        }

        #[allow(dead_code, unreachable_pub, private_interfaces, private_bounds)]
        impl #ident {
            /// The full name of the service it calls.
            pub const SERVICE: &'static str = #service;

            /// A client calling from `broker`.
            pub fn new(broker: &#private::Broker) -> Self {
                Self { __broker_caller: #private::Caller::new(broker) }
            }

            /// A client calling as children of `ctx` (meta, level, request ID and the
            /// remaining timeout carry over, as for `ctx.call`).
            pub fn from_context(ctx: &#private::Context) -> Self {
                Self { __broker_caller: #private::Caller::from_context(ctx) }
            }

            /// Replaces the options of every call.
            pub fn with_options(self, options: #private::CallOptions) -> Self {
                Self { __broker_caller: self.__broker_caller.with_options(options) }
            }

            /// Sets the timeout of every call.
            pub fn with_timeout(self, timeout: #private::Duration) -> Self {
                Self { __broker_caller: self.__broker_caller.with_timeout(timeout) }
            }

            /// Sends every call to this node.
            pub fn with_node(self, node_id: impl ::core::convert::Into<::std::string::String>) -> Self {
                Self { __broker_caller: self.__broker_caller.with_node(node_id) }
            }

            /// Adds this meta (a JSON object) to every call and emit.
            pub fn with_meta(self, meta: #private::Value) -> Self {
                Self { __broker_caller: self.__broker_caller.with_meta(meta) }
            }

            /// Sends these headers (a JSON object) with every call and emit.
            pub fn with_headers(self, headers: #private::Value) -> Self {
                Self { __broker_caller: self.__broker_caller.with_headers(headers) }
            }

            /// Retries failed calls this many times.
            pub fn with_retries(self, retries: u32) -> Self {
                Self { __broker_caller: self.__broker_caller.with_retries(retries) }
            }

            /// What the calls go through, with their options.
            pub fn caller(&self) -> &#private::Caller {
                &self.__broker_caller
            }

            #(#actions)*
            #(#emits)*
        }

        impl #private::Client for #ident {
            const SERVICE: &'static str = #service;

            fn from_caller(caller: #private::Caller) -> Self {
                Self { __broker_caller: caller }
            }
        }
    }
}

/// `pub async fn hello(&self, params: P) -> Result<T, Error>`, spanned on the user's method
/// so that a wrong call's "method defined here" note shows the action.
fn action_method(service: &str, action: &ClientAction) -> TokenStream {
    let ClientAction {
        method,
        ok,
        output,
        docs,
        cfgs,
        ..
    } = action;
    let full = format!("{service}.{}", action.action);
    let private = quote!(::broker_core::__private);
    let doc = format!("Calls `{full}`.");
    let docs = if docs.is_empty() {
        quote!(#[doc = #doc])
    } else {
        quote!(#(#[doc = #docs])*)
    };
    let convert = action
        .convert_error
        .then(|| quote!(.map_err(::core::convert::Into::into)));
    let reply_bound = quote_spanned!(ok.span()=> for<'__broker> #ok: #private::ClientReply);
    let (param, call, params_bound) = match &action.params {
        Some(ty) => (
            quote!(, params: #ty),
            quote!(self.__broker_caller.call::<#ty, #ok>(#full, params)),
            Some(quote_spanned!(ty.span()=> for<'__broker> #ty: #private::ClientParams,)),
        ),
        None => (
            TokenStream::new(),
            quote!(self.__broker_caller.call_without_params::<#ok>(#full)),
            None,
        ),
    };
    let sig = quote_spanned! {method.span()=>
        pub async fn #method(&self #param) -> #output
    };
    quote! {
        #(#cfgs)*
        #docs
        #[allow(clippy::extra_unused_lifetimes)]
        #sig
        where
            #params_bound
            #reply_bound,
        {
            #call.await #convert
        }
    }
}

/// `emit_<event>` and `broadcast_<event>`.
fn emit_methods(emit: &Emit) -> TokenStream {
    let Emit {
        name,
        payload,
        method,
        method_span,
    } = emit;
    let private = quote!(::broker_core::__private);
    let emit_fn = Ident::new(&format!("emit_{method}"), *method_span);
    let broadcast_fn = Ident::new(&format!("broadcast_{method}"), *method_span);
    let emit_doc = format!(
        "Emits `{}` (one handler per group across the cluster).",
        name.value()
    );
    let broadcast_doc = format!("Broadcasts `{}` to every handler.", name.value());
    let bound = quote_spanned!(payload.span()=> for<'__broker> #payload: #private::ClientPayload);
    quote! {
        #[doc = #emit_doc]
        #[allow(clippy::extra_unused_lifetimes)]
        pub async fn #emit_fn(&self, payload: #payload) -> ::core::result::Result<(), #private::Error>
        where
            #bound,
        {
            self.__broker_caller.emit(#name, payload).await
        }

        #[doc = #broadcast_doc]
        #[allow(clippy::extra_unused_lifetimes)]
        pub async fn #broadcast_fn(&self, payload: #payload) -> ::core::result::Result<(), #private::Error>
        where
            #bound,
        {
            self.__broker_caller.broadcast(#name, payload).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::snake;

    #[test]
    fn event_names_become_method_names() {
        assert_eq!(snake("user.created"), "user_created");
        assert_eq!(snake("$node.Connected"), "node_connected");
        assert_eq!(snake("a--b..c."), "a_b_c");
        assert_eq!(snake("..."), "");
    }
}
