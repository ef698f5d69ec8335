//! The console driven line by line (as on a pipe) against a two-node in-memory cluster: what a
//! person types, what they read back.

use broker_core::{ActionDef, Broker, Context, Error, EventDef, MemoryTransporter, ServiceSchema};
use broker_repl::{run_script, Style};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Events the server node received: (name, payload, meta).
type Seen = Arc<Mutex<Vec<(String, Value, Value)>>>;

fn math(seen: Seen) -> ServiceSchema {
    let record = move |ctx: Context| {
        let seen = seen.clone();
        async move {
            if let Ok(mut seen) = seen.lock() {
                seen.push((
                    ctx.event_name().unwrap_or_default().to_owned(),
                    ctx.params().clone(),
                    Value::Object(ctx.meta()),
                ));
            }
            Ok(())
        }
    };
    ServiceSchema::new("math")
        .action(ActionDef::new("add", |ctx: Context| async move {
            let p = ctx.params();
            Ok(json!(
                p["a"].as_i64().unwrap_or(0) + p["b"].as_i64().unwrap_or(0)
            ))
        }))
        .action(ActionDef::new("echo", |ctx: Context| async move {
            Ok(json!({"params": ctx.params(), "meta": Value::Object(ctx.meta())}))
        }))
        .action(ActionDef::new("fail", |_ctx: Context| async move {
            Err::<Value, Error>(
                Error::client("Nope", 418, "TEAPOT").with_data(json!({"why": "tea"})),
            )
        }))
        .event(EventDef::new("user.*", record))
}

struct Cluster {
    client: Broker,
    server: Broker,
    seen: Seen,
}

async fn cluster(namespace: &str) -> Cluster {
    let seen = Seen::default();
    let node = |id: &str| {
        Broker::builder()
            .node_id(id)
            .namespace(namespace)
            .transporter(MemoryTransporter::new())
            .request_timeout(Duration::from_secs(5))
            .build()
    };
    let server = node("server");
    let client = node("client");
    let started = async {
        server.add_service(math(seen.clone())).await?;
        server.start().await?;
        client.start().await?;
        client
            .wait_for_services(&["math"], Duration::from_secs(5))
            .await
    };
    if let Err(err) = started.await {
        panic!("cluster did not start: {err}");
    }
    Cluster {
        client,
        server,
        seen,
    }
}

impl Cluster {
    /// Runs the lines on the client's console and returns what it printed.
    async fn type_lines(&self, lines: &str) -> (String, usize) {
        let mut out = Vec::new();
        let run = run_script(&self.client, lines.as_bytes(), &mut out, Style::plain());
        let summary = match tokio::time::timeout(Duration::from_secs(20), run).await {
            Ok(Ok(summary)) => summary,
            Ok(Err(err)) => panic!("console failed: {err}"),
            Err(_) => panic!("console did not finish within 20 s"),
        };
        (String::from_utf8_lossy(&out).into_owned(), summary.errors)
    }

    async fn stop(self) {
        let _ = self.client.stop().await;
        let _ = self.server.stop().await;
    }

    /// Waits (bounded) until `n` events arrived at the server.
    async fn events(&self, n: usize) -> Vec<(String, Value, Value)> {
        for _ in 0..200 {
            let seen = self.seen.lock().map(|s| s.clone()).unwrap_or_default();
            if seen.len() >= n {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

#[tokio::test]
async fn calls_print_pretty_results() {
    let c = cluster("repl-calls").await;
    let (out, errors) = c
        .type_lines(concat!(
            "call math.add {\"a\": 100, \"b\": 999}\n",
            "call math.add --a 1 --b 2\n",
            "dcall server math.echo {\"x\": [1, 2]} --#user.id 7 --$timeout 2000\n",
        ))
        .await;
    c.stop().await;
    assert_eq!(errors, 0, "{out}");
    assert!(
        out.contains(">> Call 'math.add' with params: {\"a\":100,\"b\":999}\n1099\n"),
        "{out}"
    );
    assert!(
        out.contains(">> Call 'math.add' with params: {\"a\":1,\"b\":2}\n3\n"),
        "{out}"
    );
    assert!(
        out.contains(">> Call 'math.echo' on 'server' with params"),
        "{out}"
    );
    // Keys in the order the handler wrote them.
    let pretty = "{\n  \"params\": {\n    \"x\": [\n      1,\n      2\n    ]\n  },\n  \"meta\": {\n    \"user\": {\n      \"id\": 7\n    }\n  }\n}";
    assert!(out.contains(pretty), "{out}");
    assert!(out.contains(">> Execution time: "), "{out}");
}

#[tokio::test]
async fn events_reach_the_other_node() {
    let c = cluster("repl-events").await;
    let (out, errors) = c
        .type_lines(concat!(
            "emit user.created {\"id\": 1} --#by repl\n",
            "broadcast user.removed --id 2\n",
            "broadcastLocal user.local\n",
        ))
        .await;
    let seen = c.events(2).await;
    c.stop().await;
    assert_eq!(errors, 0, "{out}");
    assert!(
        out.contains(">> Event 'user.created' emitted with payload: {\"id\":1}"),
        "{out}"
    );
    assert!(
        out.contains(">> Event 'user.removed' broadcast with payload: {\"id\":2}"),
        "{out}"
    );
    assert!(
        out.contains(">> Event 'user.local' broadcast locally"),
        "{out}"
    );
    // The local broadcast stays on the client, which has no handler.
    assert_eq!(
        seen,
        vec![
            (
                "user.created".to_owned(),
                json!({"id": 1}),
                json!({"by": "repl"})
            ),
            ("user.removed".to_owned(), json!({"id": 2}), json!({})),
        ]
    );
}

#[tokio::test]
async fn lists_are_tables_of_the_live_registry() {
    let c = cluster("repl-lists").await;
    let (out, errors) = c
        .type_lines("nodes\nservices -i\nactions -i -f math.*\nevents -d\n")
        .await;
    let (local, _) = c.type_lines("actions -l\n").await;
    c.stop().await;
    assert_eq!(errors, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    let find = |prefix: &str| lines.iter().find(|l| l.starts_with(prefix)).copied();
    assert!(
        find("Node ID").is_some_and(|l| l.contains("Services") && l.contains("State")),
        "{out}"
    );
    assert!(
        find("client (*)").is_some_and(|l| l.contains("ONLINE")),
        "{out}"
    );
    assert!(
        find("server ").is_some_and(|l| l.contains("ONLINE") && l.contains("rust")),
        "{out}"
    );
    assert!(
        find("math ").is_some_and(
            |l| l.split_whitespace().collect::<Vec<_>>() == ["math", "-", "OK", "3", "1", "1"]
        ),
        "{out}"
    );
    assert!(
        !out.contains("$node.list"),
        "internal actions are skipped: {out}"
    );
    assert!(find("math.add ").is_some_and(|l| l.contains("OK")), "{out}");
    assert!(
        find("user.* ").is_some_and(|l| l.contains("math") && l.ends_with("server")),
        "{out}"
    );
    // `actions -l` on the client: it offers only its own $node actions.
    assert!(
        local.contains("$node.list") && !local.contains("math.add"),
        "{local}"
    );
}

#[tokio::test]
async fn errors_are_reported_and_the_console_goes_on() {
    let c = cluster("repl-errors").await;
    let (out, errors) = c
        .type_lines(concat!(
            "frobnicate\n",
            "call math.add {\"a\": }\n",
            "call math.nope\n",
            "call math.fail\n",
            "dcall ghost math.add\n",
            "nodes --bogus\n",
            "call math.add --a 2 --b 2\n",
            "exit\n",
            "call math.add --a 5 --b 5\n",
        ))
        .await;
    c.stop().await;
    assert_eq!(errors, 6, "{out}");
    let expected = [
        ">> ERROR: unknown command 'frobnicate'; type 'help' for the list",
        ">> ERROR: invalid JSON params '{\"a\": }': expected value at line 1 column 7",
        ">> ERROR: ServiceNotFoundError: Service 'math.nope' is not found. (code 404, type SERVICE_NOT_FOUND)",
        ">> ERROR: MoleculerClientError: Nope (code 418, type TEAPOT, node server)",
        "   data: {\"why\":\"tea\"}",
        ">> ERROR: ServiceNotFoundError: Service 'math.add' is not found on 'ghost' node. (code 404, type SERVICE_NOT_FOUND)",
        ">> ERROR: unknown option --bogus",
    ];
    for line in expected {
        assert!(
            out.lines().any(|l| l == line),
            "missing {line:?} in:\n{out}"
        );
    }
    assert!(out.contains("\n4\n"), "the console kept running: {out}");
    assert!(!out.contains("\n10\n"), "nothing runs after exit: {out}");
}

#[tokio::test]
async fn info_help_and_bench() {
    let c = cluster("repl-info").await;
    let (out, errors) = c
        .type_lines("info\nhelp\nhelp bench\nbench math.add --num 200 --a 1 --b 2\nbench math.add --time 0.2\n")
        .await;
    c.stop().await;
    assert_eq!(errors, 0, "{out}");
    for needle in [
        "Namespace        repl-info",
        "Node ID          client",
        "Nodes            2 online, 2 known",
        "  broadcastLocal  Broadcast an event to the handlers of this node only.",
        "  --num <value>     number of calls",
        ">> Benchmark 'math.add': 200 calls, 0 errors in ",
        "   Throughput:  ",
        "   Percentiles: p50 ",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
    assert_eq!(out.matches(">> Benchmark 'math.add'").count(), 2, "{out}");
}

/// `info` shows the transporter as a person reads it, in text and in JSON: no Rust `Debug`
/// form (`MemoryTransporter { id: 3, … }`) anywhere.
#[tokio::test]
async fn info_shows_the_transporter_without_debug_strings() {
    let c = cluster("repl-info-json").await;
    let (out, errors) = c.type_lines("info\n").await;
    let report = broker_repl::run_command(&c.client, "info").await;
    c.stop().await;
    assert_eq!(errors, 0, "{out}");
    assert!(out.contains("Transporter      memory\n"), "{out}");
    let json = match report {
        Ok(report) => report.to_json(),
        Err(err) => panic!("info failed: {err}"),
    };
    assert_eq!(json["broker"]["transporter"], json!("memory"), "{json}");
    let text = json.to_string();
    assert!(
        !text.contains("MemoryTransporter") && !text.contains(" { "),
        "a Debug string in {text}"
    );
}

/// `metrics` prints this node's metrics as a table, filtered by a name pattern; without
/// metrics it says they are off and the console goes on.
#[tokio::test]
async fn metrics_table_filtered_by_pattern() {
    let broker = Broker::builder()
        .node_id("repl-metrics")
        .metrics(broker_core::metrics::MetricsOptions::default())
        .build();
    broker
        .add_service(math(Seen::default()))
        .await
        .expect("math");
    broker.start().await.expect("start");
    let mut out = Vec::new();
    let script =
        "call math.add {\"a\": 1, \"b\": 2}\nmetrics moleculer.request.*\nmetrics -f os.memory.*\n";
    let run = run_script(&broker, script.as_bytes(), &mut out, Style::plain());
    let summary = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("bounded")
        .expect("console runs");
    let out = String::from_utf8_lossy(&out).into_owned();
    broker.stop().await.expect("stop");
    assert_eq!(summary.errors, 0, "{out}");
    let row = out
        .lines()
        .find(|l| l.starts_with("moleculer.request.total"))
        .unwrap_or_else(|| panic!("a request.total row in:\n{out}"));
    assert!(
        row.contains("service=math, action=math.add, type=local, caller=") && row.contains(" 1 "),
        "{row}"
    );
    assert!(out.contains("moleculer.request.time"), "{out}");
    assert!(out.contains("count 1, mean "), "{out}");
    assert!(out.contains("os.memory.total"), "{out}");
    assert!(!out.contains("process.memory.rss"), "filtered out: {out}");

    let off = Broker::builder().node_id("repl-metrics-off").build();
    off.start().await.expect("start");
    let mut out = Vec::new();
    let run = run_script(&off, b"metrics\ninfo\n" as &[u8], &mut out, Style::plain());
    let summary = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("bounded")
        .expect("console runs");
    off.stop().await.expect("stop");
    let out = String::from_utf8_lossy(&out).into_owned();
    assert_eq!(summary.errors, 1, "{out}");
    assert!(out.contains("Metrics feature is disabled"), "{out}");
    assert!(out.contains("Node ID"), "the console went on: {out}");
}
