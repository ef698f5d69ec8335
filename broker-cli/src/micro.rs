//! `broker micro …`: the NATS service API (ADR-32) on a NATS server, without joining a
//! cluster: `list` shows the services visible on the bus with their endpoints and statistics
//! (what `nats micro ls` and `nats micro stats` show), `request` sends a plain request to an
//! endpoint subject (what `nats req` does).

use broker_core::Error;
use broker_nats::micro::{DiscoveryOptions, MicroClient};
use bytes::Bytes;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::time::Duration;

/// A `broker micro` command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MicroCommand {
    /// `list [NAME] [--table]`.
    List {
        nats: String,
        name: Option<String>,
        table: bool,
        wait: Duration,
    },
    /// `request SUBJECT [BODY]`.
    Request {
        nats: String,
        subject: String,
        body: String,
        timeout: Duration,
    },
}

/// The clap definition of `micro`.
pub(crate) fn command() -> clap::Command {
    use clap::{Arg, ArgAction};
    let nats = Arg::new("nats")
        .long("nats")
        .env("NATS_URL")
        .value_name("URL")
        .default_value("nats://127.0.0.1:4222")
        .help("the NATS server (several URLs separated by commas)");
    clap::Command::new("micro")
        .about("NATS service API (ADR-32): list the services on a NATS bus, or call an endpoint")
        .subcommand_required(true)
        .subcommand(
            clap::Command::new("list")
                .visible_alias("ls")
                .about("List the ADR-32 services on the bus with their endpoints and stats (JSON)")
                .arg(nats.clone())
                .arg(
                    Arg::new("name")
                        .value_name("NAME")
                        .help("only this service"),
                )
                .arg(
                    Arg::new("table")
                        .long("table")
                        .action(ArgAction::SetTrue)
                        .help("print a table instead of JSON"),
                ),
        )
        .subcommand(
            clap::Command::new("request")
                .visible_alias("req")
                .about("Send a request to an endpoint subject and print the JSON reply")
                .arg(nats)
                .arg(Arg::new("subject").required(true).value_name("SUBJECT"))
                .arg(Arg::new("body").value_name("JSON").default_value("{}")),
        )
}

/// Reads the parsed `micro` subcommand; `wait` bounds the discovery, `timeout` a request.
pub(crate) fn from_matches(
    m: &clap::ArgMatches,
    wait: Duration,
    timeout: Duration,
) -> Option<MicroCommand> {
    let text = |m: &clap::ArgMatches, k: &str| m.get_one::<String>(k).cloned();
    match m.subcommand()? {
        ("list", m) => Some(MicroCommand::List {
            nats: text(m, "nats")?,
            name: text(m, "name"),
            table: m.get_flag("table"),
            wait,
        }),
        ("request", m) => Some(MicroCommand::Request {
            nats: text(m, "nats")?,
            subject: text(m, "subject")?,
            body: text(m, "body").unwrap_or_default(),
            timeout,
        }),
        _ => None,
    }
}

/// Runs the command; the text to print, or the error.
pub(crate) async fn run(command: MicroCommand, compact: bool) -> Result<String, Error> {
    match command {
        MicroCommand::List {
            nats,
            name,
            table,
            wait,
        } => {
            let client = connect(&nats, wait).await?;
            let options = DiscoveryOptions {
                max_wait: wait,
                ..DiscoveryOptions::default()
            };
            let list = client.list(name.as_deref(), options).await?;
            Ok(if table {
                render_table(&list)
            } else {
                to_json(&Value::Array(list), compact)
            })
        }
        MicroCommand::Request {
            nats,
            subject,
            body,
            timeout,
        } => {
            let client = connect(&nats, timeout).await?;
            let reply = client
                .request_bytes(&subject, Bytes::from(body), timeout)
                .await?;
            Ok(match serde_json::from_slice::<Value>(&reply) {
                Ok(value) => to_json(&value, compact),
                Err(_) => String::from_utf8_lossy(&reply).into_owned(),
            })
        }
    }
}

async fn connect(url: &str, limit: Duration) -> Result<MicroClient, Error> {
    let limit = limit.max(Duration::from_secs(2));
    tokio::time::timeout(limit, MicroClient::connect(url))
        .await
        .map_err(|_| {
            Error::broker_disconnected()
                .with_data(json!({"nats": format!("no connection to {url} within {limit:?}")}))
        })?
}

fn to_json(value: &Value, compact: bool) -> String {
    if compact {
        serde_json::to_string(value).unwrap_or_default()
    } else {
        serde_json::to_string_pretty(value).unwrap_or_default()
    }
}

/// A table: one line per endpoint under a line per instance.
fn render_table(list: &[Value]) -> String {
    let mut out = String::new();
    if list.is_empty() {
        return "no ADR-32 services answered".to_owned();
    }
    let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
    for service in list {
        let _ = writeln!(
            out,
            "{} {}  id {}  started {}{}",
            s(&service["name"]),
            s(&service["version"]),
            s(&service["id"]),
            s(&service["started"]),
            match s(&service["description"]) {
                d if d.is_empty() => String::new(),
                d => format!("  \"{d}\""),
            }
        );
        let _ = writeln!(
            out,
            "  {:<16} {:<32} {:<6} {:>9} {:>7} {:>12}  last error",
            "endpoint", "subject", "queue", "requests", "errors", "average"
        );
        for e in service["endpoints"].as_array().into_iter().flatten() {
            let average = e["average_processing_time"].as_u64().unwrap_or(0);
            let _ = writeln!(
                out,
                "  {:<16} {:<32} {:<6} {:>9} {:>7} {:>12}  {}",
                s(&e["name"]),
                s(&e["subject"]),
                s(&e["queue_group"]),
                e["num_requests"].as_u64().unwrap_or(0),
                e["num_errors"].as_u64().unwrap_or(0),
                format!("{:.3} ms", average as f64 / 1e6),
                s(&e["last_error"]).replace('\n', " "),
            );
        }
    }
    out.trim_end().to_owned()
}
