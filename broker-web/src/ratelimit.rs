//! Per-IP rate limiting of a route, as moleculer-web's memory store does it: a fixed window,
//! a counter per client, all counters cleared when the window ends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A route's rate limit: at most `limit` requests per client IP in each `window`. Over it, a
/// request is answered 429 `RateLimitExceeded` with a `Retry-After` header.
#[derive(Debug, Clone)]
pub struct RateLimit {
    limit: u64,
    window: Duration,
    headers: bool,
    store: Arc<Mutex<Store>>,
}

#[derive(Debug)]
struct Store {
    hits: HashMap<IpAddr, u64>,
    reset_at: Instant,
}

/// The outcome of counting one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub(crate) allowed: bool,
    pub(crate) limit: u64,
    pub(crate) remaining: u64,
    /// Until the window ends.
    pub(crate) reset_in: Duration,
    /// Whether to send the `X-Rate-Limit-*` headers.
    pub(crate) headers: bool,
}

impl Verdict {
    /// The window's end as Unix milliseconds (moleculer-web's `X-Rate-Limit-Reset`).
    pub(crate) fn reset_unix_ms(&self) -> u128 {
        (SystemTime::now() + self.reset_in)
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    }
}

impl RateLimit {
    /// `limit` requests per client IP per `window` (moleculer-web's default is 30 per minute).
    pub fn new(limit: u64, window: Duration) -> RateLimit {
        RateLimit {
            limit,
            window,
            headers: false,
            store: Arc::new(Mutex::new(Store {
                hits: HashMap::new(),
                reset_at: Instant::now() + window,
            })),
        }
    }

    /// Also sends `X-Rate-Limit-Limit`, `X-Rate-Limit-Remaining` and `X-Rate-Limit-Reset`.
    pub fn headers(mut self, enabled: bool) -> RateLimit {
        self.headers = enabled;
        self
    }

    /// Counts a request of `ip`.
    pub(crate) fn hit(&self, ip: IpAddr) -> Verdict {
        let now = Instant::now();
        let mut store = self
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if now >= store.reset_at {
            store.hits.clear();
            // Whole windows since the last reset, so the schedule does not drift.
            while store.reset_at <= now {
                store.reset_at += self.window.max(Duration::from_millis(1));
            }
        }
        let count = store.hits.entry(ip).or_insert(0);
        *count += 1;
        Verdict {
            allowed: *count <= self.limit,
            limit: self.limit,
            remaining: self.limit.saturating_sub(*count),
            reset_in: store.reset_at.saturating_duration_since(now),
            headers: self.headers,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_ip_and_resets_with_the_window() {
        let limit = RateLimit::new(2, Duration::from_millis(50));
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        assert!(limit.hit(a).allowed);
        assert!(limit.hit(a).allowed);
        let third = limit.hit(a);
        assert!(!third.allowed && third.remaining == 0);
        assert!(limit.hit(b).allowed);
        std::thread::sleep(Duration::from_millis(60));
        assert!(limit.hit(a).allowed);
    }
}
