//! Routes, aliases, whitelists, mapping policies, autoAliases and params, over real HTTP.

mod common;

use broker_core::{ActionDef, Context, Error, ServiceSchema, Visibility};
use broker_web::{MappingPolicy, Route};
use bytes::Bytes;
use common::{eventually, Cluster};
use hyper::{Method, StatusCode};
use serde_json::{json, Value};

/// A service whose actions answer `{action, params}`.
fn echo(name: &str, actions: &[&str]) -> ServiceSchema {
    let mut schema = ServiceSchema::new(name);
    for a in actions {
        schema = schema.action(ActionDef::new(*a, |ctx: Context| async move {
            Ok::<Value, Error>(json!({"action": ctx.action(), "params": ctx.params()}))
        }));
    }
    schema
}

const USERS: &[&str] = &["list", "get", "create", "update", "patch", "remove"];

#[tokio::test]
async fn aliases_rest_and_wildcards_reach_their_actions() {
    let cluster = Cluster::new();
    let gw = cluster
        .gateway(vec![echo("users", USERS), echo("files", &["read"])], |b| {
            b.route(
                Route::new("/api")
                    .alias("GET /people/:id", "users.get")
                    .alias("REST /users", "users")
                    .alias("GET /files/*path", "files.read"),
            )
        })
        .await;

    let a = gw.get("/api/people/7").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.json(),
        json!({"action": "users.get", "params": {"id": "7"}})
    );

    for (method, path, action) in [
        (Method::GET, "/api/users", "users.list"),
        (Method::GET, "/api/users/3", "users.get"),
        (Method::POST, "/api/users", "users.create"),
        (Method::PUT, "/api/users/3", "users.update"),
        (Method::PATCH, "/api/users/3", "users.patch"),
        (Method::DELETE, "/api/users/3", "users.remove"),
    ] {
        let a = gw.send(method.clone(), path, &[], Bytes::new()).await;
        assert_eq!(a.status, StatusCode::OK, "{method} {path}: {}", a.text());
        assert_eq!(a.json()["action"], action, "{method} {path}");
    }

    // The alias list, as moleculer-web's `listAliases` gives it, for tools and specs.
    let list: Value = gw
        .broker
        .call("api.listAliases", json!({}))
        .await
        .expect("listAliases");
    let list = list.as_array().cloned().unwrap_or_default();
    assert_eq!(list.len(), 8);
    assert!(
        list.contains(&json!({"actionName": "users.get", "path": "/people/:id",
        "fullPath": "/api/people/:id", "methods": "GET", "routePath": "/api"}))
    );
    assert_eq!(gw.gateway.aliases().len(), 8);

    let a = gw.get("/api/files/docs/read%20me.txt").await;
    assert_eq!(a.json()["params"], json!({"path": "docs/read me.txt"}));
    gw.broker.stop().await.expect("stopped");
}

#[tokio::test]
async fn whitelist_and_mapping_policy_decide_direct_calls() {
    let cluster = Cluster::new();
    let hidden = ServiceSchema::new("vault").action(
        ActionDef::new("peek", |_ctx: Context| async {
            Ok::<Value, Error>(json!(1))
        })
        .visibility(Visibility::Public),
    );
    let gw = cluster
        .gateway(
            vec![echo("users", USERS), echo("admin", &["wipe"]), hidden],
            |b| {
                b.route(
                    Route::new("/api")
                        .whitelist(["users.*", "vault.*"])
                        .whitelist([regex::Regex::new("^\\$node\\.(list|health)$").expect("re")]),
                )
                .route(
                    Route::new("/strict")
                        .alias("GET /everyone", "users.list")
                        .mapping_policy(MappingPolicy::Restrict),
                )
            },
        )
        .await;

    // mappingPolicy "all": the path names the action.
    let a = gw.get("/api/users/get?id=5").await;
    assert_eq!(
        a.json(),
        json!({"action": "users.get", "params": {"id": "5"}})
    );
    // `~node` is `$node`, allowed by the regex entry.
    assert_eq!(gw.get("/api/~node/health").await.status, StatusCode::OK);
    // Outside the whitelist: ServiceNotFoundError.
    let a = gw.get("/api/admin/wipe").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.json()["name"], "ServiceNotFoundError");
    assert_eq!(a.json()["data"]["action"], "admin.wipe");
    // Whitelisted but not published: never exposed.
    assert_eq!(
        gw.get("/api/vault/peek").await.json()["name"],
        "ServiceNotFoundError"
    );
    // Restrict: only aliases.
    assert_eq!(
        gw.get("/strict/everyone").await.json()["action"],
        "users.list"
    );
    let a = gw.get("/strict/users/list").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(
        a.json(),
        json!({"name": "NotFoundError", "message": "Not found", "code": 404, "type": "NOT_FOUND"})
    );
    gw.broker.stop().await.expect("stopped");
}

#[tokio::test]
async fn auto_aliases_follow_the_registry() {
    let cluster = Cluster::new();
    // A slow `started` hook: registered after the gateway's own hook returned.
    let local = ServiceSchema::new("local")
        .on_started(|| async {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            Ok(())
        })
        .action(
            ActionDef::new("here", |_ctx: Context| async {
                Ok::<Value, Error>(json!("here"))
            })
            .info("rest", json!("/here")),
        );
    let gw = cluster
        .gateway(vec![local], |b| {
            b.route(
                Route::new("/api")
                    .auto_aliases(true)
                    .mapping_policy(MappingPolicy::Restrict),
            )
        })
        .await;
    assert_eq!(
        gw.get("/api/greeter/hello/Ann").await.status,
        StatusCode::NOT_FOUND
    );
    // The gateway node's own services count too (a path-only `rest` takes any method),
    // even those whose `started` hook returns after the gateway's.
    eventually("the local auto-alias", || async {
        gw.send(Method::DELETE, "/api/local/here", &[], Bytes::new())
            .await
            .status
            == StatusCode::OK
    })
    .await;

    // A remote node brings actions that declare their routes.
    let greeter = ServiceSchema::new("greeter")
        .action(
            ActionDef::new("hello", |ctx: Context| async move {
                Ok::<Value, Error>(json!(format!(
                    "Hello, {}!",
                    ctx.params()["name"].as_str().unwrap_or("?")
                )))
            })
            .info("rest", json!("GET /hello/:name")),
        )
        .action(
            ActionDef::new("many", |_ctx: Context| async {
                Ok::<Value, Error>(json!("many"))
            })
            .info(
                "rest",
                json!(["POST /many", {"method": "PUT", "path": "/other"}]),
            ),
        );
    let people = ServiceSchema::new("people")
        .version(2)
        .settings(json!({"rest": "/folks"}))
        .action(
            ActionDef::new("list", |_ctx: Context| async {
                Ok::<Value, Error>(json!(["ann"]))
            })
            .info("rest", json!("GET /")),
        );
    let remote = cluster.node("remote", vec![greeter, people]).await;
    eventually("auto-aliases of the remote node", || async {
        gw.get("/api/greeter/hello/Ann").await.status == StatusCode::OK
    })
    .await;
    assert_eq!(
        gw.get("/api/greeter/hello/Ann").await.json(),
        json!("Hello, Ann!")
    );
    let a = gw
        .send(Method::POST, "/api/greeter/many", &[], Bytes::new())
        .await;
    assert_eq!(a.json(), json!("many"));
    let a = gw
        .send(Method::PUT, "/api/greeter/other", &[], Bytes::new())
        .await;
    assert_eq!(a.json(), json!("many"));
    assert_eq!(gw.get("/api/folks").await.json(), json!(["ann"]));
    let listed: usize = gw.gateway.auto_aliases().iter().map(Vec::len).sum();
    // The gateway's own `listAliases` declares `GET /list-aliases`, as moleculer-web's.
    assert_eq!(listed, 6);
    let a = gw.get("/api/api/list-aliases").await;
    assert_eq!(a.json().as_array().map(Vec::len), Some(6));

    // The node leaves: its aliases go with it.
    remote.stop().await.expect("remote stopped");
    eventually("auto-aliases removed", || async {
        gw.get("/api/greeter/hello/Ann").await.status == StatusCode::NOT_FOUND
    })
    .await;
    gw.broker.stop().await.expect("stopped");
}

#[tokio::test]
async fn params_merge_body_then_query_then_path() {
    let cluster = Cluster::new();
    let gw = cluster
        .gateway(vec![echo("users", USERS), echo("files", &["save"])], |b| {
            b.route(
                Route::new("/api")
                    .alias("POST /users/:id", "users.update")
                    .alias("POST /upload/:name", "stream:files.save"),
            )
        })
        .await;

    let a = gw
        .send_json(
            Method::POST,
            "/api/users/7?b=query&id=query&f[x]=1&f[y][]=2&f[y][]=3",
            json!({"a": "body", "b": "body", "id": "body", "n": 5}),
        )
        .await;
    assert_eq!(
        a.json()["params"],
        json!({"a": "body", "b": "query", "id": "7", "n": 5, "f": {"x": "1", "y": ["2", "3"]}})
    );

    let a = gw
        .send(
            Method::POST,
            "/api/users/8",
            &[("content-type", "application/x-www-form-urlencoded")],
            Bytes::from_static(b"name=Ann+Lee&tags[]=a&tags[]=b"),
        )
        .await;
    assert_eq!(
        a.json()["params"],
        json!({"name": "Ann Lee", "tags": ["a", "b"], "id": "8"})
    );

    // A raw-body alias gets the bytes, base64-encoded, untouched by any parser.
    let a = gw
        .send(
            Method::POST,
            "/api/upload/pic.png?w=2",
            &[("content-type", "image/png")],
            Bytes::from_static(&[0x89, b'P', b'N', b'G', 0, 255]),
        )
        .await;
    assert_eq!(
        a.json()["params"],
        json!({"w": "2", "name": "pic.png", "$body": "iVBORwD/"})
    );
    gw.broker.stop().await.expect("stopped");
}
