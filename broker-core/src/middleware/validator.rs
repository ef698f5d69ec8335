//! The validator middleware: an action with a fastest-validator `params` schema gets its
//! params checked before its handler runs, and a failure answers Moleculer's
//! `ValidationError` with fastest-validator's `data`, as a Moleculer.js action would.

use super::{ActionSpec, EventSpec, Middleware};
use crate::schema::fastest::PARAMS;
use crate::service::{ActionHandler, EventHandler};
use crate::validation::{rejected, rejected_event, ParamsChecker};
use std::sync::Arc;

/// Checks an action's params against its `params` schema (from the macros, or set by hand
/// with [`crate::ActionDef::info`]).
///
/// When the handler's own typed params already reject everything the schema does
/// ([`crate::ActionDef::params_checked_by_handler`], set by the macros for a type without
/// constraints), calls are not checked twice: the validator leaves the handler as it is, and
/// only a call the handler rejects is checked (by the broker, with the checker it keeps for
/// the action), to answer with fastest-validator's full list of problems instead of serde's
/// first one.
/// Not when service hooks sit between it and the handler: a `before` hook may replace the
/// params and an `error` hook the handler's error, so every call is checked then.
#[derive(Debug, Default, Clone, Copy)]
pub struct Validator {
    wraps_hooks: bool,
}

impl Validator {
    /// A validator whose `next` handler runs service hooks first (`true`) or not.
    pub fn wrapping_hooks(wraps_hooks: bool) -> Validator {
        Validator { wraps_hooks }
    }
}

impl Middleware for Validator {
    fn wrap_action(&self, action: &ActionSpec<'_>, next: ActionHandler) -> ActionHandler {
        let Some(schema) = action.def.extra.get(PARAMS) else {
            return next;
        };
        let Some(checker) = ParamsChecker::compile(schema) else {
            tracing::warn!(
                action = action.name,
                "its `params` is no schema; params are not checked"
            );
            return next;
        };
        if action.def.params_checked_by_handler && !self.wraps_hooks {
            // The handler's own deserialization rejects what the schema would; only a
            // rejected call is checked, by the broker (`Context::params_as`), to answer with
            // fastest-validator's full list. No wrapper here: one would hold the context
            // across the handler and cost a local typed call its move of the params.
            return next;
        }
        let checker = Arc::new(checker);
        let name: Arc<str> = Arc::from(action.name);
        Arc::new(move |ctx| {
            // Most calls pass: the quick pass over the text says so without parsing it.
            if checker.passes(ctx.params_raw().get()) {
                return next(ctx);
            }
            let problems = checker.check(ctx.params());
            if problems.is_empty() {
                return next(ctx);
            }
            let err = rejected(problems, &name, ctx.node_id());
            Box::pin(std::future::ready(Err(err)))
        })
    }

    fn wrap_event(&self, event: &EventSpec<'_>, next: EventHandler) -> EventHandler {
        let Some(schema) = &event.def.params else {
            return next;
        };
        let Some(checker) = ParamsChecker::compile(schema) else {
            tracing::warn!(
                event = event.name,
                "its `params` is no schema; payloads are not checked"
            );
            return next;
        };
        let checker = Arc::new(checker);
        let name: Arc<str> = Arc::from(event.name);
        Arc::new(move |ctx| {
            if checker.passes(ctx.params_raw().get()) {
                return next(ctx);
            }
            let problems = checker.check(ctx.params());
            if problems.is_empty() {
                return next(ctx);
            }
            let err = rejected_event(problems, &name, ctx.node_id());
            Box::pin(std::future::ready(Err(err)))
        })
    }
}
