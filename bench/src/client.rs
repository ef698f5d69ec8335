//! The client role: the scenarios of the Moleculer.js bench client, one JSON line each.

use crate::payload::{make_typed_payload, TypedPayload};
use crate::server::{remote_broker, Bench};
use crate::stats::{env_f64, env_str, make_payload, measure, r3, server_pid, CpuWindow};
use broker_core::payload::Payload;
use broker_core::{Broker, CallOptions};
use futures_util::future::join_all;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ALL: &[&str] = &[
    "remote_c1",
    "remote_c64",
    "remote_1kb_c16",
    "remote_64kb_c16",
    "events",
    "local_c1",
    "local_c64",
];

struct Settings {
    duration: f64,
    warmup: f64,
    drain_timeout: f64,
    event_batch: usize,
}

fn out(line: &Value) {
    println!("{line}");
}

pub(crate) async fn run() -> Result<(), String> {
    let scenarios: Vec<String> = env_str("SCENARIOS", &ALL.join(","))
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    if let Some(bad) = scenarios.iter().find(|s| !ALL.contains(&s.as_str())) {
        return Err(format!(
            "unknown scenario '{bad}'; known: {}",
            ALL.join(",")
        ));
    }
    let settings = Settings {
        duration: env_f64("DURATION", 10.0),
        warmup: env_f64("WARMUP", 2.0),
        drain_timeout: env_f64("DRAIN_TIMEOUT", 15.0),
        event_batch: env_f64("EVENT_BATCH", 100.0).max(1.0) as usize,
    };
    let wait = env_f64("WAIT_TIMEOUT", 30.0);
    // Hard bound on the whole run, as the JS client has.
    let budget = wait
        + scenarios.len() as f64
            * (settings.duration + settings.warmup + settings.drain_timeout + 15.0)
        + 30.0;
    let mut common = Map::new();
    common.insert("label".into(), json!(std::env::var("LABEL").ok()));
    common.insert(
        "server_variant".into(),
        json!(std::env::var("SERVER_VARIANT").ok()),
    );
    common.insert(
        "metrics".into(),
        json!(crate::server::metrics_options().enabled),
    );
    common.insert("client_impl".into(), json!("rust"));
    common.insert("client_version".into(), json!(broker_core::VERSION));
    let work = async {
        let remote: Vec<&String> = scenarios
            .iter()
            .filter(|s| !s.starts_with("local_"))
            .collect();
        let local: Vec<&String> = scenarios
            .iter()
            .filter(|s| s.starts_with("local_"))
            .collect();
        if !remote.is_empty() {
            let broker = remote_broker(format!("rust-bench-client-{}", std::process::id()))?;
            broker.start().await.map_err(|e| e.to_string())?;
            let result = run_remote(&broker, &remote, &settings, &common, wait).await;
            let _ = tokio::time::timeout(Duration::from_secs(5), broker.stop()).await;
            result?;
        }
        if !local.is_empty() {
            let broker = crate::server::with_tracing(Broker::builder())
                .node_id(format!("rust-bench-local-{}", std::process::id()))
                .metrics(crate::server::metrics_options())
                .build();
            broker
                .add_service(Bench::default())
                .await
                .map_err(|e| e.to_string())?;
            broker.start().await.map_err(|e| e.to_string())?;
            let mut extra = common.clone();
            extra.insert("transporter".into(), json!("none"));
            extra.insert("server_node".into(), json!(broker.node_id()));
            extra.insert("server_client".into(), json!("in-process"));
            // `LOCAL_CALL=raw`: the raw echo with borrowed params, as before `call_owned`.
            let raw = env_str("LOCAL_CALL", "owned") == "raw";
            let how = if raw { "call_raw_echo" } else { "call_owned" };
            extra.insert("rust_call".into(), json!(how));
            for s in local {
                let conc = if s == "local_c1" { 1 } else { 64 };
                if raw {
                    echo(s, &broker, 0, CallOptions::new, conc, &extra, &settings).await;
                } else {
                    echo_owned(s, &broker, conc, &extra, &settings).await;
                }
            }
            let _ = tokio::time::timeout(Duration::from_secs(5), broker.stop()).await;
        }
        Ok::<(), String>(())
    };
    match tokio::time::timeout(Duration::from_secs_f64(budget), work).await {
        Ok(r) => r,
        Err(_) => Err(format!("exceeded the hard time budget of {budget:.0} s")),
    }
}

/// Waits for a node (not this one; `SERVER_NODE` if set) offering the `bench` service.
async fn find_server(broker: &Broker, wait: f64) -> Result<(String, Value), String> {
    let pinned = std::env::var("SERVER_NODE").ok().filter(|s| !s.is_empty());
    let deadline = Instant::now() + Duration::from_secs_f64(wait);
    while Instant::now() < deadline {
        for node in broker
            .node_list(true, true)
            .into_iter()
            .filter_map(|n| serde_json::to_value(n).ok())
        {
            let id = node["id"].as_str().unwrap_or_default();
            let offers = node["services"]
                .as_array()
                .is_some_and(|s| s.iter().any(|svc| svc["name"] == "bench"));
            if offers && id != broker.node_id() && pinned.as_deref().is_none_or(|p| p == id) {
                let client = &node["client"];
                let desc = format!(
                    "{} {}",
                    client["type"].as_str().unwrap_or("?"),
                    client["version"].as_str().unwrap_or("?")
                );
                return Ok((id.to_owned(), json!(desc)));
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!(
        "no node offering bench within {wait} s{}",
        pinned.map(|p| format!(" on '{p}'")).unwrap_or_default()
    ))
}

async fn run_remote(
    broker: &Broker,
    scenarios: &[&String],
    settings: &Settings,
    common: &Map<String, Value>,
    wait: f64,
) -> Result<(), String> {
    let (server, server_client) = find_server(broker, wait).await?;
    // The registry may learn of the actions a moment after the node.
    let left = Duration::from_secs_f64(wait.max(1.0));
    broker
        .wait_for_services(&["bench"], left)
        .await
        .map_err(|e| e.to_string())?;
    let mut extra = common.clone();
    extra.insert("transporter".into(), json!(transport_name()));
    extra.insert("server_node".into(), json!(server));
    extra.insert("server_client".into(), server_client);
    let opts = || {
        CallOptions::new()
            .node_id(server.clone())
            .timeout(Duration::from_secs(10))
    };
    // Sanity: the echo must round-trip the payload unchanged.
    for size in [0, 1024] {
        let p = make_payload(size);
        let back: Value = broker
            .call_with("bench.echo", &p, opts())
            .await
            .map_err(|e| format!("bench.echo failed: {e}"))?;
        if back != p {
            return Err(format!("bench.echo did not echo {size} B"));
        }
    }
    for s in scenarios {
        let (conc, size) = match s.as_str() {
            "remote_c1" => (1, 0),
            "remote_c64" => (64, 0),
            "remote_1kb_c16" => (16, 1024),
            "remote_64kb_c16" => (16, 64 * 1024),
            "events" => {
                out(&events(broker, &server, settings, &extra).await?);
                continue;
            }
            _ => continue,
        };
        let node = server.clone();
        let options = move || {
            CallOptions::new()
                .node_id(node.as_str())
                .timeout(Duration::from_secs(10))
        };
        echo(s, broker, size, options, conc, &extra, settings).await;
    }
    Ok(())
}

/// Measures `bench.echo` with the payload of `size` at `conc` in flight, each call with
/// `options()`, and prints its line.
async fn echo(
    scenario: &str,
    broker: &Broker,
    size: usize,
    options: impl Fn() -> CallOptions + Clone + Send + Sync + 'static,
    conc: usize,
    extra: &Map<String, Value>,
    settings: &Settings,
) {
    let payload = Arc::new(make_typed_payload(size));
    let bytes = make_payload(size).to_string().len();
    // A local call's server is this process: its CPU is the client's figure.
    let server = if extra["transporter"] == "none" {
        None
    } else {
        server_pid()
    };
    let broker = broker.clone();
    let call = move || {
        let (b, p, opts) = (broker.clone(), payload.clone(), options());
        async move {
            b.call_with::<Payload>("bench.echo", &*p, opts)
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        }
    };
    out(&measure(
        scenario,
        extra,
        call,
        conc,
        bytes,
        settings.duration,
        settings.warmup,
        server,
    )
    .await);
}

/// Measures the local `bench.echo_typed` at `conc` in flight: each call moves a copy of the
/// typed payload in (`Broker::call_owned`) and gets the typed result back, as Rust code that
/// owns its data calls a service in its own process (Moleculer.js passes its object by
/// reference; a Rust caller that keeps its value pays this copy).
async fn echo_owned(
    scenario: &str,
    broker: &Broker,
    conc: usize,
    extra: &Map<String, Value>,
    settings: &Settings,
) {
    let payload = Arc::new(make_typed_payload(0));
    let bytes = make_payload(0).to_string().len();
    let broker = broker.clone();
    let call = move || {
        let (b, p) = (broker.clone(), TypedPayload::clone(&payload));
        async move {
            b.call_owned::<TypedPayload, TypedPayload>("bench.echo_typed", p)
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        }
    };
    out(&measure(
        scenario,
        extra,
        call,
        conc,
        bytes,
        settings.duration,
        settings.warmup,
        // Local calls only: the server is this process, its CPU is the client's figure.
        None,
    )
    .await);
}

fn transport_name() -> String {
    let url = env_str("TRANSPORTER", "redis://127.0.0.1:6379");
    url.split("://").next().unwrap_or("redis").to_owned()
}

async fn count(broker: &Broker, server: &str) -> Result<u64, String> {
    let opts = CallOptions::new()
        .node_id(server)
        .timeout(Duration::from_secs(10));
    let v: Value = broker
        .call_with("bench.count", json!({}), opts)
        .await
        .map_err(|e| format!("bench.count failed: {e}"))?;
    v["count"]
        .as_u64()
        .ok_or_else(|| format!("bench.count returned {v}"))
}

/// The data of a `bench.tick` event, `{"i": N}`, typed as Rust code would have it.
#[derive(Serialize)]
struct Tick {
    i: u64,
}

/// Emits `bench.tick` flat out for DURATION (batches of EVENT_BATCH in flight), then polls
/// `bench.count` until all arrived, nothing changed for 1 s, or DRAIN_TIMEOUT.
async fn events(
    broker: &Broker,
    server: &str,
    settings: &Settings,
    extra: &Map<String, Value>,
) -> Result<Value, String> {
    let before = count(broker, server).await?;
    let cpu = CpuWindow::start(server_pid());
    let (mut emitted, mut emit_errors, mut first_error) = (0u64, 0u64, None::<String>);
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs_f64(settings.duration);
    while Instant::now() < end {
        let batch = (0..settings.event_batch as u64)
            .map(|i| broker.emit("bench.tick", Tick { i: emitted + i }));
        for r in join_all(batch).await {
            if let Err(e) = r {
                emit_errors += 1;
                first_error.get_or_insert(e.to_string());
            }
        }
        emitted += settings.event_batch as u64;
    }
    let emit_end = Instant::now();
    // A server flooded past what it can take may miss `bench.count` calls for a while (Redis
    // cuts a subscriber whose output buffer overflows, and it reconnects): such a failure
    // counts as "no change" and the polling goes on, bounded by DRAIN_TIMEOUT.
    let (mut delivered, mut last_change) = (0, Instant::now());
    let (mut count_errors, mut first_count_error) = (0u64, None::<String>);
    let drain_deadline = emit_end + Duration::from_secs_f64(settings.drain_timeout);
    loop {
        match count(broker, server).await {
            Ok(total) => {
                let d = total.saturating_sub(before);
                if d != delivered {
                    delivered = d;
                    last_change = Instant::now();
                }
            }
            Err(e) => {
                count_errors += 1;
                first_count_error.get_or_insert(e);
            }
        }
        let quiet = last_change.elapsed() > Duration::from_secs(1);
        if delivered >= emitted || Instant::now() >= drain_deadline || (quiet && count_errors == 0)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Per event received (server) and per event emitted (client), the polling included.
    let server_cpu = cpu.per_op(delivered)["server_cpu_us_per_op"].clone();
    let client_cpu = cpu.per_op(emitted)["client_cpu_us_per_op"].clone();
    let delivered_at = last_change.max(emit_end);
    let emit_s = (emit_end - t0).as_secs_f64();
    let deliver_s = (delivered_at - t0).as_secs_f64();
    let lost = emitted.saturating_sub(delivered);
    let mut line = Map::new();
    line.insert("scenario".into(), json!("events"));
    line.extend(extra.clone());
    if let Value::Object(fields) = json!({
        "duration_s": r3(emit_s),
        "emitted": emitted,
        "emit_errors": emit_errors,
        "first_error": first_error,
        "delivered": delivered,
        "lost": lost,
        "loss_pct": r3(lost as f64 * 100.0 / (emitted.max(1)) as f64),
        "emit_per_s": (emitted as f64 / emit_s).round() as u64,
        "delivered_per_s": (delivered as f64 / deliver_s).round() as u64,
        "drain_s": r3((delivered_at - emit_end).as_secs_f64()),
        "count_errors": count_errors,
        "first_count_error": first_count_error,
        "server_cpu_us_per_op": server_cpu,
        "client_cpu_us_per_op": client_cpu,
    }) {
        line.extend(fields);
    }
    Ok(Value::Object(line))
}
