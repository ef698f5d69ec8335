//! Shard: the same key always goes to the same node, by consistent hashing over a ring of
//! virtual nodes, so a node joining or leaving moves only the keys that were (or will be) its.

use super::{Candidate, Request, Rng, Strategy};
use serde_json::Value;
use std::sync::Mutex;

/// Options of [`Shard`].
#[derive(Debug, Clone, PartialEq)]
pub struct ShardOptions {
    /// Where the key is: a params path (`user.id`) or a meta path (`#tenant`).
    pub shard_key: String,
    /// Virtual nodes per node on the ring (Moleculer's default: 10).
    pub vnodes: usize,
}

impl Default for ShardOptions {
    fn default() -> Self {
        ShardOptions {
            shard_key: String::new(),
            vnodes: 10,
        }
    }
}

/// Routes by key with consistent hashing; calls without the key are spread at random.
#[derive(Debug)]
pub struct Shard {
    options: ShardOptions,
    ring: Mutex<Ring>,
    rng: Rng,
}

#[derive(Debug, Default)]
struct Ring {
    nodes: Vec<String>,
    /// (hash, node name), sorted by hash.
    points: Vec<(u64, String)>,
}

impl Shard {
    /// With options.
    pub fn new(options: ShardOptions) -> Shard {
        Shard {
            options,
            ring: Mutex::new(Ring::default()),
            rng: Rng::new(),
        }
    }

    fn key(&self, request: &Request<'_>) -> Option<String> {
        let path = self.options.shard_key.as_str();
        if path.is_empty() {
            return None;
        }
        let value = match path.strip_prefix('#') {
            Some(meta_path) => {
                let mut parts = meta_path.split('.');
                let first = request.meta.get(parts.next()?)?;
                parts.try_fold(first, |v, p| v.get(p))?
            }
            None => path
                .split('.')
                .try_fold(request.params.value(), |v, p| v.get(p))?,
        };
        match value {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }
}

/// FNV-1a, then a SplitMix64 finaliser for a good spread of similar strings.
fn hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

impl Strategy for Shard {
    fn select(&self, candidates: &[Candidate<'_>], request: &Request<'_>) -> usize {
        let Some(key) = self.key(request) else {
            return self.rng.below(candidates.len());
        };
        let mut ring = match self.ring.lock() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
        let same_nodes = ring.nodes.len() == candidates.len()
            && candidates
                .iter()
                .all(|c| ring.nodes.iter().any(|n| n == c.node_id));
        if !same_nodes {
            ring.nodes = candidates.iter().map(|c| c.node_id.to_owned()).collect();
            ring.points = candidates
                .iter()
                .flat_map(|c| {
                    (0..self.options.vnodes.max(1))
                        .map(move |i| (hash(&format!("{}:{i}", c.node_id)), c.node_id.to_owned()))
                })
                .collect();
            ring.points.sort();
        }
        let h = hash(&key);
        let at = ring.points.partition_point(|(p, _)| *p < h);
        let (_, node) = &ring.points[at % ring.points.len()];
        candidates
            .iter()
            .position(|c| c.node_id == node)
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{candidates, request};
    use super::*;
    use serde_json::json;

    fn route(s: &Shard, nodes: &[&str], key: u32) -> String {
        let cands = candidates(nodes, &[], &[]);
        let params = crate::payload::Params::from_value(json!({"user": {"id": key}}));
        let meta = Default::default();
        nodes[s.select(&cands, &request(&params, &meta))].to_owned()
    }

    #[test]
    fn a_key_stays_on_one_node_and_few_keys_move_when_a_node_leaves() {
        let s = Shard::new(ShardOptions {
            shard_key: "user.id".into(),
            vnodes: 50,
        });
        let four = ["n1", "n2", "n3", "n4"];
        let before: Vec<String> = (0..1000).map(|k| route(&s, &four, k)).collect();
        for (k, node) in before.iter().enumerate() {
            assert_eq!(&route(&s, &four, k as u32), node, "stable for key {k}");
        }
        // Every node gets a fair share.
        for n in four {
            let share = before.iter().filter(|x| *x == n).count();
            assert!((120..400).contains(&share), "{n} got {share}");
        }
        let three = ["n1", "n2", "n4"];
        let mut moved = 0;
        for (k, node) in before.iter().enumerate() {
            let now = route(&s, &three, k as u32);
            if node != "n3" {
                assert_eq!(&now, node, "key {k} moved although its node stayed");
            } else {
                moved += 1;
            }
        }
        assert!(moved < 400, "only n3's keys move ({moved})");
    }

    #[test]
    fn meta_keys_and_missing_keys() {
        let s = Shard::new(ShardOptions {
            shard_key: "#tenant".into(),
            vnodes: 10,
        });
        let nodes = ["a", "b", "c"];
        let cands = candidates(&nodes, &[], &[]);
        let params = crate::payload::Params::from_value(json!({}));
        let mut meta = crate::packet::JsonMap::new();
        meta.insert("tenant".into(), json!("acme"));
        let first = s.select(&cands, &request(&params, &meta));
        for _ in 0..20 {
            assert_eq!(s.select(&cands, &request(&params, &meta)), first);
        }
        let empty = Default::default();
        assert!(s.select(&cands, &request(&params, &empty)) < 3);
    }
}
