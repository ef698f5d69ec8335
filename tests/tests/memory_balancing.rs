//! Load balancing across nodes: strategies chosen per broker and per action (travelling in
//! INFO to the callers), with CPU figures from heartbeats.

mod common;

use broker_core::transporter::Bytes;
use broker_core::{
    ActionDef, Broker, Context, CpuUsageOptions, MemoryBus, ServiceSchema, ShardOptions,
    StrategySpec,
};
use common::{node, WAIT};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

fn whoami(strategy: Option<StrategySpec>) -> ServiceSchema {
    let mut action = ActionDef::new("where", |ctx: Context| async move {
        Ok(json!(ctx.broker().node_id()))
    });
    if let Some(s) = strategy {
        action = action.strategy(s);
    }
    ServiceSchema::new("echo").action(action)
}

async fn servers(
    bus: &Arc<MemoryBus>,
    ids: &[&str],
    strategy: Option<StrategySpec>,
) -> Vec<Broker> {
    let mut out = Vec::new();
    for id in ids {
        let (b, _) = node(bus, id);
        // Slow heartbeats: the CPU test feeds its own figures.
        let broker = b
            .heartbeat_interval(Duration::from_secs(30))
            .heartbeat_timeout(Duration::from_secs(60))
            .build();
        broker
            .add_service(whoami(strategy.clone()))
            .await
            .expect("add");
        broker.start().await.expect("start");
        out.push(broker);
    }
    out
}

async fn caller(bus: &Arc<MemoryBus>, strategy: StrategySpec, expect_nodes: usize) -> Broker {
    let (b, _) = node(bus, "caller");
    let broker = b
        .strategy(strategy)
        .heartbeat_interval(Duration::from_secs(30))
        .heartbeat_timeout(Duration::from_secs(60))
        .build();
    broker.start().await.expect("start");
    broker
        .wait_for_services(&["echo"], WAIT)
        .await
        .expect("echo");
    common::wait_for_endpoints(&broker, "echo.where", expect_nodes as u64).await;
    broker
}

async fn tally(b: &Broker, n: usize, params: impl Fn(usize) -> Value) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for i in 0..n {
        let who: String = b.call("echo.where", params(i)).await.expect("call");
        *counts.entry(who).or_default() += 1;
    }
    counts
}

#[tokio::test]
async fn round_robin_spreads_evenly_and_random_reaches_all() {
    let bus = MemoryBus::new();
    let nodes = servers(&bus, &["s1", "s2", "s3"], None).await;
    let c = caller(&bus, StrategySpec::RoundRobin, 3).await;
    let counts = tally(&c, 30, |_| json!({})).await;
    assert_eq!(
        counts.values().copied().collect::<Vec<_>>(),
        vec![10, 10, 10],
        "{counts:?}"
    );
    c.stop().await.expect("stop");

    let bus2 = MemoryBus::new();
    let nodes2 = servers(&bus2, &["r1", "r2", "r3"], None).await;
    let c2 = caller(&bus2, StrategySpec::Random, 3).await;
    let counts = tally(&c2, 300, |_| json!({})).await;
    assert_eq!(counts.len(), 3, "{counts:?}");
    assert!(counts.values().all(|n| *n > 50), "{counts:?}");
    c2.stop().await.expect("stop");
    for b in nodes.into_iter().chain(nodes2) {
        b.stop().await.expect("stop");
    }
}

#[tokio::test]
async fn an_action_declared_shard_routes_each_key_to_one_node() {
    let bus = MemoryBus::new();
    // The servers declare Shard on their action; the caller's own default is RoundRobin.
    let shard = StrategySpec::Shard(ShardOptions {
        shard_key: "user.id".into(),
        vnodes: 20,
    });
    let nodes = servers(&bus, &["a", "b", "c"], Some(shard)).await;
    let c = caller(&bus, StrategySpec::RoundRobin, 3).await;
    let mut owner = HashMap::new();
    for round in 0..3 {
        for key in 0..30 {
            let who: String = c
                .call("echo.where", json!({"user": {"id": key}}))
                .await
                .expect("call");
            let first = owner.entry(key).or_insert_with(|| who.clone());
            assert_eq!(*first, who, "key {key} moved in round {round}");
        }
    }
    let used: std::collections::HashSet<&String> = owner.values().collect();
    assert!(used.len() >= 2, "keys spread over nodes: {owner:?}");
    c.stop().await.expect("stop");
    for b in nodes {
        b.stop().await.expect("stop");
    }
}

#[tokio::test]
async fn cpu_usage_prefers_the_idle_node() {
    let bus = MemoryBus::new();
    let nodes = servers(&bus, &["busy", "idle"], None).await;
    let strategy = StrategySpec::CpuUsage(CpuUsageOptions {
        sample_count: 0,
        low_cpu_usage: 1.0,
    });
    let c = caller(&bus, strategy, 2).await;
    // Heartbeats as the two nodes would send them. The nodes' own first heartbeats (real CPU
    // figures) may still be in flight, so repeat ours until the caller's registry shows them.
    common::eventually("CPU figures registered", || {
        for (id, cpu) in [("busy", 95), ("idle", 7)] {
            let hb = format!(r#"{{"cpu":{cpu},"ver":"5","sender":"{id}"}}"#);
            bus.publish_raw("MOL-test.HEARTBEAT", Bytes::from(hb));
        }
        let c = c.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let nodes = c.node_list(false, true);
            let cpu = |id: &str| nodes.iter().find(|n| n.id == id).and_then(|n| n.cpu);
            cpu("busy") == Some(95.0) && cpu("idle") == Some(7.0)
        }
    })
    .await;
    let counts = tally(&c, 20, |_| json!({})).await;
    assert_eq!(counts.get("idle"), Some(&20), "{counts:?}");
    c.stop().await.expect("stop");
    for b in nodes {
        b.stop().await.expect("stop");
    }
}

/// `disable_balancer` on a transporter without a built-in balancer (as on Moleculer's Redis):
/// the broker keeps balancing, so calls and emits work as before.
#[tokio::test]
async fn disable_balancer_needs_a_bus_that_balances() {
    let bus = MemoryBus::new();
    let servers = servers(&bus, &["s1", "s2"], None).await;
    let (b, _) = node(&bus, "caller");
    let caller = b.disable_balancer(true).build();
    assert!(caller.config().disable_balancer);
    caller.start().await.expect("start");
    caller
        .wait_for_services(&["echo"], WAIT)
        .await
        .expect("caller sees echo");
    let mut seen = std::collections::HashSet::new();
    for _ in 0..10 {
        let at: Value = caller.call("echo.where", json!({})).await.expect("call");
        seen.insert(at.as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(seen.len(), 2, "round robin as usual: {seen:?}");
    caller.stop().await.expect("stop");
    for s in servers {
        s.stop().await.expect("stop");
    }
}
