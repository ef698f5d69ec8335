//! Latency: the node with the lowest average ping round trip.
//!
//! The broker measures it by pinging every remote node (see
//! `BrokerBuilder::latency_ping_interval`); each node measures for itself.

use super::cpu_usage::sample_lowest;
use super::{Candidate, Request, Rng, Strategy};
use std::time::Duration;

/// Options of [`Latency`] (Moleculer's defaults: 5 samples, 10 ms).
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyOptions {
    /// How many endpoints to look at (0: all).
    pub sample_count: usize,
    /// A node below this latency is taken at once.
    pub low_latency: Duration,
}

impl Default for LatencyOptions {
    fn default() -> Self {
        LatencyOptions {
            sample_count: 5,
            low_latency: Duration::from_millis(10),
        }
    }
}

/// Samples a few endpoints and takes the fastest.
#[derive(Debug)]
pub struct Latency {
    options: LatencyOptions,
    rng: Rng,
}

impl Latency {
    /// With options.
    pub fn new(options: LatencyOptions) -> Latency {
        Latency {
            options,
            rng: Rng::new(),
        }
    }
}

impl Strategy for Latency {
    fn select(&self, candidates: &[Candidate<'_>], _request: &Request<'_>) -> usize {
        sample_lowest(
            &self.rng,
            candidates.len(),
            self.options.sample_count,
            |i| {
                // The local node has no network latency at all.
                if candidates[i].local {
                    Some(0.0)
                } else {
                    candidates[i].latency.map(|d| d.as_secs_f64() * 1000.0)
                }
            },
            self.options.low_latency.as_secs_f64() * 1000.0,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{candidates, request};
    use super::*;

    #[test]
    fn prefers_the_fast_node() {
        let s = Latency::new(LatencyOptions {
            sample_count: 0,
            low_latency: Duration::from_millis(1),
        });
        let nodes = ["far", "near", "mid"];
        let cands = candidates(&nodes, &[], &[Some(80), Some(3), Some(40)]);
        let (params, meta) = (
            crate::payload::Params::from_value(serde_json::Value::Null),
            Default::default(),
        );
        for _ in 0..50 {
            assert_eq!(s.select(&cands, &request(&params, &meta)), 1);
        }
    }
}
