//! The interop suite: every scenario against real Moleculer.js nodes, written once and run over
//! each bus (Redis, NATS, MQTT) for each Moleculer.js version (0.15.2, 0.14.36). One test binary, so
//! it links once; tests are named `<file>::<scenario>::<bus>_<version>` (`cargo test -p
//! integration-tests --test interop_suite nats_v14` runs one column).

#[macro_use]
#[path = "../interop/mod.rs"]
mod interop;

mod bus_balancing;
mod calls;
mod clients;
mod errors;
mod events;
mod mqtt_options;
mod node_loss;
mod redis_cluster;
mod registry;
mod server_restart;

/// Entry point of the Rust child node process (see `interop::child`); a no-op otherwise.
#[test]
#[ignore = "entry point of the Rust child node, started by the interop tests themselves"]
fn child_node_entry() {
    interop::child::child_main();
}
