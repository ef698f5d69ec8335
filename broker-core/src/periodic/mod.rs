//! Scheduled tasks: service methods that run every period or on a cron schedule, on every node
//! that has the service or, with [`RunOn::Cluster`], each tick on exactly one of them.
//!
//! `#[periodic(every = "5s")]` or `#[periodic(cron = "0 */5 * * * *", once = "cluster")]` on a
//! method of a `#[service]` block declares one; [`TaskDef`] is the same without the macro. A
//! task starts with its service and stops with the broker: `stop` ends the ticking, gives runs
//! in flight the shutdown timeout to finish, then cancels them.
//!
//! ```
//! use broker_core::periodic::TaskContext;
//! use broker_core::{service, Broker, Error};
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! struct Reports {
//!     runs: Arc<AtomicU32>,
//! }
//!
//! #[service(name = "reports")]
//! impl Reports {
//!     /// Every 20 ms on this node; the context knows the tick's scheduled time (on the 20 ms
//!     /// grid, except for a run started by hand).
//!     #[periodic(every = "20ms")]
//!     async fn refresh(&self, ctx: TaskContext) -> Result<(), Error> {
//!         assert!(ctx.is_manual() || ctx.scheduled_ms() % 20 == 0);
//!         self.runs.fetch_add(1, Ordering::SeqCst);
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Error> {
//! let runs = Arc::new(AtomicU32::new(0));
//! let broker = Broker::builder().node_id("tasks-doc").build();
//! broker.add_service(Reports { runs: runs.clone() }).await?;
//! broker.start().await?;
//! tokio::time::sleep(Duration::from_millis(150)).await;
//! assert!(runs.load(Ordering::SeqCst) >= 3);
//! let tasks = broker.scheduled_tasks();
//! assert_eq!(tasks[0].name, "reports.refresh");
//! assert_eq!(tasks[0].schedule, "every 20ms");
//! broker.run_task("reports.refresh").await?; // once more, now
//! broker.stop().await
//! # }
//! ```
//!
//! # Once per cluster
//!
//! A [`RunOn::Cluster`] task is scheduled on every node that has the service; at each tick the
//! nodes race for a [`ClusterLock`] in the transporter's server (Redis: `SET NX PX`), keyed by
//! the namespace, the service, the task and the tick's scheduled time. The winner runs the
//! tick, renewing the lock every third of its TTL while the run lasts, and marks it done; the
//! others watch the key until it is done. A winner that dies stops renewing: once the TTL has
//! passed the key is free, and a watcher takes the tick over (with a larger fencing token,
//! [`TaskContext::fencing_token`]). No tick is lost past the TTL, and none runs twice unless a
//! live holder cannot renew within its TTL (it logs an error saying so; the fencing token lets
//! what the run writes to refuse the stale holder).
//!
//! Clock skew: ticks sit on a grid all nodes compute alike, and the key names the tick's
//! scheduled time, not the moment a node tries it: a node whose clock runs behind tries the
//! same key a little later and finds it done. A done mark is kept for
//! [`DONE_RETENTION`] (at least; twice the TTL when that is longer), so clocks must agree
//! within about half of it (30 s); a node that comes to a tick later than that skips it
//! rather than risk running it twice.
//!
//! Overlap ([`Overlap`]) is decided per node: with `skip` (the default) a node whose previous
//! run of the task is still going does not run or compete for the next tick (another node of
//! the cluster may take it); a run that outlasts its period is logged.

mod context;
mod lock;
mod runner;
mod schedule;

pub use context::TaskContext;
pub use lock::{Acquire, ClusterLock, LockKey, MemoryClusterLock};
pub(crate) use runner::Scheduler;
pub use runner::TaskInfo;
pub use schedule::{check_cron, parse_duration, Schedule};

use crate::error::Error;
use crate::transporter::BoxFuture;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// How long a done mark is kept, at least: the clock skew the cluster-once lock tolerates is
/// about half of it.
pub const DONE_RETENTION: Duration = Duration::from_secs(60);

/// The default TTL of a cluster-once task's lock.
pub const DEFAULT_LOCK_TTL: Duration = Duration::from_secs(30);

/// A task handler: takes the tick's context; an error is logged with the task's name.
pub type TaskHandler =
    Arc<dyn Fn(TaskContext) -> BoxFuture<'static, Result<(), Error>> + Send + Sync>;

/// What a node does with a tick while its previous run of the task is still going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overlap {
    /// Skips the tick (logged): the default.
    #[default]
    Skip,
    /// Runs it once the previous runs are done (at most 16 waiting; more are skipped).
    Queue,
    /// Runs it at once, next to the previous run.
    Concurrent,
}

impl Overlap {
    /// `skip`, `queue` or `concurrent`.
    pub fn as_str(self) -> &'static str {
        match self {
            Overlap::Skip => "skip",
            Overlap::Queue => "queue",
            Overlap::Concurrent => "concurrent",
        }
    }
}

impl fmt::Display for Overlap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where each tick runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RunOn {
    /// On every node that has the service: the default.
    #[default]
    EveryNode,
    /// On exactly one node of the cluster that has the service, through a [`ClusterLock`].
    Cluster,
}

impl RunOn {
    /// `node` or `cluster`, as `once = "..."` spells them.
    pub fn as_str(self) -> &'static str {
        match self {
            RunOn::EveryNode => "node",
            RunOn::Cluster => "cluster",
        }
    }
}

impl fmt::Display for RunOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One scheduled task of a service.
///
/// ```
/// use broker_core::periodic::{Overlap, RunOn, Schedule, TaskDef};
/// use broker_core::ServiceSchema;
/// use std::time::Duration;
///
/// let cleanup = TaskDef::new("cleanup", Schedule::cron("@hourly")?, |ctx| async move {
///     println!("tick of {} at {} ms", ctx.task(), ctx.scheduled_ms());
///     Ok(())
/// })
/// .run_on(RunOn::Cluster)
/// .overlap(Overlap::Queue)
/// .lock_ttl(Duration::from_secs(60));
/// let service = ServiceSchema::new("store").task(cleanup);
/// assert_eq!(service.tasks[0].name, "cleanup");
/// # Ok::<(), broker_core::Error>(())
/// ```
#[derive(Clone)]
pub struct TaskDef {
    /// Name inside the service; the broker shows it as `<service full name>.<name>`.
    pub name: String,
    /// When it runs.
    pub schedule: Schedule,
    /// What a node does with a tick while its previous run is going.
    pub overlap: Overlap,
    /// On every node, or once per cluster.
    pub run_on: RunOn,
    /// The TTL of the cluster lock of a tick (cluster-once tasks): how long a dead holder
    /// delays the tick. Renewed every third of it while the run lasts.
    pub lock_ttl: Duration,
    /// The handler.
    pub handler: TaskHandler,
}

impl fmt::Debug for TaskDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskDef")
            .field("name", &self.name)
            .field("schedule", &self.schedule)
            .field("overlap", &self.overlap)
            .field("run_on", &self.run_on)
            .field("lock_ttl", &self.lock_ttl)
            .finish_non_exhaustive()
    }
}

impl TaskDef {
    /// A task from an async closure of the tick's context.
    pub fn new<F, Fut>(name: impl Into<String>, schedule: Schedule, handler: F) -> TaskDef
    where
        F: Fn(TaskContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        TaskDef {
            name: name.into(),
            schedule,
            overlap: Overlap::default(),
            run_on: RunOn::default(),
            lock_ttl: DEFAULT_LOCK_TTL,
            handler: Arc::new(move |ctx| Box::pin(handler(ctx))),
        }
    }

    /// Sets what happens to a tick while the previous run is going.
    pub fn overlap(mut self, overlap: Overlap) -> TaskDef {
        self.overlap = overlap;
        self
    }

    /// Runs it on every node, or once per cluster.
    pub fn run_on(mut self, run_on: RunOn) -> TaskDef {
        self.run_on = run_on;
        self
    }

    /// Sets the TTL of the cluster lock (ignored by tasks that run on every node).
    pub fn lock_ttl(mut self, ttl: Duration) -> TaskDef {
        self.lock_ttl = ttl;
        self
    }
}

/// What a `#[periodic]` method may return: `()` or `Result<(), E>`.
#[diagnostic::on_unimplemented(
    message = "a `#[periodic]` task must return `()` or `Result<(), E>` where `E: Into<broker_core::Error>`",
    label = "this return type is not `()` or `Result<(), impl Into<Error>>`"
)]
pub trait TaskResult {
    /// Converts into the run's outcome (an error is logged with the task's name).
    fn into_task_result(self) -> Result<(), Error>;
}

impl TaskResult for () {
    fn into_task_result(self) -> Result<(), Error> {
        Ok(())
    }
}

impl<E: Into<Error>> TaskResult for Result<(), E> {
    fn into_task_result(self) -> Result<(), Error> {
        self.map_err(Into::into)
    }
}
