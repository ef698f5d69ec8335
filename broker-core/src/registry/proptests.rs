//! Property tests of the registry: packets of different nodes commute. Whatever order the bus
//! interleaves several nodes' INFO, HEARTBEAT, DISCONNECT (and heartbeat timeouts) in, as long
//! as each node's own packets keep their order (as every transport keeps them), the registry
//! ends with the same view; a repeated INFO or HEARTBEAT changes nothing.

use super::{Node, Registry};
use crate::packet::{ClientInfo, HeartbeatPacket, InfoPacket, JsonMap, ServiceInfo};
use crate::strategy::StrategySpec;
use proptest::prelude::*;
use serde_json::json;

#[derive(Debug, Clone)]
enum Op {
    /// INFO from an instance (0..2) with a seq and the services in the mask.
    Info {
        instance: u8,
        seq: u8,
        services: u8,
    },
    Heartbeat {
        cpu: u8,
    },
    Disconnect,
    /// The heartbeat timeout firing for this node (the broker then takes it offline).
    Timeout,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..2, 1u8..4, 0u8..8).prop_map(|(instance, seq, services)| Op::Info {
            instance,
            seq,
            services
        }),
        2 => (0u8..100).prop_map(|cpu| Op::Heartbeat { cpu }),
        1 => Just(Op::Disconnect),
        1 => Just(Op::Timeout),
    ]
}

const NODES: [&str; 3] = ["a", "b", "c"];

fn service(i: u8) -> ServiceInfo {
    let name = ["users", "posts", "mail"][usize::from(i)];
    let mut actions = serde_json::Map::new();
    actions.insert(
        format!("{name}.get"),
        json!({"name": format!("{name}.get")}),
    );
    let mut events = serde_json::Map::new();
    events.insert(format!("{name}.*"), json!({"name": format!("{name}.*")}));
    ServiceInfo {
        name: name.to_owned(),
        version: None,
        full_name: Some(name.to_owned()),
        settings: JsonMap::new(),
        metadata: JsonMap::new(),
        actions,
        events,
    }
}

fn apply(registry: &Registry, node: &str, op: &Op) {
    match op {
        Op::Info {
            instance,
            seq,
            services,
        } => {
            registry.process_info(InfoPacket {
                services: (0..3)
                    .filter(|i| services & (1 << i) != 0)
                    .map(service)
                    .collect(),
                ip_list: Vec::new(),
                hostname: String::new(),
                client: ClientInfo::default(),
                config: JsonMap::new(),
                instance_id: format!("{node}-{instance}"),
                metadata: JsonMap::new(),
                seq: Some(u64::from(*seq)),
                ver: "5".into(),
                sender: node.to_owned(),
            });
        }
        Op::Heartbeat { cpu } => {
            registry.process_heartbeat(&HeartbeatPacket {
                cpu: Some(f64::from(*cpu)),
                seq: None,
                instance_id: None,
                ver: "5".into(),
                sender: node.to_owned(),
            });
        }
        Op::Disconnect | Op::Timeout => {
            registry.node_offline(node);
        }
    }
}

type View = (
    Vec<(String, bool, String, u64, Option<u64>, Vec<String>)>,
    Vec<(String, Vec<String>)>,
    Vec<(String, String, Vec<String>)>,
);

/// What the rest of the broker reads: nodes (up or not, instance, seq, CPU, services) and the
/// endpoints of every action and event.
fn view(registry: &Registry) -> View {
    let state = registry.read();
    let mut nodes: Vec<_> = state
        .nodes
        .values()
        .map(|n| {
            (
                n.id.clone(),
                n.available,
                n.instance_id.clone(),
                n.seq,
                n.cpu.map(|c| c as u64),
                n.services.iter().map(|s| s.name.clone()).collect(),
            )
        })
        .collect();
    nodes.sort();
    let mut actions: Vec<_> = state
        .catalog
        .action_names()
        .map(|(name, eps)| {
            let mut eps: Vec<String> = eps.iter().map(|(n, _)| (*n).to_owned()).collect();
            eps.sort();
            (name.to_owned(), eps)
        })
        .collect();
    actions.sort();
    let mut events: Vec<_> = state
        .catalog
        .event_lists()
        .map(|(pattern, group, eps)| {
            let mut eps: Vec<String> = eps.iter().map(|(n, _)| (*n).to_owned()).collect();
            eps.sort();
            (pattern.to_owned(), group.to_owned(), eps)
        })
        .collect();
    events.sort();
    (nodes, actions, events)
}

fn registry() -> Registry {
    let local = Node::local(
        "local",
        "local-0",
        ClientInfo::default(),
        String::new(),
        Vec::new(),
        JsonMap::new(),
    );
    Registry::new(local, StrategySpec::default(), false)
}

/// Runs the nodes' sequences interleaved as `order` picks (each entry: which node's next
/// packet comes; entries for a node whose packets are used up are skipped, and whatever is
/// left at the end follows in node order).
fn run(sequences: &[Vec<Op>; 3], order: &[usize]) -> View {
    let registry = registry();
    let mut next = [0usize; 3];
    for &pick in order {
        let i = pick % 3;
        if let Some(op) = sequences[i].get(next[i]) {
            apply(&registry, NODES[i], op);
            next[i] += 1;
        }
    }
    for i in 0..3 {
        for op in &sequences[i][next[i]..] {
            apply(&registry, NODES[i], op);
        }
    }
    view(&registry)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_interleaving_of_nodes_gives_the_same_view(
        a in prop::collection::vec(op(), 0..12),
        b in prop::collection::vec(op(), 0..12),
        c in prop::collection::vec(op(), 0..12),
        first in prop::collection::vec(0usize..3, 0..40),
        second in prop::collection::vec(0usize..3, 0..40),
    ) {
        let sequences = [a, b, c];
        prop_assert_eq!(run(&sequences, &first), run(&sequences, &second));
    }

    #[test]
    fn a_repeated_info_or_heartbeat_changes_nothing(
        ops in prop::collection::vec(op(), 1..16),
        at in 0usize..16,
    ) {
        let once = [ops.clone(), Vec::new(), Vec::new()];
        let mut repeated = ops;
        let at = at % repeated.len();
        if matches!(repeated[at], Op::Info { .. } | Op::Heartbeat { .. }) {
            let copy = repeated[at].clone();
            repeated.insert(at, copy);
        }
        let twice = [repeated, Vec::new(), Vec::new()];
        prop_assert_eq!(run(&once, &[]), run(&twice, &[]));
    }
}
