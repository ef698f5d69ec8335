//! `tasks` and `tasks run` against a two-node in-memory cluster: the client lists the server's
//! scheduled tasks (through `$node.tasks`) and runs one there (through `$node.runTask`).

use broker_core::periodic::{RunOn, Schedule, TaskDef};
use broker_core::{Broker, MemoryTransporter, ServiceSchema};
use broker_repl::{run_command, Output, Style};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn node(id: &str, namespace: &str) -> Broker {
    Broker::builder()
        .node_id(id)
        .namespace(namespace)
        .transporter(MemoryTransporter::new())
        .request_timeout(Duration::from_secs(5))
        .build()
}

#[tokio::test]
async fn tasks_lists_the_cluster_and_runs_one_on_its_node() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let hourly = TaskDef::new(
        "hourly",
        Schedule::cron("@hourly").expect("cron"),
        move |ctx| {
            let counter = counter.clone();
            async move {
                assert!(ctx.is_manual());
                counter.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        },
    )
    .run_on(RunOn::Cluster);
    let server = node("tasks-server", "repl-tasks");
    server
        .add_service(ServiceSchema::new("reports").task(hourly))
        .await
        .expect("add");
    server.start().await.expect("start");
    let client = node("tasks-client", "repl-tasks");
    client.start().await.expect("start");
    client
        .wait_for_services(&["reports"], Duration::from_secs(5))
        .await
        .expect("seen");

    let listed = run_command(&client, "tasks").await.expect("tasks");
    let Output::List(listing) = &listed else {
        panic!("a list: {listed:?}");
    };
    let tasks = listing.data.as_array().expect("array");
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0]["name"], "reports.hourly");
    assert_eq!(tasks[0]["nodeID"], "tasks-server");
    assert_eq!(tasks[0]["schedule"], "cron @hourly");
    assert_eq!(tasks[0]["once"], "cluster");
    let next = tasks[0]["nextRun"].as_str().expect("next run");
    assert!(next.ends_with(":00:00.000Z"), "{next}");
    let text = listed.render(Style::plain());
    assert!(
        text.contains("reports.hourly") && text.contains("tasks-server"),
        "{text}"
    );
    assert!(text.contains(&next[..10]), "{text}");

    let filtered = run_command(&client, "tasks -f other.*")
        .await
        .expect("tasks");
    assert_eq!(filtered.to_json(), json!([]));

    let ran = run_command(&client, "tasks run reports.hourly")
        .await
        .expect("run");
    assert_eq!(
        ran.to_json(),
        json!({"task": "reports.hourly", "nodeID": "tasks-server"})
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let listed = run_command(&client, "tasks").await.expect("tasks");
    assert_eq!(listed.to_json()[0]["runs"], 1);

    let err = run_command(&client, "tasks run reports.nope")
        .await
        .expect_err("unknown");
    assert!(
        err.to_string()
            .contains("no node has a scheduled task 'reports.nope'"),
        "{err}"
    );
    let err = run_command(&client, "tasks run reports.nope --nodeID tasks-server")
        .await
        .expect_err("unknown there");
    assert!(
        err.to_string().contains("TASK_NOT_FOUND") || err.to_string().contains("no scheduled task"),
        "{err}"
    );

    client.stop().await.expect("stop");
    server.stop().await.expect("stop");
}
