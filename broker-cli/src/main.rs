//! `broker`: join a Moleculer-compatible cluster, run one command and print JSON, or open the
//! interactive console.
//!
//! ```text
//! broker --transporter redis://127.0.0.1:6379 call math.add '{"a": 1, "b": 2}'
//! TRANSPORTER=redis://127.0.0.1:6379 broker nodes
//! broker --transporter redis://127.0.0.1:6379 repl
//! ```
//!
//! The output of a command is JSON on standard output; a failure prints the error on standard
//! error and exits with 1 (2 for a command line that cannot be understood).

mod cli;
mod connect;

use broker_core::Broker;
use broker_repl::{execute, render_error, Command, CommandError, ReplOptions, Style};
use cli::{Cli, Invocation};
use connect::Needs;
use std::process::ExitCode;
use std::time::Duration;

/// How long `stop` may take before the process leaves anyway.
const STOP_LIMIT: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    let cli = match cli::parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli))
}

fn init_logging(verbose: bool) {
    let default = if verbose { "info" } else { "error" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Exit code 2, as for any command line that cannot be understood.
fn usage_failure(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

fn failure(err: &CommandError) -> ExitCode {
    let code = match err {
        CommandError::Usage(_) => 2,
        _ => 1,
    };
    eprintln!(
        "{}",
        render_error(err, Style::plain()).replacen(">> ERROR", "error", 1)
    );
    ExitCode::from(code)
}

async fn run(cli: Cli) -> ExitCode {
    let command = match &cli.invocation {
        Invocation::Repl => None,
        Invocation::Words(words) => match Command::from_words(words) {
            Ok(command) => Some(command),
            Err(err) => return usage_failure(&err.to_string()),
        },
    };
    let transporter = match connect::transporter(&cli.transporter) {
        Ok(t) => t,
        Err(err) => return usage_failure(err.message()),
    };
    let mut builder = Broker::builder()
        .namespace(cli.namespace.clone())
        .protocol(cli.protocol)
        .request_timeout(cli.timeout);
    if let Some(node_id) = &cli.node_id {
        builder = builder.node_id(node_id.clone());
    }
    if let Some(t) = transporter {
        builder = builder.shared_transporter(t);
    }
    let broker = builder.build();
    if let Err(err) = connect::start(&broker, cli.connect_timeout).await {
        return failure(&CommandError::Broker(err));
    }
    let code = match command {
        None => repl(&broker, &cli).await,
        Some(command) => one_shot(&broker, &cli, command).await,
    };
    let _ = tokio::time::timeout(STOP_LIMIT, broker.stop()).await;
    code
}

async fn repl(broker: &Broker, cli: &Cli) -> ExitCode {
    connect::discover(broker, &Needs::Cluster, cli.wait).await;
    match broker_repl::run(broker, ReplOptions::default()).await {
        Ok(_) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: console: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn one_shot(broker: &Broker, cli: &Cli, command: Command) -> ExitCode {
    let needs = match &command {
        Command::Call(c) => Needs::Action {
            action: c.action.clone(),
            node: c.node_id.clone(),
        },
        Command::Bench(b) => Needs::Action {
            action: b.call.action.clone(),
            node: b.call.node_id.clone(),
        },
        _ => Needs::Cluster,
    };
    connect::discover(broker, &needs, cli.wait).await;
    match execute(broker, command).await {
        Ok(output) => {
            let json = output.to_json();
            let text = if cli.compact {
                serde_json::to_string(&json).unwrap_or_default()
            } else {
                broker_repl::pretty_json(&json, Style::detect())
            };
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            if broker.config().transporter.is_none()
                && err.broker_error().is_some_and(|e| e.code() == 404)
            {
                eprintln!("note: no transporter given, so this node sees only itself; pass --transporter redis://host:port or set TRANSPORTER");
            }
            failure(&err)
        }
    }
}
