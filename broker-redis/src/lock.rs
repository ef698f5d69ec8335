//! The cluster lock of cluster-once scheduled tasks, in Redis: `SET NX PX` semantics with a
//! fencing token, renewal and release only by the holder's token (Lua scripts, atomic on the
//! server).

use broker_core::periodic::{Acquire, ClusterLock, LockKey};
use broker_core::transporter::BoxFuture;
use broker_core::Error;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, RedisError};
use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Takes a free key: the next fencing token of the scope (`INCR`), stored as the key's value
/// with the TTL. A held key answers 0, a done one -1. One script, so that no other client
/// comes between the look and the `SET` (what `SET NX PX` alone gives, plus the token).
const ACQUIRE: &str = r#"
local v = redis.call("get", KEYS[1])
if v then
  if v == "done" then return -1 end
  return 0
end
local token = redis.call("incr", KEYS[2])
redis.call("set", KEYS[1], token, "px", ARGV[1])
return token
"#;

/// Pushes the expiry back, only for the holder of the token.
const RENEW: &str = r#"
if redis.call("get", KEYS[1]) == ARGV[1] then
  return redis.call("pexpire", KEYS[1], ARGV[2])
end
return 0
"#;

/// Marks the key done for ARGV[2] ms, or deletes it (ARGV[2] = 0), only for the holder.
const RELEASE: &str = r#"
if redis.call("get", KEYS[1]) == ARGV[1] then
  if ARGV[2] == "0" then
    redis.call("del", KEYS[1])
  else
    redis.call("set", KEYS[1], "done", "px", ARGV[2])
  end
  return 1
end
return 0
"#;

/// The [`ClusterLock`] of [`RedisTransporter`](crate::RedisTransporter), which offers it to
/// the broker: each tick of a cluster-once task is the key
/// `MOL-TASK:{<namespace>:<service>.<task>}:<scheduled ms>`, and the fencing tokens of a task
/// come from the counter `MOL-TASK:{<namespace>:<service>.<task>}:fence` (kept, so they keep
/// growing; the braces keep both in one slot of a Redis Cluster).
///
/// ```no_run
/// use broker_core::Broker;
/// use broker_redis::RedisClusterLock;
///
/// # fn main() -> Result<(), broker_core::Error> {
/// // Tasks of a broker on another transporter can keep their locks in Redis.
/// let broker = Broker::builder()
///     .cluster_lock(RedisClusterLock::new("redis://127.0.0.1:6379")?)
///     .build();
/// # let _ = broker;
/// # Ok(())
/// # }
/// ```
pub struct RedisClusterLock {
    client: Client,
    conn: Mutex<Option<MultiplexedConnection>>,
    connecting: tokio::sync::Mutex<()>,
    timeout: Duration,
}

impl fmt::Debug for RedisClusterLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisClusterLock")
            .field("addr", &self.describe())
            .finish_non_exhaustive()
    }
}

fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn lock_error(op: &str, err: &RedisError) -> Error {
    Error::server(
        format!("Redis cluster lock {op} failed: {err}"),
        500,
        "CLUSTER_LOCK_ERROR",
    )
}

impl RedisClusterLock {
    /// A lock on the Redis at `url` (`redis://`, `rediss://`). Nothing connects until the
    /// first use; a URL that cannot be parsed is a `BrokerOptionsError`.
    pub fn new(url: &str) -> Result<RedisClusterLock, Error> {
        crate::transporter::ensure_crypto_provider();
        let client = Client::open(url)
            .map_err(|err| Error::broker_options(format!("invalid Redis URL: {err}")))?;
        Ok(RedisClusterLock::with_client(client))
    }

    pub(crate) fn with_client(client: Client) -> RedisClusterLock {
        RedisClusterLock {
            client,
            conn: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
            timeout: Duration::from_secs(2),
        }
    }

    /// The Redis key of a tick.
    pub fn key_of(key: &LockKey) -> String {
        format!("MOL-TASK:{{{}}}:{}", key.scope, key.tick_ms)
    }

    /// The Redis key of a task's fencing-token counter.
    pub fn fence_key_of(key: &LockKey) -> String {
        format!("MOL-TASK:{{{}}}:fence", key.scope)
    }

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
            .map_err(|err| lock_error("connect", &err))?;
        *guard(&self.conn) = Some(conn.clone());
        Ok(conn)
    }

    /// Runs a script; a connection failure drops the connection for the next use.
    async fn eval(
        &self,
        op: &str,
        script: &str,
        keys: &[String],
        args: &[String],
    ) -> Result<i64, Error> {
        let mut conn = self.conn().await?;
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(script).arg(keys.len()).arg(keys).arg(args);
        match cmd.query_async::<i64>(&mut conn).await {
            Ok(v) => Ok(v),
            Err(err) => {
                if err.is_io_error()
                    || err.is_connection_dropped()
                    || err.is_timeout()
                    || err.is_unrecoverable_error()
                {
                    *guard(&self.conn) = None;
                }
                Err(lock_error(op, &err))
            }
        }
    }
}

fn millis(d: Duration) -> String {
    d.as_millis().max(1).to_string()
}

impl ClusterLock for RedisClusterLock {
    fn try_acquire<'a>(
        &'a self,
        key: &'a LockKey,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Acquire, Error>> {
        Box::pin(async move {
            let keys = [Self::key_of(key), Self::fence_key_of(key)];
            let answer = self.eval("acquire", ACQUIRE, &keys, &[millis(ttl)]).await?;
            Ok(match answer {
                -1 => Acquire::Done,
                0 => Acquire::Held,
                token => Acquire::Acquired(u64::try_from(token).unwrap_or(0)),
            })
        })
    }

    fn renew<'a>(
        &'a self,
        key: &'a LockKey,
        token: u64,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(async move {
            let args = [token.to_string(), millis(ttl)];
            let renewed = self
                .eval("renew", RENEW, &[Self::key_of(key)], &args)
                .await?;
            Ok(renewed == 1)
        })
    }

    fn release<'a>(
        &'a self,
        key: &'a LockKey,
        token: u64,
        done_for: Option<Duration>,
    ) -> BoxFuture<'a, Result<bool, Error>> {
        Box::pin(async move {
            let keep = done_for.map_or_else(|| "0".to_owned(), millis);
            let args = [token.to_string(), keep];
            let released = self
                .eval("release", RELEASE, &[Self::key_of(key)], &args)
                .await?;
            Ok(released == 1)
        })
    }

    fn describe(&self) -> String {
        let info = self.client.get_connection_info();
        format!("redis {}", info.addr())
    }
}
