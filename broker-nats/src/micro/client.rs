//! [`MicroClient`]: calls and discovers ADR-32 services written with any library, mapping
//! their error headers onto the broker's [`Error`].

use super::service::nats_error;
use super::wire::{
    InfoResponse, PingResponse, StatsResponse, Verb, DEFAULT_API_PREFIX, SERVICE_ERROR_CODE_HEADER,
    SERVICE_ERROR_HEADER,
};
use async_nats::{Client, HeaderMap, RequestErrorKind, StatusCode};
use broker_core::{Error, WireError};
use bytes::Bytes;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::time::Instant;

/// How long a discovery (PING, INFO, STATS) collects answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscoveryOptions {
    /// The longest it waits in all. Default 1 s.
    pub max_wait: Duration,
    /// It stops once no answer came for this long after the last one. Default 250 ms.
    pub quiet: Duration,
    /// It stops after this many answers. Default none.
    pub max_count: Option<usize>,
}

impl Default for DiscoveryOptions {
    fn default() -> Self {
        DiscoveryOptions {
            max_wait: Duration::from_secs(1),
            quiet: Duration::from_millis(250),
            max_count: None,
        }
    }
}

/// A client of ADR-32 services.
///
/// ```no_run
/// use broker_nats::micro::{DiscoveryOptions, MicroClient};
/// use std::time::Duration;
///
/// # async fn run() -> Result<(), broker_core::Error> {
/// let micro = MicroClient::connect("nats://127.0.0.1:4222").await?;
/// let sum: f64 = micro
///     .request("v2.math.add", &serde_json::json!({"a": 1, "b": 2}), Duration::from_secs(2))
///     .await?;
/// for stats in micro.stats(Some("math"), DiscoveryOptions::default()).await? {
///     println!("{} {}: {} endpoints", stats.name, stats.id, stats.endpoints.len());
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct MicroClient {
    client: Client,
    api_prefix: String,
}

impl MicroClient {
    /// A client on an existing connection.
    pub fn new(client: Client) -> MicroClient {
        MicroClient {
            client,
            api_prefix: DEFAULT_API_PREFIX.to_owned(),
        }
    }

    /// A client on a new connection to `url` (several URLs separated by commas).
    pub async fn connect(url: &str) -> Result<MicroClient, Error> {
        let client = async_nats::connect(url).await.map_err(nats_error)?;
        Ok(MicroClient::new(client))
    }

    /// Uses another prefix than `$SRV` for the verbs.
    pub fn api_prefix(mut self, prefix: impl Into<String>) -> MicroClient {
        self.api_prefix = prefix.into();
        self
    }

    /// The NATS connection.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Calls an endpoint: `params` as the JSON body, the JSON reply as `R`. An answer with
    /// the ADR-32 error headers is an error: the Moleculer error of its body when it carries
    /// one (a broker's endpoint does), else a `NatsServiceError` with the header's
    /// description and code. Nobody listening is a `ServiceNotFoundError` (404), no answer
    /// within `timeout` a `RequestTimeoutError` (504).
    pub async fn request<P: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        subject: &str,
        params: &P,
        timeout: Duration,
    ) -> Result<R, Error> {
        let body = Bytes::from(serde_json::to_vec(params)?);
        let reply = self.request_bytes(subject, body, timeout).await?;
        serde_json::from_slice(&reply).map_err(|err| {
            Error::client(
                format!("the reply of '{subject}' does not fit the expected type: {err}"),
                500,
                "RESULT_TYPE_MISMATCH",
            )
        })
    }

    /// [`MicroClient::request`] with the body and the reply as bytes.
    pub async fn request_bytes(
        &self,
        subject: &str,
        body: Bytes,
        timeout: Duration,
    ) -> Result<Bytes, Error> {
        let request = async_nats::Request::new()
            .payload(body)
            .timeout(Some(timeout));
        let message = self
            .client
            .send_request(subject.to_owned(), request)
            .await
            .map_err(|err| match err.kind() {
                RequestErrorKind::NoResponders => Error::service_not_found(subject, None),
                RequestErrorKind::TimedOut => Error::request_timeout(subject, "nats"),
                RequestErrorKind::Other => nats_error(err),
            })?;
        match &message.headers {
            Some(headers) if is_service_error(headers) => {
                Err(service_error(subject, headers, &message.payload))
            }
            _ => Ok(message.payload),
        }
    }

    /// PING: the instances of every service (`name` `None`) or of one, sorted by name and id.
    pub async fn ping(
        &self,
        name: Option<&str>,
        options: DiscoveryOptions,
    ) -> Result<Vec<PingResponse>, Error> {
        let mut found: Vec<PingResponse> = self.discover(Verb::Ping, name, None, options).await?;
        found.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        Ok(found)
    }

    /// INFO: descriptions and endpoints, sorted by name and id.
    pub async fn info(
        &self,
        name: Option<&str>,
        options: DiscoveryOptions,
    ) -> Result<Vec<InfoResponse>, Error> {
        let mut found: Vec<InfoResponse> = self.discover(Verb::Info, name, None, options).await?;
        found.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        Ok(found)
    }

    /// STATS: per-endpoint statistics, sorted by name and id.
    pub async fn stats(
        &self,
        name: Option<&str>,
        options: DiscoveryOptions,
    ) -> Result<Vec<StatsResponse>, Error> {
        let mut found: Vec<StatsResponse> = self.discover(Verb::Stats, name, None, options).await?;
        found.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        Ok(found)
    }

    /// Sends one verb request (`$SRV.<VERB>[.<name>[.<id>]]`) and collects the answers of the
    /// expected `type`, in arrival order; answers of another type or shape are skipped, as
    /// ADR-32 clients do.
    pub async fn discover<T: DeserializeOwned>(
        &self,
        verb: Verb,
        name: Option<&str>,
        id: Option<&str>,
        options: DiscoveryOptions,
    ) -> Result<Vec<T>, Error> {
        let inbox = self.client.new_inbox();
        let mut answers = self
            .client
            .subscribe(inbox.clone())
            .await
            .map_err(nats_error)?;
        let subject = verb.subject(&self.api_prefix, name, id);
        self.client
            .publish_with_reply(subject, inbox, Bytes::new())
            .await
            .map_err(nats_error)?;
        self.client.flush().await.map_err(nats_error)?;
        let deadline = Instant::now() + options.max_wait;
        let mut found = Vec::new();
        let mut until = deadline;
        while let Ok(Some(message)) = tokio::time::timeout_at(until, answers.next()).await {
            if message.status == Some(StatusCode::NO_RESPONDERS) {
                break;
            }
            let parsed = serde_json::from_slice::<Value>(&message.payload)
                .ok()
                .filter(|v| v["type"] == verb.response_type())
                .and_then(|v| serde_json::from_value::<T>(v).ok());
            match parsed {
                Some(answer) => found.push(answer),
                None => tracing::debug!(verb = verb.as_str(), "skipped an answer that is not one"),
            }
            if options.max_count.is_some_and(|max| found.len() >= max) {
                break;
            }
            until = deadline.min(Instant::now() + options.quiet);
        }
        Ok(found)
    }
}

fn is_service_error(headers: &HeaderMap) -> bool {
    headers.get(SERVICE_ERROR_HEADER).is_some() || headers.get(SERVICE_ERROR_CODE_HEADER).is_some()
}

/// The error an answer with the ADR-32 error headers stands for.
fn service_error(subject: &str, headers: &HeaderMap, body: &[u8]) -> Error {
    let description = headers
        .get(SERVICE_ERROR_HEADER)
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default();
    let code = headers
        .get(SERVICE_ERROR_CODE_HEADER)
        .and_then(|v| v.as_str().trim().parse::<i64>().ok())
        .unwrap_or(500);
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    // A Moleculer error as body (what a broker's endpoint sends): that error, whole.
    if let Some(Value::Object(map)) = &parsed {
        if map.get("name").is_some_and(Value::is_string)
            && map.get("message").is_some_and(Value::is_string)
        {
            if let Ok(wire) = serde_json::from_value::<WireError>(Value::Object(map.clone())) {
                return Error::from_wire(wire, subject).with_code(code);
            }
        }
    }
    let data = match parsed {
        Some(value) => json!({ "subject": subject, "body": value }),
        None if body.is_empty() => json!({ "subject": subject }),
        None => json!({ "subject": subject, "body": String::from_utf8_lossy(body) }),
    };
    let message = if description.is_empty() {
        format!("the NATS service at '{subject}' answered error {code}")
    } else {
        description
    };
    Error::new("NatsServiceError", message)
        .with_code(code)
        .with_type("NATS_SERVICE_ERROR")
        .with_data(data)
}
