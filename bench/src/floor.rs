//! The raw Redis request/reply floor: what pub/sub alone costs, with no broker on top.
//!
//! The responder subscribes `<P>.req` and republishes every message unchanged to `<P>.res`,
//! counts `<P>.tick`, and answers `<P>.countreq` (`<id>:`) with `<id>:<count>` on
//! `<P>.countres`. A request is `<id>:<body>`; the requester matches replies by the id.

use crate::stats::{
    call_loop, env_f64, env_str, make_payload, r3, result_line, server_pid, CpuWindow,
};
use broker_core::Broker;
use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

struct Channels {
    req: String,
    res: String,
    tick: String,
    countreq: String,
    countres: String,
}

impl Channels {
    fn from_env() -> Channels {
        let p = env_str("PREFIX", "benchfloor");
        Channels {
            req: format!("{p}.req"),
            res: format!("{p}.res"),
            tick: format!("{p}.tick"),
            countreq: format!("{p}.countreq"),
            countres: format!("{p}.countres"),
        }
    }
}

fn client() -> Result<redis::Client, String> {
    redis::Client::open(env_str("REDIS_URL", "redis://127.0.0.1:6379")).map_err(|e| e.to_string())
}

async fn publish(conn: &mut MultiplexedConnection, ch: &str, body: &[u8]) -> Result<(), String> {
    redis::cmd("PUBLISH")
        .arg(ch)
        .arg(body)
        .query_async::<i64>(conn)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

pub(crate) async fn responder() -> Result<(), String> {
    let ch = Channels::from_env();
    let client = client()?;
    let e = |e: redis::RedisError| e.to_string();
    let conn = client.get_multiplexed_async_connection().await.map_err(e)?;
    let mut sub = client.get_async_pubsub().await.map_err(e)?;
    for name in [&ch.req, &ch.tick, &ch.countreq] {
        sub.subscribe(name).await.map_err(e)?;
    }
    println!(
        "{}",
        json!({"ready": true, "role": "responder", "pid": std::process::id()})
    );
    let mut stream = sub.into_on_message();
    let mut ticks: u64 = 0;
    let serve = async {
        while let Some(msg) = stream.next().await {
            let name = msg.get_channel_name();
            if name == ch.req {
                // Not awaited here: replies stay pipelined on the multiplexed connection.
                let (mut c, res, body) = (
                    conn.clone(),
                    ch.res.clone(),
                    msg.get_payload_bytes().to_vec(),
                );
                tokio::spawn(async move {
                    let _ = publish(&mut c, &res, &body).await;
                });
            } else if name == ch.tick {
                ticks += 1;
            } else if name == ch.countreq {
                let mut body = msg.get_payload_bytes().to_vec();
                body.extend_from_slice(ticks.to_string().as_bytes());
                let mut c = conn.clone();
                publish(&mut c, &ch.countres, &body).await?;
            }
        }
        Ok::<(), String>(())
    };
    tokio::select! {
        r = serve => r,
        // The floor has no broker to stop; SIGTERM from the harness ends it like Ctrl-C.
        signal = Broker::wait_for_signal() => signal.map(drop).map_err(|e| e.to_string()),
    }
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Vec<u8>>>>>;

struct Requester {
    conn: MultiplexedConnection,
    pending: Pending,
    seq: AtomicU64,
}

impl Requester {
    async fn request(&self, ch: &str, body: &[u8]) -> Result<Vec<u8>, String> {
        let id = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = oneshot::channel();
        if let Ok(mut p) = self.pending.lock() {
            p.insert(id, tx);
        }
        let mut msg = format!("{id}:").into_bytes();
        msg.extend_from_slice(body);
        let mut c = self.conn.clone();
        publish(&mut c, ch, &msg).await?;
        match tokio::time::timeout(Duration::from_secs(10), rx).await {
            Ok(Ok(reply)) => Ok(reply),
            _ => {
                if let Ok(mut p) = self.pending.lock() {
                    p.remove(&id);
                }
                Err(format!("request {id} timed out"))
            }
        }
    }

    async fn count(&self, ch: &Channels) -> Result<u64, String> {
        let b = self.request(&ch.countreq, b"").await?;
        std::str::from_utf8(&b)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| "bad count reply".to_owned())
    }
}

pub(crate) async fn requester() -> Result<(), String> {
    let ch = Arc::new(Channels::from_env());
    let duration = env_f64("DURATION", 10.0);
    let warmup = env_f64("WARMUP", 2.0);
    let batch = env_f64("EVENT_BATCH", 100.0).max(1.0) as u64;
    let client = client()?;
    let e = |e: redis::RedisError| e.to_string();
    let conn = client.get_multiplexed_async_connection().await.map_err(e)?;
    let mut sub = client.get_async_pubsub().await.map_err(e)?;
    sub.subscribe(&ch.res).await.map_err(e)?;
    sub.subscribe(&ch.countres).await.map_err(e)?;
    let pending: Pending = Arc::default();
    let replies = pending.clone();
    tokio::spawn(async move {
        let mut stream = sub.into_on_message();
        while let Some(msg) = stream.next().await {
            let b = msg.get_payload_bytes();
            let Some(colon) = b.iter().position(|&c| c == b':') else {
                continue;
            };
            let id = std::str::from_utf8(&b[..colon])
                .ok()
                .and_then(|s| s.parse::<u64>().ok());
            let tx = id.and_then(|id| replies.lock().ok().and_then(|mut p| p.remove(&id)));
            if let Some(tx) = tx {
                let _ = tx.send(b[colon + 1..].to_vec());
            }
        }
    });
    let r = Arc::new(Requester {
        conn,
        pending,
        seq: AtomicU64::new(0),
    });

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout(Duration::from_millis(500), r.count(&ch)).await {
            Ok(Ok(_)) => break,
            _ if Instant::now() > deadline => return Err("no responder within 30 s".into()),
            _ => {}
        }
    }

    let mut extra = Map::new();
    extra.insert("label".into(), json!(std::env::var("LABEL").ok()));
    extra.insert("transporter".into(), json!("redis-raw-rs"));
    extra.insert("client_impl".into(), json!("rust"));
    for (name, conc, size) in [
        ("rs_floor_c1", 1usize, 0usize),
        ("rs_floor_c64", 64, 0),
        ("rs_floor_1kb_c16", 16, 1024),
        ("rs_floor_64kb_c16", 16, 64 * 1024),
    ] {
        let body = Arc::new(make_payload(size).to_string().into_bytes());
        let (r2, b2, c2) = (r.clone(), body.clone(), ch.clone());
        let call = move || {
            let (r, body, ch) = (r2.clone(), b2.clone(), c2.clone());
            async move {
                let reply = r.request(&ch.req, &body).await?;
                if reply.len() == body.len() {
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

    // One way: publish flat out (pipelined batches), the responder counts.
    let before = r.count(&ch).await?;
    let cpu = CpuWindow::start(server_pid());
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs_f64(duration);
    let mut emitted: u64 = 0;
    while Instant::now() < end {
        let mut pipe = redis::pipe();
        for _ in 0..batch {
            pipe.cmd("PUBLISH")
                .arg(&ch.tick)
                .arg(format!(r#"{{"i":{emitted}}}"#))
                .ignore();
            emitted += 1;
        }
        let mut c = r.conn.clone();
        pipe.query_async::<()>(&mut c).await.map_err(e)?;
    }
    let emit_end = Instant::now();
    let mut delivered = r.count(&ch).await?.saturating_sub(before);
    let mut last_change = Instant::now();
    while delivered < emitted && emit_end.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let d = r.count(&ch).await?.saturating_sub(before);
        if d != delivered {
            delivered = d;
            last_change = Instant::now();
        } else if last_change.elapsed() > Duration::from_secs(1) {
            break;
        }
    }
    let server_cpu = cpu.per_op(delivered)["server_cpu_us_per_op"].clone();
    let client_cpu = cpu.per_op(emitted)["client_cpu_us_per_op"].clone();
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
        "server_cpu_us_per_op": server_cpu, "client_cpu_us_per_op": client_cpu,
    }) {
        line.extend(f);
    }
    println!("{}", Value::Object(line));
    Ok(())
}
