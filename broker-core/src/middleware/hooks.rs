//! Service hooks, as Moleculer's `hooks: {before, after, error}`: functions a service runs
//! before an action (and may replace its params), after it (and may replace its result), or
//! when it fails (and may recover). Each hook names the actions it applies to: a raw action
//! name (`create`), a pattern (`get*`, `*`), or several joined by `|`.

use crate::context::Context;
use crate::error::Error;
use crate::event_match::matches;
use crate::payload::to_payload;
use crate::service::ActionHandler;
use crate::transporter::BoxFuture;
use serde_json::Value;
use std::fmt;
use std::sync::Arc;

/// Runs before the action; `Some(params)` replaces the params.
pub type BeforeHook =
    Arc<dyn Fn(Context) -> BoxFuture<'static, Result<Option<Value>, Error>> + Send + Sync>;
/// Runs after the action with its result; returns the result to send.
pub type AfterHook =
    Arc<dyn Fn(Context, Value) -> BoxFuture<'static, Result<Value, Error>> + Send + Sync>;
/// Runs when the action (or a hook) failed; returns a result to recover, or an error.
pub type ErrorHook =
    Arc<dyn Fn(Context, Error) -> BoxFuture<'static, Result<Value, Error>> + Send + Sync>;

/// The hooks of one service.
#[derive(Clone, Default)]
pub struct Hooks {
    /// `before` hooks with the actions they apply to.
    pub before: Vec<(String, BeforeHook)>,
    /// `after` hooks with the actions they apply to.
    pub after: Vec<(String, AfterHook)>,
    /// `error` hooks with the actions they apply to.
    pub error: Vec<(String, ErrorHook)>,
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = |v: Vec<&String>| v.into_iter().cloned().collect::<Vec<_>>();
        f.debug_struct("Hooks")
            .field("before", &names(self.before.iter().map(|h| &h.0).collect()))
            .field("after", &names(self.after.iter().map(|h| &h.0).collect()))
            .field("error", &names(self.error.iter().map(|h| &h.0).collect()))
            .finish()
    }
}

fn applies(pattern: &str, raw_name: &str) -> bool {
    pattern.split('|').any(|p| matches(p.trim(), raw_name))
}

/// Moleculer's order: `before` runs the catch-all (`*`) hooks first, `after` and `error` run
/// them last.
fn ordered<T: Clone>(hooks: &[(String, T)], raw_name: &str, catch_all_first: bool) -> Vec<T> {
    let (all, specific): (Vec<_>, Vec<_>) = hooks
        .iter()
        .filter(|(p, _)| applies(p, raw_name))
        .partition(|(p, _)| p == "*");
    let (first, second) = if catch_all_first {
        (all, specific)
    } else {
        (specific, all)
    };
    first
        .into_iter()
        .chain(second)
        .map(|(_, h)| h.clone())
        .collect()
}

impl Hooks {
    /// Whether there are no hooks at all.
    pub fn is_empty(&self) -> bool {
        self.before.is_empty() && self.after.is_empty() && self.error.is_empty()
    }

    /// Wraps one action's handler with the hooks that apply to it.
    pub(crate) fn wrap(&self, raw_name: &str, next: ActionHandler) -> ActionHandler {
        let before = ordered(&self.before, raw_name, true);
        let after = ordered(&self.after, raw_name, false);
        let error = ordered(&self.error, raw_name, false);
        if before.is_empty() && after.is_empty() && error.is_empty() {
            return next;
        }
        let (before, after, error) = (Arc::new(before), Arc::new(after), Arc::new(error));
        Arc::new(move |ctx: Context| {
            let (before, after, error, next) =
                (before.clone(), after.clone(), error.clone(), next.clone());
            Box::pin(async move {
                let outcome = async {
                    let mut run_ctx = ctx.clone();
                    for hook in before.iter() {
                        if let Some(params) = hook(run_ctx.clone()).await? {
                            run_ctx = run_ctx.with_params(params);
                        }
                    }
                    let result = next(run_ctx.clone()).await;
                    if !run_ctx.same_as(&ctx) {
                        ctx.merge_meta(run_ctx.meta());
                    }
                    let payload = result?;
                    if after.is_empty() {
                        return Ok(payload);
                    }
                    // After hooks work on values; the result is parsed once for them.
                    let mut value: Value = serde_json::from_str(payload.get())?;
                    for hook in after.iter() {
                        value = hook(ctx.clone(), value).await?;
                    }
                    to_payload(&value)
                }
                .await;
                let mut outcome = outcome;
                for hook in error.iter() {
                    match outcome {
                        Err(err) => {
                            outcome = hook(ctx.clone(), err)
                                .await
                                .and_then(|value| to_payload(&value))
                        }
                        Ok(_) => break,
                    }
                }
                outcome
            })
        })
    }
}
