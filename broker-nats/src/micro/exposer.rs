//! [`expose`]: keeps the broker's local services exposed as ADR-32 services, following the
//! services added while it runs, until the handle is stopped or dropped, or the broker stops.

use super::naming::{check_queue_group, check_subject};
use super::service::{nats_error, Running, Spec};
use super::wire::{Verb, DEFAULT_API_PREFIX, DEFAULT_QUEUE_GROUP};
use async_nats::Client;
use broker_core::{Broker, Error, ServiceDoc};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How the services are exposed.
#[derive(Debug, Clone)]
pub struct MicroOptions {
    /// The queue group of every endpoint; `None` for none (every instance gets every
    /// request). Default `q`.
    pub queue_group: Option<String>,
    /// A subject prefix (an ADR-32 group) put before every endpoint subject, `edge` →
    /// `edge.v2.math.add`. Default none.
    pub group: Option<String>,
    /// The prefix of the verb subjects. Default `$SRV`.
    pub api_prefix: String,
    /// Whether internal services (names starting with `$`, such as `$node`) are exposed.
    /// Default no.
    pub include_internal: bool,
    /// How often the exposer checks that the broker still runs (service changes are seen at
    /// once). Default 500 ms.
    pub poll_interval: Duration,
}

impl Default for MicroOptions {
    fn default() -> Self {
        MicroOptions {
            queue_group: Some(DEFAULT_QUEUE_GROUP.to_owned()),
            group: None,
            api_prefix: DEFAULT_API_PREFIX.to_owned(),
            include_internal: false,
            poll_interval: Duration::from_millis(500),
        }
    }
}

impl MicroOptions {
    /// Sets the queue group of every endpoint.
    pub fn queue_group(mut self, group: impl Into<String>) -> Self {
        self.queue_group = Some(group.into());
        self
    }

    /// Endpoints without a queue group: every instance answers every request.
    pub fn no_queue_group(mut self) -> Self {
        self.queue_group = None;
        self
    }

    /// Puts every endpoint subject under `prefix` (an ADR-32 group).
    pub fn group(mut self, prefix: impl Into<String>) -> Self {
        self.group = Some(prefix.into());
        self
    }

    /// Sets the prefix of the verb subjects (ADR-32 says it must be overridable, as `$JS`).
    pub fn api_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.api_prefix = prefix.into();
        self
    }

    /// Exposes internal services (`$node`) too.
    pub fn include_internal(mut self, include: bool) -> Self {
        self.include_internal = include;
        self
    }

    fn check(&self) -> Result<(), Error> {
        let mut problems = Vec::new();
        if let Some(group) = &self.queue_group {
            problems.extend(check_queue_group(group).err());
        }
        if let Some(group) = &self.group {
            problems.extend(check_subject(group, true).err());
        }
        let prefix_ok = !self.api_prefix.is_empty()
            && !self
                .api_prefix
                .split('.')
                .any(|t| t.is_empty() || t.contains(['*', '>']) || t.contains(char::is_whitespace));
        if !prefix_ok {
            problems.push(format!(
                "the API prefix \"{}\" must be a literal NATS subject",
                self.api_prefix
            ));
        }
        match problems.is_empty() {
            true => Ok(()),
            false => Err(Error::broker_options(format!(
                "invalid NATS service API options: {}",
                problems.join("; ")
            ))),
        }
    }
}

/// An exposed service instance, as [`MicroHandle::services`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExposedService {
    /// The Moleculer full name (`v2.math`).
    pub full_name: String,
    /// The ADR-32 name (`math`).
    pub name: String,
    /// The instance id.
    pub id: String,
    /// The SemVer version.
    pub version: String,
    /// Its endpoints.
    pub endpoints: Vec<ExposedEndpoint>,
}

/// An endpoint of an [`ExposedService`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExposedEndpoint {
    /// The ADR-32 endpoint name (`add`).
    pub name: String,
    /// Its subject.
    pub subject: String,
    /// The action it calls (`v2.math.add`).
    pub action: String,
}

/// Exposes the broker's local services (those it serves once started, and those added later)
/// as ADR-32 services on `client`. Returns once the services present are subscribed and the
/// server has processed the subscriptions (any client can reach them from then on).
///
/// The exposure ends with [`MicroHandle::stop`], when the handle is dropped, or when the
/// broker stops; the services then leave the bus.
pub async fn expose(
    broker: &Broker,
    client: Client,
    options: MicroOptions,
) -> Result<MicroHandle, Error> {
    options.check()?;
    let exposed = Arc::new(Mutex::new(Vec::new()));
    let mut exposer = Exposer {
        broker: broker.clone(),
        client,
        options,
        running: BTreeMap::new(),
        exposed: exposed.clone(),
        seen_running: false,
    };
    exposer.sync().await;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let task = tokio::spawn(exposer.run(shutdown_rx));
    Ok(MicroHandle {
        shutdown,
        task: Some(task),
        exposed,
    })
}

/// [`expose`] on a new connection to `url` (`nats://host:4222`, several separated by commas).
pub async fn expose_at(
    broker: &Broker,
    url: &str,
    options: MicroOptions,
) -> Result<MicroHandle, Error> {
    let client = async_nats::connect(url).await.map_err(nats_error)?;
    expose(broker, client, options).await
}

/// A running exposure. Dropping it stops it too (without waiting).
#[derive(Debug)]
pub struct MicroHandle {
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    exposed: Arc<Mutex<Vec<ExposedService>>>,
}

impl MicroHandle {
    /// The service instances exposed now, sorted by full name.
    pub fn services(&self) -> Vec<ExposedService> {
        self.exposed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits (at most `timeout`) until a service of this full name is exposed, and returns it.
    pub async fn wait_for(&self, full_name: &str, timeout: Duration) -> Option<ExposedService> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let found = self
                .services()
                .into_iter()
                .find(|s| s.full_name == full_name);
            if found.is_some() || tokio::time::Instant::now() >= deadline {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops: every service leaves the bus (its subscriptions removed, the server told).
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                tracing::warn!("the NATS service API did not stop within 5 s");
            }
        }
    }
}

impl Drop for MicroHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

struct Exposer {
    broker: Broker,
    client: Client,
    options: MicroOptions,
    /// By full name: the INFO entry it was built from, and the instance serving it.
    running: BTreeMap<String, (ServiceDoc, Running)>,
    exposed: Arc<Mutex<Vec<ExposedService>>>,
    seen_running: bool,
}

impl Exposer {
    async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut changes = Some(self.broker.service_changes());
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                changed = async {
                    match changes.as_mut() {
                        Some(rx) => rx.changed().await.is_ok(),
                        None => std::future::pending().await,
                    }
                } => {
                    if !changed {
                        changes = None;
                    }
                }
                () = tokio::time::sleep(self.options.poll_interval) => {}
            }
            self.sync().await;
            if self.seen_running && !self.broker.is_running() {
                break;
            }
        }
        let all = std::mem::take(&mut self.running);
        self.publish_list();
        futures_util::future::join_all(all.into_values().map(|(_, running)| running.stop())).await;
        if let Err(err) = self.client.flush().await {
            tracing::debug!("NATS flush after stopping the service API: {err}");
        }
    }

    /// Brings the exposed services in line with the broker's local services.
    async fn sync(&mut self) {
        let wanted: Vec<ServiceDoc> = if self.broker.is_running() {
            self.seen_running = true;
            self.broker
                .local_service_docs()
                .into_iter()
                .filter(|d| self.options.include_internal || !d.name.starts_with('$'))
                .collect()
        } else {
            Vec::new()
        };
        let before = self.running.len();
        let mut changed = false;
        let mut last_started: Option<(String, String)> = None;
        let gone: Vec<String> = self
            .running
            .iter()
            .filter(|(name, (doc, _))| !wanted.iter().any(|w| &w.full_name == *name && w == doc))
            .map(|(name, _)| name.clone())
            .collect();
        for name in gone {
            if let Some((_, running)) = self.running.remove(&name) {
                changed = true;
                running.stop().await;
            }
        }
        for doc in wanted {
            if self.running.contains_key(&doc.full_name) {
                continue;
            }
            let spec = Spec::from_doc(&doc, self.broker.node_id(), &self.options);
            match Running::start(&self.client, &self.broker, spec, &self.options.api_prefix).await {
                Ok(running) => {
                    changed = true;
                    last_started = Some((running.spec.name.clone(), running.spec.id.clone()));
                    self.running.insert(doc.full_name.clone(), (doc, running));
                }
                Err(err) => {
                    tracing::warn!(service = %doc.full_name, "not exposed over NATS: {err}");
                }
            }
        }
        if changed || before != self.running.len() {
            // Once the server has the subscriptions, the list says the services are there.
            self.confirm_subscriptions(last_started.as_ref()).await;
            self.publish_list();
        }
    }

    /// Waits until the server has processed the subscriptions made so far. `flush` only
    /// writes them out; a PING of the service started last, on the same connection, comes
    /// back after the server has handled every SUB sent before it.
    async fn confirm_subscriptions(&self, last_started: Option<&(String, String)>) {
        let Some((name, id)) = last_started else {
            if let Err(err) = self.client.flush().await {
                tracing::debug!("NATS flush: {err}");
            }
            return;
        };
        let subject = Verb::Ping.subject(&self.options.api_prefix, Some(name), Some(id));
        let ping = self.client.request(subject, Bytes::new());
        match tokio::time::timeout(Duration::from_secs(5), ping).await {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => tracing::warn!(service = %name, "exposed, but its PING failed: {err}"),
            Err(_) => {
                tracing::warn!(service = %name, "exposed, but its PING did not come back in 5 s")
            }
        }
    }

    fn publish_list(&self) {
        let list = self
            .running
            .values()
            .map(|(_, running)| {
                let spec = &running.spec;
                ExposedService {
                    full_name: spec.full_name.clone(),
                    name: spec.name.clone(),
                    id: spec.id.clone(),
                    version: spec.version.clone(),
                    endpoints: spec
                        .endpoints
                        .iter()
                        .map(|e| ExposedEndpoint {
                            name: e.name.clone(),
                            subject: e.subject.clone(),
                            action: e.action.clone(),
                        })
                        .collect(),
                }
            })
            .collect();
        *self.exposed.lock().unwrap_or_else(PoisonError::into_inner) = list;
    }
}
