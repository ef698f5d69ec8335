//! The `broker` binary without a transporter (a local-only node) and with ones it cannot use.

mod common;

use common::{broker, broker_with};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn a_call_prints_its_result_as_json() {
    let run = broker(&[
        "--node-id",
        "cli-local",
        "call",
        "$node.list",
        "--onlyAvailable",
        "true",
    ])
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let nodes = run.json();
    assert_eq!(nodes[0]["id"], json!("cli-local"), "{run:?}");
    assert_eq!(nodes[0]["local"], json!(true));
    assert!(run.stderr.is_empty(), "{run:?}");
}

#[tokio::test]
async fn lists_print_the_registry_entries() {
    let run = broker(&["--node-id", "cli-lists", "--compact", "nodes"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(
        run.stdout.lines().count(),
        1,
        "compact is one line: {run:?}"
    );
    assert_eq!(run.json()[0]["id"], json!("cli-lists"));

    let run = broker(&["actions", "-f", "$node.l*"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.json()[0]["name"], json!("$node.list"), "{run:?}");

    let run = broker(&["services"]).await;
    assert_eq!(run.json()[0]["name"], json!("$node"), "{run:?}");

    let run = broker(&["--namespace", "ns1", "info"]).await;
    assert_eq!(run.json()["broker"]["namespace"], json!("ns1"), "{run:?}");
}

#[tokio::test]
async fn an_emit_reports_what_it_sent() {
    let run = broker(&["emit", "user.created", r#"{"id": 1}"#, "--#by", "cli"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(
        run.json(),
        json!({"event": "user.created", "type": "emit", "data": {"id": 1}})
    );
}

#[tokio::test]
async fn a_missing_action_fails_with_the_error_on_stderr() {
    let run = broker(&["call", "math.add", r#"{"a":1,"b":2}"#]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
    assert!(
        run.stderr.contains("error: ServiceNotFoundError: Service 'math.add' is not found. (code 404, type SERVICE_NOT_FOUND)"),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("no transporter given"),
        "a hint: {run:?}"
    );
}

/// With `--json` or `--compact`, an error goes to stderr as one JSON document in Moleculer's
/// shape; without, as one line of text (never Rust's `Debug` form).
#[tokio::test]
async fn errors_are_json_on_stderr_with_json_or_compact() {
    for flag in ["--json", "--compact"] {
        let run = broker(&[flag, "call", "math.add", r#"{"a":1}"#]).await;
        assert_eq!(run.code, Some(1), "{run:?}");
        assert!(run.stdout.is_empty(), "{run:?}");
        let err: serde_json::Value = match serde_json::from_str(&run.stderr) {
            Ok(v) => v,
            Err(e) => panic!("{flag}: stderr is not one JSON document ({e}): {run:?}"),
        };
        assert_eq!(err["name"], json!("ServiceNotFoundError"), "{run:?}");
        assert_eq!(err["message"], json!("Service 'math.add' is not found."));
        assert_eq!(err["code"], json!(404));
        assert_eq!(err["type"], json!("SERVICE_NOT_FOUND"));
        assert_eq!(err["data"]["action"], json!("math.add"), "{run:?}");

        let run = broker(&[flag, "call", "math.add", "{bad"]).await;
        assert_eq!(run.code, Some(2), "{run:?}");
        let err: serde_json::Value = serde_json::from_str(&run.stderr).unwrap_or_default();
        assert_eq!(err["name"], json!("UsageError"), "{run:?}");
    }
    let run = broker(&[
        "--json",
        "--transporter",
        "redis://127.0.0.1:1",
        "--connect-timeout",
        "500",
        "nodes",
    ])
    .await;
    assert_eq!(run.code, Some(1), "{run:?}");
    // The error is the last line: log lines (warnings about Redis) may come before it.
    let last = run.stderr.lines().last().unwrap_or_default();
    let err: serde_json::Value = serde_json::from_str(last).unwrap_or_default();
    assert_eq!(err["name"], json!("BrokerDisconnectedError"), "{run:?}");
}

#[tokio::test]
async fn bad_command_lines_exit_with_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["call", "math.add", "{bad"], "invalid JSON params '{bad'"),
        (&["nodes", "--nope"], "unknown option --nope"),
        (&["frobnicate"], "unrecognized subcommand 'frobnicate'"),
        (
            &["call", "x", "--compact"],
            "--compact is an option of broker itself",
        ),
        (
            &["--transporter", "kafka://127.0.0.1:9092", "nodes"],
            "unsupported transporter 'kafka://127.0.0.1:9092'",
        ),
        (
            &["--transporter", "memory", "nodes"],
            "only links brokers inside one process",
        ),
        (&["--protocol", "3", "nodes"], "invalid value '3'"),
    ];
    for (args, message) in cases {
        let run = broker(args).await;
        assert_eq!(run.code, Some(2), "{args:?}: {run:?}");
        assert!(run.stderr.contains(message), "{args:?}: {run:?}");
        assert!(run.stdout.is_empty(), "{args:?}: {run:?}");
    }
}

#[tokio::test]
async fn a_transporter_that_does_not_answer_fails_in_bounded_time() {
    // Nothing listens on port 1.
    let run = broker(&[
        "--transporter",
        "redis://127.0.0.1:1",
        "--connect-timeout",
        "3000",
        "nodes",
    ])
    .await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("BrokerDisconnectedError"), "{run:?}");
    assert!(
        !run.stderr.contains("Error {"),
        "Display, not Debug: {run:?}"
    );
}

#[tokio::test]
async fn help_lists_the_commands() {
    let run = broker(&["--help"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    for cmd in [
        "call",
        "dcall",
        "emit",
        "broadcast",
        "nodes",
        "services",
        "actions",
        "events",
        "bench",
        "repl",
    ] {
        assert!(run.stdout.contains(&format!("  {cmd} ")), "{cmd}: {run:?}");
    }
    assert!(run.stdout.contains("[env: TRANSPORTER=]"), "{run:?}");
    let run = broker(&["call", "--help"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stdout.contains("Usage: broker [OPTIONS] call <action>"),
        "{run:?}"
    );
}

#[tokio::test]
async fn the_repl_reads_commands_from_a_pipe() {
    let script = "call $node.list --onlyAvailable true\nfrobnicate\nnodes\nexit\ncall never.runs\n";
    let run = broker_with(
        &["--node-id", "cli-repl", "repl"],
        &[],
        script,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("\"id\": \"cli-repl\""), "{run:?}");
    assert!(
        run.stdout
            .contains(">> ERROR: unknown command 'frobnicate'"),
        "{run:?}"
    );
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("cli-repl (*)") && l.contains("ONLINE")),
        "{run:?}"
    );
    assert!(!run.stdout.contains("never.runs"), "{run:?}");
}

#[tokio::test]
async fn configuration_comes_from_the_environment_too() {
    let env = [("NAMESPACE", "from-env"), ("NODEID", "node-from-env")];
    let run = broker_with(&["info"], &env, "", Duration::from_secs(30)).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let info = run.json();
    assert_eq!(info["broker"]["namespace"], json!("from-env"));
    assert_eq!(info["broker"]["nodeID"], json!("node-from-env"));
    let env = [("NODE_ID", "node-id-wins"), ("NODEID", "other")];
    let run = broker_with(&["info"], &env, "", Duration::from_secs(30)).await;
    assert_eq!(run.json()["broker"]["nodeID"], json!("node-id-wins"));
}
