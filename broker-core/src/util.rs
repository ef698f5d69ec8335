//! Small helpers shared across the crate.

use crate::error::Error;
use crate::transporter::BoxFuture;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

/// A fresh UUID-v4 string, as Moleculer's `generateUid`.
pub(crate) fn generate_uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Runs a handler future, turning a panic inside it into an error, so one bad handler never
/// takes the node down.
pub(crate) struct CatchPanic<T> {
    inner: BoxFuture<'static, Result<T, Error>>,
    what: &'static str,
}

impl<T: Send + 'static> CatchPanic<T> {
    pub(crate) fn new(inner: BoxFuture<'static, Result<T, Error>>, what: &'static str) -> Self {
        CatchPanic { inner, what }
    }

    /// Calls a handler and guards its future; a handler that panics before it even returns a
    /// future (in the synchronous part of its closure) gives the same error.
    pub(crate) fn call(
        start: impl FnOnce() -> BoxFuture<'static, Result<T, Error>>,
        what: &'static str,
    ) -> Self {
        let inner = match std::panic::catch_unwind(AssertUnwindSafe(start)) {
            Ok(inner) => inner,
            Err(payload) => {
                let err = panic_error(what, payload.as_ref());
                Box::pin(async move { Err(err) })
            }
        };
        CatchPanic { inner, what }
    }
}

/// The `type` of the error a panicking handler gives.
pub(crate) const PANIC_TYPE: &str = "HANDLER_PANIC";

fn panic_error(what: &str, payload: &(dyn std::any::Any + Send)) -> Error {
    let reason = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    Error::server(format!("{what} panicked: {reason}"), 500, PANIC_TYPE).with_retryable(false)
}

impl<T> Future for CatchPanic<T> {
    type Output = Result<T, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let what = self.what;
        let inner = &mut self.inner;
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.as_mut().poll(cx))) {
            Ok(poll) => poll,
            Err(payload) => Poll::Ready(Err(panic_error(what, payload.as_ref()))),
        }
    }
}
