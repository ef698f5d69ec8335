//! `info`: this broker's options, what its registry holds, and its health.

use super::local_query;
use crate::error::CommandError;
use crate::output::InfoReport;
use crate::render::{Cell, Tone};
use broker_core::Broker;
use serde_json::{json, Value};

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) if s.is_empty() => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn mb(bytes: &Value) -> String {
    bytes
        .as_f64()
        .map_or_else(|| "-".to_owned(), |b| format!("{:.0} MB", b / 1_048_576.0))
}

fn count(v: &Value) -> usize {
    v.as_array().map_or(0, Vec::len)
}

/// Gathers the report.
pub(crate) async fn info(broker: &Broker) -> Result<InfoReport, CommandError> {
    let mut options = broker.config().to_json();
    // The transporter as its URL without password, not its Rust `Debug` form.
    options["transporter"] = broker
        .config()
        .transporter
        .as_ref()
        .map_or(Value::Null, |t| Value::String(t.describe()));
    let health = local_query(broker, "$node.health", json!({})).await?;
    let all_nodes = broker.node_list(false, false);
    let online = all_nodes.iter().filter(|n| n.available).count();
    let services = local_query(broker, "$node.services", json!({"onlyAvailable": true})).await?;
    let local_services: Vec<String> = local_query(
        broker,
        "$node.services",
        json!({"onlyLocal": true, "skipInternal": true}),
    )
    .await?
    .as_array()
    .map(|s| s.iter().map(|s| text(&s["fullName"])).collect())
    .unwrap_or_default();
    let actions = local_query(broker, "$node.actions", json!({"onlyAvailable": true})).await?;
    let events = local_query(broker, "$node.events", json!({"onlyAvailable": true})).await?;
    let registry = json!({
        "nodes": {"online": online, "total": all_nodes.len()},
        "services": count(&services),
        "actions": count(&actions),
        "events": count(&events),
        "localServices": local_services,
    });

    let timeout = match options["requestTimeout"].as_u64() {
        Some(0) | None => "none".to_owned(),
        Some(ms) => format!("{ms} ms"),
    };
    let line = |label: &str, value: String| (label.to_owned(), Cell::new(value));
    let broker_section = vec![
        line("Namespace", text(&options["namespace"])),
        (
            "Node ID".to_owned(),
            Cell::toned(broker.node_id().to_owned(), Tone::Accent),
        ),
        line("Instance ID", broker.instance_id().to_owned()),
        line("Version", broker_core::VERSION.to_owned()),
        line("Protocol", text(&options["protocolVersion"])),
        line("Transporter", crate::console::transporter_label(broker)),
        line("Request timeout", timeout),
        line(
            "Heartbeat",
            format!(
                "every {} s, timeout {} s",
                text(&options["heartbeatInterval"]),
                text(&options["heartbeatTimeout"])
            ),
        ),
    ];
    let registry_section = vec![
        line(
            "Nodes",
            format!("{online} online, {} known", all_nodes.len()),
        ),
        line("Services", count(&services).to_string()),
        line("Actions", count(&actions).to_string()),
        line("Events", count(&events).to_string()),
        line(
            "Local services",
            match registry["localServices"].as_array() {
                Some(list) if !list.is_empty() => {
                    list.iter().map(text).collect::<Vec<_>>().join(", ")
                }
                _ => "-".to_owned(),
            },
        ),
    ];
    let cpu = &health["cpu"];
    let health_section = vec![
        line("Hostname", text(&health["os"]["hostname"])),
        line(
            "OS",
            format!(
                "{} {}",
                text(&health["os"]["type"]),
                text(&health["os"]["arch"])
            ),
        ),
        line(
            "CPU",
            format!(
                "{} cores, load {} / {} / {}, {}% used",
                text(&cpu["cores"]),
                text(&cpu["load1"]),
                text(&cpu["load5"]),
                text(&cpu["load15"]),
                text(&cpu["utilization"])
            ),
        ),
        line(
            "Memory",
            format!(
                "{} free of {}",
                mb(&health["mem"]["free"]),
                mb(&health["mem"]["total"])
            ),
        ),
        line(
            "Process",
            format!(
                "pid {}, rss {}",
                text(&health["process"]["pid"]),
                mb(&health["process"]["memory"]["rss"])
            ),
        ),
        line(
            "IP",
            health["net"]["ip"]
                .as_array()
                .map(|ips| ips.iter().map(text).collect::<Vec<_>>().join(", "))
                .unwrap_or_default(),
        ),
    ];
    Ok(InfoReport {
        data: json!({"broker": options, "registry": registry, "health": health}),
        sections: vec![
            ("Broker".to_owned(), broker_section),
            ("Registry".to_owned(), registry_section),
            ("Health".to_owned(), health_section),
        ],
    })
}
