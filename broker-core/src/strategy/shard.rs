//! Shard: the same key always goes to the same node, on the ring Moleculer.js builds, so Rust
//! and JavaScript callers in one cluster send a key to the same node.
//!
//! Moleculer's ring (`strategies/shard.js`): the candidates' node IDs sorted, `vnodes` rounds
//! of them laid on 2^32 points at even intervals, a key's point the first 32 bits of the MD5
//! of its string form, and the node the first ring point at or above it. As there, the ring is
//! rebuilt from scratch when the nodes change, so a node joining or leaving moves more keys
//! than its own share (measured in the tests below); agreeing with JS callers matters more.

use super::{Candidate, Request, Rng, Strategy};
use md5::{Digest, Md5};
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

/// Routes by key with Moleculer's hash ring; calls without the key are spread at random.
#[derive(Debug)]
pub struct Shard {
    options: ShardOptions,
    ring: Mutex<Ring>,
    rng: Rng,
}

#[derive(Debug, Default)]
struct Ring {
    /// The node IDs it was built from, sorted.
    nodes: Vec<String>,
    /// (upper bound of the slice, index into `nodes`), ascending.
    points: Vec<(u64, usize)>,
}

/// The size of Moleculer's ring.
const RING_SIZE: f64 = 4_294_967_296.0;

impl Ring {
    fn build(mut nodes: Vec<String>, vnodes: usize) -> Ring {
        nodes.sort();
        let total = nodes.len() * vnodes;
        let slice = RING_SIZE / total as f64;
        let mut points = Vec::with_capacity(total);
        for _ in 0..vnodes {
            for i in 0..nodes.len() {
                points.push(((slice * (points.len() + 1) as f64).floor() as u64, i));
            }
        }
        if let Some(last) = points.last_mut() {
            last.0 = RING_SIZE as u64;
        }
        Ring { nodes, points }
    }

    fn node_for(&self, key: &str) -> Option<&str> {
        let hash = Md5::digest(key.as_bytes());
        let point = u64::from(u32::from_be_bytes([hash[0], hash[1], hash[2], hash[3]]));
        let at = self.points.partition_point(|(bound, _)| *bound < point);
        let (_, node) = self.points.get(at)?;
        self.nodes.get(*node).map(String::as_str)
    }
}

/// A value as JavaScript's `String(value)` writes it (Moleculer hashes `key.toString()`).
fn js_string(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
            _ => n.to_string(),
        },
        Value::Array(items) => items.iter().map(js_string).collect::<Vec<_>>().join(","),
        Value::Object(_) => "[object Object]".to_owned(),
    }
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
            other => Some(js_string(other)),
        }
    }
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
            && candidates.iter().all(|c| {
                ring.nodes
                    .binary_search_by(|n| n.as_str().cmp(c.node_id))
                    .is_ok()
            });
        if !same_nodes {
            let nodes = candidates.iter().map(|c| c.node_id.to_owned()).collect();
            *ring = Ring::build(nodes, self.options.vnodes.max(1));
        }
        ring.node_for(&key)
            .and_then(|node| candidates.iter().position(|c| c.node_id == node))
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
    fn a_key_stays_on_one_node_and_a_leaving_nodes_keys_move() {
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
            if node == "n3" {
                assert_ne!(now, "n3", "key {k} left with its node");
            }
            if &now != node {
                moved += 1;
            }
        }
        // Moleculer rebuilds its ring from scratch: n3's quarter moves, and some others too.
        assert!((200..700).contains(&moved), "{moved} keys moved");
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
