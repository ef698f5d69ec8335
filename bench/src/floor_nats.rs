//! The raw NATS request/reply floor: what NATS alone costs, with no broker on top.
//!
//! The responder subscribes `<P>.req` and answers every request with its body unchanged (NATS
//! request/reply: the reply goes to the requester's inbox), counts `<P>.tick`, and answers
//! `<P>.countreq` with the count. The requester uses async-nats `request`.

use crate::stats::{
    call_loop, env_f64, env_str, make_payload, r3, result_line, server_pid, CpuWindow,
};
use async_nats::Client;
use broker_core::Broker;
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn url() -> String {
    env_str("NATS_URL", "nats://127.0.0.1:4222")
}

fn subjects() -> (String, String, String) {
    let p = env_str("PREFIX", "benchfloor");
    (
        format!("{p}.req"),
        format!("{p}.tick"),
        format!("{p}.countreq"),
    )
}

async fn connect() -> Result<Client, String> {
    async_nats::connect(url()).await.map_err(|e| e.to_string())
}

pub(crate) async fn responder() -> Result<(), String> {
    let (req, tick, countreq) = subjects();
    let client = connect().await?;
    let e = |e: async_nats::SubscribeError| e.to_string();
    let mut requests = client.subscribe(req).await.map_err(e)?;
    let mut ticks_sub = client.subscribe(tick).await.map_err(e)?;
    let mut counts = client.subscribe(countreq).await.map_err(e)?;
    client.flush().await.map_err(|e| e.to_string())?;
    println!(
        "{}",
        json!({"ready": true, "role": "responder", "pid": std::process::id()})
    );
    let ticks = Arc::new(AtomicU64::new(0));
    let counter = ticks.clone();
    tokio::spawn(async move {
        while ticks_sub.next().await.is_some() {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    let c = client.clone();
    tokio::spawn(async move {
        while let Some(msg) = counts.next().await {
            if let Some(reply) = msg.reply {
                let n = ticks.load(Ordering::Relaxed).to_string();
                let _ = c.publish(reply, Bytes::from(n)).await;
            }
        }
    });
    let serve = async {
        while let Some(msg) = requests.next().await {
            if let Some(reply) = msg.reply {
                // Published at once: the client pipelines the replies on its one connection.
                let _ = client.publish(reply, msg.payload).await;
            }
        }
    };
    tokio::select! {
        () = serve => Ok(()),
        signal = Broker::wait_for_signal() => signal.map(drop).map_err(|e| e.to_string()),
    }
}

async fn count(client: &Client, subject: &str) -> Result<u64, String> {
    let reply = tokio::time::timeout(
        Duration::from_secs(10),
        client.request(subject.to_owned(), Bytes::new()),
    )
    .await
    .map_err(|_| "count timed out".to_owned())?
    .map_err(|e| e.to_string())?;
    std::str::from_utf8(&reply.payload)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| "bad count reply".to_owned())
}

pub(crate) async fn requester() -> Result<(), String> {
    let (req, tick, countreq) = subjects();
    let duration = env_f64("DURATION", 10.0);
    let warmup = env_f64("WARMUP", 2.0);
    let client = connect().await?;

    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&client, &countreq).await.is_err() {
        if Instant::now() > deadline {
            return Err("no responder within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let mut extra = Map::new();
    extra.insert("label".into(), json!(std::env::var("LABEL").ok()));
    extra.insert("transporter".into(), json!("nats-raw-rs"));
    extra.insert("client_impl".into(), json!("rust"));
    for (name, conc, size) in [
        ("rs_floor_c1", 1usize, 0usize),
        ("rs_floor_c64", 64, 0),
        ("rs_floor_1kb_c16", 16, 1024),
        ("rs_floor_64kb_c16", 16, 64 * 1024),
    ] {
        let body = Bytes::from(make_payload(size).to_string());
        let (c2, b2, r2) = (client.clone(), body.clone(), req.clone());
        let call = move || {
            let (client, body, req) = (c2.clone(), b2.clone(), r2.clone());
            async move {
                let expected = body.len();
                let reply = client.request(req, body).await.map_err(|e| e.to_string())?;
                if reply.payload.len() == expected {
                    Ok(())
                } else {
                    Err("reply of the wrong length".to_owned())
                }
            }
        };
        if warmup > 0.0 {
            call_loop(call.clone(), conc, warmup).await;
        }
        let cpu = CpuWindow::start(server_pid());
        let mut res = call_loop(call, conc, duration).await;
        let cpu = cpu.per_op(res.calls);
        res.latencies_ms.sort_by(f64::total_cmp);
        let mut line = result_line(name, &extra, &res, conc, body.len());
        if let Value::Object(fields) = &mut line {
            fields.extend(cpu);
        }
        println!("{line}");
    }

    // One way: publish flat out, the responder counts.
    let before = count(&client, &countreq).await?;
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs_f64(duration);
    let mut emitted: u64 = 0;
    while Instant::now() < end {
        for _ in 0..100 {
            let body = Bytes::from(format!(r#"{{"i":{emitted}}}"#));
            client
                .publish(tick.clone(), body)
                .await
                .map_err(|e| e.to_string())?;
            emitted += 1;
        }
    }
    client.flush().await.map_err(|e| e.to_string())?;
    let emit_end = Instant::now();
    let mut delivered = count(&client, &countreq).await?.saturating_sub(before);
    let mut last_change = Instant::now();
    while delivered < emitted && emit_end.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let d = count(&client, &countreq).await?.saturating_sub(before);
        if d != delivered {
            delivered = d;
            last_change = Instant::now();
        } else if last_change.elapsed() > Duration::from_secs(1) {
            break;
        }
    }
    let delivered_at = last_change.max(emit_end);
    let emit_s = (emit_end - t0).as_secs_f64();
    let lost = emitted.saturating_sub(delivered);
    let mut line = Map::new();
    line.insert("scenario".into(), json!("rs_floor_oneway"));
    line.extend(extra);
    if let Value::Object(f) = json!({
        "duration_s": r3(emit_s), "emitted": emitted, "delivered": delivered, "lost": lost,
        "loss_pct": r3(lost as f64 * 100.0 / emitted.max(1) as f64),
        "emit_per_s": (emitted as f64 / emit_s).round() as u64,
        "delivered_per_s": (delivered as f64 / (delivered_at - t0).as_secs_f64()).round() as u64,
        "drain_s": r3((delivered_at - emit_end).as_secs_f64()),
    }) {
        line.extend(f);
    }
    println!("{}", Value::Object(line));
    Ok(())
}

/// The ADR-32 path: plain NATS requests (async-nats `request`, no broker on this side) to the
/// server's `bench.echo` endpoint (subject `SUBJECT`, default `bench.echo`), which the Rust
/// server exposes through the NATS service API; the same action and payloads as the Moleculer
/// path's `remote_c1`, `remote_c64` and `remote_1kb_c16` (`SCENARIOS` picks among them). An
/// answer with the ADR-32 error headers counts as an error.
pub(crate) async fn micro_requester() -> Result<(), String> {
    let subject = env_str("SUBJECT", "bench.echo");
    let duration = env_f64("DURATION", 10.0);
    let warmup = env_f64("WARMUP", 2.0);
    let wanted = env_str("SCENARIOS", "micro_c1,micro_c64,micro_1kb_c16");
    let client = connect().await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let probe = client.request(subject.clone(), Bytes::from_static(b"{}"));
        match tokio::time::timeout(Duration::from_secs(2), probe).await {
            Ok(Ok(_)) => break,
            _ if Instant::now() > deadline => {
                return Err(format!("no ADR-32 endpoint on {subject} within 30 s"))
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let mut extra = Map::new();
    extra.insert("label".into(), json!(std::env::var("LABEL").ok()));
    extra.insert("transporter".into(), json!("nats-adr32"));
    extra.insert("client_impl".into(), json!("rust-async-nats"));
    for (name, conc, size) in [
        ("micro_c1", 1usize, 0usize),
        ("micro_c64", 64, 0),
        ("micro_1kb_c16", 16, 1024),
    ] {
        if !wanted.split(',').any(|w| w.trim() == name) {
            continue;
        }
        let body = Bytes::from(make_payload(size).to_string());
        let (c2, b2, s2) = (client.clone(), body.clone(), subject.clone());
        let call = move || {
            let (client, body, subject) = (c2.clone(), b2.clone(), s2.clone());
            async move {
                let expected = body.len();
                let reply = client
                    .request(subject, body)
                    .await
                    .map_err(|e| e.to_string())?;
                if reply.headers.is_some() {
                    return Err("the endpoint answered an error".to_owned());
                }
                if reply.payload.len() == expected {
                    Ok(())
                } else {
                    Err("reply of the wrong length".to_owned())
                }
            }
        };
        if warmup > 0.0 {
            call_loop(call.clone(), conc, warmup).await;
        }
        let mut res = call_loop(call, conc, duration).await;
        res.latencies_ms.sort_by(f64::total_cmp);
        println!("{}", result_line(name, &extra, &res, conc, body.len()));
    }
    Ok(())
}
