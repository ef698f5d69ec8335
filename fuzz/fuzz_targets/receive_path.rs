//! The whole receive path: any bytes published on any of the node's channels (requests,
//! responses, events, discovery, INFO, heartbeats, pings) are decoded, version-checked and
//! dispatched by a running broker, which must neither panic (libfuzzer-sys turns a panic in
//! any task into a crash) nor stop serving.
#![no_main]

use broker_core::transporter::Bytes;
use broker_core::{service, Broker, Error, MemoryBus, MemoryTransporter};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

const CHANNELS: [&str; 12] = [
    "MOL-fz.REQ.victim",
    "MOL-fz.RES.victim",
    "MOL-fz.EVENT.victim",
    "MOL-fz.DISCOVER",
    "MOL-fz.DISCOVER.victim",
    "MOL-fz.INFO",
    "MOL-fz.INFO.victim",
    "MOL-fz.DISCONNECT",
    "MOL-fz.HEARTBEAT",
    "MOL-fz.PING",
    "MOL-fz.PING.victim",
    "MOL-fz.PONG.victim",
];

struct Echo;

#[service(name = "echo")]
impl Echo {
    #[action]
    async fn any(&self, params: Value) -> Result<Value, Error> {
        Ok(params)
    }

    #[event(name = "fz.**")]
    async fn seen(&self, _payload: Value) {}
}

struct Node {
    runtime: tokio::runtime::Runtime,
    bus: Arc<MemoryBus>,
    broker: Broker,
}

fn node() -> &'static Node {
    static NODE: OnceLock<Node> = OnceLock::new();
    NODE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let bus = MemoryBus::new();
        let broker = Broker::builder()
            .node_id("victim")
            .namespace("fz")
            .transporter(MemoryTransporter::on_bus(bus.clone()))
            .heartbeat_interval(Duration::from_millis(100))
            .heartbeat_timeout(Duration::from_millis(300))
            .build();
        runtime.block_on(async {
            broker.add_service(Echo).await.expect("service");
            broker.start().await.expect("start");
        });
        Node {
            runtime,
            bus,
            broker,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, payload)) = data.split_first() else {
        return;
    };
    let node = node();
    let channel = CHANNELS[usize::from(selector) % CHANNELS.len()];
    node.bus
        .publish_raw(channel, Bytes::copy_from_slice(payload));
    // Let the broker's tasks take the packet and whatever it set off.
    node.runtime.block_on(async {
        for _ in 0..8 {
            tokio::task::yield_now().await;
        }
    });
    assert!(node.broker.is_running(), "the broker still runs");
});
