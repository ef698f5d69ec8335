//! The ADR-32 request path against its floor, in one process on the NATS server at
//! `NATS_URL` (default 127.0.0.1:4222):
//!
//! - floor: a bare async-nats responder echoing the body (what any NATS request costs);
//! - micro: the same request to an endpoint exposed by `broker_nats::micro`, which runs an
//!   echo action through `broker.call` (middlewares, timeouts, stats) and replies.
//!
//! For 1 and 64 requests in flight and a 32 B and 1 KB body: 3 runs of 3 s each, the median
//! requests per second, and the CPU time of the process (requester and responder both) per
//! request. `cargo bench -p broker-nats --bench micro`; `BENCH_SECS` changes the run length.

use broker_core::{ActionDef, Broker, ServiceSchema};
use broker_nats::micro::{self, MicroOptions};
use bytes::Bytes;
use futures_util::StreamExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The process's user + system CPU time, from /proc/self/stat (clock ticks of 10 ms).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may contain spaces.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

struct Sample {
    rps: f64,
    cpu_us_per_req: f64,
}

async fn run(
    client: &async_nats::Client,
    subject: &str,
    body: Bytes,
    in_flight: usize,
    secs: f64,
) -> Sample {
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let cpu0 = cpu_time();
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..in_flight {
        let (client, subject, body) = (client.clone(), subject.to_owned(), body.clone());
        let (done, stop) = (done.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match client.request(subject.clone(), body.clone()).await {
                    Ok(reply) if reply.headers.is_none() => {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(reply) => panic!("error reply: {:?}", reply.headers),
                    Err(err) => panic!("request failed: {err}"),
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = tokio::time::timeout(Duration::from_secs(10), w).await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = (cpu_time() - cpu0).as_secs_f64();
    let n = done.load(Ordering::Relaxed) as f64;
    Sample {
        rps: n / elapsed,
        cpu_us_per_req: cpu * 1e6 / n.max(1.0),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench());
}

async fn bench() {
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
    let secs: f64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let id = uuid::Uuid::new_v4().simple().to_string();

    // The floor: a bare responder on its own connection.
    let responder = async_nats::connect(&url).await.expect("NATS");
    let floor_subject = format!("benchfloor{id}.echo");
    let mut sub = responder
        .subscribe(floor_subject.clone())
        .await
        .expect("subscribe");
    let replier = responder.clone();
    tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            if let Some(reply) = msg.reply {
                let _ = replier.publish(reply, msg.payload).await;
            }
        }
    });
    responder.flush().await.expect("flush");

    // The ADR-32 path: an echo action exposed on its own connection.
    let name = format!("benchmicro{id}");
    let broker = Broker::builder().node_id(format!("bench-{id}")).build();
    broker
        .add_service(
            ServiceSchema::new(name.as_str())
                .action(ActionDef::from_payload("echo", |ctx| async move {
                    Ok(ctx.params_raw().to_owned())
                })),
        )
        .await
        .expect("service");
    broker.start().await.expect("start");
    let exposed = micro::expose_at(&broker, &url, MicroOptions::default())
        .await
        .expect("expose");
    let micro_subject = format!("{name}.echo");

    let requester = async_nats::connect(&url).await.expect("NATS");
    let small = Bytes::from(r#"{"a":1,"b":2,"text":"hello"}  "#.trim_end().to_owned());
    let kilo = Bytes::from(format!(r#"{{"text":"{}"}}"#, "x".repeat(1012)));
    println!("| body | in flight | floor req/s | micro req/s | micro / floor | floor CPU µs/req | micro CPU µs/req |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for (label, body) in [("32 B", &small), ("1 KB", &kilo)] {
        for in_flight in [1usize, 64] {
            // Warm-up.
            run(&requester, &micro_subject, body.clone(), in_flight, 0.5).await;
            let (mut f_rps, mut f_cpu, mut m_rps, mut m_cpu) = (vec![], vec![], vec![], vec![]);
            for _ in 0..3 {
                let f = run(&requester, &floor_subject, body.clone(), in_flight, secs).await;
                let m = run(&requester, &micro_subject, body.clone(), in_flight, secs).await;
                f_rps.push(f.rps);
                f_cpu.push(f.cpu_us_per_req);
                m_rps.push(m.rps);
                m_cpu.push(m.cpu_us_per_req);
            }
            let (f, m) = (median(f_rps), median(m_rps));
            println!(
                "| {label} | {in_flight} | {f:.0} | {m:.0} | {:.0} % | {:.1} | {:.1} |",
                m / f * 100.0,
                median(f_cpu),
                median(m_cpu)
            );
        }
    }
    exposed.stop().await;
    broker.stop().await.expect("stop");
}
