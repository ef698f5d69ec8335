//! Round robin: the endpoints in turn (Moleculer's default).

use super::{Candidate, Request, Strategy};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Takes the endpoints in turn.
#[derive(Debug, Default)]
pub struct RoundRobin {
    counter: AtomicUsize,
}

impl Strategy for RoundRobin {
    fn select(&self, candidates: &[Candidate<'_>], _request: &Request<'_>) -> usize {
        self.counter.fetch_add(1, Ordering::Relaxed) % candidates.len().max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{candidates, request};
    use super::*;

    #[test]
    fn spreads_evenly() {
        let rr = RoundRobin::default();
        let nodes = ["a", "b", "c"];
        let cands = candidates(&nodes, &[], &[]);
        let (params, meta) = (
            crate::payload::Params::from_value(serde_json::Value::Null),
            Default::default(),
        );
        let mut counts = [0; 3];
        for _ in 0..300 {
            counts[rr.select(&cands, &request(&params, &meta))] += 1;
        }
        assert_eq!(counts, [100, 100, 100]);
    }
}
