//! Call cost with metrics off and on, measured in one process, alternating rounds so that
//! machine noise hits both alike: `cargo run --release -p broker-bench --example
//! metrics_overhead [calls-per-round] [rounds] [off|on|both] [local|remote]`. `remote` calls a
//! second broker over the in-memory transporter (both with the same metrics setting), so the
//! transit counters of both sides are included. Prints the median ns per call of each side and
//! the ratio. Run it under `valgrind --tool=callgrind` with one side for instruction counts.

use broker_core::metrics::MetricsOptions;
use broker_core::{ActionDef, Broker, MemoryBus, MemoryTransporter, ServiceSchema};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn serving(broker: Broker) -> Broker {
    let echo = ActionDef::new("echo", |ctx| async move { Ok(ctx.params().clone()) });
    if let Err(e) = broker
        .add_service(ServiceSchema::new("bench").action(echo))
        .await
    {
        panic!("add service: {e}");
    }
    if let Err(e) = broker.start().await {
        panic!("start: {e}");
    }
    broker
}

/// The broker the calls are made on: the serving one (local), or a client of it on a memory
/// bus (remote).
async fn broker(metrics: MetricsOptions, id: &str, remote: bool) -> Vec<Broker> {
    if !remote {
        return vec![serving(Broker::builder().node_id(id).metrics(metrics).build()).await];
    }
    let bus = MemoryBus::new();
    let on_bus = |node: String| {
        Broker::builder()
            .node_id(node)
            .namespace(id)
            .transporter(MemoryTransporter::on_bus(bus.clone()))
            .metrics(metrics.clone())
            .build()
    };
    let server = serving(on_bus(format!("{id}-server"))).await;
    let client = on_bus(format!("{id}-client"));
    if let Err(e) = client.start().await {
        panic!("start: {e}");
    }
    if let Err(e) = client
        .wait_for_services(&["bench"], Duration::from_secs(5))
        .await
    {
        panic!("server not seen: {e}");
    }
    vec![client, server]
}

async fn round(broker: &Broker, calls: u64, params: &Value) -> f64 {
    let start = Instant::now();
    for _ in 0..calls {
        if let Err(e) = broker.call::<Value>("bench.echo", params).await {
            panic!("call: {e}");
        }
    }
    start.elapsed().as_nanos() as f64 / calls as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let calls: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let rounds: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10);
    let side = args.get(3).map_or("both", String::as_str);
    let remote = args.get(4).is_some_and(|m| m == "remote");
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("runtime: {e}"),
    };
    rt.block_on(async {
        let off = broker(MetricsOptions::disabled(), "overhead-off", remote).await;
        let on = broker(MetricsOptions::default(), "overhead-on", remote).await;
        let params = json!({"id": 1, "msg": "hello"});
        let (mut t_off, mut t_on) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            if side != "on" {
                t_off.push(round(&off[0], calls, &params).await);
            }
            if side != "off" {
                t_on.push(round(&on[0], calls, &params).await);
            }
        }
        match side {
            "off" => println!("off: {:.0} ns/call", median(t_off)),
            "on" => println!("on: {:.0} ns/call", median(t_on)),
            _ => {
                let (a, b) = (median(t_off), median(t_on));
                println!(
                    "metrics off: {a:.0} ns/call, on: {b:.0} ns/call, on/off = {:.3}",
                    b / a
                );
            }
        }
        for broker in off.iter().chain(&on) {
            let _ = broker.stop().await;
        }
    });
}
