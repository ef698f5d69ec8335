//! The `broker` binary joining a Rust node of this test process over Redis (`REDIS_URL`,
//! default `redis://127.0.0.1:6379`), and once over NATS (`NATS_URL`, default
//! `nats://127.0.0.1:4222`), each test in its own namespace.

mod common;

use broker_core::{ActionDef, Broker, Context, EventDef, ProtocolVersion, ServiceSchema};
use broker_redis::RedisTransporter;
use common::broker_with;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A server node offering `math.add` and recording `user.*` events.
struct Server {
    broker: Broker,
    namespace: String,
    events: Arc<Mutex<Vec<Value>>>,
}

/// A server node speaking protocol "5" (Moleculer 0.15).
async fn server(test: &str) -> Server {
    server_speaking(test, ProtocolVersion::V5, None).await
}

/// A server node speaking `protocol`, in its own namespace unless it joins `namespace`.
async fn server_speaking(test: &str, protocol: ProtocolVersion, namespace: Option<&str>) -> Server {
    let namespace = namespace.map_or_else(
        || format!("cli-{test}-{}", std::process::id()),
        str::to_owned,
    );
    let transporter = match RedisTransporter::new(&redis_url()) {
        Ok(t) => t,
        Err(err) => panic!("{err}"),
    };
    let broker = Broker::builder()
        .node_id(format!("server-{test}"))
        .namespace(namespace.clone())
        .protocol(protocol)
        .transporter(transporter)
        // Frequent heartbeats: the `auto` probe asks version 5 first and hears nodes of
        // version 4 in a mixed cluster only when they speak up on their own.
        .heartbeat_interval(Duration::from_millis(100))
        .build();
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let schema = ServiceSchema::new("math")
        .action(ActionDef::new("add", |ctx: Context| async move {
            let p = ctx.params();
            Ok(json!(
                p["a"].as_f64().unwrap_or(0.0) + p["b"].as_f64().unwrap_or(0.0)
            ))
        }))
        .event(EventDef::new("user.*", move |ctx: Context| {
            let seen = seen.clone();
            async move {
                if let Ok(mut seen) = seen.lock() {
                    seen.push(ctx.params().clone());
                }
                Ok(())
            }
        }));
    let start = async {
        broker.add_service(schema).await?;
        broker.start().await
    };
    match tokio::time::timeout(Duration::from_secs(15), start).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => panic!(
            "the server node did not start on {} (is Redis running?): {err}",
            redis_url()
        ),
        Err(_) => panic!(
            "the server node did not start on {} within 15 s",
            redis_url()
        ),
    }
    Server {
        broker,
        namespace,
        events,
    }
}

impl Server {
    async fn cli(&self, args: &[&str], stdin: &str) -> common::Run {
        let url = redis_url();
        let mut all = vec![
            "--transporter",
            url.as_str(),
            "--namespace",
            self.namespace.as_str(),
        ];
        all.extend_from_slice(args);
        broker_with(&all, &[], stdin, Duration::from_secs(30)).await
    }

    async fn stop(self) {
        let _ = self.broker.stop().await;
    }
}

#[tokio::test]
async fn nats_urls_join_a_cluster_on_nats() {
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
    let namespace = format!("cli-nats-{}", std::process::id());
    let transporter = match broker_nats::NatsTransporter::new(&url) {
        Ok(t) => t,
        Err(err) => panic!("{err}"),
    };
    let broker = Broker::builder()
        .node_id("server-nats")
        .namespace(namespace.clone())
        .transporter(transporter)
        .build();
    let add = ActionDef::new("add", |ctx: Context| async move {
        let p = ctx.params();
        Ok(json!(
            p["a"].as_f64().unwrap_or(0.0) + p["b"].as_f64().unwrap_or(0.0)
        ))
    });
    let start = async {
        broker
            .add_service(ServiceSchema::new("math").action(add))
            .await?;
        broker.start().await
    };
    match tokio::time::timeout(Duration::from_secs(15), start).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => panic!("the server node did not start on {url} (is NATS running?): {err}"),
        Err(_) => panic!("the server node did not start on {url} within 15 s"),
    }
    let args = [
        "--transporter",
        url.as_str(),
        "--namespace",
        namespace.as_str(),
        "call",
        "math.add",
        r#"{"a":20,"b":22}"#,
    ];
    let sum = broker_with(&args, &[], "", Duration::from_secs(30)).await;
    let _ = broker.stop().await;
    assert_eq!(sum.code, Some(0), "{sum:?}");
    assert_eq!(sum.json(), json!(42.0));
}

#[tokio::test]
async fn call_and_dcall_reach_the_server() {
    let s = server("call").await;
    let sum = s.cli(&["call", "math.add", r#"{"a":1,"b":2}"#], "").await;
    let direct = s
        .cli(
            &[
                "dcall",
                "server-call",
                "math.add",
                "--a",
                "100",
                "--b",
                "999",
            ],
            "",
        )
        .await;
    s.stop().await;
    assert_eq!(sum.code, Some(0), "{sum:?}");
    assert_eq!(sum.json(), json!(3.0));
    assert_eq!(direct.code, Some(0), "{direct:?}");
    assert_eq!(direct.json(), json!(1099.0));
}

#[tokio::test]
async fn nodes_services_and_actions_list_the_cluster() {
    let s = server("lists").await;
    let nodes = s.cli(&["--node-id", "the-cli", "nodes"], "").await;
    let services = s.cli(&["services", "-i"], "").await;
    let actions = s.cli(&["actions", "-i"], "").await;
    s.stop().await;
    assert_eq!(nodes.code, Some(0), "{nodes:?}");
    let ids: Vec<Value> = nodes
        .json()
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|n| n["id"].clone())
        .collect();
    assert_eq!(
        ids,
        vec![json!("server-lists"), json!("the-cli")],
        "{nodes:?}"
    );
    assert_eq!(services.json()[0]["name"], json!("math"), "{services:?}");
    assert_eq!(
        services.json()[0]["nodes"],
        json!(["server-lists"]),
        "{services:?}"
    );
    assert_eq!(actions.json()[0]["name"], json!("math.add"), "{actions:?}");
}

#[tokio::test]
async fn emit_delivers_to_the_server() {
    let s = server("emit").await;
    let run = s.cli(&["emit", "user.created", r#"{"id": 7}"#], "").await;
    let mut seen = Vec::new();
    for _ in 0..200 {
        seen = s.events.lock().map(|e| e.clone()).unwrap_or_default();
        if !seen.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    s.stop().await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(seen, vec![json!({"id": 7})]);
}

#[tokio::test]
async fn failures_exit_non_zero_with_the_error_on_stderr() {
    let s = server("errors").await;
    let missing = s.cli(&["--wait", "1000", "call", "math.nope"], "").await;
    let bad = s.cli(&["call", "math.add", "{\"a\": }"], "").await;
    let ghost = s
        .cli(&["--wait", "500", "dcall", "ghost", "math.add"], "")
        .await;
    s.stop().await;
    assert_eq!(missing.code, Some(1), "{missing:?}");
    assert!(
        missing
            .stderr
            .contains("ServiceNotFoundError: Service 'math.nope' is not found."),
        "{missing:?}"
    );
    assert!(missing.stdout.is_empty(), "{missing:?}");
    assert_eq!(bad.code, Some(2), "{bad:?}");
    assert!(bad.stderr.contains("invalid JSON params"), "{bad:?}");
    assert_eq!(ghost.code, Some(1), "{ghost:?}");
    assert!(
        ghost.stderr.contains("is not found on 'ghost' node"),
        "{ghost:?}"
    );
}

#[tokio::test]
async fn the_repl_joins_the_cluster_from_the_environment() {
    let s = server("repl").await;
    let url = redis_url();
    let env = [
        ("TRANSPORTER", url.as_str()),
        ("NAMESPACE", s.namespace.as_str()),
        ("NODE_ID", "repl-node"),
    ];
    let script = "call math.add {\"a\": 100, \"b\": 999}\nnodes\ncall math.nope\nexit\n";
    let run = broker_with(&["repl"], &env, script, Duration::from_secs(30)).await;
    s.stop().await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("\n1099.0\n"), "{run:?}");
    assert!(
        run.stdout.lines().any(|l| l.starts_with("repl-node (*)")),
        "{run:?}"
    );
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("server-repl ") && l.contains("ONLINE")),
        "{run:?}"
    );
    assert!(
        run.stdout.contains(">> ERROR: ServiceNotFoundError"),
        "{run:?}"
    );
}

/// `--protocol auto` (the default): the CLI listens to the bus first and speaks the version
/// the nodes there speak, so a 0.14 cluster ("4") and a 0.15 one ("5") both answer.
#[tokio::test]
async fn auto_protocol_speaks_the_version_of_the_nodes_on_the_bus() {
    for (test, protocol) in [
        ("auto4", ProtocolVersion::V4),
        ("auto5", ProtocolVersion::V5),
    ] {
        let s = server_speaking(test, protocol, None).await;
        let sum = s.cli(&["call", "math.add", r#"{"a":1,"b":2}"#], "").await;
        let info = s.cli(&["--compact", "info"], "").await;
        let mismatched = s.broker.other_protocol_nodes();
        s.stop().await;
        // The probe asks version 5 first: a 0.15 cluster never gets a packet it must reject;
        // a 0.14 one gets that one DISCOVER per run (`--protocol 4` avoids it).
        assert_eq!(
            mismatched.is_empty(),
            protocol == ProtocolVersion::V5,
            "{protocol}: {mismatched:?}"
        );
        assert_eq!(sum.code, Some(0), "{protocol}: {sum:?}");
        assert_eq!(sum.json(), json!(3.0), "{protocol}: {sum:?}");
        assert!(!sum.stderr.contains("warning"), "{protocol}: {sum:?}");
        assert_eq!(
            info.json()["broker"]["protocolVersion"],
            json!(protocol.as_str()),
            "{info:?}"
        );
        // The transporter as its URL, not Rust's `Debug` form.
        let shown = info.json()["broker"]["transporter"].clone();
        assert!(
            shown
                .as_str()
                .is_some_and(|t| t.starts_with("redis") && !t.contains('{')),
            "{shown}"
        );
    }
}

/// Explicit versions still work, from the flag and from `MOLECULER_PROTOCOL`; the wrong one
/// does not reach the node.
#[tokio::test]
async fn explicit_protocol_versions_are_spoken_as_asked() {
    let s = server_speaking("explicit4", ProtocolVersion::V4, None).await;
    let flag = s
        .cli(
            &[
                "--protocol",
                "4",
                "call",
                "math.add",
                "--a",
                "2",
                "--b",
                "2",
            ],
            "",
        )
        .await;
    let url = redis_url();
    let env = [
        ("TRANSPORTER", url.as_str()),
        ("NAMESPACE", s.namespace.as_str()),
        ("MOLECULER_PROTOCOL", "4"),
    ];
    let from_env = broker_with(
        &["call", "math.add", "--a", "3", "--b", "3"],
        &env,
        "",
        Duration::from_secs(30),
    )
    .await;
    let wrong = s
        .cli(
            &["--protocol", "5", "--wait", "500", "call", "math.add"],
            "",
        )
        .await;
    s.stop().await;
    assert_eq!(flag.json(), json!(4.0), "{flag:?}");
    assert_eq!(from_env.json(), json!(6.0), "{from_env:?}");
    assert_eq!(wrong.code, Some(1), "{wrong:?}");
    assert!(wrong.stderr.contains("ServiceNotFoundError"), "{wrong:?}");
}

/// Nodes of both versions on the bus: the CLI says so on stderr and speaks the newer.
#[tokio::test]
async fn auto_protocol_with_both_versions_warns_and_speaks_5() {
    let old = server_speaking("mixed-old", ProtocolVersion::V4, None).await;
    let new = server_speaking("mixed-new", ProtocolVersion::V5, Some(&old.namespace)).await;
    let info = old.cli(&["--compact", "info"], "").await;
    let call = old
        .cli(
            &[
                "dcall",
                "server-mixed-new",
                "math.add",
                "--a",
                "1",
                "--b",
                "1",
            ],
            "",
        )
        .await;
    old.stop().await;
    new.stop().await;
    assert_eq!(info.code, Some(0), "{info:?}");
    assert_eq!(
        info.json()["broker"]["protocolVersion"],
        json!("5"),
        "{info:?}"
    );
    for needle in [
        "warning: nodes of both protocol versions are on the bus",
        "protocol 4 (Moleculer 0.14): server-mixed-old",
        "protocol 5 (Moleculer 0.15): server-mixed-new",
        "--protocol 4",
    ] {
        assert!(info.stderr.contains(needle), "{needle:?}: {info:?}");
    }
    assert_eq!(call.json(), json!(2.0), "{call:?}");
}

#[tokio::test]
async fn call_trace_prints_the_span_tree_of_the_call() {
    use broker_core::trace::{EventExporter, EventExporterOptions};
    use broker_core::TracingOptions;
    let namespace = format!("cli-trace-{}", std::process::id());
    let transporter = match RedisTransporter::new(&redis_url()) {
        Ok(t) => t,
        Err(err) => panic!("{err}"),
    };
    let exporter = EventExporter::new(EventExporterOptions {
        interval: Duration::from_millis(100),
        ..EventExporterOptions::default()
    });
    let broker = Broker::builder()
        .node_id("server-trace")
        .namespace(namespace.clone())
        .transporter(transporter)
        .tracing(TracingOptions::new().exporter(exporter))
        .build();
    let schema = ServiceSchema::new("math")
        .action(ActionDef::new("add", |ctx: Context| async move {
            let p = ctx.params();
            Ok(json!(
                p["a"].as_f64().unwrap_or(0.0) + p["b"].as_f64().unwrap_or(0.0)
            ))
        }))
        .action(ActionDef::new("twice", |ctx: Context| async move {
            let a = ctx.params()["a"].clone();
            ctx.call::<Value>("math.add", json!({"a": a, "b": a})).await
        }));
    let started = async {
        broker.add_service(schema).await?;
        broker.start().await
    };
    match tokio::time::timeout(Duration::from_secs(15), started).await {
        Ok(Ok(())) => {}
        other => panic!("the server node did not start: {other:?}"),
    }
    let url = redis_url();
    let args = [
        "--transporter",
        url.as_str(),
        "--namespace",
        namespace.as_str(),
        "call",
        "--trace",
        "math.twice",
        r#"{"a": 2}"#,
    ];
    let run = broker_with(&args, &[], "", Duration::from_secs(30)).await;
    let _ = broker.stop().await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.json(), json!(4.0), "stdout stays the result: {run:?}");
    let tree = &run.stderr;
    assert!(
        tree.contains("Depth: 3") && tree.contains("Total: 3"),
        "{tree}"
    );
    let rows: Vec<&str> = tree.lines().filter(|l| l.contains("'")).collect();
    assert!(rows[0].contains("call 'math.twice'"), "{tree}");
    assert!(rows[1].contains("└─┬─ action 'math.twice' »"), "{tree}");
    assert!(rows[2].contains("└─── action 'math.add'"), "{tree}");
}
