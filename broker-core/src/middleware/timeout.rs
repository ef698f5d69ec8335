//! The timeout middleware: a handler gets no longer than its context's deadline (the caller's
//! budget, or the `timeout` of an incoming REQ), then the call fails with
//! `RequestTimeoutError`, on the callee as on the caller.

use super::{ActionSpec, Middleware};
use crate::error::Error;
use crate::service::ActionHandler;
use std::sync::Arc;

/// Enforces the context's deadline on local action handlers.
#[derive(Debug, Default, Clone, Copy)]
pub struct Timeout;

impl Middleware for Timeout {
    fn wrap_action(&self, action: &ActionSpec<'_>, next: ActionHandler) -> ActionHandler {
        let name: Arc<str> = Arc::from(action.name);
        Arc::new(move |ctx| {
            let Some(deadline) = ctx.deadline() else {
                return next(ctx);
            };
            let node = ctx.broker().node_id().to_owned();
            let name = name.clone();
            let run = next(ctx);
            Box::pin(async move {
                match tokio::time::timeout_at(deadline, run).await {
                    Ok(result) => result,
                    Err(_) => Err(Error::request_timeout(&name, &node)),
                }
            })
        })
    }
}
