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
//! error (as JSON with `--json` or `--compact`) and exits with 1 (2 for a command line that
//! cannot be understood). SIGINT (Ctrl-C) or SIGTERM stops the node gracefully, so peers drop
//! it at once, and exits with 130 or 143 (128 + the signal's number).
//!
//! `broker call --trace ...` (or `dcall --trace`) runs the call in a sampled root span and
//! prints, on standard error, the tree of the spans the call produced across the cluster (from
//! the nodes that trace with Moleculer's `Event` exporter).
//!
//! Unless `--protocol 4|5` (or `MOLECULER_PROTOCOL`) says otherwise, the node first listens to
//! the bus and speaks the protocol version the nodes there speak (see `probe`).

mod cli;
mod connect;
mod micro;
mod probe;
mod signals;
mod trace;

use broker_core::{Broker, Error, ProtocolVersion};
use broker_repl::{execute, render_error, Command, CommandError, ReplOptions, Style};
use cli::{Cli, Invocation, ProtocolChoice};
use connect::Needs;
use signals::{Signals, Stop};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How long `stop` may take before the process leaves anyway.
const STOP_LIMIT: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    let cli = match cli::parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    broker_repl::init_logging(match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug,rustyline=info",
    });
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
    let code = runtime.block_on(run(cli));
    // A console stopped by a signal may still be reading a line on its blocking thread: do
    // not wait for it.
    runtime.shutdown_timeout(Duration::from_millis(100));
    code
}

/// How errors are printed.
#[derive(Debug, Clone, Copy)]
struct Report {
    json: bool,
}

impl Report {
    /// Prints the error (as text, or as Moleculer's JSON shape) on standard error and gives
    /// the exit code: 2 for a command line that cannot be understood, 1 otherwise.
    fn failure(self, err: &CommandError) -> ExitCode {
        let code = match err {
            CommandError::Usage(_) => 2,
            _ => 1,
        };
        if self.json {
            eprintln!(
                "{}",
                serde_json::to_string(&err.to_json()).unwrap_or_default()
            );
        } else {
            eprintln!(
                "{}",
                render_error(err, Style::plain()).replacen(">> ERROR", "error", 1)
            );
        }
        ExitCode::from(code)
    }
}

async fn run(cli: Cli) -> ExitCode {
    let report = Report {
        json: cli.json_errors,
    };
    let mut traced = false;
    let command = match &cli.invocation {
        Invocation::Micro(command) => {
            return match micro::run(command.clone(), cli.compact).await {
                Ok(text) => {
                    // A reader that went away (`| head`) is not an error of the command.
                    let mut out = std::io::stdout().lock();
                    let _ = std::io::Write::write_all(&mut out, format!("{text}\n").as_bytes());
                    ExitCode::SUCCESS
                }
                Err(err) => report.failure(&CommandError::Broker(err)),
            };
        }
        Invocation::Repl => None,
        Invocation::Words(words) => {
            let mut words = words.clone();
            traced = trace::take_flag(&mut words);
            match Command::from_words(&words) {
                Ok(command) => Some(command),
                Err(err) => return report.failure(&err),
            }
        }
    };
    let mut signals = match Signals::install() {
        Ok(signals) => signals,
        Err(err) => {
            eprintln!("error: cannot listen for SIGINT/SIGTERM: {err}");
            return ExitCode::FAILURE;
        }
    };
    let transporter = match broker_repl::transporter_from_url(&cli.transporter) {
        Ok(t) => t,
        Err(err) => return report.failure(&CommandError::usage(err.message())),
    };
    let protocol = tokio::select! {
        protocol = protocol(&cli, transporter.is_some()) => match protocol {
            Ok(protocol) => protocol,
            Err(err) => return report.failure(&CommandError::Broker(err)),
        },
        stop = signals.recv() => return stop.exit_code(),
    };
    let mut builder = Broker::builder()
        .namespace(cli.namespace.clone())
        .protocol(protocol)
        .request_timeout(cli.timeout)
        // `start` retries a bus that is down until this passes, then fails with its error.
        .connect_timeout(cli.connect_timeout);
    if let Some(node_id) = &cli.node_id {
        builder = builder.node_id(node_id.clone());
    }
    if let Some(t) = transporter {
        builder = builder.shared_transporter(t);
    }
    let collector = Arc::new(trace::Collector::default());
    if traced {
        builder = builder.tracing(trace::options(collector.clone()));
    }
    let broker = builder.build();
    if traced {
        let service = trace::collector_service(broker.node_id(), collector.clone());
        if let Err(err) = broker.add_service(service).await {
            return report.failure(&CommandError::Broker(err));
        }
    }
    let work = async {
        if let Err(err) = connect::start(&broker, cli.connect_timeout).await {
            return report.failure(&CommandError::Broker(err));
        }
        match command {
            None => repl(&broker, &cli).await,
            Some(command) => {
                let tracing = traced.then_some(&*collector);
                one_shot(&broker, &cli, report, command, tracing).await
            }
        }
    };
    let code = tokio::select! {
        code = work => code,
        stop = signals.recv() => stopped_by(stop),
    };
    tokio::select! {
        stopped = tokio::time::timeout(STOP_LIMIT, broker.stop()) => {
            if stopped.is_err() {
                eprintln!(
                    "warning: the node did not stop within {} s",
                    STOP_LIMIT.as_secs()
                );
            }
            code
        }
        // A second Ctrl-C does not wait for in-flight work to finish.
        stop = signals.recv() => {
            eprintln!("{}: leaving without waiting for the node to stop", stop.name());
            stop.exit_code()
        }
    }
}

fn stopped_by(stop: Stop) -> ExitCode {
    tracing::info!(signal = stop.name(), "stopping the node");
    stop.exit_code()
}

/// How often the probe tries again while the transporter cannot be reached.
const PROBE_RETRY: Duration = Duration::from_millis(500);

/// The protocol version to speak: the one asked for, or (`auto`) the one the bus speaks.
async fn protocol(cli: &Cli, has_transporter: bool) -> Result<ProtocolVersion, Error> {
    match cli.protocol {
        ProtocolChoice::Fixed(version) => Ok(version),
        ProtocolChoice::Auto if has_transporter => detect(cli).await,
        ProtocolChoice::Auto => Ok(ProtocolVersion::V5),
    }
}

/// Listens to the bus, trying again until `--connect-timeout` while it cannot be reached (a
/// node started before its Redis works as soon as Redis is there).
async fn detect(cli: &Cli) -> Result<ProtocolVersion, Error> {
    let deadline = Instant::now() + cli.connect_timeout;
    let mut warned = false;
    let heard = loop {
        // A transporter per attempt, and not the node's: that one connects afresh later.
        let Some(probe) = broker_repl::transporter_from_url(&cli.transporter)? else {
            return Ok(ProtocolVersion::V5);
        };
        let listening = probe::listen(probe, &cli.namespace, probe::WINDOW);
        match tokio::time::timeout_at(deadline + probe::WINDOW, listening).await {
            Ok(Ok(heard)) => break heard,
            Ok(Err(err)) if Instant::now() + PROBE_RETRY < deadline => {
                if !warned {
                    tracing::warn!(%err, "cannot reach the transporter; trying again until the connect timeout");
                    warned = true;
                }
                tokio::time::sleep(PROBE_RETRY).await;
            }
            Ok(Err(err)) => return Err(err),
            Err(_) => return Err(connect::not_connected(cli.connect_timeout)),
        }
    };
    if let Some(warning) = heard.mixed_warning() {
        eprintln!("{warning}");
    }
    let version = heard.choice();
    tracing::info!(heard = %heard, speaking = %version, "protocol auto: listened to the bus");
    if version == ProtocolVersion::V4 {
        // The probe's version-5 DISCOVER made each 0.14 node log a ProtocolVersionMismatchError.
        tracing::info!("a protocol 4 cluster: pass --protocol 4 (or MOLECULER_PROTOCOL=4) to skip the probe and its one mismatched packet per run");
    }
    Ok(version)
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

async fn one_shot(
    broker: &Broker,
    cli: &Cli,
    report: Report,
    command: Command,
    tracing: Option<&trace::Collector>,
) -> ExitCode {
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
    let result = match (command, tracing) {
        (Command::Call(request), Some(collector)) => {
            let (result, tree) = trace::call(broker, request, collector).await;
            eprintln!("{tree}");
            result
        }
        (command, _) => execute(broker, command).await,
    };
    match result {
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
            // Standard error stays one JSON document when errors are JSON.
            if !report.json
                && broker.config().transporter.is_none()
                && err.broker_error().is_some_and(|e| e.code() == 404)
            {
                eprintln!("note: no transporter given, so this node sees only itself; pass --transporter redis://host:port (or nats://host:port) or set TRANSPORTER");
            }
            report.failure(&err)
        }
    }
}
