use super::*;
use serde_json::json;

fn parse(line: &str) -> Command {
    match Command::parse(line) {
        Ok(c) => c,
        Err(err) => panic!("{line}: {err}"),
    }
}

fn error(line: &str) -> String {
    match Command::parse(line) {
        Ok(c) => panic!("{line} parsed as {c:?}"),
        Err(err) => err.to_string(),
    }
}

fn call(line: &str) -> CallRequest {
    match parse(line) {
        Command::Call(c) => c,
        other => panic!("{line}: {other:?}"),
    }
}

#[test]
fn call_with_bare_json() {
    let c = call(r#"call math.add {"a": 100, "b": 999}"#);
    assert_eq!(c.action, "math.add");
    assert_eq!(c.params, json!({"a": 100, "b": 999}));
    assert_eq!(c.node_id, None);
    assert!(c.meta.is_empty());
}

#[test]
fn call_with_options_meta_and_timeout() {
    let c = call("call greeter.hello --name Alice --age 30 --#token secret --$timeout 1500");
    assert_eq!(c.params, json!({"name": "Alice", "age": 30}));
    assert_eq!(Value::Object(c.meta), json!({"token": "secret"}));
    assert_eq!(c.timeout, Some(Duration::from_millis(1500)));
}

#[test]
fn options_merge_over_json_params_and_meta_json() {
    let c = call(r#"call a.b {"x": 1, "y": 2} {"m": true} --y 3 --#n 4"#);
    assert_eq!(c.params, json!({"x": 1, "y": 3}));
    assert_eq!(Value::Object(c.meta), json!({"m": true, "n": 4}));
}

#[test]
fn no_params_is_an_empty_object_and_arrays_pass() {
    assert_eq!(call("call $node.list").params, json!({}));
    assert_eq!(call("call a.b [1, 2]").params, json!([1, 2]));
    assert_eq!(call("call a.b '\"text\"'").params, json!("text"));
}

#[test]
fn dcall_names_the_node() {
    let c = call("dcall node-2 math.add --a 1");
    assert_eq!(c.node_id.as_deref(), Some("node-2"));
    assert_eq!(c.action, "math.add");
    assert_eq!(c.params, json!({"a": 1}));
}

#[test]
fn emit_broadcast_and_groups() {
    match parse(r#"emit user.created {"id": 1} --#by repl --$groups mail,audit"#) {
        Command::Emit(e) => {
            assert_eq!(e.kind, EventType::Emit);
            assert_eq!(e.event, "user.created");
            assert_eq!(e.data, json!({"id": 1}));
            assert_eq!(Value::Object(e.meta), json!({"by": "repl"}));
            assert_eq!(e.groups, Some(vec!["mail".to_owned(), "audit".to_owned()]));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(parse("broadcast x"), Command::Emit(e) if e.kind == EventType::Broadcast));
    assert!(
        matches!(parse("broadcastlocal x --a 1"), Command::Emit(e) if e.kind == EventType::BroadcastLocal && e.data == json!({"a": 1}))
    );
}

#[test]
fn lists_take_their_flags() {
    assert_eq!(
        parse("nodes -a -d"),
        Command::Nodes(ListOptions {
            all: true,
            details: true,
            ..ListOptions::default()
        })
    );
    assert_eq!(
        parse("actions -li -f math.*"),
        Command::Actions(ListOptions {
            local: true,
            skip_internal: true,
            filter: Some("math.*".into()),
            ..ListOptions::default()
        })
    );
    assert_eq!(error("nodes -l"), "unknown option -l");
}

#[test]
fn bench_limits() {
    match parse("bench math.add --num 50 --a 1") {
        Command::Bench(b) => {
            assert_eq!(b.limit, BenchLimit::Count(50));
            assert_eq!(b.call.params, json!({"a": 1}));
        }
        other => panic!("{other:?}"),
    }
    match parse("bench math.add --time 0.5 --nodeID n1") {
        Command::Bench(b) => {
            assert_eq!(b.limit, BenchLimit::Time(Duration::from_millis(500)));
            assert_eq!(b.call.node_id.as_deref(), Some("n1"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        error("bench a --num 1 --time 1"),
        "bench: give --num or --time, not both"
    );
    assert_eq!(
        error("bench a --num x"),
        "bench: --num takes a count, got 'x'"
    );
}

#[test]
fn words_from_a_shell() {
    match Command::from_words(&["call", "math.add", r#"{"a":1,"b":2}"#, "--c", "3"]) {
        Ok(Command::Call(c)) => assert_eq!(c.params, json!({"a": 1, "b": 2, "c": 3})),
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_input_is_one_clear_line() {
    assert_eq!(
        error("call math.add {\"a\": }"),
        "invalid JSON params '{\"a\": }': expected value at line 1 column 7"
    );
    assert_eq!(
        error("call"),
        "call: missing an action name; type 'help call'"
    );
    assert_eq!(
        error("dcall node-1"),
        "dcall: missing an action name; type 'help dcall'"
    );
    assert_eq!(
        error("cal x"),
        "unknown command 'cal'; did you mean 'call'?"
    );
    assert_eq!(
        error("frobnicate"),
        "unknown command 'frobnicate'; type 'help' for the list"
    );
    assert_eq!(
        error("call a [1] --x 1"),
        "--key options need the JSON params to be an object"
    );
    assert_eq!(
        error("call a --$timeout soon"),
        "--$timeout takes milliseconds, got 'soon'"
    );
    assert_eq!(error("info now"), "info: unexpected argument 'now'");
    for e in [error("call a {\"a\": }"), error("emit")] {
        assert!(!e.contains('\n'), "{e}");
    }
}

#[test]
fn empty_lines_comments_help_and_exit() {
    assert_eq!(parse("   "), Command::Empty);
    assert_eq!(parse("# a comment"), Command::Empty);
    assert_eq!(parse("quit"), Command::Exit);
    assert_eq!(parse("EXIT"), Command::Exit);
    assert!(matches!(parse("help"), Command::Help(t) if t.contains("broadcastLocal")));
    assert!(matches!(parse("help call"), Command::Help(t) if t.contains("--$timeout")));
    assert_eq!(error("help nope"), "unknown command 'nope'");
}

#[test]
fn metrics_takes_a_pattern_either_way() {
    let with = |f: &str| {
        Command::Metrics(ListOptions {
            filter: Some(f.into()),
            ..ListOptions::default()
        })
    };
    assert_eq!(parse("metrics"), Command::Metrics(ListOptions::default()));
    assert_eq!(
        parse("metrics moleculer.request.*"),
        with("moleculer.request.*")
    );
    assert_eq!(parse("metrics -f os.**"), with("os.**"));
    assert_eq!(error("metrics a b"), "metrics: unexpected argument 'b'");
}

fn micro(line: &str) -> MicroRequest {
    match parse(line) {
        Command::Micro(m) => m,
        other => panic!("{line}: {other:?}"),
    }
}

#[test]
fn micro_lists_pings_and_stats_one_service_or_all() {
    assert_eq!(
        micro("micro list"),
        MicroRequest {
            action: MicroAction::List { name: None },
            nats: None
        }
    );
    assert_eq!(
        micro("micro ls math --nats nats://10.0.0.5:4222")
            .nats
            .as_deref(),
        Some("nats://10.0.0.5:4222")
    );
    assert_eq!(
        micro("micro ping math").action,
        MicroAction::Ping {
            name: Some("math".into())
        }
    );
    assert_eq!(
        micro("micro stats").action,
        MicroAction::Stats { name: None }
    );
    assert_eq!(error("micro list a b"), "micro: unexpected argument 'b'");
    assert!(error("micro list --a 1").contains("belong to 'micro request'"));
}

#[test]
fn micro_request_takes_a_subject_a_json_body_and_a_timeout() {
    let m = micro(r#"micro request v2.math.add {"a": 1} --b 2 --$timeout 750"#);
    assert_eq!(
        m.action,
        MicroAction::Request {
            subject: "v2.math.add".into(),
            body: json!({"a": 1, "b": 2}),
            timeout: Some(Duration::from_millis(750)),
        }
    );
    assert_eq!(
        micro("micro req math.ping").action,
        MicroAction::Request {
            subject: "math.ping".into(),
            body: json!({}),
            timeout: None,
        }
    );
    assert_eq!(
        error("micro request"),
        "micro: missing an endpoint subject; type 'help micro'"
    );
    assert!(error("micro request a.b --#k v").contains("no meta"));
    assert!(error("micro request a.b {nope").contains("invalid JSON body"));
    assert_eq!(
        error("micro"),
        "micro: missing list, ping, stats or request; type 'help micro'"
    );
    assert!(error("micro nope").contains("unknown subcommand 'nope'"));
}

#[test]
fn tasks_lists_or_runs_one() {
    assert_eq!(parse("tasks"), Command::Tasks(TasksRequest::default()));
    assert_eq!(
        parse("tasks -f reports.*"),
        Command::Tasks(TasksRequest {
            filter: Some("reports.*".into()),
            ..TasksRequest::default()
        })
    );
    assert_eq!(
        parse("tasks run reports.hourly --nodeID node-2"),
        Command::Tasks(TasksRequest {
            run: Some("reports.hourly".into()),
            node_id: Some("node-2".into()),
            filter: None,
        })
    );
    assert!(error("tasks run").contains("missing a task name"));
    assert!(error("tasks stop x").contains("unexpected argument 'stop'"));
    assert!(error("tasks --nodeID n").contains("--nodeID goes with 'tasks run'"));
    assert!(error("tasks run a b").contains("unexpected argument 'b'"));
}
