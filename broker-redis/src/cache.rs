//! A Redis cacher shared with Moleculer.js nodes: the same keys (`MOL-<namespace>-<action>:…`),
//! the same values (the JSON text Moleculer's JSON serializer stores), the same TTLs, and a
//! lock against stampedes that works across every node of the cluster.

use broker_core::cache::{CacheLock, Cacher, CacherOptions};
use broker_core::payload::Payload;
use broker_core::transporter::BoxFuture;
use broker_core::Error;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, RedisError};
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Releases a lock only if it still holds our token (another holder may own it after a TTL).
const UNLOCK: &str = r#"if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end"#;

/// Keys deleted per `DEL` while cleaning.
const CLEAN_BATCH: usize = 100;

/// Moleculer's Redis cacher, for a broker that shares its cache with other nodes (Rust or
/// Moleculer.js) through one Redis.
///
/// ```no_run
/// use broker_core::cache::{CacheSpec, CacherOptions};
/// use broker_core::{ActionDef, Broker, ServiceSchema};
/// use broker_redis::RedisCacher;
/// use std::time::Duration;
///
/// # fn main() -> Result<(), broker_core::Error> {
/// let cacher = RedisCacher::with_options(
///     "redis://127.0.0.1:6379",
///     CacherOptions::new().ttl(Duration::from_secs(60)),
/// )?;
/// let broker = Broker::builder().namespace("dev").cacher(cacher).build();
/// // Keys are `MOL-dev-<action>:<params key>`, as a Moleculer.js node of namespace `dev` with
/// // `cacher: "redis://127.0.0.1:6379"` writes and reads them.
/// # let _ = broker;
/// # Ok(())
/// # }
/// ```
///
/// Redis being unreachable never fails a call: the cacher reports the error and the handler
/// answers; the connection is opened again on the next use.
pub struct RedisCacher {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    options: CacherOptions,
    /// `MOL-<namespace>-`, known once the broker calls `init`.
    prefix: OnceLock<String>,
    /// The open connection (cloned per command: a handle to one multiplexed connection).
    conn: Mutex<Option<MultiplexedConnection>>,
    /// Held while connecting, so that concurrent commands open one connection.
    connecting: tokio::sync::Mutex<()>,
    timeout: Duration,
    /// How often a waiter tries a lock another node holds.
    lock_retry: Duration,
    /// Waiters of this process queue here, so that only one of them polls Redis.
    local_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    tokens: AtomicU64,
}

impl fmt::Debug for RedisCacher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCacher")
            .field("options", &self.inner.options)
            .field("prefix", &self.inner.prefix.get())
            .finish_non_exhaustive()
    }
}

fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn redis_error(op: &str, err: &RedisError) -> Error {
    Error::server(
        format!("Redis cacher {op} failed: {err}"),
        500,
        "CACHER_ERROR",
    )
}

impl RedisCacher {
    /// A cacher on the Redis at `url` (`redis://`, `rediss://`), Moleculer's defaults.
    pub fn new(url: &str) -> Result<RedisCacher, Error> {
        RedisCacher::with_options(url, CacherOptions::default())
    }

    /// A cacher on the Redis at `url` with these options.
    pub fn with_options(url: &str, options: CacherOptions) -> Result<RedisCacher, Error> {
        crate::transporter::ensure_crypto_provider();
        let client = Client::open(url)
            .map_err(|err| Error::broker_options(format!("invalid Redis URL: {err}")))?;
        Ok(RedisCacher {
            inner: Arc::new(Inner {
                client,
                options,
                prefix: OnceLock::new(),
                conn: Mutex::new(None),
                connecting: tokio::sync::Mutex::new(()),
                timeout: Duration::from_secs(2),
                lock_retry: Duration::from_millis(20),
                local_locks: Mutex::default(),
                tokens: AtomicU64::new(0),
            }),
        })
    }

    /// Sets how long one Redis command may take before it counts as failed (default 2 s).
    pub fn command_timeout(mut self, timeout: Duration) -> RedisCacher {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.timeout = timeout;
        }
        self
    }

    /// The key prefix (`MOL-<namespace>-` unless the options set one).
    pub fn prefix(&self) -> &str {
        self.inner.prefix()
    }
}

impl Inner {
    fn prefix(&self) -> &str {
        self.prefix
            .get_or_init(|| self.options.full_prefix(""))
            .as_str()
    }

    /// The shared connection, opened on first use and after a failure.
    async fn conn(&self) -> Result<MultiplexedConnection, Error> {
        if let Some(conn) = guard(&self.conn).as_ref() {
            return Ok(conn.clone());
        }
        let _connecting = self.connecting.lock().await;
        if let Some(conn) = guard(&self.conn).as_ref() {
            return Ok(conn.clone());
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|err| redis_error("connect", &err))?;
        *guard(&self.conn) = Some(conn.clone());
        Ok(conn)
    }

    /// Runs one command; a connection failure drops the connection for the next use.
    async fn run<T: redis::FromRedisValue>(&self, op: &str, cmd: redis::Cmd) -> Result<T, Error> {
        let mut conn = self.conn().await?;
        match cmd.query_async(&mut conn).await {
            Ok(v) => Ok(v),
            Err(err) => {
                if err.is_io_error()
                    || err.is_connection_dropped()
                    || err.is_timeout()
                    || err.is_unrecoverable_error()
                {
                    *guard(&self.conn) = None;
                }
                Err(redis_error(op, &err))
            }
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Payload>, Error> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(format!("{}{key}", self.prefix()));
        let Some(bytes) = self.run::<Option<Vec<u8>>>("get", cmd).await? else {
            return Ok(None);
        };
        // Moleculer logs an entry it cannot parse and treats it as missing.
        let parsed = String::from_utf8(bytes)
            .map_err(|e| e.to_string())
            .and_then(|text| RawValue::from_string(text).map_err(|e| e.to_string()));
        match parsed {
            Ok(value) => Ok(Some(value)),
            Err(err) => {
                tracing::warn!(key, %err, "Redis cache entry is not JSON; ignored");
                Ok(None)
            }
        }
    }

    async fn set(&self, key: &str, value: &RawValue, ttl: Option<Duration>) -> Result<(), Error> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(format!("{}{key}", self.prefix()))
            .arg(value.get().as_bytes());
        match ttl.or(self.options.ttl) {
            Some(ttl) if ttl.subsec_nanos() == 0 && !ttl.is_zero() => {
                cmd.arg("EX").arg(ttl.as_secs());
            }
            Some(ttl) if !ttl.is_zero() => {
                cmd.arg("PX").arg(ttl.as_millis().max(1) as u64);
            }
            _ => {}
        }
        self.run::<()>("set", cmd).await
    }

    async fn del(&self, keys: &[String]) -> Result<(), Error> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut cmd = redis::cmd("DEL");
        for key in keys {
            cmd.arg(format!("{}{key}", self.prefix()));
        }
        self.run::<i64>("del", cmd).await.map(|_| ())
    }

    /// `SCAN … MATCH <prefix><pattern>` and `DEL` what it finds; `**` becomes Redis's `*`,
    /// as Moleculer's Redis cacher does.
    async fn clean(&self, pattern: &str) -> Result<(), Error> {
        let pattern = format!("{}{}", self.prefix(), pattern.replace("**", "*"));
        let mut cursor: u64 = 0;
        loop {
            let mut cmd = redis::cmd("SCAN");
            cmd.arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(CLEAN_BATCH);
            let (next, keys): (u64, Vec<String>) = self.run("clean", cmd).await?;
            for batch in keys.chunks(CLEAN_BATCH) {
                let mut del = redis::cmd("DEL");
                for key in batch {
                    del.arg(key);
                }
                self.run::<i64>("clean", del).await?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    fn token(&self) -> String {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let n = self.tokens.fetch_add(1, Ordering::Relaxed);
        format!("{}-{nanos:x}-{n}", std::process::id())
    }

    /// Takes `<prefix><key>-lock` with `SET NX PX` (Moleculer's lock key), retrying until
    /// `ttl` has passed: by then its holder's lock has expired too.
    async fn lock_remote(&self, key: &str, ttl: Duration) -> Result<(String, String), Error> {
        let lock_key = format!("{}{key}-lock", self.prefix());
        let token = self.token();
        let deadline = tokio::time::Instant::now() + ttl;
        let mut attempt: u64 = 0;
        loop {
            let mut cmd = redis::cmd("SET");
            cmd.arg(&lock_key)
                .arg(&token)
                .arg("NX")
                .arg("PX")
                .arg(ttl.as_millis().max(1) as u64);
            let taken: Option<String> = self.run("lock", cmd).await?;
            if taken.is_some() {
                return Ok((lock_key, token));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::server(
                    format!("Redis cacher lock of {key} timed out"),
                    500,
                    "CACHER_LOCK_TIMEOUT",
                ));
            }
            // A little spread, so that waiters of several nodes do not poll in step.
            attempt += 1;
            let spread = Duration::from_millis((attempt * 7 + u64::from(std::process::id())) % 10);
            tokio::time::sleep(self.lock_retry + spread).await;
        }
    }

    async fn unlock_remote(&self, lock_key: &str, token: &str) -> Result<(), Error> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(UNLOCK).arg(1).arg(lock_key).arg(token);
        self.run::<i64>("unlock", cmd).await.map(|_| ())
    }

    async fn lock(self: Arc<Self>, key: &str, ttl: Duration) -> Result<CacheLock, Error> {
        let local = guard(&self.local_locks)
            .entry(key.to_owned())
            .or_default()
            .clone();
        let held = local.clone().lock_owned().await;
        let forget = {
            let inner = self.clone();
            let key = key.to_owned();
            move |local: Arc<tokio::sync::Mutex<()>>| {
                let mut locks = guard(&inner.local_locks);
                if Arc::strong_count(&local) == 2 {
                    locks.remove(&key);
                }
            }
        };
        let (lock_key, token) = match self.lock_remote(key, ttl).await {
            Ok(taken) => taken,
            Err(err) => {
                drop(held);
                forget(local);
                return Err(err);
            }
        };
        let inner = self.clone();
        Ok(CacheLock::new(move || {
            Box::pin(async move {
                let result = inner.unlock_remote(&lock_key, &token).await;
                drop(held);
                forget(local);
                result
            })
        }))
    }
}

impl Cacher for RedisCacher {
    fn init(&self, namespace: &str) {
        let _ = self
            .inner
            .prefix
            .set(self.inner.options.full_prefix(namespace));
    }

    fn options(&self) -> &CacherOptions {
        &self.inner.options
    }

    fn name(&self) -> &'static str {
        "Redis"
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Payload>, Error>> {
        Box::pin(self.inner.get(key))
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: &'a RawValue,
        ttl: Option<Duration>,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(self.inner.set(key, value, ttl))
    }

    fn del<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(self.inner.del(keys))
    }

    fn clean<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(self.inner.clean(pattern))
    }

    fn lock<'a>(&'a self, key: &'a str, ttl: Duration) -> BoxFuture<'a, Result<CacheLock, Error>> {
        Box::pin(self.inner.clone().lock(key, ttl))
    }

    fn close(&self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            *guard(&self.inner.conn) = None;
            Ok(())
        })
    }
}
