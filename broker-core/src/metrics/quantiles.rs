//! Histogram quantiles as Moleculer computes them: over the observations of a sliding time
//! window (`maxAgeSeconds`, in `ageBuckets` slices, the oldest slice dropped as time goes),
//! sorted, the quantile `q` being the `ceil(q·n)`-th smallest (Moleculer's
//! `samples[Math.ceil(q * n) - 1]`), with `min`, `mean`, `variance`, `stdDev` and `max`.
//!
//! Moleculer keeps every observation of the window; at a million calls a second that is
//! hundreds of megabytes, so a slice here keeps at most [`SLICE_SAMPLES`] of its observations,
//! a uniform random sample of them (reservoir sampling), each standing for `seen / kept` of
//! them. Below that many observations per slice the figures are exactly Moleculer's.

use serde_json::{Map, Value};

/// Observations a slice keeps at most.
pub const SLICE_SAMPLES: usize = 1000;

/// One slice of the window.
#[derive(Debug, Default)]
struct Slice {
    /// Which slice of time it holds (ms since the epoch / slice length); 0 before first use.
    epoch: u64,
    /// Observations made in it.
    seen: u64,
    /// The ones kept.
    samples: Vec<f64>,
}

/// The observations of a histogram series' time window.
#[derive(Debug)]
pub(crate) struct Window {
    slice_ms: u64,
    slices: Box<[Slice]>,
    /// xorshift state, for the reservoir's choice.
    rng: u64,
    /// The slice observations go to, and the time it covers (`from..to`, ms): most
    /// observations land in it with no division.
    current: usize,
    from: u64,
    to: u64,
}

impl Window {
    pub(crate) fn new(max_age_ms: u64, age_buckets: usize) -> Window {
        let n = age_buckets.max(1);
        Window {
            slice_ms: (max_age_ms / n as u64).max(1),
            slices: (0..n).map(|_| Slice::default()).collect(),
            rng: 0x9E37_79B9_7F4A_7C15,
            current: 0,
            from: 0,
            to: 0,
        }
    }

    fn epoch(&self, now_ms: u64) -> u64 {
        now_ms / self.slice_ms + 1
    }

    /// Adds one observation made at `now_ms`.
    pub(crate) fn add(&mut self, value: f64, now_ms: u64) {
        if now_ms < self.from || now_ms >= self.to {
            let epoch = self.epoch(now_ms);
            self.current = (epoch % self.slices.len() as u64) as usize;
            self.from = (epoch - 1) * self.slice_ms;
            self.to = self.from + self.slice_ms;
            let slice = &mut self.slices[self.current];
            if slice.epoch != epoch {
                slice.epoch = epoch;
                slice.seen = 0;
                slice.samples.clear();
            }
        }
        let slice = &mut self.slices[self.current];
        slice.seen += 1;
        if slice.samples.len() < SLICE_SAMPLES {
            slice.samples.push(value);
            return;
        }
        // Keep it with probability kept/seen, in place of a random kept one.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        // A uniform index below `seen`, by multiplication rather than division.
        let j = ((u128::from(self.rng) * u128::from(slice.seen)) >> 64) as u64;
        if let Some(at) = slice.samples.get_mut(j as usize) {
            *at = value;
        }
    }

    /// The window's figures as of `now_ms`, for these quantiles.
    pub(crate) fn summary(&self, quantiles: &[f64], now_ms: u64) -> QuantileSummary {
        let current = self.epoch(now_ms);
        let n = self.slices.len() as u64;
        // (value, weight): a kept sample stands for seen/kept observations of its slice.
        let mut samples: Vec<(f64, f64)> = Vec::new();
        for slice in self.slices.iter() {
            let live = slice.epoch + n > current && slice.epoch <= current;
            if !live || slice.samples.is_empty() {
                continue;
            }
            let weight = slice.seen as f64 / slice.samples.len() as f64;
            samples.extend(slice.samples.iter().map(|v| (*v, weight)));
        }
        QuantileSummary::of(samples, quantiles)
    }
}

/// A histogram series' figures over its time window (Moleculer's snapshot fields `min`,
/// `mean`, `variance`, `stdDev`, `max`, `quantiles`); all `None` for an empty window.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantileSummary {
    /// The smallest observation.
    pub min: Option<f64>,
    /// Their mean.
    pub mean: Option<f64>,
    /// The sample variance (n − 1), with two observations or more.
    pub variance: Option<f64>,
    /// Its square root (`None` when the variance is 0 or unknown, as Moleculer).
    pub std_dev: Option<f64>,
    /// The largest observation.
    pub max: Option<f64>,
    /// `(q, value)` for each quantile asked for, in ascending `q`.
    pub quantiles: Vec<(f64, Option<f64>)>,
}

impl QuantileSummary {
    fn of(mut samples: Vec<(f64, f64)>, quantiles: &[f64]) -> QuantileSummary {
        samples.sort_by(|a, b| a.0.total_cmp(&b.0));
        let total: f64 = samples.iter().map(|s| s.1).sum();
        let empty = samples.is_empty();
        let mean = (!empty).then(|| samples.iter().map(|(v, w)| v * w).sum::<f64>() / total);
        let variance = match mean {
            Some(m) if total > 1.0 => Some(
                samples
                    .iter()
                    .map(|(v, w)| (v - m).powi(2) * w)
                    .sum::<f64>()
                    / (total - 1.0),
            ),
            _ => None,
        };
        let quantiles = quantiles
            .iter()
            .map(|q| {
                // The first sample whose running weight reaches q·total (with weights of 1,
                // samples[ceil(q·n) − 1], float rounding included); a q of 0 finds nothing,
                // as in Moleculer.
                let target = q * total;
                let mut running = 0.0;
                let found = samples.iter().find(|(_, w)| {
                    running += w;
                    target > 0.0 && running >= target
                });
                (*q, found.map(|s| s.0))
            })
            .collect();
        QuantileSummary {
            min: samples.first().map(|s| s.0),
            mean,
            variance,
            std_dev: variance.filter(|v| *v != 0.0).map(f64::sqrt),
            max: samples.last().map(|s| s.0),
            quantiles,
        }
    }

    /// The fields Moleculer adds to a histogram's snapshot item.
    pub(crate) fn write_json(&self, item: &mut Map<String, Value>) {
        let num = |v: Option<f64>| v.map_or(Value::Null, super::store::number_json);
        item.insert("min".into(), num(self.min));
        item.insert("mean".into(), num(self.mean));
        item.insert("variance".into(), num(self.variance));
        item.insert("stdDev".into(), num(self.std_dev));
        item.insert("max".into(), num(self.max));
        let q: Map<String, Value> = self
            .quantiles
            .iter()
            .map(|(q, v)| (super::store::Number(*q).to_string(), num(*v)))
            .collect();
        item.insert("quantiles".into(), Value::Object(q));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_moleculers_below_the_reservoir() {
        let mut w = Window::new(60_000, 10);
        for v in 1..=10 {
            w.add(f64::from(v), 1_000);
        }
        let s = w.summary(&[0.5, 0.9, 0.95, 0.99], 1_000);
        // samples[ceil(q·10) − 1]
        assert_eq!(
            s.quantiles,
            vec![
                (0.5, Some(5.0)),
                (0.9, Some(9.0)),
                (0.95, Some(10.0)),
                (0.99, Some(10.0))
            ]
        );
        assert_eq!((s.min, s.max, s.mean), (Some(1.0), Some(10.0), Some(5.5)));
        assert!((s.variance.unwrap_or_default() - 55.0 / 6.0).abs() < 1e-9);
    }

    #[test]
    fn old_slices_leave_the_window() {
        let mut w = Window::new(60_000, 10);
        w.add(100.0, 1_000);
        w.add(1.0, 50_000);
        assert_eq!(w.summary(&[0.5], 50_000).max, Some(100.0));
        // 70 s on, the first slice is out, the second still in.
        let later = w.summary(&[0.5], 71_000);
        assert_eq!((later.min, later.max), (Some(1.0), Some(1.0)));
        assert_eq!(w.summary(&[0.5], 200_000).quantiles, vec![(0.5, None)]);
    }

    #[test]
    fn a_flood_keeps_bounded_samples_and_close_quantiles() {
        let mut w = Window::new(60_000, 10);
        for i in 0..100_000u32 {
            w.add(f64::from(i % 1000), 5_000);
        }
        assert!(w.slices.iter().all(|s| s.samples.len() <= SLICE_SAMPLES));
        let s = w.summary(&[0.5, 0.99], 5_000);
        let median = s.quantiles[0].1.unwrap_or_default();
        let p99 = s.quantiles[1].1.unwrap_or_default();
        assert!((median - 500.0).abs() < 60.0, "median {median}");
        assert!((p99 - 990.0).abs() < 20.0, "p99 {p99}");
    }
}
