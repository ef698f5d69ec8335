//! SIGINT and SIGTERM stop the `broker` process as Moleculer's runner does: the node says
//! goodbye (DISCONNECT), so a peer drops it at once instead of after the heartbeat timeout
//! (30 s), even in the middle of a long call or a `bench`. Over Redis (`REDIS_URL`, default
//! `redis://127.0.0.1:6379`), each test in its own namespace.

mod common;

use common::peer::{peer, redis_url, Peer};
use common::{send_signal, spawn_broker};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;

/// How long the CLI may take to leave after the signal.
const EXIT_LIMIT: Duration = Duration::from_secs(5);
/// How soon the peer must see the CLI node gone: far below the 30 s heartbeat timeout.
const LEAVE_LIMIT: Duration = Duration::from_secs(1);

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
