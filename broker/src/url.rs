//! The transporter a URL names, for every program that takes one from a person (the CLI's
//! `--transporter`, the `TRANSPORTER` variable, `BrokerBuilderExt::transporter_url`): one
//! place that knows the schemes.

use broker_core::{BrokerBuilder, Error, MemoryTransporter, Transporter};
use std::sync::Arc;

/// Picks a broker's transporter by URL: `Broker::builder().transporter_url("nats://…")?`.
pub trait BrokerBuilderExt: Sized {
    /// Sets the transporter the URL names (see [`transporter_from_url`]); `none` or `local`
    /// is a node on its own (the in-memory transporter). A scheme this build leaves out, or an
    /// unknown one, is a `BrokerOptionsError`.
    fn transporter_url(self, url: &str) -> Result<Self, Error>;
}

impl BrokerBuilderExt for BrokerBuilder {
    fn transporter_url(self, url: &str) -> Result<Self, Error> {
        Ok(match transporter_from_url(url)? {
            Some(transporter) => self.shared_transporter(transporter),
            None => self.transporter(MemoryTransporter::new()),
        })
    }
}

/// The transporter a URL names: `redis://…`, `rediss://…`, `redis+unix://…` (Redis),
/// `redis+cluster://host1:port1,host2:port2` (the seed nodes of a Redis Cluster),
/// `nats://…`, `tls://…` (NATS; several servers separated by commas), `amqp://…`, `amqps://…`
/// (RabbitMQ) or `mqtt://…`, `mqtts://…` (an MQTT broker); `redis`, `nats`, `amqp` and `mqtt`
/// alone are the default local servers. An empty string, `none` or `local` is a local-only
/// node (`Ok(None)`). Anything else, or a scheme whose transport crate this build leaves out
/// (cargo features `redis`, on by default, `nats`, `amqp` and `mqtt`), is a
/// `BrokerOptionsError`.
pub fn transporter_from_url(spec: &str) -> Result<Option<Arc<dyn Transporter>>, Error> {
    let spec = spec.trim();
    let lower = spec.to_ascii_lowercase();
    match lower.as_str() {
        "" | "none" | "local" => return Ok(None),
        "redis" => return redis("redis://127.0.0.1:6379").map(Some),
        "nats" => return nats("nats://127.0.0.1:4222").map(Some),
        "amqp" => return amqp("amqp://guest:guest@127.0.0.1:5672").map(Some),
        "mqtt" => return mqtt("mqtt://127.0.0.1:1883").map(Some),
        "memory" => {
            return Err(Error::broker_options(
                "the in-memory transporter only links brokers inside one process; \
                 use redis://, nats://, amqp:// or mqtt://host:port to reach other processes",
            ))
        }
        _ => {}
    }
    let has = |schemes: &[&str]| schemes.iter().any(|p| lower.starts_with(p));
    if has(&[
        "redis://",
        "rediss://",
        "redis+unix://",
        "redis+cluster://",
        "rediss+cluster://",
    ]) {
        return redis(spec).map(Some);
    }
    if has(&["nats://", "tls://"]) {
        return nats(spec).map(Some);
    }
    if has(&["amqp://", "amqps://"]) {
        return amqp(spec).map(Some);
    }
    if has(&["mqtt://", "mqtts://"]) {
        return mqtt(spec).map(Some);
    }
    Err(Error::broker_options(format!(
        "unsupported transporter '{}': use redis://host:port, rediss://host:port, \
         redis+cluster://host1:port1,host2:port2, \
         nats://host:port[,nats://host2:port], tls://host:port, amqp://user:pass@host:port, \
         mqtt://host:port, or none for a local-only node",
        redact(spec)
    )))
}

/// One transport per cargo feature: built in, its constructor; left out, an error naming
/// the feature.
macro_rules! transport {
    ($fn_name:ident, $feature:literal, $what:literal, $make:expr) => {
        #[cfg(feature = $feature)]
        fn $fn_name(url: &str) -> Result<Arc<dyn Transporter>, Error> {
            Ok(Arc::new($make(url)?))
        }

        #[cfg(not(feature = $feature))]
        fn $fn_name(_url: &str) -> Result<Arc<dyn Transporter>, Error> {
            Err(Error::broker_options(concat!(
                "this build has no ",
                $what,
                " transporter (cargo feature `",
                $feature,
                "` of the `broker` crate)"
            )))
        }
    };
}

transport!(redis, "redis", "Redis", broker_redis::RedisTransporter::new);
transport!(nats, "nats", "NATS", broker_nats::NatsTransporter::new);
transport!(amqp, "amqp", "AMQP", broker_amqp::AmqpTransporter::new);
transport!(mqtt, "mqtt", "MQTT", broker_mqtt::MqttTransporter::new);

/// A spec as an error message may show it: anything before `@` hidden.
fn redact(spec: &str) -> String {
    match (spec.split_once("://"), spec.rsplit_once('@')) {
        (Some((scheme, _)), Some((_, host))) => format!("{scheme}://***@{host}"),
        _ => spec.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_their_transporter() {
        let describe = |spec: &str| {
            transporter_from_url(spec)
                .expect(spec)
                .map(|t| t.describe())
        };
        assert_eq!(describe(""), None);
        assert_eq!(describe("none"), None);
        assert_eq!(describe("redis").as_deref(), Some("redis://127.0.0.1:6379"));
        assert_eq!(
            describe("redis://:pw@10.0.0.1:6380").as_deref(),
            Some("redis://:***@10.0.0.1:6380")
        );
        assert_eq!(
            describe("redis+cluster://:pw@a:7000,b:7001").as_deref(),
            Some("redis+cluster://:***@a:7000,b:7001")
        );
        if cfg!(feature = "nats") {
            assert_eq!(describe("nats").as_deref(), Some("nats://127.0.0.1:4222"));
            assert_eq!(
                describe("nats://u:pw@a:4222,nats://b:4223").as_deref(),
                Some("nats://u:***@a:4222,nats://b:4223")
            );
            assert_eq!(describe("tls://n1:4443").as_deref(), Some("tls://n1:4443"));
        } else {
            let err = transporter_from_url("nats://a:4222").expect_err("no nats feature");
            assert!(err.message().contains("feature `nats`"), "{err}");
        }
    }

    #[test]
    fn other_specs_are_options_errors_without_secrets() {
        for spec in ["memory", "kafka://u:secret@h", "kafka", "http://x"] {
            let err = transporter_from_url(spec).expect_err(spec);
            assert_eq!(err.kind(), broker_core::ErrorKind::BrokerOptions, "{spec}");
            assert!(!err.message().contains("secret"), "{err}");
        }
    }
}
