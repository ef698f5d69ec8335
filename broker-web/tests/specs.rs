//! The generated specs: OpenAPI 3.1 at `/openapi.json`, AsyncAPI 3.0 at `/asyncapi.json` and
//! the offline docs page at `/docs` (rendered in headless Chromium when it is installed).

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use broker_core::{
    params_schema_for, response_schema_for, schemars, ActionDef, Context, Error, EventDef,
    JsonSchema, ServiceSchema,
};
use broker_web::{BearerToken, MappingPolicy, RateLimit, Route};
use common::{eventually, Cluster, Gw};
use hyper::StatusCode;
use serde_json::{json, Value};

/// Params of `greeter.hello`.
#[derive(JsonSchema)]
#[allow(dead_code)]
struct HelloParams {
    /// Who to greet.
    name: String,
    /// The word to greet with.
    greeting: Option<String>,
}

/// Someone.
#[derive(JsonSchema)]
#[allow(dead_code)]
struct Person {
    name: String,
}

/// The answer of `greeter.hello`.
#[derive(JsonSchema)]
#[allow(dead_code)]
struct Greeting {
    text: String,
    to: Person,
}

mod users {
    use super::{schemars, JsonSchema};

    /// Another `Person`, shaped differently: its name must not clash with the greeter's.
    #[derive(JsonSchema)]
    #[allow(dead_code)]
    pub(super) struct Person {
        pub(super) id: u64,
        pub(super) email: String,
    }

    /// Params of `users.create`.
    #[derive(JsonSchema)]
    #[allow(dead_code)]
    pub(super) struct CreateUser {
        pub(super) person: Person,
        pub(super) admin: bool,
    }
}

/// Payload of `user.created`.
#[derive(JsonSchema)]
#[allow(dead_code)]
struct UserCreated {
    id: u64,
    who: Person,
}

fn greeter() -> ServiceSchema {
    ServiceSchema::new("greeter")
        .action(
            ActionDef::new("hello", |ctx: Context| async move {
                let name = ctx.params()["name"].as_str().unwrap_or("nobody").to_owned();
                Ok::<Value, Error>(json!({"text": format!("Hello, {name}!"), "to": {"name": name}}))
            })
            .rest("GET /hello/:name")
            .description("Greets someone.\n\nPolitely.")
            .params_schema(params_schema_for::<HelloParams>())
            .response_schema(response_schema_for::<Greeting>()),
        )
        .event(
            EventDef::new("user.created", |_ctx| async { Ok::<(), Error>(()) })
                .payload_schema_of::<UserCreated>(),
        )
}

fn users() -> ServiceSchema {
    let mut s = ServiceSchema::new("users");
    for a in ["list", "get", "update", "patch", "remove"] {
        s = s.action(ActionDef::new(a, |ctx: Context| async move {
            Ok::<Value, Error>(json!({"params": ctx.params()}))
        }));
    }
    s.action(
        ActionDef::new("create", |ctx: Context| async move {
            Ok::<Value, Error>(ctx.params().clone())
        })
        .params_schema(params_schema_for::<users::CreateUser>()),
    )
}

/// Published as a Moleculer.js service publishes it: fastest-validator `params`, no schemas.
fn math() -> ServiceSchema {
    ServiceSchema::new("math").action(
        ActionDef::new("add", |ctx: Context| async move {
            let a = ctx.params()["a"].as_f64().unwrap_or(0.0);
            let b = ctx.params()["b"].as_f64().unwrap_or(0.0);
            Ok::<Value, Error>(json!(a + b))
        })
        .info(
            "params",
            json!({"a": "number", "b": {"type": "number", "optional": true}, "cb": "function"}),
        ),
    )
}

fn files() -> ServiceSchema {
    ServiceSchema::new("files")
        .action(ActionDef::new("read", |ctx: Context| async move {
            Ok::<Value, Error>(ctx.params().clone())
        }))
        .action(ActionDef::new("save", |_ctx: Context| async move {
            Ok::<Value, Error>(json!({"saved": true}))
        }))
}

/// A node with the services and a gateway over them, plus a remote node with an event.
async fn setup(cluster: &Cluster) -> (Gw, broker_core::Broker) {
    let remote = cluster
        .node(
            "orders-node",
            vec![
                ServiceSchema::new("orders").event(EventDef::new("order.*", |_ctx| async {
                    Ok::<(), Error>(())
                })),
            ],
        )
        .await;
    let gw = cluster
        .gateway(vec![greeter(), users(), math(), files()], |b| {
            b.route(
                Route::new("/api")
                    .alias("REST /users", "users")
                    .alias("POST /math/add", "math.add")
                    .alias("GET /files/*path", "files.read")
                    .alias("POST /upload", "stream:files.save")
                    .alias("POST /form", "multipart:files.save")
                    .alias("GET /secret", "hidden.nothing")
                    .alias("PURGE /cache", "files.read")
                    .whitelist(["greeter.*", "users.*", "math.*", "files.*"])
                    .mapping_policy(MappingPolicy::Restrict)
                    .auto_aliases(true),
            )
            .route(
                Route::new("/admin")
                    .alias("GET /greet/:name", "greeter.hello")
                    .bearer_token(BearerToken::new("s3cret"))
                    .rate_limit(RateLimit::new(1000, Duration::from_secs(60)))
                    .mapping_policy(MappingPolicy::Restrict),
            )
            .route(Route::new("/rpc").whitelist(["math.*"]))
        })
        .await;
    let b = gw.broker.clone();
    eventually("the remote orders service is known", || {
        let b = b.clone();
        async move { b.service_docs().iter().any(|s| s.full_name == "orders") }
    })
    .await;
    (gw, remote)
}

/// Every `$ref` of `doc`, with where it is.
fn refs(value: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref" {
                    out.push((
                        at.to_owned(),
                        v.as_str().unwrap_or("<not a string>").to_owned(),
                    ));
                } else {
                    refs(v, &format!("{at}/{k}"), out);
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                refs(v, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Every `$ref` points inside the document, and no `$defs` is left anywhere.
fn assert_refs_resolve(doc: &Value) {
    let mut all = Vec::new();
    refs(doc, "", &mut all);
    assert!(!all.is_empty(), "no $ref at all");
    for (at, r) in &all {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{at}: external ref {r}"));
        assert!(doc.pointer(pointer).is_some(), "{at}: {r} does not resolve");
    }
    assert!(!doc.to_string().contains("\"$defs\""), "a $defs is left");
}

#[tokio::test]
async fn openapi_documents_every_alias_with_its_schemas() {
    let cluster = Cluster::new();
    let (gw, remote) = setup(&cluster).await;
    let a = gw.get("/openapi.json").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json")));
    let doc = a.json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_refs_resolve(&doc);
    let paths = doc["paths"].as_object().expect("paths");

    // Every path param of a path is declared by each of its operations, and the other way.
    for (path, item) in paths {
        let in_path: BTreeSet<String> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}').map(str::to_owned))
            .collect();
        for (method, op) in item.as_object().expect("path item") {
            let declared: BTreeSet<String> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "path")
                        .filter_map(|p| p["name"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(in_path, declared, "{method} {path}");
            assert!(op["operationId"].is_string(), "{method} {path}");
            for code in ["200", "404", "500"] {
                assert!(op["responses"][code].is_object(), "{method} {path} {code}");
            }
        }
    }
    let mut ids = Vec::new();
    for item in paths.values() {
        for op in item.as_object().expect("path item").values() {
            ids.push(op["operationId"].as_str().unwrap_or_default().to_owned());
        }
    }
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "operationIds are unique: {ids:?}");

    // The auto-alias of a Rust action: path param, query param, response with its types.
    let hello = &doc["paths"]["/api/greeter/hello/{name}"]["get"];
    assert_eq!(hello["operationId"], "greeter.hello");
    assert_eq!(hello["summary"], "Greets someone.");
    assert_eq!(hello["description"], "Greets someone.\n\nPolitely.");
    assert_eq!(hello["tags"], json!(["greeter"]));
    let params = hello["parameters"].as_array().expect("parameters");
    assert!(
        params.contains(&json!({"name": "name", "in": "path", "required": true,
        "schema": {"type": "string", "description": "Who to greet."}})),
        "{params:?}"
    );
    let greeting = params
        .iter()
        .find(|p| p["name"] == "greeting")
        .expect("greeting");
    assert_eq!(greeting["in"], "query");
    assert_eq!(greeting["required"], false);
    let ok = &hello["responses"]["200"]["content"]["application/json"]["schema"];
    assert_eq!(
        ok["properties"]["to"]["$ref"],
        "#/components/schemas/Person"
    );
    assert_eq!(
        doc["components"]["schemas"]["Person"]["properties"]["name"]["type"],
        "string"
    );
    assert!(hello.get("requestBody").is_none());
    assert!(hello["responses"].get("401").is_none());

    // The same `Person` name with another shape, from another service: renamed, not merged.
    let create = &doc["paths"]["/api/users"]["post"];
    assert_eq!(create["operationId"], "users.create");
    let body = &create["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(
        body["properties"]["person"]["$ref"],
        "#/components/schemas/users_Person"
    );
    assert_eq!(create["requestBody"]["required"], true);
    let users_person = &doc["components"]["schemas"]["users_Person"];
    assert_eq!(users_person["properties"]["email"]["type"], "string");
    for (path, method, id) in [
        ("/api/users", "get", "users.list"),
        ("/api/users/{id}", "get", "users.get"),
        ("/api/users/{id}", "put", "users.update"),
        ("/api/users/{id}", "patch", "users.patch"),
        ("/api/users/{id}", "delete", "users.remove"),
    ] {
        let op = &doc["paths"][path][method];
        assert_eq!(op["operationId"], id, "{method} {path}");
        // No schema published: `{}` that says so.
        let ok = &op["responses"]["200"]["content"]["application/json"]["schema"];
        assert!(
            ok["description"]
                .as_str()
                .is_some_and(|d| d.starts_with("Unknown")),
            "{ok}"
        );
    }

    // A JS-style action: its fastest-validator params as far as they map.
    let add = &doc["paths"]["/api/math/add"]["post"];
    let body = &add["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(body["properties"]["a"], json!({"type": "number"}));
    assert_eq!(body["required"], json!(["a", "cb"]));
    assert!(body["properties"]["cb"]["description"]
        .as_str()
        .is_some_and(|d| d.contains("Unknown")));
    for code in ["400", "413", "422"] {
        assert!(add["responses"][code].is_object(), "{code}");
    }

    // Wildcards and raw bodies.
    let read = &doc["paths"]["/api/files/{path}"]["get"];
    assert_eq!(read["parameters"][0]["name"], "path");
    assert!(read["parameters"][0]["description"]
        .as_str()
        .is_some_and(|d| d.contains("slashes")));
    let upload = &doc["paths"]["/api/upload"]["post"];
    assert!(upload["requestBody"]["content"]["*/*"].is_object());
    let form = &doc["paths"]["/api/form"]["post"];
    assert!(form["requestBody"]["content"]["multipart/form-data"]["schema"].is_object());
    assert!(form["responses"]["413"].is_object());

    // Bearer routes: the scheme, 401/403, and 429 for the rate limit; a second operation of
    // the same action gets a suffixed operationId.
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"],
        json!({"type": "http", "scheme": "bearer"})
    );
    let admin = &doc["paths"]["/admin/greet/{name}"]["get"];
    assert_eq!(admin["operationId"], "greeter.hello_2");
    assert_eq!(admin["security"], json!([{"bearer": []}]));
    for code in ["401", "403", "429"] {
        assert_eq!(
            admin["responses"][code]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/MoleculerError",
            "{code}"
        );
    }
    // Direct mapping of a route with `MappingPolicy::All`, limited by its whitelist.
    assert!(doc["paths"]["/rpc/math/add"]["post"].is_object());
    assert!(doc["paths"].get("/rpc/greeter/hello").is_none());
    // An alias of an action outside the whitelist is not reachable, so not documented.
    assert!(doc["paths"].get("/api/secret").is_none());
    // A method OpenAPI has no key for is left out.
    assert!(doc["paths"].get("/api/cache").is_none());
    assert_eq!(
        doc["components"]["schemas"]["MoleculerError"]["required"],
        json!(["name", "message", "code"])
    );

    // The document is what `ApiGateway::openapi` gives.
    assert_eq!(gw.gateway.openapi(), doc);
    validate_with_openapi_spec_validator(&doc);
    gw.broker.stop().await.expect("stop");
    remote.stop().await.expect("stop");
}

/// Runs PyPI's `openapi-spec-validator` on the document when it is installed.
fn validate_with_openapi_spec_validator(doc: &Value) {
    let probe = Command::new("python3")
        .args(["-c", "import openapi_spec_validator"])
        .stderr(Stdio::null())
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!(
            "skipped: openapi-spec-validator not installed (pip install openapi-spec-validator)"
        );
        return;
    }
    let file = std::env::temp_dir().join(format!("broker-web-openapi-{}.json", std::process::id()));
    std::fs::write(&file, doc.to_string()).expect("write the document");
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys\n\
             from openapi_spec_validator import validate\n\
             validate(json.load(open(sys.argv[1])))\n\
             print('valid')",
        ])
        .arg(&file)
        .output()
        .expect("python3 runs");
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "openapi-spec-validator: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn asyncapi_lists_the_events_of_the_cluster() {
    let cluster = Cluster::new();
    let (gw, remote) = setup(&cluster).await;
    let a = gw.get("/asyncapi.json").await;
    assert_eq!(a.status, StatusCode::OK);
    let doc = a.json();
    assert_eq!(doc["asyncapi"], "3.0.0");
    assert_refs_resolve(&doc);
    // A local handler with a payload type.
    let created = &doc["channels"]["user.created"];
    assert_eq!(created["address"], "user.created");
    let message = &doc["components"]["messages"]["user.created"];
    assert_eq!(message["name"], "user.created");
    assert_eq!(message["payload"]["properties"]["id"]["type"], "integer");
    assert_eq!(
        message["payload"]["properties"]["who"]["$ref"],
        "#/components/schemas/Person"
    );
    let op = &doc["operations"]["greeter.on.user.created"];
    assert_eq!(op["action"], "receive");
    assert_eq!(op["channel"]["$ref"], "#/channels/user.created");
    // A handler on another node, a pattern, without a schema.
    let orders = doc["channels"]
        .as_object()
        .expect("channels")
        .values()
        .find(|c| c["address"] == "order.*")
        .expect("the remote node's event");
    let msg_ref = orders["messages"]
        .as_object()
        .and_then(|m| m.values().next())
        .and_then(|m| m["$ref"].as_str())
        .expect("message ref");
    let msg = doc
        .pointer(msg_ref.trim_start_matches('#'))
        .expect("message");
    assert!(msg["payload"]["description"]
        .as_str()
        .is_some_and(|d| d.starts_with("Unknown")));
    // The memory transporter has no address: no servers.
    assert!(doc.get("servers").is_none());
    // The gateway's own `$services.changed` handler is for a node-local event: left out.
    let addresses: Vec<&Value> = doc["channels"]
        .as_object()
        .expect("channels")
        .values()
        .map(|c| &c["address"])
        .collect();
    assert_eq!(addresses.len(), 2, "{addresses:?}");
    assert_eq!(gw.gateway.asyncapi(), doc);
    validate_with_asyncapi_parser(&doc);
    gw.broker.stop().await.expect("stop");
    remote.stop().await.expect("stop");
}

/// Runs npm's `@asyncapi/parser` (pinned in interop/package.json) on the document: the
/// AsyncAPI initiative's own parser and its validation rules; any error-level diagnostic
/// fails. Skipped with a message when node or the package is not installed.
fn validate_with_asyncapi_parser(doc: &Value) {
    let modules = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../interop/node_modules");
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .status();
    if !node.is_ok_and(|s| s.success()) || !modules.join("@asyncapi/parser").is_dir() {
        eprintln!("skipped: node or @asyncapi/parser not installed (cd interop && npm ci)");
        return;
    }
    let file =
        std::env::temp_dir().join(format!("broker-web-asyncapi-{}.json", std::process::id()));
    std::fs::write(&file, doc.to_string()).expect("write the document");
    let script = r#"
        const { Parser } = require("@asyncapi/parser");
        const text = require("fs").readFileSync(process.argv[1], "utf8");
        new Parser().parse(text).then(({ document, diagnostics }) => {
            for (const d of diagnostics)
                console.log(`severity ${d.severity} ${d.code} at ${JSON.stringify(d.path)}: ${d.message}`);
            const errors = diagnostics.filter(d => d.severity === 0);
            if (!document || errors.length) process.exit(1);
            console.log(`valid AsyncAPI ${document.version()}`);
        }, err => { console.error(err); process.exit(2); });
    "#;
    let run = Command::new("node")
        .args(["-e", script])
        .arg(&file)
        .env("NODE_PATH", &modules)
        .output();
    let _ = std::fs::remove_file(&file);
    let out = run.expect("node runs");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "@asyncapi/parser refuses the document:\n{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(report.contains("valid AsyncAPI 3.0.0"), "{report}");
    eprintln!("@asyncapi/parser:\n{report}");
}

#[tokio::test]
async fn specs_can_move_or_be_turned_off() {
    let cluster = Cluster::new();
    let gw = cluster
        .gateway(vec![greeter()], |b| {
            b.specs(false)
                .openapi_path("/spec/openapi.json")
                .route(Route::new("/api").auto_aliases(true))
        })
        .await;
    assert_eq!(gw.get("/openapi.json").await.status, StatusCode::NOT_FOUND);
    assert_eq!(gw.get("/asyncapi.json").await.status, StatusCode::NOT_FOUND);
    // No docs page without its path (turned off with the rest).
    assert_eq!(gw.get("/docs").await.status, StatusCode::NOT_FOUND);
    let a = gw.get("/spec/openapi.json").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()["openapi"], "3.1.0");
    gw.broker.stop().await.expect("stop");
}

/// Runs headless Chromium on `url` and returns the DOM after scripts ran; `None` when
/// Chromium is not installed.
fn chromium_dom(url: &str) -> Option<String> {
    let found = Command::new("sh")
        .args(["-c", "command -v chromium"])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        return None;
    }
    let profile = std::env::temp_dir().join(format!(
        "broker-web-chromium-{}-{}",
        std::process::id(),
        url.len()
    ));
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--virtual-time-budget=3000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    let stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chromium did not finish within 60 s on {url}");
            }
        }
    }
    let dom = reader.join().unwrap_or_default();
    let _ = std::fs::remove_dir_all(&profile);
    Some(dom)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_page_lists_routes_and_tries_one_in_chromium() {
    let cluster = Cluster::new();
    let (gw, remote) = setup(&cluster).await;
    let page = gw.get("/docs").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(
        html.contains("\"/openapi.json\""),
        "the page reads the spec from its path"
    );
    // Offline: no asset from anywhere else.
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "external URL in the page"
    );

    let listing_url = gw.url("/docs");
    let listing = tokio::task::spawn_blocking(move || chromium_dom(&listing_url))
        .await
        .expect("chromium task");
    let Some(dom) = listing else {
        eprintln!("skipped: chromium not installed (apt-get install -y chromium)");
        gw.broker.stop().await.expect("stop");
        remote.stop().await.expect("stop");
        return;
    };
    for id in [
        "greeter.hello",
        "users.create",
        "users.list",
        "math.add",
        "greeter.hello_2",
    ] {
        assert!(
            dom.contains(&format!("data-operation=\"{id}\"")),
            "{id} not listed:\n{dom}"
        );
    }
    assert!(dom.contains("/api/greeter/hello/{name}"), "path not listed");

    let try_url = gw.url("/docs?try=greeter.hello&params=%7B%22name%22%3A%22Ada%22%7D");
    let tried = tokio::task::spawn_blocking(move || chromium_dom(&try_url))
        .await
        .expect("chromium task")
        .expect("chromium still installed");
    assert!(
        tried.contains("GET /api/greeter/hello/Ada"),
        "request not sent:\n{tried}"
    );
    assert!(tried.contains("Status: 200"), "no answer:\n{tried}");
    assert!(
        tried.contains("Hello, Ada!"),
        "not the action's answer:\n{tried}"
    );
    gw.broker.stop().await.expect("stop");
    remote.stop().await.expect("stop");
}

#[tokio::test]
async fn the_spec_follows_services_that_join_and_leave() {
    let cluster = Cluster::new();
    let gw = cluster
        .gateway(vec![], |b| b.route(Route::new("/api").auto_aliases(true)))
        .await;
    let has_hello = |doc: &Value| doc["paths"].get("/api/greeter/hello/{name}").is_some();
    assert!(!has_hello(&gw.get("/openapi.json").await.json()));
    let remote = cluster.node("greeter-node", vec![greeter()]).await;
    let gw_ref = &gw;
    eventually("the remote action is documented", || async move {
        has_hello(&gw_ref.get("/openapi.json").await.json())
    })
    .await;
    let doc = gw.get("/openapi.json").await.json();
    let ok = &doc["paths"]["/api/greeter/hello/{name}"]["get"]["responses"]["200"];
    // Its schemas came over the transporter, in INFO.
    assert_eq!(
        ok["content"]["application/json"]["schema"]["properties"]["to"]["$ref"],
        "#/components/schemas/Person"
    );
    remote.stop().await.expect("stop");
    eventually("the action is gone from the spec", || async move {
        !has_hello(&gw_ref.get("/openapi.json").await.json())
    })
    .await;
    gw.broker.stop().await.expect("stop");
}
