//! The console's `micro` command against a real NATS server (`NATS_URL`, default
//! 127.0.0.1:4222): a broker on NATS exposes its services through the NATS service API
//! (ADR-32), another broker's console lists, pings, reads the stats of and requests them.
//! Service names are unique per test.
#![cfg(feature = "nats")]

use broker_core::{ActionDef, Broker, Context, Error, ServiceSchema};
use broker_nats::NatsTransporter;
use broker_repl::{run_command, run_script, CommandError, Output, Style};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const BOUND: Duration = Duration::from_secs(20);

fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// A name no other test or run uses (letters and digits only: the same in ADR-32).
fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{prefix}{:x}{nanos:x}", std::process::id())
}

fn calc(name: &str) -> ServiceSchema {
    ServiceSchema::new(name)
        .action(ActionDef::new("add", |ctx: Context| async move {
            let p = ctx.params();
            Ok(json!(
                p["a"].as_i64().unwrap_or(0) + p["b"].as_i64().unwrap_or(0)
            ))
        }))
        .action(ActionDef::new("fail", |_ctx: Context| async move {
            Err::<Value, Error>(Error::client("Nope", 418, "TEAPOT"))
        }))
}

fn node(id: &str, transporter: Option<NatsTransporter>) -> Broker {
    let builder = Broker::builder()
        .node_id(id)
        .namespace(id)
        .request_timeout(Duration::from_secs(5));
    match transporter {
        Some(t) => builder.transporter(t).build(),
        None => builder.build(),
    }
}

/// A broker on NATS exposing `name` (add, fail) through ADR-32, once `micro ping` on
/// `console` sees it.
async fn exposed(name: &str, console: &Broker) -> Broker {
    let server = node(
        &unique("replmicro-server-"),
        Some(NatsTransporter::new(&nats_url()).expect("url")),
    );
    let started = async {
        server.add_service(calc(name)).await?;
        server.start().await
    };
    if let Err(err) = tokio::time::timeout(BOUND, started)
        .await
        .expect("start bounded")
    {
        panic!("the server did not start: {err}");
    }
    let seen = async {
        loop {
            if let Ok(Output::List(l)) = run_command(console, &format!("micro ping {name}")).await {
                if l.data.as_array().is_some_and(|a| !a.is_empty()) {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(BOUND, seen)
        .await
        .expect("the service answers $SRV.PING");
    server
}

async fn run(broker: &Broker, line: &str) -> Result<Output, CommandError> {
    match tokio::time::timeout(BOUND, run_command(broker, line)).await {
        Ok(result) => result,
        Err(_) => panic!("{line}: no answer within {BOUND:?}"),
    }
}

#[tokio::test]
async fn console_on_nats_lists_pings_stats_and_requests_adr32_services() {
    let name = unique("replcalc");
    // The console's own broker is on NATS too: `micro` asks its server, no --nats needed.
    let console = node(
        &unique("replmicro-console-"),
        Some(
            NatsTransporter::new(&nats_url())
                .expect("url")
                .without_service_api(),
        ),
    );
    tokio::time::timeout(BOUND, console.start())
        .await
        .expect("bounded")
        .expect("console broker starts");
    let server = exposed(&name, &console).await;

    // A plain NATS request to the endpoint subjects: the result, and the error headers
    // mapped back onto the Moleculer error.
    let out = run(
        &console,
        &format!("micro request {name}.add {{\"a\": 2}} --b 40"),
    )
    .await
    .expect("request");
    assert_eq!(out.to_json(), json!(42));
    let rendered = out.render(Style::plain());
    assert!(rendered.contains(&format!("'{name}.add'")), "{rendered}");
    let err = run(&console, &format!("micro request {name}.fail"))
        .await
        .expect_err("fail answers an error");
    let err = err.broker_error().expect("a broker error");
    assert_eq!((err.name(), err.code()), ("MoleculerClientError", 418));
    assert_eq!(err.message(), "Nope");
    let err = run(
        &console,
        &format!("micro request {name}.nope --$timeout 500"),
    )
    .await
    .expect_err("nobody listens");
    assert_eq!(
        err.broker_error().map(|e| e.name()),
        Some("ServiceNotFoundError")
    );

    // list: INFO with STATS merged, the JSON `broker micro list` prints.
    let Output::List(list) = run(&console, &format!("micro list {name}"))
        .await
        .expect("list")
    else {
        panic!("list is a listing");
    };
    let instances = list.data.as_array().expect("an array");
    assert_eq!(instances.len(), 1, "{}", list.data);
    let instance = &instances[0];
    assert_eq!(instance["name"], json!(name));
    assert_eq!(instance["version"], json!("0.0.0"));
    assert!(instance["started"].is_string(), "{instance}");
    let endpoint = |e: &str| {
        instance["endpoints"]
            .as_array()
            .and_then(|list| list.iter().find(|x| x["name"] == json!(e)))
            .cloned()
            .unwrap_or_else(|| panic!("no endpoint {e} in {instance}"))
    };
    let add = endpoint("add");
    assert_eq!(add["subject"], json!(format!("{name}.add")));
    assert_eq!(add["queue_group"], json!("q"));
    assert_eq!(add["num_requests"], json!(1));
    assert_eq!(add["num_errors"], json!(0));
    let fail = endpoint("fail");
    assert_eq!(
        (fail["num_requests"].clone(), fail["num_errors"].clone()),
        (json!(1), json!(1))
    );
    assert!(
        fail["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("Nope")),
        "{fail}"
    );

    // What a person reads: the same, as tables.
    let mut out = Vec::new();
    let lines = format!("micro list {name}\nmicro ping {name}\nmicro stats {name}\n");
    let summary = tokio::time::timeout(
        BOUND,
        run_script(&console, lines.as_bytes(), &mut out, Style::plain()),
    )
    .await
    .expect("bounded")
    .expect("console runs");
    let out = String::from_utf8_lossy(&out);
    assert_eq!(summary.errors, 0, "{out}");
    let id = instance["id"].as_str().expect("an id");
    assert!(out.contains(&format!("{name}.add")), "{out}");
    assert!(
        out.matches(id).count() >= 3,
        "list, ping and stats name the instance:\n{out}"
    );
    assert!(
        out.contains(server.node_id()),
        "ping shows the Moleculer node:\n{out}"
    );
    assert!(out.contains("Nope"), "stats show the last error:\n{out}");

    let _ = server.stop().await;
    let _ = console.stop().await;
}

#[tokio::test]
async fn console_off_nats_asks_the_server_given_with_dash_dash_nats() {
    let name = unique("replother");
    // A local-only broker: `micro` needs the server named.
    let console = node(&unique("replmicro-local-"), None);
    console.start().await.expect("starts");
    let url = nats_url();
    let server = node(
        &unique("replmicro-server-"),
        Some(NatsTransporter::new(&url).expect("url")),
    );
    server.add_service(calc(&name)).await.expect("service");
    tokio::time::timeout(BOUND, server.start())
        .await
        .expect("bounded")
        .expect("server starts");
    let line = format!("micro request {name}.add {{\"a\": 1, \"b\": 2}} --nats {url}");
    let answered = async {
        loop {
            match run_command(&console, &line).await {
                Ok(out) => return out,
                // Until the service API subscribed its endpoints.
                Err(err) if err.broker_error().is_some_and(|e| e.code() == 404) => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Err(err) => panic!("{line}: {err}"),
            }
        }
    };
    let out = tokio::time::timeout(BOUND, answered)
        .await
        .expect("answered");
    assert_eq!(out.to_json(), json!(3));

    // A server nobody runs: a clear error, no hang.
    let err = run(&console, "micro ping --nats nats://127.0.0.1:1")
        .await
        .expect_err("no server");
    assert!(
        err.to_string().contains("127.0.0.1:1") || err.broker_error().is_some(),
        "{err}"
    );
    let _ = server.stop().await;
    let _ = console.stop().await;
}
