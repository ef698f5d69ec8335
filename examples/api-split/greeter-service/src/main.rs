//! The api-split example: a node serving `greeter` and a caller node that knows only
//! `greeter-api`, on the in-memory transporter.
//!
//! ```sh
//! cargo run -p greeter-service
//! ```

use broker_core::{service, Broker, Error, MemoryTransporter};
use greeter_api::{Greeted, GreeterClient, HelloParams};
use std::process::ExitCode;
use std::time::Duration;
use tokio::sync::mpsc;

/// A service of the caller's node, listening to the greeter's event with the api's type.
struct Audit {
    seen: mpsc::UnboundedSender<Greeted>,
}

#[service(name = "audit")]
impl Audit {
    #[event(name = "greeter.greeted")]
    async fn greeted(&self, event: Greeted) {
        let _ = self.seen.send(event);
    }
}

async fn run() -> Result<(), Error> {
    let server = Broker::builder()
        .node_id("greeter-node")
        .namespace("api-split")
        .transporter(MemoryTransporter::new())
        .build();
    server
        .add_service(greeter_service::Greeter::default())
        .await?;
    server.start().await?;

    let caller = Broker::builder()
        .node_id("caller-node")
        .namespace("api-split")
        .transporter(MemoryTransporter::new())
        .build();
    let (seen, mut events) = mpsc::unbounded_channel();
    caller.add_service(Audit { seen }).await?;
    caller.start().await?;
    caller
        .wait_for_services(&[GreeterClient::SERVICE], Duration::from_secs(5))
        .await?;

    // The caller's code: types and client from `greeter-api` only.
    let greeter = GreeterClient::new(&caller).with_timeout(Duration::from_secs(2));
    for name in ["Alice", "Bob"] {
        let greeting = greeter.hello(HelloParams { name: name.into() }).await?;
        println!("{} (greeting #{})", greeting.text, greeting.count);
    }
    println!("the greeter node counted {}", greeter.count().await?);
    for _ in 0..2 {
        match tokio::time::timeout(Duration::from_secs(2), events.recv()).await {
            Ok(Some(event)) => println!("greeter.greeted: {}", event.name),
            _ => return Err(Error::new("ExampleError", "no greeter.greeted event came")),
        }
    }

    caller.stop().await?;
    server.stop().await
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
