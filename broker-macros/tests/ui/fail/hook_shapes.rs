use broker_core::{service, Context};

struct Greeter;

#[service(name = "greeter")]
impl Greeter {
    #[started(now)]
    async fn started(&self, ctx: Context) {
        let _ = ctx;
    }

    #[stopped]
    async fn stopped(&self) {}

    #[stopped]
    async fn stopped_again(&self) {}

    #[settings]
    async fn settings(&self) -> serde_json::Value {
        serde_json::Value::Null
    }

    #[metadata]
    fn metadata(&self) {}
}

fn main() {}
