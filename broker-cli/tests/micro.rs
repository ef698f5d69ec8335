//! `broker micro list` and `broker micro request` against a broker whose services are exposed
//! through the NATS service API, on the shared NATS server (127.0.0.1:4222, or `NATS_URL`).

mod common;

use broker_core::{ActionDef, Broker, Error, ServiceSchema};
use broker_nats::micro::{self, MicroOptions};
use common::broker_with;
use serde_json::{json, Value};
use std::time::Duration;

fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

async fn cli(args: &[&str]) -> common::Run {
    let url = nats_url();
    broker_with(
        args,
        &[("NATS_URL", url.as_str())],
        "",
        Duration::from_secs(30),
    )
    .await
}

#[tokio::test]
async fn micro_list_shows_the_services_with_their_stats_and_request_calls_an_endpoint() {
    let name = format!("clistats{}", &uuid_like());
    let broker = Broker::builder().node_id(format!("{name}-node")).build();
    let service = ServiceSchema::new(name.as_str())
        .version(1)
        .metadata(json!({"description": "for the CLI test"}))
        .action(ActionDef::new("double", |ctx| async move {
            Ok(json!(ctx.params()["n"].as_i64().unwrap_or(0) * 2))
        }))
        .action(ActionDef::new("broken", |_ctx| async move {
            Err::<Value, _>(Error::server("it broke", 503, "BROKEN"))
        }));
    tokio::time::timeout(Duration::from_secs(10), async {
        broker.add_service(service).await?;
        broker.start().await
    })
    .await
    .expect("in time")
    .expect("broker starts");
    let client = tokio::time::timeout(Duration::from_secs(10), async_nats::connect(nats_url()))
        .await
        .expect("in time")
        .unwrap_or_else(|e| panic!("no NATS at {} ({e})", nats_url()));
    let exposed = tokio::time::timeout(
        Duration::from_secs(10),
        micro::expose(&broker, client, MicroOptions::default()),
    )
    .await
    .expect("in time")
    .expect("exposed");

    let double = format!("v1.{name}.double");
    let run = cli(&["--compact", "micro", "request", &double, r#"{"n": 21}"#]).await;
    assert_eq!((run.code, run.stdout.trim()), (Some(0), "42"), "{run:?}");
    let run = cli(&["micro", "req", &format!("v1.{name}.broken")]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr.contains("it broke") && run.stderr.contains("503"),
        "{run:?}"
    );
    let run = cli(&["micro", "req", &double, "not json"]).await;
    assert!(run.stderr.contains("code 400"), "{run:?}");

    let run = cli(&["micro", "list", &name]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let list = run.json();
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{run:?}");
    let entry = &list[0];
    assert_eq!(entry["version"], "1.0.0");
    assert_eq!(entry["description"], "for the CLI test");
    assert_eq!(entry["id"], exposed.services()[0].id.as_str());
    let endpoint = |n: &str| {
        entry["endpoints"]
            .as_array()
            .and_then(|e| e.iter().find(|e| e["name"] == n))
            .cloned()
            .unwrap_or_else(|| panic!("{n} in {entry}"))
    };
    let d = endpoint("double");
    assert_eq!(
        (d["num_requests"].as_u64(), d["num_errors"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(d["subject"], double.as_str());
    let b = endpoint("broken");
    assert_eq!(b["last_error"], "503:it broke");

    let run = cli(&["micro", "ls", &name, "--table"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stdout.starts_with(&format!("{name} 1.0.0  id ")),
        "{run:?}"
    );
    assert!(run.stdout.contains("503:it broke"), "{run:?}");

    exposed.stop().await;
    let run = cli(&["micro", "list", &name]).await;
    assert_eq!(run.json(), json!([]), "{run:?}");
    let run = cli(&["micro", "req", &double]).await;
    assert!(run.stderr.contains("ServiceNotFoundError"), "{run:?}");
    broker.stop().await.expect("stop");
}

/// A short unique suffix (no uuid dependency here).
fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}{:x}", nanos, std::process::id())
}
