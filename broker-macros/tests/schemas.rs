//! JSON Schemas from the Rust types of `#[action]` and `#[event]` methods: recorded on the
//! `ServiceSchema` when the service is described, and published in INFO for other nodes
//! (`paramsSchema`, `responseSchema`, `payloadSchema`, `description`).

mod common;

use broker_core::{
    schemars, service, Broker, Error, JsonSchema, MemoryBus, MemoryTransporter, Service,
};
use common::{bounded, call};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// Where a user lives.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct Address {
    street: String,
    city: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Role {
    Admin,
    Member,
}

// Some fields are only read through the schema.
#[allow(dead_code)]
#[derive(Debug, Deserialize, JsonSchema)]
struct CreateUser {
    name: String,
    address: Address,
    tags: Vec<String>,
    role: Role,
    nickname: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct User {
    id: u64,
    name: String,
    address: Address,
    role: Role,
}

/// No `JsonSchema`: such types still work, and simply have no schema.
#[derive(Debug, Serialize, Deserialize)]
struct Opaque {
    anything: u8,
}

type Res<T> = Result<T, Error>;

struct Users;

#[service(name = "users", version = 2)]
impl Users {
    /// Creates a user.
    ///
    /// Returns the stored user.
    #[action(rest = "POST /users")]
    async fn create(&self, params: CreateUser) -> Result<User, Error> {
        Ok(User {
            id: 1,
            name: params.name,
            address: params.address,
            role: params.role,
        })
    }

    #[action]
    async fn opaque(&self, params: Opaque) -> Result<Opaque, Error> {
        Ok(params)
    }

    #[action]
    async fn raw(&self, params: Value) -> Result<Value, Error> {
        Ok(params)
    }

    /// Internal notes, replaced by the `description` key.
    #[action(description = "Counts the users.")]
    async fn count(&self) -> Result<u32, Error> {
        Ok(3)
    }

    /// Internal notes, kept out of INFO by an empty `description`.
    #[action(description = "")]
    async fn unit(&self, _params: ()) -> Res<Vec<User>> {
        Ok(Vec::new())
    }

    /// A user signed up.
    #[event(name = "user.created")]
    async fn created(&self, _user: User) {}

    #[event(name = "user.removed", description = "A user left.")]
    async fn removed(&self, _user: Opaque) {}
}

fn schema() -> broker_core::ServiceSchema {
    Arc::new(Users).schema()
}

fn action<'a>(schema: &'a broker_core::ServiceSchema, name: &str) -> &'a broker_core::ActionDef {
    schema
        .actions
        .iter()
        .find(|a| a.name == name)
        .unwrap_or_else(|| panic!("no action {name}"))
}

#[test]
fn typed_params_and_results_carry_their_schemas() {
    let schema = schema();
    let create = action(&schema, "create");
    let params = create.params_schema.as_ref().expect("params schema");
    assert_eq!(params["title"], "CreateUser");
    assert_eq!(params["type"], "object");
    // Property order follows the struct; `Option` is not required.
    let keys: Vec<&String> = params["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .collect();
    assert_eq!(keys, ["name", "address", "tags", "role", "nickname"]);
    assert_eq!(
        params["required"],
        json!(["name", "address", "tags", "role"])
    );
    assert_eq!(
        params["properties"]["nickname"]["type"],
        json!(["string", "null"])
    );
    assert_eq!(
        params["properties"]["tags"],
        json!({"type": "array", "items": {"type": "string"}})
    );
    // Nested types are under the schema's own `$defs`, with their doc comments.
    assert_eq!(
        params["properties"]["address"],
        json!({"$ref": "#/$defs/Address"})
    );
    let address = &params["$defs"]["Address"];
    assert_eq!(address["description"], "Where a user lives.");
    assert_eq!(address["required"], json!(["street", "city"]));
    assert_eq!(params["$defs"]["Role"]["enum"], json!(["admin", "member"]));
    assert_eq!(params.get("$schema"), None, "not repeated on every action");

    let response = create.response_schema.as_ref().expect("response schema");
    assert_eq!(response["title"], "User");
    assert_eq!(response["properties"]["id"]["type"], "integer");
    assert_eq!(
        response["$defs"]["Role"]["enum"],
        json!(["admin", "member"])
    );

    assert_eq!(
        create.description.as_deref(),
        Some("Creates a user.\n\nReturns the stored user.")
    );
}

#[test]
fn types_without_json_schema_have_none() {
    let schema = schema();
    let opaque = action(&schema, "opaque");
    assert_eq!(opaque.params_schema, None);
    assert_eq!(opaque.response_schema, None);
    assert_eq!(opaque.description, None);
    let removed = schema
        .events
        .iter()
        .find(|e| e.name == "user.removed")
        .expect("user.removed");
    assert_eq!(removed.payload_schema, None);
}

#[test]
fn value_is_anything_and_no_params_is_no_schema() {
    let schema = schema();
    let raw = action(&schema, "raw");
    assert_eq!(raw.params_schema, Some(json!({})));
    assert_eq!(raw.response_schema, Some(json!({})));

    let count = action(&schema, "count");
    assert_eq!(count.params_schema, None);
    let count_result = count.response_schema.as_ref().expect("u32 has a schema");
    assert_eq!(count_result["type"], "integer");
    assert_eq!(count_result["minimum"], 0);

    // `()` params are no params; a `Result` alias still names its success type.
    let unit = action(&schema, "unit");
    assert_eq!(unit.params_schema, None);
    let list = unit
        .response_schema
        .as_ref()
        .expect("Vec<User> has a schema");
    assert_eq!(list["type"], "array");
    assert_eq!(list["items"], json!({"$ref": "#/$defs/User"}));
}

#[test]
fn the_description_key_replaces_the_doc_comment() {
    let schema = schema();
    assert_eq!(
        action(&schema, "count").description.as_deref(),
        Some("Counts the users.")
    );
    assert_eq!(action(&schema, "unit").description, None);
    let removed = schema
        .events
        .iter()
        .find(|e| e.name == "user.removed")
        .expect("user.removed");
    assert_eq!(removed.description.as_deref(), Some("A user left."));
}

#[test]
fn event_payloads_carry_their_schemas() {
    let schema = schema();
    let created = schema
        .events
        .iter()
        .find(|e| e.name == "user.created")
        .expect("user.created");
    let payload = created.payload_schema.as_ref().expect("payload schema");
    assert_eq!(payload["title"], "User");
    assert_eq!(created.description.as_deref(), Some("A user signed up."));
}

fn node(bus: &Arc<MemoryBus>, id: &str) -> Broker {
    Broker::builder()
        .node_id(id)
        .namespace("macros-schemas")
        .transporter(MemoryTransporter::on_bus(bus.clone()))
        .heartbeat_interval(Duration::from_millis(100))
        .build()
}

#[tokio::test]
async fn remote_nodes_see_the_schemas_in_info() {
    let bus = MemoryBus::new();
    let host = node(&bus, "host");
    host.add_service(Users).await.expect("add users");
    bounded(host.start()).await.expect("start host");
    let peer = node(&bus, "peer");
    bounded(peer.start()).await.expect("start peer");
    bounded(peer.wait_for_services(&["v2.users"], Duration::from_secs(5)))
        .await
        .expect("users seen");

    // What the peer decoded from the host's INFO.
    let services: Value = call(
        &peer,
        "$node.services",
        json!({ "withActions": true, "withEvents": true, "skipInternal": true }),
    )
    .await
    .expect("$node.services");
    let users = services
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["fullName"] == "v2.users" && s["nodes"] == json!(["host"]))
        .cloned()
        .unwrap_or_else(|| panic!("v2.users not seen by the peer: {services}"));
    let expected = Arc::new(Users).schema();
    let create = &users["actions"]["v2.users.create"];
    assert_eq!(
        Some(&create["paramsSchema"]),
        action(&expected, "create").params_schema.as_ref()
    );
    assert_eq!(
        Some(&create["responseSchema"]),
        action(&expected, "create").response_schema.as_ref()
    );
    assert_eq!(
        create["description"],
        "Creates a user.\n\nReturns the stored user."
    );
    assert_eq!(create["rest"], "POST /users");
    // Moleculer's own `params`: the same schema in fastest-validator form.
    assert_eq!(
        create["params"],
        json!({
            "name": "string",
            "address": {"type": "object", "props": {"street": "string", "city": "string"}},
            "tags": {"type": "array", "items": "string"},
            "role": {"type": "enum", "values": ["admin", "member"]},
            "nickname": {"type": "string", "nullable": true, "optional": true}
        })
    );

    // Absent, not null, without a schema or a doc comment.
    let opaque = users["actions"]["v2.users.opaque"]
        .as_object()
        .expect("opaque");
    for key in ["paramsSchema", "responseSchema", "description"] {
        assert!(!opaque.contains_key(key), "{key} in {opaque:?}");
    }
    assert_eq!(users["actions"]["v2.users.raw"]["paramsSchema"], json!({}));

    let created = &users["events"]["user.created"];
    assert_eq!(created["payloadSchema"]["title"], "User");
    assert_eq!(created["description"], "A user signed up.");
    let removed = users["events"]["user.removed"]
        .as_object()
        .expect("user.removed");
    assert!(!removed.contains_key("payloadSchema"), "{removed:?}");

    // The same through the API a gateway walks, on either side.
    let docs = peer.service_docs();
    let remote = docs
        .iter()
        .find(|s| s.full_name == "v2.users")
        .expect("v2.users in the peer's service docs");
    assert!(!remote.local);
    assert_eq!(remote.nodes, ["host"]);
    let local = host
        .local_service_docs()
        .into_iter()
        .find(|s| s.full_name == "v2.users")
        .expect("v2.users in the host's local service docs");
    assert!(local.local);
    assert_eq!(remote.actions, local.actions);
    assert_eq!(remote.events, local.events);
    let create = remote
        .actions
        .iter()
        .find(|a| a.name == "v2.users.create")
        .expect("create");
    assert_eq!(create.raw_name, "create");
    assert_eq!(create.rest, [json!("POST /users")]);
    assert_eq!(
        create.params_schema.as_ref(),
        action(&expected, "create").params_schema.as_ref()
    );
    assert_eq!(
        create.response_schema.as_ref(),
        action(&expected, "create").response_schema.as_ref()
    );
    let created = remote
        .events
        .iter()
        .find(|e| e.name == "user.created")
        .expect("user.created");
    assert_eq!(
        created.payload_schema.as_ref().map(|s| &s["title"]),
        Some(&json!("User"))
    );
    assert!(peer
        .local_service_docs()
        .iter()
        .all(|s| s.full_name != "v2.users"));

    // The schemas change nothing about calling.
    let user: User = call(
        &peer,
        "v2.users.create",
        json!({
            "name": "Ada",
            "address": {"street": "1 Main St", "city": "London"},
            "tags": [],
            "role": "admin"
        }),
    )
    .await
    .expect("create");
    assert_eq!(user.name, "Ada");

    bounded(peer.stop()).await.expect("stop peer");
    bounded(host.stop()).await.expect("stop host");
}
