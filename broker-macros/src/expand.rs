//! Code generation: the user's impl block (our attributes stripped) followed by the
//! `impl Service` that describes it. Generated code names everything by absolute path and
//! prefixes its own identifiers with `__broker_`, so it compiles under `#![no_implicit_prelude]`
//! and cannot collide with the user's names.

use crate::attr::{Errors, IntOrStr, MethodAttr};
use crate::model::{self, Action, Event, Hook, Provider, ServiceModel};
use crate::rest;
use crate::signature::Handler;
use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{Ident, ImplItem, ItemImpl, LitStr, ReturnType, Type};

/// `#[service(args)]` on `item`.
pub(crate) fn service(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let mut item_impl = match syn::parse2::<ItemImpl>(item.clone()) {
        Ok(item_impl) => item_impl,
        Err(_) => {
            errors.at_span(
                Span::call_site(),
                "`#[service]` must be used on an `impl Type` block",
            );
            let errors = errors.into_compile_errors();
            return quote!(#item #errors);
        }
    };
    let emits = crate::client::take_emits(&mut item_impl.attrs, &mut errors);
    match model::parse(args, &mut item_impl, &mut errors) {
        Some(model) => {
            let service = Generator {
                item: &item_impl,
                model: &model,
            }
            .expand();
            let client = crate::client::from_service(
                &item_impl,
                &model,
                model.client.as_ref(),
                emits,
                &mut errors,
            )
            .map(|c| crate::client::expand(&c, TokenStream::new()));
            let errors = errors.into_compile_errors();
            quote!(#service #client #errors)
        }
        None => {
            let fallback = fallback(&item_impl);
            let errors = errors.into_compile_errors();
            quote!(#item_impl #fallback #errors)
        }
    }
}

/// `#[action]` or `#[event]` outside a `#[service]` block: the item, untouched, and an error.
pub(crate) fn stray(attr: MethodAttr, item: TokenStream) -> TokenStream {
    let message = format!(
        "`#[{}]` must be used on a method inside an `impl` block annotated with `#[service]`",
        attr.name()
    );
    let error = syn::Error::new(Span::call_site(), message).into_compile_error();
    quote!(#item #error)
}

/// A `Service` impl that never runs, emitted next to compile errors so that uses of the type
/// (`broker.add_service(...)`) do not add errors of their own.
fn fallback(item: &ItemImpl) -> TokenStream {
    if item.trait_.is_some() {
        return TokenStream::new();
    }
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();
    let self_ty = &item.self_ty;
    quote! {
        impl #impl_generics ::broker_core::__private::Service for #self_ty #where_clause {
            fn schema(
                self: ::broker_core::__private::Arc<Self>,
            ) -> ::broker_core::__private::ServiceSchema {
                ::core::unreachable!("`#[service]` reported compile errors")
            }
        }
    }
}

/// Emits the code of one valid service.
struct Generator<'a> {
    item: &'a ItemImpl,
    model: &'a ServiceModel,
}

impl Generator<'_> {
    /// The impl block and the `Service` impl.
    fn expand(&self) -> TokenStream {
        let item = self.item;
        let service_impl = self.service_impl();
        quote!(#item #service_impl)
    }

    /// `impl Service for Type { fn schema(...) { ... } }`.
    fn service_impl(&self) -> TokenStream {
        let (impl_generics, _, where_clause) = self.item.generics.split_for_impl();
        let self_ty = &self.item.self_ty;
        let head = self.schema_head();
        let send_check = self.send_check();
        let providers = self.providers();
        let actions = self.model.actions.iter().map(|a| self.action(a));
        let events = self.model.events.iter().map(|e| self.event(e));
        let hooks = self.model.hooks.iter().map(|h| self.hook(h));
        let service_hooks = self
            .model
            .service_hooks
            .iter()
            .map(|h| h.expand(self.cfgs(h.ident())));
        let tasks = self
            .model
            .tasks
            .iter()
            .map(|t| t.expand(self.cfgs(t.ident())));
        quote! {
            impl #impl_generics ::broker_core::__private::Service for #self_ty #where_clause {
                fn schema(
                    self: ::broker_core::__private::Arc<Self>,
                ) -> ::broker_core::__private::ServiceSchema {
                    #send_check
                    #head
                    #providers
                    #(#actions)*
                    #(#events)*
                    #(#hooks)*
                    #(#service_hooks)*
                    #(#tasks)*
                    __broker_schema
                }
            }
        }
    }

    /// `let __broker_schema = ServiceSchema::new(name).version(..).dependency(..)...;`.
    fn schema_head(&self) -> TokenStream {
        let name = &self.model.name;
        let version = self.model.version.as_ref().map(|v| match v {
            IntOrStr::Int(lit, n) => quote_spanned!(lit.span()=> .version(#n)),
            IntOrStr::Str(lit) => quote!(.version(#lit)),
        });
        let dependencies = &self.model.dependencies;
        quote! {
            let __broker_schema = ::broker_core::__private::ServiceSchema::new(#name)
                #version
                #(.dependency(#dependencies))*;
        }
    }

    /// `.settings(Self::settings(&*self))` and the same for metadata.
    fn providers(&self) -> TokenStream {
        let settings = self
            .model
            .settings
            .as_ref()
            .map(|p| self.provider(p, quote!(settings)));
        let metadata = self
            .model
            .metadata
            .as_ref()
            .map(|p| self.provider(p, quote!(metadata)));
        // After `#[settings]`, which replaces the settings: the base path is one of them.
        let rest = (!self.model.rest.is_empty()).then(|| {
            let setters = rest::setters(&self.model.rest);
            quote! {
                let __broker_schema = {
                    let mut __broker_schema = __broker_schema;
                    __broker_schema.settings.remove("rest");
                    __broker_schema #setters
                };
            }
        });
        quote!(#settings #metadata #rest)
    }

    /// `let __broker_schema = __broker_schema.<setter>(<Ret as Into<Value>>::into(Self::<method>(&*self)));`:
    /// as with handlers, the bound is checked on the user's return type tokens, so a type that
    /// does not convert is reported there.
    fn provider(&self, provider: &Provider, setter: TokenStream) -> TokenStream {
        let ident = &provider.ident;
        let ty = match &provider.output {
            ReturnType::Type(_, ty) if !mentions_impl(ty.to_token_stream()) => quote!(#ty),
            _ => quote!(_),
        };
        let cfgs = self.cfgs(ident);
        quote! {
            #cfgs
            let __broker_schema = {
                let __broker_value = Self::#ident(&*self);
                __broker_schema.#setter(
                    <#ty as ::core::convert::Into<::broker_core::__private::Value>>::into(__broker_value),
                )
            };
        }
    }

    /// The `#[cfg(...)]` attributes of a method, repeated on what registers it, so that a
    /// method compiled out is not registered either.
    fn cfgs(&self, method: &Ident) -> TokenStream {
        let attrs = self.item.items.iter().find_map(|item| match item {
            ImplItem::Fn(f) if f.sig.ident == *method => Some(&f.attrs),
            _ => None,
        });
        let cfgs = attrs
            .into_iter()
            .flatten()
            .filter(|a| a.path().is_ident("cfg"));
        quote!(#(#cfgs)*)
    }

    /// The function [`send_method_call`] checks the async methods' futures with, defined once
    /// in `schema` for a short path in the compiler's "required by a bound in" note. (The
    /// compiler does not report it as unused when every method is compiled out.)
    fn send_check(&self) -> TokenStream {
        let model = self.model;
        if model.actions.is_empty()
            && model.events.is_empty()
            && model.hooks.is_empty()
            && model.service_hooks.is_empty()
            && model.tasks.is_empty()
        {
            return TokenStream::new();
        }
        quote! {
            fn __broker_future_must_be_send<F: ::core::marker::Send>(future: F) -> F {
                future
            }
        }
    }

    /// `.action(ActionDef::new(name, handler).visibility(..).timeout(..).bulkhead(..)
    /// .strategy(..))`.
    fn action(&self, action: &Action) -> TokenStream {
        let name = &action.name;
        let handler = self.handler(&action.handler, Convert::Action);
        // Spanned on the method's name: a bound of this call that fails is reported there.
        let new = quote_spanned! {action.handler.ident.span()=>
            ::broker_core::__private::ActionDef::from_payload(#name, #handler)
        };
        let visibility = action
            .visibility
            .as_ref()
            .map(|v| quote!(.visibility(::broker_core::__private::Visibility::#v)));
        let timeout = action
            .timeout_ms
            .map(|ms| quote!(.timeout(::core::time::Duration::from_millis(#ms))));
        let bulkhead = action.bulkhead.as_ref().map(|b| b.setter());
        let tracing = action.tracing.as_ref().map(|t| t.setter());
        let strategy = action.strategy.as_ref().map(|s| s.setter());
        let rest = rest::setters(&action.rest);
        let subject = crate::subject::setter(action.subject.as_ref());
        let cache = crate::cache::setter(action.cache.as_ref(), self.model.cache.as_ref());
        let params_schema = params_schema(&action.handler);
        let response_schema = response_schema(&action.handler.output);
        let description = description(action.description.as_ref(), &action.docs);
        let cfgs = self.cfgs(&action.handler.ident);
        quote! {
            #cfgs
            let __broker_schema = {
                let __broker_this = ::core::clone::Clone::clone(&self);
                let mut __broker_action = #new #visibility #timeout #bulkhead #tracing #strategy #rest #subject #cache;
                __broker_action.params_schema = #params_schema;
                ::broker_core::__private::publish_params(&mut __broker_action);
                __broker_action.response_schema = #response_schema;
                __broker_action.description = #description;
                __broker_schema.action(__broker_action)
            };
        }
    }

    /// `.event(EventDef::new(name, handler).group(..).bulkhead(..))`.
    fn event(&self, event: &Event) -> TokenStream {
        let name = &event.name;
        let handler = self.handler(&event.handler, Convert::Event);
        let new = quote_spanned! {event.handler.ident.span()=>
            ::broker_core::__private::EventDef::new(#name, #handler)
        };
        let group = event.group.as_ref().map(|g| quote!(.group(#g)));
        let bulkhead = event.bulkhead.as_ref().map(|b| b.setter());
        let tracing = event.tracing.as_ref().map(|t| t.setter());
        let payload_schema = params_schema(&event.handler);
        let description = description(event.description.as_ref(), &event.docs);
        let cfgs = self.cfgs(&event.handler.ident);
        quote! {
            #cfgs
            let __broker_schema = {
                let __broker_this = ::core::clone::Clone::clone(&self);
                let mut __broker_event = #new #group #bulkhead #tracing;
                __broker_event.payload_schema = #payload_schema;
                ::broker_core::__private::publish_event_params(&mut __broker_event);
                __broker_event.description = #description;
                __broker_schema.event(__broker_event)
            };
        }
    }

    /// `.on_created(..)`, `.on_started(..)` or `.on_stopped(..)`.
    fn hook(&self, hook: &Hook) -> TokenStream {
        let ident = &hook.ident;
        let setter = match hook.kind {
            MethodAttr::Created => "on_created",
            MethodAttr::Started => "on_started",
            _ => "on_stopped",
        };
        let setter = Ident::new(setter, ident.span());
        let convert = Convert::Hook.call(&hook.output, quote!(__broker_out));
        let call = send_method_call(ident, quote!(&*__broker_this));
        let future = async_block(
            ident,
            quote! {
                let __broker_out = #call.await;
                #convert
            },
        );
        let body = quote! {
            let __broker_this = ::core::clone::Clone::clone(&__broker_this);
            #future
        };
        // Spanned on the method's name: a bound of this call that fails is reported there.
        let schema = quote!(__broker_schema);
        let call = quote_spanned! {ident.span()=>
            ::broker_core::__private::ServiceSchema::#setter(#schema, move || { #body })
        };
        let cfgs = self.cfgs(ident);
        quote! {
            #cfgs
            let __broker_schema = {
                let __broker_this = ::core::clone::Clone::clone(&self);
                #call
            };
        }
    }

    /// The handler closure of an action or event: per call, clone the service into an
    /// `async move` block that gets the params, awaits the method and converts its output
    /// with `convert` (a method of a `__private` trait). An action takes the caller's params
    /// value as it is when a local caller moved one of its params type in, and moves its
    /// result back to a local caller that takes it (see `broker_core::typed`); otherwise the
    /// params are deserialized and the result serialized.
    fn handler(&self, handler: &Handler, convert: Convert) -> TokenStream {
        let ident = &handler.ident;
        let is_action = matches!(convert, Convert::Action);
        let ctx = handler.takes_ctx.then(|| quote!(__broker_ctx,));
        let deserialize = handler.params.as_ref().map(|ty| {
            let params = quote_spanned!(ty.span()=> ::broker_core::__private::params::<#ty>);
            if !is_action {
                return quote!(let __broker_params = #params(&__broker_ctx)?;);
            }
            let takes_ctx = handler.takes_ctx;
            quote! {
                let __broker_params =
                    match ::broker_core::__private::take_params::<#ty>(&__broker_ctx, #takes_ctx) {
                        ::core::option::Option::Some(__broker_moved) => __broker_moved,
                        ::core::option::Option::None => #params(&__broker_ctx)?,
                    };
            }
        });
        let params = handler.params.as_ref().map(|_| quote!(__broker_params));
        // The result moves only with a nameable return type (not `impl Trait`).
        let moved_result = match &handler.output {
            ReturnType::Type(_, ty) if is_action && !mentions_impl(ty.to_token_stream()) => {
                Some(ty)
            }
            _ => None,
        };
        let ctx_pat = if handler.takes_ctx || handler.params.is_some() || moved_result.is_some() {
            quote!(__broker_ctx)
        } else {
            quote!(_)
        };
        let convert = convert.call(&handler.output, quote!(__broker_out));
        let (reply_to, convert) = match moved_result {
            Some(ty) => (
                quote!(let __broker_reply_to = ::broker_core::__private::reply_to(&__broker_ctx);),
                quote! {{
                    #[allow(unused_imports)]
                    use ::broker_core::__private::{MovesReply as _, SerializesReply as _};
                    let __broker_mover =
                        (&&::broker_core::__private::ReplyProbe::<#ty>::new()).mover();
                    match (__broker_reply_to, __broker_mover) {
                        (
                            ::core::option::Option::Some(__broker_reply_to),
                            ::core::option::Option::Some(__broker_mover),
                        ) => __broker_mover(__broker_out, &__broker_reply_to),
                        _ => #convert,
                    }
                }},
            ),
            None => (TokenStream::new(), convert),
        };
        let call = send_method_call(ident, quote!(&*__broker_this, #ctx #params));
        let future = async_block(
            ident,
            quote! {
                #deserialize
                #reply_to
                let __broker_out = #call.await;
                #convert
            },
        );
        let body = quote! {
            let __broker_this = ::core::clone::Clone::clone(&__broker_this);
            #future
        };
        quote_spanned! {ident.span()=>
            move |#ctx_pat: ::broker_core::__private::Context| { #body }
        }
    }
}

/// The schema of a handler's params type, computed when the service is added: `None` without
/// a params argument or for `()`, and for a type that does not implement `JsonSchema` (the
/// probe falls back to `WithoutSchema` then; see `broker_core::schema`).
fn params_schema(handler: &Handler) -> TokenStream {
    match &handler.params {
        Some(Type::Tuple(t)) if t.elems.is_empty() => quote!(::core::option::Option::None),
        Some(ty) => probe(quote!(#ty), quote!(params_schema)),
        None => quote!(::core::option::Option::None),
    }
}

/// The schema of the success type of an action's `Result<T, E>`, probed on the whole return
/// type (so that type aliases of `Result` work too, and a return type that is not a `Result`
/// only gets `None`, adding no error to the one it has). `None` for `impl Trait`, which cannot
/// be named.
fn response_schema(output: &ReturnType) -> TokenStream {
    match output {
        ReturnType::Type(_, ty) if !mentions_impl(ty.to_token_stream()) => {
            probe(quote!(#ty), quote!(response_schema))
        }
        _ => quote!(::core::option::Option::None),
    }
}

/// `(&&SchemaProbe::<ty>::new()).method()`: the autoref picks `WithSchema` (or
/// `WithResponseSchema`) when `ty` (or the `T` of `Result<T, E>`) implements `JsonSchema`, else
/// `WithoutSchema`.
fn probe(ty: TokenStream, method: TokenStream) -> TokenStream {
    quote! {{
        #[allow(unused_imports)]
        use ::broker_core::__private::{
            WithResponseSchema as _, WithSchema as _, WithoutSchema as _,
        };
        (&&::broker_core::__private::SchemaProbe::<#ty>::new()).#method()
    }}
}

/// The description: `description = "..."` when given (`""` for none), else the method's doc
/// comment, else `None`.
fn description(explicit: Option<&LitStr>, docs: &[syn::Expr]) -> TokenStream {
    match explicit {
        Some(lit) if lit.value().is_empty() => quote!(::core::option::Option::None),
        Some(lit) => quote!(::core::option::Option::Some(::std::string::String::from(#lit))),
        None if docs.is_empty() => quote!(::core::option::Option::None),
        None => quote!(::broker_core::__private::description(&[#(#docs),*])),
    }
}

/// `async move { body }`, spanned on the method's name (the compiler names the future after
/// it, as in `{async block@src/lib.rs:9:14: 9:22}`).
pub(crate) fn async_block(method: &Ident, body: TokenStream) -> TokenStream {
    quote_spanned!(method.span()=> async move { #body })
}

/// `Self::method(args)`, checked to return a `Send` future by the function
/// [`Generator::send_check`] defines. The broker may run a handler on any thread; checking the
/// method's own future, on its name, makes a future that is not `Send` read "future returned
/// by `method` is not `Send`" there, instead of blaming the broker-core function the handler is
/// passed to (whose `Send` bound the compiler then does not report again).
pub(crate) fn send_method_call(method: &Ident, args: TokenStream) -> TokenStream {
    quote_spanned! {method.span()=>
        __broker_future_must_be_send(Self::#method(#args))
    }
}

/// Which `__private` trait converts a method's output.
#[derive(Clone, Copy)]
pub(crate) enum Convert {
    /// `ActionResult::into_action_result`.
    Action,
    /// `EventResult::into_event_result`.
    Event,
    /// `HookResult::into_hook_result`.
    Hook,
    /// `BeforeHookResult::into_before_result`.
    Before,
    /// `ActionResult::into_hook_value` (after and error hooks pass values along).
    HookValue,
}

impl Convert {
    /// The conversion of `out`, the method's output, as `<Ret as Trait>::method(out)`: the
    /// user's return type tokens, with their spans, are what the trait bound is checked on, so
    /// a return type the trait does not cover is reported on that type, with the trait's own
    /// message. (`impl Trait` cannot appear in that position; such return types get a plain
    /// call instead.)
    pub(crate) fn call(self, output: &ReturnType, out: TokenStream) -> TokenStream {
        let (trait_, method) = match self {
            Convert::Action => (quote!(ActionResult), quote!(into_action_result)),
            Convert::Event => (quote!(EventResult), quote!(into_event_result)),
            Convert::Hook => (quote!(HookResult), quote!(into_hook_result)),
            Convert::Before => (quote!(BeforeHookResult), quote!(into_before_result)),
            Convert::HookValue => (quote!(ActionResult), quote!(into_hook_value)),
        };
        match output {
            ReturnType::Type(_, ty) if mentions_impl(ty.to_token_stream()) => {
                quote!(::broker_core::__private::#trait_::#method(#out))
            }
            ReturnType::Type(_, ty) => {
                quote!(<#ty as ::broker_core::__private::#trait_>::#method(#out))
            }
            ReturnType::Default => quote!(<() as ::broker_core::__private::#trait_>::#method(#out)),
        }
    }
}

/// Whether a type contains `impl Trait`.
fn mentions_impl(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|tree| match tree {
        TokenTree::Ident(ident) => ident == "impl",
        TokenTree::Group(group) => mentions_impl(group.stream()),
        _ => false,
    })
}
