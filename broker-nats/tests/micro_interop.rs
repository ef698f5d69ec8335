//! The NATS service API (ADR-32) against real ADR-32 clients: the npm `@nats-io/services`
//! client (`Svcm`: ping, info, stats, with and without name and id) and plain
//! `@nats-io/transport-node` requests, every discovery answer validated with ajv against the
//! ADR-32 response schemas (tests/fixtures/adr32-schemas.json); and the other direction, a
//! Rust `MicroClient` calling a `@nats-io/services` service. Uses the shared NATS server on
//! 127.0.0.1:4222 (`NATS_URL`), with names and subjects unique per test.

use broker_core::{schemars, service, ActionDef, Broker, Error, JsonSchema, ServiceSchema};
use broker_nats::micro::{self, DiscoveryOptions, MicroClient, MicroOptions};
use serde::Deserialize;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const BOUND: Duration = Duration::from_secs(30);

fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop")
}

fn schemas() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/adr32-schemas.json")
}

/// A name no other test or run uses.
fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

/// The pinned npm packages (`npm ci` in interop/ once if they are missing).
fn ensure_js_deps() {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    let result = DONE.get_or_init(|| {
        let dir = interop_dir();
        let installed = || {
            [
                "@nats-io/services",
                "@nats-io/transport-node",
                "ajv",
                "ajv-formats",
            ]
            .iter()
            .all(|p| {
                dir.join("node_modules")
                    .join(p)
                    .join("package.json")
                    .exists()
            })
        };
        if installed() {
            return Ok(());
        }
        let status = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .status()
            .map_err(|e| format!("cannot run npm (Node.js 20 and npm are needed): {e}"))?;
        match status.success() && installed() {
            true => Ok(()),
            false => Err(format!("npm ci in {} failed: {status}", dir.display())),
        }
    });
    if let Err(err) = result {
        panic!("npm packages unavailable: {err}");
    }
}

/// Runs `node micro-client.js ARGS` (bounded) and parses the JSON it prints.
async fn node(args: &[&str]) -> Value {
    ensure_js_deps();
    let run = Command::new("node")
        .arg("micro-client.js")
        .args(args)
        .env("NATS_URL", nats_url())
        .current_dir(interop_dir())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(BOUND, run)
        .await
        .expect("node micro-client.js finishes in time")
        .expect("node runs");
    assert!(
        out.status.success(),
        "node micro-client.js {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("micro-client.js prints JSON")
}

async fn connect() -> async_nats::Client {
    tokio::time::timeout(BOUND, async_nats::connect(nats_url()))
        .await
        .expect("NATS connects in time")
        .unwrap_or_else(|e| {
            panic!(
                "no NATS server at {} ({e}); start `nats-server`",
                nats_url()
            )
        })
}

async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, f)
        .await
        .expect("finished in time")
}

#[derive(Deserialize, JsonSchema)]
struct AddParams {
    a: f64,
    b: f64,
}

fn math(name: &str) -> ServiceSchema {
    ServiceSchema::new(name)
        .version(2)
        .metadata(json!({"description": "Adds numbers", "team": "core", "level": 3}))
        .action(
            ActionDef::new("add", |ctx| async move {
                let p: AddParams = ctx.params_as()?;
                Ok(json!(p.a + p.b))
            })
            .params_schema_of::<AddParams>()
            .description("Adds two numbers."),
        )
        .action(ActionDef::new("fail", |_ctx| async move {
            Err::<Value, _>(Error::client("nope\nreally", 422, "NOPE").with_data(json!({"x": 1})))
        }))
        .action(
            ActionDef::new("slow", |_ctx| async move {
                tokio::time::sleep(Duration::from_secs(3)).await;
                Ok(json!("late"))
            })
            .timeout(Duration::from_millis(100)),
        )
        .action(
            ActionDef::new("local", |_ctx| async move { Ok(json!("hidden")) })
                .visibility(broker_core::Visibility::Protected),
        )
}

fn one<'a>(report: &'a Value, key: &str) -> &'a Value {
    let list = report[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key}: {report}"));
    assert_eq!(list.len(), 1, "{key}: one answer expected: {report}");
    &list[0]
}

#[tokio::test]
async fn js_clients_discover_and_call_the_services_as_adr32_services() {
    let name = unique("math");
    let broker = Broker::builder().node_id(unique("micro-node")).build();
    bounded(broker.add_service(math(&name))).await.expect("add");
    bounded(broker.start()).await.expect("start");
    let exposed = bounded(micro::expose(
        &broker,
        connect().await,
        MicroOptions::default(),
    ))
    .await
    .expect("expose");
    let mine = exposed
        .services()
        .into_iter()
        .find(|s| s.name == name)
        .expect("exposed");

    let report = node(&["discover", &schemas().to_string_lossy(), &name]).await;
    assert_eq!(report["invalid"], json!([]), "schema violations: {report}");
    assert_eq!(report["validated"], 9, "{report}");
    for key in [
        "pingAll", "infoAll", "statsAll", "ping", "info", "stats", "pingId", "infoId", "statsId",
    ] {
        let answer = one(&report, key);
        assert_eq!(answer["id"], mine.id.as_str(), "{key}");
        assert_eq!(answer["version"], "2.0.0", "{key}");
    }
    assert_eq!(
        one(&report, "ping")["type"],
        "io.nats.micro.v1.ping_response"
    );
    let info = one(&report, "info");
    assert_eq!(info["type"], "io.nats.micro.v1.info_response");
    assert_eq!(info["description"], "Adds numbers");
    assert_eq!(info["metadata"]["team"], "core");
    assert_eq!(info["metadata"]["level"], "3");
    assert_eq!(info["metadata"]["moleculer.service"], format!("v2.{name}"));
    let endpoints = info["endpoints"].as_array().expect("endpoints");
    let subjects: Vec<&str> = endpoints
        .iter()
        .filter_map(|e| e["subject"].as_str())
        .collect();
    assert_eq!(
        subjects,
        [
            format!("v2.{name}.add"),
            format!("v2.{name}.fail"),
            format!("v2.{name}.slow")
        ],
        "the protected action stays local"
    );
    let add = &endpoints[0];
    assert_eq!(add["name"], "add");
    assert_eq!(add["queue_group"], "q");
    assert_eq!(add["metadata"]["action"], format!("v2.{name}.add"));
    assert_eq!(add["metadata"]["description"], "Adds two numbers.");
    let schema: Value =
        serde_json::from_str(add["metadata"]["params_schema"].as_str().expect("schema"))
            .expect("params_schema is JSON");
    assert_eq!(schema["properties"]["a"]["type"], "number");
    let stats = one(&report, "stats");
    assert_eq!(stats["type"], "io.nats.micro.v1.stats_response");
    assert!(stats["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .all(|e| e["num_requests"] == 0));

    // Plain requests, as any NATS client sends them.
    let add_subject = format!("v2.{name}.add");
    let fail_subject = format!("v2.{name}.fail");
    let slow_subject = format!("v2.{name}.slow");
    let answers = node(&[
        "requests",
        &add_subject,
        r#"{"a": 1, "b": 2.5}"#,
        &add_subject,
        r#"{"a": "x"}"#,
        &add_subject,
        "this is not JSON",
        &fail_subject,
        "",
        &slow_subject,
        "{}",
    ])
    .await;
    let answers = answers.as_array().expect("answers");
    assert_eq!(answers[0]["data"], "3.5");
    assert_eq!(answers[0]["serviceError"], Value::Null);
    // The params do not deserialize: the broker's error, its code in the header.
    assert_eq!(answers[1]["serviceError"]["code"], 422, "{}", answers[1]);
    assert_eq!(answers[1]["headers"]["Nats-Service-Error-Code"], "422");
    let bad_json = &answers[2];
    assert_eq!(bad_json["serviceError"]["code"], 400, "{bad_json}");
    assert!(bad_json["headers"]["Nats-Service-Error"]
        .as_str()
        .is_some_and(|d| d.starts_with("the request body is not JSON")));
    let fail = &answers[3];
    assert_eq!(
        fail["serviceError"],
        json!({"code": 422, "message": "nope really"})
    );
    let body: Value =
        serde_json::from_str(fail["data"].as_str().expect("body")).expect("JSON body");
    assert_eq!(body["name"], "MoleculerClientError");
    assert_eq!(body["type"], "NOPE");
    assert_eq!(body["data"], json!({"x": 1}));
    assert_eq!(body["message"], "nope\nreally");
    assert_eq!(body.get("stack"), None);
    // The action's own timeout applies: the broker's RequestTimeoutError.
    assert_eq!(answers[4]["serviceError"]["code"], 504, "{}", answers[4]);

    let report = node(&["discover", &schemas().to_string_lossy(), &name]).await;
    assert_eq!(report["invalid"], json!([]), "schema violations: {report}");
    let stats = one(&report, "statsId");
    let by_name = |n: &str| {
        stats["endpoints"]
            .as_array()
            .and_then(|e| e.iter().find(|e| e["name"] == n))
            .cloned()
            .unwrap_or_else(|| panic!("endpoint {n}: {stats}"))
    };
    let add = by_name("add");
    assert_eq!(
        (add["num_requests"].as_u64(), add["num_errors"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(
        add["last_error"].as_str().map(|s| s.starts_with("400:")),
        Some(true)
    );
    let total = add["processing_time"].as_u64().expect("ns");
    assert!(total > 0);
    assert_eq!(add["average_processing_time"].as_u64(), Some(total / 3));
    let fail = by_name("fail");
    assert_eq!(fail["num_errors"], 1);
    assert_eq!(fail["last_error"], "422:nope\nreally");
    let slow = by_name("slow");
    assert!(
        slow["processing_time"].as_u64().expect("ns") >= 100_000_000,
        "{slow}"
    );

    bounded(exposed.stop()).await;
    let micro = MicroClient::new(connect().await);
    let left = bounded(micro.ping(Some(&name), DiscoveryOptions::default()))
        .await
        .expect("ping");
    assert!(left.is_empty(), "stopped, yet {left:?}");
    let gone =
        bounded(micro.request::<_, Value>(&add_subject, &json!({}), Duration::from_secs(2))).await;
    assert_eq!(
        gone.expect_err("nobody listens").name(),
        "ServiceNotFoundError"
    );
    bounded(broker.stop()).await.expect("stop");
}

struct Calc;

#[service(name = "microcalc", version = "staging")]
impl Calc {
    /// Multiplies.
    #[action(subject = "calc.mul")]
    async fn mul(&self, p: AddParams) -> Result<f64, Error> {
        Ok(p.a * p.b)
    }
}

#[tokio::test]
async fn services_added_later_are_exposed_and_a_stopped_broker_leaves_the_bus() {
    let group = unique("g");
    let broker = Broker::builder().node_id(unique("micro-node")).build();
    bounded(broker.start()).await.expect("start");
    let exposed = bounded(micro::expose(
        &broker,
        connect().await,
        MicroOptions::default().group(group.clone()),
    ))
    .await
    .expect("expose");
    assert!(exposed.services().is_empty());

    bounded(broker.add_service(Calc))
        .await
        .expect("add at runtime");
    let calc = bounded(exposed.wait_for("staging.microcalc", Duration::from_secs(5)))
        .await
        .expect("exposed after being added");
    assert_eq!(calc.version, "0.0.0-staging");
    let subject = format!("{group}.calc.mul");
    assert_eq!(calc.endpoints[0].subject, subject);

    let answers = node(&["requests", &subject, r#"{"a": 6, "b": 7}"#]).await;
    assert_eq!(answers[0]["data"], "42.0");

    // The Rust discovery client reads the same answers.
    let micro = MicroClient::new(connect().await);
    let info = bounded(micro.info(Some("microcalc"), DiscoveryOptions::default()))
        .await
        .expect("info");
    let ours: Vec<_> = info.iter().filter(|i| i.id == calc.id).collect();
    assert_eq!(ours.len(), 1, "{info:?}");
    assert_eq!(
        ours[0].endpoints[0]
            .metadata
            .as_ref()
            .map(|m| m["description"].as_str()),
        Some("Multiplies.")
    );

    bounded(broker.stop()).await.expect("stop");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !exposed.services().is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(exposed.services().is_empty(), "the broker stopped");
    let left = bounded(micro.ping(Some("microcalc"), DiscoveryOptions::default()))
        .await
        .expect("ping");
    assert!(left.iter().all(|p| p.id != calc.id), "{left:?}");
}

#[tokio::test]
async fn the_schema_validation_rejects_answers_that_break_adr32() {
    let report = node(&["selfcheck", &schemas().to_string_lossy()]).await;
    assert_eq!(report["goodRejected"], 0, "{report}");
    assert_eq!(report["badRejected"], report["bad"], "{report}");
}

#[tokio::test]
async fn bad_options_are_refused() {
    let broker = Broker::builder().node_id(unique("micro-node")).build();
    for options in [
        MicroOptions::default().queue_group("a b"),
        MicroOptions::default().group("edge.>"),
        MicroOptions::default().api_prefix(""),
    ] {
        let err = bounded(micro::expose(&broker, connect().await, options))
            .await
            .expect_err("refused");
        assert!(
            err.message().contains("invalid NATS service API options"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn a_rust_client_calls_a_js_adr32_service() {
    ensure_js_deps();
    let name = unique("jsecho");
    let group = unique("js");
    let mut child = Command::new("node")
        .args(["micro-client.js", "serve", &name, &group])
        .env("NATS_URL", nats_url())
        .current_dir(interop_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let ready = bounded(lines.next_line())
        .await
        .expect("read")
        .expect("a ready line");
    let ready: Value = serde_json::from_str(&ready).expect("JSON");
    let id = ready["id"].as_str().expect("id").to_owned();

    let micro = MicroClient::new(connect().await);
    let t = Duration::from_secs(2);
    let echoed: Value = bounded(micro.request(&format!("{group}.echo"), &json!({"x": [1, 2]}), t))
        .await
        .expect("echo");
    assert_eq!(echoed, json!({"x": [1, 2]}));

    let err = bounded(micro.request::<_, Value>(&format!("{group}.fail"), &json!({}), t))
        .await
        .expect_err("an ADR-32 error");
    assert_eq!(
        (err.name(), err.code(), err.message()),
        ("NatsServiceError", 418, "I'm a teapot")
    );
    assert_eq!(err.error_type(), Some("NATS_SERVICE_ERROR"));
    assert_eq!(err.data().map(|d| &d["body"]), Some(&json!({"why": "tea"})));
    let err = bounded(micro.request::<_, Value>(&format!("{group}.bare"), &json!({}), t))
        .await
        .expect_err("an ADR-32 error");
    assert_eq!((err.code(), err.message()), (503, "down"));

    let err = bounded(micro.request::<_, Value>(&format!("{group}.throws"), &json!({}), t))
        .await
        .expect_err("an ADR-32 error");
    assert_eq!((err.code(), err.message()), (500, "kaput"));

    let err = bounded(micro.request::<_, Value>(
        &format!("{group}.silent"),
        &json!({}),
        Duration::from_millis(300),
    ))
    .await
    .expect_err("no answer");
    assert!(err.is_timeout(), "{err}");
    let err = bounded(micro.request::<_, Value>(&format!("{group}.nothere"), &json!({}), t))
        .await
        .expect_err("nobody listens");
    assert_eq!((err.name(), err.code()), ("ServiceNotFoundError", 404));

    let options = DiscoveryOptions::default();
    let pings = bounded(micro.ping(Some(&name), options))
        .await
        .expect("ping");
    assert_eq!(pings.len(), 1, "{pings:?}");
    assert_eq!(
        (pings[0].id.as_str(), pings[0].version.as_str()),
        (id.as_str(), "1.2.3")
    );
    let info = bounded(micro.info(Some(&name), options))
        .await
        .expect("info");
    assert_eq!(info[0].description, "a JS service");
    let mut subjects: Vec<&str> = info[0]
        .endpoints
        .iter()
        .map(|e| e.subject.as_str())
        .collect();
    subjects.sort_unstable();
    let expected: Vec<String> = ["bare", "echo", "fail", "silent", "throws"]
        .iter()
        .map(|e| format!("{group}.{e}"))
        .collect();
    assert_eq!(subjects, expected);
    let stats = bounded(micro.stats(Some(&name), options))
        .await
        .expect("stats");
    let echo = stats[0]
        .endpoints
        .iter()
        .find(|e| e.name == "echo")
        .expect("echo stats");
    assert_eq!(echo.num_requests, 1);
    // nats.js counts an error when a handler throws (not on `respondError`).
    let throws = stats[0]
        .endpoints
        .iter()
        .find(|e| e.name == "throws")
        .expect("throws stats");
    assert_eq!((throws.num_requests, throws.num_errors), (1, 1));
    assert_eq!(throws.last_error, "kaput");
    let by_id: Vec<micro::PingResponse> =
        bounded(micro.discover(micro::Verb::Ping, Some(&name), Some(&id), options))
            .await
            .expect("ping by id");
    assert_eq!(by_id.len(), 1);

    drop(child.stdin.take());
    let status = bounded(child.wait()).await.expect("node exits");
    assert!(status.success());
}

fn who(name: &str) -> ServiceSchema {
    ServiceSchema::new(name)
        .action(ActionDef::new("who", |ctx| async move {
            Ok(json!(ctx.broker().node_id()))
        }))
        .action(ActionDef::new("boom", |_ctx| async move {
            if std::hint::black_box(true) {
                panic!("the handler blew up");
            }
            Ok(json!(null))
        }))
}

/// Waits (bounded) until every instance's `who` endpoint counted `n` requests.
async fn both_counted(micro: &MicroClient, name: &str, n: u64) -> Vec<micro::StatsResponse> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let stats = bounded(micro.stats(Some(name), DiscoveryOptions::default()))
            .await
            .expect("stats");
        let done = stats.len() == 2
            && stats.iter().all(|s| {
                s.endpoints
                    .iter()
                    .any(|e| e.name == "who" && e.num_requests == n)
            });
        if done || tokio::time::Instant::now() >= deadline {
            return stats;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn two_instances_share_the_queue_group_or_both_answer_without_one() {
    let name = unique("pair");
    let mut brokers = Vec::new();
    for _ in 0..2 {
        let broker = Broker::builder().node_id(unique("micro-pair")).build();
        bounded(broker.add_service(who(&name))).await.expect("add");
        bounded(broker.start()).await.expect("start");
        brokers.push(broker);
    }
    let mut handles = Vec::new();
    for broker in &brokers {
        handles.push(
            bounded(micro::expose(
                broker,
                connect().await,
                MicroOptions::default(),
            ))
            .await
            .expect("expose"),
        );
    }
    let micro = MicroClient::new(connect().await);
    let options = DiscoveryOptions::default();
    let pings = bounded(micro.ping(Some(&name), options))
        .await
        .expect("ping");
    assert_eq!(pings.len(), 2, "{pings:?}");
    assert_ne!(pings[0].id, pings[1].id);
    for ping in &pings {
        let by_id: Vec<micro::StatsResponse> =
            bounded(micro.discover(micro::Verb::Stats, Some(&name), Some(&ping.id), options))
                .await
                .expect("stats by id");
        assert_eq!(by_id.len(), 1);
        assert_eq!(by_id[0].id, ping.id);
    }

    // Queue group `q`: each request reaches one instance, and both get some.
    let subject = format!("{name}.who");
    let t = Duration::from_secs(2);
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let node: String = bounded(micro.request(&subject, &json!({}), t))
            .await
            .expect("who");
        seen.insert(node);
    }
    assert_eq!(seen.len(), 2, "both instances served: {seen:?}");
    let stats = both_counted(&micro, &name, 0).await;
    let total: u64 = stats
        .iter()
        .flat_map(|s| &s.endpoints)
        .filter(|e| e.name == "who")
        .map(|e| e.num_requests)
        .sum();
    assert_eq!(total, 20, "{stats:?}");

    // A panicking action is a 500 answer, and the endpoint keeps serving.
    let err = bounded(micro.request::<_, Value>(&format!("{name}.boom"), &json!({}), t))
        .await
        .expect_err("the panic is an error");
    assert_eq!(err.code(), 500, "{err}");
    assert!(err.message().contains("the handler blew up"), "{err}");
    let _: String = bounded(micro.request(&subject, &json!({}), t))
        .await
        .expect("still serving");

    // Without a queue group every instance gets every request.
    for handle in handles.drain(..) {
        bounded(handle.stop()).await;
    }
    for broker in &brokers {
        handles.push(
            bounded(micro::expose(
                broker,
                connect().await,
                MicroOptions::default().no_queue_group(),
            ))
            .await
            .expect("expose"),
        );
    }
    for _ in 0..5 {
        let _: String = bounded(micro.request(&subject, &json!({}), t))
            .await
            .expect("who");
    }
    let stats = both_counted(&micro, &name, 5).await;
    for s in &stats {
        let who = s.endpoints.iter().find(|e| e.name == "who").expect("who");
        assert_eq!(
            (who.num_requests, who.queue_group.as_str()),
            (5, ""),
            "{stats:?}"
        );
    }
    for broker in &brokers {
        bounded(broker.stop()).await.expect("stop");
    }
}

#[tokio::test]
async fn a_request_in_flight_when_the_exposure_stops_still_gets_its_answer() {
    let name = unique("drain");
    let broker = Broker::builder().node_id(unique("micro-drain")).build();
    let service = ServiceSchema::new(name.as_str()).action(ActionDef::new("slow", |_ctx| async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        Ok(json!("done"))
    }));
    bounded(broker.add_service(service)).await.expect("add");
    bounded(broker.start()).await.expect("start");
    let exposed = bounded(micro::expose(
        &broker,
        connect().await,
        MicroOptions::default(),
    ))
    .await
    .expect("expose");
    let micro = MicroClient::new(connect().await);
    let subject = format!("{name}.slow");
    let pending = {
        let (micro, subject) = (micro.clone(), subject.clone());
        tokio::spawn(async move {
            micro
                .request::<_, String>(&subject, &json!({}), Duration::from_secs(5))
                .await
        })
    };
    // The request is in the action when the stop begins.
    tokio::time::sleep(Duration::from_millis(150)).await;
    bounded(exposed.stop()).await;
    let answer = bounded(pending).await.expect("joined");
    assert_eq!(answer.expect("answered despite the stop"), "done");
    let after =
        bounded(micro.request::<_, String>(&subject, &json!({}), Duration::from_secs(2))).await;
    assert_eq!(after.expect_err("stopped").name(), "ServiceNotFoundError");
    bounded(broker.stop()).await.expect("stop");
}

#[tokio::test]
async fn the_verb_prefix_can_be_changed() {
    let name = unique("prefixed");
    let prefix = unique("$SRVX");
    let broker = Broker::builder().node_id(unique("micro-prefix")).build();
    bounded(broker.add_service(ServiceSchema::new(name.as_str())))
        .await
        .expect("add");
    bounded(broker.start()).await.expect("start");
    let exposed = bounded(micro::expose(
        &broker,
        connect().await,
        MicroOptions::default().api_prefix(prefix.clone()),
    ))
    .await
    .expect("expose");
    let options = DiscoveryOptions::default();
    let plain = MicroClient::new(connect().await);
    let on_default = bounded(plain.ping(Some(&name), options))
        .await
        .expect("ping");
    assert!(on_default.is_empty(), "{on_default:?}");
    let prefixed = plain.clone().api_prefix(prefix);
    let found = bounded(prefixed.info(Some(&name), options))
        .await
        .expect("info");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].endpoints, []);
    bounded(exposed.stop()).await;
    bounded(broker.stop()).await.expect("stop");
}

#[tokio::test]
async fn a_result_too_large_for_nats_is_a_500_answer() {
    let name = unique("huge");
    let broker = Broker::builder().node_id(unique("micro-huge")).build();
    let service = ServiceSchema::new(name.as_str()).action(ActionDef::new("big", |_ctx| async {
        // Past the server's max_payload (1 MB by default).
        Ok(json!("x".repeat(2 * 1024 * 1024)))
    }));
    bounded(broker.add_service(service)).await.expect("add");
    bounded(broker.start()).await.expect("start");
    let exposed = bounded(micro::expose(
        &broker,
        connect().await,
        MicroOptions::default(),
    ))
    .await
    .expect("expose");
    let micro = MicroClient::new(connect().await);
    let subject = format!("{name}.big");
    let err = bounded(micro.request::<_, String>(&subject, &json!({}), Duration::from_secs(5)))
        .await
        .expect_err("too large");
    assert_eq!(err.code(), 500, "{err}");
    assert_eq!(err.error_type(), Some("RESPONSE_NOT_SENT"), "{err}");
    let stats = bounded(micro.stats(Some(&name), DiscoveryOptions::default()))
        .await
        .expect("stats");
    assert_eq!(stats[0].endpoints[0].num_errors, 1);
    bounded(exposed.stop()).await;
    bounded(broker.stop()).await.expect("stop");
}

/// A NATS server of this test's own (never the shared one), on a free port.
struct PrivateNats {
    port: u16,
    child: Option<tokio::process::Child>,
}

impl PrivateNats {
    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port")
    }

    async fn start(port: u16) -> PrivateNats {
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("nats-server runs (apt-get install nats-server)");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "nats-server did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        PrivateNats {
            port,
            child: Some(child),
        }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }
}

#[tokio::test]
async fn the_services_come_back_after_the_nats_server_restarts() {
    let port = PrivateNats::free_port();
    let mut server = PrivateNats::start(port).await;
    let name = unique("restart");
    let broker = Broker::builder().node_id(unique("micro-restart")).build();
    let service = ServiceSchema::new(name.as_str())
        .action(ActionDef::new("ping", |_ctx| async { Ok(json!("pong")) }));
    bounded(broker.add_service(service)).await.expect("add");
    bounded(broker.start()).await.expect("start");
    let exposed = bounded(micro::expose_at(
        &broker,
        &server.url(),
        MicroOptions::default(),
    ))
    .await
    .expect("expose");
    let micro = bounded(MicroClient::connect(&server.url()))
        .await
        .expect("client");
    let subject = format!("{name}.ping");
    let t = Duration::from_secs(1);
    let pong: String = bounded(micro.request(&subject, &json!({}), t))
        .await
        .expect("before");
    assert_eq!(pong, "pong");

    server.kill().await;
    let down = micro
        .request::<_, String>(&subject, &json!({}), Duration::from_millis(300))
        .await;
    assert!(down.is_err(), "the server is down: {down:?}");
    let server = PrivateNats::start(port).await;
    // Both connections reconnect; the exposer's subscriptions are made again by the client.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let answer = loop {
        match micro.request::<_, String>(&subject, &json!({}), t).await {
            Ok(answer) => break answer,
            Err(err) if tokio::time::Instant::now() < deadline => {
                tracing::debug!("not yet: {err}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(err) => panic!("no answer after the restart: {err}"),
        }
    };
    assert_eq!(answer, "pong");
    let pings = bounded(micro.ping(Some(&name), DiscoveryOptions::default()))
        .await
        .expect("ping");
    assert_eq!(pings.len(), 1, "{pings:?}");
    assert_eq!(pings[0].id, exposed.services()[0].id, "the same instance");
    bounded(exposed.stop()).await;
    bounded(broker.stop()).await.expect("stop");
    drop(server);
}

/// A broker on the NATS transporter exposes its services through the service API with no
/// call of its own (on by default, as the issue asks), on the transporter's connection; a
/// transporter built `without_service_api` does not; a stopped broker's services leave.
#[tokio::test]
async fn a_broker_on_nats_exposes_its_services_by_default() {
    let options = DiscoveryOptions::default();
    let micro = MicroClient::new(connect().await);
    for exposed in [true, false] {
        let name = unique("bydefault");
        let transporter = broker_nats::NatsTransporter::new(&nats_url()).expect("url");
        let transporter = match exposed {
            true => transporter,
            false => transporter.without_service_api(),
        };
        let broker = Broker::builder()
            .node_id(unique("micro-default"))
            .namespace(unique("ns"))
            .transporter(transporter)
            .build();
        let service = ServiceSchema::new(name.as_str()).action(ActionDef::new("twice", |ctx| {
            let n = ctx.params()["n"].as_i64().unwrap_or(0);
            async move { Ok(json!(n * 2)) }
        }));
        bounded(broker.add_service(service)).await.expect("add");
        bounded(broker.start()).await.expect("start");
        let pings = bounded(micro.ping(Some(&name), options))
            .await
            .expect("ping");
        let answer = bounded(micro.request::<_, i64>(
            &format!("{name}.twice"),
            &json!({"n": 21}),
            Duration::from_secs(2),
        ))
        .await;
        if exposed {
            assert_eq!(pings.len(), 1, "{pings:?}");
            assert_eq!(answer.expect("a plain NATS request answered"), 42);
        } else {
            assert!(pings.is_empty(), "{pings:?}");
            assert_eq!(
                answer.expect_err("not exposed").name(),
                "ServiceNotFoundError"
            );
        }
        bounded(broker.stop()).await.expect("stop");
        let after = bounded(micro.ping(Some(&name), options))
            .await
            .expect("ping");
        assert!(after.is_empty(), "left with the broker: {after:?}");
    }
}
