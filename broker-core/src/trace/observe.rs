//! The per-call hook where the broker runs a local action (`Broker::run_action`): Moleculer's
//! request metrics and the handler's span, measured together.
//!
//! Why here and not as a wrapper around the handler (as the event handlers are): a wrapper is
//! one more boxed future per call, and metrics and tracing each read the clock at the start
//! and at the end of a call. Here one clock read at the start and one at the end serve both,
//! a call whose trace is not sampled reads no clock for tracing at all, nothing is allocated
//! per call until a sampled span is handed to an exporter that keeps it, and the times become
//! epoch milliseconds only when an exporter builds the span. A call with metrics and tracing
//! off pays one test of two `Option`s.

use super::span::{epoch_ms_at, FinishedSpan};
use super::wrap::{select, start_data, HandlerSpan, Target};
use super::TagSelect;
use crate::context::Context;
use crate::error::Error;
use crate::metrics::{RequestCell, RequestTimer};
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;
use tracing::field::Empty;

/// The tracing of one local action (built when its service registers).
pub(crate) type ActionTrace = Target;

/// A sampled span, as of its start.
struct Started {
    target: Arc<Target>,
    ctx: Context,
    start: Instant,
    timeout_ms: Option<u64>,
    meta: Option<Value>,
}

/// What is being measured of one local call; [`Observation::finish`] records it.
pub(crate) struct Observation<'a> {
    timer: Option<RequestTimer<'a>>,
    span: Option<Started>,
    /// The `tracing` span, when a subscriber wants it.
    log: Option<tracing::Span>,
    /// Whether the end needs a clock read.
    timed: bool,
}

impl<'a> Observation<'a> {
    /// Starts measuring a call of a local action with these metrics and this tracing; `None`
    /// when there is nothing to measure (both off), so that such a call pays nothing more.
    #[inline]
    pub(crate) fn begin(
        metrics: Option<&'a RequestCell>,
        trace: Option<&Arc<ActionTrace>>,
        ctx: &Context,
    ) -> Option<Observation<'a>> {
        if metrics.is_none() && trace.is_none() {
            return None;
        }
        Some(Observation::begin_some(metrics, trace, ctx))
    }

    #[inline]
    fn begin_some(
        metrics: Option<&'a RequestCell>,
        trace: Option<&Arc<ActionTrace>>,
        ctx: &Context,
    ) -> Observation<'a> {
        let sampled = trace.filter(|t| t.tracer.decide(ctx));
        let timed = metrics.is_some() || sampled.is_some();
        // The one clock read of the start.
        let start = timed.then(Instant::now);
        let timer = metrics
            .zip(start)
            .map(|(m, at)| m.begin_at(ctx.caller(), ctx.level(), at));
        let log = trace
            .map(|target| log_span(target, ctx))
            .filter(|span| !span.is_disabled());
        let span = sampled.zip(start).map(|(target, at)| {
            let timeout_ms = ctx
                .0
                .deadline
                .map(|d| d.into_std().saturating_duration_since(at).as_millis() as u64);
            let meta = match &target.spec.meta {
                TagSelect::None => None,
                which => select(which, &Value::Object(ctx.meta())),
            };
            if target.tracer.wants_started() {
                let mut data = start_data(target, ctx, timeout_ms, meta.clone());
                data.start_time = epoch_ms_at(at);
                target.tracer.started(&data);
            }
            Started {
                target: target.clone(),
                ctx: ctx.clone(),
                start: at,
                timeout_ms,
                meta,
            }
        });
        Observation {
            timer,
            span,
            log,
            timed,
        }
    }

    /// The `tracing` span to run the handler in (its synchronous start too, then its future
    /// instrumented with it, so the handler's own log lines nest in it), when a subscriber
    /// wants it.
    pub(crate) fn log_span(&self) -> Option<&tracing::Span> {
        self.log.as_ref()
    }

    /// Records the end of the call: its time, its error if it failed, its span.
    #[inline]
    pub(crate) fn finish(self, error: Option<&Error>) {
        if let (Some(err), Some(log)) = (error, &self.log) {
            log.record("error.name", err.name());
            log.record("error.code", err.code());
        }
        if !self.timed {
            return;
        }
        // The one clock read of the end.
        let end = Instant::now();
        if let Some(timer) = self.timer {
            timer.finish_at(error, end);
        }
        if let Some(s) = self.span {
            let tracer = s.target.tracer.clone();
            tracer.finished_with(|| {
                FinishedSpan::handler(HandlerSpan {
                    target: s.target,
                    ctx: s.ctx,
                    start: s.start,
                    finish: end,
                    timeout_ms: s.timeout_ms,
                    meta: s.meta,
                    error: error.cloned(),
                })
            });
        }
    }
}

/// The `tracing` span of an action handler; its IDs are recorded only when a subscriber
/// wants the span.
fn log_span(target: &Target, ctx: &Context) -> tracing::Span {
    let span = tracing::info_span!(
        "action",
        action = %target.name,
        service = %target.service.full_name,
        node_id = %target.tracer.node_id,
        request_id = Empty,
        ctx_id = Empty,
        parent_id = Empty,
        level = ctx.level(),
        caller = ctx.caller().unwrap_or_default(),
        remote = ctx.0.node_id.is_some(),
        from_cache = false,
        error.name = Empty,
        error.code = Empty,
    );
    if !span.is_disabled() {
        span.record("request_id", ctx.request_id());
        span.record("ctx_id", ctx.id());
        if let Some(parent) = ctx.parent_id() {
            span.record("parent_id", parent);
        }
    }
    span
}
