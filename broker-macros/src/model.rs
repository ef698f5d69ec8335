//! The typed model of a `#[service]` impl block, and the parser that builds it: the service's
//! own arguments, then every method carrying one of our attributes, whose attribute is stripped.

use crate::attr::{self, Errors, IntOrStr, MethodAttr};
use crate::hooks::{self, ServiceHook};
use crate::options::{self, Bulkhead, Strategy, Tracing};
use crate::rest;
use crate::signature::{self, Handler};
use crate::timeout;
use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::{Expr, Ident, ImplItem, ImplItemFn, ItemImpl, LitStr, ReturnType};

/// Everything `#[service]` generates code from.
pub(crate) struct ServiceModel {
    /// `name = "..."`.
    pub(crate) name: LitStr,
    /// `version = 2` or `version = "staging"`.
    pub(crate) version: Option<IntOrStr>,
    /// `dependencies = [...]`.
    pub(crate) dependencies: Vec<LitStr>,
    /// `rest = "/base"` or `rest = [...]`: the base paths of its actions' routes.
    pub(crate) rest: Vec<LitStr>,
    /// `cache` or `cache(...)`: the cache of every action that sets none.
    pub(crate) cache: Option<crate::cache::CacheAttr>,
    /// The `#[settings]` method.
    pub(crate) settings: Option<Provider>,
    /// The `#[metadata]` method.
    pub(crate) metadata: Option<Provider>,
    /// The `#[action]` methods, in source order.
    pub(crate) actions: Vec<Action>,
    /// The `#[event]` methods, in source order.
    pub(crate) events: Vec<Event>,
    /// The `#[created]`, `#[started]` and `#[stopped]` methods.
    pub(crate) hooks: Vec<Hook>,
    /// The `#[before]`, `#[after]` and `#[error]` methods, in source order.
    pub(crate) service_hooks: Vec<ServiceHook>,
    /// Whether an `#[action]` method had errors, so that `actions` may miss its name.
    pub(crate) actions_incomplete: bool,
    /// `client = false` or `client = "Name"`: the typed client's name, or none.
    pub(crate) client: Option<crate::client::ClientKey>,
    /// The `#[periodic]` methods, in source order.
    pub(crate) tasks: Vec<crate::periodic::Task>,
}

/// One `#[action]` method.
pub(crate) struct Action {
    /// The method.
    pub(crate) handler: Handler,
    /// The action's name: `name = "..."` or the method's name.
    pub(crate) name: LitStr,
    /// `visibility = "..."`, as the variant of `Visibility`.
    pub(crate) visibility: Option<Ident>,
    /// `timeout = ...`, in milliseconds.
    pub(crate) timeout_ms: Option<u64>,
    /// `bulkhead(...)`.
    pub(crate) bulkhead: Option<Bulkhead>,
    /// `tracing = false` or `tracing(...)`.
    pub(crate) tracing: Option<Tracing>,
    /// `strategy = "..."` and `shard_key = "..."`.
    pub(crate) strategy: Option<Strategy>,
    /// `rest = "GET /path"` or `rest = [...]`: its HTTP routes.
    pub(crate) rest: Vec<LitStr>,
    /// `subject = "math.add"`: its NATS subject in the NATS service API.
    pub(crate) subject: Option<LitStr>,
    /// `cache`, `cache = false` or `cache(...)`.
    pub(crate) cache: Option<crate::cache::CacheAttr>,
    /// The method's doc comment, one expression per `#[doc = ...]`: its description.
    pub(crate) docs: Vec<Expr>,
    /// `description = "..."`: replaces the doc comment as its description (`""`: none).
    pub(crate) description: Option<LitStr>,
}

/// One `#[event]` method.
pub(crate) struct Event {
    /// The method.
    pub(crate) handler: Handler,
    /// `name = "..."`: the event name or pattern.
    pub(crate) name: LitStr,
    /// `group = "..."`.
    pub(crate) group: Option<LitStr>,
    /// `bulkhead(...)`.
    pub(crate) bulkhead: Option<Bulkhead>,
    /// `tracing = false` or `tracing(...)`.
    pub(crate) tracing: Option<Tracing>,
    /// The method's doc comment, one expression per `#[doc = ...]`: its description.
    pub(crate) docs: Vec<Expr>,
    /// `description = "..."`: replaces the doc comment as its description (`""`: none).
    pub(crate) description: Option<LitStr>,
}

/// One lifecycle hook method.
pub(crate) struct Hook {
    /// `Created`, `Started` or `Stopped`.
    pub(crate) kind: MethodAttr,
    /// The method.
    pub(crate) ident: Ident,
    /// Its return type.
    pub(crate) output: ReturnType,
}

/// The `#[settings]` or `#[metadata]` method.
pub(crate) struct Provider {
    /// The method.
    pub(crate) ident: Ident,
    /// Its return type.
    pub(crate) output: ReturnType,
}

const SERVICE_KEYS: &[&str] = &[
    "name",
    "version",
    "dependencies",
    "rest",
    "cache(...)",
    "client",
];
const ACTION_KEYS: &[&str] = &[
    "name",
    "visibility",
    "timeout",
    "bulkhead(...)",
    "tracing(...)",
    "strategy",
    "shard_key",
    "rest",
    "description",
    "subject",
    "cache(...)",
];
const EVENT_KEYS: &[&str] = &[
    "name",
    "group",
    "bulkhead(...)",
    "tracing(...)",
    "description",
];
const VISIBILITIES: &[(&str, &str)] = &[
    ("published", "Published"),
    ("public", "Public"),
    ("protected", "Protected"),
    ("private", "Private"),
];

/// Parses the service's arguments and walks the impl block, stripping our attributes from it.
/// The model is `None` when anything was wrong; `errors` then says what.
pub(crate) fn parse(
    args: TokenStream,
    item: &mut ItemImpl,
    errors: &mut Errors,
) -> Option<ServiceModel> {
    let service = service_args(args, errors);
    if let Some((_, path, _)) = &item.trait_ {
        errors.at(
            path,
            "`#[service]` must be used on an inherent `impl Type` block, not a trait impl",
        );
    }
    let mut model = ServiceModel {
        name: LitStr::new("", Span::call_site()),
        version: None,
        dependencies: Vec::new(),
        rest: Vec::new(),
        cache: None,
        settings: None,
        metadata: None,
        actions: Vec::new(),
        events: Vec::new(),
        hooks: Vec::new(),
        service_hooks: Vec::new(),
        actions_incomplete: false,
        client: None,
        tasks: Vec::new(),
    };
    for impl_item in &mut item.items {
        match impl_item {
            ImplItem::Fn(method) => method_item(method, &mut model, errors),
            ImplItem::Const(c) => stray(&mut c.attrs, errors),
            ImplItem::Type(t) => stray(&mut t.attrs, errors),
            ImplItem::Macro(m) => stray(&mut m.attrs, errors),
            _ => {}
        }
    }
    // Not when an action did not parse: its name would look missing.
    if !model.actions_incomplete {
        hooks::check_names(&model.service_hooks, &model.actions, errors);
    }
    let (name, version, dependencies, rest, cache, client) = service?;
    model.client = client;
    model.cache = cache;
    model.name = name;
    model.version = version;
    model.dependencies = dependencies;
    model.rest = rest;
    errors.is_empty().then_some(model)
}

type ServiceArgs = (
    LitStr,
    Option<IntOrStr>,
    Vec<LitStr>,
    Vec<LitStr>,
    Option<crate::cache::CacheAttr>,
    Option<crate::client::ClientKey>,
);

fn service_args(args: TokenStream, errors: &mut Errors) -> Option<ServiceArgs> {
    let mut name = None;
    let mut version = None;
    let mut dependencies = Vec::new();
    let mut rest = Vec::new();
    let mut cache = None;
    let mut client = None;
    let args = attr::parse_args(args, "#[service(...)]", SERVICE_KEYS, errors)?;
    if !args.given("name") {
        errors.at_span(
            Span::call_site(),
            "missing service name: write `#[service(name = \"...\")]`",
        );
    }
    for arg in args.list {
        match arg.key.to_string().as_str() {
            "name" => name = errors.ok(attr::string(&arg)),
            "version" => version = errors.ok(attr::int_or_string(&arg)),
            "rest" => rest = rest::base_paths(&arg, errors).unwrap_or_default(),
            "cache" => cache = crate::cache::parse(&arg, errors),
            "client" => client = errors.ok(crate::client::service_key(&arg)),
            _ => dependencies = attr::string_array(&arg, errors),
        }
    }
    Some((name?, version, dependencies, rest, cache, client))
}

/// Our attributes on something other than a method: report and strip them.
fn stray(attrs: &mut Vec<syn::Attribute>, errors: &mut Errors) {
    attrs.retain(|a| match MethodAttr::of(a) {
        Some(kind) => {
            errors.at(
                a,
                format!("`#[{}]` can only be used on methods", kind.name()),
            );
            false
        }
        None => true,
    });
}

/// One method: strips our attributes and adds what they declare to the model.
fn method_item(method: &mut ImplItemFn, model: &mut ServiceModel, errors: &mut Errors) {
    let mut ours: Option<(MethodAttr, syn::Attribute)> = None;
    let mut kept = Vec::with_capacity(method.attrs.len());
    for a in method.attrs.drain(..) {
        match (MethodAttr::of(&a), &ours) {
            (None, _) => kept.push(a),
            (Some(kind), Some((first, _))) => errors.at(
                &a,
                format!(
                    "`#[{}]` cannot be combined with `#[{}]` on the same method",
                    kind.name(),
                    first.name()
                ),
            ),
            (Some(kind), None) => ours = Some((kind, a)),
        }
    }
    method.attrs = kept;
    let Some((kind, a)) = ours else { return };
    let docs = docs(&method.attrs);
    let sig = &method.sig;
    match kind {
        MethodAttr::Action => {
            let args = attr::attr_args(&a, errors);
            let handler = signature::handler(sig, kind, errors);
            if let Some(mut action) = action_args(&sig.ident, handler, args, errors) {
                action.docs = docs;
                let names = model.actions.iter().map(|x| &x.name);
                duplicate("action", names, &action.name, errors);
                model.actions.push(action);
            } else {
                model.actions_incomplete = true;
            }
        }
        MethodAttr::Event => {
            let args = attr::attr_args(&a, errors);
            let handler = signature::handler(sig, kind, errors);
            if let Some(args) = args {
                if let Some(mut event) = event_args(handler, args, &a, errors) {
                    event.docs = docs;
                    // The registry keys a service's events by name: a second handler would
                    // replace the first in INFO and share its emits locally.
                    let names = model.events.iter().map(|x| &x.name);
                    duplicate("event", names, &event.name, errors);
                    model.events.push(event);
                }
            }
        }
        MethodAttr::Created | MethodAttr::Started | MethodAttr::Stopped => {
            no_args(&a, kind, errors);
            if signature::hook(sig, kind, errors) {
                if model.hooks.iter().any(|h| h.kind == kind) {
                    errors.at(
                        &a,
                        format!("duplicate `#[{}]` hook in this service", kind.name()),
                    );
                }
                model.hooks.push(Hook {
                    kind,
                    ident: sig.ident.clone(),
                    output: sig.output.clone(),
                });
            }
        }
        MethodAttr::Periodic => {
            if let Some(task) = crate::periodic::parse(&a, sig, errors) {
                let names = model.tasks.iter().map(|t| t.name());
                duplicate("task", names, task.name(), errors);
                model.tasks.push(task);
            }
        }
        MethodAttr::Before | MethodAttr::After | MethodAttr::Error => {
            if let Some(hook) = hooks::parse(&a, sig, kind, errors) {
                model.service_hooks.push(hook);
            }
        }
        MethodAttr::Settings | MethodAttr::Metadata => {
            no_args(&a, kind, errors);
            let slot = if kind == MethodAttr::Settings {
                &mut model.settings
            } else {
                &mut model.metadata
            };
            if signature::provider(sig, kind, errors) {
                if slot.is_some() {
                    errors.at(
                        &a,
                        format!("duplicate `#[{}]` method in this service", kind.name()),
                    );
                }
                *slot = Some(Provider {
                    ident: sig.ident.clone(),
                    output: sig.output.clone(),
                });
            }
        }
    }
}

/// The values of a method's `#[doc = ...]` attributes (what `///` lines become): string
/// literals, or expressions such as `include_str!(...)`.
fn docs(attrs: &[syn::Attribute]) -> Vec<Expr> {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => Some(nv.value.clone()),
            _ => None,
        })
        .collect()
}

/// Reports `name` if one of `earlier` has its value: on `name`, and on the first definition,
/// so that both are shown.
fn duplicate<'a>(
    noun: &str,
    mut earlier: impl Iterator<Item = &'a LitStr>,
    name: &LitStr,
    errors: &mut Errors,
) {
    let value = name.value();
    if let Some(first) = earlier.find(|x| x.value() == value) {
        errors.at(
            name,
            format!("duplicate {noun} name \"{value}\" in this service"),
        );
        errors.at(first, format!("{noun} \"{value}\" first defined here"));
    }
}

/// Hooks, `#[settings]` and `#[metadata]` take no arguments.
fn no_args(a: &syn::Attribute, kind: MethodAttr, errors: &mut Errors) {
    if !matches!(a.meta, syn::Meta::Path(_)) {
        errors.at(a, format!("`#[{}]` takes no arguments", kind.name()));
    }
}

fn action_args(
    method: &Ident,
    handler: Option<Handler>,
    args: Option<TokenStream>,
    errors: &mut Errors,
) -> Option<Action> {
    let before = errors.count();
    let mut name = LitStr::new(&method.unraw().to_string(), method.span());
    let mut visibility = None;
    let mut timeout_ms = None;
    let mut bulkhead = None;
    let mut tracing = None;
    let (mut strategy, mut shard_key) = (None, None);
    let mut rest = Vec::new();
    let mut description = None;
    let mut subject = None;
    let mut cache = None;
    let args = attr::parse_args(args?, "#[action(...)]", ACTION_KEYS, errors)?;
    for arg in &args.list {
        match arg.key.to_string().as_str() {
            "name" => {
                if let Some(lit) = errors.ok(attr::string(arg)) {
                    name = lit;
                }
            }
            "visibility" => {
                let Some(lit) = errors.ok(attr::string(arg)) else {
                    continue;
                };
                let value = lit.value();
                match VISIBILITIES.iter().find(|(name, _)| *name == value) {
                    Some((_, variant)) => visibility = Some(Ident::new(variant, lit.span())),
                    None => errors.at(
                        &lit,
                        format!(
                            "unknown visibility \"{value}\"; expected \"published\", \"public\", \
                             \"protected\" or \"private\""
                        ),
                    ),
                }
            }
            "timeout" => timeout_ms = errors.ok(timeout::millis(arg)),
            "bulkhead" => bulkhead = options::bulkhead(arg, errors),
            "tracing" => tracing = options::tracing(arg, errors),
            "strategy" => strategy = Some(arg),
            "rest" => rest = rest::action_routes(arg, errors).unwrap_or_default(),
            "description" => description = errors.ok(attr::string_or_empty(arg)),
            "subject" => subject = crate::subject::subject(arg, errors),
            "cache" => cache = crate::cache::parse(arg, errors),
            _ => shard_key = Some(arg),
        }
    }
    let strategy = options::strategy(strategy, shard_key, errors);
    let handler = handler?;
    (errors.count() == before).then_some(Action {
        handler,
        name,
        visibility,
        timeout_ms,
        bulkhead,
        tracing,
        strategy,
        rest,
        subject,
        cache,
        docs: Vec::new(),
        description,
    })
}

fn event_args(
    handler: Option<Handler>,
    args: TokenStream,
    a: &syn::Attribute,
    errors: &mut Errors,
) -> Option<Event> {
    let mut name = None;
    let mut group = None;
    let mut description = None;
    let mut bulkhead = None;
    let mut tracing = None;
    let args = attr::parse_args(args, "#[event(...)]", EVENT_KEYS, errors)?;
    for arg in &args.list {
        match arg.key.to_string().as_str() {
            "name" => name = Some(errors.ok(attr::string(arg))),
            "group" => group = errors.ok(attr::string(arg)),
            "description" => description = errors.ok(attr::string_or_empty(arg)),
            "tracing" => tracing = options::tracing(arg, errors),
            _ => bulkhead = options::bulkhead(arg, errors),
        }
    }
    if !args.given("name") {
        errors.at(
            a,
            "missing event name: write `#[event(name = \"user.created\")]` (patterns such as \
             `user.*` are allowed)",
        );
    }
    Some(Event {
        handler: handler?,
        name: name.flatten()?,
        group,
        bulkhead,
        tracing,
        docs: Vec::new(),
        description,
    })
}
