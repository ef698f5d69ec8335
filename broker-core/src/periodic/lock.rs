//! The lock that makes a cluster-once task run each tick on one node: a contract every
//! transporter's server can keep (Redis with `SET NX PX`), and the in-process one of the
//! memory transporter.

use crate::error::Error;
use crate::transporter::BoxFuture;
use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Names one tick of one task: what a [`ClusterLock`] locks.
///
/// `scope` names the namespace, the service and the task; `tick_ms` is the tick's scheduled
/// time (milliseconds since the Unix epoch), the same on every node whatever its clock says,
/// so nodes whose clocks differ slightly still compete for the same key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LockKey {
    /// `<namespace>:<service full name>.<task>`; fencing tokens increase per scope.
    pub scope: String,
    /// The tick's scheduled time.
    pub tick_ms: u64,
}

impl LockKey {
    /// The key of one tick of `task` of `service` in `namespace`.
    pub fn new(namespace: &str, service: &str, task: &str, tick_ms: u64) -> LockKey {
        LockKey {
            scope: format!("{namespace}:{service}.{task}"),
            tick_ms,
        }
    }
}

impl fmt::Display for LockKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.scope, self.tick_ms)
    }
}

/// What [`ClusterLock::try_acquire`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquire {
    /// Taken, with this fencing token: larger than every token given before in this scope,
    /// so a resource the run writes to can refuse a holder whose lock has since expired.
    Acquired(u64),
    /// Another node holds it (and may still be running the tick).
    Held,
    /// The tick was run: its holder released it as done.
    Done,
}

/// A lock in the transporter's server, held by one node at a time for a limited time.
///
/// A key goes through three states: free, held (with a token and an expiry the holder keeps
/// pushing back with [`ClusterLock::renew`]) and done (kept for a while, so that nodes whose
/// clocks run behind do not take the tick again). A held key whose expiry passes is free again:
/// the holder died, and the next node to try takes the tick over.
///
/// `broker-redis` implements it on Redis, the memory transporter in-process. A transporter
/// offers its lock through [`Transporter::cluster_lock`](crate::Transporter::cluster_lock);
/// [`BrokerBuilder::cluster_lock`](crate::BrokerBuilder::cluster_lock) sets another one.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a cluster lock",
    note = "use the lock of a transporter (`broker_redis::RedisClusterLock`) or `MemoryClusterLock`"
)]
pub trait ClusterLock: Send + Sync + fmt::Debug + 'static {
    /// Takes `key` for `ttl` if it is free.
    fn try_acquire<'a>(
        &'a self,
        key: &'a LockKey,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Acquire, Error>>;

    /// Pushes the expiry of a key held with `token` to `ttl` from now. `false`: the key is no
    /// longer held with that token (it expired, and maybe another node took it).
    fn renew<'a>(
        &'a self,
        key: &'a LockKey,
        token: u64,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, Error>>;

    /// Releases a key held with `token`: marked done for `done_for` (the run finished), or
    /// freed at once with `None` (the run was cancelled: another node may take the tick).
    /// `false`: the key was no longer held with that token.
    fn release<'a>(
        &'a self,
        key: &'a LockKey,
        token: u64,
        done_for: Option<Duration>,
    ) -> BoxFuture<'a, Result<bool, Error>>;

    /// What to show a person for this lock (`redis://127.0.0.1:6379`), never a password.
    fn describe(&self) -> String;
}

#[derive(Debug)]
enum Entry {
    Held(u64),
    Done,
}

/// An in-process [`ClusterLock`]: brokers of one process sharing it (as the brokers of one
/// [`MemoryBus`](crate::MemoryBus) do) run each tick of a cluster-once task once.
#[derive(Debug, Default)]
pub struct MemoryClusterLock {
    state: Mutex<MemoryState>,
}

#[derive(Debug, Default)]
struct MemoryState {
    keys: HashMap<LockKey, (Entry, Instant)>,
    fences: HashMap<String, u64>,
}

impl MemoryClusterLock {
    /// An empty lock.
    pub fn new() -> MemoryClusterLock {
        MemoryClusterLock::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut MemoryState, Instant) -> T) -> T {
        let mut state = match self.state.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        let now = Instant::now();
        // Expired keys go on every use: the map never outgrows the keys alive.
        state.keys.retain(|_, (_, expires)| *expires > now);
        f(&mut state, now)
    }
}

impl ClusterLock for MemoryClusterLock {
    fn try_acquire<'a>(
        &'a self,
        key: &'a LockKey,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Acquire, Error>> {
        let result = self.with(|state, now| match state.keys.get(key) {
            Some((Entry::Held(_), _)) => Acquire::Held,
            Some((Entry::Done, _)) => Acquire::Done,
            None => {
                let fence = state.fences.entry(key.scope.clone()).or_insert(0);
                *fence += 1;
                let token = *fence;
                state
                    .keys
                    .insert(key.clone(), (Entry::Held(token), now + ttl));
                Acquire::Acquired(token)
            }
        });
        Box::pin(async move { Ok(result) })
    }

    fn renew<'a>(
        &'a self,
        key: &'a LockKey,
        token: u64,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, Error>> {
        let renewed = self.with(|state, now| match state.keys.get_mut(key) {
            Some((Entry::Held(held), expires)) if *held == token => {
                *expires = now + ttl;
                true
            }
            _ => false,
        });
        Box::pin(async move { Ok(renewed) })
    }

    fn release<'a>(
        &'a self,
        key: &'a LockKey,
        token: u64,
        done_for: Option<Duration>,
    ) -> BoxFuture<'a, Result<bool, Error>> {
        let released = self.with(|state, now| match state.keys.get(key) {
            Some((Entry::Held(held), _)) if *held == token => {
                match done_for {
                    Some(keep) => {
                        state.keys.insert(key.clone(), (Entry::Done, now + keep));
                    }
                    None => {
                        state.keys.remove(key);
                    }
                }
                true
            }
            _ => false,
        });
        Box::pin(async move { Ok(released) })
    }

    fn describe(&self) -> String {
        "memory".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_holder_tokens_grow_done_sticks_and_expiry_frees() {
        let lock = MemoryClusterLock::new();
        let key = LockKey::new("ns", "reports", "hourly", 1_000);
        let ttl = Duration::from_millis(40);
        let Ok(Acquire::Acquired(first)) = lock.try_acquire(&key, ttl).await else {
            panic!("a free key is taken");
        };
        assert_eq!(lock.try_acquire(&key, ttl).await.ok(), Some(Acquire::Held));
        assert_eq!(lock.renew(&key, first + 1, ttl).await.ok(), Some(false));
        assert_eq!(lock.renew(&key, first, ttl).await.ok(), Some(true));
        // The holder dies: after the TTL the tick is taken over, with a larger token.
        tokio::time::sleep(Duration::from_millis(60)).await;
        let Ok(Acquire::Acquired(second)) = lock.try_acquire(&key, ttl).await else {
            panic!("an expired key is free");
        };
        assert!(second > first);
        // The first holder's token no longer works.
        assert_eq!(lock.release(&key, first, None).await.ok(), Some(false));
        assert_eq!(
            lock.release(&key, second, Some(Duration::from_secs(5)))
                .await
                .ok(),
            Some(true)
        );
        assert_eq!(lock.try_acquire(&key, ttl).await.ok(), Some(Acquire::Done));
        // Another tick of the same task is a key of its own; tokens keep growing per scope.
        let next = LockKey::new("ns", "reports", "hourly", 2_000);
        let Ok(Acquire::Acquired(third)) = lock.try_acquire(&next, ttl).await else {
            panic!("the next tick is free");
        };
        assert!(third > second);
        // A cancelled run frees the key at once.
        assert_eq!(lock.release(&next, third, None).await.ok(), Some(true));
        assert!(matches!(
            lock.try_acquire(&next, ttl).await,
            Ok(Acquire::Acquired(_))
        ));
        assert_eq!(key.to_string(), "ns:reports.hourly@1000");
    }
}
