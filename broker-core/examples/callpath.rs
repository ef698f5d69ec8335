//! Runs N calls through one path of the core, for instruction counts under callgrind
//! (`scripts/callgrind-core.sh` runs it twice and divides the difference by the calls between):
//! machine load moves timings, not instruction counts.
//!
//! Usage: `callpath <scenario> <calls>`, scenarios:
//! - `local`: `Broker::call` of a typed `#[action]` in this process (params borrowed);
//! - `local_owned`: `Broker::call_owned` of the same action (params moved);
//! - `remote_typed`: a REQ packet for the typed action arrives on a loopback transport, is
//!   decoded, served, and its RES encoded and published (the receive → handler → reply path);
//! - `remote_raw`: the same for an action that echoes the params' JSON text.
//!
//! The runtime is a current-thread one (`RUNTIME=multi` for the multi-thread one), so each
//! request's task switches are counted without other threads' noise.

// An example: panics on a broken setup are fine.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use broker_core::packet::PacketType;
use broker_core::payload::Payload;
use broker_core::transporter::{
    BoxFuture, Bytes, Topic, TransportEvent, TransportEvents, TransportSetup, Transporter,
};
use broker_core::{service, Broker, Context, Error};
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use tokio::sync::mpsc;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Echo {
    id: u32,
    msg: String,
}

struct Bench;

#[service(name = "bench")]
impl Bench {
    #[action]
    async fn echo(&self, params: Echo) -> Result<Echo, Error> {
        Ok(params)
    }

    #[action]
    async fn raw(&self, ctx: Context) -> Result<Payload, Error> {
        Ok(ctx.params_raw().to_owned())
    }
}

/// A transport that hands the driver's packets to the broker and the broker's responses back
/// to the driver: nothing of a real bus in the count.
#[derive(Debug)]
struct Loopback {
    incoming: Mutex<Option<mpsc::UnboundedSender<TransportEvent>>>,
    responses: mpsc::UnboundedSender<Bytes>,
}

impl Transporter for Loopback {
    fn connect<'a>(
        &'a self,
        _setup: &'a TransportSetup,
    ) -> BoxFuture<'a, Result<TransportEvents, Error>> {
        let (tx, rx) = mpsc::unbounded_channel();
        *self.incoming.lock().unwrap() = Some(tx);
        Box::pin(async { Ok(rx) })
    }

    fn subscribe<'a>(&'a self, _topics: &'a [Topic]) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async { Ok(()) })
    }

    fn publish(&self, topic: &Topic, payload: Bytes) -> Result<(), Error> {
        if topic.packet_type == PacketType::Response {
            let _ = self.responses.send(payload);
        }
        Ok(())
    }

    fn disconnect(&self) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async { Ok(()) })
    }

    fn is_connected(&self) -> bool {
        true
    }
}

/// A REQ packet as a Moleculer.js node sends it. The same bytes serve every call (the server
/// does not care that the IDs repeat), so the driver adds no work per call.
fn request(action: &str) -> Bytes {
    Bytes::from(format!(
        r#"{{"ver":"5","sender":"client","id":"req-1","action":"{action}","params":{{"id":1,"msg":"hello"}},"meta":{{}},"headers":{{}},"timeout":0,"level":1,"tracing":null,"parentID":null,"requestID":"req-1","caller":null,"stream":false}}"#
    ))
}

async fn run(scenario: &str, calls: usize) {
    let (res_tx, mut res_rx) = mpsc::unbounded_channel();
    let loopback = std::sync::Arc::new(Loopback {
        incoming: Mutex::new(None),
        responses: res_tx,
    });
    let broker = Broker::builder()
        .node_id("callpath")
        .transporter(LoopbackHandle(loopback.clone()))
        .build();
    broker.add_service(Bench).await.expect("add service");
    broker.start().await.expect("start");
    let params = Echo {
        id: 1,
        msg: "hello".to_owned(),
    };
    match scenario {
        "local" => {
            for _ in 0..calls {
                let out: Echo = broker.call("bench.echo", &params).await.expect("call");
                std::hint::black_box(out);
            }
        }
        "local_owned" => {
            for _ in 0..calls {
                let out: Echo = broker
                    .call_owned("bench.echo", params.clone())
                    .await
                    .expect("call");
                std::hint::black_box(out);
            }
        }
        "remote_typed" | "remote_raw" => {
            let action = if scenario == "remote_typed" {
                "bench.echo"
            } else {
                "bench.raw"
            };
            let incoming = loopback
                .incoming
                .lock()
                .unwrap()
                .clone()
                .expect("connected");
            let packet = request(action);
            for i in 0..calls {
                let event = TransportEvent::Message {
                    packet_type: PacketType::Request,
                    payload: packet.clone(),
                };
                incoming.send(event).expect("broker listening");
                let res = res_rx.recv().await.expect("a response");
                // Checked once: the check is not what is measured.
                if i == 0 {
                    let text = String::from_utf8_lossy(&res);
                    assert!(text.contains(r#""success":true"#), "{text}");
                    assert!(text.contains(r#""data":{"id":1,"msg":"hello"}"#), "{text}");
                }
            }
        }
        other => panic!("unknown scenario {other}"),
    }
    broker.stop().await.expect("stop");
}

/// The broker owns its transporter; the driver keeps a handle to the same loopback.
#[derive(Debug)]
struct LoopbackHandle(std::sync::Arc<Loopback>);

impl Transporter for LoopbackHandle {
    fn connect<'a>(
        &'a self,
        setup: &'a TransportSetup,
    ) -> BoxFuture<'a, Result<TransportEvents, Error>> {
        self.0.connect(setup)
    }
    fn subscribe<'a>(&'a self, topics: &'a [Topic]) -> BoxFuture<'a, Result<(), Error>> {
        self.0.subscribe(topics)
    }
    fn publish(&self, topic: &Topic, payload: Bytes) -> Result<(), Error> {
        self.0.publish(topic, payload)
    }
    fn disconnect(&self) -> BoxFuture<'_, Result<(), Error>> {
        self.0.disconnect()
    }
    fn is_connected(&self) -> bool {
        self.0.is_connected()
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let scenario = args.next().unwrap_or_else(|| "local".to_owned());
    let calls: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let runtime = if std::env::var("RUNTIME").as_deref() == Ok("multi") {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    runtime.expect("runtime").block_on(run(&scenario, calls));
}
