//! OUR gateway (`broker-web` on a Rust node) in front of a Moleculer.js node's actions over
//! the real Redis (the `jsweb` service of `interop/peer.js`): an explicit alias with path and
//! query params, `autoAliases` built from the JS actions' `rest` property and the service's
//! `settings.rest` (moleculer-web's format), JSON bodies, fastest-validator's
//! `ValidationError` as a 422 with its data, a JS `MoleculerClientError` with its own code and
//! type, and the `ctx.meta.$statusCode` / `$location` / `$responseHeaders` / `$responseType`
//! a JS action sets, and a Node.js `Buffer` answered as bytes, for Moleculer.js 0.15 and 0.14.

#[macro_use]
#[allow(unused_macros)] // `only_v015!`
mod interop;

use broker_core::Broker;
use broker_web::{ApiGateway, MappingPolicy, Route};
use interop::http::{request, Response};
use interop::peer::JsPeer;
use interop::{eventually, Cluster, JsVersion, WAIT};
use serde_json::{json, Value};

/// A Rust node running our gateway and a JS node with `jsweb`, once the gateway has built the
/// aliases of the JS actions from the JS node's INFO.
struct Front {
    rust: Broker,
    js: JsPeer,
    port: u16,
}

/// The auto-aliases the JS node's `rest` properties ask for, under `/api` and `/web`.
const AUTO: [&str; 6] = [
    "GET /api/web/items/:id => jsweb.item",
    "POST /api/web/items => jsweb.create",
    "GET /api/web/refuse => jsweb.refuse",
    "GET /api/web/text => jsweb.text",
    "GET /api/web/moved => jsweb.moved",
    "GET /api/web/bytes => jsweb.bytes",
];

impl Front {
    async fn start(version: JsVersion, what: &str) -> Front {
        let cluster = Cluster::new(version, what);
        let rust = cluster.rust_node(&cluster.node_id("rust-gw")).build();
        let gateway = ApiGateway::builder()
            .listen("127.0.0.1:0")
            .route(
                Route::new("/api")
                    .alias("GET /things/:id", "jsweb.item")
                    .alias("POST /echo", "jsweb.echo")
                    .alias("GET /fail", "jsmath.fail")
                    .auto_aliases(true)
                    .whitelist(["jsweb.*", "jsmath.fail"])
                    .mapping_policy(MappingPolicy::Restrict),
            )
            .require_services(["jsweb"])
            .build(&rust);
        rust.add_service(gateway.clone())
            .await
            .expect("add the gateway");
        let config =
            cluster.peer_config(&cluster.node_id("js-web"), &["jsweb", "jsmath"], json!([]));
        let (started, js) = tokio::join!(rust.start(), JsPeer::start(config));
        started.expect("Rust node starts");
        rust.wait_for_services(&["jsweb"], WAIT)
            .await
            .expect("the Rust node sees jsweb");
        // Aliases are rebuilt on `$services.changed`.
        eventually("our gateway's aliases of the JS actions", WAIT, || {
            let built: Vec<String> = gateway
                .auto_aliases()
                .iter()
                .flatten()
                .map(|a| a.describe())
                .collect();
            let done = AUTO.iter().all(|want| built.iter().any(|b| b == want));
            async move { done.then_some(()) }
        })
        .await;
        let port = gateway.local_addr().expect("the gateway listens").port();
        Front { rust, js, port }
    }

    async fn get(&self, path: &str) -> Response {
        request(self.port, "GET", path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Response {
        request(self.port, "POST", path, Some(&body)).await
    }

    async fn stop(self) {
        let (stopped, ()) = tokio::join!(self.rust.stop(), self.js.exit());
        stopped.expect("Rust node stops");
        self.js.assert_no_errors();
    }
}

both_versions!(
    js_actions_behind_our_gateway,
    js_errors_through_our_gateway,
    js_response_meta_through_our_gateway
);

/// Explicit aliases and auto-aliases reach the JS actions with path, query and body params.
async fn js_actions_behind_our_gateway(version: JsVersion) {
    let front = Front::start(version, "gw-routes").await;
    let js_node = front.js.node_id.clone();
    let rust_node = front.rust.node_id().to_owned();

    // The explicit alias: path param and query string merged (query strings stay strings);
    // the JS action runs on the JS node, called by the gateway's node.
    let r = front.get("/api/things/42?full=yes").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(
        r.json(),
        json!({"id": "42", "node": js_node, "caller": rust_node,
               "params": {"id": "42", "full": "yes"}})
    );

    // The auto-alias from `rest: "GET /items/:id"` under `settings.rest: "/web"`, with a
    // percent-encoded path param.
    let r = front.get("/api/web/items/Al%C3%AFce").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["params"], json!({"id": "Alïce"}));

    // A JSON body through an explicit alias to an action without `rest`.
    let body = json!({"nested": {"list": [1, 2, 3]}, "flag": true});
    let r = front.post("/api/echo?extra=1", body).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.json(),
        json!({"nested": {"list": [1, 2, 3]}, "flag": true, "extra": "1"})
    );

    // What no alias names is not reachable (Restrict), and a wrong method is no route.
    let r = front.get("/api/jsweb/echo").await;
    assert_eq!(r.status, 404, "{r:?}");
    let r = front.get("/api/web/items").await;
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(r.json()["name"], "NotFoundError");

    front.stop().await;
}

/// A fastest-validator `ValidationError` is a 422 with its data; a JS client error keeps its
/// code, type and data; all in moleculer-web's error body.
async fn js_errors_through_our_gateway(version: JsVersion) {
    let front = Front::start(version, "gw-errors").await;

    let r = front
        .post("/api/web/items", json!({"name": "bolt", "qty": -3}))
        .await;
    assert_eq!(r.status, 422, "{r:?}");
    let err = r.json();
    assert_eq!(err["name"], "ValidationError");
    assert_eq!(err["code"], 422);
    assert_eq!(err["type"], "VALIDATION_ERROR");
    let data = err["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(data.len(), 1, "{err}");
    assert_eq!(data[0]["type"], "numberPositive", "{err}");
    assert_eq!(data[0]["field"], "qty", "{err}");
    assert_eq!(data[0]["actual"], -3, "{err}");

    // A required field missing: fastest-validator's `required`.
    let r = front.post("/api/web/items", json!({"qty": 1})).await;
    assert_eq!(r.status, 422, "{r:?}");
    assert_eq!(r.json()["data"][0]["type"], "required");

    let r = front.get("/api/web/refuse").await;
    assert_eq!(r.status, 409, "{r:?}");
    assert_eq!(
        r.json(),
        json!({"name": "MoleculerClientError", "message": "No way", "code": 409,
               "type": "REFUSED", "data": {"reason": "closed"}})
    );

    // A code that is no HTTP status: a 500, the body keeping the error's own code (as
    // moleculer-web's sendError picks it), its message hidden as any 500's.
    let r = front.get("/api/fail?kind=odd").await;
    assert_eq!(r.status, 500, "{r:?}");
    assert_eq!(
        r.json(),
        json!({"name": "MoleculerError", "message": "Internal Server Error", "code": 1001,
               "type": "ODD"})
    );

    front.stop().await;
}

/// `$statusCode`, `$location`, `$responseHeaders` and `$responseType` set by JS actions shape
/// our gateway's answers, and a JS `Buffer` is sent as bytes.
async fn js_response_meta_through_our_gateway(version: JsVersion) {
    let front = Front::start(version, "gw-meta").await;

    let r = front
        .post("/api/web/items", json!({"name": "bolt", "qty": 3}))
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.header("location"), Some("/api/web/items/bolt"));
    assert_eq!(r.header("x-item-name"), Some("bolt"));
    assert_eq!(r.json(), json!({"created": {"name": "bolt", "qty": 3}}));

    let r = front.get("/api/web/text").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.body, b"plain js words");

    let r = front.get("/api/web/moved").await;
    assert_eq!(r.status, 302, "{r:?}");
    assert_eq!(r.header("location"), Some("/api/web/text"));

    let r = front.get("/api/web/bytes").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert_eq!(r.body, [137, 80, 78, 71, 0, 255]);

    front.stop().await;
}
