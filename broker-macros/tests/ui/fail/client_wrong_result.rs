use broker_core::{service, Broker, Error};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct HelloParams {
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

async fn call(broker: &Broker) -> Result<u32, Error> {
    let count: u32 = GreeterClient::new(broker)
        .hello(HelloParams { name: "Alice".into() })
        .await?;
    Ok(count)
}

fn main() {
    let _ = call;
}
