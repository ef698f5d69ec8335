use broker_core::{service, Broker, Error};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct HelloParams {
    name: String,
}

struct Greeter;

#[service(name = "greeter")]
impl Greeter {
    // Was `hello`; callers of the old name no longer compile.
    #[action]
    async fn greet(&self, params: HelloParams) -> Result<String, Error> {
        Ok(params.name)
    }
}

async fn call(broker: &Broker) -> Result<String, Error> {
    GreeterClient::new(broker)
        .hello(HelloParams { name: "Alice".into() })
        .await
}

fn main() {
    let _ = call;
}
