//! Load-balancing strategies: which endpoint of a list serves the next call or event.
//!
//! A strategy instance belongs to one endpoint list (one action, or one event group), so it can
//! keep state such as a round-robin counter. The broker builds them through a
//! [`StrategyFactory`]; `preferLocal` is applied before the strategy is asked.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// What a strategy knows of one candidate endpoint.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// The node hosting it.
    pub node_id: &'a str,
    /// Whether that node is this one.
    pub local: bool,
    /// The node's last reported CPU usage, in percent.
    pub cpu: Option<f64>,
}

/// Chooses one of several candidate endpoints.
pub trait Strategy: Send + Sync + fmt::Debug {
    /// Returns the index of the chosen candidate; `candidates` is never empty. An index out of
    /// range is clamped by the caller.
    fn select(&self, candidates: &[Candidate<'_>]) -> usize;
}

/// Builds one strategy per endpoint list.
pub type StrategyFactory = Arc<dyn Fn() -> Box<dyn Strategy> + Send + Sync>;

/// Takes the endpoints in turn (Moleculer's default).
#[derive(Debug, Default)]
pub struct RoundRobin {
    counter: AtomicUsize,
}

impl RoundRobin {
    /// A factory for the broker builder.
    pub fn factory() -> StrategyFactory {
        Arc::new(|| Box::new(RoundRobin::default()))
    }
}

impl Strategy for RoundRobin {
    fn select(&self, candidates: &[Candidate<'_>]) -> usize {
        self.counter.fetch_add(1, Ordering::Relaxed) % candidates.len().max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_spreads_evenly() {
        let rr = RoundRobin::default();
        let names = ["a", "b", "c"];
        let cands: Vec<_> = names
            .iter()
            .map(|n| Candidate {
                node_id: n,
                local: false,
                cpu: None,
            })
            .collect();
        let mut counts = [0; 3];
        for _ in 0..300 {
            counts[rr.select(&cands)] += 1;
        }
        assert_eq!(counts, [100, 100, 100]);
    }
}
