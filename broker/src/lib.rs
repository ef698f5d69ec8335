//! The crate to add: a service broker wire-compatible with Moleculer.js, with its transports
//! chosen by cargo features and picked at run time by one URL, as in Moleculer.
//!
//! ```no_run
//! use broker::prelude::*;
//!
//! # async fn run() -> Result<(), broker::Error> {
//! // `TRANSPORTER=nats://127.0.0.1:4222 NODEID=node-1 cargo run` picks NATS, and so on.
//! let broker = broker::from_env()?.build();
//! broker.start().await?;
//! # Ok(()) }
//! ```
//!
//! Everything of `broker-core` (the broker, `Context`, errors, the `#[service]`, `#[action]`
//! and `#[event]` macros) is re-exported here; each transport crate is re-exported under its
//! feature (`redis`, the default, `nats`, `amqp`, `mqtt`; the serializers and transit
//! middlewares under `msgpack`, `notepack`, `cbor`, `compression`, `encryption`).

mod env;
mod url;

pub use broker_core::*;
pub use env::{from_env, from_vars};
pub use url::{transporter_from_url, BrokerBuilderExt};

/// The Redis transporter and cacher (cargo feature `redis`, on by default).
#[cfg(feature = "redis")]
pub use broker_redis as redis;

/// The NATS transporter and the NATS service API (cargo feature `nats`).
#[cfg(feature = "nats")]
pub use broker_nats as nats;

/// The AMQP (RabbitMQ) transporter (cargo feature `amqp`).
#[cfg(feature = "amqp")]
pub use broker_amqp as amqp;

/// The MQTT transporter (cargo feature `mqtt`).
#[cfg(feature = "mqtt")]
pub use broker_mqtt as mqtt;

/// Moleculer's serializers and transit middlewares (cargo features `msgpack`, `notepack`,
/// `cbor`, `compression`, `encryption`).
#[cfg(any(
    feature = "msgpack",
    feature = "notepack",
    feature = "cbor",
    feature = "compression",
    feature = "encryption"
))]
pub use broker_serializers as serializers;

/// What a service file usually needs: the broker, its builder and the URL extension, the
/// context, errors and the macros.
pub mod prelude {
    pub use crate::url::BrokerBuilderExt;
    pub use broker_core::{action, event, service, Broker, BrokerBuilder, Context, Error};
}
