//! `micro`: the NATS service API (ADR-32) of the services on a NATS bus (this broker's and
//! any other library's), through a connection of its own: `list` (INFO with STATS merged in,
//! as `broker micro list`), `ping`, `stats`, and `request` (a plain NATS request, as
//! `broker micro request` and `nats req`).

use crate::error::CommandError;
use crate::output::{Listing, Output, Response};
use crate::parse::{MicroAction, MicroRequest};
use broker_core::Broker;

/// The server asked when neither `--nats`, the broker's transporter nor `$NATS_URL` name one.
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

/// The NATS server a `micro` command asks: `--nats`, else the broker's own when it runs on
/// NATS and its address shows no hidden secret, else `$NATS_URL`, else [`DEFAULT_NATS_URL`].
pub(crate) fn nats_url(broker: &Broker, asked: Option<&str>) -> String {
    if let Some(url) = asked {
        return url.to_owned();
    }
    if let Some(t) = &broker.config().transporter {
        let described = t.describe();
        let lower = described.to_ascii_lowercase();
        let is_nats = lower.starts_with("nats://") || lower.starts_with("tls://");
        // `describe` masks passwords as `***`: such an address cannot log in.
        if is_nats && !described.contains("***") {
            return described;
        }
    }
    match std::env::var("NATS_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => DEFAULT_NATS_URL.to_owned(),
    }
}

#[cfg(feature = "nats")]
pub(crate) async fn micro(broker: &Broker, request: MicroRequest) -> Result<Output, CommandError> {
    imp::micro(broker, request).await
}

#[cfg(not(feature = "nats"))]
pub(crate) async fn micro(broker: &Broker, request: MicroRequest) -> Result<Output, CommandError> {
    let _ = (broker, request);
    Err(CommandError::Broker(broker_core::Error::broker_options(
        "this build has no NATS support (cargo feature `nats` of broker-repl)",
    )))
}

#[cfg(feature = "nats")]
mod imp {
    use super::*;
    use crate::exec::DEFAULT_CALL_TIMEOUT;
    use crate::render::{Cell, Table, Tone};
    use broker_core::Error;
    use broker_nats::micro::{DiscoveryOptions, MicroClient};
    use serde_json::{json, Value};
    use std::time::{Duration, Instant};

    /// The longest wait for the connection to the NATS server.
    const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

    pub(super) async fn micro(
        broker: &Broker,
        request: MicroRequest,
    ) -> Result<Output, CommandError> {
        let url = nats_url(broker, request.nats.as_deref());
        let client = connect(&url).await?;
        let discovery = DiscoveryOptions::default();
        let output = match request.action {
            MicroAction::List { name } => {
                let data = client.list(name.as_deref(), discovery).await?;
                Output::List(Listing {
                    table: list_table(&data),
                    data: Value::Array(data),
                })
            }
            MicroAction::Ping { name } => {
                let found = client.ping(name.as_deref(), discovery).await?;
                let mut table = Table::new(["Service", "Version", "ID", "Node"]);
                for p in &found {
                    table.push(vec![
                        Cell::toned(p.name.clone(), Tone::Accent),
                        Cell::new(p.version.clone()),
                        Cell::new(p.id.clone()),
                        Cell::new(node_of(p.metadata.as_ref())),
                    ]);
                }
                Output::List(Listing {
                    data: serde_json::to_value(&found).map_err(Error::from)?,
                    table,
                })
            }
            MicroAction::Stats { name } => {
                let found = client.stats(name.as_deref(), discovery).await?;
                let mut table = Table::new([
                    "Service",
                    "ID",
                    "Endpoint",
                    "Subject",
                    "Requests",
                    "Errors",
                    "Average",
                    "Last error",
                ]);
                for s in &found {
                    for e in &s.endpoints {
                        table.push(vec![
                            Cell::toned(s.name.clone(), Tone::Accent),
                            Cell::new(s.id.clone()),
                            Cell::new(e.name.clone()),
                            Cell::new(e.subject.clone()),
                            Cell::new(e.num_requests.to_string()),
                            errors_cell(e.num_errors),
                            Cell::new(nanos(e.average_processing_time)),
                            Cell::toned(e.last_error.replace('\n', " "), Tone::Bad),
                        ]);
                    }
                }
                Output::List(Listing {
                    data: serde_json::to_value(&found).map_err(Error::from)?,
                    table,
                })
            }
            MicroAction::Request {
                subject,
                body,
                timeout,
            } => {
                let timeout = timeout.unwrap_or(DEFAULT_CALL_TIMEOUT);
                let started = Instant::now();
                let bytes = serde_json::to_vec(&body).map_err(Error::from)?;
                let reply = client
                    .request_bytes(&subject, bytes.into(), timeout)
                    .await?;
                let result = match serde_json::from_slice::<Value>(&reply) {
                    Ok(value) => value,
                    // Not JSON: what an ADR-32 service of another library may answer.
                    Err(_) => Value::String(String::from_utf8_lossy(&reply).into_owned()),
                };
                Output::Response(Response {
                    action: subject,
                    node_id: None,
                    params: body,
                    result,
                    elapsed: started.elapsed(),
                })
            }
        };
        Ok(output)
    }

    async fn connect(url: &str) -> Result<MicroClient, CommandError> {
        match tokio::time::timeout(CONNECT_TIMEOUT, MicroClient::connect(url)).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(Error::broker_disconnected()
                .with_data(json!({
                    "nats": format!("no connection to {url} within {} s", CONNECT_TIMEOUT.as_secs())
                }))
                .into()),
        }
    }

    /// One line per instance, then one per endpoint under it.
    fn list_table(list: &[Value]) -> Table {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let mut table = Table::new([
            "Service / endpoint",
            "Version / subject",
            "ID / queue",
            "Requests",
            "Errors",
            "Average",
        ]);
        for service in list {
            table.push(vec![
                Cell::toned(text(&service["name"]), Tone::Accent),
                Cell::new(text(&service["version"])),
                Cell::new(text(&service["id"])),
            ]);
            for e in service["endpoints"].as_array().into_iter().flatten() {
                table.push(vec![
                    Cell::new(format!("  · {}", text(&e["name"]))),
                    Cell::new(text(&e["subject"])),
                    Cell::toned(text(&e["queue_group"]), Tone::Dim),
                    Cell::new(e["num_requests"].as_u64().unwrap_or(0).to_string()),
                    errors_cell(e["num_errors"].as_u64().unwrap_or(0)),
                    Cell::new(nanos(e["average_processing_time"].as_u64().unwrap_or(0))),
                ]);
            }
        }
        table
    }

    fn errors_cell(errors: u64) -> Cell {
        if errors == 0 {
            Cell::new("0")
        } else {
            Cell::toned(errors.to_string(), Tone::Bad)
        }
    }

    /// Nanoseconds as milliseconds: `0.125 ms`.
    fn nanos(ns: u64) -> String {
        format!("{:.3} ms", ns as f64 / 1e6)
    }

    /// The Moleculer node a broker's instance says it runs on (`moleculer.node`); empty for
    /// services of other libraries.
    fn node_of(metadata: Option<&broker_nats::micro::Metadata>) -> String {
        metadata
            .and_then(|m| m.get("moleculer.node"))
            .cloned()
            .unwrap_or_default()
    }
}
