//! A Moleculer.js moleculer-web gateway (npm `moleculer-web` 0.11, pinned in
//! `interop/package.json`) in front of Rust actions over the real Redis: explicit aliases,
//! `autoAliases` built from the `rest` routes and base paths our INFO carries, path, query and
//! JSON body params, Rust errors as moleculer-web's status and body, the `$statusCode`,
//! `$location`, `$responseHeaders` and `$responseType` meta a Rust action sets, bytes, and
//! routes that follow services added at run time and nodes leaving, all over plain HTTP.
//!
//! moleculer-web 0.11 requires moleculer 0.15 (its peer dependency; 0.10 was the last for
//! 0.14), so these run on 0.15 only.

#[macro_use]
#[allow(unused_macros)] // `both_versions!`
mod interop;

use broker_core::{service, Broker, Context, Error};
use interop::http::{request, Response};
use interop::peer::JsPeer;
use interop::{eventually, Cluster, JsVersion, WAIT};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct HelloParams {
    name: String,
}

#[derive(Deserialize)]
struct SumParams {
    a: f64,
    b: f64,
}

#[derive(Deserialize)]
struct NewUser {
    name: String,
    age: u32,
}

/// Routes under the default base path, the service name: `/greeter/...`.
struct Greeter;

#[service(name = "greeter")]
impl Greeter {
    /// Answers with the params it got, to show what moleculer-web merged.
    #[action(rest = "GET /hello/:name")]
    async fn hello(&self, ctx: Context, params: HelloParams) -> Result<Value, Error> {
        Ok(json!({
            "greeting": format!("Hello, {}!", params.name),
            "params": ctx.params(),
        }))
    }

    #[action(rest = ["POST /sum", "PUT /sum"])]
    async fn sum(&self, params: SumParams) -> Result<f64, Error> {
        Ok(params.a + params.b)
    }

    /// A custom client error, with a response header set before failing.
    #[action(rest = "GET /teapot")]
    async fn teapot(&self, ctx: Context) -> Result<Value, Error> {
        ctx.set_meta("$responseHeaders", json!({ "X-Teapot": "short and stout" }));
        Err(Error::client("I'm a teapot", 418, "TEAPOT").with_data(json!({ "spout": true })))
    }

    /// An error whose code is no HTTP status.
    #[action(rest = "GET /odd")]
    async fn odd(&self) -> Result<Value, Error> {
        Err(Error::new("MoleculerError", "odd failure")
            .with_code(1001)
            .with_type("ODD"))
    }

    /// Text, not JSON, through `$responseType`.
    #[action(rest = "GET /text")]
    async fn text(&self, ctx: Context) -> Result<String, Error> {
        ctx.set_meta("$responseType", json!("text/plain; charset=utf-8"));
        Ok("plain words".to_owned())
    }

    /// Bytes: a Node.js Buffer's JSON shape, which moleculer-web answers as raw bytes.
    #[action(rest = "GET /bytes")]
    async fn bytes(&self, ctx: Context) -> Result<Value, Error> {
        ctx.set_meta("$responseType", json!("image/png"));
        Ok(json!({ "type": "Buffer", "data": [137, 80, 78, 71, 0, 255] }))
    }

    /// Not published: moleculer-web makes no alias for it.
    #[action(visibility = "public", rest = "GET /internal")]
    async fn internal(&self) -> Result<u32, Error> {
        Ok(1)
    }
}

/// A service added after the nodes met.
struct Late;

#[service(name = "late", rest = "/later")]
impl Late {
    #[action(rest = "GET /ping")]
    async fn ping(&self) -> Result<&'static str, Error> {
        Ok("pong")
    }
}

/// A versioned service with its own base path: `/people`.
struct Users;

#[service(name = "users", version = 2, rest = "/people")]
impl Users {
    /// `201 Created` with a `Location` and a header of its own, through the caller's meta.
    #[action(rest = "POST /")]
    async fn create(&self, ctx: Context, params: NewUser) -> Result<Value, Error> {
        ctx.set_meta("$statusCode", json!(201));
        ctx.set_meta("$location", json!("/api/people/42"));
        ctx.set_meta("$responseHeaders", json!({ "X-User-Id": "42" }));
        Ok(json!({ "id": 42, "name": params.name, "age": params.age }))
    }
}

/// A Rust node with the services above and a JS node running moleculer-web on a free port,
/// once the gateway has built its aliases from the Rust node's INFO.
struct Web {
    rust: Broker,
    js: JsPeer,
    port: u16,
}

impl Web {
    async fn start(what: &str) -> Web {
        let cluster = Cluster::new(JsVersion::V015, what);
        let rust = cluster.rust_node(&cluster.node_id("rust")).build();
        rust.add_service(Greeter).await.expect("add greeter");
        rust.add_service(Users).await.expect("add users");
        let mut config = cluster.peer_config(&cluster.node_id("js-web"), &[], json!([]));
        config["gateway"] = json!({
            "routes": [{
                "path": "/api",
                "aliases": { "GET /greet/:name": "greeter.hello" },
                "autoAliases": true,
                "bodyParsers": { "json": true },
            }],
        });
        let (started, js) = tokio::join!(rust.start(), JsPeer::start(config));
        started.expect("Rust node starts");
        js.wait_for(&["greeter", "v2.users"]).await;
        let port = js.ready["gatewayPort"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or_else(|| panic!("no gateway port in {}", js.ready));
        // autoAliases are rebuilt (debounced) after `$services.changed`.
        eventually(
            "moleculer-web's aliases of the Rust actions",
            WAIT,
            || async {
                let aliases = aliases(&js).await;
                let built = ["/api/greeter/hello/:name", "/api/people"]
                    .iter()
                    .all(|p| aliases.iter().any(|a| a["fullPath"] == *p));
                built.then_some(())
            },
        )
        .await;
        Web { rust, js, port }
    }

    async fn get(&self, path: &str) -> Response {
        request(self.port, "GET", path, None).await
    }

    async fn send(&self, method: &str, path: &str, body: Value) -> Response {
        request(self.port, method, path, Some(&body)).await
    }

    async fn stop(self) {
        let (stopped, ()) = tokio::join!(self.rust.stop(), self.js.exit());
        stopped.expect("Rust node stops");
        self.js.assert_no_errors();
    }

    /// [`Web::stop`] where moleculer-web's own log line about a 500 it answered (`Request
    /// error! <name> : <message>`) is expected; any other error still fails.
    async fn stop_expecting_request_error(self, error: &str) {
        let (stopped, ()) = tokio::join!(self.rust.stop(), self.js.exit());
        stopped.expect("Rust node stops");
        let expected = format!("Request error! {error}");
        let tail = self.js.stderr_tail();
        let bad: Vec<&str> = tail
            .lines()
            .filter(|l| l.contains(" ERROR ") || l.contains(" FATAL ") || l.starts_with("peer:"))
            .filter(|l| !l.contains(&expected))
            .collect();
        assert!(bad.is_empty(), "JS peer logged errors:\n{}", bad.join("\n"));
        assert!(tail.contains(&expected), "no `{expected}` in:\n{tail}");
    }
}

/// The gateway's aliases, as its `api.listAliases` action lists them.
async fn aliases(js: &JsPeer) -> Vec<Value> {
    let reply = js.call_ok("api.listAliases", json!({}), json!({})).await;
    reply.result.as_array().cloned().unwrap_or_default()
}

only_v015!(
    routes_reach_rust_actions,
    bodies_and_response_meta,
    rust_errors_over_http,
    routes_follow_services_and_nodes
);

/// (a) an explicit alias and (b) the aliases moleculer-web built from our `rest` routes.
async fn routes_reach_rust_actions() {
    let web = Web::start("web-routes").await;

    // Exactly the aliases our INFO asked for (and the gateway's own), nothing for the
    // `public` action.
    let mut built: Vec<(String, String, String)> = aliases(&web.js)
        .await
        .iter()
        .map(|a| {
            let field = |k: &str| a[k].as_str().unwrap_or_default().to_owned();
            (field("methods"), field("fullPath"), field("actionName"))
        })
        .collect();
    built.sort();
    let expected = [
        ("GET", "/api/api/list-aliases", "api.listAliases"),
        ("GET", "/api/greet/:name", "greeter.hello"),
        ("GET", "/api/greeter/bytes", "greeter.bytes"),
        ("GET", "/api/greeter/hello/:name", "greeter.hello"),
        ("GET", "/api/greeter/odd", "greeter.odd"),
        ("GET", "/api/greeter/teapot", "greeter.teapot"),
        ("GET", "/api/greeter/text", "greeter.text"),
        ("POST", "/api/greeter/sum", "greeter.sum"),
        ("POST", "/api/people", "v2.users.create"),
        ("PUT", "/api/greeter/sum", "greeter.sum"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(m, p, a)| ((*m).to_owned(), (*p).to_owned(), (*a).to_owned()))
        .collect();
    assert_eq!(built, expected);

    // (a) The explicit alias, with the path param.
    let r = web.get("/api/greet/Bob").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(
        r.json(),
        json!({ "greeting": "Hello, Bob!", "params": { "name": "Bob" } })
    );

    // (b) The auto alias from `rest = "GET /hello/:name"` under `/greeter`; the query string
    // is merged into the params, and the path param is decoded.
    let r = web.get("/api/greeter/hello/Al%C3%AFce?lang=en").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.json(),
        json!({ "greeting": "Hello, Alïce!", "params": { "name": "Alïce", "lang": "en" } })
    );

    // Routes the gateway did not build: another method, the unpublished action.
    let r = web.get("/api/greeter/sum").await;
    assert_eq!(r.status, 404, "{r:?}");
    let r = web.get("/api/greeter/internal").await;
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(r.json()["name"], "NotFoundError");

    web.stop().await;
}

/// (c) JSON bodies become params; (e) `$statusCode`, `$location` and `$responseHeaders` set by
/// a Rust action come back through moleculer-web's caller meta.
async fn bodies_and_response_meta() {
    let web = Web::start("web-bodies").await;

    for method in ["POST", "PUT"] {
        let r = web
            .send(method, "/api/greeter/sum", json!({ "a": 2.5, "b": 4 }))
            .await;
        assert_eq!(r.status, 200, "{method}: {r:?}");
        assert_eq!(r.json(), json!(6.5), "{method}");
    }

    let r = web
        .send("POST", "/api/people", json!({ "name": "Ada", "age": 36 }))
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.header("location"), Some("/api/people/42"));
    assert_eq!(r.header("x-user-id"), Some("42"));
    assert_eq!(r.json(), json!({ "id": 42, "name": "Ada", "age": 36 }));

    let r = web.get("/api/greeter/text").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.body, b"plain words");

    let r = web.get("/api/greeter/bytes").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert_eq!(r.header("content-length"), Some("6"));
    assert_eq!(r.body, [137, 80, 78, 71, 0, 255]);

    // The meta of one request does not leak into the next.
    let r = web.get("/api/greet/Bob").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("x-user-id"), None);

    web.stop().await;
}

/// (d) Rust errors answered with moleculer-web's status and `{name, message, code, type, data}`.
async fn rust_errors_over_http() {
    let web = Web::start("web-errors").await;

    // Params that do not deserialize: our ValidationError, 422.
    let r = web
        .send(
            "POST",
            "/api/people",
            json!({ "name": "Ada", "age": "old" }),
        )
        .await;
    assert_eq!(r.status, 422, "{r:?}");
    // As fastest-validator reports it, `nodeID` being the caller's (the gateway's) node.
    assert_eq!(
        r.json(),
        json!({
            "name": "ValidationError",
            "message": "Parameters validation error!",
            "code": 422,
            "type": "VALIDATION_ERROR",
            "data": [{
                "type": "number",
                "field": "age",
                "message": "The 'age' field must be a number.",
                "actual": "old",
                "nodeID": web.js.node_id,
                "action": "v2.users.create",
            }],
        })
    );

    // A custom client error keeps its code, type and data; the header it set comes along.
    let r = web.get("/api/greeter/teapot").await;
    assert_eq!(r.status, 418, "{r:?}");
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(
        r.json(),
        json!({
            "name": "MoleculerClientError",
            "message": "I'm a teapot",
            "code": 418,
            "type": "TEAPOT",
            "data": { "spout": true },
        })
    );
    assert_eq!(r.header("x-teapot"), Some("short and stout"));

    // A code that is no HTTP status: a 500 whose body keeps the error's own code (what our
    // gateway answers too, see interop_gateway.rs).
    let r = web.get("/api/greeter/odd").await;
    assert_eq!(r.status, 500, "{r:?}");
    assert_eq!(r.json()["code"], 1001, "{r:?}");
    assert_eq!(r.json()["type"], "ODD", "{r:?}");

    web.stop_expecting_request_error("MoleculerError : odd failure")
        .await;
}

/// The gateway rebuilds its routes as the cluster changes: a service added to the running Rust
/// node gets its alias (our INFO update), and the routes go when the Rust node leaves.
async fn routes_follow_services_and_nodes() {
    let web = Web::start("web-changes").await;
    assert_eq!(web.get("/api/later/ping").await.status, 404);

    web.rust.add_service(Late).await.expect("add late");
    let r = eventually("the alias of a service added at run time", WAIT, || async {
        let r = web.get("/api/later/ping").await;
        (r.status != 404).then_some(r)
    })
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json(), json!("pong"));

    let Web { rust, js, port } = web;
    rust.stop().await.expect("Rust node stops");
    // The auto aliases are gone; the explicit alias stays but finds no node to call.
    eventually(
        "the auto aliases to go with the Rust node",
        WAIT,
        || async {
            let r = request(port, "GET", "/api/greeter/hello/Bob", None).await;
            (r.status == 404).then_some(())
        },
    )
    .await;
    let r = request(port, "GET", "/api/greet/Bob", None).await;
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(
        r.json(),
        json!({
            "name": "ServiceNotAvailableError",
            "message": "Service 'greeter.hello' is not available.",
            "code": 404,
            "type": "SERVICE_NOT_AVAILABLE",
            "data": { "action": "greeter.hello" },
        })
    );
    js.exit().await;
    js.assert_no_errors();
}
