//! Tutorial examples; each is a file next to this one, run with
//! `cargo run -p examples --example <name>`.
//!
//! What the examples share: a broker builder configured from the environment, as every example
//! reads it.

use broker::{BrokerBuilder, BrokerBuilderExt, Error};

/// An environment variable, `None` when unset or empty.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// A broker builder from the environment as moleculer-runner reads it ([`broker::from_env`]:
/// `TRANSPORTER`, `NAMESPACE`, `NODEID`, `TRACING` (`console`: each finished trace printed as a
/// tree; `event`: spans emitted as `$tracing.spans` for a collector), `MOLECULER_PROTOCOL`
/// (`5`, the default, for Moleculer.js 0.15; `4` for 0.14), `MOL_*`, …), plus `NODE_ID` (the
/// examples' older name for the node ID) and `url`, the bus an example was given on its command
/// line, which wins over `TRANSPORTER`. Without a bus the node runs on its own, in memory.
pub fn builder_from_env(url: Option<&str>) -> Result<BrokerBuilder, Error> {
    let mut builder = broker::from_env()?;
    if let Some(id) = env("NODE_ID") {
        builder = builder.node_id(id);
    }
    match url {
        Some(url) => builder.transporter_url(url),
        None => Ok(builder),
    }
}
