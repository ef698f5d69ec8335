//! NATS for the broker: a transporter speaking Moleculer's NATS channels, and the NATS service
//! API (ADR-32) that exposes the broker's services to any NATS client.
//!
//! # The transporter
//!
//! [`NatsTransporter`] joins a Moleculer cluster over NATS: Rust and Moleculer.js 0.14/0.15
//! nodes on one NATS server (or cluster of servers) and namespace form one cluster.
//!
//! ```no_run
//! use broker_core::{Broker, Error};
//! use broker_nats::NatsTransporter;
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Error> {
//! let broker = Broker::builder()
//!     .namespace("dev")
//!     .transporter(NatsTransporter::new("nats://127.0.0.1:4222")?)
//!     .build();
//! broker.start().await?;
//! # broker.stop().await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Wire details
//!
//! Subjects are Moleculer's: `MOL-<namespace>.<TYPE>` and `MOL-<namespace>.<TYPE>.<nodeID>`
//! (`MOL.…` for the empty namespace), one plain subscription each; the message body is the
//! packet's JSON and nothing else.

pub mod micro;
mod servers;
mod transporter;

pub use transporter::NatsTransporter;
