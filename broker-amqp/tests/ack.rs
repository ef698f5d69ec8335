//! Acknowledge-after-handling on the shared RabbitMQ (127.0.0.1:5672, or `AMQP_URL`): a node
//! killed (SIGKILL, no goodbye) while it handles a balanced request leaves the request in its
//! queue, and another node serving the action handles it; the caller gets that node's answer.
//!
//! The node that dies is this test binary re-run as a child process (the ignored test
//! `victim_entry`), so the kill is a real process death with an open AMQP connection.

use broker_amqp::AmqpTransporter;
use broker_core::{ActionDef, Broker, CallOptions, Context, ServiceSchema};
use serde_json::{json, Value};
use std::hash::{BuildHasher, Hasher};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{ChildStdout, Command};

const VICTIM_ENV: &str = "BROKER_AMQP_ACK_VICTIM";
const STARTED: &str = "VICTIM-HANDLER-STARTED";
const READY: &str = "VICTIM-READY";
const WAIT: Duration = Duration::from_secs(20);

fn amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672".to_owned())
}

fn unique(tag: &str) -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    format!("{tag}-{}-{:08x}", std::process::id(), h.finish() as u32)
}

fn node(namespace: &str, node_id: &str) -> Broker {
    Broker::builder()
        .transporter(AmqpTransporter::new(&amqp_url()).expect("valid AMQP URL"))
        .namespace(namespace)
        .node_id(node_id)
        .disable_balancer(true)
        .build()
}

/// `slow.work`: tells who handled it; the victim's never finishes on its own.
fn slow(hangs: bool) -> ServiceSchema {
    ServiceSchema::new("slow").action(ActionDef::new("work", move |ctx: Context| async move {
        if hangs {
            // Time enough for anything the transporter would send on receipt to reach
            // RabbitMQ: an acknowledgement sent too early must show as a lost request.
            tokio::time::sleep(Duration::from_secs(1)).await;
            println!("{STARTED}");
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Ok(json!({"node": ctx.broker().node_id(), "job": ctx.params()["job"].clone()}))
    }))
}

/// The victim's body: a node serving `slow.work` whose handler hangs.
#[test]
#[ignore = "entry point of the child node, started by `killed_mid_request_the_request_goes_to_another_node`"]
fn victim_entry() {
    let Ok(cfg) = std::env::var(VICTIM_ENV) else {
        return;
    };
    let cfg: Value = serde_json::from_str(&cfg).expect("victim config");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let namespace = cfg["namespace"].as_str().unwrap_or_default();
        let broker = node(namespace, cfg["nodeID"].as_str().unwrap_or_default());
        broker.add_service(slow(true)).await.expect("slow service");
        broker.start().await.expect("victim starts");
        println!("{READY}");
        tokio::time::sleep(Duration::from_secs(3600)).await;
    });
}

/// Reads the child's output until a line contains `want`; false if it ends first.
async fn saw(lines: &mut Lines<BufReader<ChildStdout>>, want: &str) -> bool {
    while let Ok(Some(line)) = lines.next_line().await {
        if line.contains(want) {
            return true;
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_request_the_request_goes_to_another_node() {
    let namespace = unique("ack");
    let victim_id = unique("victim");
    let cfg = json!({"namespace": namespace, "nodeID": victim_id});
    let exe = std::env::current_exe().expect("test binary");
    let mut victim = Command::new(exe)
        .args(["victim_entry", "--exact", "--ignored", "--nocapture"])
        .env(VICTIM_ENV, cfg.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the victim node");
    let mut lines = BufReader::new(victim.stdout.take().expect("stdout")).lines();
    let ready = tokio::time::timeout(WAIT, saw(&mut lines, READY)).await;
    assert!(matches!(ready, Ok(true)), "victim node did not start");

    let caller = node(&namespace, &unique("caller"));
    caller.start().await.expect("caller starts");
    caller
        .wait_for_services(&["slow"], WAIT)
        .await
        .expect("caller sees slow");
    let call = {
        let caller = caller.clone();
        tokio::spawn(async move {
            let opts = CallOptions::new().timeout(Duration::from_secs(40));
            caller
                .call_with::<Value>("slow.work", json!({"job": 7}), opts)
                .await
        })
    };
    // The victim holds the request, unacknowledged, in its hanging handler.
    let started = tokio::time::timeout(WAIT, saw(&mut lines, STARTED)).await;
    assert!(matches!(started, Ok(true)), "victim never got the request");
    victim.start_kill().expect("SIGKILL the victim");
    let _ = tokio::time::timeout(Duration::from_secs(5), victim.wait()).await;

    // Only now does another node serve the action: RabbitMQ gives it the request again.
    let rescuer_id = unique("rescuer");
    let rescuer = node(&namespace, &rescuer_id);
    rescuer
        .add_service(slow(false))
        .await
        .expect("slow service");
    rescuer.start().await.expect("rescuer starts");

    let answer = tokio::time::timeout(Duration::from_secs(45), call)
        .await
        .expect("the call ends")
        .expect("call task")
        .expect("the request is answered by the rescuer");
    assert_eq!(answer["node"], rescuer_id.as_str(), "{answer}");
    assert_eq!(answer["job"], 7, "{answer}");

    rescuer.stop().await.expect("rescuer stops");
    caller.stop().await.expect("caller stops");
}
