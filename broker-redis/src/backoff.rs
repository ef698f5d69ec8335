//! Delays between reconnect attempts: short, growing to a cap, and jittered so that a fleet of
//! nodes that lost the same Redis does not reconnect in lockstep.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Nominal delays of `base`, `2·base`, `4·base`, … never above `cap`; each delay actually
/// waited is drawn between half the nominal delay and all of it ("equal jitter").
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
        let nominal = self.next;
        self.next = nominal.checked_mul(2).unwrap_or(self.cap).min(self.cap);
        jittered(nominal, random_fraction())
    }
}

/// `nominal · (1 + fraction) / 2`: between half of `nominal` (fraction 0) and all of it (1).
fn jittered(nominal: Duration, fraction: f64) -> Duration {
    let half = nominal / 2;
    half + (nominal - half).mul_f64(fraction.clamp(0.0, 1.0))
}

/// A number in `[0, 1)`, different in every call and every process: std's `RandomState` is
/// randomly keyed per thread (and rekeyed per instance), which is all the randomness jitter
/// needs; no RNG crate for that.
fn random_fraction() -> f64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(nanos);
    // The top 53 bits, as many as an f64 holds exactly.
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nominal_delays_double_up_to_the_cap_and_are_jittered_below_them() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(100), ms(1000));
        let nominal = [100, 200, 400, 800, 1000, 1000, 1000].map(ms);
        for n in nominal {
            let d = b.next_delay();
            assert!(d >= n / 2 && d <= n, "{d:?} not within half of {n:?}");
        }
        assert_eq!(jittered(ms(1000), 0.0), ms(500));
        assert_eq!(jittered(ms(1000), 1.0), ms(1000));
        assert_eq!(jittered(ms(1000), 0.5), ms(750));
    }

    #[test]
    fn jitter_spreads_the_delays() {
        let mut seen: Vec<Duration> = (0..50)
            .map(|_| Backoff::new(Duration::from_secs(1), Duration::from_secs(1)).next_delay())
            .collect();
        seen.sort();
        seen.dedup();
        assert!(seen.len() > 40, "nodes would retry in lockstep: {seen:?}");
        let fractions: Vec<f64> = (0..1000).map(|_| random_fraction()).collect();
        assert!(fractions.iter().all(|f| (0.0..1.0).contains(f)));
        let low = fractions.iter().filter(|f| **f < 0.5).count();
        assert!((350..650).contains(&low), "{low} of 1000 below 0.5");
    }

    #[test]
    fn never_overflows() {
        let mut b = Backoff::new(Duration::MAX / 2 + Duration::from_secs(1), Duration::MAX);
        for _ in 0..4 {
            assert!(b.next_delay() <= Duration::MAX);
        }
    }
}
