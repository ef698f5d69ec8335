//! MQTT for the broker: a transporter speaking Moleculer's MQTT topics, so Rust and
//! Moleculer.js 0.14/0.15 nodes on one MQTT server (Mosquitto, EMQX, HiveMQ…) and namespace form
//! one cluster.
//!
//! ```no_run
//! use broker_core::{Broker, Error};
//! use broker_mqtt::MqttTransporter;
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Error> {
//! let broker = Broker::builder()
//!     .namespace("dev")
//!     .transporter(MqttTransporter::new("mqtt://127.0.0.1:1883")?)
//!     .build();
//! broker.start().await?;
//! # broker.stop().await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Wire details
//!
//! As Moleculer.js's `MqttTransporter`: topics `MOL-<namespace><sep><TYPE>` and
//! `MOL-<namespace><sep><TYPE><sep><nodeID>` (`MOL…` for the empty namespace), where `<sep>` is
//! the `topicSeparator` option (`.` by default; every node of the cluster must use the same).
//! The node subscribes its 12 topics (in one SUBSCRIBE) at the `qos` option's level (0 by
//! default) and publishes at that level, never retained; the message body is the serialized packet and
//! nothing else. There is no built-in balancer. MQTT 3.1.1, clean sessions, a random client ID
//! per connection.

mod options;
mod session;
mod tls;
mod topics;
mod transporter;

pub use options::Qos;
pub use transporter::MqttTransporter;
