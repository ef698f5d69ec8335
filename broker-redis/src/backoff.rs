//! Capped exponential backoff between reconnect attempts.

use std::time::Duration;

/// Delays of `base`, `2·base`, `4·base`, … never above `cap`.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    cap: Duration,
    next: Duration,
}

impl Backoff {
    pub(crate) fn new(base: Duration, cap: Duration) -> Backoff {
        Backoff {
            cap,
            next: base.min(cap),
        }
    }

    /// The delay to wait before the next attempt.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = delay.checked_mul(2).unwrap_or(self.cap).min(self.cap);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(100), ms(5000));
        let delays: Vec<Duration> = (0..9).map(|_| b.next_delay()).collect();
        assert_eq!(
            delays,
            [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000].map(ms)
        );
    }

    #[test]
    fn never_overflows() {
        let mut b = Backoff::new(Duration::MAX / 2 + Duration::from_secs(1), Duration::MAX);
        for _ in 0..4 {
            assert!(b.next_delay() <= Duration::MAX);
        }
    }
}
