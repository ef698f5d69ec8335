//! Sampling as Moleculer's tracer decides it: a rate-limited number of traces per second, or a
//! fixed rate (every n-th trace), and an optional minimum priority.

use super::Sampling;
use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug)]
pub(crate) struct Sampler {
    rate: f64,
    min_priority: Option<u32>,
    counter: Mutex<u64>,
    limiter: Option<Mutex<RateLimiter>>,
}

/// A token bucket refilled at `per_second`, holding at most `max(1, per_second)`.
#[derive(Debug)]
struct RateLimiter {
    per_second: f64,
    max_balance: f64,
    balance: f64,
    last: Instant,
}

impl RateLimiter {
    fn check(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.balance = (self.balance + elapsed * self.per_second).min(self.max_balance);
        if self.balance >= 1.0 {
            self.balance -= 1.0;
            true
        } else {
            false
        }
    }
}

impl Sampler {
    pub(crate) fn new(sampling: &Sampling) -> Sampler {
        let limiter = sampling
            .traces_per_second
            .filter(|t| *t > 0.0)
            .map(|per_second| {
                Mutex::new(RateLimiter {
                    per_second,
                    max_balance: per_second.max(1.0),
                    balance: 0.0,
                    last: Instant::now(),
                })
            });
        Sampler {
            rate: sampling.rate,
            min_priority: sampling.min_priority,
            counter: Mutex::new(0),
            limiter,
        }
    }

    /// Whether a new trace (a span with no sampling decision yet) is sampled.
    pub(crate) fn sample(&self, priority: u32) -> bool {
        if self.min_priority.is_some_and(|min| priority < min) {
            return false;
        }
        if let Some(limiter) = &self.limiter {
            let mut limiter = limiter.lock().unwrap_or_else(|p| p.into_inner());
            return limiter.check(Instant::now());
        }
        if self.rate <= 0.0 {
            return false;
        }
        if self.rate >= 1.0 {
            return true;
        }
        // Every n-th: the counter times the rate reaching 1.
        let mut counter = self.counter.lock().unwrap_or_else(|p| p.into_inner());
        *counter += 1;
        if *counter as f64 * self.rate >= 1.0 {
            *counter = 0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn sampled_of(sampling: Sampling, n: usize) -> usize {
        let s = Sampler::new(&sampling);
        (0..n).filter(|_| s.sample(5)).count()
    }

    #[test]
    fn fixed_rates() {
        assert_eq!(sampled_of(Sampling::rate(1.0), 100), 100);
        assert_eq!(sampled_of(Sampling::rate(0.0), 100), 0);
        assert_eq!(sampled_of(Sampling::rate(0.5), 100), 50);
        assert_eq!(sampled_of(Sampling::rate(0.25), 100), 25);
        assert_eq!(sampled_of(Sampling::rate(0.1), 100), 10);
    }

    #[test]
    fn min_priority() {
        let s = Sampler::new(&Sampling {
            min_priority: Some(3),
            ..Sampling::rate(1.0)
        });
        assert!(!s.sample(2));
        assert!(s.sample(3));
    }

    #[test]
    fn traces_per_second_is_a_token_bucket() {
        let mut limiter = RateLimiter {
            per_second: 2.0,
            max_balance: 2.0,
            balance: 0.0,
            last: Instant::now(),
        };
        let t0 = limiter.last;
        assert!(!limiter.check(t0), "an empty bucket refuses");
        assert!(
            limiter.check(t0 + Duration::from_millis(500)),
            "one token after 0.5 s"
        );
        assert!(!limiter.check(t0 + Duration::from_millis(600)));
        // Ten idle seconds fill the bucket to its cap of two, not twenty.
        let later = t0 + Duration::from_secs(10);
        assert!(limiter.check(later));
        assert!(limiter.check(later));
        assert!(!limiter.check(later));
    }
}
