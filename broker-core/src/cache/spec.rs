//! The settings: a cacher's ([`CacherOptions`]) and an action's ([`CacheSpec`]).

use serde_json::{json, Value};
use std::time::Duration;

/// A cacher's options, as Moleculer's (`ttl`, `prefix`, `maxParamsLength`).
///
/// Moleculer's `missingResponse` has no counterpart: a miss is `None` here, so a cached
/// `null` is told apart from a missing entry without a marker value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacherOptions {
    /// How long entries live unless an action sets its own (`None`: for ever).
    pub ttl: Option<Duration>,
    /// Key prefix of a shared store (`None`: Moleculer's `MOL-<namespace>-`). The `-` after
    /// it is added, as in Moleculer.
    pub prefix: Option<String>,
    /// Params keys longer than this are cut and end in a hash (`None`: never; values under
    /// 44 are ignored, as in Moleculer).
    pub max_params_length: Option<usize>,
}

impl CacherOptions {
    /// Moleculer's defaults: no TTL, default prefix, no hashing.
    pub fn new() -> CacherOptions {
        CacherOptions::default()
    }
    /// Sets the TTL.
    pub fn ttl(mut self, ttl: Duration) -> CacherOptions {
        self.ttl = Some(ttl);
        self
    }
    /// Sets the key prefix.
    pub fn prefix(mut self, prefix: impl Into<String>) -> CacherOptions {
        self.prefix = Some(prefix.into());
        self
    }
    /// Sets `maxParamsLength`.
    pub fn max_params_length(mut self, max: usize) -> CacherOptions {
        self.max_params_length = Some(max);
        self
    }

    /// The full key prefix of a shared store in `namespace`.
    pub fn full_prefix(&self, namespace: &str) -> String {
        match &self.prefix {
            Some(p) if !p.is_empty() => format!("{p}-"),
            _ if namespace.is_empty() => "MOL-".to_owned(),
            _ => format!("MOL-{namespace}-"),
        }
    }
}

/// The lock an action's cache takes around a miss (Moleculer's `cache.lock`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockSpec {
    /// The longest a lock is held (Moleculer's default: 15 s).
    pub ttl: Duration,
}

impl Default for LockSpec {
    fn default() -> Self {
        LockSpec {
            ttl: Duration::from_secs(15),
        }
    }
}

/// How an action is cached (Moleculer's action `cache` option).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheSpec {
    /// Which values make the key (`"id"`, `"user.id"`, `"#meta.key"`, `"@header"`); `None`:
    /// all the params.
    pub keys: Option<Vec<String>>,
    /// How long its entries live (`None`: the cacher's TTL).
    pub ttl: Option<Duration>,
    /// The lock around a miss, so that concurrent misses compute the value once.
    pub lock: Option<LockSpec>,
}

impl CacheSpec {
    /// Cached by all its params, with the cacher's TTL (`cache: true`).
    pub fn new() -> CacheSpec {
        CacheSpec::default()
    }
    /// Keys from these values only.
    pub fn keys<I, S>(mut self, keys: I) -> CacheSpec
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.keys = Some(keys.into_iter().map(Into::into).collect());
        self
    }
    /// Its own TTL.
    pub fn ttl(mut self, ttl: Duration) -> CacheSpec {
        self.ttl = Some(ttl);
        self
    }
    /// Locks around misses (default lock TTL).
    pub fn lock(mut self) -> CacheSpec {
        self.lock = Some(LockSpec::default());
        self
    }
    /// Locks around misses, each lock held at most `ttl`.
    pub fn lock_ttl(mut self, ttl: Duration) -> CacheSpec {
        self.lock = Some(LockSpec { ttl });
        self
    }

    /// The action's `cache` entry in INFO, as Moleculer.js publishes it: `true`, or the
    /// options object (`ttl` in seconds, lock `ttl` in milliseconds).
    pub fn to_info(&self) -> Value {
        if self == &CacheSpec::default() {
            return Value::Bool(true);
        }
        let mut out = serde_json::Map::new();
        if let Some(keys) = &self.keys {
            out.insert("keys".into(), json!(keys));
        }
        if let Some(ttl) = self.ttl {
            let secs = match ttl.subsec_nanos() {
                0 => json!(ttl.as_secs()),
                _ => json!(ttl.as_secs_f64()),
            };
            out.insert("ttl".into(), secs);
        }
        if let Some(lock) = self.lock {
            out.insert(
                "lock".into(),
                json!({"enabled": true, "ttl": lock.ttl.as_millis() as u64}),
            );
        }
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_is_true_or_the_options() {
        assert_eq!(CacheSpec::new().to_info(), json!(true));
        let spec = CacheSpec::new()
            .keys(["id", "#user.id"])
            .ttl(Duration::from_secs(30));
        assert_eq!(
            spec.to_info(),
            json!({"keys": ["id", "#user.id"], "ttl": 30})
        );
    }

    #[test]
    fn prefix_defaults_to_moleculers() {
        assert_eq!(CacherOptions::new().full_prefix(""), "MOL-");
        assert_eq!(CacherOptions::new().full_prefix("dev"), "MOL-dev-");
        assert_eq!(
            CacherOptions::new().prefix("app").full_prefix("dev"),
            "app-"
        );
    }
}
