//! Caching of action results, as Moleculer's cachers do it.
//!
//! A broker gets one [`Cacher`] ([`BrokerBuilder::cacher`](crate::BrokerBuilder::cacher)):
//! [`Memory`], [`MemoryLru`], or the Redis cacher of `broker-redis`, which Moleculer.js nodes
//! can share. An action opts in with [`ActionDef::cache`](crate::ActionDef::cache) (or
//! `#[action(cache)]`); its results are then stored under a key built from its name and
//! params exactly as Moleculer builds it ([`KeyGen`]), and a call whose key is found is
//! answered from the cache without running the handler, its bulkhead or its timeout
//! ([`Context::cached_result`] tells which).
//!
//! ```
//! use broker_core::cache::{CacheSpec, Memory};
//! use broker_core::{ActionDef, Broker, Error, ServiceSchema};
//! use serde_json::{json, Value};
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::sync::Arc;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Error> {
//! let runs = Arc::new(AtomicUsize::new(0));
//! let counted = runs.clone();
//! let broker = Broker::builder().cacher(Memory::new()).build();
//! let users = ServiceSchema::new("users").action(
//!     ActionDef::new("get", move |ctx| {
//!         counted.fetch_add(1, Ordering::Relaxed);
//!         async move { Ok(json!({"id": ctx.params()["id"]})) }
//!     })
//!     .cache(CacheSpec::new().keys(["id"])),
//! );
//! broker.add_service(users).await?;
//! broker.start().await?;
//! for _ in 0..3 {
//!     let user: Value = broker.call("users.get", json!({"id": 5})).await?;
//!     assert_eq!(user, json!({"id": 5}));
//! }
//! assert_eq!(runs.load(Ordering::Relaxed), 1);
//! // Invalidation, as `this.broker.cacher.clean("users.**")` in Moleculer.
//! if let Some(cacher) = broker.cacher() {
//!     cacher.clean("users.**").await?;
//! }
//! let _: Value = broker.call("users.get", json!({"id": 5})).await?;
//! assert_eq!(runs.load(Ordering::Relaxed), 2);
//! broker.stop().await
//! # }
//! ```
//!
//! Cacher errors never fail a call: they are logged, broadcast locally as `$cacher.error`, and
//! the handler answers.

mod keygen;
mod keytext;
mod memory;
mod middleware;
mod spec;

pub use keygen::{KeyGen, KeyRules, KeySource};
pub use memory::{Memory, MemoryLru};
pub use spec::{CacheSpec, CacherOptions, LockSpec};

pub(crate) use middleware::wrap_action;

use crate::context::Context;
use crate::error::Error;
use crate::payload::Payload;
use crate::service::EventDef;
use crate::transporter::BoxFuture;
use serde_json::value::RawValue;
use std::fmt;
use std::time::Duration;

/// A result store shared by the actions of a broker (and, for a remote store, by every node
/// that uses it).
///
/// Keys are the ones [`KeyGen`] builds; a store that shares keys with other processes adds its
/// own prefix (Moleculer's `MOL-<namespace>-`). Values are JSON text, stored as Moleculer's
/// JSON serializer stores them.
pub trait Cacher: Send + Sync + fmt::Debug + 'static {
    /// Called once by the broker that uses it, before any call: its namespace (for the
    /// default key prefix).
    fn init(&self, namespace: &str) {
        let _ = namespace;
    }

    /// Its options (TTL, `maxParamsLength`, …).
    fn options(&self) -> &CacherOptions;

    /// Its name in `$node.options` (`Memory`, `MemoryLRU`, `Redis`).
    fn name(&self) -> &'static str;

    /// The value stored under `key`, if any and not expired.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Payload>, Error>>;

    /// A value found without waiting, for stores that can answer at once (in-process ones):
    /// `None` when it takes a round trip (then [`Cacher::get`] is used).
    fn get_now(&self, key: &str) -> Option<Result<Option<Payload>, Error>> {
        let _ = key;
        None
    }

    /// Stores `value` under `key` for `ttl` (`None`: the cacher's TTL; no TTL: for ever).
    fn set<'a>(
        &'a self,
        key: &'a str,
        value: &'a RawValue,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<(), Error>>;

    /// Removes these keys.
    fn del<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<(), Error>>;

    /// Removes every key matching `pattern`, with Moleculer's wildcards (`*` within one
    /// dot-separated segment, `**` across segments, `?` one character): `posts.**`,
    /// `posts.get:*`.
    fn clean<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<(), Error>>;

    /// Takes the lock of `key` (waiting for it), held at most `ttl`: while one caller computes
    /// a missing entry, the others wait for it instead of computing it too.
    fn lock<'a>(&'a self, key: &'a str, ttl: Duration) -> BoxFuture<'a, Result<CacheLock, Error>>;

    /// Releases connections (the broker calls it on stop).
    fn close(&self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async { Ok(()) })
    }
}

/// A held cache lock; [`CacheLock::release`] gives it back (dropping it releases an
/// in-process lock at once, a remote one when its TTL runs out).
pub struct CacheLock {
    release: Option<Release>,
}

/// What gives a lock back.
type Release = Box<dyn FnOnce() -> BoxFuture<'static, Result<(), Error>> + Send>;

impl fmt::Debug for CacheLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheLock")
            .field("held", &self.release.is_some())
            .finish()
    }
}

impl CacheLock {
    /// A lock released by `release`.
    pub fn new<F>(release: F) -> CacheLock
    where
        F: FnOnce() -> BoxFuture<'static, Result<(), Error>> + Send + 'static,
    {
        CacheLock {
            release: Some(Box::new(release)),
        }
    }

    /// Gives the lock back.
    pub async fn release(mut self) -> Result<(), Error> {
        match self.release.take() {
            Some(release) => release().await,
            None => Ok(()),
        }
    }
}

impl Context {
    /// Whether this call was answered from the cache (Moleculer's `ctx.cachedResult`): true
    /// once a cached action's result came from its cacher instead of its handler.
    pub fn cached_result(&self) -> bool {
        self.0.trace.cached_result()
    }
}

impl crate::Broker {
    /// The broker's cacher, if it has one: `clean` and `del` invalidate entries from handlers.
    pub fn cacher(&self) -> Option<&std::sync::Arc<dyn Cacher>> {
        self.config().cacher.as_ref()
    }
}

/// An event handler that cleans the broker's cache on an event, Moleculer's
/// `cache.clean.<entity>` convention: every node caching posts subscribes
/// `clean_on_event("cache.clean.posts", ["posts.**"])`, and the node that changes a post
/// broadcasts `cache.clean.posts`. The patterns are cleaned in order; a failure is logged.
///
/// ```
/// use broker_core::{cache, ServiceSchema};
///
/// let posts = ServiceSchema::new("posts")
///     .event(cache::clean_on_event("cache.clean.posts", ["posts.**"]));
/// # let _ = posts;
/// ```
pub fn clean_on_event<I, S>(event: &str, patterns: I) -> EventDef
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let patterns: std::sync::Arc<[String]> = patterns.into_iter().map(Into::into).collect();
    EventDef::new(event, move |ctx: Context| {
        let patterns = patterns.clone();
        async move {
            let Some(cacher) = ctx.broker().cacher().cloned() else {
                tracing::debug!("cache clean event on a broker without a cacher");
                return Ok(());
            };
            for pattern in patterns.iter() {
                if let Err(err) = cacher.clean(pattern).await {
                    tracing::warn!(%err, pattern, "cache clean failed");
                }
            }
            Ok(())
        }
    })
}
