//! The internal `$node` service every node runs: what this node knows of the cluster, in the
//! shapes Moleculer's `$node.*` actions return, so JS tooling can query a Rust node.

use crate::broker::{Broker, BrokerInner};
use crate::context::Context;
use crate::error::Error;
use crate::service::{ActionDef, ServiceSchema};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Weak;

fn flag(params: &Value, key: &str, default: bool) -> bool {
    match params.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => match s.as_str() {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" => false,
            _ => default,
        },
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        _ => default,
    }
}

fn bool_param(default: bool) -> Value {
    json!({"type": "boolean", "optional": true, "convert": true, "default": default})
}

fn action<F>(weak: &Weak<BrokerInner>, name: &str, params: &[(&str, bool)], f: F) -> ActionDef
where
    F: Fn(&Broker, &Value) -> Result<Value, Error> + Send + Sync + Copy + 'static,
{
    let weak = weak.clone();
    let schema: Map<String, Value> = params
        .iter()
        .map(|(k, d)| ((*k).to_owned(), bool_param(*d)))
        .collect();
    ActionDef::new(name, move |ctx: Context| {
        let weak = weak.clone();
        async move {
            let inner = weak
                .upgrade()
                .ok_or_else(|| Error::service_not_available("$node", None))?;
            f(&Broker { inner }, ctx.params())
        }
    })
    .info("cache", json!(false))
    .info("tracing", json!(false))
    .info("params", Value::Object(schema))
}

/// The `$node` service schema; handlers reach the broker through a weak reference.
pub(crate) fn schema(weak: Weak<BrokerInner>) -> ServiceSchema {
    ServiceSchema::new("$node")
        .action(action(
            &weak,
            "list",
            &[("withServices", false), ("onlyAvailable", false)],
            |b, p| {
                Ok(json!(b.node_list(
                    flag(p, "withServices", false),
                    flag(p, "onlyAvailable", false)
                )))
            },
        ))
        .action(action(
            &weak,
            "services",
            &[
                ("onlyLocal", false),
                ("skipInternal", false),
                ("withActions", false),
                ("withEvents", false),
                ("onlyAvailable", false),
                ("grouping", true),
            ],
            |b, p| Ok(services(b, p)),
        ))
        .action(action(
            &weak,
            "actions",
            &[
                ("onlyLocal", false),
                ("skipInternal", false),
                ("withEndpoints", false),
                ("onlyAvailable", false),
            ],
            |b, p| Ok(actions(b, p)),
        ))
        .action(action(
            &weak,
            "events",
            &[
                ("onlyLocal", false),
                ("skipInternal", false),
                ("withEndpoints", false),
                ("onlyAvailable", false),
            ],
            |b, p| Ok(events(b, p)),
        ))
        .action(action(&weak, "health", &[], |b, _| Ok(health(b))))
        .action(action(&weak, "options", &[], |b, _| {
            Ok(b.config().to_json())
        }))
        .action(metrics_action(&weak))
        // Our own additions: this node's scheduled tasks, and running one of them now.
        .action(action(&weak, "tasks", &[], |b, _| {
            Ok(json!(b.scheduled_tasks()))
        }))
        .action(run_task_action(&weak))
}

/// `$node.runTask {name}`: runs a scheduled task of this node now (see `Broker::run_task`);
/// answers `{task, nodeID}` once it ran, or its error.
fn run_task_action(weak: &Weak<BrokerInner>) -> ActionDef {
    let weak = weak.clone();
    ActionDef::new("runTask", move |ctx: Context| {
        let weak = weak.clone();
        async move {
            let inner = weak
                .upgrade()
                .ok_or_else(|| Error::service_not_available("$node", None))?;
            let broker = Broker { inner };
            let name = ctx.params()["name"].as_str().unwrap_or_default().to_owned();
            broker.run_task(&name).await?;
            Ok(json!({ "task": name, "nodeID": broker.node_id() }))
        }
    })
    .info("cache", json!(false))
    .info("tracing", json!(false))
    .info(
        "params",
        json!({ "name": { "type": "string", "empty": false } }),
    )
}

/// `$node.metrics`: the metrics list, filtered by `types`, `includes`, `excludes` (each a
/// string or a list of strings), or Moleculer's `METRICS_DISABLED` error.
fn metrics_action(weak: &Weak<BrokerInner>) -> ActionDef {
    let multi = || {
        json!({"type": "multi", "optional": true, "rules": [
            {"type": "string"}, {"type": "array", "items": "string"}
        ]})
    };
    let strings = |v: &Value| -> Option<Vec<String>> {
        match v {
            Value::String(s) => Some(vec![s.clone()]),
            Value::Array(items) => Some(
                items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_owned))
                    .collect(),
            ),
            _ => None,
        }
    };
    action(weak, "metrics", &[], move |b, p| {
        if !b.metrics().is_enabled() {
            return Err(Error::client(
                "Metrics feature is disabled",
                400,
                "METRICS_DISABLED",
            ));
        }
        let options = crate::metrics::ListOptions {
            types: strings(&p["types"]),
            includes: strings(&p["includes"]),
            excludes: strings(&p["excludes"]),
        };
        Ok(Value::Array(b.metrics().list(&options)))
    })
    .info(
        "params",
        json!({"types": multi(), "includes": multi(), "excludes": multi()}),
    )
}

pub(crate) fn services(broker: &Broker, p: &Value) -> Value {
    let only_local = flag(p, "onlyLocal", false);
    let skip_internal = flag(p, "skipInternal", false);
    let with_actions = flag(p, "withActions", false);
    let with_events = flag(p, "withEvents", false);
    let only_available = flag(p, "onlyAvailable", false);
    let grouping = flag(p, "grouping", true);
    let state = broker.inner.registry.read();
    let mut out: Vec<Value> = Vec::new();
    let mut nodes: Vec<_> = state.nodes.values().collect();
    nodes.sort_by(|a, b| (!a.local, &a.id).cmp(&(!b.local, &b.id)));
    for node in nodes {
        if (only_local && !node.local) || (only_available && !node.available) {
            continue;
        }
        for svc in &node.services {
            if skip_internal && svc.name.starts_with('$') {
                continue;
            }
            let full_name = svc.full_name.clone().unwrap_or_else(|| svc.name.clone());
            if grouping {
                if let Some(existing) = out
                    .iter_mut()
                    .find(|s| s["fullName"].as_str() == Some(full_name.as_str()))
                {
                    if let Some(list) = existing["nodes"].as_array_mut() {
                        list.push(json!(node.id));
                    }
                    if node.local {
                        existing["local"] = json!(true);
                    }
                    continue;
                }
            }
            let mut entry = json!({
                "name": svc.name,
                "fullName": full_name,
                "settings": svc.settings,
                "metadata": svc.metadata,
                "local": node.local,
                "available": node.available,
            });
            if let Some(version) = &svc.version {
                entry["version"] = version.clone();
            }
            if grouping {
                entry["nodes"] = json!([node.id]);
            } else {
                entry["nodeID"] = json!(node.id);
            }
            if with_actions {
                entry["actions"] = Value::Object(svc.actions.clone());
            }
            if with_events {
                entry["events"] = Value::Object(svc.events.clone());
            }
            out.push(entry);
        }
    }
    Value::Array(out)
}

pub(crate) fn actions(broker: &Broker, p: &Value) -> Value {
    let only_local = flag(p, "onlyLocal", false);
    let skip_internal = flag(p, "skipInternal", false);
    let with_endpoints = flag(p, "withEndpoints", false);
    let state = broker.inner.registry.read();
    let mut out = BTreeMap::new();
    for (name, endpoints) in state.catalog.action_names() {
        let has_local = endpoints.iter().any(|(_, local)| *local);
        if (only_local && !has_local) || (skip_internal && name.starts_with('$')) {
            continue;
        }
        let definition = state
            .nodes
            .values()
            .flat_map(|n| n.services.iter())
            .find_map(|s| s.actions.get(name).cloned())
            .unwrap_or_else(|| json!({"name": name}));
        let mut entry = json!({
            "name": name,
            "count": endpoints.len(),
            "hasLocal": has_local,
            "available": !endpoints.is_empty(),
            "action": definition,
        });
        if with_endpoints {
            entry["endpoints"] = endpoints
                .iter()
                .map(|(node, _)| json!({"nodeID": node, "state": true, "available": true}))
                .collect();
        }
        out.insert(name.to_owned(), entry);
    }
    Value::Array(out.into_values().collect())
}

pub(crate) fn events(broker: &Broker, p: &Value) -> Value {
    let only_local = flag(p, "onlyLocal", false);
    let skip_internal = flag(p, "skipInternal", false);
    let with_endpoints = flag(p, "withEndpoints", false);
    let state = broker.inner.registry.read();
    let mut out = Vec::new();
    for (pattern, group, endpoints) in state.catalog.event_lists() {
        let has_local = endpoints.iter().any(|(_, local)| *local);
        if (only_local && !has_local) || (skip_internal && pattern.starts_with('$')) {
            continue;
        }
        let mut entry = json!({
            "name": pattern,
            "group": group,
            "count": endpoints.len(),
            "hasLocal": has_local,
            "available": !endpoints.is_empty(),
            "event": {"name": pattern, "group": group},
        });
        if with_endpoints {
            entry["endpoints"] = endpoints
                .iter()
                .map(|(node, _)| json!({"nodeID": node, "state": true, "available": true}))
                .collect();
        }
        out.push(entry);
    }
    Value::Array(out)
}

fn health(broker: &Broker) -> Value {
    use crate::sysinfo;
    let [load1, load5, load15] = sysinfo::load_average();
    let (free, total) = sysinfo::memory();
    let now = crate::util::now_ms();
    let client = broker
        .inner
        .registry
        .read()
        .nodes
        .get(broker.node_id())
        .map(|n| json!(n.client))
        .unwrap_or(Value::Null);
    json!({
        "cpu": {
            "load1": load1, "load5": load5, "load15": load15,
            "cores": sysinfo::cores(),
            "utilization": sysinfo::cpu_usage().round(),
        },
        "mem": {
            "free": free, "total": total,
            "percent": if total > 0 { free as f64 * 100.0 / total as f64 } else { 0.0 },
        },
        "os": {
            "uptime": sysinfo::uptime(),
            "type": std::env::consts::OS,
            "release": "",
            "hostname": sysinfo::hostname(),
            "arch": std::env::consts::ARCH,
            "platform": std::env::consts::OS,
            "user": {},
        },
        "process": {
            "pid": std::process::id(),
            "memory": {"rss": sysinfo::rss()},
            "uptime": 0,
            "argv": std::env::args().collect::<Vec<_>>(),
        },
        "client": client,
        "net": {"ip": sysinfo::ip_list()},
        "time": {"now": now},
    })
}
