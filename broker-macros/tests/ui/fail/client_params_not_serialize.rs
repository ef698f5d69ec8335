use broker_core::{service, Broker, Error};
use serde::{Deserialize, Serialize};

// Only `Deserialize`: the service compiles, its client cannot send one.
#[derive(Deserialize)]
struct HelloParams {
    name: String,
}

// Only `Serialize`: its client cannot read one back.
#[derive(Serialize)]
struct Greeting {
    text: String,
}

struct Greeter;

#[service(name = "greeter")]
impl Greeter {
    #[action]
    async fn hello(&self, params: HelloParams) -> Result<Greeting, Error> {
        Ok(Greeting { text: params.name })
    }
}

async fn call(broker: &Broker) -> Result<(), Error> {
    GreeterClient::new(broker)
        .hello(HelloParams { name: "Alice".into() })
        .await?;
    Ok(())
}

fn main() {
    let _ = call;
}
