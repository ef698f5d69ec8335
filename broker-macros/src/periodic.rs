//! `#[periodic(...)]`: a scheduled task of the service. Parsed into a [`Task`] (its schedule
//! checked at compile time: a period, or a cron expression read by the same parser the broker
//! uses), expanded into a `TaskDef` added to the schema.

use crate::attr::{self, Arg, Errors, IntOrStr, MethodAttr};
use crate::expand::{async_block, send_method_call};
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{FnArg, Ident, LitStr, ReturnType, Signature, Type};

const KEYS: &[&str] = &["every", "cron", "once", "overlap", "lock_ttl", "name"];
const DURATION: &str = "a duration such as \"500ms\", \"5s\", \"1m\", \"1h\" or \"1d\", or an \
                        integer number of milliseconds";

/// One `#[periodic]` method.
pub(crate) struct Task {
    ident: Ident,
    name: LitStr,
    schedule: Schedule,
    cluster: bool,
    overlap: Option<Ident>,
    lock_ttl_ms: Option<u64>,
    /// The type of its context parameter, if it takes one.
    ctx: Option<Type>,
    output: ReturnType,
}

enum Schedule {
    Every(u64),
    Cron(LitStr),
}

impl Task {
    /// The task's name: `name = "..."` or the method's.
    pub(crate) fn name(&self) -> &LitStr {
        &self.name
    }

    /// The method.
    pub(crate) fn ident(&self) -> &Ident {
        &self.ident
    }
}

/// Parses `#[periodic(...)]` on `sig`; `None` when anything is wrong (`errors` says what).
pub(crate) fn parse(a: &syn::Attribute, sig: &Signature, errors: &mut Errors) -> Option<Task> {
    let before = errors.count();
    crate::signature::common(sig, MethodAttr::Periodic, true, errors);
    let ctx = context(sig, errors);
    let tokens = attr::attr_args(a, errors)?;
    let args = attr::parse_args(tokens, "#[periodic(...)]", KEYS, errors)?;
    let mut name = None;
    let mut schedule = None;
    let mut cluster = false;
    let mut overlap = None;
    let mut lock_ttl = None;
    for arg in &args.list {
        match arg.key.to_string().as_str() {
            "name" => name = errors.ok(attr::string(arg)),
            "every" => {
                if let Some(ms) = errors.ok(duration(arg)) {
                    set_schedule(&mut schedule, Schedule::Every(ms), arg, errors);
                }
            }
            "cron" => {
                if let Some(lit) = errors.ok(cron(arg)) {
                    set_schedule(&mut schedule, Schedule::Cron(lit), arg, errors);
                }
            }
            "once" => cluster = errors.ok(once(arg)).unwrap_or(false),
            "overlap" => overlap = errors.ok(overlap_variant(arg)),
            _ => lock_ttl = errors.ok(duration(arg)).map(|ms| (ms, arg.key.clone())),
        }
    }
    if schedule.is_none() && !args.given("every") && !args.given("cron") {
        errors.at(
            a,
            "missing schedule: write `#[periodic(every = \"5s\")]` or \
             `#[periodic(cron = \"0 */5 * * * *\")]`",
        );
    }
    if let (Some((_, key)), false) = (&lock_ttl, cluster) {
        errors.at(
            key,
            "`lock_ttl` is the TTL of the cluster lock: it only applies with `once = \"cluster\"`",
        );
    }
    let schedule = schedule?;
    (errors.count() == before).then(|| Task {
        ident: sig.ident.clone(),
        name: name.unwrap_or_else(|| LitStr::new(&sig.ident.to_string(), sig.ident.span())),
        schedule,
        cluster,
        overlap: overlap.flatten(),
        lock_ttl_ms: lock_ttl.map(|(ms, _)| ms),
        ctx,
        output: sig.output.clone(),
    })
}

fn set_schedule(slot: &mut Option<Schedule>, value: Schedule, arg: &Arg, errors: &mut Errors) {
    if slot.is_some() {
        errors.at(
            &arg.key,
            "a task has one schedule: `every = ...` or `cron = ...`, not both",
        );
    } else {
        *slot = Some(value);
    }
}

/// `&self`, then optionally the context (`ctx: TaskContext`).
fn context(sig: &Signature, errors: &mut Errors) -> Option<Type> {
    let mut ctx = None;
    for (index, input) in sig.inputs.iter().skip(1).enumerate() {
        let FnArg::Typed(arg) = input else { continue };
        if index > 0 {
            errors.at(
                input,
                "too many parameters: `#[periodic]` methods take `&self`, then optionally \
                 `ctx: TaskContext`",
            );
            break;
        }
        if let Type::Reference(r) = &*arg.ty {
            errors.at(
                r,
                "take the context by value: `ctx: TaskContext` (cloning it is cheap)",
            );
        }
        ctx = Some((*arg.ty).clone());
    }
    ctx
}

/// A period in milliseconds, greater than zero.
fn duration(arg: &Arg) -> syn::Result<u64> {
    let key = &arg.key;
    let (ms, span) = match attr::int_or_string(arg) {
        Ok(IntOrStr::Int(lit, n)) => (Some(n), lit.span()),
        Ok(IntOrStr::Str(lit)) => (parse_duration(&lit.value()), lit.span()),
        Err(e) => {
            return Err(syn::Error::new(
                e.span(),
                format!("invalid `{key}`: expected {DURATION}"),
            ))
        }
    };
    match ms {
        Some(0) => Err(syn::Error::new(
            span,
            format!("`{key}` must be greater than zero"),
        )),
        Some(ms) => Ok(ms),
        None => Err(syn::Error::new(
            span,
            format!("invalid `{key}`: expected {DURATION}"),
        )),
    }
}

/// `timeout`'s units, and days.
fn parse_duration(text: &str) -> Option<u64> {
    match text.strip_suffix('d') {
        Some(days) if days.bytes().all(|b| b.is_ascii_digit()) && !days.is_empty() => {
            days.parse::<u64>().ok()?.checked_mul(86_400_000)
        }
        _ => crate::timeout::parse(text),
    }
}

/// A cron expression the broker's parser accepts.
fn cron(arg: &Arg) -> syn::Result<LitStr> {
    let lit = attr::string(arg)?;
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .build()
        .parse(lit.value().trim())
        .map_err(|err| {
            syn::Error::new(
                lit.span(),
                format!(
                    "invalid cron expression: {err}; expected six fields with seconds first \
                     (\"0 */5 * * * *\"), the five of crontab, or `@hourly`, `@daily`, \
                     `@weekly`, `@monthly`, `@yearly`"
                ),
            )
        })?;
    Ok(lit)
}

/// `once = "cluster"` (true) or `once = "node"` (false).
fn once(arg: &Arg) -> syn::Result<bool> {
    let lit = attr::string(arg)?;
    match lit.value().as_str() {
        "cluster" => Ok(true),
        "node" => Ok(false),
        other => Err(syn::Error::new(
            lit.span(),
            format!(
                "unknown `once` value \"{other}\": expected \"cluster\" (one node of the \
                 cluster runs each tick) or \"node\" (every node does, the default)"
            ),
        )),
    }
}

fn overlap_variant(arg: &Arg) -> syn::Result<Option<Ident>> {
    let lit = attr::string(arg)?;
    let variant = match lit.value().as_str() {
        "skip" => "Skip",
        "queue" => "Queue",
        "concurrent" => "Concurrent",
        other => {
            return Err(syn::Error::new(
                lit.span(),
                format!(
                    "unknown `overlap` value \"{other}\": expected \"skip\" (the default), \
                     \"queue\" or \"concurrent\""
                ),
            ))
        }
    };
    Ok(Some(Ident::new(variant, lit.span())))
}

impl Task {
    /// `let __broker_schema = __broker_schema.task(TaskDef::new(..)...);`.
    pub(crate) fn expand(&self, cfgs: TokenStream) -> TokenStream {
        let ident = &self.ident;
        let name = &self.name;
        let schedule = match &self.schedule {
            Schedule::Every(ms) => quote!(::broker_core::__private::every_schedule(#ms)),
            Schedule::Cron(lit) => quote!(::broker_core::__private::cron_schedule(#lit)),
        };
        let overlap = self
            .overlap
            .as_ref()
            .map(|v| quote!(.overlap(::broker_core::__private::Overlap::#v)));
        let run_on = self
            .cluster
            .then(|| quote!(.run_on(::broker_core::__private::RunOn::Cluster)));
        let lock_ttl = self
            .lock_ttl_ms
            .map(|ms| quote!(.lock_ttl(::broker_core::__private::Duration::from_millis(#ms))));
        // The context's type is checked where the user wrote it.
        let (ctx_pat, args) = match &self.ctx {
            Some(ty) => {
                let check = quote_spanned!(ty.span()=> let __broker_ctx: #ty = __broker_ctx;);
                (quote!(__broker_ctx), quote!({ #check __broker_ctx }))
            }
            None => (quote!(_), TokenStream::new()),
        };
        let call = match &self.ctx {
            Some(_) => send_method_call(ident, quote!(&*__broker_this, #args)),
            None => send_method_call(ident, quote!(&*__broker_this)),
        };
        let convert = match &self.output {
            ReturnType::Type(_, ty) if !mentions_impl(ty) => {
                quote!(<#ty as ::broker_core::__private::TaskResult>::into_task_result(__broker_out))
            }
            ReturnType::Type(..) => {
                quote!(::broker_core::__private::TaskResult::into_task_result(
                    __broker_out
                ))
            }
            ReturnType::Default => {
                quote!(<() as ::broker_core::__private::TaskResult>::into_task_result(__broker_out))
            }
        };
        let future = async_block(
            ident,
            quote! {
                let __broker_out = #call.await;
                #convert
            },
        );
        let handler = quote_spanned! {ident.span()=>
            move |#ctx_pat: ::broker_core::__private::TaskContext| {
                let __broker_this = ::core::clone::Clone::clone(&__broker_this);
                #future
            }
        };
        quote! {
            #cfgs
            let __broker_schema = {
                let __broker_this = ::core::clone::Clone::clone(&self);
                let __broker_task = ::broker_core::__private::TaskDef::new(#name, #schedule, #handler)
                    #overlap #run_on #lock_ttl;
                __broker_schema.task(__broker_task)
            };
        }
    }
}

fn mentions_impl(ty: &Type) -> bool {
    fn walk(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|tree| match tree {
            proc_macro2::TokenTree::Ident(ident) => ident == "impl",
            proc_macro2::TokenTree::Group(group) => walk(group.stream()),
            _ => false,
        })
    }
    walk(ty.to_token_stream())
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("200ms"), Some(200));
        assert_eq!(parse_duration("5s"), Some(5_000));
        assert_eq!(parse_duration("2d"), Some(172_800_000));
        assert_eq!(parse_duration("d"), None);
        assert_eq!(parse_duration("1.5d"), None);
    }
}
