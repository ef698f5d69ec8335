//! Per-endpoint counters, as ADR-32's STATS reports them: updated after each request with
//! atomics (the request path takes no lock unless the request failed).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// The counters of one endpoint.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    requests: AtomicU64,
    errors: AtomicU64,
    /// Nanoseconds, saturating.
    processing: AtomicU64,
    last_error: Mutex<String>,
}

/// A copy of the counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) last_error: String,
    pub(crate) processing_ns: u64,
    pub(crate) average_ns: u64,
}

impl Counters {
    /// Counts one request that took `elapsed`; `error` is its `"<code>:<description>"`.
    pub(crate) fn record(&self, elapsed: Duration, error: Option<String>) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.processing.fetch_add(nanos, Ordering::Relaxed);
        if let Some(error) = error {
            self.errors.fetch_add(1, Ordering::Relaxed);
            *self
                .last_error
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = error;
        }
        // Last, so that a reader seeing the request also sees its time.
        self.requests.fetch_add(1, Ordering::Release);
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        let requests = self.requests.load(Ordering::Acquire);
        let processing_ns = self.processing.load(Ordering::Relaxed);
        Snapshot {
            requests,
            errors: self.errors.load(Ordering::Relaxed),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
            processing_ns,
            average_ns: processing_ns.checked_div(requests).unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_by_integer_division_and_keeps_the_last_error() {
        let c = Counters::default();
        assert_eq!(c.snapshot().average_ns, 0);
        c.record(Duration::from_nanos(10), None);
        c.record(Duration::from_nanos(11), Some("500:boom".into()));
        c.record(Duration::from_nanos(12), Some("404:gone".into()));
        let s = c.snapshot();
        assert_eq!(
            (s.requests, s.errors, s.processing_ns, s.average_ns),
            (3, 2, 33, 11)
        );
        assert_eq!(s.last_error, "404:gone");
    }
}
