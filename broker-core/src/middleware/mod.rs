//! Middleware: wrappers around the broker's handlers, composable in order, in the spirit of
//! tower's `Layer` (a wrapper that takes the next handler and returns a new one).
//!
//! Three things can be wrapped:
//! - a local action handler ([`Middleware::wrap_action`]), once, when its service registers;
//! - a local event handler ([`Middleware::wrap_event`]), likewise;
//! - every call the broker makes ([`Middleware::wrap_call`]), around balancing, so a wrapper
//!   can call again (retries) or answer instead (fallbacks).
//!
//! The first middleware added is the outermost. The built-in timeout, bulkhead, retry and
//! fallback are middleware themselves and sit inside the user's:
//! calls: user → [`ApplyFallback`] → [`Retry`] → balancing and the endpoint call;
//! actions: user → [`Bulkhead`] → [`Validator`] → service hooks → [`Timeout`] → handler.

mod bulkhead;
mod hooks;
mod retry;
mod timeout;
mod validator;

pub use bulkhead::{Bulkhead, BulkheadOptions};
pub use hooks::{AfterHook, BeforeHook, ErrorHook, Hooks};
pub use retry::{ApplyFallback, Retry};
pub use timeout::Timeout;
pub use validator::Validator;

use crate::context::{CallOptions, Context};
use crate::error::Error;
use crate::payload::Payload;
use crate::service::{ActionDef, ActionHandler, EventDef, EventHandler};
use crate::transporter::BoxFuture;
use std::fmt;
use std::sync::Arc;

/// A call as the call chain sees it.
#[derive(Debug, Clone)]
pub struct Call {
    /// Action name.
    pub action: String,
    /// Params, as JSON text.
    pub params: Payload,
    /// Options.
    pub options: CallOptions,
    /// The context the call is made from, if any.
    pub parent: Option<Context>,
}

/// One step of the call chain.
pub type CallHandler =
    Arc<dyn Fn(Call) -> BoxFuture<'static, Result<Payload, Error>> + Send + Sync>;

/// What a middleware knows of the action it wraps.
#[derive(Debug, Clone, Copy)]
pub struct ActionSpec<'a> {
    /// Full action name (`v2.posts.list`).
    pub name: &'a str,
    /// Full service name (`v2.posts`).
    pub service: &'a str,
    /// The definition.
    pub def: &'a ActionDef,
}

/// What a middleware knows of the event handler it wraps.
#[derive(Debug, Clone, Copy)]
pub struct EventSpec<'a> {
    /// Event name or pattern.
    pub name: &'a str,
    /// Full service name.
    pub service: &'a str,
    /// Group.
    pub group: &'a str,
    /// The definition.
    pub def: &'a EventDef,
}

/// A broker middleware. Every method has a pass-through default: implement what you wrap.
///
/// ```
/// use broker_core::middleware::{ActionSpec, Middleware};
/// use broker_core::{ActionHandler, Broker};
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// /// Counts local action runs.
/// #[derive(Debug, Default)]
/// struct Count(Arc<AtomicUsize>);
///
/// impl Middleware for Count {
///     fn wrap_action(&self, _action: &ActionSpec<'_>, next: ActionHandler) -> ActionHandler {
///         let count = self.0.clone();
///         Arc::new(move |ctx| {
///             count.fetch_add(1, Ordering::Relaxed);
///             next(ctx)
///         })
///     }
/// }
///
/// let broker = Broker::builder().middleware(Count::default()).build();
/// # let _ = broker;
/// ```
pub trait Middleware: Send + Sync + fmt::Debug + 'static {
    /// Wraps a local action handler.
    fn wrap_action(&self, action: &ActionSpec<'_>, next: ActionHandler) -> ActionHandler {
        let _ = action;
        next
    }

    /// Wraps a local event handler.
    fn wrap_event(&self, event: &EventSpec<'_>, next: EventHandler) -> EventHandler {
        let _ = event;
        next
    }

    /// Wraps the broker's calls.
    fn wrap_call(&self, next: CallHandler) -> CallHandler {
        next
    }
}

/// Applies middlewares so that the first one is the outermost.
pub(crate) fn wrap_action(
    middlewares: &[Arc<dyn Middleware>],
    spec: &ActionSpec<'_>,
    handler: ActionHandler,
) -> ActionHandler {
    middlewares
        .iter()
        .rev()
        .fold(handler, |next, mw| mw.wrap_action(spec, next))
}

/// Applies middlewares so that the first one is the outermost.
pub(crate) fn wrap_event(
    middlewares: &[Arc<dyn Middleware>],
    spec: &EventSpec<'_>,
    handler: EventHandler,
) -> EventHandler {
    middlewares
        .iter()
        .rev()
        .fold(handler, |next, mw| mw.wrap_event(spec, next))
}

/// Applies middlewares so that the first one is the outermost.
pub(crate) fn wrap_call(middlewares: &[Arc<dyn Middleware>], base: CallHandler) -> CallHandler {
    middlewares
        .iter()
        .rev()
        .fold(base, |next, mw| mw.wrap_call(next))
}
