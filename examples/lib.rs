//! Tutorial examples; each is a file next to this one, run with
//! `cargo run -p examples --example <name>`.
//!
//! What the examples share: a broker builder configured from the environment, as every example
//! reads it.

use broker_core::trace::{ConsoleExporter, EventExporter};
use broker_core::{
    Broker, BrokerBuilder, Error, MemoryTransporter, ProtocolVersion, TracingOptions,
};

/// An environment variable, `None` when unset or empty.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// A broker builder from the environment: `NAMESPACE`, `NODE_ID`, `TRACING` (`console`: each
/// finished trace printed as a tree; `events`: spans emitted as `$tracing.spans` for a
/// collector; `off`, the default), and on the bus `url` names (`redis://…` or `nats://…`, see
/// [`broker_repl::transporter_from_url`]) `MOLECULER_PROTOCOL` (`5`, the default, for
/// Moleculer.js 0.15; `4` for 0.14); in memory otherwise. Any other `MOLECULER_PROTOCOL` or
/// `TRACING` is a `BrokerOptionsError`.
pub fn builder_from_env(url: Option<&str>) -> Result<BrokerBuilder, Error> {
    let mut builder = Broker::builder().namespace(env("NAMESPACE").unwrap_or_default());
    if let Some(id) = env("NODE_ID") {
        builder = builder.node_id(id);
    }
    match env("TRACING").as_deref() {
        None | Some("off") => {}
        Some("console") => {
            builder = builder.tracing(TracingOptions::new().exporter(ConsoleExporter::new()))
        }
        Some("events") => {
            builder = builder.tracing(TracingOptions::new().exporter(EventExporter::default()))
        }
        Some(other) => {
            return Err(Error::broker_options(format!(
                "TRACING={other}: use console, events or off"
            )))
        }
    }
    let transporter = match url {
        Some(url) => broker_repl::transporter_from_url(url)?,
        None => None,
    };
    Ok(match transporter {
        Some(transporter) => {
            let protocol = match env("MOLECULER_PROTOCOL") {
                None => ProtocolVersion::V5,
                Some(v) => ProtocolVersion::parse(&v).ok_or_else(|| {
                    Error::broker_options(format!("MOLECULER_PROTOCOL={v}: use 4 or 5"))
                })?,
            };
            builder.shared_transporter(transporter).protocol(protocol)
        }
        None => builder.transporter(MemoryTransporter::new()),
    })
}
