//! What a task's handler gets: a context to call and emit from, and the tick it runs for.

use crate::context::Context;
use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The context of one run of a scheduled task.
///
/// It dereferences to a root [`Context`] of the broker running the task, so `ctx.call(..)`,
/// `ctx.emit(..)` and the rest work as in a handler; its calls start a new chain.
#[derive(Debug, Clone)]
pub struct TaskContext {
    ctx: Context,
    task: Arc<str>,
    scheduled_ms: u64,
    fencing_token: Option<u64>,
    manual: bool,
}

impl TaskContext {
    pub(crate) fn new(
        ctx: Context,
        task: Arc<str>,
        scheduled_ms: u64,
        fencing_token: Option<u64>,
        manual: bool,
    ) -> TaskContext {
        TaskContext {
            ctx,
            task,
            scheduled_ms,
            fencing_token,
            manual,
        }
    }

    /// The task's full name, `<service full name>.<task>` (`reports.hourly`).
    pub fn task(&self) -> &str {
        &self.task
    }

    /// When this run was scheduled: the tick's time on the schedule's grid, the same on every
    /// node (the moment it actually started may be a little later). For a run started by hand
    /// ([`Broker::run_task`](crate::Broker::run_task)), the moment it was asked for.
    pub fn scheduled_time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.scheduled_ms)
    }

    /// [`TaskContext::scheduled_time`] in milliseconds since the Unix epoch.
    pub fn scheduled_ms(&self) -> u64 {
        self.scheduled_ms
    }

    /// For a tick of a cluster-once task, the fencing token of its lock: larger than that of
    /// every earlier holder of any tick of this task. A store the run writes to can keep the
    /// largest token it has seen and refuse writes with a smaller one, so that a holder whose
    /// lock expired (stalled, cut off) cannot overwrite the work of the node that took over.
    /// `None` for tasks that run on every node, and for runs started by hand.
    pub fn fencing_token(&self) -> Option<u64> {
        self.fencing_token
    }

    /// Whether the run was started by hand (`tasks run`, [`Broker::run_task`](crate::Broker::run_task))
    /// rather than by the schedule.
    pub fn is_manual(&self) -> bool {
        self.manual
    }

    /// The broker context calls and emits go through.
    pub fn context(&self) -> &Context {
        &self.ctx
    }
}

impl Deref for TaskContext {
    type Target = Context;

    fn deref(&self) -> &Context {
        &self.ctx
    }
}
