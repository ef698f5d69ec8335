//! Running a parsed [`Command`] against a broker.

mod bench;
mod info;
mod lists;
mod micro;
mod send;
mod tasks;

pub use bench::{BenchReport, MAX_SAMPLES};
pub use micro::DEFAULT_NATS_URL;

use crate::error::CommandError;
use crate::output::Output;
use crate::parse::Command;
use broker_core::{Broker, CallOptions};
use serde_json::Value;
use std::time::Duration;

/// The timeout of a call made from the console when neither `--$timeout` nor the broker's
/// `request_timeout` sets one, so that a node that never answers cannot hang the console.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a query of this node's own `$node.*` actions may take.
const LOCAL_QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// The timeout a console call goes out with: the one asked for, else none (the action's or
/// the broker's applies), else [`DEFAULT_CALL_TIMEOUT`] when the broker has none either.
pub(crate) fn call_timeout(broker: &Broker, asked: Option<Duration>) -> Option<Duration> {
    match (asked, broker.config().request_timeout) {
        (Some(t), _) => Some(t),
        (None, Some(_)) => None,
        (None, None) => Some(DEFAULT_CALL_TIMEOUT),
    }
}

/// Calls one of this node's own `$node.*` actions.
pub(crate) async fn local_query(
    broker: &Broker,
    action: &str,
    params: Value,
) -> Result<Value, CommandError> {
    let options = CallOptions::new()
        .node_id(broker.node_id())
        .timeout(LOCAL_QUERY_TIMEOUT);
    Ok(broker.call_with(action, params, options).await?)
}

/// Runs a command.
pub async fn execute(broker: &Broker, command: Command) -> Result<Output, CommandError> {
    Ok(match command {
        Command::Call(request) => Output::Response(send::call(broker, request).await?),
        Command::Emit(request) => Output::Sent(send::emit(broker, request).await?),
        Command::Nodes(options) => Output::List(lists::nodes(broker, &options)),
        Command::Services(options) => Output::List(lists::services(broker, &options).await?),
        Command::Actions(options) => Output::List(lists::actions(broker, &options).await?),
        Command::Events(options) => Output::List(lists::events(broker, &options).await?),
        Command::Metrics(options) => Output::List(lists::metrics(broker, &options).await?),
        Command::Info => Output::Info(info::info(broker).await?),
        Command::Bench(request) => Output::Bench(bench::bench(broker, request).await?),
        Command::Micro(request) => micro::micro(broker, request).await?,
        Command::Tasks(request) => match request.run {
            Some(name) => {
                Output::Response(tasks::run(broker, &name, request.node_id.as_deref()).await?)
            }
            None => Output::List(tasks::list(broker, request.filter.as_deref()).await?),
        },
        Command::Help(text) => Output::Help(text),
        Command::Clear => Output::Clear,
        Command::Exit => Output::Exit,
        Command::Empty => Output::Empty,
    })
}
