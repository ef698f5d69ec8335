//! `nodes`, `services`, `actions` and `events`: the live registry of this node, read through
//! `Broker::node_list` and this node's own `$node.*` actions.

use super::local_query;
use crate::error::CommandError;
use crate::output::Listing;
use crate::parse::ListOptions;
use crate::render::{Cell, Table, Tone};
use broker_core::event_match::matches;
use broker_core::Broker;
use serde_json::{json, Value};

fn keep(options: &ListOptions, name: &str) -> bool {
    options.filter.as_deref().is_none_or(|f| matches(f, name))
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn state(available: bool) -> Cell {
    if available {
        Cell::toned("OK", Tone::Good)
    } else {
        Cell::toned("FAILED", Tone::Bad)
    }
}

fn version(v: &Value) -> String {
    match v {
        Value::Number(n) => format!("v{n}"),
        Value::String(s) => s.clone(),
        _ => "-".to_owned(),
    }
}

fn node_ids(endpoints: &Value, key: &str) -> Vec<String> {
    endpoints
        .as_array()
        .map(|list| {
            list.iter()
                .map(|e| text(if key.is_empty() { e } else { &e[key] }))
                .collect()
        })
        .unwrap_or_default()
}

fn filtered(data: Value, options: &ListOptions, key: &str) -> Vec<Value> {
    match data {
        Value::Array(items) => items
            .into_iter()
            .filter(|item| keep(options, item[key].as_str().unwrap_or_default()))
            .collect(),
        _ => Vec::new(),
    }
}

/// `nodes`: from the registry directly (`$node.list` with services).
pub(crate) fn nodes(broker: &Broker, options: &ListOptions) -> Listing {
    let nodes: Vec<Value> = broker
        .node_list(true, !options.all)
        .into_iter()
        .filter_map(|n| serde_json::to_value(n).ok())
        .filter(|n| keep(options, n["id"].as_str().unwrap_or_default()))
        .collect();
    let mut table = Table::new([
        "Node ID", "Services", "Version", "Client", "IP", "State", "CPU",
    ]);
    for node in &nodes {
        let services: Vec<&Value> = node["services"]
            .as_array()
            .map(|s| s.iter().filter(|s| !is_internal(&s["name"])).collect())
            .unwrap_or_default();
        let local = node["local"].as_bool().unwrap_or(false);
        let id = text(&node["id"]);
        let online = node["available"].as_bool().unwrap_or(false);
        table.push(vec![
            if local {
                Cell::toned(format!("{id} (*)"), Tone::Accent)
            } else {
                Cell::new(id)
            },
            Cell::new(services.len().to_string()),
            Cell::new(text(&node["client"]["version"])),
            Cell::new(text(&node["client"]["type"])),
            Cell::new(text(&node["ipList"][0])),
            if online {
                Cell::toned("ONLINE", Tone::Good)
            } else {
                Cell::toned("OFFLINE", Tone::Bad)
            },
            Cell::new(match node["cpu"].as_f64() {
                Some(cpu) => format!("{cpu:.0}%"),
                None => "?".to_owned(),
            }),
        ]);
        if options.details {
            for svc in services {
                let name = text(svc.get("fullName").unwrap_or(&svc["name"]));
                table.push(vec![Cell::toned(format!("  · {name}"), Tone::Dim)]);
            }
        }
    }
    let data = if options.details {
        Value::Array(nodes)
    } else {
        Value::Array(
            nodes
                .into_iter()
                .map(|mut n| {
                    if let Value::Object(map) = &mut n {
                        map.remove("services");
                    }
                    n
                })
                .collect(),
        )
    };
    Listing { data, table }
}

fn is_internal(name: &Value) -> bool {
    name.as_str().is_some_and(|n| n.starts_with('$'))
}

fn registry_params(options: &ListOptions) -> Value {
    json!({
        "onlyLocal": options.local,
        "skipInternal": options.skip_internal,
        "onlyAvailable": !options.all,
        "withEndpoints": true,
    })
}

/// `services`: `$node.services` with actions and events.
pub(crate) async fn services(
    broker: &Broker,
    options: &ListOptions,
) -> Result<Listing, CommandError> {
    let mut params = registry_params(options);
    params["withActions"] = json!(true);
    params["withEvents"] = json!(true);
    params["grouping"] = json!(true);
    let data = filtered(
        local_query(broker, "$node.services", params).await?,
        options,
        "fullName",
    );
    let mut table = Table::new(["Service", "Version", "State", "Actions", "Events", "Nodes"]);
    for svc in &data {
        let count = |key: &str| svc[key].as_object().map_or(0, |m| m.len()).to_string();
        let nodes = node_ids(&svc["nodes"], "");
        table.push(vec![
            Cell::toned(text(&svc["name"]), Tone::Accent),
            Cell::new(version(&svc["version"])),
            state(svc["available"].as_bool().unwrap_or(true)),
            Cell::new(count("actions")),
            Cell::new(count("events")),
            Cell::new(if options.details {
                nodes.join(", ")
            } else {
                nodes.len().to_string()
            }),
        ]);
    }
    Ok(Listing {
        data: Value::Array(data),
        table,
    })
}

/// `actions`: `$node.actions` with endpoints.
pub(crate) async fn actions(
    broker: &Broker,
    options: &ListOptions,
) -> Result<Listing, CommandError> {
    let data = filtered(
        local_query(broker, "$node.actions", registry_params(options)).await?,
        options,
        "name",
    );
    let mut headers = vec!["Action", "Nodes", "State", "Cached", "Params"];
    if options.details {
        headers.push("Endpoints");
    }
    let mut table = Table::new(headers);
    for action in &data {
        let def = &action["action"];
        let params = def["params"]
            .as_object()
            .map(|p| p.keys().cloned().collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        let cached = match &def["cache"] {
            Value::Bool(false) | Value::Null => "No",
            _ => "Yes",
        };
        let mut row = vec![
            Cell::toned(text(&action["name"]), Tone::Accent),
            nodes_cell(action),
            state(action["available"].as_bool().unwrap_or(false)),
            Cell::new(cached),
            Cell::toned(params, Tone::Dim),
        ];
        if options.details {
            row.push(Cell::new(
                node_ids(&action["endpoints"], "nodeID").join(", "),
            ));
        }
        table.push(row);
    }
    Ok(Listing {
        data: Value::Array(data),
        table,
    })
}

fn nodes_cell(entry: &Value) -> Cell {
    let count = entry["count"].as_u64().unwrap_or(0);
    if entry["hasLocal"].as_bool().unwrap_or(false) {
        Cell::new(format!("{count} (*)"))
    } else {
        Cell::new(count.to_string())
    }
}

/// `events`: `$node.events` with endpoints.
pub(crate) async fn events(
    broker: &Broker,
    options: &ListOptions,
) -> Result<Listing, CommandError> {
    let data = filtered(
        local_query(broker, "$node.events", registry_params(options)).await?,
        options,
        "name",
    );
    let mut headers = vec!["Event", "Group", "Nodes", "State"];
    if options.details {
        headers.push("Endpoints");
    }
    let mut table = Table::new(headers);
    for event in &data {
        let mut row = vec![
            Cell::toned(text(&event["name"]), Tone::Accent),
            Cell::new(text(&event["group"])),
            nodes_cell(event),
            state(event["available"].as_bool().unwrap_or(false)),
        ];
        if options.details {
            row.push(Cell::new(
                node_ids(&event["endpoints"], "nodeID").join(", "),
            ));
        }
        table.push(row);
    }
    Ok(Listing {
        data: Value::Array(data),
        table,
    })
}

/// `metrics`: this node's `$node.metrics`, one row per label set.
pub(crate) async fn metrics(
    broker: &Broker,
    options: &ListOptions,
) -> Result<Listing, CommandError> {
    let params = match &options.filter {
        Some(pattern) => json!({"includes": pattern}),
        None => json!({}),
    };
    let data = local_query(broker, "$node.metrics", params).await?;
    let mut table = Table::new(["Metric", "Type", "Labels", "Value", "Unit"]);
    for metric in data.as_array().map(Vec::as_slice).unwrap_or_default() {
        let name = text(&metric["name"]);
        let kind = text(&metric["type"]);
        let unit = text(&metric["unit"]);
        for series in metric["values"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let labels = series["labels"]
                .as_object()
                .map(|l| {
                    l.iter()
                        .map(|(k, v)| format!("{k}={}", text(v)))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            let value = if kind == "histogram" {
                let count = series["count"].as_f64().unwrap_or(0.0);
                let sum = series["sum"].as_f64().unwrap_or(0.0);
                let mean = if count > 0.0 { sum / count } else { 0.0 };
                format!("count {count}, mean {mean:.3}")
            } else {
                text(&series["value"])
            };
            table.push(vec![
                Cell::toned(name.clone(), Tone::Accent),
                Cell::new(kind.clone()),
                Cell::new(labels),
                Cell::new(value),
                Cell::new(unit.clone()),
            ]);
        }
    }
    Ok(Listing { data, table })
}
