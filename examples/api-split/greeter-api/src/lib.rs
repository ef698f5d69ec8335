//! The `greeter` service's api: the types its actions and events take and return, and a typed
//! client, in a crate of their own. The service (`greeter-service`) and every caller depend on
//! this crate; a caller does not link the service. A params field renamed here is a compile
//! error in both.
//!
//! ```no_run
//! use greeter_api::{GreeterClient, HelloParams};
//! # async fn demo(broker: &broker_core::Broker) -> Result<(), broker_core::Error> {
//! let reply = GreeterClient::new(broker)
//!     .hello(HelloParams { name: "Alice".into() })
//!     .await?;
//! println!("{}", reply.text);
//! # Ok(())
//! # }
//! ```

use broker_core::{client, schemars, Error, JsonSchema};
use serde::{Deserialize, Serialize};

/// The params of `v1.greeter.hello`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct HelloParams {
    /// Who to greet.
    #[schemars(length(min = 1))]
    pub name: String,
}

/// The result of `v1.greeter.hello`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Greeting {
    /// The greeting.
    pub text: String,
    /// How many greetings the serving node gave so far.
    pub count: u64,
}

/// The payload of the `greeter.greeted` event the service emits after each greeting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Greeted {
    /// Who was greeted.
    pub name: String,
}

/// The greeter service, `v1.greeter`, as its callers see it: `GreeterClient`.
#[client(name = "greeter", version = 1)]
#[emits(name = "greeter.greeted", payload = Greeted, method = "greeted")]
pub trait Greeter {
    /// Greets someone.
    async fn hello(&self, params: HelloParams) -> Result<Greeting, Error>;
    /// How many greetings the serving node gave so far.
    async fn count(&self) -> Result<u64, Error>;
}
