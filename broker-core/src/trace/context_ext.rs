//! What a context knows of its trace: the sampling decision, the custom spans open in it, the
//! service of its span and an incoming W3C `tracestate`.

use super::propagation::{self, TRACEPARENT, TRACESTATE};
use super::span::{SpanGuard, SpanService};
use crate::context::Context;
use crate::packet::JsonMap;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

// 0: undecided.
const NOT_SAMPLED: u8 = 1;
const SAMPLED: u8 = 2;

/// The trace part of a context: small, since every context has one, traced or not.
#[derive(Debug, Default)]
pub(crate) struct TraceState {
    sampled: AtomicU8,
    /// Set when the cacher answered the call (`ctx.cached_result()`, the span's `fromCache`).
    cached: AtomicBool,
    pub(crate) service: OnceLock<Arc<SpanService>>,
    /// Custom spans and W3C state, allocated only for a context that has them.
    extra: OnceLock<Box<Extra>>,
}

#[derive(Debug, Default)]
struct Extra {
    /// IDs of the custom spans open in this context, innermost last.
    spans: Mutex<Vec<String>>,
    /// The `tracestate` that came with an incoming `traceparent`.
    w3c_state: OnceLock<String>,
}

impl TraceState {
    /// A state with the caller's sampling decision, if it made one.
    pub(crate) fn new(sampled: Option<bool>) -> TraceState {
        let state = TraceState::default();
        if let Some(s) = sampled {
            state.sampled.store(encode(s), Ordering::Relaxed);
        }
        state
    }

    /// A copy for a context copy (same decision, service and `tracestate`).
    pub(crate) fn copy(&self) -> TraceState {
        let state = TraceState {
            sampled: AtomicU8::new(self.sampled.load(Ordering::Relaxed)),
            cached: AtomicBool::new(self.cached.load(Ordering::Relaxed)),
            service: OnceLock::new(),
            extra: OnceLock::new(),
        };
        if let Some(s) = self.service.get() {
            let _ = state.service.set(s.clone());
        }
        if let Some(extra) = self.extra.get() {
            let copy = Extra {
                spans: Mutex::new(lock(&extra.spans).clone()),
                w3c_state: OnceLock::new(),
            };
            if let Some(w3c) = extra.w3c_state.get() {
                let _ = copy.w3c_state.set(w3c.clone());
            }
            let _ = state.extra.set(Box::new(copy));
        }
        state
    }

    /// Whether the cacher answered the call.
    pub(crate) fn cached_result(&self) -> bool {
        self.cached.load(Ordering::Relaxed)
    }

    /// Marks the call as answered by the cacher.
    pub(crate) fn set_cached_result(&self) {
        self.cached.store(true, Ordering::Relaxed);
    }

    fn extra(&self) -> &Extra {
        self.extra.get_or_init(Box::default)
    }

    /// The incoming `tracestate`, if any.
    pub(crate) fn w3c_state(&self) -> Option<&String> {
        self.extra.get().and_then(|e| e.w3c_state.get())
    }

    pub(crate) fn set_w3c_state(&self, state: String) {
        let _ = self.extra().w3c_state.set(state);
    }

    fn innermost_span(&self) -> Option<String> {
        let extra = self.extra.get()?;
        let spans = lock(&extra.spans);
        spans.last().cloned()
    }
}

fn encode(sampled: bool) -> u8 {
    if sampled {
        SAMPLED
    } else {
        NOT_SAMPLED
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Context {
    /// Whether this context's trace is sampled: `None` until the tracer (or the caller)
    /// decided, always `None` with tracing off.
    pub fn trace_sampled(&self) -> Option<bool> {
        match self.0.trace.sampled.load(Ordering::Relaxed) {
            SAMPLED => Some(true),
            NOT_SAMPLED => Some(false),
            _ => None,
        }
    }

    pub(crate) fn set_trace_sampled(&self, sampled: bool) {
        self.0
            .trace
            .sampled
            .store(encode(sampled), Ordering::Relaxed);
    }

    /// Starts a custom span, a child of the handler's span (or of the innermost custom span
    /// open in this context); it finishes when the guard drops. Calls and events made from
    /// this context meanwhile are its children. In a root context ([`Context::root`]) it
    /// starts a trace, sampled as the broker's sampling says.
    ///
    /// ```
    /// use broker_core::{ActionDef, Context};
    ///
    /// let action = ActionDef::new("report", |ctx: Context| async move {
    ///     let mut span = ctx.start_span("load rows");
    ///     span.tag("rows", serde_json::json!(42));
    ///     drop(span);
    ///     Ok(serde_json::json!("done"))
    /// });
    /// # let _ = action;
    /// ```
    pub fn start_span(&self, name: &str) -> SpanGuard {
        SpanGuard::start(self, name)
    }

    /// The ID the next child's `parentID` gets: the innermost open custom span, else this
    /// context's ID (its own span's), as in Moleculer.
    pub(crate) fn span_parent_id(&self) -> String {
        match self.0.trace.innermost_span() {
            Some(id) => id,
            None => self.id().to_owned(),
        }
    }

    pub(crate) fn has_open_spans(&self) -> bool {
        self.0
            .trace
            .extra
            .get()
            .is_some_and(|e| !lock(&e.spans).is_empty())
    }

    pub(crate) fn push_span(&self, id: &str) {
        lock(&self.0.trace.extra().spans).push(id.to_owned());
    }

    pub(crate) fn pop_span(&self, id: &str) {
        let Some(extra) = self.0.trace.extra.get() else {
            return;
        };
        let mut spans = lock(&extra.spans);
        if let Some(at) = spans.iter().rposition(|s| s == id) {
            spans.remove(at);
        }
    }
}

/// What a call or event carries of its parent's trace.
#[derive(Debug, Default)]
pub(crate) struct CallTrace {
    /// The parent's sampling decision (the wire's `tracing` flag).
    pub(crate) sampled: Option<bool>,
    /// The parent's `tracestate`, passed on.
    pub(crate) w3c_state: Option<String>,
}

impl CallTrace {
    pub(crate) fn of(parent: Option<&Context>) -> CallTrace {
        match parent {
            None => CallTrace::default(),
            Some(p) => CallTrace {
                sampled: p.trace_sampled(),
                w3c_state: p.0.trace.w3c_state().cloned(),
            },
        }
    }

    /// The trace of a chain that starts from an incoming state.
    pub(crate) fn from_state(state: &TraceState) -> CallTrace {
        CallTrace {
            sampled: match state.sampled.load(Ordering::Relaxed) {
                SAMPLED => Some(true),
                NOT_SAMPLED => Some(false),
                _ => None,
            },
            w3c_state: state.w3c_state().cloned(),
        }
    }

    /// The trace state of the context a local call or event runs in.
    pub(crate) fn into_state(self) -> TraceState {
        let state = TraceState::new(self.sampled);
        if let Some(s) = self.w3c_state {
            state.set_w3c_state(s);
        }
        state
    }

    /// Writes `traceparent` (and `tracestate`) for a call or event whose parent span is
    /// `parent_id`: into `headers` (protocol 5) or else `meta` (protocol 4). Without a parent
    /// span there is nothing to point at, so nothing is written.
    pub(crate) fn inject(
        &self,
        request_id: &str,
        parent_id: Option<&str>,
        headers: Option<&mut JsonMap>,
        meta: &mut JsonMap,
    ) {
        let Some(parent_id) = parent_id else { return };
        let target = match headers {
            Some(h) => h,
            None => meta,
        };
        let value = propagation::traceparent(request_id, parent_id, self.sampled == Some(true));
        target.insert(TRACEPARENT.into(), Value::String(value));
        if let Some(state) = &self.w3c_state {
            target.insert(TRACESTATE.into(), Value::String(state.clone()));
        }
    }
}
