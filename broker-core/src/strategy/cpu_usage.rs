//! CPU usage: the least busy node, from the `cpu` figure of heartbeats.

use super::{Candidate, Request, Rng, Strategy};

/// Options of [`CpuUsage`] (Moleculer's defaults: 3 samples, 10 %).
#[derive(Debug, Clone, PartialEq)]
pub struct CpuUsageOptions {
    /// How many endpoints to look at (0: all).
    pub sample_count: usize,
    /// A node below this usage (percent) is taken at once.
    pub low_cpu_usage: f64,
}

impl Default for CpuUsageOptions {
    fn default() -> Self {
        CpuUsageOptions {
            sample_count: 3,
            low_cpu_usage: 10.0,
        }
    }
}

/// Samples a few endpoints and takes the one whose node reports the lowest CPU usage, or the
/// first one found under `low_cpu_usage`; without figures, any at random.
#[derive(Debug)]
pub struct CpuUsage {
    options: CpuUsageOptions,
    rng: Rng,
}

impl CpuUsage {
    /// With options.
    pub fn new(options: CpuUsageOptions) -> CpuUsage {
        CpuUsage {
            options,
            rng: Rng::new(),
        }
    }
}

/// Shared by CpuUsage and Latency: sample, take the first under `low`, else the minimum.
pub(super) fn sample_lowest(
    rng: &Rng,
    len: usize,
    sample_count: usize,
    value: impl Fn(usize) -> Option<f64>,
    low: f64,
) -> usize {
    let count = if sample_count == 0 || sample_count >= len {
        len
    } else {
        sample_count
    };
    let mut best: Option<(usize, f64)> = None;
    for i in 0..count {
        let index = if count == len { i } else { rng.below(len) };
        if let Some(v) = value(index) {
            if v < low {
                return index;
            }
            if best.is_none_or(|(_, b)| v < b) {
                best = Some((index, v));
            }
        }
    }
    best.map_or_else(|| rng.below(len), |(i, _)| i)
}

impl Strategy for CpuUsage {
    fn select(&self, candidates: &[Candidate<'_>], _request: &Request<'_>) -> usize {
        sample_lowest(
            &self.rng,
            candidates.len(),
            self.options.sample_count,
            |i| candidates[i].cpu,
            self.options.low_cpu_usage,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{candidates, request};
    use super::*;

    #[test]
    fn prefers_the_idle_node() {
        let s = CpuUsage::new(CpuUsageOptions {
            sample_count: 0,
            low_cpu_usage: 5.0,
        });
        let nodes = ["busy", "idle", "mid"];
        let cands = candidates(&nodes, &[Some(90.0), Some(20.0), Some(50.0)], &[]);
        let (params, meta) = (
            crate::payload::Params::from_value(serde_json::Value::Null),
            Default::default(),
        );
        for _ in 0..50 {
            assert_eq!(s.select(&cands, &request(&params, &meta)), 1);
        }
        // Below the low threshold wins at once, even if listed after a lower one would be.
        let cands = candidates(&nodes, &[Some(4.0), Some(1.0), Some(50.0)], &[]);
        assert_eq!(s.select(&cands, &request(&params, &meta)), 0);
    }

    #[test]
    fn without_figures_any_endpoint_serves() {
        let s = CpuUsage::new(CpuUsageOptions::default());
        let nodes = ["a", "b"];
        let cands = candidates(&nodes, &[None, None], &[]);
        let (params, meta) = (
            crate::payload::Params::from_value(serde_json::Value::Null),
            Default::default(),
        );
        assert!(s.select(&cands, &request(&params, &meta)) < 2);
    }
}
