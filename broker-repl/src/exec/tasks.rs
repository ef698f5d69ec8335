//! `tasks`: the scheduled tasks of every node that answers `$node.tasks` (Rust nodes; a
//! Moleculer.js node has no such action), and `tasks run`, through `$node.runTask`.

use super::{call_timeout, local_query};
use crate::error::CommandError;
use crate::output::{Listing, Response};
use crate::render::{Cell, Table, Tone};
use broker_core::event_match::matches;
use broker_core::{Broker, CallOptions};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::time::Instant;

/// How long one node may take to list its tasks.
const LIST_TIMEOUT: Duration = Duration::from_secs(5);

/// The nodes that offer `$node.tasks`, this one first.
async fn task_nodes(broker: &Broker) -> Result<Vec<String>, CommandError> {
    let actions = local_query(
        broker,
        "$node.actions",
        json!({"withEndpoints": true, "onlyAvailable": true}),
    )
    .await?;
    let mut nodes: Vec<String> = actions
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["name"] == "$node.tasks")
        .flat_map(|a| a["endpoints"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e["nodeID"].as_str().map(str::to_owned))
        .collect();
    nodes.sort_by_key(|n| (n != broker.node_id(), n.clone()));
    nodes.dedup();
    Ok(nodes)
}

/// Every node's tasks, sorted by name then node. A node that does not answer is left out
/// (logged): the others are still worth seeing.
async fn all_tasks(broker: &Broker) -> Result<Vec<Value>, CommandError> {
    let mut tasks = Vec::new();
    for node in task_nodes(broker).await? {
        let options = CallOptions::new()
            .node_id(node.clone())
            .timeout(LIST_TIMEOUT);
        match broker
            .call_with::<Value>("$node.tasks", json!({}), options)
            .await
        {
            Ok(Value::Array(list)) => tasks.extend(list),
            Ok(_) => {}
            Err(err) => tracing::warn!(node_id = %node, "$node.tasks failed: {err}"),
        }
    }
    tasks.sort_by(|a, b| {
        let key = |v: &Value| (text(&v["name"]), text(&v["nodeID"]));
        key(a).cmp(&key(b))
    });
    Ok(tasks)
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `2026-12-01T20:00:00.000Z` → `2026-12-01 20:00:00`.
fn short_time(v: &Value) -> String {
    let t = text(v);
    t.get(..19).map(|s| s.replace('T', " ")).unwrap_or(t)
}

/// `tasks [-f pattern]`.
pub(crate) async fn list(broker: &Broker, filter: Option<&str>) -> Result<Listing, CommandError> {
    let tasks: Vec<Value> = all_tasks(broker)
        .await?
        .into_iter()
        .filter(|t| filter.is_none_or(|f| matches(f, t["name"].as_str().unwrap_or_default())))
        .collect();
    let mut table = Table::new([
        "Task",
        "Node",
        "Schedule",
        "Once",
        "Next run (UTC)",
        "Runs",
        "Running",
        "Last error",
    ]);
    for task in &tasks {
        let error = text(&task["lastError"]);
        table.push(vec![
            Cell::toned(text(&task["name"]), Tone::Accent),
            Cell::new(text(&task["nodeID"])),
            Cell::new(text(&task["schedule"])),
            Cell::new(text(&task["once"])),
            Cell::new(short_time(&task["nextRun"])),
            Cell::new(text(&task["runs"])),
            Cell::new(text(&task["running"])),
            if error.is_empty() {
                Cell::toned("-", Tone::Dim)
            } else {
                Cell::toned(error, Tone::Bad)
            },
        ]);
    }
    Ok(Listing {
        data: Value::Array(tasks),
        table,
    })
}

/// `tasks run <name> [--nodeID id]`: on that node, else on this one if it has the task, else
/// on the first node that has it.
pub(crate) async fn run(
    broker: &Broker,
    name: &str,
    node_id: Option<&str>,
) -> Result<Response, CommandError> {
    let node = match node_id {
        Some(node) => node.to_owned(),
        None => {
            let tasks = all_tasks(broker).await?;
            let holders: Vec<String> = tasks
                .iter()
                .filter(|t| t["name"] == name)
                .map(|t| text(&t["nodeID"]))
                .collect();
            match holders.iter().find(|n| *n == broker.node_id()) {
                Some(local) => local.clone(),
                None => holders.first().cloned().ok_or_else(|| {
                    CommandError::usage(format!(
                        "no node has a scheduled task '{name}'; list them with 'tasks'"
                    ))
                })?,
            }
        }
    };
    let mut options = CallOptions::new().node_id(node.clone());
    if let Some(timeout) = call_timeout(broker, None) {
        options = options.timeout(timeout);
    }
    let params = json!({ "name": name });
    let started = Instant::now();
    let result: Value = broker.call_with("$node.runTask", &params, options).await?;
    Ok(Response {
        action: "$node.runTask".to_owned(),
        node_id: Some(node),
        params,
        result,
        elapsed: started.elapsed(),
    })
}
