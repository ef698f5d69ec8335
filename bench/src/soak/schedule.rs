//! The fault schedule: Redis restarted three times (one with a 10 s outage), one node
//! SIGKILLed and restarted three times, one node paused with SIGSTOP past the heartbeat
//! timeout and resumed; spread evenly over the soak with quiet gaps between faults.

use crate::cluster::{Node, Redis};
use crate::load::Load;
use serde::Serialize;
use std::time::Duration;
use tokio::time::Instant;

/// The node SIGKILLed and restarted.
pub(crate) const KILLED: usize = 1;
/// The node paused with SIGSTOP.
pub(crate) const PAUSED: usize = 2;

/// One fault of the schedule.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Fault {
    /// Redis killed and started again after `outage`.
    RedisRestart { outage: Duration },
    /// A node SIGKILLed and started again after `down`.
    Kill { node: usize, down: Duration },
    /// A node SIGSTOPped for `paused`, then SIGCONT.
    Pause { node: usize, paused: Duration },
}

impl Fault {
    /// The schedule of the issue, with the pause past `hb_timeout` twice over (a node's
    /// heartbeat is checked every heartbeat timeout, so a shorter pause may go unseen).
    pub(crate) fn schedule(hb_timeout: Duration) -> Vec<Fault> {
        let kill = Fault::Kill {
            node: KILLED,
            down: Duration::from_secs(1),
        };
        vec![
            Fault::RedisRestart {
                outage: Duration::ZERO,
            },
            kill,
            Fault::Pause {
                node: PAUSED,
                paused: hb_timeout * 2 + Duration::from_secs(1),
            },
            Fault::RedisRestart {
                outage: Duration::from_secs(10),
            },
            kill,
            Fault::RedisRestart {
                outage: Duration::ZERO,
            },
            kill,
        ]
    }

    fn length(self) -> Duration {
        match self {
            Fault::RedisRestart { outage } => outage,
            Fault::Kill { down, .. } => down,
            Fault::Pause { paused, .. } => paused,
        }
    }

    /// How long the schedule takes with `gap` between faults (and after the last).
    pub(crate) fn span(faults: &[Fault], gap: Duration) -> Duration {
        let busy: Duration = faults.iter().map(|f| f.length()).sum();
        busy + gap * (faults.len() as u32 + 1)
    }

    /// The quiet time between faults so that the schedule fills `total` (at least 3 s).
    pub(crate) fn gap(faults: &[Fault], total: Duration) -> Duration {
        let busy: Duration = faults.iter().map(|f| f.length()).sum();
        let gaps = faults.len() as u32 + 1;
        (total.saturating_sub(busy) / gaps).max(Duration::from_secs(3))
    }
}

/// A fault as it happened: what, to whom, from when to when (ms since the run's start).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FaultRecord {
    pub(crate) kind: String,
    /// The node it hit; `None` for Redis (every node).
    pub(crate) node: Option<String>,
    pub(crate) start_ms: f64,
    pub(crate) end_ms: f64,
}

/// Runs the schedule: a gap, a fault, a gap, … Errors (a signal that could not be sent, a
/// Redis that would not start) end the schedule with the error.
pub(crate) async fn run(
    faults: &[Fault],
    gap: Duration,
    redis: &mut Redis,
    nodes: &mut [Node],
    load: &Load,
) -> Result<Vec<FaultRecord>, String> {
    let mut done = Vec::new();
    for fault in faults {
        tokio::time::sleep(gap).await;
        let start_ms = load.now_ms();
        let (kind, node) = match *fault {
            Fault::RedisRestart { outage } => {
                redis.down().await;
                tokio::time::sleep(outage).await;
                redis.up().await?;
                let kind = if outage.is_zero() {
                    "redis restart".to_owned()
                } else {
                    format!("redis {} s outage", outage.as_secs())
                };
                (kind, None)
            }
            Fault::Kill { node, down } => {
                let n = &mut nodes[node];
                n.kill().await?;
                tokio::time::sleep(down).await;
                n.spawn()?;
                ("SIGKILL + restart".to_owned(), Some(n.id.clone()))
            }
            Fault::Pause { node, paused } => {
                let n = &nodes[node];
                n.signal("STOP").await?;
                let until = Instant::now() + paused;
                tokio::time::sleep_until(until).await;
                n.signal("CONT").await?;
                ("SIGSTOP + SIGCONT".to_owned(), Some(n.id.clone()))
            }
        };
        done.push(FaultRecord {
            kind,
            node,
            start_ms,
            end_ms: load.now_ms(),
        });
    }
    Ok(done)
}
