//! `rest` routes: `#[action(rest = ...)]` and `#[service(rest = ...)]` reach the INFO packet
//! other nodes decode, in the shapes a Moleculer.js service publishes (moleculer-web's
//! `autoAliases` read them from the registry).

mod common;

use broker_core::{service, Broker, Error, MemoryBus, MemoryTransporter};
use common::{bounded, call};
use serde_json::{json, Value};
use std::time::Duration;

struct Greeter;

#[service(name = "greeter", version = 2, rest = "/greet")]
impl Greeter {
    #[action(rest = "GET /hello/:name")]
    async fn hello(&self, params: Value) -> Result<Value, Error> {
        Ok(params)
    }

    #[action(rest = ["GET /items", "POST /items", "/any"])]
    async fn items(&self) -> Result<u32, Error> {
        Ok(1)
    }

    #[action]
    async fn plain(&self) -> Result<u32, Error> {
        Ok(2)
    }

    /// The `rest` key wins over the one of the settings, whichever comes first.
    #[settings]
    fn settings(&self) -> Value {
        json!({ "rest": "/ignored", "page": 10 })
    }
}

struct Paths;

#[service(name = "paths", rest = ["/a", "/b"])]
impl Paths {
    #[action(rest = "* /x")]
    async fn x(&self) -> Result<u32, Error> {
        Ok(3)
    }
}

fn node(bus: &std::sync::Arc<MemoryBus>, id: &str) -> Broker {
    Broker::builder()
        .node_id(id)
        .namespace("macros-rest")
        .transporter(MemoryTransporter::on_bus(bus.clone()))
        .heartbeat_interval(Duration::from_millis(100))
        .build()
}

#[tokio::test]
async fn routes_and_base_paths_reach_remote_nodes_in_info() {
    let bus = MemoryBus::new();
    let host = node(&bus, "host");
    host.add_service(Greeter).await.expect("add greeter");
    host.add_service(Paths).await.expect("add paths");
    bounded(host.start()).await.expect("start host");
    let peer = node(&bus, "peer");
    bounded(peer.start()).await.expect("start peer");
    bounded(peer.wait_for_services(&["v2.greeter", "paths"], Duration::from_secs(5)))
        .await
        .expect("services seen");

    // What the peer decoded from the host's INFO.
    let services: Value = bounded(peer.call(
        "$node.services",
        json!({ "withActions": true, "skipInternal": true, "onlyLocal": false }),
    ))
    .await
    .expect("$node.services");
    let remote = |name: &str| {
        services
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["fullName"] == name && s["nodes"] == json!(["host"]))
            .cloned()
            .unwrap_or_else(|| panic!("{name} not seen by the peer: {services}"))
    };
    let greeter = remote("v2.greeter");
    assert_eq!(greeter["settings"], json!({ "rest": "/greet", "page": 10 }));
    let actions = &greeter["actions"];
    assert_eq!(
        actions["v2.greeter.hello"]["rest"],
        json!("GET /hello/:name")
    );
    assert_eq!(
        actions["v2.greeter.items"]["rest"],
        json!(["GET /items", "POST /items", "/any"])
    );
    assert_eq!(actions["v2.greeter.plain"].get("rest"), None);
    let paths = remote("paths");
    assert_eq!(paths["settings"]["rest"], json!(["/a", "/b"]));
    assert_eq!(paths["actions"]["paths.x"]["rest"], json!("* /x"));

    // The routes change nothing about calling the actions.
    let n: u32 = call(&peer, "v2.greeter.items", json!({}))
        .await
        .expect("items");
    assert_eq!(n, 1);

    bounded(peer.stop()).await.expect("stop peer");
    bounded(host.stop()).await.expect("stop host");
}
