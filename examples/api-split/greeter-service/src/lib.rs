//! The `greeter` service, built on the types of `greeter-api`. Its own generated client,
//! `GreeterServiceClient`, and the api crate's `greeter_api::GreeterClient` call the same
//! actions with the same types; the test below holds them to that.

use broker_core::{service, Context, Error};
use greeter_api::{Greeted, Greeting, HelloParams};
use std::sync::atomic::{AtomicU64, Ordering};

/// Greets, and counts its greetings.
#[derive(Debug, Default)]
pub struct Greeter {
    count: AtomicU64,
}

#[service(name = "greeter", version = 1, client = "GreeterServiceClient")]
#[emits(name = "greeter.greeted", payload = Greeted, method = "greeted")]
impl Greeter {
    /// Greets someone, then emits `greeter.greeted`.
    #[action]
    async fn hello(&self, ctx: Context, params: HelloParams) -> Result<Greeting, Error> {
        let count = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        let text = format!("Hello, {}!", params.name);
        ctx.client::<GreeterServiceClient>()
            .emit_greeted(Greeted { name: params.name })
            .await?;
        Ok(Greeting { text, count })
    }

    /// How many greetings this node gave so far.
    #[action]
    async fn count(&self) -> Result<u64, Error> {
        Ok(self.count.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use broker_core::Broker;
    use greeter_api::GreeterClient;

    #[tokio::test]
    async fn the_api_client_and_the_service_client_agree() -> Result<(), Error> {
        let broker = Broker::builder().node_id("api-split-test").build();
        broker.add_service(Greeter::default()).await?;
        broker.start().await?;
        let api = GreeterClient::new(&broker);
        let own = GreeterServiceClient::new(&broker);
        assert_eq!(GreeterClient::SERVICE, GreeterServiceClient::SERVICE);
        let hello = HelloParams {
            name: "Alice".into(),
        };
        assert_eq!(api.hello(hello.clone()).await?.count, 1);
        assert_eq!(own.hello(hello).await?.count, 2);
        assert_eq!(api.count().await?, own.count().await?);
        broker.stop().await
    }
}
