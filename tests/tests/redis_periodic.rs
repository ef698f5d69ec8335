//! Cluster-once scheduled tasks on the real Redis: three nodes run each tick of a task exactly
//! once, and a node SIGKILLed in the middle of a run loses no tick past the lock's TTL (another
//! node takes it over) and makes none run twice.
//!
//! The killed nodes are child processes: this test binary re-run with only the ignored test
//! `periodic_child_entry`, configured through an environment variable.

use broker_core::periodic::TaskContext;
use broker_core::{service, ActionDef, Broker, Context, Error, ServiceSchema};
use broker_redis::RedisTransporter;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::io::BufRead;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const CHILD_ENV: &str = "PERIODIC_CHILD_NODE";
const READY: &str = "PERIODIC-CHILD-READY";
/// The task's period in milliseconds (`every = "200ms"` below).
const PERIOD: u64 = 200;

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

fn unique(prefix: &str) -> String {
    let h = std::collections::hash_map::RandomState::new().build_hasher();
    format!(
        "{prefix}-{}-{:06x}",
        std::process::id(),
        h.finish() & 0xff_ffff
    )
}

fn node(namespace: &str, id: &str) -> Broker {
    Broker::builder()
        .node_id(id)
        .namespace(namespace)
        .transporter(RedisTransporter::new(&redis_url()).expect("redis url"))
        .heartbeat_interval(Duration::from_secs(1))
        .heartbeat_timeout(Duration::from_secs(3))
        .stop_delay(Duration::ZERO)
        .shutdown_timeout(Duration::from_secs(1))
        .request_timeout(Duration::from_secs(5))
        .build()
}

/// Deletes the task's fencing counter (the only key a run leaves behind for good).
async fn forget_fence(namespace: &str, service_task: &str) {
    if let Ok(client) = redis::Client::open(redis_url()) {
        if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
            let key = format!("MOL-TASK:{{{namespace}:{service_task}}}:fence");
            let _: Result<i64, _> = redis::cmd("DEL").arg(key).query_async(&mut conn).await;
        }
    }
}

type Runs = Arc<Mutex<Vec<(u64, String)>>>;

struct Ticker {
    runs: Runs,
    node: String,
}

#[service(name = "ticker")]
impl Ticker {
    #[periodic(every = "200ms", once = "cluster", lock_ttl = "2s")]
    async fn beat(&self, ctx: TaskContext) -> Result<(), Error> {
        self.runs
            .lock()
            .map_err(|_| Error::new("Poisoned", "runs"))?
            .push((ctx.scheduled_ms(), self.node.clone()));
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_run_each_tick_once_over_a_minute_of_ticks() {
    let namespace = unique("periodic-once");
    let runs: Runs = Arc::default();
    let mut brokers = Vec::new();
    for id in ["n1", "n2", "n3"] {
        let broker = node(&namespace, id);
        broker
            .add_service(Ticker {
                runs: runs.clone(),
                node: id.to_owned(),
            })
            .await
            .expect("add");
        tokio::time::timeout(Duration::from_secs(10), broker.start())
            .await
            .expect("start is bounded")
            .expect("start");
        brokers.push(broker);
    }
    let from = now_ms();
    // 60 ticks of 200 ms: a minute of ticks of a once-a-second task, in 12 s.
    tokio::time::sleep(Duration::from_millis(60 * PERIOD + 100)).await;
    let until = now_ms();
    for broker in &brokers {
        broker.stop().await.expect("stop");
    }
    forget_fence(&namespace, "ticker.beat").await;
    let runs = runs.lock().expect("runs").clone();
    let mut per_tick: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for (tick, node) in runs {
        per_tick.entry(tick).or_default().push(node);
    }
    // Every tick after all three started, up to the stop: once each, none missing.
    let first = (from / PERIOD + 1) * PERIOD;
    let last = (until / PERIOD) * PERIOD - PERIOD;
    let mut nodes_seen = std::collections::BTreeSet::new();
    let mut tick = first;
    let mut count = 0;
    while tick <= last {
        let ran = per_tick.get(&tick).cloned().unwrap_or_default();
        assert_eq!(ran.len(), 1, "tick {tick} ran on {ran:?}");
        nodes_seen.extend(ran);
        tick += PERIOD;
        count += 1;
    }
    assert!(count >= 58, "{count} ticks checked");
    for (tick, nodes) in &per_tick {
        assert_eq!(nodes.len(), 1, "tick {tick} ran on {nodes:?}");
    }
    assert!(nodes_seen.len() >= 2, "the ticks went to {nodes_seen:?}");
}

/// One record of a child's run, as the parent's `recorder.record` gets it.
#[derive(Debug, Clone)]
struct Record {
    tick: u64,
    node: String,
    phase: String,
    at: Instant,
}

fn recorder(records: Arc<Mutex<Vec<Record>>>) -> ServiceSchema {
    ServiceSchema::new("recorder").action(ActionDef::new("record", move |ctx: Context| {
        let records = records.clone();
        async move {
            let p = ctx.params();
            let record = Record {
                tick: p["tick"].as_u64().unwrap_or(0),
                node: p["node"].as_str().unwrap_or_default().to_owned(),
                phase: p["phase"].as_str().unwrap_or_default().to_owned(),
                at: Instant::now(),
            };
            records
                .lock()
                .map_err(|_| Error::new("Poisoned", "records"))?
                .push(record);
            Ok(json!(true))
        }
    }))
}

/// The task of the child nodes: records its start and end with the parent; on the node named
/// `victim` a run lasts 3 s, long enough to be killed in the middle of it.
struct Worker {
    node: String,
}

#[service(name = "worker")]
impl Worker {
    #[periodic(every = "200ms", once = "cluster", lock_ttl = "1s")]
    async fn beat(&self, ctx: TaskContext) -> Result<(), Error> {
        let record =
            |phase: &str| json!({"tick": ctx.scheduled_ms(), "node": self.node, "phase": phase});
        let _: Value = ctx.call("recorder.record", record("start")).await?;
        let long = self.node.ends_with("victim");
        tokio::time::sleep(Duration::from_millis(if long { 3_000 } else { 30 })).await;
        let _: Value = ctx.call("recorder.record", record("end")).await?;
        Ok(())
    }
}

#[test]
#[ignore = "the body of a child process of `a_node_killed_mid_run_loses_no_tick_and_none_runs_twice`"]
fn periodic_child_entry() {
    let Ok(raw) = std::env::var(CHILD_ENV) else {
        return;
    };
    let cfg: Value = serde_json::from_str(&raw).expect("child config");
    let namespace = cfg["namespace"].as_str().unwrap_or_default().to_owned();
    let node_id = cfg["nodeID"].as_str().unwrap_or_default().to_owned();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("child runtime");
    rt.block_on(async move {
        let broker = node(&namespace, &node_id);
        broker
            .add_service(Worker {
                node: node_id.clone(),
            })
            .await
            .expect("worker");
        broker.start().await.expect("child broker starts");
        broker
            .wait_for_services(&["recorder"], Duration::from_secs(10))
            .await
            .expect("recorder seen");
        println!("{READY}");
        // Live until the parent closes stdin (or SIGKILL).
        let _ = tokio::task::spawn_blocking(|| {
            for line in std::io::stdin().lock().lines() {
                if line.is_err() {
                    break;
                }
            }
        })
        .await;
        let _ = broker.stop().await;
    });
    std::process::exit(0);
}

async fn start_child(namespace: &str, node_id: &str) -> Child {
    let cfg = json!({"namespace": namespace, "nodeID": node_id});
    let exe = std::env::current_exe().expect("current test binary");
    let mut child = Command::new(exe)
        .args([
            "periodic_child_entry",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .args(["--test-threads=1"])
        .env(CHILD_ENV, cfg.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn a child node");
    let stdout = child.stdout.take().expect("child stdout");
    let mut lines = BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains(READY) {
                return true;
            }
        }
        false
    })
    .await;
    assert!(
        matches!(ready, Ok(true)),
        "child node {node_id} did not start"
    );
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_run_loses_no_tick_and_none_runs_twice() {
    let namespace = unique("periodic-kill");
    let records: Arc<Mutex<Vec<Record>>> = Arc::default();
    let parent = node(&namespace, "recorder-node");
    parent
        .add_service(recorder(records.clone()))
        .await
        .expect("recorder");
    parent.start().await.expect("start");
    let mut a = start_child(&namespace, "worker-a").await;
    let mut b = start_child(&namespace, "worker-b").await;
    let mut victim = start_child(&namespace, "worker-victim").await;
    let armed = Instant::now();
    let window_from = now_ms();
    // Kill the victim as soon as it starts a run (it runs 3 s, so this is mid-run).
    let victim_start = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let found = records
                .lock()
                .expect("records")
                .iter()
                .find(|r| r.node == "worker-victim" && r.phase == "start" && r.at > armed)
                .cloned();
            if let Some(record) = found {
                return record;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the victim won a tick");
    victim.start_kill().expect("SIGKILL the victim");
    let killed_at = Instant::now();
    let _ = tokio::time::timeout(Duration::from_secs(5), victim.wait()).await;
    // The lock's TTL is 1 s: the tick is taken over within it (plus a poll and the call).
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    let window_until = now_ms();
    // A graceful end: closing stdin stops the children.
    drop(a.stdin.take());
    drop(b.stdin.take());
    for child in [&mut a, &mut b] {
        let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    }
    parent.stop().await.expect("stop");
    forget_fence(&namespace, "worker.beat").await;

    let records = records.lock().expect("records").clone();
    let mut starts: BTreeMap<u64, Vec<&Record>> = BTreeMap::new();
    let mut ends: BTreeMap<u64, Vec<&Record>> = BTreeMap::new();
    for r in &records {
        let map = if r.phase == "start" {
            &mut starts
        } else {
            &mut ends
        };
        map.entry(r.tick).or_default().push(r);
    }
    // The killed tick: started by the victim, then taken over and finished by another node,
    // within the TTL (1 s) plus a poll and a round trip.
    let killed = victim_start.tick;
    let takeover = starts
        .get(&killed)
        .and_then(|s| s.iter().find(|r| r.node != "worker-victim"))
        .unwrap_or_else(|| panic!("tick {killed} was not taken over: {records:?}"));
    let delay = takeover.at.duration_since(killed_at);
    eprintln!("tick {killed} taken over {delay:?} after the SIGKILL");
    assert!(
        delay < Duration::from_millis(2_000),
        "taken over after {delay:?}"
    );
    let finished = ends.get(&killed).map(Vec::len).unwrap_or(0);
    assert_eq!(
        finished,
        1,
        "the killed tick finished once: {:?}",
        ends.get(&killed)
    );
    // Every tick from the victim's start to the end of the window: started once (twice for
    // the killed one), finished once; no tick lost.
    let first = (window_from / PERIOD + 1) * PERIOD;
    let last = window_until / PERIOD * PERIOD - 2 * PERIOD;
    let mut tick = first;
    let mut checked = 0;
    while tick <= last {
        let started = starts.get(&tick).map(Vec::len).unwrap_or(0);
        let expected = if tick == killed { 2 } else { 1 };
        assert_eq!(started, expected, "tick {tick}: {:?}", starts.get(&tick));
        let done = ends.get(&tick).map(Vec::len).unwrap_or(0);
        assert_eq!(done, 1, "tick {tick} finished {done} times");
        tick += PERIOD;
        checked += 1;
    }
    assert!(checked >= 15, "{checked} ticks checked");
    assert!(
        ends.range(first..)
            .flat_map(|(_, e)| e)
            .all(|r| r.node != "worker-victim"),
        "the victim finished nothing after it was armed"
    );
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
