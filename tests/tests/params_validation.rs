//! Params schemas and validation against the real fastest-validator and Moleculer.js:
//! - the Rust checker answers exactly what fastest-validator 1.19.1 (the version Moleculer
//!   0.15.2 uses, pinned in `interop/package.json`) answers, for schemas converted from Rust
//!   types and hand-written ones, over a table of wrong params;
//! - a `#[action]` rejects wrong params before its handler runs, with that `data`;
//! - over Redis, a JS node calling a Rust action with wrong params gets the same error as from
//!   a JS action with the same `params`, and reads the Rust action's `params` from its registry;
//! - a Rust node checking its calls to a JS action against the `params` the JS node published
//!   fails fast with the same error, without a round trip.

#[macro_use]
#[allow(unused_macros)] // `every_bus!`
mod interop;

use broker_core::schema::fastest::from_json_schema;
use broker_core::{
    params_schema_for, schemars, service, ActionDef, Broker, CallOptions, Error, JsonSchema,
    MemoryTransporter, ParamsChecker, Service, ServiceSchema,
};
use interop::peer::JsPeer;
use interop::{ensure_js_deps, interop_dir, Cluster, JsVersion, WAIT};
use serde::Deserialize;
use serde_json::{json, Value};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

both_versions!(
    js_callers_get_the_same_validation_error,
    rust_callers_check_js_params
);
only_v015!(moleculer_web_answers_the_same_for_rust_and_js_actions);

/// Everything the conversion and the checker cover, on one params type.
// Fields are read through the schema and the checker only.
#[allow(dead_code)]
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Signup {
    #[schemars(length(min = 2, max = 8))]
    name: String,
    #[schemars(range(min = 18, max = 130))]
    age: u32,
    #[schemars(email)]
    email: String,
    #[schemars(url)]
    site: Option<String>,
    #[schemars(regex(pattern = r"^[a-z0-9-]+$"))]
    slug: String,
    #[schemars(length(min = 1, max = 3))]
    tags: Vec<String>,
    role: Role,
    address: Address,
    #[serde(rename = "first-name")]
    first_name: Option<String>,
    score: Option<f64>,
    active: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Role {
    Admin,
    Member,
}

#[allow(dead_code)]
#[derive(Debug, Deserialize, JsonSchema)]
struct Address {
    city: String,
    zip: Option<u16>,
    lines: Vec<String>,
    #[serde(rename = "po-box")]
    po_box: Option<u32>,
}

/// Types only: the handler's serde checks them; the checker only explains failures.
#[allow(dead_code)]
#[derive(Debug, Deserialize, JsonSchema)]
struct Point {
    x: i32,
    y: i32,
    label: Option<String>,
    tags: Vec<String>,
}

fn valid_signup() -> Value {
    json!({
        "name": "Ann", "age": 30, "email": "ann@example.com", "site": "https://ann.dev",
        "slug": "ann-1", "tags": ["a"], "role": "admin",
        "address": {"city": "Oslo", "zip": 150, "lines": ["x"]},
        "first-name": "Ann", "score": 1.5, "active": true
    })
}

/// Wrong (and a few right) params for `Signup`.
fn signup_inputs() -> Vec<Value> {
    let with = |patch: Value| {
        let mut v = valid_signup();
        for (k, val) in patch.as_object().cloned().unwrap_or_default() {
            v[k] = val;
        }
        v
    };
    vec![
        valid_signup(),
        json!({}),
        json!(null),
        json!("abc"),
        json!([1, 2]),
        json!(5),
        with(json!({"name": "A", "age": 12, "email": "nope", "site": "ftp://x", "slug": "Not Ok"})),
        with(json!({"name": "Annabelle-Lee", "age": 131, "email": "", "site": "", "slug": ""})),
        with(json!({"tags": [], "role": "boss", "active": "yes", "score": "high"})),
        with(json!({"tags": ["a", 2, "c", "d"], "role": 3, "first-name": 7})),
        with(
            json!({"address": {"city": 5, "zip": 70000, "lines": [1, "two", null], "po-box": -1}}),
        ),
        with(json!({"address": {}})),
        with(json!({"address": "Oslo"})),
        with(json!({"age": 20.5, "extra": 1, "other": {"a": 1}})),
        with(json!({"name": null, "age": null, "site": null, "score": null, "first-name": null})),
        with(json!({"name": 5, "age": "30", "email": 7, "site": 8, "slug": 9, "tags": "a"})),
        with(json!({"name": "äöü", "email": "a b@c.de", "site": "http://"})),
        with(json!({"name": "😀😀😀😀😀", "email": "x@y.z"})),
    ]
}

/// Hand-written schemas, as JS services write them.
fn hand_written() -> Vec<(Value, Vec<Value>)> {
    vec![
        (
            json!({
                "a": "string|min:3",
                "b": "number[]",
                "c": {"type": "enum", "values": ["x", "y", 1]},
                "d": {"type": "equal", "value": 5},
                "e": "forbidden",
                "f": [{"type": "string", "max": 2}, {"type": "number", "positive": true}],
                "g": {"type": "string", "empty": false, "trim": true, "optional": true},
                "h": {"$$type": "object|optional", "x": "number", "y": {"type": "boolean", "convert": true}},
                "i": {"type": "number", "convert": true, "integer": true, "optional": true},
                "j": {"type": "string", "optional": true, "numeric": true, "alphanum": true},
                "k": {"type": "array", "optional": true, "unique": true, "enum": ["p", "q", "r"], "max": 3},
                "l": {"type": "object", "optional": true, "strict": true, "props": {"m": "string"}, "minProps": 1},
                "$$strict": true
            }),
            vec![
                json!({"a": "abc", "b": [1], "c": "x", "d": 5, "f": "ok"}),
                json!({}),
                json!({"a": "ab", "b": [1, "x"], "c": "z", "d": "5", "e": 1, "f": "long"}),
                json!({"a": "abc", "b": 3, "c": 1, "d": 6, "f": -2, "g": "   ", "zz": 1}),
                json!({"a": "abc", "b": [], "c": "y", "d": 5, "f": 3, "h": {"x": "1", "y": "maybe"}}),
                json!({"a": "abc", "b": [], "c": "y", "d": 5, "f": 3, "h": {"x": 1, "y": "on"}, "i": "4.5"}),
                json!({"a": "abc", "b": [], "c": "y", "d": 5, "f": 3, "i": "x", "j": "1a"}),
                json!({"a": "abc", "b": [], "c": "y", "d": 5, "f": 3, "i": "0x1F", "j": "12"}),
                json!({"a": "abc", "b": [], "c": "y", "d": 5, "f": 3, "i": " 7 ", "g": " x "}),
                json!({"a": "abc", "b": [], "c": "y", "d": 5, "f": 3, "i": "inf", "h": {"x": 1, "y": 0}}),
                json!({"a": "abc", "b": [], "c": "y", "d": 5, "f": 3, "i": true, "h": {"x": 1, "y": 2}}),
                json!({"a": "abc", "b": [], "c": "y", "d": 5, "f": 3, "k": ["p", "p", "z", "q"], "l": {}}),
                json!({"a": "abc", "b": [], "c": "y", "d": 5, "f": 3, "l": {"m": 1, "n": 2}}),
            ],
        ),
        (
            json!({"$$root": true, "type": "string", "min": 2, "pattern": "^a/b", "patternFlags": "i"}),
            vec![json!("a/bc"), json!("A/B"), json!("x"), json!(3)],
        ),
        (
            json!({"n": {"type": "number", "min": 1.5, "max": 10, "notEqual": 4}, "s": {"type": "string", "length": 2, "contains": "a", "enum": ["ab", "ba"]}}),
            vec![
                json!({"n": 1, "s": "b"}),
                json!({"n": 4, "s": "abc"}),
                json!({"n": 11.25, "s": "ba"}),
            ],
        ),
    ]
}

/// Runs `interop/fv-check.js`: fastest-validator's answer for each input of each schema.
async fn fastest_validator(table: &Value) -> Vec<Vec<Value>> {
    ensure_js_deps();
    let run = async {
        let mut child = tokio::process::Command::new("node")
            .arg("fv-check.js")
            .current_dir(interop_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(table.to_string().as_bytes())
            .await
            .expect("write the table");
        drop(stdin);
        let mut out = String::new();
        child
            .stdout
            .take()
            .expect("stdout")
            .read_to_string(&mut out)
            .await
            .expect("read the answers");
        let status = child.wait().await.expect("node exits");
        assert!(status.success(), "fv-check.js failed: {status}");
        out
    };
    let out = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("fv-check.js answers within 30 s");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("fv-check.js answered {out}: {e}"))
}

/// The checker's answer in fastest-validator's terms: `true` or the list of problems.
fn ours(checker: &ParamsChecker, params: &Value) -> Value {
    let problems = checker.check(params);
    if problems.is_empty() {
        Value::Bool(true)
    } else {
        Value::Array(problems)
    }
}

#[tokio::test]
async fn the_checker_answers_as_fastest_validator_does() {
    let signup = from_json_schema(&params_schema_for::<Signup>())
        .expect("Signup is an object")
        .params;
    let point = from_json_schema(&params_schema_for::<Point>())
        .expect("Point is an object")
        .params;
    let point_inputs = vec![
        json!({"x": 1, "y": 2, "tags": []}),
        json!({"x": "1", "y": 2.5, "label": 3, "tags": [null]}),
    ];
    let mut table = vec![(signup, signup_inputs()), (point, point_inputs)];
    table.extend(hand_written());
    let request: Value = table
        .iter()
        .map(|(schema, inputs)| json!({"schema": schema, "inputs": inputs}))
        .collect();
    let answers = fastest_validator(&request).await;
    assert_eq!(answers.len(), table.len());
    let mut rejected = 0;
    let mut quick_passes = 0;
    for ((schema, inputs), theirs) in table.iter().zip(&answers) {
        let checker = ParamsChecker::compile(schema).expect("compiles");
        assert_eq!(inputs.len(), theirs.len());
        for (input, theirs) in inputs.iter().zip(theirs) {
            if theirs.is_array() {
                rejected += 1;
            }
            assert_eq!(
                &ours(&checker, input),
                theirs,
                "\nschema: {schema}\nparams: {input}\n"
            );
            // The quick pass over the text never lets wrong params through.
            let quick = checker.passes(&input.to_string());
            assert!(
                !quick || theirs == &Value::Bool(true),
                "quick pass let {input} through"
            );
            quick_passes += usize::from(quick);
        }
    }
    // ...and does let the right ones through (all but the hand-written `multi` and `equal`).
    assert!(quick_passes >= 3, "only {quick_passes} quick passes");
    // Most rows are wrong on purpose: the comparison is not about `true == true`.
    assert!(rejected >= 25, "only {rejected} rejected rows");
}

struct Users {
    runs: Arc<AtomicUsize>,
}

#[service(name = "users")]
impl Users {
    /// Signs a user up.
    #[action]
    async fn signup(&self, params: Signup) -> Result<String, Error> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Ok(params.name)
    }

    #[action]
    async fn point(&self, params: Point) -> Result<i32, Error> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Ok(params.x + params.y)
    }
}

#[tokio::test]
async fn an_action_rejects_wrong_params_before_its_handler_with_fastest_validators_data() {
    let runs = Arc::new(AtomicUsize::new(0));
    let broker = Broker::builder()
        .node_id("params-local")
        .namespace(interop::unique("params-local"))
        .transporter(MemoryTransporter::new())
        .build();
    broker
        .add_service(Users { runs: runs.clone() })
        .await
        .expect("add users");
    broker.start().await.expect("start");

    let schema = Service::schema(Arc::new(Users { runs: runs.clone() }));
    let signup_def = schema
        .actions
        .iter()
        .find(|a| a.name == "signup")
        .expect("signup");
    let params = signup_def.extra["params"].clone();
    assert_eq!(
        params["name"],
        json!({"type": "string", "min": 2, "max": 8})
    );
    assert_eq!(params["$$strict"], true);
    assert!(signup_def.params_schema.is_some(), "paramsSchema stays");
    let checker = ParamsChecker::compile(&params).expect("compiles");

    let bound = Duration::from_secs(5);
    let cases = [
        ("users.signup", params.clone(), signup_inputs()[6].clone()),
        ("users.signup", params.clone(), json!({})),
        ("users.signup", params.clone(), signup_inputs()[10].clone()),
    ];
    for (action, _, input) in &cases {
        let err = tokio::time::timeout(bound, broker.call::<Value>(action, input.clone()))
            .await
            .expect("answers")
            .expect_err("wrong params");
        assert_eq!(err.name(), "ValidationError", "{err}");
        assert_eq!(err.code(), 422);
        assert_eq!(err.message(), "Parameters validation error!");
        let mut expected = checker.check(input);
        assert!(expected.len() > 1, "several problems at once: {expected:?}");
        for item in &mut expected {
            item["nodeID"] = json!("params-local");
            item["action"] = json!("users.signup");
        }
        assert_eq!(err.data(), Some(&Value::Array(expected)), "{input}");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 0, "no handler ran");

    // Types only: valid calls run; wrong ones get every problem, not serde's first.
    let sum: i32 = broker
        .call("users.point", json!({"x": 1, "y": 2, "tags": []}))
        .await
        .expect("valid point");
    assert_eq!(sum, 3);
    let err = broker
        .call::<Value>("users.point", json!({"x": "1", "tags": [3]}))
        .await
        .expect_err("wrong point");
    let fields: Vec<&str> = err
        .data()
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(|i| i["field"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(fields, ["x", "y", "tags[0]"], "{err}");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    broker.stop().await.expect("stop");
}

#[tokio::test]
async fn a_hand_written_params_schema_is_checked_too() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let add = ActionDef::new("add", move |ctx| {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            let p = ctx.params();
            Ok(json!(
                p["a"].as_f64().unwrap_or(0.0) + p["b"].as_f64().unwrap_or(0.0)
            ))
        }
    })
    .info(
        "params",
        json!({"a": "number", "b": {"type": "number", "positive": true}}),
    );
    let broker = Broker::builder()
        .node_id("params-hand")
        .namespace(interop::unique("params-hand"))
        .transporter(MemoryTransporter::new())
        .build();
    broker
        .add_service(ServiceSchema::new("math").action(add))
        .await
        .expect("add math");
    broker.start().await.expect("start");
    let sum: f64 = broker
        .call("math.add", json!({"a": 1, "b": 2}))
        .await
        .expect("valid");
    assert_eq!(sum, 3.0);
    let err = broker
        .call::<Value>("math.add", json!({"a": "1", "b": -2}))
        .await
        .expect_err("wrong params");
    assert_eq!(
        err.data(),
        Some(&json!([
            {"type": "number", "message": "The 'a' field must be a number.", "field": "a",
             "actual": "1", "nodeID": "params-hand", "action": "math.add"},
            {"type": "numberPositive", "message": "The 'b' field must be a positive number.",
             "field": "b", "actual": -2, "nodeID": "params-hand", "action": "math.add"}
        ]))
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1, "only the valid call ran");
    broker.stop().await.expect("stop");
}

#[allow(dead_code)]
#[derive(Debug, Deserialize, JsonSchema)]
struct Created {
    #[schemars(length(min = 2))]
    name: String,
}

struct Audit {
    seen: Arc<std::sync::Mutex<Vec<String>>>,
}

#[service(name = "audit")]
impl Audit {
    #[event(name = "user.created")]
    async fn created(&self, user: Created) {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(user.name);
    }
}

#[tokio::test]
async fn event_payloads_are_checked_as_moleculer_checks_them() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let schema = Service::schema(Arc::new(Audit { seen: seen.clone() }));
    assert_eq!(
        schema.events[0].params,
        Some(json!({"name": {"type": "string", "min": 2}}))
    );
    let broker = Broker::builder()
        .node_id("params-events")
        .namespace(interop::unique("params-events"))
        .transporter(MemoryTransporter::new())
        .build();
    broker
        .add_service(Audit { seen: seen.clone() })
        .await
        .expect("add audit");
    broker.start().await.expect("start");
    broker
        .emit("user.created", json!({"name": "A"}))
        .await
        .expect("emit");
    broker
        .emit("user.created", json!({"name": "Ann"}))
        .await
        .expect("emit");
    interop::eventually("the valid event", Duration::from_secs(5), || async {
        let names = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
        (!names.is_empty()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(*seen.lock().unwrap_or_else(|p| p.into_inner()), ["Ann"]);
    broker.stop().await.expect("stop");
}

/// The peer config with one JS service `jsusers` whose `signup` action has `params`.
fn peer_with_params(cluster: &Cluster, node_id: &str, params: &Value) -> Value {
    let mut config = cluster.peer_config(node_id, &[], json!([]));
    config["paramsServices"] = json!({"jsusers": {"signup": params}});
    config
}

async fn js_callers_get_the_same_validation_error(v: JsVersion) {
    let cluster = Cluster::new(v, "params-js");
    let rust = cluster.rust_node(&cluster.node_id("rust")).build();
    let runs = Arc::new(AtomicUsize::new(0));
    rust.add_service(Users { runs: runs.clone() })
        .await
        .expect("add users");
    let params =
        Service::schema(Arc::new(Users { runs: runs.clone() })).actions[0].extra["params"].clone();
    let js_id = cluster.node_id("js");
    let (started, js) = tokio::join!(
        rust.start(),
        JsPeer::start(peer_with_params(&cluster, &js_id, &params))
    );
    started.expect("Rust node starts");
    js.wait_for(&["users", "jsusers"]).await;

    // The JS registry holds the Rust action's `params` as published (moleculer-repl's
    // `actions -d` and moleculer-web read it there).
    let services = js
        .services(json!({"withActions": true, "onlyAvailable": true}))
        .await;
    let users = services
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == "users"))
        .expect("users in the JS registry");
    assert_eq!(users["actions"]["users.signup"]["params"], params);
    assert!(users["actions"]["users.signup"]["paramsSchema"].is_object());

    for input in signup_inputs().into_iter().skip(1) {
        let from_rust = js.call_err("users.signup", input.clone(), json!({})).await;
        let from_js = js
            .call_err("jsusers.signup", input.clone(), json!({}))
            .await;
        for key in ["name", "message", "code", "type", "class"] {
            assert_eq!(from_rust[key], from_js[key], "{key} for {input}");
        }
        // The same problems; the action names differ, and so does the node that answered.
        let mut data = from_js["data"].clone();
        for item in data.as_array_mut().into_iter().flatten() {
            item["action"] = json!("users.signup");
        }
        assert_eq!(from_rust["data"], data, "data for {input}");
        assert_eq!(from_rust["data"][0]["nodeID"], js_id, "the caller's node");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 0, "no Rust handler ran");
    let (stopped, ()) = tokio::join!(rust.stop(), js.exit());
    stopped.expect("Rust node stops");
    js.assert_no_errors();
}

async fn rust_callers_check_js_params(v: JsVersion) {
    let cluster = Cluster::new(v, "params-rs");
    let checking = cluster
        .rust_node(&cluster.node_id("rust"))
        .check_remote_params(true)
        .build();
    let plain = cluster.rust_node(&cluster.node_id("plain")).build();
    let params =
        json!({"name": "string|min:2", "age": {"type": "number", "min": 18}, "$$strict": true});
    let js_id = cluster.node_id("js");
    let (a, b, js) = tokio::join!(
        checking.start(),
        plain.start(),
        JsPeer::start(peer_with_params(&cluster, &js_id, &params))
    );
    a.expect("checking node starts");
    b.expect("plain node starts");
    for node in [&checking, &plain] {
        node.wait_for_services(&["jsusers"], WAIT)
            .await
            .expect("sees jsusers");
    }
    let ok: Value = checking
        .call("jsusers.signup", json!({"name": "Ann", "age": 30}))
        .await
        .expect("valid params pass");
    assert_eq!(ok["name"], "Ann");

    for input in [
        json!({}),
        json!({"name": "A", "age": 3, "x": 1}),
        json!(null),
    ] {
        // The JS node's own answer, through a node that does not check.
        let remote = plain
            .call::<Value>("jsusers.signup", input.clone())
            .await
            .expect_err("JS rejects");
        let started = Instant::now();
        let local = checking
            .call_with::<Value>(
                "jsusers.signup",
                input.clone(),
                CallOptions::new().timeout(Duration::from_secs(5)),
            )
            .await
            .expect_err("rejected before sending");
        let spent = started.elapsed();
        assert_eq!(local.name(), remote.name(), "{input}");
        assert_eq!(local.code(), remote.code());
        assert_eq!(local.message(), remote.message());
        let mut expected = remote.data().cloned().expect("JS data");
        for item in expected.as_array_mut().into_iter().flatten() {
            item["nodeID"] = json!(checking.node_id());
        }
        assert_eq!(local.data(), Some(&expected), "{input}");
        assert!(
            spent < Duration::from_millis(50),
            "no round trip: {spent:?}"
        );
    }
    let (s1, s2, ()) = tokio::join!(checking.stop(), plain.stop(), js.exit());
    s1.expect("stops");
    s2.expect("stops");
    js.assert_no_errors();
}

/// Through a moleculer-web gateway (0.15 only): the same HTTP answer for wrong params whether
/// the route leads to the Rust action or to a JS action with the `params` it published.
async fn moleculer_web_answers_the_same_for_rust_and_js_actions() {
    let cluster = Cluster::new(JsVersion::V015, "params-web");
    let rust = cluster.rust_node(&cluster.node_id("rust")).build();
    let runs = Arc::new(AtomicUsize::new(0));
    rust.add_service(Users { runs: runs.clone() })
        .await
        .expect("add users");
    let params =
        Service::schema(Arc::new(Users { runs: runs.clone() })).actions[0].extra["params"].clone();
    let mut config = peer_with_params(&cluster, &cluster.node_id("js-web"), &params);
    config["gateway"] = json!({
        "routes": [{
            "path": "/api",
            "aliases": {"POST /rust": "users.signup", "POST /js": "jsusers.signup"},
            "bodyParsers": {"json": true},
        }],
    });
    let (started, js) = tokio::join!(rust.start(), JsPeer::start(config));
    started.expect("Rust node starts");
    js.wait_for(&["users", "jsusers"]).await;
    let port = js.ready["gatewayPort"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or_else(|| panic!("no gateway port in {}", js.ready));
    for input in signup_inputs().into_iter().skip(6).take(4) {
        let from_rust = interop::http::request(port, "POST", "/api/rust", Some(&input)).await;
        let from_js = interop::http::request(port, "POST", "/api/js", Some(&input)).await;
        assert_eq!(from_rust.status, 422, "{from_rust:?}");
        assert_eq!(from_rust.status, from_js.status);
        let mut expected = from_js.json();
        for item in expected["data"].as_array_mut().into_iter().flatten() {
            item["action"] = json!("users.signup");
        }
        assert_eq!(from_rust.json(), expected, "{input}");
    }
    assert_eq!(runs.load(Ordering::SeqCst), 0, "no Rust handler ran");
    let (stopped, ()) = tokio::join!(rust.stop(), js.exit());
    stopped.expect("Rust node stops");
    js.assert_no_errors();
}
