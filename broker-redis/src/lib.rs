//! A Redis pub/sub transporter for [`broker_core`], wire-compatible with the Redis transporter
//! of Moleculer.js 0.14 and 0.15: Rust and JavaScript nodes on one Redis and namespace form one
//! cluster.
//!
//! ```no_run
//! use broker_core::{ActionDef, Broker, Context, Error, ServiceSchema};
//! use broker_redis::RedisTransporter;
//! use serde_json::json;
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Error> {
//! let broker = Broker::builder()
//!     .node_id("n1")
//!     .namespace("dev")
//!     .transporter(RedisTransporter::new("redis://127.0.0.1:6379")?)
//!     .build();
//! broker
//!     .add_service(ServiceSchema::new("math").action(ActionDef::new("add", |ctx: Context| async move {
//!         let a = ctx.params()["a"].as_f64().unwrap_or(0.0);
//!         let b = ctx.params()["b"].as_f64().unwrap_or(0.0);
//!         Ok(json!(a + b))
//!     })))
//!     .await?;
//! broker.start().await?;
//!
//! // Any node of namespace `dev` on this Redis (Rust or Moleculer.js) can now call `math.add`.
//! let sum: f64 = broker.call("math.add", json!({"a": 1, "b": 2})).await?;
//! assert_eq!(sum, 3.0);
//!
//! broker.stop().await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Wire details
//!
//! Channels are `MOL-<namespace>.<TYPE>` and `MOL-<namespace>.<TYPE>.<nodeID>` (`MOL.…` for
//! the empty namespace); each node subscribes its 12 exact channels with `SUBSCRIBE` (never
//! `PSUBSCRIBE`) on a dedicated subscriber connection and publishes on a second connection.
//! The message body is the packet's JSON and nothing else: the packet type comes from the
//! channel name. Redis pub/sub ignores the database number, so clusters sharing a Redis are
//! kept apart by namespace only.
//!
//! A Redis Cluster works too (`redis+cluster://h1:p1,h2:p2`, or [`RedisTransporter::cluster`]):
//! its pub/sub is not sharded, so one connection to any node carries every message; the seeds,
//! and the nodes learnt from the cluster, are where the transporter fails over to.
//!
//! See [`RedisTransporter`] for connection handling, reconnects and tuning.

mod backoff;
mod cache;
mod cluster;
mod conn;
mod lock;
mod resp;
mod subscriber;
mod supervisor;
mod transporter;
mod writer;

pub use cache::RedisCacher;
pub use lock::RedisClusterLock;
pub use transporter::RedisTransporter;
