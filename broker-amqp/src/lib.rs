//! AMQP 0-9-1 (RabbitMQ) for the broker: [`AmqpTransporter`] joins a Moleculer cluster whose
//! nodes use Moleculer.js's AMQP transporter (0.14 and 0.15), with the same exchanges, queues
//! and acknowledgements.
//!
//! ```no_run
//! use broker_amqp::AmqpTransporter;
//! use broker_core::{Broker, Error};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Error> {
//! let broker = Broker::builder()
//!     .namespace("dev")
//!     .transporter(AmqpTransporter::new("amqp://guest:guest@127.0.0.1:5672")?)
//!     .build();
//! broker.start().await?;
//! # broker.stop().await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Acknowledgements and idempotency
//!
//! Requests, and events balanced by RabbitMQ (`disable_balancer`), are acknowledged only after
//! the broker handled them: a request once its response is published. If the node dies before
//! that, RabbitMQ hands the message to another node (or to this one when it is back), so a
//! request may run twice: make such handlers idempotent.

mod options;
mod session;
mod topology;
mod transporter;
mod url;

pub use transporter::AmqpTransporter;
