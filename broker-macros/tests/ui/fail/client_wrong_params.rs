use broker_core::{service, Broker, Error};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct HelloParams {
    name: String,
}

#[derive(Serialize, Deserialize)]
struct ByeParams {
    name: String,
}

struct Greeter;

#[service(name = "greeter")]
impl Greeter {
    #[action]
    async fn hello(&self, params: HelloParams) -> Result<String, Error> {
        Ok(params.name)
    }
}

async fn call(broker: &Broker) -> Result<String, Error> {
    GreeterClient::new(broker)
        .hello(ByeParams { name: "Alice".into() })
        .await
}

fn main() {
    let _ = call;
}
