//! Random: any endpoint, uniformly.

use super::{Candidate, Request, Rng, Strategy};

/// Picks an endpoint at random.
#[derive(Debug)]
pub struct Random {
    rng: Rng,
}

impl Default for Random {
    fn default() -> Self {
        Random { rng: Rng::new() }
    }
}

impl Strategy for Random {
    fn select(&self, candidates: &[Candidate<'_>], _request: &Request<'_>) -> usize {
        self.rng.below(candidates.len())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{candidates, request};
    use super::*;

    #[test]
    fn reaches_every_endpoint_roughly_evenly() {
        let r = Random::default();
        let nodes = ["a", "b", "c", "d"];
        let cands = candidates(&nodes, &[], &[]);
        let (params, meta) = (
            crate::payload::Params::from_value(serde_json::Value::Null),
            Default::default(),
        );
        let mut counts = [0usize; 4];
        for _ in 0..4000 {
            counts[r.select(&cands, &request(&params, &meta))] += 1;
        }
        assert!(counts.iter().all(|c| (700..1300).contains(c)), "{counts:?}");
    }
}
