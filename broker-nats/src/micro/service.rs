//! One local service exposed as an ADR-32 service instance: its description built from the
//! broker's INFO entry, the nine verb subscriptions, and one subscription per endpoint whose
//! requests run the action through the broker.

use super::naming::{adr32_name, check_subject, default_subject, new_id, semver};
use super::stats::Counters;
use super::wire::{
    EndpointInfo, EndpointStats, InfoResponse, Metadata, PingResponse, StatsResponse, Verb,
    SERVICE_ERROR_CODE_HEADER, SERVICE_ERROR_HEADER,
};
use super::MicroOptions;
use async_nats::{Client, HeaderMap, Message, Subscriber};
use broker_core::payload::Payload;
use broker_core::{Broker, CallOptions, Error, JsonMap, ServiceDoc, NATS_SUBJECT};
use bytes::Bytes;
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use serde_json::value::RawValue;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What an exposed service is, as PING and INFO describe it.
#[derive(Debug)]
pub(crate) struct Spec {
    /// The Moleculer full name (`v2.math`).
    pub(crate) full_name: String,
    pub(crate) name: String,
    pub(crate) id: String,
    pub(crate) version: String,
    pub(crate) description: String,
    pub(crate) metadata: Metadata,
    pub(crate) endpoints: Vec<Arc<Endpoint>>,
}

/// One action as an endpoint.
#[derive(Debug)]
pub(crate) struct Endpoint {
    pub(crate) name: String,
    pub(crate) subject: String,
    /// `""`: no queue group.
    pub(crate) queue_group: String,
    pub(crate) metadata: Metadata,
    /// The action's full name (`v2.math.add`).
    pub(crate) action: String,
    counters: Counters,
}

/// Metadata values are strings in ADR-32: strings stay, anything else becomes its JSON text.
fn string_map(map: &JsonMap) -> Metadata {
    map.iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect()
}

impl Spec {
    /// Describes a local service; actions that other nodes may not call (protected) are left
    /// out, and so are those whose `natsSubject` is invalid (with a warning).
    pub(crate) fn from_doc(doc: &ServiceDoc, node_id: &str, options: &MicroOptions) -> Spec {
        let mut metadata = string_map(&doc.metadata);
        let description = metadata.remove("description").unwrap_or_default();
        metadata.insert("moleculer.service".to_owned(), doc.full_name.clone());
        metadata.insert("moleculer.node".to_owned(), node_id.to_owned());
        let queue_group = options.queue_group.clone().unwrap_or_default();
        let mut endpoints: Vec<Arc<Endpoint>> = Vec::new();
        for action in &doc.actions {
            if !action.visibility.is_remote_callable() {
                continue;
            }
            let own = action.info.get(NATS_SUBJECT).and_then(Value::as_str);
            let subject = match own {
                Some(own) => match check_subject(own, false) {
                    Ok(()) => own.to_owned(),
                    Err(problem) => {
                        tracing::warn!(action = %action.name, "not exposed over NATS: {problem}");
                        continue;
                    }
                },
                None => default_subject(&action.name),
            };
            let subject = match &options.group {
                Some(group) => format!("{group}.{subject}"),
                None => subject,
            };
            if endpoints.iter().any(|e| e.subject == subject) {
                tracing::warn!(action = %action.name, %subject, "not exposed over NATS: another action of the service has this subject");
                continue;
            }
            let mut meta = Metadata::new();
            meta.insert("action".to_owned(), action.name.clone());
            if let Some(description) = &action.description {
                meta.insert("description".to_owned(), description.clone());
            }
            for (key, schema) in [
                ("params_schema", &action.params_schema),
                ("response_schema", &action.response_schema),
            ] {
                if let Some(schema) = schema {
                    meta.insert(key.to_owned(), schema.to_string());
                }
            }
            endpoints.push(Arc::new(Endpoint {
                name: adr32_name(&action.raw_name),
                subject,
                queue_group: queue_group.clone(),
                metadata: meta,
                action: action.name.clone(),
                counters: Counters::default(),
            }));
        }
        Spec {
            full_name: doc.full_name.clone(),
            name: adr32_name(&doc.name),
            id: new_id(),
            version: semver(doc.version.as_ref()),
            description,
            metadata,
            endpoints,
        }
    }

    fn ping(&self) -> PingResponse {
        PingResponse {
            kind: Verb::Ping.response_type().to_owned(),
            name: self.name.clone(),
            id: self.id.clone(),
            version: self.version.clone(),
            metadata: Some(self.metadata.clone()),
        }
    }

    fn info(&self) -> InfoResponse {
        InfoResponse {
            kind: Verb::Info.response_type().to_owned(),
            name: self.name.clone(),
            id: self.id.clone(),
            version: self.version.clone(),
            metadata: Some(self.metadata.clone()),
            description: self.description.clone(),
            endpoints: self
                .endpoints
                .iter()
                .map(|e| EndpointInfo {
                    name: e.name.clone(),
                    subject: e.subject.clone(),
                    queue_group: e.queue_group.clone(),
                    metadata: Some(e.metadata.clone()),
                })
                .collect(),
        }
    }

    fn stats(&self, started: &str) -> StatsResponse {
        StatsResponse {
            kind: Verb::Stats.response_type().to_owned(),
            name: self.name.clone(),
            id: self.id.clone(),
            version: self.version.clone(),
            metadata: Some(self.metadata.clone()),
            started: started.to_owned(),
            endpoints: self
                .endpoints
                .iter()
                .map(|e| {
                    let s = e.counters.snapshot();
                    EndpointStats {
                        name: e.name.clone(),
                        subject: e.subject.clone(),
                        queue_group: e.queue_group.clone(),
                        num_requests: s.requests,
                        num_errors: s.errors,
                        last_error: s.last_error,
                        processing_time: s.processing_ns,
                        average_processing_time: s.average_ns,
                        data: None,
                    }
                })
                .collect(),
        }
    }
}

/// The precomputed and live answers of one instance.
struct Answers {
    spec: Arc<Spec>,
    ping: Bytes,
    info: Bytes,
    started: String,
}

impl Answers {
    fn body(&self, verb: Verb) -> Result<Bytes, serde_json::Error> {
        match verb {
            Verb::Ping => Ok(self.ping.clone()),
            Verb::Info => Ok(self.info.clone()),
            Verb::Stats => serde_json::to_vec(&self.spec.stats(&self.started)).map(Bytes::from),
        }
    }
}

/// A service instance being served: its subscriptions' tasks.
#[derive(Debug)]
pub(crate) struct Running {
    pub(crate) spec: Arc<Spec>,
    tasks: Vec<JoinHandle<()>>,
    /// Tells the endpoint tasks to unsubscribe and finish the requests they hold.
    shutdown: watch::Sender<bool>,
}

/// How long a stopping endpoint waits for the requests it holds.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

impl Running {
    /// Subscribes the verbs (the first nine tasks) and the endpoints, then serves them until
    /// [`Running::stop`] (graceful) or dropped (at once: dropping a subscription unsubscribes
    /// it, and the requests it held get no answer).
    pub(crate) async fn start(
        client: &Client,
        broker: &Broker,
        spec: Spec,
        api_prefix: &str,
    ) -> Result<Running, Error> {
        let spec = Arc::new(spec);
        let answers = Arc::new(Answers {
            ping: Bytes::from(serde_json::to_vec(&spec.ping())?),
            info: Bytes::from(serde_json::to_vec(&spec.info())?),
            started: super::rfc3339::format(SystemTime::now()),
            spec: spec.clone(),
        });
        let mut running = Running {
            spec: spec.clone(),
            tasks: Vec::new(),
            shutdown: watch::channel(false).0,
        };
        // On an error the tasks started so far are dropped with `running`, unsubscribing.
        for verb in [Verb::Ping, Verb::Info, Verb::Stats] {
            for (name, id) in [
                (None, None),
                (Some(spec.name.as_str()), None),
                (Some(spec.name.as_str()), Some(spec.id.as_str())),
            ] {
                let subject = verb.subject(api_prefix, name, id);
                let sub = client.subscribe(subject).await.map_err(nats_error)?;
                running.tasks.push(tokio::spawn(serve_verb(
                    client.clone(),
                    sub,
                    verb,
                    answers.clone(),
                )));
            }
        }
        for endpoint in &spec.endpoints {
            let subject = endpoint.subject.clone();
            let sub = if endpoint.queue_group.is_empty() {
                client.subscribe(subject).await
            } else {
                client
                    .queue_subscribe(subject, endpoint.queue_group.clone())
                    .await
            }
            .map_err(nats_error)?;
            running.tasks.push(tokio::spawn(serve_endpoint(
                client.clone(),
                broker.clone(),
                sub,
                endpoint.clone(),
                running.shutdown.subscribe(),
            )));
        }
        Ok(running)
    }

    /// Stops gracefully: the endpoints unsubscribe and finish the requests they hold (for
    /// at most [`DRAIN_LIMIT`]), then the verbs go.
    pub(crate) async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        let mut endpoints = self.tasks.split_off(9.min(self.tasks.len()));
        let wait = async {
            for task in &mut endpoints {
                let _ = task.await;
            }
        };
        if tokio::time::timeout(DRAIN_LIMIT + Duration::from_secs(1), wait)
            .await
            .is_err()
        {
            tracing::warn!(service = %self.spec.full_name, "endpoints still busy after the drain limit");
        }
        for task in self.tasks.iter().chain(&endpoints) {
            task.abort();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A NATS client error as a broker error: `BrokerDisconnectedError` (502), the NATS error's
/// text in `data.nats`.
pub fn nats_error(err: impl std::fmt::Display) -> Error {
    Error::broker_disconnected().with_data(serde_json::json!({ "nats": err.to_string() }))
}

async fn serve_verb(client: Client, mut sub: Subscriber, verb: Verb, answers: Arc<Answers>) {
    while let Some(msg) = sub.next().await {
        let Some(reply) = msg.reply else { continue };
        let sent = match answers.body(verb) {
            Ok(body) => client.publish(reply, body).await,
            Err(err) => {
                // Go's wording for a failure inside a verb handler.
                let description = format!("Error handling {} request: {err}", verb.as_str());
                client
                    .publish_with_headers(reply, error_headers(&description, 500), Bytes::new())
                    .await
            }
        };
        if let Err(err) = sent {
            tracing::debug!(verb = verb.as_str(), "answer not sent: {err}");
        }
    }
}

/// Serves one endpoint. Its requests run concurrently inside this task rather than in a task
/// each: the profile of 64 requests in flight showed the extra task hop (a wake-up on another
/// worker thread per request) halving the throughput. An action doing long synchronous work
/// should move it off the async threads (`spawn_blocking`), as anywhere in async Rust.
async fn serve_endpoint(
    client: Client,
    broker: Broker,
    mut sub: Subscriber,
    endpoint: Arc<Endpoint>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut in_flight = FuturesUnordered::new();
    loop {
        tokio::select! {
            msg = sub.next() => match msg {
                Some(msg) => in_flight.push(handle_request(
                    client.clone(),
                    broker.clone(),
                    msg,
                    endpoint.clone(),
                )),
                None => break,
            },
            Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
            _ = shutdown.changed() => {
                if let Err(err) = sub.unsubscribe().await {
                    tracing::debug!(subject = %endpoint.subject, "unsubscribe: {err}");
                }
                break;
            }
        }
    }
    // The requests already received still get their answer.
    let drain = async { while in_flight.next().await.is_some() {} };
    if tokio::time::timeout(DRAIN_LIMIT, drain).await.is_err() {
        tracing::warn!(subject = %endpoint.subject, "requests still running when the endpoint stopped");
    }
}

/// Runs one request: its JSON body as the params of a call of the local action (through the
/// broker: middlewares, validation, timeouts), the result as the reply, an error as the
/// ADR-32 error headers with the Moleculer error as body.
async fn handle_request(client: Client, broker: Broker, msg: Message, endpoint: Arc<Endpoint>) {
    let started = Instant::now();
    let outcome = match params(&msg.payload) {
        Ok(params) => {
            let options = CallOptions::new().node_id(broker.node_id());
            broker
                .call_with::<Payload>(&endpoint.action, params, options)
                .await
        }
        Err(err) => Err(err),
    };
    let error = match (outcome, msg.reply) {
        (Ok(result), Some(reply)) => {
            // The result's text becomes the body without a copy.
            let body = Bytes::from(String::from(Box::<str>::from(result)));
            match client.publish(reply.clone(), body).await {
                Ok(()) => None,
                Err(err) => {
                    let err = Error::server(
                        format!("the result could not be sent: {err}"),
                        500,
                        "RESPONSE_NOT_SENT",
                    );
                    send_error(&client, reply, &err, broker.node_id()).await;
                    Some(err)
                }
            }
        }
        (Ok(_), None) => None,
        (Err(err), Some(reply)) => {
            send_error(&client, reply, &err, broker.node_id()).await;
            Some(err)
        }
        (Err(err), None) => Some(err),
    };
    let error = error.map(|err| format!("{}:{}", error_code(&err), err.message()));
    endpoint.counters.record(started.elapsed(), error);
}

/// The params of a request body: JSON as it came (not parsed into a tree), `{}` for an empty
/// body; anything else is a 400.
fn params(body: &[u8]) -> Result<Payload, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(RawValue::from_string("{}".to_owned())?);
    }
    serde_json::from_slice::<Payload>(body).map_err(|err| {
        Error::client(
            format!("the request body is not JSON: {err}"),
            400,
            "INVALID_REQUEST_BODY",
        )
    })
}

/// The code sent in `Nats-Service-Error-Code`: the error's code, or 500 when it has none.
fn error_code(err: &Error) -> i64 {
    if err.code() > 0 {
        err.code()
    } else {
        500
    }
}

fn error_headers(description: &str, code: i64) -> HeaderMap {
    // A header value must be one line.
    let description: String = description
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect();
    let mut headers = HeaderMap::new();
    headers.insert(SERVICE_ERROR_HEADER, description.as_str());
    headers.insert(SERVICE_ERROR_CODE_HEADER, code.to_string().as_str());
    headers
}

async fn send_error(client: &Client, reply: async_nats::Subject, err: &Error, node_id: &str) {
    let mut wire = err.to_wire(node_id);
    // The stack is for Moleculer peers; a NATS client gets the error without it.
    wire.stack = None;
    let body = serde_json::to_vec(&wire)
        .map(Bytes::from)
        .unwrap_or_default();
    let description = if err.message().is_empty() {
        err.name()
    } else {
        err.message()
    };
    let headers = error_headers(description, error_code(err));
    if let Err(err) = client.publish_with_headers(reply, headers, body).await {
        tracing::debug!("error reply not sent: {err}");
    }
}
