//! The figures of a run, from what the load recorded and what the nodes logged, and the
//! table that sets the runs side by side.

use crate::cluster::{Lang, Node, Resources};
use crate::load::{CallRecord, EmitRecord, NodeEvent, Outcome};
use crate::run::{Executions, Settings};
use crate::schedule::FaultRecord;
use serde::Serialize;
use std::collections::BTreeMap;

/// How long after a fault's end its after-effects are expected (calls to a node lost in it
/// time out, a node paused past the heartbeat timeout is rediscovered).
const FAULT_TAIL_MS: f64 = 10_000.0;

/// Everything a run collected.
pub(crate) struct Inputs<'a> {
    pub(crate) lang: Lang,
    pub(crate) settings: &'a Settings,
    pub(crate) nodes: &'a [Node],
    /// Start and end of the loaded phase, ms since the run's start.
    pub(crate) main_ms: (f64, f64),
    /// Per node: ms from Redis up to its first answer (`None`: never within 60 s).
    pub(crate) start_phase: Vec<(String, Option<f64>)>,
    pub(crate) resources_start: Vec<Option<Resources>>,
    pub(crate) resources_end: Vec<Option<Resources>>,
    pub(crate) calls: Vec<CallRecord>,
    pub(crate) emits: Vec<EmitRecord>,
    pub(crate) node_events: Vec<NodeEvent>,
    pub(crate) faults: Vec<FaultRecord>,
    pub(crate) executions: Executions,
    /// Per node: (ms since the run's start, RSS KiB) every 5 s of the loaded phase.
    pub(crate) rss_samples: Vec<Vec<(f64, u64)>>,
}

/// The figures of one run (the JSON the soak writes, one per implementation).
#[derive(Debug, Serialize)]
pub(crate) struct RunReport {
    pub(crate) implementation: &'static str,
    pub(crate) loaded_seconds: f64,
    pub(crate) call_rate: f64,
    pub(crate) event_rate: f64,
    pub(crate) heartbeat_interval_ms: u128,
    pub(crate) heartbeat_timeout_ms: u128,
    pub(crate) calls: Calls,
    pub(crate) events: Events,
    /// ms from Redis up until each node answered, in the phase that starts them before it.
    pub(crate) start_without_server: Spread,
    /// ms from each fault's end until the nodes it hit answer again.
    pub(crate) recovery: Spread,
    pub(crate) faults: Vec<FaultOutcome>,
    pub(crate) nodes: Vec<NodeFigures>,
    pub(crate) node_events: Vec<NodeEvent>,
}

/// Calls of the load.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Calls {
    pub(crate) sent: u64,
    pub(crate) answered: u64,
    pub(crate) failed: u64,
    pub(crate) failed_by_error: BTreeMap<String, u64>,
    pub(crate) failed_by_action: BTreeMap<String, u64>,
    /// Not settled by their timeout + 1 s (goal 0).
    pub(crate) hung: u64,
    /// Executed more than once (goal 0).
    pub(crate) executed_twice: u64,
    /// Executed once, but the caller saw an error (a timeout, a node lost while answering).
    pub(crate) executed_but_failed: u64,
    /// Answered with success but executed nowhere: a broken harness if ever not 0.
    pub(crate) answered_unexecuted: u64,
    /// Failed (not by the panicking handler) or hung while no fault was near: sent outside
    /// every window from a fault's start to 10 s after its end.
    pub(crate) failed_outside_faults: u64,
    /// Those, by error name and the node the error names (`?` when it names none).
    pub(crate) failed_outside_faults_by: BTreeMap<String, u64>,
    /// Failures (not of the panicking handler) and hung calls per 10 s of sending time (ms
    /// since the run's start of the bucket's start).
    pub(crate) failed_per_10s: BTreeMap<u64, u64>,
}

/// Events of the load (at-most-once: lost and duplicated counted apart).
#[derive(Debug, Default, Serialize)]
pub(crate) struct Events {
    pub(crate) emitted: u64,
    pub(crate) emit_failed_by_error: BTreeMap<String, u64>,
    pub(crate) delivered: u64,
    /// Emitted without error but handled nowhere.
    pub(crate) lost: u64,
    /// Handled more than once.
    pub(crate) duplicated: u64,
    /// Lost while no fault was near (as for calls).
    pub(crate) lost_outside_faults: u64,
}

/// p50 and max of a set of durations in ms, and how many never happened.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Spread {
    pub(crate) p50_ms: Option<f64>,
    pub(crate) max_ms: Option<f64>,
    pub(crate) never: usize,
}

impl Spread {
    fn of(values: impl Iterator<Item = Option<f64>>) -> Spread {
        let mut seen = Vec::new();
        let mut never = 0;
        for v in values {
            match v {
                Some(v) => seen.push(v),
                None => never += 1,
            }
        }
        seen.sort_by(f64::total_cmp);
        Spread {
            p50_ms: seen.get(seen.len().saturating_sub(1) / 2).copied(),
            max_ms: seen.last().copied(),
            never,
        }
    }
}

/// A fault and the recovery from it.
#[derive(Debug, Serialize)]
pub(crate) struct FaultOutcome {
    #[serde(flatten)]
    pub(crate) fault: FaultRecord,
    /// ms from its end until any call sent after it succeeded.
    pub(crate) first_ok_ms: Option<f64>,
    /// ms from its end until every node it hit (all of them for Redis) answered a call sent
    /// after it.
    pub(crate) back_ms: Option<f64>,
}

/// One node's figures.
#[derive(Debug, Serialize)]
pub(crate) struct NodeFigures {
    pub(crate) id: String,
    pub(crate) lang: Lang,
    pub(crate) start_without_server_ms: Option<f64>,
    pub(crate) answered: u64,
    pub(crate) connected_events: u64,
    pub(crate) disconnected_events: u64,
    pub(crate) resources_start: Option<Resources>,
    pub(crate) resources_end: Option<Resources>,
    /// (ms since the run's start, RSS KiB) every 5 s of the loaded phase.
    pub(crate) rss_samples: Vec<(f64, u64)>,
}

pub(crate) fn analyse(inputs: Inputs<'_>) -> RunReport {
    let Inputs {
        lang,
        settings,
        nodes,
        main_ms,
        start_phase,
        resources_start,
        resources_end,
        mut calls,
        emits,
        node_events,
        faults,
        executions,
        rss_samples,
    } = inputs;
    calls.sort_by(|a, b| a.sent_ms.total_cmp(&b.sent_ms));
    let quiet = |t: f64| {
        !faults
            .iter()
            .any(|f| t >= f.start_ms && t <= f.end_ms + FAULT_TAIL_MS)
    };
    let mut c = Calls::default();
    let mut answered_by: BTreeMap<&str, u64> = BTreeMap::new();
    for call in &calls {
        c.sent += 1;
        let runs = executions.calls.get(&call.id).copied().unwrap_or(0);
        if runs > 1 {
            c.executed_twice += 1;
        }
        match &call.outcome {
            Outcome::Ok(node) => {
                c.answered += 1;
                *answered_by.entry(node).or_default() += 1;
                if runs == 0 {
                    c.answered_unexecuted += 1;
                }
            }
            Outcome::Err(name, node) => {
                c.failed += 1;
                if call.action != "soak.panic" {
                    let bucket = (call.sent_ms / 10_000.0) as u64 * 10_000;
                    *c.failed_per_10s.entry(bucket).or_default() += 1;
                    if quiet(call.sent_ms) {
                        c.failed_outside_faults += 1;
                        let key = format!("{name} {}", node.as_deref().unwrap_or("?"));
                        *c.failed_outside_faults_by.entry(key).or_default() += 1;
                    }
                }
                *c.failed_by_error.entry(name.clone()).or_default() += 1;
                *c.failed_by_action
                    .entry(call.action.to_owned())
                    .or_default() += 1;
                if runs > 0 {
                    c.executed_but_failed += 1;
                }
            }
            Outcome::Hung => {
                c.hung += 1;
                let bucket = (call.sent_ms / 10_000.0) as u64 * 10_000;
                *c.failed_per_10s.entry(bucket).or_default() += 1;
                if quiet(call.sent_ms) {
                    c.failed_outside_faults += 1;
                }
            }
        }
    }
    let mut e = Events::default();
    for emit in &emits {
        match &emit.error {
            None => {
                e.emitted += 1;
                match executions.events.get(&emit.id).copied().unwrap_or(0) {
                    0 => {
                        e.lost += 1;
                        if quiet(emit.sent_ms) {
                            e.lost_outside_faults += 1;
                        }
                    }
                    1 => e.delivered += 1,
                    _ => {
                        e.delivered += 1;
                        e.duplicated += 1;
                    }
                }
            }
            Some(name) => *e.emit_failed_by_error.entry(name.clone()).or_default() += 1,
        }
    }
    let all_nodes: Vec<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
    let faults: Vec<FaultOutcome> = faults
        .into_iter()
        .map(|fault| {
            let hit: Vec<&str> = match &fault.node {
                Some(n) => vec![n.as_str()],
                None => all_nodes.clone(),
            };
            let (first_ok_ms, back_ms) = recovery(&calls, fault.end_ms, &hit);
            FaultOutcome {
                fault,
                first_ok_ms,
                back_ms,
            }
        })
        .collect();
    // During the loaded phase only: the first connection of each node is not a fault's.
    let count = |node: &str, event: &str| {
        node_events
            .iter()
            .filter(|e| e.t_ms >= main_ms.0 && e.node == node && e.event == event)
            .count() as u64
    };
    let figures = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| NodeFigures {
            id: n.id.clone(),
            lang: n.lang,
            start_without_server_ms: start_phase.get(i).and_then(|s| s.1),
            answered: answered_by.get(n.id.as_str()).copied().unwrap_or(0),
            connected_events: count(&n.id, "$node.connected"),
            disconnected_events: count(&n.id, "$node.disconnected"),
            resources_start: resources_start.get(i).copied().flatten(),
            resources_end: resources_end.get(i).copied().flatten(),
            rss_samples: rss_samples.get(i).cloned().unwrap_or_default(),
        })
        .collect();
    RunReport {
        implementation: lang.label(),
        loaded_seconds: (main_ms.1 - main_ms.0) / 1e3,
        call_rate: settings.rate,
        event_rate: settings.event_rate,
        heartbeat_interval_ms: settings.hb_interval.as_millis(),
        heartbeat_timeout_ms: settings.hb_timeout.as_millis(),
        calls: c,
        events: e,
        start_without_server: Spread::of(start_phase.iter().map(|s| s.1)),
        recovery: Spread::of(faults.iter().map(|f| f.back_ms)),
        faults,
        nodes: figures,
        node_events,
    }
}

/// From the calls sent after `end_ms` (sorted by sending time, looking 60 s ahead): how long
/// until the first success, and until every node of `hit` answered one.
fn recovery(calls: &[CallRecord], end_ms: f64, hit: &[&str]) -> (Option<f64>, Option<f64>) {
    let start = calls.partition_point(|c| c.sent_ms < end_ms);
    let mut first_ok: Option<f64> = None;
    let mut first_by_node: BTreeMap<&str, f64> = BTreeMap::new();
    for call in calls[start..]
        .iter()
        .take_while(|c| c.sent_ms < end_ms + 60_000.0)
    {
        let Outcome::Ok(node) = &call.outcome else {
            continue;
        };
        let t = call.done_ms - end_ms;
        first_ok = Some(first_ok.map_or(t, |f| f.min(t)));
        let first = first_by_node.entry(node.as_str()).or_insert(t);
        *first = first.min(t);
    }
    let back = hit.iter().try_fold(0.0f64, |worst, node| {
        first_by_node.get(node).map(|t| worst.max(*t))
    });
    (first_ok, back)
}

fn ms(v: Option<f64>) -> String {
    v.map_or("never".to_owned(), |v| format!("{v:.0} ms"))
}

fn spread(s: &Spread) -> String {
    let mut out = format!("{} / {}", ms(s.p50_ms), ms(s.max_ms));
    if s.never > 0 {
        out.push_str(&format!(" ({} never)", s.never));
    }
    out
}

fn res(r: Option<Resources>) -> String {
    r.map_or("-".to_owned(), |r| {
        format!(
            "{:.1} MiB (peak {:.1}) {} fds",
            r.rss_kib as f64 / 1024.0,
            r.peak_rss_kib as f64 / 1024.0,
            r.fds
        )
    })
}

/// The side-by-side table of the runs, as markdown.
pub(crate) fn table(runs: &[RunReport]) -> String {
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let mut row = |label: &str, f: &dyn Fn(&RunReport) -> String| {
        rows.push((label.to_owned(), runs.iter().map(f).collect()));
    };
    row("loaded for", &|r| format!("{:.0} s", r.loaded_seconds));
    row("calls sent", &|r| r.calls.sent.to_string());
    row("answered", &|r| r.calls.answered.to_string());
    row("failed", &|r| r.calls.failed.to_string());
    let names: std::collections::BTreeSet<&String> = runs
        .iter()
        .flat_map(|r| r.calls.failed_by_error.keys())
        .collect();
    for name in names {
        row(&format!("  failed: {name}"), &|r| {
            r.calls
                .failed_by_error
                .get(name)
                .copied()
                .unwrap_or(0)
                .to_string()
        });
    }
    row("failed or hung away from faults", &|r| {
        r.calls.failed_outside_faults.to_string()
    });
    row("hung past timeout + 1 s", &|r| r.calls.hung.to_string());
    row("executed twice", &|r| r.calls.executed_twice.to_string());
    row("executed, caller saw an error", &|r| {
        r.calls.executed_but_failed.to_string()
    });
    row("events emitted", &|r| r.events.emitted.to_string());
    row("events lost", &|r| r.events.lost.to_string());
    row("events lost away from faults", &|r| {
        r.events.lost_outside_faults.to_string()
    });
    row("events duplicated", &|r| r.events.duplicated.to_string());
    row("emit failed", &|r| {
        r.events
            .emit_failed_by_error
            .values()
            .sum::<u64>()
            .to_string()
    });
    row("start before Redis: serving after (p50 / max)", &|r| {
        spread(&r.start_without_server)
    });
    row("back after a fault (p50 / max)", &|r| spread(&r.recovery));
    let fault_count = runs.iter().map(|r| r.faults.len()).max().unwrap_or(0);
    for i in 0..fault_count {
        let label = runs
            .first()
            .and_then(|r| r.faults.get(i))
            .map_or(String::new(), |f| f.fault.kind.clone());
        row(&format!("  fault {}: {label}", i + 1), &|r| {
            r.faults.get(i).map_or("-".to_owned(), |f| {
                format!("{} (first ok {})", ms(f.back_ms), ms(f.first_ok_ms))
            })
        });
    }
    let node_count = runs.iter().map(|r| r.nodes.len()).max().unwrap_or(0);
    for i in 0..node_count {
        row(&format!("node {}: disconnected / connected", i + 1), &|r| {
            r.nodes.get(i).map_or("-".to_owned(), |n| {
                format!(
                    "{}: {} / {}",
                    n.id, n.disconnected_events, n.connected_events
                )
            })
        });
    }
    for i in 0..node_count {
        row(&format!("node {}: RSS, fds start → end", i + 1), &|r| {
            r.nodes.get(i).map_or("-".to_owned(), |n| {
                format!("{} → {}", res(n.resources_start), res(n.resources_end))
            })
        });
    }
    let mut out = String::from("| |");
    for r in runs {
        out.push_str(&format!(" {} |", r.implementation));
    }
    out.push_str("\n| --- |");
    out.push_str(&" --- |".repeat(runs.len()));
    out.push('\n');
    for (label, cells) in rows {
        out.push_str(&format!("| {label} |"));
        for cell in cells {
            out.push_str(&format!(" {cell} |"));
        }
        out.push('\n');
    }
    out
}
