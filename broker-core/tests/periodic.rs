//! Scheduled tasks on in-process brokers (the memory transporter and its in-process cluster
//! lock): schedules, overlap policies, cluster-once ticks, manual runs, `$node.tasks`, stop.

use broker_core::periodic::{Overlap, RunOn, Schedule, TaskContext, TaskDef};
use broker_core::{service, Broker, Error, MemoryBus, MemoryTransporter, ServiceSchema};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Runs = Arc<Mutex<Vec<(u64, String)>>>;

fn node(bus: &Arc<MemoryBus>, id: &str) -> Broker {
    Broker::builder()
        .node_id(id)
        .namespace("periodic")
        .transporter(MemoryTransporter::on_bus(bus.clone()))
        .stop_delay(Duration::ZERO)
        .shutdown_timeout(Duration::from_millis(300))
        .build()
}

struct Ticker {
    runs: Runs,
    node: String,
}

#[service(name = "ticker")]
impl Ticker {
    /// Each tick once across the cluster.
    #[periodic(every = "50ms", once = "cluster", lock_ttl = "1s")]
    async fn once(&self, ctx: TaskContext) -> Result<(), Error> {
        assert!(ctx.fencing_token().is_some());
        self.runs
            .lock()
            .map_err(|_| Error::new("Poisoned", "runs"))?
            .push((ctx.scheduled_ms(), self.node.clone()));
        tokio::time::sleep(Duration::from_millis(5)).await;
        Ok(())
    }
}

#[tokio::test]
async fn a_cluster_once_task_runs_each_tick_on_one_node() {
    let bus = MemoryBus::new();
    let runs: Runs = Arc::default();
    let mut brokers = Vec::new();
    for id in ["a", "b", "c"] {
        let broker = node(&bus, id);
        broker
            .add_service(Ticker {
                runs: runs.clone(),
                node: id.to_owned(),
            })
            .await
            .expect("add");
        broker.start().await.expect("start");
        brokers.push(broker);
    }
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    for broker in &brokers {
        broker.stop().await.expect("stop");
    }
    let runs = runs.lock().expect("runs").clone();
    let mut per_tick: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for (tick, node) in &runs {
        assert_eq!(tick % 50, 0, "ticks are on the 50 ms grid");
        per_tick.entry(*tick).or_default().push(node.clone());
    }
    assert!(per_tick.len() >= 15, "{} ticks ran", per_tick.len());
    for (tick, nodes) in &per_tick {
        assert_eq!(nodes.len(), 1, "tick {tick} ran on {nodes:?}");
    }
    // Consecutive ticks: none skipped between the first and the last.
    let ticks: Vec<u64> = per_tick.keys().copied().collect();
    for pair in ticks.windows(2) {
        assert_eq!(pair[1] - pair[0], 50, "tick missing between {pair:?}");
    }
}

/// A service built by hand with one task per overlap policy, each run taking 3 periods.
fn overlapping(
    active: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    overlap: Overlap,
) -> ServiceSchema {
    let task = TaskDef::new(
        "slow",
        Schedule::every(Duration::from_millis(40)).expect("period"),
        move |_ctx| {
            let (active, peak) = (active.clone(), peak.clone());
            async move {
                let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(120)).await;
                active.fetch_sub(1, Ordering::SeqCst);
                Ok(())
            }
        },
    )
    .overlap(overlap);
    ServiceSchema::new(format!("slow-{overlap}")).task(task)
}

#[tokio::test]
async fn overlap_skip_queue_and_concurrent() {
    let broker = Broker::builder().node_id("overlap").build();
    let mut probes = Vec::new();
    for overlap in [Overlap::Skip, Overlap::Queue, Overlap::Concurrent] {
        let (active, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        broker
            .add_service(overlapping(active.clone(), peak.clone(), overlap))
            .await
            .expect("add");
        probes.push((overlap, peak));
    }
    broker.start().await.expect("start");
    tokio::time::sleep(Duration::from_millis(700)).await;
    let tasks = broker.scheduled_tasks();
    broker.stop().await.expect("stop");
    let info = |overlap: Overlap| {
        tasks
            .iter()
            .find(|t| t.name == format!("slow-{overlap}.slow"))
            .cloned()
            .expect("listed")
    };
    for (overlap, peak) in &probes {
        let peak = peak.load(Ordering::SeqCst);
        match overlap {
            Overlap::Skip | Overlap::Queue => assert_eq!(peak, 1, "{overlap}: runs never overlap"),
            Overlap::Concurrent => assert!(peak >= 2, "concurrent runs overlap, peak {peak}"),
        }
    }
    let skip = info(Overlap::Skip);
    assert!(skip.skipped >= 5, "skip skipped {} ticks", skip.skipped);
    assert!(skip.runs >= 3, "skip ran {}", skip.runs);
    // Queue runs back to back: about 700/120 runs, none skipped (the queue is not full yet).
    let queue = info(Overlap::Queue);
    assert_eq!(queue.skipped, 0);
    assert!(queue.runs >= 4, "queue ran {}", queue.runs);
    assert_eq!(queue.overlap, "queue");
    assert_eq!(queue.schedule, "every 40ms");
}

struct Failing {
    seen: Arc<Mutex<Vec<TaskContext>>>,
}

#[service(name = "failing", version = 2)]
impl Failing {
    #[periodic(cron = "@yearly", name = "audit")]
    async fn yearly(&self, ctx: TaskContext) -> Result<(), Error> {
        let manual = ctx.is_manual();
        self.seen
            .lock()
            .map_err(|_| Error::new("Poisoned", "seen"))?
            .push(ctx);
        if manual {
            Err(Error::new("AuditError", "the ledger does not balance"))
        } else {
            Ok(())
        }
    }

    #[periodic(every = "1h")]
    async fn hourly(&self) {}
}

#[tokio::test]
async fn tasks_are_listed_run_by_hand_and_seen_from_other_nodes() {
    let bus = MemoryBus::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let owner = node(&bus, "owner");
    owner
        .add_service(Failing { seen: seen.clone() })
        .await
        .expect("add");
    owner.start().await.expect("start");
    let other = node(&bus, "other");
    other.start().await.expect("start");
    other
        .wait_for_services(&["v2.failing"], Duration::from_secs(5))
        .await
        .expect("seen");

    let tasks = owner.scheduled_tasks();
    assert_eq!(tasks.len(), 2);
    let audit = tasks
        .iter()
        .find(|t| t.name == "v2.failing.audit")
        .expect("audit");
    assert_eq!(audit.schedule, "cron @yearly");
    assert_eq!(audit.once, "node");
    assert_eq!(audit.service, "v2.failing");
    let next = audit.next_run_ms.expect("next run");
    assert!(audit
        .next_run
        .as_deref()
        .is_some_and(|t| t.ends_with("-01-01T00:00:00.000Z")));
    assert_eq!(next % 1000, 0);

    // By hand: the error comes back, and is kept for the listing.
    let err = owner.run_task("v2.failing.audit").await.expect_err("fails");
    assert_eq!(err.name(), "AuditError");
    let err = owner
        .run_task("v2.failing.nope")
        .await
        .expect_err("unknown");
    assert_eq!(err.code(), 404);
    assert_eq!(err.error_type(), Some("TASK_NOT_FOUND"));
    {
        let seen = seen.lock().expect("seen");
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].task(), "v2.failing.audit");
        assert!(seen[0].is_manual());
        assert_eq!(seen[0].fencing_token(), None);
        assert_eq!(seen[0].node_id(), "owner");
    }

    // Another node sees them through `$node.tasks`, and runs one through `$node.runTask`.
    let listed: Value = other
        .call_with(
            "$node.tasks",
            json!({}),
            broker_core::CallOptions::new().node_id("owner"),
        )
        .await
        .expect("$node.tasks");
    let audit = listed
        .as_array()
        .and_then(|l| l.iter().find(|t| t["name"] == "v2.failing.audit"))
        .expect("listed remotely")
        .clone();
    assert_eq!(audit["nodeID"], "owner");
    assert_eq!(audit["runs"], 1);
    assert_eq!(
        audit["lastError"],
        "AuditError: the ledger does not balance"
    );
    assert!(audit["nextRun"].is_string());
    let ran: Value = other
        .call_with(
            "$node.runTask",
            json!({"name": "v2.failing.hourly"}),
            broker_core::CallOptions::new().node_id("owner"),
        )
        .await
        .expect("run remotely");
    assert_eq!(ran, json!({"task": "v2.failing.hourly", "nodeID": "owner"}));

    other.stop().await.expect("stop");
    owner.stop().await.expect("stop");
    assert!(owner.scheduled_tasks().iter().all(|t| t.next_run.is_none()));
}

struct Stuck {
    started: Arc<AtomicUsize>,
    runs: Runs,
    node: String,
}

#[service(name = "stuck")]
impl Stuck {
    /// The first run (on whichever node) never ends by itself.
    #[periodic(every = "100ms", once = "cluster", lock_ttl = "2s")]
    async fn hang(&self, ctx: TaskContext) -> Result<(), Error> {
        let first = self.started.fetch_add(1, Ordering::SeqCst) == 0;
        self.runs
            .lock()
            .map_err(|_| Error::new("Poisoned", "runs"))?
            .push((ctx.scheduled_ms(), self.node.clone()));
        if first {
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

#[tokio::test]
async fn stop_cancels_a_run_and_frees_its_tick_for_another_node() {
    let bus = MemoryBus::new();
    let started = Arc::new(AtomicUsize::new(0));
    let runs: Runs = Arc::default();
    let mut brokers = BTreeMap::new();
    for id in ["a", "b"] {
        let broker = node(&bus, id);
        broker
            .add_service(Stuck {
                started: started.clone(),
                runs: runs.clone(),
                node: id.into(),
            })
            .await
            .expect("add");
        broker.start().await.expect("start");
        brokers.insert(id.to_owned(), broker);
    }
    // Whichever node takes the first tick hangs in it; the other watches that tick.
    let wait = tokio::time::timeout(Duration::from_secs(3), async {
        while started.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    wait.await.expect("a first run");
    let (hung_tick, holder) = runs.lock().expect("runs")[0].clone();
    let other = if holder == "a" { "b" } else { "a" };
    // The stop gives the run the shutdown timeout (300 ms), then cancels it, within bounds.
    let stopping = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(5), brokers[&holder].stop())
        .await
        .expect("stop is bounded")
        .expect("stop");
    assert!(
        stopping.elapsed() < Duration::from_secs(2),
        "{:?}",
        stopping.elapsed()
    );
    // The cancelled run freed its lock at once (not after its 2 s TTL): the other node runs it.
    let taken = tokio::time::timeout(Duration::from_millis(1_500), async {
        loop {
            if runs
                .lock()
                .expect("runs")
                .iter()
                .any(|(tick, node)| *tick == hung_tick && node == other)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    taken
        .await
        .expect("the other node took over the cancelled tick");
    brokers[other].stop().await.expect("stop");
    let runs = runs.lock().expect("runs").clone();
    assert_eq!(
        runs.iter().filter(|(_, node)| *node == holder).count(),
        1,
        "the stopped node ran nothing after its hung run: {runs:?}"
    );
    let mut ticks: Vec<u64> = runs.iter().map(|(t, _)| *t).collect();
    let all = ticks.len();
    ticks.sort_unstable();
    ticks.dedup();
    assert_eq!(
        ticks.len() + 1,
        all,
        "only the cancelled tick ran twice: {runs:?}"
    );
}

#[tokio::test]
async fn a_local_only_broker_is_a_cluster_of_one() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let task = TaskDef::new(
        "tick",
        Schedule::every(Duration::from_millis(20)).expect("period"),
        move |_ctx| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        },
    )
    .run_on(RunOn::Cluster);
    let broker = Broker::builder().node_id("alone").build();
    broker
        .add_service(ServiceSchema::new("solo").task(task))
        .await
        .expect("add");
    broker.start().await.expect("start");
    tokio::time::sleep(Duration::from_millis(200)).await;
    broker.stop().await.expect("stop");
    assert!(runs.load(Ordering::SeqCst) >= 4);
    assert_eq!(broker.scheduled_tasks()[0].once, "cluster");
}
