//! Runs the scheduled tasks of a broker: one ticking loop per task, runs spawned as the task's
//! overlap policy says, the cluster lock taken around each tick of a cluster-once task, and a
//! bounded stop.

use super::lock::{Acquire, ClusterLock, LockKey};
use super::{Overlap, RunOn, TaskContext, TaskDef, DONE_RETENTION};
use crate::broker::{lock, Broker, BrokerInner};
use crate::context::Context;
use crate::error::Error;
use crate::packet::JsonMap;
use crate::service::ServiceSchema;
use serde::Serialize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Ticks that may wait behind a running one with [`Overlap::Queue`].
const QUEUE_CAPACITY: usize = 16;

/// How long a release or the end of cancelled runs may take at stop.
const STOP_BOUND: Duration = Duration::from_secs(5);

/// One scheduled task as [`Broker::scheduled_tasks`] and `$node.tasks` show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskInfo {
    /// `<service full name>.<task>`: what [`Broker::run_task`] takes.
    pub name: String,
    /// The service's full name.
    pub service: String,
    /// `every 5s` or `cron 0 */5 * * * *`.
    pub schedule: String,
    /// `node` (every node runs each tick) or `cluster` (one node of the cluster does).
    pub once: String,
    /// `skip`, `queue` or `concurrent`.
    pub overlap: String,
    /// The node it is scheduled on.
    #[serde(rename = "nodeID")]
    pub node_id: String,
    /// The next tick, RFC 3339 in UTC (`None` once the broker stopped or the schedule ended).
    pub next_run: Option<String>,
    /// The next tick in milliseconds since the Unix epoch.
    pub next_run_ms: Option<u64>,
    /// Runs going on this node now.
    pub running: usize,
    /// Runs finished on this node.
    pub runs: u64,
    /// Ticks this node skipped (overlap, a full queue, or too late to tell).
    pub skipped: u64,
    /// The scheduled time of the last run finished here, milliseconds since the Unix epoch.
    pub last_run_ms: Option<u64>,
    /// How long it took, in milliseconds.
    pub last_duration_ms: Option<u64>,
    /// Its error, if it failed.
    pub last_error: Option<String>,
}

#[derive(Default)]
struct Stats {
    next_ms: Option<u64>,
    runs: u64,
    skipped: u64,
    last_ms: Option<u64>,
    last_duration: Option<Duration>,
    last_error: Option<String>,
}

struct Task {
    def: TaskDef,
    /// The service's full name.
    service: String,
    /// `<service>.<task>`.
    name: Arc<str>,
    /// The lock of a cluster-once task (`None`: every node runs it, or the broker is alone).
    lock: Option<Arc<dyn ClusterLock>>,
    running: AtomicUsize,
    queue: Mutex<Option<mpsc::Sender<u64>>>,
    stats: Mutex<Stats>,
}

struct Running<'a>(&'a AtomicUsize);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The tasks of one broker.
pub(crate) struct Scheduler {
    tasks: Mutex<Vec<Arc<Task>>>,
    /// `true` once the broker stops: no more ticks, no more claims.
    stopping: watch::Sender<bool>,
    /// `true` once runs still going after the shutdown timeout must end.
    cancel: watch::Sender<bool>,
    handles: Mutex<Vec<JoinHandle<()>>>,
}

impl Default for Scheduler {
    fn default() -> Self {
        Scheduler {
            tasks: Mutex::new(Vec::new()),
            stopping: watch::channel(false).0,
            cancel: watch::channel(false).0,
            handles: Mutex::new(Vec::new()),
        }
    }
}

impl Scheduler {
    /// Starts the tasks of a service that has just started. A cluster-once task on a
    /// transporter without a cluster lock fails the start: it could not keep its promise.
    pub(crate) fn start(
        &self,
        broker: &Broker,
        schema: &ServiceSchema,
        full_name: &str,
    ) -> Result<(), Error> {
        if schema.tasks.is_empty() {
            return Ok(());
        }
        let config = broker.config();
        let cluster_lock = config
            .cluster_lock
            .clone()
            .or_else(|| config.transporter.as_ref().and_then(|t| t.cluster_lock()));
        let mut started = Vec::new();
        for def in &schema.tasks {
            let lock = match (def.run_on, &cluster_lock, &config.transporter) {
                (RunOn::EveryNode, _, _) => None,
                (RunOn::Cluster, Some(lock), _) => Some(lock.clone()),
                // A local-only broker is a cluster of one.
                (RunOn::Cluster, None, None) => None,
                (RunOn::Cluster, None, Some(t)) => {
                    return Err(Error::service_schema(format!(
                        "task '{full_name}.{}' runs once per cluster, but the transporter {} \
                         offers no cluster lock: set one with BrokerBuilder::cluster_lock",
                        def.name,
                        t.describe()
                    )))
                }
            };
            started.push(Arc::new(Task {
                def: def.clone(),
                service: full_name.to_owned(),
                name: Arc::from(format!("{full_name}.{}", def.name)),
                lock,
                running: AtomicUsize::new(0),
                queue: Mutex::new(None),
                stats: Mutex::new(Stats::default()),
            }));
        }
        let weak = Arc::downgrade(&broker.inner);
        for task in started {
            tracing::debug!(task = %task.name, schedule = %task.def.schedule, "scheduled task started");
            if task.def.overlap == Overlap::Queue {
                let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
                *lock(&task.queue) = Some(tx);
                self.spawn(queue_loop(weak.clone(), task.clone(), rx));
            }
            self.spawn(tick_loop(
                weak.clone(),
                task.clone(),
                self.stopping.subscribe(),
            ));
            lock(&self.tasks).push(task);
        }
        Ok(())
    }

    fn spawn(&self, future: impl std::future::Future<Output = ()> + Send + 'static) {
        let mut handles = lock(&self.handles);
        handles.retain(|h| !h.is_finished());
        handles.push(tokio::spawn(future));
    }

    /// Stops the ticking: no tick fires and no node competes for one from now on.
    pub(crate) fn stop_ticking(&self) {
        self.stopping.send_replace(true);
        for task in lock(&self.tasks).iter() {
            lock(&task.stats).next_ms = None;
            // Queued ticks are dropped with the sender; the worker ends after its current run.
            lock(&task.queue).take();
        }
    }

    /// Cancels the runs still going (after the broker's shutdown timeout): each frees its
    /// cluster lock, so another node may run the tick. Waits for them, bounded.
    pub(crate) async fn cancel_runs(&self) {
        self.cancel.send_replace(true);
        let handles: Vec<JoinHandle<()>> = lock(&self.handles).drain(..).collect();
        let deadline = tokio::time::Instant::now() + STOP_BOUND;
        for handle in handles {
            let abort = handle.abort_handle();
            if tokio::time::timeout_at(deadline, handle).await.is_err() {
                abort.abort();
            }
        }
    }

    /// The tasks as [`Broker::scheduled_tasks`] shows them.
    pub(crate) fn list(&self, node_id: &str) -> Vec<TaskInfo> {
        lock(&self.tasks)
            .iter()
            .map(|task| {
                let stats = lock(&task.stats);
                TaskInfo {
                    name: task.name.to_string(),
                    service: task.service.clone(),
                    schedule: task.def.schedule.to_string(),
                    once: task.def.run_on.as_str().to_owned(),
                    overlap: task.def.overlap.as_str().to_owned(),
                    node_id: node_id.to_owned(),
                    next_run: stats.next_ms.and_then(rfc3339),
                    next_run_ms: stats.next_ms,
                    running: task.running.load(Ordering::SeqCst),
                    runs: stats.runs,
                    skipped: stats.skipped,
                    last_run_ms: stats.last_ms,
                    last_duration_ms: stats
                        .last_duration
                        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                    last_error: stats.last_error.clone(),
                }
            })
            .collect()
    }

    fn find(&self, name: &str) -> Option<Arc<Task>> {
        lock(&self.tasks).iter().find(|t| &*t.name == name).cloned()
    }
}

impl Broker {
    /// The scheduled tasks of this node's services, with their next run.
    pub fn scheduled_tasks(&self) -> Vec<TaskInfo> {
        self.inner.scheduler.list(self.node_id())
    }

    /// Runs a scheduled task of this node now, by its full name (`reports.hourly`), and
    /// returns its outcome. The run is outside the schedule: it takes no cluster lock, and
    /// its context's scheduled time is now.
    pub async fn run_task(&self, name: &str) -> Result<(), Error> {
        let task = self.inner.scheduler.find(name).ok_or_else(|| {
            Error::client(
                format!("no scheduled task '{name}' on node '{}'", self.node_id()),
                404,
                "TASK_NOT_FOUND",
            )
            .with_data(serde_json::json!({ "task": name, "nodeID": self.node_id() }))
        })?;
        if self.refuses_work(false) {
            return Err(Error::broker_options(
                "the broker is stopped; its tasks no longer run",
            ));
        }
        let now = u64::try_from(crate::util::now_ms()).unwrap_or(0);
        run(self.clone(), task, now, true).await
    }
}

/// Fires the task's ticks until the broker stops or goes away.
async fn tick_loop(weak: Weak<BrokerInner>, task: Arc<Task>, mut stopping: watch::Receiver<bool>) {
    let mut last = now_ms();
    loop {
        // From now, not from the last tick: ticks missed while this node was stalled are
        // not made up in a burst.
        let from = last.max(now_ms());
        let Some(tick) = task.def.schedule.next_after(from) else {
            tracing::info!(task = %task.name, "the schedule names no further run");
            lock(&task.stats).next_ms = None;
            return;
        };
        lock(&task.stats).next_ms = Some(tick);
        // Sleep on the wall clock: tokio's clock is monotonic, the ticks are wall-clock times.
        loop {
            let now = now_ms();
            if now >= tick {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(tick - now)) => {}
                _ = stopping.wait_for(|s| *s) => return,
            }
        }
        last = tick;
        let Some(inner) = weak.upgrade() else { return };
        dispatch(Broker { inner }, &task, tick);
    }
}

/// Starts a run of `tick` as the task's overlap policy says.
fn dispatch(broker: Broker, task: &Arc<Task>, tick: u64) {
    match task.def.overlap {
        Overlap::Skip if task.running.load(Ordering::SeqCst) > 0 => {
            lock(&task.stats).skipped += 1;
            tracing::info!(
                task = %task.name,
                tick = %rfc3339(tick).unwrap_or_default(),
                "tick skipped: the previous run on this node is still going"
            );
        }
        Overlap::Queue => {
            let sender = lock(&task.queue).clone();
            if let Some(sender) = sender {
                if sender.try_send(tick).is_err() {
                    lock(&task.stats).skipped += 1;
                    tracing::warn!(
                        task = %task.name,
                        "tick skipped: {QUEUE_CAPACITY} ticks already wait behind the running one"
                    );
                }
            }
        }
        Overlap::Skip | Overlap::Concurrent => {
            let task = task.clone();
            let scheduler_handles = broker.clone();
            scheduler_handles.inner.scheduler.spawn(async move {
                // The outcome is logged by `run`.
                let _ = run(broker, task, tick, false).await;
            });
        }
    }
}

/// Runs queued ticks one after the other.
async fn queue_loop(weak: Weak<BrokerInner>, task: Arc<Task>, mut ticks: mpsc::Receiver<u64>) {
    while let Some(tick) = ticks.recv().await {
        let Some(inner) = weak.upgrade() else { return };
        let _ = run(Broker { inner }, task.clone(), tick, false).await;
    }
}

/// One run: claims the tick (cluster-once tasks), runs the handler while renewing the claim,
/// logs the outcome, and releases the claim as done (or free, when cancelled).
async fn run(broker: Broker, task: Arc<Task>, tick: u64, manual: bool) -> Result<(), Error> {
    let scheduler = &broker.inner.scheduler;
    let mut cancel = scheduler.cancel.subscribe();
    let claim = match (&task.lock, manual) {
        (Some(lock), false) => {
            let key = LockKey::new(
                &broker.config().namespace,
                &task.service,
                &task.def.name,
                tick,
            );
            let mut stopping = scheduler.stopping.subscribe();
            match claim(&task, lock.as_ref(), &key, &mut stopping).await {
                Some(token) => Some((lock.clone(), key, token)),
                None => return Ok(()),
            }
        }
        _ => None,
    };
    let _in_flight = broker.inner.in_flight.enter();
    task.running.fetch_add(1, Ordering::SeqCst);
    let _running = Running(&task.running);
    let ctx = TaskContext::new(
        Context::root(&broker, None, JsonMap::new()),
        task.name.clone(),
        tick,
        claim.as_ref().map(|(_, _, token)| *token),
        manual,
    );
    let started = Instant::now();
    let handler = task.def.handler.clone();
    let run = crate::util::CatchPanic::call(move || handler(ctx), "scheduled task");
    let renew = async {
        match &claim {
            Some((lock, key, token)) => {
                keep_renewing(&task, lock.as_ref(), key, *token).await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    let outcome = tokio::select! {
        outcome = run => Some(outcome),
        () = renew => None,
        _ = cancel.wait_for(|c| *c) => None,
    };
    let elapsed = started.elapsed();
    let tick_time = rfc3339(tick).unwrap_or_default();
    if let Some((lock, key, token)) = &claim {
        let retention = DONE_RETENTION.max(task.def.lock_ttl * 2);
        let done_for = outcome.is_some().then_some(retention);
        match tokio::time::timeout(STOP_BOUND, lock.release(key, *token, done_for)).await {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => tracing::warn!(
                task = %task.name,
                tick = %tick_time,
                "the cluster lock of this tick had expired before the run ended"
            ),
            Ok(Err(err)) => {
                tracing::warn!(task = %task.name, tick = %tick_time, "could not release the cluster lock: {err}")
            }
            Err(_) => {
                tracing::warn!(task = %task.name, tick = %tick_time, "releasing the cluster lock timed out")
            }
        }
    }
    let result = match outcome {
        Some(result) => result,
        None => {
            tracing::warn!(
                task = %task.name,
                tick = %tick_time,
                "run cancelled: the broker stopped before it ended"
            );
            Err(Error::server(
                format!("the run of task '{}' was cancelled by the stop", task.name),
                503,
                "TASK_CANCELLED",
            ))
        }
    };
    match &result {
        Ok(()) => tracing::debug!(task = %task.name, tick = %tick_time, "scheduled task ran"),
        Err(err) => tracing::error!(
            task = %task.name,
            tick = %tick_time,
            "scheduled task '{}' failed: {err}",
            task.name
        ),
    }
    if !manual {
        if let Some(period) = task
            .def
            .schedule
            .next_after(tick)
            .map(|next| Duration::from_millis(next.saturating_sub(tick)))
        {
            if elapsed > period {
                tracing::warn!(
                    task = %task.name,
                    tick = %tick_time,
                    "the run took {} ms, longer than its period of {} ms",
                    elapsed.as_millis(),
                    period.as_millis()
                );
            }
        }
    }
    let mut stats = lock(&task.stats);
    stats.runs += 1;
    stats.last_ms = Some(tick);
    stats.last_duration = Some(elapsed);
    stats.last_error = result.as_ref().err().map(ToString::to_string);
    result
}

/// Takes the tick's lock, or watches it until its holder marks it done (`None`) or dies
/// (the lock expires, and this node takes the tick over). Gives up when the broker stops,
/// and when it cannot tell any more whether the tick ran: a missing key then may be a done
/// mark that expired.
async fn claim(
    task: &Task,
    lock: &dyn ClusterLock,
    key: &LockKey,
    stopping: &mut watch::Receiver<bool>,
) -> Option<u64> {
    let ttl = task.def.lock_ttl;
    let poll = (ttl / 3).clamp(Duration::from_millis(50), Duration::from_secs(5));
    let trust = DONE_RETENTION.max(ttl * 2) / 2;
    let mut last_held: Option<Instant> = None;
    let mut reported = false;
    loop {
        if *stopping.borrow() {
            return None;
        }
        let fresh = Duration::from_millis(now_ms().saturating_sub(key.tick_ms)) < trust;
        let watched = last_held.is_some_and(|at| at.elapsed() < trust);
        if !fresh && !watched {
            lock_skip(task, key, "too late to tell whether another node ran it");
            return None;
        }
        match lock.try_acquire(key, ttl).await {
            Ok(Acquire::Acquired(token)) => {
                if last_held.is_some() {
                    tracing::warn!(
                        task = %task.name,
                        tick = %rfc3339(key.tick_ms).unwrap_or_default(),
                        "took the tick over: its holder's lock expired without the run ending \
                         (fencing token {token})"
                    );
                }
                return Some(token);
            }
            Ok(Acquire::Done) => return None,
            Ok(Acquire::Held) => last_held = Some(Instant::now()),
            Err(err) => {
                if !reported {
                    reported = true;
                    tracing::warn!(
                        task = %task.name,
                        lock = %lock.describe(),
                        "the cluster lock cannot be reached; retrying: {err}"
                    );
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = stopping.wait_for(|s| *s) => return None,
        }
    }
}

fn lock_skip(task: &Task, key: &LockKey, why: &str) {
    lock(&task.stats).skipped += 1;
    tracing::warn!(
        task = %task.name,
        tick = %rfc3339(key.tick_ms).unwrap_or_default(),
        "tick skipped: {why}"
    );
}

/// Renews the lock every third of its TTL; returns only when the lock is lost, which it logs.
async fn keep_renewing(task: &Task, lock: &dyn ClusterLock, key: &LockKey, token: u64) {
    let ttl = task.def.lock_ttl;
    loop {
        tokio::time::sleep(ttl / 3).await;
        match lock.renew(key, token, ttl).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::error!(
                    task = %task.name,
                    tick = %rfc3339(key.tick_ms).unwrap_or_default(),
                    "lost the cluster lock of this tick (it expired before it was renewed); \
                     another node may run it: this run's fencing token is {token}"
                );
                // The run goes on: stopping it halfway may do more harm than finishing it.
                std::future::pending::<()>().await;
            }
            Err(err) => tracing::warn!(
                task = %task.name,
                "could not renew the cluster lock: {err}"
            ),
        }
    }
}

fn now_ms() -> u64 {
    u64::try_from(crate::util::now_ms()).unwrap_or(0)
}

/// `2026-12-01T20:00:00.000Z`.
fn rfc3339(ms: u64) -> Option<String> {
    let at = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(i64::try_from(ms).ok()?)?;
    Some(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}
