//! The cacher middleware: wraps each cached local action so that a call whose key is stored
//! is answered from the store, and a miss runs the handler and stores its result.
//!
//! It sits where Moleculer's `Cacher` middleware sits: outside the bulkhead, the hooks and the
//! timeout (a hit skips all of them), inside tracing and metrics (a hit is still a traced,
//! counted call, with `fromCache: true`).

use super::keygen::{KeyGen, KeyRules, KeySource};
use super::{CacheSpec, Cacher};
use crate::context::Context;
use crate::error::Error;
use crate::middleware::ActionSpec;
use crate::packet::JsonMap;
use crate::payload::Payload;
use crate::service::ActionHandler;
use serde_json::{json, Value};
use std::sync::Arc;

/// What the wrapper of one action knows.
struct Target {
    cacher: Arc<dyn Cacher>,
    action: Arc<str>,
    spec: CacheSpec,
    keygen: KeyGen,
    /// Whether a key reads meta (then the meta is copied per call).
    reads_meta: bool,
}

/// Wraps `handler` when the action is cached and the broker has a cacher.
pub(crate) fn wrap_action(
    cacher: Option<&Arc<dyn Cacher>>,
    protocol: crate::ProtocolVersion,
    action: &ActionSpec<'_>,
    handler: ActionHandler,
) -> ActionHandler {
    let (Some(cacher), Some(spec)) = (cacher, action.def.cache.as_ref()) else {
        return handler;
    };
    let keygen = KeyGen {
        rules: KeyRules::for_protocol(protocol),
        max_params_length: cacher.options().max_params_length,
    };
    let reads_meta = spec
        .keys
        .as_ref()
        .is_some_and(|keys| keys.iter().any(|k| k.starts_with('#')));
    let target = Arc::new(Target {
        cacher: cacher.clone(),
        action: Arc::from(action.name),
        spec: spec.clone(),
        keygen,
        reads_meta,
    });
    Arc::new(move |ctx: Context| {
        // `ctx.meta.$cache = false` turns the cache off for one call, as in Moleculer.
        if ctx.meta_value("$cache") == Some(Value::Bool(false)) {
            return handler(ctx);
        }
        let key = target.key(&ctx);
        if target.spec.lock.is_none() {
            if let Some(found) = target.cacher.get_now(&key) {
                match found {
                    Ok(Some(hit)) => {
                        ctx.0.trace.set_cached_result();
                        return Box::pin(std::future::ready(Ok(hit)));
                    }
                    Ok(None) => return Box::pin(miss(target.clone(), ctx, key, handler.clone())),
                    Err(err) => {
                        let run = handler(ctx.clone());
                        return Box::pin(async move {
                            cacher_error(&ctx, "get", &err).await;
                            run.await
                        });
                    }
                }
            }
        }
        Box::pin(lookup(target.clone(), ctx, key, handler.clone()))
    })
}

impl Target {
    fn key(&self, ctx: &Context) -> String {
        if self.spec.keys.is_none() {
            // A hit needs no tree of the params: the key comes from their text.
            if let Some(key) = self
                .keygen
                .key_from_text(&self.action, ctx.params_raw().get())
            {
                return key;
            }
        }
        let meta = if self.reads_meta {
            ctx.meta()
        } else {
            JsonMap::new()
        };
        let src = KeySource {
            params: ctx.params(),
            meta: &meta,
            headers: ctx.headers(),
        };
        self.keygen
            .key(&self.action, self.spec.keys.as_deref(), src)
    }
}

/// A lookup that waits for the store (and takes the lock on a miss, when the action locks).
async fn lookup(
    target: Arc<Target>,
    ctx: Context,
    key: String,
    handler: ActionHandler,
) -> Result<Payload, Error> {
    match target.cacher.get(&key).await {
        Ok(Some(hit)) => {
            ctx.0.trace.set_cached_result();
            return Ok(hit);
        }
        Ok(None) => {}
        Err(err) => {
            cacher_error(&ctx, "get", &err).await;
            return handler(ctx).await;
        }
    }
    let Some(lock_spec) = target.spec.lock else {
        return miss(target, ctx, key, handler).await;
    };
    // The wait for another caller's computation counts against this call's deadline, as
    // Moleculer's timeout (outside its cacher) bounds it.
    let taking = target.cacher.lock(&key, lock_spec.ttl);
    let taken = match ctx.deadline() {
        Some(deadline) => match tokio::time::timeout_at(deadline, taking).await {
            Ok(taken) => taken,
            Err(_) => {
                let node = ctx.broker().node_id().to_owned();
                return Err(Error::request_timeout(&target.action, &node));
            }
        },
        None => taking.await,
    };
    let lock = match taken {
        Ok(lock) => lock,
        Err(err) => {
            // No lock: compute it anyway rather than fail the call.
            cacher_error(&ctx, "lock", &err).await;
            return miss(target, ctx, key, handler).await;
        }
    };
    // Whoever held the lock before may have stored it meanwhile.
    match target.cacher.get(&key).await {
        Ok(Some(hit)) => {
            release(&ctx, lock).await;
            ctx.0.trace.set_cached_result();
            return Ok(hit);
        }
        Ok(None) => {}
        Err(err) => cacher_error(&ctx, "get", &err).await,
    }
    let result = miss(target, ctx.clone(), key, handler).await;
    release(&ctx, lock).await;
    result
}

/// Runs the handler and stores a success.
async fn miss(
    target: Arc<Target>,
    ctx: Context,
    key: String,
    handler: ActionHandler,
) -> Result<Payload, Error> {
    let result = handler(ctx.clone()).await?;
    if let Err(err) = target.cacher.set(&key, &result, target.spec.ttl).await {
        cacher_error(&ctx, "set", &err).await;
    }
    Ok(result)
}

async fn release(ctx: &Context, lock: super::CacheLock) {
    if let Err(err) = lock.release().await {
        cacher_error(ctx, "unlock", &err).await;
    }
}

/// A cacher failure: logged and broadcast locally as `$cacher.error` (Moleculer's shape),
/// never the call's error.
async fn cacher_error(ctx: &Context, op: &str, err: &Error) {
    tracing::warn!(%err, op, action = ctx.action().unwrap_or_default(), "cacher failed; the handler answers");
    let payload = json!({
        "error": {
            "name": err.name(),
            "message": err.message(),
            "code": err.code(),
            "type": err.error_type(),
        },
        "module": "cacher",
        "type": op,
    });
    if let Err(err) = ctx.broker().broadcast_local("$cacher.error", payload).await {
        tracing::debug!(%err, "could not broadcast $cacher.error");
    }
}
