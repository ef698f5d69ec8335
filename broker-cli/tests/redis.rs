//! The `broker` binary joining a Rust node of this test process over Redis (`REDIS_URL`,
//! default `redis://127.0.0.1:6379`), each test in its own namespace.

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

async fn server(test: &str) -> Server {
    let namespace = format!("cli-{test}-{}", std::process::id());
    let transporter = match RedisTransporter::new(&redis_url()) {
        Ok(t) => t,
        Err(err) => panic!("{err}"),
    };
    let broker = Broker::builder()
        .node_id(format!("server-{test}"))
        .namespace(namespace.clone())
        .protocol(ProtocolVersion::V5)
        .transporter(transporter)
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
