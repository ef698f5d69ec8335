//! In-process cachers: [`Memory`] (unbounded, Moleculer's `Memory`) and [`MemoryLru`] (at most
//! `max` entries, the least recently used evicted first, Moleculer's `MemoryLRU`).

use super::{CacheLock, Cacher, CacherOptions};
use crate::error::Error;
use crate::event_match;
use crate::payload::Payload;
use crate::transporter::BoxFuture;
use serde_json::value::RawValue;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// Sets between two sweeps of expired entries.
const SWEEP_EVERY: u64 = 1024;

struct Entry {
    data: Payload,
    expire: Option<Instant>,
    /// Last use, for LRU order.
    tick: u64,
}

#[derive(Default)]
struct Store {
    map: HashMap<String, Entry>,
    /// Use order (tick → key), kept only with a bound.
    order: BTreeMap<u64, String>,
    tick: u64,
    sets: u64,
}

impl Store {
    fn touch(&mut self, key: &str, bounded: bool) {
        if !bounded {
            return;
        }
        self.tick += 1;
        let tick = self.tick;
        if let Some(entry) = self.map.get_mut(key) {
            self.order.remove(&entry.tick);
            entry.tick = tick;
            self.order.insert(tick, key.to_owned());
        }
    }

    fn remove(&mut self, key: &str) {
        if let Some(entry) = self.map.remove(key) {
            self.order.remove(&entry.tick);
        }
    }

    fn sweep(&mut self, now: Instant) {
        let expired: Vec<String> = self
            .map
            .iter()
            .filter(|(_, e)| e.expire.is_some_and(|t| t <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for key in expired {
            self.remove(&key);
        }
    }
}

/// What both in-process cachers are: a map behind a mutex, and per-key locks.
struct Shared {
    options: CacherOptions,
    /// `Some(max)` for the LRU.
    max: Option<usize>,
    store: Mutex<Store>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    fn new(options: CacherOptions, max: Option<usize>) -> Arc<Shared> {
        Arc::new(Shared {
            options,
            max,
            store: Mutex::default(),
            locks: Mutex::default(),
        })
    }

    fn get(&self, key: &str) -> Option<Payload> {
        let mut store = guard(&self.store);
        let entry = store.map.get(key)?;
        if entry.expire.is_some_and(|t| t <= Instant::now()) {
            store.remove(key);
            return None;
        }
        let data = entry.data.clone();
        store.touch(key, self.max.is_some());
        Some(data)
    }

    fn set(&self, key: &str, value: &RawValue, ttl: Option<Duration>) {
        let now = Instant::now();
        let expire = ttl.or(self.options.ttl).map(|ttl| now + ttl);
        let mut store = guard(&self.store);
        store.remove(key);
        store.tick += 1;
        let tick = store.tick;
        store.map.insert(
            key.to_owned(),
            Entry {
                data: value.to_owned(),
                expire,
                tick,
            },
        );
        if let Some(max) = self.max {
            store.order.insert(tick, key.to_owned());
            while store.map.len() > max.max(1) {
                let Some((_, oldest)) = store.order.pop_first() else {
                    break;
                };
                store.map.remove(&oldest);
            }
        }
        store.sets += 1;
        if store.sets % SWEEP_EVERY == 0 {
            store.sweep(now);
        }
    }

    fn del(&self, keys: &[String]) {
        let mut store = guard(&self.store);
        for key in keys {
            store.remove(key);
        }
    }

    fn clean(&self, pattern: &str) {
        let mut store = guard(&self.store);
        let doomed: Vec<String> = store
            .map
            .keys()
            .filter(|k| event_match::matches(pattern, k))
            .cloned()
            .collect();
        for key in doomed {
            store.remove(&key);
        }
    }

    async fn lock(self: Arc<Self>, key: &str) -> CacheLock {
        let mutex = guard(&self.locks)
            .entry(key.to_owned())
            .or_default()
            .clone();
        let held = mutex.clone().lock_owned().await;
        let key = key.to_owned();
        CacheLock::new(move || {
            drop(held);
            let mut locks = guard(&self.locks);
            // Only the map and this handle left: nobody waits, forget the key's lock.
            if Arc::strong_count(&mutex) == 2 {
                locks.remove(&key);
            }
            Box::pin(async { Ok(()) })
        })
    }
}

macro_rules! in_process_cacher {
    ($ty:ident, $name:literal) => {
        impl Cacher for $ty {
            fn options(&self) -> &CacherOptions {
                &self.0.options
            }

            fn name(&self) -> &'static str {
                $name
            }

            fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Payload>, Error>> {
                let found = self.0.get(key);
                Box::pin(async move { Ok(found) })
            }

            fn get_now(&self, key: &str) -> Option<Result<Option<Payload>, Error>> {
                Some(Ok(self.0.get(key)))
            }

            fn set<'a>(
                &'a self,
                key: &'a str,
                value: &'a RawValue,
                ttl: Option<Duration>,
            ) -> BoxFuture<'a, Result<(), Error>> {
                self.0.set(key, value, ttl);
                Box::pin(async { Ok(()) })
            }

            fn del<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<(), Error>> {
                self.0.del(keys);
                Box::pin(async { Ok(()) })
            }

            fn clean<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<(), Error>> {
                self.0.clean(pattern);
                Box::pin(async { Ok(()) })
            }

            fn lock<'a>(
                &'a self,
                key: &'a str,
                _ttl: Duration,
            ) -> BoxFuture<'a, Result<CacheLock, Error>> {
                let shared = self.0.clone();
                Box::pin(async move { Ok(shared.lock(key).await) })
            }
        }

        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("options", &self.0.options)
                    .field("max", &self.0.max)
                    .finish_non_exhaustive()
            }
        }
    };
}

/// Moleculer's `Memory` cacher: results kept in this process, without bound, until their TTL.
pub struct Memory(Arc<Shared>);

impl Memory {
    /// A memory cacher with Moleculer's defaults (no TTL).
    pub fn new() -> Memory {
        Memory::with_options(CacherOptions::default())
    }

    /// A memory cacher with these options.
    pub fn with_options(options: CacherOptions) -> Memory {
        Memory(Shared::new(options, None))
    }
}

impl Default for Memory {
    fn default() -> Self {
        Memory::new()
    }
}

in_process_cacher!(Memory, "Memory");

/// Moleculer's `MemoryLRU` cacher: at most `max` results in this process, the least recently
/// used dropped first.
pub struct MemoryLru(Arc<Shared>);

impl MemoryLru {
    /// An LRU cacher of at most `max` entries (Moleculer's default: 1000).
    pub fn new(max: usize) -> MemoryLru {
        MemoryLru::with_options(max, CacherOptions::default())
    }

    /// An LRU cacher with these options.
    pub fn with_options(max: usize, options: CacherOptions) -> MemoryLru {
        MemoryLru(Shared::new(options, Some(max)))
    }
}

in_process_cacher!(MemoryLru, "MemoryLRU");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::to_payload;
    use serde_json::json;

    fn val(v: serde_json::Value) -> Payload {
        to_payload(&v).expect("payload")
    }

    #[tokio::test]
    async fn lru_drops_the_least_recently_used() {
        let lru = MemoryLru::new(2);
        lru.set("a", &val(json!(1)), None).await.expect("set");
        lru.set("b", &val(json!(2)), None).await.expect("set");
        // `a` used last: `b` goes when `c` comes.
        assert!(lru.get("a").await.expect("get").is_some());
        lru.set("c", &val(json!(3)), None).await.expect("set");
        assert!(lru.get("b").await.expect("get").is_none());
        assert_eq!(
            lru.get("a").await.expect("get").map(|p| p.get().to_owned()),
            Some("1".into())
        );
        assert!(lru.get("c").await.expect("get").is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn entries_expire_after_their_ttl() {
        let mem = Memory::with_options(CacherOptions::new().ttl(Duration::from_secs(10)));
        mem.set("a", &val(json!("x")), None).await.expect("set");
        mem.set("b", &val(json!("y")), Some(Duration::from_secs(60)))
            .await
            .expect("set");
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(mem.get("a").await.expect("get").is_none());
        assert!(mem.get("b").await.expect("get").is_some());
    }

    #[tokio::test]
    async fn clean_uses_moleculer_wildcards() {
        let mem = Memory::new();
        for key in [
            "posts.get:1",
            "posts.list:",
            "users.get:1",
            "posts.v2.get:1",
        ] {
            mem.set(key, &val(json!(1)), None).await.expect("set");
        }
        mem.clean("posts.*").await.expect("clean");
        assert!(mem.get("posts.get:1").await.expect("get").is_none());
        assert!(mem.get("posts.list:").await.expect("get").is_none());
        // `*` stays within one segment.
        assert!(mem.get("posts.v2.get:1").await.expect("get").is_some());
        mem.clean("posts.**").await.expect("clean");
        assert!(mem.get("posts.v2.get:1").await.expect("get").is_none());
        assert!(mem.get("users.get:1").await.expect("get").is_some());
        mem.del(&["users.get:1".to_owned()]).await.expect("del");
        assert!(mem.get("users.get:1").await.expect("get").is_none());
    }

    #[tokio::test]
    async fn the_lock_lets_one_holder_in_at_a_time() {
        let mem = Arc::new(Memory::new());
        let first = mem.lock("k", Duration::from_secs(1)).await.expect("lock");
        let waiter = {
            let mem = mem.clone();
            tokio::spawn(async move { mem.lock("k", Duration::from_secs(1)).await.map(|_| ()) })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        first.release().await.expect("release");
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("waiter gets the lock")
            .expect("join")
            .expect("lock");
    }
}
