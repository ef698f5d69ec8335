//! One soak run of one implementation: the nodes started before Redis (the start phase), then
//! the load under the fault schedule, then the execution logs collected.

use crate::cluster::{Lang, Node, NodeEnv, Redis, Resources};
use crate::load::Load;
use crate::report::{self, RunReport};
use crate::schedule::{self, Fault};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Worker nodes per run.
pub(crate) const NODES: usize = 5;
/// How long the nodes wait for Redis in the start phase.
const REDIS_LATE: Duration = Duration::from_secs(3);

/// What a run is asked to do.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) duration: Duration,
    pub(crate) rate: f64,
    pub(crate) event_rate: f64,
    pub(crate) hb_interval: Duration,
    pub(crate) hb_timeout: Duration,
}

/// Runs the soak with `lang` worker nodes (for Rust, the last node is a Moleculer.js one: the
/// mixed cluster of the issue).
pub(crate) async fn run(lang: Lang, settings: &Settings) -> Result<RunReport, String> {
    let dir = std::env::temp_dir().join(format!(
        "soak-{}-{}",
        std::process::id(),
        format!("{lang:?}").to_lowercase()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut redis = Redis::new()?;
    let env = NodeEnv {
        namespace: format!("soak-{}-{lang:?}", std::process::id()),
        transporter: redis.url(),
        dir: dir.clone(),
        hb_interval: settings.hb_interval,
        hb_timeout: settings.hb_timeout,
    };
    let mut nodes: Vec<Node> = (1..=NODES)
        .map(|i| {
            let node_lang = if i == NODES { Lang::Js } else { lang };
            let tag = match node_lang {
                Lang::Rust => "rs",
                Lang::Js => "js",
            };
            Node::new(format!("{tag}-{i}"), node_lang, env.clone())
        })
        .collect();
    let t0 = Instant::now();
    let load = Arc::new(Load::new(
        &redis.url(),
        &env.namespace,
        settings.hb_interval,
        settings.hb_timeout,
        t0,
    )?);

    // Start phase: every node (and the load's broker) starts before Redis is up.
    for node in &mut nodes {
        node.spawn()?;
    }
    let starting = {
        let load = load.clone();
        tokio::spawn(async move { load.start().await })
    };
    tokio::time::sleep(REDIS_LATE).await;
    redis.up().await?;
    let redis_up_ms = load.now_ms();
    match tokio::time::timeout(Duration::from_secs(30), starting).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => return Err(format!("the load's broker did not start: {e}")),
        _ => return Err("the load's broker did not start within 30 s of Redis".to_owned()),
    }
    let first: Vec<Option<f64>> = futures_util::future::join_all(
        nodes
            .iter()
            .map(|n| load.first_answer(&n.id, Duration::from_secs(60))),
    )
    .await;
    let start_phase: Vec<(String, Option<f64>)> = nodes
        .iter()
        .zip(first)
        .map(|(n, t)| (n.id.clone(), t.map(|t| t - redis_up_ms)))
        .collect();
    let resources_start: Vec<Option<Resources>> = nodes.iter().map(Node::resources).collect();

    // The soak: steady load while the schedule runs.
    let faults = Fault::schedule(settings.hb_timeout);
    let gap = Fault::gap(&faults, settings.duration);
    let main_start_ms = load.now_ms();
    // The last fault gets its quiet gap too, even when the minimum gaps overrun the duration.
    let until = Instant::now() + settings.duration.max(Fault::span(&faults, gap));
    let loading = {
        let load = load.clone();
        let (rate, event_rate) = (settings.rate, settings.event_rate);
        tokio::spawn(async move { load.run(rate, event_rate, until).await })
    };
    let rss_samples = Arc::new(Mutex::new(vec![Vec::new(); nodes.len()]));
    let sampling = {
        let cells: Vec<_> = nodes.iter().map(Node::pid_cell).collect();
        let (load, samples) = (load.clone(), rss_samples.clone());
        tokio::spawn(async move { sample_rss(cells, &load, &samples).await })
    };
    let fault_records = schedule::run(&faults, gap, &mut redis, &mut nodes, &load).await;
    let _ = loading.await;
    sampling.abort();
    let main_end_ms = load.now_ms();
    // Late events still on their way to a handler.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let resources_end: Vec<Option<Resources>> = nodes.iter().map(Node::resources).collect();

    let stopping_ms = load.now_ms();
    for node in &mut nodes {
        node.stop().await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), load.broker.stop()).await;
    redis.down().await;
    let fault_records = fault_records?;

    let executions = read_logs(&nodes)?;
    let calls = load.calls.lock().map(|c| c.clone()).unwrap_or_default();
    let emits = load.emits.lock().map(|e| e.clone()).unwrap_or_default();
    // The graceful stop at the end makes every node leave: not a fault's doing.
    let node_events = load
        .node_events
        .lock()
        .map(|e| e.iter().filter(|e| e.t_ms < stopping_ms).cloned().collect())
        .unwrap_or_default();
    let rss_samples = rss_samples.lock().map(|s| s.clone()).unwrap_or_default();
    eprintln!(
        "soak: the nodes' execution logs and stderr are in {}",
        dir.display()
    );
    Ok(report::analyse(report::Inputs {
        lang,
        settings,
        nodes: &nodes,
        main_ms: (main_start_ms, main_end_ms),
        start_phase,
        resources_start,
        resources_end,
        calls,
        emits,
        node_events,
        faults: fault_records,
        executions,
        rss_samples,
    }))
}

/// Every 5 s, each node's RSS in KiB (ms since the run's start, KiB), into `samples`.
async fn sample_rss(
    cells: Vec<Arc<AtomicU32>>,
    load: &Load,
    samples: &Mutex<Vec<Vec<(f64, u64)>>>,
) {
    loop {
        for (i, cell) in cells.iter().enumerate() {
            let pid = cell.load(Ordering::Relaxed);
            let Some(r) = (pid != 0).then(|| Resources::of(pid)).flatten() else {
                continue;
            };
            if let Ok(mut samples) = samples.lock() {
                samples[i].push((load.now_ms().round(), r.rss_kib));
            }
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

/// Executions per ID, of calls and of events, from every node's log.
pub(crate) struct Executions {
    pub(crate) calls: HashMap<u64, u32>,
    pub(crate) events: HashMap<u64, u32>,
}

fn read_logs(nodes: &[Node]) -> Result<Executions, String> {
    let mut ex = Executions {
        calls: HashMap::new(),
        events: HashMap::new(),
    };
    for node in nodes {
        read_log(&node.log_path(), &mut ex)?;
    }
    Ok(ex)
}

fn read_log(path: &Path, ex: &mut Executions) -> Result<(), String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        // A node that never ran a handler has no log.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    for line in text.lines() {
        let mut parts = line.split(' ');
        let (Some(kind), Some(Ok(id))) = (parts.next(), parts.next().map(str::parse::<u64>)) else {
            continue;
        };
        let map = if kind == "e" {
            &mut ex.events
        } else {
            &mut ex.calls
        };
        *map.entry(id).or_insert(0) += 1;
    }
    Ok(())
}
