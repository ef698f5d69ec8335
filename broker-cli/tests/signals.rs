//! SIGINT and SIGTERM stop the `broker` process as Moleculer's runner does: the node says
//! goodbye (DISCONNECT), so a peer drops it at once instead of after the heartbeat timeout
//! (30 s), even in the middle of a long call or a `bench`. Over Redis (`REDIS_URL`, default
//! `redis://127.0.0.1:6379`), each test in its own namespace.

mod common;

use broker_core::{ActionDef, Broker, Context, ProtocolVersion, ServiceSchema};
use broker_redis::RedisTransporter;
use common::{send_signal, spawn_broker};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// How long the CLI may take to leave after the signal.
const EXIT_LIMIT: Duration = Duration::from_secs(5);
/// How soon the peer must see the CLI node gone: far below the 30 s heartbeat timeout.
const LEAVE_LIMIT: Duration = Duration::from_secs(1);

/// The peer: `slow.sleep` (a minute, recording that it started) and `math.add`.
struct Peer {
    broker: Broker,
    namespace: String,
    slow_started: Arc<AtomicBool>,
}

async fn peer(test: &str) -> Peer {
    let namespace = format!("cli-sig-{test}-{}", std::process::id());
    let transporter = match RedisTransporter::new(&redis_url()) {
        Ok(t) => t,
        Err(err) => panic!("{err}"),
    };
    let broker = Broker::builder()
        .node_id(format!("peer-{test}"))
        .namespace(namespace.clone())
        .protocol(ProtocolVersion::V5)
        .transporter(transporter)
        .build();
    let slow_started = Arc::new(AtomicBool::new(false));
    let started = slow_started.clone();
    let slow = ServiceSchema::new("slow").action(ActionDef::new("sleep", move |_ctx: Context| {
        let started = started.clone();
        async move {
            started.store(true, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(json!("woke up"))
        }
    }));
    let math =
        ServiceSchema::new("math").action(ActionDef::new("add", |ctx: Context| async move {
            let p = ctx.params();
            Ok(json!(
                p["a"].as_f64().unwrap_or(0.0) + p["b"].as_f64().unwrap_or(0.0)
            ))
        }));
    let start = async {
        broker.add_service(slow).await?;
        broker.add_service(math).await?;
        broker.start().await
    };
    match tokio::time::timeout(Duration::from_secs(15), start).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => panic!(
            "the peer did not start on {} (is Redis running?): {err}",
            redis_url()
        ),
        Err(_) => panic!("the peer did not start on {} within 15 s", redis_url()),
    }
    Peer {
        broker,
        namespace,
        slow_started,
    }
}

impl Peer {
    /// Whether the peer's registry has `node` as available.
    async fn sees(&self, node: &str) -> bool {
        let list: Value = self
            .broker
            .call("$node.list", json!({"onlyAvailable": false}))
            .await
            .unwrap_or(Value::Null);
        list.as_array().is_some_and(|nodes| {
            nodes
                .iter()
                .any(|n| n["id"] == json!(node) && n["available"] == json!(true))
        })
    }

    /// Waits (at most `limit`) until `check` holds of whether the peer sees `node`.
    async fn wait_until_sees(&self, node: &str, expected: bool, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.sees(node).await == expected {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }
}

/// Signals the CLI once it is busy, then checks that it leaves promptly with 128 + the signal
/// number and that the peer dropped it at once.
async fn interrupt_and_check(
    p: &Peer,
    child: &mut tokio::process::Child,
    node: &str,
    busy: impl std::future::Future<Output = bool>,
    signal: &str,
    code: i32,
) {
    assert!(
        p.wait_until_sees(node, true, Duration::from_secs(15)).await,
        "the peer never saw {node}"
    );
    assert!(busy.await, "{node} did not get busy");
    let Some(pid) = child.id() else {
        panic!("{node} is not running");
    };
    let signalled = Instant::now();
    send_signal(pid, signal);
    let left = p.wait_until_sees(node, false, LEAVE_LIMIT).await;
    let seen_leaving = signalled.elapsed();
    let status = tokio::time::timeout(EXIT_LIMIT, child.wait()).await;
    let exited = signalled.elapsed();
    let mut stderr = String::new();
    if let Some(mut err) = child.stderr.take() {
        use tokio::io::AsyncReadExt;
        let _ = tokio::time::timeout(Duration::from_secs(2), err.read_to_string(&mut stderr)).await;
    }
    assert!(
        left,
        "the peer still listed {node} {LEAVE_LIMIT:?} after SIG{signal}: {stderr}"
    );
    match status {
        Ok(Ok(status)) => assert_eq!(status.code(), Some(code), "{status:?}: {stderr}"),
        other => panic!("{node} did not exit within {EXIT_LIMIT:?} of SIG{signal}: {other:?}"),
    }
    eprintln!("SIG{signal}: peer saw {node} leave after {seen_leaving:?}, exit after {exited:?}");
}

#[tokio::test]
async fn sigint_during_a_long_call_says_goodbye_and_exits() {
    let p = peer("int-call").await;
    let url = redis_url();
    let node = "cli-int-call";
    let mut child = spawn_broker(
        &[
            "--transporter",
            &url,
            "--namespace",
            &p.namespace,
            "--protocol",
            "5",
            "--node-id",
            node,
            "call",
            "slow.sleep",
        ],
        &[],
    );
    let busy = async {
        for _ in 0..1500 {
            if p.slow_started.load(Ordering::SeqCst) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    };
    interrupt_and_check(&p, &mut child, node, busy, "INT", 130).await;
    let _ = p.broker.stop().await;
}

#[tokio::test]
async fn sigterm_during_a_repl_bench_says_goodbye_and_exits() {
    let p = peer("term-bench").await;
    let url = redis_url();
    let node = "cli-term-bench";
    let mut child = spawn_broker(
        &[
            "--transporter",
            &url,
            "--namespace",
            &p.namespace,
            "--protocol",
            "5",
            "--node-id",
            node,
            "repl",
        ],
        &[],
    );
    if let Some(stdin) = child.stdin.as_mut() {
        use tokio::io::AsyncWriteExt;
        let _ = stdin
            .write_all(b"bench math.add --time 60 --a 1 --b 2\n")
            .await;
        let _ = stdin.flush().await;
    }
    // Busy once the bench runs: the peer's registry has it and a moment has passed.
    let busy = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        true
    };
    interrupt_and_check(&p, &mut child, node, busy, "TERM", 143).await;
    let _ = p.broker.stop().await;
}

#[tokio::test]
async fn sigterm_during_a_one_shot_bench_says_goodbye_and_exits() {
    let p = peer("term-oneshot").await;
    let url = redis_url();
    let node = "cli-term-oneshot";
    let mut child = spawn_broker(
        &[
            "--transporter",
            &url,
            "--namespace",
            &p.namespace,
            "--node-id",
            node,
            "bench",
            "math.add",
            "--time",
            "60",
        ],
        &[],
    );
    let busy = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        true
    };
    interrupt_and_check(&p, &mut child, node, busy, "TERM", 143).await;
    let _ = p.broker.stop().await;
}
