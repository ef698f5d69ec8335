//! The retry and fallback middlewares, around every call.
//!
//! Retry: a failed call whose error the policy's check accepts (by default: retryable errors)
//! is made again, re-balanced (so it may reach another node), after an exponential back-off,
//! up to the call's `retries` or the policy's. Fallback: when the call still fails, the
//! call's fallback value or function answers instead.

use super::{Call, CallHandler, Middleware};
use crate::broker::RetryPolicy;
use std::sync::Arc;

/// Retries failed calls.
#[derive(Debug, Clone, Default)]
pub struct Retry {
    /// The broker's policy.
    pub policy: RetryPolicy,
}

impl Middleware for Retry {
    fn wrap_call(&self, next: CallHandler) -> CallHandler {
        let policy = self.policy.clone();
        Arc::new(move |call: Call| {
            let retries = call
                .options
                .retries
                .or(policy.enabled.then_some(policy.retries))
                .unwrap_or(0);
            if retries == 0 {
                return next(call);
            }
            let (next, policy) = (next.clone(), policy.clone());
            Box::pin(async move {
                let mut attempt = 0;
                loop {
                    match next(call.clone()).await {
                        Err(err) if attempt < retries && (policy.check)(&err) => {
                            tracing::debug!(action = %call.action, attempt, %err, "retrying call");
                            tokio::time::sleep(policy.delay_for(attempt)).await;
                            attempt += 1;
                        }
                        other => return other,
                    }
                }
            })
        })
    }
}

/// Answers a failed call with its fallback.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyFallback;

impl Middleware for ApplyFallback {
    fn wrap_call(&self, next: CallHandler) -> CallHandler {
        Arc::new(move |mut call: Call| {
            let Some(fallback) = call.options.fallback.take() else {
                return next(call);
            };
            let run = next(call);
            Box::pin(async move {
                match run.await {
                    Err(err) => fallback.apply(err),
                    ok => ok,
                }
            })
        })
    }
}
