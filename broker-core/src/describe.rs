//! The services of the cluster as a spec generator reads them (an OpenAPI or AsyncAPI
//! document, a gateway's routes): per action its full name, visibility, description, `rest`
//! routes and schemas; per event its payload schema.
//!
//! Everything is read from the INFO entries the registry holds, this node's included, so a
//! Rust action on another node (its schemas travel in INFO, see [`crate::schema`]) reads the
//! same as a local one, and a Moleculer.js action brings its `params` (fastest-validator) and
//! `rest` instead.

use crate::broker::Broker;
use crate::packet::{JsonMap, ServiceInfo};
use crate::schema::{DESCRIPTION, PARAMS_SCHEMA, PAYLOAD_SCHEMA, RESPONSE_SCHEMA};
use crate::service::Visibility;
use serde_json::Value;

/// A service of the cluster with its actions and events.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceDoc {
    /// Its name (`greeter`).
    pub name: String,
    /// Its full name (`v2.greeter`), which prefixes its action names.
    pub full_name: String,
    /// Its version as published (a number or a string).
    pub version: Option<Value>,
    /// The base paths of its actions' `rest` routes (`settings.rest`): usually one string;
    /// empty when it sets none (moleculer-web then uses the full name, `/v2/greeter`).
    pub rest: Vec<Value>,
    /// Its public settings.
    pub settings: JsonMap,
    /// Its metadata.
    pub metadata: JsonMap,
    /// The nodes serving it: this node first, then by ID (empty from [`ServiceDoc::from_info`]).
    pub nodes: Vec<String>,
    /// Whether this node serves it.
    pub local: bool,
    /// Its actions, in the order they were published.
    pub actions: Vec<ActionDoc>,
    /// Its event handlers, in the order they were published.
    pub events: Vec<EventDoc>,
}

/// One action, from its INFO entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionDoc {
    /// Full name (`v2.greeter.hello`): what callers call.
    pub name: String,
    /// Name inside the service (`hello`).
    pub raw_name: String,
    /// Who may call it; gateways expose only [`Visibility::Published`] actions.
    pub visibility: Visibility,
    /// What it does (a Rust action's doc comment).
    pub description: Option<String>,
    /// Its HTTP routes (`rest`), one item per route: a string such as `"GET /hello/:name"` or
    /// `"/hello"`, or an object `{method, path}` as Moleculer.js actions may publish.
    pub rest: Vec<Value>,
    /// JSON Schema (2020-12) of its params, from its Rust type (`paramsSchema`).
    pub params_schema: Option<Value>,
    /// JSON Schema (2020-12) of its result, from its Rust type (`responseSchema`).
    pub response_schema: Option<Value>,
    /// Moleculer's `params`: a fastest-validator schema, as Moleculer.js actions publish it.
    pub params: Option<Value>,
    /// The whole INFO entry, for keys not covered here.
    pub info: JsonMap,
}

/// One event handler, from its INFO entry.
#[derive(Debug, Clone, PartialEq)]
pub struct EventDoc {
    /// The event name or pattern (`user.created`, `user.*`).
    pub name: String,
    /// Its group, when published (it defaults to the service name).
    pub group: Option<String>,
    /// What it handles (a Rust handler's doc comment).
    pub description: Option<String>,
    /// JSON Schema (2020-12) of its payload, from its Rust type (`payloadSchema`).
    pub payload_schema: Option<Value>,
    /// Moleculer's `params` (fastest-validator), as Moleculer.js handlers may publish it.
    pub params: Option<Value>,
    /// The whole INFO entry, for keys not covered here.
    pub info: JsonMap,
}

impl ServiceDoc {
    /// Reads a service's INFO entry (as in [`crate::NodeRecord::services`]).
    pub fn from_info(info: &ServiceInfo) -> ServiceDoc {
        ServiceDoc {
            name: info.name.clone(),
            full_name: info.full_name.clone().unwrap_or_else(|| info.name.clone()),
            version: info.version.clone(),
            rest: one_or_many(info.settings.get("rest")),
            settings: info.settings.clone(),
            metadata: info.metadata.clone(),
            nodes: Vec::new(),
            local: false,
            actions: info
                .actions
                .iter()
                .map(|(name, entry)| ActionDoc::from_info(name, entry))
                .collect(),
            events: info
                .events
                .iter()
                .map(|(name, entry)| EventDoc::from_info(name, entry))
                .collect(),
        }
    }
}

impl ActionDoc {
    /// Reads an action's INFO entry, published under `name`.
    pub fn from_info(name: &str, entry: &Value) -> ActionDoc {
        let info = object(entry);
        let name = text(&info, "name").unwrap_or_else(|| name.to_owned());
        ActionDoc {
            raw_name: text(&info, "rawName")
                .unwrap_or_else(|| name.rsplit('.').next().unwrap_or(&name).to_owned()),
            name,
            visibility: text(&info, "visibility")
                .and_then(|v| Visibility::parse(&v))
                .unwrap_or_default(),
            description: text(&info, DESCRIPTION),
            rest: one_or_many(info.get("rest")),
            params_schema: present(&info, PARAMS_SCHEMA),
            response_schema: present(&info, RESPONSE_SCHEMA),
            params: present(&info, "params"),
            info,
        }
    }
}

impl EventDoc {
    /// Reads an event's INFO entry, published under `name`.
    pub fn from_info(name: &str, entry: &Value) -> EventDoc {
        let info = object(entry);
        EventDoc {
            name: text(&info, "name").unwrap_or_else(|| name.to_owned()),
            group: text(&info, "group"),
            description: text(&info, DESCRIPTION),
            payload_schema: present(&info, PAYLOAD_SCHEMA),
            params: present(&info, "params"),
            info,
        }
    }
}

impl Broker {
    /// The services of the cluster, this node's included, one per full name (a service on
    /// several nodes is read from this node if it serves it, else from the node first by
    /// ID), sorted by full name. What an API gateway builds its routes and specs from; call
    /// it again when services change (the `$services.changed` local event).
    ///
    /// ```
    /// use broker_core::{schemars, service, Broker, Error, JsonSchema};
    ///
    /// #[derive(serde::Deserialize, JsonSchema)]
    /// struct HelloParams {
    ///     name: String,
    /// }
    ///
    /// struct Greeter;
    ///
    /// #[service(name = "greeter")]
    /// impl Greeter {
    ///     /// Greets someone.
    ///     #[action(rest = "GET /hello/:name")]
    ///     async fn hello(&self, params: HelloParams) -> Result<String, Error> {
    ///         Ok(format!("Hello, {}!", params.name))
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Error> {
    /// let broker = Broker::builder().node_id("docs").build();
    /// broker.add_service(Greeter).await?;
    /// broker.start().await?;
    /// let services = broker.service_docs();
    /// let greeter = services.iter().find(|s| s.full_name == "greeter").expect("greeter");
    /// let hello = &greeter.actions[0];
    /// assert_eq!(hello.name, "greeter.hello");
    /// assert_eq!(hello.description.as_deref(), Some("Greets someone."));
    /// assert_eq!(hello.rest, [serde_json::json!("GET /hello/:name")]);
    /// let params = hello.params_schema.as_ref().expect("HelloParams derives JsonSchema");
    /// assert_eq!(params["properties"]["name"]["type"], "string");
    /// assert_eq!(hello.response_schema.as_ref().map(|s| &s["type"]), Some(&"string".into()));
    /// broker.stop().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn service_docs(&self) -> Vec<ServiceDoc> {
        self.collect_service_docs(false)
    }

    /// The services this node serves (once started), as [`Broker::service_docs`] reads them.
    pub fn local_service_docs(&self) -> Vec<ServiceDoc> {
        self.collect_service_docs(true)
    }

    fn collect_service_docs(&self, only_local: bool) -> Vec<ServiceDoc> {
        let state = self.inner.registry.read();
        let mut nodes: Vec<_> = state
            .nodes
            .values()
            .filter(|n| n.available && (n.local || !only_local))
            .collect();
        nodes.sort_by(|a, b| (!a.local, &a.id).cmp(&(!b.local, &b.id)));
        let mut docs: Vec<ServiceDoc> = Vec::new();
        for node in nodes {
            for service in &node.services {
                let full_name = service.full_name.as_deref().unwrap_or(&service.name);
                if let Some(doc) = docs.iter_mut().find(|d| d.full_name == full_name) {
                    doc.nodes.push(node.id.clone());
                    continue;
                }
                let mut doc = ServiceDoc::from_info(service);
                doc.nodes.push(node.id.clone());
                doc.local = node.local;
                docs.push(doc);
            }
        }
        docs.sort_by(|a, b| a.full_name.cmp(&b.full_name));
        docs
    }
}

fn object(entry: &Value) -> JsonMap {
    entry.as_object().cloned().unwrap_or_default()
}

fn text(info: &JsonMap, key: &str) -> Option<String> {
    info.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// The value of `key` unless absent or `null`.
fn present(info: &JsonMap, key: &str) -> Option<Value> {
    info.get(key).filter(|v| !v.is_null()).cloned()
}

/// A string-or-array property (`rest`) as a list; `null` and `false` are none.
fn one_or_many(value: Option<&Value>) -> Vec<Value> {
    match value {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(other) => vec![other.clone()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_moleculer_js_service_entry() {
        // As a Moleculer.js 0.15 node publishes it.
        let info: ServiceInfo = serde_json::from_value(json!({
            "name": "math",
            "version": 2,
            "fullName": "v2.math",
            "settings": {"rest": "/calc"},
            "metadata": {},
            "actions": {
                "v2.math.add": {
                    "rawName": "add",
                    "name": "v2.math.add",
                    "params": {"a": "number", "b": "number"},
                    "rest": {"method": "POST", "path": "/add"},
                    "visibility": "public"
                },
                "v2.math.neg": {"name": "v2.math.neg", "rest": ["GET /neg", "POST /neg"]}
            },
            "events": {"numbers.*": {"name": "numbers.*", "group": "math"}}
        }))
        .expect("INFO service");
        let doc = ServiceDoc::from_info(&info);
        assert_eq!(doc.full_name, "v2.math");
        assert_eq!(doc.version, Some(json!(2)));
        assert_eq!(doc.rest, [json!("/calc")]);
        let add = &doc.actions[0];
        assert_eq!(add.name, "v2.math.add");
        assert_eq!(add.raw_name, "add");
        assert_eq!(add.visibility, Visibility::Public);
        assert_eq!(add.params, Some(json!({"a": "number", "b": "number"})));
        assert_eq!(add.params_schema, None);
        assert_eq!(add.rest, [json!({"method": "POST", "path": "/add"})]);
        let neg = &doc.actions[1];
        assert_eq!(neg.raw_name, "neg");
        assert_eq!(neg.visibility, Visibility::Published);
        assert_eq!(neg.rest, [json!("GET /neg"), json!("POST /neg")]);
        assert_eq!(doc.events[0].name, "numbers.*");
        assert_eq!(doc.events[0].group.as_deref(), Some("math"));
    }

    #[test]
    fn reads_the_schema_keys_of_a_rust_entry() {
        let entry = json!({
            "name": "users.get",
            "rawName": "get",
            "description": "Finds a user.",
            "paramsSchema": {"type": "object"},
            "responseSchema": {},
        });
        let doc = ActionDoc::from_info("users.get", &entry);
        assert_eq!(doc.description.as_deref(), Some("Finds a user."));
        assert_eq!(doc.params_schema, Some(json!({"type": "object"})));
        assert_eq!(doc.response_schema, Some(json!({})));
        assert!(doc.rest.is_empty());
        let event = EventDoc::from_info(
            "user.created",
            &json!({"name": "user.created", "payloadSchema": {"title": "User"}}),
        );
        assert_eq!(event.payload_schema, Some(json!({"title": "User"})));
        assert_eq!(event.description, None);
    }
}
