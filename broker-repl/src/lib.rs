//! An interactive console for [`broker_core`] nodes, in the spirit of `moleculer-repl`, and the
//! command core the `broker` CLI shares with it.
//!
//! Any node can open the console on its own terminal; it reads that node's live registry:
//!
//! ```no_run
//! use broker_core::Broker;
//! use broker_repl::ReplExt;
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let broker = Broker::builder().node_id("node-1").build();
//! broker.start().await?;
//! broker.repl().await?; // until `exit` or Ctrl-D
//! broker.stop().await?;
//! # Ok(())
//! # }
//! ```
//!
//! The same commands run without a console through [`run_command`], which returns an
//! [`Output`] to render for people ([`Output::render`]) or print as JSON ([`Output::to_json`]):
//!
//! ```
//! use broker_core::{ActionDef, Broker, ServiceSchema};
//! use broker_repl::{run_command, Output};
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let broker = Broker::builder().node_id("local").build();
//! broker
//!     .add_service(ServiceSchema::new("math").action(ActionDef::new("add", |ctx| async move {
//!         let p = ctx.params();
//!         Ok(json!(p["a"].as_i64().unwrap_or(0) + p["b"].as_i64().unwrap_or(0)))
//!     })))
//!     .await?;
//! broker.start().await?;
//!
//! let out = run_command(&broker, r#"call math.add {"a": 100, "b": 999}"#).await?;
//! assert_eq!(out.to_json(), json!(1099));
//! let out = run_command(&broker, "call math.add --a 1 --b 2").await?;
//! assert_eq!(out.to_json(), json!(3));
//! assert!(matches!(run_command(&broker, "actions -i").await?, Output::List(_)));
//!
//! let err = run_command(&broker, "call math.nope").await.err().map(|e| e.to_string());
//! assert_eq!(
//!     err.as_deref(),
//!     Some("ServiceNotFoundError: Service 'math.nope' is not found. (code 404, type SERVICE_NOT_FOUND)")
//! );
//! broker.stop().await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Logs
//!
//! [`init_logging`] installs a `tracing` subscriber (`RUST_LOG`, else a default directive)
//! whose lines appear above the console's prompt while one is open, so log lines and output
//! from event handlers ([`print_line`]) never break the line being typed:
//!
//! ```no_run
//! broker_repl::init_logging("info");
//! ```
//!
//! # Commands
//!
//! `call`, `dcall`, `emit`, `broadcast`, `broadcastLocal`, `nodes`, `services`, `actions`,
//! `events`, `metrics`, `info`, `bench`, `micro` (the NATS service API, ADR-32: `micro list`,
//! `micro ping`, `micro stats`, `micro request <subject> [json]`), `help`, `clear`, `exit` /
//! `quit`; `help <command>` gives the
//! options of each. Params are JSON (typed bare: `call math.add {"a": 1, "b": 2}`) and/or
//! `--key value` options coerced as moleculer-repl does (see [`coerce`]); `--#key value` sets
//! meta and `--$timeout ms` the call's timeout.

mod console;
mod error;
mod exec;
mod logging;
mod output;
mod parse;
mod render;

pub use broker::transporter_from_url;
pub use console::{print_line, render_error, run, run_script, ReplOptions, ReplSummary};
pub use error::CommandError;
pub use exec::{execute, BenchReport, DEFAULT_CALL_TIMEOUT, DEFAULT_NATS_URL, MAX_SAMPLES};
pub use logging::{init_logging, init_logging_with, ConsoleWriter, LogFormat, LogLine, LogOptions};
pub use output::{InfoReport, Listing, Output, Response, Sent};
pub use parse::{
    coerce, find_command, tokenize, BenchLimit, BenchRequest, CallRequest, Command, CommandInfo,
    Completes, EmitRequest, ListOptions, MicroAction, MicroRequest, TasksRequest, Token, COMMANDS,
    MAX_BENCH_TIME,
};
pub use render::{pretty_json, Cell, Style, Table, Tone};

use broker_core::Broker;
use std::future::Future;

/// Parses one command line and runs it against `broker`: the core both the console and the
/// CLI use.
pub async fn run_command(broker: &Broker, line: &str) -> Result<Output, CommandError> {
    execute(broker, Command::parse(line)?).await
}

/// Opens the console on a broker: `broker.repl().await`.
pub trait ReplExt {
    /// Runs the console with [`ReplOptions::default`] until `exit`, Ctrl-D or end of input.
    fn repl(&self) -> impl Future<Output = std::io::Result<ReplSummary>> + Send;

    /// Runs the console with options.
    fn repl_with(
        &self,
        options: ReplOptions,
    ) -> impl Future<Output = std::io::Result<ReplSummary>> + Send;
}

impl ReplExt for Broker {
    fn repl(&self) -> impl Future<Output = std::io::Result<ReplSummary>> + Send {
        run(self, ReplOptions::default())
    }

    fn repl_with(
        &self,
        options: ReplOptions,
    ) -> impl Future<Output = std::io::Result<ReplSummary>> + Send {
        run(self, options)
    }
}
