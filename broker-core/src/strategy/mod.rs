//! Load balancing: which endpoint of a list serves the next call or event.
//!
//! A strategy instance belongs to one endpoint list (one action, or one event group), so it can
//! keep state such as a round-robin counter. `preferLocal` is applied before a strategy is
//! asked. Strategies are chosen per broker, and overridden per service, action or event with
//! a [`StrategySpec`]; a remote action's strategy travels in INFO (`strategy`,
//! `strategyOptions`), as in Moleculer, so callers balance it the way its owner asked.

mod cpu_usage;
mod latency;
mod random;
mod round_robin;
mod shard;

pub use cpu_usage::{CpuUsage, CpuUsageOptions};
pub use latency::{Latency, LatencyOptions};
pub use random::Random;
pub use round_robin::RoundRobin;
pub use shard::{Shard, ShardOptions};

use crate::packet::JsonMap;
use crate::payload::Params;
use serde_json::{json, Value};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// What a strategy knows of one candidate endpoint.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// The node hosting it.
    pub node_id: &'a str,
    /// Whether that node is this one.
    pub local: bool,
    /// The node's last reported CPU usage, in percent.
    pub cpu: Option<f64>,
    /// The node's average ping round trip, when latency is being measured.
    pub latency: Option<Duration>,
}

/// What is being balanced: the action or event name, and the call's params and meta (for
/// strategies that route on a key, such as [`Shard`]).
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The action or event name.
    pub name: &'a str,
    /// Params (or event payload).
    pub params: &'a Params,
    /// Meta.
    pub meta: &'a JsonMap,
}

/// Chooses one of several candidate endpoints.
pub trait Strategy: Send + Sync + fmt::Debug {
    /// Returns the index of the chosen candidate; `candidates` is never empty. An index out of
    /// range is clamped by the caller.
    fn select(&self, candidates: &[Candidate<'_>], request: &Request<'_>) -> usize;
}

/// Builds the instances of a custom strategy, one per endpoint list.
pub type StrategyFactory = Arc<dyn Fn() -> Box<dyn Strategy> + Send + Sync>;

/// A strategy choice, with its options.
#[derive(Clone, Default)]
pub enum StrategySpec {
    /// Take endpoints in turn (the default).
    #[default]
    RoundRobin,
    /// Pick at random.
    Random,
    /// Prefer the least busy node, from the CPU figures in heartbeats.
    CpuUsage(CpuUsageOptions),
    /// Prefer the node with the lowest ping latency.
    Latency(LatencyOptions),
    /// Route by a key of the params or meta, with consistent hashing.
    Shard(ShardOptions),
    /// Your own strategy, under a name (shown in INFO).
    Custom(String, StrategyFactory),
}

impl fmt::Debug for StrategySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl StrategySpec {
    /// A custom strategy.
    pub fn custom<S, F>(name: impl Into<String>, make: F) -> StrategySpec
    where
        S: Strategy + 'static,
        F: Fn() -> S + Send + Sync + 'static,
    {
        StrategySpec::Custom(name.into(), Arc::new(move || Box::new(make())))
    }

    /// Moleculer's name for it (`RoundRobin`, `Shard`, …).
    pub fn name(&self) -> &str {
        match self {
            StrategySpec::RoundRobin => "RoundRobin",
            StrategySpec::Random => "Random",
            StrategySpec::CpuUsage(_) => "CpuUsage",
            StrategySpec::Latency(_) => "Latency",
            StrategySpec::Shard(_) => "Shard",
            StrategySpec::Custom(name, _) => name,
        }
    }

    /// The options as Moleculer's `strategyOptions`.
    pub fn options_json(&self) -> Value {
        match self {
            StrategySpec::CpuUsage(o) => {
                json!({"sampleCount": o.sample_count, "lowCpuUsage": o.low_cpu_usage})
            }
            StrategySpec::Latency(o) => json!({
                "sampleCount": o.sample_count,
                "lowLatency": o.low_latency.as_millis() as u64,
            }),
            StrategySpec::Shard(o) => json!({"shardKey": o.shard_key, "vnodes": o.vnodes}),
            _ => json!({}),
        }
    }

    /// Reads a strategy from Moleculer's `strategy` name and `strategyOptions`. Unknown names
    /// (a JS node's custom strategy) give `None`: the caller then uses its own default.
    pub fn from_name(name: &str, options: Option<&Value>) -> Option<StrategySpec> {
        let empty = json!({});
        let o = options.unwrap_or(&empty);
        let num = |key: &str| o.get(key).and_then(Value::as_f64);
        match name {
            "RoundRobin" => Some(StrategySpec::RoundRobin),
            "Random" => Some(StrategySpec::Random),
            "CpuUsage" => {
                let d = CpuUsageOptions::default();
                Some(StrategySpec::CpuUsage(CpuUsageOptions {
                    sample_count: num("sampleCount").map_or(d.sample_count, |v| v as usize),
                    low_cpu_usage: num("lowCpuUsage").unwrap_or(d.low_cpu_usage),
                }))
            }
            "Latency" => {
                let d = LatencyOptions::default();
                Some(StrategySpec::Latency(LatencyOptions {
                    sample_count: num("sampleCount").map_or(d.sample_count, |v| v as usize),
                    low_latency: num("lowLatency").map_or(d.low_latency, |ms| {
                        Duration::from_millis(ms.max(0.0) as u64)
                    }),
                }))
            }
            "Shard" => {
                let d = ShardOptions::default();
                Some(StrategySpec::Shard(ShardOptions {
                    shard_key: o
                        .get("shardKey")
                        .and_then(Value::as_str)
                        .map_or(d.shard_key, str::to_owned),
                    vnodes: num("vnodes").map_or(d.vnodes, |v| (v as usize).max(1)),
                }))
            }
            _ => None,
        }
    }

    /// A fresh instance for one endpoint list.
    pub(crate) fn build(&self) -> Box<dyn Strategy> {
        match self {
            StrategySpec::RoundRobin => Box::new(RoundRobin::default()),
            StrategySpec::Random => Box::new(Random::default()),
            StrategySpec::CpuUsage(o) => Box::new(CpuUsage::new(o.clone())),
            StrategySpec::Latency(o) => Box::new(Latency::new(o.clone())),
            StrategySpec::Shard(o) => Box::new(Shard::new(o.clone())),
            StrategySpec::Custom(_, make) => make(),
        }
    }

    /// Whether nodes' ping latency must be measured for this strategy.
    pub(crate) fn needs_latency(&self) -> bool {
        matches!(self, StrategySpec::Latency(_))
    }
}

/// A small, fast, non-cryptographic random source for sampling (xorshift), seeded per instance.
#[derive(Debug)]
pub(crate) struct Rng(std::sync::atomic::AtomicU64);

impl Rng {
    pub(crate) fn new() -> Rng {
        let seed = uuid::Uuid::new_v4().as_u64_pair().0 | 1;
        Rng(std::sync::atomic::AtomicU64::new(seed))
    }

    /// A number in `0..n` (`n > 0`).
    pub(crate) fn below(&self, n: usize) -> usize {
        use std::sync::atomic::Ordering;
        let mut x = self.0.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0.store(x, Ordering::Relaxed);
        (x % n.max(1) as u64) as usize
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    pub(crate) fn candidates<'a>(
        nodes: &'a [&'a str],
        cpu: &[Option<f64>],
        latency: &[Option<u64>],
    ) -> Vec<Candidate<'a>> {
        nodes
            .iter()
            .enumerate()
            .map(|(i, n)| Candidate {
                node_id: n,
                local: false,
                cpu: cpu.get(i).copied().flatten(),
                latency: latency.get(i).copied().flatten().map(Duration::from_millis),
            })
            .collect()
    }

    pub(crate) fn request<'a>(params: &'a Params, meta: &'a JsonMap) -> Request<'a> {
        Request {
            name: "svc.action",
            params,
            meta,
        }
    }
}
