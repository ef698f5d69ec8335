//! The AsyncAPI 3.0 document of the cluster's events: one channel per event name (or
//! pattern) with its message, whose payload is the handlers' published schema (`{}` when
//! none is known), and one `receive` operation per service that handles it.

use std::collections::BTreeMap;

use broker_core::ServiceDoc;
use serde_json::{json, Map, Value};

use super::components::{sanitize, Components};
use super::fastest::params_to_json_schema;

/// The AsyncAPI document of `services`; `transporter` is the broker's transporter as it
/// describes itself (`redis://127.0.0.1:6379`), `namespace` its namespace.
pub(crate) fn build(
    title: &str,
    services: &[ServiceDoc],
    transporter: Option<&str>,
    namespace: &str,
) -> Value {
    let mut components = Components::new("#/components/schemas/");
    // Event name → (channel id, payload, description, handling services).
    struct Channel {
        payload: Option<Value>,
        description: Option<String>,
        handlers: Vec<(String, Option<String>)>,
    }
    let mut channels: BTreeMap<String, Channel> = BTreeMap::new();
    for service in services {
        for event in &service.events {
            // `$services.changed` and friends are raised on each node for itself: they never
            // cross the transporter, so no one can send them.
            if event.name.starts_with('$') {
                continue;
            }
            let payload = match (&event.payload_schema, &event.params) {
                (Some(s), _) => Some(components.hoist(
                    s,
                    &service.full_name,
                    &format!("{}.Payload", event.name),
                )),
                (None, Some(p)) => Some(params_to_json_schema(p)),
                (None, None) => None,
            };
            let channel = channels.entry(event.name.clone()).or_insert(Channel {
                payload: None,
                description: None,
                handlers: Vec::new(),
            });
            if channel.payload.is_none() {
                channel.payload = payload;
            }
            if channel.description.is_none() {
                channel.description.clone_from(&event.description);
            }
            channel
                .handlers
                .push((service.full_name.clone(), event.group.clone()));
        }
    }

    let mut used = BTreeMap::new();
    let mut channels_json = Map::new();
    let mut operations = Map::new();
    let mut messages = Map::new();
    for (name, channel) in channels {
        let mut id = sanitize(&name.replace('*', "any"));
        let base = id.clone();
        let mut n = 2;
        while used.insert(id.clone(), ()).is_some() {
            id = format!("{base}_{n}");
            n += 1;
        }
        let payload = channel.payload.unwrap_or_else(
            || json!({"description": "Unknown: no handler publishes a payload schema."}),
        );
        let mut message = json!({
            "name": name,
            "contentType": "application/json",
            "payload": payload,
        });
        if let Some(d) = &channel.description {
            message["summary"] = json!(d.lines().next().unwrap_or_default());
            message["description"] = json!(d);
        }
        messages.insert(id.clone(), message);
        let mut channel_json = json!({
            "address": name,
            "messages": {id.clone(): {"$ref": format!("#/components/messages/{id}")}},
        });
        if name.contains('*') {
            channel_json["description"] =
                json!("A pattern: the handlers get every event whose name matches it.");
        }
        channels_json.insert(id.clone(), channel_json);
        for (service, group) in channel.handlers {
            let op_id = format!("{}.on.{id}", sanitize(&service));
            let mut op = json!({
                "action": "receive",
                "channel": {"$ref": format!("#/channels/{id}")},
                "messages": [{"$ref": format!("#/channels/{id}/messages/{id}")}],
                "summary": format!("`{service}` handles `{name}`."),
            });
            if let Some(g) = group {
                op["description"] = json!(format!("Balanced within the group `{g}`."));
            }
            operations.insert(op_id, op);
        }
    }

    let mut doc = json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": format!("{title} events"),
            "version": env!("CARGO_PKG_VERSION"),
            "description": format!("The events of the cluster (namespace `{namespace}`), from the services' INFO."),
        },
        "defaultContentType": "application/json",
        "channels": channels_json,
        "operations": operations,
        "components": {
            "schemas": components.schemas,
            "messages": messages,
        },
    });
    if let Some((protocol, host, pathname)) = transporter.and_then(server_of) {
        let mut server = json!({
            "host": host,
            "protocol": protocol,
            "description": "The broker's transporter.",
        });
        if let Some(p) = pathname {
            server["pathname"] = json!(p);
        }
        doc["servers"] = json!({ "broker": server });
    }
    doc
}

/// `redis://user:***@host:6379/2` as an AsyncAPI server: protocol, host (no credentials) and
/// pathname. `None` for a transporter without a URL (`memory`).
fn server_of(describe: &str) -> Option<(&str, &str, Option<&str>)> {
    let (protocol, rest) = describe.split_once("://")?;
    let (authority, path) = match rest.split_once('/') {
        Some((a, p)) => (a, Some(p).filter(|p| !p.is_empty())),
        None => (rest, None),
    };
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if protocol.is_empty() || host.is_empty() {
        return None;
    }
    Some((protocol, host, path.map(|_| &rest[authority.len()..])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transporter_urls_become_servers_without_credentials() {
        assert_eq!(
            server_of("redis://127.0.0.1:6379"),
            Some(("redis", "127.0.0.1:6379", None))
        );
        assert_eq!(
            server_of("redis://bob:***@h:1/2"),
            Some(("redis", "h:1", Some("/2")))
        );
        assert_eq!(server_of("memory"), None);
    }
}
